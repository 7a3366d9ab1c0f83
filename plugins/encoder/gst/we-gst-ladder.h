/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The ABR ladder packager (spec §9.4.1): one pipeline decodes the source
 * once and encodes every rung of a profile's ladder, with keyframes forced
 * on the same frames in every rung, into HLS (TS or fMP4) and/or DASH.
 *
 *   uridecodebin ─ videoconvert ! tee ─┬ queue ! videoscale ! caps ! x264enc ! tee ─┬ h264parse ! splitmuxsink(mpegtsmux)   TS
 *                                      │         (one branch per rung)             └ h264parse ! mp4mux(fragmented) ! filesink  fMP4
 *                └ audioconvert ! audioresample ! caps ! avenc_aac ! tee ─┬ aacparse ! (each rung's splitmuxsink)         TS
 *                                                                          └ aacparse ! mp4mux(fragmented) ! filesink      fMP4
 *
 * Output, below the output directory:
 *   master.m3u8, <rung>/index.m3u8, <rung>/segment_%05d.ts   (HLS, TS: audio muxed in every rung)
 *   master.m3u8, <rung>/index.m3u8, <rung>/init.mp4, <rung>/segment_%05d.m4s,
 *                audio/index.m3u8, audio/init.mp4, audio/segment_%05d.m4s (HLS fMP4, shared with DASH)
 *   manifest.mpd                                                (DASH, the fMP4 files above)
 */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <webencode/we-encoder.h>
#include <webencode/we-profile.h>

#include "we-gst-pipeline.h"

G_BEGIN_DECLS

typedef struct {
  gchar   *name;
  gint     width;
  gint     height;
  guint64  bandwidth;          /* peak segment bit rate, bits/s (TS: audio included) */
  guint64  average_bandwidth;
  gchar   *codecs;             /* RFC 6381 */
  gchar   *playlist;           /* relative to the output directory, NULL without HLS */
  guint    segment_count;
} WeGstLadderRendition;

typedef struct {
  gchar     *output_dir;
  gchar     *master_playlist;  /* "master.m3u8" or NULL */
  gchar     *dash_manifest;    /* "manifest.mpd" or NULL */
  GPtrArray *renditions;       /* (element-type WeGstLadderRendition), ladder order */
  GStrv      dropped;          /* rungs above the source, not encoded */
  gchar     *audio_codecs;     /* NULL when the output has no audio */
  gdouble    duration_s;
  guint      segment_count;    /* per rendition; every rendition has the same */
} WeGstLadderResult;

void        we_gst_ladder_result_free    (WeGstLadderResult *self);
/* Returns: (transfer full): { duration_s, segment_count, dropped: [...],
 * outputs: [{ type: "manifest", format: "hls"|"dash", path },
 *           { type: "rendition", name, width, height, bandwidth,
 *             average_bandwidth, codecs, playlist, segment_count }] } */
JsonObject *we_gst_ladder_result_to_json (const WeGstLadderResult *self);

/* Which rungs of @profile's ladder are encoded from a @src_width x
 * @src_height source, and at which size. Rungs whose box would scale the
 * source up are dropped (an upscaled rung costs bits and adds nothing a
 * player cannot do itself); if that drops every enabled rung, the smallest
 * one is kept at the source size so the job still has an output.
 * Returns: (transfer full) (element-type WeProfileRung): copies with the
 * width and height to encode at; @dropped gets the names left out. */
GPtrArray  *we_gst_ladder_plan_rungs     (const WeProfile *profile,
                                          gint             src_width,
                                          gint             src_height,
                                          gint             par_n,
                                          gint             par_d,
                                          GStrv           *dropped);

/* Packages @input_uri as @profile asks (profile->ladder, hls, dash, audio)
 * into @output_dir, which is created. Runs on the caller's thread-default
 * main context; @progress is called there. Errors are WE_ERROR (JOB_*) or
 * G_IO_ERROR_CANCELLED; on any error the files written are removed. */
void               we_gst_ladder_async  (const gchar          *input_uri,
                                         const WeProfile      *profile,
                                         const gchar          *output_dir,
                                         const WeGstOptions   *options,
                                         WeEncodeProgressFunc  progress,
                                         gpointer              progress_data,
                                         GCancellable         *cancellable,
                                         GAsyncReadyCallback   callback,
                                         gpointer              user_data);
/* Returns: (transfer full) (nullable) */
WeGstLadderResult *we_gst_ladder_finish (GAsyncResult  *result,
                                         GError       **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeGstLadderResult, we_gst_ladder_result_free)

G_END_DECLS
