/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"
#include "we-webhooks.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>
#include <libsoup/soup.h>
#include <webencode/we-error.h>

#include "common/we-job.h"
#include "common/we-json.h"
#include "common/we-log.h"

/* An attempt that takes longer is a failure; the lease is well above it, so
 * no other kernel (nor this one) claims a delivery while it is in flight. */
#define HTTP_TIMEOUT_S    10
#define LEASE_US          (60 * G_USEC_PER_SEC)
#define POLL_INTERVAL_MS  1000
#define CLAIM_LIMIT       32
#define MAX_DELAY_MS      (3600 * 1000)   /* never more than an hour between tries */
#define MAX_LOG_ENTRIES   50               /* per delivery; the oldest go first */

static const gchar *const event_types[] = {
  "job.created", "job.started", "job.completed", "job.failed",
  "stream.started", "stream.ended", "recording.ready", "publish.completed", "publish.failed",
  "ping", NULL,
};

struct _WeWebhooks {
  GObject        parent_instance;
  WeStore       *store;
  WeContentKeys *keys;
  WeSecrets     *secrets;       /* nullable */
  gchar         *kernel_id;
  gchar         *public_url;
  guint          backoff_base_ms;
  gint64         window_us;
  WeScheduler   *scheduler;     /* nullable, weak through the handler */
  gulong         transition_id;
  SoupSession   *session;
  GCancellable  *cancellable;
  guint          poll_source;
  guint          kick_source;
  gboolean       polling;
  gboolean       poll_again;
  gboolean       running;
  /* webhook id → GQueue of Attempt waiting behind the one in flight, so the
   * events of one webhook leave in the order they happened */
  GHashTable    *busy;
};

G_DEFINE_TYPE (WeWebhooks, we_webhooks, G_TYPE_OBJECT)

/* --- helpers --------------------------------------------------------------- */

const gchar * const *
we_webhooks_event_types (void)
{
  return (const gchar * const *) event_types;
}

gboolean
we_webhooks_event_is_known (const gchar *event_type)
{
  return event_type != NULL && g_strv_contains (event_types, event_type);
}

gchar **
we_webhooks_parse_events (JsonNode *node, GError **error)
{
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  JsonArray *array;
  guint n;

  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return NULL;
  if (!JSON_NODE_HOLDS_ARRAY (node)) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                         "\"events\" must be an array of event types");
    return NULL;
  }
  array = json_node_get_array (node);
  n = json_array_get_length (array);
  if (n > G_N_ELEMENTS (event_types)) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST, "too many \"events\"");
    return NULL;
  }
  for (guint i = 0; i < n; i++) {
    JsonNode *el = json_array_get_element (array, i);
    const gchar *ev;

    if (!JSON_NODE_HOLDS_VALUE (el) || json_node_get_value_type (el) != G_TYPE_STRING) {
      g_set_error_literal (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                           "\"events\" must be an array of event types");
      return NULL;
    }
    ev = json_node_get_string (el);
    if (!we_webhooks_event_is_known (ev) || g_str_equal (ev, "ping")) {
      g_autofree gchar *known = g_strjoinv (", ", (gchar **) event_types);
      g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                   "unknown event type \"%.64s\" (one of %s)", ev, known);
      return NULL;
    }
    g_strv_builder_add (builder, ev);
  }
  if (n == 0)
    return NULL; /* every event */
  return g_strv_builder_end (builder);
}

gboolean
we_webhooks_check_url (const gchar *url, GError **error)
{
  g_autoptr(GUri) uri = NULL;
  const gchar *scheme;

  if (url == NULL || strlen (url) > WE_WEBHOOKS_MAX_URL) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                         "a webhook URL is required (at most 4096 bytes)");
    return FALSE;
  }
  uri = g_uri_parse (url, G_URI_FLAGS_NONE, NULL);
  scheme = uri != NULL ? g_uri_get_scheme (uri) : NULL;
  /* other schemes (file:, ftp:, unix sockets …) are refused here, so the
   * dispatcher only ever speaks HTTP */
  if (uri == NULL || scheme == NULL ||
      (g_ascii_strcasecmp (scheme, "http") != 0 && g_ascii_strcasecmp (scheme, "https") != 0) ||
      g_uri_get_host (uri) == NULL || *g_uri_get_host (uri) == '\0' ||
      g_uri_get_userinfo (uri) != NULL) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                 "webhook \"%.200s\" is not an http(s) URL with a host (and no credentials)",
                 url);
    return FALSE;
  }
  return TRUE;
}

static gchar *
hex_of (const guint8 *data, gsize len)
{
  GString *s = g_string_sized_new (len * 2);

  for (gsize i = 0; i < len; i++)
    g_string_append_printf (s, "%02x", data[i]);
  return g_string_free (s, FALSE);
}

