/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "webencode/we-publisher.h"

G_DEFINE_INTERFACE (WePublisher, we_publisher, G_TYPE_OBJECT)

static void
we_publisher_default_init (WePublisherInterface *iface)
{
}

void
we_publish_result_free (WePublishResult *result)
{
  if (result == NULL)
    return;
  g_free (result->public_url);
  g_free (result->platform_id);
  g_free (result);
}

void
we_publisher_publish_vod_async (WePublisher *self, const WePublishRequest *request,
                                GCancellable *cancellable, GAsyncReadyCallback callback,
                                gpointer user_data)
{
  g_return_if_fail (WE_IS_PUBLISHER (self));
  WE_PUBLISHER_GET_IFACE (self)->publish_vod_async (self, request, cancellable, callback,
                                                    user_data);
}

WePublishResult *
we_publisher_publish_vod_finish (WePublisher *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (WE_IS_PUBLISHER (self), NULL);
  return WE_PUBLISHER_GET_IFACE (self)->publish_vod_finish (self, result, error);
}

gboolean
we_publisher_update_metadata (WePublisher *self, const gchar *platform_id,
                              const WePublishRequest *request, GError **error)
{
  g_return_val_if_fail (WE_IS_PUBLISHER (self), FALSE);
  if (WE_PUBLISHER_GET_IFACE (self)->update_metadata == NULL) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                 "%s cannot update metadata", G_OBJECT_TYPE_NAME (self));
    return FALSE;
  }
  return WE_PUBLISHER_GET_IFACE (self)->update_metadata (self, platform_id, request, error);
}
