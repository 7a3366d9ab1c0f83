/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Pipeline introspection and per-task GStreamer logs (issue 8):
 * - the log router in this process, on real pipelines named after two
 *   tasks running at once: each file has its own task's lines only, and
 *   the cap ends a log with "[truncated]";
 * - the real webencode-worker of the build tree (--stdio, --gst-debug) with
 *   the real storage-fs and encoder-gst plugins on clips made by
 *   tests/media/make-clip: "pipeline" reports whose launch lines
 *   gst_parse_launch accepts, a log per task uploaded to its log_url and
 *   reported before the task's final message, no cross-talk between two
 *   tasks, and a log that cannot be uploaded never failing the task.
 */
#include "config.h"

#include <glib/gstdio.h>
#include <gst/gst.h>
#include <stdlib.h>
#include <string.h>
#include <webencode/webencode.h>

#include "common/we-worker-protocol.h"
#include "we-worker-gst-log.h"

static struct {
  gchar   *tmp;
  gchar   *store;        /* storage-fs root */
  gchar   *scratch;
  gchar   *worker;
  gchar   *plugin_dir;
  gchar   *skip_reason;
} env;

static gchar *
store_path (const gchar *rel)
{
  return g_build_filename (env.store, rel, NULL);
}

/* ---- the router, in this process --------------------------------------- */

static GstElement *
start_pipeline (const gchar *name, guint buffers)
{
  g_autofree gchar *desc = g_strdup_printf (
    "videotestsrc name=src-%s num-buffers=%u ! video/x-raw,width=64,height=48 ! "
    "videoconvert name=conv-%s ! fakesink name=sink-%s", name, buffers, name, name);
  g_autoptr(GError) error = NULL;
  GstElement *pipeline = gst_parse_launch (desc, &error);

  g_assert_no_error (error);
  g_assert_true (gst_object_set_name (GST_OBJECT (pipeline), name));
  g_assert_cmpint (gst_element_set_state (pipeline, GST_STATE_PLAYING), !=,
                   GST_STATE_CHANGE_FAILURE);
  return pipeline;
}

static void
wait_eos_and_stop (GstElement *pipeline)
{
  g_autoptr(GstBus) bus = gst_element_get_bus (pipeline);
  g_autoptr(GstMessage) msg = gst_bus_timed_pop_filtered (bus, 30 * GST_SECOND,
                                                          GST_MESSAGE_EOS | GST_MESSAGE_ERROR);

  g_assert_nonnull (msg);
  g_assert_cmpint (GST_MESSAGE_TYPE (msg), ==, GST_MESSAGE_EOS);
  gst_element_set_state (pipeline, GST_STATE_NULL);
}

