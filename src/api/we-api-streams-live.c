/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The live side of /v1/streams/{id} (issue 10, docs/api.md "Live streams"):
 * the live HLS the live worker writes (GET …/live/{file}), ending a live
 * ingest (POST …/end) and archiving the last recording into a VOD job
 * (POST …/archive), starting and stopping its recording at run time
 * (POST …/recording). Spec §10.2 asks for no public playback, so live HLS is
 * served to authenticated callers with stream.read, like the rest of a
 * stream; play_name stays reserved for a public alias.
 */
#include "config.h"

#include <string.h>

#include "common/we-config.h"
#include "common/we-job.h"
#include "core/we-live-kernel.h"
#include "we-api-handlers.h"
#include "we-api-private.h"

/* playlists and segments the live pipeline writes: a name of letters,
 * digits, '-' and '_' and one known extension, so nothing can climb out of
 * the stream's folder */
static const gchar *
live_content_type (const gchar *file)
{
  static const gchar *const types[][2] = {
    { ".m3u8", "application/vnd.apple.mpegurl" },
    { ".ts", "video/mp2t" },
    { ".m4s", "video/iso.segment" },
    { ".mp4", "video/mp4" },
    { ".aac", "audio/aac" },
  };
  const gchar *dot;

  if (file == NULL || *file == '\0' || strlen (file) > 128)
    return NULL;
  dot = strchr (file, '.');
  if (dot == NULL || dot == file || strchr (dot + 1, '.') != NULL)
    return NULL;
  for (const gchar *p = file; p < dot; p++) {
    if (!g_ascii_isalnum (*p) && *p != '-' && *p != '_')
      return NULL;
  }
  for (guint i = 0; i < G_N_ELEMENTS (types); i++) {
    if (g_str_equal (dot, types[i][0]))
      return types[i][1];
  }
  return NULL;
}

static gboolean
stream_id_is_safe (const gchar *id)
{
  if (id == NULL || *id == '\0' || strlen (id) > 64)
    return FALSE;
  for (const gchar *p = id; *p != '\0'; p++) {
    if (!g_ascii_isalnum (*p) && *p != '-')
      return FALSE;
  }
  return TRUE;
}

/* --- GET /v1/streams/{id}/live/{file} -------------------------------------- */

typedef struct {
  WeApiRequest *request;
  gchar        *stream_id;
  gchar        *path;
  const gchar  *content_type;
  gboolean      playlist;
  GBytes       *bytes;
} LiveFile;

static void
live_file_free (LiveFile *f)
{
  g_free (f->stream_id);
  g_free (f->path);
  g_clear_pointer (&f->bytes, g_bytes_unref);
  g_free (f);
}

static void
read_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  LiveFile *f = task_data;
  gchar *contents = NULL;
  gsize length = 0;

  /* a segment is a second or two of media: read whole */
  if (!g_file_get_contents (f->path, &contents, &length, NULL)) {
    g_task_return_new_error (task, WE_ERROR, WE_ERROR_STR_NOT_FOUND,
                             "no such live file (the stream is not live, or the segment has "
                             "left the playlist)");
    return;
  }
  f->bytes = g_bytes_new_take (contents, length);
  g_task_return_boolean (task, TRUE);
}

static void
read_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  LiveFile *f = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(SoupServerMessage) msg = NULL;
  SoupMessageHeaders *h;
  gsize size;
  gconstpointer data;

  if (!g_task_propagate_boolean (G_TASK (result), &error)) {
    we_api_request_respond_error (f->request, error);
    live_file_free (f);
    return;
  }
  msg = we_api_request_steal_message (f->request);
  h = soup_server_message_get_response_headers (msg);
  /* the playlist changes every segment; a segment never changes */
  soup_message_headers_replace (h, "Cache-Control", f->playlist ? "no-cache"
                                                                : "private, max-age=3600");
  soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  data = g_bytes_get_data (f->bytes, &size);
  soup_server_message_set_response (msg, f->content_type, SOUP_MEMORY_COPY, data, size);
  soup_server_message_unpause (msg);
  live_file_free (f);
}

/* A deleted stream's files are never served, even before they are gone:
 * the stream must exist. */
