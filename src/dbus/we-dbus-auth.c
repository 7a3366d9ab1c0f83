/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"
#include "we-dbus-auth.h"

#include <pwd.h>
#include <unistd.h>

#include "core/we-rbac.h"

/* polkit's CheckAuthorizationFlags.AllowUserInteraction */
#define POLKIT_ALLOW_USER_INTERACTION 1u

typedef struct {
  GDBusMessage          *message;
  GBusType               bus_type;
  gchar                 *action;
  guint32                uid;
  WeRole                 wanted;
  WeIdentity            *refused;
} Check;

static void
check_free (Check *c)
{
  g_clear_object (&c->message);
  g_free (c->action);
  g_clear_pointer (&c->refused, we_identity_free);
  g_free (c);
}

const gchar *
we_dbus_auth_polkit_action (WeRole role)
{
  switch (role) {
  case WE_ROLE_VIEWER:
    return "org.webencode.webencode1.viewer";
  case WE_ROLE_OPERATOR:
    return "org.webencode.webencode1.operator";
  case WE_ROLE_ADMIN:
    return "org.webencode.webencode1.admin";
  case WE_ROLE_NONE:
  default:
    return NULL;
  }
}

static WeIdentity *
identity_for_uid (guint32 uid, WeRole role)
{
  WeIdentity *identity = we_identity_new ();
  struct passwd pw, *found = NULL;
  gchar buf[1024];

  identity->user_id = g_strdup_printf ("unix:%u", uid);
  if (getpwuid_r (uid, &pw, buf, sizeof buf, &found) == 0 && found != NULL)
    identity->username = g_strdup (found->pw_name);
  else
    identity->username = g_strdup_printf ("uid %u", uid);
  identity->role = role;
  return identity;
}

/* The last step for every caller: the same table as REST. */
static void
finish_with_role (GTask *task, WeRole role)
{
  Check *c = g_task_get_task_data (task);
  g_autoptr(WeIdentity) identity = identity_for_uid (c->uid, role);
  GError *error = NULL;

  if (!we_rbac_check (identity, c->action, &error)) {
    /* who was refused: the audit log names them */
    c->refused = g_steal_pointer (&identity);
    g_task_return_error (task, error);
    return;
  }
  g_task_return_pointer (task, g_steal_pointer (&identity), (GDestroyNotify) we_identity_free);
}

static void
polkit_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  Check *c = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result,
                                                             &error);
  gboolean authorized = FALSE, challenge = FALSE;

  if (reply == NULL) {
    /* no polkit, no access beyond what anyone has: fail closed, and say why */
    g_autofree gchar *remote = g_dbus_error_get_remote_error (error);
    g_task_return_new_error (task, WE_ERROR, WE_ERROR_AUTH_PROVIDER_UNAVAILABLE,
                             "polkit could not decide on %s: %s",
                             we_dbus_auth_polkit_action (c->wanted),
                             remote != NULL ? remote : error->message);
    return;
  }
  g_variant_get (reply, "((bb@a{ss}))", &authorized, &challenge, NULL);
  /* granted: the caller holds the role the action needs, and no more */
  finish_with_role (task, authorized ? c->wanted : WE_ROLE_NONE);
}

static void
ask_polkit (GTask *task, GDBusConnection *connection)
{
  Check *c = g_task_get_task_data (task);
  GDBusMessage *message = c->message;
  guint32 flags = 0;
  GVariantBuilder subject, details;

  if (g_dbus_message_get_flags (message) & G_DBUS_MESSAGE_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION)
    flags |= POLKIT_ALLOW_USER_INTERACTION;
  g_variant_builder_init (&subject, G_VARIANT_TYPE ("a{sv}"));
  g_variant_builder_add (&subject, "{sv}", "name",
                         g_variant_new_string (g_dbus_message_get_sender (message)));
  /* no details: polkit only takes them from privileged callers */
  g_variant_builder_init (&details, G_VARIANT_TYPE ("a{ss}"));
  g_dbus_connection_call (connection, "org.freedesktop.PolicyKit1",
                          "/org/freedesktop/PolicyKit1/Authority",
                          "org.freedesktop.PolicyKit1.Authority", "CheckAuthorization",
                          g_variant_new ("((sa{sv})sa{ss}us)", "system-bus-name", &subject,
                                         we_dbus_auth_polkit_action (c->wanted), &details,
                                         flags, ""),
                          G_VARIANT_TYPE ("((bba{ss}))"), G_DBUS_CALL_FLAGS_NONE,
                          /* an interactive authentication waits for a person */
                          flags != 0 ? G_MAXINT : 25000, g_task_get_cancellable (task),
                          polkit_cb, g_object_ref (task));
}

