/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Runs one transcode: probe, plan, pipeline, progress, cancellation, all on
 * the caller's thread-default main context.
 */
#pragma once

#include <gio/gio.h>
#include <webencode/we-encoder.h>

#include "we-gst-pipeline.h"

G_BEGIN_DECLS

void     we_gst_transcode_async  (gpointer               source_object,
                                  const WeEncodeRequest *request,
                                  const WeGstOptions    *options,
                                  WeEncodeProgressFunc   progress,
                                  gpointer               progress_data,
                                  GCancellable          *cancellable,
                                  GAsyncReadyCallback    callback,
                                  gpointer               user_data);
gboolean we_gst_transcode_finish (GAsyncResult  *result,
                                  GError       **error);

G_END_DECLS
