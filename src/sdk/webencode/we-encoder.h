/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Pillar 3: encoder (spec §7.3), extended with a probe. Runs inside
 * webencode-worker, never in the kernel. Methods are async on the calling
 * thread's main context.
 *
 * Errors: a source that is not media, is truncated or lacks a video stream is
 * WE_ERROR_JOB_UNSUPPORTED_SOURCE (never retried); anything else is treated as
 * transient by the scheduler and retried.
 */
#pragma once

#include <gio/gio.h>
#include "we-profile.h"
#include "we-media-info.h"
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

#define WE_TYPE_ENCODER (we_encoder_get_type ())
G_DECLARE_INTERFACE (WeEncoder, we_encoder, WE, ENCODER, GObject)

typedef struct {
  gchar   **video_codecs;     /* e.g. {"h264","hevc","vp9","av1",NULL} */
  gchar   **audio_codecs;
  gboolean  gpu_accelerated;
  gchar    *gpu_type;         /* "nvidia", "vaapi", "qsv" or NULL */
} WeEncoderCapabilities;

typedef enum {
  /* the finished file: video and audio in the profile's container */
  WE_ENCODE_MODE_FULL,
  /* split & stitch: video only, the frames whose source PTS lies in
   * [start_s, start_s + duration_s) (duration 0 = to the end), as a closed-GOP
   * stream starting on an IDR, keeping the source's timestamps, in an
   * intermediate file that stitch() accepts */
  WE_ENCODE_MODE_VIDEO_SEGMENT,
  /* split & stitch: the whole audio track, once, in an intermediate file
   * that stitch() accepts (so no seam can appear at segment boundaries) */
  WE_ENCODE_MODE_AUDIO,
} WeEncodeMode;

/* ABI minor 4: pipeline introspection. What one pipeline of a task looked
 * like once it ran, so an engineer can reproduce it by hand. A task may run
 * several pipelines (a loudness measurement, then the transcode); each is
 * reported once, as it reaches PLAYING, under its own @stage.
 *
 * Every pipeline an encoder runs for a request is named after the request's
 * task_id (gst_object_get_name() of the top-level bin), so a GStreamer log
 * handler can tell which task a debug line belongs to. */
typedef struct {
  const gchar *stage;    /* "transcode", "segment", "audio", "stitch",
                          * "ladder", "thumbnails", "subtitles", "loudness" … */
  const gchar *launch;   /* a gst-launch-1.0 line (without the program name)
                          * that reproduces the pipeline; secrets in URIs
                          * (query strings) are replaced by "REDACTED" */
  const gchar *dot;      /* nullable: the running pipeline in Graphviz dot,
                          * with negotiated caps (GST_DEBUG_GRAPH_SHOW_ALL) */
} WePipelineInfo;

/* Called on the caller's main context. */
typedef void (*WePipelineFunc) (const WePipelineInfo *info,
                                gpointer              user_data);

typedef struct {
  const gchar     *task_id;
  const gchar     *input_uri;    /* readable by a GStreamer source element */
  const gchar     *output_path;  /* local file the encoder writes */
  const WeProfile *profile;
  gdouble          start_s;      /* 0 = from the start */
  gdouble          duration_s;   /* 0 = to the end */
  WeEncodeMode     mode;
  /* ABI minor 4, nullable: told about every pipeline the request runs */
  WePipelineFunc   pipeline_func;
  gpointer         pipeline_data;
} WeEncodeRequest;

/* What a keyframe scan learned without decoding (demux + parse only). */
typedef struct {
  gdouble  duration_s;       /* of the video stream */
  GArray  *keyframes_s;      /* (element-type gdouble) source PTS of every keyframe, ascending */
  guint64  video_frames;     /* frames in the video stream */
  gboolean has_audio;
  gdouble  audio_start_s;    /* first audio PTS, 0 without audio */
  gdouble  audio_duration_s;
  gint     fps_n;            /* nominal rate; 0/1 when variable or unknown */
  gint     fps_d;
  /* (element-type guint) frames from each keyframe to the next (or the
   * end), parallel to keyframes_s; empty when the encoder does not know */
  GArray  *gop_frames;
} WeKeyframeIndex;

