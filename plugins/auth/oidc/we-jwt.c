/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "we-jwt.h"

#include <string.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <webencode/we-error.h>

/* P-256 coordinates and r/s halves of an ES256 signature */
#define P256_LEN     32
#define RSA_MIN_BITS 2048
/* also bounds what GnuTLS is asked to import */
#define RSA_MAX_BITS 8192

static gboolean
fail (GError **error, const gchar *message)
{
  g_set_error_literal (error, WE_ERROR, WE_ERROR_AUTH_UNAUTHORIZED, message);
  return FALSE;
}

static gint
b64url_value (gchar c)
{
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '-')
    return 62;
  if (c == '_')
    return 63;
  return -1;
}

guint8 *
we_base64url_decode (const gchar *text, gsize len, gsize *out_len)
{
  g_autofree guint8 *out = NULL;
  guint32 acc = 0;
  guint bits = 0;
  gsize n = 0;

  if (len % 4 == 1)
    return NULL;
  out = g_malloc (len * 3 / 4 + 1);
  for (gsize i = 0; i < len; i++) {
    gint v = b64url_value (text[i]);
    if (v < 0)
      return NULL;
    acc = (acc << 6) | (guint32) v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[n++] = (guint8) (acc >> bits);
    }
  }
  /* the leftover bits must be zero, or two texts would decode alike */
  if ((acc & ((1u << bits) - 1)) != 0)
    return NULL;
  *out_len = n;
  return g_steal_pointer (&out);
}

gchar *
we_base64url_encode (const guint8 *data, gsize len)
{
  gchar *text = g_base64_encode (data, len);
  gchar *w = text;

  for (gchar *r = text; *r != '\0'; r++) {
    if (*r == '=')
      continue;
    *w++ = *r == '+' ? '-' : *r == '/' ? '_' : *r;
  }
  *w = '\0';
  return text;
}

static JsonObject *
decode_json_object (const gchar *text, gsize len)
{
  g_autoptr(JsonParser) parser = json_parser_new_immutable ();
  g_autofree guint8 *raw = NULL;
  gsize raw_len = 0;
  JsonNode *root;

  raw = we_base64url_decode (text, len, &raw_len);
  if (raw == NULL || raw_len == 0 || !g_utf8_validate ((const gchar *) raw, raw_len, NULL) ||
      memchr (raw, '\0', raw_len) != NULL)
    return NULL;
  if (!json_parser_load_from_data (parser, (const gchar *) raw, (gssize) raw_len, NULL))
    return NULL;
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    return NULL;
  return json_object_ref (json_node_get_object (root));
}

static const gchar *
member_string (JsonObject *object, const gchar *name)
{
  JsonNode *node = json_object_get_member (object, name);

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) ||
      json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (node);
}

void
we_jwt_free (WeJwt *jwt)
{
  if (jwt == NULL)
    return;
  g_free (jwt->kid);
  g_clear_pointer (&jwt->header, json_object_unref);
  g_clear_pointer (&jwt->claims, json_object_unref);
  g_free (jwt->signing_input);
  g_clear_pointer (&jwt->signature, g_bytes_unref);
  g_free (jwt);
}

