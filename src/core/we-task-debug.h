/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Pipeline introspection of a job's tasks, shared by the REST API
 * (GET /v1/jobs/{id}/tasks/{task}/pipeline, …/logs) and the D-Bus API
 * (GetTaskPipeline): what the workers reported of the pipelines a task ran,
 * as kept in the store.
 */
#pragma once

#include <json-glib/json-glib.h>
#include "store/we-store.h"

G_BEGIN_DECLS

/* The pipeline document of @task_id of @job_id:
 *   { "job_id", "task_id",
 *     "pipelines": [ { "stage", "launch", "command", "has_graph",
 *                      "recorded_at" } … ] }
 * "launch" is the gst-launch-1.0 description as the worker recorded it,
 * "command" a shell line that reproduces it by hand (GST_PLUGIN_PATH set
 * for our elements, gst-launch-1.0 -e, the description quoted).
 * @task_id: (nullable): NULL or "" picks the job's first task (by sequence)
 * that recorded a pipeline.
 * Errors: WE_ERROR_JOB_NOT_FOUND for an unknown job or task, or a task that
 * recorded no pipeline (yet). */
void        we_task_debug_pipeline_async  (WeStore             *store,
                                           const gchar         *job_id,
                                           const gchar         *task_id,
                                           GCancellable        *cancellable,
                                           GAsyncReadyCallback  callback,
                                           gpointer             user_data);
/* Returns: (transfer full) (nullable) */
JsonObject *we_task_debug_pipeline_finish (WeStore       *store,
                                           GAsyncResult  *result,
                                           GError       **error);

/* The graph of one pipeline of a task, from the dot the worker recorded.
 * @stage: (nullable): NULL picks the task's first pipeline
 * @format: "dot" (as recorded) or "svg" (rendered by Graphviz's `dot`,
 * run as a subprocess, never on the main loop's thread)
 * Errors: WE_ERROR_JOB_NOT_FOUND as above or when no graph was recorded,
 * WE_ERROR_JOB_INVALID_REQUEST for another format, WE_ERROR_SYS_UNAVAILABLE
 * when Graphviz is missing, WE_ERROR_SYS_INTERNAL when it fails. */
void        we_task_debug_graph_async     (WeStore             *store,
                                           const gchar         *job_id,
                                           const gchar         *task_id,
                                           const gchar         *stage,
                                           const gchar         *format,
                                           GCancellable        *cancellable,
                                           GAsyncReadyCallback  callback,
                                           gpointer             user_data);
/* Returns: (transfer full) (nullable): the graph's bytes;
 * @content_type: (out) (transfer full): "image/svg+xml" or
 * "text/vnd.graphviz" */
GBytes     *we_task_debug_graph_finish    (WeStore       *store,
                                           GAsyncResult  *result,
                                           gchar        **content_type,
                                           GError       **error);

G_END_DECLS
