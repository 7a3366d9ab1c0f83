/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Who is calling us over D-Bus, and may they: the caller's uid from the bus
 * (GetConnectionUnixUser), turned into a WeIdentity, then the one RBAC table
 * (core/we-rbac.c) with the method's action.
 *
 * Session bus: the service's own user is admin; any other uid is a caller
 * without a role (WeIdentity with WE_ROLE_NONE), so everything but
 * system.health ends in WE-AUTH-004. System bus: uid 0 is admin; for other
 * callers polkit is asked (org.freedesktop.PolicyKit1.Authority, over GDBus:
 * no libpolkit) for org.webencode.webencode1.{viewer,operator,admin}, the
 * least role the action needs.
 */
#pragma once

#include <gio/gio.h>
#include <webencode/webencode.h>

G_BEGIN_DECLS

/* The polkit action id of @role ("org.webencode.webencode1.operator"), or
 * NULL for WE_ROLE_NONE. */
const gchar *we_dbus_auth_polkit_action (WeRole role);

/* Checks that the sender of @invocation may perform @action (an RBAC action
 * name, e.g. "job.create") on a @bus_type bus. Errors: WE_ERROR_AUTH_*. */
void        we_dbus_auth_check_async  (GDBusMethodInvocation *invocation,
                                       GBusType               bus_type,
                                       const gchar           *action,
                                       GCancellable          *cancellable,
                                       GAsyncReadyCallback    callback,
                                       gpointer               user_data);
/* The same for a method call @message that came in on @connection, where
 * there is no invocation (a property read caught by a filter). */
void        we_dbus_auth_check_message_async (GDBusConnection     *connection,
                                              GDBusMessage        *message,
                                              GBusType             bus_type,
                                              const gchar         *action,
                                              GCancellable        *cancellable,
                                              GAsyncReadyCallback  callback,
                                              gpointer             user_data);
/* @refused: (out) (optional) (transfer full): on WE-AUTH-004, the caller
 * who lacks the role, for the audit log
 * Returns: (transfer full): the caller, allowed @action */
WeIdentity *we_dbus_auth_check_finish (GAsyncResult *result,
                                       WeIdentity  **refused,
                                       GError      **error);

G_END_DECLS
