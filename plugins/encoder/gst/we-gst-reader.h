/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Reads the compressed frames of a media file without decoding them
 * (urisourcebin ! parsebin ! fakesink), for the keyframe scan, stitching and
 * the verification of a stitched file. Blocking: call it from a worker
 * thread, never from a main loop.
 */
#pragma once

#include <gio/gio.h>
#include <gst/gst.h>

G_BEGIN_DECLS

typedef enum {
  WE_GST_STREAM_VIDEO,
  WE_GST_STREAM_AUDIO,
} WeGstStreamKind;

/* Called on a streaming thread, one call at a time, for every buffer of the
 * first video and the first audio stream, in demux order. Return FALSE to
 * stop reading (we_gst_read_streams() then returns TRUE). */
typedef gboolean (*WeGstReadFunc) (WeGstStreamKind kind,
                                   GstBuffer      *buffer,
                                   GstCaps        *caps,
                                   gpointer        user_data);

/* @kinds: which streams to hand to @func (bit 1 << WeGstStreamKind); the
 * others are still demuxed but dropped. Errors: WE_ERROR_JOB_UNSUPPORTED_SOURCE
 * when the file cannot be demuxed, WE_ERROR_JOB_FAILED when it cannot be read,
 * G_IO_ERROR_CANCELLED. */
gboolean we_gst_read_streams (const gchar   *uri,
                              guint          kinds,
                              WeGstReadFunc  func,
                              gpointer       user_data,
                              GCancellable  *cancellable,
                              GError       **error);

#define WE_GST_READ_VIDEO (1u << WE_GST_STREAM_VIDEO)
#define WE_GST_READ_AUDIO (1u << WE_GST_STREAM_AUDIO)
/* hand out the demuxer's timestamps as they are, not as stream time: for our
 * own intermediates, whose block times are the source's stream time already
 * (matroskademux would rebase stream time to the first cluster) */
#define WE_GST_READ_RAW_TIME (1u << 8)

G_END_DECLS
