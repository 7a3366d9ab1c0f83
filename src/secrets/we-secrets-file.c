/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "we-secrets-file.h"
#include "we-secrets-private.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <webencode/we-error.h>

#define MAX_NAME 255

struct _WeSecretsFile {
  GObject  parent_instance;
  gchar   *dir;
};

static void we_secrets_file_iface_init (WeSecretsInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (WeSecretsFile, we_secrets_file, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (WE_TYPE_SECRETS, we_secrets_file_iface_init))

static void
we_secrets_file_finalize (GObject *object)
{
  WeSecretsFile *self = WE_SECRETS_FILE (object);

  g_free (self->dir);
  G_OBJECT_CLASS (we_secrets_file_parent_class)->finalize (object);
}

static void
we_secrets_file_class_init (WeSecretsFileClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = we_secrets_file_finalize;
}

static void
we_secrets_file_init (WeSecretsFile *self)
{
}

/* The file a reference names, or NULL with an error. */
static gchar *
ref_to_path (WeSecretsFile *self, const gchar *ref, GError **error)
{
  const gchar *scheme = NULL;
  const gchar *name = NULL;

  if (!we_secrets_ref_split (ref, &scheme, &name, error))
    return NULL;
  if (scheme != NULL && g_strcmp0 (scheme, "file") != 0) {
    g_set_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                 "secret reference %s is not for the file backend", ref);
    return NULL;
  }
  if (!we_secrets_path_is_safe (name, MAX_NAME)) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                         "a file secret reference must be a relative name of letters, digits, "
                         "'.', '_', '-' and '/', without '..'");
    return NULL;
  }
  return g_build_filename (self->dir, name, NULL);
}

static GBytes *
we_secrets_file_lookup (WeSecrets *secrets, const gchar *ref, GCancellable *cancellable,
                        GError **error)
{
  WeSecretsFile *self = WE_SECRETS_FILE (secrets);
  g_autofree gchar *path = ref_to_path (self, ref, error);
  g_autofree gchar *buf = NULL;
  struct stat st;
  gsize len = 0;
  int fd;

  if (path == NULL)
    return NULL;
  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return NULL;
  /* O_NOFOLLOW: a link planted in the directory must not lead us to read
   * some other file as a secret */
  fd = open (path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    int saved = errno;
    g_set_error (error, WE_ERROR, saved == ENOENT || saved == ENOTDIR
                                    ? WE_ERROR_STO_NOT_FOUND : WE_ERROR_PLG_DEGRADED,
                 "secret %s: %s", ref, g_strerror (saved));
    return NULL;
  }
  if (fstat (fd, &st) != 0 || !S_ISREG (st.st_mode)) {
    close (fd);
    g_set_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG, "secret %s is not a regular file",
                 ref);
    return NULL;
  }
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    close (fd);
    g_set_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                 "secret %s is accessible to group or others (mode %03o); chmod 600 it", ref,
                 (guint) (st.st_mode & 0777));
    return NULL;
  }
  if (st.st_size > WE_SECRETS_MAX_VALUE) {
    close (fd);
    g_set_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                 "secret %s is larger than %d bytes", ref, WE_SECRETS_MAX_VALUE);
    return NULL;
  }
  buf = g_malloc (WE_SECRETS_MAX_VALUE + 1);
  while (len <= WE_SECRETS_MAX_VALUE) {
    gssize n = read (fd, buf + len, WE_SECRETS_MAX_VALUE + 1 - len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      int saved = errno;
      close (fd);
      explicit_bzero (buf, len);
      g_set_error (error, WE_ERROR, WE_ERROR_PLG_DEGRADED, "secret %s: %s", ref,
                   g_strerror (saved));
      return NULL;
    }
    if (n == 0)
      break;
    len += (gsize) n;
  }
  close (fd);
  if (len > WE_SECRETS_MAX_VALUE) {
    explicit_bzero (buf, len);
    g_set_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                 "secret %s is larger than %d bytes", ref, WE_SECRETS_MAX_VALUE);
    return NULL;
  }
  /* `echo secret > file` adds a newline nobody means as part of the secret */
  if (len > 0 && buf[len - 1] == '\n')
    len--;
  if (len > 0 && buf[len - 1] == '\r')
    len--;
  {
    GBytes *out = we_secrets_bytes_new (buf, len);
    explicit_bzero (buf, WE_SECRETS_MAX_VALUE + 1);
    return out;
  }
}

static gboolean
we_secrets_file_store (WeSecrets *secrets, const gchar *ref, GBytes *value,
                       GCancellable *cancellable, GError **error)
{
  WeSecretsFile *self = WE_SECRETS_FILE (secrets);
  g_autofree gchar *path = ref_to_path (self, ref, error);
  g_autofree gchar *parent = NULL;
  g_autoptr(GError) local_error = NULL;
  gsize size = 0;
  const gchar *data;

  if (path == NULL)
    return FALSE;
  data = g_bytes_get_data (value, &size);
  if (size > WE_SECRETS_MAX_VALUE) {
    g_set_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                 "a secret may hold at most %d bytes", WE_SECRETS_MAX_VALUE);
    return FALSE;
  }
  parent = g_path_get_dirname (path);
  if (g_mkdir_with_parents (parent, 0700) != 0) {
    int saved = errno;
    g_set_error (error, WE_ERROR, WE_ERROR_PLG_DEGRADED, "secret %s: cannot create %s: %s", ref,
                 parent, g_strerror (saved));
    return FALSE;
  }
  /* written to a temporary file created 0600 and renamed over the old one:
   * a reader sees the old secret or the new one, never half, never exposed */
  if (!g_file_set_contents_full (path, data != NULL ? data : "", (gssize) size,
                                 G_FILE_SET_CONTENTS_CONSISTENT, 0600, &local_error)) {
    g_set_error (error, WE_ERROR, WE_ERROR_PLG_DEGRADED, "secret %s: %s", ref,
                 local_error->message);
    return FALSE;
  }
  return TRUE;
}

static void
we_secrets_file_iface_init (WeSecretsInterface *iface)
{
  iface->lookup = we_secrets_file_lookup;
  iface->store = we_secrets_file_store;
}

WeSecretsFile *
we_secrets_file_new (const gchar *dir)
{
  WeSecretsFile *self;

  g_return_val_if_fail (dir != NULL, NULL);
  self = g_object_new (WE_TYPE_SECRETS_FILE, NULL);
  self->dir = g_strdup (dir);
  return self;
}
