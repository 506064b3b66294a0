/*
 * kafka.c — librdkafka configuration shared by every bandsplit program.
 *
 * A program collects its [kafka] properties into a bs_kafka_props table,
 * then builds an rd_kafka_conf_t from it in one call; an error names the
 * property that librdkafka refused. librdkafka's own log lines go through
 * bs_log (redacted), and bs_kafka_wait_topic lets tools wait for a topic.
 */
#include "kafka.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <librdkafka/rdkafka_mock.h>

#include "log.h"

#define KAFKA_ERRSTR_MAX 512
#define KAFKA_LOG_MAX    1024

int bs_kafka_props_set(struct bs_kafka_props *props, const char *key,
		       const char *value, char *err, size_t err_size)
{
	assert(key != NULL && value != NULL);
	assert(props->count <= BS_KAFKA_MAX_PROPS);

	char *v = strdup(value);
	if (v == NULL) {
		snprintf(err, err_size, "kafka property '%s': out of memory", key);
		return -1;
	}
	for (size_t i = 0; i < props->count; i++) {
		if (strcmp(props->key[i], key) == 0) {
			free(props->value[i]);
			props->value[i] = v;
			return 0;
		}
	}
	if (props->count == BS_KAFKA_MAX_PROPS) {
		free(v);
		snprintf(err, err_size, "kafka property '%s': more than %d "
			 "properties", key, BS_KAFKA_MAX_PROPS);
		return -1;
	}
	char *k = strdup(key);
	if (k == NULL) {
		free(v);
		snprintf(err, err_size, "kafka property '%s': out of memory", key);
		return -1;
	}
	props->key[props->count] = k;
	props->value[props->count] = v;
	props->count++;
	return 0;
}

void bs_kafka_props_free(struct bs_kafka_props *props)
{
	for (size_t i = 0; i < props->count; i++) {
		free(props->key[i]);
		free(props->value[i]);
		props->key[i] = NULL;
		props->value[i] = NULL;
	}
	props->count = 0;
}

static int conf_set(rd_kafka_conf_t *conf, const char *key, const char *value,
		    char *err, size_t err_size)
{
	char errstr[KAFKA_ERRSTR_MAX];
	if (rd_kafka_conf_set(conf, key, value, errstr, sizeof(errstr)) !=
	    RD_KAFKA_CONF_OK) {
		/* librdkafka quotes the value back ("Invalid value "..." for
		 * ..."): it is never shown (it may be a secret, or a PEM) */
		bs_log_scrub(errstr, sizeof(errstr), value);
		snprintf(err, err_size, "kafka property '%s': %s", key, errstr);
		return -1;
	}
	return 0;
}

rd_kafka_conf_t *bs_kafka_conf_new(const char *brokers,
				   const struct bs_kafka_props *props,
				   char *err, size_t err_size)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	if (conf == NULL) {
		snprintf(err, err_size, "kafka: out of memory");
		return NULL;
	}
	if (brokers != NULL && brokers[0] != '\0' &&
	    conf_set(conf, "bootstrap.servers", brokers, err, err_size) < 0)
		goto fail;
	for (size_t i = 0; props != NULL && i < props->count; i++)
		if (conf_set(conf, props->key[i], props->value[i], err,
			     err_size) < 0)
			goto fail;
	return conf;
fail:
	rd_kafka_conf_destroy(conf);
	return NULL;
}

/* librdkafka logs with syslog levels: 0 emerg .. 7 debug. */
static enum bs_log_level level_from_syslog(int level)
{
	if (level <= 3)
		return BS_LOG_ERROR;
	if (level == 4)
		return BS_LOG_WARN;
	if (level <= 6)
		return BS_LOG_INFO;
	return BS_LOG_DEBUG;
}

/* A configuration dump line, "[thrd:x]:   key = value" (the value runs to the end
 * of the line and may hold spaces): its value hidden unless the key is
 * allowed. False if buf is not such a line. */
static bool redact_conf_dump(const char *buf, char *dst, size_t dst_size)
{
	size_t i = 0;
	if (strncmp(buf, "[thrd:", 6) == 0) {    /* librdkafka's thread prefix */
		const char *close = strstr(buf, "]: ");
		if (close == NULL)
			return false;
		i = (size_t)(close - buf) + 2;
	}
	i += strspn(buf + i, " ");
	size_t k = i + strspn(buf + i, "abcdefghijklmnopqrstuvwxyz"
			      "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-");
	if (k == i || strncmp(buf + k, " = ", 3) != 0)
		return false;
	/* bs_log_redact on "key=" alone tells whether the key is allowed */
	char probe[256], shown[256 + 8];
	snprintf(probe, sizeof(probe), "%.*s=x", (int)(k - i), buf + i);
	bs_log_redact(probe, shown, sizeof(shown));
	bool allowed = strcmp(probe, shown) == 0;
	snprintf(dst, dst_size, "%.*s = %s", (int)k, buf, allowed ? buf + k + 3 : "***");
	if (allowed) {
		/* an allowed key's value still goes through the redaction */
		char tmp[KAFKA_LOG_MAX];
		bs_log_redact(dst, tmp, sizeof(tmp));
		snprintf(dst, dst_size, "%s", tmp);
	}
	return true;
}