gchar *
we_webhooks_new_salt (void)
{
  guint8 salt[16];
  gsize got = 0;

  /* the kernel's CSPRNG: a rotated secret must not be guessable from the
   * old one even by someone who learnt the old salt */
  while (got < sizeof salt) {
    gssize n = getrandom (salt + got, sizeof salt - got, 0);

    if (n > 0)
      got += (gsize) n;
    else if (n < 0 && errno != EINTR)
      g_error ("getrandom failed: %s", g_strerror (errno));
  }
  return hex_of (salt, sizeof salt);
}

gchar *
we_webhooks_derive_secret (WeWebhooks *self, const WeWebhook *webhook)
{
  g_autofree gchar *subject = NULL;
  guint8 out[32];
  gchar *hex;

  g_return_val_if_fail (WE_IS_WEBHOOKS (self), NULL);
  if (webhook->secret_ref != NULL)
    return NULL;
  if (webhook->secret_salt == NULL)
    return we_webhooks_user_secret (self, webhook->user_id);
  subject = g_strdup_printf ("%s:%s", webhook->id, webhook->secret_salt);
  we_content_keys_derive_for (self->keys, "webhook secret", subject, out);
  hex = hex_of (out, sizeof out);
  memset (out, 0, sizeof out);
  return hex;
}

gchar *
we_webhooks_user_secret (WeWebhooks *self, const gchar *user_id)
{
  g_autofree gchar *subject = g_strdup_printf ("user:%s", user_id != NULL ? user_id : "");
  guint8 out[32];
  gchar *hex;

  we_content_keys_derive_for (self->keys, "webhook secret", subject, out);
  hex = hex_of (out, sizeof out);
  memset (out, 0, sizeof out);
  return hex;
}

gchar *
we_webhooks_sign (const guint8 *key, gsize key_len, const gchar *body, gsize body_len)
{
  g_autoptr(GHmac) hmac = g_hmac_new (G_CHECKSUM_SHA256, key, key_len);

  g_hmac_update (hmac, (const guchar *) body, body_len);
  return g_strconcat ("sha256=", g_hmac_get_string (hmac), NULL);
}

gchar *
we_webhooks_build_payload (const gchar *event_id, const gchar *event_type, gint64 timestamp_us,
                           JsonObject *data)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();
  g_autoptr(JsonGenerator) gen = json_generator_new ();
  g_autoptr(JsonNode) root = NULL;
  g_autoptr(GDateTime) dt = g_date_time_new_from_unix_utc (timestamp_us / G_USEC_PER_SEC);
  g_autofree gchar *stamp = g_date_time_format (dt, "%Y-%m-%dT%H:%M:%SZ");

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "event_id");
  json_builder_add_string_value (b, event_id);
  json_builder_set_member_name (b, "event_type");
  json_builder_add_string_value (b, event_type);
  json_builder_set_member_name (b, "timestamp");
  json_builder_add_string_value (b, stamp);
  json_builder_set_member_name (b, "data");
  if (data != NULL)
    json_builder_add_value (b, json_node_init_object (json_node_alloc (), data));
  else
    json_builder_add_null_value (b);
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  json_generator_set_root (gen, root);
  return json_generator_to_data (gen, NULL);
}

WeWebhookDelivery *
we_webhooks_delivery_new (const gchar *webhook_id, const gchar *event_id,
                          const gchar *event_type, const gchar *payload)
{
  WeWebhookDelivery *d = we_webhook_delivery_new ();

  d->id = we_uuid_new ();
  d->webhook_id = g_strdup (webhook_id);
  d->event_id = g_strdup (event_id);
  d->event_type = g_strdup (event_type);
  d->payload = g_strdup (payload);
  d->state = WE_DELIVERY_PENDING;
  d->created_at = d->updated_at = d->next_attempt_at = g_get_real_time ();
  d->log = json_array_new ();
  return d;
}

/* --- enqueueing (on the store's thread) -------------------------------------- */

typedef struct {
  gchar      *event_id;
  gchar      *event_type;
  gint64      timestamp;
  gchar      *job_id;       /* nullable */
  gchar      *user_id;      /* the job's owner, for per-job webhooks */
  JsonObject *data;
  JsonArray  *job_hooks;    /* nullable: per-job webhooks to create first */
  gboolean    want_outputs;
  gchar      *public_url;
  gchar      *only_hook;    /* nullable: ping */
} Enqueue;

