/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The restream manager (see we-restream.h). One Runner per restream that
 * should be running: its worker process, the pipes to it and the last
 * stats. A worker that dies while its restream should run is started again
 * after a backoff (1 s doubling to 30 s): a restream never gives up by
 * itself; only a stop, a delete or the end of a playlist that does not loop
 * end it. A Runner exists only on the kernel that owns the restream in the
 * store (a lease it renews every second; docs/architecture.md "Restreams
 * in cluster mode"): never on two kernels at once.
 */
#include "config.h"

#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "common/we-json.h"
#include "common/we-live-playlist.h"
#include "common/we-log.h"
#include "core/we-restream.h"
#include "core/we-restream-platform.h"
#include "core/we-stream-keys.h"

#define RESPAWN_MIN_S      1
#define RESPAWN_MAX_S      30
/* how often a restream with its own ingest looks for its publisher */
#define OWN_INGEST_POLL_S  2
#define PERSIST_EVERY_US   (5 * G_USEC_PER_SEC)
/* cluster mode: other kernels show these stats from the store */
#define PERSIST_CLUSTER_US (1 * G_USEC_PER_SEC)
#define MAX_LINE           65536
#define STOP_GRACE_S       3
/* The owner renews its lease on every 1 s tick; another kernel adopts a
 * restream whose lease ran out. An owner that could not renew for
 * FENCE_US ends its workers itself, before anyone may adopt them, so two
 * kernels never publish one restream. */
#define LEASE_US           (8 * G_USEC_PER_SEC)
#define FENCE_US           (6 * G_USEC_PER_SEC)
/* a restream the tick could not start is tried again after this */
#define RETRY_AFTER_US     (30 * G_USEC_PER_SEC)

struct _WeRestreamManager {
  GObject        parent;
  WeStore       *store;
  WeContentKeys *keys;
  gchar         *worker_binary;
  GHashTable    *runners;      /* id → Runner */
  guint          tick_id;
  gboolean       tick_busy;
  gboolean       tick_again;   /* asked for while one was on its way */
  gboolean       shutting_down;
  gchar         *kernel_id;    /* the owner name this kernel claims restreams as */
  gboolean       cluster;
  gint64         lease_ok_us;  /* monotonic: when our leases were last known good */
  guint64        next_serial;
  GHashTable    *pending;      /* ids whose run is on its way (claim, config) */
  GHashTable    *retry_after;  /* id → monotonic µs: a start the tick failed */
  GHashTable    *remote;       /* id → status and stats last relayed for another owner */
};

G_DEFINE_FINAL_TYPE (WeRestreamManager, we_restream_manager, G_TYPE_OBJECT)

enum { SIGNAL_EVENT, N_SIGNALS };
static guint signals[N_SIGNALS];

typedef struct {
  WeRestreamManager *self;     /* unowned: the manager outlives its runners' work */
  gchar             *id;
  JsonObject        *config;   /* what the worker is started with: open URLs, memory only */
  GSubprocess       *proc;
  GOutputStream     *out;
  GDataInputStream  *in;
  GCancellable      *cancellable;
  JsonObject        *dests;    /* dest id → stats object */
  gchar             *status;
  gchar             *error;
  gint64             run_until; /* unix s, 0 = open-ended (schedules with duration_s) */
  guint              respawn_id;
  guint              respawn_delay_s;
  gint64             last_persist_us;
  gboolean           gone;     /* removed from the manager: callbacks do nothing */
  guint64            serial;   /* tells a runner from a later one of the same id */
  gchar             *doc;      /* the stored definition @config was built from */
  gboolean           restarting; /* a changed input: start again once the worker exits */
  gboolean           live_ok;  /* its live input's playlist was just found live */
} Runner;

static void
runner_clear (Runner *r)
{
  g_free (r->id);
  g_clear_pointer (&r->config, json_object_unref);
  g_clear_object (&r->proc);
  g_clear_object (&r->out);
  g_clear_object (&r->in);
  g_clear_object (&r->cancellable);
  g_clear_pointer (&r->dests, json_object_unref);
  g_free (r->status);
  g_free (r->error);
  g_free (r->doc);
}

static void
runner_release (gpointer data)
{
  g_atomic_rc_box_release_full (data, (GDestroyNotify) runner_clear);
}

static Runner *
runner_ref (Runner *r)
{
  return g_atomic_rc_box_acquire (r);
}

static void spawn_worker (Runner *r);
static void platform_resolved_cb (JsonObject *results, gpointer data);
static void live_check_thread (GTask *task, gpointer source, gpointer data,
                               GCancellable *cancellable);
static void live_checked_cb (GObject *source, GAsyncResult *result, gpointer data);

/* --- store writes (fire and forget) ------------------------------------------ */

typedef struct {
  gchar   *id;
  gchar   *kernel_id; /* (nullable) written only while this kernel owns it */
  gchar   *status;
  gchar   *stats;
  gboolean release;   /* and give it up */
} StateWrite;

static void
state_write_free (gpointer data)
{
  StateWrite *w = data;

  g_free (w->id);
  g_free (w->kernel_id);
  g_free (w->status);
  g_free (w->stats);
  g_free (w);
}

static gpointer
state_write_run (WeStore *store, gpointer data, GError **error)
{
  StateWrite *w = data;

  if (!we_store_restream_report (store, w->id, w->kernel_id, w->status, w->stats, w->release,
                                 error))
    return NULL;
  return GINT_TO_POINTER (1);
}

static void
state_write_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GError) error = NULL;

  we_store_call_finish (WE_STORE (source), result, &error);
  /* a restream deleted while it ran has no row left: nothing to say */
  if (error != NULL && !g_error_matches (error, WE_ERROR, WE_ERROR_RST_NOT_FOUND))
    we_log (G_LOG_LEVEL_WARNING, NULL, "WE-RST-006", "storing a restream's state: %s",
            error->message);
}

static JsonObject *
stats_object (const gchar *error, JsonObject *dests)
{
  JsonObject *o = json_object_new ();

  if (error != NULL)
    json_object_set_string_member (o, "error", error);
  else
    json_object_set_null_member (o, "error");
  json_object_set_object_member (o, "destinations",
                                 dests != NULL ? json_object_ref (dests) : json_object_new ());
  return o;
}

/* A runner's report: written only while this kernel owns the restream, so
 * a late report never undoes a stop, a delete or an adoption made through
 * another kernel. @release: the run ended here (stop, end of playlist or of
 * its schedule): no owner any more. */
static void
write_state_full (WeRestreamManager *self, const gchar *id, const gchar *kernel_id,
                  const gchar *status, const gchar *error, JsonObject *dests, gboolean release)
{
  StateWrite *w = g_new0 (StateWrite, 1);
  g_autoptr(JsonObject) stats = stats_object (error, dests);
  g_autoptr(JsonNode) node = json_node_init_object (json_node_alloc (), stats);

  w->id = g_strdup (id);
  w->kernel_id = g_strdup (kernel_id);
  w->status = g_strdup (status);
  w->stats = json_to_string (node, FALSE);
  w->release = release;
  we_store_call_async (self->store, state_write_run, w, state_write_free, NULL, NULL,
                       state_write_done, NULL);
}

static void
write_state (WeRestreamManager *self, const gchar *id, const gchar *status,
             const gchar *error, JsonObject *dests)
{
  write_state_full (self, id, self->kernel_id, status, error, dests, FALSE);
}

static void
emit_event (Runner *r)
{
  g_autoptr(JsonObject) o = stats_object (r->error, r->dests);

  json_object_set_string_member (o, "restream_id", r->id);
  json_object_set_string_member (o, "status", r->status);
  g_signal_emit (r->self, signals[SIGNAL_EVENT], 0, r->id, o);
}

static void
runner_set_status (Runner *r, const gchar *status, const gchar *error)
{
  gboolean changed = g_strcmp0 (r->status, status) != 0 || g_strcmp0 (r->error, error) != 0;

  g_free (r->status);
  r->status = g_strdup (status);
  if (error != NULL || g_str_equal (status, "streaming")) {
    /* @error may be r->error itself */
    gchar *copy = g_strdup (error);

    g_free (r->error);
    r->error = copy;
  }
  if (changed) {
    write_state (r->self, r->id, status, r->error, r->dests);
    r->last_persist_us = g_get_monotonic_time ();
    emit_event (r);
  }
}

