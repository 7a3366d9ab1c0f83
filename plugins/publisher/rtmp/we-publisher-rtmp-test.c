/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * publisher-rtmp through the plugin host with the file secrets backend:
 * destination URLs of every preset, and Twitch channel metadata against a
 * Helix endpoint this test serves with libsoup (the one fake here: the real
 * api.twitch.tv cannot be reached from the build machines). It checks what
 * Twitch documents: PATCH /helix/channels?broadcaster_id=…, the
 * Authorization and Client-Id headers, a JSON body, 204.
 */
#include "config.h"

#include <glib/gstdio.h>
#include <libsoup/soup.h>
#include <string.h>

#include "plugin/we-plugin-host.h"
#include "secrets/we-secrets-file.h"

#define OAUTH_TOKEN  "oauth-token-never-logged-0123"
#define STREAM_KEY   "live_123_kick-key-never-logged"
#define CLIENT_ID    "twitch-client-id"

typedef struct {
  gchar        *dir;
  SoupServer   *server;
  gchar        *base;
  guint         answer;      /* what the fake answers PATCH with */
  GPtrArray    *requests;    /* "METHOD path?query\nauth\nclient-id\nbody" */
  JsonObject   *config;
  WePluginHost *host;
  WePublisher  *publisher;
} Fixture;

static void
helix_cb (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
          gpointer user_data)
{
  Fixture *fx = user_data;
  SoupMessageHeaders *h = soup_server_message_get_request_headers (msg);
  SoupMessageBody *body = soup_server_message_get_request_body (msg);
  g_autoptr(GBytes) bytes = soup_message_body_flatten (body);
  const gchar *q = g_uri_get_query (soup_server_message_get_uri (msg));

  g_ptr_array_add (fx->requests,
                   g_strdup_printf ("%s %s?%s\n%s\n%s\n%.*s", soup_server_message_get_method (msg),
                                    path, q ? q : "",
                                    soup_message_headers_get_one (h, "Authorization") ?: "",
                                    soup_message_headers_get_one (h, "Client-Id") ?: "",
                                    (int) g_bytes_get_size (bytes),
                                    (const gchar *) g_bytes_get_data (bytes, NULL)));
  if (fx->answer == 401)
    soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_COPY,
                                      "{\"error\":\"Unauthorized\",\"status\":401}", 36);
  soup_server_message_set_status (msg, fx->answer, NULL);
}

static JsonObject *
config_func (const gchar *plugin_id, gpointer user_data)
{
  Fixture *fx = user_data;
  return json_object_ref (fx->config);
}

static void
write_secret (Fixture *fx, const gchar *ref, const gchar *value)
{
  g_autofree gchar *path = g_build_filename (fx->dir, "secrets", ref, NULL);
  g_autofree gchar *parent = g_path_get_dirname (path);

  g_assert_cmpint (g_mkdir_with_parents (parent, 0700), ==, 0);
  g_assert_true (g_file_set_contents_full (path, value, -1, G_FILE_SET_CONTENTS_NONE, 0600,
                                           NULL));
}

static WePluginInfo *
load (Fixture *fx)
{
  g_autofree gchar *manifest = g_build_filename (g_getenv ("WE_PLUGIN_DIR"), "publisher", "rtmp",
                                                 "we-publisher-rtmp.plugin", NULL);
  g_autofree gchar *dir = g_build_filename (fx->dir, "secrets", NULL);
  g_autoptr(WeSecretsFile) secrets = we_secrets_file_new (dir);

  g_clear_object (&fx->host);
  fx->host = we_plugin_host_new ();
  we_plugin_host_set_config_func (fx->host, config_func, fx, NULL);
  we_plugin_host_set_secrets (fx->host, WE_SECRETS (secrets));
  we_plugin_host_load_manifest (fx->host, manifest, NULL);
  fx->publisher = (WePublisher *) we_plugin_host_get_instance (fx->host, "publisher-rtmp");
  return we_plugin_host_get_plugin (fx->host, "publisher-rtmp");
}