WeJwt *
we_jwt_parse (const gchar *token, GError **error)
{
  g_autoptr(WeJwt) jwt = g_new0 (WeJwt, 1);
  const gchar *dot1, *dot2;
  const gchar *alg;
  gsize len, sig_len = 0;
  guint8 *sig;

  if (token == NULL || (len = strnlen (token, WE_JWT_MAX_LEN + 1)) == 0) {
    fail (error, "no token");
    return NULL;
  }
  if (len > WE_JWT_MAX_LEN) {
    fail (error, "token too long");
    return NULL;
  }
  dot1 = memchr (token, '.', len);
  dot2 = dot1 ? memchr (dot1 + 1, '.', len - (dot1 + 1 - token)) : NULL;
  if (dot1 == NULL || dot2 == NULL || memchr (dot2 + 1, '.', len - (dot2 + 1 - token)) != NULL) {
    fail (error, "not a JWT (compact JWS has three parts)");
    return NULL;
  }
  jwt->header = decode_json_object (token, dot1 - token);
  if (jwt->header == NULL) {
    fail (error, "malformed JWT header");
    return NULL;
  }
  alg = member_string (jwt->header, "alg");
  if (alg == NULL) {
    fail (error, "JWT header names no algorithm");
    return NULL;
  }
  /* An exact match: "none", "None", HS256 and the rest never get further. */
  if (g_str_equal (alg, "RS256")) {
    jwt->alg = WE_JWT_ALG_RS256;
  } else if (g_str_equal (alg, "ES256")) {
    jwt->alg = WE_JWT_ALG_ES256;
  } else {
    fail (error, "JWT algorithm not accepted (only RS256 and ES256 are)");
    return NULL;
  }
  /* RFC 7515 §4.1.11: extensions we do not understand must be refused */
  if (json_object_has_member (jwt->header, "crit")) {
    fail (error, "JWT header has critical extensions");
    return NULL;
  }
  if (json_object_has_member (jwt->header, "kid")) {
    const gchar *kid = member_string (jwt->header, "kid");
    if (kid == NULL || strlen (kid) > 256) {
      fail (error, "malformed JWT key id");
      return NULL;
    }
    jwt->kid = g_strdup (kid);
  }
  jwt->claims = decode_json_object (dot1 + 1, dot2 - dot1 - 1);
  if (jwt->claims == NULL) {
    fail (error, "malformed JWT payload");
    return NULL;
  }
  sig = we_base64url_decode (dot2 + 1, len - (dot2 + 1 - token), &sig_len);
  if (sig == NULL || sig_len == 0) {
    g_free (sig);
    fail (error, "malformed JWT signature");
    return NULL;
  }
  jwt->signature = g_bytes_new_take (sig, sig_len);
  jwt->signing_input = g_strndup (token, dot2 - token);
  return g_steal_pointer (&jwt);
}

/* ---- keys ---- */

void
we_jwk_free (WeJwk *key)
{
  if (key == NULL)
    return;
  g_free (key->kid);
  g_free (key->alg);
  if (key->pubkey != NULL)
    gnutls_pubkey_deinit (key->pubkey);
  g_free (key);
}

static gboolean
key_error (GError **error, const gchar *kid, const gchar *message)
{
  g_set_error (error, WE_ERROR, WE_ERROR_AUTH_UNAUTHORIZED, "JWK %s: %s",
               kid ? kid : "(no kid)", message);
  return FALSE;
}

static guint8 *
member_b64 (JsonObject *jwk, const gchar *name, gsize *len)
{
  const gchar *text = member_string (jwk, name);

  if (text == NULL || strlen (text) > 4096)
    return NULL;
  return we_base64url_decode (text, strlen (text), len);
}

