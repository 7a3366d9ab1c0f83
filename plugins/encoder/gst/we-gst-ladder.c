/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include "we-gst-ladder.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <glib/gstdio.h>
#include <gst/pbutils/pbutils.h>
#include <gst/video/video.h>
#include <webencode/we-error.h>

#include "we-gst-encoders.h"
#include "we-gst-hls-playlist.h"
#include "we-gst-probe.h"
#include "we-gst-run.h"

#define PROGRESS_INTERVAL_MS 500
/* a frame's running time may land a nanosecond either side of the grid */
#define PTS_SLACK (GST_USECOND)
/* fMP4 audio fragments: short, so audio segments can start within this of
 * the video boundaries they are grouped on */
#define AUDIO_FRAGMENT_MS 200

typedef struct {
  WeProfileRung *rung;          /* as planned: the size encoded */
  gchar         *dir;
  gchar         *fmp4_path;     /* one fragmented MP4 while encoding, split after */
  GstElement    *splitmux;      /* TS segmenter, or NULL */

  /* streaming side, under the job lock */
  GArray        *keyframes;     /* GstClockTime: running time of each keyframe's PTS */
  GstClockTime   end;           /* running time after the last frame */
  GstSegment     segment;
  GstCaps       *caps;
  gchar         *sps_codec;     /* "avc1.PPCCLL" read from the first SPS */

  /* filled when packaging */
  GPtrArray     *ts_segments;   /* (element-type WeGstHlsSegment) */
  GPtrArray     *fmp4_segments;
  gchar         *codecs;
} Rung;

typedef struct {
  GMainContext        *context;
  gchar               *uri;
  gchar               *out_dir;
  WeProfile           *profile;
  WeGstOptions         options;
  WeEncodeProgressFunc progress;
  gpointer             progress_data;

  GSource             *cancel_source;
  GSource             *bus_source;
  GSource             *timer_source;
  GstElement          *pipeline;
  GstElement          *decodebin;
  GstElement          *video_head;
  GstElement          *audio_head;  /* NULL without audio */
  GPtrArray           *rungs;       /* (element-type Rung) */
  GStrv                dropped;
  gboolean             want_ts;
  gboolean             want_fmp4;
  gchar               *audio_dir;   /* fMP4 audio rendition */
  gchar               *audio_fmp4_path;
  gdouble              fps;
  gdouble              expected_s;
  GstClockTime         seg_ns;
  gint64               started_us;
  gdouble              last_percent;
  gboolean             done;

  /* shared with streaming threads */
  GMutex               lock;
  gboolean             video_linked;
  gboolean             audio_linked;
  GstSegment           in_segment;
  GstClockTime         position;
  guint64              frames;
  guint64              last_slot;
  gboolean             seen_frame;
  GArray              *boundaries;  /* GstClockTime: first frame of each segment */
  GstSegment           audio_segment;
  GstClockTime         audio_end;
  GstCaps             *audio_caps;
} LadderJob;

/* ---- result --------------------------------------------------------------- */

static void
rendition_free (WeGstLadderRendition *r)
{
  g_free (r->name);
  g_free (r->codecs);
  g_free (r->playlist);
  g_free (r);
}

void
we_gst_ladder_result_free (WeGstLadderResult *self)
{
  if (self == NULL)
    return;
  g_free (self->output_dir);
  g_free (self->master_playlist);
  g_free (self->dash_manifest);
  g_clear_pointer (&self->renditions, g_ptr_array_unref);
  g_strfreev (self->dropped);
  g_free (self->audio_codecs);
  g_free (self);
}

JsonObject *
we_gst_ladder_result_to_json (const WeGstLadderResult *self)
{
  JsonObject *obj = json_object_new ();
  JsonArray *outputs = json_array_new ();
  JsonArray *dropped = json_array_new ();

  json_object_set_double_member (obj, "duration_s", self->duration_s);
  json_object_set_int_member (obj, "segment_count", self->segment_count);
  for (guint i = 0; self->dropped != NULL && self->dropped[i] != NULL; i++)
    json_array_add_string_element (dropped, self->dropped[i]);
  json_object_set_array_member (obj, "dropped", dropped);
  if (self->master_playlist != NULL) {
    JsonObject *m = json_object_new ();

    json_object_set_string_member (m, "type", "manifest");
    json_object_set_string_member (m, "format", "hls");
    json_object_set_string_member (m, "path", self->master_playlist);
    json_array_add_object_element (outputs, m);
  }
  if (self->dash_manifest != NULL) {
    JsonObject *m = json_object_new ();

    json_object_set_string_member (m, "type", "manifest");
    json_object_set_string_member (m, "format", "dash");
    json_object_set_string_member (m, "path", self->dash_manifest);
    json_array_add_object_element (outputs, m);
  }
  for (guint i = 0; i < self->renditions->len; i++) {
    const WeGstLadderRendition *r = g_ptr_array_index (self->renditions, i);
    JsonObject *o = json_object_new ();

    json_object_set_string_member (o, "type", "rendition");
    json_object_set_string_member (o, "name", r->name);
    json_object_set_int_member (o, "width", r->width);
    json_object_set_int_member (o, "height", r->height);
    json_object_set_int_member (o, "bandwidth", (gint64) r->bandwidth);
    json_object_set_int_member (o, "average_bandwidth", (gint64) r->average_bandwidth);
    json_object_set_string_member (o, "codecs", r->codecs);
    if (r->playlist != NULL)
      json_object_set_string_member (o, "playlist", r->playlist);
    json_object_set_int_member (o, "segment_count", r->segment_count);
    json_array_add_object_element (outputs, o);
  }
  json_object_set_array_member (obj, "outputs", outputs);
  return obj;
}

/* ---- rung planning -------------------------------------------------------- */

GPtrArray *
we_gst_ladder_plan_rungs (const WeProfile *profile, gint src_width, gint src_height, gint par_n,
                          gint par_d, GStrv *dropped)
{
  g_autoptr(GPtrArray) planned = g_ptr_array_new_with_free_func ((GDestroyNotify) we_profile_rung_free);
  g_autoptr(GStrvBuilder) left_out = g_strv_builder_new ();
  const WeProfileRung *smallest = NULL;
  gint disp_w;

  if (par_n <= 0 || par_d <= 0)
    par_n = par_d = 1;
  disp_w = (gint) ((gdouble) src_width * par_n / par_d + 0.5);
  for (guint i = 0; profile->ladder != NULL && i < profile->ladder->len; i++) {
    const WeProfileRung *rung = g_ptr_array_index (profile->ladder, i);
    g_autoptr(WeProfileRung) copy = NULL;
    gint w, h;

    if (!rung->enabled)
      continue;
    if (smallest == NULL || rung->height < smallest->height)
      smallest = rung;
    we_gst_fit_box (src_width, src_height, par_n, par_d, rung->width, rung->height, &w, &h);
    /* fit_box rounds down to even sizes, so "bigger" means really scaled up */
    if (h > src_height || w > disp_w) {
      g_strv_builder_add (left_out, rung->name);
      continue;
    }
    copy = we_profile_rung_copy (rung);
    copy->width = w;
    copy->height = h;
    g_ptr_array_add (planned, g_steal_pointer (&copy));
  }
  if (planned->len == 0 && smallest != NULL) {
    g_autoptr(GStrvBuilder) rest = g_strv_builder_new ();
    g_auto(GStrv) all = g_strv_builder_end (left_out);
    WeProfileRung *copy = we_profile_rung_copy (smallest);

    /* a source smaller than every rung still gets one rendition, at its own size */
    we_gst_fit_box (src_width, src_height, par_n, par_d, disp_w, src_height, &copy->width,
                    &copy->height);
    g_ptr_array_add (planned, copy);
    for (guint i = 0; all[i] != NULL; i++) {
      if (g_strcmp0 (all[i], smallest->name) != 0)
        g_strv_builder_add (rest, all[i]);
    }
    *dropped = g_strv_builder_end (rest);
    return g_steal_pointer (&planned);
  }
  *dropped = g_strv_builder_end (left_out);
  return g_steal_pointer (&planned);
}

/* ---- job ------------------------------------------------------------------ */

