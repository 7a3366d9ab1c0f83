/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * OpenID Connect authentication pillar (spec §3.3 plugin-auth-oidc, §7.1,
 * §13). Bearer tokens are JWT access tokens of one issuer, verified locally
 * against the issuer's JWKS: discovery and keys are fetched lazily, keys again
 * when a token names a kid we do not know (at most every jwks_min_refresh_s,
 * so forged kids cannot make us hammer the IdP) and when the set is older
 * than jwks_max_age_s. Validated tokens are remembered by their SHA-256 (never
 * the token itself) until min(exp, cache_ttl_s).
 *
 * The dashboard logs in through the authorization-code flow with PKCE S256;
 * the kernel keeps state and verifier, we build the URL and redeem the code.
 *
 * All methods may block on the network: the kernel calls them from worker
 * threads. HTTP runs synchronously on a private SoupSession per call, inside
 * a private main context, so nothing touches the daemon's main loop.
 */
#include <webencode/webencode.h>

#include <libsoup/soup.h>
#include <string.h>

#include "we-jwks.h"
#include "we-jwt.h"

#define USER_ID_NS        "webencode:auth-oidc:"
#define MAX_CACHE         10000
#define MAX_LOGGED_OUT    10000
#define MAX_HTTP_BODY     (256 * 1024)
#define LOGGED_OUT_KEEP_S (24 * 3600)

typedef struct {
  WeIdentity *identity;
  gint64      until_unix;
} CacheEntry;

static void
cache_entry_free (CacheEntry *entry)
{
  we_identity_free (entry->identity);
  g_free (entry);
}

#define WE_TYPE_AUTH_OIDC (we_auth_oidc_get_type ())
G_DECLARE_FINAL_TYPE (WeAuthOidc, we_auth_oidc, WE, AUTH_OIDC, GObject)

struct _WeAuthOidc {
  GObject     parent_instance;

  /* configuration, immutable after create() */
  gchar      *issuer;
  gchar      *audience;
  gchar      *client_id;
  JsonObject *config;          /* for client_secret_ref, resolved when needed */
  WeSecrets  *secrets;         /* nullable */
  gchar      *role_claim;
  GHashTable *role_map;        /* IdP value → WeRole; empty: role names as-is */
  WeRole      default_role;
  gchar      *scopes;
  gint64      cache_ttl_s;
  gint64      jwks_min_refresh_s;
  gint64      jwks_max_age_s;
  gint64      leeway_s;
  guint       http_timeout_s;

  /* Serialises discovery and JWKS fetches, so a burst of requests with a new
   * kid costs the IdP one fetch. Taken before @lock, never while holding it. */
  GMutex      fetch_lock;

  /* Everything below under @lock. */
  GMutex      lock;
  gboolean    discovered;
  gchar      *authorization_endpoint;
  gchar      *token_endpoint;
  gchar      *jwks_uri;
  gchar      *userinfo_endpoint;
  gchar      *revocation_endpoint;
  WeJwks     *jwks;
  gint64      jwks_fetched_at;  /* monotonic µs of the last good fetch */
  gint64      fetch_attempt_at; /* monotonic µs of the last attempt, good or not */
  gboolean    last_fetch_failed;
  GHashTable *cache;            /* hex SHA-256 of the token → CacheEntry */
  GHashTable *logged_out;       /* user id → unix second of the last logout */
};

static void we_auth_oidc_iface_init (WeAuthProviderInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (WeAuthOidc, we_auth_oidc, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (WE_TYPE_AUTH_PROVIDER,
                                                      we_auth_oidc_iface_init))

static void
we_auth_oidc_finalize (GObject *object)
{
  WeAuthOidc *self = WE_AUTH_OIDC (object);

  g_free (self->issuer);
  g_free (self->audience);
  g_free (self->client_id);
  g_clear_pointer (&self->config, json_object_unref);
  g_clear_object (&self->secrets);
  g_free (self->role_claim);
  g_hash_table_unref (self->role_map);
  g_free (self->scopes);
  g_free (self->authorization_endpoint);
  g_free (self->token_endpoint);
  g_free (self->jwks_uri);
  g_free (self->userinfo_endpoint);
  g_free (self->revocation_endpoint);
  g_clear_pointer (&self->jwks, we_jwks_unref);
  g_hash_table_unref (self->cache);
  g_hash_table_unref (self->logged_out);
  g_mutex_clear (&self->lock);
  g_mutex_clear (&self->fetch_lock);
  G_OBJECT_CLASS (we_auth_oidc_parent_class)->finalize (object);
}

static void
we_auth_oidc_class_init (WeAuthOidcClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = we_auth_oidc_finalize;
}

static void
we_auth_oidc_init (WeAuthOidc *self)
{
  g_mutex_init (&self->lock);
  g_mutex_init (&self->fetch_lock);
  self->role_map = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->cache = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                       (GDestroyNotify) cache_entry_free);
  self->logged_out = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
}

static gboolean
unauthorized (GError **error, const gchar *message)
{
  g_set_error_literal (error, WE_ERROR, WE_ERROR_AUTH_UNAUTHORIZED, message);
  return FALSE;
}

/* ---- HTTP ---- */

/* Sends @msg and reads at most MAX_HTTP_BODY bytes of the answer. Transport
 * failures are WE_ERROR_AUTH_PROVIDER_UNAVAILABLE; HTTP errors are left to the
 * caller, who sees @status. */