WeKeyframeIndex *we_keyframe_index_new  (void);
void             we_keyframe_index_free (WeKeyframeIndex *index);
/* Returns: (transfer full) */
JsonObject      *we_keyframe_index_to_json (const WeKeyframeIndex *index);
/* Returns: (transfer full) (nullable) */
WeKeyframeIndex *we_keyframe_index_new_from_json (JsonObject *object,
                                                  GError    **error);

typedef struct {
  const gchar * const *segment_uris;  /* NULL-terminated, in order */
  const gchar         *audio_uri;     /* nullable: no audio */
  const gchar         *output_path;   /* local file, the profile's container */
  const WeProfile     *profile;
  /* what verification demands; 0 skips a check */
  guint64              expected_frames;
  gdouble              expected_duration_s;
  gdouble              frame_duration_s;   /* tolerance for the duration */
  /* ABI minor 4, nullable: told about every pipeline the request runs */
  const gchar         *task_id;
  WePipelineFunc       pipeline_func;
  gpointer             pipeline_data;
} WeStitchRequest;

typedef struct {
  guint64 frames;
  gdouble duration_s;
  gdouble video_duration_s;
  gdouble audio_duration_s;
} WeStitchReport;

/* What a package task makes (ABI minor 2). */
typedef enum {
  /* the ABR ladder: HLS and/or DASH manifests, renditions and segments */
  WE_PACKAGE_LADDER,
  /* poster, periodic thumbnails, sprite sheet, WebVTT storyboard */
  WE_PACKAGE_THUMBNAILS,
  /* every text subtitle track as WebVTT and/or SRT files */
  WE_PACKAGE_SUBTITLES,
} WePackageKind;

typedef struct {
  const gchar     *task_id;
  const gchar     *input_uri;
  const gchar     *output_dir;   /* local directory the encoder fills; created */
  const WeProfile *profile;
  WePackageKind    kind;
  /* LADDER with profile->hls.encryption "aes-128": the content key and the
   * URI players fetch it from (the service serves it to authorized clients) */
  const guint8    *key;          /* 16 bytes, nullable */
  const gchar     *key_uri;
  /* ABI minor 4, nullable: told about every pipeline the request runs */
  WePipelineFunc   pipeline_func;
  gpointer         pipeline_data;
} WePackageRequest;

typedef struct {
  gdouble percent;      /* 0..100 */
  gdouble position_s;   /* media time done */
  gdouble duration_s;   /* media time to do */
  gdouble fps;          /* frames encoded per wall-clock second */
  gdouble speed;        /* media seconds per wall-clock second */
  guint64 frames;
} WeEncodeProgress;

typedef void (*WeEncodeProgressFunc) (const WeEncodeProgress *progress,
                                      gpointer                user_data);

struct _WeEncoderInterface {
  GTypeInterface parent_iface;

  void         (*get_capabilities) (WeEncoder             *self,
                                    WeEncoderCapabilities *caps);
  void         (*probe_async)      (WeEncoder           *self,
                                    const gchar         *uri,
                                    GCancellable        *cancellable,
                                    GAsyncReadyCallback  callback,
                                    gpointer             user_data);
  WeMediaInfo *(*probe_finish)     (WeEncoder    *self,
                                    GAsyncResult *result,
                                    GError      **error);
  /* @progress is called on the caller's main context at least once a second. */
  void         (*transcode_async)  (WeEncoder             *self,
                                    const WeEncodeRequest *request,
                                    WeEncodeProgressFunc   progress,
                                    gpointer               progress_data,
                                    GCancellable          *cancellable,
                                    GAsyncReadyCallback    callback,
                                    gpointer               user_data);
  gboolean     (*transcode_finish) (WeEncoder    *self,
                                    GAsyncResult *result,
                                    GError      **error);
  /* A gst-launch-1.0 style description of the pipeline @request would run. */
  gchar       *(*describe)         (WeEncoder             *self,
                                    const WeEncodeRequest *request);

