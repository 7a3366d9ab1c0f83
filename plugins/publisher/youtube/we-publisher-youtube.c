/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The YouTube publisher pillar (spec §3.3 plugin-publisher-youtube, §7.5):
 * VOD uploads through the YouTube Data API v3 resumable protocol, thumbnails
 * through thumbnails.set, metadata changes through videos.update.
 *
 * OAuth 2.0 as an installed application: client id, client secret and the
 * channel's refresh token come from the secrets backend (the configuration
 * only holds references); access tokens are minted at the token endpoint when
 * needed, kept until shortly before they expire and minted again when the
 * API answers 401.
 *
 * Live (issue 11): the action signal "open-destination" gives a restream the
 * RTMP(S) URL to send a YouTube live stream to: with a stream key in the
 * secrets backend (youtube_stream_key_secret_ref) the ingest URL and the key;
 * otherwise, with the OAuth keys, a new broadcast made through the Data API
 * (liveStreams.insert, liveBroadcasts.insert, liveBroadcasts.bind), whose
 * ingestion address and stream name make the URL. "live-transition" moves
 * such a broadcast to live or complete (liveBroadcasts.transition).
 *
 * Every upload runs in a GTask thread with its own main context and
 * SoupSession, using libsoup's blocking API: storage reads block anyway
 * (we-storage.h), and a thread keeps the caller's main loop free whatever the
 * network does. The source is streamed chunk by chunk from the storage
 * pillar; memory use is a chunk buffer and the copy being sent.
 */
#include <webencode/webencode.h>

#include <libsoup/soup.h>
#include <string.h>

/* YouTube's chunk granule: every chunk but the last is a multiple of it */
#define GRANULE             (256 * 1024)
#define MAX_CHUNK_KB        (256 * 1024)
#define MAX_ANSWER          (1024 * 1024)
/* thumbnails.set's documented limit */
#define MAX_THUMBNAIL       (2 * 1024 * 1024)
/* Google's advice for resumable uploads: back off exponentially, at most 32 s */
#define MAX_BACKOFF_MS      32000
/* an access token is minted again this long before Google says it expires */
#define TOKEN_LEEWAY_S      60
#define MAX_TITLE_CHARS     100
#define MAX_DESCRIPTION     5000
#define MAX_TAGS_CHARS      500

#define WE_TYPE_PUBLISHER_YOUTUBE (we_publisher_youtube_get_type ())
G_DECLARE_FINAL_TYPE (WePublisherYoutube, we_publisher_youtube, WE, PUBLISHER_YOUTUBE, GObject)

struct _WePublisherYoutube {
  GObject     parent_instance;

  /* configuration, immutable after create() */
  gboolean    configured;
  JsonObject *config;          /* for the *_ref keys, resolved when needed */
  WeSecrets  *secrets;         /* nullable */
  gchar      *client_id;       /* nullable: then client_id_secret_ref */
  gchar      *token_url;
  gchar      *api_base;        /* no trailing '/' */
  gchar      *upload_base;     /* no trailing '/' */
  gchar      *watch_url_base;
  gsize       chunk_size;
  guint       max_retries;
  guint       retry_base_ms;
  guint       timeout_s;
  gchar      *default_privacy;
  gchar      *default_category;
  gchar      *live_ingest_url;  /* no trailing '/' */
  gboolean    live_rtmps;       /* broadcasts: the rtmps ingestion address */
  gchar      *live_privacy;

  /* Serialises minting, so threads that all got a 401 cost Google one
   * token request. Taken before @lock, never while holding it. */
  GMutex      refresh_lock;
  /* Everything below under @lock. */
  GMutex      lock;
  gchar      *access_token;    /* nullable; wiped when replaced */
  gint64      access_expires;  /* monotonic µs */
};

static void we_publisher_youtube_iface_init (WePublisherInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (WePublisherYoutube, we_publisher_youtube, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (WE_TYPE_PUBLISHER,
                                                      we_publisher_youtube_iface_init))

static void
we_publisher_youtube_finalize (GObject *object)
{
  WePublisherYoutube *self = WE_PUBLISHER_YOUTUBE (object);

  g_clear_pointer (&self->config, json_object_unref);
  g_clear_object (&self->secrets);
  g_free (self->client_id);
  g_free (self->token_url);
  g_free (self->api_base);
  g_free (self->upload_base);
  g_free (self->watch_url_base);
  g_free (self->default_privacy);
  g_free (self->default_category);
  g_free (self->live_ingest_url);
  g_free (self->live_privacy);
  g_clear_pointer (&self->access_token, we_secret_free);
  g_mutex_clear (&self->refresh_lock);
  g_mutex_clear (&self->lock);
  G_OBJECT_CLASS (we_publisher_youtube_parent_class)->finalize (object);
}

static gpointer open_destination (WePublisherYoutube *self, const gchar *platform,
                                  JsonObject *options, GError **error, gpointer user_data);
static gboolean live_transition  (WePublisherYoutube *self, const gchar *broadcast_id,
                                  const gchar *status, GError **error, gpointer user_data);

static void
we_publisher_youtube_class_init (WePublisherYoutubeClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = we_publisher_youtube_finalize;
  /* (platform, JsonObject *options, GError **error) → JsonObject * (transfer
   * full, nullable) {"url", "broadcast_id"?, "stream_id"?}; options: "check"
   * (only say whether it could), "title", "description", "privacy". Blocks:
   * emit from a thread. The URL holds the stream key. */
  g_signal_new_class_handler ("open-destination", G_TYPE_FROM_CLASS (klass),
                              G_SIGNAL_RUN_LAST | G_SIGNAL_ACTION,
                              G_CALLBACK (open_destination), NULL, NULL, NULL,
                              G_TYPE_POINTER, 3, G_TYPE_STRING, G_TYPE_POINTER, G_TYPE_POINTER);
  /* (broadcast_id, "live" | "complete" | "testing", GError **error) → gboolean. Blocks. */
  g_signal_new_class_handler ("live-transition", G_TYPE_FROM_CLASS (klass),
                              G_SIGNAL_RUN_LAST | G_SIGNAL_ACTION,
                              G_CALLBACK (live_transition), NULL, NULL, NULL,
                              G_TYPE_BOOLEAN, 3, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_POINTER);
}

static void
we_publisher_youtube_init (WePublisherYoutube *self)
{
  g_mutex_init (&self->refresh_lock);
  g_mutex_init (&self->lock);
}

/* ---- HTTP: one private context and session per thread ---- */

typedef struct {
  GMainContext *context;
  SoupSession  *session;
} Http;

static Http *
http_new (WePublisherYoutube *self)
{
  Http *http = g_new0 (Http, 1);

  http->context = g_main_context_new ();
  g_main_context_push_thread_default (http->context);
  http->session = soup_session_new_with_options ("timeout", self->timeout_s, "idle-timeout",
                                                 self->timeout_s, "user-agent",
                                                 "webencode-publisher-youtube/" PLUGIN_VERSION,
                                                 NULL);
  return http;
}

static void
http_free (Http *http)
{
  g_clear_object (&http->session);
  g_main_context_pop_thread_default (http->context);
  g_main_context_unref (http->context);
  g_free (http);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Http, http_free)

/* Sends @msg and reads its answer (at most MAX_ANSWER bytes). NULL with a
 * G_IO_ERROR on a network failure or cancellation: the caller decides
 * whether that is worth a retry. */
static GBytes *
http_send (Http *http, SoupMessage *msg, GCancellable *cancellable, GError **error)
{
  g_autoptr(GInputStream) stream = NULL;
  g_autoptr(GByteArray) body = g_byte_array_new ();
  guint8 buf[8192];

  /* 308 is "Resume Incomplete" to Google, never a redirect to follow */
  soup_message_add_flags (msg, SOUP_MESSAGE_NO_REDIRECT);
  soup_message_headers_replace (soup_message_get_request_headers (msg), "Accept",
                                "application/json");
  stream = soup_session_send (http->session, msg, cancellable, error);
  if (stream == NULL)
    return NULL;
  for (;;) {
    gssize n = g_input_stream_read (stream, buf, sizeof buf, cancellable, error);
    if (n < 0)
      return NULL;
    if (n == 0)
      break;
    if (body->len + (gsize) n > MAX_ANSWER) {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE,
                   "answer larger than %d bytes", MAX_ANSWER);
      return NULL;
    }
    g_byte_array_append (body, buf, (guint) n);
  }
  g_input_stream_close (stream, NULL, NULL);
  return g_byte_array_free_to_bytes (g_steal_pointer (&body));
}

