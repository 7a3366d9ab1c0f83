/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The default encoder pillar: GStreamer pipelines in-process.
 */
#pragma once

#include <webencode/we-encoder.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

#define WE_TYPE_ENCODER_GST (we_encoder_gst_get_type ())
G_DECLARE_FINAL_TYPE (WeEncoderGst, we_encoder_gst, WE, ENCODER_GST, GObject)

/* Returns: (transfer full) (nullable): errors are WE_ERROR_PLG_INVALID_CONFIG */
WeEncoderGst *we_encoder_gst_new (JsonObject *config,
                                  GError    **error);

G_END_DECLS
