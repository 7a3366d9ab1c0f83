/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "we-queue-local.h"

#include <signal.h>
#include <string.h>
#include <webencode/we-error.h>

#include "common/we-json.h"
#include "common/we-job.h"
#include "common/we-worker-protocol.h"

#define WE_QUEUE_LOCAL_READ_CHUNK      (64 * 1024)
#define WE_QUEUE_LOCAL_CANCEL_GRACE_MS 2000
#define WE_QUEUE_LOCAL_STOP_GRACE_MS   2000
#define WE_QUEUE_LOCAL_EOF_GRACE_MS    1000
#define WE_QUEUE_LOCAL_DRAIN_GRACE_MS  500
#define WE_QUEUE_LOCAL_BACKOFF_MIN_MS  500
#define WE_QUEUE_LOCAL_BACKOFF_MAX_MS  30000
#define WE_QUEUE_LOCAL_CRASH_LOOP_US   (10 * G_TIME_SPAN_SECOND)
#define WE_QUEUE_LOCAL_STABLE_US       (60 * G_TIME_SPAN_SECOND)

typedef enum {
  WE_QUEUE_CHILD_STARTING,   /* spawned, no hello yet */
  WE_QUEUE_CHILD_IDLE,
  WE_QUEUE_CHILD_BUSY,
  WE_QUEUE_CHILD_RESTARTING, /* dead or dying; a new process is due */
  WE_QUEUE_CHILD_STOPPED,    /* the queue stopped, or the child is being removed */
} WeQueueChildState;

typedef struct _WeQueueChild WeQueueChild;

/* One process of a slot. Async callbacks hold a reference and check @child,
 * which is cleared once this process is over (it exited, or the queue went
 * away), so a late callback never acts on a newer process of the slot. */
typedef struct {
  grefcount      ref;
  WeQueueChild  *child;
  GSubprocess   *subprocess;
  GPid           pid;
  GOutputStream *stdin_pipe;
  GInputStream  *stdout_pipe;
  GCancellable  *cancellable;
  GByteArray    *inbuf;
  GQueue         writes;     /* (element-type GBytes) */
  gboolean       writing;
  gboolean       killed;
  gboolean       eof;
  gboolean       exited;
  guint          eof_kill_id;
  guint          drain_id;
  gint64         started_us;
} WeQueueProc;

struct _WeQueueChild {
  WeQueueLocal      *queue;  /* not owned */
  gchar             *id;
  WeQueueChildState  state;
  WeQueueProc       *proc;   /* nullable */
  gchar             *task_id;
  JsonObject        *capabilities;
  guint              restarts;
  guint              backoff_ms;
  guint              respawn_id;
  guint              stall_id;
  guint              cancel_kill_id;
  guint              remove_kill_id;
  gint64             last_report_us;
  gboolean           cancel_requested;
  gchar             *kill_reason; /* completes "worker local-N …" */
  /* survives restarts: an operator's drain outlives a crash of the child */
  gboolean           draining;
  /* removed children are out of every listing and count, and are forgotten
   * once their process is over */
  gboolean           removed;
  gchar             *version;        /* from the hello, nullable */
  gint64             last_message;   /* wall clock, µs; 0 = nothing yet */
  gint64             started_at;     /* wall clock of the current process */
};

struct _WeQueueLocal {
  GObject     parent_instance;

  GStrv       argv;
  guint       count;
  JsonObject *configure;
  guint       stall_timeout_s;

  GPtrArray  *children;  /* (element-type WeQueueChild) */
  GHashTable *tasks;     /* task id → WeQueueChild (not owned) */
  gboolean    started;
  gboolean    stopping;
  guint       stop_kill_id;
};

static void we_queue_local_iface_init (WeQueueInterface *iface);

G_DEFINE_TYPE_WITH_CODE (WeQueueLocal, we_queue_local, G_TYPE_OBJECT,
                         G_IMPLEMENT_INTERFACE (WE_TYPE_QUEUE, we_queue_local_iface_init))

static void we_queue_proc_read_next (WeQueueProc *proc);
static void we_queue_child_exited (WeQueueChild *child, WeQueueProc *proc);
static gboolean we_queue_child_spawn (WeQueueChild *child, GError **error);

static const gchar *
we_queue_child_state_to_string (WeQueueChildState state)
{
  switch (state) {
  case WE_QUEUE_CHILD_STARTING:
    return "starting";
  case WE_QUEUE_CHILD_IDLE:
    return "idle";
  case WE_QUEUE_CHILD_BUSY:
    return "busy";
  case WE_QUEUE_CHILD_RESTARTING:
    return "restarting";
  case WE_QUEUE_CHILD_STOPPED:
  default:
    return "stopped";
  }
}

/* Whether a task may be handed to @child now. */
static gboolean
we_queue_child_is_free (WeQueueChild *child)
{
  return child->state == WE_QUEUE_CHILD_IDLE && !child->draining && !child->removed;
}

/* ---- process incarnations --------------------------------------------- */

static WeQueueProc *
we_queue_proc_ref (WeQueueProc *proc)
{
  g_ref_count_inc (&proc->ref);
  return proc;
}

static void
we_queue_proc_unref (WeQueueProc *proc)
{
  if (!g_ref_count_dec (&proc->ref))
    return;
  g_clear_handle_id (&proc->eof_kill_id, g_source_remove);
  g_clear_handle_id (&proc->drain_id, g_source_remove);
  g_queue_clear_full (&proc->writes, (GDestroyNotify) g_bytes_unref);
  g_byte_array_unref (proc->inbuf);
  g_clear_object (&proc->cancellable);
  g_clear_object (&proc->stdin_pipe);
  g_clear_object (&proc->stdout_pipe);
  /* GSubprocess reaps the process itself even when nobody waits for it */
  g_clear_object (&proc->subprocess);
  g_free (proc);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeQueueProc, we_queue_proc_unref)

