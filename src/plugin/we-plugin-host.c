/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The pillar module loader. Everything that comes from disk is checked before
 * it can run code in our process: the manifest is parsed and validated before
 * the module is opened (so an incompatible module never gets to run its ELF
 * constructors), and the descriptor is validated before create() is called.
 * Every refusal is recorded on the plugin's WePluginInfo so the Plugins page
 * and `webencode plugins` can say why, and loading always carries on.
 */
#include "config.h"

#include "we-plugin-host.h"

#include "common/we-log.h"

#define MANIFEST_GROUP   "Plugin"
#define MANIFEST_SUFFIX  ".plugin"
/* The build tree keeps modules at plugins/<pillar>/<name>/ */
#define MAX_SCAN_DEPTH   3
/* Bounds for what a manifest may ask for; nothing legitimate comes close. */
#define MAX_MANIFEST_SIZE (64 * 1024)
#define MAX_ID_LEN        64
#define MAX_MANIFESTS     256
#define DEFAULT_PRIORITY  100

struct _WePluginHost {
  GObject             parent_instance;
  GPtrArray          *plugins;      /* (element-type WePluginInfo) in load order */
  GHashTable         *by_id;        /* id → WePluginInfo (borrowed), the one that owns the id */
  WePluginConfigFunc  config_func;
  gpointer            config_data;
  GDestroyNotify      config_notify;
  guint               pillar_mask;
  GStrv               disabled_ids;
  gchar              *default_storage_id;
  WeSecrets          *secrets;      /* nullable: handed to create_with_secrets() */
  GHashTable         *defaults;     /* id → JsonObject: embedded defaults */
};

G_DEFINE_TYPE (WePluginHost, we_plugin_host, G_TYPE_OBJECT)

const gchar *
we_plugin_state_to_string (WePluginState state)
{
  switch (state) {
  case WE_PLUGIN_STATE_HEALTHY:
    return "healthy";
  case WE_PLUGIN_STATE_DEGRADED:
    return "degraded";
  case WE_PLUGIN_STATE_FAILED:
    return "failed";
  case WE_PLUGIN_STATE_DISABLED:
    return "disabled";
  default:
    return "unknown";
  }
}

static void
we_plugin_info_free (WePluginInfo *info)
{
  if (info == NULL)
    return;
  g_free (info->id);
  g_free (info->version);
  g_strfreev (info->config_keys);
  g_free (info->manifest_path);
  g_free (info->module_path);
  g_free (info->error);
  g_clear_object (&info->instance);
  g_clear_pointer (&info->config, json_object_unref);
  g_free (info);
}

static void
we_plugin_host_finalize (GObject *object)
{
  WePluginHost *self = WE_PLUGIN_HOST (object);

  /* instances first: their finalizers live in modules that stay resident */
  g_hash_table_unref (self->by_id);
  g_ptr_array_unref (self->plugins);
  if (self->config_notify != NULL)
    self->config_notify (self->config_data);
  g_strfreev (self->disabled_ids);
  g_free (self->default_storage_id);
  g_clear_object (&self->secrets);
  g_hash_table_unref (self->defaults);
  G_OBJECT_CLASS (we_plugin_host_parent_class)->finalize (object);
}

static void
we_plugin_host_class_init (WePluginHostClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = we_plugin_host_finalize;
}

static void
we_plugin_host_init (WePluginHost *self)
{
  self->plugins = g_ptr_array_new_with_free_func ((GDestroyNotify) we_plugin_info_free);
  self->by_id = g_hash_table_new (g_str_hash, g_str_equal);
  self->defaults = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                          (GDestroyNotify) json_object_unref);
  self->pillar_mask = (1u << WE_PILLAR_LAST) - 1;
}

WePluginHost *
we_plugin_host_new (void)
{
  return g_object_new (WE_TYPE_PLUGIN_HOST, NULL);
}

void
we_plugin_host_set_config_func (WePluginHost *self, WePluginConfigFunc func, gpointer user_data,
                                GDestroyNotify notify)
{
  g_return_if_fail (WE_IS_PLUGIN_HOST (self));
  if (self->config_notify != NULL)
    self->config_notify (self->config_data);
  self->config_func = func;
  self->config_data = user_data;
  self->config_notify = notify;
}

void
we_plugin_host_set_secrets (WePluginHost *self, WeSecrets *secrets)
{
  g_return_if_fail (WE_IS_PLUGIN_HOST (self));
  g_return_if_fail (secrets == NULL || WE_IS_SECRETS (secrets));
  g_set_object (&self->secrets, secrets);
}

WeSecrets *
we_plugin_host_get_secrets (WePluginHost *self)
{
  g_return_val_if_fail (WE_IS_PLUGIN_HOST (self), NULL);
  return self->secrets;
}

