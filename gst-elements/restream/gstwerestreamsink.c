/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * werestreamsink: one restream destination. A restream pipeline tees one
 * encoded stream into N of these; each must fail alone, so the element
 * never returns an error or blocks its upstream:
 *
 *   video ─▶ [gate] ─▶ queue(leaky) ─▶ h264parse ─▶ ┐
 *                                                    ├─ flvmux ─▶ rtmp2sink   (rtmp://, rtmps://)
 *   audio ─▶ [gate] ─▶ queue(leaky) ─▶ aacparse  ─▶ ┘  mpegtsmux ─▶ srtsink (srt://)
 *
 * The request pads "video" and "audio" are plain pads of ours, not ghost
 * pads: their chain function pushes into an internal, unparented source pad
 * linked to the branch and turns whatever the branch returns into
 * GST_FLOW_OK. That is what lets the branch (queues, parsers, muxer, sink)
 * be torn down and rebuilt while the pipeline plays: a ghost pad would hand
 * FLUSHING or NOT_LINKED up to the tee, which stops every other branch.
 *
 * Errors and unexpected EOS of the branch are caught in handle_message and
 * never reach the pipeline; a thread of the element's own (one GMainContext,
 * started in READY→PAUSED) tears the branch down and rebuilds it after an
 * exponential backoff capped at max-backoff, forever. A new branch starts
 * at the next keyframe; its parser and muxer get the codec headers again
 * from the caps the internal pads keep as sticky events, and the buffers
 * keep their running time, so timestamps continue where they were.
 */
#include "config.h"

#include "gstwerestreamsink.h"

#include <gio/gio.h>
#include <string.h>

GST_DEBUG_CATEGORY_STATIC (gst_we_restream_sink_debug);
#define GST_CAT_DEFAULT gst_we_restream_sink_debug

#define DEFAULT_MAX_BACKOFF_MS   2000
#define MIN_BACKOFF_MS           250
#define DEFAULT_STALL_TIMEOUT_S  10
#define DEFAULT_QUEUE_TIME       (2 * GST_SECOND)
#define MUX_LATENCY              (500 * GST_MSECOND)
#define RTMP_CHUNK_SIZE          4096u
#define CHECK_INTERVAL_MS        250
#define STATS_EVERY_CHECKS       4     /* one stats message a second */
#define BITRATE_WINDOW           8     /* seconds of acknowledged-byte samples */

typedef enum {
  STATE_CONNECTING,
  STATE_LIVE,
  STATE_RECONNECTING,
  STATE_DISABLED,
} WeRestreamState;

static const gchar *const state_names[] = { "connecting", "live", "reconnecting", "disabled" };

typedef enum {
  DEST_NONE,
  DEST_RTMP,
  DEST_SRT,
} WeRestreamDest;

typedef struct {
  GstWeRestreamSink *self;
  GstPad            *pad;      /* the request pad, ours */
  GstPad            *internal; /* unparented source pad feeding the branch */
  gboolean           video;
  gboolean           eos;
  GstSegment         segment;  /* under self->lock */
} Input;

struct _GstWeRestreamSink {
  GstBin parent;

  /* the gate between the request pads and the branch: readers are the
   * chain/event functions (cheap: the first element is a leaky queue),
   * the writer is whoever links or unlinks the branch */
  GRWLock gate;
  gboolean branch_up;        /* under gate */
  gint wait_keyframe;        /* atomic */
  gint audio_started;        /* atomic: audio went through for this branch */
  gint last_input_ms;        /* atomic: ms after base_us of the last input buffer */

  GMutex lock;               /* everything below */
  gchar *location;
  WeRestreamDest dest;
  gboolean enabled;
  guint max_backoff_ms;
  guint stall_timeout_s;
  GTlsCertificateFlags tls_validation_flags;
  Input *video;
  Input *audio;

  /* the branch, owned by the manager thread once it runs */
  GstElement *queue_v, *queue_a, *parse_v, *parse_a, *mux, *sink;
  guint generation;
  gint rendered;             /* atomic: buffers that reached the sink this generation */
  gint last_render_ms;       /* atomic: ms after base_us */
  gint64 base_us;            /* set once at init */

  /* timestamps across reconnections, under lock: flvmux starts every new
   * connection at 0; the muxer's output is shifted by the running time
   * between the first buffer ever sent and this branch's first one */
  GstClockTime stream_base_rt;
  GstClockTime branch_start_rt;
  gint64 ts_offset_ms;

  /* acknowledgements of this connection, for the stall check (manager
   * thread and build_branch, under lock) */
  gint acked_at_ms;
  guint64 sent_at_ack;

  /* held by whoever builds or tears down the branch while running */
  GMutex build_lock;

  WeRestreamState state;
  guint reconnects;
  gboolean ever_live;
  gchar *last_error;
  gint64 live_since_us;
  guint backoff_ms;
  guint64 bytes_done;        /* acknowledged bytes of earlier connections */
  guint64 bytes_now;         /* acknowledged bytes of this connection */
  guint64 samples[BITRATE_WINDOW + 1];
  guint n_samples;
  guint64 bitrate;

  /* the manager thread */
  GThread *thread;
  GMainContext *context;
  GMainLoop *loop;
  GSource *retry_source;
  guint checks;
};

enum {
  PROP_0,
  PROP_LOCATION,
  PROP_ENABLED,
  PROP_STATS,
  PROP_MAX_BACKOFF,
  PROP_STALL_TIMEOUT,
  PROP_TLS_VALIDATION_FLAGS,
};

static GstStaticPadTemplate video_template =
  GST_STATIC_PAD_TEMPLATE ("video", GST_PAD_SINK, GST_PAD_REQUEST,
                           GST_STATIC_CAPS ("video/x-h264, stream-format = (string) { avc, byte-stream }"));

static GstStaticPadTemplate audio_template =
  GST_STATIC_PAD_TEMPLATE ("audio", GST_PAD_SINK, GST_PAD_REQUEST,
                           GST_STATIC_CAPS ("audio/mpeg, mpegversion = (int) 4"));

#define gst_we_restream_sink_parent_class parent_class
G_DEFINE_TYPE (GstWeRestreamSink, gst_we_restream_sink, GST_TYPE_BIN);

GST_ELEMENT_REGISTER_DEFINE (werestreamsink, "werestreamsink", GST_RANK_NONE,
                             GST_TYPE_WE_RESTREAM_SINK);

static void schedule_build (GstWeRestreamSink *self, guint delay_ms);

/* milliseconds since the element was made: fits a gint for 24 days */
static gint
now_ms (GstWeRestreamSink *self)
{
  return (gint) ((g_get_monotonic_time () - self->base_us) / 1000);
}

/* --- secrets ------------------------------------------------------------ */

gchar *
gst_we_restream_sink_redact_location (const gchar *location)
{
  g_autoptr(GString) out = NULL;
  const gchar *scheme_end, *authority, *path, *query, *at;
  g_autofree gchar *auth = NULL;

  if (location == NULL)
    return NULL;
  scheme_end = strstr (location, "://");
  if (scheme_end == NULL)
    return g_strdup ("***");
  out = g_string_new_len (location, scheme_end + 3 - location);
  authority = scheme_end + 3;
  path = authority + strcspn (authority, "/?#");
  auth = g_strndup (authority, path - authority);
  /* user:password@host */
  at = strrchr (auth, '@');
  if (at != NULL)
    g_string_append_printf (out, "***@%s", at + 1);
  else
    g_string_append (out, auth);
  if (*path == '/') {
    /* rtmp://host/app/key: the application is no secret, the key is */
    const gchar *app = path + 1;
    gsize app_len = strcspn (app, "/?#");

    g_string_append_c (out, '/');
    g_string_append_len (out, app, app_len);
    if (app[app_len] != '\0')
      g_string_append (out, "/***");
    return g_string_free (g_steal_pointer (&out), FALSE);
  }
  query = path;
  if (*query != '\0')
    g_string_append (out, "?***");
  return g_string_free (g_steal_pointer (&out), FALSE);
}

/* Error texts of rtmp2sink and srtsink may quote the location: keep only
 * what redact_location keeps. */
static gchar *
scrub (const gchar *text, const gchar *location)
{
  g_autoptr(GString) s = g_string_new (text);
  const gchar *scheme_end;
  const gchar *authority;
  const gchar *path;

  if (location == NULL)
    return g_string_free (g_steal_pointer (&s), FALSE);
  g_string_replace (s, location, "***", 0);
  scheme_end = strstr (location, "://");
  if (scheme_end == NULL)
    return g_string_free (g_steal_pointer (&s), FALSE);
  authority = scheme_end + 3;
  path = authority + strcspn (authority, "/?#");
  if (*path == '/') {
    const gchar *app = path + 1;
    const gchar *key = app + strcspn (app, "/?#");

    if (*key != '\0' && strlen (key) > 1)
      g_string_replace (s, key + 1, "***", 0);
  } else if (*path == '?' && strlen (path) > 1) {
    g_string_replace (s, path + 1, "***", 0);
  }
  {
    const gchar *at = memchr (authority, '@', path - authority);

    if (at != NULL && at > authority) {
      g_autofree gchar *userinfo = g_strndup (authority, at - authority);

      g_string_replace (s, userinfo, "***", 0);
    }
  }
  return g_string_free (g_steal_pointer (&s), FALSE);
}

static WeRestreamDest
dest_of (const gchar *location)
{
  if (location == NULL)
    return DEST_NONE;
  if (g_str_has_prefix (location, "rtmp://") || g_str_has_prefix (location, "rtmps://"))
    return DEST_RTMP;
  if (g_str_has_prefix (location, "srt://"))
    return DEST_SRT;
  return DEST_NONE;
}

/* --- the gate: request pads → internal pads ----------------------------- */

static GstClockTime
running_time (GstWeRestreamSink *self, Input *in, GstBuffer *buffer)
{
  GstClockTime ts = GST_BUFFER_DTS_OR_PTS (buffer);
  GstClockTime rt = GST_CLOCK_TIME_NONE;

  g_mutex_lock (&self->lock);
  if (in->segment.format == GST_FORMAT_TIME && GST_CLOCK_TIME_IS_VALID (ts))
    rt = gst_segment_to_running_time (&in->segment, GST_FORMAT_TIME, ts);
  g_mutex_unlock (&self->lock);
  return rt;
}

/* the first buffer of a branch: where its timestamps start */
static void
branch_starts (GstWeRestreamSink *self, Input *in, GstBuffer *buffer)
{
  GstClockTime rt = running_time (self, in, buffer);

  g_mutex_lock (&self->lock);
  /* an overrun closes the gate again within one branch: the muxer's
   * origin stays the branch's first buffer */
  if (self->branch_start_rt == GST_CLOCK_TIME_NONE && GST_CLOCK_TIME_IS_VALID (rt)) {
    self->branch_start_rt = rt;
    if (self->stream_base_rt == GST_CLOCK_TIME_NONE)
      self->stream_base_rt = rt;
    self->ts_offset_ms = (gint64) ((rt - MIN (rt, self->stream_base_rt)) / GST_MSECOND);
    GST_DEBUG_OBJECT (self, "branch starts at %" GST_TIME_FORMAT ", %" G_GINT64_FORMAT " ms in",
                      GST_TIME_ARGS (rt), self->ts_offset_ms);
  }
  g_mutex_unlock (&self->lock);
}

/* Under the gate's reader lock with the branch up (so the queues stay):
 * whether the destination fell DEFAULT_QUEUE_TIME behind. Then the gate
 * drops everything up to a keyframe that finds room again, and the
 * destination gets whole GOPs with a gap between, never a broken one. */
static gboolean
branch_full (GstWeRestreamSink *self)
{
  GstElement *queues[] = { self->queue_v, self->queue_a };

  for (guint i = 0; i < G_N_ELEMENTS (queues); i++) {
    guint64 level = 0;

    if (queues[i] == NULL)
      continue;
    g_object_get (queues[i], "current-level-time", &level, NULL);
    if (level >= DEFAULT_QUEUE_TIME)
      return TRUE;
  }
  return FALSE;
}

static GstFlowReturn
input_chain (GstPad *pad, GstObject *parent, GstBuffer *buffer)
{
  Input *in = gst_pad_get_element_private (pad);
  GstWeRestreamSink *self = GST_WE_RESTREAM_SINK (parent);
  GstFlowReturn ret = GST_FLOW_OK;

  g_atomic_int_set (&self->last_input_ms, now_ms (self));
  g_rw_lock_reader_lock (&self->gate);
  if (!self->branch_up) {
    gst_buffer_unref (buffer);
    goto out;
  }
  if (!g_atomic_int_get (&self->wait_keyframe) && self->video != NULL && branch_full (self)) {
    GST_DEBUG_OBJECT (self, "destination behind, dropping up to a keyframe");
    g_atomic_int_set (&self->wait_keyframe, TRUE);
  }
  if (g_atomic_int_get (&self->wait_keyframe)) {
    /* a new connection starts with a keyframe; audio waits for it too, so
     * the destination does not get seconds of sound over no picture */
    if (!in->video || GST_BUFFER_FLAG_IS_SET (buffer, GST_BUFFER_FLAG_DELTA_UNIT) ||
        branch_full (self)) {
      gst_buffer_unref (buffer);
      goto out;
    }
    branch_starts (self, in, buffer);
    g_atomic_int_set (&self->wait_keyframe, FALSE);
  } else if (!in->video && !g_atomic_int_get (&self->audio_started)) {
    /* nor sound from before that keyframe, which would become the first
     * timestamp of the connection */
    GstClockTime rt = running_time (self, in, buffer);
    GstClockTime start;

    g_mutex_lock (&self->lock);
    start = self->branch_start_rt;
    g_mutex_unlock (&self->lock);
    if (self->video == NULL && start == GST_CLOCK_TIME_NONE) {
      branch_starts (self, in, buffer);
    } else if (GST_CLOCK_TIME_IS_VALID (rt) && GST_CLOCK_TIME_IS_VALID (start) && rt < start) {
      gst_buffer_unref (buffer);
      goto out;
    }
    g_atomic_int_set (&self->audio_started, TRUE);
  }
  ret = gst_pad_push (in->internal, buffer);
out:
  g_rw_lock_reader_unlock (&self->gate);
  if (ret != GST_FLOW_OK)
    GST_DEBUG_OBJECT (self, "branch returned %s, dropped", gst_flow_get_name (ret));
  /* whatever the destination does, the tee keeps flowing */
  return GST_FLOW_OK;
}

static gboolean
inputs_done (GstWeRestreamSink *self)
{
  gboolean done;

  g_mutex_lock (&self->lock);
  done = (self->video != NULL || self->audio != NULL) &&
         (self->video == NULL || self->video->eos) && (self->audio == NULL || self->audio->eos);
  g_mutex_unlock (&self->lock);
  return done;
}

static void
post_own_eos_if_done (GstWeRestreamSink *self)
{
  gboolean done = inputs_done (self), up;
  g_rw_lock_reader_lock (&self->gate);
  up = self->branch_up;
  g_rw_lock_reader_unlock (&self->gate);
  /* with a branch, its sink posts the EOS; without one we must, or the
   * pipeline would wait for a destination that is down */
  if (done && !up)
    gst_element_post_message (GST_ELEMENT (self), gst_message_new_eos (GST_OBJECT (self)));
}

static gboolean
input_event (GstPad *pad, GstObject *parent, GstEvent *event)
{
  Input *in = gst_pad_get_element_private (pad);
  GstWeRestreamSink *self = GST_WE_RESTREAM_SINK (parent);
  gboolean is_eos = GST_EVENT_TYPE (event) == GST_EVENT_EOS;

  if (GST_EVENT_TYPE (event) == GST_EVENT_FLUSH_STOP) {
    g_mutex_lock (&self->lock);
    in->eos = FALSE;
    g_mutex_unlock (&self->lock);
  }
  if (GST_EVENT_TYPE (event) == GST_EVENT_SEGMENT) {
    const GstSegment *segment;

    gst_event_parse_segment (event, &segment);
    g_mutex_lock (&self->lock);
    gst_segment_copy_into (segment, &in->segment);
    g_mutex_unlock (&self->lock);
  }
  /* marked first: the sink may post its EOS before the push returns, and
   * handle_message must not take it for a hang-up */
  if (is_eos) {
    g_mutex_lock (&self->lock);
    in->eos = TRUE;
    g_mutex_unlock (&self->lock);
  }
  /* sticky events (stream-start, caps with the codec data, segment) stay
   * on the internal pad even when nothing is linked, and go to every new
   * branch before its first buffer */
  g_rw_lock_reader_lock (&self->gate);
  gst_pad_push_event (in->internal, event);
  g_rw_lock_reader_unlock (&self->gate);
  if (is_eos)
    post_own_eos_if_done (self);
  return TRUE;
}

static gboolean
input_query (GstPad *pad, GstObject *parent, GstQuery *query)
{
  switch (GST_QUERY_TYPE (query)) {
  case GST_QUERY_CAPS: {
    g_autoptr(GstCaps) templ = gst_pad_get_pad_template_caps (pad);
    GstCaps *filter = NULL;

    gst_query_parse_caps (query, &filter);
    if (filter != NULL) {
      g_autoptr(GstCaps) result =
        gst_caps_intersect_full (filter, templ, GST_CAPS_INTERSECT_FIRST);

      gst_query_set_caps_result (query, result);
    } else {
      gst_query_set_caps_result (query, templ);
    }
    return TRUE;
  }
  case GST_QUERY_ACCEPT_CAPS: {
    g_autoptr(GstCaps) templ = gst_pad_get_pad_template_caps (pad);
    GstCaps *caps = NULL;

    gst_query_parse_accept_caps (query, &caps);
    gst_query_set_accept_caps_result (query, gst_caps_can_intersect (caps, templ));
    return TRUE;
  }
  default:
    return gst_pad_query_default (pad, parent, query);
  }
}

/* Queries from the branch upstream (latency above all: the muxer must
 * know the stream is live) go on through the request pad. */
static gboolean
internal_query (GstPad *pad, GstObject *parent, GstQuery *query)
{
  Input *in = gst_pad_get_element_private (pad);

  return gst_pad_peer_query (in->pad, query);
}

static gboolean
input_activate_mode (GstPad *pad, GstObject *parent, GstPadMode mode, gboolean active)
{
  Input *in = gst_pad_get_element_private (pad);

  /* deactivating also clears the internal pad's sticky events, so a
   * restarted pipeline does not replay an old EOS */
  return gst_pad_activate_mode (in->internal, GST_PAD_MODE_PUSH, active);
}

static GstPad *
gst_we_restream_sink_request_new_pad (GstElement *element, GstPadTemplate *templ,
                                      const gchar *name, const GstCaps *caps)
{
  GstWeRestreamSink *self = GST_WE_RESTREAM_SINK (element);
  gboolean video = g_str_equal (GST_PAD_TEMPLATE_NAME_TEMPLATE (templ), "video");
  Input *in;
  g_autofree gchar *internal_name = NULL;

  g_mutex_lock (&self->lock);
  if ((video && self->video != NULL) || (!video && self->audio != NULL)) {
    g_mutex_unlock (&self->lock);
    GST_WARNING_OBJECT (self, "already have a %s pad", video ? "video" : "audio");
    return NULL;
  }
  in = g_new0 (Input, 1);
  in->self = self;
  in->video = video;
  gst_segment_init (&in->segment, GST_FORMAT_UNDEFINED);
  in->pad = gst_pad_new_from_template (templ, video ? "video" : "audio");
  internal_name = g_strdup_printf ("%s_internal", video ? "video" : "audio");
  in->internal = gst_object_ref_sink (gst_pad_new (internal_name, GST_PAD_SRC));
  gst_pad_set_element_private (in->pad, in);
  gst_pad_set_element_private (in->internal, in);
  gst_pad_set_chain_function (in->pad, input_chain);
  gst_pad_set_event_function (in->pad, input_event);
  gst_pad_set_query_function (in->pad, input_query);
  gst_pad_set_activatemode_function (in->pad, input_activate_mode);
  gst_pad_set_query_function (in->internal, internal_query);
  if (video)
    self->video = in;
  else
    self->audio = in;
  g_mutex_unlock (&self->lock);

  gst_pad_set_active (in->pad, GST_STATE (element) > GST_STATE_READY);
  gst_element_add_pad (element, in->pad);
  /* running: the branch is built for a set of pads, build it again */
  schedule_build (self, 0);
  return in->pad;
}

static void
gst_we_restream_sink_release_pad (GstElement *element, GstPad *pad)
{
  GstWeRestreamSink *self = GST_WE_RESTREAM_SINK (element);
  Input *in = gst_pad_get_element_private (pad);

  g_mutex_lock (&self->lock);
  if (self->video == in)
    self->video = NULL;
  if (self->audio == in)
    self->audio = NULL;
  g_mutex_unlock (&self->lock);
  gst_pad_set_active (pad, FALSE);
  gst_element_remove_pad (element, pad);
  /* the branch is built for a set of pads: rebuild it for the new set */
  g_rw_lock_writer_lock (&self->gate);
  if (GST_PAD_PEER (in->internal) != NULL) {
    GstPad *peer = gst_pad_get_peer (in->internal);

    gst_pad_unlink (in->internal, peer);
    gst_object_unref (peer);
  }
  g_rw_lock_writer_unlock (&self->gate);
  gst_object_unref (in->internal);
  g_free (in);
  schedule_build (self, 0);
}

/* --- the branch ------------------------------------------------------------ */

static GstElement *
make (const gchar *factory, GError **error)
{
  GstElement *e = gst_element_factory_make (factory, NULL);

  if (e == NULL)
    g_set_error (error, GST_CORE_ERROR, GST_CORE_ERROR_MISSING_PLUGIN,
                 "element %s is not installed", factory);
  return e;
}

static GstElement *
make_queue (GstWeRestreamSink *self, GError **error)
{
  GstElement *q = make ("queue", error);

  if (q == NULL)
    return NULL;
  /* the gate keeps it under DEFAULT_QUEUE_TIME (see branch_full); leaky
   * at twice that only as a backstop, as a leak drops the oldest data and
   * leaves a GOP without its keyframe at the head */
  g_object_set (q, "leaky", 2, "max-size-buffers", 0, "max-size-bytes", 0,
                "max-size-time", (guint64) 2 * DEFAULT_QUEUE_TIME, "silent", FALSE, NULL);
  return q;
}

static void
on_overrun (GstElement *queue, GstWeRestreamSink *self)
{
  g_atomic_int_set (&self->wait_keyframe, TRUE);
}

static GstPadProbeReturn
on_sink_buffer (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  GstWeRestreamSink *self = user_data;

  /* the sink renders in this thread: a second buffer means the first was
   * accepted, i.e. the connection is up */
  g_atomic_int_inc (&self->rendered);
  g_atomic_int_set (&self->last_render_ms, now_ms (self));
  return GST_PAD_PROBE_OK;
}

/* flvmux pushes one FLV tag per buffer (streamable): move its timestamp
 * (24 bits and 8 extended ones, in ms) to where the stream is */
static GstPadProbeReturn
shift_flv_tag (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  GstWeRestreamSink *self = user_data;
  GstBuffer *buffer = GST_PAD_PROBE_INFO_BUFFER (info);
  guint8 h[8];
  guint32 ts;
  gint64 offset;

  g_mutex_lock (&self->lock);
  offset = self->ts_offset_ms;
  g_mutex_unlock (&self->lock);
  if (offset <= 0 || gst_buffer_extract (buffer, 0, h, sizeof h) != sizeof h ||
      (h[0] != 8 && h[0] != 9 && h[0] != 18))
    return GST_PAD_PROBE_OK;
  ts = ((guint32) h[7] << 24) | ((guint32) h[4] << 16) | ((guint32) h[5] << 8) | h[6];
  ts += (guint32) offset;
  h[4] = (ts >> 16) & 0xff;
  h[5] = (ts >> 8) & 0xff;
  h[6] = ts & 0xff;
  h[7] = (ts >> 24) & 0xff;
  buffer = gst_buffer_make_writable (buffer);
  gst_buffer_fill (buffer, 4, h + 4, 4);
  GST_PAD_PROBE_INFO_DATA (info) = buffer;
  return GST_PAD_PROBE_OK;
}

/* manager thread, branch down */
static gboolean
build_branch (GstWeRestreamSink *self, GError **error)
{
  g_autoptr(GstElement) queue_v = NULL, queue_a = NULL, parse_v = NULL, parse_a = NULL;
  g_autoptr(GstElement) mux = NULL, sink = NULL;
  g_autofree gchar *location = NULL;
  g_autoptr(GstPad) sinkpad = NULL;
  gboolean video, audio;
  WeRestreamDest dest;
  GTlsCertificateFlags tls_flags;

  g_mutex_lock (&self->lock);
  location = g_strdup (self->location);
  tls_flags = self->tls_validation_flags;
  dest = self->dest;
  video = self->video != NULL;
  audio = self->audio != NULL;
  g_mutex_unlock (&self->lock);

  if (!video && !audio) {
    g_set_error_literal (error, GST_CORE_ERROR, GST_CORE_ERROR_NEGOTIATION,
                         "no video or audio pad requested");
    return FALSE;
  }
  if (dest == DEST_RTMP) {
    mux = make ("flvmux", error);
    sink = make ("rtmp2sink", error);
    if (mux == NULL || sink == NULL)
      return FALSE;
    g_object_set (mux, "streamable", TRUE, NULL);
    /* 4096-byte chunks as OBS and ffmpeg send them: with rtmp2sink's
     * default of 128 it cuts a 6 Mb/s stream into ~6000 chunks a second,
     * a GstMemory each, which was about half of a destination's CPU */
    g_object_set (sink, "location", location, "tls-validation-flags", tls_flags,
                  "chunk-size", RTMP_CHUNK_SIZE, NULL);
  } else if (dest == DEST_SRT) {
    mux = make ("mpegtsmux", error);
    sink = make ("srtsink", error);
    if (mux == NULL || sink == NULL)
      return FALSE;
    /* SRT live mode sends one buffer per packet, 1316 bytes at most: seven
     * TS packets, or libsrt refuses the big ones (keyframes, headers) */
    g_object_set (mux, "alignment", 7, NULL);
    g_object_set (sink, "uri", location, "wait-for-connection", TRUE, NULL);
  } else {
    g_set_error_literal (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS,
                         "location must be rtmp://, rtmps:// or srt://");
    return FALSE;
  }
  /* the muxer waits this long for the other stream before it times out
   * and sends what it has: a video frame arriving after audio it was
   * already sent past would get a bumped timestamp (flvmux keeps them
   * increasing), and a busy encoder is that late now and then */
  g_object_set (mux, "latency", (guint64) MUX_LATENCY, NULL);
  /* a later branch starts at a running time of seconds: from zero, the
   * muxer's first deadline would be long past, it would send whichever
   * stream came first and clamp the other's earlier frames to one
   * timestamp */
  gst_util_set_object_arg (G_OBJECT (mux), "start-time-selection", "first");
  /* live data: the sink sends what it gets, and must not hold the bin's
   * state while it connects */
  g_object_set (sink, "sync", FALSE, "async", FALSE, NULL);
  gst_object_ref_sink (mux);
  gst_object_ref_sink (sink);
  gst_bin_add_many (GST_BIN (self), gst_object_ref (mux), gst_object_ref (sink), NULL);
  if (!gst_element_link (mux, sink)) {
    g_set_error_literal (error, GST_CORE_ERROR, GST_CORE_ERROR_NEGOTIATION,
                         "cannot link the muxer to the sink");
    goto fail;
  }
  if (video) {
    queue_v = make_queue (self, error);
    parse_v = make ("h264parse", error);
    if (queue_v == NULL || parse_v == NULL)
      goto fail;
    /* MPEG-TS has no global headers: SPS/PPS with every keyframe */
    g_object_set (parse_v, "config-interval", -1, NULL);
    gst_object_ref_sink (queue_v);
    gst_object_ref_sink (parse_v);
    gst_bin_add_many (GST_BIN (self), gst_object_ref (queue_v), gst_object_ref (parse_v), NULL);
    if (!gst_element_link_many (queue_v, parse_v, NULL) ||
        !gst_element_link_pads (parse_v, "src", mux, dest == DEST_RTMP ? "video" : NULL)) {
      g_set_error_literal (error, GST_CORE_ERROR, GST_CORE_ERROR_NEGOTIATION,
                           "cannot link the video branch");
      goto fail;
    }
    g_signal_connect (queue_v, "overrun", G_CALLBACK (on_overrun), self);
  }
  if (audio) {
    queue_a = make_queue (self, error);
    parse_a = make ("aacparse", error);
    if (queue_a == NULL || parse_a == NULL)
      goto fail;
    gst_object_ref_sink (queue_a);
    gst_object_ref_sink (parse_a);
    gst_bin_add_many (GST_BIN (self), gst_object_ref (queue_a), gst_object_ref (parse_a), NULL);
    if (!gst_element_link_many (queue_a, parse_a, NULL) ||
        !gst_element_link_pads (parse_a, "src", mux, dest == DEST_RTMP ? "audio" : NULL)) {
      g_set_error_literal (error, GST_CORE_ERROR, GST_CORE_ERROR_NEGOTIATION,
                           "cannot link the audio branch");
      goto fail;
    }
  }
  if (dest == DEST_RTMP) {
    g_autoptr(GstPad) muxpad = gst_element_get_static_pad (mux, "src");

    gst_pad_add_probe (muxpad, GST_PAD_PROBE_TYPE_BUFFER, shift_flv_tag, self, NULL);
  }
  sinkpad = gst_element_get_static_pad (sink, "sink");
  g_atomic_int_set (&self->rendered, 0);
  g_atomic_int_set (&self->last_render_ms, now_ms (self));
  gst_pad_add_probe (sinkpad, GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST,
                     on_sink_buffer, self, NULL);

  g_mutex_lock (&self->lock);
  self->generation++;
  self->queue_v = g_steal_pointer (&queue_v);
  self->queue_a = g_steal_pointer (&queue_a);
  self->parse_v = g_steal_pointer (&parse_v);
  self->parse_a = g_steal_pointer (&parse_a);
  self->mux = g_steal_pointer (&mux);
  self->sink = g_steal_pointer (&sink);
  g_mutex_unlock (&self->lock);

  /* downstream first, so nothing pushes into an element still in NULL */
  gst_element_sync_state_with_parent (self->sink);
  gst_element_sync_state_with_parent (self->mux);
  if (self->parse_v != NULL) {
    gst_element_sync_state_with_parent (self->parse_v);
    gst_element_sync_state_with_parent (self->queue_v);
  }
  if (self->parse_a != NULL) {
    gst_element_sync_state_with_parent (self->parse_a);
    gst_element_sync_state_with_parent (self->queue_a);
  }

  g_rw_lock_writer_lock (&self->gate);
  if (self->video != NULL && self->queue_v != NULL) {
    g_autoptr(GstPad) qpad = gst_element_get_static_pad (self->queue_v, "sink");

    gst_pad_link (self->video->internal, qpad);
  }
  if (self->audio != NULL && self->queue_a != NULL) {
    g_autoptr(GstPad) qpad = gst_element_get_static_pad (self->queue_a, "sink");

    gst_pad_link (self->audio->internal, qpad);
  }
  g_atomic_int_set (&self->wait_keyframe, self->video != NULL);
  g_atomic_int_set (&self->audio_started, FALSE);
  g_mutex_lock (&self->lock);
  self->branch_start_rt = GST_CLOCK_TIME_NONE;
  self->ts_offset_ms = 0;
  self->acked_at_ms = now_ms (self);
  self->sent_at_ack = 0;
  g_mutex_unlock (&self->lock);
  self->branch_up = TRUE;
  g_rw_lock_writer_unlock (&self->gate);
  GST_INFO_OBJECT (self, "branch %u built", self->generation);
  return TRUE;

fail:
  /* elements already added are removed by tear_down_branch via these */
  g_mutex_lock (&self->lock);
  self->generation++;
  self->queue_v = g_steal_pointer (&queue_v);
  self->queue_a = g_steal_pointer (&queue_a);
  self->parse_v = g_steal_pointer (&parse_v);
  self->parse_a = g_steal_pointer (&parse_a);
  self->mux = g_steal_pointer (&mux);
  self->sink = g_steal_pointer (&sink);
  g_mutex_unlock (&self->lock);
  return FALSE;
}

static void
drop_element (GstWeRestreamSink *self, GstElement **slot)
{
  GstElement *e = *slot;

  if (e == NULL)
    return;
  *slot = NULL;
  gst_element_set_locked_state (e, TRUE);
  gst_element_set_state (e, GST_STATE_NULL);
  if (GST_OBJECT_PARENT (e) == GST_OBJECT (self))
    gst_bin_remove (GST_BIN (self), e);
  gst_object_unref (e);
}

/* manager thread (or change_state once it stopped) */
static void
tear_down_branch (GstWeRestreamSink *self)
{
  GstElement *queue_v, *queue_a, *parse_v, *parse_a, *mux, *sink;
  guint64 acked = 0;

  g_rw_lock_writer_lock (&self->gate);
  self->branch_up = FALSE;
  for (guint i = 0; i < 2; i++) {
    Input *in = i == 0 ? self->video : self->audio;
    GstPad *peer;

    if (in == NULL)
      continue;
    peer = gst_pad_get_peer (in->internal);
    if (peer != NULL) {
      gst_pad_unlink (in->internal, peer);
      gst_object_unref (peer);
    }
  }
  g_rw_lock_writer_unlock (&self->gate);

  g_mutex_lock (&self->lock);
  queue_v = self->queue_v;
  queue_a = self->queue_a;
  parse_v = self->parse_v;
  parse_a = self->parse_a;
  mux = self->mux;
  sink = self->sink;
  self->queue_v = self->queue_a = self->parse_v = self->parse_a = self->mux = self->sink = NULL;
  acked = self->bytes_now;
  self->bytes_done += acked;
  self->bytes_now = 0;
  g_mutex_unlock (&self->lock);

  /* the sink first: that unblocks a render stuck on a dead socket, and
   * everything upstream of it then returns FLUSHING into the gate */
  drop_element (self, &sink);
  drop_element (self, &mux);
  drop_element (self, &parse_v);
  drop_element (self, &parse_a);
  drop_element (self, &queue_v);
  drop_element (self, &queue_a);
  /* gst_bin_remove() drops the SINK flag with the last sink; the pipeline
   * must keep counting us as a sink (EOS, latency) */
  GST_OBJECT_FLAG_SET (self, GST_ELEMENT_FLAG_SINK);
}

/* --- the manager thread ------------------------------------------------------ */

static void
set_state (GstWeRestreamSink *self, WeRestreamState state)
{
  /* self->lock held */
  if (self->state == state)
    return;
  GST_INFO_OBJECT (self, "%s → %s", state_names[self->state], state_names[state]);
  self->state = state;
  if (state == STATE_LIVE) {
    self->live_since_us = g_get_monotonic_time ();
    self->backoff_ms = 0;
    if (self->ever_live)
      self->reconnects++;
    self->ever_live = TRUE;
  } else {
    self->live_since_us = 0;
  }
}

static gboolean
on_build (gpointer data)
{
  GstWeRestreamSink *self = data;
  g_autoptr(GError) error = NULL;
  gboolean enabled;

  g_mutex_lock (&self->lock);
  /* only our own source: a newer one may have been scheduled meanwhile */
  if (self->retry_source != NULL && self->retry_source == g_main_current_source ()) {
    g_source_unref (self->retry_source);
    self->retry_source = NULL;
  }
  enabled = self->enabled;
  g_mutex_unlock (&self->lock);

  g_mutex_lock (&self->build_lock);
  tear_down_branch (self);
  if (!enabled) {
    g_mutex_unlock (&self->build_lock);
    return G_SOURCE_REMOVE;
  }
  if (!build_branch (self, &error)) {
    g_autofree gchar *text = NULL;
    guint delay;

    tear_down_branch (self);
    g_mutex_lock (&self->lock);
    text = scrub (error->message, self->location);
    g_free (self->last_error);
    self->last_error = g_steal_pointer (&text);
    self->backoff_ms = self->backoff_ms == 0 ? MIN_BACKOFF_MS
                                             : MIN (self->backoff_ms * 2, self->max_backoff_ms);
    delay = self->backoff_ms;
    set_state (self, self->ever_live ? STATE_RECONNECTING : STATE_CONNECTING);
    g_mutex_unlock (&self->lock);
    GST_WARNING_OBJECT (self, "cannot build the branch: %s", error->message);
    schedule_build (self, delay);
  }
  g_mutex_unlock (&self->build_lock);
  return G_SOURCE_REMOVE;
}

/* any thread */
static void
schedule_build (GstWeRestreamSink *self, guint delay_ms)
{
  GSource *source;

  g_mutex_lock (&self->lock);
  if (self->context == NULL) {
    g_mutex_unlock (&self->lock);
    return;
  }
  if (self->retry_source != NULL) {
    g_source_destroy (self->retry_source);
    g_source_unref (self->retry_source);
  }
  source = delay_ms == 0 ? g_idle_source_new () : g_timeout_source_new (delay_ms);
  g_source_set_callback (source, on_build, self, NULL);
  g_source_attach (source, self->context);
  self->retry_source = source;
  g_mutex_unlock (&self->lock);
}

typedef struct {
  GstWeRestreamSink *self;
  guint generation;
  gchar *error;
} Failure;

static void
failure_free (gpointer data)
{
  Failure *f = data;

  g_free (f->error);
  g_free (f);
}

static gboolean
on_failure (gpointer data)
{
  Failure *f = data;
  GstWeRestreamSink *self = f->self;
  guint delay;

  g_mutex_lock (&self->build_lock);
  g_mutex_lock (&self->lock);
  if (f->generation != self->generation || !self->enabled || self->sink == NULL) {
    g_mutex_unlock (&self->lock);
    g_mutex_unlock (&self->build_lock);
    return G_SOURCE_REMOVE;
  }
  g_free (self->last_error);
  self->last_error = scrub (f->error, self->location);
  self->backoff_ms = self->backoff_ms == 0 ? MIN_BACKOFF_MS
                                           : MIN (self->backoff_ms * 2, self->max_backoff_ms);
  delay = self->backoff_ms;
  set_state (self, self->ever_live ? STATE_RECONNECTING : STATE_CONNECTING);
  GST_WARNING_OBJECT (self, "destination failed (%s), retrying in %u ms", self->last_error,
                      delay);
  g_mutex_unlock (&self->lock);

  /* down now: data is dropped at the gate until the next attempt */
  tear_down_branch (self);
  g_mutex_unlock (&self->build_lock);
  /* after the end of the input a new branch would never get it (no data
   * follows to carry the sticky EOS): end here */
  if (inputs_done (self))
    post_own_eos_if_done (self);
  else
    schedule_build (self, delay);
  return G_SOURCE_REMOVE;
}

/* any thread, e.g. the sink's streaming thread: only hands over */
static void
report_failure (GstWeRestreamSink *self, guint generation, const gchar *error)
{
  Failure *f = g_new0 (Failure, 1);
  GSource *source;

  f->self = self;
  f->generation = generation;
  f->error = g_strdup (error);
  g_mutex_lock (&self->lock);
  if (self->context == NULL) {
    g_mutex_unlock (&self->lock);
    failure_free (f);
    return;
  }
  source = g_idle_source_new ();
  g_source_set_callback (source, on_failure, f, failure_free);
  g_source_attach (source, self->context);
  g_source_unref (source);
  g_mutex_unlock (&self->lock);
}

/* a counter of rtmp2sink's or srtsink's stats, whatever its integer type */
static guint64
stat_u64 (const GstStructure *stats, const gchar *name)
{
  const GValue *v = gst_structure_get_value (stats, name);

  if (v == NULL)
    return 0;
  if (G_VALUE_HOLDS_UINT64 (v))
    return g_value_get_uint64 (v);
  if (G_VALUE_HOLDS_INT64 (v))
    return (guint64) MAX (g_value_get_int64 (v), 0);
  if (G_VALUE_HOLDS_UINT (v))
    return g_value_get_uint (v);
  if (G_VALUE_HOLDS_INT (v))
    return (guint64) MAX (g_value_get_int (v), 0);
  return 0;
}

/* acked: bytes the destination confirmed; sent, window and received (RTMP
 * only): bytes written to the socket, the larger acknowledgement window,
 * bytes the server sent us */
static guint64
read_acked (GstElement *sink, WeRestreamDest dest, guint64 *sent_out, guint64 *window_out,
            guint64 *received_out)
{
  g_autoptr(GstStructure) stats = NULL;
  guint64 v = 0;

  *sent_out = *window_out = *received_out = 0;
  if (sink == NULL)
    return 0;
  g_object_get (sink, "stats", &stats, NULL);
  if (stats == NULL)
    return 0;
  if (dest == DEST_RTMP) {
    v = stat_u64 (stats, "out-bytes-acked");
    *sent_out = stat_u64 (stats, "out-bytes-total");
    *window_out = MAX (stat_u64 (stats, "in-window-ack-size"),
                       stat_u64 (stats, "out-window-ack-size"));
    *received_out = stat_u64 (stats, "in-bytes-total");
  } else {
    /* srtsink: bytes the peer got (sent minus dropped); in caller mode
     * the counters are top-level fields */
    guint64 sent = stat_u64 (stats, "bytes-sent");
    guint64 dropped = stat_u64 (stats, "bytes-sent-dropped");

    v = sent > dropped ? sent - dropped : 0;
  }
  return v;
}

/* self->lock held */
static GstStructure *
make_stats (GstWeRestreamSink *self, const gchar *name)
{
  g_autofree gchar *shown = gst_we_restream_sink_redact_location (self->location);
  guint64 uptime = 0;

  if (self->state == STATE_LIVE && self->live_since_us != 0)
    uptime = (guint64) (g_get_monotonic_time () - self->live_since_us) * GST_USECOND;
  return gst_structure_new (name,
                            "location", G_TYPE_STRING, shown,
                            "state", G_TYPE_STRING, state_names[self->state],
                            "enabled", G_TYPE_BOOLEAN, self->enabled,
                            "bitrate", G_TYPE_UINT64, self->bitrate,
                            "bytes_acked", G_TYPE_UINT64, self->bytes_done + self->bytes_now,
                            "uptime", G_TYPE_UINT64, uptime,
                            "reconnects", G_TYPE_UINT, self->reconnects,
                            "last_error", G_TYPE_STRING, self->last_error,
                            NULL);
}

static gboolean
on_check (gpointer data)
{
  GstWeRestreamSink *self = data;
  g_autoptr(GstElement) sink = NULL;
  WeRestreamDest dest;
  guint generation;
  gboolean stall_render = FALSE, stall_ack = FALSE;
  gint now = now_ms (self);
  guint64 acked, sent, window, received;
  GstStructure *stats = NULL;

  g_mutex_lock (&self->lock);
  sink = self->sink != NULL ? gst_object_ref (self->sink) : NULL;
  dest = self->dest;
  generation = self->generation;
  g_mutex_unlock (&self->lock);

  acked = read_acked (sink, dest, &sent, &window, &received);

  g_mutex_lock (&self->lock);
  if (!self->enabled)
    set_state (self, STATE_DISABLED);
  if (sink != NULL && generation == self->generation) {
    if (acked > self->bytes_now) {
      self->bytes_now = acked;
      self->acked_at_ms = now;
      self->sent_at_ack = sent;
    }
    /* live once the sink rendered (so the connection took our data) and,
     * for RTMP, the server answered: rtmp2sink takes buffers while its
     * handshake still hangs */
    if (self->state != STATE_LIVE && g_atomic_int_get (&self->rendered) >= 2 &&
        (dest != DEST_RTMP || received > 0))
      set_state (self, STATE_LIVE);
    if (self->state == STATE_LIVE && self->stall_timeout_s > 0) {
      gint timeout_ms = (gint) self->stall_timeout_s * 1000;

      /* a destination that stopped reading gives no error. Either the
       * sink blocks (nothing rendered while input arrives)… */
      if (now - g_atomic_int_get (&self->last_render_ms) > timeout_ms &&
          now - g_atomic_int_get (&self->last_input_ms) < 1000)
        stall_render = TRUE;
      /* …or, as the kernel takes our data into socket buffers for
       * minutes, acknowledgements stop while we send well past the window
       * after which the server must acknowledge */
      else if (window > 0 && now - self->acked_at_ms > timeout_ms &&
               sent > self->sent_at_ack + 2 * window + 65536)
        stall_ack = TRUE;
    }
  }
  if (++self->checks % STATS_EVERY_CHECKS == 0) {
    /* bits per second over the last BITRATE_WINDOW seconds of what the
     * destination acknowledged: RTMP servers acknowledge in windows, so a
     * shorter span would jump between 0 and peaks */
    memmove (self->samples + 1, self->samples, BITRATE_WINDOW * sizeof (guint64));
    self->samples[0] = self->bytes_done + self->bytes_now;
    if (self->n_samples < BITRATE_WINDOW + 1)
      self->n_samples++;
    if (self->state != STATE_LIVE)
      self->bitrate = 0;
    else if (self->n_samples > 1)
      self->bitrate = (self->samples[0] - self->samples[self->n_samples - 1]) * 8 /
                      (self->n_samples - 1);
    stats = make_stats (self, "we-restream-stats");
  }
  g_mutex_unlock (&self->lock);

  if (stall_render || stall_ack) {
    g_autofree gchar *msg =
      stall_render
        ? g_strdup_printf ("the destination accepted nothing for %u s", self->stall_timeout_s)
        : g_strdup_printf ("the destination acknowledged nothing for %u s", self->stall_timeout_s);

    report_failure (self, generation, msg);
  }
  if (stats != NULL)
    gst_element_post_message (GST_ELEMENT (self),
                              gst_message_new_element (GST_OBJECT (self), stats));
  return G_SOURCE_CONTINUE;
}

static gpointer
manager_thread (gpointer data)
{
  GstWeRestreamSink *self = data;

  g_main_context_push_thread_default (self->context);
  g_main_loop_run (self->loop);
  g_main_context_pop_thread_default (self->context);
  return NULL;
}

static void
start_manager (GstWeRestreamSink *self)
{
  GSource *check;

  g_mutex_lock (&self->lock);
  self->context = g_main_context_new ();
  self->loop = g_main_loop_new (self->context, FALSE);
  self->checks = 0;
  self->n_samples = 0;
  self->bitrate = 0;
  self->backoff_ms = 0;
  self->state = self->enabled ? STATE_CONNECTING : STATE_DISABLED;
  check = g_timeout_source_new (CHECK_INTERVAL_MS);
  g_source_set_callback (check, on_check, self, NULL);
  g_source_attach (check, self->context);
  g_source_unref (check);
  self->thread = g_thread_new ("werestreamsink", manager_thread, self);
  g_mutex_unlock (&self->lock);
}

static gboolean
quit_loop (gpointer data)
{
  g_main_loop_quit (data);
  return G_SOURCE_REMOVE;
}

static void
stop_manager (GstWeRestreamSink *self)
{
  GThread *thread;

  g_mutex_lock (&self->lock);
  thread = g_steal_pointer (&self->thread);
  if (self->loop != NULL) {
    /* from inside the loop: a g_main_loop_quit() before the thread got to
     * g_main_loop_run() would be lost */
    GSource *quit = g_idle_source_new ();

    g_source_set_callback (quit, quit_loop, self->loop, NULL);
    g_source_attach (quit, self->context);
    g_source_unref (quit);
  }
  g_mutex_unlock (&self->lock);
  if (thread != NULL)
    g_thread_join (thread);

  g_mutex_lock (&self->lock);
  if (self->retry_source != NULL) {
    g_source_destroy (self->retry_source);
    g_source_unref (self->retry_source);
    self->retry_source = NULL;
  }
  g_clear_pointer (&self->loop, g_main_loop_unref);
  g_clear_pointer (&self->context, g_main_context_unref);
  g_mutex_unlock (&self->lock);
}

/* --- GstBin / GstElement ------------------------------------------------- */

static void
gst_we_restream_sink_handle_message (GstBin *bin, GstMessage *message)
{
  GstWeRestreamSink *self = GST_WE_RESTREAM_SINK (bin);
  GstObject *src = GST_MESSAGE_SRC (message);
  gboolean ours = src != GST_OBJECT (self) && src != NULL &&
                  gst_object_has_as_ancestor (src, GST_OBJECT (self));

  if (ours && GST_MESSAGE_TYPE (message) == GST_MESSAGE_ERROR) {
    g_autoptr(GError) error = NULL;
    g_autofree gchar *debug = NULL;
    guint generation;
    gboolean current;

    gst_message_parse_error (message, &error, &debug);
    g_mutex_lock (&self->lock);
    generation = self->generation;
    current = self->sink != NULL &&
              (src == GST_OBJECT (self->sink) || src == GST_OBJECT (self->mux) ||
               src == GST_OBJECT (self->queue_v) || src == GST_OBJECT (self->queue_a) ||
               src == GST_OBJECT (self->parse_v) || src == GST_OBJECT (self->parse_a));
    g_mutex_unlock (&self->lock);
    /* never to the pipeline: one destination must not end the restream */
    if (current)
      report_failure (self, generation, error->message);
    gst_message_unref (message);
    return;
  }
  if (ours && GST_MESSAGE_TYPE (message) == GST_MESSAGE_EOS) {
    gboolean done, current;
    guint generation;

    g_mutex_lock (&self->lock);
    done = (self->video == NULL || self->video->eos) && (self->audio == NULL || self->audio->eos);
    current = src == GST_OBJECT (self->sink);
    generation = self->generation;
    g_mutex_unlock (&self->lock);
    if (!done) {
      /* the sink ended on its own: the server hung up */
      if (current)
        report_failure (self, generation, "the destination ended the connection");
      gst_message_unref (message);
      return;
    }
  }
  GST_BIN_CLASS (parent_class)->handle_message (bin, message);
}

static GstStateChangeReturn
gst_we_restream_sink_change_state (GstElement *element, GstStateChange transition)
{
  GstWeRestreamSink *self = GST_WE_RESTREAM_SINK (element);
  GstStateChangeReturn ret;

  switch (transition) {
  case GST_STATE_CHANGE_NULL_TO_READY: {
    WeRestreamDest dest;

    g_mutex_lock (&self->lock);
    dest = self->dest;
    g_mutex_unlock (&self->lock);
    if (dest == DEST_NONE) {
      GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS, ("No usable location"),
                         ("location must be rtmp://, rtmps:// or srt://"));
      return GST_STATE_CHANGE_FAILURE;
    }
    break;
  }
  case GST_STATE_CHANGE_READY_TO_PAUSED: {
    gboolean enabled;

    g_mutex_lock (&self->lock);
    enabled = self->enabled;
    self->reconnects = 0;
    self->ever_live = FALSE;
    self->bytes_done = self->bytes_now = 0;
    self->stream_base_rt = GST_CLOCK_TIME_NONE;
    g_clear_pointer (&self->last_error, g_free);
    if (self->video != NULL)
      self->video->eos = FALSE;
    if (self->audio != NULL)
      self->audio->eos = FALSE;
    g_mutex_unlock (&self->lock);
    start_manager (self);
    /* built now, the branch changes state with the bin */
    if (enabled)
      on_build (self);
    break;
  }
  case GST_STATE_CHANGE_PAUSED_TO_READY:
    /* first, so no rebuild runs while the bin changes its children */
    stop_manager (self);
    break;
  default:
    break;
  }

  ret = GST_ELEMENT_CLASS (parent_class)->change_state (element, transition);
  if (ret == GST_STATE_CHANGE_FAILURE)
    return ret;

  switch (transition) {
  case GST_STATE_CHANGE_PAUSED_TO_READY:
    tear_down_branch (self);
    break;
  default:
    break;
  }
  return ret;
}