/* --- the worker's pipes -------------------------------------------------------- */

static void
send_msg (Runner *r, JsonObject *msg)
{
  g_autoptr(JsonNode) node = json_node_init_object (json_node_alloc (), msg);
  g_autofree gchar *text = json_to_string (node, FALSE);
  g_autofree gchar *line = g_strconcat (text, "\n", NULL);
  g_autoptr(GError) error = NULL;

  if (r->out == NULL)
    return;
  /* a few hundred bytes into a pipe its reader drains: it does not block */
  if (!g_output_stream_write_all (r->out, line, strlen (line), NULL, NULL, &error))
    we_log (G_LOG_LEVEL_WARNING, NULL, "WE-RST-006", "restream %s: writing to its worker: %s",
            r->id, error->message);
}

static void
handle_stats (Runner *r, JsonObject *msg)
{
  const gchar *dest = we_json_get_string (msg, "destination_id");
  JsonObject *old;
  gboolean state_changed;
  JsonObject *o;

  if (dest == NULL)
    return;
  old = json_object_has_member (r->dests, dest) ? json_object_get_object_member (r->dests, dest)
                                                 : NULL;
  state_changed = old == NULL || g_strcmp0 (we_json_get_string (old, "state"),
                                            we_json_get_string (msg, "state")) != 0;
  o = json_object_new ();
  json_object_set_string_member (o, "state", we_json_get_string (msg, "state") ?: "connecting");
  json_object_set_boolean_member (o, "enabled", we_json_get_bool (msg, "enabled", TRUE));
  json_object_set_double_member (o, "bitrate_kbps", we_json_get_double (msg, "bitrate_kbps", 0));
  json_object_set_int_member (o, "bytes_acked", we_json_get_int (msg, "bytes_acked", 0));
  json_object_set_double_member (o, "uptime_s", we_json_get_double (msg, "uptime_s", 0));
  json_object_set_int_member (o, "reconnects", we_json_get_int (msg, "reconnects", 0));
  if (we_json_get_string (msg, "last_error") != NULL)
    json_object_set_string_member (o, "last_error", we_json_get_string (msg, "last_error"));
  else
    json_object_set_null_member (o, "last_error");
  json_object_set_object_member (r->dests, dest, o);
  if (state_changed)
    we_restream_platform_dest_state (G_OBJECT (r->self), r->id, dest,
                                     we_json_get_string (o, "state"));
  emit_event (r);
  if (state_changed || g_get_monotonic_time () - r->last_persist_us >=
                         (r->self->cluster ? PERSIST_CLUSTER_US : PERSIST_EVERY_US)) {
    write_state (r->self, r->id, r->status, r->error, r->dests);
    r->last_persist_us = g_get_monotonic_time ();
  }
}

static void
handle_line (Runner *r, const gchar *line)
{
  g_autoptr(JsonNode) node = json_from_string (line, NULL);
  JsonObject *msg;
  const gchar *type;

  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    return;
  msg = json_node_get_object (node);
  type = we_json_get_string (msg, "type");
  if (g_strcmp0 (type, "stats") == 0) {
    handle_stats (r, msg);
  } else if (g_strcmp0 (type, "state") == 0) {
    const gchar *status = we_json_get_string (msg, "status");

    if (g_strcmp0 (status, "streaming") == 0) {
      r->respawn_delay_s = RESPAWN_MIN_S;
      runner_set_status (r, "streaming", NULL);
    }
  } else if (g_strcmp0 (type, "error") == 0) {
    g_free (r->error);
    r->error = g_strdup (we_json_get_string (msg, "message") ?: "the restream worker failed");
  } else if (g_strcmp0 (type, "finished") == 0) {
    /* the playlist ended and does not loop: a clean end, seen in wait_cb */
    json_object_set_boolean_member (r->config, "_finished", TRUE);
  }
}

static void
line_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Runner *r = user_data;
  g_autoptr(GError) error = NULL;
  gsize len = 0;
  g_autofree gchar *line = g_data_input_stream_read_line_finish (G_DATA_INPUT_STREAM (source),
                                                                 result, &len, &error);

  if (line == NULL || r->gone || G_DATA_INPUT_STREAM (source) != r->in) {
    runner_release (r);
    return;
  }
  if (len < MAX_LINE)
    handle_line (r, line);
  g_data_input_stream_read_line_async (r->in, G_PRIORITY_DEFAULT, r->cancellable, line_cb, r);
}

static gboolean
respawn_cb (gpointer data)
{
  Runner *r = data;

  r->respawn_id = 0;
  if (!r->gone)
    spawn_worker (r);
  return G_SOURCE_REMOVE;
}

static gboolean
kill_cb (gpointer data)
{
  g_subprocess_force_exit (G_SUBPROCESS (data));
  return G_SOURCE_REMOVE;
}

/* Forgets @r. A worker still running was sent "stop" (@graceful): it gets
 * STOP_GRACE_S to close its connections, then it is killed like one that
 * was not. */
static void
runner_remove (WeRestreamManager *self, Runner *r, gboolean graceful)
{
  r->gone = TRUE;
  g_clear_handle_id (&r->respawn_id, g_source_remove);
  if (r->cancellable != NULL)
    g_cancellable_cancel (r->cancellable);
  if (r->proc != NULL && graceful)
    g_timeout_add_seconds_full (G_PRIORITY_DEFAULT, STOP_GRACE_S, kill_cb,
                                g_object_ref (r->proc), g_object_unref);
  else if (r->proc != NULL)
    g_subprocess_force_exit (r->proc);
  g_hash_table_remove (self->runners, r->id);
}

static void
wait_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Runner *r = user_data;
  GSubprocess *proc = G_SUBPROCESS (source);
  WeRestreamManager *self = r->self;
  gboolean clean;

  g_subprocess_wait_finish (proc, result, NULL);
  if (r->gone || proc != r->proc) {
    runner_release (r);
    return;
  }
  clean = g_subprocess_get_if_exited (proc) && g_subprocess_get_exit_status (proc) == 0;
  g_clear_object (&r->proc);
  g_clear_object (&r->out);
  g_clear_object (&r->in);
  if (r->cancellable != NULL)
    g_cancellable_cancel (r->cancellable);
  g_clear_object (&r->cancellable);
  if (r->restarting && !self->shutting_down) {
    /* its input changed (we_restream_manager_reload): the old worker has
     * let go of the destinations, the new one takes them over */
    r->restarting = FALSE;
    spawn_worker (r);
    runner_release (r);
    return;
  }
  if (clean && we_json_get_bool (r->config, "_finished", FALSE) &&
      we_json_get_bool (r->config, "_own_ingest", FALSE) && !self->shutting_down) {
    /* its publisher left: the restream waits for the next one (it ends
     * only when stopped) */
    json_object_remove_member (r->config, "_finished");
    we_log (G_LOG_LEVEL_INFO, NULL, NULL, "restream %s: its publisher left, waiting for the "
            "next", r->id);
    g_clear_pointer (&r->error, g_free);
    runner_set_status (r, "starting", NULL);
    r->respawn_delay_s = RESPAWN_MIN_S;
    r->respawn_id = g_timeout_add_seconds (OWN_INGEST_POLL_S, respawn_cb, r);
    runner_release (r);
    return;
  }
  if (clean && we_json_get_bool (r->config, "_finished", FALSE)) {
    we_log (G_LOG_LEVEL_INFO, NULL, NULL, "restream %s finished its playlist", r->id);
    we_restream_platform_stopped (G_OBJECT (self), r->id);
    g_free (r->status);
    r->status = g_strdup ("stopped");
    emit_event (r);
    write_state_full (self, r->id, self->kernel_id, "stopped", r->error, r->dests, TRUE);
    runner_remove (self, r, FALSE);
    runner_release (r);
    return;
  }
  if (self->shutting_down) {
    runner_release (r);
    return;
  }
  /* an own ingest without a publisher ends its worker every few seconds */
  if (!we_json_get_bool (r->config, "_own_ingest", FALSE))
    we_log (G_LOG_LEVEL_WARNING, NULL, "WE-RST-006",
            "restream %s: its worker exited (%s); starting it again in %u s", r->id,
            r->error != NULL ? r->error : "no reason given", r->respawn_delay_s);
  if (we_json_get_bool (r->config, "_own_ingest", FALSE)) {
    /* no publisher on its ingest yet: nothing is wrong */
    g_clear_pointer (&r->error, g_free);
    runner_set_status (r, "starting", NULL);
  } else
    runner_set_status (r, "error", r->error != NULL ? r->error : "the restream worker exited");
  r->respawn_id = g_timeout_add_seconds (r->respawn_delay_s, respawn_cb, r);
  /* an own ingest without its publisher yet: looked for often, since
   * someone is about to start OBS */
  r->respawn_delay_s = MIN (r->respawn_delay_s * 2,
                            we_json_get_bool (r->config, "_own_ingest", FALSE)
                              ? OWN_INGEST_POLL_S : RESPAWN_MAX_S);
  runner_release (r);
}

