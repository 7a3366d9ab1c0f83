/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The secrets backends against real stores: a temporary directory, the KV v2
 * server in tests/secrets/kv2_server.py (a fake: OpenBao/Vault are not in
 * Debian 12) and, when run under tests/secrets/with-keyring.sh, a real
 * gnome-keyring-daemon on a private session bus.
 */
#include "config.h"

#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <webencode/we-error.h>

#include "we-secrets-file.h"
#include "we-secrets-libsecret.h"
#include "we-secrets-private.h"
#include "we-secrets-router.h"
#include "we-secrets-vault.h"

static gchar *
make_tmpdir (void)
{
  g_autoptr(GError) error = NULL;
  gchar *dir = g_dir_make_tmp ("we-secrets-XXXXXX", &error);

  g_assert_no_error (error);
  return dir;
}

static void
rm_rf (const gchar *path)
{
  g_autofree gchar *quoted = g_shell_quote (path);
  g_autofree gchar *cmd = g_strdup_printf ("rm -rf %s", quoted);

  g_assert_true (g_spawn_command_line_sync (cmd, NULL, NULL, NULL, NULL));
}

static gchar *
lookup_string (WeSecrets *secrets, const gchar *ref, GError **error)
{
  g_autoptr(GBytes) b = we_secrets_lookup (secrets, ref, NULL, error);

  if (b == NULL)
    return NULL;
  return g_strndup (g_bytes_get_data (b, NULL), g_bytes_get_size (b));
}

static void
store_string (WeSecrets *secrets, const gchar *ref, const gchar *value)
{
  g_autoptr(GBytes) b = g_bytes_new (value, strlen (value));
  g_autoptr(GError) error = NULL;

  g_assert_true (we_secrets_store (secrets, ref, b, NULL, &error));
  g_assert_no_error (error);
}

/* ---- file backend ---- */