static GBytes *
http_send (WeAuthOidc *self, SoupMessage *msg, guint *status, GError **error)
{
  g_autoptr(GMainContext) context = g_main_context_new ();
  g_autoptr(SoupSession) session = NULL;
  g_autoptr(GInputStream) stream = NULL;
  g_autoptr(GByteArray) body = g_byte_array_new ();
  g_autoptr(GError) local = NULL;
  guint8 buf[8192];
  GBytes *out = NULL;

  g_main_context_push_thread_default (context);
  session = soup_session_new_with_options ("timeout", self->http_timeout_s, "idle-timeout",
                                           self->http_timeout_s, "user-agent",
                                           "webencode-auth-oidc", NULL);
  soup_message_headers_replace (soup_message_get_request_headers (msg), "Accept",
                                "application/json");
  stream = soup_session_send (session, msg, NULL, &local);
  while (stream != NULL) {
    gssize n = g_input_stream_read (stream, buf, sizeof buf, NULL, &local);
    if (n <= 0)
      break;
    if (body->len + (gsize) n > MAX_HTTP_BODY) {
      local = g_error_new (G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE,
                           "answer larger than %d bytes", MAX_HTTP_BODY);
      break;
    }
    g_byte_array_append (body, buf, (guint) n);
  }
  if (stream != NULL)
    g_input_stream_close (stream, NULL, NULL);
  g_clear_object (&stream);
  g_clear_object (&session);
  g_main_context_pop_thread_default (context);

  if (local != NULL) {
    g_autofree gchar *where = g_uri_to_string_partial (soup_message_get_uri (msg),
                                                       G_URI_HIDE_QUERY | G_URI_HIDE_USERINFO);
    g_set_error (error, WE_ERROR, WE_ERROR_AUTH_PROVIDER_UNAVAILABLE,
                 "the identity provider is unavailable (%s): %s", where, local->message);
    return NULL;
  }
  *status = soup_message_get_status (msg);
  out = g_byte_array_free_to_bytes (g_steal_pointer (&body));
  return out;
}

static JsonObject *
parse_object (GBytes *bytes)
{
  g_autoptr(JsonParser) parser = json_parser_new_immutable ();
  gsize len = 0;
  const gchar *data = g_bytes_get_data (bytes, &len);
  JsonNode *root;

  if (data == NULL || len == 0 || !g_utf8_validate (data, (gssize) len, NULL) ||
      !json_parser_load_from_data (parser, data, (gssize) len, NULL))
    return NULL;
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    return NULL;
  return json_object_ref (json_node_get_object (root));
}

/* GET @url as JSON: anything but a 200 with an object is the IdP failing. */
static JsonObject *
http_get_json (WeAuthOidc *self, const gchar *url, GError **error)
{
  g_autoptr(SoupMessage) msg = soup_message_new ("GET", url);
  g_autoptr(GBytes) body = NULL;
  JsonObject *object;
  guint status = 0;

  if (msg == NULL) {
    g_set_error (error, WE_ERROR, WE_ERROR_AUTH_PROVIDER_UNAVAILABLE, "invalid URL %s", url);
    return NULL;
  }
  body = http_send (self, msg, &status, error);
  if (body == NULL)
    return NULL;
  if (status != SOUP_STATUS_OK) {
    g_set_error (error, WE_ERROR, WE_ERROR_AUTH_PROVIDER_UNAVAILABLE,
                 "the identity provider answered %u for %s", status, url);
    return NULL;
  }
  object = parse_object (body);
  if (object == NULL)
    g_set_error (error, WE_ERROR, WE_ERROR_AUTH_PROVIDER_UNAVAILABLE,
                 "the identity provider sent no JSON object for %s", url);
  return object;
}

static gchar *
endpoint (JsonObject *doc, const gchar *name)
{
  const gchar *url = json_object_get_string_member_with_default (doc, name, NULL);

  if (url == NULL || !(g_str_has_prefix (url, "https://") || g_str_has_prefix (url, "http://")))
    return NULL;
  return g_strdup (url);
}

/* Fetches the discovery document unless we have it. @fetch_lock held. */
static gboolean
ensure_discovery_locked (WeAuthOidc *self, GError **error)
{
  g_autoptr(JsonObject) doc = NULL;
  g_autofree gchar *base = NULL;
  g_autofree gchar *url = NULL;
  gboolean have;

  g_mutex_lock (&self->lock);
  have = self->discovered;
  g_mutex_unlock (&self->lock);
  if (have)
    return TRUE;

  base = g_strdup (self->issuer);
  while (g_str_has_suffix (base, "/"))
    base[strlen (base) - 1] = '\0';
  url = g_strconcat (base, "/.well-known/openid-configuration", NULL);
  doc = http_get_json (self, url, error);
  if (doc == NULL)
    return FALSE;
  /* OpenID Connect Discovery §4.3: the document must name the issuer we asked */
  if (g_strcmp0 (json_object_get_string_member_with_default (doc, "issuer", NULL),
                 self->issuer) != 0) {
    g_set_error (error, WE_ERROR, WE_ERROR_AUTH_PROVIDER_UNAVAILABLE,
                 "discovery at %s names another issuer than %s", url, self->issuer);
    return FALSE;
  }
  g_mutex_lock (&self->lock);
  g_free (self->jwks_uri);
  self->jwks_uri = endpoint (doc, "jwks_uri");
  g_free (self->authorization_endpoint);
  self->authorization_endpoint = endpoint (doc, "authorization_endpoint");
  g_free (self->token_endpoint);
  self->token_endpoint = endpoint (doc, "token_endpoint");
  g_free (self->userinfo_endpoint);
  self->userinfo_endpoint = endpoint (doc, "userinfo_endpoint");
  g_free (self->revocation_endpoint);
  self->revocation_endpoint = endpoint (doc, "revocation_endpoint");
  self->discovered = self->jwks_uri != NULL;
  have = self->discovered;
  g_mutex_unlock (&self->lock);
  if (!have) {
    g_set_error (error, WE_ERROR, WE_ERROR_AUTH_PROVIDER_UNAVAILABLE,
                 "discovery at %s has no jwks_uri", url);
    return FALSE;
  }
  g_debug ("discovered %s", self->issuer);
  return TRUE;
}