static gpointer
stream_exists (WeStore *store, gpointer data, GError **error)
{
  LiveFile *f = data;
  g_autoptr(WeStream) stream = we_store_stream_get (store, f->stream_id, error);

  return stream != NULL ? f : NULL;
}

static void
exists_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  LiveFile *f = user_data;
  WeLiveKernel *live = we_api_request_context (f->request)->live;
  g_autoptr(GError) error = NULL;
  g_autoptr(GTask) task = NULL;

  if (we_store_call_finish (WE_STORE (source), result, &error) == NULL) {
    we_api_request_respond_error (f->request, error);
    live_file_free (f);
    return;
  }
  /* a viewer: a client fetching a live playlist (its user and address) */
  if (f->playlist && live != NULL) {
    g_autofree gchar *client = NULL;
    const gchar *host = soup_server_message_get_remote_host (f->request->msg);

    client = g_strdup_printf ("%s@%s", f->request->identity != NULL &&
                                       f->request->identity->user_id != NULL
                                           ? f->request->identity->user_id : "-",
                              host != NULL ? host : "?");
    we_live_kernel_count_viewer (live, f->stream_id, client);
  }
  task = g_task_new (NULL, NULL, read_done, f);
  g_task_set_task_data (task, f, NULL);
  g_task_run_in_thread (task, read_thread);
}

/* @rung: NULL for live/{file}, else live/{rung}/{file} (a rendition of
 * the live ABR: letters, digits and '_') */
static void
serve_live_file (WeApiRequest *request, const gchar *rung, const gchar *file)
{
  const WeApiContext *ctx = we_api_request_context (request);
  const gchar *id = we_api_request_param (request, 0);
  const gchar *type = live_content_type (file);
  g_autoptr(GError) error = NULL;
  gboolean rung_ok = rung == NULL || (*rung != '\0' && strlen (rung) <= 32);
  LiveFile *f;

  for (const gchar *p = rung; rung_ok && p != NULL && *p != '\0'; p++)
    rung_ok = g_ascii_isalnum (*p) || *p == '_';
  if (!stream_id_is_safe (id) || type == NULL || !rung_ok) {
    g_set_error_literal (&error, WE_ERROR, WE_ERROR_STR_NOT_FOUND, "no such live file");
    we_api_request_respond_error (request, error);
    return;
  }
  f = g_new0 (LiveFile, 1);
  f->request = request;
  f->stream_id = g_strdup (id);
  f->content_type = type;
  f->playlist = g_str_has_suffix (file, ".m3u8");
  f->path = g_build_filename (we_config_get_live_output_dir (ctx->config), id, "live",
                              rung != NULL ? rung : file, rung != NULL ? file : NULL, NULL);
  we_store_call_async (ctx->store, stream_exists, f, NULL, NULL, request->cancellable,
                       exists_cb, f);
}

void
we_api_streams_live_file (WeApiRequest *request)
{
  serve_live_file (request, NULL, we_api_request_param (request, 1));
}

void
we_api_streams_live_rung_file (WeApiRequest *request)
{
  serve_live_file (request, we_api_request_param (request, 1),
                   we_api_request_param (request, 2));
}

/* --- POST /v1/streams/{id}/end and /archive -------------------------------- */

typedef enum {
  ACTION_END,
  ACTION_ARCHIVE,
  ACTION_RECORDING,
} ActionKind;

typedef struct {
  WeApiRequest *request;
  gchar        *stream_id;
  ActionKind    kind;
  gboolean      enabled;   /* recording */
  WeStream     *stream;
} Action;

static void
action_free (Action *a)
{
  g_free (a->stream_id);
  g_clear_pointer (&a->stream, we_stream_free);
  g_free (a);
}

static gpointer
get_stream (WeStore *store, gpointer data, GError **error)
{
  Action *a = data;

  a->stream = we_store_stream_get (store, a->stream_id, error);
  return a->stream != NULL ? a : NULL;
}

