/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * WeQueueNats against a real nats-server (one per test, in a temporary
 * folder), real `webencode-worker --nats` processes of the build tree and
 * the real storage-fs and encoder-gst plugins, on clips made by
 * tests/media/make-clip. Skipped (77) only when nats-server is missing.
 */
#include "config.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <netinet/in.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <webencode/webencode.h>

#include "common/we-worker-protocol.h"
#include "we-nats.h"
#include "we-queue-nats.h"

/* Short intervals keep the suite fast; the sanitizer factor stretches them. */
#define HEARTBEAT_MS 250
#define OFFLINE_MS   1500
#define ACK_WAIT_S   3

static struct {
  gchar   *tmp;
  gchar   *store;       /* storage-fs root, shared by test and workers */
  gchar   *scratch;
  gchar   *worker;
  gchar   *nats_server;
  gboolean media_ok;
  gchar   *skip_reason;
  guint    factor;
  guint    n_servers;
} env;

typedef struct {
  gchar       *id;
  GSubprocess *proc;
  gboolean     exited;
  gboolean     stopped_by_us;
  gint         status;
} Worker;

typedef struct {
  gchar      *task_id;
  JsonObject *msg;
  gint64      at_us;
} Event;

typedef struct {
  GSubprocess    *server;
  gchar          *url;
  WeQueueNats    *queue;
  GPtrArray      *events;
  GPtrArray      *workers;   /* (element-type Worker) */
  guint           slots_changed;
  natsConnection *nc;        /* the test's own connection */
  guint           max_deliver; /* 0: the queue's default */
} Fixture;

/* ---- helpers -------------------------------------------------------------- */

static guint
ms (guint base)
{
  return base * env.factor;
}

static void
event_free (Event *ev)
{
  g_free (ev->task_id);
  json_object_unref (ev->msg);
  g_free (ev);
}

static void
worker_free (Worker *w)
{
  if (w->proc != NULL && !w->exited)
    g_subprocess_force_exit (w->proc);
  g_clear_object (&w->proc);
  g_free (w->id);
  g_free (w);
}

static void
on_task_event (WeQueue *queue, const gchar *task_id, JsonObject *msg, Fixture *f)
{
  Event *ev = g_new0 (Event, 1);

  ev->task_id = g_strdup (task_id);
  ev->msg = json_object_ref (msg);
  ev->at_us = g_get_monotonic_time ();
  g_ptr_array_add (f->events, ev);
  g_test_message ("event %s: %s from %s", task_id,
                  json_object_get_string_member_with_default (msg, "type", "?"),
                  json_object_get_string_member_with_default (msg, "worker_id", "(kernel)"));
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
pred_never (Fixture *f, gconstpointer data)
{
  return FALSE;
}

static const gchar *
msg_str (JsonObject *msg, const gchar *name)
{
  return json_object_get_string_member_with_default (msg, name, NULL);
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

static gboolean
pred_started (Fixture *f, gconstpointer task_id)
{
  return find_event (f, task_id, NULL, 0) != NULL;
}

/* The second report comes from a running encode: a cancel before it would
 * land in the probe, which is not what these tests are about. */
static gboolean
pred_progress (Fixture *f, gconstpointer task_id)
{
  return find_event (f, task_id, "progress", 1) != NULL || find_final (f, task_id) != NULL;
}

static gboolean
pred_free_slots (Fixture *f, gconstpointer data)
{
  return we_queue_free_slots (WE_QUEUE (f->queue)) == GPOINTER_TO_UINT (data);
}

static JsonObject *
find_worker (Fixture *f, const gchar *id, GPtrArray **keep)
{
  g_autoptr(GPtrArray) list = we_queue_list_workers (WE_QUEUE (f->queue));

  for (guint i = 0; i < list->len; i++) {
    JsonObject *w = g_ptr_array_index (list, i);

    if (g_strcmp0 (msg_str (w, "id"), id) == 0) {
      *keep = g_steal_pointer (&list);
      return w;
    }
  }
  return NULL;
}

typedef struct {
  const gchar *id;
  const gchar *state;
} WorkerWant;

static gboolean
pred_worker_state (Fixture *f, gconstpointer data)
{
  const WorkerWant *want = data;
  g_autoptr(GPtrArray) keep = NULL;
  JsonObject *w = find_worker (f, want->id, &keep);

  if (want->state == NULL)
    return w == NULL;
  return w != NULL && g_strcmp0 (msg_str (w, "state"), want->state) == 0;
}

static gboolean
pred_online (Fixture *f, gconstpointer data)
{
  guint want = GPOINTER_TO_UINT (data);
  g_autoptr(GPtrArray) list = we_queue_list_workers (WE_QUEUE (f->queue));
  guint n = 0;

  for (guint i = 0; i < list->len; i++) {
    if (g_strcmp0 (msg_str (g_ptr_array_index (list, i), "state"), "offline") != 0)
      n++;
  }
  return n >= want && we_queue_free_slots (WE_QUEUE (f->queue)) >= want;
}

static gboolean
pred_worker_exited (Fixture *f, gconstpointer data)
{
  return ((const Worker *) data)->exited;
}

static gchar *
store_path (const gchar *rel)
{
  return g_build_filename (env.store, rel, NULL);
}

static void
assert_failed (Event *ev, const gchar *code, gboolean retryable)
{
  g_assert_nonnull (ev);
  g_test_message ("failed: %s %s", msg_str (ev->msg, "code"), msg_str (ev->msg, "message"));
  g_assert_cmpstr (we_worker_msg_type (ev->msg), ==, "failed");
  g_assert_cmpstr (msg_str (ev->msg, "code"), ==, code);
  g_assert_cmpint (json_object_get_boolean_member_with_default (ev->msg, "retryable", FALSE), ==,
                   retryable);
}

static JsonObject *
make_task (const gchar *id, const gchar *kind, const gchar *input_url, const gchar *output_url,
           gint attempt)
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
  if (g_str_has_suffix (input_url, "long.mp4")) {
    /* the tests that use it act on the task while it runs: keep it running */
    g_free (profile->preset);
    profile->preset = g_strdup ("medium");
  }
  json_object_set_string_member (task, "id", id);
  json_object_set_string_member (task, "job_id", "job-1");
  json_object_set_string_member (task, "kind", kind);
  json_object_set_int_member (task, "attempt", attempt);
  json_object_set_string_member (task, "input_url", input_url);
  if (output_url != NULL)
    json_object_set_string_member (task, "output_url", output_url);
  json_object_set_double_member (task, "start_s", 0);
  json_object_set_double_member (task, "duration_s", 0);
  json_object_set_object_member (task, "profile", we_profile_to_json (profile));
  return task;
}

/* ---- nats-server and workers ------------------------------------------------ */

/* A failed assertion aborts the test: its servers and workers must not
 * outlive it (they would also hold meson's output pipe open). */
static void
die_with_parent (gpointer user_data)
{
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

static guint16
free_port (void)
{
  struct sockaddr_in addr = { 0 };
  socklen_t len = sizeof addr;
  int fd = socket (AF_INET, SOCK_STREAM, 0);
  guint16 port;

  g_assert_cmpint (fd, >=, 0);
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  g_assert_cmpint (bind (fd, (struct sockaddr *) &addr, sizeof addr), ==, 0);
  g_assert_cmpint (getsockname (fd, (struct sockaddr *) &addr, &len), ==, 0);
  port = ntohs (addr.sin_port);
  close (fd);
  return port;
}

static void
start_server (Fixture *f)
{
  guint16 port = free_port ();
  g_autofree gchar *port_s = g_strdup_printf ("%u", port);
  g_autofree gchar *dir = g_strdup_printf ("%s/nats-%u", env.tmp, ++env.n_servers);
  g_autofree gchar *log = g_strdup_printf ("%s.log", dir);
  const gchar *argv[] = { env.nats_server, "-js", "-a", "127.0.0.1", "-p", port_s, "-sd", dir,
                          "-l", log, NULL };
  g_autoptr(GError) error = NULL;
  gint64 deadline = g_get_monotonic_time () + 10 * G_TIME_SPAN_SECOND;
  natsStatus s = NATS_ERR;

  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_NONE);

  g_subprocess_launcher_set_child_setup (launcher, die_with_parent, NULL, NULL);
  f->server = g_subprocess_launcher_spawnv (launcher, argv, &error);
  g_assert_no_error (error);
  f->url = g_strdup_printf ("nats://127.0.0.1:%u", port);
  /* the server is up when it accepts a client: the test's own connection */
  while (g_get_monotonic_time () < deadline) {
    s = natsConnection_ConnectTo (&f->nc, f->url);
    if (s == NATS_OK)
      break;
    g_usleep (20 * G_TIME_SPAN_MILLISECOND);
  }
  g_assert_cmpint (s, ==, NATS_OK);
}

static void
worker_exited_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  Worker *w = user_data;

  if (!g_subprocess_wait_finish (G_SUBPROCESS (source), res, NULL))
    return;
  w->exited = TRUE;
  w->status = g_subprocess_get_if_exited (G_SUBPROCESS (source))
                ? g_subprocess_get_exit_status (G_SUBPROCESS (source))
                : 128 + g_subprocess_get_term_sig (G_SUBPROCESS (source));
}

