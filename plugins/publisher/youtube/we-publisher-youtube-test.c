/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * publisher-youtube, loaded through the plugin host beside storage-fs and a
 * file secrets backend, against tests/publisher/fake_youtube.py. That fake
 * is the one this suite allows: YouTube's API and Google's token endpoint
 * cannot be reached from the build machines, and nothing that implements
 * them can be run here. It checks the resumable protocol strictly (chunk
 * offsets, 256 KiB granules, tokens) and injects the faults: a connection
 * dropped in the middle of a chunk, a 503, an access token that expires.
 */
#include "config.h"

#include <glib/gstdio.h>
#include <libsoup/soup.h>
#include <string.h>

#include "plugin/we-plugin-host.h"
#include "secrets/we-secrets-file.h"

#define CLIENT_ID      "1234-webencode.apps.googleusercontent.com"
#define CLIENT_SECRET  "GOCSPX-not-a-real-client-secret"
#define REFRESH_TOKEN  "1//0g-the-channels-refresh-token"
#define WRONG_REFRESH  "1//0g-a-revoked-refresh-token"
#define LIVE_KEY       "abcd-efgh-ijkl-mnop-qrst"
#define GRANULE        (256 * 1024)
#define VIDEO_SIZE     (3 * 1000 * 1000)   /* 11 full chunks and a short one */

/* ---- the fake server and everything logged, one for the whole run ---- */

static struct {
  GSubprocess *proc;
  gchar       *base;         /* http://127.0.0.1:port */
  gchar       *dir;          /* secrets, storage root, credentials */
  SoupSession *session;
} server;

static GMutex  log_lock;
static GString *log_text;

/* Keeps every log line (debug ones too) to search for secrets afterwards. */
static GLogWriterOutput
capture_writer (GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer data)
{
  g_mutex_lock (&log_lock);
  for (gsize i = 0; i < n_fields; i++) {
    if (g_strcmp0 (fields[i].key, "MESSAGE") == 0 || g_strcmp0 (fields[i].key, "GLIB_DOMAIN") == 0) {
      if (fields[i].length < 0)
        g_string_append (log_text, fields[i].value);
      else
        g_string_append_len (log_text, fields[i].value, fields[i].length);
      g_string_append_c (log_text, ' ');
    }
  }
  g_string_append_c (log_text, '\n');
  g_mutex_unlock (&log_lock);
  return g_log_writer_default (level, fields, n_fields, data);
}

static void
start_server (void)
{
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GDataInputStream) out = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *line = NULL;
  g_autofree gchar *creds = NULL;

  server.dir = g_dir_make_tmp ("we-yt-test-XXXXXX", &error);
  g_assert_no_error (error);
  creds = g_build_filename (server.dir, "credentials", NULL);
  g_file_set_contents (creds, CLIENT_ID "\n" CLIENT_SECRET "\n" REFRESH_TOKEN "\n", -1, &error);
  g_assert_no_error (error);

  /* stdin is a pipe we hold: the server exits when we do, even on a crash */
  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDIN_PIPE |
                                        G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  server.proc = g_subprocess_launcher_spawn (launcher, &error, "python3", WE_FAKE_YOUTUBE,
                                             "--port", "0", "--credentials", creds, NULL);
  g_assert_no_error (error);
  out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (server.proc));
  line = g_data_input_stream_read_line_utf8 (out, NULL, NULL, &error);
  g_assert_no_error (error);
  if (line == NULL || !g_str_has_prefix (line, "ready "))
    g_error ("fake_youtube.py did not start (said: %s)", line ? line : "nothing");
  server.base = g_strdup_printf ("http://127.0.0.1:%s", line + strlen ("ready "));
  server.session = soup_session_new ();
}

static void
rm_rf (const gchar *path)
{
  GStatBuf st;

  if (g_lstat (path, &st) < 0)
    return;
  if (S_ISDIR (st.st_mode)) {
    g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
    const gchar *name;
    while (dir != NULL && (name = g_dir_read_name (dir)) != NULL) {
      g_autofree gchar *child = g_build_filename (path, name, NULL);
      rm_rf (child);
    }
    g_rmdir (path);
  } else {
    g_unlink (path);
  }
}

static void
stop_server (void)
{
  g_output_stream_close (g_subprocess_get_stdin_pipe (server.proc), NULL, NULL);
  g_subprocess_wait (server.proc, NULL, NULL);
  g_clear_object (&server.proc);
  g_clear_object (&server.session);
  rm_rf (server.dir);
  g_clear_pointer (&server.dir, g_free);
  g_clear_pointer (&server.base, g_free);
}

