/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The SRT ingest as the live pillar drives it, for tests/integration/
 * test_srt_ingest.py: one WeSrtServer on one port, the application
 * answering publish-attempt from its table of keys and passphrases, and
 * per key a pipeline "wesrtserversrc server=… stream-key=KEY ! filesink"
 * recording each publish into OUT_DIR/KEY-N.ts (N counts the publishes;
 * after an EOS the next publisher of the key gets a new file). Reports
 * every event as one JSON object per line on stdout; ends on SIGTERM or
 * when stdin closes.
 *
 * Usage: we-srt-ingest-tool --out-dir DIR [--port N] [--idle-timeout MS]
 *        --stream KEY=PASSPHRASE [--stream …]
 */
#include "config.h"

#include <glib-unix.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "gstwesrtserversrc.h"
#include "we-srt-server.h"

typedef struct {
  gchar      *key;
  gchar      *passphrase;
  guint       n;
  GstElement *pipeline;
  gchar      *file;
  guint       bus_watch;
} Recorder;

static GMutex      out_lock;
static GMainLoop  *loop;
static GHashTable *recorders; /* key -> Recorder; read-only once running */
static gchar      *out_dir;
static gint        exit_code;

static void
emit (const gchar *fmt, ...) G_GNUC_PRINTF (1, 2);

/* one line per event; the handlers run on the server's threads */
static void
emit (const gchar *fmt, ...)
{
  va_list args;

  g_mutex_lock (&out_lock);
  va_start (args, fmt);
  vprintf (fmt, args);
  va_end (args);
  fputc ('\n', stdout);
  fflush (stdout);
  g_mutex_unlock (&out_lock);
}

static void
recorder_free (gpointer data)
{
  Recorder *rec = data;

  if (rec->pipeline != NULL) {
    gst_element_set_state (rec->pipeline, GST_STATE_NULL);
    g_source_remove (rec->bus_watch);
    gst_object_unref (rec->pipeline);
  }
  g_free (rec->key);
  g_free (rec->passphrase);
  g_free (rec->file);
  g_free (rec);
}

static gboolean
on_publish_attempt (WeSrtServer *server, const gchar *key, const gchar *remote,
                    GstStructure *reply, gpointer data)
{
  Recorder *rec = g_hash_table_lookup (recorders, key);

  (void) server;
  (void) data;
  emit ("{\"event\": \"attempt\", \"key\": \"%s\", \"remote\": \"%s\", \"accepted\": %s}", key,
        remote, rec != NULL ? "true" : "false");
  if (rec == NULL)
    return FALSE;
  if (*rec->passphrase != '\0')
    gst_structure_set (reply, "passphrase", G_TYPE_STRING, rec->passphrase, NULL);
  return TRUE;
}

static void
on_publish_started (WeSrtServer *server, WeSrtSession *session, gpointer data)
{
  (void) server;
  (void) data;
  emit ("{\"event\": \"started\", \"key\": \"%s\", \"session\": %" G_GUINT64_FORMAT "}",
        we_srt_session_get_stream_key (session), we_srt_session_get_id (session));
}

static void
on_publish_ended (WeSrtServer *server, WeSrtSession *session, const gchar *reason, gpointer data)
{
  (void) server;
  (void) data;
  emit ("{\"event\": \"ended\", \"key\": \"%s\", \"session\": %" G_GUINT64_FORMAT
        ", \"reason\": \"%s\"}", we_srt_session_get_stream_key (session),
        we_srt_session_get_id (session), reason);
}

static gboolean recorder_start (Recorder *rec, WeSrtServer *server);