/* In the child between fork and exec. A worker must not outlive its
 * kernel, even one killed with SIGKILL: another kernel adopts the restream
 * and would publish beside it. Its stdin reaching EOF ends it too; this
 * also ends one that is stuck. */
static void
worker_child_setup (gpointer data)
{
  pid_t parent = GPOINTER_TO_INT (data);

  prctl (PR_SET_PDEATHSIG, SIGTERM);
  /* the kernel died before prctl: nobody will send the signal */
  if (getppid () != parent)
    _exit (1);
}

static void
spawn_worker (Runner *r)
{
  const gchar *argv[] = { r->self->worker_binary, "--restream", NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) start = json_object_new ();
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  GList *members;

  /* a live input is looked at first, in a thread (the live folder may be a
   * network file system): a worker only for a stream that is live */
  if (we_json_get_bool (r->config, "live_input", FALSE) && !r->live_ok) {
    JsonArray *inputs = we_json_get_array (r->config, "inputs");
    GTask *task = g_task_new (NULL, NULL, live_checked_cb, runner_ref (r));

    g_task_set_task_data (task, g_strdup (inputs != NULL && json_array_get_length (inputs) > 0
                                            ? json_array_get_string_element (inputs, 0) : ""),
                          g_free);
    g_task_run_in_thread (task, live_check_thread);
    g_object_unref (task);
    return;
  }
  r->live_ok = FALSE;

  /* platform destinations get their URLs first, in a thread (blocking
   * secrets and API calls): we-restream-platform.c */
  if (we_restream_platform_resolve (G_OBJECT (r->self), r->id, r->config, platform_resolved_cb,
                                    runner_ref (r)))
    return;
  /* nothing to resolve: the reference meant for platform_resolved_cb */
  runner_release (r);

  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDIN_PIPE |
                                        G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  g_subprocess_launcher_set_child_setup (launcher, worker_child_setup,
                                         GINT_TO_POINTER (getpid ()), NULL);
  r->proc = g_subprocess_launcher_spawnv (launcher, argv, &error);
  if (r->proc == NULL) {
    g_autofree gchar *msg = g_strdup_printf ("cannot start %s: %s", argv[0], error->message);

    runner_set_status (r, "error", msg);
    r->respawn_id = g_timeout_add_seconds (RESPAWN_MAX_S, respawn_cb, r);
    return;
  }
  g_free (r->error);
  r->error = NULL;
  r->cancellable = g_cancellable_new ();
  r->out = g_object_ref (g_subprocess_get_stdin_pipe (r->proc));
  r->in = g_data_input_stream_new (g_subprocess_get_stdout_pipe (r->proc));
  g_data_input_stream_set_newline_type (r->in, G_DATA_STREAM_NEWLINE_TYPE_LF);
  json_object_set_string_member (start, "type", "start");
  json_object_set_string_member (start, "restream_id", r->id);
  members = json_object_get_members (r->config);
  for (GList *l = members; l != NULL; l = l->next)
    if (((const gchar *) l->data)[0] != '_')
      json_object_set_member (start, l->data,
                              json_node_copy (json_object_get_member (r->config, l->data)));
  g_list_free (members);
  send_msg (r, start);
  g_data_input_stream_read_line_async (r->in, G_PRIORITY_DEFAULT, r->cancellable, line_cb,
                                       runner_ref (r));
  g_subprocess_wait_async (r->proc, NULL, wait_cb, runner_ref (r));
  runner_set_status (r, "starting", NULL);
  we_log (G_LOG_LEVEL_INFO, NULL, NULL, "restream %s: worker started (pid %s)", r->id,
          g_subprocess_get_identifier (r->proc) ?: "?");
}

/* A stream input (or an own ingest) whose live playlist is missing or
 * ended: no worker is started for it; the same wait as a worker that
 * failed, without a process every few seconds. */
static void
live_input_not_live (Runner *r)
{
  guint delay = r->respawn_delay_s;

  if (we_json_get_bool (r->config, "_own_ingest", FALSE)) {
    /* waiting for its publisher: nothing is wrong */
    g_clear_pointer (&r->error, g_free);
    runner_set_status (r, "starting", NULL);
    delay = OWN_INGEST_POLL_S;
  } else {
    runner_set_status (r, "error", "the stream is not live");
    r->respawn_delay_s = MIN (r->respawn_delay_s * 2, RESPAWN_MAX_S);
  }
  r->respawn_id = g_timeout_add_seconds (delay, respawn_cb, r);
}

static void
live_check_thread (GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  g_task_return_boolean (task, we_live_playlist_is_live (data));
}

static void
live_checked_cb (GObject *source, GAsyncResult *result, gpointer data)
{
  Runner *r = data;
  gboolean live = g_task_propagate_boolean (G_TASK (result), NULL);

  if (!r->gone && r->proc == NULL && r->respawn_id == 0) {
    if (live) {
      r->live_ok = TRUE;
      spawn_worker (r);
    } else {
      live_input_not_live (r);
    }
  }
  runner_release (r);
}

static void
platform_resolved_cb (JsonObject *results, gpointer data)
{
  Runner *r = data;

  /* a stop or a delete while the URLs were made: nothing to start */
  if (!r->gone && r->proc == NULL) {
    we_restream_platform_apply (r->config, results, r->dests);
    spawn_worker (r);
  }
  runner_release (r);
}

/* --- building a worker's configuration (store thread) ------------------------------ */

/* The worker's "start" members of restream @record: inputs, pacing, loop
 * and the destinations with their URLs opened. */
static JsonObject *
worker_config (WeContentKeys *keys, const WeRestreamRecord *record, GError **error)
{
  g_autoptr(JsonNode) node = json_from_string (record->doc, error);
  g_autoptr(JsonObject) config = json_object_new ();
  JsonArray *inputs = json_array_new ();
  JsonArray *dests = json_array_new ();
  JsonObject *doc;
  JsonArray *array;
  gboolean live_input;

  json_object_set_array_member (config, "inputs", inputs);
  json_object_set_array_member (config, "destinations", dests);
  if (node == NULL)
    return NULL;
  doc = json_node_get_object (node);
  array = we_json_get_array (doc, "playlist");
  for (guint i = 0; array != NULL && i < json_array_get_length (array); i++)
    json_array_add_string_element (inputs, json_array_get_string_element (array, i));
  if (json_array_get_length (inputs) == 0 && we_json_get_string (doc, "input_uri") != NULL)
    json_array_add_string_element (inputs, we_json_get_string (doc, "input_uri"));
  if (json_array_get_length (inputs) == 0) {
    g_set_error (error, WE_ERROR, WE_ERROR_RST_INVALID_REQUEST,
                 "restream %s has no input to play", record->id);
    return NULL;
  }
  json_object_set_boolean_member (config, "loop", we_json_get_bool (doc, "loop_enabled", FALSE));
  json_object_set_int_member (config, "loop_count", we_json_get_int (doc, "loop_count", 0));
  /* what a platform destination's broadcast is called (not sent to the worker) */
  if (we_json_get_string (doc, "title") != NULL)
    json_object_set_string_member (config, "_title", we_json_get_string (doc, "title"));
  if (we_json_get_string (doc, "description") != NULL)
    json_object_set_string_member (config, "_description",
                                   we_json_get_string (doc, "description"));
  json_object_set_boolean_member (config, "simulate_live",
                                  we_json_get_bool (doc, "simulate_live", TRUE));
  /* the manager's, not the worker's: a restream with its own ingest waits
   * for its publisher again when one leaves */
  json_object_set_boolean_member (config, "_own_ingest", we_json_get_bool (doc, "own_ingest",
                                                                          FALSE));
  /* a stream's live HLS: the worker refuses one that ended (not live) */
  live_input = g_strcmp0 (we_json_get_string (doc, "input_type"), "stream") == 0 ||
               we_json_get_bool (doc, "own_ingest", FALSE);
  json_object_set_boolean_member (config, "live_input", live_input);
  array = we_json_get_array (doc, "output_destinations");
  for (guint i = 0; array != NULL && i < json_array_get_length (array); i++) {
    JsonObject *d = json_array_get_object_element (array, i);
    JsonObject *w = json_object_new ();
    g_autofree gchar *url = we_stream_keys_unseal (keys, record->id, WE_RESTREAM_SEAL_URL,
                                                   we_json_get_string (d, "url_sealed"), error);

    if (url == NULL) {
      json_object_unref (w);
      return NULL;
    }
    json_object_set_string_member (w, "id", we_json_get_string (d, "id"));
    json_object_set_string_member (w, "url", url);
    json_object_set_boolean_member (w, "enabled", we_json_get_bool (d, "enabled", TRUE));
    json_array_add_object_element (dests, w);
  }
  return g_steal_pointer (&config);
}

