/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <poll.h>
#include <string.h>

#include <libpq-fe.h>

#include "store/we-store-pg.h"
#include "we-store-resources.h"

#define MIGRATIONS_PATH "/org/webencode/store/migrations/postgresql"

/* one for the store thread, one for synchronous callers (startup, tools,
 * tests) and one spare, so a slow list never stalls the progress writes */
#define POOL_SIZE 3

/* any constant will do as long as every webencoded uses the same one; the
 * lock is per database, so stores on other databases never wait for it */
#define MIGRATION_LOCK_KEY "6059185141349990400"

/* libpq waits forever for an unreachable host unless told otherwise; the URL
 * may still set its own connect_timeout */
#define CONNECT_TIMEOUT_S "10"

#define JOB_LIST_DEFAULT_LIMIT 50
#define JOB_LIST_MAX_LIMIT     500

#define MAX_PARAMS 24

#define SQLSTATE_FOREIGN_KEY_VIOLATION "23503"
#define SQLSTATE_UNIQUE_VIOLATION      "23505"

typedef struct _PgConn PgConn;

struct _PgConn {
  WeStorePg  *owner;     /* unowned: the pool outlives every lease */
  PGconn     *conn;      /* NULL until first needed */
  GHashTable *prepared;  /* names of the statements this session has prepared */
  gboolean    busy;      /* leased to one thread */
};

struct _WeStorePg {
  GObject  parent_instance;
  gchar   *url;          /* holds the password: for libpq only, never shown */
  gchar   *display;      /* the URL without password or query, for messages */
  gchar  **secrets;      /* spellings of the password to scrub from messages */
  GMutex   mutex;        /* guards the busy flags */
  GCond    cond;         /* signalled when a connection comes back */
  PgConn   pool[POOL_SIZE];
  gint     schema_version;
};

static void we_store_pg_iface_init (WeStoreInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (WeStorePg, we_store_pg, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (WE_TYPE_STORE, we_store_pg_iface_init))

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PGresult, PQclear)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PQconninfoOption, PQconninfoFree)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeWorkerRecord, we_worker_record_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (WePluginConfig, we_plugin_config_free)

/* --- messages ------------------------------------------------------------------ */

/* libpq and the server may quote what they were given (a malformed percent
 * escape, say), so every message leaving this file goes through here */
static gchar *
scrub (WeStorePg *self, const gchar *message)
{
  g_autoptr(GString) s = g_string_new (message != NULL ? message : "unknown error");

  for (guint i = 0; self->secrets != NULL && self->secrets[i] != NULL; i++)
    g_string_replace (s, self->secrets[i], "***", 0);
  while (s->len > 0 && g_ascii_isspace (s->str[s->len - 1]))
    g_string_truncate (s, s->len - 1);
  return g_string_free (g_steal_pointer (&s), FALSE);
}

static gboolean
set_db_error (WeStorePg *self, GError **error, const gchar *what, const gchar *detail)
{
  g_autofree gchar *clean = scrub (self, detail);

  g_set_error (error, WE_ERROR, WE_ERROR_SYS_DATABASE, "%s: %s", what, clean);
  return FALSE;
}

/* NOTICEs (e.g. "relation already exists, skipping") would go to stderr */
static void
notice_processor (void *arg, const char *message)
{
  WeStorePg *self = arg;
  g_autofree gchar *clean = scrub (self, message);

  g_debug ("server notice: %s", clean);
}

/* --- the pool --------------------------------------------------------------------- */

static gboolean
pg_conn_open (WeStorePg *self, PgConn *c, GError **error)
{
  /* later entries win: defaults before the URL, what we depend on after it */
  const gchar *const keywords[] = {
    "connect_timeout", "application_name", "dbname", "client_encoding", NULL
  };
  const gchar *const values[] = {
    CONNECT_TIMEOUT_S, "webencoded", self->url, "UTF8", NULL
  };
  PGconn *conn = PQconnectdbParams (keywords, values, 1);

  if (conn == NULL) {
    g_set_error (error, WE_ERROR, WE_ERROR_SYS_DATABASE, "connecting to %s: out of memory",
                 self->display);
    return FALSE;
  }
  if (PQstatus (conn) != CONNECTION_OK) {
    g_autofree gchar *what = g_strdup_printf ("connecting to %s", self->display);

    set_db_error (self, error, what, PQerrorMessage (conn));
    PQfinish (conn);
    return FALSE;
  }
  PQsetNoticeProcessor (conn, notice_processor, self);
  c->conn = conn;
  g_hash_table_remove_all (c->prepared);
  return TRUE;
}

static gboolean
pg_conn_reset (WeStorePg *self, PgConn *c, GError **error)
{
  g_debug ("reconnecting to %s", self->display);
  /* prepared statements died with the old session */
  g_hash_table_remove_all (c->prepared);
  PQreset (c->conn);
  if (PQstatus (c->conn) != CONNECTION_OK) {
    g_autofree gchar *what = g_strdup_printf ("database %s unavailable", self->display);
    return set_db_error (self, error, what, PQerrorMessage (c->conn));
  }
  return TRUE;
}

/* Makes sure the leased connection is usable before anything is sent on it. */
static gboolean
pg_conn_check (WeStorePg *self, PgConn *c, GError **error)
{
  if (c->conn == NULL)
    return pg_conn_open (self, c, error);

  /* A backend that was terminated or shut down while we were idle has sent
   * its goodbye and closed the socket; reading it now (without blocking)
   * turns the status to BAD, so we reconnect before sending a statement that
   * could otherwise fail half-way with its outcome unknown. */
  for (guint i = 0; i < 8 && PQstatus (c->conn) == CONNECTION_OK; i++) {
    struct pollfd pfd = { PQsocket (c->conn), POLLIN, 0 };

    /* one read takes the goodbye message, the next one sees the EOF */
    if (poll (&pfd, 1, 0) <= 0)
      break;
    PQconsumeInput (c->conn);
  }
  if (PQstatus (c->conn) != CONNECTION_OK)
    return pg_conn_reset (self, c, error);
  return TRUE;
}

static void
pool_release (PgConn *c)
{
  WeStorePg *self = c->owner;

  /* the next lease must start outside any transaction a failed caller left */
  if (c->conn != NULL && PQstatus (c->conn) == CONNECTION_OK &&
      PQtransactionStatus (c->conn) != PQTRANS_IDLE) {
    PGresult *res = PQexec (c->conn, "ROLLBACK");
    PQclear (res);
  }
  g_mutex_lock (&self->mutex);
  c->busy = FALSE;
  g_cond_signal (&self->cond);
  g_mutex_unlock (&self->mutex);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PgConn, pool_release)

/* Leases a connected session; release it with pool_release() (g_autoptr). */
static PgConn *
pool_acquire (WeStorePg *self, GError **error)
{
  PgConn *c = NULL;

  g_mutex_lock (&self->mutex);
  while (c == NULL) {
    /* an open session first: a new one costs a connection round trip */
    for (guint i = 0; i < POOL_SIZE && c == NULL; i++) {
      if (!self->pool[i].busy && self->pool[i].conn != NULL)
        c = &self->pool[i];
    }
    for (guint i = 0; i < POOL_SIZE && c == NULL; i++) {
      if (!self->pool[i].busy)
        c = &self->pool[i];
    }
    if (c == NULL)
      g_cond_wait (&self->cond, &self->mutex);
  }
  c->busy = TRUE;
  g_mutex_unlock (&self->mutex);

  /* connecting happens outside the lock, so others keep their sessions */
  if (!pg_conn_check (self, c, error)) {
    pool_release (c);
    return NULL;
  }
  return c;
}

/* --- parameters ------------------------------------------------------------------- */

/* Values travel as text parameters, never inside the SQL. */
typedef struct {
  const gchar *values[MAX_PARAMS];
  gchar       *owned[MAX_PARAMS];
  gint         n;
} Params;

static void
params_clear (Params *p)
{
  for (gint i = 0; i < p->n; i++)
    g_free (p->owned[i]);
  p->n = 0;
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Params, params_clear)

static void
param_text (Params *p, const gchar *value)
{
  g_assert (p->n < MAX_PARAMS);
  p->owned[p->n] = NULL;
  p->values[p->n++] = value;
}

static void
param_take (Params *p, gchar *value)
{
  g_assert (p->n < MAX_PARAMS);
  p->owned[p->n] = value;
  p->values[p->n++] = value;
}

static void
param_null (Params *p)
{
  param_text (p, NULL);
}

static void
param_int64 (Params *p, gint64 value)
{
  param_take (p, g_strdup_printf ("%" G_GINT64_FORMAT, value));
}

static void
param_double (Params *p, gdouble value)
{
  gchar buf[G_ASCII_DTOSTR_BUF_SIZE];

  /* shortest text that reads back as the same double, in any locale */
  param_take (p, g_strdup (g_ascii_dtostr (buf, sizeof (buf), value)));
}

static void
param_bool (Params *p, gboolean value)
{
  param_text (p, value ? "t" : "f");
}

/* "not yet" (0) and "unknown" (negative) are NULL in the table */
static void
param_positive_or_null (Params *p, gint64 value)
{
  if (value > 0)
    param_int64 (p, value);
  else
    param_null (p);
}

static void
param_json (Params *p, JsonObject *object, const gchar *fallback)
{
  g_autoptr(JsonNode) node = NULL;

  if (object == NULL) {
    param_take (p, g_strdup (fallback));
    return;
  }
  node = json_node_init_object (json_node_alloc (), object);
  param_take (p, json_to_string (node, FALSE));
}

/* --- statements --------------------------------------------------------------------- */

typedef struct {
  const gchar *name;       /* unique per SQL text: prepared once per session */
  const gchar *sql;
  gboolean     read_only;  /* safe to run again when the first try lost the server */
} Statement;

static gboolean
result_ok (const PGresult *res)
{
  ExecStatusType status = PQresultStatus (res);

  return status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK;
}

/* Runs @stmt with @params. A row referencing a missing job (foreign key)
 * reports WE_ERROR_JOB_NOT_FOUND for @fk_job_id when that is set. On failure
 * @sqlstate_out (nullable, 6 bytes) receives the server's SQLSTATE, or "",
 * for callers that give some constraint its own error. */
static PGresult *
pg_query_state (PgConn *c, const Statement *stmt, const Params *params, const gchar *what,
                const gchar *fk_job_id, gchar *sqlstate_out, GError **error)
{
  WeStorePg *self = c->owner;

  for (guint attempt = 0;; attempt++) {
    gboolean idle = PQtransactionStatus (c->conn) == PQTRANS_IDLE;
    g_autoptr(PGresult) res = NULL;
    const gchar *sqlstate;

    if (!g_hash_table_contains (c->prepared, stmt->name)) {
      res = PQprepare (c->conn, stmt->name, stmt->sql, 0, NULL);
      if (res != NULL && result_ok (res)) {
        g_hash_table_add (c->prepared, g_strdup (stmt->name));
        g_clear_pointer (&res, PQclear);
      }
    }
    if (res == NULL) {
      res = PQexecPrepared (c->conn, stmt->name, params != NULL ? params->n : 0,
                            params != NULL ? params->values : NULL, NULL, NULL, 0);
      if (res != NULL && result_ok (res))
        return g_steal_pointer (&res);
    }

    /* a read outside a transaction changed nothing, so after a lost
     * connection one more try on a fresh session is safe */
    if (attempt == 0 && idle && stmt->read_only && PQstatus (c->conn) == CONNECTION_BAD &&
        pg_conn_reset (self, c, NULL))
      continue;

    sqlstate = res != NULL ? PQresultErrorField (res, PG_DIAG_SQLSTATE) : NULL;
    if (sqlstate_out != NULL)
      g_strlcpy (sqlstate_out, sqlstate != NULL ? sqlstate : "", 6);
    if (fk_job_id != NULL && g_strcmp0 (sqlstate, SQLSTATE_FOREIGN_KEY_VIOLATION) == 0) {
      g_set_error (error, WE_ERROR, WE_ERROR_JOB_NOT_FOUND, "job %s not found", fk_job_id);
      return NULL;
    }
    set_db_error (self, error, what,
                  res != NULL ? PQresultErrorMessage (res) : PQerrorMessage (c->conn));
    return NULL;
  }
}

static PGresult *
pg_query (PgConn *c, const Statement *stmt, const Params *params, const gchar *what,
          const gchar *fk_job_id, GError **error)
{
  return pg_query_state (c, stmt, params, what, fk_job_id, NULL, error);
}

/* Runs SQL that carries no values: transaction control and migrations. */
static gboolean
pg_exec (PgConn *c, const gchar *sql, const gchar *what, GError **error)
{
  g_autoptr(PGresult) res = PQexec (c->conn, sql);

  if (res != NULL && result_ok (res))
    return TRUE;
  return set_db_error (c->owner, error, what,
                       res != NULL ? PQresultErrorMessage (res) : PQerrorMessage (c->conn));
}

static gboolean
pg_begin (PgConn *c, const gchar *sql, GError **error)
{
  g_autoptr(GError) error_local = NULL;

  if (pg_exec (c, sql, "starting transaction", &error_local))
    return TRUE;
  if (PQstatus (c->conn) != CONNECTION_BAD) {
    g_propagate_error (error, g_steal_pointer (&error_local));
    return FALSE;
  }
  /* BEGIN itself changes nothing, so it may run again on a fresh session */
  if (!pg_conn_reset (c->owner, c, error))
    return FALSE;
  return pg_exec (c, sql, "starting transaction", error);
}

static gboolean
pg_commit (PgConn *c, GError **error)
{
  /* a failed COMMIT rolls back by itself; pool_release() tidies the rest */
  if (!pg_exec (c, "COMMIT", "committing", error))
    return FALSE;
  return TRUE;
}

static gboolean
affected_none (const PGresult *res)
{
  return g_strcmp0 (PQcmdTuples ((PGresult *) res), "0") == 0;
}

/* --- columns ------------------------------------------------------------------------- */

static gchar *
col_text (const PGresult *res, gint row, gint col)
{
  if (PQgetisnull (res, row, col))
    return NULL;
  return g_strdup (PQgetvalue (res, row, col));
}

static gint64
col_int64_or (const PGresult *res, gint row, gint col, gint64 null_value)
{
  if (PQgetisnull (res, row, col))
    return null_value;
  return g_ascii_strtoll (PQgetvalue (res, row, col), NULL, 10);
}

static gint64
col_int64 (const PGresult *res, gint row, gint col)
{
  return col_int64_or (res, row, col, 0);
}

static gdouble
col_double (const PGresult *res, gint row, gint col)
{
  if (PQgetisnull (res, row, col))
    return 0;
  return g_ascii_strtod (PQgetvalue (res, row, col), NULL);
}

static gboolean
col_bool (const PGresult *res, gint row, gint col)
{
  return !PQgetisnull (res, row, col) && PQgetvalue (res, row, col)[0] == 't';
}

/* NULL stays NULL; anything but a JSON object is an error */
static gboolean
col_json (const PGresult *res, gint row, gint col, JsonObject **out, GError **error)
{
  g_autoptr(JsonParser) parser = NULL;
  g_autoptr(GError) error_local = NULL;
  JsonNode *root;

  *out = NULL;
  if (PQgetisnull (res, row, col))
    return TRUE;
  parser = json_parser_new_immutable ();
  if (!json_parser_load_from_data (parser, PQgetvalue (res, row, col), -1, &error_local)) {
    g_set_error (error, WE_ERROR, WE_ERROR_SYS_DATABASE, "column %s holds invalid JSON: %s",
                 PQfname (res, col), error_local->message);
    return FALSE;
  }
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root)) {
    g_set_error (error, WE_ERROR, WE_ERROR_SYS_DATABASE, "column %s does not hold a JSON object",
                 PQfname (res, col));
    return FALSE;
  }
  *out = json_object_ref (json_node_get_object (root));
  return TRUE;
}

/* --- jobs ---------------------------------------------------------------------------- */

#define JOB_COLUMNS                                                                  \
  "j.id, j.user_id, j.source_type, j.source_url, j.profile_id, j.output_config, "   \
  "j.status, j.progress_pct, j.fps, j.speed, j.eta_seconds, j.error_code, "          \
  "j.error_message, j.assigned_to_worker_id, j.retry_of, j.media_info, "             \
  "j.created_at, j.updated_at, j.started_at, j.finished_at, "                        \
  "(SELECT COUNT(*) FROM tasks t WHERE t.job_id = j.id), "                           \
  "(SELECT COUNT(*) FROM tasks t WHERE t.job_id = j.id AND t.status = 'completed'), " \
  "j.priority, j.owner_kernel, j.idempotency_key"

static WeJob *
job_from_row (const PGresult *res, gint row, GError **error)
{
  g_autoptr(WeJob) job = we_job_new ();
  const gchar *status;

  job->id = col_text (res, row, 0);
  job->user_id = col_text (res, row, 1);
  job->source_type = col_text (res, row, 2);
  job->source_url = col_text (res, row, 3);
  job->profile_id = col_text (res, row, 4);
  if (!col_json (res, row, 5, &job->output_config, error))
    return NULL;
  status = PQgetvalue (res, row, 6);
  if (!we_job_status_from_string (status, &job->status)) {
    g_set_error (error, WE_ERROR, WE_ERROR_SYS_DATABASE, "job %s has unknown status \"%s\"",
                 job->id, status);
    return NULL;
  }
  job->progress_pct = col_double (res, row, 7);
  job->fps = col_double (res, row, 8);
  job->speed = col_double (res, row, 9);
  job->eta_seconds = (gint) col_int64_or (res, row, 10, -1);
  job->error_code = col_text (res, row, 11);
  job->error_message = col_text (res, row, 12);
  job->assigned_worker_id = col_text (res, row, 13);
  job->retry_of = col_text (res, row, 14);
  if (!col_json (res, row, 15, &job->media_info, error))
    return NULL;
  job->created_at = col_int64 (res, row, 16);
  job->updated_at = col_int64 (res, row, 17);
  job->started_at = col_int64 (res, row, 18);
  job->finished_at = col_int64 (res, row, 19);
  job->tasks_total = (gint) col_int64 (res, row, 20);
  job->tasks_completed = (gint) col_int64 (res, row, 21);
  job->priority = (gint) col_int64 (res, row, 22);
  job->owner_kernel = col_text (res, row, 23);
  job->idempotency_key = col_text (res, row, 24);
  return g_steal_pointer (&job);
}

/* the columns from user_id to priority, shared by INSERT and UPDATE */
static void
param_job_body (Params *p, const WeJob *job)
{
  param_text (p, job->user_id);
  param_text (p, job->source_type != NULL ? job->source_type : "url");
  param_text (p, job->source_url);
  param_text (p, job->profile_id);
  param_json (p, job->output_config, "{}");
  param_text (p, we_job_status_to_string (job->status));
  param_double (p, job->progress_pct);
  param_double (p, job->fps);
  param_double (p, job->speed);
  if (job->eta_seconds >= 0)
    param_int64 (p, job->eta_seconds);
  else
    param_null (p);
  param_text (p, job->error_code);
  param_text (p, job->error_message);
  param_text (p, job->assigned_worker_id);
  param_text (p, job->retry_of);
  param_json (p, job->media_info, NULL);
  param_int64 (p, CLAMP (job->priority, 0, 100));
}

