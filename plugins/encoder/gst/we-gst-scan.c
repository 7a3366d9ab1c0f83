/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include "we-gst-scan.h"

#include <math.h>
#include <gst/gst.h>
#include <webencode/we-error.h>

#include "we-gst-probe.h"
#include "we-gst-reader.h"

typedef struct {
  gchar   *uri;
  GArray  *pts;         /* GstClockTime of every video frame, demux order */
  GArray  *keys;        /* GstClockTime of keyframes */
  GstClockTime last_duration;
  gint     fps_n;
  gint     fps_d;
  GstClockTime audio_start;
  GstClockTime audio_end;
  gboolean has_audio;
} ScanJob;

static void
scan_job_free (ScanJob *job)
{
  g_free (job->uri);
  g_clear_pointer (&job->pts, g_array_unref);
  g_clear_pointer (&job->keys, g_array_unref);
  g_free (job);
}

static gint
compare_clock_time (gconstpointer a, gconstpointer b)
{
  GstClockTime x = *(const GstClockTime *) a;
  GstClockTime y = *(const GstClockTime *) b;

  return x < y ? -1 : x > y ? 1 : 0;
}

/* streaming thread, serialised by the reader */
static gboolean
scan_buffer (WeGstStreamKind kind, GstBuffer *buf, GstCaps *caps, gpointer user_data)
{
  ScanJob *job = user_data;
  GstClockTime pts = GST_BUFFER_PTS (buf);

  if (kind == WE_GST_STREAM_AUDIO) {
    GstClockTime end;

    if (!GST_CLOCK_TIME_IS_VALID (pts))
      return TRUE;
    end = pts + (GST_BUFFER_DURATION_IS_VALID (buf) ? GST_BUFFER_DURATION (buf) : 0);
    if (!job->has_audio || pts < job->audio_start)
      job->audio_start = pts;
    if (!job->has_audio || end > job->audio_end)
      job->audio_end = end;
    job->has_audio = TRUE;
    return TRUE;
  }
  /* codec headers travel inside the first frame with parsed streams; a
   * buffer without a time is not a frame of the timeline */
  if (!GST_CLOCK_TIME_IS_VALID (pts))
    pts = GST_BUFFER_DTS (buf);
  if (!GST_CLOCK_TIME_IS_VALID (pts))
    return TRUE;
  if (job->pts->len == 0 && caps != NULL && gst_caps_get_size (caps) > 0)
    gst_structure_get_fraction (gst_caps_get_structure (caps, 0), "framerate", &job->fps_n,
                                &job->fps_d);
  g_array_append_val (job->pts, pts);
  if (!GST_BUFFER_FLAG_IS_SET (buf, GST_BUFFER_FLAG_DELTA_UNIT))
    g_array_append_val (job->keys, pts);
  if (GST_BUFFER_DURATION_IS_VALID (buf))
    job->last_duration = GST_BUFFER_DURATION (buf);
  return TRUE;
}