typedef struct {
  WeContentKeys *keys;
  gchar         *id;
  gchar         *kernel_id;
  gboolean       active_only; /* resuming: only what should run */
  gchar         *fire_key;    /* (nullable) a schedule firing */
  gint64         fire_run_until;
  JsonObject    *config;
  gchar         *doc;
  gint64         run_until;
  gint64         claimed_us;  /* monotonic: when the lease was taken */
} RunOp;

static void
run_op_free (gpointer data)
{
  RunOp *op = data;

  g_object_unref (op->keys);
  g_free (op->id);
  g_free (op->kernel_id);
  g_free (op->fire_key);
  g_clear_pointer (&op->config, json_object_unref);
  g_free (op->doc);
  g_free (op);
}

static gpointer
run_op_run (WeStore *store, gpointer data, GError **error)
{
  RunOp *op = data;
  g_autoptr(WeRestreamRecord) record = we_store_restream_get (store, op->id, error);
  WeRestreamClaim claim = { 0 };
  gboolean claimed = FALSE;
  gint64 started = g_get_monotonic_time ();

  if (record == NULL)
    return NULL;
  op->config = worker_config (op->keys, record, error);
  if (op->config == NULL)
    return NULL;
  op->doc = g_strdup (record->doc);
  /* the one place a kernel becomes a restream's owner: one conditional
   * UPDATE that also stores status "starting", so a restart in between
   * resumes it (docs/architecture.md "Restreams in cluster mode") */
  claim.kernel_id = op->kernel_id;
  claim.now = g_get_real_time ();
  claim.lease_until = claim.now + LEASE_US;
  claim.active_only = op->active_only;
  claim.fire_key = op->fire_key;
  claim.run_until = op->fire_run_until;
  if (!we_store_restream_claim (store, op->id, &claim, &claimed, error))
    return NULL;
  if (!claimed) {
    g_set_error (error, WE_ERROR, WE_ERROR_RST_RUNNING, "restream %s runs on kernel %s",
                 op->id, record->owner_kernel != NULL ? record->owner_kernel : "(another)");
    return NULL;
  }
  op->claimed_us = started;
  op->run_until = op->fire_key != NULL ? op->fire_run_until : record->run_until;
  return op;
}

static void
run_op_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  WeRestreamManager *self = g_task_get_source_object (task);
  g_autoptr(GError) error = NULL;
  RunOp *op = we_store_call_finish (WE_STORE (source), result, &error);
  Runner *r;

  g_hash_table_remove (self->pending, g_task_get_task_data (task));
  if (op == NULL) {
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }
  if (self->shutting_down) {
    g_task_return_new_error (task, WE_ERROR, WE_ERROR_SYS_UNAVAILABLE, "shutting down");
    return;
  }
  r = g_hash_table_lookup (self->runners, op->id);
  if (r != NULL) {
    /* running already (a double start): nothing more to do */
    g_task_return_boolean (task, TRUE);
    return;
  }
  self->lease_ok_us = MAX (self->lease_ok_us, op->claimed_us);
  r = g_atomic_rc_box_new0 (Runner);
  r->self = self;
  r->id = g_strdup (op->id);
  r->serial = ++self->next_serial;
  r->doc = g_steal_pointer (&op->doc);
  r->config = g_steal_pointer (&op->config);
  r->dests = json_object_new ();
  r->status = g_strdup ("stopped");
  r->run_until = op->run_until;
  r->respawn_delay_s = RESPAWN_MIN_S;
  g_hash_table_insert (self->runners, r->id, r);
  spawn_worker (r);
  g_task_return_boolean (task, TRUE);
}

static void
run_claimed_async (WeRestreamManager *self, const gchar *id, gboolean active_only,
                   const gchar *fire_key, gint64 fire_run_until, GAsyncReadyCallback callback,
                   gpointer user_data)
{
  GTask *task = g_task_new (self, NULL, callback, user_data);
  RunOp *op = g_new0 (RunOp, 1);

  /* the id, for run_op_done to clear from pending whatever the result */
  g_task_set_task_data (task, g_strdup (id), g_free);
  op->keys = g_object_ref (self->keys);
  op->id = g_strdup (id);
  op->kernel_id = g_strdup (self->kernel_id);
  op->active_only = active_only;
  op->fire_key = g_strdup (fire_key);
  op->fire_run_until = fire_run_until;
  g_hash_table_add (self->pending, g_strdup (id));
  /* the op is also the result: the call frees it after run_op_done */
  we_store_call_async (self->store, run_op_run, op, run_op_free, NULL, NULL, run_op_done, task);
}

void
we_restream_manager_run_async (WeRestreamManager *self, const gchar *id,
                               GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail (WE_IS_RESTREAM_MANAGER (self));
  run_claimed_async (self, id, FALSE, NULL, 0, callback, user_data);
}

