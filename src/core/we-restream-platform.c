/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Platform destinations of restreams: see we-restream-platform.h. The
 * publisher modules are asked through their action signals
 * "open-destination" (platform, JsonObject *options, GError **) → JsonObject *
 * and "live-transition" (broadcast id, status, GError **) → gboolean, both
 * blocking: every call here runs in a GTask thread, with the instance looked
 * up on the main loop beforehand. Opened URLs hold stream keys: they go into
 * the runner's in-memory configuration and nowhere else (never the store, a
 * log line or an error message).
 */
#include "config.h"

#include <string.h>

#include "common/we-json.h"
#include "common/we-log.h"
#include "core/we-restream.h"
#include "core/we-restream-platform.h"

#define DATA_KEY "we-restream-platform"

/* A YouTube broadcast made for one destination of one restream. */
typedef struct {
  gchar    *plugin_id;
  gchar    *broadcast_id;
  gboolean  live_sent;
} Broadcast;

typedef struct {
  WePluginHost *host;
  GMutex        lock;
  GHashTable   *broadcasts;   /* "<restream id>\n<dest id>" → Broadcast, under @lock */
} Registry;

static void
broadcast_free (gpointer data)
{
  Broadcast *b = data;

  g_free (b->plugin_id);
  g_free (b->broadcast_id);
  g_free (b);
}

static void
registry_clear (gpointer data)
{
  Registry *reg = data;

  g_clear_object (&reg->host);
  g_hash_table_unref (reg->broadcasts);
  g_mutex_clear (&reg->lock);
}

static void
registry_release (gpointer data)
{
  g_atomic_rc_box_release_full (data, registry_clear);
}

static Registry *
registry_of (GObject *manager)
{
  return manager != NULL ? g_object_get_data (manager, DATA_KEY) : NULL;
}

void
we_restream_platform_attach (GObject *manager, WePluginHost *host)
{
  Registry *reg = g_atomic_rc_box_new0 (Registry);

  g_return_if_fail (G_IS_OBJECT (manager) && WE_IS_PLUGIN_HOST (host));
  reg->host = g_object_ref (host);
  g_mutex_init (&reg->lock);
  reg->broadcasts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, broadcast_free);
  g_object_set_data_full (manager, DATA_KEY, reg, registry_release);
}

gboolean
we_restream_platform_is_placeholder (const gchar *url)
{
  return url != NULL && g_str_has_prefix (url, WE_RESTREAM_PLATFORM_SCHEME);
}

/* The publisher that opens @platform's destinations: publisher-<platform>
 * (publisher-youtube), else publisher-rtmp with its presets (twitch, kick,
 * rumble, rtmp, srt). Main loop or store thread: the host only reads.
 * Returns: (transfer full) (nullable) */
static GObject *
find_publisher (WePluginHost *host, const gchar *platform, gchar **plugin_id)
{
  g_autofree gchar *own = g_strconcat ("publisher-", platform, NULL);
  const gchar *ids[] = { own, "publisher-rtmp" };

  for (guint i = 0; host != NULL && i < G_N_ELEMENTS (ids); i++) {
    GObject *instance = we_plugin_host_get_instance (host, ids[i]);

    if (instance != NULL && g_signal_lookup ("open-destination", G_OBJECT_TYPE (instance)) != 0) {
      if (plugin_id != NULL)
        *plugin_id = g_strdup (ids[i]);
      return g_object_ref (instance);
    }
  }
  return NULL;
}

/* Blocks. Returns: (transfer full) (nullable) */
static JsonObject *
open_destination (GObject *instance, const gchar *platform, JsonObject *options, GError **error)
{
  JsonObject *result = NULL;
  GError *local = NULL;

  g_signal_emit_by_name (instance, "open-destination", platform, options, &local, &result);
  if (result == NULL) {
    if (local == NULL)
      local = g_error_new (WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                           "the publisher cannot stream to %s", platform);
    g_propagate_error (error, local);
  } else if (local != NULL) {
    g_error_free (local);
  }
  return result;
}

static const gchar *
platform_of (const gchar *placeholder)
{
  return placeholder + strlen (WE_RESTREAM_PLATFORM_SCHEME);
}

