/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include "we-gst-introspect.h"
#include "we-gst-ladder.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <glib/gstdio.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gst/pbutils/pbutils.h>
#include <gst/tag/tag.h>
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
#define AES_BLOCK 16
/* a subtitle file is text for one film, not a way to fill the disk */
#define MAX_VTT_BYTES (64 * 1024 * 1024)

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

/* One encoded audio stream: muxed into every TS rung (the default), or a
 * rendition of its own (fMP4, and TS with keep_all_tracks). */
typedef struct {
  gchar         *name;          /* "audio", or "audio_<n>" with keep_all_tracks */
  gchar         *dir;
  GstElement    *head;          /* what the decoder's pad links to */
  GstElement    *tee;           /* encoded AAC */
  GstElement    *splitmux;      /* audio-only TS rendition, or NULL */
  gchar         *fmp4_path;     /* fMP4 rendition, or NULL */

  /* streaming side, under the job lock */
  gchar         *language;      /* from the stream's tags */
  GstSegment     segment;
  GstClockTime   first;         /* running time of the first and after the last buffer */
  GstClockTime   end;
  GstCaps       *caps;
  GArray        *opened;        /* GstClockTime: where each TS segment opened (bus) */
  gboolean       cuts_asked;

  /* filled when packaging */
  GPtrArray     *ts_segments;
  GPtrArray     *fmp4_segments;
  gchar         *codec;
} AudioTrack;

typedef struct {
  gchar *name;
  gchar *language;
  gchar *vtt_path;
} SubtitleIn;

typedef struct {
  GMainContext        *context;
  gchar               *uri;
  gchar               *out_dir;
  WeProfile           *profile;
  WeGstOptions         options;
  WeGstProgressReport  report;

  GSource             *cancel_source;
  GSource             *bus_source;
  GSource             *timer_source;
  GstElement          *pipeline;
  GstElement          *decodebin;
  GstElement          *video_head;
  GPtrArray           *rungs;       /* (element-type Rung) */
  GStrv                dropped;
  gboolean             want_ts;
  gboolean             want_fmp4;
  gboolean             want_audio;
  gboolean             all_audio;   /* keep_all_tracks: one rendition per stream */
  WeProfile           *audio_profile;  /* the one AAC setting every track is encoded with */
  WeGstEncoderChoice   audio_choice;
  GstBin              *build_bin;   /* where add_element puts elements; NULL: the pipeline */
  GMutex               build_lock;  /* pad-added builds audio tracks on streaming threads */
  gboolean             encrypt;
  guint8               key[AES_BLOCK];
  gchar               *key_uri;
  GPtrArray           *subtitles;   /* (element-type SubtitleIn) */
  gdouble              fps;
  GstClockTime         seg_ns;
  GPtrArray           *progress;    /* each rung's weprogress, after its encoder */
  gboolean             done;

  /* shared with streaming threads */
  GMutex               lock;
  gboolean             video_linked;
  guint                audio_pads;
  GPtrArray           *audio_tracks;  /* (element-type AudioTrack), grows in pad-added */
  GstSegment           in_segment;
  guint64              last_slot;
  gboolean             seen_frame;
  GArray              *boundaries;  /* GstClockTime: first frame of each segment */
  /* introspection */
  gchar               *task_id;
  WePipelineFunc       pipeline_func;
  gpointer             pipeline_data;
  gboolean             introspected;
} LadderJob;

/* ---- result --------------------------------------------------------------- */

static void
rendition_free (WeGstLadderRendition *r)
{
  g_free (r->name);
  g_free (r->language);
  g_free (r->codecs);
  g_free (r->playlist);
  g_free (r->init);
  g_free (r);
}

static void
subtitle_output_free (WeGstLadderSubtitleOutput *s)
{
  g_free (s->name);
  g_free (s->language);
  g_free (s->playlist);
  g_free (s->path);
  g_free (s);
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
  g_clear_pointer (&self->audio, g_ptr_array_unref);
  g_clear_pointer (&self->subtitles, g_ptr_array_unref);
  g_strfreev (self->dropped);
  g_free (self->audio_codecs);
  g_free (self);
}

static void
set_string_if (JsonObject *o, const gchar *member, const gchar *value)
{
  if (value != NULL)
    json_object_set_string_member (o, member, value);
}

static JsonObject *
rendition_to_json (const WeGstLadderRendition *r)
{
  JsonObject *o = json_object_new ();

  json_object_set_string_member (o, "type", "rendition");
  json_object_set_string_member (o, "kind", r->kind == WE_GST_LADDER_VIDEO ? "video" : "audio");
  json_object_set_string_member (o, "name", r->name);
  if (r->kind == WE_GST_LADDER_VIDEO) {
    json_object_set_int_member (o, "width", r->width);
    json_object_set_int_member (o, "height", r->height);
  } else {
    set_string_if (o, "language", r->language);
  }
  json_object_set_int_member (o, "bandwidth", (gint64) r->bandwidth);
  json_object_set_int_member (o, "average_bandwidth", (gint64) r->average_bandwidth);
  set_string_if (o, "codecs", r->codecs);
  set_string_if (o, "playlist", r->playlist);
  set_string_if (o, "init", r->init);
  json_object_set_int_member (o, "segment_count", r->segment_count);
  return o;
}

