/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"
#include "we-config.h"

#include <webencode/we-error.h>

struct _WeConfig {
  GObject    parent_instance;
  GKeyFile  *keyfile;
  gchar    **env;
  gchar     *host;
  guint16    port;
  gchar     *public_url;
  gchar     *data_dir;
  gchar     *plugin_dir;
  gchar     *database_url;
  gchar     *nats_url;
  gchar     *default_storage;
  gchar     *content_key_secret;
  guint      login_max_failures;
  guint      login_window_s;
  gchar     *tls_cert_file;
  gchar     *tls_key_file;
  gchar     *kernel_id;
  guint      kernel_beat_s;
  gchar     *log_level;
  gchar     *log_format;
  guint      worker_count;
  gchar     *worker_binary;
  guint      stall_timeout;
  guint64    max_upload;
  guint      retry_base_ms;
  /* cluster mode (NATS) */
  guint      nats_ack_wait_s;
  guint      heartbeat_ms;
  guint      offline_ms;
  gchar     *scratch_dir;
  gchar     *worker_id;
  gchar     *worker_gst_debug;
  /* [secrets]: where *_secret_ref / *_token_ref keys resolve; no secrets */
  gchar     *secrets_backend;
  gchar     *secrets_file_dir;
  gchar     *secrets_vault_addr;
  gchar     *secrets_vault_token_file;
  gchar     *secrets_vault_token_env;
  gchar     *secrets_vault_namespace;
  gchar     *secrets_vault_ca_file;
  guint      secrets_cache_ttl_s;
  /* [dbus] */
  gchar     *dbus_bus;
  gchar     *web_dir;
  guint      error_reports_per_min;
  gchar     *live_public_host;
  guint16    live_rtmp_port;
  guint16    live_srt_port;
  gboolean   live_enabled;
  guint      live_idle_timeout_s;
  gchar     *live_archive_profile;
  gchar     *live_output_dir;
  guint      dbus_job_linger_s;
  /* [publish]: the kernel's publish runner (src/core/we-publish.c) */
  guint      publish_max_attempts;
  guint      publish_concurrency;
  guint      publish_retry_base_ms;
  guint      publish_poll_ms;
};

G_DEFINE_TYPE (WeConfig, we_config, G_TYPE_OBJECT)

static void
we_config_finalize (GObject *object)
{
  WeConfig *self = WE_CONFIG (object);

  g_key_file_unref (self->keyfile);
  g_strfreev (self->env);
  g_free (self->host);
  g_free (self->public_url);
  g_free (self->data_dir);
  g_free (self->plugin_dir);
  g_free (self->database_url);
  g_free (self->nats_url);
  g_free (self->default_storage);
  g_free (self->content_key_secret);
  g_free (self->tls_cert_file);
  g_free (self->tls_key_file);
  g_free (self->kernel_id);
  g_free (self->log_level);
  g_free (self->log_format);
  g_free (self->worker_binary);
  g_free (self->scratch_dir);
  g_free (self->worker_id);
  g_free (self->worker_gst_debug);
  g_free (self->secrets_backend);
  g_free (self->secrets_file_dir);
  g_free (self->secrets_vault_addr);
  g_free (self->secrets_vault_token_file);
  g_free (self->secrets_vault_token_env);
  g_free (self->dbus_bus);
  g_free (self->web_dir);
  g_free (self->live_public_host);
  g_free (self->live_archive_profile);
  g_free (self->live_output_dir);
  g_free (self->secrets_vault_namespace);
  g_free (self->secrets_vault_ca_file);
  G_OBJECT_CLASS (we_config_parent_class)->finalize (object);
}

static void
we_config_class_init (WeConfigClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = we_config_finalize;
}

static void
we_config_init (WeConfig *self)
{
  self->keyfile = g_key_file_new ();
}

