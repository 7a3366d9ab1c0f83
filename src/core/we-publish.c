/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The kernel's publish runner: see we-publish.h. Everything here runs on the
 * main loop except the functions named *_thread, which run on the store's
 * thread (we_store_call_async), and progress_cb, which the publisher module
 * calls from its upload thread.
 */
#include "config.h"

#include <string.h>

#include "common/we-json.h"
#include "common/we-log.h"
#include "we-publish.h"
#include "we-webhooks.h"

#define PROGRESS_TICK_MS        500
#define PROGRESS_STORE_EVERY_US (2 * G_USEC_PER_SEC)
#define MAX_BACKOFF_MS          (10 * 60 * 1000)

static const gchar *const request_members[] = {
  "platform", "plugin", "output", "title", "description", "tags", "privacy", "publish_at",
  "category_id", "thumbnail", NULL,
};

/* --- requests ------------------------------------------------------------ */

static gboolean
platform_name_ok (const gchar *s)
{
  gsize n = strlen (s);

  if (n == 0 || n > 32)
    return FALSE;
  for (const gchar *p = s; *p; p++)
    if (!g_ascii_islower (*p) && !g_ascii_isdigit (*p) && *p != '-' && *p != '_')
      return FALSE;
  return TRUE;
}

static gboolean
plugin_usable (WePluginInfo *info)
{
  return info != NULL && info->pillar == WE_PILLAR_PUBLISHER &&
         (info->state == WE_PLUGIN_STATE_HEALTHY || info->state == WE_PLUGIN_STATE_DEGRADED);
}

/* The publisher for @platform: publisher-<platform>, the healthy one of
 * lowest priority when several modules claim the same id's platform. */
static const gchar *
default_plugin (WePluginHost *host, const gchar *platform)
{
  g_autofree gchar *want = g_strconcat ("publisher-", platform, NULL);
  GPtrArray *plugins = we_plugin_host_get_plugins (host);
  WePluginInfo *best = NULL;

  for (guint i = 0; plugins != NULL && i < plugins->len; i++) {
    WePluginInfo *info = g_ptr_array_index (plugins, i);

    if (!plugin_usable (info) || !g_str_equal (info->id, want))
      continue;
    if (best == NULL || info->priority < best->priority)
      best = info;
  }
  return best != NULL ? best->id : NULL;
}

/* A string member that may be absent or null; a problem when it is
 * something else or longer than @max characters. */
static const gchar *
optional_string (JsonObject *body, const gchar *name, guint max, GPtrArray *problems)
{
  JsonNode *node = json_object_get_member (body, name);
  const gchar *s;

  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return NULL;
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING) {
    g_ptr_array_add (problems, g_strdup_printf ("\"%s\" must be a string", name));
    return NULL;
  }
  s = json_node_get_string (node);
  if (!g_utf8_validate (s, -1, NULL) || g_utf8_strlen (s, -1) > (glong) max) {
    g_ptr_array_add (problems, g_strdup_printf ("\"%s\" is longer than %u characters", name, max));
    return NULL;
  }
  return s;
}

static void
set_string_or_null (JsonObject *o, const gchar *name, const gchar *value)
{
  if (value != NULL)
    json_object_set_string_member (o, name, value);
  else
    json_object_set_null_member (o, name);
}

