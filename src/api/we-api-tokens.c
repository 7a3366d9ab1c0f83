/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"
#include "we-api-tokens.h"

#include <string.h>
#include <sys/random.h>

#include "common/we-json.h"
#include "common/we-log.h"
#include "we-api-handlers.h"

#define TOKEN_RANDOM_BYTES 32
#define TOKEN_BODY_LEN     43  /* base64url of 32 bytes, unpadded */
#define TOKEN_SHOWN_PREFIX 8
#define LAST_USED_EVERY_US (60 * G_USEC_PER_SEC)
#define MAX_NAME_LEN       100

gboolean
we_api_token_looks_like (const gchar *token)
{
  if (token == NULL || !g_str_has_prefix (token, WE_API_TOKEN_PREFIX))
    return FALSE;
  token += strlen (WE_API_TOKEN_PREFIX);
  if (strlen (token) != TOKEN_BODY_LEN)
    return FALSE;
  for (const gchar *p = token; *p != '\0'; p++) {
    if (!g_ascii_isalnum (*p) && *p != '-' && *p != '_')
      return FALSE;
  }
  return TRUE;
}

gchar *
we_api_token_digest (const gchar *token)
{
  g_autofree gchar *hex = g_compute_checksum_for_string (G_CHECKSUM_SHA256, token, -1);

  return g_strconcat ("sha256:", hex, NULL);
}

gchar *
we_api_token_generate (void)
{
  guint8 bytes[TOKEN_RANDOM_BYTES];
  g_autofree gchar *b64 = NULL;
  gsize got = 0;

  /* getrandom: the kernel CSPRNG, never GLib's Mersenne Twister */
  while (got < sizeof bytes) {
    gssize n = getrandom (bytes + got, sizeof bytes - got, 0);

    if (n > 0)
      got += (gsize) n;
    else if (n < 0 && errno != EINTR)
      g_error ("getrandom failed: %s", g_strerror (errno));
  }
  b64 = g_base64_encode (bytes, sizeof bytes);
  memset (bytes, 0, sizeof bytes);
  for (gchar *p = b64; *p != '\0'; p++) {
    if (*p == '+')
      *p = '-';
    else if (*p == '/')
      *p = '_';
    else if (*p == '=')
      *p = '\0';
  }
  return g_strconcat (WE_API_TOKEN_PREFIX, b64, NULL);
}

WeIdentity *
we_api_token_authenticate (WeStore *store, const gchar *token, GError **error)
{
  g_autofree gchar *digest = we_api_token_digest (token);
  g_autoptr(GError) local = NULL;
  g_autoptr(WeApiToken) row = we_store_token_get_by_hash (store, digest, &local);
  gint64 now = g_get_real_time ();
  WeIdentity *identity;

  if (row == NULL) {
    if (g_error_matches (local, WE_ERROR, WE_ERROR_SYS_NOT_FOUND)) {
      g_set_error_literal (error, WE_ERROR, WE_ERROR_AUTH_UNAUTHORIZED, "unknown API token");
      return NULL;
    }
    g_propagate_error (error, g_steal_pointer (&local));
    return NULL;
  }
  if (row->revoked_at != 0) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_AUTH_UNAUTHORIZED, "the API token is revoked");
    return NULL;
  }
  if (row->expires_at != 0 && row->expires_at <= now) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_AUTH_TOKEN_EXPIRED, "the API token expired");
    return NULL;
  }
  if (now - row->last_used_at >= LAST_USED_EVERY_US) {
    g_autoptr(GError) put_error = NULL;

    /* coarse on purpose: one write a minute per token, not one per call */
    row->last_used_at = now;
    if (!we_store_token_put (store, row, &put_error))
      g_debug ("token %s: last use not recorded: %s", row->id, put_error->message);
  }
  identity = we_identity_new ();
  identity->user_id = g_strdup (row->user_id);
  identity->username = g_strdup (row->username);
  identity->role = row->role;
  identity->expires_at_unix = row->expires_at / G_USEC_PER_SEC;
  return identity;
}

