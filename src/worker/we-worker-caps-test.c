/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * we_worker_caps_collect() against this machine: its processors, memory,
 * name and addresses, the real encoder-gst plugin of the build tree, and the
 * real GStreamer registry (with two element factories of our own added, since
 * no hardware encoder is reachable here).
 */
#include "config.h"

#include <gio/gio.h>
#include <gst/gst.h>
#include <string.h>
#include <sys/sysinfo.h>

#include "we-worker-caps.h"

/* ---- element factories for the registry ---------------------------------- */

typedef GstElement WeTestHwEnc;
typedef GstElementClass WeTestHwEncClass;
typedef GstElement WeTestSwEnc;
typedef GstElementClass WeTestSwEncClass;
typedef GstElement WeTestNamedEnc;
typedef GstElementClass WeTestNamedEncClass;

GType we_test_hw_enc_get_type (void);
GType we_test_sw_enc_get_type (void);
GType we_test_named_enc_get_type (void);

G_DEFINE_TYPE (WeTestHwEnc, we_test_hw_enc, GST_TYPE_ELEMENT)
G_DEFINE_TYPE (WeTestSwEnc, we_test_sw_enc, GST_TYPE_ELEMENT)
G_DEFINE_TYPE (WeTestNamedEnc, we_test_named_enc, GST_TYPE_ELEMENT)

static GstStaticPadTemplate h265_src = GST_STATIC_PAD_TEMPLATE (
  "src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS ("video/x-h265, stream-format=byte-stream"));
static GstStaticPadTemplate h264_src = GST_STATIC_PAD_TEMPLATE (
  "src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS ("video/x-h264"));

/* what a vendor's encoder says about itself */
static void
we_test_hw_enc_class_init (WeTestHwEncClass *klass)
{
  gst_element_class_add_static_pad_template (klass, &h265_src);
  gst_element_class_set_static_metadata (klass, "Test HEVC hardware encoder",
                                         "Codec/Encoder/Video/Hardware", "test", "test");
}

static void
we_test_hw_enc_init (WeTestHwEnc *self)
{
}

/* a software encoder must not count */
static void
we_test_sw_enc_class_init (WeTestSwEncClass *klass)
{
  gst_element_class_add_static_pad_template (klass, &h264_src);
  gst_element_class_set_static_metadata (klass, "Test H.264 software encoder",
                                         "Codec/Encoder/Video", "test", "test");
}

static void
we_test_sw_enc_init (WeTestSwEnc *self)
{
}

/* a known hardware encoder whose klass forgets to say so */
static void
we_test_named_enc_class_init (WeTestNamedEncClass *klass)
{
  gst_element_class_add_static_pad_template (klass, &h264_src);
  gst_element_class_set_static_metadata (klass, "Test V4L2 H.264 encoder",
                                         "Codec/Encoder/Video", "test", "test");
}

static void
we_test_named_enc_init (WeTestNamedEnc *self)
{
}

/* ---- helpers ------------------------------------------------------------- */

static gboolean
array_has_string (JsonArray *array, const gchar *value)
{
  for (guint i = 0; i < json_array_get_length (array); i++) {
    if (g_strcmp0 (json_array_get_string_element (array, i), value) == 0)
      return TRUE;
  }
  return FALSE;
}

static JsonObject *
find_hw (JsonArray *hw, const gchar *element)
{
  for (guint i = 0; i < json_array_get_length (hw); i++) {
    JsonObject *entry = json_array_get_object_element (hw, i);

    if (g_strcmp0 (json_object_get_string_member (entry, "element"), element) == 0)
      return entry;
  }
  return NULL;
}

static JsonObject *
encoder_config (const gchar *plugin_id, gpointer user_data)
{
  return json_object_new ();
}

/* ---- tests --------------------------------------------------------------- */

static void
test_machine (void)
{
  g_autoptr(JsonObject) caps = we_worker_caps_collect (NULL, 3);
  struct sysinfo si;
  gint64 memory = json_object_get_int_member (caps, "memory_bytes");
  gint64 expected;

  g_assert_cmpint (json_object_get_int_member (caps, "cores"), ==, g_get_num_processors ());
  g_assert_cmpint (json_object_get_int_member (caps, "cores"), >, 0);
  /* sysinfo() is another way to the same number the kernel keeps */
  g_assert_cmpint (sysinfo (&si), ==, 0);
  expected = (gint64) si.totalram * si.mem_unit;
  g_test_message ("memory_bytes %" G_GINT64_FORMAT ", sysinfo %" G_GINT64_FORMAT, memory,
                  expected);
  g_assert_cmpint (memory, >, 0);
  g_assert_cmpint (ABS (memory - expected), <=, expected / 100);
  g_assert_cmpstr (json_object_get_string_member (caps, "hostname"), ==, g_get_host_name ());
  g_assert_cmpint (json_object_get_int_member (caps, "max_parallel_tasks"), ==, 3);
  /* no plugins, no codecs and no GPU to use */
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (caps, "video_codecs")),
                    ==, 0);
  g_assert_false (json_object_get_boolean_member (caps, "gpu_accelerated"));
  g_assert_true (json_object_get_null_member (caps, "gpu_type"));
  g_assert_nonnull (json_object_get_array_member (caps, "hw_encoders"));
}

