/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"
#include "we-api-server.h"

#include "common/we-log.h"
#include "core/we-publish.h"
#include "core/we-rbac.h"
#include "we-api-handlers.h"
#include "we-api-private.h"
#include "we-api-ws.h"

struct _WeApiServer {
  GObject         parent_instance;
  WeApiContext    context;
  SoupServer     *soup;
  gint64          started_at;
  WeLoginLimiter *login_limiter;
  WeWsHub        *ws;  /* the dashboard WebSocket, /v1/ws */
  WePublishRunner *publish;  /* the kernel's publish runner (core/we-publish.c) */
  gulong          publish_changed_id;
};

G_DEFINE_TYPE (WeApiServer, we_api_server, G_TYPE_OBJECT)

/* Every entry point, with the action RBAC and the audit log know it by
 * (src/core/we-rbac.c holds the roles). tests/integration/test_rbac.py walks
 * this table against tests/rbac-matrix.json. */
static const WeApiRoute routes[] = {
  { "GET", "/health", "system.health", we_api_health },
  { "GET", "/v1/auth/config", "auth.login", we_api_auth_config },
  { "GET", "/v1/auth/login", "auth.login", we_api_auth_login },
  { "GET", "/v1/auth/callback", "auth.login", we_api_auth_callback },
  { "POST", "/v1/auth/refresh", "auth.login", we_api_auth_refresh },
  { "POST", "/v1/auth/logout", "auth.session", we_api_auth_logout },
  { "GET", "/v1/auth/me", "auth.session", we_api_auth_me },
  { "GET", "/v1/users", "user.read", we_api_users_list },
  { "GET", "/v1/tokens", "token.read", we_api_tokens_list },
  { "POST", "/v1/tokens", "token.create", we_api_tokens_create },
  { "DELETE", "/v1/tokens/{}", "token.revoke", we_api_tokens_revoke },
  { "GET", "/v1/audit", "audit.read", we_api_audit_list },
  { "GET", "/v1/profiles", "profile.read", we_api_profiles_list },
  { "GET", "/v1/profiles/{}", "profile.read", we_api_profiles_get },
  { "POST", "/v1/profiles", "profile.create", we_api_profiles_create },
  { "PUT", "/v1/profiles/{}", "profile.update", we_api_profiles_replace },
  { "DELETE", "/v1/profiles/{}", "profile.delete", we_api_profiles_delete },
  { "POST", "/v1/profiles/{}/duplicate", "profile.create", we_api_profiles_duplicate },
  { "POST", "/v1/jobs", "job.create", we_api_jobs_create },
  { "GET", "/v1/jobs", "job.read", we_api_jobs_list },
  { "GET", "/v1/jobs/{}", "job.read", we_api_jobs_get },
  { "DELETE", "/v1/jobs/{}", "job.delete", we_api_jobs_delete },
  { "PATCH", "/v1/jobs/{}", "job.update", we_api_jobs_update },
  { "GET", "/v1/jobs/{}/tasks", "job.read", we_api_jobs_tasks },
  { "GET", "/v1/jobs/{}/events", "job.read", we_api_jobs_events },
  { "POST", "/v1/jobs/{}/cancel", "job.cancel", we_api_jobs_cancel },
  { "POST", "/v1/jobs/{}/retry", "job.retry", we_api_jobs_retry },
  { "POST", "/v1/jobs/{}/tasks/{}/retry", "job.retry", we_api_jobs_task_retry },
  { "GET", "/v1/jobs/{}/outputs", "job.read", we_api_jobs_outputs },
  { "GET", "/v1/jobs/{}/outputs/{**}", "job.read", we_api_jobs_download },
  { "HEAD", "/v1/jobs/{}/outputs/{**}", "job.read", we_api_jobs_download },
  { "GET", "/v1/jobs/{}/key", "job.read", we_api_jobs_key },
  { "GET", "/v1/jobs/{}/tasks/{}/pipeline", "job.debug", we_api_jobs_task_pipeline },
  { "GET", "/v1/jobs/{}/tasks/{}/logs", "job.debug", we_api_jobs_task_logs },
  /* publishing (we-api-publish.c, issue 11) */
  { "POST", "/v1/jobs/{}/publish", "job.publish", we_api_jobs_publish },
  { "GET", "/v1/jobs/{}/publications", "job.read", we_api_jobs_publications },
  { "GET", "/v1/publications/{}", "job.read", we_api_publications_get },
  { "POST", "/v1/publications/{}/retry", "job.publish", we_api_publications_retry },
  { "GET", "/v1/files/capabilities", "file.read", we_api_files_capabilities },
  { "GET", "/v1/files/roots", "file.read", we_api_files_roots },
  { "GET", "/v1/files/browse", "file.read", we_api_files_browse },
  { "POST", "/v1/files/upload", "file.upload", we_api_files_upload },
  { "GET", "/v1/workers", "worker.read", we_api_workers_list },
  { "GET", "/v1/workers/{**}", "worker.read", we_api_workers_get },
  { "DELETE", "/v1/workers/{**}", "worker.delete", we_api_workers_delete },
  { "POST", "/v1/workers/{**}/drain", "worker.drain", we_api_workers_drain },
  { "POST", "/v1/workers/{**}/undrain", "worker.drain", we_api_workers_undrain },
  { "GET", "/v1/plugins", "plugin.read", we_api_plugins_list },
  { "GET", "/v1/plugins/{}", "plugin.read", we_api_plugins_get },
  { "PUT", "/v1/plugins/{}/config", "plugin.update", we_api_plugins_put_config },
  { "POST", "/v1/plugins/{}/enable", "plugin.update", we_api_plugins_enable },
  { "POST", "/v1/plugins/{}/disable", "plugin.update", we_api_plugins_disable },
  { "POST", "/v1/plugins/{}/test", "plugin.test", we_api_plugins_test },
  { "GET", "/v1/streams", "stream.read", we_api_streams_list },
  { "POST", "/v1/streams", "stream.create", we_api_streams_create },
  { "GET", "/v1/streams/{}", "stream.read", we_api_streams_get },
  { "PATCH", "/v1/streams/{}", "stream.update", we_api_streams_update },
  { "DELETE", "/v1/streams/{}", "stream.delete", we_api_streams_delete },
  { "POST", "/v1/streams/{}/rotate-key", "stream.rotate", we_api_streams_rotate_key },
  { "POST", "/v1/streams/{}/reveal-key", "stream.reveal", we_api_streams_reveal_key },
  { "GET", "/v1/streams/{}/stats", "stream.read", we_api_streams_stats },
  { "GET", "/v1/streams/{}/live/{}", "stream.read", we_api_streams_live_file },
  { "GET", "/v1/streams/{}/live/{}/{}", "stream.read", we_api_streams_live_rung_file },
  { "POST", "/v1/streams/{}/end", "stream.update", we_api_streams_end },
  { "POST", "/v1/streams/{}/archive", "stream.update", we_api_streams_archive },
  { "POST", "/v1/streams/{}/recording", "stream.update", we_api_streams_recording },
  { "GET", "/v1/restreams", "restream.read", we_api_restreams_list },
  { "POST", "/v1/restreams", "restream.create", we_api_restreams_create },
  { "GET", "/v1/restreams/{}", "restream.read", we_api_restreams_get },
  { "PATCH", "/v1/restreams/{}", "restream.update", we_api_restreams_update },
  { "DELETE", "/v1/restreams/{}", "restream.delete", we_api_restreams_delete },
  { "POST", "/v1/restreams/{}/start", "restream.start", we_api_restreams_start },
  { "POST", "/v1/restreams/{}/stop", "restream.stop", we_api_restreams_stop },
  { "POST", "/v1/restreams/{}/destinations", "restream.update", we_api_restreams_dest_add },
  { "PATCH", "/v1/restreams/{}/destinations/{}", "restream.update",
    we_api_restreams_dest_update },
  { "DELETE", "/v1/restreams/{}/destinations/{}", "restream.update",
    we_api_restreams_dest_delete },
  { "POST", "/v1/ws/ticket", "ws.ticket", we_api_ws_ticket },
  { "GET", "/v1/webhooks", "webhook.read", we_api_webhooks_list },
  { "POST", "/v1/webhooks", "webhook.create", we_api_webhooks_create },
  { "GET", "/v1/webhooks/job-secret", "webhook.job-secret", we_api_webhooks_job_secret },
  { "GET", "/v1/webhooks/{}", "webhook.read", we_api_webhooks_get },
  { "PATCH", "/v1/webhooks/{}", "webhook.update", we_api_webhooks_update },
  { "DELETE", "/v1/webhooks/{}", "webhook.delete", we_api_webhooks_delete },
  { "POST", "/v1/webhooks/{}/rotate-secret", "webhook.update", we_api_webhooks_rotate_secret },
  { "POST", "/v1/webhooks/{}/ping", "webhook.deliver", we_api_webhooks_ping },
  { "GET", "/v1/webhooks/{}/deliveries", "webhook.read", we_api_webhooks_deliveries },
  { "POST", "/v1/webhooks/{}/deliveries/{}/replay", "webhook.deliver",
    we_api_webhooks_replay },
  { "POST", "/v1/errors", "error.report", we_api_errors_report },
  { "GET", "/v1/errors", "error.read", we_api_errors_list },
  { "PATCH", "/v1/errors/{}", "error.update", we_api_errors_update },
  /* the dashboard's files (we-api-static.c): every GET/HEAD path outside
   * the API, matched by we_api_static_is_web_path() instead of the pattern;
   * keep these last */
  { "GET", "/{**}", "web.static", we_api_static_serve },
  { "HEAD", "/{**}", "web.static", we_api_static_serve },
};

