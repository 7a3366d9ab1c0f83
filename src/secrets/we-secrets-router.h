/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The WeSecrets the service hands out (to plugins through the plugin host,
 * to the API through WeApiContext): dispatches a reference to the backend its
 * scheme names ("file:", "vault:", "secret-service:") and a reference without
 * one to the configured default backend ([secrets] backend). Immutable once
 * built, so any thread may use it; lookups block (disk, HTTP, D-Bus), so call
 * them from a worker thread, never from the main loop.
 *
 * The settings are the [secrets] group of the configuration as a JSON object
 * of strings: backend, file_dir, vault_addr, vault_token_file,
 * vault_token_env, vault_namespace, vault_ca_file, vault_cache_ttl_s. None of
 * them is a secret (the Vault token is read from the file or environment
 * variable they name), so the kernel may pass them on to its workers.
 */
#pragma once

#include <webencode/we-secrets.h>

#include "common/we-config.h"

G_BEGIN_DECLS

#define WE_TYPE_SECRETS_ROUTER (we_secrets_router_get_type ())
G_DECLARE_FINAL_TYPE (WeSecretsRouter, we_secrets_router, WE, SECRETS_ROUTER, GObject)

WeSecretsRouter *we_secrets_router_new         (void);
/* Routes "<scheme>:…" references to @backend. Call before sharing the router. */
void             we_secrets_router_add         (WeSecretsRouter *self,
                                                const gchar     *scheme,
                                                WeSecrets       *backend);
/* Where references without a scheme go; NULL refuses them. */
void             we_secrets_router_set_default (WeSecretsRouter *self,
                                                const gchar     *scheme);
/* Returns: (transfer none) (nullable) */
const gchar     *we_secrets_router_get_default (WeSecretsRouter *self);

/* Builds the router the settings describe: a file backend when file_dir is
 * set (or backend=file), a Vault backend when vault_addr is set, and the
 * Secret Service backend always (it connects on first use).
 * Errors: WE_ERROR_PLG_INVALID_CONFIG. Returns: (transfer full) (nullable) */
WeSecretsRouter *we_secrets_router_new_from_settings (JsonObject *settings,
                                                      GError    **error);
/* The [secrets] settings of @config, with defaults filled in (backend=file
 * without file_dir uses <data_dir>/secrets). Returns: (transfer full) */
JsonObject      *we_secrets_settings_from_config (WeConfig *config);

G_END_DECLS