static void
we_queue_proc_kill (WeQueueProc *proc)
{
  proc->killed = TRUE;
  g_subprocess_force_exit (proc->subprocess);
}

static void
we_queue_proc_write_next (WeQueueProc *proc);

static void
we_queue_proc_write_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(WeQueueProc) proc = user_data;
  g_autoptr(GError) error = NULL;

  g_bytes_unref (g_queue_pop_head (&proc->writes));
  proc->writing = FALSE;
  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), res, NULL, &error)) {
    /* the process is gone or going; its exit is handled by the wait */
    if (proc->child != NULL)
      g_debug ("writing to worker %s failed: %s", proc->child->id, error->message);
    g_queue_clear_full (&proc->writes, (GDestroyNotify) g_bytes_unref);
    return;
  }
  we_queue_proc_write_next (proc);
}

static void
we_queue_proc_write_next (WeQueueProc *proc)
{
  GBytes *bytes = g_queue_peek_head (&proc->writes);
  gsize size = 0;
  gconstpointer data;

  if (proc->writing || bytes == NULL)
    return;
  proc->writing = TRUE;
  data = g_bytes_get_data (bytes, &size);
  g_output_stream_write_all_async (proc->stdin_pipe, data, size, G_PRIORITY_DEFAULT,
                                   proc->cancellable, we_queue_proc_write_cb,
                                   we_queue_proc_ref (proc));
}

static void
we_queue_proc_send (WeQueueProc *proc, JsonObject *msg)
{
  gchar *line = we_worker_msg_serialize (msg);

  g_queue_push_tail (&proc->writes, g_bytes_new_take (line, strlen (line)));
  we_queue_proc_write_next (proc);
}

/* ---- children ----------------------------------------------------------- */

static void
we_queue_child_free (WeQueueChild *child)
{
  g_clear_handle_id (&child->respawn_id, g_source_remove);
  g_clear_handle_id (&child->stall_id, g_source_remove);
  g_clear_handle_id (&child->cancel_kill_id, g_source_remove);
  g_clear_handle_id (&child->remove_kill_id, g_source_remove);
  if (child->proc != NULL)
    child->proc->child = NULL;
  g_clear_pointer (&child->proc, we_queue_proc_unref);
  g_clear_pointer (&child->capabilities, json_object_unref);
  g_free (child->task_id);
  g_free (child->kill_reason);
  g_free (child->version);
  g_free (child->id);
  g_free (child);
}

/* Kills the child's process; the exit is then reported like any crash,
 * with @reason in place of the exit status. */
static void
we_queue_child_kill (WeQueueChild *child, const gchar *reason)
{
  if (child->proc == NULL || child->proc->killed)
    return;
  g_warning ("worker %s (pid %d) %s", child->id, (gint) child->proc->pid, reason);
  if (child->kill_reason == NULL)
    child->kill_reason = g_strdup (reason);
  /* a dying process is no free slot */
  if (child->state == WE_QUEUE_CHILD_IDLE || child->state == WE_QUEUE_CHILD_STARTING)
    child->state = WE_QUEUE_CHILD_RESTARTING;
  we_queue_proc_kill (child->proc);
}

static void
we_queue_child_clear_task (WeQueueChild *child)
{
  g_clear_handle_id (&child->stall_id, g_source_remove);
  g_clear_handle_id (&child->cancel_kill_id, g_source_remove);
  if (child->task_id != NULL)
    g_hash_table_remove (child->queue->tasks, child->task_id);
  g_clear_pointer (&child->task_id, g_free);
  child->cancel_requested = FALSE;
}

static gboolean
we_queue_message_is_final (const gchar *type)
{
  return g_strcmp0 (type, "done") == 0 || g_strcmp0 (type, "failed") == 0 ||
         g_strcmp0 (type, "cancelled") == 0;
}

static void
we_queue_child_handle_line (WeQueueChild *child, const gchar *line, gsize length)
{
  WeQueueLocal *self = child->queue;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) msg = NULL;
  g_autofree gchar *task_id = NULL;
  const gchar *type;

  msg = we_worker_msg_parse (line, length, &error);
  if (msg == NULL) {
    /* the worker keeps its stdout for the protocol alone, so garbage means
     * it is broken: do not trust anything else it says */
    g_autofree gchar *reason = g_strdup_printf ("broke the protocol (%s) and was killed",
                                                error->message);
    we_queue_child_kill (child, reason);
    return;
  }
  /* the pipe is the local worker's heartbeat: any well-formed line counts */
  child->last_message = g_get_real_time ();
  if (self->stopping)
    return;

  type = we_worker_msg_type (msg);
  if (g_strcmp0 (type, "hello") == 0) {
    JsonNode *caps = json_object_get_member (msg, "capabilities");

    if (child->state != WE_QUEUE_CHILD_STARTING)
      return;
    g_clear_pointer (&child->capabilities, json_object_unref);
    child->capabilities = caps != NULL && JSON_NODE_HOLDS_OBJECT (caps)
                            ? json_object_ref (json_node_get_object (caps))
                            : json_object_new ();
    g_free (child->version);
    child->version = g_strdup (we_json_get_string (msg, "version"));
    child->state = WE_QUEUE_CHILD_IDLE;
    g_info ("worker %s (pid %d) is ready", child->id, (gint) child->proc->pid);
    we_queue_emit_slots_changed (WE_QUEUE (self));
    return;
  }
  /* pipeline and log: what the task ran, for introspection (issue 8) */
  if (g_strcmp0 (type, "probe") != 0 && g_strcmp0 (type, "progress") != 0 &&
      g_strcmp0 (type, "pipeline") != 0 && g_strcmp0 (type, "log") != 0 &&
      !we_queue_message_is_final (type)) {
    g_debug ("ignoring \"%s\" message from worker %s", type, child->id);
    return;
  }
  if (child->state != WE_QUEUE_CHILD_BUSY ||
      g_strcmp0 (we_json_get_string (msg, "task_id"), child->task_id) != 0) {
    /* e.g. a report that crossed a kill: the task is accounted for */
    g_debug ("ignoring stale \"%s\" message from worker %s", type, child->id);
    return;
  }
  child->last_report_us = g_get_monotonic_time ();
  if (!we_queue_message_is_final (type)) {
    we_queue_emit_task_event (WE_QUEUE (self), child->task_id, msg);
    return;
  }

  /* free the slot before telling anyone, so a handler can dispatch into it */
  task_id = g_strdup (child->task_id);
  we_queue_child_clear_task (child);
  child->state = WE_QUEUE_CHILD_IDLE;
  we_queue_emit_task_event (WE_QUEUE (self), task_id, msg);
  we_queue_emit_slots_changed (WE_QUEUE (self));
}

