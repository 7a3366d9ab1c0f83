/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "we-gst-run.h"

#include <string.h>
#include <webencode/we-error.h>

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
