/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"
#include "we-daemon.h"

#include <glib/gstdio.h>

#include "api/we-api-server.h"
#include "common/we-log.h"
#include "core/we-live-kernel.h"
#include "core/we-restream.h"
#include "core/we-restream-platform.h"
#include "core/we-scheduler.h"
#include "core/we-webhooks.h"
#include "dbus/we-dbus-service.h"
#include "plugin/we-plugin-host.h"
#include "secrets/we-secrets-router.h"
#include "queue/we-queue-local.h"
#include "queue/we-queue-nats.h"
#include "store/we-store-pg.h"
#include "store/we-store-sqlite.h"

struct _WeDaemon {
  GObject       parent_instance;
  WeConfig     *config;
  WeStore      *store;
  WePluginHost *host;
  WeSecretsRouter *secrets;
  JsonObject   *secrets_settings;  /* [secrets], passed on to workers */
  WeQueue      *queue;
  WeScheduler  *scheduler;
  WeWebhooks   *webhooks;
  WeLiveKernel *live;           /* nullable: [live] enabled, embedded mode */
  WeApiServer  *api;
  WeRestreamManager *restreams;  /* restream jobs (issue 11): their workers and schedules */
  gchar        *api_url;
  gchar        *plugin_dir;
  gchar        *storage_root;
  guint         worker_sync_id;
  WeDbusService *dbus;
  gchar        *dbus_bus;       /* --dbus: overrides [dbus] bus, and must work */
  GHashTable   *stored_plugins; /* id → WePluginConfig: the store's plugin_configs at start */
};

G_DEFINE_TYPE (WeDaemon, we_daemon, G_TYPE_OBJECT)

enum { SIGNAL_FATAL, N_SIGNALS };
static guint signals[N_SIGNALS];

static void
we_daemon_dispose (GObject *object)
{
  WeDaemon *self = WE_DAEMON (object);

  g_clear_handle_id (&self->worker_sync_id, g_source_remove);
  if (self->dbus != NULL)
    we_dbus_service_stop (self->dbus);
  g_clear_object (&self->dbus);
  g_clear_object (&self->api);
  if (self->restreams != NULL)
    we_restream_manager_shutdown (self->restreams);
  g_clear_object (&self->restreams);
  if (self->live != NULL)
    we_live_kernel_stop (self->live);
  g_clear_object (&self->live);
  if (self->webhooks != NULL)
    we_webhooks_stop (self->webhooks);
  g_clear_object (&self->webhooks);
  g_clear_object (&self->scheduler);
  if (self->queue != NULL)
    we_queue_stop (self->queue);
  g_clear_object (&self->queue);
  if (self->store != NULL)
    we_store_flush (self->store);
  g_clear_object (&self->store);
  g_clear_object (&self->host);
  g_clear_object (&self->secrets);
  g_clear_pointer (&self->secrets_settings, json_object_unref);
  g_clear_object (&self->config);
  G_OBJECT_CLASS (we_daemon_parent_class)->dispose (object);
}

static void
we_daemon_finalize (GObject *object)
{
  WeDaemon *self = WE_DAEMON (object);

  g_free (self->api_url);
  g_free (self->plugin_dir);
  g_free (self->storage_root);
  g_free (self->dbus_bus);
  g_clear_pointer (&self->stored_plugins, g_hash_table_unref);
  G_OBJECT_CLASS (we_daemon_parent_class)->finalize (object);
}

static void
we_daemon_class_init (WeDaemonClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = we_daemon_dispose;
  G_OBJECT_CLASS (klass)->finalize = we_daemon_finalize;
  /**
   * WeDaemon::fatal:
   * @message: what went wrong
   *
   * A part the user asked for explicitly (webencoded --dbus=…) stopped
   * working; the program should stop.
   */
  signals[SIGNAL_FATAL] = g_signal_new ("fatal", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                                        NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);
}

void
we_daemon_set_dbus_bus (WeDaemon *self, const gchar *bus)
{
  g_free (self->dbus_bus);
  self->dbus_bus = g_strdup (bus);
}

static void
dbus_name_lost_cb (WeDbusService *service, gpointer user_data)
{
  WeDaemon *self = user_data;

  if (self->dbus_bus != NULL)
    g_signal_emit (self, signals[SIGNAL_FATAL], 0,
                   "the D-Bus name org.webencode.WebEncode1 could not be owned (another "
                   "service has it, or the bus went away)");
}

