/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * webencode-worker: runs media tasks for webencoded, one at a time, so a
 * crashing decoder or a hostile file costs one task and never the service.
 *
 * Two transports, one task engine (WeWorker): --stdio for a child of the
 * embedded kernel, --nats URL (or NATS_URL) for a worker on any host of a
 * cluster, which configures itself from the same configuration as
 * webencoded.
 */
#include "config.h"

#include <errno.h>
#include <glib-unix.h>
#include <glib/gstdio.h>
#include <gio/gunixinputstream.h>
#include <gio/gunixoutputstream.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/we-config.h"
#include "common/we-log.h"
#include "queue/we-live-nats.h"
#include "we-live-worker.h"
#include "we-restream-worker.h"
#include "we-worker-gst-log.h"
#include "we-worker-nats.h"
#include "we-worker.h"

#define WE_WORKER_DEFAULT_STOP_GRACE_S 30

typedef struct {
  GMainLoop    *loop;
  WeWorker     *worker;
  WeWorkerNats *nats;
  pid_t         parent;   /* --exit-with-parent: the kernel that started us */
} WeWorkerMain;

static gboolean
on_signal (gpointer user_data)
{
  WeWorkerMain *m = user_data;

  g_info ("termination requested");
  if (m->nats != NULL && m->parent != 0 && getppid () != m->parent) {
    /* the kernel that started us died (its PDEATHSIG): nobody waits for
     * the task, and its restart brings a worker of our id */
    we_log (G_LOG_LEVEL_INFO, NULL, NULL, "the kernel that started this worker is gone; "
            "stopping now");
    we_worker_nats_abandon (m->nats);
  } else if (m->nats != NULL)
    we_worker_nats_shutdown (m->nats);
  else
    we_worker_shutdown (m->worker);
  return G_SOURCE_CONTINUE;
}

/* --exit-with-parent: the kernel sets SIGHUP as our parent-death signal */
static gboolean
on_parent_gone (gpointer user_data)
{
  WeWorkerMain *m = user_data;

  we_log (G_LOG_LEVEL_INFO, NULL, NULL, "the kernel that started this worker is gone; "
          "stopping now");
  we_worker_nats_abandon (m->nats);
  return G_SOURCE_CONTINUE;
}

static void
on_finished (GObject *object, gpointer user_data)
{
  WeWorkerMain *m = user_data;

  g_main_loop_quit (m->loop);
}

/* --gst-debug[=SPEC]: a value is optional, so a callback */
static gchar *opt_gst_debug;

static gboolean
parse_gst_debug (const gchar *name, const gchar *value, gpointer data, GError **error)
{
  g_free (opt_gst_debug);
  opt_gst_debug = g_strdup (value != NULL && *value != '\0' ? value
                                                             : WE_WORKER_GST_DEBUG_DEFAULT);
  return TRUE;
}

static int
run_stdio (const gchar *worker_id)
{
  g_autoptr(GInputStream) input = NULL;
  g_autoptr(GOutputStream) output = NULL;
  WeWorkerMain m = { NULL, NULL, NULL };
  gint protocol_fd;
  gint status;

  /* stdout belongs to the protocol: move it to a private descriptor and
   * point fd 1 at stderr, so a stray printf in a library or plugin ends up
   * in the log instead of corrupting the channel */
  protocol_fd = dup (STDOUT_FILENO);
  if (protocol_fd < 0 || dup2 (STDERR_FILENO, STDOUT_FILENO) < 0) {
    g_printerr ("webencode-worker: cannot set up the protocol channel\n");
    return EXIT_FAILURE;
  }
  input = g_unix_input_stream_new (STDIN_FILENO, FALSE);
  output = g_unix_output_stream_new (protocol_fd, TRUE);

  m.loop = g_main_loop_new (NULL, FALSE);
  m.worker = we_worker_new (input, output, worker_id);
  we_worker_set_gst_debug (m.worker, opt_gst_debug);
  g_signal_connect (m.worker, "finished", G_CALLBACK (on_finished), &m);
  g_unix_signal_add (SIGTERM, on_signal, &m);
  g_unix_signal_add (SIGINT, on_signal, &m);

  we_worker_start (m.worker);
  g_main_loop_run (m.loop);

  status = we_worker_get_exit_status (m.worker);
  if (we_worker_is_busy (m.worker)) {
    /* a task that ignored its cancel still owns pipeline threads that
     * reference the worker; leave without tearing them down */
    fflush (stderr);
    _exit (status);
  }
  g_object_unref (m.worker);
  g_main_loop_unref (m.loop);
  return status;
}

