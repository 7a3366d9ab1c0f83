/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include "we-gst-thumbnails.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <glib/gstdio.h>
#include <gst/app/app.h>
#include <gst/video/video.h>
#include <webencode/we-error.h>

#include "we-gst-introspect.h"
#include "we-gst-pipeline.h"
#include "we-gst-probe.h"
#include "we-gst-run.h"

#define PROGRESS_INTERVAL_MS 500
/* a frame's running time may land a nanosecond either side of the grid */
#define PTS_SLACK (GST_USECOND)
#define POSTER_MAX (5 * GST_SECOND)
/* thumbnails are small and many: size matters more than detail */
#define THUMB_QUALITY 75
#define POSTER_QUALITY 90
/* one frame through jpegenc; only a stalled encoder takes this long */
#define ENCODE_TIMEOUT (60 * GST_SECOND)
#define THUMB_DIR "thumbnails"

/* Scales frames of one format to one size; rebuilt when either changes. */
typedef struct {
  GstVideoInfo       in;
  GstVideoInfo       convert;    /* what the converter makes */
  GstVideoInfo       out;        /* full range, what jpegenc takes: the same layout */
  gboolean           expand;     /* convert is limited range */
  GstVideoConverter *converter;
} Scaler;

/* appsrc ! jpegenc ! appsink, fed one frame at a time from the thread that
 * encodes: a frame in, a JPEG out, no pipeline built per image. */
typedef struct {
  GstElement *pipeline;
  GstElement *src;
  GstElement *sink;
  guint64     count;
} JpegEncoder;

typedef struct {
  GMainContext        *context;
  gchar               *uri;
  gchar               *task_id;        /* nullable: names the pipelines */
  WePipelineFunc       pipeline_func;  /* nullable: introspection */
  gpointer             pipeline_data;
  gboolean             introspected;
  gchar               *dir;            /* <output_dir>/thumbnails */
  gboolean             dir_created;
  WeProfileThumbnails  options;
  WeGstProgressReport  report;

  GSource             *cancel_source;
  GSource             *bus_source;
  GSource             *timer_source;
  GstElement          *pipeline;
  GstElement          *decodebin;
  GstElement          *video_head;
  gboolean             done;

  /* planned from the probe, read-only once the pipeline runs */
  GstClockTime         duration;       /* GST_CLOCK_TIME_NONE when unknown */
  GstClockTime         interval;       /* 0: no periodic thumbnails */
  GstClockTime         poster_time;
  guint64              count;          /* periodic thumbnails expected; 0 when the duration is unknown */
  gint                 thumb_w;
  gint                 thumb_h;
  guint                columns;        /* sprite columns that fit its limits */
  guint                capacity;       /* tiles that fit the sprite limits */
  GPtrArray           *progress;       /* the weprogress in front of the appsink */

  /* shared with the streaming thread */
  GMutex               lock;
  gboolean             video_linked;
  gboolean             stopping;

  /* the appsink's streaming thread; the main thread's once the pipeline is
   * down */
  GstSample           *held;           /* the latest frame: on screen until the next one */
  GstClockTime         held_time;
  GstClockTime         last_end;
  gboolean             poster_done;
  guint64              next;           /* index of the next periodic thumbnail */
  Scaler               scaler;
  JpegEncoder         *encoder;
  GstSample           *cached_sample;  /* a frame on screen at several times is scaled once */
  GstBuffer           *cached_tile;
  GBytes              *cached_jpeg;
  GPtrArray           *tiles;          /* (element-type GstBuffer) I420 thumb_w x thumb_h */
  guint                step;           /* tiles[i] is thumbnail i * step */
  gboolean             finished;
  GError              *error;
  GPtrArray           *written;        /* absolute paths, for removal on error */
  JsonObject          *poster;
  GPtrArray           *frame_outputs;  /* (element-type JsonObject) */
  JsonObject          *sprite;
  JsonObject          *storyboard;
} ThumbJob;

/* ---- images --------------------------------------------------------------- */

/* I420 as JFIF means it: full range, BT.601 matrix. Transfer and primaries
 * are left as @like has them, so no gamma or gamut conversion is done; so
 * are the rate and interlacing, which a GstVideoConverter never changes. */
static void
jpeg_video_info (GstVideoInfo *info, gint width, gint height, const GstVideoInfo *like)
{
  gst_video_info_set_interlaced_format (info, GST_VIDEO_FORMAT_I420,
                                        GST_VIDEO_INFO_INTERLACE_MODE (like), width, height);
  GST_VIDEO_INFO_FPS_N (info) = GST_VIDEO_INFO_FPS_N (like);
  GST_VIDEO_INFO_FPS_D (info) = GST_VIDEO_INFO_FPS_D (like);
  info->colorimetry.range = GST_VIDEO_COLOR_RANGE_0_255;
  info->colorimetry.matrix = GST_VIDEO_COLOR_MATRIX_BT601;
  info->colorimetry.transfer = like->colorimetry.transfer;
  info->colorimetry.primaries = like->colorimetry.primaries;
  info->chroma_site = GST_VIDEO_CHROMA_SITE_JPEG;
}

/* Limited-range (16-235, chroma 16-240) 8-bit YUV to full range, in place. */
static void
expand_range (GstVideoFrame *frame)
{
  guint8 luma[256], chroma[256];

  for (gint i = 0; i < 256; i++) {
    luma[i] = (guint8) CLAMP ((i - 16) * 255.0 / 219.0 + 0.5, 0, 255);
    chroma[i] = (guint8) CLAMP ((i - 128) * 255.0 / 224.0 + 128.5, 0, 255);
  }
  for (guint c = 0; c < GST_VIDEO_FRAME_N_COMPONENTS (frame); c++) {
    const guint8 *lut = c == 0 ? luma : chroma;
    gint w = GST_VIDEO_FRAME_COMP_WIDTH (frame, c);
    gint h = GST_VIDEO_FRAME_COMP_HEIGHT (frame, c);
    gint stride = GST_VIDEO_FRAME_COMP_STRIDE (frame, c);

    for (gint y = 0; y < h; y++) {
      guint8 *p = (guint8 *) GST_VIDEO_FRAME_COMP_DATA (frame, c) + (gsize) y * stride;

      for (gint x = 0; x < w; x++)
        p[x] = lut[p[x]];
    }
  }
}