static JsonObject *
parse_object (GBytes *bytes)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  gsize len = 0;
  const gchar *data = bytes != NULL ? g_bytes_get_data (bytes, &len) : NULL;

  if (data == NULL || len == 0 ||
      !json_parser_load_from_data (parser, data, (gssize) len, NULL) ||
      !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    return NULL;
  return json_object_ref (json_node_get_object (json_parser_get_root (parser)));
}

static gboolean
is_transient (guint status)
{
  return status >= 500 || status == 429;  /* Too Many Requests: libsoup has no name for it */
}

/* Waits base·2^attempt (at most MAX_BACKOFF_MS) unless cancelled; FALSE when
 * the retries are used up or the wait was cancelled. */
static gboolean
backoff (WePublisherYoutube *self, guint *attempt, GCancellable *cancellable)
{
  guint64 ms;
  GPollFD pfd;

  if (*attempt >= self->max_retries)
    return FALSE;
  ms = MIN ((guint64) self->retry_base_ms << MIN (*attempt, 20u), (guint64) MAX_BACKOFF_MS);
  /* jitter, so several uploads that failed together do not retry together */
  ms += g_random_int_range (0, (gint32) MIN (ms / 4 + 1, 1000u));
  (*attempt)++;
  if (cancellable != NULL && g_cancellable_make_pollfd (cancellable, &pfd)) {
    g_poll (&pfd, 1, (gint) ms);
    g_cancellable_release_fd (cancellable);
  } else {
    g_usleep (ms * 1000);
  }
  return !g_cancellable_is_cancelled (cancellable);
}

/* The error to report for an answer we cannot go on from: YouTube's own
 * reason and message when it sent them. */
static void
set_api_error (GError **error, const gchar *what, guint status, GBytes *answer)
{
  g_autoptr(JsonObject) doc = parse_object (answer);
  JsonObject *err = doc != NULL && json_object_has_member (doc, "error") &&
                    JSON_NODE_HOLDS_OBJECT (json_object_get_member (doc, "error"))
                    ? json_object_get_object_member (doc, "error") : NULL;
  const gchar *message = err != NULL ? json_object_get_string_member_with_default (err, "message", NULL)
                                     : NULL;
  const gchar *reason = NULL;
  WeErrorCode code = status == SOUP_STATUS_BAD_REQUEST ? WE_ERROR_JOB_INVALID_REQUEST
                                                       : WE_ERROR_PLG_DEGRADED;

  if (err != NULL && json_object_has_member (err, "errors") &&
      JSON_NODE_HOLDS_ARRAY (json_object_get_member (err, "errors"))) {
    JsonArray *list = json_object_get_array_member (err, "errors");
    if (json_array_get_length (list) > 0 && JSON_NODE_HOLDS_OBJECT (json_array_get_element (list, 0)))
      reason = json_object_get_string_member_with_default (json_array_get_object_element (list, 0),
                                                           "reason", NULL);
  }
  g_set_error (error, WE_ERROR, code, "publisher-youtube: %s: YouTube answered %u%s%s%s%s%s", what,
               status, reason ? " (" : "", reason ? reason : "", reason ? ")" : "",
               message ? ": " : "", message ? message : "");
}

static void
set_network_error (GError **error, const gchar *what, GError *local)
{
  if (g_error_matches (local, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
    g_propagate_error (error, g_error_copy (local));
    return;
  }
  g_set_error (error, WE_ERROR, WE_ERROR_PLG_DEGRADED,
               "publisher-youtube: %s: YouTube is unreachable: %s", what, local->message);
}

/* ---- OAuth 2.0 ---- */

static gchar *
lookup_secret (WePublisherYoutube *self, const gchar *name, const gchar *key,
               GCancellable *cancellable, GError **error)
{
  g_autoptr(GError) local = NULL;
  gchar *value = we_plugin_config_get_secret (self->config, self->secrets, name, cancellable,
                                              &local);

  if (value == NULL && local == NULL)
    g_set_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                 "publisher-youtube: '%s' is not set", key);
  else if (value == NULL)
    g_set_error (error, local->domain, local->code, "publisher-youtube '%s': %s", key,
                 local->message);
  else if (value[0] == '\0') {
    we_secret_free (value);
    g_set_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                 "publisher-youtube '%s': the secret is empty", key);
    value = NULL;
  }
  return value;
}

/* One refresh_token grant (RFC 6749 §6). Returns the new access token. */
static gchar *
mint_token (WePublisherYoutube *self, Http *http, gint64 *expires_in, GCancellable *cancellable,
            GError **error)
{
  gchar *client_id = NULL;
  gchar *client_secret = NULL;
  gchar *refresh_token = NULL;
  gchar *form = NULL;
  gchar *token = NULL;
  guint attempt = 0;

  if (self->client_id != NULL)
    client_id = g_strdup (self->client_id);
  else
    client_id = lookup_secret (self, "client_id", "client_id_secret_ref", cancellable, error);
  if (client_id == NULL)
    goto out;
  client_secret = lookup_secret (self, "client", "client_secret_ref", cancellable, error);
  if (client_secret == NULL)
    goto out;
  refresh_token = lookup_secret (self, "refresh", "refresh_token_ref", cancellable, error);
  if (refresh_token == NULL)
    goto out;
  form = soup_form_encode ("grant_type", "refresh_token", "client_id", client_id,
                           "client_secret", client_secret, "refresh_token", refresh_token, NULL);

  for (;;) {
    g_autoptr(SoupMessage) msg = soup_message_new ("POST", self->token_url);
    g_autoptr(GBytes) body = NULL;
    g_autoptr(GBytes) answer = NULL;
    g_autoptr(JsonObject) doc = NULL;
    g_autoptr(GError) local = NULL;
    guint status;

    /* the form holds the secrets: libsoup gets a copy that is wiped too */
    gchar *copy = g_strdup (form);

    body = g_bytes_new_with_free_func (copy, strlen (copy), (GDestroyNotify) we_secret_free, copy);
    soup_message_set_request_body_from_bytes (msg, "application/x-www-form-urlencoded", body);
    answer = http_send (http, msg, cancellable, &local);
    status = soup_message_get_status (msg);
    if (answer == NULL || is_transient (status)) {
      if (!g_cancellable_is_cancelled (cancellable) && backoff (self, &attempt, cancellable))
        continue;
      if (answer == NULL)
        set_network_error (error, "minting an access token", local);
      else if (!g_cancellable_set_error_if_cancelled (cancellable, error))
        g_set_error (error, WE_ERROR, WE_ERROR_PLG_DEGRADED,
                     "publisher-youtube: the token endpoint answered %u", status);
      goto out;
    }
    doc = parse_object (answer);
    if (status == SOUP_STATUS_OK && doc != NULL &&
        json_object_get_string_member_with_default (doc, "access_token", NULL) != NULL) {
      token = g_strdup (json_object_get_string_member (doc, "access_token"));
      *expires_in = json_object_get_int_member_with_default (doc, "expires_in", 3600);
      goto out;
    }
    {
      const gchar *err = doc != NULL ? json_object_get_string_member_with_default (doc, "error", NULL)
                                     : NULL;
      const gchar *desc = doc != NULL
                          ? json_object_get_string_member_with_default (doc, "error_description", NULL)
                          : NULL;

      /* a refused grant or client will not get better by retrying: it is
       * the configuration that is wrong (or the channel revoked access) */
      if (g_strcmp0 (err, "invalid_grant") == 0)
        g_set_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                     "publisher-youtube: Google refused the refresh token (invalid_grant%s%s): "
                     "authorise the channel again and store the new refresh token under "
                     "refresh_token_ref", desc ? ": " : "", desc ? desc : "");
      else if (g_strcmp0 (err, "invalid_client") == 0 || g_strcmp0 (err, "unauthorized_client") == 0)
        g_set_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                     "publisher-youtube: Google refused the OAuth client (%s%s%s): check "
                     "client_id and client_secret_ref", err, desc ? ": " : "", desc ? desc : "");
      else
        g_set_error (error, WE_ERROR, WE_ERROR_PLG_DEGRADED,
                     "publisher-youtube: the token endpoint answered %u%s%s", status,
                     err ? ": " : "", err ? err : "");
      goto out;
    }
  }

out:
  we_secret_free (form);
  we_secret_free (refresh_token);
  we_secret_free (client_secret);
  we_secret_free (client_id);
  return token;
}

/* The access token to use: the cached one while it is valid and is not
 * @stale (the one the API just refused), else a fresh one. */