WeJwk *
we_jwk_from_json (JsonObject *jwk, GError **error)
{
  g_autoptr(WeJwk) key = g_new0 (WeJwk, 1);
  const gchar *kty = member_string (jwk, "kty");
  const gchar *use = member_string (jwk, "use");
  const gchar *alg = member_string (jwk, "alg");
  int rc;

  key->kid = g_strdup (member_string (jwk, "kid"));
  if (kty == NULL) {
    key_error (error, key->kid, "no kty");
    return NULL;
  }
  if (use != NULL && !g_str_equal (use, "sig")) {
    key_error (error, key->kid, "not a signing key");
    return NULL;
  }
  if (gnutls_pubkey_init (&key->pubkey) < 0) {
    key_error (error, key->kid, "out of memory");
    return NULL;
  }

  if (g_str_equal (kty, "RSA")) {
    g_autofree guint8 *n = NULL, *e = NULL;
    gsize n_len = 0, e_len = 0, off = 0;
    gnutls_datum_t dn, de;

    n = member_b64 (jwk, "n", &n_len);
    e = member_b64 (jwk, "e", &e_len);
    if (n == NULL || e == NULL || e_len == 0 || e_len > 8) {
      key_error (error, key->kid, "malformed RSA key");
      return NULL;
    }
    while (off < n_len && n[off] == 0)
      off++;
    if ((n_len - off) * 8 < RSA_MIN_BITS || (n_len - off) * 8 > RSA_MAX_BITS) {
      key_error (error, key->kid, "RSA modulus must have 2048 to 8192 bits");
      return NULL;
    }
    dn.data = n + off;
    dn.size = (unsigned) (n_len - off);
    de.data = e;
    de.size = (unsigned) e_len;
    rc = gnutls_pubkey_import_rsa_raw (key->pubkey, &dn, &de);
    key->kind = WE_JWT_ALG_RS256;
  } else if (g_str_equal (kty, "EC")) {
    g_autofree guint8 *x = NULL, *y = NULL;
    gsize x_len = 0, y_len = 0;
    gnutls_datum_t dx, dy;

    if (g_strcmp0 (member_string (jwk, "crv"), "P-256") != 0) {
      key_error (error, key->kid, "only the P-256 curve is supported");
      return NULL;
    }
    x = member_b64 (jwk, "x", &x_len);
    y = member_b64 (jwk, "y", &y_len);
    if (x == NULL || y == NULL || x_len != P256_LEN || y_len != P256_LEN) {
      key_error (error, key->kid, "malformed P-256 coordinates");
      return NULL;
    }
    dx.data = x;
    dx.size = P256_LEN;
    dy.data = y;
    dy.size = P256_LEN;
    rc = gnutls_pubkey_import_ecc_raw (key->pubkey, GNUTLS_ECC_CURVE_SECP256R1, &dx, &dy);
    key->kind = WE_JWT_ALG_ES256;
  } else {
    key_error (error, key->kid, "unsupported key type");
    return NULL;
  }
  if (rc < 0) {
    key_error (error, key->kid, gnutls_strerror (rc));
    return NULL;
  }
  if (alg != NULL) {
    if ((key->kind == WE_JWT_ALG_RS256 && !g_str_equal (alg, "RS256")) ||
        (key->kind == WE_JWT_ALG_ES256 && !g_str_equal (alg, "ES256"))) {
      key_error (error, key->kid, "algorithm not supported for this key");
      return NULL;
    }
    key->alg = g_strdup (alg);
  }
  return g_steal_pointer (&key);
}

gboolean
we_jwt_key_matches (const WeJwt *jwt, const WeJwk *key)
{
  return jwt->alg == key->kind;
}

/* JWS carries ECDSA signatures as fixed-size r||s (RFC 7518 §3.4);
 * GnuTLS verifies the DER SEQUENCE of two INTEGERs. */
static gboolean
es256_to_der (GBytes *raw, gnutls_datum_t *der)
{
  gsize len = 0;
  const guint8 *data = g_bytes_get_data (raw, &len);
  gnutls_datum_t r, s;

  if (len != 2 * P256_LEN)
    return FALSE;
  r.data = (guint8 *) data;
  r.size = P256_LEN;
  s.data = (guint8 *) data + P256_LEN;
  s.size = P256_LEN;
  return gnutls_encode_rs_value (der, &r, &s) >= 0;
}

gboolean
we_jwt_verify (const WeJwt *jwt, const WeJwk *key, GError **error)
{
  gnutls_datum_t data, sig;
  gnutls_datum_t der = { NULL, 0 };
  gsize sig_len = 0;
  int rc;

  if (!we_jwt_key_matches (jwt, key))
    return fail (error, "JWT algorithm does not match the key");
  data.data = (guint8 *) jwt->signing_input;
  data.size = (unsigned) strlen (jwt->signing_input);
  if (jwt->alg == WE_JWT_ALG_ES256) {
    if (!es256_to_der (jwt->signature, &der))
      return fail (error, "malformed ES256 signature");
    rc = gnutls_pubkey_verify_data2 (key->pubkey, GNUTLS_SIGN_ECDSA_SHA256, 0, &data, &der);
    gnutls_free (der.data);
  } else {
    sig.data = (guint8 *) g_bytes_get_data (jwt->signature, &sig_len);
    sig.size = (unsigned) sig_len;
    rc = gnutls_pubkey_verify_data2 (key->pubkey, GNUTLS_SIGN_RSA_SHA256, 0, &data, &sig);
  }
  if (rc < 0)
    return fail (error, "JWT signature does not verify");
  return TRUE;
}

