/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * live-gst: the default live pillar (spec §7.4, issue 10). One WeRtmpServer
 * and one WeSrtServer take publishers; the host's decider admits each one
 * on the server's thread; every admitted publish gets a pipeline
 * `live-<stream_id>` in this process:
 *
 *   appsrc (the session's FLV or MPEG-TS bytes) ! flvdemux|tsdemux
 *     ! h264parse|aacparse ! tee ┬ queue ! wehlssink    <out>/<id>/live/[source/]
 *                                ├ queue ! splitmuxsink <out>/<id>/rec/<session>/
 *                                │   (while recording: a branch that comes and goes)
 *                                └ decoder ! x264enc ! wehlssink per rung
 *                                    <out>/<id>/live/<rung>/ (with a ladder)
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
#include <gst/video/video.h>
#include <json-glib/json-glib.h>
#include <webencode/we-plugin.h>

#include "srt/we-srt-server.h"
#include "we-gst-elements.h"
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
/* how long a stopped recording may take to close its last fragment */
#define REC_CLOSE_WAIT_US       (3 * G_USEC_PER_SEC)
/* latency_mode "low": short segments in a short playlist */
#define LOW_LATENCY_SEGMENT_S   1
#define LOW_LATENCY_PLAYLIST    3
/* a frame arriving this much behind the stream's wall-clock pace is late */
#define LATE_FRAME_US           G_USEC_PER_SEC
/* live ABR: at most this many rungs besides the source */
#define MAX_RUNGS               8
/* source keyframe times remembered for the rungs' encoders */
#define KEY_RING                32

#define WE_TYPE_LIVE_GST (we_live_gst_get_type ())
G_DECLARE_FINAL_TYPE (WeLiveGst, we_live_gst, WE, LIVE_GST, GObject)

typedef struct {
  gchar *stream_id;
  gchar *passphrase;
} Admission;

typedef struct _LiveStream LiveStream;

/* A branch behind the tees that comes and goes while the stream runs: a
 * recording span (queue ! splitmuxsink) or the live ABR (decoder and
 * encoders). Its bin is made and its sink pads requested before it runs
 * (requesting muxer pads of running sinks races with their streaming
 * threads), then linked to new tee pads; it takes media from the first
 * keyframe on. */
typedef struct {
  LiveStream  *stream;
  GstElement  *bin;
  GstElement  *sink;        /* recording: the splitmuxsink whose last fragment-closed ends it */
  GstPad      *tee_pad[2];  /* [0] audio, [1] video */
  gboolean     rebase;      /* recording: running time continues the previous span's */
  /* (the stream's lock) */
  gboolean     keyed;       /* its first keyframe went through */
  gboolean     offset_set[2];
  gboolean     stopping;
  GstClockTime start_rt;    /* the stream's running time of that keyframe */
  GstClockTime last_rt;     /* the end of the latest video frame it took */
  gint64       offset;      /* recording time minus the stream's running time */
  gint64       close_deadline_us;
  gchar       *last_opened;  /* recording: its newest fragment (the pump thread's) */
} Branch;

typedef struct {
  gchar *name;
  gint   width, height;     /* even, inside the source */
  gint   video_kbps, audio_kbps;
} Rung;

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
  GHashTable *options;  /* stream_id -> JsonObject from "set-stream-options" */
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
  gchar      *live_dir;
  gchar      *rec_dir;
  gint        stopping; /* atomic: stop_ingest() */
  gint        rec_request; /* atomic: -1 nothing asked, 0 stop, 1 start ("set-recording") */

  /* from the host's options, fixed for the stream's life */
  guint       segment_s;
  guint       playlist_length;
  gboolean    record_at_start;
  GPtrArray  *rungs;       /* Rung*, the ladder's (empty: no ABR) */

  /* the pump thread's branches */
  Branch     *recording;   /* the span being recorded, or NULL */
  GPtrArray  *closing;     /* Branch*: stopped spans closing their last fragment */
  Branch     *abr;
  gboolean    abr_checked; /* the rungs were fitted to the source */
  gdouble     peak_kbps[2]; /* [0] audio, [1] video: the master's BANDWIDTH */
  gboolean    recorded_any;/* a span was ever started */
  gint        abr_drops;   /* atomic: frames the transcode queue let go */

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
  GstClockTime recorded;    /* the recording time so far (closed spans) */
  JsonArray   *spans;       /* recorded spans in the stream's running time */
  gint         width, height, fps_n, fps_d; /* the source video's */
  guint64      dropped_frames, late_frames;
  gint64       pace_base_us; /* wall clock at running time 0, at the publisher's pace */
  GstClockTime last_dts;
  GstClockTime key_ring[KEY_RING]; /* the latest source keyframes' PTS */
  guint        key_next;

  /* a takeover waiting for the pump (the engine's lock) */
  WeRtmpSession *next_rtmp;
  WeSrtSession  *next_srt;
  gchar         *next_remote;

  /* the pump thread's own */
  JsonArray   *segments;
  GHashTable  *opened; /* location -> running time (GstClockTime *) */
  gchar       *started_at;
  guint64      prev_video_bytes, prev_audio_bytes, prev_video_frames;
  guint64      bytes_in;
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
rung_free (Rung *rung)
{
  g_free (rung->name);
  g_free (rung);
}

static void
branch_free (Branch *branch)
{
  for (guint v = 0; v < 2; v++)
    g_clear_object (&branch->tee_pad[v]);
  g_clear_object (&branch->bin);
  g_free (branch->last_opened);
  g_free (branch);
}

static void
live_stream_free (LiveStream *stream)
{
  g_clear_pointer (&stream->recording, branch_free);
  g_clear_pointer (&stream->abr, branch_free);
  g_clear_pointer (&stream->closing, g_ptr_array_unref);
  g_clear_pointer (&stream->rungs, g_ptr_array_unref);
  g_clear_pointer (&stream->spans, json_array_unref);
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
    if (GST_EVENT_TYPE (event) == GST_EVENT_CAPS && video) {
      GstCaps *caps;
      GstStructure *s;

      gst_event_parse_caps (event, &caps);
      s = gst_caps_get_structure (caps, 0);
      /* the live ABR is made once the source's size is known */
      g_mutex_lock (&stream->lock);
      gst_structure_get_int (s, "width", &stream->width);
      gst_structure_get_int (s, "height", &stream->height);
      if (!gst_structure_get_fraction (s, "framerate", &stream->fps_n, &stream->fps_d))
        stream->fps_n = stream->fps_d = 0;
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
    GstClockTime dts = GST_BUFFER_DTS_IS_VALID (buffer) ? GST_BUFFER_DTS (buffer) : pts;
    GstClockTime frame = stream->fps_n > 0 && stream->fps_d > 0
                             ? gst_util_uint64_scale (GST_SECOND, stream->fps_d, stream->fps_n)
                             : GST_CLOCK_TIME_NONE;

    /* frames lost before us (the publisher's encoder, SRT drops): the
     * gap in the decoding times of a known frame rate, up to 5 s (a
     * longer one is a pause, not loss) */
    if (GST_CLOCK_TIME_IS_VALID (dts) && GST_CLOCK_TIME_IS_VALID (stream->last_dts) &&
        GST_CLOCK_TIME_IS_VALID (frame) && dts > stream->last_dts + frame * 3 / 2 &&
        dts - stream->last_dts < 5 * GST_SECOND)
      stream->dropped_frames += (dts - stream->last_dts + frame / 2) / frame - 1;
    if (GST_CLOCK_TIME_IS_VALID (dts))
      stream->last_dts = dts;
    /* late frames: behind the pace set by the earliest arrival so far
     * (one running-time second per wall-clock second) */
    if (stream->segment[video].format == GST_FORMAT_TIME && GST_CLOCK_TIME_IS_VALID (dts)) {
      GstClockTime drt = gst_segment_to_running_time (&stream->segment[video], GST_FORMAT_TIME,
                                                      dts);

      if (GST_CLOCK_TIME_IS_VALID (drt)) {
        gint64 now = g_get_monotonic_time ();
        gint64 base = now - (gint64) (drt / GST_USECOND);

        if (stream->pace_base_us == 0 || base < stream->pace_base_us)
          stream->pace_base_us = base;
        else if (base - stream->pace_base_us > LATE_FRAME_US)
          stream->late_frames++;
      }
    }
    if (!GST_BUFFER_FLAG_IS_SET (buffer, GST_BUFFER_FLAG_DELTA_UNIT) &&
        GST_CLOCK_TIME_IS_VALID (pts)) {
      stream->key_ring[stream->key_next] = pts;
      stream->key_next = (stream->key_next + 1) % KEY_RING;
    }
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

/* tee ! queue ! wehlssink for one track, made before the pipeline runs:
 * requesting muxer pads of running sinks races with their streaming
 * threads. The recording and the ABR are branches of the same tees. */
static gboolean
add_track (LiveStream *stream, gboolean video)
{
  GstElement *tee = gst_element_factory_make ("tee", NULL);
  GstElement *q_hls = gst_element_factory_make ("queue", NULL);
  g_autoptr(GstPad) hls_pad = NULL, hls_src = NULL;

  stream->tee[video] = tee;
  /* a tee without the branches that come later must not refuse media */
  g_object_set (tee, "allow-not-linked", TRUE, NULL);
  gst_bin_add_many (GST_BIN (stream->pipeline), tee, q_hls, NULL);
  if (!gst_element_link (tee, q_hls))
    return FALSE;
  hls_pad = gst_element_request_pad_simple (stream->hls, video ? "video" : "audio");
  hls_src = gst_element_get_static_pad (q_hls, "src");
  return hls_pad != NULL && gst_pad_link (hls_src, hls_pad) == GST_PAD_LINK_OK;
}

/* ---- branches: recording spans and the live ABR ---- */

/* On a tee pad of a branch: nothing before the first video keyframe (a
 * recording or a decoder starts there), nothing once it stops; a
 * recording's running time continues where its previous span ended. */
static GstPadProbeReturn
branch_probe (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  Branch *branch = user_data;
  LiveStream *stream = branch->stream;
  gboolean video = pad == branch->tee_pad[1];
  GstBuffer *buffer = GST_PAD_PROBE_INFO_BUFFER (info);
  GstClockTime pts = GST_BUFFER_PTS (buffer);
  GstClockTime rt = GST_CLOCK_TIME_NONE;
  GstPadProbeReturn ret = GST_PAD_PROBE_OK;
  gint64 offset = 0;
  gboolean set_offset = FALSE;

  g_mutex_lock (&stream->lock);
  if (GST_CLOCK_TIME_IS_VALID (pts) && stream->segment[video].format == GST_FORMAT_TIME)
    rt = gst_segment_to_running_time (&stream->segment[video], GST_FORMAT_TIME, pts);
  if (branch->stopping) {
    ret = GST_PAD_PROBE_DROP;
  } else if (video && !branch->keyed) {
    if (GST_BUFFER_FLAG_IS_SET (buffer, GST_BUFFER_FLAG_DELTA_UNIT) ||
        !GST_CLOCK_TIME_IS_VALID (rt)) {
      ret = GST_PAD_PROBE_DROP;
    } else {
      branch->keyed = TRUE;
      branch->start_rt = rt;
      branch->offset = (gint64) stream->recorded - (gint64) rt;
    }
  } else if (!video && (!branch->keyed || !GST_CLOCK_TIME_IS_VALID (rt) ||
                        (!branch->offset_set[0] && rt < branch->start_rt))) {
    ret = GST_PAD_PROBE_DROP;
  }
  if (ret == GST_PAD_PROBE_OK && branch->rebase && !branch->offset_set[video]) {
    branch->offset_set[video] = TRUE;
    offset = branch->offset;
    set_offset = TRUE;
  }
  if (ret == GST_PAD_PROBE_OK && video && GST_CLOCK_TIME_IS_VALID (rt))
    branch->last_rt = MAX (branch->last_rt,
                           rt + (GST_BUFFER_DURATION_IS_VALID (buffer)
                                     ? GST_BUFFER_DURATION (buffer) : 0));
  g_mutex_unlock (&stream->lock);
  /* the pad sends its segment again with the offset before this buffer */
  if (set_offset)
    gst_pad_set_offset (pad, offset);
  return ret;
}

/* Starts a made branch (ghost pads "video" and "audio"), then links it to
 * new tee pads: media must not reach its pads before they are active
 * (a FLUSHING return would stop its queues for good). */
static gboolean
branch_attach (LiveStream *stream, Branch *branch)
{
  /* its sinks' asynchronous start stays inside the branch: otherwise the
   * running pipeline loses its state (PAUSED until every sink prerolled) */
  g_object_set (branch->bin, "async-handling", TRUE, NULL);
  gst_bin_add (GST_BIN (stream->pipeline), branch->bin);
  if (!gst_element_sync_state_with_parent (branch->bin))
    return FALSE;
  for (guint v = 0; v < 2; v++) {
    g_autoptr(GstPad) sink = gst_element_get_static_pad (branch->bin, v ? "video" : "audio");

    branch->tee_pad[v] = gst_element_request_pad_simple (stream->tee[v], "src_%u");
    if (branch->tee_pad[v] == NULL || sink == NULL)
      return FALSE;
    gst_pad_add_probe (branch->tee_pad[v], GST_PAD_PROBE_TYPE_BUFFER, branch_probe, branch,
                       NULL);
    if (gst_pad_link (branch->tee_pad[v], sink) != GST_PAD_LINK_OK)
      return FALSE;
  }
  return TRUE;
}

static GstPadProbeReturn
unlink_and_eos (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  GstPad *peer = gst_pad_get_peer (pad);

  /* the branch finishes what it has (its muxer closes its file) */
  if (peer != NULL) {
    gst_pad_unlink (pad, peer);
    gst_pad_send_event (peer, gst_event_new_eos ());
    gst_object_unref (peer);
  }
  return GST_PAD_PROBE_REMOVE;
}

static void
branch_detach (LiveStream *stream, Branch *branch)
{
  for (guint v = 0; v < 2; v++)
    if (branch->tee_pad[v] != NULL)
      gst_pad_add_probe (branch->tee_pad[v], GST_PAD_PROBE_TYPE_IDLE, unlink_and_eos, NULL,
                         NULL);
}

/* after its EOS: out of the pipeline. The tee pads go first: releasing
 * one waits for a push in flight on it, so no probe of the branch runs
 * once it is freed. */
static void
branch_remove (LiveStream *stream, Branch *branch)
{
  for (guint v = 0; v < 2; v++)
    if (branch->tee_pad[v] != NULL)
      gst_element_release_request_pad (stream->tee[v], branch->tee_pad[v]);
  gst_element_set_locked_state (branch->bin, TRUE);
  gst_element_set_state (branch->bin, GST_STATE_NULL);
  gst_bin_remove (GST_BIN (stream->pipeline), branch->bin);
  branch_free (branch);
}

static GstElement *
make (GstElement *bin, const gchar *factory)
{
  GstElement *e = gst_element_factory_make (factory, NULL);

  if (e != NULL)
    gst_bin_add (GST_BIN (bin), e);
  return e;
}

static void
ghost (GstElement *bin, GstElement *first, const gchar *name)
{
  g_autoptr(GstPad) target = gst_element_get_static_pad (first, "sink");

  gst_element_add_pad (bin, gst_ghost_pad_new (name, target));
}

static void write_manifest (LiveStream *stream, const gchar *ended_at, const gchar *reason);

/* A recording span: queue ! splitmuxsink per track, its fragments
 * numbered on from the previous span's in the same folder. */
static void
recording_start (LiveStream *stream)
{
  g_autofree gchar *fragment = g_build_filename (stream->rec_dir, "part%05d.ts", NULL);
  Branch *branch;
  GstElement *q[2], *mux;
  g_autoptr(GstPad) vpad = NULL, apad = NULL, vsrc = NULL, asrc = NULL;

  if (stream->recording != NULL)
    return;
  if (g_mkdir_with_parents (stream->rec_dir, 0755) != 0) {
    g_warning ("stream %s: cannot create %s: %s", stream->stream_id, stream->rec_dir,
               g_strerror (errno));
    return;
  }
  branch = g_new0 (Branch, 1);
  branch->stream = stream;
  branch->rebase = TRUE;
  branch->start_rt = GST_CLOCK_TIME_NONE;
  branch->bin = gst_object_ref_sink (gst_bin_new (NULL));
  q[0] = make (branch->bin, "queue");
  q[1] = make (branch->bin, "queue");
  branch->sink = make (branch->bin, "splitmuxsink");
  mux = gst_element_factory_make ("mpegtsmux", NULL);
  g_object_set (branch->sink, "location", fragment, "muxer", mux,
                "max-size-time", (guint64) RECORDING_FRAGMENT_S * GST_SECOND,
                "send-keyframe-requests", FALSE, "start-index",
                (gint) json_array_get_length (stream->segments), NULL);
  vpad = gst_element_request_pad_simple (branch->sink, "video");
  apad = gst_element_request_pad_simple (branch->sink, "audio_%u");
  vsrc = gst_element_get_static_pad (q[1], "src");
  asrc = gst_element_get_static_pad (q[0], "src");
  ghost (branch->bin, q[0], "audio");
  ghost (branch->bin, q[1], "video");
  if (vpad == NULL || apad == NULL || gst_pad_link (vsrc, vpad) != GST_PAD_LINK_OK ||
      gst_pad_link (asrc, apad) != GST_PAD_LINK_OK || !branch_attach (stream, branch)) {
    g_warning ("stream %s: the recording cannot start", stream->stream_id);
    if (GST_OBJECT_PARENT (branch->bin) != NULL)
      branch_remove (stream, branch);
    else
      branch_free (branch);
    return;
  }
  stream->recording = branch;
  stream->recorded_any = TRUE;
  g_message ("stream %s: recording", stream->stream_id);
}

/* ---- live ABR ---- */

/* The rungs' encoders make a keyframe where the source has one, so that
 * every rendition cuts its segments at the same running times. */
static GstPadProbeReturn
force_key_probe (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  LiveStream *stream = user_data;
  GstClockTime pts = GST_BUFFER_PTS (GST_PAD_PROBE_INFO_BUFFER (info));
  gboolean key = FALSE;

  if (!GST_CLOCK_TIME_IS_VALID (pts))
    return GST_PAD_PROBE_OK;
  g_mutex_lock (&stream->lock);
  for (guint i = 0; i < KEY_RING && !key; i++)
    key = stream->key_ring[i] == pts;
  g_mutex_unlock (&stream->lock);
  if (key)
    gst_pad_push_event (pad, gst_video_event_new_downstream_force_key_unit (
                                 pts, GST_CLOCK_TIME_NONE, GST_CLOCK_TIME_NONE, TRUE, 0));
  return GST_PAD_PROBE_OK;
}

static void
on_abr_overrun (GstElement *queue, gpointer user_data)
{
  LiveStream *stream = user_data;

  /* the leaky queue in front of the decoder lets a frame go: the
   * encoders cannot keep up */
  g_atomic_int_inc (&stream->abr_drops);
}

/* "avc1.PPCCLL" of H.264 caps' profile and level (RFC 6381) */
static gchar *
avc_codec (const gchar *profile, const gchar *level)
{
  guint p = 0x64, c = 0, l = 31;

  if (g_strcmp0 (profile, "constrained-baseline") == 0)
    p = 0x42, c = 0xe0;
  else if (g_strcmp0 (profile, "baseline") == 0)
    p = 0x42;
  else if (g_strcmp0 (profile, "main") == 0)
    p = 0x4d, c = 0x40;
  if (level != NULL) {
    gdouble value = g_ascii_strtod (level, NULL);

    if (value > 0)
      l = (guint) (value * 10 + 0.5);
  }
  return g_strdup_printf ("avc1.%02x%02x%02x", p, c, l);
}

/* The master playlist: the source and each rung (written again when the
 * measured source bitrate moves). */
static void
write_master (LiveStream *stream, gdouble source_kbps, gdouble audio_kbps)
{
  g_autoptr(GString) text = g_string_new ("#EXTM3U\n#EXT-X-VERSION:3\n"
                                          "#EXT-X-INDEPENDENT-SEGMENTS\n");
  g_autofree gchar *path = g_build_filename (stream->live_dir, "index.m3u8", NULL);
  g_autofree gchar *source_codec = NULL;
  g_autoptr(GstCaps) caps = NULL;
  const gchar *profile = NULL, *level = NULL;
  g_autoptr(GPtrArray) lines = g_ptr_array_new_with_free_func (g_free);

  if (stream->parse[1] != NULL) {
    g_autoptr(GstPad) src = gst_element_get_static_pad (stream->parse[1], "src");

    caps = gst_pad_get_current_caps (src);
  }
  if (caps != NULL) {
    profile = gst_structure_get_string (gst_caps_get_structure (caps, 0), "profile");
    level = gst_structure_get_string (gst_caps_get_structure (caps, 0), "level");
  }
  source_codec = avc_codec (profile, level);
  g_string_append_printf (text, "#EXT-X-STREAM-INF:BANDWIDTH=%u,RESOLUTION=%dx%d,"
                          "CODECS=\"%s,mp4a.40.2\"\nsource/index.m3u8\n",
                          (guint) (MAX (source_kbps, 1) * 1000 * 1.1), stream->width,
                          stream->height, source_codec);
  for (guint i = 0; i < stream->rungs->len; i++) {
    Rung *rung = stream->rungs->pdata[i];

    g_string_append_printf (text, "#EXT-X-STREAM-INF:BANDWIDTH=%u,RESOLUTION=%dx%d,"
                            "CODECS=\"avc1.4d40%02x,mp4a.40.2\"\n%s/index.m3u8\n",
                            (guint) ((rung->video_kbps + MAX (audio_kbps, 1)) * 1000 * 1.1),
                            rung->width, rung->height, rung->height > 720 ? 0x28 : 0x1f,
                            rung->name);
  }
  /* atomic: a player never reads half a master */
  if (!g_file_set_contents (path, text->str, -1, NULL))
    g_warning ("stream %s: cannot write %s", stream->stream_id, path);
}

/* The rungs that do not upscale the source, at the source's aspect ratio. */
static void
fit_rungs (LiveStream *stream)
{
  for (guint i = 0; i < stream->rungs->len;) {
    Rung *rung = stream->rungs->pdata[i];
    gdouble scale = MIN ((gdouble) rung->width / stream->width,
                         (gdouble) rung->height / stream->height);

    if (scale >= 1 || scale <= 0) {
      g_message ("stream %s: rung %s (%dx%d) left out: the source is %dx%d", stream->stream_id,
                 rung->name, rung->width, rung->height, stream->width, stream->height);
      g_ptr_array_remove_index (stream->rungs, i);
      continue;
    }
    rung->width = MAX (2, (gint) (stream->width * scale + 0.5) & ~1);
    rung->height = MAX (2, (gint) (stream->height * scale + 0.5) & ~1);
    i++;
  }
}

/* Decode once, one zero-latency x264enc and wehlssink per rung:
 *   video ! queue (leaky) ! avdec_h264 ! videoconvert ! tee
 *     ┬ queue ! videoscale ! capsfilter ! x264enc ! h264parse ! wehlssink <live>/<rung>/
 *   audio ! queue ! tee (the source's AAC in every rung)
 *     ┴ queue ! (the same wehlssink)  */
static void
abr_start (LiveStream *stream)
{
  Branch *branch = g_new0 (Branch, 1);
  GstElement *bin, *vq, *dec, *conv, *vtee, *aq, *atee;
  gboolean ok;

  stream->abr_checked = TRUE;
  fit_rungs (stream);
  if (stream->rungs->len == 0) {
    /* a source smaller than every rung: the master lists it alone */
    branch_free (branch);
    write_master (stream, 0, 0);
    return;
  }
  branch->stream = stream;
  branch->bin = bin = gst_object_ref_sink (gst_bin_new (NULL));
  vq = make (bin, "queue");
  dec = make (bin, "avdec_h264");
  conv = make (bin, "videoconvert");
  vtee = make (bin, "tee");
  aq = make (bin, "queue");
  atee = make (bin, "tee");
  ok = vq != NULL && dec != NULL && conv != NULL && vtee != NULL && aq != NULL && atee != NULL;
  if (ok) {
    g_object_set (vq, "leaky", 2, "max-size-buffers", 0, "max-size-bytes", 0,
                  "max-size-time", (guint64) 2 * GST_SECOND, NULL);
    g_signal_connect (vq, "overrun", G_CALLBACK (on_abr_overrun), stream);
    ok = gst_element_link_many (vq, dec, conv, vtee, NULL) && gst_element_link (aq, atee);
    ghost (bin, aq, "audio");
    ghost (bin, vq, "video");
  }
  for (guint i = 0; ok && i < stream->rungs->len; i++) {
    Rung *rung = stream->rungs->pdata[i];
    g_autofree gchar *dir = g_build_filename (stream->live_dir, rung->name, NULL);
    g_autofree gchar *segment = g_build_filename (dir, "segment%05d.ts", NULL);
    g_autofree gchar *playlist = g_build_filename (dir, "index.m3u8", NULL);
    GstElement *q = make (bin, "queue"), *scale = make (bin, "videoscale");
    GstElement *filter = make (bin, "capsfilter"), *enc = make (bin, "x264enc");
    GstElement *parse = make (bin, "h264parse"), *hls = make (bin, "wehlssink");
    GstElement *qa = make (bin, "queue");
    g_autoptr(GstCaps) caps = NULL;
    g_autoptr(GstCaps) enc_caps = NULL;
    g_autoptr(GstPad) hv = NULL, ha = NULL, ps = NULL, qs = NULL, fs = NULL;

    if (q == NULL || scale == NULL || filter == NULL || enc == NULL || parse == NULL ||
        hls == NULL || qa == NULL || g_mkdir_with_parents (dir, 0755) != 0) {
      ok = FALSE;
      break;
    }
    caps = gst_caps_new_simple ("video/x-raw", "width", G_TYPE_INT, rung->width, "height",
                                G_TYPE_INT, rung->height, "pixel-aspect-ratio",
                                GST_TYPE_FRACTION, 1, 1, NULL);
    g_object_set (filter, "caps", caps, NULL);
    /* zero latency (no lookahead, no B-frames): a forced keyframe lands
     * on exactly the frame it is asked for; no keyframes of its own */
    gst_util_set_object_arg (G_OBJECT (enc), "tune", "zerolatency");
    gst_util_set_object_arg (G_OBJECT (enc), "speed-preset", "veryfast");
    g_object_set (enc, "bitrate", (guint) rung->video_kbps, "key-int-max", 100000, NULL);
    g_object_set (hls, "location", segment, "playlist-location", playlist, "target-duration",
                  stream->segment_s, "playlist-length", stream->playlist_length, "max-files",
                  stream->playlist_length + 4, "send-keyframe-requests", FALSE, NULL);
    enc_caps = gst_caps_from_string ("video/x-h264,profile=main");
    hv = gst_element_request_pad_simple (hls, "video");
    ha = gst_element_request_pad_simple (hls, "audio");
    ps = gst_element_get_static_pad (parse, "src");
    qs = gst_element_get_static_pad (qa, "src");
    fs = gst_element_get_static_pad (filter, "src");
    ok = hv != NULL && ha != NULL && gst_element_link_many (vtee, q, scale, filter, enc, NULL) &&
         gst_element_link_filtered (enc, parse, enc_caps) &&
         gst_pad_link (ps, hv) == GST_PAD_LINK_OK && gst_element_link (atee, qa) &&
         gst_pad_link (qs, ha) == GST_PAD_LINK_OK;
    gst_pad_add_probe (fs, GST_PAD_PROBE_TYPE_BUFFER, force_key_probe, stream, NULL);
  }
  if (!ok || !branch_attach (stream, branch)) {
    g_warning ("stream %s: the live ABR cannot start (avdec_h264, x264enc?); the source "
               "rendition goes on alone", stream->stream_id);
    if (GST_OBJECT_PARENT (branch->bin) != NULL)
      branch_remove (stream, branch);
    else
      branch_free (branch);
    g_ptr_array_set_size (stream->rungs, 0);
  } else {
    stream->abr = branch;
    g_message ("stream %s: live ABR with %u rungs from %dx%d", stream->stream_id,
               stream->rungs->len, stream->width, stream->height);
  }
  write_master (stream, 0, 0);
}

/* Before the EOS: splitmuxsink (1.22) moves a last GOP that would make
 * the fragment too long into a new one and then never finalizes that one
 * on EOS; with no size limit the last GOP joins the current fragment. */
static void
recording_last_fragment (Branch *branch)
{
  g_object_set (branch->sink, "max-size-time", (guint64) 0, NULL);
}

/* Stops the span: its fragments close (the last one at its EOS) and the
 * manifest lists the span in the stream's running time. */
static void
recording_stop (LiveStream *stream)
{
  Branch *branch = g_steal_pointer (&stream->recording);
  JsonObject *span;

  if (branch == NULL)
    return;
  g_mutex_lock (&stream->lock);
  branch->stopping = TRUE;
  if (branch->keyed && branch->last_rt > branch->start_rt) {
    span = json_object_new ();
    json_object_set_double_member (span, "start_s", (gdouble) branch->start_rt / GST_SECOND);
    json_object_set_double_member (span, "end_s", (gdouble) branch->last_rt / GST_SECOND);
    json_array_add_object_element (stream->spans, span);
    stream->recorded += branch->last_rt - branch->start_rt;
  }
  g_mutex_unlock (&stream->lock);
  branch->close_deadline_us = g_get_monotonic_time () + REC_CLOSE_WAIT_US;
  recording_last_fragment (branch);
  branch_detach (stream, branch);
  g_ptr_array_add (stream->closing, branch);
  g_message ("stream %s: recording stopped", stream->stream_id);
  write_manifest (stream, NULL, NULL);
}

/* A closing span is done when its splitmuxsink reports its newest
 * fragment closed (an earlier fragment's close may come after the stop),
 * at once when it never opened one, or after REC_CLOSE_WAIT_US. @msg: an
 * element message, or NULL to check the deadlines. */
static void
recording_closed (LiveStream *stream, GstMessage *msg)
{
  gint64 now = g_get_monotonic_time ();
  const gchar *location = NULL;
  gboolean opened = FALSE, closed = FALSE;

  if (msg != NULL) {
    opened = gst_message_has_name (msg, "splitmuxsink-fragment-opened");
    closed = gst_message_has_name (msg, "splitmuxsink-fragment-closed");
    location = gst_structure_get_string (gst_message_get_structure (msg), "location");
    if (!opened && !closed)
      return;
  }
  if (opened) {
    Branch *branch = stream->recording;

    for (guint i = 0; branch == NULL || GST_MESSAGE_SRC (msg) != GST_OBJECT (branch->sink); i++) {
      if (i >= stream->closing->len)
        return;
      branch = stream->closing->pdata[i];
    }
    g_free (branch->last_opened);
    branch->last_opened = g_strdup (location);
    return;
  }
  for (guint i = 0; i < stream->closing->len;) {
    Branch *branch = stream->closing->pdata[i];
    gboolean keyed, done;

    g_mutex_lock (&stream->lock);
    keyed = branch->keyed;
    g_mutex_unlock (&stream->lock);
    done = msg != NULL ? GST_MESSAGE_SRC (msg) == GST_OBJECT (branch->sink) &&
                             g_strcmp0 (location, branch->last_opened) == 0
                       : now >= branch->close_deadline_us || !keyed;

    if (done) {
      branch_remove (stream, g_ptr_array_steal_index (stream->closing, i));
    } else {
      i++;
    }
  }
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
  g_autofree gchar *name = g_strdup_printf ("live-%s", stream->stream_id);
  /* with a ladder the source is one rendition of several, under the
   * master playlist <live>/index.m3u8 */
  g_autofree gchar *source_dir = stream->rungs->len > 0
                                     ? g_build_filename (stream->live_dir, "source", NULL)
                                     : g_strdup (stream->live_dir);
  g_autofree gchar *segment = g_build_filename (source_dir, "segment%05d.ts", NULL);
  g_autofree gchar *playlist = g_build_filename (source_dir, "index.m3u8", NULL);
  /* the recording's, made when it starts */
  g_autoptr(GstElementFactory) mux = gst_element_factory_find ("mpegtsmux");
  g_autoptr(GstElementFactory) split = gst_element_factory_find ("splitmuxsink");

  stream->pipeline = gst_pipeline_new (name);
  /* wehlssink (gst-elements/hls): a segment listed the moment it is
   * complete, where hlssink2 waits for the next GOP */
  stream->hls = we_gst_elements_register () ? gst_element_factory_make ("wehlssink", NULL) : NULL;
  if (stream->hls == NULL || split == NULL || mux == NULL ||
      g_mkdir_with_parents (source_dir, 0755) != 0) {
    g_clear_object (&stream->hls);
    g_set_error (error, WE_ERROR, WE_ERROR_STR_INGEST_UNAVAILABLE,
                 "GStreamer elements missing (wehlssink, splitmuxsink, mpegtsmux)");
    return FALSE;
  }
  /* segments are cut at the first keyframe after segment_s: the source is
   * not re-encoded, so the publisher's GOP decides their length */
  g_object_set (stream->hls, "location", segment, "playlist-location", playlist,
                "target-duration", stream->segment_s, "playlist-length",
                stream->playlist_length, "max-files", stream->playlist_length + 4,
                "send-keyframe-requests", FALSE, NULL);
  gst_bin_add (GST_BIN (stream->pipeline), stream->hls);
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
  if (stream->record_at_start)
    recording_start (stream);
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
  /* recording stops and starts again at run time: the spans of the
   * stream (its running time) the fragments hold, end to end */
  json_builder_set_member_name (builder, "recording");
  json_builder_add_boolean_value (builder, stream->recording != NULL && ended_at == NULL);
  json_builder_set_member_name (builder, "spans");
  {
    JsonArray *spans = json_array_new ();

    g_mutex_lock (&stream->lock);
    for (guint i = 0; i < json_array_get_length (stream->spans); i++)
      json_array_add_element (spans,
                              json_node_copy (json_array_get_element (stream->spans, i)));
    if (stream->recording != NULL && stream->recording->keyed) {
      JsonObject *open = json_object_new ();

      json_object_set_double_member (open, "start_s",
                                     (gdouble) stream->recording->start_rt / GST_SECOND);
      json_object_set_double_member (open, "end_s",
                                     (gdouble) stream->recording->last_rt / GST_SECOND);
      json_array_add_object_element (spans, open);
    }
    g_mutex_unlock (&stream->lock);
    json_builder_add_value (builder, json_node_init_array (json_node_alloc (), spans));
    json_array_unref (spans);
  }
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

  /* only the recording's splitmuxsink: other elements (hlssink2 in later
   * GStreamer) post location + running-time too */
  if (!gst_structure_has_name (s, "splitmuxsink-fragment-opened") &&
      !gst_structure_has_name (s, "splitmuxsink-fragment-closed"))
    return;
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
  guint64 vb, ab, vf, frames_dropped, late;
  GstClockTime va, aa;
  gdouble key_interval, video_kbps, audio_kbps;

  g_mutex_lock (&stream->lock);
  frames_dropped = stream->dropped_frames + (guint64) g_atomic_int_get (&stream->abr_drops);
  late = stream->late_frames;
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
  video_kbps = (vb - stream->prev_video_bytes) * 8 / 1000.0 / seconds;
  audio_kbps = (ab - stream->prev_audio_bytes) * 8 / 1000.0 / seconds;
  json_object_set_double_member (sample, "video_bitrate_kbps", video_kbps);
  json_object_set_double_member (sample, "audio_bitrate_kbps", audio_kbps);
  /* the session's counters: what came in, what the pipeline lost */
  json_object_set_int_member (sample, "bytes_in", stream->bytes_in);
  json_object_set_int_member (sample, "dropped_frames", frames_dropped);
  json_object_set_int_member (sample, "late_frames", late);
  json_object_set_boolean_member (sample, "recording", stream->recording != NULL);
  /* the master playlist's BANDWIDTH follows the source's peak bitrate */
  if (stream->abr_checked && (video_kbps > stream->peak_kbps[1] * 1.2 ||
                              audio_kbps > stream->peak_kbps[0] * 1.2)) {
    stream->peak_kbps[1] = MAX (stream->peak_kbps[1], video_kbps);
    stream->peak_kbps[0] = MAX (stream->peak_kbps[0], audio_kbps);
    write_master (stream, stream->peak_kbps[1] + stream->peak_kbps[0], stream->peak_kbps[0]);
  }
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
  /* the new publisher sets its own pace; its timestamps start again */
  stream->pace_base_us = 0;
  stream->last_dts = GST_CLOCK_TIME_NONE;
  for (guint i = 0; i < KEY_RING; i++)
    stream->key_ring[i] = GST_CLOCK_TIME_NONE;
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
    if (bytes != NULL) {
      stream->bytes_in += g_bytes_get_size (bytes);
      (void) gst_app_src_push_buffer (GST_APP_SRC (stream->appsrc),
                                      gst_buffer_new_wrapped_bytes (bytes));
    }
    /* the host's recording switch */
    switch (g_atomic_int_exchange (&stream->rec_request, -1)) {
    case 1:
      recording_start (stream);
      write_manifest (stream, NULL, NULL);
      break;
    case 0:
      recording_stop (stream);
      break;
    default:
      break;
    }
    recording_closed (stream, NULL);
    if (stream->rungs->len > 0 && !stream->abr_checked) {
      gint width;

      g_mutex_lock (&stream->lock);
      width = stream->width;
      g_mutex_unlock (&stream->lock);
      if (width > 0)
        abr_start (stream);
    }
    while ((msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR | GST_MESSAGE_ELEMENT)) != NULL) {
      if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR && reason == NULL) {
        g_autoptr(GError) gerror = NULL;

        gst_message_parse_error (msg, &gerror, NULL);
        reason = g_strdup_printf ("error: %s", gerror->message);
        drain = FALSE;
      } else if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ELEMENT &&
                 gst_message_get_structure (msg) != NULL) {
        on_fragment (stream, gst_message_get_structure (msg));
        recording_closed (stream, msg);
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

      if (stream->recording != NULL)
        recording_last_fragment (stream->recording);
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
  /* a stream that never recorded has no recording folder */
  if (stream->recorded_any)
    write_manifest (stream, ended_at, reason);
  g_message ("stream %s ended: %s", stream->stream_id, reason);
  g_signal_emit_by_name (self, "stream-ended", stream->stream_id, reason,
                         stream->recorded_any ? stream->rec_dir : NULL);
  live_stream_free (stream);

  g_mutex_lock (&self->lock);
  self->threads--;
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
  return NULL;
}

/* Empties a folder the engine wrote (the live HLS of an earlier session,
 * rung folders included); the folder itself stays. */
static void
empty_dir (const gchar *path, guint depth)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  const gchar *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL) {
    g_autofree gchar *child = g_build_filename (path, name, NULL);

    if (depth > 0 && g_file_test (child, G_FILE_TEST_IS_DIR) &&
        !g_file_test (child, G_FILE_TEST_IS_SYMLINK)) {
      empty_dir (child, depth - 1);
      g_rmdir (child);
    } else {
      g_unlink (child);
    }
  }
}

