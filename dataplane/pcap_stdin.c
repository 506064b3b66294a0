/* pcap_stdin.c — a capture replayed from standard input.
 *
 * net_pcap reads a capture with libpcap, and libpcap reads a savefile
 * through stdio: two or three fread()/ferror() calls per packet, each
 * taking the FILE's lock (an atomic instruction pair, since DPDK's threads
 * make the process multi-threaded), and one read() system call per 4 KiB
 * (the file system's block size sets the buffer), i.e. per ~50 small
 * frames. On these machines that is most of net_pcap's cost per packet.
 *
 * libpcap takes "-" for standard input (rx_pcap=-), and standard input's
 * FILE is ours to set up before anything reads it: a 1 MiB buffer, and
 * FSETLOCKING_BYCALLER so that stdio no longer locks it. That is safe
 * because exactly one thread reads it at a time: net_pcap opens the
 * capture in rte_eal_init and at port start/stop on the main lcore while
 * no worker polls, and a queue is polled by one worker lcore only. Hence
 * at most one rx_pcap=- in the whole command line (two queues on stdin
 * would read it from two lcores at once).
 *
 * Replaying from a pipe works too (zcat park.pcap.gz | bandsplit-meter
 * ... rx_pcap=-): the worker then reads at the writer's pace. */
#include "pcap_stdin.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RX_PCAP_STDIN "rx_pcap=-"

/* Occurrences of rx_pcap=- among one --vdev's comma-separated arguments. */
static int count_stdin_args(const char *devargs)
{
	const size_t len = strlen(RX_PCAP_STDIN);
	int n = 0;
	for (const char *p = devargs; p != NULL; ) {
		const char *comma = strchr(p, ',');
		size_t token = comma ? (size_t)(comma - p) : strlen(p);
		if (token == len && memcmp(p, RX_PCAP_STDIN, len) == 0)
			n++;
		p = comma ? comma + 1 : NULL;
	}
	return n;
}

int bs_pcap_stdin_prepare(int argc, char *const argv[], char *err, size_t err_size)
{
	int uses = 0;
	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
		const char *devargs = NULL;
		if (strncmp(argv[i], "--vdev=", 7) == 0)
			devargs = argv[i] + 7;
		else if (strcmp(argv[i], "--vdev") == 0 && i + 1 < argc)
			devargs = argv[++i];
		if (devargs != NULL)
			uses += count_stdin_args(devargs);
	}
	if (uses == 0)
		return 0;
	if (uses > 1) {
		snprintf(err, err_size, "%s is given %d times: standard input can feed one "
			 "receive queue only", RX_PCAP_STDIN, uses);
		return -1;
	}
	if (isatty(STDIN_FILENO)) {
		snprintf(err, err_size, "%s: standard input is a terminal; give the capture "
			 "on it (< FILE, or a pipe)", RX_PCAP_STDIN);
		return -1;
	}
	/* Allocated once for the process's lifetime; stdio owns it from here. */
	static char buffer[BS_PCAP_STDIN_BUFFER];
	if (setvbuf(stdin, buffer, _IOFBF, sizeof(buffer)) != 0) {
		snprintf(err, err_size, "%s: standard input cannot be buffered (it was read "
			 "already)", RX_PCAP_STDIN);
		return -1;
	}
	__fsetlocking(stdin, FSETLOCKING_BYCALLER);
	return 1;
}
