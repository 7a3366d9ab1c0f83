/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include "we-gst-pipeline.h"

#include <webencode/we-error.h>

void
we_gst_plan_free (WeGstPlan *self)
{
  if (self == NULL)
    return;
  g_free (self->uri);
  g_free (self->output_path);
  g_clear_pointer (&self->video, g_ptr_array_unref);
  g_clear_pointer (&self->audio, g_ptr_array_unref);
  g_clear_pointer (&self->mux, we_gst_element_spec_free);
  g_clear_pointer (&self->sink, we_gst_element_spec_free);
  g_free (self->video_encoder_name);
  g_free (self);
}

void
we_gst_fit_box (gint src_w, gint src_h, gint par_n, gint par_d, gint box_w, gint box_h,
                gint *out_w, gint *out_h)
{
  gdouble dw = (gdouble) src_w * par_n / par_d;
  gdouble dh = src_h;
  gdouble scale = MIN (box_w / dw, box_h / dh);
  gint w = (gint) (dw * scale + 0.5);
  gint h = (gint) (dh * scale + 0.5);

  /* 4:2:0 chroma needs even sizes; round down so the box still holds */
  *out_w = MAX (2, MIN (w, box_w) & ~1);
  *out_h = MAX (2, MIN (h, box_h) & ~1);
}

static const gchar *
muxer_for_container (const gchar *container)
{
  if (g_strcmp0 (container, "mp4") == 0)
    return "mp4mux";
  if (g_strcmp0 (container, "webm") == 0)
    return "webmmux";
  if (g_strcmp0 (container, "mkv") == 0)
    return "matroskamux";
  return NULL;
}

