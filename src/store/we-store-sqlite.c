/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <string.h>

#include <glib/gstdio.h>
#include <sqlite3.h>

#include "store/we-store-sqlite.h"
#include "we-store-resources.h"

#define MIGRATIONS_PATH "/org/webencode/store/migrations/sqlite"
/* long enough for a CLI reading while the daemon writes, short enough that a
 * wedged second process shows up as an error rather than a hang */
#define BUSY_TIMEOUT_MS 5000

#define JOB_LIST_DEFAULT_LIMIT 50
#define JOB_LIST_MAX_LIMIT     500

struct _WeStoreSqlite {
  GObject  parent_instance;
  GMutex   mutex;          /* serialises every use of @db */
  sqlite3 *db;
  gchar   *path;
  gint     schema_version;
};

static void we_store_sqlite_iface_init (WeStoreInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (WeStoreSqlite, we_store_sqlite, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (WE_TYPE_STORE, we_store_sqlite_iface_init))

G_DEFINE_AUTOPTR_CLEANUP_FUNC (sqlite3_stmt, sqlite3_finalize)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeWorkerRecord, we_worker_record_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (WePluginConfig, we_plugin_config_free)

/* --- helpers ----------------------------------------------------------------- */

static gboolean
db_error (WeStoreSqlite *self, GError **error, const gchar *what)
{
  g_set_error (error, WE_ERROR, WE_ERROR_SYS_DATABASE, "%s: %s", what,
               sqlite3_errmsg (self->db));
  return FALSE;
}

/* A write that referenced a missing parent row: to the caller, its job is gone. */
static gboolean
db_error_or_missing_job (WeStoreSqlite *self, GError **error, const gchar *what,
                         const gchar *job_id)
{
  if (sqlite3_extended_errcode (self->db) == SQLITE_CONSTRAINT_FOREIGNKEY) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_NOT_FOUND, "job %s not found", job_id);
    return FALSE;
  }
  return db_error (self, error, what);
}

static sqlite3_stmt *
prepare (WeStoreSqlite *self, const gchar *sql, GError **error)
{
  sqlite3_stmt *stmt = NULL;

  if (sqlite3_prepare_v2 (self->db, sql, -1, &stmt, NULL) != SQLITE_OK) {
    db_error (self, error, "preparing statement");
    return NULL;
  }
  return stmt;
}

/* Runs SQL that carries no values (transaction control, pragmas, migrations). */
static gboolean
exec (WeStoreSqlite *self, const gchar *sql, GError **error)
{
  g_autofree gchar *msg = NULL;
  char *errmsg = NULL;

  if (sqlite3_exec (self->db, sql, NULL, NULL, &errmsg) != SQLITE_OK) {
    msg = g_strdup (errmsg != NULL ? errmsg : sqlite3_errmsg (self->db));
    sqlite3_free (errmsg);
    g_set_error (error, WE_ERROR, WE_ERROR_SYS_DATABASE, "%s", msg);
    return FALSE;
  }
  return TRUE;
}

static void
rollback (WeStoreSqlite *self)
{
  /* only fails when no transaction is open, which is what we want anyway */
  sqlite3_exec (self->db, "ROLLBACK", NULL, NULL, NULL);
}

static gboolean
commit (WeStoreSqlite *self, GError **error)
{
  if (!exec (self, "COMMIT", error)) {
    rollback (self);
    g_prefix_error (error, "committing: ");
    return FALSE;
  }
  return TRUE;
}

static gchar *
json_object_to_text (JsonObject *object)
{
  g_autoptr(JsonNode) node = NULL;

  if (object == NULL)
    return NULL;
  node = json_node_init_object (json_node_alloc (), object);
  return json_to_string (node, FALSE);
}

/* Binds values in order, keeping the first failure. */
typedef struct {
  sqlite3_stmt *stmt;
  gint          idx;
  gint          rc;
} Binder;

static void
binder_init (Binder *b, sqlite3_stmt *stmt)
{
  b->stmt = stmt;
  b->idx = 0;
  b->rc = SQLITE_OK;
}

static void
binder_rc (Binder *b, gint rc)
{
  if (rc != SQLITE_OK && b->rc == SQLITE_OK)
    b->rc = rc;
}

static void
bind_text (Binder *b, const gchar *value)
{
  b->idx++;
  if (value == NULL)
    binder_rc (b, sqlite3_bind_null (b->stmt, b->idx));
  else
    binder_rc (b, sqlite3_bind_text (b->stmt, b->idx, value, -1, SQLITE_TRANSIENT));
}

static void
bind_text_take (Binder *b, gchar *value)
{
  b->idx++;
  if (value == NULL)
    binder_rc (b, sqlite3_bind_null (b->stmt, b->idx));
  else
    binder_rc (b, sqlite3_bind_text (b->stmt, b->idx, value, -1, g_free));
}

static void
bind_int64 (Binder *b, gint64 value)
{
  binder_rc (b, sqlite3_bind_int64 (b->stmt, ++b->idx, value));
}

static void
bind_double (Binder *b, gdouble value)
{
  binder_rc (b, sqlite3_bind_double (b->stmt, ++b->idx, value));
}

static void
bind_bool (Binder *b, gboolean value)
{
  bind_int64 (b, value ? 1 : 0);
}

/* "not yet" (0) and "unknown" (negative) are NULL in the table */
static void
bind_positive_or_null (Binder *b, gint64 value)
{
  if (value > 0)
    bind_int64 (b, value);
  else
    binder_rc (b, sqlite3_bind_null (b->stmt, ++b->idx));
}

static void
bind_json (Binder *b, JsonObject *object, const gchar *fallback)
{
  gchar *text = json_object_to_text (object);

  if (text == NULL && fallback != NULL)
    text = g_strdup (fallback);
  bind_text_take (b, text);
}

static gboolean
binder_check (WeStoreSqlite *self, Binder *b, GError **error)
{
  if (b->rc != SQLITE_OK) {
    g_set_error (error, WE_ERROR, WE_ERROR_SYS_DATABASE, "binding value %d: %s", b->idx,
                 sqlite3_errstr (b->rc));
    return FALSE;
  }
  return TRUE;
}

static gchar *
column_text (sqlite3_stmt *stmt, gint col)
{
  const guchar *text = sqlite3_column_text (stmt, col);

  return text != NULL ? g_strdup ((const gchar *) text) : NULL;
}

static gint64
column_int64_or (sqlite3_stmt *stmt, gint col, gint64 null_value)
{
  if (sqlite3_column_type (stmt, col) == SQLITE_NULL)
    return null_value;
  return sqlite3_column_int64 (stmt, col);
}

/* NULL stays NULL; anything but a JSON object is an error */
static gboolean
column_json (sqlite3_stmt *stmt, gint col, JsonObject **out, GError **error)
{
  const gchar *text = (const gchar *) sqlite3_column_text (stmt, col);
  g_autoptr(JsonParser) parser = NULL;
  g_autoptr(GError) error_local = NULL;
  JsonNode *root;

  *out = NULL;
  if (text == NULL)
    return TRUE;
  parser = json_parser_new_immutable ();
  if (!json_parser_load_from_data (parser, text, -1, &error_local)) {
    g_set_error (error, WE_ERROR, WE_ERROR_SYS_DATABASE, "column %s holds invalid JSON: %s",
                 sqlite3_column_name (stmt, col), error_local->message);
    return FALSE;
  }
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root)) {
    g_set_error (error, WE_ERROR, WE_ERROR_SYS_DATABASE, "column %s does not hold a JSON object",
                 sqlite3_column_name (stmt, col));
    return FALSE;
  }
  *out = json_object_ref (json_node_get_object (root));
  return TRUE;
}

/* Steps a statement that returns no rows we care about. */
static gboolean
step_done (sqlite3_stmt *stmt)
{
  gint rc;

  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    ;
  return rc == SQLITE_DONE;
}

/* --- jobs -------------------------------------------------------------------- */

#define JOB_COLUMNS                                                                  \
  "j.id, j.user_id, j.source_type, j.source_url, j.profile_id, j.output_config, "   \
  "j.status, j.progress_pct, j.fps, j.speed, j.eta_seconds, j.error_code, "          \
  "j.error_message, j.assigned_to_worker_id, j.retry_of, j.media_info, "             \
  "j.created_at, j.updated_at, j.started_at, j.finished_at, "                        \
  "(SELECT COUNT(*) FROM tasks t WHERE t.job_id = j.id), "                           \
  "(SELECT COUNT(*) FROM tasks t WHERE t.job_id = j.id AND t.status = 'completed'), " \
  "j.priority, j.owner_kernel, j.idempotency_key"

static WeJob *
job_from_row (sqlite3_stmt *stmt, GError **error)
{
  g_autoptr(WeJob) job = we_job_new ();
  g_autofree gchar *status = NULL;

  job->id = column_text (stmt, 0);
  job->user_id = column_text (stmt, 1);
  job->source_type = column_text (stmt, 2);
  job->source_url = column_text (stmt, 3);
  job->profile_id = column_text (stmt, 4);
  if (!column_json (stmt, 5, &job->output_config, error))
    return NULL;
  status = column_text (stmt, 6);
  if (!we_job_status_from_string (status, &job->status)) {
    g_set_error (error, WE_ERROR, WE_ERROR_SYS_DATABASE, "job %s has unknown status \"%s\"",
                 job->id, status);
    return NULL;
  }
  job->progress_pct = sqlite3_column_double (stmt, 7);
  job->fps = sqlite3_column_double (stmt, 8);
  job->speed = sqlite3_column_double (stmt, 9);
  job->eta_seconds = (gint) column_int64_or (stmt, 10, -1);
  job->error_code = column_text (stmt, 11);
  job->error_message = column_text (stmt, 12);
  job->assigned_worker_id = column_text (stmt, 13);
  job->retry_of = column_text (stmt, 14);
  if (!column_json (stmt, 15, &job->media_info, error))
    return NULL;
  job->created_at = sqlite3_column_int64 (stmt, 16);
  job->updated_at = sqlite3_column_int64 (stmt, 17);
  job->started_at = column_int64_or (stmt, 18, 0);
  job->finished_at = column_int64_or (stmt, 19, 0);
  job->tasks_total = sqlite3_column_int (stmt, 20);
  job->tasks_completed = sqlite3_column_int (stmt, 21);
  job->priority = sqlite3_column_int (stmt, 22);
  job->owner_kernel = column_text (stmt, 23);
  job->idempotency_key = column_text (stmt, 24);
  return g_steal_pointer (&job);
}

/* the columns from user_id to media_info, shared by INSERT and UPDATE */
static void
bind_job_body (Binder *b, const WeJob *job)
{
  bind_text (b, job->user_id);
  bind_text (b, job->source_type != NULL ? job->source_type : "url");
  bind_text (b, job->source_url);
  bind_text (b, job->profile_id);
  bind_json (b, job->output_config, "{}");
  bind_text (b, we_job_status_to_string (job->status));
  bind_double (b, job->progress_pct);
  bind_double (b, job->fps);
  bind_double (b, job->speed);
  if (job->eta_seconds >= 0)
    bind_int64 (b, job->eta_seconds);
  else
    binder_rc (b, sqlite3_bind_null (b->stmt, ++b->idx));
  bind_text (b, job->error_code);
  bind_text (b, job->error_message);
  bind_text (b, job->assigned_worker_id);
  bind_text (b, job->retry_of);
  bind_json (b, job->media_info, NULL);
  bind_int64 (b, CLAMP (job->priority, 0, 100));
}

#define TASK_COLUMNS                                                                  \
  "id, job_id, sequence_index, kind, start_time_sec, end_time_sec, "                  \
  "assigned_worker_id, attempt_count, max_attempts, output_key, output_size_bytes, " \
  "status, progress_pct, error_code, error_message, not_before, updated_at"

/* the columns from sequence_index to updated_at */
static void
bind_task_body (Binder *b, const WeTask *task)
{
  bind_int64 (b, task->sequence_index);
  bind_text (b, task->kind != NULL ? task->kind : "transcode");
  bind_double (b, task->start_time_sec);
  bind_double (b, task->end_time_sec);
  bind_text (b, task->assigned_worker_id);
  bind_int64 (b, task->attempt_count);
  bind_int64 (b, task->max_attempts);
  bind_text (b, task->output_key);
  bind_int64 (b, task->output_size_bytes);
  bind_text (b, we_task_status_to_string (task->status));
  bind_double (b, task->progress_pct);
  bind_text (b, task->error_code);
  bind_text (b, task->error_message);
  bind_int64 (b, task->not_before);
  bind_int64 (b, task->updated_at);
}

static WeTask *
task_from_row (sqlite3_stmt *stmt, GError **error)
{
  g_autoptr(WeTask) task = we_task_new ();
  g_autofree gchar *status = NULL;

  task->id = column_text (stmt, 0);
  task->job_id = column_text (stmt, 1);
  task->sequence_index = sqlite3_column_int (stmt, 2);
  g_free (task->kind);
  task->kind = column_text (stmt, 3);
  task->start_time_sec = sqlite3_column_double (stmt, 4);
  task->end_time_sec = sqlite3_column_double (stmt, 5);
  task->assigned_worker_id = column_text (stmt, 6);
  task->attempt_count = sqlite3_column_int (stmt, 7);
  task->max_attempts = sqlite3_column_int (stmt, 8);
  task->output_key = column_text (stmt, 9);
  task->output_size_bytes = sqlite3_column_int64 (stmt, 10);
  status = column_text (stmt, 11);
  if (!we_task_status_from_string (status, &task->status)) {
    g_set_error (error, WE_ERROR, WE_ERROR_SYS_DATABASE, "task %s has unknown status \"%s\"",
                 task->id, status);
    return NULL;
  }
  task->progress_pct = sqlite3_column_double (stmt, 12);
  task->error_code = column_text (stmt, 13);
  task->error_message = column_text (stmt, 14);
  task->not_before = sqlite3_column_int64 (stmt, 15);
  task->updated_at = sqlite3_column_int64 (stmt, 16);
  return g_steal_pointer (&task);
}

/* fills in what the caller left empty, so every row has an id and times */
static gboolean
task_insert_locked (WeStoreSqlite *self, WeTask *task, GError **error)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;
  Binder b;

  if (task->id == NULL)
    task->id = we_uuid_new ();
  if (task->updated_at == 0)
    task->updated_at = g_get_real_time ();

  stmt = prepare (self,
                  "INSERT INTO tasks (" TASK_COLUMNS ") "
                  "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                  error);
  if (stmt == NULL)
    return FALSE;
  binder_init (&b, stmt);
  bind_text (&b, task->id);
  bind_text (&b, task->job_id);
  bind_task_body (&b, task);
  if (!binder_check (self, &b, error))
    return FALSE;
  if (!step_done (stmt))
    return db_error_or_missing_job (self, error, "inserting task", task->job_id);
  return TRUE;
}

static gboolean
we_store_sqlite_job_create (WeStore *store, WeJob *job, GPtrArray *tasks, GError **error)
{
  WeStoreSqlite *self = WE_STORE_SQLITE (store);
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->mutex);
  g_autoptr(sqlite3_stmt) stmt = NULL;
  Binder b;

  if (job->id == NULL)
    job->id = we_uuid_new ();
  if (job->created_at == 0)
    job->created_at = g_get_real_time ();
  if (job->updated_at == 0)
    job->updated_at = job->created_at;

  if (!exec (self, "BEGIN IMMEDIATE", error)) {
    g_prefix_error (error, "creating job: ");
    return FALSE;
  }
  stmt = prepare (self,
                  "INSERT INTO jobs (id, user_id, source_type, source_url, profile_id, "
                  "output_config, status, progress_pct, fps, speed, eta_seconds, error_code, "
                  "error_message, assigned_to_worker_id, retry_of, media_info, priority, created_at, "
                  "updated_at, started_at, finished_at, owner_kernel, idempotency_key) "
                  "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                  "ON CONFLICT (user_id, idempotency_key) WHERE idempotency_key IS NOT NULL "
                  "DO NOTHING",
                  error);
  if (stmt == NULL) {
    rollback (self);
    return FALSE;
  }
  binder_init (&b, stmt);
  bind_text (&b, job->id);
  bind_job_body (&b, job);
  bind_int64 (&b, job->created_at);
  bind_int64 (&b, job->updated_at);
  bind_positive_or_null (&b, job->started_at);
  bind_positive_or_null (&b, job->finished_at);
  bind_text (&b, job->owner_kernel);
  bind_text (&b, job->idempotency_key);
  if (!binder_check (self, &b, error)) {
    rollback (self);
    return FALSE;
  }
  if (!step_done (stmt)) {
    db_error (self, error, "inserting job");
    rollback (self);
    return FALSE;
  }
  if (sqlite3_changes (self->db) == 0) {
    rollback (self);
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS,
                 "a job with idempotency key \"%s\" exists", job->idempotency_key);
    return FALSE;
  }

  for (guint i = 0; tasks != NULL && i < tasks->len; i++) {
    WeTask *task = g_ptr_array_index (tasks, i);

    /* the tasks belong to this job whatever they said */
    if (g_strcmp0 (task->job_id, job->id) != 0) {
      g_free (task->job_id);
      task->job_id = g_strdup (job->id);
    }
    if (!task_insert_locked (self, task, error)) {
      rollback (self);
      return FALSE;
    }
  }
  if (!commit (self, error))
    return FALSE;
  job->tasks_total = tasks != NULL ? (gint) tasks->len : 0;
  job->tasks_completed = 0;
  for (guint i = 0; tasks != NULL && i < tasks->len; i++) {
    WeTask *task = g_ptr_array_index (tasks, i);
    if (task->status == WE_TASK_STATUS_COMPLETED)
      job->tasks_completed++;
  }
  return TRUE;
}

static WeJob *
we_store_sqlite_job_get (WeStore *store, const gchar *id, GError **error)
{
  WeStoreSqlite *self = WE_STORE_SQLITE (store);
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->mutex);
  g_autoptr(sqlite3_stmt) stmt = NULL;
  Binder b;
  gint rc;

  stmt = prepare (self, "SELECT " JOB_COLUMNS " FROM jobs j WHERE j.id = ?", error);
  if (stmt == NULL)
    return NULL;
  binder_init (&b, stmt);
  bind_text (&b, id);
  if (!binder_check (self, &b, error))
    return NULL;
  rc = sqlite3_step (stmt);
  if (rc == SQLITE_DONE) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_NOT_FOUND, "job %s not found", id);
    return NULL;
  }
  if (rc != SQLITE_ROW) {
    db_error (self, error, "reading job");
    return NULL;
  }
  return job_from_row (stmt, error);
}