static Worker *
start_worker (Fixture *f, const gchar *id, const gchar * const *extra_env,
              const gchar *stop_grace)
{
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_NONE);
  g_autofree gchar *hb = g_strdup_printf ("%u", HEARTBEAT_MS);
  const gchar *level = g_getenv ("WE_TEST_WORKER_LOG_LEVEL");
  const gchar *argv[] = { env.worker, "--nats", f->url, "--worker-id", id, "--log-level",
                          level != NULL ? level : "warning", "--stop-grace", stop_grace != NULL ? stop_grace : "30",
                          NULL };
  g_autoptr(GError) error = NULL;
  Worker *w = g_new0 (Worker, 1);

  g_subprocess_launcher_set_child_setup (launcher, die_with_parent, NULL, NULL);
  g_subprocess_launcher_setenv (launcher, "WE_PLUGIN_STORAGE_FS_ROOT", env.store, TRUE);
  g_subprocess_launcher_setenv (launcher, "WE_SCRATCH_DIR", env.scratch, TRUE);
  g_subprocess_launcher_setenv (launcher, "WE_HEARTBEAT_INTERVAL_MS", hb, TRUE);
  g_subprocess_launcher_unsetenv (launcher, "NATS_URL");
  g_subprocess_launcher_unsetenv (launcher, "WE_CONFIG");
  for (guint i = 0; extra_env != NULL && extra_env[i] != NULL; i += 2)
    g_subprocess_launcher_setenv (launcher, extra_env[i], extra_env[i + 1], TRUE);
  w->id = g_strdup (id);
  w->proc = g_subprocess_launcher_spawnv (launcher, argv, &error);
  g_assert_no_error (error);
  g_subprocess_wait_async (w->proc, NULL, worker_exited_cb, w);
  g_ptr_array_add (f->workers, w);
  return w;
}

static Worker *
fixture_worker (Fixture *f, const gchar *id)
{
  for (guint i = 0; i < f->workers->len; i++) {
    Worker *w = g_ptr_array_index (f->workers, i);

    if (g_strcmp0 (w->id, id) == 0)
      return w;
  }
  return NULL;
}

static WeQueueNats *
new_queue (Fixture *f)
{
  WeQueueNatsOptions opts = { 0 };
  g_autoptr(GError) error = NULL;
  WeQueueNats *queue;

  opts.ack_wait_s = ACK_WAIT_S * env.factor;
  opts.heartbeat_ms = HEARTBEAT_MS;
  opts.offline_ms = ms (OFFLINE_MS);
  opts.kernel_id = "test-kernel";
  opts.max_deliver = f->max_deliver;
  queue = we_queue_nats_new (f->url, &opts);
  g_signal_connect (queue, "task-event", G_CALLBACK (on_task_event), f);
  g_signal_connect (queue, "slots-changed", G_CALLBACK (on_slots_changed), f);
  g_assert_true (we_queue_start (WE_QUEUE (queue), &error));
  g_assert_no_error (error);
  return queue;
}

/* A nats-server, a started queue and @n workers w1…wn, all registered. */
static gboolean
fixture_start (Fixture *f, guint n)
{
  if (!env.media_ok) {
    g_test_skip (env.skip_reason);
    return FALSE;
  }
  f->events = g_ptr_array_new_with_free_func ((GDestroyNotify) event_free);
  f->workers = g_ptr_array_new_with_free_func ((GDestroyNotify) worker_free);
  start_server (f);
  f->queue = new_queue (f);
  for (guint i = 0; i < n; i++) {
    g_autofree gchar *id = g_strdup_printf ("w%u", i + 1);

    start_worker (f, id, NULL, NULL);
  }
  /* the first start of a worker may build the GStreamer registry */
  if (n > 0)
    g_assert_true (wait_for (f, pred_online, GUINT_TO_POINTER (n), ms (60000)));
  return TRUE;
}

