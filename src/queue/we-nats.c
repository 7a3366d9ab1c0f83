/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "we-nats.h"

#include <string.h>
#include <webencode/we-error.h>

#include "common/we-worker-protocol.h"

/* ---- messages ----------------------------------------------------------- */

void
we_nats_msg_free (WeNatsMsg *msg)
{
  if (msg == NULL)
    return;
  g_free (msg->subject);
  g_free (msg->reply);
  g_clear_pointer (&msg->data, g_bytes_unref);
  g_free (msg->route);
  g_free (msg);
}

JsonObject *
we_nats_msg_parse (WeNatsMsg *msg, GError **error)
{
  g_autoptr(JsonParser) parser = json_parser_new_immutable ();
  gsize size = 0;
  const gchar *data = msg->data != NULL ? g_bytes_get_data (msg->data, &size) : NULL;
  JsonNode *root;

  if (size == 0 || size > WE_WORKER_MAX_LINE) {
    g_set_error (error, WE_ERROR, WE_ERROR_WRK_COMMUNICATION,
                 "message of %" G_GSIZE_FORMAT " bytes on %s", size, msg->subject);
    return NULL;
  }
  if (!json_parser_load_from_data (parser, data, (gssize) size, error)) {
    g_prefix_error (error, "malformed message on %s: ", msg->subject);
    return NULL;
  }
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root)) {
    g_set_error (error, WE_ERROR, WE_ERROR_WRK_COMMUNICATION,
                 "message on %s is not a JSON object", msg->subject);
    return NULL;
  }
  return json_object_ref (json_node_get_object (root));
}

static WeNatsMsg *
we_nats_msg_copy_from (natsMsg *nmsg)
{
  WeNatsMsg *msg = g_new0 (WeNatsMsg, 1);
  const gchar *reply = natsMsg_GetReply (nmsg);

  msg->subject = g_strdup (natsMsg_GetSubject (nmsg));
  msg->reply = reply != NULL && *reply != '\0' ? g_strdup (reply) : NULL;
  msg->data = g_bytes_new (natsMsg_GetData (nmsg), (gsize) MAX (natsMsg_GetDataLength (nmsg), 0));
  msg->no_responders = natsMsg_IsNoResponders (nmsg);
  return msg;
}

/* ---- bridge ------------------------------------------------------------- */

struct _WeNatsBridge {
  gatomicrefcount  ref;
  GWeakRef         target;
  GMainContext    *context;
};

typedef struct {
  WeNatsBridge  *bridge;
  WeNatsCall     func;
  gpointer       data;
  GDestroyNotify notify;
} WeNatsDelivery;

WeNatsBridge *
we_nats_bridge_new (GObject *target, GMainContext *context)
{
  WeNatsBridge *bridge = g_new0 (WeNatsBridge, 1);

  g_atomic_ref_count_init (&bridge->ref);
  g_weak_ref_init (&bridge->target, target);
  bridge->context = context != NULL ? g_main_context_ref (context)
                                    : g_main_context_ref_thread_default ();
  return bridge;
}

WeNatsBridge *
we_nats_bridge_ref (WeNatsBridge *bridge)
{
  g_atomic_ref_count_inc (&bridge->ref);
  return bridge;
}

void
we_nats_bridge_unref (WeNatsBridge *bridge)
{
  if (!g_atomic_ref_count_dec (&bridge->ref))
    return;
  g_weak_ref_clear (&bridge->target);
  g_main_context_unref (bridge->context);
  g_free (bridge);
}

static void
we_nats_delivery_free (gpointer data)
{
  WeNatsDelivery *d = data;

  if (d->notify != NULL)
    d->notify (d->data);
  we_nats_bridge_unref (d->bridge);
  g_free (d);
}

static gboolean
we_nats_delivery_cb (gpointer data)
{
  WeNatsDelivery *d = data;
  g_autoptr(GObject) target = g_weak_ref_get (&d->bridge->target);

  if (target != NULL)
    d->func (target, d->data);
  return G_SOURCE_REMOVE;
}