static void
rung_free (Rung *r)
{
  g_clear_pointer (&r->rung, we_profile_rung_free);
  g_free (r->dir);
  g_free (r->fmp4_path);
  g_clear_pointer (&r->keyframes, g_array_unref);
  g_clear_pointer (&r->caps, gst_caps_unref);
  g_free (r->sps_codec);
  g_clear_pointer (&r->ts_segments, g_ptr_array_unref);
  g_clear_pointer (&r->fmp4_segments, g_ptr_array_unref);
  g_free (r->codecs);
  g_free (r);
}

static void
ladder_job_remove_sources (LadderJob *job)
{
  GSource **sources[] = { &job->cancel_source, &job->bus_source, &job->timer_source };

  for (guint i = 0; i < G_N_ELEMENTS (sources); i++) {
    if (*sources[i] != NULL) {
      g_source_destroy (*sources[i]);
      g_clear_pointer (sources[i], g_source_unref);
    }
  }
}

static void
ladder_job_free (LadderJob *job)
{
  ladder_job_remove_sources (job);
  if (job->pipeline != NULL)
    gst_element_set_state (job->pipeline, GST_STATE_NULL);
  g_clear_pointer (&job->pipeline, gst_object_unref);
  g_clear_pointer (&job->rungs, g_ptr_array_unref);
  g_clear_pointer (&job->boundaries, g_array_unref);
  g_clear_pointer (&job->audio_caps, gst_caps_unref);
  g_clear_pointer (&job->profile, we_profile_unref);
  g_clear_pointer (&job->context, g_main_context_unref);
  g_strfreev (job->dropped);
  g_free (job->uri);
  g_free (job->out_dir);
  g_free (job->audio_dir);
  g_free (job->audio_fmp4_path);
  g_mutex_clear (&job->lock);
  g_free (job);
}

/* Removes what this job wrote: only its own sub-directories and manifests,
 * as the output directory may hold other things. */
static void
remove_dir_files (const gchar *dir)
{
  g_autoptr(GDir) d = NULL;
  const gchar *name;

  if (dir == NULL || (d = g_dir_open (dir, 0, NULL)) == NULL)
    return;
  while ((name = g_dir_read_name (d)) != NULL) {
    g_autofree gchar *path = g_build_filename (dir, name, NULL);

    if (g_unlink (path) != 0)
      g_debug ("could not remove %s: %s", path, g_strerror (errno));
  }
  g_rmdir (dir);
}

static void
remove_outputs (LadderJob *job)
{
  g_autofree gchar *master = g_build_filename (job->out_dir, "master.m3u8", NULL);
  g_autofree gchar *mpd = g_build_filename (job->out_dir, "manifest.mpd", NULL);

  for (guint i = 0; job->rungs != NULL && i < job->rungs->len; i++)
    remove_dir_files (((Rung *) g_ptr_array_index (job->rungs, i))->dir);
  remove_dir_files (job->audio_dir);
  g_unlink (master);
  g_unlink (mpd);
}

static gpointer
teardown_thread (gpointer data)
{
  GTask *task = G_TASK (data);
  LadderJob *job = g_task_get_task_data (task);

  gst_element_set_state (job->pipeline, GST_STATE_NULL);
  remove_outputs (job);
  g_object_unref (task);
  return NULL;
}

static void
report_progress (LadderJob *job, gboolean final)
{
  WeEncodeProgress p;
  GstClockTime pos;
  guint64 frames;

  if (job->progress == NULL)
    return;
  g_mutex_lock (&job->lock);
  pos = job->position;
  frames = job->frames;
  g_mutex_unlock (&job->lock);
  we_gst_progress_compute (&p, pos, frames, job->expected_s, job->started_us, final,
                           &job->last_percent);
  job->progress (&p, job->progress_data);
}

/* Completes the task once; takes @error, or @result on success. */
static void
ladder_complete (GTask *task, WeGstLadderResult *result, GError *error)
{
  LadderJob *job = g_task_get_task_data (task);

  if (job->done) {
    g_clear_error (&error);
    we_gst_ladder_result_free (result);
    return;
  }
  job->done = TRUE;
  ladder_job_remove_sources (job);
  if (job->pipeline != NULL && error != NULL) {
    g_autoptr(GThread) thread = NULL;

    /* going to NULL drains every encoder's lookahead, seconds for three
     * x264 instances: the caller is answered first */
    thread = g_thread_new ("we-gst-ladder-down", teardown_thread, g_object_ref (task));
  } else if (error != NULL) {
    remove_outputs (job);
  } else if (job->pipeline != NULL) {
    gst_element_set_state (job->pipeline, GST_STATE_NULL);
  }
  if (error != NULL) {
    g_task_return_error (task, error);
  } else {
    report_progress (job, TRUE);
    g_task_return_pointer (task, result, (GDestroyNotify) we_gst_ladder_result_free);
  }
  g_object_unref (task);
}

static gboolean
cancelled_cb (GCancellable *cancellable, gpointer user_data)
{
  ladder_complete (G_TASK (user_data), NULL,
                   g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED,
                                        "ladder packaging was cancelled"));
  return G_SOURCE_REMOVE;
}

static gboolean
progress_timer_cb (gpointer user_data)
{
  report_progress (user_data, FALSE);
  return G_SOURCE_CONTINUE;
}

/* ---- streaming-thread side ------------------------------------------------ */

static GstClockTime
running_time (const GstSegment *segment, GstClockTime ts)
{
  if (!GST_CLOCK_TIME_IS_VALID (ts) || segment->format != GST_FORMAT_TIME)
    return ts;
  return gst_segment_to_running_time (segment, GST_FORMAT_TIME, ts);
}

/* On the tee that feeds every rung: the one place that decides where
 * segments start. A force-key-unit event sent here is copied by the tee
 * into every branch in stream order, so every encoder makes the same frame
 * a keyframe, whatever its own rate control or threading; and each TS
 * segmenter is told to cut there. An encoder GOP length in frames would
 * drift from the time grid on variable frame rate sources. */
static GstPadProbeReturn
boundary_probe (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  LadderJob *job = user_data;
  GstBuffer *buf;
  GstClockTime rt;
  guint64 slot;
  gboolean cut = FALSE;

  if (info->type & GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM) {
    GstEvent *event = GST_PAD_PROBE_INFO_EVENT (info);

    if (GST_EVENT_TYPE (event) == GST_EVENT_SEGMENT) {
      const GstSegment *segment;

      gst_event_parse_segment (event, &segment);
      g_mutex_lock (&job->lock);
      gst_segment_copy_into (segment, &job->in_segment);
      g_mutex_unlock (&job->lock);
    }
    return GST_PAD_PROBE_OK;
  }
  buf = GST_PAD_PROBE_INFO_BUFFER (info);
  g_mutex_lock (&job->lock);
  rt = running_time (&job->in_segment, GST_BUFFER_PTS (buf));
  job->frames++;
  if (GST_CLOCK_TIME_IS_VALID (rt)) {
    GstClockTime end = rt + (GST_BUFFER_DURATION_IS_VALID (buf) ? GST_BUFFER_DURATION (buf) : 0);

    if (!GST_CLOCK_TIME_IS_VALID (job->position) || end > job->position)
      job->position = end;
    slot = (rt + PTS_SLACK) / job->seg_ns;
    if (!job->seen_frame) {
      g_array_append_val (job->boundaries, rt);
      job->seen_frame = TRUE;
      job->last_slot = slot;
    } else if (slot > job->last_slot) {
      g_array_append_val (job->boundaries, rt);
      job->last_slot = slot;
      cut = TRUE;
    }
  }
  g_mutex_unlock (&job->lock);

  if (cut) {
    /* half a segment early: splitmuxsink compares with decode times, which
     * B-frames put before the keyframe's PTS; no other keyframe lies in
     * between (scene cuts are off, the encoder's own interval is longer) */
    GstClockTime split = rt - job->seg_ns / 2;

    for (guint i = 0; i < job->rungs->len; i++) {
      Rung *r = g_ptr_array_index (job->rungs, i);

      if (r->splitmux != NULL)
        g_signal_emit_by_name (r->splitmux, "split-at-running-time", split);
    }
    gst_pad_send_event (pad, gst_video_event_new_downstream_force_key_unit (
                               GST_CLOCK_TIME_NONE, GST_CLOCK_TIME_NONE, rt, TRUE,
                               (guint) slot));
  }
  return GST_PAD_PROBE_OK;
}