JsonObject *
we_gst_ladder_result_to_json (const WeGstLadderResult *self)
{
  JsonObject *obj = json_object_new ();
  JsonArray *outputs = json_array_new ();
  JsonArray *dropped = json_array_new ();

  json_object_set_double_member (obj, "duration_s", self->duration_s);
  json_object_set_int_member (obj, "segment_count", self->segment_count);
  json_object_set_boolean_member (obj, "encrypted", self->encrypted);
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
  for (guint i = 0; i < self->renditions->len; i++)
    json_array_add_object_element (outputs, rendition_to_json (g_ptr_array_index (self->renditions, i)));
  for (guint i = 0; self->audio != NULL && i < self->audio->len; i++)
    json_array_add_object_element (outputs, rendition_to_json (g_ptr_array_index (self->audio, i)));
  for (guint i = 0; self->subtitles != NULL && i < self->subtitles->len; i++) {
    const WeGstLadderSubtitleOutput *sub = g_ptr_array_index (self->subtitles, i);
    JsonObject *o = json_object_new ();

    json_object_set_string_member (o, "type", "subtitle");
    json_object_set_string_member (o, "name", sub->name);
    set_string_if (o, "language", sub->language);
    set_string_if (o, "playlist", sub->playlist);
    json_object_set_string_member (o, "path", sub->path);
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
audio_track_free (AudioTrack *t)
{
  g_free (t->name);
  g_free (t->dir);
  g_free (t->fmp4_path);
  g_free (t->language);
  g_clear_pointer (&t->caps, gst_caps_unref);
  g_clear_pointer (&t->opened, g_array_unref);
  g_clear_pointer (&t->ts_segments, g_ptr_array_unref);
  g_clear_pointer (&t->fmp4_segments, g_ptr_array_unref);
  g_free (t->codec);
  g_free (t);
}

static AudioTrack *
audio_track_new (LadderJob *job, const gchar *name)
{
  AudioTrack *t = g_new0 (AudioTrack, 1);

  t->name = g_strdup (name);
  t->dir = g_build_filename (job->out_dir, name, NULL);
  t->first = GST_CLOCK_TIME_NONE;
  t->end = GST_CLOCK_TIME_NONE;
  t->opened = g_array_new (FALSE, FALSE, sizeof (GstClockTime));
  gst_segment_init (&t->segment, GST_FORMAT_UNDEFINED);
  return t;
}

static void
subtitle_in_free (SubtitleIn *s)
{
  g_free (s->name);
  g_free (s->language);
  g_free (s->vtt_path);
  g_free (s);
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
  g_free (job->task_id);
  g_clear_pointer (&job->progress, g_ptr_array_unref);
  g_clear_pointer (&job->pipeline, gst_object_unref);
  g_clear_pointer (&job->rungs, g_ptr_array_unref);
  g_clear_pointer (&job->audio_tracks, g_ptr_array_unref);
  g_clear_pointer (&job->subtitles, g_ptr_array_unref);
  g_clear_pointer (&job->boundaries, g_array_unref);
  g_clear_pointer (&job->profile, we_profile_unref);
  g_clear_pointer (&job->audio_profile, we_profile_unref);
  g_clear_pointer (&job->context, g_main_context_unref);
  g_strfreev (job->dropped);
  g_free (job->uri);
  g_free (job->out_dir);
  g_free (job->key_uri);
  memset (job->key, 0, sizeof (job->key));
  g_mutex_clear (&job->lock);
  g_mutex_clear (&job->build_lock);
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

  g_autofree gchar *subs = g_build_filename (job->out_dir, "subs", NULL);

  for (guint i = 0; job->rungs != NULL && i < job->rungs->len; i++)
    remove_dir_files (((Rung *) g_ptr_array_index (job->rungs, i))->dir);
  g_mutex_lock (&job->lock);
  for (guint i = 0; job->audio_tracks != NULL && i < job->audio_tracks->len; i++)
    remove_dir_files (((AudioTrack *) g_ptr_array_index (job->audio_tracks, i))->dir);
  g_mutex_unlock (&job->lock);
  for (guint i = 0; job->subtitles != NULL && i < job->subtitles->len; i++) {
    g_autofree gchar *dir = g_build_filename (subs, ((SubtitleIn *) g_ptr_array_index (job->subtitles, i))->name,
                                              NULL);

    remove_dir_files (dir);
  }
  g_rmdir (subs);
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
  we_gst_progress_report_elements (&job->report, job->progress, final);
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
    g_mutex_lock (&job->lock);
    we_gst_event_keep_stream (GST_PAD_PROBE_INFO_EVENT (info), &job->in_segment, NULL);
    g_mutex_unlock (&job->lock);
    return GST_PAD_PROBE_OK;
  }
  buf = GST_PAD_PROBE_INFO_BUFFER (info);
  g_mutex_lock (&job->lock);
  rt = running_time (&job->in_segment, GST_BUFFER_PTS (buf));
  if (GST_CLOCK_TIME_IS_VALID (rt)) {
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
    we_gst_event_keep_stream (GST_PAD_PROBE_INFO_EVENT (info), &r->segment, &r->caps);
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

/* On each audio encoder's output: where the track starts and ends, and
 * what it is (for CODECS). */
static GstPadProbeReturn
audio_output_probe (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  LadderJob *job = g_object_get_data (G_OBJECT (pad), "we-ladder-job");
  AudioTrack *t = user_data;
  gboolean cut = FALSE;

  g_mutex_lock (&job->lock);
  if (info->type & GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM) {
    we_gst_event_keep_stream (GST_PAD_PROBE_INFO_EVENT (info), &t->segment, &t->caps);
  } else {
    GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER (info);
    GstClockTime rt = running_time (&t->segment, GST_BUFFER_PTS (buf));

    if (GST_CLOCK_TIME_IS_VALID (rt)) {
      GstClockTime end = rt + (GST_BUFFER_DURATION_IS_VALID (buf) ? GST_BUFFER_DURATION (buf) : 0);

      if (!GST_CLOCK_TIME_IS_VALID (t->first) || rt < t->first)
        t->first = rt;
      if (!GST_CLOCK_TIME_IS_VALID (t->end) || end > t->end)
        t->end = end;
    }
    if (t->splitmux != NULL && !t->cuts_asked) {
      t->cuts_asked = TRUE;
      cut = TRUE;
    }
  }
  g_mutex_unlock (&job->lock);

  /* An audio-only TS rendition: every AAC frame may start a segment, so
   * all cuts are asked for at once, once the segmenter runs (it forgets
   * them on a state change), on the grid the boundary probe cuts the video
   * on (slots of running time), whichever thread runs ahead. The bus says
   * where they fell. None at the very end: audio that outlasts the video
   * by a frame or two would make a segment of its own. */
  for (guint64 k = 1; cut && job->report.expected_s > 0 &&
                      k * job->seg_ns + job->seg_ns / 4 < job->report.expected_s * GST_SECOND; k++)
    g_signal_emit_by_name (t->splitmux, "split-at-running-time", (GstClockTime) (k * job->seg_ns));
  return GST_PAD_PROBE_OK;
}

/* A language tag as HLS LANGUAGE and DASH @lang take it (RFC 5646
 * characters), or NULL. */
static gchar *
sanitize_language (const gchar *code)
{
  gsize n = code != NULL ? strlen (code) : 0;

  if (n == 0 || n > 35 || strspn (code, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") != n)
    return NULL;
  return g_strdup (code);
}

/* Before the decoder's output reaches a track: the stream's language. */
static GstPadProbeReturn
audio_tag_probe (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  LadderJob *job = g_object_get_data (G_OBJECT (pad), "we-ladder-job");
  AudioTrack *t = user_data;
  GstEvent *event = GST_PAD_PROBE_INFO_EVENT (info);
  GstTagList *tags = NULL;
  g_autofree gchar *code = NULL;

  if (GST_EVENT_TYPE (event) != GST_EVENT_TAG)
    return GST_PAD_PROBE_OK;
  gst_event_parse_tag (event, &tags);
  if (gst_tag_list_get_string (tags, GST_TAG_LANGUAGE_CODE, &code)) {
    g_autofree gchar *lang = sanitize_language (code);

    g_mutex_lock (&job->lock);
    if (lang != NULL && t->language == NULL)
      t->language = g_steal_pointer (&lang);
    g_mutex_unlock (&job->lock);
  }
  return GST_PAD_PROBE_OK;
}

static gboolean build_audio_track (LadderJob *job, AudioTrack *t, GError **error);

/* keep_all_tracks: the audio stream @index gets its own encoder and
 * rendition, built in a bin of its own while the pipeline runs. */
static GstElement *
add_audio_track (LadderJob *job, guint index, GError **error)
{
  g_autofree gchar *name = g_strdup_printf ("audio_%u", index);
  g_autoptr(GstBin) bin = GST_BIN (g_object_ref_sink (gst_bin_new (name)));
  AudioTrack *t = audio_track_new (job, name);
  g_autoptr(GstPad) target = NULL;
  gboolean ok;

  g_mutex_lock (&job->build_lock);
  job->build_bin = bin;
  ok = build_audio_track (job, t, error);
  job->build_bin = NULL;
  g_mutex_unlock (&job->build_lock);
  g_mutex_lock (&job->lock);
  /* listed even when half built, so a failed job removes its directory */
  g_ptr_array_add (job->audio_tracks, t);
  g_mutex_unlock (&job->lock);
  if (!ok)
    return NULL;
  target = gst_element_get_static_pad (t->head, "sink");
  gst_element_add_pad (GST_ELEMENT (bin), gst_ghost_pad_new ("sink", target));
  gst_bin_add (GST_BIN (job->pipeline), GST_ELEMENT (bin));
  gst_element_sync_state_with_parent (GST_ELEMENT (bin));
  return GST_ELEMENT (bin);
}

static void
decodebin_pad_added (GstElement *decodebin, GstPad *pad, gpointer user_data)
{
  LadderJob *job = user_data;
  g_autoptr(GstCaps) caps = gst_pad_get_current_caps (pad);
  const gchar *name;
  GstElement *head = NULL;
  gboolean new_track = FALSE;
  guint index = 0;

  if (caps == NULL)
    caps = gst_pad_query_caps (pad, NULL);
  name = gst_caps_get_size (caps) > 0 ? gst_structure_get_name (gst_caps_get_structure (caps, 0)) : "";

  g_mutex_lock (&job->lock);
  /* the first stream of each kind, as ffmpeg's -map 0:v -map 0:a picks;
   * with keep_all_tracks every audio stream, in the order they come */
  if (g_str_has_prefix (name, "video/x-raw") && !job->video_linked) {
    head = job->video_head;
    job->video_linked = TRUE;
  } else if (g_str_has_prefix (name, "audio/x-raw") && job->want_audio) {
    if (!job->all_audio && job->audio_pads == 0) {
      head = ((AudioTrack *) g_ptr_array_index (job->audio_tracks, 0))->head;
    } else if (job->all_audio && job->audio_pads < WE_GST_LADDER_MAX_AUDIO_TRACKS) {
      new_track = TRUE;
      index = job->audio_pads;
    }
    job->audio_pads++;
  }
  g_mutex_unlock (&job->lock);

  if (new_track) {
    g_autoptr(GError) error = NULL;

    head = add_audio_track (job, index, &error);
    if (head == NULL) {
      we_gst_post_app_message (job->pipeline, "we-audio-failed", error->message);
      return;
    }
  }
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

static void
write_u32 (guint8 *p, guint32 v)
{
  p[0] = v >> 24;
  p[1] = v >> 16;
  p[2] = v >> 8;
  p[3] = v;
}

/* The trun sample fields present for @flags, in bytes per sample, and
 * where the composition offset sits among them (-1: absent). */
static gsize
trun_sample_layout (guint32 flags, gint *cto_at)
{
  gsize n = 0;

  *cto_at = -1;
  if (flags & 0x100)
    n += 4;
  if (flags & 0x200)
    n += 4;
  if (flags & 0x400)
    n += 4;
  if (flags & 0x800) {
    *cto_at = n;
    n += 4;
  }
  return n;
}

/* mp4mux writes fragments without an edit list: the decode times start at
 * 0, so with B-frames the first frame is presented at the reorder delay
 * (80 ms at 25 fps) while the audio starts at 0. Players place fragments
 * by these times, and MPD and playlists say the media starts at 0: hls.js
 * saw a hole at the start, dash.js missed the end by as much, and A/V were
 * out of sync by the delay. So each track's times are moved to where its
 * first sample really is, relative to the first video frame
 * (@first_pts, in the track's @timescale): video by negative composition
 * offsets (trun version 1, as CMAF writes them), a late track by its
 * decode times. */
static void
retime_fmp4 (guint8 *data, gsize size, guint32 timescale, gint64 first_pts)
{
  gint64 actual = -1, delta = 0;
  gboolean has_cto = FALSE;

  for (gint pass = 0; pass < 2; pass++) {
    guint8 *p = data, *end = data + size;

    while (p + 8 <= end) {
      guint64 box = read_u32 (p);
      guint8 *traf, *tend;

      if (box < 8 || box > (guint64) (end - p))
        return;
      if (memcmp (p + 4, "moof", 4) != 0) {
        p += box;
        continue;
      }
      for (traf = p + 8; traf + 8 <= p + box; traf += read_u32 (traf)) {
        guint64 tfdt = 0;
        guint8 *tfdt_box = NULL;

        if (read_u32 (traf) < 8 || read_u32 (traf) > (guint64) (p + box - traf))
          return;
        if (memcmp (traf + 4, "traf", 4) != 0)
          continue;
        tend = traf + read_u32 (traf);
        for (guint8 *c = traf + 8; c + 12 <= tend; c += read_u32 (c)) {
          guint32 csize = read_u32 (c);

          if (csize < 8 || csize > (guint64) (tend - c))
            return;
          if (memcmp (c + 4, "tfdt", 4) == 0 && csize >= 16) {
            tfdt_box = c;
            tfdt = c[8] == 1 && csize >= 20 ? read_u64 (c + 12) : read_u32 (c + 12);
            if (pass == 1 && delta > 0) {
              if (c[8] == 1) {
                write_u32 (c + 12, (tfdt + delta) >> 32);
                write_u32 (c + 16, (guint32) (tfdt + delta));
              } else {
                write_u32 (c + 12, (guint32) (tfdt + delta));
              }
            }
          } else if (memcmp (c + 4, "trun", 4) == 0 && csize >= 16) {
            guint32 flags = read_u32 (c + 8) & 0xffffff;
            guint32 count = read_u32 (c + 12);
            guint8 *q = c + 16 + ((flags & 0x1) ? 4 : 0) + ((flags & 0x4) ? 4 : 0);
            gint cto_at;
            gsize per = trun_sample_layout (flags, &cto_at);

            if (q + (gsize) count * per > c + csize)
              return;
            if (pass == 0 && actual < 0 && tfdt_box != NULL) {
              has_cto = cto_at >= 0;
              actual = (gint64) tfdt + (has_cto && count > 0 ? (gint32) read_u32 (q + cto_at) : 0);
            } else if (pass == 1 && delta < 0 && cto_at >= 0) {
              /* version 1: signed offsets */
              c[8] = 1;
              for (guint32 k = 0; k < count; k++)
                write_u32 (q + k * per + cto_at,
                           (guint32) ((gint32) read_u32 (q + k * per + cto_at) + (gint32) delta));
            }
          }
        }
      }
      p += box;
    }
    if (pass == 0) {
      if (actual < 0)
        return;
      delta = MAX (first_pts, 0) - actual;
      /* only video has offsets to move back by; a decode time cannot go
       * below zero */
      if (delta == 0 || (delta < 0 && !has_cto))
        return;
      g_debug ("fMP4 track moved by %" G_GINT64_FORMAT "/%u s", delta, timescale);
    }
  }
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
 * by, once retime_fmp4() put the first sample at @first_pts_s. @segments
 * gets the sizes, @seg_starts the start times. */
static gboolean
split_fmp4 (const gchar *path, const gchar *dir, const GArray *starts, gdouble tolerance,
            gdouble first_pts_s, GPtrArray *segments, GArray *seg_starts, GError **error)
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
  retime_fmp4 ((guint8 *) contents, size, timescale, llround (first_pts_s * timescale));

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
                   first > g_array_index (job->boundaries, GstClockTime, 0)
                     ? (gdouble) (first - g_array_index (job->boundaries, GstClockTime, 0)) / GST_SECOND
                     : 0,
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

static gboolean make_dir (const gchar *dir, GError **error);

/* An audio-only TS rendition: cut by its own segmenter near the video
 * grid; the cuts are where its segments opened (bus messages). */
static gboolean
package_ts_audio (LadderJob *job, AudioTrack *t, GError **error)
{
  t->ts_segments = g_ptr_array_new_with_free_func ((GDestroyNotify) we_gst_hls_segment_free);
  for (guint i = 0; i < t->opened->len; i++) {
    WeGstHlsSegment *seg = g_new0 (WeGstHlsSegment, 1);
    g_autofree gchar *path = NULL;
    GStatBuf st;
    GstClockTime a = g_array_index (t->opened, GstClockTime, i);
    GstClockTime b = i + 1 < t->opened->len ? g_array_index (t->opened, GstClockTime, i + 1) : t->end;

    seg->uri = g_strdup_printf ("segment_%05u.ts", i);
    seg->duration_s = b > a ? (gdouble) (b - a) / GST_SECOND : 0.001;
    g_ptr_array_add (t->ts_segments, seg);
    path = g_build_filename (t->dir, seg->uri, NULL);
    if (g_stat (path, &st) != 0) {
      g_set_error (error, WE_ERROR, WE_ERROR_JOB_FAILED, "audio %s: segment %s is missing",
                   t->name, seg->uri);
      return FALSE;
    }
    seg->size_bytes = st.st_size;
  }
  if (t->ts_segments->len == 0) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_FAILED, "audio %s has no segment", t->name);
    return FALSE;
  }
  return TRUE;
}

/* Audio fMP4: grouped on the video's segment starts. */
static gboolean
package_fmp4_audio (LadderJob *job, AudioTrack *t, const GArray *starts, GError **error)
{
  g_autoptr(GArray) starts_s = g_array_new (FALSE, FALSE, sizeof (gdouble));
  g_autoptr(GArray) found = g_array_new (FALSE, FALSE, sizeof (gdouble));
  GstClockTime zero = g_array_index (job->boundaries, GstClockTime, 0);
  gdouble first_s = GST_CLOCK_TIME_IS_VALID (t->first) && t->first > zero
                      ? (gdouble) (t->first - zero) / GST_SECOND : 0;
  gdouble total = GST_CLOCK_TIME_IS_VALID (t->end) && t->end > zero
                    ? (gdouble) (t->end - zero) / GST_SECOND : 0;

  for (guint i = 0; i < starts->len; i++) {
    gdouble s = (gdouble) (g_array_index (starts, GstClockTime, i) -
                           g_array_index (starts, GstClockTime, 0)) / GST_SECOND;

    g_array_append_val (starts_s, s);
  }
  t->fmp4_segments = g_ptr_array_new_with_free_func ((GDestroyNotify) we_gst_hls_segment_free);
  /* audio fragments are AUDIO_FRAGMENT_MS long: a segment takes the
   * first one that starts at or past the video boundary */
  if (!split_fmp4 (t->fmp4_path, t->dir, starts_s, 0.001, first_s, t->fmp4_segments, found, error))
    return FALSE;
  for (guint i = 0; i < t->fmp4_segments->len; i++) {
    WeGstHlsSegment *seg = g_ptr_array_index (t->fmp4_segments, i);
    /* the first segment from 0, like the video's: a track that starts
     * late has a gap there, not a timeline that begins elsewhere */
    gdouble a = i == 0 ? 0 : g_array_index (found, gdouble, i);
    gdouble b = i + 1 < found->len ? g_array_index (found, gdouble, i + 1) : total;

    seg->duration_s = MAX (b - a, 0.001);
  }
  return TRUE;
}

/* Encrypts the file at @path in place: AES-128-CBC, PKCS#7 padding, the IV
 * the media sequence number @sequence as a 128-bit big-endian integer (RFC
 * 8216 §5.2, with no IV attribute). One segment is in memory at a time. */
static gboolean
encrypt_segment (const gchar *path, const guint8 *key, guint64 sequence, guint64 *size,
                 GError **error)
{
  g_autofree gchar *contents = NULL;
  g_autofree guint8 *buf = NULL;
  guint8 key_copy[AES_BLOCK];
  guint8 iv[AES_BLOCK] = { 0, };
  gnutls_datum_t key_datum = { key_copy, AES_BLOCK };
  gnutls_datum_t iv_datum = { iv, AES_BLOCK };
  gnutls_cipher_hd_t cipher = NULL;
  gsize len = 0, padded;
  guint8 pad;
  int rc;

  if (!g_file_get_contents (path, &contents, &len, error)) {
    g_prefix_error (error, "cannot encrypt a segment: ");
    return FALSE;
  }
  /* PKCS#7: 1..16 bytes, a whole block when the length is a multiple */
  pad = AES_BLOCK - len % AES_BLOCK;
  padded = len + pad;
  buf = g_malloc (padded);
  memcpy (buf, contents, len);
  memset (buf + len, pad, pad);
  for (guint i = 0; i < 8; i++)
    iv[AES_BLOCK - 1 - i] = (sequence >> (8 * i)) & 0xff;
  memcpy (key_copy, key, AES_BLOCK);
  rc = gnutls_cipher_init (&cipher, GNUTLS_CIPHER_AES_128_CBC, &key_datum, &iv_datum);
  if (rc == 0)
    rc = gnutls_cipher_encrypt (cipher, buf, padded);
  if (cipher != NULL)
    gnutls_cipher_deinit (cipher);
  memset (key_copy, 0, sizeof (key_copy));
  if (rc != 0) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_FAILED, "AES-128 encryption failed: %s",
                 gnutls_strerror (rc));
    return FALSE;
  }
  /* written beside and renamed over: never a half-encrypted segment */
  if (!g_file_set_contents (path, (const gchar *) buf, padded, error)) {
    g_prefix_error (error, "cannot write an encrypted segment: ");
    return FALSE;
  }
  *size = padded;
  return TRUE;
}

static gboolean
encrypt_segments (LadderJob *job, const gchar *dir, GPtrArray *segments, GError **error)
{
  for (guint i = 0; i < segments->len; i++) {
    WeGstHlsSegment *seg = g_ptr_array_index (segments, i);
    g_autofree gchar *path = g_build_filename (dir, seg->uri, NULL);

    /* media sequence numbers start at 0 (EXT-X-MEDIA-SEQUENCE:0) */
    if (!encrypt_segment (path, job->key, i, &seg->size_bytes, error))
      return FALSE;
  }
  return TRUE;
}

/* The earliest PES PTS (90 kHz) in a TS file, or -1: what a WebVTT
 * X-TIMESTAMP-MAP maps cue time 0 to. mpegtsmux starts its clock at an
 * offset (3600 s) rather than 0. */
static gint64
ts_first_pts (const gchar *path)
{
  g_autofree gchar *contents = NULL;
  gsize len = 0;
  gint64 best = -1;

  if (!g_file_get_contents (path, &contents, &len, NULL))
    return -1;
  for (gsize off = 0; off + 188 <= len; off += 188) {
    const guint8 *p = (const guint8 *) contents + off;
    gsize payload = 4;

    if (p[0] != 0x47)
      return -1;
    if (!(p[1] & 0x40) || !(p[3] & 0x10))
      continue;
    if (p[3] & 0x20)
      payload += 1 + p[4];
    if (payload + 14 > 188 || p[payload] != 0 || p[payload + 1] != 0 || p[payload + 2] != 1)
      continue;
    p += payload;
    /* audio (0xc0..0xdf) and video (0xe0..0xef) streams, with a PTS */
    if ((p[3] & 0xe0) != 0xc0 && (p[3] & 0xf0) != 0xe0)
      continue;
    if (p[7] & 0x80) {
      gint64 pts = ((gint64) (p[9] & 0x0e) << 29) | ((gint64) p[10] << 22) |
                   ((gint64) (p[11] & 0xfe) << 14) | ((gint64) p[12] << 7) | (p[13] >> 1);

      if (best < 0 || pts < best)
        best = pts;
    }
  }
  return best;
}

/* Whether @path starts like WebVTT ("WEBVTT" after an optional BOM) and
 * is no bigger than MAX_VTT_BYTES, without reading it all. */
static gboolean
vtt_file_is_valid (const gchar *path)
{
  guint8 head[10] = { 0, };
  GStatBuf st;
  FILE *f;
  gsize n, skip = 0;

  if (g_stat (path, &st) != 0 || !S_ISREG (st.st_mode) || st.st_size > MAX_VTT_BYTES)
    return FALSE;
  if ((f = g_fopen (path, "rb")) == NULL)
    return FALSE;
  n = fread (head, 1, sizeof (head), f);
  fclose (f);
  if (n >= 3 && memcmp (head, "\xef\xbb\xbf", 3) == 0)
    skip = 3;
  if (n < skip + 6 || memcmp (head + skip, "WEBVTT", 6) != 0)
    return FALSE;
  return n == skip + 6 || strchr (" \t\r\n", head[skip + 6]) != NULL;
}

/* Copies one extracted WebVTT file to subs/<name>/<name>.vtt and writes a
 * one-segment media playlist over it (a single segment spanning the
 * presentation is valid HLS). X-TIMESTAMP-MAP ties cue time 0 to the
 * media's first timestamp @mpegts: without it, hls.js places the cues of a
 * TS stream 3600 s early. */
static WeGstLadderSubtitleOutput *
package_subtitle (LadderJob *job, const SubtitleIn *in, gint64 mpegts, gdouble duration_s,
                  GError **error)
{
  g_autoptr(GPtrArray) segs = g_ptr_array_new_with_free_func ((GDestroyNotify) we_gst_hls_segment_free);
  g_autofree gchar *rel_dir = g_build_filename ("subs", in->name, NULL);
  g_autofree gchar *dir = g_build_filename (job->out_dir, rel_dir, NULL);
  g_autofree gchar *file = g_strdup_printf ("%s.vtt", in->name);
  g_autofree gchar *contents = NULL;
  g_autoptr(GString) out = NULL;
  WeGstLadderSubtitleOutput *result;
  const gchar *body, *eol;
  gsize len = 0;
  WeGstHlsSegment *seg;

  g_autoptr(GError) read_error = NULL;

  /* checked before the encode too (check_request); read again here, as
   * the file is the caller's */
  if (!vtt_file_is_valid (in->vtt_path) ||
      !g_file_get_contents (in->vtt_path, &contents, &len, &read_error)) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_FAILED, "subtitle %s: %s is not a readable WebVTT file",
                 in->name, read_error != NULL ? read_error->message : in->vtt_path);
    return NULL;
  }
  body = contents;
  if (len >= 3 && memcmp (body, "\xef\xbb\xbf", 3) == 0)
    body += 3;
  if (len > MAX_VTT_BYTES || !g_str_has_prefix (body, "WEBVTT") ||
      (body[6] != '\0' && body[6] != '\n' && body[6] != '\r' && body[6] != ' ' && body[6] != '\t') ||
      !g_utf8_validate (body, len - (body - contents), NULL)) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_FAILED,
                 "subtitle %s: %s is not a WebVTT file", in->name, in->vtt_path);
    return NULL;
  }
  if (!make_dir (dir, error))
    return NULL;
  out = g_string_new_len (body, len - (body - contents));
  eol = strchr (out->str, '\n');
  if (strstr (out->str, "X-TIMESTAMP-MAP=") == NULL) {
    g_autofree gchar *map = g_strdup_printf ("X-TIMESTAMP-MAP=MPEGTS:%" G_GINT64_FORMAT
                                             ",LOCAL:00:00:00.000\n", MAX (mpegts, 0));

    /* in the header block: right after the WEBVTT line */
    if (eol == NULL) {
      g_string_append_c (out, '\n');
      g_string_append (out, map);
    } else {
      g_string_insert (out, eol - out->str + 1, map);
    }
  }
  if (!write_text (dir, file, out->str, error))
    return NULL;

  result = g_new0 (WeGstLadderSubtitleOutput, 1);
  result->name = g_strdup (in->name);
  result->language = g_strdup (in->language);
  result->path = g_build_filename (rel_dir, file, NULL);
  if (job->profile->hls.enabled) {
    g_autofree gchar *media = NULL;

    seg = g_new0 (WeGstHlsSegment, 1);
    seg->uri = g_strdup (file);
    seg->duration_s = duration_s;
    seg->size_bytes = out->len;
    g_ptr_array_add (segs, seg);
    media = we_gst_hls_media_playlist (segs, NULL, NULL);
    if (!write_text (dir, "index.m3u8", media, error)) {
      subtitle_output_free (result);
      return NULL;
    }
    result->playlist = g_build_filename (rel_dir, "index.m3u8", NULL);
  }
  return result;
}

