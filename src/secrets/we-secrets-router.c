/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "we-secrets-router.h"
#include "we-secrets-file.h"
#include "we-secrets-libsecret.h"
#include "we-secrets-private.h"
#include "we-secrets-vault.h"

#include <string.h>

#include <webencode/we-error.h>

#define MAX_SCHEME 32

struct _WeSecretsRouter {
  GObject     parent_instance;
  GHashTable *backends;   /* scheme → WeSecrets (owned) */
  gchar      *default_scheme;
};

static void we_secrets_router_iface_init (WeSecretsInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (WeSecretsRouter, we_secrets_router, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (WE_TYPE_SECRETS,
                                                      we_secrets_router_iface_init))

/* ---- reference parsing, shared by the backends ---- */

gboolean
we_secrets_ref_split (const gchar *ref, const gchar **scheme, const gchar **rest, GError **error)
{
  static const gchar *const scheme_names[] = { "file", "vault", "secret-service" };
  gsize len;
  gsize n = 0;

  *scheme = NULL;
  *rest = NULL;
  if (ref == NULL || ref[0] == '\0') {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                         "the secret reference is empty");
    return FALSE;
  }
  len = strnlen (ref, WE_SECRETS_MAX_REF + 1);
  if (len > WE_SECRETS_MAX_REF) {
    g_set_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                 "a secret reference is at most %d characters long", WE_SECRETS_MAX_REF);
    return FALSE;
  }
  /* printable ASCII only: references end up in URLs, paths, D-Bus
   * attributes and log lines */
  for (gsize i = 0; i < len; i++) {
    if (ref[i] <= ' ' || ref[i] >= 0x7f) {
      g_set_error_literal (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                           "a secret reference may hold only printable ASCII without spaces");
      return FALSE;
    }
  }
  /* "<scheme>:" – lower-case letters, digits and '-', starting with a letter */
  if (g_ascii_islower (ref[0])) {
    while (n < len && n < MAX_SCHEME && (g_ascii_islower (ref[n]) || g_ascii_isdigit (ref[n]) ||
                                         ref[n] == '-'))
      n++;
  }
  if (n > 0 && n < len && ref[n] == ':') {
    for (guint i = 0; i < G_N_ELEMENTS (scheme_names); i++) {
      if (strlen (scheme_names[i]) == n && strncmp (ref, scheme_names[i], n) == 0) {
        *scheme = scheme_names[i];
        *rest = ref + n + 1;
        return TRUE;
      }
    }
    g_set_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                 "secret reference %s names an unknown backend (file:, vault:, secret-service:)",
                 ref);
    return FALSE;
  }
  *rest = ref;
  return TRUE;
}

gboolean
we_secrets_path_is_safe (const gchar *path, gsize max_len)
{
  gsize len;
  const gchar *component;

  if (path == NULL || path[0] == '\0' || path[0] == '/')
    return FALSE;
  len = strnlen (path, max_len + 1);
  if (len > max_len || path[len - 1] == '/')
    return FALSE;
  component = path;
  for (gsize i = 0; i <= len; i++) {
    gchar c = path[i];

    if (c == '/' || c == '\0') {
      gsize clen = (gsize) (path + i - component);
      if (clen == 0 || (clen == 1 && component[0] == '.') ||
          (clen == 2 && component[0] == '.' && component[1] == '.'))
        return FALSE;
      component = path + i + 1;
      continue;
    }
    if (!g_ascii_isalnum (c) && c != '.' && c != '_' && c != '-')
      return FALSE;
  }
  /* ".." anywhere, even inside a component, reads as an attempt */
  return strstr (path, "..") == NULL;
}

typedef struct {
  gsize size;
  guint8 data[];
} WipedBlock;

static void
wiped_block_free (gpointer p)
{
  WipedBlock *block = p;

  explicit_bzero (block->data, block->size);
  g_free (block);
}

GBytes *
we_secrets_bytes_new (gconstpointer data, gsize size)
{
  WipedBlock *block = g_malloc (sizeof (WipedBlock) + size + 1);

  block->size = size;
  if (size > 0)
    memcpy (block->data, data, size);
  block->data[size] = 0;
  return g_bytes_new_with_free_func (block->data, size, wiped_block_free, block);
}