/* [dbus] bus: "auto" is the session bus of a desktop user's service: one
 * started by a login session has its address; a system service has none,
 * or runs right under PID 1. */
static gboolean
pick_bus (WeDaemon *self, GBusType *bus_type, GError **error)
{
  const gchar *bus = self->dbus_bus != NULL ? self->dbus_bus
                                            : we_config_get_dbus_bus (self->config);

  if (g_strcmp0 (bus, "session") == 0) {
    *bus_type = G_BUS_TYPE_SESSION;
  } else if (g_strcmp0 (bus, "system") == 0) {
    *bus_type = G_BUS_TYPE_SYSTEM;
  } else if (g_strcmp0 (bus, "none") == 0) {
    *bus_type = G_BUS_TYPE_NONE;
  } else if (g_strcmp0 (bus, "auto") == 0) {
    gboolean system_service = g_getenv ("INVOCATION_ID") != NULL && getppid () == 1;

    *bus_type = g_getenv ("DBUS_SESSION_BUS_ADDRESS") != NULL && !system_service
                    ? G_BUS_TYPE_SESSION : G_BUS_TYPE_NONE;
  } else {
    g_set_error (error, WE_ERROR, WE_ERROR_SYS_INTERNAL,
                 "--dbus must be session, system, auto or none, not \"%s\"", bus);
    return FALSE;
  }
  return TRUE;
}

static gboolean
start_dbus (WeDaemon *self, const WeApiContext *ctx, GError **error)
{
  GBusType bus_type = G_BUS_TYPE_NONE;
  g_autoptr(GError) local = NULL;

  if (!pick_bus (self, &bus_type, error))
    return FALSE;
  if (bus_type == G_BUS_TYPE_NONE)
    return TRUE;
  self->dbus = we_dbus_service_new (ctx, bus_type, we_config_get_dbus_job_linger_s (self->config));
  g_signal_connect (self->dbus, "name-lost", G_CALLBACK (dbus_name_lost_cb), self);
  if (!we_dbus_service_start (self->dbus, &local)) {
    g_clear_object (&self->dbus);
    if (self->dbus_bus != NULL) {
      g_propagate_prefixed_error (error, g_steal_pointer (&local), "D-Bus: ");
      return FALSE;
    }
    /* REST is the service; D-Bus a convenience */
    we_log (G_LOG_LEVEL_WARNING, NULL, "WE-SYS-004", "D-Bus API not available: %s",
            local->message);
  }
  return TRUE;
}

static void
we_daemon_init (WeDaemon *self)
{
  self->stored_plugins = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                                (GDestroyNotify) we_plugin_config_free);
}

WeDaemon *
we_daemon_new (WeConfig *config)
{
  WeDaemon *self = g_object_new (WE_TYPE_DAEMON, NULL);

  self->config = g_object_ref (config);
  return self;
}

/* The embedded defaults: what a user gets with no configuration at all. */
static void
set_plugin_defaults (WeDaemon *self)
{
  g_autoptr(JsonObject) fs = json_object_new ();
  g_autoptr(JsonObject) basic = json_object_new ();
  g_autoptr(JsonObject) live = json_object_new ();
  g_autofree gchar *live_dir = NULL;

  json_object_set_string_member (fs, "root", self->storage_root);
  we_plugin_host_set_config_defaults (self->host, "storage-fs", fs);
  json_object_set_string_member (basic, "mode", "none");
  we_plugin_host_set_config_defaults (self->host, "auth-basic", basic);
  /* the kernel loads the live module too (its instance never listens: the
   * live worker runs the ingest, start_live()); it needs a valid folder */
  live_dir = g_strdup (we_config_get_live_output_dir (self->config));
  json_object_set_string_member (live, "output_dir", live_dir);
  json_object_set_int_member (live, "rtmp_port", we_config_get_live_rtmp_port (self->config));
  json_object_set_int_member (live, "srt_port", we_config_get_live_srt_port (self->config));
  json_object_set_int_member (live, "idle_timeout_s",
                              we_config_get_live_idle_timeout_s (self->config));
  we_plugin_host_set_config_defaults (self->host, "live-gst", live);
}

/* What the store says about plugins (PUT /v1/plugins/{id}/config, enable,
 * disable), read once: it takes effect at the next start, here and in the
 * workers this kernel configures. */
