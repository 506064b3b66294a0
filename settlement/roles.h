/*
 * roles.h — the database roles bandsplit runs as, made ready by `bandsplit
 * migrate`: bandsplit_owner owns every object and applies the migrations,
 * bandsplit_settle is the consumer, bandsplit_cli the operators' CLI,
 * bandsplit_api the tenants' API (row-level security, 0027). What each may do is
 * schemas/sql/grants.sql.
 */
#ifndef BS_ROLES_H
#define BS_ROLES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <libpq-fe.h>

#define BS_ROLE_OWNER "bandsplit_owner"

/* Makes the session act as bandsplit_owner for the migrations:
 *   - connected as bandsplit_owner: checks that the other roles exist;
 *   - as a role that may create roles (superuser or CREATEROLE): creates
 *     the missing ones (owner NOLOGIN; settle, cli and api LOGIN, no
 *     password), makes itself a member of bandsplit_owner, gives the owner
 *     CREATE on the database and on schema public (the others USAGE), hands the owner the
 *     schema objects it owns itself (a database migrated before the roles
 *     existed), then SET ROLE bandsplit_owner;
 *   - as a member of bandsplit_owner: SET ROLE after the check.
 * Anything else is refused (1) with what to run. Returns 0, 1 (refused) or
 * 3 (failed), with the reason in err. Lines for out (may be NULL) say what
 * was created. */
int bs_roles_assume_owner(PGconn *conn, FILE *out, char *err, size_t err_size);

/* RESET ROLE. */
void bs_roles_reset(PGconn *conn);

#endif
