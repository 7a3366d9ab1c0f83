/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The BS.1770-4 loudness meter on generated signals with known answers (the
 * EBU Tech 3341 test cases), the measurement of files against ffmpeg's own
 * meter, and the normalisation gain.
 */

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <glib/gstdio.h>
#include <gst/gst.h>
#include <webencode/webencode.h>

#include "we-gst-loudness.h"
#include "we-gst-test-util.h"

#define SILENT (-HUGE_VAL)

typedef struct {
  gchar *tmpdir;
  gchar *mkv;         /* H.264 video; a0: stereo 997 Hz ticks, a1: 5.1 pink noise (FLAC) */
  gchar *mp4;         /* make-clip: H.264 video, AAC 440 Hz sine at -18 dBFS */
  gchar *video_only;  /* make-clip --no-audio */
  gchar *silence;     /* WAV of digital silence */
} Fixture;

static Fixture fx;

/* ---- the meter on generated signals ------------------------------------- */

typedef struct {
  guint    rate;
  guint    channels;
  guint64  n;          /* frames generated so far, for a continuous phase */
  guint    chunk;      /* varies, so steps and blocks straddle calls */
} Generator;

/* Feeds @seconds of a @freq sine at @levels (peak dBFS per channel, SILENT
 * for none) to @meter in chunks of varying size. */
static void
feed_sine (WeLoudnessMeter *meter, Generator *g, gdouble freq, const gdouble *levels,
           gdouble seconds)
{
  guint64 total = (guint64) llround (seconds * g->rate);
  g_autofree gfloat *buf = g_new (gfloat, 4096 * (gsize) g->channels);
  gdouble amp[8];

  g_assert_cmpuint (g->channels, <=, G_N_ELEMENTS (amp));
  for (guint c = 0; c < g->channels; c++)
    amp[c] = isfinite (levels[c]) ? pow (10.0, levels[c] / 20.0) : 0.0;
  while (total > 0) {
    gsize n = 1000 + (g->chunk++ % 7) * 437;

    n = MIN (n, total);

    for (gsize i = 0; i < n; i++) {
      gdouble v = sin (2 * G_PI * freq * (gdouble) (g->n + i) / g->rate);

      for (guint c = 0; c < g->channels; c++)
        buf[i * g->channels + c] = (gfloat) (amp[c] * v);
    }
    we_loudness_meter_add (meter, buf, n);
    g->n += n;
    total -= n;
  }
}

/* A stereo 997 Hz sine at @dbfs in both channels for @seconds, at @rate. */
static gdouble
stereo_sine_lufs (guint rate, gdouble dbfs, gdouble seconds, gdouble *peak)
{
  g_autoptr(WeLoudnessMeter) meter = we_loudness_meter_new (rate, 2, NULL);
  Generator g = { rate, 2, 0, 0 };
  gdouble levels[] = { dbfs, dbfs };

  feed_sine (meter, &g, 997, levels, seconds);
  if (peak != NULL)
    *peak = we_loudness_meter_peak_dbfs (meter);
  return we_loudness_meter_integrated (meter);
}

static void
test_meter_sine (void)
{
  gdouble peak = 0;

  /* a full-scale 997 Hz sine in both channels of a stereo pair is 0 LUFS */
  g_assert_cmpfloat_with_epsilon (stereo_sine_lufs (48000, -20, 20, &peak), -20.0, 0.1);
  g_assert_cmpfloat_with_epsilon (peak, -20.0, 0.01);
}

/* EBU Tech 3341 (2016) table 1, cases 1 and 2: steady stereo 1 kHz sines */
static void
test_meter_tech3341_steady (void)
{
  g_assert_cmpfloat_with_epsilon (stereo_sine_lufs (48000, -23, 20, NULL), -23.0, 0.1);
  g_assert_cmpfloat_with_epsilon (stereo_sine_lufs (48000, -33, 20, NULL), -33.0, 0.1);
}

typedef struct {
  gdouble dbfs;
  gdouble seconds;
} Segment;

