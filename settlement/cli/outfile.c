/*
 * outfile.c — a command's --out FILE: beside the target and renamed, or
 * directly into a target that is not a regular file. See outfile.h.
 */
#include "outfile.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *bs_outfile_name(struct bs_outfile *o, const char *target)
{
	struct stat sb;
	snprintf(o->target, sizeof(o->target), "%s", target);
	o->direct = stat(target, &sb) == 0 && !S_ISREG(sb.st_mode);
	snprintf(o->part, sizeof(o->part), "%s.part.%ld", target, (long)getpid());
	o->f = NULL;
	return o->direct ? o->target : o->part;
}

int bs_outfile_open(struct bs_outfile *o, const char *target)
{
	const char *name = bs_outfile_name(o, target);
	o->f = fopen(name, "wb");
	return o->f != NULL ? 0 : -1;
}

int bs_outfile_commit(struct bs_outfile *o)
{
	int rc = 0;
	if (o->f != NULL && fclose(o->f) != 0)
		rc = -1;
	o->f = NULL;
	if (rc == 0 && !o->direct && rename(o->part, o->target) != 0)
		rc = -1;
	if (rc != 0 && !o->direct) {
		int saved = errno;
		unlink(o->part);
		errno = saved;
	}
	return rc;
}

void bs_outfile_abort(struct bs_outfile *o)
{
	if (o->f != NULL)
		fclose(o->f);
	o->f = NULL;
	if (!o->direct)
		unlink(o->part);
}
