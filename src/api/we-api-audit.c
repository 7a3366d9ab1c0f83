/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The audit log (spec §5.3, §19.3): every state-changing call is recorded as
 * it is answered — who, which action on what, the result, a digest of the
 * payload (never the payload: it may hold what nobody should read back) and
 * the client's address — in the store, and on audit.user_action in cluster
 * mode. GET /v1/audit reads it back, as JSON or CSV, for admins.
 */
#include "config.h"

#include <string.h>

#include "common/we-job.h"
#include "common/we-log.h"
#include "core/we-rbac.h"
#include "we-api-handlers.h"
#include "we-api-private.h"

#define CSV_MAX_ROWS 10000

static gboolean
is_state_changing (const gchar *method)
{
  return g_strcmp0 (method, "GET") != 0 && g_strcmp0 (method, "HEAD") != 0;
}

static gchar *
payload_digest (GBytes *body)
{
  g_autofree gchar *hex = NULL;
  gsize size;
  const guint8 *data;

  if (body == NULL || g_bytes_get_size (body) == 0)
    return NULL;
  data = g_bytes_get_data (body, &size);
  hex = g_compute_checksum_for_data (G_CHECKSUM_SHA256, data, size);
  return g_strconcat ("sha256:", hex, NULL);
}

static JsonObject *
entry_to_json (const WeAuditEntry *e)
{
  JsonObject *o = json_object_new ();
  g_autofree gchar *at = we_time_format (e->at);

#define SET_STR(name, value)                                   \
  G_STMT_START {                                               \
    if ((value) != NULL)                                       \
      json_object_set_string_member (o, name, value);          \
    else                                                       \
      json_object_set_null_member (o, name);                   \
  } G_STMT_END

  json_object_set_int_member (o, "id", e->id);
  SET_STR ("timestamp", at);
  SET_STR ("user_id", e->user_id);
  SET_STR ("username", e->username);
  SET_STR ("action", e->action);
  SET_STR ("resource_type", e->resource_type);
  SET_STR ("resource_id", e->resource_id);
  json_object_set_string_member (o, "result", e->success ? "success" : "failure");
  json_object_set_int_member (o, "status", e->status);
  SET_STR ("error_code", e->error_code);
  SET_STR ("payload_digest", e->payload_digest);
  SET_STR ("client_ip", e->client_ip);
  SET_STR ("user_agent", e->user_agent);
  SET_STR ("request_id", e->request_id);
#undef SET_STR
  return o;
}

static gpointer
add_in_store (WeStore *store, gpointer data, GError **error)
{
  return we_store_audit_add (store, data, error) ? GINT_TO_POINTER (1) : NULL;
}

static void
added_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GError) error = NULL;

  we_store_call_finish (WE_STORE (source), result, &error);
  if (error != NULL)
    we_log (G_LOG_LEVEL_WARNING, NULL, "WE-SYS-002", "audit entry not stored: %s",
            error->message);
}

void
we_api_audit_request (WeApiRequest *request)
{
  const WeApiContext *ctx;
  SoupServerMessage *msg = request->msg;
  const gchar *method = soup_server_message_get_method (msg);
  SoupMessageHeaders *h = soup_server_message_get_request_headers (msg);
  const WeRbacPolicy *policy;
  gboolean auth_failed;
  WeAuditEntry *e;
  guint status = soup_server_message_get_status (msg);

  if (request->route == NULL)
    return;
  /* refused credentials are security events whatever the method */
  auth_failed = soup_message_headers_get_one (h, "Authorization") != NULL &&
                (g_strcmp0 (request->audit_error_code, "WE-AUTH-001") == 0 ||
                 g_strcmp0 (request->audit_error_code, "WE-AUTH-002") == 0 ||
                 g_strcmp0 (request->audit_error_code, "WE-SYS-005") == 0);
  if (!is_state_changing (method) && !auth_failed)
    return;

  ctx = we_api_request_context (request);
  policy = we_rbac_lookup (request->route->action);
  e = we_audit_entry_new ();
  e->at = g_get_real_time ();
  if (request->identity != NULL) {
    e->user_id = g_strdup (request->identity->user_id);
    e->username = g_strdup (request->identity->username);
  }
  e->action = g_strdup (auth_failed ? "auth.failed" : request->route->action);
  e->resource_type = g_strdup (auth_failed ? "session"
                               : policy != NULL ? policy->resource_type : NULL);
  if (!auth_failed)
    e->resource_id = g_strdup (request->audit_resource_id != NULL ? request->audit_resource_id
                               : we_api_request_param (request, 0));
  e->success = status >= 200 && status < 400;
  e->status = (gint) status;
  e->error_code = g_strdup (request->audit_error_code);
  e->payload_digest = payload_digest (request->body);
  e->client_ip = g_strdup (soup_server_message_get_remote_host (msg));
  e->user_agent = g_strdup (soup_message_headers_get_one (h, "User-Agent"));
  e->request_id = g_strdup (request->request_id);

  we_api_audit_add (ctx, e);
}