static void
test_router (void)
{
  g_autofree gchar *dir = g_build_filename (env.tmp, "router-logs", NULL);
  g_autoptr(GError) error = NULL;
  g_autofree gchar *path_a = NULL, *path_b = NULL, *path_c = NULL;
  g_autofree gchar *text_a = NULL, *text_b = NULL, *text_c = NULL;
  guint64 size_a = 0, size_b = 0, size_c = 0;
  gboolean trunc_a = TRUE, trunc_b = TRUE, trunc_c = FALSE;
  GstElement *a, *b, *c, *stray;

  g_assert_true (we_worker_gst_log_enable ("*:5", dir, &error));
  g_assert_no_error (error);
  g_assert_true (we_worker_gst_log_begin ("task-a", &error));
  g_assert_true (we_worker_gst_log_begin ("task-b", &error));
  g_assert_no_error (error);

  /* two tasks at once, and a pipeline of no task */
  a = start_pipeline ("task-a", 30);
  b = start_pipeline ("task-b", 30);
  stray = start_pipeline ("no-task", 30);
  wait_eos_and_stop (a);
  wait_eos_and_stop (b);
  wait_eos_and_stop (stray);

  path_a = we_worker_gst_log_end ("task-a", &size_a, &trunc_a);
  path_b = we_worker_gst_log_end ("task-b", &size_b, &trunc_b);
  g_assert_nonnull (path_a);
  g_assert_nonnull (path_b);
  g_assert_null (we_worker_gst_log_end ("task-a", NULL, NULL));
  g_assert_true (g_file_get_contents (path_a, &text_a, NULL, NULL));
  g_assert_true (g_file_get_contents (path_b, &text_b, NULL, NULL));
  g_assert_cmpuint (strlen (text_a), ==, size_a);
  g_assert_cmpuint (strlen (text_b), ==, size_b);
  g_assert_false (trunc_a);
  g_assert_false (trunc_b);
  /* GStreamer's own line format, and each task's elements only */
  g_assert_true (g_regex_match_simple ("^\\d+:\\d+:\\d+\\.\\d+ +\\d+ +0x[0-9a-f]+ +"
                                       "(ERROR|WARN|FIXME|INFO|DEBUG|LOG)", text_a,
                                       G_REGEX_MULTILINE, 0));
  g_assert_nonnull (strstr (text_a, "<src-task-a"));
  g_assert_nonnull (strstr (text_a, "<sink-task-a"));
  g_assert_null (strstr (text_a, "task-b"));
  g_assert_null (strstr (text_a, "no-task"));
  g_assert_nonnull (strstr (text_b, "<src-task-b"));
  g_assert_null (strstr (text_b, "task-a"));
  g_assert_null (strstr (text_b, "no-task"));
  gst_object_unref (a);
  gst_object_unref (b);
  gst_object_unref (stray);

  /* the cap: what fits, then one "[truncated]" line, then nothing */
  we_worker_gst_log_set_limit (4096);
  g_assert_true (we_worker_gst_log_begin ("task-c", &error));
  c = start_pipeline ("task-c", 30);
  wait_eos_and_stop (c);
  path_c = we_worker_gst_log_end ("task-c", &size_c, &trunc_c);
  g_assert_true (g_file_get_contents (path_c, &text_c, NULL, NULL));
  g_assert_true (trunc_c);
  g_assert_cmpuint (size_c, ==, strlen (text_c));
  g_assert_cmpuint (size_c, <=, 4096 + strlen ("[truncated]\n"));
  g_assert_true (g_str_has_suffix (text_c, "\n[truncated]\n"));
  gst_object_unref (c);
  we_worker_gst_log_set_limit (WE_WORKER_GST_LOG_LIMIT);
  g_unlink (path_a);
  g_unlink (path_b);
  g_unlink (path_c);
  /* quiet again for the tests below */
  gst_debug_set_threshold_from_string ("*:1", TRUE);
}

/* ---- the real worker ----------------------------------------------------- */

typedef struct {
  GSubprocess      *proc;
  GOutputStream    *out;
  GDataInputStream *in;
  GPtrArray        *msgs;  /* (element-type JsonObject) every message read */
} Worker;

static void
worker_write (Worker *w, JsonObject *msg)
{
  g_autofree gchar *line = we_worker_msg_serialize (msg);
  g_autoptr(GError) error = NULL;

  g_assert_true (g_output_stream_write_all (w->out, line, strlen (line), NULL, NULL, &error));
  g_assert_no_error (error);
}

/* Reads messages until @task_id's final one (NULL: the hello); returns it
 * (owned by w->msgs). */
static JsonObject *
worker_read_final (Worker *w, const gchar *task_id)
{
  for (;;) {
    g_autoptr(GError) error = NULL;
    gsize length = 0;
    g_autofree gchar *line = g_data_input_stream_read_line (w->in, &length, NULL, &error);
    JsonObject *msg;

    g_assert_no_error (error);
    g_assert_nonnull (line);
    msg = we_worker_msg_parse (line, length, &error);
    g_assert_no_error (error);
    g_ptr_array_add (w->msgs, msg);
    if (task_id == NULL && g_strcmp0 (we_worker_msg_type (msg), "hello") == 0)
      return msg;
    if (task_id != NULL &&
        g_strcmp0 (json_object_get_string_member_with_default (msg, "task_id", ""),
                   task_id) == 0 &&
        we_worker_msg_type_is_final (we_worker_msg_type (msg)))
      return msg;
  }
}

