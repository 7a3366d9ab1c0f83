/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"
#include "we-content-keys.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>
#include <glib/gstdio.h>
#include <webencode/we-error.h>

#define MIN_SECRET_LEN 32
#define SECRET_FILE "content-key.secret"

struct _WeContentKeys {
  GObject  parent_instance;
  GBytes  *secret;
};

G_DEFINE_FINAL_TYPE (WeContentKeys, we_content_keys, G_TYPE_OBJECT)

static void
we_content_keys_finalize (GObject *object)
{
  WeContentKeys *self = WE_CONTENT_KEYS (object);

  g_clear_pointer (&self->secret, g_bytes_unref);
  G_OBJECT_CLASS (we_content_keys_parent_class)->finalize (object);
}

static void
we_content_keys_class_init (WeContentKeysClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = we_content_keys_finalize;
}

static void
we_content_keys_init (WeContentKeys *self)
{
}

static gchar *
read_secret_file (const gchar *path, GError **error)
{
  g_autoptr(GError) local = NULL;
  gchar *contents = NULL;

  if (!g_file_get_contents (path, &contents, NULL, &local)) {
    g_set_error (error, WE_ERROR, WE_ERROR_SYS_INTERNAL,
                 "cannot read the content key secret %s: %s", path, local->message);
    return NULL;
  }
  return g_strstrip (contents);
}

/* A new random secret in @path, readable by the service only. */
static gchar *
create_secret_file (const gchar *path, GError **error)
{
  guint8 raw[32];
  g_autofree gchar *hex = NULL;
  gint fd;

  if (getrandom (raw, sizeof raw, 0) != (ssize_t) sizeof raw) {
    g_set_error (error, WE_ERROR, WE_ERROR_SYS_INTERNAL,
                 "no randomness for the content key secret: %s", g_strerror (errno));
    return NULL;
  }
  hex = g_malloc (sizeof raw * 2 + 2);
  for (guint i = 0; i < sizeof raw; i++)
    g_snprintf (hex + 2 * i, 3, "%02x", raw[i]);
  memset (raw, 0, sizeof raw);
  /* O_EXCL: a second kernel starting on the same data dir keeps the first's */
  fd = g_open (path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST)
      return read_secret_file (path, error);
    g_set_error (error, WE_ERROR, WE_ERROR_SYS_INTERNAL,
                 "cannot create the content key secret %s: %s", path, g_strerror (errno));
    return NULL;
  }
  if (write (fd, hex, strlen (hex)) != (ssize_t) strlen (hex) || fsync (fd) != 0) {
    g_set_error (error, WE_ERROR, WE_ERROR_SYS_INTERNAL,
                 "cannot write the content key secret %s: %s", path, g_strerror (errno));
    close (fd);
    g_unlink (path);
    return NULL;
  }
  close (fd);
  return g_steal_pointer (&hex);
}