static void
scaler_clear (Scaler *s)
{
  g_clear_pointer (&s->converter, gst_video_converter_free);
}

/* Returns: (transfer full) (nullable): @sample's frame as I420 @width x
 * @height, the whole picture stretched to it (the caller keeps the aspect) */
static GstBuffer *
scaler_run (Scaler *s, GstSample *sample, gint width, gint height, GError **error)
{
  GstCaps *caps = gst_sample_get_caps (sample);
  GstVideoInfo in;
  GstVideoFrame src, dst;
  g_autoptr(GstBuffer) out = NULL;

  if (caps == NULL || !gst_video_info_from_caps (&in, caps)) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_JOB_FAILED, "decoded frame without video caps");
    return NULL;
  }
  if (s->converter == NULL || !gst_video_info_is_equal (&in, &s->in) ||
      GST_VIDEO_INFO_WIDTH (&s->out) != width || GST_VIDEO_INFO_HEIGHT (&s->out) != height) {
    scaler_clear (s);
    s->in = in;
    jpeg_video_info (&s->out, width, height, &in);
    s->convert = s->out;
    /* GstVideoConverter changes the range only along with the matrix (not
     * from BT.601 limited to BT.601 full): YUV keeps its range through it
     * and is expanded after */
    s->expand = !GST_VIDEO_INFO_IS_RGB (&in) &&
                in.colorimetry.range != GST_VIDEO_COLOR_RANGE_0_255;
    if (s->expand)
      s->convert.colorimetry.range = GST_VIDEO_COLOR_RANGE_16_235;
    s->converter = gst_video_converter_new (&s->in, &s->convert, NULL);
    if (s->converter == NULL) {
      g_set_error (error, WE_ERROR, WE_ERROR_JOB_FAILED, "cannot convert %s frames to I420",
                   gst_video_format_to_string (GST_VIDEO_INFO_FORMAT (&in)));
      return NULL;
    }
  }
  out = gst_buffer_new_allocate (NULL, GST_VIDEO_INFO_SIZE (&s->out), NULL);
  if (!gst_video_frame_map (&src, &s->in, gst_sample_get_buffer (sample), GST_MAP_READ)) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_JOB_FAILED, "cannot read a decoded frame");
    return NULL;
  }
  if (!gst_video_frame_map (&dst, &s->convert, out, GST_MAP_WRITE)) {
    gst_video_frame_unmap (&src);
    g_set_error_literal (error, WE_ERROR, WE_ERROR_JOB_FAILED, "cannot map a thumbnail frame");
    return NULL;
  }
  gst_video_converter_frame (s->converter, &src, &dst);
  if (s->expand)
    expand_range (&dst);
  gst_video_frame_unmap (&dst);
  gst_video_frame_unmap (&src);
  return g_steal_pointer (&out);
}

static void
jpeg_encoder_free (JpegEncoder *e)
{
  if (e == NULL)
    return;
  gst_element_set_state (e->pipeline, GST_STATE_NULL);
  gst_object_unref (e->src);
  gst_object_unref (e->sink);
  gst_object_unref (e->pipeline);
  g_free (e);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (JpegEncoder, jpeg_encoder_free)

static JpegEncoder *
jpeg_encoder_new (const GstVideoInfo *info, gint quality, const gchar *name, GError **error)
{
  g_autoptr(GError) local = NULL;
  GstVideoInfo still = *info;
  g_autoptr(GstCaps) caps = NULL;
  g_autoptr(GstElement) enc = NULL;
  g_autoptr(JpegEncoder) e = g_new0 (JpegEncoder, 1);

  /* one picture: no rate, and jpegenc codes a frame as one image */
  GST_VIDEO_INFO_FPS_N (&still) = 0;
  GST_VIDEO_INFO_FPS_D (&still) = 1;
  GST_VIDEO_INFO_INTERLACE_MODE (&still) = GST_VIDEO_INTERLACE_MODE_PROGRESSIVE;
  caps = gst_video_info_to_caps (&still);

  e->pipeline = gst_parse_launch_full ("appsrc name=src format=time ! jpegenc name=enc ! "
                                       "appsink name=sink sync=false enable-last-sample=false",
                                       NULL, GST_PARSE_FLAG_FATAL_ERRORS, &local);
  if (e->pipeline == NULL) {
    g_free (g_steal_pointer (&e));
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_FAILED, "cannot make a JPEG encoder: %s",
                 local->message);
    return NULL;
  }
  gst_object_ref_sink (e->pipeline);
  /* after the task (nullable), before it runs: renaming races no log line */
  if (name != NULL)
    gst_object_set_name (GST_OBJECT (e->pipeline), name);
  e->src = gst_bin_get_by_name (GST_BIN (e->pipeline), "src");
  e->sink = gst_bin_get_by_name (GST_BIN (e->pipeline), "sink");
  enc = gst_bin_get_by_name (GST_BIN (e->pipeline), "enc");
  g_object_set (e->src, "caps", caps, NULL);
  g_object_set (enc, "quality", quality, NULL);
  if (gst_element_set_state (e->pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_JOB_FAILED, "the JPEG encoder failed to start");
    return NULL;
  }
  return g_steal_pointer (&e);
}

/* Returns: (transfer full) (nullable): @frame (I420 of the encoder's
 * size) as a JPEG file */