void
we_plugin_host_set_pillar_filter (WePluginHost *self, guint pillar_mask)
{
  g_return_if_fail (WE_IS_PLUGIN_HOST (self));
  self->pillar_mask = pillar_mask;
}

void
we_plugin_host_set_disabled (WePluginHost *self, const gchar * const *ids)
{
  g_return_if_fail (WE_IS_PLUGIN_HOST (self));
  g_strfreev (self->disabled_ids);
  self->disabled_ids = g_strdupv ((gchar **) ids);
}

gboolean
we_plugin_host_is_disabled (WePluginHost *self, const gchar *plugin_id)
{
  g_return_val_if_fail (WE_IS_PLUGIN_HOST (self), FALSE);
  return plugin_id != NULL && self->disabled_ids != NULL &&
         g_strv_contains ((const gchar * const *) self->disabled_ids, plugin_id);
}

void
we_plugin_host_set_config_defaults (WePluginHost *self, const gchar *plugin_id,
                                    JsonObject *defaults)
{
  JsonObject *copy = json_object_new ();
  g_autoptr(GList) members = NULL;

  g_return_if_fail (WE_IS_PLUGIN_HOST (self));
  g_return_if_fail (plugin_id != NULL && defaults != NULL);
  members = json_object_get_members (defaults);
  for (GList *l = members; l != NULL; l = l->next)
    json_object_set_member (copy, l->data,
                            json_node_copy (json_object_get_member (defaults, l->data)));
  g_hash_table_replace (self->defaults, g_strdup (plugin_id), copy);
}

static void
overlay (JsonObject *out, JsonObject *layer)
{
  g_autoptr(GList) members = layer != NULL ? json_object_get_members (layer) : NULL;

  for (GList *l = members; l != NULL; l = l->next) {
    JsonNode *value = json_object_get_member (layer, l->data);

    if (JSON_NODE_HOLDS_NULL (value))
      json_object_remove_member (out, l->data);
    else
      json_object_set_member (out, l->data, json_node_copy (value));
  }
}

JsonObject *
we_plugin_host_resolve_config (WePluginHost *self, const gchar *plugin_id, JsonObject *file_config,
                               JsonObject *stored_override)
{
  JsonObject *out = json_object_new ();
  JsonObject *defaults;
  g_autoptr(GList) default_members = NULL;

  g_return_val_if_fail (WE_IS_PLUGIN_HOST (self), out);
  overlay (out, file_config);
  /* Key by key, a null removing one: the API stores every key of what the
   * admin saved, and a null for each one they removed, so this is what they
   * saved; only a masked secret sent back ("keep it") is left out and so
   * still comes from the file. */
  overlay (out, stored_override);
  defaults = plugin_id != NULL ? g_hash_table_lookup (self->defaults, plugin_id) : NULL;
  if (defaults != NULL)
    default_members = json_object_get_members (defaults);
  for (GList *l = default_members; l != NULL; l = l->next) {
    if (!json_object_has_member (out, l->data))
      json_object_set_member (out, l->data,
                              json_node_copy (json_object_get_member (defaults, l->data)));
  }
  return out;
}

/* Ids end up in URLs, file names, metric names and config keys. */
static gboolean
is_safe_name (const gchar *s, gboolean allow_dot)
{
  gsize len;

  if (s == NULL || !g_ascii_isalnum (s[0]))
    return FALSE;
  len = strlen (s);
  if (len > MAX_ID_LEN)
    return FALSE;
  for (gsize i = 0; i < len; i++) {
    if (g_ascii_isalnum (s[i]) || s[i] == '-' || s[i] == '_')
      continue;
    if (allow_dot && s[i] == '.')
      continue;
    return FALSE;
  }
  return TRUE;
}

/* Records the outcome on @info, logs it once and turns it into @error. */
static gboolean
refuse (WePluginInfo *info, WePluginState state, WeErrorCode code, GError **error,
        const gchar *format, ...) G_GNUC_PRINTF (5, 6);

static gboolean
refuse (WePluginInfo *info, WePluginState state, WeErrorCode code, GError **error,
        const gchar *format, ...)
{
  va_list args;

  va_start (args, format);
  g_free (info->error);
  info->error = g_strdup_vprintf (format, args);
  va_end (args);
  info->state = state;
  g_clear_object (&info->instance);
  we_log (G_LOG_LEVEL_WARNING, NULL, we_error_code_to_string (code), "%s (%s)", info->error,
          info->manifest_path);
  g_set_error_literal (error, WE_ERROR, code, info->error);
  return FALSE;
}

