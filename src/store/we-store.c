/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "store/we-store.h"

G_DEFINE_INTERFACE (WeStore, we_store, G_TYPE_OBJECT)

static void
we_store_default_init (WeStoreInterface *iface)
{
}

/* --- records ------------------------------------------------------------ */

WeWorkerRecord *
we_worker_record_new (void)
{
  WeWorkerRecord *record = g_new0 (WeWorkerRecord, 1);

  record->is_healthy = TRUE;
  return record;
}

void
we_worker_record_free (WeWorkerRecord *record)
{
  if (record == NULL)
    return;
  g_free (record->id);
  g_free (record->hostname);
  g_free (record->ip_address);
  g_clear_pointer (&record->capabilities, json_object_unref);
  g_free (record->version);
  g_free (record);
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
set_time (JsonObject *o, const gchar *name, gint64 t)
{
  g_autofree gchar *s = we_time_format (t);

  set_nullable_string (o, name, s);
}

JsonObject *
we_worker_record_to_json (const WeWorkerRecord *record)
{
  JsonObject *o = json_object_new ();

  json_object_set_string_member (o, "id", record->id);
  set_nullable_string (o, "hostname", record->hostname);
  set_nullable_string (o, "ip_address", record->ip_address);
  json_object_set_int_member (o, "port", record->port);
  if (record->capabilities != NULL)
    json_object_set_object_member (o, "capabilities", json_object_ref (record->capabilities));
  else
    json_object_set_object_member (o, "capabilities", json_object_new ());
  json_object_set_boolean_member (o, "is_healthy", record->is_healthy);
  json_object_set_boolean_member (o, "is_draining", record->is_draining);
  set_time (o, "last_heartbeat", record->last_heartbeat);
  set_nullable_string (o, "version", record->version);
  set_time (o, "created_at", record->created_at);
  return o;
}

WePluginConfig *
we_plugin_config_new (void)
{
  WePluginConfig *config = g_new0 (WePluginConfig, 1);

  config->is_enabled = TRUE;
  return config;
}

void
we_plugin_config_free (WePluginConfig *config)
{
  if (config == NULL)
    return;
  g_free (config->id);
  g_free (config->plugin_type);
  g_clear_pointer (&config->config, json_object_unref);
  g_free (config);
}

/* --- synchronous calls ---------------------------------------------------- */

static gboolean
unsupported (WeStore *self, const gchar *what, GError **error)
{
  g_set_error (error, WE_ERROR, WE_ERROR_SYS_INTERNAL, "%s does not implement %s",
               G_OBJECT_TYPE_NAME (self), what);
  return FALSE;
}

/* Each wrapper checks the instance, then dispatches to the backend. */
#define STORE_CALL(ret_fail, vfunc, ...)                                      \
  G_STMT_START {                                                              \
    WeStoreInterface *iface;                                                  \
    g_return_val_if_fail (WE_IS_STORE (self), ret_fail);                      \
    g_return_val_if_fail (error == NULL || *error == NULL, ret_fail);         \
    iface = WE_STORE_GET_IFACE (self);                                        \
    if (iface->vfunc == NULL) {                                               \
      unsupported (self, #vfunc, error);                                      \
      return ret_fail;                                                        \
    }                                                                         \
    return iface->vfunc (self, __VA_ARGS__);                                  \
  } G_STMT_END

gboolean
we_store_job_create (WeStore *self, WeJob *job, GPtrArray *tasks, GError **error)
{
  g_return_val_if_fail (job != NULL, FALSE);
  STORE_CALL (FALSE, job_create, job, tasks, error);
}

WeJob *
we_store_job_get (WeStore *self, const gchar *id, GError **error)
{
  g_return_val_if_fail (id != NULL, NULL);
  STORE_CALL (NULL, job_get, id, error);
}

GPtrArray *
we_store_job_list (WeStore *self, const WeJobFilter *filter, guint *total, GError **error)
{
  static const WeJobFilter all = { 0 };

  STORE_CALL (NULL, job_list, filter != NULL ? filter : &all, total, error);
}

gboolean
we_store_job_update (WeStore *self, WeJob *job, GError **error)
{
  g_return_val_if_fail (job != NULL && job->id != NULL, FALSE);
  STORE_CALL (FALSE, job_update, job, error);
}

gboolean
we_store_job_delete (WeStore *self, const gchar *id, GError **error)
{
  g_return_val_if_fail (id != NULL, FALSE);
  STORE_CALL (FALSE, job_delete, id, error);
}

GPtrArray *
we_store_task_list (WeStore *self, const gchar *job_id, GError **error)
{
  g_return_val_if_fail (job_id != NULL, NULL);
  STORE_CALL (NULL, task_list, job_id, error);
}

gboolean
we_store_task_insert (WeStore *self, WeTask *task, GError **error)
{
  g_return_val_if_fail (task != NULL && task->job_id != NULL, FALSE);
  STORE_CALL (FALSE, task_insert, task, error);
}

gboolean
we_store_task_update (WeStore *self, WeTask *task, GError **error)
{
  g_return_val_if_fail (task != NULL && task->id != NULL, FALSE);
  STORE_CALL (FALSE, task_update, task, error);
}

gboolean
we_store_output_put (WeStore *self, WeJobOutput *output, GError **error)
{
  g_return_val_if_fail (output != NULL && output->job_id != NULL && output->name != NULL, FALSE);
  STORE_CALL (FALSE, output_put, output, error);
}

GPtrArray *
we_store_output_list (WeStore *self, const gchar *job_id, GError **error)
{
  g_return_val_if_fail (job_id != NULL, NULL);
  STORE_CALL (NULL, output_list, job_id, error);
}

gboolean
we_store_event_add (WeStore *self, WeJobEvent *event, GError **error)
{
  g_return_val_if_fail (event != NULL && event->job_id != NULL && event->type != NULL, FALSE);
  STORE_CALL (FALSE, event_add, event, error);
}

GPtrArray *
we_store_event_list (WeStore *self, const gchar *job_id, GError **error)
{
  g_return_val_if_fail (job_id != NULL, NULL);
  STORE_CALL (NULL, event_list, job_id, error);
}

GPtrArray *
we_store_profile_list (WeStore *self, GError **error)
{
  STORE_CALL (NULL, profile_list, error);
}

WeProfile *
we_store_profile_get (WeStore *self, const gchar *id, GError **error)
{
  g_return_val_if_fail (id != NULL, NULL);
  STORE_CALL (NULL, profile_get, id, error);
}

gboolean
we_store_profile_put (WeStore *self, const WeProfile *profile, GError **error)
{
  g_return_val_if_fail (profile != NULL && profile->id != NULL, FALSE);
  STORE_CALL (FALSE, profile_put, profile, error);
}

gboolean
we_store_profile_delete (WeStore *self, const gchar *id, GError **error)
{
  g_return_val_if_fail (id != NULL, FALSE);
  STORE_CALL (FALSE, profile_delete, id, error);
}

gboolean
we_store_worker_put (WeStore *self, const WeWorkerRecord *worker, GError **error)
{
  g_return_val_if_fail (worker != NULL && worker->id != NULL, FALSE);
  STORE_CALL (FALSE, worker_put, worker, error);
}

GPtrArray *
we_store_worker_list (WeStore *self, GError **error)
{
  STORE_CALL (NULL, worker_list, error);
}

gboolean
we_store_worker_delete (WeStore *self, const gchar *id, GError **error)
{
  g_return_val_if_fail (id != NULL, FALSE);
  STORE_CALL (FALSE, worker_delete, id, error);
}

gboolean
we_store_kernel_beat (WeStore *self, const gchar *kernel_id, const gchar *hostname,
                      GError **error)
{
  g_return_val_if_fail (kernel_id != NULL, FALSE);
  STORE_CALL (FALSE, kernel_beat, kernel_id, hostname, error);
}

GPtrArray *
we_store_job_claim_orphans (WeStore *self, const gchar *kernel_id, guint stale_s, guint limit,
                            GError **error)
{
  g_return_val_if_fail (kernel_id != NULL, NULL);
  STORE_CALL (NULL, job_claim_orphans, kernel_id, stale_s, limit, error);
}

gboolean
we_store_job_release_owned (WeStore *self, const gchar *kernel_id, GError **error)
{
  g_return_val_if_fail (kernel_id != NULL, FALSE);
  STORE_CALL (FALSE, job_release_owned, kernel_id, error);
}

gboolean
we_store_plugin_config_put (WeStore *self, const WePluginConfig *config, GError **error)
{
  g_return_val_if_fail (config != NULL && config->id != NULL && config->plugin_type != NULL,
                        FALSE);
  STORE_CALL (FALSE, plugin_config_put, config, error);
}

GPtrArray *
we_store_plugin_config_list (WeStore *self, GError **error)
{
  STORE_CALL (NULL, plugin_config_list, error);
}

gint
we_store_schema_version (WeStore *self)
{
  WeStoreInterface *iface;

  g_return_val_if_fail (WE_IS_STORE (self), 0);
  iface = WE_STORE_GET_IFACE (self);
  return iface->schema_version != NULL ? iface->schema_version (self) : 0;
}

/* --- the per-store worker thread ---------------------------------------------
 *
 * Every store gets one thread, started on its first _async call, that pops
 * operations off a queue and runs the synchronous vfuncs in submission order.
 * A GThreadPool would also do, but owning the thread lets finalisation work
 * from the worker itself: the last reference to a store can be dropped there
 * when a GTask's source object outlives everything else.
 */

typedef void (*WeStoreOpFunc) (WeStore *self, GTask *task, gpointer task_data);

typedef enum {
  OP_RUN,
  OP_FLUSH,
  OP_STOP,
} OpKind;

typedef struct {
  GMutex   mutex;
  GCond    cond;
  gboolean done;
} FlushBarrier;

typedef struct {
  OpKind         kind;
  WeStoreOpFunc  func;
  GTask         *task;    /* OP_RUN: owned */
  FlushBarrier  *barrier; /* OP_FLUSH: owned by the waiter */
} StoreOp;

typedef struct {
  GThread     *thread;
  GAsyncQueue *queue;     /* of StoreOp; the thread holds its own reference */
} StoreWorker;

static GQuark
store_worker_quark (void)
{
  static GQuark quark = 0;

  if (G_UNLIKELY (quark == 0))
    quark = g_quark_from_static_string ("we-store-worker");
  return quark;
}

static gpointer
store_worker_thread (gpointer data)
{
  GAsyncQueue *queue = data;

  for (;;) {
    StoreOp *op = g_async_queue_pop (queue);

    if (op->kind == OP_STOP) {
      g_free (op);
      break;
    }
    if (op->kind == OP_FLUSH) {
      g_mutex_lock (&op->barrier->mutex);
      op->barrier->done = TRUE;
      g_cond_signal (&op->barrier->cond);
      g_mutex_unlock (&op->barrier->mutex);
      g_free (op);
      continue;
    }
    /* an operation cancelled before it started is not run at all */
    if (!g_task_return_error_if_cancelled (op->task)) {
      op->func (WE_STORE (g_task_get_source_object (op->task)), op->task,
                g_task_get_task_data (op->task));
    }
    /* may drop the last reference to the store, see store_worker_free() */
    g_object_unref (op->task);
    g_free (op);
  }
  g_async_queue_unref (queue);
  return NULL;
}

static void
store_worker_free (gpointer data)
{
  StoreWorker *worker = data;
  StoreOp *stop = g_new0 (StoreOp, 1);

  /* Every queued operation holds a reference to the store, so the queue is
   * empty by now; the thread at most finishes dropping one GTask. */
  stop->kind = OP_STOP;
  g_async_queue_push (worker->queue, stop);
  if (worker->thread == g_thread_self ())
    g_thread_unref (worker->thread); /* finalised from the worker: it exits on its own */
  else
    g_thread_join (worker->thread);
  g_async_queue_unref (worker->queue);
  g_free (worker);
}

static StoreWorker *
store_get_worker (WeStore *self)
{
  GQuark quark = store_worker_quark ();
  StoreWorker *worker = g_object_get_qdata (G_OBJECT (self), quark);
  GAsyncQueue *queue;

  if (worker != NULL)
    return worker;

  /* two threads may race to the first _async call: the loser stops its
   * thread again and uses the winner's */
  queue = g_async_queue_new ();
  worker = g_new0 (StoreWorker, 1);
  worker->queue = queue;
  worker->thread = g_thread_new ("we-store", store_worker_thread, g_async_queue_ref (queue));
  if (!g_object_replace_qdata (G_OBJECT (self), quark, NULL, worker, store_worker_free, NULL)) {
    store_worker_free (worker);
    worker = g_object_get_qdata (G_OBJECT (self), quark);
  }
  return worker;
}

static void
store_submit (WeStore *self, GTask *task, WeStoreOpFunc func)
{
  StoreWorker *worker = store_get_worker (self);
  StoreOp *op = g_new0 (StoreOp, 1);

  op->kind = OP_RUN;
  op->func = func;
  op->task = task; /* transfer */
  g_async_queue_push (worker->queue, op);
}

void
we_store_flush (WeStore *self)
{
  StoreWorker *worker;
  FlushBarrier barrier = { 0 };
  StoreOp *op;

  g_return_if_fail (WE_IS_STORE (self));

  worker = g_object_get_qdata (G_OBJECT (self), store_worker_quark ());
  /* nothing was ever submitted; and the worker cannot wait for itself */
  if (worker == NULL || worker->thread == g_thread_self ())
    return;

  g_mutex_init (&barrier.mutex);
  g_cond_init (&barrier.cond);
  op = g_new0 (StoreOp, 1);
  op->kind = OP_FLUSH;
  op->barrier = &barrier;
  g_async_queue_push (worker->queue, op);

  g_mutex_lock (&barrier.mutex);
  while (!barrier.done)
    g_cond_wait (&barrier.cond, &barrier.mutex);
  g_mutex_unlock (&barrier.mutex);
  g_mutex_clear (&barrier.mutex);
  g_cond_clear (&barrier.cond);
}

/* --- a caller's own function on the store thread ------------------------ */

typedef struct {
  WeStoreCallFunc func;
  gpointer        data;
  GDestroyNotify  data_free;
  GDestroyNotify  result_free;
} CallArgs;

static void
call_args_free (CallArgs *args)
{
  if (args->data_free != NULL)
    args->data_free (args->data);
  g_free (args);
}

static void
op_call (WeStore *self, GTask *task, gpointer data)
{
  CallArgs *args = data;
  GError *error = NULL;
  gpointer result = args->func (self, args->data, &error);

  if (error != NULL) {
    if (result != NULL && args->result_free != NULL)
      args->result_free (result);
    g_task_return_error (task, error);
  } else {
    /* a NULL result is a success too: the finisher tells it by the error */
    g_task_return_pointer (task, result, args->result_free);
  }
}

void
we_store_call_async (WeStore *self, WeStoreCallFunc func, gpointer data,
                     GDestroyNotify data_free, GDestroyNotify result_free,
                     GCancellable *cancellable, GAsyncReadyCallback callback,
                     gpointer user_data)
{
  GTask *task;
  CallArgs *args;

  g_return_if_fail (WE_IS_STORE (self));
  g_return_if_fail (func != NULL);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, we_store_call_async);
  args = g_new0 (CallArgs, 1);
  args->func = func;
  args->data = data;
  args->data_free = data_free;
  args->result_free = result_free;
  g_task_set_task_data (task, args, (GDestroyNotify) call_args_free);
  store_submit (self, task, op_call);
}

gpointer
we_store_call_finish (WeStore *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

/* --- arguments, copied on the caller's thread ----------------------------- */

static WeWorkerRecord *
worker_record_copy (const WeWorkerRecord *worker)
{
  WeWorkerRecord *c = we_worker_record_new ();

  c->id = g_strdup (worker->id);
  c->hostname = g_strdup (worker->hostname);
  c->ip_address = g_strdup (worker->ip_address);
  c->port = worker->port;
  c->capabilities = we_json_object_copy (worker->capabilities);
  c->is_healthy = worker->is_healthy;
  c->is_draining = worker->is_draining;
  c->last_heartbeat = worker->last_heartbeat;
  c->version = g_strdup (worker->version);
  c->created_at = worker->created_at;
  return c;
}

typedef struct {
  gchar          *id;
  WeJob          *job;
  GPtrArray      *tasks;
  WeTask         *task;
  WeJobOutput    *output;
  WeJobEvent     *event;
  WeWorkerRecord *worker;
  WeProfile      *profile;
  gchar          *name;
  gboolean        create;   /* profile_write: insert only, never replace */
  WeJobFilter     filter;   /* its strings point into the three below */
  gchar          *filter_user_id;
  gchar          *filter_search;
  gchar          *filter_owner;
  gchar          *filter_key;
  gchar          *hostname;
  guint           stale_s;
  guint           limit;
  gboolean        release_owned;
} OpArgs;

static void
op_args_free (OpArgs *args)
{
  g_free (args->id);
  g_clear_pointer (&args->job, we_job_unref);
  g_clear_pointer (&args->tasks, g_ptr_array_unref);
  g_clear_pointer (&args->task, we_task_unref);
  g_clear_pointer (&args->output, we_job_output_free);
  g_clear_pointer (&args->event, we_job_event_free);
  g_clear_pointer (&args->worker, we_worker_record_free);
  g_clear_pointer (&args->profile, we_profile_unref);
  g_free (args->name);
  g_free (args->filter_user_id);
  g_free (args->filter_search);
  g_free (args->filter_owner);
  g_free (args->filter_key);
  g_free (args->hostname);
  g_free (args);
}

static GTask *
op_task_new (WeStore *self, GCancellable *cancellable, GAsyncReadyCallback callback,
             gpointer user_data, gpointer source_tag, const gchar *name, OpArgs **args)
{
  GTask *task = g_task_new (self, cancellable, callback, user_data);

  g_task_set_source_tag (task, source_tag);
  g_task_set_name (task, name);
  *args = g_new0 (OpArgs, 1);
  g_task_set_task_data (task, *args, (GDestroyNotify) op_args_free);
  return task;
}

typedef struct {
  GPtrArray *list;
  guint      total;
} ListResult;

static void
list_result_free (ListResult *result)
{
  g_clear_pointer (&result->list, g_ptr_array_unref);
  g_free (result);
}

static void
return_boolean (GTask *task, gboolean ok, GError *error)
{
  if (ok)
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

static void
return_list (GTask *task, GPtrArray *list, guint total, GError *error)
{
  ListResult *result;

  if (list == NULL) {
    g_task_return_error (task, error);
    return;
  }
  result = g_new0 (ListResult, 1);
  result->list = list;
  result->total = total;
  g_task_return_pointer (task, result, (GDestroyNotify) list_result_free);
}

/* --- operations, run on the worker thread ----------------------------------- */

static void
op_job_create (WeStore *self, GTask *task, gpointer data)
{
  OpArgs *args = data;
  GError *error = NULL;
  gboolean ok = we_store_job_create (self, args->job, args->tasks, &error);

  return_boolean (task, ok, error);
}

static void
op_job_get (WeStore *self, GTask *task, gpointer data)
{
  OpArgs *args = data;
  GError *error = NULL;
  WeJob *job = we_store_job_get (self, args->id, &error);

  if (job == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, job, (GDestroyNotify) we_job_unref);
}

static void
op_job_list (WeStore *self, GTask *task, gpointer data)
{
  OpArgs *args = data;
  GError *error = NULL;
  guint total = 0;
  GPtrArray *list = we_store_job_list (self, &args->filter, &total, &error);

  return_list (task, list, total, error);
}

static void
op_job_update (WeStore *self, GTask *task, gpointer data)
{
  OpArgs *args = data;
  GError *error = NULL;
  gboolean ok = we_store_job_update (self, args->job, &error);

  return_boolean (task, ok, error);
}

static void
op_job_delete (WeStore *self, GTask *task, gpointer data)
{
  OpArgs *args = data;
  GError *error = NULL;
  gboolean ok = we_store_job_delete (self, args->id, &error);

  return_boolean (task, ok, error);
}

static void
op_task_list (WeStore *self, GTask *task, gpointer data)
{
  OpArgs *args = data;
  GError *error = NULL;
  GPtrArray *list = we_store_task_list (self, args->id, &error);

  return_list (task, list, list != NULL ? list->len : 0, error);
}

static void
op_task_insert (WeStore *self, GTask *task, gpointer data)
{
  OpArgs *args = data;
  GError *error = NULL;
  gboolean ok = we_store_task_insert (self, args->task, &error);

  return_boolean (task, ok, error);
}

static void
op_task_update (WeStore *self, GTask *task, gpointer data)
{
  OpArgs *args = data;
  GError *error = NULL;
  gboolean ok = we_store_task_update (self, args->task, &error);

  return_boolean (task, ok, error);
}

static void
op_output_put (WeStore *self, GTask *task, gpointer data)
{
  OpArgs *args = data;
  GError *error = NULL;
  gboolean ok = we_store_output_put (self, args->output, &error);

  return_boolean (task, ok, error);
}

static void
op_output_list (WeStore *self, GTask *task, gpointer data)
{
  OpArgs *args = data;
  GError *error = NULL;
  GPtrArray *list = we_store_output_list (self, args->id, &error);

  return_list (task, list, list != NULL ? list->len : 0, error);
}

static void
op_event_add (WeStore *self, GTask *task, gpointer data)
{
  OpArgs *args = data;
  GError *error = NULL;
  gboolean ok = we_store_event_add (self, args->event, &error);

  return_boolean (task, ok, error);
}

static void
op_event_list (WeStore *self, GTask *task, gpointer data)
{
  OpArgs *args = data;
  GError *error = NULL;
  GPtrArray *list = we_store_event_list (self, args->id, &error);

  return_list (task, list, list != NULL ? list->len : 0, error);
}

static void
op_profile_list (WeStore *self, GTask *task, gpointer data)
{
  GError *error = NULL;
  GPtrArray *list = we_store_profile_list (self, &error);

  return_list (task, list, list != NULL ? list->len : 0, error);
}

static void
op_profile_get (WeStore *self, GTask *task, gpointer data)
{
  OpArgs *args = data;
  GError *error = NULL;
  WeProfile *profile = we_store_profile_get (self, args->id, &error);

  if (profile == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, profile, (GDestroyNotify) we_profile_unref);
}

/* The checks and the write run as one operation on the store's thread, so
 * no other request of this kernel can come between them. */
static gboolean
profile_check_writable (WeStore *self, const gchar *id, GError **error)
{
  g_autoptr(WeProfile) old = we_store_profile_get (self, id, error);

  if (old == NULL)
    return FALSE;
  if (old->builtin) {
    g_set_error (error, WE_ERROR, WE_ERROR_AUTH_FORBIDDEN,
                 "profile %s is built in and read-only; duplicate it to change a copy", id);
    return FALSE;
  }
  return TRUE;
}

static gboolean
profile_exists (WeStore *self, const gchar *id, gboolean *exists, GError **error)
{
  g_autoptr(GError) local = NULL;
  g_autoptr(WeProfile) old = we_store_profile_get (self, id, &local);

  if (old == NULL && !g_error_matches (local, WE_ERROR, WE_ERROR_JOB_INVALID_PROFILE)) {
    g_propagate_error (error, g_steal_pointer (&local));
    return FALSE;
  }
  *exists = old != NULL;
  return TRUE;
}

static void
op_profile_write (WeStore *self, GTask *task, gpointer data)
{
  OpArgs *args = data;
  GError *error = NULL;
  gboolean exists = FALSE;
  gboolean ok;

  if (args->create) {
    ok = profile_exists (self, args->profile->id, &exists, &error);
    if (ok && exists) {
      g_set_error (&error, WE_ERROR, WE_ERROR_SYS_CONFLICT,
                   "a profile with id %s exists already", args->profile->id);
      ok = FALSE;
    }
  } else {
    ok = profile_check_writable (self, args->profile->id, &error);
  }
  ok = ok && we_store_profile_put (self, args->profile, &error);
  return_boolean (task, ok, error);
}

static void
op_profile_delete (WeStore *self, GTask *task, gpointer data)
{
  OpArgs *args = data;
  GError *error = NULL;
  gboolean ok = profile_check_writable (self, args->id, &error) &&
                we_store_profile_delete (self, args->id, &error);

  return_boolean (task, ok, error);
}

/* "<id>_copy", then "<id>_copy2" …, shortened so it stays a valid id */
static gchar *
profile_copy_id (const gchar *id, guint n)
{
  g_autofree gchar *suffix = n < 2 ? g_strdup ("_copy") : g_strdup_printf ("_copy%u", n);
  gsize keep = MIN (strlen (id), 64 - strlen (suffix));

  return g_strdup_printf ("%.*s%s", (gint) keep, id, suffix);
}

static void
op_profile_duplicate (WeStore *self, GTask *task, gpointer data)
{
  OpArgs *args = data;
  GError *error = NULL;
  g_autoptr(WeProfile) source = we_store_profile_get (self, args->id, &error);
  g_autoptr(WeProfile) copy = NULL;
  g_autofree gchar *new_id = NULL;
  gboolean exists = TRUE;

  if (source == NULL) {
    g_task_return_error (task, error);
    return;
  }
  if (args->profile != NULL) {  /* the id asked for */
    new_id = g_strdup (args->profile->id);
    if (!profile_exists (self, new_id, &exists, &error)) {
      g_task_return_error (task, error);
      return;
    }
    if (exists) {
      g_task_return_new_error (task, WE_ERROR, WE_ERROR_SYS_CONFLICT,
                               "a profile with id %s exists already", new_id);
      return;
    }
  }
  for (guint n = 1; exists && n <= 100; n++) {
    g_free (new_id);
    new_id = profile_copy_id (source->id, n);
    if (!profile_exists (self, new_id, &exists, &error)) {
      g_task_return_error (task, error);
      return;
    }
  }
  if (exists) {
    g_task_return_new_error (task, WE_ERROR, WE_ERROR_SYS_CONFLICT,
                             "profile %s has 100 copies already; name the copy's id",
                             source->id);
    return;
  }
  copy = we_profile_copy (source);
  copy->builtin = FALSE;
  g_free (copy->id);
  copy->id = g_steal_pointer (&new_id);
  g_free (copy->name);
  copy->name = args->name != NULL ? g_strdup (args->name)
                                  : g_strdup_printf ("%s (copy)", source->name);
  if (!we_store_profile_put (self, copy, &error)) {
    g_task_return_error (task, error);
    return;
  }
  g_task_return_pointer (task, g_steal_pointer (&copy), (GDestroyNotify) we_profile_unref);
}

static void
op_worker_put (WeStore *self, GTask *task, gpointer data)
{
  OpArgs *args = data;
  GError *error = NULL;
  gboolean ok = we_store_worker_put (self, args->worker, &error);

  return_boolean (task, ok, error);
}

/* --- asynchronous calls ---------------------------------------------------- */

void
we_store_job_create_async (WeStore *self, WeJob *job, GPtrArray *tasks,
                           GCancellable *cancellable, GAsyncReadyCallback callback,
                           gpointer user_data)
{
  OpArgs *args;
  GTask *task;

  g_return_if_fail (WE_IS_STORE (self));
  g_return_if_fail (job != NULL);

  task = op_task_new (self, cancellable, callback, user_data, we_store_job_create_async,
                      "we_store_job_create_async", &args);
  args->job = we_job_copy (job);
  if (tasks != NULL) {
    args->tasks = g_ptr_array_new_full (tasks->len, (GDestroyNotify) we_task_unref);
    for (guint i = 0; i < tasks->len; i++)
      g_ptr_array_add (args->tasks, we_task_copy (g_ptr_array_index (tasks, i)));
  }
  store_submit (self, task, op_job_create);
}

void
we_store_job_get_async (WeStore *self, const gchar *id, GCancellable *cancellable,
                        GAsyncReadyCallback callback, gpointer user_data)
{
  OpArgs *args;
  GTask *task;

  g_return_if_fail (WE_IS_STORE (self));
  g_return_if_fail (id != NULL);

  task = op_task_new (self, cancellable, callback, user_data, we_store_job_get_async,
                      "we_store_job_get_async", &args);
  args->id = g_strdup (id);
  store_submit (self, task, op_job_get);
}

void
we_store_job_list_async (WeStore *self, const WeJobFilter *filter, GCancellable *cancellable,
                         GAsyncReadyCallback callback, gpointer user_data)
{
  OpArgs *args;
  GTask *task;

  g_return_if_fail (WE_IS_STORE (self));

  task = op_task_new (self, cancellable, callback, user_data, we_store_job_list_async,
                      "we_store_job_list_async", &args);
  if (filter != NULL) {
    args->filter = *filter;
    args->filter_user_id = g_strdup (filter->user_id);
    args->filter_search = g_strdup (filter->search);
    args->filter_owner = g_strdup (filter->owner_kernel);
    args->filter.user_id = args->filter_user_id;
    args->filter.search = args->filter_search;
    args->filter.owner_kernel = args->filter_owner;
    args->filter_key = g_strdup (filter->idempotency_key);
    args->filter.idempotency_key = args->filter_key;
  }
  store_submit (self, task, op_job_list);
}

void
we_store_job_update_async (WeStore *self, WeJob *job, GCancellable *cancellable,
                           GAsyncReadyCallback callback, gpointer user_data)
{
  OpArgs *args;
  GTask *task;

  g_return_if_fail (WE_IS_STORE (self));
  g_return_if_fail (job != NULL && job->id != NULL);

  task = op_task_new (self, cancellable, callback, user_data, we_store_job_update_async,
                      "we_store_job_update_async", &args);
  args->job = we_job_copy (job);
  store_submit (self, task, op_job_update);
}

void
we_store_job_delete_async (WeStore *self, const gchar *id, GCancellable *cancellable,
                           GAsyncReadyCallback callback, gpointer user_data)
{
  OpArgs *args;
  GTask *task;

  g_return_if_fail (WE_IS_STORE (self));
  g_return_if_fail (id != NULL);

  task = op_task_new (self, cancellable, callback, user_data, we_store_job_delete_async,
                      "we_store_job_delete_async", &args);
  args->id = g_strdup (id);
  store_submit (self, task, op_job_delete);
}

void
we_store_task_list_async (WeStore *self, const gchar *job_id, GCancellable *cancellable,
                          GAsyncReadyCallback callback, gpointer user_data)
{
  OpArgs *args;
  GTask *task;

  g_return_if_fail (WE_IS_STORE (self));
  g_return_if_fail (job_id != NULL);

  task = op_task_new (self, cancellable, callback, user_data, we_store_task_list_async,
                      "we_store_task_list_async", &args);
  args->id = g_strdup (job_id);
  store_submit (self, task, op_task_list);
}

void
we_store_task_insert_async (WeStore *self, WeTask *wtask, GCancellable *cancellable,
                            GAsyncReadyCallback callback, gpointer user_data)
{
  OpArgs *args;
  GTask *task;

  g_return_if_fail (WE_IS_STORE (self));
  g_return_if_fail (wtask != NULL && wtask->job_id != NULL);

  task = op_task_new (self, cancellable, callback, user_data, we_store_task_insert_async,
                      "we_store_task_insert_async", &args);
  args->task = we_task_copy (wtask);
  store_submit (self, task, op_task_insert);
}

void
we_store_task_update_async (WeStore *self, WeTask *wtask, GCancellable *cancellable,
                            GAsyncReadyCallback callback, gpointer user_data)
{
  OpArgs *args;
  GTask *task;

  g_return_if_fail (WE_IS_STORE (self));
  g_return_if_fail (wtask != NULL && wtask->id != NULL);

  task = op_task_new (self, cancellable, callback, user_data, we_store_task_update_async,
                      "we_store_task_update_async", &args);
  args->task = we_task_copy (wtask);
  store_submit (self, task, op_task_update);
}

void
we_store_output_put_async (WeStore *self, WeJobOutput *output, GCancellable *cancellable,
                           GAsyncReadyCallback callback, gpointer user_data)
{
  OpArgs *args;
  GTask *task;

  g_return_if_fail (WE_IS_STORE (self));
  g_return_if_fail (output != NULL && output->job_id != NULL && output->name != NULL);

  task = op_task_new (self, cancellable, callback, user_data, we_store_output_put_async,
                      "we_store_output_put_async", &args);
  args->output = we_job_output_copy (output);
  store_submit (self, task, op_output_put);
}

void
we_store_output_list_async (WeStore *self, const gchar *job_id, GCancellable *cancellable,
                            GAsyncReadyCallback callback, gpointer user_data)
{
  OpArgs *args;
  GTask *task;

  g_return_if_fail (WE_IS_STORE (self));
  g_return_if_fail (job_id != NULL);

  task = op_task_new (self, cancellable, callback, user_data, we_store_output_list_async,
                      "we_store_output_list_async", &args);
  args->id = g_strdup (job_id);
  store_submit (self, task, op_output_list);
}

void
we_store_event_add_async (WeStore *self, WeJobEvent *event, GCancellable *cancellable,
                          GAsyncReadyCallback callback, gpointer user_data)
{
  OpArgs *args;
  GTask *task;

  g_return_if_fail (WE_IS_STORE (self));
  g_return_if_fail (event != NULL && event->job_id != NULL && event->type != NULL);

  task = op_task_new (self, cancellable, callback, user_data, we_store_event_add_async,
                      "we_store_event_add_async", &args);
  args->event = we_job_event_copy (event);
  store_submit (self, task, op_event_add);
}

void
we_store_event_list_async (WeStore *self, const gchar *job_id, GCancellable *cancellable,
                           GAsyncReadyCallback callback, gpointer user_data)
{
  OpArgs *args;
  GTask *task;

  g_return_if_fail (WE_IS_STORE (self));
  g_return_if_fail (job_id != NULL);

  task = op_task_new (self, cancellable, callback, user_data, we_store_event_list_async,
                      "we_store_event_list_async", &args);
  args->id = g_strdup (job_id);
  store_submit (self, task, op_event_list);
}

void
we_store_profile_list_async (WeStore *self, GCancellable *cancellable,
                             GAsyncReadyCallback callback, gpointer user_data)
{
  OpArgs *args;
  GTask *task;

  g_return_if_fail (WE_IS_STORE (self));

  task = op_task_new (self, cancellable, callback, user_data, we_store_profile_list_async,
                      "we_store_profile_list_async", &args);
  store_submit (self, task, op_profile_list);
}

void
we_store_profile_get_async (WeStore *self, const gchar *id, GCancellable *cancellable,
                            GAsyncReadyCallback callback, gpointer user_data)
{
  OpArgs *args;
  GTask *task;

  g_return_if_fail (WE_IS_STORE (self));
  g_return_if_fail (id != NULL);

  task = op_task_new (self, cancellable, callback, user_data, we_store_profile_get_async,
                      "we_store_profile_get_async", &args);
  args->id = g_strdup (id);
  store_submit (self, task, op_profile_get);
}

static void
profile_write_async (WeStore *self, const WeProfile *profile, gboolean create,
                     gpointer source_tag, const gchar *name, GCancellable *cancellable,
                     GAsyncReadyCallback callback, gpointer user_data)
{
  OpArgs *args;
  GTask *task;

  g_return_if_fail (WE_IS_STORE (self));
  g_return_if_fail (profile != NULL && profile->id != NULL);

  task = op_task_new (self, cancellable, callback, user_data, source_tag, name, &args);
  args->profile = we_profile_copy (profile);
  args->create = create;
  store_submit (self, task, op_profile_write);
}

void
we_store_profile_create_async (WeStore *self, const WeProfile *profile,
                               GCancellable *cancellable, GAsyncReadyCallback callback,
                               gpointer user_data)
{
  profile_write_async (self, profile, TRUE, we_store_profile_create_async,
                       "we_store_profile_create_async", cancellable, callback, user_data);
}

void
we_store_profile_replace_async (WeStore *self, const WeProfile *profile,
                                GCancellable *cancellable, GAsyncReadyCallback callback,
                                gpointer user_data)
{
  profile_write_async (self, profile, FALSE, we_store_profile_replace_async,
                       "we_store_profile_replace_async", cancellable, callback, user_data);
}

void
we_store_profile_delete_async (WeStore *self, const gchar *id, GCancellable *cancellable,
                               GAsyncReadyCallback callback, gpointer user_data)
{
  OpArgs *args;
  GTask *task;

  g_return_if_fail (WE_IS_STORE (self));
  g_return_if_fail (id != NULL);

  task = op_task_new (self, cancellable, callback, user_data, we_store_profile_delete_async,
                      "we_store_profile_delete_async", &args);
  args->id = g_strdup (id);
  store_submit (self, task, op_profile_delete);
}

void
we_store_profile_duplicate_async (WeStore *self, const gchar *id, const gchar *new_id,
                                  const gchar *new_name, GCancellable *cancellable,
                                  GAsyncReadyCallback callback, gpointer user_data)
{
  OpArgs *args;
  GTask *task;

  g_return_if_fail (WE_IS_STORE (self));
  g_return_if_fail (id != NULL);

  task = op_task_new (self, cancellable, callback, user_data, we_store_profile_duplicate_async,
                      "we_store_profile_duplicate_async", &args);
  args->id = g_strdup (id);
  if (new_id != NULL)
    args->profile = we_profile_new (new_id);
  args->name = g_strdup (new_name);
  store_submit (self, task, op_profile_duplicate);
}

void
we_store_worker_put_async (WeStore *self, const WeWorkerRecord *worker,
                           GCancellable *cancellable, GAsyncReadyCallback callback,
                           gpointer user_data)
{
  OpArgs *args;
  GTask *task;

  g_return_if_fail (WE_IS_STORE (self));
  g_return_if_fail (worker != NULL && worker->id != NULL);

  task = op_task_new (self, cancellable, callback, user_data, we_store_worker_put_async,
                      "we_store_worker_put_async", &args);
  args->worker = worker_record_copy (worker);
  store_submit (self, task, op_worker_put);
}

static void
op_kernel_tick (WeStore *self, GTask *task, gpointer data)
{
  OpArgs *args = data;
  GError *error = NULL;
  GPtrArray *adopted = NULL;

  if ((!args->release_owned || we_store_job_release_owned (self, args->id, &error)) &&
      we_store_kernel_beat (self, args->id, args->hostname, &error))
    adopted = we_store_job_claim_orphans (self, args->id, args->stale_s, args->limit, &error);
  return_list (task, adopted, adopted != NULL ? adopted->len : 0, error);
}

void
we_store_kernel_tick_async (WeStore *self, const gchar *kernel_id, const gchar *hostname,
                            gboolean release_owned, guint stale_s, guint limit, GCancellable *cancellable,
                            GAsyncReadyCallback callback, gpointer user_data)
{
  OpArgs *args;
  GTask *task;

  g_return_if_fail (WE_IS_STORE (self));
  g_return_if_fail (kernel_id != NULL);

  task = op_task_new (self, cancellable, callback, user_data, we_store_kernel_tick_async,
                      "we_store_kernel_tick_async", &args);
  args->id = g_strdup (kernel_id);
  args->hostname = g_strdup (hostname);
  args->stale_s = stale_s;
  args->limit = limit;
  args->release_owned = release_owned;
  store_submit (self, task, op_kernel_tick);
}

/* --- finishers ------------------------------------------------------------- */

static gboolean
tag_is_one_of (GAsyncResult *result, const gpointer *tags, gsize n_tags)
{
  gpointer tag = g_task_get_source_tag (G_TASK (result));

  for (gsize i = 0; i < n_tags; i++) {
    if (tags[i] == tag)
      return TRUE;
  }
  return FALSE;
}

gboolean
we_store_finish_boolean (WeStore *self, GAsyncResult *result, GError **error)
{
  const gpointer tags[] = {
    we_store_job_create_async, we_store_job_update_async, we_store_job_delete_async,
    we_store_task_insert_async, we_store_task_update_async, we_store_output_put_async,
    we_store_event_add_async, we_store_worker_put_async, we_store_profile_create_async,
    we_store_profile_replace_async, we_store_profile_delete_async,
  };

  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (tag_is_one_of (result, tags, G_N_ELEMENTS (tags)), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

WeJob *
we_store_finish_job (WeStore *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == we_store_job_get_async, NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

WeProfile *
we_store_finish_profile (WeStore *self, GAsyncResult *result, GError **error)
{
  const gpointer tags[] = { we_store_profile_get_async, we_store_profile_duplicate_async };

  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (tag_is_one_of (result, tags, G_N_ELEMENTS (tags)), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

GPtrArray *
we_store_finish_list (WeStore *self, GAsyncResult *result, guint *total, GError **error)
{
  const gpointer tags[] = {
    we_store_job_list_async, we_store_task_list_async, we_store_output_list_async,
    we_store_event_list_async, we_store_profile_list_async, we_store_kernel_tick_async,
  };
  ListResult *res;
  GPtrArray *list;

  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (tag_is_one_of (result, tags, G_N_ELEMENTS (tags)), NULL);

  res = g_task_propagate_pointer (G_TASK (result), error);
  if (res == NULL)
    return NULL;
  if (total != NULL)
    *total = res->total;
  list = g_steal_pointer (&res->list);
  list_result_free (res);
  return list;
}