static void
test_file_store_lookup (void)
{
  g_autofree gchar *dir = make_tmpdir ();
  g_autoptr(WeSecretsFile) file = we_secrets_file_new (dir);
  g_autoptr(GError) error = NULL;
  g_autofree gchar *value = NULL;
  g_autofree gchar *path = g_build_filename (dir, "s3", "secret-key", NULL);
  g_autofree gchar *nl = g_build_filename (dir, "newline", NULL);
  GStatBuf st;

  store_string (WE_SECRETS (file), "file:s3/secret-key", "wJalrXUtnFEMI/K7MDENG");
  g_assert_cmpint (g_stat (path, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);
  value = lookup_string (WE_SECRETS (file), "file:s3/secret-key", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (value, ==, "wJalrXUtnFEMI/K7MDENG");
  g_clear_pointer (&value, g_free);
  /* bare names work too (the file backend as the default) */
  value = lookup_string (WE_SECRETS (file), "s3/secret-key", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (value, ==, "wJalrXUtnFEMI/K7MDENG");
  g_clear_pointer (&value, g_free);

  /* overwrite is atomic and keeps the mode */
  store_string (WE_SECRETS (file), "file:s3/secret-key", "second");
  g_assert_cmpint (g_stat (path, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);
  value = lookup_string (WE_SECRETS (file), "file:s3/secret-key", &error);
  g_assert_cmpstr (value, ==, "second");
  g_clear_pointer (&value, g_free);

  /* `echo x > file`: the newline is not part of the secret */
  g_assert_true (g_file_set_contents_full (nl, "hunter2\n", -1, G_FILE_SET_CONTENTS_NONE, 0600,
                                           NULL));
  value = lookup_string (WE_SECRETS (file), "file:newline", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (value, ==, "hunter2");
  g_clear_pointer (&value, g_free);

  /* missing */
  value = lookup_string (WE_SECRETS (file), "file:nope", &error);
  g_assert_null (value);
  g_assert_error (error, WE_ERROR, WE_ERROR_STO_NOT_FOUND);
  rm_rf (dir);
}

static void
test_file_permissions (void)
{
  g_autofree gchar *dir = make_tmpdir ();
  g_autoptr(WeSecretsFile) file = we_secrets_file_new (dir);
  g_autofree gchar *path = g_build_filename (dir, "loose", NULL);
  g_autofree gchar *link = g_build_filename (dir, "link", NULL);
  g_autofree gchar *sub = g_build_filename (dir, "sub", NULL);
  const guint modes[] = { 0640, 0604, 0644, 0660, 0610 };

  g_assert_true (g_file_set_contents (path, "secret", -1, NULL));
  for (guint i = 0; i < G_N_ELEMENTS (modes); i++) {
    g_autoptr(GError) error = NULL;
    g_autofree gchar *value = NULL;

    g_assert_cmpint (g_chmod (path, modes[i]), ==, 0);
    value = lookup_string (WE_SECRETS (file), "file:loose", &error);
    g_assert_null (value);
    g_assert_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG);
    g_assert_nonnull (strstr (error->message, "chmod 600"));
    g_assert_null (strstr (error->message, "secret\n"));
  }
  g_assert_cmpint (g_chmod (path, 0400), ==, 0);
  {
    g_autoptr(GError) error = NULL;
    g_autofree gchar *value = lookup_string (WE_SECRETS (file), "file:loose", &error);
    g_assert_no_error (error);
    g_assert_cmpstr (value, ==, "secret");
  }
  /* a link planted in the directory is not followed */
  g_assert_cmpint (symlink (path, link), ==, 0);
  {
    g_autoptr(GError) error = NULL;
    g_autofree gchar *value = lookup_string (WE_SECRETS (file), "file:link", &error);
    g_assert_null (value);
    g_assert_nonnull (error);
  }
  /* a directory is not a secret */
  g_assert_cmpint (g_mkdir (sub, 0700), ==, 0);
  {
    g_autoptr(GError) error = NULL;
    g_autofree gchar *value = lookup_string (WE_SECRETS (file), "file:sub", &error);
    g_assert_null (value);
    g_assert_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG);
  }
  rm_rf (dir);
}

static void
test_file_traversal (void)
{
  g_autofree gchar *dir = make_tmpdir ();
  g_autofree gchar *inner = g_build_filename (dir, "inner", NULL);
  g_autofree gchar *outside = g_build_filename (dir, "outside", NULL);
  g_autoptr(WeSecretsFile) file = NULL;
  const gchar *bad[] = {
    "file:../outside", "../outside", "file:/etc/passwd", "/etc/passwd", "file:a/../../outside",
    "file:a/..", "file:..", "file:.", "file:./x", "file:a//b", "file:a/", "file:", "",
    "file:a b", "file:a\tb", "file:a\nb", "file:é", "file:a\\b", "file:~root", "file:a:b",
    "file:a%2f..%2foutside", "file:a?b", "file:*", "env:HOME", "nope:x", "FILE:x",
    "vault:secret/x", "secret-service:x", "file:....//outside",
  };

  g_assert_cmpint (g_mkdir (inner, 0700), ==, 0);
  file = we_secrets_file_new (inner);
  g_assert_true (g_file_set_contents_full (outside, "outside-secret", -1,
                                           G_FILE_SET_CONTENTS_NONE, 0600, NULL));
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
    g_autoptr(GError) error = NULL;
    g_autoptr(GError) store_error = NULL;
    g_autoptr(GBytes) value = we_secrets_lookup (WE_SECRETS (file), bad[i], NULL, &error);
    g_autoptr(GBytes) v = g_bytes_new_static ("x", 1);

    g_test_message ("ref %s", bad[i]);
    g_assert_null (value);
    g_assert_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG);
    g_assert_false (we_secrets_store (WE_SECRETS (file), bad[i], v, NULL, &store_error));
    g_assert_error (store_error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG);
  }
  /* nothing was written outside */
  {
    g_autofree gchar *contents = NULL;
    g_assert_true (g_file_get_contents (outside, &contents, NULL, NULL));
    g_assert_cmpstr (contents, ==, "outside-secret");
  }
  {
    /* a reference too long is refused before anything looks at it */
    g_autofree gchar *longref = g_strnfill (WE_SECRETS_MAX_REF + 1, 'a');
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) value = we_secrets_lookup (WE_SECRETS (file), longref, NULL, &error);
    g_assert_null (value);
    g_assert_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG);
  }
  rm_rf (dir);
}

