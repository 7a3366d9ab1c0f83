/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * What the kernel's NATS queue and the worker's NATS transport share: the
 * subject layout of spec §5 as we use it, a bridge that carries messages
 * from nats.c's own threads to a GMainContext, blocking connection set-up
 * (for worker threads) and requests that complete on the main loop.
 *
 * nats.c calls back on its own threads. Nothing here lets such a callback
 * touch main-loop state: every message is copied and handed over with an
 * idle source attached to that context (never run in place), and delivered
 * only while its target object is still alive (a weak reference decides).
 */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <nats/nats.h>

G_BEGIN_DECLS

/* Streams (created by the kernel, idempotently). */
#define WE_NATS_STREAM_WORK   "WEBENCODE_WORK"
#define WE_NATS_STREAM_EVENTS "WEBENCODE_EVENTS"
#define WE_NATS_STREAM_LIVE   "WEBENCODE_LIVE"

/* Subjects; <…> parts are subject tokens made with we_nats_token(). */
#define WE_NATS_DISPATCH_PREFIX  "jobs.dispatch."     /* + route */
#define WE_NATS_EVENTS_PREFIX    "jobs.events."       /* + job.task */
#define WE_NATS_CLAIM_PREFIX     "jobs.claim."        /* + task */
#define WE_NATS_HEARTBEAT_PREFIX "workers.heartbeat." /* + worker */
#define WE_NATS_CONTROL_PREFIX   "workers.control."   /* + worker */
#define WE_NATS_AUDIT_SYSTEM     "audit.system"
#define WE_NATS_AUDIT_USER       "audit.user_action"

/* The route every worker pulls from: tasks that need no particular codec. */
#define WE_NATS_ROUTE_ANY "any"

/* A message copied off a nats.c thread. */
typedef struct {
  gchar   *subject;
  gchar   *reply;          /* nullable */
  GBytes  *data;
  gboolean no_responders;  /* the server's 503 answer to a request */
  guint64  delivered;      /* JetStream: deliveries so far, 1 the first time */
  guint64  stream_seq;     /* JetStream: the message's sequence in its stream */
  gint64   ack_wait_ms;    /* JetStream: the consumer's AckWait */
  gchar   *route;          /* JetStream: which route it was pulled from */
} WeNatsMsg;

void        we_nats_msg_free  (WeNatsMsg *msg);
/* Returns: (transfer full) (nullable): the payload as a JSON object, within
 * the worker protocol's size limit */
JsonObject *we_nats_msg_parse (WeNatsMsg *msg,
                               GError   **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeNatsMsg, we_nats_msg_free)

/* Called on the bridge's main context with the still-alive target. */
typedef void (*WeNatsHandler) (GObject   *target,
                               WeNatsMsg *msg);

typedef struct _WeNatsBridge WeNatsBridge;

WeNatsBridge *we_nats_bridge_new   (GObject      *target,
                                    GMainContext *context);
WeNatsBridge *we_nats_bridge_ref   (WeNatsBridge *bridge);
void          we_nats_bridge_unref (WeNatsBridge *bridge);
/* Thread-safe. @msg: (transfer full) */
void          we_nats_bridge_post  (WeNatsBridge *bridge,
                                    WeNatsHandler handler,
                                    WeNatsMsg    *msg);

typedef void (*WeNatsCall) (GObject *target,
                            gpointer data);
/* Thread-safe: runs @func on the bridge's context if the target is still
 * alive; @notify frees @data either way. */
void          we_nats_bridge_call  (WeNatsBridge  *bridge,
                                    WeNatsCall     func,
                                    gpointer       data,
                                    GDestroyNotify notify);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeNatsBridge, we_nats_bridge_unref)

/* An asynchronous subscription whose messages reach @handler on the
 * bridge's context. Returns: (nullable) */
natsSubscription *we_nats_subscribe   (natsConnection *nc,
                                       const gchar    *subject,
                                       WeNatsBridge   *bridge,
                                       WeNatsHandler   handler,
                                       GError        **error);
/* Removes the interest and frees the subscription; late messages already
 * handed over are dropped by the weak reference, not delivered. */
void              we_nats_unsubscribe (natsSubscription *sub);

/* Blocking: call from a worker thread. @url may list several servers,
 * comma-separated. Reconnects forever once connected. */
natsConnection   *we_nats_connect     (const gchar *url,
                                       const gchar *name,
                                       GError     **error);

/* Sets @error (WE_ERROR_SYS_QUEUE) from a nats.c status. Returns FALSE. */
gboolean          we_nats_set_error   (GError     **error,
                                       natsStatus   status,
                                       const gchar *what);

/* @s as one subject token: '.', '*', '>' and whitespace become '_'. */
gchar            *we_nats_token       (const gchar *s);
/* @url without user information, for logs. */
gchar            *we_nats_redact_url  (const gchar *url);

/* The codec an entry of a worker's "hw_encoders" capability stands for:
 * entries may be codec names ("h264"), GStreamer element names
 * ("nvh264enc", "vah265enc") or objects with a "codec" member.
 * Returns: (transfer full) (nullable) */
gchar            *we_nats_hw_encoder_codec (JsonNode *entry);

/* The routes a worker with these capabilities pulls from: "any", each of
 * its video codecs, and "<codec>.hw" for its hardware encoders.
 * Returns: (transfer full) (element-type utf8) */
GPtrArray        *we_nats_routes_for_capabilities (JsonObject *caps);

gboolean          we_nats_publish_json (natsConnection *nc,
                                        const gchar    *subject,
                                        const gchar    *reply,
                                        JsonObject     *object,
                                        GError        **error);

/* ---- requests ---------------------------------------------------------- */

#define WE_TYPE_NATS_REQUESTER (we_nats_requester_get_type ())
G_DECLARE_FINAL_TYPE (WeNatsRequester, we_nats_requester, WE, NATS_REQUESTER, GObject)

/* Requests whose replies arrive on the calling thread's default main
 * context, over one inbox subscription, without blocking anything. */
WeNatsRequester *we_nats_requester_new    (natsConnection *nc,
                                           GError        **error);
/* Fails every pending request with G_IO_ERROR_CANCELLED and unsubscribes;
 * needed before the last unref, since pending requests hold a reference. */
void             we_nats_requester_close  (WeNatsRequester *self);
void             we_nats_request_async    (WeNatsRequester    *self,
                                           const gchar        *subject,
                                           JsonObject         *payload,
                                           guint               timeout_ms,
                                           GAsyncReadyCallback callback,
                                           gpointer            user_data);
/* Returns: (transfer full) (nullable): the reply object; G_IO_ERROR_TIMED_OUT
 * when nobody answered in time, WE_ERROR_SYS_UNAVAILABLE when nobody listens
 * on the subject at all. */
JsonObject      *we_nats_request_finish   (WeNatsRequester *self,
                                           GAsyncResult    *result,
                                           GError         **error);

G_END_DECLS
