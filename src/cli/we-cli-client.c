/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "we-cli-client.h"

#include <glib/gi18n.h>
#include <libsoup/soup.h>

G_DEFINE_QUARK (we-cli-error-quark, we_cli_error)

/* An error body is an envelope of a few hundred bytes; anything bigger is not one. */
#define WE_CLI_ERROR_BODY_MAX 65536

struct _WeCliClient {
  GObject      parent_instance;
  SoupSession *session;
  gchar       *base_url;  /* without a trailing '/' */
  gchar       *authorization;
};

G_DEFINE_TYPE (WeCliClient, we_cli_client, G_TYPE_OBJECT)

static void
we_cli_client_finalize (GObject *object)
{
  WeCliClient *self = WE_CLI_CLIENT (object);

  g_clear_object (&self->session);
  g_free (self->base_url);
  g_free (self->authorization);
  G_OBJECT_CLASS (we_cli_client_parent_class)->finalize (object);
}

static void
we_cli_client_class_init (WeCliClientClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = we_cli_client_finalize;
}

static void
we_cli_client_init (WeCliClient *self)
{
  g_autofree gchar *ua = g_strdup_printf ("webencode-cli/%s", PACKAGE_VERSION);

  /* the I/O timeout only fires when the peer goes silent, so long uploads
   * and downloads are fine; a hung service is not waited for forever */
  self->session = soup_session_new_with_options ("user-agent", ua,
                                                 "timeout", 120,
                                                 NULL);
}

WeCliClient *
we_cli_client_new (const gchar *base_url, const gchar *user, const gchar *password,
                   GError **error)
{
  g_autoptr(WeCliClient) self = g_object_new (WE_TYPE_CLI_CLIENT, NULL);
  g_autoptr(GUri) uri = NULL;
  g_autoptr(GError) local = NULL;
  const gchar *scheme;
  gsize len;

  uri = g_uri_parse (base_url, G_URI_FLAGS_NONE, &local);
  if (uri == NULL) {
    g_set_error (error, WE_CLI_ERROR, WE_CLI_ERROR_USAGE,
                 _("invalid service URL %s: %s"), base_url, local->message);
    return NULL;
  }
  scheme = g_uri_get_scheme (uri);
  if (g_ascii_strcasecmp (scheme, "http") != 0 && g_ascii_strcasecmp (scheme, "https") != 0) {
    g_set_error (error, WE_CLI_ERROR, WE_CLI_ERROR_USAGE,
                 _("invalid service URL %s: only http:// and https:// are supported"), base_url);
    return NULL;
  }
  if (g_uri_get_query (uri) != NULL || g_uri_get_fragment (uri) != NULL) {
    g_set_error (error, WE_CLI_ERROR, WE_CLI_ERROR_USAGE,
                 _("invalid service URL %s: it may not carry a query or fragment"), base_url);
    return NULL;
  }

  self->base_url = g_strdup (base_url);
  len = strlen (self->base_url);
  while (len > 0 && self->base_url[len - 1] == '/')
    self->base_url[--len] = '\0';

  if (user != NULL && *user != '\0') {
    g_autofree gchar *pair = g_strdup_printf ("%s:%s", user, password ? password : "");
    g_autofree gchar *b64 = g_base64_encode ((const guchar *) pair, strlen (pair));
    self->authorization = g_strdup_printf ("Basic %s", b64);
  }
  return g_steal_pointer (&self);
}

const gchar *
we_cli_client_get_base_url (WeCliClient *self)
{
  g_return_val_if_fail (WE_IS_CLI_CLIENT (self), NULL);
  return self->base_url;
}

