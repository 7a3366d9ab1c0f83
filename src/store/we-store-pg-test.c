/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The store suite against a real PostgreSQL, plus what only a server can
 * show: reconnecting after a restart or a killed session, migrations under
 * concurrent opens, and passwords kept out of messages.
 *
 * The server is WE_TEST_DATABASE_URL when set (every case then gets its own
 * database, dropped at the end); otherwise a throw-away cluster of our own,
 * made with initdb in a temporary directory and started on a free loopback
 * port. Without either the test is skipped (exit 77).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <glib-unix.h>
#include <libpq-fe.h>

#include "store/we-store-pg.h"
#include "store/we-store-test-suite.h"

#define EXIT_SKIP 77

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PGresult, PQclear)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PGconn, PQfinish)

static struct {
  gchar     *base_url;      /* with password; its database is the maintenance one */
  gboolean   own_cluster;
  gchar     *bindir;
  gchar     *tmpdir;
  gchar     *datadir;
  gchar     *password;
  guint      port;
  gboolean   drop_privs;    /* root: initdb/pg_ctl run as the postgres user */
  uid_t      uid;
  gid_t      gid;
  GPid       watchdog;
  gint       watchdog_fd;
  GPtrArray *databases;
} pg;

/* --- URLs and raw SQL ------------------------------------------------------------ */

/* base_url with its database replaced by @db */
static gchar *
url_with_db (const gchar *db)
{
  const gchar *auth = strstr (pg.base_url, "://");
  const gchar *path;
  const gchar *query;

  g_assert_nonnull (auth);
  path = auth + 3 + strcspn (auth + 3, "/?");
  query = strchr (path, '?');
  return g_strdup_printf ("%.*s/%s%s", (gint) (path - pg.base_url), pg.base_url, db,
                          query != NULL ? query : "");
}

static PGconn *
admin_connect (void)
{
  PGconn *conn = PQconnectdb (pg.base_url);

  if (PQstatus (conn) != CONNECTION_OK)
    g_error ("admin connection failed: %s", PQerrorMessage (conn));
  return conn;
}

/* runs @sql on @db (NULL: the maintenance database) with text @values */
static PGresult *
admin_query (const gchar *db, const gchar *sql, gint n, const gchar *const *values)
{
  g_autofree gchar *url = db != NULL ? url_with_db (db) : g_strdup (pg.base_url);
  g_autoptr(PGconn) conn = PQconnectdb (url);
  PGresult *res;

  if (PQstatus (conn) != CONNECTION_OK)
    g_error ("admin connection failed: %s", PQerrorMessage (conn));
  res = PQexecParams (conn, sql, n, NULL, values, NULL, NULL, 0);
  if (PQresultStatus (res) != PGRES_COMMAND_OK && PQresultStatus (res) != PGRES_TUPLES_OK)
    g_error ("%s: %s", sql, PQresultErrorMessage (res));
  return res;
}

static gint64
admin_int (const gchar *db, const gchar *sql)
{
  g_autoptr(PGresult) res = admin_query (db, sql, 0, NULL);

  g_assert_cmpint (PQntuples (res), ==, 1);
  return g_ascii_strtoll (PQgetvalue (res, 0, 0), NULL, 10);
}

static gchar *
new_database (void)
{
  static guint counter;
  g_autoptr(PGconn) conn = admin_connect ();
  g_autoptr(PGresult) res = NULL;
  g_autofree gchar *sql = NULL;
  gchar *name = g_strdup_printf ("we_test_%d_%u_%u", (gint) getpid (), g_random_int (),
                                 ++counter);

  /* an identifier cannot be a parameter; this one is ours, digits and _ */
  sql = g_strdup_printf ("CREATE DATABASE %s TEMPLATE template0 ENCODING 'UTF8'", name);
  res = PQexec (conn, sql);
  if (PQresultStatus (res) != PGRES_COMMAND_OK)
    g_error ("%s: %s", sql, PQresultErrorMessage (res));
  g_ptr_array_add (pg.databases, g_strdup (name));
  return name;
}

static WeStore *
factory (GError **error)
{
  g_autofree gchar *db = new_database ();
  g_autofree gchar *url = url_with_db (db);

  return we_store_pg_new (url, error);
}

/* --- our own cluster ------------------------------------------------------------------ */