/* ---- the router ---- */

static void
we_secrets_router_finalize (GObject *object)
{
  WeSecretsRouter *self = WE_SECRETS_ROUTER (object);

  g_hash_table_unref (self->backends);
  g_free (self->default_scheme);
  G_OBJECT_CLASS (we_secrets_router_parent_class)->finalize (object);
}

static void
we_secrets_router_class_init (WeSecretsRouterClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = we_secrets_router_finalize;
}

static void
we_secrets_router_init (WeSecretsRouter *self)
{
  self->backends = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);
}

static WeSecrets *
pick_backend (WeSecretsRouter *self, const gchar *ref, GError **error)
{
  const gchar *scheme = NULL;
  const gchar *rest = NULL;
  WeSecrets *backend;

  if (!we_secrets_ref_split (ref, &scheme, &rest, error))
    return NULL;
  if (scheme == NULL) {
    scheme = self->default_scheme;
    if (scheme == NULL) {
      g_set_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                   "secret reference %s names no backend and no default secrets backend is "
                   "configured ([secrets] backend)", ref);
      return NULL;
    }
  }
  backend = g_hash_table_lookup (self->backends, scheme);
  if (backend == NULL) {
    g_set_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                 "secret reference %s: the %s secrets backend is not configured", ref, scheme);
    return NULL;
  }
  return backend;
}

static GBytes *
we_secrets_router_lookup (WeSecrets *secrets, const gchar *ref, GCancellable *cancellable,
                          GError **error)
{
  WeSecrets *backend = pick_backend (WE_SECRETS_ROUTER (secrets), ref, error);

  if (backend == NULL)
    return NULL;
  return we_secrets_lookup (backend, ref, cancellable, error);
}

static gboolean
we_secrets_router_store (WeSecrets *secrets, const gchar *ref, GBytes *value,
                         GCancellable *cancellable, GError **error)
{
  WeSecrets *backend = pick_backend (WE_SECRETS_ROUTER (secrets), ref, error);

  if (backend == NULL)
    return FALSE;
  return we_secrets_store (backend, ref, value, cancellable, error);
}

static void
we_secrets_router_iface_init (WeSecretsInterface *iface)
{
  iface->lookup = we_secrets_router_lookup;
  iface->store = we_secrets_router_store;
}

WeSecretsRouter *
we_secrets_router_new (void)
{
  return g_object_new (WE_TYPE_SECRETS_ROUTER, NULL);
}

void
we_secrets_router_add (WeSecretsRouter *self, const gchar *scheme, WeSecrets *backend)
{
  g_return_if_fail (WE_IS_SECRETS_ROUTER (self));
  g_return_if_fail (scheme != NULL && WE_IS_SECRETS (backend));

  g_hash_table_replace (self->backends, g_strdup (scheme), g_object_ref (backend));
}

void
we_secrets_router_set_default (WeSecretsRouter *self, const gchar *scheme)
{
  g_return_if_fail (WE_IS_SECRETS_ROUTER (self));

  g_free (self->default_scheme);
  self->default_scheme = g_strdup (scheme);
}

const gchar *
we_secrets_router_get_default (WeSecretsRouter *self)
{
  g_return_val_if_fail (WE_IS_SECRETS_ROUTER (self), NULL);
  return self->default_scheme;
}

static const gchar *
setting (JsonObject *settings, const gchar *key)
{
  const gchar *v = settings != NULL
                     ? json_object_get_string_member_with_default (settings, key, NULL)
                     : NULL;
  return v != NULL && v[0] != '\0' ? v : NULL;
}