static JsonObject *
fake_request (const gchar *method, const gchar *path, const gchar *json)
{
  g_autofree gchar *url = g_strconcat (server.base, path, NULL);
  g_autoptr(SoupMessage) msg = soup_message_new (method, url);
  g_autoptr(GBytes) answer = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;

  if (json != NULL) {
    g_autoptr(GBytes) body = g_bytes_new (json, strlen (json));
    soup_message_set_request_body_from_bytes (msg, "application/json", body);
  }
  answer = soup_session_send_and_read (server.session, msg, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (soup_message_get_status (msg), ==, 200);
  json_parser_load_from_data (parser, g_bytes_get_data (answer, NULL),
                              (gssize) g_bytes_get_size (answer), &error);
  g_assert_no_error (error);
  return json_object_ref (json_node_get_object (json_parser_get_root (parser)));
}

static void
control (const gchar *json)
{
  g_autoptr(JsonObject) ignored = fake_request ("POST", "/_control", json);
}

static JsonObject *
fake_state (void)
{
  return fake_request ("GET", "/_state", NULL);
}

/* ---- the plugins ---- */

typedef struct {
  gchar        *root;
  JsonObject   *config;       /* publisher-youtube's */
  WePluginHost *host;
  WeStorage    *storage;
  WePublisher  *publisher;
} Fixture;

static JsonObject *
config_func (const gchar *plugin_id, gpointer user_data)
{
  Fixture *fx = user_data;

  if (g_strcmp0 (plugin_id, "storage-fs") == 0) {
    JsonObject *config = json_object_new ();
    json_object_set_string_member (config, "root", fx->root);
    return config;
  }
  return json_object_ref (fx->config);
}

static WePluginInfo *
load (Fixture *fx, gboolean with_secrets)
{
  const gchar *plugin_dir = g_getenv ("WE_PLUGIN_DIR");
  g_autofree gchar *fs = NULL;
  g_autofree gchar *yt = NULL;

  g_assert_nonnull (plugin_dir);
  fs = g_build_filename (plugin_dir, "storage", "fs", "we-storage-fs.plugin", NULL);
  yt = g_build_filename (plugin_dir, "publisher", "youtube", "we-publisher-youtube.plugin", NULL);
  g_clear_object (&fx->host);
  fx->host = we_plugin_host_new ();
  we_plugin_host_set_config_func (fx->host, config_func, fx, NULL);
  if (with_secrets) {
    g_autofree gchar *dir = g_build_filename (server.dir, "secrets", NULL);
    g_autoptr(WeSecretsFile) secrets = we_secrets_file_new (dir);
    we_plugin_host_set_secrets (fx->host, WE_SECRETS (secrets));
  }
  g_assert_true (we_plugin_host_load_manifest (fx->host, fs, NULL));
  we_plugin_host_load_manifest (fx->host, yt, NULL);
  fx->storage = (WeStorage *) we_plugin_host_get_instance (fx->host, "storage-fs");
  fx->publisher = (WePublisher *) we_plugin_host_get_instance (fx->host, "publisher-youtube");
  return we_plugin_host_get_plugin (fx->host, "publisher-youtube");
}

static void
server_config (Fixture *fx)
{
  g_autofree gchar *token_url = g_strconcat (server.base, "/token", NULL);

  json_object_set_string_member (fx->config, "client_id", CLIENT_ID);
  json_object_set_string_member (fx->config, "client_secret_ref", "file:yt/client-secret");
  json_object_set_string_member (fx->config, "refresh_token_ref", "file:yt/refresh-token");
  json_object_set_string_member (fx->config, "oauth_token_url", token_url);
  json_object_set_string_member (fx->config, "api_base_url", server.base);
  json_object_set_string_member (fx->config, "upload_base_url", server.base);
  json_object_set_int_member (fx->config, "chunk_size_kb", 256);
  /* fast retries: the backoff itself is not what is under test */
  json_object_set_int_member (fx->config, "retry_base_ms", 10);
}

static void
fixture_setup (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  fx->root = g_build_filename (server.dir, "storage", NULL);
  g_mkdir_with_parents (fx->root, 0700);
  fx->config = json_object_new ();
  control ("{\"reset\": true}");
  if (g_strcmp0 (data, "server") == 0) {
    WePluginInfo *info;

    server_config (fx);
    info = load (fx, TRUE);
    if (info->state != WE_PLUGIN_STATE_HEALTHY)
      g_error ("publisher-youtube did not load: %s", info->error);
  }
}

static void
fixture_teardown (Fixture *fx, gconstpointer data)
{
  g_clear_object (&fx->host);
  json_object_unref (fx->config);
  g_free (fx->root);
}

/* ---- helpers ---- */

static guint8 *
pattern (gsize len, guint32 seed)
{
  g_autoptr(GRand) rand = g_rand_new_with_seed (seed);
  guint8 *data = g_malloc (len);

  for (gsize i = 0; i < len; i++)
    data[i] = (guint8) g_rand_int (rand);
  return data;
}

/* Stores @len bytes under @key through storage-fs; returns the object's URL. */
static gchar *
put_object (Fixture *fx, const gchar *key, const guint8 *data, gsize len)
{
  g_autoptr(GError) error = NULL;
  gchar *url = we_storage_make_url (fx->storage, key);
  g_autoptr(GOutputStream) out = we_storage_create (fx->storage, url, &error);

  g_assert_no_error (error);
  g_output_stream_write_all (out, data, len, NULL, NULL, &error);
  g_assert_no_error (error);
  g_output_stream_close (out, NULL, &error);
  g_assert_no_error (error);
  return url;
}

static void
got_result (GObject *source, GAsyncResult *result, gpointer user_data)
{
  *(GAsyncResult **) user_data = g_object_ref (result);
}

/* Runs the async publish on this thread's main loop until it finishes. */
static WePublishResult *
publish (Fixture *fx, const WePublishRequest *request, GCancellable *cancellable, GError **error)
{
  GAsyncResult *result = NULL;
  WePublishResult *out;

  we_publisher_publish_vod_async (fx->publisher, request, cancellable, got_result, &result);
  while (result == NULL)
    g_main_context_iteration (NULL, TRUE);
  out = we_publisher_publish_vod_finish (fx->publisher, result, error);
  g_object_unref (result);
  return out;
}

typedef struct {
  guint   calls;
  guint64 last_sent;
  guint64 total;
  gboolean off_main_thread;
  GThread *main_thread;
} Progress;

static void
on_progress (guint64 sent, guint64 total, gpointer user_data)
{
  Progress *p = user_data;

  p->calls++;
  g_assert_cmpuint (sent, >=, p->last_sent);
  p->last_sent = sent;
  p->total = total;
  p->off_main_thread = g_thread_self () != p->main_thread;
}

static const gchar *
member_str (JsonObject *o, const gchar *path)
{
  g_auto(GStrv) parts = g_strsplit (path, ".", -1);

  for (guint i = 0; parts[i + 1] != NULL; i++)
    o = json_object_get_object_member (o, parts[i]);
  return json_object_get_string_member (o, parts[g_strv_length (parts) - 1]);
}

/* The only session the fake holds. */
static JsonObject *
only_session (JsonObject *state)
{
  JsonObject *sessions = json_object_get_object_member (state, "sessions");
  g_autoptr(GList) ids = json_object_get_members (sessions);

  g_assert_cmpuint (g_list_length (ids), ==, 1);
  return json_object_get_object_member (sessions, ids->data);
}

static gint64
put_start (JsonArray *puts, guint i)
{
  JsonObject *p = json_array_get_object_element (puts, i);
  return json_object_get_int_member_with_default (p, "start", -1);
}

static void
assert_no_secrets_logged (void)
{
  g_mutex_lock (&log_lock);
  g_assert_null (strstr (log_text->str, CLIENT_SECRET));
  g_assert_null (strstr (log_text->str, REFRESH_TOKEN));
  g_assert_null (strstr (log_text->str, WRONG_REFRESH));
  g_assert_null (strstr (log_text->str, "ya29."));       /* access tokens */
  g_assert_null (strstr (log_text->str, "upload_id="));  /* session URIs */
  g_assert_null (strstr (log_text->str, LIVE_KEY));      /* stream keys */
  g_assert_null (strstr (log_text->str, "fake-"));       /* stream names YouTube made */
  g_mutex_unlock (&log_lock);
}

/* ---- cases ---- */

static void
test_unconfigured (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(WePublishResult) result = NULL;
  WePublishRequest request = { .local_object_url = "fs://a.mp4", .title = "t" };
  WePluginInfo *info = load (fx, FALSE);

  /* every install loads it: quietly healthy, clear about why it cannot publish */
  g_assert_cmpint (info->state, ==, WE_PLUGIN_STATE_HEALTHY);
  g_assert_cmpint (info->pillar, ==, WE_PILLAR_PUBLISHER);
  result = publish (fx, &request, NULL, &error);
  g_assert_null (result);
  g_assert_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG);
  g_assert_nonnull (strstr (error->message, "not configured"));
}