static void
enqueue_free (Enqueue *e)
{
  g_free (e->event_id);
  g_free (e->event_type);
  g_free (e->job_id);
  g_free (e->user_id);
  g_clear_pointer (&e->data, json_object_unref);
  g_clear_pointer (&e->job_hooks, json_array_unref);
  g_free (e->public_url);
  g_free (e->only_hook);
  g_free (e);
}

static gboolean
hook_wants (const WeWebhook *hook, const gchar *event_type, const gchar *job_id)
{
  if (!hook->enabled)
    return FALSE;
  if (hook->job_id != NULL && g_strcmp0 (hook->job_id, job_id) != 0)
    return FALSE;
  return hook->events == NULL || hook->events[0] == NULL ||
         g_strv_contains ((const gchar * const *) hook->events, event_type);
}

static void
create_job_hooks (WeStore *store, Enqueue *e)
{
  for (guint i = 0; i < json_array_get_length (e->job_hooks); i++) {
    JsonNode *el = json_array_get_element (e->job_hooks, i);
    g_autoptr(WeWebhook) hook = we_webhook_new ();
    g_autoptr(GError) error = NULL;

    hook->id = we_uuid_new ();
    hook->job_id = g_strdup (e->job_id);
    hook->user_id = g_strdup (e->user_id);
    hook->created_at = hook->updated_at = g_get_real_time ();
    /* older jobs hold plain URLs, newer ones {url, events} */
    if (JSON_NODE_HOLDS_VALUE (el) && json_node_get_value_type (el) == G_TYPE_STRING) {
      hook->url = g_strdup (json_node_get_string (el));
    } else if (JSON_NODE_HOLDS_OBJECT (el)) {
      JsonObject *o = json_node_get_object (el);
      hook->url = g_strdup (json_object_get_string_member_with_default (o, "url", NULL));
      hook->events = we_webhooks_parse_events (json_object_get_member (o, "events"), NULL);
    }
    if (hook->url == NULL)
      continue;
    hook->description = g_strdup_printf ("job %s", e->job_id);
    if (!we_store_webhook_put (store, hook, &error))
      we_log (G_LOG_LEVEL_WARNING, e->job_id, "WE-SYS-002", "storing a per-job webhook: %s",
              error->message);
  }
}

static void
add_outputs (WeStore *store, Enqueue *e)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) outputs = we_store_output_list (store, e->job_id, &error);
  JsonArray *array = json_array_new ();

  for (guint i = 0; outputs != NULL && i < outputs->len; i++) {
    WeJobOutput *out = g_ptr_array_index (outputs, i);
    JsonObject *o = json_object_new ();
    g_autofree gchar *escaped = g_uri_escape_string (out->name, "/", FALSE);
    g_autofree gchar *url = g_strdup_printf ("%s/v1/jobs/%s/outputs/%s", e->public_url,
                                             e->job_id, escaped);
    const gchar *dot = strrchr (out->name, '.');
    g_autofree gchar *format = dot != NULL ? g_ascii_strdown (dot + 1, -1) : NULL;

    json_object_set_string_member (o, "url", url);
    json_object_set_string_member (o, "name", out->name);
    json_object_set_string_member (o, "type", out->type);
    if (format != NULL)
      json_object_set_string_member (o, "format", format);
    else
      json_object_set_null_member (o, "format");
    json_object_set_int_member (o, "size_bytes", out->size_bytes);
    json_array_add_object_element (array, o);
  }
  if (outputs == NULL)
    we_log (G_LOG_LEVEL_WARNING, e->job_id, "WE-SYS-002", "listing outputs for a webhook: %s",
            error->message);
  json_object_set_array_member (e->data, "outputs", array);
}

static gpointer
enqueue_thread (WeStore *store, gpointer data, GError **error)
{
  Enqueue *e = data;
  g_autoptr(GPtrArray) hooks = NULL;
  g_autofree gchar *payload = NULL;

  if (e->job_hooks != NULL)
    create_job_hooks (store, e);
  if (e->want_outputs)
    add_outputs (store, e);
  if (e->only_hook != NULL) {
    WeWebhook *hook = we_store_webhook_get (store, e->only_hook, error);
    if (hook == NULL)
      return NULL;
    hooks = g_ptr_array_new_with_free_func ((GDestroyNotify) we_webhook_free);
    g_ptr_array_add (hooks, hook);
  } else {
    hooks = we_store_webhook_list (store, NULL, error);
    if (hooks == NULL)
      return NULL;
  }
  payload = we_webhooks_build_payload (e->event_id, e->event_type, e->timestamp, e->data);
  for (guint i = 0; i < hooks->len; i++) {
    WeWebhook *hook = g_ptr_array_index (hooks, i);
    g_autoptr(WeWebhookDelivery) d = NULL;

    if (e->only_hook == NULL && !hook_wants (hook, e->event_type, e->job_id))
      continue;
    d = we_webhooks_delivery_new (hook->id, e->event_id, e->event_type, payload);
    if (!we_store_delivery_add (store, d, error))
      return NULL;
  }
  return NULL;
}