static void
drop_privileges (gpointer user_data)
{
  /* between fork and exec: async-signal-safe calls only */
  if (pg.drop_privs &&
      (setgroups (0, NULL) != 0 || setgid (pg.gid) != 0 || setuid (pg.uid) != 0))
    _exit (127);
}

static gboolean
run_tool (const gchar *tool, const gchar *const *args, gboolean quiet)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_autofree gchar *out = NULL;
  g_autofree gchar *err = NULL;
  g_autoptr(GError) error = NULL;
  gint status = 0;

  g_ptr_array_add (argv, g_build_filename (pg.bindir, tool, NULL));
  for (guint i = 0; args[i] != NULL; i++)
    g_ptr_array_add (argv, g_strdup (args[i]));
  g_ptr_array_add (argv, NULL);
  if (!g_spawn_sync (pg.tmpdir, (gchar **) argv->pdata, NULL, G_SPAWN_DEFAULT, drop_privileges,
                     NULL, &out, &err, &status, &error) ||
      !g_spawn_check_wait_status (status, &error)) {
    if (!quiet)
      g_printerr ("%s failed: %s\n%s%s", tool, error->message, out ? out : "", err ? err : "");
    return FALSE;
  }
  return TRUE;
}

static gboolean
cluster_start (void)
{
  g_autofree gchar *sockdir = g_build_filename (pg.tmpdir, "sock", NULL);
  g_autofree gchar *log = g_build_filename (pg.tmpdir, "postgres.log", NULL);
  g_autofree gchar *opts = g_strdup_printf (
    "-c listen_addresses=127.0.0.1 -p %u -k %s -c fsync=off -c synchronous_commit=off "
    "-c full_page_writes=off", pg.port, sockdir);
  const gchar *args[] = { "-D", pg.datadir, "-l", log, "-o", opts, "-w", "-t", "60", "start",
                          NULL };

  return run_tool ("pg_ctl", args, FALSE);
}

static gboolean
cluster_stop (void)
{
  const gchar *args[] = { "-D", pg.datadir, "-m", "fast", "-w", "stop", NULL };

  return run_tool ("pg_ctl", args, FALSE);
}

static void
remove_tree (const gchar *path)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  const gchar *name;

  if (dir != NULL && !g_file_test (path, G_FILE_TEST_IS_SYMLINK)) {
    while ((name = g_dir_read_name (dir)) != NULL) {
      g_autofree gchar *child = g_build_filename (path, name, NULL);
      remove_tree (child);
    }
  }
  g_remove (path);
}

/* A child that outlives us by a moment: however this program ends (even an
 * assertion's abort or the harness's SIGKILL), the server is stopped and the
 * directory removed once the pipe to us closes. */
static void
start_watchdog (void)
{
  gint fds[2];
  pid_t pid;

  if (!g_unix_open_pipe (fds, FD_CLOEXEC, NULL))
    g_error ("pipe: %s", g_strerror (errno));
  pid = fork ();
  if (pid < 0)
    g_error ("fork: %s", g_strerror (errno));
  if (pid == 0) {
    const gchar *args[] = { "-D", pg.datadir, "-m", "immediate", "-w", "stop", NULL };
    gint null = open ("/dev/null", O_RDWR);
    gchar c;

    close (fds[1]);
    /* out of the test's process group, so a group kill leaves us to clean up */
    setsid ();
    dup2 (null, STDIN_FILENO);
    dup2 (null, STDOUT_FILENO);
    dup2 (null, STDERR_FILENO);
    while (read (fds[0], &c, 1) != 0 && errno == EINTR)
      ;
    run_tool ("pg_ctl", args, TRUE);
    remove_tree (pg.tmpdir);
    _exit (0);
  }
  close (fds[0]);
  pg.watchdog = pid;
  pg.watchdog_fd = fds[1];
}

static gchar *
find_bindir (void)
{
  const gchar *env = g_getenv ("WE_TEST_PG_BINDIR");
  g_autofree gchar *initdb = NULL;
  g_autoptr(GDir) dir = NULL;
  const gchar *name;
  gint64 best = -1;
  gchar *found = NULL;

  if (env != NULL)
    return g_strdup (env);
  initdb = g_find_program_in_path ("initdb");
  if (initdb != NULL)
    return g_path_get_dirname (initdb);
  /* Debian keeps the server tools off PATH, one folder per major version */
  dir = g_dir_open ("/usr/lib/postgresql", 0, NULL);
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL) {
    g_autofree gchar *bin = g_build_filename ("/usr/lib/postgresql", name, "bin", NULL);
    g_autofree gchar *tool = g_build_filename (bin, "initdb", NULL);
    gint64 version = g_ascii_strtoll (name, NULL, 10);

    if (version > best && g_file_test (tool, G_FILE_TEST_IS_EXECUTABLE)) {
      best = version;
      g_free (found);
      found = g_steal_pointer (&bin);
    }
  }
  return found;
}

