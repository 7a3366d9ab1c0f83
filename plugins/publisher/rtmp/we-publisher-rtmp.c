/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The RTMP/SRT publisher pillar (spec §3.3 plugin-publisher-twitch / -kick /
 * -rumble, issue 11): presets for the live platforms that take a stream
 * over RTMP(S) or SRT. What it provides now:
 *
 *  - the destination URL of a platform from its preset and the stream key
 *    in the secrets backend (action signal "build-destination", for the
 *    restream side), and
 *  - update_metadata: the live channel's title and category, through the
 *    Twitch Helix API (PATCH /helix/channels) for twitch; Kick and Rumble
 *    have no public metadata API and say so.
 *
 * It uploads no VOD: publish_vod_async fails with WE-JOB-001 at once (a VOD
 * goes to publisher-youtube; the restream worker carries live streams).
 * Secrets (stream keys, the OAuth token) are looked up when needed, wiped
 * after use and never logged.
 */
#include <webencode/webencode.h>

#include <libsoup/soup.h>
#include <string.h>

#define MAX_ANSWER      (64 * 1024)
#define MAX_TITLE_CHARS 140   /* Helix's limit for a channel title */

typedef struct {
  const gchar *platform;
  const gchar *url_key;       /* configuration key of the ingest base URL */
  const gchar *default_url;
  const gchar *key_name;      /* <key_name>_secret_ref holds the stream key */
} Preset;

/* Ingest bases as the platforms document them; each may be overridden
 * (a nearer Twitch ingest, a Kick region). */
static const Preset presets[] = {
  { "twitch", "twitch_ingest_url", "rtmp://live.twitch.tv/app", "twitch_stream_key" },
  { "kick", "kick_ingest_url", "rtmps://fa723fc1b171.global-contribute.live-video.net:443/app",
    "kick_stream_key" },
  { "rumble", "rumble_ingest_url", "rtmp://rtmp.rumble.com/live", "rumble_stream_key" },
  { "rtmp", "rtmp_url", NULL, "rtmp_stream_key" },
  { "srt", "srt_url", NULL, "srt_stream_key" },
};

#define WE_TYPE_PUBLISHER_RTMP (we_publisher_rtmp_get_type ())
G_DECLARE_FINAL_TYPE (WePublisherRtmp, we_publisher_rtmp, WE, PUBLISHER_RTMP, GObject)

struct _WePublisherRtmp {
  GObject     parent_instance;
  JsonObject *config;
  WeSecrets  *secrets;        /* nullable */
  gchar      *helix_base;     /* no trailing '/' */
  guint       timeout_s;
};

static void we_publisher_rtmp_iface_init (WePublisherInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (WePublisherRtmp, we_publisher_rtmp, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (WE_TYPE_PUBLISHER,
                                                      we_publisher_rtmp_iface_init))

static const Preset *
find_preset (const gchar *platform)
{
  for (guint i = 0; platform != NULL && i < G_N_ELEMENTS (presets); i++)
    if (g_str_equal (presets[i].platform, platform))
      return &presets[i];
  return NULL;
}

static gchar *
lookup_secret (WePublisherRtmp *self, const gchar *name, GError **error)
{
  g_autoptr(GError) local = NULL;
  gchar *value = we_plugin_config_get_secret (self->config, self->secrets, name, NULL, &local);

  if (value == NULL && local == NULL)
    g_set_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                 "publisher-rtmp: '%s_secret_ref' is not set", name);
  else if (value == NULL)
    g_set_error (error, local->domain, local->code, "publisher-rtmp '%s': %s", name,
                 local->message);
  else if (value[0] == '\0') {
    we_secret_free (value);
    g_set_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                 "publisher-rtmp '%s': the secret is empty", name);
    value = NULL;
  }
  return value;
}

/* rtmp(s)://host/app + "/" + key; srt://host:port?streamid=key (added to
 * a query the base may have). @key NULL: the base alone. */
static gchar *
join_key (const gchar *base, const gchar *key)
{
  gsize len = strlen (base);

  while (len > 0 && base[len - 1] == '/')
    len--;
  if (key == NULL)
    return g_strndup (base, len);
  if (g_str_has_prefix (base, "srt://")) {
    g_autofree gchar *escaped = g_uri_escape_string (key, NULL, FALSE);
    return g_strdup_printf ("%.*s%sstreamid=%s", (int) len, base,
                            strchr (base, '?') != NULL ? "&" : "?", escaped);
  }
  return g_strdup_printf ("%.*s/%s", (int) len, base, key);
}

