/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include "we-gst-stitch.h"

#include <math.h>
#include <glib/gstdio.h>
#include <gst/app/app.h>
#include <webencode/we-error.h>

#include "we-gst-introspect.h"
#include "we-gst-reader.h"
#include "we-gst-run.h"

#define POLL_INTERVAL   (50 * GST_MSECOND)
#define APPSRC_MAX_BYTES (8 * 1024 * 1024)
/* containers store times in ticks (WebM: 1 ms) */
#define ROUNDING_SLACK_S 0.0015

typedef struct {
  gchar       **segment_uris;
  gchar        *audio_uri;
  gchar        *output_path;
  WeProfile    *profile;
  guint64       expected_frames;
  gdouble       expected_duration_s;
  gdouble       frame_duration_s;
  /* how much later than the video the audio ends in the intermediates: the
   * source's own offset, which the output may keep */
  gdouble       source_overhang_s;
  WeStitchReport report;
  /* introspection, reported on the caller's context */
  gchar        *task_id;
  WePipelineFunc pipeline_func;
  gpointer      pipeline_data;
  GMainContext *context;
} StitchJob;

static void
stitch_job_free (StitchJob *job)
{
  g_strfreev (job->segment_uris);
  g_free (job->audio_uri);
  g_free (job->output_path);
  g_clear_pointer (&job->profile, we_profile_unref);
  g_free (job->task_id);
  g_clear_pointer (&job->context, g_main_context_unref);
  g_free (job);
}

/* ---- pass 1: what the segments hold ------------------------------------- */

typedef struct {
  GArray       *pts;        /* GstClockTime per frame, decode order, all segments */
  GArray       *durations;  /* GstClockTime per frame, NONE when unknown */
  GstCaps      *caps;       /* of the first segment */
  GstCaps      *seg_caps;   /* of the segment being read */
  GstClockTime  seg_min;
  GstClockTime  seg_max;
} VideoScan;

static gboolean
video_scan_buffer (WeGstStreamKind kind, GstBuffer *buf, GstCaps *caps, gpointer user_data)
{
  VideoScan *s = user_data;
  GstClockTime pts = GST_BUFFER_PTS (buf);
  GstClockTime dur = GST_BUFFER_DURATION (buf);

  if (!GST_CLOCK_TIME_IS_VALID (pts))
    return TRUE;
  if (s->seg_caps == NULL && caps != NULL)
    s->seg_caps = gst_caps_ref (caps);
  g_array_append_val (s->pts, pts);
  g_array_append_val (s->durations, dur);
  s->seg_min = GST_CLOCK_TIME_IS_VALID (s->seg_min) ? MIN (s->seg_min, pts) : pts;
  s->seg_max = GST_CLOCK_TIME_IS_VALID (s->seg_max) ? MAX (s->seg_max, pts) : pts;
  return TRUE;
}

typedef struct {
  GstCaps      *caps;
  GstClockTime  first;
} AudioHead;

static gboolean
audio_head_buffer (WeGstStreamKind kind, GstBuffer *buf, GstCaps *caps, gpointer user_data)
{
  AudioHead *a = user_data;

  if (!GST_BUFFER_PTS_IS_VALID (buf))
    return TRUE;
  a->first = GST_BUFFER_PTS (buf);
  a->caps = caps != NULL ? gst_caps_ref (caps) : NULL;
  return FALSE;
}

static gboolean
same_codec_setup (GstCaps *a, GstCaps *b)
{
  const GstStructure *sa = gst_caps_get_structure (a, 0);
  const GstStructure *sb = gst_caps_get_structure (b, 0);
  const GValue *ca = gst_structure_get_value (sa, "codec_data");
  const GValue *cb = gst_structure_get_value (sb, "codec_data");
  gint wa = 0, ha = 0, wb = 0, hb = 0;

  if (!gst_structure_has_name (sb, gst_structure_get_name (sa)))
    return FALSE;
  gst_structure_get_int (sa, "width", &wa);
  gst_structure_get_int (sa, "height", &ha);
  gst_structure_get_int (sb, "width", &wb);
  gst_structure_get_int (sb, "height", &hb);
  if (wa != wb || ha != hb)
    return FALSE;
  /* one stream, one set of parameter sets: MP4 cannot change them midway */
  if ((ca == NULL) != (cb == NULL))
    return FALSE;
  return ca == NULL || gst_value_compare (ca, cb) == GST_VALUE_EQUAL;
}