/* Subjects and logs carry the id: keep it to letters, digits, '-' and '_'. */
static gchar *
make_worker_id (const gchar *wanted)
{
  gchar *id = wanted != NULL && *wanted != '\0'
                ? g_strdup (wanted)
                : g_strdup_printf ("%s-%d", g_get_host_name (), (gint) getpid ());

  g_strcanon (id, G_CSET_A_2_Z G_CSET_a_2_z G_CSET_DIGITS "_-", '-');
  if (strlen (id) > 128)
    id[128] = '\0';
  return id;
}

/* Several workers may share a host and a scratch root: each gets a folder
 * of its own, and what a dead predecessor left there is discarded. */
static gchar *
prepare_scratch (const gchar *root, const gchar *worker_id, GError **error)
{
  g_autofree gchar *dir = g_build_filename (root, worker_id, NULL);
  g_autoptr(GDir) listing = NULL;
  const gchar *name;

  if (g_mkdir_with_parents (dir, 0700) != 0) {
    g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno),
                 "cannot create scratch folder %s: %s", dir, g_strerror (errno));
    return NULL;
  }
  listing = g_dir_open (dir, 0, NULL);
  while (listing != NULL && (name = g_dir_read_name (listing)) != NULL) {
    g_autofree gchar *path = g_build_filename (dir, name, NULL);

    if (g_str_has_suffix (name, ".part") && g_file_test (path, G_FILE_TEST_IS_REGULAR))
      g_unlink (path);
  }
  return g_steal_pointer (&dir);
}

static int
run_nats (const gchar *config_path, const gchar *url, const gchar *worker_id_opt,
          guint stop_grace_s, gboolean exit_with_parent, const gchar *log_level)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(WeConfig) config = we_config_new (config_path, NULL, &error);
  g_autofree gchar *worker_id = NULL;
  g_autofree gchar *scratch_root = NULL;
  g_autofree gchar *scratch = NULL;
  WeWorkerNatsOptions opts = { 0 };
  WeWorkerMain m = { NULL, NULL, NULL, exit_with_parent ? getppid () : 0 };
  gint status;

  if (config == NULL) {
    g_printerr ("webencode-worker: %s\n", error->message);
    return EXIT_FAILURE;
  }
  we_log_init ("webencode-worker",
               log_level != NULL ? log_level : we_config_get_log_level (config),
               g_strcmp0 (we_config_get_log_format (config), "text") == 0 ? WE_LOG_FORMAT_TEXT
                                                                          : WE_LOG_FORMAT_JSON);
  if (url == NULL)
    url = we_config_get_nats_url (config);
  worker_id = make_worker_id (worker_id_opt != NULL ? worker_id_opt
                                                    : we_config_get_worker_id (config));
  scratch_root = we_config_get_scratch_dir (config) != NULL
                   ? g_strdup (we_config_get_scratch_dir (config))
                   : g_build_filename (g_get_user_cache_dir (), "webencode", "scratch", NULL);
  scratch = prepare_scratch (scratch_root, worker_id, &error);
  if (scratch == NULL) {
    g_printerr ("webencode-worker: %s\n", error->message);
    return EXIT_FAILURE;
  }

  opts.url = url;
  opts.worker_id = worker_id;
  opts.scratch_dir = scratch;
  opts.plugin_dir = we_config_get_plugin_dir (config);
  opts.heartbeat_ms = we_config_get_heartbeat_interval_ms (config);
  opts.stall_timeout_s = we_config_get_stall_timeout (config);
  opts.stop_grace_s = stop_grace_s;
  opts.gst_debug = opt_gst_debug != NULL ? opt_gst_debug
                                         : we_config_get_worker_gst_debug (config);

  m.loop = g_main_loop_new (NULL, FALSE);
  m.nats = we_worker_nats_new (config, &opts);
  g_signal_connect (m.nats, "finished", G_CALLBACK (on_finished), &m);
  g_unix_signal_add (SIGTERM, on_signal, &m);
  g_unix_signal_add (SIGINT, on_signal, &m);
  if (exit_with_parent)
    g_unix_signal_add (SIGHUP, on_parent_gone, &m);
  we_worker_nats_start (m.nats);
  g_main_loop_run (m.loop);

  status = we_worker_nats_get_exit_status (m.nats);
  if (we_worker_nats_is_busy (m.nats)) {
    /* see run_stdio(): a task deaf to its cancel keeps pipeline threads */
    fflush (stderr);
    _exit (status);
  }
  g_object_unref (m.nats);
  g_main_loop_unref (m.loop);
  return status;
}