/* --- the API's check ------------------------------------------------------------ */

gboolean
we_restream_platform_check_all (WePluginHost *host, JsonArray *dests, GError **error)
{
  for (guint i = 0; dests != NULL && i < json_array_get_length (dests); i++) {
    JsonObject *d = json_array_get_object_element (dests, i);
    const gchar *platform = we_json_get_string (d, "platform");
    g_autoptr(GObject) instance = NULL;
    g_autoptr(JsonObject) options = NULL;
    g_autoptr(JsonObject) result = NULL;
    g_autoptr(GError) local = NULL;
    const gchar *url;

    if (!we_restream_platform_is_placeholder (we_json_get_string (d, "url_masked")))
      continue;
    instance = find_publisher (host, platform, NULL);
    if (instance == NULL) {
      g_set_error (error, WE_ERROR, WE_ERROR_RST_INVALID_DESTINATION,
                   "destination platform %s: no enabled publisher plugin streams to it "
                   "(publisher-%s, or publisher-rtmp for twitch, kick, rumble, rtmp, srt)",
                   platform, platform);
      return FALSE;
    }
    options = json_object_new ();
    json_object_set_boolean_member (options, "check", TRUE);
    result = open_destination (instance, platform, options, &local);
    if (result == NULL) {
      g_set_error (error, WE_ERROR, WE_ERROR_RST_INVALID_DESTINATION,
                   "destination platform %s: %s", platform, local->message);
      return FALSE;
    }
    url = we_json_get_string (result, "url");
    if (url != NULL) {
      g_autofree gchar *masked = we_restream_mask_url (url);

      json_object_set_string_member (d, "url_masked", masked);
      /* the open URL holds the key: wipe the answer's copy */
      memset ((gchar *) url, 0, strlen (url));
    } else {
      json_object_set_string_member (d, "url_masked", "****");
    }
  }
  return TRUE;
}

/* --- opening at run time ------------------------------------------------------------ */

typedef struct {
  gchar   *dest_id;
  gchar   *platform;
  gchar   *plugin_id;
  GObject *instance;   /* (nullable): none serves the platform */
} Item;

typedef struct {
  Registry              *reg;
  gchar                 *restream_id;
  gchar                 *title;
  gchar                 *description;
  GPtrArray             *items;
  JsonObject            *results;
  WeRestreamPlatformDone done;
  gpointer               user_data;
  /* dest_add: the destination to add once opened */
  GObject               *manager;
  gboolean               enabled;
} Resolve;

static void
item_free (gpointer data)
{
  Item *item = data;

  g_free (item->dest_id);
  g_free (item->platform);
  g_free (item->plugin_id);
  g_clear_object (&item->instance);
  g_free (item);
}

static void
wipe_results (JsonObject *results)
{
  JsonObjectIter iter;
  const gchar *key;
  JsonNode *node;

  json_object_iter_init (&iter, results);
  while (json_object_iter_next (&iter, &key, &node)) {
    const gchar *url = JSON_NODE_HOLDS_OBJECT (node)
                         ? we_json_get_string (json_node_get_object (node), "url") : NULL;

    if (url != NULL)
      memset ((gchar *) url, 0, strlen (url));
  }
}

static void
resolve_free (gpointer data)
{
  Resolve *job = data;

  registry_release (job->reg);
  g_free (job->restream_id);
  g_free (job->title);
  g_free (job->description);
  g_ptr_array_unref (job->items);
  if (job->results != NULL) {
    wipe_results (job->results);
    json_object_unref (job->results);
  }
  g_clear_object (&job->manager);
  g_free (job);
}

