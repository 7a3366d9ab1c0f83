/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * /v1/plugins (docs/api.md "Plugins", spec §19.3 "Plugins"): the pillar
 * modules this kernel loaded, their effective configuration with secrets
 * masked, and the admin's ways to change it. Changes go to the store's
 * plugin_configs table and take effect at the next start of webencoded and
 * its workers (no hot reload): each answer says whether what is configured
 * now differs from what runs (restart_required).
 *
 * Every request first reads plugin_configs on the store's thread; /test then
 * creates a fresh instance of the module in a thread of its own, since a
 * plugin's create() and its probe may wait on the disk or the network.
 */
#include "config.h"

#include "we-api-handlers.h"

#include "common/we-job.h"
#include "common/we-log.h"

/* a config blob is a handful of settings; anything near this is a mistake */
#define MAX_CONFIG_KEYS   64
#define TEST_TIMEOUT_S    10
#define PROBE_KEY_PREFIX  ".webencode-probe-"

typedef enum {
  PLUGINS_LIST,
  PLUGINS_GET,
  PLUGINS_PUT_CONFIG,
  PLUGINS_ENABLE,
  PLUGINS_DISABLE,
  PLUGINS_TEST,
} PluginsAction;

typedef struct {
  WeApiRequest *request;
  PluginsAction action;
  gchar        *id;        /* all but list */
  JsonObject   *override;  /* PUT / test: what to store or try (nullable) */
} PluginsOp;

static void
plugins_op_free (PluginsOp *op)
{
  g_free (op->id);
  g_clear_pointer (&op->override, json_object_unref);
  g_free (op);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PluginsOp, plugins_op_free)

static PluginsOp *
plugins_op_new (WeApiRequest *request, PluginsAction action)
{
  PluginsOp *op = g_new0 (PluginsOp, 1);
  const gchar *id = action != PLUGINS_LIST ? we_api_request_param (request, 0) : NULL;

  op->request = request;
  op->action = action;
  op->id = g_strdup (id);
  return op;
}

static const gchar *
action_name (PluginsAction action)
{
  switch (action) {
  case PLUGINS_PUT_CONFIG:
    return "plugin.config";
  case PLUGINS_ENABLE:
    return "plugin.enable";
  case PLUGINS_DISABLE:
    return "plugin.disable";
  case PLUGINS_TEST:
    return "plugin.test";
  case PLUGINS_LIST:
  case PLUGINS_GET:
  default:
    return "plugin.read";
  }
}

/* The request itself goes to the audit log with a digest of its body (see
 * we-api-audit.c); this line adds which keys changed, never their values. */
static void
audit (PluginsOp *op, JsonObject *keys_of, const GError *error)
{
  const WeIdentity *who = op->request->identity;
  g_autoptr(GString) keys = g_string_new (NULL);
  g_autoptr(GList) members = keys_of != NULL ? json_object_get_members (keys_of) : NULL;

  for (GList *l = members; l != NULL; l = l->next)
    g_string_append_printf (keys, "%s%s", keys->len > 0 ? "," : "", (const gchar *) l->data);
  we_log (G_LOG_LEVEL_INFO, op->request->request_id,
          error != NULL ? we_error_code_to_string (we_error_code_from_gerror (error)) : NULL,
          "audit: user=%s role=%s action=%s resource=plugin/%s%s%s result=%s%s%s",
          who != NULL && who->username != NULL ? who->username : "-",
          who != NULL ? we_role_to_string (who->role) : "-", action_name (op->action), op->id,
          keys_of != NULL ? " keys=" : "", keys_of != NULL ? keys->str : "",
          error != NULL ? "failure" : "success", error != NULL ? " reason=" : "",
          error != NULL ? error->message : "");
}

static void
respond_error (PluginsOp *op, const GError *error)
{
  if (op->action != PLUGINS_LIST && op->action != PLUGINS_GET)
    audit (op, NULL, error);
  we_api_request_respond_error (op->request, error);
}

/* ---- the Plugin object --------------------------------------------------- */

static WePluginConfig *
find_row (GPtrArray *rows, const gchar *id)
{
  for (guint i = 0; rows != NULL && i < rows->len; i++) {
    WePluginConfig *row = g_ptr_array_index (rows, i);

    if (g_strcmp0 (row->id, id) == 0)
      return row;
  }
  return NULL;
}