JsonObject *
we_publish_parse_request (WePluginHost *host, JsonObject *body, GError **error)
{
  g_autoptr(GPtrArray) problems = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(JsonObject) out = json_object_new ();
  g_autoptr(GList) members = json_object_get_members (body);
  g_autoptr(JsonArray) tags = json_array_new ();
  g_autofree gchar *category = NULL;
  const gchar *platform, *plugin, *privacy, *publish_at, *title;
  JsonNode *node;

  for (GList *l = members; l != NULL; l = l->next)
    if (!g_strv_contains (request_members, l->data))
      g_ptr_array_add (problems, g_strdup_printf ("unknown member \"%s\"",
                                                  (const gchar *) l->data));

  platform = optional_string (body, "platform", 32, problems);
  if (platform == NULL && !json_object_has_member (body, "platform"))
    g_ptr_array_add (problems, g_strdup ("\"platform\" is required"));
  else if (platform != NULL && !platform_name_ok (platform))
    g_ptr_array_add (problems, g_strdup ("\"platform\" must be a lower-case name "
                                         "(letters, digits, '-', '_')"));
  plugin = optional_string (body, "plugin", 64, problems);
  title = optional_string (body, "title", WE_PUBLISH_MAX_TITLE, problems);
  if (title == NULL || *title == '\0')
    g_ptr_array_add (problems, g_strdup_printf ("\"title\" is required (1 to %d characters)",
                                                WE_PUBLISH_MAX_TITLE));
  set_string_or_null (out, "output", optional_string (body, "output", WE_PUBLISH_MAX_URL,
                                                      problems));
  set_string_or_null (out, "description",
                      optional_string (body, "description", WE_PUBLISH_MAX_DESCRIPTION,
                                       problems));
  set_string_or_null (out, "thumbnail", optional_string (body, "thumbnail", WE_PUBLISH_MAX_URL,
                                                         problems));

  node = json_object_get_member (body, "tags");
  if (node != NULL && !JSON_NODE_HOLDS_NULL (node)) {
    JsonArray *array = JSON_NODE_HOLDS_ARRAY (node) ? json_node_get_array (node) : NULL;
    glong chars = 0;

    if (array == NULL || json_array_get_length (array) > WE_PUBLISH_MAX_TAGS) {
      g_ptr_array_add (problems, g_strdup_printf ("\"tags\" must be an array of at most %d "
                                                  "strings", WE_PUBLISH_MAX_TAGS));
    } else {
      for (guint i = 0; i < json_array_get_length (array); i++) {
        JsonNode *t = json_array_get_element (array, i);
        const gchar *s;

        if (!JSON_NODE_HOLDS_VALUE (t) || json_node_get_value_type (t) != G_TYPE_STRING ||
            !g_utf8_validate ((s = json_node_get_string (t)), -1, NULL) || *s == '\0') {
          g_ptr_array_add (problems, g_strdup_printf ("tags[%u] must be a non-empty string", i));
          break;
        }
        chars += g_utf8_strlen (s, -1);
        json_array_add_string_element (tags, s);
      }
      if (chars > WE_PUBLISH_MAX_TAG_CHARS)
        g_ptr_array_add (problems, g_strdup_printf ("\"tags\" hold more than %d characters",
                                                    WE_PUBLISH_MAX_TAG_CHARS));
    }
  }

  privacy = optional_string (body, "privacy", 16, problems);
  if (privacy != NULL && !g_str_equal (privacy, "private") && !g_str_equal (privacy, "unlisted") &&
      !g_str_equal (privacy, "public"))
    g_ptr_array_add (problems, g_strdup ("\"privacy\" must be private, unlisted or public"));

  publish_at = optional_string (body, "publish_at", 64, problems);
  if (publish_at != NULL) {
    g_autoptr(GDateTime) when = g_date_time_new_from_iso8601 (publish_at, NULL);

    if (when == NULL)
      g_ptr_array_add (problems, g_strdup ("\"publish_at\" must be an RFC 3339 time with a "
                                           "zone, or null"));
  }

  node = json_object_get_member (body, "category_id");
  if (node != NULL && JSON_NODE_HOLDS_VALUE (node) &&
      json_node_get_value_type (node) == G_TYPE_INT64 && json_node_get_int (node) >= 0) {
    category = g_strdup_printf ("%" G_GINT64_FORMAT, json_node_get_int (node));
  } else {
    const gchar *s = optional_string (body, "category_id", 32, problems);

    if (s != NULL) {
      for (const gchar *p = s; *p; p++)
        if (!g_ascii_isalnum (*p) && *p != '-' && *p != '_') {
          g_ptr_array_add (problems, g_strdup ("\"category_id\" must be a platform category "
                                               "id such as \"22\""));
          s = NULL;
          break;
        }
      category = g_strdup (s);
    }
  }

  if (problems->len > 0) {
    g_autofree gchar *all = NULL;

    g_ptr_array_add (problems, NULL);
    all = g_strjoinv ("; ", (gchar **) problems->pdata);
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST, "invalid publish request: %s",
                 all);
    return NULL;
  }

  if (plugin != NULL) {
    if (!plugin_usable (we_plugin_host_get_plugin (host, plugin))) {
      g_set_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                   "%s is not an enabled publisher plugin", plugin);
      return NULL;
    }
  } else {
    plugin = default_plugin (host, platform);
    if (plugin == NULL) {
      g_set_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                   "no enabled publisher plugin publishes to %s", platform);
      return NULL;
    }
  }
  json_object_set_string_member (out, "platform", platform);
  json_object_set_string_member (out, "plugin", plugin);
  json_object_set_string_member (out, "title", title);
  json_object_set_array_member (out, "tags", g_steal_pointer (&tags));
  set_string_or_null (out, "privacy", privacy);
  set_string_or_null (out, "publish_at", publish_at);
  set_string_or_null (out, "category_id", category);
  return g_steal_pointer (&out);
}

JsonArray *
we_publish_parse_targets (WePluginHost *host, JsonNode *node, GError **error)
{
  g_autoptr(JsonArray) out = json_array_new ();

  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return g_steal_pointer (&out);
  if (JSON_NODE_HOLDS_ARRAY (node)) {
    JsonArray *array = json_node_get_array (node);

    if (json_array_get_length (array) > WE_PUBLISH_MAX_PER_JOB) {
      g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                   "\"publish\" holds more than %d targets", WE_PUBLISH_MAX_PER_JOB);
      return NULL;
    }
    for (guint i = 0; i < json_array_get_length (array); i++) {
      JsonNode *t = json_array_get_element (array, i);
      JsonObject *target;

      if (!JSON_NODE_HOLDS_OBJECT (t)) {
        g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                     "publish[%u] must be an object", i);
        return NULL;
      }
      target = we_publish_parse_request (host, json_node_get_object (t), error);
      if (target == NULL) {
        g_prefix_error (error, "publish[%u]: ", i);
        return NULL;
      }
      json_array_add_object_element (out, target);
    }
    return g_steal_pointer (&out);
  }
  if (JSON_NODE_HOLDS_OBJECT (node)) {
    /* the spec's form: {"youtube": {"title": …, "privacy": …}} */
    JsonObject *by_platform = json_node_get_object (node);
    g_autoptr(GList) platforms = json_object_get_members (by_platform);

    if (g_list_length (platforms) > WE_PUBLISH_MAX_PER_JOB) {
      g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                   "\"publish\" holds more than %d targets", WE_PUBLISH_MAX_PER_JOB);
      return NULL;
    }
    for (GList *l = platforms; l != NULL; l = l->next) {
      JsonNode *t = json_object_get_member (by_platform, l->data);
      g_autoptr(JsonObject) body = NULL;
      JsonObject *target;

      if (!JSON_NODE_HOLDS_OBJECT (t)) {
        g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                     "publish.%s must be an object", (const gchar *) l->data);
        return NULL;
      }
      body = we_json_object_copy (json_node_get_object (t));
      json_object_set_string_member (body, "platform", l->data);
      target = we_publish_parse_request (host, body, error);
      if (target == NULL) {
        g_prefix_error (error, "publish.%s: ", (const gchar *) l->data);
        return NULL;
      }
      json_array_add_object_element (out, target);
    }
    return g_steal_pointer (&out);
  }
  g_set_error_literal (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                       "\"publish\" must be an array of publish requests");
  return NULL;
}

/* --- documents ----------------------------------------------------------- */

/* Members of a document the API does not show: when the next attempt may
 * start, the kernel that runs the upload, the owner, the creation time. */
