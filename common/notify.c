/*
 * notify.c — sd_notify(3) for readiness, watchdog, reload and stop. See
 * notify.h.
 *
 * The first call reads NOTIFY_SOCKET and WATCHDOG_USEC (sd_watchdog_enabled
 * checks WATCHDOG_PID too); without the socket every call returns at once.
 * The watchdog is sent when half of its period has passed since the last
 * one, as sd_watchdog_enabled(3) advises. Single-threaded use per program
 * (each program calls these from its one control or main thread).
 */
#include "notify.h"

#include <assert.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <systemd/sd-daemon.h>

#include "log.h"

#define STATUS_MAX 256   /* bytes of STATUS= text sent */

static struct {
	bool initialised;
	bool enabled;            /* NOTIFY_SOCKET is set */
	uint64_t watchdog_half;  /* µs; 0: no watchdog */
	uint64_t last_watchdog;  /* µs, CLOCK_MONOTONIC */
} st;

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void init_once(void)
{
	if (st.initialised)
		return;
	st.initialised = true;
	const char *sock = getenv("NOTIFY_SOCKET");
	st.enabled = sock != NULL && sock[0] != '\0';
	uint64_t usec = 0;
	if (st.enabled && sd_watchdog_enabled(0, &usec) > 0 && usec > 0)
		st.watchdog_half = usec / 2;
}

static void send_state(const char *state)
{
	int rc = sd_notify(0, state);
	if (rc < 0)
		BS_WARN("sd_notify: %d", rc);
}

/* STATUS= text from the caller: one line, at most STATUS_MAX bytes. */
static void format_status(char *out, size_t size, const char *prefix, const char *text)
{
	assert(size > 0);
	size_t n = (size_t)snprintf(out, size, "%s", prefix);
	for (const char *p = text; *p != '\0' && n + 1 < size; p++)
		out[n++] = (*p == '\n' || *p == '\r') ? ' ' : *p;
	out[n < size ? n : size - 1] = '\0';
}

void bs_notify_ready(const char *status)
{
	init_once();
	if (!st.enabled)
		return;
	if (status == NULL) {
		send_state("READY=1");
		return;
	}
	char buf[STATUS_MAX + 32];
	format_status(buf, sizeof(buf), "READY=1\nSTATUS=", status);
	send_state(buf);
}

void bs_notify_watchdog(void)
{
	init_once();
	if (!st.enabled || st.watchdog_half == 0)
		return;
	uint64_t now = now_us();
	if (st.last_watchdog != 0 && now - st.last_watchdog < st.watchdog_half)
		return;
	st.last_watchdog = now;
	send_state("WATCHDOG=1");
}

void bs_notify_reloading(void)
{
	init_once();
	if (!st.enabled)
		return;
	char buf[64];
	snprintf(buf, sizeof(buf), "RELOADING=1\nMONOTONIC_USEC=%" PRIu64, now_us());
	send_state(buf);
}

void bs_notify_stopping(void)
{
	init_once();
	if (st.enabled)
		send_state("STOPPING=1");
}

void bs_notify_status(const char *text)
{
	init_once();
	if (!st.enabled || text == NULL)
		return;
	char buf[STATUS_MAX + 16];
	format_status(buf, sizeof(buf), "STATUS=", text);
	send_state(buf);
}