static void
fixture_setup (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoslist(GUri) uris = NULL;
  g_autofree gchar *uri = NULL;

  fx->dir = g_dir_make_tmp ("we-publisher-rtmp-XXXXXX", &error);
  g_assert_no_error (error);
  fx->requests = g_ptr_array_new_with_free_func (g_free);
  fx->answer = 204;
  fx->server = soup_server_new (NULL, NULL);
  soup_server_add_handler (fx->server, "/helix", helix_cb, fx, NULL);
  g_assert_true (soup_server_listen_local (fx->server, 0, SOUP_SERVER_LISTEN_IPV4_ONLY, &error));
  uris = soup_server_get_uris (fx->server);
  uri = g_uri_to_string (uris->data);
  fx->base = g_strdup (uri);
  write_secret (fx, "tw/oauth", OAUTH_TOKEN);
  write_secret (fx, "kick/key", STREAM_KEY);
  fx->config = json_object_new ();
  json_object_set_string_member (fx->config, "twitch_api_base_url", fx->base);
  json_object_set_string_member (fx->config, "twitch_client_id", CLIENT_ID);
  json_object_set_string_member (fx->config, "twitch_oauth_token_ref", "file:tw/oauth");
  json_object_set_string_member (fx->config, "twitch_broadcaster_id", "141981764");
  json_object_set_string_member (fx->config, "kick_stream_key_secret_ref", "file:kick/key");
  json_object_set_string_member (fx->config, "srt_url", "srt://ingest.example:9000?latency=200");
}

static void
rm_rf (const gchar *path)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  const gchar *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL) {
    g_autofree gchar *child = g_build_filename (path, name, NULL);

    if (g_file_test (child, G_FILE_TEST_IS_DIR))
      rm_rf (child);
    else
      g_unlink (child);
  }
  g_rmdir (path);
}

static void
fixture_teardown (Fixture *fx, gconstpointer data)
{
  g_clear_object (&fx->host);
  soup_server_disconnect (fx->server);
  g_clear_object (&fx->server);
  g_clear_pointer (&fx->config, json_object_unref);
  g_ptr_array_unref (fx->requests);
  rm_rf (fx->dir);
  g_free (fx->dir);
  g_free (fx->base);
}

static gchar *
destination (Fixture *fx, const gchar *platform, const gchar *key)
{
  gchar *url = NULL;

  g_signal_emit_by_name (fx->publisher, "build-destination", platform, key, &url);
  return url;
}

static void
test_destinations (Fixture *fx, gconstpointer data)
{
  g_autofree gchar *twitch = NULL, *kick = NULL, *srt = NULL, *none = NULL, *unknown = NULL;

  g_assert_nonnull (load (fx));
  g_assert_nonnull (fx->publisher);
  twitch = destination (fx, "twitch", "live_1_abc");
  g_assert_cmpstr (twitch, ==, "rtmp://live.twitch.tv/app/live_1_abc");
  /* the key from the secrets backend; Kick takes RTMPS only */
  kick = destination (fx, "kick", NULL);
  g_assert_cmpstr (kick, ==, "rtmps://fa723fc1b171.global-contribute.live-video.net:443/app/"
                   STREAM_KEY);
  srt = destination (fx, "srt", "a b");
  g_assert_cmpstr (srt, ==, "srt://ingest.example:9000?latency=200&streamid=a%20b");
  /* generic RTMP without a URL, an unknown platform: nothing */
  g_test_expect_message ("WePublisherRtmp", G_LOG_LEVEL_WARNING, "*no stream key for rumble*");
  none = destination (fx, "rumble", NULL);
  g_test_assert_expected_messages ();
  g_assert_null (none);
  unknown = destination (fx, "vimeo", "k");
  g_assert_null (unknown);
}

/* "open-destination": the same URLs, with the reason when there is none
 * (what the kernel's restreams show as WE-RST-004 or a last_error) */
static void
test_open_destination (Fixture *fx, gconstpointer data)
{
  JsonObject *result = NULL;
  GError *error = NULL;

  g_assert_nonnull (load (fx));
  g_signal_emit_by_name (fx->publisher, "open-destination", "kick", NULL, &error, &result);
  g_assert_no_error (error);
  g_assert_cmpstr (json_object_get_string_member (result, "url"), ==,
                   "rtmps://fa723fc1b171.global-contribute.live-video.net:443/app/" STREAM_KEY);
  g_clear_pointer (&result, json_object_unref);
  /* rumble has no key reference: the reason names the missing key */
  g_signal_emit_by_name (fx->publisher, "open-destination", "rumble", NULL, &error, &result);
  g_assert_null (result);
  g_assert_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG);
  g_assert_nonnull (strstr (error->message, "rumble_stream_key_secret_ref"));
  g_clear_error (&error);
  g_signal_emit_by_name (fx->publisher, "open-destination", "vimeo", NULL, &error, &result);
  g_assert_null (result);
  g_assert_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG);
  g_assert_nonnull (strstr (error->message, "no preset for vimeo"));
  g_clear_error (&error);
}

typedef struct {
  Fixture          *fx;
  WePublishRequest *req;
  const gchar      *platform_id;
  gboolean          ok;
  GError           *error;
  gboolean          done;
} Update;

