/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Live ingest in cluster mode (issue 10; docs/architecture.md "Live ingest
 * in cluster mode"): the live messages of common/we-worker-protocol.h over
 * NATS instead of a pipe, between `webencode-worker --live --nats URL` and
 * every kernel of the cluster.
 *
 *   livectl.decide              request/reply, queue group: a publish_attempt;
 *                               one kernel answers with its publish_decision
 *   livectl.lifecycle           request/reply, queue group: stream_started /
 *                               stream_ended, retried by the worker until one
 *                               kernel has taken it (store, webhooks, archive)
 *   live.events.<stream>        the same lifecycle messages to every kernel
 *                               (its state and its WebSocket clients)
 *   live.telemetry.<stream>     the 1 Hz samples, to every kernel
 *   live.workers.<worker>       the live worker's heartbeat: its ports and
 *                               the streams it holds (a starting kernel
 *                               learns what is live from it; its silence
 *                               ends those streams)
 *   livectl.control.<worker>    kernel → the worker holding a stream:
 *                               stop_stream, recording …
 *   livectl.kernel.<kernel>     kernel presence: the lowest live kernel id
 *                               ends a silent worker's sessions in the store
 *
 * Requests live outside live.>: the WEBENCODE_LIVE JetStream stream captures
 * live.> and would answer a request with its PubAck. Lifecycle and heartbeat
 * messages of one worker go out in order on one connection, and a kernel
 * takes everything under live.> through one subscription, so it sees them in
 * the order they were sent.
 */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

#define WE_LIVE_NATS_DECIDE      "livectl.decide"
#define WE_LIVE_NATS_LIFECYCLE   "livectl.lifecycle"
#define WE_LIVE_NATS_CONTROL     "livectl.control."   /* + worker */
#define WE_LIVE_NATS_KERNEL      "livectl.kernel."    /* + kernel */
#define WE_LIVE_NATS_EVENTS      "live.events."       /* + stream */
#define WE_LIVE_NATS_TELEMETRY   "live.telemetry."    /* + stream */
#define WE_LIVE_NATS_WORKERS     "live.workers."      /* + worker */
#define WE_LIVE_NATS_QUEUE_GROUP "webencode-live-kernels"

/* ---- the live worker's side ------------------------------------------- */

typedef struct _WeLiveNatsWorker WeLiveNatsWorker;

/* Connects (blocking: call before the main loop runs) and starts the
 * threads that carry the live worker's lines to NATS and back. */
WeLiveNatsWorker *we_live_nats_worker_new        (const gchar *url,
                                                  const gchar *worker_id,
                                                  guint        heartbeat_ms,
                                                  GError     **error);
/* What the live worker reads (kernel → worker lines) and writes. */
GInputStream     *we_live_nats_worker_get_input  (WeLiveNatsWorker *self);
GOutputStream    *we_live_nats_worker_get_output (WeLiveNatsWorker *self);
/* Hands @msg to the live worker as if a kernel had sent it (configure). */
void              we_live_nats_worker_inject     (WeLiveNatsWorker *self,
                                                  JsonObject       *msg);
/* After the live worker returned: sends what it said last (stream_ended
 * of every stream, for a few seconds at most), then disconnects. */
void              we_live_nats_worker_free       (WeLiveNatsWorker *self);

/* ---- the kernel's side ------------------------------------------------ */

/* A live worker's message for the kernel, on the main loop. @effects: this
 * kernel is the one to write the store and fire webhooks for it (the
 * lifecycle queue, or the leader for a dead worker); otherwise it only
 * updates its own state and its WebSocket clients. publish_attempt carries
 * an "id" to answer with we_live_nats_send(). */
typedef void (*WeLiveNatsDispatch) (JsonObject *msg,
                                    gboolean    effects,
                                    gpointer    user_data);

#define WE_TYPE_LIVE_NATS (we_live_nats_get_type ())
G_DECLARE_FINAL_TYPE (WeLiveNats, we_live_nats, WE, LIVE_NATS, GObject)

/* @offline_ms: a live worker silent that long is gone (its streams end). */
WeLiveNats *we_live_nats_new        (const gchar        *url,
                                     const gchar        *kernel_id,
                                     guint               offline_ms,
                                     WeLiveNatsDispatch  dispatch,
                                     gpointer            user_data);
/* Connects in a thread (retrying) and subscribes on the main loop. */
void        we_live_nats_start      (WeLiveNats *self);
void        we_live_nats_stop       (WeLiveNats *self);
/* A kernel → worker message: publish_decision answers its request; one
 * naming a "stream_id" goes to the worker holding that stream. FALSE when
 * it cannot be delivered (no such worker). */
gboolean    we_live_nats_send       (WeLiveNats *self,
                                     JsonObject *msg);
/* Whether a live worker has been heard from within offline_ms. */
gboolean    we_live_nats_has_worker (WeLiveNats *self);
/* A live worker's bound port (0 without one). */
guint       we_live_nats_get_port   (WeLiveNats  *self,
                                     const gchar *protocol);

G_END_DECLS
