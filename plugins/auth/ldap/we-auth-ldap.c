/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Authentication against an LDAP directory (OpenLDAP, 389 DS, Active
 * Directory): HTTP Basic credentials are checked by binding as the user, and
 * the user's groups give the role.
 *
 *   service bind (bind_dn + the secret bind_password_secret_ref names, or
 *   anonymous) → search the user's entry under user_base with user_filter →
 *   search the groups naming that entry under group_base → bind as the user
 *   with the password → role = the highest role_map entry among the groups.
 *
 * libldap calls block and an LDAP* is not safe to share between threads: the
 * kernel calls us from worker threads, and every call opens its own
 * connection. Successful checks are remembered for cache_ttl_s (as an HMAC of
 * the password under a per-process key) so the directory is not asked on
 * every API call. A failure never says whether the user exists, and no
 * password, ours or the user's, is ever logged.
 */
#include <webencode/webencode.h>

#include <signal.h>
#include <string.h>

#include <ldap.h>

#define USER_ID_NS         "webencode:auth-ldap:"
#define BAD_CREDENTIALS    "invalid username or password"
/* Limits on what a client can send and on what we read back */
#define MAX_TOKEN_LEN      4096
#define MAX_USERNAME       256
#define MAX_GROUPS         1000
#define MAX_LIST_USERS     1000
#define MAX_CACHE_ENTRIES  4096
#define CACHE_KEY_LEN      32

G_DEFINE_AUTOPTR_CLEANUP_FUNC (LDAPMessage, ldap_msgfree)