void
we_nats_bridge_call (WeNatsBridge *bridge, WeNatsCall func, gpointer data, GDestroyNotify notify)
{
  WeNatsDelivery *d = g_new0 (WeNatsDelivery, 1);
  GSource *source;

  d->bridge = we_nats_bridge_ref (bridge);
  d->func = func;
  d->data = data;
  d->notify = notify;
  /* Always through a source, never g_main_context_invoke(): that runs the
   * callback right here, on the NATS thread, whenever the context is not
   * owned at this instant and is the caller's default — which it is for a
   * thread without one, between two g_main_context_iteration() calls of the
   * owner. The kernel's state would then change under its main thread (seen
   * as a slot count that changed between two lines of a test). */
  source = g_idle_source_new ();
  g_source_set_priority (source, G_PRIORITY_DEFAULT);
  g_source_set_callback (source, we_nats_delivery_cb, d, we_nats_delivery_free);
  g_source_set_static_name (source, "[webencode] nats delivery");
  g_source_attach (source, bridge->context);
  g_source_unref (source);
}

typedef struct {
  WeNatsHandler  handler;
  WeNatsMsg     *msg;
} WeNatsPost;

static void
we_nats_post_free (gpointer data)
{
  WeNatsPost *post = data;

  we_nats_msg_free (post->msg);
  g_free (post);
}

static void
we_nats_post_call (GObject *target, gpointer data)
{
  WeNatsPost *post = data;

  post->handler (target, post->msg);
}

void
we_nats_bridge_post (WeNatsBridge *bridge, WeNatsHandler handler, WeNatsMsg *msg)
{
  WeNatsPost *post = g_new0 (WeNatsPost, 1);

  post->handler = handler;
  post->msg = msg;
  we_nats_bridge_call (bridge, we_nats_post_call, post, we_nats_post_free);
}

/* ---- subscriptions ------------------------------------------------------ */

/* Owned by the subscription: freed by its completion callback, which nats.c
 * calls once the last message callback has returned. */
typedef struct {
  WeNatsBridge  *bridge;
  WeNatsHandler  handler;
} WeNatsSubClosure;

static void
we_nats_sub_closure_free (void *closure)
{
  WeNatsSubClosure *c = closure;

  we_nats_bridge_unref (c->bridge);
  g_free (c);
}

static void
we_nats_sub_cb (natsConnection *nc, natsSubscription *sub, natsMsg *nmsg, void *closure)
{
  WeNatsSubClosure *c = closure;

  we_nats_bridge_post (c->bridge, c->handler, we_nats_msg_copy_from (nmsg));
  natsMsg_Destroy (nmsg);
}

natsSubscription *
we_nats_subscribe (natsConnection *nc, const gchar *subject, WeNatsBridge *bridge,
                   WeNatsHandler handler, GError **error)
{
  WeNatsSubClosure *c = g_new0 (WeNatsSubClosure, 1);
  natsSubscription *sub = NULL;
  natsStatus s;

  c->bridge = we_nats_bridge_ref (bridge);
  c->handler = handler;
  s = natsConnection_Subscribe (&sub, nc, subject, we_nats_sub_cb, c);
  if (s == NATS_OK)
    s = natsSubscription_SetOnCompleteCB (sub, we_nats_sub_closure_free, c);
  if (s != NATS_OK) {
    g_autofree gchar *what = g_strdup_printf ("subscribing to %s", subject);

    if (sub != NULL) {
      /* without a completion callback the closure may still be in use:
       * leak it rather than risk a late callback on freed memory */
      natsSubscription_Unsubscribe (sub);
      natsSubscription_Destroy (sub);
    } else {
      we_nats_sub_closure_free (c);
    }
    we_nats_set_error (error, s, what);
    return NULL;
  }
  return sub;
}

void
we_nats_unsubscribe (natsSubscription *sub)
{
  if (sub == NULL)
    return;
  natsSubscription_Unsubscribe (sub);
  natsSubscription_Destroy (sub);
}

/* ---- connections -------------------------------------------------------- */

gboolean
we_nats_set_error (GError **error, natsStatus status, const gchar *what)
{
  const gchar *detail = nats_GetLastError (NULL);

  g_set_error (error, WE_ERROR, WE_ERROR_SYS_QUEUE, "NATS: %s: %s%s%s", what,
               natsStatus_GetText (status), detail != NULL && *detail != '\0' ? ": " : "",
               detail != NULL ? detail : "");
  return FALSE;
}

gchar *
we_nats_redact_url (const gchar *url)
{
  g_autoptr(GString) out = g_string_new (NULL);
  g_auto(GStrv) parts = g_strsplit (url != NULL ? url : "", ",", -1);

  for (guint i = 0; parts[i] != NULL; i++) {
    const gchar *p = g_strstrip (parts[i]);
    const gchar *scheme_end = strstr (p, "://");
    const gchar *host = scheme_end != NULL ? scheme_end + 3 : p;
    const gchar *at = strchr (host, '@');

    if (i > 0)
      g_string_append_c (out, ',');
    if (at != NULL) {
      g_string_append_len (out, p, host - p);
      g_string_append (out, "***@");
      g_string_append (out, at + 1);
    } else {
      g_string_append (out, p);
    }
  }
  return g_string_free (g_steal_pointer (&out), FALSE);
}

