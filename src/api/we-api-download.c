/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * GET/HEAD /v1/jobs/{id}/outputs/{name}: an output's bytes, streamed from the
 * storage pillar chunk by chunk (the next read starts when libsoup has
 * written the previous chunk), with single-range support for players that
 * seek.
 */
#include "we-api-handlers.h"

#include "common/we-log.h"

#define CHUNK_SIZE (256 * 1024)

typedef struct {
  SoupServerMessage *msg;
  gchar             *request_id;
  WeStorage         *storage;
  gchar             *url;
  gchar             *name;
  gchar             *content_type;
  SoupMessageHeaders *request_headers;
  /* filled by the open thread */
  GInputStream      *in;
  goffset            total;
  goffset            start;
  goffset            length;
  gboolean           partial;
  gboolean           unsatisfiable;
  gchar             *etag;
  gboolean           head;
  goffset            remaining;
  GCancellable      *cancellable;
  gulong             wrote_id;
  gboolean           reading;
  gboolean           done;
} Download;

static void
download_free (Download *d)
{
  if (d->wrote_id != 0)
    g_signal_handler_disconnect (d->msg, d->wrote_id);
  g_clear_object (&d->msg);
  g_free (d->request_id);
  g_clear_object (&d->storage);
  g_free (d->url);
  g_free (d->name);
  g_free (d->content_type);
  g_clear_pointer (&d->request_headers, soup_message_headers_unref);
  g_clear_object (&d->in);
  g_free (d->etag);
  g_clear_object (&d->cancellable);
  g_free (d);
}

static void read_next (Download *d);

static void
read_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Download *d = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) bytes = g_input_stream_read_bytes_finish (G_INPUT_STREAM (source), result,
                                                              &error);
  SoupMessageBody *body;

  d->reading = FALSE;
  if (d->done) {
    download_free (d);
    return;
  }
  body = soup_server_message_get_response_body (d->msg);
  if (bytes == NULL || g_bytes_get_size (bytes) == 0) {
    /* the headers are gone already; a short body is how the client learns */
    if (d->remaining > 0)
      we_log (G_LOG_LEVEL_WARNING, d->request_id, "WE-STO-004", "reading %s stopped early: %s",
              d->url, error ? error->message : "unexpected end of object");
    soup_message_body_complete (body);
    soup_server_message_unpause (d->msg);
    return;
  }
  d->remaining -= (goffset) g_bytes_get_size (bytes);
  soup_message_body_append_bytes (body, bytes);
  if (d->remaining <= 0)
    soup_message_body_complete (body);
  soup_server_message_unpause (d->msg);
}

static void
read_next (Download *d)
{
  if (d->reading || d->remaining <= 0)
    return;
  d->reading = TRUE;
  g_input_stream_read_bytes_async (d->in, (gsize) MIN (CHUNK_SIZE, d->remaining),
                                   G_PRIORITY_DEFAULT, d->cancellable, read_cb, d);
}

static void
on_wrote_chunk (SoupServerMessage *msg, Download *d)
{
  read_next (d);
}

static void
on_finished (SoupServerMessage *msg, Download *d)
{
  g_cancellable_cancel (d->cancellable);
  g_signal_handlers_disconnect_by_data (msg, d);
  d->wrote_id = 0;
  d->done = TRUE;
  if (!d->reading)
    download_free (d);
}