static gchar *
get_token (WePublisherYoutube *self, Http *http, const gchar *stale, GCancellable *cancellable,
           GError **error)
{
  gchar *token = NULL;
  gint64 expires_in = 0;

  g_mutex_lock (&self->refresh_lock);
  g_mutex_lock (&self->lock);
  if (self->access_token != NULL && g_get_monotonic_time () < self->access_expires &&
      g_strcmp0 (self->access_token, stale) != 0)
    token = g_strdup (self->access_token);
  g_mutex_unlock (&self->lock);
  if (token == NULL) {
    token = mint_token (self, http, &expires_in, cancellable, error);
    if (token != NULL) {
      g_mutex_lock (&self->lock);
      g_clear_pointer (&self->access_token, we_secret_free);
      self->access_token = g_strdup (token);
      self->access_expires = g_get_monotonic_time () +
                             MAX (expires_in - TOKEN_LEEWAY_S, 1) * G_USEC_PER_SEC;
      g_mutex_unlock (&self->lock);
      g_debug ("minted an access token valid for %" G_GINT64_FORMAT " s", expires_in);
    }
  }
  g_mutex_unlock (&self->refresh_lock);
  return token;
}

/* One request with the access token; a 401 mints a new token and sends
 * the request once more. NULL (and @error) on a network failure or when no
 * token can be had; otherwise the message, whatever its status. */
static SoupMessage *
send_authorized (WePublisherYoutube *self, Http *http, const gchar *method, const gchar *url,
                 const gchar *content_type, GBytes *body, const gchar *const *headers,
                 SoupMessageFlags flags, GBytes **answer, GCancellable *cancellable,
                 GError **error)
{
  gchar *token = get_token (self, http, NULL, cancellable, error);

  for (guint round = 0; token != NULL; round++) {
    g_autoptr(SoupMessage) msg = soup_message_new (method, url);
    SoupMessageHeaders *req;
    gchar *auth;

    if (msg == NULL) {
      g_set_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                   "publisher-youtube: not a valid URL for %s", method);
      break;
    }
    soup_message_add_flags (msg, flags);
    req = soup_message_get_request_headers (msg);
    auth = g_strconcat ("Bearer ", token, NULL);
    soup_message_headers_replace (req, "Authorization", auth);
    we_secret_free (auth);
    for (guint i = 0; headers != NULL && headers[i] != NULL && headers[i + 1] != NULL; i += 2)
      soup_message_headers_replace (req, headers[i], headers[i + 1]);
    if (body != NULL)
      soup_message_set_request_body_from_bytes (msg, content_type, body);
    else if (g_strcmp0 (method, "GET") != 0)
      soup_message_headers_set_content_length (req, 0);
    *answer = http_send (http, msg, cancellable, error);
    if (*answer == NULL)
      break;
    if (soup_message_get_status (msg) == SOUP_STATUS_UNAUTHORIZED && round == 0) {
      gchar *fresh;

      g_message ("YouTube refused the access token, minting a new one");
      g_clear_pointer (answer, g_bytes_unref);
      fresh = get_token (self, http, token, cancellable, error);
      we_secret_free (token);
      token = fresh;
      continue;
    }
    we_secret_free (token);
    return g_steal_pointer (&msg);
  }
  we_secret_free (token);
  return NULL;
}

/* send_authorized() with retries (exponential backoff) on network failures,
 * 5xx and 429: for requests that may simply be sent again. */
static SoupMessage *
api_call (WePublisherYoutube *self, Http *http, const gchar *what, const gchar *method,
          const gchar *url, const gchar *content_type, GBytes *body, const gchar *const *headers,
          GBytes **answer, GCancellable *cancellable, GError **error)
{
  guint attempt = 0;

  for (;;) {
    g_autoptr(GError) local = NULL;
    SoupMessage *msg = send_authorized (self, http, method, url, content_type, body, headers, 0,
                                        answer, cancellable, &local);

    if (msg != NULL && !is_transient (soup_message_get_status (msg)))
      return msg;
    /* a refused token or a bad configuration does not heal by waiting */
    if (msg == NULL && local->domain == WE_ERROR) {
      g_propagate_error (error, g_steal_pointer (&local));
      return NULL;
    }
    if (!g_cancellable_is_cancelled (cancellable) && backoff (self, &attempt, cancellable)) {
      g_debug ("%s: retrying (%u of %u)", what, attempt, self->max_retries);
      if (msg != NULL)
        g_clear_pointer (answer, g_bytes_unref);
      g_clear_object (&msg);
      continue;
    }
    if (g_cancellable_set_error_if_cancelled (cancellable, error)) {
      g_clear_object (&msg);
      g_clear_pointer (answer, g_bytes_unref);
      return NULL;
    }
    if (msg == NULL) {
      set_network_error (error, what, local);
      return NULL;
    }
    return msg;  /* still 5xx after every retry: the caller reports it */
  }
}

/* ---- the request ---- */

typedef struct {
  gchar      *url;
  gchar      *title;
  gchar      *description;
  gchar      *privacy;
  gchar     **tags;
  gchar      *thumbnail_url;
  gchar      *category_id;
  gint64      publish_at;
  WeStorage  *storage;
  void      (*progress) (guint64 sent, guint64 total, gpointer user_data);
  gpointer    progress_data;

  /* the upload's reading state: the buffer holds the source's bytes
   * [buf_start, buf_start + buf_len) and @in is positioned right after them */
  GInputStream *in;
  guint8       *buf;
  gsize         buf_len;
  guint64       buf_start;
} Job;

static void
job_free (Job *job)
{
  g_free (job->url);
  g_free (job->title);
  g_free (job->description);
  g_free (job->privacy);
  g_strfreev (job->tags);
  g_free (job->thumbnail_url);
  g_free (job->category_id);
  g_clear_object (&job->storage);
  g_clear_object (&job->in);
  g_free (job->buf);
  g_free (job);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Job, job_free)

static gboolean
has_markup (const gchar *text)
{
  return text != NULL && strpbrk (text, "<>") != NULL;
}

/* YouTube's documented limits, checked before a byte is sent. */
static Job *
job_new (WePublisherYoutube *self, const WePublishRequest *request, gboolean need_source,
         GError **error)
{
  g_autoptr(Job) job = g_new0 (Job, 1);
  gsize tag_chars = 0;

  if (request->platform != NULL && g_ascii_strcasecmp (request->platform, "youtube") != 0) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                 "publisher-youtube cannot publish to '%s'", request->platform);
    return NULL;
  }
  if (need_source && (request->local_object_url == NULL || request->local_object_url[0] == '\0')) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_JOB_INVALID_SOURCE,
                         "publisher-youtube: nothing to upload (local_object_url is empty)");
    return NULL;
  }
  if (request->title == NULL || request->title[0] == '\0' || !g_utf8_validate (request->title, -1, NULL) ||
      g_utf8_strlen (request->title, -1) > MAX_TITLE_CHARS || has_markup (request->title)) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                 "publisher-youtube: the title must be 1 to %d characters of UTF-8 without "
                 "'<' or '>'", MAX_TITLE_CHARS);
    return NULL;
  }
  if (request->description != NULL &&
      (strlen (request->description) > MAX_DESCRIPTION ||
       !g_utf8_validate (request->description, -1, NULL) || has_markup (request->description))) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                 "publisher-youtube: the description must be at most %d bytes of UTF-8 without "
                 "'<' or '>'", MAX_DESCRIPTION);
    return NULL;
  }
  for (guint i = 0; request->tags != NULL && request->tags[i] != NULL; i++) {
    if (!g_utf8_validate (request->tags[i], -1, NULL) || has_markup (request->tags[i])) {
      g_set_error_literal (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                           "publisher-youtube: tags must be UTF-8 without '<' or '>'");
      return NULL;
    }
    tag_chars += g_utf8_strlen (request->tags[i], -1) + (strchr (request->tags[i], ' ') ? 2 : 0);
  }
  if (tag_chars > MAX_TAGS_CHARS) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                 "publisher-youtube: the tags are longer than YouTube's %d characters",
                 MAX_TAGS_CHARS);
    return NULL;
  }
  job->privacy = g_strdup (request->privacy != NULL && request->privacy[0] != '\0'
                           ? request->privacy : self->default_privacy);
  if (!g_strv_contains ((const gchar *const[]) { "public", "unlisted", "private", NULL },
                        job->privacy)) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                 "publisher-youtube: privacy must be public, unlisted or private, not '%s'",
                 job->privacy);
    return NULL;
  }
  if (request->publish_at != 0) {
    if (request->publish_at <= g_get_real_time () / G_USEC_PER_SEC) {
      g_set_error_literal (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                           "publisher-youtube: publish_at must be in the future");
      return NULL;
    }
    /* YouTube schedules only private videos: it makes them public then */
    g_free (job->privacy);
    job->privacy = g_strdup ("private");
  }
  if (request->category_id != NULL && request->category_id[0] != '\0') {
    for (const gchar *p = request->category_id; *p != '\0'; p++)
      if (!g_ascii_isdigit (*p)) {
        g_set_error_literal (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                             "publisher-youtube: category_id is a number");
        return NULL;
      }
  }
  job->url = g_strdup (request->local_object_url);
  job->title = g_strdup (request->title);
  job->description = g_strdup (request->description);
  job->tags = g_strdupv ((gchar **) request->tags);
  job->thumbnail_url = request->thumbnail_url != NULL && request->thumbnail_url[0] != '\0'
                       ? g_strdup (request->thumbnail_url) : NULL;
  job->category_id = g_strdup (request->category_id != NULL && request->category_id[0] != '\0'
                               ? request->category_id : self->default_category);
  job->publish_at = request->publish_at;
  job->storage = request->storage != NULL ? g_object_ref (request->storage) : NULL;
  job->progress = request->progress;
  job->progress_data = request->progress_data;
  return g_steal_pointer (&job);
}