/* Fetches discovery (if needed) and the JWKS. @fetch_lock held. */
static gboolean
fetch_jwks_locked (WeAuthOidc *self, GError **error)
{
  g_autoptr(SoupMessage) msg = NULL;
  g_autoptr(GBytes) body = NULL;
  g_autoptr(WeJwks) jwks = NULL;
  g_autofree gchar *uri = NULL;
  guint status = 0;
  gsize len = 0;
  const gchar *data;

  g_mutex_lock (&self->lock);
  self->fetch_attempt_at = g_get_monotonic_time ();
  self->last_fetch_failed = TRUE;
  g_mutex_unlock (&self->lock);

  if (!ensure_discovery_locked (self, error))
    return FALSE;
  g_mutex_lock (&self->lock);
  uri = g_strdup (self->jwks_uri);
  g_mutex_unlock (&self->lock);
  msg = soup_message_new ("GET", uri);
  if (msg == NULL) {
    g_set_error (error, WE_ERROR, WE_ERROR_AUTH_PROVIDER_UNAVAILABLE, "invalid jwks_uri %s", uri);
    return FALSE;
  }
  body = http_send (self, msg, &status, error);
  if (body == NULL)
    return FALSE;
  if (status != SOUP_STATUS_OK) {
    g_set_error (error, WE_ERROR, WE_ERROR_AUTH_PROVIDER_UNAVAILABLE,
                 "the identity provider answered %u for its JWKS", status);
    return FALSE;
  }
  data = g_bytes_get_data (body, &len);
  jwks = we_jwks_parse (data ? data : "", len, error);
  if (jwks == NULL)
    return FALSE;
  g_info ("fetched %u signing keys of %s", we_jwks_n_keys (jwks), self->issuer);
  g_mutex_lock (&self->lock);
  g_clear_pointer (&self->jwks, we_jwks_unref);
  self->jwks = g_steal_pointer (&jwks);
  self->jwks_fetched_at = g_get_monotonic_time ();
  self->last_fetch_failed = FALSE;
  g_mutex_unlock (&self->lock);
  return TRUE;
}

/* The key set to verify @jwt with, refreshed when the token names a key we
 * do not have (rate-limited) or the set is old. @key_out points into the
 * returned set. Returns: (transfer full) (nullable) */
static WeJwks *
keys_for (WeAuthOidc *self, const WeJwt *jwt, const WeJwk **key_out, GError **error)
{
  g_autoptr(WeJwks) jwks = NULL;
  g_autoptr(GError) local = NULL;
  gint64 now = g_get_monotonic_time ();
  gint64 fetched_at, attempt_at;
  gboolean failed, stale, may_fetch;
  const WeJwk *key = NULL;

  g_mutex_lock (&self->lock);
  jwks = self->jwks ? we_jwks_ref (self->jwks) : NULL;
  fetched_at = self->jwks_fetched_at;
  g_mutex_unlock (&self->lock);

  if (jwks != NULL) {
    key = we_jwks_find (jwks, jwt);
    stale = now - fetched_at > self->jwks_max_age_s * G_USEC_PER_SEC;
    if (key != NULL && !stale) {
      *key_out = key;
      return g_steal_pointer (&jwks);
    }
  }

  g_mutex_lock (&self->fetch_lock);
  g_mutex_lock (&self->lock);
  attempt_at = self->fetch_attempt_at;
  failed = self->last_fetch_failed;
  /* someone else may have fetched while we waited for the fetch lock */
  if (self->jwks != NULL && self->jwks_fetched_at != fetched_at) {
    g_clear_pointer (&jwks, we_jwks_unref);
    jwks = we_jwks_ref (self->jwks);
    fetched_at = self->jwks_fetched_at;
  }
  g_mutex_unlock (&self->lock);
  key = jwks ? we_jwks_find (jwks, jwt) : NULL;
  stale = jwks == NULL || now - fetched_at > self->jwks_max_age_s * G_USEC_PER_SEC;
  may_fetch = attempt_at == 0 || now - attempt_at >= self->jwks_min_refresh_s * G_USEC_PER_SEC;
  if ((key == NULL || stale) && may_fetch) {
    if (fetch_jwks_locked (self, &local)) {
      g_clear_pointer (&jwks, we_jwks_unref);
      g_mutex_lock (&self->lock);
      jwks = we_jwks_ref (self->jwks);
      g_mutex_unlock (&self->lock);
      key = we_jwks_find (jwks, jwt);
      failed = FALSE;
    } else {
      g_warning ("%s", local->message);
      failed = TRUE;
    }
  }
  g_mutex_unlock (&self->fetch_lock);

  if (key != NULL) {
    /* an old set still verifies while the IdP is away */
    *key_out = key;
    return g_steal_pointer (&jwks);
  }
  if (failed) {
    if (local != NULL)
      g_propagate_error (error, g_steal_pointer (&local));
    else
      g_set_error_literal (error, WE_ERROR, WE_ERROR_AUTH_PROVIDER_UNAVAILABLE,
                           "the identity provider's keys cannot be fetched");
    return NULL;
  }
  unauthorized (error, "JWT signed with a key the issuer does not publish");
  return NULL;
}

