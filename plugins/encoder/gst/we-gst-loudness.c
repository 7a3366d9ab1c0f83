/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include "we-gst-loudness.h"

#include <math.h>
#include <string.h>
#include <gst/app/gstappsink.h>
#include <webencode/we-error.h>

#include "we-gst-introspect.h"
#include "we-gst-run.h"

/* BS.1770-4 §2.1: a block of 400 ms is -0.691 + 10 log10 (Σ G_i z_i) LUFS */
#define LOUDNESS_OFFSET   (-0.691)
#define ABSOLUTE_GATE     (-70.0)
#define RELATIVE_GATE     (-10.0)
#define STEPS_PER_BLOCK   4         /* 75 % overlap: a block every 100 ms */
#define SURROUND_WEIGHT   1.41
#define MIN_RATE          4000      /* the pre-filter's shelf must lie below Nyquist */
#define MAX_RATE          768000
/* state below this is flushed to zero so that silence does not decay into
 * denormals, which are slow on most CPUs */
#define STATE_FLOOR       1e-20

#define MAX_GAIN_DB       20.0
#define PEAK_CEILING_DBFS (-1.0)

typedef struct {
  gdouble b0, b1, b2, a1, a2;
} Biquad;

struct _WeLoudnessMeter {
  guint    rate;
  guint    channels;
  gdouble *weights;        /* G_i per channel; 0 skips the channel */
  gdouble *state;          /* 4 per channel: pre-filter s1, s2, RLB s1, s2 */
  Biquad   pre;
  Biquad   rlb;

  guint    step;           /* frames per 100 ms */
  guint    step_fill;      /* frames in the running step */
  gdouble  step_sum;       /* Σ G_i y_i² of the running step */
  gdouble  steps[STEPS_PER_BLOCK];
  guint64  n_steps;        /* steps completed */

  GArray  *blocks;         /* gdouble: Σ G_i z_i of each complete block */
  gfloat   peak;
};

/* The K-weighting filters of BS.1770-4 annex 1 are only given for 48 kHz;
 * these are the analogue prototypes they were designed from (as derived for
 * libebur128), through the bilinear transform, which reproduce the 48 kHz
 * table to 1e-9 and work at any rate. */
static void
k_weighting_coefficients (guint rate, Biquad *pre, Biquad *rlb)
{
  gdouble f0 = 1681.974450955533;
  gdouble gain_db = 3.999843853973347;
  gdouble q = 0.7071752369554196;
  gdouble k = tan (G_PI * f0 / rate);
  gdouble vh = pow (10.0, gain_db / 20.0);
  gdouble vb = pow (vh, 0.4996667741545416);
  gdouble a0 = 1.0 + k / q + k * k;

  pre->b0 = (vh + vb * k / q + k * k) / a0;
  pre->b1 = 2.0 * (k * k - vh) / a0;
  pre->b2 = (vh - vb * k / q + k * k) / a0;
  pre->a1 = 2.0 * (k * k - 1.0) / a0;
  pre->a2 = (1.0 - k / q + k * k) / a0;

  f0 = 38.13547087602444;
  q = 0.5003270373238773;
  k = tan (G_PI * f0 / rate);
  a0 = 1.0 + k / q + k * k;
  /* the high-pass numerator is left unnormalised, as in the standard */
  rlb->b0 = 1.0;
  rlb->b1 = -2.0;
  rlb->b2 = 1.0;
  rlb->a1 = 2.0 * (k * k - 1.0) / a0;
  rlb->a2 = (1.0 - k / q + k * k) / a0;
}

static gboolean
has_position (const GstAudioChannelPosition *positions, guint channels,
              GstAudioChannelPosition pos)
{
  for (guint i = 0; i < channels; i++) {
    if (positions[i] == pos)
      return TRUE;
  }
  return FALSE;
}

/* BS.1770-4 table 4: 1.41 at ear level from 60° to 120° off centre, 1.0
 * elsewhere; the LFE takes no part. */
