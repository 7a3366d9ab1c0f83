/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The transcode pipeline for a WeProfile, planned as element specs:
 *
 *   uridecodebin ─ video: queue ! videoconvert ! videoscale ! caps ! encoder [! caps] [! parser] ─┐
 *                └ audio: queue ! audioconvert ! audioresample ! caps ! encoder ──────────────────┴ mux ! filesink
 */
#pragma once

#include <gst/gst.h>
#include <webencode/we-encoder.h>

#include "we-gst-encoders.h"
#include "we-gst-probe.h"
#include "we-gst-spec.h"

G_BEGIN_DECLS

/* Matroska ticks of the split & stitch intermediates, in nanoseconds */
#define WE_GST_INTERMEDIATE_TIMECODESCALE 50000

typedef struct {
  guint    threads;         /* 0 = auto */
  gboolean allow_hardware;  /* config "hardware" != off */
} WeGstOptions;

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
} WeGstPlan;

/* @probe may be NULL (describe() of an unreadable source): the plan then
 * scales to the profile's height and lets the width follow the aspect. */
WeGstPlan *we_gst_plan_new     (const WeEncodeRequest *request,
                                const WeGstProbeResult *probe,
                                const WeGstOptions     *options,
                                GError                **error);
void       we_gst_plan_free    (WeGstPlan *self);
/* Returns: (transfer full): a gst-launch-1.0 command line */
gchar     *we_gst_plan_to_launch (const WeGstPlan *self);

/* Fits @src_w x @src_h (pixel aspect @par_n/@par_d) into @box_w x @box_h,
 * keeping the display aspect ratio, with even dimensions. */
void       we_gst_fit_box      (gint src_w, gint src_h, gint par_n, gint par_d,
                                gint box_w, gint box_h, gint *out_w, gint *out_h);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeGstPlan, we_gst_plan_free)

G_END_DECLS