static void
archived_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Action *a = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(WeJob) job = we_live_kernel_archive_finish (WE_LIVE_KERNEL (source), result, &error);
  JsonObject *o;

  if (job == NULL) {
    we_api_request_respond_error (a->request, error);
    action_free (a);
    return;
  }
  o = json_object_new ();
  json_object_set_string_member (o, "stream_id", a->stream_id);
  json_object_set_string_member (o, "archive_vod_job_id", job->id);
  we_api_request_respond_object (a->request, SOUP_STATUS_ACCEPTED, o);
  action_free (a);
}

static void
got_stream_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Action *a = user_data;
  WeLiveKernel *live = we_api_request_context (a->request)->live;
  g_autoptr(GError) error = NULL;
  JsonObject *o;

  if (we_store_call_finish (WE_STORE (source), result, &error) == NULL) {
    we_api_request_respond_error (a->request, error);
    action_free (a);
    return;
  }
  g_free (a->request->audit_resource_id);
  a->request->audit_resource_id = g_strdup (a->stream_id);
  if (a->kind == ACTION_ARCHIVE) {
    /* the archive belongs to the stream's owner, whoever asks for it */
    we_live_kernel_archive_async (live, a->stream_id, a->stream->user_id, NULL, archived_cb, a);
    return;
  }
  if (a->kind == ACTION_RECORDING) {
    if (!we_live_kernel_set_recording (live, a->stream_id, a->enabled, &error)) {
      we_api_request_respond_error (a->request, error);
      action_free (a);
      return;
    }
    o = json_object_new ();
    json_object_set_string_member (o, "stream_id", a->stream_id);
    json_object_set_boolean_member (o, "recording", a->enabled);
    we_api_request_respond_object (a->request, SOUP_STATUS_OK, o);
    action_free (a);
    return;
  }
  if (!we_live_kernel_end_stream (live, a->stream_id, &error)) {
    we_api_request_respond_error (a->request, error);
    action_free (a);
    return;
  }
  o = json_object_new ();
  json_object_set_string_member (o, "stream_id", a->stream_id);
  json_object_set_string_member (o, "status", "ending");
  we_api_request_respond_object (a->request, SOUP_STATUS_ACCEPTED, o);
  action_free (a);
}

static void
run_action (WeApiRequest *request, ActionKind kind, gboolean enabled)
{
  const WeApiContext *ctx = we_api_request_context (request);
  const gchar *id = we_api_request_param (request, 0);
  g_autoptr(GError) error = NULL;
  Action *a;

  if (ctx->live == NULL) {
    g_set_error_literal (&error, WE_ERROR, WE_ERROR_STR_INGEST_UNAVAILABLE,
                         "live ingest is not enabled on this service ([live] enabled)");
    we_api_request_respond_error (request, error);
    return;
  }
  if (!stream_id_is_safe (id)) {
    g_set_error_literal (&error, WE_ERROR, WE_ERROR_STR_NOT_FOUND, "no such stream");
    we_api_request_respond_error (request, error);
    return;
  }
  a = g_new0 (Action, 1);
  a->request = request;
  a->stream_id = g_strdup (id);
  a->kind = kind;
  a->enabled = enabled;
  we_store_call_async (ctx->store, get_stream, a, NULL, NULL, request->cancellable,
                       got_stream_cb, a);
}

void
we_api_streams_end (WeApiRequest *request)
{
  run_action (request, ACTION_END, FALSE);
}

void
we_api_streams_archive (WeApiRequest *request)
{
  run_action (request, ACTION_ARCHIVE, FALSE);
}

/* POST /v1/streams/{id}/recording {"enabled": bool} */
void
we_api_streams_recording (WeApiRequest *request)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GError) local = NULL;
  g_autoptr(JsonObject) body = we_api_request_parse_json_object (request, &local);
  JsonNode *enabled = body != NULL ? json_object_get_member (body, "enabled") : NULL;

  if (enabled == NULL || !JSON_NODE_HOLDS_VALUE (enabled) ||
      json_node_get_value_type (enabled) != G_TYPE_BOOLEAN) {
    g_set_error (&error, WE_ERROR, WE_ERROR_STR_INVALID_REQUEST, "%s",
                 local != NULL ? local->message : "enabled must be true or false");
    we_api_request_respond_error (request, error);
    return;
  }
  run_action (request, ACTION_RECORDING, json_node_get_boolean (enabled));
}
