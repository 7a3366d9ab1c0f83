/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Sessions for the dashboard (docs/api.md "Authentication"):
 *
 *   GET  /v1/auth/config    which login methods exist
 *   GET  /v1/auth/login     302 to the IdP (authorization code + PKCE S256)
 *   GET  /v1/auth/callback  redeems the code: tokens as JSON, or a 302 to the
 *                           dashboard with the tokens in the URL fragment
 *   POST /v1/auth/refresh   {refresh_token} → new tokens
 *   POST /v1/auth/logout    ends the caller's sessions
 *   GET  /v1/auth/me        the caller's identity
 *   GET  /v1/users          users of the providers that can list them
 *
 * Login state (state, PKCE verifier, where to go afterwards) needs no table:
 * it travels in an HttpOnly SameSite=Lax cookie, HMAC-signed with a key
 * derived from the service secret ("login state"), valid ten minutes, and
 * scoped to the callback path. Provider calls block on the network, so they
 * run in GTask threads. Tokens are never logged.
 */
#include "config.h"
#include "we-api-handlers.h"

#include <string.h>

#include "core/we-content-keys.h"

#define LOGIN_COOKIE      "we_login"
#define LOGIN_TTL_S       600
#define CALLBACK_PATH     "/v1/auth/callback"
#define MAX_REDIRECT_LEN  512
#define MAX_COOKIE_LEN    4096

/* ---- providers ---- */

/* Healthy auth providers by priority. Returns: (transfer full) (element-type WeAuthProvider) */
static GPtrArray *
auth_providers (WeApiRequest *request, gboolean login_only, GPtrArray *ids)
{
  GPtrArray *plugins = we_plugin_host_get_plugins (we_api_request_context (request)->host);
  g_autoptr(GPtrArray) infos = g_ptr_array_new ();
  GPtrArray *out = g_ptr_array_new_with_free_func (g_object_unref);

  for (guint i = 0; i < plugins->len; i++) {
    WePluginInfo *info = g_ptr_array_index (plugins, i);
    if (info->pillar != WE_PILLAR_AUTH || info->state != WE_PLUGIN_STATE_HEALTHY ||
        info->instance == NULL || !WE_IS_AUTH_PROVIDER (info->instance))
      continue;
    if (login_only && !we_auth_provider_supports_login (WE_AUTH_PROVIDER (info->instance)))
      continue;
    g_ptr_array_add (infos, info);
  }
  /* stable insertion sort: few entries, and equal priorities keep load order */
  for (guint i = 1; i < infos->len; i++)
    for (guint j = i; j > 0 && ((WePluginInfo *) infos->pdata[j - 1])->priority >
                                   ((WePluginInfo *) infos->pdata[j])->priority; j--) {
      gpointer t = infos->pdata[j];
      infos->pdata[j] = infos->pdata[j - 1];
      infos->pdata[j - 1] = t;
    }
  for (guint i = 0; i < infos->len; i++) {
    WePluginInfo *info = g_ptr_array_index (infos, i);
    g_ptr_array_add (out, g_object_ref (info->instance));
    if (ids != NULL)
      g_ptr_array_add (ids, g_strdup (info->id));
  }
  return out;
}

static JsonObject *
identity_to_json (const WeIdentity *identity)
{
  JsonObject *o = json_object_new ();

  json_object_set_string_member (o, "user_id", identity->user_id ? identity->user_id : "");
  json_object_set_string_member (o, "username", identity->username ? identity->username : "");
  if (identity->email != NULL)
    json_object_set_string_member (o, "email", identity->email);
  if (identity->display_name != NULL)
    json_object_set_string_member (o, "display_name", identity->display_name);
  json_object_set_string_member (o, "role", we_role_to_string (identity->role));
  if (identity->expires_at_unix > 0)
    json_object_set_int_member (o, "expires_at", identity->expires_at_unix);
  return o;
}

/* ---- provider calls in a thread ---- */