static gboolean
load_stored_plugins (WeDaemon *self, GError **error)
{
  g_autoptr(GPtrArray) rows = we_store_plugin_config_list (self->store, error);

  if (rows == NULL) {
    g_prefix_error (error, "reading stored plugin configuration: ");
    return FALSE;
  }
  for (guint i = rows->len; i > 0; i--) {
    WePluginConfig *row = g_ptr_array_steal_index (rows, i - 1);
    g_hash_table_replace (self->stored_plugins, g_strdup (row->id), row);
  }
  return TRUE;
}

/* [plugins] disabled, or disabled from the dashboard */
static gboolean
plugin_is_disabled (WeDaemon *self, const gchar *plugin_id)
{
  WePluginConfig *row = g_hash_table_lookup (self->stored_plugins, plugin_id);

  return (row != NULL && !row->is_enabled) || we_config_plugin_is_disabled (self->config,
                                                                             plugin_id);
}

/* Returns: (transfer full) */
static GStrv
disabled_plugins (WeDaemon *self)
{
  g_auto(GStrv) configured = we_config_get_disabled_plugins (self->config);
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  GHashTableIter iter;
  WePluginConfig *row;

  g_strv_builder_addv (builder, (const gchar **) configured);
  g_hash_table_iter_init (&iter, self->stored_plugins);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &row)) {
    if (!row->is_enabled && !g_strv_contains ((const gchar * const *) configured, row->id))
      g_strv_builder_add (builder, row->id);
  }
  return g_strv_builder_end (builder);
}

/* The effective configuration (spec §6.5): stored override > config file
 * (and WE_PLUGIN_<ID>_<KEY>) > embedded defaults. */
static JsonObject *
plugin_config_cb (const gchar *plugin_id, gpointer user_data)
{
  WeDaemon *self = user_data;
  g_autoptr(JsonObject) file = we_config_get_plugin_config (self->config, plugin_id);
  WePluginConfig *row = g_hash_table_lookup (self->stored_plugins, plugin_id);

  return we_plugin_host_resolve_config (self->host, plugin_id, file,
                                        row != NULL ? row->config : NULL);
}

static gchar *
find_beside (const gchar *exe_path, const gchar *const *candidates)
{
  g_autofree gchar *dir = exe_path ? g_path_get_dirname (exe_path) : NULL;

  for (guint i = 0; dir != NULL && candidates[i] != NULL; i++) {
    g_autofree gchar *path = g_build_filename (dir, candidates[i], NULL);
    g_autofree gchar *canonical = g_canonicalize_filename (path, NULL);
    if (g_file_test (canonical, G_FILE_TEST_EXISTS))
      return g_steal_pointer (&canonical);
  }
  return NULL;
}

static gchar *
resolve_worker_binary (WeDaemon *self, const gchar *exe_path)
{
  static const gchar *beside[] = { "../worker/webencode-worker", "../libexec/webencode-worker",
                                   "webencode-worker", NULL };
  gchar *found;

  if (we_config_get_worker_binary (self->config) != NULL)
    return g_strdup (we_config_get_worker_binary (self->config));
  found = find_beside (exe_path, beside);
  if (found != NULL)
    return found;
  return g_build_filename (WE_LIBEXECDIR, "webencode-worker", NULL);
}

static gchar *
resolve_plugin_dir (WeDaemon *self, const gchar *exe_path)
{
  static const gchar *beside[] = { "../../plugins", NULL };
  const gchar *configured = we_config_get_plugin_dir (self->config);
  gchar *found;

  if (g_file_test (configured, G_FILE_TEST_IS_DIR))
    return g_strdup (configured);
  /* running from a build tree without installing */
  found = find_beside (exe_path, beside);
  if (found != NULL)
    return found;
  return g_strdup (configured);
}

static WeStore *
open_store (WeDaemon *self, GError **error)
{
  const gchar *url = we_config_get_database_url (self->config);
  g_autofree gchar *scheme = NULL;

  if (g_str_has_prefix (url, "sqlite:") || g_str_has_prefix (url, "/"))
    return we_store_sqlite_new (url, error);
  if (g_str_has_prefix (url, "postgres"))
    return we_store_pg_new (url, error);
  /* only the scheme: the rest of a URL may hold a password */
  scheme = g_uri_parse_scheme (url);
  g_set_error (error, WE_ERROR, WE_ERROR_SYS_DATABASE,
               "DATABASE_URL has an unknown scheme \"%s\" (use sqlite:///path or "
               "postgresql://…)", scheme != NULL ? scheme : "");
  return NULL;
}