WeGstPlan *
we_gst_plan_new (const WeEncodeRequest *request, const WeGstProbeResult *probe,
                 const WeGstOptions *options, GError **error)
{
  const WeProfile *profile = request->profile;
  g_autoptr(WeGstPlan) plan = g_new0 (WeGstPlan, 1);
  g_autoptr(GString) vcaps = g_string_new ("video/x-raw");
  WeGstElementSpec *spec;
  const gchar *mux_factory;
  const gchar *parser;
  const gchar *out_caps;
  gdouble fps = 0;
  gboolean want_audio;

  if (profile == NULL) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_JOB_INVALID_PROFILE, "no profile given");
    return NULL;
  }
  mux_factory = muxer_for_container (profile->container);
  if (mux_factory == NULL) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_PROFILE,
                 "unsupported container '%s'", profile->container);
    return NULL;
  }
  if (!we_gst_video_encoder_choose (profile->video_codec,
                                    profile->prefer_hardware && options->allow_hardware,
                                    &plan->video_encoder)) {
    const gchar *wanted = we_gst_video_encoder_wanted (profile->video_codec);

    if (wanted == NULL)
      g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_PROFILE,
                   "unsupported video codec '%s'", profile->video_codec);
    else
      g_set_error (error, WE_ERROR, WE_ERROR_JOB_FAILED,
                   "no %s encoder: GStreamer element '%s' is not installed",
                   profile->video_codec, wanted);
    return NULL;
  }

  plan->uri = g_strdup (request->input_uri);
  plan->output_path = g_strdup (request->output_path);
  plan->video = g_ptr_array_new_with_free_func ((GDestroyNotify) we_gst_element_spec_free);
  plan->audio = g_ptr_array_new_with_free_func ((GDestroyNotify) we_gst_element_spec_free);

  if (probe != NULL && probe->info->fps_n > 0 && probe->info->fps_d > 0)
    fps = (gdouble) probe->info->fps_n / probe->info->fps_d;

  if (request->mode == WE_ENCODE_MODE_AUDIO) {
    if (probe != NULL && !probe->info->has_audio) {
      g_set_error_literal (error, WE_ERROR, WE_ERROR_JOB_UNSUPPORTED_SOURCE,
                           "source has no audio");
      return NULL;
    }
    if (g_strcmp0 (profile->audio_codec, "none") == 0 || profile->audio_codec == NULL) {
      g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_PROFILE,
                   "profile '%s' has no audio to encode", profile->id);
      return NULL;
    }
    goto audio;
  }

  /* video: the pixel format is pinned only for software encoders; hardware
   * ones pick their own (NV12, P010…) from what videoconvert offers */
  g_ptr_array_add (plan->video, we_gst_element_spec_new ("queue", NULL));
  g_ptr_array_add (plan->video, we_gst_element_spec_new ("videoconvert", NULL));
  spec = we_gst_element_spec_new ("videoscale", NULL);
  /* borders only when padding; otherwise rounding to even sizes must not
   * turn into a one-pixel black edge */
  we_gst_element_spec_set (spec, "add-borders", profile->pad ? "true" : "false");
  g_ptr_array_add (plan->video, spec);
  if (plan->video_encoder.gpu_type == NULL) {
    const gchar *format = "I420";

    if (profile->bit_depth == 10) {
      if (we_gst_encoder_accepts_format (plan->video_encoder.factory, "I420_10LE"))
        format = "I420_10LE";
      else
        plan->depth_fallback = TRUE;
    }
    g_string_append_printf (vcaps, ",format=%s", format);
  }
  if (profile->pad) {
    plan->out_width = profile->width;
    plan->out_height = profile->height;
  } else if (probe != NULL && probe->info->width > 0 && probe->info->height > 0) {
    we_gst_fit_box (probe->info->width, probe->info->height, probe->par_n, probe->par_d,
                    profile->width, profile->height, &plan->out_width, &plan->out_height);
  }
  if (plan->out_width > 0)
    g_string_append_printf (vcaps, ",width=%d,height=%d", plan->out_width, plan->out_height);
  else
    g_string_append_printf (vcaps, ",height=%d", profile->height);
  g_string_append (vcaps, ",pixel-aspect-ratio=1/1");
  g_ptr_array_add (plan->video, we_gst_element_spec_new_caps (vcaps->str));

  plan->video_encoder_name = g_strdup ("venc");
  spec = we_gst_element_spec_new (plan->video_encoder.factory, plan->video_encoder_name);
  we_gst_video_encoder_configure (spec, &plan->video_encoder, profile, fps, options->threads);
  g_ptr_array_add (plan->video, spec);
  out_caps = we_gst_video_encoder_output_caps (&plan->video_encoder, profile);
  if (out_caps != NULL && !(profile->bit_depth == 10 && plan->depth_fallback))
    g_ptr_array_add (plan->video, we_gst_element_spec_new_caps (out_caps));
  else if (out_caps != NULL)
    g_ptr_array_add (plan->video, we_gst_element_spec_new_caps ("video/x-h264,profile=high"));
  parser = we_gst_video_parser_for_codec (profile->video_codec);
  if (parser != NULL)
    g_ptr_array_add (plan->video, we_gst_element_spec_new (parser, NULL));
  g_ptr_array_add (plan->video, we_gst_element_spec_new ("queue", NULL));
  if (request->mode == WE_ENCODE_MODE_VIDEO_SEGMENT &&
      g_strcmp0 (plan->video_encoder.factory, "x265enc") == 0) {
    /* x265 defaults to open GOPs, whose leading pictures reference the
     * previous segment; a segment must decode on its own */
    const gchar *old = NULL;
    g_autofree gchar *opts = NULL;

    for (guint i = 0; i + 1 < spec->props->len; i += 2) {
      if (g_strcmp0 (g_ptr_array_index (spec->props, i), "option-string") == 0)
        old = g_ptr_array_index (spec->props, i + 1);
    }
    opts = old != NULL ? g_strdup_printf ("%s:open-gop=0", old) : g_strdup ("open-gop=0");
    we_gst_element_spec_set (spec, "option-string", opts);
  }
  if (request->mode == WE_ENCODE_MODE_VIDEO_SEGMENT)
    goto mux;

