/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The local file system storage pillar: objects are files under one root
 * directory (fs://<key>), and users may also browse and submit files from a
 * few extra directories (file:///…). Every URL is resolved to a real path,
 * symlinks included, before it is touched, and refused unless that real path
 * lies inside a directory this instance was configured with: the URLs come
 * straight from API clients.
 */
#include <webencode/webencode.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

#define FS_SCHEME          "fs://"
#define FILE_SCHEME        "file://"
/* Never shown, listed or served: half-written objects */
#define TMP_PREFIX         ".we-tmp-"
#define MAX_KEY_LEN        4096
#define MAX_LIST_OBJECTS   100000
#define MAX_BROWSE_ENTRIES 10000
#define MAX_LIST_DEPTH     64

/* ---- the atomic output stream ---- */

/* Writes into a temporary file beside the target and renames it into place
 * only on an explicit, successful close. GOutputStream closes a stream that
 * is dropped unclosed from its dispose(), which would publish a partial
 * object, so dispose() is told apart from a real close. */
#define WE_TYPE_FS_OUTPUT_STREAM (we_fs_output_stream_get_type ())
G_DECLARE_FINAL_TYPE (WeFsOutputStream, we_fs_output_stream, WE, FS_OUTPUT_STREAM, GOutputStream)

struct _WeFsOutputStream {
  GOutputStream parent_instance;
  gint          fd;
  gchar        *tmp_path;
  gchar        *final_path;
  gboolean      failed;     /* a write failed: the object must not appear */
  gboolean      abandoned;  /* closed by dispose(), not by the caller */
};

G_DEFINE_FINAL_TYPE (WeFsOutputStream, we_fs_output_stream, G_TYPE_OUTPUT_STREAM)

static void
set_error_from_errno (GError **error, gint errsv, const gchar *what, const gchar *path)
{
  if (errsv == ENOSPC || errsv == EDQUOT)
    g_set_error (error, WE_ERROR, WE_ERROR_STO_FULL, "%s %s: %s", what, path, g_strerror (errsv));
  else if (errsv == EACCES || errsv == EPERM || errsv == EROFS)
    g_set_error (error, WE_ERROR, WE_ERROR_STO_ACCESS_DENIED, "%s %s: %s", what, path,
                 g_strerror (errsv));
  else if (errsv == ENOENT || errsv == ENOTDIR)
    g_set_error (error, WE_ERROR, WE_ERROR_STO_NOT_FOUND, "%s %s: %s", what, path,
                 g_strerror (errsv));
  else
    g_set_error (error, WE_ERROR, WE_ERROR_STO_UNAVAILABLE, "%s %s: %s", what, path,
                 g_strerror (errsv));
}

static gssize
we_fs_output_stream_write (GOutputStream *stream, const void *buffer, gsize count,
                           GCancellable *cancellable, GError **error)
{
  WeFsOutputStream *self = WE_FS_OUTPUT_STREAM (stream);
  gssize n;

  if (self->failed) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_STO_UNAVAILABLE,
                         "an earlier write failed; the object will not be stored");
    return -1;
  }
  if (g_cancellable_set_error_if_cancelled (cancellable, error)) {
    self->failed = TRUE;
    return -1;
  }
  do
    n = write (self->fd, buffer, count);
  while (n < 0 && errno == EINTR);
  if (n < 0) {
    gint errsv = errno;
    self->failed = TRUE;
    set_error_from_errno (error, errsv, "writing", self->final_path);
    return -1;
  }
  return n;
}

static gboolean
we_fs_output_stream_close (GOutputStream *stream, GCancellable *cancellable, GError **error)
{
  WeFsOutputStream *self = WE_FS_OUTPUT_STREAM (stream);
  gboolean commit = !self->failed && !self->abandoned;
  gint errsv = 0;

  if (self->fd < 0)
    return TRUE;
  if (commit && g_cancellable_set_error_if_cancelled (cancellable, error))
    return FALSE; /* still open: the caller may retry the close, or drop the stream */
  /* the rename must not become visible before the data is on disk, or a
   * crash can leave a complete-looking empty object */
  if (commit && fdatasync (self->fd) < 0 && errno != EINVAL) {
    errsv = errno;
    commit = FALSE;
  }
  if (close (self->fd) < 0 && commit) {
    errsv = errno;
    commit = FALSE;
  }
  self->fd = -1;

  if (commit && rename (self->tmp_path, self->final_path) < 0) {
    errsv = errno;
    commit = FALSE;
  }
  if (commit)
    return TRUE;

  g_unlink (self->tmp_path);
  if (self->abandoned)
    return TRUE; /* dropped on purpose: nothing to report */
  if (errsv != 0)
    set_error_from_errno (error, errsv, "storing", self->final_path);
  else
    g_set_error (error, WE_ERROR, WE_ERROR_STO_UNAVAILABLE,
                 "a write to %s failed; nothing was stored", self->final_path);
  return FALSE;
}