static const gchar *
env_get (WeConfig *self, const gchar *name)
{
  const gchar *v = g_environ_getenv (self->env, name);
  return (v != NULL && *v != '\0') ? v : NULL;
}

/* env wins over the key file, which wins over the default */
/* A daemon started from its build tree serves the dashboard built in its
 * source tree (Vite writes web/dist), so a developer needs no install step
 * to see their change. */
static gchar *
default_web_dir (void)
{
  g_autofree gchar *exe = g_file_read_link ("/proc/self/exe", NULL);
  g_autofree gchar *build_root = g_path_get_dirname (WE_BUILD_BINDIR);
  g_autofree gchar *prefix = g_strconcat (build_root, G_DIR_SEPARATOR_S, NULL);

  if (exe != NULL && g_str_has_prefix (exe, prefix))
    return g_strdup (WE_SOURCE_WEBDIR);
  return g_build_filename (WE_DATADIR, "web", NULL);
}

static gchar *
pick_string (WeConfig *self, const gchar *env_name, const gchar *group, const gchar *key,
             const gchar *def)
{
  const gchar *v = env_name ? env_get (self, env_name) : NULL;
  g_autofree gchar *kf = NULL;

  if (v != NULL)
    return g_strdup (v);
  kf = g_key_file_get_string (self->keyfile, group, key, NULL);
  if (kf != NULL && *kf != '\0')
    return g_steal_pointer (&kf);
  return g_strdup (def);
}

static gboolean
pick_uint (WeConfig *self, const gchar *env_name, const gchar *group, const gchar *key,
           guint64 def, guint64 max, guint64 *out, GError **error)
{
  g_autofree gchar *s = pick_string (self, env_name, group, key, NULL);
  g_autoptr(GError) local = NULL;
  guint64 v;

  if (s == NULL) {
    *out = def;
    return TRUE;
  }
  if (!g_ascii_string_to_unsigned (s, 10, 0, max, &v, &local)) {
    g_set_error (error, WE_ERROR, WE_ERROR_SYS_INTERNAL, "configuration %s/%s: %s",
                 env_name && env_get (self, env_name) ? env_name : group,
                 key, local->message);
    return FALSE;
  }
  *out = v;
  return TRUE;
}