/* "avc1.PPCCLL" from the first SPS of an H.264 byte-stream buffer. */
static gchar *
codec_from_sps (GstBuffer *buf)
{
  GstMapInfo map;
  gchar *codec = NULL;

  if (!gst_buffer_map (buf, &map, GST_MAP_READ))
    return NULL;
  for (gsize i = 0; i + 6 < map.size && codec == NULL; i++) {
    if (map.data[i] == 0 && map.data[i + 1] == 0 && map.data[i + 2] == 1 &&
        (map.data[i + 3] & 0x1f) == 7)
      codec = g_strdup_printf ("avc1.%02x%02x%02x", map.data[i + 4], map.data[i + 5],
                               map.data[i + 6]);
  }
  gst_buffer_unmap (buf, &map);
  return codec;
}

/* On each rung's encoder output: where its keyframes really are, where it
 * ends, and what it is (for CODECS). */
static GstPadProbeReturn
rung_output_probe (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  LadderJob *job = g_object_get_data (G_OBJECT (pad), "we-ladder-job");
  Rung *r = user_data;

  g_mutex_lock (&job->lock);
  if (info->type & GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM) {
    GstEvent *event = GST_PAD_PROBE_INFO_EVENT (info);

    if (GST_EVENT_TYPE (event) == GST_EVENT_SEGMENT) {
      const GstSegment *segment;

      gst_event_parse_segment (event, &segment);
      gst_segment_copy_into (segment, &r->segment);
    } else if (GST_EVENT_TYPE (event) == GST_EVENT_CAPS) {
      GstCaps *caps;

      gst_event_parse_caps (event, &caps);
      gst_caps_replace (&r->caps, caps);
    }
  } else {
    GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER (info);
    GstClockTime rt = running_time (&r->segment, GST_BUFFER_PTS (buf));

    if (GST_CLOCK_TIME_IS_VALID (rt)) {
      GstClockTime end = rt + (GST_BUFFER_DURATION_IS_VALID (buf) ? GST_BUFFER_DURATION (buf) : 0);

      if (!GST_BUFFER_FLAG_IS_SET (buf, GST_BUFFER_FLAG_DELTA_UNIT))
        g_array_append_val (r->keyframes, rt);
      if (!GST_CLOCK_TIME_IS_VALID (r->end) || end > r->end)
        r->end = end;
    }
    if (r->sps_codec == NULL && !GST_BUFFER_FLAG_IS_SET (buf, GST_BUFFER_FLAG_DELTA_UNIT))
      r->sps_codec = codec_from_sps (buf);
  }
  g_mutex_unlock (&job->lock);
  return GST_PAD_PROBE_OK;
}

static GstPadProbeReturn
audio_output_probe (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  LadderJob *job = user_data;

  g_mutex_lock (&job->lock);
  if (info->type & GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM) {
    GstEvent *event = GST_PAD_PROBE_INFO_EVENT (info);

    if (GST_EVENT_TYPE (event) == GST_EVENT_SEGMENT) {
      const GstSegment *segment;

      gst_event_parse_segment (event, &segment);
      gst_segment_copy_into (segment, &job->audio_segment);
    } else if (GST_EVENT_TYPE (event) == GST_EVENT_CAPS) {
      GstCaps *caps;

      gst_event_parse_caps (event, &caps);
      gst_caps_replace (&job->audio_caps, caps);
    }
  } else {
    GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER (info);
    GstClockTime rt = running_time (&job->audio_segment, GST_BUFFER_PTS (buf));

    if (GST_CLOCK_TIME_IS_VALID (rt)) {
      GstClockTime end = rt + (GST_BUFFER_DURATION_IS_VALID (buf) ? GST_BUFFER_DURATION (buf) : 0);

      if (!GST_CLOCK_TIME_IS_VALID (job->audio_end) || end > job->audio_end)
        job->audio_end = end;
    }
  }
  g_mutex_unlock (&job->lock);
  return GST_PAD_PROBE_OK;
}

static void
decodebin_pad_added (GstElement *decodebin, GstPad *pad, gpointer user_data)
{
  LadderJob *job = user_data;
  g_autoptr(GstCaps) caps = gst_pad_get_current_caps (pad);
  const gchar *name;
  GstElement *head = NULL;

  if (caps == NULL)
    caps = gst_pad_query_caps (pad, NULL);
  name = gst_caps_get_size (caps) > 0 ? gst_structure_get_name (gst_caps_get_structure (caps, 0)) : "";

  g_mutex_lock (&job->lock);
  /* the first stream of each kind, as ffmpeg's -map 0:v -map 0:a picks */
  if (g_str_has_prefix (name, "video/x-raw") && !job->video_linked) {
    head = job->video_head;
    job->video_linked = TRUE;
  } else if (g_str_has_prefix (name, "audio/x-raw") && !job->audio_linked &&
             job->audio_head != NULL) {
    head = job->audio_head;
    job->audio_linked = TRUE;
  }
  g_mutex_unlock (&job->lock);

  if (head != NULL) {
    g_autoptr(GstPad) sinkpad = gst_element_get_static_pad (head, "sink");

    if (gst_pad_link (pad, sinkpad) != GST_PAD_LINK_OK)
      we_gst_post_app_message (job->pipeline, "we-link-failed", name);
  } else {
    /* streams we do not map still need a consumer or decodebin stops */
    GstElement *sink = gst_element_factory_make ("fakesink", NULL);
    g_autoptr(GstPad) sinkpad = NULL;

    g_object_set (sink, "sync", FALSE, "async", FALSE, NULL);
    gst_bin_add (GST_BIN (job->pipeline), sink);
    gst_element_sync_state_with_parent (sink);
    sinkpad = gst_element_get_static_pad (sink, "sink");
    gst_pad_link (pad, sinkpad);
  }
}

static void
decodebin_no_more_pads (GstElement *decodebin, gpointer user_data)
{
  LadderJob *job = user_data;

  we_gst_post_app_message (job->pipeline, "we-pads-done", NULL);
}

/* ---- packaging, after EOS ------------------------------------------------- */

static guint32
read_u32 (const guint8 *p)
{
  return ((guint32) p[0] << 24) | ((guint32) p[1] << 16) | ((guint32) p[2] << 8) | p[3];
}

static guint64
read_u64 (const guint8 *p)
{
  return ((guint64) read_u32 (p) << 32) | read_u32 (p + 4);
}

/* Finds the child box @type in [@p, @end); returns its payload. */
static const guint8 *
find_box (const guint8 *p, const guint8 *end, const gchar *type, gsize *payload_size)
{
  while (p + 8 <= end) {
    guint64 size = read_u32 (p);
    gsize header = 8;

    if (size == 1 && p + 16 <= end) {
      size = read_u64 (p + 8);
      header = 16;
    } else if (size == 0) {
      size = end - p;
    }
    if (size < header || size > (guint64) (end - p))
      return NULL;
    if (memcmp (p + 4, type, 4) == 0) {
      *payload_size = size - header;
      return p + header;
    }
    p += size;
  }
  return NULL;
}

static const guint8 *
find_path (const guint8 *p, gsize size, const gchar *const *path, gsize *payload_size)
{
  const guint8 *end = p + size;

  for (guint i = 0; path[i] != NULL; i++) {
    p = find_box (p, end, path[i], payload_size);
    if (p == NULL)
      return NULL;
    end = p + *payload_size;
  }
  return p;
}

static gboolean
write_piece (const gchar *dir, const gchar *name, const guint8 *data, gsize size, GError **error)
{
  g_autofree gchar *path = g_build_filename (dir, name, NULL);

  if (!g_file_set_contents (path, (const gchar *) data, size, error)) {
    g_prefix_error (error, "cannot write segment: ");
    return FALSE;
  }
  return TRUE;
}

/* Cuts a fragmented MP4 (ftyp moov (moof mdat)*) into init.mp4 and
 * segment_%05d.m4s, starting a segment at the first fragment that decodes
 * at or after each of @starts (seconds, minus @tolerance). The fragments
 * keep their continuous decode times, which is what MSE players place them
 * by. @segments gets the sizes and start times (duration_s holds the start
 * until the caller knows the end). */