static void
we_fs_output_stream_dispose (GObject *object)
{
  WeFsOutputStream *self = WE_FS_OUTPUT_STREAM (object);

  if (!g_output_stream_is_closed (G_OUTPUT_STREAM (self)))
    self->abandoned = TRUE;
  G_OBJECT_CLASS (we_fs_output_stream_parent_class)->dispose (object);
}

static void
we_fs_output_stream_finalize (GObject *object)
{
  WeFsOutputStream *self = WE_FS_OUTPUT_STREAM (object);

  if (self->fd >= 0) {
    close (self->fd);
    g_unlink (self->tmp_path);
  }
  g_free (self->tmp_path);
  g_free (self->final_path);
  G_OBJECT_CLASS (we_fs_output_stream_parent_class)->finalize (object);
}

static void
we_fs_output_stream_class_init (WeFsOutputStreamClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GOutputStreamClass *stream_class = G_OUTPUT_STREAM_CLASS (klass);

  object_class->dispose = we_fs_output_stream_dispose;
  object_class->finalize = we_fs_output_stream_finalize;
  stream_class->write_fn = we_fs_output_stream_write;
  stream_class->close_fn = we_fs_output_stream_close;
}

static void
we_fs_output_stream_init (WeFsOutputStream *self)
{
  self->fd = -1;
}

/* ---- the storage ---- */

#define WE_TYPE_STORAGE_FS (we_storage_fs_get_type ())
G_DECLARE_FINAL_TYPE (WeStorageFs, we_storage_fs, WE, STORAGE_FS, GObject)

struct _WeStorageFs {
  GObject   parent_instance;
  /* all real paths without a trailing slash; immutable after create(), so
   * the instance is safe to use from any thread */
  gchar    *root;
  GStrv     browse_roots;
  gboolean  show_hidden;
};

static void we_storage_fs_iface_init (WeStorageInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (WeStorageFs, we_storage_fs, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (WE_TYPE_STORAGE, we_storage_fs_iface_init))

static void
we_storage_fs_finalize (GObject *object)
{
  WeStorageFs *self = WE_STORAGE_FS (object);

  g_free (self->root);
  g_strfreev (self->browse_roots);
  G_OBJECT_CLASS (we_storage_fs_parent_class)->finalize (object);
}

static void
we_storage_fs_class_init (WeStorageFsClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = we_storage_fs_finalize;
}

static void
we_storage_fs_init (WeStorageFs *self)
{
}

static gboolean
path_is_within (const gchar *path, const gchar *dir)
{
  gsize len = strlen (dir);

  if (g_strcmp0 (dir, "/") == 0)
    return path[0] == '/';
  return strncmp (path, dir, len) == 0 && (path[len] == '\0' || path[len] == '/');
}

static gboolean
path_is_browsable (WeStorageFs *self, const gchar *path)
{
  if (path_is_within (path, self->root))
    return TRUE;
  for (guint i = 0; self->browse_roots[i] != NULL; i++) {
    if (path_is_within (path, self->browse_roots[i]))
      return TRUE;
  }
  return FALSE;
}

static gboolean
path_is_a_root (WeStorageFs *self, const gchar *path)
{
  return g_strcmp0 (path, self->root) == 0 ||
         g_strv_contains ((const gchar * const *) self->browse_roots, path);
}

/* Refuses what could walk out of a directory before any file system call
 * sees it: the real-path check later is the actual guarantee, this one gives
 * the clear message and keeps odd names out of the logs. */
static gboolean
check_relative (const gchar *rel, const gchar *what, GError **error)
{
  g_auto(GStrv) segments = NULL;

  if (strlen (rel) > MAX_KEY_LEN) {
    g_set_error (error, WE_ERROR, WE_ERROR_STO_ACCESS_DENIED,
                 "%s is longer than %d bytes", what, MAX_KEY_LEN);
    return FALSE;
  }
  if (strchr (rel, '\\') != NULL) {
    g_set_error (error, WE_ERROR, WE_ERROR_STO_ACCESS_DENIED,
                 "%s must not contain backslashes", what);
    return FALSE;
  }
  for (const gchar *p = rel; *p != '\0'; p++) {
    if ((guchar) *p < 0x20 || *p == 0x7f) {
      g_set_error (error, WE_ERROR, WE_ERROR_STO_ACCESS_DENIED,
                   "%s must not contain control characters", what);
      return FALSE;
    }
  }
  segments = g_strsplit (rel, "/", -1);
  for (guint i = 0; segments[i] != NULL; i++) {
    if (g_strcmp0 (segments[i], "..") == 0 || g_strcmp0 (segments[i], ".") == 0) {
      g_set_error (error, WE_ERROR, WE_ERROR_STO_ACCESS_DENIED,
                   "%s must not contain '.' or '..' segments", what);
      return FALSE;
    }
  }
  return TRUE;
}

/* Decodes and checks the key of an fs:// URL. */
static gchar *
key_from_url (const gchar *url, gboolean allow_empty, GError **error)
{
  const gchar *rest = url + strlen (FS_SCHEME);
  g_autofree gchar *key = NULL;

  /* decoding rejects "%00" and malformed escapes; checks run on the decoded
   * key so "%2e%2e" is caught like ".." */
  key = g_uri_unescape_string (rest, NULL);
  if (key == NULL) {
    g_set_error (error, WE_ERROR, WE_ERROR_STO_ACCESS_DENIED,
                 "access denied: %s has a malformed or NUL percent-escape", url);
    return NULL;
  }
  if (key[0] == '/') {
    g_set_error (error, WE_ERROR, WE_ERROR_STO_ACCESS_DENIED,
                 "access denied: object keys are relative, %s is absolute", url);
    return NULL;
  }
  if (key[0] == '\0' && !allow_empty) {
    g_set_error (error, WE_ERROR, WE_ERROR_STO_ACCESS_DENIED, "access denied: %s names no object",
                 url);
    return NULL;
  }
  if (!check_relative (key, "an object key", error)) {
    g_prefix_error (error, "access denied: %s: ", url);
    return NULL;
  }
  return g_steal_pointer (&key);
}

/* Turns an fs:// or file:// URL into an absolute, not yet resolved path. */
static gchar *
path_from_url (WeStorageFs *self, const gchar *url, gboolean *is_fs, GError **error)
{
  g_autofree gchar *path = NULL;
  g_autofree gchar *host = NULL;
  g_autoptr(GError) local_error = NULL;

  if (g_ascii_strncasecmp (url, FS_SCHEME, strlen (FS_SCHEME)) == 0) {
    g_autofree gchar *key = key_from_url (url, TRUE, error);
    if (key == NULL)
      return NULL;
    *is_fs = TRUE;
    return g_build_filename (self->root, key, NULL);
  }
  if (g_ascii_strncasecmp (url, FILE_SCHEME, strlen (FILE_SCHEME)) != 0) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                 "storage-fs does not handle %s", url);
    return NULL;
  }
  *is_fs = FALSE;
  if (strchr (url, '\\') != NULL || strstr (url, "%00") != NULL) {
    g_set_error (error, WE_ERROR, WE_ERROR_STO_ACCESS_DENIED,
                 "access denied: %s contains a backslash or NUL", url);
    return NULL;
  }
  path = g_filename_from_uri (url, &host, &local_error);
  if (path == NULL) {
    g_set_error (error, WE_ERROR, WE_ERROR_STO_ACCESS_DENIED, "access denied: %s: %s", url,
                 local_error->message);
    return NULL;
  }
  if (host != NULL && g_ascii_strcasecmp (host, "localhost") != 0) {
    g_set_error (error, WE_ERROR, WE_ERROR_STO_ACCESS_DENIED,
                 "access denied: %s names another host", url);
    return NULL;
  }
  if (!check_relative (path + 1, "a file path", error)) {
    g_prefix_error (error, "access denied: %s: ", url);
    return NULL;
  }
  return g_steal_pointer (&path);
}