static JsonObject *
stored_override (WePluginConfig *row)
{
  return row != NULL && row->config != NULL && json_object_get_size (row->config) > 0
             ? row->config : NULL;
}

static gboolean
file_disables (const WeApiContext *ctx, const gchar *id)
{
  g_auto(GStrv) disabled = we_config_get_disabled_plugins (ctx->config);

  return g_strv_contains ((const gchar * const *) disabled, id);
}

/* What the next start would run: [plugins] disabled always wins; the store
 * can switch a plugin off, and back on, but not past the file. */
static gboolean
wanted_enabled (const WeApiContext *ctx, const gchar *id, WePluginConfig *row)
{
  return !file_disables (ctx, id) && (row == NULL || row->is_enabled);
}

/* Returns: (transfer full): the effective configuration at the next start */
static JsonObject *
effective_config (const WeApiContext *ctx, const gchar *id, JsonObject *override,
                  const gchar **source)
{
  g_autoptr(JsonObject) file = we_config_get_plugin_config (ctx->config, id);

  if (source != NULL)
    *source = override != NULL && json_object_get_size (override) > 0 ? "store"
              : json_object_get_size (file) > 0                       ? "file"
                                                                      : "default";
  return we_plugin_host_resolve_config (ctx->host, id, file, override);
}

static gboolean
has_key (WePluginInfo *info, const gchar *key)
{
  return info->config_keys == NULL || info->config_keys[0] == NULL ||
         g_strv_contains ((const gchar * const *) info->config_keys, key);
}

/* The configuration as shown: only keys the module takes, secrets masked. */
static JsonObject *
shown_config (WePluginInfo *info, JsonObject *config)
{
  JsonObject *out = json_object_new ();
  g_autoptr(GList) members = json_object_get_members (config);

  for (GList *l = members; l != NULL; l = l->next) {
    const gchar *key = l->data;

    if (!has_key (info, key))
      continue;
    if (we_plugin_config_key_is_secret (key))
      json_object_set_string_member (out, key, WE_PLUGIN_SECRET_PLACEHOLDER);
    else
      json_object_set_member (out, key, json_node_copy (json_object_get_member (config, key)));
  }
  return out;
}

static JsonArray *
strv_array (gchar **strv)
{
  JsonArray *array = json_array_new ();

  for (guint i = 0; strv != NULL && strv[i] != NULL; i++)
    json_array_add_string_element (array, strv[i]);
  return array;
}

/* What the pillar's interface tells about the running instance. */
static JsonObject *
capabilities (WePluginInfo *info)
{
  JsonObject *o = json_object_new ();

  if (info->instance == NULL)
    return o;
  switch (info->pillar) {
  case WE_PILLAR_STORAGE: {
    WeStorageCapabilities caps = { 0 };
    g_autofree gchar *url = we_storage_make_url (WE_STORAGE (info->instance), "");
    g_autofree gchar *scheme = url != NULL ? g_uri_parse_scheme (url) : NULL;
    JsonArray *schemes = json_array_new ();

    we_storage_get_capabilities (WE_STORAGE (info->instance), &caps);
    if (caps.storage_type != NULL)
      json_object_set_string_member (o, "storage_type", caps.storage_type);
    if (scheme != NULL)
      json_array_add_string_element (schemes, scheme);
    json_object_set_array_member (o, "schemes", schemes);
    json_object_set_boolean_member (o, "browse", caps.supports_browse);
    /* the storage's objects can be listed: the browse API works on it */
    json_object_set_boolean_member (o, "list", caps.supports_browse);
    json_object_set_boolean_member (o, "upload", caps.supports_upload);
    json_object_set_boolean_member (o, "presign", caps.supports_signed_urls);
    json_object_set_boolean_member (o, "streaming", caps.supports_streaming);
    break;
  }
  case WE_PILLAR_ENCODER: {
    g_auto(WeEncoderCapabilities) caps = { 0 };

    we_encoder_get_capabilities (WE_ENCODER (info->instance), &caps);
    json_object_set_array_member (o, "video_codecs", strv_array (caps.video_codecs));
    json_object_set_array_member (o, "audio_codecs", strv_array (caps.audio_codecs));
    json_object_set_boolean_member (o, "gpu_accelerated", caps.gpu_accelerated);
    if (caps.gpu_type != NULL)
      json_object_set_string_member (o, "gpu_type", caps.gpu_type);
    else
      json_object_set_null_member (o, "gpu_type");
    break;
  }
  case WE_PILLAR_AUTH:
    json_object_set_boolean_member (o, "interactive_login",
                                    we_auth_provider_supports_login (
                                      WE_AUTH_PROVIDER (info->instance)));
    break;
  case WE_PILLAR_LIVE:
  case WE_PILLAR_PUBLISHER:
  case WE_PILLAR_LAST:
  default:
    break;
  }
  return o;
}

