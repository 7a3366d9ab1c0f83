/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Pillar 1: authentication (spec §7.1). The kernel enforces RBAC in one place
 * (src/api/we-rbac.c); a provider only says who the caller is and, if it has
 * an opinion, whether an action is allowed. Methods may block (LDAP, OIDC):
 * the kernel calls them from worker threads.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef enum {
  WE_ROLE_NONE = 0,
  WE_ROLE_VIEWER,
  WE_ROLE_OPERATOR,
  WE_ROLE_ADMIN,
} WeRole;

const gchar *we_role_to_string   (WeRole role);
WeRole       we_role_from_string (const gchar *str);

typedef struct {
  const gchar *scheme;      /* "basic", "bearer", "api-key" or NULL when absent */
  const gchar *token;       /* the credentials after the scheme */
  const gchar *client_ip;
  const gchar *user_agent;
  gboolean     client_is_local;  /* loopback or a unix socket */
} WeAuthRequest;

typedef struct {
  gchar  *user_id;
  gchar  *username;
  gchar  *email;
  gchar  *display_name;
  WeRole  role;
  gint64  expires_at_unix;  /* 0 = no expiry */
  gchar  *access_token;     /* set when refreshed */
  gchar  *refresh_token;
} WeIdentity;

WeIdentity *we_identity_new   (void);
WeIdentity *we_identity_copy  (const WeIdentity *identity);
void        we_identity_free  (WeIdentity *identity);

#define WE_TYPE_AUTH_PROVIDER (we_auth_provider_get_type ())
G_DECLARE_INTERFACE (WeAuthProvider, we_auth_provider, WE, AUTH_PROVIDER, GObject)

struct _WeAuthProviderInterface {
  GTypeInterface parent_iface;

  /* WE_ERROR_AUTH_UNAUTHORIZED / _TOKEN_EXPIRED when the credentials fail. */
  WeIdentity *(*authenticate)     (WeAuthProvider      *self,
                                   const WeAuthRequest *request,
                                   GError             **error);
  /* Optional: a provider-specific veto on top of the kernel's RBAC. */
  gboolean    (*authorize)        (WeAuthProvider   *self,
                                   const WeIdentity *identity,
                                   const gchar      *action,
                                   const gchar      *resource_type,
                                   const gchar      *resource_id,
                                   GError          **error);
  WeIdentity *(*get_user_profile) (WeAuthProvider *self,
                                   const gchar    *user_id,
                                   GError        **error);
  /* (element-type WeIdentity) */
  GPtrArray  *(*list_users)       (WeAuthProvider *self,
                                   WeRole          role_filter,
                                   GError        **error);
  WeIdentity *(*refresh_token)    (WeAuthProvider *self,
                                   const gchar    *refresh_token,
                                   GError        **error);
  gboolean    (*logout)           (WeAuthProvider *self,
                                   const gchar    *user_id,
                                   const gchar    *session_id,
                                   gboolean        all_sessions,
                                   GError        **error);

  /* ABI minor 3, optional: interactive login for the dashboard (OIDC
   * authorization code + PKCE). begin_login returns the URL to send the
   * browser to; @state and @code_verifier are chosen by the kernel, which
   * keeps them until the callback. complete_login exchanges the code for an
   * identity whose access_token/refresh_token the dashboard then uses. */
  gchar      *(*begin_login)      (WeAuthProvider *self,
                                   const gchar    *redirect_uri,
                                   const gchar    *state,
                                   const gchar    *code_verifier,
                                   GError        **error);
  WeIdentity *(*complete_login)   (WeAuthProvider *self,
                                   const gchar    *redirect_uri,
                                   const gchar    *code,
                                   const gchar    *code_verifier,
                                   GError        **error);

  gpointer padding[10];
};

/* Returns: (transfer full) (nullable) */
WeIdentity *we_auth_provider_authenticate     (WeAuthProvider *self, const WeAuthRequest *request,
                                               GError **error);
/* TRUE when the provider has no opinion (no vfunc) */
gboolean    we_auth_provider_authorize        (WeAuthProvider *self, const WeIdentity *identity,
                                               const gchar *action, const gchar *resource_type,
                                               const gchar *resource_id, GError **error);
/* Returns: (transfer full) (nullable) */
WeIdentity *we_auth_provider_get_user_profile (WeAuthProvider *self, const gchar *user_id,
                                               GError **error);
/* Returns: (transfer container) (element-type WeIdentity) (nullable) */
GPtrArray  *we_auth_provider_list_users       (WeAuthProvider *self, WeRole role_filter,
                                               GError **error);
/* Returns: (transfer full) (nullable) */
WeIdentity *we_auth_provider_refresh_token    (WeAuthProvider *self, const gchar *refresh_token,
                                               GError **error);
gboolean    we_auth_provider_logout           (WeAuthProvider *self, const gchar *user_id,
                                               const gchar *session_id, gboolean all_sessions,
                                               GError **error);

/* FALSE when the provider has no interactive login */
gboolean    we_auth_provider_supports_login   (WeAuthProvider *self);
/* Returns: (transfer full) (nullable) */
gchar      *we_auth_provider_begin_login      (WeAuthProvider *self, const gchar *redirect_uri,
                                               const gchar *state, const gchar *code_verifier,
                                               GError **error);
/* Returns: (transfer full) (nullable) */
WeIdentity *we_auth_provider_complete_login   (WeAuthProvider *self, const gchar *redirect_uri,
                                               const gchar *code, const gchar *code_verifier,
                                               GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeIdentity, we_identity_free)

G_END_DECLS
