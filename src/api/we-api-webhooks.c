/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * /v1/webhooks (docs/api.md "Webhooks", spec §20): registrations, their
 * signing secrets (shown once, at creation and rotation: they are derived,
 * never stored), pings, the delivery log and replays. Delivering is the
 * dispatcher's job (core/we-webhooks.c); these handlers only write rows and
 * wake it. Every store call runs on the store's thread.
 */
#include "config.h"
#include "we-api-handlers.h"

#include <string.h>

#include "common/we-json.h"
#include "core/we-webhooks.h"

#define DELIVERIES_DEFAULT_LIMIT 50
#define DELIVERIES_MAX_LIMIT     200

typedef struct {
  WeApiRequest      *request;
  gchar             *id;        /* the webhook */
  gchar             *id2;       /* the delivery (replay) */
  gchar             *job_id;    /* list filter */
  WeWebhook         *hook;      /* create: the new row */
  JsonObject        *patch;     /* update */
  gboolean           rotate;
  gchar             *ping_user; /* ping: who asked */
  guint              limit, offset, total;
  WeWebhookDelivery *delivery;  /* ping, replay: what was enqueued */
} Op;

static void
op_free (Op *op)
{
  g_free (op->id);
  g_free (op->id2);
  g_free (op->job_id);
  we_webhook_free (op->hook);
  g_clear_pointer (&op->patch, json_object_unref);
  g_free (op->ping_user);
  we_webhook_delivery_free (op->delivery);
  g_free (op);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Op, op_free)

static Op *
op_new (WeApiRequest *request)
{
  Op *op = g_new0 (Op, 1);

  op->request = request;
  op->id = g_strdup (we_api_request_param (request, 0));
  op->id2 = g_strdup (we_api_request_param (request, 1));
  return op;
}

static WeWebhooks *
dispatcher (WeApiRequest *request)
{
  return we_api_request_context (request)->webhooks;
}

static void
set_time (JsonObject *o, const gchar *name, gint64 t)
{
  g_autofree gchar *s = t != 0 ? we_time_format (t) : NULL;

  if (s != NULL)
    json_object_set_string_member (o, name, s);
  else
    json_object_set_null_member (o, name);
}

static void
set_nullable (JsonObject *o, const gchar *name, const gchar *value)
{
  if (value != NULL)
    json_object_set_string_member (o, name, value);
  else
    json_object_set_null_member (o, name);
}

static JsonObject *
webhook_to_json (const WeWebhook *hook)
{
  JsonObject *o = json_object_new ();
  JsonArray *events = json_array_new ();

  json_object_set_string_member (o, "id", hook->id);
  json_object_set_string_member (o, "url", hook->url);
  for (guint i = 0; hook->events != NULL && hook->events[i] != NULL; i++)
    json_array_add_string_element (events, hook->events[i]);
  json_object_set_array_member (o, "events", events);
  set_nullable (o, "description", hook->description);
  json_object_set_boolean_member (o, "enabled", hook->enabled);
  set_nullable (o, "job_id", hook->job_id);
  set_nullable (o, "user_id", hook->user_id);
  /* the secret itself is never shown again; where it comes from is */
  json_object_set_boolean_member (o, "secret_set", TRUE);
  json_object_set_string_member (o, "secret_source",
                                 hook->secret_ref != NULL ? "secret_ref"
                                 : hook->secret_salt != NULL ? "derived" : "user");
  set_nullable (o, "secret_ref", hook->secret_ref);
  set_time (o, "created_at", hook->created_at);
  set_time (o, "updated_at", hook->updated_at);
  return o;
}

static JsonObject *
delivery_to_json (const WeWebhookDelivery *d)
{
  JsonObject *o = json_object_new ();
  g_autoptr(JsonNode) payload = json_from_string (d->payload, NULL);

  json_object_set_string_member (o, "id", d->id);
  json_object_set_string_member (o, "webhook_id", d->webhook_id);
  json_object_set_string_member (o, "event_id", d->event_id);
  json_object_set_string_member (o, "event_type", d->event_type);
  json_object_set_string_member (o, "state", we_delivery_state_to_string (d->state));
  json_object_set_int_member (o, "attempts", d->attempts);
  set_time (o, "next_attempt_at",
            d->state == WE_DELIVERY_PENDING ? d->next_attempt_at : 0);
  if (d->last_status != 0)
    json_object_set_int_member (o, "last_status", d->last_status);
  else
    json_object_set_null_member (o, "last_status");
  set_nullable (o, "last_error", d->last_error);
  set_nullable (o, "replay_of", d->replay_of);
  set_time (o, "created_at", d->created_at);
  set_time (o, "updated_at", d->updated_at);
  set_time (o, "delivered_at", d->delivered_at);
  json_object_set_array_member (o, "log", d->log != NULL ? json_array_ref (d->log)
                                                         : json_array_new ());
  if (payload != NULL)
    json_object_set_member (o, "payload", g_steal_pointer (&payload));
  else
    json_object_set_null_member (o, "payload");
  return o;
}