static gdouble
channel_weight (GstAudioChannelPosition pos, gboolean have_sides)
{
  switch (pos) {
  case GST_AUDIO_CHANNEL_POSITION_LFE1:
  case GST_AUDIO_CHANNEL_POSITION_LFE2:
    return 0.0;
  case GST_AUDIO_CHANNEL_POSITION_SIDE_LEFT:
  case GST_AUDIO_CHANNEL_POSITION_SIDE_RIGHT:
  case GST_AUDIO_CHANNEL_POSITION_SURROUND_LEFT:
  case GST_AUDIO_CHANNEL_POSITION_SURROUND_RIGHT:
  case GST_AUDIO_CHANNEL_POSITION_WIDE_LEFT:
  case GST_AUDIO_CHANNEL_POSITION_WIDE_RIGHT:
    return SURROUND_WEIGHT;
  case GST_AUDIO_CHANNEL_POSITION_REAR_LEFT:
  case GST_AUDIO_CHANNEL_POSITION_REAR_RIGHT:
    /* GStreamer names the surrounds of 5.1 (at 110°) "rear"; beside side
     * channels they are the back pair of 7.1 (at 135-150°) */
    return have_sides ? 1.0 : SURROUND_WEIGHT;
  default:
    return 1.0;
  }
}

static void
set_weights (WeLoudnessMeter *self, const GstAudioChannelPosition *positions)
{
  static const GstAudioChannelPosition usual[] = {
    GST_AUDIO_CHANNEL_POSITION_FRONT_LEFT,
    GST_AUDIO_CHANNEL_POSITION_FRONT_RIGHT,
    GST_AUDIO_CHANNEL_POSITION_FRONT_CENTER,
    GST_AUDIO_CHANNEL_POSITION_LFE1,
    GST_AUDIO_CHANNEL_POSITION_REAR_LEFT,
    GST_AUDIO_CHANNEL_POSITION_REAR_RIGHT,
  };
  GstAudioChannelPosition fallback[64];
  gboolean have_sides;

  if (positions == NULL && self->channels <= G_N_ELEMENTS (usual)) {
    positions = usual;
  } else if (positions == NULL) {
    guint64 mask = gst_audio_channel_get_fallback_mask ((gint) self->channels);

    if (mask == 0 ||
        !gst_audio_channel_positions_from_mask ((gint) self->channels, mask, fallback)) {
      for (guint i = 0; i < self->channels; i++)
        fallback[i] = GST_AUDIO_CHANNEL_POSITION_NONE;
    }
    positions = fallback;
  }
  have_sides = has_position (positions, self->channels, GST_AUDIO_CHANNEL_POSITION_SIDE_LEFT) ||
               has_position (positions, self->channels, GST_AUDIO_CHANNEL_POSITION_SIDE_RIGHT);
  for (guint i = 0; i < self->channels; i++)
    self->weights[i] = channel_weight (positions[i], have_sides);
}

WeLoudnessMeter *
we_loudness_meter_new (guint rate, guint channels, const GstAudioChannelPosition *positions)
{
  WeLoudnessMeter *self;

  g_return_val_if_fail (rate >= MIN_RATE && rate <= MAX_RATE, NULL);
  g_return_val_if_fail (channels >= 1 && channels <= 64, NULL);

  self = g_new0 (WeLoudnessMeter, 1);
  self->rate = rate;
  self->channels = channels;
  self->weights = g_new0 (gdouble, channels);
  self->state = g_new0 (gdouble, 4 * (gsize) channels);
  set_weights (self, positions);
  k_weighting_coefficients (rate, &self->pre, &self->rlb);
  /* rates that are not a multiple of 10 Hz make blocks a fraction of a
   * sample off 400 ms, far below what the gate could notice */
  self->step = (rate + 5) / 10;
  self->blocks = g_array_new (FALSE, FALSE, sizeof (gdouble));
  return self;
}

void
we_loudness_meter_free (WeLoudnessMeter *self)
{
  if (self == NULL)
    return;
  g_array_unref (self->blocks);
  g_free (self->weights);
  g_free (self->state);
  g_free (self);
}

/* Both K-weighting stages over @n frames of channel @c, transposed direct
 * form II in double; returns Σ y². */
