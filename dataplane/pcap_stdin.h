/* pcap_stdin.h — a capture replayed from standard input (net_pcap's
 * rx_pcap=-), read through a large unlocked stdio buffer. See pcap_stdin.c. */
#ifndef BS_PCAP_STDIN_H
#define BS_PCAP_STDIN_H

#include <stddef.h>

/* Standard input's buffer when it feeds net_pcap. */
#define BS_PCAP_STDIN_BUFFER (1u << 20)

/* Looks through the EAL arguments (argv up to "--") for a --vdev whose
 * arguments include rx_pcap=-. None: returns 0 and changes nothing. One:
 * gives stdin a BS_PCAP_STDIN_BUFFER buffer and takes stdio's lock off it,
 * returns 1. Must be called before anything reads stdin, and before
 * rte_eal_init (which opens the capture). More than one, or stdin a
 * terminal: returns -1 with the reason in err. */
int bs_pcap_stdin_prepare(int argc, char *const argv[], char *err, size_t err_size);

#endif
