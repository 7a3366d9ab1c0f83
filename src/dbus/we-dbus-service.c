/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"
#include "we-dbus-service.h"

#include <fcntl.h>
#include <glib-unix.h>
#include <gio/gunixfdlist.h>
#include <gio/gunixinputstream.h>
#include <gio/gunixoutputstream.h>
#include <string.h>
#include <unistd.h>

#include "common/we-log.h"
#include "core/we-rbac.h"
#include "core/we-task-debug.h"
#include "we-dbus-auth.h"
#include "we-dbus-job.h"

#define LIST_MAX 500

struct _WeDbusService {
  GObject                   parent_instance;
  WeApiContext              ctx;
  GBusType                  bus_type;
  guint                     linger_s;
  gint64                    started_at;
  GDBusConnection          *connection;
  GDBusObjectManagerServer *manager;
  WeDBusWebEncode1         *iface;
  GHashTable               *jobs;    /* job id → WeDbusJob */
  GHashTable               *linger;  /* job id → timeout source id */
  GCancellable             *cancellable;
  guint                     owner_id;
  guint                     flush_id;
  guint                     filter_id;
  gulong                    changed_id;
};

G_DEFINE_TYPE (WeDbusService, we_dbus_service, G_TYPE_OBJECT)

enum { SIGNAL_NAME_ACQUIRED, SIGNAL_NAME_LOST, N_SIGNALS };
static guint signals[N_SIGNALS];

/* ---- JSON ⇄ GVariant ----------------------------------------------------- */

static GVariant *node_to_variant (JsonNode *node);

/* a{sv} of @o's members, nulls left out (the interface's rule) */
static GVariant *
object_to_variant (JsonObject *o)
{
  GVariantBuilder b;
  g_autoptr(GList) members = json_object_get_members (o);

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  for (GList *l = members; l != NULL; l = l->next) {
    GVariant *v = node_to_variant (json_object_get_member (o, l->data));
    if (v != NULL)
      g_variant_builder_add (&b, "{sv}", (const gchar *) l->data, v);
  }
  return g_variant_builder_end (&b);
}

static GVariant *
node_to_variant (JsonNode *node)
{
  switch (json_node_get_node_type (node)) {
  case JSON_NODE_OBJECT:
    return object_to_variant (json_node_get_object (node));
  case JSON_NODE_ARRAY: {
    GVariantBuilder b;
    JsonArray *a = json_node_get_array (node);

    g_variant_builder_init (&b, G_VARIANT_TYPE ("av"));
    for (guint i = 0; i < json_array_get_length (a); i++) {
      GVariant *v = node_to_variant (json_array_get_element (a, i));
      /* an array keeps its length: a null element is an empty string */
      g_variant_builder_add (&b, "v", v != NULL ? v : g_variant_new_string (""));
    }
    return g_variant_builder_end (&b);
  }
  case JSON_NODE_VALUE:
    switch (json_node_get_value_type (node)) {
    case G_TYPE_INT64:
      return g_variant_new_int64 (json_node_get_int (node));
    case G_TYPE_DOUBLE:
      return g_variant_new_double (json_node_get_double (node));
    case G_TYPE_BOOLEAN:
      return g_variant_new_boolean (json_node_get_boolean (node));
    case G_TYPE_STRING:
      return g_variant_new_string (json_node_get_string (node));
    default:
      return NULL;
    }
  case JSON_NODE_NULL:
  default:
    return NULL;
  }
}

/* aa{sv} of the objects in @array */
static GVariant *
array_to_dicts (JsonArray *array)
{
  GVariantBuilder b;

  g_variant_builder_init (&b, G_VARIANT_TYPE ("aa{sv}"));
  for (guint i = 0; array != NULL && i < json_array_get_length (array); i++) {
    JsonNode *n = json_array_get_element (array, i);
    if (JSON_NODE_HOLDS_OBJECT (n))
      g_variant_builder_add_value (&b, object_to_variant (json_node_get_object (n)));
  }
  return g_variant_builder_end (&b);
}

/* The request dictionary as the JSON body REST would have received. */
static JsonObject *
vardict_to_object (GVariant *dict, GError **error)
{
  g_autoptr(JsonNode) node = json_gvariant_serialize (dict);

  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node)) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                         "the request must be a dictionary");
    return NULL;
  }
  return json_object_ref (json_node_get_object (node));
}

/* ---- calls: authorization, answers, audit -------------------------------- */

typedef struct _Call Call;
typedef void (*CallFunc) (Call *call);

struct _Call {
  WeDbusService         *self;
  GDBusMethodInvocation *invocation;
  const gchar           *action;
  CallFunc               func;
  WeIdentity            *identity;
  gchar                 *request_id;
  gchar                 *job_id;       /* the job the call is about, if any */
  gpointer               data;
  GDestroyNotify         data_free;
};

static void
call_free (Call *call)
{
  if (call->data_free != NULL)
    call->data_free (call->data);
  g_clear_object (&call->invocation);
  g_clear_pointer (&call->identity, we_identity_free);
  g_free (call->request_id);
  g_free (call->job_id);
  g_object_unref (call->self);
  g_free (call);
}

static gboolean
is_state_changing (const gchar *action)
{
  return !g_str_has_suffix (action, ".read") && g_strcmp0 (action, "system.health") != 0 &&
         g_strcmp0 (action, "job.debug") != 0;
}

/* Like a REST call: who, what, on which resource, and how it ended. */
static void
audit (Call *call, const GError *error, const gchar *resource_id)
{
  const WeRbacPolicy *policy = we_rbac_lookup (call->action);
  GDBusMessage *message = g_dbus_method_invocation_get_message (call->invocation);
  WeAuditEntry *e;
  gboolean refused;

  refused = error != NULL && (g_error_matches (error, WE_ERROR, WE_ERROR_AUTH_UNAUTHORIZED) ||
                              g_error_matches (error, WE_ERROR, WE_ERROR_AUTH_ROLE_REQUIRED) ||
                              g_error_matches (error, WE_ERROR, WE_ERROR_AUTH_FORBIDDEN));
  if (!is_state_changing (call->action) && !refused)
    return;
  e = we_audit_entry_new ();
  e->at = g_get_real_time ();
  if (call->identity != NULL) {
    e->user_id = g_strdup (call->identity->user_id);
    e->username = g_strdup (call->identity->username);
  }
  e->action = g_strdup (call->action);
  e->resource_type = g_strdup (policy != NULL ? policy->resource_type : NULL);
  e->resource_id = g_strdup (resource_id != NULL ? resource_id : call->job_id);
  e->success = error == NULL;
  e->status = error == NULL ? 200 : (gint) we_error_code_http_status (we_error_code_from_gerror (error));
  e->error_code = error != NULL
                      ? g_strdup (we_error_code_to_string (we_error_code_from_gerror (error)))
                      : NULL;
  {
    /* a digest of what was asked, never the request itself */
    g_autoptr(GVariant) body = g_variant_ref (g_dbus_message_get_body (message) ?: g_variant_new ("()"));
    g_autoptr(GBytes) bytes = g_variant_get_data_as_bytes (body);
    g_autofree gchar *hex = g_compute_checksum_for_bytes (G_CHECKSUM_SHA256, bytes);

    if (g_bytes_get_size (bytes) > 0)
      e->payload_digest = g_strconcat ("sha256:", hex, NULL);
  }
  e->client_ip = g_strdup ("dbus");
  e->user_agent = g_strdup_printf ("D-Bus %s", g_dbus_method_invocation_get_sender (call->invocation)
                                                   ?: "?");
  e->request_id = g_strdup (call->request_id);
  we_api_audit_add (&call->self->ctx, e);
}