static void
ldap_handle_free (LDAP *ld)
{
  ldap_unbind_ext_s (ld, NULL, NULL);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (LDAP, ldap_handle_free)

typedef struct {
  gchar    *key;     /* a normalized group DN or a group cn */
  gboolean  is_dn;
  WeRole    role;
} RoleMapping;

static void
role_mapping_free (RoleMapping *mapping)
{
  g_free (mapping->key);
  g_free (mapping);
}

/* One directory entry of a user, as far as we read it. */
typedef struct {
  gchar *dn;
  gchar *username;
  gchar *email;
  gchar *display_name;
} LdapUser;

static void
ldap_user_free (LdapUser *user)
{
  g_free (user->dn);
  g_free (user->username);
  g_free (user->email);
  g_free (user->display_name);
  g_free (user);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (LdapUser, ldap_user_free)

typedef struct {
  guint8      key[CACHE_KEY_LEN];  /* HMAC of the password that worked */
  WeIdentity *identity;
  gint64      expires_us;          /* monotonic */
} CacheEntry;

static void
cache_entry_free (CacheEntry *entry)
{
  we_identity_free (entry->identity);
  memset (entry->key, 0, sizeof (entry->key));
  g_free (entry);
}

#define WE_TYPE_AUTH_LDAP (we_auth_ldap_get_type ())
G_DECLARE_FINAL_TYPE (WeAuthLdap, we_auth_ldap, WE, AUTH_LDAP, GObject)

struct _WeAuthLdap {
  GObject     parent_instance;

  /* Immutable after create(), so any thread may read them unlocked. */
  gboolean    configured;     /* FALSE: installed but no url; stays out of the way */
  gchar      *url;
  gboolean    starttls;
  gchar      *ca_file;
  gchar      *bind_dn;
  JsonObject *config;         /* holds bind_password_secret_ref, resolved per bind */
  WeSecrets  *secrets;
  gchar      *user_base;
  gchar      *user_filter;
  gchar      *group_base;
  gchar      *group_filter;
  gchar      *username_attribute;
  GPtrArray  *role_map;       /* RoleMapping */
  WeRole      default_role;
  gint        timeout_s;
  gint64      cache_ttl_us;
  guint8      cache_secret[32];

  GMutex      lock;
  GHashTable *cache;          /* username as typed → CacheEntry */
  GHashTable *known_ids;      /* user_id → directory username, for get_user_profile */
};

static void we_auth_ldap_iface_init (WeAuthProviderInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (WeAuthLdap, we_auth_ldap, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (WE_TYPE_AUTH_PROVIDER,
                                                      we_auth_ldap_iface_init))

static void
we_auth_ldap_finalize (GObject *object)
{
  WeAuthLdap *self = WE_AUTH_LDAP (object);

  g_free (self->url);
  g_free (self->ca_file);
  g_free (self->bind_dn);
  g_clear_pointer (&self->config, json_object_unref);
  g_clear_object (&self->secrets);
  g_free (self->user_base);
  g_free (self->user_filter);
  g_free (self->group_base);
  g_free (self->group_filter);
  g_free (self->username_attribute);
  g_ptr_array_unref (self->role_map);
  memset (self->cache_secret, 0, sizeof (self->cache_secret));
  g_hash_table_unref (self->cache);
  g_hash_table_unref (self->known_ids);
  g_mutex_clear (&self->lock);
  G_OBJECT_CLASS (we_auth_ldap_parent_class)->finalize (object);
}

static void
we_auth_ldap_class_init (WeAuthLdapClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = we_auth_ldap_finalize;
}

static void
we_auth_ldap_init (WeAuthLdap *self)
{
  g_mutex_init (&self->lock);
  self->role_map = g_ptr_array_new_with_free_func ((GDestroyNotify) role_mapping_free);
  self->cache = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                       (GDestroyNotify) cache_entry_free);
  self->known_ids = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
}

/* ---- small helpers ---- */

static gboolean
unauthorized (GError **error, const gchar *message)
{
  g_set_error_literal (error, WE_ERROR, WE_ERROR_AUTH_UNAUTHORIZED, message);
  return FALSE;
}

/* G_IO_ERROR_NOT_SUPPORTED tells the kernel "not my business" (it ranks
 * below any real refusal from another provider). */
static gboolean
not_configured (GError **error)
{
  g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                       "auth-ldap is not configured: set its 'url' and 'user_base'");
  return FALSE;
}

static gboolean
unavailable (GError **error, const gchar *what, LDAP *ld, gint rc)
{
  g_autofree gchar *diag = NULL;
  gchar *msg = NULL;

  if (ld != NULL && ldap_get_option (ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &msg) == LDAP_OPT_SUCCESS &&
      msg != NULL) {
    if (msg[0] != '\0')
      diag = g_strdup_printf (" (%s)", msg);
    ldap_memfree (msg);
  }
  g_warning ("LDAP %s failed: %s%s", what, ldap_err2string (rc), diag ? diag : "");
  g_set_error (error, WE_ERROR, WE_ERROR_AUTH_PROVIDER_UNAVAILABLE,
               "the LDAP directory cannot be used: %s failed: %s", what, ldap_err2string (rc));
  return FALSE;
}

/* A stable, UUID-shaped id per (case-folded) username, like auth-basic's but
 * in our own namespace, so users keep their jobs across restarts. */
static gchar *
user_id_for (const gchar *username)
{
  g_autoptr(GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);
  g_autofree gchar *folded = g_utf8_strdown (username, -1);
  guint8 digest[32];
  gsize len = sizeof (digest);

  g_checksum_update (sum, (const guchar *) USER_ID_NS, -1);
  g_checksum_update (sum, (const guchar *) folded, -1);
  g_checksum_get_digest (sum, digest, &len);
  digest[6] = (digest[6] & 0x0f) | 0x50;
  digest[8] = (digest[8] & 0x3f) | 0x80;
  return g_strdup_printf ("%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
                          "%02x%02x%02x%02x%02x%02x",
                          digest[0], digest[1], digest[2], digest[3], digest[4], digest[5],
                          digest[6], digest[7], digest[8], digest[9], digest[10], digest[11],
                          digest[12], digest[13], digest[14], digest[15]);
}

static gboolean
equal_const_time (const guint8 *a, const guint8 *b, gsize len)
{
  guint8 diff = 0;

  for (gsize i = 0; i < len; i++)
    diff |= a[i] ^ b[i];
  return diff == 0;
}

static void
cache_key (WeAuthLdap *self, const gchar *password, guint8 out[CACHE_KEY_LEN])
{
  g_autoptr(GHmac) hmac = g_hmac_new (G_CHECKSUM_SHA256, self->cache_secret,
                                      sizeof (self->cache_secret));
  gsize len = CACHE_KEY_LEN;

  g_hmac_update (hmac, (const guchar *) password, -1);
  g_hmac_get_digest (hmac, out, &len);
}

/* RFC 4515 §3: a value inside a filter has '*', '(', ')', '\' and NUL
 * escaped as \XX. Control characters are escaped too, so nothing a client
 * sends can end the assertion or add one: "*)(uid=*" stays a literal. */
static gchar *
escape_filter_value (const gchar *value)
{
  GString *out = g_string_sized_new (strlen (value) + 8);

  for (const guchar *p = (const guchar *) value; *p != '\0'; p++) {
    if (*p == '*' || *p == '(' || *p == ')' || *p == '\\' || *p < 0x20 || *p == 0x7f)
      g_string_append_printf (out, "\\%02x", *p);
    else
      g_string_append_c (out, (gchar) *p);
  }
  return g_string_free (out, FALSE);
}

/* Expands a filter template: %s (user filter) and %u are the user name, %dn
 * (group filter: @dn non-NULL) the user's DN, %% a '%'. The values must
 * already be escaped (or be a deliberate "*"). NULL for a placeholder this
 * template may not use. */
static gchar *
expand_filter (const gchar *tmpl, const gchar *user, const gchar *dn)
{
  GString *out = g_string_new (NULL);

  for (const gchar *p = tmpl; *p != '\0'; p++) {
    if (*p != '%') {
      g_string_append_c (out, *p);
      continue;
    }
    if (p[1] == '%') {
      g_string_append_c (out, '%');
      p++;
    } else if ((p[1] == 'u' || (p[1] == 's' && dn == NULL)) && user != NULL) {
      g_string_append (out, user);
      p++;
    } else if (p[1] == 'd' && p[2] == 'n' && dn != NULL) {
      g_string_append (out, dn);
      p += 2;
    } else {
      g_string_free (out, TRUE);
      return NULL;
    }
  }
  return g_string_free (out, FALSE);
}

static gboolean
dn_equal (const gchar *a, const gchar *b)
{
  gchar *na = NULL, *nb = NULL;
  gboolean equal;

  /* "CN=X, OU=Groups" and "cn=x,ou=groups" name the same group */
  if (ldap_dn_normalize (a, LDAP_DN_FORMAT_LDAPV3, &na, LDAP_DN_FORMAT_LDAPV3) != LDAP_SUCCESS)
    na = NULL;
  if (ldap_dn_normalize (b, LDAP_DN_FORMAT_LDAPV3, &nb, LDAP_DN_FORMAT_LDAPV3) != LDAP_SUCCESS)
    nb = NULL;
  equal = g_ascii_strcasecmp (na ? na : a, nb ? nb : b) == 0;
  ldap_memfree (na);
  ldap_memfree (nb);
  return equal;
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
  if (colon == NULL || colon == (gchar *) decoded || colon - (gchar *) decoded > MAX_USERNAME ||
      !g_utf8_validate ((gchar *) decoded, colon - (gchar *) decoded, NULL) ||
      !g_utf8_validate (colon + 1, -1, NULL)) {
    memset (decoded, 0, decoded_len);
    return FALSE;
  }
  *username = g_strndup ((gchar *) decoded, colon - (gchar *) decoded);
  *password = g_strdup (colon + 1);
  memset (decoded, 0, decoded_len);
  return TRUE;
}

/* ---- talking to the directory ---- */

static gint
simple_bind (LDAP *ld, const gchar *dn, const gchar *password)
{
  struct berval cred;

  cred.bv_val = (gchar *) password;
  cred.bv_len = strlen (password);
  return ldap_sasl_bind_s (ld, dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL);
}

/* A fresh handle, connected (and StartTLS'd) but not bound. */
static LDAP *
directory_open (WeAuthLdap *self, GError **error)
{
  g_autoptr(LDAP) ld = NULL;
  struct timeval tv = { .tv_sec = self->timeout_s, .tv_usec = 0 };
  gint version = LDAP_VERSION3;
  gint demand = LDAP_OPT_X_TLS_DEMAND;
  gint is_server = 0;
  gint rc;

  rc = ldap_initialize (&ld, self->url);
  if (rc != LDAP_SUCCESS) {
    unavailable (error, "initialization", NULL, rc);
    return NULL;
  }
  ldap_set_option (ld, LDAP_OPT_PROTOCOL_VERSION, &version);
  /* a referral would make libldap follow it anonymously, somewhere else */
  ldap_set_option (ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);
  ldap_set_option (ld, LDAP_OPT_NETWORK_TIMEOUT, &tv);
  ldap_set_option (ld, LDAP_OPT_TIMEOUT, &tv);
  /* TLS settings on this handle only (never the process-wide defaults, which
   * another instance may need otherwise), and always with verification */
  if (self->ca_file != NULL)
    ldap_set_option (ld, LDAP_OPT_X_TLS_CACERTFILE, self->ca_file);
  ldap_set_option (ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &demand);
  rc = ldap_set_option (ld, LDAP_OPT_X_TLS_NEWCTX, &is_server);
  if (rc != LDAP_OPT_SUCCESS) {
    unavailable (error, "TLS setup", ld, rc);
    return NULL;
  }
  if (self->starttls) {
    rc = ldap_start_tls_s (ld, NULL, NULL);
    if (rc != LDAP_SUCCESS) {
      /* never fall back to plaintext: the password would cross in clear */
      unavailable (error, "StartTLS", ld, rc);
      return NULL;
    }
  }
  return g_steal_pointer (&ld);
}

/* Binds with the service account, or stays anonymous without bind_dn. */
static gboolean
directory_bind_service (WeAuthLdap *self, LDAP *ld, GError **error)
{
  g_autoptr(GError) local_error = NULL;
  gchar *password;
  gint rc;

  if (self->bind_dn == NULL)
    return TRUE;
  password = we_plugin_config_get_secret (self->config, self->secrets, "bind_password", NULL,
                                          &local_error);
  if (password == NULL) {
    g_warning ("cannot resolve the LDAP service account's bind_password_secret_ref: %s",
               local_error ? local_error->message : "not set");
    g_set_error (error, WE_ERROR, WE_ERROR_AUTH_PROVIDER_UNAVAILABLE,
                 "the LDAP service account's password cannot be resolved: %s",
                 local_error ? local_error->message : "not set");
    return FALSE;
  }
  if (password[0] == '\0') {
    we_secret_free (password);
    g_set_error_literal (error, WE_ERROR, WE_ERROR_AUTH_PROVIDER_UNAVAILABLE,
                         "the LDAP service account's password is empty");
    return FALSE;
  }
  rc = simple_bind (ld, self->bind_dn, password);
  we_secret_free (password);
  if (rc != LDAP_SUCCESS)
    return unavailable (error, "service account bind", ld, rc);
  return TRUE;
}

static gchar *
first_value (LDAP *ld, LDAPMessage *entry, const gchar *attr)
{
  struct berval **values = ldap_get_values_len (ld, entry, attr);
  gchar *out = NULL;

  if (values != NULL && values[0] != NULL && values[0]->bv_len > 0 &&
      memchr (values[0]->bv_val, '\0', values[0]->bv_len) == NULL &&
      g_utf8_validate (values[0]->bv_val, values[0]->bv_len, NULL))
    out = g_strndup (values[0]->bv_val, values[0]->bv_len);
  ldap_value_free_len (values);
  return out;
}

/* Searches under user_base. Returns: (element-type LdapUser) */
static GPtrArray *
directory_find_users (WeAuthLdap *self, LDAP *ld, const gchar *filter, gint sizelimit,
                      GError **error)
{
  g_autoptr(LDAPMessage) res = NULL;
  g_autoptr(GPtrArray) users = g_ptr_array_new_with_free_func ((GDestroyNotify) ldap_user_free);
  gchar *attrs[] = { self->username_attribute, "mail", "displayName", "cn", NULL };
  struct timeval tv = { .tv_sec = self->timeout_s, .tv_usec = 0 };
  gint rc;

  rc = ldap_search_ext_s (ld, self->user_base, LDAP_SCOPE_SUBTREE, filter, attrs, 0, NULL, NULL,
                          &tv, sizelimit, &res);
  if (rc == LDAP_SIZELIMIT_EXCEEDED) {
    g_warning ("LDAP user search %s under %s matched more than %d entries; only those are used",
               filter, self->user_base, sizelimit);
  } else if (rc != LDAP_SUCCESS) {
    unavailable (error, "user search", ld, rc);
    return NULL;
  }
  for (LDAPMessage *e = ldap_first_entry (ld, res); e != NULL; e = ldap_next_entry (ld, e)) {
    g_autoptr(LdapUser) user = g_new0 (LdapUser, 1);
    gchar *dn = ldap_get_dn (ld, e);

    if (dn == NULL || dn[0] == '\0') {
      ldap_memfree (dn);
      continue;
    }
    user->dn = g_strdup (dn);
    ldap_memfree (dn);
    user->username = first_value (ld, e, self->username_attribute);
    user->email = first_value (ld, e, "mail");
    user->display_name = first_value (ld, e, "displayName");
    if (user->display_name == NULL)
      user->display_name = first_value (ld, e, "cn");
    g_ptr_array_add (users, g_steal_pointer (&user));
  }
  return g_steal_pointer (&users);
}

static WeRole
role_for_group (WeAuthLdap *self, LDAP *ld, LDAPMessage *entry, const gchar *dn)
{
  struct berval **cns = ldap_get_values_len (ld, entry, "cn");
  WeRole role = WE_ROLE_NONE;

  for (guint i = 0; i < self->role_map->len; i++) {
    RoleMapping *m = g_ptr_array_index (self->role_map, i);

    if (m->role <= role)
      continue;
    if (m->is_dn) {
      if (dn_equal (m->key, dn))
        role = m->role;
      continue;
    }
    for (guint j = 0; cns != NULL && cns[j] != NULL; j++) {
      if (cns[j]->bv_len == strlen (m->key) &&
          g_ascii_strncasecmp (cns[j]->bv_val, m->key, cns[j]->bv_len) == 0) {
        role = m->role;
        break;
      }
    }
  }
  ldap_value_free_len (cns);
  return role;
}

/* The highest mapped role among the user's groups, WE_ROLE_NONE for none
 * (default_role is the caller's business). */
static gboolean
directory_user_role (WeAuthLdap *self, LDAP *ld, const LdapUser *user, WeRole *role,
                     GError **error)
{
  g_autoptr(LDAPMessage) res = NULL;
  g_autofree gchar *dn_escaped = escape_filter_value (user->dn);
  g_autofree gchar *user_escaped = escape_filter_value (user->username ? user->username : "");
  g_autofree gchar *filter = expand_filter (self->group_filter, user_escaped, dn_escaped);
  gchar *attrs[] = { "cn", NULL };
  struct timeval tv = { .tv_sec = self->timeout_s, .tv_usec = 0 };
  gint rc;

  *role = WE_ROLE_NONE;
  g_return_val_if_fail (filter != NULL, FALSE);  /* checked in create() */
  rc = ldap_search_ext_s (ld, self->group_base, LDAP_SCOPE_SUBTREE, filter, attrs, 0, NULL, NULL,
                          &tv, MAX_GROUPS, &res);
  if (rc == LDAP_SIZELIMIT_EXCEEDED)
    g_warning ("%s is in more than %d groups; only those are looked at", user->dn, MAX_GROUPS);
  else if (rc != LDAP_SUCCESS)
    return unavailable (error, "group search", ld, rc);
  for (LDAPMessage *e = ldap_first_entry (ld, res); e != NULL; e = ldap_next_entry (ld, e)) {
    gchar *dn = ldap_get_dn (ld, e);

    if (dn != NULL)
      *role = MAX (*role, role_for_group (self, ld, e, dn));
    ldap_memfree (dn);
  }
  return TRUE;
}

static WeIdentity *
identity_for (const LdapUser *user, const gchar *fallback_username, WeRole role)
{
  WeIdentity *identity = we_identity_new ();
  const gchar *username = user->username ? user->username : fallback_username;

  identity->user_id = user_id_for (username);
  identity->username = g_strdup (username);
  identity->email = g_strdup (user->email);
  identity->display_name = g_strdup (user->display_name ? user->display_name : username);
  identity->role = role;
  return identity;
}

static void
remember_id (WeAuthLdap *self, const WeIdentity *identity)
{
  g_mutex_lock (&self->lock);
  if (g_hash_table_size (self->known_ids) >= MAX_CACHE_ENTRIES)
    g_hash_table_remove_all (self->known_ids);
  g_hash_table_replace (self->known_ids, g_strdup (identity->user_id),
                        g_strdup (identity->username));
  g_mutex_unlock (&self->lock);
}

/* ---- WeAuthProvider ---- */

static WeIdentity *
authenticate_directory (WeAuthLdap *self, const gchar *username, const gchar *password,
                        const gchar *client_ip, GError **error)
{
  g_autoptr(LDAP) ld = NULL;
  g_autoptr(GPtrArray) users = NULL;
  g_autofree gchar *escaped = escape_filter_value (username);
  g_autofree gchar *filter = expand_filter (self->user_filter, escaped, NULL);
  LdapUser *user;
  WeRole role = WE_ROLE_NONE;
  gint rc;

  ld = directory_open (self, error);
  if (ld == NULL || !directory_bind_service (self, ld, error))
    return NULL;
  /* two are enough to tell "exactly one" from "ambiguous" */
  users = directory_find_users (self, ld, filter, 2, error);
  if (users == NULL)
    return NULL;
  if (users->len != 1) {
    if (users->len > 1)
      g_warning ("LDAP user filter matches several entries for one name; refused (make "
                 "user_filter match one entry per user)");
    g_info ("LDAP authentication failed for a client at %s", client_ip ? client_ip : "unknown");
    unauthorized (error, BAD_CREDENTIALS);
    return NULL;
  }
  user = g_ptr_array_index (users, 0);

  /* With a service account the groups are read with its rights, before the
   * bind as the user changes who this connection is. */
  if (self->bind_dn != NULL && !directory_user_role (self, ld, user, &role, error))
    return NULL;

  rc = simple_bind (ld, user->dn, password);
  switch (rc) {
  case LDAP_SUCCESS:
    break;
  case LDAP_INVALID_CREDENTIALS:
  case LDAP_INAPPROPRIATE_AUTH:
  case LDAP_UNWILLING_TO_PERFORM:   /* e.g. a disabled account */
  case LDAP_CONSTRAINT_VIOLATION:   /* e.g. a locked account (ppolicy) */
  case LDAP_INSUFFICIENT_ACCESS:
    g_info ("LDAP authentication failed for a client at %s", client_ip ? client_ip : "unknown");
    unauthorized (error, BAD_CREDENTIALS);
    return NULL;
  default:
    unavailable (error, "user bind", ld, rc);
    return NULL;
  }

  /* Anonymous setups: the user may read their own groups where anonymous may not */
  if (self->bind_dn == NULL && !directory_user_role (self, ld, user, &role, error))
    return NULL;
  if (role == WE_ROLE_NONE)
    role = self->default_role;
  if (role == WE_ROLE_NONE) {
    g_info ("LDAP user %s is in no group of role_map; refused", user->dn);
    g_set_error_literal (error, WE_ERROR, WE_ERROR_AUTH_FORBIDDEN,
                         "the user is not in any group that grants a WebEncode role");
    return NULL;
  }
  return identity_for (user, username, role);
}

static WeIdentity *
we_auth_ldap_authenticate (WeAuthProvider *provider, const WeAuthRequest *request,
                           GError **error)
{
  WeAuthLdap *self = WE_AUTH_LDAP (provider);
  g_autofree gchar *username = NULL;
  gchar *password = NULL;
  guint8 key[CACHE_KEY_LEN];
  WeIdentity *identity = NULL;
  gint64 now = g_get_monotonic_time ();

  if (!self->configured) {
    not_configured (error);
    return NULL;
  }
  /* other providers (OIDC bearer tokens, API keys) come after us: be quick */
  if (request == NULL || request->scheme == NULL ||
      g_ascii_strcasecmp (request->scheme, "basic") != 0) {
    unauthorized (error, "not basic credentials");
    return NULL;
  }
  if (!decode_basic (request->token, &username, &password)) {
    unauthorized (error, "malformed Basic credentials");
    return NULL;
  }
  /* An empty password makes a simple bind "unauthenticated" (RFC 4513
   * §5.1.2), which many servers answer with success: it must never count. */
  if (password[0] == '\0') {
    we_secret_free (password);
    unauthorized (error, BAD_CREDENTIALS);
    return NULL;
  }

  cache_key (self, password, key);
  if (self->cache_ttl_us > 0) {
    CacheEntry *entry;

    g_mutex_lock (&self->lock);
    entry = g_hash_table_lookup (self->cache, username);
    if (entry != NULL && entry->expires_us > now &&
        equal_const_time (entry->key, key, CACHE_KEY_LEN))
      identity = we_identity_copy (entry->identity);
    g_mutex_unlock (&self->lock);
    if (identity != NULL) {
      we_secret_free (password);
      return identity;
    }
  }

  identity = authenticate_directory (self, username, password, request->client_ip, error);
  we_secret_free (password);
  if (identity == NULL)
    return NULL;

  remember_id (self, identity);
  if (self->cache_ttl_us > 0) {
    CacheEntry *entry = g_new0 (CacheEntry, 1);

    memcpy (entry->key, key, CACHE_KEY_LEN);
    entry->identity = we_identity_copy (identity);
    entry->expires_us = now + self->cache_ttl_us;
    g_mutex_lock (&self->lock);
    if (g_hash_table_size (self->cache) >= MAX_CACHE_ENTRIES) {
      GHashTableIter iter;
      CacheEntry *old;

      g_hash_table_iter_init (&iter, self->cache);
      while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &old))
        if (old->expires_us <= now)
          g_hash_table_iter_remove (&iter);
      if (g_hash_table_size (self->cache) >= MAX_CACHE_ENTRIES)
        g_hash_table_remove_all (self->cache);
    }
    g_hash_table_replace (self->cache, g_strdup (username), entry);
    g_mutex_unlock (&self->lock);
  }
  memset (key, 0, sizeof (key));
  return identity;
}