/* ---- identities ---- */

/* A stable, UUID-shaped id per issuer and subject (version 5 bits, RFC 4122
 * variant), so a user keeps their jobs across logins and kernels. */
static gchar *
user_id_for (const gchar *issuer, const gchar *sub)
{
  g_autoptr(GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);
  guint8 d[32];
  gsize len = sizeof (d);

  g_checksum_update (sum, (const guchar *) USER_ID_NS, -1);
  g_checksum_update (sum, (const guchar *) issuer, -1);
  g_checksum_update (sum, (const guchar *) "\n", 1);
  g_checksum_update (sum, (const guchar *) sub, -1);
  g_checksum_get_digest (sum, d, &len);
  d[6] = (d[6] & 0x0f) | 0x50;
  d[8] = (d[8] & 0x3f) | 0x80;
  return g_strdup_printf ("%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
                          "%02x%02x%02x%02x%02x%02x",
                          d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7], d[8], d[9], d[10], d[11],
                          d[12], d[13], d[14], d[15]);
}

static WeRole
role_of_value (WeAuthOidc *self, const gchar *value)
{
  gpointer role;

  if (g_hash_table_size (self->role_map) == 0)
    return we_role_from_string (value);
  if (g_hash_table_lookup_extended (self->role_map, value, NULL, &role))
    return GPOINTER_TO_INT (role);
  return WE_ROLE_NONE;
}

static WeRole
role_of_string (WeAuthOidc *self, const gchar *text)
{
  g_auto(GStrv) words = g_strsplit_set (text, " \t", -1);
  WeRole best = WE_ROLE_NONE;

  /* space-separated lists too, as in "scope" */
  for (guint i = 0; words[i] != NULL; i++)
    if (words[i][0] != '\0')
      best = MAX (best, role_of_value (self, words[i]));
  return best;
}

static WeRole
role_from_claims (WeAuthOidc *self, const WeJwt *jwt)
{
  JsonNode *node = we_jwt_get_path (jwt, self->role_claim);
  WeRole best = WE_ROLE_NONE;

  if (node != NULL && JSON_NODE_HOLDS_VALUE (node) &&
      json_node_get_value_type (node) == G_TYPE_STRING) {
    best = role_of_string (self, json_node_get_string (node));
  } else if (node != NULL && JSON_NODE_HOLDS_ARRAY (node)) {
    JsonArray *array = json_node_get_array (node);
    for (guint i = 0; i < json_array_get_length (array) && i < 256; i++) {
      JsonNode *el = json_array_get_element (array, i);
      if (JSON_NODE_HOLDS_VALUE (el) && json_node_get_value_type (el) == G_TYPE_STRING)
        best = MAX (best, role_of_value (self, json_node_get_string (el)));
    }
  }
  return best != WE_ROLE_NONE ? best : self->default_role;
}

static WeIdentity *
identity_from_jwt (WeAuthOidc *self, const WeJwt *jwt)
{
  WeIdentity *identity = we_identity_new ();
  const gchar *sub = we_jwt_get_string (jwt, "sub");
  const gchar *username = we_jwt_get_string (jwt, "preferred_username");
  const gchar *email = we_jwt_get_string (jwt, "email");
  const gchar *name = we_jwt_get_string (jwt, "name");

  if (username == NULL)
    username = email ? email : sub;
  identity->user_id = user_id_for (self->issuer, sub);
  identity->username = g_strdup (username);
  identity->email = g_strdup (email);
  identity->display_name = g_strdup (name ? name : username);
  identity->role = role_from_claims (self, jwt);
  identity->expires_at_unix = we_jwt_get_int (jwt, "exp");
  return identity;
}

static gchar *
token_digest (const gchar *token)
{
  return g_compute_checksum_for_string (G_CHECKSUM_SHA256, token, -1);
}

/* @lock held */
static void
cache_insert_locked (WeAuthOidc *self, gchar *digest, const WeIdentity *identity, gint64 until)
{
  CacheEntry *entry;

  if (g_hash_table_size (self->cache) >= MAX_CACHE) {
    GHashTableIter iter;
    CacheEntry *e;
    gint64 now = g_get_real_time () / G_USEC_PER_SEC;

    g_hash_table_iter_init (&iter, self->cache);
    while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &e))
      if (e->until_unix <= now)
        g_hash_table_iter_remove (&iter);
    if (g_hash_table_size (self->cache) >= MAX_CACHE)
      g_hash_table_remove_all (self->cache);
  }
  entry = g_new0 (CacheEntry, 1);
  entry->identity = we_identity_copy (identity);
  g_clear_pointer (&entry->identity->access_token, g_free);
  g_clear_pointer (&entry->identity->refresh_token, g_free);
  entry->until_unix = until;
  g_hash_table_replace (self->cache, digest, entry);
}