gboolean
we_restream_manager_run_finish (WeRestreamManager *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

/* Ends @r's worker gracefully. @store: write status "stopped" and give
 * the restream up, as @kernel_id's (NULL: whoever owns it); FALSE when it
 * is no longer ours to write (stopped, deleted or adopted elsewhere). */
static void
runner_end (WeRestreamManager *self, Runner *r, gboolean store, const gchar *kernel_id)
{
  g_autoptr(JsonObject) stop = json_object_new ();

  json_object_set_string_member (stop, "type", "stop");
  send_msg (r, stop);
  /* the run ends here (not a worker given up for another kernel to take
   * over): its YouTube broadcasts are complete */
  if (store)
    we_restream_platform_stopped (G_OBJECT (self), r->id);
  g_free (r->status);
  r->status = g_strdup ("stopped");
  emit_event (r);
  if (store)
    write_state_full (self, r->id, kernel_id, "stopped", NULL, r->dests, TRUE);
  runner_remove (self, r, TRUE);
}

void
we_restream_manager_stop (WeRestreamManager *self, const gchar *id)
{
  Runner *r = g_hash_table_lookup (self->runners, id);

  /* whoever owns it: a stop through any kernel ends the run; the owner
   * sees that it lost the restream on its next tick and ends its worker */
  if (r != NULL) {
    runner_end (self, r, TRUE, NULL);
    return;
  }
  write_state_full (self, id, NULL, "stopped", NULL, NULL, TRUE);
}

gboolean
we_restream_manager_is_running (WeRestreamManager *self, const gchar *id)
{
  return g_hash_table_contains (self->runners, id);
}

JsonObject *
we_restream_manager_get_live (WeRestreamManager *self, const gchar *id)
{
  Runner *r = g_hash_table_lookup (self->runners, id);
  JsonObject *o;

  if (r == NULL)
    return NULL;
  o = stats_object (r->error, r->dests);
  json_object_set_string_member (o, "status", r->status);
  return o;
}

/* The runner's config follows run-time changes, so a respawned worker
 * starts with the destinations as they are now. */
static JsonObject *
config_dest (Runner *r, const gchar *dest_id, guint *index)
{
  JsonArray *dests = we_json_get_array (r->config, "destinations");

  for (guint i = 0; dests != NULL && i < json_array_get_length (dests); i++) {
    JsonObject *d = json_array_get_object_element (dests, i);

    if (g_strcmp0 (we_json_get_string (d, "id"), dest_id) == 0) {
      if (index != NULL)
        *index = i;
      return d;
    }
  }
  return NULL;
}

void
we_restream_manager_dest_add (WeRestreamManager *self, const gchar *id, const gchar *dest_id,
                              const gchar *url, gboolean enabled)
{
  Runner *r = g_hash_table_lookup (self->runners, id);
  g_autoptr(JsonObject) msg = json_object_new ();
  JsonObject *d;

  if (r == NULL || config_dest (r, dest_id, NULL) != NULL)
    return;
  if (we_restream_platform_is_placeholder (url)) {
    /* comes back here with the opened URL */
    we_restream_platform_dest_add (G_OBJECT (self), id, dest_id, url, enabled, r->config);
    return;
  }
  d = json_object_new ();
  json_object_set_string_member (d, "id", dest_id);
  json_object_set_string_member (d, "url", url);
  json_object_set_boolean_member (d, "enabled", enabled);
  json_array_add_object_element (we_json_get_array (r->config, "destinations"), d);
  json_object_set_string_member (msg, "type", "dest_add");
  json_object_set_object_member (msg, "destination", json_object_ref (d));
  send_msg (r, msg);
}

void
we_restream_manager_dest_set_enabled (WeRestreamManager *self, const gchar *id,
                                      const gchar *dest_id, gboolean enabled)
{
  Runner *r = g_hash_table_lookup (self->runners, id);
  g_autoptr(JsonObject) msg = json_object_new ();
  JsonObject *d;

  if (r == NULL || (d = config_dest (r, dest_id, NULL)) == NULL)
    return;
  json_object_set_boolean_member (d, "enabled", enabled);
  json_object_set_string_member (msg, "type", "dest_enable");
  json_object_set_string_member (msg, "id", dest_id);
  json_object_set_boolean_member (msg, "enabled", enabled);
  send_msg (r, msg);
}

void
we_restream_manager_dest_remove (WeRestreamManager *self, const gchar *id, const gchar *dest_id)
{
  Runner *r = g_hash_table_lookup (self->runners, id);
  g_autoptr(JsonObject) msg = json_object_new ();
  guint index = 0;

  /* a platform destination that could not be opened is not tried again */
  if (r != NULL && we_restream_platform_forget (r->config, dest_id) &&
      json_object_has_member (r->dests, dest_id))
    json_object_remove_member (r->dests, dest_id);
  if (r == NULL || config_dest (r, dest_id, &index) == NULL)
    return;
  json_array_remove_element (we_json_get_array (r->config, "destinations"), index);
  if (json_object_has_member (r->dests, dest_id))
    json_object_remove_member (r->dests, dest_id);
  json_object_set_string_member (msg, "type", "dest_remove");
  json_object_set_string_member (msg, "id", dest_id);
  send_msg (r, msg);
}

/* --- resume and schedules ------------------------------------------------------------ */

/* What the tick saw of a restream running here. */
typedef struct {
  guint64     serial;   /* the runner snapshotted */
  gchar      *doc;      /* the definition it runs */
  gboolean    owned;    /* out: our lease on it was renewed */
  gboolean    taken;    /* out: not owned: another kernel owns it now */
  gboolean    expired;  /* out: its run_until passed */
  gchar      *new_doc;  /* out: (nullable) a changed definition */
  JsonObject *config;   /* out: (nullable) the worker config of @new_doc */
} TickRunning;

static void
tick_running_free (gpointer data)
{
  TickRunning *t = data;

  g_free (t->doc);
  g_free (t->new_doc);
  g_clear_pointer (&t->config, json_object_unref);
  g_free (t);
}

/* A restream the tick may start: resumed (@fire_key NULL) or fired. */
typedef struct {
  gchar  *id;
  gchar  *fire_key;
  gint64  run_until;
} TickStart;

static void
tick_start_free (gpointer data)
{
  TickStart *t = data;

  if (t == NULL)
    return;
  g_free (t->id);
  g_free (t->fire_key);
  g_free (t);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (TickStart, tick_start_free)

/* What the tick decided, per restream, on the store's thread. */
typedef struct {
  WeContentKeys *keys;
  gchar      *kernel_id;
  GHashTable *running;    /* id → TickRunning (copied on the main loop) */
  GHashTable *pending;    /* ids being started here */
  GPtrArray  *start;      /* TickStart */
  GPtrArray  *list;       /* out: every WeRestreamRecord, for the relay */
  gint64      started_us; /* monotonic, before the lease was renewed */
} TickOp;

static void
tick_op_free (gpointer data)
{
  TickOp *op = data;

  g_object_unref (op->keys);
  g_free (op->kernel_id);
  g_hash_table_unref (op->running);
  g_hash_table_unref (op->pending);
  g_ptr_array_unref (op->start);
  g_clear_pointer (&op->list, g_ptr_array_unref);
  g_free (op);
}

/* The key of @doc's schedule firing now, or NULL when it is not due: its
 * schedule (so that a changed schedule fires anew) and the time it fires
 * for. *@run_until: when that run ends. A cron minute fires only for a
 * restream that existed when it began (@created_at, unix µs): one made at
 * 18:30:40 for "30 18 * * *" waits for the next day. */
static gchar *
schedule_due (JsonObject *doc, gint64 created_at, GDateTime *now, gint64 *run_until)
{
  JsonObject *sched = we_json_get_object (doc, "schedule_config");
  /* what a build before migration 0012 recorded in the definition */
  JsonObject *legacy = we_json_get_object (doc, "schedule_state");
  const gchar *type = we_json_get_string (doc, "schedule_type");
  gint64 now_s = g_date_time_to_unix (now);
  g_autoptr(JsonNode) node = NULL;
  g_autofree gchar *text = NULL;
  g_autofree gchar *sum = NULL;

  if (sched == NULL)
    return NULL;
  node = json_node_init_object (json_node_alloc (), sched);
  text = json_to_string (node, FALSE);
  sum = g_compute_checksum_for_string (G_CHECKSUM_SHA1, text, -1);
  sum[12] = '\0';
  *run_until = we_json_get_int (sched, "duration_s", 0) > 0
                 ? now_s + we_json_get_int (sched, "duration_s", 0) : 0;
  if (g_strcmp0 (type, "scheduled") == 0) {
    const gchar *at_text = we_json_get_string (sched, "at");
    g_autoptr(GDateTime) at = at_text != NULL ? g_date_time_new_from_iso8601 (at_text, NULL)
                                              : NULL;

    if (at == NULL || g_date_time_to_unix (at) > now_s ||
        (legacy != NULL && we_json_get_int (legacy, "fired_at", 0) == g_date_time_to_unix (at)))
      return NULL;
    return g_strdup_printf ("%s:at:%" G_GINT64_FORMAT, sum, g_date_time_to_unix (at));
  }
  if (g_strcmp0 (type, "recurring") == 0) {
    const gchar *cron = we_json_get_string (sched, "cron");
    g_autofree gchar *minute = g_date_time_format (now, "%Y%m%d%H%M");

    if (cron == NULL || !we_restream_cron_matches (cron, now) ||
        created_at > (now_s - g_date_time_get_second (now)) * G_USEC_PER_SEC ||
        (legacy != NULL && g_strcmp0 (we_json_get_string (legacy, "fired_minute"), minute) == 0))
      return NULL;
    return g_strdup_printf ("%s:cron:%s", sum, minute);
  }
  return NULL;
}

static gpointer
tick_run (WeStore *store, gpointer data, GError **error)
{
  TickOp *op = data;
  g_autoptr(GPtrArray) owned = NULL;
  g_autoptr(GHashTable) mine = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr(GDateTime) now = NULL;
  gint64 now_us, now_s;

  /* first the lease: what we run is ours for LEASE_US more, or not ours
   * any more (stopped, deleted or adopted through another kernel) */
  owned = we_store_restream_renew (store, op->kernel_id, g_get_real_time () + LEASE_US, error);
  if (owned == NULL)
    return NULL;
  for (guint i = 0; i < owned->len; i++)
    g_hash_table_add (mine, owned->pdata[i]);
  op->list = we_store_restream_list (store, error);
  if (op->list == NULL)
    return NULL;
  now = g_date_time_new_now_local ();
  now_us = g_get_real_time ();
  now_s = now_us / G_USEC_PER_SEC;
  for (guint i = 0; i < op->list->len; i++) {
    WeRestreamRecord *rec = op->list->pdata[i];
    TickRunning *run = g_hash_table_lookup (op->running, rec->id);
    g_autoptr(JsonNode) node = NULL;
    g_autofree gchar *key = NULL;
    gint64 run_until = 0;
    TickStart *start;

    if (run != NULL) {
      run->owned = g_hash_table_contains (mine, rec->id);
      run->taken = !run->owned && rec->owner_kernel != NULL;
      if (!run->owned)
        continue;
      if (rec->run_until > 0 && rec->run_until <= now_s) {
        run->expired = TRUE;
      } else if (g_strcmp0 (rec->doc, run->doc) != 0) {
        /* edited, maybe through another kernel: the owner applies it */
        g_autoptr(GError) local = NULL;

        run->config = worker_config (op->keys, rec, &local);
        if (run->config != NULL)
          run->new_doc = g_strdup (rec->doc);
        else
          we_log (G_LOG_LEVEL_WARNING, NULL, "WE-RST-006", "restream %s: its new definition: %s",
                  rec->id, local->message);
      }
      continue;
    }
    /* someone else's to run, or being started here already */
    if (g_hash_table_contains (op->pending, rec->id) ||
        (rec->owner_kernel != NULL && g_strcmp0 (rec->owner_kernel, op->kernel_id) != 0 &&
         rec->lease_until >= now_us))
      continue;
    if (g_strcmp0 (rec->status, "streaming") == 0 || g_strcmp0 (rec->status, "starting") == 0 ||
        g_strcmp0 (rec->status, "error") == 0) {
      /* should run and nobody runs it: resumed after a restart, or
       * adopted from a kernel that died */
      start = g_new0 (TickStart, 1);
      start->id = g_strdup (rec->id);
      g_ptr_array_add (op->start, start);
      continue;
    }
    node = json_from_string (rec->doc, NULL);
    if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
      continue;
    key = schedule_due (json_node_get_object (node), rec->created_at, now, &run_until);
    if (key == NULL || g_strcmp0 (key, rec->fired) == 0)
      continue;
    start = g_new0 (TickStart, 1);
    start->id = g_strdup (rec->id);
    start->fire_key = g_steal_pointer (&key);
    start->run_until = run_until;
    g_ptr_array_add (op->start, start);
  }
  return op;
}

static void tick (WeRestreamManager *self);

static void
tick_run_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  WeRestreamManager *self = WE_RESTREAM_MANAGER (source);
  g_autoptr(TickStart) start = user_data;
  const gchar *id = start->id;
  g_autoptr(GError) error = NULL;

  if (we_restream_manager_run_finish (self, result, &error)) {
    /* said once the claim was won: of kernels that tried, only this one */
    we_log (G_LOG_LEVEL_INFO, NULL, NULL, "restream %s: %s (kernel %s)", id,
            start->fire_key != NULL ? "its schedule started it" : "resumed it", self->kernel_id);
    g_hash_table_remove (self->retry_after, id);
    return;
  }
  /* another kernel won the claim: its to run */
  if (g_error_matches (error, WE_ERROR, WE_ERROR_RST_RUNNING) ||
      g_error_matches (error, WE_ERROR, WE_ERROR_SYS_UNAVAILABLE) ||
      g_error_matches (error, WE_ERROR, WE_ERROR_RST_NOT_FOUND))
    return;
  we_log (G_LOG_LEVEL_WARNING, NULL, "WE-RST-006", "restream %s cannot start: %s", id,
          error->message);
  g_hash_table_insert (self->retry_after, g_strdup (id),
                       g_memdup2 (&(gint64) { g_get_monotonic_time () + RETRY_AFTER_US },
                                  sizeof (gint64)));
}

static gboolean
member_equal (JsonObject *a, JsonObject *b, const gchar *name)
{
  JsonNode *x = json_object_get_member (a, name);
  JsonNode *y = json_object_get_member (b, name);

  if (x == NULL || y == NULL)
    return x == y;
  return json_node_equal (x, y);
}

/* Starts @r's worker again with its (new) config: the old one is asked to
 * stop and the new one starts once it exited (wait_cb), so that the two
 * never publish to a destination at once. */
static void
runner_restart (Runner *r)
{
  g_autoptr(JsonObject) stop = json_object_new ();

  if (r->proc == NULL) {
    /* between two tries: the next one starts with the new config now */
    g_clear_handle_id (&r->respawn_id, g_source_remove);
    spawn_worker (r);
    return;
  }
  if (r->restarting)
    return;
  r->restarting = TRUE;
  json_object_set_string_member (stop, "type", "stop");
  send_msg (r, stop);
  g_timeout_add_seconds_full (G_PRIORITY_DEFAULT, STOP_GRACE_S, kill_cb, g_object_ref (r->proc),
                              g_object_unref);
}

/* A running restream's definition changed (through this kernel or
 * another): a new input, playlist, loop or pacing starts its worker again;
 * destinations are changed in the running worker; the rest (title,
 * description, schedule) needs nothing. */
/* Whether what the worker was started with (inputs, loop, pacing: every
 * member but the destinations and the kernel's own "_" ones) differs. */
static gboolean
worker_config_changed (JsonObject *have, JsonObject *want)
{
  JsonObject *pair[2] = { have, want };

  for (guint k = 0; k < 2; k++) {
    JsonObjectIter iter;
    const gchar *name;
    JsonNode *node;

    json_object_iter_init (&iter, pair[k]);
    while (json_object_iter_next (&iter, &name, &node))
      if (name[0] != '_' && !g_str_equal (name, "destinations") &&
          !member_equal (have, want, name))
        return TRUE;
  }
  return FALSE;
}

static void
runner_reload (Runner *r, JsonObject *config, const gchar *doc)
{
  WeRestreamManager *self = r->self;
  JsonArray *want = we_json_get_array (config, "destinations");
  JsonArray *have = we_json_get_array (r->config, "destinations");
  g_autoptr(GPtrArray) gone = g_ptr_array_new_with_free_func (g_free);
  JsonObjectIter iter;
  const gchar *name;
  JsonNode *node;

  g_free (r->doc);
  r->doc = g_strdup (doc);
  if (worker_config_changed (r->config, config)) {
    we_log (G_LOG_LEVEL_INFO, NULL, NULL,
            "restream %s: its input changed: starting its worker again", r->id);
    json_object_unref (r->config);
    r->config = json_object_ref (config);
    runner_restart (r);
    return;
  }
  /* the kernel's own members (a platform broadcast's title) follow */
  json_object_iter_init (&iter, config);
  while (json_object_iter_next (&iter, &name, &node))
    if (name[0] == '_')
      json_object_set_member (r->config, name, json_node_copy (node));
  for (guint i = 0; have != NULL && i < json_array_get_length (have); i++) {
    const gchar *dest_id = we_json_get_string (json_array_get_object_element (have, i), "id");
    gboolean kept = FALSE;

    for (guint j = 0; want != NULL && j < json_array_get_length (want) && !kept; j++)
      kept = g_strcmp0 (we_json_get_string (json_array_get_object_element (want, j), "id"),
                        dest_id) == 0;
    if (!kept)
      g_ptr_array_add (gone, g_strdup (dest_id));
  }
  for (guint i = 0; i < gone->len; i++)
    we_restream_manager_dest_remove (self, r->id, gone->pdata[i]);
  for (guint i = 0; want != NULL && i < json_array_get_length (want); i++) {
    JsonObject *d = json_array_get_object_element (want, i);
    const gchar *dest_id = we_json_get_string (d, "id");
    const gchar *url = we_json_get_string (d, "url");
    gboolean enabled = we_json_get_bool (d, "enabled", TRUE);
    JsonObject *cur = config_dest (r, dest_id, NULL);

    /* a platform destination's stored URL is a placeholder its runner
     * replaced with the broadcast's: not a change */
    if (cur != NULL && !we_restream_platform_is_placeholder (url) &&
        g_strcmp0 (we_json_get_string (cur, "url"), url) != 0) {
      we_restream_manager_dest_remove (self, r->id, dest_id);
      cur = NULL;
    }
    if (cur == NULL)
      we_restream_manager_dest_add (self, r->id, dest_id, url, enabled);
    else if (we_json_get_bool (cur, "enabled", TRUE) != enabled)
      we_restream_manager_dest_set_enabled (self, r->id, dest_id, enabled);
  }
}

/* Another kernel runs it: what that owner stored (every second) goes out
 * on restream:<id> here as it would on the owner. */
static void
relay_remote (WeRestreamManager *self, GPtrArray *list)
{
  g_autoptr(GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
  GHashTableIter iter;
  gpointer key;

  for (guint i = 0; i < list->len; i++) {
    WeRestreamRecord *rec = list->pdata[i];
    gboolean remote = rec->owner_kernel != NULL &&
                      g_strcmp0 (rec->owner_kernel, self->kernel_id) != 0;
    const gchar *prev = g_hash_table_lookup (self->remote, rec->id);
    g_autofree gchar *text = NULL;

    g_hash_table_add (seen, rec->id);
    if (g_hash_table_contains (self->runners, rec->id) || (!remote && prev == NULL)) {
      g_hash_table_remove (self->remote, rec->id);
      continue;
    }
    text = g_strconcat (rec->status, "\n", rec->stats != NULL ? rec->stats : "", NULL);
    if (g_strcmp0 (prev, text) != 0) {
      g_autoptr(JsonNode) node = rec->stats != NULL ? json_from_string (rec->stats, NULL) : NULL;
      g_autoptr(JsonObject) o = node != NULL && JSON_NODE_HOLDS_OBJECT (node)
                                  ? json_object_ref (json_node_get_object (node))
                                  : json_object_new ();

      if (!json_object_has_member (o, "error"))
        json_object_set_null_member (o, "error");
      if (we_json_get_object (o, "destinations") == NULL)
        json_object_set_object_member (o, "destinations", json_object_new ());
      json_object_set_string_member (o, "restream_id", rec->id);
      json_object_set_string_member (o, "status", rec->status);
      g_signal_emit (self, signals[SIGNAL_EVENT], 0, rec->id, o);
    }
    if (remote)
      g_hash_table_insert (self->remote, g_strdup (rec->id), g_steal_pointer (&text));
    else
      g_hash_table_remove (self->remote, rec->id);
  }
  g_hash_table_iter_init (&iter, self->remote);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    if (!g_hash_table_contains (seen, key))
      g_hash_table_iter_remove (&iter);
}

/* Ends every worker of this kernel without a word to the store: our
 * leases may have run out, so the restreams may be another kernel's now. */
static void
fence_check (WeRestreamManager *self)
{
  g_autoptr(GPtrArray) all = g_ptr_array_new ();
  GHashTableIter iter;
  gpointer value;

  if (g_hash_table_size (self->runners) == 0 ||
      g_get_monotonic_time () - self->lease_ok_us < FENCE_US)
    return;
  we_log (G_LOG_LEVEL_WARNING, NULL, "WE-RST-006",
          "the restream leases could not be renewed for %d s: ending this kernel's %u restream "
          "worker(s) so that another kernel may take them over",
          (gint) (FENCE_US / G_USEC_PER_SEC), g_hash_table_size (self->runners));
  g_hash_table_iter_init (&iter, self->runners);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    g_ptr_array_add (all, value);
  for (guint i = 0; i < all->len; i++)
    runner_end (self, runner_ref (all->pdata[i]), FALSE, NULL);
  for (guint i = 0; i < all->len; i++)
    runner_release (all->pdata[i]);
}

static void
tick_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(WeRestreamManager) self = user_data;
  g_autoptr(GError) error = NULL;
  TickOp *op = we_store_call_finish (WE_STORE (source), result, &error);
  GHashTableIter iter;
  gpointer key, value;

  self->tick_busy = FALSE;
  if (op == NULL) {
    we_log (G_LOG_LEVEL_WARNING, NULL, "WE-RST-006", "restream tick: %s", error->message);
    if (!self->shutting_down)
      fence_check (self);
    return;
  }
  if (self->shutting_down)
    return;
  self->lease_ok_us = MAX (self->lease_ok_us, op->started_us);
  g_hash_table_iter_init (&iter, op->running);
  while (g_hash_table_iter_next (&iter, &key, &value)) {
    TickRunning *run = value;
    Runner *r = g_hash_table_lookup (self->runners, key);

    if (r == NULL || r->serial != run->serial)
      continue;
    if (!run->owned) {
      we_log (G_LOG_LEVEL_INFO, NULL, NULL, "restream %s: %s: ending its worker here", r->id,
              run->taken ? "taken over by another kernel"
                         : "stopped or deleted through another kernel");
      /* the run is over, not handed on: its broadcasts are complete */
      if (!run->taken)
        we_restream_platform_stopped (G_OBJECT (self), r->id);
      runner_end (self, r, FALSE, NULL);
    } else if (run->expired) {
      we_log (G_LOG_LEVEL_INFO, NULL, NULL, "restream %s: its scheduled time is over", r->id);
      runner_end (self, r, TRUE, self->kernel_id);
    } else if (run->config != NULL) {
      runner_reload (r, run->config, run->new_doc);
    }
  }
  for (guint i = 0; i < op->start->len; i++) {
    TickStart *start = op->start->pdata[i];
    gint64 *retry = g_hash_table_lookup (self->retry_after, start->id);

    if (g_hash_table_contains (self->runners, start->id) ||
        g_hash_table_contains (self->pending, start->id) ||
        (retry != NULL && *retry > g_get_monotonic_time ()))
      continue;
    run_claimed_async (self, start->id, start->fire_key == NULL, start->fire_key,
                       start->run_until, tick_run_cb, g_steal_pointer (&op->start->pdata[i]));
  }
  relay_remote (self, op->list);
  if (self->tick_again) {
    self->tick_again = FALSE;
    tick (self);
  }
}

static void
tick (WeRestreamManager *self)
{
  TickOp *op;
  GHashTableIter iter;
  gpointer key, value;

  if (self->tick_busy) {
    self->tick_again = TRUE;
    return;
  }
  self->tick_busy = TRUE;
  op = g_new0 (TickOp, 1);
  op->keys = g_object_ref (self->keys);
  op->kernel_id = g_strdup (self->kernel_id);
  op->start = g_ptr_array_new_with_free_func (tick_start_free);
  op->running = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, tick_running_free);
  op->pending = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  op->started_us = g_get_monotonic_time ();
  g_hash_table_iter_init (&iter, self->runners);
  while (g_hash_table_iter_next (&iter, &key, &value)) {
    Runner *r = value;
    TickRunning *run = g_new0 (TickRunning, 1);

    run->serial = r->serial;
    run->doc = g_strdup (r->doc);
    g_hash_table_insert (op->running, g_strdup (key), run);
  }
  g_hash_table_iter_init (&iter, self->pending);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    g_hash_table_add (op->pending, g_strdup (key));
  /* the op is also the result: the call frees it after tick_done */
  we_store_call_async (self->store, tick_run, op, tick_op_free, NULL, NULL, tick_done,
                       g_object_ref (self));
}