static guint
free_port (void)
{
  struct sockaddr_in addr = { 0 };
  socklen_t len = sizeof (addr);
  gint fd = socket (AF_INET, SOCK_STREAM, 0);
  guint port;

  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  if (fd < 0 || bind (fd, (struct sockaddr *) &addr, sizeof (addr)) != 0 ||
      getsockname (fd, (struct sockaddr *) &addr, &len) != 0)
    g_error ("finding a free port: %s", g_strerror (errno));
  port = ntohs (addr.sin_port);
  close (fd);
  return port;
}

/* Returns: NULL on success, else why the test cannot run */
static gchar *
cluster_setup (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree gchar *pwfile = NULL;
  g_autofree gchar *sockdir = NULL;
  const gchar *initdb_args[] = {
    "-D", NULL, "-U", "we_test", NULL, "-A", "scram-sha-256", "--auth-local=trust",
    "-E", "UTF8", "--locale=C", "--no-sync", NULL
  };
  g_autofree gchar *pwfile_arg = NULL;

  pg.bindir = find_bindir ();
  if (pg.bindir == NULL)
    return g_strdup ("WE_TEST_DATABASE_URL is unset and no initdb was found "
                     "(install postgresql or set WE_TEST_PG_BINDIR)");
  if (geteuid () == 0) {
    struct passwd *pw = getpwnam ("postgres");

    /* initdb and postgres refuse to run as root */
    if (pw == NULL)
      return g_strdup ("running as root and there is no postgres user to run initdb as");
    pg.drop_privs = TRUE;
    pg.uid = pw->pw_uid;
    pg.gid = pw->pw_gid;
  }

  pg.tmpdir = g_dir_make_tmp ("we-store-pg-XXXXXX", &error);
  g_assert_no_error (error);
  pg.datadir = g_build_filename (pg.tmpdir, "data", NULL);
  sockdir = g_build_filename (pg.tmpdir, "sock", NULL);
  g_assert_cmpint (g_mkdir (sockdir, 0700), ==, 0);
  pg.password = g_strdup_printf ("pw-%08x%08x", g_random_int (), g_random_int ());
  pwfile = g_build_filename (pg.tmpdir, "pwfile", NULL);
  g_file_set_contents (pwfile, pg.password, -1, &error);
  g_assert_no_error (error);
  if (pg.drop_privs &&
      (chown (pg.tmpdir, pg.uid, pg.gid) != 0 || chown (sockdir, pg.uid, pg.gid) != 0 ||
       chown (pwfile, pg.uid, pg.gid) != 0))
    g_error ("chown: %s", g_strerror (errno));

  /* from here on the watchdog removes whatever we leave */
  start_watchdog ();

  pwfile_arg = g_strdup_printf ("--pwfile=%s", pwfile);
  initdb_args[1] = pg.datadir;
  initdb_args[4] = pwfile_arg;
  if (!run_tool ("initdb", initdb_args, FALSE))
    g_error ("initdb failed");
  pg.port = free_port ();
  if (!cluster_start ())
    g_error ("starting PostgreSQL failed");
  pg.own_cluster = TRUE;
  pg.base_url = g_strdup_printf ("postgresql://we_test:%s@127.0.0.1:%u/postgres", pg.password,
                                 pg.port);
  return NULL;
}

static void
teardown (void)
{
  if (pg.own_cluster) {
    gint status;

    /* the watchdog stops the server and removes the directory */
    close (pg.watchdog_fd);
    while (waitpid (pg.watchdog, &status, 0) < 0 && errno == EINTR)
      ;
    return;
  }
  for (guint i = 0; i < pg.databases->len; i++) {
    g_autofree gchar *sql =
      g_strdup_printf ("DROP DATABASE IF EXISTS %s WITH (FORCE)",
                       (const gchar *) g_ptr_array_index (pg.databases, i));
    g_autoptr(PGresult) res = admin_query (NULL, sql, 0, NULL);
  }
}