static gboolean
we_queue_proc_eof_kill_cb (gpointer user_data)
{
  WeQueueProc *proc = user_data;

  proc->eof_kill_id = 0;
  if (proc->child != NULL)
    we_queue_child_kill (proc->child, "closed its output and was killed");
  return G_SOURCE_REMOVE;
}

static void
we_queue_proc_read_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(WeQueueProc) proc = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(WeQueueLocal) self = NULL;
  gsize consumed = 0;

  bytes = g_input_stream_read_bytes_finish (G_INPUT_STREAM (source), res, &error);
  if (proc->child == NULL)
    return;
  /* a handler may drop the last reference to the queue */
  self = g_object_ref (proc->child->queue);

  if (bytes == NULL) {
    g_autofree gchar *reason = g_strdup_printf ("could not be read (%s) and was killed",
                                                error->message);
    we_queue_child_kill (proc->child, reason);
    return;
  }
  if (g_bytes_get_size (bytes) == 0) {
    proc->eof = TRUE;
    if (proc->exited) {
      we_queue_child_exited (proc->child, proc);
      return;
    }
    /* normally the exit follows at once and reports the real status; a
     * process that closed stdout but lives on is of no use either */
    if (proc->child->state == WE_QUEUE_CHILD_IDLE)
      proc->child->state = WE_QUEUE_CHILD_RESTARTING;
    proc->eof_kill_id = g_timeout_add (WE_QUEUE_LOCAL_EOF_GRACE_MS, we_queue_proc_eof_kill_cb,
                                       proc);
    return;
  }

  g_byte_array_append (proc->inbuf, g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
  while (proc->child != NULL && !proc->killed) {
    const guint8 *start = proc->inbuf->data + consumed;
    const guint8 *nl = memchr (start, '\n', proc->inbuf->len - consumed);
    gsize length;

    if (nl == NULL)
      break;
    length = (gsize) (nl - start);
    consumed += length + 1;
    if (length > WE_WORKER_MAX_LINE) {
      we_queue_child_kill (proc->child, "sent an over-long line and was killed");
      return;
    }
    if (length > 0)
      we_queue_child_handle_line (proc->child, (const gchar *) start, length);
  }
  g_byte_array_remove_range (proc->inbuf, 0, consumed);
  if (proc->child == NULL || proc->killed)
    return;
  /* a child can make us buffer at most one line's worth */
  if (proc->inbuf->len > WE_WORKER_MAX_LINE) {
    we_queue_child_kill (proc->child, "sent an over-long line and was killed");
    return;
  }
  we_queue_proc_read_next (proc);
}

static void
we_queue_proc_read_next (WeQueueProc *proc)
{
  g_input_stream_read_bytes_async (proc->stdout_pipe, WE_QUEUE_LOCAL_READ_CHUNK,
                                   G_PRIORITY_DEFAULT, proc->cancellable,
                                   we_queue_proc_read_cb, we_queue_proc_ref (proc));
}

static gboolean
we_queue_proc_drain_cb (gpointer user_data)
{
  WeQueueProc *proc = user_data;

  proc->drain_id = 0;
  if (proc->child != NULL)
    we_queue_child_exited (proc->child, proc);
  return G_SOURCE_REMOVE;
}

static void
we_queue_proc_wait_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(WeQueueProc) proc = user_data;

  /* the wait has no cancellable, so this only fails for a vanished process */
  g_subprocess_wait_finish (G_SUBPROCESS (source), res, NULL);
  proc->exited = TRUE;
  if (proc->child == NULL)
    return;
  /* the exit can overtake the last lines in the pipe: a "done" written just
   * before a crash must still count, so read to EOF first (bounded, in case
   * something else holds the pipe open) */
  if (proc->eof || proc->killed)
    we_queue_child_exited (proc->child, proc);
  else
    proc->drain_id = g_timeout_add (WE_QUEUE_LOCAL_DRAIN_GRACE_MS, we_queue_proc_drain_cb, proc);
}

