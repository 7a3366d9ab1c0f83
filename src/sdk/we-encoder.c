/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "webencode/we-encoder.h"
#include "webencode/we-error.h"

G_DEFINE_INTERFACE (WeEncoder, we_encoder, G_TYPE_OBJECT)

static void
we_encoder_default_init (WeEncoderInterface *iface)
{
}

void
we_encoder_get_capabilities (WeEncoder *self, WeEncoderCapabilities *caps)
{
  g_return_if_fail (WE_IS_ENCODER (self));
  memset (caps, 0, sizeof (*caps));
  if (WE_ENCODER_GET_IFACE (self)->get_capabilities != NULL)
    WE_ENCODER_GET_IFACE (self)->get_capabilities (self, caps);
}

void
we_encoder_capabilities_clear (WeEncoderCapabilities *caps)
{
  g_clear_pointer (&caps->video_codecs, g_strfreev);
  g_clear_pointer (&caps->audio_codecs, g_strfreev);
  g_clear_pointer (&caps->gpu_type, g_free);
}

void
we_encoder_probe_async (WeEncoder *self, const gchar *uri, GCancellable *cancellable,
                        GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail (WE_IS_ENCODER (self));
  WE_ENCODER_GET_IFACE (self)->probe_async (self, uri, cancellable, callback, user_data);
}

WeMediaInfo *
we_encoder_probe_finish (WeEncoder *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (WE_IS_ENCODER (self), NULL);
  return WE_ENCODER_GET_IFACE (self)->probe_finish (self, result, error);
}

void
we_encoder_transcode_async (WeEncoder *self, const WeEncodeRequest *request,
                            WeEncodeProgressFunc progress, gpointer progress_data,
                            GCancellable *cancellable, GAsyncReadyCallback callback,
                            gpointer user_data)
{
  g_return_if_fail (WE_IS_ENCODER (self));
  WE_ENCODER_GET_IFACE (self)->transcode_async (self, request, progress, progress_data,
                                                cancellable, callback, user_data);
}

gboolean
we_encoder_transcode_finish (WeEncoder *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (WE_IS_ENCODER (self), FALSE);
  return WE_ENCODER_GET_IFACE (self)->transcode_finish (self, result, error);
}

gchar *
we_encoder_describe (WeEncoder *self, const WeEncodeRequest *request)
{
  g_return_val_if_fail (WE_IS_ENCODER (self), NULL);
  if (WE_ENCODER_GET_IFACE (self)->describe == NULL)
    return NULL;
  return WE_ENCODER_GET_IFACE (self)->describe (self, request);
}

gboolean
we_encoder_can_split (WeEncoder *self)
{
  WeEncoderInterface *iface;

  g_return_val_if_fail (WE_IS_ENCODER (self), FALSE);
  iface = WE_ENCODER_GET_IFACE (self);
  return iface->scan_async != NULL && iface->stitch_async != NULL;
}

void
we_encoder_scan_async (WeEncoder *self, const gchar *uri, GCancellable *cancellable,
                       GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail (WE_IS_ENCODER (self));
  if (WE_ENCODER_GET_IFACE (self)->scan_async == NULL) {
    g_task_report_new_error (self, callback, user_data, we_encoder_scan_async, G_IO_ERROR,
                             G_IO_ERROR_NOT_SUPPORTED, "%s cannot scan keyframes",
                             G_OBJECT_TYPE_NAME (self));
    return;
  }
  WE_ENCODER_GET_IFACE (self)->scan_async (self, uri, cancellable, callback, user_data);
}

WeKeyframeIndex *
we_encoder_scan_finish (WeEncoder *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (WE_IS_ENCODER (self), NULL);
  if (g_async_result_is_tagged (result, we_encoder_scan_async))
    return g_task_propagate_pointer (G_TASK (result), error);
  return WE_ENCODER_GET_IFACE (self)->scan_finish (self, result, error);
}

void
we_encoder_stitch_async (WeEncoder *self, const WeStitchRequest *request,
                         GCancellable *cancellable, GAsyncReadyCallback callback,
                         gpointer user_data)
{
  g_return_if_fail (WE_IS_ENCODER (self));
  if (WE_ENCODER_GET_IFACE (self)->stitch_async == NULL) {
    g_task_report_new_error (self, callback, user_data, we_encoder_stitch_async, G_IO_ERROR,
                             G_IO_ERROR_NOT_SUPPORTED, "%s cannot stitch",
                             G_OBJECT_TYPE_NAME (self));
    return;
  }
  WE_ENCODER_GET_IFACE (self)->stitch_async (self, request, cancellable, callback, user_data);
}

gboolean
we_encoder_stitch_finish (WeEncoder *self, GAsyncResult *result, WeStitchReport *report,
                          GError **error)
{
  g_return_val_if_fail (WE_IS_ENCODER (self), FALSE);
  if (report != NULL)
    memset (report, 0, sizeof (*report));
  if (g_async_result_is_tagged (result, we_encoder_stitch_async))
    return g_task_propagate_boolean (G_TASK (result), error);
  return WE_ENCODER_GET_IFACE (self)->stitch_finish (self, result, report, error);
}

WeKeyframeIndex *
we_keyframe_index_new (void)
{
  WeKeyframeIndex *index = g_new0 (WeKeyframeIndex, 1);

  index->keyframes_s = g_array_new (FALSE, FALSE, sizeof (gdouble));
  index->gop_frames = g_array_new (FALSE, FALSE, sizeof (guint));
  index->fps_d = 1;
  return index;
}

void
we_keyframe_index_free (WeKeyframeIndex *index)
{
  if (index == NULL)
    return;
  g_clear_pointer (&index->keyframes_s, g_array_unref);
  g_clear_pointer (&index->gop_frames, g_array_unref);
  g_free (index);
}

