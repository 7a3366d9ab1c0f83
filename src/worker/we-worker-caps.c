/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "we-worker-caps.h"

#include <gio/gio.h>
#include <gst/gst.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Hardware encoders by name, for element factories whose klass does not say
 * "Hardware" (some builds of v4l2, omx and older vaapi do not) and so the
 * codec is known without reading pad templates. */
static const struct {
  const gchar *element;
  const gchar *codec;
} known_hw_encoders[] = {
  { "nvh264enc", "h264" },       { "nvh265enc", "hevc" },       { "nvav1enc", "av1" },
  { "nvcudah264enc", "h264" },   { "nvcudah265enc", "hevc" },
  { "nvautogpuh264enc", "h264" }, { "nvautogpuh265enc", "hevc" },
  { "vah264enc", "h264" },       { "vah264lpenc", "h264" },     { "vah265enc", "hevc" },
  { "vah265lpenc", "hevc" },     { "vavp8enc", "vp8" },         { "vavp9enc", "vp9" },
  { "vaav1enc", "av1" },
  { "vaapih264enc", "h264" },    { "vaapih265enc", "hevc" },    { "vaapivp8enc", "vp8" },
  { "vaapivp9enc", "vp9" },      { "vaapiav1enc", "av1" },      { "vaapimpeg2enc", "mpeg2" },
  { "qsvh264enc", "h264" },      { "qsvh265enc", "hevc" },      { "qsvvp9enc", "vp9" },
  { "qsvav1enc", "av1" },
  { "msdkh264enc", "h264" },     { "msdkh265enc", "hevc" },     { "msdkvp9enc", "vp9" },
  { "msdkav1enc", "av1" },       { "msdkmpeg2enc", "mpeg2" },
  { "v4l2h264enc", "h264" },     { "v4l2h265enc", "hevc" },     { "v4l2vp8enc", "vp8" },
  { "v4l2vp9enc", "vp9" },
  { "amfh264enc", "h264" },      { "amfh265enc", "hevc" },      { "amfav1enc", "av1" },
  { "omxh264enc", "h264" },      { "omxh265enc", "hevc" },
};

/* The media types encoders produce, in our codec names (the profile's). */
static const struct {
  const gchar *media_type;
  const gchar *codec;
} codec_media_types[] = {
  { "video/x-h264", "h264" }, { "video/x-h265", "hevc" }, { "video/x-vp8", "vp8" },
  { "video/x-vp9", "vp9" },   { "video/x-av1", "av1" },   { "video/mpeg", "mpeg2" },
};

/* Same names as the encoder pillar's gpu_type, so routing can compare them. */
static const struct {
  const gchar *prefix;
  const gchar *gpu_type;
} gpu_prefixes[] = {
  { "nv", "nvidia" }, { "vaapi", "vaapi" }, { "va", "vaapi" }, { "qsv", "qsv" },
  { "msdk", "qsv" },  { "v4l2", "v4l2" },   { "amf", "amd" },  { "omx", "omx" },
};

static void
add_unique (GPtrArray *list, gchar **items)
{
  for (guint i = 0; items != NULL && items[i] != NULL; i++) {
    if (!g_ptr_array_find_with_equal_func (list, items[i], g_str_equal, NULL))
      g_ptr_array_add (list, g_strdup (items[i]));
  }
}

static JsonArray *
json_array_from_strings (GPtrArray *list)
{
  JsonArray *array = json_array_new ();

  for (guint i = 0; i < list->len; i++)
    json_array_add_string_element (array, g_ptr_array_index (list, i));
  return array;
}

static gboolean
klass_has (const gchar *const *tokens, const gchar *token)
{
  return tokens != NULL && g_strv_contains (tokens, token);
}

static const gchar *
known_codec (const gchar *element)
{
  for (gsize i = 0; i < G_N_ELEMENTS (known_hw_encoders); i++) {
    if (g_str_equal (known_hw_encoders[i].element, element))
      return known_hw_encoders[i].codec;
  }
  return NULL;
}

