/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Publishing (docs/api.md "Publishing", issue 11): POST /v1/jobs/{id}/publish,
 * GET /v1/jobs/{id}/publications, GET /v1/publications/{id},
 * POST /v1/publications/{id}/retry, and the "publish" member of POST
 * /v1/jobs. Requests are validated here (we_publish_parse_request); the
 * store is read and written in one we_store_call_async() per request; the
 * kernel's publish runner (src/core/we-publish.c) does the uploads.
 */
#include "config.h"

#include "common/we-json.h"
#include "common/we-log.h"
#include "core/we-publish.h"
#include "we-api-handlers.h"
#include "we-api-server.h"

typedef enum {
  OP_PUBLISH,
  OP_LIST,
  OP_GET,
  OP_RETRY,
  OP_CREATE_TARGETS,
} OpKind;

typedef struct {
  WeApiRequest *request;
  OpKind        kind;
  gchar        *id;         /* job id (publish, list, targets) or publication id */
  gchar        *user_id;
  JsonObject   *body;       /* OP_PUBLISH: the normalised request */
  JsonArray    *targets;    /* OP_CREATE_TARGETS */
  WeJob        *job;        /* OP_CREATE_TARGETS: answered once stored */
  guint         status;     /* OP_CREATE_TARGETS: what the job answer was */
  JsonObject   *job_answer;
  GPtrArray    *docs;       /* JsonObject: the result */
} Op;

static void
op_free (Op *op)
{
  g_free (op->id);
  g_free (op->user_id);
  g_clear_pointer (&op->body, json_object_unref);
  g_clear_pointer (&op->targets, json_array_unref);
  g_clear_pointer (&op->job, we_job_unref);
  g_clear_pointer (&op->job_answer, json_object_unref);
  g_clear_pointer (&op->docs, g_ptr_array_unref);
  g_free (op);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Op, op_free)

static Op *
op_new (WeApiRequest *request, OpKind kind)
{
  Op *op = g_new0 (Op, 1);

  op->request = request;
  op->kind = kind;
  op->id = g_strdup (we_api_request_param (request, 0));
  op->user_id = g_strdup (request->identity != NULL ? request->identity->user_id : NULL);
  op->docs = g_ptr_array_new_with_free_func ((GDestroyNotify) json_object_unref);
  return op;
}

static gboolean
add_parsed (Op *op, const gchar *text, GError **error)
{
  JsonObject *doc = we_publication_parse (text, error);

  if (doc == NULL)
    return FALSE;
  g_ptr_array_add (op->docs, doc);
  return TRUE;
}

static gboolean
job_has_room (WeStore *store, const gchar *job_id, guint adding, GError **error)
{
  g_autoptr(GPtrArray) existing = we_store_publication_list (store, job_id, NULL, error);

  if (existing == NULL)
    return FALSE;
  if (existing->len + adding > WE_PUBLISH_MAX_PER_JOB * 5) {
    g_set_error (error, WE_ERROR, WE_ERROR_SYS_RATE_LIMITED,
                 "job %s has %u publications already: at most %d", job_id, existing->len,
                 WE_PUBLISH_MAX_PER_JOB * 5);
    return FALSE;
  }
  return TRUE;
}

static gpointer
run_op (WeStore *store, gpointer data, GError **error)
{
  Op *op = data;

  switch (op->kind) {
  case OP_PUBLISH: {
    g_autoptr(WeJob) job = we_store_job_get (store, op->id, error);
    g_autoptr(JsonObject) doc = NULL;

    if (job == NULL)
      return NULL;
    if (job->status != WE_JOB_STATUS_COMPLETED) {
      g_set_error (error, WE_ERROR, WE_ERROR_JOB_CANCELLED,
                   "job %s is %s: only a completed job can be published", job->id,
                   we_job_status_to_string (job->status));
      return NULL;
    }
    if (!job_has_room (store, job->id, 1, error))
      return NULL;
    doc = we_publication_new (job->id, op->body, op->user_id);
    if (!we_publication_store (store, doc, error))
      return NULL;
    g_ptr_array_add (op->docs, g_steal_pointer (&doc));
    return NULL;
  }
  case OP_CREATE_TARGETS: {
    g_autoptr(GPtrArray) existing = we_store_publication_list (store, op->job->id, NULL, error);

    if (existing == NULL)
      return NULL;
    /* an Idempotency-Key replay answers the job it made: its targets were
     * stored then */
    if (existing->len > 0)
      return NULL;
    for (guint i = 0; i < json_array_get_length (op->targets); i++) {
      g_autoptr(JsonObject) doc = we_publication_new (
          op->job->id, json_array_get_object_element (op->targets, i), op->user_id);

      if (!we_publication_store (store, doc, error))
        return NULL;
      g_ptr_array_add (op->docs, g_steal_pointer (&doc));
    }
    return NULL;
  }
  case OP_LIST: {
    g_autoptr(WeJob) job = we_store_job_get (store, op->id, error);
    g_autoptr(GPtrArray) texts = NULL;

    if (job == NULL)
      return NULL;
    texts = we_store_publication_list (store, op->id, NULL, error);
    if (texts == NULL)
      return NULL;
    for (guint i = 0; i < texts->len; i++)
      if (!add_parsed (op, g_ptr_array_index (texts, i), error))
        return NULL;
    return NULL;
  }
  case OP_GET:
  case OP_RETRY: {
    g_autofree gchar *text = we_store_publication_get (store, op->id, error);
    g_autoptr(JsonObject) doc = NULL;
    const gchar *status;

    if (text == NULL)
      return NULL;
    doc = we_publication_parse (text, error);
    if (doc == NULL)
      return NULL;
    status = we_json_get_string (doc, "status");
    if (op->kind == OP_RETRY) {
      if (g_strcmp0 (status, "failed") != 0) {
        g_set_error (error, WE_ERROR, WE_ERROR_SYS_CONFLICT,
                     "publication %s is %s: only a failed publication can be retried", op->id,
                     status);
        return NULL;
      }
      /* a fresh attempt budget; the last error stays until the next attempt */
      json_object_set_string_member (doc, "status", "queued");
      json_object_set_int_member (doc, "attempts", 0);
      json_object_set_double_member (doc, "progress", 0.0);
      json_object_set_int_member (doc, "_next_at", 0);
      if (!we_publication_store (store, doc, error))
        return NULL;
    }
    g_ptr_array_add (op->docs, g_steal_pointer (&doc));
    return NULL;
  }
  default:
    g_assert_not_reached ();
  }
}

