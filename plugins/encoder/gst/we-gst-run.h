/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * What the pipelines that decode a source and encode it (the single-output
 * transcode and the ABR ladder) share while they run: how a GStreamer error
 * becomes one of ours, the application messages their pad handlers post,
 * and the progress they report.
 */
#pragma once

#include <gst/gst.h>
#include <webencode/we-encoder.h>

G_BEGIN_DECLS

/* The error for an ERROR @msg: a source that cannot be read or decoded is
 * WE_ERROR_JOB_UNSUPPORTED_SOURCE, trouble elsewhere (ours) WE_ERROR_JOB_FAILED.
 * @decodebin: the element that reads the source.
 * Returns: (transfer full) */
GError *we_gst_error_from_message    (GstMessage *msg,
                                      GstElement *decodebin);
/* Posts an application message @name with a "detail" string (nullable) on
 * @pipeline's bus, for the main loop to act on. */
void    we_gst_post_app_message      (GstElement  *pipeline,
                                      const gchar *name,
                                      const gchar *detail);
/* Fills @progress from the output @position (GST_CLOCK_TIME_NONE if none
 * yet), @frames encoded, the @expected_s media seconds and the monotonic
 * @started_us. 100 % only when @final; the percentage never goes back
 * below *@last_percent, which is updated. */
void    we_gst_progress_compute      (WeEncodeProgress *progress,
                                      GstClockTime      position,
                                      guint64           frames,
                                      gdouble           expected_s,
                                      gint64            started_us,
                                      gboolean          final,
                                      gdouble          *last_percent);

G_END_DECLS