static void
expect_refused (Fixture *fx, gboolean with_secrets, const gchar *what)
{
  WePluginInfo *info = load (fx, with_secrets);

  g_assert_null (fx->publisher);
  g_assert_cmpint (info->state, ==, WE_PLUGIN_STATE_FAILED);
  if (strstr (info->error, what) == NULL)
    g_error ("expected '%s' in: %s", what, info->error);
}

static void
test_config (Fixture *fx, gconstpointer data)
{
  server_config (fx);
  expect_refused (fx, FALSE, "no secrets backend is configured");
  json_object_remove_member (fx->config, "refresh_token_ref");
  expect_refused (fx, TRUE, "refresh_token_ref");
  server_config (fx);
  json_object_set_string_member (fx->config, "client_id_secret_ref", "file:yt/client-id");
  expect_refused (fx, TRUE, "only one of");
  json_object_remove_member (fx->config, "client_id_secret_ref");
  json_object_set_int_member (fx->config, "chunk_size_kb", 300);
  expect_refused (fx, TRUE, "multiple of 256");
  json_object_set_int_member (fx->config, "chunk_size_kb", 512);
  json_object_set_string_member (fx->config, "upload_base_url", "ftp://example.com");
  expect_refused (fx, TRUE, "upload_base_url");
  server_config (fx);
  json_object_set_string_member (fx->config, "default_privacy", "friends");
  expect_refused (fx, TRUE, "default_privacy");
  server_config (fx);
  json_object_remove_member (fx->config, "default_privacy");
  g_assert_cmpint (load (fx, TRUE)->state, ==, WE_PLUGIN_STATE_HEALTHY);
}