static gdouble
filter_channel (WeLoudnessMeter *self, const gfloat *in, gsize n, guint c)
{
  const Biquad pre = self->pre;
  const Biquad rlb = self->rlb;
  gdouble *st = self->state + 4 * (gsize) c;
  gdouble p1 = st[0], p2 = st[1], r1 = st[2], r2 = st[3];
  gdouble sum = 0;
  guint stride = self->channels;

  for (gsize i = 0; i < n; i++) {
    gdouble x = in[i * stride + c];
    gdouble u = pre.b0 * x + p1;
    gdouble y;

    p1 = pre.b1 * x - pre.a1 * u + p2;
    p2 = pre.b2 * x - pre.a2 * u;
    y = u + r1;   /* rlb.b0 == 1 */
    r1 = rlb.b1 * u - rlb.a1 * y + r2;
    r2 = rlb.b2 * u - rlb.a2 * y;
    sum += y * y;
  }
  if (!isfinite (sum)) {
    /* a NaN or infinity would stay in the recursion for good */
    p1 = p2 = r1 = r2 = 0;
    sum = 0;
  }
  st[0] = fabs (p1) < STATE_FLOOR ? 0 : p1;
  st[1] = fabs (p2) < STATE_FLOOR ? 0 : p2;
  st[2] = fabs (r1) < STATE_FLOOR ? 0 : r1;
  st[3] = fabs (r2) < STATE_FLOOR ? 0 : r2;
  return sum;
}

static void
finish_step (WeLoudnessMeter *self)
{
  self->steps[self->n_steps % STEPS_PER_BLOCK] = self->step_sum;
  self->n_steps++;
  self->step_sum = 0;
  self->step_fill = 0;
  if (self->n_steps >= STEPS_PER_BLOCK) {
    gdouble z = 0;

    for (guint i = 0; i < STEPS_PER_BLOCK; i++)
      z += self->steps[i];
    z /= (gdouble) self->step * STEPS_PER_BLOCK;
    g_array_append_val (self->blocks, z);
  }
}

void
we_loudness_meter_add (WeLoudnessMeter *self, const gfloat *interleaved, gsize frames)
{
  gsize samples;
  gfloat peak;

  g_return_if_fail (self != NULL);
  g_return_if_fail (interleaved != NULL || frames == 0);

  samples = frames * self->channels;
  peak = self->peak;
  for (gsize i = 0; i < samples; i++) {
    gfloat a = fabsf (interleaved[i]);

    /* false for NaN */
    if (a > peak && a <= G_MAXFLOAT)
      peak = a;
  }
  self->peak = peak;

  while (frames > 0) {
    gsize n = MIN (frames, (gsize) (self->step - self->step_fill));

    for (guint c = 0; c < self->channels; c++) {
      if (self->weights[c] != 0)
        self->step_sum += self->weights[c] * filter_channel (self, interleaved, n, c);
    }
    self->step_fill += n;
    if (self->step_fill == self->step)
      finish_step (self);
    interleaved += n * self->channels;
    frames -= n;
  }
}

gdouble
we_loudness_meter_integrated (const WeLoudnessMeter *self)
{
  const gdouble *z;
  gdouble absolute = pow (10.0, (ABSOLUTE_GATE - LOUDNESS_OFFSET) / 10.0);
  gdouble relative;
  gdouble sum = 0;
  guint n = 0;

  g_return_val_if_fail (self != NULL, -HUGE_VAL);

  z = (const gdouble *) self->blocks->data;
  for (guint i = 0; i < self->blocks->len; i++) {
    if (z[i] > absolute) {
      sum += z[i];
      n++;
    }
  }
  if (n == 0)
    return -HUGE_VAL;
  /* -10 LU below the loudness of the blocks above the absolute gate */
  relative = sum / n * pow (10.0, RELATIVE_GATE / 10.0);

  sum = 0;
  n = 0;
  for (guint i = 0; i < self->blocks->len; i++) {
    if (z[i] > absolute && z[i] > relative) {
      sum += z[i];
      n++;
    }
  }
  /* the loudest block is always above the relative gate, so n > 0 */
  return LOUDNESS_OFFSET + 10.0 * log10 (sum / n);
}

gdouble
we_loudness_meter_peak_dbfs (const WeLoudnessMeter *self)
{
  g_return_val_if_fail (self != NULL, -HUGE_VAL);

  if (self->peak <= 0)
    return -HUGE_VAL;
  return 20.0 * log10 (self->peak);
}

/* A format change mid-stream (an advert in another layout, say) starts a
 * new meter; the programme is still measured as one. */
static void
meter_take_history (WeLoudnessMeter *self, WeLoudnessMeter *old)
{
  GArray *tmp = self->blocks;

  self->blocks = old->blocks;
  old->blocks = tmp;
  self->peak = MAX (self->peak, old->peak);
}

