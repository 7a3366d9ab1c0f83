/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "we-api-handlers.h"

#include "common/we-log.h"
#include "core/we-job-request.h"

static void
respond_job (WeApiRequest *request, guint status, WeJob *job)
{
  we_api_request_respond_object (request, status, we_job_to_json (job));
}

/* --- POST /v1/jobs --- */

/* the request and its "publish" targets (we-api-publish.c), if any */
typedef struct {
  WeApiRequest *request;
  JsonArray    *publish;
} CreateData;

static void
created_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  CreateData *d = user_data;
  WeApiRequest *request = d->request;
  g_autoptr(JsonArray) publish = d->publish;
  g_autoptr(GError) error = NULL;
  g_autoptr(WeJob) job = we_scheduler_submit_finish (WE_SCHEDULER (source), result, &error);

  g_free (d);
  if (job == NULL) {
    we_api_request_respond_error (request, error);
    return;
  }
  we_log (G_LOG_LEVEL_INFO, request->request_id, NULL, "job %s created by %s", job->id,
          request->identity ? request->identity->username : "?");
  if (publish != NULL && json_array_get_length (publish) > 0) {
    we_api_publish_store_targets (request, job, publish, SOUP_STATUS_CREATED,
                                  we_job_to_json (job));
    return;
  }
  respond_job (request, SOUP_STATUS_CREATED, job);
}

void
we_api_jobs_create (WeApiRequest *request)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) body = we_api_request_parse_json_object (request, &error);

  const gchar *key;
  CreateData *d;
  g_autoptr(JsonArray) publish = NULL;

  if (body != NULL)
    publish = we_api_publish_take_targets (request, body, &error);
  if (body == NULL || error != NULL) {
    we_api_request_respond_error (request, error);
    return;
  }
  /* the header wins over a body member of the same meaning */
  key = soup_message_headers_get_one (soup_server_message_get_request_headers (request->msg),
                                      "Idempotency-Key");
  if (key != NULL)
    json_object_set_string_member (body, "idempotency_key", key);
  d = g_new0 (CreateData, 1);
  d->request = request;
  d->publish = g_steal_pointer (&publish);
  we_scheduler_submit_async (we_api_request_context (request)->scheduler, body,
                             request->identity ? request->identity->user_id : NULL,
                             NULL, created_cb, d);
}

/* --- GET /v1/jobs --- */

static gboolean
parse_uint (const gchar *name, const gchar *value, guint min, guint max, guint *out,
            GError **error)
{
  guint64 v;

  if (value == NULL)
    return TRUE;
  if (!g_ascii_string_to_unsigned (value, 10, min, max, &v, NULL)) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                 "query parameter %s must be an integer between %u and %u", name, min, max);
    return FALSE;
  }
  *out = (guint) v;
  return TRUE;
}

typedef struct {
  WeApiRequest *request;
  guint         limit;
  guint         offset;
} ListData;

static void
listed_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  ListData *d = user_data;
  g_autoptr(GError) error = NULL;
  guint total = 0;
  g_autoptr(GPtrArray) jobs = we_store_finish_list (WE_STORE (source), result, &total, &error);
  JsonObject *o;
  JsonArray *array;

  if (jobs == NULL) {
    we_api_request_respond_error (d->request, error);
    g_free (d);
    return;
  }
  array = json_array_new ();
  for (guint i = 0; i < jobs->len; i++)
    json_array_add_object_element (array, we_job_to_json (g_ptr_array_index (jobs, i)));
  o = json_object_new ();
  json_object_set_array_member (o, "jobs", array);
  json_object_set_int_member (o, "total", total);
  json_object_set_int_member (o, "limit", d->limit);
  json_object_set_int_member (o, "offset", d->offset);
  we_api_request_respond_object (d->request, SOUP_STATUS_OK, o);
  g_free (d);
}

