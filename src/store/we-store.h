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

/* --- security records (issue 7): audit log, API tokens, webhooks --- */

typedef struct {
  gint64   id;              /* assigned by the store */
  gint64   at;              /* unix µs; 0 = now, set by the store */
  gchar   *user_id;         /* nullable for anonymous callers */
  gchar   *username;
  gchar   *action;          /* "job.create", "profile.delete", "auth.login" … */
  gchar   *resource_type;   /* "job", "profile", "worker", "webhook", "token" … */
  gchar   *resource_id;     /* nullable */
  gboolean success;
  gint     status;          /* HTTP status, 0 when not from the API */
  gchar   *error_code;      /* WE-… when it failed, nullable */
  gchar   *payload_digest;  /* "sha256:<hex>" of the request body, nullable */
  gchar   *client_ip;
  gchar   *user_agent;
  gchar   *request_id;
} WeAuditEntry;

typedef struct {
  const gchar *user;          /* user id or user name, exact; nullable */
  const gchar *action;        /* exact, or a prefix ending in "." ("job."); nullable */
  const gchar *resource_type; /* nullable */
  const gchar *resource_id;   /* exact; nullable */
  gint64       since;         /* unix µs, inclusive; 0 = no bound */
  gint64       until;         /* unix µs, exclusive; 0 = no bound */
  guint        limit;         /* 0 = 100, capped at 10000 */
  guint        offset;
} WeAuditFilter;

typedef struct {
  gchar   *id;              /* public id, "tok_…" */
  gchar   *name;            /* what the admin called it */
  gchar   *token_hash;      /* "sha256:<hex>" of the secret; the secret itself is never stored */
  gchar   *prefix;          /* first characters of the secret, to tell tokens apart */
  gchar   *user_id;         /* the identity the token acts as */
  gchar   *username;
  WeRole   role;
  gchar   *created_by;      /* user id of the admin */
  gint64   created_at;      /* unix µs */
  gint64   expires_at;      /* unix µs, 0 = never */
  gint64   last_used_at;    /* unix µs, 0 = never */
  gint64   revoked_at;      /* unix µs, 0 = active */
} WeApiToken;

typedef struct {
  gchar   *id;
  gchar   *url;
  gchar  **events;          /* "job.created" …; NULL or empty = every event */
  gchar   *description;
  gchar   *secret_salt;     /* hex; the signing secret is derived from it and the service secret */
  gchar   *secret_ref;      /* nullable: a secrets-backend reference the owner chose instead */
  gchar   *job_id;          /* nullable: a per-job hook (POST /v1/jobs "webhooks") */
  gchar   *user_id;         /* who registered it */
  gboolean enabled;
  gint64   created_at;      /* unix µs */
  gint64   updated_at;
} WeWebhook;

typedef enum {
  WE_DELIVERY_PENDING,      /* waiting for next_attempt_at */
  WE_DELIVERY_DELIVERING,   /* claimed by a kernel until claim_until */
  WE_DELIVERY_SUCCEEDED,
  WE_DELIVERY_FAILED,       /* gave up: 24 h of retries passed */
} WeDeliveryState;

typedef struct {
  gchar          *id;
  gchar          *webhook_id;
  gchar          *event_id;       /* the same for a replay of the event */
  gchar          *event_type;
  gchar          *payload;        /* the exact body that is signed and sent */
  WeDeliveryState state;
  gint            attempts;
  gint64          next_attempt_at; /* unix µs */
  gint64          claim_until;     /* unix µs, while DELIVERING */
  gchar          *claimed_by;      /* kernel id */
  gint            last_status;     /* HTTP status of the last attempt, 0 = none */
  gchar          *last_error;
  JsonArray      *log;            /* one object per attempt: at, status, error, duration_ms */
  gchar          *replay_of;      /* delivery id this one replays, nullable */
  gint64          created_at;
  gint64          updated_at;
  gint64          delivered_at;   /* 0 until it succeeded */
} WeWebhookDelivery;