static gboolean
tick_cb (gpointer data)
{
  WeRestreamManager *self = data;

  /* a tick stuck on the store renews nothing either */
  fence_check (self);
  tick (self);
  return G_SOURCE_CONTINUE;
}

void
we_restream_manager_set_kernel (WeRestreamManager *self, const gchar *kernel_id,
                                gboolean cluster)
{
  g_return_if_fail (WE_IS_RESTREAM_MANAGER (self));
  g_return_if_fail (kernel_id != NULL);
  g_free (self->kernel_id);
  self->kernel_id = g_strdup (kernel_id);
  self->cluster = cluster;
}

void
we_restream_manager_reload (WeRestreamManager *self, const gchar *id)
{
  g_return_if_fail (WE_IS_RESTREAM_MANAGER (self));
  /* the tick compares what runs with the store and applies the change */
  if (self->tick_id != 0 && g_hash_table_contains (self->runners, id))
    tick (self);
}

void
we_restream_manager_start_all (WeRestreamManager *self)
{
  g_return_if_fail (WE_IS_RESTREAM_MANAGER (self));
  tick (self);
  if (self->tick_id == 0)
    self->tick_id = g_timeout_add_seconds (1, tick_cb, self);
}

void
we_restream_manager_shutdown (WeRestreamManager *self)
{
  GHashTableIter iter;
  gpointer value;

  g_return_if_fail (WE_IS_RESTREAM_MANAGER (self));
  self->shutting_down = TRUE;
  g_clear_handle_id (&self->tick_id, g_source_remove);
  g_hash_table_iter_init (&iter, self->runners);
  while (g_hash_table_iter_next (&iter, NULL, &value)) {
    Runner *r = value;

    r->gone = TRUE;
    g_clear_handle_id (&r->respawn_id, g_source_remove);
    if (r->cancellable != NULL)
      g_cancellable_cancel (r->cancellable);
    if (r->proc != NULL)
      g_subprocess_force_exit (r->proc);
  }
  g_hash_table_remove_all (self->runners);
  g_hash_table_remove_all (self->pending);
}

