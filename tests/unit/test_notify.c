/*
 * test_notify.c — common/notify.c against a datagram socket standing in
 * for systemd's NOTIFY_SOCKET: the messages and their text, STATUS= kept
 * to one line, the watchdog at most once per half of WATCHDOG_USEC.
 * notify.c reads its environment once, at the first call: the tests run
 * in order, after setup() has set it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "notify.h"

static int sock = -1;
static char path[108];

static int setup(void **state)
{
	(void)state;
	snprintf(path, sizeof(path), "/tmp/bs-notify-test.%d", (int)getpid());
	unlink(path);
	sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (sock < 0 || bind(sock, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		return -1;
	setenv("NOTIFY_SOCKET", path, 1);
	setenv("WATCHDOG_USEC", "200000", 1);   /* 0.2 s: one per 0.1 s at most */
	unsetenv("WATCHDOG_PID");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	close(sock);
	unlink(path);
	return 0;
}

/* The next message, or "" when none is waiting. */
static const char *next_message(void)
{
	static char buf[512];
	ssize_t n = recv(sock, buf, sizeof(buf) - 1, MSG_DONTWAIT);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static void ready_and_status(void **state)
{
	(void)state;
	bs_notify_ready(NULL);
	assert_string_equal(next_message(), "READY=1");
	bs_notify_ready("map version 7\ninjected=1");
	assert_string_equal(next_message(), "READY=1\nSTATUS=map version 7 injected=1");
	bs_notify_status("assigned 4 partition(s)");
	assert_string_equal(next_message(), "STATUS=assigned 4 partition(s)");
	char longer[1000];
	memset(longer, 'x', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	bs_notify_status(longer);
	const char *m = next_message();
	assert_true(strncmp(m, "STATUS=xxx", 10) == 0);
	assert_true(strlen(m) < 300);          /* cut, one message */
	assert_string_equal(next_message(), "");
}

static void watchdog_rate_limited(void **state)
{
	(void)state;
	bs_notify_watchdog();
	assert_string_equal(next_message(), "WATCHDOG=1");
	/* a few: the socket queues only about ten datagrams, then blocks */
	for (int i = 0; i < 8; i++)
		bs_notify_watchdog();
	assert_string_equal(next_message(), "");   /* within 0.1 s of the last */
	sleep_ms(120);
	bs_notify_watchdog();
	assert_string_equal(next_message(), "WATCHDOG=1");
	assert_string_equal(next_message(), "");
}

static void reload_and_stop(void **state)
{
	(void)state;
	bs_notify_reloading();
	const char *m = next_message();
	assert_true(strncmp(m, "RELOADING=1\nMONOTONIC_USEC=", 27) == 0);
	assert_true(strtoull(m + 27, NULL, 10) > 0);
	bs_notify_stopping();
	assert_string_equal(next_message(), "STOPPING=1");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ready_and_status),
		cmocka_unit_test(watchdog_rate_limited),
		cmocka_unit_test(reload_and_stop),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