/* The real path of @path, symlinks resolved. For a path that does not exist
 * yet, the real path of its deepest existing ancestor plus the missing names
 * (plain names only, checked above, so they cannot climb back out). */
static gchar *
resolve_real (const gchar *path, gboolean *exists, GError **error)
{
  g_autofree gchar *parent = NULL;
  g_autofree gchar *parent_real = NULL;
  g_autofree gchar *name = NULL;
  gchar *real;
  GStatBuf st;
  gboolean parent_exists;
  gint errsv;

  real = realpath (path, NULL);
  if (real != NULL) {
    gchar *copy = g_strdup (real);
    free (real);
    *exists = TRUE;
    return copy;
  }
  errsv = errno;
  if (errsv == ELOOP) {
    g_set_error (error, WE_ERROR, WE_ERROR_STO_ACCESS_DENIED,
                 "access denied: symbolic link loop at %s", path);
    return NULL;
  }
  if (errsv != ENOENT && errsv != ENOTDIR) {
    set_error_from_errno (error, errsv, "resolving", path);
    return NULL;
  }
  /* the name is there but leads nowhere: a link we cannot check */
  if (g_lstat (path, &st) == 0) {
    g_set_error (error, WE_ERROR, WE_ERROR_STO_ACCESS_DENIED,
                 "access denied: %s is a dangling symbolic link", path);
    return NULL;
  }
  parent = g_path_get_dirname (path);
  if (g_strcmp0 (parent, path) == 0) {
    set_error_from_errno (error, errsv, "resolving", path);
    return NULL;
  }
  parent_real = resolve_real (parent, &parent_exists, error);
  if (parent_real == NULL)
    return NULL;
  name = g_path_get_basename (path);
  *exists = FALSE;
  return g_build_filename (parent_real, name, NULL);
}

typedef enum {
  ACCESS_READ,   /* root or a browse root */
  ACCESS_WRITE,  /* root only: browse roots are users' own folders */
} AccessMode;

typedef struct {
  gchar    *real;
  gboolean  exists;
} FsTarget;