/* The "snippet" and "status" parts, for videos.insert and videos.update. */
static void
add_parts (JsonBuilder *b, Job *job)
{
  json_builder_set_member_name (b, "snippet");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "title");
  json_builder_add_string_value (b, job->title);
  json_builder_set_member_name (b, "description");
  json_builder_add_string_value (b, job->description != NULL ? job->description : "");
  if (job->tags != NULL && job->tags[0] != NULL) {
    json_builder_set_member_name (b, "tags");
    json_builder_begin_array (b);
    for (guint i = 0; job->tags[i] != NULL; i++)
      json_builder_add_string_value (b, job->tags[i]);
    json_builder_end_array (b);
  }
  json_builder_set_member_name (b, "categoryId");
  json_builder_add_string_value (b, job->category_id);
  json_builder_end_object (b);

  json_builder_set_member_name (b, "status");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "privacyStatus");
  json_builder_add_string_value (b, job->privacy);
  if (job->publish_at != 0) {
    g_autoptr(GDateTime) at = g_date_time_new_from_unix_utc (job->publish_at);
    g_autofree gchar *iso = g_date_time_format (at, "%Y-%m-%dT%H:%M:%SZ");
    json_builder_set_member_name (b, "publishAt");
    json_builder_add_string_value (b, iso);
  }
  json_builder_end_object (b);
}

static GBytes *
builder_to_bytes (JsonBuilder *b)
{
  g_autoptr(JsonGenerator) gen = json_generator_new ();
  g_autoptr(JsonNode) root = json_builder_get_root (b);
  gsize len = 0;
  gchar *text;

  json_generator_set_root (gen, root);
  text = json_generator_to_data (gen, &len);
  return g_bytes_new_take (text, len);
}

/* ---- reading through the storage pillar ---- */

static GFile *
local_file (const gchar *url, GError **error)
{
  if (g_str_has_prefix (url, "file://"))
    return g_file_new_for_uri (url);
  if (g_path_is_absolute (url))
    return g_file_new_for_path (url);
  g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_SOURCE,
               "publisher-youtube: no storage given for %s", url);
  return NULL;
}

static gboolean
source_stat (Job *job, const gchar *url, guint64 *size, gchar **content_type, GError **error)
{
  if (job->storage != NULL) {
    g_auto(WeObjectInfo) info = { 0 };

    if (!we_storage_handles_url (job->storage, url)) {
      g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_SOURCE,
                   "publisher-youtube: the storage given does not hold %s", url);
      return FALSE;
    }
    if (!we_storage_stat (job->storage, url, &info, error))
      return FALSE;
    *size = info.size;
    *content_type = g_steal_pointer (&info.content_type);
    return TRUE;
  } else {
    g_autoptr(GFile) file = local_file (url, error);
    g_autoptr(GFileInfo) info = NULL;
    g_autoptr(GError) local = NULL;

    if (file == NULL)
      return FALSE;
    info = g_file_query_info (file, G_FILE_ATTRIBUTE_STANDARD_SIZE, G_FILE_QUERY_INFO_NONE, NULL,
                              &local);
    if (info == NULL) {
      g_set_error (error, WE_ERROR,
                   g_error_matches (local, G_IO_ERROR, G_IO_ERROR_NOT_FOUND)
                   ? WE_ERROR_STO_NOT_FOUND : WE_ERROR_STO_UNAVAILABLE,
                   "publisher-youtube: %s", local->message);
      return FALSE;
    }
    *size = (guint64) g_file_info_get_size (info);
    *content_type = NULL;
    return TRUE;
  }
}

static GInputStream *
source_open (Job *job, const gchar *url, guint64 offset, GError **error)
{
  g_autoptr(GFile) file = NULL;
  g_autoptr(GFileInputStream) in = NULL;

  if (job->storage != NULL)
    return we_storage_open_read (job->storage, url, (goffset) offset, error);
  file = local_file (url, error);
  if (file == NULL)
    return NULL;
  in = g_file_read (file, NULL, error);
  if (in == NULL || (offset > 0 && !g_seekable_seek (G_SEEKABLE (in), (goffset) offset,
                                                     G_SEEK_SET, NULL, error)))
    return NULL;
  return G_INPUT_STREAM (g_steal_pointer (&in));
}

/* The source's bytes [offset, offset + len), as one chunk. Bytes the
 * buffer holds already are kept (a chunk Google took only part of is sent
 * on from the byte it acknowledged); a resume before the buffer opens the
 * source again at that offset. */
static GBytes *
source_chunk (WePublisherYoutube *self, Job *job, guint64 offset, gsize len,
              GCancellable *cancellable, GError **error)
{
  if (job->buf == NULL)
    job->buf = g_malloc (self->chunk_size);
  if (job->in == NULL || offset < job->buf_start || offset > job->buf_start + job->buf_len) {
    g_clear_object (&job->in);
    job->in = source_open (job, job->url, offset, error);
    if (job->in == NULL)
      return NULL;
    job->buf_start = offset;
    job->buf_len = 0;
  } else if (offset > job->buf_start) {
    gsize skip = (gsize) (offset - job->buf_start);
    memmove (job->buf, job->buf + skip, job->buf_len - skip);
    job->buf_len -= skip;
    job->buf_start = offset;
  }
  while (job->buf_len < len) {
    gssize n = g_input_stream_read (job->in, job->buf + job->buf_len, len - job->buf_len,
                                    cancellable, error);
    if (n < 0)
      return NULL;
    if (n == 0) {
      g_set_error (error, WE_ERROR, WE_ERROR_STO_UNAVAILABLE,
                   "publisher-youtube: the source ended before its size (byte %" G_GUINT64_FORMAT
                   ")", job->buf_start + job->buf_len);
      return NULL;
    }
    job->buf_len += (gsize) n;
  }
  return g_bytes_new (job->buf, len);
}

/* A whole small object (thumbnails), at most @max bytes. */
static GBytes *
read_small (Job *job, const gchar *url, gsize max, GCancellable *cancellable, GError **error)
{
  g_autoptr(GInputStream) in = source_open (job, url, 0, error);
  g_autoptr(GByteArray) data = g_byte_array_new ();
  guint8 buf[16384];

  if (in == NULL)
    return NULL;
  for (;;) {
    gssize n = g_input_stream_read (in, buf, sizeof buf, cancellable, error);
    if (n < 0)
      return NULL;
    if (n == 0)
      break;
    if (data->len + (gsize) n > max) {
      g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                   "publisher-youtube: the thumbnail is larger than %" G_GSIZE_FORMAT " bytes",
                   max);
      return NULL;
    }
    g_byte_array_append (data, buf, (guint) n);
  }
  return g_byte_array_free_to_bytes (g_steal_pointer (&data));
}

/* ---- the resumable upload ---- */

static gchar *
start_session (WePublisherYoutube *self, Http *http, Job *job, guint64 size,
               const gchar *content_type, GCancellable *cancellable, GError **error)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();
  g_autoptr(GBytes) body = NULL;
  g_autoptr(GBytes) answer = NULL;
  g_autoptr(SoupMessage) msg = NULL;
  g_autofree gchar *url = g_strconcat (self->upload_base,
                                       "/upload/youtube/v3/videos?uploadType=resumable"
                                       "&part=snippet,status", NULL);
  g_autofree gchar *length = g_strdup_printf ("%" G_GUINT64_FORMAT, size);
  const gchar *headers[] = { "X-Upload-Content-Length", length,
                             "X-Upload-Content-Type", content_type, NULL };
  const gchar *location;

  json_builder_begin_object (b);
  add_parts (b, job);
  json_builder_end_object (b);
  body = builder_to_bytes (b);
  msg = api_call (self, http, "starting the upload", "POST", url, "application/json; charset=UTF-8",
                  body, headers, &answer, cancellable, error);
  if (msg == NULL)
    return NULL;
  if (soup_message_get_status (msg) != SOUP_STATUS_OK) {
    set_api_error (error, "starting the upload", soup_message_get_status (msg), answer);
    return NULL;
  }
  location = soup_message_headers_get_one (soup_message_get_response_headers (msg), "Location");
  if (location == NULL || g_uri_peek_scheme (location) == NULL ||
      (g_strcmp0 (g_uri_peek_scheme (location), "https") != 0 &&
       g_strcmp0 (g_uri_peek_scheme (location), "http") != 0)) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_PLG_DEGRADED,
                         "publisher-youtube: YouTube started no upload session (no Location)");
    return NULL;
  }
  return g_strdup (location);
}

