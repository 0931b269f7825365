/*
 * cmd.c - the plumbing the commands share after their options are parsed: how a command
 * ends its output (see commands.h, qcmd_finish_output).
 *
 * Owns nothing. Threading: reentrant (each command writes its own qctx's streams).
 */
#include <stdio.h>

#include "commands.h"

int qcmd_finish_output(const qctx *ctx, const char *cmd, const char *what, int rc)
{
    /* ferror too: an earlier write may have failed though the last flush had nothing left. */
    int failed = fflush(ctx->out) != 0;
    if (ferror(ctx->out)) failed = 1;
    if (!failed || rc != 0) return rc;
    qerr(ctx, cmd, "cannot write the %s (output closed or disk full)", what);
    return QEXIT_STORE;
}