static gboolean
we_queue_child_respawn_cb (gpointer user_data)
{
  WeQueueChild *child = user_data;
  g_autoptr(GError) error = NULL;

  child->respawn_id = 0;
  if (child->queue->stopping)
    return G_SOURCE_REMOVE;
  if (!we_queue_child_spawn (child, &error)) {
    child->backoff_ms = child->backoff_ms == 0
                          ? WE_QUEUE_LOCAL_BACKOFF_MIN_MS
                          : MIN (child->backoff_ms * 2, WE_QUEUE_LOCAL_BACKOFF_MAX_MS);
    g_warning ("cannot restart worker %s: %s; next try in %u ms", child->id, error->message,
               child->backoff_ms);
    child->respawn_id = g_timeout_add (child->backoff_ms, we_queue_child_respawn_cb, child);
  }
  return G_SOURCE_REMOVE;
}

static gboolean
we_queue_local_all_stopped (WeQueueLocal *self)
{
  for (guint i = 0; i < self->children->len; i++) {
    WeQueueChild *child = g_ptr_array_index (self->children, i);

    if (child->proc != NULL)
      return FALSE;
  }
  return TRUE;
}

static void
we_queue_child_exited (WeQueueChild *child, WeQueueProc *proc)
{
  WeQueueLocal *self = child->queue;
  g_autoptr(WeQueueLocal) keep = g_object_ref (self);
  g_autofree gchar *task_id = NULL;
  g_autofree gchar *reason = NULL;
  g_autofree gchar *status = NULL;
  gboolean cancel_requested = child->cancel_requested;
  gint64 uptime = g_get_monotonic_time () - proc->started_us;
  guint delay_ms = 0;

  g_assert (child->proc == proc);

  if (g_subprocess_get_if_signaled (proc->subprocess))
    status = g_strdup_printf ("signal %d", g_subprocess_get_term_sig (proc->subprocess));
  else
    status = g_strdup_printf ("status %d", g_subprocess_get_exit_status (proc->subprocess));

  /* this process is over: late callbacks of it must do nothing */
  proc->child = NULL;
  g_cancellable_cancel (proc->cancellable);
  g_clear_handle_id (&proc->eof_kill_id, g_source_remove);
  g_clear_handle_id (&proc->drain_id, g_source_remove);
  g_clear_handle_id (&child->remove_kill_id, g_source_remove);
  g_clear_pointer (&child->proc, we_queue_proc_unref);
  g_clear_pointer (&child->capabilities, json_object_unref);

  task_id = g_strdup (child->task_id);
  we_queue_child_clear_task (child);
  reason = g_steal_pointer (&child->kill_reason);

  if (self->stopping) {
    g_info ("worker %s exited (%s)", child->id, status);
    child->state = WE_QUEUE_CHILD_STOPPED;
    if (we_queue_local_all_stopped (self))
      g_clear_handle_id (&self->stop_kill_id, g_source_remove);
    return;
  }

  if (child->removed) {
    g_info ("worker %s exited (%s) after its removal", child->id, status);
    child->state = WE_QUEUE_CHILD_STOPPED;
  } else {
    /* back off only from a crash loop; a long-lived worker comes back at once */
    if (uptime < WE_QUEUE_LOCAL_CRASH_LOOP_US) {
      child->backoff_ms = child->backoff_ms == 0
                            ? WE_QUEUE_LOCAL_BACKOFF_MIN_MS
                            : MIN (child->backoff_ms * 2, WE_QUEUE_LOCAL_BACKOFF_MAX_MS);
      delay_ms = child->backoff_ms;
    } else if (uptime >= WE_QUEUE_LOCAL_STABLE_US) {
      child->backoff_ms = 0;
    }
    g_warning ("worker %s exited unexpectedly (%s)%s%s; restarting in %u ms", child->id, status,
               task_id != NULL ? " while running task " : "", task_id != NULL ? task_id : "",
               delay_ms);
    child->state = WE_QUEUE_CHILD_RESTARTING;
    child->restarts++;
    child->respawn_id = g_timeout_add (delay_ms, we_queue_child_respawn_cb, child);
  }

  if (task_id != NULL) {
    g_autoptr(JsonObject) msg = json_object_new ();

    if (cancel_requested) {
      /* it was going away anyway: what the caller asked for happened */
      json_object_set_string_member (msg, "type", "cancelled");
      json_object_set_string_member (msg, "task_id", task_id);
    } else {
      g_autofree gchar *message = NULL;

      if (reason != NULL)
        message = g_strdup_printf ("worker %s %s", child->id, reason);
      else
        message = g_strdup_printf ("worker %s exited unexpectedly (%s)", child->id, status);
      json_object_set_string_member (msg, "type", "failed");
      json_object_set_string_member (msg, "task_id", task_id);
      json_object_set_string_member (msg, "code",
                                     we_error_code_to_string (WE_ERROR_WRK_COMMUNICATION));
      json_object_set_string_member (msg, "message", message);
      json_object_set_boolean_member (msg, "retryable", TRUE);
    }
    we_queue_emit_task_event (WE_QUEUE (self), task_id, msg);
  }
  /* nothing refers to a removed child once its process is over */
  if (child->removed && !self->stopping)
    g_ptr_array_remove (self->children, child);
  if (!self->stopping)
    we_queue_emit_slots_changed (WE_QUEUE (self));
}

static JsonObject *
we_queue_local_configure_for (WeQueueLocal *self, WeQueueChild *child)
{
  JsonObject *msg = json_object_new ();

  if (self->configure != NULL) {
    g_autoptr(GList) names = json_object_get_members (self->configure);

    for (GList *l = names; l != NULL; l = l->next)
      json_object_set_member (msg, l->data,
                              json_node_copy (json_object_get_member (self->configure, l->data)));
  }
  json_object_set_string_member (msg, "type", "configure");
  json_object_set_string_member (msg, "worker_id", child->id);
  return msg;
}

