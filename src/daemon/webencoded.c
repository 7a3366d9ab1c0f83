/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * webencoded: the WebEncode control plane.
 */
#include "config.h"

#include <glib-unix.h>
#include <glib/gi18n.h>
#include <locale.h>
#include <stdio.h>

#include "common/we-log.h"
#include "we-daemon.h"

typedef struct {
  GMainLoop *loop;
  WeDaemon  *daemon;
  gboolean   stopping;
  int        status;
} App;

static gboolean
stopped_cb (gpointer user_data)
{
  App *app = user_data;

  g_main_loop_quit (app->loop);
  return G_SOURCE_REMOVE;
}

static void
on_fatal (WeDaemon *daemon, const gchar *message, gpointer user_data)
{
  App *app = user_data;

  we_log (G_LOG_LEVEL_CRITICAL, NULL, "WE-SYS-004", "stopping: %s", message);
  g_printerr ("webencoded: %s\n", message);
  app->status = 1;
  if (!app->stopping) {
    app->stopping = TRUE;
    we_daemon_stop (app->daemon, stopped_cb, app);
  }
}

static gboolean
on_signal (gpointer user_data)
{
  App *app = user_data;

  if (app->stopping)
    return G_SOURCE_CONTINUE;
  app->stopping = TRUE;
  we_log (G_LOG_LEVEL_INFO, NULL, NULL, "shutting down");
  we_daemon_stop (app->daemon, stopped_cb, app);
  return G_SOURCE_CONTINUE;
}

int
main (int argc, char **argv)
{
  g_autofree gchar *config_path = NULL;
  g_autofree gchar *dbus_bus = NULL;
  gboolean version = FALSE;
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(WeConfig) config = NULL;
  g_autoptr(GMainLoop) loop = NULL;
  g_autoptr(WeDaemon) daemon = NULL;
  g_autofree gchar *exe = NULL;
  App app = { 0 };
  const GOptionEntry entries[] = {
    { "config", 'c', 0, G_OPTION_ARG_FILENAME, &config_path,
      "Configuration key file (default: $WE_CONFIG)", "FILE" },
    { "dbus", 0, 0, G_OPTION_ARG_STRING, &dbus_bus,
      "Serve the D-Bus API on this bus: session, system or none (default: [dbus] bus)",
      "BUS" },
    { "version", 0, 0, G_OPTION_ARG_NONE, &version, "Print the version and exit", NULL },
    { NULL },
  };

  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE, WE_LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);

  context = g_option_context_new ("- WebEncode video processing service");
  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  if (!g_option_context_parse (context, &argc, &argv, &error)) {
    g_printerr ("webencoded: %s\n", error->message);
    return 2;
  }
  if (version) {
    g_print ("webencoded %s\n", PACKAGE_VERSION);
    return 0;
  }

  config = we_config_new (config_path, NULL, &error);
  if (config == NULL) {
    g_printerr ("webencoded: %s\n", error->message);
    return 2;
  }
  we_log_init ("webencoded", we_config_get_log_level (config),
               g_strcmp0 (we_config_get_log_format (config), "text") == 0 ? WE_LOG_FORMAT_TEXT
                                                                          : WE_LOG_FORMAT_JSON);

  exe = g_file_read_link ("/proc/self/exe", NULL);
  loop = g_main_loop_new (NULL, FALSE);
  daemon = we_daemon_new (config);
  if (dbus_bus != NULL)
    we_daemon_set_dbus_bus (daemon, dbus_bus);
  if (!we_daemon_start (daemon, exe ? exe : argv[0], &error)) {
    we_log (G_LOG_LEVEL_CRITICAL, NULL, "WE-SYS-004", "cannot start: %s", error->message);
    g_printerr ("webencoded: cannot start: %s\n", error->message);
    return 1;
  }
  app.loop = loop;
  app.daemon = daemon;
  g_signal_connect (daemon, "fatal", G_CALLBACK (on_fatal), &app);
  g_unix_signal_add (SIGTERM, on_signal, &app);
  g_unix_signal_add (SIGINT, on_signal, &app);

  /* the one line a person starting us by hand is looking for */
  g_print ("WebEncode API listening on %s\n", we_daemon_get_api_url (daemon));
  fflush (stdout);
  we_log (G_LOG_LEVEL_INFO, NULL, NULL, "API listening on %s", we_daemon_get_api_url (daemon));

  g_main_loop_run (loop);
  g_clear_object (&daemon);
  we_log (G_LOG_LEVEL_INFO, NULL, NULL, "stopped");
  return app.status;
}