static void
open_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  Download *d = task_data;
  g_auto(WeObjectInfo) info = { 0 };
  GError *error = NULL;
  SoupRange *ranges = NULL;
  int n_ranges = 0;

  if (!we_storage_stat (d->storage, d->url, &info, &error)) {
    g_task_return_error (task, error);
    return;
  }
  d->total = (goffset) info.size;
  d->etag = g_strdup_printf ("\"%s\"", info.etag ? info.etag : "0");
  d->start = 0;
  d->length = d->total;
  if (soup_message_headers_get_one (d->request_headers, "Range") != NULL) {
    if (soup_message_headers_get_ranges (d->request_headers, d->total, &ranges, &n_ranges)) {
      /* several ranges would need multipart/byteranges; a full body is also correct */
      if (n_ranges == 1) {
        d->start = ranges[0].start;
        d->length = ranges[0].end - ranges[0].start + 1;
        d->partial = TRUE;
      }
      soup_message_headers_free_ranges (d->request_headers, ranges);
    } else {
      d->unsatisfiable = TRUE;
      g_task_return_boolean (task, TRUE);
      return;
    }
  }
  if (!d->head) {
    d->in = we_storage_open_read (d->storage, d->url, d->start, &error);
    if (d->in == NULL) {
      g_task_return_error (task, error);
      return;
    }
  }
  g_task_return_boolean (task, TRUE);
}

static void
opened_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Download *d = user_data;
  g_autoptr(GError) error = NULL;
  SoupMessageHeaders *h = soup_server_message_get_response_headers (d->msg);
  g_autofree gchar *disposition = NULL;
  g_autofree gchar *base = NULL;
  const gchar *if_none_match;

  if (!g_task_propagate_boolean (G_TASK (result), &error)) {
    we_api_message_set_error (d->msg, error, d->request_id);
    soup_server_message_unpause (d->msg);
    download_free (d);
    return;
  }
  soup_message_headers_replace (h, "Accept-Ranges", "bytes");
  soup_message_headers_replace (h, "ETag", d->etag);
  if (d->unsatisfiable) {
    g_autofree gchar *range = g_strdup_printf ("bytes */%" G_GOFFSET_FORMAT, d->total);
    error = g_error_new (WE_ERROR, WE_ERROR_SYS_RANGE_NOT_SATISFIABLE,
                         "the requested range is outside the %" G_GOFFSET_FORMAT "-byte object",
                         d->total);
    we_api_message_set_error (d->msg, error, d->request_id);
    soup_message_headers_replace (h, "Content-Range", range);
    soup_server_message_unpause (d->msg);
    download_free (d);
    return;
  }
  if_none_match = soup_message_headers_get_one (d->request_headers, "If-None-Match");
  if (if_none_match != NULL && g_strcmp0 (if_none_match, d->etag) == 0 && !d->partial) {
    soup_server_message_set_status (d->msg, SOUP_STATUS_NOT_MODIFIED, NULL);
    soup_server_message_unpause (d->msg);
    download_free (d);
    return;
  }

  /* a player fetching a playlist or segment ignores it; a browser saving
   * a file gets its own name, never a path or a broken quote */
  base = g_path_get_basename (d->name);
  g_strdelimit (base, "\"\\", '_');
  disposition = g_strdup_printf ("attachment; filename=\"%s\"", base);
  soup_message_headers_replace (h, "Content-Disposition", disposition);
  soup_message_headers_replace (h, "Content-Type", d->content_type ? d->content_type
                                                                   : "application/octet-stream");
  soup_message_headers_replace (h, "Cache-Control", "private, max-age=0, must-revalidate");
  soup_message_headers_set_content_length (h, d->length);
  if (d->partial) {
    soup_message_headers_set_content_range (h, d->start, d->start + d->length - 1, d->total);
    soup_server_message_set_status (d->msg, SOUP_STATUS_PARTIAL_CONTENT, NULL);
  } else {
    soup_server_message_set_status (d->msg, SOUP_STATUS_OK, NULL);
  }
  if (d->head || d->length == 0) {
    soup_message_body_complete (soup_server_message_get_response_body (d->msg));
    soup_server_message_unpause (d->msg);
    download_free (d);
    return;
  }
  d->remaining = d->length;
  soup_message_body_set_accumulate (soup_server_message_get_response_body (d->msg), FALSE);
  d->wrote_id = g_signal_connect (d->msg, "wrote-chunk", G_CALLBACK (on_wrote_chunk), d);
  g_signal_connect (d->msg, "finished", G_CALLBACK (on_finished), d);
  read_next (d);
}