static void
enqueued_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(WeWebhooks) self = user_data;
  g_autoptr(GError) error = NULL;

  we_store_call_finish (WE_STORE (source), result, &error);
  if (error != NULL) {
    we_log (G_LOG_LEVEL_WARNING, NULL, "WE-SYS-002", "enqueueing webhook deliveries: %s",
            error->message);
    return;
  }
  we_webhooks_kick (self);
}

static void
submit_enqueue (WeWebhooks *self, Enqueue *e)
{
  e->public_url = g_strdup (self->public_url);
  we_store_call_async (self->store, enqueue_thread, e, (GDestroyNotify) enqueue_free, NULL,
                       NULL, enqueued_cb, g_object_ref (self));
}

void
we_webhooks_emit (WeWebhooks *self, const gchar *event_type, const gchar *job_id,
                  JsonObject *data, const gchar *webhook_id)
{
  Enqueue *e = g_new0 (Enqueue, 1);

  g_return_if_fail (WE_IS_WEBHOOKS (self));
  e->event_id = we_uuid_new ();
  e->event_type = g_strdup (event_type);
  e->timestamp = g_get_real_time ();
  e->job_id = g_strdup (job_id);
  e->data = data != NULL ? json_object_ref (data) : json_object_new ();
  e->only_hook = g_strdup (webhook_id);
  submit_enqueue (self, e);
}

static void
job_transition_cb (WeScheduler *scheduler, WeJob *job, const gchar *event_type,
                   gpointer user_data)
{
  WeWebhooks *self = user_data;
  Enqueue *e = g_new0 (Enqueue, 1);

  e->event_id = we_uuid_new ();
  e->event_type = g_strdup (event_type);
  e->timestamp = g_get_real_time ();
  e->job_id = g_strdup (job->id);
  e->user_id = g_strdup (job->user_id);
  e->data = json_object_new ();
  json_object_set_string_member (e->data, "job_id", job->id);
  if (job->user_id != NULL)
    json_object_set_string_member (e->data, "user_id", job->user_id);
  else
    json_object_set_null_member (e->data, "user_id");
  json_object_set_string_member (e->data, "status", we_job_status_to_string (job->status));
  if (job->profile_id != NULL)
    json_object_set_string_member (e->data, "profile_id", job->profile_id);
  if (g_str_equal (event_type, "job.created") && job->output_config != NULL) {
    JsonArray *hooks = we_json_get_array (job->output_config, "webhooks");
    if (hooks != NULL && json_array_get_length (hooks) > 0)
      e->job_hooks = json_array_ref (hooks);
  }
  if (g_str_equal (event_type, "job.completed"))
    e->want_outputs = TRUE;
  if (g_str_equal (event_type, "job.failed")) {
    JsonObject *err = json_object_new ();
    json_object_set_string_member (err, "code", job->error_code ? job->error_code : "WE-JOB-008");
    json_object_set_string_member (err, "message",
                                   job->error_message ? job->error_message : "job failed");
    json_object_set_object_member (e->data, "error", err);
  }
  submit_enqueue (self, e);
}

/* --- delivering ------------------------------------------------------------ */

typedef struct {
  WeWebhooks        *self;
  WeWebhookDelivery *delivery;
  WeWebhook         *hook;      /* NULL when it was deleted */
  GBytes            *key;       /* the signing key */
  gint64             started;   /* monotonic µs */
  gchar             *key_error; /* why no key could be had */
} Attempt;

static void
attempt_free (Attempt *a)
{
  g_object_unref (a->self);
  we_webhook_delivery_free (a->delivery);
  we_webhook_free (a->hook);
  g_clear_pointer (&a->key, g_bytes_unref);
  g_free (a->key_error);
  g_free (a);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Attempt, attempt_free)

static void attempt_start (Attempt *a);
static void schedule_kick (WeWebhooks *self, guint delay_ms);

static gint64
backoff_us (WeWebhooks *self, gint attempts)
{
  gdouble delay = (gdouble) self->backoff_base_ms;

  for (gint i = 1; i < attempts && delay < MAX_DELAY_MS; i++)
    delay *= 2;
  delay = MIN (delay, MAX_DELAY_MS);
  /* up to 20 % more, so receivers that come back are not hit by every
   * kernel's retries at the same instant */
  delay *= 1.0 + g_random_double_range (0, 0.2);
  return (gint64) (delay * 1000);
}

