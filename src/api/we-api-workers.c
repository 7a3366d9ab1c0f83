/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * /v1/workers (docs/api.md "Workers"): the queue's live view of the workers,
 * merged with the store's workers table, which still remembers the ones this
 * kernel no longer sees (from an earlier run, or gone silent): those are
 * listed as offline with their last heartbeat.
 *
 * Every request first reads the table (in a thread: the store's _async API
 * has no worker calls), then looks at the queue on the main loop, so what it
 * acts on is the live state of that moment.
 */
#include "config.h"

#include "we-api-handlers.h"
#include "we-api-ws.h"

#include "common/we-json.h"
#include "common/we-log.h"
#include "queue/we-queue-local.h"
#include "queue/we-queue-nats.h"

typedef enum {
  WORKERS_LIST,
  WORKERS_GET,
  WORKERS_DRAIN,
  WORKERS_UNDRAIN,
  WORKERS_DELETE,
} WorkersAction;

typedef enum {
  STATUS_ONLINE   = 1 << 0,
  STATUS_OFFLINE  = 1 << 1,
  STATUS_DRAINING = 1 << 2,
} WorkerStatus;

typedef struct {
  WeApiRequest *request;
  WorkersAction action;
  guint         status_mask;  /* list: 0 = all */
  gboolean      force;        /* delete */
} WorkersOp;

/* One worker as the API shows it. */
typedef struct {
  JsonObject *json;
  gboolean    live;
  GPtrArray  *record_ids;  /* (element-type utf8) store rows describing it */
} WorkerEntry;

static void
worker_entry_free (WorkerEntry *entry)
{
  json_object_unref (entry->json);
  g_ptr_array_unref (entry->record_ids);
  g_free (entry);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WorkerEntry, worker_entry_free)

static void
workers_op_free (WorkersOp *op)
{
  g_free (op);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WorkersOp, workers_op_free)

static const gchar *
status_to_string (WorkerStatus status)
{
  switch (status) {
  case STATUS_OFFLINE:
    return "offline";
  case STATUS_DRAINING:
    return "draining";
  case STATUS_ONLINE:
  default:
    return "online";
  }
}

static gboolean
status_from_string (const gchar *text, WorkerStatus *status)
{
  if (g_strcmp0 (text, "online") == 0)
    *status = STATUS_ONLINE;
  else if (g_strcmp0 (text, "offline") == 0)
    *status = STATUS_OFFLINE;
  else if (g_strcmp0 (text, "draining") == 0)
    *status = STATUS_DRAINING;
  else
    return FALSE;
  return TRUE;
}

static void
set_nullable_string (JsonObject *o, const gchar *name, const gchar *value)
{
  if (value != NULL)
    json_object_set_string_member (o, name, value);
  else
    json_object_set_null_member (o, name);
}

static void
set_time (JsonObject *o, const gchar *name, gint64 usec)
{
  g_autofree gchar *text = we_time_format (usec);

  set_nullable_string (o, name, text);
}

static WorkerStatus
live_status (JsonObject *live)
{
  if (g_strcmp0 (we_json_get_string (live, "state"), "stopped") == 0)
    return STATUS_OFFLINE;
  if (json_object_get_boolean_member_with_default (live, "draining", FALSE))
    return STATUS_DRAINING;
  return STATUS_ONLINE;
}

static WorkerStatus
entry_status (WorkerEntry *entry)
{
  WorkerStatus status = STATUS_ONLINE;

  status_from_string (we_json_get_string (entry->json, "status"), &status);
  return status;
}

/* The daemon mirrors local children into the table as "<host>/<id>" (so the
 * kernels sharing a PostgreSQL store do not collide); a queue that reports
 * cluster-wide ids uses them as they are. */
static gboolean
record_describes (const WeWorkerRecord *record, const gchar *live_id)
{
  const gchar *host = g_get_host_name ();
  gsize host_len = strlen (host);

  if (g_strcmp0 (record->id, live_id) == 0)
    return TRUE;
  return g_str_has_prefix (record->id, host) && record->id[host_len] == '/' &&
         g_strcmp0 (record->id + host_len + 1, live_id) == 0;
}

