/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Compact JWS (RFC 7515) as OIDC access and ID tokens use it: parsing,
 * RS256/ES256 signature verification with GnuTLS, and the registered claim
 * checks (RFC 7519 §4.1). Only the two asymmetric algorithms are accepted:
 * "none" and the HMAC family are refused outright, so a public key can never
 * be used as an HMAC secret (the classic algorithm-confusion attack). Keys
 * come from the issuer's JWKS only, never from the token (jku/jwk/x5u are
 * ignored). Errors are WE_ERROR_AUTH_UNAUTHORIZED, or _TOKEN_EXPIRED when
 * only the expiry failed; messages never contain the token.
 */
#pragma once

#include <gnutls/abstract.h>
#include <json-glib/json-glib.h>
#include <webencode/we-error.h>

G_BEGIN_DECLS

/* Tokens longer than this are refused before any decoding. */
#define WE_JWT_MAX_LEN (16 * 1024)

typedef enum {
  WE_JWT_ALG_RS256 = 1,
  WE_JWT_ALG_ES256,
} WeJwtAlg;

/* One verification key (RFC 7517): an RSA key of at least 2048 bits or an
 * EC P-256 key. */
typedef struct {
  gchar           *kid;      /* nullable */
  gchar           *alg;      /* nullable: "RS256"/"ES256" when the JWK says */
  WeJwtAlg         kind;     /* the only algorithm this key can verify */
  gnutls_pubkey_t  pubkey;
} WeJwk;

void   we_jwk_free (WeJwk *key);

/* Builds a key from a JWK object. Returns NULL with @error for keys we cannot
 * or must not use (other kty/crv, "use" other than "sig", short RSA moduli,
 * malformed coordinates). */
WeJwk *we_jwk_from_json (JsonObject *jwk,
                         GError    **error);

typedef struct {
  WeJwtAlg    alg;
  gchar      *kid;          /* nullable */
  JsonObject *header;
  JsonObject *claims;
  gchar      *signing_input; /* "header.payload" as received */
  GBytes     *signature;
} WeJwt;

void   we_jwt_free  (WeJwt *jwt);

/* Splits and decodes @token (base64url without padding, JSON objects). */
WeJwt *we_jwt_parse (const gchar *token,
                     GError     **error);

/* TRUE when @key is of the token's algorithm (and names it, if it names one). */
gboolean we_jwt_key_matches (const WeJwt *jwt,
                             const WeJwk *key);

/* Checks the signature with @key (which must match, see above). */
gboolean we_jwt_verify (const WeJwt *jwt,
                        const WeJwk *key,
                        GError     **error);

/* iss equal to @issuer, @audience among aud (string or array), exp present
 * and not passed, nbf and iat not in the future, each with @leeway_s of clock
 * skew; sub must be a non-empty string. */
gboolean we_jwt_check_claims (const WeJwt *jwt,
                              const gchar *issuer,
                              const gchar *audience,
                              gint64       now_unix,
                              gint64       leeway_s,
                              GError     **error);

/* Claim helpers: NULL / 0 when absent or of another type. */
const gchar *we_jwt_get_string (const WeJwt *jwt,
                                const gchar *claim);
gint64       we_jwt_get_int    (const WeJwt *jwt,
                                const gchar *claim);
/* Follows a dotted path ("realm_access.roles") through nested objects.
 * Returns: (transfer none) (nullable) */
JsonNode    *we_jwt_get_path   (const WeJwt *jwt,
                                const gchar *path);

/* base64url without padding (RFC 7515 §2); strict: any other character,
 * padding or an impossible length fails. Returns: (transfer full) (nullable) */
guint8      *we_base64url_decode (const gchar *text,
                                  gsize        len,
                                  gsize       *out_len);
/* Returns: (transfer full) */
gchar       *we_base64url_encode (const guint8 *data,
                                  gsize         len);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeJwt, we_jwt_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeJwk, we_jwk_free)

G_END_DECLS
