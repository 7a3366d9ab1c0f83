/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include "we-gst-encoders.h"

typedef struct {
  const gchar *codec;
  const gchar *factory;
  const gchar *gpu_type;
} EncoderEntry;

/* In order of preference: hardware first (used only when allowed), then the
 * software encoders that match the spec §9.5 matrix (libx264, libx265,
 * libvpx-vp9, libaom-av1 / libsvtav1). */
static const EncoderEntry video_encoders[] = {
  { "h264", "nvh264enc",    "nvidia" },
  { "h264", "vah264enc",    "vaapi" },
  { "h264", "vaapih264enc", "vaapi" },
  { "h264", "qsvh264enc",   "qsv" },
  { "h264", "msdkh264enc",  "qsv" },
  { "h264", "x264enc",      NULL },
  { "hevc", "nvh265enc",    "nvidia" },
  { "hevc", "vah265enc",    "vaapi" },
  { "hevc", "vaapih265enc", "vaapi" },
  { "hevc", "qsvh265enc",   "qsv" },
  { "hevc", "msdkh265enc",  "qsv" },
  { "hevc", "x265enc",      NULL },
  { "vp9",  "vavp9enc",     "vaapi" },
  { "vp9",  "qsvvp9enc",    "qsv" },
  { "vp9",  "msdkvp9enc",   "qsv" },
  { "vp9",  "vp9enc",       NULL },
  { "av1",  "nvav1enc",     "nvidia" },
  { "av1",  "vaav1enc",     "vaapi" },
  { "av1",  "qsvav1enc",    "qsv" },
  { "av1",  "msdkav1enc",   "qsv" },
  { "av1",  "av1enc",       NULL },
  { "av1",  "svtav1enc",    NULL },
  { "av1",  "rav1enc",      NULL },
};

static const EncoderEntry audio_encoders[] = {
  { "aac",  "avenc_aac",  NULL },
  { "aac",  "fdkaacenc",  NULL },
  { "aac",  "voaacenc",   NULL },
  { "opus", "opusenc",    NULL },
};

static const gchar *video_codec_order[] = { "h264", "hevc", "vp9", "av1" };
static const gchar *audio_codec_order[] = { "aac", "opus" };

static gboolean
factory_present (const gchar *name)
{
  g_autoptr(GstElementFactory) factory = gst_element_factory_find (name);

  return factory != NULL;
}

static gboolean
choose (const EncoderEntry *table, gsize n, const gchar *codec, gboolean allow_hardware,
        WeGstEncoderChoice *choice)
{
  for (gsize i = 0; i < n; i++) {
    if (g_strcmp0 (table[i].codec, codec) != 0)
      continue;
    if (table[i].gpu_type != NULL && !allow_hardware)
      continue;
    if (!factory_present (table[i].factory))
      continue;
    choice->factory = table[i].factory;
    choice->gpu_type = table[i].gpu_type;
    return TRUE;
  }
  return FALSE;
}

gboolean
we_gst_video_encoder_choose (const gchar *codec, gboolean allow_hardware,
                             WeGstEncoderChoice *choice)
{
  return choose (video_encoders, G_N_ELEMENTS (video_encoders), codec, allow_hardware, choice);
}

gboolean
we_gst_audio_encoder_choose (const gchar *codec, WeGstEncoderChoice *choice)
{
  return choose (audio_encoders, G_N_ELEMENTS (audio_encoders), codec, FALSE, choice);
}

static const gchar *
wanted (const EncoderEntry *table, gsize n, const gchar *codec)
{
  for (gsize i = 0; i < n; i++) {
    if (g_strcmp0 (table[i].codec, codec) == 0 && table[i].gpu_type == NULL)
      return table[i].factory;
  }
  return NULL;
}

const gchar *
we_gst_video_encoder_wanted (const gchar *codec)
{
  return wanted (video_encoders, G_N_ELEMENTS (video_encoders), codec);
}

const gchar *
we_gst_audio_encoder_wanted (const gchar *codec)
{
  return wanted (audio_encoders, G_N_ELEMENTS (audio_encoders), codec);
}

