/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Pillar 5: publishing to external platforms (spec §7.5). Declared now so the
 * SDK is complete; youtube/rtmp implementations arrive with publishing.
 */
#pragma once

#include <gio/gio.h>

#include "we-storage.h"

G_BEGIN_DECLS

typedef struct {
  const gchar *local_object_url;
  const gchar *title;
  const gchar *description;
  const gchar *platform;
  const gchar *privacy;
  const gchar *const *tags;

  /* ABI minor 6. The caller always allocates the whole struct; a module
   * built against minor 6 is refused by an older host (the descriptor
   * check), so it never reads past the end of an older caller's request. */

  /* (nullable): the storage pillar holding local_object_url and
   * thumbnail_url (we_plugin_host_storage_for_url()); NULL: they are
   * file:// URLs or absolute paths. The module streams from it and never
   * holds the whole object in memory. */
  WeStorage   *storage;
  /* (nullable): a JPEG or PNG set as the video's thumbnail after upload */
  const gchar *thumbnail_url;
  /* (nullable): the platform's category ("22" is People & Blogs on YouTube) */
  const gchar *category_id;
  /* unix seconds when the video goes public; 0: as @privacy says, now */
  gint64       publish_at;
  /* (nullable): called from the module's upload thread, never the main
   * loop, after every acknowledged chunk */
  void       (*progress) (guint64 sent, guint64 total, gpointer user_data);
  gpointer     progress_data;
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
