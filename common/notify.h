/*
 * notify.h — the service manager's notification protocol (sd_notify) for
 * the long-running programs: readiness, the watchdog, reload and stop.
 *
 * Every call is a no-op when the program was not started by systemd with
 * Type=notify (no NOTIFY_SOCKET in the environment), so the programs run
 * the same from a shell, a script or a test. None of these belongs on a
 * per-packet or per-message path: call them from control loops.
 */
#ifndef BS_NOTIFY_H
#define BS_NOTIFY_H

/* READY=1, with STATUS=status when status is not NULL: the program does
 * what it is for (ports up and map loaded; consumer assigned; listening). */
void bs_notify_ready(const char *status);

/* WATCHDOG=1, but at most once per half of WATCHDOG_USEC (read once);
 * cheap otherwise (one clock read), so a loop may call it every turn.
 * Nothing at all without WatchdogSec= on the unit. */
void bs_notify_watchdog(void);

/* RELOADING=1 (with MONOTONIC_USEC): a reload (SIGHUP) has begun; send
 * bs_notify_ready() when it has ended, whatever its result. */
void bs_notify_reloading(void);

/* STOPPING=1: the program has begun to shut down. */
void bs_notify_stopping(void);

/* STATUS=text: one line for `systemctl status`. */
void bs_notify_status(const char *text);

#endif