static SoupMessage *
we_cli_client_new_message (WeCliClient *self, const gchar *method, const gchar *path,
                           GError **error)
{
  g_autofree gchar *url = g_strconcat (self->base_url, path, NULL);
  g_autoptr(GUri) uri = g_uri_parse (url, SOUP_HTTP_URI_FLAGS, NULL);
  SoupMessage *msg;

  if (uri == NULL) {
    g_set_error (error, WE_CLI_ERROR, WE_CLI_ERROR_USAGE, _("invalid request URL %s"), url);
    return NULL;
  }
  msg = soup_message_new_from_uri (method, uri);
  soup_message_headers_replace (soup_message_get_request_headers (msg), "Accept",
                                "application/json");
  /* sent up front rather than after a 401, so a streamed upload body is
   * never needed twice */
  if (self->authorization != NULL)
    soup_message_headers_replace (soup_message_get_request_headers (msg), "Authorization",
                                  self->authorization);
  return msg;
}

/* A failure below HTTP: nothing the service said, so no envelope to show. */
static GError *
we_cli_client_transport_error (WeCliClient *self, GError *error)
{
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return g_error_copy (error);
  return g_error_new (WE_CLI_ERROR, WE_CLI_ERROR_CONNECT, _("cannot reach webencoded at %s: %s"),
                      self->base_url, error->message);
}

static const gchar *
json_object_peek_string (JsonObject *obj, const gchar *name)
{
  JsonNode *node = json_object_get_member (obj, name);

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) ||
      json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (node);
}

/* The spec §11 envelope, or the bare status line when the body is something
 * else (a proxy's HTML page, an empty body, garbage). */
static GError *
we_cli_client_error_from_response (SoupMessage *msg, GBytes *body)
{
  guint status = soup_message_get_status (msg);
  const gchar *reason = soup_message_get_reason_phrase (msg);
  g_autoptr(JsonParser) parser = json_parser_new ();
  gconstpointer data;
  gsize size = 0;
  JsonNode *root;
  JsonNode *err_node;

  data = body != NULL ? g_bytes_get_data (body, &size) : NULL;
  if (size > 0 && size <= WE_CLI_ERROR_BODY_MAX &&
      json_parser_load_from_data (parser, data, (gssize) size, NULL) &&
      (root = json_parser_get_root (parser)) != NULL && JSON_NODE_HOLDS_OBJECT (root) &&
      (err_node = json_object_get_member (json_node_get_object (root), "error")) != NULL &&
      JSON_NODE_HOLDS_OBJECT (err_node)) {
    JsonObject *err = json_node_get_object (err_node);
    const gchar *code = json_object_peek_string (err, "code");
    const gchar *message = json_object_peek_string (err, "message");
    const gchar *details = json_object_peek_string (err, "details");
    g_autoptr(GString) str = g_string_new (code ? code : "HTTP");

    if (code == NULL)
      g_string_append_printf (str, " %u", status);
    g_string_append_printf (str, ": %s", message ? message : reason ? reason : "error");
    if (details != NULL && *details != '\0')
      g_string_append_printf (str, ": %s", details);
    return g_error_new_literal (WE_CLI_ERROR, WE_CLI_ERROR_API, str->str);
  }
  return g_error_new (WE_CLI_ERROR, WE_CLI_ERROR_API, "HTTP %u: %s", status,
                      reason && *reason ? reason : soup_status_get_phrase (status));
}

static JsonNode *
we_cli_client_parse_response (SoupMessage *msg, GBytes *body, GError **error)
{
  guint status = soup_message_get_status (msg);
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) local = NULL;
  gconstpointer data;
  gsize size = 0;

  if (!SOUP_STATUS_IS_SUCCESSFUL (status)) {
    g_propagate_error (error, we_cli_client_error_from_response (msg, body));
    return NULL;
  }
  data = g_bytes_get_data (body, &size);
  if (size == 0)
    return json_node_new (JSON_NODE_NULL);
  if (size > G_MAXSSIZE ||
      !json_parser_load_from_data (parser, data, (gssize) size, &local)) {
    g_set_error (error, WE_CLI_ERROR, WE_CLI_ERROR_PROTOCOL,
                 _("the service sent an invalid JSON response (HTTP %u): %s"), status,
                 local ? local->message : "too large");
    return NULL;
  }
  if (json_parser_get_root (parser) == NULL)
    return json_node_new (JSON_NODE_NULL);
  return json_node_copy (json_parser_get_root (parser));
}