static gboolean
split_fmp4 (const gchar *path, const gchar *dir, const GArray *starts, gdouble tolerance,
            GPtrArray *segments, GArray *seg_starts, GError **error)
{
  static const gchar *mdhd_path[] = { "moov", "trak", "mdia", "mdhd", NULL };
  static const gchar *tfdt_path[] = { "traf", "tfdt", NULL };
  g_autofree gchar *contents = NULL;
  const guint8 *data, *end, *p, *mdhd, *seg_begin = NULL;
  gsize size = 0, psize = 0;
  guint32 timescale;
  guint next = 1;
  gsize init_end = 0;

  if (!g_file_get_contents (path, &contents, &size, error)) {
    g_prefix_error (error, "cannot read the fragmented MP4: ");
    return FALSE;
  }
  data = (const guint8 *) contents;
  end = data + size;
  mdhd = find_path (data, size, mdhd_path, &psize);
  if (mdhd == NULL || psize < 24) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_FAILED, "%s has no media header", path);
    return FALSE;
  }
  timescale = mdhd[0] == 1 ? read_u32 (mdhd + 20) : read_u32 (mdhd + 12);
  if (timescale == 0) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_FAILED, "%s has a zero timescale", path);
    return FALSE;
  }

  for (p = data; p + 8 <= end;) {
    guint64 box = read_u32 (p);

    if (box < 8 || box > (guint64) (end - p)) {
      g_set_error (error, WE_ERROR, WE_ERROR_JOB_FAILED, "%s is cut off", path);
      return FALSE;
    }
    if (memcmp (p + 4, "moof", 4) == 0) {
      const guint8 *tfdt;
      gdouble t;

      if (init_end == 0) {
        init_end = p - data;
        if (!write_piece (dir, "init.mp4", data, init_end, error))
          return FALSE;
      }
      tfdt = find_path (p + 8, box - 8, tfdt_path, &psize);
      if (tfdt == NULL || psize < 8) {
        g_set_error (error, WE_ERROR, WE_ERROR_JOB_FAILED, "%s: fragment without tfdt", path);
        return FALSE;
      }
      t = (tfdt[0] == 1 ? (gdouble) read_u64 (tfdt + 4) : (gdouble) read_u32 (tfdt + 4)) / timescale;
      if (seg_begin == NULL || (next < starts->len &&
                                t >= g_array_index (starts, gdouble, next) - tolerance)) {
        if (seg_begin != NULL) {
          WeGstHlsSegment *seg = g_ptr_array_index (segments, segments->len - 1);

          seg->size_bytes = p - seg_begin;
          if (!write_piece (dir, seg->uri, seg_begin, seg->size_bytes, error))
            return FALSE;
          next++;
        }
        seg_begin = p;
        {
          WeGstHlsSegment *seg = g_new0 (WeGstHlsSegment, 1);

          seg->uri = g_strdup_printf ("segment_%05u.m4s", segments->len);
          g_ptr_array_add (segments, seg);
          g_array_append_val (seg_starts, t);
        }
      }
    } else if (memcmp (p + 4, "mfra", 4) == 0) {
      break;
    }
    p += box;
  }
  if (seg_begin == NULL) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_FAILED, "%s holds no fragment", path);
    return FALSE;
  }
  {
    WeGstHlsSegment *seg = g_ptr_array_index (segments, segments->len - 1);

    seg->size_bytes = p - seg_begin;
    if (!write_piece (dir, seg->uri, seg_begin, seg->size_bytes, error))
      return FALSE;
  }
  g_unlink (path);
  return TRUE;
}

/* The rung's segment starts: its first keyframe at or after each boundary
 * the boundary probe cut at. */
static GArray *
rung_segment_starts (LadderJob *job, Rung *r)
{
  GArray *starts = g_array_new (FALSE, FALSE, sizeof (GstClockTime));
  guint k = 0;

  for (guint b = 0; b < job->boundaries->len; b++) {
    GstClockTime want = g_array_index (job->boundaries, GstClockTime, b);

    want = b == 0 ? 0 : want - job->seg_ns / 2;
    while (k < r->keyframes->len && g_array_index (r->keyframes, GstClockTime, k) < want)
      k++;
    if (k >= r->keyframes->len)
      break;
    if (starts->len == 0 ||
        g_array_index (starts, GstClockTime, starts->len - 1) != g_array_index (r->keyframes, GstClockTime, k))
      g_array_append_val (starts, g_array_index (r->keyframes, GstClockTime, k));
  }
  return starts;
}

static gboolean
package_ts (LadderJob *job, Rung *r, const GArray *starts, GError **error)
{
  r->ts_segments = g_ptr_array_new_with_free_func ((GDestroyNotify) we_gst_hls_segment_free);
  for (guint i = 0; i < starts->len; i++) {
    WeGstHlsSegment *seg = g_new0 (WeGstHlsSegment, 1);
    g_autofree gchar *path = NULL;
    GStatBuf st;
    GstClockTime a = g_array_index (starts, GstClockTime, i);
    GstClockTime b = i + 1 < starts->len ? g_array_index (starts, GstClockTime, i + 1) : r->end;

    seg->uri = g_strdup_printf ("segment_%05u.ts", i);
    seg->duration_s = (gdouble) (b - a) / GST_SECOND;
    g_ptr_array_add (r->ts_segments, seg);
    path = g_build_filename (r->dir, seg->uri, NULL);
    if (g_stat (path, &st) != 0) {
      g_set_error (error, WE_ERROR, WE_ERROR_JOB_FAILED,
                   "rung %s: segment %s is missing; segments are not aligned", r->rung->name,
                   seg->uri);
      return FALSE;
    }
    seg->size_bytes = st.st_size;
  }
  {
    /* one more file means the segmenter cut where the keyframes say it did not */
    g_autofree gchar *extra = g_strdup_printf ("%s/segment_%05u.ts", r->dir, starts->len);

    if (g_file_test (extra, G_FILE_TEST_EXISTS)) {
      g_set_error (error, WE_ERROR, WE_ERROR_JOB_FAILED,
                   "rung %s: more segments than forced keyframes", r->rung->name);
      return FALSE;
    }
  }
  return TRUE;
}

static gboolean
package_fmp4_video (LadderJob *job, Rung *r, const GArray *starts, GError **error)
{
  g_autoptr(GArray) starts_s = g_array_new (FALSE, FALSE, sizeof (gdouble));
  g_autoptr(GArray) found = g_array_new (FALSE, FALSE, sizeof (gdouble));
  GstClockTime first = g_array_index (starts, GstClockTime, 0);

  for (guint i = 0; i < starts->len; i++) {
    gdouble s = (gdouble) (g_array_index (starts, GstClockTime, i) - first) / GST_SECOND;

    g_array_append_val (starts_s, s);
  }
  r->fmp4_segments = g_ptr_array_new_with_free_func ((GDestroyNotify) we_gst_hls_segment_free);
  /* mp4mux closes a video fragment at every keyframe and only forced ones
   * exist; decode times sit before them by the B-frame delay */
  if (!split_fmp4 (r->fmp4_path, r->dir, starts_s, job->seg_ns / 2.0 / GST_SECOND,
                   r->fmp4_segments, found, error))
    return FALSE;
  if (r->fmp4_segments->len != starts->len) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_FAILED,
                 "rung %s: %u fMP4 segments for %u forced keyframes", r->rung->name,
                 r->fmp4_segments->len, starts->len);
    return FALSE;
  }
  for (guint i = 0; i < starts->len; i++) {
    WeGstHlsSegment *seg = g_ptr_array_index (r->fmp4_segments, i);
    GstClockTime a = g_array_index (starts, GstClockTime, i);
    GstClockTime b = i + 1 < starts->len ? g_array_index (starts, GstClockTime, i + 1) : r->end;

    seg->duration_s = (gdouble) (b - a) / GST_SECOND;
  }
  return TRUE;
}

static gboolean
write_text (const gchar *dir, const gchar *name, const gchar *text, GError **error)
{
  g_autofree gchar *path = g_build_filename (dir, name, NULL);

  if (!g_file_set_contents (path, text, -1, error)) {
    g_prefix_error (error, "cannot write %s: ", name);
    return FALSE;
  }
  return TRUE;
}

static gchar *
rung_codec (Rung *r)
{
  g_autofree gchar *from_caps = r->caps != NULL ? gst_codec_utils_caps_get_mime_codec (r->caps) : NULL;

  /* caps carry the profile only with codec_data (avc); the SPS always does */
  if (from_caps != NULL && strchr (from_caps, '.') != NULL)
    return g_steal_pointer (&from_caps);
  if (r->sps_codec != NULL)
    return g_strdup (r->sps_codec);
  return g_steal_pointer (&from_caps);
}