static gboolean
on_bus (GstBus *bus, GstMessage *msg, gpointer data)
{
  Recorder *rec = data;
  const GstStructure *s;

  (void) bus;
  switch (GST_MESSAGE_TYPE (msg)) {
  case GST_MESSAGE_ELEMENT:
    s = gst_message_get_structure (msg);
    if (gst_structure_has_name (s, WE_SRT_STATS_NAME)) {
      gdouble rtt = 0, bitrate = 0;
      gint64 lost = 0;
      guint64 bytes = 0;
      gboolean eos = FALSE;
      const gchar *reason = gst_structure_get_string (s, "reason");

      gst_structure_get (s, "rtt-ms", G_TYPE_DOUBLE, &rtt, "bitrate", G_TYPE_DOUBLE, &bitrate,
                         "packets-lost", G_TYPE_INT64, &lost, "bytes-received", G_TYPE_UINT64,
                         &bytes, "eos", G_TYPE_BOOLEAN, &eos, NULL);
      emit ("{\"event\": \"stats\", \"key\": \"%s\", \"rtt_ms\": %.3f, \"bitrate\": %.0f, "
            "\"packets_lost\": %" G_GINT64_FORMAT ", \"bytes\": %" G_GUINT64_FORMAT
            ", \"eos\": %s, \"reason\": \"%s\"}", rec->key, rtt, bitrate, lost, bytes,
            eos ? "true" : "false", reason != NULL ? reason : "");
    }
    break;
  case GST_MESSAGE_EOS: {
    WeSrtServer *server = NULL;
    GstElement *src = gst_bin_get_by_name (GST_BIN (rec->pipeline), "src");

    g_object_get (src, "server", &server, NULL);
    gst_object_unref (src);
    emit ("{\"event\": \"eos\", \"key\": \"%s\", \"file\": \"%s\"}", rec->key, rec->file);
    /* the recording is complete; wait for the key's next publisher */
    gst_element_set_state (rec->pipeline, GST_STATE_NULL);
    gst_clear_object (&rec->pipeline);
    rec->bus_watch = 0;
    if (!recorder_start (rec, server))
      g_main_loop_quit (loop);
    g_object_unref (server);
    return G_SOURCE_REMOVE;
  }
  case GST_MESSAGE_ERROR: {
    g_autoptr(GError) error = NULL;
    g_autofree gchar *debug = NULL;

    gst_message_parse_error (msg, &error, &debug);
    emit ("{\"event\": \"error\", \"key\": \"%s\", \"message\": \"%s\"}", rec->key,
          error->message);
    exit_code = 1;
    g_main_loop_quit (loop);
    break;
  }
  default:
    break;
  }
  return G_SOURCE_CONTINUE;
}