/* --- cases ------------------------------------------------------------------------------ */

static WeJob *
make_job (void)
{
  WeJob *job = we_job_new ();

  job->profile_id = g_strdup ("720p_h264");
  job->source_url = g_strdup ("https://example.com/in.mp4");
  return job;
}

/* the store's sessions on @db, ended by the server as an admin would */
static void
terminate_sessions (const gchar *db)
{
  const gchar *values[] = { db };
  g_autoptr(PGresult) res =
    admin_query (NULL, "SELECT COUNT(pg_terminate_backend (pid)) FROM pg_stat_activity "
                       "WHERE datname = $1", 1, values);

  g_assert_cmpint (g_ascii_strtoll (PQgetvalue (res, 0, 0), NULL, 10), >, 0);
  /* pg_terminate_backend only signals: wait until they are gone */
  for (guint i = 0; i < 500; i++) {
    g_autoptr(PGresult) left =
      admin_query (NULL, "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = $1", 1, values);

    if (g_ascii_strtoll (PQgetvalue (left, 0, 0), NULL, 10) == 0)
      return;
    g_usleep (10000);
  }
  g_assert_not_reached ();
}

static void
test_terminated_sessions (void)
{
  g_autofree gchar *db = new_database ();
  g_autofree gchar *url = url_with_db (db);
  g_autoptr(GError) error = NULL;
  g_autoptr(WeStore) store = we_store_pg_new (url, &error);
  g_autoptr(WeJob) job = make_job ();
  g_autoptr(WeJobEvent) event = we_job_event_new ();

  g_assert_no_error (error);
  g_assert_true (we_store_job_create (store, job, NULL, &error));
  g_assert_no_error (error);

  /* a read right after: the dead session is noticed and replaced */
  terminate_sessions (db);
  {
    g_autoptr(WeJob) got = we_store_job_get (store, job->id, &error);
    g_assert_no_error (error);
    g_assert_cmpstr (got->id, ==, job->id);
  }

  /* a write right after, and one inside a transaction */
  terminate_sessions (db);
  job->progress_pct = 12.5;
  g_assert_true (we_store_job_update (store, job, &error));
  g_assert_no_error (error);
  terminate_sessions (db);
  {
    g_autoptr(WeJob) other = make_job ();
    g_autoptr(GPtrArray) tasks = g_ptr_array_new_with_free_func ((GDestroyNotify) we_task_unref);

    g_ptr_array_add (tasks, we_task_new ());
    g_assert_true (we_store_job_create (store, other, tasks, &error));
    g_assert_no_error (error);
  }

  /* and through the store thread */
  terminate_sessions (db);
  event->job_id = g_strdup (job->id);
  event->type = g_strdup ("job.progress");
  we_store_event_add_async (store, event, NULL, NULL, NULL);
  we_store_flush (store);
  {
    g_autoptr(GPtrArray) events = we_store_event_list (store, job->id, &error);
    g_autoptr(WeJob) got = we_store_job_get (store, job->id, &error);

    g_assert_no_error (error);
    g_assert_cmpuint (events->len, ==, 1);
    g_assert_cmpfloat (got->progress_pct, ==, 12.5);
  }
}