/* The first byte Google does not hold yet, from a 308's "Range: bytes=0-N". */
static gboolean
acknowledged (SoupMessage *msg, guint64 size, guint64 *next)
{
  const gchar *range = soup_message_headers_get_one (soup_message_get_response_headers (msg),
                                                     "Range");
  guint64 last;
  gchar *end = NULL;

  if (range == NULL) {
    *next = 0;
    return TRUE;
  }
  if (!g_str_has_prefix (range, "bytes=0-"))
    return FALSE;
  last = g_ascii_strtoull (range + strlen ("bytes=0-"), &end, 10);
  if (end == range + strlen ("bytes=0-") || *end != '\0' || last >= size)
    return FALSE;
  *next = last + 1;
  return TRUE;
}

static gchar *
video_id (GBytes *answer)
{
  g_autoptr(JsonObject) doc = parse_object (answer);
  const gchar *id = doc != NULL ? json_object_get_string_member_with_default (doc, "id", NULL) : NULL;

  if (id == NULL || id[0] == '\0' || strspn (id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                                 "0123456789_-") != strlen (id))
    return NULL;
  return g_strdup (id);
}

/* Sends the source in chunks until Google answers with the video resource.
 * A network failure or a 5xx is followed by a status query (after a
 * backoff) and the upload goes on from the byte Google acknowledges. */
static gchar *
upload (WePublisherYoutube *self, Http *http, Job *job, const gchar *session, guint64 size,
        GCancellable *cancellable, GError **error)
{
  guint64 offset = 0;
  guint attempt = 0;
  gboolean query = FALSE;
  g_autofree gchar *status_range = g_strdup_printf ("bytes */%" G_GUINT64_FORMAT, size);

  for (;;) {
    g_autoptr(SoupMessage) msg = NULL;
    g_autoptr(GBytes) answer = NULL;
    g_autoptr(GError) local = NULL;
    g_autofree gchar *range = NULL;
    guint status;

    if (query) {
      const gchar *headers[] = { "Content-Range", status_range, NULL };
      msg = send_authorized (self, http, "PUT", session, NULL, NULL, headers, 0, &answer,
                             cancellable, &local);
    } else {
      gsize len = (gsize) MIN ((guint64) self->chunk_size, size - offset);
      g_autoptr(GBytes) chunk = source_chunk (self, job, offset, len, cancellable, error);
      const gchar *headers[3] = { "Content-Range", NULL, NULL };

      if (chunk == NULL)
        return NULL;
      range = g_strdup_printf ("bytes %" G_GUINT64_FORMAT "-%" G_GUINT64_FORMAT "/%"
                               G_GUINT64_FORMAT, offset, offset + len - 1, size);
      headers[1] = range;
      /* On a kept-alive connection libsoup sends an idempotent request (PUT)
       * again by itself when the connection breaks before the answer, from
       * the chunk's first byte, although Google may hold part of it by then:
       * a fresh connection per chunk makes the break ours to handle, with a
       * status query. One handshake per chunk is little next to a chunk. */
      msg = send_authorized (self, http, "PUT", session, "application/octet-stream", chunk,
                             headers, SOUP_MESSAGE_NEW_CONNECTION, &answer, cancellable, &local);
    }
    status = msg != NULL ? soup_message_get_status (msg) : 0;
    if (msg == NULL || is_transient (status)) {
      if (msg == NULL && local->domain == WE_ERROR) {
        g_propagate_error (error, g_steal_pointer (&local));
        return NULL;
      }
      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        return NULL;
      g_message ("upload interrupted at byte %" G_GUINT64_FORMAT " (%s), asking YouTube what "
                 "it holds", offset, msg == NULL ? local->message : soup_message_get_reason_phrase (msg));
      if (!backoff (self, &attempt, cancellable)) {
        if (!g_cancellable_set_error_if_cancelled (cancellable, error)) {
          if (msg == NULL)
            set_network_error (error, "uploading", local);
          else
            set_api_error (error, "uploading", status, answer);
          g_prefix_error (error, "gave up after %u retries: ", self->max_retries);
        }
        return NULL;
      }
      query = TRUE;
      continue;
    }
    query = FALSE;
    if (status == SOUP_STATUS_OK || status == SOUP_STATUS_CREATED) {
      gchar *id = video_id (answer);
      if (id == NULL)
        g_set_error_literal (error, WE_ERROR, WE_ERROR_PLG_DEGRADED,
                             "publisher-youtube: YouTube finished the upload without a video id");
      else if (job->progress != NULL)
        job->progress (size, size, job->progress_data);
      return id;
    }
    if (status == SOUP_STATUS_PERMANENT_REDIRECT) {  /* 308 Resume Incomplete */
      guint64 next;

      if (!acknowledged (msg, size, &next)) {
        g_set_error_literal (error, WE_ERROR, WE_ERROR_PLG_DEGRADED,
                             "publisher-youtube: YouTube acknowledged an impossible range");
        return NULL;
      }
      if (range == NULL)
        g_message ("YouTube holds %" G_GUINT64_FORMAT " bytes: resuming from there", next);
      if (next > offset) {
        attempt = 0;
        if (job->progress != NULL)
          job->progress (next, size, job->progress_data);
      }
      offset = next;
      continue;
    }
    set_api_error (error, "uploading", status, answer);
    return NULL;
  }
}

static gboolean
thumbnail_content_type (Job *job, const gchar **content_type, GError **error)
{
  g_autofree gchar *lower = g_ascii_strdown (job->thumbnail_url, -1);

  if (g_str_has_suffix (lower, ".png"))
    *content_type = "image/png";
  else if (g_str_has_suffix (lower, ".jpg") || g_str_has_suffix (lower, ".jpeg"))
    *content_type = "image/jpeg";
  else {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                         "publisher-youtube: the thumbnail must be a .jpg, .jpeg or .png");
    return FALSE;
  }
  return TRUE;
}

static gboolean
set_thumbnail (WePublisherYoutube *self, Http *http, Job *job, const gchar *id,
               GCancellable *cancellable, GError **error)
{
  g_autoptr(GBytes) image = NULL;
  g_autoptr(GBytes) answer = NULL;
  g_autoptr(SoupMessage) msg = NULL;
  g_autofree gchar *url = NULL;
  const gchar *content_type;

  if (!thumbnail_content_type (job, &content_type, error))
    return FALSE;
  if (job->storage != NULL && !we_storage_handles_url (job->storage, job->thumbnail_url)) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_SOURCE,
                 "publisher-youtube: the storage given does not hold %s", job->thumbnail_url);
    return FALSE;
  }
  image = read_small (job, job->thumbnail_url, MAX_THUMBNAIL, cancellable, error);
  if (image == NULL)
    return FALSE;
  url = g_strconcat (self->upload_base, "/upload/youtube/v3/thumbnails/set?videoId=", id,
                     "&uploadType=media", NULL);
  msg = api_call (self, http, "setting the thumbnail", "POST", url, content_type, image, NULL,
                  &answer, cancellable, error);
  if (msg == NULL)
    return FALSE;
  if (soup_message_get_status (msg) != SOUP_STATUS_OK) {
    set_api_error (error, "setting the thumbnail", soup_message_get_status (msg), answer);
    return FALSE;
  }
  return TRUE;
}