static gboolean
seed_profiles (WeDaemon *self, GError **error)
{
  g_autoptr(GPtrArray) builtins = we_profile_builtins ();

  /* built-ins are rewritten at every start so an upgrade updates them */
  for (guint i = 0; i < builtins->len; i++) {
    if (!we_store_profile_put (self->store, g_ptr_array_index (builtins, i), error))
      return FALSE;
  }
  return TRUE;
}

/* No worker runs yet, so whatever is in the scratch folder was left by one
 * that died with the previous service: half-written outputs, never valid. */
static void
clean_scratch (const gchar *scratch)
{
  g_autoptr(GDir) dir = g_dir_open (scratch, 0, NULL);
  const gchar *name;
  guint removed = 0;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL) {
    g_autofree gchar *path = g_build_filename (scratch, name, NULL);
    if (g_file_test (path, G_FILE_TEST_IS_REGULAR) && g_unlink (path) == 0)
      removed++;
  }
  if (removed > 0)
    we_log (G_LOG_LEVEL_INFO, NULL, NULL, "discarded %u half-written file(s) from %s", removed,
            scratch);
}

static JsonObject *
build_configure_message (WeDaemon *self)
{
  JsonObject *msg = json_object_new ();
  JsonArray *plugins = json_array_new ();
  GPtrArray *infos = we_plugin_host_get_plugins (self->host);
  g_autofree gchar *scratch = g_build_filename (we_config_get_data_dir (self->config), "scratch",
                                                NULL);

  g_mkdir_with_parents (scratch, 0700);
  clean_scratch (scratch);
  json_object_set_string_member (msg, "type", "configure");
  json_object_set_string_member (msg, "plugin_dir", self->plugin_dir);
  json_object_set_string_member (msg, "scratch_dir", scratch);
  /* where the workers resolve secret references themselves: backend
   * settings only, never a secret (spec §6.5) */
  json_object_set_object_member (msg, "secrets", json_object_ref (self->secrets_settings));
  /* [workers] gst_debug: each worker keeps a GStreamer debug log per task */
  if (we_config_get_worker_gst_debug (self->config) != NULL)
    json_object_set_string_member (msg, "gst_debug",
                                   we_config_get_worker_gst_debug (self->config));
  for (guint i = 0; i < infos->len; i++) {
    WePluginInfo *info = g_ptr_array_index (infos, i);
    JsonObject *entry;
    if (info->pillar != WE_PILLAR_STORAGE && info->pillar != WE_PILLAR_ENCODER)
      continue;
    if (plugin_is_disabled (self, info->id))
      continue;
    entry = json_object_new ();
    json_object_set_string_member (entry, "id", info->id);
    json_object_set_object_member (entry, "config", plugin_config_cb (info->id, self));
    json_array_add_object_element (plugins, entry);
  }
  json_object_set_array_member (msg, "plugins", plugins);
  {
    g_auto(GStrv) disabled = disabled_plugins (self);
    JsonArray *array = json_array_new ();

    for (guint i = 0; disabled[i] != NULL; i++)
      json_array_add_string_element (array, disabled[i]);
    json_object_set_array_member (msg, "disabled_plugins", array);
  }
  return msg;
}

/* What `webencode-worker --nats` children of this kernel need to see the
 * same plugins, configured the same way (including the embedded defaults
 * above), as a local worker's configure message would give them. */