/* --- validation ------------------------------------------------------------ */

static gboolean
get_optional_string (JsonObject *body, const gchar *name, gsize max, const gchar **out,
                     GError **error)
{
  JsonNode *node = json_object_get_member (body, name);

  *out = NULL;
  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST, "\"%s\" must be a string", name);
    return FALSE;
  }
  *out = json_node_get_string (node);
  if (strlen (*out) > max) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                 "\"%s\" is longer than %" G_GSIZE_FORMAT " bytes", name, max);
    return FALSE;
  }
  return TRUE;
}

static gboolean
get_optional_bool (JsonObject *body, const gchar *name, gboolean *out, GError **error)
{
  JsonNode *node = json_object_get_member (body, name);

  if (node == NULL)
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_BOOLEAN) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST, "\"%s\" must be a boolean",
                 name);
    return FALSE;
  }
  *out = json_node_get_boolean (node);
  return TRUE;
}

static gboolean
check_members (JsonObject *body, const gchar *const *known, GError **error)
{
  g_autoptr(GList) names = json_object_get_members (body);

  for (GList *l = names; l != NULL; l = l->next) {
    if (!g_strv_contains (known, l->data)) {
      g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST, "unknown member \"%.64s\"",
                   (const gchar *) l->data);
      return FALSE;
    }
  }
  return TRUE;
}

/* Applies @body's members to @hook. */
static gboolean
apply_body (WeWebhook *hook, JsonObject *body, gboolean creating, GError **error)
{
  static const gchar *const known[] = {
    "url", "events", "description", "enabled", "secret_ref", NULL,
  };
  const gchar *url = NULL, *description = NULL, *secret_ref = NULL;
  JsonNode *events = json_object_get_member (body, "events");

  if (!check_members (body, known, error) ||
      !get_optional_string (body, "url", WE_WEBHOOKS_MAX_URL, &url, error) ||
      !get_optional_string (body, "description", WE_WEBHOOKS_MAX_DESCRIPTION, &description,
                            error) ||
      !get_optional_string (body, "secret_ref", 512, &secret_ref, error) ||
      !get_optional_bool (body, "enabled", &hook->enabled, error))
    return FALSE;
  if (url != NULL || creating) {
    if (!we_webhooks_check_url (url, error))
      return FALSE;
    g_free (hook->url);
    hook->url = g_strdup (url);
  }
  if (events != NULL) {
    g_autoptr(GError) local = NULL;
    gchar **parsed = we_webhooks_parse_events (events, &local);

    if (local != NULL) {
      g_propagate_error (error, g_steal_pointer (&local));
      return FALSE;
    }
    g_strfreev (hook->events);
    hook->events = parsed;
  }
  if (json_object_has_member (body, "description")) {
    g_free (hook->description);
    hook->description = g_strdup (description);
  }
  if (secret_ref != NULL) {
    if (!creating) {
      g_set_error_literal (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                           "\"secret_ref\" is set at creation only");
      return FALSE;
    }
    if (*secret_ref == '\0') {
      g_set_error_literal (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                           "\"secret_ref\" must not be empty");
      return FALSE;
    }
    hook->secret_ref = g_strdup (secret_ref);
  }
  return TRUE;
}

/* --- list, get ------------------------------------------------------------- */

static gpointer
list_thread (WeStore *store, gpointer data, GError **error)
{
  Op *op = data;

  return we_store_webhook_list (store, op->job_id, error);
}

static void
listed_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Op) op = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) hooks = we_store_call_finish (WE_STORE (source), result, &error);
  JsonArray *array;
  JsonObject *o;

  if (hooks == NULL) {
    we_api_request_respond_error (op->request, error);
    return;
  }
  array = json_array_new ();
  for (guint i = 0; i < hooks->len; i++)
    json_array_add_object_element (array, webhook_to_json (g_ptr_array_index (hooks, i)));
  o = json_object_new ();
  json_object_set_array_member (o, "webhooks", array);
  json_object_set_int_member (o, "total", hooks->len);
  we_api_request_respond_object (op->request, SOUP_STATUS_OK, o);
}

