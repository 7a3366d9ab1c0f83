/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * live-gst: the default live pillar (spec §7.4, issue 10). One WeRtmpServer
 * and one WeSrtServer take publishers; the host's decider admits each one
 * on the server's thread; every admitted publish gets a pipeline
 * `live-<stream_id>` in this process:
 *
 *   appsrc (the session's FLV or MPEG-TS bytes) ! flvdemux|tsdemux
 *     ! h264parse|aacparse ! tee ┬ queue ! hlssink2     <out>/<id>/live/
 *                                └ queue ! splitmuxsink <out>/<id>/rec/<session>/
 *
 * A thread per stream pumps the session's bytes into appsrc, watches the
 * bus, keeps the recording manifest and emits telemetry once a second, so
 * neither the ingest servers nor the host's main loop ever wait on media.
 */
#include <errno.h>
#include <string.h>

#include <glib/gstdio.h>
#include <gst/app/gstappsrc.h>
#include <gst/gst.h>
#include <json-glib/json-glib.h>
#include <webencode/we-plugin.h>

#include "srt/we-srt-server.h"
#include "we-rtmp-server.h"

#define DEFAULT_RTMP_PORT       1935
#define DEFAULT_SRT_PORT        10080
#define DEFAULT_SEGMENT_S       1
#define DEFAULT_PLAYLIST_LENGTH 6
#define DEFAULT_IDLE_TIMEOUT_S  10
/* recording fragments: short, so a crash loses at most this much */
#define RECORDING_FRAGMENT_S    2
/* how long an ending stream may take to drain (EOS through the muxers) */
#define EOS_WAIT_US             (5 * G_USEC_PER_SEC)

#define WE_TYPE_LIVE_GST (we_live_gst_get_type ())
G_DECLARE_FINAL_TYPE (WeLiveGst, we_live_gst, WE, LIVE_GST, GObject)

typedef struct {
  gchar *stream_id;
  gchar *passphrase;
} Admission;

typedef struct _LiveStream LiveStream;

struct _WeLiveGst {
  GObject parent_instance;

  gchar *address;
  guint  rtmp_port;
  guint  srt_port;
  gchar *output_dir;
  guint  segment_s;
  guint  playlist_length;
  guint  idle_timeout_s;

  WeRtmpServer *rtmp;
  WeSrtServer  *srt;

  GMutex lock;
  GCond  cond;
  WePublishDeciderFunc  decider;
  gpointer              decider_data;
  GDestroyNotify        decider_notify;
  WePublishDecisionFunc policy;
  gpointer              policy_data;
  GDestroyNotify        policy_notify;
  GHashTable *admitted; /* "<protocol>:<key>" -> Admission, until publish-started */
  GHashTable *streams;  /* stream_id -> LiveStream (owned by its thread) */
  guint       threads;  /* pump threads still running */
};

struct _LiveStream {
  WeLiveGst *engine; /* outlives every stream: stop() waits for them */
  gchar     *stream_id;
  gchar     *protocol;
  gchar     *remote;
  WeRtmpSession *rtmp;
  WeSrtSession  *srt;

  GstElement *pipeline;
  GstElement *appsrc;    /* the current publisher's chain: appsrc ! demux ! parsers */
  GstElement *demux;
  GstElement *parse[2];  /* [0] audio, [1] video */
  GstElement *tee[2];    /* kept across publishers */
  guint       chains;    /* publishers seen (2 and more: takeovers) */
  gboolean    has_track[2];   /* (lock) */
  gboolean    tracks_settled; /* (lock) */
  GstElement *hls;
  GstElement *rec;
  gchar      *live_dir;
  gchar      *rec_dir;
  gint        stopping; /* atomic: stop_ingest() */

  /* written by streaming threads */
  GMutex  lock;
  gchar  *fail_reason;
  guint64 video_bytes, audio_bytes;
  guint64 video_frames, audio_frames, keyframes;
  GstClockTime last_video_pts, last_audio_pts, last_key_pts;
  gdouble key_interval_s;
  gint64  first_media_us;
  GstSegment   segment[2];  /* the chain's own, for running times */
  GstClockTime offset;      /* the current chain's pad offset */
  GstClockTime max_rt_end;  /* the latest running time sent downstream */

  /* a takeover waiting for the pump (the engine's lock) */
  WeRtmpSession *next_rtmp;
  WeSrtSession  *next_srt;
  gchar         *next_remote;

  /* the pump thread's own */
  JsonArray   *segments;
  GHashTable  *opened; /* location -> running time (GstClockTime *) */
  gchar       *started_at;
  guint64      prev_video_bytes, prev_audio_bytes, prev_video_frames;
};

static void we_live_gst_iface_init (WeLiveEngineInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (WeLiveGst, we_live_gst, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (WE_TYPE_LIVE_ENGINE,
                                                      we_live_gst_iface_init))

static void
admission_free (gpointer data)
{
  Admission *admission = data;

  g_free (admission->stream_id);
  if (admission->passphrase != NULL)
    memset (admission->passphrase, 0, strlen (admission->passphrase));
  g_free (admission->passphrase);
  g_free (admission);
}

static void
live_stream_free (LiveStream *stream)
{
  g_clear_object (&stream->rtmp);
  g_clear_object (&stream->srt);
  g_clear_object (&stream->next_rtmp);
  g_clear_object (&stream->next_srt);
  g_free (stream->next_remote);
  if (stream->pipeline != NULL)
    gst_object_unref (stream->pipeline);
  g_clear_pointer (&stream->segments, json_array_unref);
  g_clear_pointer (&stream->opened, g_hash_table_unref);
  g_mutex_clear (&stream->lock);
  g_free (stream->fail_reason);
  g_free (stream->started_at);
  g_free (stream->live_dir);
  g_free (stream->rec_dir);
  g_free (stream->stream_id);
  g_free (stream->protocol);
  g_free (stream->remote);
  g_free (stream);
}

/* Keys are secrets: logs get their first characters only. */
static gchar *
mask_key (const gchar *key)
{
  return g_strdup_printf ("%.4s…", key != NULL ? key : "");
}

/* A stream id names a folder and a pipeline: nothing that walks paths. */
static gboolean
stream_id_is_safe (const gchar *id)
{
  if (id == NULL || *id == '\0' || strlen (id) > 128)
    return FALSE;
  for (const gchar *p = id; *p; p++)
    if (!g_ascii_isalnum (*p) && *p != '-' && *p != '_')
      return FALSE;
  return TRUE;
}

/* ---- admission (ingest servers' threads) ---- */

static gboolean
decide (WeLiveGst *self, const gchar *protocol, const gchar *key, const gchar *remote,
        gchar **passphrase)
{
  WePublishAttempt attempt = { NULL, key, remote, protocol };
  WePublishDecision decision = { 0 };
  WePublishDeciderFunc decider;
  WePublishDecisionFunc policy;
  gpointer data;
  g_autofree gchar *masked = mask_key (key);

  g_mutex_lock (&self->lock);
  decider = self->decider;
  policy = self->policy;
  data = decider != NULL ? self->decider_data : self->policy_data;
  g_mutex_unlock (&self->lock);

  /* the host's answer may take a store look-up: we are on the server's
   * thread, which is what it is for */
  if (decider != NULL) {
    decider (&attempt, &decision, data);
  } else if (policy != NULL && policy (&attempt, data)) {
    /* the early interface has no stream id: derive one that does not
     * reveal the key */
    decision.accept = TRUE;
    decision.stream_id = g_compute_checksum_for_string (G_CHECKSUM_SHA256, key, -1);
    decision.stream_id[16] = '\0';
  }
  if (decision.accept && !stream_id_is_safe (decision.stream_id)) {
    g_warning ("refusing %s publish %s from %s: the decider gave an unusable stream id",
               protocol, masked, remote);
    decision.accept = FALSE;
  }
  if (!decision.accept) {
    g_message ("refused %s publish %s from %s%s%s", protocol, masked, remote,
               decision.reason ? ": " : "", decision.reason ? decision.reason : "");
  } else {
    Admission *admission = g_new0 (Admission, 1);

    admission->stream_id = g_strdup (decision.stream_id);
    admission->passphrase = g_strdup (decision.passphrase);
    g_mutex_lock (&self->lock);
    g_hash_table_replace (self->admitted, g_strdup_printf ("%s:%s", protocol, key), admission);
    g_mutex_unlock (&self->lock);
    if (passphrase != NULL)
      *passphrase = g_strdup (decision.passphrase);
  }
  g_free (decision.stream_id);
  if (decision.passphrase != NULL)
    memset (decision.passphrase, 0, strlen (decision.passphrase));
  g_free (decision.passphrase);
  g_free (decision.reason);
  return decision.accept;
}

static gboolean
on_rtmp_attempt (WeRtmpServer *server, const gchar *app, const gchar *key, const gchar *remote,
                 gpointer user_data)
{
  return decide (WE_LIVE_GST (user_data), "rtmp", key, remote, NULL);
}

static gboolean
on_srt_attempt (WeSrtServer *server, const gchar *key, const gchar *remote, GstStructure *reply,
                gpointer user_data)
{
  g_autofree gchar *passphrase = NULL;

  if (!decide (WE_LIVE_GST (user_data), "srt", key, remote, &passphrase))
    return FALSE;
  if (passphrase != NULL && *passphrase != '\0')
    gst_structure_set (reply, "passphrase", G_TYPE_STRING, passphrase, NULL);
  if (passphrase != NULL)
    memset (passphrase, 0, strlen (passphrase));
  return TRUE;
}

/* ---- the pipeline ---- */

static GstPadProbeReturn
count_probe (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  LiveStream *stream = user_data;
  gboolean video = GPOINTER_TO_INT (g_object_get_data (G_OBJECT (pad), "we-video"));
  GstBuffer *buffer;
  GstClockTime pts, rt;

  if (info->type & GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM) {
    GstEvent *event = GST_PAD_PROBE_INFO_EVENT (info);

    if (GST_EVENT_TYPE (event) == GST_EVENT_SEGMENT) {
      g_mutex_lock (&stream->lock);
      gst_event_copy_segment (event, &stream->segment[video]);
      g_mutex_unlock (&stream->lock);
    }
    /* a takeover continues the same stream downstream */
    if (GST_EVENT_TYPE (event) == GST_EVENT_STREAM_START &&
        g_object_get_data (G_OBJECT (pad), "we-takeover") != NULL)
      return GST_PAD_PROBE_DROP;
    return GST_PAD_PROBE_OK;
  }
  buffer = GST_PAD_PROBE_INFO_BUFFER (info);
  pts = GST_BUFFER_PTS (buffer);

  g_mutex_lock (&stream->lock);
  if (GST_CLOCK_TIME_IS_VALID (pts) && stream->segment[video].format == GST_FORMAT_TIME) {
    rt = gst_segment_to_running_time (&stream->segment[video], GST_FORMAT_TIME, pts);
    /* (the segment seen here already carries the pad offset) */
    if (GST_CLOCK_TIME_IS_VALID (rt)) {
      if (GST_BUFFER_DURATION_IS_VALID (buffer))
        rt += GST_BUFFER_DURATION (buffer);
      stream->max_rt_end = MAX (stream->max_rt_end, rt);
    }
  }
  if (stream->first_media_us == 0)
    stream->first_media_us = g_get_monotonic_time ();
  if (video) {
    stream->video_bytes += gst_buffer_get_size (buffer);
    stream->video_frames++;
    if (GST_CLOCK_TIME_IS_VALID (pts))
      stream->last_video_pts = pts;
    if (!GST_BUFFER_FLAG_IS_SET (buffer, GST_BUFFER_FLAG_DELTA_UNIT)) {
      if (GST_CLOCK_TIME_IS_VALID (pts) && GST_CLOCK_TIME_IS_VALID (stream->last_key_pts) &&
          pts > stream->last_key_pts)
        stream->key_interval_s = (gdouble) (pts - stream->last_key_pts) / GST_SECOND;
      stream->last_key_pts = pts;
      stream->keyframes++;
    }
  } else {
    stream->audio_bytes += gst_buffer_get_size (buffer);
    stream->audio_frames++;
    if (GST_CLOCK_TIME_IS_VALID (pts))
      stream->last_audio_pts = pts;
  }
  g_mutex_unlock (&stream->lock);
  return GST_PAD_PROBE_OK;
}

static void
fail (LiveStream *stream, gchar *reason)
{
  g_mutex_lock (&stream->lock);
  if (stream->fail_reason == NULL)
    stream->fail_reason = reason;
  else
    g_free (reason);
  g_mutex_unlock (&stream->lock);
}

/* a demuxer's elementary stream: H.264 and AAC pass through, the rest is
 * refused (we do not transcode live) */
static void
on_pad_added (GstElement *demux, GstPad *pad, gpointer user_data)
{
  LiveStream *stream = user_data;
  g_autoptr(GstCaps) caps = gst_pad_get_current_caps (pad);
  GstStructure *s;
  const gchar *name;
  gboolean video;
  gint mpegversion = 0;
  GstElement *parse;
  GstPad *sink, *src;

  if (caps == NULL)
    caps = gst_pad_query_caps (pad, NULL);
  s = gst_caps_get_structure (caps, 0);
  name = gst_structure_get_name (s);
  gst_structure_get_int (s, "mpegversion", &mpegversion);
  if (g_str_equal (name, "video/x-h264")) {
    video = TRUE;
  } else if (g_str_equal (name, "audio/mpeg") && (mpegversion == 4 || mpegversion == 2)) {
    video = FALSE;
  } else {
    g_autofree gchar *desc = gst_caps_to_string (caps);

    fail (stream, g_strdup_printf ("unsupported codec %s (H.264 video and AAC audio only)",
                                   name));
    g_message ("stream %s: unsupported codec %s", stream->stream_id, desc);
    return;
  }

  parse = gst_element_factory_make (video ? "h264parse" : "aacparse", NULL);
  if (video)
    g_object_set (parse, "config-interval", -1, NULL);
  gst_bin_add (GST_BIN (stream->pipeline), parse);
  stream->parse[video] = parse;
  src = gst_element_get_static_pad (parse, "src");
  g_object_set_data (G_OBJECT (src), "we-video", GINT_TO_POINTER (video));
  gst_pad_add_probe (src, GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM,
                     count_probe, stream, NULL);
  if (stream->chains > 1) {
    /* a new publisher of a running stream: its timestamps start again, the
     * pad offset puts them after everything sent so far */
    g_object_set_data (G_OBJECT (src), "we-takeover", GINT_TO_POINTER (TRUE));
    gst_pad_set_offset (src, (gint64) stream->offset);
  }
  g_mutex_lock (&stream->lock);
  stream->has_track[video] = TRUE;
  g_mutex_unlock (&stream->lock);
  sink = gst_element_get_static_pad (stream->tee[video], "sink");
  if (gst_pad_link (src, sink) != GST_PAD_LINK_OK)
    fail (stream, g_strdup ("internal error: cannot link the new publisher"));
  gst_object_unref (sink);
  gst_object_unref (src);
  gst_element_sync_state_with_parent (parse);
  sink = gst_element_get_static_pad (parse, "sink");
  if (gst_pad_link (pad, sink) != GST_PAD_LINK_OK)
    fail (stream, g_strdup ("internal error: cannot link the demuxer"));
  gst_object_unref (sink);
}

/* A publisher without audio (or video). The live HLS and the recording
 * are made with both tracks before the first media (requesting muxer pads
 * of running sinks races with their streaming threads), and a track that
 * never comes would hold the muxers forever: such a stream is refused
 * with a reason instead. Once per stream, from the demuxer's no-more-pads
 * or, since flvdemux does not always emit it, a moment after the first
 * media. */
static void
end_missing_tracks (LiveStream *stream)
{
  gboolean settled;
  gboolean missing[2];

  g_mutex_lock (&stream->lock);
  settled = stream->tracks_settled;
  stream->tracks_settled = TRUE;
  missing[0] = !stream->has_track[0];
  missing[1] = !stream->has_track[1];
  g_mutex_unlock (&stream->lock);
  if (settled || (!missing[0] && !missing[1]))
    return;
  fail (stream, g_strdup_printf ("unsupported stream: no %s track (H.264 video and AAC audio "
                                 "are both required)", missing[1] ? "video" : "audio"));
}

static void
on_no_more_pads (GstElement *demux, gpointer user_data)
{
  LiveStream *stream = user_data;

  if (stream->chains == 1)
    end_missing_tracks (stream);
}

/* tee ! queue ! hlssink2 and tee ! queue ! splitmuxsink for one track, all
 * made before the pipeline runs: requesting muxer pads of running sinks
 * races with their streaming threads */
static gboolean
add_track (LiveStream *stream, gboolean video)
{
  GstElement *tee = gst_element_factory_make ("tee", NULL);
  GstElement *q_hls = gst_element_factory_make ("queue", NULL);
  GstElement *q_rec = gst_element_factory_make ("queue", NULL);
  g_autoptr(GstPad) hls_pad = NULL, rec_pad = NULL, hls_src = NULL, rec_src = NULL;

  stream->tee[video] = tee;
  gst_bin_add_many (GST_BIN (stream->pipeline), tee, q_hls, q_rec, NULL);
  if (!gst_element_link (tee, q_hls) || !gst_element_link (tee, q_rec))
    return FALSE;
  hls_pad = gst_element_request_pad_simple (stream->hls, video ? "video" : "audio");
  rec_pad = gst_element_request_pad_simple (stream->rec, video ? "video" : "audio_%u");
  hls_src = gst_element_get_static_pad (q_hls, "src");
  rec_src = gst_element_get_static_pad (q_rec, "src");
  return hls_pad != NULL && rec_pad != NULL &&
         gst_pad_link (hls_src, hls_pad) == GST_PAD_LINK_OK &&
         gst_pad_link (rec_src, rec_pad) == GST_PAD_LINK_OK;
}

/* the publisher's part: appsrc ! flvdemux|tsdemux (parsers on pad-added) */
static gboolean
add_chain (LiveStream *stream, GError **error)
{
  stream->appsrc = gst_element_factory_make ("appsrc", NULL);
  stream->demux = gst_element_factory_make (stream->rtmp != NULL ? "flvdemux" : "tsdemux", NULL);
  if (stream->appsrc == NULL || stream->demux == NULL) {
    g_clear_object (&stream->appsrc);
    g_clear_object (&stream->demux);
    g_set_error (error, WE_ERROR, WE_ERROR_STR_INGEST_UNAVAILABLE,
                 "GStreamer elements missing (appsrc, flvdemux, tsdemux)");
    return FALSE;
  }
  /* the publisher's own pace: bytes go in as they arrive, the demuxer's
   * timestamps are passed through */
  g_object_set (stream->appsrc, "is-live", TRUE, "format", GST_FORMAT_BYTES, "block", TRUE,
                "max-bytes", (guint64) 8 << 20, NULL);
  gst_bin_add_many (GST_BIN (stream->pipeline), stream->appsrc, stream->demux, NULL);
  gst_element_link (stream->appsrc, stream->demux);
  g_signal_connect (stream->demux, "pad-added", G_CALLBACK (on_pad_added), stream);
  g_signal_connect (stream->demux, "no-more-pads", G_CALLBACK (on_no_more_pads), stream);
  stream->chains++;
  return TRUE;
}

/* Unplugs the previous publisher's chain; the tees and sinks stay. */
static void
remove_chain (LiveStream *stream)
{
  GstElement *elements[] = { stream->appsrc, stream->demux, stream->parse[0], stream->parse[1] };

  for (guint i = 0; i < G_N_ELEMENTS (elements); i++) {
    if (elements[i] == NULL)
      continue;
    gst_element_set_locked_state (elements[i], TRUE);
    gst_element_set_state (elements[i], GST_STATE_NULL);
  }
  for (guint v = 0; v < 2; v++) {
    if (stream->parse[v] != NULL) {
      g_autoptr(GstPad) src = gst_element_get_static_pad (stream->parse[v], "src");
      g_autoptr(GstPad) peer = gst_pad_get_peer (src);

      if (peer != NULL)
        gst_pad_unlink (src, peer);
    }
  }
  for (guint i = 0; i < G_N_ELEMENTS (elements); i++)
    if (elements[i] != NULL)
      gst_bin_remove (GST_BIN (stream->pipeline), elements[i]);
  stream->appsrc = stream->demux = stream->parse[0] = stream->parse[1] = NULL;
}

static gboolean
build_pipeline (LiveStream *stream, GError **error)
{
  WeLiveGst *self = stream->engine;
  g_autofree gchar *name = g_strdup_printf ("live-%s", stream->stream_id);
  g_autofree gchar *segment = g_build_filename (stream->live_dir, "segment%05d.ts", NULL);
  g_autofree gchar *playlist = g_build_filename (stream->live_dir, "index.m3u8", NULL);
  g_autofree gchar *fragment = g_build_filename (stream->rec_dir, "part%05d.ts", NULL);
  GstElement *mux;

  stream->pipeline = gst_pipeline_new (name);
  stream->hls = gst_element_factory_make ("hlssink2", NULL);
  stream->rec = gst_element_factory_make ("splitmuxsink", NULL);
  mux = gst_element_factory_make ("mpegtsmux", NULL);
  if (stream->hls == NULL || stream->rec == NULL || mux == NULL) {
    g_clear_object (&stream->hls);
    g_clear_object (&stream->rec);
    g_clear_object (&mux);
    g_set_error (error, WE_ERROR, WE_ERROR_STR_INGEST_UNAVAILABLE,
                 "GStreamer elements missing (hlssink2, splitmuxsink, mpegtsmux)");
    return FALSE;
  }
  /* segments are cut at the first keyframe after segment_s: nothing is
   * re-encoded, so the publisher's GOP decides their length */
  g_object_set (stream->hls, "location", segment, "playlist-location", playlist,
                "target-duration", self->segment_s, "playlist-length", self->playlist_length,
                "max-files", self->playlist_length + 4, "send-keyframe-requests", FALSE, NULL);
  g_object_set (stream->rec, "location", fragment, "muxer", mux,
                "max-size-time", (guint64) RECORDING_FRAGMENT_S * GST_SECOND,
                "send-keyframe-requests", FALSE, NULL);
  gst_bin_add_many (GST_BIN (stream->pipeline), stream->hls, stream->rec, NULL);
  if (!add_track (stream, FALSE) || !add_track (stream, TRUE)) {
    g_set_error (error, WE_ERROR, WE_ERROR_STR_INGEST_UNAVAILABLE,
                 "the live HLS and recording sinks take no H.264 and AAC tracks");
    return FALSE;
  }
  if (!add_chain (stream, error))
    return FALSE;
  if (gst_element_set_state (stream->pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    g_set_error (error, WE_ERROR, WE_ERROR_STR_INGEST_UNAVAILABLE,
                 "the pipeline of stream %s does not start", stream->stream_id);
    return FALSE;
  }
  return TRUE;
}

/* ---- recording manifest ---- */

static void
write_manifest (LiveStream *stream, const gchar *ended_at, const gchar *reason)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonGenerator) gen = json_generator_new ();
  g_autoptr(JsonNode) root = NULL;
  g_autofree gchar *path = g_build_filename (stream->rec_dir, "recording.json", NULL);
  g_autofree gchar *text = NULL;
  g_autoptr(GError) error = NULL;
  gdouble total = 0;
  guint n = json_array_get_length (stream->segments);

  for (guint i = 0; i < n; i++)
    total += json_object_get_double_member (json_array_get_object_element (stream->segments, i),
                                            "duration_s");
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "stream_id");
  json_builder_add_string_value (builder, stream->stream_id);
  json_builder_set_member_name (builder, "protocol");
  json_builder_add_string_value (builder, stream->protocol);
  json_builder_set_member_name (builder, "started_at");
  json_builder_add_string_value (builder, stream->started_at);
  json_builder_set_member_name (builder, "ended_at");
  if (ended_at != NULL)
    json_builder_add_string_value (builder, ended_at);
  else
    json_builder_add_null_value (builder);
  json_builder_set_member_name (builder, "end_reason");
  if (reason != NULL)
    json_builder_add_string_value (builder, reason);
  else
    json_builder_add_null_value (builder);
  json_builder_set_member_name (builder, "complete");
  json_builder_add_boolean_value (builder, ended_at != NULL);
  json_builder_set_member_name (builder, "duration_s");
  json_builder_add_double_value (builder, total);
  json_builder_set_member_name (builder, "segments");
  json_builder_add_value (builder, json_node_init_array (json_node_alloc (), stream->segments));
  json_builder_end_object (builder);
  root = json_builder_get_root (builder);
  json_generator_set_root (gen, root);
  json_generator_set_pretty (gen, TRUE);
  text = json_generator_to_data (gen, NULL);
  /* atomic replace: a kill at any moment leaves the previous version */
  if (!g_file_set_contents (path, text, -1, &error))
    g_warning ("stream %s: cannot write %s: %s", stream->stream_id, path, error->message);
}