static void
call_return_error (Call *call, const GError *error)
{
  /* in WE_ERROR, whose codes the SDK registered under the interface's
   * names (WE-JOB-004 → org.webencode.WebEncode1.Error.WE_JOB_004) */
  g_autoptr(GError) sent = g_error_new_literal (WE_ERROR, we_error_code_from_gerror (error),
                                                error->message);

  audit (call, error, NULL);
  g_dbus_method_invocation_return_gerror (g_steal_pointer (&call->invocation), sent);
  call_free (call);
}

/* @value: (transfer floating) (nullable): the reply's arguments */
static void
call_return (Call *call, GVariant *value, const gchar *resource_id)
{
  audit (call, NULL, resource_id);
  g_dbus_method_invocation_return_value (g_steal_pointer (&call->invocation), value);
  call_free (call);
}

static void
authorized_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Call *call = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(WeIdentity) refused = NULL;

  call->identity = we_dbus_auth_check_finish (result, &refused, &error);
  if (call->identity == NULL) {
    call->identity = g_steal_pointer (&refused);
    call_return_error (call, error);
    return;
  }
  call->func (call);
}

static gboolean
begin (WeDbusService *self, GDBusMethodInvocation *invocation, const gchar *action,
       const gchar *job_id, CallFunc func)
{
  Call *call = g_new0 (Call, 1);

  call->self = g_object_ref (self);
  call->invocation = g_object_ref (invocation);
  call->action = action;
  call->func = func;
  call->job_id = g_strdup (job_id);
  call->request_id = g_uuid_string_random ();
  we_dbus_auth_check_async (invocation, self->bus_type, action, self->cancellable,
                            authorized_cb, call);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static GVariant *
params (Call *call)
{
  return g_dbus_method_invocation_get_parameters (call->invocation);
}

/* ---- job objects ---------------------------------------------------------- */

static gboolean on_job_cancel (WeDBusWebEncode1Job *iface, GDBusMethodInvocation *invocation,
                               gpointer user_data);
static gboolean on_job_retry (WeDBusWebEncode1Job *iface, GDBusMethodInvocation *invocation,
                              gpointer user_data);

typedef struct {
  WeDbusService *self;
  gchar         *job_id;
} Linger;

static void
linger_free (gpointer data)
{
  Linger *l = data;

  g_free (l->job_id);
  g_free (l);
}

static void
unexport_job (WeDbusService *self, const gchar *job_id)
{
  WeDbusJob *job = g_hash_table_lookup (self->jobs, job_id);

  g_hash_table_remove (self->linger, job_id);
  if (job == NULL)
    return;
  g_dbus_object_manager_server_unexport (self->manager, we_dbus_job_get_path (job));
  g_hash_table_remove (self->jobs, job_id);
}

static gboolean
linger_done (gpointer user_data)
{
  Linger *l = user_data;
  g_autofree gchar *id = g_strdup (l->job_id);

  /* the table owns our source id: forget it before it is removed */
  g_hash_table_steal (l->self->linger, id);
  unexport_job (l->self, id);
  return G_SOURCE_REMOVE;
}

static void
schedule_unexport (WeDbusService *self, const gchar *job_id)
{
  Linger *l;
  guint id;

  if (g_hash_table_contains (self->linger, job_id))
    return;
  l = g_new0 (Linger, 1);
  l->self = self;
  l->job_id = g_strdup (job_id);
  id = g_timeout_add_seconds_full (G_PRIORITY_DEFAULT, MAX (self->linger_s, 1), linger_done, l,
                                   linger_free);
  g_hash_table_insert (self->linger, g_strdup (job_id), GUINT_TO_POINTER (id));
}

/* The Outputs property of a job that completed: filled once the store
 * answers, if the service and the job's object are still there. */
typedef struct {
  GWeakRef  self;
  gchar    *job_id;
} OutputsFor;

static void
outputs_for_property_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  OutputsFor *of = user_data;
  g_autoptr(GPtrArray) outputs = we_store_finish_list (WE_STORE (source), result, NULL, NULL);
  g_autoptr(WeDbusService) self = g_weak_ref_get (&of->self);
  WeDbusJob *job = NULL;
  g_autoptr(JsonArray) array = NULL;

  if (outputs != NULL && self != NULL)
    job = g_hash_table_lookup (self->jobs, of->job_id);
  if (job != NULL) {
    array = json_array_new ();
    for (guint i = 0; i < outputs->len; i++)
      json_array_add_object_element (array,
                                     we_job_output_to_json (g_ptr_array_index (outputs, i)));
    we_dbus_job_set_outputs (job, array_to_dicts (array));
  }
  g_weak_ref_clear (&of->self);
  g_free (of->job_id);
  g_free (of);
}

static void
fill_outputs (WeDbusService *self, const gchar *job_id)
{
  OutputsFor *of = g_new0 (OutputsFor, 1);

  g_weak_ref_init (&of->self, self);
  of->job_id = g_strdup (job_id);
  we_store_output_list_async (self->ctx.store, job_id, self->cancellable,
                              outputs_for_property_cb, of);
}

/* Returns: (transfer none): the job's object, exported now if it was not */
static WeDbusJob *
ensure_job (WeDbusService *self, const WeJob *job)
{
  WeDbusJob *dj = g_hash_table_lookup (self->jobs, job->id);

  if (dj == NULL) {
    dj = we_dbus_job_new (job);
    g_signal_connect (we_dbus_job_get_iface (dj), "handle-cancel", G_CALLBACK (on_job_cancel),
                      self);
    g_signal_connect (we_dbus_job_get_iface (dj), "handle-retry", G_CALLBACK (on_job_retry),
                      self);
    g_dbus_object_manager_server_export (self->manager,
                                         G_DBUS_OBJECT_SKELETON (we_dbus_job_get_object (dj)));
    g_hash_table_insert (self->jobs, g_strdup (job->id), dj);
    if (job->status == WE_JOB_STATUS_COMPLETED)
      fill_outputs (self, job->id);
  }
  if (we_job_status_is_final (job->status))
    schedule_unexport (self, job->id);
  return dj;
}

static void
update_active (WeDbusService *self)
{
  we_dbus_web_encode1_set_active_jobs (self->iface,
                                       we_scheduler_get_active_count (self->ctx.scheduler));
}

static void
emit_progress (WeDbusService *self, WeDbusJob *dj)
{
  WeDBusWebEncode1Job *iface = we_dbus_job_get_iface (dj);

  we_dbus_web_encode1_emit_job_progress (self->iface, we_dbus_job_get_path (dj),
                                         we_dbus_web_encode1_job_get_id (iface),
                                         we_dbus_web_encode1_job_get_progress (iface),
                                         we_dbus_web_encode1_job_get_eta (iface));
}