WeAuditEntry      *we_audit_entry_new          (void);
void               we_audit_entry_free         (WeAuditEntry *entry);
WeApiToken        *we_api_token_new            (void);
WeApiToken        *we_api_token_copy           (const WeApiToken *token);
void               we_api_token_free           (WeApiToken *token);
WeWebhook         *we_webhook_new              (void);
WeWebhook         *we_webhook_copy             (const WeWebhook *webhook);
void               we_webhook_free             (WeWebhook *webhook);
WeWebhookDelivery *we_webhook_delivery_new     (void);
WeWebhookDelivery *we_webhook_delivery_copy    (const WeWebhookDelivery *delivery);
void               we_webhook_delivery_free    (WeWebhookDelivery *delivery);
const gchar       *we_delivery_state_to_string (WeDeliveryState state);
gboolean           we_delivery_state_from_string (const gchar *str, WeDeliveryState *state);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeAuditEntry, we_audit_entry_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeApiToken, we_api_token_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeWebhook, we_webhook_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeWebhookDelivery, we_webhook_delivery_free)

/* --- pipeline introspection (issue 8): what the workers reported of a task --- */

/* One GStreamer pipeline a task ran (a task may run several, one per stage). */
typedef struct {
  gchar   *job_id;
  gchar   *task_id;
  gint     attempt;         /* the task attempt that ran it */
  gchar   *stage;           /* "transcode", "thumbnail" … as the worker named it */
  gchar   *launch;          /* gst-launch-1.0 description */
  gchar   *dot;             /* nullable: GST_DEBUG_BIN_TO_DOT_FILE text, NULL when omitted */
  gint64   recorded_at;     /* unix µs; 0 = now, set by the store */
} WeTaskPipeline;

/* Where a worker kept a task's GStreamer debug log. */
typedef struct {
  gchar   *job_id;
  gchar   *task_id;
  gint     attempt;
  gchar   *url;             /* storage URL below the job's output prefix */
  gint64   size_bytes;
  gboolean truncated;       /* the worker cut it at its size limit */
  gint64   recorded_at;     /* unix µs; 0 = now, set by the store */
} WeTaskLog;

WeTaskPipeline    *we_task_pipeline_new        (void);
WeTaskPipeline    *we_task_pipeline_copy       (const WeTaskPipeline *pipeline);
void               we_task_pipeline_free       (WeTaskPipeline *pipeline);
WeTaskLog         *we_task_log_new             (void);
WeTaskLog         *we_task_log_copy            (const WeTaskLog *log);
void               we_task_log_free            (WeTaskLog *log);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeTaskPipeline, we_task_pipeline_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeTaskLog, we_task_log_free)

/* --- error tracking (spec 2.5, issue 9): src/store/we-store-errors.c --- */

/* One reported error. */
typedef struct {
  gchar   *id;                /* UUID; set by the store when NULL */
  gchar   *source_component;  /* "frontend", "kernel", "worker", "plugin:<id>" */
  gchar   *severity;          /* "warning", "error", "critical", "fatal" */
  gchar   *message;
  gchar   *stack_trace;       /* nullable */
  gchar   *context_data;      /* a JSON object, secrets already redacted; NULL = {} */
  gint64   created_at;        /* unix µs; 0 = now, set by the store */
  gboolean resolved;
  gint64   resolved_at;       /* unix µs, 0 while open */
  gchar   *resolved_by;       /* nullable: who resolved it */
} WeErrorEvent;

typedef struct {
  const gchar *source_component; /* exact; nullable */
  const gchar *severity;         /* exact; nullable */
  gint         resolved;         /* -1 = either, 0 = open, 1 = resolved */
  gint64       since;            /* unix µs, inclusive; 0 = no bound */
  guint        limit;            /* 0 = 100, capped at 1000 */
  guint        offset;
} WeErrorFilter;

WeErrorEvent      *we_error_event_new          (void);
WeErrorEvent      *we_error_event_copy         (const WeErrorEvent *event);
void               we_error_event_free         (WeErrorEvent *event);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeErrorEvent, we_error_event_free)

/* --- live streams (spec §4.3, issue 10): src/store/we-store-streams.c --- */

/* A live stream. The key material is what src/core/we-stream-keys.c made of
 * the key: the store never sees the stream key or SRT passphrase itself. */