static WorkerEntry *
entry_from_live (JsonObject *live, GPtrArray *records)
{
  WorkerEntry *entry = g_new0 (WorkerEntry, 1);
  g_autoptr(GList) members = json_object_get_members (live);
  const gchar *id = we_json_get_string (live, "id");
  gint64 registered_at = 0;

  entry->live = TRUE;
  entry->record_ids = g_ptr_array_new_with_free_func (g_free);
  entry->json = json_object_new ();
  json_object_set_string_member (entry->json, "id", id != NULL ? id : "");
  json_object_set_string_member (entry->json, "status", status_to_string (live_status (live)));
  for (GList *l = members; l != NULL; l = l->next) {
    /* the scheduler's single-task shorthand; the API has task_ids */
    if (g_str_equal (l->data, "id") || g_str_equal (l->data, "task_id"))
      continue;
    json_object_set_member (entry->json, l->data,
                            json_node_copy (json_object_get_member (live, l->data)));
  }
  for (guint i = 0; records != NULL && i < records->len; i++) {
    WeWorkerRecord *record = g_ptr_array_index (records, i);

    if (id == NULL || !record_describes (record, id))
      continue;
    g_ptr_array_add (entry->record_ids, g_strdup (record->id));
    if (registered_at == 0 || (record->created_at != 0 && record->created_at < registered_at))
      registered_at = record->created_at;
  }
  set_time (entry->json, "registered_at", registered_at);
  return entry;
}

static WorkerEntry *
entry_from_record (const WeWorkerRecord *record)
{
  WorkerEntry *entry = g_new0 (WorkerEntry, 1);
  JsonObject *o = json_object_new ();
  JsonNode *max_tasks = record->capabilities != NULL
                          ? json_object_get_member (record->capabilities, "max_parallel_tasks")
                          : NULL;
  gint64 slots = 1;

  if (max_tasks != NULL && JSON_NODE_HOLDS_VALUE (max_tasks) &&
      json_node_get_value_type (max_tasks) == G_TYPE_INT64 && json_node_get_int (max_tasks) > 0)
    slots = json_node_get_int (max_tasks);
  json_object_set_string_member (o, "id", record->id);
  json_object_set_string_member (o, "status", status_to_string (STATUS_OFFLINE));
  set_nullable_string (o, "hostname", record->hostname);
  set_nullable_string (o, "ip_address", record->ip_address);
  set_nullable_string (o, "version", record->version);
  json_object_set_null_member (o, "pid");
  json_object_set_string_member (o, "state", "offline");
  json_object_set_boolean_member (o, "draining", record->is_draining);
  json_object_set_array_member (o, "task_ids", json_array_new ());
  json_object_set_int_member (o, "slots_total", slots);
  json_object_set_int_member (o, "slots_free", 0);
  if (record->capabilities != NULL)
    json_object_set_object_member (o, "capabilities", json_object_ref (record->capabilities));
  else
    json_object_set_null_member (o, "capabilities");
  set_time (o, "last_heartbeat", record->last_heartbeat);
  json_object_set_null_member (o, "started_at");
  json_object_set_null_member (o, "restarts");
  set_time (o, "registered_at", record->created_at);

  entry->json = o;
  entry->record_ids = g_ptr_array_new_with_free_func (g_free);
  g_ptr_array_add (entry->record_ids, g_strdup (record->id));
  return entry;
}

/* Returns: (transfer container) (element-type WorkerEntry): live workers in
 * the queue's order, then the ones only the store knows, by id */
static GPtrArray *
collect_workers (WeQueue *queue, GPtrArray *records)
{
  g_autoptr(GPtrArray) live = we_queue_list_workers (queue);
  g_autoptr(GHashTable) described = g_hash_table_new (g_str_hash, g_str_equal);
  GPtrArray *entries = g_ptr_array_new_with_free_func ((GDestroyNotify) worker_entry_free);

  for (guint i = 0; live != NULL && i < live->len; i++) {
    WorkerEntry *entry = entry_from_live (g_ptr_array_index (live, i), records);

    for (guint j = 0; j < entry->record_ids->len; j++)
      g_hash_table_add (described, g_ptr_array_index (entry->record_ids, j));
    g_ptr_array_add (entries, entry);
  }
  for (guint i = 0; records != NULL && i < records->len; i++) {
    WeWorkerRecord *record = g_ptr_array_index (records, i);

    if (!g_hash_table_contains (described, record->id))
      g_ptr_array_add (entries, entry_from_record (record));
  }
  return entries;
}