/* --- GObject ------------------------------------------------------------------------- */

static void
we_restream_manager_finalize (GObject *object)
{
  WeRestreamManager *self = WE_RESTREAM_MANAGER (object);

  we_restream_manager_shutdown (self);
  g_hash_table_unref (self->runners);
  g_hash_table_unref (self->pending);
  g_hash_table_unref (self->retry_after);
  g_hash_table_unref (self->remote);
  g_free (self->kernel_id);
  g_clear_object (&self->store);
  g_clear_object (&self->keys);
  g_free (self->worker_binary);
  G_OBJECT_CLASS (we_restream_manager_parent_class)->finalize (object);
}

static void
we_restream_manager_class_init (WeRestreamManagerClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = we_restream_manager_finalize;
  /* (id, JsonObject: {restream_id, status, error, destinations}) on every
   * status change and stats report: the WebSocket topic restream:<id> */
  signals[SIGNAL_EVENT] = g_signal_new ("event", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                        0, NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_STRING,
                                        JSON_TYPE_OBJECT);
}

static void
we_restream_manager_init (WeRestreamManager *self)
{
  self->runners = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, runner_release);
  self->pending = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->retry_after = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->remote = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  /* one kernel alone (embedded mode) claims as its host; the daemon names it */
  self->kernel_id = g_strdup (g_get_host_name ());
}

