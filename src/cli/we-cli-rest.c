/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "we-cli-rest.h"

#include <glib/gi18n.h>

#include "we-cli-output.h"

#define WE_CLI_POLL_MS          500
/* a service restarting under a waiting client comes back within this many polls */
#define WE_CLI_POLL_MAX_MISSES  20

struct _WeCliRest {
  GObject      parent_instance;
  WeCliClient *client;
};

static void we_cli_rest_backend_init (WeCliBackendInterface *iface);

G_DEFINE_TYPE_WITH_CODE (WeCliRest, we_cli_rest, G_TYPE_OBJECT,
                         G_IMPLEMENT_INTERFACE (WE_TYPE_CLI_BACKEND, we_cli_rest_backend_init))

static void
we_cli_rest_finalize (GObject *object)
{
  g_clear_object (&WE_CLI_REST (object)->client);
  G_OBJECT_CLASS (we_cli_rest_parent_class)->finalize (object);
}

static void
we_cli_rest_class_init (WeCliRestClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = we_cli_rest_finalize;
}

static void
we_cli_rest_init (WeCliRest *self)
{
}

WeCliRest *
we_cli_rest_new (WeCliClient *client)
{
  WeCliRest *self = g_object_new (WE_TYPE_CLI_REST, NULL);

  self->client = g_object_ref (client);
  return self;
}

static gchar *
we_cli_rest_describe (WeCliBackend *backend)
{
  return g_strdup (we_cli_client_get_base_url (WE_CLI_REST (backend)->client));
}

/* "/v1/jobs/<escaped id><suffix>" */
static gchar *
job_path (const gchar *id, const gchar *suffix)
{
  g_autofree gchar *escaped = g_uri_escape_string (id, NULL, FALSE);
  return g_strconcat ("/v1/jobs/", escaped, suffix, NULL);
}

/* "/v1/jobs/<id>/tasks/<task><suffix>" */
static gchar *
task_path (const gchar *job, const gchar *task, const gchar *suffix)
{
  g_autofree gchar *escaped = g_uri_escape_string (task, NULL, FALSE);
  g_autofree gchar *tail = g_strconcat ("/tasks/", escaped, suffix, NULL);
  return job_path (job, tail);
}

static const gchar *
arg (const gchar *const *args, guint i)
{
  for (guint j = 0; j <= i; j++)
    if (args == NULL || args[j] == NULL)
      return "";
  return args[i];
}

static gchar *
jobs_path (JsonNode *params)
{
  JsonObject *filter = we_cli_json_object (params);
  g_autoptr(GString) path = g_string_new ("/v1/jobs");
  const gchar *status = we_cli_json_get_string (filter, "status");
  gchar sep = '?';
  gdouble n;

  if (status != NULL) {
    g_autofree gchar *escaped = g_uri_escape_string (status, ",", FALSE);
    g_string_append_printf (path, "%cstatus=%s", sep, escaped);
    sep = '&';
  }
  if (we_cli_json_get_number (filter, "limit", &n)) {
    g_string_append_printf (path, "%climit=%.0f", sep, n);
    sep = '&';
  }
  if (we_cli_json_get_number (filter, "offset", &n))
    g_string_append_printf (path, "%coffset=%.0f", sep, n);
  return g_string_free (g_steal_pointer (&path), FALSE);
}

/* ---- call --------------------------------------------------------------- */

static void
rest_request_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(GTask) task = G_TASK (user_data);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) raw = NULL;
  JsonNode *node;

  node = we_cli_client_request_finish (WE_CLI_CLIENT (source), res, &raw, &error);
  if (node == NULL) {
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }
  we_cli_task_return_json (task, node, raw);
}

/* GetTaskPipeline's "" over REST: the tasks in sequence order, the first
 * one whose pipeline the service has. */
typedef struct {
  gchar     *job_id;
  GPtrArray *task_ids;
  guint      next;
} FirstPipeline;

static void
first_pipeline_free (FirstPipeline *d)
{
  g_free (d->job_id);
  g_clear_pointer (&d->task_ids, g_ptr_array_unref);
  g_free (d);
}

