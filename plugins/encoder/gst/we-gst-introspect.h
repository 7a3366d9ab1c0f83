/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Pipeline introspection (issue 8): what a running pipeline looks like as a
 * gst-launch-1.0 line an engineer can run by hand, and as a Graphviz graph.
 * Every pipeline of a task is reported once, when it first reaches PLAYING
 * (caps negotiated, dynamic pads linked), through the request's
 * WePipelineFunc on the caller's main context.
 */
#pragma once

#include <gst/gst.h>
#include <webencode/we-encoder.h>

G_BEGIN_DECLS

/* The name of every pipeline run for @task_id (nullable): the task id, so a
 * GStreamer log handler can tell which task a line belongs to. */
const gchar *we_gst_pipeline_name         (const gchar *task_id);

/* Calls whose request carries no task id (probe and scan go through the SDK
 * with a URI only) take it from their cancellable: the worker sets it there
 * as a string under this key (WE_WORKER_TASK_ID_KEY), so their pipelines,
 * too, are named after the task and their GStreamer lines land in its log.
 * Returns: (transfer none) (nullable) */
#define WE_GST_TASK_ID_KEY "webencode-task-id"
const gchar *we_gst_cancellable_task_id  (GCancellable *cancellable);

/* A gst-launch-1.0 description (without the program name) that
 * gst_parse_launch() accepts and that rebuilds @pipeline as it runs now:
 * its top-level elements with their names and every writable, serialisable
 * property that differs from a fresh element's, the links with explicit pad
 * names where an element has several or non-always pads, capsfilters as
 * caps. URIs lose their query strings and passwords ("REDACTED"). An
 * element the app drives (appsink) is written as its nearest by-hand
 * equivalent (fakesink), or as what we_gst_introspect_set_substitute() said.
 * Returns: (transfer full) */
gchar       *we_gst_pipeline_to_launch    (GstElement *pipeline);

/* Has we_gst_pipeline_to_launch() write @description (a chain whose last
 * element links as @element did, e.g. "filesrc location=a.mp4 ! qtdemux !
 * h264parse" for an appsrc the app feeds from that file) in place of
 * @element. */
void         we_gst_introspect_set_substitute (GstElement  *element,
                                               const gchar *description);

/* Reports @pipeline through @func (nullable: nothing to do), now, on the
 * calling thread: the launch line and the dot graph with every detail. */
void         we_gst_pipeline_introspect   (GstElement     *pipeline,
                                           const gchar    *stage,
                                           WePipelineFunc  func,
                                           gpointer        data);

/* The same from a thread of the encoder's own: the report is built here and
 * @func is called on @context, before anything the caller attaches there
 * later at default priority (a GTask's completion). */
void         we_gst_pipeline_introspect_on (GstElement     *pipeline,
                                            const gchar    *stage,
                                            WePipelineFunc  func,
                                            gpointer        data,
                                            GMainContext   *context);

/* For a bus handler on the caller's context, with every message: reports
 * @pipeline the first time it changes to PLAYING. *@reported keeps it to
 * once. Returns: whether it reported now. */
gboolean     we_gst_introspect_message    (GstElement     *pipeline,
                                           GstMessage     *msg,
                                           const gchar    *stage,
                                           WePipelineFunc  func,
                                           gpointer        data,
                                           gboolean       *reported);

/* @text with every URL's query string and password replaced by
 * "REDACTED". Returns: (transfer full) */
gchar       *we_gst_redact_urls           (const gchar *text);

G_END_DECLS
