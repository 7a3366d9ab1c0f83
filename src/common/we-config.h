/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Service configuration: built-in defaults, then a key file, then the spec
 * §12 environment variables (which win, as operators expect from containers).
 */
#pragma once

#include <glib-object.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

#define WE_TYPE_CONFIG (we_config_get_type ())
G_DECLARE_FINAL_TYPE (WeConfig, we_config, WE, CONFIG, GObject)

/* @path: (nullable): a key file; NULL reads only defaults and the environment.
 * @env: (nullable): environment to read (g_get_environ() format); NULL = the
 * process environment.  Returns: (transfer full) (nullable) */
WeConfig    *we_config_new               (const gchar  *path,
                                          gchar       **env,
                                          GError      **error);

const gchar *we_config_get_host          (WeConfig *self);   /* [server] host, default 127.0.0.1 */
guint16      we_config_get_port          (WeConfig *self);   /* KERNEL_PORT / [server] port, 8080 */
const gchar *we_config_get_public_url    (WeConfig *self);   /* [server] public_url, derived */
const gchar *we_config_get_data_dir      (WeConfig *self);   /* WE_DATA_DIR / [paths] data_dir */
const gchar *we_config_get_plugin_dir    (WeConfig *self);   /* PLUGIN_DIR / [paths] plugin_dir */
const gchar *we_config_get_database_url  (WeConfig *self);   /* DATABASE_URL, default sqlite */
const gchar *we_config_get_nats_url      (WeConfig *self);   /* NATS_URL, nullable */
/* WE_STORAGE_DEFAULT: plugin id for uploads and outputs, nullable */
const gchar *we_config_get_default_storage (WeConfig *self);
/* WE_CONTENT_KEY_SECRET / [security] content_key_secret: "env:VAR" or
 * "file:/path", nullable (see core/we-content-keys.h) */
const gchar *we_config_get_content_key_secret (WeConfig *self);
/* WE_LOGIN_MAX_FAILURES / [security] login_max_failures (default 10, 0 = no
 * limit) failed logins per client address within WE_LOGIN_WINDOW_S /
 * [security] login_window_s (default 300) before WE-SYS-005 */
guint        we_config_get_login_max_failures (WeConfig *self);
guint        we_config_get_login_window_s     (WeConfig *self);
/* WE_TLS_CERT_FILE / [server] tls_cert_file and WE_TLS_KEY_FILE /
 * [server] tls_key_file (PEM): HTTPS and WSS when both are set */
const gchar *we_config_get_tls_cert_file      (WeConfig *self);
const gchar *we_config_get_tls_key_file       (WeConfig *self);
/* WE_KERNEL_ID (default <hostname>:<port>) and WE_KERNEL_BEAT_S (5) */
const gchar *we_config_get_kernel_id     (WeConfig *self);
guint        we_config_get_kernel_beat_s (WeConfig *self);
/* [publish] (WE_PUBLISH_* override): the publish runner's attempts (1–100),
 * uploads at once per plugin (1–16), first backoff in ms (doubled per
 * attempt) and how often it looks at the store (ms, at least 50) */
guint        we_config_get_publish_max_attempts (WeConfig *self);
guint        we_config_get_publish_concurrency (WeConfig *self);
guint        we_config_get_publish_retry_base_ms (WeConfig *self);
guint        we_config_get_publish_poll_ms (WeConfig *self);
const gchar *we_config_get_log_level     (WeConfig *self);   /* LOG_LEVEL, "info" */
const gchar *we_config_get_log_format    (WeConfig *self);   /* LOG_FORMAT, "json" */
/* WE_DBUS_BUS / [dbus] bus: "auto" (default), "session", "system" or "none" */
const gchar *we_config_get_dbus_bus      (WeConfig *self);
/* WE_WEB_DIR / [api] web_dir: the built dashboard the API server serves;
 * default <source>/web/dist for a daemon run from its build tree, else
 * <datadir>/webencode/web */
const gchar *we_config_get_web_dir       (WeConfig *self);
/* WE_ERROR_REPORTS_PER_MIN / [security] error_reports_per_min (default 30):
 * POST /v1/errors calls per client address per minute; 0 = no limit */
guint        we_config_get_error_reports_per_min (WeConfig *self);
/* Live ingest as publishers see it (POST /v1/streams "ingest"):
 * WE_LIVE_PUBLIC_HOST / [live] public_host (default: the host the API was
 * reached at), WE_LIVE_RTMP_PORT / [live] rtmp_port (1935) and
 * WE_LIVE_SRT_PORT / [live] srt_port (10080) */
const gchar *we_config_get_live_public_host (WeConfig *self);
guint16      we_config_get_live_rtmp_port   (WeConfig *self);
guint16      we_config_get_live_srt_port    (WeConfig *self);
/* WE_LIVE_ENABLED / [live] enabled (true): the daemon runs a live worker
 * (webencode-worker --live) in embedded mode; WE_LIVE_IDLE_TIMEOUT_S /
 * [live] idle_timeout_s (10): how long a stream waits for its publisher to
 * come back (a reconnect within it continues the session);
 * WE_LIVE_ARCHIVE_PROFILE / [live] archive_profile (720p_h264): the profile
 * of the VOD job a recording is archived with */
