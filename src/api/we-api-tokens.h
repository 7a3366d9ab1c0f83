/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Long-lived API tokens (issue 7): created and revoked by admins, shown once,
 * stored only as a SHA-256 digest. A token is "we_" and 43 base64url
 * characters (256 random bits), so it is told apart from an IdP's JWT
 * without asking anyone, and works whichever auth pillar is loaded.
 */
#pragma once

#include "store/we-store.h"

G_BEGIN_DECLS

#define WE_API_TOKEN_PREFIX "we_"

/* TRUE when @token has our tokens' shape. */
gboolean    we_api_token_looks_like    (const gchar *token);
/* "sha256:<hex>" of @token. Returns: (transfer full) */
gchar      *we_api_token_digest        (const gchar *token);
/* A fresh token. Returns: (transfer full) */
gchar      *we_api_token_generate      (void);
/* Finds the token's identity in @store; blocks (call from a thread).
 * Errors: WE_ERROR_AUTH_UNAUTHORIZED (unknown or revoked),
 * WE_ERROR_AUTH_TOKEN_EXPIRED, WE_ERROR_SYS_DATABASE.
 * Returns: (transfer full) (nullable) */
WeIdentity *we_api_token_authenticate  (WeStore     *store,
                                        const gchar *token,
                                        GError     **error);

G_END_DECLS