static void
on_job_changed (WeScheduler *scheduler, WeJob *job, gpointer user_data)
{
  WeDbusService *self = user_data;
  WeDbusJob *dj = g_hash_table_lookup (self->jobs, job->id);
  gboolean state_changed = FALSE, progress_due = FALSE;

  if (dj == NULL) {
    /* a job that appears: every caller may want to follow it */
    dj = ensure_job (self, job);
    state_changed = TRUE;
  } else {
    we_dbus_job_update (dj, job, &state_changed, &progress_due);
  }
  if (progress_due)
    emit_progress (self, dj);
  if (state_changed) {
    we_dbus_web_encode1_emit_job_state_changed (self->iface, we_dbus_job_get_path (dj), job->id,
                                                we_dbus_web_encode1_job_get_state (
                                                    we_dbus_job_get_iface (dj)));
    if (job->status == WE_JOB_STATUS_COMPLETED)
      fill_outputs (self, job->id);
    if (we_job_status_is_final (job->status))
      schedule_unexport (self, job->id);
  }
  update_active (self);
}

static gboolean
flush_progress (gpointer user_data)
{
  WeDbusService *self = user_data;
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, self->jobs);
  while (g_hash_table_iter_next (&iter, NULL, &value)) {
    if (we_dbus_job_flush (value))
      emit_progress (self, value);
  }
  return G_SOURCE_CONTINUE;
}

static void
active_listed_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) jobs = we_store_finish_list (WE_STORE (source), result, NULL, &error);
  WeDbusService *self;

  if (jobs == NULL) {
    if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
      we_log (G_LOG_LEVEL_WARNING, NULL, "WE-SYS-002", "D-Bus: listing active jobs: %s",
              error->message);
    return;
  }
  self = user_data;
  for (guint i = 0; i < jobs->len; i++)
    ensure_job (self, g_ptr_array_index (jobs, i));
  update_active (self);
}

/* ---- the methods ----------------------------------------------------------- */

static WeJob *
job_result (Call *call, GObject *source, GAsyncResult *result,
            WeJob *(*finish) (gpointer, GAsyncResult *, GError **))
{
  g_autoptr(GError) error = NULL;
  WeJob *job = finish (source, result, &error);

  if (job == NULL)
    call_return_error (call, error);
  return job;
}

static void
submitted_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Call *call = user_data;
  g_autoptr(WeJob) job = job_result (call, source, result, (gpointer) we_scheduler_submit_finish);
  WeDbusJob *dj;

  if (job == NULL)
    return;
  we_log (G_LOG_LEVEL_INFO, call->request_id, NULL, "job %s created by %s over D-Bus", job->id,
          call->identity->username);
  dj = ensure_job (call->self, job);
  call_return (call, g_variant_new ("(os)", we_dbus_job_get_path (dj), job->id), job->id);
}

static void
do_submit (Call *call)
{
  g_autoptr(GVariant) request = g_variant_get_child_value (params (call), 0);
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) body = vardict_to_object (request, &error);

  if (body == NULL) {
    call_return_error (call, error);
    return;
  }
  we_scheduler_submit_async (call->self->ctx.scheduler, body, call->identity->user_id,
                             call->self->cancellable, submitted_cb, call);
}

typedef struct {
  guint limit, offset;
} ListArgs;

static void
listed_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Call *call = user_data;
  g_autoptr(GError) error = NULL;
  guint total = 0;
  g_autoptr(GPtrArray) jobs = we_store_finish_list (WE_STORE (source), result, &total, &error);
  g_autoptr(JsonArray) array = NULL;

  if (jobs == NULL) {
    call_return_error (call, error);
    return;
  }
  array = json_array_new ();
  for (guint i = 0; i < jobs->len; i++)
    json_array_add_object_element (array, we_job_to_json (g_ptr_array_index (jobs, i)));
  call_return (call, g_variant_new ("(@aa{sv}x)", array_to_dicts (array), (gint64) total), NULL);
}

static void
do_list_jobs (Call *call)
{
  g_autoptr(GVariant) filter_v = g_variant_get_child_value (params (call), 0);
  GVariantDict filter_d;
  WeJobFilter filter = { 0 };
  const gchar *status = NULL;
  gint64 limit = 50, offset = 0;
  g_autoptr(GError) error = NULL;

  g_variant_dict_init (&filter_d, filter_v);
  if (!g_variant_dict_lookup (&filter_d, "limit", "x", &limit))
    limit = 50;
  if (!g_variant_dict_lookup (&filter_d, "offset", "x", &offset))
    offset = 0;
  g_variant_dict_lookup (&filter_d, "status", "&s", &status);
  if (limit < 1 || limit > LIST_MAX || offset < 0 || offset > G_MAXINT) {
    g_set_error (&error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                 "limit must be between 1 and %d and offset not negative", LIST_MAX);
  } else if (status != NULL && *status != '\0') {
    g_auto(GStrv) parts = g_strsplit (status, ",", 16);

    for (guint i = 0; parts[i] != NULL && error == NULL; i++) {
      WeJobStatus s;

      if (!we_job_status_from_string (g_strstrip (parts[i]), &s))
        g_set_error (&error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                     "unknown status \"%s\"; use queued, processing, stitching, uploading, "
                     "completed, failed or cancelled", parts[i]);
      else
        filter.status_mask |= WE_JOB_STATUS_MASK (s);
    }
  }
  g_variant_dict_clear (&filter_d);
  if (error != NULL) {
    call_return_error (call, error);
    return;
  }
  filter.limit = (guint) limit;
  filter.offset = (guint) offset;
  we_store_job_list_async (call->self->ctx.store, &filter, call->self->cancellable, listed_cb,
                           call);
}

static void
got_job_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Call *call = user_data;
  g_autoptr(WeJob) job = job_result (call, source, result, (gpointer) we_store_finish_job);

  if (job == NULL)
    return;
  ensure_job (call->self, job);
  call_return (call, g_variant_new ("(@a{sv})", object_to_variant (we_job_to_json (job))), NULL);
}

static void
do_get_job (Call *call)
{
  we_store_job_get_async (call->self->ctx.store, call->job_id, call->self->cancellable,
                          got_job_cb, call);
}

static void
cancelled_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Call *call = user_data;
  g_autoptr(WeJob) job = job_result (call, source, result, (gpointer) we_scheduler_cancel_finish);
  g_autoptr(JsonObject) o = NULL;

  if (job == NULL)
    return;
  /* the Job interface's Cancel answers nothing; the manager's the job */
  if (g_strcmp0 (g_dbus_method_invocation_get_method_name (call->invocation), "Cancel") == 0) {
    call_return (call, NULL, NULL);
    return;
  }
  o = we_job_to_json (job);
  call_return (call, g_variant_new ("(@a{sv})", object_to_variant (o)), NULL);
}

static void
do_cancel (Call *call)
{
  we_scheduler_cancel_async (call->self->ctx.scheduler, call->job_id, call->self->cancellable,
                             cancelled_cb, call);
}

static void
retried_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Call *call = user_data;
  g_autoptr(WeJob) job = job_result (call, source, result, (gpointer) we_scheduler_retry_finish);
  WeDbusJob *dj;

  if (job == NULL)
    return;
  dj = ensure_job (call->self, job);
  if (g_strcmp0 (g_dbus_method_invocation_get_method_name (call->invocation), "Retry") == 0)
    call_return (call, g_variant_new ("(o)", we_dbus_job_get_path (dj)), job->id);
  else
    call_return (call, g_variant_new ("(os)", we_dbus_job_get_path (dj), job->id), job->id);
}