WeRestreamManager *
we_restream_manager_new (WeStore *store, WeContentKeys *keys, const gchar *worker_binary)
{
  WeRestreamManager *self = g_object_new (WE_TYPE_RESTREAM_MANAGER, NULL);

  self->store = g_object_ref (store);
  self->keys = g_object_ref (keys);
  self->worker_binary = g_strdup (worker_binary);
  return self;
}

/* --- helpers --------------------------------------------------------------------------- */

static gchar *
mask_segment (const gchar *segment)
{
  gsize len = strlen (segment);

  if (len == 0)
    return g_strdup ("");
  return g_strconcat ("****", len > 8 ? segment + len - 4 : "", NULL);
}

gchar *
we_restream_mask_url (const gchar *url)
{
  g_autoptr(GUri) uri = url != NULL ? g_uri_parse (url, G_URI_FLAGS_ENCODED, NULL) : NULL;
  g_autoptr(GString) out = NULL;
  const gchar *path, *query, *slash;

  if (uri == NULL)
    return g_strdup ("****");
  out = g_string_new (g_uri_get_scheme (uri));
  g_string_append (out, "://");
  if (g_uri_get_userinfo (uri) != NULL)
    g_string_append (out, "****@");
  g_string_append (out, g_uri_get_host (uri) != NULL ? g_uri_get_host (uri) : "");
  if (g_uri_get_port (uri) > 0)
    g_string_append_printf (out, ":%d", g_uri_get_port (uri));
  path = g_uri_get_path (uri);
  slash = path != NULL ? strrchr (path, '/') : NULL;
  /* rtmp://host/app/KEY: the last segment is the key; a path of one
   * segment (srt://host:port) has none */
  if (slash != NULL && slash != path) {
    g_autofree gchar *masked = mask_segment (slash + 1);

    g_string_append_len (out, path, slash - path + 1);
    g_string_append (out, masked);
  } else if (path != NULL) {
    g_string_append (out, path);
  }
  query = g_uri_get_query (uri);
  if (query != NULL) {
    g_auto(GStrv) pairs = g_strsplit (query, "&", -1);

    for (guint i = 0; pairs[i] != NULL; i++) {
      const gchar *eq = strchr (pairs[i], '=');

      g_string_append_c (out, i == 0 ? '?' : '&');
      if (eq != NULL) {
        g_string_append_len (out, pairs[i], eq - pairs[i]);
        g_string_append (out, "=****");
      } else {
        g_string_append (out, pairs[i]);
      }
    }
  }
  return g_string_free (g_steal_pointer (&out), FALSE);
}

/* Whether @value is in cron field @field (bounds @min..@max); @ok is set
 * FALSE on a malformed field. */
static gboolean
cron_field_matches (const gchar *field, gint value, gint min, gint max, gboolean *ok)
{
  g_auto(GStrv) items = g_strsplit (field, ",", -1);
  gboolean hit = FALSE;

  for (guint i = 0; items[i] != NULL; i++) {
    gchar *item = items[i];
    gchar *slash = strchr (item, '/');
    gint64 step = 1, lo = min, hi = max;
    gchar *end;

    if (slash != NULL) {
      *slash = '\0';
      step = g_ascii_strtoll (slash + 1, &end, 10);
      if (*end != '\0' || slash[1] == '\0' || step < 1) {
        *ok = FALSE;
        return FALSE;
      }
    }
    if (!g_str_equal (item, "*")) {
      gchar *dash = strchr (item, '-');

      if (dash != NULL)
        *dash = '\0';
      lo = g_ascii_strtoll (item, &end, 10);
      if (*end != '\0' || *item == '\0') {
        *ok = FALSE;
        return FALSE;
      }
      hi = lo;
      if (dash != NULL) {
        hi = g_ascii_strtoll (dash + 1, &end, 10);
        if (*end != '\0' || dash[1] == '\0') {
          *ok = FALSE;
          return FALSE;
        }
      } else if (slash != NULL) {
        hi = max;
      }
    }
    if (lo < min || hi > max || lo > hi) {
      *ok = FALSE;
      return FALSE;
    }
    if (value >= lo && value <= hi && (value - lo) % step == 0)
      hit = TRUE;
  }
  return hit;
}

static gboolean
cron_eval (const gchar *expr, GDateTime *when, gboolean *ok)
{
  g_auto(GStrv) fields = g_strsplit_set (expr != NULL ? expr : "", " \t", -1);
  const gchar *f[5];
  guint n = 0;
  gint dow;
  gboolean hit;

  *ok = TRUE;
  for (guint i = 0; fields[i] != NULL; i++)
    if (*fields[i] != '\0') {
      if (n == 5) {
        *ok = FALSE;
        return FALSE;
      }
      f[n++] = fields[i];
    }
  if (n != 5) {
    *ok = FALSE;
    return FALSE;
  }
  if (when == NULL) {
    /* validation only: evaluate every field against its minimum */
    cron_field_matches (f[0], 0, 0, 59, ok);
    cron_field_matches (f[1], 0, 0, 23, ok);
    cron_field_matches (f[2], 1, 1, 31, ok);
    cron_field_matches (f[3], 1, 1, 12, ok);
    cron_field_matches (f[4], 0, 0, 7, ok);
    return FALSE;
  }
  dow = g_date_time_get_day_of_week (when) % 7; /* 0 = Sunday; 7 is Sunday too */
  hit = cron_field_matches (f[0], g_date_time_get_minute (when), 0, 59, ok) &
        cron_field_matches (f[1], g_date_time_get_hour (when), 0, 23, ok) &
        cron_field_matches (f[2], g_date_time_get_day_of_month (when), 1, 31, ok) &
        cron_field_matches (f[3], g_date_time_get_month (when), 1, 12, ok) &
        (cron_field_matches (f[4], dow, 0, 7, ok) ||
         (dow == 0 && cron_field_matches (f[4], 7, 0, 7, ok)));
  return hit && *ok;
}

gboolean
we_restream_cron_valid (const gchar *expr)
{
  gboolean ok;

  cron_eval (expr, NULL, &ok);
  return ok;
}

gboolean
we_restream_cron_matches (const gchar *expr, GDateTime *when)
{
  gboolean ok;

  g_return_val_if_fail (when != NULL, FALSE);
  return cron_eval (expr, when, &ok);
}