/* LIKE treats % and _ as wildcards; a search box means them literally */
static gchar *
like_pattern (const gchar *needle)
{
  GString *s = g_string_new ("%");

  for (const gchar *p = needle; *p != '\0'; p++) {
    if (*p == '%' || *p == '_' || *p == '\\')
      g_string_append_c (s, '\\');
    g_string_append_c (s, *p);
  }
  g_string_append_c (s, '%');
  return g_string_free (s, FALSE);
}

/* Appends the WHERE clause for @filter and records the values to bind. */
static void
job_filter_where (const WeJobFilter *filter, GString *sql, GPtrArray *values)
{
  gboolean first = TRUE;

#define AND() G_STMT_START { g_string_append (sql, first ? " WHERE " : " AND "); first = FALSE; } G_STMT_END

  if (filter->status_mask != 0) {
    guint mask = filter->status_mask & WE_JOB_STATUS_MASK_ALL;

    AND ();
    if (mask == 0) {
      /* only bits that name no status: nothing can match */
      g_string_append (sql, "0 = 1");
    } else {
      gboolean first_status = TRUE;

      g_string_append (sql, "j.status IN (");
      for (guint s = 0; s < WE_JOB_STATUS_LAST; s++) {
        if ((mask & WE_JOB_STATUS_MASK (s)) == 0)
          continue;
        g_string_append (sql, first_status ? "?" : ", ?");
        first_status = FALSE;
        g_ptr_array_add (values, g_strdup (we_job_status_to_string ((WeJobStatus) s)));
      }
      g_string_append (sql, ")");
    }
  }
  if (filter->user_id != NULL) {
    AND ();
    g_string_append (sql, "j.user_id = ?");
    g_ptr_array_add (values, g_strdup (filter->user_id));
  }
  if (filter->owner_kernel != NULL) {
    AND ();
    g_string_append (sql, "j.owner_kernel = ?");
    g_ptr_array_add (values, g_strdup (filter->owner_kernel));
  }
  if (filter->idempotency_key != NULL) {
    AND ();
    g_string_append (sql, "j.idempotency_key = ?");
    g_ptr_array_add (values, g_strdup (filter->idempotency_key));
  }
  if (filter->search != NULL && filter->search[0] != '\0') {
    gchar *pattern = like_pattern (filter->search);

    AND ();
    /* SQLite's LIKE is case-insensitive for ASCII; PostgreSQL mirrors it with ILIKE */
    g_string_append (sql, "(j.id LIKE ? ESCAPE '\\' OR j.source_url LIKE ? ESCAPE '\\' "
                          "OR j.profile_id LIKE ? ESCAPE '\\')");
    g_ptr_array_add (values, g_strdup (pattern));
    g_ptr_array_add (values, g_strdup (pattern));
    g_ptr_array_add (values, pattern);
  }
#undef AND
}

static GPtrArray *
job_list_locked (WeStoreSqlite *self, const WeJobFilter *filter, guint *total, GError **error)
{
  g_autoptr(GString) where = g_string_new (NULL);
  g_autoptr(GPtrArray) values = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) jobs = g_ptr_array_new_with_free_func ((GDestroyNotify) we_job_unref);
  g_autoptr(sqlite3_stmt) count_stmt = NULL;
  g_autoptr(sqlite3_stmt) stmt = NULL;
  g_autofree gchar *count_sql = NULL;
  g_autofree gchar *sql = NULL;
  guint limit = filter->limit == 0 ? JOB_LIST_DEFAULT_LIMIT
                                   : MIN (filter->limit, JOB_LIST_MAX_LIMIT);
  const gchar *order = filter->oldest_first ? "j.created_at ASC, j.id ASC"
                                            : "j.created_at DESC, j.id DESC";
  Binder b;
  gint rc;

  job_filter_where (filter, where, values);

  count_sql = g_strdup_printf ("SELECT COUNT(*) FROM jobs j%s", where->str);
  count_stmt = prepare (self, count_sql, error);
  if (count_stmt == NULL)
    return NULL;
  binder_init (&b, count_stmt);
  for (guint i = 0; i < values->len; i++)
    bind_text (&b, g_ptr_array_index (values, i));
  if (!binder_check (self, &b, error))
    return NULL;
  if (sqlite3_step (count_stmt) != SQLITE_ROW) {
    db_error (self, error, "counting jobs");
    return NULL;
  }
  if (total != NULL)
    *total = (guint) sqlite3_column_int64 (count_stmt, 0);
  /* no statement may still be reading when the transaction commits */
  sqlite3_reset (count_stmt);

  sql = g_strdup_printf ("SELECT " JOB_COLUMNS " FROM jobs j%s ORDER BY %s LIMIT ? OFFSET ?",
                         where->str, order);
  stmt = prepare (self, sql, error);
  if (stmt == NULL)
    return NULL;
  binder_init (&b, stmt);
  for (guint i = 0; i < values->len; i++)
    bind_text (&b, g_ptr_array_index (values, i));
  bind_int64 (&b, limit);
  bind_int64 (&b, filter->offset);
  if (!binder_check (self, &b, error))
    return NULL;
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW) {
    WeJob *job = job_from_row (stmt, error);
    if (job == NULL)
      return NULL;
    g_ptr_array_add (jobs, job);
  }
  if (rc != SQLITE_DONE) {
    db_error (self, error, "listing jobs");
    return NULL;
  }
  return g_steal_pointer (&jobs);
}

static GPtrArray *
we_store_sqlite_job_list (WeStore *store, const WeJobFilter *filter, guint *total,
                          GError **error)
{
  WeStoreSqlite *self = WE_STORE_SQLITE (store);
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->mutex);
  GPtrArray *jobs;

  /* one read transaction, so the total and the page agree even while another
   * process writes */
  if (!exec (self, "BEGIN", error)) {
    g_prefix_error (error, "listing jobs: ");
    return NULL;
  }
  jobs = job_list_locked (self, filter, total, error);
  if (jobs == NULL) {
    rollback (self);
    return NULL;
  }
  if (!commit (self, error)) {
    g_ptr_array_unref (jobs);
    return NULL;
  }
  return jobs;
}

/* A cancel is final, whoever wrote it: another kernel's late progress write
 * must not bring a cancelled job back, so updates of one are refused with
 * WE_ERROR_JOB_CANCELLED, which tells its driver to stop it. */
static gboolean
job_update_refused (WeStoreSqlite *self, const gchar *id, GError **error)
{
  g_autoptr(sqlite3_stmt) stmt = prepare (self, "SELECT 1 FROM jobs WHERE id = ?", error);
  Binder b;

  if (stmt == NULL)
    return FALSE;
  binder_init (&b, stmt);
  bind_text (&b, id);
  if (!binder_check (self, &b, error))
    return FALSE;
  if (sqlite3_step (stmt) == SQLITE_ROW)
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_CANCELLED, "job %s was cancelled", id);
  else
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_NOT_FOUND, "job %s not found", id);
  return FALSE;
}

static gboolean
we_store_sqlite_job_update (WeStore *store, WeJob *job, GError **error)
{
  WeStoreSqlite *self = WE_STORE_SQLITE (store);
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->mutex);
  g_autoptr(sqlite3_stmt) stmt = NULL;
  Binder b;

  job->updated_at = g_get_real_time ();
  stmt = prepare (self,
                  "UPDATE jobs SET user_id = ?, source_type = ?, source_url = ?, "
                  "profile_id = ?, output_config = ?, status = ?, progress_pct = ?, fps = ?, "
                  "speed = ?, eta_seconds = ?, error_code = ?, error_message = ?, "
                  "assigned_to_worker_id = ?, retry_of = ?, media_info = ?, priority = ?, updated_at = ?, "
                  "started_at = ?, finished_at = ? WHERE id = ? AND status <> 'cancelled'",
                  error);
  if (stmt == NULL)
    return FALSE;
  binder_init (&b, stmt);
  bind_job_body (&b, job);
  bind_int64 (&b, job->updated_at);
  bind_positive_or_null (&b, job->started_at);
  bind_positive_or_null (&b, job->finished_at);
  bind_text (&b, job->id);
  if (!binder_check (self, &b, error))
    return FALSE;
  if (!step_done (stmt))
    return db_error (self, error, "updating job");
  if (sqlite3_changes (self->db) == 0)
    return job_update_refused (self, job->id, error);
  return TRUE;
}

static gboolean
we_store_sqlite_job_delete (WeStore *store, const gchar *id, GError **error)
{
  WeStoreSqlite *self = WE_STORE_SQLITE (store);
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->mutex);
  g_autoptr(sqlite3_stmt) stmt = NULL;
  Binder b;

  /* tasks, outputs and events go with it: ON DELETE CASCADE */
  stmt = prepare (self, "DELETE FROM jobs WHERE id = ?", error);
  if (stmt == NULL)
    return FALSE;
  binder_init (&b, stmt);
  bind_text (&b, id);
  if (!binder_check (self, &b, error))
    return FALSE;
  if (!step_done (stmt))
    return db_error (self, error, "deleting job");
  if (sqlite3_changes (self->db) == 0) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_NOT_FOUND, "job %s not found", id);
    return FALSE;
  }
  return TRUE;
}

/* --- tasks ------------------------------------------------------------------ */

static GPtrArray *
we_store_sqlite_task_list (WeStore *store, const gchar *job_id, GError **error)
{
  WeStoreSqlite *self = WE_STORE_SQLITE (store);
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->mutex);
  g_autoptr(GPtrArray) tasks = g_ptr_array_new_with_free_func ((GDestroyNotify) we_task_unref);
  g_autoptr(sqlite3_stmt) stmt = NULL;
  Binder b;
  gint rc;

  stmt = prepare (self,
                  "SELECT " TASK_COLUMNS " FROM tasks WHERE job_id = ? "
                  "ORDER BY sequence_index, id",
                  error);
  if (stmt == NULL)
    return NULL;
  binder_init (&b, stmt);
  bind_text (&b, job_id);
  if (!binder_check (self, &b, error))
    return NULL;
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW) {
    WeTask *task = task_from_row (stmt, error);
    if (task == NULL)
      return NULL;
    g_ptr_array_add (tasks, task);
  }
  if (rc != SQLITE_DONE) {
    db_error (self, error, "listing tasks");
    return NULL;
  }
  return g_steal_pointer (&tasks);
}

static gboolean
we_store_sqlite_task_insert (WeStore *store, WeTask *task, GError **error)
{
  WeStoreSqlite *self = WE_STORE_SQLITE (store);
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->mutex);

  return task_insert_locked (self, task, error);
}

static gboolean
we_store_sqlite_task_update (WeStore *store, WeTask *task, GError **error)
{
  WeStoreSqlite *self = WE_STORE_SQLITE (store);
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->mutex);
  g_autoptr(sqlite3_stmt) stmt = NULL;
  Binder b;

  task->updated_at = g_get_real_time ();
  stmt = prepare (self,
                  "UPDATE tasks SET sequence_index = ?, kind = ?, start_time_sec = ?, "
                  "end_time_sec = ?, assigned_worker_id = ?, attempt_count = ?, "
                  "max_attempts = ?, output_key = ?, output_size_bytes = ?, status = ?, "
                  "progress_pct = ?, error_code = ?, error_message = ?, not_before = ?, "
                  "updated_at = ? WHERE id = ?",
                  error);
  if (stmt == NULL)
    return FALSE;
  binder_init (&b, stmt);
  bind_task_body (&b, task);
  bind_text (&b, task->id);
  if (!binder_check (self, &b, error))
    return FALSE;
  if (!step_done (stmt))
    return db_error (self, error, "updating task");
  /* a task outlives nothing but its job: a missing one means the job is gone */
  if (sqlite3_changes (self->db) == 0) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_NOT_FOUND, "task %s not found", task->id);
    return FALSE;
  }
  return TRUE;
}

/* --- outputs ----------------------------------------------------------------- */

static gboolean
we_store_sqlite_output_put (WeStore *store, WeJobOutput *output, GError **error)
{
  WeStoreSqlite *self = WE_STORE_SQLITE (store);
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->mutex);
  g_autoptr(sqlite3_stmt) stmt = NULL;
  Binder b;

  if (output->created_at == 0)
    output->created_at = g_get_real_time ();
  stmt = prepare (self,
                  "INSERT INTO job_outputs (job_id, name, type, url, content_type, size_bytes, "
                  "profile_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                  "ON CONFLICT (job_id, name) DO UPDATE SET type = excluded.type, "
                  "url = excluded.url, content_type = excluded.content_type, "
                  "size_bytes = excluded.size_bytes, profile_id = excluded.profile_id, "
                  "created_at = excluded.created_at",
                  error);
  if (stmt == NULL)
    return FALSE;
  binder_init (&b, stmt);
  bind_text (&b, output->job_id);
  bind_text (&b, output->name);
  bind_text (&b, output->type);
  bind_text (&b, output->url);
  bind_text (&b, output->content_type);
  bind_int64 (&b, output->size_bytes);
  bind_text (&b, output->profile_id);
  bind_int64 (&b, output->created_at);
  if (!binder_check (self, &b, error))
    return FALSE;
  if (!step_done (stmt))
    return db_error_or_missing_job (self, error, "storing output", output->job_id);
  return TRUE;
}

static GPtrArray *
we_store_sqlite_output_list (WeStore *store, const gchar *job_id, GError **error)
{
  WeStoreSqlite *self = WE_STORE_SQLITE (store);
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->mutex);
  g_autoptr(GPtrArray) outputs =
    g_ptr_array_new_with_free_func ((GDestroyNotify) we_job_output_free);
  g_autoptr(sqlite3_stmt) stmt = NULL;
  Binder b;
  gint rc;

  stmt = prepare (self,
                  "SELECT job_id, name, type, url, content_type, size_bytes, profile_id, "
                  "created_at FROM job_outputs WHERE job_id = ? ORDER BY created_at, name",
                  error);
  if (stmt == NULL)
    return NULL;
  binder_init (&b, stmt);
  bind_text (&b, job_id);
  if (!binder_check (self, &b, error))
    return NULL;
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW) {
    WeJobOutput *output = we_job_output_new ();

    output->job_id = column_text (stmt, 0);
    output->name = column_text (stmt, 1);
    output->type = column_text (stmt, 2);
    output->url = column_text (stmt, 3);
    output->content_type = column_text (stmt, 4);
    output->size_bytes = sqlite3_column_int64 (stmt, 5);
    output->profile_id = column_text (stmt, 6);
    output->created_at = sqlite3_column_int64 (stmt, 7);
    g_ptr_array_add (outputs, output);
  }
  if (rc != SQLITE_DONE) {
    db_error (self, error, "listing outputs");
    return NULL;
  }
  return g_steal_pointer (&outputs);
}

/* --- events -------------------------------------------------------------------- */

static gboolean
we_store_sqlite_event_add (WeStore *store, WeJobEvent *event, GError **error)
{
  WeStoreSqlite *self = WE_STORE_SQLITE (store);
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->mutex);
  g_autoptr(sqlite3_stmt) stmt = NULL;
  gint64 id = 0;
  Binder b;
  gint rc;

  if (event->created_at == 0)
    event->created_at = g_get_real_time ();
  stmt = prepare (self,
                  "INSERT INTO job_events (job_id, type, message, payload, created_at) "
                  "VALUES (?, ?, ?, ?, ?) RETURNING id",
                  error);
  if (stmt == NULL)
    return FALSE;
  binder_init (&b, stmt);
  bind_text (&b, event->job_id);
  bind_text (&b, event->type);
  bind_text (&b, event->message);
  bind_json (&b, event->payload, NULL);
  bind_int64 (&b, event->created_at);
  if (!binder_check (self, &b, error))
    return FALSE;
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    id = sqlite3_column_int64 (stmt, 0);
  if (rc != SQLITE_DONE)
    return db_error_or_missing_job (self, error, "adding event", event->job_id);
  event->id = id;
  return TRUE;
}

static GPtrArray *
we_store_sqlite_event_list (WeStore *store, const gchar *job_id, GError **error)
{
  WeStoreSqlite *self = WE_STORE_SQLITE (store);
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->mutex);
  g_autoptr(GPtrArray) events = g_ptr_array_new_with_free_func ((GDestroyNotify) we_job_event_free);
  g_autoptr(sqlite3_stmt) stmt = NULL;
  Binder b;
  gint rc;

  stmt = prepare (self,
                  "SELECT id, job_id, type, message, payload, created_at FROM job_events "
                  "WHERE job_id = ? ORDER BY id",
                  error);
  if (stmt == NULL)
    return NULL;
  binder_init (&b, stmt);
  bind_text (&b, job_id);
  if (!binder_check (self, &b, error))
    return NULL;
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW) {
    g_autoptr(WeJobEvent) event = we_job_event_new ();

    event->id = sqlite3_column_int64 (stmt, 0);
    event->job_id = column_text (stmt, 1);
    event->type = column_text (stmt, 2);
    event->message = column_text (stmt, 3);
    if (!column_json (stmt, 4, &event->payload, error))
      return NULL;
    event->created_at = sqlite3_column_int64 (stmt, 5);
    g_ptr_array_add (events, g_steal_pointer (&event));
  }
  if (rc != SQLITE_DONE) {
    db_error (self, error, "listing events");
    return NULL;
  }
  return g_steal_pointer (&events);
}

/* --- profiles ---------------------------------------------------------------- */

static WeProfile *
profile_from_row (sqlite3_stmt *stmt, GError **error)
{
  g_autoptr(JsonObject) json = NULL;
  g_autoptr(GError) error_local = NULL;
  WeProfile *profile;

  if (!column_json (stmt, 0, &json, error))
    return NULL;
  if (json == NULL) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_SYS_DATABASE, "profile row has no JSON");
    return NULL;
  }
  profile = we_profile_new_from_json (json, &error_local);
  if (profile == NULL) {
    g_set_error (error, WE_ERROR, WE_ERROR_SYS_DATABASE, "stored profile is invalid: %s",
                 error_local->message);
    return NULL;
  }
  profile->builtin = sqlite3_column_int (stmt, 1) != 0;
  return profile;
}

static GPtrArray *
we_store_sqlite_profile_list (WeStore *store, GError **error)
{
  WeStoreSqlite *self = WE_STORE_SQLITE (store);
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->mutex);
  g_autoptr(GPtrArray) profiles =
    g_ptr_array_new_with_free_func ((GDestroyNotify) we_profile_unref);
  g_autoptr(sqlite3_stmt) stmt = NULL;
  gint rc;

  stmt = prepare (self,
                  "SELECT profile_json, builtin, id FROM profiles ORDER BY builtin DESC, id",
                  error);
  if (stmt == NULL)
    return NULL;
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW) {
    g_autoptr(GError) error_local = NULL;
    WeProfile *profile = profile_from_row (stmt, &error_local);

    /* one unreadable row (say, written by a newer version) must not hide the rest */
    if (profile == NULL) {
      g_warning ("skipping profile %s: %s", (const gchar *) sqlite3_column_text (stmt, 2),
                 error_local->message);
      continue;
    }
    g_ptr_array_add (profiles, profile);
  }
  if (rc != SQLITE_DONE) {
    db_error (self, error, "listing profiles");
    return NULL;
  }
  return g_steal_pointer (&profiles);
}