static void
attempt_written_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(WeWebhooks) self = user_data;
  g_autoptr(GError) error = NULL;

  we_store_call_finish (WE_STORE (source), result, &error);
  if (error != NULL)
    we_log (G_LOG_LEVEL_WARNING, NULL, "WE-SYS-002", "recording a webhook delivery: %s",
            error->message);
}

static gpointer
update_thread (WeStore *store, gpointer data, GError **error)
{
  we_store_delivery_update (store, data, error);
  return NULL;
}

/* Starts the next attempt waiting for the same webhook, if any. */
static void
next_for_hook (WeWebhooks *self, const gchar *webhook_id)
{
  GQueue *queue = g_hash_table_lookup (self->busy, webhook_id);
  Attempt *next;

  if (queue == NULL)
    return;
  next = g_queue_pop_head (queue);
  if (next == NULL) {
    g_hash_table_remove (self->busy, webhook_id);
    return;
  }
  attempt_start (next);
}

static void
attempt_done (Attempt *a_in, guint status, const gchar *error_message)
{
  g_autoptr(Attempt) a = a_in;
  WeWebhooks *self = a->self;
  WeWebhookDelivery *d = a->delivery;
  JsonObject *entry = json_object_new ();
  gint64 now = g_get_real_time ();
  g_autofree gchar *at = we_time_format (now);
  g_autofree gchar *webhook_id = g_strdup (d->webhook_id);
  gboolean ok = status >= 200 && status < 300;

  if (g_cancellable_is_cancelled (self->cancellable)) {
    /* stopping: the lease runs out and the next start retries it */
    g_hash_table_remove (self->busy, webhook_id);
    return;
  }
  d->attempts++;
  json_object_set_int_member (entry, "attempt", d->attempts);
  json_object_set_string_member (entry, "at", at);
  json_object_set_int_member (entry, "status", status);
  if (error_message != NULL)
    json_object_set_string_member (entry, "error", error_message);
  else
    json_object_set_null_member (entry, "error");
  json_object_set_int_member (entry, "duration_ms",
                              (g_get_monotonic_time () - a->started) / 1000);
  json_object_set_string_member (entry, "kernel", self->kernel_id);
  if (d->log == NULL)
    d->log = json_array_new ();
  json_array_add_object_element (d->log, entry);
  while (json_array_get_length (d->log) > MAX_LOG_ENTRIES)
    json_array_remove_element (d->log, 0);

  d->last_status = (gint) status;
  g_free (d->last_error);
  d->last_error = g_strdup (error_message);
  d->updated_at = now;
  d->claim_until = 0;
  if (ok) {
    d->state = WE_DELIVERY_SUCCEEDED;
    d->delivered_at = now;
    we_log (G_LOG_LEVEL_INFO, NULL, NULL, "webhook %s: %s delivered (%s, attempt %d, HTTP %u)",
            d->webhook_id, d->event_type, d->id, d->attempts, status);
  } else {
    gint64 delay = backoff_us (self, d->attempts);

    /* a deleted or disabled webhook wants nothing more */
    if (a->hook == NULL || !a->hook->enabled || now + delay > d->created_at + self->window_us) {
      d->state = WE_DELIVERY_FAILED;
      we_log (G_LOG_LEVEL_WARNING, NULL, NULL,
              "webhook %s: giving up on %s (%s) after %d attempts: %s", d->webhook_id,
              d->event_type, d->id, d->attempts, error_message ? error_message : "");
    } else {
      d->state = WE_DELIVERY_PENDING;
      d->next_attempt_at = now + delay;
      we_log (G_LOG_LEVEL_INFO, NULL, NULL,
              "webhook %s: %s (%s) attempt %d failed (%s), next in %" G_GINT64_FORMAT " ms",
              d->webhook_id, d->event_type, d->id, d->attempts,
              error_message ? error_message : "", delay / 1000);
      schedule_kick (self, (guint) MIN (delay / 1000 + 1, G_MAXUINT));
    }
  }
  g_clear_pointer (&d->claimed_by, g_free);
  we_store_call_async (self->store, update_thread, we_webhook_delivery_copy (d),
                       (GDestroyNotify) we_webhook_delivery_free, NULL, NULL,
                       attempt_written_cb, g_object_ref (self));
  next_for_hook (self, webhook_id);
}

static void
sent_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Attempt *a = user_data;
  SoupMessage *msg = soup_session_get_async_result_message (SOUP_SESSION (source), result);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) body = soup_session_send_and_read_finish (SOUP_SESSION (source), result,
                                                               &error);
  guint status = msg != NULL ? soup_message_get_status (msg) : 0;
  g_autofree gchar *message = NULL;

  if (body == NULL) {
    message = g_strdup (error->message);
    status = 0;
  } else if (status < 200 || status >= 300) {
    message = g_strdup_printf ("HTTP %u %s", status,
                               msg != NULL && soup_message_get_reason_phrase (msg) != NULL
                                   ? soup_message_get_reason_phrase (msg) : "");
  }
  attempt_done (a, status, message);
}

