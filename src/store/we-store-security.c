/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The security records of the store (issue 7): audit entries, API tokens,
 * webhooks and their deliveries, with the synchronous wrappers that dispatch
 * to the backend. Callers on the main loop go through we_store_call_async().
 */
#include "config.h"

#include "store/we-store.h"

/* --- records -------------------------------------------------------------- */

WeAuditEntry *
we_audit_entry_new (void)
{
  return g_new0 (WeAuditEntry, 1);
}

void
we_audit_entry_free (WeAuditEntry *entry)
{
  if (entry == NULL)
    return;
  g_free (entry->user_id);
  g_free (entry->username);
  g_free (entry->action);
  g_free (entry->resource_type);
  g_free (entry->resource_id);
  g_free (entry->error_code);
  g_free (entry->payload_digest);
  g_free (entry->client_ip);
  g_free (entry->user_agent);
  g_free (entry->request_id);
  g_free (entry);
}

WeApiToken *
we_api_token_new (void)
{
  return g_new0 (WeApiToken, 1);
}

WeApiToken *
we_api_token_copy (const WeApiToken *token)
{
  WeApiToken *copy;

  g_return_val_if_fail (token != NULL, NULL);
  copy = g_memdup2 (token, sizeof (*token));
  copy->id = g_strdup (token->id);
  copy->name = g_strdup (token->name);
  copy->token_hash = g_strdup (token->token_hash);
  copy->prefix = g_strdup (token->prefix);
  copy->user_id = g_strdup (token->user_id);
  copy->username = g_strdup (token->username);
  copy->created_by = g_strdup (token->created_by);
  return copy;
}

void
we_api_token_free (WeApiToken *token)
{
  if (token == NULL)
    return;
  g_free (token->id);
  g_free (token->name);
  g_free (token->token_hash);
  g_free (token->prefix);
  g_free (token->user_id);
  g_free (token->username);
  g_free (token->created_by);
  g_free (token);
}

WeWebhook *
we_webhook_new (void)
{
  WeWebhook *webhook = g_new0 (WeWebhook, 1);

  webhook->enabled = TRUE;
  return webhook;
}

WeWebhook *
we_webhook_copy (const WeWebhook *webhook)
{
  WeWebhook *copy;

  g_return_val_if_fail (webhook != NULL, NULL);
  copy = g_memdup2 (webhook, sizeof (*webhook));
  copy->id = g_strdup (webhook->id);
  copy->url = g_strdup (webhook->url);
  copy->events = g_strdupv (webhook->events);
  copy->description = g_strdup (webhook->description);
  copy->secret_salt = g_strdup (webhook->secret_salt);
  copy->secret_ref = g_strdup (webhook->secret_ref);
  copy->job_id = g_strdup (webhook->job_id);
  copy->user_id = g_strdup (webhook->user_id);
  return copy;
}

void
we_webhook_free (WeWebhook *webhook)
{
  if (webhook == NULL)
    return;
  g_free (webhook->id);
  g_free (webhook->url);
  g_strfreev (webhook->events);
  g_free (webhook->description);
  g_free (webhook->secret_salt);
  g_free (webhook->secret_ref);
  g_free (webhook->job_id);
  g_free (webhook->user_id);
  g_free (webhook);
}

WeWebhookDelivery *
we_webhook_delivery_new (void)
{
  return g_new0 (WeWebhookDelivery, 1);
}

/* A deep copy: the dispatcher appends to its copy's log while the original
 * may be read on another thread. json_node_copy() only takes references, so
 * the log goes through its text (a few objects per delivery). */
static JsonArray *
json_array_deep_copy (JsonArray *array)
{
  g_autoptr(JsonNode) node = json_node_init_array (json_node_alloc (), array);
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autofree gchar *text = json_to_string (node, FALSE);
  JsonNode *root;

  if (!json_parser_load_from_data (parser, text, -1, NULL) ||
      (root = json_parser_get_root (parser)) == NULL || !JSON_NODE_HOLDS_ARRAY (root))
    return json_array_new ();   /* cannot happen: we just wrote it */
  return json_array_ref (json_node_get_array (root));
}

WeWebhookDelivery *
we_webhook_delivery_copy (const WeWebhookDelivery *delivery)
{
  WeWebhookDelivery *copy;

  g_return_val_if_fail (delivery != NULL, NULL);
  copy = g_memdup2 (delivery, sizeof (*delivery));
  copy->id = g_strdup (delivery->id);
  copy->webhook_id = g_strdup (delivery->webhook_id);
  copy->event_id = g_strdup (delivery->event_id);
  copy->event_type = g_strdup (delivery->event_type);
  copy->payload = g_strdup (delivery->payload);
  copy->claimed_by = g_strdup (delivery->claimed_by);
  copy->last_error = g_strdup (delivery->last_error);
  copy->log = delivery->log != NULL ? json_array_deep_copy (delivery->log) : NULL;
  copy->replay_of = g_strdup (delivery->replay_of);
  return copy;
}

void
we_webhook_delivery_free (WeWebhookDelivery *delivery)
{
  if (delivery == NULL)
    return;
  g_free (delivery->id);
  g_free (delivery->webhook_id);
  g_free (delivery->event_id);
  g_free (delivery->event_type);
  g_free (delivery->payload);
  g_free (delivery->claimed_by);
  g_free (delivery->last_error);
  g_clear_pointer (&delivery->log, json_array_unref);
  g_free (delivery->replay_of);
  g_free (delivery);
}