typedef struct {
  gchar   *id;                     /* UUID */
  gchar   *user_id;                /* the owner */
  gchar   *title;
  gchar   *description;            /* nullable */
  gchar   *key_hash;               /* "sha256:<hex>" of the stream key: the lookup */
  gchar   *key_sealed;             /* the key, sealed with the service key */
  gchar   *key_hint;               /* its last 4 characters */
  gchar   *srt_passphrase_sealed;  /* the SRT passphrase, sealed likewise */
  gchar   *play_name;              /* public name in live HLS URLs, not the key */
  gboolean is_live;
  gchar   *current_session_id;     /* nullable: the publish in progress */
  gboolean archive_enabled;
  gboolean record;
  gchar   *latency_mode;           /* "normal" | "low" */
  gchar   *ladder_profile_id;      /* nullable: ABR rungs for live HLS */
  gchar   *archive_vod_job_id;     /* nullable */
  gchar   *last_stats;             /* nullable: a JSON object */
  gint64   started_at;             /* unix µs of the last publish start, 0 = never */
  gint64   ended_at;               /* unix µs of the last publish end, 0 = never */
  gint64   created_at;             /* unix µs; 0 = now, set by the store */
  gint64   updated_at;             /* unix µs; set by the store on every write */
} WeStream;

/* One publish of a stream: from the ingest accepting it to its end. */
typedef struct {
  gchar   *id;
  gchar   *stream_id;
  gchar   *protocol;               /* "rtmp" | "srt" */
  gchar   *remote_addr;            /* nullable: the publisher's address */
  gint64   started_at;             /* unix µs */
  gint64   ended_at;               /* unix µs, 0 while it runs */
  gchar   *end_reason;             /* nullable: "publisher-closed", "taken-over" … */
  gint64   bytes_in;
} WeStreamSession;

typedef struct {
  const gchar *user_id;            /* exact; nullable */
  gint         live;               /* -1 = either, 0 = offline, 1 = live */
  guint        limit;              /* 0 = 50, capped at 500 */
  guint        offset;
} WeStreamFilter;

WeStream          *we_stream_new               (void);
WeStream          *we_stream_copy              (const WeStream *stream);
void               we_stream_free              (WeStream *stream);
WeStreamSession   *we_stream_session_new       (void);
WeStreamSession   *we_stream_session_copy      (const WeStreamSession *session);
void               we_stream_session_free      (WeStreamSession *session);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeStream, we_stream_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeStreamSession, we_stream_session_free)

/* --- restreams (spec §4.6, issue 11): src/store/we-store-restreams.c --- */

/* A restream job. doc is its definition as a JSON object text (see
 * src/api/we-api-restreams.c); destination URLs are in it only sealed. */
typedef struct {
  gchar   *id;
  gchar   *user_id;
  gchar   *status;       /* stopped | starting | streaming | error */
  gchar   *doc;
  gchar   *stats;        /* (nullable) JSON object: destination id → stats */
  gint64   created_at;   /* unix µs; 0 on put: now */
  gint64   updated_at;
  /* who runs it (migration 0012; docs/architecture.md "Restreams in
   * cluster mode"): read only, written by the claim/renew/report calls */
  gchar   *owner_kernel; /* (nullable) */
  gint64   lease_until;  /* unix µs: the owner's lease */
  gchar   *fired;        /* (nullable) key of the schedule firing that last started it */
  gint64   run_until;    /* unix s that run ends at; 0 = open-ended */
} WeRestreamRecord;

/* A kernel's claim on a restream (we_store_restream_claim). It wins when no
 * other kernel holds a live lease (no owner, @kernel_id itself, or a lease
 * that ran out at @now); the claim sets the owner, the lease and status
 * "starting" in one conditional UPDATE. */
typedef struct {
  const gchar *kernel_id;
  gint64       now;          /* unix µs */
  gint64       lease_until;  /* unix µs */
  gboolean     active_only;  /* resuming: only a restream whose status is
                              * starting, streaming or error */
  const gchar *fire_key;     /* (nullable) a schedule firing: only when the
                              * restream has not fired for this key; stores
                              * it as fired, with @run_until */
  gint64       run_until;    /* with @fire_key: unix s, 0 = open-ended */
} WeRestreamClaim;

