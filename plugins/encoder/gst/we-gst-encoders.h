/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Encoder element choice: which GStreamer element encodes a codec on this
 * machine, and the properties that make it follow a WeProfile.
 */
#pragma once

#include <gst/gst.h>
#include <webencode/we-profile.h>

#include "we-gst-spec.h"

G_BEGIN_DECLS

typedef struct {
  const gchar *factory;    /* element factory name */
  const gchar *gpu_type;   /* "nvidia", "vaapi", "qsv" or NULL for software */
} WeGstEncoderChoice;

/* Picks the video encoder for @codec; hardware is tried first only when
 * @allow_hardware. Returns FALSE when no encoder element is installed. */
gboolean     we_gst_video_encoder_choose (const gchar        *codec,
                                          gboolean            allow_hardware,
                                          WeGstEncoderChoice *choice);
gboolean     we_gst_audio_encoder_choose (const gchar        *codec,
                                          WeGstEncoderChoice *choice);

/* The software element names we would look for, for error messages. */
const gchar *we_gst_video_encoder_wanted (const gchar *codec);
const gchar *we_gst_audio_encoder_wanted (const gchar *codec);

/* Returns: (transfer full): codecs with at least one encoder present */
GStrv        we_gst_encoders_video_codecs (gboolean allow_hardware);
GStrv        we_gst_encoders_audio_codecs (void);
/* "nvidia", "vaapi", "qsv" or NULL */
const gchar *we_gst_encoders_gpu_type     (void);

/* Fills @spec (already naming the factory of @choice) with the properties
 * that express @profile. @fps is the source frame rate (0 if unknown). */
void         we_gst_video_encoder_configure (WeGstElementSpec         *spec,
                                             const WeGstEncoderChoice *choice,
                                             const WeProfile          *profile,
                                             gdouble                   fps,
                                             guint                     threads);
void         we_gst_audio_encoder_configure (WeGstElementSpec         *spec,
                                             const WeGstEncoderChoice *choice,
                                             const WeProfile          *profile);

/* The caps the encoder output is constrained to (e.g. "video/x-h264,profile=high"),
 * or NULL. */
const gchar *we_gst_video_encoder_output_caps (const WeGstEncoderChoice *choice,
                                               const WeProfile          *profile);
/* The parser between encoder and muxer, or NULL (vp9 needs none). */
const gchar *we_gst_video_parser_for_codec (const gchar *codec);

/* Whether the encoder's sink pad accepts @format (e.g. "I420_10LE"). */
gboolean     we_gst_encoder_accepts_format (const gchar *factory,
                                            const gchar *format);

G_END_DECLS