static void
fs_target_clear (FsTarget *t)
{
  g_clear_pointer (&t->real, g_free);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (FsTarget, fs_target_clear)

static gboolean
resolve_url (WeStorageFs *self, const gchar *url, AccessMode mode, FsTarget *target,
             GError **error)
{
  g_autofree gchar *path = NULL;
  gboolean is_fs = FALSE;
  gboolean inside;

  if (url == NULL) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_STO_NOT_FOUND, "no URL given");
    return FALSE;
  }
  path = path_from_url (self, url, &is_fs, error);
  if (path == NULL)
    return FALSE;
  target->real = resolve_real (path, &target->exists, error);
  if (target->real == NULL) {
    g_prefix_error (error, "%s: ", url);
    return FALSE;
  }
  if (is_fs || mode == ACCESS_WRITE)
    inside = path_is_within (target->real, self->root);
  else
    inside = path_is_browsable (self, target->real);
  if (!inside) {
    g_set_error (error, WE_ERROR, WE_ERROR_STO_ACCESS_DENIED,
                 "access denied: %s resolves outside the %s", url,
                 is_fs || mode == ACCESS_WRITE ? "storage root" : "allowed directories");
    fs_target_clear (target);
    return FALSE;
  }
  return TRUE;
}

static gchar *
we_storage_fs_make_url (WeStorage *storage, const gchar *key)
{
  g_autofree gchar *escaped = g_uri_escape_string (key != NULL ? key : "", "/", TRUE);
  return g_strconcat (FS_SCHEME, escaped, NULL);
}

/* fs:// for what lies in the root, file:// for the rest of the roots */
static gchar *
url_for_real (WeStorageFs *self, const gchar *real)
{
  if (path_is_within (real, self->root)) {
    const gchar *key = real + strlen (self->root);
    while (*key == '/')
      key++;
    return we_storage_fs_make_url (WE_STORAGE (self), key);
  }
  return g_filename_to_uri (real, NULL, NULL);
}

static gchar *
key_for_real (WeStorageFs *self, const gchar *real)
{
  const gchar *key;

  if (!path_is_within (real, self->root))
    return g_strdup (real);
  key = real + strlen (self->root);
  while (*key == '/')
    key++;
  return g_strdup (key);
}

static gboolean
we_storage_fs_handles_url (WeStorage *storage, const gchar *url)
{
  return g_ascii_strncasecmp (url, FS_SCHEME, strlen (FS_SCHEME)) == 0 ||
         g_ascii_strncasecmp (url, FILE_SCHEME, strlen (FILE_SCHEME)) == 0;
}

static void
we_storage_fs_get_capabilities (WeStorage *storage, WeStorageCapabilities *caps)
{
  caps->supports_browse = TRUE;
  caps->supports_upload = TRUE;
  caps->supports_signed_urls = FALSE;
  caps->supports_streaming = TRUE;
  caps->storage_type = "local_fs";
}

static gchar *
we_storage_fs_get_media_uri (WeStorage *storage, const gchar *url, GError **error)
{
  WeStorageFs *self = WE_STORAGE_FS (storage);
  g_auto(FsTarget) target = { 0 };

  if (!resolve_url (self, url, ACCESS_READ, &target, error))
    return NULL;
  return g_filename_to_uri (target.real, NULL, error);
}

static gchar *
guess_content_type (const gchar *path)
{
  g_autofree gchar *type = g_content_type_guess (path, NULL, 0, NULL);
  gchar *mime = type != NULL ? g_content_type_get_mime_type (type) : NULL;

  return mime != NULL ? mime : g_strdup ("application/octet-stream");
}

static void
fill_object_info (WeStorageFs *self, const gchar *real, const GStatBuf *st, WeObjectInfo *info)
{
  gint64 mtime_usec = (gint64) st->st_mtim.tv_sec * G_USEC_PER_SEC + st->st_mtim.tv_nsec / 1000;

  info->url = url_for_real (self, real);
  info->key = key_for_real (self, real);
  info->size = (guint64) st->st_size;
  info->last_modified = st->st_mtim.tv_sec;
  info->etag = g_strdup_printf ("%" G_GUINT64_FORMAT "-%" G_GINT64_FORMAT, info->size, mtime_usec);
  info->content_type = guess_content_type (real);
}

static gboolean
stat_object (const gchar *url, const FsTarget *target, GStatBuf *st, GError **error)
{
  if (!target->exists) {
    g_set_error (error, WE_ERROR, WE_ERROR_STO_NOT_FOUND, "no such object: %s", url);
    return FALSE;
  }
  if (g_stat (target->real, st) < 0) {
    set_error_from_errno (error, errno, "stat", url);
    return FALSE;
  }
  if (!S_ISREG (st->st_mode)) {
    g_set_error (error, WE_ERROR, WE_ERROR_STO_NOT_FOUND, "%s is not a file", url);
    return FALSE;
  }
  return TRUE;
}

static gboolean
we_storage_fs_stat (WeStorage *storage, const gchar *url, WeObjectInfo *info, GError **error)
{
  WeStorageFs *self = WE_STORAGE_FS (storage);
  g_auto(FsTarget) target = { 0 };
  GStatBuf st;

  if (!resolve_url (self, url, ACCESS_READ, &target, error))
    return FALSE;
  if (!stat_object (url, &target, &st, error))
    return FALSE;
  fill_object_info (self, target.real, &st, info);
  return TRUE;
}