/* Verifies @token completely; on success the identity is cached. */
static WeIdentity *
validate_token (WeAuthOidc *self, const gchar *token, GError **error)
{
  g_autoptr(WeJwt) jwt = NULL;
  g_autoptr(WeJwks) jwks = NULL;
  g_autoptr(WeIdentity) identity = NULL;
  g_autofree gchar *digest = token_digest (token);
  const WeJwk *key = NULL;
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  gint64 *logout_at;
  CacheEntry *entry;

  g_mutex_lock (&self->lock);
  entry = g_hash_table_lookup (self->cache, digest);
  if (entry != NULL && entry->until_unix > now)
    identity = we_identity_copy (entry->identity);
  else if (entry != NULL)
    g_hash_table_remove (self->cache, digest);
  g_mutex_unlock (&self->lock);
  if (identity != NULL)
    return g_steal_pointer (&identity);

  jwt = we_jwt_parse (token, error);
  if (jwt == NULL)
    return NULL;
  /* a foreign token must not make us fetch keys: iss is checked for real
   * after the signature, this only saves the IdP the trip */
  if (g_strcmp0 (we_jwt_get_string (jwt, "iss"), self->issuer) != 0) {
    unauthorized (error, "JWT from another issuer");
    return NULL;
  }
  jwks = keys_for (self, jwt, &key, error);
  if (jwks == NULL)
    return NULL;
  if (!we_jwt_verify (jwt, key, error))
    return NULL;
  if (!we_jwt_check_claims (jwt, self->issuer, self->audience, now, self->leeway_s, error))
    return NULL;
  identity = identity_from_jwt (self, jwt);

  g_mutex_lock (&self->lock);
  logout_at = g_hash_table_lookup (self->logged_out, identity->user_id);
  if (logout_at != NULL && we_jwt_get_int (jwt, "iat") < *logout_at) {
    g_mutex_unlock (&self->lock);
    unauthorized (error, "the session of this token was ended by a logout");
    return NULL;
  }
  cache_insert_locked (self, g_steal_pointer (&digest), identity,
                       MIN (identity->expires_at_unix, now + self->cache_ttl_s));
  g_mutex_unlock (&self->lock);
  return g_steal_pointer (&identity);
}

static WeIdentity *
we_auth_oidc_authenticate (WeAuthProvider *provider, const WeAuthRequest *request,
                           GError **error)
{
  WeAuthOidc *self = WE_AUTH_OIDC (provider);

  /* other schemes belong to other providers: say so without any work */
  if (request == NULL || request->scheme == NULL ||
      g_ascii_strcasecmp (request->scheme, "bearer") != 0) {
    unauthorized (error, "not a bearer token");
    return NULL;
  }
  if (request->token == NULL || request->token[0] == '\0') {
    unauthorized (error, "empty bearer token");
    return NULL;
  }
  return validate_token (self, request->token, error);
}

static WeIdentity *
we_auth_oidc_get_user_profile (WeAuthProvider *provider, const gchar *user_id, GError **error)
{
  WeAuthOidc *self = WE_AUTH_OIDC (provider);
  WeIdentity *found = NULL;
  GHashTableIter iter;
  CacheEntry *entry;

  /* OIDC has no directory to ask without the user's token: what we know is
   * what their last token said */
  g_mutex_lock (&self->lock);
  g_hash_table_iter_init (&iter, self->cache);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &entry)) {
    if (g_strcmp0 (entry->identity->user_id, user_id) == 0) {
      found = we_identity_copy (entry->identity);
      break;
    }
  }
  g_mutex_unlock (&self->lock);
  if (found == NULL)
    g_set_error (error, WE_ERROR, WE_ERROR_SYS_NOT_FOUND,
                 "user %s has no recent session with this kernel", user_id ? user_id : "(null)");
  return found;
}

static GPtrArray *
we_auth_oidc_list_users (WeAuthProvider *provider, WeRole role_filter, GError **error)
{
  g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                       "auth-oidc cannot list the identity provider's users");
  return NULL;
}

/* ---- the token endpoint ---- */

/* Adds client authentication: HTTP Basic (RFC 6749 §2.3.1, the OIDC default)
 * for a confidential client, client_id in the form for a public one. */
static gboolean
token_request (WeAuthOidc *self, GHashTable *form, const gchar *url, JsonObject **response,
               guint *status, GError **error)
{
  g_autoptr(SoupMessage) msg = NULL;
  g_autoptr(GBytes) body = NULL;
  g_autoptr(GError) local = NULL;
  gchar *secret;

  secret = we_plugin_config_get_secret (self->config, self->secrets, "client", NULL, &local);
  if (secret == NULL && local != NULL) {
    g_set_error (error, WE_ERROR, WE_ERROR_AUTH_PROVIDER_UNAVAILABLE,
                 "auth-oidc client secret unavailable: %s", local->message);
    return FALSE;
  }
  if (secret == NULL)
    g_hash_table_insert (form, (gpointer) "client_id", self->client_id);
  msg = soup_message_new_from_encoded_form ("POST", url, soup_form_encode_hash (form));
  if (msg == NULL) {
    we_secret_free (secret);
    g_set_error (error, WE_ERROR, WE_ERROR_AUTH_PROVIDER_UNAVAILABLE, "invalid endpoint %s", url);
    return FALSE;
  }
  if (secret != NULL) {
    g_autofree gchar *id = g_uri_escape_string (self->client_id, NULL, FALSE);
    gchar *pw = g_uri_escape_string (secret, NULL, FALSE);
    gchar *pair = g_strconcat (id, ":", pw, NULL);
    gchar *b64 = g_base64_encode ((const guchar *) pair, strlen (pair));
    gchar *header = g_strconcat ("Basic ", b64, NULL);

    soup_message_headers_replace (soup_message_get_request_headers (msg), "Authorization", header);
    we_secret_free (header);
    we_secret_free (b64);
    we_secret_free (pair);
    we_secret_free (pw);
    we_secret_free (secret);
  }
  body = http_send (self, msg, status, error);
  if (body == NULL)
    return FALSE;
  *response = parse_object (body);
  return TRUE;
}