static GBytes *
jpeg_encoder_encode (JpegEncoder *e, GstBuffer *frame, GError **error)
{
  GstBuffer *in = gst_buffer_copy (frame);
  g_autoptr(GstSample) sample = NULL;
  GstMapInfo map;
  GBytes *bytes;

  GST_BUFFER_PTS (in) = e->count * GST_SECOND;
  GST_BUFFER_DURATION (in) = GST_SECOND;
  e->count++;
  if (gst_app_src_push_buffer (GST_APP_SRC (e->src), in) != GST_FLOW_OK) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_JOB_FAILED, "the JPEG encoder is not running");
    return NULL;
  }
  sample = gst_app_sink_try_pull_sample (GST_APP_SINK (e->sink), ENCODE_TIMEOUT);
  if (sample == NULL) {
    g_autoptr(GstBus) bus = gst_element_get_bus (e->pipeline);
    g_autoptr(GstMessage) msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
    g_autoptr(GError) err = NULL;

    if (msg != NULL)
      gst_message_parse_error (msg, &err, NULL);
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_FAILED, "JPEG encoding failed: %s",
                 err != NULL ? err->message : "no output");
    return NULL;
  }
  if (!gst_buffer_map (gst_sample_get_buffer (sample), &map, GST_MAP_READ)) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_JOB_FAILED, "cannot read an encoded JPEG");
    return NULL;
  }
  bytes = g_bytes_new (map.data, map.size);
  gst_buffer_unmap (gst_sample_get_buffer (sample), &map);
  return bytes;
}

/* Returns: (transfer full) (nullable) */
static GBytes *
encode_once (const GstVideoInfo *info, GstBuffer *frame, gint quality, GError **error)
{
  g_autoptr(JpegEncoder) e = jpeg_encoder_new (info, quality, NULL, error);

  return e != NULL ? jpeg_encoder_encode (e, frame, error) : NULL;
}

/* ---- job ------------------------------------------------------------------ */

static void
thumb_job_remove_sources (ThumbJob *job)
{
  we_gst_source_clear (&job->cancel_source);
  we_gst_source_clear (&job->bus_source);
  we_gst_source_clear (&job->timer_source);
}

/* Frees what only encoding needs: the frames and the encoder. */
static void
thumb_job_release_frames (ThumbJob *job)
{
  g_clear_pointer (&job->held, gst_sample_unref);
  g_clear_pointer (&job->cached_sample, gst_sample_unref);
  gst_clear_buffer (&job->cached_tile);
  g_clear_pointer (&job->cached_jpeg, g_bytes_unref);
  g_clear_pointer (&job->encoder, jpeg_encoder_free);
  if (job->tiles != NULL)
    g_ptr_array_set_size (job->tiles, 0);
  scaler_clear (&job->scaler);
}

static void
thumb_job_free (ThumbJob *job)
{
  thumb_job_remove_sources (job);
  g_free (job->task_id);
  if (job->pipeline != NULL)
    gst_element_set_state (job->pipeline, GST_STATE_NULL);
  g_clear_pointer (&job->progress, g_ptr_array_unref);
  g_clear_pointer (&job->pipeline, gst_object_unref);
  thumb_job_release_frames (job);
  g_clear_pointer (&job->tiles, g_ptr_array_unref);
  g_clear_pointer (&job->written, g_ptr_array_unref);
  g_clear_pointer (&job->poster, json_object_unref);
  g_clear_pointer (&job->frame_outputs, g_ptr_array_unref);
  g_clear_pointer (&job->sprite, json_object_unref);
  g_clear_pointer (&job->storyboard, json_object_unref);
  g_clear_error (&job->error);
  g_clear_pointer (&job->context, g_main_context_unref);
  g_free (job->uri);
  g_free (job->dir);
  g_mutex_clear (&job->lock);
  g_free (job);
}

static void
remove_outputs (ThumbJob *job)
{
  we_gst_remove_files (job->written);
  if (job->dir_created)
    g_rmdir (job->dir);
}

static gboolean
job_stopping (ThumbJob *job)
{
  gboolean stopping;

  g_mutex_lock (&job->lock);
  stopping = job->stopping;
  g_mutex_unlock (&job->lock);
  return stopping;
}

static void
report_progress (ThumbJob *job, gboolean final)
{
  we_gst_progress_report_elements (&job->report, job->progress, final);
}

static JsonArray *
collect_outputs (ThumbJob *job)
{
  JsonArray *outputs = json_array_new ();

  if (job->poster != NULL)
    json_array_add_object_element (outputs, g_steal_pointer (&job->poster));
  for (guint i = 0; i < job->frame_outputs->len; i++)
    json_array_add_object_element (outputs,
                                   json_object_ref (g_ptr_array_index (job->frame_outputs, i)));
  if (job->sprite != NULL)
    json_array_add_object_element (outputs, g_steal_pointer (&job->sprite));
  if (job->storyboard != NULL)
    json_array_add_object_element (outputs, g_steal_pointer (&job->storyboard));
  return outputs;
}

/* Completes the task once; takes @error (NULL: the streaming side's, if
 * any, or success). */
static void
thumbs_complete (GTask *task, GError *error)
{
  ThumbJob *job = g_task_get_task_data (task);

  if (job->done) {
    g_clear_error (&error);
    return;
  }
  job->done = TRUE;
  thumb_job_remove_sources (job);
  g_mutex_lock (&job->lock);
  job->stopping = TRUE;
  g_mutex_unlock (&job->lock);
  /* decoders only, nothing to drain: this returns once the streaming
   * thread has left the appsink, so no file is written after it */
  if (job->pipeline != NULL)
    gst_element_set_state (job->pipeline, GST_STATE_NULL);
  thumb_job_release_frames (job);
  if (error == NULL && job->error != NULL)
    error = g_steal_pointer (&job->error);
  if (error != NULL) {
    remove_outputs (job);
    g_task_return_error (task, error);
  } else {
    report_progress (job, TRUE);
    g_task_return_pointer (task, collect_outputs (job), (GDestroyNotify) json_array_unref);
  }
  g_object_unref (task);
}

static gboolean
cancelled_cb (GCancellable *cancellable, gpointer user_data)
{
  thumbs_complete (G_TASK (user_data), we_gst_cancelled_error ("thumbnail extraction"));
  return G_SOURCE_REMOVE;
}

