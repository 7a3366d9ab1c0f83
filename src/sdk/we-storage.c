/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "webencode/we-storage.h"
#include "webencode/we-error.h"

G_DEFINE_INTERFACE (WeStorage, we_storage, G_TYPE_OBJECT)

static void
we_storage_default_init (WeStorageInterface *iface)
{
}

#define NOT_SUPPORTED(error, what)                                          \
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,                 \
               "%s does not support %s", G_OBJECT_TYPE_NAME (self), what)

gboolean
we_storage_handles_url (WeStorage *self, const gchar *url)
{
  g_return_val_if_fail (WE_IS_STORAGE (self), FALSE);
  if (url == NULL || WE_STORAGE_GET_IFACE (self)->handles_url == NULL)
    return FALSE;
  return WE_STORAGE_GET_IFACE (self)->handles_url (self, url);
}

void
we_storage_get_capabilities (WeStorage *self, WeStorageCapabilities *caps)
{
  g_return_if_fail (WE_IS_STORAGE (self));
  memset (caps, 0, sizeof (*caps));
  caps->storage_type = "unknown";
  if (WE_STORAGE_GET_IFACE (self)->get_capabilities != NULL)
    WE_STORAGE_GET_IFACE (self)->get_capabilities (self, caps);
}

gchar *
we_storage_make_url (WeStorage *self, const gchar *key)
{
  g_return_val_if_fail (WE_IS_STORAGE (self), NULL);
  g_return_val_if_fail (WE_STORAGE_GET_IFACE (self)->make_url != NULL, NULL);
  return WE_STORAGE_GET_IFACE (self)->make_url (self, key);
}

gchar *
we_storage_get_media_uri (WeStorage *self, const gchar *url, GError **error)
{
  g_return_val_if_fail (WE_IS_STORAGE (self), NULL);
  if (WE_STORAGE_GET_IFACE (self)->get_media_uri == NULL) {
    NOT_SUPPORTED (error, "media URIs");
    return NULL;
  }
  return WE_STORAGE_GET_IFACE (self)->get_media_uri (self, url, error);
}

gboolean
we_storage_stat (WeStorage *self, const gchar *url, WeObjectInfo *info, GError **error)
{
  g_return_val_if_fail (WE_IS_STORAGE (self), FALSE);
  memset (info, 0, sizeof (*info));
  if (WE_STORAGE_GET_IFACE (self)->stat == NULL) {
    NOT_SUPPORTED (error, "stat");
    return FALSE;
  }
  return WE_STORAGE_GET_IFACE (self)->stat (self, url, info, error);
}

GInputStream *
we_storage_open_read (WeStorage *self, const gchar *url, goffset offset, GError **error)
{
  g_return_val_if_fail (WE_IS_STORAGE (self), NULL);
  if (WE_STORAGE_GET_IFACE (self)->open_read == NULL) {
    NOT_SUPPORTED (error, "reading");
    return NULL;
  }
  return WE_STORAGE_GET_IFACE (self)->open_read (self, url, offset, error);
}

GOutputStream *
we_storage_create (WeStorage *self, const gchar *url, GError **error)
{
  g_return_val_if_fail (WE_IS_STORAGE (self), NULL);
  if (WE_STORAGE_GET_IFACE (self)->create == NULL) {
    NOT_SUPPORTED (error, "writing");
    return NULL;
  }
  return WE_STORAGE_GET_IFACE (self)->create (self, url, error);
}

gboolean
we_storage_delete_object (WeStorage *self, const gchar *url, GError **error)
{
  g_return_val_if_fail (WE_IS_STORAGE (self), FALSE);
  if (WE_STORAGE_GET_IFACE (self)->delete_object == NULL) {
    NOT_SUPPORTED (error, "deleting");
    return FALSE;
  }
  return WE_STORAGE_GET_IFACE (self)->delete_object (self, url, error);
}

gchar *
we_storage_get_signed_url (WeStorage *self, const gchar *url, const gchar *method,
                           gint64 expiry_seconds, GError **error)
{
  g_return_val_if_fail (WE_IS_STORAGE (self), NULL);
  if (WE_STORAGE_GET_IFACE (self)->get_signed_url == NULL) {
    NOT_SUPPORTED (error, "signed URLs");
    return NULL;
  }
  return WE_STORAGE_GET_IFACE (self)->get_signed_url (self, url, method, expiry_seconds, error);
}