static gboolean
we_queue_child_spawn (WeQueueChild *child, GError **error)
{
  WeQueueLocal *self = child->queue;
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GSubprocess) subprocess = NULL;
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(JsonObject) configure = NULL;
  WeQueueProc *proc;
  const gchar *ident;

  for (guint i = 0; self->argv[i] != NULL; i++)
    g_ptr_array_add (argv, self->argv[i]);
  g_ptr_array_add (argv, (gpointer) "--worker-id");
  g_ptr_array_add (argv, child->id);
  g_ptr_array_add (argv, NULL);

  /* stderr is inherited: the worker's JSON log joins ours */
  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDIN_PIPE |
                                        G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  subprocess = g_subprocess_launcher_spawnv (launcher, (const gchar * const *) argv->pdata,
                                             error);
  if (subprocess == NULL) {
    g_prefix_error (error, "cannot start worker %s: ", child->id);
    return FALSE;
  }

  proc = g_new0 (WeQueueProc, 1);
  g_ref_count_init (&proc->ref);
  proc->child = child;
  proc->subprocess = g_steal_pointer (&subprocess);
  ident = g_subprocess_get_identifier (proc->subprocess);
  proc->pid = ident != NULL ? (GPid) g_ascii_strtoll (ident, NULL, 10) : 0;
  proc->stdin_pipe = g_object_ref (g_subprocess_get_stdin_pipe (proc->subprocess));
  proc->stdout_pipe = g_object_ref (g_subprocess_get_stdout_pipe (proc->subprocess));
  proc->cancellable = g_cancellable_new ();
  proc->inbuf = g_byte_array_new ();
  proc->started_us = g_get_monotonic_time ();
  g_queue_init (&proc->writes);

  child->proc = proc;
  child->state = WE_QUEUE_CHILD_STARTING;
  child->started_at = g_get_real_time ();
  g_info ("started worker %s (pid %d)", child->id, (gint) proc->pid);

  g_subprocess_wait_async (proc->subprocess, NULL, we_queue_proc_wait_cb,
                           we_queue_proc_ref (proc));
  we_queue_proc_read_next (proc);
  configure = we_queue_local_configure_for (self, child);
  we_queue_proc_send (proc, configure);
  return TRUE;
}

static gboolean
we_queue_child_stall_cb (gpointer user_data)
{
  WeQueueChild *child = user_data;
  WeQueueLocal *self = child->queue;
  g_autofree gchar *reason = NULL;

  if (g_get_monotonic_time () - child->last_report_us <
      (gint64) self->stall_timeout_s * G_TIME_SPAN_SECOND)
    return G_SOURCE_CONTINUE;
  child->stall_id = 0;
  reason = g_strdup_printf ("stalled on task %s (no report for %u s) and was killed",
                            child->task_id, self->stall_timeout_s);
  we_queue_child_kill (child, reason);
  return G_SOURCE_REMOVE;
}

static gboolean
we_queue_child_cancel_kill_cb (gpointer user_data)
{
  WeQueueChild *child = user_data;

  child->cancel_kill_id = 0;
  we_queue_child_kill (child, "did not answer a cancel in time and was killed");
  return G_SOURCE_REMOVE;
}

/* ---- WeQueue ----------------------------------------------------------- */

static gboolean
we_queue_local_stop_kill_cb (gpointer user_data)
{
  WeQueueLocal *self = user_data;

  self->stop_kill_id = 0;
  for (guint i = 0; i < self->children->len; i++) {
    WeQueueChild *child = g_ptr_array_index (self->children, i);

    if (child->proc != NULL) {
      g_warning ("worker %s did not shut down in time, killing it", child->id);
      we_queue_proc_kill (child->proc);
    }
  }
  return G_SOURCE_REMOVE;
}

static void
we_queue_local_stop (WeQueue *queue)
{
  WeQueueLocal *self = WE_QUEUE_LOCAL (queue);
  g_autoptr(JsonObject) shutdown = json_object_new ();

  if (!self->started || self->stopping)
    return;
  self->stopping = TRUE;
  json_object_set_string_member (shutdown, "type", "shutdown");
  for (guint i = 0; i < self->children->len; i++) {
    WeQueueChild *child = g_ptr_array_index (self->children, i);

    g_clear_handle_id (&child->respawn_id, g_source_remove);
    g_clear_handle_id (&child->stall_id, g_source_remove);
    g_clear_handle_id (&child->cancel_kill_id, g_source_remove);
    g_clear_handle_id (&child->remove_kill_id, g_source_remove);
    /* tasks still running stay as the store has them and are re-dispatched
     * by the next kernel: no reports are forwarded from now on */
    if (child->proc != NULL)
      we_queue_proc_send (child->proc, shutdown);
    child->state = WE_QUEUE_CHILD_STOPPED;
  }
  if (!we_queue_local_all_stopped (self))
    self->stop_kill_id = g_timeout_add (WE_QUEUE_LOCAL_STOP_GRACE_MS,
                                        we_queue_local_stop_kill_cb, self);
  we_queue_emit_slots_changed (queue);
}

static gboolean
we_queue_local_start (WeQueue *queue, GError **error)
{
  WeQueueLocal *self = WE_QUEUE_LOCAL (queue);
  struct sigaction sa;

  if (self->started) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_SYS_QUEUE, "the local queue is already started");
    return FALSE;
  }
  self->started = TRUE;

  /* writing to a worker that just died must be an error, not kill the
   * service; only touch the disposition nobody else chose */
  if (sigaction (SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL)
    signal (SIGPIPE, SIG_IGN);

  for (guint i = 0; i < self->count; i++) {
    WeQueueChild *child = g_new0 (WeQueueChild, 1);

    child->queue = self;
    child->id = g_strdup_printf ("local-%u", i + 1);
    child->state = WE_QUEUE_CHILD_STOPPED;
    g_ptr_array_add (self->children, child);
  }
  for (guint i = 0; i < self->children->len; i++) {
    WeQueueChild *child = g_ptr_array_index (self->children, i);

    if (!we_queue_child_spawn (child, error)) {
      g_prefix_error (error, "%s: ", we_error_code_to_string (WE_ERROR_SYS_QUEUE));
      we_queue_local_stop (queue);
      for (guint j = 0; j < self->children->len; j++) {
        WeQueueChild *other = g_ptr_array_index (self->children, j);

        if (other->proc != NULL)
          we_queue_proc_kill (other->proc);
      }
      return FALSE;
    }
  }
  return TRUE;
}