static gboolean
worker_start (Worker *w, const gchar *gst_debug_flag, const gchar *gst_debug_configure)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) configure = json_object_new ();
  g_autoptr(JsonObject) fs = json_object_new ();
  g_autoptr(JsonObject) fs_config = json_object_new ();
  g_autoptr(JsonObject) gst = json_object_new ();
  JsonArray *plugins = json_array_new ();

  if (env.skip_reason != NULL) {
    g_test_skip (env.skip_reason);
    return FALSE;
  }
  g_ptr_array_add (argv, env.worker);
  g_ptr_array_add (argv, "--stdio");
  g_ptr_array_add (argv, "--log-level");
  g_ptr_array_add (argv, "warning");
  if (gst_debug_flag != NULL)
    g_ptr_array_add (argv, (gpointer) gst_debug_flag);
  g_ptr_array_add (argv, NULL);
  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDIN_PIPE |
                                        G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  /* the worker registers our elements itself, as in production */
  g_subprocess_launcher_unsetenv (launcher, "GST_PLUGIN_PATH");
  g_subprocess_launcher_unsetenv (launcher, "GST_REGISTRY_FORK");
  g_subprocess_launcher_unsetenv (launcher, "GST_REGISTRY");
  w->proc = g_subprocess_launcher_spawnv (launcher, (const gchar * const *) argv->pdata,
                                          &error);
  g_assert_no_error (error);
  w->out = g_subprocess_get_stdin_pipe (w->proc);
  w->in = g_data_input_stream_new (g_subprocess_get_stdout_pipe (w->proc));
  w->msgs = g_ptr_array_new_with_free_func ((GDestroyNotify) json_object_unref);

  json_object_set_string_member (fs_config, "root", env.store);
  json_object_set_string_member (fs, "id", "storage-fs");
  json_object_set_object_member (fs, "config", json_object_ref (fs_config));
  json_object_set_string_member (gst, "id", "encoder-gst");
  json_object_set_object_member (gst, "config", json_object_new ());
  json_array_add_object_element (plugins, json_object_ref (fs));
  json_array_add_object_element (plugins, json_object_ref (gst));
  json_object_set_string_member (configure, "type", "configure");
  json_object_set_string_member (configure, "worker_id", "intro-1");
  json_object_set_string_member (configure, "scratch_dir", env.scratch);
  json_object_set_string_member (configure, "plugin_dir", env.plugin_dir);
  json_object_set_array_member (configure, "plugins", plugins);
  if (gst_debug_configure != NULL)
    json_object_set_string_member (configure, "gst_debug", gst_debug_configure);
  worker_write (w, configure);
  g_assert_nonnull (worker_read_final (w, NULL));
  return TRUE;
}

static void
worker_stop (Worker *w)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) shutdown = json_object_new ();

  json_object_set_string_member (shutdown, "type", "shutdown");
  worker_write (w, shutdown);
  g_assert_true (g_subprocess_wait_check (w->proc, NULL, &error));
  g_assert_no_error (error);
  g_clear_object (&w->proc);
  g_clear_object (&w->in);
  g_clear_pointer (&w->msgs, g_ptr_array_unref);
}

static JsonObject *
make_task (const gchar *id, const gchar *input_url, const gchar *output_url,
           const gchar *log_url)
{
  g_autoptr(GPtrArray) builtins = we_profile_builtins ();
  JsonObject *msg = json_object_new ();
  JsonObject *task = json_object_new ();

  for (guint i = 0; i < builtins->len; i++) {
    WeProfile *p = g_ptr_array_index (builtins, i);

    if (g_strcmp0 (p->id, "480p_fast") == 0)
      json_object_set_object_member (task, "profile", we_profile_to_json (p));
  }
  g_assert_true (json_object_has_member (task, "profile"));
  json_object_set_string_member (task, "id", id);
  json_object_set_string_member (task, "job_id", "job-1");
  json_object_set_string_member (task, "kind", "transcode");
  json_object_set_int_member (task, "attempt", 1);
  json_object_set_string_member (task, "input_url", input_url);
  json_object_set_string_member (task, "output_url", output_url);
  if (log_url != NULL)
    json_object_set_string_member (task, "log_url", log_url);
  json_object_set_string_member (msg, "type", "task");
  json_object_set_object_member (msg, "task", task);
  return msg;
}

