/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "webencode/we-secrets.h"
#include "webencode/we-error.h"

#include <string.h>

G_DEFINE_INTERFACE (WeSecrets, we_secrets, G_TYPE_OBJECT)

static void
we_secrets_default_init (WeSecretsInterface *iface)
{
}

GBytes *
we_secrets_lookup (WeSecrets *self, const gchar *ref, GCancellable *cancellable, GError **error)
{
  g_return_val_if_fail (WE_IS_SECRETS (self), NULL);
  g_return_val_if_fail (ref != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  return WE_SECRETS_GET_IFACE (self)->lookup (self, ref, cancellable, error);
}

gboolean
we_secrets_store (WeSecrets *self, const gchar *ref, GBytes *value, GCancellable *cancellable,
                  GError **error)
{
  WeSecretsInterface *iface;

  g_return_val_if_fail (WE_IS_SECRETS (self), FALSE);
  g_return_val_if_fail (ref != NULL && value != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  iface = WE_SECRETS_GET_IFACE (self);
  if (iface->store == NULL) {
    g_set_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                 "the %s secrets backend is read-only", G_OBJECT_TYPE_NAME (self));
    return FALSE;
  }
  return iface->store (self, ref, value, cancellable, error);
}

gboolean
we_secrets_key_is_ref (const gchar *key)
{
  return key != NULL && (g_str_has_suffix (key, "_secret_ref") || g_str_has_suffix (key, "_token_ref"));
}

gchar *
we_plugin_config_get_secret (JsonObject *config, WeSecrets *secrets, const gchar *name,
                             GCancellable *cancellable, GError **error)
{
  static const gchar *const suffixes[] = { "_secret_ref", "_token_ref" };
  const gchar *ref = NULL;
  g_autoptr(GBytes) value = NULL;
  const gchar *data;
  gsize size;

  g_return_val_if_fail (name != NULL, NULL);

  for (guint i = 0; config != NULL && ref == NULL && i < G_N_ELEMENTS (suffixes); i++) {
    g_autofree gchar *key = g_strconcat (name, suffixes[i], NULL);
    JsonNode *node = json_object_get_member (config, key);

    if (node != NULL && JSON_NODE_HOLDS_VALUE (node) &&
        json_node_get_value_type (node) == G_TYPE_STRING && *json_node_get_string (node) != '\0')
      ref = json_node_get_string (node);
  }
  if (ref == NULL)
    return NULL;
  if (secrets == NULL) {
    g_set_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                 "%s names a secret reference but no secrets backend is configured", name);
    return NULL;
  }
  value = we_secrets_lookup (secrets, ref, cancellable, error);
  if (value == NULL)
    return NULL;
  data = g_bytes_get_data (value, &size);
  if (memchr (data, '\0', size) != NULL) {
    g_set_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                 "the secret %s refers to is not text", name);
    return NULL;
  }
  return g_strndup (data, size);
}

void
we_secret_free (gchar *secret)
{
  if (secret == NULL)
    return;
  /* volatile: the compiler may not drop a store to memory about to be freed */
  for (volatile gchar *p = secret; *p != '\0'; p++)
    *p = '\0';
  g_free (secret);
}