static gboolean
we_queue_local_dispatch (WeQueue *queue, JsonObject *task, GError **error)
{
  WeQueueLocal *self = WE_QUEUE_LOCAL (queue);
  g_autoptr(JsonObject) msg = NULL;
  WeQueueChild *child = NULL;
  WeQueueChild *holder;
  const gchar *task_id = we_json_get_string (task, "id");

  if (task_id == NULL || *task_id == '\0') {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST, "task has no id");
    return FALSE;
  }
  holder = g_hash_table_lookup (self->tasks, task_id);
  if (holder != NULL) {
    g_set_error (error, WE_ERROR, WE_ERROR_WRK_BUSY, "task %s is already running on worker %s",
                 task_id, holder->id);
    return FALSE;
  }
  if (self->started && !self->stopping) {
    /* a retry goes to another worker when one is free (spec §9.8: a crash
     * may be the worker's, not the task's) */
    const gchar *avoid = we_json_get_string (task, "avoid_worker");
    for (guint i = 0; i < self->children->len; i++) {
      WeQueueChild *candidate = g_ptr_array_index (self->children, i);

      if (!we_queue_child_is_free (candidate))
        continue;
      if (child == NULL || (g_strcmp0 (child->id, avoid) == 0 &&
                            g_strcmp0 (candidate->id, avoid) != 0))
        child = candidate;
    }
  }
  if (child == NULL) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_NO_WORKERS,
                 "no free local worker for task %s", task_id);
    return FALSE;
  }

  msg = json_object_new ();
  json_object_set_string_member (msg, "type", "task");
  json_object_set_object_member (msg, "task", json_object_ref (task));
  we_queue_proc_send (child->proc, msg);

  child->state = WE_QUEUE_CHILD_BUSY;
  child->task_id = g_strdup (task_id);
  child->cancel_requested = FALSE;
  child->last_report_us = g_get_monotonic_time ();
  g_hash_table_insert (self->tasks, g_strdup (task_id), child);
  if (self->stall_timeout_s > 0)
    child->stall_id = g_timeout_add (MIN (1000, self->stall_timeout_s * 250),
                                     we_queue_child_stall_cb, child);
  g_info ("task %s dispatched to worker %s", task_id, child->id);
  return TRUE;
}

static void
we_queue_local_cancel (WeQueue *queue, const gchar *task_id)
{
  WeQueueLocal *self = WE_QUEUE_LOCAL (queue);
  WeQueueChild *child = g_hash_table_lookup (self->tasks, task_id);
  g_autoptr(JsonObject) msg = NULL;

  if (child == NULL || child->proc == NULL || child->cancel_requested)
    return;
  child->cancel_requested = TRUE;
  msg = json_object_new ();
  json_object_set_string_member (msg, "type", "cancel");
  json_object_set_string_member (msg, "task_id", task_id);
  we_queue_proc_send (child->proc, msg);
  /* a worker wedged in a decoder cannot answer: take the process instead */
  child->cancel_kill_id = g_timeout_add (WE_QUEUE_LOCAL_CANCEL_GRACE_MS,
                                         we_queue_child_cancel_kill_cb, child);
}

static guint
we_queue_local_free_slots (WeQueue *queue)
{
  WeQueueLocal *self = WE_QUEUE_LOCAL (queue);
  guint n = 0;

  if (self->stopping)
    return 0;
  for (guint i = 0; i < self->children->len; i++) {
    WeQueueChild *child = g_ptr_array_index (self->children, i);

    if (we_queue_child_is_free (child))
      n++;
  }
  return n;
}

static guint
we_queue_local_total_slots (WeQueue *queue)
{
  WeQueueLocal *self = WE_QUEUE_LOCAL (queue);
  guint n = 0;

  if (!self->started)
    return self->count;
  for (guint i = 0; i < self->children->len; i++) {
    WeQueueChild *child = g_ptr_array_index (self->children, i);

    if (!child->removed)
      n++;
  }
  return n;
}

static void
set_time_member (JsonObject *obj, const gchar *name, gint64 usec)
{
  g_autofree gchar *text = we_time_format (usec);

  if (text != NULL)
    json_object_set_string_member (obj, name, text);
  else
    json_object_set_null_member (obj, name);
}

/* json_node_copy() shares objects and arrays; this does not. */
static JsonNode *
json_deep_copy (JsonNode *node)
{
  JsonNode *copy;

  if (JSON_NODE_HOLDS_OBJECT (node)) {
    JsonObject *src = json_node_get_object (node);
    g_autoptr(JsonObject) dst = json_object_new ();
    g_autoptr(GList) members = json_object_get_members (src);

    for (GList *l = members; l != NULL; l = l->next)
      json_object_set_member (dst, l->data,
                              json_deep_copy (json_object_get_member (src, l->data)));
    copy = json_node_init_object (json_node_alloc (), dst);
  } else if (JSON_NODE_HOLDS_ARRAY (node)) {
    JsonArray *src = json_node_get_array (node);
    g_autoptr(JsonArray) dst = json_array_sized_new (json_array_get_length (src));

    for (guint i = 0; i < json_array_get_length (src); i++)
      json_array_add_element (dst, json_deep_copy (json_array_get_element (src, i)));
    copy = json_node_init_array (json_node_alloc (), dst);
  } else {
    copy = json_node_copy (node);
  }
  return copy;
}

