/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * weprogress: a pass-through element that measures the stream flowing
 * through it (frames, bytes, position) and posts "we-progress" element
 * messages; see gstweprogress.c.
 */
#pragma once

#include <gst/base/gstbasetransform.h>

G_BEGIN_DECLS

#define GST_TYPE_WE_PROGRESS (gst_we_progress_get_type ())
G_DECLARE_FINAL_TYPE (GstWeProgress, gst_we_progress, GST, WE_PROGRESS, GstBaseTransform)

/* the name of the structure of its element messages */
#define GST_WE_PROGRESS_MESSAGE "we-progress"

GST_ELEMENT_REGISTER_DECLARE (weprogress);

G_END_DECLS