static void
publish_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  WePublisherYoutube *self = source;
  Job *job = task_data;
  g_autoptr(Http) http = http_new (self);
  g_autoptr(GError) error = NULL;
  g_autofree gchar *content_type = NULL;
  g_autofree gchar *session = NULL;
  g_autofree gchar *id = NULL;
  WePublishResult *result;
  guint64 size = 0;

  if (!source_stat (job, job->url, &size, &content_type, &error)) {
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }
  if (size == 0) {
    g_task_return_new_error (task, WE_ERROR, WE_ERROR_JOB_INVALID_SOURCE,
                             "publisher-youtube: %s is empty", job->url);
    return;
  }
  if (content_type == NULL || !g_str_has_prefix (content_type, "video/")) {
    g_free (content_type);
    content_type = g_strdup ("video/*");
  }
  g_debug ("uploading %" G_GUINT64_FORMAT " bytes in chunks of %" G_GSIZE_FORMAT, size,
           self->chunk_size);
  session = start_session (self, http, job, size, content_type, cancellable, &error);
  if (session != NULL)
    id = upload (self, http, job, session, size, cancellable, &error);
  g_clear_object (&job->in);
  g_clear_pointer (&job->buf, g_free);
  if (id == NULL) {
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }
  g_message ("uploaded video %s", id);
  /* the video is there already: a thumbnail YouTube refuses is worth a
   * warning, not a failed publish that would lose the video's id */
  if (job->thumbnail_url != NULL && !set_thumbnail (self, http, job, id, cancellable, &error)) {
    if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
    g_warning ("video %s: %s", id, error->message);
    g_clear_error (&error);
  }
  result = g_new0 (WePublishResult, 1);
  result->success = TRUE;
  result->platform_id = g_steal_pointer (&id);
  result->public_url = g_strconcat (self->watch_url_base, result->platform_id, NULL);
  g_task_return_pointer (task, result, (GDestroyNotify) we_publish_result_free);
}

static gboolean
check_configured (WePublisherYoutube *self, GError **error)
{
  if (self->configured)
    return TRUE;
  g_set_error_literal (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                       "publisher-youtube is not configured: set client_id, client_secret_ref "
                       "and refresh_token_ref");
  return FALSE;
}

static void
we_publisher_youtube_publish_vod_async (WePublisher *publisher, const WePublishRequest *request,
                                        GCancellable *cancellable, GAsyncReadyCallback callback,
                                        gpointer user_data)
{
  WePublisherYoutube *self = WE_PUBLISHER_YOUTUBE (publisher);
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
  g_autoptr(GError) error = NULL;
  g_autoptr(Job) job = NULL;
  const gchar *thumbnail_type;

  g_task_set_source_tag (task, we_publisher_youtube_publish_vod_async);
  g_task_set_name (task, "publisher-youtube upload");
  /* what can be refused without the network is refused before any upload */
  if (!check_configured (self, &error) ||
      (job = job_new (self, request, TRUE, &error)) == NULL ||
      (job->thumbnail_url != NULL && !thumbnail_content_type (job, &thumbnail_type, &error))) {
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }
  g_task_set_task_data (task, g_steal_pointer (&job), (GDestroyNotify) job_free);
  g_task_run_in_thread (task, publish_thread);
}

static WePublishResult *
we_publisher_youtube_publish_vod_finish (WePublisher *publisher, GAsyncResult *result,
                                         GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, publisher), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

/* videos.update, then the thumbnail when one is given. Blocks: called from
 * a worker thread. */
static gboolean
we_publisher_youtube_update_metadata (WePublisher *publisher, const gchar *platform_id,
                                      const WePublishRequest *request, GError **error)
{
  WePublisherYoutube *self = WE_PUBLISHER_YOUTUBE (publisher);
  g_autoptr(Job) job = NULL;
  g_autoptr(Http) http = NULL;
  g_autoptr(JsonBuilder) b = json_builder_new ();
  g_autoptr(GBytes) body = NULL;
  g_autoptr(GBytes) answer = NULL;
  g_autoptr(SoupMessage) msg = NULL;
  g_autofree gchar *url = NULL;
  const gchar *thumbnail_type;

  if (!check_configured (self, error))
    return FALSE;
  if (platform_id == NULL || platform_id[0] == '\0' || strlen (platform_id) > 64 ||
      strspn (platform_id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") !=
      strlen (platform_id)) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                         "publisher-youtube: not a YouTube video id");
    return FALSE;
  }
  job = job_new (self, request, FALSE, error);
  if (job == NULL ||
      (job->thumbnail_url != NULL && !thumbnail_content_type (job, &thumbnail_type, error)))
    return FALSE;
  http = http_new (self);
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "id");
  json_builder_add_string_value (b, platform_id);
  add_parts (b, job);
  json_builder_end_object (b);
  body = builder_to_bytes (b);
  url = g_strconcat (self->api_base, "/youtube/v3/videos?part=snippet,status", NULL);
  msg = api_call (self, http, "updating the video", "PUT", url, "application/json; charset=UTF-8",
                  body, NULL, &answer, NULL, error);
  if (msg == NULL)
    return FALSE;
  if (soup_message_get_status (msg) != SOUP_STATUS_OK) {
    set_api_error (error, "updating the video", soup_message_get_status (msg), answer);
    return FALSE;
  }
  if (job->thumbnail_url != NULL)
    return set_thumbnail (self, http, job, platform_id, NULL, error);
  return TRUE;
}

/* ---- live ---- */

#define LIVE_INGEST_DEFAULT "rtmps://a.rtmps.youtube.com:443/live2"

static gboolean has_key (JsonObject *config, const gchar *key);

static gchar *
join_key (const gchar *base, const gchar *key)
{
  gsize len = strlen (base);

  while (len > 0 && base[len - 1] == '/')
    len--;
  return g_strdup_printf ("%.*s/%s", (int) len, base, key);
}

/* POST @url with @body (nullable) as JSON; the answer's object on 200. */
static JsonObject *
live_post (WePublisherYoutube *self, Http *http, const gchar *what, const gchar *url,
           GBytes *body, GError **error)
{
  g_autoptr(GBytes) answer = NULL;
  g_autoptr(SoupMessage) msg = NULL;
  JsonObject *doc;

  msg = api_call (self, http, what, "POST", url, "application/json; charset=UTF-8", body, NULL,
                  &answer, NULL, error);
  if (msg == NULL)
    return NULL;
  if (soup_message_get_status (msg) != SOUP_STATUS_OK) {
    set_api_error (error, what, soup_message_get_status (msg), answer);
    return NULL;
  }
  doc = parse_object (answer);
  if (doc == NULL)
    g_set_error (error, WE_ERROR, WE_ERROR_PLG_DEGRADED,
                 "publisher-youtube: %s: YouTube's answer is not a JSON object", what);
  return doc;
}

static const gchar *
member_path (JsonObject *o, const gchar *a, const gchar *b, const gchar *c)
{
  const gchar *names[] = { a, b, c };

  for (guint i = 0; i < G_N_ELEMENTS (names) && o != NULL; i++) {
    JsonNode *n = json_object_get_member (o, names[i]);

    if (i == G_N_ELEMENTS (names) - 1 || names[i + 1] == NULL)
      return n != NULL && JSON_NODE_HOLDS_VALUE (n) &&
             json_node_get_value_type (n) == G_TYPE_STRING ? json_node_get_string (n) : NULL;
    o = n != NULL && JSON_NODE_HOLDS_OBJECT (n) ? json_node_get_object (n) : NULL;
  }
  return NULL;
}

/* liveStreams.insert + liveBroadcasts.insert + liveBroadcasts.bind: a new
 * broadcast ready to take a stream, and the URL to send it to. */