static void
kick_runner (WeApiRequest *request)
{
  WePublishRunner *runner = we_api_server_get_publish_runner (request->server);

  if (runner != NULL)
    we_publish_runner_kick (runner);
}

static void
op_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Op) op = user_data;
  WeApiRequest *request = op->request;
  g_autoptr(GError) error = NULL;

  we_store_call_finish (WE_STORE (source), result, &error);
  if (error != NULL && op->kind != OP_CREATE_TARGETS) {
    we_api_request_respond_error (request, error);
    return;
  }
  switch (op->kind) {
  case OP_LIST: {
    g_autoptr(JsonObject) o = json_object_new ();
    JsonArray *array = json_array_new ();

    for (guint i = 0; i < op->docs->len; i++)
      json_array_add_object_element (array, we_publication_to_api (op->docs->pdata[i]));
    json_object_set_array_member (o, "publications", array);
    we_api_request_respond_object (request, SOUP_STATUS_OK, g_steal_pointer (&o));
    return;
  }
  case OP_CREATE_TARGETS:
    if (error != NULL)
      /* the job exists: say so, and that its targets did not make it */
      we_log (G_LOG_LEVEL_WARNING, request->request_id, "WE-SYS-002",
              "job %s: storing its publish targets: %s", op->job->id, error->message);
    else if (op->docs->len > 0)
      kick_runner (request);
    we_api_request_respond_object (request, op->status, g_steal_pointer (&op->job_answer));
    return;
  case OP_PUBLISH:
  case OP_RETRY: {
    g_autoptr(JsonObject) o = we_publication_to_api (op->docs->pdata[0]);

    kick_runner (request);
    we_api_request_respond_object (request, SOUP_STATUS_ACCEPTED, g_steal_pointer (&o));
    return;
  }
  case OP_GET:
  default: {
    g_autoptr(JsonObject) o = we_publication_to_api (op->docs->pdata[0]);

    we_api_request_respond_object (request, SOUP_STATUS_OK, g_steal_pointer (&o));
    return;
  }
  }
}

static void
op_run (Op *op)
{
  we_store_call_async (we_api_request_context (op->request)->store, run_op, op, NULL, NULL,
                       op->kind == OP_CREATE_TARGETS ? NULL : op->request->cancellable,
                       op_done_cb, op);
}

/* --- POST /v1/jobs/{id}/publish ------------------------------------------- */

void
we_api_jobs_publish (WeApiRequest *request)
{
  g_autoptr(Op) op = op_new (request, OP_PUBLISH);
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) body = we_api_request_parse_json_object (request, &error);

  if (body != NULL)
    op->body = we_publish_parse_request (we_api_request_context (request)->host, body, &error);
  if (op->body == NULL) {
    we_api_request_respond_error (request, error);
    return;
  }
  op_run (g_steal_pointer (&op));
}

/* --- GET /v1/jobs/{id}/publications --------------------------------------- */

void
we_api_jobs_publications (WeApiRequest *request)
{
  op_run (op_new (request, OP_LIST));
}

/* --- GET /v1/publications/{id} -------------------------------------------- */

void
we_api_publications_get (WeApiRequest *request)
{
  op_run (op_new (request, OP_GET));
}

/* --- POST /v1/publications/{id}/retry ------------------------------------- */

void
we_api_publications_retry (WeApiRequest *request)
{
  op_run (op_new (request, OP_RETRY));
}

/* --- POST /v1/jobs "publish" ---------------------------------------------- */

JsonArray *
we_api_publish_take_targets (WeApiRequest *request, JsonObject *body, GError **error)
{
  JsonArray *targets;

  if (!json_object_has_member (body, "publish"))
    return NULL;
  targets = we_publish_parse_targets (we_api_request_context (request)->host,
                                      json_object_get_member (body, "publish"), error);
  /* the scheduler keeps no copy: the targets live in the publications table */
  if (targets != NULL)
    json_object_remove_member (body, "publish");
  return targets;
}

void
we_api_publish_store_targets (WeApiRequest *request, WeJob *job, JsonArray *targets,
                              guint status, JsonObject *answer)
{
  Op *op = op_new (request, OP_CREATE_TARGETS);

  op->job = we_job_ref (job);
  op->targets = json_array_ref (targets);
  op->status = status;
  op->job_answer = answer;
  op_run (op);
}
