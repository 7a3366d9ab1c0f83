/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Finds pillar modules in a directory, checks each manifest before opening
 * the module and the descriptor before calling into it, and instantiates the
 * modules with their configuration. A bad or incompatible module is logged
 * and recorded as disabled, never fatal. Routing between the loaded pillars
 * follows spec §6.4.
 */
#pragma once

#include <webencode/webencode.h>

G_BEGIN_DECLS

typedef enum {
  WE_PLUGIN_STATE_HEALTHY,
  WE_PLUGIN_STATE_DEGRADED,
  WE_PLUGIN_STATE_FAILED,
  WE_PLUGIN_STATE_DISABLED,
} WePluginState;

const gchar *we_plugin_state_to_string (WePluginState state);

typedef struct {
  gchar        *id;
  WePillarType  pillar;
  gchar        *version;
  guint         protocol_version;
  gchar       **config_keys;
  gchar        *manifest_path;
  gchar        *module_path;
  WePluginState state;
  gchar        *error;         /* why it is failed/disabled, nullable */
  GObject      *instance;      /* NULL unless healthy */
  gint          priority;      /* lower first when several could serve;
                                * manifest key Priority, default 100 */
  JsonObject   *config;        /* (nullable) what the config func gave it at
                                * load, before filtering to its keys */
  gint64        loaded_at;     /* unix µs it became healthy; 0: never */
} WePluginInfo;

/* What the API shows instead of the value of a secret-looking key, and
 * accepts back as "keep the value there is". */
#define WE_PLUGIN_SECRET_PLACEHOLDER "********"

/* TRUE for a plain key that looks like it holds a secret ("password",
 * "client_secret", "api_token", …); "*_ref" keys hold references to the
 * secrets backend (spec §6.5) and are not secrets themselves. */
gboolean we_plugin_config_key_is_secret (const gchar *key);

/* Supplies a plugin's configuration. Returns: (transfer full) (nullable) */
typedef JsonObject *(*WePluginConfigFunc) (const gchar *plugin_id,
                                           gpointer     user_data);

#define WE_TYPE_PLUGIN_HOST (we_plugin_host_get_type ())
G_DECLARE_FINAL_TYPE (WePluginHost, we_plugin_host, WE, PLUGIN_HOST, GObject)

WePluginHost  *we_plugin_host_new            (void);
void           we_plugin_host_set_config_func (WePluginHost       *self,
                                               WePluginConfigFunc  func,
                                               gpointer            user_data,
                                               GDestroyNotify      notify);
/* The secrets backend (spec §6.5) handed to modules whose descriptor has
 * create_with_secrets() (ABI minor 3); NULL: none configured. Call before
 * loading. */
void           we_plugin_host_set_secrets    (WePluginHost *self,
                                              WeSecrets    *secrets);
/* Returns: (transfer none) (nullable) */
WeSecrets     *we_plugin_host_get_secrets    (WePluginHost *self);
/* Only load modules of these pillars (the worker needs storage + encoder).
 * Default: all. */
void           we_plugin_host_set_pillar_filter (WePluginHost *self,
                                                 guint         pillar_mask);
/* Plugin ids not to load at all (e.g. [plugins] disabled=…); recorded as
 * disabled without opening their modules. Call before loading. */
void           we_plugin_host_set_disabled   (WePluginHost        *self,
                                              const gchar * const *ids);
/* Embedded defaults of a plugin: fill whatever neither the stored override
 * nor the config file sets. @defaults is copied. Call before loading. */
void           we_plugin_host_set_config_defaults (WePluginHost *self,
                                                   const gchar  *plugin_id,
                                                   JsonObject   *defaults);
/* The effective configuration: @file_config (nullable), then
 * @stored_override (nullable) key by key on top, where a null member removes
 * the key; then the embedded defaults fill what is missing.
 * Returns: (transfer full) */
JsonObject    *we_plugin_host_resolve_config (WePluginHost *self,
                                              const gchar  *plugin_id,
                                              JsonObject   *file_config,
                                              JsonObject   *stored_override);
/* TRUE when @plugin_id was in the we_plugin_host_set_disabled() list. */
gboolean       we_plugin_host_is_disabled    (WePluginHost *self,
                                              const gchar  *plugin_id);
/* Loads every "*.plugin" manifest in @dir and its sub-folders up to three
 * levels deep (so a build tree's plugins/<pillar>/<name>/ works as a plugin
 * dir), in sorted path order: the first healthy module of an id wins.
 * Returns the number of healthy modules; fails only when @dir cannot be read. */
guint          we_plugin_host_load_dir       (WePluginHost *self,
                                              const gchar  *dir,
                                              GError      **error);
/* Loads one manifest. FALSE with @error when refused (the info is still
 * recorded, as disabled). */
gboolean       we_plugin_host_load_manifest  (WePluginHost *self,
                                              const gchar  *manifest_path,
                                              GError      **error);

/* Returns: (transfer none) (element-type WePluginInfo) */
GPtrArray     *we_plugin_host_get_plugins    (WePluginHost *self);
/* Returns: (transfer none) (nullable) */
WePluginInfo  *we_plugin_host_get_plugin     (WePluginHost *self,
                                              const gchar  *id);
/* Returns: (transfer none) (nullable): the healthy instance */
GObject       *we_plugin_host_get_instance   (WePluginHost *self,
                                              const gchar  *id);

/* A fresh instance of the module behind @plugin_id, created with @config
 * (filtered to the module's keys, secrets backend as at load), owned by the
 * caller and unknown to routing: for trying out a configuration. Opens the
 * module when loading never did. Blocks (a plugin's create() may reach the
 * network): call it from a thread, once loading is done.
 * Returns: (transfer full) (nullable) */
GObject       *we_plugin_host_instantiate    (WePluginHost *self,
                                              const gchar  *plugin_id,
                                              JsonObject   *config,
                                              GError      **error);

/* Routing (spec §6.4). All return (transfer none) (nullable). */
WeStorage     *we_plugin_host_storage_for_url (WePluginHost *self,
                                               const gchar  *url,
                                               const gchar **plugin_id);
/* Where uploads and outputs go when nothing else is asked for. */
/* Names the storage plugin uploads and outputs go to; NULL (the default)
 * picks the first healthy storage that accepts uploads, by priority. */
void           we_plugin_host_set_default_storage_id (WePluginHost *self,
                                                      const gchar  *plugin_id);
WeStorage     *we_plugin_host_default_storage (WePluginHost *self,
                                               const gchar **plugin_id);
/* Returns: (transfer container) (element-type WePluginInfo): healthy storages */
GPtrArray     *we_plugin_host_list_storages  (WePluginHost *self);
WeEncoder     *we_plugin_host_encoder_for    (WePluginHost *self,
                                              const gchar  *video_codec,
                                              gboolean      prefer_gpu,
                                              const gchar **plugin_id);
/* Every healthy (then degraded) auth provider in priority order, referenced,
 * so a thread can keep using them. Returns: (transfer container)
 * (element-type WeAuthProvider) */
GPtrArray      *we_plugin_host_auth_providers (WePluginHost *self);
WeAuthProvider *we_plugin_host_auth          (WePluginHost *self,
                                              const gchar **plugin_id);

G_END_DECLS
