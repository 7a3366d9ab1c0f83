/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include "we-gst-pipeline.h"

#include <webencode/we-error.h>

/* decodebin's default "caps": where it stops autoplugging */
#define DECODE_RAW_CAPS \
  "video/x-raw(ANY);audio/x-raw(ANY);text/x-raw(ANY);subpicture/x-dvd;subpicture/x-dvb;" \
  "subpicture/x-pgs"

static void
audio_branch_free (WeGstAudioBranch *b)
{
  g_free (b->codec);
  g_free (b->language);
  g_free (b->gain_name);
  g_free (b->output_name);
  g_clear_pointer (&b->chain, g_ptr_array_unref);
  g_free (b);
}

static void
subtitle_branch_free (WeGstSubtitleBranch *b)
{
  g_free (b->language);
  g_free (b->setter_name);
  g_clear_pointer (&b->chain, g_ptr_array_unref);
  g_free (b);
}

static GPtrArray *
spec_array_new (void)
{
  return g_ptr_array_new_with_free_func ((GDestroyNotify) we_gst_element_spec_free);
}

void
we_gst_plan_free (WeGstPlan *self)
{
  if (self == NULL)
    return;
  g_clear_pointer (&self->audio_branches, g_ptr_array_unref);
  g_clear_pointer (&self->subtitle_branches, g_ptr_array_unref);
  g_clear_pointer (&self->burn_text, g_ptr_array_unref);
  g_free (self->burn_name);
  g_free (self->decode_caps);
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

/* The caps a muxer's audio pad would need for @codec copied as it is. */
static const gchar *
passthrough_caps (const gchar *codec)
{
  if (g_strcmp0 (codec, "aac") == 0)
    return "audio/mpeg,mpegversion=(int){2,4}";
  if (g_strcmp0 (codec, "opus") == 0)
    return "audio/x-opus";
  return NULL;
}

static const gchar *
passthrough_parser (const gchar *codec)
{
  if (g_strcmp0 (codec, "aac") == 0)
    return "aacparse";
  if (g_strcmp0 (codec, "opus") == 0)
    return "opusparse";
  return NULL;
}

/* Whether @mux_factory has a @template_prefix pad that takes @caps. */
static gboolean
muxer_takes (const gchar *mux_factory, const gchar *template_prefix, const gchar *caps_str)
{
  g_autoptr(GstElementFactory) factory = gst_element_factory_find (mux_factory);
  g_autoptr(GstCaps) caps = NULL;

  if (factory == NULL || caps_str == NULL)
    return FALSE;
  caps = gst_caps_from_string (caps_str);
  for (const GList *l = gst_element_factory_get_static_pad_templates (factory); l != NULL;
       l = l->next) {
    GstStaticPadTemplate *templ = l->data;
    g_autoptr(GstCaps) tcaps = NULL;

    if (templ->direction != GST_PAD_SINK ||
        !g_str_has_prefix (templ->name_template, template_prefix))
      continue;
    tcaps = gst_static_pad_template_get_caps (templ);
    if (gst_caps_can_intersect (tcaps, caps))
      return TRUE;
  }
  return FALSE;
}

static WeGstAudioBranch *
audio_branch_new (const WeProfile *profile, const WeGstEncoderChoice *encoder,
                  const WeMediaTrack *track, guint position, gboolean passthrough,
                  gboolean normalize)
{
  WeGstAudioBranch *b = g_new0 (WeGstAudioBranch, 1);
  g_autofree gchar *suffix = position == 0 ? g_strdup ("") : g_strdup_printf ("_%u", position);
  WeGstElementSpec *spec;

  b->track = track->index;
  b->codec = g_strdup (track->codec);
  b->language = g_strdup (track->language);
  b->passthrough = passthrough;
  b->chain = spec_array_new ();
  g_ptr_array_add (b->chain, we_gst_element_spec_new ("queue", NULL));
  if (passthrough) {
    b->output_name = g_strdup_printf ("aparse%s", suffix);
    g_ptr_array_add (b->chain, we_gst_element_spec_new (passthrough_parser (track->codec),
                                                        b->output_name));
  } else {
    g_autofree gchar *acaps = NULL;
    gint rate = profile->audio_sample_rate > 0 ? profile->audio_sample_rate : 48000;

    /* Opus only runs at 48 kHz (and its sub-rates) */
    if (g_strcmp0 (profile->audio_codec, "opus") == 0)
      rate = 48000;
    acaps = g_strdup_printf ("audio/x-raw,rate=%d,channels=%d", rate,
                             profile->audio_channels > 0 ? profile->audio_channels : 2);
    g_ptr_array_add (b->chain, we_gst_element_spec_new ("audioconvert", NULL));
    g_ptr_array_add (b->chain, we_gst_element_spec_new ("audioresample", NULL));
    g_ptr_array_add (b->chain, we_gst_element_spec_new_caps (acaps));
    if (normalize) {
      /* unity until the loudness of the stream is known */
      b->gain_name = g_strdup_printf ("gain_%d", track->index);
      spec = we_gst_element_spec_new ("volume", b->gain_name);
      we_gst_element_spec_set (spec, "volume", "1.0");
      g_ptr_array_add (b->chain, spec);
    }
    b->output_name = g_strdup_printf ("aenc%s", suffix);
    spec = we_gst_element_spec_new (encoder->factory, b->output_name);
    we_gst_audio_encoder_configure (spec, encoder, profile);
    g_ptr_array_add (b->chain, spec);
  }
  g_ptr_array_add (b->chain, we_gst_element_spec_new ("queue", NULL));
  return b;
}

/* The audio streams the output gets: from the probe, or one unknown
 * stream when there is none (describe() of an unreadable source). */
static GPtrArray *
audio_tracks_wanted (const WeEncodeRequest *request, const WeGstProbeResult *probe)
{
  GPtrArray *tracks = g_ptr_array_new_with_free_func ((GDestroyNotify) we_media_track_free);
  const GPtrArray *known = probe != NULL ? probe->info->audio_tracks : NULL;
  gboolean all = request->profile->audio.keep_all_tracks && request->mode == WE_ENCODE_MODE_FULL;

  if (known != NULL && known->len > 0) {
    for (guint i = 0; i < (all ? known->len : 1); i++)
      g_ptr_array_add (tracks, we_media_track_copy (g_ptr_array_index (known, i)));
  } else if (probe == NULL || probe->info->has_audio) {
    WeMediaTrack *t = we_media_track_new ();

    t->codec = probe != NULL ? g_strdup (probe->info->audio_codec) : NULL;
    g_ptr_array_add (tracks, t);
  }
  return tracks;
}

static gboolean
plan_subtitles (WeGstPlan *plan, const WeEncodeRequest *request, const WeGstProbeResult *probe,
                const gchar *mux_factory, GError **error)
{
  const WeProfileSubtitles *subs = &request->profile->subtitles;
  const GPtrArray *known = probe != NULL ? probe->info->subtitle_tracks : NULL;

  if (request->mode != WE_ENCODE_MODE_FULL)
    return TRUE;
  if (g_strcmp0 (subs->mode, "burn") == 0) {
    if (known != NULL && (subs->burn_track < 0 || (guint) subs->burn_track >= known->len)) {
      g_set_error (error, WE_ERROR, WE_ERROR_JOB_UNSUPPORTED_SOURCE,
                   "subtitles.burn_track %d but the source has %u subtitle track%s",
                   subs->burn_track, known->len, known->len == 1 ? "" : "s");
      return FALSE;
    }
    plan->burn_track = subs->burn_track;
    plan->burn_name = g_strdup ("burn");
    plan->burn_text = spec_array_new ();
    g_ptr_array_add (plan->burn_text, we_gst_element_spec_new ("queue", NULL));
    return TRUE;
  }
  if (g_strcmp0 (subs->mode, "passthrough") != 0)
    return TRUE;
  if (!muxer_takes (mux_factory, "subtitle_", "text/x-raw,format=utf8") ||
      g_strcmp0 (mux_factory, "webmmux") == 0) {
    /* webmmux takes text/x-raw but writes S_TEXT/UTF8, which is not WebM */
    plan->subtitles_dropped = TRUE;
    return TRUE;
  }
  for (guint i = 0; i < (known != NULL ? known->len : 1); i++) {
    const WeMediaTrack *t = known != NULL ? g_ptr_array_index (known, i) : NULL;
    WeGstSubtitleBranch *b;
    WeGstElementSpec *spec;

    if (t != NULL && !we_media_track_codec_is_text (t->codec))
      continue;
    b = g_new0 (WeGstSubtitleBranch, 1);
    b->track = t != NULL ? t->index : 0;
    b->language = t != NULL ? g_strdup (t->language) : NULL;
    b->chain = spec_array_new ();
    g_ptr_array_add (b->chain, we_gst_element_spec_new ("queue", NULL));
    /* both muxers take plain UTF-8 only; the transcode rewrites Pango
     * markup into what the container's text format knows */
    b->setter_name = g_strdup_printf ("subtext_%u", plan->subtitle_branches->len);
    spec = we_gst_element_spec_new ("capssetter", b->setter_name);
    we_gst_element_spec_set (spec, "caps", "text/x-raw,format=utf8");
    g_ptr_array_add (b->chain, spec);
    g_ptr_array_add (b->chain, we_gst_element_spec_new ("queue", NULL));
    g_ptr_array_add (plan->subtitle_branches, b);
  }
  return TRUE;
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
  plan->video = spec_array_new ();
  plan->audio_branches = g_ptr_array_new_with_free_func ((GDestroyNotify) audio_branch_free);
  plan->subtitle_branches =
    g_ptr_array_new_with_free_func ((GDestroyNotify) subtitle_branch_free);
  plan->burn_track = -1;
  if (!plan_subtitles (plan, request, probe, mux_factory, error))
    return NULL;

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
  if (plan->burn_name != NULL) {
    /* drawn at the output size, so the text is sharp; the overlay may hand
     * out another format, which is converted back */
    spec = we_gst_element_spec_new ("subtitleoverlay", plan->burn_name);
    /* the renderer scales the font with the picture's width (relative to
     * 640 px); its default is hard to read on small outputs */
    we_gst_element_spec_set (spec, "font-desc", "Sans Bold 20");
    g_ptr_array_add (plan->video, spec);
    g_ptr_array_add (plan->video, we_gst_element_spec_new ("videoconvert", NULL));
    g_ptr_array_add (plan->video, we_gst_element_spec_new_caps (vcaps->str));
  }

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
  /* where the output's progress is measured: what the encoder has made */
  g_ptr_array_add (plan->video, we_gst_element_spec_new ("weprogress", WE_GST_PLAN_PROGRESS));
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
  if (request->mode == WE_ENCODE_MODE_VIDEO_SEGMENT) {
    plan->audio = spec_array_new ();
    goto mux;
  }

audio:
  /* audio: only when the source has some and the profile wants it */
  want_audio = g_strcmp0 (profile->audio_codec, "none") != 0 && profile->audio_codec != NULL &&
               (probe == NULL || probe->info->has_audio);
  if (want_audio) {
    g_autoptr(GPtrArray) tracks = audio_tracks_wanted (request, probe);
    const gchar *audio_mux = request->mode == WE_ENCODE_MODE_FULL ? mux_factory : "matroskamux";
    g_autoptr(GString) decode_caps = g_string_new (DECODE_RAW_CAPS);
    gboolean any_passthrough = FALSE;

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
    for (guint i = 0; i < tracks->len; i++) {
      const WeMediaTrack *t = g_ptr_array_index (tracks, i);
      /* a gain needs decoded samples, so normalising wins over copying */
      gboolean passthrough = profile->audio.passthrough_when_compatible &&
                             !profile->audio.normalize &&
                             g_strcmp0 (t->codec, profile->audio_codec) == 0 &&
                             passthrough_parser (t->codec) != NULL &&
                             muxer_takes (audio_mux, "audio_", passthrough_caps (t->codec));

      any_passthrough |= passthrough;
      g_ptr_array_add (plan->audio_branches,
                       audio_branch_new (profile, &plan->audio_encoder, t, i, passthrough,
                                         profile->audio.normalize));
    }
    if (any_passthrough) {
      /* uridecodebin hands the copied codec out as it is demuxed */
      g_string_append_printf (decode_caps, ";%s", passthrough_caps (profile->audio_codec));
      plan->decode_caps = g_strdup (decode_caps->str);
    }
  }
  if (request->mode == WE_ENCODE_MODE_AUDIO && plan->audio_branches->len > 0) {
    GPtrArray *chain = ((WeGstAudioBranch *) g_ptr_array_index (plan->audio_branches, 0))->chain;

    /* the audio is the output: its progress is measured before the last queue */
    g_ptr_array_insert (chain, (gint) chain->len - 1,
                        we_gst_element_spec_new ("weprogress", WE_GST_PLAN_PROGRESS));
  }
  if (plan->audio_branches->len > 0)
    plan->audio = g_ptr_array_ref (((WeGstAudioBranch *) g_ptr_array_index (plan->audio_branches,
                                                                             0))->chain);
  else
    plan->audio = spec_array_new ();

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
  if (self->decode_caps != NULL)
    we_gst_element_spec_set (src, "caps", self->decode_caps);
  we_gst_element_spec_to_launch (src, out);
  g_string_append (out, "  ");
  we_gst_element_spec_to_launch (self->mux, out);
  g_string_append (out, " ! ");
  we_gst_element_spec_to_launch (self->sink, out);
  /* the caps on the delayed link route decodebin's pads by media type */
  if (self->video->len > 0) {
    g_string_append (out, "  src. ! video/x-raw");
    append_chain (out, self->video);
    g_string_append (out, " ! mux.");
  }
  for (guint i = 0; self->audio_branches != NULL && i < self->audio_branches->len; i++) {
    const WeGstAudioBranch *b = g_ptr_array_index (self->audio_branches, i);

    g_string_append_printf (out, "  src. ! %s",
                            b->passthrough ? passthrough_caps (b->codec) : "audio/x-raw");
    append_chain (out, b->chain);
    g_string_append (out, " ! mux.");
  }
  for (guint i = 0; self->subtitle_branches != NULL && i < self->subtitle_branches->len; i++) {
    const WeGstSubtitleBranch *b = g_ptr_array_index (self->subtitle_branches, i);

    g_string_append (out, "  src. ! text/x-raw");
    append_chain (out, b->chain);
    g_string_append_printf (out, " ! mux.subtitle_%u", i);
  }
  if (self->burn_text != NULL) {
    g_string_append (out, "  src. ! text/x-raw");
    append_chain (out, self->burn_text);
    g_string_append_printf (out, " ! %s.subtitle_sink", self->burn_name);
  }
  return g_string_free (out, FALSE);
}