static gdouble
stereo_segments_lufs (const Segment *segments, guint n_segments)
{
  g_autoptr(WeLoudnessMeter) meter = we_loudness_meter_new (48000, 2, NULL);
  Generator g = { 48000, 2, 0, 0 };

  for (guint i = 0; i < n_segments; i++) {
    gdouble levels[] = { segments[i].dbfs, segments[i].dbfs };

    feed_sine (meter, &g, 1000, levels, segments[i].seconds);
  }
  return we_loudness_meter_integrated (meter);
}

/* Tech 3341 cases 3 to 5: the quiet parts of 3 and 4 fall under the
 * relative (and in 4 the absolute) gate; ungated, case 3 would read -24.2 */
static void
test_meter_tech3341_gating (void)
{
  const Segment case3[] = { { -36, 10 }, { -23, 60 }, { -36, 10 } };
  const Segment case4[] = { { -72, 10 }, { -36, 10 }, { -23, 60 }, { -36, 10 }, { -72, 10 } };
  const Segment case5[] = { { -26, 20 }, { -20, 20.1 }, { -26, 20 } };

  g_assert_cmpfloat_with_epsilon (stereo_segments_lufs (case3, G_N_ELEMENTS (case3)), -23.0, 0.1);
  g_assert_cmpfloat_with_epsilon (stereo_segments_lufs (case4, G_N_ELEMENTS (case4)), -23.0, 0.1);
  g_assert_cmpfloat_with_epsilon (stereo_segments_lufs (case5, G_N_ELEMENTS (case5)), -23.0, 0.1);
}

/* loud for a quarter, -80 dBFS for the rest: ungated that would be 6 LU
 * lower. The three blocks that straddle the change are partly loud and
 * above the relative gate, so 10 s hold 98.5 blocks' worth of loud in 100:
 * -20 dBFS at 1 kHz (+0.007 dB) reads -20.059 LUFS. */
static void
test_meter_gates_quiet_part (void)
{
  const Segment loud_then_quiet[] = { { -20, 10 }, { -80, 30 } };
  const Segment quiet_then_loud[] = { { -80, 30 }, { -20, 10 } };
  const Segment only_below_gate[] = { { -75, 10 } };
  const Segment just_above_gate[] = { { -65, 10 } };
  gdouble expected = -20 + 0.007 + 10 * log10 (98.5 / 100);

  g_assert_cmpfloat_with_epsilon (
    stereo_segments_lufs (loud_then_quiet, G_N_ELEMENTS (loud_then_quiet)), expected, 0.01);
  g_assert_cmpfloat_with_epsilon (
    stereo_segments_lufs (quiet_then_loud, G_N_ELEMENTS (quiet_then_loud)), expected, 0.01);
  /* the absolute gate on its own: nothing in the first, everything in the second */
  g_assert_cmpfloat (stereo_segments_lufs (only_below_gate, 1), ==, SILENT);
  g_assert_cmpfloat_with_epsilon (stereo_segments_lufs (just_above_gate, 1), -65.0, 0.1);
}

/* Tech 3341 case 6 is 5.0: L, R at -28 dBFS, C at -24 dBFS and Ls, Rs at
 * -30 dBFS make -23.0 LUFS with the 1.41 surround weights (-23.6 without);
 * here it is 5.1 with a loud LFE that must not count. */