static void
we_nats_disconnected_cb (natsConnection *nc, void *closure)
{
  /* also called when we close the connection ourselves */
  if (!natsConnection_IsClosed (nc))
    g_warning ("NATS connection lost; reconnecting");
}

static void
we_nats_reconnected_cb (natsConnection *nc, void *closure)
{
  g_message ("NATS connection re-established");
}

natsConnection *
we_nats_connect (const gchar *url, const gchar *name, GError **error)
{
  g_auto(GStrv) parts = g_strsplit (url, ",", -1);
  g_autoptr(GPtrArray) servers = g_ptr_array_new ();
  natsOptions *opts = NULL;
  natsConnection *nc = NULL;
  natsStatus s;

  for (guint i = 0; parts[i] != NULL; i++) {
    gchar *p = g_strstrip (parts[i]);
    if (*p != '\0')
      g_ptr_array_add (servers, p);
  }
  if (servers->len == 0) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_SYS_QUEUE, "NATS: no server URL given");
    return NULL;
  }
  s = natsOptions_Create (&opts);
  if (s == NATS_OK)
    s = natsOptions_SetServers (opts, (const char **) servers->pdata, (int) servers->len);
  if (s == NATS_OK)
    s = natsOptions_SetName (opts, name);
  /* a kernel or worker outlives any NATS restart: keep trying, without
   * ever blocking a publish for long while disconnected */
  if (s == NATS_OK)
    s = natsOptions_SetMaxReconnect (opts, -1);
  if (s == NATS_OK)
    s = natsOptions_SetReconnectWait (opts, 1000);
  if (s == NATS_OK)
    s = natsOptions_SetTimeout (opts, 2000);
  if (s == NATS_OK)
    s = natsOptions_SetReconnectBufSize (opts, 8 * 1024 * 1024);
  if (s == NATS_OK)
    s = natsOptions_SetDisconnectedCB (opts, we_nats_disconnected_cb, NULL);
  if (s == NATS_OK)
    s = natsOptions_SetReconnectedCB (opts, we_nats_reconnected_cb, NULL);
  if (s == NATS_OK)
    s = natsConnection_Connect (&nc, opts);
  natsOptions_Destroy (opts);
  if (s != NATS_OK) {
    g_autofree gchar *safe = we_nats_redact_url (url);
    g_autofree gchar *what = g_strdup_printf ("connecting to %s", safe);

    natsConnection_Destroy (nc);
    we_nats_set_error (error, s, what);
    return NULL;
  }
  return nc;
}

gchar *
we_nats_token (const gchar *s)
{
  gchar *token = g_strdup (s != NULL && *s != '\0' ? s : "_");

  for (gchar *p = token; *p != '\0'; p++) {
    if (*p == '.' || *p == '*' || *p == '>' || g_ascii_isspace (*p) || (guchar) *p < 0x20)
      *p = '_';
  }
  return token;
}

gchar *
we_nats_hw_encoder_codec (JsonNode *entry)
{
  const gchar *s = NULL;
  g_autofree gchar *lower = NULL;

  if (entry == NULL)
    return NULL;
  if (JSON_NODE_HOLDS_OBJECT (entry)) {
    JsonNode *codec = json_object_get_member (json_node_get_object (entry), "codec");

    if (codec != NULL && JSON_NODE_HOLDS_VALUE (codec) &&
        json_node_get_value_type (codec) == G_TYPE_STRING)
      s = json_node_get_string (codec);
  } else if (JSON_NODE_HOLDS_VALUE (entry) && json_node_get_value_type (entry) == G_TYPE_STRING) {
    s = json_node_get_string (entry);
  }
  if (s == NULL || *s == '\0')
    return NULL;
  lower = g_ascii_strdown (s, -1);
  if (strstr (lower, "265") != NULL || strstr (lower, "hevc") != NULL)
    return g_strdup ("hevc");
  if (strstr (lower, "264") != NULL || strstr (lower, "avc") != NULL)
    return g_strdup ("h264");
  if (strstr (lower, "vp9") != NULL)
    return g_strdup ("vp9");
  if (strstr (lower, "av1") != NULL)
    return g_strdup ("av1");
  return we_nats_token (lower);
}