static JsonObject *
plugin_to_json (const WeApiContext *ctx, WePluginInfo *info, WePluginConfig *row)
{
  JsonObject *o = json_object_new ();
  const gchar *source = "default";
  g_autoptr(JsonObject) config = effective_config (ctx, info->id, stored_override (row), &source);
  gboolean wanted = wanted_enabled (ctx, info->id, row);
  gboolean running = !we_plugin_host_is_disabled (ctx->host, info->id);
  gboolean restart = wanted != running;
  gboolean alive = info->instance != NULL && (info->state == WE_PLUGIN_STATE_HEALTHY ||
                                              info->state == WE_PLUGIN_STATE_DEGRADED);

  /* what it was created with against what the next start would give it */
  if (!restart && wanted && info->config != NULL) {
    g_autoptr(JsonNode) a = json_node_init_object (json_node_alloc (), info->config);
    g_autoptr(JsonNode) b = json_node_init_object (json_node_alloc (), config);

    restart = !json_node_equal (a, b);
  }

  json_object_set_string_member (o, "id", info->id);
  if (info->pillar < WE_PILLAR_LAST)
    json_object_set_string_member (o, "type", we_pillar_type_to_string (info->pillar));
  else
    json_object_set_null_member (o, "type");  /* a manifest too broken to say */
  if (info->version != NULL)
    json_object_set_string_member (o, "version", info->version);
  else
    json_object_set_null_member (o, "version");
  json_object_set_int_member (o, "protocol_version", info->protocol_version);
  json_object_set_string_member (o, "state", we_plugin_state_to_string (info->state));
  json_object_set_boolean_member (o, "enabled", wanted);
  if (info->error != NULL)
    json_object_set_string_member (o, "error", info->error);
  else
    json_object_set_null_member (o, "error");
  json_object_set_int_member (o, "priority", info->priority);
  if (alive && info->loaded_at > 0) {
    g_autofree gchar *at = we_time_format (info->loaded_at);

    json_object_set_string_member (o, "loaded_at", at);
    json_object_set_int_member (o, "uptime_s",
                                MAX (0, (g_get_real_time () - info->loaded_at) / G_USEC_PER_SEC));
  } else {
    json_object_set_null_member (o, "loaded_at");
    json_object_set_null_member (o, "uptime_s");
  }
  json_object_set_array_member (o, "config_keys", strv_array (info->config_keys));
  json_object_set_object_member (o, "config", shown_config (info, config));
  json_object_set_string_member (o, "config_source", source);
  json_object_set_object_member (o, "capabilities", capabilities (info));
  json_object_set_boolean_member (o, "restart_required", restart);
  return o;
}

static gint
compare_infos (gconstpointer a, gconstpointer b)
{
  const WePluginInfo *ia = *(WePluginInfo * const *) a;
  const WePluginInfo *ib = *(WePluginInfo * const *) b;

  if (ia->pillar != ib->pillar)
    return ia->pillar < ib->pillar ? -1 : 1;
  return g_strcmp0 (ia->id, ib->id);
}

static void
respond_list (PluginsOp *op, GPtrArray *rows)
{
  const WeApiContext *ctx = we_api_request_context (op->request);
  GPtrArray *all = we_plugin_host_get_plugins (ctx->host);
  g_autoptr(GPtrArray) shown = g_ptr_array_new ();
  JsonArray *array = json_array_new ();
  JsonObject *o = json_object_new ();

  /* one entry per id: the copy that owns it (a duplicate left beside it is
   * in that one's log, not a plugin of its own) */
  for (guint i = 0; i < all->len; i++) {
    WePluginInfo *info = g_ptr_array_index (all, i);

    if (we_plugin_host_get_plugin (ctx->host, info->id) == info)
      g_ptr_array_add (shown, info);
  }
  /* by type in the pillars' order (auth, storage, encoder, live,
   * publisher), then id */
  g_ptr_array_sort (shown, compare_infos);
  for (guint i = 0; i < shown->len; i++) {
    WePluginInfo *info = g_ptr_array_index (shown, i);

    json_array_add_object_element (array, plugin_to_json (ctx, info, find_row (rows, info->id)));
  }
  json_object_set_array_member (o, "plugins", array);
  we_api_request_respond_object (op->request, SOUP_STATUS_OK, o);
}