static gboolean
progress_timer_cb (gpointer user_data)
{
  report_progress (user_data, FALSE);
  return G_SOURCE_CONTINUE;
}

/* ---- outputs (streaming thread) ------------------------------------------- */

static void
sample_replace (GstSample **old, GstSample *sample)
{
  if (*old == sample)
    return;
  if (sample != NULL)
    gst_sample_ref (sample);
  if (*old != NULL)
    gst_sample_unref (*old);
  *old = sample;
}

static JsonObject *
output_new (const gchar *name, const gchar *role, const gchar *content_type)
{
  JsonObject *o = json_object_new ();
  g_autofree gchar *path = g_build_filename (THUMB_DIR, name, NULL);

  json_object_set_string_member (o, "type", "thumbnail");
  json_object_set_string_member (o, "path", path);
  json_object_set_string_member (o, "role", role);
  json_object_set_string_member (o, "content_type", content_type);
  return o;
}

static gboolean
write_output (ThumbJob *job, const gchar *name, gconstpointer data, gsize size, GError **error)
{
  g_autofree gchar *path = g_build_filename (job->dir, name, NULL);
  g_autoptr(GError) local = NULL;

  if (!g_file_set_contents (path, data, size, &local)) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_FAILED, "cannot write %s: %s", path,
                 local->message);
    return FALSE;
  }
  g_ptr_array_add (job->written, g_steal_pointer (&path));
  return TRUE;
}

static gboolean
write_jpeg (ThumbJob *job, const gchar *name, GBytes *jpeg, GError **error)
{
  gsize size;
  gconstpointer data = g_bytes_get_data (jpeg, &size);

  return write_output (job, name, data, size, error);
}

/* The poster at the source's display size: square pixels, even sizes. */
static gboolean
emit_poster (ThumbJob *job, GstSample *sample, GstClockTime t, GError **error)
{
  GstCaps *caps = gst_sample_get_caps (sample);
  GstVideoInfo in;
  Scaler scaler = { 0, };
  g_autoptr(GstBuffer) frame = NULL;
  g_autoptr(GBytes) jpeg = NULL;
  gint par_n, par_d, w, h;

  if (caps == NULL || !gst_video_info_from_caps (&in, caps)) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_JOB_FAILED, "decoded frame without video caps");
    return FALSE;
  }
  par_n = GST_VIDEO_INFO_PAR_N (&in) > 0 && GST_VIDEO_INFO_PAR_D (&in) > 0 ? GST_VIDEO_INFO_PAR_N (&in) : 1;
  par_d = GST_VIDEO_INFO_PAR_N (&in) > 0 && GST_VIDEO_INFO_PAR_D (&in) > 0 ? GST_VIDEO_INFO_PAR_D (&in) : 1;
  we_gst_fit_box (GST_VIDEO_INFO_WIDTH (&in), GST_VIDEO_INFO_HEIGHT (&in), par_n, par_d,
                  (gint) (GST_VIDEO_INFO_WIDTH (&in) * (gdouble) par_n / par_d + 0.5),
                  GST_VIDEO_INFO_HEIGHT (&in), &w, &h);
  frame = scaler_run (&scaler, sample, w, h, error);
  if (frame != NULL)
    jpeg = encode_once (&scaler.out, frame, POSTER_QUALITY, error);
  scaler_clear (&scaler);
  if (jpeg == NULL || !write_jpeg (job, "poster.jpg", jpeg, error))
    return FALSE;
  job->poster = output_new ("poster.jpg", "poster", "image/jpeg");
  json_object_set_double_member (job->poster, "time_s", (gdouble) t / GST_SECOND);
  json_object_set_int_member (job->poster, "width", w);
  json_object_set_int_member (job->poster, "height", h);
  job->poster_done = TRUE;
  return TRUE;
}

/* Periodic thumbnail @index (at index * interval) from @sample. */
static gboolean
emit_thumbnail (ThumbJob *job, GstSample *sample, guint64 index, GError **error)
{
  g_autofree gchar *name = g_strdup_printf ("thumb_%05" G_GUINT64_FORMAT ".jpg", index + 1);
  JsonObject *o;

  if (job->cached_sample != sample) {
    g_autoptr(GstBuffer) tile = scaler_run (&job->scaler, sample, job->thumb_w, job->thumb_h, error);

    if (tile == NULL)
      return FALSE;
    if (job->encoder == NULL &&
        (job->encoder = jpeg_encoder_new (&job->scaler.out, THUMB_QUALITY, job->task_id,
                                          error)) == NULL)
      return FALSE;
    g_clear_pointer (&job->cached_jpeg, g_bytes_unref);
    job->cached_jpeg = jpeg_encoder_encode (job->encoder, tile, error);
    if (job->cached_jpeg == NULL)
      return FALSE;
    sample_replace (&job->cached_sample, sample);
    gst_buffer_replace (&job->cached_tile, tile);
  }
  if (!write_jpeg (job, name, job->cached_jpeg, error))
    return FALSE;
  o = output_new (name, "frame", "image/jpeg");
  json_object_set_double_member (o, "time_s", (gdouble) (index * job->interval) / GST_SECOND);
  json_object_set_int_member (o, "width", job->thumb_w);
  json_object_set_int_member (o, "height", job->thumb_h);
  g_ptr_array_add (job->frame_outputs, o);

  if (job->options.sprite && index % job->step == 0) {
    g_ptr_array_add (job->tiles, gst_buffer_ref (job->cached_tile));
    if (job->tiles->len > job->capacity) {
      GPtrArray *kept = g_ptr_array_new_with_free_func ((GDestroyNotify) gst_buffer_unref);

      /* more thumbnails than the duration promised: keep every other tile
       * so the sprite stays within its limits */
      for (guint i = 0; i < job->tiles->len; i += 2)
        g_ptr_array_add (kept, gst_buffer_ref (g_ptr_array_index (job->tiles, i)));
      g_ptr_array_unref (job->tiles);
      job->tiles = kept;
      job->step *= 2;
    }
  }
  return TRUE;
}

