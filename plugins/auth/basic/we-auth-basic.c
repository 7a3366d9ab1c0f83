/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The simplest authentication pillar, in two modes:
 *
 *  - "none" (the embedded default): whoever talks to us over loopback or the
 *    unix socket is the machine's owner; nobody else gets in.
 *  - "basic": HTTP Basic credentials checked against an htpasswd file
 *    (bcrypt or SHA-512 crypt), roles from the plugin configuration.
 *
 * Passwords are only ever compared through crypt_r() and a constant-time
 * comparison, and a failure never says whether the user exists.
 */
#include <webencode/webencode.h>

#include <crypt.h>
#include <string.h>
#include <sys/stat.h>

#include <glib/gstdio.h>

#include "we-htpasswd.h"

#define LOCAL_USER_ID   "00000000-0000-0000-0000-000000000000"
#define LOCAL_USERNAME  "local"
#define USER_ID_NS      "webencode:auth-basic:"
/* Limits on what a client can send and an operator's file can hold */
#define MAX_TOKEN_LEN   4096
#define MAX_HTPASSWD    (4 * 1024 * 1024)
/* successful checks remembered per user, so bcrypt is not paid per request */
#define CACHE_KEY_LEN   32

typedef enum {
  AUTH_MODE_NONE,
  AUTH_MODE_BASIC,
} AuthMode;

typedef struct {
  gchar  *username;
  gchar  *hash;
  gchar  *user_id;
  WeRole  role;
  guint8  verified[CACHE_KEY_LEN];  /* HMAC of the last good password */
  gboolean has_verified;
} User;

static void
user_free (User *user)
{
  g_free (user->username);
  if (user->hash != NULL)
    memset (user->hash, 0, strlen (user->hash));
  g_free (user->hash);
  g_free (user->user_id);
  g_free (user);
}

#define WE_TYPE_AUTH_BASIC (we_auth_basic_get_type ())
G_DECLARE_FINAL_TYPE (WeAuthBasic, we_auth_basic, WE, AUTH_BASIC, GObject)

struct _WeAuthBasic {
  GObject     parent_instance;
  AuthMode    mode;
  WeRole      none_role;
  gchar      *htpasswd;
  GHashTable *roles;        /* username → WeRole, from config */

  /* Request threads read the table while one of them may reload it. */
  GMutex      lock;
  GHashTable *users;        /* username → User */
  gint64      file_mtime_ns;
  gint64      file_size;
  guint64     file_ino;
  gboolean    file_loaded;
  gchar      *dummy_hash;   /* makes an unknown user cost as much as a known one */
  guint8      cache_secret[32];
};

static void we_auth_basic_iface_init (WeAuthProviderInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (WeAuthBasic, we_auth_basic, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (WE_TYPE_AUTH_PROVIDER,
                                                      we_auth_basic_iface_init))

static void
we_auth_basic_finalize (GObject *object)
{
  WeAuthBasic *self = WE_AUTH_BASIC (object);

  g_free (self->htpasswd);
  g_hash_table_unref (self->roles);
  g_hash_table_unref (self->users);
  g_free (self->dummy_hash);
  g_mutex_clear (&self->lock);
  G_OBJECT_CLASS (we_auth_basic_parent_class)->finalize (object);
}

static void
we_auth_basic_class_init (WeAuthBasicClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = we_auth_basic_finalize;
}

static void
we_auth_basic_init (WeAuthBasic *self)
{
  g_mutex_init (&self->lock);
  self->roles = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->users = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) user_free);
}

/* A stable, UUID-shaped id per username (version 5 bits, RFC 4122 variant),
 * so users keep their jobs across restarts and file edits. */
static gchar *
user_id_for (const gchar *username)
{
  g_autoptr(GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);
  guint8 digest[32];
  gsize len = sizeof (digest);

  g_checksum_update (sum, (const guchar *) USER_ID_NS, -1);
  g_checksum_update (sum, (const guchar *) username, -1);
  g_checksum_get_digest (sum, digest, &len);
  digest[6] = (digest[6] & 0x0f) | 0x50;
  digest[8] = (digest[8] & 0x3f) | 0x80;
  return g_strdup_printf ("%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
                          "%02x%02x%02x%02x%02x%02x",
                          digest[0], digest[1], digest[2], digest[3], digest[4], digest[5],
                          digest[6], digest[7], digest[8], digest[9], digest[10], digest[11],
                          digest[12], digest[13], digest[14], digest[15]);
}