GStrv
we_gst_encoders_video_codecs (gboolean allow_hardware)
{
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  WeGstEncoderChoice choice;

  for (gsize i = 0; i < G_N_ELEMENTS (video_codec_order); i++) {
    if (we_gst_video_encoder_choose (video_codec_order[i], allow_hardware, &choice))
      g_strv_builder_add (builder, video_codec_order[i]);
  }
  return g_strv_builder_end (builder);
}

GStrv
we_gst_encoders_audio_codecs (void)
{
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  WeGstEncoderChoice choice;

  for (gsize i = 0; i < G_N_ELEMENTS (audio_codec_order); i++) {
    if (we_gst_audio_encoder_choose (audio_codec_order[i], &choice))
      g_strv_builder_add (builder, audio_codec_order[i]);
  }
  return g_strv_builder_end (builder);
}

const gchar *
we_gst_encoders_gpu_type (void)
{
  for (gsize i = 0; i < G_N_ELEMENTS (video_encoders); i++) {
    if (video_encoders[i].gpu_type != NULL && factory_present (video_encoders[i].factory))
      return video_encoders[i].gpu_type;
  }
  return NULL;
}

/* x264/x265 share preset names with the profile; the libvpx and libaom
 * encoders have a numeric speed instead. */
static gint
preset_rank (const gchar *preset)
{
  static const gchar *names[] = { "ultrafast", "superfast", "veryfast", "faster", "fast",
                                  "medium", "slow", "slower", "veryslow" };

  for (gint i = 0; i < (gint) G_N_ELEMENTS (names); i++) {
    if (g_strcmp0 (names[i], preset) == 0)
      return i;
  }
  return 5;
}

/* libvpx VP9 "good" deadline takes cpu-used 0..5; the fast presets go to realtime */
static void
vp9_speed (const gchar *preset, gint64 *deadline, gint *cpu_used)
{
  static const gint cpu[] = { 8, 7, 6, 5, 4, 2, 1, 0, 0 };
  gint rank = preset_rank (preset);

  *deadline = rank <= 2 ? 1 : 1000000;
  *cpu_used = cpu[rank];
}

static gint
av1_cpu_used (const gchar *preset)
{
  /* "fast" maps to 4, which is the spec §9.3.4 value */
  static const gint cpu[] = { 8, 7, 6, 5, 4, 3, 2, 1, 0 };

  return cpu[preset_rank (preset)];
}