static void
respond_plugin (PluginsOp *op, GPtrArray *rows)
{
  const WeApiContext *ctx = we_api_request_context (op->request);
  WePluginInfo *info = we_plugin_host_get_plugin (ctx->host, op->id);

  we_api_request_respond_object (op->request, SOUP_STATUS_OK,
                                 plugin_to_json (ctx, info, find_row (rows, op->id)));
}

/* ---- validation ----------------------------------------------------------- */

/* Checks a candidate configuration and turns it into what the store keeps:
 * the object as given, minus the placeholders (a masked secret sent back
 * means "keep it", and it can only come from the config file, since the store
 * never holds one), plus a null for each key the file or the defaults set
 * that the candidate dropped, so that it stays dropped.
 * Returns: (transfer full) (nullable) */
static JsonObject *
make_override (const WeApiContext *ctx, WePluginInfo *info, JsonNode *node, GError **error)
{
  g_autoptr(JsonObject) override = json_object_new ();
  g_autoptr(JsonObject) base = effective_config (ctx, info->id, NULL, NULL);
  g_autoptr(GList) members = NULL;
  g_autoptr(GList) base_members = NULL;
  JsonObject *candidate;

  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node)) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                         "\"config\" must be a JSON object of the plugin's settings");
    return NULL;
  }
  candidate = json_node_get_object (node);
  if (json_object_get_size (candidate) > MAX_CONFIG_KEYS) {
    g_set_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                 "\"config\" has %u keys; at most %d", json_object_get_size (candidate),
                 MAX_CONFIG_KEYS);
    return NULL;
  }
  members = json_object_get_members (candidate);
  for (GList *l = members; l != NULL; l = l->next) {
    const gchar *key = l->data;
    JsonNode *value = json_object_get_member (candidate, key);
    gboolean placeholder = JSON_NODE_HOLDS_VALUE (value) &&
                           json_node_get_value_type (value) == G_TYPE_STRING &&
                           g_strcmp0 (json_node_get_string (value),
                                      WE_PLUGIN_SECRET_PLACEHOLDER) == 0;

    /* the manifest's ConfigKeys (or the module's) is the schema we have */
    if (!has_key (info, key)) {
      g_autofree gchar *known = g_strjoinv (", ", info->config_keys);
      g_set_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                   "plugin %s has no config key \"%s\" (it knows: %s)", info->id, key, known);
      return NULL;
    }
    if (JSON_NODE_HOLDS_OBJECT (value)) {
      g_set_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                   "config key \"%s\": a string, number, boolean or list is expected", key);
      return NULL;
    }
    if (we_plugin_config_key_is_secret (key) && placeholder) {
      if (!json_object_has_member (base, key)) {
        g_set_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                     "config key \"%s\" has no value to keep; store the secret in the secrets "
                     "backend and set %s_ref", key, key);
        return NULL;
      }
      continue;
    }
    /* spec §6.5: the database holds references, never the secret itself */
    if (we_plugin_config_key_is_secret (key) && !JSON_NODE_HOLDS_NULL (value)) {
      g_set_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                   "config key \"%s\" would put a secret in the database; store it in the "
                   "secrets backend and set %s_ref", key, key);
      return NULL;
    }
    json_object_set_member (override, key, json_node_copy (value));
  }
  base_members = json_object_get_members (base);
  for (GList *l = base_members; l != NULL; l = l->next) {
    if (!json_object_has_member (candidate, l->data) && has_key (info, l->data))
      json_object_set_null_member (override, l->data);
  }
  return g_steal_pointer (&override);
}

/* Refuses to switch off what the service cannot do without: the last
 * storage or auth provider that runs and has a configuration. */