static WeProfile *
we_store_sqlite_profile_get (WeStore *store, const gchar *id, GError **error)
{
  WeStoreSqlite *self = WE_STORE_SQLITE (store);
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->mutex);
  g_autoptr(sqlite3_stmt) stmt = NULL;
  Binder b;
  gint rc;

  stmt = prepare (self, "SELECT profile_json, builtin FROM profiles WHERE id = ?", error);
  if (stmt == NULL)
    return NULL;
  binder_init (&b, stmt);
  bind_text (&b, id);
  if (!binder_check (self, &b, error))
    return NULL;
  rc = sqlite3_step (stmt);
  if (rc == SQLITE_DONE) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_PROFILE, "profile %s not found", id);
    return NULL;
  }
  if (rc != SQLITE_ROW) {
    db_error (self, error, "reading profile");
    return NULL;
  }
  return profile_from_row (stmt, error);
}

static gboolean
we_store_sqlite_profile_put (WeStore *store, const WeProfile *profile, GError **error)
{
  WeStoreSqlite *self = WE_STORE_SQLITE (store);
  g_autoptr(GMutexLocker) locker = NULL;
  g_autoptr(sqlite3_stmt) stmt = NULL;
  g_autoptr(JsonObject) json = NULL;
  gint64 now = g_get_real_time ();
  Binder b;

  /* what cannot be read back must not be written */
  if (!we_profile_validate (profile, error))
    return FALSE;
  json = we_profile_to_json (profile);

  locker = g_mutex_locker_new (&self->mutex);
  stmt = prepare (self,
                  "INSERT INTO profiles (id, name, profile_json, builtin, created_at, "
                  "updated_at) VALUES (?, ?, ?, ?, ?, ?) "
                  "ON CONFLICT (id) DO UPDATE SET name = excluded.name, "
                  "profile_json = excluded.profile_json, builtin = excluded.builtin, "
                  "updated_at = excluded.updated_at",
                  error);
  if (stmt == NULL)
    return FALSE;
  binder_init (&b, stmt);
  bind_text (&b, profile->id);
  bind_text (&b, profile->name != NULL ? profile->name : profile->id);
  bind_json (&b, json, NULL);
  bind_bool (&b, profile->builtin);
  bind_int64 (&b, now);
  bind_int64 (&b, now);
  if (!binder_check (self, &b, error))
    return FALSE;
  if (!step_done (stmt))
    return db_error (self, error, "storing profile");
  return TRUE;
}

static gboolean
we_store_sqlite_profile_delete (WeStore *store, const gchar *id, GError **error)
{
  WeStoreSqlite *self = WE_STORE_SQLITE (store);
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->mutex);
  g_autoptr(sqlite3_stmt) stmt = NULL;
  Binder b;

  stmt = prepare (self, "DELETE FROM profiles WHERE id = ?", error);
  if (stmt == NULL)
    return FALSE;
  binder_init (&b, stmt);
  bind_text (&b, id);
  if (!binder_check (self, &b, error))
    return FALSE;
  if (!step_done (stmt))
    return db_error (self, error, "deleting profile");
  if (sqlite3_changes (self->db) == 0) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_PROFILE, "profile %s not found", id);
    return FALSE;
  }
  return TRUE;
}

/* --- workers ------------------------------------------------------------------ */

static gboolean
we_store_sqlite_worker_put (WeStore *store, const WeWorkerRecord *worker, GError **error)
{
  WeStoreSqlite *self = WE_STORE_SQLITE (store);
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->mutex);
  g_autoptr(sqlite3_stmt) stmt = NULL;
  Binder b;

  /* created_at is the first registration: a re-registering worker keeps it */
  stmt = prepare (self,
                  "INSERT INTO workers (id, hostname, ip_address, port, capabilities, "
                  "is_healthy, is_draining, last_heartbeat, version, created_at) "
                  "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                  "ON CONFLICT (id) DO UPDATE SET hostname = excluded.hostname, "
                  "ip_address = excluded.ip_address, port = excluded.port, "
                  "capabilities = excluded.capabilities, is_healthy = excluded.is_healthy, "
                  "is_draining = excluded.is_draining, "
                  "last_heartbeat = excluded.last_heartbeat, version = excluded.version",
                  error);
  if (stmt == NULL)
    return FALSE;
  binder_init (&b, stmt);
  bind_text (&b, worker->id);
  bind_text (&b, worker->hostname);
  bind_text (&b, worker->ip_address);
  bind_int64 (&b, worker->port);
  bind_json (&b, worker->capabilities, NULL);
  bind_bool (&b, worker->is_healthy);
  bind_bool (&b, worker->is_draining);
  bind_int64 (&b, worker->last_heartbeat);
  bind_text (&b, worker->version);
  bind_int64 (&b, worker->created_at != 0 ? worker->created_at : g_get_real_time ());
  if (!binder_check (self, &b, error))
    return FALSE;
  if (!step_done (stmt))
    return db_error (self, error, "storing worker");
  return TRUE;
}

static GPtrArray *
we_store_sqlite_worker_list (WeStore *store, GError **error)
{
  WeStoreSqlite *self = WE_STORE_SQLITE (store);
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->mutex);
  g_autoptr(GPtrArray) workers =
    g_ptr_array_new_with_free_func ((GDestroyNotify) we_worker_record_free);
  g_autoptr(sqlite3_stmt) stmt = NULL;
  gint rc;

  stmt = prepare (self,
                  "SELECT id, hostname, ip_address, port, capabilities, is_healthy, "
                  "is_draining, last_heartbeat, version, created_at FROM workers ORDER BY id",
                  error);
  if (stmt == NULL)
    return NULL;
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW) {
    g_autoptr(WeWorkerRecord) worker = we_worker_record_new ();

    worker->id = column_text (stmt, 0);
    worker->hostname = column_text (stmt, 1);
    worker->ip_address = column_text (stmt, 2);
    worker->port = sqlite3_column_int (stmt, 3);
    if (!column_json (stmt, 4, &worker->capabilities, error))
      return NULL;
    worker->is_healthy = sqlite3_column_int (stmt, 5) != 0;
    worker->is_draining = sqlite3_column_int (stmt, 6) != 0;
    worker->last_heartbeat = sqlite3_column_int64 (stmt, 7);
    worker->version = column_text (stmt, 8);
    worker->created_at = sqlite3_column_int64 (stmt, 9);
    g_ptr_array_add (workers, g_steal_pointer (&worker));
  }
  if (rc != SQLITE_DONE) {
    db_error (self, error, "listing workers");
    return NULL;
  }
  return g_steal_pointer (&workers);
}

static gboolean
we_store_sqlite_worker_delete (WeStore *store, const gchar *id, GError **error)
{
  WeStoreSqlite *self = WE_STORE_SQLITE (store);
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->mutex);
  g_autoptr(sqlite3_stmt) stmt = NULL;
  Binder b;

  stmt = prepare (self, "DELETE FROM workers WHERE id = ?", error);
  if (stmt == NULL)
    return FALSE;
  binder_init (&b, stmt);
  bind_text (&b, id);
  if (!binder_check (self, &b, error))
    return FALSE;
  if (!step_done (stmt))
    return db_error (self, error, "deleting worker");
  if (sqlite3_changes (self->db) == 0) {
    g_set_error (error, WE_ERROR, WE_ERROR_WRK_NOT_FOUND, "worker %s not found", id);
    return FALSE;
  }
  return TRUE;
}

/* --- kernels and job ownership ------------------------------------------------ */

static gboolean
we_store_sqlite_kernel_beat (WeStore *store, const gchar *kernel_id, const gchar *hostname,
                             GError **error)
{
  WeStoreSqlite *self = WE_STORE_SQLITE (store);
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->mutex);
  g_autoptr(sqlite3_stmt) stmt = NULL;
  gint64 now = g_get_real_time ();
  Binder b;

  stmt = prepare (self,
                  "INSERT INTO kernels (id, hostname, started_at, last_seen) VALUES (?, ?, ?, ?) "
                  "ON CONFLICT(id) DO UPDATE SET hostname = excluded.hostname, "
                  "last_seen = excluded.last_seen",
                  error);
  if (stmt == NULL)
    return FALSE;
  binder_init (&b, stmt);
  bind_text (&b, kernel_id);
  bind_text (&b, hostname);
  bind_int64 (&b, now);
  bind_int64 (&b, now);
  if (!binder_check (self, &b, error))
    return FALSE;
  if (!step_done (stmt))
    return db_error (self, error, "recording the kernel's beat");
  return TRUE;
}

static gboolean
we_store_sqlite_job_release_owned (WeStore *store, const gchar *kernel_id, GError **error)
{
  WeStoreSqlite *self = WE_STORE_SQLITE (store);
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->mutex);
  g_autoptr(sqlite3_stmt) stmt = NULL;
  Binder b;

  stmt = prepare (self, "UPDATE jobs SET owner_kernel = NULL WHERE owner_kernel = ? AND status IN "
                  "('queued', 'processing', 'stitching', 'uploading')", error);
  if (stmt == NULL)
    return FALSE;
  binder_init (&b, stmt);
  bind_text (&b, kernel_id);
  if (!binder_check (self, &b, error))
    return FALSE;
  if (!step_done (stmt))
    return db_error (self, error, "releasing jobs");
  return TRUE;
}

static GPtrArray *
we_store_sqlite_job_claim_orphans (WeStore *store, const gchar *kernel_id, guint stale_s,
                                   guint limit, GError **error)
{
  WeStoreSqlite *self = WE_STORE_SQLITE (store);
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->mutex);
  g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(sqlite3_stmt) stmt = NULL;
  Binder b;
  gint rc;

  /* one statement: SQLite serialises writers, so two kernels cannot both win */
  stmt = prepare (self,
                  "UPDATE jobs SET owner_kernel = ?1 WHERE id IN ("
                  "  SELECT id FROM jobs WHERE status IN "
                  "    ('queued', 'processing', 'stitching', 'uploading') "
                  "  AND (owner_kernel IS NULL OR (owner_kernel <> ?1 AND owner_kernel NOT IN "
                  "    (SELECT id FROM kernels WHERE last_seen >= ?2))) "
                  "  ORDER BY created_at, id LIMIT ?3) "
                  "RETURNING id",
                  error);
  if (stmt == NULL)
    return NULL;
  binder_init (&b, stmt);
  bind_text (&b, kernel_id);
  bind_int64 (&b, g_get_real_time () - (gint64) stale_s * G_USEC_PER_SEC);
  bind_int64 (&b, MAX (limit, 1));
  if (!binder_check (self, &b, error))
    return NULL;
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    g_ptr_array_add (ids, column_text (stmt, 0));
  if (rc != SQLITE_DONE) {
    db_error (self, error, "adopting jobs");
    return NULL;
  }
  return g_steal_pointer (&ids);
}

/* --- plugin configuration ------------------------------------------------------ */

static gboolean
we_store_sqlite_plugin_config_put (WeStore *store, const WePluginConfig *config, GError **error)
{
  WeStoreSqlite *self = WE_STORE_SQLITE (store);
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->mutex);
  g_autoptr(sqlite3_stmt) stmt = NULL;
  gint64 now = g_get_real_time ();
  Binder b;

  stmt = prepare (self,
                  "INSERT INTO plugin_configs (id, plugin_type, config_json, is_enabled, "
                  "priority, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
                  "ON CONFLICT (id) DO UPDATE SET plugin_type = excluded.plugin_type, "
                  "config_json = excluded.config_json, is_enabled = excluded.is_enabled, "
                  "priority = excluded.priority, updated_at = excluded.updated_at",
                  error);
  if (stmt == NULL)
    return FALSE;
  binder_init (&b, stmt);
  bind_text (&b, config->id);
  bind_text (&b, config->plugin_type);
  bind_json (&b, config->config, "{}");
  bind_bool (&b, config->is_enabled);
  bind_int64 (&b, config->priority);
  bind_int64 (&b, config->created_at != 0 ? config->created_at : now);
  bind_int64 (&b, config->updated_at != 0 ? config->updated_at : now);
  if (!binder_check (self, &b, error))
    return FALSE;
  if (!step_done (stmt))
    return db_error (self, error, "storing plugin configuration");
  return TRUE;
}

static GPtrArray *
we_store_sqlite_plugin_config_list (WeStore *store, GError **error)
{
  WeStoreSqlite *self = WE_STORE_SQLITE (store);
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->mutex);
  g_autoptr(GPtrArray) configs =
    g_ptr_array_new_with_free_func ((GDestroyNotify) we_plugin_config_free);
  g_autoptr(sqlite3_stmt) stmt = NULL;
  gint rc;

  /* routing (spec §6.4) walks each pillar's plugins by descending priority */
  stmt = prepare (self,
                  "SELECT id, plugin_type, config_json, is_enabled, priority, created_at, "
                  "updated_at FROM plugin_configs ORDER BY plugin_type, priority DESC, id",
                  error);
  if (stmt == NULL)
    return NULL;
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW) {
    g_autoptr(WePluginConfig) config = we_plugin_config_new ();

    config->id = column_text (stmt, 0);
    config->plugin_type = column_text (stmt, 1);
    if (!column_json (stmt, 2, &config->config, error))
      return NULL;
    config->is_enabled = sqlite3_column_int (stmt, 3) != 0;
    config->priority = sqlite3_column_int (stmt, 4);
    config->created_at = sqlite3_column_int64 (stmt, 5);
    config->updated_at = sqlite3_column_int64 (stmt, 6);
    g_ptr_array_add (configs, g_steal_pointer (&config));
  }
  if (rc != SQLITE_DONE) {
    db_error (self, error, "listing plugin configurations");
    return NULL;
  }
  return g_steal_pointer (&configs);
}

static gint
we_store_sqlite_schema_version (WeStore *store)
{
  WeStoreSqlite *self = WE_STORE_SQLITE (store);
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->mutex);

  return self->schema_version;
}

/* --- security records: audit log ------------------------------------------------ */

#define AUDIT_LIST_DEFAULT_LIMIT 100
#define AUDIT_LIST_MAX_LIMIT     10000
#define DELIVERY_LIST_DEFAULT_LIMIT 100
#define DELIVERY_LIST_MAX_LIMIT     1000

static gboolean
we_store_sqlite_audit_add (WeStore *store, WeAuditEntry *entry, GError **error)
{
  WeStoreSqlite *self = WE_STORE_SQLITE (store);
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->mutex);
  g_autoptr(sqlite3_stmt) stmt = NULL;
  gint64 id = 0;
  Binder b;
  gint rc;

  if (entry->at == 0)
    entry->at = g_get_real_time ();
  stmt = prepare (self,
                  "INSERT INTO audit_log (at, user_id, username, action, resource_type, "
                  "resource_id, success, status, error_code, payload_digest, client_ip, "
                  "user_agent, request_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                  "RETURNING id",
                  error);
  if (stmt == NULL)
    return FALSE;
  binder_init (&b, stmt);
  bind_int64 (&b, entry->at);
  bind_text (&b, entry->user_id);
  bind_text (&b, entry->username);
  bind_text (&b, entry->action);
  bind_text (&b, entry->resource_type);
  bind_text (&b, entry->resource_id);
  bind_bool (&b, entry->success);
  bind_int64 (&b, entry->status);
  bind_text (&b, entry->error_code);
  bind_text (&b, entry->payload_digest);
  bind_text (&b, entry->client_ip);
  bind_text (&b, entry->user_agent);
  bind_text (&b, entry->request_id);
  if (!binder_check (self, &b, error))
    return FALSE;
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    id = sqlite3_column_int64 (stmt, 0);
  if (rc != SQLITE_DONE)
    return db_error (self, error, "adding audit entry");
  entry->id = id;
  return TRUE;
}

#define AUDIT_COLUMNS                                                                   \
  "id, at, user_id, username, action, resource_type, resource_id, success, status, "   \
  "error_code, payload_digest, client_ip, user_agent, request_id"

static WeAuditEntry *
audit_from_row (sqlite3_stmt *stmt)
{
  WeAuditEntry *entry = we_audit_entry_new ();

  entry->id = sqlite3_column_int64 (stmt, 0);
  entry->at = sqlite3_column_int64 (stmt, 1);
  entry->user_id = column_text (stmt, 2);
  entry->username = column_text (stmt, 3);
  entry->action = column_text (stmt, 4);
  entry->resource_type = column_text (stmt, 5);
  entry->resource_id = column_text (stmt, 6);
  entry->success = sqlite3_column_int (stmt, 7) != 0;
  entry->status = sqlite3_column_int (stmt, 8);
  entry->error_code = column_text (stmt, 9);
  entry->payload_digest = column_text (stmt, 10);
  entry->client_ip = column_text (stmt, 11);
  entry->user_agent = column_text (stmt, 12);
  entry->request_id = column_text (stmt, 13);
  return entry;
}

/* Binds either text or an integer, in the order the WHERE clause uses them. */
typedef struct {
  gchar  *text;
  gint64  number;
} FilterValue;

static void
filter_value_clear (gpointer data)
{
  g_free (((FilterValue *) data)->text);
}

static void
filter_add_text (GArray *values, gchar *text)
{
  FilterValue v = { text, 0 };

  g_array_append_val (values, v);
}

static void
filter_add_int64 (GArray *values, gint64 number)
{
  FilterValue v = { NULL, number };

  g_array_append_val (values, v);
}

static void
bind_filter_values (Binder *b, GArray *values)
{
  for (guint i = 0; i < values->len; i++) {
    FilterValue *v = &g_array_index (values, FilterValue, i);

    if (v->text != NULL)
      bind_text (b, v->text);
    else
      bind_int64 (b, v->number);
  }
}

static void
audit_filter_where (const WeAuditFilter *filter, GString *sql, GArray *values)
{
  gboolean first = TRUE;

#define AND() G_STMT_START { g_string_append (sql, first ? " WHERE " : " AND "); first = FALSE; } G_STMT_END

  if (filter->user != NULL) {
    AND ();
    g_string_append (sql, "(user_id = ? OR username = ?)");
    filter_add_text (values, g_strdup (filter->user));
    filter_add_text (values, g_strdup (filter->user));
  }
  if (filter->action != NULL && g_str_has_suffix (filter->action, ".")) {
    gchar *upper = g_strdup (filter->action);

    /* a prefix is the byte range [ "job.", "job/" ): no LIKE wildcards to
     * escape, and the index on action answers it */
    upper[strlen (upper) - 1] = '.' + 1;
    AND ();
    g_string_append (sql, "action >= ? AND action < ?");
    filter_add_text (values, g_strdup (filter->action));
    filter_add_text (values, upper);
  } else if (filter->action != NULL) {
    AND ();
    g_string_append (sql, "action = ?");
    filter_add_text (values, g_strdup (filter->action));
  }
  if (filter->resource_type != NULL) {
    AND ();
    g_string_append (sql, "resource_type = ?");
    filter_add_text (values, g_strdup (filter->resource_type));
  }
  if (filter->resource_id != NULL) {
    AND ();
    g_string_append (sql, "resource_id = ?");
    filter_add_text (values, g_strdup (filter->resource_id));
  }
  if (filter->since != 0) {
    AND ();
    g_string_append (sql, "at >= ?");
    filter_add_int64 (values, filter->since);
  }
  if (filter->until != 0) {
    AND ();
    g_string_append (sql, "at < ?");
    filter_add_int64 (values, filter->until);
  }
#undef AND
}

