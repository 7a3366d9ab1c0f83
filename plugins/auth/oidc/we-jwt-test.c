/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * JWS parsing and verification against keys made here with GnuTLS (RSA 2048
 * and ECDSA P-256), signed here too, so every check below sees real
 * signatures: tampering, algorithm confusion, expiry, nbf and audiences.
 */
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <string.h>
#include <webencode/we-error.h>

#include "we-jwks.h"
#include "we-jwt.h"

#define ISS "https://idp.example.test"
#define AUD "urn:webencode"

typedef struct {
  gnutls_privkey_t priv;
  gchar           *jwk;   /* JSON text of the public JWK */
  gboolean         ec;
} TestKey;

static gchar *
b64 (const gnutls_datum_t *d)
{
  return we_base64url_encode (d->data, d->size);
}

/* P-256 values as exactly 32 big-endian bytes */
static void
fixed32 (const gnutls_datum_t *d, guint8 out[32])
{
  const guint8 *p = d->data;
  gsize n = d->size;

  while (n > 32 && *p == 0) {
    p++;
    n--;
  }
  g_assert_cmpuint (n, <=, 32);
  memset (out, 0, 32);
  memcpy (out + 32 - n, p, n);
}

static TestKey *
test_key_new (gboolean ec, const gchar *kid, guint rsa_bits, const gchar *extra)
{
  TestKey *k = g_new0 (TestKey, 1);
  gnutls_pubkey_t pub;

  k->ec = ec;
  g_assert_cmpint (gnutls_privkey_init (&k->priv), ==, 0);
  g_assert_cmpint (gnutls_pubkey_init (&pub), ==, 0);
  if (ec) {
    gnutls_datum_t x, y;
    gnutls_ecc_curve_t curve;
    guint8 fx[32], fy[32];
    g_autofree gchar *bx = NULL, *by = NULL;

    g_assert_cmpint (gnutls_privkey_generate (k->priv, GNUTLS_PK_ECDSA,
                                              GNUTLS_CURVE_TO_BITS (GNUTLS_ECC_CURVE_SECP256R1),
                                              0), ==, 0);
    g_assert_cmpint (gnutls_pubkey_import_privkey (pub, k->priv, 0, 0), ==, 0);
    g_assert_cmpint (gnutls_pubkey_export_ecc_raw2 (pub, &curve, &x, &y, 0), ==, 0);
    fixed32 (&x, fx);
    fixed32 (&y, fy);
    bx = we_base64url_encode (fx, 32);
    by = we_base64url_encode (fy, 32);
    k->jwk = g_strdup_printf ("{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"%s\",\"x\":\"%s\","
                              "\"y\":\"%s\"%s}", kid, bx, by, extra ? extra : "");
    gnutls_free (x.data);
    gnutls_free (y.data);
  } else {
    gnutls_datum_t m, e;
    g_autofree gchar *bm = NULL, *be = NULL;

    g_assert_cmpint (gnutls_privkey_generate (k->priv, GNUTLS_PK_RSA, rsa_bits, 0), ==, 0);
    g_assert_cmpint (gnutls_pubkey_import_privkey (pub, k->priv, 0, 0), ==, 0);
    g_assert_cmpint (gnutls_pubkey_export_rsa_raw2 (pub, &m, &e, GNUTLS_EXPORT_FLAG_NO_LZ), ==,
                     0);
    bm = b64 (&m);
    be = b64 (&e);
    k->jwk = g_strdup_printf ("{\"kty\":\"RSA\",\"kid\":\"%s\",\"n\":\"%s\",\"e\":\"%s\"%s}", kid,
                              bm, be, extra ? extra : "");
    gnutls_free (m.data);
    gnutls_free (e.data);
  }
  gnutls_pubkey_deinit (pub);
  return k;
}

static void
test_key_free (TestKey *k)
{
  gnutls_privkey_deinit (k->priv);
  g_free (k->jwk);
  g_free (k);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TestKey, test_key_free)

static gchar *
encode_json (const gchar *json)
{
  return we_base64url_encode ((const guint8 *) json, strlen (json));
}

