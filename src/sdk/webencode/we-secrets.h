/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Secrets (spec §6.5). Configuration never holds a plaintext secret: a key
 * ending "_secret_ref" or "_token_ref" holds a *reference*, resolved when the
 * secret is needed through the service's secrets backend (Secret Service via
 * libsecret on desktops, OpenBao/Vault KV v2 on servers, a directory of files
 * for tests). A reference may name its backend ("vault:secret/webencode/s3#key",
 * "file:s3-key", "secret-service:webencode/s3") or leave it to the default.
 *
 * Lookups may block on the network or D-Bus: call them from a worker thread,
 * never from a main loop.
 */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

#define WE_TYPE_SECRETS (we_secrets_get_type ())
G_DECLARE_INTERFACE (WeSecrets, we_secrets, WE, SECRETS, GObject)

struct _WeSecretsInterface {
  GTypeInterface parent_iface;

  /* Returns the secret's bytes. Errors: WE_ERROR_PLG_INVALID_CONFIG for a
   * malformed reference, WE_ERROR_STO_NOT_FOUND when nothing is stored under
   * it, WE_ERROR_PLG_DEGRADED when the backend cannot be reached. */
  GBytes   *(*lookup) (WeSecrets    *self,
                       const gchar  *ref,
                       GCancellable *cancellable,
                       GError      **error);
  /* Optional: stores @value under @ref (admin tooling, tests). */
  gboolean  (*store)  (WeSecrets    *self,
                       const gchar  *ref,
                       GBytes       *value,
                       GCancellable *cancellable,
                       GError      **error);

  gpointer padding[8];
};

/* Returns: (transfer full) (nullable) */
GBytes   *we_secrets_lookup (WeSecrets *self, const gchar *ref, GCancellable *cancellable,
                             GError **error);
gboolean  we_secrets_store  (WeSecrets *self, const gchar *ref, GBytes *value,
                             GCancellable *cancellable, GError **error);

/* TRUE for configuration keys that hold references ("*_secret_ref",
 * "*_token_ref"). */
gboolean  we_secrets_key_is_ref (const gchar *key);

/* Resolves the secret a plugin's configuration names for @name: the
 * reference in "<name>_secret_ref" or "<name>_token_ref" looked up through
 * @secrets. NULL without an error when neither key is set.
 * The result must be released with we_secret_free(), which wipes it.
 * Returns: (transfer full) (nullable) */
gchar    *we_plugin_config_get_secret (JsonObject   *config,
                                       WeSecrets    *secrets,
                                       const gchar  *name,
                                       GCancellable *cancellable,
                                       GError      **error);

/* Overwrites and frees a secret string. */
void      we_secret_free (gchar *secret);

G_END_DECLS