/* --- handlers ------------------------------------------------------------- */

static void
set_time (JsonObject *o, const gchar *name, gint64 t)
{
  g_autofree gchar *text = we_time_format (t);

  if (text != NULL)
    json_object_set_string_member (o, name, text);
  else
    json_object_set_null_member (o, name);
}

static JsonObject *
token_to_json (const WeApiToken *token)
{
  JsonObject *o = json_object_new ();
  g_autofree gchar *shown = g_strconcat (WE_API_TOKEN_PREFIX, token->prefix, "…", NULL);

  json_object_set_string_member (o, "id", token->id);
  json_object_set_string_member (o, "name", token->name);
  json_object_set_string_member (o, "prefix", shown);
  json_object_set_string_member (o, "user_id", token->user_id);
  json_object_set_string_member (o, "username", token->username);
  json_object_set_string_member (o, "role", we_role_to_string (token->role));
  if (token->created_by != NULL)
    json_object_set_string_member (o, "created_by", token->created_by);
  set_time (o, "created_at", token->created_at);
  set_time (o, "expires_at", token->expires_at);
  set_time (o, "last_used_at", token->last_used_at);
  set_time (o, "revoked_at", token->revoked_at);
  json_object_set_boolean_member (o, "active", token->revoked_at == 0 &&
                                  (token->expires_at == 0 ||
                                   token->expires_at > g_get_real_time ()));
  return o;
}

static gpointer
list_in_store (WeStore *store, gpointer data, GError **error)
{
  return we_store_token_list (store, error);
}

static void
listed_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  WeApiRequest *request = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) list = we_store_call_finish (WE_STORE (source), result, &error);
  JsonArray *array;

  if (error != NULL) {
    we_api_request_respond_error (request, error);
    return;
  }
  array = json_array_new ();
  for (guint i = 0; list != NULL && i < list->len; i++)
    json_array_add_object_element (array, token_to_json (g_ptr_array_index (list, i)));
  we_api_request_respond_array (request, 200, array);
}

void
we_api_tokens_list (WeApiRequest *request)
{
  const WeApiContext *ctx = we_api_request_context (request);

  we_store_call_async (ctx->store, list_in_store, NULL, NULL, (GDestroyNotify) g_ptr_array_unref,
                       request->cancellable, listed_cb, request);
}

typedef struct {
  WeApiRequest *request;
  WeApiToken   *token;
  gchar        *secret;
} Created;

static void
created_free (Created *c)
{
  we_api_token_free (c->token);
  we_secret_free (c->secret);
  g_free (c);
}

static gpointer
put_in_store (WeStore *store, gpointer data, GError **error)
{
  return we_store_token_put (store, data, error) ? GINT_TO_POINTER (1) : NULL;
}

static void
created_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Created *c = user_data;
  g_autoptr(GError) error = NULL;
  JsonObject *o;

  we_store_call_finish (WE_STORE (source), result, &error);
  if (error != NULL) {
    we_api_request_respond_error (c->request, error);
    created_free (c);
    return;
  }
  we_log (G_LOG_LEVEL_INFO, c->request->request_id, NULL, "API token %s (%s, %s) created",
          c->token->id, c->token->name, we_role_to_string (c->token->role));
  o = token_to_json (c->token);
  /* the only time the token is ever shown */
  json_object_set_string_member (o, "token", c->secret);
  we_api_request_respond_object (c->request, 201, o);
  created_free (c);
}

