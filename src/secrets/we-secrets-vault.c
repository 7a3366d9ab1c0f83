/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "we-secrets-vault.h"
#include "we-secrets-private.h"

#include <libsoup/soup.h>
#include <string.h>

#include <webencode/we-error.h>

#define DEFAULT_FIELD      "value"
#define DEFAULT_TOKEN_ENV  "VAULT_TOKEN"
#define DEFAULT_TTL_S      60
#define MAX_FIELD          128
#define MAX_TOKEN          4096
#define MAX_RESPONSE       (256 * 1024)
#define TIMEOUT_S          15

typedef struct {
  GBytes *value;
  gint64  expires;   /* monotonic µs */
} CacheEntry;

struct _WeSecretsVault {
  GObject       parent_instance;
  gchar        *addr;          /* without trailing '/' */
  gchar        *token_file;
  gchar        *token_env;
  gchar        *namespace_;
  GTlsDatabase *tls_database;  /* nullable: the system's */
  gint64        ttl_us;
  GMutex        lock;          /* guards cache: lookups come from any thread */
  GHashTable   *cache;         /* "mount/path#field" → CacheEntry */
};

static void we_secrets_vault_iface_init (WeSecretsInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (WeSecretsVault, we_secrets_vault, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (WE_TYPE_SECRETS, we_secrets_vault_iface_init))

static void
cache_entry_free (CacheEntry *entry)
{
  g_bytes_unref (entry->value);
  g_free (entry);
}

static void
we_secrets_vault_finalize (GObject *object)
{
  WeSecretsVault *self = WE_SECRETS_VAULT (object);

  g_free (self->addr);
  g_free (self->token_file);
  g_free (self->token_env);
  g_free (self->namespace_);
  g_clear_object (&self->tls_database);
  g_hash_table_unref (self->cache);
  g_mutex_clear (&self->lock);
  G_OBJECT_CLASS (we_secrets_vault_parent_class)->finalize (object);
}

static void
we_secrets_vault_class_init (WeSecretsVaultClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = we_secrets_vault_finalize;
}

static void
we_secrets_vault_init (WeSecretsVault *self)
{
  g_mutex_init (&self->lock);
  self->cache = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                       (GDestroyNotify) cache_entry_free);
}

typedef struct {
  gchar *mount;
  gchar *path;
  gchar *field;
} VaultRef;

static void
vault_ref_clear (VaultRef *r)
{
  g_free (r->mount);
  g_free (r->path);
  g_free (r->field);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (VaultRef, vault_ref_clear)

static gboolean
field_is_safe (const gchar *field)
{
  gsize len = strlen (field);

  if (len == 0 || len > MAX_FIELD)
    return FALSE;
  for (gsize i = 0; i < len; i++) {
    if (!g_ascii_isalnum (field[i]) && field[i] != '_' && field[i] != '-' && field[i] != '.')
      return FALSE;
  }
  return TRUE;
}

/* "vault:<mount>/<path>[#field]" or the same without "vault:" */
static gboolean
parse_ref (const gchar *ref, VaultRef *out, GError **error)
{
  const gchar *scheme = NULL;
  const gchar *rest = NULL;
  const gchar *hash;
  const gchar *slash;
  g_autofree gchar *location = NULL;

  if (!we_secrets_ref_split (ref, &scheme, &rest, error))
    return FALSE;
  if (scheme != NULL && g_strcmp0 (scheme, "vault") != 0) {
    g_set_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                 "secret reference %s is not for the Vault backend", ref);
    return FALSE;
  }
  hash = strchr (rest, '#');
  location = hash != NULL ? g_strndup (rest, hash - rest) : g_strdup (rest);
  out->field = g_strdup (hash != NULL ? hash + 1 : DEFAULT_FIELD);
  slash = strchr (location, '/');
  if (!we_secrets_path_is_safe (location, WE_SECRETS_MAX_REF) || slash == NULL ||
      !field_is_safe (out->field)) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                         "a Vault secret reference looks like vault:<mount>/<path>#<field>, "
                         "of letters, digits, '.', '_', '-' and '/'");
    return FALSE;
  }
  out->mount = g_strndup (location, slash - location);
  out->path = g_strdup (slash + 1);
  return TRUE;
}

