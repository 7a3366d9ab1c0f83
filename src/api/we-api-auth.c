/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Who is calling: API tokens first (ours, in the store), then every loaded
 * auth pillar in priority order until one knows the caller. Runs in a GTask
 * thread, since providers may block on bcrypt, LDAP or the IdP. Failed
 * attempts count against the client's address (we-login-limiter).
 */
#include "config.h"

#include <string.h>

#include "common/we-log.h"
#include "we-api-private.h"
#include "we-api-tokens.h"

typedef struct {
  gchar     *authorization;
  gchar     *client_ip;
  gchar     *user_agent;
  gboolean   is_local;
  WeStore   *store;
  GPtrArray *providers;  /* WeAuthProvider, priority order */
} AuthData;

static void
auth_data_free (AuthData *d)
{
  if (d->authorization != NULL)
    memset (d->authorization, 0, strlen (d->authorization));
  g_free (d->authorization);
  g_free (d->client_ip);
  g_free (d->user_agent);
  g_clear_object (&d->store);
  g_clear_pointer (&d->providers, g_ptr_array_unref);
  g_free (d);
}

/* Which failure to report when every provider refused: the one that says
 * most (an expired token over "not my scheme"). */
static gint
error_rank (const GError *error)
{
  if (error == NULL)
    return -1;
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED))
    return 0; /* the provider does not handle this scheme */
  if (error->domain != WE_ERROR)
    return 1;
  switch (error->code) {
  case WE_ERROR_AUTH_UNAUTHORIZED:
    return 2;
  case WE_ERROR_AUTH_PROVIDER_UNAVAILABLE:
    return 3;
  case WE_ERROR_AUTH_FORBIDDEN:
    return 4;
  case WE_ERROR_AUTH_TOKEN_EXPIRED:
    return 5;
  default:
    return 1;
  }
}

static void
authenticate_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  AuthData *d = task_data;
  WeAuthRequest req = { 0 };
  g_autofree gchar *scheme = NULL;
  const gchar *token = NULL;
  g_autoptr(GError) best = NULL;

  if (d->authorization != NULL) {
    const gchar *space = strchr (d->authorization, ' ');

    if (space != NULL) {
      scheme = g_ascii_strdown (d->authorization, space - d->authorization);
      token = space + 1;
      while (*token == ' ')
        token++;
    } else {
      scheme = g_strdup ("unknown");
      token = "";
    }
  }

  if (token != NULL && we_api_token_looks_like (token) &&
      (g_strcmp0 (scheme, "bearer") == 0 || g_strcmp0 (scheme, "api-key") == 0)) {
    GError *error = NULL;
    WeIdentity *identity = we_api_token_authenticate (d->store, token, &error);

    if (identity == NULL)
      g_task_return_error (task, error);
    else
      g_task_return_pointer (task, identity, (GDestroyNotify) we_identity_free);
    return;
  }

  if (d->providers->len == 0) {
    g_task_return_new_error (task, WE_ERROR, WE_ERROR_AUTH_PROVIDER_UNAVAILABLE,
                             "no authentication plugin is loaded");
    return;
  }
  req.scheme = scheme;
  req.token = token;
  req.client_ip = d->client_ip;
  req.user_agent = d->user_agent;
  req.client_is_local = d->is_local;
  for (guint i = 0; i < d->providers->len; i++) {
    GError *error = NULL;
    WeIdentity *identity = we_auth_provider_authenticate (g_ptr_array_index (d->providers, i),
                                                          &req, &error);

    if (identity != NULL) {
      g_clear_error (&error);
      g_task_return_pointer (task, identity, (GDestroyNotify) we_identity_free);
      return;
    }
    if (error == NULL)
      error = g_error_new_literal (WE_ERROR, WE_ERROR_AUTH_UNAUTHORIZED, "authentication failed");
    if (error_rank (error) > error_rank (best)) {
      g_clear_error (&best);
      best = error;
    } else {
      g_error_free (error);
    }
  }
  if (best->domain != WE_ERROR) {
    /* never leak a provider's internals as anything but a clean 401 */
    g_task_return_new_error (task, WE_ERROR, WE_ERROR_AUTH_UNAUTHORIZED,
                             scheme == NULL ? "authentication required" : "authentication failed");
    return;
  }
  g_task_return_error (task, g_steal_pointer (&best));
}

void
we_api_server_authenticate_async (WeApiServer *self, SoupServerMessage *msg,
                                  GCancellable *cancellable, GAsyncReadyCallback callback,
                                  gpointer user_data)
{
  const WeApiContext *ctx = we_api_server_get_context (self);
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
  AuthData *d = g_new0 (AuthData, 1);
  SoupMessageHeaders *h = soup_server_message_get_request_headers (msg);
  GSocketAddress *remote = soup_server_message_get_remote_address (msg);
  guint wait_s;

  g_task_set_source_tag (task, we_api_server_authenticate_async);
  d->authorization = g_strdup (soup_message_headers_get_one (h, "Authorization"));
  d->user_agent = g_strdup (soup_message_headers_get_one (h, "User-Agent"));
  d->client_ip = g_strdup (soup_server_message_get_remote_host (msg));
  if (remote == NULL) {
    d->is_local = FALSE;
  } else if (G_IS_INET_SOCKET_ADDRESS (remote)) {
    GInetAddress *addr = g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (remote));
    d->is_local = g_inet_address_get_is_loopback (addr);
  } else if (G_IS_UNIX_SOCKET_ADDRESS (remote)) {
    d->is_local = TRUE;
  }
  d->store = g_object_ref (ctx->store);
  d->providers = we_plugin_host_auth_providers (ctx->host);
  g_task_set_task_data (task, d, (GDestroyNotify) auth_data_free);

  wait_s = we_login_limiter_check (we_api_server_get_login_limiter (self), d->client_ip,
                                   g_get_monotonic_time ());
  if (wait_s > 0) {
    g_autofree gchar *retry = g_strdup_printf ("%u", wait_s);

    soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Retry-After",
                                  retry);
    g_task_return_new_error (task, WE_ERROR, WE_ERROR_SYS_RATE_LIMITED,
                             "too many failed logins from this address; try again in %u s",
                             wait_s);
    return;
  }
  g_task_run_in_thread (task, authenticate_thread);
}

WeIdentity *
we_api_server_authenticate_finish (WeApiServer *self, GAsyncResult *result, GError **error)
{
  AuthData *d = g_task_get_task_data (G_TASK (result));
  GError *local = NULL;
  WeIdentity *identity = g_task_propagate_pointer (G_TASK (result), &local);

  if (identity != NULL)
    return identity;
  /* only refused credentials count: no credentials at all is a client
   * that has yet to log in, and an unreachable provider is nobody's fault */
  if (d->authorization != NULL && local->domain == WE_ERROR &&
      (local->code == WE_ERROR_AUTH_UNAUTHORIZED || local->code == WE_ERROR_AUTH_TOKEN_EXPIRED))
    we_login_limiter_failed (we_api_server_get_login_limiter (self), d->client_ip,
                             g_get_monotonic_time ());
  g_propagate_error (error, local);
  return NULL;
}
