/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * /v1/profiles (docs/api.md "Profiles"): reading for every role, writing for
 * operators and admins. Built-in profiles are read-only; the store checks
 * that in the same operation as the write, so the check cannot go stale.
 */
#include "config.h"
#include "we-api-handlers.h"

#include "common/we-log.h"

static void
profiles_listed_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  WeApiRequest *request = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) profiles = we_store_finish_list (WE_STORE (source), result, NULL, &error);
  JsonArray *array;
  JsonObject *o;

  if (profiles == NULL) {
    we_api_request_respond_error (request, error);
    return;
  }
  array = json_array_new ();
  for (guint i = 0; i < profiles->len; i++)
    json_array_add_object_element (array, we_profile_to_json (g_ptr_array_index (profiles, i)));
  o = json_object_new ();
  json_object_set_array_member (o, "profiles", array);
  we_api_request_respond_object (request, SOUP_STATUS_OK, o);
}

void
we_api_profiles_list (WeApiRequest *request)
{
  we_store_profile_list_async (we_api_request_context (request)->store, NULL,
                               profiles_listed_cb, request);
}

static void
profile_got_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  WeApiRequest *request = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(WeProfile) profile = we_store_finish_profile (WE_STORE (source), result, &error);

  if (profile == NULL) {
    we_api_request_respond_error (request, error);
    return;
  }
  we_api_request_respond_object (request, SOUP_STATUS_OK, we_profile_to_json (profile));
}

void
we_api_profiles_get (WeApiRequest *request)
{
  we_store_profile_get_async (we_api_request_context (request)->store,
                              we_api_request_param (request, 0), NULL, profile_got_cb, request);
}

/* --- writes --- */

typedef struct {
  WeApiRequest *request;
  gchar        *id;
  const gchar  *action;
  WeProfile    *profile;  /* create, replace: what was written */
} ProfileOp;

static void
profile_op_free (ProfileOp *op)
{
  g_free (op->id);
  g_clear_pointer (&op->profile, we_profile_unref);
  g_free (op);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ProfileOp, profile_op_free)

static ProfileOp *
profile_op_new (WeApiRequest *request, const gchar *action, const gchar *id)
{
  ProfileOp *op = g_new0 (ProfileOp, 1);

  op->request = request;
  op->action = action;
  op->id = g_strdup (id);
  return op;
}

/* Changes to profiles leave a trail, like the workers' administrative
 * actions (spec §19.3 audit log: who, what, which resource, the result). */
static void
audit (WeApiRequest *request, const gchar *action, const gchar *id, const GError *error)
{
  const WeIdentity *who = request->identity;

  we_log (G_LOG_LEVEL_INFO, request->request_id,
          error != NULL ? we_error_code_to_string (we_error_code_from_gerror (error)) : NULL,
          "audit: user=%s role=%s action=%s resource=profile/%s result=%s%s%s",
          who != NULL && who->username != NULL ? who->username : "-",
          who != NULL ? we_role_to_string (who->role) : "-", action, id ? id : "-",
          error != NULL ? "failure" : "success", error != NULL ? " reason=" : "",
          error != NULL ? error->message : "");
}

static void
respond_failure (ProfileOp *op, const GError *error)
{
  audit (op->request, op->action, op->id, error);
  we_api_request_respond_error (op->request, error);
}

static void
profile_written_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(ProfileOp) op = user_data;
  g_autoptr(GError) error = NULL;
  gboolean created = g_str_equal (op->action, "profile.create");

  if (!we_store_finish_boolean (WE_STORE (source), result, &error)) {
    respond_failure (op, error);
    return;
  }
  audit (op->request, op->action, op->id, NULL);
  we_api_request_respond_object (op->request, created ? SOUP_STATUS_CREATED : SOUP_STATUS_OK,
                                 we_profile_to_json (op->profile));
}

/* The body as a profile. @path_id: the id the URL names (PUT), which the
 * body may repeat but not contradict. @claimed_id: the body's id, valid or
 * not, for the audit line. */
static WeProfile *
profile_from_body (WeApiRequest *request, const gchar *path_id, gchar **claimed_id,
                   GError **error)
{
  g_autoptr(JsonObject) body = we_api_request_parse_json_object (request, error);
  JsonNode *id;
  gboolean id_is_string;

  if (body == NULL)
    return NULL;
  id = json_object_get_member (body, "id");
  id_is_string = id != NULL && JSON_NODE_HOLDS_VALUE (id) &&
                 json_node_get_value_type (id) == G_TYPE_STRING;
  if (claimed_id != NULL && id_is_string)
    *claimed_id = g_strndup (json_node_get_string (id), 64);
  if (path_id != NULL) {
    if (id != NULL && (!id_is_string || g_strcmp0 (json_node_get_string (id), path_id) != 0)) {
      g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_PROFILE,
                   "id in the body must be the URL's \"%s\" (ids cannot be changed; "
                   "duplicate the profile and delete the old one)", path_id);
      return NULL;
    }
    json_object_set_string_member (body, "id", path_id);
  }
  return we_profile_new_from_json (body, error);
}

void
we_api_profiles_create (WeApiRequest *request)
{
  g_autoptr(GError) error = NULL;
  g_autofree gchar *claimed_id = NULL;
  g_autoptr(WeProfile) profile = profile_from_body (request, NULL, &claimed_id, &error);
  ProfileOp *op = profile_op_new (request, "profile.create", claimed_id);

  if (profile == NULL) {
    respond_failure (op, error);
    profile_op_free (op);
    return;
  }
  op->profile = g_steal_pointer (&profile);
  we_store_profile_create_async (we_api_request_context (request)->store, op->profile,
                                 NULL, profile_written_cb, op);
}