static gboolean
check_can_disable (const WeApiContext *ctx, WePluginInfo *info, GPtrArray *rows, GError **error)
{
  GPtrArray *all = we_plugin_host_get_plugins (ctx->host);
  guint others = 0;

  if (info->pillar != WE_PILLAR_STORAGE && info->pillar != WE_PILLAR_AUTH)
    return TRUE;
  if (info->state != WE_PLUGIN_STATE_HEALTHY && info->state != WE_PLUGIN_STATE_DEGRADED)
    return TRUE;
  for (guint i = 0; i < all->len; i++) {
    WePluginInfo *other = g_ptr_array_index (all, i);

    if (other->pillar != info->pillar || g_strcmp0 (other->id, info->id) == 0 ||
        other->instance == NULL ||
        (other->state != WE_PLUGIN_STATE_HEALTHY && other->state != WE_PLUGIN_STATE_DEGRADED) ||
        !wanted_enabled (ctx, other->id, find_row (rows, other->id)))
      continue;
    /* storage-s3 and auth-ldap load without any settings, and then serve
     * nobody: only one with a configuration can take over */
    {
      g_autoptr(JsonObject) config = effective_config (
        ctx, other->id, stored_override (find_row (rows, other->id)), NULL);

      if (json_object_get_size (config) == 0)
        continue;
    }
    others++;
  }
  if (others > 0)
    return TRUE;
  if (info->pillar == WE_PILLAR_STORAGE)
    g_set_error (error, WE_ERROR, WE_ERROR_SYS_CONFLICT,
                 "%s is the only working storage plugin: without it uploads and job outputs "
                 "have nowhere to go; configure another storage first", info->id);
  else
    g_set_error (error, WE_ERROR, WE_ERROR_SYS_CONFLICT,
                 "%s is the only working auth provider: without it nobody could sign in, "
                 "not even to switch it back on; configure another auth plugin first", info->id);
  return FALSE;
}

/* ---- store access, on the store's thread ------------------------------------ */

typedef struct {
  gchar      *id;
  gchar      *plugin_type;
  gint        priority;
  JsonObject *config;      /* nullable: keep what is stored */
  gint        enabled;     /* -1 keep, 0 or 1 */
} WritePlan;

static void
write_plan_free (WritePlan *plan)
{
  g_free (plan->id);
  g_free (plan->plugin_type);
  g_clear_pointer (&plan->config, json_object_unref);
  g_free (plan);
}

static gpointer
rows_read (WeStore *store, gpointer data, GError **error)
{
  return we_store_plugin_config_list (store, error);
}

/* Read, change and write in one go on the store's thread, so that a
 * concurrent enable and config edit cannot undo each other. */
static gpointer
rows_write (WeStore *store, gpointer data, GError **error)
{
  WritePlan *plan = data;
  g_autoptr(GPtrArray) rows = we_store_plugin_config_list (store, error);
  WePluginConfig *row;
  WePluginConfig *fresh = NULL;
  gboolean ok;

  if (rows == NULL)
    return NULL;
  row = find_row (rows, plan->id);
  if (row == NULL) {
    fresh = row = we_plugin_config_new ();
    row->id = g_strdup (plan->id);
    row->is_enabled = TRUE;
    row->config = json_object_new ();
  }
  g_free (row->plugin_type);
  row->plugin_type = g_strdup (plan->plugin_type);
  row->priority = plan->priority;
  row->updated_at = 0;  /* now */
  if (plan->config != NULL) {
    g_clear_pointer (&row->config, json_object_unref);
    row->config = json_object_ref (plan->config);
  }
  if (plan->enabled >= 0)
    row->is_enabled = plan->enabled != 0;
  ok = we_store_plugin_config_put (store, row, error);
  g_clear_pointer (&fresh, we_plugin_config_free);
  if (!ok)
    return NULL;
  return we_store_plugin_config_list (store, error);
}

/* ---- /test: a fresh instance in a thread ----------------------------------- */

typedef struct {
  gint          refs;
  WeApiRequest *request;      /* NULL once answered */
  guint         timeout_id;
  gchar        *id;
} TestRun;

typedef struct {
  gchar        *id;
  WePillarType  pillar;
  JsonObject   *config;
} TestInput;

typedef struct {
  gboolean  ok;
  gint64    latency_ms;
  gchar    *detail;
  GError   *error;
} TestResult;

