/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The embedded queue: @count webencode-worker child processes, each running
 * one task at a time, fed over their stdin/stdout (we-worker-protocol.h).
 * A child that exits is restarted (with backoff when it keeps crashing); the
 * task it held is reported failed-retryable so the scheduler re-dispatches it.
 * A task that reports nothing for the stall timeout gets its worker killed.
 * A draining child finishes its task and is given no other; a removed one is
 * shut down and not restarted.
 */
#pragma once

#include "we-queue.h"

G_BEGIN_DECLS

#define WE_TYPE_QUEUE_LOCAL (we_queue_local_get_type ())
G_DECLARE_FINAL_TYPE (WeQueueLocal, we_queue_local, WE, QUEUE_LOCAL, GObject)

/* @worker_argv: the worker command line (argv[0] a path);
 * @configure: the "configure" message sent to every child (worker_id is
 * filled in per child); @stall_timeout_s: 0 disables. */
WeQueueLocal *we_queue_local_new (const gchar * const *worker_argv,
                                  guint                count,
                                  JsonObject          *configure,
                                  guint                stall_timeout_s);

/* we_queue_remove_worker() that also takes a busy child: its process is
 * killed and its task reported failed and retryable (WE-WRK-004), as after a
 * crash, so the scheduler runs it elsewhere. The child is not restarted. */
gboolean      we_queue_local_remove_worker_forced (WeQueueLocal *self,
                                                   const gchar  *worker_id,
                                                   GError      **error);

/* The pid of the child running @task_id, 0 if none (tests kill it). */
GPid          we_queue_local_get_task_pid (WeQueueLocal *self,
                                           const gchar  *task_id);

G_END_DECLS