void
we_api_jobs_list (WeApiRequest *request)
{
  WeJobFilter filter = { 0 };
  g_autoptr(GError) error = NULL;
  const gchar *status = we_api_request_query (request, "status");
  const gchar *order = we_api_request_query (request, "order");
  const gchar *search = we_api_request_query (request, "search");
  ListData *d;

  filter.limit = 50;
  if (!parse_uint ("limit", we_api_request_query (request, "limit"), 1, 500, &filter.limit,
                   &error) ||
      !parse_uint ("offset", we_api_request_query (request, "offset"), 0, G_MAXINT,
                   &filter.offset, &error)) {
    we_api_request_respond_error (request, error);
    return;
  }
  if (status != NULL && *status != '\0') {
    g_auto(GStrv) parts = g_strsplit (status, ",", 16);
    for (guint i = 0; parts[i] != NULL; i++) {
      WeJobStatus s;
      if (!we_job_status_from_string (g_strstrip (parts[i]), &s)) {
        g_set_error (&error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                     "unknown status \"%s\"; use queued, processing, stitching, uploading, "
                     "completed, failed or cancelled", parts[i]);
        we_api_request_respond_error (request, error);
        return;
      }
      filter.status_mask |= WE_JOB_STATUS_MASK (s);
    }
  }
  if (order != NULL && g_strcmp0 (order, "newest") != 0 && g_strcmp0 (order, "oldest") != 0) {
    g_set_error_literal (&error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                         "order must be newest or oldest");
    we_api_request_respond_error (request, error);
    return;
  }
  filter.oldest_first = g_strcmp0 (order, "oldest") == 0;
  if (search != NULL && strlen (search) > 256) {
    g_set_error_literal (&error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                         "search is limited to 256 characters");
    we_api_request_respond_error (request, error);
    return;
  }
  filter.search = search != NULL && *search != '\0' ? search : NULL;

  d = g_new0 (ListData, 1);
  d->request = request;
  d->limit = filter.limit;
  d->offset = filter.offset;
  we_store_job_list_async (we_api_request_context (request)->store, &filter, NULL, listed_cb, d);
}

/* --- GET /v1/jobs/{id} and sub-resources --- */

static void
got_job_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  WeApiRequest *request = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(WeJob) job = we_store_finish_job (WE_STORE (source), result, &error);

  if (job == NULL) {
    we_api_request_respond_error (request, error);
    return;
  }
  respond_job (request, SOUP_STATUS_OK, job);
}

void
we_api_jobs_get (WeApiRequest *request)
{
  we_store_job_get_async (we_api_request_context (request)->store,
                          we_api_request_param (request, 0), NULL, got_job_cb, request);
}

typedef JsonObject *(*ToJsonFunc) (gconstpointer item);

typedef struct {
  WeApiRequest *request;
  const gchar  *member;
  ToJsonFunc    to_json;
  void        (*list_async) (WeStore *, const gchar *, GCancellable *, GAsyncReadyCallback,
                             gpointer);
} SubListData;

static void
sub_listed_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  SubListData *d = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) items = we_store_finish_list (WE_STORE (source), result, NULL, &error);
  JsonArray *array;
  JsonObject *o;

  if (items == NULL) {
    we_api_request_respond_error (d->request, error);
    g_free (d);
    return;
  }
  array = json_array_new ();
  for (guint i = 0; i < items->len; i++)
    json_array_add_object_element (array, d->to_json (g_ptr_array_index (items, i)));
  o = json_object_new ();
  json_object_set_array_member (o, d->member, array);
  we_api_request_respond_object (d->request, SOUP_STATUS_OK, o);
  g_free (d);
}

static void
sub_job_checked_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  SubListData *d = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(WeJob) job = we_store_finish_job (WE_STORE (source), result, &error);

  if (job == NULL) {
    we_api_request_respond_error (d->request, error);
    g_free (d);
    return;
  }
  d->list_async (WE_STORE (source), job->id, NULL, sub_listed_cb, d);
}

