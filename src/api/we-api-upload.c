/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * POST /v1/files/upload: the body goes straight from the socket to the
 * storage pillar. The message is paused while a write is in flight, so a
 * fast client can never make us buffer more than one network chunk, and
 * nothing is visible in storage until the stream is closed after the last
 * byte (a client that goes away leaves nothing behind).
 */
#include "we-api-handlers.h"

#include "common/we-log.h"
#include "we-api-private.h"
#include "core/we-rbac.h"
#include "we-multipart.h"

#define MAX_FIELD     1024
#define MAX_KEY_LEN   512

typedef struct {
  WeApiServer       *server;       /* borrowed: outlives every message */
  SoupServerMessage *msg;          /* borrowed: we live in its data */
  GError            *error;        /* the first failure, answered at the end */
  gboolean           authorized;
  WeIdentity        *identity;
  WeMultipart       *multipart;    /* NULL for a raw body */
  GHashTable        *fields;
  gchar             *field_name;
  GString           *field_value;
  gboolean           in_file_part;
  gboolean           file_seen;
  gboolean           file_done;
  gchar             *filename;
  gchar             *plugin_id;
  WeStorage         *storage;
  gchar             *key;
  gchar             *url;
  GOutputStream     *out;
  gboolean           need_open;
  GByteArray        *pending;
  guint64            written;
  guint64            max_bytes;
  gboolean           busy;
  gboolean           paused;
  WeApiRequest      *request;      /* set when the whole body has arrived */
} Upload;

static void pump (Upload *up);

static void
upload_free (Upload *up)
{
  g_clear_error (&up->error);
  g_clear_pointer (&up->identity, we_identity_free);
  g_clear_pointer (&up->multipart, we_multipart_free);
  g_clear_pointer (&up->fields, g_hash_table_unref);
  g_free (up->field_name);
  if (up->field_value != NULL)
    g_string_free (up->field_value, TRUE);
  g_free (up->filename);
  g_free (up->plugin_id);
  g_clear_object (&up->storage);
  g_free (up->key);
  g_free (up->url);
  /* dropped unclosed: the storage contract discards the partial object */
  g_clear_object (&up->out);
  g_clear_pointer (&up->pending, g_byte_array_unref);
  if (up->request != NULL)
    we_api_request_free (up->request);
  g_free (up);
}

static void
set_failed (Upload *up, GError *error)
{
  if (up->error == NULL)
    up->error = error;
  else
    g_error_free (error);
  g_byte_array_set_size (up->pending, 0);
  up->need_open = FALSE;
}

static void
pause_msg (Upload *up)
{
  if (!up->paused) {
    soup_server_message_pause (up->msg);
    up->paused = TRUE;
  }
}

static void
unpause_msg (Upload *up)
{
  if (up->paused) {
    up->paused = FALSE;
    soup_server_message_unpause (up->msg);
  }
}

static gchar *
sanitize_filename (const gchar *name)
{
  g_autofree gchar *base = name ? g_path_get_basename (name) : NULL;
  GString *out = g_string_new (NULL);

  /* browsers on Windows send C:\path\file.mp4 */
  if (base != NULL && strrchr (base, '\\') != NULL) {
    gchar *tmp = g_strdup (strrchr (base, '\\') + 1);
    g_free (base);
    base = tmp;
  }
  for (const gchar *p = base ? base : ""; *p && out->len < 128; p++) {
    if (g_ascii_isalnum (*p) || *p == '.' || *p == '-' || *p == '_')
      g_string_append_c (out, *p);
    else
      g_string_append_c (out, '_');
  }
  while (out->len > 0 && out->str[0] == '.')
    g_string_erase (out, 0, 1);
  if (out->len == 0)
    g_string_append (out, "upload.bin");
  return g_string_free (out, FALSE);
}

static gboolean
valid_key (const gchar *key, GError **error)
{
  g_auto(GStrv) parts = NULL;

  if (strlen (key) == 0 || strlen (key) > MAX_KEY_LEN || key[0] == '/' ||
      strchr (key, '\\') != NULL || !g_utf8_validate (key, -1, NULL)) {
    g_set_error (error, WE_ERROR, WE_ERROR_STO_ACCESS_DENIED,
                 "object_key must be a relative path of at most %d characters", MAX_KEY_LEN);
    return FALSE;
  }
  parts = g_strsplit (key, "/", -1);
  for (guint i = 0; parts[i] != NULL; i++) {
    if (g_str_equal (parts[i], "..") || g_str_equal (parts[i], ".") ||
        (parts[i][0] == '\0' && parts[i + 1] != NULL)) {
      g_set_error (error, WE_ERROR, WE_ERROR_STO_ACCESS_DENIED,
                   "object_key \"%s\" contains a path traversal", key);
      return FALSE;
    }
  }
  return TRUE;
}

