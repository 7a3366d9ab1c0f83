/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The executor side of the worker protocol (common/we-worker-protocol.h):
 * reads kernel messages from @input, runs one media task at a time through
 * the storage and encoder pillars, and writes its reports to @output in
 * order. Owns no process state, so tests can drive it over any stream pair.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define WE_TYPE_WORKER (we_worker_get_type ())
G_DECLARE_FINAL_TYPE (WeWorker, we_worker, WE, WORKER, GObject)

/* @worker_id: nullable; the configure message may set it. */
WeWorker *we_worker_new             (GInputStream  *input,
                                     GOutputStream *output,
                                     const gchar   *worker_id);
/* Starts reading messages. "finished" is emitted once the channel ends
 * (EOF, shutdown, we_worker_shutdown() or a broken pipe) and every reply
 * has been written. */
void      we_worker_start           (WeWorker *self);
/* Cancels the running task, lets it report, then finishes. */
void      we_worker_shutdown        (WeWorker *self);
gboolean  we_worker_is_busy         (WeWorker *self);
gint      we_worker_get_exit_status (WeWorker *self);

G_END_DECLS