/* --live --nats URL: the live pillar for a cluster's kernels (docs/architecture.md
 * "Live ingest in cluster mode"), configured from the same file as webencoded */
static int
run_live_nats (const gchar *config_path, const gchar *url, const gchar *worker_id_opt,
               const gchar *log_level)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(WeConfig) config = we_config_new (config_path, NULL, &error);
  g_autofree gchar *worker_id = NULL;
  g_autoptr(JsonObject) configure = NULL;
  JsonObject *plugin_config;
  WeLiveNatsWorker *link;
  gint status;

  if (config == NULL) {
    g_printerr ("webencode-worker: %s\n", error->message);
    return EXIT_FAILURE;
  }
  we_log_init ("webencode-worker",
               log_level != NULL ? log_level : we_config_get_log_level (config),
               g_strcmp0 (we_config_get_log_format (config), "text") == 0 ? WE_LOG_FORMAT_TEXT
                                                                          : WE_LOG_FORMAT_JSON);
  if (url == NULL)
    url = we_config_get_nats_url (config);
  if (url == NULL) {
    g_printerr ("webencode-worker: --live --nats needs a NATS URL\n");
    return 2;
  }
  worker_id = make_worker_id (worker_id_opt != NULL ? worker_id_opt
                                                    : we_config_get_worker_id (config));
  link = we_live_nats_worker_new (url, worker_id, we_config_get_heartbeat_interval_ms (config),
                                  &error);
  if (link == NULL) {
    g_printerr ("webencode-worker: %s\n", error->message);
    return EXIT_FAILURE;
  }
  /* what the embedded kernel would send: [plugin:live-gst] with [live] on
   * top (the ports publishers are told about, the shared output_dir) */
  plugin_config = we_config_get_plugin_config (config, "live-gst");
  json_object_set_int_member (plugin_config, "rtmp_port", we_config_get_live_rtmp_port (config));
  json_object_set_int_member (plugin_config, "srt_port", we_config_get_live_srt_port (config));
  json_object_set_string_member (plugin_config, "output_dir",
                                 we_config_get_live_output_dir (config));
  json_object_set_int_member (plugin_config, "idle_timeout_s",
                              we_config_get_live_idle_timeout_s (config));
  configure = json_object_new ();
  json_object_set_string_member (configure, "type", "configure");
  if (we_config_get_plugin_dir (config) != NULL)
    json_object_set_string_member (configure, "plugin_dir", we_config_get_plugin_dir (config));
  json_object_set_string_member (configure, "plugin_id", "live-gst");
  json_object_set_object_member (configure, "config", plugin_config);
  we_live_nats_worker_inject (link, configure);
  we_log (G_LOG_LEVEL_INFO, NULL, NULL, "live worker %s joins the cluster over NATS", worker_id);
  status = we_live_worker_run_streams (we_live_nats_worker_get_input (link),
                                       we_live_nats_worker_get_output (link));
  we_live_nats_worker_free (link);
  return status;
}

