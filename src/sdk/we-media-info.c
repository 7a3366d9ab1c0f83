/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "webencode/we-media-info.h"
#include "webencode/we-error.h"

G_DEFINE_BOXED_TYPE (WeMediaInfo, we_media_info, we_media_info_copy, we_media_info_free)
G_DEFINE_BOXED_TYPE (WeMediaTrack, we_media_track, we_media_track_copy, we_media_track_free)

WeMediaTrack *
we_media_track_new (void)
{
  return g_new0 (WeMediaTrack, 1);
}

WeMediaTrack *
we_media_track_copy (const WeMediaTrack *self)
{
  WeMediaTrack *copy = g_new0 (WeMediaTrack, 1);

  *copy = *self;
  copy->codec = g_strdup (self->codec);
  copy->language = g_strdup (self->language);
  copy->title = g_strdup (self->title);
  return copy;
}

void
we_media_track_free (WeMediaTrack *self)
{
  if (self == NULL)
    return;
  g_free (self->codec);
  g_free (self->language);
  g_free (self->title);
  g_free (self);
}

gboolean
we_media_track_codec_is_text (const gchar *codec)
{
  static const gchar * const text[] = { "text", "ass", "webvtt", "ttml", NULL };

  return codec != NULL && g_strv_contains (text, codec);
}

static GPtrArray *
tracks_copy (const GPtrArray *tracks)
{
  GPtrArray *copy;

  if (tracks == NULL)
    return NULL;
  copy = g_ptr_array_new_full (tracks->len, (GDestroyNotify) we_media_track_free);
  for (guint i = 0; i < tracks->len; i++)
    g_ptr_array_add (copy, we_media_track_copy (g_ptr_array_index (tracks, i)));
  return copy;
}

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
  copy->audio_tracks = tracks_copy (self->audio_tracks);
  copy->subtitle_tracks = tracks_copy (self->subtitle_tracks);
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
  g_clear_pointer (&self->audio_tracks, g_ptr_array_unref);
  g_clear_pointer (&self->subtitle_tracks, g_ptr_array_unref);
  g_free (self);
}

static JsonArray *
tracks_to_json (const GPtrArray *tracks, gboolean audio)
{
  JsonArray *array = json_array_new ();

  for (guint i = 0; i < tracks->len; i++) {
    const WeMediaTrack *t = g_ptr_array_index (tracks, i);
    JsonObject *o = json_object_new ();

    json_object_set_int_member (o, "index", t->index);
    json_object_set_string_member (o, "codec", t->codec);
    json_object_set_string_member (o, "language", t->language);
    json_object_set_string_member (o, "title", t->title);
    if (audio) {
      json_object_set_int_member (o, "channels", t->channels);
      json_object_set_int_member (o, "rate", t->rate);
    }
    json_array_add_object_element (array, o);
  }
  return array;
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
  if (self->audio_tracks != NULL)
    json_object_set_array_member (o, "audio_tracks", tracks_to_json (self->audio_tracks, TRUE));
  if (self->subtitle_tracks != NULL)
    json_object_set_array_member (o, "subtitle_tracks",
                                  tracks_to_json (self->subtitle_tracks, FALSE));
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

/* NULL when @key is absent (an older worker); elements that are not
 * objects are skipped rather than failing the whole media info */
static GPtrArray *
tracks_from_json (JsonObject *o, const gchar *key)
{
  JsonNode *n = json_object_get_member (o, key);
  JsonArray *array;
  GPtrArray *tracks;

  if (n == NULL || !JSON_NODE_HOLDS_ARRAY (n))
    return NULL;
  array = json_node_get_array (n);
  tracks = g_ptr_array_new_with_free_func ((GDestroyNotify) we_media_track_free);
  for (guint i = 0; i < json_array_get_length (array); i++) {
    JsonNode *e = json_array_get_element (array, i);
    JsonObject *to;
    WeMediaTrack *t;

    if (!JSON_NODE_HOLDS_OBJECT (e))
      continue;
    to = json_node_get_object (e);
    t = we_media_track_new ();
    t->index = (gint) get_int (to, "index");
    t->codec = g_strdup (get_str (to, "codec"));
    t->language = g_strdup (get_str (to, "language"));
    t->title = g_strdup (get_str (to, "title"));
    t->channels = (gint) get_int (to, "channels");
    t->rate = (gint) get_int (to, "rate");
    g_ptr_array_add (tracks, t);
  }
  return tracks;
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
  self->audio_tracks = tracks_from_json (o, "audio_tracks");
  self->subtitle_tracks = tracks_from_json (o, "subtitle_tracks");
  return g_steal_pointer (&self);
}