void
we_api_profiles_replace (WeApiRequest *request)
{
  const gchar *id = we_api_request_param (request, 0);
  g_autoptr(GError) error = NULL;
  g_autoptr(WeProfile) profile = profile_from_body (request, id, NULL, &error);
  ProfileOp *op = profile_op_new (request, "profile.update", id);

  if (profile == NULL) {
    respond_failure (op, error);
    profile_op_free (op);
    return;
  }
  op->profile = g_steal_pointer (&profile);
  we_store_profile_replace_async (we_api_request_context (request)->store, op->profile,
                                  NULL, profile_written_cb, op);
}

static void
profile_deleted_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(ProfileOp) op = user_data;
  g_autoptr(GError) error = NULL;

  if (!we_store_finish_boolean (WE_STORE (source), result, &error)) {
    respond_failure (op, error);
    return;
  }
  audit (op->request, op->action, op->id, NULL);
  we_api_request_respond_empty (op->request, SOUP_STATUS_NO_CONTENT);
}

void
we_api_profiles_delete (WeApiRequest *request)
{
  const gchar *id = we_api_request_param (request, 0);

  we_store_profile_delete_async (we_api_request_context (request)->store, id, NULL,
                                 profile_deleted_cb,
                                 profile_op_new (request, "profile.delete", id));
}

static void
profile_duplicated_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(ProfileOp) op = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(WeProfile) copy = we_store_finish_profile (WE_STORE (source), result, &error);

  if (copy == NULL) {
    respond_failure (op, error);
    return;
  }
  /* the trail names the source and the copy */
  {
    g_autofree gchar *both = g_strdup_printf ("%s->%s", op->id, copy->id);
    audit (op->request, op->action, both, NULL);
  }
  we_api_request_respond_object (op->request, SOUP_STATUS_CREATED, we_profile_to_json (copy));
}

/* Optional {"id","name"}: strings, nothing else. */
static gboolean
parse_duplicate_body (WeApiRequest *request, gchar **new_id, gchar **new_name, GError **error)
{
  g_autoptr(JsonObject) body = NULL;
  g_autoptr(GList) members = NULL;
  const gchar *names[] = { "id", "name" };
  gchar **out[] = { new_id, new_name };

  if (request->body == NULL || g_bytes_get_size (request->body) == 0)
    return TRUE;
  body = we_api_request_parse_json_object (request, error);
  if (body == NULL)
    return FALSE;
  members = json_object_get_members (body);
  for (GList *l = members; l != NULL; l = l->next) {
    if (!g_str_equal (l->data, "id") && !g_str_equal (l->data, "name")) {
      g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                   "unknown member \"%s\"; a duplicate takes only \"id\" and \"name\"",
                   (const gchar *) l->data);
      return FALSE;
    }
  }
  for (guint i = 0; i < G_N_ELEMENTS (names); i++) {
    JsonNode *node = json_object_get_member (body, names[i]);
    if (node == NULL || JSON_NODE_HOLDS_NULL (node))
      continue;
    if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING) {
      g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST, "\"%s\" must be a string",
                   names[i]);
      return FALSE;
    }
    *out[i] = g_strdup (json_node_get_string (node));
  }
  if (*new_id != NULL && !we_profile_id_is_valid (*new_id)) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_PROFILE,
                 "id must be 1-64 characters of [a-z0-9_-] (got \"%s\")", *new_id);
    return FALSE;
  }
  if (*new_name != NULL && (**new_name == '\0' || g_utf8_strlen (*new_name, -1) > 128)) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_JOB_INVALID_PROFILE,
                         "name must be 1-128 characters");
    return FALSE;
  }
  return TRUE;
}

void
we_api_profiles_duplicate (WeApiRequest *request)
{
  const gchar *id = we_api_request_param (request, 0);
  g_autoptr(GError) error = NULL;
  g_autofree gchar *new_id = NULL;
  g_autofree gchar *new_name = NULL;
  ProfileOp *op = profile_op_new (request, "profile.duplicate", id);

  if (!parse_duplicate_body (request, &new_id, &new_name, &error)) {
    respond_failure (op, error);
    profile_op_free (op);
    return;
  }
  we_store_profile_duplicate_async (we_api_request_context (request)->store, id, new_id,
                                    new_name, NULL, profile_duplicated_cb, op);
}

/* --- service --- */

void
we_api_health (WeApiRequest *request)
{
  we_api_request_respond_object (request, SOUP_STATUS_OK,
                                 we_api_health_json (we_api_request_context (request),
                                                     we_api_server_get_started_at (request->server)));
}

JsonObject *
we_api_health_json (const WeApiContext *ctx, gint64 started_at)
{
  JsonObject *o = json_object_new ();
  JsonObject *workers = json_object_new ();
  gint64 up = (g_get_real_time () - started_at) / G_USEC_PER_SEC;

  json_object_set_string_member (o, "status", "ok");
  json_object_set_string_member (o, "version", PACKAGE_VERSION);
  json_object_set_string_member (o, "mode", ctx->mode);
  json_object_set_string_member (o, "store", ctx->store_kind);
  json_object_set_int_member (workers, "total", we_queue_total_slots (ctx->queue));
  json_object_set_int_member (workers, "free", we_queue_free_slots (ctx->queue));
  json_object_set_object_member (o, "workers", workers);
  json_object_set_int_member (o, "active_jobs", we_scheduler_get_active_count (ctx->scheduler));
  json_object_set_int_member (o, "uptime_s", up);
  return o;
}
