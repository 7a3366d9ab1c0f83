/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The store: the single source of truth for jobs, tasks, outputs, events,
 * profiles, workers and plugin configuration (spec §4). Backends implement
 * the synchronous, thread-safe vfuncs; the kernel never calls those on its
 * main loop but goes through the _async wrappers, which run every operation of
 * one store on one dedicated thread in submission order (so a progress write
 * can never land after the completion write that followed it).
 *
 * Errors are WE_ERROR_SYS_DATABASE, or the matching not-found code
 * (WE_ERROR_JOB_NOT_FOUND, …) when a row does not exist.
 */
#pragma once

#include <gio/gio.h>
#include <webencode/webencode.h>

#include "common/we-job.h"

G_BEGIN_DECLS

typedef struct {
  guint        status_mask;     /* WE_JOB_STATUS_MASK_*; 0 = all */
  const gchar *user_id;         /* nullable */
  const gchar *search;          /* substring of id, source_url or profile_id; nullable */
  guint        limit;           /* 0 = backend default (50), capped at 500 */
  guint        offset;
  gboolean     oldest_first;    /* default newest first */
  const gchar *owner_kernel;    /* only jobs this kernel drives; nullable */
  const gchar *idempotency_key; /* the job made for this key; nullable */
} WeJobFilter;

typedef struct {
  gchar   *id;
  gchar   *hostname;
  gchar   *ip_address;
  gint     port;
  JsonObject *capabilities;
  gboolean is_healthy;
  gboolean is_draining;
  gint64   last_heartbeat;
  gchar   *version;
  gint64   created_at;
} WeWorkerRecord;

typedef struct {
  gchar      *id;
  gchar      *plugin_type;
  JsonObject *config;
  gboolean    is_enabled;
  gint        priority;
  gint64      created_at;
  gint64      updated_at;
} WePluginConfig;

WeWorkerRecord *we_worker_record_new  (void);
void            we_worker_record_free (WeWorkerRecord *record);
JsonObject     *we_worker_record_to_json (const WeWorkerRecord *record);
WePluginConfig *we_plugin_config_new  (void);
void            we_plugin_config_free (WePluginConfig *config);

#define WE_TYPE_STORE (we_store_get_type ())
G_DECLARE_INTERFACE (WeStore, we_store, WE, STORE, GObject)

struct _WeStoreInterface {
  GTypeInterface parent_iface;

  /* jobs; job_create inserts the job and its tasks atomically */
  gboolean    (*job_create)        (WeStore *self, WeJob *job, GPtrArray *tasks, GError **error);
  WeJob      *(*job_get)           (WeStore *self, const gchar *id, GError **error);
  GPtrArray  *(*job_list)          (WeStore *self, const WeJobFilter *filter, guint *total,
                                    GError **error);
  gboolean    (*job_update)        (WeStore *self, WeJob *job, GError **error);
  /* deletes the job with its tasks, outputs and events */
  gboolean    (*job_delete)        (WeStore *self, const gchar *id, GError **error);

  /* tasks */
  GPtrArray  *(*task_list)         (WeStore *self, const gchar *job_id, GError **error);
  gboolean    (*task_insert)       (WeStore *self, WeTask *task, GError **error);
  gboolean    (*task_update)       (WeStore *self, WeTask *task, GError **error);

  /* outputs (replaces an output of the same job and name) */
  gboolean    (*output_put)        (WeStore *self, WeJobOutput *output, GError **error);
  GPtrArray  *(*output_list)       (WeStore *self, const gchar *job_id, GError **error);

  /* events; sets event->id */
  gboolean    (*event_add)         (WeStore *self, WeJobEvent *event, GError **error);
  GPtrArray  *(*event_list)        (WeStore *self, const gchar *job_id, GError **error);

  /* profiles */
  GPtrArray  *(*profile_list)      (WeStore *self, GError **error);
  WeProfile  *(*profile_get)       (WeStore *self, const gchar *id, GError **error);
  gboolean    (*profile_put)       (WeStore *self, const WeProfile *profile, GError **error);
  gboolean    (*profile_delete)    (WeStore *self, const gchar *id, GError **error);

  /* workers */
  gboolean    (*worker_put)        (WeStore *self, const WeWorkerRecord *worker, GError **error);
  GPtrArray  *(*worker_list)       (WeStore *self, GError **error);
  gboolean    (*worker_delete)     (WeStore *self, const gchar *id, GError **error);

  /* plugin configuration */
  gboolean    (*plugin_config_put) (WeStore *self, const WePluginConfig *config, GError **error);
  GPtrArray  *(*plugin_config_list)(WeStore *self, GError **error);

  /* the schema version the backend migrated to */
  gint        (*schema_version)    (WeStore *self);