static void
test_meter_tech3341_surround (void)
{
  const GstAudioChannelPosition pos51[] = {
    GST_AUDIO_CHANNEL_POSITION_FRONT_LEFT, GST_AUDIO_CHANNEL_POSITION_FRONT_RIGHT,
    GST_AUDIO_CHANNEL_POSITION_FRONT_CENTER, GST_AUDIO_CHANNEL_POSITION_LFE1,
    GST_AUDIO_CHANNEL_POSITION_REAR_LEFT, GST_AUDIO_CHANNEL_POSITION_REAR_RIGHT,
  };
  /* the same in another channel order, with side surrounds */
  const GstAudioChannelPosition pos51_side[] = {
    GST_AUDIO_CHANNEL_POSITION_LFE1, GST_AUDIO_CHANNEL_POSITION_SIDE_RIGHT,
    GST_AUDIO_CHANNEL_POSITION_FRONT_CENTER, GST_AUDIO_CHANNEL_POSITION_FRONT_LEFT,
    GST_AUDIO_CHANNEL_POSITION_SIDE_LEFT, GST_AUDIO_CHANNEL_POSITION_FRONT_RIGHT,
  };
  const gdouble levels51[] = { -28, -28, -24, -10, -30, -30 };
  const gdouble levels51_side[] = { -10, -30, -24, -28, -30, -28 };
  const GstAudioChannelPosition *layouts[] = { pos51, NULL, pos51_side };
  const gdouble *levels[] = { levels51, levels51, levels51_side };

  for (guint i = 0; i < G_N_ELEMENTS (layouts); i++) {
    g_autoptr(WeLoudnessMeter) meter = we_loudness_meter_new (48000, 6, layouts[i]);
    Generator g = { 48000, 6, 0, 0 };

    feed_sine (meter, &g, 1000, levels[i], 20);
    g_assert_cmpfloat_with_epsilon (we_loudness_meter_integrated (meter), -23.0, 0.1);
    /* the LFE is excluded from loudness, not from the peak */
    g_assert_cmpfloat_with_epsilon (we_loudness_meter_peak_dbfs (meter), -10.0, 0.01);
  }
}

/* The back pair of 7.1 sits at 135-150° and weighs 1.0; the same position
 * name in 5.1 is a surround at 110° and weighs 1.41 (+1.49 LU). */
static void
test_meter_rear_weights (void)
{
  const GstAudioChannelPosition pos71[] = {
    GST_AUDIO_CHANNEL_POSITION_FRONT_LEFT, GST_AUDIO_CHANNEL_POSITION_FRONT_RIGHT,
    GST_AUDIO_CHANNEL_POSITION_FRONT_CENTER, GST_AUDIO_CHANNEL_POSITION_LFE1,
    GST_AUDIO_CHANNEL_POSITION_REAR_LEFT, GST_AUDIO_CHANNEL_POSITION_REAR_RIGHT,
    GST_AUDIO_CHANNEL_POSITION_SIDE_LEFT, GST_AUDIO_CHANNEL_POSITION_SIDE_RIGHT,
  };
  const gdouble only_rear_left[] = { SILENT, SILENT, SILENT, SILENT, -20, SILENT, SILENT, SILENT };
  const gdouble only_side_left[] = { SILENT, SILENT, SILENT, SILENT, SILENT, SILENT, -20, SILENT };
  const gdouble only_left[] = { -20, SILENT, SILENT, SILENT, SILENT, SILENT, SILENT, SILENT };
  g_autoptr(WeLoudnessMeter) rear71 = we_loudness_meter_new (48000, 8, pos71);
  g_autoptr(WeLoudnessMeter) side71 = we_loudness_meter_new (48000, 8, pos71);
  g_autoptr(WeLoudnessMeter) rear51 = we_loudness_meter_new (48000, 6, NULL);
  g_autoptr(WeLoudnessMeter) left51 = we_loudness_meter_new (48000, 6, NULL);
  g_autoptr(WeLoudnessMeter) rear71_default = we_loudness_meter_new (48000, 8, NULL);
  Generator g = { 48000, 8, 0, 0 };
  gdouble front;

  feed_sine (rear71, &g, 1000, only_rear_left, 5);
  feed_sine (side71, &g, 1000, only_side_left, 5);
  feed_sine (rear71_default, &g, 1000, only_rear_left, 5);
  g.channels = 6;
  feed_sine (rear51, &g, 1000, only_rear_left, 5);
  feed_sine (left51, &g, 1000, only_left, 5);

  /* one channel of a -20 dBFS 1 kHz sine: -23.0 LUFS */
  front = we_loudness_meter_integrated (left51);
  g_assert_cmpfloat_with_epsilon (front, -23.0, 0.1);
  g_assert_cmpfloat_with_epsilon (we_loudness_meter_integrated (rear71), front, 0.01);
  g_assert_cmpfloat_with_epsilon (we_loudness_meter_integrated (rear71_default), front, 0.01);
  g_assert_cmpfloat_with_epsilon (we_loudness_meter_integrated (side71) - front,
                                  10 * log10 (1.41), 0.01);
  g_assert_cmpfloat_with_epsilon (we_loudness_meter_integrated (rear51) - front,
                                  10 * log10 (1.41), 0.01);
}