int
main (int argc, char **argv)
{
  gboolean opt_stdio = FALSE;
  gboolean opt_live = FALSE;
  gboolean opt_restream = FALSE;
  gboolean opt_version = FALSE;
  g_autofree gchar *opt_worker_id = NULL;
  g_autofree gchar *opt_log_level = NULL;
  g_autofree gchar *opt_nats = NULL;
  g_autofree gchar *opt_config = NULL;
  gint opt_stop_grace = WE_WORKER_DEFAULT_STOP_GRACE_S;
  gboolean opt_exit_with_parent = FALSE;
  const GOptionEntry entries[] = {
    { "stdio", 0, 0, G_OPTION_ARG_NONE, &opt_stdio,
      "Speak the worker protocol on stdin/stdout (embedded mode)", NULL },
    { "live", 0, 0, G_OPTION_ARG_NONE, &opt_live,
      "Run the live pillar (RTMP/SRT ingest) for webencoded, on stdin/stdout; with --nats "
      "for every kernel of a cluster", NULL },
    { "restream", 0, 0, G_OPTION_ARG_NONE, &opt_restream,
      "Run one restream's pipeline for webencoded, on stdin/stdout", NULL },
    { "nats", 0, 0, G_OPTION_ARG_STRING, &opt_nats,
      "Take tasks from NATS JetStream (cluster mode; default: NATS_URL)", "URL" },
    { "config", 'c', 0, G_OPTION_ARG_FILENAME, &opt_config,
      "Configuration file (cluster mode; default: WE_CONFIG)", "FILE" },
    { "worker-id", 0, 0, G_OPTION_ARG_STRING, &opt_worker_id,
      "Worker identifier (cluster mode default: WE_WORKER_ID, else <hostname>-<pid>)", "ID" },
    { "stop-grace", 0, 0, G_OPTION_ARG_INT, &opt_stop_grace,
      "Cluster mode: seconds a stop lets the running task finish before cancelling it "
      "(default: 30)", "SECONDS" },
    { "exit-with-parent", 0, 0, G_OPTION_ARG_NONE, &opt_exit_with_parent,
      "Cluster mode: stop at once, cancelling the task, when the process that started this "
      "worker dies (webencoded gives it to the workers it starts)", NULL },
    { "gst-debug", 0, G_OPTION_FLAG_OPTIONAL_ARG, G_OPTION_ARG_CALLBACK, parse_gst_debug,
      "Keep a GStreamer debug log per task, uploaded beside the job's outputs (SPEC as "
      "GST_DEBUG, default: *:4; cluster mode default: [workers] gst_debug)", "SPEC" },
    { "log-level", 0, 0, G_OPTION_ARG_STRING, &opt_log_level,
      "debug, info, warning or error (default: info)", "LEVEL" },
    { "version", 0, 0, G_OPTION_ARG_NONE, &opt_version, "Print the version and exit", NULL },
    { NULL }
  };
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  const gchar *env_nats = g_getenv ("NATS_URL");

  context = g_option_context_new ("- run WebEncode media tasks");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error)) {
    g_printerr ("webencode-worker: %s\n", error->message);
    return EXIT_FAILURE;
  }
  if (opt_version) {
    g_print ("webencode-worker %s\n", PACKAGE_VERSION);
    return EXIT_SUCCESS;
  }

  /* a kernel or server that went away must surface as a write error, not
   * kill us */
  signal (SIGPIPE, SIG_IGN);

  if (opt_live && (opt_nats != NULL || (env_nats != NULL && *env_nats != '\0')))
    return run_live_nats (opt_config, opt_nats, opt_worker_id, opt_log_level);
  if (opt_restream) {
    we_log_init ("webencode-worker", opt_log_level != NULL ? opt_log_level : "info",
                 WE_LOG_FORMAT_JSON);
    return we_restream_worker_run ();
  }
  if (opt_live) {
    we_log_init ("webencode-worker", opt_log_level != NULL ? opt_log_level : "info",
                 WE_LOG_FORMAT_JSON);
    return we_live_worker_run ();
  }
  if (opt_stdio) {
    we_log_init ("webencode-worker", opt_log_level != NULL ? opt_log_level : "info",
                 WE_LOG_FORMAT_JSON);
    return run_stdio (opt_worker_id);
  }
  if (opt_nats != NULL || (env_nats != NULL && *env_nats != '\0')) {
    if (opt_stop_grace < 0) {
      g_printerr ("webencode-worker: --stop-grace must not be negative\n");
      return 2;
    }
    return run_nats (opt_config, opt_nats, opt_worker_id, (guint) opt_stop_grace,
                     opt_exit_with_parent, opt_log_level);
  }
  g_printerr ("webencode-worker: give --stdio (child of webencoded) or --nats URL "
              "(or set NATS_URL) for a cluster worker\n");
  return 2;
}
