/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Source probing: GstDiscoverer plus a check that the end of the file can be
 * read, because a cut-off MP4 whose index is at the front looks complete to
 * the discoverer.
 */
#pragma once

#include <gio/gio.h>
#include <webencode/we-media-info.h>

G_BEGIN_DECLS

typedef struct {
  WeMediaInfo *info;
  gint         par_n;      /* source pixel aspect ratio */
  gint         par_d;
  gboolean     seekable;
} WeGstProbeResult;

void              we_gst_probe_result_free (WeGstProbeResult *self);

/* Runs on the caller's thread-default main context. */
void              we_gst_probe_async  (gpointer             source_object,
                                       const gchar         *uri,
                                       GCancellable        *cancellable,
                                       GAsyncReadyCallback  callback,
                                       gpointer             user_data);
/* Returns: (transfer full) (nullable) */
WeGstProbeResult *we_gst_probe_finish (GAsyncResult  *result,
                                       GError       **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeGstProbeResult, we_gst_probe_result_free)

G_END_DECLS
