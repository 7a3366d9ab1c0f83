/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "webencode/we-plugin.h"

static const gchar *pillar_names[WE_PILLAR_LAST] = {
  [WE_PILLAR_AUTH] = "auth",
  [WE_PILLAR_STORAGE] = "storage",
  [WE_PILLAR_ENCODER] = "encoder",
  [WE_PILLAR_LIVE] = "live",
  [WE_PILLAR_PUBLISHER] = "publisher",
};

const gchar *
we_pillar_type_to_string (WePillarType type)
{
  if ((guint) type >= WE_PILLAR_LAST)
    return "unknown";
  return pillar_names[type];
}

gboolean
we_pillar_type_from_string (const gchar *str, WePillarType *type)
{
  for (guint i = 0; i < WE_PILLAR_LAST; i++) {
    if (g_strcmp0 (pillar_names[i], str) == 0) {
      *type = (WePillarType) i;
      return TRUE;
    }
  }
  return FALSE;
}

GType
we_pillar_type_get_gtype (WePillarType type)
{
  switch (type) {
  case WE_PILLAR_AUTH:
    return WE_TYPE_AUTH_PROVIDER;
  case WE_PILLAR_STORAGE:
    return WE_TYPE_STORAGE;
  case WE_PILLAR_ENCODER:
    return WE_TYPE_ENCODER;
  case WE_PILLAR_LIVE:
    return WE_TYPE_LIVE_ENGINE;
  case WE_PILLAR_PUBLISHER:
    return WE_TYPE_PUBLISHER;
  case WE_PILLAR_LAST:
  default:
    return G_TYPE_INVALID;
  }
}

const gchar *
we_plugin_config_get_string (JsonObject *config, const gchar *key, const gchar *default_value)
{
  JsonNode *node;

  if (config == NULL || (node = json_object_get_member (config, key)) == NULL)
    return default_value;
  if (JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING)
    return json_node_get_string (node);
  return default_value;
}

gint64
we_plugin_config_get_int (JsonObject *config, const gchar *key, gint64 default_value)
{
  JsonNode *node;

  if (config == NULL || (node = json_object_get_member (config, key)) == NULL ||
      !JSON_NODE_HOLDS_VALUE (node))
    return default_value;
  if (json_node_get_value_type (node) == G_TYPE_INT64)
    return json_node_get_int (node);
  if (json_node_get_value_type (node) == G_TYPE_STRING) {
    gint64 v;
    if (g_ascii_string_to_signed (json_node_get_string (node), 10, G_MININT64, G_MAXINT64, &v,
                                  NULL))
      return v;
  }
  return default_value;
}

gboolean
we_plugin_config_get_boolean (JsonObject *config, const gchar *key, gboolean default_value)
{
  JsonNode *node;

  if (config == NULL || (node = json_object_get_member (config, key)) == NULL ||
      !JSON_NODE_HOLDS_VALUE (node))
    return default_value;
  if (json_node_get_value_type (node) == G_TYPE_BOOLEAN)
    return json_node_get_boolean (node);
  if (json_node_get_value_type (node) == G_TYPE_STRING) {
    const gchar *s = json_node_get_string (node);
    if (g_ascii_strcasecmp (s, "true") == 0 || g_strcmp0 (s, "1") == 0)
      return TRUE;
    if (g_ascii_strcasecmp (s, "false") == 0 || g_strcmp0 (s, "0") == 0)
      return FALSE;
  }
  return default_value;
}

gchar **
we_plugin_config_get_strv (JsonObject *config, const gchar *key)
{
  JsonNode *node;
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();

  if (config == NULL || (node = json_object_get_member (config, key)) == NULL)
    return NULL;
  if (JSON_NODE_HOLDS_ARRAY (node)) {
    JsonArray *array = json_node_get_array (node);
    for (guint i = 0; i < json_array_get_length (array); i++) {
      JsonNode *el = json_array_get_element (array, i);
      if (JSON_NODE_HOLDS_VALUE (el) && json_node_get_value_type (el) == G_TYPE_STRING)
        g_strv_builder_add (builder, json_node_get_string (el));
    }
  } else if (JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING) {
    g_auto(GStrv) parts = g_strsplit_set (json_node_get_string (node), ";,", -1);
    for (guint i = 0; parts[i] != NULL; i++) {
      g_strstrip (parts[i]);
      if (parts[i][0] != '\0')
        g_strv_builder_add (builder, parts[i]);
    }
  } else {
    return NULL;
  }
  return g_strv_builder_end (builder);
}