static GPtrArray *
audit_list_locked (WeStoreSqlite *self, const WeAuditFilter *filter, guint *total,
                   GError **error)
{
  g_autoptr(GString) where = g_string_new (NULL);
  g_autoptr(GArray) values = g_array_new (FALSE, TRUE, sizeof (FilterValue));
  g_autoptr(GPtrArray) entries =
    g_ptr_array_new_with_free_func ((GDestroyNotify) we_audit_entry_free);
  g_autoptr(sqlite3_stmt) count_stmt = NULL;
  g_autoptr(sqlite3_stmt) stmt = NULL;
  g_autofree gchar *count_sql = NULL;
  g_autofree gchar *sql = NULL;
  guint limit = filter->limit == 0 ? AUDIT_LIST_DEFAULT_LIMIT
                                   : MIN (filter->limit, AUDIT_LIST_MAX_LIMIT);
  Binder b;
  gint rc;

  g_array_set_clear_func (values, filter_value_clear);
  audit_filter_where (filter, where, values);

  count_sql = g_strdup_printf ("SELECT COUNT(*) FROM audit_log%s", where->str);
  count_stmt = prepare (self, count_sql, error);
  if (count_stmt == NULL)
    return NULL;
  binder_init (&b, count_stmt);
  bind_filter_values (&b, values);
  if (!binder_check (self, &b, error))
    return NULL;
  if (sqlite3_step (count_stmt) != SQLITE_ROW) {
    db_error (self, error, "counting audit entries");
    return NULL;
  }
  if (total != NULL)
    *total = (guint) sqlite3_column_int64 (count_stmt, 0);
  sqlite3_reset (count_stmt);

  sql = g_strdup_printf ("SELECT " AUDIT_COLUMNS " FROM audit_log%s "
                         "ORDER BY at DESC, id DESC LIMIT ? OFFSET ?", where->str);
  stmt = prepare (self, sql, error);
  if (stmt == NULL)
    return NULL;
  binder_init (&b, stmt);
  bind_filter_values (&b, values);
  bind_int64 (&b, limit);
  bind_int64 (&b, filter->offset);
  if (!binder_check (self, &b, error))
    return NULL;
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    g_ptr_array_add (entries, audit_from_row (stmt));
  if (rc != SQLITE_DONE) {
    db_error (self, error, "listing audit entries");
    return NULL;
  }
  return g_steal_pointer (&entries);
}

static GPtrArray *
we_store_sqlite_audit_list (WeStore *store, const WeAuditFilter *filter, guint *total,
                            GError **error)
{
  WeStoreSqlite *self = WE_STORE_SQLITE (store);
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->mutex);
  GPtrArray *entries;

  /* one read transaction, so the total and the page agree */
  if (!exec (self, "BEGIN", error)) {
    g_prefix_error (error, "listing audit entries: ");
    return NULL;
  }
  entries = audit_list_locked (self, filter, total, error);
  if (entries == NULL) {
    rollback (self);
    return NULL;
  }
  if (!commit (self, error)) {
    g_ptr_array_unref (entries);
    return NULL;
  }
  return entries;
}

/* --- security records: API tokens ---------------------------------------------------- */

#define TOKEN_COLUMNS                                                                  \
  "id, name, token_hash, prefix, user_id, username, role, created_by, created_at, "   \
  "expires_at, last_used_at, revoked_at"

static WeApiToken *
token_from_row (sqlite3_stmt *stmt)
{
  WeApiToken *token = we_api_token_new ();

  token->id = column_text (stmt, 0);
  token->name = column_text (stmt, 1);
  token->token_hash = column_text (stmt, 2);
  token->prefix = column_text (stmt, 3);
  token->user_id = column_text (stmt, 4);
  token->username = column_text (stmt, 5);
  token->role = we_role_from_string ((const gchar *) sqlite3_column_text (stmt, 6));
  token->created_by = column_text (stmt, 7);
  token->created_at = sqlite3_column_int64 (stmt, 8);
  token->expires_at = column_int64_or (stmt, 9, 0);
  token->last_used_at = column_int64_or (stmt, 10, 0);
  token->revoked_at = column_int64_or (stmt, 11, 0);
  return token;
}

static gboolean
we_store_sqlite_token_put (WeStore *store, const WeApiToken *token, GError **error)
{
  WeStoreSqlite *self = WE_STORE_SQLITE (store);
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->mutex);
  g_autoptr(sqlite3_stmt) stmt = NULL;
  Binder b;

  stmt = prepare (self,
                  "INSERT INTO api_tokens (" TOKEN_COLUMNS ") "
                  "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                  "ON CONFLICT (id) DO UPDATE SET name = excluded.name, "
                  "token_hash = excluded.token_hash, prefix = excluded.prefix, "
                  "user_id = excluded.user_id, username = excluded.username, "
                  "role = excluded.role, created_by = excluded.created_by, "
                  "created_at = excluded.created_at, expires_at = excluded.expires_at, "
                  "last_used_at = excluded.last_used_at, revoked_at = excluded.revoked_at",
                  error);
  if (stmt == NULL)
    return FALSE;
  binder_init (&b, stmt);
  bind_text (&b, token->id);
  bind_text (&b, token->name);
  bind_text (&b, token->token_hash);
  bind_text (&b, token->prefix);
  bind_text (&b, token->user_id);
  bind_text (&b, token->username);
  bind_text (&b, we_role_to_string (token->role));
  bind_text (&b, token->created_by);
  bind_int64 (&b, token->created_at != 0 ? token->created_at : g_get_real_time ());
  bind_positive_or_null (&b, token->expires_at);
  bind_positive_or_null (&b, token->last_used_at);
  bind_positive_or_null (&b, token->revoked_at);
  if (!binder_check (self, &b, error))
    return FALSE;
  if (!step_done (stmt)) {
    if (sqlite3_extended_errcode (self->db) == SQLITE_CONSTRAINT_UNIQUE) {
      g_set_error (error, WE_ERROR, WE_ERROR_SYS_CONFLICT,
                   "another token has the same hash as token %s", token->id);
      return FALSE;
    }
    return db_error (self, error, "storing token");
  }
  return TRUE;
}

static WeApiToken *
token_get_by (WeStoreSqlite *self, const gchar *column, const gchar *value, GError **error)
{
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->mutex);
  g_autoptr(sqlite3_stmt) stmt = NULL;
  g_autofree gchar *sql = NULL;
  Binder b;
  gint rc;

  sql = g_strdup_printf ("SELECT " TOKEN_COLUMNS " FROM api_tokens WHERE %s = ?", column);
  stmt = prepare (self, sql, error);
  if (stmt == NULL)
    return NULL;
  binder_init (&b, stmt);
  bind_text (&b, value);
  if (!binder_check (self, &b, error))
    return NULL;
  rc = sqlite3_step (stmt);
  if (rc == SQLITE_DONE) {
    /* never the hash in the message: it is as good as a name for the secret */
    if (g_str_equal (column, "id"))
      g_set_error (error, WE_ERROR, WE_ERROR_SYS_NOT_FOUND, "token %s not found", value);
    else
      g_set_error_literal (error, WE_ERROR, WE_ERROR_SYS_NOT_FOUND, "no such token");
    return NULL;
  }
  if (rc != SQLITE_ROW) {
    db_error (self, error, "reading token");
    return NULL;
  }
  return token_from_row (stmt);
}

static WeApiToken *
we_store_sqlite_token_get (WeStore *store, const gchar *id, GError **error)
{
  return token_get_by (WE_STORE_SQLITE (store), "id", id, error);
}

static WeApiToken *
we_store_sqlite_token_get_by_hash (WeStore *store, const gchar *token_hash, GError **error)
{
  return token_get_by (WE_STORE_SQLITE (store), "token_hash", token_hash, error);
}

static GPtrArray *
we_store_sqlite_token_list (WeStore *store, GError **error)
{
  WeStoreSqlite *self = WE_STORE_SQLITE (store);
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->mutex);
  g_autoptr(GPtrArray) tokens = g_ptr_array_new_with_free_func ((GDestroyNotify) we_api_token_free);
  g_autoptr(sqlite3_stmt) stmt = NULL;
  gint rc;

  stmt = prepare (self, "SELECT " TOKEN_COLUMNS " FROM api_tokens "
                        "ORDER BY created_at DESC, id DESC", error);
  if (stmt == NULL)
    return NULL;
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    g_ptr_array_add (tokens, token_from_row (stmt));
  if (rc != SQLITE_DONE) {
    db_error (self, error, "listing tokens");
    return NULL;
  }
  return g_steal_pointer (&tokens);
}

/* --- security records: webhooks -------------------------------------------------------- */

static gchar *
strv_to_json (gchar **strv)
{
  g_autoptr(JsonArray) array = json_array_new ();
  g_autoptr(JsonNode) node = NULL;

  for (guint i = 0; strv != NULL && strv[i] != NULL; i++)
    json_array_add_string_element (array, strv[i]);
  node = json_node_init_array (json_node_alloc (), array);
  return json_to_string (node, FALSE);
}

/* NULL or [] reads back as NULL: "every event" */
static gboolean
strv_from_json (const gchar *text, gchar ***out, GError **error)
{
  g_autoptr(JsonParser) parser = json_parser_new_immutable ();
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  g_autoptr(GError) error_local = NULL;
  JsonArray *array;
  JsonNode *root;

  *out = NULL;
  if (text == NULL)
    return TRUE;
  if (!json_parser_load_from_data (parser, text, -1, &error_local)) {
    g_set_error (error, WE_ERROR, WE_ERROR_SYS_DATABASE, "webhook events are invalid JSON: %s",
                 error_local->message);
    return FALSE;
  }
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_ARRAY (root)) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_SYS_DATABASE,
                         "webhook events are not a JSON array");
    return FALSE;
  }
  array = json_node_get_array (root);
  if (json_array_get_length (array) == 0)
    return TRUE;
  for (guint i = 0; i < json_array_get_length (array); i++) {
    const gchar *s = json_node_get_string (json_array_get_element (array, i));

    if (s != NULL)
      g_strv_builder_add (builder, s);
  }
  *out = g_strv_builder_end (builder);
  return TRUE;
}

static gchar *
json_array_to_text (JsonArray *array)
{
  g_autoptr(JsonNode) node = NULL;

  if (array == NULL)
    return g_strdup ("[]");
  node = json_node_init_array (json_node_alloc (), array);
  return json_to_string (node, FALSE);
}

/* NULL reads back as an empty array, so the dispatcher can append at once */
static gboolean
json_array_from_text (const gchar *text, JsonArray **out, GError **error)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error_local = NULL;
  JsonNode *root;

  *out = NULL;
  if (text == NULL) {
    *out = json_array_new ();
    return TRUE;
  }
  if (!json_parser_load_from_data (parser, text, -1, &error_local)) {
    g_set_error (error, WE_ERROR, WE_ERROR_SYS_DATABASE, "delivery log is invalid JSON: %s",
                 error_local->message);
    return FALSE;
  }
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_ARRAY (root)) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_SYS_DATABASE,
                         "delivery log is not a JSON array");
    return FALSE;
  }
  *out = json_array_ref (json_node_get_array (root));
  return TRUE;
}

#define WEBHOOK_COLUMNS                                                                  \
  "id, url, events, description, secret_salt, secret_ref, job_id, user_id, enabled, "   \
  "created_at, updated_at"

static WeWebhook *
webhook_from_row (sqlite3_stmt *stmt, GError **error)
{
  g_autoptr(WeWebhook) webhook = we_webhook_new ();

  webhook->id = column_text (stmt, 0);
  webhook->url = column_text (stmt, 1);
  if (!strv_from_json ((const gchar *) sqlite3_column_text (stmt, 2), &webhook->events, error))
    return NULL;
  webhook->description = column_text (stmt, 3);
  webhook->secret_salt = column_text (stmt, 4);
  webhook->secret_ref = column_text (stmt, 5);
  webhook->job_id = column_text (stmt, 6);
  webhook->user_id = column_text (stmt, 7);
  webhook->enabled = sqlite3_column_int (stmt, 8) != 0;
  webhook->created_at = sqlite3_column_int64 (stmt, 9);
  webhook->updated_at = sqlite3_column_int64 (stmt, 10);
  return g_steal_pointer (&webhook);
}

static gboolean
we_store_sqlite_webhook_put (WeStore *store, const WeWebhook *webhook, GError **error)
{
  WeStoreSqlite *self = WE_STORE_SQLITE (store);
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->mutex);
  g_autoptr(sqlite3_stmt) stmt = NULL;
  gint64 now = g_get_real_time ();
  gint64 created_at = webhook->created_at != 0 ? webhook->created_at : now;
  Binder b;

  stmt = prepare (self,
                  "INSERT INTO webhooks (" WEBHOOK_COLUMNS ") "
                  "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                  "ON CONFLICT (id) DO UPDATE SET url = excluded.url, events = excluded.events, "
                  "description = excluded.description, secret_salt = excluded.secret_salt, "
                  "secret_ref = excluded.secret_ref, job_id = excluded.job_id, "
                  "user_id = excluded.user_id, enabled = excluded.enabled, "
                  "created_at = excluded.created_at, updated_at = excluded.updated_at",
                  error);
  if (stmt == NULL)
    return FALSE;
  binder_init (&b, stmt);
  bind_text (&b, webhook->id);
  bind_text (&b, webhook->url);
  bind_text_take (&b, strv_to_json (webhook->events));
  bind_text (&b, webhook->description);
  bind_text (&b, webhook->secret_salt);
  bind_text (&b, webhook->secret_ref);
  bind_text (&b, webhook->job_id);
  bind_text (&b, webhook->user_id);
  bind_bool (&b, webhook->enabled);
  bind_int64 (&b, created_at);
  bind_int64 (&b, webhook->updated_at != 0 ? webhook->updated_at : created_at);
  if (!binder_check (self, &b, error))
    return FALSE;
  if (!step_done (stmt))
    return db_error (self, error, "storing webhook");
  return TRUE;
}

static WeWebhook *
we_store_sqlite_webhook_get (WeStore *store, const gchar *id, GError **error)
{
  WeStoreSqlite *self = WE_STORE_SQLITE (store);
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->mutex);
  g_autoptr(sqlite3_stmt) stmt = NULL;
  Binder b;
  gint rc;

  stmt = prepare (self, "SELECT " WEBHOOK_COLUMNS " FROM webhooks WHERE id = ?", error);
  if (stmt == NULL)
    return NULL;
  binder_init (&b, stmt);
  bind_text (&b, id);
  if (!binder_check (self, &b, error))
    return NULL;
  rc = sqlite3_step (stmt);
  if (rc == SQLITE_DONE) {
    g_set_error (error, WE_ERROR, WE_ERROR_SYS_NOT_FOUND, "webhook %s not found", id);
    return NULL;
  }
  if (rc != SQLITE_ROW) {
    db_error (self, error, "reading webhook");
    return NULL;
  }
  return webhook_from_row (stmt, error);
}

static GPtrArray *
we_store_sqlite_webhook_list (WeStore *store, const gchar *job_id, GError **error)
{
  WeStoreSqlite *self = WE_STORE_SQLITE (store);
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->mutex);
  g_autoptr(GPtrArray) webhooks = g_ptr_array_new_with_free_func ((GDestroyNotify) we_webhook_free);
  g_autoptr(sqlite3_stmt) stmt = NULL;
  Binder b;
  gint rc;

  stmt = prepare (self,
                  job_id != NULL
                    ? "SELECT " WEBHOOK_COLUMNS " FROM webhooks WHERE job_id = ? "
                      "ORDER BY created_at, id"
                    : "SELECT " WEBHOOK_COLUMNS " FROM webhooks ORDER BY created_at, id",
                  error);
  if (stmt == NULL)
    return NULL;
  binder_init (&b, stmt);
  if (job_id != NULL)
    bind_text (&b, job_id);
  if (!binder_check (self, &b, error))
    return NULL;
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW) {
    WeWebhook *webhook = webhook_from_row (stmt, error);

    if (webhook == NULL)
      return NULL;
    g_ptr_array_add (webhooks, webhook);
  }
  if (rc != SQLITE_DONE) {
    db_error (self, error, "listing webhooks");
    return NULL;
  }
  return g_steal_pointer (&webhooks);
}

static gboolean
we_store_sqlite_webhook_delete (WeStore *store, const gchar *id, GError **error)
{
  WeStoreSqlite *self = WE_STORE_SQLITE (store);
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->mutex);
  g_autoptr(sqlite3_stmt) stmt = NULL;
  Binder b;

  /* its deliveries go with it: ON DELETE CASCADE */
  stmt = prepare (self, "DELETE FROM webhooks WHERE id = ?", error);
  if (stmt == NULL)
    return FALSE;
  binder_init (&b, stmt);
  bind_text (&b, id);
  if (!binder_check (self, &b, error))
    return FALSE;
  if (!step_done (stmt))
    return db_error (self, error, "deleting webhook");
  if (sqlite3_changes (self->db) == 0) {
    g_set_error (error, WE_ERROR, WE_ERROR_SYS_NOT_FOUND, "webhook %s not found", id);
    return FALSE;
  }
  return TRUE;
}

/* --- security records: webhook deliveries ------------------------------------------------ */

#define DELIVERY_COLUMNS                                                                  \
  "id, webhook_id, event_id, event_type, payload, state, attempts, next_attempt_at, "    \
  "claim_until, claimed_by, last_status, last_error, log, replay_of, created_at, "       \
  "updated_at, delivered_at"