gboolean
we_plugin_config_key_is_secret (const gchar *key)
{
  static const gchar *const endings[] = { "secret", "password", "passwd", "token",
                                          "secret_key", "secret_access_key", "api_key",
                                          "private_key" };
  g_autofree gchar *lower = NULL;

  g_return_val_if_fail (key != NULL, FALSE);
  lower = g_ascii_strdown (key, -1);
  if (we_secrets_key_is_ref (lower) || g_str_has_suffix (lower, "_ref"))
    return FALSE;
  /* where a secret is kept is no secret: auth-basic's "htpasswd" is the
   * path of its user file, "*_file" keys name files */
  if (g_str_equal (lower, "htpasswd") || g_str_has_suffix (lower, "_file") ||
      g_str_has_suffix (lower, "_path"))
    return FALSE;
  for (guint i = 0; i < G_N_ELEMENTS (endings); i++) {
    if (g_str_has_suffix (lower, endings[i]))
      return TRUE;
  }
  return FALSE;
}

/* Only the keys the module declared reach it: a config blob shared between
 * plugins (or a typo) must not be able to switch on behaviour silently.
 * Reference keys ("*_secret_ref", "*_token_ref") follow the same rule. Only
 * key names are ever logged here, never values: a value may be a secret. */
static JsonObject *
filter_config (const gchar *id, const WePluginDescriptor *desc, JsonObject *config)
{
  JsonObject *filtered = json_object_new ();
  g_autoptr(GList) members = NULL;

  if (config == NULL)
    return filtered;
  members = json_object_get_members (config);
  for (GList *l = members; l != NULL; l = l->next) {
    const gchar *key = l->data;
    if (desc->config_keys != NULL && g_strv_contains (desc->config_keys, key)) {
      json_object_set_member (filtered, key, json_node_copy (json_object_get_member (config, key)));
      if (we_plugin_config_key_is_secret (key))
        we_log (G_LOG_LEVEL_WARNING, NULL, NULL,
                "plugin %s: config key '%s' holds a plaintext secret; a secrets-backend "
                "reference (a \"_ref\" key, spec §6.5) keeps it out of the configuration",
                id, key);
    } else {
      we_log (G_LOG_LEVEL_WARNING, NULL, we_error_code_to_string (WE_ERROR_PLG_INVALID_CONFIG),
              "plugin %s does not know config key '%s'; dropped", id, key);
    }
  }
  return filtered;
}

static void
record (WePluginHost *self, WePluginInfo *info)
{
  WePluginInfo *owner = g_hash_table_lookup (self->by_id, info->id);

  g_ptr_array_add (self->plugins, info);
  /* A refused entry does not keep a later, working copy from owning the id
   * (e.g. a stale old-protocol module left next to its upgrade). */
  if (owner == NULL || (owner->state != WE_PLUGIN_STATE_HEALTHY && info->state == WE_PLUGIN_STATE_HEALTHY))
    g_hash_table_insert (self->by_id, info->id, info);
}

static gboolean
id_is_taken (WePluginHost *self, const gchar *id)
{
  WePluginInfo *owner = g_hash_table_lookup (self->by_id, id);
  return owner != NULL && owner->state == WE_PLUGIN_STATE_HEALTHY;
}

/* Opens the module of plugin @id and checks its descriptor against what the
 * manifest said. Touches no shared state, so a thread may call it. Errors:
 * WE_ERROR_PLG_DISABLED for a module of another protocol or a newer ABI
 * (skipped, not broken), other WE_ERROR_PLG_* codes otherwise. */