static gpointer
update_thread (gpointer data)
{
  Update *u = data;

  u->ok = we_publisher_update_metadata (u->fx->publisher, u->platform_id, u->req, &u->error);
  g_atomic_int_set (&u->done, TRUE);
  g_main_context_wakeup (NULL);
  return NULL;
}

/* update_metadata blocks: it runs in a thread while this one serves Helix */
static gboolean
update (Fixture *fx, WePublishRequest *req, const gchar *platform_id, GError **error)
{
  Update u = { fx, req, platform_id, FALSE, NULL, FALSE };
  GThread *thread = g_thread_new ("update", update_thread, &u);

  while (!g_atomic_int_get (&u.done))
    g_main_context_iteration (NULL, TRUE);
  g_thread_join (thread);
  if (u.error != NULL)
    g_propagate_error (error, u.error);
  return u.ok;
}

static void
test_twitch_metadata (Fixture *fx, gconstpointer data)
{
  const gchar *tags[] = { "English", "Speedrun", NULL };
  WePublishRequest req = { 0 };
  g_autoptr(GError) error = NULL;
  const gchar *seen;

  g_assert_nonnull (load (fx));
  req.platform = "twitch";
  req.title = "Live now";
  req.category_id = "509658";
  req.tags = tags;
  g_assert_true (update (fx, &req, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (fx->requests->len, ==, 1);
  seen = g_ptr_array_index (fx->requests, 0);
  g_assert_cmpstr (seen, ==, "PATCH /helix/channels?broadcaster_id=141981764\n"
                   "Bearer " OAUTH_TOKEN "\n" CLIENT_ID "\n"
                   "{\"title\":\"Live now\",\"game_id\":\"509658\","
                   "\"tags\":[\"English\",\"Speedrun\"]}");
  /* the call's broadcaster wins over the configured one */
  g_assert_true (update (fx, &req, "42", &error));
  g_assert_true (g_str_has_prefix (g_ptr_array_index (fx->requests, 1),
                                   "PATCH /helix/channels?broadcaster_id=42\n"));

  /* a token Twitch refuses: a configuration error that names no secret */
  fx->answer = 401;
  g_assert_false (update (fx, &req, NULL, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG);
  g_assert_null (strstr (error->message, OAUTH_TOKEN));
  g_clear_error (&error);
  fx->answer = 503;
  g_assert_false (update (fx, &req, NULL, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_PLG_DEGRADED);
  g_clear_error (&error);

  /* Kick has no metadata API; VOD is not this module's */
  req.platform = "kick";
  g_assert_false (update (fx, &req, NULL, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST);
  g_assert_cmpuint (fx->requests->len, ==, 4);
}

static void
vod_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GError **error = user_data;
  WePublishResult *res = we_publisher_publish_vod_finish (WE_PUBLISHER (source), result, error);

  g_assert_null (res);
}

static void
test_no_vod (Fixture *fx, gconstpointer data)
{
  WePublishRequest req = { 0 };
  GError *error = NULL;

  g_assert_nonnull (load (fx));
  req.platform = "twitch";
  req.title = "x";
  req.local_object_url = "file:///nonexistent.mp4";
  we_publisher_publish_vod_async (fx->publisher, &req, NULL, vod_cb, &error);
  while (error == NULL)
    g_main_context_iteration (NULL, TRUE);
  g_assert_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST);
  g_error_free (error);
}

static void
test_bad_config (Fixture *fx, gconstpointer data)
{
  WePluginInfo *info;

  json_object_set_string_member (fx->config, "kick_ingest_url", "http://kick.example/app");
  info = load (fx);
  g_assert_nonnull (info);
  g_assert_cmpint (info->state, ==, WE_PLUGIN_STATE_FAILED);
  g_assert_nonnull (strstr (info->error, "kick_ingest_url"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  /* the host warns when a configuration is refused: that is under test */
  g_log_set_always_fatal (G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
  g_test_add ("/publisher-rtmp/destinations", Fixture, NULL, fixture_setup, test_destinations,
              fixture_teardown);
  g_test_add ("/publisher-rtmp/open-destination", Fixture, NULL, fixture_setup,
              test_open_destination, fixture_teardown);
  g_test_add ("/publisher-rtmp/twitch-metadata", Fixture, NULL, fixture_setup,
              test_twitch_metadata, fixture_teardown);
  g_test_add ("/publisher-rtmp/no-vod", Fixture, NULL, fixture_setup, test_no_vod,
              fixture_teardown);
  g_test_add ("/publisher-rtmp/bad-config", Fixture, NULL, fixture_setup, test_bad_config,
              fixture_teardown);
  return g_test_run ();
}
