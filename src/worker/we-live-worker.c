/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The live worker (see we-live-worker.h). One JSON object per line, as for
 * the task workers; the messages are listed in common/we-worker-protocol.h.
 *
 * Threads: the main loop reads the kernel's lines; the engine calls the
 * decider on its ingest servers' threads and emits its signals on stream
 * threads. Every thread writes whole lines under write_lock, so the kernel
 * never sees two messages interleaved, and a decider waits (bounded) on
 * cond for the kernel's publish_decision of its attempt id.
 */
#include "config.h"
#include "we-live-worker.h"

#include <gio/gunixinputstream.h>
#include <gio/gunixoutputstream.h>
#include <glib-unix.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>
#include <webencode/webencode.h>

#include "common/we-json.h"
#include "common/we-log.h"
#include "common/we-worker-protocol.h"
#include "plugin/we-plugin-host.h"

/* how long a publisher's handshake waits for the kernel's decision */
#define DECISION_TIMEOUT_US (5 * G_USEC_PER_SEC)

typedef struct {
  gint64             id;
  gboolean           done;
  WePublishDecision *decision; /* the engine's, filled by the main loop */
} Pending;

typedef struct {
  GMainLoop        *loop;
  GDataInputStream *in;
  GOutputStream    *out;
  GMutex            write_lock;
  GMutex            lock;       /* pending, next_id, closing */
  GCond             cond;
  GHashTable       *pending;    /* gint64* id → Pending* (owned by the waiting thread) */
  gint64            next_id;
  gboolean          closing;
  gboolean          broken;     /* a write failed: the kernel is gone */
  JsonObject       *plugin_config;
  gchar            *plugin_id;
  WePluginHost     *host;
  WeLiveEngine     *engine;
  GCancellable     *cancellable; /* the pending read, at exit */
  gint              status;
} LiveWorker;

static void
send_msg (LiveWorker *w, JsonObject *msg)
{
  g_autofree gchar *line = we_worker_msg_serialize (msg);
  g_autoptr(GError) error = NULL;

  g_mutex_lock (&w->write_lock);
  if (!w->broken &&
      !g_output_stream_write_all (w->out, line, strlen (line), NULL, NULL, &error)) {
    /* the kernel died or closed us: stdin's EOF ends the loop */
    w->broken = TRUE;
    g_warning ("live worker: cannot write to the kernel: %s", error->message);
  }
  g_mutex_unlock (&w->write_lock);
}

/* ---- engine threads ---------------------------------------------------- */

static void
decide (const WePublishAttempt *attempt, WePublishDecision *decision, gpointer user_data)
{
  LiveWorker *w = user_data;
  g_autoptr(JsonObject) msg = json_object_new ();
  Pending p = { 0 };
  gint64 deadline = g_get_monotonic_time () + DECISION_TIMEOUT_US;

  g_mutex_lock (&w->lock);
  if (w->closing) {
    g_mutex_unlock (&w->lock);
    decision->reason = g_strdup ("the live worker is stopping");
    return;
  }
  p.id = ++w->next_id;
  p.decision = decision;
  g_hash_table_insert (w->pending, &p.id, &p);
  g_mutex_unlock (&w->lock);

  /* the presented key travels to the kernel over our private pipe only */
  json_object_set_string_member (msg, "type", "publish_attempt");
  json_object_set_int_member (msg, "id", p.id);
  json_object_set_string_member (msg, "protocol", attempt->protocol);
  json_object_set_string_member (msg, "key", attempt->stream_key != NULL ? attempt->stream_key
                                                                         : "");
  json_object_set_string_member (msg, "remote", attempt->client_ip != NULL ? attempt->client_ip
                                                                           : "");
  send_msg (w, msg);

  g_mutex_lock (&w->lock);
  while (!p.done && !w->closing) {
    if (!g_cond_wait_until (&w->cond, &w->lock, deadline))
      break;
  }
  if (!p.done) {
    g_hash_table_remove (w->pending, &p.id);
    decision->accept = FALSE;
    decision->reason = g_strdup (w->closing ? "the live worker is stopping"
                                            : "the kernel did not decide in time");
  }
  g_mutex_unlock (&w->lock);
}

