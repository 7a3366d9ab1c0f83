/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The encoder pillar's package(): one entry for the outputs that are a set
 * of files rather than one (the ABR ladder, thumbnails, subtitle files),
 * each made by its own module. A ladder whose profile keeps subtitles gets
 * the source's text tracks as HLS/DASH subtitle renditions.
 */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <webencode/we-encoder.h>

#include "we-gst-pipeline.h"

G_BEGIN_DECLS

void        we_gst_package_async  (gpointer                source_object,
                                   const WePackageRequest *request,
                                   const WeGstOptions     *options,
                                   WeEncodeProgressFunc    progress,
                                   gpointer                progress_data,
                                   GCancellable           *cancellable,
                                   GAsyncReadyCallback     callback,
                                   gpointer                user_data);
/* Returns: (transfer full) (nullable): { "outputs": [...], ... } */
JsonObject *we_gst_package_finish (GAsyncResult  *result,
                                   GError       **error);

G_END_DECLS