#define DOC_NEXT_AT  "_next_at"
#define DOC_OWNER    "_owner"
#define DOC_CREATED  "_created_us"
#define DOC_USER     "_user_id"

static void
doc_touch (JsonObject *doc)
{
  g_autofree gchar *now = we_time_format (g_get_real_time ());

  json_object_set_string_member (doc, "updated_at", now);
}

JsonObject *
we_publication_new (const gchar *job_id, JsonObject *request, const gchar *user_id)
{
  JsonObject *doc = we_json_object_copy (request);
  g_autofree gchar *id = we_uuid_new ();
  gint64 now = g_get_real_time ();
  g_autofree gchar *stamp = we_time_format (now);

  json_object_set_string_member (doc, "id", id);
  json_object_set_string_member (doc, "job_id", job_id);
  json_object_set_string_member (doc, "status", "queued");
  json_object_set_double_member (doc, "progress", 0.0);
  json_object_set_int_member (doc, "attempts", 0);
  json_object_set_null_member (doc, "public_url");
  json_object_set_null_member (doc, "platform_id");
  json_object_set_null_member (doc, "last_error");
  json_object_set_string_member (doc, "created_at", stamp);
  json_object_set_string_member (doc, "updated_at", stamp);
  json_object_set_int_member (doc, DOC_CREATED, now);
  json_object_set_int_member (doc, DOC_NEXT_AT, 0);
  set_string_or_null (doc, DOC_USER, user_id);
  return doc;
}

gboolean
we_publication_store (WeStore *store, JsonObject *doc, GError **error)
{
  g_autoptr(JsonNode) node = json_node_init_object (json_node_alloc (), doc);
  g_autofree gchar *text = json_to_string (node, FALSE);

  return we_store_publication_put (store, we_json_get_string (doc, "id"),
                                   we_json_get_string (doc, "job_id"),
                                   we_json_get_string (doc, "status"),
                                   we_json_get_int (doc, DOC_CREATED, g_get_real_time ()),
                                   g_get_real_time (), text, error);
}

JsonObject *
we_publication_parse (const gchar *text, GError **error)
{
  g_autoptr(JsonParser) parser = json_parser_new ();

  if (!json_parser_load_from_data (parser, text, -1, error) ||
      !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser))) {
    g_clear_error (error);
    g_set_error_literal (error, WE_ERROR, WE_ERROR_SYS_DATABASE,
                         "a stored publication is not a JSON object");
    return NULL;
  }
  return json_object_ref (json_node_get_object (json_parser_get_root (parser)));
}

JsonObject *
we_publication_to_api (JsonObject *doc)
{
  JsonObject *out = json_object_new ();
  g_autoptr(GList) members = json_object_get_members (doc);

  for (GList *l = members; l != NULL; l = l->next) {
    const gchar *name = l->data;

    if (name[0] != '_')
      json_object_set_member (out, name, json_node_copy (json_object_get_member (doc, name)));
  }
  return out;
}

static void
doc_set_error (JsonObject *doc, const GError *error)
{
  JsonObject *e = json_object_new ();

  json_object_set_string_member (e, "code",
                                 we_error_code_to_string (we_error_code_from_gerror (error)));
  json_object_set_string_member (e, "message", error->message);
  json_object_set_object_member (doc, "last_error", e);
}

/* --- the runner ---------------------------------------------------------- */

struct _WePublishRunner {
  GObject       parent_instance;
  WeStore      *store;
  WePluginHost *host;
  WeScheduler  *scheduler;
  gulong        transition_id;
  WeWebhooks   *webhooks;
  gchar        *kernel_id;
  guint         max_attempts;
  guint         concurrency;
  guint         retry_base_ms;
  guint         poll_ms;
  guint         stale_s;      /* an owner silent this long is dead: three beats */
  GHashTable   *running;      /* publication id → Run */
  GHashTable   *busy;         /* plugin id → uploads in flight */
  guint         poll_id;
  guint         progress_id;
  gboolean      polling;
  gboolean      poll_again;
  gboolean      requeue_pending;  /* start(): queue again what we left uploading */
  gboolean      stopped;
  GCancellable *cancellable;
  GMainContext *context;      /* where progress from upload threads goes */
};

G_DEFINE_TYPE (WePublishRunner, we_publish_runner, G_TYPE_OBJECT)

enum { SIGNAL_CHANGED, SIGNAL_LAST };
static guint signals[SIGNAL_LAST];

typedef struct {
  WePublishRunner *self;
  gchar           *id;        /* for the upload thread, which must not read @doc */
  JsonObject      *doc;
  gchar           *plugin;
  gchar           *source_url;
  gchar           *thumbnail_url;
  gchar          **tags;
  GObject         *publisher;
  WePublishRequest req;
  GMutex           lock;      /* sent/total/dirty: written by the upload thread */
  guint64          sent;
  guint64          total;
  gboolean         dirty;
  gboolean         flush_pending;  /* a flush_idle is on its way */
  gint64           stored_at;
  gint64           announced_at;
} Run;

static void
run_free (Run *run)
{
  g_clear_object (&run->self);
  g_free (run->id);
  g_clear_pointer (&run->doc, json_object_unref);
  g_free (run->plugin);
  g_free (run->source_url);
  g_free (run->thumbnail_url);
  g_strfreev (run->tags);
  g_clear_object (&run->publisher);
  g_mutex_clear (&run->lock);
  g_free (run);
}

static void announce (WePublishRunner *self, JsonObject *doc);
static void schedule_poll (WePublishRunner *self, guint delay_ms);

static gpointer
store_doc_thread (WeStore *store, gpointer data, GError **error)
{
  we_publication_store (store, data, error);
  return NULL;
}

static void
stored_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GError) error = NULL;

  we_store_call_finish (WE_STORE (source), result, &error);
  if (error != NULL)
    we_log (G_LOG_LEVEL_WARNING, NULL, "WE-SYS-002", "storing a publication: %s",
            error->message);
}

