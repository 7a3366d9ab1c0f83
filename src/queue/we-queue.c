/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "we-queue.h"

#include <webencode/we-error.h>

G_DEFINE_INTERFACE (WeQueue, we_queue, G_TYPE_OBJECT)

enum {
  SIGNAL_TASK_EVENT,
  SIGNAL_SLOTS_CHANGED,
  SIGNAL_LAST
};

static guint signals[SIGNAL_LAST];

static void
we_queue_default_init (WeQueueInterface *iface)
{
  /**
   * WeQueue::task-event:
   * @task_id: the task the message is about
   * @message: the worker protocol message (probe, progress, done, failed,
   *   cancelled)
   *
   * Emitted on the main context the queue was created in.
   */
  signals[SIGNAL_TASK_EVENT] =
    g_signal_new ("task-event", G_TYPE_FROM_INTERFACE (iface), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_STRING, JSON_TYPE_OBJECT);
  /**
   * WeQueue::slots-changed:
   *
   * Emitted when a slot frees up or a worker comes or goes, so the scheduler
   * knows when dispatching may succeed again.
   */
  signals[SIGNAL_SLOTS_CHANGED] =
    g_signal_new ("slots-changed", G_TYPE_FROM_INTERFACE (iface), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 0);
}

gboolean
we_queue_start (WeQueue *self, GError **error)
{
  WeQueueInterface *iface;

  g_return_val_if_fail (WE_IS_QUEUE (self), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  iface = WE_QUEUE_GET_IFACE (self);
  if (iface->start == NULL)
    return TRUE;
  return iface->start (self, error);
}

void
we_queue_stop (WeQueue *self)
{
  WeQueueInterface *iface;

  g_return_if_fail (WE_IS_QUEUE (self));

  iface = WE_QUEUE_GET_IFACE (self);
  if (iface->stop != NULL)
    iface->stop (self);
}

gboolean
we_queue_dispatch (WeQueue *self, JsonObject *task, GError **error)
{
  WeQueueInterface *iface;

  g_return_val_if_fail (WE_IS_QUEUE (self), FALSE);
  g_return_val_if_fail (task != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  iface = WE_QUEUE_GET_IFACE (self);
  if (iface->dispatch == NULL) {
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                         "this queue cannot dispatch tasks");
    return FALSE;
  }
  return iface->dispatch (self, task, error);
}

void
we_queue_cancel (WeQueue *self, const gchar *task_id)
{
  WeQueueInterface *iface;

  g_return_if_fail (WE_IS_QUEUE (self));
  g_return_if_fail (task_id != NULL);

  iface = WE_QUEUE_GET_IFACE (self);
  if (iface->cancel != NULL)
    iface->cancel (self, task_id);
}

guint
we_queue_free_slots (WeQueue *self)
{
  WeQueueInterface *iface;

  g_return_val_if_fail (WE_IS_QUEUE (self), 0);

  iface = WE_QUEUE_GET_IFACE (self);
  return iface->free_slots != NULL ? iface->free_slots (self) : 0;
}

guint
we_queue_total_slots (WeQueue *self)
{
  WeQueueInterface *iface;

  g_return_val_if_fail (WE_IS_QUEUE (self), 0);

  iface = WE_QUEUE_GET_IFACE (self);
  return iface->total_slots != NULL ? iface->total_slots (self) : 0;
}

GPtrArray *
we_queue_list_workers (WeQueue *self)
{
  WeQueueInterface *iface;

  g_return_val_if_fail (WE_IS_QUEUE (self), NULL);

  iface = WE_QUEUE_GET_IFACE (self);
  if (iface->list_workers == NULL)
    return g_ptr_array_new_with_free_func ((GDestroyNotify) json_object_unref);
  return iface->list_workers (self);
}

gboolean
we_queue_set_draining (WeQueue *self, const gchar *worker_id, gboolean draining, GError **error)
{
  WeQueueInterface *iface;

  g_return_val_if_fail (WE_IS_QUEUE (self), FALSE);
  g_return_val_if_fail (worker_id != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  iface = WE_QUEUE_GET_IFACE (self);
  if (iface->set_draining == NULL) {
    g_set_error (error, WE_ERROR, WE_ERROR_WRK_NOT_FOUND, "worker %s not found", worker_id);
    return FALSE;
  }
  return iface->set_draining (self, worker_id, draining, error);
}

gboolean
we_queue_remove_worker (WeQueue *self, const gchar *worker_id, GError **error)
{
  WeQueueInterface *iface;

  g_return_val_if_fail (WE_IS_QUEUE (self), FALSE);
  g_return_val_if_fail (worker_id != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  iface = WE_QUEUE_GET_IFACE (self);
  if (iface->remove_worker == NULL) {
    g_set_error (error, WE_ERROR, WE_ERROR_WRK_NOT_FOUND, "worker %s not found", worker_id);
    return FALSE;
  }
  return iface->remove_worker (self, worker_id, error);
}

void
we_queue_emit_task_event (WeQueue *self, const gchar *task_id, JsonObject *message)
{
  g_return_if_fail (WE_IS_QUEUE (self));
  g_return_if_fail (task_id != NULL);
  g_return_if_fail (message != NULL);

  g_signal_emit (self, signals[SIGNAL_TASK_EVENT], 0, task_id, message);
}

void
we_queue_emit_slots_changed (WeQueue *self)
{
  g_return_if_fail (WE_IS_QUEUE (self));

  g_signal_emit (self, signals[SIGNAL_SLOTS_CHANGED], 0);
}

void
we_queue_publish_audit (WeQueue *self, JsonObject *entry)
{
  WeQueueInterface *iface;

  g_return_if_fail (WE_IS_QUEUE (self));
  g_return_if_fail (entry != NULL);

  iface = WE_QUEUE_GET_IFACE (self);
  if (iface->publish_audit != NULL)
    iface->publish_audit (self, entry);
}