static const WePluginDescriptor *
open_descriptor (const gchar *id, WePillarType pillar, const gchar *module_path, GError **error)
{
  GModule *module;
  WePluginGetDescriptorFunc get_descriptor = NULL;
  const WePluginDescriptor *desc;
  g_autoptr(GError) local_error = NULL;

  if (!g_file_test (module_path, G_FILE_TEST_IS_REGULAR)) {
    g_set_error (error, WE_ERROR, WE_ERROR_PLG_NOT_FOUND, "plugin %s: module %s not found", id,
                 module_path);
    return NULL;
  }

  module = g_module_open_full (module_path, G_MODULE_BIND_LAZY | G_MODULE_BIND_LOCAL,
                               &local_error);
  if (module == NULL) {
    g_set_error (error, WE_ERROR, WE_ERROR_PLG_CRASHED, "plugin %s: cannot open module: %s", id,
                 local_error->message);
    return NULL;
  }

  if (!g_module_symbol (module, WE_PLUGIN_SYMBOL, (gpointer *) &get_descriptor) ||
      get_descriptor == NULL) {
    g_module_close (module);
    g_set_error (error, WE_ERROR, WE_ERROR_PLG_CRASHED, "plugin %s: module exports no %s()", id,
                 WE_PLUGIN_SYMBOL);
    return NULL;
  }

  desc = get_descriptor ();
  if (desc == NULL) {
    g_module_close (module);
    g_set_error (error, WE_ERROR, WE_ERROR_PLG_CRASHED, "plugin %s: module returned no descriptor",
                 id);
    return NULL;
  }
  /* Checked before anything else in the descriptor is read: a different
   * protocol may lay the struct out differently. */
  if (desc->protocol_version != WE_PLUGIN_PROTOCOL_VERSION) {
    guint32 theirs = desc->protocol_version;
    g_module_close (module);
    g_set_error (error, WE_ERROR, WE_ERROR_PLG_DISABLED,
                 "plugin %s speaks protocol %u, kernel speaks %d; skipped", id, theirs,
                 WE_PLUGIN_PROTOCOL_VERSION);
    return NULL;
  }
  if (desc->abi_minor > WE_PLUGIN_ABI_MINOR) {
    guint32 theirs = desc->abi_minor;
    g_module_close (module);
    g_set_error (error, WE_ERROR, WE_ERROR_PLG_DISABLED,
                 "plugin %s needs ABI %d.%u, kernel provides %d.%d; skipped", id,
                 WE_PLUGIN_PROTOCOL_VERSION, theirs, WE_PLUGIN_PROTOCOL_VERSION,
                 WE_PLUGIN_ABI_MINOR);
    return NULL;
  }
  if (g_strcmp0 (desc->id, id) != 0 || desc->pillar != pillar) {
    g_autofree gchar *their_id = g_strdup (desc->id);
    const gchar *their_pillar = we_pillar_type_to_string (desc->pillar);
    g_module_close (module);
    g_set_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                 "plugin %s: module describes itself as %s/%s, manifest says %s/%s", id,
                 their_pillar, their_id ? their_id : "(null)", we_pillar_type_to_string (pillar),
                 id);
    return NULL;
  }
  if (desc->create == NULL && !(desc->abi_minor >= 3 && desc->create_with_secrets != NULL)) {
    g_module_close (module);
    g_set_error (error, WE_ERROR, WE_ERROR_PLG_CRASHED, "plugin %s: descriptor has no create()",
                 id);
    return NULL;
  }

  /* From here on the module may register static GTypes, which can never be
   * unregistered, so its code must never be unmapped. */
  g_module_make_resident (module);
  return desc;
}

/* create() through the descriptor, checked to implement @pillar's interface. */
static GObject *
create_instance (WePluginHost *self, const gchar *id, WePillarType pillar,
                 const WePluginDescriptor *desc, JsonObject *config, GError **error)
{
  g_autoptr(JsonObject) filtered = filter_config (id, desc, config);
  g_autoptr(GError) local_error = NULL;
  g_autoptr(GObject) instance = NULL;
  GType iface;

  /* ABI 1.3 modules may take the secrets backend and resolve their
   * "*_secret_ref" keys themselves when they need the secret */
  if (desc->abi_minor >= 3 && desc->create_with_secrets != NULL)
    instance = desc->create_with_secrets (filtered, self->secrets, &local_error);
  else
    instance = desc->create (filtered, &local_error);
  if (instance == NULL) {
    g_set_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG, "plugin %s: %s", id,
                 local_error ? local_error->message : "create() failed without a reason");
    return NULL;
  }
  iface = we_pillar_type_get_gtype (pillar);
  if (!G_TYPE_CHECK_INSTANCE_TYPE (instance, iface)) {
    g_set_error (error, WE_ERROR, WE_ERROR_PLG_CRASHED,
                 "plugin %s: instance of %s does not implement %s", id,
                 G_OBJECT_TYPE_NAME (instance), g_type_name (iface));
    return NULL;
  }
  return g_steal_pointer (&instance);
}

static gboolean
open_and_create (WePluginHost *self, WePluginInfo *info, GError **error)
{
  const WePluginDescriptor *desc;
  g_autoptr(GError) local_error = NULL;
  g_autoptr(JsonObject) config = NULL;
  GObject *instance;

  desc = open_descriptor (info->id, info->pillar, info->module_path, &local_error);
  if (desc == NULL)
    return refuse (info,
                   g_error_matches (local_error, WE_ERROR, WE_ERROR_PLG_DISABLED)
                       ? WE_PLUGIN_STATE_DISABLED : WE_PLUGIN_STATE_FAILED,
                   (WeErrorCode) local_error->code, error, "%s", local_error->message);
  if (g_strcmp0 (desc->version, info->version) != 0)
    g_warning ("plugin %s: manifest version %s differs from module version %s", info->id,
               info->version, desc->version ? desc->version : "(null)");

  if (info->config_keys == NULL || info->config_keys[0] == NULL) {
    g_strfreev (info->config_keys);
    info->config_keys = g_strdupv ((gchar **) desc->config_keys);
  }
  if (self->config_func != NULL)
    config = self->config_func (info->id, self->config_data);
  /* remembered so the Plugins page can tell whether what is configured now
   * differs from what this instance runs with */
  g_clear_pointer (&info->config, json_object_unref);
  info->config = config != NULL ? json_object_ref (config) : json_object_new ();

  instance = create_instance (self, info->id, info->pillar, desc, config, &local_error);
  if (instance == NULL)
    return refuse (info, WE_PLUGIN_STATE_FAILED, (WeErrorCode) local_error->code, error, "%s",
                   local_error->message);

  info->instance = instance;
  info->state = WE_PLUGIN_STATE_HEALTHY;
  info->loaded_at = g_get_real_time ();
  g_clear_pointer (&info->error, g_free);
  g_info ("plugin %s %s (%s) loaded from %s", info->id, info->version,
          we_pillar_type_to_string (info->pillar), info->module_path);
  return TRUE;
}

