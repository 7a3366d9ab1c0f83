/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Per-task GStreamer debug logs (issue 8): with `--gst-debug[=SPEC]` or
 * `[workers] gst_debug`, every GStreamer debug line of an object whose
 * top-level pipeline is named after a running task (the encoder names every
 * pipeline after its task id) is appended to `<dir>/<task>.log`, capped at
 * WE_WORKER_GST_LOG_LIMIT bytes and then closed with one "[truncated]" line.
 * Lines of objects that belong to no running task (the registry, a bus, an
 * element not yet in a pipeline, a pipeline of a task that has ended) and
 * lines without an object are dropped: the worker's stderr is the kernel's
 * log channel and must not be flooded, so GStreamer's default stderr output
 * is removed while this is on.
 *
 * Process-wide, as GStreamer's debug log is: one worker process runs one
 * task engine. The log function runs on streaming threads; it takes one
 * mutex and never touches a main loop.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define WE_WORKER_GST_LOG_LIMIT   (G_GUINT64_CONSTANT (32) << 20)
/* what `--gst-debug` without a value means */
#define WE_WORKER_GST_DEBUG_DEFAULT "*:4"

/* Initialises GStreamer if needed, applies @spec (GST_DEBUG syntax) and
 * routes the debug log into per-task files below @dir (created 0700). Once
 * per process; a second call only applies @spec again. */
gboolean we_worker_gst_log_enable     (const gchar *spec,
                                       const gchar *dir,
                                       GError     **error);
gboolean we_worker_gst_log_is_enabled (void);
/* Starts @task_id's log (an empty file; one left by an earlier attempt is
 * overwritten). */
gboolean we_worker_gst_log_begin      (const gchar *task_id,
                                       GError     **error);
/* Stops routing lines to @task_id and closes its file.
 * Returns: (transfer full) (nullable): the file's path (the caller uploads
 * and removes it), NULL when the task had no log */
gchar   *we_worker_gst_log_end        (const gchar *task_id,
                                       guint64     *size_bytes,
                                       gboolean    *truncated);
/* TESTS ONLY: a smaller cap than WE_WORKER_GST_LOG_LIMIT. */
void     we_worker_gst_log_set_limit  (guint64 limit);

G_END_DECLS