  /* kernels: each webencoded beats; a job is driven by the one kernel that
   * owns it, and one whose owner stopped beating for @stale_s is adopted */
  gboolean    (*kernel_beat)       (WeStore *self, const gchar *kernel_id, const gchar *hostname,
                                    GError **error);
  /* Atomically makes @kernel_id the owner of up to @limit active jobs,
   * oldest first, that no live kernel owns (no owner, or one silent for
   * @stale_s) and that @kernel_id does not own already.
   * Returns: (element-type utf8): ids of the jobs adopted */
  GPtrArray  *(*job_claim_orphans) (WeStore *self, const gchar *kernel_id, guint stale_s,
                                    guint limit, GError **error);
  /* Gives up every active job @kernel_id owns (a restarted kernel's previous life):
   * they become orphans any kernel, this one included, adopts. */
  gboolean    (*job_release_owned) (WeStore *self, const gchar *kernel_id, GError **error);

  gpointer padding[13];
};

/* --- synchronous calls: for tests, tools and startup, never the main loop --- */
gboolean    we_store_job_create        (WeStore *self, WeJob *job, GPtrArray *tasks, GError **error);
/* Returns: (transfer full) (nullable) */
WeJob      *we_store_job_get           (WeStore *self, const gchar *id, GError **error);
/* Returns: (transfer container) (element-type WeJob) (nullable) */
GPtrArray  *we_store_job_list          (WeStore *self, const WeJobFilter *filter, guint *total,
                                        GError **error);
gboolean    we_store_job_update        (WeStore *self, WeJob *job, GError **error);
gboolean    we_store_job_delete        (WeStore *self, const gchar *id, GError **error);
/* Returns: (transfer container) (element-type WeTask) (nullable) */
GPtrArray  *we_store_task_list         (WeStore *self, const gchar *job_id, GError **error);
gboolean    we_store_task_insert       (WeStore *self, WeTask *task, GError **error);
gboolean    we_store_task_update       (WeStore *self, WeTask *task, GError **error);
gboolean    we_store_output_put        (WeStore *self, WeJobOutput *output, GError **error);
/* Returns: (transfer container) (element-type WeJobOutput) (nullable) */
GPtrArray  *we_store_output_list       (WeStore *self, const gchar *job_id, GError **error);
gboolean    we_store_event_add         (WeStore *self, WeJobEvent *event, GError **error);
/* Returns: (transfer container) (element-type WeJobEvent) (nullable) */
GPtrArray  *we_store_event_list        (WeStore *self, const gchar *job_id, GError **error);
/* Returns: (transfer container) (element-type WeProfile) (nullable) */
GPtrArray  *we_store_profile_list      (WeStore *self, GError **error);
/* Returns: (transfer full) (nullable) */
WeProfile  *we_store_profile_get       (WeStore *self, const gchar *id, GError **error);
gboolean    we_store_profile_put       (WeStore *self, const WeProfile *profile, GError **error);
gboolean    we_store_profile_delete    (WeStore *self, const gchar *id, GError **error);
gboolean    we_store_worker_put        (WeStore *self, const WeWorkerRecord *worker, GError **error);
/* Returns: (transfer container) (element-type WeWorkerRecord) (nullable) */
GPtrArray  *we_store_worker_list       (WeStore *self, GError **error);
gboolean    we_store_worker_delete     (WeStore *self, const gchar *id, GError **error);
gboolean    we_store_kernel_beat       (WeStore *self, const gchar *kernel_id,
                                        const gchar *hostname, GError **error);
/* Returns: (transfer container) (element-type utf8) */
GPtrArray  *we_store_job_claim_orphans (WeStore *self, const gchar *kernel_id, guint stale_s,
                                        guint limit, GError **error);
gboolean    we_store_job_release_owned (WeStore *self, const gchar *kernel_id, GError **error);
gboolean    we_store_plugin_config_put (WeStore *self, const WePluginConfig *config, GError **error);
/* Returns: (transfer container) (element-type WePluginConfig) (nullable) */
GPtrArray  *we_store_plugin_config_list(WeStore *self, GError **error);
gint        we_store_schema_version    (WeStore *self);

/* --- asynchronous calls: the kernel's way in ---
 *
 * Each runs the matching synchronous call on the store's own thread, in
 * submission order, and completes on the caller's thread-default main
 * context. Arguments are copied or referenced, so callers may drop theirs.
 */
void        we_store_job_create_async  (WeStore *self, WeJob *job, GPtrArray *tasks,
                                        GCancellable *cancellable,
                                        GAsyncReadyCallback callback, gpointer user_data);
void        we_store_job_get_async     (WeStore *self, const gchar *id, GCancellable *cancellable,
                                        GAsyncReadyCallback callback, gpointer user_data);
void        we_store_job_list_async    (WeStore *self, const WeJobFilter *filter,
                                        GCancellable *cancellable,
                                        GAsyncReadyCallback callback, gpointer user_data);
void        we_store_job_update_async  (WeStore *self, WeJob *job, GCancellable *cancellable,
                                        GAsyncReadyCallback callback, gpointer user_data);