static JsonObject *
find_segment (LiveStream *stream, const gchar *file)
{
  guint n = json_array_get_length (stream->segments);

  for (guint i = 0; i < n; i++) {
    JsonObject *seg = json_array_get_object_element (stream->segments, i);

    if (g_str_equal (json_object_get_string_member (seg, "file"), file))
      return seg;
  }
  return NULL;
}

/* splitmuxsink's fragment-opened/-closed: the manifest lists a fragment
 * from its opening on, so a kill leaves even the open one listed (MPEG-TS
 * plays up to wherever it was cut) */
static void
on_fragment (LiveStream *stream, const GstStructure *s)
{
  const gchar *location = gst_structure_get_string (s, "location");
  GstClockTime rt = GST_CLOCK_TIME_NONE;
  g_autofree gchar *file = NULL;
  JsonObject *seg;

  if (location == NULL || !gst_structure_get_clock_time (s, "running-time", &rt))
    return;
  file = g_path_get_basename (location);
  seg = find_segment (stream, file);
  if (gst_structure_has_name (s, "splitmuxsink-fragment-opened")) {
    if (seg == NULL) {
      seg = json_object_new ();
      json_object_set_string_member (seg, "file", file);
      json_object_set_double_member (seg, "start_s", (gdouble) rt / GST_SECOND);
      json_object_set_double_member (seg, "duration_s", 0);
      json_object_set_boolean_member (seg, "closed", FALSE);
      json_array_add_object_element (stream->segments, seg);
    }
  } else if (seg != NULL) {
    gdouble start = json_object_get_double_member (seg, "start_s");

    json_object_set_double_member (seg, "duration_s", MAX (0, (gdouble) rt / GST_SECOND - start));
    json_object_set_boolean_member (seg, "closed", TRUE);
  }
  write_manifest (stream, NULL, NULL);
}