/* Validates the manifest behind @info and, when it passes, opens the module.
 * Everything recorded on @info; the caller files it whatever the outcome. */
static gboolean
load_manifest_into (WePluginHost *self, WePluginInfo *info, GError **error)
{
  g_autoptr(GKeyFile) kf = g_key_file_new ();
  g_autoptr(GError) local_error = NULL;
  g_autofree gchar *contents = NULL;
  g_autofree gchar *id = NULL;
  g_autofree gchar *type = NULL;
  g_autofree gchar *module = NULL;
  g_autofree gchar *dir = NULL;
  gsize len = 0;
  gint64 protocol;

  if (!g_file_get_contents (info->manifest_path, &contents, &len, &local_error))
    return refuse (info, WE_PLUGIN_STATE_FAILED, WE_ERROR_PLG_NOT_FOUND, error,
                   "cannot read manifest: %s", local_error->message);
  if (len > MAX_MANIFEST_SIZE)
    return refuse (info, WE_PLUGIN_STATE_FAILED, WE_ERROR_PLG_INVALID_CONFIG, error,
                   "manifest is larger than %d bytes", MAX_MANIFEST_SIZE);
  if (!g_key_file_load_from_data (kf, contents, len, G_KEY_FILE_NONE, &local_error))
    return refuse (info, WE_PLUGIN_STATE_FAILED, WE_ERROR_PLG_INVALID_CONFIG, error,
                   "malformed manifest: %s", local_error->message);

  id = g_key_file_get_string (kf, MANIFEST_GROUP, "Id", NULL);
  if (!is_safe_name (id, TRUE))
    return refuse (info, WE_PLUGIN_STATE_FAILED, WE_ERROR_PLG_INVALID_CONFIG, error,
                   "manifest Id is missing or unsafe (letters, digits, '-', '_', '.', at most %d)",
                   MAX_ID_LEN);
  g_free (info->id);
  info->id = g_steal_pointer (&id);

  type = g_key_file_get_string (kf, MANIFEST_GROUP, "Type", NULL);
  if (type == NULL || !we_pillar_type_from_string (type, &info->pillar))
    return refuse (info, WE_PLUGIN_STATE_FAILED, WE_ERROR_PLG_INVALID_CONFIG, error,
                   "plugin %s: Type '%s' is not a pillar", info->id, type ? type : "");

  info->version = g_key_file_get_string (kf, MANIFEST_GROUP, "Version", NULL);
  if (!is_safe_name (info->version, TRUE))
    return refuse (info, WE_PLUGIN_STATE_FAILED, WE_ERROR_PLG_INVALID_CONFIG, error,
                   "plugin %s: Version is missing or malformed", info->id);

  protocol = g_key_file_get_int64 (kf, MANIFEST_GROUP, "ProtocolVersion", &local_error);
  if (local_error != NULL || protocol <= 0 || protocol > G_MAXUINT32)
    return refuse (info, WE_PLUGIN_STATE_FAILED, WE_ERROR_PLG_INVALID_CONFIG, error,
                   "plugin %s: ProtocolVersion is missing or not a positive integer", info->id);
  info->protocol_version = (guint) protocol;

  module = g_key_file_get_string (kf, MANIFEST_GROUP, "Module", NULL);
  /* a bare name only: a manifest must not be able to point us at a library
   * elsewhere on the system */
  if (module == NULL || strchr (module, '/') != NULL || strstr (module, "..") != NULL ||
      !is_safe_name (module, TRUE))
    return refuse (info, WE_PLUGIN_STATE_FAILED, WE_ERROR_PLG_INVALID_CONFIG, error,
                   "plugin %s: Module must be a bare file name", info->id);
  dir = g_path_get_dirname (info->manifest_path);
  G_GNUC_BEGIN_IGNORE_DEPRECATIONS
  info->module_path = g_module_build_path (dir, module);
  G_GNUC_END_IGNORE_DEPRECATIONS

  info->config_keys = g_key_file_get_string_list (kf, MANIFEST_GROUP, "ConfigKeys", NULL, NULL);
  for (guint i = 0; info->config_keys != NULL && info->config_keys[i] != NULL; i++) {
    if (!is_safe_name (info->config_keys[i], TRUE))
      return refuse (info, WE_PLUGIN_STATE_FAILED, WE_ERROR_PLG_INVALID_CONFIG, error,
                     "plugin %s: ConfigKeys holds an unsafe key", info->id);
  }
  if (g_key_file_has_key (kf, MANIFEST_GROUP, "Priority", NULL)) {
    info->priority = g_key_file_get_integer (kf, MANIFEST_GROUP, "Priority", &local_error);
    if (local_error != NULL)
      return refuse (info, WE_PLUGIN_STATE_FAILED, WE_ERROR_PLG_INVALID_CONFIG, error,
                     "plugin %s: Priority is not an integer", info->id);
  }

  /* Not wanted in this process: stays quiet, so a worker does not report the
   * auth plugins it never needed as broken. */
  if ((self->pillar_mask & (1u << info->pillar)) == 0) {
    info->error = g_strdup_printf ("the %s pillar is not loaded by this process",
                                   we_pillar_type_to_string (info->pillar));
    g_debug ("plugin %s: %s", info->id, info->error);
    g_set_error_literal (error, WE_ERROR, WE_ERROR_PLG_DISABLED, info->error);
    return FALSE;
  }
  if (self->disabled_ids != NULL &&
      g_strv_contains ((const gchar * const *) self->disabled_ids, info->id)) {
    info->error = g_strdup ("disabled by configuration");
    g_info ("plugin %s: %s", info->id, info->error);
    g_set_error (error, WE_ERROR, WE_ERROR_PLG_DISABLED, "plugin %s is disabled by configuration",
                 info->id);
    return FALSE;
  }
  if (info->protocol_version != WE_PLUGIN_PROTOCOL_VERSION)
    return refuse (info, WE_PLUGIN_STATE_DISABLED, WE_ERROR_PLG_DISABLED, error,
                   "plugin %s speaks protocol %u, kernel speaks %d; skipped", info->id,
                   info->protocol_version, WE_PLUGIN_PROTOCOL_VERSION);
  if (id_is_taken (self, info->id)) {
    WePluginInfo *owner = g_hash_table_lookup (self->by_id, info->id);
    return refuse (info, WE_PLUGIN_STATE_DISABLED, WE_ERROR_PLG_DISABLED, error,
                   "plugin %s is already loaded from %s; duplicate skipped", info->id,
                   owner->manifest_path);
  }

  return open_and_create (self, info, error);
}