WeStorage *
we_api_output_resolve (WePluginHost *host, GPtrArray *outputs, const gchar *job_id,
                       const gchar *name, gchar **url, gchar **content_type, GError **error)
{
  WeJobOutput *found = NULL;
  WeJobOutput *manifest = NULL;
  g_autofree gchar *segment_url = NULL;
  const gchar *where;
  WeStorage *storage;

  for (guint i = 0; i < outputs->len && found == NULL; i++) {
    WeJobOutput *o = g_ptr_array_index (outputs, i);
    if (g_strcmp0 (o->name, name) == 0)
      found = o;
    else if (g_strcmp0 (o->type, "manifest") == 0 && manifest == NULL)
      manifest = o;
  }
  /* media segments, init segments and keys-free playlists of a ladder are
   * not listed one by one: they are the files below its manifest's folder,
   * which players reach by relative URLs */
  if (found == NULL && manifest != NULL && we_job_output_path_is_safe (name) &&
      strchr (manifest->name, '/') == NULL) {
    const gchar *slash = strrchr (manifest->url, '/');
    if (slash != NULL)
      segment_url = g_strdup_printf ("%.*s/%s", (gint) (slash - manifest->url), manifest->url,
                                     name);
  }
  if (found == NULL && segment_url == NULL) {
    g_set_error (error, WE_ERROR, WE_ERROR_STO_NOT_FOUND, "job %s has no output \"%s\"",
                 job_id, name);
    return NULL;
  }
  where = found != NULL ? found->url : segment_url;
  storage = we_plugin_host_storage_for_url (host, where, NULL);
  if (storage == NULL) {
    g_set_error (error, WE_ERROR, WE_ERROR_STO_UNAVAILABLE, "no storage plugin serves %s",
                 where);
    return NULL;
  }
  *url = g_strdup (where);
  *content_type = g_strdup (found != NULL ? found->content_type
                                          : we_job_content_type_for_name (name));
  return storage;
}

static void
outputs_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  WeApiRequest *request = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) outputs = we_store_finish_list (WE_STORE (source), result, NULL, &error);
  const gchar *name = we_api_request_param (request, 1);
  g_autofree gchar *url = NULL;
  g_autofree gchar *content_type = NULL;
  WeStorage *storage;
  Download *d;
  g_autoptr(GTask) task = NULL;

  if (outputs == NULL) {
    we_api_request_respond_error (request, error);
    return;
  }
  storage = we_api_output_resolve (we_api_request_context (request)->host, outputs,
                                   we_api_request_param (request, 0), name, &url,
                                   &content_type, &error);
  if (storage == NULL) {
    we_api_request_respond_error (request, error);
    return;
  }

  d = g_new0 (Download, 1);
  d->head = g_strcmp0 (soup_server_message_get_method (request->msg), "HEAD") == 0;
  d->request_id = g_strdup (request->request_id);
  d->storage = g_object_ref (storage);
  d->url = g_steal_pointer (&url);
  d->name = g_strdup (name);
  d->content_type = g_steal_pointer (&content_type);
  d->request_headers = soup_message_headers_ref (soup_server_message_get_request_headers (request->msg));
  d->cancellable = g_cancellable_new ();
  d->msg = we_api_request_steal_message (request);
  task = g_task_new (NULL, NULL, opened_cb, d);
  g_task_set_source_tag (task, outputs_cb);
  g_task_set_task_data (task, d, NULL);
  g_task_run_in_thread (task, open_thread);
}

static void
job_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  WeApiRequest *request = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(WeJob) job = we_store_finish_job (WE_STORE (source), result, &error);

  if (job == NULL) {
    we_api_request_respond_error (request, error);
    return;
  }
  we_store_output_list_async (WE_STORE (source), job->id, NULL, outputs_cb, request);
}

void
we_api_jobs_download (WeApiRequest *request)
{
  we_store_job_get_async (we_api_request_context (request)->store,
                          we_api_request_param (request, 0), NULL, job_cb, request);
}
