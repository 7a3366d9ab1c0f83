/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Pipeline introspection (issue 8), action job.debug (operators: both show
 * paths and internals of the workers):
 *   GET /v1/jobs/{id}/tasks/{task}/pipeline   the pipeline document (JSON), or
 *       ?format=svg|dot[&stage=…]             one pipeline's graph
 *   GET /v1/jobs/{id}/tasks/{task}/logs       the task's GStreamer debug log,
 *                                             streamed from storage
 * The documents come from core/we-task-debug.c, shared with the D-Bus API.
 */
#include "we-api-handlers.h"

#include "common/we-log.h"
#include "core/we-task-debug.h"

#define LOG_CHUNK_SIZE (256 * 1024)

/* --- pipeline document and graphs --- */

static void
respond_bytes (WeApiRequest *request, GBytes *bytes, const gchar *content_type)
{
  SoupServerMessage *msg = we_api_request_steal_message (request);
  SoupMessageHeaders *h = soup_server_message_get_response_headers (msg);

  soup_message_headers_replace (h, "Cache-Control", "private, no-store");
  /* an SVG from a worker's graph is shown, never run, by a browser */
  soup_message_headers_replace (h, "Content-Security-Policy", "default-src 'none'; "
                                                              "style-src 'unsafe-inline'");
  soup_message_headers_replace (h, "X-Content-Type-Options", "nosniff");
  soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  soup_server_message_set_response (msg, content_type, SOUP_MEMORY_COPY,
                                    g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
  soup_server_message_unpause (msg);
  g_object_unref (msg);
}

static void
graph_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  WeApiRequest *request = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *content_type = NULL;
  g_autoptr(GBytes) bytes = we_task_debug_graph_finish (WE_STORE (source), result,
                                                        &content_type, &error);

  if (bytes == NULL) {
    we_api_request_respond_error (request, error);
    return;
  }
  respond_bytes (request, bytes, content_type);
}

static void
pipeline_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  WeApiRequest *request = user_data;
  g_autoptr(GError) error = NULL;
  JsonObject *doc = we_task_debug_pipeline_finish (WE_STORE (source), result, &error);

  if (doc == NULL) {
    we_api_request_respond_error (request, error);
    return;
  }
  we_api_request_respond_object (request, SOUP_STATUS_OK, doc);
}

void
we_api_jobs_task_pipeline (WeApiRequest *request)
{
  WeStore *store = we_api_request_context (request)->store;
  const gchar *format = we_api_request_query (request, "format");

  if (format == NULL || g_str_equal (format, "json")) {
    we_task_debug_pipeline_async (store, we_api_request_param (request, 0),
                                  we_api_request_param (request, 1), NULL,
                                  pipeline_cb, request);
    return;
  }
  /* we_task_debug_graph_async refuses any other format */
  we_task_debug_graph_async (store, we_api_request_param (request, 0),
                             we_api_request_param (request, 1),
                             we_api_request_query (request, "stage"), format,
                             NULL, graph_cb, request);
}

/* --- logs --- */

typedef struct {
  SoupServerMessage *msg;
  gchar             *request_id;
  WeStorage         *storage;
  gchar             *url;
  gchar             *task_id;
  GInputStream      *in;
  goffset            size;
  GCancellable      *cancellable;
  gulong             wrote_id;
  gboolean           reading;
  gboolean           done;
} LogStream;

static void
log_stream_free (LogStream *s)
{
  if (s->wrote_id != 0)
    g_signal_handler_disconnect (s->msg, s->wrote_id);
  g_clear_object (&s->msg);
  g_free (s->request_id);
  g_clear_object (&s->storage);
  g_free (s->url);
  g_free (s->task_id);
  g_clear_object (&s->in);
  g_clear_object (&s->cancellable);
  g_free (s);
}

static void log_read_next (LogStream *s);

static void
log_read_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  LogStream *s = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) bytes = g_input_stream_read_bytes_finish (G_INPUT_STREAM (source), result,
                                                              &error);
  SoupMessageBody *body;

  s->reading = FALSE;
  if (s->done) {
    log_stream_free (s);
    return;
  }
  body = soup_server_message_get_response_body (s->msg);
  if (bytes == NULL || g_bytes_get_size (bytes) == 0) {
    if (error != NULL)
      we_log (G_LOG_LEVEL_WARNING, s->request_id, "WE-STO-004", "reading the log of task %s: %s",
              s->task_id, error->message);
    soup_message_body_complete (body);
    soup_server_message_unpause (s->msg);
    return;
  }
  soup_message_body_append_bytes (body, bytes);
  soup_server_message_unpause (s->msg);
}

static void
log_read_next (LogStream *s)
{
  if (s->reading)
    return;
  s->reading = TRUE;
  g_input_stream_read_bytes_async (s->in, LOG_CHUNK_SIZE, G_PRIORITY_DEFAULT, s->cancellable,
                                   log_read_cb, s);
}

static void
log_wrote_chunk (SoupServerMessage *msg, LogStream *s)
{
  log_read_next (s);
}

static void
log_finished (SoupServerMessage *msg, LogStream *s)
{
  g_cancellable_cancel (s->cancellable);
  g_signal_handlers_disconnect_by_data (msg, s);
  s->wrote_id = 0;
  s->done = TRUE;
  if (!s->reading)
    log_stream_free (s);
}

