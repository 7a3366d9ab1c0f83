/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The route table against tests/rbac-matrix.json, both ways: a route added
 * without a policy, or with a role the matrix does not expect, fails here;
 * so does a matrix entry whose route is gone. Also the failed-login limiter
 * and the API token format.
 */
#include "config.h"

#include <string.h>

#include "core/we-rbac.h"
#include "we-api-private.h"
#include "we-api-tokens.h"

static JsonArray *
load_matrix (JsonParser *parser)
{
  g_autofree gchar *path = g_build_filename (g_getenv ("WE_SOURCE_ROOT"), "tests",
                                             "rbac-matrix.json", NULL);
  g_autoptr(GError) error = NULL;

  g_assert_true (json_parser_load_from_file (parser, path, &error));
  g_assert_no_error (error);
  return json_object_get_array_member (json_node_get_object (json_parser_get_root (parser)),
                                       "routes");
}

static void
test_every_route_has_a_policy (void)
{
  guint n_routes;
  const WeApiRoute *routes = we_api_server_get_routes (&n_routes);

  g_assert_cmpuint (n_routes, >, 0);
  for (guint i = 0; i < n_routes; i++) {
    if (we_rbac_lookup (routes[i].action) == NULL)
      g_error ("%s %s: action %s has no policy in src/core/we-rbac.c", routes[i].method,
               routes[i].pattern, routes[i].action);
  }
}

static void
test_routes_match_the_matrix (void)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  JsonArray *matrix = load_matrix (parser);
  guint n_routes, n_matrix = json_array_get_length (matrix);
  const WeApiRoute *routes = we_api_server_get_routes (&n_routes);
  g_autoptr(GHashTable) expected = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  for (guint i = 0; i < n_matrix; i++) {
    JsonObject *row = json_array_get_object_element (matrix, i);
    gchar *key = g_strconcat (json_object_get_string_member (row, "method"), " ",
                              json_object_get_string_member (row, "path"), NULL);
    WeRole role = we_role_from_string (json_object_get_string_member (row, "role"));

    g_assert_false (g_hash_table_contains (expected, key));
    g_hash_table_insert (expected, key, GINT_TO_POINTER (role + 1));
  }
  for (guint i = 0; i < n_routes; i++) {
    g_autofree gchar *key = g_strconcat (routes[i].method, " ", routes[i].pattern, NULL);
    gpointer want = g_hash_table_lookup (expected, key);
    const WeRbacPolicy *policy = we_rbac_lookup (routes[i].action);

    if (want == NULL)
      g_error ("%s is not in tests/rbac-matrix.json: add it with the role section 19.5 gives it",
               key);
    g_assert_nonnull (policy);
    if ((WeRole) (GPOINTER_TO_INT (want) - 1) != policy->role)
      g_error ("%s needs %s by its policy (%s) but the matrix says %s", key,
               we_role_to_string (policy->role), routes[i].action,
               we_role_to_string (GPOINTER_TO_INT (want) - 1));
    g_hash_table_remove (expected, key);
  }
  if (g_hash_table_size (expected) > 0) {
    GList *left = g_hash_table_get_keys (expected);
    g_autofree gchar *first = g_strdup (left->data);

    g_list_free (left);
    g_error ("tests/rbac-matrix.json lists %s, which is no route", first);
  }
}

static void
test_unknown_action_is_refused (void)
{
  g_autoptr(WeIdentity) admin = we_identity_new ();
  g_autoptr(GError) error = NULL;

  admin->role = WE_ROLE_ADMIN;
  g_assert_false (we_rbac_check (admin, "job.obliterate", &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_AUTH_FORBIDDEN);
  g_clear_error (&error);
  g_assert_false (we_rbac_check (NULL, "job.read", &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_AUTH_UNAUTHORIZED);
  g_clear_error (&error);
  admin->role = WE_ROLE_VIEWER;
  g_assert_false (we_rbac_check (admin, "job.create", &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_AUTH_ROLE_REQUIRED);
  g_clear_error (&error);
  g_assert_true (we_rbac_check (NULL, "system.health", &error));
  g_assert_no_error (error);
}

static void
test_login_limiter (void)
{
  g_autoptr(WeLoginLimiter) limiter = we_login_limiter_new (3, 60);
  gint64 t = 1000 * G_USEC_PER_SEC;

  g_assert_cmpuint (we_login_limiter_check (limiter, "10.0.0.1", t), ==, 0);
  for (guint i = 0; i < 3; i++)
    we_login_limiter_failed (limiter, "10.0.0.1", t + i);
  /* blocked for what is left of the window, other addresses are not */
  g_assert_cmpuint (we_login_limiter_check (limiter, "10.0.0.1", t + 10 * G_USEC_PER_SEC), ==,
                    50);
  g_assert_cmpuint (we_login_limiter_check (limiter, "10.0.0.2", t), ==, 0);
  /* the window passes: free again */
  g_assert_cmpuint (we_login_limiter_check (limiter, "10.0.0.1", t + 61 * G_USEC_PER_SEC), ==, 0);
  we_login_limiter_failed (limiter, "10.0.0.1", t + 62 * G_USEC_PER_SEC);
  g_assert_cmpuint (we_login_limiter_check (limiter, "10.0.0.1", t + 63 * G_USEC_PER_SEC), ==, 0);

  /* a flood of addresses is swept, not kept forever */
  for (guint i = 0; i < 10000; i++) {
    g_autofree gchar *ip = g_strdup_printf ("10.1.%u.%u", i / 256, i % 256);
    we_login_limiter_failed (limiter, ip, t + (gint64) i * G_USEC_PER_SEC);
  }
}

static void
test_token_format (void)
{
  g_autofree gchar *a = we_api_token_generate ();
  g_autofree gchar *b = we_api_token_generate ();
  g_autofree gchar *digest = we_api_token_digest (a);

  g_assert_true (we_api_token_looks_like (a));
  g_assert_cmpstr (a, !=, b);
  g_assert_true (g_str_has_prefix (digest, "sha256:"));
  g_assert_cmpuint (strlen (digest), ==, 7 + 64);
  g_assert_false (we_api_token_looks_like ("we_short"));
  g_assert_false (we_api_token_looks_like ("eyJhbGciOiJSUzI1NiJ9.e30.sig"));
  g_assert_false (we_api_token_looks_like (NULL));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/api/routes/policy", test_every_route_has_a_policy);
  g_test_add_func ("/api/routes/matrix", test_routes_match_the_matrix);
  g_test_add_func ("/api/rbac/unknown-action", test_unknown_action_is_refused);
  g_test_add_func ("/api/login-limiter", test_login_limiter);
  g_test_add_func ("/api/tokens/format", test_token_format);
  return g_test_run ();
}