/* The codec an encoder outputs, from its source pad templates. */
static const gchar *
codec_from_templates (GstElementFactory *factory)
{
  const GList *templates = gst_element_factory_get_static_pad_templates (factory);

  for (const GList *l = templates; l != NULL; l = l->next) {
    GstStaticPadTemplate *templ = l->data;
    g_autoptr(GstCaps) caps = NULL;

    if (templ->direction != GST_PAD_SRC)
      continue;
    caps = gst_static_caps_get (&templ->static_caps);
    for (guint i = 0; caps != NULL && i < gst_caps_get_size (caps); i++) {
      const gchar *name = gst_structure_get_name (gst_caps_get_structure (caps, i));

      for (gsize j = 0; j < G_N_ELEMENTS (codec_media_types); j++) {
        if (g_str_equal (codec_media_types[j].media_type, name))
          return codec_media_types[j].codec;
      }
    }
  }
  return NULL;
}

static const gchar *
gpu_type_of (const gchar *element)
{
  for (gsize i = 0; i < G_N_ELEMENTS (gpu_prefixes); i++) {
    if (g_str_has_prefix (element, gpu_prefixes[i].prefix))
      return gpu_prefixes[i].gpu_type;
  }
  return NULL;
}

static gint
compare_element_names (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (json_object_get_string_member (*(JsonObject **) a, "element"),
                    json_object_get_string_member (*(JsonObject **) b, "element"));
}

JsonArray *
we_worker_caps_hw_encoders (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) found = g_ptr_array_new_with_free_func ((GDestroyNotify)
                                                                json_object_unref);
  JsonArray *array = json_array_new ();
  GList *features;

  if (!gst_is_initialized () && !gst_init_check (NULL, NULL, &error)) {
    g_warning ("cannot look for hardware encoders: %s", error->message);
    return array;
  }
  features = gst_registry_get_feature_list (gst_registry_get (), GST_TYPE_ELEMENT_FACTORY);
  for (GList *l = features; l != NULL; l = l->next) {
    GstElementFactory *factory = GST_ELEMENT_FACTORY (l->data);
    const gchar *element = gst_plugin_feature_get_name (GST_PLUGIN_FEATURE (factory));
    const gchar *klass = gst_element_factory_get_metadata (factory,
                                                           GST_ELEMENT_METADATA_KLASS);
    g_auto(GStrv) tokens = klass != NULL ? g_strsplit (klass, "/", -1) : NULL;
    const gchar *codec = known_codec (element);
    const gchar *gpu_type;
    JsonObject *entry;

    if (codec == NULL) {
      if (!klass_has ((const gchar *const *) tokens, "Encoder") ||
          !klass_has ((const gchar *const *) tokens, "Video") ||
          !klass_has ((const gchar *const *) tokens, "Hardware"))
        continue;
      codec = codec_from_templates (factory);
      /* e.g. a JPEG or raw encoder: of no use to a video profile */
      if (codec == NULL)
        continue;
    }
    gpu_type = gpu_type_of (element);
    entry = json_object_new ();
    json_object_set_string_member (entry, "element", element);
    json_object_set_string_member (entry, "codec", codec);
    if (gpu_type != NULL)
      json_object_set_string_member (entry, "gpu_type", gpu_type);
    else
      json_object_set_null_member (entry, "gpu_type");
    g_ptr_array_add (found, entry);
  }
  gst_plugin_feature_list_free (features);

  /* the registry's order is its cache's; a stable one is easier to read */
  g_ptr_array_sort (found, compare_element_names);
  for (guint i = 0; i < found->len; i++)
    json_array_add_object_element (array, json_object_ref (g_ptr_array_index (found, i)));
  return array;
}

guint64
we_worker_caps_memory_bytes (void)
{
  g_autofree gchar *meminfo = NULL;
  glong pages = sysconf (_SC_PHYS_PAGES);
  glong page_size = sysconf (_SC_PAGE_SIZE);

  if (g_file_get_contents ("/proc/meminfo", &meminfo, NULL, NULL)) {
    g_auto(GStrv) lines = g_strsplit (meminfo, "\n", -1);

    for (guint i = 0; lines[i] != NULL; i++) {
      guint64 kib;
      gchar *end = NULL;

      if (!g_str_has_prefix (lines[i], "MemTotal:"))
        continue;
      kib = g_ascii_strtoull (lines[i] + strlen ("MemTotal:"), &end, 10);
      if (end != NULL && end != lines[i] + strlen ("MemTotal:") && kib > 0)
        return kib * 1024;
    }
  }
  if (pages > 0 && page_size > 0)
    return (guint64) pages * (guint64) page_size;
  return 0;
}