static void
resolve_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  Resolve *job = task_data;

  for (guint i = 0; i < job->items->len; i++) {
    Item *item = g_ptr_array_index (job->items, i);
    JsonObject *r = json_object_new ();
    g_autoptr(JsonObject) options = json_object_new ();
    g_autoptr(JsonObject) opened = NULL;
    g_autoptr(GError) error = NULL;

    json_object_set_object_member (job->results, item->dest_id, r);
    if (item->instance == NULL) {
      g_autofree gchar *msg = g_strdup_printf ("no enabled publisher plugin streams to %s",
                                               item->platform);

      json_object_set_string_member (r, "error", msg);
      continue;
    }
    if (job->title != NULL)
      json_object_set_string_member (options, "title", job->title);
    if (job->description != NULL)
      json_object_set_string_member (options, "description", job->description);
    opened = open_destination (item->instance, item->platform, options, &error);
    if (opened == NULL || we_json_get_string (opened, "url") == NULL) {
      g_autofree gchar *msg = g_strdup_printf ("%s: %s", item->platform,
                                               error != NULL ? error->message
                                                             : "the publisher made no URL");

      json_object_set_string_member (r, "error", msg);
      we_log (G_LOG_LEVEL_WARNING, job->restream_id, "WE-RST-004",
              "restream %s: destination %s cannot be opened: %s", job->restream_id,
              item->dest_id, msg);
      continue;
    }
    json_object_set_string_member (r, "url", we_json_get_string (opened, "url"));
    wipe_results (opened);
    if (we_json_get_string (opened, "broadcast_id") != NULL) {
      Broadcast *b = g_new0 (Broadcast, 1);

      b->plugin_id = g_strdup (item->plugin_id);
      b->broadcast_id = g_strdup (we_json_get_string (opened, "broadcast_id"));
      g_mutex_lock (&job->reg->lock);
      g_hash_table_replace (job->reg->broadcasts,
                            g_strconcat (job->restream_id, "\n", item->dest_id, NULL), b);
      g_mutex_unlock (&job->reg->lock);
      we_log (G_LOG_LEVEL_INFO, job->restream_id, NULL,
              "restream %s: destination %s streams to %s broadcast %s", job->restream_id,
              item->dest_id, item->platform, b->broadcast_id);
    }
  }
  g_task_return_boolean (task, TRUE);
}

static void
resolved_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Resolve *job = g_task_get_task_data (G_TASK (result));

  if (job->manager != NULL) {
    /* a destination added at run time */
    Item *item = g_ptr_array_index (job->items, 0);
    JsonObject *r = we_json_get_object (job->results, item->dest_id);
    const gchar *url = r != NULL ? we_json_get_string (r, "url") : NULL;

    if (url != NULL)
      we_restream_manager_dest_add (WE_RESTREAM_MANAGER (job->manager), job->restream_id,
                                    item->dest_id, url, job->enabled);
    return;
  }
  job->done (job->results, job->user_data);
}

static Resolve *
resolve_new (Registry *reg, const gchar *restream_id, JsonObject *config)
{
  Resolve *job = g_new0 (Resolve, 1);

  job->reg = g_atomic_rc_box_acquire (reg);
  job->restream_id = g_strdup (restream_id);
  job->title = g_strdup (we_json_get_string (config, "_title"));
  job->description = g_strdup (we_json_get_string (config, "_description"));
  job->items = g_ptr_array_new_with_free_func (item_free);
  job->results = json_object_new ();
  return job;
}

static void
resolve_add (Resolve *job, const gchar *dest_id, const gchar *placeholder)
{
  Item *item = g_new0 (Item, 1);

  item->dest_id = g_strdup (dest_id);
  item->platform = g_strdup (platform_of (placeholder));
  item->instance = find_publisher (job->reg->host, item->platform, &item->plugin_id);
  g_ptr_array_add (job->items, item);
}

static void
resolve_start (Resolve *job)
{
  g_autoptr(GTask) task = g_task_new (NULL, NULL, resolved_cb, NULL);

  g_task_set_name (task, "restream platform destinations");
  g_task_set_task_data (task, job, resolve_free);
  g_task_run_in_thread (task, resolve_thread);
}