static void
uid_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  Check *c = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result,
                                                             &error);
  const WeRbacPolicy *policy;

  if (reply == NULL) {
    g_task_return_new_error (task, WE_ERROR, WE_ERROR_AUTH_UNAUTHORIZED,
                             "the bus did not say who the caller is: %s", error->message);
    return;
  }
  g_variant_get (reply, "(u)", &c->uid);
  if (c->bus_type != G_BUS_TYPE_SYSTEM) {
    /* a desktop user's own service: theirs alone */
    finish_with_role (task, c->uid == getuid () ? WE_ROLE_ADMIN : WE_ROLE_NONE);
    return;
  }
  if (c->uid == 0) {
    finish_with_role (task, WE_ROLE_ADMIN);
    return;
  }
  policy = we_rbac_lookup (c->action);
  if (policy == NULL || policy->role == WE_ROLE_NONE) {
    /* nothing to ask: the table decides (anyone, or nobody) */
    finish_with_role (task, WE_ROLE_NONE);
    return;
  }
  c->wanted = policy->role;
  ask_polkit (task, G_DBUS_CONNECTION (source));
}

void
we_dbus_auth_check_message_async (GDBusConnection *connection, GDBusMessage *message,
                                  GBusType bus_type, const gchar *action,
                                  GCancellable *cancellable, GAsyncReadyCallback callback,
                                  gpointer user_data)
{
  g_autoptr(GTask) task = g_task_new (NULL, cancellable, callback, user_data);
  Check *c = g_new0 (Check, 1);
  const gchar *sender = g_dbus_message_get_sender (message);

  g_task_set_source_tag (task, we_dbus_auth_check_message_async);
  c->message = g_object_ref (message);
  c->bus_type = bus_type;
  c->action = g_strdup (action);
  g_task_set_task_data (task, c, (GDestroyNotify) check_free);
  if (sender == NULL) {
    /* a peer-to-peer connection has no bus to vouch for the caller */
    g_task_return_new_error (task, WE_ERROR, WE_ERROR_AUTH_UNAUTHORIZED,
                             "the caller has no bus name");
    return;
  }
  g_dbus_connection_call (connection, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                          "org.freedesktop.DBus", "GetConnectionUnixUser",
                          g_variant_new ("(s)", sender), G_VARIANT_TYPE ("(u)"),
                          G_DBUS_CALL_FLAGS_NONE, -1, cancellable, uid_cb,
                          g_steal_pointer (&task));
}

void
we_dbus_auth_check_async (GDBusMethodInvocation *invocation, GBusType bus_type,
                          const gchar *action, GCancellable *cancellable,
                          GAsyncReadyCallback callback, gpointer user_data)
{
  we_dbus_auth_check_message_async (g_dbus_method_invocation_get_connection (invocation),
                                    g_dbus_method_invocation_get_message (invocation), bus_type,
                                    action, cancellable, callback, user_data);
}

WeIdentity *
we_dbus_auth_check_finish (GAsyncResult *result, WeIdentity **refused, GError **error)
{
  Check *c;

  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  c = g_task_get_task_data (G_TASK (result));
  if (refused != NULL)
    *refused = g_steal_pointer (&c->refused);
  return g_task_propagate_pointer (G_TASK (result), error);
}