static WeWebhookDelivery *
delivery_from_row (sqlite3_stmt *stmt, GError **error)
{
  g_autoptr(WeWebhookDelivery) delivery = we_webhook_delivery_new ();
  const gchar *state = (const gchar *) sqlite3_column_text (stmt, 5);

  delivery->id = column_text (stmt, 0);
  delivery->webhook_id = column_text (stmt, 1);
  delivery->event_id = column_text (stmt, 2);
  delivery->event_type = column_text (stmt, 3);
  delivery->payload = column_text (stmt, 4);
  if (!we_delivery_state_from_string (state, &delivery->state)) {
    g_set_error (error, WE_ERROR, WE_ERROR_SYS_DATABASE,
                 "delivery %s has unknown state \"%s\"", delivery->id, state);
    return NULL;
  }
  delivery->attempts = sqlite3_column_int (stmt, 6);
  delivery->next_attempt_at = sqlite3_column_int64 (stmt, 7);
  delivery->claim_until = column_int64_or (stmt, 8, 0);
  delivery->claimed_by = column_text (stmt, 9);
  delivery->last_status = sqlite3_column_int (stmt, 10);
  delivery->last_error = column_text (stmt, 11);
  if (!json_array_from_text ((const gchar *) sqlite3_column_text (stmt, 12), &delivery->log,
                             error))
    return NULL;
  delivery->replay_of = column_text (stmt, 13);
  delivery->created_at = sqlite3_column_int64 (stmt, 14);
  delivery->updated_at = sqlite3_column_int64 (stmt, 15);
  delivery->delivered_at = column_int64_or (stmt, 16, 0);
  return g_steal_pointer (&delivery);
}

/* the mutable columns, from state to updated_at/delivered_at, in the order
 * of the UPDATE in delivery_update */
static void
bind_delivery_body (Binder *b, const WeWebhookDelivery *delivery)
{
  bind_text (b, we_delivery_state_to_string (delivery->state));
  bind_int64 (b, delivery->attempts);
  bind_int64 (b, delivery->next_attempt_at);
  bind_positive_or_null (b, delivery->claim_until);
  bind_text (b, delivery->claimed_by);
  bind_int64 (b, delivery->last_status);
  bind_text (b, delivery->last_error);
  bind_text_take (b, json_array_to_text (delivery->log));
}

/* ids are the caller's when given; otherwise the store makes a UUID and
 * sets it in @delivery, like the times it leaves at 0 */
static gboolean
we_store_sqlite_delivery_add (WeStore *store, WeWebhookDelivery *delivery, GError **error)
{
  WeStoreSqlite *self = WE_STORE_SQLITE (store);
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->mutex);
  g_autoptr(sqlite3_stmt) stmt = NULL;
  Binder b;

  if (delivery->id == NULL)
    delivery->id = we_uuid_new ();
  if (delivery->created_at == 0)
    delivery->created_at = g_get_real_time ();
  if (delivery->updated_at == 0)
    delivery->updated_at = delivery->created_at;
  if (delivery->next_attempt_at == 0)
    delivery->next_attempt_at = delivery->created_at;

  /* the SELECT makes a missing webhook "no row inserted" rather than a
   * foreign-key error, so it reads as not-found */
  stmt = prepare (self,
                  "INSERT INTO webhook_deliveries (id, webhook_id, event_id, event_type, payload, "
                  "state, attempts, next_attempt_at, claim_until, claimed_by, last_status, "
                  "last_error, log, replay_of, created_at, updated_at, delivered_at) "
                  "SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? "
                  "WHERE EXISTS (SELECT 1 FROM webhooks WHERE id = ?)",
                  error);
  if (stmt == NULL)
    return FALSE;
  binder_init (&b, stmt);
  bind_text (&b, delivery->id);
  bind_text (&b, delivery->webhook_id);
  bind_text (&b, delivery->event_id);
  bind_text (&b, delivery->event_type);
  bind_text (&b, delivery->payload);
  bind_delivery_body (&b, delivery);
  bind_text (&b, delivery->replay_of);
  bind_int64 (&b, delivery->created_at);
  bind_int64 (&b, delivery->updated_at);
  bind_positive_or_null (&b, delivery->delivered_at);
  bind_text (&b, delivery->webhook_id);
  if (!binder_check (self, &b, error))
    return FALSE;
  if (!step_done (stmt))
    return db_error (self, error, "adding delivery");
  if (sqlite3_changes (self->db) == 0) {
    g_set_error (error, WE_ERROR, WE_ERROR_SYS_NOT_FOUND, "webhook %s not found",
                 delivery->webhook_id);
    return FALSE;
  }
  return TRUE;
}

static gint
delivery_due_cmp (gconstpointer a, gconstpointer b)
{
  const WeWebhookDelivery *da = *(WeWebhookDelivery *const *) a;
  const WeWebhookDelivery *db = *(WeWebhookDelivery *const *) b;

  if (da->next_attempt_at != db->next_attempt_at)
    return da->next_attempt_at < db->next_attempt_at ? -1 : 1;
  return g_strcmp0 (da->id, db->id);
}

static GPtrArray *
we_store_sqlite_delivery_claim (WeStore *store, const gchar *kernel_id, gint64 now,
                                gint64 lease_us, guint limit, GError **error)
{
  WeStoreSqlite *self = WE_STORE_SQLITE (store);
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->mutex);
  g_autoptr(GPtrArray) claimed =
    g_ptr_array_new_with_free_func ((GDestroyNotify) we_webhook_delivery_free);
  g_autoptr(sqlite3_stmt) stmt = NULL;
  Binder b;
  gint rc;

  /* the write lock first: another process sharing the file claims after
   * us and sees our claims, never the same rows */
  if (!exec (self, "BEGIN IMMEDIATE", error)) {
    g_prefix_error (error, "claiming deliveries: ");
    return NULL;
  }
  stmt = prepare (self,
                  "UPDATE webhook_deliveries SET state = 'delivering', claimed_by = ?, "
                  "claim_until = ?, updated_at = ? WHERE id IN ("
                  "  SELECT id FROM webhook_deliveries "
                  "  WHERE (state = 'pending' AND next_attempt_at <= ?) "
                  "     OR (state = 'delivering' AND claim_until < ?) "
                  "  ORDER BY next_attempt_at, id LIMIT ?) "
                  "RETURNING " DELIVERY_COLUMNS,
                  error);
  if (stmt == NULL) {
    rollback (self);
    return NULL;
  }
  binder_init (&b, stmt);
  bind_text (&b, kernel_id);
  bind_int64 (&b, now + lease_us);
  bind_int64 (&b, now);
  bind_int64 (&b, now);
  bind_int64 (&b, now);
  bind_int64 (&b, MAX (limit, 1));
  if (!binder_check (self, &b, error)) {
    rollback (self);
    return NULL;
  }
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW) {
    WeWebhookDelivery *delivery = delivery_from_row (stmt, error);

    if (delivery == NULL) {
      g_clear_pointer (&stmt, sqlite3_finalize);
      rollback (self);
      return NULL;
    }
    g_ptr_array_add (claimed, delivery);
  }
  if (rc != SQLITE_DONE) {
    db_error (self, error, "claiming deliveries");
    g_clear_pointer (&stmt, sqlite3_finalize);
    rollback (self);
    return NULL;
  }
  g_clear_pointer (&stmt, sqlite3_finalize);
  if (!commit (self, error))
    return NULL;
  /* RETURNING comes in no particular order */
  g_ptr_array_sort (claimed, delivery_due_cmp);
  return g_steal_pointer (&claimed);
}

static gboolean
we_store_sqlite_delivery_update (WeStore *store, const WeWebhookDelivery *delivery,
                                 GError **error)
{
  WeStoreSqlite *self = WE_STORE_SQLITE (store);
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->mutex);
  g_autoptr(sqlite3_stmt) stmt = NULL;
  Binder b;

  stmt = prepare (self,
                  "UPDATE webhook_deliveries SET state = ?, attempts = ?, next_attempt_at = ?, "
                  "claim_until = ?, claimed_by = ?, last_status = ?, last_error = ?, log = ?, "
                  "updated_at = ?, delivered_at = ? WHERE id = ?",
                  error);
  if (stmt == NULL)
    return FALSE;
  binder_init (&b, stmt);
  bind_delivery_body (&b, delivery);
  bind_int64 (&b, delivery->updated_at != 0 ? delivery->updated_at : g_get_real_time ());
  bind_positive_or_null (&b, delivery->delivered_at);
  bind_text (&b, delivery->id);
  if (!binder_check (self, &b, error))
    return FALSE;
  if (!step_done (stmt))
    return db_error (self, error, "updating delivery");
  if (sqlite3_changes (self->db) == 0) {
    g_set_error (error, WE_ERROR, WE_ERROR_SYS_NOT_FOUND, "delivery %s not found",
                 delivery->id);
    return FALSE;
  }
  return TRUE;
}

static WeWebhookDelivery *
we_store_sqlite_delivery_get (WeStore *store, const gchar *id, GError **error)
{
  WeStoreSqlite *self = WE_STORE_SQLITE (store);
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->mutex);
  g_autoptr(sqlite3_stmt) stmt = NULL;
  Binder b;
  gint rc;

  stmt = prepare (self, "SELECT " DELIVERY_COLUMNS " FROM webhook_deliveries WHERE id = ?",
                  error);
  if (stmt == NULL)
    return NULL;
  binder_init (&b, stmt);
  bind_text (&b, id);
  if (!binder_check (self, &b, error))
    return NULL;
  rc = sqlite3_step (stmt);
  if (rc == SQLITE_DONE) {
    g_set_error (error, WE_ERROR, WE_ERROR_SYS_NOT_FOUND, "delivery %s not found", id);
    return NULL;
  }
  if (rc != SQLITE_ROW) {
    db_error (self, error, "reading delivery");
    return NULL;
  }
  return delivery_from_row (stmt, error);
}

/* @webhook_id NULL lists every webhook's; @limit 0 = 100, capped at 1000 */
static GPtrArray *
delivery_list_locked (WeStoreSqlite *self, const gchar *webhook_id, guint limit, guint offset,
                      guint *total, GError **error)
{
  g_autoptr(GPtrArray) deliveries =
    g_ptr_array_new_with_free_func ((GDestroyNotify) we_webhook_delivery_free);
  g_autoptr(sqlite3_stmt) count_stmt = NULL;
  g_autoptr(sqlite3_stmt) stmt = NULL;
  const gchar *where = webhook_id != NULL ? " WHERE webhook_id = ?" : "";
  g_autofree gchar *count_sql = NULL;
  g_autofree gchar *sql = NULL;
  Binder b;
  gint rc;

  limit = limit == 0 ? DELIVERY_LIST_DEFAULT_LIMIT : MIN (limit, DELIVERY_LIST_MAX_LIMIT);
  count_sql = g_strdup_printf ("SELECT COUNT(*) FROM webhook_deliveries%s", where);
  count_stmt = prepare (self, count_sql, error);
  if (count_stmt == NULL)
    return NULL;
  binder_init (&b, count_stmt);
  if (webhook_id != NULL)
    bind_text (&b, webhook_id);
  if (!binder_check (self, &b, error))
    return NULL;
  if (sqlite3_step (count_stmt) != SQLITE_ROW) {
    db_error (self, error, "counting deliveries");
    return NULL;
  }
  if (total != NULL)
    *total = (guint) sqlite3_column_int64 (count_stmt, 0);
  sqlite3_reset (count_stmt);

  sql = g_strdup_printf ("SELECT " DELIVERY_COLUMNS " FROM webhook_deliveries%s "
                         "ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?", where);
  stmt = prepare (self, sql, error);
  if (stmt == NULL)
    return NULL;
  binder_init (&b, stmt);
  if (webhook_id != NULL)
    bind_text (&b, webhook_id);
  bind_int64 (&b, limit);
  bind_int64 (&b, offset);
  if (!binder_check (self, &b, error))
    return NULL;
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW) {
    WeWebhookDelivery *delivery = delivery_from_row (stmt, error);

    if (delivery == NULL)
      return NULL;
    g_ptr_array_add (deliveries, delivery);
  }
  if (rc != SQLITE_DONE) {
    db_error (self, error, "listing deliveries");
    return NULL;
  }
  return g_steal_pointer (&deliveries);
}

static GPtrArray *
we_store_sqlite_delivery_list (WeStore *store, const gchar *webhook_id, guint limit,
                               guint offset, guint *total, GError **error)
{
  WeStoreSqlite *self = WE_STORE_SQLITE (store);
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->mutex);
  GPtrArray *deliveries;

  if (!exec (self, "BEGIN", error)) {
    g_prefix_error (error, "listing deliveries: ");
    return NULL;
  }
  deliveries = delivery_list_locked (self, webhook_id, limit, offset, total, error);
  if (deliveries == NULL) {
    rollback (self);
    return NULL;
  }
  if (!commit (self, error)) {
    g_ptr_array_unref (deliveries);
    return NULL;
  }
  return deliveries;
}

/* --- pipeline introspection ------------------------------------------------------ */

#define PIPELINE_COLUMNS \
  "p.job_id, p.task_id, p.attempt, p.stage, p.launch, p.dot, p.recorded_at"
#define TASK_LOG_COLUMNS \
  "l.job_id, l.task_id, l.attempt, l.url, l.size_bytes, l.truncated, l.recorded_at"

/* Drops what earlier attempts of @task_id left in @table (a retry reports anew). */
static gboolean
drop_earlier_attempts (WeStoreSqlite *self, const gchar *table, const gchar *task_id,
                       gint attempt, GError **error)
{
  g_autofree gchar *sql = g_strdup_printf ("DELETE FROM %s WHERE task_id = ? AND attempt < ?",
                                           table);
  g_autoptr(sqlite3_stmt) stmt = prepare (self, sql, error);
  Binder b;

  if (stmt == NULL)
    return FALSE;
  binder_init (&b, stmt);
  bind_text (&b, task_id);
  bind_int64 (&b, attempt);
  if (!binder_check (self, &b, error))
    return FALSE;
  if (!step_done (stmt))
    return db_error (self, error, "dropping earlier attempts");
  return TRUE;
}

static gboolean
we_store_sqlite_task_pipeline_put (WeStore *store, const WeTaskPipeline *pipeline,
                                   GError **error)
{
  WeStoreSqlite *self = WE_STORE_SQLITE (store);
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->mutex);
  g_autoptr(sqlite3_stmt) stmt = NULL;
  Binder b;

  if (!exec (self, "BEGIN IMMEDIATE", error))
    return FALSE;
  if (!drop_earlier_attempts (self, "task_pipelines", pipeline->task_id, pipeline->attempt,
                              error)) {
    rollback (self);
    return FALSE;
  }
  /* an attempt's report never overwrites a later attempt's */
  stmt = prepare (self,
                  "INSERT INTO task_pipelines (job_id, task_id, attempt, stage, launch, dot, "
                  "recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
                  "ON CONFLICT (task_id, stage) DO UPDATE SET attempt = excluded.attempt, "
                  "launch = excluded.launch, dot = excluded.dot, "
                  "recorded_at = excluded.recorded_at "
                  "WHERE task_pipelines.attempt <= excluded.attempt",
                  error);
  if (stmt == NULL) {
    rollback (self);
    return FALSE;
  }
  binder_init (&b, stmt);
  bind_text (&b, pipeline->job_id);
  bind_text (&b, pipeline->task_id);
  bind_int64 (&b, pipeline->attempt);
  bind_text (&b, pipeline->stage);
  bind_text (&b, pipeline->launch);
  bind_text (&b, pipeline->dot);
  bind_int64 (&b, pipeline->recorded_at != 0 ? pipeline->recorded_at : g_get_real_time ());
  if (!binder_check (self, &b, error)) {
    rollback (self);
    return FALSE;
  }
  if (!step_done (stmt)) {
    db_error_or_missing_job (self, error, "storing pipeline", pipeline->job_id);
    rollback (self);
    return FALSE;
  }
  return commit (self, error);
}

static GPtrArray *
we_store_sqlite_task_pipeline_list (WeStore *store, const gchar *job_id, const gchar *task_id,
                                    GError **error)
{
  WeStoreSqlite *self = WE_STORE_SQLITE (store);
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->mutex);
  g_autoptr(GPtrArray) pipelines =
    g_ptr_array_new_with_free_func ((GDestroyNotify) we_task_pipeline_free);
  g_autoptr(sqlite3_stmt) stmt = NULL;
  Binder b;
  gint rc;

  stmt = prepare (self,
                  "SELECT " PIPELINE_COLUMNS " FROM task_pipelines p "
                  "JOIN tasks t ON t.id = p.task_id "
                  "WHERE p.job_id = ? AND (?2 IS NULL OR p.task_id = ?2) "
                  "ORDER BY t.sequence_index, p.id",
                  error);
  if (stmt == NULL)
    return NULL;
  binder_init (&b, stmt);
  bind_text (&b, job_id);
  bind_text (&b, task_id);
  if (!binder_check (self, &b, error))
    return NULL;
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW) {
    WeTaskPipeline *pipeline = we_task_pipeline_new ();

    pipeline->job_id = column_text (stmt, 0);
    pipeline->task_id = column_text (stmt, 1);
    pipeline->attempt = sqlite3_column_int (stmt, 2);
    pipeline->stage = column_text (stmt, 3);
    pipeline->launch = column_text (stmt, 4);
    pipeline->dot = column_text (stmt, 5);
    pipeline->recorded_at = sqlite3_column_int64 (stmt, 6);
    g_ptr_array_add (pipelines, pipeline);
  }
  if (rc != SQLITE_DONE) {
    db_error (self, error, "listing pipelines");
    return NULL;
  }
  return g_steal_pointer (&pipelines);
}

static gboolean
we_store_sqlite_task_log_put (WeStore *store, const WeTaskLog *log, GError **error)
{
  WeStoreSqlite *self = WE_STORE_SQLITE (store);
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->mutex);
  g_autoptr(sqlite3_stmt) stmt = NULL;
  Binder b;

  stmt = prepare (self,
                  "INSERT INTO task_logs (job_id, task_id, attempt, url, size_bytes, truncated, "
                  "recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
                  "ON CONFLICT (task_id) DO UPDATE SET attempt = excluded.attempt, "
                  "url = excluded.url, size_bytes = excluded.size_bytes, "
                  "truncated = excluded.truncated, recorded_at = excluded.recorded_at "
                  "WHERE task_logs.attempt <= excluded.attempt",
                  error);
  if (stmt == NULL)
    return FALSE;
  binder_init (&b, stmt);
  bind_text (&b, log->job_id);
  bind_text (&b, log->task_id);
  bind_int64 (&b, log->attempt);
  bind_text (&b, log->url);
  bind_int64 (&b, MAX (log->size_bytes, 0));
  bind_bool (&b, log->truncated);
  bind_int64 (&b, log->recorded_at != 0 ? log->recorded_at : g_get_real_time ());
  if (!binder_check (self, &b, error))
    return FALSE;
  if (!step_done (stmt))
    return db_error_or_missing_job (self, error, "storing task log", log->job_id);
  return TRUE;
}