JsonArray *
we_api_workers_list_json (WeQueue *queue, GPtrArray *records)
{
  g_autoptr(GPtrArray) entries = collect_workers (queue, records);
  JsonArray *array = json_array_new ();

  for (guint i = 0; i < entries->len; i++) {
    WorkerEntry *entry = g_ptr_array_index (entries, i);

    json_array_add_object_element (array, json_object_ref (entry->json));
  }
  return array;
}

/* By its API id, or by the id of a store row that describes it. */
static WorkerEntry *
find_entry (GPtrArray *entries, const gchar *id)
{
  for (guint i = 0; i < entries->len; i++) {
    WorkerEntry *entry = g_ptr_array_index (entries, i);

    if (g_strcmp0 (we_json_get_string (entry->json, "id"), id) == 0)
      return entry;
  }
  for (guint i = 0; i < entries->len; i++) {
    WorkerEntry *entry = g_ptr_array_index (entries, i);

    for (guint j = 0; j < entry->record_ids->len; j++) {
      if (g_strcmp0 (g_ptr_array_index (entry->record_ids, j), id) == 0)
        return entry;
    }
  }
  return NULL;
}

/* Administrative actions leave a trail (spec §19.3 audit log: who, what,
 * which resource, and whether it worked). */
static void
audit (WeApiRequest *request, const gchar *action, const gchar *worker_id, const GError *error)
{
  const WeIdentity *who = request->identity;

  /* a refusal is the caller's business, not a fault of the service */
  we_log (G_LOG_LEVEL_INFO, request->request_id,
          error != NULL ? we_error_code_to_string (we_error_code_from_gerror (error)) : NULL,
          "audit: user=%s role=%s action=%s resource=worker/%s result=%s%s%s",
          who != NULL && who->username != NULL ? who->username : "-",
          who != NULL ? we_role_to_string (who->role) : "-", action, worker_id,
          error != NULL ? "failure" : "success", error != NULL ? " reason=" : "",
          error != NULL ? error->message : "");
}

/* ---- store access, off the main loop ------------------------------------ */

static void
records_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  GError *error = NULL;
  GPtrArray *records = we_store_worker_list (WE_STORE (source), &error);

  if (records == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, records, (GDestroyNotify) g_ptr_array_unref);
}

static void
delete_records_thread (GTask *task, gpointer source, gpointer task_data,
                       GCancellable *cancellable)
{
  WeStore *store = WE_STORE (source);
  GPtrArray *ids = task_data;
  guint deleted = 0;

  /* the daemon's mirror may have queued a write of this worker just before
   * the queue forgot it: let that land first so the delete is the last word */
  we_store_flush (store);
  for (guint i = 0; i < ids->len; i++) {
    g_autoptr(GError) error = NULL;

    if (we_store_worker_delete (store, g_ptr_array_index (ids, i), &error))
      deleted++;
    else if (!g_error_matches (error, WE_ERROR, WE_ERROR_WRK_NOT_FOUND)) {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  }
  g_task_return_int (task, deleted);
}

typedef struct {
  WeApiRequest *request;
  gchar        *id;
  gboolean      live;    /* the queue had it: gone from the store or not, it is removed */
  const gchar  *action;
} DeleteData;

static void
delete_data_free (DeleteData *d)
{
  g_free (d->id);
  g_free (d);
}

static void
records_deleted_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  DeleteData *d = user_data;
  g_autoptr(GError) error = NULL;
  gssize deleted = g_task_propagate_int (G_TASK (result), &error);

  if (deleted < 0) {
    audit (d->request, d->action, d->id, error);
    we_api_request_respond_error (d->request, error);
  } else if (deleted == 0 && !d->live) {
    /* removed by someone else while we looked */
    g_set_error (&error, WE_ERROR, WE_ERROR_WRK_NOT_FOUND, "worker %s not found", d->id);
    audit (d->request, d->action, d->id, error);
    we_api_request_respond_error (d->request, error);
  } else {
    audit (d->request, d->action, d->id, NULL);
    we_api_request_respond_empty (d->request, SOUP_STATUS_NO_CONTENT);
  }
  delete_data_free (d);
}

/* ---- the actions, once the table is read -------------------------------- */

