/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The records the kernel keeps in its store (spec §4): jobs, their tasks,
 * outputs and events. Plain refcounted data with public fields; behaviour
 * lives in the scheduler, persistence in WeStore.
 */
#pragma once

#include <glib-object.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

typedef enum {
  WE_JOB_STATUS_QUEUED,
  WE_JOB_STATUS_PROCESSING,
  WE_JOB_STATUS_STITCHING,
  WE_JOB_STATUS_UPLOADING,
  WE_JOB_STATUS_COMPLETED,
  WE_JOB_STATUS_FAILED,
  WE_JOB_STATUS_CANCELLED,
  WE_JOB_STATUS_LAST
} WeJobStatus;

#define WE_JOB_STATUS_MASK(s)     (1u << (s))
#define WE_JOB_STATUS_MASK_ALL    ((1u << WE_JOB_STATUS_LAST) - 1)
#define WE_JOB_STATUS_MASK_ACTIVE (WE_JOB_STATUS_MASK (WE_JOB_STATUS_QUEUED) |     \
                                   WE_JOB_STATUS_MASK (WE_JOB_STATUS_PROCESSING) | \
                                   WE_JOB_STATUS_MASK (WE_JOB_STATUS_STITCHING) |  \
                                   WE_JOB_STATUS_MASK (WE_JOB_STATUS_UPLOADING))

const gchar *we_job_status_to_string   (WeJobStatus status);
gboolean     we_job_status_from_string (const gchar *str,
                                        WeJobStatus *status);
gboolean     we_job_status_is_final    (WeJobStatus status);

typedef struct {
  gchar       *id;                 /* UUID */
  gchar       *user_id;
  gchar       *source_type;        /* "url" | "upload" | "stream" | "restream" */
  gchar       *source_url;
  gchar       *profile_id;
  JsonObject  *output_config;      /* holds "profile" (the resolved profile snapshot),
                                    * "webhooks", "publish", "output_url" */
  WeJobStatus  status;
  gdouble      progress_pct;       /* 0..100 */
  gdouble      fps;
  gdouble      speed;
  gint         eta_seconds;        /* -1 = unknown */
  gchar       *error_code;         /* "WE-JOB-007" when failed */
  gchar       *error_message;
  gchar       *assigned_worker_id;
  gchar       *retry_of;           /* id of the job this one retries */
  gint         priority;           /* 0..100, higher is dispatched first; default 50 */
  JsonObject  *media_info;         /* probe result (WeMediaInfo JSON), NULL until probed */
  gint64       created_at;         /* unix microseconds */
  gint64       updated_at;
  gint64       started_at;         /* 0 = not yet */
  gint64       finished_at;
  /* the kernel driving it; written by job_create, changed only by
   * we_store_job_claim_orphans (never by job_update) */
  gchar       *owner_kernel;
  /* the client's Idempotency-Key: one job per (user_id, key) */
  gchar       *idempotency_key;
  /* filled by the store on reads */
  gint         tasks_total;
  gint         tasks_completed;
} WeJob;

typedef enum {
  WE_TASK_STATUS_PENDING,
  WE_TASK_STATUS_RUNNING,
  WE_TASK_STATUS_COMPLETED,
  WE_TASK_STATUS_FAILED,
  WE_TASK_STATUS_CANCELLED,
  WE_TASK_STATUS_LAST
} WeTaskStatus;

const gchar *we_task_status_to_string   (WeTaskStatus status);
gboolean     we_task_status_from_string (const gchar  *str,
                                         WeTaskStatus *status);

typedef struct {
  gchar        *id;
  gchar        *job_id;
  gint          sequence_index;
  gchar        *kind;              /* "transcode" */
  gdouble       start_time_sec;
  gdouble       end_time_sec;      /* 0 = to the end */
  gchar        *assigned_worker_id;
  gint          attempt_count;
  gint          max_attempts;
  gchar        *output_key;        /* storage URL of the task's output */
  gint64        output_size_bytes;
  WeTaskStatus  status;
  gdouble       progress_pct;
  gchar        *error_code;
  gchar        *error_message;
  gint64        not_before;        /* unix microseconds; retry backoff */
  gint64        updated_at;
} WeTask;

typedef struct {
  gchar  *job_id;
  gchar  *name;                    /* file name, unique per job */
  gchar  *type;                    /* "final" | "manifest" | "rendition" | "thumbnail" | "subtitle" */
  gchar  *url;                     /* storage URL */
  gchar  *content_type;
  gint64  size_bytes;
  gchar  *profile_id;
  gint64  created_at;
} WeJobOutput;

typedef struct {
  gint64      id;
  gchar      *job_id;
  gchar      *type;                /* "job.created", "task.failed", … */
  gchar      *message;
  JsonObject *payload;
  gint64      created_at;
} WeJobEvent;

#define WE_TYPE_JOB (we_job_get_type ())
GType   we_job_get_type   (void);
WeJob  *we_job_new        (void);
WeJob  *we_job_ref        (WeJob *job);
void    we_job_unref      (WeJob *job);
/* Returns: (transfer full) a deep copy */
WeJob  *we_job_copy       (const WeJob *job);
/* The API representation (spec §10.1). Returns: (transfer full) */
JsonObject *we_job_to_json (const WeJob *job);

#define WE_TYPE_TASK (we_task_get_type ())
GType   we_task_get_type  (void);
WeTask *we_task_new       (void);
WeTask *we_task_ref       (WeTask *task);
void    we_task_unref     (WeTask *task);
WeTask *we_task_copy      (const WeTask *task);
JsonObject *we_task_to_json (const WeTask *task);

WeJobOutput *we_job_output_new  (void);
WeJobOutput *we_job_output_copy (const WeJobOutput *output);
void         we_job_output_free (WeJobOutput *output);
JsonObject  *we_job_output_to_json (const WeJobOutput *output);

WeJobEvent  *we_job_event_new   (void);
WeJobEvent  *we_job_event_copy  (const WeJobEvent *event);
void         we_job_event_free  (WeJobEvent *event);
JsonObject  *we_job_event_to_json (const WeJobEvent *event);

/* Whether @path may name an output file below a job's prefix: relative,
 * no "." or ".." components, no empty ones, no backslashes or control
 * characters, at most 4 levels and 512 bytes. */
gboolean     we_job_output_path_is_safe    (const gchar *path);
/* The Content-Type of an output file, from its extension (players need the
 * right one for playlists, segments and subtitles). */
const gchar *we_job_content_type_for_name  (const gchar *name);

/* A deep copy safe to hand to another thread (json_node_copy() shares
 * objects). Returns: (transfer full) (nullable): NULL for NULL */
JsonObject *we_json_object_copy (JsonObject *object);

/* A new random (v4) UUID string. Returns: (transfer full) */
gchar  *we_uuid_new       (void);
/* RFC 3339 UTC with milliseconds; NULL for 0. Returns: (transfer full) (nullable) */
gchar  *we_time_format    (gint64 unix_usec);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeJob, we_job_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeTask, we_task_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeJobOutput, we_job_output_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeJobEvent, we_job_event_free)

G_END_DECLS