/* What a request task returns: the parsed body and the bytes it came from,
 * which --json prints untouched. */
typedef struct {
  JsonNode *node;
  GBytes   *raw;
} Response;

static void
response_free (Response *resp)
{
  json_node_unref (resp->node);
  g_bytes_unref (resp->raw);
  g_free (resp);
}

static void
task_return_response (GTask *task, JsonNode *node, GBytes *raw)
{
  Response *resp = g_new0 (Response, 1);

  resp->node = node;
  resp->raw = g_bytes_ref (raw);
  g_task_return_pointer (task, resp, (GDestroyNotify) response_free);
}

static JsonNode *
task_propagate_response (GTask *task, GBytes **raw, GError **error)
{
  Response *resp = g_task_propagate_pointer (task, error);
  JsonNode *node;

  if (resp == NULL)
    return NULL;
  node = g_steal_pointer (&resp->node);
  if (raw != NULL)
    *raw = g_steal_pointer (&resp->raw);
  g_clear_pointer (&resp->raw, g_bytes_unref);
  g_free (resp);
  return node;
}

static void
we_cli_client_request_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(GTask) task = G_TASK (user_data);
  WeCliClient *self = g_task_get_source_object (task);
  SoupMessage *msg = g_task_get_task_data (task);
  g_autoptr(GBytes) body = NULL;
  g_autoptr(GError) error = NULL;
  JsonNode *node;

  body = soup_session_send_and_read_finish (SOUP_SESSION (source), res, &error);
  if (body == NULL) {
    g_task_return_error (task, we_cli_client_transport_error (self, error));
    return;
  }
  node = we_cli_client_parse_response (msg, body, &error);
  if (node == NULL) {
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }
  task_return_response (task, node, body);
}

void
we_cli_client_request_async (WeCliClient *self, const gchar *method, const gchar *path,
                             JsonNode *body, GCancellable *cancellable,
                             GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(SoupMessage) msg = NULL;
  g_autoptr(GError) error = NULL;

  g_return_if_fail (WE_IS_CLI_CLIENT (self));
  g_return_if_fail (method != NULL && path != NULL);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, we_cli_client_request_async);

  msg = we_cli_client_new_message (self, method, path, &error);
  if (msg == NULL) {
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }
  if (body != NULL) {
    g_autofree gchar *text = json_to_string (body, FALSE);
    gsize length = strlen (text);
    g_autoptr(GBytes) bytes = g_bytes_new_take (g_steal_pointer (&text), length);
    soup_message_set_request_body_from_bytes (msg, "application/json", bytes);
  }
  g_task_set_task_data (task, g_object_ref (msg), g_object_unref);
  soup_session_send_and_read_async (self->session, msg, G_PRIORITY_DEFAULT, cancellable,
                                    we_cli_client_request_cb, g_steal_pointer (&task));
}

JsonNode *
we_cli_client_request_finish (WeCliClient *self, GAsyncResult *res, GBytes **raw,
                              GError **error)
{
  g_return_val_if_fail (g_task_is_valid (res, self), NULL);
  return task_propagate_response (G_TASK (res), raw, error);
}

/* ---- fetch ----------------------------------------------------------- */

/* A fetched body is an SVG or a log: bounded, so a runaway answer cannot
 * fill the memory of a command-line tool. */
#define WE_CLI_FETCH_MAX (64 * 1024 * 1024)

typedef struct {
  GBytes *body;
  gchar  *content_type;
} FetchResult;

static void
fetch_result_free (FetchResult *r)
{
  g_clear_pointer (&r->body, g_bytes_unref);
  g_free (r->content_type);
  g_free (r);
}