static gint
compare_clock_time (gconstpointer a, gconstpointer b)
{
  GstClockTime x = *(const GstClockTime *) a;
  GstClockTime y = *(const GstClockTime *) b;

  return x < y ? -1 : x > y ? 1 : 0;
}

/* ---- pass 2: pushing into the muxer ------------------------------------- */

typedef struct {
  StitchJob    *job;
  GstAppSrc    *appsrc;
  GstSegment    segment;
  GstCaps      *caps;
  GCancellable *abort;      /* cancelled when anything fails */
  GError       *error;
  GThread      *thread;

  /* video */
  GArray       *pts;        /* decode order, as read in pass 1 */
  GArray       *dts;        /* decode order, rebuilt */
  GArray       *durations;  /* decode order */
  guint         index;
  /* the output timeline: source time - origin + offset */
  GstClockTime  origin;
  GstClockTime  offset;
  GstClockTime  end;        /* of the last buffer read, source time */
} Pusher;

static gboolean
push_buffer (Pusher *p, GstBuffer *buf, GstClockTime pts, GstClockTime dts, GstClockTime dur)
{
  g_autoptr(GstSample) sample = NULL;
  GstFlowReturn ret;

  buf = gst_buffer_copy (buf);
  GST_BUFFER_PTS (buf) = pts;
  GST_BUFFER_DTS (buf) = dts;
  GST_BUFFER_DURATION (buf) = dur;
  /* the joins are seamless; only the very first buffer starts a stream */
  GST_BUFFER_FLAG_UNSET (buf, GST_BUFFER_FLAG_DISCONT);
  sample = gst_sample_new (buf, p->caps, &p->segment, NULL);
  gst_buffer_unref (buf);
  ret = gst_app_src_push_sample (p->appsrc, sample);
  if (ret != GST_FLOW_OK) {
    if (p->error == NULL && !g_cancellable_is_cancelled (p->abort))
      p->error = g_error_new (WE_ERROR, WE_ERROR_JOB_FAILED, "muxer refused data: %s",
                              gst_flow_get_name (ret));
    return FALSE;
  }
  return TRUE;
}

static gboolean
push_video_buffer (WeGstStreamKind kind, GstBuffer *buf, GstCaps *caps, gpointer user_data)
{
  Pusher *p = user_data;
  GstClockTime pts = GST_BUFFER_PTS (buf);
  guint i = p->index;

  if (!GST_CLOCK_TIME_IS_VALID (pts))
    return TRUE;
  if (i >= p->pts->len || g_array_index (p->pts, GstClockTime, i) != pts) {
    p->error = g_error_new (WE_ERROR, WE_ERROR_JOB_FAILED,
                            "segments changed while being stitched (frame %u)", i);
    return FALSE;
  }
  p->index++;
  return push_buffer (p, buf, pts - p->origin + p->offset,
                      g_array_index (p->dts, GstClockTime, i) - p->origin + p->offset,
                      g_array_index (p->durations, GstClockTime, i));
}

static gboolean
push_audio_buffer (WeGstStreamKind kind, GstBuffer *buf, GstCaps *caps, gpointer user_data)
{
  Pusher *p = user_data;
  GstClockTime pts = GST_BUFFER_PTS (buf);

  if (!GST_CLOCK_TIME_IS_VALID (pts) || pts < p->origin)
    return TRUE;
  p->end = MAX (p->end, pts + (GST_BUFFER_DURATION_IS_VALID (buf) ? GST_BUFFER_DURATION (buf) : 0));
  return push_buffer (p, buf, pts - p->origin + p->offset, pts - p->origin + p->offset,
                      GST_BUFFER_DURATION (buf));
}