static WeGstDashRepresentation *
dash_representation (const gchar *id, const gchar *dir_name, const gchar *mime_type,
                     const gchar *codecs, const GPtrArray *segments)
{
  WeGstDashRepresentation *rep = g_new0 (WeGstDashRepresentation, 1);
  guint64 avg;

  rep->id = g_strdup (id);
  rep->mime_type = g_strdup (mime_type);
  rep->codecs = g_strdup (codecs);
  we_gst_hls_segments_bandwidth (segments, &rep->bandwidth, &avg);
  rep->init_uri = g_build_filename (dir_name, "init.mp4", NULL);
  rep->segments = g_ptr_array_new_with_free_func ((GDestroyNotify) we_gst_hls_segment_free);
  for (guint j = 0; j < segments->len; j++) {
    const WeGstHlsSegment *s = g_ptr_array_index (segments, j);
    WeGstHlsSegment *copy = g_new0 (WeGstHlsSegment, 1);

    copy->uri = g_build_filename (dir_name, s->uri, NULL);
    copy->duration_s = s->duration_s;
    copy->size_bytes = s->size_bytes;
    g_ptr_array_add (rep->segments, copy);
  }
  return rep;
}

/* NAME of a rendition: its language's name ("English") when it has one,
 * made unique among @taken (those of its group). */