static void
gst_we_restream_sink_set_property (GObject *object, guint prop_id, const GValue *value,
                                   GParamSpec *pspec)
{
  GstWeRestreamSink *self = GST_WE_RESTREAM_SINK (object);

  switch (prop_id) {
  case PROP_LOCATION:
    g_mutex_lock (&self->lock);
    if (self->thread != NULL) {
      g_mutex_unlock (&self->lock);
      GST_WARNING_OBJECT (self, "location cannot change while running");
      return;
    }
    g_free (self->location);
    self->location = g_value_dup_string (value);
    self->dest = dest_of (self->location);
    g_mutex_unlock (&self->lock);
    break;
  case PROP_ENABLED: {
    gboolean enabled = g_value_get_boolean (value);
    gboolean changed;

    g_mutex_lock (&self->lock);
    changed = self->enabled != enabled;
    self->enabled = enabled;
    if (changed && self->context != NULL) {
      self->backoff_ms = 0;
      set_state (self, enabled ? (self->ever_live ? STATE_RECONNECTING : STATE_CONNECTING)
                               : STATE_DISABLED);
    }
    g_mutex_unlock (&self->lock);
    /* disabling tears the branch down (not connected, data dropped at
     * the gate); enabling connects at once */
    if (changed)
      schedule_build (self, 0);
    break;
  }
  case PROP_MAX_BACKOFF:
    g_mutex_lock (&self->lock);
    self->max_backoff_ms = g_value_get_uint (value);
    g_mutex_unlock (&self->lock);
    break;
  case PROP_STALL_TIMEOUT:
    g_mutex_lock (&self->lock);
    self->stall_timeout_s = g_value_get_uint (value);
    g_mutex_unlock (&self->lock);
    break;
  case PROP_TLS_VALIDATION_FLAGS:
    g_mutex_lock (&self->lock);
    self->tls_validation_flags = g_value_get_flags (value);
    g_mutex_unlock (&self->lock);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    break;
  }
}