#define TASK_COLUMNS                                                                  \
  "id, job_id, sequence_index, kind, start_time_sec, end_time_sec, "                  \
  "assigned_worker_id, attempt_count, max_attempts, output_key, output_size_bytes, " \
  "status, progress_pct, error_code, error_message, not_before, updated_at"

/* the columns from sequence_index to updated_at */
static void
param_task_body (Params *p, const WeTask *task)
{
  param_int64 (p, task->sequence_index);
  param_text (p, task->kind != NULL ? task->kind : "transcode");
  param_double (p, task->start_time_sec);
  param_double (p, task->end_time_sec);
  param_text (p, task->assigned_worker_id);
  param_int64 (p, task->attempt_count);
  param_int64 (p, task->max_attempts);
  param_text (p, task->output_key);
  param_int64 (p, task->output_size_bytes);
  param_text (p, we_task_status_to_string (task->status));
  param_double (p, task->progress_pct);
  param_text (p, task->error_code);
  param_text (p, task->error_message);
  param_int64 (p, task->not_before);
  param_int64 (p, task->updated_at);
}

static WeTask *
task_from_row (const PGresult *res, gint row, GError **error)
{
  g_autoptr(WeTask) task = we_task_new ();
  const gchar *status;

  task->id = col_text (res, row, 0);
  task->job_id = col_text (res, row, 1);
  task->sequence_index = (gint) col_int64 (res, row, 2);
  g_free (task->kind);
  task->kind = col_text (res, row, 3);
  task->start_time_sec = col_double (res, row, 4);
  task->end_time_sec = col_double (res, row, 5);
  task->assigned_worker_id = col_text (res, row, 6);
  task->attempt_count = (gint) col_int64 (res, row, 7);
  task->max_attempts = (gint) col_int64 (res, row, 8);
  task->output_key = col_text (res, row, 9);
  task->output_size_bytes = col_int64 (res, row, 10);
  status = PQgetvalue (res, row, 11);
  if (!we_task_status_from_string (status, &task->status)) {
    g_set_error (error, WE_ERROR, WE_ERROR_SYS_DATABASE, "task %s has unknown status \"%s\"",
                 task->id, status);
    return NULL;
  }
  task->progress_pct = col_double (res, row, 12);
  task->error_code = col_text (res, row, 13);
  task->error_message = col_text (res, row, 14);
  task->not_before = col_int64 (res, row, 15);
  task->updated_at = col_int64 (res, row, 16);
  return g_steal_pointer (&task);
}

static const Statement stmt_task_insert = {
  "task_insert",
  "INSERT INTO tasks (" TASK_COLUMNS ") "
  "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
  FALSE
};

/* fills in what the caller left empty, so every row has an id and times */
static gboolean
task_insert_leased (PgConn *c, WeTask *task, GError **error)
{
  g_auto(Params) p = { 0 };
  g_autoptr(PGresult) res = NULL;

  if (task->id == NULL)
    task->id = we_uuid_new ();
  if (task->updated_at == 0)
    task->updated_at = g_get_real_time ();

  param_text (&p, task->id);
  param_text (&p, task->job_id);
  param_task_body (&p, task);
  res = pg_query (c, &stmt_task_insert, &p, "inserting task", task->job_id, error);
  return res != NULL;
}

static const Statement stmt_job_insert = {
  "job_insert",
  "INSERT INTO jobs (id, user_id, source_type, source_url, profile_id, output_config, "
  "status, progress_pct, fps, speed, eta_seconds, error_code, error_message, "
  "assigned_to_worker_id, retry_of, media_info, priority, created_at, updated_at, "
  "started_at, finished_at, owner_kernel, idempotency_key) "
  "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, "
  "$18, $19, $20, $21, $22, $23) "
  "ON CONFLICT (user_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING",
  FALSE
};

static gboolean
we_store_pg_job_create (WeStore *store, WeJob *job, GPtrArray *tasks, GError **error)
{
  WeStorePg *self = WE_STORE_PG (store);
  g_autoptr(PgConn) c = NULL;
  g_auto(Params) p = { 0 };
  g_autoptr(PGresult) res = NULL;

  if (job->id == NULL)
    job->id = we_uuid_new ();
  if (job->created_at == 0)
    job->created_at = g_get_real_time ();
  if (job->updated_at == 0)
    job->updated_at = job->created_at;

  c = pool_acquire (self, error);
  if (c == NULL)
    return FALSE;
  if (!pg_begin (c, "BEGIN", error)) {
    g_prefix_error (error, "creating job: ");
    return FALSE;
  }
  param_text (&p, job->id);
  param_job_body (&p, job);
  param_int64 (&p, job->created_at);
  param_int64 (&p, job->updated_at);
  param_positive_or_null (&p, job->started_at);
  param_positive_or_null (&p, job->finished_at);
  param_text (&p, job->owner_kernel);
  param_text (&p, job->idempotency_key);
  res = pg_query (c, &stmt_job_insert, &p, "inserting job", NULL, error);
  if (res == NULL)
    return FALSE;   /* pool_release() rolls back */
  if (affected_none (res)) {
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
    if (!task_insert_leased (c, task, error))
      return FALSE;
  }
  if (!pg_commit (c, error))
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

static const Statement stmt_job_get = {
  "job_get", "SELECT " JOB_COLUMNS " FROM jobs j WHERE j.id = $1", TRUE
};

static WeJob *
we_store_pg_job_get (WeStore *store, const gchar *id, GError **error)
{
  WeStorePg *self = WE_STORE_PG (store);
  g_autoptr(PgConn) c = pool_acquire (self, error);
  g_auto(Params) p = { 0 };
  g_autoptr(PGresult) res = NULL;

  if (c == NULL)
    return NULL;
  param_text (&p, id);
  res = pg_query (c, &stmt_job_get, &p, "reading job", NULL, error);
  if (res == NULL)
    return NULL;
  if (PQntuples (res) == 0) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_NOT_FOUND, "job %s not found", id);
    return NULL;
  }
  return job_from_row (res, 0, error);
}

/* LIKE treats % and _ as wildcards; a search box means them literally.
 * Backslash is PostgreSQL's default LIKE escape, so no ESCAPE clause (whose
 * literal would depend on standard_conforming_strings) is needed. */
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

enum {
  FILTER_STATUS = 1 << 0,
  FILTER_USER   = 1 << 1,
  FILTER_SEARCH = 1 << 2,
  FILTER_OWNER  = 1 << 3,
  FILTER_KEY    = 1 << 4,
};

/* Appends the WHERE clause for @filter and its values. The SQL depends only
 * on which filters are present (a handful of shapes), so each shape is
 * prepared once per session like every other statement. */
static guint
job_filter_where (const WeJobFilter *filter, GString *sql, Params *p)
{
  guint shape = 0;

#define AND() g_string_append (sql, shape == 0 ? " WHERE " : " AND ")

  if (filter->status_mask != 0) {
    guint mask = filter->status_mask & WE_JOB_STATUS_MASK_ALL;
    GString *array = g_string_new ("{");

    /* only bits that name no status give {}: nothing matches */
    for (guint s = 0; s < WE_JOB_STATUS_LAST; s++) {
      if ((mask & WE_JOB_STATUS_MASK (s)) == 0)
        continue;
      if (array->len > 1)
        g_string_append_c (array, ',');
      g_string_append (array, we_job_status_to_string ((WeJobStatus) s));
    }
    g_string_append_c (array, '}');
    AND ();
    param_take (p, g_string_free (array, FALSE));
    g_string_append_printf (sql, "j.status = ANY ($%d::job_status[])", p->n);
    shape |= FILTER_STATUS;
  }
  if (filter->user_id != NULL) {
    AND ();
    param_text (p, filter->user_id);
    g_string_append_printf (sql, "j.user_id = $%d", p->n);
    shape |= FILTER_USER;
  }
  if (filter->search != NULL && filter->search[0] != '\0') {
    AND ();
    param_take (p, like_pattern (filter->search));
    /* ILIKE: case-insensitive like SQLite's LIKE */
    g_string_append_printf (sql, "(j.id ILIKE $%d OR j.source_url ILIKE $%d "
                                 "OR j.profile_id ILIKE $%d)", p->n, p->n, p->n);
    shape |= FILTER_SEARCH;
  }
  if (filter->owner_kernel != NULL) {
    AND ();
    param_text (p, filter->owner_kernel);
    g_string_append_printf (sql, "j.owner_kernel = $%d", p->n);
    shape |= FILTER_OWNER;
  }
  if (filter->idempotency_key != NULL) {
    AND ();
    param_text (p, filter->idempotency_key);
    g_string_append_printf (sql, "j.idempotency_key = $%d", p->n);
    shape |= FILTER_KEY;
  }
#undef AND
  return shape;
}

static GPtrArray *
job_list_leased (PgConn *c, const WeJobFilter *filter, guint *total, GError **error)
{
  g_autoptr(GString) where = g_string_new (NULL);
  g_autoptr(GPtrArray) jobs = g_ptr_array_new_with_free_func ((GDestroyNotify) we_job_unref);
  g_autoptr(PGresult) count_res = NULL;
  g_autoptr(PGresult) res = NULL;
  g_autofree gchar *count_name = NULL;
  g_autofree gchar *count_sql = NULL;
  g_autofree gchar *name = NULL;
  g_autofree gchar *sql = NULL;
  g_auto(Params) p = { 0 };
  Statement stmt = { NULL, NULL, TRUE };
  guint limit = filter->limit == 0 ? JOB_LIST_DEFAULT_LIMIT
                                   : MIN (filter->limit, JOB_LIST_MAX_LIMIT);
  guint shape;
  gint n_where;

  shape = job_filter_where (filter, where, &p);
  n_where = p.n;

  count_name = g_strdup_printf ("job_count_%u", shape);
  count_sql = g_strdup_printf ("SELECT COUNT(*) FROM jobs j%s", where->str);
  stmt.name = count_name;
  stmt.sql = count_sql;
  count_res = pg_query (c, &stmt, &p, "counting jobs", NULL, error);
  if (count_res == NULL)
    return NULL;
  if (total != NULL)
    *total = (guint) col_int64 (count_res, 0, 0);

  name = g_strdup_printf ("job_list_%u_%s", shape, filter->oldest_first ? "asc" : "desc");
  sql = g_strdup_printf ("SELECT " JOB_COLUMNS " FROM jobs j%s ORDER BY %s LIMIT $%d OFFSET $%d",
                         where->str,
                         filter->oldest_first ? "j.created_at ASC, j.id ASC"
                                              : "j.created_at DESC, j.id DESC",
                         n_where + 1, n_where + 2);
  param_int64 (&p, limit);
  param_int64 (&p, filter->offset);
  stmt.name = name;
  stmt.sql = sql;
  res = pg_query (c, &stmt, &p, "listing jobs", NULL, error);
  if (res == NULL)
    return NULL;
  for (gint row = 0; row < PQntuples (res); row++) {
    WeJob *job = job_from_row (res, row, error);
    if (job == NULL)
      return NULL;
    g_ptr_array_add (jobs, job);
  }
  return g_steal_pointer (&jobs);
}

static GPtrArray *
we_store_pg_job_list (WeStore *store, const WeJobFilter *filter, guint *total, GError **error)
{
  WeStorePg *self = WE_STORE_PG (store);
  g_autoptr(PgConn) c = pool_acquire (self, error);
  GPtrArray *jobs;

  if (c == NULL)
    return NULL;
  /* one snapshot, so the total and the page agree even while others write */
  if (!pg_begin (c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", error)) {
    g_prefix_error (error, "listing jobs: ");
    return NULL;
  }
  jobs = job_list_leased (c, filter, total, error);
  if (jobs == NULL)
    return NULL;
  if (!pg_commit (c, error)) {
    g_ptr_array_unref (jobs);
    return NULL;
  }
  return jobs;
}

static const Statement stmt_job_update = {
  "job_update",
  "UPDATE jobs SET user_id = $1, source_type = $2, source_url = $3, profile_id = $4, "
  "output_config = $5, status = $6, progress_pct = $7, fps = $8, speed = $9, "
  "eta_seconds = $10, error_code = $11, error_message = $12, assigned_to_worker_id = $13, "
  "retry_of = $14, media_info = $15, priority = $16, updated_at = $17, started_at = $18, "
  "finished_at = $19 WHERE id = $20 AND status <> 'cancelled'",
  FALSE
};

static const Statement stmt_job_exists = {
  "job_exists", "SELECT 1 FROM jobs WHERE id = $1", TRUE
};

static gboolean
we_store_pg_job_update (WeStore *store, WeJob *job, GError **error)
{
  WeStorePg *self = WE_STORE_PG (store);
  g_autoptr(PgConn) c = pool_acquire (self, error);
  g_auto(Params) p = { 0 };
  g_autoptr(PGresult) res = NULL;

  if (c == NULL)
    return FALSE;
  job->updated_at = g_get_real_time ();
  param_job_body (&p, job);
  param_int64 (&p, job->updated_at);
  param_positive_or_null (&p, job->started_at);
  param_positive_or_null (&p, job->finished_at);
  param_text (&p, job->id);
  res = pg_query (c, &stmt_job_update, &p, "updating job", NULL, error);
  if (res == NULL)
    return FALSE;
  if (affected_none (res)) {
    g_auto(Params) q = { 0 };
    g_autoptr(PGresult) exists = NULL;

    /* a cancel is final, whoever wrote it: another kernel's late progress
     * write must not bring the job back, and WE_ERROR_JOB_CANCELLED tells
     * its driver to stop it */
    param_text (&q, job->id);
    exists = pg_query (c, &stmt_job_exists, &q, "reading job", NULL, error);
    if (exists == NULL)
      return FALSE;
    if (PQntuples (exists) > 0)
      g_set_error (error, WE_ERROR, WE_ERROR_JOB_CANCELLED, "job %s was cancelled", job->id);
    else
      g_set_error (error, WE_ERROR, WE_ERROR_JOB_NOT_FOUND, "job %s not found", job->id);
    return FALSE;
  }
  return TRUE;
}

static const Statement stmt_job_delete = {
  "job_delete", "DELETE FROM jobs WHERE id = $1", FALSE
};

static gboolean
we_store_pg_job_delete (WeStore *store, const gchar *id, GError **error)
{
  WeStorePg *self = WE_STORE_PG (store);
  g_autoptr(PgConn) c = pool_acquire (self, error);
  g_auto(Params) p = { 0 };
  g_autoptr(PGresult) res = NULL;

  if (c == NULL)
    return FALSE;
  /* tasks, outputs and events go with it: ON DELETE CASCADE */
  param_text (&p, id);
  res = pg_query (c, &stmt_job_delete, &p, "deleting job", NULL, error);
  if (res == NULL)
    return FALSE;
  if (affected_none (res)) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_NOT_FOUND, "job %s not found", id);
    return FALSE;
  }
  return TRUE;
}

/* --- tasks ------------------------------------------------------------------------ */

static const Statement stmt_task_list = {
  "task_list",
  "SELECT " TASK_COLUMNS " FROM tasks WHERE job_id = $1 ORDER BY sequence_index, id",
  TRUE
};

static GPtrArray *
we_store_pg_task_list (WeStore *store, const gchar *job_id, GError **error)
{
  WeStorePg *self = WE_STORE_PG (store);
  g_autoptr(PgConn) c = pool_acquire (self, error);
  g_autoptr(GPtrArray) tasks = g_ptr_array_new_with_free_func ((GDestroyNotify) we_task_unref);
  g_auto(Params) p = { 0 };
  g_autoptr(PGresult) res = NULL;

  if (c == NULL)
    return NULL;
  param_text (&p, job_id);
  res = pg_query (c, &stmt_task_list, &p, "listing tasks", NULL, error);
  if (res == NULL)
    return NULL;
  for (gint row = 0; row < PQntuples (res); row++) {
    WeTask *task = task_from_row (res, row, error);
    if (task == NULL)
      return NULL;
    g_ptr_array_add (tasks, task);
  }
  return g_steal_pointer (&tasks);
}

static gboolean
we_store_pg_task_insert (WeStore *store, WeTask *task, GError **error)
{
  WeStorePg *self = WE_STORE_PG (store);
  g_autoptr(PgConn) c = pool_acquire (self, error);

  if (c == NULL)
    return FALSE;
  return task_insert_leased (c, task, error);
}

static const Statement stmt_task_update = {
  "task_update",
  "UPDATE tasks SET sequence_index = $1, kind = $2, start_time_sec = $3, end_time_sec = $4, "
  "assigned_worker_id = $5, attempt_count = $6, max_attempts = $7, output_key = $8, "
  "output_size_bytes = $9, status = $10, progress_pct = $11, error_code = $12, "
  "error_message = $13, not_before = $14, updated_at = $15 WHERE id = $16",
  FALSE
};

static gboolean
we_store_pg_task_update (WeStore *store, WeTask *task, GError **error)
{
  WeStorePg *self = WE_STORE_PG (store);
  g_autoptr(PgConn) c = pool_acquire (self, error);
  g_auto(Params) p = { 0 };
  g_autoptr(PGresult) res = NULL;

  if (c == NULL)
    return FALSE;
  task->updated_at = g_get_real_time ();
  param_task_body (&p, task);
  param_text (&p, task->id);
  res = pg_query (c, &stmt_task_update, &p, "updating task", NULL, error);
  if (res == NULL)
    return FALSE;
  /* a task outlives nothing but its job: a missing one means the job is gone */
  if (affected_none (res)) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_NOT_FOUND, "task %s not found", task->id);
    return FALSE;
  }
  return TRUE;
}

/* --- outputs ------------------------------------------------------------------------ */

static const Statement stmt_output_put = {
  "output_put",
  "INSERT INTO job_outputs (job_id, name, type, url, content_type, size_bytes, profile_id, "
  "created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
  "ON CONFLICT (job_id, name) DO UPDATE SET type = excluded.type, url = excluded.url, "
  "content_type = excluded.content_type, size_bytes = excluded.size_bytes, "
  "profile_id = excluded.profile_id, created_at = excluded.created_at",
  FALSE
};

static gboolean
we_store_pg_output_put (WeStore *store, WeJobOutput *output, GError **error)
{
  WeStorePg *self = WE_STORE_PG (store);
  g_autoptr(PgConn) c = pool_acquire (self, error);
  g_auto(Params) p = { 0 };
  g_autoptr(PGresult) res = NULL;

  if (c == NULL)
    return FALSE;
  if (output->created_at == 0)
    output->created_at = g_get_real_time ();
  param_text (&p, output->job_id);
  param_text (&p, output->name);
  param_text (&p, output->type);
  param_text (&p, output->url);
  param_text (&p, output->content_type);
  param_int64 (&p, output->size_bytes);
  param_text (&p, output->profile_id);
  param_int64 (&p, output->created_at);
  res = pg_query (c, &stmt_output_put, &p, "storing output", output->job_id, error);
  return res != NULL;
}