/* the filters are designed per rate, not taken from the 48 kHz table */
static void
test_meter_rates (void)
{
  const guint rates[] = { 44100, 8000, 22050, 32000, 88200, 96000, 192000 };

  for (guint i = 0; i < G_N_ELEMENTS (rates); i++) {
    gdouble lufs = stereo_sine_lufs (rates[i], -23, i == 0 ? 20 : 5, NULL);

    g_test_message ("%u Hz: %.3f LUFS", rates[i], lufs);
    g_assert_cmpfloat_with_epsilon (lufs, -23.0, 0.1);
  }
}

static void
test_meter_mono (void)
{
  g_autoptr(WeLoudnessMeter) meter = we_loudness_meter_new (48000, 1, NULL);
  const GstAudioChannelPosition mono = GST_AUDIO_CHANNEL_POSITION_MONO;
  g_autoptr(WeLoudnessMeter) positioned = we_loudness_meter_new (48000, 1, &mono);
  Generator g = { 48000, 1, 0, 0 };
  const gdouble level = -23;

  feed_sine (meter, &g, 997, &level, 20);
  feed_sine (positioned, &g, 997, &level, 20);
  /* one channel carries half the power of two: 3.01 LU below the stereo case */
  g_assert_cmpfloat_with_epsilon (we_loudness_meter_integrated (meter), -26.0, 0.1);
  g_assert_cmpfloat_with_epsilon (we_loudness_meter_integrated (positioned),
                                  we_loudness_meter_integrated (meter), 0.01);
}

static void
test_meter_silence (void)
{
  g_autoptr(WeLoudnessMeter) meter = we_loudness_meter_new (48000, 2, NULL);
  g_autoptr(WeLoudnessMeter) empty = we_loudness_meter_new (48000, 2, NULL);
  g_autoptr(WeLoudnessMeter) short_tone = we_loudness_meter_new (48000, 2, NULL);
  g_autofree gfloat *zeros = g_new0 (gfloat, 48000 * 2);
  Generator g = { 48000, 2, 0, 0 };
  const gdouble loud[] = { -3, -3 };

  for (guint i = 0; i < 10; i++)
    we_loudness_meter_add (meter, zeros, 48000);
  g_assert_cmpfloat (we_loudness_meter_integrated (meter), ==, SILENT);
  g_assert_cmpfloat (we_loudness_meter_peak_dbfs (meter), ==, SILENT);
  g_assert_cmpfloat (we_loudness_meter_integrated (empty), ==, SILENT);
  g_assert_cmpfloat (we_loudness_meter_peak_dbfs (empty), ==, SILENT);

  /* shorter than one 400 ms block: nothing to gate, so nothing measured */
  feed_sine (short_tone, &g, 997, loud, 0.39);
  g_assert_cmpfloat (we_loudness_meter_integrated (short_tone), ==, SILENT);
  g_assert_cmpfloat_with_epsilon (we_loudness_meter_peak_dbfs (short_tone), -3.0, 0.01);
}

