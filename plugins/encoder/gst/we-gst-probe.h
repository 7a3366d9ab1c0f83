/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Source probing: GstDiscoverer plus a check that the end of the file can be
 * read, because a cut-off MP4 whose index is at the front looks complete to
 * the discoverer.
 */
#pragma once

#include <gio/gio.h>
#include <webencode/we-media-info.h>

G_BEGIN_DECLS

typedef struct {
  WeMediaInfo *info;       /* with audio_tracks and subtitle_tracks filled */
  gint         par_n;      /* source pixel aspect ratio */
  gint         par_d;
  gboolean     seekable;
  /* the GStreamer stream-id of each of info->audio_tracks and
   * info->subtitle_tracks, in the same order: pipelines on the same URI see
   * the same ids, which maps decodebin's pads to track indices whatever
   * order they come in. NULL when the result was not made by a probe. */
  GPtrArray   *audio_stream_ids;     /* (element-type utf8) (nullable) */
  GPtrArray   *subtitle_stream_ids;  /* (element-type utf8) (nullable) */
} WeGstProbeResult;

void              we_gst_probe_result_free (WeGstProbeResult *self);

/* The index among @ids (a probe result's audio_stream_ids or
 * subtitle_stream_ids, nullable) of @stream_id, or -1. */
gint              we_gst_probe_stream_index (const GPtrArray *ids,
                                             const gchar     *stream_id);
/* Turns a language tag ("en", "eng", "fre") into ISO 639-2/T ("eng", "fra");
 * keeps what it does not know. Returns: (transfer full) (nullable) */
gchar            *we_gst_language_normalize (const gchar *language);

/* Runs on the caller's thread-default main context. */
void              we_gst_probe_async  (gpointer             source_object,
                                       const gchar         *uri,
                                       GCancellable        *cancellable,
                                       GAsyncReadyCallback  callback,
                                       gpointer             user_data);
/* Returns: (transfer full) (nullable) */
WeGstProbeResult *we_gst_probe_finish (GAsyncResult  *result,
                                       GError       **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeGstProbeResult, we_gst_probe_result_free)

G_END_DECLS