static void
fixture_stop (Fixture *f)
{
  gint64 deadline;

  if (f->queue != NULL)
    we_queue_stop (WE_QUEUE (f->queue));
  g_clear_object (&f->queue);
  for (guint i = 0; f->workers != NULL && i < f->workers->len; i++) {
    Worker *w = g_ptr_array_index (f->workers, i);

    w->stopped_by_us = !w->exited;
    if (!w->exited)
      g_subprocess_send_signal (w->proc, SIGTERM);
  }
  deadline = g_get_monotonic_time () + ms (15000) * 1000;
  for (guint i = 0; f->workers != NULL && i < f->workers->len; i++) {
    Worker *w = g_ptr_array_index (f->workers, i);

    while (!w->exited && g_get_monotonic_time () < deadline)
      g_main_context_iteration (NULL, TRUE);
    g_assert_true (w->exited);
    /* a clean stop is exit 0 (and, under ASan, no leak report) */
    if (w->stopped_by_us)
      g_assert_cmpint (w->status, ==, 0);
  }
  g_clear_pointer (&f->workers, g_ptr_array_unref);
  if (f->nc != NULL) {
    natsConnection_Close (f->nc);
    natsConnection_Destroy (f->nc);
  }
  if (f->server != NULL) {
    g_subprocess_send_signal (f->server, SIGTERM);
    g_subprocess_wait (f->server, NULL, NULL);
  }
  g_clear_object (&f->server);
  g_clear_pointer (&f->events, g_ptr_array_unref);
  g_free (f->url);
}

static void
dispatch_ok (Fixture *f, JsonObject *task)
{
  g_autoptr(GError) error = NULL;

  gboolean ok = we_queue_dispatch (WE_QUEUE (f->queue), task, &error);

  /* the error first: its message says why */
  g_assert_no_error (error);
  g_assert_true (ok);
}

/* ---- tests -------------------------------------------------------------------- */

static void
test_register (void)
{
  Fixture f = { 0 };
  g_autoptr(GPtrArray) list = NULL;

  if (!fixture_start (&f, 2))
    return;
  list = we_queue_list_workers (WE_QUEUE (f.queue));
  g_assert_cmpuint (list->len, ==, 2);
  for (guint i = 0; i < list->len; i++) {
    JsonObject *w = g_ptr_array_index (list, i);
    JsonObject *caps = json_object_get_object_member (w, "capabilities");
    JsonArray *codecs = json_object_get_array_member (caps, "video_codecs");
    g_autofree gchar *expect_id = g_strdup_printf ("w%u", i + 1);
    Worker *proc = fixture_worker (&f, expect_id);
    g_autofree gchar *pid = g_strdup_printf ("%" G_GINT64_FORMAT,
                                             json_object_get_int_member (w, "pid"));
    gboolean h264 = FALSE;

    g_assert_cmpstr (msg_str (w, "id"), ==, expect_id);
    g_assert_cmpstr (msg_str (w, "state"), ==, "idle");
    g_assert_false (json_object_get_boolean_member (w, "draining"));
    g_assert_cmpstr (msg_str (w, "hostname"), ==, g_get_host_name ());
    g_assert_cmpstr (msg_str (w, "ip_address"), ==, "127.0.0.1");
    g_assert_cmpstr (msg_str (w, "version"), ==, PACKAGE_VERSION);
    g_assert_cmpstr (g_subprocess_get_identifier (proc->proc), ==, pid);
    g_assert_cmpint (json_object_get_int_member (w, "slots_total"), ==, 1);
    g_assert_cmpint (json_object_get_int_member (w, "slots_free"), ==, 1);
    g_assert_cmpuint (json_array_get_length (json_object_get_array_member (w, "task_ids")), ==, 0);
    g_assert_nonnull (msg_str (w, "last_heartbeat"));
    g_assert_nonnull (msg_str (w, "started_at"));
    for (guint j = 0; j < json_array_get_length (codecs); j++)
      h264 |= g_strcmp0 (json_array_get_string_element (codecs, j), "h264") == 0;
    g_assert_true (h264);
    g_assert_cmpint (json_object_get_int_member (caps, "cores"), >, 0);
    g_assert_cmpint (json_object_get_int_member (caps, "memory_bytes"), >, 0);
    g_assert_cmpint (json_object_get_int_member (caps, "max_parallel_tasks"), ==, 1);
    g_assert_true (json_object_has_member (caps, "hw_encoders"));
  }
  g_assert_cmpuint (we_queue_total_slots (WE_QUEUE (f.queue)), ==, 2);
  g_assert_cmpuint (we_queue_free_slots (WE_QUEUE (f.queue)), ==, 2);
  g_assert_cmpuint (f.slots_changed, >, 0);
  fixture_stop (&f);
}

static void
test_transcode_and_scan (void)
{
  Fixture f = { 0 };
  g_autoptr(JsonObject) task = make_task ("t-ok", "transcode", "fs://in/clip.mp4",
                                          "fs://out/x.mp4", 1);
  g_autoptr(JsonObject) scan = make_task ("t-scan", "scan", "fs://in/clip.mp4", NULL, 1);
  g_autofree gchar *out = store_path ("out/x.mp4");
  GStatBuf st;
  Event *probe, *done;

  if (!fixture_start (&f, 1))
    return;
  /* no hardware encoder here: a profile that prefers one still runs */
  json_object_set_boolean_member (json_object_get_object_member (task, "profile"),
                                  "prefer_hardware", TRUE);
  dispatch_ok (&f, task);
  /* the one slot is promised to the task until it is claimed */
  g_assert_cmpuint (we_queue_free_slots (WE_QUEUE (f.queue)), ==, 0);
  g_assert_true (wait_for (&f, pred_final, "t-ok", ms (120000)));

  /* the first word is the grant: who took it, for the store */
  probe = find_event (&f, "t-ok", NULL, 0);
  g_assert_cmpstr (we_worker_msg_type (probe->msg), ==, "claimed");
  g_assert_cmpstr (msg_str (probe->msg, "worker_id"), ==, "w1");
  g_assert_cmpint (json_object_get_int_member (probe->msg, "attempt"), ==, 1);
  g_assert_cmpuint (count_events (&f, "t-ok", "claimed"), ==, 1);
  probe = find_event (&f, "t-ok", NULL, 1);
  g_assert_cmpstr (we_worker_msg_type (probe->msg), ==, "probe");
  g_assert_nonnull (json_object_get_object_member (probe->msg, "media"));
  g_assert_cmpuint (count_events (&f, "t-ok", "progress"), >=, 1);
  done = find_final (&f, "t-ok");
  g_assert_cmpstr (we_worker_msg_type (done->msg), ==, "done");
  g_assert_cmpstr (msg_str (done->msg, "output_url"), ==, "fs://out/x.mp4");
  g_assert_cmpstr (msg_str (done->msg, "worker_id"), ==, "w1");
  g_assert_cmpint (json_object_get_int_member (done->msg, "attempt"), ==, 1);
  for (guint i = 0; i < f.events->len; i++)
    g_assert_cmpstr (msg_str (((Event *) g_ptr_array_index (f.events, i))->msg, "worker_id"), ==,
                     "w1");
  g_assert_cmpint (g_stat (out, &st), ==, 0);
  g_assert_cmpint (st.st_size, ==, json_object_get_int_member (done->msg, "size_bytes"));
  g_assert_null (we_queue_nats_get_task_holder (f.queue, "t-ok"));
  g_assert_true (wait_for (&f, pred_free_slots, GUINT_TO_POINTER (1), ms (5000)));

  /* a scan needs no codec: it goes to the "any" route */
  dispatch_ok (&f, scan);
  g_assert_true (wait_for (&f, pred_final, "t-scan", ms (60000)));
  done = find_final (&f, "t-scan");
  g_assert_cmpstr (we_worker_msg_type (done->msg), ==, "done");
  g_assert_nonnull (json_object_get_object_member (done->msg, "index"));
  fixture_stop (&f);
}