static void first_pipeline_next (GTask *task);

static void
first_pipeline_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(GTask) task = G_TASK (user_data);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) raw = NULL;
  JsonNode *node;

  node = we_cli_client_request_finish (WE_CLI_CLIENT (source), res, &raw, &error);
  if (node != NULL) {
    we_cli_task_return_json (task, node, raw);
    return;
  }
  /* a task that recorded no pipeline answers WE-JOB-004; anything else stops */
  if (g_error_matches (error, WE_CLI_ERROR, WE_CLI_ERROR_API) &&
      g_str_has_prefix (error->message, "WE-JOB-004")) {
    first_pipeline_next (g_steal_pointer (&task));
    return;
  }
  g_task_return_error (task, g_steal_pointer (&error));
}

static void
first_pipeline_next (GTask *task)
{
  WeCliRest *self = g_task_get_source_object (task);
  FirstPipeline *d = g_task_get_task_data (task);
  g_autofree gchar *path = NULL;

  if (d->next >= d->task_ids->len) {
    g_autofree gchar *shown = we_cli_sanitize (d->job_id);
    g_task_return_new_error (task, WE_CLI_ERROR, WE_CLI_ERROR_API,
                             _("WE-JOB-004: Job not found: no task of job %s recorded a pipeline"),
                             shown);
    return;
  }
  path = task_path (d->job_id, g_ptr_array_index (d->task_ids, d->next++), "/pipeline");
  we_cli_client_request_async (self->client, "GET", path, NULL, g_task_get_cancellable (task),
                               first_pipeline_cb, task);
}

static gint
task_by_sequence (gconstpointer a, gconstpointer b)
{
  JsonObject *ta = *(JsonObject **) a;
  JsonObject *tb = *(JsonObject **) b;
  gdouble sa = 0, sb = 0;

  we_cli_json_get_number (ta, "sequence_index", &sa);
  we_cli_json_get_number (tb, "sequence_index", &sb);
  return (sa > sb) - (sa < sb);
}

static void
first_pipeline_tasks_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(GTask) task = G_TASK (user_data);
  FirstPipeline *d = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) node = NULL;
  g_autoptr(GPtrArray) tasks = g_ptr_array_new ();
  JsonArray *array;

  node = we_cli_client_request_finish (WE_CLI_CLIENT (source), res, NULL, &error);
  if (node == NULL) {
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }
  array = we_cli_json_get_array (we_cli_json_object (node), "tasks");
  for (guint i = 0; array != NULL && i < json_array_get_length (array); i++) {
    JsonObject *t = we_cli_json_object (json_array_get_element (array, i));
    if (t != NULL && we_cli_json_get_string (t, "id") != NULL)
      g_ptr_array_add (tasks, t);
  }
  g_ptr_array_sort (tasks, task_by_sequence);
  for (guint i = 0; i < tasks->len; i++)
    g_ptr_array_add (d->task_ids,
                     g_strdup (we_cli_json_get_string (g_ptr_array_index (tasks, i), "id")));
  first_pipeline_next (g_steal_pointer (&task));
}

