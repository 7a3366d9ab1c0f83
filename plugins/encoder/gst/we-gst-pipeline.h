/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The transcode pipeline for a WeProfile, planned as element specs:
 *
 *   uridecodebin ─ video: queue ! videoconvert ! videoscale ! caps [! subtitleoverlay ! videoconvert ! caps]
 *                │        ! encoder [! caps] [! parser] ! weprogress ! queue ─────────────────────────────┐
 *                ├ audio, per branch: queue ! audioconvert ! audioresample ! caps [! volume] ! encoder ! queue ┤
 *                │                or: queue ! parser ! queue                    (passthrough) ────────┤
 *                ├ subtitles, per track: queue ! capssetter ! queue                (passthrough) ────────┴ mux ! filesink
 *                └ burn_track's text: queue ─ subtitleoverlay.subtitle_sink
 *
 * Audio (profile->audio):
 * - keep_all_tracks: one branch per source audio stream, each muxed with
 *   its stream's language and title tags (the tags flow with the stream;
 *   MP4 keeps the language only, Matroska and WebM both). FALSE: the first
 *   audio stream only.
 * - passthrough_when_compatible: a stream whose codec is the profile's
 *   audio_codec (aac or opus; the probe tells) is parsed and muxed as it is,
 *   not decoded (uridecodebin stops at its caps). Not with normalize, whose
 *   gain needs decoding.
 * - normalize: the branch has a volume element "gain_<track>" the transcode
 *   sets, before the pipeline starts, from a loudness measurement of that
 *   stream (we-gst-loudness).
 * WE_ENCODE_MODE_AUDIO (split & stitch) honours codec, passthrough and
 * normalize for the first audio stream only; keep_all_tracks and the
 * subtitle modes "passthrough" and "burn" are WE_ENCODE_MODE_FULL only (the
 * scheduler does not split such jobs), WE_ENCODE_MODE_VIDEO_SEGMENT ignores
 * them.
 *
 * Subtitles (profile->subtitles, FULL mode):
 * - "passthrough": every text subtitle stream (WeMediaTrack codec text,
 *   ass, webvtt, ttml: what decodebin turns into text/x-raw) is muxed with
 *   its language: Matroska as S_TEXT/UTF8 (SRT-style text keeping <i>, <b>,
 *   <u>), MP4 as 3GPP timed text (tx3g, plain text). WebM only takes WebVTT
 *   (D_WEBVTT), which webmmux cannot write: the tracks are dropped with a
 *   log line. Picture subtitles are dropped.
 * - "burn": subtitle stream number burn_track (among all the source's
 *   subtitle streams) is rendered by subtitleoverlay after scaling, so text
 *   is drawn at the output resolution; a missing track is
 *   WE_ERROR_JOB_UNSUPPORTED_SOURCE.
 * - "extract" and "none" leave the transcode as it is (we-gst-subtitles
 *   writes the files).
 */
#pragma once

#include <gst/gst.h>
#include <webencode/we-encoder.h>

#include "we-gst-encoders.h"
#include "we-gst-probe.h"
#include "we-gst-spec.h"

G_BEGIN_DECLS

/* The weprogress (gst-elements/) the transcode's progress is read from:
 * after the video encoder's parser, or in WE_ENCODE_MODE_AUDIO after the
 * first audio branch's encoder (or parser) */
#define WE_GST_PLAN_PROGRESS "progress"

/* Matroska ticks of the split & stitch intermediates, in nanoseconds */
#define WE_GST_INTERMEDIATE_TIMECODESCALE 50000

typedef struct {
  guint    threads;         /* 0 = auto */
  gboolean allow_hardware;  /* config "hardware" != off */
} WeGstOptions;

/* One audio stream of the source and what becomes of it. */
typedef struct {
  gint       track;        /* index among the source's audio streams */
  gchar     *codec;        /* the source's, nullable (no probe) */
  gchar     *language;     /* ISO 639-2, nullable */
  gboolean   passthrough;  /* parsed and copied: no decoder, no encoder */
  gchar     *gain_name;    /* the volume element of normalize, else NULL */
  gchar     *output_name;  /* the element whose src pad carries the branch's
                            * encoded output (encoder or parser) */
  GPtrArray *chain;        /* (element-type WeGstElementSpec) queue … queue */
} WeGstAudioBranch;

/* One text subtitle stream muxed as it is. */
typedef struct {
  gint       track;        /* index among the source's subtitle streams */
  gchar     *language;     /* nullable */
  gchar     *setter_name;  /* the capssetter, whose output the transcode rewrites */
  GPtrArray *chain;        /* (element-type WeGstElementSpec) queue ! capssetter ! queue */
} WeGstSubtitleBranch;

typedef struct {
  gchar             *uri;
  gchar             *output_path;
  GPtrArray         *video;          /* (element-type WeGstElementSpec) queue … parser */
  GPtrArray         *audio;          /* empty when the output has no audio */
  WeGstElementSpec  *mux;
  WeGstElementSpec  *sink;
  WeGstEncoderChoice video_encoder;
  WeGstEncoderChoice audio_encoder;
  gint               out_width;      /* 0 when unknown (describe without a probe) */
  gint               out_height;
  gboolean           depth_fallback; /* 10-bit asked, encoder only takes 8-bit */
  gchar             *video_encoder_name; /* element name of the video encoder */

  GPtrArray         *audio_branches;  /* (element-type WeGstAudioBranch): audio is
                                       * the chain of the first one */
  GPtrArray         *subtitle_branches; /* (element-type WeGstSubtitleBranch) */
  gint               burn_track;      /* subtitle stream burnt in, -1 for none */
  gchar             *burn_name;       /* the subtitleoverlay in video, else NULL */
  GPtrArray         *burn_text;       /* (element-type WeGstElementSpec) the burnt
                                       * track's way to the overlay: a queue */
  gboolean           subtitles_dropped; /* passthrough asked, container cannot */
  /* uridecodebin's "caps": what it stops at (raw plus the codecs copied) */
  gchar             *decode_caps;
} WeGstPlan;

/* @probe may be NULL (describe() of an unreadable source): the plan then
 * scales to the profile's height and lets the width follow the aspect. */
WeGstPlan *we_gst_plan_new     (const WeEncodeRequest *request,
                                const WeGstProbeResult *probe,
                                const WeGstOptions     *options,
                                GError                **error);
void       we_gst_plan_free    (WeGstPlan *self);
/* Returns: (transfer full): a gst-launch-1.0 command line; with several
 * audio or subtitle branches the line routes by media type only, so it
 * shows the structure rather than which stream goes where */
gchar     *we_gst_plan_to_launch (const WeGstPlan *self);

/* Fits @src_w x @src_h (pixel aspect @par_n/@par_d) into @box_w x @box_h,
 * keeping the display aspect ratio, with even dimensions. */
void       we_gst_fit_box      (gint src_w, gint src_h, gint par_n, gint par_d,
                                gint box_w, gint box_h, gint *out_w, gint *out_h);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeGstPlan, we_gst_plan_free)

G_END_DECLS