static GStrv
build_nats_worker_env (WeDaemon *self)
{
  g_auto(GStrv) env = g_get_environ ();
  GPtrArray *infos = we_plugin_host_get_plugins (self->host);
  g_autofree gchar *scratch = g_build_filename (we_config_get_data_dir (self->config), "scratch",
                                                NULL);

  env = g_environ_setenv (env, "WE_PLUGIN_DIR", self->plugin_dir, TRUE);
  env = g_environ_setenv (env, "WE_SCRATCH_DIR", scratch, TRUE);
  {
    /* plugins disabled from the dashboard stay off in these workers too */
    g_auto(GStrv) disabled = disabled_plugins (self);
    g_autofree gchar *joined = g_strjoinv (",", disabled);

    if (*joined != '\0')
      env = g_environ_setenv (env, "WE_PLUGINS_DISABLED", joined, TRUE);
  }
  {
    /* the [secrets] settings, so that workers resolve references as we do */
    static const gchar *const names[][2] = {
      { "backend", "WE_SECRETS_BACKEND" }, { "file_dir", "WE_SECRETS_FILE_DIR" },
      { "vault_addr", "WE_SECRETS_VAULT_ADDR" },
      { "vault_token_file", "WE_SECRETS_VAULT_TOKEN_FILE" },
      { "vault_token_env", "WE_SECRETS_VAULT_TOKEN_ENV" },
      { "vault_namespace", "WE_SECRETS_VAULT_NAMESPACE" },
      { "vault_ca_file", "WE_SECRETS_VAULT_CA_FILE" },
      { "vault_cache_ttl_s", "WE_SECRETS_CACHE_TTL_S" },
    };
    for (guint i = 0; i < G_N_ELEMENTS (names); i++) {
      const gchar *v = json_object_get_string_member_with_default (self->secrets_settings,
                                                                   names[i][0], NULL);
      if (v != NULL)
        env = g_environ_setenv (env, names[i][1], v, TRUE);
    }
  }
  for (guint i = 0; i < infos->len; i++) {
    WePluginInfo *info = g_ptr_array_index (infos, i);
    g_autoptr(JsonObject) config = NULL;
    g_autoptr(GList) keys = NULL;

    if (info->pillar != WE_PILLAR_STORAGE && info->pillar != WE_PILLAR_ENCODER)
      continue;
    config = plugin_config_cb (info->id, self);
    keys = json_object_get_members (config);
    for (GList *l = keys; l != NULL; l = l->next) {
      JsonNode *value = json_object_get_member (config, l->data);
      g_autofree gchar *name = NULL;

      if (!JSON_NODE_HOLDS_VALUE (value) || json_node_get_value_type (value) != G_TYPE_STRING)
        continue;
      name = g_strdup_printf ("WE_PLUGIN_%s_%s", info->id, (const gchar *) l->data);
      for (gchar *p = name; *p != '\0'; p++)
        *p = (*p == '-' || *p == '.') ? '_' : g_ascii_toupper (*p);
      env = g_environ_setenv (env, name, json_node_get_string (value), TRUE);
    }
  }
  return g_steal_pointer (&env);
}

static void
worker_put_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GError) error = NULL;

  if (!we_store_finish_boolean (WE_STORE (source), result, &error))
    we_log (G_LOG_LEVEL_WARNING, NULL, "WE-SYS-002", "recording workers: %s", error->message);
}

static const gchar *
nonempty_member (JsonObject *o, const gchar *name)
{
  const gchar *s = json_object_get_string_member_with_default (o, name, NULL);

  return s != NULL && *s != '\0' ? s : NULL;
}

/* The workers table mirrors the pool so operators (and later the dashboard)
 * see hosts, capabilities and heartbeats the same way in both run modes.
 * Local children are named "<host>/<id>" there, since every kernel sharing a
 * PostgreSQL store has its own local-1; NATS workers have cluster-wide ids
 * and speak for themselves (host, address, version, heartbeat), and every
 * kernel hearing them writes the same row. */
static gboolean
sync_workers (gpointer user_data)
{
  WeDaemon *self = user_data;
  g_autoptr(GPtrArray) workers = we_queue_list_workers (self->queue);
  gboolean remote = WE_IS_QUEUE_NATS (self->queue);
  const gchar *hostname = g_get_host_name ();

  for (guint i = 0; workers != NULL && i < workers->len; i++) {
    JsonObject *w = g_ptr_array_index (workers, i);
    JsonNode *caps = json_object_get_member (w, "capabilities");
    const gchar *state = json_object_get_string_member_with_default (w, "state", "");
    const gchar *id = json_object_get_string_member_with_default (w, "id", "?");
    const gchar *beat = nonempty_member (w, "last_heartbeat");
    g_autoptr(GDateTime) beat_time = beat != NULL ? g_date_time_new_from_iso8601 (beat, NULL)
                                                  : NULL;
    WeWorkerRecord *rec = we_worker_record_new ();

    if (remote) {
      rec->id = g_strdup (id);
      rec->hostname = g_strdup (nonempty_member (w, "hostname") ?: "");
      rec->ip_address = g_strdup (nonempty_member (w, "ip_address"));
      rec->version = g_strdup (nonempty_member (w, "version"));
    } else {
      rec->id = g_strdup_printf ("%s/%s", hostname, id);
      rec->hostname = g_strdup (hostname);
      rec->ip_address = g_strdup ("127.0.0.1");
      rec->version = g_strdup (PACKAGE_VERSION);
    }
    rec->capabilities = caps != NULL && JSON_NODE_HOLDS_OBJECT (caps)
                            ? json_object_ref (json_node_get_object (caps))
                            : json_object_new ();
    if (!json_object_has_member (rec->capabilities, "max_parallel_tasks"))
      json_object_set_int_member (rec->capabilities, "max_parallel_tasks",
                                  json_object_get_int_member_with_default (w, "slots_total", 1));
    rec->is_healthy = g_str_equal (state, "idle") || g_str_equal (state, "busy") ||
                      g_str_equal (state, "draining");
    rec->is_draining = json_object_get_boolean_member_with_default (w, "draining", FALSE);
    rec->last_heartbeat = beat_time != NULL
                              ? g_date_time_to_unix (beat_time) * G_USEC_PER_SEC +
                                    g_date_time_get_microsecond (beat_time)
                              : g_get_real_time ();
    we_store_worker_put_async (self->store, rec, NULL, worker_put_cb, NULL);
    we_worker_record_free (rec);
  }
  return G_SOURCE_CONTINUE;
}