static GInputStream *
we_storage_fs_open_read (WeStorage *storage, const gchar *url, goffset offset, GError **error)
{
  WeStorageFs *self = WE_STORAGE_FS (storage);
  g_auto(FsTarget) target = { 0 };
  g_autoptr(GFile) file = NULL;
  g_autoptr(GFileInputStream) in = NULL;
  GStatBuf st;

  if (!resolve_url (self, url, ACCESS_READ, &target, error))
    return NULL;
  if (!stat_object (url, &target, &st, error))
    return NULL;
  if (offset < 0 || offset > st.st_size) {
    g_set_error (error, WE_ERROR, WE_ERROR_SYS_RANGE_NOT_SATISFIABLE,
                 "offset %" G_GINT64_FORMAT " is outside %s (%" G_GINT64_FORMAT " bytes)",
                 (gint64) offset, url, (gint64) st.st_size);
    return NULL;
  }
  file = g_file_new_for_path (target.real);
  in = g_file_read (file, NULL, error);
  if (in == NULL)
    return NULL;
  if (offset > 0 && !g_seekable_seek (G_SEEKABLE (in), offset, G_SEEK_SET, NULL, error))
    return NULL;
  return G_INPUT_STREAM (g_steal_pointer (&in));
}

static GOutputStream *
we_storage_fs_create (WeStorage *storage, const gchar *url, GError **error)
{
  WeStorageFs *self = WE_STORAGE_FS (storage);
  g_auto(FsTarget) target = { 0 };
  g_autofree gchar *dir = NULL;
  g_autofree gchar *dir_real = NULL;
  g_autofree gchar *tmp_path = NULL;
  WeFsOutputStream *stream;
  gboolean dir_exists = FALSE;
  gint fd;

  if (!resolve_url (self, url, ACCESS_WRITE, &target, error))
    return NULL;
  if (g_strcmp0 (target.real, self->root) == 0 ||
      (target.exists && g_file_test (target.real, G_FILE_TEST_IS_DIR))) {
    g_set_error (error, WE_ERROR, WE_ERROR_STO_ACCESS_DENIED,
                 "%s is a directory, not an object", url);
    return NULL;
  }
  dir = g_path_get_dirname (target.real);
  if (g_mkdir_with_parents (dir, 0755) < 0) {
    set_error_from_errno (error, errno, "creating directory for", url);
    return NULL;
  }
  /* the folders may have been swapped for links since we resolved */
  dir_real = resolve_real (dir, &dir_exists, error);
  if (dir_real == NULL)
    return NULL;
  if (!dir_exists || !path_is_within (dir_real, self->root)) {
    g_set_error (error, WE_ERROR, WE_ERROR_STO_ACCESS_DENIED,
                 "access denied: %s resolves outside the storage root", url);
    return NULL;
  }

  tmp_path = g_build_filename (dir_real, TMP_PREFIX "XXXXXX", NULL);
  fd = g_mkstemp_full (tmp_path, O_WRONLY | O_CLOEXEC, 0644);
  if (fd < 0) {
    set_error_from_errno (error, errno, "creating", url);
    return NULL;
  }
  stream = g_object_new (WE_TYPE_FS_OUTPUT_STREAM, NULL);
  stream->fd = fd;
  stream->tmp_path = g_steal_pointer (&tmp_path);
  {
    g_autofree gchar *name = g_path_get_basename (target.real);
    stream->final_path = g_build_filename (dir_real, name, NULL);
  }
  return G_OUTPUT_STREAM (stream);
}

static gboolean
we_storage_fs_delete_object (WeStorage *storage, const gchar *url, GError **error)
{
  WeStorageFs *self = WE_STORAGE_FS (storage);
  g_autofree gchar *path = NULL;
  g_autofree gchar *parent = NULL;
  g_autofree gchar *parent_real = NULL;
  g_autofree gchar *name = NULL;
  g_autofree gchar *leaf = NULL;
  g_autofree gchar *dir = NULL;
  gboolean is_fs = FALSE;
  gboolean parent_exists = FALSE;
  GStatBuf st;

  if (url == NULL) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_STO_NOT_FOUND, "no URL given");
    return FALSE;
  }
  path = path_from_url (self, url, &is_fs, error);
  if (path == NULL)
    return FALSE;
  /* The name itself is removed, not what a link points at, so only the
   * folder holding it has to be inside the root. */
  parent = g_path_get_dirname (path);
  parent_real = resolve_real (parent, &parent_exists, error);
  if (parent_real == NULL)
    return FALSE;
  if (!path_is_within (parent_real, self->root) || g_strcmp0 (path, self->root) == 0) {
    g_set_error (error, WE_ERROR, WE_ERROR_STO_ACCESS_DENIED,
                 "access denied: %s is outside the storage root", url);
    return FALSE;
  }
  name = g_path_get_basename (path);
  leaf = g_build_filename (parent_real, name, NULL);
  if (!parent_exists || g_lstat (leaf, &st) < 0) {
    g_set_error (error, WE_ERROR, WE_ERROR_STO_NOT_FOUND, "no such object: %s", url);
    return FALSE;
  }
  if (S_ISDIR (st.st_mode)) {
    g_set_error (error, WE_ERROR, WE_ERROR_STO_ACCESS_DENIED, "%s is a directory, not an object",
                 url);
    return FALSE;
  }
  if (g_unlink (leaf) < 0) {
    set_error_from_errno (error, errno, "deleting", url);
    return FALSE;
  }
  /* keys look like folders; folders emptied by deletes should not pile up */
  dir = g_steal_pointer (&parent_real);
  while (path_is_within (dir, self->root) && g_strcmp0 (dir, self->root) != 0) {
    gchar *up;
    if (g_rmdir (dir) < 0)
      break;
    up = g_path_get_dirname (dir);
    g_free (dir);
    dir = up;
  }
  return TRUE;
}