static gpointer
video_pusher_thread (gpointer data)
{
  Pusher *p = data;

  for (guint s = 0; p->job->segment_uris[s] != NULL && p->error == NULL; s++) {
    if (!we_gst_read_streams (p->job->segment_uris[s], WE_GST_READ_VIDEO | WE_GST_READ_RAW_TIME, push_video_buffer, p,
                              p->abort, p->error == NULL ? &p->error : NULL))
      break;
  }
  if (p->error == NULL && p->index != p->pts->len)
    p->error = g_error_new (WE_ERROR, WE_ERROR_JOB_FAILED,
                            "segments changed while being stitched (%u of %u frames read)",
                            p->index, p->pts->len);
  if (p->error != NULL)
    g_cancellable_cancel (p->abort);
  else
    gst_app_src_end_of_stream (p->appsrc);
  return NULL;
}

static gpointer
audio_pusher_thread (gpointer data)
{
  Pusher *p = data;

  we_gst_read_streams (p->job->audio_uri, WE_GST_READ_AUDIO | WE_GST_READ_RAW_TIME, push_audio_buffer, p, p->abort,
                       p->error == NULL ? &p->error : NULL);
  if (p->error != NULL)
    g_cancellable_cancel (p->abort);
  else
    gst_app_src_end_of_stream (p->appsrc);
  return NULL;
}

/* ---- verification ------------------------------------------------------- */

typedef struct {
  guint64      frames;
  GstClockTime v_start, v_end;
  GstClockTime a_start, a_end;
  GstClockTime a_frame;
  gboolean     has_audio;
} Measure;

static gboolean
measure_buffer (WeGstStreamKind kind, GstBuffer *buf, GstCaps *caps, gpointer user_data)
{
  Measure *m = user_data;
  GstClockTime pts = GST_BUFFER_PTS (buf);
  GstClockTime dur = GST_BUFFER_DURATION_IS_VALID (buf) ? GST_BUFFER_DURATION (buf) : 0;

  if (!GST_CLOCK_TIME_IS_VALID (pts))
    return TRUE;
  if (kind == WE_GST_STREAM_VIDEO) {
    m->v_start = m->frames == 0 ? pts : MIN (m->v_start, pts);
    m->v_end = m->frames == 0 ? pts + dur : MAX (m->v_end, pts + dur);
    m->frames++;
  } else {
    m->a_start = !m->has_audio ? pts : MIN (m->a_start, pts);
    m->a_end = !m->has_audio ? pts + dur : MAX (m->a_end, pts + dur);
    m->a_frame = MAX (m->a_frame, dur);
    m->has_audio = TRUE;
  }
  return TRUE;
}