/* The host's options for a stream ("set-stream-options"): record,
 * latency_mode, ladder (rungs). Without any: recorded, normal latency,
 * no ABR, as before options existed. */
static void
apply_options (LiveStream *stream, JsonObject *options)
{
  WeLiveGst *self = stream->engine;
  JsonArray *ladder = NULL;

  stream->segment_s = self->segment_s;
  stream->playlist_length = self->playlist_length;
  stream->record_at_start = TRUE;
  stream->rungs = g_ptr_array_new_with_free_func ((GDestroyNotify) rung_free);
  if (options == NULL)
    return;
  stream->record_at_start = json_object_get_boolean_member_with_default (options, "record", TRUE);
  if (g_strcmp0 (json_object_get_string_member_with_default (options, "latency_mode", NULL),
                 "low") == 0) {
    stream->segment_s = LOW_LATENCY_SEGMENT_S;
    stream->playlist_length = LOW_LATENCY_PLAYLIST;
  }
  if (json_object_has_member (options, "ladder") &&
      JSON_NODE_HOLDS_ARRAY (json_object_get_member (options, "ladder")))
    ladder = json_object_get_array_member (options, "ladder");
  for (guint i = 0; ladder != NULL && i < json_array_get_length (ladder) &&
                    stream->rungs->len < MAX_RUNGS; i++) {
    JsonNode *node = json_array_get_element (ladder, i);
    JsonObject *o = JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
    const gchar *name = o != NULL ? json_object_get_string_member_with_default (o, "name", NULL)
                                  : NULL;
    Rung *rung;

    /* a rung names a folder and a URL: letters, digits, '_' ("source" is
     * the pass-through's) */
    if (name == NULL || *name == '\0' || strlen (name) > 32 || g_str_equal (name, "source") ||
        !stream_id_is_safe (name) || strchr (name, '-') != NULL) {
      g_warning ("stream %s: ladder rung %u has no usable name", stream->stream_id, i);
      continue;
    }
    rung = g_new0 (Rung, 1);
    rung->name = g_strdup (name);
    rung->width = (gint) json_object_get_int_member_with_default (o, "width", 0);
    rung->height = (gint) json_object_get_int_member_with_default (o, "height", 0);
    rung->video_kbps = (gint) json_object_get_int_member_with_default (o, "video_bitrate_kbps",
                                                                       0);
    rung->audio_kbps = (gint) json_object_get_int_member_with_default (o, "audio_bitrate_kbps",
                                                                       0);
    if (rung->width < 2 || rung->height < 2 || rung->video_kbps < 1) {
      g_warning ("stream %s: ladder rung %s needs width, height and video_bitrate_kbps",
                 stream->stream_id, name);
      rung_free (rung);
      continue;
    }
    g_ptr_array_add (stream->rungs, rung);
  }
}