/* The live worker (issue 10): when [live] enabled and a live plugin is
 * loaded and not disabled. In embedded mode the kernel runs its own; in
 * cluster mode `webencode-worker --live --nats` processes on ingest hosts
 * talk to every kernel over NATS (docs/architecture.md "Live ingest in
 * cluster mode"). */
static gboolean
start_live (WeDaemon *self, const gchar *worker, WeContentKeys *keys, GError **error)
{
  GPtrArray *infos = we_plugin_host_get_plugins (self->host);
  const gchar *plugin_id = NULL;
  g_autoptr(JsonObject) config = NULL;
  g_autofree gchar *live_dir = NULL;
  WeLiveKernelOptions opts = { 0 };

  if (!we_config_get_live_enabled (self->config))
    return TRUE;
  for (guint i = 0; i < infos->len && plugin_id == NULL; i++) {
    WePluginInfo *info = g_ptr_array_index (infos, i);

    if (info->pillar == WE_PILLAR_LIVE && !plugin_is_disabled (self, info->id) &&
        !we_plugin_host_is_disabled (self->host, info->id))
      plugin_id = info->id;
  }
  if (plugin_id == NULL) {
    we_log (G_LOG_LEVEL_WARNING, NULL, "WE-STR-006", "no live plugin loaded: live ingest is off");
    return TRUE;
  }
  live_dir = g_strdup (we_config_get_live_output_dir (self->config));
  /* the plugin's own settings, with what [live] says on top: the ports
   * publishers are told about must be the ones bound */
  config = plugin_config_cb (plugin_id, self);
  json_object_set_int_member (config, "rtmp_port", we_config_get_live_rtmp_port (self->config));
  json_object_set_int_member (config, "srt_port", we_config_get_live_srt_port (self->config));
  json_object_set_string_member (config, "output_dir", live_dir);
  json_object_set_int_member (config, "idle_timeout_s",
                              we_config_get_live_idle_timeout_s (self->config));
  opts.store = self->store;
  opts.keys = keys;
  opts.scheduler = self->scheduler;
  opts.webhooks = self->webhooks;
  opts.worker_binary = worker;
  opts.live_dir = live_dir;
  opts.storage_root = self->storage_root;
  opts.archive_profile = we_config_get_live_archive_profile (self->config);
  opts.plugin_dir = self->plugin_dir;
  opts.plugin_id = plugin_id;
  opts.plugin_config = config;
  opts.nats_url = we_config_get_nats_url (self->config);
  opts.kernel_id = we_config_get_kernel_id (self->config);
  opts.offline_ms = we_config_get_worker_offline_ms (self->config);
  {
    /* archives go where storage-fs keeps its objects (a cluster shares it) */
    g_autoptr(JsonObject) fs = plugin_config_cb ("storage-fs", self);
    const gchar *root = fs != NULL && json_object_has_member (fs, "root")
                          ? json_object_get_string_member (fs, "root") : NULL;

    if (root != NULL && g_path_is_absolute (root))
      opts.storage_root = root;
    self->live = we_live_kernel_new (&opts);
  }
  return we_live_kernel_start (self->live, error);
}

static void
resumed_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GError) error = NULL;

  if (!we_scheduler_resume_finish (WE_SCHEDULER (source), result, &error))
    we_log (G_LOG_LEVEL_WARNING, NULL, "WE-SYS-002", "resuming jobs failed: %s",
            error->message);
}

