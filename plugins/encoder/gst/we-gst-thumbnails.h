/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Still images of a source (issue 6): a poster frame, periodic thumbnails,
 * a sprite sheet of those thumbnails and a WebVTT storyboard pointing into
 * it, the scrub-preview format of video.js, Vidstack and JW Player.
 *
 *   uridecodebin ─ video: videoconvert ! appsink   (every decoded frame, unscaled)
 *                └ other streams: fakesink
 *
 * The source is decoded once; the appsink callback picks, for each wanted
 * time t, the frame on screen at t (the last one whose PTS is <= t), and
 * only those are scaled (GstVideoConverter) and encoded (jpegenc), on the
 * streaming thread.
 *
 * Rules:
 *   - poster: the frame at min(duration * 10 %, 5 s) (5 s, or the last
 *     frame, when the duration is unknown), at the source's display size
 *     (pixel aspect ratio applied, even sizes);
 *   - thumbnails: the frames at t = 0, N, 2N, ... < duration, N =
 *     interval_s, options->width wide, height from the display aspect ratio
 *     (even; a source more than four times taller than wide fits a
 *     width x 4*width box). The duration is the longer of the probed one
 *     and the video's end: the probe only estimates it for some files;
 *   - sprite: the thumbnails left to right, top to bottom, in
 *     sprite_columns columns. A sprite is kept to at most
 *     WE_GST_THUMBNAILS_MAX_SPRITE_SIDE pixels a side and
 *     WE_GST_THUMBNAILS_MAX_SPRITE_PIXELS pixels in all (browsers and
 *     JPEG decoders refuse bigger images, and it is held in memory while
 *     built): columns are reduced to fit, and when there are more
 *     thumbnails than tiles only every k-th one is tiled (k a power of two),
 *     each cue then covering k intervals. With fewer thumbnails than
 *     columns, the sprite is one row of them;
 *   - storyboard: one cue per tile, [t, min(t + k*N, duration)), text
 *     "sprite.jpg#xywh=X,Y,W,H".
 */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <webencode/we-encoder.h>
#include <webencode/we-profile.h>

G_BEGIN_DECLS

#define WE_GST_THUMBNAILS_MAX_SPRITE_SIDE   16384
#define WE_GST_THUMBNAILS_MAX_SPRITE_PIXELS (64 * 1024 * 1024)

/* output layout below @output_dir:
 *   thumbnails/poster.jpg, thumbnails/thumb_00001.jpg ..., thumbnails/sprite.jpg,
 *   thumbnails/storyboard.vtt
 * Runs on the caller's thread-default main context; @progress is called
 * there. */
void       we_gst_thumbnails_async  (const gchar               *input_uri,
                                     const WeProfileThumbnails *options,
                                     const gchar               *output_dir,
                                     WeEncodeProgressFunc       progress,   /* nullable */
                                     gpointer                   progress_data,
                                     GCancellable              *cancellable,
                                     GAsyncReadyCallback        callback,
                                     gpointer                   user_data);
/* The same, its pipelines named after @task_id (nullable: the one
 * @cancellable carries, see we-gst-introspect.h) and reported through
 * @pipeline_func (nullable) on the caller's context as they reach PLAYING. */
void       we_gst_thumbnails_task_async (const gchar               *input_uri,
                                         const WeProfileThumbnails *options,
                                         const gchar               *output_dir,
                                         const gchar               *task_id,
                                         WePipelineFunc             pipeline_func,
                                         gpointer                   pipeline_data,
                                         WeEncodeProgressFunc       progress,
                                         gpointer                   progress_data,
                                         GCancellable              *cancellable,
                                         GAsyncReadyCallback        callback,
                                         gpointer                   user_data);
/* Returns: (transfer full): array of objects, one per file written:
 *   { "type": "thumbnail", "path": "thumbnails/poster.jpg" (relative to output_dir),
 *     "role": "poster"|"frame"|"sprite"|"storyboard", "content_type": "image/jpeg"|"text/vtt",
 *     "time_s": <for poster/frame>, "width": .., "height": .. (images),
 *     "columns"/"rows"/"count" (sprite, with "interval_s": the seconds a tile covers) }
 * in that order (poster, frames by time, sprite, storyboard); empty when
 * @options asks for nothing.
 * Errors: WE_ERROR_JOB_UNSUPPORTED_SOURCE for a source without video or not media,
 * WE_ERROR_JOB_INVALID_PROFILE for options out of range, G_IO_ERROR_CANCELLED;
 * on error the files written are removed. */
JsonArray *we_gst_thumbnails_finish (GAsyncResult  *result,
                                     GError       **error);

G_END_DECLS