static gint
compare_identities (gconstpointer a, gconstpointer b)
{
  const WeIdentity *ia = *(WeIdentity * const *) a;
  const WeIdentity *ib = *(WeIdentity * const *) b;
  return g_strcmp0 (ia->username, ib->username);
}

/* Every user entry under user_base: user_filter with "*" for the name. */
static GPtrArray *
directory_all_users (WeAuthLdap *self, LDAP *ld, GError **error)
{
  g_autofree gchar *filter = expand_filter (self->user_filter, "*", NULL);
  return directory_find_users (self, ld, filter, MAX_LIST_USERS, error);
}

static GPtrArray *
we_auth_ldap_list_users (WeAuthProvider *provider, WeRole role_filter, GError **error)
{
  WeAuthLdap *self = WE_AUTH_LDAP (provider);
  g_autoptr(LDAP) ld = NULL;
  g_autoptr(GPtrArray) users = NULL;
  g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func ((GDestroyNotify) we_identity_free);

  if (!self->configured)
    return g_steal_pointer (&out);
  ld = directory_open (self, error);
  if (ld == NULL || !directory_bind_service (self, ld, error))
    return NULL;
  users = directory_all_users (self, ld, error);
  if (users == NULL)
    return NULL;
  for (guint i = 0; i < users->len; i++) {
    LdapUser *user = g_ptr_array_index (users, i);
    WeRole role;

    if (user->username == NULL)
      continue;  /* no name to log in with */
    if (!directory_user_role (self, ld, user, &role, error))
      return NULL;
    if (role == WE_ROLE_NONE)
      role = self->default_role;
    /* users who cannot log in are not WebEncode users */
    if (role == WE_ROLE_NONE || (role_filter != WE_ROLE_NONE && role != role_filter))
      continue;
    g_ptr_array_add (out, identity_for (user, NULL, role));
  }
  for (guint i = 0; i < out->len; i++)
    remember_id (self, g_ptr_array_index (out, i));
  g_ptr_array_sort (out, compare_identities);
  return g_steal_pointer (&out);
}