/* how the samples are split between calls changes nothing */
static void
test_meter_chunking (void)
{
  const guint frames = 48000 * 3 + 123;
  g_autofree gfloat *buf = g_new (gfloat, frames * 2);
  g_autoptr(WeLoudnessMeter) whole = we_loudness_meter_new (48000, 2, NULL);
  g_autoptr(WeLoudnessMeter) pieces = we_loudness_meter_new (48000, 2, NULL);
  gsize done = 0;
  guint32 seed = 1;

  for (guint i = 0; i < frames * 2; i++) {
    /* noise with a level that changes every 100 ms, so blocks differ */
    seed = seed * 1664525u + 1013904223u;
    buf[i] = (gfloat) (((gdouble) seed / G_MAXUINT32 - 0.5) * (1 + (i / 9600) % 5) * 0.1);
  }
  we_loudness_meter_add (whole, buf, frames);
  for (gsize n = 1; done < frames; n = n * 3 + 1) {
    gsize take = MIN (n % 5003, frames - done);

    we_loudness_meter_add (pieces, buf + done * 2, take);
    we_loudness_meter_add (pieces, buf, 0);
    done += take;
  }
  g_assert_true (isfinite (we_loudness_meter_integrated (whole)));
  g_assert_cmpfloat_with_epsilon (we_loudness_meter_integrated (pieces),
                                  we_loudness_meter_integrated (whole), 1e-9);
  g_assert_cmpfloat (we_loudness_meter_peak_dbfs (pieces), ==,
                     we_loudness_meter_peak_dbfs (whole));
}

/* a NaN from a broken decoder costs its channel 100 ms, not the programme */
static void
test_meter_not_finite (void)
{
  g_autoptr(WeLoudnessMeter) meter = we_loudness_meter_new (48000, 2, NULL);
  Generator g = { 48000, 2, 0, 0 };
  const gdouble levels[] = { -23, -23 };
  const gfloat bad[] = { NAN, INFINITY, -INFINITY, NAN };

  feed_sine (meter, &g, 997, levels, 10);
  we_loudness_meter_add (meter, bad, 2);
  feed_sine (meter, &g, 997, levels, 10);
  g_assert_cmpfloat_with_epsilon (we_loudness_meter_integrated (meter), -23.0, 0.1);
  g_assert_cmpfloat_with_epsilon (we_loudness_meter_peak_dbfs (meter), -23.0, 0.01);
}

/* ---- the normalisation gain --------------------------------------------- */

static gdouble
db (gdouble gain)
{
  return 20 * log10 (gain);
}

static void
test_gain_for_target (void)
{
  /* plain: 7 dB up, 13 dB down */
  g_assert_cmpfloat_with_epsilon (db (we_loudness_gain_for_target (-30, -20, -23)), 7.0, 1e-9);
  g_assert_cmpfloat_with_epsilon (db (we_loudness_gain_for_target (-10, -1, -23)), -13.0, 1e-9);
  g_assert_cmpfloat_with_epsilon (we_loudness_gain_for_target (-23, -10, -23), 1.0, 1e-12);
  /* at most +20 dB */
  g_assert_cmpfloat_with_epsilon (db (we_loudness_gain_for_target (-60, -50, -23)), 20.0, 1e-9);
  /* the peak may reach -1 dBFS and no further: 7 dB wanted, 4 dB of headroom */
  g_assert_cmpfloat_with_epsilon (db (we_loudness_gain_for_target (-30, -5, -23)), 4.0, 1e-9);
  /* both limits: the tighter one wins */
  g_assert_cmpfloat_with_epsilon (db (we_loudness_gain_for_target (-60, -15, -23)), 14.0, 1e-9);
  /* a source already peaking above -1 dBFS comes down to it */
  g_assert_cmpfloat_with_epsilon (db (we_loudness_gain_for_target (-20, 0, -16)), -1.0, 1e-9);
  /* silence is left alone */
  g_assert_cmpfloat (we_loudness_gain_for_target (SILENT, SILENT, -23), ==, 1.0);
  g_assert_cmpfloat (we_loudness_gain_for_target (SILENT, -40, -23), ==, 1.0);
  /* an unknown peak allows no boost */
  g_assert_cmpfloat (we_loudness_gain_for_target (-30, NAN, -23), ==, 1.0);
  g_assert_cmpfloat_with_epsilon (db (we_loudness_gain_for_target (-10, NAN, -23)), -13.0, 1e-9);
}

/* ---- measuring files ----------------------------------------------------- */

/* Counts the video decoders created in the process: a tracer hook sees every
 * element, including those decodebin makes on its streaming threads. */
typedef struct {
  GstTracer parent;
} DecoderCounter;
typedef struct {
  GstTracerClass parent_class;
} DecoderCounterClass;