/* The action signal "build-destination" (platform, stream_key): the URL a
 * restream sends @platform's stream to. @stream_key NULL: the preset's
 * *_stream_key_secret_ref, looked up now (blocking: call from a thread).
 * Returns NULL for an unknown platform, an unset URL or key. The result
 * holds the key: wipe it with we_secret_free(). */
static gchar *
build_destination (WePublisherRtmp *self, const gchar *platform, const gchar *stream_key,
                   gpointer user_data)
{
  const Preset *preset = find_preset (platform);
  const gchar *base;
  g_autoptr(GError) error = NULL;
  gchar *key = NULL;
  gchar *url;

  if (preset == NULL)
    return NULL;
  base = we_plugin_config_get_string (self->config, preset->url_key, preset->default_url);
  if (base == NULL || base[0] == '\0')
    return NULL;
  if (stream_key == NULL) {
    key = lookup_secret (self, preset->key_name, &error);
    if (key == NULL) {
      g_warning ("publisher-rtmp: no stream key for %s: %s", platform, error->message);
      return NULL;
    }
  }
  url = join_key (base, stream_key != NULL ? stream_key : key);
  if (key != NULL)
    we_secret_free (key);
  return url;
}

/* The action signal "open-destination" (platform, JsonObject *options,
 * GError **error): build_destination() with the reason when it cannot, for
 * the kernel's restreams (src/core/we-restream-platform.c). Answers
 * {"url": …} (transfer full; the URL holds the stream key). Blocks. */
static gpointer
open_destination (WePublisherRtmp *self, const gchar *platform, JsonObject *options,
                  GError **error, gpointer user_data)
{
  const Preset *preset = find_preset (platform);
  const gchar *base;
  JsonObject *out;
  gchar *key;
  gchar *url;

  if (preset == NULL) {
    g_set_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                 "publisher-rtmp has no preset for %s (twitch, kick, rumble, rtmp, srt)",
                 platform != NULL ? platform : "(no platform)");
    return NULL;
  }
  base = we_plugin_config_get_string (self->config, preset->url_key, preset->default_url);
  if (base == NULL || base[0] == '\0') {
    g_set_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                 "publisher-rtmp: '%s' is not set", preset->url_key);
    return NULL;
  }
  key = lookup_secret (self, preset->key_name, error);
  if (key == NULL)
    return NULL;
  url = join_key (base, key);
  we_secret_free (key);
  out = json_object_new ();
  json_object_set_string_member (out, "url", url);
  we_secret_free (url);
  return out;
}

static void
we_publisher_rtmp_finalize (GObject *object)
{
  WePublisherRtmp *self = WE_PUBLISHER_RTMP (object);

  g_clear_pointer (&self->config, json_object_unref);
  g_clear_object (&self->secrets);
  g_free (self->helix_base);
  G_OBJECT_CLASS (we_publisher_rtmp_parent_class)->finalize (object);
}

static void
we_publisher_rtmp_class_init (WePublisherRtmpClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = we_publisher_rtmp_finalize;
  g_signal_new_class_handler ("build-destination", G_TYPE_FROM_CLASS (klass),
                              G_SIGNAL_RUN_LAST | G_SIGNAL_ACTION,
                              G_CALLBACK (build_destination), NULL, NULL, NULL,
                              G_TYPE_STRING, 2, G_TYPE_STRING, G_TYPE_STRING);
  g_signal_new_class_handler ("open-destination", G_TYPE_FROM_CLASS (klass),
                              G_SIGNAL_RUN_LAST | G_SIGNAL_ACTION,
                              G_CALLBACK (open_destination), NULL, NULL, NULL,
                              G_TYPE_POINTER, 3, G_TYPE_STRING, G_TYPE_POINTER, G_TYPE_POINTER);
}

static void
we_publisher_rtmp_init (WePublisherRtmp *self)
{
}

/* ---- WePublisher ---- */

static void
we_publisher_rtmp_publish_vod_async (WePublisher *publisher, const WePublishRequest *request,
                                     GCancellable *cancellable, GAsyncReadyCallback callback,
                                     gpointer user_data)
{
  g_autoptr(GTask) task = g_task_new (publisher, cancellable, callback, user_data);

  g_task_set_source_tag (task, we_publisher_rtmp_publish_vod_async);
  g_task_return_new_error (task, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                           "publisher-rtmp streams live to %s; it uploads no VOD",
                           request->platform != NULL ? request->platform : "RTMP/SRT platforms");
}