gboolean
we_plugin_host_load_manifest (WePluginHost *self, const gchar *manifest_path, GError **error)
{
  g_autofree gchar *base = NULL;
  WePluginInfo *info;
  gboolean ok;

  g_return_val_if_fail (WE_IS_PLUGIN_HOST (self), FALSE);
  g_return_val_if_fail (manifest_path != NULL, FALSE);

  info = g_new0 (WePluginInfo, 1);
  info->manifest_path = g_strdup (manifest_path);
  info->state = WE_PLUGIN_STATE_DISABLED;
  info->priority = DEFAULT_PRIORITY;
  info->pillar = WE_PILLAR_LAST;
  /* Until the manifest names the plugin, the file name stands in for its id
   * so that the refusal can still be listed. */
  base = g_path_get_basename (manifest_path);
  if (g_str_has_suffix (base, MANIFEST_SUFFIX))
    base[strlen (base) - strlen (MANIFEST_SUFFIX)] = '\0';
  info->id = g_strdup_printf ("manifest:%s", base);

  ok = load_manifest_into (self, info, error);
  record (self, info);
  return ok;
}

static gint
compare_strings (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (*(const gchar * const *) a, *(const gchar * const *) b);
}

static void
scan_dir (const gchar *dir, guint depth, GPtrArray *manifests)
{
  g_autoptr(GDir) d = NULL;
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  const gchar *name;

  d = g_dir_open (dir, 0, NULL);
  if (d == NULL)
    return;
  while ((name = g_dir_read_name (d)) != NULL)
    g_ptr_array_add (names, g_strdup (name));
  /* readdir order differs between file systems; load order decides who wins a
   * duplicate id, so make it stable */
  g_ptr_array_sort (names, compare_strings);

  for (guint i = 0; i < names->len && manifests->len < MAX_MANIFESTS; i++) {
    const gchar *n = g_ptr_array_index (names, i);
    g_autofree gchar *path = g_build_filename (dir, n, NULL);

    if (n[0] == '.')
      continue;
    if (g_str_has_suffix (n, MANIFEST_SUFFIX) && g_file_test (path, G_FILE_TEST_IS_REGULAR)) {
      g_ptr_array_add (manifests, g_steal_pointer (&path));
    } else if (depth < MAX_SCAN_DEPTH && g_file_test (path, G_FILE_TEST_IS_DIR) &&
               !g_file_test (path, G_FILE_TEST_IS_SYMLINK)) {
      scan_dir (path, depth + 1, manifests);
    }
  }
}