/* ---- telemetry ---- */

static void
emit_telemetry (LiveStream *stream, gdouble seconds)
{
  JsonObject *sample = json_object_new ();
  guint64 vb, ab, vf;
  GstClockTime va, aa;
  gdouble key_interval;

  g_mutex_lock (&stream->lock);
  vb = stream->video_bytes;
  ab = stream->audio_bytes;
  vf = stream->video_frames;
  va = stream->last_video_pts;
  aa = stream->last_audio_pts;
  key_interval = stream->key_interval_s;
  g_mutex_unlock (&stream->lock);

  json_object_set_string_member (sample, "stream_id", stream->stream_id);
  json_object_set_string_member (sample, "protocol", stream->protocol);
  json_object_set_int_member (sample, "time_ms", g_get_real_time () / 1000);
  json_object_set_double_member (sample, "video_bitrate_kbps",
                                 (vb - stream->prev_video_bytes) * 8 / 1000.0 / seconds);
  json_object_set_double_member (sample, "audio_bitrate_kbps",
                                 (ab - stream->prev_audio_bytes) * 8 / 1000.0 / seconds);
  json_object_set_double_member (sample, "fps", (vf - stream->prev_video_frames) / seconds);
  json_object_set_double_member (sample, "keyframe_interval_s", key_interval);
  if (GST_CLOCK_TIME_IS_VALID (va) && GST_CLOCK_TIME_IS_VALID (aa))
    json_object_set_double_member (sample, "av_offset_ms",
                                   ((gdouble) aa - (gdouble) va) / GST_MSECOND);
  else
    json_object_set_null_member (sample, "av_offset_ms");
  stream->prev_video_bytes = vb;
  stream->prev_audio_bytes = ab;
  stream->prev_video_frames = vf;

  if (stream->srt != NULL) {
    g_autoptr(GstStructure) stats = we_srt_session_get_stats (stream->srt);
    gdouble rtt = 0;
    gint64 lost = 0, dropped = 0;

    if (stats != NULL) {
      gst_structure_get_double (stats, "rtt-ms", &rtt);
      gst_structure_get_int64 (stats, "packets-lost", &lost);
      gst_structure_get_int64 (stats, "packets-dropped", &dropped);
    }
    json_object_set_double_member (sample, "srt_rtt_ms", rtt);
    json_object_set_int_member (sample, "srt_packets_lost", lost);
    json_object_set_int_member (sample, "srt_packets_dropped", dropped);
  }
  g_signal_emit_by_name (stream->engine, "telemetry", stream->stream_id, sample);
  json_object_unref (sample);
}

