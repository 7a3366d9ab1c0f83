/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The D-Bus API (dbus/org.webencode.WebEncode1.xml) of one webencoded:
 * owns the name org.webencode.WebEncode1 on the session or system bus,
 * exports the manager at /org/webencode/WebEncode1 and the job objects below
 * it, and answers with the kernel's own code and JSON (as a{sv}), like REST.
 */
#pragma once

#include "api/we-api-server.h"

G_BEGIN_DECLS

#define WE_DBUS_NAME "org.webencode.WebEncode1"
#define WE_DBUS_PATH "/org/webencode/WebEncode1"

#define WE_TYPE_DBUS_SERVICE (we_dbus_service_get_type ())
G_DECLARE_FINAL_TYPE (WeDbusService, we_dbus_service, WE, DBUS_SERVICE, GObject)

/* @context: referenced, not copied (the daemon outlives us).
 * @linger_s: how long a finished job's object stays exported. */
WeDbusService *we_dbus_service_new   (const WeApiContext *context,
                                      GBusType            bus_type,
                                      guint               linger_s);
/* Connects to the bus, exports the objects and asks for the name; whether
 * the name came is told by the "name-acquired" / "name-lost" signals. */
gboolean       we_dbus_service_start (WeDbusService *self,
                                      GError       **error);
/* Releases the name and unexports everything. */
void           we_dbus_service_stop  (WeDbusService *self);

G_END_DECLS