JsonObject *
we_keyframe_index_to_json (const WeKeyframeIndex *index)
{
  JsonObject *o = json_object_new ();
  JsonArray *kf = json_array_new ();

  json_object_set_double_member (o, "duration_s", index->duration_s);
  for (guint i = 0; i < index->keyframes_s->len; i++)
    json_array_add_double_element (kf, g_array_index (index->keyframes_s, gdouble, i));
  json_object_set_array_member (o, "keyframes_s", kf);
  if (index->gop_frames->len == index->keyframes_s->len) {
    JsonArray *gops = json_array_new ();
    for (guint i = 0; i < index->gop_frames->len; i++)
      json_array_add_int_element (gops, g_array_index (index->gop_frames, guint, i));
    json_object_set_array_member (o, "gop_frames", gops);
  }
  json_object_set_int_member (o, "video_frames", (gint64) index->video_frames);
  json_object_set_boolean_member (o, "has_audio", index->has_audio);
  json_object_set_double_member (o, "audio_start_s", index->audio_start_s);
  json_object_set_double_member (o, "audio_duration_s", index->audio_duration_s);
  json_object_set_int_member (o, "fps_n", index->fps_n);
  json_object_set_int_member (o, "fps_d", index->fps_d);
  return o;
}

static gdouble
member_double (JsonObject *o, const gchar *name)
{
  JsonNode *n = json_object_get_member (o, name);

  if (n == NULL || !JSON_NODE_HOLDS_VALUE (n))
    return 0;
  if (json_node_get_value_type (n) == G_TYPE_INT64)
    return (gdouble) json_node_get_int (n);
  if (json_node_get_value_type (n) == G_TYPE_DOUBLE)
    return json_node_get_double (n);
  return 0;
}

WeKeyframeIndex *
we_keyframe_index_new_from_json (JsonObject *o, GError **error)
{
  g_autoptr(WeKeyframeIndex) index = we_keyframe_index_new ();
  JsonNode *kf = o ? json_object_get_member (o, "keyframes_s") : NULL;
  JsonNode *gops;
  gdouble last = -1;

  if (kf == NULL || !JSON_NODE_HOLDS_ARRAY (kf)) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_WRK_COMMUNICATION,
                         "keyframe index without keyframes_s");
    return NULL;
  }
  gops = json_object_get_member (o, "gop_frames");
  if (gops != NULL && (!JSON_NODE_HOLDS_ARRAY (gops) ||
                       json_array_get_length (json_node_get_array (gops)) !=
                           json_array_get_length (json_node_get_array (kf))))
    gops = NULL; /* unusable: verify without per-range counts */
  for (guint i = 0; i < json_array_get_length (json_node_get_array (kf)); i++) {
    JsonNode *el = json_array_get_element (json_node_get_array (kf), i);
    gdouble t;
    guint frames = 0;
    if (!JSON_NODE_HOLDS_VALUE (el)) {
      g_set_error_literal (error, WE_ERROR, WE_ERROR_WRK_COMMUNICATION,
                           "keyframe index holds a non-number");
      return NULL;
    }
    t = json_node_get_double (el);
    if (gops != NULL) {
      JsonNode *g = json_array_get_element (json_node_get_array (gops), i);
      frames = JSON_NODE_HOLDS_VALUE (g) ? (guint) MAX (json_node_get_int (g), 0) : 0;
    }
    /* the planner relies on strictly ascending times; a repeated time folds
     * its frames into the keyframe before it */
    if (t <= last) {
      if (gops != NULL && index->gop_frames->len > 0)
        g_array_index (index->gop_frames, guint, index->gop_frames->len - 1) += frames;
      continue;
    }
    g_array_append_val (index->keyframes_s, t);
    if (gops != NULL)
      g_array_append_val (index->gop_frames, frames);
    last = t;
  }
  index->duration_s = member_double (o, "duration_s");
  index->video_frames = (guint64) member_double (o, "video_frames");
  index->has_audio = json_object_get_boolean_member_with_default (o, "has_audio", FALSE);
  index->audio_start_s = member_double (o, "audio_start_s");
  index->audio_duration_s = member_double (o, "audio_duration_s");
  index->fps_n = (gint) member_double (o, "fps_n");
  index->fps_d = MAX (1, (gint) member_double (o, "fps_d"));
  return g_steal_pointer (&index);
}

gboolean
we_encoder_can_package (WeEncoder *self)
{
  g_return_val_if_fail (WE_IS_ENCODER (self), FALSE);
  return WE_ENCODER_GET_IFACE (self)->package_async != NULL;
}

void
we_encoder_package_async (WeEncoder *self, const WePackageRequest *request,
                          WeEncodeProgressFunc progress, gpointer progress_data,
                          GCancellable *cancellable, GAsyncReadyCallback callback,
                          gpointer user_data)
{
  g_return_if_fail (WE_IS_ENCODER (self));
  if (WE_ENCODER_GET_IFACE (self)->package_async == NULL) {
    g_task_report_new_error (self, callback, user_data, we_encoder_package_async, G_IO_ERROR,
                             G_IO_ERROR_NOT_SUPPORTED, "%s cannot package",
                             G_OBJECT_TYPE_NAME (self));
    return;
  }
  WE_ENCODER_GET_IFACE (self)->package_async (self, request, progress, progress_data,
                                              cancellable, callback, user_data);
}

JsonObject *
we_encoder_package_finish (WeEncoder *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (WE_IS_ENCODER (self), NULL);
  if (g_async_result_is_tagged (result, we_encoder_package_async))
    return g_task_propagate_pointer (G_TASK (result), error);
  return WE_ENCODER_GET_IFACE (self)->package_finish (self, result, error);
}