static gchar *
we_storage_fs_get_signed_url (WeStorage *storage, const gchar *url, const gchar *method,
                              gint64 expiry_seconds, GError **error)
{
  g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                       "local storage has no signed URLs; objects are served by the files API");
  return NULL;
}

static gint
compare_object_keys (gconstpointer a, gconstpointer b)
{
  const WeObjectInfo *ia = *(WeObjectInfo * const *) a;
  const WeObjectInfo *ib = *(WeObjectInfo * const *) b;
  return g_strcmp0 (ia->key, ib->key);
}

static void
list_walk (WeStorageFs *self, const gchar *dir, const gchar *prefix, guint depth, GPtrArray *out)
{
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  const gchar *name;

  if (d == NULL || depth > MAX_LIST_DEPTH)
    return;
  while ((name = g_dir_read_name (d)) != NULL && out->len < MAX_LIST_OBJECTS) {
    g_autofree gchar *path = g_build_filename (dir, name, NULL);
    g_autofree gchar *key = NULL;
    GStatBuf st;

    if (g_str_has_prefix (name, TMP_PREFIX))
      continue;
    /* links are not followed: they could lead out of the root or in circles */
    if (g_lstat (path, &st) < 0 || S_ISLNK (st.st_mode))
      continue;
    key = key_for_real (self, path);
    if (S_ISDIR (st.st_mode)) {
      g_autofree gchar *dir_key = g_strconcat (key, "/", NULL);
      /* descend only where keys can still match the prefix */
      if (g_str_has_prefix (dir_key, prefix) || g_str_has_prefix (prefix, dir_key))
        list_walk (self, path, prefix, depth + 1, out);
    } else if (S_ISREG (st.st_mode) && g_str_has_prefix (key, prefix)) {
      WeObjectInfo *info = we_object_info_new ();
      fill_object_info (self, path, &st, info);
      g_ptr_array_add (out, info);
    }
  }
}

static GPtrArray *
we_storage_fs_list_objects (WeStorage *storage, const gchar *prefix_url, GError **error)
{
  WeStorageFs *self = WE_STORAGE_FS (storage);
  g_autofree gchar *prefix = NULL;
  g_autoptr(GPtrArray) out = NULL;
  g_autofree gchar *start = NULL;
  g_autofree gchar *start_real = NULL;
  const gchar *slash;
  gboolean exists = FALSE;

  if (prefix_url == NULL || g_ascii_strncasecmp (prefix_url, FS_SCHEME, strlen (FS_SCHEME)) != 0) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                 "storage-fs lists fs:// prefixes only, not %s", prefix_url ? prefix_url : "(null)");
    return NULL;
  }
  prefix = key_from_url (prefix_url, TRUE, error);
  if (prefix == NULL)
    return NULL;
  out = g_ptr_array_new_with_free_func ((GDestroyNotify) we_object_info_free);

  /* S3 semantics: "a/b" matches "a/b.mp4" and "a/b/c.mp4"; start the walk
   * at the deepest folder the prefix names completely */
  slash = strrchr (prefix, '/');
  if (slash != NULL) {
    g_autofree gchar *dir_key = g_strndup (prefix, slash - prefix);
    start = g_build_filename (self->root, dir_key, NULL);
  } else {
    start = g_strdup (self->root);
  }
  start_real = resolve_real (start, &exists, error);
  if (start_real == NULL)
    return NULL;
  if (!path_is_within (start_real, self->root)) {
    g_set_error (error, WE_ERROR, WE_ERROR_STO_ACCESS_DENIED,
                 "access denied: %s resolves outside the storage root", prefix_url);
    return NULL;
  }
  /* walk by the unresolved name so keys stay the ones the caller asked for */
  if (exists && g_strcmp0 (start_real, start) == 0)
    list_walk (self, start, prefix, 0, out);
  if (out->len >= MAX_LIST_OBJECTS)
    g_warning ("listing %s stopped at %d objects", prefix_url, MAX_LIST_OBJECTS);
  g_ptr_array_sort (out, compare_object_keys);
  return g_steal_pointer (&out);
}

