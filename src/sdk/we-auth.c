/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "webencode/we-auth.h"
#include "webencode/we-error.h"

G_DEFINE_INTERFACE (WeAuthProvider, we_auth_provider, G_TYPE_OBJECT)

static void
we_auth_provider_default_init (WeAuthProviderInterface *iface)
{
}

const gchar *
we_role_to_string (WeRole role)
{
  switch (role) {
  case WE_ROLE_VIEWER:
    return "viewer";
  case WE_ROLE_OPERATOR:
    return "operator";
  case WE_ROLE_ADMIN:
    return "admin";
  case WE_ROLE_NONE:
  default:
    return "none";
  }
}

WeRole
we_role_from_string (const gchar *str)
{
  if (g_strcmp0 (str, "viewer") == 0)
    return WE_ROLE_VIEWER;
  if (g_strcmp0 (str, "operator") == 0)
    return WE_ROLE_OPERATOR;
  if (g_strcmp0 (str, "admin") == 0)
    return WE_ROLE_ADMIN;
  return WE_ROLE_NONE;
}

WeIdentity *
we_identity_new (void)
{
  return g_new0 (WeIdentity, 1);
}

WeIdentity *
we_identity_copy (const WeIdentity *identity)
{
  WeIdentity *copy = g_new0 (WeIdentity, 1);

  copy->user_id = g_strdup (identity->user_id);
  copy->username = g_strdup (identity->username);
  copy->email = g_strdup (identity->email);
  copy->display_name = g_strdup (identity->display_name);
  copy->role = identity->role;
  copy->expires_at_unix = identity->expires_at_unix;
  copy->access_token = g_strdup (identity->access_token);
  copy->refresh_token = g_strdup (identity->refresh_token);
  return copy;
}

void
we_identity_free (WeIdentity *identity)
{
  if (identity == NULL)
    return;
  g_free (identity->user_id);
  g_free (identity->username);
  g_free (identity->email);
  g_free (identity->display_name);
  g_free (identity->access_token);
  g_free (identity->refresh_token);
  g_free (identity);
}

static gboolean
unsupported (GObject *self, const gchar *what, GError **error)
{
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
               "%s does not support %s", G_OBJECT_TYPE_NAME (self), what);
  return FALSE;
}

WeIdentity *
we_auth_provider_authenticate (WeAuthProvider *self, const WeAuthRequest *request, GError **error)
{
  g_return_val_if_fail (WE_IS_AUTH_PROVIDER (self), NULL);
  if (WE_AUTH_PROVIDER_GET_IFACE (self)->authenticate == NULL) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_AUTH_PROVIDER_UNAVAILABLE,
                         "auth provider cannot authenticate");
    return NULL;
  }
  return WE_AUTH_PROVIDER_GET_IFACE (self)->authenticate (self, request, error);
}

gboolean
we_auth_provider_authorize (WeAuthProvider *self, const WeIdentity *identity, const gchar *action,
                            const gchar *resource_type, const gchar *resource_id, GError **error)
{
  g_return_val_if_fail (WE_IS_AUTH_PROVIDER (self), FALSE);
  if (WE_AUTH_PROVIDER_GET_IFACE (self)->authorize == NULL)
    return TRUE;
  return WE_AUTH_PROVIDER_GET_IFACE (self)->authorize (self, identity, action, resource_type,
                                                       resource_id, error);
}

WeIdentity *
we_auth_provider_get_user_profile (WeAuthProvider *self, const gchar *user_id, GError **error)
{
  g_return_val_if_fail (WE_IS_AUTH_PROVIDER (self), NULL);
  if (WE_AUTH_PROVIDER_GET_IFACE (self)->get_user_profile == NULL) {
    unsupported (G_OBJECT (self), "user profiles", error);
    return NULL;
  }
  return WE_AUTH_PROVIDER_GET_IFACE (self)->get_user_profile (self, user_id, error);
}

GPtrArray *
we_auth_provider_list_users (WeAuthProvider *self, WeRole role_filter, GError **error)
{
  g_return_val_if_fail (WE_IS_AUTH_PROVIDER (self), NULL);
  if (WE_AUTH_PROVIDER_GET_IFACE (self)->list_users == NULL) {
    unsupported (G_OBJECT (self), "listing users", error);
    return NULL;
  }
  return WE_AUTH_PROVIDER_GET_IFACE (self)->list_users (self, role_filter, error);
}

WeIdentity *
we_auth_provider_refresh_token (WeAuthProvider *self, const gchar *refresh_token, GError **error)
{
  g_return_val_if_fail (WE_IS_AUTH_PROVIDER (self), NULL);
  if (WE_AUTH_PROVIDER_GET_IFACE (self)->refresh_token == NULL) {
    unsupported (G_OBJECT (self), "token refresh", error);
    return NULL;
  }
  return WE_AUTH_PROVIDER_GET_IFACE (self)->refresh_token (self, refresh_token, error);
}

gboolean
we_auth_provider_logout (WeAuthProvider *self, const gchar *user_id, const gchar *session_id,
                         gboolean all_sessions, GError **error)
{
  g_return_val_if_fail (WE_IS_AUTH_PROVIDER (self), FALSE);
  if (WE_AUTH_PROVIDER_GET_IFACE (self)->logout == NULL)
    return TRUE; /* stateless providers have nothing to invalidate */
  return WE_AUTH_PROVIDER_GET_IFACE (self)->logout (self, user_id, session_id, all_sessions, error);
}

gboolean
we_auth_provider_supports_login (WeAuthProvider *self)
{
  g_return_val_if_fail (WE_IS_AUTH_PROVIDER (self), FALSE);
  return WE_AUTH_PROVIDER_GET_IFACE (self)->begin_login != NULL &&
         WE_AUTH_PROVIDER_GET_IFACE (self)->complete_login != NULL;
}

gchar *
we_auth_provider_begin_login (WeAuthProvider *self, const gchar *redirect_uri, const gchar *state,
                              const gchar *code_verifier, GError **error)
{
  g_return_val_if_fail (WE_IS_AUTH_PROVIDER (self), NULL);
  if (!we_auth_provider_supports_login (self)) {
    unsupported (G_OBJECT (self), "interactive login", error);
    return NULL;
  }
  return WE_AUTH_PROVIDER_GET_IFACE (self)->begin_login (self, redirect_uri, state, code_verifier,
                                                         error);
}

WeIdentity *
we_auth_provider_complete_login (WeAuthProvider *self, const gchar *redirect_uri, const gchar *code,
                                 const gchar *code_verifier, GError **error)
{
  g_return_val_if_fail (WE_IS_AUTH_PROVIDER (self), NULL);
  if (!we_auth_provider_supports_login (self)) {
    unsupported (G_OBJECT (self), "interactive login", error);
    return NULL;
  }
  return WE_AUTH_PROVIDER_GET_IFACE (self)->complete_login (self, redirect_uri, code,
                                                            code_verifier, error);
}