static void
gst_we_restream_sink_get_property (GObject *object, guint prop_id, GValue *value,
                                   GParamSpec *pspec)
{
  GstWeRestreamSink *self = GST_WE_RESTREAM_SINK (object);

  g_mutex_lock (&self->lock);
  switch (prop_id) {
  case PROP_LOCATION:
    g_value_take_string (value, gst_we_restream_sink_redact_location (self->location));
    break;
  case PROP_ENABLED:
    g_value_set_boolean (value, self->enabled);
    break;
  case PROP_STATS:
    g_value_take_boxed (value, make_stats (self, "werestreamsink-stats"));
    break;
  case PROP_MAX_BACKOFF:
    g_value_set_uint (value, self->max_backoff_ms);
    break;
  case PROP_STALL_TIMEOUT:
    g_value_set_uint (value, self->stall_timeout_s);
    break;
  case PROP_TLS_VALIDATION_FLAGS:
    g_value_set_flags (value, self->tls_validation_flags);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    break;
  }
  g_mutex_unlock (&self->lock);
}

static void
gst_we_restream_sink_finalize (GObject *object)
{
  GstWeRestreamSink *self = GST_WE_RESTREAM_SINK (object);

  g_free (self->location);
  g_free (self->last_error);
  g_rw_lock_clear (&self->gate);
  g_mutex_clear (&self->lock);
  g_mutex_clear (&self->build_lock);
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_we_restream_sink_class_init (GstWeRestreamSinkClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBinClass *bin_class = GST_BIN_CLASS (klass);

  object_class->set_property = gst_we_restream_sink_set_property;
  object_class->get_property = gst_we_restream_sink_get_property;
  object_class->finalize = gst_we_restream_sink_finalize;

  g_object_class_install_property (
    object_class, PROP_LOCATION,
    g_param_spec_string ("location", "Location",
                         "rtmp://host[:port]/app/key, rtmps://… or srt://host:port[?streamid=…"
                         "&passphrase=…] (read back with its secrets as ***)",
                         NULL, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (
    object_class, PROP_ENABLED,
    g_param_spec_boolean ("enabled", "Enabled",
                          "Whether to be connected; when FALSE the data is dropped", TRUE,
                          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
                            GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (
    object_class, PROP_STATS,
    g_param_spec_boxed ("stats", "Statistics",
                        "state (connecting, live, reconnecting, disabled), enabled, bitrate "
                        "(bit/s acknowledged by the destination), bytes_acked, uptime (ns "
                        "connected), reconnects, last_error, location (redacted)",
                        GST_TYPE_STRUCTURE, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (
    object_class, PROP_MAX_BACKOFF,
    g_param_spec_uint ("max-backoff", "Maximum backoff",
                       "Longest wait between two connection attempts (ms); the wait starts "
                       "at 250 ms and doubles",
                       MIN_BACKOFF_MS, 600000, DEFAULT_MAX_BACKOFF_MS,
                       G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (
    object_class, PROP_STALL_TIMEOUT,
    g_param_spec_uint ("stall-timeout", "Stall timeout",
                       "Reconnect when a live destination accepted nothing for this long "
                       "(s, 0: never)",
                       0, 3600, DEFAULT_STALL_TIMEOUT_S,
                       G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING));

  g_object_class_install_property (
    object_class, PROP_TLS_VALIDATION_FLAGS,
    g_param_spec_flags ("tls-validation-flags", "TLS validation flags",
                        "What to check of an rtmps:// server's certificate (the next "
                        "connection uses it)",
                        G_TYPE_TLS_CERTIFICATE_FLAGS, G_TLS_CERTIFICATE_VALIDATE_ALL,
                        G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING));

  gst_element_class_add_static_pad_template (element_class, &video_template);
  gst_element_class_add_static_pad_template (element_class, &audio_template);
  element_class->request_new_pad = gst_we_restream_sink_request_new_pad;
  element_class->release_pad = gst_we_restream_sink_release_pad;
  element_class->change_state = gst_we_restream_sink_change_state;
  bin_class->handle_message = gst_we_restream_sink_handle_message;

  gst_element_class_set_static_metadata (
    element_class, "WebEncode restream destination", "Sink/Network",
    "Sends encoded H.264 and AAC to an RTMP, RTMPS or SRT destination, reconnecting forever "
    "without ever holding up its upstream",
    "WebEncode");

  GST_DEBUG_CATEGORY_INIT (gst_we_restream_sink_debug, "werestreamsink", 0,
                           "WebEncode restream destination");
}

static void
gst_we_restream_sink_init (GstWeRestreamSink *self)
{
  g_rw_lock_init (&self->gate);
  g_mutex_init (&self->lock);
  g_mutex_init (&self->build_lock);
  self->base_us = g_get_monotonic_time ();
  self->enabled = TRUE;
  self->max_backoff_ms = DEFAULT_MAX_BACKOFF_MS;
  self->stall_timeout_s = DEFAULT_STALL_TIMEOUT_S;
  self->tls_validation_flags = G_TLS_CERTIFICATE_VALIDATE_ALL;
  self->state = STATE_CONNECTING;
  self->stream_base_rt = GST_CLOCK_TIME_NONE;
  self->branch_start_rt = GST_CLOCK_TIME_NONE;
  GST_OBJECT_FLAG_SET (self, GST_ELEMENT_FLAG_SINK);
}
