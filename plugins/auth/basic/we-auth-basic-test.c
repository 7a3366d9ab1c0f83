/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * auth-basic, loaded through the plugin host from the build tree.
 */
#include "config.h"

#include <crypt.h>
#include <glib/gstdio.h>
#include <sys/time.h>

#include "plugin/we-plugin-host.h"

#define LOCAL_USER_ID "00000000-0000-0000-0000-000000000000"

typedef struct {
  gchar          *dir;
  gchar          *htpasswd;
  JsonObject     *config;
  WePluginHost   *host;
  WeAuthProvider *auth;
} Fixture;

static JsonObject *
config_func (const gchar *plugin_id, gpointer user_data)
{
  Fixture *fx = user_data;
  return fx->config != NULL ? json_object_ref (fx->config) : NULL;
}

static void
load (Fixture *fx)
{
  g_autoptr(GError) error = NULL;

  g_clear_object (&fx->host);
  fx->host = we_plugin_host_new ();
  we_plugin_host_set_pillar_filter (fx->host, 1u << WE_PILLAR_AUTH);
  we_plugin_host_set_config_func (fx->host, config_func, fx, NULL);
  we_plugin_host_load_dir (fx->host, g_getenv ("WE_PLUGIN_DIR"), &error);
  g_assert_no_error (error);
  fx->auth = WE_AUTH_PROVIDER (we_plugin_host_get_instance (fx->host, "auth-basic"));
}

static gchar *
make_hash (const gchar *prefix, gulong count, const gchar *password)
{
  gchar salt[CRYPT_GENSALT_OUTPUT_SIZE];
  struct crypt_data *data = g_new0 (struct crypt_data, 1);
  gchar *hash;

  g_assert_nonnull (crypt_gensalt_rn (prefix, count, NULL, 0, salt, sizeof (salt)));
  hash = g_strdup (crypt_r (password, salt, data));
  g_free (data);
  g_assert_true (g_str_has_prefix (hash, prefix));
  return hash;
}

/* Writes the file and moves its mtime on, so a rewrite within the same
 * clock tick still counts as a change. */
static void
write_htpasswd (Fixture *fx, const gchar *contents)
{
  static gint64 bump = 0;
  g_autoptr(GError) error = NULL;
  struct timeval tv[2];

  g_file_set_contents (fx->htpasswd, contents, -1, &error);
  g_assert_no_error (error);
  bump += 10;
  tv[0].tv_sec = tv[1].tv_sec = 1700000000 + bump;
  tv[0].tv_usec = tv[1].tv_usec = 0;
  g_assert_cmpint (utimes (fx->htpasswd, tv), ==, 0);
}

static gchar *
basic_token (const gchar *user, const gchar *password)
{
  g_autofree gchar *plain = g_strdup_printf ("%s:%s", user, password);
  return g_base64_encode ((const guchar *) plain, strlen (plain));
}

static WeIdentity *
login (Fixture *fx, const gchar *scheme, const gchar *token, GError **error)
{
  WeAuthRequest request = {
    .scheme = scheme,
    .token = token,
    .client_ip = "192.0.2.7",
    .user_agent = "test",
    .client_is_local = FALSE,
  };
  return we_auth_provider_authenticate (fx->auth, &request, error);
}

static WeIdentity *
login_as (Fixture *fx, const gchar *user, const gchar *password, GError **error)
{
  g_autofree gchar *token = basic_token (user, password);
  return login (fx, "Basic", token, error);
}

static void
fixture_setup (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  fx->dir = g_dir_make_tmp ("we-auth-basic-XXXXXX", &error);
  g_assert_no_error (error);
  fx->htpasswd = g_build_filename (fx->dir, "htpasswd", NULL);
  fx->config = json_object_new ();
}

static void
fixture_teardown (Fixture *fx, gconstpointer data)
{
  g_clear_object (&fx->host);
  g_clear_pointer (&fx->config, json_object_unref);
  g_unlink (fx->htpasswd);
  g_rmdir (fx->dir);
  g_free (fx->htpasswd);
  g_free (fx->dir);
}