gboolean
we_restream_platform_resolve (GObject *manager, const gchar *restream_id, JsonObject *config,
                              WeRestreamPlatformDone done, gpointer user_data)
{
  Registry *reg = registry_of (manager);
  JsonArray *dests = we_json_get_array (config, "destinations");
  JsonArray *unresolved = we_json_get_array (config, "_unresolved");
  Resolve *job;

  if (reg == NULL || dests == NULL)
    return FALSE;
  /* the spawn right after we_restream_platform_apply(): go on with what opened */
  if (json_object_has_member (config, "_opened")) {
    json_object_remove_member (config, "_opened");
    return FALSE;
  }
  /* what could not be opened at the last start is tried again (a worker
   * started again after it died) */
  for (guint i = 0; unresolved != NULL && i < json_array_get_length (unresolved); i++)
    json_array_add_object_element (dests, json_object_ref (
                                     json_array_get_object_element (unresolved, i)));
  if (unresolved != NULL)
    json_object_remove_member (config, "_unresolved");
  job = resolve_new (reg, restream_id, config);
  for (guint i = 0; i < json_array_get_length (dests); i++) {
    JsonObject *d = json_array_get_object_element (dests, i);
    const gchar *url = we_json_get_string (d, "url");

    if (we_restream_platform_is_placeholder (url))
      resolve_add (job, we_json_get_string (d, "id"), url);
  }
  if (job->items->len == 0) {
    resolve_free (job);
    return FALSE;
  }
  job->done = done;
  job->user_data = user_data;
  resolve_start (job);
  return TRUE;
}

void
we_restream_platform_apply (JsonObject *config, JsonObject *results, JsonObject *stats)
{
  JsonArray *dests = we_json_get_array (config, "destinations");
  JsonArray *unresolved = NULL;

  json_object_set_boolean_member (config, "_opened", TRUE);

  for (guint i = dests != NULL ? json_array_get_length (dests) : 0; i > 0; i--) {
    JsonObject *d = json_array_get_object_element (dests, i - 1);
    const gchar *id = we_json_get_string (d, "id");
    JsonObject *r = id != NULL ? we_json_get_object (results, id) : NULL;
    JsonObject *s;

    if (!we_restream_platform_is_placeholder (we_json_get_string (d, "url")))
      continue;
    if (r != NULL && we_json_get_string (r, "url") != NULL) {
      json_object_set_string_member (d, "url", we_json_get_string (r, "url"));
      continue;
    }
    if (unresolved == NULL) {
      unresolved = json_array_new ();
      json_object_set_array_member (config, "_unresolved", unresolved);
    }
    json_array_add_object_element (unresolved, json_object_ref (d));
    s = json_object_new ();
    json_object_set_string_member (s, "state", "error");
    json_object_set_boolean_member (s, "enabled", we_json_get_bool (d, "enabled", TRUE));
    json_object_set_double_member (s, "bitrate_kbps", 0);
    json_object_set_int_member (s, "bytes_acked", 0);
    json_object_set_double_member (s, "uptime_s", 0);
    json_object_set_int_member (s, "reconnects", 0);
    json_object_set_string_member (s, "last_error", r != NULL && we_json_get_string (r, "error")
                                                      ? we_json_get_string (r, "error")
                                                      : "the destination could not be opened");
    if (stats != NULL && id != NULL)
      json_object_set_object_member (stats, id, s);
    else
      json_object_unref (s);
    json_array_remove_element (dests, i - 1);
  }
}

gboolean
we_restream_platform_forget (JsonObject *config, const gchar *dest_id)
{
  JsonArray *unresolved = we_json_get_array (config, "_unresolved");

  for (guint i = 0; unresolved != NULL && i < json_array_get_length (unresolved); i++)
    if (g_strcmp0 (we_json_get_string (json_array_get_object_element (unresolved, i), "id"),
                   dest_id) == 0) {
      json_array_remove_element (unresolved, i);
      return TRUE;
    }
  return FALSE;
}

void
we_restream_platform_dest_add (GObject *manager, const gchar *restream_id, const gchar *dest_id,
                               const gchar *url, gboolean enabled, JsonObject *config)
{
  Registry *reg = registry_of (manager);
  Resolve *job;

  if (reg == NULL)
    return;
  /* opened here, or given up on: not again at the next start */
  if (config != NULL)
    we_restream_platform_forget (config, dest_id);
  job = resolve_new (reg, restream_id, config);
  job->manager = g_object_ref (manager);
  job->enabled = enabled;
  resolve_add (job, dest_id, url);
  resolve_start (job);
}

/* --- YouTube broadcasts ------------------------------------------------------------ */

typedef struct {
  GObject *instance;
  gchar   *restream_id;
  gchar   *broadcast_id;
  gchar   *status;
} Transition;

