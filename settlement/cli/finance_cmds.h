/*
 * finance_cmds.h — the finance commands of `bandsplit` (issue 11): the
 * park's seller details, the month close, invoices and notes, the ledger
 * and the reconciliation. main.c lists them.
 */
#ifndef BS_CLI_FINANCE_CMDS_H
#define BS_CLI_FINANCE_CMDS_H

#include "cli.h"

extern const struct bs_cli_command bs_cmd_park;
extern const struct bs_cli_command bs_cmd_close;
extern const struct bs_cli_command bs_cmd_invoice;
extern const struct bs_cli_command bs_cmd_ledger;
extern const struct bs_cli_command bs_cmd_reconcile;

#endif