static void
log_open_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  LogStream *s = task_data;
  GError *error = NULL;

  s->in = we_storage_open_read (s->storage, s->url, 0, &error);
  if (s->in == NULL) {
    g_task_return_error (task, error);
    return;
  }
  g_task_return_boolean (task, TRUE);
}

static void
log_opened_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  LogStream *s = user_data;
  g_autoptr(GError) error = NULL;
  SoupMessageHeaders *h = soup_server_message_get_response_headers (s->msg);

  if (!g_task_propagate_boolean (G_TASK (result), &error)) {
    /* recorded but gone from storage (deleted by hand): no log to serve */
    if (g_error_matches (error, WE_ERROR, WE_ERROR_STO_NOT_FOUND)) {
      g_autoptr(GError) gone = g_error_new (WE_ERROR, WE_ERROR_JOB_NOT_FOUND,
                                            "the log of task %s is gone from storage",
                                            s->task_id);
      we_api_message_set_error (s->msg, gone, s->request_id);
    } else {
      we_api_message_set_error (s->msg, error, s->request_id);
    }
    soup_server_message_unpause (s->msg);
    log_stream_free (s);
    return;
  }
  soup_message_headers_replace (h, "Content-Type", "text/plain; charset=utf-8");
  soup_message_headers_replace (h, "Cache-Control", "private, no-store");
  soup_message_headers_replace (h, "X-Content-Type-Options", "nosniff");
  /* the size is what the worker reported; the body runs to the object's end */
  soup_message_headers_set_encoding (h, SOUP_ENCODING_CHUNKED);
  soup_server_message_set_status (s->msg, SOUP_STATUS_OK, NULL);
  soup_message_body_set_accumulate (soup_server_message_get_response_body (s->msg), FALSE);
  s->wrote_id = g_signal_connect (s->msg, "wrote-chunk", G_CALLBACK (log_wrote_chunk), s);
  g_signal_connect (s->msg, "finished", G_CALLBACK (log_finished), s);
  log_read_next (s);
}

typedef struct {
  gchar *job_id;
  gchar *task_id;
} LogQuery;

static void
log_query_free (LogQuery *q)
{
  g_free (q->job_id);
  g_free (q->task_id);
  g_free (q);
}

/* On the store's thread: the task's log record, or JOB_NOT_FOUND. */
static gpointer
log_find_func (WeStore *store, gpointer data, GError **error)
{
  LogQuery *q = data;
  g_autoptr(WeJob) job = we_store_job_get (store, q->job_id, error);
  g_autoptr(GPtrArray) logs = NULL;
  g_autoptr(GPtrArray) tasks = NULL;

  if (job == NULL)
    return NULL;
  logs = we_store_task_log_list (store, q->job_id, q->task_id, error);
  if (logs == NULL)
    return NULL;
  if (logs->len > 0)
    return we_task_log_copy (g_ptr_array_index (logs, 0));
  tasks = we_store_task_list (store, q->job_id, error);
  if (tasks == NULL)
    return NULL;
  for (guint i = 0; i < tasks->len; i++) {
    if (g_strcmp0 (((WeTask *) g_ptr_array_index (tasks, i))->id, q->task_id) == 0) {
      g_set_error (error, WE_ERROR, WE_ERROR_JOB_NOT_FOUND,
                   "task %s kept no GStreamer log (its worker runs without [workers] gst_debug)",
                   q->task_id);
      return NULL;
    }
  }
  g_set_error (error, WE_ERROR, WE_ERROR_JOB_NOT_FOUND, "job %s has no task %s", q->job_id,
               q->task_id);
  return NULL;
}

static void
log_found_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  WeApiRequest *request = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(WeTaskLog) log = we_store_call_finish (WE_STORE (source), result, &error);
  WeStorage *storage;
  LogStream *s;
  g_autoptr(GTask) task = NULL;

  if (log == NULL) {
    we_api_request_respond_error (request, error);
    return;
  }
  storage = we_plugin_host_storage_for_url (we_api_request_context (request)->host, log->url,
                                            NULL);
  if (storage == NULL) {
    error = g_error_new (WE_ERROR, WE_ERROR_STO_UNAVAILABLE,
                         "no storage plugin serves the log of task %s", log->task_id);
    we_api_request_respond_error (request, error);
    return;
  }
  s = g_new0 (LogStream, 1);
  s->request_id = g_strdup (request->request_id);
  s->storage = g_object_ref (storage);
  s->url = g_strdup (log->url);
  s->task_id = g_strdup (log->task_id);
  s->size = log->size_bytes;
  s->cancellable = g_cancellable_new ();
  s->msg = we_api_request_steal_message (request);
  task = g_task_new (NULL, NULL, log_opened_cb, s);
  g_task_set_source_tag (task, log_found_cb);
  g_task_set_task_data (task, s, NULL);
  g_task_run_in_thread (task, log_open_thread);
}

void
we_api_jobs_task_logs (WeApiRequest *request)
{
  LogQuery *q = g_new0 (LogQuery, 1);

  q->job_id = g_strdup (we_api_request_param (request, 0));
  q->task_id = g_strdup (we_api_request_param (request, 1));
  we_store_call_async (we_api_request_context (request)->store, log_find_func, q,
                       (GDestroyNotify) log_query_free, (GDestroyNotify) we_task_log_free,
                       NULL, log_found_cb, request);
}