static void
test_upload (Fixture *fx, gconstpointer data)
{
  g_autofree guint8 *video = pattern (VIDEO_SIZE, 7);
  g_autofree guint8 *thumb = pattern (50000, 8);
  g_autofree gchar *video_url = put_object (fx, "media/clip.mp4", video, VIDEO_SIZE);
  g_autofree gchar *thumb_url = put_object (fx, "media/thumb.png", thumb, 50000);
  g_autoptr(GBytes) video_bytes = g_bytes_new_static (video, VIDEO_SIZE);
  g_autoptr(GBytes) thumb_bytes = g_bytes_new_static (thumb, 50000);
  g_autofree gchar *video_sha = g_compute_checksum_for_bytes (G_CHECKSUM_SHA256, video_bytes);
  g_autofree gchar *thumb_sha = g_compute_checksum_for_bytes (G_CHECKSUM_SHA256, thumb_bytes);
  const gchar *tags[] = { "webencode", "test upload", "ünïcode", NULL };
  gint64 publish_at = g_get_real_time () / G_USEC_PER_SEC + 86400;
  g_autoptr(GDateTime) at = g_date_time_new_from_unix_utc (publish_at);
  g_autofree gchar *at_iso = g_date_time_format (at, "%Y-%m-%dT%H:%M:%SZ");
  Progress progress = { .main_thread = g_thread_self () };
  WePublishRequest request = {
    .local_object_url = video_url,
    .title = "A clip — uploaded in chunks",
    .description = "Line one\nLine two: \"quoted\" & more",
    .platform = "youtube",
    .privacy = "unlisted",
    .tags = tags,
    .storage = fx->storage,
    .thumbnail_url = thumb_url,
    .category_id = "27",
    .publish_at = publish_at,
    .progress = on_progress,
    .progress_data = &progress,
  };
  g_autoptr(GError) error = NULL;
  g_autoptr(WePublishResult) result = NULL;
  g_autoptr(JsonObject) state = NULL;
  g_autofree gchar *expected_url = NULL;
  JsonObject *session, *meta, *thumbnail;
  JsonArray *puts, *meta_tags;
  gint dropped = -1, failed = -1, refused = -1;

  /* the 3rd chunk loses its connection 100000 bytes in, the 6th gets a
   * 503, and before the 9th every access token stops being valid */
  control ("{\"drop_put\": 3, \"drop_after\": 100000, \"fail_put\": 6, \"expire_put\": 9}");
  result = publish (fx, &request, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (result);
  g_assert_true (result->success);
  expected_url = g_strconcat ("https://www.youtube.com/watch?v=", result->platform_id, NULL);
  g_assert_cmpstr (result->public_url, ==, expected_url);

  state = fake_state ();
  session = only_session (state);
  /* every byte arrived, once, in order */
  g_assert_cmpint (json_object_get_int_member (session, "received"), ==, VIDEO_SIZE);
  g_assert_cmpstr (json_object_get_string_member (session, "sha256"), ==, video_sha);
  g_assert_cmpstr (json_object_get_string_member (session, "video_id"), ==, result->platform_id);
  g_assert_true (g_str_has_prefix (json_object_get_string_member (session, "content_type"),
                                   "video/"));

  /* each fault was followed by the right resume */
  puts = json_object_get_array_member (state, "puts");
  for (guint i = 0; i < json_array_get_length (puts); i++) {
    JsonObject *p = json_array_get_object_element (puts, i);
    JsonNode *status = json_object_get_member (p, "status");

    g_assert_cmpint (json_object_get_int_member (p, "length"), <=, GRANULE);
    if (JSON_NODE_HOLDS_VALUE (status) && json_node_get_value_type (status) == G_TYPE_STRING)
      dropped = (gint) i;
    else if (json_node_get_int (status) == 503)
      failed = (gint) i;
    else if (json_node_get_int (status) == 401)
      refused = (gint) i;
    else
      g_assert_true (json_node_get_int (status) == 308 || json_node_get_int (status) == 200);
  }
  g_assert_cmpint (dropped, >=, 0);
  g_assert_cmpint (failed, >, dropped);
  g_assert_cmpint (refused, >, failed);
  g_assert_cmpint (put_start (puts, dropped), ==, 2 * GRANULE);
  /* after the drop: a status query, then the chunk from the byte Google holds */
  g_assert_cmpstr (member_str (json_array_get_object_element (puts, dropped + 1), "range"), ==,
                   "bytes */3000000");
  g_assert_cmpint (put_start (puts, dropped + 2), ==, 2 * GRANULE + 100000);
  /* after the 503: a status query, then the same chunk again */
  g_assert_cmpstr (member_str (json_array_get_object_element (puts, failed + 1), "range"), ==,
                   "bytes */3000000");
  g_assert_cmpint (put_start (puts, failed + 2), ==, put_start (puts, failed));
  /* after the 401: a new token and the same chunk again */
  g_assert_cmpint (put_start (puts, refused + 1), ==, put_start (puts, refused));
  g_assert_cmpint (json_object_get_int_member (state, "token_requests"), ==, 2);
  g_assert_cmpint (json_object_get_int_member (state, "auth_failures"), ==, 1);

  /* the metadata as sent; a scheduled video is private until publishAt */
  meta = json_object_get_object_member (session, "metadata");
  g_assert_cmpstr (member_str (meta, "snippet.title"), ==, request.title);
  g_assert_cmpstr (member_str (meta, "snippet.description"), ==, request.description);
  g_assert_cmpstr (member_str (meta, "snippet.categoryId"), ==, "27");
  meta_tags = json_object_get_array_member (json_object_get_object_member (meta, "snippet"), "tags");
  g_assert_cmpuint (json_array_get_length (meta_tags), ==, 3);
  for (guint i = 0; i < 3; i++)
    g_assert_cmpstr (json_array_get_string_element (meta_tags, i), ==, tags[i]);
  g_assert_cmpstr (member_str (meta, "status.privacyStatus"), ==, "private");
  g_assert_cmpstr (member_str (meta, "status.publishAt"), ==, at_iso);

  /* the thumbnail as sent */
  thumbnail = json_object_get_object_member (json_object_get_object_member (state, "thumbnails"),
                                             result->platform_id);
  g_assert_nonnull (thumbnail);
  g_assert_cmpstr (json_object_get_string_member (thumbnail, "sha256"), ==, thumb_sha);
  g_assert_cmpstr (json_object_get_string_member (thumbnail, "content_type"), ==, "image/png");

  /* progress from the upload thread, ending at the whole size */
  g_assert_cmpuint (progress.calls, >=, 12);
  g_assert_cmpuint (progress.last_sent, ==, VIDEO_SIZE);
  g_assert_cmpuint (progress.total, ==, VIDEO_SIZE);
  g_assert_true (progress.off_main_thread);

  g_mutex_lock (&log_lock);
  g_assert_nonnull (strstr (log_text->str, "resuming from there"));
  g_mutex_unlock (&log_lock);
  assert_no_secrets_logged ();
}

static void
test_bad_refresh_token (Fixture *fx, gconstpointer data)
{
  guint8 bytes[1000] = { 1, 2, 3 };
  g_autofree gchar *url = put_object (fx, "media/small.mp4", bytes, sizeof bytes);
  WePublishRequest request = { .local_object_url = url, .title = "t", .storage = fx->storage };
  g_autoptr(GError) error = NULL;
  g_autoptr(WePublishResult) result = NULL;
  g_autoptr(JsonObject) state = NULL;

  json_object_set_string_member (fx->config, "refresh_token_ref", "file:yt/wrong-refresh-token");
  g_assert_cmpint (load (fx, TRUE)->state, ==, WE_PLUGIN_STATE_HEALTHY);
  request.storage = fx->storage;  /* the new host's */
  result = publish (fx, &request, NULL, &error);
  g_assert_null (result);
  g_assert_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG);
  g_assert_nonnull (strstr (error->message, "refused the refresh token"));
  g_assert_nonnull (strstr (error->message, "invalid_grant"));
  g_assert_null (strstr (error->message, WRONG_REFRESH));

  /* refused once, never retried, and nothing was started */
  state = fake_state ();
  g_assert_cmpint (json_object_get_int_member (state, "token_requests"), ==, 1);
  g_assert_cmpuint (json_object_get_size (json_object_get_object_member (state, "sessions")), ==, 0);

  /* a reference to nothing is just as clear */
  g_clear_error (&error);
  json_object_set_string_member (fx->config, "refresh_token_ref", "file:yt/missing");
  g_assert_cmpint (load (fx, TRUE)->state, ==, WE_PLUGIN_STATE_HEALTHY);
  request.storage = fx->storage;
  g_assert_null (publish (fx, &request, NULL, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_STO_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, "refresh_token_ref"));
  assert_no_secrets_logged ();
}

