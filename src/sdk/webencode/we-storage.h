/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Pillar 2: storage (spec §7.2). Objects are named by URLs whose scheme the
 * implementation claims (fs://, file://, s3://, …). Every method may block on
 * disk or network: the kernel calls them from worker threads, never from its
 * main loop, so implementations must be thread-safe.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define WE_TYPE_STORAGE (we_storage_get_type ())
G_DECLARE_INTERFACE (WeStorage, we_storage, WE, STORAGE, GObject)

typedef struct {
  gboolean     supports_browse;
  gboolean     supports_upload;
  gboolean     supports_signed_urls;
  gboolean     supports_streaming;
  const gchar *storage_type;          /* "local_fs", "s3", … (static string) */
} WeStorageCapabilities;

typedef struct {
  gchar   *url;
  gchar   *key;                       /* the object's key inside its bucket/root */
  guint64  size;
  gint64   last_modified;             /* unix seconds */
  gchar   *etag;
  gchar   *content_type;
} WeObjectInfo;

typedef struct {
  gchar   *name;
  gchar   *path;                      /* what to pass back to browse() */
  gchar   *url;                       /* what to submit as a job source */
  gboolean is_directory;
  guint64  size;
  gint64   mod_time;
  gchar   *extension;
  gboolean is_video;
  gboolean is_audio;
  gboolean is_image;
} WeBrowseEntry;

typedef struct {
  gboolean     show_hidden;
  gboolean     media_only;
  const gchar *search_query;          /* case-insensitive substring, nullable */
} WeBrowseOptions;

typedef struct {
  gchar     *current_path;
  gchar     *parent_path;             /* NULL at a root */
  GPtrArray *entries;                 /* (element-type WeBrowseEntry) */
} WeBrowseResult;

struct _WeStorageInterface {
  GTypeInterface parent_iface;

  /* TRUE when @url names an object this instance stores (spec §6.4 routing) */
  gboolean        (*handles_url)       (WeStorage   *self,
                                        const gchar *url);
  void            (*get_capabilities)  (WeStorage             *self,
                                        WeStorageCapabilities *caps);
  /* The canonical URL for @key in this storage's default location. */
  gchar          *(*make_url)          (WeStorage   *self,
                                        const gchar *key);
  /* A URI a GStreamer source element on this host can read (file://, https://). */
  gchar          *(*get_media_uri)     (WeStorage   *self,
                                        const gchar *url,
                                        GError     **error);
  gboolean        (*stat)              (WeStorage    *self,
                                        const gchar  *url,
                                        WeObjectInfo *info,
                                        GError      **error);
  GInputStream   *(*open_read)         (WeStorage   *self,
                                        const gchar *url,
                                        goffset      offset,
                                        GError     **error);
  /* Bytes become visible under @url only when the stream is closed without
   * error; a stream that is dropped unclosed leaves nothing behind. */
  GOutputStream  *(*create)            (WeStorage   *self,
                                        const gchar *url,
                                        GError     **error);
  gboolean        (*delete_object)     (WeStorage   *self,
                                        const gchar *url,
                                        GError     **error);
  /* Signed URL for direct access; NULL with G_IO_ERROR_NOT_SUPPORTED when the
   * backend has none. */
  gchar          *(*get_signed_url)    (WeStorage   *self,
                                        const gchar *url,
                                        const gchar *method,
                                        gint64       expiry_seconds,
                                        GError     **error);
  GPtrArray      *(*list_objects)      (WeStorage   *self,
                                        const gchar *prefix_url,
                                        GError     **error);
  GPtrArray      *(*browse_roots)      (WeStorage   *self,
                                        GError     **error);
  WeBrowseResult *(*browse)            (WeStorage             *self,
                                        const gchar           *path,
                                        const WeBrowseOptions *options,
                                        GError               **error);

  gpointer padding[12];
};

gboolean        we_storage_handles_url      (WeStorage *self, const gchar *url);
void            we_storage_get_capabilities (WeStorage *self, WeStorageCapabilities *caps);
/* Returns: (transfer full) */
gchar          *we_storage_make_url         (WeStorage *self, const gchar *key);
/* Returns: (transfer full) (nullable) */
gchar          *we_storage_get_media_uri    (WeStorage *self, const gchar *url, GError **error);
/* @info: (out caller-allocates): overwritten, so it must not hold anything
 * yet (a g_auto(WeObjectInfo) fresh or after we_object_info_clear()) */
gboolean        we_storage_stat             (WeStorage *self, const gchar *url,
                                             WeObjectInfo *info, GError **error);
/* Returns: (transfer full) (nullable) */
GInputStream   *we_storage_open_read        (WeStorage *self, const gchar *url,
                                             goffset offset, GError **error);
/* Returns: (transfer full) (nullable) */
GOutputStream  *we_storage_create           (WeStorage *self, const gchar *url, GError **error);
gboolean        we_storage_delete_object    (WeStorage *self, const gchar *url, GError **error);
/* Returns: (transfer full) (nullable) */
gchar          *we_storage_get_signed_url   (WeStorage *self, const gchar *url,
                                             const gchar *method, gint64 expiry_seconds,
                                             GError **error);
/* Returns: (transfer container) (element-type WeObjectInfo) (nullable) */
GPtrArray      *we_storage_list_objects     (WeStorage *self, const gchar *prefix_url, GError **error);
/* Returns: (transfer container) (element-type WeBrowseEntry) (nullable) */
GPtrArray      *we_storage_browse_roots     (WeStorage *self, GError **error);
/* Returns: (transfer full) (nullable) */
WeBrowseResult *we_storage_browse           (WeStorage *self, const gchar *path,
                                             const WeBrowseOptions *options, GError **error);

/* Copies a local file into storage through create(), streaming. */
gboolean        we_storage_upload_file      (WeStorage    *self,
                                             const gchar  *local_path,
                                             const gchar  *url,
                                             GCancellable *cancellable,
                                             GError      **error);

void            we_object_info_clear        (WeObjectInfo *info);
WeObjectInfo   *we_object_info_new          (void);
void            we_object_info_free         (WeObjectInfo *info);
WeBrowseEntry  *we_browse_entry_new         (void);
void            we_browse_entry_free        (WeBrowseEntry *entry);
/* Fills is_video/is_audio/is_image/extension from @name. */
void            we_browse_entry_classify    (WeBrowseEntry *entry);
void            we_browse_result_free       (WeBrowseResult *result);

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (WeObjectInfo, we_object_info_clear)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeBrowseEntry, we_browse_entry_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeBrowseResult, we_browse_result_free)

G_END_DECLS