/* --- per-message state --- */

typedef struct {
  gchar        *request_id;
  gint64        started;
  GByteArray   *body;
  gboolean      too_large;
  gpointer      upload;
  GDestroyNotify upload_destroy;
  GCancellable *cancellable;
} MsgState;

static void
msg_state_free (MsgState *state)
{
  g_free (state->request_id);
  g_clear_pointer (&state->body, g_byte_array_unref);
  if (state->upload != NULL && state->upload_destroy != NULL)
    state->upload_destroy (state->upload);
  g_clear_object (&state->cancellable);
  g_free (state);
}

static MsgState *
msg_state (SoupServerMessage *msg)
{
  return g_object_get_data (G_OBJECT (msg), "we-api-state");
}

const gchar *
we_api_message_get_request_id (SoupServerMessage *msg)
{
  MsgState *state = msg_state (msg);
  return state ? state->request_id : NULL;
}

gpointer
we_api_message_get_upload (SoupServerMessage *msg)
{
  MsgState *state = msg_state (msg);
  return state ? state->upload : NULL;
}

void
we_api_message_set_upload (SoupServerMessage *msg, gpointer upload, GDestroyNotify destroy)
{
  MsgState *state = msg_state (msg);

  g_return_if_fail (state != NULL && state->upload == NULL);
  state->upload = upload;
  state->upload_destroy = destroy;
}