static const Statement stmt_output_list = {
  "output_list",
  "SELECT job_id, name, type, url, content_type, size_bytes, profile_id, created_at "
  "FROM job_outputs WHERE job_id = $1 ORDER BY created_at, name",
  TRUE
};

static GPtrArray *
we_store_pg_output_list (WeStore *store, const gchar *job_id, GError **error)
{
  WeStorePg *self = WE_STORE_PG (store);
  g_autoptr(PgConn) c = pool_acquire (self, error);
  g_autoptr(GPtrArray) outputs =
    g_ptr_array_new_with_free_func ((GDestroyNotify) we_job_output_free);
  g_auto(Params) p = { 0 };
  g_autoptr(PGresult) res = NULL;

  if (c == NULL)
    return NULL;
  param_text (&p, job_id);
  res = pg_query (c, &stmt_output_list, &p, "listing outputs", NULL, error);
  if (res == NULL)
    return NULL;
  for (gint row = 0; row < PQntuples (res); row++) {
    WeJobOutput *output = we_job_output_new ();

    output->job_id = col_text (res, row, 0);
    output->name = col_text (res, row, 1);
    output->type = col_text (res, row, 2);
    output->url = col_text (res, row, 3);
    output->content_type = col_text (res, row, 4);
    output->size_bytes = col_int64 (res, row, 5);
    output->profile_id = col_text (res, row, 6);
    output->created_at = col_int64 (res, row, 7);
    g_ptr_array_add (outputs, output);
  }
  return g_steal_pointer (&outputs);
}

/* --- events -------------------------------------------------------------------------- */

static const Statement stmt_event_add = {
  "event_add",
  "INSERT INTO job_events (job_id, type, message, payload, created_at) "
  "VALUES ($1, $2, $3, $4, $5) RETURNING id",
  FALSE
};

static gboolean
we_store_pg_event_add (WeStore *store, WeJobEvent *event, GError **error)
{
  WeStorePg *self = WE_STORE_PG (store);
  g_autoptr(PgConn) c = pool_acquire (self, error);
  g_auto(Params) p = { 0 };
  g_autoptr(PGresult) res = NULL;

  if (c == NULL)
    return FALSE;
  if (event->created_at == 0)
    event->created_at = g_get_real_time ();
  param_text (&p, event->job_id);
  param_text (&p, event->type);
  param_text (&p, event->message);
  param_json (&p, event->payload, NULL);
  param_int64 (&p, event->created_at);
  res = pg_query (c, &stmt_event_add, &p, "adding event", event->job_id, error);
  if (res == NULL)
    return FALSE;
  event->id = PQntuples (res) > 0 ? col_int64 (res, 0, 0) : 0;
  return TRUE;
}

static const Statement stmt_event_list = {
  "event_list",
  "SELECT id, job_id, type, message, payload, created_at FROM job_events "
  "WHERE job_id = $1 ORDER BY id",
  TRUE
};

static GPtrArray *
we_store_pg_event_list (WeStore *store, const gchar *job_id, GError **error)
{
  WeStorePg *self = WE_STORE_PG (store);
  g_autoptr(PgConn) c = pool_acquire (self, error);
  g_autoptr(GPtrArray) events = g_ptr_array_new_with_free_func ((GDestroyNotify) we_job_event_free);
  g_auto(Params) p = { 0 };
  g_autoptr(PGresult) res = NULL;

  if (c == NULL)
    return NULL;
  param_text (&p, job_id);
  res = pg_query (c, &stmt_event_list, &p, "listing events", NULL, error);
  if (res == NULL)
    return NULL;
  for (gint row = 0; row < PQntuples (res); row++) {
    g_autoptr(WeJobEvent) event = we_job_event_new ();

    event->id = col_int64 (res, row, 0);
    event->job_id = col_text (res, row, 1);
    event->type = col_text (res, row, 2);
    event->message = col_text (res, row, 3);
    if (!col_json (res, row, 4, &event->payload, error))
      return NULL;
    event->created_at = col_int64 (res, row, 5);
    g_ptr_array_add (events, g_steal_pointer (&event));
  }
  return g_steal_pointer (&events);
}

/* --- profiles ------------------------------------------------------------------------ */

static WeProfile *
profile_from_row (const PGresult *res, gint row, GError **error)
{
  g_autoptr(JsonObject) json = NULL;
  g_autoptr(GError) error_local = NULL;
  WeProfile *profile;

  if (!col_json (res, row, 0, &json, error))
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
  profile->builtin = col_bool (res, row, 1);
  return profile;
}

static const Statement stmt_profile_list = {
  "profile_list",
  "SELECT profile_json, builtin, id FROM profiles ORDER BY builtin DESC, id",
  TRUE
};

static GPtrArray *
we_store_pg_profile_list (WeStore *store, GError **error)
{
  WeStorePg *self = WE_STORE_PG (store);
  g_autoptr(PgConn) c = pool_acquire (self, error);
  g_autoptr(GPtrArray) profiles =
    g_ptr_array_new_with_free_func ((GDestroyNotify) we_profile_unref);
  g_autoptr(PGresult) res = NULL;

  if (c == NULL)
    return NULL;
  res = pg_query (c, &stmt_profile_list, NULL, "listing profiles", NULL, error);
  if (res == NULL)
    return NULL;
  for (gint row = 0; row < PQntuples (res); row++) {
    g_autoptr(GError) error_local = NULL;
    WeProfile *profile = profile_from_row (res, row, &error_local);

    /* one unreadable row (say, written by a newer version) must not hide the rest */
    if (profile == NULL) {
      g_warning ("skipping profile %s: %s", PQgetvalue (res, row, 2), error_local->message);
      continue;
    }
    g_ptr_array_add (profiles, profile);
  }
  return g_steal_pointer (&profiles);
}

static const Statement stmt_profile_get = {
  "profile_get", "SELECT profile_json, builtin FROM profiles WHERE id = $1", TRUE
};

static WeProfile *
we_store_pg_profile_get (WeStore *store, const gchar *id, GError **error)
{
  WeStorePg *self = WE_STORE_PG (store);
  g_autoptr(PgConn) c = pool_acquire (self, error);
  g_auto(Params) p = { 0 };
  g_autoptr(PGresult) res = NULL;

  if (c == NULL)
    return NULL;
  param_text (&p, id);
  res = pg_query (c, &stmt_profile_get, &p, "reading profile", NULL, error);
  if (res == NULL)
    return NULL;
  if (PQntuples (res) == 0) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_PROFILE, "profile %s not found", id);
    return NULL;
  }
  return profile_from_row (res, 0, error);
}

static const Statement stmt_profile_put = {
  "profile_put",
  "INSERT INTO profiles (id, name, profile_json, builtin, created_at, updated_at) "
  "VALUES ($1, $2, $3, $4, $5, $6) "
  "ON CONFLICT (id) DO UPDATE SET name = excluded.name, "
  "profile_json = excluded.profile_json, builtin = excluded.builtin, "
  "updated_at = excluded.updated_at",
  FALSE
};

static gboolean
we_store_pg_profile_put (WeStore *store, const WeProfile *profile, GError **error)
{
  WeStorePg *self = WE_STORE_PG (store);
  g_autoptr(PgConn) c = NULL;
  g_autoptr(JsonObject) json = NULL;
  g_auto(Params) p = { 0 };
  g_autoptr(PGresult) res = NULL;
  gint64 now = g_get_real_time ();

  /* what cannot be read back must not be written */
  if (!we_profile_validate (profile, error))
    return FALSE;
  json = we_profile_to_json (profile);

  c = pool_acquire (self, error);
  if (c == NULL)
    return FALSE;
  param_text (&p, profile->id);
  param_text (&p, profile->name != NULL ? profile->name : profile->id);
  param_json (&p, json, NULL);
  param_bool (&p, profile->builtin);
  param_int64 (&p, now);
  param_int64 (&p, now);
  res = pg_query (c, &stmt_profile_put, &p, "storing profile", NULL, error);
  return res != NULL;
}

static const Statement stmt_profile_delete = {
  "profile_delete", "DELETE FROM profiles WHERE id = $1", FALSE
};

static gboolean
we_store_pg_profile_delete (WeStore *store, const gchar *id, GError **error)
{
  WeStorePg *self = WE_STORE_PG (store);
  g_autoptr(PgConn) c = pool_acquire (self, error);
  g_auto(Params) p = { 0 };
  g_autoptr(PGresult) res = NULL;

  if (c == NULL)
    return FALSE;
  param_text (&p, id);
  res = pg_query (c, &stmt_profile_delete, &p, "deleting profile", NULL, error);
  if (res == NULL)
    return FALSE;
  if (affected_none (res)) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_PROFILE, "profile %s not found", id);
    return FALSE;
  }
  return TRUE;
}

/* --- workers ---------------------------------------------------------------------------- */

/* created_at is the first registration: a re-registering worker keeps it */
static const Statement stmt_worker_put = {
  "worker_put",
  "INSERT INTO workers (id, hostname, ip_address, port, capabilities, is_healthy, "
  "is_draining, last_heartbeat, version, created_at) "
  "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
  "ON CONFLICT (id) DO UPDATE SET hostname = excluded.hostname, "
  "ip_address = excluded.ip_address, port = excluded.port, "
  "capabilities = excluded.capabilities, is_healthy = excluded.is_healthy, "
  "is_draining = excluded.is_draining, last_heartbeat = excluded.last_heartbeat, "
  "version = excluded.version",
  FALSE
};

static gboolean
we_store_pg_worker_put (WeStore *store, const WeWorkerRecord *worker, GError **error)
{
  WeStorePg *self = WE_STORE_PG (store);
  g_autoptr(PgConn) c = pool_acquire (self, error);
  g_auto(Params) p = { 0 };
  g_autoptr(PGresult) res = NULL;

  if (c == NULL)
    return FALSE;
  param_text (&p, worker->id);
  param_text (&p, worker->hostname);
  param_text (&p, worker->ip_address);
  param_int64 (&p, worker->port);
  param_json (&p, worker->capabilities, NULL);
  param_bool (&p, worker->is_healthy);
  param_bool (&p, worker->is_draining);
  param_int64 (&p, worker->last_heartbeat);
  param_text (&p, worker->version);
  param_int64 (&p, worker->created_at != 0 ? worker->created_at : g_get_real_time ());
  res = pg_query (c, &stmt_worker_put, &p, "storing worker", NULL, error);
  return res != NULL;
}

static const Statement stmt_worker_list = {
  "worker_list",
  "SELECT id, hostname, ip_address, port, capabilities, is_healthy, is_draining, "
  "last_heartbeat, version, created_at FROM workers ORDER BY id",
  TRUE
};

static GPtrArray *
we_store_pg_worker_list (WeStore *store, GError **error)
{
  WeStorePg *self = WE_STORE_PG (store);
  g_autoptr(PgConn) c = pool_acquire (self, error);
  g_autoptr(GPtrArray) workers =
    g_ptr_array_new_with_free_func ((GDestroyNotify) we_worker_record_free);
  g_autoptr(PGresult) res = NULL;

  if (c == NULL)
    return NULL;
  res = pg_query (c, &stmt_worker_list, NULL, "listing workers", NULL, error);
  if (res == NULL)
    return NULL;
  for (gint row = 0; row < PQntuples (res); row++) {
    g_autoptr(WeWorkerRecord) worker = we_worker_record_new ();

    worker->id = col_text (res, row, 0);
    worker->hostname = col_text (res, row, 1);
    worker->ip_address = col_text (res, row, 2);
    worker->port = (gint) col_int64 (res, row, 3);
    if (!col_json (res, row, 4, &worker->capabilities, error))
      return NULL;
    worker->is_healthy = col_bool (res, row, 5);
    worker->is_draining = col_bool (res, row, 6);
    worker->last_heartbeat = col_int64 (res, row, 7);
    worker->version = col_text (res, row, 8);
    worker->created_at = col_int64 (res, row, 9);
    g_ptr_array_add (workers, g_steal_pointer (&worker));
  }
  return g_steal_pointer (&workers);
}

static const Statement stmt_worker_delete = {
  "worker_delete", "DELETE FROM workers WHERE id = $1", FALSE
};

static gboolean
we_store_pg_worker_delete (WeStore *store, const gchar *id, GError **error)
{
  WeStorePg *self = WE_STORE_PG (store);
  g_autoptr(PgConn) c = pool_acquire (self, error);
  g_auto(Params) p = { 0 };
  g_autoptr(PGresult) res = NULL;

  if (c == NULL)
    return FALSE;
  param_text (&p, id);
  res = pg_query (c, &stmt_worker_delete, &p, "deleting worker", NULL, error);
  if (res == NULL)
    return FALSE;
  if (affected_none (res)) {
    g_set_error (error, WE_ERROR, WE_ERROR_WRK_NOT_FOUND, "worker %s not found", id);
    return FALSE;
  }
  return TRUE;
}

/* --- kernels and job ownership ---------------------------------------------------------- */

static const Statement stmt_kernel_beat = {
  "kernel_beat",
  "INSERT INTO kernels (id, hostname, started_at, last_seen) VALUES ($1, $2, $3, $3) "
  "ON CONFLICT (id) DO UPDATE SET hostname = excluded.hostname, last_seen = excluded.last_seen",
  FALSE
};

static gboolean
we_store_pg_kernel_beat (WeStore *store, const gchar *kernel_id, const gchar *hostname,
                         GError **error)
{
  WeStorePg *self = WE_STORE_PG (store);
  g_autoptr(PgConn) c = pool_acquire (self, error);
  g_auto(Params) p = { 0 };
  g_autoptr(PGresult) res = NULL;

  if (c == NULL)
    return FALSE;
  param_text (&p, kernel_id);
  param_text (&p, hostname);
  param_int64 (&p, g_get_real_time ());
  res = pg_query (c, &stmt_kernel_beat, &p, "recording the kernel's beat", NULL, error);
  return res != NULL;
}

static const Statement stmt_job_release_owned = {
  "job_release_owned",
  "UPDATE jobs SET owner_kernel = NULL WHERE owner_kernel = $1 "
  "AND status IN ('queued', 'processing', 'stitching', 'uploading')",
  FALSE
};

static gboolean
we_store_pg_job_release_owned (WeStore *store, const gchar *kernel_id, GError **error)
{
  WeStorePg *self = WE_STORE_PG (store);
  g_autoptr(PgConn) c = pool_acquire (self, error);
  g_auto(Params) p = { 0 };
  g_autoptr(PGresult) res = NULL;

  if (c == NULL)
    return FALSE;
  param_text (&p, kernel_id);
  res = pg_query (c, &stmt_job_release_owned, &p, "releasing jobs", NULL, error);
  return res != NULL;
}

/* SKIP LOCKED: two kernels adopting at once each take different jobs
 * instead of one waiting for the other and then taking the same ones */
static const Statement stmt_job_claim_orphans = {
  "job_claim_orphans",
  "UPDATE jobs SET owner_kernel = $1 WHERE id IN ("
  "  SELECT id FROM jobs WHERE status IN ('queued', 'processing', 'stitching', 'uploading') "
  "  AND (owner_kernel IS NULL OR (owner_kernel <> $1 AND owner_kernel NOT IN "
  "    (SELECT id FROM kernels WHERE last_seen >= $2))) "
  "  ORDER BY created_at, id LIMIT $3 FOR UPDATE SKIP LOCKED) "
  "RETURNING id",
  FALSE
};

static GPtrArray *
we_store_pg_job_claim_orphans (WeStore *store, const gchar *kernel_id, guint stale_s,
                               guint limit, GError **error)
{
  WeStorePg *self = WE_STORE_PG (store);
  g_autoptr(PgConn) c = pool_acquire (self, error);
  g_auto(Params) p = { 0 };
  g_autoptr(PGresult) res = NULL;
  GPtrArray *ids;

  if (c == NULL)
    return NULL;
  param_text (&p, kernel_id);
  param_int64 (&p, g_get_real_time () - (gint64) stale_s * G_USEC_PER_SEC);
  param_int64 (&p, MAX (limit, 1));
  res = pg_query (c, &stmt_job_claim_orphans, &p, "adopting jobs", NULL, error);
  if (res == NULL)
    return NULL;
  ids = g_ptr_array_new_with_free_func (g_free);
  for (gint row = 0; row < PQntuples (res); row++)
    g_ptr_array_add (ids, col_text (res, row, 0));
  return ids;
}

/* --- plugin configuration ----------------------------------------------------------------- */

static const Statement stmt_plugin_config_put = {
  "plugin_config_put",
  "INSERT INTO plugin_configs (id, plugin_type, config_json, is_enabled, priority, "
  "created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7) "
  "ON CONFLICT (id) DO UPDATE SET plugin_type = excluded.plugin_type, "
  "config_json = excluded.config_json, is_enabled = excluded.is_enabled, "
  "priority = excluded.priority, updated_at = excluded.updated_at",
  FALSE
};

static gboolean
we_store_pg_plugin_config_put (WeStore *store, const WePluginConfig *config, GError **error)
{
  WeStorePg *self = WE_STORE_PG (store);
  g_autoptr(PgConn) c = pool_acquire (self, error);
  g_auto(Params) p = { 0 };
  g_autoptr(PGresult) res = NULL;
  gint64 now = g_get_real_time ();

  if (c == NULL)
    return FALSE;
  param_text (&p, config->id);
  param_text (&p, config->plugin_type);
  param_json (&p, config->config, "{}");
  param_bool (&p, config->is_enabled);
  param_int64 (&p, config->priority);
  param_int64 (&p, config->created_at != 0 ? config->created_at : now);
  param_int64 (&p, config->updated_at != 0 ? config->updated_at : now);
  res = pg_query (c, &stmt_plugin_config_put, &p, "storing plugin configuration", NULL, error);
  return res != NULL;
}

/* routing (spec §6.4) walks each pillar's plugins by descending priority */
static const Statement stmt_plugin_config_list = {
  "plugin_config_list",
  "SELECT id, plugin_type, config_json, is_enabled, priority, created_at, updated_at "
  "FROM plugin_configs ORDER BY plugin_type, priority DESC, id",
  TRUE
};

static GPtrArray *
we_store_pg_plugin_config_list (WeStore *store, GError **error)
{
  WeStorePg *self = WE_STORE_PG (store);
  g_autoptr(PgConn) c = pool_acquire (self, error);
  g_autoptr(GPtrArray) configs =
    g_ptr_array_new_with_free_func ((GDestroyNotify) we_plugin_config_free);
  g_autoptr(PGresult) res = NULL;

  if (c == NULL)
    return NULL;
  res = pg_query (c, &stmt_plugin_config_list, NULL, "listing plugin configurations", NULL,
                  error);
  if (res == NULL)
    return NULL;
  for (gint row = 0; row < PQntuples (res); row++) {
    g_autoptr(WePluginConfig) config = we_plugin_config_new ();

    config->id = col_text (res, row, 0);
    config->plugin_type = col_text (res, row, 1);
    if (!col_json (res, row, 2, &config->config, error))
      return NULL;
    config->is_enabled = col_bool (res, row, 3);
    config->priority = (gint) col_int64 (res, row, 4);
    config->created_at = col_int64 (res, row, 5);
    config->updated_at = col_int64 (res, row, 6);
    g_ptr_array_add (configs, g_steal_pointer (&config));
  }
  return g_steal_pointer (&configs);
}