/* Fuzz-ish: random references never crash, never read outside, and either
 * resolve cleanly or fail with a WE_ERROR. */
static void
test_ref_fuzz (void)
{
  g_autofree gchar *dir = make_tmpdir ();
  g_autoptr(WeSecretsFile) file = we_secrets_file_new (dir);
  g_autoptr(WeSecretsRouter) router = we_secrets_router_new ();
  g_autoptr(GRand) rand = g_rand_new_with_seed (7);
  const gchar alphabet[] = "file:vault#secret-service/..//a.\\\x01\x7f\xff %$";

  we_secrets_router_add (router, "file", WE_SECRETS (file));
  we_secrets_router_set_default (router, "file");
  for (guint i = 0; i < 5000; i++) {
    gchar ref[64];
    guint len = g_rand_int_range (rand, 0, sizeof ref);
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) value = NULL;

    for (guint j = 0; j < len; j++)
      ref[j] = g_rand_boolean (rand) ? alphabet[g_rand_int_range (rand, 0, sizeof alphabet - 1)]
                                     : (gchar) g_rand_int_range (rand, 1, 256);
    ref[len] = '\0';
    value = we_secrets_lookup (WE_SECRETS (router), ref, NULL, &error);
    g_assert_null (value);
    g_assert_nonnull (error);
    g_assert_true (error->domain == WE_ERROR);
  }
  rm_rf (dir);
}

static void
test_path_is_safe (void)
{
  g_assert_true (we_secrets_path_is_safe ("a", 10));
  g_assert_true (we_secrets_path_is_safe ("a/b-c_d.e", 10));
  g_assert_false (we_secrets_path_is_safe ("a/b-c_d.ef", 9));
  g_assert_false (we_secrets_path_is_safe ("a..b", 10));
  g_assert_false (we_secrets_path_is_safe (".", 10));
  g_assert_false (we_secrets_path_is_safe ("a/./b", 10));
  g_assert_false (we_secrets_path_is_safe ("/a", 10));
  g_assert_false (we_secrets_path_is_safe ("a/", 10));
  g_assert_false (we_secrets_path_is_safe ("", 10));
  g_assert_false (we_secrets_path_is_safe (NULL, 10));
}

/* ---- router ---- */