/* Read at every request so that a token renewed on disk is used at once. */
static gchar *
read_token (WeSecretsVault *self, GError **error)
{
  g_autofree gchar *token = NULL;

  if (self->token_file != NULL) {
    g_autoptr(GError) local_error = NULL;
    gsize len = 0;

    if (!g_file_get_contents (self->token_file, &token, &len, &local_error)) {
      g_set_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                   "cannot read the Vault token file: %s", local_error->message);
      return NULL;
    }
    if (len > MAX_TOKEN) {
      explicit_bzero (token, len);
      g_set_error_literal (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                           "the Vault token file is too large to hold a token");
      return NULL;
    }
  } else {
    const gchar *env = g_getenv (self->token_env);
    if (env == NULL || env[0] == '\0') {
      g_set_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                   "no Vault token: set %s or [secrets] vault_token_file", self->token_env);
      return NULL;
    }
    if (strlen (env) > MAX_TOKEN) {
      g_set_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                   "%s is too long to hold a Vault token", self->token_env);
      return NULL;
    }
    token = g_strdup (env);
  }
  g_strstrip (token);
  /* a header value: no line breaks or control characters may sneak in */
  for (const gchar *p = token; *p != '\0'; p++) {
    if (*p <= ' ' || *p >= 0x7f) {
      explicit_bzero (token, strlen (token));
      g_set_error_literal (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                           "the Vault token holds characters a token cannot have");
      return NULL;
    }
  }
  if (token[0] == '\0') {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG, "the Vault token is empty");
    return NULL;
  }
  return g_steal_pointer (&token);
}

/* Response bodies hold secrets: overwritten before they are freed. */
static void
wipe_bytes (GBytes *b)
{
  gsize size = 0;
  gpointer data = b != NULL ? (gpointer) g_bytes_get_data (b, &size) : NULL;

  if (data != NULL && size > 0)
    explicit_bzero (data, size);
}

static void
token_free (gchar *token)
{
  if (token != NULL) {
    explicit_bzero (token, strlen (token));
    g_free (token);
  }
}

/* The first entry of Vault's {"errors": [...]} body, for the message; Vault
 * never puts secret values there. */
static gchar *
vault_error_text (GBytes *body)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  JsonNode *root;
  JsonArray *errors;
  const gchar *first = NULL;
  gsize size = 0;
  const gchar *data = body != NULL ? g_bytes_get_data (body, &size) : NULL;

  if (data == NULL || size == 0 || size > 4096 ||
      !json_parser_load_from_data (parser, data, (gssize) size, NULL))
    return g_strdup ("");
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    return g_strdup ("");
  errors = json_object_get_array_member (json_node_get_object (root), "errors");
  if (errors != NULL && json_array_get_length (errors) > 0) {
    JsonNode *n = json_array_get_element (errors, 0);
    if (JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == G_TYPE_STRING)
      first = json_node_get_string (n);
  }
  if (first == NULL || first[0] == '\0')
    return g_strdup ("");
  return g_strdup_printf (": %.200s", first);
}

/* One blocking request. @body: nullable JSON to send. Returns the response
 * body of a 2xx or NULL with an error mapped from the status. */
