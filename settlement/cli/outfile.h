/*
 * outfile.h — a command's --out FILE. The document is written beside the
 * target (FILE.part.PID) and renamed over it when complete, so a reader
 * never sees half a document and a failed run leaves the old file as it
 * was. When the target exists and is not a regular file — a device such
 * as /dev/null or a terminal, a FIFO, a socket — it is written directly:
 * renaming over it would replace the device with a plain file.
 */
#ifndef BS_OUTFILE_H
#define BS_OUTFILE_H

#include <stdbool.h>
#include <stdio.h>

struct bs_outfile {
	char target[4096];
	char part[4200];
	bool direct;       /* written to target itself */
	FILE *f;           /* open between open and commit/abort */
};

/* Chooses where to write and opens it ("wb"). 0 ok; -1 with errno. */
int bs_outfile_open(struct bs_outfile *o, const char *target);
/* Where to write, for writers that take a file name (the .part file or
 * the target itself); call instead of bs_outfile_open, then commit/abort
 * with o->f == NULL. */
const char *bs_outfile_name(struct bs_outfile *o, const char *target);
/* Closes and moves the document into place. 0 ok; -1 with errno (the
 * partial file removed). */
int bs_outfile_commit(struct bs_outfile *o);
/* Closes and removes the partial file (nothing when written directly). */
void bs_outfile_abort(struct bs_outfile *o);

#endif
