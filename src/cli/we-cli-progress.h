/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Job and transfer progress: a bar redrawn in place on a terminal, or a
 * line per notable change (status, every tenth of the way) for logs.
 */
#pragma once

#include <stdio.h>

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

#define WE_TYPE_CLI_PROGRESS (we_cli_progress_get_type ())
G_DECLARE_FINAL_TYPE (WeCliProgress, we_cli_progress, WE, CLI_PROGRESS, GObject)

/* @out: where to draw, stdout or stderr; a bar only if it is a terminal */
WeCliProgress *we_cli_progress_new             (FILE          *out);
gboolean       we_cli_progress_is_tty          (WeCliProgress *self);
/* @job: a Job as GET /v1/jobs/{id} returns it */
void           we_cli_progress_update_job      (WeCliProgress *self,
                                                JsonObject    *job);
/* @total: 0 when unknown */
void           we_cli_progress_update_transfer (WeCliProgress *self,
                                                const gchar   *label,
                                                guint64        done,
                                                guint64        total);
/* Ends a bar's line so the next output starts on a fresh one. */
void           we_cli_progress_finish          (WeCliProgress *self);

G_END_DECLS