static GPtrArray *
we_store_sqlite_task_log_list (WeStore *store, const gchar *job_id, const gchar *task_id,
                               GError **error)
{
  WeStoreSqlite *self = WE_STORE_SQLITE (store);
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->mutex);
  g_autoptr(GPtrArray) logs = g_ptr_array_new_with_free_func ((GDestroyNotify) we_task_log_free);
  g_autoptr(sqlite3_stmt) stmt = NULL;
  Binder b;
  gint rc;

  stmt = prepare (self,
                  "SELECT " TASK_LOG_COLUMNS " FROM task_logs l "
                  "JOIN tasks t ON t.id = l.task_id "
                  "WHERE l.job_id = ? AND (?2 IS NULL OR l.task_id = ?2) "
                  "ORDER BY t.sequence_index",
                  error);
  if (stmt == NULL)
    return NULL;
  binder_init (&b, stmt);
  bind_text (&b, job_id);
  bind_text (&b, task_id);
  if (!binder_check (self, &b, error))
    return NULL;
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW) {
    WeTaskLog *log = we_task_log_new ();

    log->job_id = column_text (stmt, 0);
    log->task_id = column_text (stmt, 1);
    log->attempt = sqlite3_column_int (stmt, 2);
    log->url = column_text (stmt, 3);
    log->size_bytes = sqlite3_column_int64 (stmt, 4);
    log->truncated = sqlite3_column_int (stmt, 5) != 0;
    log->recorded_at = sqlite3_column_int64 (stmt, 6);
    g_ptr_array_add (logs, log);
  }
  if (rc != SQLITE_DONE) {
    db_error (self, error, "listing task logs");
    return NULL;
  }
  return g_steal_pointer (&logs);
}

/* --- error tracking ------------------------------------------------------------------ */

#define ERROR_EVENT_COLUMNS                                                            \
  "id, source_component, severity, message, stack_trace, context_data, created_at, "  \
  "resolved, resolved_at, resolved_by"

/* NULL/-1 members match everything: one statement serves every filter */
#define ERROR_EVENT_WHERE                                                              \
  " WHERE (?1 IS NULL OR source_component = ?1) AND (?2 IS NULL OR severity = ?2) "   \
  "AND (?3 < 0 OR resolved = ?3) AND (?4 = 0 OR created_at >= ?4)"

static gboolean
we_store_sqlite_error_event_add (WeStore *store, WeErrorEvent *event, GError **error)
{
  WeStoreSqlite *self = WE_STORE_SQLITE (store);
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->mutex);
  g_autoptr(sqlite3_stmt) stmt = NULL;
  Binder b;

  if (event->id == NULL)
    event->id = we_uuid_new ();
  if (event->created_at == 0)
    event->created_at = g_get_real_time ();
  stmt = prepare (self,
                  "INSERT INTO error_events (" ERROR_EVENT_COLUMNS ") "
                  "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                  error);
  if (stmt == NULL)
    return FALSE;
  binder_init (&b, stmt);
  bind_text (&b, event->id);
  bind_text (&b, event->source_component);
  bind_text (&b, event->severity);
  bind_text (&b, event->message);
  bind_text (&b, event->stack_trace);
  /* the column is NOT NULL DEFAULT '{}' (0001) */
  bind_text (&b, event->context_data != NULL ? event->context_data : "{}");
  bind_int64 (&b, event->created_at);
  bind_bool (&b, event->resolved);
  bind_positive_or_null (&b, event->resolved_at);
  bind_text (&b, event->resolved_by);
  if (!binder_check (self, &b, error))
    return FALSE;
  if (!step_done (stmt))
    return db_error (self, error, "storing error event");
  return TRUE;
}

static gboolean
bind_error_filter (WeStoreSqlite *self, sqlite3_stmt *stmt, const WeErrorFilter *filter,
                   GError **error)
{
  Binder b;

  binder_init (&b, stmt);
  bind_text (&b, filter->source_component);
  bind_text (&b, filter->severity);
  bind_int64 (&b, filter->resolved < 0 ? -1 : filter->resolved != 0);
  bind_int64 (&b, filter->since);
  return binder_check (self, &b, error);
}

static GPtrArray *
error_event_list_locked (WeStoreSqlite *self, const WeErrorFilter *filter, guint *total,
                         GError **error)
{
  g_autoptr(GPtrArray) events =
    g_ptr_array_new_with_free_func ((GDestroyNotify) we_error_event_free);
  g_autoptr(sqlite3_stmt) count = NULL;
  g_autoptr(sqlite3_stmt) stmt = NULL;
  guint limit = filter->limit == 0 ? 100 : MIN (filter->limit, 1000);
  gint rc;

  count = prepare (self, "SELECT COUNT(*) FROM error_events" ERROR_EVENT_WHERE, error);
  if (count == NULL || !bind_error_filter (self, count, filter, error))
    return NULL;
  if (sqlite3_step (count) != SQLITE_ROW) {
    db_error (self, error, "counting error events");
    return NULL;
  }
  if (total != NULL)
    *total = (guint) sqlite3_column_int64 (count, 0);

  stmt = prepare (self,
                  "SELECT " ERROR_EVENT_COLUMNS " FROM error_events" ERROR_EVENT_WHERE
                  " ORDER BY created_at DESC, id DESC LIMIT ?5 OFFSET ?6",
                  error);
  if (stmt == NULL || !bind_error_filter (self, stmt, filter, error))
    return NULL;
  if (sqlite3_bind_int64 (stmt, 5, limit) != SQLITE_OK ||
      sqlite3_bind_int64 (stmt, 6, filter->offset) != SQLITE_OK) {
    db_error (self, error, "listing error events");
    return NULL;
  }
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW) {
    WeErrorEvent *event = we_error_event_new ();

    event->id = column_text (stmt, 0);
    event->source_component = column_text (stmt, 1);
    event->severity = column_text (stmt, 2);
    event->message = column_text (stmt, 3);
    event->stack_trace = column_text (stmt, 4);
    event->context_data = column_text (stmt, 5);
    event->created_at = sqlite3_column_int64 (stmt, 6);
    event->resolved = sqlite3_column_int (stmt, 7) != 0;
    event->resolved_at = column_int64_or (stmt, 8, 0);
    event->resolved_by = column_text (stmt, 9);
    g_ptr_array_add (events, event);
  }
  if (rc != SQLITE_DONE) {
    db_error (self, error, "listing error events");
    return NULL;
  }
  return g_steal_pointer (&events);
}

static GPtrArray *
we_store_sqlite_error_event_list (WeStore *store, const WeErrorFilter *filter, guint *total,
                                  GError **error)
{
  WeStoreSqlite *self = WE_STORE_SQLITE (store);
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->mutex);
  GPtrArray *events;

  /* one read transaction, so the total and the page agree */
  if (!exec (self, "BEGIN", error)) {
    g_prefix_error (error, "listing error events: ");
    return NULL;
  }
  events = error_event_list_locked (self, filter, total, error);
  if (events == NULL) {
    rollback (self);
    return NULL;
  }
  if (!commit (self, error)) {
    g_ptr_array_unref (events);
    return NULL;
  }
  return events;
}

static gboolean
we_store_sqlite_error_event_set_resolved (WeStore *store, const gchar *id, gboolean resolved,
                                          const gchar *by, GError **error)
{
  WeStoreSqlite *self = WE_STORE_SQLITE (store);
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->mutex);
  g_autoptr(sqlite3_stmt) stmt = NULL;
  Binder b;

  stmt = prepare (self,
                  "UPDATE error_events SET resolved = ?2, resolved_at = ?3, resolved_by = ?4 "
                  "WHERE id = ?1",
                  error);
  if (stmt == NULL)
    return FALSE;
  binder_init (&b, stmt);
  bind_text (&b, id);
  bind_bool (&b, resolved);
  bind_positive_or_null (&b, resolved ? g_get_real_time () : 0);
  bind_text (&b, resolved ? by : NULL);
  if (!binder_check (self, &b, error))
    return FALSE;
  if (!step_done (stmt))
    return db_error (self, error, "updating error event");
  if (sqlite3_changes (self->db) == 0) {
    g_set_error (error, WE_ERROR, WE_ERROR_SYS_NOT_FOUND, "error event %s not found", id);
    return FALSE;
  }
  return TRUE;
}

/* --- live streams ---------------------------------------------------------------- */

#define STREAM_COLUMNS                                                                 \
  "id, user_id, title, description, key_hash, key_sealed, key_hint, "                 \
  "srt_passphrase_sealed, play_name, is_live, current_session_id, archive_enabled, "  \
  "record, latency_mode, ladder_profile_id, archive_vod_job_id, last_stats, "         \
  "started_at, ended_at, created_at, updated_at"

static WeStream *
stream_from_row (sqlite3_stmt *stmt)
{
  WeStream *s = we_stream_new ();

  s->id = column_text (stmt, 0);
  s->user_id = column_text (stmt, 1);
  s->title = column_text (stmt, 2);
  s->description = column_text (stmt, 3);
  s->key_hash = column_text (stmt, 4);
  s->key_sealed = column_text (stmt, 5);
  s->key_hint = column_text (stmt, 6);
  s->srt_passphrase_sealed = column_text (stmt, 7);
  s->play_name = column_text (stmt, 8);
  s->is_live = sqlite3_column_int (stmt, 9) != 0;
  s->current_session_id = column_text (stmt, 10);
  s->archive_enabled = sqlite3_column_int (stmt, 11) != 0;
  s->record = sqlite3_column_int (stmt, 12) != 0;
  s->latency_mode = column_text (stmt, 13);
  s->ladder_profile_id = column_text (stmt, 14);
  s->archive_vod_job_id = column_text (stmt, 15);
  s->last_stats = column_text (stmt, 16);
  s->started_at = column_int64_or (stmt, 17, 0);
  s->ended_at = column_int64_or (stmt, 18, 0);
  s->created_at = sqlite3_column_int64 (stmt, 19);
  s->updated_at = sqlite3_column_int64 (stmt, 20);
  return s;
}

/* The members every write sets, from title on, in STREAM_COLUMNS order
 * (less id and user_id before them and the two times after). */
static void
bind_stream_body (Binder *b, const WeStream *s)
{
  bind_text (b, s->title);
  bind_text (b, s->description);
  bind_text (b, s->key_hash);
  bind_text (b, s->key_sealed);
  bind_text (b, s->key_hint);
  bind_text (b, s->srt_passphrase_sealed);
  bind_text (b, s->play_name);
  bind_bool (b, s->is_live);
  bind_text (b, s->current_session_id);
  bind_bool (b, s->archive_enabled);
  bind_bool (b, s->record);
  bind_text (b, s->latency_mode);
  bind_text (b, s->ladder_profile_id);
  bind_text (b, s->archive_vod_job_id);
  bind_text (b, s->last_stats);
  bind_positive_or_null (b, s->started_at);
  bind_positive_or_null (b, s->ended_at);
}

/* A UNIQUE failure on streams is a key hash or play name someone has. */
static gboolean
stream_write_error (WeStoreSqlite *self, GError **error, const WeStream *s, const gchar *what)
{
  gint code = sqlite3_extended_errcode (self->db);

  if (code == SQLITE_CONSTRAINT_UNIQUE || code == SQLITE_CONSTRAINT_PRIMARYKEY) {
    g_set_error (error, WE_ERROR, WE_ERROR_STR_KEY_CONFLICT,
                 "stream %s: its key or play name is already in use", s->id);
    return FALSE;
  }
  if (code == SQLITE_CONSTRAINT_FOREIGNKEY) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_NOT_FOUND, "stream %s: archive job %s not found",
                 s->id, s->archive_vod_job_id != NULL ? s->archive_vod_job_id : "");
    return FALSE;
  }
  return db_error (self, error, what);
}

static gboolean
we_store_sqlite_stream_create (WeStore *store, WeStream *stream, GError **error)
{
  WeStoreSqlite *self = WE_STORE_SQLITE (store);
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->mutex);
  g_autoptr(sqlite3_stmt) stmt = NULL;
  Binder b;

  if (stream->created_at == 0)
    stream->created_at = g_get_real_time ();
  stream->updated_at = stream->created_at;
  stmt = prepare (self,
                  "INSERT INTO streams (" STREAM_COLUMNS ") "
                  "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                  error);
  if (stmt == NULL)
    return FALSE;
  binder_init (&b, stmt);
  bind_text (&b, stream->id);
  bind_text (&b, stream->user_id);
  bind_stream_body (&b, stream);
  bind_int64 (&b, stream->created_at);
  bind_int64 (&b, stream->updated_at);
  if (!binder_check (self, &b, error))
    return FALSE;
  if (!step_done (stmt))
    return stream_write_error (self, error, stream, "storing stream");
  return TRUE;
}

static WeStream *
stream_get_by (WeStoreSqlite *self, const gchar *column, const gchar *value, GError **error)
{
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->mutex);
  g_autoptr(sqlite3_stmt) stmt = NULL;
  g_autofree gchar *sql = g_strdup_printf ("SELECT " STREAM_COLUMNS " FROM streams WHERE %s = ?",
                                           column);
  gint rc;

  stmt = prepare (self, sql, error);
  if (stmt == NULL)
    return NULL;
  if (sqlite3_bind_text (stmt, 1, value, -1, SQLITE_TRANSIENT) != SQLITE_OK) {
    db_error (self, error, "reading stream");
    return NULL;
  }
  rc = sqlite3_step (stmt);
  if (rc == SQLITE_ROW)
    return stream_from_row (stmt);
  if (rc != SQLITE_DONE) {
    db_error (self, error, "reading stream");
    return NULL;
  }
  /* never name a key hash: it is no secret, but nothing to show either */
  g_set_error (error, WE_ERROR, WE_ERROR_STR_NOT_FOUND, "stream %s not found",
               g_str_equal (column, "id") ? value : "with that key");
  return NULL;
}

static WeStream *
we_store_sqlite_stream_get (WeStore *store, const gchar *id, GError **error)
{
  return stream_get_by (WE_STORE_SQLITE (store), "id", id, error);
}

static WeStream *
we_store_sqlite_stream_get_by_key_hash (WeStore *store, const gchar *key_hash, GError **error)
{
  return stream_get_by (WE_STORE_SQLITE (store), "key_hash", key_hash, error);
}

/* NULL/-1 members match everything: one statement serves every filter */
#define STREAM_WHERE " WHERE (?1 IS NULL OR user_id = ?1) AND (?2 < 0 OR is_live = ?2)"

static gboolean
bind_stream_filter (WeStoreSqlite *self, sqlite3_stmt *stmt, const WeStreamFilter *filter,
                    GError **error)
{
  Binder b;

  binder_init (&b, stmt);
  bind_text (&b, filter->user_id);
  bind_int64 (&b, filter->live < 0 ? -1 : filter->live != 0);
  return binder_check (self, &b, error);
}

static GPtrArray *
stream_list_locked (WeStoreSqlite *self, const WeStreamFilter *filter, guint *total,
                    GError **error)
{
  g_autoptr(GPtrArray) streams = g_ptr_array_new_with_free_func ((GDestroyNotify) we_stream_free);
  g_autoptr(sqlite3_stmt) count = NULL;
  g_autoptr(sqlite3_stmt) stmt = NULL;
  guint limit = filter->limit == 0 ? 50 : MIN (filter->limit, 500);
  gint rc;

  count = prepare (self, "SELECT COUNT(*) FROM streams" STREAM_WHERE, error);
  if (count == NULL || !bind_stream_filter (self, count, filter, error))
    return NULL;
  if (sqlite3_step (count) != SQLITE_ROW) {
    db_error (self, error, "counting streams");
    return NULL;
  }
  if (total != NULL)
    *total = (guint) sqlite3_column_int64 (count, 0);
  stmt = prepare (self,
                  "SELECT " STREAM_COLUMNS " FROM streams" STREAM_WHERE
                  " ORDER BY created_at DESC, id DESC LIMIT ?3 OFFSET ?4",
                  error);
  if (stmt == NULL || !bind_stream_filter (self, stmt, filter, error))
    return NULL;
  if (sqlite3_bind_int64 (stmt, 3, limit) != SQLITE_OK ||
      sqlite3_bind_int64 (stmt, 4, filter->offset) != SQLITE_OK) {
    db_error (self, error, "listing streams");
    return NULL;
  }
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    g_ptr_array_add (streams, stream_from_row (stmt));
  if (rc != SQLITE_DONE) {
    db_error (self, error, "listing streams");
    return NULL;
  }
  return g_steal_pointer (&streams);
}

static GPtrArray *
we_store_sqlite_stream_list (WeStore *store, const WeStreamFilter *filter, guint *total,
                             GError **error)
{
  WeStoreSqlite *self = WE_STORE_SQLITE (store);
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->mutex);
  GPtrArray *streams;

  /* one read transaction, so the total and the page agree */
  if (!exec (self, "BEGIN", error)) {
    g_prefix_error (error, "listing streams: ");
    return NULL;
  }
  streams = stream_list_locked (self, filter, total, error);
  if (streams == NULL) {
    rollback (self);
    return NULL;
  }
  if (!commit (self, error)) {
    g_ptr_array_unref (streams);
    return NULL;
  }
  return streams;
}

static gboolean
we_store_sqlite_stream_update (WeStore *store, WeStream *stream, GError **error)
{
  WeStoreSqlite *self = WE_STORE_SQLITE (store);
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->mutex);
  g_autoptr(sqlite3_stmt) stmt = NULL;
  Binder b;

  stream->updated_at = MAX (g_get_real_time (), stream->created_at);
  stmt = prepare (self,
                  "UPDATE streams SET title = ?, description = ?, key_hash = ?, key_sealed = ?, "
                  "key_hint = ?, srt_passphrase_sealed = ?, play_name = ?, is_live = ?, "
                  "current_session_id = ?, archive_enabled = ?, record = ?, latency_mode = ?, "
                  "ladder_profile_id = ?, archive_vod_job_id = ?, last_stats = ?, "
                  "started_at = ?, ended_at = ?, updated_at = ? WHERE id = ?",
                  error);
  if (stmt == NULL)
    return FALSE;
  binder_init (&b, stmt);
  bind_stream_body (&b, stream);
  bind_int64 (&b, stream->updated_at);
  bind_text (&b, stream->id);
  if (!binder_check (self, &b, error))
    return FALSE;
  if (!step_done (stmt))
    return stream_write_error (self, error, stream, "updating stream");
  if (sqlite3_changes (self->db) == 0) {
    g_set_error (error, WE_ERROR, WE_ERROR_STR_NOT_FOUND, "stream %s not found", stream->id);
    return FALSE;
  }
  return TRUE;
}

static gboolean
we_store_sqlite_stream_delete (WeStore *store, const gchar *id, GError **error)
{
  WeStoreSqlite *self = WE_STORE_SQLITE (store);
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->mutex);
  g_autoptr(sqlite3_stmt) stmt = NULL;

  /* stream_sessions goes with it: ON DELETE CASCADE */
  stmt = prepare (self, "DELETE FROM streams WHERE id = ?", error);
  if (stmt == NULL)
    return FALSE;
  if (sqlite3_bind_text (stmt, 1, id, -1, SQLITE_TRANSIENT) != SQLITE_OK || !step_done (stmt))
    return db_error (self, error, "deleting stream");
  if (sqlite3_changes (self->db) == 0) {
    g_set_error (error, WE_ERROR, WE_ERROR_STR_NOT_FOUND, "stream %s not found", id);
    return FALSE;
  }
  return TRUE;
}

