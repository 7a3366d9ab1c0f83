/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The pillar module ABI. A module is a shared object exporting exactly one
 * symbol, we_plugin_get_descriptor(), next to a manifest key file
 * "<module>.plugin":
 *
 *   [Plugin]
 *   Id=storage-fs
 *   Type=storage                 # auth | storage | encoder | live | publisher
 *   Version=0.1.0
 *   ProtocolVersion=1            # must equal WE_PLUGIN_PROTOCOL_VERSION
 *   Module=we-storage-fs         # file name without "lib" and ".so"
 *   ConfigKeys=root;browse_roots;
 *
 * The host reads and checks the manifest before it opens the module, then
 * checks the descriptor's ABI again (like gst_plugin_check_version) before
 * calling anything else in it.
 */
#pragma once

#include <gmodule.h>
#include <json-glib/json-glib.h>

#include "we-error.h"
#include "we-profile.h"
#include "we-media-info.h"
#include "we-storage.h"
#include "we-encoder.h"
#include "we-auth.h"
#include "we-live.h"
#include "we-publisher.h"
#include "we-secrets.h"

G_BEGIN_DECLS

#define WE_PLUGIN_PROTOCOL_VERSION 1
/* 1: WeEncoder gained scan/stitch and WeEncodeRequest.mode */
/* 2: WeEncoder gained package
 * 3: WePluginDescriptor.create_with_secrets, WeAuthProvider login vfuncs
 * 4: pipeline_func/pipeline_data at the end of WeEncodeRequest,
 *    WeStitchRequest and WePackageRequest (pipeline introspection)
 * 5: WeLiveEngine start/stop/set_publish_decider/get_port and its
 *    stream-started/stream-ended/telemetry signals (the live pillar)
 * 6: WePublishRequest gained storage, thumbnail_url, category_id,
 *    publish_at and progress at its end (the publisher pillar) */
#define WE_PLUGIN_ABI_MINOR        6

typedef enum {
  WE_PILLAR_AUTH,
  WE_PILLAR_STORAGE,
  WE_PILLAR_ENCODER,
  WE_PILLAR_LIVE,
  WE_PILLAR_PUBLISHER,
  WE_PILLAR_LAST
} WePillarType;

const gchar *we_pillar_type_to_string   (WePillarType type);
gboolean     we_pillar_type_from_string (const gchar  *str,
                                         WePillarType *type);
/* The GInterface an instance of @type must implement. */
GType        we_pillar_type_get_gtype   (WePillarType type);

typedef struct {
  guint32              protocol_version;  /* WE_PLUGIN_PROTOCOL_VERSION */
  guint32              abi_minor;         /* WE_PLUGIN_ABI_MINOR */
  const gchar         *id;
  WePillarType         pillar;
  const gchar         *version;
  const gchar * const *config_keys;       /* NULL-terminated */
  /* Builds a configured instance implementing the pillar's interface.
   * @config holds only keys from config_keys; errors are
   * WE_ERROR_PLG_INVALID_CONFIG. */
  GObject           *(*create)            (JsonObject *config,
                                           GError    **error);
  /* ABI minor 3, optional: called instead of create() with the service's
   * secrets backend (nullable when none is configured), which the instance
   * may keep to resolve "*_secret_ref"/"*_token_ref" keys when it needs
   * them (we_plugin_config_get_secret()). */
  GObject           *(*create_with_secrets) (JsonObject *config,
                                             WeSecrets  *secrets,
                                             GError    **error);
  gpointer             reserved[7];
} WePluginDescriptor;

typedef const WePluginDescriptor *(*WePluginGetDescriptorFunc) (void);

#define WE_PLUGIN_SYMBOL "we_plugin_get_descriptor"

/* Declares the one exported entry point of a module. */
#define WE_PLUGIN_DEFINE(descriptor_var)                                  \
  G_MODULE_EXPORT const WePluginDescriptor *we_plugin_get_descriptor (void); \
  G_MODULE_EXPORT const WePluginDescriptor *we_plugin_get_descriptor (void) \
  {                                                                       \
    return &(descriptor_var);                                             \
  }

/* Config helpers for create(): typed reads with defaults. */
const gchar *we_plugin_config_get_string  (JsonObject  *config,
                                           const gchar *key,
                                           const gchar *default_value);
gint64       we_plugin_config_get_int     (JsonObject  *config,
                                           const gchar *key,
                                           gint64       default_value);
gboolean     we_plugin_config_get_boolean (JsonObject  *config,
                                           const gchar *key,
                                           gboolean     default_value);
/* Accepts a JSON array of strings or one string separated by ';' or ','.
 * Returns: (transfer full) (nullable) */
gchar      **we_plugin_config_get_strv    (JsonObject  *config,
                                           const gchar *key);

G_END_DECLS
