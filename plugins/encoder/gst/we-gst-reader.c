/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include "we-gst-reader.h"

#include <webencode/we-error.h>

#include "we-gst-introspect.h"

#define POLL_INTERVAL (50 * GST_MSECOND)

typedef struct {
  GstElement   *pipeline;
  guint         kinds;
  WeGstReadFunc func;
  gpointer      user_data;

  GMutex        lock;          /* serialises @func and guards the rest */
  gboolean      have[2];
  gboolean      stopped;
} Reader;

static GstClockTime
to_stream_time (const GstSegment *segment, GstClockTime ts)
{
  if (segment == NULL || segment->format != GST_FORMAT_TIME || !GST_CLOCK_TIME_IS_VALID (ts))
    return ts;
  return gst_segment_to_stream_time (segment, GST_FORMAT_TIME, ts);
}

static GstPadProbeReturn
reader_buffer_probe (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  Reader *r = user_data;
  WeGstStreamKind kind = GPOINTER_TO_INT (g_object_get_data (G_OBJECT (pad), "we-kind"));
  g_autoptr(GstCaps) caps = NULL;
  g_autoptr(GstEvent) seg_event = NULL;
  g_autoptr(GstBuffer) buf = NULL;
  const GstSegment *segment = NULL;
  gboolean stop = FALSE;

  if (info->type & GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM)
    return GST_PAD_PROBE_OK;
  caps = gst_pad_get_current_caps (pad);
  /* times on the source timeline are stream time: an MP4 edit list, for
   * one, makes qtdemux's PTS differ from it (ffprobe shows stream time too) */
  if ((r->kinds & WE_GST_READ_RAW_TIME) == 0)
    seg_event = gst_pad_get_sticky_event (pad, GST_EVENT_SEGMENT, 0);
  if (seg_event != NULL)
    gst_event_parse_segment (seg_event, &segment);
  buf = gst_buffer_copy (GST_PAD_PROBE_INFO_BUFFER (info));
  GST_BUFFER_PTS (buf) = to_stream_time (segment, GST_BUFFER_PTS (buf));
  GST_BUFFER_DTS (buf) = to_stream_time (segment, GST_BUFFER_DTS (buf));

  g_mutex_lock (&r->lock);
  if (!r->stopped && !r->func (kind, buf, caps, r->user_data)) {
    r->stopped = TRUE;
    stop = TRUE;
  }
  g_mutex_unlock (&r->lock);
  if (stop) {
    gst_element_post_message (r->pipeline,
                              gst_message_new_application (GST_OBJECT (r->pipeline),
                                                           gst_structure_new_empty ("we-stop")));
  }
  return GST_PAD_PROBE_OK;
}

/* streaming thread */
static void
parsebin_pad_added (GstElement *parsebin, GstPad *pad, gpointer user_data)
{
  Reader *r = user_data;
  GstElement *sink = gst_element_factory_make ("fakesink", NULL);
  g_autoptr(GstCaps) caps = gst_pad_query_caps (pad, NULL);
  g_autoptr(GstPad) sinkpad = gst_element_get_static_pad (sink, "sink");
  const gchar *name = "";
  gint kind = -1;

  if (gst_caps_get_size (caps) > 0)
    name = gst_structure_get_name (gst_caps_get_structure (caps, 0));
  g_mutex_lock (&r->lock);
  if (g_str_has_prefix (name, "video/") && !r->have[WE_GST_STREAM_VIDEO])
    kind = WE_GST_STREAM_VIDEO;
  else if (g_str_has_prefix (name, "audio/") && !r->have[WE_GST_STREAM_AUDIO])
    kind = WE_GST_STREAM_AUDIO;
  if (kind >= 0)
    r->have[kind] = TRUE;
  g_mutex_unlock (&r->lock);

  /* parsebin has no multiqueue, so one thread feeds every sink: with async
   * sinks the first to preroll would block the others forever */
  g_object_set (sink, "sync", FALSE, "async", FALSE, NULL);
  gst_bin_add (GST_BIN (r->pipeline), sink);
  if (kind >= 0 && (r->kinds & (1u << kind)) != 0) {
    g_object_set_data (G_OBJECT (sinkpad), "we-kind", GINT_TO_POINTER (kind));
    gst_pad_add_probe (sinkpad, GST_PAD_PROBE_TYPE_BUFFER, reader_buffer_probe, r, NULL);
  }
  gst_element_sync_state_with_parent (sink);
  if (gst_pad_link (pad, sinkpad) != GST_PAD_LINK_OK)
    g_debug ("reader: could not link %s", GST_PAD_NAME (pad));
}