typedef enum {
  OP_BEGIN,
  OP_COMPLETE,
  OP_REFRESH,
  OP_LOGOUT,
  OP_LIST_USERS,
} Op;

typedef struct {
  Op         op;
  GPtrArray *providers;
  gchar     *redirect_uri;
  gchar     *state;
  gchar     *verifier;
  gchar     *code;
  gchar     *refresh_token;
  gchar     *user_id;
  gchar     *after;         /* where the browser goes after login, nullable */
  gboolean   all_sessions;
  WeRole     role_filter;
} Call;

static void
wipe_free (gchar *s)
{
  if (s != NULL)
    memset (s, 0, strlen (s));
  g_free (s);
}

static void
call_free (Call *call)
{
  g_clear_pointer (&call->providers, g_ptr_array_unref);
  g_free (call->redirect_uri);
  wipe_free (call->state);
  wipe_free (call->verifier);
  wipe_free (call->code);
  wipe_free (call->refresh_token);
  g_free (call->user_id);
  g_free (call->after);
  g_free (call);
}

static void
call_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  Call *call = task_data;
  WeAuthProvider *first = call->providers->len ? g_ptr_array_index (call->providers, 0) : NULL;
  GError *error = NULL;

  switch (call->op) {
  case OP_BEGIN: {
    gchar *url = we_auth_provider_begin_login (first, call->redirect_uri, call->state,
                                               call->verifier, &error);
    if (url == NULL)
      g_task_return_error (task, error);
    else
      g_task_return_pointer (task, url, g_free);
    return;
  }
  case OP_COMPLETE:
  case OP_REFRESH: {
    WeIdentity *identity = call->op == OP_COMPLETE
        ? we_auth_provider_complete_login (first, call->redirect_uri, call->code, call->verifier,
                                           &error)
        : we_auth_provider_refresh_token (first, call->refresh_token, &error);
    if (identity == NULL)
      g_task_return_error (task, error);
    else
      g_task_return_pointer (task, identity, (GDestroyNotify) we_identity_free);
    return;
  }
  case OP_LOGOUT:
    /* every provider forgets the user; the refresh token (the session's
     * handle at the IdP) only goes to the one that issued it */
    for (guint i = 0; i < call->providers->len; i++) {
      WeAuthProvider *p = g_ptr_array_index (call->providers, i);
      const gchar *session = we_auth_provider_supports_login (p) ? call->refresh_token : NULL;
      g_autoptr(GError) local = NULL;
      if (!we_auth_provider_logout (p, call->user_id, session, call->all_sessions, &local))
        g_warning ("logout in an auth provider failed: %s", local->message);
    }
    g_task_return_boolean (task, TRUE);
    return;
  case OP_LIST_USERS: {
    GPtrArray *all = g_ptr_array_new_with_free_func ((GDestroyNotify) we_identity_free);
    for (guint i = 0; i < call->providers->len; i++) {
      g_autoptr(GError) local = NULL;
      g_autoptr(GPtrArray) users = we_auth_provider_list_users (
          g_ptr_array_index (call->providers, i), call->role_filter, &local);
      if (users == NULL) {
        if (!g_error_matches (local, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED))
          g_warning ("listing users failed: %s", local ? local->message : "?");
        continue;
      }
      for (guint j = 0; j < users->len; j++)
        g_ptr_array_add (all, we_identity_copy (g_ptr_array_index (users, j)));
    }
    g_task_return_pointer (task, all, (GDestroyNotify) g_ptr_array_unref);
    return;
  }
  }
}

static void
run_call (WeApiRequest *request, Call *call, GAsyncReadyCallback callback)
{
  g_autoptr(GTask) task = g_task_new (NULL, NULL, callback, request);

  g_task_set_source_tag (task, run_call);
  g_task_set_task_data (task, call, (GDestroyNotify) call_free);
  g_task_run_in_thread (task, call_thread);
}

/* Provider errors are WE_ERROR codes already; anything else is the IdP
 * failing in a way we did not foresee. */