static void
test_update_metadata (Fixture *fx, gconstpointer data)
{
  g_autofree guint8 *video = pattern (GRANULE + 10, 9);
  g_autofree guint8 *thumb = pattern (3000, 10);
  g_autofree gchar *url = put_object (fx, "media/update.mp4", video, GRANULE + 10);
  g_autofree gchar *thumb_url = put_object (fx, "media/new.jpg", thumb, 3000);
  g_autoptr(GBytes) thumb_bytes = g_bytes_new_static (thumb, 3000);
  g_autofree gchar *thumb_sha = g_compute_checksum_for_bytes (G_CHECKSUM_SHA256, thumb_bytes);
  const gchar *tags[] = { "renamed", NULL };
  WePublishRequest request = { .local_object_url = url, .title = "first", .storage = fx->storage };
  WePublishRequest update = {
    .title = "second title", .description = "new words", .privacy = "public", .tags = tags,
    .storage = fx->storage, .thumbnail_url = thumb_url,
  };
  g_autoptr(GError) error = NULL;
  g_autoptr(WePublishResult) result = NULL;
  g_autoptr(JsonObject) state = NULL;
  JsonObject *sent, *thumbnail;

  result = publish (fx, &request, NULL, &error);
  g_assert_no_error (error);
  /* the default privacy (private) and category (22) when none is asked for */
  state = fake_state ();
  sent = json_object_get_object_member (only_session (state), "metadata");
  g_assert_cmpstr (member_str (sent, "status.privacyStatus"), ==, "private");
  g_assert_cmpstr (member_str (sent, "snippet.categoryId"), ==, "22");
  g_clear_pointer (&state, json_object_unref);

  g_assert_true (we_publisher_update_metadata (fx->publisher, result->platform_id, &update,
                                               &error));
  g_assert_no_error (error);
  state = fake_state ();
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (state, "updates")), ==, 1);
  sent = json_array_get_object_element (json_object_get_array_member (state, "updates"), 0);
  g_assert_cmpstr (json_object_get_string_member (sent, "id"), ==, result->platform_id);
  g_assert_cmpstr (member_str (sent, "snippet.title"), ==, "second title");
  g_assert_cmpstr (member_str (sent, "snippet.description"), ==, "new words");
  g_assert_cmpstr (member_str (sent, "status.privacyStatus"), ==, "public");
  g_assert_cmpstr (json_array_get_string_element (json_object_get_array_member (
                     json_object_get_object_member (sent, "snippet"), "tags"), 0), ==, "renamed");
  thumbnail = json_object_get_object_member (json_object_get_object_member (state, "thumbnails"),
                                             result->platform_id);
  g_assert_cmpstr (json_object_get_string_member (thumbnail, "sha256"), ==, thumb_sha);
  g_assert_cmpstr (json_object_get_string_member (thumbnail, "content_type"), ==, "image/jpeg");

  /* an unknown video is YouTube's 404, said as such */
  g_assert_false (we_publisher_update_metadata (fx->publisher, "nosuchvideo", &update, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_PLG_DEGRADED);
  g_assert_nonnull (strstr (error->message, "404"));
  g_assert_nonnull (strstr (error->message, "videoNotFound"));
  g_clear_error (&error);
  g_assert_false (we_publisher_update_metadata (fx->publisher, "../etc", &update, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST);
  g_clear_error (&error);
  /* a thumbnail YouTube cannot take is refused before the metadata changes */
  update.thumbnail_url = "fs://media/new.gif";
  g_assert_false (we_publisher_update_metadata (fx->publisher, result->platform_id, &update,
                                                &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST);
  g_clear_pointer (&state, json_object_unref);
  state = fake_state ();
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (state, "updates")), ==, 1);
  assert_no_secrets_logged ();
}

