/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "webencode/we-media-info.h"
#include "webencode/we-error.h"

G_DEFINE_BOXED_TYPE (WeMediaInfo, we_media_info, we_media_info_copy, we_media_info_free)

WeMediaInfo *
we_media_info_new (void)
{
  return g_new0 (WeMediaInfo, 1);
}

WeMediaInfo *
we_media_info_copy (const WeMediaInfo *self)
{
  WeMediaInfo *copy = g_new0 (WeMediaInfo, 1);

  *copy = *self;
  copy->container = g_strdup (self->container);
  copy->video_codec = g_strdup (self->video_codec);
  copy->audio_codec = g_strdup (self->audio_codec);
  return copy;
}

void
we_media_info_free (WeMediaInfo *self)
{
  if (self == NULL)
    return;
  g_free (self->container);
  g_free (self->video_codec);
  g_free (self->audio_codec);
  g_free (self);
}

JsonObject *
we_media_info_to_json (const WeMediaInfo *self)
{
  JsonObject *o = json_object_new ();

  json_object_set_double_member (o, "duration_s", self->duration_s);
  json_object_set_string_member (o, "container", self->container);
  json_object_set_boolean_member (o, "has_video", self->has_video);
  json_object_set_boolean_member (o, "has_audio", self->has_audio);
  json_object_set_string_member (o, "video_codec", self->video_codec);
  json_object_set_int_member (o, "width", self->width);
  json_object_set_int_member (o, "height", self->height);
  json_object_set_int_member (o, "fps_n", self->fps_n);
  json_object_set_int_member (o, "fps_d", self->fps_d);
  json_object_set_string_member (o, "audio_codec", self->audio_codec);
  json_object_set_int_member (o, "audio_channels", self->audio_channels);
  json_object_set_int_member (o, "audio_rate", self->audio_rate);
  json_object_set_int_member (o, "bitrate", (gint64) self->bitrate);
  json_object_set_int_member (o, "size_bytes", (gint64) self->size_bytes);
  return o;
}

static const gchar *
get_str (JsonObject *o, const gchar *key)
{
  JsonNode *n = json_object_get_member (o, key);
  if (n == NULL || !JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (n);
}

static gint64
get_int (JsonObject *o, const gchar *key)
{
  JsonNode *n = json_object_get_member (o, key);
  if (n == NULL || !JSON_NODE_HOLDS_VALUE (n))
    return 0;
  if (json_node_get_value_type (n) == G_TYPE_INT64)
    return json_node_get_int (n);
  if (json_node_get_value_type (n) == G_TYPE_DOUBLE)
    return (gint64) json_node_get_double (n);
  return 0;
}

WeMediaInfo *
we_media_info_new_from_json (JsonObject *o, GError **error)
{
  g_autoptr(WeMediaInfo) self = we_media_info_new ();
  JsonNode *n;

  if (o == NULL) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_SYS_INTERNAL, "media info missing");
    return NULL;
  }
  n = json_object_get_member (o, "duration_s");
  if (n != NULL && JSON_NODE_HOLDS_VALUE (n))
    self->duration_s = json_node_get_double (n);
  self->container = g_strdup (get_str (o, "container"));
  self->has_video = json_object_get_boolean_member_with_default (o, "has_video", FALSE);
  self->has_audio = json_object_get_boolean_member_with_default (o, "has_audio", FALSE);
  self->video_codec = g_strdup (get_str (o, "video_codec"));
  self->width = (gint) get_int (o, "width");
  self->height = (gint) get_int (o, "height");
  self->fps_n = (gint) get_int (o, "fps_n");
  self->fps_d = (gint) get_int (o, "fps_d");
  self->audio_codec = g_strdup (get_str (o, "audio_codec"));
  self->audio_channels = (gint) get_int (o, "audio_channels");
  self->audio_rate = (gint) get_int (o, "audio_rate");
  self->bitrate = (guint64) get_int (o, "bitrate");
  self->size_bytes = (guint64) get_int (o, "size_bytes");
  return g_steal_pointer (&self);
}