/* Redeems a grant at the token endpoint and verifies the access token we get
 * back like any bearer token. */
static WeIdentity *
redeem (WeAuthOidc *self, GHashTable *form, GError **error)
{
  g_autoptr(JsonObject) response = NULL;
  g_autoptr(WeIdentity) identity = NULL;
  g_autofree gchar *url = NULL;
  const gchar *access, *refresh;
  guint status = 0;

  g_mutex_lock (&self->fetch_lock);
  if (!ensure_discovery_locked (self, error)) {
    g_mutex_unlock (&self->fetch_lock);
    return NULL;
  }
  g_mutex_unlock (&self->fetch_lock);
  g_mutex_lock (&self->lock);
  url = g_strdup (self->token_endpoint);
  g_mutex_unlock (&self->lock);
  if (url == NULL) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_AUTH_PROVIDER_UNAVAILABLE,
                         "the identity provider has no token endpoint");
    return NULL;
  }
  if (!token_request (self, form, url, &response, &status, error))
    return NULL;
  if (status >= 500 || (status != SOUP_STATUS_OK && response == NULL)) {
    g_set_error (error, WE_ERROR, WE_ERROR_AUTH_PROVIDER_UNAVAILABLE,
                 "the identity provider's token endpoint answered %u", status);
    return NULL;
  }
  if (status != SOUP_STATUS_OK) {
    /* RFC 6749 §5.2: invalid_grant and friends; the code says enough */
    g_set_error (error, WE_ERROR, WE_ERROR_AUTH_UNAUTHORIZED,
                 "the identity provider refused the grant: %s",
                 json_object_get_string_member_with_default (response, "error", "unknown error"));
    return NULL;
  }
  access = response ? json_object_get_string_member_with_default (response, "access_token", NULL)
                    : NULL;
  refresh = json_object_get_string_member_with_default (response, "refresh_token", NULL);
  if (access == NULL) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_AUTH_PROVIDER_UNAVAILABLE,
                         "the identity provider's token response has no access token");
    return NULL;
  }
  identity = validate_token (self, access, error);
  if (identity == NULL) {
    g_prefix_error (error, "the access token the identity provider issued is not usable here: ");
    return NULL;
  }
  identity->access_token = g_strdup (access);
  identity->refresh_token = g_strdup (refresh);
  return g_steal_pointer (&identity);
}

static WeIdentity *
we_auth_oidc_refresh_token (WeAuthProvider *provider, const gchar *refresh_token, GError **error)
{
  WeAuthOidc *self = WE_AUTH_OIDC (provider);
  g_autoptr(GHashTable) form = g_hash_table_new (g_str_hash, g_str_equal);

  if (refresh_token == NULL || refresh_token[0] == '\0' || strlen (refresh_token) > 8192) {
    unauthorized (error, "no usable refresh token");
    return NULL;
  }
  g_hash_table_insert (form, (gpointer) "grant_type", (gpointer) "refresh_token");
  g_hash_table_insert (form, (gpointer) "refresh_token", (gpointer) refresh_token);
  return redeem (self, form, error);
}

static gchar *
pkce_challenge (const gchar *verifier)
{
  g_autoptr(GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);
  guint8 digest[32];
  gsize len = sizeof digest;

  g_checksum_update (sum, (const guchar *) verifier, -1);
  g_checksum_get_digest (sum, digest, &len);
  return we_base64url_encode (digest, len);
}

static gchar *
we_auth_oidc_begin_login (WeAuthProvider *provider, const gchar *redirect_uri, const gchar *state,
                          const gchar *code_verifier, GError **error)
{
  WeAuthOidc *self = WE_AUTH_OIDC (provider);
  g_autofree gchar *auth_url = NULL;
  g_autofree gchar *challenge = NULL;
  g_autofree gchar *query = NULL;
  g_autoptr(GHashTable) params = g_hash_table_new (g_str_hash, g_str_equal);
  gsize vlen = code_verifier ? strlen (code_verifier) : 0;

  /* RFC 7636 §4.1 */
  if (vlen < 43 || vlen > 128 || state == NULL || state[0] == '\0') {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_SYS_INTERNAL,
                         "login needs a state and a 43 to 128 character PKCE verifier");
    return NULL;
  }
  g_mutex_lock (&self->fetch_lock);
  if (!ensure_discovery_locked (self, error)) {
    g_mutex_unlock (&self->fetch_lock);
    return NULL;
  }
  g_mutex_unlock (&self->fetch_lock);
  g_mutex_lock (&self->lock);
  auth_url = g_strdup (self->authorization_endpoint);
  g_mutex_unlock (&self->lock);
  if (auth_url == NULL) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_AUTH_PROVIDER_UNAVAILABLE,
                         "the identity provider has no authorization endpoint");
    return NULL;
  }
  challenge = pkce_challenge (code_verifier);
  g_hash_table_insert (params, (gpointer) "response_type", (gpointer) "code");
  g_hash_table_insert (params, (gpointer) "client_id", self->client_id);
  g_hash_table_insert (params, (gpointer) "redirect_uri", (gpointer) redirect_uri);
  g_hash_table_insert (params, (gpointer) "scope", self->scopes);
  g_hash_table_insert (params, (gpointer) "state", (gpointer) state);
  g_hash_table_insert (params, (gpointer) "code_challenge", challenge);
  g_hash_table_insert (params, (gpointer) "code_challenge_method", (gpointer) "S256");
  /* OIDC Core §11: offline_access (a refresh token) needs consent */
  if (strstr (self->scopes, "offline_access") != NULL)
    g_hash_table_insert (params, (gpointer) "prompt", (gpointer) "consent");
  query = soup_form_encode_hash (params);
  return g_strconcat (auth_url, strchr (auth_url, '?') ? "&" : "?", query, NULL);
}