GPtrArray *
we_nats_routes_for_capabilities (JsonObject *caps)
{
  GPtrArray *routes = g_ptr_array_new_with_free_func (g_free);
  JsonArray *list = caps != NULL && json_object_has_member (caps, "video_codecs") &&
                    JSON_NODE_HOLDS_ARRAY (json_object_get_member (caps, "video_codecs"))
                      ? json_object_get_array_member (caps, "video_codecs") : NULL;

  g_ptr_array_add (routes, g_strdup (WE_NATS_ROUTE_ANY));
  for (guint i = 0; list != NULL && i < json_array_get_length (list); i++) {
    JsonNode *node = json_array_get_element (list, i);
    g_autofree gchar *lower = NULL;

    if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
      continue;
    lower = g_ascii_strdown (json_node_get_string (node), -1);
    if (!g_ptr_array_find_with_equal_func (routes, lower, g_str_equal, NULL))
      g_ptr_array_add (routes, we_nats_token (lower));
  }
  list = caps != NULL && json_object_has_member (caps, "hw_encoders") &&
         JSON_NODE_HOLDS_ARRAY (json_object_get_member (caps, "hw_encoders"))
           ? json_object_get_array_member (caps, "hw_encoders") : NULL;
  for (guint i = 0; list != NULL && i < json_array_get_length (list); i++) {
    g_autofree gchar *codec = we_nats_hw_encoder_codec (json_array_get_element (list, i));
    g_autofree gchar *route = codec != NULL ? g_strconcat (codec, ".hw", NULL) : NULL;

    if (route != NULL && !g_ptr_array_find_with_equal_func (routes, route, g_str_equal, NULL))
      g_ptr_array_add (routes, g_steal_pointer (&route));
  }
  return routes;
}

gboolean
we_nats_publish_json (natsConnection *nc, const gchar *subject, const gchar *reply,
                      JsonObject *object, GError **error)
{
  g_autoptr(JsonNode) node = json_node_init_object (json_node_alloc (), object);
  gsize length = 0;
  g_autofree gchar *text = json_to_string (node, FALSE);
  natsStatus s;

  length = strlen (text);
  if (reply != NULL)
    s = natsConnection_PublishRequest (nc, subject, reply, text, (int) length);
  else
    s = natsConnection_Publish (nc, subject, text, (int) length);
  if (s != NATS_OK) {
    g_autofree gchar *what = g_strdup_printf ("publishing to %s", subject);
    return we_nats_set_error (error, s, what);
  }
  return TRUE;
}

/* ---- requests ----------------------------------------------------------- */

struct _WeNatsRequester {
  GObject           parent_instance;

  natsConnection   *nc;      /* not owned */
  natsSubscription *sub;
  WeNatsBridge     *bridge;
  gchar            *inbox;   /* replies go to <inbox>.<token> */
  guint64           next_token;
  GHashTable       *pending; /* token string → GTask */
};

G_DEFINE_TYPE (WeNatsRequester, we_nats_requester, G_TYPE_OBJECT)

typedef struct {
  gchar *token;
  guint  timeout_id;
} WeNatsRequest;

static void
we_nats_request_free (WeNatsRequest *req)
{
  g_clear_handle_id (&req->timeout_id, g_source_remove);
  g_free (req->token);
  g_free (req);
}

static void
we_nats_requester_reply_cb (GObject *target, WeNatsMsg *msg)
{
  WeNatsRequester *self = WE_NATS_REQUESTER (target);
  const gchar *token = strrchr (msg->subject, '.');
  g_autoptr(GTask) task = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *key = NULL;
  WeNatsRequest *req;
  JsonObject *reply;

  if (token == NULL || !g_hash_table_steal_extended (self->pending, token + 1,
                                                     (gpointer *) &key, (gpointer *) &task))
    return; /* late: it timed out already */
  req = g_task_get_task_data (task);
  g_clear_handle_id (&req->timeout_id, g_source_remove);
  if (msg->no_responders) {
    g_task_return_new_error (task, WE_ERROR, WE_ERROR_SYS_UNAVAILABLE,
                             "nobody listens on the request's subject");
    return;
  }
  reply = we_nats_msg_parse (msg, &error);
  if (reply == NULL)
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_pointer (task, reply, (GDestroyNotify) json_object_unref);
}