static void
test_router_dispatch (void)
{
  g_autofree gchar *dir = make_tmpdir ();
  g_autoptr(JsonObject) settings = json_object_new ();
  g_autoptr(WeSecretsRouter) router = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *value = NULL;
  g_autoptr(JsonObject) config = json_object_new ();

  /* one store configured: bare references go to it */
  json_object_set_string_member (settings, "file_dir", dir);
  router = we_secrets_router_new_from_settings (settings, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (we_secrets_router_get_default (router), ==, "file");
  store_string (WE_SECRETS (router), "ldap-bind", "bindpw");
  value = lookup_string (WE_SECRETS (router), "file:ldap-bind", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (value, ==, "bindpw");
  g_clear_pointer (&value, g_free);

  /* a scheme that is known but not configured */
  value = lookup_string (WE_SECRETS (router), "vault:secret/x", &error);
  g_assert_null (value);
  g_assert_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG);
  g_assert_nonnull (strstr (error->message, "not configured"));
  g_clear_error (&error);
  /* a scheme nobody knows */
  value = lookup_string (WE_SECRETS (router), "ftp:x", &error);
  g_assert_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG);
  g_clear_error (&error);

  /* without a default, bare references are refused */
  we_secrets_router_set_default (router, NULL);
  value = lookup_string (WE_SECRETS (router), "ldap-bind", &error);
  g_assert_null (value);
  g_assert_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG);
  g_clear_error (&error);

  /* the SDK helper plugins use */
  json_object_set_string_member (config, "bind_password_secret_ref", "file:ldap-bind");
  value = we_plugin_config_get_secret (config, WE_SECRETS (router), "bind_password", NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (value, ==, "bindpw");
  we_secret_free (g_steal_pointer (&value));
  value = we_plugin_config_get_secret (config, WE_SECRETS (router), "other", NULL, &error);
  g_assert_no_error (error);
  g_assert_null (value);
  json_object_set_string_member (config, "api_token_ref", "file:missing");
  value = we_plugin_config_get_secret (config, WE_SECRETS (router), "api", NULL, &error);
  g_assert_null (value);
  g_assert_error (error, WE_ERROR, WE_ERROR_STO_NOT_FOUND);
  g_clear_error (&error);

  /* bad settings */
  {
    g_autoptr(JsonObject) bad = json_object_new ();
    g_autoptr(WeSecretsRouter) r = NULL;

    json_object_set_string_member (bad, "backend", "plaintext");
    r = we_secrets_router_new_from_settings (bad, &error);
    g_assert_null (r);
    g_assert_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG);
    g_clear_error (&error);
    json_object_set_string_member (bad, "backend", "vault");
    r = we_secrets_router_new_from_settings (bad, &error);
    g_assert_null (r);
    g_assert_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG);
    g_clear_error (&error);
    json_object_set_string_member (bad, "backend", "file");
    json_object_set_string_member (bad, "file_dir", "relative/dir");
    r = we_secrets_router_new_from_settings (bad, &error);
    g_assert_null (r);
    g_assert_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG);
    g_clear_error (&error);
    json_object_set_string_member (bad, "backend", "vault");
    json_object_set_string_member (bad, "vault_addr", "ftp://vault");
    json_object_remove_member (bad, "file_dir");
    r = we_secrets_router_new_from_settings (bad, &error);
    g_assert_null (r);
    g_assert_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG);
    g_clear_error (&error);
  }
  rm_rf (dir);
}

static void
test_settings_from_config (void)
{
  g_autofree gchar *dir = make_tmpdir ();
  g_autofree gchar *data_env = g_strdup_printf ("WE_DATA_DIR=%s", dir);
  gchar *env[] = { data_env, (gchar *) "WE_SECRETS_BACKEND=file",
                   (gchar *) "WE_SECRETS_VAULT_NAMESPACE=team/a", NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(WeConfig) config = we_config_new (NULL, env, &error);
  g_autoptr(JsonObject) settings = NULL;
  g_autofree gchar *expected = g_build_filename (dir, "secrets", NULL);

  g_assert_no_error (error);
  settings = we_secrets_settings_from_config (config);
  g_assert_cmpstr (json_object_get_string_member (settings, "backend"), ==, "file");
  g_assert_cmpstr (json_object_get_string_member (settings, "file_dir"), ==, expected);
  g_assert_cmpstr (json_object_get_string_member (settings, "vault_namespace"), ==, "team/a");
  g_assert_cmpstr (json_object_get_string_member (settings, "vault_cache_ttl_s"), ==, "60");
  g_assert_false (json_object_has_member (settings, "vault_addr"));
  rm_rf (dir);
}

/* ---- Vault (KV v2) ---- */

typedef struct {
  GSubprocess *proc;
  gchar       *addr;
} Kv2Server;

static void
kv2_start (Kv2Server *s, const gchar *token, const gchar *namespace_)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GDataInputStream) out = NULL;
  g_autofree gchar *line = NULL;
  const gchar *argv[8] = { "python3", WE_KV2_SERVER, "--token", token, NULL, NULL, NULL, NULL };

  if (namespace_ != NULL) {
    argv[4] = "--namespace";
    argv[5] = namespace_;
  }
  s->proc = g_subprocess_newv (argv, G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE,
                               &error);
  g_assert_no_error (error);
  out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (s->proc));
  line = g_data_input_stream_read_line (out, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (line);
  s->addr = g_strdup_printf ("http://127.0.0.1:%s", g_strstrip (line));
}