void
we_api_webhooks_list (WeApiRequest *request)
{
  Op *op = op_new (request);

  op->job_id = g_strdup (we_api_request_query (request, "job_id"));
  we_store_call_async (we_api_request_context (request)->store, list_thread, op, NULL,
                       (GDestroyNotify) g_ptr_array_unref, NULL, listed_cb, op);
}

static gpointer
get_thread (WeStore *store, gpointer data, GError **error)
{
  Op *op = data;

  return we_store_webhook_get (store, op->id, error);
}

static void
got_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Op) op = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(WeWebhook) hook = we_store_call_finish (WE_STORE (source), result, &error);

  if (hook == NULL) {
    we_api_request_respond_error (op->request, error);
    return;
  }
  we_api_request_respond_object (op->request, SOUP_STATUS_OK, webhook_to_json (hook));
}

void
we_api_webhooks_get (WeApiRequest *request)
{
  Op *op = op_new (request);

  we_store_call_async (we_api_request_context (request)->store, get_thread, op, NULL,
                       (GDestroyNotify) we_webhook_free, NULL, got_cb, op);
}

/* --- create, update, rotate: the response shows the secret when it changed --- */

static gpointer
create_thread (WeStore *store, gpointer data, GError **error)
{
  Op *op = data;
  g_autoptr(GPtrArray) hooks = we_store_webhook_list (store, NULL, error);
  guint registered = 0;

  if (hooks == NULL)
    return NULL;
  for (guint i = 0; i < hooks->len; i++)
    if (((WeWebhook *) g_ptr_array_index (hooks, i))->job_id == NULL)
      registered++;
  if (registered >= WE_WEBHOOKS_MAX_PER_SERVICE) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                 "at most %d webhooks can be registered", WE_WEBHOOKS_MAX_PER_SERVICE);
    return NULL;
  }
  if (!we_store_webhook_put (store, op->hook, error))
    return NULL;
  return we_webhook_copy (op->hook);
}

static gpointer
update_thread (WeStore *store, gpointer data, GError **error)
{
  Op *op = data;
  g_autoptr(WeWebhook) hook = we_store_webhook_get (store, op->id, error);

  if (hook == NULL)
    return NULL;
  if (op->patch != NULL && !apply_body (hook, op->patch, FALSE, error))
    return NULL;
  if (op->rotate) {
    if (hook->secret_ref != NULL) {
      g_set_error_literal (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                           "this webhook's secret comes from its secret_ref: rotate it in "
                           "the secrets backend");
      return NULL;
    }
    g_free (hook->secret_salt);
    hook->secret_salt = we_webhooks_new_salt ();
  }
  hook->updated_at = g_get_real_time ();
  if (!we_store_webhook_put (store, hook, error))
    return NULL;
  return g_steal_pointer (&hook);
}

static void
written_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Op) op = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(WeWebhook) hook = we_store_call_finish (WE_STORE (source), result, &error);
  gboolean created = op->hook != NULL;
  JsonObject *o;

  if (hook == NULL) {
    we_api_request_respond_error (op->request, error);
    return;
  }
  o = webhook_to_json (hook);
  if ((created || op->rotate) && hook->secret_ref == NULL) {
    g_autofree gchar *secret = we_webhooks_derive_secret (dispatcher (op->request), hook);

    /* shown this once: it is derived on demand, never stored */
    json_object_set_string_member (o, "secret", secret);
    memset (secret, 0, strlen (secret));
  }
  we_api_request_respond_object (op->request, created ? SOUP_STATUS_CREATED : SOUP_STATUS_OK, o);
}

static gboolean
have_dispatcher (WeApiRequest *request)
{
  g_autoptr(GError) error = NULL;

  if (dispatcher (request) != NULL)
    return TRUE;
  error = g_error_new_literal (WE_ERROR, WE_ERROR_SYS_UNAVAILABLE,
                               "webhooks are not available in this service");
  we_api_request_respond_error (request, error);
  return FALSE;
}