WeSecretsRouter *
we_secrets_router_new_from_settings (JsonObject *settings, GError **error)
{
  g_autoptr(WeSecretsRouter) self = we_secrets_router_new ();
  g_autoptr(WeSecretsLibsecret) libsecret = we_secrets_libsecret_new ();
  const gchar *backend = setting (settings, "backend");
  const gchar *file_dir = setting (settings, "file_dir");
  const gchar *vault_addr = setting (settings, "vault_addr");
  const gchar *ttl = setting (settings, "vault_cache_ttl_s");

  if (backend != NULL && g_strcmp0 (backend, "file") != 0 && g_strcmp0 (backend, "vault") != 0 &&
      g_strcmp0 (backend, "secret-service") != 0) {
    g_set_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                 "[secrets] backend must be file, vault or secret-service, not \"%s\"", backend);
    return NULL;
  }
  if (file_dir != NULL) {
    g_autoptr(WeSecretsFile) file = NULL;

    if (!g_path_is_absolute (file_dir)) {
      g_set_error_literal (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                           "[secrets] file_dir must be an absolute path");
      return NULL;
    }
    file = we_secrets_file_new (file_dir);
    we_secrets_router_add (self, "file", WE_SECRETS (file));
  } else if (g_strcmp0 (backend, "file") == 0) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                         "[secrets] backend=file needs file_dir");
    return NULL;
  }
  if (vault_addr != NULL) {
    WeSecretsVaultOptions opts = { 0 };
    g_autoptr(WeSecretsVault) vault = NULL;
    guint64 v = 0;

    opts.addr = vault_addr;
    opts.token_file = setting (settings, "vault_token_file");
    opts.token_env = setting (settings, "vault_token_env");
    opts.namespace_ = setting (settings, "vault_namespace");
    opts.ca_file = setting (settings, "vault_ca_file");
    opts.cache_ttl_s = -1;
    if (ttl != NULL) {
      if (!g_ascii_string_to_unsigned (ttl, 10, 0, 86400, &v, NULL)) {
        g_set_error_literal (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                             "[secrets] cache_ttl_s must be a number of seconds");
        return NULL;
      }
      opts.cache_ttl_s = (gint) v;
    }
    vault = we_secrets_vault_new (&opts, error);
    if (vault == NULL) {
      g_prefix_error (error, "[secrets] ");
      return NULL;
    }
    we_secrets_router_add (self, "vault", WE_SECRETS (vault));
  } else if (g_strcmp0 (backend, "vault") == 0) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                         "[secrets] backend=vault needs vault_addr");
    return NULL;
  }
  /* always there: it costs nothing until a reference names it */
  we_secrets_router_add (self, "secret-service", WE_SECRETS (libsecret));

  /* with one store configured, bare references obviously mean that one */
  if (backend == NULL && file_dir != NULL && vault_addr == NULL)
    backend = "file";
  else if (backend == NULL && vault_addr != NULL && file_dir == NULL)
    backend = "vault";
  we_secrets_router_set_default (self, backend);
  return g_steal_pointer (&self);
}

JsonObject *
we_secrets_settings_from_config (WeConfig *config)
{
  JsonObject *settings = json_object_new ();
  const gchar *backend = we_config_get_secrets_backend (config);
  const gchar *file_dir = we_config_get_secrets_file_dir (config);
  g_autofree gchar *default_dir = NULL;
  g_autofree gchar *ttl = g_strdup_printf ("%u", we_config_get_secrets_cache_ttl_s (config));
  struct {
    const gchar *key;
    const gchar *value;
  } strings[] = {
    { "backend", backend },
    { "vault_addr", we_config_get_secrets_vault_addr (config) },
    { "vault_token_file", we_config_get_secrets_vault_token_file (config) },
    { "vault_token_env", we_config_get_secrets_vault_token_env (config) },
    { "vault_namespace", we_config_get_secrets_vault_namespace (config) },
    { "vault_ca_file", we_config_get_secrets_vault_ca_file (config) },
    { "vault_cache_ttl_s", ttl },
  };

  if (file_dir == NULL && g_strcmp0 (backend, "file") == 0)
    file_dir = default_dir = g_build_filename (we_config_get_data_dir (config), "secrets", NULL);
  if (file_dir != NULL)
    json_object_set_string_member (settings, "file_dir", file_dir);
  for (guint i = 0; i < G_N_ELEMENTS (strings); i++) {
    if (strings[i].value != NULL)
      json_object_set_string_member (settings, strings[i].key, strings[i].value);
  }
  return settings;
}
