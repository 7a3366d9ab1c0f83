/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "we-gst-run.h"

#include <errno.h>
#include <string.h>
#include <glib/gstdio.h>
#include <webencode/we-error.h>

#include "we-gst-elements.h"

GError *
we_gst_error_from_message (GstMessage *msg, GstElement *decodebin)
{
  g_autoptr(GError) err = NULL;
  g_autofree gchar *dbg = NULL;
  g_autofree gchar *src_name = gst_object_get_name (GST_MESSAGE_SRC (msg));
  gboolean from_source;

  gst_message_parse_error (msg, &err, &dbg);
  g_debug ("error from %s: %s (%s)", src_name, err->message, dbg ? dbg : "");
  from_source = GST_MESSAGE_SRC (msg) == GST_OBJECT (decodebin) ||
                gst_object_has_as_ancestor (GST_MESSAGE_SRC (msg), GST_OBJECT (decodebin));

  /* a demuxer reports trouble downstream of it as its own "internal data
   * stream error"; a negotiation failure there is ours, not the source's */
  if (from_source && dbg != NULL && strstr (dbg, "not-negotiated") != NULL)
    return g_error_new (WE_ERROR, WE_ERROR_JOB_FAILED,
                        "pipeline could not negotiate formats: %s", err->message);
  if (!from_source)
    return g_error_new (WE_ERROR, WE_ERROR_JOB_FAILED, "%s: %s", src_name, err->message);
  if (err->domain == GST_RESOURCE_ERROR)
    return g_error_new (WE_ERROR, WE_ERROR_JOB_FAILED, "cannot read source: %s", err->message);
  if (err->domain == GST_STREAM_ERROR &&
      (err->code == GST_STREAM_ERROR_TYPE_NOT_FOUND || err->code == GST_STREAM_ERROR_WRONG_TYPE))
    return g_error_new (WE_ERROR, WE_ERROR_JOB_UNSUPPORTED_SOURCE,
                        "not a media file: could not determine type (%s)", err->message);
  if (err->domain == GST_STREAM_ERROR && err->code == GST_STREAM_ERROR_CODEC_NOT_FOUND)
    return g_error_new (WE_ERROR, WE_ERROR_JOB_UNSUPPORTED_SOURCE,
                        "unsupported codec: %s", err->message);
  return g_error_new (WE_ERROR, WE_ERROR_JOB_UNSUPPORTED_SOURCE,
                      "source is truncated or corrupt: %s", err->message);
}

void
we_gst_post_app_message (GstElement *pipeline, const gchar *name, const gchar *detail)
{
  GstStructure *s = gst_structure_new (name, "detail", G_TYPE_STRING, detail, NULL);

  gst_element_post_message (pipeline, gst_message_new_application (GST_OBJECT (pipeline), s));
}

void
we_gst_progress_compute (WeEncodeProgress *p, GstClockTime position, guint64 frames,
                         gdouble expected_s, gint64 started_us, gboolean final,
                         gdouble *last_percent)
{
  gdouble elapsed = (g_get_monotonic_time () - started_us) / (gdouble) G_USEC_PER_SEC;

  memset (p, 0, sizeof (*p));
  p->frames = frames;
  p->duration_s = expected_s;
  p->position_s = GST_CLOCK_TIME_IS_VALID (position) ? (gdouble) position / GST_SECOND : 0;
  if (final) {
    p->position_s = expected_s;
    p->percent = 100.0;
  } else if (expected_s > 0) {
    p->position_s = MIN (p->position_s, expected_s);
    /* 100 is kept for the end, when the output is complete on disk */
    p->percent = MIN (p->position_s / expected_s * 100.0, 99.9);
  }
  p->percent = MAX (p->percent, *last_percent);
  *last_percent = p->percent;
  if (elapsed > 0) {
    p->fps = p->frames / elapsed;
    p->speed = p->position_s / elapsed;
  }
}

GSource *
we_gst_source_attach (GSource *source, GMainContext *context, GSourceFunc func, gpointer data)
{
  g_source_set_callback (source, func, data, NULL);
  g_source_attach (source, context);
  return source;
}

GSource *
we_gst_bus_watch_attach (GstElement *pipeline, GMainContext *context, GstBusFunc func,
                         gpointer data)
{
  g_autoptr(GstBus) bus = gst_element_get_bus (pipeline);

  return we_gst_source_attach (gst_bus_create_watch (bus), context,
                               (GSourceFunc) (GCallback) func, data);
}

void
we_gst_source_clear (GSource **source)
{
  if (*source != NULL) {
    g_source_destroy (*source);
    g_clear_pointer (source, g_source_unref);
  }
}