void
we_gst_video_encoder_configure (WeGstElementSpec *spec, const WeGstEncoderChoice *choice,
                                const WeProfile *profile, gdouble fps, guint threads)
{
  const gchar *f = choice->factory;
  gint kbps = profile->video_bitrate_kbps;
  gint gop = (gint) (MAX (profile->keyframe_interval_s, 1) * (fps > 0 ? fps : 30.0) + 0.5);
  guint auto_threads = threads > 0 ? threads : g_get_num_processors ();
  g_autoptr(GString) opts = g_string_new (NULL);

  if (g_strcmp0 (f, "x264enc") == 0) {
    if (kbps > 0) {
      we_gst_element_spec_set_int (spec, "bitrate", kbps);
    } else {
      /* crf; x264enc caps even this mode's VBV at "bitrate", so that is
       * the profile's ceiling or, without one, out of the way */
      we_gst_element_spec_set (spec, "pass", "qual");
      we_gst_element_spec_set_int (spec, "quantizer", profile->crf);
      we_gst_element_spec_set_int (spec, "bitrate",
                                   profile->max_bitrate_kbps > 0 ? profile->max_bitrate_kbps : 100000);
    }
    we_gst_element_spec_set (spec, "speed-preset", profile->preset);
    we_gst_element_spec_set_int (spec, "key-int-max", gop);
    if (threads > 0)
      we_gst_element_spec_set_int (spec, "threads", threads);
    /* vbv-buf-capacity is in milliseconds of the target rate. x264enc
     * always caps the VBV rate at "bitrate" (its option-string is applied
     * before that), so -maxrate above -b:v cannot be expressed; -bufsize can */
    if (kbps > 0 && profile->buffer_kbps > 0)
      we_gst_element_spec_set_int (spec, "vbv-buf-capacity",
                                   CLAMP ((gint64) profile->buffer_kbps * 1000 / kbps, 1, 10000));
  } else if (g_strcmp0 (f, "x265enc") == 0) {
    if (kbps > 0)
      we_gst_element_spec_set_int (spec, "bitrate", kbps);
    else
      g_string_append_printf (opts, "crf=%d", profile->crf);
    we_gst_element_spec_set (spec, "speed-preset", profile->preset);
    we_gst_element_spec_set_int (spec, "key-int-max", gop);
    if (profile->max_bitrate_kbps > 0)
      g_string_append_printf (opts, "%svbv-maxrate=%d", opts->len ? ":" : "",
                              profile->max_bitrate_kbps);
    if (profile->buffer_kbps > 0)
      g_string_append_printf (opts, "%svbv-bufsize=%d", opts->len ? ":" : "", profile->buffer_kbps);
    if (threads > 0)
      g_string_append_printf (opts, "%spools=%u", opts->len ? ":" : "", threads);
    if (opts->len > 0)
      we_gst_element_spec_set (spec, "option-string", opts->str);
  } else if (g_strcmp0 (f, "vp9enc") == 0) {
    gint64 deadline;
    gint cpu_used;

    /* -b:v with -crf is libvpx's constrained quality; -b:v 0 is pure quality */
    if (kbps > 0) {
      we_gst_element_spec_set_int (spec, "target-bitrate", (gint64) kbps * 1000);
      we_gst_element_spec_set (spec, "end-usage", profile->crf > 0 ? "cq" : "vbr");
    } else {
      we_gst_element_spec_set (spec, "end-usage", "q");
    }
    if (profile->crf > 0)
      we_gst_element_spec_set_int (spec, "cq-level", profile->crf);
    vp9_speed (profile->preset, &deadline, &cpu_used);
    we_gst_element_spec_set_int (spec, "deadline", deadline);
    we_gst_element_spec_set_int (spec, "cpu-used", cpu_used);
    we_gst_element_spec_set (spec, "row-mt", "true");
    we_gst_element_spec_set_int (spec, "threads", auto_threads);
    we_gst_element_spec_set_int (spec, "keyframe-max-dist", gop);
  } else if (g_strcmp0 (f, "av1enc") == 0) {
    if (kbps > 0) {
      we_gst_element_spec_set (spec, "end-usage", "vbr");
      we_gst_element_spec_set_int (spec, "target-bitrate", kbps);
    } else {
      g_autofree gchar *crf = g_strdup_printf ("%d", profile->crf);

      we_gst_element_spec_set (spec, "end-usage", "q");
      /* av1enc in 1.22 has no cq-level; pinning the quantizer range to the
       * crf value is the nearest constant-quality setting it offers */
      if (!we_gst_element_spec_set_if (spec, "cq-level", crf)) {
        we_gst_element_spec_set (spec, "min-quantizer", crf);
        we_gst_element_spec_set (spec, "max-quantizer", crf);
      }
    }
    we_gst_element_spec_set_int (spec, "cpu-used", av1_cpu_used (profile->preset));
    we_gst_element_spec_set (spec, "row-mt", "true");
    we_gst_element_spec_set_int (spec, "threads", auto_threads);
    we_gst_element_spec_set_int (spec, "keyframe-max-dist", gop);
  } else if (g_strcmp0 (f, "svtav1enc") == 0) {
    g_autofree gchar *rate = g_strdup_printf ("%d", kbps);
    g_autofree gchar *crf = g_strdup_printf ("%d", profile->crf);
    g_autofree gchar *speed = g_strdup_printf ("%d", MIN (av1_cpu_used (profile->preset) + 4, 12));
    g_autofree gchar *period = g_strdup_printf ("%d", gop);

    if (kbps > 0)
      we_gst_element_spec_set_if (spec, "target-bitrate", rate);
    else
      we_gst_element_spec_set_if (spec, "crf", crf);
    we_gst_element_spec_set_if (spec, "preset", speed);
    we_gst_element_spec_set_if (spec, "intra-period-length", period);
  } else {
    /* hardware encoders (untestable here: no GPU) — their property names
     * differ per family, so only the ones an element has are set */
    g_autofree gchar *kb = g_strdup_printf ("%d", kbps > 0 ? kbps : 0);
    g_autofree gchar *maxkb = g_strdup_printf ("%d", profile->max_bitrate_kbps);
    g_autofree gchar *bufkb = g_strdup_printf ("%d", profile->buffer_kbps);
    g_autofree gchar *gops = g_strdup_printf ("%d", gop);

    if (kbps > 0) {
      we_gst_element_spec_set_if (spec, "bitrate", kb);
      if (profile->max_bitrate_kbps > 0) {
        if (!we_gst_element_spec_set_if (spec, "max-bitrate", maxkb))
          we_gst_element_spec_set_if (spec, "max-vbv-bitrate", maxkb);
      }
      if (profile->buffer_kbps > 0) {
        if (!we_gst_element_spec_set_if (spec, "vbv-buffer-size", bufkb))
          we_gst_element_spec_set_if (spec, "cpb-size", bufkb);
      }
      if (!we_gst_element_spec_set_if (spec, "rc-mode", "vbr"))
        we_gst_element_spec_set_if (spec, "rate-control", "vbr");
    } else {
      g_autofree gchar *q = g_strdup_printf ("%d", profile->crf);

      if (we_gst_element_spec_set_if (spec, "rc-mode", "cqp") ||
          we_gst_element_spec_set_if (spec, "rate-control", "cqp")) {
        if (!we_gst_element_spec_set_if (spec, "qp-const", q))
          we_gst_element_spec_set_if (spec, "qpi", q);
      }
    }
    if (!we_gst_element_spec_set_if (spec, "gop-size", gops) &&
        !we_gst_element_spec_set_if (spec, "key-int-max", gops))
      we_gst_element_spec_set_if (spec, "keyframe-period", gops);
  }
}