GCancellable *
we_api_message_get_cancellable (SoupServerMessage *msg)
{
  MsgState *state = msg_state (msg);
  return state ? state->cancellable : NULL;
}

/* --- request ids and access log --- */

static gchar *
make_request_id (SoupServerMessage *msg)
{
  const gchar *given = soup_message_headers_get_one (soup_server_message_get_request_headers (msg),
                                                     "X-Request-Id");
  guint8 bytes[8];

  if (given != NULL && strlen (given) > 0 && strlen (given) <= 64) {
    gboolean ok = TRUE;
    for (const gchar *p = given; *p && ok; p++)
      ok = g_ascii_isalnum (*p) || *p == '-' || *p == '_' || *p == '.';
    if (ok)
      return g_strdup (given);
  }
  for (guint i = 0; i < sizeof (bytes); i++)
    bytes[i] = (guint8) g_random_int_range (0, 256);
  return g_strdup_printf ("req-%02x%02x%02x%02x%02x%02x%02x%02x", bytes[0], bytes[1], bytes[2],
                          bytes[3], bytes[4], bytes[5], bytes[6], bytes[7]);
}

static void
on_finished (SoupServerMessage *msg, gpointer user_data)
{
  MsgState *state = msg_state (msg);
  GUri *uri = soup_server_message_get_uri (msg);
  guint status = soup_server_message_get_status (msg);

  if (state == NULL)
    return;
  we_log (status >= 500 ? G_LOG_LEVEL_WARNING : G_LOG_LEVEL_INFO, state->request_id, NULL,
          "%s %s %u %.1f ms from %s", soup_server_message_get_method (msg), g_uri_get_path (uri),
          status, (g_get_monotonic_time () - state->started) / 1000.0,
          soup_server_message_get_remote_host (msg) ? soup_server_message_get_remote_host (msg)
                                                    : "?");
}