static WeGstLadderResult *
package (LadderJob *job, GError **error)
{
  g_autoptr(WeGstLadderResult) result = g_new0 (WeGstLadderResult, 1);
  g_autoptr(GPtrArray) variants = g_ptr_array_new_with_free_func ((GDestroyNotify) we_gst_hls_variant_free);
  g_autoptr(GPtrArray) dash_video = g_ptr_array_new_with_free_func ((GDestroyNotify) we_gst_dash_representation_free);
  g_autoptr(WeGstDashRepresentation) dash_audio = NULL;
  g_autoptr(GPtrArray) audio_segments = NULL;
  g_autofree gchar *audio_codec = NULL;
  guint64 audio_peak = 0, audio_avg = 0;
  guint count = 0;
  gdouble duration = 0;

  result->output_dir = g_strdup (job->out_dir);
  result->renditions = g_ptr_array_new_with_free_func ((GDestroyNotify) rendition_free);
  result->dropped = g_strdupv (job->dropped);
  if (job->audio_caps != NULL)
    audio_codec = gst_codec_utils_caps_get_mime_codec (job->audio_caps);

  for (guint i = 0; i < job->rungs->len; i++) {
    Rung *r = g_ptr_array_index (job->rungs, i);
    g_autoptr(GArray) starts = rung_segment_starts (job, r);
    WeGstLadderRendition *out;
    GPtrArray *hls_segments;
    guint64 peak, avg;

    if (starts->len == 0 || !GST_CLOCK_TIME_IS_VALID (r->end)) {
      g_set_error (error, WE_ERROR, WE_ERROR_JOB_UNSUPPORTED_SOURCE,
                   "rung %s: the source yielded no video frames", r->rung->name);
      return NULL;
    }
    if (i == 0) {
      count = starts->len;
      duration = (gdouble) (r->end - g_array_index (starts, GstClockTime, 0)) / GST_SECOND;
    } else if (starts->len != count) {
      g_set_error (error, WE_ERROR, WE_ERROR_JOB_FAILED,
                   "rung %s has %u segments where the first rung has %u", r->rung->name,
                   starts->len, count);
      return NULL;
    }
    if (job->want_ts && !package_ts (job, r, starts, error))
      return NULL;
    if (job->want_fmp4 && !package_fmp4_video (job, r, starts, error))
      return NULL;
    r->codecs = rung_codec (r);

    out = g_new0 (WeGstLadderRendition, 1);
    out->name = g_strdup (r->rung->name);
    out->width = r->rung->width;
    out->height = r->rung->height;
    out->segment_count = starts->len;
    g_ptr_array_add (result->renditions, out);

    /* HLS uses TS when asked for, else the fMP4 shared with DASH */
    hls_segments = job->want_ts ? r->ts_segments : r->fmp4_segments;
    we_gst_hls_segments_bandwidth (hls_segments, &peak, &avg);
    out->bandwidth = peak;
    out->average_bandwidth = avg;
    out->codecs = audio_codec != NULL && (job->want_ts || !job->profile->hls.enabled)
                    ? g_strdup_printf ("%s,%s", r->codecs, audio_codec)
                    : g_strdup (r->codecs);

    if (job->profile->hls.enabled) {
      g_autofree gchar *media = we_gst_hls_media_playlist (hls_segments,
                                                           job->want_ts ? NULL : "init.mp4");
      WeGstHlsVariant *v = g_new0 (WeGstHlsVariant, 1);

      if (!write_text (r->dir, "index.m3u8", media, error)) {
        we_gst_hls_variant_free (v);
        return NULL;
      }
      out->playlist = g_build_filename (r->rung->name, "index.m3u8", NULL);
      v->name = g_strdup (r->rung->name);
      v->uri = g_strdup (out->playlist);
      v->width = r->rung->width;
      v->height = r->rung->height;
      v->frame_rate = job->fps;
      v->bandwidth = peak;
      v->average_bandwidth = avg;
      v->codecs = g_strdup (out->codecs);
      g_ptr_array_add (variants, v);
    }
    if (job->want_fmp4) {
      WeGstDashRepresentation *rep = g_new0 (WeGstDashRepresentation, 1);
      guint64 vpeak, vavg;

      we_gst_hls_segments_bandwidth (r->fmp4_segments, &vpeak, &vavg);
      rep->id = g_strdup (r->rung->name);
      rep->mime_type = g_strdup ("video/mp4");
      rep->codecs = g_strdup (r->codecs);
      rep->width = r->rung->width;
      rep->height = r->rung->height;
      rep->frame_rate = job->fps;
      rep->bandwidth = vpeak;
      rep->init_uri = g_build_filename (r->rung->name, "init.mp4", NULL);
      rep->segments = g_ptr_array_new_with_free_func ((GDestroyNotify) we_gst_hls_segment_free);
      for (guint j = 0; j < r->fmp4_segments->len; j++) {
        const WeGstHlsSegment *s = g_ptr_array_index (r->fmp4_segments, j);
        WeGstHlsSegment *copy = g_new0 (WeGstHlsSegment, 1);

        copy->uri = g_build_filename (r->rung->name, s->uri, NULL);
        copy->duration_s = s->duration_s;
        copy->size_bytes = s->size_bytes;
        g_ptr_array_add (rep->segments, copy);
      }
      g_ptr_array_add (dash_video, rep);
    }
  }
  result->segment_count = count;
  result->duration_s = duration;
  result->audio_codecs = g_strdup (audio_codec);

  if (job->want_fmp4 && job->audio_fmp4_path != NULL) {
    Rung *top = g_ptr_array_index (job->rungs, 0);
    g_autoptr(GArray) starts = rung_segment_starts (job, top);
    g_autoptr(GArray) starts_s = g_array_new (FALSE, FALSE, sizeof (gdouble));
    g_autoptr(GArray) found = g_array_new (FALSE, FALSE, sizeof (gdouble));
    gdouble audio_total = GST_CLOCK_TIME_IS_VALID (job->audio_end)
                            ? (gdouble) job->audio_end / GST_SECOND : duration;

    for (guint i = 0; i < starts->len; i++) {
      gdouble s = (gdouble) (g_array_index (starts, GstClockTime, i) -
                             g_array_index (starts, GstClockTime, 0)) / GST_SECOND;

      g_array_append_val (starts_s, s);
    }
    audio_segments = g_ptr_array_new_with_free_func ((GDestroyNotify) we_gst_hls_segment_free);
    /* audio fragments are AUDIO_FRAGMENT_MS long: a segment takes the
     * first one that starts at or past the video boundary */
    if (!split_fmp4 (job->audio_fmp4_path, job->audio_dir, starts_s, 0.001, audio_segments,
                     found, error))
      return NULL;
    for (guint i = 0; i < audio_segments->len; i++) {
      WeGstHlsSegment *seg = g_ptr_array_index (audio_segments, i);
      gdouble a = g_array_index (found, gdouble, i);
      gdouble b = i + 1 < found->len ? g_array_index (found, gdouble, i + 1) : audio_total;

      seg->duration_s = MAX (b - a, 0.001);
    }
    we_gst_hls_segments_bandwidth (audio_segments, &audio_peak, &audio_avg);
  }

  if (job->want_fmp4 && job->profile->hls.enabled) {
    /* the audio rendition counts towards every variant's bandwidth */
    for (guint i = 0; i < variants->len; i++) {
      WeGstHlsVariant *v = g_ptr_array_index (variants, i);
      WeGstLadderRendition *out = g_ptr_array_index (result->renditions, i);

      v->bandwidth += audio_peak;
      v->average_bandwidth += audio_avg;
      if (audio_codec != NULL) {
        g_free (v->codecs);
        v->codecs = g_strdup_printf ("%s,%s", ((Rung *) g_ptr_array_index (job->rungs, i))->codecs,
                                     audio_codec);
        g_free (out->codecs);
        out->codecs = g_strdup (v->codecs);
      }
      out->bandwidth = v->bandwidth;
      out->average_bandwidth = v->average_bandwidth;
    }
    if (audio_segments != NULL) {
      g_autofree gchar *media = we_gst_hls_media_playlist (audio_segments, "init.mp4");

      if (!write_text (job->audio_dir, "index.m3u8", media, error))
        return NULL;
    }
  }

  if (job->profile->hls.enabled) {
    WeGstHlsAudio group = { "audio", "audio", "audio/index.m3u8" };
    g_autofree gchar *master = we_gst_hls_master_playlist (
      variants, job->want_fmp4 && audio_segments != NULL ? &group : NULL);

    if (!write_text (job->out_dir, "master.m3u8", master, error))
      return NULL;
    result->master_playlist = g_strdup ("master.m3u8");
  }
  if (job->profile->dash.enabled) {
    g_autofree gchar *mpd = NULL;

    if (audio_segments != NULL) {
      dash_audio = g_new0 (WeGstDashRepresentation, 1);
      dash_audio->id = g_strdup ("audio");
      dash_audio->mime_type = g_strdup ("audio/mp4");
      dash_audio->codecs = g_strdup (audio_codec);
      dash_audio->sample_rate = job->profile->audio_sample_rate > 0 ? job->profile->audio_sample_rate : 48000;
      dash_audio->bandwidth = audio_peak;
      dash_audio->init_uri = g_strdup ("audio/init.mp4");
      dash_audio->segments = g_ptr_array_new_with_free_func ((GDestroyNotify) we_gst_hls_segment_free);
      for (guint j = 0; j < audio_segments->len; j++) {
        const WeGstHlsSegment *s = g_ptr_array_index (audio_segments, j);
        WeGstHlsSegment *copy = g_new0 (WeGstHlsSegment, 1);

        copy->uri = g_build_filename ("audio", s->uri, NULL);
        copy->duration_s = s->duration_s;
        g_ptr_array_add (dash_audio->segments, copy);
      }
    }
    mpd = we_gst_dash_mpd (dash_video, dash_audio, duration);
    if (!write_text (job->out_dir, "manifest.mpd", mpd, error))
      return NULL;
    result->dash_manifest = g_strdup ("manifest.mpd");
  }
  return g_steal_pointer (&result);
}