static void
attempt_send (Attempt *a)
{
  WeWebhooks *self = a->self;
  WeWebhookDelivery *d = a->delivery;
  g_autoptr(SoupMessage) msg = NULL;
  g_autoptr(GBytes) body = NULL;
  g_autofree gchar *signature = NULL;
  g_autofree gchar *stamp = NULL;
  SoupMessageHeaders *headers;
  gsize key_len;
  const guint8 *key;

  msg = soup_message_new ("POST", a->hook->url);
  if (msg == NULL) {
    attempt_done (a, 0, "invalid URL");
    return;
  }
  soup_message_add_flags (msg, SOUP_MESSAGE_NO_REDIRECT);
  body = g_bytes_new (d->payload, strlen (d->payload));
  soup_message_set_request_body_from_bytes (msg, "application/json", body);
  key = g_bytes_get_data (a->key, &key_len);
  signature = we_webhooks_sign (key, key_len, d->payload, strlen (d->payload));
  stamp = g_strdup_printf ("%" G_GINT64_FORMAT, g_get_real_time () / G_USEC_PER_SEC);
  headers = soup_message_get_request_headers (msg);
  soup_message_headers_replace (headers, "X-WebEncode-Signature", signature);
  soup_message_headers_replace (headers, "X-WebEncode-Event", d->event_type);
  soup_message_headers_replace (headers, "X-WebEncode-Delivery", d->id);
  soup_message_headers_replace (headers, "X-WebEncode-Event-Id", d->event_id);
  soup_message_headers_replace (headers, "X-WebEncode-Timestamp", stamp);
  a->started = g_get_monotonic_time ();
  soup_session_send_and_read_async (self->session, msg, G_PRIORITY_DEFAULT, self->cancellable,
                                    sent_cb, a);
}

static void
key_resolved_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Attempt *a = user_data;
  g_autoptr(GError) error = NULL;
  GBytes *key = g_task_propagate_pointer (G_TASK (result), &error);

  if (key == NULL) {
    /* the reference, never a secret, may appear in the log */
    g_autofree gchar *message = g_strdup_printf ("cannot resolve secret_ref: %s",
                                                 error->message);
    attempt_done (a, 0, message);
    return;
  }
  a->key = key;
  attempt_send (a);
}

static void
resolve_key_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  Attempt *a = task_data;
  GError *error = NULL;
  GBytes *key = we_secrets_lookup (a->self->secrets, a->hook->secret_ref, cancellable, &error);

  if (key == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, key, (GDestroyNotify) g_bytes_unref);
}

static void
attempt_start (Attempt *a)
{
  WeWebhooks *self = a->self;

  if (a->hook == NULL) {
    attempt_done (a, 0, "the webhook was deleted");
    return;
  }
  if (!a->hook->enabled) {
    attempt_done (a, 0, "the webhook is disabled");
    return;
  }
  /* waited too long behind others of its webhook: its lease may be someone
   * else's soon, so leave it to whoever claims it next */
  if (a->delivery->claim_until != 0 &&
      a->delivery->claim_until < g_get_real_time () + (HTTP_TIMEOUT_S + 5) * G_USEC_PER_SEC) {
    g_autofree gchar *webhook_id = g_strdup (a->delivery->webhook_id);
    attempt_free (a);
    next_for_hook (self, webhook_id);
    return;
  }
  if (a->hook->secret_ref != NULL) {
    g_autoptr(GTask) task = NULL;

    if (self->secrets == NULL) {
      attempt_done (a, 0, "secret_ref set but no secrets backend is configured");
      return;
    }
    task = g_task_new (self, self->cancellable, key_resolved_cb, a);
    g_task_set_source_tag (task, attempt_start);
    g_task_set_task_data (task, a, NULL);
    g_task_run_in_thread (task, resolve_key_thread);
    return;
  } else {
    g_autofree gchar *secret = we_webhooks_derive_secret (self, a->hook);
    gsize len = strlen (secret);

    a->key = g_bytes_new (secret, len);
    memset (secret, 0, len);
  }
  attempt_send (a);
}

/* --- claiming ------------------------------------------------------------ */

typedef struct {
  gchar *kernel_id;
  gint64 lease_us;
} Claim;

static void
claim_free (Claim *c)
{
  g_free (c->kernel_id);
  g_free (c);
}

typedef struct {
  WeWebhookDelivery *delivery;
  WeWebhook         *hook;
} Claimed;