static void
do_retry (Call *call)
{
  we_scheduler_retry_async (call->self->ctx.scheduler, call->job_id, call->identity->user_id,
                            call->self->cancellable, retried_cb, call);
}

static void
deleted_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Call *call = user_data;
  g_autoptr(GError) error = NULL;

  if (!we_scheduler_delete_finish (WE_SCHEDULER (source), result, &error)) {
    call_return_error (call, error);
    return;
  }
  unexport_job (call->self, call->job_id);
  call_return (call, NULL, NULL);
}

static void
do_delete (Call *call)
{
  we_scheduler_delete_async (call->self->ctx.scheduler, call->job_id, call->self->cancellable,
                             deleted_cb, call);
}

/* ListOutputs and OpenOutput: the job first (an unknown one is WE-JOB-004),
 * then its outputs */
static void
outputs_listed_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Call *call = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) outputs = we_store_finish_list (WE_STORE (source), result, NULL, &error);
  const gchar *base = we_config_get_public_url (call->self->ctx.config);
  g_autoptr(JsonArray) array = NULL;

  if (outputs == NULL) {
    call_return_error (call, error);
    return;
  }
  if (call->data_free != NULL) {
    /* OpenOutput: hand over to the next step with the list */
    call->data = g_steal_pointer (&outputs);
    ((CallFunc) g_object_get_data (G_OBJECT (call->invocation), "we-next")) (call);
    return;
  }
  array = json_array_new ();
  for (guint i = 0; i < outputs->len; i++) {
    WeJobOutput *out = g_ptr_array_index (outputs, i);
    JsonObject *item = we_job_output_to_json (out);
    g_autofree gchar *escaped = g_uri_escape_string (out->name, NULL, FALSE);
    g_autofree gchar *download = g_strdup_printf ("%s/v1/jobs/%s/outputs/%s", base,
                                                  call->job_id, escaped);

    json_object_set_string_member (item, "download_url", download);
    json_array_add_object_element (array, item);
  }
  call_return (call, g_variant_new ("(@aa{sv})", array_to_dicts (array)), NULL);
}

static void
outputs_job_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Call *call = user_data;
  g_autoptr(WeJob) job = job_result (call, source, result, (gpointer) we_store_finish_job);

  if (job == NULL)
    return;
  we_store_output_list_async (WE_STORE (source), job->id, call->self->cancellable,
                              outputs_listed_cb, call);
}

static void
do_list_outputs (Call *call)
{
  we_store_job_get_async (call->self->ctx.store, call->job_id, call->self->cancellable,
                          outputs_job_cb, call);
}

/* OpenOutput: the object is read in a thread and spliced into a pipe whose
 * read end the caller gets; the write end is ours until the last byte. */

typedef struct {
  WeStorage    *storage;
  gchar        *url;
  GInputStream *in;
} OpenData;

static void
open_data_free (OpenData *d)
{
  g_clear_object (&d->storage);
  g_free (d->url);
  g_clear_object (&d->in);
  g_free (d);
}

static void
open_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  OpenData *d = task_data;
  GError *error = NULL;

  d->in = we_storage_open_read (d->storage, d->url, 0, &error);
  if (d->in == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_boolean (task, TRUE);
}

static void
spliced_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GError) error = NULL;

  /* a reader that stops early closes its end: nothing to tell anyone */
  if (g_output_stream_splice_finish (G_OUTPUT_STREAM (source), result, &error) < 0 &&
      !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE) &&
      !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    we_log (G_LOG_LEVEL_WARNING, NULL, "WE-STO-004", "D-Bus OpenOutput: %s", error->message);
  g_free (user_data);
}

static void
opened_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Call *call = user_data;
  OpenData *d = g_task_get_task_data (G_TASK (result));
  g_autoptr(GError) error = NULL;
  g_autoptr(GUnixFDList) fds = NULL;
  g_autoptr(GOutputStream) out = NULL;
  gint pipe_fds[2];

  if (!g_task_propagate_boolean (G_TASK (result), &error)) {
    call_return_error (call, error);
    return;
  }
  if (!g_unix_open_pipe (pipe_fds, FD_CLOEXEC, &error)) {
    call_return_error (call, error);
    return;
  }
  g_unix_set_fd_nonblocking (pipe_fds[1], TRUE, NULL);
  fds = g_unix_fd_list_new_from_array (&pipe_fds[0], 1);
  out = g_unix_output_stream_new (pipe_fds[1], TRUE);
  g_output_stream_splice_async (out, d->in,
                                G_OUTPUT_STREAM_SPLICE_CLOSE_SOURCE |
                                    G_OUTPUT_STREAM_SPLICE_CLOSE_TARGET,
                                G_PRIORITY_LOW, call->self->cancellable, spliced_cb,
                                g_strdup (call->job_id));
  audit (call, NULL, NULL);
  g_dbus_method_invocation_return_value_with_unix_fd_list (g_steal_pointer (&call->invocation),
                                                           g_variant_new ("(h)", 0), fds);
  call_free (call);
}

static void
open_found (Call *call)
{
  GPtrArray *outputs = call->data;
  const gchar *path = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GTask) task = NULL;
  g_autofree gchar *url = NULL;
  g_autofree gchar *content_type = NULL;
  WeStorage *storage;
  OpenData *d;

  g_variant_get_child (params (call), 1, "&s", &path);
  /* the paths GET /v1/jobs/{id}/outputs/{name} serves, ladder segments too */
  storage = we_api_output_resolve (call->self->ctx.host, outputs, call->job_id, path, &url,
                                   &content_type, &error);
  if (storage == NULL) {
    call_return_error (call, error);
    return;
  }
  d = g_new0 (OpenData, 1);
  d->storage = g_object_ref (storage);
  d->url = g_steal_pointer (&url);
  task = g_task_new (NULL, call->self->cancellable, opened_cb, call);
  g_task_set_source_tag (task, open_found);
  g_task_set_task_data (task, d, (GDestroyNotify) open_data_free);
  g_task_run_in_thread (task, open_thread);
}

static void
do_open_output (Call *call)
{
  /* the list comes back to open_found, the step after outputs_listed_cb */
  call->data_free = (GDestroyNotify) g_ptr_array_unref;
  g_object_set_data (G_OBJECT (call->invocation), "we-next", open_found);
  do_list_outputs (call);
}

/* UploadSource: the caller's fd is copied to storage in a thread, as
 * POST /v1/files/upload streams the body there. */

typedef struct {
  gint        fd;
  gchar      *filename;
  WeStorage  *storage;
  gchar      *plugin_id;
  guint64     max_bytes;
  JsonObject *answer;
} UploadData;

static void
upload_data_free (UploadData *u)
{
  if (u->fd >= 0)
    close (u->fd);
  g_free (u->filename);
  g_clear_object (&u->storage);
  g_free (u->plugin_id);
  g_clear_pointer (&u->answer, json_object_unref);
  g_free (u);
}

