/*
 * fuzz_conf.c — libFuzzer target: the INI loader both daemons read their
 * configuration through (bs_conf_load, common/conf.c, around libinih), on
 * arbitrary bytes as a configuration file (an in-memory file, named through
 * /proc/self/fd). The callbacks accept everything and check what the loader
 * promises them: every key comes inside a section, no line handed over is
 * longer than BS_CONF_MAX_LINE, a key that is not repeatable is never seen
 * twice in a section, and after a refusal the message names the file.
 */
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SEEN_MAX 256
struct seen {
	char section[BS_CONF_MAX_LINE + 1];
	char keys[SEEN_MAX][BS_CONF_MAX_LINE + 1];
	size_t n;
};

static int on_section(void *ctx, const char *name, int line, char *msg,
		      size_t msg_size)
{
	(void)msg;
	(void)msg_size;
	struct seen *s = ctx;
	if (name == NULL || line < 1 || strlen(name) > BS_CONF_MAX_LINE)
		abort();
	snprintf(s->section, sizeof(s->section), "%s", name);
	return 1;
}

static int on_key(void *ctx, const char *section, const char *key,
		  const char *value, char *msg, size_t msg_size)
{
	(void)msg;
	(void)msg_size;
	struct seen *s = ctx;
	if (section == NULL || key == NULL || value == NULL ||
	    strlen(key) + strlen(value) > BS_CONF_MAX_LINE)
		abort();
	if (strcmp(key, "many") == 0 || s->n == SEEN_MAX)
		return 1;
	char k[2 * BS_CONF_MAX_LINE + 4];
	snprintf(k, sizeof(k), "%s\n%s", section, key);
	for (size_t i = 0; i < s->n; i++)
		if (strncmp(s->keys[i], k, sizeof(s->keys[i]) - 1) == 0)
			abort();   /* a repeated key reached the program */
	snprintf(s->keys[s->n++], sizeof(s->keys[0]), "%s", k);
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 64 * 1024)
		return 0;
	int fd = memfd_create("fuzz.conf", 0);
	if (fd < 0)
		abort();
	if (size > 0 && write(fd, data, size) != (ssize_t)size)
		abort();
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	static const char *const repeatable[] = { "many", NULL };
	struct seen *s = calloc(1, sizeof(*s));
	if (s == NULL)
		abort();
	struct bs_conf_handlers h = { .ctx = s, .section = on_section,
				      .key = on_key, .repeatable = repeatable };
	char err[512] = "";
	if (bs_conf_load(path, &h, err, sizeof(err)) != 0 &&
	    strstr(err, path) == NULL)
		abort();   /* a refusal that does not name the file */
	free(s);
	close(fd);
	return 0;
}
