/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The restream pipeline (see we-restream-worker.h):
 *
 *   uridecodebin(item) ─▶ [offset] queue ─▶ h264parse | videoconvert ! x264enc ─▶ clocksync ─▶ tee ─┬▶ werestreamsink × N
 *                     └▶ [offset] queue ─▶ aacparse  | audioconvert … voaacenc ─▶ clocksync ─▶ tee ─┘
 *
 * File-as-live: each playlist item (and each loop) gets a uridecodebin of
 * its own, linked to the same two queues. A pad probe on the queues' sink
 * pads turns every item's timestamps into one running time: an item starts
 * at the end of what went before (the largest end of any buffer of the
 * previous items), its segment, stream-start and EOS never pass, so the
 * destinations see one unbroken stream. clocksync paces it in real time
 * (simulate_live), after the encoders: they work ahead, so their time per
 * frame never delays one stream against the other at the destinations'
 * muxers.
 *
 * Pass-through: with one input (a file, looped or not, or a live stream's
 * HLS), the uridecodebin stops at parsed H.264 and AAC and the middle of
 * each chain is just a parser: nothing is encoded again. Anything else, and
 * every playlist of several items (whose codec settings may differ, which
 * a destination must not see change mid-stream), is decoded and encoded
 * once (H.264 + AAC) for all destinations. The middles are made when the
 * first item's pads appear (ensure_chain()).
 *
 * Every destination is a werestreamsink (gst-elements/restream): it
 * reconnects by itself and never blocks the tee, and posts
 * "we-restream-stats" element messages once a second, which become "stats"
 * lines. Messages go out on the real stdout; stdout proper is redirected to
 * stderr so that nothing else (GStreamer, libraries) can break the lines.
 */
#include "config.h"

#include <glib-unix.h>
#include <gio/gunixinputstream.h>
#include <gio/gunixoutputstream.h>
#include <gst/gst.h>
#include <json-glib/json-glib.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/we-json.h"
#include "common/we-live-playlist.h"
#include "common/we-log.h"
#include "restream/gstwerestreamsink.h"
#include "we-restream-worker.h"

#define VIDEO_BITRATE_KBPS 2500
#define AUDIO_BITRATE      128000
#define KEYFRAME_EVERY     50     /* frames: 2 s at 25 fps, so a destination starts soon */

typedef struct {
  GMainLoop        *loop;
  GDataInputStream *in;
  GOutputStream    *out;
  GstElement       *pipeline;
  GstElement       *vq, *aq;       /* the queues every item links to */
  GstElement       *vtee, *atee;
  GstElement       *item;          /* the current uridecodebin */
  gchar           **inputs;
  guint             n_inputs;
  guint             index;         /* of the current item */
  guint             loops_done;
  gboolean          looping;
  guint             loop_count;    /* 0: forever */
  gboolean          streaming;
  gboolean          finishing;
  gboolean          pace;
  gboolean          passthrough;   /* H.264 and AAC inputs go through as they are */
  guint             video_kbps;
  gboolean          vchain, achain; /* the middles are made (streaming threads) */
  GMutex            write_lock;    /* lines come from streaming threads too */
  int               status;

  GMutex            lock;          /* the members below: streaming threads */
  GstClockTime      offset;        /* running time the current item starts at */
  GstClockTime      end;           /* largest end of any buffer so far */
  GstSegment        vseg, aseg;    /* the current item's segments */
  gboolean          vsent, asent;  /* our one segment went downstream */
  guint             linked;        /* pads of the current item linked */
  guint             eos;           /* of those, at their end */
  gboolean          no_more_pads;
  gboolean          next_queued;
  gboolean          video_started; /* the first encoded frame reached the tee */
  gboolean          quitting;
  GCond             cond;          /* video_started, quitting */
} Worker;

