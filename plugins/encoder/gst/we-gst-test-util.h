/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * What the GStreamer plugin's tests share: clips from tests/media/make-clip,
 * running small pipelines of their own, waiting for an async call on a main
 * context, and reading and removing what the code under test wrote.
 */
#pragma once

#include <gio/gio.h>
#include <gst/gst.h>

G_BEGIN_DECLS

/* WE_TEST_TIME_FACTOR (at least 1), for time-outs on a slow or busy machine. */
gdouble  we_gst_test_time_factor  (void);
/* Runs @cmd (a command line), which must succeed, else the test aborts.
 * Returns: (transfer full) its stdout; its stderr goes to @err_out when asked */
gchar   *we_gst_test_run_command  (const gchar *cmd,
                                   gchar      **err_out);
/* Writes a clip to @out with tests/media/make-clip (under WE_SOURCE_ROOT)
 * and its @extra arguments; aborts the test when it fails. */
void     we_gst_test_make_clip    (const gchar *out,
                                   const gchar *extra);
/* Waits for @pipeline (already playing) to reach EOS, then stops it;
 * aborts the test on an error or after a (generous) time-out. */
void     we_gst_test_run_to_eos   (GstElement *pipeline);
/* we_gst_test_run_to_eos() on a pipeline parsed from @description. */
void     we_gst_test_run_pipeline (const gchar *description);
/* The contents of @path, which must be readable; @length is nullable.
 * Returns: (transfer full) */
gchar   *we_gst_test_read_file    (const gchar *path,
                                   gsize       *length);
/* Removes @path and everything below it. */
void     we_gst_test_remove_tree  (const gchar *path);

/* For an async call's callback: we_gst_test_waiter_cb() with the waiter as
 * user data keeps the result. */
typedef struct {
  gboolean      done;
  GAsyncResult *result;
} WeGstTestWaiter;

void     we_gst_test_waiter_cb    (GObject      *source,
                                   GAsyncResult *res,
                                   gpointer      user_data);
/* Iterates @context (NULL: the global default) until @w's call completed. */
void     we_gst_test_wait         (WeGstTestWaiter *w,
                                   GMainContext    *context);

G_END_DECLS