gboolean
we_gst_watch_cancellable (GCancellable *cancellable, GMainContext *context,
                          GCancellableSourceFunc func, gpointer data, GSource **source)
{
  if (cancellable == NULL)
    return TRUE;
  if (g_cancellable_is_cancelled (cancellable))
    return FALSE;
  *source = we_gst_source_attach (g_cancellable_source_new (cancellable), context,
                                  (GSourceFunc) (GCallback) func, data);
  return TRUE;
}

GError *
we_gst_cancelled_error (const gchar *what)
{
  return g_error_new (G_IO_ERROR, G_IO_ERROR_CANCELLED, "%s was cancelled", what);
}

gboolean
we_gst_pipeline_play (GstElement *pipeline, GstElement *decodebin, const gchar *what,
                      GError **error)
{
  g_autoptr(GstBus) bus = NULL;
  g_autoptr(GstMessage) msg = NULL;

  if (gst_element_set_state (pipeline, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE)
    return TRUE;
  /* the bus usually holds the reason */
  bus = gst_element_get_bus (pipeline);
  msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  if (msg != NULL)
    g_propagate_error (error, we_gst_error_from_message (msg, decodebin));
  else
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_FAILED, "%s failed to start", what);
  return FALSE;
}

GstElement *
we_gst_bin_add_new (GstElement *bin, const gchar *factory, const gchar *name, GError **error)
{
  GstElement *e = gst_element_factory_make (factory, name);

  if (e == NULL) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_FAILED,
                 "GStreamer element '%s' is not installed", factory);
    return NULL;
  }
  gst_bin_add (GST_BIN (bin), e);
  return e;
}

GstElement *
we_gst_add_fakesink (GstElement *pipeline)
{
  GstElement *sink = gst_element_factory_make ("fakesink", NULL);

  g_object_set (sink, "sync", FALSE, "async", FALSE, NULL);
  gst_bin_add (GST_BIN (pipeline), sink);
  gst_element_sync_state_with_parent (sink);
  return sink;
}

void
we_gst_pads_done_cb (GstElement *decodebin, gpointer pipeline)
{
  we_gst_post_app_message (GST_ELEMENT (pipeline), "we-pads-done", NULL);
}

void
we_gst_log_warning (GstMessage *msg)
{
  g_autoptr(GError) err = NULL;

  gst_message_parse_warning (msg, &err, NULL);
  g_debug ("warning from %s: %s", GST_MESSAGE_SRC_NAME (msg), err->message);
}

void
we_gst_remove_file (const gchar *path)
{
  if (g_unlink (path) != 0 && errno != ENOENT)
    g_debug ("could not remove %s: %s", path, g_strerror (errno));
}

void
we_gst_remove_files (GPtrArray *paths)
{
  for (guint i = 0; i < paths->len; i++)
    we_gst_remove_file (g_ptr_array_index (paths, i));
  g_ptr_array_set_size (paths, 0);
}

gboolean
we_gst_event_keep_stream (GstEvent *event, GstSegment *segment, GstCaps **caps)
{
  if (GST_EVENT_TYPE (event) == GST_EVENT_SEGMENT) {
    const GstSegment *in;

    gst_event_parse_segment (event, &in);
    gst_segment_copy_into (in, segment);
    return TRUE;
  }
  if (GST_EVENT_TYPE (event) == GST_EVENT_CAPS && caps != NULL) {
    GstCaps *in;

    gst_event_parse_caps (event, &in);
    gst_caps_replace (caps, in);
    return TRUE;
  }
  return FALSE;
}

GstElement *
we_gst_add_progress (GstElement *bin, const gchar *name, GError **error)
{
  /* once per process; the module registers them when it loads, this
   * covers the packagers driven directly (tests, the ladder tool) */
  if (!we_gst_elements_register ()) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_JOB_FAILED,
                         "cannot register our GStreamer elements");
    return NULL;
  }
  return we_gst_bin_add_new (bin, WE_GST_PROGRESS_FACTORY, name, error);
}

void
we_gst_progress_report_elements (WeGstProgressReport *report, GPtrArray *progress,
                                 gboolean final)
{
  WeEncodeProgress p;
  GstClockTime pos = GST_CLOCK_TIME_NONE;
  guint64 frames = 0;

  if (report->func == NULL)
    return;
  for (guint i = 0; progress != NULL && i < progress->len; i++) {
    guint64 e_pos = GST_CLOCK_TIME_NONE;
    guint64 e_frames = 0;

    g_object_get (g_ptr_array_index (progress, i), "position", &e_pos, "frames", &e_frames,
                  NULL);
    /* an output that has not started holds the others back at zero */
    if (!GST_CLOCK_TIME_IS_VALID (e_pos))
      e_pos = 0;
    if (i == 0 || e_pos < pos) {
      pos = e_pos;
      frames = e_frames;
    }
  }
  if (frames == 0 && pos == 0)
    pos = GST_CLOCK_TIME_NONE;
  we_gst_progress_compute (&p, pos, frames, report->expected_s, report->started_us, final,
                           &report->last_percent);
  report->func (&p, report->data);
}