void
we_api_tokens_create (WeApiRequest *request)
{
  const WeApiContext *ctx = we_api_request_context (request);
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) body = we_api_request_parse_json_object (request, &error);
  const gchar *name, *role_name, *username;
  gint64 expires_in;
  WeRole role;
  Created *c;
  WeApiToken *token;
  g_autofree gchar *random_id = NULL;

  if (body == NULL) {
    we_api_request_respond_error (request, error);
    return;
  }
  name = we_json_get_string (body, "name");
  role_name = we_json_get_string (body, "role");
  username = we_json_get_string (body, "username");
  expires_in = we_json_get_int (body, "expires_in_s", 0);
  role = role_name != NULL ? we_role_from_string (role_name) : WE_ROLE_VIEWER;
  if (name == NULL || *name == '\0' || g_utf8_strlen (name, -1) > MAX_NAME_LEN ||
      !g_utf8_validate (name, -1, NULL)) {
    error = g_error_new (WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                         "name is required (1 to %d characters)", MAX_NAME_LEN);
  } else if (role == WE_ROLE_NONE) {
    error = g_error_new_literal (WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                                 "role must be viewer, operator or admin");
  } else if (role > request->identity->role) {
    error = g_error_new (WE_ERROR, WE_ERROR_AUTH_FORBIDDEN,
                         "a token cannot have more rights than its creator (%s)",
                         we_role_to_string (request->identity->role));
  } else if (expires_in < 0 || expires_in > (gint64) 10 * 365 * 24 * 3600) {
    error = g_error_new_literal (WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                                 "expires_in_s must be between 1 and ten years (0 = never)");
  } else if (username != NULL && (*username == '\0' || strlen (username) > 256 ||
                                  !g_utf8_validate (username, -1, NULL))) {
    error = g_error_new_literal (WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                                 "username must be 1 to 256 characters");
  }
  if (error != NULL) {
    we_api_request_respond_error (request, error);
    return;
  }

  c = g_new0 (Created, 1);
  c->request = request;
  c->secret = we_api_token_generate ();
  token = c->token = we_api_token_new ();
  random_id = we_uuid_new ();
  token->id = g_strconcat ("tok_", random_id, NULL);
  token->name = g_strdup (name);
  token->token_hash = we_api_token_digest (c->secret);
  token->prefix = g_strndup (c->secret + strlen (WE_API_TOKEN_PREFIX), TOKEN_SHOWN_PREFIX);
  /* a token acts as its own user, so its jobs and audit entries say which
   * token did it; the name is what people will recognise */
  token->user_id = g_strdup (token->id);
  token->username = username != NULL ? g_strdup (username) : g_strconcat ("token:", name, NULL);
  token->role = role;
  token->created_by = g_strdup (request->identity->user_id);
  token->created_at = g_get_real_time ();
  token->expires_at = expires_in > 0 ? token->created_at + expires_in * G_USEC_PER_SEC : 0;
  request->audit_resource_id = g_strdup (token->id);
  we_store_call_async (ctx->store, put_in_store, we_api_token_copy (token),
                       (GDestroyNotify) we_api_token_free, NULL, request->cancellable,
                       created_cb, c);
}

static gpointer
revoke_in_store (WeStore *store, gpointer data, GError **error)
{
  g_autoptr(WeApiToken) token = we_store_token_get (store, data, error);

  if (token == NULL)
    return NULL;
  if (token->revoked_at == 0) {
    token->revoked_at = g_get_real_time ();
    if (!we_store_token_put (store, token, error))
      return NULL;
  }
  return GINT_TO_POINTER (1);
}

static void
revoked_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  WeApiRequest *request = user_data;
  g_autoptr(GError) error = NULL;

  we_store_call_finish (WE_STORE (source), result, &error);
  if (error != NULL) {
    we_api_request_respond_error (request, error);
    return;
  }
  we_api_request_respond_empty (request, 204);
}

void
we_api_tokens_revoke (WeApiRequest *request)
{
  const WeApiContext *ctx = we_api_request_context (request);

  we_store_call_async (ctx->store, revoke_in_store, g_strdup (we_api_request_param (request, 0)),
                       g_free, NULL,
                       request->cancellable, revoked_cb, request);
}
