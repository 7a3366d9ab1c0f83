/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <glib/gstdio.h>

#include "we-plugin-host.h"

/* Modules stay mapped for the whole process, so their constructors leave a
 * marker only the first time: one marker dir for the process. */
static gchar *marker_dir;

typedef struct {
  WePluginHost *host;
} Fixture;

static JsonObject *
config_func (const gchar *plugin_id, gpointer user_data)
{
  JsonObject *config = json_object_new ();

  json_object_set_string_member (config, "root", "/srv/media");
  /* not declared by any test module: must be dropped before create() */
  json_object_set_string_member (config, "secret", "hunter2");
  return config;
}

static gboolean
was_opened (Fixture *fx, const gchar *module)
{
  g_autofree gchar *path = g_strdup_printf ("%s/%s.opened", marker_dir, module);
  return g_file_test (path, G_FILE_TEST_EXISTS);
}

static WePluginInfo *
plugin_by_manifest (Fixture *fx, const gchar *manifest)
{
  GPtrArray *plugins = we_plugin_host_get_plugins (fx->host);

  for (guint i = 0; i < plugins->len; i++) {
    WePluginInfo *info = g_ptr_array_index (plugins, i);
    g_autofree gchar *base = g_path_get_basename (info->manifest_path);
    if (g_strcmp0 (base, manifest) == 0)
      return info;
  }
  g_assert_not_reached ();
}

static void
fixture_setup (Fixture *fx, gconstpointer data)
{
  fx->host = we_plugin_host_new ();
  we_plugin_host_set_config_func (fx->host, config_func, NULL, NULL);
}

static void
fixture_teardown (Fixture *fx, gconstpointer data)
{
  g_clear_object (&fx->host);
}

static void
remove_marker_dir (void)
{
  g_autoptr(GDir) dir = g_dir_open (marker_dir, 0, NULL);
  const gchar *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL) {
    g_autofree gchar *path = g_build_filename (marker_dir, name, NULL);
    g_unlink (path);
  }
  g_rmdir (marker_dir);
  g_clear_pointer (&marker_dir, g_free);
}

static void
assert_refused (Fixture *fx, const gchar *manifest, WePluginState state, const gchar *reason)
{
  WePluginInfo *info = plugin_by_manifest (fx, manifest);

  g_assert_cmpstr (we_plugin_state_to_string (info->state), ==, we_plugin_state_to_string (state));
  g_assert_null (info->instance);
  g_assert_nonnull (info->error);
  if (strstr (info->error, reason) == NULL)
    g_error ("%s: expected '%s' in '%s'", manifest, reason, info->error);
}

