/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "webencode/we-encoder.h"

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