static void
test_run_unref (TestRun *run)
{
  if (!g_atomic_int_dec_and_test (&run->refs))
    return;
  g_free (run->id);
  g_free (run);
}

static void
test_input_free (TestInput *in)
{
  g_free (in->id);
  g_clear_pointer (&in->config, json_object_unref);
  g_free (in);
}

static void
test_result_free (TestResult *r)
{
  g_free (r->detail);
  g_clear_error (&r->error);
  g_free (r);
}

static void
respond_test (WeApiRequest *request, gboolean ok, gint64 latency_ms, const gchar *detail,
              const GError *error)
{
  JsonObject *o = json_object_new ();

  json_object_set_boolean_member (o, "ok", ok);
  json_object_set_int_member (o, "latency_ms", latency_ms);
  json_object_set_string_member (o, "detail", detail != NULL ? detail : "");
  if (error != NULL) {
    JsonObject *e = json_object_new ();

    json_object_set_string_member (e, "code",
                                   we_error_code_to_string (we_error_code_from_gerror (error)));
    json_object_set_string_member (e, "message", error->message);
    json_object_set_object_member (o, "error", e);
  } else {
    json_object_set_null_member (o, "error");
  }
  we_api_request_respond_object (request, SOUP_STATUS_OK, o);
}

/* Writes a small object and removes it again: reachability and write
 * permission in one, without touching anything that was there. */
static gboolean
probe_storage (WeStorage *storage, GString *detail, GError **error)
{
  WeStorageCapabilities caps = { 0 };
  g_autofree gchar *nonce = g_uuid_string_random ();
  g_autofree gchar *key = g_strconcat (PROBE_KEY_PREFIX, nonce, NULL);
  g_autofree gchar *url = NULL;
  g_autoptr(GOutputStream) out = NULL;
  g_auto(WeObjectInfo) info = { 0 };
  static const gchar probe[] = "webencode storage probe\n";

  we_storage_get_capabilities (storage, &caps);
  if (!caps.supports_upload) {
    g_autoptr(GPtrArray) roots = caps.supports_browse ? we_storage_browse_roots (storage, error)
                                                      : NULL;
    if (caps.supports_browse && roots == NULL)
      return FALSE;
    g_string_append_printf (detail, "read-only %s storage created",
                            caps.storage_type ? caps.storage_type : "");
    return TRUE;
  }
  url = we_storage_make_url (storage, key);
  out = we_storage_create (storage, url, error);
  if (out == NULL)
    return FALSE;
  if (!g_output_stream_write_all (out, probe, sizeof probe - 1, NULL, NULL, error) ||
      !g_output_stream_close (out, NULL, error))
    return FALSE;
  if (!we_storage_stat (storage, url, &info, error))
    return FALSE;
  if (!we_storage_delete_object (storage, url, error))
    return FALSE;
  g_string_append_printf (detail, "wrote, found and deleted %s", url);
  return TRUE;
}

static void
test_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  WePluginHost *host = WE_PLUGIN_HOST (source);
  TestInput *in = task_data;
  TestResult *r = g_new0 (TestResult, 1);
  gint64 started = g_get_monotonic_time ();
  g_autoptr(GString) detail = g_string_new (NULL);
  g_autoptr(GObject) instance = we_plugin_host_instantiate (host, in->id, in->config, &r->error);

  if (instance != NULL) {
    switch (in->pillar) {
    case WE_PILLAR_STORAGE:
      r->ok = probe_storage (WE_STORAGE (instance), detail, &r->error);
      break;
    case WE_PILLAR_ENCODER: {
      g_auto(WeEncoderCapabilities) caps = { 0 };
      g_autofree gchar *codecs = NULL;

      we_encoder_get_capabilities (WE_ENCODER (instance), &caps);
      codecs = caps.video_codecs != NULL ? g_strjoinv (", ", caps.video_codecs) : g_strdup ("");
      g_string_append_printf (detail, "video codecs: %s%s", *codecs ? codecs : "none",
                              caps.gpu_accelerated ? " (GPU)" : "");
      r->ok = caps.video_codecs != NULL && caps.video_codecs[0] != NULL;
      if (!r->ok)
        g_set_error_literal (&r->error, WE_ERROR, WE_ERROR_PLG_DEGRADED,
                             "the encoder offers no video codec on this host");
      break;
    }
    case WE_PILLAR_AUTH:
      /* creating it is the test: OIDC fetches its discovery document there */
      g_string_append (detail, "auth provider created");
      r->ok = TRUE;
      break;
    case WE_PILLAR_LIVE:
    case WE_PILLAR_PUBLISHER:
    case WE_PILLAR_LAST:
    default:
      g_string_append (detail, "instance created");
      r->ok = TRUE;
      break;
    }
  }
  /* dropped here, in the thread: its finalizer may close connections */
  g_clear_object (&instance);
  if (r->error != NULL && detail->len == 0)
    g_string_append (detail, "the plugin could not be created or probed");
  r->latency_ms = (g_get_monotonic_time () - started) / 1000;
  r->detail = g_string_free (g_steal_pointer (&detail), FALSE);
  g_task_return_pointer (task, r, (GDestroyNotify) test_result_free);
}

