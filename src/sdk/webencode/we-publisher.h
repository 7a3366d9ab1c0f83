/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Pillar 5: publishing to external platforms (spec §7.5). Declared now so the
 * SDK is complete; youtube/rtmp implementations arrive with publishing.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct {
  const gchar *local_object_url;
  const gchar *title;
  const gchar *description;
  const gchar *platform;
  const gchar *privacy;
  const gchar *const *tags;
} WePublishRequest;

typedef struct {
  gboolean success;
  gchar   *public_url;
  gchar   *platform_id;
} WePublishResult;

void we_publish_result_free (WePublishResult *result);

#define WE_TYPE_PUBLISHER (we_publisher_get_type ())
G_DECLARE_INTERFACE (WePublisher, we_publisher, WE, PUBLISHER, GObject)

struct _WePublisherInterface {
  GTypeInterface parent_iface;

  void             (*publish_vod_async)  (WePublisher            *self,
                                          const WePublishRequest *request,
                                          GCancellable           *cancellable,
                                          GAsyncReadyCallback     callback,
                                          gpointer                user_data);
  WePublishResult *(*publish_vod_finish) (WePublisher  *self,
                                          GAsyncResult *result,
                                          GError      **error);
  gboolean         (*update_metadata)    (WePublisher            *self,
                                          const gchar            *platform_id,
                                          const WePublishRequest *request,
                                          GError                **error);

  gpointer padding[12];
};

void             we_publisher_publish_vod_async  (WePublisher *self, const WePublishRequest *request,
                                                  GCancellable *cancellable,
                                                  GAsyncReadyCallback callback, gpointer user_data);
/* Returns: (transfer full) (nullable) */
WePublishResult *we_publisher_publish_vod_finish (WePublisher *self, GAsyncResult *result,
                                                  GError **error);
gboolean         we_publisher_update_metadata    (WePublisher *self, const gchar *platform_id,
                                                  const WePublishRequest *request, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WePublishResult, we_publish_result_free)

G_END_DECLS