static void
kv2_stop (Kv2Server *s)
{
  g_output_stream_close (g_subprocess_get_stdin_pipe (s->proc), NULL, NULL);
  g_subprocess_wait (s->proc, NULL, NULL);
  g_clear_object (&s->proc);
  g_clear_pointer (&s->addr, g_free);
}

static WeSecretsVault *
vault_new (const gchar *addr, const gchar *token_file, const gchar *namespace_, gint ttl)
{
  WeSecretsVaultOptions opts = { 0 };
  g_autoptr(GError) error = NULL;
  WeSecretsVault *vault;

  opts.addr = addr;
  opts.token_file = token_file;
  opts.token_env = "WE_TEST_VAULT_TOKEN";
  opts.namespace_ = namespace_;
  opts.cache_ttl_s = ttl;
  vault = we_secrets_vault_new (&opts, &error);
  g_assert_no_error (error);
  return vault;
}

static void
test_vault (void)
{
  Kv2Server s = { 0 };
  g_autofree gchar *dir = make_tmpdir ();
  g_autofree gchar *token_file = g_build_filename (dir, "token", NULL);
  g_autoptr(WeSecretsVault) vault = NULL;
  g_autoptr(WeSecretsVault) nocache = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *value = NULL;

  kv2_start (&s, "s.root-token-1", NULL);
  g_assert_true (g_file_set_contents_full (token_file, "s.root-token-1\n", -1,
                                           G_FILE_SET_CONTENTS_NONE, 0600, NULL));
  vault = vault_new (s.addr, token_file, NULL, 60);
  nocache = vault_new (s.addr, token_file, NULL, 0);

  /* store then read, with and without a field */
  store_string (WE_SECRETS (vault), "vault:secret/webencode/s3#access_key", "AKIAEXAMPLE");
  store_string (WE_SECRETS (vault), "vault:secret/webencode/s3#secret_key", "wJalrXUtnFEMI");
  store_string (WE_SECRETS (vault), "secret/webencode/oidc", "client-secret-1");
  value = lookup_string (WE_SECRETS (vault), "vault:secret/webencode/s3#access_key", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (value, ==, "AKIAEXAMPLE");
  g_clear_pointer (&value, g_free);
  /* the second store kept the first field (KV v2 writes replace everything) */
  value = lookup_string (WE_SECRETS (nocache), "vault:secret/webencode/s3#secret_key", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (value, ==, "wJalrXUtnFEMI");
  g_clear_pointer (&value, g_free);
  /* the spec's bare form, default field "value" */
  value = lookup_string (WE_SECRETS (vault), "secret/webencode/oidc", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (value, ==, "client-secret-1");
  g_clear_pointer (&value, g_free);

  /* cached for the TTL: another writer's change shows only without cache */
  store_string (WE_SECRETS (nocache), "secret/webencode/oidc", "client-secret-2");
  value = lookup_string (WE_SECRETS (vault), "secret/webencode/oidc", &error);
  g_assert_cmpstr (value, ==, "client-secret-1");
  g_clear_pointer (&value, g_free);
  value = lookup_string (WE_SECRETS (nocache), "secret/webencode/oidc", &error);
  g_assert_cmpstr (value, ==, "client-secret-2");
  g_clear_pointer (&value, g_free);

  /* 404: never written */
  value = lookup_string (WE_SECRETS (nocache), "vault:secret/webencode/missing", &error);
  g_assert_null (value);
  g_assert_error (error, WE_ERROR, WE_ERROR_STO_NOT_FOUND);
  g_clear_error (&error);
  /* a field the secret lacks */
  value = lookup_string (WE_SECRETS (nocache), "vault:secret/webencode/s3#nope", &error);
  g_assert_null (value);
  g_assert_error (error, WE_ERROR, WE_ERROR_STO_NOT_FOUND);
  g_clear_error (&error);
  /* an unknown mount */
  value = lookup_string (WE_SECRETS (nocache), "vault:kv/webencode/s3", &error);
  g_assert_null (value);
  g_assert_error (error, WE_ERROR, WE_ERROR_STO_NOT_FOUND);
  g_clear_error (&error);
  /* malformed references never reach the server */
  {
    const gchar *bad[] = { "vault:secret", "vault:secret/", "vault:/secret/x",
                           "vault:secret/../sys/x", "vault:secret/x#", "vault:secret/x#a#b",
                           "vault:secret/x#a/b", "vault:secret/x?y", "vault:secret/x y" };
    for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
      value = lookup_string (WE_SECRETS (nocache), bad[i], &error);
      g_assert_null (value);
      g_assert_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG);
      g_clear_error (&error);
    }
  }

  /* 403: a wrong token, read again from the file at every request */
  g_assert_true (g_file_set_contents_full (token_file, "s.wrong", -1, G_FILE_SET_CONTENTS_NONE,
                                           0600, NULL));
  value = lookup_string (WE_SECRETS (nocache), "vault:secret/webencode/s3#access_key", &error);
  g_assert_null (value);
  g_assert_error (error, WE_ERROR, WE_ERROR_STO_ACCESS_DENIED);
  g_assert_nonnull (strstr (error->message, "permission denied"));
  g_assert_null (strstr (error->message, "s.wrong"));
  g_clear_error (&error);
  /* a token with a line break inside is not sent */
  g_assert_true (g_file_set_contents_full (token_file, "s.root\r\nX-Evil: 1", -1,
                                           G_FILE_SET_CONTENTS_NONE, 0600, NULL));
  value = lookup_string (WE_SECRETS (nocache), "vault:secret/webencode/s3#access_key", &error);
  g_assert_null (value);
  g_assert_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG);
  g_clear_error (&error);

  /* the token from an environment variable */
  {
    g_autoptr(WeSecretsVault) from_env = vault_new (s.addr, NULL, NULL, 0);

    g_unsetenv ("WE_TEST_VAULT_TOKEN");
    value = lookup_string (WE_SECRETS (from_env), "secret/webencode/oidc", &error);
    g_assert_null (value);
    g_assert_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG);
    g_clear_error (&error);
    g_setenv ("WE_TEST_VAULT_TOKEN", "s.root-token-1", TRUE);
    value = lookup_string (WE_SECRETS (from_env), "secret/webencode/oidc", &error);
    g_assert_no_error (error);
    g_assert_cmpstr (value, ==, "client-secret-2");
    g_clear_pointer (&value, g_free);
    g_unsetenv ("WE_TEST_VAULT_TOKEN");
  }
  kv2_stop (&s);

  /* the server gone: degraded, not "missing" */
  value = lookup_string (WE_SECRETS (nocache), "vault:secret/webencode/s3#access_key", &error);
  g_assert_null (value);
  g_assert_nonnull (error);
  g_clear_error (&error);
  rm_rf (dir);
}

