/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * wertmpserversrc: an RTMP server as a source; outputs the FLV stream of
 * one publisher (see gstwertmpserversrc.c).
 */
#pragma once

#include <gst/base/gstpushsrc.h>

G_BEGIN_DECLS

#define GST_TYPE_WE_RTMP_SERVER_SRC (gst_we_rtmp_server_src_get_type ())
G_DECLARE_FINAL_TYPE (GstWeRtmpServerSrc, gst_we_rtmp_server_src, GST, WE_RTMP_SERVER_SRC,
                      GstPushSrc)

GST_ELEMENT_REGISTER_DECLARE (wertmpserversrc);

G_END_DECLS