WeRestreamRecord *we_restream_record_new  (void);
WeRestreamRecord *we_restream_record_copy (const WeRestreamRecord *record);
void              we_restream_record_free (WeRestreamRecord *record);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeRestreamRecord, we_restream_record_free)

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

  /* audit log: append-only */
  gboolean    (*audit_add)         (WeStore *self, WeAuditEntry *entry, GError **error);
  GPtrArray  *(*audit_list)        (WeStore *self, const WeAuditFilter *filter, guint *total,
                                    GError **error);
  /* API tokens: put inserts or replaces by id; get_by_hash finds active and
   * revoked ones alike (the caller checks revoked_at/expires_at) */
  gboolean    (*token_put)         (WeStore *self, const WeApiToken *token, GError **error);
  WeApiToken *(*token_get)         (WeStore *self, const gchar *id, GError **error);
  WeApiToken *(*token_get_by_hash) (WeStore *self, const gchar *token_hash, GError **error);
  GPtrArray  *(*token_list)        (WeStore *self, GError **error);
  /* webhooks; webhook_list with @job_id NULL lists every hook */
  gboolean    (*webhook_put)       (WeStore *self, const WeWebhook *webhook, GError **error);
  WeWebhook  *(*webhook_get)       (WeStore *self, const gchar *id, GError **error);
  GPtrArray  *(*webhook_list)      (WeStore *self, const gchar *job_id, GError **error);
  gboolean    (*webhook_delete)    (WeStore *self, const gchar *id, GError **error);
  /* deliveries: the durable queue. delivery_add inserts; delivery_claim
   * atomically moves up to @limit due ones (PENDING with next_attempt_at <=
   * @now, or DELIVERING whose claim_until passed) to DELIVERING for
   * @kernel_id until @now + @lease_us and returns them; delivery_update
   * writes a delivery back as given. */
  gboolean    (*delivery_add)      (WeStore *self, WeWebhookDelivery *delivery, GError **error);
  GPtrArray  *(*delivery_claim)    (WeStore *self, const gchar *kernel_id, gint64 now,
                                    gint64 lease_us, guint limit, GError **error);
  gboolean    (*delivery_update)   (WeStore *self, const WeWebhookDelivery *delivery,
                                    GError **error);
  WeWebhookDelivery *(*delivery_get) (WeStore *self, const gchar *id, GError **error);
  GPtrArray  *(*delivery_list)     (WeStore *self, const gchar *webhook_id, guint limit,
                                    guint offset, guint *total, GError **error);

  /* pipeline introspection. task_pipeline_put replaces the row of the same
   * (task_id, stage) unless that holds a later attempt, and drops the rows
   * of earlier attempts of the task; task_log_put replaces the task's log
   * likewise. A missing task or job is WE_ERROR_JOB_NOT_FOUND. The lists
   * are in task sequence order, then recording order; @task_id NULL = all
   * tasks of the job. */
  gboolean    (*task_pipeline_put) (WeStore *self, const WeTaskPipeline *pipeline, GError **error);
  GPtrArray  *(*task_pipeline_list)(WeStore *self, const gchar *job_id, const gchar *task_id,
                                    GError **error);
  gboolean    (*task_log_put)      (WeStore *self, const WeTaskLog *log, GError **error);
  GPtrArray  *(*task_log_list)     (WeStore *self, const gchar *job_id, const gchar *task_id,
                                    GError **error);

  /* error tracking. error_event_add fills in a NULL id and a 0 created_at;
   * the list is newest first; error_event_set_resolved on an unknown id is
   * WE_ERROR_SYS_NOT_FOUND. */
  gboolean    (*error_event_add)   (WeStore *self, WeErrorEvent *event, GError **error);
  GPtrArray  *(*error_event_list)  (WeStore *self, const WeErrorFilter *filter, guint *total,
                                    GError **error);
  gboolean    (*error_event_set_resolved) (WeStore *self, const gchar *id, gboolean resolved,
                                           const gchar *by, GError **error);

  /* live streams. stream_create fills in a 0 created_at and sets
   * updated_at; a key_hash or play_name already taken is
   * WE_ERROR_STR_KEY_CONFLICT; stream_update writes every member but id,
   * user_id and created_at (key rotation included) and sets updated_at; a
   * missing stream is WE_ERROR_STR_NOT_FOUND; stream_delete also drops its
   * sessions. The list is newest first. stream_session_put inserts or
   * replaces a session by id (a missing stream is WE_ERROR_STR_NOT_FOUND);
   * stream_session_list gives a stream's sessions newest first. */
  gboolean    (*stream_create)     (WeStore *self, WeStream *stream, GError **error);
  WeStream   *(*stream_get)        (WeStore *self, const gchar *id, GError **error);
  WeStream   *(*stream_get_by_key_hash) (WeStore *self, const gchar *key_hash, GError **error);
  GPtrArray  *(*stream_list)       (WeStore *self, const WeStreamFilter *filter, guint *total,
                                    GError **error);
  gboolean    (*stream_update)     (WeStore *self, WeStream *stream, GError **error);
  gboolean    (*stream_delete)     (WeStore *self, const gchar *id, GError **error);
  gboolean    (*stream_session_put)  (WeStore *self, const WeStreamSession *session,
                                      GError **error);
  GPtrArray  *(*stream_session_list) (WeStore *self, const gchar *stream_id, guint limit,
                                      GError **error);
  /* telemetry of a session (JSON texts): add keeps the newest @keep of the
   * session; list gives the newest @limit, oldest first; they go with
   * their session (a missing session is WE_ERROR_STR_NOT_FOUND) */
  gboolean    (*stream_telemetry_add)  (WeStore *self, const gchar *session_id, gint64 time_ms,
                                        const gchar *sample, guint keep, GError **error);
  GPtrArray  *(*stream_telemetry_list) (WeStore *self, const gchar *session_id, guint limit,
                                        GError **error);
  /* restreams (issue 11, src/store/we-store-restreams.c): rows whose
   * definition is a JSON document. restream_put inserts or replaces id,
   * user_id and doc (status and stats of a new row: stopped, NULL; kept on
   * a replace); restream_set_state writes status and stats (NULL stats:
   * left as they are); a missing restream is WE_ERROR_RST_NOT_FOUND. The
   * list is every restream, newest first. */
  gboolean         (*restream_put)       (WeStore *self, const WeRestreamRecord *record,
                                          GError **error);
  WeRestreamRecord *(*restream_get)      (WeStore *self, const gchar *id, GError **error);
  GPtrArray       *(*restream_list)      (WeStore *self, GError **error);
  gboolean         (*restream_set_state) (WeStore *self, const gchar *id, const gchar *status,
                                          const gchar *stats, GError **error);
  gboolean         (*restream_delete)    (WeStore *self, const gchar *id, GError **error);
  /* ownership (migration 0012): restream_claim sets *claimed when the
   * conditional UPDATE won (see WeRestreamClaim); restream_renew extends
   * the lease of every restream @kernel_id owns and answers their ids;
   * restream_report writes status and stats (NULL: kept) only while
   * @kernel_id owns it (NULL: whoever does), and with @release gives it up
   * (no owner, no lease, run_until 0). */
  gboolean         (*restream_claim)     (WeStore *self, const gchar *id,
                                          const WeRestreamClaim *claim, gboolean *claimed,
                                          GError **error);
  GPtrArray       *(*restream_renew)     (WeStore *self, const gchar *kernel_id,
                                          gint64 lease_until, GError **error);
  gboolean         (*restream_report)    (WeStore *self, const gchar *id, const gchar *kernel_id,
                                          const gchar *status, const gchar *stats,
                                          gboolean release, GError **error);
  /* publications of jobs to external platforms (issue 11), as the JSON
   * documents the publish runner (src/core/we-publish.c) keeps: put inserts
   * or replaces by id (a missing job is WE_ERROR_JOB_NOT_FOUND); get answers
   * the document (a missing one is WE_ERROR_JOB_NOT_FOUND); list gives the
   * documents of @job_id and/or in @status (either nullable), oldest first */
  gboolean    (*publication_put)   (WeStore *self, const gchar *id, const gchar *job_id,
                                    const gchar *status, gint64 created_at, gint64 updated_at,
                                    const gchar *doc, GError **error);
  gchar      *(*publication_get)   (WeStore *self, const gchar *id, GError **error);
  GPtrArray  *(*publication_list)  (WeStore *self, const gchar *job_id, const gchar *status,
                                    GError **error);
  /* Makes @kernel_id the owner of publication @id, queued or uploading, when
   * its owner (its own, else its job's) is @kernel_id, nobody, or a kernel
   * silent for @stale_s: one conditional UPDATE, so of kernels racing for
   * an orphan exactly one wins. TRUE when @kernel_id owns it now;
   * @previous (nullable) gets the owner it had. */
  gboolean    (*publication_claim) (WeStore *self, const gchar *id, const gchar *kernel_id,
                                    guint stale_s, gchar **previous, GError **error);

  gpointer padding[1];
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