static void
respond_list (WorkersOp *op, GPtrArray *entries)
{
  JsonArray *array = json_array_new ();
  JsonObject *o = json_object_new ();

  for (guint i = 0; i < entries->len; i++) {
    WorkerEntry *entry = g_ptr_array_index (entries, i);

    if (op->status_mask != 0 && (op->status_mask & entry_status (entry)) == 0)
      continue;
    we_ws_hub_add_worker_resources (we_api_server_get_ws_hub (op->request->server), entry->json);
    json_array_add_object_element (array, json_object_ref (entry->json));
  }
  json_object_set_int_member (o, "total", json_array_get_length (array));
  json_object_set_array_member (o, "workers", array);
  we_api_request_respond_object (op->request, SOUP_STATUS_OK, o);
}

static void
set_draining (WorkersOp *op, WorkerEntry *entry, GPtrArray *records)
{
  const WeApiContext *ctx = we_api_request_context (op->request);
  gboolean draining = op->action == WORKERS_DRAIN;
  const gchar *action = draining ? "worker.drain" : "worker.undrain";
  g_autofree gchar *id = g_strdup (we_json_get_string (entry->json, "id"));
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) after = NULL;
  WorkerEntry *now;

  if (!entry->live || entry_status (entry) == STATUS_OFFLINE) {
    const gchar *seen = we_json_get_string (entry->json, "last_heartbeat");

    g_set_error (&error, WE_ERROR, WE_ERROR_WRK_OFFLINE,
                 "worker %s is offline (last heartbeat %s); only a connected worker can be "
                 "drained or undrained", id, seen != NULL ? seen : "never");
    audit (op->request, action, id, error);
    we_api_request_respond_error (op->request, error);
    return;
  }
  if (!we_queue_set_draining (ctx->queue, id, draining, &error)) {
    audit (op->request, action, id, error);
    we_api_request_respond_error (op->request, error);
    return;
  }
  audit (op->request, action, id, NULL);
  after = collect_workers (ctx->queue, records);
  now = find_entry (after, id);
  if (now == NULL) {
    /* cannot happen on one main loop, but the answer stays truthful */
    g_set_error (&error, WE_ERROR, WE_ERROR_WRK_NOT_FOUND, "worker %s not found", id);
    we_api_request_respond_error (op->request, error);
    return;
  }
  we_api_request_respond_object (op->request, SOUP_STATUS_OK, json_object_ref (now->json));
}

static void
delete_worker (WorkersOp *op, WorkerEntry *entry)
{
  const WeApiContext *ctx = we_api_request_context (op->request);
  const gchar *id = we_json_get_string (entry->json, "id");
  JsonArray *tasks = we_json_get_array (entry->json, "task_ids");
  g_autoptr(GError) error = NULL;
  g_autoptr(GTask) task = NULL;
  DeleteData *d;

  d = g_new0 (DeleteData, 1);
  d->request = op->request;
  d->id = g_strdup (id);
  d->live = entry->live;
  d->action = op->force ? "worker.delete(force)" : "worker.delete";

  if (entry->live) {
    gboolean busy = tasks != NULL && json_array_get_length (tasks) > 0;
    gboolean ok;

    if (busy && op->force && WE_IS_QUEUE_LOCAL (ctx->queue)) {
      ok = we_queue_local_remove_worker_forced (WE_QUEUE_LOCAL (ctx->queue), id, &error);
    } else if (busy && op->force && WE_IS_QUEUE_NATS (ctx->queue)) {
      ok = we_queue_nats_remove_worker_forced (WE_QUEUE_NATS (ctx->queue), id, &error);
    } else if (busy) {
      g_set_error (&error, WE_ERROR, WE_ERROR_WRK_BUSY,
                   "worker %s is running task %s; drain it and wait, or delete with "
                   "?force=true to fail the task over to another worker", id,
                   json_array_get_string_element (tasks, 0));
      ok = FALSE;
    } else {
      ok = we_queue_remove_worker (ctx->queue, id, &error);
    }
    if (!ok) {
      audit (op->request, d->action, id, error);
      we_api_request_respond_error (op->request, error);
      delete_data_free (d);
      return;
    }
  }
  if (entry->record_ids->len == 0) {
    audit (op->request, d->action, id, NULL);
    we_api_request_respond_empty (op->request, SOUP_STATUS_NO_CONTENT);
    delete_data_free (d);
    return;
  }
  task = g_task_new (ctx->store, NULL, records_deleted_cb, d);
  g_task_set_source_tag (task, delete_worker);
  g_task_set_task_data (task, g_ptr_array_ref (entry->record_ids),
                        (GDestroyNotify) g_ptr_array_unref);
  g_task_run_in_thread (task, delete_records_thread);
}