static void
send_line (Worker *w, JsonObject *msg)
{
  g_autoptr(JsonNode) node = json_node_init_object (json_node_alloc (), msg);
  g_autofree gchar *text = json_to_string (node, FALSE);
  g_autofree gchar *line = g_strconcat (text, "\n", NULL);
  gboolean ok;

  g_mutex_lock (&w->write_lock);
  ok = g_output_stream_write_all (w->out, line, strlen (line), NULL, NULL, NULL);
  g_mutex_unlock (&w->write_lock);
  if (!ok)
    g_main_loop_quit (w->loop);
}

static void
send_simple (Worker *w, const gchar *type, const gchar *key, const gchar *value)
{
  g_autoptr(JsonObject) o = json_object_new ();

  json_object_set_string_member (o, "type", type);
  if (key != NULL)
    json_object_set_string_member (o, key, value);
  send_line (w, o);
}

static void
fail (Worker *w, const gchar *message)
{
  send_simple (w, "error", "message", message);
  w->status = EXIT_FAILURE;
  g_main_loop_quit (w->loop);
}

/* --- items ------------------------------------------------------------------------ */

static gboolean next_item_cb (gpointer data);
static gboolean ensure_chain (Worker *w, gboolean video, gboolean compressed);

/* w->lock held: the current item is over when every linked pad is */
static void
check_item_done (Worker *w)
{
  if (w->no_more_pads && w->linked > 0 && w->eos >= w->linked && !w->next_queued) {
    w->next_queued = TRUE;
    g_idle_add (next_item_cb, w);
  }
}

static GstPadProbeReturn
offset_probe (GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
  Worker *w = data;
  gboolean video = GST_OBJECT_PARENT (pad) == GST_OBJECT (w->vq);
  GstSegment *seg = video ? &w->vseg : &w->aseg;
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&w->lock);

  if (info->type & GST_PAD_PROBE_TYPE_BUFFER) {
    GstBuffer *buf = gst_pad_probe_info_get_buffer (info);
    GstClockTime pts, dts, end;

    buf = gst_buffer_make_writable (buf);
    pts = GST_BUFFER_PTS (buf);
    dts = GST_BUFFER_DTS (buf);
    if (GST_CLOCK_TIME_IS_VALID (pts)) {
      guint64 rt = gst_segment_to_running_time (seg, GST_FORMAT_TIME, pts);

      GST_BUFFER_PTS (buf) = GST_CLOCK_TIME_IS_VALID (rt) ? rt + w->offset : GST_CLOCK_TIME_NONE;
    }
    if (GST_CLOCK_TIME_IS_VALID (dts)) {
      guint64 rt = gst_segment_to_running_time (seg, GST_FORMAT_TIME, dts);

      GST_BUFFER_DTS (buf) = GST_CLOCK_TIME_IS_VALID (rt) ? rt + w->offset : GST_CLOCK_TIME_NONE;
    }
    if (GST_BUFFER_PTS_IS_VALID (buf)) {
      end = GST_BUFFER_PTS (buf) +
            (GST_BUFFER_DURATION_IS_VALID (buf) ? GST_BUFFER_DURATION (buf) : 0);
      if (!GST_CLOCK_TIME_IS_VALID (w->end) || end > w->end)
        w->end = end;
    }
    GST_PAD_PROBE_INFO_DATA (info) = buf;
    return GST_PAD_PROBE_OK;
  }
  if (info->type & GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM) {
    GstEvent *event = gst_pad_probe_info_get_event (info);
    gboolean *sent = video ? &w->vsent : &w->asent;

    switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_SEGMENT: {
      const GstSegment *in;
      GstSegment out;

      gst_event_parse_segment (event, &in);
      gst_segment_copy_into (in, seg);
      if (*sent)
        return GST_PAD_PROBE_DROP;
      /* the one segment downstream sees: running time = timestamps */
      *sent = TRUE;
      gst_segment_init (&out, GST_FORMAT_TIME);
      gst_event_unref (event);
      GST_PAD_PROBE_INFO_DATA (info) = gst_event_new_segment (&out);
      return GST_PAD_PROBE_OK;
    }
    case GST_EVENT_EOS:
      /* ours, at the end of the playlist, goes through */
      if (w->finishing)
        return GST_PAD_PROBE_OK;
      w->eos++;
      check_item_done (w);
      return GST_PAD_PROBE_DROP;
    case GST_EVENT_STREAM_START:
      return *sent ? GST_PAD_PROBE_DROP : GST_PAD_PROBE_OK;
    case GST_EVENT_FLUSH_START:
    case GST_EVENT_FLUSH_STOP:
      return GST_PAD_PROBE_DROP;
    default:
      return GST_PAD_PROBE_OK;
    }
  }
  return GST_PAD_PROBE_OK;
}