static void
sub_list (WeApiRequest *request, const gchar *member, ToJsonFunc to_json,
          void (*list_async) (WeStore *, const gchar *, GCancellable *, GAsyncReadyCallback,
                              gpointer))
{
  SubListData *d = g_new0 (SubListData, 1);

  d->request = request;
  d->member = member;
  d->to_json = to_json;
  d->list_async = list_async;
  /* an unknown job is a 404, not an empty list */
  we_store_job_get_async (we_api_request_context (request)->store,
                          we_api_request_param (request, 0), NULL, sub_job_checked_cb, d);
}

void
we_api_jobs_tasks (WeApiRequest *request)
{
  sub_list (request, "tasks", (ToJsonFunc) we_task_to_json, we_store_task_list_async);
}

void
we_api_jobs_events (WeApiRequest *request)
{
  sub_list (request, "events", (ToJsonFunc) we_job_event_to_json, we_store_event_list_async);
}

/* --- cancel / retry / delete --- */

static void
cancelled_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  WeApiRequest *request = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(WeJob) job = we_scheduler_cancel_finish (WE_SCHEDULER (source), result, &error);

  if (job == NULL) {
    we_api_request_respond_error (request, error);
    return;
  }
  respond_job (request, SOUP_STATUS_OK, job);
}

void
we_api_jobs_cancel (WeApiRequest *request)
{
  we_scheduler_cancel_async (we_api_request_context (request)->scheduler,
                             we_api_request_param (request, 0), NULL, cancelled_cb, request);
}

static void
retried_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  WeApiRequest *request = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(WeJob) job = we_scheduler_retry_finish (WE_SCHEDULER (source), result, &error);

  if (job == NULL) {
    we_api_request_respond_error (request, error);
    return;
  }
  respond_job (request, SOUP_STATUS_CREATED, job);
}

void
we_api_jobs_retry (WeApiRequest *request)
{
  we_scheduler_retry_async (we_api_request_context (request)->scheduler,
                            we_api_request_param (request, 0),
                            request->identity ? request->identity->user_id : NULL, NULL,
                            retried_cb, request);
}

static void
task_retried_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  WeApiRequest *request = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(WeTask) task = NULL;
  g_autoptr(WeJob) job = we_scheduler_retry_task_finish (WE_SCHEDULER (source), result, &task,
                                                         &error);
  JsonObject *o;

  if (job == NULL) {
    we_api_request_respond_error (request, error);
    return;
  }
  we_log (G_LOG_LEVEL_INFO, request->request_id, NULL, "task %s of job %s retried by %s",
          task->id, job->id, request->identity ? request->identity->username : "?");
  o = json_object_new ();
  json_object_set_object_member (o, "job", we_job_to_json (job));
  json_object_set_object_member (o, "task", we_task_to_json (task));
  /* accepted: the task is pending, not done */
  we_api_request_respond_object (request, SOUP_STATUS_ACCEPTED, o);
}

/* POST /v1/jobs/{id}/tasks/{task_id}/retry[?requeue=true] */
void
we_api_jobs_task_retry (WeApiRequest *request)
{
  const gchar *requeue = we_api_request_query (request, "requeue");
  g_autoptr(GError) error = NULL;

  if (requeue != NULL && g_strcmp0 (requeue, "true") != 0 && g_strcmp0 (requeue, "false") != 0) {
    g_set_error_literal (&error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                         "requeue must be true or false");
    we_api_request_respond_error (request, error);
    return;
  }
  we_scheduler_retry_task_async (we_api_request_context (request)->scheduler,
                                 we_api_request_param (request, 0),
                                 we_api_request_param (request, 1),
                                 g_strcmp0 (requeue, "true") == 0, NULL, task_retried_cb,
                                 request);
}

static void
deleted_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  WeApiRequest *request = user_data;
  g_autoptr(GError) error = NULL;

  if (!we_scheduler_delete_finish (WE_SCHEDULER (source), result, &error)) {
    we_api_request_respond_error (request, error);
    return;
  }
  we_api_request_respond_empty (request, SOUP_STATUS_NO_CONTENT);
}