static WeBrowseEntry *
root_entry (WeStorageFs *self, const gchar *real)
{
  WeBrowseEntry *entry = we_browse_entry_new ();
  GStatBuf st;

  entry->name = g_path_get_basename (real);
  entry->path = g_strdup (real);
  entry->url = url_for_real (self, real);
  entry->is_directory = TRUE;
  if (g_stat (real, &st) == 0)
    entry->mod_time = st.st_mtim.tv_sec;
  return entry;
}

static GPtrArray *
we_storage_fs_browse_roots (WeStorage *storage, GError **error)
{
  WeStorageFs *self = WE_STORAGE_FS (storage);
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) we_browse_entry_free);

  g_ptr_array_add (out, root_entry (self, self->root));
  for (guint i = 0; self->browse_roots[i] != NULL; i++)
    g_ptr_array_add (out, root_entry (self, self->browse_roots[i]));
  return out;
}

static gint
compare_entries (gconstpointer a, gconstpointer b)
{
  const WeBrowseEntry *ea = *(WeBrowseEntry * const *) a;
  const WeBrowseEntry *eb = *(WeBrowseEntry * const *) b;
  gint rc;

  if (ea->is_directory != eb->is_directory)
    return ea->is_directory ? -1 : 1;
  rc = g_ascii_strcasecmp (ea->name, eb->name);
  return rc != 0 ? rc : strcmp (ea->name, eb->name);
}

static gboolean
name_matches (const gchar *name, const gchar *folded_query)
{
  g_autofree gchar *valid = g_utf8_make_valid (name, -1);
  g_autofree gchar *folded = g_utf8_casefold (valid, -1);
  return strstr (folded, folded_query) != NULL;
}

/* What browse() accepts as a path: what it handed out (absolute paths),
 * fs:// and file:// URLs, or a path relative to the storage root. */
static gchar *
browse_path (WeStorageFs *self, const gchar *path, GError **error)
{
  gboolean is_fs;

  if (path == NULL || path[0] == '\0')
    return g_strdup (self->root);
  if (strstr (path, "://") != NULL)
    return path_from_url (self, path, &is_fs, error);
  if (path[0] == '/') {
    if (!check_relative (path + 1, "a path", error)) {
      g_prefix_error (error, "access denied: ");
      return NULL;
    }
    return g_strdup (path);
  }
  if (!check_relative (path, "a path", error)) {
    g_prefix_error (error, "access denied: ");
    return NULL;
  }
  return g_build_filename (self->root, path, NULL);
}

static WeBrowseResult *
we_storage_fs_browse (WeStorage *storage, const gchar *path, const WeBrowseOptions *options,
                      GError **error)
{
  WeStorageFs *self = WE_STORAGE_FS (storage);
  g_autofree gchar *abs = NULL;
  g_autofree gchar *real = NULL;
  g_autofree gchar *folded_query = NULL;
  g_autoptr(GDir) dir = NULL;
  g_autoptr(GPtrArray) entries = NULL;
  WeBrowseResult *result;
  gboolean show_hidden = options->show_hidden || self->show_hidden;
  gboolean exists = FALSE;
  const gchar *name;

  abs = browse_path (self, path, error);
  if (abs == NULL)
    return NULL;
  real = resolve_real (abs, &exists, error);
  if (real == NULL)
    return NULL;
  if (!path_is_browsable (self, real)) {
    g_set_error (error, WE_ERROR, WE_ERROR_STO_ACCESS_DENIED,
                 "access denied: %s is outside the browsable directories", abs);
    return NULL;
  }
  if (!exists || !g_file_test (real, G_FILE_TEST_IS_DIR)) {
    g_set_error (error, WE_ERROR, WE_ERROR_STO_NOT_FOUND, "no such directory: %s", abs);
    return NULL;
  }
  dir = g_dir_open (real, 0, error);
  if (dir == NULL)
    return NULL;
  if (options->search_query != NULL && options->search_query[0] != '\0') {
    g_autofree gchar *valid = g_utf8_make_valid (options->search_query, -1);
    folded_query = g_utf8_casefold (valid, -1);
  }

  entries = g_ptr_array_new_with_free_func ((GDestroyNotify) we_browse_entry_free);
  while ((name = g_dir_read_name (dir)) != NULL) {
    g_autofree gchar *child = g_build_filename (real, name, NULL);
    g_autofree gchar *child_real = NULL;
    g_autoptr(WeBrowseEntry) entry = NULL;
    gboolean child_exists = FALSE;
    GStatBuf st;

    if (g_str_has_prefix (name, TMP_PREFIX))
      continue;
    if (name[0] == '.' && !show_hidden)
      continue;
    if (folded_query != NULL && !name_matches (name, folded_query))
      continue;
    /* a link is shown only when what it points at is browsable too */
    child_real = resolve_real (child, &child_exists, NULL);
    if (child_real == NULL || !child_exists || !path_is_browsable (self, child_real))
      continue;
    if (g_stat (child_real, &st) < 0 || !(S_ISDIR (st.st_mode) || S_ISREG (st.st_mode)))
      continue;

    entry = we_browse_entry_new ();
    entry->name = g_strdup (name);
    entry->is_directory = S_ISDIR (st.st_mode);
    entry->path = g_strdup (child);
    entry->url = url_for_real (self, child_real);
    entry->size = entry->is_directory ? 0 : (guint64) st.st_size;
    entry->mod_time = st.st_mtim.tv_sec;
    we_browse_entry_classify (entry);
    if (options->media_only && !entry->is_directory && !entry->is_video && !entry->is_audio)
      continue;
    g_ptr_array_add (entries, g_steal_pointer (&entry));
    if (entries->len >= MAX_BROWSE_ENTRIES) {
      g_warning ("browsing %s stopped at %d entries", real, MAX_BROWSE_ENTRIES);
      break;
    }
  }
  g_ptr_array_sort (entries, compare_entries);

  result = g_new0 (WeBrowseResult, 1);
  result->current_path = g_strdup (real);
  result->parent_path = path_is_a_root (self, real) ? NULL : g_path_get_dirname (real);
  result->entries = g_steal_pointer (&entries);
  return result;
}