static void
on_disconnected (SoupServerMessage *msg, gpointer user_data)
{
  MsgState *state = msg_state (msg);

  if (state != NULL)
    g_cancellable_cancel (state->cancellable);
}

static void
on_got_chunk (SoupServerMessage *msg, GBytes *chunk, gpointer user_data)
{
  MsgState *state = msg_state (msg);
  gsize size = g_bytes_get_size (chunk);

  if (state->too_large)
    return;
  if (state->body->len + size > WE_API_MAX_JSON_BODY) {
    state->too_large = TRUE;
    g_byte_array_set_size (state->body, 0);
    return;
  }
  g_byte_array_append (state->body, g_bytes_get_data (chunk, NULL), (guint) size);
}

static gboolean
is_upload (SoupServerMessage *msg)
{
  return g_strcmp0 (soup_server_message_get_method (msg), "POST") == 0 &&
         g_strcmp0 (g_uri_get_path (soup_server_message_get_uri (msg)), "/v1/files/upload") == 0;
}

static void
early_handler (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
               gpointer user_data)
{
  WeApiServer *self = user_data;
  MsgState *state = g_new0 (MsgState, 1);
  SoupMessageHeaders *req_headers = soup_server_message_get_request_headers (msg);

  state->request_id = make_request_id (msg);
  state->started = g_get_monotonic_time ();
  state->cancellable = g_cancellable_new ();
  g_object_set_data_full (G_OBJECT (msg), "we-api-state", state, (GDestroyNotify) msg_state_free);
  soup_message_headers_replace (soup_server_message_get_response_headers (msg), "X-Request-Id",
                                state->request_id);
  g_signal_connect (msg, "finished", G_CALLBACK (on_finished), NULL);
  g_signal_connect (msg, "disconnected", G_CALLBACK (on_disconnected), NULL);

  if (is_upload (msg)) {
    we_api_upload_early (self, msg);
    return;
  }

  /* Bodies are collected by us, with a cap, instead of by libsoup without one. */
  state->body = g_byte_array_new ();
  soup_message_body_set_accumulate (soup_server_message_get_request_body (msg), FALSE);
  if (soup_message_headers_get_encoding (req_headers) == SOUP_ENCODING_CONTENT_LENGTH &&
      soup_message_headers_get_content_length (req_headers) > WE_API_MAX_JSON_BODY) {
    g_autoptr(GError) error = g_error_new (WE_ERROR, WE_ERROR_SYS_PAYLOAD_TOO_LARGE,
                                           "request bodies are limited to %d bytes",
                                           WE_API_MAX_JSON_BODY);
    we_api_message_set_error (msg, error, state->request_id);
    return;
  }
  g_signal_connect (msg, "got-chunk", G_CALLBACK (on_got_chunk), NULL);
}

/* --- routing --- */

/* A {**} in @pattern takes one or more whole segments, joined with "/" again
 * (a {} before it takes one, as usual):
 * ids such as "host/local-1" (libsoup hands us the path decoded, so an
 * escaped %2F arrives as a plain "/" and cannot stay inside one segment).
 * Such ids are only ever looked up, never used as a path. */
