/*
 * bandsplit-kafka — the embedded Kafka: librdkafka's mock cluster in a
 * process of its own.
 *
 * It speaks the real Kafka protocol on loopback ports, so the meter, the
 * settlement, kcat and any Kafka client connect to it like to a real
 * cluster. It keeps nothing on disk. It creates the bandsplit topics,
 * prints the bootstrap string, optionally writes it to a file (atomically,
 * so scripts can wait for the file to appear) and optionally listens on a
 * unix control socket through which tests take brokers down, inject
 * protocol errors and create topics.
 */
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "kafka.h"
#include "bs_version.h"
#include "log.h"
#include "notify.h"

#define PROGRAM "bandsplit-kafka"

#define MAX_BROKERS      16
#define MAX_PARTITIONS   10000
#define MAX_TOPICS       32
#define TOPIC_NAME_MAX   249           /* Kafka's own limit */
#define MAX_CLIENTS      8             /* concurrent control connections */
#define CTL_LINE_MAX     512           /* one command line, bytes */
#define DEFAULT_BROKERS  3
#define DEFAULT_PARTS    64

struct topic_spec {
	char name[TOPIC_NAME_MAX + 1];
	int partitions;
};

struct options {
	int brokers;
	int partitions;
	struct topic_spec topics[MAX_TOPICS];
	size_t topic_count;
	const char *bootstrap_file;
	const char *control_path;
	const char *pidfile;
	bool verbose;
};

struct client {
	int fd;                       /* -1 when the slot is free */
	size_t len;
	char buf[CTL_LINE_MAX];
};

struct server {
	const struct options *opt;
	rd_kafka_t *rk;
	rd_kafka_mock_cluster_t *mcluster;
	const char *bootstraps;
	int listen_fd;                /* -1 without --control */
	int signal_fd;
	struct client clients[MAX_CLIENTS];
	bool quit;
};

/* ---- Kafka protocol names ------------------------------------------- */

struct api_name {
	const char *name;
	int16_t key;
};

/* Request types of the Kafka protocol (ApiKey numbers are fixed by it). */
static const struct api_name api_names[] = {
	{ "Produce", 0 },          { "Fetch", 1 },
	{ "ListOffsets", 2 },      { "Metadata", 3 },
	{ "OffsetCommit", 8 },     { "OffsetFetch", 9 },
	{ "FindCoordinator", 10 }, { "JoinGroup", 11 },
	{ "Heartbeat", 12 },       { "LeaveGroup", 13 },
	{ "SyncGroup", 14 },       { "DescribeGroups", 15 },
	{ "ListGroups", 16 },      { "SaslHandshake", 17 },
	{ "ApiVersions", 18 },     { "CreateTopics", 19 },
	{ "DeleteTopics", 20 },    { "DeleteRecords", 21 },
	{ "InitProducerId", 22 },  { "OffsetForLeaderEpoch", 23 },
	{ "AddPartitionsToTxn", 24 }, { "AddOffsetsToTxn", 25 },
	{ "EndTxn", 26 },          { "TxnOffsetCommit", 28 },
	{ "SaslAuthenticate", 36 },
};

#define API_KEY_MAX 67   /* highest ApiKey librdkafka 2.0 knows of */

/* Parses a non-negative decimal integer in [min, max]; -1 if it is not. */
static long parse_long(const char *s, long min, long max)
{
	if (s == NULL || *s == '\0' || !isdigit((unsigned char)s[0]))
		return -1;
	errno = 0;
	char *end = NULL;
	long v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	return v;
}

static int api_key_parse(const char *s)
{
	long n = parse_long(s, 0, API_KEY_MAX);
	if (n >= 0)
		return (int)n;
	for (size_t i = 0; i < sizeof(api_names) / sizeof(api_names[0]); i++)
		if (strcasecmp(s, api_names[i].name) == 0)
			return api_names[i].key;
	return -1;
}

static const char *api_key_name(int key)
{
	for (size_t i = 0; i < sizeof(api_names) / sizeof(api_names[0]); i++)
		if (api_names[i].key == key)
			return api_names[i].name;
	return "?";
}