static gchar *
display_name (const gchar *language, const gchar *fallback, GPtrArray *taken)
{
  const gchar *lang_name = language != NULL ? gst_tag_get_language_name (language) : NULL;
  g_autofree gchar *name = g_strdup (lang_name != NULL ? lang_name : language != NULL ? language : fallback);

  for (guint i = 0; i < taken->len; i++) {
    if (g_str_equal (g_ptr_array_index (taken, i), name)) {
      g_free (name);
      name = g_strdup_printf ("%s (%s)", lang_name != NULL ? lang_name : language != NULL ? language : fallback,
                              fallback);
      break;
    }
  }
  return g_steal_pointer (&name);
}

static WeGstLadderResult *
package (LadderJob *job, GError **error)
{
  g_autoptr(WeGstLadderResult) result = g_new0 (WeGstLadderResult, 1);
  g_autoptr(GPtrArray) variants = g_ptr_array_new_with_free_func ((GDestroyNotify) we_gst_hls_variant_free);
  g_autoptr(GPtrArray) dash_video = g_ptr_array_new_with_free_func ((GDestroyNotify) we_gst_dash_representation_free);
  g_autoptr(GPtrArray) dash_audio = g_ptr_array_new_with_free_func ((GDestroyNotify) we_gst_dash_representation_free);
  g_autoptr(GPtrArray) dash_text = g_ptr_array_new_with_free_func ((GDestroyNotify) we_gst_dash_representation_free);
  g_autoptr(GPtrArray) media = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) sub_names = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GArray) top_starts = NULL;
  GPtrArray *tracks = job->audio_tracks;
  gchar *audio_codec = NULL;
  guint64 audio_peak = 0, audio_avg = 0;
  gboolean separate_audio = FALSE;
  gint64 mpegts = 0;
  guint count = 0;
  gdouble duration = 0;

  result->output_dir = g_strdup (job->out_dir);
  result->renditions = g_ptr_array_new_with_free_func ((GDestroyNotify) rendition_free);
  result->audio = g_ptr_array_new_with_free_func ((GDestroyNotify) rendition_free);
  result->subtitles = g_ptr_array_new_with_free_func ((GDestroyNotify) subtitle_output_free);
  result->dropped = g_strdupv (job->dropped);
  result->encrypted = job->encrypt;

  /* 1. measure and cut every rendition */
  for (guint i = 0; i < job->rungs->len; i++) {
    Rung *r = g_ptr_array_index (job->rungs, i);
    g_autoptr(GArray) starts = rung_segment_starts (job, r);

    if (starts->len == 0 || !GST_CLOCK_TIME_IS_VALID (r->end)) {
      g_set_error (error, WE_ERROR, WE_ERROR_JOB_UNSUPPORTED_SOURCE,
                   "rung %s: the source yielded no video frames", r->rung->name);
      return NULL;
    }
    if (i == 0) {
      count = starts->len;
      duration = (gdouble) (r->end - g_array_index (starts, GstClockTime, 0)) / GST_SECOND;
      top_starts = g_array_ref (starts);
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
  }
  for (guint i = 0; i < tracks->len; i++) {
    AudioTrack *t = g_ptr_array_index (tracks, i);

    if (t->caps != NULL)
      t->codec = gst_codec_utils_caps_get_mime_codec (t->caps);
    if (audio_codec == NULL)
      audio_codec = t->codec;
    if (t->splitmux != NULL && !package_ts_audio (job, t, error))
      return NULL;
    if (t->fmp4_path != NULL && !package_fmp4_audio (job, t, top_starts, error))
      return NULL;
  }
  result->audio_codecs = g_strdup (audio_codec);
  result->segment_count = count;
  result->duration_s = duration;
  /* audio in renditions of their own, which every variant plays with */
  separate_audio = tracks->len > 0 && (!job->want_ts || job->all_audio);

  /* 2. where cue time 0 is, read before the segments are encrypted */
  if (job->want_ts && job->profile->hls.enabled) {
    Rung *top = g_ptr_array_index (job->rungs, 0);
    g_autofree gchar *first = g_build_filename (top->dir, "segment_00000.ts", NULL);

    mpegts = ts_first_pts (first);
  }

  /* 3. HLS media segments encrypted in place, before sizes are counted */
  if (job->encrypt) {
    for (guint i = 0; i < job->rungs->len; i++) {
      Rung *r = g_ptr_array_index (job->rungs, i);

      if (!encrypt_segments (job, r->dir, job->want_ts ? r->ts_segments : r->fmp4_segments, error))
        return NULL;
    }
    for (guint i = 0; separate_audio && i < tracks->len; i++) {
      AudioTrack *t = g_ptr_array_index (tracks, i);

      if (!encrypt_segments (job, t->dir, job->want_ts ? t->ts_segments : t->fmp4_segments, error))
        return NULL;
    }
  }

  /* 4. audio renditions: playlists, and the rate every variant adds */
  for (guint i = 0; i < tracks->len; i++) {
    AudioTrack *t = g_ptr_array_index (tracks, i);
    GPtrArray *hls_segments = job->want_ts ? t->ts_segments : t->fmp4_segments;
    WeGstLadderRendition *out;
    gchar *display;

    /* TS rungs carrying the audio, and no DASH: no rendition of its own */
    if (!separate_audio && t->fmp4_segments == NULL)
      continue;
    out = g_new0 (WeGstLadderRendition, 1);
    out->kind = WE_GST_LADDER_AUDIO;
    out->name = g_strdup (t->name);
    out->language = g_strdup (t->language);
    out->codecs = g_strdup (t->codec);
    g_ptr_array_add (result->audio, out);
    if (separate_audio && job->profile->hls.enabled) {
      g_autofree gchar *text = we_gst_hls_media_playlist (hls_segments,
                                                          job->want_ts ? NULL : "init.mp4",
                                                          job->encrypt ? job->key_uri : NULL);
      WeGstHlsMedia *m = g_new0 (WeGstHlsMedia, 1);

      if (!write_text (t->dir, "index.m3u8", text, error)) {
        g_free (m);
        return NULL;
      }
      we_gst_hls_segments_bandwidth (hls_segments, &out->bandwidth, &out->average_bandwidth);
      out->playlist = g_build_filename (t->name, "index.m3u8", NULL);
      out->segment_count = hls_segments->len;
      display = display_name (t->language, t->name, names);
      g_ptr_array_add (names, display);
      m->type = WE_GST_HLS_MEDIA_AUDIO;
      m->group_id = "audio";
      m->name = display;
      m->language = t->language;
      m->uri = out->playlist;
      m->is_default = i == 0;
      g_ptr_array_add (media, m);
      audio_peak = MAX (audio_peak, out->bandwidth);
      audio_avg = MAX (audio_avg, out->average_bandwidth);
    }
    if (t->fmp4_segments != NULL) {
      WeGstDashRepresentation *rep = dash_representation (t->name, t->name, "audio/mp4", t->codec,
                                                          t->fmp4_segments);

      out->init = g_build_filename (t->name, "init.mp4", NULL);
      if (out->playlist == NULL) {
        we_gst_hls_segments_bandwidth (t->fmp4_segments, &out->bandwidth, &out->average_bandwidth);
        out->segment_count = t->fmp4_segments->len;
      }
      rep->lang = g_strdup (t->language);
      rep->sample_rate = job->audio_profile->audio_sample_rate > 0
                           ? job->audio_profile->audio_sample_rate : 48000;
      g_ptr_array_add (dash_audio, rep);
    }
  }

  /* 5. video variants */
  for (guint i = 0; i < job->rungs->len; i++) {
    Rung *r = g_ptr_array_index (job->rungs, i);
    GPtrArray *hls_segments = job->want_ts ? r->ts_segments : r->fmp4_segments;
    WeGstLadderRendition *out = g_new0 (WeGstLadderRendition, 1);
    guint64 peak, avg;

    out->kind = WE_GST_LADDER_VIDEO;
    out->name = g_strdup (r->rung->name);
    out->width = r->rung->width;
    out->height = r->rung->height;
    out->segment_count = count;
    out->codecs = audio_codec != NULL ? g_strdup_printf ("%s,%s", r->codecs, audio_codec)
                                      : g_strdup (r->codecs);
    if (job->want_fmp4)
      out->init = g_build_filename (r->rung->name, "init.mp4", NULL);
    g_ptr_array_add (result->renditions, out);
    /* TS with muxed audio counts it in the segments already */
    we_gst_hls_segments_bandwidth (hls_segments, &peak, &avg);
    out->bandwidth = peak + (separate_audio ? audio_peak : 0);
    out->average_bandwidth = avg + (separate_audio ? audio_avg : 0);

    if (job->profile->hls.enabled) {
      g_autofree gchar *text = we_gst_hls_media_playlist (hls_segments,
                                                          job->want_ts ? NULL : "init.mp4",
                                                          job->encrypt ? job->key_uri : NULL);
      WeGstHlsVariant *v = g_new0 (WeGstHlsVariant, 1);

      if (!write_text (r->dir, "index.m3u8", text, error)) {
        we_gst_hls_variant_free (v);
        return NULL;
      }
      out->playlist = g_build_filename (r->rung->name, "index.m3u8", NULL);
      v->name = g_strdup (r->rung->name);
      v->uri = g_strdup (out->playlist);
      v->width = r->rung->width;
      v->height = r->rung->height;
      v->frame_rate = job->fps;
      v->bandwidth = out->bandwidth;
      v->average_bandwidth = out->average_bandwidth;
      v->codecs = g_strdup (out->codecs);
      g_ptr_array_add (variants, v);
    }
    if (job->want_fmp4) {
      WeGstDashRepresentation *rep = dash_representation (r->rung->name, r->rung->name, "video/mp4",
                                                          r->codecs, r->fmp4_segments);

      rep->width = r->rung->width;
      rep->height = r->rung->height;
      rep->frame_rate = job->fps;
      g_ptr_array_add (dash_video, rep);
    }
  }

  /* 6. subtitles */
  for (guint i = 0; job->subtitles != NULL && i < job->subtitles->len; i++) {
    const SubtitleIn *in = g_ptr_array_index (job->subtitles, i);
    WeGstLadderSubtitleOutput *sub = package_subtitle (job, in, mpegts, duration, error);

    if (sub == NULL)
      return NULL;
    g_ptr_array_add (result->subtitles, sub);
    if (sub->playlist != NULL) {
      WeGstHlsMedia *m = g_new0 (WeGstHlsMedia, 1);

      m->type = WE_GST_HLS_MEDIA_SUBTITLES;
      m->group_id = "subs";
      m->name = display_name (sub->language, sub->name, sub_names);
      g_ptr_array_add (sub_names, (gpointer) m->name);
      m->language = sub->language;
      m->uri = sub->playlist;
      /* subtitles are not forced on anyone: AUTOSELECT lets a player
       * match the viewer's language */
      m->is_default = FALSE;
      g_ptr_array_add (media, m);
    }
    if (job->profile->dash.enabled) {
      WeGstDashRepresentation *rep = g_new0 (WeGstDashRepresentation, 1);

      rep->id = g_strdup (sub->name);
      rep->mime_type = g_strdup ("text/vtt");
      g_autofree gchar *vtt = g_build_filename (job->out_dir, sub->path, NULL);
      GStatBuf st;

      rep->lang = g_strdup (sub->language);
      rep->base_url = g_strdup (sub->path);
      if (g_stat (vtt, &st) == 0 && duration > 0)
        rep->bandwidth = (guint64) ceil (st.st_size * 8.0 / duration);
      g_ptr_array_add (dash_text, rep);
    }
  }

  /* 7. manifests */
  if (job->profile->hls.enabled) {
    g_autofree gchar *master = we_gst_hls_master_playlist (variants, media);

    if (!write_text (job->out_dir, "master.m3u8", master, error))
      return NULL;
    result->master_playlist = g_strdup ("master.m3u8");
  }
  if (job->profile->dash.enabled) {
    g_autofree gchar *mpd = we_gst_dash_mpd (dash_video, dash_audio, dash_text, duration);

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
  we_gst_introspect_message (job->pipeline, msg, "ladder", job->pipeline_func,
                             job->pipeline_data, &job->introspected);
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
  case GST_MESSAGE_ELEMENT: {
    const GstStructure *s = gst_message_get_structure (msg);
    guint64 rt = 0;

    /* an audio-only TS rendition cuts by itself: where, it says here */
    if (gst_structure_has_name (s, "splitmuxsink-fragment-opened") &&
        gst_structure_get_uint64 (s, "running-time", &rt)) {
      g_mutex_lock (&job->lock);
      for (guint i = 0; i < job->audio_tracks->len; i++) {
        AudioTrack *t = g_ptr_array_index (job->audio_tracks, i);

        if (t->splitmux != NULL && GST_MESSAGE_SRC (msg) == GST_OBJECT (t->splitmux))
          g_array_append_val (t->opened, rt);
      }
      g_mutex_unlock (&job->lock);
    }
    break;
  }
  case GST_MESSAGE_APPLICATION: {
    const GstStructure *s = gst_message_get_structure (msg);

    if (gst_structure_has_name (s, "we-audio-failed")) {
      ladder_complete (task, NULL, g_error_new (WE_ERROR, WE_ERROR_JOB_FAILED,
                                                "cannot package an audio track: %s",
                                                gst_structure_get_string (s, "detail")));
      return G_SOURCE_REMOVE;
    }
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

static GstBin *
target_bin (LadderJob *job)
{
  return job->build_bin != NULL ? job->build_bin : GST_BIN (job->pipeline);
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
  gst_bin_add (target_bin (job), e);
  return e;
}

static GstElement *
add_caps (LadderJob *job, const gchar *caps_str)
{
  GstElement *e = gst_element_factory_make ("capsfilter", NULL);
  g_autoptr(GstCaps) caps = gst_caps_from_string (caps_str);

  g_object_set (e, "caps", caps, NULL);
  gst_bin_add (target_bin (job), e);
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
  g_autofree gchar *progress_name = g_strdup_printf ("progress_%s", r->rung->name);
  const gchar *out_caps;
  GstElement *queue, *scale, *caps, *enc, *rtee, *tail, *progress;
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
  gst_object_unref (enc);  /* _make's reference; the bin holds it */
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
  /* what the rung has encoded: the job's progress is its slowest rung's */
  if ((progress = we_gst_add_progress (job->pipeline, progress_name, error)) == NULL)
    return FALSE;
  g_ptr_array_add (job->progress, gst_object_ref (progress));
  if ((rtee = add_element (job, "tee", NULL, error)) == NULL ||
      !link_many (error, tail, progress, rtee, NULL))
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

/* One audio stream's encode: queue ! audioconvert ! audioresample ! caps !
 * aac ! tee, and its own writers: an audio-only TS segmenter
 * (keep_all_tracks) and/or a fragmented MP4. Every element goes into
 * target_bin(). */
static gboolean
build_audio_track (LadderJob *job, AudioTrack *t, GError **error)
{
  const WeProfile *p = job->audio_profile;
  g_autoptr(WeGstElementSpec) spec = NULL;
  g_autofree gchar *caps_str = NULL;
  g_autoptr(GstPad) aenc_src = NULL;
  g_autoptr(GstPad) head_sink = NULL;
  GstElement *aconv, *ares, *acaps, *aenc;

  if (!make_dir (t->dir, error))
    return FALSE;
  spec = we_gst_element_spec_new (job->audio_choice.factory, NULL);
  we_gst_audio_encoder_configure (spec, &job->audio_choice, p);
  caps_str = g_strdup_printf ("audio/x-raw,rate=%d,channels=%d",
                              p->audio_sample_rate > 0 ? p->audio_sample_rate : 48000,
                              p->audio_channels > 0 ? p->audio_channels : 2);
  if ((t->head = add_element (job, "queue", NULL, error)) == NULL ||
      (aconv = add_element (job, "audioconvert", NULL, error)) == NULL ||
      (ares = add_element (job, "audioresample", NULL, error)) == NULL ||
      (aenc = we_gst_element_spec_make (spec, error)) == NULL)
    return FALSE;
  gst_bin_add (target_bin (job), aenc);
  gst_object_unref (aenc);  /* _make's reference; the bin holds it */
  acaps = add_caps (job, caps_str);
  if ((t->tee = add_element (job, "tee", NULL, error)) == NULL ||
      !link_many (error, t->head, aconv, ares, acaps, aenc, t->tee, NULL))
    return FALSE;
  head_sink = gst_element_get_static_pad (t->head, "sink");
  g_object_set_data (G_OBJECT (head_sink), "we-ladder-job", job);
  gst_pad_add_probe (head_sink, GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM, audio_tag_probe, t, NULL);
  aenc_src = gst_element_get_static_pad (aenc, "src");
  g_object_set_data (G_OBJECT (aenc_src), "we-ladder-job", job);
  gst_pad_add_probe (aenc_src, GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM,
                     audio_output_probe, t, NULL);

  if (job->want_ts && job->all_audio) {
    GstElement *q, *parse, *tsmux;
    g_autofree gchar *location = g_build_filename (t->dir, "segment_%05d.ts", NULL);
    g_autoptr(GstPad) apad = NULL;
    g_autoptr(GstPad) psrc = NULL;

    if ((q = add_element (job, "queue", NULL, error)) == NULL ||
        (parse = add_element (job, "aacparse", NULL, error)) == NULL ||
        (t->splitmux = add_element (job, "splitmuxsink", NULL, error)) == NULL)
      return FALSE;
    if ((tsmux = gst_element_factory_make ("mpegtsmux", NULL)) == NULL) {
      g_set_error_literal (error, WE_ERROR, WE_ERROR_JOB_FAILED,
                           "GStreamer element 'mpegtsmux' is not installed");
      return FALSE;
    }
    /* cut where audio_output_probe asks; on the segment length when the
     * source did not say how long it is */
    g_object_set (t->splitmux, "muxer", tsmux, "location", location, "max-size-time",
                  (guint64) (job->report.expected_s > 0 ? 0 : job->seg_ns), "max-size-bytes",
                  (guint64) 0, NULL);
    if (!link_many (error, t->tee, q, parse, NULL))
      return FALSE;
    apad = gst_element_request_pad_simple (t->splitmux, "audio_%u");
    psrc = gst_element_get_static_pad (parse, "src");
    if (apad == NULL || gst_pad_link (psrc, apad) != GST_PAD_LINK_OK) {
      g_set_error (error, WE_ERROR, WE_ERROR_JOB_FAILED, "cannot link %s to its segmenter",
                   t->name);
      return FALSE;
    }
  }
  if (job->want_fmp4) {
    t->fmp4_path = g_build_filename (t->dir, "stream.mp4", NULL);
    if (add_fmp4_writer (job, t->tee, "aacparse", t->fmp4_path, AUDIO_FRAGMENT_MS, FALSE,
                         error) == NULL)
      return FALSE;
  }
  return TRUE;
}

static gboolean
build_pipeline (LadderJob *job, gboolean has_audio, GError **error)
{
  WeGstEncoderChoice vchoice;
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
  job->pipeline = gst_object_ref_sink (gst_pipeline_new (we_gst_pipeline_name (job->task_id)));
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

  job->want_audio = has_audio;
  if (has_audio) {
    WeProfile *p = we_profile_copy (job->profile);

    if (!we_gst_audio_encoder_choose ("aac", &job->audio_choice)) {
      we_profile_unref (p);
      g_set_error_literal (error, WE_ERROR, WE_ERROR_JOB_FAILED, "no AAC encoder is installed");
      return FALSE;
    }
    /* one setting for all rungs, at the best rung's audio rate */
    p->audio_bitrate_kbps = 0;
    for (guint i = 0; i < job->rungs->len; i++)
      p->audio_bitrate_kbps = MAX (p->audio_bitrate_kbps,
                                   ((Rung *) g_ptr_array_index (job->rungs, i))->rung->audio_bitrate_kbps);
    if (p->audio_bitrate_kbps <= 0)
      p->audio_bitrate_kbps = job->profile->audio_bitrate_kbps;
    job->audio_profile = p;
    /* the first audio stream, encoded once for every rung; with
     * keep_all_tracks each stream's track is built as the source shows it */
    if (!job->all_audio) {
      AudioTrack *t = audio_track_new (job, "audio");

      g_ptr_array_add (job->audio_tracks, t);
      if (!build_audio_track (job, t, error))
        return FALSE;
      /* TS rungs mux this audio; only fMP4 keeps it in audio/ */
      if (t->fmp4_path == NULL)
        g_rmdir (t->dir);
      if (job->want_ts)
        atee = t->tee;
    }
  }

  for (guint i = 0; i < job->rungs->len; i++) {
    if (!build_rung (job, g_ptr_array_index (job->rungs, i), vtee, atee, &vchoice, error))
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
  job->report.expected_s = probe->info->duration_s;
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
  job->report.started_us = g_get_monotonic_time ();
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

/* A rung name that would share a directory with an audio rendition or the
 * subtitles. */
static gboolean
name_is_reserved (const gchar *name)
{
  if (g_strcmp0 (name, "subs") == 0 || g_strcmp0 (name, "audio") == 0)
    return TRUE;
  return g_str_has_prefix (name, "audio_") && name[6] != '\0' &&
         strspn (name + 6, "0123456789") == strlen (name + 6);
}

static gboolean
subtitle_name_is_valid (const gchar *name)
{
  gsize n = name != NULL ? strlen (name) : 0;

  return n >= 1 && n <= 32 && strspn (name, "abcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

/* What the profile and @extras ask for that the packager cannot do, as
 * we_profile_validate() words its errors; copies the extras into @job. */
static gboolean
check_request (LadderJob *job, const WeProfile *profile, const WeGstLadderExtras *extras,
               GError **error)
{
  gboolean aes = g_strcmp0 (profile->hls.encryption, "aes-128") == 0;

  for (guint i = 0; i < profile->ladder->len; i++) {
    const WeProfileRung *rung = g_ptr_array_index (profile->ladder, i);

    if (rung->enabled && name_is_reserved (rung->name)) {
      g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_PROFILE,
                   "ladder[%u].name \"%s\" is reserved for the audio and subtitle renditions",
                   i, rung->name);
      return FALSE;
    }
  }
  if (g_strcmp0 (profile->hls.encryption, "none") != 0 && !aes) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_PROFILE,
                 "hls.encryption \"%s\" is not supported by the ladder packager",
                 profile->hls.encryption);
    return FALSE;
  }
  if (aes && profile->dash.enabled) {
    /* a clear DASH copy beside encrypted HLS would give the content away,
     * and DASH encryption (CENC) is not written */
    g_set_error_literal (error, WE_ERROR, WE_ERROR_JOB_INVALID_PROFILE,
                         "hls.encryption \"aes-128\" cannot be combined with dash.enabled: "
                         "only HLS output is encrypted");
    return FALSE;
  }
  if (aes != (extras != NULL && extras->key != NULL)) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                         aes ? "hls.encryption \"aes-128\" needs a key"
                             : "an encryption key was given but hls.encryption is \"none\"");
    return FALSE;
  }
  if (aes) {
    const gchar *uri = extras->key_uri;

    /* written verbatim inside a quoted attribute */
    if (uri == NULL || *uri == '\0' || strpbrk (uri, "\"\r\n") != NULL ||
        !g_utf8_validate (uri, -1, NULL)) {
      g_set_error_literal (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                           "the key URI must be set and hold no quote or line break");
      return FALSE;
    }
    job->encrypt = TRUE;
    memcpy (job->key, extras->key, AES_BLOCK);
    job->key_uri = g_strdup (uri);
  }
  if (extras != NULL) {
    job->task_id = g_strdup (extras->task_id);
    job->pipeline_func = extras->pipeline_func;
    job->pipeline_data = extras->pipeline_data;
  }
  if (extras != NULL && extras->n_subtitles > 0) {
    if (extras->n_subtitles > WE_GST_LADDER_MAX_SUBTITLES || extras->subtitles == NULL) {
      g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                   "at most %d subtitle tracks can be packaged (got %u)",
                   WE_GST_LADDER_MAX_SUBTITLES, extras->n_subtitles);
      return FALSE;
    }
    job->subtitles = g_ptr_array_new_with_free_func ((GDestroyNotify) subtitle_in_free);
    for (guint i = 0; i < extras->n_subtitles; i++) {
      const WeGstLadderSubtitle *in = &extras->subtitles[i];
      g_autofree gchar *lang = NULL;
      SubtitleIn *copy;

      if (!subtitle_name_is_valid (in->name)) {
        g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                     "subtitle name \"%s\" must be 1-32 characters of [a-z0-9_-]",
                     in->name != NULL ? in->name : "");
        return FALSE;
      }
      for (guint j = 0; j < job->subtitles->len; j++) {
        if (g_str_equal (((SubtitleIn *) g_ptr_array_index (job->subtitles, j))->name, in->name)) {
          g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                       "subtitle name \"%s\" is given twice", in->name);
          return FALSE;
        }
      }
      if (in->language != NULL && (lang = sanitize_language (in->language)) == NULL) {
        g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                     "subtitle %s: \"%s\" is not a language tag", in->name, in->language);
        return FALSE;
      }
      /* checked now, not after the encode */
      if (in->vtt_path == NULL || !vtt_file_is_valid (in->vtt_path)) {
        g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                     "subtitle %s: %s is not a WebVTT file", in->name,
                     in->vtt_path != NULL ? in->vtt_path : "(no path)");
        return FALSE;
      }
      copy = g_new0 (SubtitleIn, 1);
      copy->name = g_strdup (in->name);
      copy->language = g_steal_pointer (&lang);
      copy->vtt_path = g_strdup (in->vtt_path);
      g_ptr_array_add (job->subtitles, copy);
    }
  }
  return TRUE;
}

void
we_gst_ladder_async (const gchar *input_uri, const WeProfile *profile, const gchar *output_dir,
                     const WeGstOptions *options, const WeGstLadderExtras *extras,
                     WeEncodeProgressFunc progress, gpointer progress_data,
                     GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new (NULL, cancellable, callback, user_data);
  LadderJob *job = g_new0 (LadderJob, 1);
  GError *error = NULL;

  g_task_set_source_tag (task, we_gst_ladder_async);
  g_mutex_init (&job->lock);
  g_mutex_init (&job->build_lock);
  job->audio_tracks = g_ptr_array_new_with_free_func ((GDestroyNotify) audio_track_free);
  job->context = g_main_context_ref_thread_default ();
  job->boundaries = g_array_new (FALSE, FALSE, sizeof (GstClockTime));
  job->progress = g_ptr_array_new_with_free_func (gst_object_unref);
  gst_segment_init (&job->in_segment, GST_FORMAT_UNDEFINED);
  if (options != NULL)
    job->options = *options;
  job->report.func = progress;
  job->report.data = progress_data;
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
  if (!check_request (job, profile, extras, &error)) {
    ladder_complete (task, NULL, error);
    return;
  }
  job->all_audio = profile->audio.keep_all_tracks;
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