static void
test_cancel (void)
{
  Fixture f = { 0 };
  g_autoptr(JsonObject) task = make_task ("t-cancel", "transcode", "fs://in/long.mp4",
                                          "fs://out/cancel.mp4", 1);
  g_autofree gchar *out = store_path ("out/cancel.mp4");
  Event *final;
  gint64 t0;

  if (!fixture_start (&f, 1))
    return;
  dispatch_ok (&f, task);
  g_assert_true (wait_for (&f, pred_progress, "t-cancel", ms (60000)));
  g_assert_null (find_final (&f, "t-cancel"));
  g_assert_cmpstr (we_queue_nats_get_task_holder (f.queue, "t-cancel"), ==, "w1");

  t0 = g_get_monotonic_time ();
  we_queue_cancel (WE_QUEUE (f.queue), "t-cancel");
  g_assert_true (wait_for (&f, pred_final, "t-cancel", ms (5000)));
  final = find_final (&f, "t-cancel");
  g_test_message ("cancelled after %" G_GINT64_FORMAT " ms", (final->at_us - t0) / 1000);
  g_assert_cmpstr (we_worker_msg_type (final->msg), ==, "cancelled");
  g_assert_cmpstr (msg_str (final->msg, "worker_id"), ==, "w1");
  g_assert_false (g_file_test (out, G_FILE_TEST_EXISTS));
  g_assert_true (wait_for (&f, pred_free_slots, GUINT_TO_POINTER (1), ms (5000)));

  /* a task nobody claimed yet is cancelled by the kernel alone */
  {
    g_autoptr(JsonObject) other = make_task ("t-cancel-early", "transcode", "fs://in/clip.mp4",
                                             "fs://out/early.mp4", 1);
    g_test_message ("free slots before t-cancel-early: %u",
                    we_queue_free_slots (WE_QUEUE (f.queue)));
    dispatch_ok (&f, other);
    we_queue_cancel (WE_QUEUE (f.queue), "t-cancel-early");
    g_assert_true (wait_for (&f, pred_final, "t-cancel-early", ms (5000)));
    g_assert_cmpstr (we_worker_msg_type (find_final (&f, "t-cancel-early")->msg), ==,
                     "cancelled");
    /* its message, if fetched, is refused: nothing of it runs */
    g_assert_true (wait_for (&f, pred_free_slots, GUINT_TO_POINTER (1), ms (10000)));
    g_assert_null (find_event (&f, "t-cancel-early", "probe", 0));
  }
  fixture_stop (&f);
}

/* SIGKILL mid-task: the kernel notices the silence, fails the task like a
 * dead local child, and the redelivered message does not run it again. */
static void
test_kill (void)
{
  Fixture f = { 0 };
  g_autoptr(JsonObject) task = make_task ("t-kill", "transcode", "fs://in/long.mp4",
                                          "fs://out/kill.mp4", 1);
  g_autoptr(JsonObject) retry = NULL;
  const gchar *holder_id, *survivor_id;
  WorkerWant offline = { NULL, "offline" };
  Worker *holder;
  Event *final;
  guint first_events;
  gint64 t0;

  if (!fixture_start (&f, 2))
    return;
  dispatch_ok (&f, task);
  g_assert_true (wait_for (&f, pred_progress, "t-kill", ms (60000)));
  g_assert_null (find_final (&f, "t-kill"));
  holder_id = we_queue_nats_get_task_holder (f.queue, "t-kill");
  g_assert_nonnull (holder_id);
  holder = fixture_worker (&f, holder_id);
  survivor_id = g_strcmp0 (holder_id, "w1") == 0 ? "w2" : "w1";

  t0 = g_get_monotonic_time ();
  g_assert_cmpint (kill (atoi (g_subprocess_get_identifier (holder->proc)), SIGKILL), ==, 0);
  g_assert_true (wait_for (&f, pred_final, "t-kill", ms (OFFLINE_MS + 5000)));
  final = find_final (&f, "t-kill");
  g_test_message ("failed after %" G_GINT64_FORMAT " ms", (final->at_us - t0) / 1000);
  assert_failed (final, "WE-WRK-004", TRUE);
  g_assert_nonnull (strstr (msg_str (final->msg, "message"), holder->id));
  offline.id = holder->id;
  g_assert_true (pred_worker_state (&f, &offline));
  g_assert_true (holder->exited);
  g_assert_cmpuint (we_queue_total_slots (WE_QUEUE (f.queue)), ==, 1);

  /* JetStream hands the dead worker's message to the survivor after
   * AckWait; it is refused (attempt 1 is over), so nothing runs */
  first_events = f.events->len;
  wait_for (&f, pred_never, NULL, ms (ACK_WAIT_S * 1000 + 1500));
  g_assert_cmpuint (f.events->len, ==, first_events);
  g_assert_true (wait_for (&f, pred_free_slots, GUINT_TO_POINTER (1), ms (5000)));

  /* the scheduler's retry: attempt 2 runs once, on the survivor */
  g_ptr_array_set_size (f.events, 0);
  retry = make_task ("t-kill", "transcode", "fs://in/long.mp4", "fs://out/kill.mp4", 2);
  dispatch_ok (&f, retry);
  g_assert_true (wait_for (&f, pred_progress, "t-kill", ms (60000)));
  g_assert_cmpstr (we_queue_nats_get_task_holder (f.queue, "t-kill"), ==, survivor_id);
  we_queue_cancel (WE_QUEUE (f.queue), "t-kill");
  g_assert_true (wait_for (&f, pred_final, "t-kill", ms (10000)));
  g_assert_cmpuint (count_events (&f, "t-kill", "probe"), ==, 1);
  g_assert_cmpstr (msg_str (find_event (&f, "t-kill", "probe", 0)->msg, "worker_id"), ==,
                   survivor_id);
  g_assert_cmpint (json_object_get_int_member (find_final (&f, "t-kill")->msg, "attempt"), ==,
                   2);
  fixture_stop (&f);
}

/* A worker that dies between fetching a message and claiming it: the
 * message comes back after AckWait and runs exactly once elsewhere. */