static void
claimed_free (Claimed *c)
{
  we_webhook_delivery_free (c->delivery);
  we_webhook_free (c->hook);
  g_free (c);
}

static gint
compare_claimed (gconstpointer a, gconstpointer b)
{
  const Claimed *ca = *(Claimed * const *) a, *cb = *(Claimed * const *) b;

  if (ca->delivery->created_at != cb->delivery->created_at)
    return ca->delivery->created_at < cb->delivery->created_at ? -1 : 1;
  return 0;
}

static gpointer
claim_thread (WeStore *store, gpointer data, GError **error)
{
  Claim *c = data;
  g_autoptr(GPtrArray) deliveries = NULL;
  GPtrArray *out;

  deliveries = we_store_delivery_claim (store, c->kernel_id, g_get_real_time (), c->lease_us,
                                        CLAIM_LIMIT, error);
  if (deliveries == NULL)
    return NULL;
  out = g_ptr_array_new_with_free_func ((GDestroyNotify) claimed_free);
  for (guint i = 0; i < deliveries->len; i++) {
    Claimed *cl = g_new0 (Claimed, 1);
    g_autoptr(GError) local = NULL;

    cl->delivery = we_webhook_delivery_copy (g_ptr_array_index (deliveries, i));
    cl->hook = we_store_webhook_get (store, cl->delivery->webhook_id, &local);
    g_ptr_array_add (out, cl);
  }
  /* events of one webhook go out in the order they happened */
  g_ptr_array_sort (out, compare_claimed);
  return out;
}

static void poll_now (WeWebhooks *self);

static void
claimed_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(WeWebhooks) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) claimed = we_store_call_finish (WE_STORE (source), result, &error);

  self->polling = FALSE;
  if (claimed == NULL) {
    if (error != NULL && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
      we_log (G_LOG_LEVEL_WARNING, NULL, "WE-SYS-002", "claiming webhook deliveries: %s",
              error->message);
    return;
  }
  for (guint i = 0; i < claimed->len; i++) {
    Claimed *cl = g_ptr_array_index (claimed, i);
    Attempt *a = g_new0 (Attempt, 1);
    GQueue *queue;

    a->self = g_object_ref (self);
    a->delivery = g_steal_pointer (&cl->delivery);
    a->hook = g_steal_pointer (&cl->hook);
    if (!self->running) {
      attempt_free (a);
      continue;
    }
    queue = g_hash_table_lookup (self->busy, a->delivery->webhook_id);
    if (queue != NULL) {
      g_queue_push_tail (queue, a);
      continue;
    }
    g_hash_table_insert (self->busy, g_strdup (a->delivery->webhook_id), g_queue_new ());
    attempt_start (a);
  }
  /* a full batch: there may be more due right now */
  if (self->running && (self->poll_again || claimed->len == CLAIM_LIMIT)) {
    self->poll_again = FALSE;
    poll_now (self);
  }
}

static void
poll_now (WeWebhooks *self)
{
  Claim *c;

  if (!self->running)
    return;
  if (self->polling) {
    self->poll_again = TRUE;
    return;
  }
  self->polling = TRUE;
  c = g_new0 (Claim, 1);
  c->kernel_id = g_strdup (self->kernel_id);
  c->lease_us = LEASE_US;
  we_store_call_async (self->store, claim_thread, c, (GDestroyNotify) claim_free,
                       (GDestroyNotify) g_ptr_array_unref, NULL, claimed_cb,
                       g_object_ref (self));
}

static gboolean
poll_cb (gpointer user_data)
{
  poll_now (user_data);
  return G_SOURCE_CONTINUE;
}

static gboolean
kick_cb (gpointer user_data)
{
  WeWebhooks *self = user_data;

  self->kick_source = 0;
  poll_now (self);
  return G_SOURCE_REMOVE;
}

/* Polls after @delay_ms unless a poll is due sooner anyway. */
static void
schedule_kick (WeWebhooks *self, guint delay_ms)
{
  if (!self->running || delay_ms >= POLL_INTERVAL_MS)
    return;
  if (self->kick_source != 0)
    return; /* an earlier kick polls; the regular poll covers the rest */
  self->kick_source = g_timeout_add (delay_ms, kick_cb, self);
}

void
we_webhooks_kick (WeWebhooks *self)
{
  g_return_if_fail (WE_IS_WEBHOOKS (self));
  poll_now (self);
}

/* --- object ---------------------------------------------------------------- */

void
we_webhooks_start (WeWebhooks *self)
{
  g_return_if_fail (WE_IS_WEBHOOKS (self));
  if (self->running)
    return;
  self->running = TRUE;
  self->poll_source = g_timeout_add (POLL_INTERVAL_MS, poll_cb, self);
  poll_now (self);
}