gchar *
we_worker_caps_ip_address (void)
{
  struct ifaddrs *addrs = NULL;
  g_autofree gchar *ipv6 = NULL;
  gchar *ipv4 = NULL;

  if (getifaddrs (&addrs) != 0)
    return NULL;
  for (struct ifaddrs *ifa = addrs; ifa != NULL && ipv4 == NULL; ifa = ifa->ifa_next) {
    g_autoptr(GSocketAddress) sa = NULL;
    GInetAddress *inet;
    gsize len;

    if (ifa->ifa_addr == NULL || (ifa->ifa_flags & IFF_UP) == 0 ||
        (ifa->ifa_flags & IFF_LOOPBACK) != 0)
      continue;
    if (ifa->ifa_addr->sa_family == AF_INET)
      len = sizeof (struct sockaddr_in);
    else if (ifa->ifa_addr->sa_family == AF_INET6)
      len = sizeof (struct sockaddr_in6);
    else
      continue;
    sa = g_socket_address_new_from_native (ifa->ifa_addr, len);
    if (sa == NULL || !G_IS_INET_SOCKET_ADDRESS (sa))
      continue;
    inet = g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (sa));
    if (g_inet_address_get_is_loopback (inet))
      continue;
    if (g_inet_address_get_family (inet) == G_SOCKET_FAMILY_IPV4)
      ipv4 = g_inet_address_to_string (inet);
    /* a link-local IPv6 address means nothing without its interface */
    else if (ipv6 == NULL && !g_inet_address_get_is_link_local (inet))
      ipv6 = g_inet_address_to_string (inet);
  }
  freeifaddrs (addrs);
  return ipv4 != NULL ? ipv4 : g_steal_pointer (&ipv6);
}

JsonObject *
we_worker_caps_collect (WePluginHost *host, guint max_parallel_tasks)
{
  g_autoptr(GPtrArray) video = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) audio = g_ptr_array_new_with_free_func (g_free);
  g_autofree gchar *gpu_type = NULL;
  g_autofree gchar *ip = we_worker_caps_ip_address ();
  JsonObject *caps = json_object_new ();
  GPtrArray *infos = host != NULL ? we_plugin_host_get_plugins (host) : NULL;
  gboolean gpu = FALSE;

  g_return_val_if_fail (host == NULL || WE_IS_PLUGIN_HOST (host), caps);

  /* codecs and the GPU are what the encoder pillars will actually use (a
   * plugin may be configured to leave the hardware alone); hw_encoders below
   * is what the machine offers */
  for (guint i = 0; infos != NULL && i < infos->len; i++) {
    WePluginInfo *info = g_ptr_array_index (infos, i);
    g_auto(WeEncoderCapabilities) ec = { 0 };

    if (info->pillar != WE_PILLAR_ENCODER || info->state != WE_PLUGIN_STATE_HEALTHY ||
        info->instance == NULL || !WE_IS_ENCODER (info->instance))
      continue;
    we_encoder_get_capabilities (WE_ENCODER (info->instance), &ec);
    add_unique (video, ec.video_codecs);
    add_unique (audio, ec.audio_codecs);
    gpu |= ec.gpu_accelerated;
    if (gpu_type == NULL && ec.gpu_type != NULL)
      gpu_type = g_strdup (ec.gpu_type);
  }

  json_object_set_array_member (caps, "video_codecs", json_array_from_strings (video));
  json_object_set_array_member (caps, "audio_codecs", json_array_from_strings (audio));
  json_object_set_array_member (caps, "hw_encoders", we_worker_caps_hw_encoders ());
  json_object_set_boolean_member (caps, "gpu_accelerated", gpu);
  if (gpu_type != NULL)
    json_object_set_string_member (caps, "gpu_type", gpu_type);
  else
    json_object_set_null_member (caps, "gpu_type");
  json_object_set_int_member (caps, "cores", g_get_num_processors ());
  json_object_set_int_member (caps, "memory_bytes", (gint64) we_worker_caps_memory_bytes ());
  json_object_set_string_member (caps, "hostname", g_get_host_name ());
  if (ip != NULL)
    json_object_set_string_member (caps, "ip_address", ip);
  else
    json_object_set_null_member (caps, "ip_address");
  json_object_set_int_member (caps, "max_parallel_tasks", max_parallel_tasks);
  return caps;
}