void
we_api_webhooks_create (WeApiRequest *request)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) body = NULL;
  g_autoptr(Op) op = NULL;
  gint64 now = g_get_real_time ();

  if (!have_dispatcher (request))
    return;
  body = we_api_request_parse_json_object (request, &error);
  op = op_new (request);
  op->hook = we_webhook_new ();
  if (body == NULL || !apply_body (op->hook, body, TRUE, &error)) {
    we_api_request_respond_error (request, error);
    return;
  }
  op->hook->id = we_uuid_new ();
  if (op->hook->secret_ref == NULL)
    op->hook->secret_salt = we_webhooks_new_salt ();
  op->hook->user_id = g_strdup (request->identity ? request->identity->user_id : NULL);
  op->hook->created_at = op->hook->updated_at = now;
  we_store_call_async (we_api_request_context (request)->store, create_thread, op, NULL,
                       (GDestroyNotify) we_webhook_free, NULL, written_cb, op);
  g_steal_pointer (&op);
}

void
we_api_webhooks_update (WeApiRequest *request)
{
  g_autoptr(GError) error = NULL;
  JsonObject *body = we_api_request_parse_json_object (request, &error);
  Op *op;

  if (body == NULL) {
    we_api_request_respond_error (request, error);
    return;
  }
  op = op_new (request);
  op->patch = body;
  we_store_call_async (we_api_request_context (request)->store, update_thread, op, NULL,
                       (GDestroyNotify) we_webhook_free, NULL, written_cb, op);
}

void
we_api_webhooks_rotate_secret (WeApiRequest *request)
{
  Op *op;

  if (!have_dispatcher (request))
    return;
  op = op_new (request);
  op->rotate = TRUE;
  we_store_call_async (we_api_request_context (request)->store, update_thread, op, NULL,
                       (GDestroyNotify) we_webhook_free, NULL, written_cb, op);
}

/* --- delete ---------------------------------------------------------------- */

static gpointer
delete_thread (WeStore *store, gpointer data, GError **error)
{
  Op *op = data;

  if (!we_store_webhook_delete (store, op->id, error))
    return NULL;
  return GINT_TO_POINTER (1);
}

static void
deleted_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Op) op = user_data;
  g_autoptr(GError) error = NULL;

  we_store_call_finish (WE_STORE (source), result, &error);
  if (error != NULL) {
    we_api_request_respond_error (op->request, error);
    return;
  }
  we_api_request_respond_empty (op->request, SOUP_STATUS_NO_CONTENT);
}

void
we_api_webhooks_delete (WeApiRequest *request)
{
  Op *op = op_new (request);

  we_store_call_async (we_api_request_context (request)->store, delete_thread, op, NULL, NULL,
                       NULL, deleted_cb, op);
}

/* --- ping, replay: a new delivery the dispatcher sends at once --------------- */

static gpointer
ping_thread (WeStore *store, gpointer data, GError **error)
{
  Op *op = data;
  g_autoptr(WeWebhook) hook = we_store_webhook_get (store, op->id, error);
  g_autoptr(JsonObject) pdata = json_object_new ();
  g_autofree gchar *event_id = NULL;
  g_autofree gchar *payload = NULL;

  if (hook == NULL)
    return NULL;
  json_object_set_string_member (pdata, "webhook_id", hook->id);
  if (op->ping_user != NULL)
    json_object_set_string_member (pdata, "user_id", op->ping_user);
  else
    json_object_set_null_member (pdata, "user_id");
  event_id = we_uuid_new ();
  payload = we_webhooks_build_payload (event_id, "ping", g_get_real_time (), pdata);
  op->delivery = we_webhooks_delivery_new (hook->id, event_id, "ping", payload);
  if (!we_store_delivery_add (store, op->delivery, error))
    return NULL;
  return we_webhook_delivery_copy (op->delivery);
}

static gpointer
replay_thread (WeStore *store, gpointer data, GError **error)
{
  Op *op = data;
  g_autoptr(WeWebhookDelivery) orig = we_store_delivery_get (store, op->id2, error);

  if (orig == NULL)
    return NULL;
  if (g_strcmp0 (orig->webhook_id, op->id) != 0) {
    g_set_error (error, WE_ERROR, WE_ERROR_SYS_NOT_FOUND,
                 "webhook %s has no delivery %s", op->id, op->id2);
    return NULL;
  }
  /* same body, so the same event_id: receivers that dedupe on it can */
  op->delivery = we_webhooks_delivery_new (orig->webhook_id, orig->event_id, orig->event_type,
                                           orig->payload);
  op->delivery->replay_of = g_strdup (orig->id);
  if (!we_store_delivery_add (store, op->delivery, error))
    return NULL;
  return we_webhook_delivery_copy (op->delivery);
}