static gboolean
verify_output (StitchJob *job, GCancellable *cancellable, GError **error)
{
  g_autofree gchar *uri = g_filename_to_uri (job->output_path, NULL, NULL);
  Measure m = { 0, };
  gdouble vdur, adur, tol, a_vs_v;

  if (!we_gst_read_streams (uri, WE_GST_READ_VIDEO | WE_GST_READ_AUDIO, measure_buffer, &m,
                            cancellable, error)) {
    g_prefix_error (error, "stitched output cannot be read back: ");
    if (error != NULL && *error != NULL && (*error)->domain == WE_ERROR)
      (*error)->code = WE_ERROR_JOB_FAILED;
    return FALSE;
  }
  vdur = m.frames > 0 ? (gdouble) (m.v_end - m.v_start) / GST_SECOND : 0;
  adur = m.has_audio ? (gdouble) (m.a_end - m.a_start) / GST_SECOND : 0;
  job->report.frames = m.frames;
  job->report.video_duration_s = vdur;
  job->report.audio_duration_s = adur;
  job->report.duration_s = vdur;
  if (m.has_audio) {
    GstClockTime start = MIN (m.v_start, m.a_start);
    GstClockTime end = MAX (m.v_end, m.a_end);

    job->report.duration_s = (gdouble) (end - start) / GST_SECOND;
  }
  g_debug ("stitched %s: %" G_GUINT64_FORMAT " frames, video %.6f s from %.6f, audio %.6f s "
           "from %.6f", job->output_path, m.frames, vdur, (gdouble) m.v_start / GST_SECOND,
           adur, (gdouble) m.a_start / GST_SECOND);

  if (m.frames == 0) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_JOB_FAILED, "stitched output has no video");
    return FALSE;
  }
  if (job->expected_frames > 0 && m.frames != job->expected_frames) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_FAILED,
                 "stitched output has %" G_GUINT64_FORMAT " frames, source has %"
                 G_GUINT64_FORMAT, m.frames, job->expected_frames);
    return FALSE;
  }
  tol = (job->frame_duration_s > 0 ? job->frame_duration_s : 0) + ROUNDING_SLACK_S;
  if (job->expected_duration_s > 0 && fabs (vdur - job->expected_duration_s) > tol) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_FAILED,
                 "stitched video lasts %.3f s, source video %.3f s (tolerance %.3f s)", vdur,
                 job->expected_duration_s, tol);
    return FALSE;
  }
  if (job->audio_uri != NULL && !m.has_audio) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_JOB_FAILED, "stitched output lost its audio");
    return FALSE;
  }
  if (m.has_audio) {
    /* audio that starts after the video (as in the source) is shorter by
     * that much: what must agree is where the two end */
    a_vs_v = ((gdouble) m.a_end - (gdouble) m.v_end) / GST_SECOND;
    tol = (gdouble) m.a_frame / GST_SECOND + ROUNDING_SLACK_S + fabs (job->source_overhang_s);
    if (fabs (a_vs_v) > tol) {
      g_set_error (error, WE_ERROR, WE_ERROR_JOB_FAILED,
                   "stitched audio ends %.3f s %s the video (audio %.3f s from %.3f s, video "
                   "%.3f s; tolerance one audio frame plus the source's own %.3f s, %.3f s)",
                   fabs (a_vs_v), a_vs_v > 0 ? "after" : "before", adur,
                   (gdouble) m.a_start / GST_SECOND, vdur, job->source_overhang_s, tol);
      return FALSE;
    }
  }
  return TRUE;
}

/* ---- the stitch --------------------------------------------------------- */

static GstElement *
make_muxer (const WeProfile *profile, GError **error)
{
  GstElement *mux = NULL;

  if (g_strcmp0 (profile->container, "mp4") == 0) {
    mux = gst_element_factory_make ("mp4mux", "mux");
    /* -movflags +faststart */
    if (mux != NULL)
      g_object_set (mux, "faststart", TRUE, NULL);
  } else if (g_strcmp0 (profile->container, "webm") == 0) {
    mux = gst_element_factory_make ("webmmux", "mux");
  } else if (g_strcmp0 (profile->container, "mkv") == 0) {
    mux = gst_element_factory_make ("matroskamux", "mux");
  } else {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_PROFILE, "unsupported container '%s'",
                 profile->container);
    return NULL;
  }
  if (mux == NULL)
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_FAILED, "no muxer for '%s' is installed",
                 profile->container);
  return mux;
}