static void
test_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  TestRun *run = user_data;
  g_autoptr(GError) error = NULL;
  TestResult *r = g_task_propagate_pointer (G_TASK (result), &error);

  if (run->request != NULL) {
    g_clear_handle_id (&run->timeout_id, g_source_remove);
    if (r == NULL)
      we_api_request_respond_error (run->request, error);
    else
      respond_test (run->request, r->ok, r->latency_ms, r->detail, r->error);
    run->request = NULL;
  }
  if (r != NULL)
    test_result_free (r);
  test_run_unref (run);
}

static gboolean
test_timeout_cb (gpointer user_data)
{
  TestRun *run = user_data;
  g_autoptr(GError) error = NULL;

  run->timeout_id = 0;
  if (run->request != NULL) {
    /* the thread cannot be stopped; it finishes on its own and is ignored */
    g_set_error (&error, WE_ERROR, WE_ERROR_PLG_DEGRADED,
                 "plugin %s did not answer within %d s", run->id, TEST_TIMEOUT_S);
    respond_test (run->request, FALSE, TEST_TIMEOUT_S * 1000, "timed out", error);
    run->request = NULL;
  }
  return G_SOURCE_REMOVE;
}

static void
start_test (PluginsOp *op, WePluginInfo *info, GPtrArray *rows)
{
  const WeApiContext *ctx = we_api_request_context (op->request);
  g_autoptr(GTask) task = NULL;
  TestInput *in = g_new0 (TestInput, 1);
  TestRun *run = g_new0 (TestRun, 1);

  in->id = g_strdup (info->id);
  in->pillar = info->pillar;
  /* the candidate as the next start would see it, or what is configured now */
  in->config = effective_config (ctx, info->id,
                                 op->override != NULL ? op->override
                                                      : stored_override (find_row (rows, info->id)),
                                 NULL);
  audit (op, NULL, NULL);
  run->refs = 2;
  run->request = op->request;
  run->id = g_strdup (info->id);
  run->timeout_id = g_timeout_add_seconds_full (G_PRIORITY_DEFAULT, TEST_TIMEOUT_S,
                                                test_timeout_cb, run,
                                                (GDestroyNotify) test_run_unref);
  task = g_task_new (ctx->host, NULL, test_done_cb, run);
  g_task_set_source_tag (task, start_test);
  g_task_set_task_data (task, in, (GDestroyNotify) test_input_free);
  g_task_run_in_thread (task, test_thread);
}

/* ---- the actions, once plugin_configs is read -------------------------------- */

static void
rows_written_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(PluginsOp) op = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) rows = we_store_call_finish (WE_STORE (source), result, &error);

  if (error != NULL) {
    respond_error (op, error);
    return;
  }
  audit (op, op->action == PLUGINS_PUT_CONFIG ? op->override : NULL, NULL);
  respond_plugin (op, rows);
}

static void
write_row (PluginsOp *op, WePluginInfo *info, JsonObject *config, gint enabled)
{
  const WeApiContext *ctx = we_api_request_context (op->request);
  WritePlan *plan = g_new0 (WritePlan, 1);

  plan->id = g_strdup (info->id);
  plan->plugin_type = g_strdup (we_pillar_type_to_string (info->pillar));
  plan->priority = info->priority;
  plan->config = config != NULL ? json_object_ref (config) : NULL;
  plan->enabled = enabled;
  we_store_call_async (ctx->store, rows_write, plan, (GDestroyNotify) write_plan_free,
                       (GDestroyNotify) g_ptr_array_unref, NULL, rows_written_cb, op);
}

