/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * What the pipelines that decode a source (the single-output transcode, the
 * ABR ladder, thumbnails, loudness and subtitle extraction) share while they
 * run: how a GStreamer error becomes one of ours, the application messages
 * their pad handlers post, the progress they report, and the life cycle of a
 * job run as a GTask on the caller's thread-default main context (its
 * sources, starting the pipeline, cancelling, removing what it wrote).
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

/* ---- job life cycle ------------------------------------------------------ */

/* Sets @func on @source and attaches it to @context.
 * Returns: (transfer full) @source, for the job to keep and take down with
 * we_gst_source_clear() */
GSource    *we_gst_source_attach     (GSource      *source,
                                      GMainContext *context,
                                      GSourceFunc   func,
                                      gpointer      data);
/* A watch of @pipeline's bus calling @func on @context.
 * Returns: (transfer full) */
GSource    *we_gst_bus_watch_attach  (GstElement   *pipeline,
                                      GMainContext *context,
                                      GstBusFunc    func,
                                      gpointer      data);
/* Destroys and releases *@source, if any, and clears it. */
void        we_gst_source_clear      (GSource     **source);
/* Has @func called on @context when @cancellable (nullable) is cancelled;
 * the source goes to *@source. FALSE, and nothing attached, when it already
 * is: the caller completes with we_gst_cancelled_error(). */
gboolean    we_gst_watch_cancellable (GCancellable          *cancellable,
                                      GMainContext          *context,
                                      GCancellableSourceFunc func,
                                      gpointer               data,
                                      GSource              **source);
/* G_IO_ERROR_CANCELLED: "@what was cancelled". Returns: (transfer full) */
GError     *we_gst_cancelled_error   (const gchar *what);
/* Sets @pipeline PLAYING. When it cannot start, @error is the reason its
 * bus holds (mapped as we_gst_error_from_message() does with @decodebin)
 * or "@what failed to start". */
gboolean    we_gst_pipeline_play     (GstElement  *pipeline,
                                      GstElement  *decodebin,
                                      const gchar *what,
                                      GError     **error);
/* A new element of @factory added to @bin, or NULL and WE_ERROR_JOB_FAILED
 * if it is not installed. @name is nullable.
 * Returns: (transfer none) (nullable) */
GstElement *we_gst_bin_add_new       (GstElement  *bin,
                                      const gchar *factory,
                                      const gchar *name,
                                      GError     **error);
/* A fakesink that neither syncs nor prerolls, added to @pipeline and in its
 * state: a decodebin stream nobody wants still needs a consumer or
 * decodebin stops. Returns: (transfer none) */
GstElement *we_gst_add_fakesink      (GstElement *pipeline);
/* A decodebin "no-more-pads" handler, with the pipeline as @pipeline:
 * posts "we-pads-done" for the main loop. */
void        we_gst_pads_done_cb      (GstElement *decodebin,
                                      gpointer    pipeline);
/* Logs a WARNING @msg at debug level. */
void        we_gst_log_warning       (GstMessage *msg);
/* Removes @path, if it is there; a failure is only logged. */
void        we_gst_remove_file       (const gchar *path);
/* we_gst_remove_file() on each of @paths, which is emptied. */
void        we_gst_remove_files      (GPtrArray *paths);

/* What a pipeline's progress reports need besides the position and frame
 * count its weprogress elements keep. */
typedef struct {
  WeEncodeProgressFunc func;          /* nullable: nobody listens */
  gpointer             data;
  gdouble              expected_s;    /* media seconds to do */
  gint64               started_us;    /* monotonic */
  gdouble              last_percent;
} WeGstProgressReport;

/* ---- progress from weprogress (gst-elements/) ------------------------------ */

/* The factory name of our progress element. */
#define WE_GST_PROGRESS_FACTORY "weprogress"

/* A weprogress named @name (say what it measures: "progress",
 * "progress_720p") added to @bin, our elements registered first.
 * Returns: (transfer none) (nullable) */
GstElement *we_gst_add_progress      (GstElement  *bin,
                                      const gchar *name,
                                      GError     **error);
/* Reports through @report what the weprogress elements in @progress
 * (element-type GstElement) measured: the position and frames of the one
 * furthest behind, so 100 % waits for the slowest output. Reads their
 * properties, which is safe while streaming threads write them. */
void        we_gst_progress_report_elements (WeGstProgressReport *report,
                                             GPtrArray           *progress,
                                             gboolean             final);

/* A pad probe's view of the stream it follows: a SEGMENT event is copied
 * into @segment, a CAPS event into @caps (nullable: not kept).
 * Returns: whether @event was one of them. */
gboolean we_gst_event_keep_stream    (GstEvent    *event,
                                      GstSegment  *segment,
                                      GstCaps    **caps);

G_END_DECLS