static GstAppSrc *
add_appsrc (GstElement *pipeline, GstElement *mux, GstCaps *caps, const gchar *pad_template,
            const gchar *progress_name, GError **error)
{
  GstElement *src = gst_element_factory_make ("appsrc", NULL);
  GstElement *tail = src;
  g_autoptr(GstPad) srcpad = NULL;
  g_autoptr(GstPad) muxpad = NULL;

  g_object_set (src, "caps", caps, "format", GST_FORMAT_TIME, "block", TRUE,
                "handle-segment-change", TRUE, "max-bytes", (guint64) APPSRC_MAX_BYTES, NULL);
  gst_bin_add (GST_BIN (pipeline), src);
  if (progress_name != NULL) {
    /* what has been written so far, on the bus as the other pipelines' */
    tail = we_gst_add_progress (pipeline, progress_name, error);
    if (tail == NULL)
      return NULL;
    if (!gst_element_link (src, tail)) {
      g_set_error_literal (error, WE_ERROR, WE_ERROR_JOB_FAILED,
                           "cannot link appsrc to weprogress");
      return NULL;
    }
  }
  srcpad = gst_element_get_static_pad (tail, "src");
  muxpad = gst_element_request_pad_simple (mux, pad_template);
  if (muxpad == NULL || gst_pad_link (srcpad, muxpad) != GST_PAD_LINK_OK) {
    g_autofree gchar *desc = gst_caps_to_string (caps);

    g_set_error (error, WE_ERROR, WE_ERROR_JOB_FAILED, "the %s muxer does not take %s",
                 GST_OBJECT_NAME (mux), desc);
    return NULL;
  }
  return GST_APP_SRC (src);
}

static void
pusher_clear (Pusher *p)
{
  if (p->thread != NULL)
    g_thread_join (g_steal_pointer (&p->thread));
  g_clear_error (&p->error);
  g_clear_pointer (&p->caps, gst_caps_unref);
}