/* Writes a copy of @doc (the store's thread must not share it). */
static void
write_doc (WePublishRunner *self, JsonObject *doc)
{
  doc_touch (doc);
  we_store_call_async (self->store, store_doc_thread, we_json_object_copy (doc),
                       (GDestroyNotify) json_object_unref, NULL, NULL, stored_cb, NULL);
}

static gpointer
audit_thread (WeStore *store, gpointer data, GError **error)
{
  we_store_audit_add (store, data, error);
  return NULL;
}

static void
finished (WePublishRunner *self, JsonObject *doc)
{
  gboolean ok = g_strcmp0 (we_json_get_string (doc, "status"), "completed") == 0;
  const gchar *job_id = we_json_get_string (doc, "job_id");
  WeAuditEntry *e = we_audit_entry_new ();
  JsonObject *err = we_json_get_object (doc, "last_error");

  e->user_id = g_strdup (we_json_get_string (doc, DOC_USER));
  e->action = g_strdup (ok ? "publish.completed" : "publish.failed");
  e->resource_type = g_strdup ("publication");
  e->resource_id = g_strdup (we_json_get_string (doc, "id"));
  e->success = ok;
  if (!ok && err != NULL)
    e->error_code = g_strdup (we_json_get_string (err, "code"));
  we_store_call_async (self->store, audit_thread, e, (GDestroyNotify) we_audit_entry_free, NULL,
                       NULL, stored_cb, NULL);
  if (self->webhooks != NULL) {
    g_autoptr(JsonObject) data = we_publication_to_api (doc);

    we_webhooks_emit (self->webhooks, ok ? "publish.completed" : "publish.failed", job_id, data,
                      NULL);
  }
  we_log (ok ? G_LOG_LEVEL_INFO : G_LOG_LEVEL_WARNING, job_id,
          ok ? NULL : (err != NULL ? we_json_get_string (err, "code") : NULL),
          "publication %s to %s %s%s%s", we_json_get_string (doc, "id"),
          we_json_get_string (doc, "platform"), ok ? "completed: " : "failed: ",
          ok ? we_json_get_string (doc, "public_url") : "",
          !ok && err != NULL ? we_json_get_string (err, "message") : "");
}

static gboolean
is_transient (const GError *error)
{
  if (error->domain == WE_ERROR) {
    switch (error->code) {
    case WE_ERROR_PLG_DEGRADED:
    case WE_ERROR_PLG_CRASHED:
    case WE_ERROR_STO_UNAVAILABLE:
    case WE_ERROR_SYS_DATABASE:
    case WE_ERROR_SYS_QUEUE:
    case WE_ERROR_SYS_UNAVAILABLE:
    case WE_ERROR_SYS_RATE_LIMITED:
      return TRUE;
    default:
      return FALSE;
    }
  }
  /* the network itself: resolver, TLS, sockets */
  return error->domain == G_IO_ERROR || error->domain == G_RESOLVER_ERROR ||
         error->domain == G_TLS_ERROR;
}

static guint
backoff_ms (WePublishRunner *self, gint64 attempts)
{
  guint64 ms = self->retry_base_ms;

  for (gint64 i = 1; i < attempts && ms < MAX_BACKOFF_MS; i++)
    ms *= 2;
  return (guint) MIN (ms, MAX_BACKOFF_MS);
}

/* An attempt ended with @error: queued again with backoff while attempts
 * remain and the error may pass, failed otherwise. */
static void
attempt_failed (WePublishRunner *self, JsonObject *doc, const GError *error)
{
  gint64 attempts = we_json_get_int (doc, "attempts", 1);

  doc_set_error (doc, error);
  if (is_transient (error) && attempts < (gint64) self->max_attempts) {
    guint delay = backoff_ms (self, attempts);

    json_object_set_string_member (doc, "status", "queued");
    json_object_set_int_member (doc, DOC_NEXT_AT, g_get_real_time () + (gint64) delay * 1000);
    we_log (G_LOG_LEVEL_INFO, we_json_get_string (doc, "job_id"), NULL,
            "publication %s: attempt %" G_GINT64_FORMAT " failed (%s), again in %u ms",
            we_json_get_string (doc, "id"), attempts, error->message, delay);
    write_doc (self, doc);
    announce (self, doc);
    schedule_poll (self, delay + 50);
    return;
  }
  json_object_set_string_member (doc, "status", "failed");
  write_doc (self, doc);
  announce (self, doc);
  finished (self, doc);
}

static void
announce (WePublishRunner *self, JsonObject *doc)
{
  g_autoptr(JsonObject) api = we_publication_to_api (doc);

  g_signal_emit (self, signals[SIGNAL_CHANGED], 0, api);
}

/* Announces @run's progress when it changed and the last announcement is
 * PROGRESS_TICK_MS old (or @force); stores it every PROGRESS_STORE_EVERY_US. */
static void
progress_flush (WePublishRunner *self, Run *run, gboolean force)
{
  gint64 now = g_get_monotonic_time ();
  gboolean dirty;
  gdouble progress = 0.0;

  if (!force && now - run->announced_at < PROGRESS_TICK_MS * 1000)
    return;   /* the tick takes it */
  g_mutex_lock (&run->lock);
  dirty = run->dirty;
  run->dirty = FALSE;
  if (run->total > 0)
    progress = (gdouble) run->sent / (gdouble) run->total;
  g_mutex_unlock (&run->lock);
  if (!dirty)
    return;
  /* the last chunk is acknowledged before the video resource (and the
   * thumbnail) are done: 1.0 is for completed */
  json_object_set_double_member (run->doc, "progress", MIN (progress, 0.999));
  run->announced_at = now;
  announce (self, run->doc);
  if (now - run->stored_at >= PROGRESS_STORE_EVERY_US) {
    run->stored_at = now;
    write_doc (self, run->doc);
  }
}

typedef struct {
  WePublishRunner *self;
  gchar           *id;
} Flush;