static JsonObject *
create_broadcast (WePublisherYoutube *self, JsonObject *options, GError **error)
{
  g_autoptr(Http) http = http_new (self);
  g_autoptr(JsonBuilder) b = json_builder_new ();
  g_autoptr(JsonBuilder) sb = json_builder_new ();
  g_autoptr(GBytes) body = NULL;
  g_autoptr(JsonObject) stream = NULL;
  g_autoptr(JsonObject) broadcast = NULL;
  g_autoptr(JsonObject) bound = NULL;
  g_autoptr(GDateTime) now = g_date_time_new_now_utc ();
  g_autofree gchar *start = g_date_time_format (now, "%Y-%m-%dT%H:%M:%SZ");
  g_autofree gchar *url = NULL;
  g_autofree gchar *title = NULL;
  g_autofree gchar *sid_q = NULL;
  g_autofree gchar *bid_q = NULL;
  const gchar *t = options != NULL ? json_object_get_string_member_with_default (options, "title",
                                                                                 NULL) : NULL;
  const gchar *description = options != NULL
    ? json_object_get_string_member_with_default (options, "description", NULL) : NULL;
  const gchar *privacy = options != NULL
    ? json_object_get_string_member_with_default (options, "privacy", NULL) : NULL;
  const gchar *stream_id, *broadcast_id, *address, *name;
  JsonObject *out;

  if (privacy == NULL)
    privacy = self->live_privacy;
  if (!g_strv_contains ((const gchar *const[]) { "public", "unlisted", "private", NULL },
                        privacy)) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                         "publisher-youtube: privacy must be public, unlisted or private");
    return NULL;
  }
  /* YouTube takes at most 100 characters and no '<' '>' in a title */
  title = g_utf8_substring (t != NULL && t[0] != '\0' ? t : "Live stream", 0,
                            MIN (g_utf8_strlen (t != NULL && t[0] != '\0' ? t : "Live stream", -1),
                                 MAX_TITLE_CHARS));
  g_strdelimit (title, "<>", ' ');

  json_builder_begin_object (sb);
  json_builder_set_member_name (sb, "snippet");
  json_builder_begin_object (sb);
  json_builder_set_member_name (sb, "title");
  json_builder_add_string_value (sb, title);
  json_builder_end_object (sb);
  json_builder_set_member_name (sb, "cdn");
  json_builder_begin_object (sb);
  json_builder_set_member_name (sb, "ingestionType");
  json_builder_add_string_value (sb, "rtmp");
  json_builder_set_member_name (sb, "resolution");
  json_builder_add_string_value (sb, "variable");
  json_builder_set_member_name (sb, "frameRate");
  json_builder_add_string_value (sb, "variable");
  json_builder_end_object (sb);
  json_builder_set_member_name (sb, "contentDetails");
  json_builder_begin_object (sb);
  json_builder_set_member_name (sb, "isReusable");
  json_builder_add_boolean_value (sb, FALSE);
  json_builder_end_object (sb);
  json_builder_end_object (sb);
  body = builder_to_bytes (sb);
  url = g_strconcat (self->api_base, "/youtube/v3/liveStreams?part=snippet,cdn,contentDetails,status",
                     NULL);
  stream = live_post (self, http, "creating the live stream", url, body, error);
  if (stream == NULL)
    return NULL;
  stream_id = member_path (stream, "id", NULL, NULL);
  name = member_path (stream, "cdn", "ingestionInfo", "streamName");
  address = self->live_rtmps ? member_path (stream, "cdn", "ingestionInfo",
                                            "rtmpsIngestionAddress") : NULL;
  if (address == NULL)
    address = member_path (stream, "cdn", "ingestionInfo", "ingestionAddress");
  if (stream_id == NULL || name == NULL || address == NULL ||
      (!g_str_has_prefix (address, "rtmp://") && !g_str_has_prefix (address, "rtmps://"))) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_PLG_DEGRADED,
                         "publisher-youtube: liveStreams.insert answered no rtmp(s) ingestion "
                         "address and stream name");
    return NULL;
  }

  g_clear_pointer (&body, g_bytes_unref);
  g_clear_pointer (&url, g_free);
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "snippet");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "title");
  json_builder_add_string_value (b, title);
  if (description != NULL) {
    json_builder_set_member_name (b, "description");
    json_builder_add_string_value (b, description);
  }
  json_builder_set_member_name (b, "scheduledStartTime");
  json_builder_add_string_value (b, start);
  json_builder_end_object (b);
  json_builder_set_member_name (b, "status");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "privacyStatus");
  json_builder_add_string_value (b, privacy);
  json_builder_set_member_name (b, "selfDeclaredMadeForKids");
  json_builder_add_boolean_value (b, FALSE);
  json_builder_end_object (b);
  /* we say when it is live and when it ends (live-transition); no monitor
   * stream, so the broadcast may go from ready to live directly */
  json_builder_set_member_name (b, "contentDetails");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "enableAutoStart");
  json_builder_add_boolean_value (b, FALSE);
  json_builder_set_member_name (b, "enableAutoStop");
  json_builder_add_boolean_value (b, FALSE);
  json_builder_set_member_name (b, "monitorStream");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "enableMonitorStream");
  json_builder_add_boolean_value (b, FALSE);
  json_builder_end_object (b);
  json_builder_end_object (b);
  json_builder_end_object (b);
  body = builder_to_bytes (b);
  url = g_strconcat (self->api_base,
                     "/youtube/v3/liveBroadcasts?part=snippet,status,contentDetails", NULL);
  broadcast = live_post (self, http, "creating the live broadcast", url, body, error);
  if (broadcast == NULL)
    return NULL;
  broadcast_id = member_path (broadcast, "id", NULL, NULL);
  if (broadcast_id == NULL) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_PLG_DEGRADED,
                         "publisher-youtube: liveBroadcasts.insert answered no id");
    return NULL;
  }

  g_clear_pointer (&url, g_free);
  bid_q = g_uri_escape_string (broadcast_id, NULL, FALSE);
  sid_q = g_uri_escape_string (stream_id, NULL, FALSE);
  url = g_strdup_printf ("%s/youtube/v3/liveBroadcasts/bind?id=%s&streamId=%s"
                         "&part=id,contentDetails", self->api_base, bid_q, sid_q);
  bound = live_post (self, http, "binding the live stream to the broadcast", url, NULL, error);
  if (bound == NULL)
    return NULL;

  out = json_object_new ();
  {
    gchar *open = join_key (address, name);

    json_object_set_string_member (out, "url", open);
    we_secret_free (open);
  }
  json_object_set_string_member (out, "broadcast_id", broadcast_id);
  json_object_set_string_member (out, "stream_id", stream_id);
  g_message ("publisher-youtube: live broadcast %s made, bound to stream %s", broadcast_id,
             stream_id);
  return out;
}

static gpointer
open_destination (WePublisherYoutube *self, const gchar *platform, JsonObject *options,
                  GError **error, gpointer user_data)
{
  gboolean check = options != NULL &&
                   json_object_get_boolean_member_with_default (options, "check", FALSE);
  JsonObject *out;

  if (g_strcmp0 (platform, "youtube") != 0) {
    g_set_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                 "publisher-youtube streams to youtube only, not %s",
                 platform != NULL ? platform : "(no platform)");
    return NULL;
  }
  if (has_key (self->config, "youtube_stream_key_secret_ref")) {
    gchar *key = lookup_secret (self, "youtube_stream_key", "youtube_stream_key_secret_ref",
                                NULL, error);
    gchar *url;

    if (key == NULL)
      return NULL;
    url = join_key (self->live_ingest_url, key);
    we_secret_free (key);
    out = json_object_new ();
    json_object_set_string_member (out, "url", url);
    we_secret_free (url);
    return out;
  }
  if (!self->configured) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                         "publisher-youtube has no live configuration: set "
                         "youtube_stream_key_secret_ref, or the OAuth keys (client_id, "
                         "client_secret_ref, refresh_token_ref) to make broadcasts");
    return NULL;
  }
  if (check)
    return json_object_new ();   /* a broadcast is made when the stream starts */
  return create_broadcast (self, options, error);
}

static gboolean
live_transition (WePublisherYoutube *self, const gchar *broadcast_id, const gchar *status,
                 GError **error, gpointer user_data)
{
  g_autoptr(Http) http = NULL;
  g_autoptr(JsonObject) answer = NULL;
  g_autofree gchar *bid_q = NULL;
  g_autofree gchar *url = NULL;
  g_autofree gchar *what = NULL;

  if (!check_configured (self, error))
    return FALSE;
  if (broadcast_id == NULL || broadcast_id[0] == '\0' ||
      !g_strv_contains ((const gchar *const[]) { "testing", "live", "complete", NULL }, status)) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                         "publisher-youtube: a transition needs a broadcast id and testing, "
                         "live or complete");
    return FALSE;
  }
  http = http_new (self);
  bid_q = g_uri_escape_string (broadcast_id, NULL, FALSE);
  url = g_strdup_printf ("%s/youtube/v3/liveBroadcasts/transition?broadcastStatus=%s&id=%s"
                         "&part=id,status", self->api_base, status, bid_q);
  what = g_strdup_printf ("moving broadcast %s to %s", broadcast_id, status);
  answer = live_post (self, http, what, url, NULL, error);
  if (answer == NULL)
    return FALSE;
  g_message ("publisher-youtube: broadcast %s is %s", broadcast_id, status);
  return TRUE;
}

static void
we_publisher_youtube_iface_init (WePublisherInterface *iface)
{
  iface->publish_vod_async = we_publisher_youtube_publish_vod_async;
  iface->publish_vod_finish = we_publisher_youtube_publish_vod_finish;
  iface->update_metadata = we_publisher_youtube_update_metadata;
}

/* ---- the module ---- */

/* An http(s) base URL, returned without a trailing '/'. */
static gchar *
base_url (JsonObject *config, const gchar *key, const gchar *default_value, GError **error)
{
  const gchar *value = we_plugin_config_get_string (config, key, default_value);
  g_autoptr(GUri) uri = NULL;
  gsize len;

  if (value == NULL || value[0] == '\0')
    value = default_value;
  uri = g_uri_parse (value, G_URI_FLAGS_NONE, NULL);
  if (uri == NULL || (g_strcmp0 (g_uri_get_scheme (uri), "https") != 0 &&
                      g_strcmp0 (g_uri_get_scheme (uri), "http") != 0) ||
      g_uri_get_host (uri) == NULL || g_uri_get_userinfo (uri) != NULL) {
    g_set_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                 "publisher-youtube '%s' must be an http(s) URL without credentials, not %s", key,
                 value);
    return NULL;
  }
  len = strlen (value);
  while (len > 0 && value[len - 1] == '/')
    len--;
  return g_strndup (value, len);
}