void        we_store_job_delete_async  (WeStore *self, const gchar *id, GCancellable *cancellable,
                                        GAsyncReadyCallback callback, gpointer user_data);
void        we_store_task_list_async   (WeStore *self, const gchar *job_id,
                                        GCancellable *cancellable,
                                        GAsyncReadyCallback callback, gpointer user_data);
void        we_store_task_insert_async (WeStore *self, WeTask *task, GCancellable *cancellable,
                                        GAsyncReadyCallback callback, gpointer user_data);
void        we_store_task_update_async (WeStore *self, WeTask *task, GCancellable *cancellable,
                                        GAsyncReadyCallback callback, gpointer user_data);
void        we_store_output_put_async  (WeStore *self, WeJobOutput *output,
                                        GCancellable *cancellable,
                                        GAsyncReadyCallback callback, gpointer user_data);
void        we_store_output_list_async (WeStore *self, const gchar *job_id,
                                        GCancellable *cancellable,
                                        GAsyncReadyCallback callback, gpointer user_data);
void        we_store_event_add_async   (WeStore *self, WeJobEvent *event,
                                        GCancellable *cancellable,
                                        GAsyncReadyCallback callback, gpointer user_data);
void        we_store_event_list_async  (WeStore *self, const gchar *job_id,
                                        GCancellable *cancellable,
                                        GAsyncReadyCallback callback, gpointer user_data);
void        we_store_profile_list_async (WeStore *self, GCancellable *cancellable,
                                         GAsyncReadyCallback callback, gpointer user_data);
void        we_store_profile_get_async (WeStore *self, const gchar *id, GCancellable *cancellable,
                                        GAsyncReadyCallback callback, gpointer user_data);
/* Stores @profile under an unused id; a taken one is WE_ERROR_SYS_CONFLICT.
 * Finish with we_store_finish_boolean. */
void        we_store_profile_create_async (WeStore *self, const WeProfile *profile,
                                           GCancellable *cancellable,
                                           GAsyncReadyCallback callback, gpointer user_data);
/* Replaces the stored profile of @profile's id. Errors: WE_ERROR_JOB_INVALID_PROFILE
 * when there is none, WE_ERROR_AUTH_FORBIDDEN when it is built in (read-only).
 * Finish with we_store_finish_boolean. */
void        we_store_profile_replace_async (WeStore *self, const WeProfile *profile,
                                            GCancellable *cancellable,
                                            GAsyncReadyCallback callback, gpointer user_data);
/* Deletes a profile; errors as for replace. Finish with we_store_finish_boolean. */
void        we_store_profile_delete_async (WeStore *self, const gchar *id,
                                           GCancellable *cancellable,
                                           GAsyncReadyCallback callback, gpointer user_data);
/* Stores a copy of profile @id, never built in, as @new_id (nullable: the
 * first free of "<id>_copy", "<id>_copy2" …) named @new_name (nullable:
 * "<name> (copy)"). A taken @new_id is WE_ERROR_SYS_CONFLICT.
 * Finish with we_store_finish_profile: the copy as stored. */
void        we_store_profile_duplicate_async (WeStore *self, const gchar *id,
                                              const gchar *new_id, const gchar *new_name,
                                              GCancellable *cancellable,
                                              GAsyncReadyCallback callback,
                                              gpointer user_data);
void        we_store_worker_put_async  (WeStore *self, const WeWorkerRecord *worker,
                                        GCancellable *cancellable,
                                        GAsyncReadyCallback callback, gpointer user_data);
/* Beats for @kernel_id (first releasing what it owned when @release_owned),
 * then adopts orphaned jobs (see job_claim_orphans); finish with
 * we_store_finish_list: (element-type utf8) adopted job ids. */
void        we_store_kernel_tick_async (WeStore *self, const gchar *kernel_id,
                                        const gchar *hostname, gboolean release_owned,
                                        guint stale_s, guint limit,
                                        GCancellable *cancellable,
                                        GAsyncReadyCallback callback, gpointer user_data);

/* Finishers, by result kind. */
gboolean    we_store_finish_boolean    (WeStore *self, GAsyncResult *result, GError **error);
/* job_get. Returns: (transfer full) (nullable) */
WeJob      *we_store_finish_job        (WeStore *self, GAsyncResult *result, GError **error);
/* profile_get, profile_duplicate. Returns: (transfer full) (nullable) */
WeProfile  *we_store_finish_profile    (WeStore *self, GAsyncResult *result, GError **error);
/* any list; @total is set by job_list only. Returns: (transfer container) (nullable) */
GPtrArray  *we_store_finish_list       (WeStore *self, GAsyncResult *result, guint *total,
                                        GError **error);

/* Waits until every operation submitted so far has run (for shutdown). */
void        we_store_flush             (WeStore *self);

G_END_DECLS