static void
we_cli_client_fetch_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(GTask) task = G_TASK (user_data);
  WeCliClient *self = g_task_get_source_object (task);
  SoupMessage *msg = g_task_get_task_data (task);
  g_autoptr(GBytes) body = NULL;
  g_autoptr(GError) error = NULL;
  FetchResult *r;

  body = soup_session_send_and_read_finish (SOUP_SESSION (source), res, &error);
  if (body == NULL) {
    g_task_return_error (task, we_cli_client_transport_error (self, error));
    return;
  }
  if (!SOUP_STATUS_IS_SUCCESSFUL (soup_message_get_status (msg))) {
    g_task_return_error (task, we_cli_client_error_from_response (msg, body));
    return;
  }
  if (g_bytes_get_size (body) > WE_CLI_FETCH_MAX) {
    g_task_return_new_error (task, WE_CLI_ERROR, WE_CLI_ERROR_PROTOCOL,
                             _("the service sent an answer too large to show"));
    return;
  }
  r = g_new0 (FetchResult, 1);
  r->body = g_steal_pointer (&body);
  r->content_type = g_strdup (soup_message_headers_get_content_type (
      soup_message_get_response_headers (msg), NULL));
  g_task_return_pointer (task, r, (GDestroyNotify) fetch_result_free);
}

void
we_cli_client_fetch_async (WeCliClient *self, const gchar *path, GCancellable *cancellable,
                           GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(SoupMessage) msg = NULL;
  g_autoptr(GError) error = NULL;

  g_return_if_fail (WE_IS_CLI_CLIENT (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, we_cli_client_fetch_async);
  msg = we_cli_client_new_message (self, "GET", path, &error);
  if (msg == NULL) {
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }
  /* the body is whatever the resource is; errors still come as JSON */
  soup_message_headers_remove (soup_message_get_request_headers (msg), "Accept");
  g_task_set_task_data (task, g_object_ref (msg), g_object_unref);
  soup_session_send_and_read_async (self->session, msg, G_PRIORITY_DEFAULT, cancellable,
                                    we_cli_client_fetch_cb, g_steal_pointer (&task));
}

GBytes *
we_cli_client_fetch_finish (WeCliClient *self, GAsyncResult *res, gchar **content_type,
                            GError **error)
{
  FetchResult *r;
  GBytes *body;

  g_return_val_if_fail (g_task_is_valid (res, self), NULL);
  r = g_task_propagate_pointer (G_TASK (res), error);
  if (r == NULL)
    return NULL;
  body = g_steal_pointer (&r->body);
  if (content_type != NULL)
    *content_type = g_steal_pointer (&r->content_type);
  fetch_result_free (r);
  return body;
}

/* ---- upload ---------------------------------------------------------- */

typedef struct {
  GFile             *file;
  SoupMessage       *msg;
  guint64            size;
  guint64            sent;
  WeCliTransferFunc  progress;
  gpointer           progress_data;
} UploadData;

static void
upload_data_free (UploadData *data)
{
  g_clear_object (&data->file);
  if (data->msg != NULL)
    g_signal_handlers_disconnect_by_data (data->msg, data);
  g_clear_object (&data->msg);
  g_free (data);
}

static void
upload_wrote_body_data_cb (SoupMessage *msg, guint chunk_size, gpointer user_data)
{
  UploadData *data = user_data;

  data->sent += chunk_size;
  if (data->progress != NULL)
    data->progress (data->sent, data->size, data->progress_data);
}

static void
upload_sent_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(GTask) task = G_TASK (user_data);
  WeCliClient *self = g_task_get_source_object (task);
  UploadData *data = g_task_get_task_data (task);
  g_autoptr(GBytes) body = NULL;
  g_autoptr(GError) error = NULL;
  JsonNode *node;

  body = soup_session_send_and_read_finish (SOUP_SESSION (source), res, &error);
  if (body == NULL) {
    /* a service that refuses the upload early (413, 401) may close the
     * connection while we still write; its answer is then lost with it */
    g_task_return_error (task, we_cli_client_transport_error (self, error));
    return;
  }
  node = we_cli_client_parse_response (data->msg, body, &error);
  if (node == NULL) {
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }
  task_return_response (task, node, body);
}

