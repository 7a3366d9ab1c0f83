/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * werestreamsink: one restream destination (RTMP, RTMPS or SRT) taking
 * encoded H.264 and AAC, that reconnects forever and never holds up its
 * upstream (see gstwerestreamsink.c).
 */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TYPE_WE_RESTREAM_SINK (gst_we_restream_sink_get_type ())
G_DECLARE_FINAL_TYPE (GstWeRestreamSink, gst_we_restream_sink, GST, WE_RESTREAM_SINK, GstBin)

GST_ELEMENT_REGISTER_DECLARE (werestreamsink);

/* The location with its secrets (stream key, passphrase, user info)
 * replaced by "***", for logs, messages and the API. */
gchar *gst_we_restream_sink_redact_location (const gchar *location);

G_END_DECLS