static gboolean
match_rest (gchar **pattern, gchar **segments, GPtrArray *captures)
{
  guint np = g_strv_length (pattern);
  guint ns = g_strv_length (segments);
  guint at = 0;
  guint tail;

  while (pattern[at] != NULL && !g_str_equal (pattern[at], "{**}"))
    at++;
  tail = np - at - 1;
  if (ns < np)
    return FALSE;
  for (guint i = 0; i < at; i++) {
    if (g_str_equal (pattern[i], "{}") ? *segments[i] == '\0'
                                       : !g_str_equal (pattern[i], segments[i]))
      return FALSE;
  }
  for (guint i = 0; i < tail; i++) {
    if (!g_str_equal (pattern[np - 1 - i], segments[ns - 1 - i]))
      return FALSE;
  }
  for (guint i = at; i < ns - tail; i++) {
    if (*segments[i] == '\0')
      return FALSE;
  }
  if (captures != NULL) {
    g_autoptr(GStrvBuilder) joined = g_strv_builder_new ();
    g_auto(GStrv) parts = NULL;

    /* the {} before the rest, in order (a job id before an output path) */
    for (guint i = 0; i < at; i++)
      if (g_str_equal (pattern[i], "{}"))
        g_ptr_array_add (captures, g_strdup (segments[i]));

    for (guint i = at; i < ns - tail; i++)
      g_strv_builder_add (joined, segments[i]);
    parts = g_strv_builder_end (joined);
    g_ptr_array_add (captures, g_strjoinv ("/", parts));
  }
  return TRUE;
}

static gboolean
match_route (const WeApiRoute *route, gchar **segments, GPtrArray *captures)
{
  g_auto(GStrv) pattern = g_strsplit (route->pattern, "/", -1);
  guint n = g_strv_length (pattern);

  if (g_strv_contains ((const gchar * const *) pattern, "{**}"))
    return match_rest (pattern, segments, captures);
  if (n != g_strv_length (segments))
    return FALSE;
  for (guint i = 0; i < n; i++) {
    if (g_str_equal (pattern[i], "{}")) {
      /* already percent-decoded by libsoup: decoding again would turn an
       * id's "%25" into "%" */
      if (*segments[i] == '\0')
        return FALSE;
      if (captures != NULL)
        g_ptr_array_add (captures, g_strdup (segments[i]));
    } else if (!g_str_equal (pattern[i], segments[i])) {
      return FALSE;
    }
  }
  return TRUE;
}

/* --- RBAC --- */

const WeApiRoute *
we_api_server_get_routes (guint *n_routes)
{
  *n_routes = G_N_ELEMENTS (routes);
  return routes;
}

static gboolean
route_is_public (const WeApiRoute *route)
{
  const WeRbacPolicy *policy = we_rbac_lookup (route->action);

  return policy != NULL && policy->role == WE_ROLE_NONE;
}

static void
authenticated_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  WeApiRequest *request = user_data;
  g_autoptr(GError) error = NULL;

  request->identity = we_api_server_authenticate_finish (WE_API_SERVER (source), result, &error);
  if (request->identity == NULL) {
    we_log (G_LOG_LEVEL_INFO, request->request_id, we_error_code_to_string (
                we_error_code_from_gerror (error)), "authentication refused: %s",
            error->message);
    we_api_request_respond_error (request, error);
    return;
  }
  if (!we_rbac_check (request->identity, request->route->action, &error)) {
    we_api_request_respond_error (request, error);
    return;
  }
  request->route->handler (request);
}

static void
handler (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
         gpointer user_data)
{
  WeApiServer *self = user_data;
  MsgState *state = msg_state (msg);
  const gchar *method = soup_server_message_get_method (msg);
  g_auto(GStrv) segments = g_strsplit (path, "/", -1);
  g_autoptr(GPtrArray) captures = NULL;
  const WeApiRoute *route = NULL;
  gboolean path_known = FALSE;
  WeApiRequest *request;

  if (state == NULL) /* cannot happen: every message passes the early handler */
    return;
  if (soup_server_message_get_status (msg) != 0)
    return; /* answered early (413, or an upload refused before its body) */
  if (g_str_equal (path, "/v1/ws")) {
    /* not a REST route: authenticated by ticket or header, then upgraded */
    we_ws_hub_upgrade (self->ws, msg, query, state->request_id);
    return;
  }

  for (guint i = 0; i < G_N_ELEMENTS (routes); i++) {
    if (routes[i].handler == we_api_static_serve ? !we_api_static_is_web_path (path)
                                                 : !match_route (&routes[i], segments, NULL))
      continue;
    path_known = TRUE;
    if (g_str_equal (routes[i].method, method)) {
      route = &routes[i];
      break;
    }
  }
  if (route == NULL) {
    g_autoptr(GError) error = NULL;
    if (path_known)
      error = g_error_new (WE_ERROR, WE_ERROR_SYS_METHOD_NOT_ALLOWED,
                           "%s is not allowed on %s", method, path);
    else
      error = g_error_new (WE_ERROR, WE_ERROR_SYS_NOT_FOUND, "no endpoint %s %s", method, path);
    we_api_message_set_error (msg, error, state->request_id);
    return;
  }

  request = g_new0 (WeApiRequest, 1);
  request->server = g_object_ref (self);
  request->msg = g_object_ref (msg);
  request->request_id = g_strdup (state->request_id);
  request->route = route;
  request->cancellable = g_object_ref (state->cancellable);
  captures = g_ptr_array_new ();
  match_route (route, segments, captures);
  g_ptr_array_add (captures, NULL);
  request->params = (gchar **) g_ptr_array_free (g_steal_pointer (&captures), FALSE);
  if (query != NULL)
    request->query = g_hash_table_ref (query);
  if (state->body != NULL)
    request->body = g_bytes_new (state->body->data, state->body->len);

  soup_server_message_pause (msg);
  if (state->too_large) {
    g_autoptr(GError) error = g_error_new (WE_ERROR, WE_ERROR_SYS_PAYLOAD_TOO_LARGE,
                                           "request bodies are limited to %d bytes",
                                           WE_API_MAX_JSON_BODY);
    we_api_request_respond_error (request, error);
    return;
  }
  if (route_is_public (route) || is_upload (msg)) {
    /* uploads were authenticated when their headers arrived */
    route->handler (request);
    return;
  }
  we_api_server_authenticate_async (self, msg, request->cancellable, authenticated_cb, request);
}

