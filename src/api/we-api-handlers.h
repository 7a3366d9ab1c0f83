/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Route handlers, one file per resource.
 */
#pragma once

#include "we-api-request.h"

G_BEGIN_DECLS

void we_api_health          (WeApiRequest *request);

void we_api_profiles_list   (WeApiRequest *request);
void we_api_profiles_get    (WeApiRequest *request);
void we_api_profiles_create (WeApiRequest *request);
void we_api_profiles_replace (WeApiRequest *request);
void we_api_profiles_delete (WeApiRequest *request);
void we_api_profiles_duplicate (WeApiRequest *request);

void we_api_jobs_create     (WeApiRequest *request);
void we_api_jobs_list       (WeApiRequest *request);
void we_api_jobs_get        (WeApiRequest *request);
void we_api_jobs_tasks      (WeApiRequest *request);
void we_api_jobs_events     (WeApiRequest *request);
void we_api_jobs_cancel     (WeApiRequest *request);
void we_api_jobs_retry      (WeApiRequest *request);
void we_api_jobs_task_retry (WeApiRequest *request);
void we_api_jobs_delete     (WeApiRequest *request);
void we_api_jobs_update     (WeApiRequest *request);
void we_api_jobs_outputs    (WeApiRequest *request);
void we_api_jobs_download   (WeApiRequest *request);

/* publishing (we-api-publish.c, issue 11) */
void we_api_jobs_publish       (WeApiRequest *request);
void we_api_jobs_publications  (WeApiRequest *request);
void we_api_publications_get   (WeApiRequest *request);
void we_api_publications_retry (WeApiRequest *request);
/* The "publish" member of a POST /v1/jobs @body, validated and removed
 * from it. Returns: (transfer full) (nullable): NULL when there is none or
 * @error is set */
JsonArray *we_api_publish_take_targets  (WeApiRequest *request,
                                         JsonObject   *body,
                                         GError      **error);
/* Stores @targets as queued publications of the new @job, then answers
 * @status with @answer (transfer full). */
void       we_api_publish_store_targets (WeApiRequest *request,
                                         WeJob        *job,
                                         JsonArray    *targets,
                                         guint         status,
                                         JsonObject   *answer);
/* The kernel's publish runner, owned by the server. Returns: (transfer none) */
struct _WePublishRunner *we_api_server_get_publish_runner (WeApiServer *server);
void we_api_jobs_key        (WeApiRequest *request);
/* we-api-debug.c: pipeline introspection */
void we_api_jobs_task_pipeline (WeApiRequest *request);
void we_api_jobs_task_logs     (WeApiRequest *request);

void we_api_files_capabilities (WeApiRequest *request);
void we_api_files_roots        (WeApiRequest *request);
void we_api_files_browse       (WeApiRequest *request);
void we_api_files_upload       (WeApiRequest *request);

void we_api_workers_list       (WeApiRequest *request);
void we_api_workers_get        (WeApiRequest *request);
void we_api_workers_drain      (WeApiRequest *request);
void we_api_workers_undrain    (WeApiRequest *request);
void we_api_workers_delete     (WeApiRequest *request);

/* we-api-plugins.c: the pillar modules, their configuration and a probe */
void we_api_plugins_list        (WeApiRequest *request);
void we_api_plugins_get         (WeApiRequest *request);
void we_api_plugins_put_config  (WeApiRequest *request);
void we_api_plugins_enable      (WeApiRequest *request);
void we_api_plugins_disable     (WeApiRequest *request);
void we_api_plugins_test        (WeApiRequest *request);

/* we-api-streams.c: live streams and their ingest credentials */
void we_api_streams_list       (WeApiRequest *request);
void we_api_streams_create     (WeApiRequest *request);
void we_api_streams_get        (WeApiRequest *request);
void we_api_streams_update     (WeApiRequest *request);
void we_api_streams_delete     (WeApiRequest *request);
void we_api_streams_rotate_key (WeApiRequest *request);
void we_api_streams_reveal_key (WeApiRequest *request);
void we_api_streams_stats      (WeApiRequest *request);
/* for resources that make a stream of their own (a restream's ingest) */
gboolean    we_api_streams_create_in_store (WeStore *store, WeContentKeys *keys,
                                            WeStream *stream, gchar **key, gchar **passphrase,
                                            GError **error);
JsonObject *we_api_streams_ingest_json     (WeApiRequest *request, const gchar *stream_id,
                                            const gchar *key, const gchar *passphrase);
/* we-api-streams-live.c: live HLS, ending a stream, archiving its recording */
void we_api_streams_live_file  (WeApiRequest *request);
void we_api_streams_end        (WeApiRequest *request);
void we_api_streams_archive    (WeApiRequest *request);
void we_api_streams_recording  (WeApiRequest *request);
void we_api_streams_live_rung_file (WeApiRequest *request);
/* we-api-restreams.c: restream jobs (issue 11) and their destinations */
void we_api_restreams_list        (WeApiRequest *request);
void we_api_restreams_create      (WeApiRequest *request);
void we_api_restreams_get         (WeApiRequest *request);
void we_api_restreams_update      (WeApiRequest *request);
void we_api_restreams_delete      (WeApiRequest *request);
void we_api_restreams_start       (WeApiRequest *request);
void we_api_restreams_stop        (WeApiRequest *request);
void we_api_restreams_dest_add    (WeApiRequest *request);
void we_api_restreams_dest_update (WeApiRequest *request);
void we_api_restreams_dest_delete (WeApiRequest *request);

/* The upload route streams its body: set up when the headers arrive. */
void we_api_upload_early    (WeApiServer       *server,
                             SoupServerMessage *msg);

/* we-api-login.c: sessions, OIDC login (authorization code + PKCE), users */
void we_api_auth_config     (WeApiRequest *request);
void we_api_auth_login      (WeApiRequest *request);
void we_api_auth_callback   (WeApiRequest *request);
void we_api_auth_refresh    (WeApiRequest *request);
void we_api_auth_logout     (WeApiRequest *request);
void we_api_auth_me         (WeApiRequest *request);
void we_api_users_list      (WeApiRequest *request);

/* we-api-tokens.c: long-lived API tokens */
void we_api_tokens_list     (WeApiRequest *request);
void we_api_tokens_create   (WeApiRequest *request);
void we_api_tokens_revoke   (WeApiRequest *request);

/* we-api-audit.c */
void we_api_audit_list      (WeApiRequest *request);

/* we-api-webhooks.c */
void we_api_webhooks_list          (WeApiRequest *request);
void we_api_webhooks_create        (WeApiRequest *request);
void we_api_webhooks_get           (WeApiRequest *request);
void we_api_webhooks_update        (WeApiRequest *request);
void we_api_webhooks_delete        (WeApiRequest *request);
void we_api_webhooks_rotate_secret (WeApiRequest *request);
void we_api_webhooks_ping          (WeApiRequest *request);
void we_api_webhooks_deliveries    (WeApiRequest *request);
void we_api_webhooks_replay        (WeApiRequest *request);
/* GET /v1/webhooks/job-secret (not routed yet): the caller's per-job webhook secret */
void we_api_webhooks_job_secret    (WeApiRequest *request);

/* we-api-errors.c: error tracking (spec 2.5) */
void we_api_errors_report          (WeApiRequest *request);
void we_api_errors_list            (WeApiRequest *request);
void we_api_errors_update          (WeApiRequest *request);

/* we-api-static.c: the web dashboard's files, for every non-API path */
gboolean we_api_static_is_web_path (const gchar *path);
void     we_api_static_serve       (WeApiRequest *request);

G_END_DECLS