static GBytes *
request (WeSecretsVault *self, const gchar *method, const VaultRef *r, const gchar *ref,
         const gchar *json_body, gboolean missing_ok, GCancellable *cancellable, GError **error)
{
  g_autoptr(SoupSession) session = NULL;
  g_autoptr(SoupMessage) msg = NULL;
  g_autoptr(GBytes) body = NULL;
  g_autoptr(GError) local_error = NULL;
  g_autofree gchar *url = NULL;
  g_autofree gchar *reason = NULL;
  gchar *token;
  guint status;

  token = read_token (self, error);
  if (token == NULL)
    return NULL;
  /* a session per request: SoupSession belongs to the thread that uses it,
   * and lookups come from any worker thread (they are cached anyway) */
  session = soup_session_new_with_options ("timeout", TIMEOUT_S, "idle-timeout", TIMEOUT_S,
                                           "user-agent", "webencode-secrets/" PACKAGE_VERSION,
                                           NULL);
  if (self->tls_database != NULL)
    soup_session_set_tls_database (session, self->tls_database);
  url = g_strdup_printf ("%s/v1/%s/data/%s", self->addr, r->mount, r->path);
  msg = soup_message_new (method, url);
  if (msg == NULL) {
    token_free (token);
    g_set_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                 "secret %s does not make a valid Vault URL", ref);
    return NULL;
  }
  soup_message_headers_replace (soup_message_get_request_headers (msg), "X-Vault-Token", token);
  token_free (token);
  if (self->namespace_ != NULL)
    soup_message_headers_replace (soup_message_get_request_headers (msg), "X-Vault-Namespace",
                                  self->namespace_);
  if (json_body != NULL) {
    g_autoptr(GBytes) b = g_bytes_new (json_body, strlen (json_body));
    soup_message_set_request_body_from_bytes (msg, "application/json", b);
  }
  body = soup_session_send_and_read (session, msg, cancellable, &local_error);
  /* the header holds the token: gone from memory as soon as it is sent */
  soup_message_headers_remove (soup_message_get_request_headers (msg), "X-Vault-Token");
  if (body == NULL) {
    if (g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return NULL;
    }
    g_set_error (error, WE_ERROR, WE_ERROR_PLG_DEGRADED, "secret %s: Vault at %s: %s", ref,
                 self->addr, local_error->message);
    return NULL;
  }
  status = soup_message_get_status (msg);
  if (status >= 200 && status < 300) {
    if (g_bytes_get_size (body) > MAX_RESPONSE) {
      g_set_error (error, WE_ERROR, WE_ERROR_PLG_DEGRADED,
                   "secret %s: the Vault response is too large", ref);
      return NULL;
    }
    return g_steal_pointer (&body);
  }
  reason = vault_error_text (body);
  wipe_bytes (body);
  if (status == SOUP_STATUS_NOT_FOUND) {
    if (missing_ok)
      return g_bytes_new (NULL, 0);
    g_set_error (error, WE_ERROR, WE_ERROR_STO_NOT_FOUND, "secret %s is not in Vault", ref);
  } else if (status == SOUP_STATUS_FORBIDDEN || status == SOUP_STATUS_UNAUTHORIZED) {
    g_set_error (error, WE_ERROR, WE_ERROR_STO_ACCESS_DENIED,
                 "secret %s: Vault refused the token (HTTP %u%s)", ref, status, reason);
  } else if (status == SOUP_STATUS_BAD_REQUEST) {
    g_set_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG, "secret %s: Vault says HTTP %u%s",
                 ref, status, reason);
  } else {
    g_set_error (error, WE_ERROR, WE_ERROR_PLG_DEGRADED, "secret %s: Vault says HTTP %u%s", ref,
                 status, reason);
  }
  return NULL;
}

/* The "data" object of a KV v2 read: {"data": {"data": {...}, "metadata": …}}.
 * Returns: (transfer full) (nullable): NULL for a deleted version */
static JsonObject *
kv2_data (GBytes *body, const gchar *ref, GError **error)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  JsonNode *root;
  JsonObject *outer;
  JsonNode *inner;
  JsonObject *data;
  gsize size = 0;
  const gchar *raw = g_bytes_get_data (body, &size);

  if (size == 0)
    return NULL;
  if (!json_parser_load_from_data (parser, raw, (gssize) size, NULL) ||
      (root = json_parser_get_root (parser)) == NULL || !JSON_NODE_HOLDS_OBJECT (root)) {
    g_set_error (error, WE_ERROR, WE_ERROR_PLG_DEGRADED,
                 "secret %s: Vault answered something that is not KV v2 JSON", ref);
    return NULL;
  }
  outer = json_object_get_object_member (json_node_get_object (root), "data");
  inner = outer != NULL ? json_object_get_member (outer, "data") : NULL;
  if (outer == NULL || (inner != NULL && !JSON_NODE_HOLDS_OBJECT (inner) &&
                        !JSON_NODE_HOLDS_NULL (inner))) {
    g_set_error (error, WE_ERROR, WE_ERROR_PLG_DEGRADED,
                 "secret %s: Vault answered something that is not KV v2 JSON "
                 "(is the mount KV version 1?)", ref);
    return NULL;
  }
  if (inner == NULL || JSON_NODE_HOLDS_NULL (inner))
    return NULL;   /* deleted or destroyed version */
  data = json_node_get_object (inner);
  return json_object_ref (data);
}