/* The messages of @task_id, in order, as "type" strings and objects. */
static GPtrArray *
messages_of (Worker *w, const gchar *task_id)
{
  GPtrArray *out = g_ptr_array_new ();

  for (guint i = 0; i < w->msgs->len; i++) {
    JsonObject *msg = g_ptr_array_index (w->msgs, i);

    if (g_strcmp0 (json_object_get_string_member_with_default (msg, "task_id", ""),
                   task_id) == 0)
      g_ptr_array_add (out, msg);
  }
  return out;
}

static JsonObject *
find_type (GPtrArray *msgs, const gchar *type, guint *index)
{
  for (guint i = 0; i < msgs->len; i++) {
    if (g_strcmp0 (we_worker_msg_type (g_ptr_array_index (msgs, i)), type) == 0) {
      if (index != NULL)
        *index = i;
      return g_ptr_array_index (msgs, i);
    }
  }
  return NULL;
}

/* @task_id ran, reported its pipelines (parseable) and its log (at
 * @log_rel below the store) before its final message; returns the log. */
static gchar *
check_task (Worker *w, const gchar *task_id, const gchar *log_rel)
{
  g_autoptr(GPtrArray) msgs = messages_of (w, task_id);
  g_autofree gchar *log_url = g_strconcat ("fs://", log_rel, NULL);
  g_autofree gchar *stored = store_path (log_rel);
  g_autofree gchar *local = NULL;
  g_autofree gchar *safe = g_strdup (task_id);
  gchar *text = NULL;
  gsize length = 0;
  guint log_at = 0, done_at = 0, pipelines = 0;
  JsonObject *log, *done;

  done = find_type (msgs, "done", &done_at);
  g_assert_nonnull (done);
  for (guint i = 0; i < msgs->len; i++) {
    JsonObject *msg = g_ptr_array_index (msgs, i);
    g_autoptr(GError) error = NULL;
    g_autoptr(GstElement) parsed = NULL;

    if (g_strcmp0 (we_worker_msg_type (msg), "pipeline") != 0)
      continue;
    pipelines++;
    g_assert_cmpuint (i, <, done_at);
    g_assert_nonnull (json_object_get_string_member_with_default (msg, "stage", NULL));
    /* the recorded line rebuilds a pipeline (our weprogress element is on
     * GST_PLUGIN_PATH) */
    parsed = gst_parse_launch (json_object_get_string_member (msg, "launch"), &error);
    g_assert_no_error (error);
    g_assert_nonnull (parsed);
    g_assert_true (json_object_has_member (msg, "dot") ||
                   json_object_get_boolean_member_with_default (msg, "dot_omitted", FALSE));
  }
  g_assert_cmpuint (pipelines, >=, 1);

  log = find_type (msgs, "log", &log_at);
  g_assert_nonnull (log);
  g_assert_cmpuint (log_at, <, done_at);
  g_assert_cmpstr (json_object_get_string_member (log, "url"), ==, log_url);
  g_assert_false (json_object_get_boolean_member (log, "truncated"));
  g_assert_true (g_file_get_contents (stored, &text, &length, NULL));
  g_assert_cmpint (json_object_get_int_member (log, "size_bytes"), ==, (gint64) length);
  g_assert_cmpuint (length, >, 0);
  /* the pipelines are named after the task: their lines say so */
  g_assert_nonnull (strstr (text, task_id));
  /* the worker keeps no copy */
  local = g_build_filename (env.scratch, "logs", NULL);
  g_strcanon (safe, G_CSET_A_2_Z G_CSET_a_2_z G_CSET_DIGITS "_-", '_');
  {
    g_autofree gchar *name = g_strconcat (safe, ".log", NULL);
    g_autofree gchar *path = g_build_filename (local, name, NULL);

    g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));
  }
  return text;
}