/* ---- the pump thread ---- */

static GBytes *
pop (LiveStream *stream, gboolean *ended, gchar **end_reason)
{
  *ended = FALSE;
  if (stream->rtmp != NULL) {
    GBytes *bytes = we_rtmp_session_pop (stream->rtmp, 100 * 1000, NULL, ended);

    if (bytes == NULL && *ended) {
      const gchar *message = NULL;

      switch (we_rtmp_session_get_end_reason (stream->rtmp, &message)) {
      case WE_RTMP_END_UNPUBLISHED:
        *end_reason = g_strdup ("unpublished");
        break;
      case WE_RTMP_END_CLOSED:
        *end_reason = g_strdup ("disconnected");
        break;
      default:
        *end_reason = g_strdup_printf ("error: %s", message ? message : "unknown");
        break;
      }
    }
    return bytes;
  } else {
    g_autoptr(GError) error = NULL;
    GBytes *bytes = we_srt_session_pop (stream->srt, 100 * 1000, NULL, &error);

    if (bytes == NULL && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CLOSED)) {
      *ended = TRUE;
      *end_reason = g_strdup (error->message);
    }
    return bytes;
  }
}

static gchar *
now_iso8601 (void)
{
  g_autoptr(GDateTime) now = g_date_time_new_now_utc ();

  return g_date_time_format_iso8601 (now);
}