/* Parses the file into a fresh table; @self->lock held. Entries we cannot
 * verify safely are skipped with a warning rather than accepted. */
static void
warn_line (guint line, const gchar *message, gpointer user_data)
{
  WeAuthBasic *self = user_data;

  g_warning ("%s:%u: %s", self->htpasswd, line, message);
}

static void
load_users_locked (WeAuthBasic *self, const gchar *contents, gsize len)
{
  g_autoptr(GPtrArray) entries = we_htpasswd_parse (contents, len, warn_line, self);

  g_hash_table_remove_all (self->users);
  for (guint i = 0; i < entries->len; i++) {
    WeHtpasswdEntry *entry = g_ptr_array_index (entries, i);
    User *user = g_new0 (User, 1);
    gpointer role;

    user->username = g_strdup (entry->username);
    user->hash = g_strdup (entry->hash);
    user->user_id = user_id_for (entry->username);
    if (g_hash_table_lookup_extended (self->roles, entry->username, NULL, &role))
      user->role = GPOINTER_TO_INT (role);
    else
      user->role = WE_ROLE_VIEWER;
    g_hash_table_insert (self->users, user->username, user);
  }
}

/* Re-reads the file when it changed; fails closed (no users) when it went
 * away or cannot be read. @self->lock held. */
static void
refresh_users_locked (WeAuthBasic *self)
{
  GStatBuf st;
  g_autofree gchar *contents = NULL;
  g_autoptr(GError) error = NULL;
  gsize len = 0;
  gint64 mtime_ns;

  if (g_stat (self->htpasswd, &st) < 0) {
    if (self->file_loaded || g_hash_table_size (self->users) > 0)
      g_warning ("htpasswd file %s is gone; nobody can log in", self->htpasswd);
    g_hash_table_remove_all (self->users);
    self->file_loaded = FALSE;
    return;
  }
  mtime_ns = (gint64) st.st_mtim.tv_sec * G_GINT64_CONSTANT (1000000000) + st.st_mtim.tv_nsec;
  if (self->file_loaded && mtime_ns == self->file_mtime_ns && st.st_size == self->file_size &&
      (guint64) st.st_ino == self->file_ino)
    return;
  if (st.st_size > MAX_HTPASSWD) {
    g_warning ("htpasswd file %s is larger than %d bytes; ignored", self->htpasswd, MAX_HTPASSWD);
    g_hash_table_remove_all (self->users);
    self->file_loaded = FALSE;
    return;
  }
  if (!g_file_get_contents (self->htpasswd, &contents, &len, &error)) {
    g_warning ("cannot read htpasswd file: %s", error->message);
    g_hash_table_remove_all (self->users);
    self->file_loaded = FALSE;
    return;
  }
  load_users_locked (self, contents, len);
  memset (contents, 0, len);
  self->file_mtime_ns = mtime_ns;
  self->file_size = st.st_size;
  self->file_ino = st.st_ino;
  self->file_loaded = TRUE;
  g_debug ("loaded %u users from %s", g_hash_table_size (self->users), self->htpasswd);
}

static gboolean
equal_const_time (const guint8 *a, gsize a_len, const guint8 *b, gsize b_len)
{
  guint8 diff = a_len != b_len;
  gsize n = MIN (a_len, b_len);

  for (gsize i = 0; i < n; i++)
    diff |= a[i] ^ b[i];
  return diff == 0;
}

/* crypt_r() with the stored hash as the setting; TRUE when it reproduces it. */
static gboolean
check_password (const gchar *password, const gchar *hash)
{
  struct crypt_data *data = g_new0 (struct crypt_data, 1);
  const gchar *out;
  gboolean ok;

  out = crypt_r (password, hash, data);
  /* libxcrypt returns "*0"/"*1" (or NULL) for settings it rejects */
  ok = out != NULL && out[0] != '*' &&
       equal_const_time ((const guint8 *) out, strlen (out), (const guint8 *) hash, strlen (hash));
  memset (data, 0, sizeof (*data));
  g_free (data);
  return ok;
}