static gboolean
flush_idle (gpointer user_data)
{
  Flush *f = user_data;
  /* looked up, not held: the upload may have ended (and its Run gone)
   * before this ran */
  Run *run = g_hash_table_lookup (f->self->running, f->id);

  if (run != NULL) {
    g_mutex_lock (&run->lock);
    run->flush_pending = FALSE;
    g_mutex_unlock (&run->lock);
    progress_flush (f->self, run, FALSE);
  }
  g_object_unref (f->self);
  g_free (f->id);
  g_free (f);
  return G_SOURCE_REMOVE;
}

/* From the module's upload thread: the main loop announces it at once
 * (the first chunk of a short upload is otherwise never seen), then at most
 * every PROGRESS_TICK_MS. */
static void
progress_cb (guint64 sent, guint64 total, gpointer user_data)
{
  Run *run = user_data;
  gboolean invoke;

  g_mutex_lock (&run->lock);
  run->sent = sent;
  run->total = total;
  run->dirty = TRUE;
  invoke = !run->flush_pending;
  run->flush_pending = TRUE;
  g_mutex_unlock (&run->lock);
  if (invoke) {
    Flush *f = g_new0 (Flush, 1);

    f->self = g_object_ref (run->self);
    f->id = g_strdup (run->id);
    g_main_context_invoke_full (run->self->context, G_PRIORITY_DEFAULT, flush_idle, f, NULL);
  }
}

static gboolean
progress_tick_cb (gpointer user_data)
{
  WePublishRunner *self = user_data;
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, self->running);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    progress_flush (self, value, TRUE);
  if (g_hash_table_size (self->running) == 0) {
    self->progress_id = 0;
    return G_SOURCE_REMOVE;
  }
  return G_SOURCE_CONTINUE;
}

static void
busy_add (WePublishRunner *self, const gchar *plugin, gint delta)
{
  guint n = GPOINTER_TO_UINT (g_hash_table_lookup (self->busy, plugin));

  n = (guint) ((gint) n + delta);
  if (n == 0)
    g_hash_table_remove (self->busy, plugin);
  else
    g_hash_table_insert (self->busy, g_strdup (plugin), GUINT_TO_POINTER (n));
}

static void
published_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Run *run = user_data;
  WePublishRunner *self = run->self;
  g_autoptr(GError) error = NULL;
  g_autoptr(WePublishResult) res = NULL;
  const gchar *id = we_json_get_string (run->doc, "id");

  res = we_publisher_publish_vod_finish (WE_PUBLISHER (source), result, &error);
  g_hash_table_remove (self->running, id);   /* frees the key, not the Run */
  busy_add (self, run->plugin, -1);
  if (res == NULL && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) &&
      self->stopped) {
    /* stays uploading in the store: the next start queues it again */
    run_free (run);
    return;
  }
  if (res != NULL && res->success) {
    g_autofree gchar *now = we_time_format (g_get_real_time ());

    json_object_set_string_member (run->doc, "status", "completed");
    json_object_set_double_member (run->doc, "progress", 1.0);
    set_string_or_null (run->doc, "public_url", res->public_url);
    set_string_or_null (run->doc, "platform_id", res->platform_id);
    json_object_set_null_member (run->doc, "last_error");
    json_object_set_string_member (run->doc, "completed_at", now);
    write_doc (self, run->doc);
    announce (self, run->doc);
    finished (self, run->doc);
  } else {
    if (error == NULL)
      g_set_error_literal (&error, WE_ERROR, WE_ERROR_PLG_DEGRADED,
                           "the publisher reported no success");
    attempt_failed (self, run->doc, error);
  }
  run_free (run);
  schedule_poll (self, 0);
}

/* Candidates the store's thread found ready, with what it resolved. */
typedef struct {
  JsonObject *doc;
  gchar      *source_url;
  gchar      *thumbnail_url;
} Candidate;

static void
candidate_free (Candidate *c)
{
  g_clear_pointer (&c->doc, json_object_unref);
  g_free (c->source_url);
  g_free (c->thumbnail_url);
  g_free (c);
}

static gint64
publish_at_seconds (JsonObject *doc)
{
  const gchar *s = we_json_get_string (doc, "publish_at");
  g_autoptr(GDateTime) when = s != NULL ? g_date_time_new_from_iso8601 (s, NULL) : NULL;

  return when != NULL ? g_date_time_to_unix (when) : 0;
}

static void
start_run (WePublishRunner *self, Candidate *c)
{
  Run *run = g_new0 (Run, 1);
  GObject *instance;
  JsonArray *tags;
  const gchar *plugin = we_json_get_string (c->doc, "plugin");

  run->self = g_object_ref (self);
  run->doc = json_object_ref (c->doc);
  run->id = g_strdup (we_json_get_string (c->doc, "id"));
  run->plugin = g_strdup (plugin);
  run->source_url = g_strdup (c->source_url);
  run->thumbnail_url = g_strdup (c->thumbnail_url);
  g_mutex_init (&run->lock);
  json_object_set_string_member (run->doc, "status", "uploading");
  json_object_set_int_member (run->doc, "attempts", we_json_get_int (run->doc, "attempts", 0) + 1);
  json_object_set_double_member (run->doc, "progress", 0.0);
  set_string_or_null (run->doc, DOC_OWNER, self->kernel_id);

  instance = plugin != NULL ? we_plugin_host_get_instance (self->host, plugin) : NULL;
  if (instance == NULL || !WE_IS_PUBLISHER (instance)) {
    g_autoptr(GError) error = g_error_new (WE_ERROR, WE_ERROR_PLG_DEGRADED,
                                           "publisher plugin %s is not loaded or not healthy",
                                           plugin ? plugin : "(none)");

    attempt_failed (self, run->doc, error);
    run_free (run);
    return;
  }
  run->publisher = g_object_ref (instance);
  tags = we_json_get_array (run->doc, "tags");
  run->tags = g_new0 (gchar *, (tags != NULL ? json_array_get_length (tags) : 0) + 1);
  for (guint i = 0; tags != NULL && i < json_array_get_length (tags); i++)
    run->tags[i] = g_strdup (json_array_get_string_element (tags, i));

  run->req.local_object_url = run->source_url;
  run->req.title = we_json_get_string (run->doc, "title");
  run->req.description = we_json_get_string (run->doc, "description");
  run->req.platform = we_json_get_string (run->doc, "platform");
  run->req.privacy = we_json_get_string (run->doc, "privacy");
  run->req.tags = (const gchar * const *) run->tags;
  run->req.storage = we_plugin_host_storage_for_url (self->host, run->source_url, NULL);
  run->req.thumbnail_url = run->thumbnail_url;
  run->req.category_id = we_json_get_string (run->doc, "category_id");
  run->req.publish_at = publish_at_seconds (run->doc);
  run->req.progress = progress_cb;
  run->req.progress_data = run;
  run->stored_at = g_get_monotonic_time ();

  g_hash_table_insert (self->running, g_strdup (we_json_get_string (run->doc, "id")), run);
  busy_add (self, plugin, 1);
  we_log (G_LOG_LEVEL_INFO, we_json_get_string (run->doc, "job_id"), NULL,
          "publication %s: attempt %" G_GINT64_FORMAT " to %s through %s",
          we_json_get_string (run->doc, "id"), we_json_get_int (run->doc, "attempts", 0),
          run->req.platform, plugin);
  write_doc (self, run->doc);
  announce (self, run->doc);
  if (self->progress_id == 0)
    self->progress_id = g_timeout_add (PROGRESS_TICK_MS, progress_tick_cb, self);
  we_publisher_publish_vod_async (WE_PUBLISHER (instance), &run->req, self->cancellable,
                                  published_cb, run);
}