static WeIdentity *
we_auth_oidc_complete_login (WeAuthProvider *provider, const gchar *redirect_uri,
                             const gchar *code, const gchar *code_verifier, GError **error)
{
  WeAuthOidc *self = WE_AUTH_OIDC (provider);
  g_autoptr(GHashTable) form = g_hash_table_new (g_str_hash, g_str_equal);

  if (code == NULL || code[0] == '\0' || strlen (code) > 4096 || code_verifier == NULL) {
    unauthorized (error, "no authorization code");
    return NULL;
  }
  g_hash_table_insert (form, (gpointer) "grant_type", (gpointer) "authorization_code");
  g_hash_table_insert (form, (gpointer) "code", (gpointer) code);
  g_hash_table_insert (form, (gpointer) "redirect_uri", (gpointer) redirect_uri);
  g_hash_table_insert (form, (gpointer) "code_verifier", (gpointer) code_verifier);
  return redeem (self, form, error);
}

static void
revoke_token (WeAuthOidc *self, const gchar *token)
{
  g_autoptr(GHashTable) form = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr(JsonObject) response = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *url = NULL;
  guint status = 0;

  g_mutex_lock (&self->fetch_lock);
  if (!ensure_discovery_locked (self, &error)) {
    g_mutex_unlock (&self->fetch_lock);
    g_warning ("cannot revoke the refresh token: %s", error->message);
    return;
  }
  g_mutex_unlock (&self->fetch_lock);
  g_mutex_lock (&self->lock);
  url = g_strdup (self->revocation_endpoint);
  g_mutex_unlock (&self->lock);
  if (url == NULL)
    return; /* the IdP offers no revocation (RFC 7009) */
  g_hash_table_insert (form, (gpointer) "token", (gpointer) token);
  g_hash_table_insert (form, (gpointer) "token_type_hint", (gpointer) "refresh_token");
  if (!token_request (self, form, url, &response, &status, &error))
    g_warning ("cannot revoke the refresh token: %s", error->message);
  else if (status != SOUP_STATUS_OK)
    g_warning ("the identity provider refused to revoke a refresh token (HTTP %u)", status);
}

/* Ends every session of @user_id on this kernel: tokens issued before now
 * are refused from here on, even though they would still verify. With
 * @session_id set to the session's refresh token, that token is revoked at
 * the IdP too (if it offers RFC 7009 revocation). */
static gboolean
we_auth_oidc_logout (WeAuthProvider *provider, const gchar *user_id, const gchar *session_id,
                     gboolean all_sessions, GError **error)
{
  WeAuthOidc *self = WE_AUTH_OIDC (provider);
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  GHashTableIter iter;
  CacheEntry *entry;
  gint64 *at;

  if (user_id != NULL) {
    g_mutex_lock (&self->lock);
    g_hash_table_iter_init (&iter, self->cache);
    while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &entry))
      if (g_strcmp0 (entry->identity->user_id, user_id) == 0)
        g_hash_table_iter_remove (&iter);
    if (g_hash_table_size (self->logged_out) >= MAX_LOGGED_OUT) {
      g_hash_table_iter_init (&iter, self->logged_out);
      while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &at))
        if (*at < now - LOGGED_OUT_KEEP_S)
          g_hash_table_iter_remove (&iter);
    }
    if (g_hash_table_size (self->logged_out) < MAX_LOGGED_OUT) {
      at = g_new (gint64, 1);
      *at = now;
      g_hash_table_replace (self->logged_out, g_strdup (user_id), at);
    }
    g_mutex_unlock (&self->lock);
  }
  if (session_id != NULL && session_id[0] != '\0')
    revoke_token (self, session_id);
  return TRUE;
}

static void
we_auth_oidc_iface_init (WeAuthProviderInterface *iface)
{
  iface->authenticate = we_auth_oidc_authenticate;
  iface->get_user_profile = we_auth_oidc_get_user_profile;
  iface->list_users = we_auth_oidc_list_users;
  iface->refresh_token = we_auth_oidc_refresh_token;
  iface->logout = we_auth_oidc_logout;
  iface->begin_login = we_auth_oidc_begin_login;
  iface->complete_login = we_auth_oidc_complete_login;
}

/* ---- the module ---- */

static gboolean config_error (GError **error, const gchar *format, ...) G_GNUC_PRINTF (2, 3);