static void
enqueued_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Op) op = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(WeWebhookDelivery) d = we_store_call_finish (WE_STORE (source), result, &error);

  if (d == NULL) {
    we_api_request_respond_error (op->request, error);
    return;
  }
  if (dispatcher (op->request) != NULL)
    we_webhooks_kick (dispatcher (op->request));
  we_api_request_respond_object (op->request, SOUP_STATUS_ACCEPTED, delivery_to_json (d));
}

void
we_api_webhooks_ping (WeApiRequest *request)
{
  Op *op;

  if (!have_dispatcher (request))
    return;
  op = op_new (request);
  op->ping_user = g_strdup (request->identity ? request->identity->user_id : NULL);
  we_store_call_async (we_api_request_context (request)->store, ping_thread, op, NULL,
                       (GDestroyNotify) we_webhook_delivery_free, NULL, enqueued_cb, op);
}

void
we_api_webhooks_replay (WeApiRequest *request)
{
  Op *op;

  if (!have_dispatcher (request))
    return;
  op = op_new (request);
  we_store_call_async (we_api_request_context (request)->store, replay_thread, op, NULL,
                       (GDestroyNotify) we_webhook_delivery_free, NULL, enqueued_cb, op);
}

/* --- the delivery log ------------------------------------------------------ */

static gpointer
deliveries_thread (WeStore *store, gpointer data, GError **error)
{
  Op *op = data;
  g_autoptr(WeWebhook) hook = we_store_webhook_get (store, op->id, error);

  if (hook == NULL)
    return NULL;
  return we_store_delivery_list (store, op->id, op->limit, op->offset, &op->total, error);
}

static void
deliveries_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Op) op = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) list = we_store_call_finish (WE_STORE (source), result, &error);
  JsonArray *array;
  JsonObject *o;

  if (list == NULL) {
    we_api_request_respond_error (op->request, error);
    return;
  }
  array = json_array_new ();
  for (guint i = 0; i < list->len; i++)
    json_array_add_object_element (array, delivery_to_json (g_ptr_array_index (list, i)));
  o = json_object_new ();
  json_object_set_array_member (o, "deliveries", array);
  json_object_set_int_member (o, "total", op->total);
  json_object_set_int_member (o, "limit", op->limit);
  json_object_set_int_member (o, "offset", op->offset);
  we_api_request_respond_object (op->request, SOUP_STATUS_OK, o);
}

static gboolean
parse_uint_query (WeApiRequest *request, const gchar *name, guint def, guint max, guint *out,
                  GError **error)
{
  const gchar *v = we_api_request_query (request, name);
  guint64 n;

  *out = def;
  if (v == NULL)
    return TRUE;
  if (!g_ascii_string_to_unsigned (v, 10, 0, max, &n, NULL)) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                 "\"%s\" must be an integer from 0 to %u", name, max);
    return FALSE;
  }
  *out = (guint) n;
  return TRUE;
}

void
we_api_webhooks_deliveries (WeApiRequest *request)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(Op) op = op_new (request);

  if (!parse_uint_query (request, "limit", DELIVERIES_DEFAULT_LIMIT, DELIVERIES_MAX_LIMIT,
                         &op->limit, &error) ||
      !parse_uint_query (request, "offset", 0, G_MAXINT32, &op->offset, &error)) {
    we_api_request_respond_error (request, error);
    return;
  }
  if (op->limit == 0)
    op->limit = DELIVERIES_DEFAULT_LIMIT;
  we_store_call_async (we_api_request_context (request)->store, deliveries_thread, op, NULL,
                       (GDestroyNotify) g_ptr_array_unref, NULL, deliveries_cb, op);
  g_steal_pointer (&op);
}

/* --- the per-job webhooks' secret --------------------------------------------- */

void
we_api_webhooks_job_secret (WeApiRequest *request)
{
  g_autofree gchar *secret = NULL;
  JsonObject *o;

  if (!have_dispatcher (request))
    return;
  /* the caller's own: per-job webhooks (POST /v1/jobs "webhooks") are signed
   * with a secret derived from the service secret and the user id */
  secret = we_webhooks_user_secret (dispatcher (request),
                                    request->identity ? request->identity->user_id : NULL);
  o = json_object_new ();
  set_nullable (o, "user_id", request->identity ? request->identity->user_id : NULL);
  json_object_set_string_member (o, "secret", secret);
  memset (secret, 0, strlen (secret));
  we_api_request_respond_object (request, SOUP_STATUS_OK, o);
}