static void
on_started (WeLiveEngine *engine, const gchar *stream_id, const gchar *protocol,
            const gchar *remote, gpointer user_data)
{
  g_autoptr(JsonObject) msg = json_object_new ();

  json_object_set_string_member (msg, "type", "stream_started");
  json_object_set_string_member (msg, "stream_id", stream_id);
  json_object_set_string_member (msg, "protocol", protocol);
  json_object_set_string_member (msg, "remote", remote != NULL ? remote : "");
  send_msg (user_data, msg);
}

static void
on_ended (WeLiveEngine *engine, const gchar *stream_id, const gchar *reason,
          const gchar *recording_dir, gpointer user_data)
{
  g_autoptr(JsonObject) msg = json_object_new ();

  json_object_set_string_member (msg, "type", "stream_ended");
  json_object_set_string_member (msg, "stream_id", stream_id);
  json_object_set_string_member (msg, "reason", reason != NULL ? reason : "");
  if (recording_dir != NULL)
    json_object_set_string_member (msg, "recording_dir", recording_dir);
  else
    json_object_set_null_member (msg, "recording_dir");
  send_msg (user_data, msg);
}

static void
on_telemetry (WeLiveEngine *engine, const gchar *stream_id, JsonObject *sample,
              gpointer user_data)
{
  g_autoptr(JsonObject) msg = json_object_new ();

  json_object_set_string_member (msg, "type", "telemetry");
  json_object_set_string_member (msg, "stream_id", stream_id);
  json_object_set_object_member (msg, "sample", json_object_ref (sample));
  send_msg (user_data, msg);
}

/* ---- main loop --------------------------------------------------------- */

static JsonObject *
config_cb (const gchar *plugin_id, gpointer user_data)
{
  LiveWorker *w = user_data;

  return g_strcmp0 (plugin_id, w->plugin_id) == 0 ? json_object_ref (w->plugin_config)
                                                  : json_object_new ();
}

static void
send_failed (LiveWorker *w, const gchar *code, const gchar *message)
{
  g_autoptr(JsonObject) msg = json_object_new ();

  json_object_set_string_member (msg, "type", "live_failed");
  json_object_set_string_member (msg, "code", code);
  json_object_set_string_member (msg, "message", message);
  send_msg (w, msg);
}

static void
handle_configure (LiveWorker *w, JsonObject *msg)
{
  const gchar *plugin_dir = we_json_get_string (msg, "plugin_dir");
  const gchar *plugin_id = we_json_get_string (msg, "plugin_id");
  JsonObject *config = we_json_get_object (msg, "config");
  g_autoptr(JsonObject) ready = json_object_new ();
  g_autoptr(GError) error = NULL;
  GObject *instance;

  if (w->host != NULL) {
    g_warning ("live worker: ignoring a second configure message");
    return;
  }
  w->plugin_id = g_strdup (plugin_id != NULL ? plugin_id : "live-gst");
  w->plugin_config = config != NULL ? json_object_ref (config) : json_object_new ();
  w->host = we_plugin_host_new ();
  we_plugin_host_set_config_func (w->host, config_cb, w, NULL);
  we_plugin_host_set_pillar_filter (w->host, 1u << WE_PILLAR_LIVE);
  we_plugin_host_load_dir (w->host, plugin_dir != NULL && *plugin_dir != '\0' ? plugin_dir
                                                                              : WE_PLUGINDIR,
                           &error);
  if (error != NULL) {
    send_failed (w, "WE-SYS-001", error->message);
    g_main_loop_quit (w->loop);
    return;
  }
  instance = we_plugin_host_get_instance (w->host, w->plugin_id);
  if (instance == NULL || !WE_IS_LIVE_ENGINE (instance)) {
    g_autofree gchar *text = g_strdup_printf ("the live plugin %s is not loaded or not "
                                              "healthy", w->plugin_id);
    send_failed (w, "WE-SYS-001", text);
    g_main_loop_quit (w->loop);
    return;
  }
  w->engine = WE_LIVE_ENGINE (g_object_ref (instance));
  g_signal_connect (w->engine, "stream-started", G_CALLBACK (on_started), w);
  g_signal_connect (w->engine, "stream-ended", G_CALLBACK (on_ended), w);
  g_signal_connect (w->engine, "telemetry", G_CALLBACK (on_telemetry), w);
  we_live_engine_set_publish_decider (w->engine, decide, w, NULL);
  if (!we_live_engine_start (w->engine, &error)) {
    send_failed (w, "WE-SYS-001", error->message);
    g_main_loop_quit (w->loop);
    return;
  }
  json_object_set_string_member (ready, "type", "live_ready");
  json_object_set_int_member (ready, "pid", getpid ());
  json_object_set_int_member (ready, "rtmp_port", we_live_engine_get_port (w->engine, "rtmp"));
  json_object_set_int_member (ready, "srt_port", we_live_engine_get_port (w->engine, "srt"));
  send_msg (w, ready);
}

