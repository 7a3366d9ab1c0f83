/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "we-worker-protocol.h"

#include <webencode/we-error.h>

JsonObject *
we_worker_msg_parse (const gchar *line, gsize length, GError **error)
{
  g_autoptr(JsonParser) parser = json_parser_new_immutable ();
  JsonNode *root;
  JsonObject *obj;
  JsonNode *type;

  if (length > WE_WORKER_MAX_LINE) {
    g_set_error (error, WE_ERROR, WE_ERROR_WRK_COMMUNICATION,
                 "worker message of %" G_GSIZE_FORMAT " bytes exceeds the limit", length);
    return NULL;
  }
  if (!json_parser_load_from_data (parser, line, (gssize) length, error)) {
    g_prefix_error (error, "malformed worker message: ");
    return NULL;
  }
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root)) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_WRK_COMMUNICATION,
                         "worker message is not a JSON object");
    return NULL;
  }
  obj = json_node_get_object (root);
  type = json_object_get_member (obj, "type");
  if (type == NULL || !JSON_NODE_HOLDS_VALUE (type) ||
      json_node_get_value_type (type) != G_TYPE_STRING || *json_node_get_string (type) == '\0') {
    /* found by libFuzzer: an empty type would pass for a message of no kind */
    g_set_error_literal (error, WE_ERROR, WE_ERROR_WRK_COMMUNICATION,
                         "worker message has no \"type\"");
    return NULL;
  }
  return json_object_ref (obj);
}

gchar *
we_worker_msg_serialize (JsonObject *msg)
{
  g_autoptr(JsonNode) node = json_node_init_object (json_node_alloc (), msg);
  g_autofree gchar *text = json_to_string (node, FALSE);

  /* json_to_string never emits raw newlines when not pretty-printing */
  return g_strconcat (text, "\n", NULL);
}

const gchar *
we_worker_msg_type (JsonObject *msg)
{
  return json_object_get_string_member_with_default (msg, "type", "");
}

gboolean
we_worker_msg_type_is_final (const gchar *type)
{
  return g_strcmp0 (type, "done") == 0 || g_strcmp0 (type, "failed") == 0 ||
         g_strcmp0 (type, "cancelled") == 0;
}