static const gchar *
we_queue_child_state_name (WeQueueChild *child)
{
  if (child->draining &&
      (child->state == WE_QUEUE_CHILD_IDLE || child->state == WE_QUEUE_CHILD_BUSY))
    return "draining";
  return we_queue_child_state_to_string (child->state);
}

static JsonObject *
we_queue_child_to_json (WeQueueLocal *self, WeQueueChild *child)
{
  JsonObject *obj = json_object_new ();
  JsonArray *task_ids = json_array_new ();
  const gchar *hostname = NULL;

  if (child->capabilities != NULL &&
      json_object_has_member (child->capabilities, "hostname") &&
      JSON_NODE_HOLDS_VALUE (json_object_get_member (child->capabilities, "hostname")))
    hostname = json_object_get_string_member (child->capabilities, "hostname");
  json_object_set_string_member (obj, "id", child->id);
  /* a child runs on this host, whatever its hello says or before it says it */
  json_object_set_string_member (obj, "hostname", hostname != NULL ? hostname
                                                                   : g_get_host_name ());
  /* local children are reached over a pipe, not an address */
  json_object_set_null_member (obj, "ip_address");
  if (child->version != NULL)
    json_object_set_string_member (obj, "version", child->version);
  else
    json_object_set_null_member (obj, "version");
  json_object_set_int_member (obj, "pid", child->proc != NULL ? child->proc->pid : 0);
  json_object_set_string_member (obj, "state", we_queue_child_state_name (child));
  json_object_set_boolean_member (obj, "draining", child->draining);
  /* "task_id" is what the scheduler reads; "task_ids" is the general shape,
   * for workers that run several tasks at once */
  if (child->task_id != NULL) {
    json_object_set_string_member (obj, "task_id", child->task_id);
    json_array_add_string_element (task_ids, child->task_id);
  } else {
    json_object_set_null_member (obj, "task_id");
  }
  json_object_set_array_member (obj, "task_ids", task_ids);
  json_object_set_int_member (obj, "slots_total", 1);
  json_object_set_int_member (obj, "slots_free",
                              !self->stopping && we_queue_child_is_free (child) ? 1 : 0);
  /* a copy: callers decorate what they get (the daemon adds to it) */
  if (child->capabilities != NULL) {
    g_autoptr(JsonNode) caps = json_node_init_object (json_node_alloc (), child->capabilities);

    json_object_set_member (obj, "capabilities", json_deep_copy (caps));
  } else {
    json_object_set_null_member (obj, "capabilities");
  }
  set_time_member (obj, "last_heartbeat", child->last_message);
  set_time_member (obj, "started_at", child->proc != NULL ? child->started_at : 0);
  json_object_set_int_member (obj, "restarts", child->restarts);
  return obj;
}

static GPtrArray *
we_queue_local_list_workers (WeQueue *queue)
{
  WeQueueLocal *self = WE_QUEUE_LOCAL (queue);
  GPtrArray *list = g_ptr_array_new_with_free_func ((GDestroyNotify) json_object_unref);

  for (guint i = 0; i < self->children->len; i++) {
    WeQueueChild *child = g_ptr_array_index (self->children, i);

    if (!child->removed)
      g_ptr_array_add (list, we_queue_child_to_json (self, child));
  }
  return list;
}

static WeQueueChild *
we_queue_local_find_child (WeQueueLocal *self, const gchar *worker_id, GError **error)
{
  for (guint i = 0; i < self->children->len; i++) {
    WeQueueChild *child = g_ptr_array_index (self->children, i);

    if (!child->removed && g_strcmp0 (child->id, worker_id) == 0)
      return child;
  }
  g_set_error (error, WE_ERROR, WE_ERROR_WRK_NOT_FOUND, "worker %s not found", worker_id);
  return NULL;
}

static gboolean
we_queue_local_set_draining (WeQueue *queue, const gchar *worker_id, gboolean draining,
                             GError **error)
{
  WeQueueLocal *self = WE_QUEUE_LOCAL (queue);
  WeQueueChild *child = we_queue_local_find_child (self, worker_id, error);

  if (child == NULL)
    return FALSE;
  if (self->stopping) {
    g_set_error (error, WE_ERROR, WE_ERROR_WRK_OFFLINE, "worker %s is stopped", worker_id);
    return FALSE;
  }
  if (child->draining == draining)
    return TRUE;
  child->draining = draining;
  if (draining)
    g_info ("worker %s is draining%s%s", child->id,
            child->task_id != NULL ? ": it finishes task " : "",
            child->task_id != NULL ? child->task_id : "");
  else
    g_info ("worker %s takes tasks again", child->id);
  /* the scheduler may have tasks waiting for exactly this slot */
  we_queue_emit_slots_changed (queue);
  return TRUE;
}

static gboolean
we_queue_child_remove_kill_cb (gpointer user_data)
{
  WeQueueChild *child = user_data;

  child->remove_kill_id = 0;
  we_queue_child_kill (child, "did not shut down after its removal and was killed");
  return G_SOURCE_REMOVE;
}