/* ---- pipeline ------------------------------------------------------------- */

static gboolean
bus_cb (GstBus *bus, GstMessage *msg, gpointer user_data)
{
  GTask *task = G_TASK (user_data);
  LadderJob *job = g_task_get_task_data (task);

  if (job->done)
    return G_SOURCE_REMOVE;
  switch (GST_MESSAGE_TYPE (msg)) {
  case GST_MESSAGE_ERROR:
    ladder_complete (task, NULL, we_gst_error_from_message (msg, job->decodebin));
    return G_SOURCE_REMOVE;
  case GST_MESSAGE_EOS: {
    GError *error = NULL;
    WeGstLadderResult *result;

    /* every muxer has finished its files: stop before reading them */
    gst_element_set_state (job->pipeline, GST_STATE_NULL);
    result = package (job, &error);
    ladder_complete (task, result, error);
    return G_SOURCE_REMOVE;
  }
  case GST_MESSAGE_APPLICATION: {
    const GstStructure *s = gst_message_get_structure (msg);

    if (gst_structure_has_name (s, "we-link-failed")) {
      ladder_complete (task, NULL, g_error_new (WE_ERROR, WE_ERROR_JOB_FAILED,
                                                "cannot link the source's %s stream",
                                                gst_structure_get_string (s, "detail")));
      return G_SOURCE_REMOVE;
    }
    if (gst_structure_has_name (s, "we-pads-done") && !job->video_linked) {
      ladder_complete (task, NULL, g_error_new_literal (WE_ERROR, WE_ERROR_JOB_UNSUPPORTED_SOURCE,
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

static GstElement *
add_element (LadderJob *job, const gchar *factory, const gchar *name, GError **error)
{
  GstElement *e = gst_element_factory_make (factory, name);

  if (e == NULL) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_FAILED,
                 "GStreamer element '%s' is not installed", factory);
    return NULL;
  }
  gst_bin_add (GST_BIN (job->pipeline), e);
  return e;
}

static GstElement *
add_caps (LadderJob *job, const gchar *caps_str)
{
  GstElement *e = gst_element_factory_make ("capsfilter", NULL);
  g_autoptr(GstCaps) caps = gst_caps_from_string (caps_str);

  g_object_set (e, "caps", caps, NULL);
  gst_bin_add (GST_BIN (job->pipeline), e);
  return e;
}

static gboolean
link_many (GError **error, GstElement *first, ...)
{
  va_list args;
  GstElement *prev = first;
  GstElement *next;
  gboolean ok = TRUE;

  va_start (args, first);
  while (ok && (next = va_arg (args, GstElement *)) != NULL) {
    if (!gst_element_link (prev, next)) {
      g_set_error (error, WE_ERROR, WE_ERROR_JOB_FAILED, "cannot link %s to %s",
                   GST_ELEMENT_NAME (prev), GST_ELEMENT_NAME (next));
      ok = FALSE;
    }
    prev = next;
  }
  va_end (args);
  return ok;
}

/* A fragmented MP4 writer for one track, into @path. */
static GstElement *
add_fmp4_writer (LadderJob *job, GstElement *tee, const gchar *parser, const gchar *path,
                 guint fragment_ms, gboolean video, GError **error)
{
  GstElement *queue, *parse, *mux, *sink;
  g_autoptr(GstPad) muxpad = NULL;
  g_autoptr(GstPad) srcpad = NULL;

  if ((queue = add_element (job, "queue", NULL, error)) == NULL ||
      (parse = add_element (job, parser, NULL, error)) == NULL ||
      (mux = add_element (job, "mp4mux", NULL, error)) == NULL ||
      (sink = add_element (job, "filesink", NULL, error)) == NULL)
    return NULL;
  /* streamable: fragments only, no index rewritten at the end */
  g_object_set (mux, "fragment-duration", fragment_ms, "streamable", TRUE, NULL);
  g_object_set (sink, "location", path, NULL);
  if (!link_many (error, tee, queue, parse, NULL))
    return NULL;
  srcpad = gst_element_get_static_pad (parse, "src");
  muxpad = gst_element_request_pad_simple (mux, video ? "video_%u" : "audio_%u");
  if (muxpad == NULL || gst_pad_link (srcpad, muxpad) != GST_PAD_LINK_OK ||
      !gst_element_link (mux, sink)) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_FAILED, "cannot link the fMP4 writer for %s", path);
    return NULL;
  }
  return mux;
}

static gboolean
make_dir (const gchar *dir, GError **error)
{
  if (g_mkdir_with_parents (dir, 0755) != 0) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_FAILED, "cannot create %s: %s", dir,
                 g_strerror (errno));
    return FALSE;
  }
  return TRUE;
}