static gboolean
stitch_run (StitchJob *job, GCancellable *cancellable, GError **error)
{
  g_autoptr(GArray) pts = g_array_new (FALSE, FALSE, sizeof (GstClockTime));
  g_autoptr(GArray) durations = g_array_new (FALSE, FALSE, sizeof (GstClockTime));
  g_autoptr(GArray) sorted = NULL;
  g_autoptr(GArray) dts = NULL;
  g_autoptr(GArray) out_durations = NULL;
  g_autoptr(GstCaps) vcaps = NULL;
  g_autoptr(GstElement) pipeline = NULL;
  g_autoptr(GstBus) bus = NULL;
  g_autoptr(GCancellable) abort = g_cancellable_new ();
  GstElement *mux;
  GstElement *sink;
  AudioHead audio = { NULL, GST_CLOCK_TIME_NONE };
  Pusher vp = { 0, };
  Pusher ap = { 0, };
  GstClockTime prev_max = GST_CLOCK_TIME_NONE;
  GstClockTime delay = 0;
  GstClockTime origin;
  GError *local = NULL;
  gboolean ok = FALSE;
  guint n_segments = g_strv_length (job->segment_uris);
  gboolean introspected = FALSE;

  /* pass 1: every frame's time, so decode timestamps can be rebuilt for
   * the whole (Matroska keeps presentation times only) */
  for (guint s = 0; s < n_segments; s++) {
    VideoScan scan = { pts, durations, NULL, NULL, GST_CLOCK_TIME_NONE, GST_CLOCK_TIME_NONE };
    guint before = pts->len;

    if (!we_gst_read_streams (job->segment_uris[s], WE_GST_READ_VIDEO | WE_GST_READ_RAW_TIME, video_scan_buffer, &scan,
                              cancellable, error)) {
      g_prefix_error (error, "segment %u (%s): ", s + 1, job->segment_uris[s]);
      if ((*error)->domain == WE_ERROR)
        (*error)->code = WE_ERROR_JOB_FAILED;
      g_clear_pointer (&scan.seg_caps, gst_caps_unref);
      return FALSE;
    }
    if (pts->len == before || scan.seg_caps == NULL) {
      g_clear_pointer (&scan.seg_caps, gst_caps_unref);
      g_set_error (error, WE_ERROR, WE_ERROR_JOB_FAILED, "segment %u (%s) has no video frames",
                   s + 1, job->segment_uris[s]);
      return FALSE;
    }
    if (vcaps == NULL) {
      vcaps = g_steal_pointer (&scan.seg_caps);
    } else if (!same_codec_setup (vcaps, scan.seg_caps)) {
      g_clear_pointer (&scan.seg_caps, gst_caps_unref);
      g_set_error (error, WE_ERROR, WE_ERROR_JOB_FAILED,
                   "segment %u was encoded with other codec parameters than segment 1", s + 1);
      return FALSE;
    }
    g_clear_pointer (&scan.seg_caps, gst_caps_unref);
    if (GST_CLOCK_TIME_IS_VALID (prev_max) && scan.seg_min <= prev_max) {
      g_set_error (error, WE_ERROR, WE_ERROR_JOB_FAILED,
                   "segment %u (from %.3f s) overlaps segment %u (to %.3f s)", s + 1,
                   (gdouble) scan.seg_min / GST_SECOND, s, (gdouble) prev_max / GST_SECOND);
      return FALSE;
    }
    prev_max = scan.seg_max;
  }
  if (job->audio_uri != NULL) {
    if (!we_gst_read_streams (job->audio_uri, WE_GST_READ_AUDIO | WE_GST_READ_RAW_TIME, audio_head_buffer, &audio,
                              cancellable, error)) {
      g_prefix_error (error, "audio (%s): ", job->audio_uri);
      if ((*error)->domain == WE_ERROR)
        (*error)->code = WE_ERROR_JOB_FAILED;
      return FALSE;
    }
    if (audio.caps == NULL) {
      g_set_error (error, WE_ERROR, WE_ERROR_JOB_FAILED, "audio (%s) holds no audio",
                   job->audio_uri);
      return FALSE;
    }
  }

  /* segments are closed GOPs over disjoint, ascending ranges, so the i-th
   * frame in decode order decodes at the time of the i-th frame in
   * presentation order, less the reorder delay of the whole stream — the
   * decode times a single-pass encode has */
  sorted = g_array_copy (pts);
  g_array_sort (sorted, compare_clock_time);
  dts = g_array_sized_new (FALSE, FALSE, sizeof (GstClockTime), pts->len);
  out_durations = g_array_sized_new (FALSE, FALSE, sizeof (GstClockTime), pts->len);
  for (guint i = 0; i < pts->len; i++) {
    GstClockTime p = g_array_index (pts, GstClockTime, i);
    GstClockTime sp = g_array_index (sorted, GstClockTime, i);

    if (sp > p)
      delay = MAX (delay, sp - p);
  }
  origin = g_array_index (sorted, GstClockTime, 0);
  if (audio.caps != NULL && GST_CLOCK_TIME_IS_VALID (audio.first))
    origin = MIN (origin, audio.first);
  for (guint i = 0; i < pts->len; i++) {
    GstClockTime p = g_array_index (pts, GstClockTime, i);
    GstClockTime d = g_array_index (sorted, GstClockTime, i) - delay;
    GstClockTime dur;
    guint lo = 0, hi = sorted->len - 1;

    /* the frame lasts until the next one is shown */
    while (lo < hi) {
      guint mid = (lo + hi) / 2;

      if (g_array_index (sorted, GstClockTime, mid) < p)
        lo = mid + 1;
      else
        hi = mid;
    }
    if (lo + 1 < sorted->len)
      dur = g_array_index (sorted, GstClockTime, lo + 1) - p;
    else if (GST_CLOCK_TIME_IS_VALID (g_array_index (durations, GstClockTime, i)))
      dur = g_array_index (durations, GstClockTime, i);
    else if (job->frame_duration_s > 0)
      dur = (GstClockTime) llround (job->frame_duration_s * GST_SECOND);
    else
      dur = sorted->len > 1 ? p - g_array_index (sorted, GstClockTime, sorted->len - 2) : 0;
    g_array_append_val (dts, d);
    g_array_append_val (out_durations, dur);
  }

  /* the output pipeline */
  pipeline = gst_object_ref_sink (gst_pipeline_new (we_gst_pipeline_name (job->task_id)));
  mux = make_muxer (job->profile, error);
  if (mux == NULL)
    return FALSE;
  sink = gst_element_factory_make ("filesink", NULL);
  g_object_set (sink, "location", job->output_path, NULL);
  gst_bin_add_many (GST_BIN (pipeline), mux, sink, NULL);
  if (!gst_element_link (mux, sink)) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_JOB_FAILED, "cannot link muxer to filesink");
    return FALSE;
  }

  /* decode times run up to the reorder delay ahead of presentation times;
   * the segment starts that much later so none of them is negative, and
   * running time (what the muxer writes) still starts at 0 */
  vp.job = ap.job = job;
  vp.abort = ap.abort = abort;
  /* the readers feeding the muxer name their pipelines after the task */
  if (job->task_id != NULL)
    g_object_set_data_full (G_OBJECT (abort), WE_GST_TASK_ID_KEY, g_strdup (job->task_id),
                            g_free);
  vp.origin = ap.origin = origin;
  vp.offset = ap.offset = delay;
  gst_segment_init (&vp.segment, GST_FORMAT_TIME);
  vp.segment.start = delay;
  ap.segment = vp.segment;
  vp.caps = gst_caps_ref (vcaps);
  vp.pts = pts;
  vp.dts = dts;
  vp.durations = out_durations;
  vp.appsrc = add_appsrc (pipeline, mux, vcaps, "video_%u", "progress", error);
  if (vp.appsrc == NULL)
    goto out;
  if (audio.caps != NULL) {
    ap.caps = gst_caps_ref (audio.caps);
    ap.appsrc = add_appsrc (pipeline, mux, audio.caps, "audio_%u", NULL, error);
    if (ap.appsrc == NULL)
      goto out;
  }

  {
    /* by hand, the parts are read from their files and concatenated:
     * near enough, though this code rebuilds decode times itself */
    g_autoptr(GString) v = g_string_new (NULL);

    for (guint s = 0; s < n_segments; s++)
      g_string_append_printf (v, "urisourcebin uri=\"%s\" ! parsebin ! vparts.  ",
                              job->segment_uris[s]);
    g_string_append (v, "concat name=vparts");
    we_gst_introspect_set_substitute (GST_ELEMENT (vp.appsrc), v->str);
    if (ap.appsrc != NULL) {
      g_autofree gchar *a = g_strdup_printf ("urisourcebin uri=\"%s\" ! parsebin",
                                             job->audio_uri);
      we_gst_introspect_set_substitute (GST_ELEMENT (ap.appsrc), a);
    }
  }
  bus = gst_element_get_bus (pipeline);
  if (gst_element_set_state (pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_FAILED, "cannot write %s", job->output_path);
    goto out;
  }
  vp.thread = g_thread_new ("we-stitch-video", video_pusher_thread, &vp);
  if (ap.appsrc != NULL)
    ap.thread = g_thread_new ("we-stitch-audio", audio_pusher_thread, &ap);

  for (;;) {
    g_autoptr(GstMessage) msg = NULL;

    if (g_cancellable_is_cancelled (abort))
      break;
    if (g_cancellable_set_error_if_cancelled (cancellable, &local)) {
      g_cancellable_cancel (abort);
      break;
    }
    msg = gst_bus_timed_pop_filtered (bus, POLL_INTERVAL,
                                      GST_MESSAGE_ERROR | GST_MESSAGE_EOS |
                                      GST_MESSAGE_STATE_CHANGED);
    if (msg == NULL)
      continue;
    if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_STATE_CHANGED) {
      GstState state;

      gst_message_parse_state_changed (msg, NULL, &state, NULL);
      if (GST_MESSAGE_SRC (msg) == GST_OBJECT (pipeline) && state == GST_STATE_PLAYING &&
          !introspected) {
        introspected = TRUE;
        we_gst_pipeline_introspect_on (pipeline, "stitch", job->pipeline_func,
                                       job->pipeline_data, job->context);
      }
      continue;
    }
    if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
      g_autoptr(GError) err = NULL;
      g_autofree gchar *dbg = NULL;

      gst_message_parse_error (msg, &err, &dbg);
      g_debug ("stitch: %s (%s)", err->message, dbg != NULL ? dbg : "");
      local = g_error_new (WE_ERROR, WE_ERROR_JOB_FAILED, "stitching failed: %s: %s",
                           GST_MESSAGE_SRC_NAME (msg), err->message);
      g_cancellable_cancel (abort);
      break;
    }
    ok = TRUE;
    break;
  }
  /* also unblocks pushers waiting on a full appsrc */
  gst_element_set_state (pipeline, GST_STATE_NULL);
  if (vp.thread != NULL)
    g_thread_join (g_steal_pointer (&vp.thread));
  if (ap.thread != NULL)
    g_thread_join (g_steal_pointer (&ap.thread));
  /* the first cause wins: a pusher's error explains the abort */
  if (vp.error != NULL || ap.error != NULL) {
    ok = FALSE;
    g_clear_error (&local);
    if (vp.error != NULL)
      local = g_steal_pointer (&vp.error);
    else
      local = g_steal_pointer (&ap.error);
  }
  if (!ok) {
    if (local == NULL)
      local = g_error_new_literal (WE_ERROR, WE_ERROR_JOB_FAILED, "stitching was aborted");
    g_propagate_error (error, local);
    goto out;
  }
  if (ap.appsrc != NULL) {
    guint last = 0;

    for (guint i = 1; i < pts->len; i++) {
      if (g_array_index (pts, GstClockTime, i) > g_array_index (pts, GstClockTime, last))
        last = i;
    }
    job->source_overhang_s =
      ((gdouble) ap.end - (gdouble) (g_array_index (pts, GstClockTime, last) +
                                      g_array_index (out_durations, GstClockTime, last))) /
      GST_SECOND;
  }
  ok = verify_output (job, cancellable, error);