static void
rows_read_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(PluginsOp) op = user_data;
  const WeApiContext *ctx = we_api_request_context (op->request);
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) rows = we_store_call_finish (WE_STORE (source), result, &error);
  WePluginInfo *info;

  if (error != NULL) {
    respond_error (op, error);
    return;
  }
  if (op->action == PLUGINS_LIST) {
    respond_list (op, rows);
    return;
  }
  info = we_plugin_host_get_plugin (ctx->host, op->id);
  switch (op->action) {
  case PLUGINS_GET:
    respond_plugin (op, rows);
    break;
  case PLUGINS_PUT_CONFIG: {
    g_autoptr(JsonObject) override = json_object_ref (op->override);

    write_row (g_steal_pointer (&op), info, override, -1);
    break;
  }
  case PLUGINS_ENABLE:
    write_row (g_steal_pointer (&op), info, NULL, 1);
    break;
  case PLUGINS_DISABLE:
    if (!check_can_disable (ctx, info, rows, &error)) {
      respond_error (op, error);
      return;
    }
    write_row (g_steal_pointer (&op), info, NULL, 0);
    break;
  case PLUGINS_TEST:
    start_test (op, info, rows);
    break;
  case PLUGINS_LIST:
  default:
    g_assert_not_reached ();
  }
}

/* Checks what can be checked without the store, then reads it. */
static void
run (PluginsOp *op_in)
{
  g_autoptr(PluginsOp) op = op_in;
  const WeApiContext *ctx = we_api_request_context (op->request);
  g_autoptr(GError) error = NULL;

  if (op->action != PLUGINS_LIST) {
    WePluginInfo *info = we_plugin_host_get_plugin (ctx->host, op->id);

    if (info == NULL) {
      g_set_error (&error, WE_ERROR, WE_ERROR_PLG_NOT_FOUND, "no plugin has the id %s", op->id);
      respond_error (op, error);
      return;
    }
    /* only a manifest that named its pillar and module can be changed */
    if (op->action != PLUGINS_GET &&
        (info->pillar >= WE_PILLAR_LAST || info->module_path == NULL)) {
      g_set_error (&error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                   "plugin %s has an unusable manifest: %s", op->id,
                   info->error != NULL ? info->error : "unknown error");
      respond_error (op, error);
      return;
    }
    /* /test takes an optional body: none means the configuration there is */
    if (op->action == PLUGINS_PUT_CONFIG ||
        (op->action == PLUGINS_TEST && op->request->body != NULL &&
         g_bytes_get_size (op->request->body) > 0)) {
      g_autoptr(JsonObject) body = we_api_request_parse_json_object (op->request, &error);
      JsonNode *config;

      if (body == NULL) {
        respond_error (op, error);
        return;
      }
      config = json_object_get_member (body, "config");
      if (config != NULL || op->action == PLUGINS_PUT_CONFIG) {
        op->override = make_override (ctx, info, config, &error);
        if (op->override == NULL) {
          respond_error (op, error);
          return;
        }
      }
    }
  }
  {
    PluginsOp *owned = g_steal_pointer (&op);

    we_store_call_async (ctx->store, rows_read, NULL, NULL, (GDestroyNotify) g_ptr_array_unref,
                         NULL, rows_read_cb, owned);
  }
}

/* ---- routes ------------------------------------------------------------------ */

void
we_api_plugins_list (WeApiRequest *request)
{
  run (plugins_op_new (request, PLUGINS_LIST));
}

void
we_api_plugins_get (WeApiRequest *request)
{
  run (plugins_op_new (request, PLUGINS_GET));
}

void
we_api_plugins_put_config (WeApiRequest *request)
{
  run (plugins_op_new (request, PLUGINS_PUT_CONFIG));
}

void
we_api_plugins_enable (WeApiRequest *request)
{
  run (plugins_op_new (request, PLUGINS_ENABLE));
}

void
we_api_plugins_disable (WeApiRequest *request)
{
  run (plugins_op_new (request, PLUGINS_DISABLE));
}

void
we_api_plugins_test (WeApiRequest *request)
{
  run (plugins_op_new (request, PLUGINS_TEST));
}