static void
cache_key (WeAuthBasic *self, const gchar *password, guint8 out[CACHE_KEY_LEN])
{
  g_autoptr(GHmac) hmac = g_hmac_new (G_CHECKSUM_SHA256, self->cache_secret,
                                      sizeof (self->cache_secret));
  gsize len = CACHE_KEY_LEN;

  g_hmac_update (hmac, (const guchar *) password, -1);
  g_hmac_get_digest (hmac, out, &len);
}

static WeIdentity *
identity_for (const gchar *user_id, const gchar *username, WeRole role)
{
  WeIdentity *identity = we_identity_new ();

  identity->user_id = g_strdup (user_id);
  identity->username = g_strdup (username);
  identity->display_name = g_strdup (username);
  identity->role = role;
  return identity;
}

static gboolean
unauthorized (GError **error, const gchar *message)
{
  g_set_error_literal (error, WE_ERROR, WE_ERROR_AUTH_UNAUTHORIZED, message);
  return FALSE;
}

/* Splits "Basic <token>" credentials into user and password. Only the
 * base64 alphabet is accepted: g_base64_decode() would skip junk silently. */
static gboolean
decode_basic (const gchar *token, gchar **username, gchar **password)
{
  gsize len, decoded_len = 0;
  g_autofree guchar *decoded = NULL;
  gchar *colon;

  if (token == NULL)
    return FALSE;
  len = strlen (token);
  if (len == 0 || len > MAX_TOKEN_LEN || len % 4 != 0)
    return FALSE;
  for (gsize i = 0; i < len; i++) {
    gchar c = token[i];
    if (g_ascii_isalnum (c) || c == '+' || c == '/')
      continue;
    /* padding only at the end */
    if (c == '=' && i >= len - 2 && (i == len - 1 || token[len - 1] == '='))
      continue;
    return FALSE;
  }
  decoded = g_base64_decode (token, &decoded_len);
  if (decoded == NULL || decoded_len == 0 || memchr (decoded, '\0', decoded_len) != NULL) {
    if (decoded != NULL)
      memset (decoded, 0, decoded_len);
    return FALSE;
  }
  decoded = g_realloc (decoded, decoded_len + 1);
  decoded[decoded_len] = '\0';
  colon = strchr ((gchar *) decoded, ':');
  if (colon == NULL || colon == (gchar *) decoded || colon - (gchar *) decoded > WE_HTPASSWD_MAX_USERNAME ||
      !g_utf8_validate ((gchar *) decoded, colon - (gchar *) decoded, NULL)) {
    memset (decoded, 0, decoded_len);
    return FALSE;
  }
  *username = g_strndup ((gchar *) decoded, colon - (gchar *) decoded);
  *password = g_strdup (colon + 1);
  memset (decoded, 0, decoded_len);
  return TRUE;
}

static WeIdentity *
we_auth_basic_authenticate (WeAuthProvider *provider, const WeAuthRequest *request,
                            GError **error)
{
  WeAuthBasic *self = WE_AUTH_BASIC (provider);
  g_autofree gchar *username = NULL;
  g_autofree gchar *password = NULL;
  g_autofree gchar *hash = NULL;
  g_autofree gchar *user_id = NULL;
  guint8 key[CACHE_KEY_LEN];
  gboolean cached = FALSE;
  gboolean ok;
  WeRole role = WE_ROLE_NONE;

  if (self->mode == AUTH_MODE_NONE) {
    if (request != NULL && request->client_is_local)
      return identity_for (LOCAL_USER_ID, LOCAL_USERNAME, self->none_role);
    unauthorized (error, "authentication mode 'none' only admits local clients");
    return NULL;
  }

  if (request == NULL || request->scheme == NULL ||
      g_ascii_strcasecmp (request->scheme, "basic") != 0) {
    unauthorized (error, "HTTP Basic credentials required");
    return NULL;
  }
  if (!decode_basic (request->token, &username, &password)) {
    unauthorized (error, "malformed Basic credentials");
    return NULL;
  }

  cache_key (self, password, key);
  g_mutex_lock (&self->lock);
  refresh_users_locked (self);
  {
    User *user = g_hash_table_lookup (self->users, username);
    if (user != NULL) {
      hash = g_strdup (user->hash);
      user_id = g_strdup (user->user_id);
      role = user->role;
      cached = user->has_verified &&
               equal_const_time (user->verified, CACHE_KEY_LEN, key, CACHE_KEY_LEN);
    }
  }
  g_mutex_unlock (&self->lock);

  /* crypt runs unlocked: bcrypt is slow on purpose, other requests must not queue */
  if (cached) {
    ok = TRUE;
  } else if (hash != NULL) {
    ok = check_password (password, hash);
  } else {
    check_password (password, self->dummy_hash);
    ok = FALSE;
  }
  memset (password, 0, strlen (password));
  if (hash != NULL)
    memset (hash, 0, strlen (hash));
  if (!ok) {
    g_info ("basic authentication failed for a client at %s",
            request->client_ip ? request->client_ip : "unknown");
    unauthorized (error, "invalid username or password");
    return NULL;
  }
  if (!cached) {
    g_mutex_lock (&self->lock);
    {
      User *user = g_hash_table_lookup (self->users, username);
      /* only if the file was not swapped meanwhile */
      if (user != NULL && g_strcmp0 (user->user_id, user_id) == 0) {
        memcpy (user->verified, key, CACHE_KEY_LEN);
        user->has_verified = TRUE;
      }
    }
    g_mutex_unlock (&self->lock);
  }
  return identity_for (user_id, username, role);
}