static WePublishResult *
we_publisher_rtmp_publish_vod_finish (WePublisher *publisher, GAsyncResult *result,
                                      GError **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

/* PATCH /helix/channels?broadcaster_id=…: title, game_id (the category), tags */
static gboolean
twitch_update (WePublisherRtmp *self, const gchar *broadcaster_id,
               const WePublishRequest *request, GError **error)
{
  const gchar *client_id = we_plugin_config_get_string (self->config, "twitch_client_id", NULL);
  g_autofree gchar *escaped = NULL;
  g_autofree gchar *url = NULL;
  g_autofree gchar *body = NULL;
  g_autofree gchar *auth = NULL;
  g_autoptr(SoupSession) session = NULL;
  g_autoptr(SoupMessage) msg = NULL;
  g_autoptr(GBytes) answer = NULL;
  g_autoptr(GBytes) payload = NULL;
  g_autoptr(JsonBuilder) b = json_builder_new ();
  g_autoptr(JsonGenerator) gen = json_generator_new ();
  g_autoptr(JsonNode) root = NULL;
  g_autoptr(GError) local = NULL;
  gchar *token;
  guint status;

  if (broadcaster_id == NULL || broadcaster_id[0] == '\0')
    broadcaster_id = we_plugin_config_get_string (self->config, "twitch_broadcaster_id", NULL);
  if (broadcaster_id == NULL || broadcaster_id[0] == '\0' || client_id == NULL ||
      client_id[0] == '\0') {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                         "publisher-rtmp: Twitch metadata needs 'twitch_client_id' and a "
                         "broadcaster id ('twitch_broadcaster_id' or the call's)");
    return FALSE;
  }
  if (request->title == NULL || request->title[0] == '\0' ||
      g_utf8_strlen (request->title, -1) > MAX_TITLE_CHARS) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                 "a Twitch title has 1 to %d characters", MAX_TITLE_CHARS);
    return FALSE;
  }
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "title");
  json_builder_add_string_value (b, request->title);
  if (request->category_id != NULL && request->category_id[0] != '\0') {
    json_builder_set_member_name (b, "game_id");
    json_builder_add_string_value (b, request->category_id);
  }
  if (request->tags != NULL) {
    json_builder_set_member_name (b, "tags");
    json_builder_begin_array (b);
    for (const gchar *const *t = request->tags; *t != NULL; t++)
      json_builder_add_string_value (b, *t);
    json_builder_end_array (b);
  }
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  json_generator_set_root (gen, root);
  body = json_generator_to_data (gen, NULL);

  token = lookup_secret (self, "twitch_oauth", error);
  if (token == NULL)
    return FALSE;
  auth = g_strconcat ("Bearer ", token, NULL);
  we_secret_free (token);
  escaped = g_uri_escape_string (broadcaster_id, NULL, FALSE);
  url = g_strdup_printf ("%s/helix/channels?broadcaster_id=%s", self->helix_base, escaped);
  session = soup_session_new_with_options ("timeout", self->timeout_s, "user-agent",
                                           "webencode-publisher-rtmp", NULL);
  msg = soup_message_new ("PATCH", url);
  soup_message_headers_replace (soup_message_get_request_headers (msg), "Authorization", auth);
  soup_message_headers_replace (soup_message_get_request_headers (msg), "Client-Id", client_id);
  memset (auth, 0, strlen (auth));
  payload = g_bytes_new (body, strlen (body));
  soup_message_set_request_body_from_bytes (msg, "application/json", payload);
  answer = soup_session_send_and_read (session, msg, NULL, &local);
  if (answer == NULL) {
    g_set_error (error, WE_ERROR, WE_ERROR_PLG_DEGRADED, "Twitch unreachable: %s",
                 local->message);
    return FALSE;
  }
  status = soup_message_get_status (msg);
  if (status == SOUP_STATUS_NO_CONTENT || status == SOUP_STATUS_OK)
    return TRUE;
  {
    gsize n = 0;
    const gchar *data = g_bytes_get_data (answer, &n);
    g_autofree gchar *text = g_strndup (data, MIN (n, (gsize) 512));

    if (status == SOUP_STATUS_UNAUTHORIZED)
      g_set_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                   "Twitch refused the OAuth token (401): renew 'twitch_oauth_token_ref' "
                   "(scope channel:manage:broadcast)");
    else if (status == SOUP_STATUS_BAD_REQUEST || status == SOUP_STATUS_FORBIDDEN)
      g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST, "Twitch answered %u: %s",
                   status, text);
    else
      g_set_error (error, WE_ERROR, WE_ERROR_PLG_DEGRADED, "Twitch answered %u: %s", status,
                   text);
  }
  return FALSE;
}