/* Chooses storage and key; runs on the main loop, cheap. */
static gboolean
prepare_target (Upload *up, GError **error)
{
  WePluginHost *host = we_api_server_get_context (up->server)->host;
  const gchar *key = up->fields ? g_hash_table_lookup (up->fields, "object_key") : NULL;
  const gchar *plugin = up->fields ? g_hash_table_lookup (up->fields, "plugin_id") : NULL;
  g_autofree gchar *safe = sanitize_filename (up->filename);

  if (plugin != NULL && *plugin != '\0') {
    GObject *instance = we_plugin_host_get_instance (host, plugin);
    if (instance == NULL || !WE_IS_STORAGE (instance)) {
      g_set_error (error, WE_ERROR, WE_ERROR_PLG_NOT_FOUND, "no storage plugin \"%s\"", plugin);
      return FALSE;
    }
    up->storage = g_object_ref (WE_STORAGE (instance));
    up->plugin_id = g_strdup (plugin);
  } else {
    const gchar *id = NULL;
    WeStorage *storage = we_plugin_host_default_storage (host, &id);
    if (storage == NULL) {
      g_set_error_literal (error, WE_ERROR, WE_ERROR_STO_UNAVAILABLE,
                           "no storage plugin accepts uploads");
      return FALSE;
    }
    up->storage = g_object_ref (storage);
    up->plugin_id = g_strdup (id);
  }
  if (key != NULL && *key != '\0') {
    if (!valid_key (key, error))
      return FALSE;
    up->key = g_strdup (key);
  } else {
    g_autofree gchar *uuid = g_uuid_string_random ();
    up->key = g_strdup_printf ("uploads/%s/%s", uuid, safe);
  }
  return TRUE;
}

/* --- opening, writing, closing: each off the main loop --- */

static void
open_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  Upload *up = task_data;
  GError *error = NULL;
  gchar *url = we_storage_make_url (up->storage, up->key);
  GOutputStream *out = url ? we_storage_create (up->storage, url, &error) : NULL;

  if (out == NULL) {
    g_free (url);
    if (error == NULL)
      error = g_error_new_literal (WE_ERROR, WE_ERROR_STO_UNAVAILABLE, "storage has no URL");
    g_task_return_error (task, error);
    return;
  }
  up->url = url;
  g_task_return_pointer (task, out, g_object_unref);
}

static void
opened_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Upload *up = user_data;
  GError *error = NULL;

  up->out = g_task_propagate_pointer (G_TASK (result), &error);
  up->busy = FALSE;
  if (up->out == NULL)
    set_failed (up, error);
  pump (up);
  g_object_unref (up->msg);
}

static void
written_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Upload *up = user_data;
  GError *error = NULL;
  gsize n = 0;

  up->busy = FALSE;
  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, &n, &error)) {
    g_prefix_error (&error, "writing the upload: ");
    set_failed (up, error);
  } else {
    up->written += n;
    g_byte_array_remove_range (up->pending, 0, (guint) n);
  }
  pump (up);
  g_object_unref (up->msg);
}

static void
finish_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  Upload *up = task_data;
  GError *error = NULL;
  g_auto(WeObjectInfo) info = { 0 };
  JsonObject *o;

  if (!g_output_stream_close (up->out, NULL, &error)) {
    g_prefix_error (&error, "storing the upload: ");
    g_task_return_error (task, error);
    return;
  }
  o = json_object_new ();
  json_object_set_string_member (o, "plugin_id", up->plugin_id);
  json_object_set_string_member (o, "url", up->url);
  json_object_set_string_member (o, "object_key", up->key);
  json_object_set_int_member (o, "size", (gint64) up->written);
  if (we_storage_stat (up->storage, up->url, &info, NULL) && info.etag != NULL)
    json_object_set_string_member (o, "etag", info.etag);
  g_task_return_pointer (task, o, (GDestroyNotify) json_object_unref);
}

static void
finished_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Upload *up = user_data;
  GError *error = NULL;
  JsonObject *o = g_task_propagate_pointer (G_TASK (result), &error);
  WeApiRequest *request = g_steal_pointer (&up->request);

  g_clear_object (&up->out);
  if (o == NULL) {
    we_api_request_respond_error (request, error);
    g_error_free (error);
  } else {
    we_log (G_LOG_LEVEL_INFO, request->request_id, NULL, "stored upload %s (%" G_GUINT64_FORMAT
            " bytes)", up->url, up->written);
    we_api_request_respond_object (request, SOUP_STATUS_CREATED, o);
  }
  g_object_unref (up->msg);
}