WeConfig *
we_config_new (const gchar *path, gchar **env, GError **error)
{
  g_autoptr(WeConfig) self = g_object_new (WE_TYPE_CONFIG, NULL);
  g_autofree gchar *default_data = NULL;
  g_autofree gchar *default_db = NULL;
  g_autofree gchar *default_kernel = NULL;
  guint64 v;

  self->env = env ? g_strdupv (env) : g_get_environ ();
  if (path == NULL)
    path = env_get (self, "WE_CONFIG");
  if (path != NULL &&
      !g_key_file_load_from_file (self->keyfile, path, G_KEY_FILE_NONE, error)) {
    g_prefix_error (error, "reading configuration %s: ", path);
    return NULL;
  }

  self->host = pick_string (self, "KERNEL_HOST", "server", "host", "127.0.0.1");
  if (!pick_uint (self, "KERNEL_PORT", "server", "port", 8080, 65535, &v, error))
    return NULL;
  self->port = (guint16) v;
  self->public_url = pick_string (self, "WE_PUBLIC_URL", "server", "public_url", NULL);
  if (self->public_url == NULL) {
    const gchar *h = g_strcmp0 (self->host, "0.0.0.0") == 0 || g_strcmp0 (self->host, "::") == 0
                         ? "127.0.0.1" : self->host;
    gboolean tls = g_getenv ("WE_TLS_CERT_FILE") != NULL ||
                   (self->keyfile != NULL &&
                    g_key_file_has_key (self->keyfile, "server", "tls_cert_file", NULL));

    self->public_url = g_strdup_printf ("%s://%s%s%s:%u", tls ? "https" : "http",
                                        strchr (h, ':') ? "[" : "", h,
                                        strchr (h, ':') ? "]" : "", self->port);
  }

  default_data = g_build_filename (g_get_user_data_dir (), "webencode", NULL);
  self->data_dir = pick_string (self, "WE_DATA_DIR", "paths", "data_dir", default_data);
  self->plugin_dir = pick_string (self, "PLUGIN_DIR", "paths", "plugin_dir", NULL);
  if (self->plugin_dir == NULL)
    self->plugin_dir = pick_string (self, "WE_PLUGIN_DIR", "paths", "plugin_dir", WE_PLUGINDIR);
  default_db = g_strdup_printf ("sqlite://%s/webencode.db", self->data_dir);
  self->database_url = pick_string (self, "DATABASE_URL", "store", "database_url", default_db);
  self->nats_url = pick_string (self, "NATS_URL", "queue", "nats_url", NULL);
  self->default_storage = pick_string (self, "WE_STORAGE_DEFAULT", "storage", "default", NULL);
  self->content_key_secret = pick_string (self, "WE_CONTENT_KEY_SECRET", "security",
                                          "content_key_secret", NULL);
  if (!pick_uint (self, "WE_LOGIN_MAX_FAILURES", "security", "login_max_failures", 10, 100000,
                  &v, error))
    return NULL;
  self->login_max_failures = (guint) v;
  if (!pick_uint (self, "WE_LOGIN_WINDOW_S", "security", "login_window_s", 300, 86400, &v, error))
    return NULL;
  self->login_window_s = (guint) MAX (v, 1);
  self->tls_cert_file = pick_string (self, "WE_TLS_CERT_FILE", "server", "tls_cert_file", NULL);
  self->tls_key_file = pick_string (self, "WE_TLS_KEY_FILE", "server", "tls_key_file", NULL);
  self->log_level = pick_string (self, "LOG_LEVEL", "log", "level", "info");
  self->log_format = pick_string (self, "LOG_FORMAT", "log", "format", "json");
  if (!pick_uint (self, "WE_WORKERS", "workers", "count", 0, 256, &v, error))
    return NULL;
  self->worker_count = (guint) v;
  self->worker_binary = pick_string (self, "WE_WORKER_BINARY", "workers", "binary", NULL);
  if (!pick_uint (self, "WE_STALL_TIMEOUT", "workers", "stall_timeout_s", 120, 86400, &v, error))
    return NULL;
  self->stall_timeout = (guint) v;
  if (!pick_uint (self, "WE_MAX_UPLOAD_BYTES", "server", "max_upload_bytes",
                  G_GUINT64_CONSTANT (64) << 30, G_MAXUINT64, &self->max_upload, error))
    return NULL;
  if (!pick_uint (self, "WE_RETRY_BASE_MS", "workers", "retry_base_ms", 5000, 600000, &v, error))
    return NULL;
  self->retry_base_ms = (guint) v;
  /* stable across restarts, so a restarted kernel is known as itself */
  default_kernel = g_strdup_printf ("%s:%u", g_get_host_name (), self->port);
  self->kernel_id = pick_string (self, "WE_KERNEL_ID", "server", "kernel_id", default_kernel);
  if (!pick_uint (self, "WE_KERNEL_BEAT_S", "server", "kernel_beat_s", 5, 3600, &v, error))
    return NULL;
  if (v == 0) {
    g_set_error (error, WE_ERROR, WE_ERROR_SYS_INTERNAL, "configuration server/kernel_beat_s: must be at least 1");
    return NULL;
  }
  self->kernel_beat_s = (guint) v;
  if (!pick_uint (self, "WE_NATS_ACK_WAIT_S", "queue", "ack_wait_s", 30, 3600, &v, error))
    return NULL;
  self->nats_ack_wait_s = (guint) MAX (v, 1);
  if (!pick_uint (self, "WE_HEARTBEAT_INTERVAL_MS", "workers", "heartbeat_interval_ms", 2000,
                  600000, &v, error))
    return NULL;
  self->heartbeat_ms = (guint) MAX (v, 50);
  /* three missed heartbeats, and a second for the network */
  if (!pick_uint (self, "WE_WORKER_OFFLINE_MS", "workers", "offline_ms",
                  3 * self->heartbeat_ms + 1000, 3600000, &v, error))
    return NULL;
  self->offline_ms = (guint) MAX (v, self->heartbeat_ms + 1);
  self->scratch_dir = pick_string (self, "WE_SCRATCH_DIR", "workers", "scratch_dir", NULL);
  self->worker_id = pick_string (self, "WE_WORKER_ID", "workers", "id", NULL);
  self->worker_gst_debug = pick_string (self, "WE_WORKER_GST_DEBUG", "workers", "gst_debug",
                                        NULL);
  if (self->worker_gst_debug != NULL) {
    g_strstrip (self->worker_gst_debug);
    if (g_strv_contains ((const gchar *const[]) { "", "0", "false", "off", "no", NULL },
                         self->worker_gst_debug)) {
      g_clear_pointer (&self->worker_gst_debug, g_free);
    } else if (g_strv_contains ((const gchar *const[]) { "1", "true", "on", "yes", NULL },
                                self->worker_gst_debug)) {
      g_free (self->worker_gst_debug);
      self->worker_gst_debug = g_strdup ("*:4");
    }
  }
  self->secrets_backend = pick_string (self, "WE_SECRETS_BACKEND", "secrets", "backend", NULL);
  self->secrets_file_dir = pick_string (self, "WE_SECRETS_FILE_DIR", "secrets", "file_dir", NULL);
  self->secrets_vault_addr = pick_string (self, "WE_SECRETS_VAULT_ADDR", "secrets", "vault_addr",
                                          NULL);
  self->secrets_vault_token_file = pick_string (self, "WE_SECRETS_VAULT_TOKEN_FILE", "secrets",
                                                "vault_token_file", NULL);
  self->secrets_vault_token_env = pick_string (self, "WE_SECRETS_VAULT_TOKEN_ENV", "secrets",
                                               "vault_token_env", NULL);
  self->secrets_vault_namespace = pick_string (self, "WE_SECRETS_VAULT_NAMESPACE", "secrets",
                                               "vault_namespace", NULL);
  self->secrets_vault_ca_file = pick_string (self, "WE_SECRETS_VAULT_CA_FILE", "secrets",
                                             "vault_ca_file", NULL);
  if (!pick_uint (self, "WE_SECRETS_CACHE_TTL_S", "secrets", "cache_ttl_s", 60, 86400, &v, error))
    return NULL;
  self->secrets_cache_ttl_s = (guint) v;
  /* [publish]: WE_PUBLISH_* win over the file, as everywhere */
  {
    static const struct {
      const gchar *env, *key;
      guint def, min, max;
      gsize offset;
    } publish[] = {
      { "WE_PUBLISH_MAX_ATTEMPTS", "max_attempts", 5, 1, 100,
        G_STRUCT_OFFSET (WeConfig, publish_max_attempts) },
      { "WE_PUBLISH_CONCURRENCY", "concurrency", 1, 1, 16,
        G_STRUCT_OFFSET (WeConfig, publish_concurrency) },
      { "WE_PUBLISH_RETRY_BASE_MS", "retry_base_ms", 5000, 1, 600000,
        G_STRUCT_OFFSET (WeConfig, publish_retry_base_ms) },
      { "WE_PUBLISH_POLL_MS", "poll_ms", 2000, 50, 600000,
        G_STRUCT_OFFSET (WeConfig, publish_poll_ms) },
    };

    for (guint i = 0; i < G_N_ELEMENTS (publish); i++) {
      if (!pick_uint (self, publish[i].env, "publish", publish[i].key, publish[i].def,
                      publish[i].max, &v, error))
        return NULL;
      if (v < publish[i].min) {
        g_set_error (error, WE_ERROR, WE_ERROR_SYS_INTERNAL,
                     "configuration publish/%s: must be at least %u", publish[i].key,
                     publish[i].min);
        return NULL;
      }
      G_STRUCT_MEMBER (guint, self, publish[i].offset) = (guint) v;
    }
  }
  self->dbus_bus = pick_string (self, "WE_DBUS_BUS", "dbus", "bus", "auto");
  if (g_strv_contains ((const gchar *const[]) { "auto", "session", "system", "none", NULL },
                       self->dbus_bus) == FALSE) {
    g_set_error (error, WE_ERROR, WE_ERROR_SYS_INTERNAL,
                 "configuration dbus/bus: \"%s\" is not auto, session, system or none",
                 self->dbus_bus);
    return NULL;
  }
  if (!pick_uint (self, "WE_DBUS_JOB_LINGER_S", "dbus", "job_linger_s", 600, 86400 * 7, &v,
                  error))
    return NULL;
  self->dbus_job_linger_s = (guint) v;
  if (!pick_uint (self, "WE_ERROR_REPORTS_PER_MIN", "security", "error_reports_per_min", 30,
                  100000, &v, error))
    return NULL;
  self->error_reports_per_min = (guint) v;
  /* what POST /v1/streams tells publishers to connect to (the ingest
   * servers may sit behind NAT or a load balancer, so it is not derived
   * from where they listen) */
  self->live_public_host = pick_string (self, "WE_LIVE_PUBLIC_HOST", "live", "public_host", NULL);
  if (!pick_uint (self, "WE_LIVE_RTMP_PORT", "live", "rtmp_port", 1935, 65535, &v, error))
    return NULL;
  self->live_rtmp_port = (guint16) v;
  if (!pick_uint (self, "WE_LIVE_SRT_PORT", "live", "srt_port", 10080, 65535, &v, error))
    return NULL;
  self->live_srt_port = (guint16) v;
  if (self->live_rtmp_port == 0 || self->live_srt_port == 0) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_SYS_INTERNAL,
                         "configuration live/rtmp_port and live/srt_port must not be 0");
    return NULL;
  }
  {
    g_autofree gchar *enabled = pick_string (self, "WE_LIVE_ENABLED", "live", "enabled", NULL);

    if (enabled != NULL)
      g_strstrip (enabled);
    self->live_enabled = enabled == NULL ||
                         !g_strv_contains ((const gchar *const[]) { "", "0", "false", "off", "no",
                                                                    NULL }, enabled);
  }
  if (!pick_uint (self, "WE_LIVE_IDLE_TIMEOUT_S", "live", "idle_timeout_s", 10, 3600, &v, error))
    return NULL;
  self->live_idle_timeout_s = MAX (1, (guint) v);
  self->live_archive_profile = pick_string (self, "WE_LIVE_ARCHIVE_PROFILE", "live",
                                            "archive_profile", "720p_h264");
  /* the live worker writes here and the kernel serves live HLS from here:
   * in cluster mode a path every kernel and live worker shares */
  self->live_output_dir = pick_string (self, "WE_LIVE_OUTPUT_DIR", "live", "output_dir", NULL);
  if (self->live_output_dir == NULL)
    self->live_output_dir = g_build_filename (self->data_dir, "live", NULL);
  self->web_dir = pick_string (self, "WE_WEB_DIR", "api", "web_dir", NULL);
  if (self->web_dir == NULL)
    self->web_dir = default_web_dir ();
  return g_steal_pointer (&self);
}