static void
test_load_dir (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  WePluginInfo *info;
  GObject *instance;
  guint healthy;

  healthy = we_plugin_host_load_dir (fx->host, WE_TEST_MODULE_DIR, &error);
  g_assert_no_error (error);
  /* storage-a, storage-b, encoder-cpu, encoder-gpu, auth */
  g_assert_cmpuint (healthy, ==, 5);

  info = we_plugin_host_get_plugin (fx->host, "test-storage-a");
  g_assert_nonnull (info);
  g_assert_cmpint (info->state, ==, WE_PLUGIN_STATE_HEALTHY);
  g_assert_cmpint (info->pillar, ==, WE_PILLAR_STORAGE);
  g_assert_cmpint (info->priority, ==, 10);
  g_assert_cmpuint (info->protocol_version, ==, WE_PLUGIN_PROTOCOL_VERSION);
  g_assert_cmpstr (info->version, ==, "0.1.0");
  g_assert_true (g_strv_contains ((const gchar * const *) info->config_keys, "root"));
  g_assert_true (g_str_has_suffix (info->module_path, "/libtest-storage-a.so"));
  g_assert_null (info->error);
  instance = we_plugin_host_get_instance (fx->host, "test-storage-a");
  g_assert_true (WE_IS_STORAGE (instance));
  /* only declared keys reach create() */
  g_assert_cmpstr (g_object_get_data (instance, "test-config"), ==, "{\"root\":\"/srv/media\"}");

  /* refused by the manifest alone, and provably never mapped */
  assert_refused (fx, "test-manifest-protocol.plugin", WE_PLUGIN_STATE_DISABLED,
                  "speaks protocol 99, kernel speaks 1; skipped");
  g_assert_false (was_opened (fx, "test-manifest-protocol"));

  /* refused after opening, before create() */
  assert_refused (fx, "test-descriptor-protocol.plugin", WE_PLUGIN_STATE_DISABLED,
                  "speaks protocol 99, kernel speaks 1");
  /* the positive control: the marker mechanism does work */
  g_assert_true (was_opened (fx, "test-descriptor-protocol"));
  assert_refused (fx, "test-descriptor-abi.plugin", WE_PLUGIN_STATE_DISABLED, "needs ABI");
  assert_refused (fx, "test-id-mismatch.plugin", WE_PLUGIN_STATE_FAILED,
                  "describes itself as storage/somebody-else");
  assert_refused (fx, "test-create-fails.plugin", WE_PLUGIN_STATE_FAILED, "'root' is required");
  assert_refused (fx, "test-wrong-iface.plugin", WE_PLUGIN_STATE_FAILED,
                  "does not implement WeAuthProvider");
  assert_refused (fx, "test-garbage.plugin", WE_PLUGIN_STATE_FAILED, "cannot open module");
  assert_refused (fx, "test-missing.plugin", WE_PLUGIN_STATE_FAILED, "not found");
  assert_refused (fx, "test-bad-module.plugin", WE_PLUGIN_STATE_FAILED, "bare file name");
  assert_refused (fx, "test-bad-type.plugin", WE_PLUGIN_STATE_FAILED, "not a pillar");
  assert_refused (fx, "test-bad-id.plugin", WE_PLUGIN_STATE_FAILED, "Id is missing or unsafe");
  assert_refused (fx, "test-malformed.plugin", WE_PLUGIN_STATE_FAILED, "malformed manifest");
  info = plugin_by_manifest (fx, "test-malformed.plugin");
  g_assert_cmpstr (info->id, ==, "manifest:test-malformed");

  /* first of an id wins; the duplicate is disabled and never opened */
  assert_refused (fx, "zz-duplicate.plugin", WE_PLUGIN_STATE_DISABLED, "duplicate skipped");
  g_assert_false (was_opened (fx, "test-duplicate"));
  info = we_plugin_host_get_plugin (fx->host, "test-storage-a");
  g_assert_true (g_str_has_suffix (info->manifest_path, "/test-storage-a.plugin"));

  g_assert_null (we_plugin_host_get_instance (fx->host, "test-create-fails"));
  g_assert_null (we_plugin_host_get_plugin (fx->host, "no-such-plugin"));
}

