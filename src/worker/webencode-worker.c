/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * webencode-worker: runs media tasks for webencoded, one at a time, so a
 * crashing decoder or a hostile file costs one task and never the service.
 */
#include "config.h"

#include <glib-unix.h>
#include <gio/gunixinputstream.h>
#include <gio/gunixoutputstream.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/we-log.h"
#include "we-worker.h"

typedef struct {
  GMainLoop *loop;
  WeWorker  *worker;
} WeWorkerMain;

static gboolean
on_signal (gpointer user_data)
{
  WeWorkerMain *m = user_data;

  g_info ("termination requested");
  we_worker_shutdown (m->worker);
  return G_SOURCE_CONTINUE;
}

static void
on_finished (WeWorker *worker, gpointer user_data)
{
  WeWorkerMain *m = user_data;

  g_main_loop_quit (m->loop);
}

int
main (int argc, char **argv)
{
  gboolean opt_stdio = FALSE;
  gboolean opt_version = FALSE;
  g_autofree gchar *opt_worker_id = NULL;
  g_autofree gchar *opt_log_level = NULL;
  const GOptionEntry entries[] = {
    { "stdio", 0, 0, G_OPTION_ARG_NONE, &opt_stdio,
      "Speak the worker protocol on stdin/stdout (embedded mode)", NULL },
    { "worker-id", 0, 0, G_OPTION_ARG_STRING, &opt_worker_id, "Worker identifier", "ID" },
    { "log-level", 0, 0, G_OPTION_ARG_STRING, &opt_log_level,
      "debug, info, warning or error (default: info)", "LEVEL" },
    { "version", 0, 0, G_OPTION_ARG_NONE, &opt_version, "Print the version and exit", NULL },
    { NULL }
  };
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GInputStream) input = NULL;
  g_autoptr(GOutputStream) output = NULL;
  WeWorkerMain m = { NULL, NULL };
  gint protocol_fd;
  gint status;

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
  if (!opt_stdio) {
    g_printerr ("webencode-worker: only --stdio mode is supported\n");
    return 2;
  }
  we_log_init ("webencode-worker", opt_log_level != NULL ? opt_log_level : "info",
               WE_LOG_FORMAT_JSON);

  /* a kernel that went away must surface as a write error, not kill us */
  signal (SIGPIPE, SIG_IGN);

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
  m.worker = we_worker_new (input, output, opt_worker_id);
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
