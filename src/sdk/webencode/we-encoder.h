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

G_BEGIN_DECLS

#define WE_TYPE_ENCODER (we_encoder_get_type ())
G_DECLARE_INTERFACE (WeEncoder, we_encoder, WE, ENCODER, GObject)

typedef struct {
  gchar   **video_codecs;     /* e.g. {"h264","hevc","vp9","av1",NULL} */
  gchar   **audio_codecs;
  gboolean  gpu_accelerated;
  gchar    *gpu_type;         /* "nvidia", "vaapi", "qsv" or NULL */
} WeEncoderCapabilities;

typedef struct {
  const gchar     *task_id;
  const gchar     *input_uri;    /* readable by a GStreamer source element */
  const gchar     *output_path;  /* local file the encoder writes */
  const WeProfile *profile;
  gdouble          start_s;      /* 0 = from the start */
  gdouble          duration_s;   /* 0 = to the end */
} WeEncodeRequest;

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

  gpointer padding[12];
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

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (WeEncoderCapabilities, we_encoder_capabilities_clear)

G_END_DECLS
