/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The CLI's operations over webencoded's D-Bus API
 * (dbus/org.webencode.WebEncode1.xml): a{sv} results turned back into the
 * REST API's JSON, job waits driven by the JobStateChanged and JobProgress
 * signals, uploads and downloads as file descriptors.
 */
#pragma once

#include "we-cli-backend.h"

G_BEGIN_DECLS

#define WE_CLI_DBUS_NAME       "org.webencode.WebEncode1"
#define WE_CLI_DBUS_PATH       "/org/webencode/WebEncode1"
#define WE_CLI_DBUS_INTERFACE  "org.webencode.WebEncode1"

#define WE_TYPE_CLI_DBUS (we_cli_dbus_get_type ())
G_DECLARE_FINAL_TYPE (WeCliDbus, we_cli_dbus, WE, CLI_DBUS, GObject)

WeCliDbus *we_cli_dbus_new (GDBusConnection *bus,
                            GBusType         bus_type);

/* Whether a service is on @bus_type's bus: the name has an owner, or the bus
 * can start one (D-Bus activation). The result is the bus, or NULL with no
 * error when there is no service (or no such bus). */
void             we_cli_dbus_probe_async  (GBusType             bus_type,
                                           GCancellable        *cancellable,
                                           GAsyncReadyCallback  callback,
                                           gpointer             user_data);
GDBusConnection *we_cli_dbus_probe_finish (GAsyncResult  *res,
                                           GError       **error);

G_END_DECLS