static void
pad_added_cb (GstElement *decodebin, GstPad *pad, gpointer data)
{
  Worker *w = data;
  g_autoptr(GstCaps) caps = gst_pad_get_current_caps (pad);
  const gchar *name;
  GstElement *queue;
  g_autoptr(GstPad) sink = NULL;

  if (caps == NULL)
    caps = gst_pad_query_caps (pad, NULL);
  name = gst_structure_get_name (gst_caps_get_structure (caps, 0));
  /* raw, or H.264 and AAC when passing through (the uridecodebin's caps) */
  if (g_str_has_prefix (name, "video/"))
    queue = w->vq;
  else if (g_str_has_prefix (name, "audio/"))
    queue = w->aq;
  else
    return;
  sink = gst_element_get_static_pad (queue, "sink");
  if (gst_pad_is_linked (sink))
    return; /* a second video or audio stream of the file: the first one plays */
  if (!ensure_chain (w, queue == w->vq, !g_str_has_suffix (name, "x-raw"))) {
    GError *error = g_error_new_literal (GST_CORE_ERROR, GST_CORE_ERROR_MISSING_PLUGIN,
                                         "an element of the restream chain is missing");

    gst_element_post_message (decodebin,
                              gst_message_new_error (GST_OBJECT (decodebin), error, NULL));
    g_error_free (error);
    return;
  }
  if (gst_pad_link (pad, sink) == GST_PAD_LINK_OK) {
    g_mutex_lock (&w->lock);
    w->linked++;
    g_mutex_unlock (&w->lock);
  }
}

static void
no_more_pads_cb (GstElement *decodebin, gpointer data)
{
  Worker *w = data;

  g_mutex_lock (&w->lock);
  w->no_more_pads = TRUE;
  check_item_done (w);
  g_mutex_unlock (&w->lock);
}

static gboolean
start_item (Worker *w)
{
  GstElement *item = gst_element_factory_make ("uridecodebin", NULL);

  if (item == NULL) {
    fail (w, "uridecodebin is missing");
    return FALSE;
  }
  g_mutex_lock (&w->lock);
  w->linked = w->eos = 0;
  w->no_more_pads = FALSE;
  w->next_queued = FALSE;
  w->offset = GST_CLOCK_TIME_IS_VALID (w->end) ? w->end : 0;
  g_mutex_unlock (&w->lock);
  g_object_set (item, "uri", w->inputs[w->index], NULL);
  if (w->passthrough) {
    /* stop at parsed H.264 and AAC; decode anything else */
    g_autoptr(GstCaps) caps = gst_caps_from_string (
      "video/x-raw(ANY);audio/x-raw(ANY);video/x-h264;audio/mpeg,mpegversion=4");

    g_object_set (item, "caps", caps, NULL);
  }
  g_signal_connect (item, "pad-added", G_CALLBACK (pad_added_cb), w);
  g_signal_connect (item, "no-more-pads", G_CALLBACK (no_more_pads_cb), w);
  gst_bin_add (GST_BIN (w->pipeline), item);
  w->item = item;
  {
    g_autoptr(JsonObject) o = json_object_new ();

    json_object_set_string_member (o, "type", "item");
    json_object_set_int_member (o, "index", w->index);
    json_object_set_int_member (o, "loop", w->loops_done);
    json_object_set_int_member (o, "offset_ms", (gint64) (w->offset / GST_MSECOND));
    send_line (w, o);
  }
  if (!gst_element_sync_state_with_parent (item)) {
    fail (w, "cannot start an input");
    return FALSE;
  }
  return TRUE;
}