/* security records (src/store/we-store-security.c); errors as above, with
 * WE_ERROR_SYS_NOT_FOUND for a missing token, webhook or delivery */
gboolean    we_store_audit_add         (WeStore *self, WeAuditEntry *entry, GError **error);
/* Returns: (transfer container) (element-type WeAuditEntry) (nullable); newest first */
GPtrArray  *we_store_audit_list        (WeStore *self, const WeAuditFilter *filter, guint *total,
                                        GError **error);
gboolean    we_store_token_put         (WeStore *self, const WeApiToken *token, GError **error);
/* Returns: (transfer full) (nullable) */
WeApiToken *we_store_token_get         (WeStore *self, const gchar *id, GError **error);
/* Returns: (transfer full) (nullable) */
WeApiToken *we_store_token_get_by_hash (WeStore *self, const gchar *token_hash, GError **error);
/* Returns: (transfer container) (element-type WeApiToken) (nullable); newest first */
GPtrArray  *we_store_token_list        (WeStore *self, GError **error);
gboolean    we_store_webhook_put       (WeStore *self, const WeWebhook *webhook, GError **error);
/* Returns: (transfer full) (nullable) */
WeWebhook  *we_store_webhook_get       (WeStore *self, const gchar *id, GError **error);
/* Returns: (transfer container) (element-type WeWebhook) (nullable) */
GPtrArray  *we_store_webhook_list      (WeStore *self, const gchar *job_id, GError **error);
gboolean    we_store_webhook_delete    (WeStore *self, const gchar *id, GError **error);
gboolean    we_store_delivery_add      (WeStore *self, WeWebhookDelivery *delivery,
                                        GError **error);