static gchar *
cache_key (const VaultRef *r)
{
  return g_strdup_printf ("%s/%s#%s", r->mount, r->path, r->field);
}

static GBytes *
we_secrets_vault_lookup (WeSecrets *secrets, const gchar *ref, GCancellable *cancellable,
                         GError **error)
{
  WeSecretsVault *self = WE_SECRETS_VAULT (secrets);
  g_auto(VaultRef) r = { 0 };
  g_autofree gchar *key = NULL;
  g_autoptr(GBytes) body = NULL;
  g_autoptr(JsonObject) data = NULL;
  JsonNode *node;
  const gchar *value;
  GBytes *out;

  if (!parse_ref (ref, &r, error))
    return NULL;
  key = cache_key (&r);
  if (self->ttl_us > 0) {
    CacheEntry *entry;

    g_mutex_lock (&self->lock);
    entry = g_hash_table_lookup (self->cache, key);
    if (entry != NULL && entry->expires > g_get_monotonic_time ()) {
      out = g_bytes_ref (entry->value);
      g_mutex_unlock (&self->lock);
      return out;
    }
    if (entry != NULL)
      g_hash_table_remove (self->cache, key);
    g_mutex_unlock (&self->lock);
  }

  body = request (self, "GET", &r, ref, NULL, FALSE, cancellable, error);
  if (body == NULL)
    return NULL;
  data = kv2_data (body, ref, error);
  wipe_bytes (body);
  if (data == NULL) {
    if (error == NULL || *error == NULL)
      g_set_error (error, WE_ERROR, WE_ERROR_STO_NOT_FOUND,
                   "secret %s: its current version in Vault is deleted", ref);
    return NULL;
  }
  node = json_object_get_member (data, r.field);
  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) ||
      json_node_get_value_type (node) != G_TYPE_STRING) {
    g_set_error (error, WE_ERROR, WE_ERROR_STO_NOT_FOUND,
                 "secret %s: Vault has no text field \"%s\" there", ref, r.field);
    return NULL;
  }
  value = json_node_get_string (node);
  out = we_secrets_bytes_new (value, strlen (value));
  if (self->ttl_us > 0) {
    CacheEntry *entry = g_new0 (CacheEntry, 1);

    entry->value = g_bytes_ref (out);
    entry->expires = g_get_monotonic_time () + self->ttl_us;
    g_mutex_lock (&self->lock);
    g_hash_table_replace (self->cache, g_steal_pointer (&key), entry);
    g_mutex_unlock (&self->lock);
  }
  return out;
}