/* ---- claims ---- */

static gboolean
member_int (JsonObject *object, const gchar *name, gint64 *out)
{
  JsonNode *node = json_object_get_member (object, name);
  GType type;

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node))
    return FALSE;
  type = json_node_get_value_type (node);
  if (type == G_TYPE_INT64) {
    *out = json_node_get_int (node);
    return TRUE;
  }
  if (type == G_TYPE_DOUBLE) {
    gdouble d = json_node_get_double (node);
    if (d != d || d < -9e15 || d > 9e15)
      return FALSE;
    *out = (gint64) d;
    return TRUE;
  }
  return FALSE;
}

static gboolean
audience_matches (JsonObject *claims, const gchar *audience)
{
  JsonNode *aud = json_object_get_member (claims, "aud");

  if (aud == NULL)
    return FALSE;
  if (JSON_NODE_HOLDS_VALUE (aud))
    return json_node_get_value_type (aud) == G_TYPE_STRING &&
           g_strcmp0 (json_node_get_string (aud), audience) == 0;
  if (JSON_NODE_HOLDS_ARRAY (aud)) {
    JsonArray *array = json_node_get_array (aud);
    for (guint i = 0; i < json_array_get_length (array); i++) {
      JsonNode *el = json_array_get_element (array, i);
      if (JSON_NODE_HOLDS_VALUE (el) && json_node_get_value_type (el) == G_TYPE_STRING &&
          g_strcmp0 (json_node_get_string (el), audience) == 0)
        return TRUE;
    }
  }
  return FALSE;
}

gboolean
we_jwt_check_claims (const WeJwt *jwt, const gchar *issuer, const gchar *audience,
                     gint64 now_unix, gint64 leeway_s, GError **error)
{
  const gchar *sub;
  gint64 exp, t;

  if (g_strcmp0 (member_string (jwt->claims, "iss"), issuer) != 0)
    return fail (error, "JWT from another issuer");
  if (audience != NULL && !audience_matches (jwt->claims, audience))
    return fail (error, "JWT is for another audience");
  sub = member_string (jwt->claims, "sub");
  if (sub == NULL || sub[0] == '\0' || strlen (sub) > 255)
    return fail (error, "JWT has no valid subject");
  if (!member_int (jwt->claims, "exp", &exp))
    return fail (error, "JWT has no expiry");
  if (json_object_has_member (jwt->claims, "nbf")) {
    if (!member_int (jwt->claims, "nbf", &t))
      return fail (error, "malformed JWT nbf");
    if (t > now_unix + leeway_s)
      return fail (error, "JWT not valid yet");
  }
  if (json_object_has_member (jwt->claims, "iat")) {
    if (!member_int (jwt->claims, "iat", &t))
      return fail (error, "malformed JWT iat");
    if (t > now_unix + leeway_s)
      return fail (error, "JWT issued in the future");
  }
  if (exp + leeway_s < now_unix) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_AUTH_TOKEN_EXPIRED, "JWT has expired");
    return FALSE;
  }
  return TRUE;
}

const gchar *
we_jwt_get_string (const WeJwt *jwt, const gchar *claim)
{
  return member_string (jwt->claims, claim);
}

gint64
we_jwt_get_int (const WeJwt *jwt, const gchar *claim)
{
  gint64 v = 0;

  return member_int (jwt->claims, claim, &v) ? v : 0;
}

JsonNode *
we_jwt_get_path (const WeJwt *jwt, const gchar *path)
{
  g_auto(GStrv) parts = g_strsplit (path, ".", 8);
  JsonObject *object = jwt->claims;
  JsonNode *node = NULL;

  for (guint i = 0; parts[i] != NULL; i++) {
    if (object == NULL)
      return NULL;
    node = json_object_get_member (object, parts[i]);
    if (node == NULL)
      return NULL;
    object = JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
  }
  return node;
}