audio:
  /* audio: only when the source has some and the profile wants it */
  want_audio = g_strcmp0 (profile->audio_codec, "none") != 0 && profile->audio_codec != NULL &&
               (probe == NULL || probe->info->has_audio);
  if (want_audio) {
    g_autofree gchar *acaps = NULL;
    gint rate = profile->audio_sample_rate > 0 ? profile->audio_sample_rate : 48000;

    if (!we_gst_audio_encoder_choose (profile->audio_codec, &plan->audio_encoder)) {
      const gchar *wanted = we_gst_audio_encoder_wanted (profile->audio_codec);

      if (wanted == NULL)
        g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_PROFILE,
                     "unsupported audio codec '%s'", profile->audio_codec);
      else
        g_set_error (error, WE_ERROR, WE_ERROR_JOB_FAILED,
                     "no %s encoder: GStreamer element '%s' is not installed",
                     profile->audio_codec, wanted);
      return NULL;
    }
    /* Opus only runs at 48 kHz (and its sub-rates) */
    if (g_strcmp0 (profile->audio_codec, "opus") == 0)
      rate = 48000;
    acaps = g_strdup_printf ("audio/x-raw,rate=%d,channels=%d", rate,
                             profile->audio_channels > 0 ? profile->audio_channels : 2);
    g_ptr_array_add (plan->audio, we_gst_element_spec_new ("queue", NULL));
    g_ptr_array_add (plan->audio, we_gst_element_spec_new ("audioconvert", NULL));
    g_ptr_array_add (plan->audio, we_gst_element_spec_new ("audioresample", NULL));
    g_ptr_array_add (plan->audio, we_gst_element_spec_new_caps (acaps));
    spec = we_gst_element_spec_new (plan->audio_encoder.factory, "aenc");
    we_gst_audio_encoder_configure (spec, &plan->audio_encoder, profile);
    g_ptr_array_add (plan->audio, spec);
    g_ptr_array_add (plan->audio, we_gst_element_spec_new ("queue", NULL));
  }

mux:
  if (request->mode != WE_ENCODE_MODE_FULL) {
    /* the intermediate for split & stitch: Matroska keeps the source's
     * timestamps as they are (no rebasing to zero); its default 1 ms
     * timecode scale would round them, so ticks are 50 µs. Block times are
     * 16-bit offsets from their cluster's, so at that scale a cluster must
     * stay well under ±1.6 s, including B-frames reordered before it */
    plan->mux = we_gst_element_spec_new ("matroskamux", "mux");
    we_gst_element_spec_set_int (plan->mux, "timecodescale", WE_GST_INTERMEDIATE_TIMECODESCALE);
    we_gst_element_spec_set_int (plan->mux, "max-cluster-duration", GST_SECOND);
    we_gst_element_spec_set (plan->mux, "offset-to-zero", "false");
    plan->sink = we_gst_element_spec_new ("filesink", NULL);
    we_gst_element_spec_set (plan->sink, "location", request->output_path);
    return g_steal_pointer (&plan);
  }
  plan->mux = we_gst_element_spec_new (mux_factory, "mux");
  /* -movflags +faststart: moov in front so players can start before the end */
  if (g_strcmp0 (mux_factory, "mp4mux") == 0)
    we_gst_element_spec_set (plan->mux, "faststart", "true");
  plan->sink = we_gst_element_spec_new ("filesink", NULL);
  we_gst_element_spec_set (plan->sink, "location", request->output_path);

  return g_steal_pointer (&plan);
}

static void
append_chain (GString *out, GPtrArray *chain)
{
  for (guint i = 0; i < chain->len; i++) {
    g_string_append (out, " ! ");
    we_gst_element_spec_to_launch (g_ptr_array_index (chain, i), out);
  }
}

gchar *
we_gst_plan_to_launch (const WeGstPlan *self)
{
  GString *out = g_string_new ("gst-launch-1.0 -e ");
  g_autoptr(WeGstElementSpec) src = we_gst_element_spec_new ("uridecodebin", "src");

  we_gst_element_spec_set (src, "uri", self->uri);
  we_gst_element_spec_to_launch (src, out);
  g_string_append (out, "  ");
  we_gst_element_spec_to_launch (self->mux, out);
  g_string_append (out, " ! ");
  we_gst_element_spec_to_launch (self->sink, out);
  /* the caps on the delayed link route decodebin's pads by media type */
  g_string_append (out, "  src. ! video/x-raw");
  append_chain (out, self->video);
  g_string_append (out, " ! mux.");
  if (self->audio->len > 0) {
    g_string_append (out, "  src. ! audio/x-raw");
    append_chain (out, self->audio);
    g_string_append (out, " ! mux.");
  }
  return g_string_free (out, FALSE);
}