/* --- polling the store --------------------------------------------------- */

typedef struct {
  WePublishRunner *self;
  gchar     *kernel_id;
  guint      stale_s;
  gboolean   requeue_own;
  GPtrArray *ready;     /* Candidate */
  GPtrArray *changed;   /* JsonObject: documents changed here, to announce */
  GPtrArray *failed;    /* JsonObject: ... of which these failed */
} Poll;

static void
poll_free (Poll *p)
{
  g_clear_object (&p->self);
  g_free (p->kernel_id);
  g_ptr_array_unref (p->ready);
  g_ptr_array_unref (p->changed);
  g_ptr_array_unref (p->failed);
  g_free (p);
}

static GPtrArray *
list_docs (WeStore *store, const gchar *status, GError **error)
{
  g_autoptr(GPtrArray) texts = we_store_publication_list (store, NULL, status, error);
  g_autoptr(GPtrArray) docs = NULL;

  if (texts == NULL)
    return NULL;
  docs = g_ptr_array_new_with_free_func ((GDestroyNotify) json_object_unref);
  for (guint i = 0; i < texts->len; i++) {
    JsonObject *doc = we_publication_parse (g_ptr_array_index (texts, i), NULL);

    if (doc != NULL)
      g_ptr_array_add (docs, doc);
  }
  return g_steal_pointer (&docs);
}

static WeJob *
cached_job (WeStore *store, GHashTable *jobs, const gchar *job_id)
{
  WeJob *job;

  if (g_hash_table_lookup_extended (jobs, job_id, NULL, (gpointer *) &job))
    return job;
  job = we_store_job_get (store, job_id, NULL);
  g_hash_table_insert (jobs, g_strdup (job_id), job);
  return job;
}

/* Whether this kernel runs publication @doc: alone, always; in a shared
 * store when it owns the publication now (publications.owner_kernel), taking
 * it when its owner, else its job's, is this kernel, nobody or a kernel that
 * stopped beating (adoption, exactly once: we_store_publication_claim). */
static gboolean
mine (Poll *p, WeStore *store, JsonObject *doc, WeJob *job)
{
  g_autoptr(GError) error = NULL;
  g_autofree gchar *previous = NULL;
  const gchar *id = we_json_get_string (doc, "id");

  if (p->kernel_id == NULL)
    return TRUE;
  if (!we_store_publication_claim (store, id, p->kernel_id, p->stale_s, &previous, &error)) {
    if (error != NULL)
      we_log (G_LOG_LEVEL_WARNING, job->id, "WE-SYS-002", "claiming publication %s: %s", id,
              error->message);
    return FALSE;
  }
  if (previous != NULL && !g_str_equal (previous, p->kernel_id))
    we_log (G_LOG_LEVEL_INFO, job->id, NULL, "publication %s adopted from kernel %s, which "
            "stopped beating", id, previous);
  return TRUE;
}

static WeJobOutput *
find_output (GPtrArray *outputs, const gchar *name, const gchar *type)
{
  for (guint i = 0; outputs != NULL && i < outputs->len; i++) {
    WeJobOutput *o = g_ptr_array_index (outputs, i);

    if (name != NULL && (g_strcmp0 (o->name, name) == 0 || g_strcmp0 (o->url, name) == 0))
      return o;
    if (name == NULL && g_strcmp0 (o->type, type) == 0)
      return o;
  }
  return NULL;
}

static void
poll_fail (Poll *p, WeStore *store, JsonObject *doc, WeErrorCode code, const gchar *message)
{
  g_autoptr(GError) error = g_error_new_literal (WE_ERROR, code, message);

  doc_set_error (doc, error);
  json_object_set_string_member (doc, "status", "failed");
  doc_touch (doc);
  if (we_publication_store (store, doc, NULL)) {
    g_ptr_array_add (p->changed, json_object_ref (doc));
    g_ptr_array_add (p->failed, json_object_ref (doc));
  }
}