static void
respond_provider_error (WeApiRequest *request, GError *error)
{
  if (error->domain != WE_ERROR) {
    g_autoptr(GError) mapped = g_error_new (WE_ERROR, WE_ERROR_AUTH_PROVIDER_UNAVAILABLE, "%s",
                                            error->message);
    we_api_request_respond_error (request, mapped);
    return;
  }
  we_api_request_respond_error (request, error);
}

/* ---- the login cookie ---- */

static gboolean
login_key (WeApiRequest *request, guint8 key[32], GError **error)
{
  const WeApiContext *ctx = we_api_request_context (request);

  if (ctx->keys == NULL) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_SYS_INTERNAL,
                         "no service secret to sign login state with");
    return FALSE;
  }
  we_content_keys_derive_for (ctx->keys, "login state", "", key);
  return TRUE;
}

static gchar *
b64url (const guint8 *data, gsize len)
{
  gchar *text = g_base64_encode (data, len);
  gchar *w = text;

  for (gchar *r = text; *r; r++) {
    if (*r == '=')
      continue;
    *w++ = *r == '+' ? '-' : *r == '/' ? '_' : *r;
  }
  *w = '\0';
  return text;
}

static guint8 *
b64url_decode (const gchar *text, gsize *len)
{
  gsize n = strlen (text);
  g_autofree gchar *std = g_malloc (n + 4);

  for (gsize i = 0; i < n; i++) {
    gchar c = text[i];
    if (!(g_ascii_isalnum (c) || c == '-' || c == '_'))
      return NULL;
    std[i] = c == '-' ? '+' : c == '_' ? '/' : c;
  }
  while (n % 4 != 0)
    std[n++] = '=';
  std[n] = '\0';
  return g_base64_decode (std, len);
}

static gchar *
random_token (void)
{
  guint8 bytes[32];
  gchar *out;

  for (guint i = 0; i < sizeof bytes; i += 4) {
    guint32 r = g_random_int ();
    memcpy (bytes + i, &r, 4);
  }
  out = b64url (bytes, sizeof bytes);
  memset (bytes, 0, sizeof bytes);
  return out;
}

static gchar *
sign_payload (const guint8 key[32], const gchar *payload)
{
  g_autoptr(GHmac) hmac = g_hmac_new (G_CHECKSUM_SHA256, key, 32);
  guint8 mac[32];
  gsize len = sizeof mac;

  g_hmac_update (hmac, (const guchar *) payload, -1);
  g_hmac_get_digest (hmac, mac, &len);
  return b64url (mac, len);
}

static gboolean
equal_const_time (const gchar *a, const gchar *b)
{
  gsize la = strlen (a), lb = strlen (b);
  guint8 diff = la != lb;

  for (gsize i = 0; i < MIN (la, lb); i++)
    diff |= (guint8) (a[i] ^ b[i]);
  return diff == 0;
}

static gboolean
is_https (WeApiRequest *request)
{
  return g_str_has_prefix (we_config_get_public_url (we_api_request_context (request)->config),
                           "https:");
}

static void
set_login_cookie (WeApiRequest *request, const gchar *value, gint max_age)
{
  g_autofree gchar *cookie = g_strdup_printf (LOGIN_COOKIE "=%s; Path=" CALLBACK_PATH
                                              "; Max-Age=%d; HttpOnly; SameSite=Lax%s",
                                              value, max_age, is_https (request) ? "; Secure" : "");

  soup_message_headers_append (soup_server_message_get_response_headers (request->msg),
                               "Set-Cookie", cookie);
}

/* The cookie's fields after checking signature and age: state, verifier,
 * redirect (may be empty). Returns: (transfer full) (nullable) */
