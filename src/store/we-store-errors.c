/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The error tracking records of the store (spec 2.5, issue 9), with the
 * synchronous wrappers that dispatch to the backend. The API and the kernel
 * log hook reach them through we_store_call_async().
 */
#include "config.h"

#include "store/we-store.h"

WeErrorEvent *
we_error_event_new (void)
{
  return g_new0 (WeErrorEvent, 1);
}

WeErrorEvent *
we_error_event_copy (const WeErrorEvent *event)
{
  WeErrorEvent *copy;

  g_return_val_if_fail (event != NULL, NULL);
  copy = g_memdup2 (event, sizeof (*event));
  copy->id = g_strdup (event->id);
  copy->source_component = g_strdup (event->source_component);
  copy->severity = g_strdup (event->severity);
  copy->message = g_strdup (event->message);
  copy->stack_trace = g_strdup (event->stack_trace);
  copy->context_data = g_strdup (event->context_data);
  copy->resolved_by = g_strdup (event->resolved_by);
  return copy;
}

void
we_error_event_free (WeErrorEvent *event)
{
  if (event == NULL)
    return;
  g_free (event->id);
  g_free (event->source_component);
  g_free (event->severity);
  g_free (event->message);
  g_free (event->stack_trace);
  g_free (event->context_data);
  g_free (event->resolved_by);
  g_free (event);
}

/* A backend without the vfunc says so like the other wrappers. */
#define ERRORS_CALL(ret_fail, vfunc, ...)                                     \
  G_STMT_START {                                                              \
    WeStoreInterface *iface;                                                  \
    g_return_val_if_fail (WE_IS_STORE (self), ret_fail);                      \
    g_return_val_if_fail (error == NULL || *error == NULL, ret_fail);         \
    iface = WE_STORE_GET_IFACE (self);                                        \
    if (iface->vfunc == NULL) {                                               \
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,               \
                   "%s does not implement %s", G_OBJECT_TYPE_NAME (self),     \
                   #vfunc);                                                   \
      return ret_fail;                                                        \
    }                                                                         \
    return iface->vfunc (self, __VA_ARGS__);                                  \
  } G_STMT_END

gboolean
we_store_error_event_add (WeStore *self, WeErrorEvent *event, GError **error)
{
  g_return_val_if_fail (event != NULL && event->source_component != NULL &&
                        event->severity != NULL && event->message != NULL, FALSE);
  ERRORS_CALL (FALSE, error_event_add, event, error);
}

GPtrArray *
we_store_error_event_list (WeStore *self, const WeErrorFilter *filter, guint *total,
                           GError **error)
{
  g_return_val_if_fail (filter != NULL, NULL);
  ERRORS_CALL (NULL, error_event_list, filter, total, error);
}

gboolean
we_store_error_event_set_resolved (WeStore *self, const gchar *id, gboolean resolved,
                                   const gchar *by, GError **error)
{
  g_return_val_if_fail (id != NULL, FALSE);
  ERRORS_CALL (FALSE, error_event_set_resolved, id, resolved, by, error);
}