static void
we_storage_fs_iface_init (WeStorageInterface *iface)
{
  iface->handles_url = we_storage_fs_handles_url;
  iface->get_capabilities = we_storage_fs_get_capabilities;
  iface->make_url = we_storage_fs_make_url;
  iface->get_media_uri = we_storage_fs_get_media_uri;
  iface->stat = we_storage_fs_stat;
  iface->open_read = we_storage_fs_open_read;
  iface->create = we_storage_fs_create;
  iface->delete_object = we_storage_fs_delete_object;
  iface->get_signed_url = we_storage_fs_get_signed_url;
  iface->list_objects = we_storage_fs_list_objects;
  iface->browse_roots = we_storage_fs_browse_roots;
  iface->browse = we_storage_fs_browse;
}

/* ---- the module ---- */

static gchar *
real_dir (const gchar *path, GError **error)
{
  gchar *real;
  gchar *copy;

  if (!g_path_is_absolute (path)) {
    g_set_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG, "'%s' is not an absolute path",
                 path);
    return NULL;
  }
  real = realpath (path, NULL);
  if (real == NULL) {
    g_set_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG, "'%s': %s", path,
                 g_strerror (errno));
    return NULL;
  }
  copy = g_strdup (real);
  free (real);
  if (!g_file_test (copy, G_FILE_TEST_IS_DIR)) {
    g_set_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG, "'%s' is not a directory", path);
    g_free (copy);
    return NULL;
  }
  return copy;
}

static GObject *
we_storage_fs_create_instance (JsonObject *config, GError **error)
{
  g_autoptr(WeStorageFs) self = g_object_new (WE_TYPE_STORAGE_FS, NULL);
  g_autoptr(GStrvBuilder) roots = g_strv_builder_new ();
  g_auto(GStrv) browse = NULL;
  const gchar *root = we_plugin_config_get_string (config, "root", NULL);

  if (root == NULL || root[0] == '\0') {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                         "storage-fs needs 'root', the directory objects are stored in");
    return NULL;
  }
  if (!g_path_is_absolute (root)) {
    g_set_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                 "storage-fs 'root' must be an absolute path, not '%s'", root);
    return NULL;
  }
  if (g_mkdir_with_parents (root, 0755) < 0) {
    g_set_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG, "storage-fs cannot create '%s': %s",
                 root, g_strerror (errno));
    return NULL;
  }
  self->root = real_dir (root, error);
  if (self->root == NULL) {
    g_prefix_error (error, "storage-fs root: ");
    return NULL;
  }

  /* a missing browse root is an operator's typo, not a reason to lose storage */
  browse = we_plugin_config_get_strv (config, "browse_roots");
  for (guint i = 0; browse != NULL && browse[i] != NULL; i++) {
    g_autoptr(GError) local_error = NULL;
    g_autofree gchar *real = real_dir (browse[i], &local_error);
    if (real == NULL) {
      g_warning ("storage-fs: browse root ignored: %s", local_error->message);
      continue;
    }
    if (g_strcmp0 (real, self->root) == 0)
      continue;
    g_strv_builder_add (roots, real);
  }
  self->browse_roots = g_strv_builder_end (roots);
  self->show_hidden = we_plugin_config_get_boolean (config, "show_hidden", FALSE);
  return G_OBJECT (g_steal_pointer (&self));
}

static const gchar * const storage_fs_config_keys[] = { "root", "browse_roots", "show_hidden",
                                                        NULL };

static const WePluginDescriptor storage_fs_descriptor = {
  .protocol_version = WE_PLUGIN_PROTOCOL_VERSION,
  .abi_minor = WE_PLUGIN_ABI_MINOR,
  .id = "storage-fs",
  .pillar = WE_PILLAR_STORAGE,
  .version = PLUGIN_VERSION,
  .config_keys = storage_fs_config_keys,
  .create = we_storage_fs_create_instance,
};

WE_PLUGIN_DEFINE (storage_fs_descriptor)