static gint
we_store_pg_schema_version (WeStore *store)
{
  WeStorePg *self = WE_STORE_PG (store);

  /* written once, before the store is handed out */
  return self->schema_version;
}

/* --- security records: audit log ------------------------------------------------------ */

#define AUDIT_LIST_DEFAULT_LIMIT    100
#define AUDIT_LIST_MAX_LIMIT        10000
#define DELIVERY_LIST_DEFAULT_LIMIT 100
#define DELIVERY_LIST_MAX_LIMIT     1000

static const Statement stmt_audit_add = {
  "audit_add",
  "INSERT INTO audit_log (at, user_id, username, action, resource_type, resource_id, "
  "success, status, error_code, payload_digest, client_ip, user_agent, request_id) "
  "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id",
  FALSE
};

static gboolean
we_store_pg_audit_add (WeStore *store, WeAuditEntry *entry, GError **error)
{
  WeStorePg *self = WE_STORE_PG (store);
  g_autoptr(PgConn) c = pool_acquire (self, error);
  g_auto(Params) p = { 0 };
  g_autoptr(PGresult) res = NULL;

  if (c == NULL)
    return FALSE;
  if (entry->at == 0)
    entry->at = g_get_real_time ();
  param_int64 (&p, entry->at);
  param_text (&p, entry->user_id);
  param_text (&p, entry->username);
  param_text (&p, entry->action);
  param_text (&p, entry->resource_type);
  param_text (&p, entry->resource_id);
  param_bool (&p, entry->success);
  param_int64 (&p, entry->status);
  param_text (&p, entry->error_code);
  param_text (&p, entry->payload_digest);
  param_text (&p, entry->client_ip);
  param_text (&p, entry->user_agent);
  param_text (&p, entry->request_id);
  res = pg_query (c, &stmt_audit_add, &p, "adding audit entry", NULL, error);
  if (res == NULL)
    return FALSE;
  entry->id = col_int64 (res, 0, 0);
  return TRUE;
}

#define AUDIT_COLUMNS                                                                   \
  "id, at, user_id, username, action, resource_type, resource_id, success, status, "   \
  "error_code, payload_digest, client_ip, user_agent, request_id"

static WeAuditEntry *
audit_from_row (const PGresult *res, gint row)
{
  WeAuditEntry *entry = we_audit_entry_new ();

  entry->id = col_int64 (res, row, 0);
  entry->at = col_int64 (res, row, 1);
  entry->user_id = col_text (res, row, 2);
  entry->username = col_text (res, row, 3);
  entry->action = col_text (res, row, 4);
  entry->resource_type = col_text (res, row, 5);
  entry->resource_id = col_text (res, row, 6);
  entry->success = col_bool (res, row, 7);
  entry->status = (gint) col_int64 (res, row, 8);
  entry->error_code = col_text (res, row, 9);
  entry->payload_digest = col_text (res, row, 10);
  entry->client_ip = col_text (res, row, 11);
  entry->user_agent = col_text (res, row, 12);
  entry->request_id = col_text (res, row, 13);
  return entry;
}

enum {
  AUDIT_USER          = 1 << 0,
  AUDIT_ACTION        = 1 << 1,
  AUDIT_ACTION_PREFIX = 1 << 2,
  AUDIT_RESOURCE_TYPE = 1 << 3,
  AUDIT_RESOURCE_ID   = 1 << 4,
  AUDIT_SINCE         = 1 << 5,
  AUDIT_UNTIL         = 1 << 6,
};

/* Like job_filter_where: the SQL depends only on which filters are present. */
static guint
audit_filter_where (const WeAuditFilter *filter, GString *sql, Params *p)
{
  guint shape = 0;

#define AND() g_string_append (sql, shape == 0 ? " WHERE " : " AND ")

  if (filter->user != NULL) {
    AND ();
    param_text (p, filter->user);
    g_string_append_printf (sql, "(user_id = $%d OR username = $%d)", p->n, p->n);
    shape |= AUDIT_USER;
  }
  if (filter->action != NULL && g_str_has_suffix (filter->action, ".")) {
    gchar *upper = g_strdup (filter->action);

    /* a prefix is the byte range [ "job.", "job/" ) under the column's "C"
     * collation: no LIKE wildcards to escape, and the index answers it */
    upper[strlen (upper) - 1] = '.' + 1;
    AND ();
    param_text (p, filter->action);
    param_take (p, upper);
    g_string_append_printf (sql, "action >= $%d AND action < $%d", p->n - 1, p->n);
    shape |= AUDIT_ACTION_PREFIX;
  } else if (filter->action != NULL) {
    AND ();
    param_text (p, filter->action);
    g_string_append_printf (sql, "action = $%d", p->n);
    shape |= AUDIT_ACTION;
  }
  if (filter->resource_type != NULL) {
    AND ();
    param_text (p, filter->resource_type);
    g_string_append_printf (sql, "resource_type = $%d", p->n);
    shape |= AUDIT_RESOURCE_TYPE;
  }
  if (filter->resource_id != NULL) {
    AND ();
    param_text (p, filter->resource_id);
    g_string_append_printf (sql, "resource_id = $%d", p->n);
    shape |= AUDIT_RESOURCE_ID;
  }
  if (filter->since != 0) {
    AND ();
    param_int64 (p, filter->since);
    g_string_append_printf (sql, "at >= $%d", p->n);
    shape |= AUDIT_SINCE;
  }
  if (filter->until != 0) {
    AND ();
    param_int64 (p, filter->until);
    g_string_append_printf (sql, "at < $%d", p->n);
    shape |= AUDIT_UNTIL;
  }
#undef AND
  return shape;
}

static GPtrArray *
audit_list_leased (PgConn *c, const WeAuditFilter *filter, guint *total, GError **error)
{
  g_autoptr(GString) where = g_string_new (NULL);
  g_autoptr(GPtrArray) entries =
    g_ptr_array_new_with_free_func ((GDestroyNotify) we_audit_entry_free);
  g_autoptr(PGresult) count_res = NULL;
  g_autoptr(PGresult) res = NULL;
  g_autofree gchar *count_name = NULL;
  g_autofree gchar *count_sql = NULL;
  g_autofree gchar *name = NULL;
  g_autofree gchar *sql = NULL;
  g_auto(Params) p = { 0 };
  Statement stmt = { NULL, NULL, TRUE };
  guint limit = filter->limit == 0 ? AUDIT_LIST_DEFAULT_LIMIT
                                   : MIN (filter->limit, AUDIT_LIST_MAX_LIMIT);
  guint shape;
  gint n_where;

  shape = audit_filter_where (filter, where, &p);
  n_where = p.n;

  count_name = g_strdup_printf ("audit_count_%u", shape);
  count_sql = g_strdup_printf ("SELECT COUNT(*) FROM audit_log%s", where->str);
  stmt.name = count_name;
  stmt.sql = count_sql;
  count_res = pg_query (c, &stmt, &p, "counting audit entries", NULL, error);
  if (count_res == NULL)
    return NULL;
  if (total != NULL)
    *total = (guint) col_int64 (count_res, 0, 0);

  name = g_strdup_printf ("audit_list_%u", shape);
  sql = g_strdup_printf ("SELECT " AUDIT_COLUMNS " FROM audit_log%s "
                         "ORDER BY at DESC, id DESC LIMIT $%d OFFSET $%d",
                         where->str, n_where + 1, n_where + 2);
  param_int64 (&p, limit);
  param_int64 (&p, filter->offset);
  stmt.name = name;
  stmt.sql = sql;
  res = pg_query (c, &stmt, &p, "listing audit entries", NULL, error);
  if (res == NULL)
    return NULL;
  for (gint row = 0; row < PQntuples (res); row++)
    g_ptr_array_add (entries, audit_from_row (res, row));
  return g_steal_pointer (&entries);
}