static void
drop_queue (gpointer data)
{
  g_queue_free_full (data, (GDestroyNotify) attempt_free);
}

void
we_webhooks_stop (WeWebhooks *self)
{
  g_return_if_fail (WE_IS_WEBHOOKS (self));
  self->running = FALSE;
  g_clear_handle_id (&self->poll_source, g_source_remove);
  g_clear_handle_id (&self->kick_source, g_source_remove);
  g_cancellable_cancel (self->cancellable);
  /* attempts queued behind one in flight hold a reference to us */
  g_hash_table_remove_all (self->busy);
  if (self->scheduler != NULL) {
    g_clear_signal_handler (&self->transition_id, self->scheduler);
    g_object_remove_weak_pointer (G_OBJECT (self->scheduler), (gpointer *) &self->scheduler);
    self->scheduler = NULL;
  }
}

void
we_webhooks_watch_scheduler (WeWebhooks *self, WeScheduler *scheduler)
{
  g_return_if_fail (WE_IS_WEBHOOKS (self));
  g_return_if_fail (self->scheduler == NULL);
  self->scheduler = scheduler;
  g_object_add_weak_pointer (G_OBJECT (scheduler), (gpointer *) &self->scheduler);
  self->transition_id = g_signal_connect (scheduler, "job-transition",
                                          G_CALLBACK (job_transition_cb), self);
}

void
we_webhooks_set_secrets (WeWebhooks *self, WeSecrets *secrets)
{
  g_return_if_fail (WE_IS_WEBHOOKS (self));
  g_set_object (&self->secrets, secrets);
}

void
we_webhooks_set_backoff (WeWebhooks *self, guint base_ms, guint window_s)
{
  g_return_if_fail (WE_IS_WEBHOOKS (self));
  if (base_ms > 0)
    self->backoff_base_ms = base_ms;
  if (window_s > 0)
    self->window_us = (gint64) window_s * G_USEC_PER_SEC;
}

static void
we_webhooks_dispose (GObject *object)
{
  WeWebhooks *self = WE_WEBHOOKS (object);

  we_webhooks_stop (self);
  g_hash_table_remove_all (self->busy);
  G_OBJECT_CLASS (we_webhooks_parent_class)->dispose (object);
}

static void
we_webhooks_finalize (GObject *object)
{
  WeWebhooks *self = WE_WEBHOOKS (object);

  g_clear_object (&self->store);
  g_clear_object (&self->keys);
  g_clear_object (&self->secrets);
  g_clear_object (&self->session);
  g_clear_object (&self->cancellable);
  g_hash_table_unref (self->busy);
  g_free (self->kernel_id);
  g_free (self->public_url);
  G_OBJECT_CLASS (we_webhooks_parent_class)->finalize (object);
}

static void
we_webhooks_class_init (WeWebhooksClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = we_webhooks_dispose;
  G_OBJECT_CLASS (klass)->finalize = we_webhooks_finalize;
}

static void
we_webhooks_init (WeWebhooks *self)
{
  self->backoff_base_ms = 1000;
  self->window_us = (gint64) 24 * 3600 * G_USEC_PER_SEC;
  self->cancellable = g_cancellable_new ();
  self->busy = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, drop_queue);
  self->session = soup_session_new_with_options ("timeout", HTTP_TIMEOUT_S,
                                                 "idle-timeout", 60,
                                                 "user-agent", "WebEncode-Webhooks/1.0",
                                                 NULL);
}

static guint
env_uint (const gchar *name)
{
  const gchar *v = g_getenv (name);
  guint64 n = 0;

  if (v == NULL || !g_ascii_string_to_unsigned (v, 10, 1, G_MAXUINT32, &n, NULL))
    return 0;
  return (guint) n;
}

WeWebhooks *
we_webhooks_new (WeStore *store, WeContentKeys *keys, const gchar *kernel_id,
                 const gchar *public_url)
{
  WeWebhooks *self;

  g_return_val_if_fail (WE_IS_STORE (store), NULL);
  g_return_val_if_fail (WE_IS_CONTENT_KEYS (keys), NULL);
  self = g_object_new (WE_TYPE_WEBHOOKS, NULL);
  self->store = g_object_ref (store);
  self->keys = g_object_ref (keys);
  self->kernel_id = g_strdup (kernel_id != NULL ? kernel_id : g_get_host_name ());
  self->public_url = g_strdup (public_url != NULL ? public_url : "");
  we_webhooks_set_backoff (self, env_uint ("WE_WEBHOOK_BACKOFF_BASE_MS"),
                           env_uint ("WE_WEBHOOK_RETRY_WINDOW_S"));
  return self;
}
