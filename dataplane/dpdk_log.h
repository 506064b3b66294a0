/*
 * dpdk_log.h — the meter's --log-format, applied before the EAL starts, and
 * DPDK's own log (rte_log: EAL, ethdev, PMDs, telemetry) routed into
 * bs_log when it is json, so that stderr stays one JSON object per line.
 */
#ifndef BS_DPDK_LOG_H
#define BS_DPDK_LOG_H

/* Finds --log-format VALUE / --log-format=VALUE in argv (before or after
 * "--"), applies it with bs_log_set_format, and with json points rte_log
 * at a stream that turns each of its lines into a bs_log event. Call it
 * before rte_eal_init. Returns 0, or -1 after printing why for an unknown
 * value or a missing one (the caller exits 2). */
int bs_dpdk_log_setup(int argc, char **argv);

#endif