static gchar **
read_login_cookie (WeApiRequest *request, GError **error)
{
  const gchar *header = soup_message_headers_get_list (
      soup_server_message_get_request_headers (request->msg), "Cookie");
  g_autoptr(GHashTable) cookies = NULL;
  const gchar *value, *dot;
  g_autofree gchar *payload_b64 = NULL;
  g_autofree gchar *mac = NULL;
  g_autofree guint8 *payload = NULL;
  g_auto(GStrv) fields = NULL;
  gsize len = 0;
  guint8 key[32];
  gint64 expires;

  if (header == NULL || strlen (header) > 16 * 1024 ||
      (cookies = soup_header_parse_semi_param_list (header)) == NULL ||
      (value = g_hash_table_lookup (cookies, LOGIN_COOKIE)) == NULL ||
      strlen (value) > MAX_COOKIE_LEN || (dot = strchr (value, '.')) == NULL) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_AUTH_UNAUTHORIZED,
                         "no login in progress in this browser (login state cookie missing)");
    return NULL;
  }
  if (!login_key (request, key, error))
    return NULL;
  payload_b64 = g_strndup (value, dot - value);
  mac = sign_payload (key, payload_b64);
  memset (key, 0, sizeof key);
  if (!equal_const_time (mac, dot + 1) ||
      (payload = b64url_decode (payload_b64, &len)) == NULL) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_AUTH_UNAUTHORIZED,
                         "login state cookie is not ours");
    return NULL;
  }
  payload = g_realloc (payload, len + 1);
  payload[len] = '\0';
  fields = g_strsplit ((const gchar *) payload, "\n", -1);
  memset (payload, 0, len);
  if (g_strv_length (fields) != 5 || !g_str_equal (fields[0], "v1")) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_AUTH_UNAUTHORIZED, "malformed login state");
    return NULL;
  }
  expires = g_ascii_strtoll (fields[4], NULL, 10);
  if (expires < g_get_real_time () / G_USEC_PER_SEC) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_AUTH_UNAUTHORIZED,
                         "the login took too long; start again");
    return NULL;
  }
  {
    gchar **out = g_new0 (gchar *, 4);
    out[0] = g_strdup (fields[1]);
    out[1] = g_strdup (fields[2]);
    out[2] = g_strdup (fields[3]);
    for (guint i = 0; fields[i] != NULL; i++)
      memset (fields[i], 0, strlen (fields[i]));
    return out;
  }
}

/* Only same-origin relative paths: "/dashboard", never "//evil" or "/\evil"
 * (which browsers treat as another host) or anything with a scheme. */
static gboolean
redirect_is_safe (const gchar *redirect)
{
  gsize len = strlen (redirect);

  if (len == 0 || len > MAX_REDIRECT_LEN || redirect[0] != '/' || redirect[1] == '/' ||
      redirect[1] == '\\')
    return FALSE;
  for (gsize i = 0; i < len; i++) {
    guchar c = (guchar) redirect[i];
    if (c < 0x21 || c >= 0x7f || c == '\\' || c == '#')
      return FALSE;
  }
  return TRUE;
}

static gchar *
callback_uri (WeApiRequest *request)
{
  const gchar *base = we_config_get_public_url (we_api_request_context (request)->config);
  g_autofree gchar *trimmed = g_strdup (base);

  while (g_str_has_suffix (trimmed, "/"))
    trimmed[strlen (trimmed) - 1] = '\0';
  return g_strconcat (trimmed, CALLBACK_PATH, NULL);
}

static GError *
no_login_provider (void)
{
  return g_error_new_literal (WE_ERROR, WE_ERROR_AUTH_PROVIDER_UNAVAILABLE,
                              "no loaded auth plugin offers interactive login (enable auth-oidc)");
}

/* ---- GET /v1/auth/config ---- */