/* Signs header.payload with @k as its algorithm would. */
static gchar *
sign_token (TestKey *k, const gchar *header, const gchar *payload)
{
  g_autofree gchar *h = encode_json (header);
  g_autofree gchar *p = encode_json (payload);
  g_autofree gchar *input = g_strconcat (h, ".", p, NULL);
  g_autofree gchar *s = NULL;
  gnutls_datum_t data = { (guint8 *) input, (unsigned) strlen (input) };
  gnutls_datum_t sig;

  if (k->ec) {
    gnutls_datum_t r, ss;
    guint8 raw[64];

    g_assert_cmpint (gnutls_privkey_sign_data2 (k->priv, GNUTLS_SIGN_ECDSA_SHA256, 0, &data,
                                                &sig), ==, 0);
    g_assert_cmpint (gnutls_decode_rs_value (&sig, &r, &ss), ==, 0);
    fixed32 (&r, raw);
    fixed32 (&ss, raw + 32);
    s = we_base64url_encode (raw, 64);
    gnutls_free (r.data);
    gnutls_free (ss.data);
  } else {
    g_assert_cmpint (gnutls_privkey_sign_data2 (k->priv, GNUTLS_SIGN_RSA_SHA256, 0, &data, &sig),
                     ==, 0);
    s = b64 (&sig);
  }
  gnutls_free (sig.data);
  return g_strconcat (input, ".", s, NULL);
}

static gchar *
claims (gint64 exp_delta, const gchar *aud_json, const gchar *extra)
{
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;

  return g_strdup_printf ("{\"iss\":\"" ISS "\",\"sub\":\"alice\",\"aud\":%s,\"iat\":%" G_GINT64_FORMAT
                          ",\"exp\":%" G_GINT64_FORMAT "%s}",
                          aud_json, now, now + exp_delta, extra ? extra : "");
}

static WeJwks *
jwks_of (TestKey *a, TestKey *b)
{
  g_autofree gchar *json = g_strdup_printf ("{\"keys\":[%s%s%s]}", a->jwk, b ? "," : "",
                                            b ? b->jwk : "");
  g_autoptr(GError) error = NULL;
  WeJwks *jwks = we_jwks_parse (json, strlen (json), &error);

  g_assert_no_error (error);
  return jwks;
}

/* Full check like the module does; returns the error code or -1 when valid. */
static gint
check (WeJwks *jwks, const gchar *token)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(WeJwt) jwt = we_jwt_parse (token, &error);
  const WeJwk *key;
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;

  if (jwt == NULL)
    return error->code;
  key = we_jwks_find (jwks, jwt);
  if (key == NULL)
    return WE_ERROR_AUTH_UNAUTHORIZED;
  if (!we_jwt_verify (jwt, key, &error) ||
      !we_jwt_check_claims (jwt, ISS, AUD, now, 30, &error)) {
    g_assert_true (error->domain == WE_ERROR);
    return error->code;
  }
  g_assert_no_error (error);
  return -1;
}

static TestKey *rsa_key, *ec_key;

static void
test_base64url (void)
{
  gsize len = 0;
  g_autofree guint8 *a = we_base64url_decode ("aGVsbG8", 7, &len);
  g_autofree gchar *enc = we_base64url_encode ((const guint8 *) "\xfb\xff", 2);

  g_assert_nonnull (a);
  g_assert_cmpmem (a, len, "hello", 5);
  g_assert_cmpstr (enc, ==, "-_8");
  g_assert_null (we_base64url_decode ("aGVsbG8=", 8, &len));
  g_assert_null (we_base64url_decode ("+/8", 3, &len));
  g_assert_null (we_base64url_decode ("a", 1, &len));
  /* non-zero leftover bits: "-_9" would decode to the same bytes as "-_8" */
  g_assert_null (we_base64url_decode ("-_9", 3, &len));
}

static void
test_valid (void)
{
  g_autoptr(WeJwks) jwks = jwks_of (rsa_key, ec_key);
  g_autofree gchar *c = claims (300, "\"" AUD "\"", ",\"roles\":[\"a\",\"b\"],\"x\":{\"y\":\"z\"}");

  for (guint i = 0; i < 24; i++) {
    /* many ES256 signatures: r and s with and without their top bit set */
    g_autofree gchar *t = sign_token (i % 2 ? ec_key : rsa_key,
                                      i % 2 ? "{\"alg\":\"ES256\",\"kid\":\"ec1\"}"
                                            : "{\"alg\":\"RS256\",\"kid\":\"rsa1\",\"typ\":\"JWT\"}",
                                      c);
    g_assert_cmpint (check (jwks, t), ==, -1);
  }
  {
    g_autofree gchar *t = sign_token (rsa_key, "{\"alg\":\"RS256\",\"kid\":\"rsa1\"}", c);
    g_autoptr(WeJwt) jwt = we_jwt_parse (t, NULL);
    JsonNode *n;

    g_assert_cmpstr (we_jwt_get_string (jwt, "sub"), ==, "alice");
    n = we_jwt_get_path (jwt, "x.y");
    g_assert_cmpstr (json_node_get_string (n), ==, "z");
    g_assert_null (we_jwt_get_path (jwt, "x.y.z"));
    g_assert_true (JSON_NODE_HOLDS_ARRAY (we_jwt_get_path (jwt, "roles")));
  }
}