void
we_api_jobs_delete (WeApiRequest *request)
{
  we_scheduler_delete_async (we_api_request_context (request)->scheduler,
                             we_api_request_param (request, 0), NULL, deleted_cb, request);
}

/* --- GET /v1/jobs/{id}/outputs --- */

typedef struct {
  WeApiRequest *request;
  WeJob        *job;
} OutputsData;

static void
outputs_listed_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  OutputsData *d = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) outputs = we_store_finish_list (WE_STORE (source), result, NULL, &error);
  const gchar *base = we_config_get_public_url (we_api_request_context (d->request)->config);
  JsonArray *array;
  JsonObject *o;

  if (outputs == NULL) {
    we_api_request_respond_error (d->request, error);
  } else {
    array = json_array_new ();
    for (guint i = 0; i < outputs->len; i++) {
      WeJobOutput *out = g_ptr_array_index (outputs, i);
      JsonObject *item = we_job_output_to_json (out);
      g_autofree gchar *escaped = g_uri_escape_string (out->name, NULL, FALSE);
      g_autofree gchar *download = g_strdup_printf ("%s/v1/jobs/%s/outputs/%s", base,
                                                    d->job->id, escaped);
      json_object_set_string_member (item, "download_url", download);
      json_array_add_object_element (array, item);
    }
    o = json_object_new ();
    json_object_set_string_member (o, "job_id", d->job->id);
    json_object_set_string_member (o, "status", we_job_status_to_string (d->job->status));
    json_object_set_array_member (o, "outputs", array);
    we_api_request_respond_object (d->request, SOUP_STATUS_OK, o);
  }
  we_job_unref (d->job);
  g_free (d);
}

static void
outputs_job_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  WeApiRequest *request = user_data;
  g_autoptr(GError) error = NULL;
  WeJob *job = we_store_finish_job (WE_STORE (source), result, &error);
  OutputsData *d;

  if (job == NULL) {
    we_api_request_respond_error (request, error);
    return;
  }
  d = g_new0 (OutputsData, 1);
  d->request = request;
  d->job = job;
  we_store_output_list_async (WE_STORE (source), job->id, NULL, outputs_listed_cb, d);
}

void
we_api_jobs_outputs (WeApiRequest *request)
{
  we_store_job_get_async (we_api_request_context (request)->store,
                          we_api_request_param (request, 0), NULL, outputs_job_cb, request);
}

/* --- PATCH /v1/jobs/{id} --- */

static void
updated_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  WeApiRequest *request = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(WeJob) job = we_scheduler_set_priority_finish (WE_SCHEDULER (source), result, &error);

  if (job == NULL) {
    we_api_request_respond_error (request, error);
    return;
  }
  respond_job (request, SOUP_STATUS_OK, job);
}

void
we_api_jobs_update (WeApiRequest *request)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) body = we_api_request_parse_json_object (request, &error);
  g_autoptr(GList) members = NULL;
  gint priority = 0;

  if (body == NULL) {
    we_api_request_respond_error (request, error);
    return;
  }
  /* only the priority can change once a job exists */
  members = json_object_get_members (body);
  for (GList *l = members; l != NULL; l = l->next) {
    if (g_strcmp0 (l->data, "priority") != 0) {
      g_set_error (&error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                   "\"%s\" cannot be changed; only \"priority\" can",
                   (const gchar *) l->data);
      we_api_request_respond_error (request, error);
      return;
    }
  }
  if (!we_job_request_parse_priority (json_object_get_member (body, "priority"), &priority,
                                      &error)) {
    we_api_request_respond_error (request, error);
    return;
  }
  we_scheduler_set_priority_async (we_api_request_context (request)->scheduler,
                                   we_api_request_param (request, 0), priority, NULL,
                                   updated_cb, request);
}