void
we_api_auth_config (WeApiRequest *request)
{
  g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) providers = auth_providers (request, FALSE, ids);
  JsonObject *o = json_object_new ();
  JsonArray *methods = json_array_new ();
  gboolean login = FALSE;

  for (guint i = 0; i < providers->len; i++) {
    const gchar *id = g_ptr_array_index (ids, i);
    JsonObject *m = json_object_new ();
    gboolean l = we_auth_provider_supports_login (g_ptr_array_index (providers, i));

    json_object_set_string_member (m, "plugin", id);
    json_object_set_string_member (m, "method",
                                   g_str_has_prefix (id, "auth-") ? id + strlen ("auth-") : id);
    json_object_set_boolean_member (m, "login", l);
    json_array_add_object_element (methods, m);
    login = login || l;
  }
  json_object_set_array_member (o, "methods", methods);
  json_object_set_boolean_member (o, "login", login);
  if (login)
    json_object_set_string_member (o, "login_url", "/v1/auth/login");
  we_api_request_respond_object (request, SOUP_STATUS_OK, o);
}

/* ---- GET /v1/auth/login ---- */

static void
login_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  WeApiRequest *request = user_data;
  Call *call = g_task_get_task_data (G_TASK (result));
  g_autoptr(GError) error = NULL;
  g_autofree gchar *url = g_task_propagate_pointer (G_TASK (result), &error);
  g_autofree gchar *payload = NULL;
  g_autofree gchar *payload_b64 = NULL;
  g_autofree gchar *mac = NULL;
  g_autofree gchar *cookie = NULL;
  guint8 key[32];

  if (url == NULL) {
    respond_provider_error (request, error);
    return;
  }
  if (!login_key (request, key, &error)) {
    we_api_request_respond_error (request, error);
    return;
  }
  payload = g_strdup_printf ("v1\n%s\n%s\n%s\n%" G_GINT64_FORMAT, call->state, call->verifier,
                             call->after ? call->after : "",
                             g_get_real_time () / G_USEC_PER_SEC + LOGIN_TTL_S);
  payload_b64 = b64url ((const guint8 *) payload, strlen (payload));
  mac = sign_payload (key, payload_b64);
  memset (key, 0, sizeof key);
  memset (payload, 0, strlen (payload));
  cookie = g_strconcat (payload_b64, ".", mac, NULL);
  set_login_cookie (request, cookie, LOGIN_TTL_S);
  memset (cookie, 0, strlen (cookie));
  soup_message_headers_replace (soup_server_message_get_response_headers (request->msg),
                                "Location", url);
  soup_message_headers_replace (soup_server_message_get_response_headers (request->msg),
                                "Cache-Control", "no-store");
  we_api_request_respond_empty (request, SOUP_STATUS_FOUND);
}

void
we_api_auth_login (WeApiRequest *request)
{
  const gchar *redirect = we_api_request_query (request, "redirect");
  Call *call;

  if (redirect != NULL && !redirect_is_safe (redirect)) {
    g_autoptr(GError) error = g_error_new_literal (
        WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
        "redirect must be a path on this site, such as /dashboard");
    we_api_request_respond_error (request, error);
    return;
  }
  call = g_new0 (Call, 1);
  call->op = OP_BEGIN;
  call->providers = auth_providers (request, TRUE, NULL);
  if (call->providers->len == 0) {
    g_autoptr(GError) error = no_login_provider ();
    call_free (call);
    we_api_request_respond_error (request, error);
    return;
  }
  call->redirect_uri = callback_uri (request);
  call->state = random_token ();
  call->verifier = random_token ();
  call->after = g_strdup (redirect);
  run_call (request, call, login_cb);
}

/* ---- GET /v1/auth/callback ---- */