static void
test_tampered (void)
{
  g_autoptr(WeJwks) jwks = jwks_of (rsa_key, ec_key);
  g_autofree gchar *c = claims (300, "\"" AUD "\"", NULL);
  g_autofree gchar *admin = claims (300, "\"" AUD "\"", ",\"roles\":[\"admin\"]");
  const gchar *headers[] = { "{\"alg\":\"RS256\",\"kid\":\"rsa1\"}",
                             "{\"alg\":\"ES256\",\"kid\":\"ec1\"}" };

  for (guint i = 0; i < 2; i++) {
    TestKey *k = i ? ec_key : rsa_key;
    g_autofree gchar *good = sign_token (k, headers[i], c);
    g_autofree gchar *other = sign_token (k, headers[i], admin);
    g_auto(GStrv) gp = g_strsplit (good, ".", 3);
    g_auto(GStrv) op = g_strsplit (other, ".", 3);
    /* payload of one token, signature of another */
    g_autofree gchar *spliced = g_strjoin (".", gp[0], op[1], gp[2], NULL);
    g_autofree gchar *flipped = g_strdup (good);
    gsize at = strlen (flipped) - 5;

    g_assert_cmpint (check (jwks, good), ==, -1);
    g_assert_cmpint (check (jwks, spliced), ==, WE_ERROR_AUTH_UNAUTHORIZED);
    flipped[at] = flipped[at] == 'A' ? 'B' : 'A';
    g_assert_cmpint (check (jwks, flipped), ==, WE_ERROR_AUTH_UNAUTHORIZED);
    /* a truncated signature */
    flipped[at] = '\0';
    g_assert_cmpint (check (jwks, flipped), ==, WE_ERROR_AUTH_UNAUTHORIZED);
  }
  g_assert_cmpint (check (jwks, "a.b"), ==, WE_ERROR_AUTH_UNAUTHORIZED);
  g_assert_cmpint (check (jwks, "a.b.c.d"), ==, WE_ERROR_AUTH_UNAUTHORIZED);
  g_assert_cmpint (check (jwks, ""), ==, WE_ERROR_AUTH_UNAUTHORIZED);
}

static void
test_alg_confusion (void)
{
  g_autoptr(WeJwks) jwks = jwks_of (rsa_key, ec_key);
  g_autofree gchar *c = claims (300, "\"" AUD "\"", NULL);
  g_autofree gchar *p = encode_json (c);
  const gchar *bad_algs[] = { "none", "None", "HS256", "HS384", "HS512", "RS384", "PS256",
                              "ES384", "EdDSA", "" };

  for (guint i = 0; i < G_N_ELEMENTS (bad_algs); i++) {
    g_autofree gchar *header = g_strdup_printf ("{\"alg\":\"%s\",\"kid\":\"rsa1\"}", bad_algs[i]);
    g_autofree gchar *h = encode_json (header);
    g_autofree gchar *input = g_strconcat (h, ".", p, NULL);
    g_autofree gchar *mac = NULL;
    g_autofree gchar *token = NULL;
    g_autoptr(GHmac) hmac = NULL;
    guint8 digest[32];
    gsize len = sizeof digest;

    /* the HMAC "secret" an attacker would use: the public key's JSON */
    hmac = g_hmac_new (G_CHECKSUM_SHA256, (const guchar *) rsa_key->jwk, strlen (rsa_key->jwk));
    g_hmac_update (hmac, (const guchar *) input, -1);
    g_hmac_get_digest (hmac, digest, &len);
    mac = we_base64url_encode (digest, len);
    token = g_strconcat (input, ".", mac, NULL);
    g_assert_cmpint (check (jwks, token), ==, WE_ERROR_AUTH_UNAUTHORIZED);
    /* and with an empty signature, as "none" has */
    g_free (token);
    token = g_strconcat (input, ".", NULL);
    g_assert_cmpint (check (jwks, token), ==, WE_ERROR_AUTH_UNAUTHORIZED);
  }
  {
    /* ES256 header naming the RSA key's kid, signed by the EC key: the kid
     * must not lend its key to another algorithm, nor the EC key answer */
    g_autofree gchar *t = sign_token (ec_key, "{\"alg\":\"ES256\",\"kid\":\"rsa1\"}", c);
    g_autoptr(WeJwt) jwt = we_jwt_parse (t, NULL);
    const WeJwk *rsa;

    g_assert_nonnull (jwt);
    g_assert_null (we_jwks_find (jwks, jwt));
    g_assert_cmpint (check (jwks, t), ==, WE_ERROR_AUTH_UNAUTHORIZED);
    /* and verify() itself refuses a key of the other type */
    {
      g_autofree gchar *rt = sign_token (rsa_key, "{\"alg\":\"RS256\",\"kid\":\"rsa1\"}", c);
      g_autoptr(WeJwt) rjwt = we_jwt_parse (rt, NULL);
      g_autoptr(GError) error = NULL;
      rsa = we_jwks_find (jwks, rjwt);
      g_assert_nonnull (rsa);
      g_assert_false (we_jwt_verify (jwt, rsa, &error));
      g_assert_error (error, WE_ERROR, WE_ERROR_AUTH_UNAUTHORIZED);
    }
  }
  {
    /* crit extensions are refused */
    g_autofree gchar *t = sign_token (rsa_key,
                                      "{\"alg\":\"RS256\",\"kid\":\"rsa1\",\"crit\":[\"b64\"]}", c);
    g_assert_cmpint (check (jwks, t), ==, WE_ERROR_AUTH_UNAUTHORIZED);
  }
  {
    /* a JWK claiming another alg for its key is not used */
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonParser) parser = json_parser_new ();
    g_autofree gchar *json = g_strdup (rsa_key->jwk);
    g_autoptr(WeJwk) key = NULL;

    json[strlen (json) - 1] = '\0';
    {
      g_autofree gchar *with_alg = g_strconcat (json, ",\"alg\":\"HS256\"}", NULL);
      g_assert_true (json_parser_load_from_data (parser, with_alg, -1, NULL));
      key = we_jwk_from_json (json_node_get_object (json_parser_get_root (parser)), &error);
      g_assert_null (key);
      g_assert_nonnull (error);
    }
  }
}