gdouble
we_loudness_gain_for_target (gdouble measured_lufs, gdouble peak_dbfs, gdouble target_lufs)
{
  gdouble gain_db;

  if (!isfinite (measured_lufs) || !isfinite (target_lufs))
    return 1.0;
  gain_db = MIN (target_lufs - measured_lufs, MAX_GAIN_DB);
  if (isfinite (peak_dbfs))
    gain_db = MIN (gain_db, PEAK_CEILING_DBFS - peak_dbfs);
  else if (!(peak_dbfs < 0))
    /* an unknown peak leaves no headroom to rely on */
    gain_db = MIN (gain_db, 0.0);
  return pow (10.0, gain_db / 20.0);
}

/* ---- measuring a source ------------------------------------------------- */

typedef struct {
  gdouble integrated_lufs;
  gdouble peak_dbfs;
} MeasureResult;

typedef struct {
  GMainContext    *context;
  gchar           *uri;
  guint            stream_index;
  GList           *unpackers;     /* demuxer and parser factories, for autoplug-continue */
  gchar           *task_id;       /* nullable: names the pipeline */
  WePipelineFunc   pipeline_func; /* nullable: introspection */
  gpointer         pipeline_data;
  gboolean         introspected;

  GSource         *cancel_source;
  GSource         *bus_source;
  GstElement      *pipeline;
  GstElement      *decodebin;
  GstElement      *convert;       /* head of the measured branch */
  gboolean         done;

  /* shared with streaming threads */
  GMutex           lock;
  guint            audio_pads;    /* audio pads exposed so far, in decodebin's order */
  gboolean         linked;
  WeLoudnessMeter *meter;
  GstCaps         *meter_caps;
} MeasureJob;

static void
measure_job_stop (MeasureJob *job)
{
  we_gst_source_clear (&job->cancel_source);
  we_gst_source_clear (&job->bus_source);
  /* no encoders to drain: going to NULL is quick, and afterwards no
   * streaming thread points at the job any more */
  if (job->pipeline != NULL)
    gst_element_set_state (job->pipeline, GST_STATE_NULL);
}

static void
measure_job_free (MeasureJob *job)
{
  measure_job_stop (job);
  g_clear_pointer (&job->pipeline, gst_object_unref);
  g_clear_pointer (&job->meter, we_loudness_meter_free);
  g_clear_pointer (&job->meter_caps, gst_caps_unref);
  gst_plugin_feature_list_free (job->unpackers);
  g_clear_pointer (&job->context, g_main_context_unref);
  g_free (job->uri);
  g_free (job->task_id);
  g_mutex_clear (&job->lock);
  g_free (job);
}

/* Completes the task once; @error NULL means success. */
static void
measure_complete (GTask *task, GError *error)
{
  MeasureJob *job = g_task_get_task_data (task);
  MeasureResult *result;

  if (job->done) {
    g_clear_error (&error);
    return;
  }
  job->done = TRUE;
  measure_job_stop (job);
  if (error != NULL) {
    g_task_return_error (task, error);
  } else {
    result = g_new (MeasureResult, 1);
    g_mutex_lock (&job->lock);
    result->integrated_lufs = job->meter != NULL ? we_loudness_meter_integrated (job->meter)
                                                 : -HUGE_VAL;
    result->peak_dbfs = job->meter != NULL ? we_loudness_meter_peak_dbfs (job->meter)
                                           : -HUGE_VAL;
    g_mutex_unlock (&job->lock);
    g_task_return_pointer (task, result, g_free);
  }
  g_object_unref (task);
}

static gboolean
measure_cancelled_cb (GCancellable *cancellable, gpointer user_data)
{
  measure_complete (G_TASK (user_data), we_gst_cancelled_error ("loudness measurement"));
  return G_SOURCE_REMOVE;
}

/* ---- streaming-thread side ---------------------------------------------- */

/* Video is demuxed and parsed but never decoded: decodebin may go on while
 * a demuxer or parser can take the stream (containers typefind as video/
 * too) and stops before anything else, which would be a decoder. */