static gchar *
safe_filename (const gchar *name)
{
  g_autofree gchar *base = g_path_get_basename (name);
  GString *out = g_string_new (NULL);

  for (const gchar *p = base; *p != '\0' && out->len < 128; p++)
    g_string_append_c (out, g_ascii_isalnum (*p) || *p == '.' || *p == '-' || *p == '_' ? *p
                                                                                       : '_');
  while (out->len > 0 && out->str[0] == '.')
    g_string_erase (out, 0, 1);
  if (out->len == 0)
    g_string_append (out, "upload.bin");
  return g_string_free (out, FALSE);
}

static void
upload_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  UploadData *u = task_data;
  g_autoptr(GInputStream) in = g_unix_input_stream_new (u->fd, TRUE);
  g_autofree gchar *safe = safe_filename (u->filename);
  g_autofree gchar *uuid = g_uuid_string_random ();
  g_autofree gchar *key = g_strdup_printf ("uploads/%s/%s", uuid, safe);
  g_autofree gchar *url = we_storage_make_url (u->storage, key);
  g_autoptr(GOutputStream) out = NULL;
  guint8 buf[64 * 1024];
  guint64 written = 0;
  GError *error = NULL;

  u->fd = -1;  /* the stream owns it now */
  out = url != NULL ? we_storage_create (u->storage, url, &error) : NULL;
  if (out == NULL) {
    if (error == NULL)
      error = g_error_new_literal (WE_ERROR, WE_ERROR_STO_UNAVAILABLE, "storage has no URL");
    g_task_return_error (task, error);
    return;
  }
  for (;;) {
    gssize n = g_input_stream_read (in, buf, sizeof buf, cancellable, &error);
    gsize done = 0;

    if (n < 0)
      break;
    if (n == 0)
      break;
    written += (guint64) n;
    if (written > u->max_bytes) {
      error = g_error_new (WE_ERROR, WE_ERROR_SYS_PAYLOAD_TOO_LARGE,
                           "uploads are limited to %" G_GUINT64_FORMAT " bytes", u->max_bytes);
      break;
    }
    if (!g_output_stream_write_all (out, buf, (gsize) n, &done, cancellable, &error))
      break;
  }
  if (error != NULL) {
    /* never make a partial object visible */
    g_autoptr(GCancellable) abort_close = g_cancellable_new ();
    g_cancellable_cancel (abort_close);
    g_output_stream_close (out, abort_close, NULL);
    g_task_return_error (task, error);
    return;
  }
  if (!g_output_stream_close (out, cancellable, &error)) {
    g_prefix_error (&error, "storing the upload: ");
    g_task_return_error (task, error);
    return;
  }
  u->answer = json_object_new ();
  json_object_set_string_member (u->answer, "plugin_id", u->plugin_id);
  json_object_set_string_member (u->answer, "url", url);
  json_object_set_string_member (u->answer, "object_key", key);
  json_object_set_int_member (u->answer, "size_bytes", (gint64) written);
  g_task_return_boolean (task, TRUE);
}

static void
uploaded_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Call *call = user_data;
  UploadData *u = g_task_get_task_data (G_TASK (result));
  g_autoptr(GError) error = NULL;

  if (!g_task_propagate_boolean (G_TASK (result), &error)) {
    call_return_error (call, error);
    return;
  }
  call_return (call, g_variant_new ("(@a{sv})", object_to_variant (u->answer)),
               json_object_get_string_member (u->answer, "object_key"));
}

static void
do_upload (Call *call)
{
  GDBusMessage *message = g_dbus_method_invocation_get_message (call->invocation);
  GUnixFDList *fds = g_dbus_message_get_unix_fd_list (message);
  const gchar *filename = NULL;
  gint32 handle = -1;
  const gchar *plugin_id = NULL;
  WeStorage *storage;
  g_autoptr(GError) error = NULL;
  g_autoptr(GTask) task = NULL;
  UploadData *u;
  gint fd;

  g_variant_get (params (call), "(h&s)", &handle, &filename);
  if (fds == NULL || handle < 0 || handle >= g_unix_fd_list_get_length (fds)) {
    g_set_error_literal (&error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                         "UploadSource needs a file descriptor");
    call_return_error (call, error);
    return;
  }
  storage = we_plugin_host_default_storage (call->self->ctx.host, &plugin_id);
  if (storage == NULL) {
    g_set_error_literal (&error, WE_ERROR, WE_ERROR_STO_UNAVAILABLE,
                         "no storage plugin accepts uploads");
    call_return_error (call, error);
    return;
  }
  fd = g_unix_fd_list_get (fds, handle, &error);
  if (fd < 0) {
    call_return_error (call, error);
    return;
  }
  u = g_new0 (UploadData, 1);
  u->fd = fd;
  u->filename = g_strdup (filename);
  u->storage = g_object_ref (storage);
  u->plugin_id = g_strdup (plugin_id);
  u->max_bytes = we_config_get_max_upload (call->self->ctx.config);
  task = g_task_new (NULL, call->self->cancellable, uploaded_cb, call);
  g_task_set_source_tag (task, do_upload);
  g_task_set_task_data (task, u, (GDestroyNotify) upload_data_free);
  g_task_run_in_thread (task, upload_thread);
}

/* GetTaskPipeline / GetTaskPipelineGraph (src/core/we-task-debug.h) */
#ifdef WE_HAVE_TASK_DEBUG

static void
pipeline_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Call *call = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) o = we_task_debug_pipeline_finish (WE_STORE (source), result, &error);

  if (o == NULL) {
    call_return_error (call, error);
    return;
  }
  call_return (call, g_variant_new ("(@a{sv})", object_to_variant (o)), NULL);
}

static void
do_pipeline (Call *call)
{
  const gchar *task_id = NULL;

  g_variant_get_child (params (call), 1, "&s", &task_id);
  we_task_debug_pipeline_async (call->self->ctx.store, call->job_id,
                                *task_id != '\0' ? task_id : NULL, call->self->cancellable,
                                pipeline_cb, call);
}

static void
graph_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Call *call = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *content_type = NULL;
  g_autoptr(GBytes) graph = we_task_debug_graph_finish (WE_STORE (source), result,
                                                        &content_type, &error);

  if (graph == NULL) {
    call_return_error (call, error);
    return;
  }
  call_return (call,
               g_variant_new ("(s@ay)", content_type,
                              g_variant_new_from_bytes (G_VARIANT_TYPE_BYTESTRING, graph, TRUE)),
               NULL);
}

static void
do_pipeline_graph (Call *call)
{
  const gchar *task_id = NULL, *stage = NULL, *format = NULL;

  g_variant_get (params (call), "(&s&s&s&s)", NULL, &task_id, &stage, &format);
  we_task_debug_graph_async (call->self->ctx.store, call->job_id,
                             *task_id != '\0' ? task_id : NULL, *stage != '\0' ? stage : NULL,
                             format, call->self->cancellable, graph_cb, call);
}
#else
static void
no_task_debug (Call *call)
{
  g_autoptr(GError) error = g_error_new_literal (WE_ERROR, WE_ERROR_SYS_UNAVAILABLE,
                                                 "pipeline introspection is not built in");
  call_return_error (call, error);
}
#define do_pipeline no_task_debug
#define do_pipeline_graph no_task_debug
#endif