/* streaming thread */
static void
source_pad_added (GstElement *src, GstPad *pad, gpointer user_data)
{
  GstElement *parsebin = user_data;
  g_autoptr(GstPad) sinkpad = gst_element_get_static_pad (parsebin, "sink");

  if (!gst_pad_is_linked (sinkpad))
    gst_pad_link (pad, sinkpad);
}

static GError *
reader_error (GstMessage *msg)
{
  g_autoptr(GError) err = NULL;
  g_autofree gchar *dbg = NULL;

  gst_message_parse_error (msg, &err, &dbg);
  g_debug ("reader: error from %s: %s (%s)", GST_MESSAGE_SRC_NAME (msg), err->message,
           dbg != NULL ? dbg : "");
  if (err->domain == GST_RESOURCE_ERROR)
    return g_error_new (WE_ERROR, WE_ERROR_JOB_FAILED, "cannot read: %s", err->message);
  if (err->domain == GST_STREAM_ERROR &&
      (err->code == GST_STREAM_ERROR_TYPE_NOT_FOUND || err->code == GST_STREAM_ERROR_WRONG_TYPE))
    return g_error_new (WE_ERROR, WE_ERROR_JOB_UNSUPPORTED_SOURCE,
                        "not a media file: could not determine type (%s)", err->message);
  return g_error_new (WE_ERROR, WE_ERROR_JOB_UNSUPPORTED_SOURCE,
                      "truncated or corrupt: %s", err->message);
}

gboolean
we_gst_read_streams (const gchar *uri, guint kinds, WeGstReadFunc func, gpointer user_data,
                     GCancellable *cancellable, GError **error)
{
  g_autoptr(GstElement) pipeline = NULL;
  g_autoptr(GstBus) bus = NULL;
  GstElement *src = gst_element_factory_make ("urisourcebin", NULL);
  GstElement *parsebin = gst_element_factory_make ("parsebin", NULL);
  Reader r = { 0, };
  gboolean ok = FALSE;
  gboolean done = FALSE;

  if (src == NULL || parsebin == NULL) {
    g_clear_pointer (&src, gst_object_unref);
    g_clear_pointer (&parsebin, gst_object_unref);
    g_set_error_literal (error, WE_ERROR, WE_ERROR_JOB_FAILED,
                         "GStreamer elements 'urisourcebin' and 'parsebin' are needed");
    return FALSE;
  }
  /* named after the task, so its GStreamer lines land in the task's log */
  pipeline = gst_object_ref_sink (gst_pipeline_new (
    we_gst_cancellable_task_id (cancellable) != NULL ? we_gst_cancellable_task_id (cancellable)
                                                     : "we-reader"));
  g_mutex_init (&r.lock);
  r.pipeline = pipeline;
  r.kinds = kinds;
  r.func = func;
  r.user_data = user_data;
  g_object_set (src, "uri", uri, NULL);
  gst_bin_add_many (GST_BIN (pipeline), src, parsebin, NULL);
  g_signal_connect (src, "pad-added", G_CALLBACK (source_pad_added), parsebin);
  g_signal_connect (parsebin, "pad-added", G_CALLBACK (parsebin_pad_added), &r);

  bus = gst_element_get_bus (pipeline);
  if (gst_element_set_state (pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    g_autoptr(GstMessage) msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);

    if (msg != NULL)
      g_propagate_error (error, reader_error (msg));
    else
      g_set_error (error, WE_ERROR, WE_ERROR_JOB_FAILED, "cannot open %s", uri);
    done = TRUE;
  }
  while (!done) {
    g_autoptr(GstMessage) msg = NULL;

    if (g_cancellable_set_error_if_cancelled (cancellable, error))
      break;
    msg = gst_bus_timed_pop_filtered (bus, POLL_INTERVAL,
                                      GST_MESSAGE_ERROR | GST_MESSAGE_EOS |
                                        GST_MESSAGE_APPLICATION);
    if (msg == NULL)
      continue;
    switch (GST_MESSAGE_TYPE (msg)) {
    case GST_MESSAGE_ERROR:
      g_propagate_error (error, reader_error (msg));
      done = TRUE;
      break;
    case GST_MESSAGE_EOS:
    case GST_MESSAGE_APPLICATION:
      ok = done = TRUE;
      break;
    default:
      break;
    }
  }
  gst_element_set_state (pipeline, GST_STATE_NULL);
  g_mutex_clear (&r.lock);
  return ok;
}