static GType decoder_counter_get_type (void);
G_DEFINE_TYPE (DecoderCounter, decoder_counter, GST_TYPE_TRACER)

static gint video_decoders;

static void
decoder_counter_element_new (GstTracer *tracer, GstClockTime ts, GstElement *element)
{
  const gchar *klass = gst_element_class_get_metadata (GST_ELEMENT_GET_CLASS (element),
                                                       GST_ELEMENT_METADATA_KLASS);

  if (klass != NULL && strstr (klass, "Decoder") != NULL && strstr (klass, "Video") != NULL)
    g_atomic_int_inc (&video_decoders);
}

static void
decoder_counter_class_init (DecoderCounterClass *klass)
{
}

static void
decoder_counter_init (DecoderCounter *self)
{
  gst_tracing_register_hook (GST_TRACER (self), "element-new",
                             G_CALLBACK (decoder_counter_element_new));
}

typedef struct {
  gboolean  done;
  gboolean  ok;
  gdouble   lufs;
  gdouble   peak;
  GError   *error;
} Measured;

static void
measured_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  Measured *m = user_data;

  m->ok = we_gst_loudness_measure_finish (res, &m->lufs, &m->peak, &m->error);
  m->done = TRUE;
}

/* Runs the measurement on a main context of its own, pushed as the
 * thread-default one: a source attached anywhere else would never run. */
static gboolean
measure_file (const gchar *path, guint index, GCancellable *cancellable, gboolean cancel_soon,
              gdouble *lufs, gdouble *peak, GError **error)
{
  g_autoptr(GMainContext) context = g_main_context_new ();
  g_autofree gchar *uri = NULL;
  Measured m = { 0, };

  uri = g_str_has_prefix (path, "/") ? gst_filename_to_uri (path, NULL) : g_strdup (path);
  g_main_context_push_thread_default (context);
  we_gst_loudness_measure_async (uri, index, cancellable, measured_cb, &m);
  if (cancel_soon) {
    /* let the pipeline start first */
    for (guint i = 0; i < 3; i++)
      g_main_context_iteration (context, FALSE);
    g_cancellable_cancel (cancellable);
  }
  while (!m.done)
    g_main_context_iteration (context, TRUE);
  g_main_context_pop_thread_default (context);
  if (!m.ok) {
    g_propagate_error (error, m.error);
    return FALSE;
  }
  *lufs = m.lufs;
  *peak = m.peak;
  return TRUE;
}

/* ffmpeg's ebur128 filter on audio stream @index: the "I:" and the sample
 * "Peak:" of its summary */
static void
ffmpeg_ebur128 (const gchar *path, guint index, gdouble *lufs, gdouble *peak)
{
  g_autofree gchar *cmd = NULL;
  g_autofree gchar *err = NULL;
  const gchar *summary, *p;

  cmd = g_strdup_printf ("ffmpeg -nostats -hide_banner -nostdin -i %s -map 0:a:%u "
                         "-af ebur128=peak=sample -f null -", path, index);
  g_free (we_gst_test_run_command (cmd, &err));
  summary = strstr (err, "Summary:");
  g_assert_nonnull (summary);
  p = strstr (summary, "I:");
  g_assert_nonnull (p);
  *lufs = g_ascii_strtod (p + 2, NULL);
  p = strstr (summary, "Peak:");
  g_assert_nonnull (p);
  *peak = g_ascii_strtod (p + 5, NULL);
}

static void
compare_with_ffmpeg (const gchar *path, guint index, gdouble peak_tolerance)
{
  g_autoptr(GError) error = NULL;
  gdouble lufs = 0, peak = 0, ff_lufs = 0, ff_peak = 0;

  g_atomic_int_set (&video_decoders, 0);
  g_assert_true (measure_file (path, index, NULL, FALSE, &lufs, &peak, &error));
  g_assert_no_error (error);
  /* the video of these files is H.264, which avdec_h264 would decode */
  g_assert_cmpint (g_atomic_int_get (&video_decoders), ==, 0);
  ffmpeg_ebur128 (path, index, &ff_lufs, &ff_peak);
  g_test_message ("%s a:%u: %.2f LUFS, peak %.2f dBFS; ffmpeg %.2f LUFS, peak %.2f dBFS",
                  path, index, lufs, peak, ff_lufs, ff_peak);
  g_assert_true (isfinite (lufs));
  g_assert_cmpfloat_with_epsilon (lufs, ff_lufs, 0.3);
  g_assert_cmpfloat_with_epsilon (peak, ff_peak, peak_tolerance);
}

