/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The kernel's side of live streaming (issue 10, docs/architecture.md "Live
 * in the kernel"): runs the live worker (`webencode-worker --live`, which
 * hosts the live pillar), decides its publish attempts with the stream keys
 * of the store, and turns what it reports into state: stream sessions and
 * is_live in the store, stream.started / stream.ended / recording.ready
 * webhooks, telemetry kept per stream (the last WE_LIVE_HISTORY samples)
 * and an "event" signal for the WebSocket topic stream:<id>, and the archive
 * of a recording into a VOD job. Everything runs on the main loop; the store
 * and the file system are reached from GTask threads.
 */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "core/we-content-keys.h"
#include "core/we-scheduler.h"
#include "core/we-webhooks.h"
#include "store/we-store.h"

G_BEGIN_DECLS

/* telemetry samples kept per stream (1 Hz: ten minutes) */
#define WE_LIVE_HISTORY 600

#define WE_TYPE_LIVE_KERNEL (we_live_kernel_get_type ())
G_DECLARE_FINAL_TYPE (WeLiveKernel, we_live_kernel, WE, LIVE_KERNEL, GObject)

typedef struct {
  WeStore       *store;
  WeContentKeys *keys;           /* unseals SRT passphrases */
  WeScheduler   *scheduler;      /* archive jobs */
  WeWebhooks    *webhooks;       /* nullable */
  const gchar   *worker_binary;  /* webencode-worker */
  const gchar   *live_dir;       /* the engine's output_dir: <data_dir>/live */
  const gchar   *storage_root;   /* storage-fs root: archives go to fs://live/<id>/… */
  const gchar   *archive_profile;
  const gchar   *plugin_dir;
  const gchar   *plugin_id;      /* the live plugin, e.g. "live-gst" */
  JsonObject    *plugin_config;  /* its configuration (ports, output_dir …) */
  /* cluster mode: no worker of our own; `webencode-worker --live --nats`
   * processes talk to every kernel over NATS (queue/we-live-nats.h) */
  const gchar   *nats_url;       /* nullable: embedded mode */
  const gchar   *kernel_id;
  guint          offline_ms;     /* a live worker silent that long is gone */
} WeLiveKernelOptions;

/* Signals (main loop):
 * "event" (stream_id, JsonObject): what the WebSocket topic stream:<id>
 *   carries: {"type":"telemetry", …} once a second while live, and
 *   {"type":"stream.started"|"stream.ended", …} */
WeLiveKernel *we_live_kernel_new        (const WeLiveKernelOptions *options);
/* Closes what a previous life left live in the store, then spawns the
 * worker (and again, after 2 s, whenever it dies). */
gboolean      we_live_kernel_start      (WeLiveKernel *self,
                                         GError      **error);
/* Asks the worker to end every stream and exit; does not wait. */
void          we_live_kernel_stop       (WeLiveKernel *self);
/* The bound ports once the worker is ready (0 before). */
guint         we_live_kernel_get_port   (WeLiveKernel *self,
                                         const gchar  *protocol);
/* Ends the live ingest of @stream_id (its recording is finalized and
 * stream_ended follows). Errors: WE_ERROR_STR_NOT_FOUND when it is not live
 * here, WE_ERROR_STR_INGEST_UNAVAILABLE without a worker. */
gboolean      we_live_kernel_end_stream (WeLiveKernel *self,
                                         const gchar  *stream_id,
                                         GError      **error);
gboolean      we_live_kernel_is_live    (WeLiveKernel *self,
                                         const gchar  *stream_id);
/* Returns: (transfer full) (nullable): the latest sample of the current (or
 * last) session */
JsonObject   *we_live_kernel_get_telemetry (WeLiveKernel *self,
                                            const gchar  *stream_id);
/* Returns: (transfer full): the session's samples, oldest first */
JsonArray    *we_live_kernel_get_history   (WeLiveKernel *self,
                                            const gchar  *stream_id);
/* Starts or stops the recording of a live stream at run time (the engine
 * closes the current fragments; starting again continues in the same
 * session's folder). Errors as we_live_kernel_end_stream(). */
gboolean      we_live_kernel_set_recording (WeLiveKernel *self,
                                            const gchar  *stream_id,
                                            gboolean      enabled,
                                            GError      **error);
gboolean      we_live_kernel_is_recording  (WeLiveKernel *self,
                                            const gchar  *stream_id);
/* A client (any stable name of it) fetched a live playlist of @stream_id:
 * viewers are the distinct clients of the last 15 s. */
void          we_live_kernel_count_viewer  (WeLiveKernel *self,
                                            const gchar  *stream_id,
                                            const gchar  *client);
/* Returns: the current viewers; @peak: the session's peak (the last
 * session's once it ended) */
guint         we_live_kernel_get_viewers   (WeLiveKernel *self,
                                            const gchar  *stream_id,
                                            guint        *peak);
/* @stream_id was deleted: its live HLS and recordings under live_dir go
 * once it is no longer live and no archive reads them. */
void          we_live_kernel_forget_stream (WeLiveKernel *self,
                                            const gchar  *stream_id);
/* Archives the last recording of @stream_id into a VOD job owned by
 * @user_id (the recording's fragments joined into one MPEG-TS object in
 * storage, then a job with the archive profile), links it as the stream's
 * archive_vod_job_id and fires recording.ready. Errors:
 * WE_ERROR_STR_NOT_FOUND without a recording. */
void          we_live_kernel_archive_async  (WeLiveKernel        *self,
                                             const gchar         *stream_id,
                                             const gchar         *user_id,
                                             GCancellable        *cancellable,
                                             GAsyncReadyCallback  callback,
                                             gpointer             user_data);
/* Returns: (transfer full) (nullable): the new job */
WeJob        *we_live_kernel_archive_finish (WeLiveKernel  *self,
                                             GAsyncResult  *result,
                                             GError       **error);

G_END_DECLS