static void
test_invalid_request (Fixture *fx, gconstpointer data)
{
  guint8 bytes[10] = { 0 };
  g_autofree gchar *url = put_object (fx, "media/x.mp4", bytes, sizeof bytes);
  g_autofree gchar *long_title = g_strnfill (101, 'a');
  const struct {
    WePublishRequest request;
    gint code;
    const gchar *what;
  } cases[] = {
    { { .local_object_url = url, .title = long_title }, WE_ERROR_JOB_INVALID_REQUEST, "title" },
    { { .local_object_url = url, .title = "" }, WE_ERROR_JOB_INVALID_REQUEST, "title" },
    { { .local_object_url = url, .title = "<b>" }, WE_ERROR_JOB_INVALID_REQUEST, "title" },
    { { .local_object_url = url, .title = "t", .privacy = "friends" }, WE_ERROR_JOB_INVALID_REQUEST,
      "privacy" },
    { { .local_object_url = url, .title = "t", .publish_at = 1000 }, WE_ERROR_JOB_INVALID_REQUEST,
      "future" },
    { { .local_object_url = url, .title = "t", .platform = "vimeo" }, WE_ERROR_JOB_INVALID_REQUEST,
      "vimeo" },
    { { .local_object_url = url, .title = "t", .thumbnail_url = "fs://x.gif" },
      WE_ERROR_JOB_INVALID_REQUEST, "thumbnail" },
    { { .local_object_url = "", .title = "t" }, WE_ERROR_JOB_INVALID_SOURCE, "nothing to upload" },
    { { .local_object_url = "fs://media/missing.mp4", .title = "t" }, WE_ERROR_STO_NOT_FOUND, "" },
    { { .local_object_url = "s3://b/k.mp4", .title = "t" }, WE_ERROR_JOB_INVALID_SOURCE,
      "does not hold" },
  };
  g_autoptr(JsonObject) state = NULL;

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    WePublishRequest request = cases[i].request;
    g_autoptr(GError) error = NULL;
    g_autoptr(WePublishResult) result = NULL;

    request.storage = fx->storage;
    result = publish (fx, &request, NULL, &error);
    g_assert_null (result);
    g_assert_error (error, WE_ERROR, cases[i].code);
    if (strstr (error->message, cases[i].what) == NULL)
      g_error ("case %u: expected '%s' in: %s", i, cases[i].what, error->message);
  }
  /* refused before anything went to Google */
  state = fake_state ();
  g_assert_cmpint (json_object_get_int_member (state, "token_requests"), ==, 0);
}

static gboolean
cancel_later (gpointer data)
{
  g_cancellable_cancel (data);
  return G_SOURCE_REMOVE;
}