static gboolean
no_video_decoding_autoplug_continue (GstElement *bin, GstPad *pad, GstCaps *caps,
                                     gpointer user_data)
{
  MeasureJob *job = user_data;
  const GstStructure *s;
  const gchar *name;
  gboolean parsed = FALSE;
  GList *takers;
  gboolean more;

  if (gst_caps_get_size (caps) == 0)
    return TRUE;
  s = gst_caps_get_structure (caps, 0);
  name = gst_structure_get_name (s);
  if (!g_str_has_prefix (name, "video/") && !g_str_has_prefix (name, "image/"))
    return TRUE;
  if (g_str_equal (name, "video/x-raw"))
    return TRUE;
  if (gst_structure_get_boolean (s, "parsed", &parsed) && parsed)
    return FALSE;
  takers = gst_element_factory_list_filter (job->unpackers, caps, GST_PAD_SINK, FALSE);
  more = takers != NULL;
  gst_plugin_feature_list_free (takers);
  return more;
}

static void
decodebin_pad_added (GstElement *decodebin, GstPad *pad, gpointer user_data)
{
  MeasureJob *job = user_data;
  g_autoptr(GstCaps) caps = gst_pad_get_current_caps (pad);
  const gchar *name;
  GstElement *head = NULL;
  g_autoptr(GstPad) sinkpad = NULL;

  if (caps == NULL)
    caps = gst_pad_query_caps (pad, NULL);
  name = gst_caps_get_size (caps) > 0 ? gst_structure_get_name (gst_caps_get_structure (caps, 0))
                                      : "";

  g_mutex_lock (&job->lock);
  /* decodebin exposes the streams of a kind in stream-id order, which is
   * the order of the tracks in the container (ffmpeg's 0:a:N) */
  if (g_str_has_prefix (name, "audio/") && job->audio_pads++ == job->stream_index &&
      g_str_has_prefix (name, "audio/x-raw")) {
    head = job->convert;
    job->linked = TRUE;
  }
  g_mutex_unlock (&job->lock);

  if (head == NULL)
    head = we_gst_add_fakesink (job->pipeline);
  sinkpad = gst_element_get_static_pad (head, "sink");
  if (gst_pad_link (pad, sinkpad) != GST_PAD_LINK_OK)
    we_gst_post_app_message (job->pipeline, "we-link-failed", name);
}

/* job->lock held */
static gboolean
configure_meter (MeasureJob *job, GstCaps *caps)
{
  GstAudioInfo info;
  WeLoudnessMeter *meter;
  g_autofree gchar *detail = NULL;

  if (job->meter_caps != NULL && gst_caps_is_equal (caps, job->meter_caps))
    return TRUE;
  if (!gst_audio_info_from_caps (&info, caps) ||
      GST_AUDIO_INFO_FORMAT (&info) != GST_AUDIO_FORMAT_F32 ||
      GST_AUDIO_INFO_LAYOUT (&info) != GST_AUDIO_LAYOUT_INTERLEAVED ||
      GST_AUDIO_INFO_RATE (&info) < MIN_RATE || GST_AUDIO_INFO_RATE (&info) > MAX_RATE) {
    detail = gst_caps_to_string (caps);
    we_gst_post_app_message (job->pipeline, "we-bad-format", detail);
    return FALSE;
  }
  /* unpositioned channels get the usual order rather than all 1.0, which
   * would count an LFE */
  meter = we_loudness_meter_new ((guint) GST_AUDIO_INFO_RATE (&info),
                                 (guint) GST_AUDIO_INFO_CHANNELS (&info),
                                 GST_AUDIO_INFO_IS_UNPOSITIONED (&info) ? NULL : info.position);
  if (job->meter != NULL)
    meter_take_history (meter, job->meter);
  g_clear_pointer (&job->meter, we_loudness_meter_free);
  job->meter = meter;
  gst_caps_replace (&job->meter_caps, caps);
  return TRUE;
}

static GstFlowReturn
appsink_new_sample (GstAppSink *appsink, gpointer user_data)
{
  MeasureJob *job = user_data;
  g_autoptr(GstSample) sample = gst_app_sink_pull_sample (appsink);
  GstCaps *caps;
  GstBuffer *buf;
  GstMapInfo map;
  GstFlowReturn ret = GST_FLOW_OK;

  if (sample == NULL)
    return GST_FLOW_FLUSHING;
  caps = gst_sample_get_caps (sample);
  buf = gst_sample_get_buffer (sample);
  if (caps == NULL || buf == NULL)
    return GST_FLOW_OK;
  if (!gst_buffer_map (buf, &map, GST_MAP_READ))
    return GST_FLOW_ERROR;

  g_mutex_lock (&job->lock);
  if (!configure_meter (job, caps)) {
    ret = GST_FLOW_NOT_NEGOTIATED;
  } else {
    gsize frames = map.size / (sizeof (gfloat) * job->meter->channels);

    if (((guintptr) map.data % G_ALIGNOF (gfloat)) == 0) {
      we_loudness_meter_add (job->meter, (const gfloat *) map.data, frames);
    } else {
      /* a sub-buffer at an odd offset; rare enough to copy */
      g_autofree gfloat *copy = g_memdup2 (map.data, frames * sizeof (gfloat) *
                                                       job->meter->channels);

      we_loudness_meter_add (job->meter, copy, frames);
    }
  }
  g_mutex_unlock (&job->lock);
  gst_buffer_unmap (buf, &map);
  return ret;
}