static void
test_redelivery_runs_once (void)
{
  Fixture f = { 0 };
  g_autoptr(JsonObject) task = make_task ("t-redeliver", "transcode", "fs://in/clip.mp4",
                                          "fs://out/redeliver.mp4", 1);
  const gchar *crash_env[] = { "WE_WORKER_TEST_EXIT_AFTER_FETCH", "1", NULL };
  Worker *crasher, *good;
  Event *done;

  if (!fixture_start (&f, 0))
    return;
  crasher = start_worker (&f, "crasher", crash_env, NULL);
  g_assert_true (wait_for (&f, pred_online, GUINT_TO_POINTER (1), ms (60000)));
  dispatch_ok (&f, task);
  g_assert_true (wait_for (&f, pred_worker_exited, crasher, ms (30000)));
  g_assert_cmpint (crasher->status, ==, 3);
  g_assert_null (we_queue_nats_get_task_holder (f.queue, "t-redeliver"));

  good = start_worker (&f, "good", NULL, NULL);
  g_assert_true (wait_for (&f, pred_final, "t-redeliver", ms (120000)));
  done = find_final (&f, "t-redeliver");
  g_assert_cmpstr (we_worker_msg_type (done->msg), ==, "done");
  g_assert_cmpstr (msg_str (done->msg, "worker_id"), ==, good->id);
  g_assert_cmpuint (count_events (&f, "t-redeliver", "probe"), ==, 1);
  g_assert_cmpuint (count_events (&f, "t-redeliver", "done"), ==, 1);
  /* the crash cost no attempt: no failure was reported for it */
  g_assert_cmpuint (count_events (&f, "t-redeliver", "failed"), ==, 0);
  fixture_stop (&f);
}

/* JetStream gives up on a message after MaxDeliver deliveries; with one,
 * a worker that dies between fetch and claim takes the message with it.
 * A free worker then waits in vain: the kernel fails the task retryably
 * after two AckWaits, and the retry (a new message) runs. */
static void
test_undelivered_message_fails_over (void)
{
  Fixture f = { .max_deliver = 1 };
  g_autoptr(JsonObject) task = make_task ("t-lost", "transcode", "fs://in/clip.mp4",
                                          "fs://out/lost.mp4", 1);
  g_autoptr(JsonObject) retry = make_task ("t-lost", "transcode", "fs://in/clip.mp4",
                                           "fs://out/lost.mp4", 2);
  const gchar *crash_env[] = { "WE_WORKER_TEST_EXIT_AFTER_FETCH", "1", NULL };
  Worker *crasher, *good;
  Event *failed, *done;
  gint64 dispatched;

  if (!fixture_start (&f, 0))
    return;
  crasher = start_worker (&f, "crasher", crash_env, NULL);
  g_assert_true (wait_for (&f, pred_online, GUINT_TO_POINTER (1), ms (60000)));
  dispatched = g_get_monotonic_time ();
  dispatch_ok (&f, task);
  g_assert_true (wait_for (&f, pred_worker_exited, crasher, ms (30000)));
  good = start_worker (&f, "good", NULL, NULL);

  g_assert_true (wait_for (&f, pred_final, "t-lost",
                           ms (2 * ACK_WAIT_S * 1000 + OFFLINE_MS + 60000)));
  failed = find_final (&f, "t-lost");
  assert_failed (failed, "WE-WRK-004", TRUE);
  g_assert_nonnull (strstr (msg_str (failed->msg, "message"), "not delivered"));
  /* not before two AckWaits: a redelivery would have had its chance */
  g_assert_cmpint (failed->at_us - dispatched, >=, 2 * ACK_WAIT_S * env.factor * G_USEC_PER_SEC);
  g_assert_cmpuint (count_events (&f, "t-lost", "probe"), ==, 0);

  g_ptr_array_set_size (f.events, 0);
  dispatch_ok (&f, retry);
  g_assert_true (wait_for (&f, pred_final, "t-lost", ms (120000)));
  done = find_final (&f, "t-lost");
  g_assert_cmpstr (we_worker_msg_type (done->msg), ==, "done");
  g_assert_cmpstr (msg_str (done->msg, "worker_id"), ==, good->id);
  g_assert_cmpint (json_object_get_int_member (done->msg, "attempt"), ==, 2);
  fixture_stop (&f);
}

typedef struct {
  jsCtx       *js;
  const gchar *consumer;
} ConsumerWant;

/* Nothing waiting and only the holder's delivery outstanding. */
static gboolean
pred_consumer_settled (Fixture *f, gconstpointer data)
{
  const ConsumerWant *want = data;
  jsConsumerInfo *ci = NULL;
  gboolean settled;

  if (js_GetConsumerInfo (&ci, want->js, WE_NATS_STREAM_WORK, want->consumer, NULL, NULL) !=
      NATS_OK)
    return FALSE;
  settled = ci->NumPending == 0 && ci->NumAckPending == 1 && ci->Delivered.Consumer >= 2;
  jsConsumerInfo_Destroy (ci);
  return settled;
}

/* The same task message twice in JetStream (a duplicate publish, or a
 * second kernel replica): the second copy is refused at the claim. */
static void
test_duplicate_message_refused (void)
{
  Fixture f = { 0 };
  g_autoptr(JsonObject) task = make_task ("t-dup", "transcode", "fs://in/long.mp4",
                                          "fs://out/dup.mp4", 1);
  g_autoptr(JsonObject) msg = json_object_new ();
  g_autoptr(JsonNode) node = NULL;
  g_autofree gchar *text = NULL;
  ConsumerWant want = { NULL, "work-h264" };
  g_autofree gchar *holder = NULL;
  WorkerWant idle = { NULL, "idle" };
  jsPubAck *pa = NULL;

  if (!fixture_start (&f, 2))
    return;
  dispatch_ok (&f, task);
  g_assert_true (wait_for (&f, pred_progress, "t-dup", ms (60000)));
  holder = g_strdup (we_queue_nats_get_task_holder (f.queue, "t-dup"));
  g_assert_nonnull (holder);

  json_object_set_string_member (msg, "type", "task");
  json_object_set_object_member (msg, "task", json_object_ref (task));
  node = json_node_init_object (json_node_alloc (), msg);
  text = json_to_string (node, FALSE);
  g_assert_cmpint (natsConnection_JetStream (&want.js, f.nc, NULL), ==, NATS_OK);
  g_assert_cmpint (js_Publish (&pa, want.js, WE_NATS_DISPATCH_PREFIX "h264", text,
                               (int) strlen (text), NULL, NULL), ==, NATS_OK);
  jsPubAck_Destroy (pa);
  /* the idle worker fetches the copy, is refused and terminates it */
  g_assert_true (wait_for (&f, pred_consumer_settled, &want, ms (15000)));
  idle.id = g_strcmp0 (holder, "w1") == 0 ? "w2" : "w1";
  g_assert_true (wait_for (&f, pred_worker_state, &idle, ms (5000)));
  /* on a fast machine the encode may be over by now; the events below
   * still show who ran it */
  if (count_events (&f, "t-dup", "done") == 0)
    g_assert_cmpstr (we_queue_nats_get_task_holder (f.queue, "t-dup"), ==, holder);

  we_queue_cancel (WE_QUEUE (f.queue), "t-dup");
  g_assert_true (wait_for (&f, pred_final, "t-dup", ms (10000)));
  for (guint i = 0; i < f.events->len; i++)
    g_assert_cmpstr (msg_str (((Event *) g_ptr_array_index (f.events, i))->msg, "worker_id"), ==,
                     holder);
  g_assert_cmpuint (count_events (&f, "t-dup", "probe"), ==, 1);
  jsCtx_Destroy (want.js);
  fixture_stop (&f);
}