const gchar *we_config_get_host (WeConfig *self) { return self->host; }
guint16 we_config_get_port (WeConfig *self) { return self->port; }
const gchar *we_config_get_public_url (WeConfig *self) { return self->public_url; }
const gchar *we_config_get_data_dir (WeConfig *self) { return self->data_dir; }
const gchar *we_config_get_plugin_dir (WeConfig *self) { return self->plugin_dir; }
const gchar *we_config_get_database_url (WeConfig *self) { return self->database_url; }
const gchar *we_config_get_nats_url (WeConfig *self) { return self->nats_url; }
const gchar *we_config_get_default_storage (WeConfig *self) { return self->default_storage; }
const gchar *we_config_get_content_key_secret (WeConfig *self) { return self->content_key_secret; }
guint        we_config_get_login_max_failures (WeConfig *self) { return self->login_max_failures; }
guint        we_config_get_login_window_s (WeConfig *self) { return self->login_window_s; }
const gchar *we_config_get_tls_cert_file (WeConfig *self) { return self->tls_cert_file; }
const gchar *we_config_get_tls_key_file (WeConfig *self) { return self->tls_key_file; }
const gchar *we_config_get_kernel_id (WeConfig *self) { return self->kernel_id; }
guint we_config_get_kernel_beat_s (WeConfig *self) { return self->kernel_beat_s; }
guint we_config_get_publish_max_attempts (WeConfig *self) { return self->publish_max_attempts; }
guint we_config_get_publish_concurrency (WeConfig *self) { return self->publish_concurrency; }
guint we_config_get_publish_retry_base_ms (WeConfig *self) { return self->publish_retry_base_ms; }
guint we_config_get_publish_poll_ms (WeConfig *self) { return self->publish_poll_ms; }
const gchar *we_config_get_log_level (WeConfig *self) { return self->log_level; }
const gchar *we_config_get_log_format (WeConfig *self) { return self->log_format; }
const gchar *we_config_get_dbus_bus (WeConfig *self) { return self->dbus_bus; }
const gchar *we_config_get_web_dir (WeConfig *self) { return self->web_dir; }
guint we_config_get_error_reports_per_min (WeConfig *self) { return self->error_reports_per_min; }
const gchar *we_config_get_live_public_host (WeConfig *self) { return self->live_public_host; }
guint16 we_config_get_live_rtmp_port (WeConfig *self) { return self->live_rtmp_port; }
guint16 we_config_get_live_srt_port (WeConfig *self) { return self->live_srt_port; }
gboolean we_config_get_live_enabled (WeConfig *self) { return self->live_enabled; }
guint we_config_get_live_idle_timeout_s (WeConfig *self) { return self->live_idle_timeout_s; }
const gchar *we_config_get_live_output_dir (WeConfig *self) { return self->live_output_dir; }
const gchar *we_config_get_live_archive_profile (WeConfig *self)
{
  return self->live_archive_profile;
}
guint        we_config_get_dbus_job_linger_s (WeConfig *self) { return self->dbus_job_linger_s; }
guint we_config_get_worker_count (WeConfig *self) { return self->worker_count; }
const gchar *we_config_get_worker_binary (WeConfig *self) { return self->worker_binary; }
guint we_config_get_stall_timeout (WeConfig *self) { return self->stall_timeout; }
guint64 we_config_get_max_upload (WeConfig *self) { return self->max_upload; }
guint we_config_get_nats_ack_wait_s (WeConfig *self) { return self->nats_ack_wait_s; }
guint we_config_get_heartbeat_interval_ms (WeConfig *self) { return self->heartbeat_ms; }
guint we_config_get_worker_offline_ms (WeConfig *self) { return self->offline_ms; }
const gchar *we_config_get_scratch_dir (WeConfig *self) { return self->scratch_dir; }
const gchar *we_config_get_worker_id (WeConfig *self) { return self->worker_id; }
const gchar *we_config_get_worker_gst_debug (WeConfig *self) { return self->worker_gst_debug; }
guint we_config_get_retry_base_ms (WeConfig *self) { return self->retry_base_ms; }
const gchar *we_config_get_secrets_backend (WeConfig *self) { return self->secrets_backend; }
const gchar *we_config_get_secrets_file_dir (WeConfig *self) { return self->secrets_file_dir; }
const gchar *we_config_get_secrets_vault_addr (WeConfig *self) { return self->secrets_vault_addr; }
const gchar *we_config_get_secrets_vault_token_file (WeConfig *self) { return self->secrets_vault_token_file; }
const gchar *we_config_get_secrets_vault_token_env (WeConfig *self) { return self->secrets_vault_token_env; }
const gchar *we_config_get_secrets_vault_namespace (WeConfig *self) { return self->secrets_vault_namespace; }
const gchar *we_config_get_secrets_vault_ca_file (WeConfig *self) { return self->secrets_vault_ca_file; }
guint we_config_get_secrets_cache_ttl_s (WeConfig *self) { return self->secrets_cache_ttl_s; }