static const gchar *const delivery_states[] = {
  [WE_DELIVERY_PENDING] = "pending",
  [WE_DELIVERY_DELIVERING] = "delivering",
  [WE_DELIVERY_SUCCEEDED] = "succeeded",
  [WE_DELIVERY_FAILED] = "failed",
};

const gchar *
we_delivery_state_to_string (WeDeliveryState state)
{
  if ((guint) state >= G_N_ELEMENTS (delivery_states))
    return NULL;
  return delivery_states[state];
}

gboolean
we_delivery_state_from_string (const gchar *str, WeDeliveryState *state)
{
  for (guint i = 0; str != NULL && i < G_N_ELEMENTS (delivery_states); i++) {
    if (g_str_equal (str, delivery_states[i])) {
      if (state != NULL)
        *state = (WeDeliveryState) i;
      return TRUE;
    }
  }
  return FALSE;
}

/* --- synchronous calls ------------------------------------------------------ */

/* Each wrapper checks the instance, then dispatches to the backend; a backend
 * without the vfunc says so like the other wrappers in we-store.c. */
#define SECURITY_CALL(ret_fail, vfunc, ...)                                   \
  G_STMT_START {                                                              \
    WeStoreInterface *iface;                                                  \
    g_return_val_if_fail (WE_IS_STORE (self), ret_fail);                      \
    g_return_val_if_fail (error == NULL || *error == NULL, ret_fail);         \
    iface = WE_STORE_GET_IFACE (self);                                        \
    if (iface->vfunc == NULL) {                                               \
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,               \
                   "%s does not implement %s", G_OBJECT_TYPE_NAME (self),     \
                   #vfunc);                                                   \
      return ret_fail;                                                        \
    }                                                                         \
    return iface->vfunc (self, __VA_ARGS__);                                  \
  } G_STMT_END

gboolean
we_store_audit_add (WeStore *self, WeAuditEntry *entry, GError **error)
{
  g_return_val_if_fail (entry != NULL && entry->action != NULL, FALSE);
  SECURITY_CALL (FALSE, audit_add, entry, error);
}

GPtrArray *
we_store_audit_list (WeStore *self, const WeAuditFilter *filter, guint *total, GError **error)
{
  static const WeAuditFilter all = { 0 };

  SECURITY_CALL (NULL, audit_list, filter != NULL ? filter : &all, total, error);
}

gboolean
we_store_token_put (WeStore *self, const WeApiToken *token, GError **error)
{
  g_return_val_if_fail (token != NULL && token->id != NULL && token->token_hash != NULL, FALSE);
  SECURITY_CALL (FALSE, token_put, token, error);
}

WeApiToken *
we_store_token_get (WeStore *self, const gchar *id, GError **error)
{
  g_return_val_if_fail (id != NULL, NULL);
  SECURITY_CALL (NULL, token_get, id, error);
}

WeApiToken *
we_store_token_get_by_hash (WeStore *self, const gchar *token_hash, GError **error)
{
  g_return_val_if_fail (token_hash != NULL, NULL);
  SECURITY_CALL (NULL, token_get_by_hash, token_hash, error);
}

GPtrArray *
we_store_token_list (WeStore *self, GError **error)
{
  SECURITY_CALL (NULL, token_list, error);
}

gboolean
we_store_webhook_put (WeStore *self, const WeWebhook *webhook, GError **error)
{
  g_return_val_if_fail (webhook != NULL && webhook->id != NULL && webhook->url != NULL, FALSE);
  SECURITY_CALL (FALSE, webhook_put, webhook, error);
}

WeWebhook *
we_store_webhook_get (WeStore *self, const gchar *id, GError **error)
{
  g_return_val_if_fail (id != NULL, NULL);
  SECURITY_CALL (NULL, webhook_get, id, error);
}

GPtrArray *
we_store_webhook_list (WeStore *self, const gchar *job_id, GError **error)
{
  SECURITY_CALL (NULL, webhook_list, job_id, error);
}

gboolean
we_store_webhook_delete (WeStore *self, const gchar *id, GError **error)
{
  g_return_val_if_fail (id != NULL, FALSE);
  SECURITY_CALL (FALSE, webhook_delete, id, error);
}

gboolean
we_store_delivery_add (WeStore *self, WeWebhookDelivery *delivery, GError **error)
{
  g_return_val_if_fail (delivery != NULL && delivery->webhook_id != NULL &&
                        delivery->event_type != NULL && delivery->payload != NULL, FALSE);
  SECURITY_CALL (FALSE, delivery_add, delivery, error);
}

GPtrArray *
we_store_delivery_claim (WeStore *self, const gchar *kernel_id, gint64 now, gint64 lease_us,
                         guint limit, GError **error)
{
  g_return_val_if_fail (kernel_id != NULL, NULL);
  g_return_val_if_fail (lease_us > 0, NULL);
  SECURITY_CALL (NULL, delivery_claim, kernel_id, now, lease_us, limit, error);
}

gboolean
we_store_delivery_update (WeStore *self, const WeWebhookDelivery *delivery, GError **error)
{
  g_return_val_if_fail (delivery != NULL && delivery->id != NULL, FALSE);
  SECURITY_CALL (FALSE, delivery_update, delivery, error);
}

WeWebhookDelivery *
we_store_delivery_get (WeStore *self, const gchar *id, GError **error)
{
  g_return_val_if_fail (id != NULL, NULL);
  SECURITY_CALL (NULL, delivery_get, id, error);
}

GPtrArray *
we_store_delivery_list (WeStore *self, const gchar *webhook_id, guint limit, guint offset,
                        guint *total, GError **error)
{
  SECURITY_CALL (NULL, delivery_list, webhook_id, limit, offset, total, error);
}