static void
test_worker_logs (gconstpointer data)
{
  gboolean by_flag = GPOINTER_TO_INT (data);
  Worker w = { 0 };
  g_autoptr(JsonObject) task_a = make_task ("intro-a", "fs://in/clip.mp4", "fs://out/a.mp4",
                                            "fs://out/.logs/intro-a-1.log");
  g_autoptr(JsonObject) task_b = make_task ("intro-b", "fs://in/clip.mp4", "fs://out/b.mp4",
                                            "fs://out/.logs/intro-b-1.log");
  g_autoptr(JsonObject) task_c = make_task ("intro-c", "fs://in/clip.mp4", "fs://out/c.mp4",
                                            "nope://nowhere/intro-c.log");
  g_autofree gchar *log_a = NULL, *log_b = NULL;
  g_autoptr(GPtrArray) msgs_c = NULL;
  JsonObject *final;

  if (!worker_start (&w, by_flag ? "--gst-debug" : NULL, by_flag ? NULL : "*:4"))
    return;
  worker_write (&w, task_a);
  final = worker_read_final (&w, "intro-a");
  g_assert_cmpstr (we_worker_msg_type (final), ==, "done");
  worker_write (&w, task_b);
  final = worker_read_final (&w, "intro-b");
  g_assert_cmpstr (we_worker_msg_type (final), ==, "done");

  log_a = check_task (&w, "intro-a", "out/.logs/intro-a-1.log");
  log_b = check_task (&w, "intro-b", "out/.logs/intro-b-1.log");
  /* no cross-talk */
  g_assert_null (strstr (log_a, "intro-b"));
  g_assert_null (strstr (log_b, "intro-a"));

  /* a log that cannot be uploaded is no reason to fail the task */
  worker_write (&w, task_c);
  final = worker_read_final (&w, "intro-c");
  g_assert_cmpstr (we_worker_msg_type (final), ==, "done");
  msgs_c = messages_of (&w, "intro-c");
  g_assert_null (find_type (msgs_c, "log", NULL));
  worker_stop (&w);
}

static void
test_worker_log_of_failed_task (void)
{
  Worker w = { 0 };
  g_autoptr(JsonObject) task = make_task ("intro-bad", "fs://in/garbage.mp4", "fs://out/bad.mp4",
                                          "fs://out/.logs/intro-bad-1.log");
  g_autoptr(GPtrArray) msgs = NULL;
  g_autofree gchar *stored = store_path ("out/.logs/intro-bad-1.log");
  guint log_at = 0, failed_at = 0;
  JsonObject *final;

  if (!worker_start (&w, "--gst-debug=*:3", NULL))
    return;
  worker_write (&w, task);
  final = worker_read_final (&w, "intro-bad");
  g_assert_cmpstr (we_worker_msg_type (final), ==, "failed");
  msgs = messages_of (&w, "intro-bad");
  g_assert_nonnull (find_type (msgs, "log", &log_at));
  g_assert_nonnull (find_type (msgs, "failed", &failed_at));
  g_assert_cmpuint (log_at, <, failed_at);
  g_assert_true (g_file_test (stored, G_FILE_TEST_IS_REGULAR));
  worker_stop (&w);
}

static void
test_worker_without_debug (void)
{
  Worker w = { 0 };
  g_autoptr(JsonObject) task = make_task ("intro-plain", "fs://in/clip.mp4",
                                          "fs://out/plain.mp4",
                                          "fs://out/.logs/intro-plain-1.log");
  g_autoptr(GPtrArray) msgs = NULL;
  g_autofree gchar *stored = store_path ("out/.logs/intro-plain-1.log");
  JsonObject *final;

  if (!worker_start (&w, NULL, NULL))
    return;
  worker_write (&w, task);
  final = worker_read_final (&w, "intro-plain");
  g_assert_cmpstr (we_worker_msg_type (final), ==, "done");
  msgs = messages_of (&w, "intro-plain");
  /* pipelines are always reported; logs only when asked for */
  g_assert_nonnull (find_type (msgs, "pipeline", NULL));
  g_assert_null (find_type (msgs, "log", NULL));
  g_assert_false (g_file_test (stored, G_FILE_TEST_EXISTS));
  worker_stop (&w);
}

/* ---- setup -------------------------------------------------------------- */