static gboolean
build_rung (LadderJob *job, Rung *r, GstElement *vtee, GstElement *atee,
            const WeGstEncoderChoice *choice, GError **error)
{
  g_autoptr(WeProfile) p = we_profile_copy (job->profile);
  g_autoptr(WeGstElementSpec) spec = NULL;
  g_autofree gchar *vcaps = NULL;
  g_autofree gchar *enc_name = g_strdup_printf ("venc_%s", r->rung->name);
  const gchar *out_caps;
  GstElement *queue, *scale, *caps, *enc, *rtee, *tail;
  g_autoptr(GstPad) enc_src = NULL;

  if (!make_dir (r->dir, error))
    return FALSE;
  /* the rung's numbers in the profile shape we-gst-encoders reads; the
   * buffer is two seconds of the target, as spec §9.4.1's bufsize */
  p->width = r->rung->width;
  p->height = r->rung->height;
  p->video_bitrate_kbps = r->rung->video_bitrate_kbps;
  p->max_bitrate_kbps = r->rung->max_bitrate_kbps;
  p->buffer_kbps = r->rung->video_bitrate_kbps * 2;
  /* longer than a segment, so the only keyframes are the forced ones */
  p->keyframe_interval_s = (gint) ceil (job->seg_ns * 2.0 / GST_SECOND);
  spec = we_gst_element_spec_new (choice->factory, enc_name);
  we_gst_video_encoder_configure (spec, choice, p, job->fps, job->options.threads);
  /* a scene cut would be a keyframe in one rung and not another */
  if (g_strcmp0 (choice->factory, "x264enc") == 0 || g_strcmp0 (choice->factory, "x265enc") == 0)
    we_gst_element_spec_set_if (spec, "option-string", "scenecut=0");

  if ((queue = add_element (job, "queue", NULL, error)) == NULL ||
      (scale = add_element (job, "videoscale", NULL, error)) == NULL)
    return FALSE;
  /* a rung frame waits for the slowest encoder: room for its lookahead */
  g_object_set (queue, "max-size-buffers", 0, "max-size-bytes", 0,
                "max-size-time", 2 * GST_SECOND, NULL);
  vcaps = g_strdup_printf ("video/x-raw,format=I420,width=%d,height=%d,pixel-aspect-ratio=1/1",
                           r->rung->width, r->rung->height);
  caps = add_caps (job, vcaps);
  enc = we_gst_element_spec_make (spec, error);
  if (enc == NULL)
    return FALSE;
  gst_bin_add (GST_BIN (job->pipeline), enc);
  tail = enc;
  out_caps = we_gst_video_encoder_output_caps (choice, p);
  if (!link_many (error, vtee, queue, scale, caps, enc, NULL))
    return FALSE;
  if (out_caps != NULL) {
    tail = add_caps (job, out_caps);
    if (!link_many (error, enc, tail, NULL))
      return FALSE;
  }
  enc_src = gst_element_get_static_pad (tail, "src");
  g_object_set_data (G_OBJECT (enc_src), "we-ladder-job", job);
  gst_pad_add_probe (enc_src, GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM,
                     rung_output_probe, r, NULL);
  if ((rtee = add_element (job, "tee", NULL, error)) == NULL || !link_many (error, tail, rtee, NULL))
    return FALSE;

  if (job->want_ts) {
    GstElement *q, *parse, *tsmux;
    g_autofree gchar *location = g_build_filename (r->dir, "segment_%05d.ts", NULL);
    g_autoptr(GstPad) vpad = NULL;
    g_autoptr(GstPad) psrc = NULL;

    if ((q = add_element (job, "queue", NULL, error)) == NULL ||
        (parse = add_element (job, "h264parse", NULL, error)) == NULL ||
        (r->splitmux = add_element (job, "splitmuxsink", NULL, error)) == NULL)
      return FALSE;
    tsmux = gst_element_factory_make ("mpegtsmux", NULL);
    if (tsmux == NULL) {
      g_set_error_literal (error, WE_ERROR, WE_ERROR_JOB_FAILED,
                           "GStreamer element 'mpegtsmux' is not installed");
      return FALSE;
    }
    /* cuts only where the boundary probe asks (split-at-running-time) */
    /* SPS/PPS before every keyframe: each segment decodes on its own */
    g_object_set (parse, "config-interval", -1, NULL);
    g_object_set (r->splitmux, "muxer", tsmux, "location", location, "max-size-time",
                  (guint64) 0, "max-size-bytes", (guint64) 0, NULL);
    if (!link_many (error, rtee, q, parse, NULL))
      return FALSE;
    vpad = gst_element_request_pad_simple (r->splitmux, "video");
    psrc = gst_element_get_static_pad (parse, "src");
    if (vpad == NULL || gst_pad_link (psrc, vpad) != GST_PAD_LINK_OK) {
      g_set_error (error, WE_ERROR, WE_ERROR_JOB_FAILED, "cannot link rung %s to its segmenter",
                   r->rung->name);
      return FALSE;
    }
    if (atee != NULL) {
      GstElement *aq, *aparse;
      g_autoptr(GstPad) apad = NULL;
      g_autoptr(GstPad) asrc = NULL;

      /* TS: the one AAC encode is muxed into every rung, like the spec
       * command's var_stream_map "v:0,a:0 v:1,a:1 …": each variant plays
       * alone, and hls.js switches rungs without an audio group */
      if ((aq = add_element (job, "queue", NULL, error)) == NULL ||
          (aparse = add_element (job, "aacparse", NULL, error)) == NULL)
        return FALSE;
      g_object_set (aq, "max-size-buffers", 0, "max-size-bytes", 0,
                    "max-size-time", 10 * GST_SECOND, NULL);
      if (!link_many (error, atee, aq, aparse, NULL))
        return FALSE;
      apad = gst_element_request_pad_simple (r->splitmux, "audio_%u");
      asrc = gst_element_get_static_pad (aparse, "src");
      if (apad == NULL || gst_pad_link (asrc, apad) != GST_PAD_LINK_OK) {
        g_set_error (error, WE_ERROR, WE_ERROR_JOB_FAILED,
                     "cannot link audio to rung %s", r->rung->name);
        return FALSE;
      }
    }
  }
  if (job->want_fmp4) {
    r->fmp4_path = g_build_filename (r->dir, "stream.mp4", NULL);
    /* twice the segment: mp4mux then closes fragments at keyframes only */
    if (add_fmp4_writer (job, rtee, "h264parse", r->fmp4_path,
                         (guint) (job->seg_ns * 2 / GST_MSECOND), TRUE, error) == NULL)
      return FALSE;
  }
  return TRUE;
}

static gboolean
build_pipeline (LadderJob *job, gboolean has_audio, GError **error)
{
  WeGstEncoderChoice vchoice, achoice;
  GstElement *convert, *vcaps, *vtee, *atee = NULL;
  g_autoptr(GstPad) tee_sink = NULL;
  g_autoptr(GstBus) bus = NULL;

  if (!we_gst_video_encoder_choose (job->profile->video_codec,
                                    job->profile->prefer_hardware && job->options.allow_hardware,
                                    &vchoice)) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_FAILED, "no %s encoder is installed",
                 job->profile->video_codec);
    return FALSE;
  }
  job->pipeline = gst_object_ref_sink (gst_pipeline_new ("we-ladder"));
  if ((job->decodebin = add_element (job, "uridecodebin", "src", error)) == NULL)
    return FALSE;
  g_object_set (job->decodebin, "uri", job->uri, NULL);

  /* converted once to what the encoders take, scaled per rung */
  if ((job->video_head = add_element (job, "queue", NULL, error)) == NULL ||
      (convert = add_element (job, "videoconvert", NULL, error)) == NULL ||
      (vtee = add_element (job, "tee", "vtee", error)) == NULL)
    return FALSE;
  vcaps = add_caps (job, "video/x-raw,format=I420");
  if (!link_many (error, job->video_head, convert, vcaps, vtee, NULL))
    return FALSE;
  tee_sink = gst_element_get_static_pad (vtee, "sink");
  gst_pad_add_probe (tee_sink, GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM,
                     boundary_probe, job, NULL);

  if (has_audio) {
    GstElement *aq, *aconv, *ares, *acaps, *aenc;
    g_autoptr(WeGstElementSpec) spec = NULL;
    g_autofree gchar *caps_str = NULL;
    g_autoptr(GstPad) aenc_src = NULL;
    g_autoptr(WeProfile) p = we_profile_copy (job->profile);

    if (!we_gst_audio_encoder_choose ("aac", &achoice)) {
      g_set_error_literal (error, WE_ERROR, WE_ERROR_JOB_FAILED, "no AAC encoder is installed");
      return FALSE;
    }
    /* one encode for all rungs, at the best rung's audio rate */
    p->audio_bitrate_kbps = 0;
    for (guint i = 0; i < job->rungs->len; i++)
      p->audio_bitrate_kbps = MAX (p->audio_bitrate_kbps,
                                   ((Rung *) g_ptr_array_index (job->rungs, i))->rung->audio_bitrate_kbps);
    if (p->audio_bitrate_kbps <= 0)
      p->audio_bitrate_kbps = job->profile->audio_bitrate_kbps;
    spec = we_gst_element_spec_new (achoice.factory, "aenc");
    we_gst_audio_encoder_configure (spec, &achoice, p);
    caps_str = g_strdup_printf ("audio/x-raw,rate=%d,channels=%d",
                                p->audio_sample_rate > 0 ? p->audio_sample_rate : 48000,
                                p->audio_channels > 0 ? p->audio_channels : 2);
    if ((aq = add_element (job, "queue", NULL, error)) == NULL ||
        (aconv = add_element (job, "audioconvert", NULL, error)) == NULL ||
        (ares = add_element (job, "audioresample", NULL, error)) == NULL ||
        (aenc = we_gst_element_spec_make (spec, error)) == NULL)
      return FALSE;
    gst_bin_add (GST_BIN (job->pipeline), aenc);
    acaps = add_caps (job, caps_str);
    if ((atee = add_element (job, "tee", "atee", error)) == NULL ||
        !link_many (error, aq, aconv, ares, acaps, aenc, atee, NULL))
      return FALSE;
    aenc_src = gst_element_get_static_pad (aenc, "src");
    gst_pad_add_probe (aenc_src, GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM,
                       audio_output_probe, job, NULL);
    job->audio_head = aq;
  }

  for (guint i = 0; i < job->rungs->len; i++) {
    if (!build_rung (job, g_ptr_array_index (job->rungs, i), vtee, atee, &vchoice, error))
      return FALSE;
  }
  if (atee != NULL && job->want_fmp4) {
    job->audio_dir = g_build_filename (job->out_dir, "audio", NULL);
    job->audio_fmp4_path = g_build_filename (job->audio_dir, "stream.mp4", NULL);
    if (!make_dir (job->audio_dir, error) ||
        add_fmp4_writer (job, atee, "aacparse", job->audio_fmp4_path, AUDIO_FRAGMENT_MS, FALSE,
                         error) == NULL)
      return FALSE;
  }

  g_signal_connect (job->decodebin, "pad-added", G_CALLBACK (decodebin_pad_added), job);
  g_signal_connect (job->decodebin, "no-more-pads", G_CALLBACK (decodebin_no_more_pads), job);
  bus = gst_element_get_bus (job->pipeline);
  job->bus_source = gst_bus_create_watch (bus);
  return TRUE;
}