/* Error codes by name, from librdkafka's own table ("NOT_LEADER_FOR_PARTITION",
 * "_TRANSPORT", ...), or by number. Returns false if unknown. */
static bool error_code_parse(const char *s, rd_kafka_resp_err_t *out)
{
	const struct rd_kafka_err_desc *descs = NULL;
	size_t n = 0;
	rd_kafka_get_err_descs(&descs, &n);

	bool negative = s[0] == '-';
	long num = parse_long(negative ? s + 1 : s, 0, 100000);
	if (num >= 0) {
		rd_kafka_resp_err_t code = (rd_kafka_resp_err_t)(negative ? -num : num);
		for (size_t i = 0; i < n; i++)
			if (descs[i].name != NULL && descs[i].code == code) {
				*out = code;
				return true;
			}
		return false;
	}
	/* Kafka renamed this one; librdkafka 2.0 still names it the old way. */
	if (strcasecmp(s, "NOT_LEADER_OR_FOLLOWER") == 0)
		s = "NOT_LEADER_FOR_PARTITION";
	for (size_t i = 0; i < n; i++)
		if (descs[i].name != NULL && strcasecmp(s, descs[i].name) == 0) {
			*out = descs[i].code;
			return true;
		}
	return false;
}

static bool topic_name_valid(const char *name)
{
	size_t len = strlen(name);
	if (len == 0 || len > TOPIC_NAME_MAX || strcmp(name, ".") == 0 ||
	    strcmp(name, "..") == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		if (!isalnum(c) && c != '.' && c != '_' && c != '-')
			return false;
	}
	return true;
}

/* ---- command line ---------------------------------------------------- */

static void usage(FILE *out)
{
	fprintf(out,
"Usage: " PROGRAM " [OPTIONS]\n"
"\n"
"Runs an embedded Kafka cluster (librdkafka's mock cluster) on loopback\n"
"ports, creates the bandsplit topics, prints the bootstrap string on stdout\n"
"(one line) and serves until SIGINT, SIGTERM or the control command 'quit'.\n"
"\n"
"Options:\n"
"  --brokers N            number of brokers, ids 1..N (default %d, max %d)\n"
"  --partitions P         partitions of " BS_TOPIC_USAGE " and\n"
"                         " BS_TOPIC_DLQ " (default %d, max %d)\n"
"  --topic NAME:PARTS     create (or re-size before start) another topic;\n"
"                         repeatable (max %d topics in all)\n"
"  --bootstrap-file PATH  also write the bootstrap string to PATH (written to\n"
"                         a temporary file then renamed; removed on exit)\n"
"  --control PATH         listen on a unix stream socket at PATH for line\n"
"                         commands (removed on exit), see below\n"
"  --pidfile PATH         write the process id to PATH (removed on exit)\n"
"  --verbose              log debug messages\n"
"  --log-format FMT       log lines on stderr as 'text' (default) or 'json'\n"
"                         (one JSON object per line: ts, level, program, pid, msg)\n"
"  --help                 show this help\n"
"  --version              show the version\n"
"\n"
"Control commands (one per line; each gets one reply line, 'ok ...' or\n"
"'error: ...'):\n"
"  ping                                 ok pong\n"
"  bootstrap                            ok <bootstrap servers>\n"
"  broker down <id|all>                 disconnect a broker, refuse new\n"
"                                       connections (no leader change)\n"
"  broker up <id|all>                   accept connections again\n"
"  errors <api> <count> <error>         the next <count> requests of type\n"
"                                       <api> fail with <error>; <api> is a\n"
"                                       name (Produce, Fetch, ListOffsets,\n"
"                                       Metadata, OffsetCommit, OffsetFetch,\n"
"                                       FindCoordinator, JoinGroup, Heartbeat,\n"
"                                       SyncGroup, InitProducerId, ...) or an\n"
"                                       ApiKey number; <error> a Kafka error\n"
"                                       name (NOT_LEADER_FOR_PARTITION,\n"
"                                       REQUEST_TIMED_OUT, _TRANSPORT to\n"
"                                       disconnect, ...) or code\n"
"  topic create <name> <partitions>     create a topic\n"
"  quit                                 ok bye, then a clean shutdown\n"
"\n"
"Limits: the mock cluster keeps messages in memory only, about 5 MiB per\n"
"partition; older messages are dropped silently beyond that (a consumer\n"
"reading from the beginning then starts at the oldest kept message).\n"
"Nothing survives the process.\n"
"\n"
"Exit status: 0 after a clean shutdown, 1 on a runtime error, 2 on bad\n"
"arguments.\n",
		DEFAULT_BROKERS, MAX_BROKERS, DEFAULT_PARTS, MAX_PARTITIONS,
		MAX_TOPICS);
}

