/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * wesrtserversrc: the MPEG-TS of one SRT publisher (chosen by its stream
 * key) from a #WeSrtServer, its own or one shared by many of these
 * elements on one port; see gstwesrtserversrc.c.
 */
#pragma once

#include <gst/base/gstpushsrc.h>

G_BEGIN_DECLS

#define GST_TYPE_WE_SRT_SERVER_SRC (gst_we_srt_server_src_get_type ())
G_DECLARE_FINAL_TYPE (GstWeSrtServerSrc, gst_we_srt_server_src, GST, WE_SRT_SERVER_SRC, GstPushSrc)

GST_ELEMENT_REGISTER_DECLARE (wesrtserversrc);

G_END_DECLS