static void
test_drain (void)
{
  Fixture f = { 0 };
  g_autoptr(JsonObject) a = make_task ("t-drain-a", "transcode", "fs://in/long.mp4",
                                       "fs://out/da.mp4", 1);
  g_autoptr(JsonObject) b = make_task ("t-drain-b", "transcode", "fs://in/long.mp4",
                                       "fs://out/db.mp4", 1);
  g_autoptr(GError) error = NULL;
  WorkerWant draining = { "w1", "draining" };

  if (!fixture_start (&f, 2))
    return;
  g_assert_false (we_queue_set_draining (WE_QUEUE (f.queue), "nope", TRUE, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_WRK_NOT_FOUND);
  g_clear_error (&error);

  g_assert_true (we_queue_set_draining (WE_QUEUE (f.queue), "w1", TRUE, &error));
  g_assert_no_error (error);
  g_assert_true (pred_worker_state (&f, &draining));
  g_assert_cmpuint (we_queue_free_slots (WE_QUEUE (f.queue)), ==, 1);
  dispatch_ok (&f, a);
  g_assert_true (wait_for (&f, pred_progress, "t-drain-a", ms (60000)));
  g_assert_cmpstr (we_queue_nats_get_task_holder (f.queue, "t-drain-a"), ==, "w2");
  /* w2 is busy, w1 drains: nothing can take b */
  g_assert_false (we_queue_dispatch (WE_QUEUE (f.queue), b, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_JOB_NO_WORKERS);
  g_clear_error (&error);

  g_assert_true (we_queue_set_draining (WE_QUEUE (f.queue), "w1", FALSE, &error));
  g_assert_no_error (error);
  g_assert_true (wait_for (&f, pred_free_slots, GUINT_TO_POINTER (1), ms (5000)));
  dispatch_ok (&f, b);
  g_assert_true (wait_for (&f, pred_progress, "t-drain-b", ms (60000)));
  /* w1 takes it, unless a quick machine finished a on w2 meanwhile */
  if (count_events (&f, "t-drain-a", "done") == 0)
    g_assert_cmpstr (we_queue_nats_get_task_holder (f.queue, "t-drain-b"), ==, "w1");

  we_queue_cancel (WE_QUEUE (f.queue), "t-drain-a");
  we_queue_cancel (WE_QUEUE (f.queue), "t-drain-b");
  g_assert_true (wait_for (&f, pred_final, "t-drain-a", ms (10000)));
  g_assert_true (wait_for (&f, pred_final, "t-drain-b", ms (10000)));
  fixture_stop (&f);
}

static void
test_remove_worker (void)
{
  Fixture f = { 0 };
  g_autoptr(JsonObject) task = make_task ("t-busy", "transcode", "fs://in/long.mp4",
                                          "fs://out/busy.mp4", 1);
  g_autoptr(GError) error = NULL;
  WorkerWant idle = { "w1", "idle" };
  WorkerWant gone = { "w1", NULL };
  Worker *w1;

  if (!fixture_start (&f, 1))
    return;
  w1 = fixture_worker (&f, "w1");
  g_assert_false (we_queue_remove_worker (WE_QUEUE (f.queue), "nope", &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_WRK_NOT_FOUND);
  g_clear_error (&error);

  dispatch_ok (&f, task);
  g_assert_true (wait_for (&f, pred_progress, "t-busy", ms (60000)));
  g_assert_false (we_queue_remove_worker (WE_QUEUE (f.queue), "w1", &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_WRK_BUSY);
  g_assert_cmpstr (we_error_code_to_string (we_error_code_from_gerror (error)), ==, "WE-WRK-002");
  g_clear_error (&error);

  we_queue_cancel (WE_QUEUE (f.queue), "t-busy");
  g_assert_true (wait_for (&f, pred_final, "t-busy", ms (10000)));
  g_assert_true (wait_for (&f, pred_worker_state, &idle, ms (5000)));
  g_assert_true (we_queue_remove_worker (WE_QUEUE (f.queue), "w1", &error));
  g_assert_no_error (error);
  g_assert_true (pred_worker_state (&f, &gone));
  /* told to shut down, the worker leaves cleanly, and its last heartbeats
   * do not bring it back */
  g_assert_true (wait_for (&f, pred_worker_exited, w1, ms (15000)));
  g_assert_cmpint (w1->status, ==, 0);
  wait_for (&f, pred_never, NULL, 3 * HEARTBEAT_MS);
  g_assert_true (pred_worker_state (&f, &gone));
  g_assert_cmpuint (we_queue_total_slots (WE_QUEUE (f.queue)), ==, 0);
  fixture_stop (&f);
}

typedef struct {
  natsSubscription *sub;
  const gchar      *task_id;
} HeartbeatWant;

/* The worker's own heartbeat says it is delivering the task's report. */
static gboolean
pred_reporting (Fixture *f, gconstpointer data)
{
  const HeartbeatWant *want = data;
  natsMsg *nmsg = NULL;
  gboolean found = FALSE;

  while (!found && natsSubscription_NextMsg (&nmsg, want->sub, 10) == NATS_OK) {
    g_autoptr(JsonParser) parser = json_parser_new ();
    JsonArray *tasks;

    if (json_parser_load_from_data (parser, natsMsg_GetData (nmsg), natsMsg_GetDataLength (nmsg),
                                    NULL)) {
      tasks = json_object_get_array_member (json_node_get_object (json_parser_get_root (parser)),
                                            "tasks");
      for (guint i = 0; i < json_array_get_length (tasks); i++) {
        JsonObject *t = json_array_get_object_element (tasks, i);

        found |= g_strcmp0 (msg_str (t, "task_id"), want->task_id) == 0 &&
                 g_strcmp0 (msg_str (t, "state"), "reporting") == 0;
      }
    }
    natsMsg_Destroy (nmsg);
  }
  return found;
}

/* A worker finishes while no kernel listens; the next kernel (here a new
 * queue on the same NATS) re-dispatches the task as a resume does, and gets
 * the result without running the task again. */
static void
test_report_survives_kernel_restart (void)
{
  Fixture f = { 0 };
  g_autoptr(JsonObject) task = make_task ("t-restart", "transcode", "fs://in/medium.mp4",
                                          "fs://out/restart.mp4", 1);
  HeartbeatWant want = { NULL, "t-restart" };
  Event *done;

  if (!fixture_start (&f, 1))
    return;
  g_assert_cmpint (natsConnection_SubscribeSync (&want.sub, f.nc, WE_NATS_HEARTBEAT_PREFIX "w1"),
                   ==, NATS_OK);
  dispatch_ok (&f, task);
  g_assert_true (wait_for (&f, pred_started, "t-restart", ms (60000)));
  g_assert_null (find_final (&f, "t-restart"));
  we_queue_stop (WE_QUEUE (f.queue));
  g_clear_object (&f.queue);

  g_assert_true (wait_for (&f, pred_reporting, &want, ms (120000)));
  g_ptr_array_set_size (f.events, 0);
  f.queue = new_queue (&f);
  {
    WorkerWant busy = { "w1", "busy" };
    g_assert_true (wait_for (&f, pred_worker_state, &busy, ms (10000)));
  }
  dispatch_ok (&f, task);
  /* the worker still holds it: no second copy goes out */
  g_assert_cmpstr (we_queue_nats_get_task_holder (f.queue, "t-restart"), ==, "w1");
  g_assert_true (wait_for (&f, pred_final, "t-restart", ms (15000)));
  done = find_final (&f, "t-restart");
  g_assert_cmpstr (we_worker_msg_type (done->msg), ==, "done");
  g_assert_cmpstr (msg_str (done->msg, "worker_id"), ==, "w1");
  g_assert_null (find_event (&f, "t-restart", "probe", 0));
  g_assert_true (wait_for (&f, pred_free_slots, GUINT_TO_POINTER (1), ms (5000)));
  natsSubscription_Destroy (want.sub);
  fixture_stop (&f);
}

static void
test_no_workers (void)
{
  Fixture f = { 0 };
  g_autoptr(JsonObject) task = make_task ("t-none", "transcode", "fs://in/clip.mp4",
                                          "fs://out/none.mp4", 1);
  g_autoptr(GError) error = NULL;

  if (!fixture_start (&f, 0))
    return;
  /* nobody at all */
  g_assert_false (we_queue_dispatch (WE_QUEUE (f.queue), task, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_JOB_NO_WORKERS);
  g_clear_error (&error);

  start_worker (&f, "w1", NULL, NULL);
  g_assert_true (wait_for (&f, pred_online, GUINT_TO_POINTER (1), ms (60000)));
  /* a worker, but none that has the codec: the task stays with the
   * scheduler instead of waiting in a route nobody pulls from */
  json_object_set_string_member (json_object_get_object_member (task, "profile"), "video_codec",
                                 "prores");
  g_assert_false (we_queue_dispatch (WE_QUEUE (f.queue), task, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_JOB_NO_WORKERS);
  g_clear_error (&error);
  g_assert_cmpuint (we_queue_free_slots (WE_QUEUE (f.queue)), ==, 1);
  fixture_stop (&f);
}

static void
test_avoid_worker (void)
{
  Fixture f = { 0 };

  if (!fixture_start (&f, 2))
    return;
  for (guint round = 0; round < 2; round++) {
    const gchar *avoid = round == 0 ? "w1" : "w2";
    g_autofree gchar *id = g_strdup_printf ("t-avoid-%u", round);
    g_autoptr(JsonObject) task = make_task (id, "transcode", "fs://in/long.mp4",
                                            "fs://out/avoid.mp4", 2);

    json_object_set_string_member (task, "avoid_worker", avoid);
    dispatch_ok (&f, task);
    g_assert_true (wait_for (&f, pred_progress, id, ms (60000)));
    g_assert_cmpstr (we_queue_nats_get_task_holder (f.queue, id), !=, avoid);
    we_queue_cancel (WE_QUEUE (f.queue), id);
    g_assert_true (wait_for (&f, pred_final, id, ms (10000)));
    g_assert_true (wait_for (&f, pred_free_slots, GUINT_TO_POINTER (2), ms (5000)));
  }
  fixture_stop (&f);
}

/* SIGTERM: the worker stops pulling, cancels what it runs once the grace is
 * over, reports it as retryable and exits 0; the kernel sees it leave. */
static void
test_sigterm (void)
{
  Fixture f = { 0 };
  g_autoptr(JsonObject) task = make_task ("t-term", "transcode", "fs://in/long.mp4",
                                          "fs://out/term.mp4", 1);
  WorkerWant offline = { "w1", "offline" };
  Worker *w1;

  if (!fixture_start (&f, 0))
    return;
  w1 = start_worker (&f, "w1", NULL, "0");
  g_assert_true (wait_for (&f, pred_online, GUINT_TO_POINTER (1), ms (60000)));
  dispatch_ok (&f, task);
  g_assert_true (wait_for (&f, pred_progress, "t-term", ms (60000)));
  g_subprocess_send_signal (w1->proc, SIGTERM);
  g_assert_true (wait_for (&f, pred_final, "t-term", ms (10000)));
  assert_failed (find_final (&f, "t-term"), "WE-WRK-003", TRUE);
  g_assert_true (wait_for (&f, pred_worker_exited, w1, ms (10000)));
  g_assert_cmpint (w1->status, ==, 0);
  /* its goodbye heartbeat, not three missed ones */
  g_assert_true (pred_worker_state (&f, &offline));
  fixture_stop (&f);
}

static void
on_other_task_event (WeQueue *queue, const gchar *task_id, JsonObject *msg, guint *count)
{
  (*count)++;
}

/* Two kernel replicas on one NATS: each answers only for what it
 * dispatched, and reports reach only the kernel that owns the task. */
static void
test_two_kernels (void)
{
  Fixture f = { 0 };
  g_autoptr(JsonObject) task = make_task ("t-replica", "transcode", "fs://in/clip.mp4",
                                          "fs://out/replica.mp4", 1);
  g_autoptr(WeQueueNats) other = NULL;
  WeQueueNatsOptions opts = { 0 };
  g_autoptr(GError) error = NULL;
  guint other_events = 0;

  if (!fixture_start (&f, 2))
    return;
  opts.ack_wait_s = ACK_WAIT_S * env.factor;
  opts.heartbeat_ms = HEARTBEAT_MS;
  opts.offline_ms = ms (OFFLINE_MS);
  other = we_queue_nats_new (f.url, &opts);
  g_signal_connect (other, "task-event", G_CALLBACK (on_other_task_event), &other_events);
  g_assert_true (we_queue_start (WE_QUEUE (other), &error));
  g_assert_no_error (error);
  /* both see the same workers */
  {
    gint64 deadline = g_get_monotonic_time () + ms (10000) * 1000;
    guint tick = g_timeout_add (20, tick_cb, NULL);

    while (we_queue_total_slots (WE_QUEUE (other)) < 2 && g_get_monotonic_time () < deadline)
      g_main_context_iteration (NULL, TRUE);
    g_source_remove (tick);
    g_assert_cmpuint (we_queue_total_slots (WE_QUEUE (other)), ==, 2);
  }

  dispatch_ok (&f, task);
  g_assert_true (wait_for (&f, pred_final, "t-replica", ms (120000)));
  g_assert_cmpstr (we_worker_msg_type (find_final (&f, "t-replica")->msg), ==, "done");
  g_assert_cmpuint (count_events (&f, "t-replica", "probe"), ==, 1);
  g_assert_cmpuint (other_events, ==, 0);
  g_assert_null (we_queue_nats_get_task_holder (other, "t-replica"));
  we_queue_stop (WE_QUEUE (other));
  fixture_stop (&f);
}

static gboolean
pred_hw_message_waiting (Fixture *f, gconstpointer data)
{
  jsCtx *js = (jsCtx *) data;
  jsConsumerInfo *ci = NULL;
  gboolean waiting;

  if (js_GetConsumerInfo (&ci, js, WE_NATS_STREAM_WORK, "work-h264-hw", NULL, NULL) != NATS_OK)
    return FALSE;
  waiting = ci->NumPending == 1 &&
            g_strcmp0 (ci->Config->FilterSubject, WE_NATS_DISPATCH_PREFIX "h264.hw") == 0;
  jsConsumerInfo_Destroy (ci);
  return waiting;
}

/* Heartbeats until the queue (which subscribes once connected) has one. */
static gboolean
pred_heartbeat_seen (Fixture *f, gconstpointer data)
{
  if (we_queue_total_slots (WE_QUEUE (f->queue)) == 1)
    return TRUE;
  natsConnection_PublishString (f->nc, WE_NATS_HEARTBEAT_PREFIX "gpu-1", data);
  return FALSE;
}

/* No GPU here: a heartbeat from the test stands in for a worker with a
 * hardware H.264 encoder. A profile that prefers hardware is routed to it;
 * when it goes away the waiting task is handed back to the scheduler. */
static void
test_hardware_route (void)
{
  Fixture f = { 0 };
  g_autoptr(JsonObject) task = make_task ("t-hw", "transcode", "fs://in/clip.mp4",
                                          "fs://out/hw.mp4", 1);
  const gchar *hb =
    "{\"worker_id\":\"gpu-1\",\"hostname\":\"gpu-host\",\"ip_address\":\"10.0.0.9\","
    "\"version\":\"0\",\"pid\":1,\"slots_total\":1,\"slots_free\":1,\"draining\":false,"
    "\"task_ids\":[],\"tasks\":[],\"started_at\":\"2026-01-01T00:00:00Z\","
    "\"capabilities\":{\"video_codecs\":[\"h264\"],\"hw_encoders\":[{\"element\":"
    "\"nvh264enc\",\"codec\":\"h264\",\"gpu_type\":\"nvidia\"}]}}";
  jsCtx *js = NULL;
  Event *final;

  if (!fixture_start (&f, 0))
    return;
  g_assert_cmpint (natsConnection_JetStream (&js, f.nc, NULL), ==, NATS_OK);
  g_assert_true (wait_for (&f, pred_heartbeat_seen, hb, ms (5000)));
  json_object_set_boolean_member (json_object_get_object_member (task, "profile"),
                                  "prefer_hardware", TRUE);
  dispatch_ok (&f, task);
  g_assert_true (wait_for (&f, pred_hw_message_waiting, js, ms (5000)));

  /* the heartbeats stop: offline, then nobody can take the task */
  g_assert_true (wait_for (&f, pred_final, "t-hw", ms (3 * OFFLINE_MS + 2000)));
  final = find_final (&f, "t-hw");
  assert_failed (final, "WE-JOB-009", TRUE);
  g_assert_cmpuint (we_queue_total_slots (WE_QUEUE (f.queue)), ==, 0);
  jsCtx_Destroy (js);
  fixture_stop (&f);
}

/* ---- setup -------------------------------------------------------------------- */

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
  const gchar *factor = g_getenv ("WE_TEST_TIME_FACTOR");
  g_autofree gchar *in = NULL;
  g_autoptr(GError) error = NULL;

  env.factor = factor != NULL ? MAX ((guint) g_ascii_strtoull (factor, NULL, 10), 1) : 1;
  env.tmp = g_dir_make_tmp ("we-queue-nats-XXXXXX", &error);
  g_assert_no_error (error);
  env.store = g_build_filename (env.tmp, "store", NULL);
  env.scratch = g_build_filename (env.tmp, "scratch", NULL);
  in = g_build_filename (env.store, "in", NULL);
  g_assert_cmpint (g_mkdir_with_parents (in, 0700), ==, 0);

  if (build_root == NULL || g_getenv ("WE_SOURCE_ROOT") == NULL) {
    env.skip_reason = g_strdup ("run through meson test (WE_BUILD_ROOT, WE_SOURCE_ROOT)");
    return;
  }
  env.worker = g_build_filename (build_root, "src", "worker", "webencode-worker", NULL);
  if (!g_file_test (env.worker, G_FILE_TEST_IS_EXECUTABLE)) {
    env.skip_reason = g_strdup_printf ("%s is not built", env.worker);
    return;
  }
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
  /* the queue logs dead workers as warnings; here they are the point */
  g_log_set_always_fatal (G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);

  env.nats_server = g_find_program_in_path ("nats-server");
  if (env.nats_server == NULL && g_file_test ("/usr/sbin/nats-server", G_FILE_TEST_IS_EXECUTABLE))
    env.nats_server = g_strdup ("/usr/sbin/nats-server");
  if (env.nats_server == NULL) {
    g_printerr ("nats-server is not installed: skipping\n");
    return 77;
  }
  setup_env ();

  g_test_add_func ("/queue-nats/register", test_register);
  g_test_add_func ("/queue-nats/transcode-and-scan", test_transcode_and_scan);
  g_test_add_func ("/queue-nats/cancel", test_cancel);
  g_test_add_func ("/queue-nats/kill", test_kill);
  g_test_add_func ("/queue-nats/redelivery-runs-once", test_redelivery_runs_once);
  g_test_add_func ("/queue-nats/duplicate-message-refused", test_duplicate_message_refused);
  g_test_add_func ("/queue-nats/undelivered-message-fails-over",
                   test_undelivered_message_fails_over);
  g_test_add_func ("/queue-nats/drain", test_drain);
  g_test_add_func ("/queue-nats/remove-worker", test_remove_worker);
  g_test_add_func ("/queue-nats/report-survives-kernel-restart",
                   test_report_survives_kernel_restart);
  g_test_add_func ("/queue-nats/no-workers", test_no_workers);
  g_test_add_func ("/queue-nats/avoid-worker", test_avoid_worker);
  g_test_add_func ("/queue-nats/sigterm", test_sigterm);
  g_test_add_func ("/queue-nats/two-kernels", test_two_kernels);
  g_test_add_func ("/queue-nats/hardware-route", test_hardware_route);
  rc = g_test_run ();

  rm_rf (env.tmp);
  return rc;
}