static gboolean
we_store_sqlite_stream_session_put (WeStore *store, const WeStreamSession *session,
                                    GError **error)
{
  WeStoreSqlite *self = WE_STORE_SQLITE (store);
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->mutex);
  g_autoptr(sqlite3_stmt) stmt = NULL;
  Binder b;

  stmt = prepare (self,
                  "INSERT INTO stream_sessions (id, stream_id, protocol, remote_addr, "
                  "started_at, ended_at, end_reason, bytes_in) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                  "ON CONFLICT (id) DO UPDATE SET protocol = excluded.protocol, "
                  "remote_addr = excluded.remote_addr, started_at = excluded.started_at, "
                  "ended_at = excluded.ended_at, end_reason = excluded.end_reason, "
                  "bytes_in = excluded.bytes_in",
                  error);
  if (stmt == NULL)
    return FALSE;
  binder_init (&b, stmt);
  bind_text (&b, session->id);
  bind_text (&b, session->stream_id);
  bind_text (&b, session->protocol);
  bind_text (&b, session->remote_addr);
  bind_int64 (&b, session->started_at != 0 ? session->started_at : g_get_real_time ());
  bind_positive_or_null (&b, session->ended_at);
  bind_text (&b, session->end_reason);
  bind_int64 (&b, session->bytes_in);
  if (!binder_check (self, &b, error))
    return FALSE;
  if (!step_done (stmt)) {
    if (sqlite3_extended_errcode (self->db) == SQLITE_CONSTRAINT_FOREIGNKEY) {
      g_set_error (error, WE_ERROR, WE_ERROR_STR_NOT_FOUND, "stream %s not found",
                   session->stream_id);
      return FALSE;
    }
    return db_error (self, error, "storing stream session");
  }
  return TRUE;
}

static gboolean
we_store_sqlite_stream_telemetry_add (WeStore *store, const gchar *session_id, gint64 time_ms,
                                      const gchar *sample, guint keep, GError **error)
{
  WeStoreSqlite *self = WE_STORE_SQLITE (store);
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->mutex);
  g_autoptr(sqlite3_stmt) stmt = NULL;
  g_autoptr(sqlite3_stmt) prune = NULL;

  stmt = prepare (self, "INSERT INTO stream_telemetry (session_id, time_ms, sample) "
                        "VALUES (?, ?, ?)", error);
  if (stmt == NULL)
    return FALSE;
  if (sqlite3_bind_text (stmt, 1, session_id, -1, SQLITE_TRANSIENT) != SQLITE_OK ||
      sqlite3_bind_int64 (stmt, 2, time_ms) != SQLITE_OK ||
      sqlite3_bind_text (stmt, 3, sample, -1, SQLITE_TRANSIENT) != SQLITE_OK)
    return db_error (self, error, "storing telemetry");
  if (!step_done (stmt)) {
    if (sqlite3_extended_errcode (self->db) == SQLITE_CONSTRAINT_FOREIGNKEY) {
      g_set_error (error, WE_ERROR, WE_ERROR_STR_NOT_FOUND, "session %s not found", session_id);
      return FALSE;
    }
    return db_error (self, error, "storing telemetry");
  }
  /* a session's history is bounded: the oldest samples beyond @keep go */
  if (keep == 0)
    return TRUE;
  prune = prepare (self, "DELETE FROM stream_telemetry WHERE session_id = ?1 AND time_ms < "
                         "(SELECT time_ms FROM stream_telemetry WHERE session_id = ?1 "
                         "ORDER BY time_ms DESC LIMIT 1 OFFSET ?2)", error);
  if (prune == NULL)
    return FALSE;
  if (sqlite3_bind_text (prune, 1, session_id, -1, SQLITE_TRANSIENT) != SQLITE_OK ||
      sqlite3_bind_int64 (prune, 2, (gint64) keep - 1) != SQLITE_OK || !step_done (prune))
    return db_error (self, error, "pruning telemetry");
  return TRUE;
}

static GPtrArray *
we_store_sqlite_stream_telemetry_list (WeStore *store, const gchar *session_id, guint limit,
                                       GError **error)
{
  WeStoreSqlite *self = WE_STORE_SQLITE (store);
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->mutex);
  g_autoptr(GPtrArray) samples = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(sqlite3_stmt) stmt = NULL;
  gint rc;

  stmt = prepare (self, "SELECT sample FROM (SELECT sample, time_ms FROM stream_telemetry "
                        "WHERE session_id = ? ORDER BY time_ms DESC LIMIT ?) "
                        "ORDER BY time_ms ASC", error);
  if (stmt == NULL)
    return NULL;
  if (sqlite3_bind_text (stmt, 1, session_id, -1, SQLITE_TRANSIENT) != SQLITE_OK ||
      sqlite3_bind_int64 (stmt, 2, limit == 0 ? 3600 : limit) != SQLITE_OK) {
    db_error (self, error, "listing telemetry");
    return NULL;
  }
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    g_ptr_array_add (samples, column_text (stmt, 0));
  if (rc != SQLITE_DONE) {
    db_error (self, error, "listing telemetry");
    return NULL;
  }
  return g_steal_pointer (&samples);
}

static GPtrArray *
we_store_sqlite_stream_session_list (WeStore *store, const gchar *stream_id, guint limit,
                                     GError **error)
{
  WeStoreSqlite *self = WE_STORE_SQLITE (store);
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->mutex);
  g_autoptr(GPtrArray) sessions =
    g_ptr_array_new_with_free_func ((GDestroyNotify) we_stream_session_free);
  g_autoptr(sqlite3_stmt) stmt = NULL;
  gint rc;

  stmt = prepare (self,
                  "SELECT id, stream_id, protocol, remote_addr, started_at, ended_at, "
                  "end_reason, bytes_in FROM stream_sessions WHERE stream_id = ? "
                  "ORDER BY started_at DESC, id DESC LIMIT ?",
                  error);
  if (stmt == NULL)
    return NULL;
  if (sqlite3_bind_text (stmt, 1, stream_id, -1, SQLITE_TRANSIENT) != SQLITE_OK ||
      sqlite3_bind_int64 (stmt, 2, limit == 0 ? 50 : MIN (limit, 500)) != SQLITE_OK) {
    db_error (self, error, "listing stream sessions");
    return NULL;
  }
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW) {
    WeStreamSession *s = we_stream_session_new ();

    s->id = column_text (stmt, 0);
    s->stream_id = column_text (stmt, 1);
    s->protocol = column_text (stmt, 2);
    s->remote_addr = column_text (stmt, 3);
    s->started_at = sqlite3_column_int64 (stmt, 4);
    s->ended_at = column_int64_or (stmt, 5, 0);
    s->end_reason = column_text (stmt, 6);
    s->bytes_in = sqlite3_column_int64 (stmt, 7);
    g_ptr_array_add (sessions, s);
  }
  if (rc != SQLITE_DONE) {
    db_error (self, error, "listing stream sessions");
    return NULL;
  }
  return g_steal_pointer (&sessions);
}

/* --- restreams (issue 11) -------------------------------------------------------- */

#define RESTREAM_COLUMNS "id, user_id, status, doc, stats, created_at, updated_at"
/* what is read: the columns above and the owner's (migration 0012) */
#define RESTREAM_SELECT RESTREAM_COLUMNS ", owner_kernel, lease_until, fired, run_until"

static WeRestreamRecord *
restream_from_row (sqlite3_stmt *stmt)
{
  WeRestreamRecord *r = we_restream_record_new ();

  r->id = column_text (stmt, 0);
  r->user_id = column_text (stmt, 1);
  r->status = column_text (stmt, 2);
  r->doc = column_text (stmt, 3);
  r->stats = column_text (stmt, 4);
  r->created_at = sqlite3_column_int64 (stmt, 5);
  r->updated_at = sqlite3_column_int64 (stmt, 6);
  r->owner_kernel = column_text (stmt, 7);
  r->lease_until = sqlite3_column_int64 (stmt, 8);
  r->fired = column_text (stmt, 9);
  r->run_until = sqlite3_column_int64 (stmt, 10);
  return r;
}

static gboolean
we_store_sqlite_restream_put (WeStore *store, const WeRestreamRecord *record, GError **error)
{
  WeStoreSqlite *self = WE_STORE_SQLITE (store);
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->mutex);
  g_autoptr(sqlite3_stmt) stmt = NULL;
  gint64 now = g_get_real_time ();
  Binder b;

  /* a replace keeps the runner's status and stats */
  stmt = prepare (self,
                  "INSERT INTO restreams (" RESTREAM_COLUMNS ") "
                  "VALUES (?1, ?2, 'stopped', ?3, NULL, ?4, ?5) "
                  "ON CONFLICT (id) DO UPDATE SET user_id = excluded.user_id, "
                  "doc = excluded.doc, updated_at = excluded.updated_at",
                  error);
  if (stmt == NULL)
    return FALSE;
  binder_init (&b, stmt);
  bind_text (&b, record->id);
  bind_text (&b, record->user_id);
  bind_text (&b, record->doc);
  bind_int64 (&b, record->created_at != 0 ? record->created_at : now);
  bind_int64 (&b, now);
  if (!binder_check (self, &b, error))
    return FALSE;
  if (!step_done (stmt))
    return db_error (self, error, "storing restream");
  return TRUE;
}

static WeRestreamRecord *
we_store_sqlite_restream_get (WeStore *store, const gchar *id, GError **error)
{
  WeStoreSqlite *self = WE_STORE_SQLITE (store);
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->mutex);
  g_autoptr(sqlite3_stmt) stmt = NULL;
  gint rc;

  stmt = prepare (self, "SELECT " RESTREAM_SELECT " FROM restreams WHERE id = ?", error);
  if (stmt == NULL)
    return NULL;
  if (sqlite3_bind_text (stmt, 1, id, -1, SQLITE_TRANSIENT) != SQLITE_OK) {
    db_error (self, error, "reading restream");
    return NULL;
  }
  rc = sqlite3_step (stmt);
  if (rc == SQLITE_ROW)
    return restream_from_row (stmt);
  if (rc != SQLITE_DONE) {
    db_error (self, error, "reading restream");
    return NULL;
  }
  g_set_error (error, WE_ERROR, WE_ERROR_RST_NOT_FOUND, "restream %s not found", id);
  return NULL;
}

static GPtrArray *
we_store_sqlite_restream_list (WeStore *store, GError **error)
{
  WeStoreSqlite *self = WE_STORE_SQLITE (store);
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->mutex);
  g_autoptr(sqlite3_stmt) stmt = NULL;
  g_autoptr(GPtrArray) list =
    g_ptr_array_new_with_free_func ((GDestroyNotify) we_restream_record_free);
  gint rc;

  stmt = prepare (self,
                  "SELECT " RESTREAM_SELECT " FROM restreams ORDER BY created_at DESC, id DESC",
                  error);
  if (stmt == NULL)
    return NULL;
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    g_ptr_array_add (list, restream_from_row (stmt));
  if (rc != SQLITE_DONE) {
    db_error (self, error, "listing restreams");
    return NULL;
  }
  return g_steal_pointer (&list);
}

static gboolean
we_store_sqlite_restream_set_state (WeStore *store, const gchar *id, const gchar *status,
                                    const gchar *stats, GError **error)
{
  WeStoreSqlite *self = WE_STORE_SQLITE (store);
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->mutex);
  g_autoptr(sqlite3_stmt) stmt = NULL;
  Binder b;

  stmt = prepare (self,
                  "UPDATE restreams SET status = ?2, stats = COALESCE(?3, stats), "
                  "updated_at = ?4 WHERE id = ?1",
                  error);
  if (stmt == NULL)
    return FALSE;
  binder_init (&b, stmt);
  bind_text (&b, id);
  bind_text (&b, status);
  bind_text (&b, stats);
  bind_int64 (&b, g_get_real_time ());
  if (!binder_check (self, &b, error))
    return FALSE;
  if (!step_done (stmt))
    return db_error (self, error, "updating restream");
  if (sqlite3_changes (self->db) == 0) {
    g_set_error (error, WE_ERROR, WE_ERROR_RST_NOT_FOUND, "restream %s not found", id);
    return FALSE;
  }
  return TRUE;
}

static gboolean
we_store_sqlite_restream_delete (WeStore *store, const gchar *id, GError **error)
{
  WeStoreSqlite *self = WE_STORE_SQLITE (store);
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->mutex);
  g_autoptr(sqlite3_stmt) stmt = NULL;

  stmt = prepare (self, "DELETE FROM restreams WHERE id = ?", error);
  if (stmt == NULL)
    return FALSE;
  if (sqlite3_bind_text (stmt, 1, id, -1, SQLITE_TRANSIENT) != SQLITE_OK || !step_done (stmt))
    return db_error (self, error, "deleting restream");
  if (sqlite3_changes (self->db) == 0) {
    g_set_error (error, WE_ERROR, WE_ERROR_RST_NOT_FOUND, "restream %s not found", id);
    return FALSE;
  }
  return TRUE;
}

/* One statement under the store's write lock: of kernels ticking at the
 * same moment exactly one matches the WHERE (docs/architecture.md
 * "Restreams in cluster mode"). */
static gboolean
we_store_sqlite_restream_claim (WeStore *store, const gchar *id, const WeRestreamClaim *claim,
                                gboolean *claimed, GError **error)
{
  WeStoreSqlite *self = WE_STORE_SQLITE (store);
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->mutex);
  g_autoptr(sqlite3_stmt) stmt = NULL;
  Binder b;

  stmt = prepare (self,
                  "UPDATE restreams SET owner_kernel = ?2, lease_until = ?3, status = 'starting', "
                  "fired = COALESCE(?6, fired), "
                  "run_until = CASE WHEN ?6 IS NULL THEN run_until ELSE ?7 END "
                  "WHERE id = ?1 "
                  "AND (owner_kernel IS NULL OR owner_kernel = ?2 OR lease_until < ?4) "
                  "AND (?5 = 0 OR status IN ('starting', 'streaming', 'error')) "
                  "AND (?6 IS NULL OR fired IS NULL OR fired <> ?6)",
                  error);
  if (stmt == NULL)
    return FALSE;
  binder_init (&b, stmt);
  bind_text (&b, id);
  bind_text (&b, claim->kernel_id);
  bind_int64 (&b, claim->lease_until);
  bind_int64 (&b, claim->now);
  bind_int64 (&b, claim->active_only ? 1 : 0);
  bind_text (&b, claim->fire_key);
  bind_int64 (&b, claim->run_until);
  if (!binder_check (self, &b, error))
    return FALSE;
  if (!step_done (stmt))
    return db_error (self, error, "claiming restream");
  *claimed = sqlite3_changes (self->db) > 0;
  return TRUE;
}

static GPtrArray *
we_store_sqlite_restream_renew (WeStore *store, const gchar *kernel_id, gint64 lease_until,
                                GError **error)
{
  WeStoreSqlite *self = WE_STORE_SQLITE (store);
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->mutex);
  g_autoptr(sqlite3_stmt) stmt = NULL;
  g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func (g_free);
  Binder b;
  gint rc;

  stmt = prepare (self,
                  "UPDATE restreams SET lease_until = ?2 WHERE owner_kernel = ?1 RETURNING id",
                  error);
  if (stmt == NULL)
    return NULL;
  binder_init (&b, stmt);
  bind_text (&b, kernel_id);
  bind_int64 (&b, lease_until);
  if (!binder_check (self, &b, error))
    return NULL;
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    g_ptr_array_add (ids, column_text (stmt, 0));
  if (rc != SQLITE_DONE) {
    db_error (self, error, "renewing restream leases");
    return NULL;
  }
  return g_steal_pointer (&ids);
}

static gboolean
we_store_sqlite_restream_report (WeStore *store, const gchar *id, const gchar *kernel_id,
                                 const gchar *status, const gchar *stats, gboolean release,
                                 GError **error)
{
  WeStoreSqlite *self = WE_STORE_SQLITE (store);
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->mutex);
  g_autoptr(sqlite3_stmt) stmt = NULL;
  Binder b;

  stmt = prepare (self,
                  "UPDATE restreams SET status = ?3, stats = COALESCE(?4, stats), updated_at = ?5, "
                  "owner_kernel = CASE WHEN ?6 = 0 THEN owner_kernel END, "
                  "lease_until = CASE WHEN ?6 = 0 THEN lease_until ELSE 0 END, "
                  "run_until = CASE WHEN ?6 = 0 THEN run_until ELSE 0 END "
                  "WHERE id = ?1 AND (?2 IS NULL OR owner_kernel = ?2)",
                  error);
  if (stmt == NULL)
    return FALSE;
  binder_init (&b, stmt);
  bind_text (&b, id);
  bind_text (&b, kernel_id);
  bind_text (&b, status);
  bind_text (&b, stats);
  bind_int64 (&b, g_get_real_time ());
  bind_int64 (&b, release ? 1 : 0);
  if (!binder_check (self, &b, error))
    return FALSE;
  if (!step_done (stmt))
    return db_error (self, error, "updating restream");
  return TRUE;
}

/* --- migrations ----------------------------------------------------------------- */

typedef struct {
  gint64       version;
  const gchar *name;      /* points into the enumerated names */
} Migration;

static gint
migration_cmp (gconstpointer a, gconstpointer b)
{
  const Migration *ma = a;
  const Migration *mb = b;

  return (ma->version > mb->version) - (ma->version < mb->version);
}

/* Reads one integer; *found is FALSE for no row or NULL. */
static gboolean
query_int64 (WeStoreSqlite *self, const gchar *sql, gint64 bind, gint64 *value,
             gboolean *found, GError **error)
{
  g_autoptr(sqlite3_stmt) stmt = prepare (self, sql, error);
  gint rc;

  *found = FALSE;
  *value = 0;
  if (stmt == NULL)
    return FALSE;
  if (bind >= 0 && sqlite3_bind_int64 (stmt, 1, bind) != SQLITE_OK)
    return db_error (self, error, "binding");
  rc = sqlite3_step (stmt);
  if (rc == SQLITE_DONE)
    return TRUE;
  if (rc != SQLITE_ROW)
    return db_error (self, error, "querying schema_migrations");
  *found = sqlite3_column_type (stmt, 0) != SQLITE_NULL;
  *value = sqlite3_column_int64 (stmt, 0);
  return TRUE;
}