static void
upload_opened_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(GTask) task = G_TASK (user_data);
  /* read before the task is handed on: arguments are evaluated in any order */
  GCancellable *cancellable = g_task_get_cancellable (task);
  WeCliClient *self = g_task_get_source_object (task);
  UploadData *data = g_task_get_task_data (task);
  g_autoptr(GFileInputStream) stream = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *basename = NULL;
  g_autofree gchar *escaped = NULL;
  g_autofree gchar *path = NULL;

  stream = g_file_read_finish (G_FILE (source), res, &error);
  if (stream == NULL) {
    g_task_return_new_error (task, WE_CLI_ERROR, WE_CLI_ERROR_LOCAL, "%s", error->message);
    return;
  }

  basename = g_file_get_basename (data->file);
  escaped = g_uri_escape_string (basename, NULL, FALSE);
  path = g_strdup_printf ("/v1/files/upload?filename=%s", escaped);
  data->msg = we_cli_client_new_message (self, "POST", path, &error);
  if (data->msg == NULL) {
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }
  /* a known length, so the body streams straight from the file; asking for
   * 100-continue lets the service refuse (auth, size) before we send it all */
  soup_message_set_request_body (data->msg, "application/octet-stream", G_INPUT_STREAM (stream),
                                 (gssize) data->size);
  soup_message_headers_set_expectations (soup_message_get_request_headers (data->msg),
                                         SOUP_EXPECTATION_CONTINUE);
  g_signal_connect (data->msg, "wrote-body-data", G_CALLBACK (upload_wrote_body_data_cb), data);
  soup_session_send_and_read_async (self->session, data->msg, G_PRIORITY_DEFAULT,
                                    cancellable, upload_sent_cb,
                                    g_steal_pointer (&task));
}

static void
upload_info_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(GTask) task = G_TASK (user_data);
  /* read before the task is handed on: arguments are evaluated in any order */
  GCancellable *cancellable = g_task_get_cancellable (task);
  UploadData *data = g_task_get_task_data (task);
  g_autoptr(GFileInfo) info = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *name = g_file_get_parse_name (data->file);
  goffset size;

  info = g_file_query_info_finish (G_FILE (source), res, &error);
  if (info == NULL) {
    g_task_return_new_error (task, WE_CLI_ERROR, WE_CLI_ERROR_LOCAL, "%s", error->message);
    return;
  }
  if (g_file_info_get_file_type (info) != G_FILE_TYPE_REGULAR) {
    g_task_return_new_error (task, WE_CLI_ERROR, WE_CLI_ERROR_LOCAL,
                             _("%s: not a regular file"), name);
    return;
  }
  size = g_file_info_get_size (info);
  if (size < 0 || (guint64) size > G_MAXSSIZE) {
    g_task_return_new_error (task, WE_CLI_ERROR, WE_CLI_ERROR_LOCAL,
                             _("%s: size unknown"), name);
    return;
  }
  data->size = (guint64) size;
  g_file_read_async (data->file, G_PRIORITY_DEFAULT, cancellable,
                     upload_opened_cb, g_steal_pointer (&task));
}

void
we_cli_client_upload_async (WeCliClient *self, GFile *file, WeCliTransferFunc progress,
                            gpointer progress_data, GCancellable *cancellable,
                            GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr(GTask) task = NULL;
  UploadData *data;

  g_return_if_fail (WE_IS_CLI_CLIENT (self));
  g_return_if_fail (G_IS_FILE (file));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, we_cli_client_upload_async);
  data = g_new0 (UploadData, 1);
  data->file = g_object_ref (file);
  data->progress = progress;
  data->progress_data = progress_data;
  g_task_set_task_data (task, data, (GDestroyNotify) upload_data_free);
  g_file_query_info_async (file,
                           G_FILE_ATTRIBUTE_STANDARD_TYPE "," G_FILE_ATTRIBUTE_STANDARD_SIZE,
                           G_FILE_QUERY_INFO_NONE, G_PRIORITY_DEFAULT, cancellable,
                           upload_info_cb, g_steal_pointer (&task));
}

