/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "we-api-handlers.h"

/* Storage pillars may block on disk or network, so everything but the
 * capability flags runs in a thread and answers back on the main loop. */

static JsonObject *
entry_to_json (const gchar *plugin_id, const WeBrowseEntry *e, const gchar *storage_type)
{
  JsonObject *o = json_object_new ();

  if (plugin_id != NULL)
    json_object_set_string_member (o, "plugin_id", plugin_id);
  json_object_set_string_member (o, "name", e->name);
  json_object_set_string_member (o, "path", e->path);
  if (e->url != NULL)
    json_object_set_string_member (o, "url", e->url);
  if (storage_type != NULL) {
    json_object_set_string_member (o, "storage_type", storage_type);
    return o;
  }
  json_object_set_boolean_member (o, "is_directory", e->is_directory);
  json_object_set_int_member (o, "size", (gint64) e->size);
  json_object_set_int_member (o, "mod_time", e->mod_time);
  if (e->extension != NULL)
    json_object_set_string_member (o, "extension", e->extension);
  json_object_set_boolean_member (o, "is_video", e->is_video);
  json_object_set_boolean_member (o, "is_audio", e->is_audio);
  json_object_set_boolean_member (o, "is_image", e->is_image);
  return o;
}

void
we_api_files_capabilities (WeApiRequest *request)
{
  g_autoptr(GPtrArray) storages = we_plugin_host_list_storages (we_api_request_context (request)->host);
  JsonArray *array = json_array_new ();

  for (guint i = 0; i < storages->len; i++) {
    WePluginInfo *info = g_ptr_array_index (storages, i);
    WeStorageCapabilities caps;
    JsonObject *o = json_object_new ();

    we_storage_get_capabilities (WE_STORAGE (info->instance), &caps);
    json_object_set_string_member (o, "plugin_id", info->id);
    json_object_set_string_member (o, "storage_type", caps.storage_type);
    json_object_set_boolean_member (o, "supports_browse", caps.supports_browse);
    json_object_set_boolean_member (o, "supports_upload", caps.supports_upload);
    json_object_set_boolean_member (o, "supports_signed_urls", caps.supports_signed_urls);
    json_object_set_boolean_member (o, "supports_streaming", caps.supports_streaming);
    json_array_add_object_element (array, o);
  }
  we_api_request_respond_array (request, SOUP_STATUS_OK, array);
}

static void
json_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  WeApiRequest *request = user_data;
  g_autoptr(GError) error = NULL;
  JsonNode *node = g_task_propagate_pointer (G_TASK (result), &error);

  if (node == NULL) {
    we_api_request_respond_error (request, error);
    return;
  }
  we_api_request_respond_json (request, SOUP_STATUS_OK, node);
  json_node_unref (node);
}

static void
roots_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  WePluginHost *host = task_data;
  g_autoptr(GPtrArray) storages = we_plugin_host_list_storages (host);
  JsonArray *array = json_array_new ();

  for (guint i = 0; i < storages->len; i++) {
    WePluginInfo *info = g_ptr_array_index (storages, i);
    WeStorageCapabilities caps;
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) roots = NULL;

    we_storage_get_capabilities (WE_STORAGE (info->instance), &caps);
    if (!caps.supports_browse)
      continue;
    roots = we_storage_browse_roots (WE_STORAGE (info->instance), &error);
    if (roots == NULL) {
      g_warning ("listing roots of %s: %s", info->id, error->message);
      continue;
    }
    for (guint j = 0; j < roots->len; j++)
      json_array_add_object_element (array, entry_to_json (info->id, g_ptr_array_index (roots, j),
                                                           caps.storage_type));
  }
  g_task_return_pointer (task, json_node_init_array (json_node_alloc (), array),
                         (GDestroyNotify) json_node_unref);
  json_array_unref (array);
}

void
we_api_files_roots (WeApiRequest *request)
{
  g_autoptr(GTask) task = g_task_new (request->server, NULL, json_done_cb, request);

  g_task_set_source_tag (task, we_api_files_roots);
  g_task_set_task_data (task, g_object_ref (we_api_request_context (request)->host),
                        g_object_unref);
  g_task_run_in_thread (task, roots_thread);
}

