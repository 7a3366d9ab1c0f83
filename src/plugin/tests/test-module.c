/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * One source, many test modules: meson builds it once per behaviour the host
 * must cope with (TEST_MODE_*). Each copy registers its own type name so
 * that several can live in one process, and leaves a marker file when it is
 * mapped, so a test can prove the host never opened a refused module.
 */
#include <webencode/webencode.h>

#include <stdlib.h>

#ifndef TEST_SCHEMES
#define TEST_SCHEMES "test"
#endif
#ifndef TEST_UPLOAD
#define TEST_UPLOAD FALSE
#endif
#ifndef TEST_CODECS
#define TEST_CODECS "h264"
#endif
#ifndef TEST_GPU
#define TEST_GPU FALSE
#endif

/* Runs when the dynamic linker maps the module, before any check of ours
 * could: exactly what a module refused from its manifest must never do. */
__attribute__ ((constructor)) static void
test_module_mark_opened (void)
{
  const gchar *dir = getenv ("WE_TEST_MARKER_DIR");
  g_autofree gchar *path = NULL;

  if (dir == NULL)
    return;
  path = g_strdup_printf ("%s/%s.opened", dir, TEST_MODULE);
  g_file_set_contents (path, TEST_ID, -1, NULL);
}

typedef struct {
  GObject parent_instance;
} TestObject;

typedef struct {
  GObjectClass parent_class;
} TestObjectClass;

static gboolean
test_handles_url (WeStorage *storage, const gchar *url)
{
  g_auto(GStrv) schemes = g_strsplit (TEST_SCHEMES, ";", -1);
  g_autofree gchar *scheme = g_uri_parse_scheme (url);

  return scheme != NULL && g_strv_contains ((const gchar * const *) schemes, scheme);
}

static void
test_storage_caps (WeStorage *storage, WeStorageCapabilities *caps)
{
  caps->supports_upload = TEST_UPLOAD;
  caps->storage_type = "test";
}

static gchar *
test_make_url (WeStorage *storage, const gchar *key)
{
  return g_strdup_printf ("test://%s", key);
}

static void
test_storage_iface_init (gpointer g_iface, gpointer data)
{
  WeStorageInterface *iface = g_iface;

  iface->handles_url = test_handles_url;
  iface->get_capabilities = test_storage_caps;
  iface->make_url = test_make_url;
}

static void
test_encoder_caps (WeEncoder *encoder, WeEncoderCapabilities *caps)
{
  caps->video_codecs = g_strsplit (TEST_CODECS, ";", -1);
  caps->gpu_accelerated = TEST_GPU;
}

static void
test_encoder_iface_init (gpointer g_iface, gpointer data)
{
  WeEncoderInterface *iface = g_iface;

  iface->get_capabilities = test_encoder_caps;
}

static WeIdentity *
test_authenticate (WeAuthProvider *provider, const WeAuthRequest *request, GError **error)
{
  WeIdentity *identity = we_identity_new ();

  identity->user_id = g_strdup ("test");
  identity->username = g_strdup ("test");
  identity->role = WE_ROLE_VIEWER;
  return identity;
}

static void
test_auth_iface_init (gpointer g_iface, gpointer data)
{
  WeAuthProviderInterface *iface = g_iface;

  iface->authenticate = test_authenticate;
}

static GType
test_object_get_type (void)
{
  static gsize type_id = 0;

  if (g_once_init_enter (&type_id)) {
    GType type = g_type_register_static_simple (G_TYPE_OBJECT, TEST_TYPE_NAME,
                                                sizeof (TestObjectClass), NULL,
                                                sizeof (TestObject), NULL, 0);
    WePillarType pillar = TEST_PILLAR;
#ifdef TEST_MODE_WRONG_IFACE
    /* claims a pillar whose interface it does not implement */
    pillar = WE_PILLAR_STORAGE;
#endif
    if (pillar == WE_PILLAR_STORAGE) {
      const GInterfaceInfo info = { test_storage_iface_init, NULL, NULL };
      g_type_add_interface_static (type, WE_TYPE_STORAGE, &info);
    } else if (pillar == WE_PILLAR_ENCODER) {
      const GInterfaceInfo info = { test_encoder_iface_init, NULL, NULL };
      g_type_add_interface_static (type, WE_TYPE_ENCODER, &info);
    } else if (pillar == WE_PILLAR_AUTH) {
      const GInterfaceInfo info = { test_auth_iface_init, NULL, NULL };
      g_type_add_interface_static (type, WE_TYPE_AUTH_PROVIDER, &info);
    }
    g_once_init_leave (&type_id, type);
  }
  return type_id;
}

static GObject *
test_create (JsonObject *config, GError **error)
{
  GObject *obj;
  g_autoptr(JsonNode) node = json_node_new (JSON_NODE_OBJECT);

#ifdef TEST_MODE_CREATE_FAILS
  g_set_error_literal (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG, "'root' is required");
  return NULL;
#endif
  obj = g_object_new (test_object_get_type (), NULL);
  /* lets the test see exactly which config keys reached the module */
  json_node_set_object (node, config);
  g_object_set_data_full (obj, "test-config", json_to_string (node, FALSE), g_free);
  return obj;
}

static const gchar * const test_config_keys[] = { "root", NULL };

static const WePluginDescriptor test_descriptor = {
#ifdef TEST_MODE_BAD_PROTOCOL
  .protocol_version = 99,
#else
  .protocol_version = WE_PLUGIN_PROTOCOL_VERSION,
#endif
#ifdef TEST_MODE_BAD_ABI
  .abi_minor = WE_PLUGIN_ABI_MINOR + 1,
#else
  .abi_minor = WE_PLUGIN_ABI_MINOR,
#endif
#ifdef TEST_MODE_ID_MISMATCH
  .id = "somebody-else",
#else
  .id = TEST_ID,
#endif
  .pillar = TEST_PILLAR,
  .version = "0.1.0",
  .config_keys = test_config_keys,
  .create = test_create,
};

WE_PLUGIN_DEFINE (test_descriptor)