static gboolean
we_queue_local_remove_child (WeQueueLocal *self, WeQueueChild *child, gboolean force,
                             GError **error)
{
  if (child->task_id != NULL && !force) {
    g_set_error (error, WE_ERROR, WE_ERROR_WRK_BUSY, "worker %s is running task %s",
                 child->id, child->task_id);
    return FALSE;
  }
  child->removed = TRUE;
  g_clear_handle_id (&child->respawn_id, g_source_remove);
  if (child->proc == NULL) {
    g_info ("worker %s removed", child->id);
    g_ptr_array_remove (self->children, child);
  } else if (child->task_id != NULL) {
    /* the exit reports the task failed and retryable, as after a crash, and
     * then forgets the child instead of restarting it */
    g_autofree gchar *reason = g_strdup_printf ("was removed while running task %s and was "
                                                "killed", child->task_id);
    we_queue_child_kill (child, reason);
  } else {
    g_autoptr(JsonObject) shutdown = json_object_new ();

    g_info ("worker %s (pid %d) removed; shutting it down", child->id, (gint) child->proc->pid);
    json_object_set_string_member (shutdown, "type", "shutdown");
    we_queue_proc_send (child->proc, shutdown);
    child->state = WE_QUEUE_CHILD_STOPPED;
    child->remove_kill_id = g_timeout_add (WE_QUEUE_LOCAL_STOP_GRACE_MS,
                                           we_queue_child_remove_kill_cb, child);
  }
  we_queue_emit_slots_changed (WE_QUEUE (self));
  return TRUE;
}

static gboolean
we_queue_local_remove_worker (WeQueue *queue, const gchar *worker_id, GError **error)
{
  WeQueueLocal *self = WE_QUEUE_LOCAL (queue);
  WeQueueChild *child = we_queue_local_find_child (self, worker_id, error);

  return child != NULL && we_queue_local_remove_child (self, child, FALSE, error);
}

gboolean
we_queue_local_remove_worker_forced (WeQueueLocal *self, const gchar *worker_id, GError **error)
{
  WeQueueChild *child;

  g_return_val_if_fail (WE_IS_QUEUE_LOCAL (self), FALSE);
  g_return_val_if_fail (worker_id != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  child = we_queue_local_find_child (self, worker_id, error);
  return child != NULL && we_queue_local_remove_child (self, child, TRUE, error);
}

GPid
we_queue_local_get_task_pid (WeQueueLocal *self, const gchar *task_id)
{
  WeQueueChild *child;

  g_return_val_if_fail (WE_IS_QUEUE_LOCAL (self), 0);
  g_return_val_if_fail (task_id != NULL, 0);

  child = g_hash_table_lookup (self->tasks, task_id);
  return child != NULL && child->proc != NULL ? child->proc->pid : 0;
}

static void
we_queue_local_iface_init (WeQueueInterface *iface)
{
  iface->start = we_queue_local_start;
  iface->stop = we_queue_local_stop;
  iface->dispatch = we_queue_local_dispatch;
  iface->cancel = we_queue_local_cancel;
  iface->free_slots = we_queue_local_free_slots;
  iface->total_slots = we_queue_local_total_slots;
  iface->list_workers = we_queue_local_list_workers;
  iface->set_draining = we_queue_local_set_draining;
  iface->remove_worker = we_queue_local_remove_worker;
}

static void
we_queue_local_dispose (GObject *object)
{
  WeQueueLocal *self = WE_QUEUE_LOCAL (object);

  /* nothing may outlive the queue: no respawn, no child left running */
  self->stopping = TRUE;
  g_clear_handle_id (&self->stop_kill_id, g_source_remove);
  for (guint i = 0; i < self->children->len; i++) {
    WeQueueChild *child = g_ptr_array_index (self->children, i);

    g_clear_handle_id (&child->respawn_id, g_source_remove);
    g_clear_handle_id (&child->stall_id, g_source_remove);
    g_clear_handle_id (&child->cancel_kill_id, g_source_remove);
    g_clear_handle_id (&child->remove_kill_id, g_source_remove);
    if (child->proc != NULL) {
      child->proc->child = NULL;
      g_cancellable_cancel (child->proc->cancellable);
      we_queue_proc_kill (child->proc);
      g_clear_pointer (&child->proc, we_queue_proc_unref);
    }
    child->state = WE_QUEUE_CHILD_STOPPED;
  }
  g_hash_table_remove_all (self->tasks);
  G_OBJECT_CLASS (we_queue_local_parent_class)->dispose (object);
}

static void
we_queue_local_finalize (GObject *object)
{
  WeQueueLocal *self = WE_QUEUE_LOCAL (object);

  g_ptr_array_unref (self->children);
  g_hash_table_unref (self->tasks);
  g_clear_pointer (&self->configure, json_object_unref);
  g_strfreev (self->argv);
  G_OBJECT_CLASS (we_queue_local_parent_class)->finalize (object);
}

static void
we_queue_local_class_init (WeQueueLocalClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = we_queue_local_dispose;
  object_class->finalize = we_queue_local_finalize;
}

static void
we_queue_local_init (WeQueueLocal *self)
{
  self->children = g_ptr_array_new_with_free_func ((GDestroyNotify) we_queue_child_free);
  self->tasks = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
}

WeQueueLocal *
we_queue_local_new (const gchar * const *worker_argv, guint count, JsonObject *configure,
                    guint stall_timeout_s)
{
  WeQueueLocal *self;

  g_return_val_if_fail (worker_argv != NULL && worker_argv[0] != NULL, NULL);
  g_return_val_if_fail (count > 0, NULL);

  self = g_object_new (WE_TYPE_QUEUE_LOCAL, NULL);
  self->argv = g_strdupv ((gchar **) worker_argv);
  self->count = count;
  self->configure = configure != NULL ? json_object_ref (configure) : NULL;
  self->stall_timeout_s = stall_timeout_s;
  return self;
}