static gboolean
apply_migration (WeStoreSqlite *self, GResource *resource, const Migration *m, GError **error)
{
  g_autofree gchar *path = g_strdup_printf ("%s/%s", MIGRATIONS_PATH, m->name);
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(sqlite3_stmt) stmt = NULL;
  g_autofree gchar *sql = NULL;
  gboolean applied;
  gint64 one;
  gsize size = 0;
  gconstpointer data;
  Binder b;

  /* IMMEDIATE takes the write lock first, so two processes opening the same
   * file cannot both apply a migration; the check below sees the winner's */
  if (!exec (self, "BEGIN IMMEDIATE", error))
    return FALSE;
  if (!query_int64 (self, "SELECT 1 FROM schema_migrations WHERE version = ?", m->version,
                    &one, &applied, error)) {
    rollback (self);
    return FALSE;
  }
  if (applied)
    return commit (self, error);

  bytes = g_resource_lookup_data (resource, path, G_RESOURCE_LOOKUP_FLAGS_NONE, error);
  if (bytes == NULL) {
    rollback (self);
    return FALSE;
  }
  data = g_bytes_get_data (bytes, &size);
  sql = g_strndup (data, size);
  g_debug ("applying migration %s", m->name);
  if (!exec (self, sql, error)) {
    rollback (self);
    return FALSE;
  }

  stmt = prepare (self, "INSERT INTO schema_migrations (version, name, applied_at) "
                        "VALUES (?, ?, ?)", error);
  if (stmt == NULL) {
    rollback (self);
    return FALSE;
  }
  binder_init (&b, stmt);
  bind_int64 (&b, m->version);
  bind_text (&b, m->name);
  bind_int64 (&b, g_get_real_time ());
  if (!binder_check (self, &b, error)) {
    rollback (self);
    return FALSE;
  }
  if (!step_done (stmt)) {
    db_error (self, error, "recording migration");
    rollback (self);
    return FALSE;
  }
  return commit (self, error);
}

static gboolean
migrate (WeStoreSqlite *self, GError **error)
{
  GResource *resource = we_store_migrations_get_resource ();
  g_autoptr(GArray) migrations = g_array_new (FALSE, TRUE, sizeof (Migration));
  g_autoptr(GError) error_local = NULL;
  g_auto(GStrv) names = NULL;
  gint64 newest_known = 0;
  gint64 current;
  gboolean found;

  names = g_resource_enumerate_children (resource, MIGRATIONS_PATH,
                                         G_RESOURCE_LOOKUP_FLAGS_NONE, &error_local);
  if (names == NULL) {
    g_set_error (error, WE_ERROR, WE_ERROR_SYS_DATABASE, "no embedded migrations: %s",
                 error_local->message);
    return FALSE;
  }
  for (guint i = 0; names[i] != NULL; i++) {
    Migration m = { 0 };
    gchar *end = NULL;

    /* NNNN_description.sql; anything else in the folder is not a migration */
    m.version = g_ascii_strtoll (names[i], &end, 10);
    if (end == names[i] || *end != '_' || m.version <= 0 || !g_str_has_suffix (names[i], ".sql"))
      continue;
    m.name = names[i];
    g_array_append_val (migrations, m);
  }
  g_array_sort (migrations, migration_cmp);
  for (guint i = 0; i < migrations->len; i++) {
    const Migration *m = &g_array_index (migrations, Migration, i);

    if (i > 0 && g_array_index (migrations, Migration, i - 1).version == m->version) {
      g_set_error (error, WE_ERROR, WE_ERROR_SYS_DATABASE,
                   "two migrations have version %" G_GINT64_FORMAT, m->version);
      return FALSE;
    }
    newest_known = m->version;
  }

  if (!exec (self,
             "CREATE TABLE IF NOT EXISTS schema_migrations ("
             "version INTEGER PRIMARY KEY, name TEXT, applied_at INTEGER NOT NULL)",
             error)) {
    g_prefix_error (error, "creating schema_migrations: ");
    return FALSE;
  }
  if (!query_int64 (self, "SELECT MAX(version) FROM schema_migrations", -1, &current, &found,
                    error))
    return FALSE;
  /* an older build must not write into a schema it does not know */
  if (found && current > newest_known) {
    g_set_error (error, WE_ERROR, WE_ERROR_SYS_DATABASE,
                 "the database schema is version %" G_GINT64_FORMAT
                 " but this build only knows up to %" G_GINT64_FORMAT,
                 current, newest_known);
    return FALSE;
  }

  for (guint i = 0; i < migrations->len; i++) {
    const Migration *m = &g_array_index (migrations, Migration, i);

    if (!apply_migration (self, resource, m, error)) {
      g_prefix_error (error, "applying migration %s: ", m->name);
      return FALSE;
    }
  }

  if (!query_int64 (self, "SELECT MAX(version) FROM schema_migrations", -1, &current, &found,
                    error))
    return FALSE;
  self->schema_version = (gint) current;
  return TRUE;
}

/* --- construction ------------------------------------------------------------------ */

static gchar *
parse_location (const gchar *url_or_path, GError **error)
{
  const gchar *path = url_or_path;

  if (g_str_has_prefix (path, "sqlite://"))
    path += strlen ("sqlite://");
  else if (g_str_has_prefix (path, "sqlite:"))
    path += strlen ("sqlite:");
  if (*path == '\0') {
    g_set_error (error, WE_ERROR, WE_ERROR_SYS_DATABASE, "no database path in \"%s\"",
                 url_or_path);
    return NULL;
  }
  return g_strdup (path);
}

static gboolean
open_db (WeStoreSqlite *self, GError **error)
{
  gboolean in_memory = g_strcmp0 (self->path, ":memory:") == 0;
  gint rc;

  if (!in_memory) {
    g_autofree gchar *dir = g_path_get_dirname (self->path);

    /* the data directory holds user data: keep it private */
    if (g_mkdir_with_parents (dir, 0700) != 0) {
      gint errsv = errno;
      g_set_error (error, WE_ERROR, WE_ERROR_SYS_DATABASE, "creating %s: %s", dir,
                   g_strerror (errsv));
      return FALSE;
    }
  }

  /* our mutex serialises the connection, so SQLite's own is not needed */
  rc = sqlite3_open_v2 (self->path, &self->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
  if (rc != SQLITE_OK) {
    g_set_error (error, WE_ERROR, WE_ERROR_SYS_DATABASE, "opening %s: %s", self->path,
                 self->db != NULL ? sqlite3_errmsg (self->db) : sqlite3_errstr (rc));
    return FALSE;
  }
  sqlite3_extended_result_codes (self->db, 1);
  sqlite3_busy_timeout (self->db, BUSY_TIMEOUT_MS);

  if (!exec (self, "PRAGMA foreign_keys = ON", error) ||
      (!in_memory && !exec (self, "PRAGMA journal_mode = WAL", error)) ||
      !exec (self, "PRAGMA synchronous = NORMAL", error)) {
    g_prefix_error (error, "opening %s: ", self->path);
    return FALSE;
  }
  if (!migrate (self, error)) {
    g_prefix_error (error, "migrating %s: ", self->path);
    return FALSE;
  }
  return TRUE;
}

WeStore *
we_store_sqlite_new (const gchar *url_or_path, GError **error)
{
  g_autoptr(WeStoreSqlite) self = NULL;
  g_autofree gchar *path = NULL;

  g_return_val_if_fail (url_or_path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  path = parse_location (url_or_path, error);
  if (path == NULL)
    return NULL;
  self = g_object_new (WE_TYPE_STORE_SQLITE, NULL);
  self->path = g_steal_pointer (&path);
  if (!open_db (self, error))
    return NULL;
  g_debug ("opened %s at schema version %d", self->path, self->schema_version);
  return WE_STORE (g_steal_pointer (&self));
}

static void
we_store_sqlite_finalize (GObject *object)
{
  WeStoreSqlite *self = WE_STORE_SQLITE (object);

  /* every statement is finalised where it was prepared, so close cannot fail busy */
  if (self->db != NULL)
    sqlite3_close_v2 (self->db);
  g_free (self->path);
  g_mutex_clear (&self->mutex);
  G_OBJECT_CLASS (we_store_sqlite_parent_class)->finalize (object);
}

static void
we_store_sqlite_class_init (WeStoreSqliteClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = we_store_sqlite_finalize;
}

static void
we_store_sqlite_init (WeStoreSqlite *self)
{
  g_mutex_init (&self->mutex);
}

/* --- publications (issue 11) ------------------------------------------------------ */

static gboolean
we_store_sqlite_publication_put (WeStore *store, const gchar *id, const gchar *job_id,
                                 const gchar *status, gint64 created_at, gint64 updated_at,
                                 const gchar *doc, GError **error)
{
  WeStoreSqlite *self = WE_STORE_SQLITE (store);
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->mutex);
  g_autoptr(sqlite3_stmt) stmt = NULL;

  stmt = prepare (self, "INSERT INTO publications (id, job_id, status, created_at, updated_at, "
                        "doc) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
                        "status = excluded.status, updated_at = excluded.updated_at, "
                        "doc = excluded.doc", error);
  if (stmt == NULL)
    return FALSE;
  if (sqlite3_bind_text (stmt, 1, id, -1, SQLITE_TRANSIENT) != SQLITE_OK ||
      sqlite3_bind_text (stmt, 2, job_id, -1, SQLITE_TRANSIENT) != SQLITE_OK ||
      sqlite3_bind_text (stmt, 3, status, -1, SQLITE_TRANSIENT) != SQLITE_OK ||
      sqlite3_bind_int64 (stmt, 4, created_at) != SQLITE_OK ||
      sqlite3_bind_int64 (stmt, 5, updated_at) != SQLITE_OK ||
      sqlite3_bind_text (stmt, 6, doc, -1, SQLITE_TRANSIENT) != SQLITE_OK)
    return db_error (self, error, "storing publication");
  if (!step_done (stmt))
    return db_error_or_missing_job (self, error, "storing publication", job_id);
  return TRUE;
}

static gchar *
we_store_sqlite_publication_get (WeStore *store, const gchar *id, GError **error)
{
  WeStoreSqlite *self = WE_STORE_SQLITE (store);
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->mutex);
  g_autoptr(sqlite3_stmt) stmt = NULL;
  gint rc;

  stmt = prepare (self, "SELECT doc FROM publications WHERE id = ?", error);
  if (stmt == NULL)
    return NULL;
  if (sqlite3_bind_text (stmt, 1, id, -1, SQLITE_TRANSIENT) != SQLITE_OK) {
    db_error (self, error, "reading publication");
    return NULL;
  }
  rc = sqlite3_step (stmt);
  if (rc == SQLITE_ROW)
    return column_text (stmt, 0);
  if (rc == SQLITE_DONE)
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_NOT_FOUND, "publication %s not found", id);
  else
    db_error (self, error, "reading publication");
  return NULL;
}

static GPtrArray *
we_store_sqlite_publication_list (WeStore *store, const gchar *job_id, const gchar *status,
                                  GError **error)
{
  WeStoreSqlite *self = WE_STORE_SQLITE (store);
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->mutex);
  g_autoptr(GPtrArray) docs = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(sqlite3_stmt) stmt = NULL;
  gint rc;

  stmt = prepare (self, "SELECT doc FROM publications WHERE (?1 IS NULL OR job_id = ?1) AND "
                        "(?2 IS NULL OR status = ?2) ORDER BY created_at, id", error);
  if (stmt == NULL)
    return NULL;
  if ((job_id != NULL ? sqlite3_bind_text (stmt, 1, job_id, -1, SQLITE_TRANSIENT)
                      : sqlite3_bind_null (stmt, 1)) != SQLITE_OK ||
      (status != NULL ? sqlite3_bind_text (stmt, 2, status, -1, SQLITE_TRANSIENT)
                      : sqlite3_bind_null (stmt, 2)) != SQLITE_OK) {
    db_error (self, error, "listing publications");
    return NULL;
  }
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    g_ptr_array_add (docs, column_text (stmt, 0));
  if (rc != SQLITE_DONE) {
    db_error (self, error, "listing publications");
    return NULL;
  }
  return g_steal_pointer (&docs);
}

/* The owner a publication answers to: its own, else its job's. Then one
 * conditional UPDATE takes it when that owner is us, nobody or silent:
 * SQLite serialises writers, so of kernels racing exactly one wins. */
static gboolean
we_store_sqlite_publication_claim (WeStore *store, const gchar *id, const gchar *kernel_id,
                                   guint stale_s, gchar **previous, GError **error)
{
  WeStoreSqlite *self = WE_STORE_SQLITE (store);
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->mutex);
  g_autoptr(sqlite3_stmt) get = NULL;
  g_autoptr(sqlite3_stmt) stmt = NULL;

  get = prepare (self, "SELECT COALESCE(p.owner_kernel, j.owner_kernel) FROM publications p "
                       "LEFT JOIN jobs j ON j.id = p.job_id WHERE p.id = ?", error);
  if (get == NULL)
    return FALSE;
  if (sqlite3_bind_text (get, 1, id, -1, SQLITE_TRANSIENT) != SQLITE_OK)
    return db_error (self, error, "claiming publication");
  if (sqlite3_step (get) == SQLITE_ROW && previous != NULL &&
      sqlite3_column_type (get, 0) != SQLITE_NULL)
    *previous = column_text (get, 0);
  stmt = prepare (self,
                  "UPDATE publications SET owner_kernel = ?1 WHERE id = ?2 AND "
                  "status IN ('queued', 'uploading') AND ("
                  "  COALESCE(owner_kernel, (SELECT j.owner_kernel FROM jobs j "
                  "    WHERE j.id = publications.job_id), ?1) = ?1 OR "
                  "  COALESCE(owner_kernel, (SELECT j.owner_kernel FROM jobs j "
                  "    WHERE j.id = publications.job_id)) NOT IN "
                  "    (SELECT id FROM kernels WHERE last_seen >= ?3))",
                  error);
  if (stmt == NULL)
    return FALSE;
  if (sqlite3_bind_text (stmt, 1, kernel_id, -1, SQLITE_TRANSIENT) != SQLITE_OK ||
      sqlite3_bind_text (stmt, 2, id, -1, SQLITE_TRANSIENT) != SQLITE_OK ||
      sqlite3_bind_int64 (stmt, 3, g_get_real_time () - (gint64) stale_s * G_USEC_PER_SEC) !=
        SQLITE_OK)
    return db_error (self, error, "claiming publication");
  if (!step_done (stmt))
    return db_error (self, error, "claiming publication");
  return sqlite3_changes (self->db) > 0;
}

static void
we_store_sqlite_iface_init (WeStoreInterface *iface)
{
  iface->job_create = we_store_sqlite_job_create;
  iface->job_get = we_store_sqlite_job_get;
  iface->job_list = we_store_sqlite_job_list;
  iface->job_update = we_store_sqlite_job_update;
  iface->job_delete = we_store_sqlite_job_delete;
  iface->task_list = we_store_sqlite_task_list;
  iface->task_insert = we_store_sqlite_task_insert;
  iface->task_update = we_store_sqlite_task_update;
  iface->output_put = we_store_sqlite_output_put;
  iface->output_list = we_store_sqlite_output_list;
  iface->event_add = we_store_sqlite_event_add;
  iface->event_list = we_store_sqlite_event_list;
  iface->profile_list = we_store_sqlite_profile_list;
  iface->profile_get = we_store_sqlite_profile_get;
  iface->profile_put = we_store_sqlite_profile_put;
  iface->profile_delete = we_store_sqlite_profile_delete;
  iface->worker_put = we_store_sqlite_worker_put;
  iface->worker_list = we_store_sqlite_worker_list;
  iface->worker_delete = we_store_sqlite_worker_delete;
  iface->kernel_beat = we_store_sqlite_kernel_beat;
  iface->job_claim_orphans = we_store_sqlite_job_claim_orphans;
  iface->job_release_owned = we_store_sqlite_job_release_owned;
  iface->plugin_config_put = we_store_sqlite_plugin_config_put;
  iface->plugin_config_list = we_store_sqlite_plugin_config_list;
  iface->schema_version = we_store_sqlite_schema_version;
  iface->audit_add = we_store_sqlite_audit_add;
  iface->audit_list = we_store_sqlite_audit_list;
  iface->token_put = we_store_sqlite_token_put;
  iface->token_get = we_store_sqlite_token_get;
  iface->token_get_by_hash = we_store_sqlite_token_get_by_hash;
  iface->token_list = we_store_sqlite_token_list;
  iface->webhook_put = we_store_sqlite_webhook_put;
  iface->webhook_get = we_store_sqlite_webhook_get;
  iface->webhook_list = we_store_sqlite_webhook_list;
  iface->webhook_delete = we_store_sqlite_webhook_delete;
  iface->delivery_add = we_store_sqlite_delivery_add;
  iface->delivery_claim = we_store_sqlite_delivery_claim;
  iface->delivery_update = we_store_sqlite_delivery_update;
  iface->delivery_get = we_store_sqlite_delivery_get;
  iface->delivery_list = we_store_sqlite_delivery_list;
  iface->task_pipeline_put = we_store_sqlite_task_pipeline_put;
  iface->task_pipeline_list = we_store_sqlite_task_pipeline_list;
  iface->task_log_put = we_store_sqlite_task_log_put;
  iface->task_log_list = we_store_sqlite_task_log_list;
  iface->error_event_add = we_store_sqlite_error_event_add;
  iface->error_event_list = we_store_sqlite_error_event_list;
  iface->error_event_set_resolved = we_store_sqlite_error_event_set_resolved;
  iface->stream_create = we_store_sqlite_stream_create;
  iface->stream_get = we_store_sqlite_stream_get;
  iface->stream_get_by_key_hash = we_store_sqlite_stream_get_by_key_hash;
  iface->stream_list = we_store_sqlite_stream_list;
  iface->stream_update = we_store_sqlite_stream_update;
  iface->stream_delete = we_store_sqlite_stream_delete;
  iface->stream_session_put = we_store_sqlite_stream_session_put;
  iface->stream_telemetry_add = we_store_sqlite_stream_telemetry_add;
  iface->stream_telemetry_list = we_store_sqlite_stream_telemetry_list;
  iface->restream_put = we_store_sqlite_restream_put;
  iface->restream_get = we_store_sqlite_restream_get;
  iface->restream_list = we_store_sqlite_restream_list;
  iface->restream_set_state = we_store_sqlite_restream_set_state;
  iface->restream_delete = we_store_sqlite_restream_delete;
  iface->restream_claim = we_store_sqlite_restream_claim;
  iface->restream_renew = we_store_sqlite_restream_renew;
  iface->restream_report = we_store_sqlite_restream_report;
  iface->stream_session_list = we_store_sqlite_stream_session_list;
  iface->publication_put = we_store_sqlite_publication_put;
  iface->publication_get = we_store_sqlite_publication_get;
  iface->publication_list = we_store_sqlite_publication_list;
  iface->publication_claim = we_store_sqlite_publication_claim;
}