static void
test_claims (void)
{
  g_autoptr(WeJwks) jwks = jwks_of (rsa_key, ec_key);
  const gchar *h = "{\"alg\":\"RS256\",\"kid\":\"rsa1\"}";
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  struct {
    gint64 exp_delta;
    const gchar *aud;
    const gchar *extra;
    gint expect;
  } cases[] = {
    { 300, "\"" AUD "\"", NULL, -1 },
    { 300, "[\"other\",\"" AUD "\"]", NULL, -1 },
    { 300, "\"other\"", NULL, WE_ERROR_AUTH_UNAUTHORIZED },
    { 300, "[\"other\",\"more\"]", NULL, WE_ERROR_AUTH_UNAUTHORIZED },
    { 300, "[]", NULL, WE_ERROR_AUTH_UNAUTHORIZED },
    { 300, "7", NULL, WE_ERROR_AUTH_UNAUTHORIZED },
    { -100, "\"" AUD "\"", NULL, WE_ERROR_AUTH_TOKEN_EXPIRED },
    { -10, "\"" AUD "\"", NULL, -1 },  /* within the 30 s leeway */
    { 300, "\"" AUD "\"", ",\"nbf\":99999999999", WE_ERROR_AUTH_UNAUTHORIZED },
    { 300, "\"" AUD "\"", ",\"nbf\":\"soon\"", WE_ERROR_AUTH_UNAUTHORIZED },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autofree gchar *c = claims (cases[i].exp_delta, cases[i].aud, cases[i].extra);
    g_autofree gchar *t = sign_token (rsa_key, h, c);
    g_assert_cmpint (check (jwks, t), ==, cases[i].expect);
  }
  {
    /* another issuer, no sub, no exp, iat in the future */
    const gchar *payloads[] = {
      "{\"iss\":\"https://evil.test\",\"sub\":\"a\",\"aud\":\"" AUD "\",\"exp\":EXP}",
      "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"exp\":EXP}",
      "{\"iss\":\"" ISS "\",\"sub\":\"a\",\"aud\":\"" AUD "\",\"nexp\":EXP}",
      "{\"iss\":\"" ISS "\",\"sub\":\"a\",\"aud\":\"" AUD "\",\"exp\":EXP,\"iat\":99999999999}",
    };
    for (guint i = 0; i < G_N_ELEMENTS (payloads); i++) {
      g_auto(GStrv) parts = g_strsplit (payloads[i], "EXP", 2);
      g_autofree gchar *exp = g_strdup_printf ("%" G_GINT64_FORMAT, now + 300);
      g_autofree gchar *c = g_strjoinv (exp, parts);
      g_autofree gchar *t = sign_token (rsa_key, h, c);
      g_assert_cmpint (check (jwks, t), ==, WE_ERROR_AUTH_UNAUTHORIZED);
    }
  }
}

