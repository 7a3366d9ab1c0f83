/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Pillar 4: live ingest (spec §7.4). Declared now so the SDK is complete;
 * the first implementation (live/gst) arrives with live streaming.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct {
  const gchar *protocol;       /* "rtmp" | "srt" */
  guint16      port;
  const gchar *stream_id;
  const gchar *stream_key;
} WeIngestConfig;

typedef struct {
  const gchar *stream_id;
  const gchar *stream_key;
  const gchar *client_ip;
  const gchar *protocol;
} WePublishAttempt;

typedef struct {
  gchar  *stream_id;
  gint    video_bitrate_kbps;
  gint    audio_bitrate_kbps;
  gdouble fps;
} WeTelemetry;

/* Called by the live engine when a publisher connects; TRUE admits it. */
typedef gboolean (*WePublishDecisionFunc) (const WePublishAttempt *attempt,
                                           gpointer                user_data);

#define WE_TYPE_LIVE_ENGINE (we_live_engine_get_type ())
G_DECLARE_INTERFACE (WeLiveEngine, we_live_engine, WE, LIVE_ENGINE, GObject)

struct _WeLiveEngineInterface {
  GTypeInterface parent_iface;

  gboolean (*start_ingest)       (WeLiveEngine         *self,
                                  const WeIngestConfig *config,
                                  GError              **error);
  void     (*set_publish_policy) (WeLiveEngine          *self,
                                  WePublishDecisionFunc  func,
                                  gpointer               user_data,
                                  GDestroyNotify         notify);
  gboolean (*stop_ingest)        (WeLiveEngine *self,
                                  const gchar  *stream_id,
                                  GError      **error);

  /* signal "telemetry" (WeTelemetry *) is emitted at 1 Hz per live stream */
  gpointer padding[12];
};

gboolean we_live_engine_start_ingest       (WeLiveEngine *self, const WeIngestConfig *config,
                                            GError **error);
void     we_live_engine_set_publish_policy (WeLiveEngine *self, WePublishDecisionFunc func,
                                            gpointer user_data, GDestroyNotify notify);
gboolean we_live_engine_stop_ingest        (WeLiveEngine *self, const gchar *stream_id,
                                            GError **error);

G_END_DECLS
