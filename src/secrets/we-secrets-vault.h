/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * OpenBao / HashiCorp Vault KV version 2 over HTTP(S), for servers.
 * Reference "vault:<mount>/<path>#<field>" (field "value" when left out;
 * "vault:" may be left out when Vault is the default backend, so the spec's
 * "secret/webencode/s3/access_key" works as written) reads field <field> of
 * GET <addr>/v1/<mount>/data/<path>. The token is sent as X-Vault-Token and
 * read at each request from a file or an environment variable the options
 * name, never from configuration, so a rotated token is picked up. Values are
 * kept in memory for a short TTL. store() merges the field into the secret
 * (GET, then POST <mount>/data/<path>).
 * Lookups do blocking HTTP: call them from a worker thread.
 */
#pragma once

#include <webencode/we-secrets.h>

G_BEGIN_DECLS

typedef struct {
  const gchar *addr;         /* http(s)://host[:port][/prefix]; required */
  const gchar *token_file;   /* nullable: file holding the token */
  const gchar *token_env;    /* nullable: environment variable holding it
                              * (used when token_file is NULL; default VAULT_TOKEN) */
  const gchar *namespace_;   /* nullable: X-Vault-Namespace */
  const gchar *ca_file;      /* nullable: PEM bundle to trust instead of the system's */
  gint         cache_ttl_s;  /* < 0: default (60); 0: no cache */
} WeSecretsVaultOptions;

#define WE_TYPE_SECRETS_VAULT (we_secrets_vault_get_type ())
G_DECLARE_FINAL_TYPE (WeSecretsVault, we_secrets_vault, WE, SECRETS_VAULT, GObject)

/* Errors: WE_ERROR_PLG_INVALID_CONFIG for a malformed address or CA file.
 * Returns: (transfer full) (nullable) */
WeSecretsVault *we_secrets_vault_new (const WeSecretsVaultOptions *options,
                                      GError                     **error);

G_END_DECLS