static GPtrArray *
we_store_pg_audit_list (WeStore *store, const WeAuditFilter *filter, guint *total,
                        GError **error)
{
  WeStorePg *self = WE_STORE_PG (store);
  g_autoptr(PgConn) c = pool_acquire (self, error);
  GPtrArray *entries;

  if (c == NULL)
    return NULL;
  /* one snapshot, so the total and the page agree */
  if (!pg_begin (c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", error)) {
    g_prefix_error (error, "listing audit entries: ");
    return NULL;
  }
  entries = audit_list_leased (c, filter, total, error);
  if (entries == NULL)
    return NULL;
  if (!pg_commit (c, error)) {
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
token_from_row (const PGresult *res, gint row)
{
  WeApiToken *token = we_api_token_new ();

  token->id = col_text (res, row, 0);
  token->name = col_text (res, row, 1);
  token->token_hash = col_text (res, row, 2);
  token->prefix = col_text (res, row, 3);
  token->user_id = col_text (res, row, 4);
  token->username = col_text (res, row, 5);
  token->role = we_role_from_string (PQgetvalue (res, row, 6));
  token->created_by = col_text (res, row, 7);
  token->created_at = col_int64 (res, row, 8);
  token->expires_at = col_int64 (res, row, 9);
  token->last_used_at = col_int64 (res, row, 10);
  token->revoked_at = col_int64 (res, row, 11);
  return token;
}

static const Statement stmt_token_put = {
  "token_put",
  "INSERT INTO api_tokens (" TOKEN_COLUMNS ") "
  "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) "
  "ON CONFLICT (id) DO UPDATE SET name = excluded.name, token_hash = excluded.token_hash, "
  "prefix = excluded.prefix, user_id = excluded.user_id, username = excluded.username, "
  "role = excluded.role, created_by = excluded.created_by, created_at = excluded.created_at, "
  "expires_at = excluded.expires_at, last_used_at = excluded.last_used_at, "
  "revoked_at = excluded.revoked_at",
  FALSE
};

static gboolean
we_store_pg_token_put (WeStore *store, const WeApiToken *token, GError **error)
{
  WeStorePg *self = WE_STORE_PG (store);
  g_autoptr(PgConn) c = pool_acquire (self, error);
  g_auto(Params) p = { 0 };
  g_autoptr(PGresult) res = NULL;
  g_autoptr(GError) error_local = NULL;
  gchar sqlstate[6] = "";

  if (c == NULL)
    return FALSE;
  param_text (&p, token->id);
  param_text (&p, token->name);
  param_text (&p, token->token_hash);
  param_text (&p, token->prefix);
  param_text (&p, token->user_id);
  param_text (&p, token->username);
  param_text (&p, we_role_to_string (token->role));
  param_text (&p, token->created_by);
  param_int64 (&p, token->created_at != 0 ? token->created_at : g_get_real_time ());
  param_positive_or_null (&p, token->expires_at);
  param_positive_or_null (&p, token->last_used_at);
  param_positive_or_null (&p, token->revoked_at);
  res = pg_query_state (c, &stmt_token_put, &p, "storing token", NULL, sqlstate, &error_local);
  if (res != NULL)
    return TRUE;
  if (g_str_equal (sqlstate, SQLSTATE_UNIQUE_VIOLATION)) {
    g_set_error (error, WE_ERROR, WE_ERROR_SYS_CONFLICT,
                 "another token has the same hash as token %s", token->id);
    return FALSE;
  }
  g_propagate_error (error, g_steal_pointer (&error_local));
  return FALSE;
}

static const Statement stmt_token_get = {
  "token_get", "SELECT " TOKEN_COLUMNS " FROM api_tokens WHERE id = $1", TRUE
};

static const Statement stmt_token_get_by_hash = {
  "token_get_by_hash", "SELECT " TOKEN_COLUMNS " FROM api_tokens WHERE token_hash = $1", TRUE
};

static WeApiToken *
token_get_by (WeStorePg *self, const Statement *stmt, const gchar *value, gboolean by_id,
              GError **error)
{
  g_autoptr(PgConn) c = pool_acquire (self, error);
  g_auto(Params) p = { 0 };
  g_autoptr(PGresult) res = NULL;

  if (c == NULL)
    return NULL;
  param_text (&p, value);
  res = pg_query (c, stmt, &p, "reading token", NULL, error);
  if (res == NULL)
    return NULL;
  if (PQntuples (res) == 0) {
    /* never the hash in the message: it is as good as a name for the secret */
    if (by_id)
      g_set_error (error, WE_ERROR, WE_ERROR_SYS_NOT_FOUND, "token %s not found", value);
    else
      g_set_error_literal (error, WE_ERROR, WE_ERROR_SYS_NOT_FOUND, "no such token");
    return NULL;
  }
  return token_from_row (res, 0);
}

static WeApiToken *
we_store_pg_token_get (WeStore *store, const gchar *id, GError **error)
{
  return token_get_by (WE_STORE_PG (store), &stmt_token_get, id, TRUE, error);
}

static WeApiToken *
we_store_pg_token_get_by_hash (WeStore *store, const gchar *token_hash, GError **error)
{
  return token_get_by (WE_STORE_PG (store), &stmt_token_get_by_hash, token_hash, FALSE, error);
}

static const Statement stmt_token_list = {
  "token_list",
  "SELECT " TOKEN_COLUMNS " FROM api_tokens ORDER BY created_at DESC, id DESC",
  TRUE
};

static GPtrArray *
we_store_pg_token_list (WeStore *store, GError **error)
{
  WeStorePg *self = WE_STORE_PG (store);
  g_autoptr(PgConn) c = pool_acquire (self, error);
  g_autoptr(GPtrArray) tokens = g_ptr_array_new_with_free_func ((GDestroyNotify) we_api_token_free);
  g_autoptr(PGresult) res = NULL;

  if (c == NULL)
    return NULL;
  res = pg_query (c, &stmt_token_list, NULL, "listing tokens", NULL, error);
  if (res == NULL)
    return NULL;
  for (gint row = 0; row < PQntuples (res); row++)
    g_ptr_array_add (tokens, token_from_row (res, row));
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

/* NULL reads back as an empty array; anything but an array is an error */
static gboolean
col_json_array (const PGresult *res, gint row, gint col, JsonArray **out, GError **error)
{
  g_autoptr(JsonParser) parser = NULL;
  g_autoptr(GError) error_local = NULL;
  JsonNode *root;

  *out = NULL;
  if (PQgetisnull (res, row, col)) {
    *out = json_array_new ();
    return TRUE;
  }
  parser = json_parser_new ();
  if (!json_parser_load_from_data (parser, PQgetvalue (res, row, col), -1, &error_local)) {
    g_set_error (error, WE_ERROR, WE_ERROR_SYS_DATABASE, "column %s holds invalid JSON: %s",
                 PQfname (res, col), error_local->message);
    return FALSE;
  }
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_ARRAY (root)) {
    g_set_error (error, WE_ERROR, WE_ERROR_SYS_DATABASE, "column %s does not hold a JSON array",
                 PQfname (res, col));
    return FALSE;
  }
  *out = json_array_ref (json_node_get_array (root));
  return TRUE;
}

/* [] reads back as NULL: "every event" */
static gboolean
col_strv (const PGresult *res, gint row, gint col, gchar ***out, GError **error)
{
  g_autoptr(JsonArray) array = NULL;
  g_autoptr(GStrvBuilder) builder = NULL;

  *out = NULL;
  if (!col_json_array (res, row, col, &array, error))
    return FALSE;
  if (json_array_get_length (array) == 0)
    return TRUE;
  builder = g_strv_builder_new ();
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

#define WEBHOOK_COLUMNS                                                                  \
  "id, url, events, description, secret_salt, secret_ref, job_id, user_id, enabled, "   \
  "created_at, updated_at"

static WeWebhook *
webhook_from_row (const PGresult *res, gint row, GError **error)
{
  g_autoptr(WeWebhook) webhook = we_webhook_new ();

  webhook->id = col_text (res, row, 0);
  webhook->url = col_text (res, row, 1);
  if (!col_strv (res, row, 2, &webhook->events, error))
    return NULL;
  webhook->description = col_text (res, row, 3);
  webhook->secret_salt = col_text (res, row, 4);
  webhook->secret_ref = col_text (res, row, 5);
  webhook->job_id = col_text (res, row, 6);
  webhook->user_id = col_text (res, row, 7);
  webhook->enabled = col_bool (res, row, 8);
  webhook->created_at = col_int64 (res, row, 9);
  webhook->updated_at = col_int64 (res, row, 10);
  return g_steal_pointer (&webhook);
}

static const Statement stmt_webhook_put = {
  "webhook_put",
  "INSERT INTO webhooks (" WEBHOOK_COLUMNS ") "
  "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) "
  "ON CONFLICT (id) DO UPDATE SET url = excluded.url, events = excluded.events, "
  "description = excluded.description, secret_salt = excluded.secret_salt, "
  "secret_ref = excluded.secret_ref, job_id = excluded.job_id, user_id = excluded.user_id, "
  "enabled = excluded.enabled, created_at = excluded.created_at, "
  "updated_at = excluded.updated_at",
  FALSE
};

static gboolean
we_store_pg_webhook_put (WeStore *store, const WeWebhook *webhook, GError **error)
{
  WeStorePg *self = WE_STORE_PG (store);
  g_autoptr(PgConn) c = pool_acquire (self, error);
  g_auto(Params) p = { 0 };
  g_autoptr(PGresult) res = NULL;
  gint64 created_at = webhook->created_at != 0 ? webhook->created_at : g_get_real_time ();

  if (c == NULL)
    return FALSE;
  param_text (&p, webhook->id);
  param_text (&p, webhook->url);
  param_take (&p, strv_to_json (webhook->events));
  param_text (&p, webhook->description);
  param_text (&p, webhook->secret_salt);
  param_text (&p, webhook->secret_ref);
  param_text (&p, webhook->job_id);
  param_text (&p, webhook->user_id);
  param_bool (&p, webhook->enabled);
  param_int64 (&p, created_at);
  param_int64 (&p, webhook->updated_at != 0 ? webhook->updated_at : created_at);
  res = pg_query (c, &stmt_webhook_put, &p, "storing webhook", NULL, error);
  return res != NULL;
}

static const Statement stmt_webhook_get = {
  "webhook_get", "SELECT " WEBHOOK_COLUMNS " FROM webhooks WHERE id = $1", TRUE
};

static WeWebhook *
we_store_pg_webhook_get (WeStore *store, const gchar *id, GError **error)
{
  WeStorePg *self = WE_STORE_PG (store);
  g_autoptr(PgConn) c = pool_acquire (self, error);
  g_auto(Params) p = { 0 };
  g_autoptr(PGresult) res = NULL;

  if (c == NULL)
    return NULL;
  param_text (&p, id);
  res = pg_query (c, &stmt_webhook_get, &p, "reading webhook", NULL, error);
  if (res == NULL)
    return NULL;
  if (PQntuples (res) == 0) {
    g_set_error (error, WE_ERROR, WE_ERROR_SYS_NOT_FOUND, "webhook %s not found", id);
    return NULL;
  }
  return webhook_from_row (res, 0, error);
}

static const Statement stmt_webhook_list_all = {
  "webhook_list_all",
  "SELECT " WEBHOOK_COLUMNS " FROM webhooks ORDER BY created_at, id",
  TRUE
};

static const Statement stmt_webhook_list_job = {
  "webhook_list_job",
  "SELECT " WEBHOOK_COLUMNS " FROM webhooks WHERE job_id = $1 ORDER BY created_at, id",
  TRUE
};

static GPtrArray *
we_store_pg_webhook_list (WeStore *store, const gchar *job_id, GError **error)
{
  WeStorePg *self = WE_STORE_PG (store);
  g_autoptr(PgConn) c = pool_acquire (self, error);
  g_autoptr(GPtrArray) webhooks = g_ptr_array_new_with_free_func ((GDestroyNotify) we_webhook_free);
  g_auto(Params) p = { 0 };
  g_autoptr(PGresult) res = NULL;

  if (c == NULL)
    return NULL;
  if (job_id != NULL) {
    param_text (&p, job_id);
    res = pg_query (c, &stmt_webhook_list_job, &p, "listing webhooks", NULL, error);
  } else {
    res = pg_query (c, &stmt_webhook_list_all, NULL, "listing webhooks", NULL, error);
  }
  if (res == NULL)
    return NULL;
  for (gint row = 0; row < PQntuples (res); row++) {
    WeWebhook *webhook = webhook_from_row (res, row, error);

    if (webhook == NULL)
      return NULL;
    g_ptr_array_add (webhooks, webhook);
  }
  return g_steal_pointer (&webhooks);
}

static const Statement stmt_webhook_delete = {
  "webhook_delete", "DELETE FROM webhooks WHERE id = $1", FALSE
};

static gboolean
we_store_pg_webhook_delete (WeStore *store, const gchar *id, GError **error)
{
  WeStorePg *self = WE_STORE_PG (store);
  g_autoptr(PgConn) c = pool_acquire (self, error);
  g_auto(Params) p = { 0 };
  g_autoptr(PGresult) res = NULL;

  if (c == NULL)
    return FALSE;
  /* its deliveries go with it: ON DELETE CASCADE */
  param_text (&p, id);
  res = pg_query (c, &stmt_webhook_delete, &p, "deleting webhook", NULL, error);
  if (res == NULL)
    return FALSE;
  if (affected_none (res)) {
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
delivery_from_row (const PGresult *res, gint row, GError **error)
{
  g_autoptr(WeWebhookDelivery) delivery = we_webhook_delivery_new ();
  const gchar *state = PQgetvalue (res, row, 5);

  delivery->id = col_text (res, row, 0);
  delivery->webhook_id = col_text (res, row, 1);
  delivery->event_id = col_text (res, row, 2);
  delivery->event_type = col_text (res, row, 3);
  delivery->payload = col_text (res, row, 4);
  if (!we_delivery_state_from_string (state, &delivery->state)) {
    g_set_error (error, WE_ERROR, WE_ERROR_SYS_DATABASE,
                 "delivery %s has unknown state \"%s\"", delivery->id, state);
    return NULL;
  }
  delivery->attempts = (gint) col_int64 (res, row, 6);
  delivery->next_attempt_at = col_int64 (res, row, 7);
  delivery->claim_until = col_int64 (res, row, 8);
  delivery->claimed_by = col_text (res, row, 9);
  delivery->last_status = (gint) col_int64 (res, row, 10);
  delivery->last_error = col_text (res, row, 11);
  if (!col_json_array (res, row, 12, &delivery->log, error))
    return NULL;
  delivery->replay_of = col_text (res, row, 13);
  delivery->created_at = col_int64 (res, row, 14);
  delivery->updated_at = col_int64 (res, row, 15);
  delivery->delivered_at = col_int64 (res, row, 16);
  return g_steal_pointer (&delivery);
}

/* the mutable columns from state to log, in the order both statements use */
static void
param_delivery_body (Params *p, const WeWebhookDelivery *delivery)
{
  param_text (p, we_delivery_state_to_string (delivery->state));
  param_int64 (p, delivery->attempts);
  param_int64 (p, delivery->next_attempt_at);
  param_positive_or_null (p, delivery->claim_until);
  param_text (p, delivery->claimed_by);
  param_int64 (p, delivery->last_status);
  param_text (p, delivery->last_error);
  param_take (p, json_array_to_text (delivery->log));
}

static const Statement stmt_delivery_add = {
  "delivery_add",
  "INSERT INTO webhook_deliveries (id, webhook_id, event_id, event_type, payload, state, "
  "attempts, next_attempt_at, claim_until, claimed_by, last_status, last_error, log, "
  "replay_of, created_at, updated_at, delivered_at) "
  "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
  FALSE
};

/* ids are the caller's when given; otherwise the store makes a UUID and
 * sets it in @delivery, like the times it leaves at 0 */
static gboolean
we_store_pg_delivery_add (WeStore *store, WeWebhookDelivery *delivery, GError **error)
{
  WeStorePg *self = WE_STORE_PG (store);
  g_autoptr(PgConn) c = pool_acquire (self, error);
  g_auto(Params) p = { 0 };
  g_autoptr(PGresult) res = NULL;
  g_autoptr(GError) error_local = NULL;
  gchar sqlstate[6] = "";

  if (c == NULL)
    return FALSE;
  if (delivery->id == NULL)
    delivery->id = we_uuid_new ();
  if (delivery->created_at == 0)
    delivery->created_at = g_get_real_time ();
  if (delivery->updated_at == 0)
    delivery->updated_at = delivery->created_at;
  if (delivery->next_attempt_at == 0)
    delivery->next_attempt_at = delivery->created_at;
  param_text (&p, delivery->id);
  param_text (&p, delivery->webhook_id);
  param_text (&p, delivery->event_id);
  param_text (&p, delivery->event_type);
  param_text (&p, delivery->payload);
  param_delivery_body (&p, delivery);
  param_text (&p, delivery->replay_of);
  param_int64 (&p, delivery->created_at);
  param_int64 (&p, delivery->updated_at);
  param_positive_or_null (&p, delivery->delivered_at);
  res = pg_query_state (c, &stmt_delivery_add, &p, "adding delivery", NULL, sqlstate,
                        &error_local);
  if (res != NULL)
    return TRUE;
  if (g_str_equal (sqlstate, SQLSTATE_FOREIGN_KEY_VIOLATION)) {
    g_set_error (error, WE_ERROR, WE_ERROR_SYS_NOT_FOUND, "webhook %s not found",
                 delivery->webhook_id);
    return FALSE;
  }
  g_propagate_error (error, g_steal_pointer (&error_local));
  return FALSE;
}

/* SKIP LOCKED: kernels sharing the database claiming at once each take
 * different deliveries instead of waiting for each other and then taking
 * the same ones; a row another claimer committed meanwhile is rechecked
 * against the WHERE and so skipped too. */
static const Statement stmt_delivery_claim = {
  "delivery_claim",
  "WITH claimed AS ("
  "  UPDATE webhook_deliveries SET state = 'delivering', claimed_by = $1, claim_until = $2, "
  "  updated_at = $3 WHERE id IN ("
  "    SELECT id FROM webhook_deliveries "
  "    WHERE (state = 'pending' AND next_attempt_at <= $3) "
  "       OR (state = 'delivering' AND claim_until < $3) "
  "    ORDER BY next_attempt_at, id LIMIT $4 FOR UPDATE SKIP LOCKED) "
  "  RETURNING " DELIVERY_COLUMNS ") "
  "SELECT * FROM claimed ORDER BY next_attempt_at, id",
  FALSE
};

static GPtrArray *
we_store_pg_delivery_claim (WeStore *store, const gchar *kernel_id, gint64 now,
                            gint64 lease_us, guint limit, GError **error)
{
  WeStorePg *self = WE_STORE_PG (store);
  g_autoptr(PgConn) c = pool_acquire (self, error);
  g_autoptr(GPtrArray) claimed =
    g_ptr_array_new_with_free_func ((GDestroyNotify) we_webhook_delivery_free);
  g_auto(Params) p = { 0 };
  g_autoptr(PGresult) res = NULL;

  if (c == NULL)
    return NULL;
  param_text (&p, kernel_id);
  param_int64 (&p, now + lease_us);
  param_int64 (&p, now);
  param_int64 (&p, MAX (limit, 1));
  res = pg_query (c, &stmt_delivery_claim, &p, "claiming deliveries", NULL, error);
  if (res == NULL)
    return NULL;
  for (gint row = 0; row < PQntuples (res); row++) {
    WeWebhookDelivery *delivery = delivery_from_row (res, row, error);

    if (delivery == NULL)
      return NULL;
    g_ptr_array_add (claimed, delivery);
  }
  return g_steal_pointer (&claimed);
}

static const Statement stmt_delivery_update = {
  "delivery_update",
  "UPDATE webhook_deliveries SET state = $1, attempts = $2, next_attempt_at = $3, "
  "claim_until = $4, claimed_by = $5, last_status = $6, last_error = $7, log = $8, "
  "updated_at = $9, delivered_at = $10 WHERE id = $11",
  FALSE
};

static gboolean
we_store_pg_delivery_update (WeStore *store, const WeWebhookDelivery *delivery,
                             GError **error)
{
  WeStorePg *self = WE_STORE_PG (store);
  g_autoptr(PgConn) c = pool_acquire (self, error);
  g_auto(Params) p = { 0 };
  g_autoptr(PGresult) res = NULL;

  if (c == NULL)
    return FALSE;
  param_delivery_body (&p, delivery);
  param_int64 (&p, delivery->updated_at != 0 ? delivery->updated_at : g_get_real_time ());
  param_positive_or_null (&p, delivery->delivered_at);
  param_text (&p, delivery->id);
  res = pg_query (c, &stmt_delivery_update, &p, "updating delivery", NULL, error);
  if (res == NULL)
    return FALSE;
  if (affected_none (res)) {
    g_set_error (error, WE_ERROR, WE_ERROR_SYS_NOT_FOUND, "delivery %s not found",
                 delivery->id);
    return FALSE;
  }
  return TRUE;
}

static const Statement stmt_delivery_get = {
  "delivery_get", "SELECT " DELIVERY_COLUMNS " FROM webhook_deliveries WHERE id = $1", TRUE
};

static WeWebhookDelivery *
we_store_pg_delivery_get (WeStore *store, const gchar *id, GError **error)
{
  WeStorePg *self = WE_STORE_PG (store);
  g_autoptr(PgConn) c = pool_acquire (self, error);
  g_auto(Params) p = { 0 };
  g_autoptr(PGresult) res = NULL;

  if (c == NULL)
    return NULL;
  param_text (&p, id);
  res = pg_query (c, &stmt_delivery_get, &p, "reading delivery", NULL, error);
  if (res == NULL)
    return NULL;
  if (PQntuples (res) == 0) {
    g_set_error (error, WE_ERROR, WE_ERROR_SYS_NOT_FOUND, "delivery %s not found", id);
    return NULL;
  }
  return delivery_from_row (res, 0, error);
}

static const Statement stmt_delivery_count_all = {
  "delivery_count_all", "SELECT COUNT(*) FROM webhook_deliveries", TRUE
};
static const Statement stmt_delivery_count_hook = {
  "delivery_count_hook", "SELECT COUNT(*) FROM webhook_deliveries WHERE webhook_id = $1", TRUE
};
static const Statement stmt_delivery_list_all = {
  "delivery_list_all",
  "SELECT " DELIVERY_COLUMNS " FROM webhook_deliveries "
  "ORDER BY created_at DESC, id DESC LIMIT $1 OFFSET $2",
  TRUE
};
static const Statement stmt_delivery_list_hook = {
  "delivery_list_hook",
  "SELECT " DELIVERY_COLUMNS " FROM webhook_deliveries WHERE webhook_id = $1 "
  "ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3",
  TRUE
};

/* @webhook_id NULL lists every webhook's; @limit 0 = 100, capped at 1000 */
static GPtrArray *
delivery_list_leased (PgConn *c, const gchar *webhook_id, guint limit, guint offset,
                      guint *total, GError **error)
{
  g_autoptr(GPtrArray) deliveries =
    g_ptr_array_new_with_free_func ((GDestroyNotify) we_webhook_delivery_free);
  g_auto(Params) p = { 0 };
  g_autoptr(PGresult) count_res = NULL;
  g_autoptr(PGresult) res = NULL;

  limit = limit == 0 ? DELIVERY_LIST_DEFAULT_LIMIT : MIN (limit, DELIVERY_LIST_MAX_LIMIT);
  if (webhook_id != NULL)
    param_text (&p, webhook_id);
  count_res = pg_query (c, webhook_id != NULL ? &stmt_delivery_count_hook
                                              : &stmt_delivery_count_all,
                        &p, "counting deliveries", NULL, error);
  if (count_res == NULL)
    return NULL;
  if (total != NULL)
    *total = (guint) col_int64 (count_res, 0, 0);
  param_int64 (&p, limit);
  param_int64 (&p, offset);
  res = pg_query (c, webhook_id != NULL ? &stmt_delivery_list_hook : &stmt_delivery_list_all,
                  &p, "listing deliveries", NULL, error);
  if (res == NULL)
    return NULL;
  for (gint row = 0; row < PQntuples (res); row++) {
    WeWebhookDelivery *delivery = delivery_from_row (res, row, error);

    if (delivery == NULL)
      return NULL;
    g_ptr_array_add (deliveries, delivery);
  }
  return g_steal_pointer (&deliveries);
}

static GPtrArray *
we_store_pg_delivery_list (WeStore *store, const gchar *webhook_id, guint limit, guint offset,
                           guint *total, GError **error)
{
  WeStorePg *self = WE_STORE_PG (store);
  g_autoptr(PgConn) c = pool_acquire (self, error);
  GPtrArray *deliveries;

  if (c == NULL)
    return NULL;
  if (!pg_begin (c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", error)) {
    g_prefix_error (error, "listing deliveries: ");
    return NULL;
  }
  deliveries = delivery_list_leased (c, webhook_id, limit, offset, total, error);
  if (deliveries == NULL)
    return NULL;
  if (!pg_commit (c, error)) {
    g_ptr_array_unref (deliveries);
    return NULL;
  }
  return deliveries;
}

/* --- pipeline introspection ------------------------------------------------------------ */

static const Statement stmt_pipeline_drop_earlier = {
  "pipeline_drop_earlier",
  "DELETE FROM task_pipelines WHERE task_id = $1 AND attempt < $2",
  FALSE
};

/* an attempt's report never overwrites a later attempt's */
static const Statement stmt_pipeline_put = {
  "pipeline_put",
  "INSERT INTO task_pipelines (job_id, task_id, attempt, stage, launch, dot, recorded_at) "
  "VALUES ($1, $2, $3, $4, $5, $6, $7) "
  "ON CONFLICT (task_id, stage) DO UPDATE SET attempt = excluded.attempt, "
  "launch = excluded.launch, dot = excluded.dot, recorded_at = excluded.recorded_at "
  "WHERE task_pipelines.attempt <= excluded.attempt",
  FALSE
};

static gboolean
we_store_pg_task_pipeline_put (WeStore *store, const WeTaskPipeline *pipeline, GError **error)
{
  WeStorePg *self = WE_STORE_PG (store);
  g_autoptr(PgConn) c = pool_acquire (self, error);
  g_auto(Params) drop = { 0 };
  g_auto(Params) p = { 0 };
  g_autoptr(PGresult) res = NULL;

  if (c == NULL)
    return FALSE;
  if (!pg_begin (c, "BEGIN", error)) {
    g_prefix_error (error, "storing pipeline: ");
    return FALSE;
  }
  param_text (&drop, pipeline->task_id);
  param_int64 (&drop, pipeline->attempt);
  res = pg_query (c, &stmt_pipeline_drop_earlier, &drop, "dropping earlier attempts", NULL,
                  error);
  if (res == NULL)
    return FALSE;   /* pool_release() rolls back */
  g_clear_pointer (&res, PQclear);
  param_text (&p, pipeline->job_id);
  param_text (&p, pipeline->task_id);
  param_int64 (&p, pipeline->attempt);
  param_text (&p, pipeline->stage);
  param_text (&p, pipeline->launch);
  param_text (&p, pipeline->dot);
  param_int64 (&p, pipeline->recorded_at != 0 ? pipeline->recorded_at : g_get_real_time ());
  res = pg_query (c, &stmt_pipeline_put, &p, "storing pipeline", pipeline->job_id, error);
  if (res == NULL)
    return FALSE;
  return pg_commit (c, error);
}

static const Statement stmt_pipeline_list = {
  "pipeline_list",
  "SELECT p.job_id, p.task_id, p.attempt, p.stage, p.launch, p.dot, p.recorded_at "
  "FROM task_pipelines p JOIN tasks t ON t.id = p.task_id "
  "WHERE p.job_id = $1 AND ($2::text IS NULL OR p.task_id = $2::text) "
  "ORDER BY t.sequence_index, p.id",
  TRUE
};

static GPtrArray *
we_store_pg_task_pipeline_list (WeStore *store, const gchar *job_id, const gchar *task_id,
                                GError **error)
{
  WeStorePg *self = WE_STORE_PG (store);
  g_autoptr(PgConn) c = pool_acquire (self, error);
  g_autoptr(GPtrArray) pipelines =
    g_ptr_array_new_with_free_func ((GDestroyNotify) we_task_pipeline_free);
  g_auto(Params) p = { 0 };
  g_autoptr(PGresult) res = NULL;

  if (c == NULL)
    return NULL;
  param_text (&p, job_id);
  param_text (&p, task_id);
  res = pg_query (c, &stmt_pipeline_list, &p, "listing pipelines", NULL, error);
  if (res == NULL)
    return NULL;
  for (gint row = 0; row < PQntuples (res); row++) {
    WeTaskPipeline *pipeline = we_task_pipeline_new ();

    pipeline->job_id = col_text (res, row, 0);
    pipeline->task_id = col_text (res, row, 1);
    pipeline->attempt = (gint) col_int64 (res, row, 2);
    pipeline->stage = col_text (res, row, 3);
    pipeline->launch = col_text (res, row, 4);
    pipeline->dot = col_text (res, row, 5);
    pipeline->recorded_at = col_int64 (res, row, 6);
    g_ptr_array_add (pipelines, pipeline);
  }
  return g_steal_pointer (&pipelines);
}

static const Statement stmt_task_log_put = {
  "task_log_put",
  "INSERT INTO task_logs (job_id, task_id, attempt, url, size_bytes, truncated, recorded_at) "
  "VALUES ($1, $2, $3, $4, $5, $6, $7) "
  "ON CONFLICT (task_id) DO UPDATE SET attempt = excluded.attempt, url = excluded.url, "
  "size_bytes = excluded.size_bytes, truncated = excluded.truncated, "
  "recorded_at = excluded.recorded_at WHERE task_logs.attempt <= excluded.attempt",
  FALSE
};

static gboolean
we_store_pg_task_log_put (WeStore *store, const WeTaskLog *log, GError **error)
{
  WeStorePg *self = WE_STORE_PG (store);
  g_autoptr(PgConn) c = pool_acquire (self, error);
  g_auto(Params) p = { 0 };
  g_autoptr(PGresult) res = NULL;

  if (c == NULL)
    return FALSE;
  param_text (&p, log->job_id);
  param_text (&p, log->task_id);
  param_int64 (&p, log->attempt);
  param_text (&p, log->url);
  param_int64 (&p, MAX (log->size_bytes, 0));
  param_bool (&p, log->truncated);
  param_int64 (&p, log->recorded_at != 0 ? log->recorded_at : g_get_real_time ());
  res = pg_query (c, &stmt_task_log_put, &p, "storing task log", log->job_id, error);
  return res != NULL;
}

static const Statement stmt_task_log_list = {
  "task_log_list",
  "SELECT l.job_id, l.task_id, l.attempt, l.url, l.size_bytes, l.truncated, l.recorded_at "
  "FROM task_logs l JOIN tasks t ON t.id = l.task_id "
  "WHERE l.job_id = $1 AND ($2::text IS NULL OR l.task_id = $2::text) "
  "ORDER BY t.sequence_index",
  TRUE
};

static GPtrArray *
we_store_pg_task_log_list (WeStore *store, const gchar *job_id, const gchar *task_id,
                           GError **error)
{
  WeStorePg *self = WE_STORE_PG (store);
  g_autoptr(PgConn) c = pool_acquire (self, error);
  g_autoptr(GPtrArray) logs = g_ptr_array_new_with_free_func ((GDestroyNotify) we_task_log_free);
  g_auto(Params) p = { 0 };
  g_autoptr(PGresult) res = NULL;

  if (c == NULL)
    return NULL;
  param_text (&p, job_id);
  param_text (&p, task_id);
  res = pg_query (c, &stmt_task_log_list, &p, "listing task logs", NULL, error);
  if (res == NULL)
    return NULL;
  for (gint row = 0; row < PQntuples (res); row++) {
    WeTaskLog *log = we_task_log_new ();

    log->job_id = col_text (res, row, 0);
    log->task_id = col_text (res, row, 1);
    log->attempt = (gint) col_int64 (res, row, 2);
    log->url = col_text (res, row, 3);
    log->size_bytes = col_int64 (res, row, 4);
    log->truncated = col_bool (res, row, 5);
    log->recorded_at = col_int64 (res, row, 6);
    g_ptr_array_add (logs, log);
  }
  return g_steal_pointer (&logs);
}

/* --- error tracking ------------------------------------------------------------------ */

#define ERROR_EVENT_COLUMNS                                                            \
  "id, source_component, severity, message, stack_trace, context_data::text, "        \
  "created_at, resolved, resolved_at, resolved_by"

/* NULL members match everything: one statement serves every filter */
#define ERROR_EVENT_WHERE                                                              \
  " WHERE ($1::text IS NULL OR source_component = $1::text) "                         \
  "AND ($2::text IS NULL OR severity = $2::text) "                                    \
  "AND ($3::boolean IS NULL OR resolved = $3::boolean) AND created_at >= $4"

static const Statement stmt_error_event_add = {
  "error_event_add",
  "INSERT INTO error_events (id, source_component, severity, message, stack_trace, "
  "context_data, created_at, resolved, resolved_at, resolved_by) "
  "VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10)",
  FALSE
};

static gboolean
we_store_pg_error_event_add (WeStore *store, WeErrorEvent *event, GError **error)
{
  WeStorePg *self = WE_STORE_PG (store);
  g_autoptr(PgConn) c = pool_acquire (self, error);
  g_auto(Params) p = { 0 };
  g_autoptr(PGresult) res = NULL;

  if (c == NULL)
    return FALSE;
  if (event->id == NULL)
    event->id = we_uuid_new ();
  if (event->created_at == 0)
    event->created_at = g_get_real_time ();
  param_text (&p, event->id);
  param_text (&p, event->source_component);
  param_text (&p, event->severity);
  param_text (&p, event->message);
  param_text (&p, event->stack_trace);
  /* the column is NOT NULL DEFAULT '{}' (0001) */
  param_text (&p, event->context_data != NULL ? event->context_data : "{}");
  param_int64 (&p, event->created_at);
  param_bool (&p, event->resolved);
  param_positive_or_null (&p, event->resolved_at);
  param_text (&p, event->resolved_by);
  res = pg_query (c, &stmt_error_event_add, &p, "storing error event", NULL, error);
  return res != NULL;
}

static const Statement stmt_error_event_count = {
  "error_event_count",
  "SELECT COUNT(*) FROM error_events" ERROR_EVENT_WHERE,
  TRUE
};

static const Statement stmt_error_event_list = {
  "error_event_list",
  "SELECT " ERROR_EVENT_COLUMNS " FROM error_events" ERROR_EVENT_WHERE
  " ORDER BY created_at DESC, id DESC LIMIT $5 OFFSET $6",
  TRUE
};

static void
param_error_filter (Params *p, const WeErrorFilter *filter)
{
  param_text (p, filter->source_component);
  param_text (p, filter->severity);
  if (filter->resolved < 0)
    param_null (p);
  else
    param_bool (p, filter->resolved != 0);
  param_int64 (p, filter->since);
}

static GPtrArray *
error_event_list_leased (PgConn *c, const WeErrorFilter *filter, guint *total, GError **error)
{
  g_autoptr(GPtrArray) events =
    g_ptr_array_new_with_free_func ((GDestroyNotify) we_error_event_free);
  g_auto(Params) pc = { 0 };
  g_auto(Params) p = { 0 };
  g_autoptr(PGresult) count = NULL;
  g_autoptr(PGresult) res = NULL;
  guint limit = filter->limit == 0 ? 100 : MIN (filter->limit, 1000);

  param_error_filter (&pc, filter);
  count = pg_query (c, &stmt_error_event_count, &pc, "counting error events", NULL, error);
  if (count == NULL)
    return NULL;
  if (total != NULL)
    *total = (guint) col_int64 (count, 0, 0);
  param_error_filter (&p, filter);
  param_int64 (&p, limit);
  param_int64 (&p, filter->offset);
  res = pg_query (c, &stmt_error_event_list, &p, "listing error events", NULL, error);
  if (res == NULL)
    return NULL;
  for (gint row = 0; row < PQntuples (res); row++) {
    WeErrorEvent *event = we_error_event_new ();

    event->id = col_text (res, row, 0);
    event->source_component = col_text (res, row, 1);
    event->severity = col_text (res, row, 2);
    event->message = col_text (res, row, 3);
    event->stack_trace = col_text (res, row, 4);
    event->context_data = col_text (res, row, 5);
    event->created_at = col_int64 (res, row, 6);
    event->resolved = col_bool (res, row, 7);
    event->resolved_at = col_int64 (res, row, 8);
    event->resolved_by = col_text (res, row, 9);
    g_ptr_array_add (events, event);
  }
  return g_steal_pointer (&events);
}

static GPtrArray *
we_store_pg_error_event_list (WeStore *store, const WeErrorFilter *filter, guint *total,
                              GError **error)
{
  WeStorePg *self = WE_STORE_PG (store);
  g_autoptr(PgConn) c = pool_acquire (self, error);
  GPtrArray *events;

  if (c == NULL)
    return NULL;
  /* one snapshot, so the total and the page agree */
  if (!pg_begin (c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", error)) {
    g_prefix_error (error, "listing error events: ");
    return NULL;
  }
  events = error_event_list_leased (c, filter, total, error);
  if (events == NULL)
    return NULL;
  if (!pg_commit (c, error)) {
    g_ptr_array_unref (events);
    return NULL;
  }
  return events;
}

static const Statement stmt_error_event_resolve = {
  "error_event_resolve",
  "UPDATE error_events SET resolved = $2, resolved_at = $3, resolved_by = $4 WHERE id = $1",
  FALSE
};

static gboolean
we_store_pg_error_event_set_resolved (WeStore *store, const gchar *id, gboolean resolved,
                                      const gchar *by, GError **error)
{
  WeStorePg *self = WE_STORE_PG (store);
  g_autoptr(PgConn) c = pool_acquire (self, error);
  g_auto(Params) p = { 0 };
  g_autoptr(PGresult) res = NULL;

  if (c == NULL)
    return FALSE;
  param_text (&p, id);
  param_bool (&p, resolved);
  param_positive_or_null (&p, resolved ? g_get_real_time () : 0);
  param_text (&p, resolved ? by : NULL);
  res = pg_query (c, &stmt_error_event_resolve, &p, "updating error event", NULL, error);
  if (res == NULL)
    return FALSE;
  if (affected_none (res)) {
    g_set_error (error, WE_ERROR, WE_ERROR_SYS_NOT_FOUND, "error event %s not found", id);
    return FALSE;
  }
  return TRUE;
}

/* --- live streams ------------------------------------------------------------------------ */

#define STREAM_COLUMNS                                                                 \
  "id, user_id, title, description, key_hash, key_sealed, key_hint, "                 \
  "srt_passphrase_sealed, play_name, is_live, current_session_id, archive_enabled, "  \
  "record, latency_mode, ladder_profile_id, archive_vod_job_id, last_stats::text, "   \
  "started_at, ended_at, created_at, updated_at"

static WeStream *
stream_from_row (const PGresult *res, gint row)
{
  WeStream *s = we_stream_new ();

  s->id = col_text (res, row, 0);
  s->user_id = col_text (res, row, 1);
  s->title = col_text (res, row, 2);
  s->description = col_text (res, row, 3);
  s->key_hash = col_text (res, row, 4);
  s->key_sealed = col_text (res, row, 5);
  s->key_hint = col_text (res, row, 6);
  s->srt_passphrase_sealed = col_text (res, row, 7);
  s->play_name = col_text (res, row, 8);
  s->is_live = col_bool (res, row, 9);
  s->current_session_id = col_text (res, row, 10);
  s->archive_enabled = col_bool (res, row, 11);
  s->record = col_bool (res, row, 12);
  s->latency_mode = col_text (res, row, 13);
  s->ladder_profile_id = col_text (res, row, 14);
  s->archive_vod_job_id = col_text (res, row, 15);
  s->last_stats = col_text (res, row, 16);
  s->started_at = col_int64 (res, row, 17);
  s->ended_at = col_int64 (res, row, 18);
  s->created_at = col_int64 (res, row, 19);
  s->updated_at = col_int64 (res, row, 20);
  return s;
}

/* The members every write sets, title to ended_at in STREAM_COLUMNS order. */
static void
param_stream_body (Params *p, const WeStream *s)
{
  param_text (p, s->title);
  param_text (p, s->description);
  param_text (p, s->key_hash);
  param_text (p, s->key_sealed);
  param_text (p, s->key_hint);
  param_text (p, s->srt_passphrase_sealed);
  param_text (p, s->play_name);
  param_bool (p, s->is_live);
  param_text (p, s->current_session_id);
  param_bool (p, s->archive_enabled);
  param_bool (p, s->record);
  param_text (p, s->latency_mode);
  param_text (p, s->ladder_profile_id);
  param_text (p, s->archive_vod_job_id);
  param_text (p, s->last_stats);
  param_positive_or_null (p, s->started_at);
  param_positive_or_null (p, s->ended_at);
}

/* A UNIQUE failure on streams is a key hash or play name someone has. */
static gboolean
stream_write_error (const gchar *sqlstate, GError **error_local, const WeStream *s,
                    GError **error)
{
  if (g_str_equal (sqlstate, SQLSTATE_UNIQUE_VIOLATION)) {
    g_set_error (error, WE_ERROR, WE_ERROR_STR_KEY_CONFLICT,
                 "stream %s: its key or play name is already in use", s->id);
    return FALSE;
  }
  if (g_str_equal (sqlstate, SQLSTATE_FOREIGN_KEY_VIOLATION)) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_NOT_FOUND, "stream %s: archive job %s not found",
                 s->id, s->archive_vod_job_id != NULL ? s->archive_vod_job_id : "");
    return FALSE;
  }
  g_propagate_error (error, g_steal_pointer (error_local));
  return FALSE;
}

static const Statement stmt_stream_create = {
  "stream_create",
  "INSERT INTO streams (id, user_id, title, description, key_hash, key_sealed, key_hint, "
  "srt_passphrase_sealed, play_name, is_live, current_session_id, archive_enabled, record, "
  "latency_mode, ladder_profile_id, archive_vod_job_id, last_stats, started_at, ended_at, "
  "created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, "
  "$14, $15, $16, $17::jsonb, $18, $19, $20, $21)",
  FALSE
};

static gboolean
we_store_pg_stream_create (WeStore *store, WeStream *stream, GError **error)
{
  WeStorePg *self = WE_STORE_PG (store);
  g_autoptr(PgConn) c = pool_acquire (self, error);
  g_auto(Params) p = { 0 };
  g_autoptr(PGresult) res = NULL;
  g_autoptr(GError) error_local = NULL;
  gchar sqlstate[6] = "";

  if (c == NULL)
    return FALSE;
  if (stream->created_at == 0)
    stream->created_at = g_get_real_time ();
  stream->updated_at = stream->created_at;
  param_text (&p, stream->id);
  param_text (&p, stream->user_id);
  param_stream_body (&p, stream);
  param_int64 (&p, stream->created_at);
  param_int64 (&p, stream->updated_at);
  res = pg_query_state (c, &stmt_stream_create, &p, "storing stream", NULL, sqlstate,
                        &error_local);
  if (res != NULL)
    return TRUE;
  return stream_write_error (sqlstate, &error_local, stream, error);
}

static const Statement stmt_stream_get = {
  "stream_get", "SELECT " STREAM_COLUMNS " FROM streams WHERE id = $1", TRUE
};

static const Statement stmt_stream_get_by_key_hash = {
  "stream_get_by_key_hash", "SELECT " STREAM_COLUMNS " FROM streams WHERE key_hash = $1", TRUE
};

static WeStream *
stream_get_by (WeStorePg *self, const Statement *stmt, const gchar *value, const gchar *name,
               GError **error)
{
  g_autoptr(PgConn) c = pool_acquire (self, error);
  g_auto(Params) p = { 0 };
  g_autoptr(PGresult) res = NULL;

  if (c == NULL)
    return NULL;
  param_text (&p, value);
  res = pg_query (c, stmt, &p, "reading stream", NULL, error);
  if (res == NULL)
    return NULL;
  if (PQntuples (res) == 0) {
    g_set_error (error, WE_ERROR, WE_ERROR_STR_NOT_FOUND, "stream %s not found", name);
    return NULL;
  }
  return stream_from_row (res, 0);
}

static WeStream *
we_store_pg_stream_get (WeStore *store, const gchar *id, GError **error)
{
  return stream_get_by (WE_STORE_PG (store), &stmt_stream_get, id, id, error);
}

static WeStream *
we_store_pg_stream_get_by_key_hash (WeStore *store, const gchar *key_hash, GError **error)
{
  /* never name a key hash: it is no secret, but nothing to show either */
  return stream_get_by (WE_STORE_PG (store), &stmt_stream_get_by_key_hash, key_hash,
                        "with that key", error);
}

/* NULL members match everything: one statement serves every filter */
#define STREAM_WHERE                                                                   \
  " WHERE ($1::text IS NULL OR user_id = $1::text) "                                  \
  "AND ($2::boolean IS NULL OR is_live = $2::boolean)"

static const Statement stmt_stream_count = {
  "stream_count", "SELECT COUNT(*) FROM streams" STREAM_WHERE, TRUE
};

static const Statement stmt_stream_list = {
  "stream_list",
  "SELECT " STREAM_COLUMNS " FROM streams" STREAM_WHERE
  " ORDER BY created_at DESC, id DESC LIMIT $3 OFFSET $4",
  TRUE
};

static void
param_stream_filter (Params *p, const WeStreamFilter *filter)
{
  param_text (p, filter->user_id);
  if (filter->live < 0)
    param_null (p);
  else
    param_bool (p, filter->live != 0);
}

static GPtrArray *
stream_list_leased (PgConn *c, const WeStreamFilter *filter, guint *total, GError **error)
{
  g_autoptr(GPtrArray) streams = g_ptr_array_new_with_free_func ((GDestroyNotify) we_stream_free);
  g_auto(Params) pc = { 0 };
  g_auto(Params) p = { 0 };
  g_autoptr(PGresult) count = NULL;
  g_autoptr(PGresult) res = NULL;

  param_stream_filter (&pc, filter);
  count = pg_query (c, &stmt_stream_count, &pc, "counting streams", NULL, error);
  if (count == NULL)
    return NULL;
  if (total != NULL)
    *total = (guint) col_int64 (count, 0, 0);
  param_stream_filter (&p, filter);
  param_int64 (&p, filter->limit == 0 ? 50 : MIN (filter->limit, 500));
  param_int64 (&p, filter->offset);
  res = pg_query (c, &stmt_stream_list, &p, "listing streams", NULL, error);
  if (res == NULL)
    return NULL;
  for (gint row = 0; row < PQntuples (res); row++)
    g_ptr_array_add (streams, stream_from_row (res, row));
  return g_steal_pointer (&streams);
}

static GPtrArray *
we_store_pg_stream_list (WeStore *store, const WeStreamFilter *filter, guint *total,
                         GError **error)
{
  WeStorePg *self = WE_STORE_PG (store);
  g_autoptr(PgConn) c = pool_acquire (self, error);
  GPtrArray *streams;

  if (c == NULL)
    return NULL;
  /* one snapshot, so the total and the page agree */
  if (!pg_begin (c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", error)) {
    g_prefix_error (error, "listing streams: ");
    return NULL;
  }
  streams = stream_list_leased (c, filter, total, error);
  if (streams == NULL)
    return NULL;
  if (!pg_commit (c, error)) {
    g_ptr_array_unref (streams);
    return NULL;
  }
  return streams;
}

static const Statement stmt_stream_update = {
  "stream_update",
  "UPDATE streams SET title = $2, description = $3, key_hash = $4, key_sealed = $5, "
  "key_hint = $6, srt_passphrase_sealed = $7, play_name = $8, is_live = $9, "
  "current_session_id = $10, archive_enabled = $11, record = $12, latency_mode = $13, "
  "ladder_profile_id = $14, archive_vod_job_id = $15, last_stats = $16::jsonb, "
  "started_at = $17, ended_at = $18, updated_at = $19 WHERE id = $1",
  FALSE
};

static gboolean
we_store_pg_stream_update (WeStore *store, WeStream *stream, GError **error)
{
  WeStorePg *self = WE_STORE_PG (store);
  g_autoptr(PgConn) c = pool_acquire (self, error);
  g_auto(Params) p = { 0 };
  g_autoptr(PGresult) res = NULL;
  g_autoptr(GError) error_local = NULL;
  gchar sqlstate[6] = "";

  if (c == NULL)
    return FALSE;
  stream->updated_at = MAX (g_get_real_time (), stream->created_at);
  param_text (&p, stream->id);
  param_stream_body (&p, stream);
  param_int64 (&p, stream->updated_at);
  res = pg_query_state (c, &stmt_stream_update, &p, "updating stream", NULL, sqlstate,
                        &error_local);
  if (res == NULL)
    return stream_write_error (sqlstate, &error_local, stream, error);
  if (affected_none (res)) {
    g_set_error (error, WE_ERROR, WE_ERROR_STR_NOT_FOUND, "stream %s not found", stream->id);
    return FALSE;
  }
  return TRUE;
}

static const Statement stmt_stream_delete = {
  "stream_delete", "DELETE FROM streams WHERE id = $1", FALSE
};

static gboolean
we_store_pg_stream_delete (WeStore *store, const gchar *id, GError **error)
{
  WeStorePg *self = WE_STORE_PG (store);
  g_autoptr(PgConn) c = pool_acquire (self, error);
  g_auto(Params) p = { 0 };
  g_autoptr(PGresult) res = NULL;

  if (c == NULL)
    return FALSE;
  /* stream_sessions goes with it: ON DELETE CASCADE */
  param_text (&p, id);
  res = pg_query (c, &stmt_stream_delete, &p, "deleting stream", NULL, error);
  if (res == NULL)
    return FALSE;
  if (affected_none (res)) {
    g_set_error (error, WE_ERROR, WE_ERROR_STR_NOT_FOUND, "stream %s not found", id);
    return FALSE;
  }
  return TRUE;
}

static const Statement stmt_stream_session_put = {
  "stream_session_put",
  "INSERT INTO stream_sessions (id, stream_id, protocol, remote_addr, started_at, ended_at, "
  "end_reason, bytes_in) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
  "ON CONFLICT (id) DO UPDATE SET protocol = excluded.protocol, "
  "remote_addr = excluded.remote_addr, started_at = excluded.started_at, "
  "ended_at = excluded.ended_at, end_reason = excluded.end_reason, "
  "bytes_in = excluded.bytes_in",
  FALSE
};

static gboolean
we_store_pg_stream_session_put (WeStore *store, const WeStreamSession *session,
                                GError **error)
{
  WeStorePg *self = WE_STORE_PG (store);
  g_autoptr(PgConn) c = pool_acquire (self, error);
  g_auto(Params) p = { 0 };
  g_autoptr(PGresult) res = NULL;
  g_autoptr(GError) error_local = NULL;
  gchar sqlstate[6] = "";

  if (c == NULL)
    return FALSE;
  param_text (&p, session->id);
  param_text (&p, session->stream_id);
  param_text (&p, session->protocol);
  param_text (&p, session->remote_addr);
  param_int64 (&p, session->started_at != 0 ? session->started_at : g_get_real_time ());
  param_positive_or_null (&p, session->ended_at);
  param_text (&p, session->end_reason);
  param_int64 (&p, session->bytes_in);
  res = pg_query_state (c, &stmt_stream_session_put, &p, "storing stream session", NULL,
                        sqlstate, &error_local);
  if (res != NULL)
    return TRUE;
  if (g_str_equal (sqlstate, SQLSTATE_FOREIGN_KEY_VIOLATION)) {
    g_set_error (error, WE_ERROR, WE_ERROR_STR_NOT_FOUND, "stream %s not found",
                 session->stream_id);
    return FALSE;
  }
  g_propagate_error (error, g_steal_pointer (&error_local));
  return FALSE;
}

static const Statement stmt_stream_session_list = {
  "stream_session_list",
  "SELECT id, stream_id, protocol, remote_addr, started_at, ended_at, end_reason, bytes_in "
  "FROM stream_sessions WHERE stream_id = $1 ORDER BY started_at DESC, id DESC LIMIT $2",
  TRUE
};

static GPtrArray *
we_store_pg_stream_session_list (WeStore *store, const gchar *stream_id, guint limit,
                                 GError **error)
{
  WeStorePg *self = WE_STORE_PG (store);
  g_autoptr(PgConn) c = pool_acquire (self, error);
  g_autoptr(GPtrArray) sessions =
    g_ptr_array_new_with_free_func ((GDestroyNotify) we_stream_session_free);
  g_auto(Params) p = { 0 };
  g_autoptr(PGresult) res = NULL;

  if (c == NULL)
    return NULL;
  param_text (&p, stream_id);
  param_int64 (&p, limit == 0 ? 50 : MIN (limit, 500));
  res = pg_query (c, &stmt_stream_session_list, &p, "listing stream sessions", NULL, error);
  if (res == NULL)
    return NULL;
  for (gint row = 0; row < PQntuples (res); row++) {
    WeStreamSession *s = we_stream_session_new ();

    s->id = col_text (res, row, 0);
    s->stream_id = col_text (res, row, 1);
    s->protocol = col_text (res, row, 2);
    s->remote_addr = col_text (res, row, 3);
    s->started_at = col_int64 (res, row, 4);
    s->ended_at = col_int64 (res, row, 5);
    s->end_reason = col_text (res, row, 6);
    s->bytes_in = col_int64 (res, row, 7);
    g_ptr_array_add (sessions, s);
  }
  return g_steal_pointer (&sessions);
}

static const Statement stmt_stream_telemetry_add = {
  "stream_telemetry_add",
  "INSERT INTO stream_telemetry (session_id, time_ms, sample) VALUES ($1, $2, $3)",
  FALSE
};

/* a session's history is bounded: the oldest samples beyond keep go */
static const Statement stmt_stream_telemetry_prune = {
  "stream_telemetry_prune",
  "DELETE FROM stream_telemetry WHERE session_id = $1 AND time_ms < "
  "(SELECT time_ms FROM stream_telemetry WHERE session_id = $1 "
  "ORDER BY time_ms DESC LIMIT 1 OFFSET $2)",
  FALSE
};

static gboolean
we_store_pg_stream_telemetry_add (WeStore *store, const gchar *session_id, gint64 time_ms,
                                  const gchar *sample, guint keep, GError **error)
{
  WeStorePg *self = WE_STORE_PG (store);
  g_autoptr(PgConn) c = pool_acquire (self, error);
  g_auto(Params) p = { 0 };
  g_auto(Params) q = { 0 };
  g_autoptr(PGresult) res = NULL;
  g_autoptr(PGresult) pruned = NULL;
  g_autoptr(GError) error_local = NULL;
  gchar sqlstate[6] = "";

  if (c == NULL)
    return FALSE;
  param_text (&p, session_id);
  param_int64 (&p, time_ms);
  param_text (&p, sample);
  res = pg_query_state (c, &stmt_stream_telemetry_add, &p, "storing telemetry", NULL, sqlstate,
                        &error_local);
  if (res == NULL) {
    if (g_str_equal (sqlstate, SQLSTATE_FOREIGN_KEY_VIOLATION)) {
      g_set_error (error, WE_ERROR, WE_ERROR_STR_NOT_FOUND, "session %s not found", session_id);
      return FALSE;
    }
    g_propagate_error (error, g_steal_pointer (&error_local));
    return FALSE;
  }
  if (keep == 0)
    return TRUE;
  param_text (&q, session_id);
  param_int64 (&q, (gint64) keep - 1);
  pruned = pg_query (c, &stmt_stream_telemetry_prune, &q, "pruning telemetry", NULL, error);
  return pruned != NULL;
}

static const Statement stmt_stream_telemetry_list = {
  "stream_telemetry_list",
  "SELECT sample FROM (SELECT sample, time_ms FROM stream_telemetry WHERE session_id = $1 "
  "ORDER BY time_ms DESC LIMIT $2) AS newest ORDER BY time_ms ASC",
  TRUE
};

static GPtrArray *
we_store_pg_stream_telemetry_list (WeStore *store, const gchar *session_id, guint limit,
                                   GError **error)
{
  WeStorePg *self = WE_STORE_PG (store);
  g_autoptr(PgConn) c = pool_acquire (self, error);
  g_autoptr(GPtrArray) samples = g_ptr_array_new_with_free_func (g_free);
  g_auto(Params) p = { 0 };
  g_autoptr(PGresult) res = NULL;

  if (c == NULL)
    return NULL;
  param_text (&p, session_id);
  param_int64 (&p, limit == 0 ? 3600 : limit);
  res = pg_query (c, &stmt_stream_telemetry_list, &p, "listing telemetry", NULL, error);
  if (res == NULL)
    return NULL;
  for (gint row = 0; row < PQntuples (res); row++)
    g_ptr_array_add (samples, col_text (res, row, 0));
  return g_steal_pointer (&samples);
}

/* --- restreams (issue 11) ------------------------------------------------------------- */

#define RESTREAM_COLUMNS "id, user_id, status, doc, stats, created_at, updated_at"
/* what is read: the columns above and the owner's (migration 0012) */
#define RESTREAM_SELECT RESTREAM_COLUMNS ", owner_kernel, lease_until, fired, run_until"

static WeRestreamRecord *
restream_from_row (const PGresult *res, gint row)
{
  WeRestreamRecord *r = we_restream_record_new ();

  r->id = col_text (res, row, 0);
  r->user_id = col_text (res, row, 1);
  r->status = col_text (res, row, 2);
  r->doc = col_text (res, row, 3);
  r->stats = col_text (res, row, 4);
  r->created_at = col_int64 (res, row, 5);
  r->updated_at = col_int64 (res, row, 6);
  r->owner_kernel = col_text (res, row, 7);
  r->lease_until = col_int64 (res, row, 8);
  r->fired = col_text (res, row, 9);
  r->run_until = col_int64 (res, row, 10);
  return r;
}

/* a replace keeps the runner's status and stats */
static const Statement stmt_restream_put = {
  "restream_put",
  "INSERT INTO restreams (" RESTREAM_COLUMNS ") VALUES ($1, $2, 'stopped', $3, NULL, $4, $5) "
  "ON CONFLICT (id) DO UPDATE SET user_id = excluded.user_id, doc = excluded.doc, "
  "updated_at = excluded.updated_at",
  FALSE
};

static gboolean
we_store_pg_restream_put (WeStore *store, const WeRestreamRecord *record, GError **error)
{
  WeStorePg *self = WE_STORE_PG (store);
  g_autoptr(PgConn) c = pool_acquire (self, error);
  g_auto(Params) p = { 0 };
  g_autoptr(PGresult) res = NULL;
  gint64 now = g_get_real_time ();

  if (c == NULL)
    return FALSE;
  param_text (&p, record->id);
  param_text (&p, record->user_id);
  param_text (&p, record->doc);
  param_int64 (&p, record->created_at != 0 ? record->created_at : now);
  param_int64 (&p, now);
  res = pg_query (c, &stmt_restream_put, &p, "storing restream", NULL, error);
  return res != NULL;
}

static const Statement stmt_restream_get = {
  "restream_get", "SELECT " RESTREAM_SELECT " FROM restreams WHERE id = $1", TRUE
};

static WeRestreamRecord *
we_store_pg_restream_get (WeStore *store, const gchar *id, GError **error)
{
  WeStorePg *self = WE_STORE_PG (store);
  g_autoptr(PgConn) c = pool_acquire (self, error);
  g_auto(Params) p = { 0 };
  g_autoptr(PGresult) res = NULL;

  if (c == NULL)
    return NULL;
  param_text (&p, id);
  res = pg_query (c, &stmt_restream_get, &p, "reading restream", NULL, error);
  if (res == NULL)
    return NULL;
  if (PQntuples (res) == 0) {
    g_set_error (error, WE_ERROR, WE_ERROR_RST_NOT_FOUND, "restream %s not found", id);
    return NULL;
  }
  return restream_from_row (res, 0);
}

static const Statement stmt_restream_list = {
  "restream_list",
  "SELECT " RESTREAM_SELECT " FROM restreams ORDER BY created_at DESC, id DESC", TRUE
};

static GPtrArray *
we_store_pg_restream_list (WeStore *store, GError **error)
{
  WeStorePg *self = WE_STORE_PG (store);
  g_autoptr(PgConn) c = pool_acquire (self, error);
  g_auto(Params) p = { 0 };
  g_autoptr(PGresult) res = NULL;
  g_autoptr(GPtrArray) list =
    g_ptr_array_new_with_free_func ((GDestroyNotify) we_restream_record_free);

  if (c == NULL)
    return NULL;
  res = pg_query (c, &stmt_restream_list, &p, "listing restreams", NULL, error);
  if (res == NULL)
    return NULL;
  for (gint row = 0; row < PQntuples (res); row++)
    g_ptr_array_add (list, restream_from_row (res, row));
  return g_steal_pointer (&list);
}

static const Statement stmt_restream_set_state = {
  "restream_set_state",
  "UPDATE restreams SET status = $2, stats = COALESCE($3, stats), updated_at = $4 "
  "WHERE id = $1",
  FALSE
};

static gboolean
we_store_pg_restream_set_state (WeStore *store, const gchar *id, const gchar *status,
                                const gchar *stats, GError **error)
{
  WeStorePg *self = WE_STORE_PG (store);
  g_autoptr(PgConn) c = pool_acquire (self, error);
  g_auto(Params) p = { 0 };
  g_autoptr(PGresult) res = NULL;

  if (c == NULL)
    return FALSE;
  param_text (&p, id);
  param_text (&p, status);
  if (stats != NULL)
    param_text (&p, stats);
  else
    param_null (&p);
  param_int64 (&p, g_get_real_time ());
  res = pg_query (c, &stmt_restream_set_state, &p, "updating restream", NULL, error);
  if (res == NULL)
    return FALSE;
  if (affected_none (res)) {
    g_set_error (error, WE_ERROR, WE_ERROR_RST_NOT_FOUND, "restream %s not found", id);
    return FALSE;
  }
  return TRUE;
}

static const Statement stmt_restream_delete = {
  "restream_delete", "DELETE FROM restreams WHERE id = $1", FALSE
};

static gboolean
we_store_pg_restream_delete (WeStore *store, const gchar *id, GError **error)
{
  WeStorePg *self = WE_STORE_PG (store);
  g_autoptr(PgConn) c = pool_acquire (self, error);
  g_auto(Params) p = { 0 };
  g_autoptr(PGresult) res = NULL;

  if (c == NULL)
    return FALSE;
  param_text (&p, id);
  res = pg_query (c, &stmt_restream_delete, &p, "deleting restream", NULL, error);
  if (res == NULL)
    return FALSE;
  if (affected_none (res)) {
    g_set_error (error, WE_ERROR, WE_ERROR_RST_NOT_FOUND, "restream %s not found", id);
    return FALSE;
  }
  return TRUE;
}

/* One UPDATE: under READ COMMITTED a second kernel's UPDATE of the same row
 * waits for the first and re-checks the WHERE on the row it wrote, so of
 * kernels ticking at the same moment exactly one wins (docs/architecture.md
 * "Restreams in cluster mode"). */
static const Statement stmt_restream_claim = {
  "restream_claim",
  "UPDATE restreams SET owner_kernel = $2, lease_until = $3, status = 'starting', "
  "fired = COALESCE($6::text, fired), "
  "run_until = CASE WHEN $6::text IS NULL THEN run_until ELSE $7::bigint END "
  "WHERE id = $1 "
  "AND (owner_kernel IS NULL OR owner_kernel = $2 OR lease_until < $4) "
  "AND ($5::bigint = 0 OR status IN ('starting', 'streaming', 'error')) "
  "AND ($6::text IS NULL OR fired IS NULL OR fired <> $6::text)",
  FALSE
};

static gboolean
we_store_pg_restream_claim (WeStore *store, const gchar *id, const WeRestreamClaim *claim,
                            gboolean *claimed, GError **error)
{
  WeStorePg *self = WE_STORE_PG (store);
  g_autoptr(PgConn) c = pool_acquire (self, error);
  g_auto(Params) p = { 0 };
  g_autoptr(PGresult) res = NULL;

  if (c == NULL)
    return FALSE;
  param_text (&p, id);
  param_text (&p, claim->kernel_id);
  param_int64 (&p, claim->lease_until);
  param_int64 (&p, claim->now);
  param_int64 (&p, claim->active_only ? 1 : 0);
  if (claim->fire_key != NULL)
    param_text (&p, claim->fire_key);
  else
    param_null (&p);
  param_int64 (&p, claim->run_until);
  res = pg_query (c, &stmt_restream_claim, &p, "claiming restream", NULL, error);
  if (res == NULL)
    return FALSE;
  *claimed = !affected_none (res);
  return TRUE;
}

static const Statement stmt_restream_renew = {
  "restream_renew",
  "UPDATE restreams SET lease_until = $2 WHERE owner_kernel = $1 RETURNING id",
  FALSE
};

static GPtrArray *
we_store_pg_restream_renew (WeStore *store, const gchar *kernel_id, gint64 lease_until,
                            GError **error)
{
  WeStorePg *self = WE_STORE_PG (store);
  g_autoptr(PgConn) c = pool_acquire (self, error);
  g_auto(Params) p = { 0 };
  g_autoptr(PGresult) res = NULL;
  GPtrArray *ids;

  if (c == NULL)
    return NULL;
  param_text (&p, kernel_id);
  param_int64 (&p, lease_until);
  res = pg_query (c, &stmt_restream_renew, &p, "renewing restream leases", NULL, error);
  if (res == NULL)
    return NULL;
  ids = g_ptr_array_new_with_free_func (g_free);
  for (gint row = 0; row < PQntuples (res); row++)
    g_ptr_array_add (ids, col_text (res, row, 0));
  return ids;
}

static const Statement stmt_restream_report = {
  "restream_report",
  "UPDATE restreams SET status = $3, stats = COALESCE($4::text, stats), updated_at = $5, "
  "owner_kernel = CASE WHEN $6::bigint = 0 THEN owner_kernel END, "
  "lease_until = CASE WHEN $6::bigint = 0 THEN lease_until ELSE 0 END, "
  "run_until = CASE WHEN $6::bigint = 0 THEN run_until ELSE 0 END "
  "WHERE id = $1 AND ($2::text IS NULL OR owner_kernel = $2::text)",
  FALSE
};

static gboolean
we_store_pg_restream_report (WeStore *store, const gchar *id, const gchar *kernel_id,
                             const gchar *status, const gchar *stats, gboolean release,
                             GError **error)
{
  WeStorePg *self = WE_STORE_PG (store);
  g_autoptr(PgConn) c = pool_acquire (self, error);
  g_auto(Params) p = { 0 };
  g_autoptr(PGresult) res = NULL;

  if (c == NULL)
    return FALSE;
  param_text (&p, id);
  if (kernel_id != NULL)
    param_text (&p, kernel_id);
  else
    param_null (&p);
  param_text (&p, status);
  if (stats != NULL)
    param_text (&p, stats);
  else
    param_null (&p);
  param_int64 (&p, g_get_real_time ());
  param_int64 (&p, release ? 1 : 0);
  res = pg_query (c, &stmt_restream_report, &p, "updating restream", NULL, error);
  return res != NULL;
}

/* --- migrations ------------------------------------------------------------------------ */

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

static const Statement stmt_migration_lock = {
  "migration_lock", "SELECT pg_advisory_lock ($1::bigint)", FALSE
};
static const Statement stmt_migration_unlock = {
  "migration_unlock", "SELECT pg_advisory_unlock ($1::bigint)", FALSE
};
static const Statement stmt_migration_newest = {
  "migration_newest", "SELECT MAX(version) FROM schema_migrations", TRUE
};
static const Statement stmt_migration_applied = {
  "migration_applied", "SELECT 1 FROM schema_migrations WHERE version = $1", TRUE
};
static const Statement stmt_migration_record = {
  "migration_record",
  "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
  FALSE
};

static gboolean
query_newest (PgConn *c, gint64 *version, GError **error)
{
  g_autoptr(PGresult) res = pg_query (c, &stmt_migration_newest, NULL,
                                      "querying schema_migrations", NULL, error);

  if (res == NULL)
    return FALSE;
  *version = col_int64 (res, 0, 0);
  return TRUE;
}

static gboolean
apply_migration (PgConn *c, GResource *resource, const Migration *m, GError **error)
{
  g_autofree gchar *path = g_strdup_printf ("%s/%s", MIGRATIONS_PATH, m->name);
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(PGresult) res = NULL;
  g_autofree gchar *sql = NULL;
  g_auto(Params) p = { 0 };
  gsize size = 0;
  gconstpointer data;

  if (!pg_begin (c, "BEGIN", error))
    return FALSE;
  param_int64 (&p, m->version);
  res = pg_query (c, &stmt_migration_applied, &p, "querying schema_migrations", NULL, error);
  if (res == NULL)
    return FALSE;
  if (PQntuples (res) > 0)
    return pg_commit (c, error);

  bytes = g_resource_lookup_data (resource, path, G_RESOURCE_LOOKUP_FLAGS_NONE, error);
  if (bytes == NULL)
    return FALSE;
  data = g_bytes_get_data (bytes, &size);
  sql = g_strndup (data, size);
  g_debug ("applying migration %s", m->name);
  /* the whole file in one simple query, inside our transaction */
  if (!pg_exec (c, sql, "running", error))
    return FALSE;

  params_clear (&p);
  param_int64 (&p, m->version);
  param_text (&p, m->name);
  param_int64 (&p, g_get_real_time ());
  g_clear_pointer (&res, PQclear);
  res = pg_query (c, &stmt_migration_record, &p, "recording migration", NULL, error);
  if (res == NULL)
    return FALSE;
  return pg_commit (c, error);
}

static gboolean
migrate_locked (WeStorePg *self, PgConn *c, GError **error)
{
  GResource *resource = we_store_migrations_get_resource ();
  g_autoptr(GArray) migrations = g_array_new (FALSE, TRUE, sizeof (Migration));
  g_autoptr(GError) error_local = NULL;
  g_auto(GStrv) names = NULL;
  gint64 newest_known = 0;
  gint64 current = 0;

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

  /* under the lock, as concurrent CREATE TABLE IF NOT EXISTS can still clash */
  if (!pg_exec (c,
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                "version BIGINT PRIMARY KEY, name TEXT, applied_at BIGINT NOT NULL)",
                "creating schema_migrations", error))
    return FALSE;
  if (!query_newest (c, &current, error))
    return FALSE;
  /* an older build must not write into a schema it does not know */
  if (current > newest_known) {
    g_set_error (error, WE_ERROR, WE_ERROR_SYS_DATABASE,
                 "the database schema is version %" G_GINT64_FORMAT
                 " but this build only knows up to %" G_GINT64_FORMAT,
                 current, newest_known);
    return FALSE;
  }

  for (guint i = 0; i < migrations->len; i++) {
    const Migration *m = &g_array_index (migrations, Migration, i);

    if (!apply_migration (c, resource, m, error)) {
      g_prefix_error (error, "applying migration %s: ", m->name);
      return FALSE;
    }
  }

  if (!query_newest (c, &current, error))
    return FALSE;
  self->schema_version = (gint) current;
  return TRUE;
}

static gboolean
migrate (WeStorePg *self, GError **error)
{
  g_autoptr(PgConn) c = pool_acquire (self, error);
  g_autoptr(PGresult) res = NULL;
  g_auto(Params) p = { 0 };
  gboolean ok;

  if (c == NULL)
    return FALSE;
  /* A session lock, held across the per-migration transactions: a second
   * webencoded starting at the same time waits here, then finds every
   * migration recorded. The server drops it if we die half-way. */
  param_text (&p, MIGRATION_LOCK_KEY);
  res = pg_query (c, &stmt_migration_lock, &p, "taking the migration lock", NULL, error);
  if (res == NULL)
    return FALSE;
  g_clear_pointer (&res, PQclear);

  ok = migrate_locked (self, c, error);
  if (!ok)
    g_prefix_error (error, "migrating %s: ", self->display);

  /* after a failure the transaction must end before the unlock can run */
  if (PQstatus (c->conn) == CONNECTION_OK && PQtransactionStatus (c->conn) != PQTRANS_IDLE)
    res = PQexec (c->conn, "ROLLBACK");
  g_clear_pointer (&res, PQclear);
  res = pg_query (c, &stmt_migration_unlock, &p, "releasing the migration lock", NULL,
                  ok ? error : NULL);
  return ok && res != NULL;
}

/* --- construction -------------------------------------------------------------------- */

/* The authority's password as written in the URL (percent-encoded or not). */
static gchar *
url_raw_password (const gchar *url)
{
  const gchar *start = strstr (url, "://");
  const gchar *end;
  const gchar *at = NULL;
  const gchar *colon;

  if (start == NULL)
    return NULL;
  start += 3;
  end = start + strcspn (start, "/?");
  for (const gchar *q = start; q < end; q++) {
    if (*q == '@')
      at = q;
  }
  if (at == NULL)
    return NULL;
  colon = memchr (start, ':', (gsize) (at - start));
  if (colon == NULL || colon + 1 == at)
    return NULL;
  return g_strndup (colon + 1, (gsize) (at - colon - 1));
}

/* scheme://user@host:port/db, without the password and the query (which may
 * carry one too) */
static gchar *
url_display (const gchar *url)
{
  const gchar *start = strstr (url, "://");
  g_autoptr(GString) s = NULL;
  const gchar *auth_end;
  const gchar *at = NULL;

  if (start == NULL)
    return g_strdup ("(unparsable URL)");
  start += 3;
  auth_end = start + strcspn (start, "/?");
  for (const gchar *q = start; q < auth_end; q++) {
    if (*q == '@')
      at = q;
  }
  s = g_string_new_len (url, start - url);
  if (at != NULL) {
    const gchar *colon = memchr (start, ':', (gsize) (at - start));
    g_string_append_len (s, start, (colon != NULL ? colon : at) - start);
    g_string_append_c (s, '@');
    start = at + 1;
  }
  g_string_append_len (s, start, (gssize) strcspn (start, "?"));
  return g_string_free (g_steal_pointer (&s), FALSE);
}

WeStore *
we_store_pg_new (const gchar *url, GError **error)
{
  g_autoptr(WeStorePg) self = NULL;
  g_autoptr(PQconninfoOption) options = NULL;
  g_autoptr(GPtrArray) secrets = g_ptr_array_new_with_free_func (g_free);
  char *errmsg = NULL;
  gchar *raw;

  g_return_val_if_fail (url != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  self = g_object_new (WE_TYPE_STORE_PG, NULL);
  self->url = g_strdup (url);
  self->display = url_display (url);

  /* collected before anything can fail, so even a parse error is scrubbed */
  raw = url_raw_password (url);
  if (raw != NULL) {
    g_autofree gchar *unescaped = g_uri_unescape_string (raw, NULL);
    if (unescaped != NULL && *unescaped != '\0' && g_strcmp0 (unescaped, raw) != 0)
      g_ptr_array_add (secrets, g_steal_pointer (&unescaped));
    g_ptr_array_add (secrets, raw);
  }

  if (!g_str_has_prefix (url, "postgresql://") && !g_str_has_prefix (url, "postgres://")) {
    g_ptr_array_add (secrets, NULL);
    self->secrets = (gchar **) g_ptr_array_free (g_steal_pointer (&secrets), FALSE);
    g_set_error (error, WE_ERROR, WE_ERROR_SYS_DATABASE,
                 "\"%s\" is not a postgresql:// URL", self->display);
    return NULL;
  }
  options = PQconninfoParse (url, &errmsg);
  if (options != NULL) {
    for (PQconninfoOption *o = options; o->keyword != NULL; o++) {
      if (g_strcmp0 (o->keyword, "password") == 0 && o->val != NULL && *o->val != '\0')
        g_ptr_array_add (secrets, g_strdup (o->val));
    }
  }
  g_ptr_array_add (secrets, NULL);
  self->secrets = (gchar **) g_ptr_array_free (g_steal_pointer (&secrets), FALSE);
  if (options == NULL) {
    g_autofree gchar *what = g_strdup_printf ("invalid database URL %s", self->display);

    set_db_error (self, error, what, errmsg != NULL ? errmsg : "out of memory");
    PQfreemem (errmsg);
    return NULL;
  }

  /* connection errors already name the database */
  if (!migrate (self, error))
    return NULL;
  g_debug ("opened %s at schema version %d", self->display, self->schema_version);
  return WE_STORE (g_steal_pointer (&self));
}

static void
we_store_pg_finalize (GObject *object)
{
  WeStorePg *self = WE_STORE_PG (object);

  for (guint i = 0; i < POOL_SIZE; i++) {
    g_warn_if_fail (!self->pool[i].busy);
    g_clear_pointer (&self->pool[i].conn, PQfinish);
    g_hash_table_unref (self->pool[i].prepared);
  }
  g_free (self->url);
  g_free (self->display);
  g_strfreev (self->secrets);
  g_mutex_clear (&self->mutex);
  g_cond_clear (&self->cond);
  G_OBJECT_CLASS (we_store_pg_parent_class)->finalize (object);
}

static void
we_store_pg_class_init (WeStorePgClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = we_store_pg_finalize;
}

static void
we_store_pg_init (WeStorePg *self)
{
  g_mutex_init (&self->mutex);
  g_cond_init (&self->cond);
  for (guint i = 0; i < POOL_SIZE; i++) {
    self->pool[i].owner = self;
    self->pool[i].prepared = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  }
}

/* --- publications (issue 11) ------------------------------------------------------ */

static const Statement stmt_publication_put = {
  "publication_put",
  "INSERT INTO publications (id, job_id, status, created_at, updated_at, doc) "
  "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO UPDATE SET "
  "status = EXCLUDED.status, updated_at = EXCLUDED.updated_at, doc = EXCLUDED.doc",
  FALSE
};

static gboolean
we_store_pg_publication_put (WeStore *store, const gchar *id, const gchar *job_id,
                             const gchar *status, gint64 created_at, gint64 updated_at,
                             const gchar *doc, GError **error)
{
  WeStorePg *self = WE_STORE_PG (store);
  g_autoptr(PgConn) c = pool_acquire (self, error);
  g_auto(Params) p = { 0 };
  g_autoptr(PGresult) res = NULL;

  if (c == NULL)
    return FALSE;
  param_text (&p, id);
  param_text (&p, job_id);
  param_text (&p, status);
  param_int64 (&p, created_at);
  param_int64 (&p, updated_at);
  param_text (&p, doc);
  res = pg_query (c, &stmt_publication_put, &p, "storing publication", job_id, error);
  return res != NULL;
}

static const Statement stmt_publication_get = {
  "publication_get", "SELECT doc FROM publications WHERE id = $1", TRUE
};

static gchar *
we_store_pg_publication_get (WeStore *store, const gchar *id, GError **error)
{
  WeStorePg *self = WE_STORE_PG (store);
  g_autoptr(PgConn) c = pool_acquire (self, error);
  g_auto(Params) p = { 0 };
  g_autoptr(PGresult) res = NULL;

  if (c == NULL)
    return NULL;
  param_text (&p, id);
  res = pg_query (c, &stmt_publication_get, &p, "reading publication", NULL, error);
  if (res == NULL)
    return NULL;
  if (PQntuples (res) == 0) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_NOT_FOUND, "publication %s not found", id);
    return NULL;
  }
  return col_text (res, 0, 0);
}

static const Statement stmt_publication_list = {
  "publication_list",
  "SELECT doc FROM publications WHERE ($1::text IS NULL OR job_id = $1) AND "
  "($2::text IS NULL OR status = $2) ORDER BY created_at, id",
  TRUE
};

static GPtrArray *
we_store_pg_publication_list (WeStore *store, const gchar *job_id, const gchar *status,
                              GError **error)
{
  WeStorePg *self = WE_STORE_PG (store);
  g_autoptr(PgConn) c = pool_acquire (self, error);
  g_autoptr(GPtrArray) docs = g_ptr_array_new_with_free_func (g_free);
  g_auto(Params) p = { 0 };
  g_autoptr(PGresult) res = NULL;

  if (c == NULL)
    return NULL;
  param_text (&p, job_id);
  param_text (&p, status);
  res = pg_query (c, &stmt_publication_list, &p, "listing publications", NULL, error);
  if (res == NULL)
    return NULL;
  for (gint row = 0; row < PQntuples (res); row++)
    g_ptr_array_add (docs, col_text (res, row, 0));
  return g_steal_pointer (&docs);
}

static const Statement stmt_publication_owner = {
  "publication_owner",
  "SELECT COALESCE(p.owner_kernel, j.owner_kernel) FROM publications p "
  "LEFT JOIN jobs j ON j.id = p.job_id WHERE p.id = $1",
  TRUE
};

/* One conditional UPDATE: a kernel that waited for the row lock another
 * claimer held sees that claimer (alive) as the owner when PostgreSQL
 * checks the row again, and takes nothing, so exactly one kernel wins. */
static const Statement stmt_publication_claim = {
  "publication_claim",
  "UPDATE publications SET owner_kernel = $1 WHERE id = $2 AND "
  "status IN ('queued', 'uploading') AND ("
  "  COALESCE(owner_kernel, (SELECT j.owner_kernel FROM jobs j "
  "    WHERE j.id = publications.job_id), $1) = $1 OR "
  "  COALESCE(owner_kernel, (SELECT j.owner_kernel FROM jobs j "
  "    WHERE j.id = publications.job_id)) NOT IN "
  "    (SELECT id FROM kernels WHERE last_seen >= $3))",
  FALSE
};

static gboolean
we_store_pg_publication_claim (WeStore *store, const gchar *id, const gchar *kernel_id,
                               guint stale_s, gchar **previous, GError **error)
{
  WeStorePg *self = WE_STORE_PG (store);
  g_autoptr(PgConn) c = pool_acquire (self, error);
  g_auto(Params) q = { 0 };
  g_auto(Params) p = { 0 };
  g_autoptr(PGresult) owner = NULL;
  g_autoptr(PGresult) res = NULL;

  if (c == NULL)
    return FALSE;
  param_text (&q, id);
  owner = pg_query (c, &stmt_publication_owner, &q, "claiming publication", NULL, error);
  if (owner == NULL)
    return FALSE;
  if (previous != NULL && PQntuples (owner) > 0 && !PQgetisnull (owner, 0, 0))
    *previous = col_text (owner, 0, 0);
  param_text (&p, kernel_id);
  param_text (&p, id);
  param_int64 (&p, g_get_real_time () - (gint64) stale_s * G_USEC_PER_SEC);
  res = pg_query (c, &stmt_publication_claim, &p, "claiming publication", NULL, error);
  if (res == NULL)
    return FALSE;
  return !affected_none (res);
}

static void
we_store_pg_iface_init (WeStoreInterface *iface)
{
  iface->job_create = we_store_pg_job_create;
  iface->job_get = we_store_pg_job_get;
  iface->job_list = we_store_pg_job_list;
  iface->job_update = we_store_pg_job_update;
  iface->job_delete = we_store_pg_job_delete;
  iface->task_list = we_store_pg_task_list;
  iface->task_insert = we_store_pg_task_insert;
  iface->task_update = we_store_pg_task_update;
  iface->output_put = we_store_pg_output_put;
  iface->output_list = we_store_pg_output_list;
  iface->event_add = we_store_pg_event_add;
  iface->event_list = we_store_pg_event_list;
  iface->profile_list = we_store_pg_profile_list;
  iface->profile_get = we_store_pg_profile_get;
  iface->profile_put = we_store_pg_profile_put;
  iface->profile_delete = we_store_pg_profile_delete;
  iface->worker_put = we_store_pg_worker_put;
  iface->worker_list = we_store_pg_worker_list;
  iface->worker_delete = we_store_pg_worker_delete;
  iface->kernel_beat = we_store_pg_kernel_beat;
  iface->job_claim_orphans = we_store_pg_job_claim_orphans;
  iface->job_release_owned = we_store_pg_job_release_owned;
  iface->plugin_config_put = we_store_pg_plugin_config_put;
  iface->plugin_config_list = we_store_pg_plugin_config_list;
  iface->schema_version = we_store_pg_schema_version;
  iface->audit_add = we_store_pg_audit_add;
  iface->audit_list = we_store_pg_audit_list;
  iface->token_put = we_store_pg_token_put;
  iface->token_get = we_store_pg_token_get;
  iface->token_get_by_hash = we_store_pg_token_get_by_hash;
  iface->token_list = we_store_pg_token_list;
  iface->webhook_put = we_store_pg_webhook_put;
  iface->webhook_get = we_store_pg_webhook_get;
  iface->webhook_list = we_store_pg_webhook_list;
  iface->webhook_delete = we_store_pg_webhook_delete;
  iface->delivery_add = we_store_pg_delivery_add;
  iface->delivery_claim = we_store_pg_delivery_claim;
  iface->delivery_update = we_store_pg_delivery_update;
  iface->delivery_get = we_store_pg_delivery_get;
  iface->delivery_list = we_store_pg_delivery_list;
  iface->task_pipeline_put = we_store_pg_task_pipeline_put;
  iface->task_pipeline_list = we_store_pg_task_pipeline_list;
  iface->task_log_put = we_store_pg_task_log_put;
  iface->task_log_list = we_store_pg_task_log_list;
  iface->error_event_add = we_store_pg_error_event_add;
  iface->error_event_list = we_store_pg_error_event_list;
  iface->error_event_set_resolved = we_store_pg_error_event_set_resolved;
  iface->stream_create = we_store_pg_stream_create;
  iface->stream_get = we_store_pg_stream_get;
  iface->stream_get_by_key_hash = we_store_pg_stream_get_by_key_hash;
  iface->stream_list = we_store_pg_stream_list;
  iface->stream_update = we_store_pg_stream_update;
  iface->stream_delete = we_store_pg_stream_delete;
  iface->stream_session_put = we_store_pg_stream_session_put;
  iface->stream_session_list = we_store_pg_stream_session_list;
  iface->stream_telemetry_add = we_store_pg_stream_telemetry_add;
  iface->stream_telemetry_list = we_store_pg_stream_telemetry_list;
  iface->restream_put = we_store_pg_restream_put;
  iface->restream_get = we_store_pg_restream_get;
  iface->restream_list = we_store_pg_restream_list;
  iface->restream_set_state = we_store_pg_restream_set_state;
  iface->restream_delete = we_store_pg_restream_delete;
  iface->restream_claim = we_store_pg_restream_claim;
  iface->restream_renew = we_store_pg_restream_renew;
  iface->restream_report = we_store_pg_restream_report;
  iface->publication_put = we_store_pg_publication_put;
  iface->publication_get = we_store_pg_publication_get;
  iface->publication_list = we_store_pg_publication_list;
  iface->publication_claim = we_store_pg_publication_claim;
}
