/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Role-based access control (spec §19.5) in one place. Every REST route,
 * WebSocket subscription and D-Bus method names an *action*; this table says
 * which role an action needs. Viewer reads, operator runs jobs (and streams,
 * restreams), admin manages profiles, plugins, workers, tokens, webhooks and
 * reads the audit log. An action missing from the table is refused, so a new
 * entry point without a policy cannot be reached (and the RBAC test fails).
 */
#pragma once

#include <webencode/webencode.h>

G_BEGIN_DECLS

typedef struct {
  const gchar *action;        /* "job.create" */
  WeRole       role;          /* least role allowed; WE_ROLE_NONE = anyone */
  const gchar *resource_type; /* "job": what the audit log files it under */
} WeRbacPolicy;

/* Returns: (transfer none) (nullable): the policy of @action */
const WeRbacPolicy *we_rbac_lookup   (const gchar *action);
/* Returns: (transfer none) (array length=n_policies): every policy */
const WeRbacPolicy *we_rbac_policies (guint *n_policies);

/* TRUE when @identity (nullable: anonymous) may perform @action. Errors:
 * WE_ERROR_AUTH_UNAUTHORIZED without an identity, WE_ERROR_AUTH_ROLE_REQUIRED
 * when the role is too low, WE_ERROR_AUTH_FORBIDDEN for an unknown action. */
gboolean            we_rbac_check    (const WeIdentity *identity,
                                      const gchar      *action,
                                      GError          **error);

G_END_DECLS
