/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * WeQueueLocal against the real webencode-worker and the real storage-fs and
 * encoder-gst plugins of the build tree, on clips made by tests/media/make-clip.
 */
#include "config.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <webencode/webencode.h>

#include "common/we-worker-protocol.h"
#include "we-queue-local.h"

static struct {
  gchar   *tmp;
  gchar   *store;        /* storage-fs root */
  gchar   *scratch;
  gchar   *worker;
  gchar   *plugin_dir;
  gboolean media_ok;
  gchar   *skip_reason;
} env;

typedef struct {
  gchar      *task_id;
  JsonObject *msg;
  gint64      at_us;
} Event;

typedef struct {
  WeQueueLocal *queue;
  GPtrArray    *events;
  guint         slots_changed;
} Fixture;

static void
event_free (Event *ev)
{
  g_free (ev->task_id);
  json_object_unref (ev->msg);
  g_free (ev);
}

static void
on_task_event (WeQueue *queue, const gchar *task_id, JsonObject *msg, Fixture *f)
{
  Event *ev = g_new0 (Event, 1);

  ev->task_id = g_strdup (task_id);
  ev->msg = json_object_ref (msg);
  ev->at_us = g_get_monotonic_time ();
  g_ptr_array_add (f->events, ev);
  g_test_message ("event %s: %s", task_id,
                  json_object_get_string_member_with_default (msg, "type", "?"));
}

static void
on_slots_changed (WeQueue *queue, Fixture *f)
{
  f->slots_changed++;
}

static gboolean
tick_cb (gpointer user_data)
{
  return G_SOURCE_CONTINUE;
}

typedef gboolean (*Predicate) (Fixture *f, gconstpointer data);

static gboolean
wait_for (Fixture *f, Predicate pred, gconstpointer data, guint timeout_ms)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;
  guint tick = g_timeout_add (20, tick_cb, NULL);
  gboolean ok;

  while (!(ok = pred (f, data)) && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, TRUE);
  g_source_remove (tick);
  return ok;
}

static gboolean
pred_free_slots (Fixture *f, gconstpointer data)
{
  return we_queue_free_slots (WE_QUEUE (f->queue)) == GPOINTER_TO_UINT (data);
}

static Event *
find_event (Fixture *f, const gchar *task_id, const gchar *type, guint nth)
{
  for (guint i = 0; i < f->events->len; i++) {
    Event *ev = g_ptr_array_index (f->events, i);

    if (g_strcmp0 (ev->task_id, task_id) != 0)
      continue;
    if (type != NULL && g_strcmp0 (we_worker_msg_type (ev->msg), type) != 0)
      continue;
    if (nth-- == 0)
      return ev;
  }
  return NULL;
}

static Event *
find_final (Fixture *f, const gchar *task_id)
{
  for (guint i = 0; i < f->events->len; i++) {
    Event *ev = g_ptr_array_index (f->events, i);
    const gchar *type = we_worker_msg_type (ev->msg);

    if (g_strcmp0 (ev->task_id, task_id) == 0 &&
        (g_strcmp0 (type, "done") == 0 || g_strcmp0 (type, "failed") == 0 ||
         g_strcmp0 (type, "cancelled") == 0))
      return ev;
  }
  return NULL;
}

static guint
count_events (Fixture *f, const gchar *task_id, const gchar *type)
{
  guint n = 0;

  while (find_event (f, task_id, type, n) != NULL)
    n++;
  return n;
}

static gboolean
pred_final (Fixture *f, gconstpointer task_id)
{
  return find_final (f, task_id) != NULL;
}

typedef struct {
  const gchar *task_id;
  const gchar *type;
  guint        nth;
} EventWant;

static gboolean
pred_event (Fixture *f, gconstpointer data)
{
  const EventWant *want = data;

  return find_event (f, want->task_id, want->type, want->nth) != NULL ||
         find_final (f, want->task_id) != NULL;
}

static gboolean
pred_never (Fixture *f, gconstpointer data)
{
  return FALSE;
}

static JsonObject *
make_configure (void)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "type");
  json_builder_add_string_value (b, "configure");
  json_builder_set_member_name (b, "scratch_dir");
  json_builder_add_string_value (b, env.scratch);
  json_builder_set_member_name (b, "plugin_dir");
  json_builder_add_string_value (b, env.plugin_dir);
  json_builder_set_member_name (b, "plugins");
  json_builder_begin_array (b);
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "id");
  json_builder_add_string_value (b, "storage-fs");
  json_builder_set_member_name (b, "config");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "root");
  json_builder_add_string_value (b, env.store);
  json_builder_end_object (b);
  json_builder_end_object (b);
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "id");
  json_builder_add_string_value (b, "encoder-gst");
  json_builder_set_member_name (b, "config");
  json_builder_begin_object (b);
  json_builder_end_object (b);
  json_builder_end_object (b);
  json_builder_end_array (b);
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  return json_object_ref (json_node_get_object (root));
}

static JsonObject *
make_task (const gchar *id, const gchar *input_url, const gchar *output_url)
{
  g_autoptr(GPtrArray) builtins = we_profile_builtins ();
  JsonObject *task = json_object_new ();
  WeProfile *profile = NULL;

  for (guint i = 0; i < builtins->len; i++) {
    WeProfile *p = g_ptr_array_index (builtins, i);

    if (g_strcmp0 (p->id, "480p_fast") == 0)
      profile = p;
  }
  g_assert_nonnull (profile);
  json_object_set_string_member (task, "id", id);
  json_object_set_string_member (task, "job_id", "job-1");
  json_object_set_string_member (task, "kind", "transcode");
  json_object_set_int_member (task, "attempt", 1);
  json_object_set_string_member (task, "input_url", input_url);
  json_object_set_string_member (task, "output_url", output_url);
  json_object_set_double_member (task, "start_s", 0);
  json_object_set_double_member (task, "duration_s", 0);
  json_object_set_object_member (task, "profile", we_profile_to_json (profile));
  return task;
}

static gboolean
fixture_start (Fixture *f, guint count, guint stall_s)
{
  const gchar *argv[] = { env.worker, "--stdio", "--log-level", "warning", NULL };
  g_autoptr(JsonObject) configure = NULL;
  g_autoptr(GError) error = NULL;

  if (!env.media_ok) {
    g_test_skip (env.skip_reason);
    return FALSE;
  }
  configure = make_configure ();
  f->events = g_ptr_array_new_with_free_func ((GDestroyNotify) event_free);
  f->queue = we_queue_local_new (argv, count, configure, stall_s);
  g_signal_connect (f->queue, "task-event", G_CALLBACK (on_task_event), f);
  g_signal_connect (f->queue, "slots-changed", G_CALLBACK (on_slots_changed), f);
  g_assert_true (we_queue_start (WE_QUEUE (f->queue), &error));
  g_assert_no_error (error);
  g_assert_cmpuint (we_queue_total_slots (WE_QUEUE (f->queue)), ==, count);
  /* the first start of a worker may build the GStreamer registry */
  g_assert_true (wait_for (f, pred_free_slots, GUINT_TO_POINTER (count), 60000));
  return TRUE;
}