/* --- object --- */

static void
we_api_server_dispose (GObject *object)
{
  WeApiServer *self = WE_API_SERVER (object);

  if (self->publish != NULL) {
    g_clear_signal_handler (&self->publish_changed_id, self->publish);
    we_publish_runner_stop (self->publish);
    g_clear_object (&self->publish);
  }
  g_clear_pointer (&self->ws, we_ws_hub_free);
  if (self->soup != NULL)
    soup_server_disconnect (self->soup);
  g_clear_object (&self->soup);
  g_clear_object (&self->context.config);
  g_clear_object (&self->context.store);
  g_clear_object (&self->context.scheduler);
  g_clear_object (&self->context.host);
  g_clear_object (&self->context.queue);
  g_clear_object (&self->context.keys);
  g_clear_object (&self->context.webhooks);
  g_clear_object (&self->context.live);
  g_clear_object (&self->context.secrets);
  g_clear_pointer (&self->login_limiter, we_login_limiter_free);
  G_OBJECT_CLASS (we_api_server_parent_class)->dispose (object);
}

static void
we_api_server_class_init (WeApiServerClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = we_api_server_dispose;
}

static void
we_api_server_init (WeApiServer *self)
{
}

/* progress and status of publications, to who follows job:<id> */
static void
publication_changed_cb (WePublishRunner *runner, JsonObject *publication, gpointer user_data)
{
  WeApiServer *self = user_data;

  if (self->ws != NULL)
    we_ws_hub_send_publication (self->ws, publication);
}

WePublishRunner *
we_api_server_get_publish_runner (WeApiServer *server)
{
  return server->publish;
}

WeApiServer *
we_api_server_new (const WeApiContext *context)
{
  WeApiServer *self = g_object_new (WE_TYPE_API_SERVER, NULL);
  g_autofree gchar *header = g_strdup_printf ("webencoded/%s", PACKAGE_VERSION);

  self->context = *context;
  g_object_ref (self->context.config);
  g_object_ref (self->context.store);
  g_object_ref (self->context.scheduler);
  g_object_ref (self->context.host);
  g_object_ref (self->context.queue);
  if (self->context.keys != NULL)
    g_object_ref (self->context.keys);
  if (self->context.webhooks != NULL)
    g_object_ref (self->context.webhooks);
  if (self->context.secrets != NULL)
    g_object_ref (self->context.secrets);
  if (self->context.live != NULL)
    g_object_ref (self->context.live);
  self->started_at = g_get_real_time ();
  self->login_limiter = we_login_limiter_new (we_config_get_login_max_failures (context->config),
                                              we_config_get_login_window_s (context->config));
  self->soup = soup_server_new ("server-header", header, NULL);
  soup_server_add_early_handler (self->soup, NULL, early_handler, self, NULL);
  soup_server_add_handler (self->soup, NULL, handler, self, NULL);
  self->ws = we_ws_hub_new (self);
  {
    /* in a cluster the kernel owning a job publishes it; alone, this one */
    WePublishRunnerOptions opts = { 0 };

    opts.store = self->context.store;
    opts.host = self->context.host;
    opts.scheduler = self->context.scheduler;
    opts.webhooks = (GObject *) self->context.webhooks;
    opts.kernel_id = g_strcmp0 (self->context.mode, "cluster") == 0
                       ? we_config_get_kernel_id (self->context.config) : NULL;
    opts.config = self->context.config;
    self->publish = we_publish_runner_new (&opts);
    self->publish_changed_id = g_signal_connect (self->publish, "changed",
                                                 G_CALLBACK (publication_changed_cb), self);
  }
  return self;
}