/* Switches to a publisher handed over by start_stream(), if there is one:
 * the old one is sent away, its chain unplugged, the new chain continues
 * the same tees (HLS and recording) after the latest running time. */
static gboolean
take_over (LiveStream *stream)
{
  WeLiveGst *self = stream->engine;
  WeRtmpSession *rtmp;
  WeSrtSession *srt;
  gchar *remote;
  g_autoptr(GError) error = NULL;

  g_mutex_lock (&self->lock);
  rtmp = g_steal_pointer (&stream->next_rtmp);
  srt = g_steal_pointer (&stream->next_srt);
  remote = g_steal_pointer (&stream->next_remote);
  g_mutex_unlock (&self->lock);
  if (rtmp == NULL && srt == NULL)
    return FALSE;

  if (stream->rtmp != NULL)
    we_rtmp_session_abandon (stream->rtmp);
  if (stream->srt != NULL)
    we_srt_session_close (stream->srt);
  g_clear_object (&stream->rtmp);
  g_clear_object (&stream->srt);
  stream->rtmp = rtmp;
  stream->srt = srt;
  g_free (stream->remote);
  stream->remote = remote;
  g_free (stream->protocol);
  stream->protocol = g_strdup (rtmp != NULL ? "rtmp" : "srt");

  remove_chain (stream);
  g_mutex_lock (&stream->lock);
  /* one frame of room: the new publisher's first frame follows the last */
  stream->offset = stream->max_rt_end + 40 * GST_MSECOND;
  stream->last_video_pts = stream->last_audio_pts = stream->last_key_pts = GST_CLOCK_TIME_NONE;
  gst_segment_init (&stream->segment[0], GST_FORMAT_UNDEFINED);
  gst_segment_init (&stream->segment[1], GST_FORMAT_UNDEFINED);
  g_mutex_unlock (&stream->lock);
  if (!add_chain (stream, &error)) {
    fail (stream, g_strdup_printf ("error: %s", error->message));
    return TRUE;
  }
  gst_element_sync_state_with_parent (stream->demux);
  gst_element_sync_state_with_parent (stream->appsrc);
  g_message ("stream %s: taken over by a new %s publisher", stream->stream_id, stream->protocol);
  g_signal_emit_by_name (self, "stream-started", stream->stream_id, stream->protocol,
                         stream->remote);
  return TRUE;
}

/* The publisher is gone: waits up to idle_timeout_s for the next one.
 * FALSE when none came (the stream ends); the engine's lock is held from
 * the decision on, so start_stream() either hands over or starts anew. */
