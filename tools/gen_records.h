/*
 * gen_records.h — `bandsplit-gen --records`: a simulated month of one
 * dataplane node's usage records (usage.v1), produced into Kafka or written
 * as JSON lines, with its own ground truth. See gen_records.c.
 */
#ifndef BS_GEN_RECORDS_H
#define BS_GEN_RECORDS_H

/* argv[0] is "--records"; returns the process exit status. */
int gen_records_main(int argc, char **argv);

#endif
