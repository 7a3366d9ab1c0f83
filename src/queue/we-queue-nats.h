/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The cluster queue: tasks go to webencode-worker processes on any host
 * through NATS JetStream (spec §5), reports come back over NATS. See
 * docs/architecture.md "Cluster mode: NATS" for subjects, streams and the
 * claim protocol that keeps a task from running twice on live workers.
 *
 * Connecting and creating streams happen on a thread of the queue's own;
 * until they succeed the queue simply has no workers (dispatch fails with
 * WE_ERROR_JOB_NO_WORKERS), so start() never blocks and never fails because
 * NATS is down: the queue keeps trying.
 */
#pragma once

#include "we-queue.h"

G_BEGIN_DECLS

typedef struct {
  /* JetStream AckWait of the work consumers: how long a task message held
   * by a silent (dead) worker waits before it is redelivered. 0 = 30 s */
  guint        ack_wait_s;
  /* Workers heartbeat this often (they read the same setting). 0 = 2000 */
  guint        heartbeat_ms;
  /* A worker is offline after this long without a heartbeat.
   * 0 = 3 × heartbeat_ms + 1000 */
  guint        offline_ms;
  /* JetStream MaxDeliver of the work consumers. 0 = 20 */
  guint        max_deliver;
  /* Names this kernel in audit events; nullable */
  const gchar *kernel_id;
} WeQueueNatsOptions;

#define WE_TYPE_QUEUE_NATS (we_queue_nats_get_type ())
G_DECLARE_FINAL_TYPE (WeQueueNats, we_queue_nats, WE, QUEUE_NATS, GObject)

/* @url: one NATS URL or several, comma-separated. @options: nullable */
WeQueueNats *we_queue_nats_new               (const gchar              *url,
                                              const WeQueueNatsOptions *options);
/* Workers on this host that the queue starts (with @worker_argv plus
 * "--nats URL --worker-id <id> --exit-with-parent") and restarts when they
 * exit; they join through NATS like any other. Call before start().
 * @envp: nullable, the children's environment (default: ours). */
void         we_queue_nats_set_local_workers (WeQueueNats         *self,
                                              const gchar * const *worker_argv,
                                              guint                count,
                                              const gchar * const *envp);
gboolean     we_queue_nats_remove_worker_forced (WeQueueNats  *self,
                                                 const gchar  *worker_id,
                                                 GError      **error);
/* The worker that holds @task_id, as far as this kernel knows; nullable */
const gchar *we_queue_nats_get_task_holder   (WeQueueNats *self,
                                              const gchar *task_id);

G_END_DECLS