gboolean
we_daemon_start (WeDaemon *self, const gchar *exe_path, GError **error)
{
  const gchar *data_dir = we_config_get_data_dir (self->config);
  g_autofree gchar *worker = NULL;
  g_autoptr(JsonObject) configure = NULL;
  guint workers = we_config_get_worker_count (self->config);
  WeApiContext ctx = { 0 };
  g_autoptr(WeContentKeys) keys = NULL;
  guint loaded;
  const gchar *argv[3] = { NULL, "--stdio", NULL };

  if (g_mkdir_with_parents (data_dir, 0700) != 0) {
    g_set_error (error, WE_ERROR, WE_ERROR_SYS_INTERNAL, "cannot create data directory %s: %s",
                 data_dir, g_strerror (errno));
    return FALSE;
  }
  self->storage_root = g_build_filename (data_dir, "storage", NULL);

  self->store = open_store (self, error);
  if (self->store == NULL)
    return FALSE;
  if (!seed_profiles (self, error))
    return FALSE;
  if (!load_stored_plugins (self, error))
    return FALSE;

  /* before any plugin loads: plugins resolve their *_secret_ref keys
   * through it (spec §6.5) */
  self->secrets_settings = we_secrets_settings_from_config (self->config);
  self->secrets = we_secrets_router_new_from_settings (self->secrets_settings, error);
  if (self->secrets == NULL)
    return FALSE;
  self->host = we_plugin_host_new ();
  we_plugin_host_set_secrets (self->host, WE_SECRETS (self->secrets));
  we_plugin_host_set_config_func (self->host, plugin_config_cb, self, NULL);
  set_plugin_defaults (self);
  {
    g_auto(GStrv) disabled = disabled_plugins (self);

    /* [plugins] disabled applies to the kernel's own modules too: an
     * auth-basic left in "none" mode must be switchable off */
    we_plugin_host_set_disabled (self->host, (const gchar * const *) disabled);
  }
  we_plugin_host_set_default_storage_id (self->host, we_config_get_default_storage (self->config));
  self->plugin_dir = resolve_plugin_dir (self, exe_path);
  loaded = we_plugin_host_load_dir (self->host, self->plugin_dir, error);
  if (*error != NULL) {
    g_prefix_error (error, "loading plugins: ");
    return FALSE;
  }
  we_log (G_LOG_LEVEL_INFO, NULL, NULL, "%u plugin(s) loaded from %s", loaded, self->plugin_dir);
  if (we_plugin_host_default_storage (self->host, NULL) == NULL)
    we_log (G_LOG_LEVEL_WARNING, NULL, "WE-STO-004", "no storage plugin loaded: jobs cannot run");

  worker = resolve_worker_binary (self, exe_path);
  if (we_config_get_nats_url (self->config) != NULL) {
    /* Cluster mode: workers run on other hosts and join through NATS. The
     * kernel starts local ones only when [workers] count / WE_WORKERS says
     * so explicitly, since "one per core" is the embedded mode's default and
     * a kernel host is usually not meant to encode. */
    WeQueueNatsOptions opts = { 0 };
    WeQueueNats *nats;

    opts.ack_wait_s = we_config_get_nats_ack_wait_s (self->config);
    opts.heartbeat_ms = we_config_get_heartbeat_interval_ms (self->config);
    opts.offline_ms = we_config_get_worker_offline_ms (self->config);
    opts.kernel_id = we_config_get_kernel_id (self->config);
    nats = we_queue_nats_new (we_config_get_nats_url (self->config), &opts);
    if (workers > 0) {
      const gchar *nats_argv[2] = { worker, NULL };
      g_auto(GStrv) envp = build_nats_worker_env (self);

      we_queue_nats_set_local_workers (nats, nats_argv, workers, (const gchar * const *) envp);
    }
    self->queue = WE_QUEUE (nats);
    if (!we_queue_start (self->queue, error)) {
      g_prefix_error (error, "starting the NATS queue: ");
      return FALSE;
    }
    we_log (G_LOG_LEVEL_INFO, NULL, NULL, "cluster mode: tasks go through NATS; %u local "
            "worker(s)%s%s", workers, workers > 0 ? " from " : "", workers > 0 ? worker : "");
  } else {
    if (workers == 0)
      workers = MAX (1, g_get_num_processors ());
    argv[0] = worker;
    configure = build_configure_message (self);
    self->queue = WE_QUEUE (we_queue_local_new (argv, workers, configure,
                                                we_config_get_stall_timeout (self->config)));
    if (!we_queue_start (self->queue, error)) {
      g_prefix_error (error, "starting workers (%s): ", worker);
      return FALSE;
    }
    we_log (G_LOG_LEVEL_INFO, NULL, NULL, "%u local worker(s) from %s", workers, worker);
  }

  keys = we_content_keys_new (we_config_get_content_key_secret (self->config),
                              we_config_get_data_dir (self->config), error);
  if (keys == NULL)
    return FALSE;
  self->scheduler = we_scheduler_new (self->store, self->queue, self->host);
  we_scheduler_set_content_keys (self->scheduler, keys);
  we_scheduler_set_retry_base (self->scheduler, we_config_get_retry_base_ms (self->config));
  we_scheduler_set_kernel (self->scheduler, we_config_get_kernel_id (self->config),
                           we_config_get_kernel_beat_s (self->config));
  /* the store is the webhooks' durable queue: deliveries left by a previous
   * life (or another kernel) go out once this one polls */
  self->webhooks = we_webhooks_new (self->store, keys, we_config_get_kernel_id (self->config),
                                    we_config_get_public_url (self->config));
  we_webhooks_set_secrets (self->webhooks, WE_SECRETS (self->secrets));
  we_webhooks_watch_scheduler (self->webhooks, self->scheduler);
  if (!start_live (self, worker, keys, error))
    return FALSE;

  ctx.config = self->config;
  ctx.store = self->store;
  ctx.scheduler = self->scheduler;
  ctx.host = self->host;
  ctx.queue = self->queue;
  ctx.keys = keys;
  ctx.secrets = WE_SECRETS (self->secrets);
  ctx.webhooks = self->webhooks;
  ctx.live = self->live;
  /* a shared PostgreSQL store or a NATS queue: replicas or remote workers */
  ctx.mode = WE_IS_STORE_PG (self->store) || we_config_get_nats_url (self->config) != NULL
                 ? "cluster" : "embedded";
  ctx.store_kind = WE_IS_STORE_PG (self->store) ? "postgresql" : "sqlite";
  self->api = we_api_server_new (&ctx);
  /* restreams run in workers of this kernel; the API finds the manager on
   * its server (src/api/we-api-restreams.c) */
  self->restreams = we_restream_manager_new (self->store, keys, worker);
  /* platform destinations ({"platform": "twitch"}) are opened by publishers */
  we_restream_platform_attach (G_OBJECT (self->restreams), self->host);
  /* each restream is run by the one kernel that claimed it in the store */
  we_restream_manager_set_kernel (self->restreams, we_config_get_kernel_id (self->config),
                                  g_str_equal (ctx.mode, "cluster"));
  we_api_server_set_restreams (self->api, G_OBJECT (self->restreams));
  if (!we_api_server_listen (self->api, we_config_get_host (self->config),
                             we_config_get_port (self->config), error))
    return FALSE;
  self->api_url = g_strdup (we_config_get_public_url (self->config));
  if (!start_dbus (self, we_api_server_get_context (self->api), error))
    return FALSE;

  we_scheduler_resume_async (self->scheduler, NULL, resumed_cb, NULL);
  we_webhooks_start (self->webhooks);
  /* kernels sharing a store claim each restream for one of them
   * (docs/architecture.md "Restreams in cluster mode") */
  we_restream_manager_start_all (self->restreams);
  self->worker_sync_id = g_timeout_add_seconds (2, sync_workers, self);
  return TRUE;
}