static gboolean
pred_all_exited (Fixture *f, gconstpointer data)
{
  g_autoptr(GPtrArray) workers = we_queue_list_workers (WE_QUEUE (f->queue));

  for (guint i = 0; i < workers->len; i++) {
    if (json_object_get_int_member (g_ptr_array_index (workers, i), "pid") != 0)
      return FALSE;
  }
  return TRUE;
}

static void
fixture_stop (Fixture *f)
{
  if (f->queue != NULL) {
    we_queue_stop (WE_QUEUE (f->queue));
    /* let the children take their shutdown rather than be killed by dispose */
    g_assert_true (wait_for (f, pred_all_exited, NULL, 5000));
  }
  g_clear_object (&f->queue);
  g_clear_pointer (&f->events, g_ptr_array_unref);
}

static gchar *
store_path (const gchar *rel)
{
  return g_build_filename (env.store, rel, NULL);
}

static void
assert_no_scratch_left (void)
{
  g_autoptr(GDir) dir = g_dir_open (env.scratch, 0, NULL);
  const gchar *name;

  g_assert_nonnull (dir);
  while ((name = g_dir_read_name (dir)) != NULL) {
    if (g_str_has_suffix (name, ".part"))
      g_error ("scratch file %s was left behind", name);
  }
}

static const gchar *
msg_str (JsonObject *msg, const gchar *name)
{
  return json_object_get_string_member_with_default (msg, name, NULL);
}

static gboolean
msg_bool (JsonObject *msg, const gchar *name)
{
  return json_object_get_boolean_member_with_default (msg, name, FALSE);
}

static void
assert_failed (Event *ev, const gchar *code, gboolean retryable)
{
  g_assert_nonnull (ev);
  g_test_message ("failed: %s %s", msg_str (ev->msg, "code"), msg_str (ev->msg, "message"));
  g_assert_cmpstr (we_worker_msg_type (ev->msg), ==, "failed");
  g_assert_cmpstr (msg_str (ev->msg, "code"), ==, code);
  g_assert_cmpint (msg_bool (ev->msg, "retryable"), ==, retryable);
  g_assert_nonnull (msg_str (ev->msg, "message"));
}

static gboolean
pid_gone (GPid pid)
{
  return kill (pid, 0) != 0 && errno == ESRCH;
}

/* ---- tests -------------------------------------------------------------- */

