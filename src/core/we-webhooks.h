/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Webhooks (spec §20): the dispatcher. Job transitions (job.created,
 * job.started, job.completed, job.failed) become rows in the store's
 * webhook_deliveries table, one per matching webhook, holding the exact body
 * that will be signed and sent. The store is the durable queue: a poll timer
 * claims due rows with a lease (so in a cluster of kernels sharing PostgreSQL
 * each delivery goes out from one kernel), POSTs them with libsoup and writes
 * the outcome back, retrying with exponential backoff for up to 24 hours.
 *
 * Nothing is published on NATS (the spec's `webhooks.dispatch`): the store
 * row must exist anyway for the delivery log and replays, and a second queue
 * would have to be kept consistent with it; the store alone survives
 * restarts of every kernel and needs no NATS in the embedded mode.
 *
 * Signing secrets are never stored. A registered webhook's secret is
 * HMAC-SHA256(service secret, "webencode webhook secret\n<id>:<salt>") as 64
 * hex digits (the row keeps only the random salt; rotating changes the salt);
 * a per-job webhook (POST /v1/jobs "webhooks") is signed with its owner's
 * secret, the same derivation with subject "user:<user id>"; a webhook may
 * instead name a secrets-backend reference (secret_ref), resolved in a thread
 * at delivery time. The header is
 *   X-WebEncode-Signature: sha256=<hex HMAC-SHA256(key = secret's bytes, raw body)>
 */
#pragma once

#include <webencode/we-secrets.h>

#include "store/we-store.h"
#include "we-content-keys.h"
#include "we-scheduler.h"

G_BEGIN_DECLS

#define WE_WEBHOOKS_MAX_URL         4096
#define WE_WEBHOOKS_MAX_DESCRIPTION 1024
#define WE_WEBHOOKS_MAX_PER_SERVICE 100

#define WE_TYPE_WEBHOOKS (we_webhooks_get_type ())
G_DECLARE_FINAL_TYPE (WeWebhooks, we_webhooks, WE, WEBHOOKS, GObject)

/* @public_url: the API's base, for the outputs' download URLs.
 * Reads WE_WEBHOOK_BACKOFF_BASE_MS (first retry delay, default 1000) and
 * WE_WEBHOOK_RETRY_WINDOW_S (give up after, default 86400) from the
 * environment. */
WeWebhooks  *we_webhooks_new             (WeStore       *store,
                                          WeContentKeys *keys,
                                          const gchar   *kernel_id,
                                          const gchar   *public_url);
/* @secrets: (nullable): resolves webhooks' secret_ref */
void         we_webhooks_set_secrets     (WeWebhooks    *self,
                                          WeSecrets     *secrets);
void         we_webhooks_set_backoff     (WeWebhooks    *self,
                                          guint          base_ms,
                                          guint          window_s);
/* Enqueues the transitions of the jobs @scheduler drives. */
void         we_webhooks_watch_scheduler (WeWebhooks    *self,
                                          WeScheduler   *scheduler);
/* Starts polling the queue; stop cancels attempts in flight (their leases
 * run out and they are retried). */
void         we_webhooks_start           (WeWebhooks    *self);
void         we_webhooks_stop            (WeWebhooks    *self);
/* Polls now (after an API call enqueued something). */
void         we_webhooks_kick            (WeWebhooks    *self);

/* Enqueues @event_type with @data (job_id …) for every enabled webhook that
 * wants it, or for @webhook_id alone (ping). For live events (stream.*). */
void         we_webhooks_emit            (WeWebhooks    *self,
                                          const gchar   *event_type,
                                          const gchar   *job_id,
                                          JsonObject    *data,
                                          const gchar   *webhook_id);

/* --- helpers for the API --- */

/* The secret @webhook is signed with, unless it names a secret_ref.
 * Returns: (transfer full) (nullable): 64 hex digits */
gchar       *we_webhooks_derive_secret   (WeWebhooks      *self,
                                          const WeWebhook *webhook);
/* The secret per-job webhooks of @user_id are signed with.
 * Returns: (transfer full): 64 hex digits */
gchar       *we_webhooks_user_secret     (WeWebhooks      *self,
                                          const gchar     *user_id);
/* Returns: (transfer full): a new random salt, 32 hex digits */
gchar       *we_webhooks_new_salt        (void);
/* Errors: WE_ERROR_JOB_INVALID_REQUEST unless an absolute http(s) URL with a
 * host, at most WE_WEBHOOKS_MAX_URL bytes. */
gboolean     we_webhooks_check_url       (const gchar     *url,
                                          GError         **error);
/* The events a webhook may subscribe to. Returns: (transfer none) */
const gchar * const *we_webhooks_event_types (void);
gboolean     we_webhooks_event_is_known  (const gchar     *event_type);
/* @node: NULL, or an array of known event type strings.
 * Errors: WE_ERROR_JOB_INVALID_REQUEST. Returns: (transfer full) (nullable):
 * NULL for "every event" */
gchar      **we_webhooks_parse_events    (JsonNode        *node,
                                          GError         **error);
/* "sha256=<hex>" of @body under @key. Returns: (transfer full) */
gchar       *we_webhooks_sign            (const guint8    *key,
                                          gsize            key_len,
                                          const gchar     *body,
                                          gsize            body_len);
/* A new delivery of @payload (the exact body) to @webhook_id.
 * Returns: (transfer full) */
WeWebhookDelivery *we_webhooks_delivery_new (const gchar *webhook_id,
                                             const gchar *event_id,
                                             const gchar *event_type,
                                             const gchar *payload);
/* The §20.3 body. Returns: (transfer full) */
gchar       *we_webhooks_build_payload   (const gchar     *event_id,
                                          const gchar     *event_type,
                                          gint64           timestamp_us,
                                          JsonObject      *data);

G_END_DECLS