/* The main loop's half of an item's end: drops its decodebin, starts the
 * next item (or loop), or ends the stream. */
static gboolean
next_item_cb (gpointer data)
{
  Worker *w = data;
  GstElement *old = g_steal_pointer (&w->item);

  if (old != NULL) {
    gst_element_set_state (old, GST_STATE_NULL);
    gst_bin_remove (GST_BIN (w->pipeline), old);
  }
  if (w->finishing)
    return G_SOURCE_REMOVE;
  w->index++;
  if (w->index >= w->n_inputs) {
    w->loops_done++;
    if (!w->looping || (w->loop_count > 0 && w->loops_done >= w->loop_count)) {
      GstPad *v = gst_element_get_static_pad (w->vq, "sink");
      GstPad *a = gst_element_get_static_pad (w->aq, "sink");

      /* the end: EOS through the chains so the muxers finish their files */
      g_mutex_lock (&w->lock);
      w->finishing = TRUE;
      g_mutex_unlock (&w->lock);
      gst_pad_send_event (v, gst_event_new_eos ());
      gst_pad_send_event (a, gst_event_new_eos ());
      gst_object_unref (v);
      gst_object_unref (a);
      return G_SOURCE_REMOVE;
    }
    w->index = 0;
  }
  start_item (w);
  return G_SOURCE_REMOVE;
}

/* The encoders' first frames: x264enc takes its time over its first frame,
 * AAC does not. Audio before the first video keyframe would be dropped by
 * every destination (a branch starts at a keyframe) and arrive at the
 * muxers ahead of the video, so audio waits at its tee until the video has
 * started (5 s at most: a file without video). */
static GstPadProbeReturn
video_start_probe (GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
  Worker *w = data;

  g_mutex_lock (&w->lock);
  w->video_started = TRUE;
  g_cond_broadcast (&w->cond);
  g_mutex_unlock (&w->lock);
  return GST_PAD_PROBE_REMOVE;
}

static GstPadProbeReturn
audio_wait_probe (GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
  Worker *w = data;
  gint64 deadline = g_get_monotonic_time () + 5 * G_TIME_SPAN_SECOND;

  g_mutex_lock (&w->lock);
  while (!w->video_started && !w->quitting)
    if (!g_cond_wait_until (&w->cond, &w->lock, deadline))
      w->video_started = TRUE;
  g_mutex_unlock (&w->lock);
  return GST_PAD_PROBE_REMOVE;
}

/* --- destinations ------------------------------------------------------------------ */

static gchar *
dest_name (const gchar *id)
{
  return g_strconcat ("dest-", id, NULL);
}

static void
dest_add (Worker *w, JsonObject *d)
{
  const gchar *id = we_json_get_string (d, "id");
  const gchar *url = we_json_get_string (d, "url");
  g_autofree gchar *name = NULL;
  GstElement *sink;
  GstPad *vsink, *asink, *vsrc, *asrc;

  if (id == NULL || url == NULL)
    return;
  name = dest_name (id);
  if ((sink = gst_bin_get_by_name (GST_BIN (w->pipeline), name)) != NULL) {
    gst_object_unref (sink);
    return;
  }
  sink = gst_element_factory_make ("werestreamsink", name);
  if (sink == NULL) {
    fail (w, "the werestreamsink element is missing");
    return;
  }
  g_object_set (sink, "location", url, "enabled", we_json_get_bool (d, "enabled", TRUE), NULL);
  gst_bin_add (GST_BIN (w->pipeline), sink);
  vsink = gst_element_request_pad_simple (sink, "video");
  asink = gst_element_request_pad_simple (sink, "audio");
  gst_element_sync_state_with_parent (sink);
  vsrc = gst_element_request_pad_simple (w->vtee, "src_%u");
  asrc = gst_element_request_pad_simple (w->atee, "src_%u");
  gst_pad_link (vsrc, vsink);
  gst_pad_link (asrc, asink);
  gst_object_unref (vsink);
  gst_object_unref (asink);
  gst_object_unref (vsrc);
  gst_object_unref (asrc);
}