/* Returns: (transfer container) (element-type WeWebhookDelivery) (nullable) */
GPtrArray  *we_store_delivery_claim    (WeStore *self, const gchar *kernel_id, gint64 now,
                                        gint64 lease_us, guint limit, GError **error);
gboolean    we_store_delivery_update   (WeStore *self, const WeWebhookDelivery *delivery,
                                        GError **error);
/* Returns: (transfer full) (nullable) */
WeWebhookDelivery *we_store_delivery_get (WeStore *self, const gchar *id, GError **error);
/* Returns: (transfer container) (element-type WeWebhookDelivery) (nullable); newest first */
GPtrArray  *we_store_delivery_list     (WeStore *self, const gchar *webhook_id, guint limit,
                                        guint offset, guint *total, GError **error);

/* pipeline introspection (src/store/we-store-debug.c); the kernel reaches
 * them through we_store_call_async() */
gboolean    we_store_task_pipeline_put (WeStore *self, const WeTaskPipeline *pipeline,
                                        GError **error);
/* Returns: (transfer container) (element-type WeTaskPipeline) (nullable) */
GPtrArray  *we_store_task_pipeline_list (WeStore *self, const gchar *job_id,
                                         const gchar *task_id, GError **error);
gboolean    we_store_task_log_put      (WeStore *self, const WeTaskLog *log, GError **error);
/* Returns: (transfer container) (element-type WeTaskLog) (nullable) */
GPtrArray  *we_store_task_log_list     (WeStore *self, const gchar *job_id,
                                        const gchar *task_id, GError **error);

/* error tracking (src/store/we-store-errors.c); the API reaches them through
 * we_store_call_async() */
gboolean    we_store_error_event_add   (WeStore *self, WeErrorEvent *event, GError **error);
/* Returns: (transfer container) (element-type WeErrorEvent) (nullable) */
GPtrArray  *we_store_error_event_list  (WeStore *self, const WeErrorFilter *filter,
                                        guint *total, GError **error);
gboolean    we_store_error_event_set_resolved (WeStore *self, const gchar *id,
                                               gboolean resolved, const gchar *by,
                                               GError **error);

/* live streams (src/store/we-store-streams.c); the API reaches them through
 * we_store_call_async(), the ingest through we_stream_keys_lookup() */
gboolean    we_store_stream_create     (WeStore *self, WeStream *stream, GError **error);
/* Returns: (transfer full) (nullable) */
WeStream   *we_store_stream_get        (WeStore *self, const gchar *id, GError **error);
/* Returns: (transfer full) (nullable); WE_ERROR_STR_NOT_FOUND when no stream has it */
WeStream   *we_store_stream_get_by_key_hash (WeStore *self, const gchar *key_hash,
                                             GError **error);
