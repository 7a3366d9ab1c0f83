/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "we-secrets-libsecret.h"
#include "we-secrets-private.h"

#include <libsecret/secret.h>
#include <string.h>

#include <webencode/we-error.h>

#define MAX_NAME 255

struct _WeSecretsLibsecret {
  GObject parent_instance;
};

static void we_secrets_libsecret_iface_init (WeSecretsInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (WeSecretsLibsecret, we_secrets_libsecret, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (WE_TYPE_SECRETS,
                                                      we_secrets_libsecret_iface_init))

static const SecretSchema *
we_secret_schema (void)
{
  static const SecretSchema schema = {
    "org.webencode.Secret", SECRET_SCHEMA_NONE,
    {
      { "ref", SECRET_SCHEMA_ATTRIBUTE_STRING },
      { NULL, 0 },
    },
    0, NULL, NULL, NULL, NULL, NULL, NULL, NULL
  };
  return &schema;
}

static void
we_secrets_libsecret_class_init (WeSecretsLibsecretClass *klass)
{
}

static void
we_secrets_libsecret_init (WeSecretsLibsecret *self)
{
}

static const gchar *
ref_to_name (const gchar *ref, GError **error)
{
  const gchar *scheme = NULL;
  const gchar *name = NULL;

  if (!we_secrets_ref_split (ref, &scheme, &name, error))
    return NULL;
  if (scheme != NULL && g_strcmp0 (scheme, "secret-service") != 0) {
    g_set_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                 "secret reference %s is not for the Secret Service backend", ref);
    return NULL;
  }
  if (!we_secrets_path_is_safe (name, MAX_NAME)) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                         "a Secret Service reference must be a name of letters, digits, '.', "
                         "'_', '-' and '/'");
    return NULL;
  }
  return name;
}

/* D-Bus and keyring errors carry no secret, but they are not ours: the
 * caller sees a backend failure, the details stay in its message. */
static void
degraded (GError **error, const gchar *ref, GError *cause)
{
  if (g_error_matches (cause, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
    g_propagate_error (error, g_error_copy (cause));
    return;
  }
  g_set_error (error, WE_ERROR, WE_ERROR_PLG_DEGRADED,
               "secret %s: the Secret Service is not available: %s", ref, cause->message);
}

static GBytes *
we_secrets_libsecret_lookup (WeSecrets *secrets, const gchar *ref, GCancellable *cancellable,
                             GError **error)
{
  const gchar *name = ref_to_name (ref, error);
  g_autoptr(GError) local_error = NULL;
  SecretValue *value;
  const gchar *data;
  gsize size = 0;
  GBytes *out;

  if (name == NULL)
    return NULL;
  value = secret_password_lookup_binary_sync (we_secret_schema (), cancellable, &local_error,
                                              "ref", name, NULL);
  if (local_error != NULL) {
    degraded (error, ref, local_error);
    return NULL;
  }
  if (value == NULL) {
    g_set_error (error, WE_ERROR, WE_ERROR_STO_NOT_FOUND,
                 "secret %s is not in the Secret Service", ref);
    return NULL;
  }
  data = secret_value_get (value, &size);
  if (size > WE_SECRETS_MAX_VALUE) {
    secret_value_unref (value);
    g_set_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                 "secret %s is larger than %d bytes", ref, WE_SECRETS_MAX_VALUE);
    return NULL;
  }
  out = we_secrets_bytes_new (data, size);
  secret_value_unref (value);   /* libsecret wipes its own copy */
  return out;
}

static gboolean
we_secrets_libsecret_store (WeSecrets *secrets, const gchar *ref, GBytes *bytes,
                            GCancellable *cancellable, GError **error)
{
  const gchar *name = ref_to_name (ref, error);
  g_autoptr(GError) local_error = NULL;
  g_autofree gchar *label = NULL;
  SecretValue *value;
  gsize size = 0;
  const gchar *data;
  gboolean ok;

  if (name == NULL)
    return FALSE;
  data = g_bytes_get_data (bytes, &size);
  if (size > WE_SECRETS_MAX_VALUE) {
    g_set_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                 "a secret may hold at most %d bytes", WE_SECRETS_MAX_VALUE);
    return FALSE;
  }
  label = g_strdup_printf ("WebEncode secret %s", name);
  value = secret_value_new (data != NULL ? data : "", (gssize) size, "application/octet-stream");
  ok = secret_password_store_binary_sync (we_secret_schema (), SECRET_COLLECTION_DEFAULT, label,
                                          value, cancellable, &local_error, "ref", name, NULL);
  secret_value_unref (value);
  if (!ok) {
    degraded (error, ref, local_error);
    return FALSE;
  }
  return TRUE;
}

static void
we_secrets_libsecret_iface_init (WeSecretsInterface *iface)
{
  iface->lookup = we_secrets_libsecret_lookup;
  iface->store = we_secrets_libsecret_store;
}

WeSecretsLibsecret *
we_secrets_libsecret_new (void)
{
  return g_object_new (WE_TYPE_SECRETS_LIBSECRET, NULL);
}
