/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "we-jwks.h"

#include <webencode/we-error.h>

struct _WeJwks {
  gint       ref_count;
  GPtrArray *keys;  /* (element-type WeJwk) */
};

WeJwks *
we_jwks_parse (const gchar *json, gsize len, GError **error)
{
  g_autoptr(JsonParser) parser = json_parser_new_immutable ();
  g_autoptr(WeJwks) jwks = NULL;
  JsonNode *root, *keys;
  JsonArray *array;

  if (len > WE_JWKS_MAX_BYTES) {
    g_set_error (error, WE_ERROR, WE_ERROR_AUTH_PROVIDER_UNAVAILABLE,
                 "JWKS larger than %d bytes", WE_JWKS_MAX_BYTES);
    return NULL;
  }
  if (!g_utf8_validate (json, (gssize) len, NULL) ||
      !json_parser_load_from_data (parser, json, (gssize) len, NULL) ||
      (root = json_parser_get_root (parser)) == NULL || !JSON_NODE_HOLDS_OBJECT (root) ||
      (keys = json_object_get_member (json_node_get_object (root), "keys")) == NULL ||
      !JSON_NODE_HOLDS_ARRAY (keys)) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_AUTH_PROVIDER_UNAVAILABLE,
                         "the issuer's JWKS is not a JSON key set");
    return NULL;
  }
  jwks = g_new0 (WeJwks, 1);
  jwks->ref_count = 1;
  jwks->keys = g_ptr_array_new_with_free_func ((GDestroyNotify) we_jwk_free);
  array = json_node_get_array (keys);
  for (guint i = 0; i < json_array_get_length (array); i++) {
    JsonNode *el = json_array_get_element (array, i);
    g_autoptr(GError) local = NULL;
    WeJwk *key;

    if (jwks->keys->len >= WE_JWKS_MAX_KEYS) {
      g_warning ("the issuer's JWKS holds more than %d usable keys; the rest are ignored",
                 WE_JWKS_MAX_KEYS);
      break;
    }
    if (!JSON_NODE_HOLDS_OBJECT (el))
      continue;
    key = we_jwk_from_json (json_node_get_object (el), &local);
    if (key == NULL) {
      g_debug ("skipping a key of the JWKS: %s", local->message);
      continue;
    }
    g_ptr_array_add (jwks->keys, key);
  }
  return g_steal_pointer (&jwks);
}

WeJwks *
we_jwks_ref (WeJwks *jwks)
{
  g_atomic_int_inc (&jwks->ref_count);
  return jwks;
}

void
we_jwks_unref (WeJwks *jwks)
{
  if (jwks == NULL || !g_atomic_int_dec_and_test (&jwks->ref_count))
    return;
  g_ptr_array_unref (jwks->keys);
  g_free (jwks);
}

guint
we_jwks_n_keys (WeJwks *jwks)
{
  return jwks->keys->len;
}

const WeJwk *
we_jwks_find (WeJwks *jwks, const WeJwt *jwt)
{
  const WeJwk *found = NULL;

  for (guint i = 0; i < jwks->keys->len; i++) {
    const WeJwk *key = g_ptr_array_index (jwks->keys, i);

    if (jwt->kid != NULL) {
      /* kid and algorithm must both agree: a kid never lends its key to
       * another algorithm */
      if (g_strcmp0 (key->kid, jwt->kid) == 0 && we_jwt_key_matches (jwt, key))
        return key;
      continue;
    }
    if (!we_jwt_key_matches (jwt, key))
      continue;
    if (found != NULL)
      return NULL; /* ambiguous without a kid */
    found = key;
  }
  return found;
}