static void
test_measure_vs_ffmpeg (void)
{
  GstElement *decoder;

  /* FLAC decodes to the same samples in both: the peaks agree to ffmpeg's
   * rounding to 0.1 dB */
  compare_with_ffmpeg (fx.mkv, 0, 0.06);
  compare_with_ffmpeg (fx.mkv, 1, 0.06);
  /* AAC decoders may differ by a rounding */
  compare_with_ffmpeg (fx.mp4, 0, 0.2);

  /* the counter would have seen one */
  decoder = gst_element_factory_make ("avdec_h264", NULL);
  g_assert_nonnull (decoder);
  gst_object_unref (decoder);
  g_assert_cmpint (g_atomic_int_get (&video_decoders), ==, 1);
}

static void
test_measure_known_levels (void)
{
  g_autoptr(GError) error = NULL;
  gdouble lufs = 0, peak = 0;

  /* make-clip's sine is 440 Hz, where K-weighting adds 0.01 dB where it
   * adds 0.69 dB at 997 Hz: a -18 dBFS stereo sine reads -18.68 LUFS */
  g_assert_true (measure_file (fx.mp4, 0, NULL, FALSE, &lufs, &peak, &error));
  g_assert_no_error (error);
  g_assert_cmpfloat_with_epsilon (lufs, -18.68, 0.2);
  /* AAC rings a little above the sine's own peak at the start */
  g_assert_cmpfloat (peak, >=, -18.1);
  g_assert_cmpfloat (peak, <, -12.0);

  g_assert_true (measure_file (fx.silence, 0, NULL, FALSE, &lufs, &peak, &error));
  g_assert_no_error (error);
  g_assert_cmpfloat (lufs, ==, SILENT);
  g_assert_cmpfloat (peak, ==, SILENT);
  g_assert_cmpfloat (we_loudness_gain_for_target (lufs, peak, -23), ==, 1.0);
}