static gboolean
we_publisher_rtmp_update_metadata (WePublisher *publisher, const gchar *platform_id,
                                   const WePublishRequest *request, GError **error)
{
  WePublisherRtmp *self = WE_PUBLISHER_RTMP (publisher);

  if (g_strcmp0 (request->platform, "twitch") == 0)
    return twitch_update (self, platform_id, request, error);
  g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
               "publisher-rtmp cannot change the metadata of a %s stream: %s",
               request->platform != NULL ? request->platform : "(no platform)",
               find_preset (request->platform) != NULL ? "the platform has no public API for it"
                                                       : "unknown platform");
  return FALSE;
}

static void
we_publisher_rtmp_iface_init (WePublisherInterface *iface)
{
  iface->publish_vod_async = we_publisher_rtmp_publish_vod_async;
  iface->publish_vod_finish = we_publisher_rtmp_publish_vod_finish;
  iface->update_metadata = we_publisher_rtmp_update_metadata;
}

/* ---- the module ---- */

static gboolean
check_url (JsonObject *config, const gchar *key, const gchar *const *schemes, GError **error)
{
  const gchar *value = we_plugin_config_get_string (config, key, NULL);
  g_autoptr(GUri) uri = NULL;

  if (value == NULL || value[0] == '\0')
    return TRUE;
  uri = g_uri_parse (value, G_URI_FLAGS_NONE, NULL);
  if (uri == NULL || !g_strv_contains (schemes, g_uri_get_scheme (uri)) ||
      g_uri_get_host (uri) == NULL || g_uri_get_userinfo (uri) != NULL) {
    g_autofree gchar *list = g_strjoinv ("/", (gchar **) schemes);

    g_set_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                 "publisher-rtmp '%s' must be a %s URL without credentials", key, list);
    return FALSE;
  }
  return TRUE;
}

static GObject *
we_publisher_rtmp_create_with_secrets (JsonObject *config, WeSecrets *secrets, GError **error)
{
  g_autoptr(WePublisherRtmp) self = g_object_new (WE_TYPE_PUBLISHER_RTMP, NULL);
  static const gchar *const rtmp_schemes[] = { "rtmp", "rtmps", NULL };
  static const gchar *const srt_schemes[] = { "srt", NULL };
  static const gchar *const http_schemes[] = { "http", "https", NULL };
  const gchar *helix;
  gint64 timeout;
  gsize len;

  self->config = config != NULL ? json_object_ref (config) : json_object_new ();
  self->secrets = secrets != NULL ? g_object_ref (secrets) : NULL;
  for (guint i = 0; i < G_N_ELEMENTS (presets); i++)
    if (!check_url (self->config, presets[i].url_key,
                    g_str_equal (presets[i].platform, "srt") ? srt_schemes : rtmp_schemes, error))
      return NULL;
  if (!check_url (self->config, "twitch_api_base_url", http_schemes, error))
    return NULL;
  helix = we_plugin_config_get_string (self->config, "twitch_api_base_url", NULL);
  if (helix == NULL || helix[0] == '\0')
    helix = "https://api.twitch.tv";
  len = strlen (helix);
  while (len > 0 && helix[len - 1] == '/')
    len--;
  self->helix_base = g_strndup (helix, len);
  timeout = we_plugin_config_get_int (self->config, "timeout_s", 30);
  if (timeout < 1 || timeout > 600) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                         "publisher-rtmp 'timeout_s' must be between 1 and 600");
    return NULL;
  }
  self->timeout_s = (guint) timeout;
  return G_OBJECT (g_steal_pointer (&self));
}

static GObject *
we_publisher_rtmp_create (JsonObject *config, GError **error)
{
  return we_publisher_rtmp_create_with_secrets (config, NULL, error);
}

static const gchar *const config_keys[] = {
  "twitch_ingest_url", "twitch_stream_key_secret_ref", "twitch_client_id",
  "twitch_oauth_token_ref", "twitch_broadcaster_id", "twitch_api_base_url",
  "kick_ingest_url", "kick_stream_key_secret_ref",
  "rumble_ingest_url", "rumble_stream_key_secret_ref",
  "rtmp_url", "rtmp_stream_key_secret_ref", "srt_url", "srt_stream_key_secret_ref",
  "timeout_s", NULL
};

static const WePluginDescriptor descriptor = {
  .protocol_version = WE_PLUGIN_PROTOCOL_VERSION,
  .abi_minor = WE_PLUGIN_ABI_MINOR,
  .id = "publisher-rtmp",
  .pillar = WE_PILLAR_PUBLISHER,
  .version = PLUGIN_VERSION,
  .config_keys = config_keys,
  .create = we_publisher_rtmp_create,
  .create_with_secrets = we_publisher_rtmp_create_with_secrets,
};

WE_PLUGIN_DEFINE (descriptor)