static WeIdentity *
we_auth_ldap_get_user_profile (WeAuthProvider *provider, const gchar *user_id, GError **error)
{
  WeAuthLdap *self = WE_AUTH_LDAP (provider);
  g_autoptr(LDAP) ld = NULL;
  g_autoptr(GPtrArray) users = NULL;
  g_autofree gchar *username = NULL;
  LdapUser *found = NULL;
  WeRole role;

  if (!self->configured) {
    not_configured (error);
    return NULL;
  }
  if (user_id == NULL) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_SYS_NOT_FOUND, "no user id given");
    return NULL;
  }
  g_mutex_lock (&self->lock);
  username = g_strdup (g_hash_table_lookup (self->known_ids, user_id));
  g_mutex_unlock (&self->lock);

  ld = directory_open (self, error);
  if (ld == NULL || !directory_bind_service (self, ld, error))
    return NULL;
  if (username != NULL) {
    g_autofree gchar *escaped = escape_filter_value (username);
    g_autofree gchar *filter = expand_filter (self->user_filter, escaped, NULL);
    users = directory_find_users (self, ld, filter, 2, error);
  } else {
    /* an id from before a restart: ids are hashes, so look at everyone */
    users = directory_all_users (self, ld, error);
  }
  if (users == NULL)
    return NULL;
  for (guint i = 0; i < users->len; i++) {
    LdapUser *user = g_ptr_array_index (users, i);
    g_autofree gchar *id = user->username ? user_id_for (user->username) : NULL;

    if (g_strcmp0 (id, user_id) == 0) {
      found = user;
      break;
    }
  }
  if (found == NULL) {
    g_set_error (error, WE_ERROR, WE_ERROR_SYS_NOT_FOUND, "no user with id %s", user_id);
    return NULL;
  }
  if (!directory_user_role (self, ld, found, &role, error))
    return NULL;
  if (role == WE_ROLE_NONE)
    role = self->default_role;
  {
    WeIdentity *identity = identity_for (found, NULL, role);
    remember_id (self, identity);
    return identity;
  }
}