static void
handle_decision (LiveWorker *w, JsonObject *msg)
{
  gint64 id = json_object_get_int_member_with_default (msg, "id", 0);
  Pending *p;

  g_mutex_lock (&w->lock);
  p = g_hash_table_lookup (w->pending, &id);
  if (p != NULL) {
    const gchar *stream_id = we_json_get_string (msg, "stream_id");
    const gchar *passphrase = we_json_get_string (msg, "passphrase");
    const gchar *reason = we_json_get_string (msg, "reason");

    JsonObject *options = we_json_get_object (msg, "options");

    p->decision->accept = json_object_get_boolean_member_with_default (msg, "accept", FALSE) &&
                          stream_id != NULL && *stream_id != '\0';
    if (p->decision->accept)
      p->decision->stream_id = g_strdup (stream_id);
    /* record, latency_mode, ladder: before the decider returns, so the
     * stream's pipeline is made with them (live-gst's action; an engine
     * without it runs with its defaults) */
    if (p->decision->accept && options != NULL && w->engine != NULL &&
        g_signal_lookup ("set-stream-options", G_OBJECT_TYPE (w->engine)) != 0) {
      gboolean ok = FALSE;

      g_signal_emit_by_name (w->engine, "set-stream-options", stream_id, options, &ok);
    }
    if (passphrase != NULL && *passphrase != '\0')
      p->decision->passphrase = g_strdup (passphrase);
    p->decision->reason = g_strdup (reason);
    p->done = TRUE;
    g_hash_table_remove (w->pending, &id);
    g_cond_broadcast (&w->cond);
  }
  g_mutex_unlock (&w->lock);
}

static void
handle_stop_stream (LiveWorker *w, JsonObject *msg)
{
  const gchar *stream_id = we_json_get_string (msg, "stream_id");
  g_autoptr(GError) error = NULL;

  /* the stream ends through its usual stream_ended (recording finalized) */
  if (w->engine != NULL && stream_id != NULL &&
      !we_live_engine_stop_ingest (w->engine, stream_id, &error))
    g_info ("live worker: stop %s: %s", stream_id, error->message);
}

/* {"type":"recording","stream_id","enabled"}: starts or stops the
 * recording of a running stream (its state shows in the telemetry) */
static void
handle_recording (LiveWorker *w, JsonObject *msg)
{
  const gchar *stream_id = we_json_get_string (msg, "stream_id");
  gboolean enabled = json_object_get_boolean_member_with_default (msg, "enabled", FALSE);
  gboolean ok = FALSE;

  if (w->engine != NULL && stream_id != NULL &&
      g_signal_lookup ("set-recording", G_OBJECT_TYPE (w->engine)) != 0)
    g_signal_emit_by_name (w->engine, "set-recording", stream_id, enabled, &ok);
  if (!ok)
    g_info ("live worker: recording %s: the stream is not live here", stream_id);
}

static void read_next (LiveWorker *w);

