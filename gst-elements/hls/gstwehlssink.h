/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * wehlssink: a live HLS segmenter that publishes each MPEG-TS segment the
 * moment the keyframe that ends it arrives (see gstwehlssink.c).
 */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TYPE_WE_HLS_SINK (gst_we_hls_sink_get_type ())
G_DECLARE_FINAL_TYPE (GstWeHlsSink, gst_we_hls_sink, GST, WE_HLS_SINK, GstBin)

GST_ELEMENT_REGISTER_DECLARE (wehlssink);

G_END_DECLS