static void
try_finish (Upload *up)
{
  g_autoptr(GTask) task = NULL;

  if (up->request == NULL || up->busy)
    return;
  if (up->error == NULL && up->multipart != NULL && !up->file_seen)
    set_failed (up, g_error_new_literal (WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                                         "the multipart body has no file part"));
  if (up->error == NULL && up->multipart != NULL && !we_multipart_is_done (up->multipart))
    set_failed (up, g_error_new_literal (WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                                         "the multipart body ended without its closing boundary"));
  if (up->error == NULL && up->out == NULL)
    set_failed (up, g_error_new_literal (WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                                         "nothing was uploaded"));
  if (up->error != NULL) {
    WeApiRequest *request = g_steal_pointer (&up->request);
    we_api_request_respond_error (request, up->error);
    return;
  }
  up->busy = TRUE;
  task = g_task_new (NULL, NULL, finished_cb, up);
  g_task_set_source_tag (task, try_finish);
  g_task_set_task_data (task, up, NULL);
  g_object_ref (up->msg);
  g_task_run_in_thread (task, finish_thread);
}

static void
pump (Upload *up)
{
  if (up->busy)
    return;
  if (up->error == NULL && up->need_open) {
    g_autoptr(GTask) task = NULL;
    g_autoptr(GError) error = NULL;

    up->need_open = FALSE;
    if (!prepare_target (up, &error)) {
      set_failed (up, g_steal_pointer (&error));
      pump (up);
      return;
    }
    up->busy = TRUE;
    pause_msg (up);
    task = g_task_new (NULL, NULL, opened_cb, up);
    g_task_set_source_tag (task, pump);
    g_task_set_task_data (task, up, NULL);
    g_object_ref (up->msg);
    g_task_run_in_thread (task, open_thread);
    return;
  }
  if (up->error == NULL && up->out != NULL && up->pending->len > 0) {
    up->busy = TRUE;
    pause_msg (up);
    g_object_ref (up->msg);
    /* the array is not touched until the write completes: we are paused */
    g_output_stream_write_all_async (up->out, up->pending->data, up->pending->len,
                                     G_PRIORITY_DEFAULT,
                                     we_api_message_get_cancellable (up->msg), written_cb, up);
    return;
  }
  if (up->request != NULL) {
    try_finish (up);
    return;
  }
  unpause_msg (up);
}

/* --- multipart callbacks --- */

static gboolean
on_part_begin (const gchar *name, const gchar *filename, const gchar *content_type,
               gpointer user_data)
{
  Upload *up = user_data;

  if (filename != NULL && g_str_equal (name, "file")) {
    if (up->file_seen) {
      set_failed (up, g_error_new_literal (WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                                           "only one file per upload"));
      return FALSE;
    }
    up->file_seen = TRUE;
    up->in_file_part = TRUE;
    up->filename = g_strdup (filename);
    up->need_open = TRUE;
    return TRUE;
  }
  g_free (up->field_name);
  up->field_name = g_strdup (name);
  g_string_truncate (up->field_value, 0);
  return TRUE;
}

static gboolean
on_part_data (const guint8 *data, gsize length, gpointer user_data)
{
  Upload *up = user_data;

  if (up->in_file_part) {
    if (up->written + up->pending->len + length > up->max_bytes) {
      set_failed (up, g_error_new (WE_ERROR, WE_ERROR_SYS_PAYLOAD_TOO_LARGE,
                                   "uploads are limited to %" G_GUINT64_FORMAT " bytes",
                                   up->max_bytes));
      return FALSE;
    }
    g_byte_array_append (up->pending, data, (guint) length);
    return TRUE;
  }
  if (up->field_value->len + length > MAX_FIELD) {
    set_failed (up, g_error_new (WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                                 "form field \"%s\" is longer than %d bytes",
                                 up->field_name ? up->field_name : "", MAX_FIELD));
    return FALSE;
  }
  g_string_append_len (up->field_value, (const gchar *) data, (gssize) length);
  return TRUE;
}

static gboolean
on_part_end (gpointer user_data)
{
  Upload *up = user_data;

  if (up->in_file_part) {
    up->in_file_part = FALSE;
    up->file_done = TRUE;
    return TRUE;
  }
  if (up->field_name != NULL && !up->file_seen)
    g_hash_table_replace (up->fields, g_steal_pointer (&up->field_name),
                          g_strdup (up->field_value->str));
  return TRUE;
}

static const WeMultipartCallbacks multipart_callbacks = {
  on_part_begin, on_part_data, on_part_end,
};

