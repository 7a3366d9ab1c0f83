/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"
#include "we-dbus-job.h"

#include <string.h>

#define PROGRESS_INTERVAL_US G_USEC_PER_SEC

struct _WeDbusJob {
  GObject               parent_instance;
  WeDBusObjectSkeleton *object;
  WeDBusWebEncode1Job  *iface;
  gint64                progress_shown_at;
  gboolean              pending;
  gdouble               pending_progress;
  gint64                pending_eta;
};

G_DEFINE_TYPE (WeDbusJob, we_dbus_job, G_TYPE_OBJECT)

static void
we_dbus_job_dispose (GObject *object)
{
  WeDbusJob *self = WE_DBUS_JOB (object);

  g_clear_object (&self->iface);
  g_clear_object (&self->object);
  G_OBJECT_CLASS (we_dbus_job_parent_class)->dispose (object);
}

static void
we_dbus_job_class_init (WeDbusJobClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = we_dbus_job_dispose;
}

static void
we_dbus_job_init (WeDbusJob *self)
{
}

gchar *
we_dbus_job_path_for_id (const gchar *job_id)
{
  GString *path = g_string_new (WE_DBUS_JOB_PATH_PREFIX);

  /* ids are UUIDs; anything else a path cannot hold becomes "_" too */
  for (const gchar *p = job_id; *p != '\0'; p++)
    g_string_append_c (path, g_ascii_isalnum (*p) ? *p : '_');
  return g_string_free (path, FALSE);
}

gchar *
we_dbus_job_id_for_path (const gchar *path)
{
  gchar *id;

  if (path == NULL || !g_str_has_prefix (path, WE_DBUS_JOB_PATH_PREFIX))
    return NULL;
  id = g_strdup (path + strlen (WE_DBUS_JOB_PATH_PREFIX));
  if (*id == '\0' || strchr (id, '/') != NULL) {
    g_free (id);
    return NULL;
  }
  g_strdelimit (id, "_", '-');
  return id;
}

/* The interface promises five states; the REST JSON has the fine ones. */
static const gchar *
state_for (WeJobStatus status)
{
  switch (status) {
  case WE_JOB_STATUS_STITCHING:
  case WE_JOB_STATUS_UPLOADING:
    return "processing";
  default:
    return we_job_status_to_string (status);
  }
}

static const gchar *
profile_for (const WeJob *job)
{
  return job->profile_id != NULL && *job->profile_id != '\0' ? job->profile_id : "custom";
}

WeDbusJob *
we_dbus_job_new (const WeJob *job)
{
  WeDbusJob *self = g_object_new (WE_TYPE_DBUS_JOB, NULL);
  g_autofree gchar *path = we_dbus_job_path_for_id (job->id);
  g_autoptr(GVariant) no_outputs = g_variant_ref_sink (g_variant_new ("aa{sv}", NULL));

  self->object = we_dbus_object_skeleton_new (path);
  self->iface = we_dbus_web_encode1_job_skeleton_new ();
  we_dbus_web_encode1_job_set_id (self->iface, job->id);
  we_dbus_web_encode1_job_set_state (self->iface, state_for (job->status));
  we_dbus_web_encode1_job_set_progress (self->iface, job->status == WE_JOB_STATUS_COMPLETED
                                                         ? 100.0 : job->progress_pct);
  we_dbus_web_encode1_job_set_eta (self->iface, job->eta_seconds);
  we_dbus_web_encode1_job_set_profile (self->iface, profile_for (job));
  we_dbus_web_encode1_job_set_source_url (self->iface, job->source_url ? job->source_url : "");
  we_dbus_web_encode1_job_set_error (self->iface, job->error_message ? job->error_message : "");
  we_dbus_web_encode1_job_set_outputs (self->iface, no_outputs);
  we_dbus_object_skeleton_set_web_encode1_job (self->object, self->iface);
  self->progress_shown_at = g_get_monotonic_time ();
  return self;
}

WeDBusObjectSkeleton *
we_dbus_job_get_object (WeDbusJob *self)
{
  return self->object;
}

WeDBusWebEncode1Job *
we_dbus_job_get_iface (WeDbusJob *self)
{
  return self->iface;
}

const gchar *
we_dbus_job_get_path (WeDbusJob *self)
{
  return g_dbus_object_get_object_path (G_DBUS_OBJECT (self->object));
}

static void
show_progress (WeDbusJob *self, gdouble progress, gint64 eta)
{
  /* one PropertiesChanged for both: the skeleton batches changes of one
   * main-loop iteration */
  we_dbus_web_encode1_job_set_progress (self->iface, progress);
  we_dbus_web_encode1_job_set_eta (self->iface, eta);
  self->progress_shown_at = g_get_monotonic_time ();
  self->pending = FALSE;
}

void
we_dbus_job_update (WeDbusJob *self, const WeJob *job, gboolean *state_changed,
                    gboolean *progress_due)
{
  const gchar *state = state_for (job->status);
  gdouble progress = job->status == WE_JOB_STATUS_COMPLETED ? 100.0 : job->progress_pct;
  gint64 eta = we_job_status_is_final (job->status) ? -1 : job->eta_seconds;
  gboolean moved = progress != we_dbus_web_encode1_job_get_progress (self->iface) ||
                   eta != we_dbus_web_encode1_job_get_eta (self->iface);

  *state_changed = g_strcmp0 (state, we_dbus_web_encode1_job_get_state (self->iface)) != 0;
  *progress_due = FALSE;
  we_dbus_web_encode1_job_set_error (self->iface, job->error_message ? job->error_message : "");
  we_dbus_web_encode1_job_set_profile (self->iface, profile_for (job));
  if (*state_changed) {
    /* a state change shows everything at once, whatever the throttle says */
    if (moved)
      show_progress (self, progress, eta);
    self->pending = FALSE;
    *progress_due = moved;
    we_dbus_web_encode1_job_set_state (self->iface, state);
    return;
  }
  if (!moved)
    return;
  if (g_get_monotonic_time () - self->progress_shown_at >= PROGRESS_INTERVAL_US) {
    show_progress (self, progress, eta);
    *progress_due = TRUE;
    return;
  }
  self->pending = TRUE;
  self->pending_progress = progress;
  self->pending_eta = eta;
}

gboolean
we_dbus_job_flush (WeDbusJob *self)
{
  if (!self->pending ||
      g_get_monotonic_time () - self->progress_shown_at < PROGRESS_INTERVAL_US)
    return FALSE;
  show_progress (self, self->pending_progress, self->pending_eta);
  return TRUE;
}

void
we_dbus_job_set_outputs (WeDbusJob *self, GVariant *outputs)
{
  we_dbus_web_encode1_job_set_outputs (self->iface, outputs);
}