static void
line_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  LiveWorker *w = user_data;
  g_autoptr(GError) error = NULL;
  gsize length = 0;
  g_autofree gchar *line = g_data_input_stream_read_line_finish_utf8 (G_DATA_INPUT_STREAM (source),
                                                                      result, &length, &error);
  g_autoptr(JsonObject) msg = NULL;
  const gchar *type;

  if (line == NULL && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (line == NULL) {
    /* EOF or a broken channel: the kernel is gone, stop cleanly */
    if (error != NULL)
      g_warning ("live worker: reading from the kernel: %s", error->message);
    g_main_loop_quit (w->loop);
    return;
  }
  if (length > WE_WORKER_MAX_LINE) {
    g_warning ("live worker: a line over %u bytes from the kernel", WE_WORKER_MAX_LINE);
    w->status = EXIT_FAILURE;
    g_main_loop_quit (w->loop);
    return;
  }
  msg = we_worker_msg_parse (line, length, &error);
  if (msg == NULL) {
    g_warning ("live worker: ignoring a bad line: %s", error->message);
    read_next (w);
    return;
  }
  type = we_worker_msg_type (msg);
  if (g_strcmp0 (type, "configure") == 0) {
    handle_configure (w, msg);
  } else if (g_strcmp0 (type, "publish_decision") == 0) {
    handle_decision (w, msg);
  } else if (g_strcmp0 (type, "stop_stream") == 0) {
    handle_stop_stream (w, msg);
  } else if (g_strcmp0 (type, "recording") == 0) {
    handle_recording (w, msg);
  } else if (g_strcmp0 (type, "shutdown") == 0) {
    g_main_loop_quit (w->loop);
    return;
  }
  read_next (w);
}

static void
read_next (LiveWorker *w)
{
  g_data_input_stream_read_line_async (w->in, G_PRIORITY_DEFAULT, w->cancellable, line_cb, w);
}

static gboolean
on_signal (gpointer user_data)
{
  LiveWorker *w = user_data;

  g_info ("live worker: termination requested");
  g_main_loop_quit (w->loop);
  return G_SOURCE_CONTINUE;
}

int
we_live_worker_run (void)
{
  g_autoptr(GInputStream) raw_in = NULL;
  g_autoptr(GOutputStream) out = NULL;
  gint protocol_fd;

  /* stdout belongs to the protocol, as in run_stdio() of webencode-worker.c */
  protocol_fd = dup (STDOUT_FILENO);
  if (protocol_fd < 0 || dup2 (STDERR_FILENO, STDOUT_FILENO) < 0) {
    g_printerr ("webencode-worker: cannot set up the protocol channel\n");
    return EXIT_FAILURE;
  }
  raw_in = g_unix_input_stream_new (STDIN_FILENO, FALSE);
  out = g_unix_output_stream_new (protocol_fd, TRUE);
  return we_live_worker_run_streams (raw_in, out);
}

int
we_live_worker_run_streams (GInputStream *raw_in, GOutputStream *out)
{
  LiveWorker w = { 0 };
  guint term_id, int_id;

  w.in = g_data_input_stream_new (raw_in);
  g_data_input_stream_set_newline_type (w.in, G_DATA_STREAM_NEWLINE_TYPE_LF);
  w.out = g_object_ref (out);
  w.loop = g_main_loop_new (NULL, FALSE);
  w.pending = g_hash_table_new (g_int64_hash, g_int64_equal);
  g_mutex_init (&w.write_lock);
  g_mutex_init (&w.lock);
  g_cond_init (&w.cond);
  w.status = EXIT_SUCCESS;
  w.cancellable = g_cancellable_new ();
  term_id = g_unix_signal_add (SIGTERM, on_signal, &w);
  int_id = g_unix_signal_add (SIGINT, on_signal, &w);

  read_next (&w);
  g_main_loop_run (w.loop);

  /* deciders waiting for an answer give up first, then every stream ends
   * with EOS through its muxers (recordings finalized, stream_ended sent) */
  g_mutex_lock (&w.lock);
  w.closing = TRUE;
  g_cond_broadcast (&w.cond);
  g_mutex_unlock (&w.lock);
  if (w.engine != NULL) {
    we_live_engine_stop (w.engine);
    g_signal_handlers_disconnect_by_data (w.engine, &w);
    we_live_engine_set_publish_decider (w.engine, NULL, NULL, NULL);
    g_clear_object (&w.engine);
  }
  /* let the cancelled read finish, so nothing holds the streams */
  g_cancellable_cancel (w.cancellable);
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_clear_object (&w.cancellable);
  g_source_remove (term_id);
  g_source_remove (int_id);
  g_clear_object (&w.host);
  g_clear_pointer (&w.plugin_config, json_object_unref);
  g_free (w.plugin_id);
  g_hash_table_unref (w.pending);
  g_clear_object (&w.in);
  g_clear_object (&w.out);
  g_main_loop_unref (w.loop);
  g_mutex_clear (&w.write_lock);
  g_mutex_clear (&w.lock);
  g_cond_clear (&w.cond);
  return w.status;
}