static WeIdentity *
we_auth_basic_get_user_profile (WeAuthProvider *provider, const gchar *user_id, GError **error)
{
  WeAuthBasic *self = WE_AUTH_BASIC (provider);
  WeIdentity *identity = NULL;
  GHashTableIter iter;
  User *user;

  if (self->mode == AUTH_MODE_NONE) {
    if (g_strcmp0 (user_id, LOCAL_USER_ID) == 0)
      return identity_for (LOCAL_USER_ID, LOCAL_USERNAME, self->none_role);
  } else {
    g_mutex_lock (&self->lock);
    refresh_users_locked (self);
    g_hash_table_iter_init (&iter, self->users);
    while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &user)) {
      if (g_strcmp0 (user->user_id, user_id) == 0) {
        identity = identity_for (user->user_id, user->username, user->role);
        break;
      }
    }
    g_mutex_unlock (&self->lock);
    if (identity != NULL)
      return identity;
  }
  g_set_error (error, WE_ERROR, WE_ERROR_SYS_NOT_FOUND, "no user with id %s",
               user_id ? user_id : "(null)");
  return NULL;
}

static gint
compare_identities (gconstpointer a, gconstpointer b)
{
  const WeIdentity *ia = *(WeIdentity * const *) a;
  const WeIdentity *ib = *(WeIdentity * const *) b;
  return g_strcmp0 (ia->username, ib->username);
}

static GPtrArray *
we_auth_basic_list_users (WeAuthProvider *provider, WeRole role_filter, GError **error)
{
  WeAuthBasic *self = WE_AUTH_BASIC (provider);
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) we_identity_free);
  GHashTableIter iter;
  User *user;

  if (self->mode == AUTH_MODE_NONE) {
    if (role_filter == WE_ROLE_NONE || role_filter == self->none_role)
      g_ptr_array_add (out, identity_for (LOCAL_USER_ID, LOCAL_USERNAME, self->none_role));
    return out;
  }
  g_mutex_lock (&self->lock);
  refresh_users_locked (self);
  g_hash_table_iter_init (&iter, self->users);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &user)) {
    if (role_filter == WE_ROLE_NONE || role_filter == user->role)
      g_ptr_array_add (out, identity_for (user->user_id, user->username, user->role));
  }
  g_mutex_unlock (&self->lock);
  g_ptr_array_sort (out, compare_identities);
  return out;
}

static WeIdentity *
we_auth_basic_refresh_token (WeAuthProvider *provider, const gchar *refresh_token,
                             GError **error)
{
  g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                       "auth-basic has no tokens to refresh; send Basic credentials");
  return NULL;
}

static gboolean
we_auth_basic_logout (WeAuthProvider *provider, const gchar *user_id, const gchar *session_id,
                      gboolean all_sessions, GError **error)
{
  /* Basic auth has no server-side session; the client forgets the header */
  return TRUE;
}

static void
we_auth_basic_iface_init (WeAuthProviderInterface *iface)
{
  iface->authenticate = we_auth_basic_authenticate;
  iface->get_user_profile = we_auth_basic_get_user_profile;
  iface->list_users = we_auth_basic_list_users;
  iface->refresh_token = we_auth_basic_refresh_token;
  iface->logout = we_auth_basic_logout;
}

