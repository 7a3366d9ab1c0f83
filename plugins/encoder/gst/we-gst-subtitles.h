/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Subtitle files from a source's text subtitle tracks (the profile's
 * subtitles.mode "extract"), and the cue text conversions the transcode's
 * subtitle passthrough shares with them.
 */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <webencode/we-encoder.h>

G_BEGIN_DECLS

/* Writes every text subtitle track of @input_uri as
 * subtitles/<index>_<language or "und">.<ext> below @output_dir (created),
 * one file per track and format ("vtt": WebVTT with a header, "srt":
 * SubRip), with cue times from the buffers' PTS/duration relative to the
 * stream start. <index> counts among all the source's subtitle streams (as
 * WeMediaInfo.subtitle_tracks), so picture subtitles (DVD, PGS, DVB), which
 * are skipped, leave gaps. Nothing but the text is decoded. Cue markup is
 * reduced to <i>, <b> and <u>, which both formats know; WebVTT escapes &, <
 * and > and never contains "-->" in a cue's text.
 * The source is probed first (we-gst-probe), so what the probe refuses
 * (no video stream, truncated, not media) fails the same way.
 * @formats: (nullable): NULL or empty means { "vtt" }
 * Runs on the caller's thread-default main context. */
void       we_gst_subtitles_extract_async  (const gchar         *input_uri,
                                            const gchar * const *formats,
                                            const gchar         *output_dir,
                                            GCancellable        *cancellable,
                                            GAsyncReadyCallback  callback,
                                            gpointer             user_data);
/* The same, its pipeline named after @task_id (nullable: the one
 * @cancellable carries, see we-gst-introspect.h) and reported through
 * @pipeline_func (nullable) on the caller's context as it reaches PLAYING. */
void       we_gst_subtitles_extract_task_async (const gchar         *input_uri,
                                                const gchar * const *formats,
                                                const gchar         *output_dir,
                                                const gchar         *task_id,
                                                WePipelineFunc       pipeline_func,
                                                gpointer             pipeline_data,
                                                GCancellable        *cancellable,
                                                GAsyncReadyCallback  callback,
                                                gpointer             user_data);
/* Returns: (transfer full): [{ "type": "subtitle", "path": "subtitles/0_eng.vtt",
 *   "format": "vtt", "language": "eng" (or null), "track": 0, "cues": N,
 *   "content_type": "text/vtt" | "application/x-subrip" }], tracks in
 *   order, formats in the order asked; an empty array when the source has
 *   no text subtitle track. Errors: WE_ERROR_JOB_UNSUPPORTED_SOURCE (not a
 *   readable media file), WE_ERROR_JOB_INVALID_PROFILE (unknown format),
 *   WE_ERROR_JOB_FAILED (cannot write), G_IO_ERROR_CANCELLED; files written
 *   are removed on error. */
JsonArray *we_gst_subtitles_extract_finish (GAsyncResult  *result,
                                            GError       **error);

/* The text of one cue: @markup is Pango markup when @is_markup
 * (text/x-raw,format=pango-markup), else plain UTF-8. Tags other than
 * <i>, <b> and <u> are dropped (all of them unless @keep_style); entities
 * are resolved; CRLF becomes LF and trailing blank lines go; invalid UTF-8
 * is replaced. Returns: (transfer full) */
gchar     *we_gst_subtitle_cue_text        (const gchar *markup,
                                            gssize       length,
                                            gboolean     is_markup,
                                            gboolean     keep_style);

/* Formats a cue for a file. @text as from we_gst_subtitle_cue_text() with
 * @keep_style. WebVTT: "00:00:01.500 --> 00:00:02.500\ntext\n\n" with &, <
 * and > escaped except in the <i>/<b>/<u> tags and "-->" broken up; SRT:
 * "N\n00:00:01,500 --> 00:00:02,500\ntext\n\n" (@number from 1). */
void       we_gst_subtitle_append_vtt_cue  (GString     *out,
                                            guint64      start_ns,
                                            guint64      end_ns,
                                            const gchar *text);
void       we_gst_subtitle_append_srt_cue  (GString     *out,
                                            guint        number,
                                            guint64      start_ns,
                                            guint64      end_ns,
                                            const gchar *text);

G_END_DECLS