static void
release_tee_pad (GstElement *tee, GstPad *sinkpad)
{
  GstPad *peer = gst_pad_get_peer (sinkpad);

  if (peer == NULL)
    return;
  gst_pad_unlink (peer, sinkpad);
  gst_element_release_request_pad (tee, peer);
  gst_object_unref (peer);
}

static void
dest_remove (Worker *w, const gchar *id)
{
  g_autofree gchar *name = dest_name (id);
  GstElement *sink = gst_bin_get_by_name (GST_BIN (w->pipeline), name);
  GstIterator *it;
  GValue item = G_VALUE_INIT;

  if (sink == NULL)
    return;
  /* first no more buffers from the tees, then the branch goes */
  it = gst_element_iterate_sink_pads (sink);
  while (gst_iterator_next (it, &item) == GST_ITERATOR_OK) {
    GstPad *pad = g_value_get_object (&item);
    g_autoptr(GstPad) peer = gst_pad_get_peer (pad);

    if (peer != NULL)
      release_tee_pad (GST_ELEMENT (GST_PAD_PARENT (peer)), pad);
    g_value_reset (&item);
  }
  g_value_unset (&item);
  gst_iterator_free (it);
  gst_element_set_state (sink, GST_STATE_NULL);
  gst_bin_remove (GST_BIN (w->pipeline), sink);
  gst_object_unref (sink);
}

static void
dest_enable (Worker *w, const gchar *id, gboolean enabled)
{
  g_autofree gchar *name = dest_name (id);
  GstElement *sink = gst_bin_get_by_name (GST_BIN (w->pipeline), name);

  if (sink == NULL)
    return;
  g_object_set (sink, "enabled", enabled, NULL);
  gst_object_unref (sink);
}

/* --- the pipeline ---------------------------------------------------------------- */

static GstElement *
make (Worker *w, const gchar *factory)
{
  GstElement *e = gst_element_factory_make (factory, NULL);

  if (e == NULL) {
    g_autofree gchar *msg = g_strdup_printf ("the GStreamer element %s is missing", factory);

    fail (w, msg);
  }
  return e;
}

static gboolean
bus_cb (GstBus *bus, GstMessage *msg, gpointer data)
{
  Worker *w = data;

  switch (GST_MESSAGE_TYPE (msg)) {
  case GST_MESSAGE_ELEMENT: {
    const GstStructure *s = gst_message_get_structure (msg);
    const gchar *name = GST_OBJECT_NAME (GST_MESSAGE_SRC (msg));
    g_autoptr(JsonObject) o = NULL;
    guint64 bitrate = 0, bytes = 0, uptime = 0;
    guint reconnects = 0;
    gboolean enabled = TRUE;
    const gchar *error;

    if (s == NULL || !gst_structure_has_name (s, "we-restream-stats") ||
        !g_str_has_prefix (name, "dest-"))
      break;
    gst_structure_get_uint64 (s, "bitrate", &bitrate);
    gst_structure_get_uint64 (s, "bytes_acked", &bytes);
    gst_structure_get_uint64 (s, "uptime", &uptime);
    gst_structure_get_uint (s, "reconnects", &reconnects);
    gst_structure_get_boolean (s, "enabled", &enabled);
    error = gst_structure_get_string (s, "last_error");
    o = json_object_new ();
    json_object_set_string_member (o, "type", "stats");
    json_object_set_string_member (o, "destination_id", name + strlen ("dest-"));
    json_object_set_string_member (o, "state", gst_structure_get_string (s, "state"));
    json_object_set_boolean_member (o, "enabled", enabled);
    json_object_set_double_member (o, "bitrate_kbps", bitrate / 1000.0);
    json_object_set_int_member (o, "bytes_acked", (gint64) bytes);
    json_object_set_double_member (o, "uptime_s", (gdouble) uptime / GST_SECOND);
    json_object_set_int_member (o, "reconnects", reconnects);
    if (error != NULL)
      json_object_set_string_member (o, "last_error", error);
    send_line (w, o);
    break;
  }
  case GST_MESSAGE_STATE_CHANGED:
    if (GST_MESSAGE_SRC (msg) == GST_OBJECT (w->pipeline) && !w->streaming) {
      GstState state;

      gst_message_parse_state_changed (msg, NULL, &state, NULL);
      if (state == GST_STATE_PLAYING) {
        w->streaming = TRUE;
        send_simple (w, "state", "status", "streaming");
      }
    }
    break;
  case GST_MESSAGE_ERROR: {
    g_autoptr(GError) error = NULL;
    g_autofree gchar *debug = NULL;
    g_autofree gchar *text = NULL;

    gst_message_parse_error (msg, &error, &debug);
    text = g_strdup_printf ("%s: %s", GST_OBJECT_NAME (GST_MESSAGE_SRC (msg)), error->message);
    we_log (G_LOG_LEVEL_WARNING, NULL, "WE-RST-006", "restream pipeline: %s (%s)", text,
            debug != NULL ? debug : "");
    fail (w, text);
    break;
  }
  case GST_MESSAGE_EOS:
    send_simple (w, "finished", NULL, NULL);
    g_main_loop_quit (w->loop);
    break;
  default:
    break;
  }
  return G_SOURCE_CONTINUE;
}