static void log_cb(const rd_kafka_t *rk, int level, const char *fac,
		   const char *buf)
{
	enum bs_log_level l = level_from_syslog(level);
	if (l < bs_log_get_level())
		return;
	/* Configuration dumps (debug=conf) would show secrets: librdkafka
	 * hides the properties it knows to be sensitive, not a client.id or
	 * a kinit command holding one. A dump line "  key = value" keeps its
	 * value only for an allowed key; every other line, and the client's
	 * name (the client.id), go through bs_log_redact. */
	char clean[KAFKA_LOG_MAX], name[KAFKA_LOG_MAX];
	if (!redact_conf_dump(buf, clean, sizeof(clean)))
		bs_log_redact(buf, clean, sizeof(clean));
	bs_log_redact(rk != NULL ? rd_kafka_name(rk) : "-", name, sizeof(name));
	bs_log(l, "kafka %s %s: %s", name, fac, clean);
}

void bs_kafka_conf_use_bs_log(rd_kafka_conf_t *conf)
{
	rd_kafka_conf_set_log_cb(conf, log_cb);
}

/* Returns the partition count of topic in md, 0 if absent, -1 with *why set
 * if the broker reports an error for it. */
static int topic_partitions(const struct rd_kafka_metadata *md,
			    const char *topic, rd_kafka_resp_err_t *why)
{
	for (int i = 0; i < md->topic_cnt; i++) {
		const struct rd_kafka_metadata_topic *t = &md->topics[i];
		if (strcmp(t->topic, topic) != 0)
			continue;
		if (t->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
			*why = t->err;
			return -1;
		}
		return t->partition_cnt;
	}
	return 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int bs_kafka_wait_topic(rd_kafka_t *rk, const char *topic, int timeout_ms,
			char *err, size_t err_size)
{
	const int64_t deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	rd_kafka_resp_err_t last = RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;

	for (;;) {
		int64_t left = deadline - now_ms();
		int wait = left > 1000 ? 1000 : left > 100 ? (int)left : 100;
		const struct rd_kafka_metadata *md = NULL;
		/* all_topics=1: asking for the topic by name could make the
		 * broker auto-create it, which is not ours to decide. */
		rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 1, NULL, &md, wait);
		if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
			int n = topic_partitions(md, topic, &last);
			rd_kafka_metadata_destroy(md);
			if (n > 0)
				return 0;
		} else {
			last = e;
		}
		if (now_ms() >= deadline)
			break;
		struct timespec pause = { 0, 100 * 1000000L };
		while (nanosleep(&pause, &pause) < 0 && errno == EINTR)
			;
	}
	snprintf(err, err_size, "kafka topic '%s': not available after %d ms "
		 "(%s)", topic, timeout_ms, rd_kafka_err2str(last));
	return -1;
}

/* Is ":port" one of the comma-separated host:port items of list? */
static bool port_listed(const char *list, unsigned port)
{
	char suffix[16];
	int n = snprintf(suffix, sizeof(suffix), ":%u", port);
	for (const char *p = list; (p = strstr(p, suffix)) != NULL; p += n)
		if (p[n] == '\0' || p[n] == ',')
			return true;
	return false;
}

int bs_kafka_mock_nodelay(rd_kafka_mock_cluster_t *mcluster)
{
	const char *bootstraps = rd_kafka_mock_cluster_bootstraps(mcluster);
	int listening_set = 0;
	DIR *d = opendir("/proc/self/fd");
	if (d == NULL)
		return 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		char *end;
		long fd = strtol(e->d_name, &end, 10);
		if (*end != '\0' || fd < 0 || fd == dirfd(d))
			continue;
		struct sockaddr_in sa;
		socklen_t len = sizeof(sa);
		if (getsockname((int)fd, (struct sockaddr *)&sa, &len) != 0 ||
		    sa.sin_family != AF_INET || !port_listed(bootstraps, ntohs(sa.sin_port)))
			continue;
		int one = 1, listening = 0;
		socklen_t llen = sizeof(listening);
		if (setsockopt((int)fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == 0 &&
		    getsockopt((int)fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &llen) == 0 &&
		    listening)
			listening_set++;
	}
	closedir(d);
	return listening_set;
}