static WeIdentity *
we_auth_ldap_refresh_token (WeAuthProvider *provider, const gchar *refresh_token,
                            GError **error)
{
  g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                       "auth-ldap has no tokens to refresh; send Basic credentials");
  return NULL;
}

/* There is no server-side session, only our cache of successful checks:
 * dropping it makes the next request go to the directory again (a disabled
 * account or a changed group then takes effect at once). */
static gboolean
we_auth_ldap_logout (WeAuthProvider *provider, const gchar *user_id, const gchar *session_id,
                     gboolean all_sessions, GError **error)
{
  WeAuthLdap *self = WE_AUTH_LDAP (provider);
  GHashTableIter iter;
  CacheEntry *entry;

  g_mutex_lock (&self->lock);
  g_hash_table_iter_init (&iter, self->cache);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &entry))
    if (user_id == NULL || g_strcmp0 (entry->identity->user_id, user_id) == 0)
      g_hash_table_iter_remove (&iter);
  g_mutex_unlock (&self->lock);
  return TRUE;
}

static void
we_auth_ldap_iface_init (WeAuthProviderInterface *iface)
{
  /* no authorize: the kernel's RBAC on our role says it all */
  iface->authenticate = we_auth_ldap_authenticate;
  iface->get_user_profile = we_auth_ldap_get_user_profile;
  iface->list_users = we_auth_ldap_list_users;
  iface->refresh_token = we_auth_ldap_refresh_token;
  iface->logout = we_auth_ldap_logout;
}