/* The middle of one stream's chain, queue to tee, made when the first
 * item shows what it gives (on its streaming thread): a parser when it is
 * H.264 or AAC already (pass-through), else a decode's raw media encoded
 * once. Then clocksync for the pacing. */
static gboolean
ensure_chain (Worker *w, gboolean video, gboolean compressed)
{
  GstElement *e[6] = { NULL };
  guint n = 0;
  GstElement *queue = video ? w->vq : w->aq;
  GstElement *tee = video ? w->vtee : w->atee;
  GstElement *prev = queue;
  gboolean ok = TRUE;

  if (video ? w->vchain : w->achain)
    return TRUE;
  if (video && compressed) {
    e[n++] = gst_element_factory_make ("h264parse", NULL);
  } else if (video) {
    e[n++] = gst_element_factory_make ("videoconvert", NULL);
    e[n++] = gst_element_factory_make ("x264enc", NULL);
    if (e[1] != NULL)
      g_object_set (e[1], "tune", 0x4 /* zerolatency */, "speed-preset", 2 /* superfast */,
                    "bitrate", w->video_kbps, "key-int-max", KEYFRAME_EVERY, NULL);
  } else if (compressed) {
    e[n++] = gst_element_factory_make ("aacparse", NULL);
  } else {
    g_autoptr(GstCaps) caps = gst_caps_from_string ("audio/x-raw,rate=48000,channels=2");

    e[n++] = gst_element_factory_make ("audioconvert", NULL);
    e[n++] = gst_element_factory_make ("audioresample", NULL);
    e[n++] = gst_element_factory_make ("capsfilter", NULL);
    e[n++] = gst_element_factory_make ("voaacenc", NULL);
    e[n++] = gst_element_factory_make ("aacparse", NULL);
    if (e[2] != NULL)
      g_object_set (e[2], "caps", caps, NULL);
    if (e[3] != NULL)
      g_object_set (e[3], "bitrate", AUDIO_BITRATE, NULL);
  }
  e[n++] = gst_element_factory_make ("clocksync", NULL);
  for (guint i = 0; i < n; i++)
    ok &= e[i] != NULL;
  if (!ok) {
    for (guint i = 0; i < n; i++)
      if (e[i] != NULL)
        gst_object_unref (e[i]);
    return FALSE;
  }
  /* without pacing the file is pushed as fast as it goes */
  g_object_set (e[n - 1], "sync", w->pace, NULL);
  for (guint i = 0; i < n; i++) {
    gst_bin_add (GST_BIN (w->pipeline), e[i]);
    ok &= gst_element_link (prev, e[i]);
    prev = e[i];
  }
  ok &= gst_element_link (prev, tee);
  for (guint i = 0; i < n; i++)
    gst_element_sync_state_with_parent (e[i]);
  if (video)
    w->vchain = TRUE;
  else
    w->achain = TRUE;
  {
    g_autoptr(JsonObject) o = json_object_new ();

    json_object_set_string_member (o, "type", "chain");
    json_object_set_string_member (o, "stream", video ? "video" : "audio");
    json_object_set_boolean_member (o, "passthrough", compressed);
    send_line (w, o);
  }
  return ok;
}