/* ---- main-context side -------------------------------------------------- */

static gboolean
bus_cb (GstBus *bus, GstMessage *msg, gpointer user_data)
{
  GTask *task = G_TASK (user_data);
  MeasureJob *job = g_task_get_task_data (task);

  if (job->done)
    return G_SOURCE_REMOVE;
  we_gst_introspect_message (job->pipeline, msg, "loudness", job->pipeline_func,
                             job->pipeline_data, &job->introspected);
  switch (GST_MESSAGE_TYPE (msg)) {
  case GST_MESSAGE_ERROR:
    measure_complete (task, we_gst_error_from_message (msg, job->decodebin));
    return G_SOURCE_REMOVE;
  case GST_MESSAGE_EOS:
    measure_complete (task, NULL);
    return G_SOURCE_REMOVE;
  case GST_MESSAGE_WARNING:
    we_gst_log_warning (msg);
    break;
  case GST_MESSAGE_APPLICATION: {
    const GstStructure *s = gst_message_get_structure (msg);
    const gchar *detail = gst_structure_get_string (s, "detail");

    if (gst_structure_has_name (s, "we-pads-done")) {
      gboolean linked;
      guint audio_pads;

      g_mutex_lock (&job->lock);
      linked = job->linked;
      audio_pads = job->audio_pads;
      g_mutex_unlock (&job->lock);
      if (!linked && job->stream_index < audio_pads) {
        measure_complete (task, g_error_new (WE_ERROR, WE_ERROR_JOB_UNSUPPORTED_SOURCE,
                                             "audio stream %u of the source cannot be decoded",
                                             job->stream_index));
        return G_SOURCE_REMOVE;
      } else if (!linked) {
        measure_complete (task, g_error_new (WE_ERROR, WE_ERROR_JOB_UNSUPPORTED_SOURCE,
                                             "source has no audio stream %u (%u decodable)",
                                             job->stream_index, audio_pads));
        return G_SOURCE_REMOVE;
      }
    } else if (gst_structure_has_name (s, "we-bad-format")) {
      measure_complete (task, g_error_new (WE_ERROR, WE_ERROR_JOB_UNSUPPORTED_SOURCE,
                                           "cannot measure the loudness of %s", detail));
      return G_SOURCE_REMOVE;
    } else if (gst_structure_has_name (s, "we-link-failed")) {
      measure_complete (task, g_error_new (WE_ERROR, WE_ERROR_JOB_FAILED,
                                           "cannot link the %s stream for measuring loudness",
                                           detail));
      return G_SOURCE_REMOVE;
    }
    break;
  }
  default:
    break;
  }
  return job->done ? G_SOURCE_REMOVE : G_SOURCE_CONTINUE;
}