static void
test_server_restart (void)
{
  g_autofree gchar *db = NULL;
  g_autofree gchar *url = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(WeStore) store = NULL;
  g_autoptr(WeJob) job = make_job ();
  WeJob *got;

  if (!pg.own_cluster) {
    g_test_skip ("restarting the server needs the test's own cluster");
    return;
  }
  db = new_database ();
  url = url_with_db (db);
  store = we_store_pg_new (url, &error);
  g_assert_no_error (error);
  g_assert_true (we_store_job_create (store, job, NULL, &error));
  g_assert_no_error (error);

  g_assert_true (cluster_stop ());
  /* down: a clean error, promptly, without the password */
  got = we_store_job_get (store, job->id, &error);
  g_assert_null (got);
  g_assert_error (error, WE_ERROR, WE_ERROR_SYS_DATABASE);
  g_assert_null (strstr (error->message, pg.password));
  g_test_message ("while down: %s", error->message);
  g_clear_error (&error);
  g_assert_false (we_store_job_update (store, job, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_SYS_DATABASE);
  g_clear_error (&error);

  g_assert_true (cluster_start ());
  /* back: the very next calls work */
  got = we_store_job_get (store, job->id, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (got->id, ==, job->id);
  we_job_unref (got);
  job->status = WE_JOB_STATUS_PROCESSING;
  g_assert_true (we_store_job_update (store, job, &error));
  g_assert_no_error (error);
}

typedef struct {
  const gchar *url;
  GMutex      *mutex;
  GCond       *cond;
  gboolean    *go;
  WeStore     *store;
  GError      *error;
} Opener;

static gpointer
opener_run (gpointer data)
{
  Opener *o = data;

  g_mutex_lock (o->mutex);
  while (!*o->go)
    g_cond_wait (o->cond, o->mutex);
  g_mutex_unlock (o->mutex);
  o->store = we_store_pg_new (o->url, &o->error);
  return NULL;
}

static void
test_concurrent_migrations (void)
{
  g_autofree gchar *db = new_database ();
  g_autofree gchar *url = url_with_db (db);
  g_autoptr(GError) error = NULL;
  GMutex mutex;
  GCond cond;
  gboolean go = FALSE;
  Opener openers[2];
  GThread *threads[2];
  gint64 applied_at;
  gint version;

  g_mutex_init (&mutex);
  g_cond_init (&cond);
  for (guint i = 0; i < 2; i++) {
    openers[i] = (Opener) { url, &mutex, &cond, &go, NULL, NULL };
    threads[i] = g_thread_new ("opener", opener_run, &openers[i]);
  }
  g_mutex_lock (&mutex);
  go = TRUE;
  g_cond_broadcast (&cond);
  g_mutex_unlock (&mutex);
  for (guint i = 0; i < 2; i++)
    g_thread_join (threads[i]);
  g_mutex_clear (&mutex);
  g_cond_clear (&cond);

  /* both opened (a second application would have failed on CREATE TYPE) */
  for (guint i = 0; i < 2; i++) {
    g_assert_no_error (openers[i].error);
    g_assert_nonnull (openers[i].store);
  }
  version = we_store_schema_version (openers[0].store);
  g_assert_cmpint (version, >=, 2);
  g_assert_cmpint (we_store_schema_version (openers[1].store), ==, version);
  g_assert_cmpint (admin_int (db, "SELECT COUNT(*) FROM schema_migrations"), ==, version);
  applied_at = admin_int (db, "SELECT MAX(applied_at) FROM schema_migrations");
  for (guint i = 0; i < 2; i++)
    g_object_unref (openers[i].store);

  /* a later open migrates nothing */
  {
    g_autoptr(WeStore) again = we_store_pg_new (url, &error);
    g_assert_no_error (error);
    g_assert_cmpint (we_store_schema_version (again), ==, version);
  }
  g_assert_cmpint (admin_int (db, "SELECT COUNT(*) FROM schema_migrations"), ==, version);
  g_assert_cmpint (admin_int (db, "SELECT MAX(applied_at) FROM schema_migrations"), ==,
                   applied_at);
  /* the spec's types and indexes are there */
  g_assert_cmpint (admin_int (db, "SELECT COUNT(*) FROM pg_type WHERE typname IN "
                                  "('job_status', 'job_source_type') AND typtype = 'e'"), ==, 2);
  g_assert_cmpint (admin_int (db, "SELECT COUNT(*) FROM pg_indexes WHERE indexname IN "
                                  "('idx_jobs_user', 'idx_jobs_status', 'idx_jobs_created', "
                                  "'idx_jobs_priority', 'idx_tasks_job', 'idx_tasks_status', "
                                  "'idx_workers_healthy', 'idx_plugin_configs_type')"), ==, 8);
}

static void
test_newer_schema_refused (void)
{
  g_autofree gchar *db = new_database ();
  g_autofree gchar *url = url_with_db (db);
  g_autoptr(GError) error = NULL;
  WeStore *store;

  store = we_store_pg_new (url, &error);
  g_assert_no_error (error);
  g_clear_pointer (&store, g_object_unref);
  {
    g_autoptr(PGresult) res =
      admin_query (db, "INSERT INTO schema_migrations (version, name, applied_at) "
                       "VALUES (9999, '9999_future.sql', 1)", 0, NULL);
  }
  store = we_store_pg_new (url, &error);
  g_assert_null (store);
  g_assert_error (error, WE_ERROR, WE_ERROR_SYS_DATABASE);
  g_assert_nonnull (strstr (error->message, "9999"));
}

static void
assert_open_fails_quietly (const gchar *url, const gchar *secret)
{
  g_autoptr(GError) error = NULL;
  WeStore *store = we_store_pg_new (url, &error);

  g_assert_null (store);
  g_assert_error (error, WE_ERROR, WE_ERROR_SYS_DATABASE);
  g_test_message ("%s", error->message);
  if (strstr (error->message, secret) != NULL)
    g_error ("the password %s leaked into: %s", secret, error->message);
}

static void
test_password_not_shown (void)
{
  guint closed = free_port ();
  g_autofree gchar *refused =
    g_strdup_printf ("postgresql://we_test:SeCrEt-refused@127.0.0.1:%u/db", closed);
  g_autofree gchar *escaped =
    g_strdup_printf ("postgresql://we_test:Se%%43rEt-escaped@127.0.0.1:%u/db", closed);
  g_autofree gchar *bad_escape =
    g_strdup_printf ("postgresql://we_test:SeCrEt%%zz-bad@127.0.0.1:%u/db", closed);
  g_autofree gchar *in_query =
    g_strdup_printf ("postgres://127.0.0.1:%u/db?user=we_test&password=SeCrEt-query", closed);

  assert_open_fails_quietly (refused, "SeCrEt");
  /* neither as written nor decoded (%43 is C) */
  assert_open_fails_quietly (escaped, "Se%43rEt");
  assert_open_fails_quietly (escaped, "SeCrEt");
  assert_open_fails_quietly (bad_escape, "SeCrEt");
  assert_open_fails_quietly (in_query, "SeCrEt");
  assert_open_fails_quietly ("mysql://root:SeCrEt-scheme@localhost/db", "SeCrEt");

  if (pg.own_cluster) {
    g_autofree gchar *wrong =
      g_strdup_printf ("postgresql://we_test:SeCrEt-wrong@127.0.0.1:%u/postgres", pg.port);
    g_autofree gchar *no_db = url_with_db ("we_no_such_database");

    /* the server's own messages, quoting user and database */
    assert_open_fails_quietly (wrong, "SeCrEt");
    assert_open_fails_quietly (no_db, pg.password);
  }
}

static void
test_arbitrary_ids (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(WeStore) store = factory (&error);
  g_autoptr(GPtrArray) tasks = NULL;
  g_autoptr(WeJob) job = make_job ();
  WeJob *got;

  g_assert_no_error (error);
  /* ids are whatever a client typed: not-found, never a type error */
  got = we_store_job_get (store, "nope", &error);
  g_assert_null (got);
  g_assert_error (error, WE_ERROR, WE_ERROR_JOB_NOT_FOUND);
  g_clear_error (&error);
  g_assert_false (we_store_job_delete (store, "'; DROP TABLE jobs; --", &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_JOB_NOT_FOUND);
  g_clear_error (&error);
  tasks = we_store_task_list (store, "nope", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (tasks->len, ==, 0);
  g_assert_null (we_store_profile_get (store, "nope", &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_PROFILE);
  g_clear_error (&error);

  /* and a caller's own id that is no UUID round-trips */
  job->id = g_strdup ("job-42");
  g_assert_true (we_store_job_create (store, job, NULL, &error));
  g_assert_no_error (error);
  got = we_store_job_get (store, "job-42", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (got->id, ==, "job-42");
  we_job_unref (got);
}

/* Two kernels, each with its own store (and pool of sessions), on one
 * database: no delivery is handed to both. */
static void
test_delivery_claim_two_kernels (void)
{
  g_autofree gchar *db = new_database ();
  g_autofree gchar *url = url_with_db (db);
  g_autoptr(GError) error = NULL;
  g_autoptr(WeStore) a = we_store_pg_new (url, &error);
  g_autoptr(WeStore) b = NULL;

  g_assert_no_error (error);
  b = we_store_pg_new (url, &error);
  g_assert_no_error (error);
  we_store_test_delivery_claim_race (a, b);
  g_assert_cmpint (admin_int (db, "SELECT COUNT(*) FROM webhook_deliveries "
                                  "WHERE state <> 'delivering'"), ==, 0);
  g_assert_cmpint (admin_int (db, "SELECT COUNT(*) FROM pg_indexes WHERE indexname IN "
                                  "('idx_audit_at', 'idx_audit_user', 'idx_audit_username', "
                                  "'idx_audit_action', 'idx_audit_resource', "
                                  "'idx_api_tokens_hash', 'idx_deliveries_due', "
                                  "'idx_deliveries_claim', 'idx_deliveries_webhook')"), ==, 9);
}

/* A delivery another session holds locked (a kernel in the middle of
 * claiming it) is skipped, not waited for and not taken twice. */
static void
test_delivery_claim_skips_locked (void)
{
  g_autofree gchar *db = new_database ();
  g_autofree gchar *url = url_with_db (db);
  g_autoptr(GError) error = NULL;
  g_autoptr(WeStore) store = we_store_pg_new (url, &error);
  g_autoptr(WeWebhook) webhook = we_webhook_new ();
  g_autoptr(PGconn) holder = NULL;
  g_autoptr(PGresult) res = NULL;
  g_autoptr(GPtrArray) got = NULL;
  const gchar *ids[] = { "d-1", "d-2", NULL };

  g_assert_no_error (error);
  webhook->id = g_strdup ("wh");
  webhook->url = g_strdup ("https://hooks.example/");
  g_assert_true (we_store_webhook_put (store, webhook, &error));
  g_assert_no_error (error);
  for (guint i = 0; ids[i] != NULL; i++) {
    g_autoptr(WeWebhookDelivery) d = we_webhook_delivery_new ();

    d->id = g_strdup (ids[i]);
    d->webhook_id = g_strdup ("wh");
    d->event_type = g_strdup ("job.created");
    d->payload = g_strdup ("{}");
    d->next_attempt_at = 1000 + i;
    g_assert_true (we_store_delivery_add (store, d, &error));
    g_assert_no_error (error);
  }

  holder = PQconnectdb (url);
  g_assert_cmpint (PQstatus (holder), ==, CONNECTION_OK);
  res = PQexec (holder, "BEGIN; SELECT id FROM webhook_deliveries WHERE id = 'd-1' FOR UPDATE");
  g_assert_cmpint (PQresultStatus (res), ==, PGRES_TUPLES_OK);
  g_clear_pointer (&res, PQclear);

  got = we_store_delivery_claim (store, "kernel-a", 5000, 1000000, 10, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (got->len, ==, 1);
  g_assert_cmpstr (((WeWebhookDelivery *) g_ptr_array_index (got, 0))->id, ==, "d-2");
  g_clear_pointer (&got, g_ptr_array_unref);

  res = PQexec (holder, "COMMIT");
  g_assert_cmpint (PQresultStatus (res), ==, PGRES_COMMAND_OK);
  got = we_store_delivery_claim (store, "kernel-a", 5000, 1000000, 10, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (got->len, ==, 1);
  g_assert_cmpstr (((WeWebhookDelivery *) g_ptr_array_index (got, 0))->id, ==, "d-1");
}

int
main (int argc, char **argv)
{
  const gchar *url = g_getenv ("WE_TEST_DATABASE_URL");
  int rc;

  g_test_init (&argc, &argv, NULL);
  pg.databases = g_ptr_array_new_with_free_func (g_free);

  if (url != NULL && *url != '\0') {
    pg.base_url = g_strdup (url);
  } else {
    g_autofree gchar *why = cluster_setup ();

    if (why != NULL) {
      g_printerr ("SKIP: %s\n", why);
      return EXIT_SKIP;
    }
  }

  we_store_test_suite_add ("/store-pg", factory);
  g_test_add_func ("/store-pg/arbitrary-ids", test_arbitrary_ids);
  g_test_add_func ("/store-pg/reconnect/terminated-sessions", test_terminated_sessions);
  g_test_add_func ("/store-pg/reconnect/server-restart", test_server_restart);
  g_test_add_func ("/store-pg/migration/concurrent-opens", test_concurrent_migrations);
  g_test_add_func ("/store-pg/migration/newer-schema-refused", test_newer_schema_refused);
  g_test_add_func ("/store-pg/password-not-shown", test_password_not_shown);
  g_test_add_func ("/store-pg/delivery/claim-two-kernels", test_delivery_claim_two_kernels);
  g_test_add_func ("/store-pg/delivery/claim-skips-locked", test_delivery_claim_skips_locked);

  rc = g_test_run ();
  teardown ();
  g_ptr_array_unref (pg.databases);
  return rc;
}