static void
we_cli_rest_call_async (WeCliBackend *backend, WeCliOp op, const gchar *const *args,
                        JsonNode *params, GCancellable *cancellable,
                        GAsyncReadyCallback callback, gpointer user_data)
{
  WeCliRest *self = WE_CLI_REST (backend);
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
  const gchar *method = "GET";
  g_autofree gchar *path = NULL;
  JsonNode *body = NULL;

  g_task_set_source_tag (task, we_cli_rest_call_async);
  switch (op) {
  case WE_CLI_OP_HEALTH:
    path = g_strdup ("/health");
    break;
  case WE_CLI_OP_PROFILES:
    path = g_strdup ("/v1/profiles");
    break;
  case WE_CLI_OP_PROFILE: {
    g_autofree gchar *escaped = g_uri_escape_string (arg (args, 0), NULL, FALSE);
    path = g_strconcat ("/v1/profiles/", escaped, NULL);
    break;
  }
  case WE_CLI_OP_JOBS:
    path = jobs_path (params);
    break;
  case WE_CLI_OP_JOB:
    path = job_path (arg (args, 0), "");
    break;
  case WE_CLI_OP_SUBMIT:
    method = "POST";
    path = g_strdup ("/v1/jobs");
    body = params;
    break;
  case WE_CLI_OP_CANCEL:
    method = "POST";
    path = job_path (arg (args, 0), "/cancel");
    break;
  case WE_CLI_OP_RETRY:
    method = "POST";
    path = job_path (arg (args, 0), "/retry");
    break;
  case WE_CLI_OP_DELETE:
    method = "DELETE";
    path = job_path (arg (args, 0), "");
    break;
  case WE_CLI_OP_OUTPUTS:
    path = job_path (arg (args, 0), "/outputs");
    break;
  case WE_CLI_OP_PIPELINE:
    if (*arg (args, 1) == '\0') {
      FirstPipeline *d = g_new0 (FirstPipeline, 1);
      d->job_id = g_strdup (arg (args, 0));
      d->task_ids = g_ptr_array_new_with_free_func (g_free);
      g_task_set_task_data (task, d, (GDestroyNotify) first_pipeline_free);
      path = job_path (d->job_id, "/tasks");
      we_cli_client_request_async (self->client, "GET", path, NULL, cancellable,
                                   first_pipeline_tasks_cb, g_steal_pointer (&task));
      return;
    }
    path = task_path (arg (args, 0), arg (args, 1), "/pipeline");
    break;
  default:
    g_assert_not_reached ();
  }
  we_cli_client_request_async (self->client, method, path, body, cancellable, rest_request_cb,
                               g_steal_pointer (&task));
}

static JsonNode *
we_cli_rest_call_finish (WeCliBackend *backend, GAsyncResult *res, GBytes **raw,
                         GError **error)
{
  g_return_val_if_fail (g_task_is_valid (res, backend), NULL);
  return we_cli_task_propagate_json (G_TASK (res), raw, error);
}

/* ---- fetch -------------------------------------------------------------- */

typedef struct {
  GBytes *body;
  gchar  *content_type;
} Fetched;

static void
fetched_free (Fetched *f)
{
  g_clear_pointer (&f->body, g_bytes_unref);
  g_free (f->content_type);
  g_free (f);
}

static void
rest_fetch_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(GTask) task = G_TASK (user_data);
  g_autoptr(GError) error = NULL;
  Fetched *f = g_new0 (Fetched, 1);

  f->body = we_cli_client_fetch_finish (WE_CLI_CLIENT (source), res, &f->content_type, &error);
  if (f->body == NULL) {
    fetched_free (f);
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }
  g_task_return_pointer (task, f, (GDestroyNotify) fetched_free);
}

static void
we_cli_rest_fetch_async (WeCliBackend *backend, WeCliFetch what, const gchar *const *args,
                         GCancellable *cancellable, GAsyncReadyCallback callback,
                         gpointer user_data)
{
  WeCliRest *self = WE_CLI_REST (backend);
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
  g_autofree gchar *path = NULL;

  g_task_set_source_tag (task, we_cli_rest_fetch_async);
  if (what == WE_CLI_FETCH_GRAPH) {
    g_autofree gchar *base = task_path (arg (args, 0), arg (args, 1), "/pipeline");
    g_autofree gchar *format = g_uri_escape_string (arg (args, 3), NULL, FALSE);
    g_autoptr(GString) p = g_string_new (base);

    g_string_append_printf (p, "?format=%s", format);
    if (*arg (args, 2) != '\0') {
      g_autofree gchar *stage = g_uri_escape_string (arg (args, 2), NULL, FALSE);
      g_string_append_printf (p, "&stage=%s", stage);
    }
    path = g_string_free (g_steal_pointer (&p), FALSE);
  } else {
    path = task_path (arg (args, 0), arg (args, 1), "/logs");
  }
  we_cli_client_fetch_async (self->client, path, cancellable, rest_fetch_cb,
                             g_steal_pointer (&task));
}