static void
test_none_mode (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(WeIdentity) identity = NULL;
  g_autoptr(GPtrArray) users = NULL;
  WeAuthRequest local = { .client_ip = "127.0.0.1", .client_is_local = TRUE };
  WeAuthRequest remote = { .client_ip = "192.0.2.1", .client_is_local = FALSE };

  /* no configuration at all: the embedded default */
  g_clear_pointer (&fx->config, json_object_unref);
  load (fx);
  g_assert_nonnull (fx->auth);
  g_assert_true (we_plugin_host_auth (fx->host, NULL) == fx->auth);

  identity = we_auth_provider_authenticate (fx->auth, &local, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (identity->user_id, ==, LOCAL_USER_ID);
  g_assert_cmpstr (identity->username, ==, "local");
  g_assert_cmpint (identity->role, ==, WE_ROLE_ADMIN);
  g_clear_pointer (&identity, we_identity_free);

  /* credentials do not open the door for a remote client */
  remote.scheme = "basic";
  remote.token = "YWxpY2U6cHc=";
  identity = we_auth_provider_authenticate (fx->auth, &remote, &error);
  g_assert_null (identity);
  g_assert_error (error, WE_ERROR, WE_ERROR_AUTH_UNAUTHORIZED);
  g_assert_nonnull (strstr (error->message, "only admits local clients"));
  g_clear_error (&error);

  identity = we_auth_provider_get_user_profile (fx->auth, LOCAL_USER_ID, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (identity->username, ==, "local");
  g_clear_pointer (&identity, we_identity_free);
  users = we_auth_provider_list_users (fx->auth, WE_ROLE_NONE, &error);
  g_assert_cmpuint (users->len, ==, 1);

  /* none_role */
  fx->config = json_object_new ();
  json_object_set_string_member (fx->config, "none_role", "viewer");
  load (fx);
  identity = we_auth_provider_authenticate (fx->auth, &local, &error);
  g_assert_no_error (error);
  g_assert_cmpint (identity->role, ==, WE_ROLE_VIEWER);
}

static void
setup_basic (Fixture *fx)
{
  g_autofree gchar *alice = make_hash ("$2y$", 4, "wonderland");
  g_autofree gchar *bob = make_hash ("$6$", 1000, "builder");
  g_autofree gchar *contents = NULL;

  contents = g_strdup_printf ("# users\n"
                              "alice:%s\n"
                              "bob:%s\r\n"
                              "carol:plaintext\n"
                              "dave:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n"
                              "eve:$apr1$abcdefgh$0123456789abcdefghijkl\n"
                              "not a user line\n"
                              "\n",
                              alice, bob);
  write_htpasswd (fx, contents);
  json_object_set_string_member (fx->config, "mode", "basic");
  json_object_set_string_member (fx->config, "htpasswd", fx->htpasswd);
  json_object_set_string_member (fx->config, "roles", "alice=admin; bob=operator");
  load (fx);
  g_assert_nonnull (fx->auth);
}

static void
test_basic (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(WeIdentity) identity = NULL;
  g_autofree gchar *alice_id = NULL;
  WeAuthRequest local = { .client_is_local = TRUE };

  setup_basic (fx);

  identity = login_as (fx, "alice", "wonderland", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (identity->username, ==, "alice");
  g_assert_cmpint (identity->role, ==, WE_ROLE_ADMIN);
  g_assert_cmpuint (strlen (identity->user_id), ==, 36);
  g_assert_cmpint (identity->user_id[14], ==, '5');
  g_assert_true (g_uuid_string_is_valid (identity->user_id));
  alice_id = g_strdup (identity->user_id);
  g_clear_pointer (&identity, we_identity_free);
  /* again: same id, and the remembered check gives the same answer */
  identity = login_as (fx, "alice", "wonderland", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (identity->user_id, ==, alice_id);
  g_clear_pointer (&identity, we_identity_free);

  identity = login_as (fx, "bob", "builder", &error);
  g_assert_no_error (error);
  g_assert_cmpint (identity->role, ==, WE_ROLE_OPERATOR);
  g_assert_cmpstr (identity->user_id, !=, alice_id);
  g_clear_pointer (&identity, we_identity_free);

  /* wrong password and unknown user look the same */
  identity = login_as (fx, "alice", "wonderland!", &error);
  g_assert_null (identity);
  g_assert_error (error, WE_ERROR, WE_ERROR_AUTH_UNAUTHORIZED);
  g_assert_cmpstr (error->message, ==, "invalid username or password");
  g_clear_error (&error);
  identity = login_as (fx, "mallory", "wonderland", &error);
  g_assert_error (error, WE_ERROR, WE_ERROR_AUTH_UNAUTHORIZED);
  g_assert_cmpstr (error->message, ==, "invalid username or password");
  g_clear_error (&error);
  identity = login_as (fx, "alice", "", &error);
  g_assert_error (error, WE_ERROR, WE_ERROR_AUTH_UNAUTHORIZED);
  g_clear_error (&error);

  /* weak entries were never loaded */
  identity = login_as (fx, "carol", "plaintext", &error);
  g_assert_error (error, WE_ERROR, WE_ERROR_AUTH_UNAUTHORIZED);
  g_clear_error (&error);
  identity = login_as (fx, "dave", "password", &error);
  g_assert_error (error, WE_ERROR, WE_ERROR_AUTH_UNAUTHORIZED);
  g_clear_error (&error);

  /* being local is not enough in basic mode */
  identity = we_auth_provider_authenticate (fx->auth, &local, &error);
  g_assert_error (error, WE_ERROR, WE_ERROR_AUTH_UNAUTHORIZED);
  g_clear_error (&error);

  g_assert_null (we_auth_provider_refresh_token (fx->auth, "x", &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED);
  g_clear_error (&error);
  g_assert_true (we_auth_provider_logout (fx->auth, alice_id, NULL, TRUE, &error));
  g_assert_no_error (error);
}

static void
test_malformed (Fixture *fx, gconstpointer data)
{
  g_autofree gchar *huge = g_strnfill (8192, 'A');
  g_autofree gchar *empty_user = basic_token ("", "wonderland");
  g_autofree gchar *nul = g_base64_encode ((const guchar *) "alice\0:wonderland", 17);
  g_autofree gchar *no_colon = g_base64_encode ((const guchar *) "alicewonderland", 15);
  g_autofree gchar *bad_utf8 = g_base64_encode ((const guchar *) "\xff\xfe:wonderland", 13);
  g_autofree gchar *good = basic_token ("alice", "wonderland");
  g_autofree gchar *junk_inside = g_strdup_printf ("%.4s*%s", good, good + 5);
  const gchar *tokens[] = { NULL, "", "!!!!", "Zm9v", "YWxpY2U6=", "=YWx", "YW=jZTp3",
                            "YWxpY2U6d29uZGVybGFuZA", "YWxp Y2U6", huge, empty_user, nul,
                            no_colon, bad_utf8, junk_inside };

  setup_basic (fx);
  for (guint i = 0; i < G_N_ELEMENTS (tokens); i++) {
    g_autoptr(GError) error = NULL;
    g_autoptr(WeIdentity) identity = login (fx, "Basic", tokens[i], &error);
    g_assert_null (identity);
    g_assert_error (error, WE_ERROR, WE_ERROR_AUTH_UNAUTHORIZED);
  }
  {
    const gchar *schemes[] = { NULL, "bearer", "api-key", "basicx", "" };
    for (guint i = 0; i < G_N_ELEMENTS (schemes); i++) {
      g_autoptr(GError) error = NULL;
      g_autoptr(WeIdentity) identity = login (fx, schemes[i], good, &error);
      g_assert_null (identity);
      g_assert_error (error, WE_ERROR, WE_ERROR_AUTH_UNAUTHORIZED);
    }
  }
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(WeIdentity) identity = we_auth_provider_authenticate (fx->auth, NULL, &error);
    g_assert_error (error, WE_ERROR, WE_ERROR_AUTH_UNAUTHORIZED);
  }
  /* the scheme is case-insensitive (RFC 7617) */
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(WeIdentity) identity = login (fx, "BASIC", good, &error);
    g_assert_no_error (error);
  }
}

static void
test_users_and_roles (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) users = NULL;
  g_autoptr(WeIdentity) identity = NULL;
  g_autofree gchar *bob_id = NULL;

  setup_basic (fx);
  users = we_auth_provider_list_users (fx->auth, WE_ROLE_NONE, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (users->len, ==, 2);
  g_assert_cmpstr (((WeIdentity *) g_ptr_array_index (users, 0))->username, ==, "alice");
  g_assert_cmpstr (((WeIdentity *) g_ptr_array_index (users, 1))->username, ==, "bob");
  bob_id = g_strdup (((WeIdentity *) g_ptr_array_index (users, 1))->user_id);
  g_clear_pointer (&users, g_ptr_array_unref);
  users = we_auth_provider_list_users (fx->auth, WE_ROLE_OPERATOR, &error);
  g_assert_cmpuint (users->len, ==, 1);
  g_assert_cmpstr (((WeIdentity *) g_ptr_array_index (users, 0))->username, ==, "bob");

  identity = we_auth_provider_get_user_profile (fx->auth, bob_id, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (identity->username, ==, "bob");
  g_assert_cmpint (identity->role, ==, WE_ROLE_OPERATOR);
  g_clear_pointer (&identity, we_identity_free);
  identity = we_auth_provider_get_user_profile (fx->auth, LOCAL_USER_ID, &error);
  g_assert_null (identity);
  g_assert_error (error, WE_ERROR, WE_ERROR_SYS_NOT_FOUND);
}

static void
test_reload (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(WeIdentity) identity = NULL;
  g_autofree gchar *alice = make_hash ("$2b$", 4, "looking-glass");
  g_autofree gchar *frank = make_hash ("$6$", 1000, "frank-pw");
  g_autofree gchar *contents = NULL;

  setup_basic (fx);
  identity = login_as (fx, "alice", "wonderland", &error);
  g_assert_no_error (error);
  g_clear_pointer (&identity, we_identity_free);

  contents = g_strdup_printf ("alice:%s\nfrank:%s\n", alice, frank);
  write_htpasswd (fx, contents);
  /* the remembered old password must not survive the change */
  identity = login_as (fx, "alice", "wonderland", &error);
  g_assert_error (error, WE_ERROR, WE_ERROR_AUTH_UNAUTHORIZED);
  g_clear_error (&error);
  identity = login_as (fx, "alice", "looking-glass", &error);
  g_assert_no_error (error);
  g_assert_cmpint (identity->role, ==, WE_ROLE_ADMIN);
  g_clear_pointer (&identity, we_identity_free);
  /* not in 'roles': a viewer */
  identity = login_as (fx, "frank", "frank-pw", &error);
  g_assert_no_error (error);
  g_assert_cmpint (identity->role, ==, WE_ROLE_VIEWER);
  g_clear_pointer (&identity, we_identity_free);
  identity = login_as (fx, "bob", "builder", &error);
  g_assert_error (error, WE_ERROR, WE_ERROR_AUTH_UNAUTHORIZED);
  g_clear_error (&error);

  /* a vanished file locks everybody out rather than keeping stale users */
  g_assert_cmpint (g_unlink (fx->htpasswd), ==, 0);
  identity = login_as (fx, "alice", "looking-glass", &error);
  g_assert_error (error, WE_ERROR, WE_ERROR_AUTH_UNAUTHORIZED);
}

static void
assert_config_refused (Fixture *fx, const gchar *reason)
{
  WePluginInfo *info;

  load (fx);
  g_assert_null (fx->auth);
  info = we_plugin_host_get_plugin (fx->host, "auth-basic");
  g_assert_nonnull (info);
  g_assert_cmpint (info->state, ==, WE_PLUGIN_STATE_FAILED);
  if (strstr (info->error, reason) == NULL)
    g_error ("expected '%s' in '%s'", reason, info->error);
}

static void
test_bad_config (Fixture *fx, gconstpointer data)
{
  json_object_set_string_member (fx->config, "mode", "ldap");
  assert_config_refused (fx, "must be 'none' or 'basic'");
  json_object_set_string_member (fx->config, "mode", "basic");
  assert_config_refused (fx, "needs 'htpasswd'");
  json_object_set_string_member (fx->config, "htpasswd", "/nonexistent/htpasswd");
  assert_config_refused (fx, "does not exist");
  json_object_set_string_member (fx->config, "mode", "none");
  json_object_set_string_member (fx->config, "roles", "alice=king");
  assert_config_refused (fx, "alice=king");
  json_object_set_string_member (fx->config, "roles", "");
  json_object_set_string_member (fx->config, "none_role", "root");
  assert_config_refused (fx, "none_role");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  /* refusals are logged as warnings on purpose; only criticals are bugs */
  g_log_set_always_fatal (G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);

  g_test_add ("/auth-basic/none-mode", Fixture, NULL, fixture_setup, test_none_mode,
              fixture_teardown);
  g_test_add ("/auth-basic/basic", Fixture, NULL, fixture_setup, test_basic, fixture_teardown);
  g_test_add ("/auth-basic/malformed", Fixture, NULL, fixture_setup, test_malformed,
              fixture_teardown);
  g_test_add ("/auth-basic/users-and-roles", Fixture, NULL, fixture_setup, test_users_and_roles,
              fixture_teardown);
  g_test_add ("/auth-basic/reload", Fixture, NULL, fixture_setup, test_reload, fixture_teardown);
  g_test_add ("/auth-basic/bad-config", Fixture, NULL, fixture_setup, test_bad_config,
              fixture_teardown);
  return g_test_run ();
}