WeContentKeys *
we_content_keys_new (const gchar *secret_ref, const gchar *data_dir, GError **error)
{
  g_autoptr(WeContentKeys) self = g_object_new (WE_TYPE_CONTENT_KEYS, NULL);
  g_autofree gchar *secret = NULL;

  if (secret_ref != NULL && *secret_ref != '\0') {
    if (g_str_has_prefix (secret_ref, "env:")) {
      const gchar *value = g_getenv (secret_ref + strlen ("env:"));
      if (value == NULL) {
        g_set_error (error, WE_ERROR, WE_ERROR_SYS_INTERNAL,
                     "content key secret %s: the variable is not set", secret_ref);
        return NULL;
      }
      secret = g_strdup (value);
    } else if (g_str_has_prefix (secret_ref, "file:")) {
      secret = read_secret_file (secret_ref + strlen ("file:"), error);
      if (secret == NULL)
        return NULL;
    } else {
      /* never echo the value: it may be the secret itself, pasted by mistake */
      g_set_error (error, WE_ERROR, WE_ERROR_SYS_INTERNAL,
                   "content key secret must be env:VAR or file:/path");
      return NULL;
    }
  } else {
    g_autofree gchar *path = NULL;

    if (data_dir == NULL) {
      g_set_error (error, WE_ERROR, WE_ERROR_SYS_INTERNAL,
                   "no content key secret and no data directory to keep one in");
      return NULL;
    }
    if (g_mkdir_with_parents (data_dir, 0700) != 0) {
      g_set_error (error, WE_ERROR, WE_ERROR_SYS_INTERNAL, "cannot create %s: %s", data_dir,
                   g_strerror (errno));
      return NULL;
    }
    path = g_build_filename (data_dir, SECRET_FILE, NULL);
    secret = g_file_test (path, G_FILE_TEST_EXISTS) ? read_secret_file (path, error)
                                                     : create_secret_file (path, error);
    if (secret == NULL)
      return NULL;
  }
  if (strlen (secret) < MIN_SECRET_LEN) {
    g_set_error (error, WE_ERROR, WE_ERROR_SYS_INTERNAL,
                 "content key secret%s%s is shorter than %d characters",
                 secret_ref != NULL ? " " : "", secret_ref != NULL ? secret_ref : "",
                 MIN_SECRET_LEN);
    memset (secret, 0, strlen (secret));
    return NULL;
  }
  self->secret = g_bytes_new (secret, strlen (secret));
  memset (secret, 0, strlen (secret));
  return g_steal_pointer (&self);
}

void
we_content_keys_derive (WeContentKeys *self, const gchar *job_id, guint8 key[WE_CONTENT_KEY_SIZE])
{
  gsize size;
  const guint8 *secret = g_bytes_get_data (self->secret, &size);
  g_autoptr(GHmac) hmac = g_hmac_new (G_CHECKSUM_SHA256, secret, size);
  guint8 digest[32];
  gsize len = sizeof digest;

  /* a label, so the secret can derive other things later without collisions */
  g_hmac_update (hmac, (const guchar *) "webencode hls aes-128 key\n", -1);
  g_hmac_update (hmac, (const guchar *) job_id, -1);
  g_hmac_get_digest (hmac, digest, &len);
  memcpy (key, digest, WE_CONTENT_KEY_SIZE);
  memset (digest, 0, sizeof digest);
}

void
we_content_keys_derive_for (WeContentKeys *self, const gchar *label, const gchar *subject,
                            guint8 out[32])
{
  gsize size;
  const guint8 *secret = g_bytes_get_data (self->secret, &size);
  g_autoptr(GHmac) hmac = g_hmac_new (G_CHECKSUM_SHA256, secret, size);
  gsize len = 32;

  g_return_if_fail (label != NULL && subject != NULL);
  /* "label\n" first: distinct labels can never yield the same input */
  g_hmac_update (hmac, (const guchar *) "webencode ", -1);
  g_hmac_update (hmac, (const guchar *) label, -1);
  g_hmac_update (hmac, (const guchar *) "\n", 1);
  g_hmac_update (hmac, (const guchar *) subject, -1);
  g_hmac_get_digest (hmac, out, &len);
}

gchar *
we_content_keys_derive_hex (WeContentKeys *self, const gchar *job_id)
{
  guint8 key[WE_CONTENT_KEY_SIZE];
  gchar *hex = g_malloc (WE_CONTENT_KEY_SIZE * 2 + 1);

  we_content_keys_derive (self, job_id, key);
  for (guint i = 0; i < WE_CONTENT_KEY_SIZE; i++)
    g_snprintf (hex + 2 * i, 3, "%02x", key[i]);
  memset (key, 0, sizeof key);
  return hex;
}

gchar *
we_content_keys_uri (const gchar *job_id)
{
  g_autofree gchar *escaped = g_uri_escape_string (job_id, NULL, FALSE);

  /* an absolute path: players resolve it against the playlist's origin,
   * whatever folder of the outputs the playlist sits in */
  return g_strdup_printf ("/v1/jobs/%s/key", escaped);
}