static void
profiles_listed_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Call *call = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) profiles = we_store_finish_list (WE_STORE (source), result, NULL, &error);
  g_autoptr(JsonArray) array = NULL;

  if (profiles == NULL) {
    call_return_error (call, error);
    return;
  }
  array = json_array_new ();
  for (guint i = 0; i < profiles->len; i++)
    json_array_add_object_element (array, we_profile_to_json (g_ptr_array_index (profiles, i)));
  call_return (call, g_variant_new ("(@aa{sv})", array_to_dicts (array)), NULL);
}

static void
do_list_profiles (Call *call)
{
  we_store_profile_list_async (call->self->ctx.store, call->self->cancellable,
                               profiles_listed_cb, call);
}

static void
worker_records_thread (GTask *task, gpointer source, gpointer task_data,
                       GCancellable *cancellable)
{
  GError *error = NULL;
  GPtrArray *records = we_store_worker_list (WE_STORE (source), &error);

  if (records == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, records, (GDestroyNotify) g_ptr_array_unref);
}

static void
worker_records_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Call *call = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) records = g_task_propagate_pointer (G_TASK (result), &error);
  g_autoptr(JsonArray) array = NULL;

  if (records == NULL) {
    call_return_error (call, error);
    return;
  }
  /* the queue's live view, on the main loop, as REST does */
  array = we_api_workers_list_json (call->self->ctx.queue, records);
  call_return (call, g_variant_new ("(@aa{sv})", array_to_dicts (array)), NULL);
}

static void
do_list_workers (Call *call)
{
  g_autoptr(GTask) task = g_task_new (call->self->ctx.store, call->self->cancellable,
                                      worker_records_cb, call);

  g_task_set_source_tag (task, do_list_workers);
  g_task_run_in_thread (task, worker_records_thread);
}

static void
do_health (Call *call)
{
  g_autoptr(JsonObject) o = we_api_health_json (&call->self->ctx, call->self->started_at);

  call_return (call, g_variant_new ("(@a{sv})", object_to_variant (o)), NULL);
}

/* ---- handlers: each names its RBAC action, then waits for the check ------ */

#define ON(name, action, func)                                                                   \
  static gboolean on_##name (WeDBusWebEncode1 *iface, GDBusMethodInvocation *invocation,        \
                             gpointer user_data)                                                 \
  {                                                                                              \
    return begin (user_data, invocation, action, NULL, func);                                   \
  }
#define ON_DICT(name, action, func)                                                              \
  static gboolean on_##name (WeDBusWebEncode1 *iface, GDBusMethodInvocation *invocation,        \
                             GVariant *dict, gpointer user_data)                                 \
  {                                                                                              \
    return begin (user_data, invocation, action, NULL, func);                                   \
  }
#define ON_JOB(name, action, func)                                                               \
  static gboolean on_##name (WeDBusWebEncode1 *iface, GDBusMethodInvocation *invocation,        \
                             const gchar *job_id, gpointer user_data)                            \
  {                                                                                              \
    return begin (user_data, invocation, action, job_id, func);                                 \
  }

ON_DICT (submit, "job.create", do_submit)
ON_DICT (list_jobs, "job.read", do_list_jobs)
ON_JOB (get_job, "job.read", do_get_job)
ON_JOB (cancel_job, "job.cancel", do_cancel)
ON_JOB (retry_job, "job.retry", do_retry)
ON_JOB (delete_job, "job.delete", do_delete)
ON_JOB (list_outputs, "job.read", do_list_outputs)
ON (list_profiles, "profile.read", do_list_profiles)
ON (list_workers, "worker.read", do_list_workers)
ON (health, "system.health", do_health)

static gboolean
on_open_output (WeDBusWebEncode1 *iface, GDBusMethodInvocation *invocation, GUnixFDList *fds,
                const gchar *job_id, const gchar *path, gpointer user_data)
{
  return begin (user_data, invocation, "job.read", job_id, do_open_output);
}

static gboolean
on_upload (WeDBusWebEncode1 *iface, GDBusMethodInvocation *invocation, GUnixFDList *fds,
           GVariant *fd, const gchar *filename, gpointer user_data)
{
  return begin (user_data, invocation, "file.upload", NULL, do_upload);
}

static gboolean
on_pipeline (WeDBusWebEncode1 *iface, GDBusMethodInvocation *invocation, const gchar *job_id,
             const gchar *task_id, gpointer user_data)
{
  return begin (user_data, invocation, "job.debug", job_id, do_pipeline);
}

static gboolean
on_pipeline_graph (WeDBusWebEncode1 *iface, GDBusMethodInvocation *invocation,
                   const gchar *job_id, const gchar *task_id, const gchar *stage,
                   const gchar *format, gpointer user_data)
{
  return begin (user_data, invocation, "job.debug", job_id, do_pipeline_graph);
}

static gboolean
on_job_cancel (WeDBusWebEncode1Job *iface, GDBusMethodInvocation *invocation, gpointer user_data)
{
  return begin (user_data, invocation, "job.cancel", we_dbus_web_encode1_job_get_id (iface),
                do_cancel);
}

static gboolean
on_job_retry (WeDBusWebEncode1Job *iface, GDBusMethodInvocation *invocation, gpointer user_data)
{
  return begin (user_data, invocation, "job.retry", we_dbus_web_encode1_job_get_id (iface),
                do_retry);
}

/* ---- property reads --------------------------------------------------------- */

/* A job's properties say as much as GetJob, so reading them needs job.read
 * too. GDBus answers Properties.Get/GetAll and the ObjectManager's
 * GetManagedObjects itself, without the skeletons' g-authorize-method
 * (methods only) and synchronously, while the check is asynchronous: those
 * calls are taken off the connection by a filter and answered here once the
 * caller is known. PropertiesChanged and InterfacesAdded are still broadcast
 * (see docs/api.md, "D-Bus API"). */

typedef struct {
  GWeakRef      self;     /* the filter runs in GDBus's thread: never a strong ref */
  GMainContext *context;
} Guard;

static void
guard_clear (gpointer data)
{
  Guard *guard = data;

  g_weak_ref_clear (&guard->self);
  g_main_context_unref (guard->context);
}

static void
guard_release (gpointer data)
{
  g_atomic_rc_box_release_full (data, guard_clear);
}

typedef struct {
  Guard           *guard;
  WeDbusService   *self;
  GDBusConnection *connection;
  GDBusMessage    *message;
} Guarded;

static void
guarded_free (Guarded *g)
{
  guard_release (g->guard);
  g_clear_object (&g->self);
  g_object_unref (g->connection);
  g_object_unref (g->message);
  g_free (g);
}

static gboolean
is_guarded (GDBusMessage *message)
{
  const gchar *path = g_dbus_message_get_path (message);
  const gchar *iface = g_dbus_message_get_interface (message);
  const gchar *member = g_dbus_message_get_member (message);

  if (g_dbus_message_get_message_type (message) != G_DBUS_MESSAGE_TYPE_METHOD_CALL ||
      path == NULL)
    return FALSE;
  if (g_strcmp0 (iface, "org.freedesktop.DBus.Properties") == 0)
    return g_str_has_prefix (path, WE_DBUS_JOB_PATH_PREFIX) &&
           (g_strcmp0 (member, "Get") == 0 || g_strcmp0 (member, "GetAll") == 0);
  return g_strcmp0 (iface, "org.freedesktop.DBus.ObjectManager") == 0 &&
         g_strcmp0 (member, "GetManagedObjects") == 0 && g_strcmp0 (path, WE_DBUS_PATH) == 0;
}