void
we_api_audit_add (const WeApiContext *ctx, WeAuditEntry *e)
{
  g_autoptr(JsonObject) announced = entry_to_json (e);

  we_queue_publish_audit (ctx->queue, announced);
  we_store_call_async (ctx->store, add_in_store, e, (GDestroyNotify) we_audit_entry_free, NULL,
                       NULL, added_cb, NULL);
}

/* --- GET /v1/audit ------------------------------------------------------- */

typedef struct {
  WeApiRequest *request;
  WeAuditFilter filter;
  gchar        *user, *action, *resource_type, *resource_id;
  gboolean      csv;
} ListData;

static void
list_data_free (ListData *d)
{
  g_free (d->user);
  g_free (d->action);
  g_free (d->resource_type);
  g_free (d->resource_id);
  g_free (d);
}

typedef struct {
  GPtrArray *entries;
  guint      total;
} ListResult;

static void
list_result_free (ListResult *r)
{
  g_clear_pointer (&r->entries, g_ptr_array_unref);
  g_free (r);
}

static gpointer
list_in_store (WeStore *store, gpointer data, GError **error)
{
  ListData *d = data;
  ListResult *r = g_new0 (ListResult, 1);

  r->entries = we_store_audit_list (store, &d->filter, &r->total, error);
  if (r->entries == NULL) {
    g_free (r);
    return NULL;
  }
  return r;
}

/* One CSV field: quoted when needed, and a leading = + - @ defused so a
 * spreadsheet never runs a user-supplied cell as a formula. */
static void
csv_field (GString *out, const gchar *value)
{
  gboolean formula;

  if (value == NULL)
    value = "";
  formula = strchr ("=+-@\t\r", value[0]) != NULL && value[0] != '\0';
  g_string_append_c (out, '"');
  if (formula)
    g_string_append_c (out, '\'');
  for (const gchar *p = value; *p != '\0'; p++) {
    if (*p == '"')
      g_string_append_c (out, '"');
    g_string_append_c (out, *p);
  }
  g_string_append_c (out, '"');
}

static void
respond_csv (WeApiRequest *request, GPtrArray *entries)
{
  g_autoptr(GString) out = g_string_new ("timestamp,user_id,username,action,resource_type,"
                                         "resource_id,result,status,error_code,client_ip,"
                                         "user_agent,request_id,payload_digest\r\n");
  SoupServerMessage *msg;
  gsize len;

  for (guint i = 0; i < entries->len; i++) {
    const WeAuditEntry *e = g_ptr_array_index (entries, i);
    g_autofree gchar *at = we_time_format (e->at);
    g_autofree gchar *status = g_strdup_printf ("%d", e->status);
    const gchar *fields[] = { at, e->user_id, e->username, e->action, e->resource_type,
                              e->resource_id, e->success ? "success" : "failure", status,
                              e->error_code, e->client_ip, e->user_agent, e->request_id,
                              e->payload_digest };

    for (guint f = 0; f < G_N_ELEMENTS (fields); f++) {
      if (f > 0)
        g_string_append_c (out, ',');
      csv_field (out, fields[f]);
    }
    g_string_append (out, "\r\n");
  }
  msg = request->msg;
  soup_server_message_set_status (msg, 200, NULL);
  soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Cache-Control",
                                "no-store");
  soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                "Content-Disposition", "attachment; filename=\"audit.csv\"");
  len = out->len;
  soup_server_message_set_response (msg, "text/csv; charset=utf-8", SOUP_MEMORY_TAKE,
                                    g_string_free (g_steal_pointer (&out), FALSE), len);
  soup_server_message_unpause (msg);
  we_api_request_free (request);
}