static gboolean
we_secrets_vault_store (WeSecrets *secrets, const gchar *ref, GBytes *value,
                        GCancellable *cancellable, GError **error)
{
  WeSecretsVault *self = WE_SECRETS_VAULT (secrets);
  g_auto(VaultRef) r = { 0 };
  g_autoptr(GBytes) current = NULL;
  g_autoptr(GBytes) reply = NULL;
  g_autoptr(JsonObject) data = NULL;
  g_autoptr(JsonObject) envelope = json_object_new ();
  g_autoptr(JsonNode) root = NULL;
  g_autofree gchar *text = NULL;
  g_autofree gchar *json = NULL;
  g_autofree gchar *key = NULL;
  gsize size = 0;
  const gchar *raw;

  if (!parse_ref (ref, &r, error))
    return FALSE;
  raw = g_bytes_get_data (value, &size);
  if (size > WE_SECRETS_MAX_VALUE || (size > 0 && memchr (raw, '\0', size) != NULL) ||
      !g_utf8_validate_len (raw != NULL ? raw : "", size, NULL)) {
    g_set_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                 "a Vault secret must be UTF-8 text of at most %d bytes", WE_SECRETS_MAX_VALUE);
    return FALSE;
  }
  /* KV v2 writes replace the whole secret: keep the other fields */
  current = request (self, "GET", &r, ref, NULL, TRUE, cancellable, error);
  if (current == NULL)
    return FALSE;
  data = kv2_data (current, ref, error);
  wipe_bytes (current);
  if (data == NULL && error != NULL && *error != NULL)
    return FALSE;
  if (data == NULL)
    data = json_object_new ();
  text = g_strndup (raw != NULL ? raw : "", size);
  json_object_set_string_member (data, r.field, text);
  explicit_bzero (text, size);
  json_object_set_object_member (envelope, "data", json_object_ref (data));
  root = json_node_init_object (json_node_alloc (), envelope);
  json = json_to_string (root, FALSE);
  /* the copy inside the JSON tree is freed with it; the string sent is wiped */
  reply = request (self, "POST", &r, ref, json, FALSE, cancellable, error);
  explicit_bzero (json, strlen (json));
  if (reply == NULL)
    return FALSE;
  key = cache_key (&r);
  g_mutex_lock (&self->lock);
  g_hash_table_remove (self->cache, key);
  g_mutex_unlock (&self->lock);
  return TRUE;
}

static void
we_secrets_vault_iface_init (WeSecretsInterface *iface)
{
  iface->lookup = we_secrets_vault_lookup;
  iface->store = we_secrets_vault_store;
}

WeSecretsVault *
we_secrets_vault_new (const WeSecretsVaultOptions *options, GError **error)
{
  g_autoptr(WeSecretsVault) self = NULL;
  g_autoptr(GUri) uri = NULL;
  const gchar *scheme;

  g_return_val_if_fail (options != NULL, NULL);

  if (options->addr == NULL ||
      (uri = g_uri_parse (options->addr, G_URI_FLAGS_NONE, NULL)) == NULL ||
      ((scheme = g_uri_get_scheme (uri)), g_strcmp0 (scheme, "http") != 0 &&
                                              g_strcmp0 (scheme, "https") != 0) ||
      g_uri_get_host (uri) == NULL || g_uri_get_userinfo (uri) != NULL ||
      g_uri_get_query (uri) != NULL || g_uri_get_fragment (uri) != NULL) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                         "vault_addr must be http(s)://host[:port] without credentials");
    return NULL;
  }
  self = g_object_new (WE_TYPE_SECRETS_VAULT, NULL);
  self->addr = g_strdup (options->addr);
  while (g_str_has_suffix (self->addr, "/"))
    self->addr[strlen (self->addr) - 1] = '\0';
  self->token_file = g_strdup (options->token_file);
  self->token_env = g_strdup (options->token_env != NULL ? options->token_env
                                                         : DEFAULT_TOKEN_ENV);
  self->namespace_ = g_strdup (options->namespace_);
  if (self->namespace_ != NULL && !we_secrets_path_is_safe (self->namespace_, 256)) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                         "vault_namespace must be a path of letters, digits, '.', '_', '-'");
    return NULL;
  }
  if (options->ca_file != NULL) {
    g_autoptr(GError) local_error = NULL;

    self->tls_database = g_tls_file_database_new (options->ca_file, &local_error);
    if (self->tls_database == NULL) {
      g_set_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG, "vault_ca_file: %s",
                   local_error->message);
      return NULL;
    }
  }
  self->ttl_us = (gint64) (options->cache_ttl_s < 0 ? DEFAULT_TTL_S : options->cache_ttl_s) *
                 G_USEC_PER_SEC;
  return g_steal_pointer (&self);
}