guint
we_plugin_host_load_dir (WePluginHost *self, const gchar *dir, GError **error)
{
  g_autoptr(GDir) d = NULL;
  g_autoptr(GPtrArray) manifests = g_ptr_array_new_with_free_func (g_free);
  guint healthy = 0;

  g_return_val_if_fail (WE_IS_PLUGIN_HOST (self), 0);
  g_return_val_if_fail (dir != NULL, 0);

  /* the one fatal case: the directory itself is unusable */
  d = g_dir_open (dir, 0, error);
  if (d == NULL) {
    g_prefix_error (error, "plugin directory: ");
    return 0;
  }
  scan_dir (dir, 0, manifests);
  if (manifests->len >= MAX_MANIFESTS)
    g_warning ("more than %d plugin manifests under %s; the rest are ignored", MAX_MANIFESTS,
               dir);

  for (guint i = 0; i < manifests->len; i++) {
    if (we_plugin_host_load_manifest (self, g_ptr_array_index (manifests, i), NULL))
      healthy++;
  }
  return healthy;
}

GPtrArray *
we_plugin_host_get_plugins (WePluginHost *self)
{
  g_return_val_if_fail (WE_IS_PLUGIN_HOST (self), NULL);
  return self->plugins;
}

WePluginInfo *
we_plugin_host_get_plugin (WePluginHost *self, const gchar *id)
{
  g_return_val_if_fail (WE_IS_PLUGIN_HOST (self), NULL);
  if (id == NULL)
    return NULL;
  return g_hash_table_lookup (self->by_id, id);
}

GObject *
we_plugin_host_get_instance (WePluginHost *self, const gchar *id)
{
  WePluginInfo *info = we_plugin_host_get_plugin (self, id);

  if (info == NULL || info->state != WE_PLUGIN_STATE_HEALTHY)
    return NULL;
  return info->instance;
}

GObject *
we_plugin_host_instantiate (WePluginHost *self, const gchar *plugin_id, JsonObject *config,
                            GError **error)
{
  WePluginInfo *info;
  const WePluginDescriptor *desc;

  g_return_val_if_fail (WE_IS_PLUGIN_HOST (self), NULL);
  info = we_plugin_host_get_plugin (self, plugin_id);
  /* a manifest that never named a pillar or a module has nothing to open */
  if (info == NULL || info->pillar >= WE_PILLAR_LAST || info->module_path == NULL) {
    g_set_error (error, WE_ERROR, WE_ERROR_PLG_NOT_FOUND, "plugin %s not found or unusable",
                 plugin_id != NULL ? plugin_id : "(null)");
    return NULL;
  }
  desc = open_descriptor (info->id, info->pillar, info->module_path, error);
  if (desc == NULL)
    return NULL;
  return create_instance (self, info->id, info->pillar, desc, config, error);
}

/* ---- routing (spec §6.4) ---- */

static gint
compare_priority (gconstpointer a, gconstpointer b)
{
  const WePluginInfo *ia = *(WePluginInfo * const *) a;
  const WePluginInfo *ib = *(WePluginInfo * const *) b;

  if (ia->priority != ib->priority)
    return ia->priority < ib->priority ? -1 : 1;
  return g_strcmp0 (ia->id, ib->id);
}

/* Healthy instances of @pillar in routing order. Degraded ones still serve
 * when nothing healthy can (spec §6.3: degraded is slow, not broken). */
static GPtrArray *
candidates (WePluginHost *self, WePillarType pillar)
{
  GPtrArray *out = g_ptr_array_new ();
  g_autoptr(GPtrArray) degraded = g_ptr_array_new ();

  for (guint i = 0; i < self->plugins->len; i++) {
    WePluginInfo *info = g_ptr_array_index (self->plugins, i);
    if (info->pillar != pillar || info->instance == NULL)
      continue;
    if (info->state == WE_PLUGIN_STATE_HEALTHY)
      g_ptr_array_add (out, info);
    else if (info->state == WE_PLUGIN_STATE_DEGRADED)
      g_ptr_array_add (degraded, info);
  }
  g_ptr_array_sort (out, compare_priority);
  g_ptr_array_sort (degraded, compare_priority);
  g_ptr_array_extend (out, degraded, NULL, NULL);
  return out;
}

static void
set_id (const gchar **plugin_id, WePluginInfo *info)
{
  if (plugin_id != NULL)
    *plugin_id = info != NULL ? info->id : NULL;
}

