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
 *
 * With profile->audio.keep_all_tracks every audio stream of the source is
 * encoded on its own and is a rendition, audio_<n>/ (n in the order the
 * source exposes them; "audio_<n>" and "subs" cannot name rungs), and TS
 * rungs are video only: audio_<n>/segment_%05d.ts are audio-only TS
 * segments cut on the video's grid. The first track is DEFAULT=YES (DASH:
 * Role "main"), every one AUTOSELECT, each its own DASH AdaptationSet. The
 * language comes from the stream's tags, as GStreamer gives it (ISO 639-1
 * where one exists: "en", "fr"). Without keep_all_tracks only the first
 * audio stream is encoded, as before.
 *
 * Subtitles (extras->subtitles): each WebVTT file is copied with an
 * X-TIMESTAMP-MAP header added (cue time 0 = the media's first timestamp)
 * and listed whole as a one-segment media playlist:
 *   subs/<name>/index.m3u8, subs/<name>/<name>.vtt             (EXT-X-MEDIA TYPE=SUBTITLES,
 *                                                                DASH text/vtt AdaptationSet)
 *
 * fMP4 timestamps: every track's first sample is presented where the
 * manifests put it (video at 0, by negative composition offsets; a track
 * that starts late by its decode times), as mp4mux writes no edit list.
 *
 * AES-128 (profile->hls.encryption "aes-128" with extras->key): every HLS
 * media segment, TS or fMP4, video and audio, is encrypted whole with
 * AES-128-CBC and PKCS#7 padding; the IV is the segment's media sequence
 * number (0, 1, ...) as a 128-bit big-endian integer, left implicit in the
 * playlists. fMP4 init segments and WebVTT files stay clear. DASH cannot be
 * combined with it (the job is refused): DASH would need CENC, which this
 * packager does not write, and a clear copy would defeat the key.
 */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <webencode/we-encoder.h>
#include <webencode/we-profile.h>

#include "we-gst-pipeline.h"

G_BEGIN_DECLS

typedef struct {
  const gchar *name;      /* rendition name, [a-z0-9_-]{1,32}, e.g. "sub_eng" */
  const gchar *language;  /* ISO 639 / BCP 47, nullable */
  const gchar *vtt_path;  /* a complete WebVTT file covering the whole source (already extracted) */
} WeGstLadderSubtitle;

#define WE_GST_LADDER_MAX_SUBTITLES 32
#define WE_GST_LADDER_MAX_AUDIO_TRACKS 16

typedef struct {
  const guint8 *key;       /* 16 bytes: AES-128 encrypt HLS media segments; NULL = clear */
  const gchar  *key_uri;   /* written verbatim in EXT-X-KEY's URI (the service serves the key there) */
  const WeGstLadderSubtitle *subtitles;  /* nullable */
  guint         n_subtitles;
  /* nullable: names the pipeline and reports it (stage "ladder") */
  const gchar    *task_id;
  WePipelineFunc  pipeline_func;
  gpointer        pipeline_data;
} WeGstLadderExtras;

typedef enum {
  WE_GST_LADDER_VIDEO,
  WE_GST_LADDER_AUDIO,
} WeGstLadderKind;

typedef struct {
  WeGstLadderKind kind;
  gchar   *name;
  gchar   *language;           /* audio: from the stream's tags, or NULL */
  gint     width;              /* video only */
  gint     height;
  guint64  bandwidth;          /* peak segment bit rate, bits/s (video: with the audio it plays with) */
  guint64  average_bandwidth;
  gchar   *codecs;             /* RFC 6381 */
  gchar   *playlist;           /* relative to the output directory, NULL without HLS */
  gchar   *init;               /* fMP4 init segment, NULL for TS */
  guint    segment_count;
} WeGstLadderRendition;

typedef struct {
  gchar *name;
  gchar *language;             /* nullable */
  gchar *playlist;             /* "subs/<name>/index.m3u8", NULL without HLS */
  gchar *path;                 /* "subs/<name>/<name>.vtt" */
} WeGstLadderSubtitleOutput;

typedef struct {
  gchar     *output_dir;
  gchar     *master_playlist;  /* "master.m3u8" or NULL */
  gchar     *dash_manifest;    /* "manifest.mpd" or NULL */
  GPtrArray *renditions;       /* (element-type WeGstLadderRendition), ladder order, video */
  GPtrArray *audio;            /* (element-type WeGstLadderRendition): separate audio
                                * renditions (fMP4, or keep_all_tracks); empty when TS
                                * rungs carry their audio */
  GPtrArray *subtitles;        /* (element-type WeGstLadderSubtitleOutput) */
  GStrv      dropped;          /* rungs above the source, not encoded */
  gchar     *audio_codecs;     /* NULL when the output has no audio */
  gdouble    duration_s;
  guint      segment_count;    /* per video rendition; every one has the same */
  gboolean   encrypted;        /* HLS media segments are AES-128 encrypted */
} WeGstLadderResult;

void        we_gst_ladder_result_free    (WeGstLadderResult *self);
/* Every file a client needs except the media segments, relative to the
 * output directory.
 * Returns: (transfer full): { duration_s, segment_count, encrypted, dropped: [...],
 * outputs: [{ type: "manifest", format: "hls"|"dash", path },
 *           { type: "rendition", kind: "video", name, width, height, bandwidth,
 *             average_bandwidth, codecs, playlist, init, segment_count },
 *           { type: "rendition", kind: "audio", name, language, bandwidth,
 *             average_bandwidth, codecs, playlist, init, segment_count },
 *           { type: "subtitle", name, language, playlist, path }] }
 * (playlist, init and language are left out when there is none) */
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
 * into @output_dir, which is created. @extras (nullable) is copied: the key
 * and the subtitle files it names (read once packaging ends). Runs on the
 * caller's thread-default main context; @progress is called there. Errors
 * are WE_ERROR (JOB_*) or G_IO_ERROR_CANCELLED; on any error the files
 * written are removed. */
void               we_gst_ladder_async  (const gchar             *input_uri,
                                         const WeProfile         *profile,
                                         const gchar             *output_dir,
                                         const WeGstOptions      *options,
                                         const WeGstLadderExtras *extras,
                                         WeEncodeProgressFunc     progress,
                                         gpointer                 progress_data,
                                         GCancellable            *cancellable,
                                         GAsyncReadyCallback      callback,
                                         gpointer                 user_data);
/* Returns: (transfer full) (nullable) */
WeGstLadderResult *we_gst_ladder_finish (GAsyncResult  *result,
                                         GError       **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeGstLadderResult, we_gst_ladder_result_free)

G_END_DECLS
