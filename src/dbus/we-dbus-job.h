/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The objects /org/webencode/WebEncode1/Job/<id>: one per job a D-Bus
 * caller can follow, kept in the service's GDBusObjectManagerServer. The
 * scheduler's "job-changed" updates their properties (the skeleton emits
 * PropertiesChanged); progress at most about once a second per job.
 */
#pragma once

#include "common/we-job.h"
#include "we-dbus-generated.h"

G_BEGIN_DECLS

#define WE_DBUS_JOB_PATH_PREFIX "/org/webencode/WebEncode1/Job/"

#define WE_TYPE_DBUS_JOB (we_dbus_job_get_type ())
G_DECLARE_FINAL_TYPE (WeDbusJob, we_dbus_job, WE, DBUS_JOB, GObject)

/* Returns: (transfer full): the object path of job @job_id (dashes become
 * underscores: D-Bus paths allow neither) */
gchar              *we_dbus_job_path_for_id   (const gchar *job_id);
/* Returns: (transfer full) (nullable): the job id of @path, NULL when @path
 * is not a job object's */
gchar              *we_dbus_job_id_for_path   (const gchar *path);

/* A new object for @job, not yet exported. */
WeDbusJob          *we_dbus_job_new           (const WeJob *job);
WeDBusObjectSkeleton *we_dbus_job_get_object  (WeDbusJob *self);
WeDBusWebEncode1Job *we_dbus_job_get_iface    (WeDbusJob *self);
const gchar        *we_dbus_job_get_path      (WeDbusJob *self);

/* Applies @job. Sets @state_changed when the state differs from what was
 * shown, @progress_due when progress/ETA changed and may be shown now;
 * a progress change that comes too soon is kept for we_dbus_job_flush(). */
void                we_dbus_job_update        (WeDbusJob   *self,
                                               const WeJob *job,
                                               gboolean    *state_changed,
                                               gboolean    *progress_due);
/* Shows progress held back by the throttle; TRUE when there was some. */
gboolean            we_dbus_job_flush         (WeDbusJob *self);
/* @outputs: (transfer floating): aa{sv}, as ListOutputs gives them */
void                we_dbus_job_set_outputs   (WeDbusJob *self,
                                               GVariant  *outputs);

G_END_DECLS