static gboolean
we_nats_request_timeout_cb (gpointer user_data)
{
  GTask *task = user_data;
  WeNatsRequester *self = g_task_get_source_object (task);
  WeNatsRequest *req = g_task_get_task_data (task);
  g_autoptr(GTask) owned = NULL;
  g_autofree gchar *key = NULL;

  req->timeout_id = 0;
  if (g_hash_table_steal_extended (self->pending, req->token, (gpointer *) &key,
                                   (gpointer *) &owned))
    g_task_return_new_error (owned, G_IO_ERROR, G_IO_ERROR_TIMED_OUT, "no reply in time");
  return G_SOURCE_REMOVE;
}

void
we_nats_request_async (WeNatsRequester *self, const gchar *subject, JsonObject *payload,
                       guint timeout_ms, GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *reply = NULL;
  WeNatsRequest *req;

  g_return_if_fail (WE_IS_NATS_REQUESTER (self));

  task = g_task_new (self, NULL, callback, user_data);
  g_task_set_source_tag (task, we_nats_request_async);
  if (self->sub == NULL) {
    g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CLOSED, "the requester is closed");
    return;
  }
  req = g_new0 (WeNatsRequest, 1);
  req->token = g_strdup_printf ("%" G_GUINT64_FORMAT, ++self->next_token);
  g_task_set_task_data (task, req, (GDestroyNotify) we_nats_request_free);
  reply = g_strdup_printf ("%s.%s", self->inbox, req->token);
  if (!we_nats_publish_json (self->nc, subject, reply, payload, &error)) {
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }
  /* the timeout holds no reference: the table does, until one side wins */
  req->timeout_id = g_timeout_add (timeout_ms, we_nats_request_timeout_cb, task);
  g_hash_table_insert (self->pending, g_strdup (req->token), g_steal_pointer (&task));
}

JsonObject *
we_nats_request_finish (WeNatsRequester *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

void
we_nats_requester_close (WeNatsRequester *self)
{
  GHashTableIter iter;
  gpointer value;
  g_autoptr(GPtrArray) tasks = g_ptr_array_new_with_free_func (g_object_unref);

  g_return_if_fail (WE_IS_NATS_REQUESTER (self));

  g_clear_pointer (&self->sub, we_nats_unsubscribe);
  /* the callbacks may start new requests: empty the table before any runs */
  g_hash_table_iter_init (&iter, self->pending);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    g_ptr_array_add (tasks, g_object_ref (value));
  g_hash_table_remove_all (self->pending);
  for (guint i = 0; i < tasks->len; i++) {
    GTask *task = g_ptr_array_index (tasks, i);
    WeNatsRequest *req = g_task_get_task_data (task);

    g_clear_handle_id (&req->timeout_id, g_source_remove);
    g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CANCELLED, "the requester was closed");
  }
}

static void
we_nats_requester_dispose (GObject *object)
{
  WeNatsRequester *self = WE_NATS_REQUESTER (object);

  g_clear_pointer (&self->sub, we_nats_unsubscribe);
  G_OBJECT_CLASS (we_nats_requester_parent_class)->dispose (object);
}

static void
we_nats_requester_finalize (GObject *object)
{
  WeNatsRequester *self = WE_NATS_REQUESTER (object);

  g_hash_table_unref (self->pending);
  g_clear_pointer (&self->bridge, we_nats_bridge_unref);
  g_free (self->inbox);
  G_OBJECT_CLASS (we_nats_requester_parent_class)->finalize (object);
}

static void
we_nats_requester_class_init (WeNatsRequesterClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = we_nats_requester_dispose;
  object_class->finalize = we_nats_requester_finalize;
}

static void
we_nats_requester_init (WeNatsRequester *self)
{
  self->pending = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);
}

WeNatsRequester *
we_nats_requester_new (natsConnection *nc, GError **error)
{
  g_autoptr(WeNatsRequester) self = g_object_new (WE_TYPE_NATS_REQUESTER, NULL);
  g_autofree gchar *wildcard = NULL;
  natsInbox *inbox = NULL;
  natsStatus s;

  s = natsInbox_Create (&inbox);
  if (s != NATS_OK) {
    we_nats_set_error (error, s, "creating an inbox");
    return NULL;
  }
  self->nc = nc;
  self->inbox = g_strdup (inbox);
  natsInbox_Destroy (inbox);
  self->bridge = we_nats_bridge_new (G_OBJECT (self), NULL);
  wildcard = g_strdup_printf ("%s.*", self->inbox);
  self->sub = we_nats_subscribe (nc, wildcard, self->bridge, we_nats_requester_reply_cb, error);
  if (self->sub == NULL)
    return NULL;
  return g_steal_pointer (&self);
}