/* The end of the timeline: the video's own end once its frames are all
 * seen. The probe's duration is only an estimate for some files (a
 * streamed Matroska file has none, the discoverer guesses from its first
 * cluster) and is the container's, which an audio track running past the
 * last frame makes longer: a thumbnail there would show no frame of its
 * own. */
static GstClockTime
timeline_end (ThumbJob *job)
{
  return GST_CLOCK_TIME_IS_VALID (job->last_end) ? job->last_end : job->duration;
}

static void
append_vtt_time (GString *s, GstClockTime t)
{
  guint64 ms = (t + GST_MSECOND / 2) / GST_MSECOND;

  g_string_append_printf (s, "%02" G_GUINT64_FORMAT ":%02u:%02u.%03u", ms / 3600000,
                          (guint) (ms / 60000 % 60), (guint) (ms / 1000 % 60), (guint) (ms % 1000));
}

static gboolean
write_sprite (ThumbJob *job, GError **error)
{
  guint n = job->tiles->len;
  guint cols = MIN (job->columns, n);
  guint rows = (n + cols - 1) / cols;
  GstVideoInfo info;
  GstVideoFrame dst;
  g_autoptr(GstBuffer) sprite = NULL;
  g_autoptr(GBytes) jpeg = NULL;

  jpeg_video_info (&info, (gint) cols * job->thumb_w, (gint) rows * job->thumb_h,
                   &job->scaler.out);
  sprite = gst_buffer_new_allocate (NULL, GST_VIDEO_INFO_SIZE (&info), NULL);
  if (sprite == NULL || !gst_video_frame_map (&dst, &info, sprite, GST_MAP_WRITE)) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_FAILED, "cannot allocate a %dx%d sprite",
                 GST_VIDEO_INFO_WIDTH (&info), GST_VIDEO_INFO_HEIGHT (&info));
    return FALSE;
  }
  /* black (full range) where the last row has no tile */
  for (guint c = 0; c < GST_VIDEO_FRAME_N_COMPONENTS (&dst); c++)
    memset (GST_VIDEO_FRAME_COMP_DATA (&dst, c), c == 0 ? 0 : 128,
            (gsize) GST_VIDEO_FRAME_COMP_STRIDE (&dst, c) * GST_VIDEO_FRAME_COMP_HEIGHT (&dst, c));
  for (guint i = 0; i < n; i++) {
    GstVideoFrame src;

    if (!gst_video_frame_map (&src, &job->scaler.out, g_ptr_array_index (job->tiles, i),
                              GST_MAP_READ)) {
      gst_video_frame_unmap (&dst);
      g_set_error_literal (error, WE_ERROR, WE_ERROR_JOB_FAILED, "cannot read a sprite tile");
      return FALSE;
    }
    for (guint c = 0; c < GST_VIDEO_FRAME_N_COMPONENTS (&src); c++) {
      /* sizes are even, so a chroma tile is exactly half a luma tile */
      gint w = GST_VIDEO_FRAME_COMP_WIDTH (&src, c);
      gint h = GST_VIDEO_FRAME_COMP_HEIGHT (&src, c);
      gint sstride = GST_VIDEO_FRAME_COMP_STRIDE (&src, c);
      gint dstride = GST_VIDEO_FRAME_COMP_STRIDE (&dst, c);
      const guint8 *s = GST_VIDEO_FRAME_COMP_DATA (&src, c);
      guint8 *d = (guint8 *) GST_VIDEO_FRAME_COMP_DATA (&dst, c) +
                  (gsize) (i / cols) * h * dstride + (gsize) (i % cols) * w;

      for (gint y = 0; y < h; y++)
        memcpy (d + (gsize) y * dstride, s + (gsize) y * sstride, w);
    }
    gst_video_frame_unmap (&src);
  }
  gst_video_frame_unmap (&dst);
  /* the tiles are in the sprite now */
  g_ptr_array_set_size (job->tiles, 0);
  gst_clear_buffer (&job->cached_tile);

  jpeg = encode_once (&info, sprite, THUMB_QUALITY, error);
  if (jpeg == NULL || !write_jpeg (job, "sprite.jpg", jpeg, error))
    return FALSE;
  job->sprite = output_new ("sprite.jpg", "sprite", "image/jpeg");
  json_object_set_int_member (job->sprite, "width", GST_VIDEO_INFO_WIDTH (&info));
  json_object_set_int_member (job->sprite, "height", GST_VIDEO_INFO_HEIGHT (&info));
  json_object_set_int_member (job->sprite, "columns", cols);
  json_object_set_int_member (job->sprite, "rows", rows);
  json_object_set_int_member (job->sprite, "count", n);
  json_object_set_double_member (job->sprite, "interval_s",
                                 (gdouble) (job->step * job->interval) / GST_SECOND);

  if (job->options.storyboard) {
    g_autoptr(GString) vtt = g_string_new ("WEBVTT\n");
    GstClockTime end = timeline_end (job);

    for (guint i = 0; i < n; i++) {
      GstClockTime start = (GstClockTime) i * job->step * job->interval;
      GstClockTime stop = MIN (start + job->step * job->interval, end);

      stop = MAX (stop, start + GST_MSECOND);
      g_string_append_c (vtt, '\n');
      append_vtt_time (vtt, start);
      g_string_append (vtt, " --> ");
      append_vtt_time (vtt, stop);
      g_string_append_printf (vtt, "\nsprite.jpg#xywh=%u,%u,%d,%d\n", (i % cols) * job->thumb_w,
                              (i / cols) * job->thumb_h, job->thumb_w, job->thumb_h);
    }
    if (!write_output (job, "storyboard.vtt", vtt->str, vtt->len, error))
      return FALSE;
    job->storyboard = output_new ("storyboard.vtt", "storyboard", "text/vtt");
  }
  return TRUE;
}

/* Between images: stops early once the job is answered (a source of
 * hundreds of thumbnails may be shown in one frame at its end). */