JsonNode *
we_cli_client_upload_finish (WeCliClient *self, GAsyncResult *res, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (res, self), NULL);
  return task_propagate_response (G_TASK (res), NULL, error);
}

/* ---- download -------------------------------------------------------- */

typedef struct {
  SoupMessage       *msg;
  GFile             *dest;
  GFile             *part;  /* written first, renamed over @dest when complete */
  GInputStream      *in;
  GOutputStream     *out;
  guint64            total;
  gint64             written;
  guint              timer_id;
  WeCliTransferFunc  progress;
  gpointer           progress_data;
} DownloadData;

static void
download_data_free (DownloadData *data)
{
  g_clear_handle_id (&data->timer_id, g_source_remove);
  g_clear_object (&data->msg);
  g_clear_object (&data->dest);
  g_clear_object (&data->part);
  g_clear_object (&data->in);
  g_clear_object (&data->out);
  g_free (data);
}

/* Leaves no half-written file behind; whatever deleting says is not news. */
static void
download_fail (GTask *task, GError *error)
{
  DownloadData *data = g_task_get_task_data (task);

  g_clear_handle_id (&data->timer_id, g_source_remove);
  g_file_delete_async (data->part, G_PRIORITY_DEFAULT, NULL, NULL, NULL);
  g_task_return_error (task, error);
}

static void
download_moved_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(GTask) task = G_TASK (user_data);
  DownloadData *data = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;

  if (!g_file_move_finish (G_FILE (source), res, &error)) {
    download_fail (task, g_error_new (WE_CLI_ERROR, WE_CLI_ERROR_LOCAL, "%s", error->message));
    return;
  }
  g_task_return_int (task, data->written);
}

static gboolean
download_tick_cb (gpointer user_data)
{
  DownloadData *data = user_data;
  goffset pos = g_seekable_tell (G_SEEKABLE (data->out));

  if (data->progress != NULL && pos >= 0)
    data->progress ((guint64) pos, data->total, data->progress_data);
  return G_SOURCE_CONTINUE;
}

static void
download_spliced_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(GTask) task = G_TASK (user_data);
  /* read before the task is handed on: arguments are evaluated in any order */
  GCancellable *cancellable = g_task_get_cancellable (task);
  DownloadData *data = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  gssize written;

  g_clear_handle_id (&data->timer_id, g_source_remove);
  written = g_output_stream_splice_finish (G_OUTPUT_STREAM (source), res, &error);
  if (written < 0) {
    /* the read side (the connection) or the write side (the disk) failed */
    download_fail (task, g_steal_pointer (&error));
    return;
  }
  if (data->total > 0 && (guint64) written != data->total) {
    download_fail (task, g_error_new (WE_CLI_ERROR, WE_CLI_ERROR_PROTOCOL,
                                      _("download truncated: %" G_GSSIZE_FORMAT " of %"
                                        G_GUINT64_FORMAT " bytes"), written, data->total));
    return;
  }
  data->written = written;
  if (data->progress != NULL)
    data->progress ((guint64) written, data->total, data->progress_data);
  g_file_move_async (data->part, data->dest, G_FILE_COPY_OVERWRITE, G_PRIORITY_DEFAULT,
                     cancellable, NULL, NULL,
                     download_moved_cb, g_steal_pointer (&task));
}