gboolean     we_config_get_live_enabled     (WeConfig *self);
guint        we_config_get_live_idle_timeout_s (WeConfig *self);
const gchar *we_config_get_live_archive_profile (WeConfig *self);
/* WE_LIVE_OUTPUT_DIR / [live] output_dir (<data_dir>/live): where the live
 * worker writes live HLS and recordings and the kernel serves them from
 * (cluster mode: the same shared path on every kernel and live worker) */
const gchar *we_config_get_live_output_dir (WeConfig *self);
/* WE_DBUS_JOB_LINGER_S / [dbus] job_linger_s (600): how long a finished
 * job's D-Bus object stays exported */
guint        we_config_get_dbus_job_linger_s (WeConfig *self);
guint        we_config_get_worker_count  (WeConfig *self);   /* WE_WORKERS / [workers] count; 0 → cores */
const gchar *we_config_get_worker_binary (WeConfig *self);   /* [workers] binary */
guint        we_config_get_stall_timeout (WeConfig *self);   /* [workers] stall_timeout_s, 120 */
guint64      we_config_get_max_upload    (WeConfig *self);   /* [server] max_upload_bytes, 64 GiB */
guint        we_config_get_retry_base_ms (WeConfig *self);   /* WE_RETRY_BASE_MS / [workers] retry_base_ms, 5000 */
/* Cluster mode (NATS). WE_NATS_ACK_WAIT_S / [queue] ack_wait_s, 30 */
guint        we_config_get_nats_ack_wait_s (WeConfig *self);
/* WE_HEARTBEAT_INTERVAL_MS / [workers] heartbeat_interval_ms, 2000 */
guint        we_config_get_heartbeat_interval_ms (WeConfig *self);
/* WE_WORKER_OFFLINE_MS / [workers] offline_ms, 3 × heartbeat + 1000 */
guint        we_config_get_worker_offline_ms (WeConfig *self);
/* webencode-worker --nats: WE_SCRATCH_DIR / [workers] scratch_dir and
 * WE_WORKER_ID / [workers] id; both nullable (the worker picks defaults) */
const gchar *we_config_get_scratch_dir   (WeConfig *self);
const gchar *we_config_get_worker_id     (WeConfig *self);
/* WE_WORKER_GST_DEBUG / [workers] gst_debug: GStreamer debug logs per task
 * (GST_DEBUG syntax, e.g. "*:4"; "true"/"1" mean "*:4"), for the local
 * workers (configure message) and webencode-worker --nats. Nullable: off
 * (unset, empty, "false", "0", "off", "no"). */
const gchar *we_config_get_worker_gst_debug (WeConfig *self);
/* [secrets] (spec §6.5; secrets/we-secrets-router.h): none of these is a
 * secret. WE_SECRETS_BACKEND / backend = file | vault | secret-service (where
 * references without a scheme go), WE_SECRETS_FILE_DIR / file_dir,
 * WE_SECRETS_VAULT_ADDR / vault_addr, WE_SECRETS_VAULT_TOKEN_FILE /
 * vault_token_file, WE_SECRETS_VAULT_TOKEN_ENV / vault_token_env (the name
 * of the variable holding the token), WE_SECRETS_VAULT_NAMESPACE /
 * vault_namespace, WE_SECRETS_VAULT_CA_FILE / vault_ca_file: all nullable;
 * WE_SECRETS_CACHE_TTL_S / cache_ttl_s, 60 */
const gchar *we_config_get_secrets_backend          (WeConfig *self);
const gchar *we_config_get_secrets_file_dir         (WeConfig *self);
const gchar *we_config_get_secrets_vault_addr       (WeConfig *self);
const gchar *we_config_get_secrets_vault_token_file (WeConfig *self);
const gchar *we_config_get_secrets_vault_token_env  (WeConfig *self);
const gchar *we_config_get_secrets_vault_namespace  (WeConfig *self);
const gchar *we_config_get_secrets_vault_ca_file    (WeConfig *self);
guint        we_config_get_secrets_cache_ttl_s      (WeConfig *self);

/* The configuration of one plugin: the key file group [plugin:<id>] merged
 * with environment variables WE_PLUGIN_<ID>_<KEY> (id upper-cased, '-' → '_').
 * Returns: (transfer full): possibly empty */
JsonObject  *we_config_get_plugin_config (WeConfig    *self,
                                          const gchar *plugin_id);
/* [plugins] disabled=… and WE_PLUGINS_DISABLED together. Returns: (transfer full) */
GStrv        we_config_get_disabled_plugins (WeConfig *self);
/* Plugin ids listed in [plugins] disabled=…; those are not loaded. */
gboolean     we_config_plugin_is_disabled (WeConfig    *self,
                                           const gchar *plugin_id);

G_END_DECLS
