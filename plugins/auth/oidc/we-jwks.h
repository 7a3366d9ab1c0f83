/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A JSON Web Key Set (RFC 7517 §5) as an issuer publishes it at its
 * jwks_uri. Keys we cannot use (encryption keys, other key types or curves,
 * short RSA moduli) are skipped, not fatal: an IdP may publish those too.
 */
#pragma once

#include "we-jwt.h"

G_BEGIN_DECLS

/* Bounds what an IdP (or a forged response) can make us hold. */
#define WE_JWKS_MAX_BYTES (256 * 1024)
#define WE_JWKS_MAX_KEYS  64

typedef struct _WeJwks WeJwks;

/* Errors: WE_ERROR_AUTH_PROVIDER_UNAVAILABLE when @json is not a key set.
 * Returns: (transfer full) (nullable) */
WeJwks      *we_jwks_parse   (const gchar *json,
                              gsize        len,
                              GError     **error);
WeJwks      *we_jwks_ref     (WeJwks *jwks);
void         we_jwks_unref   (WeJwks *jwks);
guint        we_jwks_n_keys  (WeJwks *jwks);

/* The key to verify @jwt with: the one with its kid (and a matching
 * algorithm), or without a kid in the token, the only key of its algorithm.
 * Returns: (transfer none) (nullable) */
const WeJwk *we_jwks_find    (WeJwks      *jwks,
                              const WeJwt *jwt);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeJwks, we_jwks_unref)

G_END_DECLS
