/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The kernel's job logic: validates submissions, writes jobs and tasks to the
 * store, hands tasks to the queue as slots free up, turns worker reports into
 * state transitions (always written to the store before they are announced),
 * retries transient failures with the spec §9.8 backoff, and resumes active
 * jobs from the store after a restart. It never touches media itself.
 */
#pragma once

#include "plugin/we-plugin-host.h"
#include "queue/we-queue.h"
#include "store/we-store.h"
#include "we-content-keys.h"

G_BEGIN_DECLS

#define WE_TYPE_SCHEDULER (we_scheduler_get_type ())
G_DECLARE_FINAL_TYPE (WeScheduler, we_scheduler, WE, SCHEDULER, GObject)

WeScheduler *we_scheduler_new            (WeStore      *store,
                                          WeQueue      *queue,
                                          WePluginHost *host);
/* Where encrypted ladders' keys come from (see we-content-keys.h). */
void         we_scheduler_set_content_keys (WeScheduler   *self,
                                            WeContentKeys *keys);
/* First retry delay; doubles per attempt up to 5 minutes (spec §9.8: 5 s). */
void         we_scheduler_set_retry_base (WeScheduler *self,
                                          guint        milliseconds);

/* Names this kernel in a store other kernels may share: the jobs it submits
 * are its own, it beats every @beat_s seconds, and adopts the active jobs of
 * kernels silent for 3 beats (and, on resume, those of its own previous
 * life). Without a name the scheduler drives every active job of the store. */
void         we_scheduler_set_kernel     (WeScheduler *self,
                                          const gchar *kernel_id,
                                          guint        beat_s);

/* Loads active jobs from the store and re-queues unfinished tasks. */
void         we_scheduler_resume_async   (WeScheduler         *self,
                                          GCancellable        *cancellable,
                                          GAsyncReadyCallback  callback,
                                          gpointer             user_data);
gboolean     we_scheduler_resume_finish  (WeScheduler  *self,
                                          GAsyncResult *result,
                                          GError      **error);

/* @request: the POST /v1/jobs body (see docs/api.md).
 * Errors: WE-JOB-001 / 002 / 003. */
void         we_scheduler_submit_async   (WeScheduler         *self,
                                          JsonObject          *request,
                                          const gchar         *user_id,
                                          GCancellable        *cancellable,
                                          GAsyncReadyCallback  callback,
                                          gpointer             user_data);
/* Returns: (transfer full) (nullable): the new job */
WeJob       *we_scheduler_submit_finish  (WeScheduler  *self,
                                          GAsyncResult *result,
                                          GError      **error);

/* Errors: WE-JOB-004 / 005 / 006. */
void         we_scheduler_cancel_async   (WeScheduler         *self,
                                          const gchar         *job_id,
                                          GCancellable        *cancellable,
                                          GAsyncReadyCallback  callback,
                                          gpointer             user_data);
/* Returns: (transfer full) (nullable): the cancelled job */
WeJob       *we_scheduler_cancel_finish  (WeScheduler  *self,
                                          GAsyncResult *result,
                                          GError      **error);

/* Cancels the job if still active and submits a copy. Errors: WE-JOB-004. */
void         we_scheduler_retry_async    (WeScheduler         *self,
                                          const gchar         *job_id,
                                          const gchar         *user_id,
                                          GCancellable        *cancellable,
                                          GAsyncReadyCallback  callback,
                                          gpointer             user_data);
/* Returns: (transfer full) (nullable): the new job */
WeJob       *we_scheduler_retry_finish   (WeScheduler  *self,
                                          GAsyncResult *result,
                                          GError      **error);

/* Runs one task of a job again (POST /v1/jobs/{id}/tasks/{task_id}/retry):
 * a failed or cancelled task (with @requeue also a completed one, while the
 * job has not finished) goes back to pending with a fresh attempt budget
 * (attempt numbers go on counting, so earlier attempts' logs stay apart).
 * A failed job is reopened: it goes back to processing, its error cleared,
 * the tasks its failure cancelled pending again, its completed tasks kept.
 * A job another live kernel drives gets the request through the store and
 * its driver picks it up at its next beat.
 * Errors: WE-JOB-004 (no such job or task), WE-JOB-005 (the job was
 * cancelled: a cancel is final), WE-JOB-006 (the job completed, or the task
 * did and @requeue is not set), WE-SYS-409 (the task is pending or running,
 * or a stitch using it is). */
void         we_scheduler_retry_task_async  (WeScheduler         *self,
                                             const gchar         *job_id,
                                             const gchar         *task_id,
                                             gboolean             requeue,
                                             GCancellable        *cancellable,
                                             GAsyncReadyCallback  callback,
                                             gpointer             user_data);
/* Returns: (transfer full) (nullable): the job after the change;
 * @task_out: (out) (transfer full): the task after the change */
WeJob       *we_scheduler_retry_task_finish (WeScheduler  *self,
                                             GAsyncResult *result,
                                             WeTask      **task_out,
                                             GError      **error);

/* Cancels if active, deletes outputs from storage and the job's records. */
void         we_scheduler_delete_async   (WeScheduler         *self,
                                          const gchar         *job_id,
                                          GCancellable        *cancellable,
                                          GAsyncReadyCallback  callback,
                                          gpointer             user_data);
gboolean     we_scheduler_delete_finish  (WeScheduler  *self,
                                          GAsyncResult *result,
                                          GError      **error);

/* Changes the dispatch priority (0..100) of a job that has not finished.
 * Errors: WE-JOB-004 / 005 / 006. */
void         we_scheduler_set_priority_async  (WeScheduler         *self,
                                               const gchar         *job_id,
                                               gint                 priority,
                                               GCancellable        *cancellable,
                                               GAsyncReadyCallback  callback,
                                               gpointer             user_data);
/* Returns: (transfer full) (nullable): the job */
WeJob       *we_scheduler_set_priority_finish (WeScheduler  *self,
                                               GAsyncResult *result,
                                               GError      **error);

/* Number of jobs the scheduler is driving right now. */
guint        we_scheduler_get_active_count (WeScheduler *self);

G_END_DECLS