static gboolean
build (Worker *w, JsonObject *start)
{
  JsonArray *inputs = we_json_get_array (start, "inputs");
  JsonArray *dests = we_json_get_array (start, "destinations");
  g_autoptr(GstBus) bus = NULL;
  g_autoptr(GstPad) vpad = NULL;
  g_autoptr(GstPad) apad = NULL;

  if (inputs == NULL || json_array_get_length (inputs) == 0) {
    fail (w, "no inputs");
    return FALSE;
  }
  w->n_inputs = json_array_get_length (inputs);
  w->inputs = g_new0 (gchar *, w->n_inputs + 1);
  for (guint i = 0; i < w->n_inputs; i++)
    w->inputs[i] = g_strdup (json_array_get_string_element (inputs, i));
  w->looping = we_json_get_bool (start, "loop", FALSE);
  w->loop_count = (guint) we_json_get_int (start, "loop_count", 0);
  w->pace = we_json_get_bool (start, "simulate_live", TRUE);
  w->video_kbps = (guint) we_json_get_int (start, "video_bitrate_kbps", VIDEO_BITRATE_KBPS);
  /* pass-through needs one input: the items of a playlist may differ in
   * codec settings, which a destination must not see change mid-stream */
  w->passthrough = w->n_inputs == 1 && we_json_get_bool (start, "passthrough", TRUE);
  w->end = GST_CLOCK_TIME_NONE;
  if (we_json_get_bool (start, "live_input", FALSE) && !we_live_playlist_is_live (w->inputs[0])) {
    fail (w, "the stream is not live");
    return FALSE;
  }

  w->pipeline = gst_pipeline_new ("restream");
  w->vq = make (w, "queue");
  w->vtee = make (w, "tee");
  w->aq = make (w, "queue");
  w->atee = make (w, "tee");
  if (w->vq == NULL || w->vtee == NULL || w->aq == NULL || w->atee == NULL)
    return FALSE;
  /* no destination (yet), or all removed: the stream goes on */
  g_object_set (w->vtee, "allow-not-linked", TRUE, NULL);
  g_object_set (w->atee, "allow-not-linked", TRUE, NULL);
  gst_bin_add_many (GST_BIN (w->pipeline), w->vq, w->vtee, w->aq, w->atee, NULL);
  vpad = gst_element_get_static_pad (w->vq, "sink");
  apad = gst_element_get_static_pad (w->aq, "sink");
  gst_pad_add_probe (vpad, GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM,
                     offset_probe, w, NULL);
  gst_pad_add_probe (apad, GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM,
                     offset_probe, w, NULL);
  {
    g_autoptr(GstPad) vtee = gst_element_get_static_pad (w->vtee, "sink");
    g_autoptr(GstPad) atee = gst_element_get_static_pad (w->atee, "sink");

    gst_pad_add_probe (vtee, GST_PAD_PROBE_TYPE_BUFFER, video_start_probe, w, NULL);
    gst_pad_add_probe (atee, GST_PAD_PROBE_TYPE_BUFFER, audio_wait_probe, w, NULL);
  }
  for (guint i = 0; dests != NULL && i < json_array_get_length (dests); i++)
    dest_add (w, json_array_get_object_element (dests, i));
  bus = gst_element_get_bus (w->pipeline);
  gst_bus_add_watch (bus, bus_cb, w);
  if (!start_item (w))
    return FALSE;
  if (gst_element_set_state (w->pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    fail (w, "the restream pipeline does not start");
    return FALSE;
  }
  return TRUE;
}

/* --- the manager's lines ------------------------------------------------------------ */

static void read_next (Worker *w);

static void
handle_line (Worker *w, const gchar *line)
{
  g_autoptr(JsonNode) node = json_from_string (line, NULL);
  JsonObject *msg;
  const gchar *type;

  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    return;
  msg = json_node_get_object (node);
  type = we_json_get_string (msg, "type");
  if (g_strcmp0 (type, "start") == 0 && w->pipeline == NULL) {
    build (w, msg);
  } else if (w->pipeline == NULL) {
    return;
  } else if (g_strcmp0 (type, "dest_add") == 0) {
    JsonObject *d = we_json_get_object (msg, "destination");

    if (d != NULL)
      dest_add (w, d);
  } else if (g_strcmp0 (type, "dest_enable") == 0) {
    if (we_json_get_string (msg, "id") != NULL)
      dest_enable (w, we_json_get_string (msg, "id"), we_json_get_bool (msg, "enabled", TRUE));
  } else if (g_strcmp0 (type, "dest_remove") == 0) {
    if (we_json_get_string (msg, "id") != NULL)
      dest_remove (w, we_json_get_string (msg, "id"));
  } else if (g_strcmp0 (type, "stop") == 0) {
    g_main_loop_quit (w->loop);
  }
}

static void
line_cb (GObject *source, GAsyncResult *result, gpointer data)
{
  Worker *w = data;
  g_autofree gchar *line = g_data_input_stream_read_line_finish (w->in, result, NULL, NULL);

  if (line == NULL) {
    /* the manager went away */
    g_main_loop_quit (w->loop);
    return;
  }
  handle_line (w, line);
  read_next (w);
}

static void
read_next (Worker *w)
{
  g_data_input_stream_read_line_async (w->in, G_PRIORITY_DEFAULT, NULL, line_cb, w);
}

static gboolean
quit_cb (gpointer data)
{
  g_main_loop_quit (((Worker *) data)->loop);
  return G_SOURCE_CONTINUE;
}

int
we_restream_worker_run (void)
{
  Worker w = { 0 };
  g_autoptr(GInputStream) raw_in = NULL;
  gint protocol_fd;

  /* stdout belongs to the lines, as in we_live_worker_run() */
  protocol_fd = dup (STDOUT_FILENO);
  if (protocol_fd < 0 || dup2 (STDERR_FILENO, STDOUT_FILENO) < 0) {
    g_printerr ("webencode-worker: cannot set up the protocol channel\n");
    return EXIT_FAILURE;
  }
  gst_init (NULL, NULL);
  /* compiled in: no plugin path to get wrong */
  if (!GST_ELEMENT_REGISTER (werestreamsink, NULL)) {
    g_printerr ("webencode-worker: cannot register werestreamsink\n");
    return EXIT_FAILURE;
  }
  g_mutex_init (&w.lock);
  g_mutex_init (&w.write_lock);
  g_cond_init (&w.cond);
  raw_in = g_unix_input_stream_new (STDIN_FILENO, FALSE);
  w.in = g_data_input_stream_new (raw_in);
  g_data_input_stream_set_newline_type (w.in, G_DATA_STREAM_NEWLINE_TYPE_LF);
  w.out = g_unix_output_stream_new (protocol_fd, TRUE);
  w.loop = g_main_loop_new (NULL, FALSE);
  w.status = EXIT_SUCCESS;
  g_unix_signal_add (SIGTERM, quit_cb, &w);
  g_unix_signal_add (SIGINT, quit_cb, &w);
  read_next (&w);
  g_main_loop_run (w.loop);
  g_mutex_lock (&w.lock);
  w.quitting = TRUE;
  g_cond_broadcast (&w.cond);
  g_mutex_unlock (&w.lock);
  if (w.pipeline != NULL) {
    gst_element_set_state (w.pipeline, GST_STATE_NULL);
    gst_object_unref (w.pipeline);
  }
  g_strfreev (w.inputs);
  g_object_unref (w.in);
  g_object_unref (w.out);
  g_main_loop_unref (w.loop);
  g_mutex_clear (&w.lock);
  g_mutex_clear (&w.write_lock);
  g_cond_clear (&w.cond);
  return w.status;
}