static gboolean
linger (LiveStream *stream)
{
  WeLiveGst *self = stream->engine;
  gint64 deadline = g_get_monotonic_time () + self->idle_timeout_s * G_USEC_PER_SEC;
  gboolean next = FALSE;

  g_mutex_lock (&self->lock);
  while (!g_atomic_int_get (&stream->stopping)) {
    next = stream->next_rtmp != NULL || stream->next_srt != NULL;
    if (next || g_get_monotonic_time () >= deadline)
      break;
    g_cond_wait_until (&self->cond, &self->lock,
                       MIN (deadline, g_get_monotonic_time () + 100 * 1000));
  }
  if (!next && g_hash_table_lookup (self->streams, stream->stream_id) == stream)
    g_hash_table_remove (self->streams, stream->stream_id);
  g_mutex_unlock (&self->lock);
  return next;
}

static gpointer
pump_thread (gpointer data)
{
  LiveStream *stream = data;
  WeLiveGst *self = stream->engine;
  g_autoptr(GstBus) bus = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *reason = NULL;
  g_autofree gchar *ended_at = NULL;
  gboolean drain = TRUE;
  gint64 last_telemetry = 0;

  if (!build_pipeline (stream, &error)) {
    reason = g_strdup_printf ("error: %s", error->message);
    drain = FALSE;
    goto out;
  }
  bus = gst_element_get_bus (stream->pipeline);
  g_signal_emit_by_name (self, "stream-started", stream->stream_id, stream->protocol,
                         stream->remote);

  while (reason == NULL) {
    gboolean ended = FALSE;
    g_autoptr(GBytes) bytes = NULL;
    GstMessage *msg;
    gint64 now, first;

    if (g_atomic_int_get (&stream->stopping)) {
      reason = g_strdup ("stopped");
      break;
    }
    if (take_over (stream))
      continue;
    bytes = pop (stream, &ended, &reason);
    /* the publisher left, failed or was sent away by a takeover: the
     * pipeline waits for the next one (an SRT timeout has waited that
     * long already) */
    if (ended && !(stream->srt != NULL && g_strcmp0 (reason, WE_SRT_END_TIMEOUT) == 0) &&
        linger (stream)) {
      g_clear_pointer (&reason, g_free);
      continue;
    }
    /* a refusal (the pipeline failed) shows on the bus below */
    if (bytes != NULL)
      (void) gst_app_src_push_buffer (GST_APP_SRC (stream->appsrc),
                                      gst_buffer_new_wrapped_bytes (bytes));
    while ((msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR | GST_MESSAGE_ELEMENT)) != NULL) {
      if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR && reason == NULL) {
        g_autoptr(GError) gerror = NULL;

        gst_message_parse_error (msg, &gerror, NULL);
        reason = g_strdup_printf ("error: %s", gerror->message);
        drain = FALSE;
      } else if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ELEMENT &&
                 gst_message_get_structure (msg) != NULL) {
        on_fragment (stream, gst_message_get_structure (msg));
      }
      gst_message_unref (msg);
    }
    g_mutex_lock (&stream->lock);
    if (stream->fail_reason != NULL) {
      g_free (reason);
      reason = g_strdup (stream->fail_reason);
      drain = FALSE;
    }
    first = stream->first_media_us;
    g_mutex_unlock (&stream->lock);

    now = g_get_monotonic_time ();
    if (first != 0 && now - first > 1500 * 1000)
      end_missing_tracks (stream);
    if (first != 0 && now - MAX (first, last_telemetry) >= G_USEC_PER_SEC) {
      emit_telemetry (stream, (now - MAX (first, last_telemetry)) / (gdouble) G_USEC_PER_SEC);
      last_telemetry = now;
    }
  }

out:
  /* no more takeovers from here on: a publisher handed over meanwhile is
   * sent away (it reconnects into a new pipeline) */
  g_mutex_lock (&self->lock);
  if (g_hash_table_lookup (self->streams, stream->stream_id) == stream)
    g_hash_table_remove (self->streams, stream->stream_id);
  if (stream->next_rtmp != NULL)
    we_rtmp_session_abandon (stream->next_rtmp);
  if (stream->next_srt != NULL)
    we_srt_session_close (stream->next_srt);
  g_mutex_unlock (&self->lock);
  /* the publisher is done or being sent away: close its connection first,
   * then finalize what it sent */
  if (stream->rtmp != NULL)
    we_rtmp_session_abandon (stream->rtmp);
  if (stream->srt != NULL)
    we_srt_session_close (stream->srt);
  if (stream->pipeline != NULL) {
    if (drain) {
      gint64 deadline = g_get_monotonic_time () + EOS_WAIT_US;

      gst_app_src_end_of_stream (GST_APP_SRC (stream->appsrc));
      while (g_get_monotonic_time () < deadline) {
        g_autoptr(GstMessage) msg = gst_bus_timed_pop_filtered (
          bus, (deadline - g_get_monotonic_time ()) * GST_USECOND,
          GST_MESSAGE_EOS | GST_MESSAGE_ERROR | GST_MESSAGE_ELEMENT);

        if (msg == NULL || GST_MESSAGE_TYPE (msg) != GST_MESSAGE_ELEMENT)
          break;
        if (gst_message_get_structure (msg) != NULL)
          on_fragment (stream, gst_message_get_structure (msg));
      }
    }
    gst_element_set_state (stream->pipeline, GST_STATE_NULL);
  }
  ended_at = now_iso8601 ();
  write_manifest (stream, ended_at, reason);
  g_message ("stream %s ended: %s", stream->stream_id, reason);
  g_signal_emit_by_name (self, "stream-ended", stream->stream_id, reason, stream->rec_dir);
  live_stream_free (stream);

  g_mutex_lock (&self->lock);
  self->threads--;
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
  return NULL;
}