static void
download_created_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(GTask) task = G_TASK (user_data);
  /* read before the task is handed on: arguments are evaluated in any order */
  GCancellable *cancellable = g_task_get_cancellable (task);
  DownloadData *data = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  GFileOutputStream *out;

  out = g_file_replace_finish (G_FILE (source), res, &error);
  if (out == NULL) {
    g_task_return_new_error (task, WE_CLI_ERROR, WE_CLI_ERROR_LOCAL, "%s", error->message);
    return;
  }
  data->out = G_OUTPUT_STREAM (out);
  if (data->progress != NULL)
    data->timer_id = g_timeout_add (250, download_tick_cb, data);
  g_output_stream_splice_async (data->out, data->in,
                                G_OUTPUT_STREAM_SPLICE_CLOSE_SOURCE |
                                G_OUTPUT_STREAM_SPLICE_CLOSE_TARGET,
                                G_PRIORITY_DEFAULT, cancellable,
                                download_spliced_cb, g_steal_pointer (&task));
}

static void
download_error_body_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(GTask) task = G_TASK (user_data);
  DownloadData *data = g_task_get_task_data (task);
  g_autoptr(GBytes) body = g_input_stream_read_bytes_finish (G_INPUT_STREAM (source), res, NULL);

  g_task_return_error (task, we_cli_client_error_from_response (data->msg, body));
}

static void
download_sent_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(GTask) task = G_TASK (user_data);
  /* read before the task is handed on: arguments are evaluated in any order */
  GCancellable *cancellable = g_task_get_cancellable (task);
  WeCliClient *self = g_task_get_source_object (task);
  DownloadData *data = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;

  data->in = soup_session_send_finish (SOUP_SESSION (source), res, &error);
  if (data->in == NULL) {
    g_task_return_error (task, we_cli_client_transport_error (self, error));
    return;
  }
  if (!SOUP_STATUS_IS_SUCCESSFUL (soup_message_get_status (data->msg))) {
    /* an error body is small: one read is enough to get the envelope */
    g_input_stream_read_bytes_async (data->in, WE_CLI_ERROR_BODY_MAX, G_PRIORITY_DEFAULT,
                                     cancellable, download_error_body_cb,
                                     g_steal_pointer (&task));
    return;
  }
  {
    goffset len = soup_message_headers_get_content_length (
        soup_message_get_response_headers (data->msg));
    data->total = len > 0 ? (guint64) len : 0;
  }
  g_file_replace_async (data->part, NULL, FALSE, G_FILE_CREATE_REPLACE_DESTINATION,
                        G_PRIORITY_DEFAULT, cancellable,
                        download_created_cb, g_steal_pointer (&task));
}

void
we_cli_client_download_async (WeCliClient *self, const gchar *path, GFile *dest,
                              WeCliTransferFunc progress, gpointer progress_data,
                              GCancellable *cancellable, GAsyncReadyCallback callback,
                              gpointer user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *part_path = NULL;
  g_autofree gchar *dest_path = NULL;
  DownloadData *data;

  g_return_if_fail (WE_IS_CLI_CLIENT (self));
  g_return_if_fail (G_IS_FILE (dest));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, we_cli_client_download_async);
  data = g_new0 (DownloadData, 1);
  data->dest = g_object_ref (dest);
  dest_path = g_file_get_path (dest);
  part_path = g_strconcat (dest_path, ".part", NULL);
  data->part = g_file_new_for_path (part_path);
  data->progress = progress;
  data->progress_data = progress_data;
  g_task_set_task_data (task, data, (GDestroyNotify) download_data_free);

  data->msg = we_cli_client_new_message (self, "GET", path, &error);
  if (data->msg == NULL) {
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }
  /* the body is media, not JSON */
  soup_message_headers_remove (soup_message_get_request_headers (data->msg), "Accept");
  soup_session_send_async (self->session, data->msg, G_PRIORITY_DEFAULT, cancellable,
                           download_sent_cb, g_steal_pointer (&task));
}

gint64
we_cli_client_download_finish (WeCliClient *self, GAsyncResult *res, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (res, self), -1);
  return g_task_propagate_int (G_TASK (res), error);
}