const gchar *
we_daemon_get_api_url (WeDaemon *self)
{
  return self->api_url;
}

typedef struct {
  GSourceFunc done;
  gpointer    user_data;
} StopData;

static gboolean
stop_finish (gpointer user_data)
{
  StopData *d = user_data;

  d->done (d->user_data);
  g_free (d);
  return G_SOURCE_REMOVE;
}

void
we_daemon_stop (WeDaemon *self, GSourceFunc done, gpointer user_data)
{
  StopData *d = g_new0 (StopData, 1);

  d->done = done;
  d->user_data = user_data;
  g_clear_handle_id (&self->worker_sync_id, g_source_remove);
  if (self->dbus != NULL)
    we_dbus_service_stop (self->dbus);
  if (self->api != NULL)
    we_api_server_disconnect (self->api);
  /* restreams keep their status in the store: the next start resumes them */
  if (self->restreams != NULL)
    we_restream_manager_shutdown (self->restreams);
  if (self->live != NULL)
    we_live_kernel_stop (self->live);
  if (self->webhooks != NULL)
    we_webhooks_stop (self->webhooks);
  /* jobs stay active in the store: the next start resumes them */
  if (self->queue != NULL)
    we_queue_stop (self->queue);
  if (self->store != NULL)
    we_store_flush (self->store);
  g_idle_add (stop_finish, d);
}