static gboolean
check_running (ThumbJob *job, GError **error)
{
  if (!job_stopping (job))
    return TRUE;
  g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_CANCELLED, "thumbnail extraction stopped");
  return FALSE;
}

/* Only a poster can be done before the end: periodic thumbnails go on as
 * long as frames come, whatever the probe said the duration was. */
static gboolean
all_taken (ThumbJob *job)
{
  return (!job->options.poster || job->poster_done) && job->interval == 0;
}

/* Takes the frame at running time @t: the times before it are on screen in
 * the frame held so far (or in this one, for times before the first frame). */
static gboolean
take_frame (ThumbJob *job, GstSample *sample, GstClockTime t, GError **error)
{
  GstSample *shown = job->held != NULL ? job->held : sample;

  if (job->options.poster && !job->poster_done && job->poster_time + PTS_SLACK < t &&
      !emit_poster (job, shown, job->poster_time, error))
    return FALSE;
  while (job->interval > 0 && job->next * job->interval + PTS_SLACK < t) {
    if (!check_running (job, error) || !emit_thumbnail (job, shown, job->next, error))
      return FALSE;
    job->next++;
  }
  sample_replace (&job->held, sample);
  job->held_time = t;
  return TRUE;
}

/* At the end of the video: the times left are on screen in the last frame. */
static gboolean
take_rest (ThumbJob *job, GError **error)
{
  GstClockTime end = timeline_end (job);

  if (job->held == NULL) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_JOB_UNSUPPORTED_SOURCE,
                         "source has no video frame to take a thumbnail of");
    return FALSE;
  }
  /* a poster wanted after the end (unknown duration) is the last frame */
  if (job->options.poster && !job->poster_done &&
      !emit_poster (job, job->held, MIN (job->poster_time, job->held_time), error))
    return FALSE;
  while (job->interval > 0 &&
         (job->next * job->interval < end || job->next * job->interval <= job->held_time)) {
    if (!check_running (job, error) || !emit_thumbnail (job, job->held, job->next, error))
      return FALSE;
    job->next++;
  }
  return TRUE;
}

static gboolean
finish_outputs (ThumbJob *job, GError **error)
{
  if (job->options.sprite && job->tiles->len > 0 && !write_sprite (job, error))
    return FALSE;
  return TRUE;
}

/* Records the end of the streaming side, with @error or not, for the main
 * thread. */
static void
streaming_done (ThumbJob *job, GError *error)
{
  job->finished = TRUE;
  if (error != NULL && job->error == NULL)
    job->error = error;
  else
    g_clear_error (&error);
  we_gst_post_app_message (job->pipeline, "we-thumbnails-done", NULL);
}

static GstFlowReturn
new_sample_cb (GstAppSink *sink, gpointer user_data)
{
  ThumbJob *job = user_data;
  g_autoptr(GstSample) sample = gst_app_sink_pull_sample (sink);
  GstBuffer *buf;
  const GstSegment *segment;
  GstClockTime t, end;
  GError *error = NULL;

  if (sample == NULL || job_stopping (job))
    return GST_FLOW_FLUSHING;
  if (job->finished)
    return GST_FLOW_EOS;
  buf = gst_sample_get_buffer (sample);
  segment = gst_sample_get_segment (sample);
  if (!GST_BUFFER_PTS_IS_VALID (buf))
    t = GST_CLOCK_TIME_IS_VALID (job->last_end) ? job->last_end : 0;
  else if (segment != NULL && segment->format == GST_FORMAT_TIME)
    t = gst_segment_to_running_time (segment, GST_FORMAT_TIME, GST_BUFFER_PTS (buf));
  else
    t = GST_BUFFER_PTS (buf);
  /* outside the segment: not shown */
  if (!GST_CLOCK_TIME_IS_VALID (t))
    return GST_FLOW_OK;
  end = t + (GST_BUFFER_DURATION_IS_VALID (buf) ? GST_BUFFER_DURATION (buf) : 0);

  if (!take_frame (job, sample, t, &error)) {
    streaming_done (job, error);
    return GST_FLOW_EOS;
  }
  if (!GST_CLOCK_TIME_IS_VALID (job->last_end) || end > job->last_end)
    job->last_end = end;
  if (all_taken (job)) {
    /* nothing later is needed: no need to decode the rest */
    if (!finish_outputs (job, &error)) {
      streaming_done (job, error);
      return GST_FLOW_EOS;
    }
    streaming_done (job, NULL);
    return GST_FLOW_EOS;
  }
  return GST_FLOW_OK;
}

static void
eos_cb (GstAppSink *sink, gpointer user_data)
{
  ThumbJob *job = user_data;
  GError *error = NULL;

  if (job->finished || job_stopping (job))
    return;
  if (!take_rest (job, &error) || !finish_outputs (job, &error)) {
    streaming_done (job, error);
    return;
  }
  streaming_done (job, NULL);
}

static void
decodebin_pad_added (GstElement *decodebin, GstPad *pad, gpointer user_data)
{
  ThumbJob *job = user_data;
  g_autoptr(GstCaps) caps = gst_pad_get_current_caps (pad);
  const gchar *name;
  gboolean link_video = FALSE;

  if (caps == NULL)
    caps = gst_pad_query_caps (pad, NULL);
  name = gst_caps_get_size (caps) > 0 ? gst_structure_get_name (gst_caps_get_structure (caps, 0)) : "";

  g_mutex_lock (&job->lock);
  /* the first video stream, as the probe described it */
  if (g_str_has_prefix (name, "video/x-raw") && !job->video_linked) {
    link_video = TRUE;
    job->video_linked = TRUE;
  }
  g_mutex_unlock (&job->lock);

  if (link_video) {
    g_autoptr(GstPad) sinkpad = gst_element_get_static_pad (job->video_head, "sink");

    if (gst_pad_link (pad, sinkpad) != GST_PAD_LINK_OK)
      we_gst_post_app_message (job->pipeline, "we-link-failed", name);
  } else {
    g_autoptr(GstPad) sinkpad = NULL;

    sinkpad = gst_element_get_static_pad (we_gst_add_fakesink (job->pipeline), "sink");
    gst_pad_link (pad, sinkpad);
  }
}

