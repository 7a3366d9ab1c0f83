/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Integrated loudness after EBU R128 / ITU-R BS.1770-4, for normalising the
 * audio of a transcode to a target loudness: the meter itself, a measurement
 * of one audio stream of a source, and the gain that reaches a target.
 */
#pragma once

#include <gio/gio.h>
#include <gst/audio/audio.h>
#include <webencode/we-encoder.h>

G_BEGIN_DECLS

/* A BS.1770-4 meter fed interleaved F32 samples: K-weighting (pre-filter + RLB high-pass, with
 * coefficients computed for any sample rate), 400 ms blocks with 75 % overlap, absolute gate
 * -70 LUFS, relative gate -10 LU; channel weights 1.0 for L/R/C, 1.41 for surround, LFE excluded
 * (use the GstAudioChannelPosition array when given, else the usual order for 1..6 channels:
 * L, R, C, LFE, Ls, Rs, and GStreamer's fallback layout above that).
 *
 * Surround means the ear-level channels between 60° and 120° off centre (BS.1770-4 table 4):
 * side and surround positions, and the rear pair unless side channels exist too (in 7.1 the
 * rear pair sits behind, at 135-150°, and counts 1.0 like the rear centre and the height
 * channels).
 *
 * Keeps 8 bytes per 100 ms of audio (about 300 KB an hour) so that gating is exact. */
typedef struct _WeLoudnessMeter WeLoudnessMeter;

/* @rate: 4000 to 768000 Hz; @channels: 1 to 64; @positions: (nullable) (array length=channels)
 * Returns: (transfer full) */
WeLoudnessMeter *we_loudness_meter_new   (guint                          rate,
                                          guint                          channels,
                                          const GstAudioChannelPosition *positions);
void             we_loudness_meter_free  (WeLoudnessMeter *self);
/* @frames: frames (samples per channel) in @interleaved. A channel that meets a sample that
 * is not finite counts as silent up to the next 100 ms step, and its filters restart. */
void             we_loudness_meter_add   (WeLoudnessMeter *self,
                                          const gfloat    *interleaved,
                                          gsize            frames);
/* Returns: integrated loudness in LUFS, or -HUGE_VAL when everything is below the gate (silence) */
gdouble          we_loudness_meter_integrated (const WeLoudnessMeter *self);
/* Returns: the true-peak-free sample peak in dBFS seen so far (-HUGE_VAL for digital silence) */
gdouble          we_loudness_meter_peak_dbfs  (const WeLoudnessMeter *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeLoudnessMeter, we_loudness_meter_free)

/* Measures the integrated loudness of the audio stream number @stream_index (0 = the first audio
 * stream, in container order like ffmpeg's 0:a:N) of @uri: uridecodebin ! audioconvert !
 * audio/x-raw,format=F32LE ! appsink. Video is never decoded: an autoplug-continue handler, like
 * the audio mode of we-gst-transcode.c, lets decodebin demux and parse it and stops before a
 * decoder. Runs on the caller's thread-default main context.
 * Errors: WE_ERROR_JOB_UNSUPPORTED_SOURCE when there is no such audio stream, G_IO_ERROR_CANCELLED.
 * A source that cannot be read fails as in we_gst_error_from_message(). */
void     we_gst_loudness_measure_async  (const gchar         *uri,
                                         guint                stream_index,
                                         GCancellable        *cancellable,
                                         GAsyncReadyCallback  callback,
                                         gpointer             user_data);
/* As we_gst_loudness_measure_async(), for a task: the pipeline is named
 * after @task_id (nullable) and reported through @pipeline_func (nullable)
 * as stage "loudness". Finish with we_gst_loudness_measure_finish(). */
void     we_gst_loudness_measure_task_async (const gchar         *uri,
                                             guint                stream_index,
                                             const gchar         *task_id,
                                             WePipelineFunc       pipeline_func,
                                             gpointer             pipeline_data,
                                             GCancellable        *cancellable,
                                             GAsyncReadyCallback  callback,
                                             gpointer             user_data);
/* @integrated_lufs: (out) (optional): -HUGE_VAL for a silent stream
 * @peak_dbfs: (out) (optional): the sample peak */
gboolean we_gst_loudness_measure_finish (GAsyncResult  *result,
                                         gdouble       *integrated_lufs,
                                         gdouble       *peak_dbfs,
                                         GError       **error);

/* The linear gain to bring @measured_lufs to @target_lufs, limited so the sample peak stays
 * at or below -1 dBFS (no clipping) and to at most +20 dB; 1.0 for silence.
 * The peak limit wins over the target: a source already peaking above -1 dBFS is turned
 * down even when the target asks for more. */
gdouble  we_loudness_gain_for_target    (gdouble measured_lufs,
                                         gdouble peak_dbfs,
                                         gdouble target_lufs);

G_END_DECLS