/* ---- the module ---- */

static gboolean
invalid (GError **error, const gchar *format, ...) G_GNUC_PRINTF (2, 3);

static gboolean
invalid (GError **error, const gchar *format, ...)
{
  va_list args;
  g_autofree gchar *message = NULL;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG, "auth-ldap: %s", message);
  return FALSE;
}

static gboolean
add_role_mapping (WeAuthLdap *self, const gchar *group, const gchar *role_str, GError **error)
{
  RoleMapping *m;
  WeRole role = we_role_from_string (role_str);

  if (group[0] == '\0' || role == WE_ROLE_NONE)
    return invalid (error, "role_map entry '%s=%s' is not <group DN or cn>=viewer|operator|admin",
                    group, role_str);
  m = g_new0 (RoleMapping, 1);
  m->is_dn = strchr (group, '=') != NULL;
  if (m->is_dn) {
    LDAPDN parsed = NULL;

    if (ldap_str2dn (group, &parsed, LDAP_DN_FORMAT_LDAPV3) != LDAP_SUCCESS) {
      role_mapping_free (m);
      return invalid (error, "role_map group '%s' is not a DN", group);
    }
    ldap_dnfree (parsed);
  }
  m->key = g_strdup (group);
  m->role = role;
  g_ptr_array_add (self->role_map, m);
  return TRUE;
}

/* One "group=role" entry; the role is after the last '=' since the DN has its own. */
static gboolean
parse_role_entry (WeAuthLdap *self, const gchar *entry, GError **error)
{
  g_autofree gchar *copy = g_strstrip (g_strdup (entry));
  gchar *eq;

  if (copy[0] == '\0')
    return TRUE;
  eq = strrchr (copy, '=');
  if (eq == NULL)
    return invalid (error, "role_map entry '%s' is not <group>=<role>", copy);
  *eq = '\0';
  return add_role_mapping (self, g_strstrip (copy), g_strstrip (eq + 1), error);
}

