/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The pipeline introspection records of the store (issue 8): the pipelines a
 * task ran and where its GStreamer debug log lives, with the synchronous
 * wrappers that dispatch to the backend. The kernel reaches them through
 * we_store_call_async().
 */
#include "config.h"

#include "store/we-store.h"

WeTaskPipeline *
we_task_pipeline_new (void)
{
  WeTaskPipeline *pipeline = g_new0 (WeTaskPipeline, 1);

  pipeline->attempt = 1;
  return pipeline;
}

WeTaskPipeline *
we_task_pipeline_copy (const WeTaskPipeline *pipeline)
{
  WeTaskPipeline *copy;

  g_return_val_if_fail (pipeline != NULL, NULL);
  copy = g_memdup2 (pipeline, sizeof (*pipeline));
  copy->job_id = g_strdup (pipeline->job_id);
  copy->task_id = g_strdup (pipeline->task_id);
  copy->stage = g_strdup (pipeline->stage);
  copy->launch = g_strdup (pipeline->launch);
  copy->dot = g_strdup (pipeline->dot);
  return copy;
}

void
we_task_pipeline_free (WeTaskPipeline *pipeline)
{
  if (pipeline == NULL)
    return;
  g_free (pipeline->job_id);
  g_free (pipeline->task_id);
  g_free (pipeline->stage);
  g_free (pipeline->launch);
  g_free (pipeline->dot);
  g_free (pipeline);
}

WeTaskLog *
we_task_log_new (void)
{
  WeTaskLog *log = g_new0 (WeTaskLog, 1);

  log->attempt = 1;
  return log;
}

WeTaskLog *
we_task_log_copy (const WeTaskLog *log)
{
  WeTaskLog *copy;

  g_return_val_if_fail (log != NULL, NULL);
  copy = g_memdup2 (log, sizeof (*log));
  copy->job_id = g_strdup (log->job_id);
  copy->task_id = g_strdup (log->task_id);
  copy->url = g_strdup (log->url);
  return copy;
}

void
we_task_log_free (WeTaskLog *log)
{
  if (log == NULL)
    return;
  g_free (log->job_id);
  g_free (log->task_id);
  g_free (log->url);
  g_free (log);
}

/* A backend without the vfunc says so like the other wrappers. */
#define DEBUG_CALL(ret_fail, vfunc, ...)                                      \
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
we_store_task_pipeline_put (WeStore *self, const WeTaskPipeline *pipeline, GError **error)
{
  g_return_val_if_fail (pipeline != NULL && pipeline->job_id != NULL &&
                        pipeline->task_id != NULL && pipeline->stage != NULL &&
                        pipeline->launch != NULL, FALSE);
  DEBUG_CALL (FALSE, task_pipeline_put, pipeline, error);
}

GPtrArray *
we_store_task_pipeline_list (WeStore *self, const gchar *job_id, const gchar *task_id,
                             GError **error)
{
  g_return_val_if_fail (job_id != NULL, NULL);
  DEBUG_CALL (NULL, task_pipeline_list, job_id, task_id, error);
}

gboolean
we_store_task_log_put (WeStore *self, const WeTaskLog *log, GError **error)
{
  g_return_val_if_fail (log != NULL && log->job_id != NULL && log->task_id != NULL &&
                        log->url != NULL, FALSE);
  DEBUG_CALL (FALSE, task_log_put, log, error);
}

GPtrArray *
we_store_task_log_list (WeStore *self, const gchar *job_id, const gchar *task_id,
                        GError **error)
{
  g_return_val_if_fail (job_id != NULL, NULL);
  DEBUG_CALL (NULL, task_log_list, job_id, task_id, error);
}
