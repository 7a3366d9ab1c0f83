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

/* What the host answers for one publish attempt (see
 * we_live_engine_set_publish_decider()). The engine frees the strings. */
typedef struct {
  gboolean  accept;
  gchar    *stream_id;   /* accepted: the stream's id (names the pipeline and its folder) */
  gchar    *passphrase;  /* SRT only, nullable: 10..79 characters, encrypts the stream */
  gchar    *reason;      /* refused, nullable: for the log */
} WePublishDecision;

/* Decides one attempt (attempt->stream_id is NULL: the engine asks for
 * it). Called on the ingest server's thread, never on the host's main
 * loop, so it may block (a store look-up); keep it to a few hundred ms,
 * the publisher's handshake waits for it. */
typedef void (*WePublishDeciderFunc) (const WePublishAttempt *attempt,
                                      WePublishDecision      *decision,
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

  /* Added with live/gst (optional: the wrappers check for NULL). The
   * listeners belong to the whole engine: start() binds the configured
   * ports (start_ingest() only makes sure they run), stop() ends every
   * stream (EOS, recordings finalized) and closes them. */
  gboolean (*start)                (WeLiveEngine *self,
                                    GError      **error);
  void     (*stop)                 (WeLiveEngine *self);
  void     (*set_publish_decider)  (WeLiveEngine          *self,
                                    WePublishDeciderFunc   func,
                                    gpointer               user_data,
                                    GDestroyNotify         notify);
  /* the bound port of "rtmp" or "srt" (0 before start) */
  guint    (*get_port)             (WeLiveEngine *self,
                                    const gchar  *protocol);

  /* Signals, all emitted on engine threads (never the host's main loop;
   * marshal with g_main_context_invoke()):
   * "stream-started" (stream_id, protocol, remote "host:port")
   * "stream-ended"   (stream_id, reason, recording directory (nullable))
   * "telemetry"      (stream_id, JsonObject: see docs/architecture.md
   *                   "Live pillar"), 1 Hz per live stream */
  gpointer padding[8];
};

gboolean we_live_engine_start_ingest       (WeLiveEngine *self, const WeIngestConfig *config,
                                            GError **error);
void     we_live_engine_set_publish_policy (WeLiveEngine *self, WePublishDecisionFunc func,
                                            gpointer user_data, GDestroyNotify notify);
gboolean we_live_engine_stop_ingest        (WeLiveEngine *self, const gchar *stream_id,
                                            GError **error);
gboolean we_live_engine_start              (WeLiveEngine *self, GError **error);
void     we_live_engine_stop               (WeLiveEngine *self);
void     we_live_engine_set_publish_decider (WeLiveEngine *self, WePublishDeciderFunc func,
                                             gpointer user_data, GDestroyNotify notify);
guint    we_live_engine_get_port           (WeLiveEngine *self, const gchar *protocol);

G_END_DECLS
