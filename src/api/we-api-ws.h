/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The dashboard's WebSocket (GET /v1/ws, docs/api.md "WebSocket"): single-use
 * tickets, per-connection topic subscriptions checked against RBAC, job
 * events fanned out from the scheduler (throttled per job) and a 1 s tick
 * for the dashboard and worker topics. Everything runs on the main loop; the
 * store is read in GTask threads.
 */
#pragma once

#include <libsoup/soup.h>
#include <webencode/webencode.h>

#include "we-api-request.h"
#include "we-api-ws-message.h"

G_BEGIN_DECLS

typedef struct _WeWsHub WeWsHub;

/* @server: (transfer none): outlives the hub (it owns it). */
WeWsHub     *we_ws_hub_new       (WeApiServer *server);
void         we_ws_hub_free      (WeWsHub *hub);
/* Closes every socket (1001 "going away"), e.g. when the daemon stops. */
void         we_ws_hub_close_all (WeWsHub *hub);
/* Answers GET /v1/ws: authenticates (ticket or Authorization), checks the
 * role and upgrades @msg, or answers with the §11 envelope. */
void         we_ws_hub_upgrade   (WeWsHub           *hub,
                                  SoupServerMessage *msg,
                                  GHashTable        *query,
                                  const gchar       *request_id);

/* The server's hub (we-api-server.c). Returns: (transfer none) */
WeWsHub     *we_api_server_get_ws_hub (WeApiServer *server);

/* Adds "resources": {"cpu_pct", "mem_pct"} to a worker entry of the API
 * that has none from its heartbeat: a local worker runs on the kernel's
 * host, whose figures the hub's last tick read (known only while someone
 * follows the dashboard or workers topic, and for 5 s after). */
void         we_ws_hub_add_worker_resources (WeWsHub    *hub,
                                             JsonObject *worker);

/* Sends @publication (the API form, issue 11) to whoever follows
 * job:<job_id> as {"type": "publication", "topic", "data"}: a message type
 * of its own, so clients reading job events as jobs are not confused. */
/* Relays @manager's "event" (core/we-restream.h) to the topic restream:<id>;
 * NULL stops. @manager is referenced. */
void         we_ws_hub_watch_restreams (WeWsHub *hub,
                                        GObject *manager);
void         we_ws_hub_send_publication (WeWsHub    *hub,
                                         JsonObject *publication);

/* POST /v1/ws/ticket */
void         we_api_ws_ticket    (WeApiRequest *request);

G_END_DECLS