static void
start_stream (WeLiveGst *self, const gchar *protocol, const gchar *key, const gchar *remote,
              WeRtmpSession *rtmp, WeSrtSession *srt)
{
  g_autofree gchar *slot = g_strdup_printf ("%s:%s", protocol, key);
  g_autoptr(GDateTime) now = g_date_time_new_now_utc ();
  g_autofree gchar *session = NULL;
  Admission *admission = NULL;
  LiveStream *stream, *old;
  gpointer stolen_key = NULL, stolen = NULL;
  GThread *thread;

  g_mutex_lock (&self->lock);
  if (g_hash_table_steal_extended (self->admitted, slot, &stolen_key, &stolen))
    admission = stolen;
  g_mutex_unlock (&self->lock);
  g_free (stolen_key);
  if (admission == NULL) {
    /* admitted by someone else (a key added to the server directly) */
    if (rtmp != NULL)
      we_rtmp_session_abandon (rtmp);
    else
      we_srt_session_close (srt);
    return;
  }

  /* the same stream again while its pipeline runs or lingers: the new
   * publisher takes over that pipeline (same HLS, same recording) */
  g_mutex_lock (&self->lock);
  old = g_hash_table_lookup (self->streams, admission->stream_id);
  if (old != NULL && !g_atomic_int_get (&old->stopping)) {
    if (old->next_rtmp != NULL)
      we_rtmp_session_abandon (old->next_rtmp);
    if (old->next_srt != NULL)
      we_srt_session_close (old->next_srt);
    g_clear_object (&old->next_rtmp);
    g_clear_object (&old->next_srt);
    g_free (old->next_remote);
    old->next_rtmp = rtmp != NULL ? g_object_ref (rtmp) : NULL;
    old->next_srt = srt != NULL ? g_object_ref (srt) : NULL;
    old->next_remote = g_strdup (remote);
    g_cond_broadcast (&self->cond);
    g_mutex_unlock (&self->lock);
    admission_free (admission);
    return;
  }
  g_mutex_unlock (&self->lock);

  stream = g_new0 (LiveStream, 1);
  stream->engine = self;
  stream->stream_id = g_steal_pointer (&admission->stream_id);
  admission_free (admission);
  stream->protocol = g_strdup (protocol);
  stream->remote = g_strdup (remote);
  stream->rtmp = rtmp != NULL ? g_object_ref (rtmp) : NULL;
  stream->srt = srt != NULL ? g_object_ref (srt) : NULL;
  g_mutex_init (&stream->lock);
  stream->last_video_pts = stream->last_audio_pts = stream->last_key_pts = GST_CLOCK_TIME_NONE;
  stream->segments = json_array_new ();
  stream->started_at = g_date_time_format_iso8601 (now);
  {
    g_autofree gchar *stamp = g_date_time_format (now, "%Y%m%dT%H%M%SZ");

    /* one folder per publish; the microseconds keep reconnects apart */
    session = g_strdup_printf ("%s-%06d", stamp, g_date_time_get_microsecond (now));
  }
  stream->live_dir = g_build_filename (self->output_dir, stream->stream_id, "live", NULL);
  stream->rec_dir = g_build_filename (self->output_dir, stream->stream_id, "rec", session, NULL);
  if (g_mkdir_with_parents (stream->live_dir, 0755) != 0 ||
      g_mkdir_with_parents (stream->rec_dir, 0755) != 0)
    g_warning ("stream %s: cannot create its folders under %s: %s", stream->stream_id,
               self->output_dir, g_strerror (errno));

  g_mutex_lock (&self->lock);
  g_hash_table_replace (self->streams, g_strdup (stream->stream_id), stream);
  self->threads++;
  g_mutex_unlock (&self->lock);

  thread = g_thread_new ("we-live", pump_thread, stream);
  g_thread_unref (thread);
}

static void
on_rtmp_started (WeRtmpServer *server, WeRtmpSession *session, gpointer user_data)
{
  start_stream (WE_LIVE_GST (user_data), "rtmp", we_rtmp_session_get_key (session),
                we_rtmp_session_get_remote_address (session), session, NULL);
}

static void
on_srt_started (WeSrtServer *server, WeSrtSession *session, gpointer user_data)
{
  start_stream (WE_LIVE_GST (user_data), "srt", we_srt_session_get_stream_key (session),
                we_srt_session_get_remote_address (session), NULL, session);
}

/* ---- WeLiveEngine ---- */

static gboolean
live_gst_start (WeLiveEngine *engine, GError **error)
{
  WeLiveGst *self = WE_LIVE_GST (engine);
  g_autoptr(GError) local = NULL;

  if (self->rtmp != NULL)
    return TRUE;
  if (g_mkdir_with_parents (self->output_dir, 0755) != 0) {
    g_set_error (error, WE_ERROR, WE_ERROR_STR_INGEST_UNAVAILABLE,
                 "cannot create the live output folder %s: %s", self->output_dir,
                 g_strerror (errno));
    return FALSE;
  }
  self->rtmp = we_rtmp_server_new (self->address, self->rtmp_port);
  /* a publisher reconnecting before its old connection timed out takes
   * over (SRT does the same, ending the old session "replaced") */
  g_object_set (self->rtmp, "allow-takeover", TRUE, NULL);
  g_signal_connect (self->rtmp, "publish-attempt", G_CALLBACK (on_rtmp_attempt), self);
  g_signal_connect (self->rtmp, "publish-started", G_CALLBACK (on_rtmp_started), self);
  if (!we_rtmp_server_start (self->rtmp, &local)) {
    g_set_error (error, WE_ERROR, WE_ERROR_STR_INGEST_UNAVAILABLE,
                 "RTMP ingest on %s:%u: %s", self->address, self->rtmp_port, local->message);
    g_clear_object (&self->rtmp);
    return FALSE;
  }
  self->srt = we_srt_server_new ();
  g_object_set (self->srt, "address", self->address, "port", self->srt_port,
                "idle-timeout", self->idle_timeout_s * 1000, NULL);
  g_signal_connect (self->srt, "publish-attempt", G_CALLBACK (on_srt_attempt), self);
  g_signal_connect (self->srt, "publish-started", G_CALLBACK (on_srt_started), self);
  if (!we_srt_server_start (self->srt, error)) {
    we_rtmp_server_stop (self->rtmp);
    g_clear_object (&self->rtmp);
    g_clear_object (&self->srt);
    return FALSE;
  }
  g_message ("live ingest: RTMP on %s:%u, SRT on %s:%u", self->address,
             we_rtmp_server_get_bound_port (self->rtmp), self->address,
             we_srt_server_get_bound_port (self->srt));
  return TRUE;
}

static void
live_gst_stop (WeLiveEngine *engine)
{
  WeLiveGst *self = WE_LIVE_GST (engine);
  GHashTableIter iter;
  gpointer value;

  g_mutex_lock (&self->lock);
  g_hash_table_iter_init (&iter, self->streams);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    g_atomic_int_set (&((LiveStream *) value)->stopping, 1);
  /* each stream drains its recording (bounded by EOS_WAIT_US) */
  while (self->threads > 0)
    g_cond_wait (&self->cond, &self->lock);
  g_mutex_unlock (&self->lock);
  if (self->rtmp != NULL) {
    g_signal_handlers_disconnect_by_data (self->rtmp, self);
    we_rtmp_server_stop (self->rtmp);
    g_clear_object (&self->rtmp);
  }
  if (self->srt != NULL) {
    g_signal_handlers_disconnect_by_data (self->srt, self);
    we_srt_server_stop (self->srt);
    g_clear_object (&self->srt);
  }
}

/* The early per-stream call: the listeners are the engine's, so this only
 * makes sure they run. */
static gboolean
live_gst_start_ingest (WeLiveEngine *engine, const WeIngestConfig *config, GError **error)
{
  return live_gst_start (engine, error);
}