static gpointer
poll_thread (WeStore *store, gpointer data, GError **error)
{
  Poll *p = data;
  g_autoptr(GHashTable) jobs = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                                      (GDestroyNotify) we_job_unref);
  g_autoptr(GPtrArray) uploading = list_docs (store, "uploading", error);
  g_autoptr(GPtrArray) queued = NULL;
  gint64 now = g_get_real_time ();

  if (uploading == NULL)
    return NULL;
  /* Uploads a kernel left behind: ours after a restart, or another kernel's
   * when its job became ours (adopted from a kernel that went silent). The
   * module's resumable session died with that process: start again. */
  for (guint i = 0; i < uploading->len; i++) {
    JsonObject *doc = g_ptr_array_index (uploading, i);
    const gchar *owner = we_json_get_string (doc, DOC_OWNER);
    WeJob *job = cached_job (store, jobs, we_json_get_string (doc, "job_id"));
    gboolean ours_before = p->kernel_id == NULL || g_strcmp0 (owner, p->kernel_id) == 0;

    if (job == NULL || !mine (p, store, doc, job))
      continue;
    if (ours_before && !p->requeue_own)
      continue;   /* running here right now */
    json_object_set_string_member (doc, "status", "queued");
    json_object_set_int_member (doc, DOC_NEXT_AT, 0);
    json_object_set_double_member (doc, "progress", 0.0);
    doc_touch (doc);
    if (we_publication_store (store, doc, NULL)) {
      we_log (G_LOG_LEVEL_INFO, job->id, NULL, "publication %s was uploading when %s stopped: "
              "queued again (the upload starts from the beginning)",
              we_json_get_string (doc, "id"), owner ? owner : "its kernel");
      g_ptr_array_add (p->changed, json_object_ref (doc));
    }
  }

  queued = list_docs (store, "queued", error);
  if (queued == NULL)
    return NULL;
  for (guint i = 0; i < queued->len; i++) {
    JsonObject *doc = g_ptr_array_index (queued, i);
    WeJob *job = cached_job (store, jobs, we_json_get_string (doc, "job_id"));
    g_autoptr(GPtrArray) outputs = NULL;
    WeJobOutput *out, *thumb = NULL;
    const gchar *output = we_json_get_string (doc, "output");
    const gchar *thumbnail = we_json_get_string (doc, "thumbnail");
    Candidate *c;

    if (job == NULL || we_json_get_int (doc, DOC_NEXT_AT, 0) > now)
      continue;
    /* claimed only once there is something to do, so a kernel that adopts
     * the job while it still runs gets its publications too */
    if (job->status != WE_JOB_STATUS_COMPLETED && job->status != WE_JOB_STATUS_FAILED &&
        job->status != WE_JOB_STATUS_CANCELLED)
      continue;
    if (!mine (p, store, doc, job))
      continue;
    if (job->status == WE_JOB_STATUS_FAILED || job->status == WE_JOB_STATUS_CANCELLED) {
      g_autofree gchar *msg = g_strdup_printf ("job %s %s: there is nothing to publish",
                                               job->id, we_job_status_to_string (job->status));
      poll_fail (p, store, doc, WE_ERROR_JOB_FAILED, msg);
      continue;
    }
    if (job->status != WE_JOB_STATUS_COMPLETED)
      continue;
    outputs = we_store_output_list (store, job->id, NULL);
    out = find_output (outputs, output, "final");
    if (out == NULL) {
      g_autofree gchar *msg = output != NULL
                                ? g_strdup_printf ("job %s has no output %s", job->id, output)
                                : g_strdup_printf ("job %s has no final output", job->id);
      poll_fail (p, store, doc, WE_ERROR_STO_NOT_FOUND, msg);
      continue;
    }
    if (thumbnail != NULL) {
      thumb = find_output (outputs, g_str_equal (thumbnail, "poster") ? NULL : thumbnail,
                           "thumbnail");
      if (thumb == NULL && g_str_equal (thumbnail, "poster"))
        we_log (G_LOG_LEVEL_WARNING, job->id, NULL,
                "publication %s: the job has no poster: published without a thumbnail",
                we_json_get_string (doc, "id"));
    }
    c = g_new0 (Candidate, 1);
    c->doc = json_object_ref (doc);
    c->source_url = g_strdup (out->url);
    if (thumb != NULL)
      c->thumbnail_url = g_strdup (thumb->url);
    else if (thumbnail != NULL && !g_str_equal (thumbnail, "poster"))
      c->thumbnail_url = g_strdup (thumbnail);
    g_ptr_array_add (p->ready, c);
  }
  return NULL;
}

static gboolean poll_cb (gpointer user_data);

static void
polled_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Poll *p = user_data;
  WePublishRunner *self = p->self;
  g_autoptr(GError) error = NULL;

  we_store_call_finish (WE_STORE (source), result, &error);
  self->polling = FALSE;
  if (error != NULL) {
    we_log (G_LOG_LEVEL_WARNING, NULL, "WE-SYS-002", "looking for publications: %s",
            error->message);
  } else {
    if (p->requeue_own)
      self->requeue_pending = FALSE;
    for (guint i = 0; i < p->changed->len; i++)
      announce (self, g_ptr_array_index (p->changed, i));
    for (guint i = 0; i < p->failed->len; i++)
      finished (self, g_ptr_array_index (p->failed, i));
    for (guint i = 0; i < p->ready->len && !self->stopped; i++) {
      Candidate *c = g_ptr_array_index (p->ready, i);
      const gchar *plugin = we_json_get_string (c->doc, "plugin");

      if (g_hash_table_contains (self->running, we_json_get_string (c->doc, "id")))
        continue;
      if (plugin != NULL &&
          GPOINTER_TO_UINT (g_hash_table_lookup (self->busy, plugin)) >= self->concurrency)
        continue;   /* the next poll, when a slot frees */
      start_run (self, c);
    }
  }
  if (self->poll_again && !self->stopped) {
    self->poll_again = FALSE;
    schedule_poll (self, 0);
  }
  poll_free (p);
}