static void
probed_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(GTask) task = G_TASK (user_data);   /* the ref taken for the probe */
  LadderJob *job = g_task_get_task_data (task);
  g_autoptr(WeGstProbeResult) probe = NULL;
  g_autoptr(GPtrArray) planned = NULL;
  GError *error = NULL;

  probe = we_gst_probe_finish (res, &error);
  if (job->done) {
    g_clear_error (&error);
    return;
  }
  if (probe == NULL) {
    ladder_complete (task, NULL, error);
    return;
  }
  if (!probe->info->has_video || probe->info->width <= 0 || probe->info->height <= 0) {
    ladder_complete (task, NULL, g_error_new_literal (WE_ERROR, WE_ERROR_JOB_UNSUPPORTED_SOURCE,
                                                      "source has no video to make a ladder of"));
    return;
  }
  job->expected_s = probe->info->duration_s;
  if (probe->info->fps_n > 0 && probe->info->fps_d > 0)
    job->fps = (gdouble) probe->info->fps_n / probe->info->fps_d;
  planned = we_gst_ladder_plan_rungs (job->profile, probe->info->width, probe->info->height,
                                      probe->par_n, probe->par_d, &job->dropped);
  for (guint i = 0; job->dropped[i] != NULL; i++)
    g_message ("ladder: rung %s is above the %dx%d source; not encoded", job->dropped[i],
               probe->info->width, probe->info->height);
  job->rungs = g_ptr_array_new_with_free_func ((GDestroyNotify) rung_free);
  for (guint i = 0; i < planned->len; i++) {
    Rung *r = g_new0 (Rung, 1);

    r->rung = we_profile_rung_copy (g_ptr_array_index (planned, i));
    r->dir = g_build_filename (job->out_dir, r->rung->name, NULL);
    r->keyframes = g_array_new (FALSE, FALSE, sizeof (GstClockTime));
    r->end = GST_CLOCK_TIME_NONE;
    gst_segment_init (&r->segment, GST_FORMAT_UNDEFINED);
    g_ptr_array_add (job->rungs, r);
  }
  if (!build_pipeline (job, probe->info->has_audio && g_strcmp0 (job->profile->audio_codec, "none") != 0,
                       &error)) {
    ladder_complete (task, NULL, error);
    return;
  }
  g_source_set_callback (job->bus_source, (GSourceFunc) (GCallback) bus_cb, task, NULL);
  g_source_attach (job->bus_source, job->context);
  job->timer_source = g_timeout_source_new (PROGRESS_INTERVAL_MS);
  g_source_set_callback (job->timer_source, progress_timer_cb, job, NULL);
  g_source_attach (job->timer_source, job->context);
  job->started_us = g_get_monotonic_time ();
  if (gst_element_set_state (job->pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    g_autoptr(GstBus) bus = gst_element_get_bus (job->pipeline);
    g_autoptr(GstMessage) msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);

    ladder_complete (task, NULL, msg != NULL ? we_gst_error_from_message (msg, job->decodebin)
                                             : g_error_new (WE_ERROR, WE_ERROR_JOB_FAILED,
                                                            "pipeline failed to start"));
    return;
  }
  report_progress (job, FALSE);
}

void
we_gst_ladder_async (const gchar *input_uri, const WeProfile *profile, const gchar *output_dir,
                     const WeGstOptions *options, WeEncodeProgressFunc progress,
                     gpointer progress_data, GCancellable *cancellable,
                     GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new (NULL, cancellable, callback, user_data);
  LadderJob *job = g_new0 (LadderJob, 1);
  GError *error = NULL;

  g_task_set_source_tag (task, we_gst_ladder_async);
  g_mutex_init (&job->lock);
  job->context = g_main_context_ref_thread_default ();
  job->boundaries = g_array_new (FALSE, FALSE, sizeof (GstClockTime));
  job->position = GST_CLOCK_TIME_NONE;
  job->audio_end = GST_CLOCK_TIME_NONE;
  gst_segment_init (&job->in_segment, GST_FORMAT_UNDEFINED);
  gst_segment_init (&job->audio_segment, GST_FORMAT_UNDEFINED);
  if (options != NULL)
    job->options = *options;
  job->progress = progress;
  job->progress_data = progress_data;
  g_task_set_task_data (task, job, (GDestroyNotify) ladder_job_free);

  if (input_uri == NULL || profile == NULL || output_dir == NULL) {
    ladder_complete (task, NULL, g_error_new_literal (WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                                                      "a ladder needs a source, a profile and "
                                                      "an output directory"));
    return;
  }
  job->uri = g_strdup (input_uri);
  job->out_dir = g_strdup (output_dir);
  job->profile = we_profile_ref ((WeProfile *) profile);
  if (!we_profile_validate (profile, &error)) {
    ladder_complete (task, NULL, error);
    return;
  }
  if (profile->ladder == NULL || profile->ladder->len == 0 ||
      (!profile->hls.enabled && !profile->dash.enabled)) {
    ladder_complete (task, NULL, g_error_new (WE_ERROR, WE_ERROR_JOB_INVALID_PROFILE,
                                              "profile '%s' has no ladder with HLS or DASH "
                                              "packaging", profile->id));
    return;
  }
  if (g_strcmp0 (profile->video_codec, "h264") != 0 ||
      (g_strcmp0 (profile->audio_codec, "aac") != 0 && g_strcmp0 (profile->audio_codec, "none") != 0)) {
    /* TS takes nothing else, and the CODECS strings are written for these */
    ladder_complete (task, NULL, g_error_new (WE_ERROR, WE_ERROR_JOB_INVALID_PROFILE,
                                              "ladder packaging supports h264 video and aac "
                                              "audio (profile '%s' has %s/%s)", profile->id,
                                              profile->video_codec, profile->audio_codec));
    return;
  }
  if (g_strcmp0 (profile->hls.encryption, "none") != 0) {
    ladder_complete (task, NULL, g_error_new (WE_ERROR, WE_ERROR_JOB_INVALID_PROFILE,
                                              "hls.encryption \"%s\" is not supported by the "
                                              "ladder packager yet", profile->hls.encryption));
    return;
  }
  job->want_ts = profile->hls.enabled && g_strcmp0 (profile->hls.segment_type, "ts") == 0;
  job->want_fmp4 = profile->dash.enabled || !job->want_ts;
  /* one grid for both: DASH follows HLS when both are on */
  job->seg_ns = (GstClockTime) llround ((profile->hls.enabled ? profile->hls.segment_duration_s
                                                               : profile->dash.segment_duration_s) *
                                        GST_SECOND);
  if (!make_dir (output_dir, &error)) {
    ladder_complete (task, NULL, error);
    return;
  }
  if (cancellable != NULL) {
    if (g_cancellable_is_cancelled (cancellable)) {
      ladder_complete (task, NULL, g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED,
                                                        "ladder packaging was cancelled"));
      return;
    }
    job->cancel_source = g_cancellable_source_new (cancellable);
    g_source_set_callback (job->cancel_source, (GSourceFunc) (GCallback) cancelled_cb, task, NULL);
    g_source_attach (job->cancel_source, job->context);
  }
  we_gst_probe_async (NULL, job->uri, cancellable, probed_cb, g_object_ref (task));
}

WeGstLadderResult *
we_gst_ladder_finish (GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_async_result_is_tagged (result, we_gst_ladder_async), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}