static void
listed_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  ListData *d = user_data;
  g_autoptr(GError) error = NULL;
  ListResult *r = we_store_call_finish (WE_STORE (source), result, &error);
  JsonArray *array;
  JsonObject *o;

  if (r == NULL) {
    we_api_request_respond_error (d->request, error);
    list_data_free (d);
    return;
  }
  if (d->csv) {
    respond_csv (d->request, r->entries);
  } else {
    array = json_array_new ();
    for (guint i = 0; i < r->entries->len; i++)
      json_array_add_object_element (array, entry_to_json (g_ptr_array_index (r->entries, i)));
    o = json_object_new ();
    json_object_set_array_member (o, "entries", array);
    json_object_set_int_member (o, "total", r->total);
    json_object_set_int_member (o, "limit", d->filter.limit);
    json_object_set_int_member (o, "offset", d->filter.offset);
    we_api_request_respond_object (d->request, 200, o);
  }
  list_result_free (r);
  list_data_free (d);
}

/* RFC 3339 time or a plain date (midnight UTC); 0 with @error when bad. */
static gboolean
parse_time (const gchar *name, const gchar *text, gint64 *out, GError **error)
{
  g_autoptr(GDateTime) dt = NULL;
  g_autoptr(GTimeZone) utc = g_time_zone_new_utc ();

  *out = 0;
  if (text == NULL || *text == '\0')
    return TRUE;
  dt = g_date_time_new_from_iso8601 (text, utc);
  if (dt == NULL && strlen (text) == 10) {
    g_autofree gchar *midnight = g_strconcat (text, "T00:00:00Z", NULL);
    dt = g_date_time_new_from_iso8601 (midnight, utc);
  }
  if (dt == NULL) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                 "%s must be an RFC 3339 time or a date (YYYY-MM-DD)", name);
    return FALSE;
  }
  *out = g_date_time_to_unix (dt) * G_USEC_PER_SEC + g_date_time_get_microsecond (dt);
  return TRUE;
}

static gboolean
parse_count (const gchar *name, const gchar *text, guint min, guint max, guint *out,
             GError **error)
{
  guint64 value;

  if (text == NULL || *text == '\0')
    return TRUE;
  if (!g_ascii_string_to_unsigned (text, 10, min, max, &value, NULL)) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                 "%s must be a whole number from %u to %u", name, min, max);
    return FALSE;
  }
  *out = (guint) value;
  return TRUE;
}

static gchar *
query_copy (WeApiRequest *request, const gchar *name)
{
  const gchar *value = we_api_request_query (request, name);

  return value != NULL && *value != '\0' ? g_strdup (value) : NULL;
}

void
we_api_audit_list (WeApiRequest *request)
{
  const WeApiContext *ctx = we_api_request_context (request);
  g_autoptr(GError) error = NULL;
  const gchar *format = we_api_request_query (request, "format");
  const gchar *accept = soup_message_headers_get_one (
      soup_server_message_get_request_headers (request->msg), "Accept");
  ListData *d = g_new0 (ListData, 1);

  d->request = request;
  d->csv = g_strcmp0 (format, "csv") == 0 ||
           (format == NULL && accept != NULL && g_str_has_prefix (accept, "text/csv"));
  if (format != NULL && !d->csv && g_strcmp0 (format, "json") != 0)
    error = g_error_new_literal (WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                                 "format must be json or csv");
  d->filter.limit = d->csv ? CSV_MAX_ROWS : 100;
  if (error == NULL)
    parse_count ("limit", we_api_request_query (request, "limit"), 1,
                 d->csv ? CSV_MAX_ROWS : 1000, &d->filter.limit, &error);
  if (error == NULL)
    parse_count ("offset", we_api_request_query (request, "offset"), 0, G_MAXINT,
                 &d->filter.offset, &error);
  if (error == NULL)
    parse_time ("since", we_api_request_query (request, "since"), &d->filter.since, &error);
  if (error == NULL)
    parse_time ("until", we_api_request_query (request, "until"), &d->filter.until, &error);
  if (error != NULL) {
    we_api_request_respond_error (request, error);
    list_data_free (d);
    return;
  }
  d->filter.user = d->user = query_copy (request, "user");
  d->filter.action = d->action = query_copy (request, "action");
  d->filter.resource_type = d->resource_type = query_copy (request, "resource_type");
  d->filter.resource_id = d->resource_id = query_copy (request, "resource_id");
  /* the ListData outlives the call: the store thread reads d->filter */
  we_store_call_async (ctx->store, list_in_store, d, NULL, (GDestroyNotify) list_result_free,
                       request->cancellable, listed_cb, d);
}