static void
test_cancel (Fixture *fx, gconstpointer data)
{
  g_autofree guint8 *video = pattern (2 * GRANULE, 11);
  g_autofree gchar *url = put_object (fx, "media/cancel.mp4", video, 2 * GRANULE);
  WePublishRequest request = { .local_object_url = url, .title = "t", .storage = fx->storage };
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(WePublishResult) result = NULL;
  gint64 start;

  /* the first chunk fails and the retry waits 30 s: the cancel ends it now */
  json_object_set_int_member (fx->config, "retry_base_ms", 30000);
  g_assert_cmpint (load (fx, TRUE)->state, ==, WE_PLUGIN_STATE_HEALTHY);
  request.storage = fx->storage;
  control ("{\"fail_put\": 1}");
  g_timeout_add (300, cancel_later, cancellable);
  start = g_get_monotonic_time ();
  result = publish (fx, &request, cancellable, &error);
  g_assert_null (result);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpint (g_get_monotonic_time () - start, <, 5 * G_USEC_PER_SEC);
}

/* ---- live ---- */

static JsonObject *
open_dest (Fixture *fx, const gchar *platform, JsonObject *options, GError **error)
{
  JsonObject *result = NULL;

  g_signal_emit_by_name (fx->publisher, "open-destination", platform, options, error, &result);
  return result;
}

/* The stream key in the secrets backend: the configured ingest URL and the
 * key, no API call. */
static void
test_live_stream_key (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) result = NULL;
  g_autoptr(JsonObject) state = NULL;
  WePluginInfo *info;

  json_object_set_string_member (fx->config, "youtube_stream_key_secret_ref", "file:yt/live-key");
  info = load (fx, TRUE);
  g_assert_cmpint (info->state, ==, WE_PLUGIN_STATE_HEALTHY);
  result = open_dest (fx, "youtube", NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (json_object_get_string_member (result, "url"), ==,
                   "rtmps://a.rtmps.youtube.com:443/live2/" LIVE_KEY);
  g_assert_false (json_object_has_member (result, "broadcast_id"));
  g_clear_pointer (&result, json_object_unref);

  /* another ingest (plain RTMP, a backup) */
  json_object_set_string_member (fx->config, "live_ingest_url", "rtmp://b.rtmp.youtube.com/live2/");
  load (fx, TRUE);
  result = open_dest (fx, "youtube", NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (json_object_get_string_member (result, "url"), ==,
                   "rtmp://b.rtmp.youtube.com/live2/" LIVE_KEY);
  g_clear_pointer (&result, json_object_unref);

  /* other platforms are not ours */
  result = open_dest (fx, "twitch", NULL, &error);
  g_assert_null (result);
  g_assert_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG);
  g_clear_error (&error);

  /* a reference to nothing: the backend's not-found, naming the key, not a value */
  json_object_set_string_member (fx->config, "youtube_stream_key_secret_ref", "file:yt/none");
  load (fx, TRUE);
  result = open_dest (fx, "youtube", NULL, &error);
  g_assert_null (result);
  g_assert_nonnull (error);
  g_assert_nonnull (strstr (error->message, "youtube_stream_key_secret_ref"));
  g_clear_error (&error);

  /* a URL that is not rtmp(s), or carries credentials, is refused at load */
  json_object_set_string_member (fx->config, "live_ingest_url", "http://a.youtube.com/live2");
  expect_refused (fx, TRUE, "live_ingest_url");
  json_object_set_string_member (fx->config, "live_ingest_url", "rtmp://u:p@a.youtube.com/live2");
  expect_refused (fx, TRUE, "live_ingest_url");

  /* nothing reached the API: a stream key needs none */
  state = fake_state ();
  g_assert_cmpint (json_object_get_int_member (state, "token_requests"), ==, 0);
  assert_no_secrets_logged ();
}

/* OAuth: a broadcast through the Data API, bound to a new stream, whose
 * ingestion address and name make the URL; then live and complete. */