  /* ABI minor 1: split & stitch */
  void             (*scan_async)   (WeEncoder           *self,
                                    const gchar         *uri,
                                    GCancellable        *cancellable,
                                    GAsyncReadyCallback  callback,
                                    gpointer             user_data);
  WeKeyframeIndex *(*scan_finish)  (WeEncoder    *self,
                                    GAsyncResult *result,
                                    GError      **error);
  /* Joins segments (and the audio) without re-encoding into the profile's
   * container, then verifies the result; a verification failure is
   * WE_ERROR_JOB_FAILED naming what differs. */
  void             (*stitch_async) (WeEncoder             *self,
                                    const WeStitchRequest *request,
                                    GCancellable          *cancellable,
                                    GAsyncReadyCallback    callback,
                                    gpointer               user_data);
  gboolean         (*stitch_finish)(WeEncoder       *self,
                                    GAsyncResult    *result,
                                    WeStitchReport  *report,
                                    GError         **error);

  /* ABI minor 2: packaging. The result lists every file written below
   * output_dir a client needs: { "outputs": [{ "type": "manifest" |
   * "rendition" | "thumbnail" | "subtitle", "path": relative path,
   * "content_type", ...kind-specific members }], ... } */
  void        (*package_async)     (WeEncoder              *self,
                                    const WePackageRequest *request,
                                    WeEncodeProgressFunc    progress,
                                    gpointer                progress_data,
                                    GCancellable           *cancellable,
                                    GAsyncReadyCallback     callback,
                                    gpointer                user_data);
  JsonObject *(*package_finish)    (WeEncoder    *self,
                                    GAsyncResult *result,
                                    GError      **error);

  gpointer padding[6];
};

void         we_encoder_get_capabilities (WeEncoder *self, WeEncoderCapabilities *caps);
void         we_encoder_capabilities_clear (WeEncoderCapabilities *caps);
void         we_encoder_probe_async      (WeEncoder *self, const gchar *uri,
                                          GCancellable *cancellable,
                                          GAsyncReadyCallback callback, gpointer user_data);
/* Returns: (transfer full) (nullable) */
WeMediaInfo *we_encoder_probe_finish     (WeEncoder *self, GAsyncResult *result, GError **error);
void         we_encoder_transcode_async  (WeEncoder *self, const WeEncodeRequest *request,
                                          WeEncodeProgressFunc progress, gpointer progress_data,
                                          GCancellable *cancellable,
                                          GAsyncReadyCallback callback, gpointer user_data);
gboolean     we_encoder_transcode_finish (WeEncoder *self, GAsyncResult *result, GError **error);
/* Returns: (transfer full) (nullable) */
gchar       *we_encoder_describe         (WeEncoder *self, const WeEncodeRequest *request);
/* TRUE when the encoder implements scan and stitch (split & stitch). */
gboolean     we_encoder_can_split        (WeEncoder *self);
void         we_encoder_scan_async       (WeEncoder *self, const gchar *uri,
                                          GCancellable *cancellable,
                                          GAsyncReadyCallback callback, gpointer user_data);
/* Returns: (transfer full) (nullable) */
WeKeyframeIndex *we_encoder_scan_finish  (WeEncoder *self, GAsyncResult *result, GError **error);
void         we_encoder_stitch_async     (WeEncoder *self, const WeStitchRequest *request,
                                          GCancellable *cancellable,
                                          GAsyncReadyCallback callback, gpointer user_data);
gboolean     we_encoder_stitch_finish    (WeEncoder *self, GAsyncResult *result,
                                          WeStitchReport *report, GError **error);

/* TRUE when the encoder implements package (ladders, thumbnails, subtitles). */
gboolean     we_encoder_can_package      (WeEncoder *self);
void         we_encoder_package_async    (WeEncoder *self, const WePackageRequest *request,
                                          WeEncodeProgressFunc progress, gpointer progress_data,
                                          GCancellable *cancellable,
                                          GAsyncReadyCallback callback, gpointer user_data);
/* Returns: (transfer full) (nullable) */
JsonObject  *we_encoder_package_finish   (WeEncoder *self, GAsyncResult *result, GError **error);

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (WeEncoderCapabilities, we_encoder_capabilities_clear)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeKeyframeIndex, we_keyframe_index_free)

G_END_DECLS