/* role_map: "dn-or-cn=role;…" (split on ';' only: DNs hold commas), a JSON
 * array of such entries, or a JSON object {group: role}. */
static gboolean
parse_role_map (WeAuthLdap *self, JsonObject *config, GError **error)
{
  JsonNode *node = config ? json_object_get_member (config, "role_map") : NULL;

  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return TRUE;
  if (JSON_NODE_HOLDS_OBJECT (node)) {
    JsonObject *obj = json_node_get_object (node);
    g_autoptr(GList) members = json_object_get_members (obj);

    for (GList *l = members; l != NULL; l = l->next) {
      const gchar *role = json_object_get_string_member_with_default (obj, l->data, "");
      if (!add_role_mapping (self, l->data, role, error))
        return FALSE;
    }
    return TRUE;
  }
  if (JSON_NODE_HOLDS_ARRAY (node)) {
    JsonArray *array = json_node_get_array (node);

    for (guint i = 0; i < json_array_get_length (array); i++) {
      JsonNode *item = json_array_get_element (array, i);
      if (!JSON_NODE_HOLDS_VALUE (item) || json_node_get_value_type (item) != G_TYPE_STRING)
        return invalid (error, "role_map entries must be strings");
      if (!parse_role_entry (self, json_node_get_string (item), error))
        return FALSE;
    }
    return TRUE;
  }
  if (JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING) {
    g_auto(GStrv) entries = g_strsplit_set (json_node_get_string (node), ";\n", -1);

    for (guint i = 0; entries[i] != NULL; i++)
      if (!parse_role_entry (self, entries[i], error))
        return FALSE;
    return TRUE;
  }
  return invalid (error, "role_map must be a string, an array or an object");
}

/* starttls: false, true, or "demand" (a synonym of true, as in ldapsearch
 * -ZZ). There is deliberately no "try if offered": a downgrade by anyone on
 * the path would send passwords in clear. */
static gboolean
parse_starttls (JsonObject *config, gboolean *out, GError **error)
{
  JsonNode *node = json_object_get_member (config, "starttls");
  const gchar *s;

  *out = FALSE;
  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return TRUE;
  if (JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_BOOLEAN) {
    *out = json_node_get_boolean (node);
    return TRUE;
  }
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    return invalid (error, "starttls must be true, false or \"demand\"");
  s = json_node_get_string (node);
  if (g_ascii_strcasecmp (s, "true") == 0 || g_ascii_strcasecmp (s, "demand") == 0 ||
      g_ascii_strcasecmp (s, "yes") == 0 || g_strcmp0 (s, "1") == 0)
    *out = TRUE;
  else if (g_ascii_strcasecmp (s, "false") != 0 && g_ascii_strcasecmp (s, "no") != 0 &&
           g_strcmp0 (s, "0") != 0 && s[0] != '\0')
    return invalid (error, "starttls must be true, false or \"demand\", not '%s'", s);
  return TRUE;
}

static gboolean
check_filter (const gchar *key, const gchar *filter, gboolean group, GError **error)
{
  g_autofree gchar *probe = expand_filter (filter, "u", group ? "d" : NULL);

  if (filter[0] != '(' || filter[strlen (filter) - 1] != ')')
    return invalid (error, "%s '%s' must be a parenthesized LDAP filter", key, filter);
  if (probe == NULL)
    return invalid (error, "%s '%s' uses a placeholder other than %s", key, filter,
                    group ? "%dn, %u and %%" : "%s, %u and %%");
  if (!group && strstr (filter, "%s") == NULL && strstr (filter, "%u") == NULL)
    return invalid (error, "%s '%s' must contain %%s, the user name", key, filter);
  if (group && strstr (filter, "%dn") == NULL && strstr (filter, "%u") == NULL)
    return invalid (error, "%s '%s' must contain %%dn or %%u", key, filter);
  return TRUE;
}

static const gchar *
config_string (JsonObject *config, const gchar *key, const gchar *default_value)
{
  const gchar *value = we_plugin_config_get_string (config, key, NULL);
  return value != NULL && value[0] != '\0' ? value : default_value;
}