/* ---- pipeline ------------------------------------------------------------- */

static gboolean
bus_cb (GstBus *bus, GstMessage *msg, gpointer user_data)
{
  GTask *task = G_TASK (user_data);
  ThumbJob *job = g_task_get_task_data (task);

  if (job->done)
    return G_SOURCE_REMOVE;
  we_gst_introspect_message (job->pipeline, msg, "thumbnails", job->pipeline_func,
                             job->pipeline_data, &job->introspected);
  switch (GST_MESSAGE_TYPE (msg)) {
  case GST_MESSAGE_ERROR:
    thumbs_complete (task, we_gst_error_from_message (msg, job->decodebin));
    return G_SOURCE_REMOVE;
  case GST_MESSAGE_APPLICATION: {
    const GstStructure *s = gst_message_get_structure (msg);
    gboolean linked;

    g_mutex_lock (&job->lock);
    linked = job->video_linked;
    g_mutex_unlock (&job->lock);
    if (gst_structure_has_name (s, "we-thumbnails-done")) {
      /* the appsink's EOS callback (or the last frame wanted) has written
       * everything; the pipeline's own EOS message is not waited for */
      thumbs_complete (task, NULL);
      return G_SOURCE_REMOVE;
    }
    if (gst_structure_has_name (s, "we-link-failed")) {
      thumbs_complete (task, g_error_new (WE_ERROR, WE_ERROR_JOB_FAILED,
                                          "cannot link the source's %s stream",
                                          gst_structure_get_string (s, "detail")));
      return G_SOURCE_REMOVE;
    }
    if (gst_structure_has_name (s, "we-pads-done") && !linked) {
      thumbs_complete (task, g_error_new_literal (WE_ERROR, WE_ERROR_JOB_UNSUPPORTED_SOURCE,
                                                  "source has no video stream"));
      return G_SOURCE_REMOVE;
    }
    break;
  }
  default:
    break;
  }
  return G_SOURCE_CONTINUE;
}

static gboolean
build_pipeline (ThumbJob *job, GError **error)
{
  static const GstAppSinkCallbacks callbacks = { .eos = eos_cb, .new_sample = new_sample_cb };
  GstElement *sink, *progress;
  g_autoptr(GstCaps) caps = gst_caps_new_empty_simple ("video/x-raw");

  job->pipeline = gst_object_ref_sink (
    gst_pipeline_new (job->task_id != NULL ? job->task_id : "we-thumbnails"));
  job->decodebin = we_gst_bin_add_new (job->pipeline, "uridecodebin", "src", error);
  if (job->decodebin == NULL ||
      (job->video_head = we_gst_bin_add_new (job->pipeline, "videoconvert", NULL, error)) == NULL ||
      (progress = we_gst_add_progress (job->pipeline, "progress", error)) == NULL ||
      (sink = we_gst_bin_add_new (job->pipeline, "appsink", NULL, error)) == NULL)
    return FALSE;
  /* the frames decoded so far are the job's progress */
  g_ptr_array_add (job->progress, gst_object_ref (progress));
  g_object_set (job->decodebin, "uri", job->uri, NULL);
  /* every decoded frame, unconverted (videoconvert only maps other memory
   * to system memory): only the frames taken are scaled */
  g_object_set (sink, "caps", caps, "sync", FALSE, "enable-last-sample", FALSE, NULL);
  gst_app_sink_set_callbacks (GST_APP_SINK (sink), (GstAppSinkCallbacks *) &callbacks, job, NULL);
  if (!gst_element_link_many (job->video_head, progress, sink, NULL)) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_JOB_FAILED, "cannot link the frame sink");
    return FALSE;
  }
  g_signal_connect (job->decodebin, "pad-added", G_CALLBACK (decodebin_pad_added), job);
  g_signal_connect (job->decodebin, "no-more-pads", G_CALLBACK (we_gst_pads_done_cb),
                    job->pipeline);
  return TRUE;
}

/* Sizes, times and sprite limits from what the probe found. */
static void
plan (ThumbJob *job, const WeGstProbeResult *probe)
{
  gint par_n = probe->par_n > 0 && probe->par_d > 0 ? probe->par_n : 1;
  gint par_d = probe->par_n > 0 && probe->par_d > 0 ? probe->par_d : 1;
  guint64 tile_px, rows;
  guint max_cols;

  job->duration = probe->info->duration_s > 0
                    ? (GstClockTime) llround (probe->info->duration_s * GST_SECOND)
                    : GST_CLOCK_TIME_NONE;
  job->interval = (GstClockTime) job->options.interval_s * GST_SECOND;
  job->poster_time = GST_CLOCK_TIME_IS_VALID (job->duration) ? MIN (job->duration / 10, POSTER_MAX)
                                                             : POSTER_MAX;
  if (job->interval > 0 && GST_CLOCK_TIME_IS_VALID (job->duration))
    job->count = (job->duration + job->interval - 1) / job->interval;
  if (job->interval > 0)
    job->report.expected_s = GST_CLOCK_TIME_IS_VALID (job->duration) ? probe->info->duration_s
                                                                     : 0;
  else
    job->report.expected_s = (gdouble) job->poster_time / GST_SECOND;

  /* the asked width; a source more than four times taller than wide fits
   * a width x 4*width box instead, so a tile cannot outgrow the sprite */
  we_gst_fit_box (probe->info->width, probe->info->height, par_n, par_d, job->options.width,
                  job->options.width * 4, &job->thumb_w, &job->thumb_h);
  /* as many columns as asked that fit the sprite's width and, in one row,
   * its pixel budget */
  tile_px = (guint64) job->thumb_w * job->thumb_h;
  max_cols = (guint) MIN ((guint64) (WE_GST_THUMBNAILS_MAX_SPRITE_SIDE / job->thumb_w),
                          WE_GST_THUMBNAILS_MAX_SPRITE_PIXELS / tile_px);
  job->columns = CLAMP ((guint) job->options.sprite_columns, 1, MAX (max_cols, 1));
  rows = MIN ((guint64) (WE_GST_THUMBNAILS_MAX_SPRITE_SIDE / job->thumb_h),
              WE_GST_THUMBNAILS_MAX_SPRITE_PIXELS / (tile_px * job->columns));
  job->capacity = job->columns * (guint) CLAMP (rows, 1, G_MAXUINT / job->columns);
  job->step = 1;
  while (job->count > 0 && (job->count + job->step - 1) / job->step > job->capacity)
    job->step *= 2;
  g_debug ("thumbnails: %dx%d, %" G_GUINT64_FORMAT " every %d s, sprite %u columns, "
           "%u tiles at most, every %u", job->thumb_w, job->thumb_h, job->count,
           job->options.interval_s, job->columns, job->capacity, job->step);
}