JsonObject *
we_config_get_plugin_config (WeConfig *self, const gchar *plugin_id)
{
  JsonObject *config = json_object_new ();
  g_autofree gchar *group = g_strdup_printf ("plugin:%s", plugin_id);
  g_auto(GStrv) keys = g_key_file_get_keys (self->keyfile, group, NULL, NULL);
  g_autofree gchar *prefix = NULL;

  for (guint i = 0; keys != NULL && keys[i] != NULL; i++) {
    g_autofree gchar *value = g_key_file_get_string (self->keyfile, group, keys[i], NULL);
    if (value != NULL)
      json_object_set_string_member (config, keys[i], value);
  }

  /* WE_PLUGIN_STORAGE_FS_ROOT=/srv → {"root": "/srv"} for plugin storage-fs */
  prefix = g_strdup_printf ("WE_PLUGIN_%s_", plugin_id);
  for (gchar *p = prefix; *p; p++)
    *p = (*p == '-' || *p == '.') ? '_' : g_ascii_toupper (*p);
  for (guint i = 0; self->env[i] != NULL; i++) {
    const gchar *eq = strchr (self->env[i], '=');
    g_autofree gchar *key = NULL;
    if (eq == NULL || !g_str_has_prefix (self->env[i], prefix))
      continue;
    key = g_ascii_strdown (self->env[i] + strlen (prefix), eq - self->env[i] - strlen (prefix));
    if (*key != '\0')
      json_object_set_string_member (config, key, eq + 1);
  }
  return config;
}

