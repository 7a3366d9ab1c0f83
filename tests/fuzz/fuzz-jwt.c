/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Bearer tokens and JWKS documents come from the network: the JWS parser,
 * the JWK importer and the verifier must survive anything. Inputs starting
 * with '{' are tried as a key set, everything else as a compact JWS checked
 * against a fixed key set (the corpus holds tokens it signed).
 */
#include <stdint.h>
#include <string.h>

#include "we-jwks.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static const gchar fixed_jwks[] =
  "{\"keys\":[{\"kty\":\"RSA\",\"n\":\"p2N1XMj3u0mdF6vg49YU85nVKXvs1xRO67EujYz_Po3T00K0IR4tEmkMUygFl4T"
  "QnYdvxYp-B3T2P0-3J6JxJmSWsS2k5zHgMSZHNRzxom4H5PSVC3RS0-oKHXgOJ0To2-m7a85dneZbIBTz1NhM4ENPY"
  "pkMCJnyfP027CUdVubcAli6dTdl_3VA65Itf22o3gzgMXPkeszHVLRW6X9dRw616Yv5vZ8R2yi0puz_0JGh0qv3Ego"
  "-rt5GznqDeiwu9EOMZfICDerJCexz8w69-9AmmA4azuZQUgqkzPn8tYgP4Ue8uoWfHjeIikJumRDWJh4ot1k741_4P"
  "hN7RlRmMw\",\"e\":\"AQAB\",\"kid\":\"fz-rsa\"},{\"kty\":\"EC\",\"x\":\"7PtKczG-monyJEHOV2jRXL_Gq-v8yAXqMKe"
  "x_aYmYkg\",\"y\":\"zVr0Iu3Y9ZFIkcH_XVNoKQlC-rl64YVNznfCUuPAq7c\",\"crv\":\"P-256\",\"kid\":\"fz-ec\"}]}";

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static WeJwks *jwks;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *text = NULL;

  if (jwks == NULL) {
    jwks = we_jwks_parse (fixed_jwks, strlen (fixed_jwks), NULL);
    g_assert (jwks != NULL && we_jwks_n_keys (jwks) == 2);
  }
  if (size > 0 && data[0] == '{') {
    g_autoptr(WeJwks) set = we_jwks_parse ((const gchar *) data, size, &error);
    g_assert ((set == NULL) == (error != NULL));
    return 0;
  }
  /* tokens arrive as C strings from the HTTP layer */
  text = g_strndup ((const gchar *) data, size);
  {
    g_autoptr(WeJwt) jwt = we_jwt_parse (text, &error);
    const WeJwk *key;

    if (jwt == NULL) {
      g_assert (error != NULL);
      return 0;
    }
    key = we_jwks_find (jwks, jwt);
    if (key != NULL && we_jwt_verify (jwt, key, &error))
      we_jwt_check_claims (jwt, "https://idp.fuzz", "urn:webencode", 1800000000, 30, &error);
    g_assert (error == NULL || error->domain == WE_ERROR);
    (void) we_jwt_get_path (jwt, "a.b.c");
  }
  return 0;
}
