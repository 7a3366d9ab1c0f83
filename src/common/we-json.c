/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "we-json.h"

static JsonNode *
member (JsonObject *obj, const gchar *name)
{
  return obj != NULL ? json_object_get_member (obj, name) : NULL;
}

static gboolean
holds_value_of (JsonNode *node, GType type)
{
  return node != NULL && JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == type;
}

const gchar *
we_json_get_string (JsonObject *obj, const gchar *name)
{
  JsonNode *node = member (obj, name);

  return holds_value_of (node, G_TYPE_STRING) ? json_node_get_string (node) : NULL;
}

gint64
we_json_get_int (JsonObject *obj, const gchar *name, gint64 def)
{
  JsonNode *node = member (obj, name);

  if (holds_value_of (node, G_TYPE_INT64))
    return json_node_get_int (node);
  if (holds_value_of (node, G_TYPE_DOUBLE))
    return (gint64) json_node_get_double (node);
  return def;
}

gdouble
we_json_get_double (JsonObject *obj, const gchar *name, gdouble def)
{
  JsonNode *node = member (obj, name);

  if (holds_value_of (node, G_TYPE_INT64) || holds_value_of (node, G_TYPE_DOUBLE))
    return json_node_get_double (node);
  return def;
}

gboolean
we_json_get_bool (JsonObject *obj, const gchar *name, gboolean def)
{
  JsonNode *node = member (obj, name);

  return holds_value_of (node, G_TYPE_BOOLEAN) ? json_node_get_boolean (node) : def;
}

JsonObject *
we_json_get_object (JsonObject *obj, const gchar *name)
{
  JsonNode *node = member (obj, name);

  return node != NULL && JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
}

JsonArray *
we_json_get_array (JsonObject *obj, const gchar *name)
{
  JsonNode *node = member (obj, name);

  return node != NULL && JSON_NODE_HOLDS_ARRAY (node) ? json_node_get_array (node) : NULL;
}