static gboolean
build_pipeline (MeasureJob *job, GError **error)
{
  GstElement *filter;
  GstElement *progress;
  GstElement *sink;
  g_autoptr(GstCaps) caps = NULL;
  GstAppSinkCallbacks callbacks = { 0, };

  job->pipeline = gst_object_ref_sink (gst_pipeline_new (we_gst_pipeline_name (job->task_id)));
  job->decodebin = we_gst_bin_add_new (job->pipeline, "uridecodebin", NULL, error);
  if (job->decodebin == NULL)
    return FALSE;
  g_object_set (job->decodebin, "uri", job->uri, NULL);

  job->convert = we_gst_bin_add_new (job->pipeline, "audioconvert", NULL, error);
  if (job->convert == NULL)
    return FALSE;
  filter = we_gst_bin_add_new (job->pipeline, "capsfilter", NULL, error);
  if (filter == NULL)
    return FALSE;
  caps = gst_caps_new_simple ("audio/x-raw", "format", G_TYPE_STRING, "F32LE",
                              "layout", G_TYPE_STRING, "interleaved", NULL);
  g_object_set (filter, "caps", caps, NULL);
  /* how far the measurement has read, on the bus */
  progress = we_gst_add_progress (job->pipeline, "progress", error);
  if (progress == NULL)
    return FALSE;
  sink = we_gst_bin_add_new (job->pipeline, "appsink", NULL, error);
  if (sink == NULL)
    return FALSE;
  /* as fast as the source decodes; the other streams' fakesinks do not
   * preroll either */
  g_object_set (sink, "sync", FALSE, "async", FALSE, NULL);
  callbacks.new_sample = appsink_new_sample;
  gst_app_sink_set_callbacks (GST_APP_SINK (sink), &callbacks, job, NULL);
  if (!gst_element_link_many (job->convert, filter, progress, sink, NULL)) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_JOB_FAILED,
                         "cannot link audioconvert to appsink");
    return FALSE;
  }

  job->unpackers = gst_element_factory_list_get_elements (GST_ELEMENT_FACTORY_TYPE_DEMUXER |
                                                            GST_ELEMENT_FACTORY_TYPE_PARSER,
                                                          GST_RANK_MARGINAL);
  g_signal_connect (job->decodebin, "autoplug-continue",
                    G_CALLBACK (no_video_decoding_autoplug_continue), job);
  g_signal_connect (job->decodebin, "pad-added", G_CALLBACK (decodebin_pad_added), job);
  g_signal_connect (job->decodebin, "no-more-pads", G_CALLBACK (we_gst_pads_done_cb),
                    job->pipeline);
  return TRUE;
}

void
we_gst_loudness_measure_async (const gchar *uri, guint stream_index, GCancellable *cancellable,
                               GAsyncReadyCallback callback, gpointer user_data)
{
  we_gst_loudness_measure_task_async (uri, stream_index, NULL, NULL, NULL, cancellable, callback,
                                      user_data);
}

void
we_gst_loudness_measure_task_async (const gchar *uri, guint stream_index, const gchar *task_id,
                                    WePipelineFunc pipeline_func, gpointer pipeline_data,
                                    GCancellable *cancellable, GAsyncReadyCallback callback,
                                    gpointer user_data)
{
  GTask *task = g_task_new (NULL, cancellable, callback, user_data);
  MeasureJob *job = g_new0 (MeasureJob, 1);
  GError *error = NULL;

  g_task_set_source_tag (task, we_gst_loudness_measure_async);
  g_mutex_init (&job->lock);
  job->context = g_main_context_ref_thread_default ();
  job->uri = g_strdup (uri);
  job->stream_index = stream_index;
  job->task_id = g_strdup (task_id);
  job->pipeline_func = pipeline_func;
  job->pipeline_data = pipeline_data;
  g_task_set_task_data (task, job, (GDestroyNotify) measure_job_free);

  if (uri == NULL || !gst_uri_is_valid (uri)) {
    measure_complete (task, g_error_new (WE_ERROR, WE_ERROR_JOB_INVALID_SOURCE,
                                         "not a URI: %s", uri != NULL ? uri : "(null)"));
    return;
  }
  if (!we_gst_watch_cancellable (cancellable, job->context, measure_cancelled_cb, task,
                                 &job->cancel_source)) {
    measure_complete (task, we_gst_cancelled_error ("loudness measurement"));
    return;
  }
  if (!build_pipeline (job, &error)) {
    measure_complete (task, error);
    return;
  }
  job->bus_source = we_gst_bus_watch_attach (job->pipeline, job->context, bus_cb, task);
  if (!we_gst_pipeline_play (job->pipeline, job->decodebin, "pipeline", &error))
    measure_complete (task, error);
}

gboolean
we_gst_loudness_measure_finish (GAsyncResult *result, gdouble *integrated_lufs,
                                gdouble *peak_dbfs, GError **error)
{
  g_autofree MeasureResult *r = NULL;

  g_return_val_if_fail (g_async_result_is_tagged (result, we_gst_loudness_measure_async), FALSE);

  r = g_task_propagate_pointer (G_TASK (result), error);
  if (r == NULL)
    return FALSE;
  if (integrated_lufs != NULL)
    *integrated_lufs = r->integrated_lufs;
  if (peak_dbfs != NULL)
    *peak_dbfs = r->peak_dbfs;
  return TRUE;
}
