/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Stitch of split & stitch: joins the Matroska intermediates of the video
 * segments and the audio task into the profile's container without
 * re-encoding, then reads the result back and verifies it.
 */
#pragma once

#include <gio/gio.h>
#include <webencode/we-encoder.h>

G_BEGIN_DECLS

void     we_gst_stitch_async  (gpointer               source_object,
                               const WeStitchRequest *request,
                               GCancellable          *cancellable,
                               GAsyncReadyCallback    callback,
                               gpointer               user_data);
gboolean we_gst_stitch_finish (GAsyncResult   *result,
                               WeStitchReport *report,
                               GError        **error);

G_END_DECLS
