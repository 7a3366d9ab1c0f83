/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <glib/gstdio.h>
#include <sqlite3.h>

#include "store/we-store-sqlite.h"
#include "store/we-store-test-suite.h"

/* the test program's scratch directory, removed at exit */
static gchar *tmpdir;

static gchar *
new_db_path (void)
{
  static guint counter;

  return g_strdup_printf ("%s/store-%u.db", tmpdir, ++counter);
}

static WeStore *
factory_file (GError **error)
{
  g_autofree gchar *path = new_db_path ();

  return we_store_sqlite_new (path, error);
}

static WeStore *
factory_url (GError **error)
{
  g_autofree gchar *path = new_db_path ();
  g_autofree gchar *url = g_strdup_printf ("sqlite://%s", path);

  return we_store_sqlite_new (url, error);
}

static WeStore *
factory_memory (GError **error)
{
  return we_store_sqlite_new (":memory:", error);
}

/* reads one integer straight from the file, bypassing the store */
static gint64
raw_query (const gchar *path, const gchar *sql)
{
  sqlite3 *db = NULL;
  sqlite3_stmt *stmt = NULL;
  gint64 value;

  g_assert_cmpint (sqlite3_open_v2 (path, &db, SQLITE_OPEN_READWRITE, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_step (stmt), ==, SQLITE_ROW);
  value = sqlite3_column_int64 (stmt, 0);
  sqlite3_finalize (stmt);
  sqlite3_close (db);
  return value;
}

static gchar *
raw_query_text (const gchar *path, const gchar *sql)
{
  sqlite3 *db = NULL;
  sqlite3_stmt *stmt = NULL;
  gchar *value;

  g_assert_cmpint (sqlite3_open_v2 (path, &db, SQLITE_OPEN_READWRITE, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_step (stmt), ==, SQLITE_ROW);
  value = g_strdup ((const gchar *) sqlite3_column_text (stmt, 0));
  sqlite3_finalize (stmt);
  sqlite3_close (db);
  return value;
}

static void
raw_exec (const gchar *path, const gchar *sql)
{
  sqlite3 *db = NULL;

  g_assert_cmpint (sqlite3_open_v2 (path, &db, SQLITE_OPEN_READWRITE, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_exec (db, sql, NULL, NULL, NULL), ==, SQLITE_OK);
  sqlite3_close (db);
}

static void
test_reopen_persists (void)
{
  g_autofree gchar *path = new_db_path ();
  g_autoptr(GError) error = NULL;
  g_autofree gchar *job_id = NULL;
  gint64 migrations, applied_at;
  gint version;

  {
    g_autoptr(WeStore) store = we_store_sqlite_new (path, &error);
    g_autoptr(WeJob) job = we_job_new ();
    g_autoptr(GPtrArray) tasks = g_ptr_array_new_with_free_func ((GDestroyNotify) we_task_unref);
    g_autoptr(WeJobEvent) event = we_job_event_new ();
    g_autoptr(GPtrArray) builtins = we_profile_builtins ();

    g_assert_no_error (error);
    version = we_store_schema_version (store);
    g_assert_cmpint (version, >, 0);
    job->profile_id = g_strdup ("720p_h264");
    job->source_url = g_strdup ("https://example.com/in.mp4");
    g_ptr_array_add (tasks, we_task_new ());
    g_assert_true (we_store_job_create (store, job, tasks, &error));
    g_assert_no_error (error);
    job_id = g_strdup (job->id);
    event->job_id = g_strdup (job->id);
    event->type = g_strdup ("job.created");
    g_assert_true (we_store_event_add (store, event, &error));
    g_assert_true (we_store_profile_put (store, g_ptr_array_index (builtins, 1), &error));
    g_assert_no_error (error);
  }

  migrations = raw_query (path, "SELECT COUNT(*) FROM schema_migrations");
  applied_at = raw_query (path, "SELECT MAX(applied_at) FROM schema_migrations");
  g_assert_cmpint (migrations, ==, version);
  /* WAL, so readers (the CLI) do not block the daemon's writes */
  {
    g_autofree gchar *mode = raw_query_text (path, "PRAGMA journal_mode");
    g_assert_cmpstr (mode, ==, "wal");
  }

  /* a second instance on the same file sees everything, and migrates nothing */
  {
    g_autoptr(WeStore) store = we_store_sqlite_new (path, &error);
    g_autoptr(WeJob) got = NULL;
    g_autoptr(GPtrArray) events = NULL;
    g_autoptr(WeProfile) profile = NULL;

    g_assert_no_error (error);
    g_assert_cmpint (we_store_schema_version (store), ==, version);
    got = we_store_job_get (store, job_id, &error);
    g_assert_no_error (error);
    g_assert_cmpint (got->tasks_total, ==, 1);
    events = we_store_event_list (store, job_id, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (events->len, ==, 1);
    profile = we_store_profile_get (store, "720p_h264", &error);
    g_assert_no_error (error);
    g_assert_true (profile->builtin);
  }
  g_assert_cmpint (raw_query (path, "SELECT COUNT(*) FROM schema_migrations"), ==, migrations);
  g_assert_cmpint (raw_query (path, "SELECT MAX(applied_at) FROM schema_migrations"), ==,
                   applied_at);
}

static void
test_two_instances (void)
{
  g_autofree gchar *path = new_db_path ();
  g_autoptr(GError) error = NULL;
  g_autoptr(WeStore) a = we_store_sqlite_new (path, &error);
  g_autoptr(WeStore) b = we_store_sqlite_new (path, &error);
  g_autoptr(WeJob) job = we_job_new ();
  g_autoptr(WeJob) got = NULL;

  g_assert_no_error (error);
  job->profile_id = g_strdup ("720p_h264");
  g_assert_true (we_store_job_create (a, job, NULL, &error));
  g_assert_no_error (error);
  got = we_store_job_get (b, job->id, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (got->id, ==, job->id);
  g_assert_true (we_store_job_delete (b, job->id, &error));
  g_assert_false (we_store_job_delete (a, job->id, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_JOB_NOT_FOUND);
}

static void
test_corrupt_file (void)
{
  g_autofree gchar *path = new_db_path ();
  g_autoptr(GError) error = NULL;
  g_autoptr(GString) garbage = g_string_new (NULL);
  WeStore *store;

  for (guint i = 0; i < 512; i++)
    g_string_append (garbage, "this is not a database ");
  g_assert_true (g_file_set_contents (path, garbage->str, (gssize) garbage->len, &error));
  g_assert_no_error (error);

  store = we_store_sqlite_new (path, &error);
  g_assert_null (store);
  g_assert_error (error, WE_ERROR, WE_ERROR_SYS_DATABASE);
  g_assert_nonnull (strstr (error->message, path));
}

static void
test_newer_schema_refused (void)
{
  g_autofree gchar *path = new_db_path ();
  g_autoptr(GError) error = NULL;
  WeStore *store;

  store = we_store_sqlite_new (path, &error);
  g_assert_no_error (error);
  g_object_unref (store);

  raw_exec (path, "INSERT INTO schema_migrations (version, name, applied_at) "
                  "VALUES (9999, '9999_future.sql', 1)");
  store = we_store_sqlite_new (path, &error);
  g_assert_null (store);
  g_assert_error (error, WE_ERROR, WE_ERROR_SYS_DATABASE);
  g_assert_nonnull (strstr (error->message, "9999"));
}

static void
test_locations (void)
{
  g_autofree gchar *nested = g_build_filename (tmpdir, "a", "b", "c", "store.db", NULL);
  g_autofree gchar *url = g_strdup_printf ("sqlite://%s", nested);
  g_autofree gchar *blocker = g_build_filename (tmpdir, "plain-file", NULL);
  g_autofree gchar *under_file = g_build_filename (blocker, "x", "store.db", NULL);
  g_autoptr(GError) error = NULL;
  WeStore *store;

  /* sqlite:///abs/path creates the missing parent directories */
  g_assert_true (g_path_is_absolute (nested));
  store = we_store_sqlite_new (url, &error);
  g_assert_no_error (error);
  g_assert_nonnull (store);
  g_assert_true (g_file_test (nested, G_FILE_TEST_IS_REGULAR));
  g_object_unref (store);

  store = we_store_sqlite_new ("sqlite://:memory:", &error);
  g_assert_no_error (error);
  g_assert_cmpint (we_store_schema_version (store), >, 0);
  g_object_unref (store);

  store = we_store_sqlite_new ("sqlite://", &error);
  g_assert_null (store);
  g_assert_error (error, WE_ERROR, WE_ERROR_SYS_DATABASE);
  g_clear_error (&error);

  store = we_store_sqlite_new ("", &error);
  g_assert_null (store);
  g_assert_error (error, WE_ERROR, WE_ERROR_SYS_DATABASE);
  g_clear_error (&error);

  /* a parent that is a file cannot become a directory */
  g_assert_true (g_file_set_contents (blocker, "x", 1, &error));
  store = we_store_sqlite_new (under_file, &error);
  g_assert_null (store);
  g_assert_error (error, WE_ERROR, WE_ERROR_SYS_DATABASE);
}

/* two daemons on one file: BEGIN IMMEDIATE keeps their claims apart */
static void
test_delivery_claim_two_stores (void)
{
  g_autofree gchar *path = new_db_path ();
  g_autoptr(GError) error = NULL;
  g_autoptr(WeStore) a = we_store_sqlite_new (path, &error);
  g_autoptr(WeStore) b = NULL;

  g_assert_no_error (error);
  b = we_store_sqlite_new (path, &error);
  g_assert_no_error (error);
  we_store_test_delivery_claim_race (a, b);
  g_assert_cmpint (raw_query (path, "SELECT COUNT(DISTINCT claimed_by) FROM webhook_deliveries"),
                   >=, 1);
  g_assert_cmpint (raw_query (path, "SELECT COUNT(*) FROM webhook_deliveries "
                                    "WHERE state <> 'delivering'"), ==, 0);
}

static void
remove_tree (const gchar *path)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  const gchar *name;

  if (dir != NULL) {
    while ((name = g_dir_read_name (dir)) != NULL) {
      g_autofree gchar *child = g_build_filename (path, name, NULL);
      remove_tree (child);
    }
  }
  g_remove (path);
}

int
main (int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  int rc;

  g_test_init (&argc, &argv, NULL);

  tmpdir = g_dir_make_tmp ("we-store-sqlite-XXXXXX", &error);
  g_assert_no_error (error);

  we_store_test_suite_add ("/store/sqlite/file", factory_file);
  we_store_test_suite_add ("/store/sqlite/memory", factory_memory);
  we_store_test_suite_add ("/store/sqlite/url", factory_url);
  g_test_add_func ("/store/sqlite/reopen-persists", test_reopen_persists);
  g_test_add_func ("/store/sqlite/two-instances", test_two_instances);
  g_test_add_func ("/store/sqlite/corrupt-file", test_corrupt_file);
  g_test_add_func ("/store/sqlite/newer-schema-refused", test_newer_schema_refused);
  g_test_add_func ("/store/sqlite/locations", test_locations);
  g_test_add_func ("/store/sqlite/delivery-claim-two-stores", test_delivery_claim_two_stores);

  rc = g_test_run ();
  remove_tree (tmpdir);
  g_free (tmpdir);
  return rc;
}