static GBytes *
we_cli_rest_fetch_finish (WeCliBackend *backend, GAsyncResult *res, gchar **content_type,
                          GError **error)
{
  Fetched *f;
  GBytes *body;

  g_return_val_if_fail (g_task_is_valid (res, backend), NULL);
  f = g_task_propagate_pointer (G_TASK (res), error);
  if (f == NULL)
    return NULL;
  body = g_steal_pointer (&f->body);
  if (content_type != NULL)
    *content_type = g_steal_pointer (&f->content_type);
  fetched_free (f);
  return body;
}

/* ---- upload and download ------------------------------------------------ */

static void
rest_uploaded_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(GTask) task = G_TASK (user_data);
  g_autoptr(GError) error = NULL;
  JsonNode *node = we_cli_client_upload_finish (WE_CLI_CLIENT (source), res, &error);

  if (node == NULL) {
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }
  we_cli_task_return_json (task, node, NULL);
}

static void
we_cli_rest_upload_async (WeCliBackend *backend, GFile *file, WeCliTransferFunc progress,
                          gpointer progress_data, GCancellable *cancellable,
                          GAsyncReadyCallback callback, gpointer user_data)
{
  WeCliRest *self = WE_CLI_REST (backend);
  GTask *task = g_task_new (self, cancellable, callback, user_data);

  g_task_set_source_tag (task, we_cli_rest_upload_async);
  we_cli_client_upload_async (self->client, file, progress, progress_data, cancellable,
                              rest_uploaded_cb, task);
}

static JsonNode *
we_cli_rest_upload_finish (WeCliBackend *backend, GAsyncResult *res, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (res, backend), NULL);
  return we_cli_task_propagate_json (G_TASK (res), NULL, error);
}

static void
rest_downloaded_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(GTask) task = G_TASK (user_data);
  g_autoptr(GError) error = NULL;
  gint64 written = we_cli_client_download_finish (WE_CLI_CLIENT (source), res, &error);

  if (written < 0) {
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }
  g_task_return_int (task, written);
}

static void
we_cli_rest_download_async (WeCliBackend *backend, const gchar *job_id, JsonObject *output,
                            GFile *dest, WeCliTransferFunc progress, gpointer progress_data,
                            GCancellable *cancellable, GAsyncReadyCallback callback,
                            gpointer user_data)
{
  WeCliRest *self = WE_CLI_REST (backend);
  GTask *task = g_task_new (self, cancellable, callback, user_data);
  const gchar *name = we_cli_json_get_string (output, "name");
  g_autofree gchar *escaped = g_uri_escape_string (name ? name : "", "/", FALSE);
  g_autofree gchar *suffix = g_strconcat ("/outputs/", escaped, NULL);
  g_autofree gchar *path = job_path (job_id, suffix);

  g_task_set_source_tag (task, we_cli_rest_download_async);
  we_cli_client_download_async (self->client, path, dest, progress, progress_data, cancellable,
                                rest_downloaded_cb, task);
}

static gint64
we_cli_rest_download_finish (WeCliBackend *backend, GAsyncResult *res, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (res, backend), -1);
  return g_task_propagate_int (G_TASK (res), error);
}

/* ---- watch: polling ----------------------------------------------------- */

typedef struct {
  gchar        *job_id;
  WeCliJobFunc  update;
  gpointer      update_data;
  guint         poll_id;
  guint         misses;
  gulong        cancelled_id;
} Watch;

static void
watch_free (Watch *w)
{
  g_clear_handle_id (&w->poll_id, g_source_remove);
  g_free (w->job_id);
  g_free (w);
}

static gboolean watch_poll_cb (gpointer user_data);

static void
watch_finish_task (GTask *task)
{
  Watch *w = g_task_get_task_data (task);

  g_clear_handle_id (&w->poll_id, g_source_remove);
  g_cancellable_disconnect (g_task_get_cancellable (task), w->cancelled_id);
  w->cancelled_id = 0;
}