static void
start_stream (WeLiveGst *self, const gchar *protocol, const gchar *key, const gchar *remote,
              WeRtmpSession *rtmp, WeSrtSession *srt)
{
  g_autoptr(JsonObject) options = NULL;
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
  stream->last_dts = GST_CLOCK_TIME_NONE;
  stream->rec_request = -1;
  for (guint i = 0; i < KEY_RING; i++)
    stream->key_ring[i] = GST_CLOCK_TIME_NONE;
  stream->segments = json_array_new ();
  stream->spans = json_array_new ();
  stream->closing = g_ptr_array_new_with_free_func ((GDestroyNotify) branch_free);
  g_mutex_lock (&self->lock);
  options = g_hash_table_lookup (self->options, stream->stream_id);
  if (options != NULL)
    json_object_ref (options);
  g_mutex_unlock (&self->lock);
  apply_options (stream, options);
  stream->started_at = g_date_time_format_iso8601 (now);
  {
    g_autofree gchar *stamp = g_date_time_format (now, "%Y%m%dT%H%M%SZ");

    /* one folder per publish; the microseconds keep reconnects apart */
    session = g_strdup_printf ("%s-%06d", stamp, g_date_time_get_microsecond (now));
  }
  stream->live_dir = g_build_filename (self->output_dir, stream->stream_id, "live", NULL);
  stream->rec_dir = g_build_filename (self->output_dir, stream->stream_id, "rec", session, NULL);
  /* a new session: the previous one's live HLS goes (a player must not
   * mix them); the recording folder is made when a recording starts */
  empty_dir (stream->live_dir, 1);
  if (g_mkdir_with_parents (stream->live_dir, 0755) != 0)
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

/* "set-stream-options" (action): what the host decided for a stream,
 * before its publisher starts (the decider's answer carries no options in
 * this ABI); used by the stream's next pipeline. */
static gboolean
live_gst_set_stream_options (WeLiveGst *self, const gchar *stream_id, JsonObject *options)
{
  if (!stream_id_is_safe (stream_id))
    return FALSE;
  g_mutex_lock (&self->lock);
  if (options != NULL)
    g_hash_table_replace (self->options, g_strdup (stream_id), json_object_ref (options));
  else
    g_hash_table_remove (self->options, stream_id);
  g_mutex_unlock (&self->lock);
  return TRUE;
}

/* "set-recording" (action): starts or stops the recording of a running
 * stream; FALSE when the stream is not live here. The pump thread does it
 * within 100 ms. */
static gboolean
live_gst_set_recording (WeLiveGst *self, const gchar *stream_id, gboolean enabled)
{
  LiveStream *stream;

  g_mutex_lock (&self->lock);
  stream = stream_id != NULL ? g_hash_table_lookup (self->streams, stream_id) : NULL;
  if (stream != NULL)
    g_atomic_int_set (&stream->rec_request, enabled ? 1 : 0);
  g_mutex_unlock (&self->lock);
  return stream != NULL;
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
  g_hash_table_unref (self->options);
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
  /* engine-specific actions, beyond WeLiveEngine (hosts look them up
   * with g_signal_lookup() and emit them by name) */
  g_signal_new_class_handler ("set-stream-options", G_TYPE_FROM_CLASS (klass),
                              G_SIGNAL_RUN_LAST | G_SIGNAL_ACTION,
                              G_CALLBACK (live_gst_set_stream_options), NULL, NULL, NULL,
                              G_TYPE_BOOLEAN, 2, G_TYPE_STRING, JSON_TYPE_OBJECT);
  g_signal_new_class_handler ("set-recording", G_TYPE_FROM_CLASS (klass),
                              G_SIGNAL_RUN_LAST | G_SIGNAL_ACTION,
                              G_CALLBACK (live_gst_set_recording), NULL, NULL, NULL,
                              G_TYPE_BOOLEAN, 2, G_TYPE_STRING, G_TYPE_BOOLEAN);
}

static void
we_live_gst_init (WeLiveGst *self)
{
  g_mutex_init (&self->lock);
  g_cond_init (&self->cond);
  self->admitted = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, admission_free);
  self->streams = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->options = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                         (GDestroyNotify) json_object_unref);
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