static gboolean
int_in_range (JsonObject *config, const gchar *key, gint64 def, gint64 min, gint64 max,
              gint64 *out, GError **error)
{
  *out = we_plugin_config_get_int (config, key, def);
  if (*out < min || *out > max) {
    g_set_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                 "publisher-youtube '%s' must be between %" G_GINT64_FORMAT " and %"
                 G_GINT64_FORMAT, key, min, max);
    return FALSE;
  }
  return TRUE;
}

static gboolean
has_key (JsonObject *config, const gchar *key)
{
  const gchar *v = we_plugin_config_get_string (config, key, NULL);
  return v != NULL && v[0] != '\0';
}

static GObject *
we_publisher_youtube_create_with_secrets (JsonObject *config, WeSecrets *secrets, GError **error)
{
  g_autoptr(WePublisherYoutube) self = g_object_new (WE_TYPE_PUBLISHER_YOUTUBE, NULL);
  gint64 chunk_kb, v;
  const gchar *privacy;

  self->config = config != NULL ? json_object_ref (config) : json_object_new ();
  self->secrets = secrets != NULL ? g_object_ref (secrets) : NULL;
  self->configured = has_key (self->config, "client_id") ||
                     has_key (self->config, "client_id_secret_ref") ||
                     has_key (self->config, "client_secret_ref") ||
                     has_key (self->config, "refresh_token_ref");
  if (self->configured) {
    /* all or nothing: half a configuration is a mistake to show at load */
    if (!has_key (self->config, "client_id") && !has_key (self->config, "client_id_secret_ref")) {
      g_set_error_literal (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                           "publisher-youtube needs 'client_id' or 'client_id_secret_ref'");
      return NULL;
    }
    if (has_key (self->config, "client_id") && has_key (self->config, "client_id_secret_ref")) {
      g_set_error_literal (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                           "publisher-youtube: set only one of 'client_id' and "
                           "'client_id_secret_ref'");
      return NULL;
    }
    for (guint i = 0; i < 2; i++) {
      const gchar *key = i == 0 ? "client_secret_ref" : "refresh_token_ref";
      if (!has_key (self->config, key)) {
        g_set_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                     "publisher-youtube needs '%s' (a reference into the secrets backend)", key);
        return NULL;
      }
    }
    if (secrets == NULL) {
      g_set_error_literal (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                           "publisher-youtube: its *_ref keys need a secrets backend, and no "
                           "secrets backend is configured ([secrets] in the service "
                           "configuration)");
      return NULL;
    }
    self->client_id = g_strdup (we_plugin_config_get_string (self->config, "client_id", NULL));
    if (self->client_id != NULL && self->client_id[0] == '\0')
      g_clear_pointer (&self->client_id, g_free);
  }

  if ((self->token_url = base_url (self->config, "oauth_token_url",
                                   "https://oauth2.googleapis.com/token", error)) == NULL ||
      (self->api_base = base_url (self->config, "api_base_url", "https://www.googleapis.com",
                                  error)) == NULL ||
      (self->upload_base = base_url (self->config, "upload_base_url",
                                     "https://www.googleapis.com", error)) == NULL)
    return NULL;
  self->watch_url_base = g_strdup (we_plugin_config_get_string (self->config, "watch_url_base",
                                                                "https://www.youtube.com/watch?v="));

  if (!int_in_range (self->config, "chunk_size_kb", 8192, 256, MAX_CHUNK_KB, &chunk_kb, error))
    return NULL;
  if (chunk_kb % 256 != 0) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                         "publisher-youtube 'chunk_size_kb' must be a multiple of 256 (YouTube "
                         "takes chunks in multiples of 256 KiB)");
    return NULL;
  }
  self->chunk_size = (gsize) chunk_kb * 1024;
  if (!int_in_range (self->config, "max_retries", 8, 0, 30, &v, error))
    return NULL;
  self->max_retries = (guint) v;
  if (!int_in_range (self->config, "retry_base_ms", 1000, 1, 60000, &v, error))
    return NULL;
  self->retry_base_ms = (guint) v;
  if (!int_in_range (self->config, "timeout_s", 120, 1, 3600, &v, error))
    return NULL;
  self->timeout_s = (guint) v;

  privacy = we_plugin_config_get_string (self->config, "default_privacy", "private");
  if (!g_strv_contains ((const gchar *const[]) { "public", "unlisted", "private", NULL }, privacy)) {
    g_set_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                 "publisher-youtube 'default_privacy' must be public, unlisted or private, not %s",
                 privacy);
    return NULL;
  }
  self->default_privacy = g_strdup (privacy);
  self->default_category = g_strdup (we_plugin_config_get_string (self->config,
                                                                   "default_category_id", "22"));
  {
    const gchar *ingest = we_plugin_config_get_string (self->config, "live_ingest_url", NULL);
    const gchar *proto = we_plugin_config_get_string (self->config, "live_ingest_protocol",
                                                      "rtmps");
    g_autoptr(GUri) uri = NULL;
    gsize len;

    if (ingest == NULL || ingest[0] == '\0')
      ingest = LIVE_INGEST_DEFAULT;
    uri = g_uri_parse (ingest, G_URI_FLAGS_NONE, NULL);
    if (uri == NULL || g_uri_get_host (uri) == NULL || g_uri_get_userinfo (uri) != NULL ||
        (g_strcmp0 (g_uri_get_scheme (uri), "rtmp") != 0 &&
         g_strcmp0 (g_uri_get_scheme (uri), "rtmps") != 0)) {
      g_set_error_literal (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                           "publisher-youtube 'live_ingest_url' must be an rtmp:// or rtmps:// "
                           "URL without credentials");
      return NULL;
    }
    len = strlen (ingest);
    while (len > 0 && ingest[len - 1] == '/')
      len--;
    self->live_ingest_url = g_strndup (ingest, len);
    if (g_strcmp0 (proto, "rtmps") != 0 && g_strcmp0 (proto, "rtmp") != 0) {
      g_set_error_literal (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                           "publisher-youtube 'live_ingest_protocol' must be rtmps or rtmp");
      return NULL;
    }
    self->live_rtmps = g_str_equal (proto, "rtmps");
    self->live_privacy = g_strdup (we_plugin_config_get_string (self->config, "live_privacy",
                                                                self->default_privacy));
    if (!g_strv_contains ((const gchar *const[]) { "public", "unlisted", "private", NULL },
                          self->live_privacy)) {
      g_set_error_literal (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                           "publisher-youtube 'live_privacy' must be public, unlisted or private");
      return NULL;
    }
    if (has_key (self->config, "youtube_stream_key_secret_ref") && secrets == NULL) {
      g_set_error_literal (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                           "publisher-youtube: 'youtube_stream_key_secret_ref' needs a secrets "
                           "backend ([secrets] in the service configuration)");
      return NULL;
    }
  }
  if (self->default_category[0] == '\0' ||
      strspn (self->default_category, "0123456789") != strlen (self->default_category)) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                         "publisher-youtube 'default_category_id' must be a number");
    return NULL;
  }
  return G_OBJECT (g_steal_pointer (&self));
}

static GObject *
we_publisher_youtube_create (JsonObject *config, GError **error)
{
  return we_publisher_youtube_create_with_secrets (config, NULL, error);
}

static const gchar *const config_keys[] = {
  "client_id", "client_id_secret_ref", "client_secret_ref", "refresh_token_ref",
  "oauth_token_url", "api_base_url", "upload_base_url", "watch_url_base", "chunk_size_kb",
  "max_retries", "retry_base_ms", "timeout_s", "default_privacy", "default_category_id",
  "youtube_stream_key_secret_ref", "live_ingest_url", "live_ingest_protocol", "live_privacy", NULL
};

static const WePluginDescriptor descriptor = {
  .protocol_version = WE_PLUGIN_PROTOCOL_VERSION,
  .abi_minor = WE_PLUGIN_ABI_MINOR,
  .id = "publisher-youtube",
  .pillar = WE_PILLAR_PUBLISHER,
  .version = PLUGIN_VERSION,
  .config_keys = config_keys,
  .create = we_publisher_youtube_create,
  .create_with_secrets = we_publisher_youtube_create_with_secrets,
};

WE_PLUGIN_DEFINE (descriptor)