static gboolean
config_error (GError **error, const gchar *format, ...)
{
  va_list args;

  va_start (args, format);
  g_propagate_error (error, g_error_new_valist (WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG, format,
                                                args));
  va_end (args);
  return FALSE;
}

static gboolean
get_seconds (JsonObject *config, const gchar *key, gint64 def, gint64 min, gint64 max,
             gint64 *out, GError **error)
{
  *out = we_plugin_config_get_int (config, key, def);
  if (*out < min || *out > max) {
    g_set_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                 "auth-oidc '%s' must be between %" G_GINT64_FORMAT " and %" G_GINT64_FORMAT,
                 key, min, max);
    return FALSE;
  }
  return TRUE;
}

static gboolean
parse_role_map (WeAuthOidc *self, JsonObject *config, GError **error)
{
  g_auto(GStrv) pairs = we_plugin_config_get_strv (config, "role_map");

  for (guint i = 0; pairs != NULL && pairs[i] != NULL; i++) {
    g_auto(GStrv) kv = g_strsplit (pairs[i], "=", 2);
    WeRole role;

    if (kv[0] == NULL || kv[1] == NULL || g_strstrip (kv[1])[0] == '\0' ||
        (role = we_role_from_string (g_strstrip (kv[0]))) == WE_ROLE_NONE)
      return config_error (error, "auth-oidc 'role_map' entry '%s' is not "
                           "viewer|operator|admin=<IdP value>", pairs[i]);
    g_hash_table_insert (self->role_map, g_strdup (kv[1]), GINT_TO_POINTER (role));
  }
  return TRUE;
}

static GObject *
we_auth_oidc_create_with_secrets (JsonObject *config, WeSecrets *secrets, GError **error)
{
  g_autoptr(WeAuthOidc) self = g_object_new (WE_TYPE_AUTH_OIDC, NULL);
  const gchar *issuer = we_plugin_config_get_string (config, "issuer", NULL);
  const gchar *audience = we_plugin_config_get_string (config, "audience", NULL);
  const gchar *client_id = we_plugin_config_get_string (config, "client_id", NULL);
  const gchar *default_role = we_plugin_config_get_string (config, "default_role", "none");
  gint64 timeout = 0;

  if (issuer == NULL || !(g_str_has_prefix (issuer, "https://") ||
                          g_str_has_prefix (issuer, "http://"))) {
    config_error (error, "auth-oidc needs 'issuer', the IdP's https:// URL");
    return NULL;
  }
  if ((audience == NULL || audience[0] == '\0') && (client_id == NULL || client_id[0] == '\0')) {
    config_error (error, "auth-oidc needs 'audience' or 'client_id'");
    return NULL;
  }
  self->issuer = g_strdup (issuer);
  self->client_id = g_strdup (client_id && client_id[0] ? client_id : NULL);
  self->audience = g_strdup (audience && audience[0] ? audience : client_id);
  self->config = json_object_ref (config);
  self->secrets = secrets ? g_object_ref (secrets) : NULL;
  self->role_claim = g_strdup (we_plugin_config_get_string (config, "role_claim", "roles"));
  self->scopes = g_strdup (we_plugin_config_get_string (config, "scopes",
                                                        "openid profile email offline_access"));
  if (g_strcmp0 (default_role, "none") == 0)
    self->default_role = WE_ROLE_NONE;
  else if (g_strcmp0 (default_role, "viewer") == 0)
    self->default_role = WE_ROLE_VIEWER;
  else {
    config_error (error, "auth-oidc 'default_role' must be none or viewer, not '%s'",
                  default_role);
    return NULL;
  }
  if (!parse_role_map (self, config, error) ||
      !get_seconds (config, "cache_ttl_s", 300, 0, 86400, &self->cache_ttl_s, error) ||
      !get_seconds (config, "jwks_min_refresh_s", 30, 0, 86400, &self->jwks_min_refresh_s,
                    error) ||
      !get_seconds (config, "jwks_max_age_s", 3600, 1, 7 * 86400, &self->jwks_max_age_s,
                    error) ||
      !get_seconds (config, "leeway_s", 30, 0, 600, &self->leeway_s, error) ||
      !get_seconds (config, "http_timeout_s", 10, 1, 300, &timeout, error))
    return NULL;
  self->http_timeout_s = (guint) timeout;
  /* the IdP may well be down while we start: discovery waits for the first token */
  return G_OBJECT (g_steal_pointer (&self));
}

static GObject *
we_auth_oidc_create (JsonObject *config, GError **error)
{
  return we_auth_oidc_create_with_secrets (config, NULL, error);
}

static const gchar * const auth_oidc_config_keys[] = {
  "issuer", "audience", "client_id", "client_secret_ref", "role_claim", "role_map",
  "default_role", "scopes", "cache_ttl_s", "jwks_min_refresh_s", "jwks_max_age_s", "leeway_s",
  "http_timeout_s", NULL
};

static const WePluginDescriptor auth_oidc_descriptor = {
  .protocol_version = WE_PLUGIN_PROTOCOL_VERSION,
  .abi_minor = WE_PLUGIN_ABI_MINOR,
  .id = "auth-oidc",
  .pillar = WE_PILLAR_AUTH,
  .version = PLUGIN_VERSION,
  .config_keys = auth_oidc_config_keys,
  .create = we_auth_oidc_create,
  .create_with_secrets = we_auth_oidc_create_with_secrets,
};

WE_PLUGIN_DEFINE (auth_oidc_descriptor)