static void
test_load_manifest_errors (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree gchar *path = g_build_filename (WE_TEST_MODULE_DIR, "test-manifest-protocol.plugin",
                                             NULL);
  g_autofree gchar *missing = g_build_filename (WE_TEST_MODULE_DIR, "nope.plugin", NULL);

  g_assert_false (we_plugin_host_load_manifest (fx->host, path, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_PLG_DISABLED);
  g_clear_error (&error);
  g_assert_false (we_plugin_host_load_manifest (fx->host, missing, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_PLG_NOT_FOUND);
  g_clear_error (&error);
  g_assert_cmpuint (we_plugin_host_get_plugins (fx->host)->len, ==, 2);

  g_assert_cmpuint (we_plugin_host_load_dir (fx->host, "/nonexistent/plugins", &error), ==, 0);
  g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT);
}

static void
test_routing (Fixture *fx, gconstpointer data)
{
  g_autoptr(GPtrArray) storages = NULL;
  const gchar *id = NULL;
  WeStorage *storage;
  WeEncoder *encoder;
  WeAuthProvider *auth;

  we_plugin_host_load_dir (fx->host, WE_TEST_MODULE_DIR, NULL);

  /* both claim test://; a has the lower priority number */
  storage = we_plugin_host_storage_for_url (fx->host, "test://x", &id);
  g_assert_true (storage == (gpointer) we_plugin_host_get_instance (fx->host, "test-storage-a"));
  g_assert_cmpstr (id, ==, "test-storage-a");
  storage = we_plugin_host_storage_for_url (fx->host, "other://x", &id);
  g_assert_cmpstr (id, ==, "test-storage-b");
  g_assert_null (we_plugin_host_storage_for_url (fx->host, "s3://x", &id));
  g_assert_null (id);
  /* the duplicate claimed dup://, but never loaded */
  g_assert_null (we_plugin_host_storage_for_url (fx->host, "dup://x", NULL));
  g_assert_null (we_plugin_host_storage_for_url (fx->host, "never://x", NULL));

  /* a cannot take uploads */
  storage = we_plugin_host_default_storage (fx->host, &id);
  g_assert_nonnull (storage);
  g_assert_cmpstr (id, ==, "test-storage-b");

  storages = we_plugin_host_list_storages (fx->host);
  g_assert_cmpuint (storages->len, ==, 2);
  g_assert_cmpstr (((WePluginInfo *) g_ptr_array_index (storages, 0))->id, ==, "test-storage-a");

  encoder = we_plugin_host_encoder_for (fx->host, "h264", TRUE, &id);
  g_assert_nonnull (encoder);
  g_assert_cmpstr (id, ==, "test-encoder-gpu");
  encoder = we_plugin_host_encoder_for (fx->host, "h264", FALSE, &id);
  g_assert_cmpstr (id, ==, "test-encoder-cpu");
  /* no GPU encoder has vp9: fall back to a CPU one */
  encoder = we_plugin_host_encoder_for (fx->host, "VP9", TRUE, &id);
  g_assert_cmpstr (id, ==, "test-encoder-cpu");
  g_assert_null (we_plugin_host_encoder_for (fx->host, "av1", FALSE, &id));
  g_assert_null (id);

  /* test-wrong-iface also claimed the auth pillar but was refused */
  auth = we_plugin_host_auth (fx->host, &id);
  g_assert_true (WE_IS_AUTH_PROVIDER (auth));
  g_assert_cmpstr (id, ==, "test-auth");
}

static void
test_pillar_filter (Fixture *fx, gconstpointer data)
{
  const gchar *disabled[] = { "test-storage-b", NULL };
  guint healthy;

  we_plugin_host_set_pillar_filter (fx->host, 1u << WE_PILLAR_STORAGE);
  we_plugin_host_set_disabled (fx->host, disabled);
  healthy = we_plugin_host_load_dir (fx->host, WE_TEST_MODULE_DIR, NULL);
  g_assert_cmpuint (healthy, ==, 1);
  g_assert_null (we_plugin_host_auth (fx->host, NULL));
  g_assert_null (we_plugin_host_encoder_for (fx->host, "h264", FALSE, NULL));
  g_assert_null (we_plugin_host_get_instance (fx->host, "test-storage-b"));
  g_assert_nonnull (we_plugin_host_get_instance (fx->host, "test-storage-a"));
  /* filtered out and disabled modules are not even opened */
  g_assert_false (was_opened (fx, "test-encoder-cpu"));
  g_assert_false (was_opened (fx, "test-auth"));
  g_assert_false (was_opened (fx, "test-storage-b"));
  assert_refused (fx, "test-auth.plugin", WE_PLUGIN_STATE_DISABLED, "not loaded by this process");
  assert_refused (fx, "test-storage-b.plugin", WE_PLUGIN_STATE_DISABLED, "disabled by configuration");
}

/* stored override > config file > embedded defaults, key by key */
static void
test_resolve_config (Fixture *fx, gconstpointer data)
{
  g_autoptr(JsonObject) file = json_object_new ();
  g_autoptr(JsonObject) stored = json_object_new ();
  g_autoptr(JsonObject) defaults = json_object_new ();
  g_autoptr(JsonObject) a = NULL;
  g_autoptr(JsonObject) b = NULL;
  g_autoptr(JsonObject) c = NULL;

  json_object_set_string_member (defaults, "root", "/default");
  json_object_set_string_member (defaults, "mode", "none");
  we_plugin_host_set_config_defaults (fx->host, "test-storage-a", defaults);
  /* copied: changing the caller's object afterwards changes nothing */
  json_object_set_string_member (defaults, "root", "/changed");
  json_object_set_string_member (file, "root", "/file");
  json_object_set_string_member (file, "keep", "from-file");
  json_object_set_string_member (file, "dropped", "from-file");
  json_object_set_string_member (stored, "root", "/stored");
  json_object_set_null_member (stored, "dropped");
  json_object_set_null_member (stored, "mode");

  a = we_plugin_host_resolve_config (fx->host, "test-storage-a", file, stored);
  g_assert_cmpstr (json_object_get_string_member (a, "root"), ==, "/stored");
  g_assert_cmpstr (json_object_get_string_member (a, "keep"), ==, "from-file");
  g_assert_false (json_object_has_member (a, "dropped"));
  /* a default removed still fills in: the plugin needs something there */
  g_assert_cmpstr (json_object_get_string_member (a, "mode"), ==, "none");
  g_assert_cmpuint (json_object_get_size (a), ==, 3);

  b = we_plugin_host_resolve_config (fx->host, "test-storage-a", file, NULL);
  g_assert_cmpstr (json_object_get_string_member (b, "root"), ==, "/file");
  g_assert_cmpstr (json_object_get_string_member (b, "dropped"), ==, "from-file");

  c = we_plugin_host_resolve_config (fx->host, "test-storage-b", NULL, NULL);
  g_assert_cmpuint (json_object_get_size (c), ==, 0);
  g_clear_pointer (&c, json_object_unref);
  c = we_plugin_host_resolve_config (fx->host, "test-storage-a", NULL, NULL);
  g_assert_cmpstr (json_object_get_string_member (c, "root"), ==, "/default");
}

/* a fresh instance with another configuration, beside the routed one */
static void
test_instantiate (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) config = json_object_new ();
  g_autoptr(GObject) fresh = NULL;
  g_autoptr(GObject) disabled = NULL;
  const gchar *const off[] = { "test-storage-b", NULL };
  WePluginInfo *info;
  GObject *loaded;

  we_plugin_host_set_disabled (fx->host, off);
  we_plugin_host_load_dir (fx->host, WE_TEST_MODULE_DIR, &error);
  g_assert_no_error (error);
  g_assert_true (we_plugin_host_is_disabled (fx->host, "test-storage-b"));
  g_assert_false (we_plugin_host_is_disabled (fx->host, "test-storage-a"));
  info = we_plugin_host_get_plugin (fx->host, "test-storage-a");
  loaded = we_plugin_host_get_instance (fx->host, "test-storage-a");
  /* what the config func gave, before filtering, and when */
  g_assert_cmpstr (json_object_get_string_member (info->config, "secret"), ==, "hunter2");
  g_assert_cmpint (info->loaded_at, >, 0);

  json_object_set_string_member (config, "root", "/elsewhere");
  json_object_set_string_member (config, "undeclared", "x");
  fresh = we_plugin_host_instantiate (fx->host, "test-storage-a", config, &error);
  g_assert_no_error (error);
  g_assert_true (WE_IS_STORAGE (fresh));
  g_assert_true (fresh != loaded);
  g_assert_cmpstr (g_object_get_data (fresh, "test-config"), ==, "{\"root\":\"/elsewhere\"}");
  /* routing still has the loaded one */
  g_assert_true (we_plugin_host_get_instance (fx->host, "test-storage-a") == loaded);

  /* a plugin disabled at load can still be tried out */
  disabled = we_plugin_host_instantiate (fx->host, "test-storage-b", config, &error);
  g_assert_no_error (error);
  g_assert_true (WE_IS_STORAGE (disabled));
  g_assert_null (we_plugin_host_get_instance (fx->host, "test-storage-b"));

  g_assert_null (we_plugin_host_instantiate (fx->host, "test-create-fails", NULL, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG);
  g_clear_error (&error);
  g_assert_null (we_plugin_host_instantiate (fx->host, "test-wrong-iface", NULL, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_PLG_CRASHED);
  g_clear_error (&error);
  g_assert_null (we_plugin_host_instantiate (fx->host, "manifest:test-malformed", NULL, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_PLG_NOT_FOUND);
  g_clear_error (&error);
  g_assert_null (we_plugin_host_instantiate (fx->host, "no-such-plugin", NULL, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_PLG_NOT_FOUND);
  g_clear_error (&error);

  g_assert_true (we_plugin_config_key_is_secret ("client_secret"));
  g_assert_true (we_plugin_config_key_is_secret ("Bind_Password"));
  g_assert_true (we_plugin_config_key_is_secret ("secret_access_key"));
  g_assert_false (we_plugin_config_key_is_secret ("secret_access_key_ref"));
  g_assert_false (we_plugin_config_key_is_secret ("client_secret_ref"));
  g_assert_false (we_plugin_config_key_is_secret ("root"));
  g_assert_false (we_plugin_config_key_is_secret ("htpasswd"));
  g_assert_false (we_plugin_config_key_is_secret ("token_file"));
}

int
main (int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  int rc;

  g_test_init (&argc, &argv, NULL);
  marker_dir = g_dir_make_tmp ("we-plugin-host-XXXXXX", &error);
  g_assert_no_error (error);
  g_setenv ("WE_TEST_MARKER_DIR", marker_dir, TRUE);
  /* refusals are logged as warnings on purpose; only criticals are bugs */
  g_log_set_always_fatal (G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);

  /* the filter test proves modules stay unopened, so it runs first */
  g_test_add ("/plugin-host/pillar-filter", Fixture, NULL, fixture_setup, test_pillar_filter,
              fixture_teardown);
  g_test_add ("/plugin-host/load-dir", Fixture, NULL, fixture_setup, test_load_dir,
              fixture_teardown);
  g_test_add ("/plugin-host/load-manifest-errors", Fixture, NULL, fixture_setup,
              test_load_manifest_errors, fixture_teardown);
  g_test_add ("/plugin-host/routing", Fixture, NULL, fixture_setup, test_routing,
              fixture_teardown);
  g_test_add ("/plugin-host/resolve-config", Fixture, NULL, fixture_setup, test_resolve_config,
              fixture_teardown);
  g_test_add ("/plugin-host/instantiate", Fixture, NULL, fixture_setup, test_instantiate,
              fixture_teardown);
  rc = g_test_run ();
  remove_marker_dir ();
  return rc;
}