static void
test_measure_no_stream (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree gchar *missing = g_build_filename (fx.tmpdir, "missing.mkv", NULL);
  gdouble lufs = 0, peak = 0;

  g_assert_false (measure_file (fx.mkv, 2, NULL, FALSE, &lufs, &peak, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_JOB_UNSUPPORTED_SOURCE);
  g_test_message ("a:2: %s", error->message);
  g_clear_error (&error);

  g_assert_false (measure_file (fx.video_only, 0, NULL, FALSE, &lufs, &peak, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_JOB_UNSUPPORTED_SOURCE);
  g_test_message ("video only: %s", error->message);
  g_clear_error (&error);

  g_assert_false (measure_file (missing, 0, NULL, FALSE, &lufs, &peak, &error));
  g_assert_nonnull (error);
  g_assert_true (error->domain == WE_ERROR);
  g_test_message ("missing: %s", error->message);
  g_clear_error (&error);

  g_assert_false (measure_file ("not a uri", 0, NULL, FALSE, &lufs, &peak, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_SOURCE);
}

static void
test_measure_cancel (void)
{
  g_autoptr(GCancellable) before = g_cancellable_new ();
  g_autoptr(GCancellable) during = g_cancellable_new ();
  g_autoptr(GError) error = NULL;
  gdouble lufs = 0, peak = 0;

  g_cancellable_cancel (before);
  g_assert_false (measure_file (fx.mkv, 1, before, FALSE, &lufs, &peak, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&error);

  g_assert_false (measure_file (fx.mkv, 1, during, TRUE, &lufs, &peak, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
}

/* ---- fixtures ------------------------------------------------------------ */

static void
make_fixtures (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree gchar *pipeline = NULL;

  fx.tmpdir = g_dir_make_tmp ("we-gst-loudness-XXXXXX", &error);
  g_assert_no_error (error);
  fx.mkv = g_build_filename (fx.tmpdir, "two-audio.mkv", NULL);
  fx.mp4 = g_build_filename (fx.tmpdir, "clip.mp4", NULL);
  fx.video_only = g_build_filename (fx.tmpdir, "video-only.mp4", NULL);
  fx.silence = g_build_filename (fx.tmpdir, "silence.wav", NULL);

  /* 6 s; the ticks (10 ms of 997 Hz every second) are mostly gated out */
  pipeline = g_strdup_printf (
    "matroskamux name=m ! filesink location=%s "
    "videotestsrc num-buffers=30 ! video/x-raw,width=64,height=64,framerate=5/1 ! "
    "x264enc speed-preset=ultrafast ! h264parse ! queue ! m. "
    "audiotestsrc wave=ticks freq=997 volume=0.5 samplesperbuffer=4800 num-buffers=60 ! "
    "audio/x-raw,rate=48000,channels=2 ! audioconvert ! flacenc ! queue ! m. "
    "audiotestsrc wave=pink-noise volume=0.1 samplesperbuffer=4800 num-buffers=60 ! "
    "audio/x-raw,rate=48000,channels=6 ! audioconvert ! flacenc ! queue ! m.",
    fx.mkv);
  we_gst_test_run_pipeline (pipeline);
  g_free (pipeline);
  pipeline = g_strdup_printf ("audiotestsrc wave=silence samplesperbuffer=4800 num-buffers=20 ! "
                              "audio/x-raw,rate=44100,channels=2 ! wavenc ! filesink location=%s",
                              fx.silence);
  we_gst_test_run_pipeline (pipeline);
  we_gst_test_make_clip (fx.mp4, "--duration 4 --width 64 --height 64 --audio-volume -18");
  we_gst_test_make_clip (fx.video_only, "--duration 1 --width 64 --height 64 --no-audio");
}

int
main (int argc, char **argv)
{
  g_autoptr(GObject) counter = NULL;
  int rc;

  g_test_init (&argc, &argv, NULL);
  gst_init (NULL, NULL);
  counter = g_object_new (decoder_counter_get_type (), NULL);

  g_test_add_func ("/loudness/meter/sine", test_meter_sine);
  g_test_add_func ("/loudness/meter/tech3341-steady", test_meter_tech3341_steady);
  g_test_add_func ("/loudness/meter/tech3341-gating", test_meter_tech3341_gating);
  g_test_add_func ("/loudness/meter/gates-quiet-part", test_meter_gates_quiet_part);
  g_test_add_func ("/loudness/meter/tech3341-surround", test_meter_tech3341_surround);
  g_test_add_func ("/loudness/meter/rear-weights", test_meter_rear_weights);
  g_test_add_func ("/loudness/meter/rates", test_meter_rates);
  g_test_add_func ("/loudness/meter/mono", test_meter_mono);
  g_test_add_func ("/loudness/meter/silence", test_meter_silence);
  g_test_add_func ("/loudness/meter/chunking", test_meter_chunking);
  g_test_add_func ("/loudness/meter/not-finite", test_meter_not_finite);
  g_test_add_func ("/loudness/gain-for-target", test_gain_for_target);
  g_test_add_func ("/loudness/measure/vs-ffmpeg", test_measure_vs_ffmpeg);
  g_test_add_func ("/loudness/measure/known-levels", test_measure_known_levels);
  g_test_add_func ("/loudness/measure/no-stream", test_measure_no_stream);
  g_test_add_func ("/loudness/measure/cancel", test_measure_cancel);

  make_fixtures ();
  rc = g_test_run ();

  we_gst_test_remove_tree (fx.tmpdir);
  g_free (fx.tmpdir);
  g_free (fx.mkv);
  g_free (fx.mp4);
  g_free (fx.video_only);
  g_free (fx.silence);
  return rc;
}
