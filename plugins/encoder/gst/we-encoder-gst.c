/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include "we-encoder-gst.h"

#include <gst/gst.h>
#include <gst/pbutils/pbutils.h>
#include <webencode/we-plugin.h>

#include "we-gst-elements.h"
#include "we-gst-encoders.h"
#include "we-gst-package.h"
#include "we-gst-pipeline.h"
#include "we-gst-probe.h"
#include "we-gst-scan.h"
#include "we-gst-stitch.h"
#include "we-gst-transcode.h"

#define MAX_THREADS 256

struct _WeEncoderGst {
  GObject      parent_instance;
  WeGstOptions options;
};

static void we_encoder_gst_iface_init (WeEncoderInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (WeEncoderGst, we_encoder_gst, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (WE_TYPE_ENCODER, we_encoder_gst_iface_init))

static void
we_encoder_gst_get_capabilities (WeEncoder *encoder, WeEncoderCapabilities *caps)
{
  WeEncoderGst *self = WE_ENCODER_GST (encoder);
  const gchar *gpu = self->options.allow_hardware ? we_gst_encoders_gpu_type () : NULL;

  caps->video_codecs = we_gst_encoders_video_codecs (self->options.allow_hardware);
  caps->audio_codecs = we_gst_encoders_audio_codecs ();
  caps->gpu_accelerated = gpu != NULL;
  caps->gpu_type = g_strdup (gpu);
}

static void
we_encoder_gst_probe_async (WeEncoder *encoder, const gchar *uri, GCancellable *cancellable,
                            GAsyncReadyCallback callback, gpointer user_data)
{
  we_gst_probe_async (encoder, uri, cancellable, callback, user_data);
}

static WeMediaInfo *
we_encoder_gst_probe_finish (WeEncoder *encoder, GAsyncResult *result, GError **error)
{
  g_autoptr(WeGstProbeResult) probe = we_gst_probe_finish (result, error);

  if (probe == NULL)
    return NULL;
  return g_steal_pointer (&probe->info);
}

static void
we_encoder_gst_transcode_async (WeEncoder *encoder, const WeEncodeRequest *request,
                                WeEncodeProgressFunc progress, gpointer progress_data,
                                GCancellable *cancellable, GAsyncReadyCallback callback,
                                gpointer user_data)
{
  WeEncoderGst *self = WE_ENCODER_GST (encoder);

  we_gst_transcode_async (self, request, &self->options, progress, progress_data, cancellable,
                          callback, user_data);
}

static gboolean
we_encoder_gst_transcode_finish (WeEncoder *encoder, GAsyncResult *result, GError **error)
{
  return we_gst_transcode_finish (result, error);
}

static gchar *
we_encoder_gst_describe (WeEncoder *encoder, const WeEncodeRequest *request)
{
  WeEncoderGst *self = WE_ENCODER_GST (encoder);
  g_autoptr(WeGstProbeResult) probe = NULL;
  g_autoptr(WeGstPlan) plan = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *line = NULL;

  if (request == NULL || request->profile == NULL)
    return NULL;

  /* describe() is synchronous; a blocking discover of the source gives the
   * exact output size. Without it videoscale keeps the aspect by itself. */
  if (request->input_uri != NULL && gst_uri_is_valid (request->input_uri)) {
    g_autoptr(GstDiscoverer) discoverer = gst_discoverer_new (5 * GST_SECOND, NULL);
    g_autoptr(GstDiscovererInfo) dinfo = NULL;

    if (discoverer != NULL)
      dinfo = gst_discoverer_discover_uri (discoverer, request->input_uri, NULL);
    if (dinfo != NULL && gst_discoverer_info_get_result (dinfo) == GST_DISCOVERER_OK) {
      GList *videos = gst_discoverer_info_get_video_streams (dinfo);
      GList *audios = gst_discoverer_info_get_audio_streams (dinfo);

      if (videos != NULL) {
        GstDiscovererVideoInfo *v = videos->data;

        probe = g_new0 (WeGstProbeResult, 1);
        probe->info = we_media_info_new ();
        probe->info->has_video = TRUE;
        probe->info->has_audio = audios != NULL;
        probe->info->width = (gint) gst_discoverer_video_info_get_width (v);
        probe->info->height = (gint) gst_discoverer_video_info_get_height (v);
        probe->info->fps_n = (gint) gst_discoverer_video_info_get_framerate_num (v);
        probe->info->fps_d = (gint) gst_discoverer_video_info_get_framerate_denom (v);
        probe->par_n = (gint) gst_discoverer_video_info_get_par_num (v);
        probe->par_d = (gint) gst_discoverer_video_info_get_par_denom (v);
        if (probe->par_n <= 0 || probe->par_d <= 0)
          probe->par_n = probe->par_d = 1;
      }
      gst_discoverer_stream_info_list_free (videos);
      gst_discoverer_stream_info_list_free (audios);
    }
  }

  plan = we_gst_plan_new (request, probe, &self->options, &error);
  if (plan == NULL) {
    g_debug ("cannot describe: %s", error->message);
    return NULL;
  }
  line = we_gst_plan_to_launch (plan);
  /* gst-launch cannot seek, so a range can only be noted */
  if (request->start_s > 0 || request->duration_s > 0)
    return g_strdup_printf ("%s  # range %.3f s + %.3f s: not expressible in gst-launch-1.0",
                            line, request->start_s, request->duration_s);
  return g_steal_pointer (&line);
}

static void
we_encoder_gst_scan_async (WeEncoder *encoder, const gchar *uri, GCancellable *cancellable,
                           GAsyncReadyCallback callback, gpointer user_data)
{
  we_gst_scan_async (encoder, uri, cancellable, callback, user_data);
}

static WeKeyframeIndex *
we_encoder_gst_scan_finish (WeEncoder *encoder, GAsyncResult *result, GError **error)
{
  return we_gst_scan_finish (result, error);
}

static void
we_encoder_gst_stitch_async (WeEncoder *encoder, const WeStitchRequest *request,
                             GCancellable *cancellable, GAsyncReadyCallback callback,
                             gpointer user_data)
{
  we_gst_stitch_async (encoder, request, cancellable, callback, user_data);
}

static gboolean
we_encoder_gst_stitch_finish (WeEncoder *encoder, GAsyncResult *result, WeStitchReport *report,
                              GError **error)
{
  return we_gst_stitch_finish (result, report, error);
}

static void
we_encoder_gst_package_async (WeEncoder *encoder, const WePackageRequest *request,
                              WeEncodeProgressFunc progress, gpointer progress_data,
                              GCancellable *cancellable, GAsyncReadyCallback callback,
                              gpointer user_data)
{
  WeEncoderGst *self = WE_ENCODER_GST (encoder);

  we_gst_package_async (self, request, &self->options, progress, progress_data, cancellable,
                        callback, user_data);
}

static JsonObject *
we_encoder_gst_package_finish (WeEncoder *encoder, GAsyncResult *result, GError **error)
{
  return we_gst_package_finish (result, error);
}

static void
we_encoder_gst_iface_init (WeEncoderInterface *iface)
{
  iface->get_capabilities = we_encoder_gst_get_capabilities;
  iface->probe_async = we_encoder_gst_probe_async;
  iface->probe_finish = we_encoder_gst_probe_finish;
  iface->transcode_async = we_encoder_gst_transcode_async;
  iface->transcode_finish = we_encoder_gst_transcode_finish;
  iface->describe = we_encoder_gst_describe;
  iface->scan_async = we_encoder_gst_scan_async;
  iface->scan_finish = we_encoder_gst_scan_finish;
  iface->stitch_async = we_encoder_gst_stitch_async;
  iface->stitch_finish = we_encoder_gst_stitch_finish;
  iface->package_async = we_encoder_gst_package_async;
  iface->package_finish = we_encoder_gst_package_finish;
}

static void
we_encoder_gst_class_init (WeEncoderGstClass *klass)
{
}

static void
we_encoder_gst_init (WeEncoderGst *self)
{
  self->options.allow_hardware = TRUE;
}

WeEncoderGst *
we_encoder_gst_new (JsonObject *config, GError **error)
{
  g_autoptr(WeEncoderGst) self = g_object_new (WE_TYPE_ENCODER_GST, NULL);
  gint64 threads = 0;
  const gchar *hardware = "auto";

  if (config != NULL) {
    threads = we_plugin_config_get_int (config, "threads", 0);
    hardware = we_plugin_config_get_string (config, "hardware", "auto");
  }
  if (threads < 0 || threads > MAX_THREADS) {
    g_set_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                 "threads must be between 0 (auto) and %d, not %" G_GINT64_FORMAT,
                 MAX_THREADS, threads);
    return NULL;
  }
  if (g_strcmp0 (hardware, "auto") != 0 && g_strcmp0 (hardware, "off") != 0) {
    g_set_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                 "hardware must be 'auto' or 'off', not '%s'", hardware);
    return NULL;
  }
  self->options.threads = (guint) threads;
  self->options.allow_hardware = g_strcmp0 (hardware, "auto") == 0;
  return g_steal_pointer (&self);
}

/* ---- module entry point ------------------------------------------------- */

static GObject *
encoder_gst_create (JsonObject *config, GError **error)
{
  g_autoptr(GError) gst_error = NULL;

  if (!gst_is_initialized () && !gst_init_check (NULL, NULL, &gst_error)) {
    g_set_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                 "GStreamer failed to initialise: %s", gst_error->message);
    return NULL;
  }
  /* every pipeline measures its progress with weprogress, registered here
   * from the module itself rather than found on GST_PLUGIN_PATH */
  if (!we_gst_elements_register ()) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                         "cannot register the webencode GStreamer elements");
    return NULL;
  }
  return G_OBJECT (we_encoder_gst_new (config, error));
}

static const gchar * const config_keys[] = { "threads", "hardware", NULL };

static const WePluginDescriptor descriptor = {
  .protocol_version = WE_PLUGIN_PROTOCOL_VERSION,
  .abi_minor = WE_PLUGIN_ABI_MINOR,
  .id = "encoder-gst",
  .pillar = WE_PILLAR_ENCODER,
  .version = "0.1.0",
  .config_keys = config_keys,
  .create = encoder_gst_create,
};

WE_PLUGIN_DEFINE (descriptor)