static GObject *
we_auth_ldap_create_with_secrets (JsonObject *config, WeSecrets *secrets, GError **error)
{
  g_autoptr(WeAuthLdap) self = g_object_new (WE_TYPE_AUTH_LDAP, NULL);
  g_autoptr(JsonObject) empty = json_object_new ();
  LDAPURLDesc *lud = NULL;
  const gchar *url, *default_role;
  gint64 timeout_s, cache_ttl_s;
  gboolean is_ldaps;

  if (config == NULL)
    config = empty;
  self->config = json_object_ref (config);
  if (secrets != NULL)
    self->secrets = g_object_ref (secrets);

  url = config_string (config, "url", NULL);
  /* Installed with every build but configured by few: without any setting
   * the module loads as a provider that stands aside, rather than as a
   * failed plugin in every health report. */
  if (url == NULL && json_object_get_size (config) == 0)
    return G_OBJECT (g_steal_pointer (&self));
  if (url == NULL) {
    invalid (error, "'url' is required, e.g. ldaps://ldap.example.org/");
    return NULL;
  }
  is_ldaps = g_ascii_strncasecmp (url, "ldaps://", 8) == 0;
  if ((!is_ldaps && g_ascii_strncasecmp (url, "ldap://", 7) != 0) ||
      ldap_url_parse (url, &lud) != LDAP_URL_SUCCESS) {
    invalid (error, "url '%s' is not an ldap:// or ldaps:// URL", url);
    return NULL;
  }
  ldap_free_urldesc (lud);
  self->url = g_strdup (url);
  if (!parse_starttls (config, &self->starttls, error))
    return NULL;
  if (self->starttls && is_ldaps) {
    invalid (error, "starttls makes no sense with ldaps://, which is TLS already");
    return NULL;
  }
  self->ca_file = g_strdup (config_string (config, "ca_file", NULL));
  if (self->ca_file != NULL && !g_file_test (self->ca_file, G_FILE_TEST_IS_REGULAR)) {
    invalid (error, "ca_file '%s' does not exist", self->ca_file);
    return NULL;
  }

  self->bind_dn = g_strdup (config_string (config, "bind_dn", NULL));
  if (self->bind_dn != NULL &&
      config_string (config, "bind_password_secret_ref", NULL) == NULL) {
    invalid (error, "bind_dn needs bind_password_secret_ref, a reference to its password");
    return NULL;
  }
  if (self->bind_dn == NULL && config_string (config, "bind_password_secret_ref", NULL) != NULL) {
    invalid (error, "bind_password_secret_ref without bind_dn");
    return NULL;
  }
  if (self->bind_dn != NULL && self->secrets == NULL) {
    invalid (error, "bind_password_secret_ref needs a secrets backend ([secrets] settings)");
    return NULL;
  }

  self->user_base = g_strdup (config_string (config, "user_base", NULL));
  if (self->user_base == NULL) {
    invalid (error, "'user_base' is required, e.g. ou=people,dc=example,dc=org");
    return NULL;
  }
  self->group_base = g_strdup (config_string (config, "group_base", self->user_base));
  self->user_filter = g_strdup (config_string (config, "user_filter", "(uid=%s)"));
  self->group_filter = g_strdup (config_string (config, "group_filter",
                                                "(|(member=%dn)(uniqueMember=%dn)(memberUid=%u))"));
  if (!check_filter ("user_filter", self->user_filter, FALSE, error) ||
      !check_filter ("group_filter", self->group_filter, TRUE, error))
    return NULL;
  self->username_attribute = g_strdup (config_string (config, "username_attribute", "uid"));

  if (!parse_role_map (self, config, error))
    return NULL;
  default_role = config_string (config, "default_role", "none");
  if (g_ascii_strcasecmp (default_role, "none") == 0) {
    self->default_role = WE_ROLE_NONE;
  } else if (g_ascii_strcasecmp (default_role, "viewer") == 0) {
    self->default_role = WE_ROLE_VIEWER;
  } else {
    /* a higher default would make every directory account an operator */
    invalid (error, "default_role must be 'none' or 'viewer', not '%s'", default_role);
    return NULL;
  }
  if (self->role_map->len == 0 && self->default_role == WE_ROLE_NONE)
    g_warning ("auth-ldap: no role_map and default_role=none: nobody can log in");

  timeout_s = we_plugin_config_get_int (config, "timeout_s", 5);
  if (timeout_s < 1 || timeout_s > 300) {
    invalid (error, "timeout_s must be 1–300");
    return NULL;
  }
  self->timeout_s = (gint) timeout_s;
  cache_ttl_s = we_plugin_config_get_int (config, "cache_ttl_s", 60);
  if (cache_ttl_s < 0 || cache_ttl_s > 86400) {
    invalid (error, "cache_ttl_s must be 0–86400");
    return NULL;
  }
  self->cache_ttl_us = cache_ttl_s * G_USEC_PER_SEC;
  for (guint i = 0; i < sizeof (self->cache_secret); i += 4) {
    guint32 r = g_random_int ();
    memcpy (self->cache_secret + i, &r, 4);
  }

  if (!is_ldaps && !self->starttls) {
    LDAPURLDesc *desc = NULL;
    if (ldap_url_parse (self->url, &desc) == LDAP_URL_SUCCESS) {
      if (desc->lud_host != NULL && g_strcmp0 (desc->lud_host, "127.0.0.1") != 0 &&
          g_strcmp0 (desc->lud_host, "::1") != 0 && g_strcmp0 (desc->lud_host, "localhost") != 0)
        g_warning ("auth-ldap: %s without starttls sends passwords in clear", self->url);
      ldap_free_urldesc (desc);
    }
  }
  /* libldap writes to its sockets with write(): a directory closing a
   * connection must not kill the service with SIGPIPE */
  {
    struct sigaction sa;
    if (sigaction (SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL)
      signal (SIGPIPE, SIG_IGN);
  }
  self->configured = TRUE;
  return G_OBJECT (g_steal_pointer (&self));
}

static GObject *
we_auth_ldap_create (JsonObject *config, GError **error)
{
  return we_auth_ldap_create_with_secrets (config, NULL, error);
}

static const gchar * const auth_ldap_config_keys[] = {
  "url", "starttls", "ca_file", "bind_dn", "bind_password_secret_ref", "user_base",
  "user_filter", "username_attribute", "group_base", "group_filter", "role_map", "default_role",
  "timeout_s", "cache_ttl_s", NULL
};

static const WePluginDescriptor auth_ldap_descriptor = {
  .protocol_version = WE_PLUGIN_PROTOCOL_VERSION,
  .abi_minor = WE_PLUGIN_ABI_MINOR,
  .id = "auth-ldap",
  .pillar = WE_PILLAR_AUTH,
  .version = PLUGIN_VERSION,
  .config_keys = auth_ldap_config_keys,
  .create = we_auth_ldap_create,
  .create_with_secrets = we_auth_ldap_create_with_secrets,
};

WE_PLUGIN_DEFINE (auth_ldap_descriptor)