typedef struct {
  WeStorage      *storage;
  gchar          *plugin_id;
  gchar          *path;
  gchar          *search;
  WeBrowseOptions options;
} BrowseData;

static void
browse_data_free (BrowseData *d)
{
  g_object_unref (d->storage);
  g_free (d->plugin_id);
  g_free (d->path);
  g_free (d->search);
  g_free (d);
}

static void
browse_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  BrowseData *d = task_data;
  GError *error = NULL;
  g_autoptr(WeBrowseResult) result = NULL;
  JsonObject *o;
  JsonArray *entries;

  d->options.search_query = d->search;
  result = we_storage_browse (d->storage, d->path, &d->options, &error);
  if (result == NULL) {
    g_task_return_error (task, error);
    return;
  }
  o = json_object_new ();
  json_object_set_string_member (o, "plugin_id", d->plugin_id);
  json_object_set_string_member (o, "current_path", result->current_path);
  if (result->parent_path != NULL)
    json_object_set_string_member (o, "parent_path", result->parent_path);
  else
    json_object_set_null_member (o, "parent_path");
  entries = json_array_new ();
  for (guint i = 0; result->entries != NULL && i < result->entries->len; i++)
    json_array_add_object_element (entries, entry_to_json (NULL, g_ptr_array_index (result->entries, i),
                                                           NULL));
  json_object_set_array_member (o, "entries", entries);
  g_task_return_pointer (task, json_node_init_object (json_node_alloc (), o),
                         (GDestroyNotify) json_node_unref);
  json_object_unref (o);
}

static gboolean
query_bool (WeApiRequest *request, const gchar *name)
{
  const gchar *v = we_api_request_query (request, name);
  return v != NULL && (g_ascii_strcasecmp (v, "true") == 0 || g_strcmp0 (v, "1") == 0);
}

void
we_api_files_browse (WeApiRequest *request)
{
  const WeApiContext *ctx = we_api_request_context (request);
  const gchar *plugin_id = we_api_request_query (request, "plugin");
  const gchar *path = we_api_request_query (request, "path");
  GObject *instance = NULL;
  g_autoptr(GTask) task = NULL;
  g_autoptr(GError) error = NULL;
  BrowseData *d;

  if (plugin_id == NULL || *plugin_id == '\0') {
    g_autoptr(GPtrArray) storages = we_plugin_host_list_storages (ctx->host);
    for (guint i = 0; i < storages->len && instance == NULL; i++) {
      WePluginInfo *info = g_ptr_array_index (storages, i);
      WeStorageCapabilities caps;
      we_storage_get_capabilities (WE_STORAGE (info->instance), &caps);
      if (caps.supports_browse) {
        instance = info->instance;
        plugin_id = info->id;
      }
    }
  } else {
    instance = we_plugin_host_get_instance (ctx->host, plugin_id);
  }
  if (instance == NULL || !WE_IS_STORAGE (instance)) {
    g_set_error (&error, WE_ERROR, WE_ERROR_PLG_NOT_FOUND, "no storage plugin \"%s\"",
                 plugin_id ? plugin_id : "");
    we_api_request_respond_error (request, error);
    return;
  }
  if (path == NULL || *path == '\0' || strlen (path) > 4096) {
    g_set_error_literal (&error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                         "query parameter path is required (see GET /v1/files/roots)");
    we_api_request_respond_error (request, error);
    return;
  }
  d = g_new0 (BrowseData, 1);
  d->storage = WE_STORAGE (g_object_ref (instance));
  d->plugin_id = g_strdup (plugin_id);
  d->path = g_strdup (path);
  d->search = g_strdup (we_api_request_query (request, "search"));
  d->options.media_only = query_bool (request, "media_only");
  d->options.show_hidden = query_bool (request, "show_hidden");
  task = g_task_new (request->server, NULL, json_done_cb, request);
  g_task_set_source_tag (task, we_api_files_browse);
  g_task_set_task_data (task, d, (GDestroyNotify) browse_data_free);
  g_task_run_in_thread (task, browse_thread);
}