/* Adds a topic, or changes the partition count of one given earlier. */
static bool options_add_topic(struct options *opt, const char *name, int parts)
{
	for (size_t i = 0; i < opt->topic_count; i++)
		if (strcmp(opt->topics[i].name, name) == 0) {
			opt->topics[i].partitions = parts;
			return true;
		}
	if (opt->topic_count == MAX_TOPICS)
		return false;
	struct topic_spec *t = &opt->topics[opt->topic_count++];
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->partitions = parts;
	return true;
}

static bool parse_topic_arg(struct options *opt, const char *arg)
{
	const char *colon = strrchr(arg, ':');
	if (colon == NULL || colon == arg) {
		fprintf(stderr, PROGRAM ": --topic '%s': expected NAME:PARTS\n", arg);
		return false;
	}
	char name[TOPIC_NAME_MAX + 2];
	size_t len = (size_t)(colon - arg);
	if (len > TOPIC_NAME_MAX) {
		fprintf(stderr, PROGRAM ": --topic '%s': name longer than %d bytes\n",
			arg, TOPIC_NAME_MAX);
		return false;
	}
	memcpy(name, arg, len);
	name[len] = '\0';
	if (!topic_name_valid(name)) {
		fprintf(stderr, PROGRAM ": --topic '%s': name must be [A-Za-z0-9._-]\n",
			arg);
		return false;
	}
	long parts = parse_long(colon + 1, 1, MAX_PARTITIONS);
	if (parts < 0) {
		fprintf(stderr, PROGRAM ": --topic '%s': PARTS must be 1..%d\n",
			arg, MAX_PARTITIONS);
		return false;
	}
	if (!options_add_topic(opt, name, (int)parts)) {
		fprintf(stderr, PROGRAM ": --topic '%s': more than %d topics\n",
			arg, MAX_TOPICS);
		return false;
	}
	return true;
}