static void
test_transcode (void)
{
  Fixture f = { 0 };
  g_autoptr(JsonObject) task = make_task ("t-ok", "fs://in/clip.mp4", "fs://out/x.mp4");
  g_autoptr(GPtrArray) workers = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *out = store_path ("out/x.mp4");
  GStatBuf st;
  Event *probe, *done;
  gint64 max_gap = 0;
  guint n_progress = 0;

  if (!fixture_start (&f, 2, 0))
    return;

  workers = we_queue_list_workers (WE_QUEUE (f.queue));
  g_assert_cmpuint (workers->len, ==, 2);
  for (guint i = 0; i < workers->len; i++) {
    JsonObject *w = g_ptr_array_index (workers, i);
    JsonObject *caps = json_object_get_object_member (w, "capabilities");
    JsonArray *codecs = json_object_get_array_member (caps, "video_codecs");
    gboolean h264 = FALSE;

    g_assert_cmpstr (msg_str (w, "state"), ==, "idle");
    g_assert_cmpint (json_object_get_int_member (w, "pid"), >, 0);
    g_assert_cmpint (json_object_get_int_member (caps, "cores"), >, 0);
    for (guint j = 0; j < json_array_get_length (codecs); j++)
      h264 |= g_strcmp0 (json_array_get_string_element (codecs, j), "h264") == 0;
    g_assert_true (h264);
  }

  g_assert_true (we_queue_dispatch (WE_QUEUE (f.queue), task, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (we_queue_free_slots (WE_QUEUE (f.queue)), ==, 1);
  g_assert_cmpint (we_queue_local_get_task_pid (f.queue, "t-ok"), >, 0);
  g_assert_true (wait_for (&f, pred_final, "t-ok", 120000));

  /* probe first, progress at least every second, done last */
  probe = find_event (&f, "t-ok", NULL, 0);
  g_assert_cmpstr (we_worker_msg_type (probe->msg), ==, "probe");
  g_assert_nonnull (json_object_get_object_member (probe->msg, "media"));
  done = find_final (&f, "t-ok");
  g_assert_cmpstr (we_worker_msg_type (done->msg), ==, "done");
  g_assert_cmpstr (msg_str (done->msg, "output_url"), ==, "fs://out/x.mp4");
  for (guint i = 0; i < f.events->len; i++) {
    Event *ev = g_ptr_array_index (f.events, i);
    Event *prev = i > 0 ? g_ptr_array_index (f.events, i - 1) : NULL;

    if (g_strcmp0 (we_worker_msg_type (ev->msg), "progress") == 0) {
      gdouble percent = json_object_get_double_member (ev->msg, "percent");

      n_progress++;
      g_assert_cmpfloat (percent, >=, 0.0);
      g_assert_cmpfloat (percent, <=, 100.0);
    }
    if (prev != NULL)
      max_gap = MAX (max_gap, ev->at_us - prev->at_us);
  }
  g_test_message ("%u progress messages, longest gap %" G_GINT64_FORMAT " ms", n_progress,
                  max_gap / 1000);
  g_assert_cmpuint (n_progress, >=, 1);
  /* the worker promises one a second; allow for a loaded machine (and the
   * slower sanitizer builds, WE_TEST_TIME_FACTOR) */
  {
    const gchar *factor = g_getenv ("WE_TEST_TIME_FACTOR");
    gint64 allowed = 1500 * G_TIME_SPAN_MILLISECOND;

    if (factor != NULL && g_ascii_strtod (factor, NULL) > 1.0)
      allowed = (gint64) (allowed * MIN (g_ascii_strtod (factor, NULL), 4.0));
    g_assert_cmpint (max_gap, <, allowed);
  }

  g_assert_cmpint (g_stat (out, &st), ==, 0);
  g_assert_cmpint (st.st_size, >, 0);
  g_assert_cmpint (st.st_size, ==, json_object_get_int_member (done->msg, "size_bytes"));
  assert_no_scratch_left ();
  g_assert_cmpuint (we_queue_free_slots (WE_QUEUE (f.queue)), ==, 2);
  g_assert_cmpint (we_queue_local_get_task_pid (f.queue, "t-ok"), ==, 0);

  fixture_stop (&f);
}

static void
test_cancel (void)
{
  Fixture f = { 0 };
  g_autoptr(JsonObject) task = make_task ("t-cancel", "fs://in/long.mp4", "fs://out/cancel.mp4");
  g_autoptr(GPtrArray) workers = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *out = store_path ("out/cancel.mp4");
  EventWant want = { "t-cancel", "progress", 1 };
  Event *final;
  gint64 t0;

  if (!fixture_start (&f, 1, 0))
    return;
  g_assert_true (we_queue_dispatch (WE_QUEUE (f.queue), task, &error));
  g_assert_no_error (error);
  /* the second report comes from a running encode */
  g_assert_true (wait_for (&f, pred_event, &want, 60000));
  g_assert_null (find_final (&f, "t-cancel"));

  t0 = g_get_monotonic_time ();
  we_queue_cancel (WE_QUEUE (f.queue), "t-cancel");
  g_assert_true (wait_for (&f, pred_final, "t-cancel", 5000));
  final = find_final (&f, "t-cancel");
  g_test_message ("cancelled after %" G_GINT64_FORMAT " ms", (final->at_us - t0) / 1000);
  g_assert_cmpstr (we_worker_msg_type (final->msg), ==, "cancelled");
  g_assert_cmpint (final->at_us - t0, <, G_TIME_SPAN_SECOND);

  g_assert_false (g_file_test (out, G_FILE_TEST_EXISTS));
  assert_no_scratch_left ();
  /* the worker answered by itself: the slot is free and nobody was killed */
  g_assert_cmpuint (we_queue_free_slots (WE_QUEUE (f.queue)), ==, 1);
  workers = we_queue_list_workers (WE_QUEUE (f.queue));
  g_assert_cmpint (json_object_get_int_member (g_ptr_array_index (workers, 0), "restarts"), ==, 0);

  fixture_stop (&f);
}

static void
test_bad_input (void)
{
  Fixture f = { 0 };
  g_autoptr(JsonObject) bad = make_task ("t-bad", "fs://in/garbage.mp4", "fs://out/bad.mp4");
  g_autoptr(JsonObject) other = make_task ("t-other", "fs://in/clip.mp4", "fs://out/o.mp4");
  g_autoptr(JsonObject) missing = make_task ("t-missing", "fs://in/missing.mp4",
                                             "fs://out/m.mp4");
  g_autoptr(GError) error = NULL;
  g_autofree gchar *out = store_path ("out/bad.mp4");

  if (!fixture_start (&f, 1, 0))
    return;
  g_assert_true (we_queue_dispatch (WE_QUEUE (f.queue), bad, &error));
  g_assert_no_error (error);

  /* the one slot is taken, and a task cannot run twice */
  g_assert_false (we_queue_dispatch (WE_QUEUE (f.queue), bad, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_WRK_BUSY);
  g_clear_error (&error);
  g_assert_false (we_queue_dispatch (WE_QUEUE (f.queue), other, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_JOB_NO_WORKERS);
  g_clear_error (&error);

  g_assert_true (wait_for (&f, pred_final, "t-bad", 60000));
  assert_failed (find_final (&f, "t-bad"), "WE-JOB-007", FALSE);
  g_assert_null (find_event (&f, "t-bad", "progress", 0));
  g_assert_false (g_file_test (out, G_FILE_TEST_EXISTS));

  g_assert_true (we_queue_dispatch (WE_QUEUE (f.queue), missing, &error));
  g_assert_no_error (error);
  g_assert_true (wait_for (&f, pred_final, "t-missing", 60000));
  assert_failed (find_final (&f, "t-missing"), "WE-STO-001", FALSE);
  assert_no_scratch_left ();

  fixture_stop (&f);
}

static void
test_kill_and_redispatch (void)
{
  Fixture f = { 0 };
  g_autoptr(JsonObject) task = make_task ("t-kill", "fs://in/medium.mp4", "fs://out/kill.mp4");
  g_autoptr(GPtrArray) workers = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *out = store_path ("out/kill.mp4");
  EventWant want = { "t-kill", "progress", 0 };
  Event *final;
  GPid pid;

  if (!fixture_start (&f, 1, 0))
    return;
  g_assert_true (we_queue_dispatch (WE_QUEUE (f.queue), task, &error));
  g_assert_no_error (error);
  g_assert_true (wait_for (&f, pred_event, &want, 60000));
  g_assert_null (find_final (&f, "t-kill"));

  pid = we_queue_local_get_task_pid (f.queue, "t-kill");
  g_assert_cmpint (pid, >, 0);
  g_assert_cmpint (kill (pid, SIGKILL), ==, 0);
  g_assert_true (wait_for (&f, pred_final, "t-kill", 10000));
  final = find_final (&f, "t-kill");
  assert_failed (final, "WE-WRK-004", TRUE);
  g_assert_nonnull (strstr (msg_str (final->msg, "message"), "signal 9"));
  g_assert_cmpint (we_queue_local_get_task_pid (f.queue, "t-kill"), ==, 0);

  /* the slot comes back with a new process */
  g_assert_true (wait_for (&f, pred_free_slots, GUINT_TO_POINTER (1), 30000));
  workers = we_queue_list_workers (WE_QUEUE (f.queue));
  g_assert_cmpint (json_object_get_int_member (g_ptr_array_index (workers, 0), "restarts"), ==, 1);
  g_assert_cmpint (json_object_get_int_member (g_ptr_array_index (workers, 0), "pid"), !=, pid);
  g_assert_true (pid_gone (pid));

  /* and the very same task now completes */
  g_ptr_array_set_size (f.events, 0);
  g_assert_true (we_queue_dispatch (WE_QUEUE (f.queue), task, &error));
  g_assert_no_error (error);
  g_assert_true (wait_for (&f, pred_final, "t-kill", 120000));
  g_assert_cmpstr (we_worker_msg_type (find_final (&f, "t-kill")->msg), ==, "done");
  g_assert_true (g_file_test (out, G_FILE_TEST_IS_REGULAR));
  assert_no_scratch_left ();

  fixture_stop (&f);
}

static void
test_crash_after_progress (void)
{
  Fixture f = { 0 };
  g_autoptr(JsonObject) task = make_task ("t-crash", "fs://in/medium.mp4",
                                          "fs://out/crash.mp4");
  g_autoptr(GError) error = NULL;
  Event *final;
  gboolean started;

  /* only the first process of the slot inherits the crash switch */
  g_setenv ("WE_WORKER_TEST_CRASH_AFTER_PROGRESS", "2", TRUE);
  started = fixture_start (&f, 1, 0);
  g_unsetenv ("WE_WORKER_TEST_CRASH_AFTER_PROGRESS");
  if (!started)
    return;

  g_assert_true (we_queue_dispatch (WE_QUEUE (f.queue), task, &error));
  g_assert_no_error (error);
  g_assert_true (wait_for (&f, pred_final, "t-crash", 60000));
  final = find_final (&f, "t-crash");
  assert_failed (final, "WE-WRK-004", TRUE);
  g_assert_nonnull (strstr (msg_str (final->msg, "message"), "signal 6"));
  g_assert_cmpuint (count_events (&f, "t-crash", "progress"), ==, 2);

  g_assert_true (wait_for (&f, pred_free_slots, GUINT_TO_POINTER (1), 30000));
  g_ptr_array_set_size (f.events, 0);
  g_assert_true (we_queue_dispatch (WE_QUEUE (f.queue), task, &error));
  g_assert_no_error (error);
  g_assert_true (wait_for (&f, pred_final, "t-crash", 120000));
  g_assert_cmpstr (we_worker_msg_type (find_final (&f, "t-crash")->msg), ==, "done");

  fixture_stop (&f);
}

/* A worker that says hello, takes a task and then hangs: what a wedged
 * decoder looks like from the queue. Scripted because a real pipeline that
 * hangs on demand is not something this machine can produce reliably (a
 * FIFO source is refused by storage-fs before any decoder sees it). */
static const gchar *hung_worker_script =
  "read -r configure; "
  "echo '{\"type\":\"hello\",\"worker_id\":\"hung\",\"pid\":'$$',"
  "\"version\":\"0\",\"capabilities\":{}}'; "
  "read -r task; exec sleep 600";

static void
test_stall (void)
{
  Fixture f = { 0 };
  const gchar *argv[] = { "/bin/sh", "-c", hung_worker_script, "hung-worker", NULL };
  g_autoptr(JsonObject) task = make_task ("t-stall", "fs://in/clip.mp4", "fs://out/stall.mp4");
  g_autoptr(JsonObject) configure = make_configure ();
  g_autoptr(GError) error = NULL;
  Event *final;
  GPid pid;
  gint64 t0;

  f.events = g_ptr_array_new_with_free_func ((GDestroyNotify) event_free);
  f.queue = we_queue_local_new (argv, 1, configure, 1);
  g_signal_connect (f.queue, "task-event", G_CALLBACK (on_task_event), &f);
  g_assert_true (we_queue_start (WE_QUEUE (f.queue), &error));
  g_assert_no_error (error);
  g_assert_true (wait_for (&f, pred_free_slots, GUINT_TO_POINTER (1), 10000));

  t0 = g_get_monotonic_time ();
  g_assert_true (we_queue_dispatch (WE_QUEUE (f.queue), task, &error));
  g_assert_no_error (error);
  pid = we_queue_local_get_task_pid (f.queue, "t-stall");
  g_assert_cmpint (pid, >, 0);
  g_assert_true (wait_for (&f, pred_final, "t-stall", 10000));
  final = find_final (&f, "t-stall");
  g_test_message ("stall reported after %" G_GINT64_FORMAT " ms", (final->at_us - t0) / 1000);
  assert_failed (final, "WE-WRK-004", TRUE);
  g_assert_nonnull (strstr (msg_str (final->msg, "message"), "stalled"));
  g_assert_cmpint (final->at_us - t0, >=, G_TIME_SPAN_SECOND);
  g_assert_cmpint (final->at_us - t0, <, 3 * G_TIME_SPAN_SECOND);
  g_assert_true (pid_gone (pid));
  /* the slot comes back */
  g_assert_true (wait_for (&f, pred_free_slots, GUINT_TO_POINTER (1), 10000));

  fixture_stop (&f);
}

static void
test_cancel_unresponsive (void)
{
  Fixture f = { 0 };
  const gchar *argv[] = { "/bin/sh", "-c", hung_worker_script, "hung-worker", NULL };
  g_autoptr(JsonObject) task = make_task ("t-deaf", "fs://in/clip.mp4", "fs://out/deaf.mp4");
  g_autoptr(JsonObject) configure = make_configure ();
  g_autoptr(GError) error = NULL;
  Event *final;
  gint64 t0;

  f.events = g_ptr_array_new_with_free_func ((GDestroyNotify) event_free);
  f.queue = we_queue_local_new (argv, 1, configure, 0);
  g_signal_connect (f.queue, "task-event", G_CALLBACK (on_task_event), &f);
  g_assert_true (we_queue_start (WE_QUEUE (f.queue), &error));
  g_assert_no_error (error);
  g_assert_true (wait_for (&f, pred_free_slots, GUINT_TO_POINTER (1), 10000));
  g_assert_true (we_queue_dispatch (WE_QUEUE (f.queue), task, &error));
  g_assert_no_error (error);

  /* a worker that cannot answer a cancel is killed, and the task counts as
   * cancelled, not failed */
  t0 = g_get_monotonic_time ();
  we_queue_cancel (WE_QUEUE (f.queue), "t-deaf");
  g_assert_true (wait_for (&f, pred_final, "t-deaf", 10000));
  final = find_final (&f, "t-deaf");
  g_assert_cmpstr (we_worker_msg_type (final->msg), ==, "cancelled");
  g_assert_cmpint (final->at_us - t0, >=, 2 * G_TIME_SPAN_SECOND);
  g_assert_cmpint (final->at_us - t0, <, 4 * G_TIME_SPAN_SECOND);

  fixture_stop (&f);
}

static gboolean
pred_restarts (Fixture *f, gconstpointer data)
{
  g_autoptr(GPtrArray) workers = we_queue_list_workers (WE_QUEUE (f->queue));

  return json_object_get_int_member (g_ptr_array_index (workers, 0), "restarts") >=
         GPOINTER_TO_UINT (data);
}

static void
test_crash_loop_backoff (void)
{
  Fixture f = { 0 };
  const gchar *argv[] = { "/bin/sh", "-c", "exit 3", "dying-worker", NULL };
  g_autoptr(GPtrArray) workers = NULL;
  g_autoptr(GError) error = NULL;
  gint64 t0 = g_get_monotonic_time ();
  gint64 elapsed;

  f.events = g_ptr_array_new_with_free_func ((GDestroyNotify) event_free);
  f.queue = we_queue_local_new (argv, 1, NULL, 0);
  g_assert_true (we_queue_start (WE_QUEUE (f.queue), &error));
  g_assert_no_error (error);

  /* it dies at once, then after waits of 0.5, 1 and 2 s: the fourth death
   * comes 3.5 s in, where no backoff would have taken milliseconds */
  g_assert_true (wait_for (&f, pred_restarts, GUINT_TO_POINTER (4), 15000));
  elapsed = g_get_monotonic_time () - t0;
  g_test_message ("4 restarts after %" G_GINT64_FORMAT " ms", elapsed / 1000);
  g_assert_cmpint (elapsed, >=, 3000 * G_TIME_SPAN_MILLISECOND);
  g_assert_cmpint (elapsed, <, 8000 * G_TIME_SPAN_MILLISECOND);
  g_assert_cmpuint (we_queue_free_slots (WE_QUEUE (f.queue)), ==, 0);
  workers = we_queue_list_workers (WE_QUEUE (f.queue));
  g_assert_cmpstr (msg_str (g_ptr_array_index (workers, 0), "state"), !=, "idle");

  fixture_stop (&f);
}

/* Workers that break the protocol while holding a task: the queue must not
 * believe them, must not buffer without bound, and must report the task. */
static void
run_abusive_worker (const gchar *script, const gchar *expect)
{
  Fixture f = { 0 };
  const gchar *argv[] = { "/bin/sh", "-c", script, "abusive-worker", NULL };
  g_autoptr(JsonObject) task = make_task ("t-abuse", "fs://in/clip.mp4", "fs://out/abuse.mp4");
  g_autoptr(GError) error = NULL;
  Event *final;

  f.events = g_ptr_array_new_with_free_func ((GDestroyNotify) event_free);
  f.queue = we_queue_local_new (argv, 1, NULL, 0);
  g_signal_connect (f.queue, "task-event", G_CALLBACK (on_task_event), &f);
  g_assert_true (we_queue_start (WE_QUEUE (f.queue), &error));
  g_assert_no_error (error);
  g_assert_true (wait_for (&f, pred_free_slots, GUINT_TO_POINTER (1), 10000));
  g_assert_true (we_queue_dispatch (WE_QUEUE (f.queue), task, &error));
  g_assert_no_error (error);
  g_assert_true (wait_for (&f, pred_final, "t-abuse", 10000));
  final = find_final (&f, "t-abuse");
  assert_failed (final, "WE-WRK-004", TRUE);
  g_assert_nonnull (strstr (msg_str (final->msg, "message"), expect));
  /* nothing it said before the garbage got through either */
  g_assert_cmpuint (f.events->len, ==, 1);
  fixture_stop (&f);
}

static void
test_protocol_abuse (void)
{
  run_abusive_worker ("read -r c; echo '{\"type\":\"hello\"}'; read -r t; "
                      "echo 'this is not json'; exec sleep 600",
                      "broke the protocol");
  run_abusive_worker ("read -r c; echo '{\"type\":\"hello\"}'; read -r t; "
                      "head -c 1100000 /dev/zero | tr '\\0' a; exec sleep 600",
                      "over-long line");
}

static void
test_start_fails (void)
{
  const gchar *argv[] = { "/nonexistent/webencode-worker", "--stdio", NULL };
  g_autoptr(WeQueueLocal) queue = we_queue_local_new (argv, 2, NULL, 0);
  g_autoptr(GError) error = NULL;

  g_assert_false (we_queue_start (WE_QUEUE (queue), &error));
  g_assert_nonnull (error);
  g_assert_cmpuint (we_queue_free_slots (WE_QUEUE (queue)), ==, 0);
}

/* A retry names the worker that failed it; another idle one takes it. */
static void
test_avoid_worker (void)
{
  Fixture f = { 0 };
  g_autoptr(GError) error = NULL;

  if (!fixture_start (&f, 2, 0))
    return;
  for (guint round = 0; round < 2; round++) {
    const gchar *avoid = round == 0 ? "local-1" : "local-2";
    g_autofree gchar *id = g_strdup_printf ("t-avoid-%u", round);
    g_autoptr(JsonObject) task = make_task (id, "fs://in/long.mp4", "fs://out/avoid.mp4");
    g_autoptr(GPtrArray) workers = NULL;

    json_object_set_string_member (task, "avoid_worker", avoid);
    g_assert_true (we_queue_dispatch (WE_QUEUE (f.queue), task, &error));
    g_assert_no_error (error);
    workers = we_queue_list_workers (WE_QUEUE (f.queue));
    for (guint i = 0; i < workers->len; i++) {
      JsonObject *w = g_ptr_array_index (workers, i);
      if (g_strcmp0 (msg_str (w, "task_id"), id) == 0)
        g_assert_cmpstr (msg_str (w, "id"), !=, avoid);
    }
    we_queue_cancel (WE_QUEUE (f.queue), id);
    g_assert_true (wait_for (&f, pred_free_slots, GUINT_TO_POINTER (2), 10000));
  }
  fixture_stop (&f);
}

static void
test_stop (void)
{
  Fixture f = { 0 };
  g_autoptr(JsonObject) task = make_task ("t-stop", "fs://in/long.mp4", "fs://out/stop.mp4");
  g_autoptr(GPtrArray) workers = NULL;
  g_autoptr(GPtrArray) after = NULL;
  g_autoptr(GError) error = NULL;
  EventWant want = { "t-stop", "progress", 0 };
  GPid pids[2];
  guint n_events;
  gint64 deadline;

  if (!fixture_start (&f, 2, 0))
    return;
  workers = we_queue_list_workers (WE_QUEUE (f.queue));
  for (guint i = 0; i < 2; i++)
    pids[i] = json_object_get_int_member (g_ptr_array_index (workers, i), "pid");
  g_assert_true (we_queue_dispatch (WE_QUEUE (f.queue), task, &error));
  g_assert_no_error (error);
  g_assert_true (wait_for (&f, pred_event, &want, 60000));

  n_events = f.events->len;
  we_queue_stop (WE_QUEUE (f.queue));
  g_assert_cmpuint (we_queue_free_slots (WE_QUEUE (f.queue)), ==, 0);
  deadline = g_get_monotonic_time () + 5 * G_TIME_SPAN_SECOND;
  while ((!pid_gone (pids[0]) || !pid_gone (pids[1])) && g_get_monotonic_time () < deadline)
    wait_for (&f, pred_never, NULL, 50);
  /* gone and reaped: kill() finds no zombie either */
  g_assert_true (pid_gone (pids[0]));
  g_assert_true (pid_gone (pids[1]));
  /* no respawn and no reports after stop */
  wait_for (&f, pred_never, NULL, 700);
  g_assert_cmpuint (f.events->len, ==, n_events);
  after = we_queue_list_workers (WE_QUEUE (f.queue));
  for (guint i = 0; i < after->len; i++) {
    JsonObject *w = g_ptr_array_index (after, i);

    g_assert_cmpstr (msg_str (w, "state"), ==, "stopped");
    g_assert_cmpint (json_object_get_int_member (w, "pid"), ==, 0);
  }
  /* the worker cancelled its task on shutdown and cleaned up after it */
  assert_no_scratch_left ();
  g_assert_false (we_queue_dispatch (WE_QUEUE (f.queue), task, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_JOB_NO_WORKERS);

  fixture_stop (&f);
}

static JsonObject *
find_worker (Fixture *f, const gchar *id)
{
  g_autoptr(GPtrArray) workers = we_queue_list_workers (WE_QUEUE (f->queue));

  for (guint i = 0; i < workers->len; i++) {
    JsonObject *w = g_ptr_array_index (workers, i);

    if (g_strcmp0 (msg_str (w, "id"), id) == 0)
      return json_object_ref (w);
  }
  return NULL;
}

static gboolean
pred_worker_gone (Fixture *f, gconstpointer id)
{
  g_autoptr(JsonObject) w = find_worker (f, id);

  return w == NULL;
}

static void
assert_time_member (JsonObject *w, const gchar *name)
{
  g_autoptr(GDateTime) t = NULL;
  g_autoptr(GDateTime) now = g_date_time_new_now_utc ();
  const gchar *text = msg_str (w, name);

  g_assert_nonnull (text);
  t = g_date_time_new_from_iso8601 (text, NULL);
  g_assert_nonnull (t);
  /* recent, and not in the future */
  g_assert_cmpint (g_date_time_difference (now, t), >=, -G_TIME_SPAN_SECOND);
  g_assert_cmpint (g_date_time_difference (now, t), <, 300 * G_TIME_SPAN_SECOND);
}

static void
test_drain_and_remove (void)
{
  Fixture f = { 0 };
  g_autoptr(JsonObject) quick = make_task ("t-d1", "fs://in/clip.mp4", "fs://out/d1.mp4");
  g_autoptr(JsonObject) quick2 = make_task ("t-d2", "fs://in/clip.mp4", "fs://out/d2.mp4");
  g_autoptr(JsonObject) slow = make_task ("t-d3", "fs://in/long.mp4", "fs://out/d3.mp4");
  g_autoptr(JsonObject) w1 = NULL;
  g_autoptr(JsonObject) w2 = NULL;
  g_autoptr(GPtrArray) workers = NULL;
  g_autoptr(GError) error = NULL;
  EventWant want = { "t-d3", "progress", 0 };
  guint changes;
  GPid pid2, pid1;

  if (!fixture_start (&f, 2, 0))
    return;

  /* every key of docs/api.md "Workers", from the live children */
  workers = we_queue_list_workers (WE_QUEUE (f.queue));
  g_assert_cmpuint (workers->len, ==, 2);
  for (guint i = 0; i < workers->len; i++) {
    JsonObject *w = g_ptr_array_index (workers, i);

    g_assert_cmpstr (msg_str (w, "hostname"), ==, g_get_host_name ());
    g_assert_true (json_object_get_null_member (w, "ip_address"));
    g_assert_cmpstr (msg_str (w, "version"), ==, PACKAGE_VERSION);
    g_assert_cmpint (json_object_get_int_member (w, "pid"), >, 0);
    g_assert_cmpstr (msg_str (w, "state"), ==, "idle");
    g_assert_false (msg_bool (w, "draining"));
    g_assert_cmpuint (json_array_get_length (json_object_get_array_member (w, "task_ids")), ==,
                      0);
    g_assert_cmpint (json_object_get_int_member (w, "slots_total"), ==, 1);
    g_assert_cmpint (json_object_get_int_member (w, "slots_free"), ==, 1);
    g_assert_nonnull (json_object_get_object_member (w, "capabilities"));
    assert_time_member (w, "last_heartbeat");
    assert_time_member (w, "started_at");
    g_assert_cmpint (json_object_get_int_member (w, "restarts"), ==, 0);
  }
  g_clear_pointer (&workers, g_ptr_array_unref);

  /* a drained idle worker is no free slot, and says so */
  changes = f.slots_changed;
  g_assert_true (we_queue_set_draining (WE_QUEUE (f.queue), "local-1", TRUE, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (f.slots_changed, >, changes);
  g_assert_cmpuint (we_queue_free_slots (WE_QUEUE (f.queue)), ==, 1);
  g_assert_cmpuint (we_queue_total_slots (WE_QUEUE (f.queue)), ==, 2);
  w1 = find_worker (&f, "local-1");
  g_assert_cmpstr (msg_str (w1, "state"), ==, "draining");
  g_assert_true (msg_bool (w1, "draining"));
  g_assert_cmpint (json_object_get_int_member (w1, "slots_free"), ==, 0);
  g_clear_pointer (&w1, json_object_unref);
  /* draining twice is no error */
  g_assert_true (we_queue_set_draining (WE_QUEUE (f.queue), "local-1", TRUE, &error));
  g_assert_no_error (error);

  /* so the one task goes to the other, and a second one waits */
  g_assert_true (we_queue_dispatch (WE_QUEUE (f.queue), quick, &error));
  g_assert_no_error (error);
  w2 = find_worker (&f, "local-2");
  g_assert_cmpstr (msg_str (w2, "task_id"), ==, "t-d1");
  g_assert_cmpstr (json_array_get_string_element (json_object_get_array_member (w2, "task_ids"),
                                                  0), ==, "t-d1");
  g_assert_cmpstr (msg_str (w2, "state"), ==, "busy");
  g_clear_pointer (&w2, json_object_unref);
  g_assert_false (we_queue_dispatch (WE_QUEUE (f.queue), quick2, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_JOB_NO_WORKERS);
  g_clear_error (&error);

  /* a busy worker cannot be removed, and drained it still finishes its task */
  g_assert_false (we_queue_remove_worker (WE_QUEUE (f.queue), "local-2", &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_WRK_BUSY);
  g_clear_error (&error);
  g_assert_true (we_queue_set_draining (WE_QUEUE (f.queue), "local-2", TRUE, &error));
  g_assert_no_error (error);
  w2 = find_worker (&f, "local-2");
  g_assert_cmpstr (msg_str (w2, "state"), ==, "draining");
  g_clear_pointer (&w2, json_object_unref);
  g_assert_true (wait_for (&f, pred_final, "t-d1", 120000));
  g_assert_cmpstr (we_worker_msg_type (find_final (&f, "t-d1")->msg), ==, "done");
  g_assert_cmpuint (we_queue_free_slots (WE_QUEUE (f.queue)), ==, 0);
  g_assert_false (we_queue_dispatch (WE_QUEUE (f.queue), quick2, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_JOB_NO_WORKERS);
  g_clear_error (&error);

  /* undrained, it takes work again */
  changes = f.slots_changed;
  g_assert_true (we_queue_set_draining (WE_QUEUE (f.queue), "local-1", FALSE, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (f.slots_changed, >, changes);
  g_assert_cmpuint (we_queue_free_slots (WE_QUEUE (f.queue)), ==, 1);
  g_assert_true (we_queue_dispatch (WE_QUEUE (f.queue), quick2, &error));
  g_assert_no_error (error);
  w1 = find_worker (&f, "local-1");
  g_assert_cmpstr (msg_str (w1, "task_id"), ==, "t-d2");
  g_clear_pointer (&w1, json_object_unref);
  g_assert_true (wait_for (&f, pred_final, "t-d2", 120000));

  g_assert_false (we_queue_set_draining (WE_QUEUE (f.queue), "local-9", TRUE, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_WRK_NOT_FOUND);
  g_clear_error (&error);
  g_assert_false (we_queue_remove_worker (WE_QUEUE (f.queue), "local-9", &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_WRK_NOT_FOUND);
  g_clear_error (&error);

  /* an idle worker goes away for good: its process ends, nothing restarts */
  w2 = find_worker (&f, "local-2");
  pid2 = json_object_get_int_member (w2, "pid");
  changes = f.slots_changed;
  g_assert_true (we_queue_remove_worker (WE_QUEUE (f.queue), "local-2", &error));
  g_assert_no_error (error);
  g_assert_cmpuint (f.slots_changed, >, changes);
  g_assert_true (pred_worker_gone (&f, "local-2"));
  g_assert_cmpuint (we_queue_total_slots (WE_QUEUE (f.queue)), ==, 1);
  g_assert_cmpuint (we_queue_free_slots (WE_QUEUE (f.queue)), ==, 1);
  wait_for (&f, pred_never, NULL, 1500);
  g_assert_true (pid_gone (pid2));
  g_assert_true (pred_worker_gone (&f, "local-2"));
  g_assert_false (we_queue_remove_worker (WE_QUEUE (f.queue), "local-2", &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_WRK_NOT_FOUND);
  g_clear_error (&error);
  g_assert_false (we_queue_set_draining (WE_QUEUE (f.queue), "local-2", FALSE, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_WRK_NOT_FOUND);
  g_clear_error (&error);

  /* forced, a busy worker is killed and its task handed back for a retry */
  g_assert_true (we_queue_dispatch (WE_QUEUE (f.queue), slow, &error));
  g_assert_no_error (error);
  g_assert_true (wait_for (&f, pred_event, &want, 60000));
  pid1 = we_queue_local_get_task_pid (f.queue, "t-d3");
  g_assert_cmpint (pid1, >, 0);
  g_assert_true (we_queue_local_remove_worker_forced (f.queue, "local-1", &error));
  g_assert_no_error (error);
  g_assert_true (pred_worker_gone (&f, "local-1"));
  g_assert_cmpuint (we_queue_total_slots (WE_QUEUE (f.queue)), ==, 0);
  g_assert_true (wait_for (&f, pred_final, "t-d3", 10000));
  assert_failed (find_final (&f, "t-d3"), "WE-WRK-004", TRUE);
  g_assert_nonnull (strstr (msg_str (find_final (&f, "t-d3")->msg, "message"), "removed"));
  g_assert_cmpint (we_queue_local_get_task_pid (f.queue, "t-d3"), ==, 0);
  g_assert_true (pid_gone (pid1));
  wait_for (&f, pred_never, NULL, 700);
  g_assert_cmpuint (we_queue_total_slots (WE_QUEUE (f.queue)), ==, 0);
  g_assert_cmpuint (we_queue_free_slots (WE_QUEUE (f.queue)), ==, 0);
  g_assert_false (we_queue_dispatch (WE_QUEUE (f.queue), slow, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_JOB_NO_WORKERS);

  fixture_stop (&f);
}

/* The worker on its own: it must survive anything on its stdin. */
static gchar *
read_reply (GDataInputStream *in, const gchar *task_id, const gchar *type)
{
  for (;;) {
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonObject) msg = NULL;
    gsize len = 0;
    g_autofree gchar *line = g_data_input_stream_read_line (in, &len, NULL, &error);

    g_assert_no_error (error);
    g_assert_nonnull (line);
    msg = we_worker_msg_parse (line, len, &error);
    g_assert_no_error (error);
    if (g_strcmp0 (we_worker_msg_type (msg), type) == 0 &&
        (task_id == NULL || g_strcmp0 (msg_str (msg, "task_id"), task_id) == 0))
      return g_steal_pointer (&line);
  }
}

static void
write_line (GOutputStream *out, const gchar *line)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (g_output_stream_write_all (out, line, strlen (line), NULL, NULL, &error));
  g_assert_no_error (error);
}

static void
test_worker_protocol (void)
{
  const gchar *argv[] = { env.worker, "--stdio", "--log-level", "error", NULL };
  g_autoptr(GSubprocess) proc = NULL;
  g_autoptr(GDataInputStream) in = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) configure = NULL;
  g_autoptr(JsonObject) task_a = make_task ("w-a", "fs://in/long.mp4", "fs://out/w-a.mp4");
  g_autoptr(JsonObject) task_b = make_task ("w-b", "fs://in/clip.mp4", "fs://out/w-b.mp4");
  g_autoptr(JsonObject) msg = json_object_new ();
  g_autofree gchar *configure_line = NULL;
  g_autofree gchar *task_a_line = NULL;
  g_autofree gchar *task_b_line = NULL;
  g_autofree gchar *reply = NULL;
  GOutputStream *out;

  if (!env.media_ok) {
    g_test_skip (env.skip_reason);
    return;
  }
  proc = g_subprocess_newv (argv, G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE,
                            &error);
  g_assert_no_error (error);
  out = g_subprocess_get_stdin_pipe (proc);
  in = g_data_input_stream_new (g_subprocess_get_stdout_pipe (proc));

  /* garbage, odd types and a task before configure */
  write_line (out, "not json at all\n");
  write_line (out, "[1,2,3]\n");
  write_line (out, "{\"type\":42}\n");
  write_line (out, "{\"type\":\"from-the-future\",\"x\":1}\n");
  write_line (out, "{\"type\":\"task\"}\n");
  write_line (out, "{\"type\":\"task\",\"task\":{\"id\":\"early\"}}\n");
  reply = read_reply (in, "early", "failed");
  g_assert_nonnull (strstr (reply, "WE-WRK-003"));
  g_clear_pointer (&reply, g_free);

  configure = make_configure ();
  json_object_set_string_member (configure, "worker_id", "proto-1");
  configure_line = we_worker_msg_serialize (configure);
  write_line (out, configure_line);
  reply = read_reply (in, NULL, "hello");
  g_assert_nonnull (strstr (reply, "\"proto-1\""));
  g_assert_nonnull (strstr (reply, g_subprocess_get_identifier (proc)));
  g_clear_pointer (&reply, g_free);

  write_line (out, "{\"type\":\"task\",\"task\":{\"id\":\"w-x\",\"kind\":\"stitch\"}}\n");
  reply = read_reply (in, "w-x", "failed");
  g_assert_nonnull (strstr (reply, "WE-JOB-001"));
  g_assert_nonnull (strstr (reply, "\"retryable\":false"));
  g_clear_pointer (&reply, g_free);

  /* one task at a time */
  json_object_set_string_member (msg, "type", "task");
  json_object_set_object_member (msg, "task", json_object_ref (task_a));
  task_a_line = we_worker_msg_serialize (msg);
  json_object_set_object_member (msg, "task", json_object_ref (task_b));
  task_b_line = we_worker_msg_serialize (msg);
  write_line (out, task_a_line);
  write_line (out, task_b_line);
  reply = read_reply (in, "w-b", "failed");
  g_assert_nonnull (strstr (reply, "WE-WRK-002"));
  g_assert_nonnull (strstr (reply, "\"retryable\":true"));
  g_clear_pointer (&reply, g_free);

  /* a cancel for another task changes nothing; then cancel the real one */
  g_clear_pointer (&reply, g_free);
  reply = read_reply (in, "w-a", "progress");
  g_clear_pointer (&reply, g_free);
  write_line (out, "{\"type\":\"cancel\",\"task_id\":\"nope\"}\n");
  write_line (out, "{\"type\":\"cancel\",\"task_id\":\"w-a\"}\n");
  reply = read_reply (in, "w-a", "cancelled");
  g_clear_pointer (&reply, g_free);

  write_line (out, "{\"type\":\"shutdown\"}\n");
  g_assert_true (g_subprocess_wait_check (proc, NULL, &error));
  g_assert_no_error (error);
  assert_no_scratch_left ();
}

static void
test_worker_long_line (void)
{
  const gchar *argv[] = { env.worker, "--stdio", "--log-level", "error", NULL };
  g_autoptr(GSubprocess) proc = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *big = NULL;
  gsize size = WE_WORKER_MAX_LINE + 100;
  GOutputStream *out;

  if (env.worker == NULL || !g_file_test (env.worker, G_FILE_TEST_IS_EXECUTABLE)) {
    g_test_skip ("no worker binary");
    return;
  }
  proc = g_subprocess_newv (argv, G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE,
                            &error);
  g_assert_no_error (error);
  out = g_subprocess_get_stdin_pipe (proc);
  big = g_malloc (size + 1);
  memset (big, 'x', size);
  big[size] = '\n';
  /* the worker ends the channel, so the write may or may not see EPIPE */
  g_output_stream_write_all (out, big, size + 1, NULL, NULL, NULL);
  g_assert_true (g_subprocess_wait_check (proc, NULL, &error));
  g_assert_no_error (error);
}

static void
test_worker_stdin_eof (void)
{
  const gchar *argv[] = { env.worker, "--stdio", "--log-level", "error", NULL };
  g_autoptr(GSubprocess) proc = NULL;
  g_autoptr(GError) error = NULL;

  if (env.worker == NULL || !g_file_test (env.worker, G_FILE_TEST_IS_EXECUTABLE)) {
    g_test_skip ("no worker binary");
    return;
  }
  proc = g_subprocess_newv (argv, G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE,
                            &error);
  g_assert_no_error (error);
  g_assert_true (g_output_stream_close (g_subprocess_get_stdin_pipe (proc), NULL, &error));
  g_assert_true (g_subprocess_wait_check (proc, NULL, &error));
  g_assert_no_error (error);
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
  g_autofree gchar *garbage = NULL;
  g_autoptr(GError) error = NULL;

  env.tmp = g_dir_make_tmp ("we-queue-local-XXXXXX", &error);
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

  garbage = store_path ("in/garbage.mp4");
  g_assert_true (g_file_set_contents (garbage, "this is not a video, just some text\n", -1,
                                      NULL));
  /* tiny clips: two cores are shared by everything that runs here */
  if (!make_clip ("in/clip.mp4", "2") || !make_clip ("in/medium.mp4", "4") ||
      !make_clip ("in/long.mp4", "20"))
    return;
  env.media_ok = TRUE;
}

static gboolean
rm_rf (const gchar *path)
{
  g_autoptr(GFile) file = g_file_new_for_path (path);
  g_autoptr(GFileEnumerator) children = NULL;

  children = g_file_enumerate_children (file, G_FILE_ATTRIBUTE_STANDARD_NAME,
                                        G_FILE_QUERY_INFO_NOFOLLOW_SYMLINKS, NULL, NULL);
  if (children != NULL) {
    GFileInfo *info;

    while ((info = g_file_enumerator_next_file (children, NULL, NULL)) != NULL) {
      g_autoptr(GFile) child = g_file_get_child (file, g_file_info_get_name (info));
      g_autofree gchar *child_path = g_file_get_path (child);

      rm_rf (child_path);
      g_object_unref (info);
    }
  }
  return g_file_delete (file, NULL, NULL);
}

int
main (int argc, char **argv)
{
  int rc;

  g_test_init (&argc, &argv, NULL);
  /* the queue logs worker crashes as warnings; here they are the point */
  g_log_set_always_fatal (G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
  setup_env ();

  g_test_add_func ("/queue-local/transcode", test_transcode);
  g_test_add_func ("/queue-local/cancel", test_cancel);
  g_test_add_func ("/queue-local/bad-input", test_bad_input);
  g_test_add_func ("/queue-local/kill-and-redispatch", test_kill_and_redispatch);
  g_test_add_func ("/queue-local/crash-after-progress", test_crash_after_progress);
  g_test_add_func ("/queue-local/stall", test_stall);
  g_test_add_func ("/queue-local/cancel-unresponsive", test_cancel_unresponsive);
  g_test_add_func ("/queue-local/crash-loop-backoff", test_crash_loop_backoff);
  g_test_add_func ("/queue-local/start-fails", test_start_fails);
  g_test_add_func ("/queue-local/protocol-abuse", test_protocol_abuse);
  g_test_add_func ("/queue-local/stop", test_stop);
  g_test_add_func ("/queue-local/avoid-worker", test_avoid_worker);
  g_test_add_func ("/queue-local/drain-and-remove", test_drain_and_remove);
  g_test_add_func ("/queue-local/worker-protocol", test_worker_protocol);
  g_test_add_func ("/queue-local/worker-stdin-eof", test_worker_stdin_eof);
  g_test_add_func ("/queue-local/worker-long-line", test_worker_long_line);
  rc = g_test_run ();

  rm_rf (env.tmp);
  return rc;
}
