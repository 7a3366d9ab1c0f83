/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The work queue: carries tasks to workers and their reports back. It holds
 * no state the kernel cannot rebuild from the store (DESIGN principle 2).
 * Implementations: WeQueueLocal (worker child processes over pipes, the
 * embedded default) and WeQueueNats (workers on any host through NATS
 * JetStream, the cluster mode).
 *
 * Reports arrive as the "task-event" signal on the main context the queue was
 * created in, with the worker protocol message (see
 * common/we-worker-protocol.h): probe, progress, done, failed, cancelled.
 * A worker that dies while holding a task yields a "failed" message with
 * "code":"WE-WRK-004" and "retryable":true for that task.
 */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

#define WE_TYPE_QUEUE (we_queue_get_type ())
G_DECLARE_INTERFACE (WeQueue, we_queue, WE, QUEUE, GObject)

struct _WeQueueInterface {
  GTypeInterface parent_iface;

  gboolean    (*start)          (WeQueue *self, GError **error);
  void        (*stop)           (WeQueue *self);
  /* Hands @task (the "task" member of a task message) to a free worker,
   * another than @task's "avoid_worker" when there is a choice.
   * FALSE with WE_ERROR_JOB_NO_WORKERS when no slot is free right now. */
  gboolean    (*dispatch)       (WeQueue *self, JsonObject *task, GError **error);
  /* Asks the worker running @task_id to stop; it answers "cancelled". */
  void        (*cancel)         (WeQueue *self, const gchar *task_id);
  guint       (*free_slots)     (WeQueue *self);
  guint       (*total_slots)    (WeQueue *self);
  /* (element-type JsonObject): one object per worker, see docs/api.md
   * "Workers": id, hostname, ip_address, version, state, draining,
   * task_ids, slots_total, slots_free, capabilities, last_heartbeat, … */
  GPtrArray  *(*list_workers)   (WeQueue *self);
  /* A draining worker finishes what it runs and takes nothing new.
   * WE_ERROR_WRK_NOT_FOUND for an unknown @worker_id. */
  gboolean    (*set_draining)   (WeQueue *self, const gchar *worker_id, gboolean draining,
                                 GError **error);
  /* Forgets (and, where the queue owns it, stops) an idle worker.
   * WE_ERROR_WRK_NOT_FOUND, or WE_ERROR_WRK_BUSY while it runs a task. */
  gboolean    (*remove_worker)  (WeQueue *self, const gchar *worker_id, GError **error);
  /* Optional: announces a user action of the audit log (spec §5.3
   * audit.user_action) where other systems can follow it. */
  void        (*publish_audit)  (WeQueue *self, JsonObject *entry);

  gpointer padding[9];
};

gboolean   we_queue_start        (WeQueue *self, GError **error);
void       we_queue_stop         (WeQueue *self);
gboolean   we_queue_dispatch     (WeQueue *self, JsonObject *task, GError **error);
void       we_queue_cancel       (WeQueue *self, const gchar *task_id);
guint      we_queue_free_slots   (WeQueue *self);
guint      we_queue_total_slots  (WeQueue *self);
/* Returns: (transfer container) (element-type JsonObject) */
GPtrArray *we_queue_list_workers (WeQueue *self);
gboolean   we_queue_set_draining (WeQueue     *self,
                                  const gchar *worker_id,
                                  gboolean     draining,
                                  GError     **error);
gboolean   we_queue_remove_worker (WeQueue     *self,
                                   const gchar *worker_id,
                                   GError     **error);
/* Does nothing on queues without a message bus. */
void       we_queue_publish_audit (WeQueue    *self,
                                   JsonObject *entry);

/* For implementations. */
void       we_queue_emit_task_event   (WeQueue     *self,
                                       const gchar *task_id,
                                       JsonObject  *message);
/* Emitted when a slot frees up or a worker comes or goes. */
void       we_queue_emit_slots_changed (WeQueue *self);

G_END_DECLS
