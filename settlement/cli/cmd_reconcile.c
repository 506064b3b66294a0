/* cmd_reconcile.c — being written */
#include "finance_cmds.h"
const struct bs_cli_command bs_cmd_reconcile = { .name = "reconcile", .summary = "-", .run = NULL };
