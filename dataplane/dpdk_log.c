/*
 * dpdk_log.c — DPDK's log lines as bs_log events (see dpdk_log.h).
 *
 * rte_log writes each message with one vfprintf and an fflush to the stream
 * given to rte_openlog_stream; a fopencookie stream hands those bytes to
 * cookie_write, which cuts them into lines and logs each one at the level
 * of the message being written (rte_log_cur_msg_loglevel). Not covered:
 * what a driver prints with printf/fprintf instead of rte_log.
 */
#include "dpdk_log.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

#include <rte_log.h>

#include "log.h"

#define DPDK_LINE_MAX 1024

static pthread_mutex_t line_lock = PTHREAD_MUTEX_INITIALIZER;
static char line[DPDK_LINE_MAX];
static size_t line_len;

static enum bs_log_level level_of_current_message(void)
{
	int l = rte_log_cur_msg_loglevel();
	if (l <= (int)RTE_LOG_ERR)
		return BS_LOG_ERROR;
	if (l == (int)RTE_LOG_WARNING)
		return BS_LOG_WARN;
	if (l <= (int)RTE_LOG_INFO)
		return BS_LOG_INFO;
	return BS_LOG_DEBUG;
}

static void flush_line(enum bs_log_level level)
{
	if (line_len > 0)
		bs_log(level, "dpdk: %.*s", (int)line_len, line);
	line_len = 0;
}

static ssize_t cookie_write(void *cookie, const char *buf, size_t size)
{
	(void)cookie;
	enum bs_log_level level = level_of_current_message();
	pthread_mutex_lock(&line_lock);
	for (size_t i = 0; i < size; i++) {
		if (buf[i] == '\n') {
			flush_line(level);
			continue;
		}
		if (line_len == sizeof(line) - 1)   /* an overlong line: cut it */
			flush_line(level);
		line[line_len++] = buf[i];
	}
	pthread_mutex_unlock(&line_lock);
	return (ssize_t)size;
}

/* The value of --log-format in argv, NULL if absent, "" if it has none. */
static const char *find_log_format(int argc, char **argv)
{
	static const char opt[] = "--log-format";
	const size_t n = sizeof(opt) - 1;
	const char *value = NULL;
	for (int i = 1; i < argc; i++) {
		if (strncmp(argv[i], opt, n) != 0)
			continue;
		if (argv[i][n] == '=')
			value = argv[i] + n + 1;
		else if (argv[i][n] == '\0')
			value = i + 1 < argc ? argv[i + 1] : "";
	}
	return value;
}

int bs_dpdk_log_setup(int argc, char **argv)
{
	const char *value = find_log_format(argc, argv);
	if (value == NULL)
		return 0;
	if (bs_log_format_option("bandsplit-meter", value) < 0)
		return -1;
	if (!bs_log_is_json())
		return 0;
	static const cookie_io_functions_t io = { .write = cookie_write };
	FILE *f = fopencookie(NULL, "w", io);
	if (f == NULL || rte_openlog_stream(f) != 0) {
		BS_WARN("DPDK's log could not be routed into the JSON log");
		return 0;
	}
	return 0;
}