static void
test_live_broadcast (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) result = NULL;
  g_autoptr(JsonObject) options = json_object_new ();
  g_autoptr(JsonObject) check = json_object_new ();
  g_autoptr(JsonObject) state = NULL;
  JsonObject *broadcasts, *b, *streams, *stream;
  const gchar *bid, *url;
  g_autofree gchar *expected = NULL;
  gboolean ok = FALSE;

  /* a check makes nothing */
  json_object_set_boolean_member (check, "check", TRUE);
  result = open_dest (fx, "youtube", check, &error);
  g_assert_no_error (error);
  g_assert_false (json_object_has_member (result, "url"));
  g_clear_pointer (&result, json_object_unref);
  state = fake_state ();
  g_assert_cmpuint (json_object_get_size (json_object_get_object_member (state, "broadcasts")),
                    ==, 0);
  g_clear_pointer (&state, json_object_unref);

  json_object_set_string_member (options, "title", "Weekly <show>");
  json_object_set_string_member (options, "description", "Live from the test");
  result = open_dest (fx, "youtube", options, &error);
  g_assert_no_error (error);
  bid = json_object_get_string_member (result, "broadcast_id");
  url = json_object_get_string_member (result, "url");
  state = fake_state ();
  broadcasts = json_object_get_object_member (state, "broadcasts");
  g_assert_true (json_object_has_member (broadcasts, bid));
  b = json_object_get_object_member (broadcasts, bid);
  g_assert_cmpstr (member_str (b, "snippet.title"), ==, "Weekly  show ");
  g_assert_cmpstr (member_str (b, "snippet.description"), ==, "Live from the test");
  g_assert_cmpstr (member_str (b, "status.privacyStatus"), ==, "private");  /* default_privacy */
  g_assert_cmpstr (member_str (b, "status.lifeCycleStatus"), ==, "ready");
  streams = json_object_get_object_member (state, "live_streams");
  stream = json_object_get_object_member (streams, member_str (b, "contentDetails.boundStreamId"));
  g_assert_nonnull (stream);
  /* rtmps by default: the rtmpsIngestionAddress */
  expected = g_strdup_printf ("rtmps://127.0.0.1:1/live2/%s",
                              member_str (stream, "cdn.ingestionInfo.streamName"));
  g_assert_cmpstr (url, ==, expected);
  g_clear_pointer (&state, json_object_unref);

  /* complete before live is YouTube's 403: a clear error */
  g_signal_emit_by_name (fx->publisher, "live-transition", bid, "complete", &error, &ok);
  g_assert_false (ok);
  g_assert_error (error, WE_ERROR, WE_ERROR_PLG_DEGRADED);
  g_assert_nonnull (strstr (error->message, "invalidTransition"));
  g_clear_error (&error);
  g_signal_emit_by_name (fx->publisher, "live-transition", bid, "live", &error, &ok);
  g_assert_no_error (error);
  g_assert_true (ok);
  g_signal_emit_by_name (fx->publisher, "live-transition", bid, "complete", &error, &ok);
  g_assert_no_error (error);
  g_assert_true (ok);
  state = fake_state ();
  b = json_object_get_object_member (json_object_get_object_member (state, "broadcasts"), bid);
  g_assert_cmpstr (member_str (b, "status.lifeCycleStatus"), ==, "complete");
  g_clear_pointer (&state, json_object_unref);
  g_clear_pointer (&result, json_object_unref);

  /* plain RTMP when asked: the ingestionAddress */
  json_object_set_string_member (fx->config, "live_ingest_protocol", "rtmp");
  json_object_set_string_member (fx->config, "live_privacy", "unlisted");
  load (fx, TRUE);
  result = open_dest (fx, "youtube", NULL, &error);
  g_assert_no_error (error);
  g_assert_true (g_str_has_prefix (json_object_get_string_member (result, "url"),
                                   "rtmp://127.0.0.1:1/live2/fake-"));
  state = fake_state ();
  b = json_object_get_object_member (json_object_get_object_member (state, "broadcasts"),
                                     json_object_get_string_member (result, "broadcast_id"));
  g_assert_cmpstr (member_str (b, "status.privacyStatus"), ==, "unlisted");
  g_clear_pointer (&result, json_object_unref);
  g_clear_pointer (&state, json_object_unref);

  /* a revoked refresh token: WE-PLG-003 before any broadcast */
  json_object_set_string_member (fx->config, "refresh_token_ref", "file:yt/wrong-refresh-token");
  load (fx, TRUE);
  result = open_dest (fx, "youtube", NULL, &error);
  g_assert_null (result);
  g_assert_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG);
  g_clear_error (&error);
  assert_no_secrets_logged ();
}

int
main (int argc, char **argv)
{
  g_autoptr(WeSecretsFile) secrets = NULL;
  g_autofree gchar *dir = NULL;
  const struct { const gchar *ref; const gchar *value; } stored[] = {
    { "file:yt/client-secret", CLIENT_SECRET },
    { "file:yt/refresh-token", REFRESH_TOKEN },
    { "file:yt/wrong-refresh-token", WRONG_REFRESH },
    { "file:yt/live-key", LIVE_KEY },
  };
  gint rc;

  g_test_init (&argc, &argv, NULL);
  /* the plugin host logs refused modules as warnings on purpose */
  g_log_set_always_fatal (G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
  /* every level, debug too, goes through the capture */
  log_text = g_string_new (NULL);
  g_log_set_writer_func (capture_writer, NULL, NULL);

  start_server ();
  dir = g_build_filename (server.dir, "secrets", NULL);
  secrets = we_secrets_file_new (dir);
  for (guint i = 0; i < G_N_ELEMENTS (stored); i++) {
    g_autoptr(GBytes) value = g_bytes_new_static (stored[i].value, strlen (stored[i].value));
    g_autoptr(GError) error = NULL;
    we_secrets_store (WE_SECRETS (secrets), stored[i].ref, value, NULL, &error);
    g_assert_no_error (error);
  }

#define ADD(path, data, func) \
  g_test_add ("/publisher-youtube/" path, Fixture, data, fixture_setup, func, fixture_teardown)
  ADD ("unconfigured", NULL, test_unconfigured);
  ADD ("config", NULL, test_config);
  ADD ("upload", "server", test_upload);
  ADD ("bad-refresh-token", "server", test_bad_refresh_token);
  ADD ("update-metadata", "server", test_update_metadata);
  ADD ("invalid-request", "server", test_invalid_request);
  ADD ("cancel", "server", test_cancel);
  ADD ("live-stream-key", NULL, test_live_stream_key);
  ADD ("live-broadcast", "server", test_live_broadcast);
#undef ADD

  rc = g_test_run ();
  stop_server ();
  g_string_free (log_text, TRUE);
  return rc;
}