/* @reply: (transfer full) */
static void
guarded_send (Guarded *g, GDBusMessage *reply)
{
  if (!(g_dbus_message_get_flags (g->message) & G_DBUS_MESSAGE_FLAGS_NO_REPLY_EXPECTED))
    g_dbus_connection_send_message (g->connection, reply, G_DBUS_SEND_MESSAGE_FLAGS_NONE, NULL,
                                    NULL);
  g_object_unref (reply);
}

static GDBusMessage *
properties_reply (WeDbusService *self, GDBusMessage *message)
{
  GVariant *body = g_dbus_message_get_body (message);
  const gchar *path = g_dbus_message_get_path (message);
  gboolean get = g_strcmp0 (g_dbus_message_get_member (message), "Get") == 0;
  const gchar *iface_name = NULL, *name = NULL;
  g_autoptr(GDBusObject) object = NULL;
  g_autoptr(GDBusInterface) iface = NULL;
  g_autoptr(GVariant) all = NULL;
  g_autoptr(GVariant) value = NULL;

  if (body == NULL || !g_variant_is_of_type (body, get ? G_VARIANT_TYPE ("(ss)")
                                                       : G_VARIANT_TYPE ("(s)")))
    return g_dbus_message_new_method_error_literal (message,
                                                    "org.freedesktop.DBus.Error.InvalidArgs",
                                                    "Wrong arguments");
  g_variant_get_child (body, 0, "&s", &iface_name);
  object = g_dbus_object_manager_get_object (G_DBUS_OBJECT_MANAGER (self->manager), path);
  if (object == NULL)
    return g_dbus_message_new_method_error (message, "org.freedesktop.DBus.Error.UnknownObject",
                                            "No such object %s", path);
  iface = g_dbus_object_get_interface (object, iface_name);
  if (iface == NULL)
    return g_dbus_message_new_method_error (message, "org.freedesktop.DBus.Error.InvalidArgs",
                                            "No such interface %s", iface_name);
  /* floating from the generated code; a full reference either way */
  all = g_variant_take_ref (g_dbus_interface_skeleton_get_properties (
      G_DBUS_INTERFACE_SKELETON (iface)));
  if (!get) {
    GDBusMessage *reply = g_dbus_message_new_method_reply (message);
    g_dbus_message_set_body (reply, g_variant_new ("(@a{sv})", all));
    return reply;
  }
  g_variant_get_child (body, 1, "&s", &name);
  value = g_variant_lookup_value (all, name, NULL);
  if (value == NULL)
    return g_dbus_message_new_method_error (message, "org.freedesktop.DBus.Error.InvalidArgs",
                                            "No such property %s", name);
  {
    GDBusMessage *reply = g_dbus_message_new_method_reply (message);
    g_dbus_message_set_body (reply, g_variant_new ("(v)", value));
    return reply;
  }
}

/* What GDBusObjectManagerServer answers: every job object, every interface. */
static GDBusMessage *
managed_objects_reply (WeDbusService *self, GDBusMessage *message)
{
  GList *objects = g_dbus_object_manager_get_objects (G_DBUS_OBJECT_MANAGER (self->manager));
  GDBusMessage *reply = g_dbus_message_new_method_reply (message);
  GVariantBuilder b;

  g_variant_builder_init (&b, G_VARIANT_TYPE ("a{oa{sa{sv}}}"));
  for (GList *l = objects; l != NULL; l = l->next) {
    GList *ifaces = g_dbus_object_get_interfaces (l->data);
    GVariantBuilder ib;

    g_variant_builder_init (&ib, G_VARIANT_TYPE ("a{sa{sv}}"));
    for (GList *i = ifaces; i != NULL; i = i->next) {
      GDBusInterfaceSkeleton *skeleton = i->data;
      g_autoptr(GVariant) props = g_variant_take_ref (
          g_dbus_interface_skeleton_get_properties (skeleton));

      g_variant_builder_add (&ib, "{s@a{sv}}", g_dbus_interface_skeleton_get_info (skeleton)->name,
                             props);
    }
    g_variant_builder_add (&b, "{o@a{sa{sv}}}", g_dbus_object_get_object_path (l->data),
                           g_variant_builder_end (&ib));
    g_list_free_full (ifaces, g_object_unref);
  }
  g_list_free_full (objects, g_object_unref);
  g_dbus_message_set_body (reply, g_variant_new ("(@a{oa{sa{sv}}})", g_variant_builder_end (&b)));
  return reply;
}

static void
guarded_error (Guarded *g, const GError *error)
{
  /* the names the SDK registered for WE_ERROR, as call_return_error sends */
  g_autoptr(GError) sent = g_error_new_literal (WE_ERROR, we_error_code_from_gerror (error),
                                                error->message);
  g_autofree gchar *name = g_dbus_error_encode_gerror (sent);

  guarded_send (g, g_dbus_message_new_method_error_literal (g->message, name, sent->message));
}

static void
guarded_checked (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Guarded *g = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(WeIdentity) identity = we_dbus_auth_check_finish (result, NULL, &error);

  if (identity == NULL)
    guarded_error (g, error);
  else if (g_strcmp0 (g_dbus_message_get_member (g->message), "GetManagedObjects") == 0)
    guarded_send (g, managed_objects_reply (g->self, g->message));
  else
    guarded_send (g, properties_reply (g->self, g->message));
  guarded_free (g);
}

static gboolean
guarded_begin (gpointer user_data)
{
  Guarded *g = user_data;

  g->self = g_weak_ref_get (&g->guard->self);
  if (g->self == NULL || g_cancellable_is_cancelled (g->self->cancellable)) {
    g_autoptr(GError) error = g_error_new_literal (WE_ERROR, WE_ERROR_SYS_UNAVAILABLE,
                                                   "the service is stopping");
    guarded_error (g, error);
    guarded_free (g);
    return G_SOURCE_REMOVE;
  }
  we_dbus_auth_check_message_async (g->connection, g->message, g->self->bus_type, "job.read",
                                    g->self->cancellable, guarded_checked, g);
  return G_SOURCE_REMOVE;
}

/* In GDBus's worker thread: @message is ours (transfer full) */
static GDBusMessage *
guard_filter (GDBusConnection *connection, GDBusMessage *message, gboolean incoming,
              gpointer user_data)
{
  Guard *guard = user_data;
  Guarded *g;

  if (!incoming || !is_guarded (message))
    return message;
  g = g_new0 (Guarded, 1);
  g->guard = g_atomic_rc_box_acquire (guard);
  g->connection = g_object_ref (connection);
  g->message = message;
  g_main_context_invoke (guard->context, guarded_begin, g);
  return NULL;
}

/* ---- the object ------------------------------------------------------------ */

static void
we_dbus_service_dispose (GObject *object)
{
  WeDbusService *self = WE_DBUS_SERVICE (object);

  we_dbus_service_stop (self);
  g_clear_object (&self->cancellable);
  g_clear_pointer (&self->jobs, g_hash_table_unref);
  g_clear_pointer (&self->linger, g_hash_table_unref);
  g_clear_object (&self->iface);
  g_clear_object (&self->manager);
  g_clear_object (&self->connection);
  G_OBJECT_CLASS (we_dbus_service_parent_class)->dispose (object);
}

