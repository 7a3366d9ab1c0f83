/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The service object: owns the store, plugin host, queue, scheduler and API
 * server of one webencoded instance (no global state, so tests can run
 * several side by side).
 */
#pragma once

#include "common/we-config.h"

G_BEGIN_DECLS

#define WE_TYPE_DAEMON (we_daemon_get_type ())
G_DECLARE_FINAL_TYPE (WeDaemon, we_daemon, WE, DAEMON, GObject)

WeDaemon    *we_daemon_new         (WeConfig *config);
/* Opens the store, loads plugins, starts workers and the API, resumes jobs.
 * @exe_path: this program's path, to find the worker and plugins beside it
 * in a build tree. */
gboolean     we_daemon_start       (WeDaemon    *self,
                                    const gchar *exe_path,
                                    GError     **error);
/* Stops accepting requests, asks workers to finish, flushes the store.
 * Calls @done on the main loop when everything has stopped. */
void         we_daemon_stop        (WeDaemon      *self,
                                    GSourceFunc    done,
                                    gpointer       user_data);
const gchar *we_daemon_get_api_url (WeDaemon *self);
/* webencoded --dbus=BUS: overrides [dbus] bus ("session", "system", "auto",
 * "none"); a bus asked for this way that fails stops the daemon (at start,
 * or later through the "fatal" signal). Call before we_daemon_start(). */
void         we_daemon_set_dbus_bus (WeDaemon    *self,
                                     const gchar *bus);

G_END_DECLS