static void
probed_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(GTask) task = G_TASK (user_data);   /* the ref taken for the probe */
  ThumbJob *job = g_task_get_task_data (task);
  g_autoptr(WeGstProbeResult) probe = NULL;
  GError *error = NULL;

  probe = we_gst_probe_finish (res, &error);
  if (job->done) {
    g_clear_error (&error);
    return;
  }
  if (probe == NULL) {
    thumbs_complete (task, error);
    return;
  }
  if (!probe->info->has_video || probe->info->width <= 0 || probe->info->height <= 0) {
    thumbs_complete (task, g_error_new_literal (WE_ERROR, WE_ERROR_JOB_UNSUPPORTED_SOURCE,
                                                "source has no video to take thumbnails of"));
    return;
  }
  plan (job, probe);
  job->dir_created = !g_file_test (job->dir, G_FILE_TEST_IS_DIR);
  if (g_mkdir_with_parents (job->dir, 0755) != 0) {
    job->dir_created = FALSE;
    thumbs_complete (task, g_error_new (WE_ERROR, WE_ERROR_JOB_FAILED, "cannot create %s: %s",
                                        job->dir, g_strerror (errno)));
    return;
  }
  if (!build_pipeline (job, &error)) {
    thumbs_complete (task, error);
    return;
  }
  job->bus_source = we_gst_bus_watch_attach (job->pipeline, job->context, bus_cb, task);
  job->timer_source = we_gst_source_attach (g_timeout_source_new (PROGRESS_INTERVAL_MS),
                                            job->context, progress_timer_cb, job);
  job->report.started_us = g_get_monotonic_time ();
  if (!we_gst_pipeline_play (job->pipeline, job->decodebin, "pipeline", &error)) {
    thumbs_complete (task, error);
    return;
  }
  report_progress (job, FALSE);
}

void
we_gst_thumbnails_async (const gchar *input_uri, const WeProfileThumbnails *options,
                         const gchar *output_dir, WeEncodeProgressFunc progress,
                         gpointer progress_data, GCancellable *cancellable,
                         GAsyncReadyCallback callback, gpointer user_data)
{
  we_gst_thumbnails_task_async (input_uri, options, output_dir, NULL, NULL, NULL, progress,
                                progress_data, cancellable, callback, user_data);
}

void
we_gst_thumbnails_task_async (const gchar *input_uri, const WeProfileThumbnails *options,
                              const gchar *output_dir, const gchar *task_id,
                              WePipelineFunc pipeline_func, gpointer pipeline_data,
                              WeEncodeProgressFunc progress, gpointer progress_data,
                              GCancellable *cancellable, GAsyncReadyCallback callback,
                              gpointer user_data)
{
  GTask *task = g_task_new (NULL, cancellable, callback, user_data);
  ThumbJob *job = g_new0 (ThumbJob, 1);
  g_autoptr(WeProfile) check = NULL;
  GError *error = NULL;

  g_task_set_source_tag (task, we_gst_thumbnails_async);
  g_mutex_init (&job->lock);
  job->context = g_main_context_ref_thread_default ();
  job->progress = g_ptr_array_new_with_free_func (gst_object_unref);
  job->held_time = GST_CLOCK_TIME_NONE;
  job->last_end = GST_CLOCK_TIME_NONE;
  job->step = 1;
  job->tiles = g_ptr_array_new_with_free_func ((GDestroyNotify) gst_buffer_unref);
  job->written = g_ptr_array_new_with_free_func (g_free);
  job->frame_outputs = g_ptr_array_new_with_free_func ((GDestroyNotify) json_object_unref);
  job->report.func = progress;
  job->report.data = progress_data;
  job->task_id = g_strdup (task_id != NULL ? task_id : we_gst_cancellable_task_id (cancellable));
  job->pipeline_func = pipeline_func;
  job->pipeline_data = pipeline_data;
  g_task_set_task_data (task, job, (GDestroyNotify) thumb_job_free);

  if (input_uri == NULL || options == NULL || output_dir == NULL) {
    thumbs_complete (task, g_error_new_literal (WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                                                "thumbnails need a source, options and an "
                                                "output directory"));
    return;
  }
  job->uri = g_strdup (input_uri);
  job->dir = g_build_filename (output_dir, THUMB_DIR, NULL);
  job->options = *options;
  /* the profile's own rules for these options, in one place */
  check = we_profile_new ("thumbnails");
  check->thumbnails = *options;
  if (!we_profile_validate (check, &error)) {
    thumbs_complete (task, error);
    return;
  }
  if (!options->poster && options->interval_s == 0) {
    thumbs_complete (task, NULL);
    return;
  }
  if (!we_gst_watch_cancellable (cancellable, job->context, cancelled_cb, task,
                                 &job->cancel_source)) {
    thumbs_complete (task, we_gst_cancelled_error ("thumbnail extraction"));
    return;
  }
  we_gst_probe_async (NULL, job->uri, cancellable, probed_cb, g_object_ref (task));
}

JsonArray *
we_gst_thumbnails_finish (GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_async_result_is_tagged (result, we_gst_thumbnails_async), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}