static void
we_dbus_service_class_init (WeDbusServiceClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = we_dbus_service_dispose;
  signals[SIGNAL_NAME_ACQUIRED] =
      g_signal_new ("name-acquired", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL,
                    NULL, NULL, G_TYPE_NONE, 0);
  /* also when the name never came: another service has it */
  signals[SIGNAL_NAME_LOST] =
      g_signal_new ("name-lost", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                    NULL, G_TYPE_NONE, 0);
}

static void
remove_source (gpointer data)
{
  g_source_remove (GPOINTER_TO_UINT (data));
}

static void
we_dbus_service_init (WeDbusService *self)
{
  self->jobs = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);
  self->linger = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, remove_source);
  self->cancellable = g_cancellable_new ();
  self->started_at = g_get_real_time ();
}

WeDbusService *
we_dbus_service_new (const WeApiContext *context, GBusType bus_type, guint linger_s)
{
  WeDbusService *self = g_object_new (WE_TYPE_DBUS_SERVICE, NULL);

  self->ctx = *context;
  self->bus_type = bus_type;
  self->linger_s = linger_s;
  return self;
}

static void
name_acquired_cb (GDBusConnection *connection, const gchar *name, gpointer user_data)
{
  WeDbusService *self = user_data;

  we_log (G_LOG_LEVEL_INFO, NULL, NULL, "D-Bus: %s on the %s bus", name,
          self->bus_type == G_BUS_TYPE_SYSTEM ? "system" : "session");
  g_signal_emit (self, signals[SIGNAL_NAME_ACQUIRED], 0);
}

static void
name_lost_cb (GDBusConnection *connection, const gchar *name, gpointer user_data)
{
  WeDbusService *self = user_data;

  /* REST goes on; the daemon decides whether that is enough */
  we_log (G_LOG_LEVEL_WARNING, NULL, "WE-SYS-004",
          "D-Bus: %s on the %s bus %s", name,
          self->bus_type == G_BUS_TYPE_SYSTEM ? "system" : "session",
          connection == NULL ? "cannot be reached" : "is owned by another process or was lost");
  g_signal_emit (self, signals[SIGNAL_NAME_LOST], 0);
}

gboolean
we_dbus_service_start (WeDbusService *self, GError **error)
{
  WeJobFilter filter = { 0 };
  g_autoptr(GError) local = NULL;

  /* at start-up, before the main loop serves anyone: a short wait is fine */
  self->connection = g_bus_get_sync (self->bus_type, NULL, &local);
  if (self->connection == NULL) {
    g_set_error (error, WE_ERROR, WE_ERROR_SYS_UNAVAILABLE, "cannot connect to the %s bus: %s",
                 self->bus_type == G_BUS_TYPE_SYSTEM ? "system" : "session", local->message);
    return FALSE;
  }
  /* a bus that goes away must not take the REST service with it */
  g_dbus_connection_set_exit_on_close (self->connection, FALSE);

  self->iface = we_dbus_web_encode1_skeleton_new ();
  we_dbus_web_encode1_set_version (self->iface, PACKAGE_VERSION);
  g_signal_connect (self->iface, "handle-submit-job", G_CALLBACK (on_submit), self);
  g_signal_connect (self->iface, "handle-list-jobs", G_CALLBACK (on_list_jobs), self);
  g_signal_connect (self->iface, "handle-get-job", G_CALLBACK (on_get_job), self);
  g_signal_connect (self->iface, "handle-cancel-job", G_CALLBACK (on_cancel_job), self);
  g_signal_connect (self->iface, "handle-retry-job", G_CALLBACK (on_retry_job), self);
  g_signal_connect (self->iface, "handle-delete-job", G_CALLBACK (on_delete_job), self);
  g_signal_connect (self->iface, "handle-list-outputs", G_CALLBACK (on_list_outputs), self);
  g_signal_connect (self->iface, "handle-open-output", G_CALLBACK (on_open_output), self);
  g_signal_connect (self->iface, "handle-upload-source", G_CALLBACK (on_upload), self);
  g_signal_connect (self->iface, "handle-get-task-pipeline", G_CALLBACK (on_pipeline), self);
  g_signal_connect (self->iface, "handle-get-task-pipeline-graph",
                    G_CALLBACK (on_pipeline_graph), self);
  g_signal_connect (self->iface, "handle-list-profiles", G_CALLBACK (on_list_profiles), self);
  g_signal_connect (self->iface, "handle-list-workers", G_CALLBACK (on_list_workers), self);
  g_signal_connect (self->iface, "handle-get-health", G_CALLBACK (on_health), self);

  /* the manager interface sits beside the ObjectManager at the same path,
   * which manages only the job objects below it */
  if (!g_dbus_interface_skeleton_export (G_DBUS_INTERFACE_SKELETON (self->iface),
                                         self->connection, WE_DBUS_PATH, &local)) {
    g_set_error (error, WE_ERROR, WE_ERROR_SYS_UNAVAILABLE, "cannot export %s: %s",
                 WE_DBUS_PATH, local->message);
    return FALSE;
  }
  self->manager = g_dbus_object_manager_server_new (WE_DBUS_PATH);
  g_dbus_object_manager_server_set_connection (self->manager, self->connection);
  {
    Guard *guard = g_atomic_rc_box_new0 (Guard);

    g_weak_ref_init (&guard->self, self);
    guard->context = g_main_context_ref_thread_default ();
    self->filter_id = g_dbus_connection_add_filter (self->connection, guard_filter, guard,
                                                    guard_release);
  }

  self->changed_id = g_signal_connect (self->ctx.scheduler, "job-changed",
                                       G_CALLBACK (on_job_changed), self);
  self->flush_id = g_timeout_add_seconds (1, flush_progress, self);
  update_active (self);
  filter.status_mask = WE_JOB_STATUS_MASK_ACTIVE;
  filter.limit = LIST_MAX;
  we_store_job_list_async (self->ctx.store, &filter, self->cancellable, active_listed_cb, self);

  self->owner_id = g_bus_own_name_on_connection (self->connection, WE_DBUS_NAME,
                                                 G_BUS_NAME_OWNER_FLAGS_NONE, name_acquired_cb,
                                                 name_lost_cb, self, NULL);
  return TRUE;
}

void
we_dbus_service_stop (WeDbusService *self)
{
  g_cancellable_cancel (self->cancellable);
  if (self->owner_id != 0) {
    g_bus_unown_name (self->owner_id);
    self->owner_id = 0;
  }
  g_clear_handle_id (&self->flush_id, g_source_remove);
  if (self->filter_id != 0) {
    g_dbus_connection_remove_filter (self->connection, self->filter_id);
    self->filter_id = 0;
  }
  g_clear_signal_handler (&self->changed_id, self->ctx.scheduler);
  if (self->linger != NULL)
    g_hash_table_remove_all (self->linger);
  if (self->iface != NULL &&
      g_dbus_interface_skeleton_get_connection (G_DBUS_INTERFACE_SKELETON (self->iface)) != NULL)
    g_dbus_interface_skeleton_unexport (G_DBUS_INTERFACE_SKELETON (self->iface));
  if (self->manager != NULL)
    g_dbus_object_manager_server_set_connection (self->manager, NULL);
  if (self->jobs != NULL)
    g_hash_table_remove_all (self->jobs);
}