static void
transition_free (gpointer data)
{
  Transition *t = data;

  g_clear_object (&t->instance);
  g_free (t->restream_id);
  g_free (t->broadcast_id);
  g_free (t->status);
  g_free (t);
}

static void
transition_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  Transition *t = task_data;
  GError *error = NULL;
  gboolean ok = FALSE;

  g_signal_emit_by_name (t->instance, "live-transition", t->broadcast_id, t->status, &error, &ok);
  if (!ok)
    we_log (G_LOG_LEVEL_WARNING, t->restream_id, "WE-RST-006",
            "restream %s: broadcast %s did not go %s: %s", t->restream_id, t->broadcast_id,
            t->status, error != NULL ? error->message : "no reason given");
  g_clear_error (&error);
  g_task_return_boolean (task, ok);
}

static void
transition_start (Registry *reg, const gchar *restream_id, const gchar *plugin_id,
                  const gchar *broadcast_id, const gchar *status)
{
  GObject *instance = we_plugin_host_get_instance (reg->host, plugin_id);
  g_autoptr(GTask) task = NULL;
  Transition *t;

  if (instance == NULL || g_signal_lookup ("live-transition", G_OBJECT_TYPE (instance)) == 0) {
    we_log (G_LOG_LEVEL_WARNING, restream_id, "WE-RST-006",
            "restream %s: %s is gone: broadcast %s stays as it is", restream_id, plugin_id,
            broadcast_id);
    return;
  }
  t = g_new0 (Transition, 1);
  t->instance = g_object_ref (instance);
  t->restream_id = g_strdup (restream_id);
  t->broadcast_id = g_strdup (broadcast_id);
  t->status = g_strdup (status);
  task = g_task_new (NULL, NULL, NULL, NULL);
  g_task_set_name (task, "restream broadcast transition");
  g_task_set_task_data (task, t, transition_free);
  g_task_run_in_thread (task, transition_thread);
}

void
we_restream_platform_dest_state (GObject *manager, const gchar *restream_id,
                                 const gchar *dest_id, const gchar *state)
{
  Registry *reg = registry_of (manager);
  g_autofree gchar *key = NULL;
  g_autofree gchar *plugin_id = NULL;
  g_autofree gchar *broadcast_id = NULL;
  Broadcast *b;

  if (reg == NULL || g_strcmp0 (state, "live") != 0 || dest_id == NULL)
    return;
  key = g_strconcat (restream_id, "\n", dest_id, NULL);
  g_mutex_lock (&reg->lock);
  b = g_hash_table_lookup (reg->broadcasts, key);
  if (b != NULL && !b->live_sent) {
    b->live_sent = TRUE;
    plugin_id = g_strdup (b->plugin_id);
    broadcast_id = g_strdup (b->broadcast_id);
  }
  g_mutex_unlock (&reg->lock);
  if (broadcast_id != NULL)
    transition_start (reg, restream_id, plugin_id, broadcast_id, "live");
}

void
we_restream_platform_stopped (GObject *manager, const gchar *restream_id)
{
  Registry *reg = registry_of (manager);
  g_autofree gchar *prefix = NULL;
  g_autoptr(GPtrArray) done = NULL;
  GHashTableIter iter;
  gpointer key, value;

  if (reg == NULL)
    return;
  prefix = g_strconcat (restream_id, "\n", NULL);
  done = g_ptr_array_new_with_free_func (broadcast_free);
  g_mutex_lock (&reg->lock);
  g_hash_table_iter_init (&iter, reg->broadcasts);
  while (g_hash_table_iter_next (&iter, &key, &value))
    if (g_str_has_prefix (key, prefix)) {
      g_hash_table_iter_steal (&iter);
      g_free (key);
      g_ptr_array_add (done, value);
    }
  g_mutex_unlock (&reg->lock);
  for (guint i = 0; i < done->len; i++) {
    Broadcast *b = g_ptr_array_index (done, i);

    /* a broadcast that never went live cannot be completed: YouTube
     * drops unused ones by itself */
    if (b->live_sent)
      transition_start (reg, restream_id, b->plugin_id, b->broadcast_id, "complete");
  }
}