static void
respond_tokens (WeApiRequest *request, const WeIdentity *identity, const gchar *after)
{
  if (after != NULL && after[0] != '\0') {
    /* the fragment never reaches a server or its logs */
    g_autoptr(GHashTable) form = g_hash_table_new (g_str_hash, g_str_equal);
    g_autofree gchar *expires = g_strdup_printf ("%" G_GINT64_FORMAT, identity->expires_at_unix);
    g_autofree gchar *fragment = NULL;
    g_autofree gchar *location = NULL;

    g_hash_table_insert (form, (gpointer) "access_token", identity->access_token);
    if (identity->refresh_token != NULL)
      g_hash_table_insert (form, (gpointer) "refresh_token", identity->refresh_token);
    g_hash_table_insert (form, (gpointer) "expires_at", expires);
    g_hash_table_insert (form, (gpointer) "token_type", (gpointer) "Bearer");
    fragment = soup_form_encode_hash (form);
    location = g_strconcat (after, "#", fragment, NULL);
    soup_message_headers_replace (soup_server_message_get_response_headers (request->msg),
                                  "Location", location);
    soup_message_headers_replace (soup_server_message_get_response_headers (request->msg),
                                  "Cache-Control", "no-store");
    memset (location, 0, strlen (location));
    memset (fragment, 0, strlen (fragment));
    we_api_request_respond_empty (request, SOUP_STATUS_FOUND);
    return;
  }
  {
    JsonObject *o = json_object_new ();
    json_object_set_string_member (o, "access_token", identity->access_token);
    if (identity->refresh_token != NULL)
      json_object_set_string_member (o, "refresh_token", identity->refresh_token);
    json_object_set_string_member (o, "token_type", "Bearer");
    json_object_set_int_member (o, "expires_at", identity->expires_at_unix);
    json_object_set_object_member (o, "user", identity_to_json (identity));
    we_api_request_respond_object (request, SOUP_STATUS_OK, o);
  }
}

static void
callback_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  WeApiRequest *request = user_data;
  Call *call = g_task_get_task_data (G_TASK (result));
  g_autoptr(GError) error = NULL;
  g_autoptr(WeIdentity) identity = g_task_propagate_pointer (G_TASK (result), &error);

  if (identity == NULL) {
    respond_provider_error (request, error);
    return;
  }
  g_info ("user %s logged in through the dashboard", identity->username);
  respond_tokens (request, identity, call->after);
}

void
we_api_auth_callback (WeApiRequest *request)
{
  const gchar *code = we_api_request_query (request, "code");
  const gchar *state = we_api_request_query (request, "state");
  const gchar *idp_error = we_api_request_query (request, "error");
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) login = NULL;
  Call *call;

  /* one attempt per cookie, whatever happens next */
  set_login_cookie (request, "", 0);
  login = read_login_cookie (request, &error);
  if (login == NULL) {
    we_api_request_respond_error (request, error);
    return;
  }
  if (state == NULL || !equal_const_time (state, login[0])) {
    error = g_error_new_literal (WE_ERROR, WE_ERROR_AUTH_UNAUTHORIZED,
                                 "login state does not match; start again");
    we_api_request_respond_error (request, error);
    return;
  }
  if (idp_error != NULL || code == NULL || code[0] == '\0') {
    gboolean plain = idp_error != NULL && strlen (idp_error) < 64 &&
                     strspn (idp_error, "abcdefghijklmnopqrstuvwxyz_") == strlen (idp_error);
    error = g_error_new (WE_ERROR, WE_ERROR_AUTH_UNAUTHORIZED,
                         "the identity provider did not log the user in: %s",
                         plain ? idp_error : "no authorization code");
    we_api_request_respond_error (request, error);
    return;
  }
  call = g_new0 (Call, 1);
  call->op = OP_COMPLETE;
  call->providers = auth_providers (request, TRUE, NULL);
  if (call->providers->len == 0) {
    call_free (call);
    error = no_login_provider ();
    we_api_request_respond_error (request, error);
    return;
  }
  call->redirect_uri = callback_uri (request);
  call->code = g_strdup (code);
  call->verifier = g_strdup (login[1]);
  call->after = login[2][0] != '\0' && redirect_is_safe (login[2]) ? g_strdup (login[2]) : NULL;
  for (guint i = 0; login[i] != NULL; i++)
    memset (login[i], 0, strlen (login[i]));
  run_call (request, call, callback_cb);
}

/* ---- POST /v1/auth/refresh ---- */