static void
records_read_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(WorkersOp) op = user_data;
  const WeApiContext *ctx = we_api_request_context (op->request);
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) records = g_task_propagate_pointer (G_TASK (result), &error);
  g_autoptr(GPtrArray) entries = NULL;
  const gchar *id = we_api_request_param (op->request, 0);
  WorkerEntry *entry;

  if (records == NULL) {
    we_api_request_respond_error (op->request, error);
    return;
  }
  entries = collect_workers (ctx->queue, records);
  if (op->action == WORKERS_LIST) {
    respond_list (op, entries);
    return;
  }
  entry = find_entry (entries, id);
  if (entry == NULL) {
    g_set_error (&error, WE_ERROR, WE_ERROR_WRK_NOT_FOUND, "no worker has the id %s", id);
    if (op->action != WORKERS_GET)
      audit (op->request,
             op->action == WORKERS_DRAIN     ? "worker.drain"
             : op->action == WORKERS_UNDRAIN ? "worker.undrain"
                                             : "worker.delete",
             id, error);
    we_api_request_respond_error (op->request, error);
    return;
  }
  switch (op->action) {
  case WORKERS_GET:
    we_api_request_respond_object (op->request, SOUP_STATUS_OK, json_object_ref (entry->json));
    break;
  case WORKERS_DRAIN:
  case WORKERS_UNDRAIN:
    set_draining (op, entry, records);
    break;
  case WORKERS_DELETE:
    delete_worker (op, entry);
    break;
  case WORKERS_LIST:
  default:
    g_assert_not_reached ();
  }
}

static void
run (WeApiRequest *request, WorkersOp *op)
{
  g_autoptr(GTask) task = g_task_new (we_api_request_context (request)->store, NULL,
                                      records_read_cb, op);

  g_task_set_source_tag (task, run);
  g_task_run_in_thread (task, records_thread);
}

static WorkersOp *
workers_op_new (WeApiRequest *request, WorkersAction action)
{
  WorkersOp *op = g_new0 (WorkersOp, 1);

  op->request = request;
  op->action = action;
  return op;
}

/* ---- routes ------------------------------------------------------------- */

void
we_api_workers_list (WeApiRequest *request)
{
  g_autoptr(WorkersOp) op = workers_op_new (request, WORKERS_LIST);
  const gchar *status = we_api_request_query (request, "status");

  if (status != NULL && *status != '\0') {
    g_auto(GStrv) parts = g_strsplit (status, ",", 4);

    for (guint i = 0; parts[i] != NULL; i++) {
      WorkerStatus s;

      if (!status_from_string (g_strstrip (parts[i]), &s)) {
        g_autoptr(GError) error = g_error_new (WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                                               "unknown status \"%s\"; use online, offline "
                                               "or draining", parts[i]);
        we_api_request_respond_error (request, error);
        return;
      }
      op->status_mask |= s;
    }
  }
  run (request, g_steal_pointer (&op));
}

void
we_api_workers_get (WeApiRequest *request)
{
  run (request, workers_op_new (request, WORKERS_GET));
}

void
we_api_workers_drain (WeApiRequest *request)
{
  run (request, workers_op_new (request, WORKERS_DRAIN));
}

void
we_api_workers_undrain (WeApiRequest *request)
{
  run (request, workers_op_new (request, WORKERS_UNDRAIN));
}

void
we_api_workers_delete (WeApiRequest *request)
{
  g_autoptr(WorkersOp) op = workers_op_new (request, WORKERS_DELETE);
  const gchar *force = we_api_request_query (request, "force");

  if (force != NULL) {
    if (g_str_equal (force, "true") || g_str_equal (force, "1")) {
      op->force = TRUE;
    } else if (!g_str_equal (force, "false") && !g_str_equal (force, "0") &&
               *force != '\0') {
      g_autoptr(GError) error = g_error_new_literal (WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                                                     "force must be true or false");
      we_api_request_respond_error (request, error);
      return;
    }
  }
  run (request, g_steal_pointer (&op));
}
