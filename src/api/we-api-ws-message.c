/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Client frames of the dashboard WebSocket, parsed apart from the hub so the
 * fuzzer (tests/fuzz/fuzz-ws-message.c) reaches them without a server.
 */
#include <string.h>

#include "we-api-ws-message.h"

/* ids and topics are echoed back and used as hash keys: keep them short */
#define MAX_FIELD 256

void
we_ws_message_free (WeWsMessage *message)
{
  if (message == NULL)
    return;
  g_free (message->topic);
  g_free (message->id);
  g_free (message);
}

static gboolean
get_string (JsonObject *object, const gchar *name, gboolean required, const gchar **out,
            GError **error)
{
  JsonNode *node = json_object_get_member (object, name);

  *out = NULL;
  if (node == NULL || (!required && JSON_NODE_HOLDS_NULL (node))) {
    if (!required)
      return TRUE;
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST, "\"%s\" is required", name);
    return FALSE;
  }
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST, "\"%s\" must be a string", name);
    return FALSE;
  }
  *out = json_node_get_string (node);
  if (strlen (*out) > MAX_FIELD || (required && **out == '\0')) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                 "\"%s\" must have 1 to %d characters", name, MAX_FIELD);
    return FALSE;
  }
  return TRUE;
}

WeWsMessage *
we_ws_message_parse (const guint8 *data, gsize size, GError **error)
{
  g_autoptr(JsonParser) parser = json_parser_new_immutable ();
  g_autoptr(WeWsMessage) message = g_new0 (WeWsMessage, 1);
  g_autoptr(GError) json_error = NULL;
  JsonNode *root;
  JsonObject *object;
  const gchar *type = NULL;
  const gchar *id = NULL;
  const gchar *topic = NULL;

  if (size > WE_WS_MAX_MESSAGE) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                 "messages are limited to %d bytes", WE_WS_MAX_MESSAGE);
    return NULL;
  }
  /* json-glib wants UTF-8 and stops at a NUL: refuse both up front */
  if (!g_utf8_validate ((const gchar *) data, (gssize) size, NULL)) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                         "the message is not UTF-8 text");
    return NULL;
  }
  if (!json_parser_load_from_data (parser, (const gchar *) data, (gssize) size, &json_error)) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST, "the message is not JSON: %s",
                 json_error->message);
    return NULL;
  }
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root)) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                         "the message must be a JSON object");
    return NULL;
  }
  object = json_node_get_object (root);
  if (!get_string (object, "type", TRUE, &type, error) ||
      !get_string (object, "id", FALSE, &id, error))
    return NULL;
  if (g_str_equal (type, "subscribe"))
    message->type = WE_WS_MESSAGE_SUBSCRIBE;
  else if (g_str_equal (type, "unsubscribe"))
    message->type = WE_WS_MESSAGE_UNSUBSCRIBE;
  else if (g_str_equal (type, "ping"))
    message->type = WE_WS_MESSAGE_PING;
  else {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                 "unknown message type \"%.64s\"", type);
    return NULL;
  }
  if (message->type != WE_WS_MESSAGE_PING) {
    if (!get_string (object, "topic", TRUE, &topic, error))
      return NULL;
    message->topic = g_strdup (topic);
  }
  message->id = g_strdup (id);
  return g_steal_pointer (&message);
}

const gchar *
we_ws_topic_action (const gchar *topic, const gchar **object_id, GError **error)
{
  const gchar *id = NULL;
  const gchar *action = NULL;

  if (g_strcmp0 (topic, "jobs") == 0 || g_strcmp0 (topic, "dashboard") == 0) {
    action = "job.read";
  } else if (g_strcmp0 (topic, "workers") == 0) {
    action = "worker.read";
  } else if (topic != NULL && g_str_has_prefix (topic, "job:") && topic[4] != '\0') {
    action = "job.read";
    id = topic + 4;
  } else if (topic != NULL && g_str_has_prefix (topic, "worker:") && topic[7] != '\0') {
    action = "worker.read";
    id = topic + 7;
  } else if (topic != NULL && g_str_has_prefix (topic, "stream:") && topic[7] != '\0') {
    action = "stream.read";
    id = topic + 7;
  } else if (topic != NULL && g_str_has_prefix (topic, "restream:") && topic[9] != '\0') {
    action = "restream.read";
    id = topic + 9;
  }
  if (action == NULL) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                 "unknown topic \"%.64s\"; use jobs, job:<id>, dashboard, workers, "
                 "worker:<id>, stream:<id> or restream:<id>", topic != NULL ? topic : "");
    return NULL;
  }
  if (object_id != NULL)
    *object_id = id;
  return action;
}