static gboolean
recorder_start (Recorder *rec, WeSrtServer *server)
{
  GstElement *src = gst_element_factory_make ("wesrtserversrc", "src");
  GstElement *sink = gst_element_factory_make ("filesink", "sink");
  g_autoptr(GstBus) bus = NULL;
  g_autofree gchar *name = NULL;

  if (src == NULL || sink == NULL) {
    emit ("{\"event\": \"error\", \"message\": \"wesrtserversrc or filesink missing\"}");
    gst_clear_object (&src);
    gst_clear_object (&sink);
    return FALSE;
  }
  rec->n++;
  name = g_strdup_printf ("%s-%u.ts", rec->key, rec->n);
  g_free (rec->file);
  rec->file = g_build_filename (out_dir, name, NULL);
  g_object_set (src, "server", server, "stream-key", rec->key, NULL);
  g_object_set (sink, "location", rec->file, "sync", FALSE, NULL);
  rec->pipeline = gst_pipeline_new (rec->key);
  gst_bin_add_many (GST_BIN (rec->pipeline), src, sink, NULL);
  gst_element_link (src, sink);
  bus = gst_element_get_bus (rec->pipeline);
  rec->bus_watch = gst_bus_add_watch (bus, on_bus, rec);
  if (gst_element_set_state (rec->pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    emit ("{\"event\": \"error\", \"key\": \"%s\", \"message\": \"cannot start\"}", rec->key);
    return FALSE;
  }
  emit ("{\"event\": \"recording\", \"key\": \"%s\", \"file\": \"%s\"}", rec->key, rec->file);
  return TRUE;
}

static gboolean
on_quit (gpointer data)
{
  (void) data;
  g_main_loop_quit (loop);
  return G_SOURCE_CONTINUE;
}

static gboolean
on_stdin (gint fd, GIOCondition cond, gpointer data)
{
  gchar buf[256];

  (void) cond;
  (void) data;
  if (read (fd, buf, sizeof buf) > 0)
    return G_SOURCE_CONTINUE;
  /* stays readable at EOF: the loop ends before it matters */
  g_main_loop_quit (loop);
  return G_SOURCE_CONTINUE;
}

int
main (int argc, char **argv)
{
  g_autoptr(WeSrtServer) server = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GOptionContext) ctx = NULL;
  g_auto(GStrv) streams = NULL;
  gint port = 0, idle_timeout = 2000;
  GOptionEntry entries[] = {
    { "port", 0, 0, G_OPTION_ARG_INT, &port, "UDP port (0: any)", "N" },
    { "idle-timeout", 0, 0, G_OPTION_ARG_INT, &idle_timeout, "ms", "MS" },
    { "out-dir", 0, 0, G_OPTION_ARG_FILENAME, &out_dir, "where recordings go", "DIR" },
    { "stream", 0, 0, G_OPTION_ARG_STRING_ARRAY, &streams, "a key and its passphrase",
      "KEY=PASSPHRASE" },
    G_OPTION_ENTRY_NULL,
  };
  GHashTableIter iter;
  gpointer value;
  guint sigterm, sigint, stdin_watch;

  gst_init (&argc, &argv);
  ctx = g_option_context_new ("- SRT ingest test tool");
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error) || out_dir == NULL || streams == NULL) {
    g_printerr ("%s\n", error != NULL ? error->message : "--out-dir and --stream are required");
    return 2;
  }
  if (!GST_ELEMENT_REGISTER (wesrtserversrc, NULL))
    return 1;

  loop = g_main_loop_new (NULL, FALSE);
  recorders = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, recorder_free);
  for (guint i = 0; streams[i] != NULL; i++) {
    Recorder *rec = g_new0 (Recorder, 1);
    const gchar *eq = strchr (streams[i], '=');

    rec->key = eq != NULL ? g_strndup (streams[i], eq - streams[i]) : g_strdup (streams[i]);
    rec->passphrase = g_strdup (eq != NULL ? eq + 1 : "");
    g_hash_table_insert (recorders, rec->key, rec);
  }

  server = g_object_new (WE_TYPE_SRT_SERVER, "address", "127.0.0.1", "port", (guint) port,
                         "idle-timeout", (guint) idle_timeout, NULL);
  g_signal_connect (server, "publish-attempt", G_CALLBACK (on_publish_attempt), NULL);
  g_signal_connect (server, "publish-started", G_CALLBACK (on_publish_started), NULL);
  g_signal_connect (server, "publish-ended", G_CALLBACK (on_publish_ended), NULL);
  if (!we_srt_server_start (server, &error)) {
    g_printerr ("%s\n", error->message);
    return 1;
  }
  g_hash_table_iter_init (&iter, recorders);
  while (g_hash_table_iter_next (&iter, NULL, &value)) {
    if (!recorder_start (value, server))
      exit_code = 1;
  }
  emit ("{\"event\": \"listening\", \"port\": %u}", we_srt_server_get_bound_port (server));

  sigterm = g_unix_signal_add (SIGTERM, on_quit, NULL);
  sigint = g_unix_signal_add (SIGINT, on_quit, NULL);
  stdin_watch = g_unix_fd_add (0, G_IO_IN | G_IO_HUP, on_stdin, NULL);
  if (exit_code == 0)
    g_main_loop_run (loop);
  g_source_remove (sigterm);
  g_source_remove (sigint);
  g_source_remove (stdin_watch);

  /* pipelines first: their sources hold the server */
  g_hash_table_destroy (recorders);
  we_srt_server_stop (server);
  g_clear_object (&server);
  g_main_loop_unref (loop);
  g_free (out_dir);
  emit ("{\"event\": \"exit\", \"code\": %d}", exit_code);
  gst_deinit ();
  return exit_code;
}