static void
on_got_chunk (SoupServerMessage *msg, GBytes *chunk, Upload *up)
{
  gsize size = 0;
  const guint8 *data = g_bytes_get_data (chunk, &size);

  if (!up->authorized || up->error != NULL)
    return; /* discarding a refused body */
  if (up->multipart != NULL) {
    GError *error = NULL;
    if (!we_multipart_feed (up->multipart, data, size, &error)) {
      if (up->error == NULL)
        set_failed (up, error);
      else
        g_error_free (error);
    }
  } else {
    if (up->written + up->pending->len + size > up->max_bytes)
      set_failed (up, g_error_new (WE_ERROR, WE_ERROR_SYS_PAYLOAD_TOO_LARGE,
                                   "uploads are limited to %" G_GUINT64_FORMAT " bytes",
                                   up->max_bytes));
    else
      g_byte_array_append (up->pending, data, (guint) size);
  }
  pump (up);
}

static void
authenticated_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Upload *up = user_data;
  GError *error = NULL;
  const gchar *request_id = we_api_message_get_request_id (up->msg);
  const gchar *content_type;

  up->identity = we_api_server_authenticate_finish (up->server, result, &error);
  if (up->identity == NULL || !we_rbac_check (up->identity, "file.upload", &error)) {
    /* answering now makes libsoup skip the body instead of storing it */
    we_api_message_set_error (up->msg, error, request_id);
    g_error_free (error);
    unpause_msg (up);
    g_object_unref (up->msg);
    return;
  }
  up->authorized = TRUE;
  content_type = soup_message_headers_get_one (soup_server_message_get_request_headers (up->msg),
                                               "Content-Type");
  if (content_type != NULL &&
      g_ascii_strncasecmp (content_type, "multipart/", strlen ("multipart/")) == 0) {
    up->multipart = we_multipart_new (content_type, &multipart_callbacks, up, &error);
    if (up->multipart == NULL) {
      we_api_message_set_error (up->msg, error, request_id);
      g_error_free (error);
      unpause_msg (up);
      g_object_unref (up->msg);
      return;
    }
  } else {
    /* a raw body: name and target come from the query */
    GUri *uri = soup_server_message_get_uri (up->msg);
    const gchar *query = g_uri_get_query (uri);
    if (query != NULL) {
      g_autoptr(GHashTable) form = soup_form_decode (query);
      const gchar *v;
      if ((v = g_hash_table_lookup (form, "filename")) != NULL)
        up->filename = g_strdup (v);
      if ((v = g_hash_table_lookup (form, "object_key")) != NULL)
        g_hash_table_replace (up->fields, g_strdup ("object_key"), g_strdup (v));
      if ((v = g_hash_table_lookup (form, "plugin_id")) != NULL)
        g_hash_table_replace (up->fields, g_strdup ("plugin_id"), g_strdup (v));
    }
    up->file_seen = TRUE;
    up->need_open = TRUE;
  }
  up->paused = TRUE; /* still paused from the early handler */
  pump (up);
  g_object_unref (up->msg);
}

void
we_api_upload_early (WeApiServer *server, SoupServerMessage *msg)
{
  Upload *up = g_new0 (Upload, 1);
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (msg);
  const WeApiContext *ctx = we_api_server_get_context (server);

  up->server = server;
  up->msg = msg;
  up->pending = g_byte_array_new ();
  up->fields = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  up->field_value = g_string_new (NULL);
  up->max_bytes = we_config_get_max_upload (ctx->config);
  we_api_message_set_upload (msg, up, (GDestroyNotify) upload_free);
  soup_message_body_set_accumulate (soup_server_message_get_request_body (msg), FALSE);

  if (soup_message_headers_get_encoding (headers) == SOUP_ENCODING_CONTENT_LENGTH &&
      (guint64) soup_message_headers_get_content_length (headers) > up->max_bytes) {
    g_autoptr(GError) error = g_error_new (WE_ERROR, WE_ERROR_SYS_PAYLOAD_TOO_LARGE,
                                           "uploads are limited to %" G_GUINT64_FORMAT " bytes",
                                           up->max_bytes);
    we_api_message_set_error (msg, error, we_api_message_get_request_id (msg));
    return;
  }
  g_signal_connect (msg, "got-chunk", G_CALLBACK (on_got_chunk), up);
  soup_server_message_pause (msg);
  up->paused = TRUE;
  we_api_server_authenticate_async (server, msg, we_api_message_get_cancellable (msg),
                                    authenticated_cb, up);
  g_object_ref (msg);
}

void
we_api_files_upload (WeApiRequest *request)
{
  Upload *up = we_api_message_get_upload (request->msg);

  if (up == NULL) {
    g_autoptr(GError) error = g_error_new_literal (WE_ERROR, WE_ERROR_SYS_INTERNAL,
                                                   "upload state missing");
    we_api_request_respond_error (request, error);
    return;
  }
  /* the request was paused by the server; our own pause bookkeeping starts clean */
  up->paused = FALSE;
  up->request = request;
  if (up->identity != NULL && request->identity == NULL)
    request->identity = we_identity_copy (up->identity);
  pump (up);
}