GStrv
we_config_get_disabled_plugins (WeConfig *self)
{
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  g_auto(GStrv) disabled = g_key_file_get_string_list (self->keyfile, "plugins", "disabled",
                                                       NULL, NULL);
  const gchar *env = env_get (self, "WE_PLUGINS_DISABLED");
  g_auto(GStrv) parts = env != NULL ? g_strsplit_set (env, ",;", -1) : NULL;

  for (guint i = 0; disabled != NULL && disabled[i] != NULL; i++)
    g_strv_builder_add (builder, g_strstrip (disabled[i]));
  for (guint i = 0; parts != NULL && parts[i] != NULL; i++) {
    if (*g_strstrip (parts[i]) != '\0')
      g_strv_builder_add (builder, parts[i]);
  }
  return g_strv_builder_end (builder);
}

gboolean
we_config_plugin_is_disabled (WeConfig *self, const gchar *plugin_id)
{
  g_auto(GStrv) disabled = g_key_file_get_string_list (self->keyfile, "plugins", "disabled",
                                                       NULL, NULL);
  const gchar *env = env_get (self, "WE_PLUGINS_DISABLED");

  if (disabled != NULL && g_strv_contains ((const gchar * const *) disabled, plugin_id))
    return TRUE;
  if (env != NULL) {
    g_auto(GStrv) parts = g_strsplit_set (env, ",;", -1);
    if (g_strv_contains ((const gchar * const *) parts, plugin_id))
      return TRUE;
  }
  return FALSE;
}