/* ---- the module ---- */

static gboolean
parse_role (const gchar *str, WeRole *role)
{
  *role = we_role_from_string (str);
  return *role != WE_ROLE_NONE;
}

static gboolean
parse_roles (WeAuthBasic *self, JsonObject *config, GError **error)
{
  g_auto(GStrv) pairs = we_plugin_config_get_strv (config, "roles");

  for (guint i = 0; pairs != NULL && pairs[i] != NULL; i++) {
    g_auto(GStrv) kv = g_strsplit (pairs[i], "=", 2);
    WeRole role;

    if (kv[0] == NULL || kv[1] == NULL || g_strstrip (kv[0])[0] == '\0' ||
        !parse_role (g_strstrip (kv[1]), &role)) {
      g_set_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                   "auth-basic 'roles' entry '%s' is not user=viewer|operator|admin", pairs[i]);
      return FALSE;
    }
    g_hash_table_insert (self->roles, g_strdup (kv[0]), GINT_TO_POINTER (role));
  }
  return TRUE;
}

static GObject *
we_auth_basic_create (JsonObject *config, GError **error)
{
  g_autoptr(WeAuthBasic) self = g_object_new (WE_TYPE_AUTH_BASIC, NULL);
  const gchar *mode = we_plugin_config_get_string (config, "mode", "none");
  const gchar *none_role = we_plugin_config_get_string (config, "none_role", "admin");
  const gchar *htpasswd = we_plugin_config_get_string (config, "htpasswd", NULL);
  gchar salt[CRYPT_GENSALT_OUTPUT_SIZE];

  if (!parse_role (none_role, &self->none_role)) {
    g_set_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                 "auth-basic 'none_role' must be viewer, operator or admin, not '%s'", none_role);
    return NULL;
  }
  if (!parse_roles (self, config, error))
    return NULL;

  if (g_strcmp0 (mode, "none") == 0) {
    self->mode = AUTH_MODE_NONE;
    return G_OBJECT (g_steal_pointer (&self));
  }
  if (g_strcmp0 (mode, "basic") != 0) {
    g_set_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                 "auth-basic 'mode' must be 'none' or 'basic', not '%s'", mode);
    return NULL;
  }
  self->mode = AUTH_MODE_BASIC;
  if (htpasswd == NULL || htpasswd[0] == '\0') {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                         "auth-basic mode 'basic' needs 'htpasswd', the path of the user file");
    return NULL;
  }
  if (!g_file_test (htpasswd, G_FILE_TEST_IS_REGULAR)) {
    g_set_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                 "auth-basic htpasswd file '%s' does not exist", htpasswd);
    return NULL;
  }
  self->htpasswd = g_strdup (htpasswd);

  for (guint i = 0; i < sizeof (self->cache_secret); i += 4) {
    guint32 r = g_random_int ();
    memcpy (self->cache_secret + i, &r, 4);
  }
  if (crypt_gensalt_rn ("$2b$", 0, NULL, 0, salt, sizeof (salt)) == NULL) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                         "libcrypt cannot make bcrypt salts");
    return NULL;
  }
  {
    struct crypt_data *data = g_new0 (struct crypt_data, 1);
    const gchar *out = crypt_r ("not-a-password", salt, data);
    self->dummy_hash = g_strdup (out != NULL && out[0] != '*' ? out : salt);
    g_free (data);
  }

  g_mutex_lock (&self->lock);
  refresh_users_locked (self);
  if (g_hash_table_size (self->users) == 0)
    g_warning ("auth-basic: %s holds no usable users; nobody can log in", htpasswd);
  g_mutex_unlock (&self->lock);
  return G_OBJECT (g_steal_pointer (&self));
}

static const gchar * const auth_basic_config_keys[] = { "mode", "htpasswd", "roles", "none_role",
                                                        NULL };

static const WePluginDescriptor auth_basic_descriptor = {
  .protocol_version = WE_PLUGIN_PROTOCOL_VERSION,
  .abi_minor = WE_PLUGIN_ABI_MINOR,
  .id = "auth-basic",
  .pillar = WE_PILLAR_AUTH,
  .version = PLUGIN_VERSION,
  .config_keys = auth_basic_config_keys,
  .create = we_auth_basic_create,
};

WE_PLUGIN_DEFINE (auth_basic_descriptor)