gboolean
we_api_server_listen (WeApiServer *self, const gchar *host, guint16 port, GError **error)
{
  g_autoptr(GInetAddress) addr = g_inet_address_new_from_string (host);
  g_autoptr(GSocketAddress) sockaddr = NULL;
  const gchar *cert_file = we_config_get_tls_cert_file (self->context.config);
  const gchar *key_file = we_config_get_tls_key_file (self->context.config);
  SoupServerListenOptions options = 0;

  if (addr == NULL) {
    g_set_error (error, WE_ERROR, WE_ERROR_SYS_INTERNAL,
                 "listen address \"%s\" is not an IP address", host);
    return FALSE;
  }
  sockaddr = g_inet_socket_address_new (addr, port);
  if (cert_file != NULL || key_file != NULL) {
    g_autoptr(GTlsCertificate) cert = NULL;

    if (cert_file == NULL || key_file == NULL) {
      g_set_error_literal (error, WE_ERROR, WE_ERROR_SYS_INTERNAL,
                           "TLS needs both tls_cert_file and tls_key_file");
      return FALSE;
    }
    cert = g_tls_certificate_new_from_files (cert_file, key_file, error);
    if (cert == NULL) {
      g_prefix_error (error, "loading the TLS certificate %s: ", cert_file);
      return FALSE;
    }
    soup_server_set_tls_certificate (self->soup, cert);
    options |= SOUP_SERVER_LISTEN_HTTPS;
  }
  if (!soup_server_listen (self->soup, sockaddr, options, error)) {
    g_prefix_error (error, "listening on %s:%u: ", host, port);
    return FALSE;
  }
  we_publish_runner_start (self->publish);
  return TRUE;
}

guint16
we_api_server_get_port (WeApiServer *self)
{
  g_autoslist(GUri) uris = soup_server_get_uris (self->soup);

  if (uris == NULL)
    return 0;
  return (guint16) g_uri_get_port (uris->data);
}

/**
 * we_api_server_set_restreams:
 * @manager: (transfer none) (nullable): a WeRestreamManager
 *
 * The restream manager the /v1/restreams routes drive and whose events the
 * WebSocket relays as restream:<id>; it is made after the server (it needs
 * the daemon's worker paths), hence not in the context.
 */
void
we_api_server_set_restreams (WeApiServer *self, GObject *manager)
{
  g_object_set_data_full (G_OBJECT (self), "we-restream-manager",
                          manager != NULL ? g_object_ref (manager) : NULL,
                          manager != NULL ? g_object_unref : NULL);
  if (self->ws != NULL)
    we_ws_hub_watch_restreams (self->ws, manager);
}

const WeApiContext *
we_api_server_get_context (WeApiServer *self)
{
  return &self->context;
}

WeLoginLimiter *
we_api_server_get_login_limiter (WeApiServer *self)
{
  return self->login_limiter;
}

gint64
we_api_server_get_started_at (WeApiServer *self)
{
  return self->started_at;
}

WeWsHub *
we_api_server_get_ws_hub (WeApiServer *self)
{
  return self->ws;
}

void
we_api_server_disconnect (WeApiServer *self)
{
  if (self->publish != NULL)
    we_publish_runner_stop (self->publish);
  if (self->ws != NULL)
    we_ws_hub_close_all (self->ws);
  if (self->soup != NULL)
    soup_server_disconnect (self->soup);
}