static void
test_jwks (void)
{
  g_autoptr(TestKey) small = test_key_new (FALSE, "small", 1024, NULL);
  g_autoptr(TestKey) enc = test_key_new (FALSE, "enc", 2048, ",\"use\":\"enc\"");
  g_autoptr(TestKey) rsa2 = test_key_new (FALSE, "rsa2", 2048, ",\"alg\":\"RS256\",\"use\":\"sig\"");
  g_autofree gchar *json = g_strdup_printf (
      "{\"keys\":[%s,%s,%s,{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"AAAA\"},"
      "{\"kty\":\"EC\",\"crv\":\"P-384\",\"x\":\"AAAA\",\"y\":\"AAAA\"},"
      "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AAAA\",\"y\":\"AAAA\"},7,%s]}",
      small->jwk, enc->jwk, rsa2->jwk, ec_key->jwk);
  g_autoptr(GError) error = NULL;
  g_autoptr(WeJwks) jwks = we_jwks_parse (json, strlen (json), &error);
  g_autofree gchar *c = claims (300, "\"" AUD "\"", NULL);

  g_assert_no_error (error);
  g_assert_cmpuint (we_jwks_n_keys (jwks), ==, 2);
  {
    g_autofree gchar *t = sign_token (rsa2, "{\"alg\":\"RS256\",\"kid\":\"rsa2\"}", c);
    g_autofree gchar *ts = sign_token (small, "{\"alg\":\"RS256\",\"kid\":\"small\"}", c);
    g_autofree gchar *te = sign_token (enc, "{\"alg\":\"RS256\",\"kid\":\"enc\"}", c);
    g_autofree gchar *nokid = sign_token (rsa2, "{\"alg\":\"RS256\"}", c);
    g_autofree gchar *nokid_ec = sign_token (ec_key, "{\"alg\":\"ES256\"}", c);
    g_autofree gchar *unknown = sign_token (rsa2, "{\"alg\":\"RS256\",\"kid\":\"gone\"}", c);

    g_assert_cmpint (check (jwks, t), ==, -1);
    g_assert_cmpint (check (jwks, ts), ==, WE_ERROR_AUTH_UNAUTHORIZED);
    g_assert_cmpint (check (jwks, te), ==, WE_ERROR_AUTH_UNAUTHORIZED);
    /* without a kid, the only key of the algorithm */
    g_assert_cmpint (check (jwks, nokid), ==, -1);
    g_assert_cmpint (check (jwks, nokid_ec), ==, -1);
    g_assert_cmpint (check (jwks, unknown), ==, WE_ERROR_AUTH_UNAUTHORIZED);
  }
  {
    /* two RSA keys and a token without kid: ambiguous, refused */
    g_autoptr(WeJwks) two = jwks_of (rsa_key, rsa2);
    g_autofree gchar *nokid = sign_token (rsa2, "{\"alg\":\"RS256\"}", c);
    g_assert_cmpint (check (two, nokid), ==, WE_ERROR_AUTH_UNAUTHORIZED);
  }
  g_assert_null (we_jwks_parse ("[]", 2, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_AUTH_PROVIDER_UNAVAILABLE);
  g_clear_error (&error);
  g_assert_null (we_jwks_parse ("{\"keys\":{}}", 11, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_AUTH_PROVIDER_UNAVAILABLE);
}

int
main (int argc, char **argv)
{
  int rc;

  g_test_init (&argc, &argv, NULL);
  g_assert_cmpint (gnutls_global_init (), ==, 0);
  rsa_key = test_key_new (FALSE, "rsa1", 2048, NULL);
  ec_key = test_key_new (TRUE, "ec1", 0, NULL);
  g_test_add_func ("/jwt/base64url", test_base64url);
  g_test_add_func ("/jwt/valid", test_valid);
  g_test_add_func ("/jwt/tampered", test_tampered);
  g_test_add_func ("/jwt/alg-confusion", test_alg_confusion);
  g_test_add_func ("/jwt/claims", test_claims);
  g_test_add_func ("/jwt/jwks", test_jwks);
  rc = g_test_run ();
  test_key_free (rsa_key);
  test_key_free (ec_key);
  gnutls_global_deinit ();
  return rc;
}