/* Returns: (transfer container) (element-type WeStream) (nullable) */
GPtrArray  *we_store_stream_list       (WeStore *self, const WeStreamFilter *filter,
                                        guint *total, GError **error);
gboolean    we_store_stream_update     (WeStore *self, WeStream *stream, GError **error);
gboolean    we_store_stream_delete     (WeStore *self, const gchar *id, GError **error);
gboolean    we_store_stream_session_put (WeStore *self, const WeStreamSession *session,
                                         GError **error);
/* @limit: 0 = 50, capped at 500.
 * Returns: (transfer container) (element-type WeStreamSession) (nullable) */
gboolean    we_store_stream_telemetry_add (WeStore *self, const gchar *session_id,
                                           gint64 time_ms, const gchar *sample, guint keep,
                                           GError **error);
/* Returns: (transfer container) (element-type utf8): JSON objects, oldest first */
GPtrArray  *we_store_stream_telemetry_list (WeStore *self, const gchar *session_id, guint limit,
                                            GError **error);
GPtrArray  *we_store_stream_session_list (WeStore *self, const gchar *stream_id, guint limit,
                                          GError **error);

/* restreams (src/store/we-store-restreams.c); blocking: the API and the
 * restream manager call them through we_store_call_async() */
gboolean          we_store_restream_put       (WeStore *self, const WeRestreamRecord *record,
                                               GError **error);
/* Returns: (transfer full) (nullable); WE_ERROR_RST_NOT_FOUND */
WeRestreamRecord *we_store_restream_get       (WeStore *self, const gchar *id, GError **error);
/* Returns: (transfer container) (element-type WeRestreamRecord) (nullable) */
GPtrArray        *we_store_restream_list      (WeStore *self, GError **error);
gboolean          we_store_restream_set_state (WeStore *self, const gchar *id,
                                               const gchar *status, const gchar *stats,
                                               GError **error);
gboolean          we_store_restream_delete    (WeStore *self, const gchar *id, GError **error);
gboolean          we_store_restream_claim     (WeStore *self, const gchar *id,
                                               const WeRestreamClaim *claim, gboolean *claimed,
                                               GError **error);
/* Returns: (transfer container) (element-type utf8) (nullable) */
GPtrArray        *we_store_restream_renew     (WeStore *self, const gchar *kernel_id,
                                               gint64 lease_until, GError **error);
gboolean          we_store_restream_report    (WeStore *self, const gchar *id,
                                               const gchar *kernel_id, const gchar *status,
                                               const gchar *stats, gboolean release,
                                               GError **error);

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

/* Runs @func on the store's thread, in order with every other operation, and
 * completes on the caller's thread-default context: the way in for calls that
 * have no _async wrapper of their own (audit, tokens, webhooks). @func may
 * return NULL for success; the finisher then returns NULL with no error. */
typedef gpointer (*WeStoreCallFunc) (WeStore *self, gpointer data, GError **error);
void        we_store_call_async        (WeStore *self, WeStoreCallFunc func, gpointer data,
                                        GDestroyNotify data_free, GDestroyNotify result_free,
                                        GCancellable *cancellable,
                                        GAsyncReadyCallback callback, gpointer user_data);
/* Returns: (transfer full) (nullable): what @func returned */
gpointer    we_store_call_finish       (WeStore *self, GAsyncResult *result, GError **error);

/* Waits until every operation submitted so far has run (for shutdown). */
void        we_store_flush             (WeStore *self);

/* --- publications (issue 11): src/store/we-store-publications.c --- */
gboolean    we_store_publication_put   (WeStore *self, const gchar *id, const gchar *job_id,
                                        const gchar *status, gint64 created_at,
                                        gint64 updated_at, const gchar *doc, GError **error);
/* Returns: (transfer full) (nullable): the JSON document */
gchar      *we_store_publication_get   (WeStore *self, const gchar *id, GError **error);
/* Returns: (transfer full) (element-type utf8) (nullable): JSON documents */
GPtrArray  *we_store_publication_list  (WeStore *self, const gchar *job_id, const gchar *status,
                                        GError **error);
gboolean    we_store_publication_claim (WeStore *self, const gchar *id, const gchar *kernel_id,
                                        guint stale_s, gchar **previous, GError **error);

G_END_DECLS