out:
  pusher_clear (&vp);
  pusher_clear (&ap);
  g_clear_pointer (&audio.caps, gst_caps_unref);
  return ok;
}

static void
stitch_thread (GTask *task, gpointer source_object, gpointer task_data, GCancellable *cancellable)
{
  StitchJob *job = task_data;
  GError *error = NULL;

  if (!stitch_run (job, cancellable, &error)) {
    /* a failed stitch must not look like a result */
    if (g_unlink (job->output_path) != 0 && errno != ENOENT)
      g_debug ("could not remove %s: %s", job->output_path, g_strerror (errno));
    g_task_return_error (task, error);
    return;
  }
  g_task_return_boolean (task, TRUE);
}

void
we_gst_stitch_async (gpointer source_object, const WeStitchRequest *request,
                     GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr(GTask) task = g_task_new (source_object, cancellable, callback, user_data);
  StitchJob *job;

  g_task_set_source_tag (task, we_gst_stitch_async);
  if (request == NULL || request->segment_uris == NULL || request->segment_uris[0] == NULL ||
      request->output_path == NULL || request->profile == NULL) {
    g_task_return_new_error (task, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                             "stitch request needs segments, an output path and a profile");
    return;
  }
  job = g_new0 (StitchJob, 1);
  job->segment_uris = g_strdupv ((gchar **) request->segment_uris);
  job->audio_uri = g_strdup (request->audio_uri);
  job->output_path = g_strdup (request->output_path);
  job->profile = we_profile_ref ((WeProfile *) request->profile);
  job->expected_frames = request->expected_frames;
  job->expected_duration_s = request->expected_duration_s;
  job->frame_duration_s = request->frame_duration_s;
  job->task_id = g_strdup (request->task_id);
  job->pipeline_func = request->pipeline_func;
  job->pipeline_data = request->pipeline_data;
  job->context = g_main_context_ref_thread_default ();
  g_task_set_task_data (task, job, (GDestroyNotify) stitch_job_free);
  g_task_run_in_thread (task, stitch_thread);
}

gboolean
we_gst_stitch_finish (GAsyncResult *result, WeStitchReport *report, GError **error)
{
  GTask *task = G_TASK (result);
  StitchJob *job = g_task_get_task_data (task);

  g_return_val_if_fail (g_async_result_is_tagged (result, we_gst_stitch_async), FALSE);
  /* the numbers are filled even when verification failed */
  if (report != NULL && job != NULL)
    *report = job->report;
  return g_task_propagate_boolean (task, error);
}