static gboolean
make_clip (const gchar *rel, const gchar *duration)
{
  g_autofree gchar *script = g_build_filename (g_getenv ("WE_SOURCE_ROOT"), "tests", "media",
                                               "make-clip", NULL);
  g_autofree gchar *path = store_path (rel);
  const gchar *argv[] = { script, path, "--duration", duration, NULL };
  g_autoptr(GSubprocess) proc = NULL;
  g_autoptr(GError) error = NULL;

  proc = g_subprocess_newv (argv, G_SUBPROCESS_FLAGS_NONE, &error);
  if (proc == NULL || !g_subprocess_wait_check (proc, NULL, &error)) {
    env.skip_reason = g_strdup_printf ("make-clip %s failed: %s", rel, error->message);
    return FALSE;
  }
  return TRUE;
}

static void
setup_env (void)
{
  const gchar *build_root = g_getenv ("WE_BUILD_ROOT");
  const gchar *plugin_dir = g_getenv ("WE_PLUGIN_DIR");
  g_autofree gchar *in = NULL;
  g_autofree gchar *gst_elements = NULL;
  g_autoptr(GError) error = NULL;

  env.tmp = g_dir_make_tmp ("we-worker-test-XXXXXX", &error);
  g_assert_no_error (error);
  env.store = g_build_filename (env.tmp, "store", NULL);
  env.scratch = g_build_filename (env.tmp, "scratch", NULL);
  in = g_build_filename (env.store, "in", NULL);
  g_assert_cmpint (g_mkdir_with_parents (in, 0700), ==, 0);
  g_assert_cmpint (g_mkdir_with_parents (env.scratch, 0700), ==, 0);

  if (build_root == NULL || g_getenv ("WE_SOURCE_ROOT") == NULL) {
    env.skip_reason = g_strdup ("run through meson test (WE_BUILD_ROOT, WE_SOURCE_ROOT)");
    return;
  }
  env.worker = g_build_filename (build_root, "src", "worker", "webencode-worker", NULL);
  env.plugin_dir = plugin_dir != NULL ? g_strdup (plugin_dir)
                                      : g_build_filename (build_root, "plugins", NULL);
  if (!g_file_test (env.worker, G_FILE_TEST_IS_EXECUTABLE)) {
    env.skip_reason = g_strdup_printf ("%s is not built", env.worker);
    return;
  }
  {
    g_autofree gchar *garbage = store_path ("in/garbage.mp4");
    g_assert_true (g_file_set_contents (garbage, "this is not a video\n", -1, NULL));
  }
  if (!make_clip ("in/clip.mp4", "1"))
    return;
  /* our elements (weprogress), for parsing the recorded lines here; set
   * after make-clip, whose gst-launch-1.0 must not load them */
  gst_elements = g_build_filename (build_root, "gst-elements", NULL);
  g_setenv ("GST_PLUGIN_PATH", gst_elements, TRUE);
  /* scanned in this process: a sanitizer build's plugin does not load into
   * the uninstrumented gst-plugin-scanner; and a registry of our own */
  g_setenv ("GST_REGISTRY_FORK", "no", TRUE);
  {
    g_autofree gchar *registry = g_build_filename (env.tmp, "registry.bin", NULL);
    g_setenv ("GST_REGISTRY", registry, TRUE);
  }
}

int
main (int argc, char **argv)
{
  int rc;

  g_test_init (&argc, &argv, NULL);
  setup_env ();
  gst_init (NULL, NULL);

  g_test_add_func ("/worker/gst-log/router", test_router);
  g_test_add_data_func ("/worker/gst-log/flag", GINT_TO_POINTER (TRUE), test_worker_logs);
  g_test_add_data_func ("/worker/gst-log/configure", GINT_TO_POINTER (FALSE), test_worker_logs);
  g_test_add_func ("/worker/gst-log/failed-task", test_worker_log_of_failed_task);
  g_test_add_func ("/worker/gst-log/off", test_worker_without_debug);
  rc = g_test_run ();

  {
    g_autofree gchar *cmd = g_strdup_printf ("rm -rf '%s'", env.tmp);
    g_assert_cmpint (system (cmd), ==, 0);
  }
  return rc;
}