void
we_gst_audio_encoder_configure (WeGstElementSpec *spec, const WeGstEncoderChoice *choice,
                                const WeProfile *profile)
{
  /* every audio encoder we use takes bits per second */
  we_gst_element_spec_set_int (spec, "bitrate", (gint64) profile->audio_bitrate_kbps * 1000);
}

const gchar *
we_gst_video_encoder_output_caps (const WeGstEncoderChoice *choice, const WeProfile *profile)
{
  /* spec §9.3.1: -profile:v high; the encoder negotiates its profile from
   * downstream caps. 10-bit needs high-10. */
  if (g_strcmp0 (profile->video_codec, "h264") == 0)
    return profile->bit_depth == 10 ? "video/x-h264,profile=high-10" : "video/x-h264,profile=high";
  return NULL;
}

const gchar *
we_gst_video_parser_for_codec (const gchar *codec)
{
  if (g_strcmp0 (codec, "h264") == 0)
    return "h264parse";
  if (g_strcmp0 (codec, "hevc") == 0)
    return "h265parse";
  if (g_strcmp0 (codec, "av1") == 0)
    return "av1parse";
  return NULL;
}

gboolean
we_gst_encoder_accepts_format (const gchar *factory, const gchar *format)
{
  g_autoptr(GstElement) element = gst_element_factory_make (factory, NULL);
  g_autoptr(GstPad) pad = NULL;
  g_autoptr(GstCaps) caps = NULL;
  g_autoptr(GstCaps) want = NULL;

  if (element == NULL)
    return FALSE;
  gst_object_ref_sink (element);
  pad = gst_element_get_static_pad (element, "sink");
  if (pad == NULL)
    return FALSE;
  /* a query, not the template: x264enc only knows its bit depths at runtime */
  caps = gst_pad_query_caps (pad, NULL);
  want = gst_caps_new_simple ("video/x-raw", "format", G_TYPE_STRING, format, NULL);
  return gst_caps_can_intersect (caps, want);
}