/* Returns 0 to run, 1 after --help, 2 on bad arguments. */
static int parse_args(int argc, char **argv, struct options *opt)
{
	enum { OPT_BROKERS = 256, OPT_PARTITIONS, OPT_TOPIC, OPT_BOOTSTRAP_FILE,
	       OPT_CONTROL, OPT_PIDFILE, OPT_VERBOSE, OPT_HELP, OPT_VERSION,
	       OPT_LOG_FORMAT };
	static const struct option longopts[] = {
		{ "brokers", required_argument, NULL, OPT_BROKERS },
		{ "partitions", required_argument, NULL, OPT_PARTITIONS },
		{ "topic", required_argument, NULL, OPT_TOPIC },
		{ "bootstrap-file", required_argument, NULL, OPT_BOOTSTRAP_FILE },
		{ "control", required_argument, NULL, OPT_CONTROL },
		{ "pidfile", required_argument, NULL, OPT_PIDFILE },
		{ "verbose", no_argument, NULL, OPT_VERBOSE },
		{ "help", no_argument, NULL, OPT_HELP },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ "log-format", required_argument, NULL, OPT_LOG_FORMAT },
		{ NULL, 0, NULL, 0 },
	};
	/* Extra topics are collected first and applied after the defaults,
	 * so that --topic overrides --partitions whatever the order. */
	const char *extra[MAX_TOPICS + 1];
	size_t extra_count = 0;

	memset(opt, 0, sizeof(*opt));
	opt->brokers = DEFAULT_BROKERS;
	opt->partitions = DEFAULT_PARTS;

	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		long v;
		switch (c) {
		case OPT_BROKERS:
			v = parse_long(optarg, 1, MAX_BROKERS);
			if (v < 0) {
				fprintf(stderr, PROGRAM ": --brokers '%s': must be 1..%d\n",
					optarg, MAX_BROKERS);
				return 2;
			}
			opt->brokers = (int)v;
			break;
		case OPT_PARTITIONS:
			v = parse_long(optarg, 1, MAX_PARTITIONS);
			if (v < 0) {
				fprintf(stderr, PROGRAM ": --partitions '%s': must be 1..%d\n",
					optarg, MAX_PARTITIONS);
				return 2;
			}
			opt->partitions = (int)v;
			break;
		case OPT_TOPIC:
			if (extra_count == MAX_TOPICS) {
				fprintf(stderr, PROGRAM ": --topic: more than %d topics\n",
					MAX_TOPICS);
				return 2;
			}
			extra[extra_count++] = optarg;
			break;
		case OPT_BOOTSTRAP_FILE: opt->bootstrap_file = optarg; break;
		case OPT_CONTROL:        opt->control_path = optarg; break;
		case OPT_PIDFILE:        opt->pidfile = optarg; break;
		case OPT_VERBOSE:        opt->verbose = true; break;
		case OPT_HELP:           usage(stdout); return 1;
		case OPT_VERSION:        printf(PROGRAM " %s\n", BS_PACKAGE_VERSION); return 1;
		case OPT_LOG_FORMAT:
			if (bs_log_format_option(PROGRAM, optarg) < 0)
				return 2;
			break;
		case ':':
			fprintf(stderr, PROGRAM ": option '%s' needs a value\n",
				argv[optind - 1]);
			return 2;
		default:
			fprintf(stderr, PROGRAM ": unknown option '%s' (try --help)\n",
				argv[optind - 1]);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, PROGRAM ": unexpected argument '%s' (try --help)\n",
			argv[optind]);
		return 2;
	}
	options_add_topic(opt, BS_TOPIC_USAGE, opt->partitions);
	options_add_topic(opt, BS_TOPIC_DLQ, opt->partitions);
	for (size_t i = 0; i < extra_count; i++)
		if (!parse_topic_arg(opt, extra[i]))
			return 2;
	if (opt->control_path != NULL &&
	    strlen(opt->control_path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		fprintf(stderr, PROGRAM ": --control '%s': path longer than %zu bytes\n",
			opt->control_path,
			sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
		return 2;
	}
	return 0;
}

/* ---- files ----------------------------------------------------------- */

/* Writes text to path through path.tmp + rename, so readers never see a
 * partial file. Returns 0 or -1 (logged). */
static int write_file_atomic(const char *path, const char *text)
{
	char tmp[PATH_MAX];
	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >=
	    (int)sizeof(tmp)) {
		BS_ERROR("%s: path too long", path);
		return -1;
	}
	FILE *f = fopen(tmp, "w");
	if (f == NULL) {
		BS_ERROR("%s: cannot create: %s", tmp, strerror(errno));
		return -1;
	}
	bool ok = fputs(text, f) >= 0;
	ok = (fflush(f) == 0) && ok;
	ok = (fsync(fileno(f)) == 0) && ok;
	ok = (fclose(f) == 0) && ok;
	if (!ok) {
		BS_ERROR("%s: cannot write: %s", tmp, strerror(errno));
		unlink(tmp);
		return -1;
	}
	if (rename(tmp, path) != 0) {
		BS_ERROR("%s: cannot rename to %s: %s", tmp, path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* ---- control socket -------------------------------------------------- */

/* Removes a stale socket left by a crashed server; refuses a live one or
 * anything that is not a socket. Returns 0 when path is free. */
static int control_path_free(const char *path, const struct sockaddr_un *addr)
{
	struct stat st;
	if (lstat(path, &st) != 0)
		return 0;
	if (!S_ISSOCK(st.st_mode)) {
		BS_ERROR("control socket %s: exists and is not a socket", path);
		return -1;
	}
	int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (probe < 0) {
		BS_ERROR("control socket %s: socket: %s", path, strerror(errno));
		return -1;
	}
	int rc = connect(probe, (const struct sockaddr *)addr, sizeof(*addr));
	close(probe);
	if (rc == 0) {
		BS_ERROR("control socket %s: another process is listening on it", path);
		return -1;
	}
	BS_WARN("control socket %s: removing a stale socket", path);
	unlink(path);
	return 0;
}

static int control_listen(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	assert(strlen(path) < sizeof(addr.sun_path));   /* checked in parse_args */
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
	if (control_path_free(path, &addr) != 0)
		return -1;

	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		BS_ERROR("control socket %s: socket: %s", path, strerror(errno));
		return -1;
	}
	mode_t old = umask(0077);   /* only the owner may steer the cluster */
	int rc = bind(fd, (struct sockaddr *)&addr, sizeof(addr));
	umask(old);
	if (rc != 0 || listen(fd, MAX_CLIENTS) != 0) {
		BS_ERROR("control socket %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static void reply(struct client *cl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void reply(struct client *cl, const char *fmt, ...)
{
	char line[CTL_LINE_MAX + 256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	/* Replies are short; a client that does not read them is dropped. */
	ssize_t off = 0;
	while (off < n) {
		ssize_t w = send(cl->fd, line + off, (size_t)(n - off), MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			BS_WARN("control: reply not sent: %s", strerror(errno));
			return;
		}
		off += w;
	}
}

/* Broker id argument: 1..brokers, or "all" (-1). */
static bool parse_broker_id(const struct server *srv, const char *s, int32_t *id)
{
	if (s != NULL && strcmp(s, "all") == 0) {
		*id = -1;
		return true;
	}
	long v = parse_long(s, 1, srv->opt->brokers);
	if (v < 0)
		return false;
	*id = (int32_t)v;
	return true;
}

static void cmd_broker(struct server *srv, struct client *cl, char **argv, int argc)
{
	int32_t id;
	if (argc != 3 || (strcmp(argv[1], "down") != 0 && strcmp(argv[1], "up") != 0)) {
		reply(cl, "error: usage: broker down|up <id|all>");
		return;
	}
	if (!parse_broker_id(srv, argv[2], &id)) {
		reply(cl, "error: broker id '%s': must be 1..%d or all", argv[2],
		      srv->opt->brokers);
		return;
	}
	bool down = strcmp(argv[1], "down") == 0;
	rd_kafka_resp_err_t err = down
		? rd_kafka_mock_broker_set_down(srv->mcluster, id)
		: rd_kafka_mock_broker_set_up(srv->mcluster, id);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		reply(cl, "error: broker %s %s: %s", argv[1], argv[2], rd_kafka_err2str(err));
		return;
	}
	BS_INFO("control: broker %s is %s", argv[2], argv[1]);
	reply(cl, "ok broker %s %s", argv[2], argv[1]);
}

#define ERRORS_COUNT_MAX 100000

static void cmd_errors(struct server *srv, struct client *cl, char **argv, int argc)
{
	if (argc != 4) {
		reply(cl, "error: usage: errors <api> <count> <error>");
		return;
	}
	int api = api_key_parse(argv[1]);
	if (api < 0) {
		reply(cl, "error: api '%s': not a known request name nor 0..%d",
		      argv[1], API_KEY_MAX);
		return;
	}
	long count = parse_long(argv[2], 1, ERRORS_COUNT_MAX);
	if (count < 0) {
		reply(cl, "error: count '%s': must be 1..%d", argv[2], ERRORS_COUNT_MAX);
		return;
	}
	rd_kafka_resp_err_t code;
	if (!error_code_parse(argv[3], &code)) {
		reply(cl, "error: error '%s': not a known Kafka error name or code",
		      argv[3]);
		return;
	}
	rd_kafka_resp_err_t *codes = malloc((size_t)count * sizeof(*codes));
	if (codes == NULL) {
		reply(cl, "error: out of memory");
		return;
	}
	for (long i = 0; i < count; i++)
		codes[i] = code;
	rd_kafka_mock_push_request_errors_array(srv->mcluster, (int16_t)api,
						(size_t)count, codes);
	free(codes);
	BS_INFO("control: next %ld %s (%d) requests fail with %s (%d)", count,
		api_key_name(api), api, rd_kafka_err2name(code), (int)code);
	reply(cl, "ok %ld %s (%d) requests will fail with %s (%d)", count,
	      api_key_name(api), api, rd_kafka_err2name(code), (int)code);
}

static void cmd_topic(struct server *srv, struct client *cl, char **argv, int argc)
{
	if (argc != 4 || strcmp(argv[1], "create") != 0) {
		reply(cl, "error: usage: topic create <name> <partitions>");
		return;
	}
	if (!topic_name_valid(argv[2])) {
		reply(cl, "error: topic '%s': name must be 1..%d of [A-Za-z0-9._-]",
		      argv[2], TOPIC_NAME_MAX);
		return;
	}
	long parts = parse_long(argv[3], 1, MAX_PARTITIONS);
	if (parts < 0) {
		reply(cl, "error: partitions '%s': must be 1..%d", argv[3],
		      MAX_PARTITIONS);
		return;
	}
	int rf = srv->opt->brokers < 3 ? srv->opt->brokers : 3;
	rd_kafka_resp_err_t err =
		rd_kafka_mock_topic_create(srv->mcluster, argv[2], (int)parts, rf);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		reply(cl, "error: topic %s: %s", argv[2], rd_kafka_err2str(err));
		return;
	}
	BS_INFO("control: topic %s created, %ld partitions", argv[2], parts);
	reply(cl, "ok topic %s created with %ld partitions", argv[2], parts);
}

#define CMD_ARGS_MAX 8

static void control_command(struct server *srv, struct client *cl, char *line)
{
	char *argv[CMD_ARGS_MAX];
	int argc = 0;
	char *save = NULL;
	for (char *tok = strtok_r(line, " \t\r", &save); tok != NULL;
	     tok = strtok_r(NULL, " \t\r", &save)) {
		if (argc == CMD_ARGS_MAX) {
			reply(cl, "error: too many words");
			return;
		}
		argv[argc++] = tok;
	}
	if (argc == 0)
		return;   /* blank lines get no reply */

	if (strcmp(argv[0], "ping") == 0 && argc == 1) {
		reply(cl, "ok pong");
	} else if (strcmp(argv[0], "bootstrap") == 0 && argc == 1) {
		reply(cl, "ok %s", srv->bootstraps);
	} else if (strcmp(argv[0], "broker") == 0) {
		cmd_broker(srv, cl, argv, argc);
	} else if (strcmp(argv[0], "errors") == 0) {
		cmd_errors(srv, cl, argv, argc);
	} else if (strcmp(argv[0], "topic") == 0) {
		cmd_topic(srv, cl, argv, argc);
	} else if (strcmp(argv[0], "quit") == 0 && argc == 1) {
		BS_INFO("control: quit");
		reply(cl, "ok bye");
		srv->quit = true;
	} else {
		reply(cl, "error: unknown command '%s' (ping, bootstrap, broker, "
		      "errors, topic, quit)", argv[0]);
	}
}

static void client_close(struct client *cl)
{
	close(cl->fd);
	cl->fd = -1;
	cl->len = 0;
}

static void control_accept(struct server *srv)
{
	int fd = accept4(srv->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0) {
		if (errno != EAGAIN && errno != EINTR)
			BS_WARN("control: accept: %s", strerror(errno));
		return;
	}
	for (size_t i = 0; i < MAX_CLIENTS; i++)
		if (srv->clients[i].fd < 0) {
			srv->clients[i].fd = fd;
			srv->clients[i].len = 0;
			return;
		}
	static const char busy[] = "error: too many control connections\n";
	(void)!send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL);
	close(fd);
}

/* Reads what the client sent and runs each complete line. */
static void control_read(struct server *srv, struct client *cl)
{
	ssize_t n = recv(cl->fd, cl->buf + cl->len, sizeof(cl->buf) - cl->len, 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		/* End of input: a last line without newline still counts. */
		if (cl->len > 0 && cl->len < sizeof(cl->buf)) {
			cl->buf[cl->len] = '\0';
			control_command(srv, cl, cl->buf);
		}
		client_close(cl);
		return;
	}
	cl->len += (size_t)n;
	for (;;) {
		char *nl = memchr(cl->buf, '\n', cl->len);
		if (nl == NULL)
			break;
		*nl = '\0';
		control_command(srv, cl, cl->buf);
		if (cl->fd < 0)
			return;
		size_t used = (size_t)(nl - cl->buf) + 1;
		memmove(cl->buf, nl + 1, cl->len - used);
		cl->len -= used;
	}
	if (cl->len == sizeof(cl->buf)) {
		reply(cl, "error: line longer than %d bytes", CTL_LINE_MAX - 1);
		client_close(cl);
	}
}

/* ---- main loop ------------------------------------------------------- */

static int serve(struct server *srv)
{
	for (size_t i = 0; i < MAX_CLIENTS; i++)
		srv->clients[i].fd = -1;

	while (!srv->quit) {
		struct pollfd pfd[2 + MAX_CLIENTS];
		struct client *owner[2 + MAX_CLIENTS];
		nfds_t n = 0;
		pfd[n] = (struct pollfd){ .fd = srv->signal_fd, .events = POLLIN };
		owner[n++] = NULL;
		if (srv->listen_fd >= 0) {
			pfd[n] = (struct pollfd){ .fd = srv->listen_fd, .events = POLLIN };
			owner[n++] = NULL;
		}
		for (size_t i = 0; i < MAX_CLIENTS; i++)
			if (srv->clients[i].fd >= 0) {
				pfd[n] = (struct pollfd){ .fd = srv->clients[i].fd,
							  .events = POLLIN };
				owner[n++] = &srv->clients[i];
			}

		int rc = poll(pfd, n, 1000);
		bs_notify_watchdog();
		rd_kafka_poll(srv->rk, 0);   /* serves the hosting handle's events */
		if (rc < 0) {
			if (errno == EINTR)
				continue;
			BS_ERROR("poll: %s", strerror(errno));
			return -1;
		}
		if (pfd[0].revents & POLLIN) {
			struct signalfd_siginfo si;
			if (read(srv->signal_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
				BS_INFO("signal %u: shutting down", si.ssi_signo);
				srv->quit = true;
			}
		}
		for (nfds_t i = 1; i < n && !srv->quit; i++) {
			if (pfd[i].revents == 0)
				continue;
			if (owner[i] == NULL)
				control_accept(srv);
			else if (owner[i]->fd >= 0)
				control_read(srv, owner[i]);
		}
	}
	for (size_t i = 0; i < MAX_CLIENTS; i++)
		if (srv->clients[i].fd >= 0)
			client_close(&srv->clients[i]);
	return 0;
}

static int create_topics(struct server *srv)
{
	const struct options *opt = srv->opt;
	int rf = opt->brokers < 3 ? opt->brokers : 3;
	for (size_t i = 0; i < opt->topic_count; i++) {
		rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(
			srv->mcluster, opt->topics[i].name, opt->topics[i].partitions, rf);
		if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
			BS_ERROR("topic %s: cannot create: %s", opt->topics[i].name,
				 rd_kafka_err2str(err));
			return -1;
		}
		BS_INFO("topic %s: %d partitions, replication factor %d",
			opt->topics[i].name, opt->topics[i].partitions, rf);
	}
	return 0;
}

/* The hosting handle: a producer with no bootstrap servers; it only keeps
 * the mock cluster's books. */
static rd_kafka_t *host_handle_new(void)
{
	char errstr[512];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	bs_kafka_conf_use_bs_log(conf);
	if (rd_kafka_conf_set(conf, "client.id", PROGRAM, errstr, sizeof(errstr)) !=
	    RD_KAFKA_CONF_OK) {
		BS_ERROR("client.id: %s", errstr);
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (rk == NULL) {
		BS_ERROR("cannot create the hosting Kafka handle: %s", errstr);
		rd_kafka_conf_destroy(conf);
	}
	return rk;
}

/* Blocks SIGINT/SIGTERM before librdkafka starts its threads (they inherit
 * the mask) and returns a signalfd that receives them. */
static int signals_setup(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
		return -1;
	signal(SIGPIPE, SIG_IGN);
	return signalfd(-1, &set, SFD_CLOEXEC);
}

int main(int argc, char **argv)
{
	bs_log_init(PROGRAM);
	struct options opt;
	int rc = parse_args(argc, argv, &opt);
	if (rc != 0)
		return rc == 1 ? 0 : 2;
	if (opt.verbose)
		bs_log_set_level(BS_LOG_DEBUG);

	struct server srv = { .opt = &opt, .listen_fd = -1 };
	srv.signal_fd = signals_setup();
	if (srv.signal_fd < 0) {
		BS_ERROR("signals: %s", strerror(errno));
		return 1;
	}
	int status = 1;
	bool wrote_pid = false, wrote_bootstrap = false;

	if (opt.pidfile != NULL) {
		char pid[32];
		snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
		if (write_file_atomic(opt.pidfile, pid) != 0)
			goto out;
		wrote_pid = true;
	}
	srv.rk = host_handle_new();
	if (srv.rk == NULL)
		goto out;
	srv.mcluster = rd_kafka_mock_cluster_new(srv.rk, opt.brokers);
	if (srv.mcluster == NULL) {
		BS_ERROR("cannot create the mock cluster (%d brokers)", opt.brokers);
		goto out;
	}
	srv.bootstraps = rd_kafka_mock_cluster_bootstraps(srv.mcluster);
	int nodelay = bs_kafka_mock_nodelay(srv.mcluster);
	if (nodelay != opt.brokers)
		BS_WARN("TCP_NODELAY set on %d of %d broker sockets", nodelay, opt.brokers);
	if (create_topics(&srv) != 0)
		goto out;
	if (opt.control_path != NULL) {
		srv.listen_fd = control_listen(opt.control_path);
		if (srv.listen_fd < 0)
			goto out;
		BS_INFO("control socket %s", opt.control_path);
	}
	/* The bootstrap file is the "ready" signal: written last. */
	if (opt.bootstrap_file != NULL) {
		char line[4096];
		snprintf(line, sizeof(line), "%s\n", srv.bootstraps);
		if (write_file_atomic(opt.bootstrap_file, line) != 0)
			goto out;
		wrote_bootstrap = true;
	}
	printf("%s\n", srv.bootstraps);
	fflush(stdout);
	BS_INFO("embedded Kafka ready: %d brokers at %s", opt.brokers, srv.bootstraps);
	char ready[256];
	snprintf(ready, sizeof(ready), "%d brokers at %s", opt.brokers, srv.bootstraps);
	bs_notify_ready(ready);

	status = serve(&srv) == 0 ? 0 : 1;
	bs_notify_stopping();
	BS_INFO("embedded Kafka stopping");
out:
	if (srv.listen_fd >= 0) {
		close(srv.listen_fd);
		unlink(opt.control_path);
	}
	if (wrote_bootstrap)
		unlink(opt.bootstrap_file);
	if (srv.mcluster != NULL)
		rd_kafka_mock_cluster_destroy(srv.mcluster);
	if (srv.rk != NULL)
		rd_kafka_destroy(srv.rk);
	if (wrote_pid)
		unlink(opt.pidfile);
	close(srv.signal_fd);
	return status;
}