GPtrArray *
we_storage_list_objects (WeStorage *self, const gchar *prefix_url, GError **error)
{
  g_return_val_if_fail (WE_IS_STORAGE (self), NULL);
  if (WE_STORAGE_GET_IFACE (self)->list_objects == NULL) {
    NOT_SUPPORTED (error, "listing");
    return NULL;
  }
  return WE_STORAGE_GET_IFACE (self)->list_objects (self, prefix_url, error);
}

GPtrArray *
we_storage_browse_roots (WeStorage *self, GError **error)
{
  g_return_val_if_fail (WE_IS_STORAGE (self), NULL);
  if (WE_STORAGE_GET_IFACE (self)->browse_roots == NULL)
    return g_ptr_array_new_with_free_func ((GDestroyNotify) we_browse_entry_free);
  return WE_STORAGE_GET_IFACE (self)->browse_roots (self, error);
}

WeBrowseResult *
we_storage_browse (WeStorage *self, const gchar *path, const WeBrowseOptions *options,
                   GError **error)
{
  WeBrowseOptions defaults = { 0 };

  g_return_val_if_fail (WE_IS_STORAGE (self), NULL);
  if (WE_STORAGE_GET_IFACE (self)->browse == NULL) {
    NOT_SUPPORTED (error, "browsing");
    return NULL;
  }
  return WE_STORAGE_GET_IFACE (self)->browse (self, path, options ? options : &defaults, error);
}

gboolean
we_storage_upload_file (WeStorage *self, const gchar *local_path, const gchar *url,
                        GCancellable *cancellable, GError **error)
{
  g_autoptr(GFile) file = g_file_new_for_path (local_path);
  g_autoptr(GFileInputStream) in = NULL;
  g_autoptr(GOutputStream) out = NULL;

  in = g_file_read (file, cancellable, error);
  if (in == NULL)
    return FALSE;
  out = we_storage_create (self, url, error);
  if (out == NULL)
    return FALSE;
  /* close (= publish) the object only after every byte arrived: GIO's
   * CLOSE_TARGET would close it even when reading the source failed */
  if (g_output_stream_splice (out, G_INPUT_STREAM (in), G_OUTPUT_STREAM_SPLICE_CLOSE_SOURCE,
                              cancellable, error) < 0 ||
      !g_output_stream_close (out, cancellable, error)) {
    g_prefix_error (error, "uploading %s: ", url);
    return FALSE;
  }
  return TRUE;
}

WeObjectInfo *
we_object_info_new (void)
{
  return g_new0 (WeObjectInfo, 1);
}

void
we_object_info_clear (WeObjectInfo *info)
{
  g_clear_pointer (&info->url, g_free);
  g_clear_pointer (&info->key, g_free);
  g_clear_pointer (&info->etag, g_free);
  g_clear_pointer (&info->content_type, g_free);
}

void
we_object_info_free (WeObjectInfo *info)
{
  if (info == NULL)
    return;
  we_object_info_clear (info);
  g_free (info);
}

WeBrowseEntry *
we_browse_entry_new (void)
{
  return g_new0 (WeBrowseEntry, 1);
}

void
we_browse_entry_free (WeBrowseEntry *entry)
{
  if (entry == NULL)
    return;
  g_free (entry->name);
  g_free (entry->path);
  g_free (entry->url);
  g_free (entry->extension);
  g_free (entry);
}

void
we_browse_entry_classify (WeBrowseEntry *entry)
{
  static const gchar *video[] = { "mp4", "m4v", "mov", "mkv", "webm", "avi", "ts", "mts",
                                  "m2ts", "flv", "wmv", "mpg", "mpeg", "ogv", "3gp", "mxf", NULL };
  static const gchar *audio[] = { "mp3", "aac", "m4a", "wav", "flac", "ogg", "opus", "wma", NULL };
  static const gchar *image[] = { "jpg", "jpeg", "png", "gif", "webp", "bmp", NULL };
  const gchar *dot;

  g_clear_pointer (&entry->extension, g_free);
  entry->is_video = entry->is_audio = entry->is_image = FALSE;
  if (entry->is_directory || entry->name == NULL)
    return;
  dot = strrchr (entry->name, '.');
  if (dot == NULL || dot == entry->name)
    return;
  entry->extension = g_ascii_strdown (dot + 1, -1);
  entry->is_video = g_strv_contains (video, entry->extension);
  entry->is_audio = g_strv_contains (audio, entry->extension);
  entry->is_image = g_strv_contains (image, entry->extension);
}

void
we_browse_result_free (WeBrowseResult *result)
{
  if (result == NULL)
    return;
  g_free (result->current_path);
  g_free (result->parent_path);
  g_clear_pointer (&result->entries, g_ptr_array_unref);
  g_free (result);
}