static void
test_ip_address (void)
{
  g_autofree gchar *ip = we_worker_caps_ip_address ();
  g_autofree gchar *out = NULL;
  g_autoptr(JsonObject) caps = we_worker_caps_collect (NULL, 1);
  const gchar *argv[] = { "hostname", "-I", NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(GInetAddress) addr = NULL;

  g_test_message ("ip_address %s", ip != NULL ? ip : "(none)");
  if (ip == NULL) {
    g_assert_true (json_object_get_null_member (caps, "ip_address"));
    return;
  }
  g_assert_cmpstr (json_object_get_string_member (caps, "ip_address"), ==, ip);
  addr = g_inet_address_new_from_string (ip);
  g_assert_nonnull (addr);
  g_assert_false (g_inet_address_get_is_loopback (addr));
  g_assert_false (g_inet_address_get_is_link_local (addr) &&
                  g_inet_address_get_family (addr) == G_SOCKET_FAMILY_IPV6);

  /* hostname -I lists the host's addresses but loopback and link-local */
  if (!g_spawn_sync (NULL, (gchar **) argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL,
                     NULL, NULL, &out, NULL, NULL, &error)) {
    g_test_message ("no hostname -I to compare with: %s", error->message);
    return;
  }
  {
    g_auto(GStrv) listed = g_strsplit_set (g_strstrip (out), " \t\n", -1);

    g_assert_true (g_strv_contains ((const gchar * const *) listed, ip));
  }
}

static void
test_hw_encoders (void)
{
  g_autoptr(JsonArray) hw = NULL;
  gboolean named_is_ours = FALSE;
  JsonObject *entry;

  g_assert_true (gst_element_register (NULL, "wetesthwh265enc", GST_RANK_NONE,
                                       we_test_hw_enc_get_type ()));
  g_assert_true (gst_element_register (NULL, "wetestswh264enc", GST_RANK_NONE,
                                       we_test_sw_enc_get_type ()));
  /* only where the real one is absent, which is the case without the device */
  if (gst_element_factory_find ("v4l2h264enc") == NULL) {
    g_assert_true (gst_element_register (NULL, "v4l2h264enc", GST_RANK_NONE,
                                         we_test_named_enc_get_type ()));
    named_is_ours = TRUE;
  }

  hw = we_worker_caps_hw_encoders ();
  for (guint i = 0; i < json_array_get_length (hw); i++) {
    JsonObject *e = json_array_get_object_element (hw, i);
    const gchar *element = json_object_get_string_member (e, "element");
    g_autoptr(GstElementFactory) factory = gst_element_factory_find (element);

    g_test_message ("hardware encoder %s (%s)", element,
                    json_object_get_string_member (e, "codec"));
    g_assert_nonnull (factory);
    g_assert_nonnull (json_object_get_string_member (e, "codec"));
  }

  entry = find_hw (hw, "wetesthwh265enc");
  g_assert_nonnull (entry);
  g_assert_cmpstr (json_object_get_string_member (entry, "codec"), ==, "hevc");
  g_assert_true (json_object_get_null_member (entry, "gpu_type"));
  g_assert_null (find_hw (hw, "wetestswh264enc"));
  /* the software encoders of this machine are no hardware ones either */
  g_assert_null (find_hw (hw, "x264enc"));
  g_assert_null (find_hw (hw, "x265enc"));
  if (named_is_ours) {
    entry = find_hw (hw, "v4l2h264enc");
    g_assert_nonnull (entry);
    g_assert_cmpstr (json_object_get_string_member (entry, "codec"), ==, "h264");
    g_assert_cmpstr (json_object_get_string_member (entry, "gpu_type"), ==, "v4l2");
  }
}

static void
test_encoder_plugin (void)
{
  const gchar *plugin_dir = g_getenv ("WE_PLUGIN_DIR");
  g_autoptr(WePluginHost) host = NULL;
  g_autoptr(JsonObject) caps = NULL;
  g_autoptr(GError) error = NULL;
  JsonArray *video, *audio;
  guint healthy;

  if (plugin_dir == NULL) {
    g_test_skip ("run through meson test (WE_PLUGIN_DIR)");
    return;
  }
  host = we_plugin_host_new ();
  we_plugin_host_set_config_func (host, encoder_config, NULL, NULL);
  we_plugin_host_set_pillar_filter (host, 1u << WE_PILLAR_ENCODER);
  healthy = we_plugin_host_load_dir (host, plugin_dir, &error);
  g_assert_no_error (error);
  g_assert_nonnull (we_plugin_host_get_instance (host, "encoder-gst"));
  g_assert_cmpuint (healthy, >=, 1);

  caps = we_worker_caps_collect (host, 1);
  video = json_object_get_array_member (caps, "video_codecs");
  audio = json_object_get_array_member (caps, "audio_codecs");
  /* x264enc and avenc_aac are installed here, so the real plugin offers them */
  g_assert_true (array_has_string (video, "h264"));
  g_assert_true (array_has_string (audio, "aac"));
  g_assert_cmpint (json_object_get_boolean_member (caps, "gpu_accelerated"), ==,
                   !json_object_get_null_member (caps, "gpu_type"));
  g_assert_cmpint (json_object_get_int_member (caps, "cores"), ==, g_get_num_processors ());
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  gst_init (&argc, &argv);

  g_test_add_func ("/worker-caps/machine", test_machine);
  g_test_add_func ("/worker-caps/ip-address", test_ip_address);
  g_test_add_func ("/worker-caps/hw-encoders", test_hw_encoders);
  g_test_add_func ("/worker-caps/encoder-plugin", test_encoder_plugin);
  return g_test_run ();
}