static void
refresh_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  WeApiRequest *request = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(WeIdentity) identity = g_task_propagate_pointer (G_TASK (result), &error);

  if (identity == NULL) {
    respond_provider_error (request, error);
    return;
  }
  respond_tokens (request, identity, NULL);
}

void
we_api_auth_refresh (WeApiRequest *request)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) body = we_api_request_parse_json_object (request, &error);
  const gchar *token;
  Call *call;

  if (body == NULL) {
    we_api_request_respond_error (request, error);
    return;
  }
  token = json_object_get_string_member_with_default (body, "refresh_token", NULL);
  if (token == NULL || token[0] == '\0' || strlen (token) > 8192) {
    error = g_error_new_literal (WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                                 "refresh_token (a string) is required");
    we_api_request_respond_error (request, error);
    return;
  }
  call = g_new0 (Call, 1);
  call->op = OP_REFRESH;
  call->providers = auth_providers (request, TRUE, NULL);
  if (call->providers->len == 0) {
    call_free (call);
    error = no_login_provider ();
    we_api_request_respond_error (request, error);
    return;
  }
  call->refresh_token = g_strdup (token);
  run_call (request, call, refresh_cb);
}

/* ---- POST /v1/auth/logout ---- */

static void
logout_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  WeApiRequest *request = user_data;

  g_task_propagate_boolean (G_TASK (result), NULL);
  we_api_request_respond_empty (request, SOUP_STATUS_NO_CONTENT);
}

void
we_api_auth_logout (WeApiRequest *request)
{
  g_autoptr(JsonObject) body = NULL;
  Call *call = g_new0 (Call, 1);

  /* the body is optional: {refresh_token, all_sessions} */
  if (request->body != NULL && g_bytes_get_size (request->body) > 0) {
    g_autoptr(GError) error = NULL;
    body = we_api_request_parse_json_object (request, &error);
    if (body == NULL) {
      call_free (call);
      we_api_request_respond_error (request, error);
      return;
    }
    call->refresh_token = g_strdup (
        json_object_get_string_member_with_default (body, "refresh_token", NULL));
    call->all_sessions = json_object_get_boolean_member_with_default (body, "all_sessions",
                                                                      FALSE);
  }
  call->op = OP_LOGOUT;
  call->providers = auth_providers (request, FALSE, NULL);
  call->user_id = g_strdup (request->identity->user_id);
  run_call (request, call, logout_cb);
}

/* ---- GET /v1/auth/me ---- */

void
we_api_auth_me (WeApiRequest *request)
{
  we_api_request_respond_object (request, SOUP_STATUS_OK, identity_to_json (request->identity));
}

/* ---- GET /v1/users ---- */

static void
users_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  WeApiRequest *request = user_data;
  g_autoptr(GPtrArray) users = g_task_propagate_pointer (G_TASK (result), NULL);
  JsonObject *o = json_object_new ();
  JsonArray *array = json_array_new ();

  for (guint i = 0; users != NULL && i < users->len; i++)
    json_array_add_object_element (array, identity_to_json (g_ptr_array_index (users, i)));
  json_object_set_int_member (o, "total_count", json_array_get_length (array));
  json_object_set_array_member (o, "users", array);
  we_api_request_respond_object (request, SOUP_STATUS_OK, o);
}

void
we_api_users_list (WeApiRequest *request)
{
  const gchar *role = we_api_request_query (request, "role");
  Call *call;

  if (role != NULL && we_role_from_string (role) == WE_ROLE_NONE) {
    g_autoptr(GError) error = g_error_new_literal (WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                                                   "role must be viewer, operator or admin");
    we_api_request_respond_error (request, error);
    return;
  }
  call = g_new0 (Call, 1);
  call->op = OP_LIST_USERS;
  call->providers = auth_providers (request, FALSE, NULL);
  call->role_filter = role ? we_role_from_string (role) : WE_ROLE_NONE;
  run_call (request, call, users_cb);
}