static void
test_vault_namespace (void)
{
  Kv2Server s = { 0 };
  g_autofree gchar *dir = make_tmpdir ();
  g_autofree gchar *token_file = g_build_filename (dir, "token", NULL);
  g_autoptr(WeSecretsVault) right = NULL;
  g_autoptr(WeSecretsVault) none = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *value = NULL;

  kv2_start (&s, "tok", "team-a");
  g_assert_true (g_file_set_contents_full (token_file, "tok", -1, G_FILE_SET_CONTENTS_NONE, 0600,
                                           NULL));
  right = vault_new (s.addr, token_file, "team-a", 0);
  none = vault_new (s.addr, token_file, NULL, 0);
  store_string (WE_SECRETS (right), "vault:secret/x", "in-namespace");
  value = lookup_string (WE_SECRETS (right), "vault:secret/x", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (value, ==, "in-namespace");
  g_clear_pointer (&value, g_free);
  value = lookup_string (WE_SECRETS (none), "vault:secret/x", &error);
  g_assert_null (value);
  g_assert_error (error, WE_ERROR, WE_ERROR_STO_ACCESS_DENIED);
  kv2_stop (&s);
  rm_rf (dir);
}

/* The router built from settings reaches Vault and files side by side. */
static void
test_router_vault_and_file (void)
{
  Kv2Server s = { 0 };
  g_autofree gchar *dir = make_tmpdir ();
  g_autofree gchar *token_file = g_build_filename (dir, "token", NULL);
  g_autofree gchar *files = g_build_filename (dir, "files", NULL);
  g_autoptr(JsonObject) settings = json_object_new ();
  g_autoptr(WeSecretsRouter) router = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *value = NULL;

  kv2_start (&s, "tok", NULL);
  g_assert_true (g_file_set_contents_full (token_file, "tok", -1, G_FILE_SET_CONTENTS_NONE, 0600,
                                           NULL));
  json_object_set_string_member (settings, "backend", "vault");
  json_object_set_string_member (settings, "file_dir", files);
  json_object_set_string_member (settings, "vault_addr", s.addr);
  json_object_set_string_member (settings, "vault_token_file", token_file);
  router = we_secrets_router_new_from_settings (settings, &error);
  g_assert_no_error (error);
  store_string (WE_SECRETS (router), "secret/webencode/s3#secret_key", "from-vault");
  store_string (WE_SECRETS (router), "file:s3", "from-file");
  value = lookup_string (WE_SECRETS (router), "secret/webencode/s3#secret_key", &error);
  g_assert_cmpstr (value, ==, "from-vault");
  g_clear_pointer (&value, g_free);
  value = lookup_string (WE_SECRETS (router), "file:s3", &error);
  g_assert_cmpstr (value, ==, "from-file");
  g_clear_pointer (&value, g_free);
  kv2_stop (&s);
  rm_rf (dir);
}

/* ---- Secret Service (only under tests/secrets/with-keyring.sh) ---- */

static void
test_libsecret (void)
{
  g_autoptr(WeSecretsLibsecret) ss = we_secrets_libsecret_new ();
  g_autoptr(GError) error = NULL;
  g_autofree gchar *value = NULL;

  value = lookup_string (WE_SECRETS (ss), "secret-service:webencode/none", &error);
  g_assert_null (value);
  g_assert_error (error, WE_ERROR, WE_ERROR_STO_NOT_FOUND);
  g_clear_error (&error);
  store_string (WE_SECRETS (ss), "secret-service:webencode/ldap", "keyring-pw");
  value = lookup_string (WE_SECRETS (ss), "secret-service:webencode/ldap", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (value, ==, "keyring-pw");
  g_clear_pointer (&value, g_free);
  store_string (WE_SECRETS (ss), "webencode/ldap", "keyring-pw-2");
  value = lookup_string (WE_SECRETS (ss), "webencode/ldap", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (value, ==, "keyring-pw-2");
  g_clear_pointer (&value, g_free);
  value = lookup_string (WE_SECRETS (ss), "secret-service:../x", &error);
  g_assert_null (value);
  g_assert_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/secrets/file/store-lookup", test_file_store_lookup);
  g_test_add_func ("/secrets/file/permissions", test_file_permissions);
  g_test_add_func ("/secrets/file/traversal", test_file_traversal);
  g_test_add_func ("/secrets/ref/fuzz", test_ref_fuzz);
  g_test_add_func ("/secrets/ref/path-is-safe", test_path_is_safe);
  g_test_add_func ("/secrets/router/dispatch", test_router_dispatch);
  g_test_add_func ("/secrets/router/settings-from-config", test_settings_from_config);
  g_test_add_func ("/secrets/router/vault-and-file", test_router_vault_and_file);
  g_test_add_func ("/secrets/vault/kv2", test_vault);
  g_test_add_func ("/secrets/vault/namespace", test_vault_namespace);
  /* needs a Secret Service: tests/secrets/with-keyring.sh starts one and
   * sets this; the plain run does not pretend to test it */
  if (g_getenv ("WE_TEST_SECRET_SERVICE") != NULL)
    g_test_add_func ("/secrets/libsecret/store-lookup", test_libsecret);
  return g_test_run ();
}