static void
watch_polled_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(GTask) task = G_TASK (user_data);
  Watch *w = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) node = NULL;
  g_autoptr(GBytes) raw = NULL;
  JsonObject *job;
  const gchar *status;

  node = we_cli_client_request_finish (WE_CLI_CLIENT (source), res, &raw, &error);
  if (node == NULL) {
    if (g_error_matches (error, WE_CLI_ERROR, WE_CLI_ERROR_CONNECT) &&
        ++w->misses < WE_CLI_POLL_MAX_MISSES) {
      w->poll_id = g_timeout_add (WE_CLI_POLL_MS, watch_poll_cb, g_steal_pointer (&task));
      return;
    }
    watch_finish_task (task);
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }
  w->misses = 0;
  job = we_cli_json_object (node);
  status = we_cli_json_get_string (job, "status");
  if (status == NULL) {
    watch_finish_task (task);
    g_task_return_new_error (task, WE_CLI_ERROR, WE_CLI_ERROR_PROTOCOL,
                             _("the service sent a job without a status"));
    return;
  }
  w->update (job, w->update_data);
  if (!we_cli_job_status_is_final (status)) {
    w->poll_id = g_timeout_add (WE_CLI_POLL_MS, watch_poll_cb, g_steal_pointer (&task));
    return;
  }
  watch_finish_task (task);
  we_cli_task_return_json (task, g_steal_pointer (&node), raw);
}

static gboolean
watch_poll_cb (gpointer user_data)
{
  GTask *task = user_data;
  WeCliRest *self = g_task_get_source_object (task);
  Watch *w = g_task_get_task_data (task);
  g_autofree gchar *path = job_path (w->job_id, "");

  w->poll_id = 0;
  we_cli_client_request_async (self->client, "GET", path, NULL, g_task_get_cancellable (task),
                               watch_polled_cb, task);
  return G_SOURCE_REMOVE;
}

/* Ctrl-C between polls: nothing is in flight to end with CANCELLED, so the
 * timer's task is ended here. Runs on the main thread (signal sources). */
static void
watch_cancelled_cb (GCancellable *cancellable, gpointer user_data)
{
  GTask *task = user_data;
  Watch *w = g_task_get_task_data (task);

  if (w->poll_id == 0)
    return;
  g_clear_handle_id (&w->poll_id, g_source_remove);
  g_task_return_error_if_cancelled (task);
  g_object_unref (task);
}

static void
we_cli_rest_watch_async (WeCliBackend *backend, const gchar *job_id, WeCliJobFunc update,
                         gpointer update_data, GCancellable *cancellable,
                         GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new (backend, cancellable, callback, user_data);
  Watch *w = g_new0 (Watch, 1);

  g_task_set_source_tag (task, we_cli_rest_watch_async);
  w->job_id = g_strdup (job_id);
  w->update = update;
  w->update_data = update_data;
  g_task_set_task_data (task, w, (GDestroyNotify) watch_free);
  if (cancellable != NULL)
    w->cancelled_id = g_cancellable_connect (cancellable, G_CALLBACK (watch_cancelled_cb),
                                             task, NULL);
  watch_poll_cb (task);
}

static JsonNode *
we_cli_rest_watch_finish (WeCliBackend *backend, GAsyncResult *res, GBytes **raw,
                          GError **error)
{
  g_return_val_if_fail (g_task_is_valid (res, backend), NULL);
  return we_cli_task_propagate_json (G_TASK (res), raw, error);
}

static void
we_cli_rest_backend_init (WeCliBackendInterface *iface)
{
  iface->describe = we_cli_rest_describe;
  iface->call_async = we_cli_rest_call_async;
  iface->call_finish = we_cli_rest_call_finish;
  iface->fetch_async = we_cli_rest_fetch_async;
  iface->fetch_finish = we_cli_rest_fetch_finish;
  iface->upload_async = we_cli_rest_upload_async;
  iface->upload_finish = we_cli_rest_upload_finish;
  iface->download_async = we_cli_rest_download_async;
  iface->download_finish = we_cli_rest_download_finish;
  iface->watch_async = we_cli_rest_watch_async;
  iface->watch_finish = we_cli_rest_watch_finish;
}
