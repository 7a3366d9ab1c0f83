/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"
#include "we-rbac.h"

static const WeRbacPolicy policies[] = {
  { "system.health",   WE_ROLE_NONE,     "system" },
  { "auth.login",      WE_ROLE_NONE,     "session" },
  { "auth.session",    WE_ROLE_VIEWER,   "session" },
  { "user.read",       WE_ROLE_ADMIN,    "user" },
  { "token.read",      WE_ROLE_ADMIN,    "token" },
  { "token.create",    WE_ROLE_ADMIN,    "token" },
  { "token.revoke",    WE_ROLE_ADMIN,    "token" },
  { "profile.read",    WE_ROLE_VIEWER,   "profile" },
  { "profile.create",  WE_ROLE_ADMIN,    "profile" },
  { "profile.update",  WE_ROLE_ADMIN,    "profile" },
  { "profile.delete",  WE_ROLE_ADMIN,    "profile" },
  { "job.read",        WE_ROLE_VIEWER,   "job" },
  { "job.create",      WE_ROLE_OPERATOR, "job" },
  { "job.update",      WE_ROLE_OPERATOR, "job" },
  { "job.delete",      WE_ROLE_OPERATOR, "job" },
  { "job.cancel",      WE_ROLE_OPERATOR, "job" },
  { "job.retry",       WE_ROLE_OPERATOR, "job" },
  /* pipelines and GStreamer logs show the workers' paths and internals */
  { "job.debug",       WE_ROLE_OPERATOR, "job" },
  /* publishing a job's output to an external platform (issue 11) */
  { "job.publish",     WE_ROLE_OPERATOR, "job" },
  { "file.read",       WE_ROLE_VIEWER,   "file" },
  { "file.upload",     WE_ROLE_OPERATOR, "file" },
  { "worker.read",     WE_ROLE_VIEWER,   "worker" },
  { "worker.delete",   WE_ROLE_ADMIN,    "worker" },
  { "worker.drain",    WE_ROLE_ADMIN,    "worker" },
  /* plugin configuration shows paths, hosts and secret references */
  { "plugin.read",     WE_ROLE_ADMIN,    "plugin" },
  { "plugin.update",   WE_ROLE_ADMIN,    "plugin" },
  { "plugin.test",     WE_ROLE_ADMIN,    "plugin" },
  /* live streams (§19.5: operators create and edit streams); reading never
   * shows a key, rotating and revealing show one to the operator who asks */
  { "stream.read",     WE_ROLE_VIEWER,   "stream" },
  { "stream.create",   WE_ROLE_OPERATOR, "stream" },
  { "stream.update",   WE_ROLE_OPERATOR, "stream" },
  { "stream.delete",   WE_ROLE_OPERATOR, "stream" },
  { "stream.rotate",   WE_ROLE_OPERATOR, "stream" },
  { "stream.reveal",   WE_ROLE_OPERATOR, "stream" },
  /* restreams (issue 11): destination URLs are masked for everyone after
   * creation; operators run and edit them */
  { "restream.read",   WE_ROLE_VIEWER,   "restream" },
  { "restream.create", WE_ROLE_OPERATOR, "restream" },
  { "restream.update", WE_ROLE_OPERATOR, "restream" },
  { "restream.delete", WE_ROLE_OPERATOR, "restream" },
  { "restream.start",  WE_ROLE_OPERATOR, "restream" },
  { "restream.stop",   WE_ROLE_OPERATOR, "restream" },
  /* a ticket for the dashboard WebSocket (and the upgrade itself); each
   * subscription is then checked against job.read / worker.read */
  { "ws.ticket",       WE_ROLE_VIEWER,   "session" },
  { "audit.read",      WE_ROLE_ADMIN,    "audit" },
  { "webhook.read",    WE_ROLE_ADMIN,    "webhook" },
  { "webhook.create",  WE_ROLE_ADMIN,    "webhook" },
  { "webhook.update",  WE_ROLE_ADMIN,    "webhook" },
  { "webhook.delete",  WE_ROLE_ADMIN,    "webhook" },
  { "webhook.deliver", WE_ROLE_ADMIN,    "webhook" },
  /* the caller's own key for the per-job "webhooks" of the jobs they submit */
  { "webhook.job-secret", WE_ROLE_OPERATOR, "webhook" },
  /* the dashboard's files: the app logs in by itself once loaded */
  { "web.static",      WE_ROLE_NONE,     "web" },
  /* reported by the dashboard, which can fail before anyone logs in (the
   * login page): public, but rate-limited per address and size-capped */
  { "error.report",    WE_ROLE_NONE,     "error" },
  { "error.read",      WE_ROLE_ADMIN,    "error" },
  { "error.update",    WE_ROLE_ADMIN,    "error" },
};

const WeRbacPolicy *
we_rbac_lookup (const gchar *action)
{
  for (guint i = 0; action != NULL && i < G_N_ELEMENTS (policies); i++) {
    if (g_str_equal (policies[i].action, action))
      return &policies[i];
  }
  return NULL;
}

const WeRbacPolicy *
we_rbac_policies (guint *n_policies)
{
  *n_policies = G_N_ELEMENTS (policies);
  return policies;
}

gboolean
we_rbac_check (const WeIdentity *identity, const gchar *action, GError **error)
{
  const WeRbacPolicy *policy = we_rbac_lookup (action);

  if (policy == NULL) {
    /* fail closed: an entry point nobody wrote a policy for is nobody's */
    g_set_error (error, WE_ERROR, WE_ERROR_AUTH_FORBIDDEN, "action %s has no access policy",
                 action != NULL ? action : "(none)");
    return FALSE;
  }
  if (policy->role == WE_ROLE_NONE)
    return TRUE;
  if (identity == NULL) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_AUTH_UNAUTHORIZED, "authentication required");
    return FALSE;
  }
  if (identity->role < policy->role) {
    g_set_error (error, WE_ERROR, WE_ERROR_AUTH_ROLE_REQUIRED,
                 "%s needs the %s role; %s has the %s role", action,
                 we_role_to_string (policy->role),
                 identity->username != NULL ? identity->username : "the caller",
                 we_role_to_string (identity->role));
    return FALSE;
  }
  return TRUE;
}