static gboolean
poll_cb (gpointer user_data)
{
  WePublishRunner *self = user_data;
  Poll *p;

  self->poll_id = 0;
  if (self->stopped)
    return G_SOURCE_REMOVE;
  /* the regular poll: queued publications whose backoff ran out, jobs that
   * completed on a kernel that has since adopted them */
  self->poll_id = g_timeout_add (self->poll_ms, poll_cb, self);
  if (self->polling) {
    self->poll_again = TRUE;
    return G_SOURCE_REMOVE;
  }
  self->polling = TRUE;
  p = g_new0 (Poll, 1);
  p->self = g_object_ref (self);
  p->kernel_id = g_strdup (self->kernel_id);
  p->stale_s = self->stale_s;
  p->requeue_own = self->requeue_pending;
  p->ready = g_ptr_array_new_with_free_func ((GDestroyNotify) candidate_free);
  p->changed = g_ptr_array_new_with_free_func ((GDestroyNotify) json_object_unref);
  p->failed = g_ptr_array_new_with_free_func ((GDestroyNotify) json_object_unref);
  /* polled_cb frees @p: it reads what the thread found */
  we_store_call_async (self->store, poll_thread, p, NULL, NULL, NULL, polled_cb, p);
  return G_SOURCE_REMOVE;
}

static void
schedule_poll (WePublishRunner *self, guint delay_ms)
{
  if (self->stopped)
    return;
  g_clear_handle_id (&self->poll_id, g_source_remove);
  self->poll_id = g_timeout_add (delay_ms, poll_cb, self);
}

static void
transition_cb (WeScheduler *scheduler, WeJob *job, const gchar *event_type, gpointer user_data)
{
  WePublishRunner *self = user_data;

  if (g_str_equal (event_type, "job.completed") || g_str_equal (event_type, "job.failed") ||
      g_str_equal (event_type, "job.cancelled"))
    schedule_poll (self, 0);
}

/* --- life cycle ---------------------------------------------------------- */

static guint
env_uint (const gchar *name, guint def, guint min, guint max)
{
  const gchar *s = g_getenv (name);
  guint64 v;

  if (s == NULL || !g_ascii_string_to_unsigned (s, 10, min, max, &v, NULL))
    return def;
  return (guint) v;
}

static void
we_publish_runner_dispose (GObject *object)
{
  WePublishRunner *self = WE_PUBLISH_RUNNER (object);

  we_publish_runner_stop (self);
  if (self->scheduler != NULL)
    g_clear_signal_handler (&self->transition_id, self->scheduler);
  G_OBJECT_CLASS (we_publish_runner_parent_class)->dispose (object);
}

static void
we_publish_runner_finalize (GObject *object)
{
  WePublishRunner *self = WE_PUBLISH_RUNNER (object);

  g_clear_object (&self->store);
  g_clear_object (&self->host);
  g_clear_object (&self->scheduler);
  g_clear_object (&self->webhooks);
  g_clear_object (&self->cancellable);
  g_main_context_unref (self->context);
  g_free (self->kernel_id);
  g_hash_table_unref (self->running);
  g_hash_table_unref (self->busy);
  G_OBJECT_CLASS (we_publish_runner_parent_class)->finalize (object);
}

static void
we_publish_runner_class_init (WePublishRunnerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = we_publish_runner_dispose;
  object_class->finalize = we_publish_runner_finalize;
  signals[SIGNAL_CHANGED] =
      g_signal_new ("changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                    NULL, G_TYPE_NONE, 1, JSON_TYPE_OBJECT);
}

static void
we_publish_runner_init (WePublishRunner *self)
{
  self->running = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->busy = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->cancellable = g_cancellable_new ();
  self->context = g_main_context_ref_thread_default ();
}

WePublishRunner *
we_publish_runner_new (const WePublishRunnerOptions *options)
{
  WePublishRunner *self = g_object_new (WE_TYPE_PUBLISH_RUNNER, NULL);

  self->store = g_object_ref (options->store);
  self->host = g_object_ref (options->host);
  self->scheduler = g_object_ref (options->scheduler);
  self->webhooks = options->webhooks != NULL ? g_object_ref (WE_WEBHOOKS (options->webhooks))
                                             : NULL;
  self->kernel_id = g_strdup (options->kernel_id);
  if (options->config != NULL) {
    /* [publish], with WE_PUBLISH_* over it (src/common/we-config.c) */
    self->max_attempts = we_config_get_publish_max_attempts (options->config);
    self->concurrency = we_config_get_publish_concurrency (options->config);
    self->retry_base_ms = MIN (we_config_get_publish_retry_base_ms (options->config),
                               MAX_BACKOFF_MS);
    self->poll_ms = we_config_get_publish_poll_ms (options->config);
    self->stale_s = 3 * we_config_get_kernel_beat_s (options->config);
  } else {
    self->max_attempts = env_uint ("WE_PUBLISH_MAX_ATTEMPTS", 5, 1, 100);
    self->concurrency = env_uint ("WE_PUBLISH_CONCURRENCY", 1, 1, 16);
    self->retry_base_ms = env_uint ("WE_PUBLISH_RETRY_BASE_MS", 5000, 1, MAX_BACKOFF_MS);
    self->poll_ms = env_uint ("WE_PUBLISH_POLL_MS", 2000, 50, 600000);
    self->stale_s = 15;
  }
  self->transition_id = g_signal_connect (self->scheduler, "job-transition",
                                          G_CALLBACK (transition_cb), self);
  return self;
}

void
we_publish_runner_start (WePublishRunner *self)
{
  g_return_if_fail (WE_IS_PUBLISH_RUNNER (self));
  self->requeue_pending = TRUE;
  schedule_poll (self, 0);
}

void
we_publish_runner_stop (WePublishRunner *self)
{
  g_return_if_fail (WE_IS_PUBLISH_RUNNER (self));
  self->stopped = TRUE;
  g_clear_handle_id (&self->poll_id, g_source_remove);
  g_clear_handle_id (&self->progress_id, g_source_remove);
  g_cancellable_cancel (self->cancellable);
}

void
we_publish_runner_kick (WePublishRunner *self)
{
  g_return_if_fail (WE_IS_PUBLISH_RUNNER (self));
  schedule_poll (self, 0);
}
