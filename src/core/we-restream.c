/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The restream manager (see we-restream.h). One Runner per restream that
 * should be running: its worker process, the pipes to it and the last
 * stats. A worker that dies while its restream should run is started again
 * after a backoff (1 s doubling to 30 s): a restream never gives up by
 * itself; only a stop, a delete or the end of a playlist that does not loop
 * end it.
 */
#include "config.h"

#include <string.h>

#include "common/we-json.h"
#include "common/we-log.h"
#include "core/we-restream.h"
#include "core/we-stream-keys.h"

#define RESPAWN_MIN_S      1
#define RESPAWN_MAX_S      30
#define PERSIST_EVERY_US   (5 * G_USEC_PER_SEC)
#define MAX_LINE           65536
#define STOP_GRACE_S       3

struct _WeRestreamManager {
  GObject        parent;
  WeStore       *store;
  WeContentKeys *keys;
  gchar         *worker_binary;
  GHashTable    *runners;      /* id → Runner */
  guint          tick_id;
  gboolean       tick_busy;
  gboolean       shutting_down;
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

/* --- store writes (fire and forget) ------------------------------------------ */

typedef struct {
  gchar *id;
  gchar *status;
  gchar *stats;
} StateWrite;

static void
state_write_free (gpointer data)
{
  StateWrite *w = data;

  g_free (w->id);
  g_free (w->status);
  g_free (w->stats);
  g_free (w);
}

static gpointer
state_write_run (WeStore *store, gpointer data, GError **error)
{
  StateWrite *w = data;

  if (!we_store_restream_set_state (store, w->id, w->status, w->stats, error))
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

static void
write_state (WeRestreamManager *self, const gchar *id, const gchar *status,
             const gchar *error, JsonObject *dests)
{
  StateWrite *w = g_new0 (StateWrite, 1);
  g_autoptr(JsonObject) stats = stats_object (error, dests);
  g_autoptr(JsonNode) node = json_node_init_object (json_node_alloc (), stats);

  w->id = g_strdup (id);
  w->status = g_strdup (status);
  w->stats = json_to_string (node, FALSE);
  we_store_call_async (self->store, state_write_run, w, state_write_free, NULL, NULL,
                       state_write_done, NULL);
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
    g_free (r->error);
    r->error = g_strdup (error);
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
  emit_event (r);
  if (state_changed || g_get_monotonic_time () - r->last_persist_us >= PERSIST_EVERY_US) {
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
  if (clean && we_json_get_bool (r->config, "_finished", FALSE)) {
    we_log (G_LOG_LEVEL_INFO, NULL, NULL, "restream %s finished its playlist", r->id);
    runner_set_status (r, "stopped", NULL);
    runner_remove (self, r, FALSE);
    runner_release (r);
    return;
  }
  if (self->shutting_down) {
    runner_release (r);
    return;
  }
  we_log (G_LOG_LEVEL_WARNING, NULL, "WE-RST-006",
          "restream %s: its worker exited (%s); starting it again in %u s", r->id,
          r->error != NULL ? r->error : "no reason given", r->respawn_delay_s);
  runner_set_status (r, "error", r->error != NULL ? r->error : "the restream worker exited");
  r->respawn_id = g_timeout_add_seconds (r->respawn_delay_s, respawn_cb, r);
  r->respawn_delay_s = MIN (r->respawn_delay_s * 2, RESPAWN_MAX_S);
  runner_release (r);
}

static void
spawn_worker (Runner *r)
{
  const gchar *argv[] = { r->self->worker_binary, "--restream", NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) start = json_object_new ();
  GList *members;

  r->proc = g_subprocess_newv (argv, G_SUBPROCESS_FLAGS_STDIN_PIPE |
                                         G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error);
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
  json_object_set_boolean_member (config, "simulate_live",
                                  we_json_get_bool (doc, "simulate_live", TRUE));
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
  JsonObject    *config;
  gint64         run_until;
} RunOp;

static void
run_op_free (gpointer data)
{
  RunOp *op = data;

  g_object_unref (op->keys);
  g_free (op->id);
  g_clear_pointer (&op->config, json_object_unref);
  g_free (op);
}

static gpointer
run_op_run (WeStore *store, gpointer data, GError **error)
{
  RunOp *op = data;
  g_autoptr(WeRestreamRecord) record = we_store_restream_get (store, op->id, error);
  g_autoptr(JsonNode) node = NULL;

  if (record == NULL)
    return NULL;
  op->config = worker_config (op->keys, record, error);
  if (op->config == NULL)
    return NULL;
  node = json_from_string (record->doc, NULL);
  if (node != NULL && JSON_NODE_HOLDS_OBJECT (node)) {
    JsonObject *sched = we_json_get_object (json_node_get_object (node), "schedule_state");

    if (sched != NULL)
      op->run_until = we_json_get_int (sched, "run_until", 0);
  }
  /* status "starting" now, so a restart in between resumes it */
  if (!we_store_restream_set_state (store, op->id, "starting", NULL, error))
    return NULL;
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
  r = g_atomic_rc_box_new0 (Runner);
  r->self = self;
  r->id = g_strdup (op->id);
  r->config = g_steal_pointer (&op->config);
  r->dests = json_object_new ();
  r->status = g_strdup ("stopped");
  r->run_until = op->run_until;
  r->respawn_delay_s = RESPAWN_MIN_S;
  g_hash_table_insert (self->runners, r->id, r);
  spawn_worker (r);
  g_task_return_boolean (task, TRUE);
}

void
we_restream_manager_run_async (WeRestreamManager *self, const gchar *id,
                               GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new (self, NULL, callback, user_data);
  RunOp *op = g_new0 (RunOp, 1);

  g_return_if_fail (WE_IS_RESTREAM_MANAGER (self));
  op->keys = g_object_ref (self->keys);
  op->id = g_strdup (id);
  /* the op is also the result: the call frees it after run_op_done */
  we_store_call_async (self->store, run_op_run, op, run_op_free, NULL, NULL, run_op_done, task);
}

gboolean
we_restream_manager_run_finish (WeRestreamManager *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

void
we_restream_manager_stop (WeRestreamManager *self, const gchar *id)
{
  Runner *r = g_hash_table_lookup (self->runners, id);

  if (r != NULL) {
    g_autoptr(JsonObject) stop = json_object_new ();

    json_object_set_string_member (stop, "type", "stop");
    send_msg (r, stop);
    g_free (r->status);
    r->status = g_strdup ("stopped");
    emit_event (r);
    write_state (self, id, "stopped", NULL, r->dests);
    runner_remove (self, r, TRUE);
    return;
  }
  write_state (self, id, "stopped", NULL, NULL);
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

static void
run_logged_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autofree gchar *id = user_data;
  g_autoptr(GError) error = NULL;

  if (!we_restream_manager_run_finish (WE_RESTREAM_MANAGER (source), result, &error) &&
      !g_error_matches (error, WE_ERROR, WE_ERROR_SYS_UNAVAILABLE))
    we_log (G_LOG_LEVEL_WARNING, NULL, "WE-RST-006", "restream %s cannot start: %s", id,
            error->message);
}

/* What the tick decided, per restream, on the store's thread. */
typedef struct {
  GPtrArray *start;     /* ids to run */
  GPtrArray *stop;      /* ids whose run_until passed */
  gboolean   resume;    /* first tick: run what was starting or streaming */
  GHashTable *running;  /* ids running here (copied on the main loop) */
} TickOp;

static void
tick_op_free (gpointer data)
{
  TickOp *op = data;

  g_ptr_array_unref (op->start);
  g_ptr_array_unref (op->stop);
  g_hash_table_unref (op->running);
  g_free (op);
}

/* Stores @doc back into @record. */
static gboolean
put_doc (WeStore *store, WeRestreamRecord *record, JsonObject *doc, GError **error)
{
  g_autoptr(JsonNode) node = json_node_init_object (json_node_alloc (), doc);

  g_free (record->doc);
  record->doc = json_to_string (node, FALSE);
  return we_store_restream_put (store, record, error);
}

static gpointer
tick_run (WeStore *store, gpointer data, GError **error)
{
  TickOp *op = data;
  g_autoptr(GPtrArray) list = we_store_restream_list (store, error);
  g_autoptr(GDateTime) now = g_date_time_new_now_local ();
  gint64 now_s = g_date_time_to_unix (now);
  g_autofree gchar *minute = g_date_time_format (now, "%Y%m%d%H%M");

  if (list == NULL)
    return NULL;
  for (guint i = 0; i < list->len; i++) {
    WeRestreamRecord *rec = list->pdata[i];
    g_autoptr(JsonNode) node = json_from_string (rec->doc, NULL);
    gboolean running = g_hash_table_contains (op->running, rec->id);
    JsonObject *doc, *sched, *state;
    const gchar *type;

    if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
      continue;
    doc = json_node_get_object (node);
    sched = we_json_get_object (doc, "schedule_config");
    state = we_json_get_object (doc, "schedule_state");
    type = we_json_get_string (doc, "schedule_type");
    if (op->resume && !running &&
        (g_strcmp0 (rec->status, "streaming") == 0 || g_strcmp0 (rec->status, "starting") == 0 ||
         g_strcmp0 (rec->status, "error") == 0)) {
      g_ptr_array_add (op->start, g_strdup (rec->id));
      continue;
    }
    if (running && state != NULL && we_json_get_int (state, "run_until", 0) > 0 &&
        we_json_get_int (state, "run_until", 0) <= now_s) {
      json_object_remove_member (state, "run_until");
      if (!put_doc (store, rec, doc, error))
        return NULL;
      g_ptr_array_add (op->stop, g_strdup (rec->id));
      continue;
    }
    if (running || sched == NULL)
      continue;
    if (state == NULL) {
      state = json_object_new ();
      json_object_set_object_member (doc, "schedule_state", state);
    }
    if (g_strcmp0 (type, "scheduled") == 0) {
      g_autoptr(GDateTime) at = NULL;
      const gchar *at_text = we_json_get_string (sched, "at");

      at = at_text != NULL ? g_date_time_new_from_iso8601 (at_text, NULL) : NULL;
      if (at == NULL || g_date_time_to_unix (at) > now_s ||
          we_json_get_int (state, "fired_at", 0) == g_date_time_to_unix (at))
        continue;
      json_object_set_int_member (state, "fired_at", g_date_time_to_unix (at));
    } else if (g_strcmp0 (type, "recurring") == 0) {
      const gchar *cron = we_json_get_string (sched, "cron");

      if (cron == NULL || !we_restream_cron_matches (cron, now) ||
          g_strcmp0 (we_json_get_string (state, "fired_minute"), minute) == 0)
        continue;
      json_object_set_string_member (state, "fired_minute", minute);
    } else {
      continue;
    }
    if (we_json_get_int (sched, "duration_s", 0) > 0)
      json_object_set_int_member (state, "run_until",
                                  now_s + we_json_get_int (sched, "duration_s", 0));
    if (!put_doc (store, rec, doc, error))
      return NULL;
    g_ptr_array_add (op->start, g_strdup (rec->id));
  }
  return op;
}

static gboolean tick_cb (gpointer data);

static void
tick_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(WeRestreamManager) self = user_data;
  g_autoptr(GError) error = NULL;
  TickOp *op = we_store_call_finish (WE_STORE (source), result, &error);

  self->tick_busy = FALSE;
  if (op == NULL) {
    we_log (G_LOG_LEVEL_WARNING, NULL, "WE-RST-006", "restream schedules: %s", error->message);
    return;
  }
  if (self->shutting_down)
    return;
  for (guint i = 0; i < op->stop->len; i++) {
    we_log (G_LOG_LEVEL_INFO, NULL, NULL, "restream %s: its scheduled time is over",
            (const gchar *) op->stop->pdata[i]);
    we_restream_manager_stop (self, op->stop->pdata[i]);
  }
  for (guint i = 0; i < op->start->len; i++) {
    we_log (G_LOG_LEVEL_INFO, NULL, NULL, "restream %s: %s", (const gchar *) op->start->pdata[i],
            op->resume ? "resuming" : "its schedule starts it");
    we_restream_manager_run_async (self, op->start->pdata[i], run_logged_cb,
                                   g_strdup (op->start->pdata[i]));
  }
}

static void
tick (WeRestreamManager *self, gboolean resume)
{
  TickOp *op;
  GHashTableIter iter;
  gpointer key;

  if (self->tick_busy)
    return;
  self->tick_busy = TRUE;
  op = g_new0 (TickOp, 1);
  op->start = g_ptr_array_new_with_free_func (g_free);
  op->stop = g_ptr_array_new_with_free_func (g_free);
  op->resume = resume;
  op->running = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_hash_table_iter_init (&iter, self->runners);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    g_hash_table_add (op->running, g_strdup (key));
  /* the op is also the result: the call frees it after tick_done */
  we_store_call_async (self->store, tick_run, op, tick_op_free, NULL, NULL, tick_done,
                       g_object_ref (self));
}

static gboolean
tick_cb (gpointer data)
{
  tick (WE_RESTREAM_MANAGER (data), FALSE);
  return G_SOURCE_CONTINUE;
}

void
we_restream_manager_start_all (WeRestreamManager *self)
{
  g_return_if_fail (WE_IS_RESTREAM_MANAGER (self));
  tick (self, TRUE);
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
}

/* --- GObject ------------------------------------------------------------------------- */

static void
we_restream_manager_finalize (GObject *object)
{
  WeRestreamManager *self = WE_RESTREAM_MANAGER (object);

  we_restream_manager_shutdown (self);
  g_hash_table_unref (self->runners);
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