static gboolean
live_gst_stop_ingest (WeLiveEngine *engine, const gchar *stream_id, GError **error)
{
  WeLiveGst *self = WE_LIVE_GST (engine);
  LiveStream *stream;

  g_mutex_lock (&self->lock);
  stream = g_hash_table_lookup (self->streams, stream_id);
  if (stream != NULL)
    g_atomic_int_set (&stream->stopping, 1);
  g_mutex_unlock (&self->lock);
  if (stream == NULL) {
    g_set_error (error, WE_ERROR, WE_ERROR_STR_NOT_FOUND, "stream %s is not live", stream_id);
    return FALSE;
  }
  return TRUE;
}

static void
live_gst_set_publish_policy (WeLiveEngine *engine, WePublishDecisionFunc func, gpointer user_data,
                             GDestroyNotify notify)
{
  WeLiveGst *self = WE_LIVE_GST (engine);
  gpointer old_data;
  GDestroyNotify old_notify;

  g_mutex_lock (&self->lock);
  old_data = self->policy_data;
  old_notify = self->policy_notify;
  self->policy = func;
  self->policy_data = user_data;
  self->policy_notify = notify;
  g_mutex_unlock (&self->lock);
  if (old_notify != NULL)
    old_notify (old_data);
}

static void
live_gst_set_publish_decider (WeLiveEngine *engine, WePublishDeciderFunc func,
                              gpointer user_data, GDestroyNotify notify)
{
  WeLiveGst *self = WE_LIVE_GST (engine);
  gpointer old_data;
  GDestroyNotify old_notify;

  g_mutex_lock (&self->lock);
  old_data = self->decider_data;
  old_notify = self->decider_notify;
  self->decider = func;
  self->decider_data = user_data;
  self->decider_notify = notify;
  g_mutex_unlock (&self->lock);
  if (old_notify != NULL)
    old_notify (old_data);
}

static guint
live_gst_get_port (WeLiveEngine *engine, const gchar *protocol)
{
  WeLiveGst *self = WE_LIVE_GST (engine);

  if (g_strcmp0 (protocol, "rtmp") == 0 && self->rtmp != NULL)
    return we_rtmp_server_get_bound_port (self->rtmp);
  if (g_strcmp0 (protocol, "srt") == 0 && self->srt != NULL)
    return we_srt_server_get_bound_port (self->srt);
  return 0;
}

static void
we_live_gst_iface_init (WeLiveEngineInterface *iface)
{
  iface->start_ingest = live_gst_start_ingest;
  iface->set_publish_policy = live_gst_set_publish_policy;
  iface->stop_ingest = live_gst_stop_ingest;
  iface->start = live_gst_start;
  iface->stop = live_gst_stop;
  iface->set_publish_decider = live_gst_set_publish_decider;
  iface->get_port = live_gst_get_port;
}

static void
we_live_gst_dispose (GObject *object)
{
  WeLiveGst *self = WE_LIVE_GST (object);

  live_gst_stop (WE_LIVE_ENGINE (self));
  live_gst_set_publish_decider (WE_LIVE_ENGINE (self), NULL, NULL, NULL);
  live_gst_set_publish_policy (WE_LIVE_ENGINE (self), NULL, NULL, NULL);
  G_OBJECT_CLASS (we_live_gst_parent_class)->dispose (object);
}

static void
we_live_gst_finalize (GObject *object)
{
  WeLiveGst *self = WE_LIVE_GST (object);

  g_hash_table_unref (self->admitted);
  g_hash_table_unref (self->streams);
  g_mutex_clear (&self->lock);
  g_cond_clear (&self->cond);
  g_free (self->address);
  g_free (self->output_dir);
  G_OBJECT_CLASS (we_live_gst_parent_class)->finalize (object);
}

static void
we_live_gst_class_init (WeLiveGstClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = we_live_gst_dispose;
  object_class->finalize = we_live_gst_finalize;
}

static void
we_live_gst_init (WeLiveGst *self)
{
  g_mutex_init (&self->lock);
  g_cond_init (&self->cond);
  self->admitted = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, admission_free);
  self->streams = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
}

static gboolean
get_port (JsonObject *config, const gchar *key, gint64 fallback, guint *port, GError **error)
{
  gint64 value = we_plugin_config_get_int (config, key, fallback);

  if (value < 0 || value > 65535) {
    g_set_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG, "%s must be 0..65535", key);
    return FALSE;
  }
  *port = (guint) value;
  return TRUE;
}

static GObject *
live_gst_create (JsonObject *config, GError **error)
{
  g_autoptr(WeLiveGst) self = NULL;
  g_autoptr(GError) gst_error = NULL;
  const gchar *output_dir;
  gint64 segment_s, playlist_length, idle;

  if (!gst_is_initialized () && !gst_init_check (NULL, NULL, &gst_error)) {
    g_set_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG, "GStreamer: %s",
                 gst_error->message);
    return NULL;
  }
  self = g_object_new (WE_TYPE_LIVE_GST, NULL);
  self->address = g_strdup (we_plugin_config_get_string (config, "address", "0.0.0.0"));
  if (!get_port (config, "rtmp_port", DEFAULT_RTMP_PORT, &self->rtmp_port, error) ||
      !get_port (config, "srt_port", DEFAULT_SRT_PORT, &self->srt_port, error))
    return NULL;
  output_dir = we_plugin_config_get_string (config, "output_dir", NULL);
  if (output_dir == NULL || !g_path_is_absolute (output_dir)) {
    g_set_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                 "output_dir must be an absolute path");
    return NULL;
  }
  self->output_dir = g_strdup (output_dir);
  segment_s = we_plugin_config_get_int (config, "segment_s", DEFAULT_SEGMENT_S);
  playlist_length = we_plugin_config_get_int (config, "playlist_length", DEFAULT_PLAYLIST_LENGTH);
  idle = we_plugin_config_get_int (config, "idle_timeout_s", DEFAULT_IDLE_TIMEOUT_S);
  if (segment_s < 1 || segment_s > 30 || playlist_length < 2 || playlist_length > 100 ||
      idle < 1 || idle > 3600) {
    g_set_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                 "segment_s must be 1..30, playlist_length 2..100, idle_timeout_s 1..3600");
    return NULL;
  }
  self->segment_s = segment_s;
  self->playlist_length = playlist_length;
  self->idle_timeout_s = idle;
  return G_OBJECT (g_steal_pointer (&self));
}

static const gchar *const config_keys[] = {
  "rtmp_port", "srt_port", "address", "output_dir", "segment_s", "playlist_length",
  "idle_timeout_s", NULL,
};

static const WePluginDescriptor descriptor = {
  .protocol_version = WE_PLUGIN_PROTOCOL_VERSION,
  .abi_minor = WE_PLUGIN_ABI_MINOR,
  .id = "live-gst",
  .pillar = WE_PILLAR_LIVE,
  .version = PLUGIN_VERSION,
  .config_keys = config_keys,
  .create = live_gst_create,
};

WE_PLUGIN_DEFINE (descriptor)