WeStorage *
we_plugin_host_storage_for_url (WePluginHost *self, const gchar *url, const gchar **plugin_id)
{
  g_autoptr(GPtrArray) list = NULL;

  g_return_val_if_fail (WE_IS_PLUGIN_HOST (self), NULL);
  set_id (plugin_id, NULL);
  if (url == NULL)
    return NULL;
  list = candidates (self, WE_PILLAR_STORAGE);
  for (guint i = 0; i < list->len; i++) {
    WePluginInfo *info = g_ptr_array_index (list, i);
    if (we_storage_handles_url (WE_STORAGE (info->instance), url)) {
      set_id (plugin_id, info);
      return WE_STORAGE (info->instance);
    }
  }
  return NULL;
}

void
we_plugin_host_set_default_storage_id (WePluginHost *self, const gchar *plugin_id)
{
  g_return_if_fail (WE_IS_PLUGIN_HOST (self));
  g_free (self->default_storage_id);
  self->default_storage_id = g_strdup (plugin_id);
}

WeStorage *
we_plugin_host_default_storage (WePluginHost *self, const gchar **plugin_id)
{
  g_autoptr(GPtrArray) list = NULL;

  g_return_val_if_fail (WE_IS_PLUGIN_HOST (self), NULL);
  set_id (plugin_id, NULL);
  list = candidates (self, WE_PILLAR_STORAGE);
  for (guint i = 0; i < list->len; i++) {
    WePluginInfo *info = g_ptr_array_index (list, i);
    WeStorageCapabilities caps;

    /* a named default is that one or none: outputs silently landing on
     * another storage than the operator chose would be worse than an error */
    if (self->default_storage_id != NULL && g_strcmp0 (info->id, self->default_storage_id) != 0)
      continue;
    we_storage_get_capabilities (WE_STORAGE (info->instance), &caps);
    if (caps.supports_upload) {
      set_id (plugin_id, info);
      return WE_STORAGE (info->instance);
    }
  }
  return NULL;
}

GPtrArray *
we_plugin_host_list_storages (WePluginHost *self)
{
  g_return_val_if_fail (WE_IS_PLUGIN_HOST (self), NULL);
  return candidates (self, WE_PILLAR_STORAGE);
}

static gboolean
encoder_has_codec (const WeEncoderCapabilities *caps, const gchar *codec)
{
  if (codec == NULL)
    return TRUE;
  for (guint i = 0; caps->video_codecs != NULL && caps->video_codecs[i] != NULL; i++) {
    if (g_ascii_strcasecmp (caps->video_codecs[i], codec) == 0)
      return TRUE;
  }
  return FALSE;
}

WeEncoder *
we_plugin_host_encoder_for (WePluginHost *self, const gchar *video_codec, gboolean prefer_gpu,
                            const gchar **plugin_id)
{
  g_autoptr(GPtrArray) list = NULL;
  WePluginInfo *first = NULL;

  g_return_val_if_fail (WE_IS_PLUGIN_HOST (self), NULL);
  set_id (plugin_id, NULL);
  list = candidates (self, WE_PILLAR_ENCODER);
  for (guint i = 0; i < list->len; i++) {
    WePluginInfo *info = g_ptr_array_index (list, i);
    g_auto(WeEncoderCapabilities) caps = { 0 };

    we_encoder_get_capabilities (WE_ENCODER (info->instance), &caps);
    if (!encoder_has_codec (&caps, video_codec))
      continue;
    if (!prefer_gpu || caps.gpu_accelerated) {
      set_id (plugin_id, info);
      return WE_ENCODER (info->instance);
    }
    if (first == NULL)
      first = info;
  }
  /* no GPU encoder for this codec: any capable one will do */
  set_id (plugin_id, first);
  return first != NULL ? WE_ENCODER (first->instance) : NULL;
}

GPtrArray *
we_plugin_host_auth_providers (WePluginHost *self)
{
  g_autoptr(GPtrArray) list = NULL;
  GPtrArray *out = g_ptr_array_new_with_free_func (g_object_unref);

  g_return_val_if_fail (WE_IS_PLUGIN_HOST (self), out);
  list = candidates (self, WE_PILLAR_AUTH);
  for (guint i = 0; i < list->len; i++)
    g_ptr_array_add (out, g_object_ref (((WePluginInfo *) g_ptr_array_index (list, i))->instance));
  return out;
}

WeAuthProvider *
we_plugin_host_auth (WePluginHost *self, const gchar **plugin_id)
{
  g_autoptr(GPtrArray) list = NULL;
  WePluginInfo *info;

  g_return_val_if_fail (WE_IS_PLUGIN_HOST (self), NULL);
  list = candidates (self, WE_PILLAR_AUTH);
  info = list->len > 0 ? g_ptr_array_index (list, 0) : NULL;
  set_id (plugin_id, info);
  return info != NULL ? WE_AUTH_PROVIDER (info->instance) : NULL;
}