static void
scan_thread (GTask *task, gpointer source_object, gpointer task_data, GCancellable *cancellable)
{
  ScanJob *job = task_data;
  g_autoptr(WeKeyframeIndex) index = we_keyframe_index_new ();
  g_autoptr(GArray) sorted = NULL;
  GError *error = NULL;
  GstClockTime first, last, min_delta = GST_CLOCK_TIME_NONE, max_delta = 0, tail;

  if (!we_gst_read_streams (job->uri, WE_GST_READ_VIDEO | WE_GST_READ_AUDIO, scan_buffer, job,
                            cancellable, &error)) {
    if (error->domain == WE_ERROR && error->code == WE_ERROR_JOB_UNSUPPORTED_SOURCE)
      g_prefix_error (&error, "source is ");
    g_task_return_error (task, error);
    return;
  }
  if (job->pts->len == 0) {
    g_task_return_new_error (task, WE_ERROR, WE_ERROR_JOB_UNSUPPORTED_SOURCE,
                             "source has no video frames with timestamps");
    return;
  }
  /* B-frames arrive in decode order: the timeline is the sorted PTS */
  sorted = g_array_copy (job->pts);
  g_array_sort (sorted, compare_clock_time);
  g_array_sort (job->keys, compare_clock_time);
  first = g_array_index (sorted, GstClockTime, 0);
  last = g_array_index (sorted, GstClockTime, sorted->len - 1);
  for (guint i = 1; i < sorted->len; i++) {
    GstClockTime d = g_array_index (sorted, GstClockTime, i) -
                     g_array_index (sorted, GstClockTime, i - 1);

    min_delta = MIN (min_delta, d);
    max_delta = MAX (max_delta, d);
  }
  if (job->keys->len == 0 || g_array_index (job->keys, GstClockTime, 0) != first) {
    g_task_return_new_error (task, WE_ERROR, WE_ERROR_JOB_UNSUPPORTED_SOURCE,
                             "source is truncated or corrupt: its first video frame is not "
                             "a keyframe");
    return;
  }

  /* the last frame lasts as long as it says, or as long as the one before */
  tail = GST_CLOCK_TIME_IS_VALID (job->last_duration) && job->last_duration > 0
           ? job->last_duration
           : (sorted->len > 1 ? g_array_index (sorted, GstClockTime, sorted->len - 1) -
                                  g_array_index (sorted, GstClockTime, sorted->len - 2)
                              : 0);
  index->duration_s = (gdouble) (last + tail - first) / GST_SECOND;
  index->video_frames = sorted->len;
  for (guint i = 0; i < job->keys->len; i++) {
    gdouble t = (gdouble) g_array_index (job->keys, GstClockTime, i) / GST_SECOND;

    /* a keyframe listed twice (e.g. an IDR and its SEI) is one cut point */
    if (index->keyframes_s->len == 0 ||
        t > g_array_index (index->keyframes_s, gdouble, index->keyframes_s->len - 1))
      g_array_append_val (index->keyframes_s, t);
  }
  /* frames per keyframe interval, so each segment knows how many frames its
   * range must yield: a source whose frames cannot be decoded shows up as a
   * short segment, blamed on the source and not on the stitch */
  {
    guint k = 0, count = 0;
    for (guint i = 0; i < sorted->len; i++) {
      gdouble t = (gdouble) g_array_index (sorted, GstClockTime, i) / GST_SECOND;
      while (k + 1 < index->keyframes_s->len &&
             t >= g_array_index (index->keyframes_s, gdouble, k + 1)) {
        g_array_append_val (index->gop_frames, count);
        count = 0;
        k++;
      }
      count++;
    }
    g_array_append_val (index->gop_frames, count);
    while (index->gop_frames->len < index->keyframes_s->len) {
      guint zero = 0;
      g_array_append_val (index->gop_frames, zero);
    }
  }
  index->has_audio = job->has_audio;
  if (job->has_audio) {
    index->audio_start_s = (gdouble) job->audio_start / GST_SECOND;
    index->audio_duration_s = (gdouble) (job->audio_end - job->audio_start) / GST_SECOND;
  }
  /* nominal rate only if the timestamps keep to it (within a millisecond,
   * which containers with coarse time scales need) */
  if (sorted->len > 1 && max_delta - min_delta <= GST_MSECOND) {
    if (job->fps_n > 0 && job->fps_d > 0) {
      index->fps_n = job->fps_n;
      index->fps_d = job->fps_d;
    } else {
      gst_util_double_to_fraction ((gdouble) GST_SECOND / min_delta, &index->fps_n,
                                   &index->fps_d);
    }
  } else {
    index->fps_n = 0;
    index->fps_d = 1;
  }
  g_task_return_pointer (task, g_steal_pointer (&index), (GDestroyNotify) we_keyframe_index_free);
}

static void
scan_probed_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(GTask) task = G_TASK (user_data);
  g_autoptr(WeGstProbeResult) probe = NULL;
  GError *error = NULL;

  /* the probe has the checks (not media, truncated, no video) and words
   * them as the rest of the pillar does */
  probe = we_gst_probe_finish (res, &error);
  if (probe == NULL) {
    g_task_return_error (task, error);
    return;
  }
  g_task_run_in_thread (task, scan_thread);
}

void
we_gst_scan_async (gpointer source_object, const gchar *uri, GCancellable *cancellable,
                   GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr(GTask) task = g_task_new (source_object, cancellable, callback, user_data);
  ScanJob *job = g_new0 (ScanJob, 1);

  g_task_set_source_tag (task, we_gst_scan_async);
  job->uri = g_strdup (uri);
  job->pts = g_array_new (FALSE, FALSE, sizeof (GstClockTime));
  job->keys = g_array_new (FALSE, FALSE, sizeof (GstClockTime));
  job->last_duration = GST_CLOCK_TIME_NONE;
  g_task_set_task_data (task, job, (GDestroyNotify) scan_job_free);
  we_gst_probe_async (NULL, uri, cancellable, scan_probed_cb, g_steal_pointer (&task));
}

WeKeyframeIndex *
we_gst_scan_finish (GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_async_result_is_tagged (result, we_gst_scan_async), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}
