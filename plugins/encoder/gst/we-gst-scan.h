/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The keyframe scan of split & stitch: the probe's checks, then every video
 * frame's PTS and keyframe flag read from the parsed stream (no decoding).
 */
#pragma once

#include <gio/gio.h>
#include <webencode/we-encoder.h>

G_BEGIN_DECLS

void             we_gst_scan_async  (gpointer             source_object,
                                     const gchar         *uri,
                                     GCancellable        *cancellable,
                                     GAsyncReadyCallback  callback,
                                     gpointer             user_data);
/* Returns: (transfer full) (nullable) */
WeKeyframeIndex *we_gst_scan_finish (GAsyncResult  *result,
                                     GError       **error);

G_END_DECLS
