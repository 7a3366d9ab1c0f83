/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Error tracking (spec §2.5, issue 9): the dashboard reports what broke in
 * the browser with POST /v1/errors; admins triage with GET /v1/errors and
 * PATCH /v1/errors/{id}.
 *
 * Reporting is public: the login page can fail before anyone logged in, and
 * an error reporter that needs a working session misses exactly the errors
 * that break sessions. So every caller, logged in or not, is held to a
 * per-address budget (error_reports_per_min, default 30) and to size caps
 * (message 2 KiB, stack 16 KiB, context 8 KiB as JSON), may only claim the
 * "frontend" source (kernel and worker errors come from inside), and has
 * anything that looks like a credential redacted before it is stored: the
 * admin view must never become a place where tokens can be read back.
 */
#include "config.h"

#include <string.h>

#include "common/we-config.h"
#include "common/we-job.h"
#include "common/we-log.h"
#include "we-api-handlers.h"
#include "we-api-private.h"

#define MAX_MESSAGE (2 * 1024)
#define MAX_STACK   (16 * 1024)
#define MAX_CONTEXT (8 * 1024)
#define REDACTED    "[REDACTED]"

static const gchar *const severities[] = { "warning", "error", "critical", "fatal", NULL };

/* --- redaction ------------------------------------------------------------ */

static gboolean
is_secret_key (const gchar *key)
{
  static const gchar *const words[] = { "token", "password", "passwd", "secret",
                                        "authorization", "cookie", "apikey", "api_key",
                                        "api-key", "credential", "private_key", "session",
                                        "passphrase", "stream_key",
                                        NULL };
  g_autofree gchar *lower = g_ascii_strdown (key, -1);

  for (guint i = 0; words[i] != NULL; i++) {
    if (strstr (lower, words[i]) != NULL)
      return TRUE;
  }
  return FALSE;
}

/* Credentials inside free text: "Bearer abc…", "?access_token=abc&…". */
static gchar *
redact_text (const gchar *text)
{
  static GRegex *auth, *param, *stream_key;
  static gsize once;

  if (g_once_init_enter (&once)) {
    auth = g_regex_new ("\\b(bearer|basic)\\s+[A-Za-z0-9._~+/=-]+", G_REGEX_CASELESS, 0,
                        NULL);
    param = g_regex_new ("\\b([A-Za-z_]*(?:token|password|passwd|passphrase|secret|api_?key)[A-Za-z_]*|code)"
                         "=[^&\\s\"']+", G_REGEX_CASELESS, 0, NULL);
    /* stream keys (src/core/we-stream-keys.h), e.g. in a copied ingest URL */
    stream_key = g_regex_new ("\\bwe_live_[A-Za-z0-9]+", 0, 0, NULL);
    g_once_init_leave (&once, 1);
  }
  {
    g_autofree gchar *step = g_regex_replace (auth, text, -1, 0, "\\1 " REDACTED, 0, NULL);
    g_autofree gchar *keys = g_regex_replace_literal (stream_key, step != NULL ? step : "", -1,
                                                      0, "we_live_" REDACTED, 0, NULL);

    return g_regex_replace (param, keys != NULL ? keys : "", -1, 0, "\\1=" REDACTED, 0, NULL);
  }
}

static JsonNode *redact_node (JsonNode *node);

static JsonObject *
redact_object (JsonObject *object)
{
  JsonObject *out = json_object_new ();
  JsonObjectIter iter;
  const gchar *key;
  JsonNode *value;

  json_object_iter_init (&iter, object);
  while (json_object_iter_next (&iter, &key, &value)) {
    if (is_secret_key (key))
      json_object_set_string_member (out, key, REDACTED);
    else
      json_object_set_member (out, key, redact_node (value));
  }
  return out;
}

/* Returns: (transfer full) a redacted copy of @node */
static JsonNode *
redact_node (JsonNode *node)
{
  JsonNode *copy;

  switch (JSON_NODE_TYPE (node)) {
  case JSON_NODE_OBJECT:
    copy = json_node_new (JSON_NODE_OBJECT);
    json_node_take_object (copy, redact_object (json_node_get_object (node)));
    return copy;
  case JSON_NODE_ARRAY: {
    JsonArray *in = json_node_get_array (node);
    JsonArray *out = json_array_new ();

    for (guint i = 0; i < json_array_get_length (in); i++)
      json_array_add_element (out, redact_node (json_array_get_element (in, i)));
    copy = json_node_new (JSON_NODE_ARRAY);
    json_node_take_array (copy, out);
    return copy;
  }
  case JSON_NODE_VALUE:
    if (json_node_get_value_type (node) == G_TYPE_STRING) {
      g_autofree gchar *clean = redact_text (json_node_get_string (node));

      copy = json_node_new (JSON_NODE_VALUE);
      json_node_set_string (copy, clean);
      return copy;
    }
    return json_node_copy (node);
  case JSON_NODE_NULL:
  default:
    return json_node_copy (node);
  }
}

/* --- the per-address budget ---------------------------------------------- */

/* The failed-login limiter counts any event per address in a window: here
 * every report is such an event. Kept on the server so it lives as long. */
static WeLoginLimiter *
report_limiter (WeApiRequest *request)
{
  WeLoginLimiter *limiter = g_object_get_data (G_OBJECT (request->server), "we-error-limiter");

  if (limiter == NULL) {
    const WeApiContext *ctx = we_api_request_context (request);

    limiter = we_login_limiter_new (we_config_get_error_reports_per_min (ctx->config), 60);
    g_object_set_data_full (G_OBJECT (request->server), "we-error-limiter", limiter,
                            (GDestroyNotify) we_login_limiter_free);
  }
  return limiter;
}

/* --- JSON ------------------------------------------------------------------ */

static JsonObject *
event_to_json (const WeErrorEvent *e)
{
  JsonObject *o = json_object_new ();
  g_autofree gchar *created = we_time_format (e->created_at);

#define SET_STR(name, value)                                   \
  G_STMT_START {                                               \
    if ((value) != NULL)                                       \
      json_object_set_string_member (o, name, value);          \
    else                                                       \
      json_object_set_null_member (o, name);                   \
  } G_STMT_END

  SET_STR ("id", e->id);
  SET_STR ("source_component", e->source_component);
  SET_STR ("severity", e->severity);
  SET_STR ("message", e->message);
  SET_STR ("stack_trace", e->stack_trace);
  if (e->context_data != NULL) {
    g_autoptr(JsonParser) parser = json_parser_new ();

    if (json_parser_load_from_data (parser, e->context_data, -1, NULL))
      json_object_set_member (o, "context_data",
                              json_node_copy (json_parser_get_root (parser)));
    else
      json_object_set_null_member (o, "context_data");
  } else {
    json_object_set_null_member (o, "context_data");
  }
  SET_STR ("created_at", created);
  json_object_set_boolean_member (o, "resolved", e->resolved);
  if (e->resolved_at > 0) {
    g_autofree gchar *at = we_time_format (e->resolved_at);
    SET_STR ("resolved_at", at);
  } else {
    json_object_set_null_member (o, "resolved_at");
  }
  SET_STR ("resolved_by", e->resolved_by);
#undef SET_STR
  return o;
}

static gboolean
invalid (GError **error, const gchar *format, ...) G_GNUC_PRINTF (2, 3);

static gboolean
invalid (GError **error, const gchar *format, ...)
{
  va_list args;
  g_autofree gchar *text = NULL;

  va_start (args, format);
  text = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error_literal (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST, text);
  return FALSE;
}

/* An optional string member: NULL when absent or null. */
static gboolean
get_string (JsonObject *body, const gchar *name, gsize max, const gchar **out, GError **error)
{
  JsonNode *node = json_object_get_member (body, name);

  *out = NULL;
  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    return invalid (error, "%s must be a string", name);
  *out = json_node_get_string (node);
  if (strlen (*out) > max)
    return invalid (error, "%s is limited to %" G_GSIZE_FORMAT " bytes", name, max);
  return TRUE;
}

/* Validates a report into @event (redacted). */
static gboolean
parse_report (JsonObject *body, WeErrorEvent *event, GError **error)
{
  static const gchar *const members[] = { "source_component", "severity", "message",
                                          "stack_trace", "context_data", NULL };
  JsonObjectIter iter;
  const gchar *key;
  JsonNode *value;
  const gchar *source, *severity, *message, *stack;
  JsonNode *context;

  json_object_iter_init (&iter, body);
  while (json_object_iter_next (&iter, &key, &value)) {
    if (!g_strv_contains (members, key))
      return invalid (error, "unknown member %s", key);
  }
  if (!get_string (body, "source_component", 64, &source, error) ||
      !get_string (body, "severity", 16, &severity, error) ||
      !get_string (body, "message", MAX_MESSAGE, &message, error) ||
      !get_string (body, "stack_trace", MAX_STACK, &stack, error))
    return FALSE;
  /* kernel, worker and plugin errors are recorded from inside; a caller
   * claiming them would forge the triage view */
  if (source != NULL && !g_str_equal (source, "frontend"))
    return invalid (error, "source_component must be \"frontend\"");
  if (severity == NULL || !g_strv_contains (severities, severity))
    return invalid (error, "severity must be one of warning, error, critical, fatal");
  if (message == NULL || *message == '\0')
    return invalid (error, "message is required");
  if (!g_utf8_validate (message, -1, NULL) || (stack != NULL && !g_utf8_validate (stack, -1,
                                                                                   NULL)))
    return invalid (error, "message and stack_trace must be UTF-8");

  context = json_object_get_member (body, "context_data");
  if (context != NULL && !JSON_NODE_HOLDS_NULL (context)) {
    g_autoptr(JsonNode) clean = NULL;
    g_autofree gchar *text = NULL;

    if (!JSON_NODE_HOLDS_OBJECT (context))
      return invalid (error, "context_data must be an object");
    text = json_to_string (context, FALSE);
    if (strlen (text) > MAX_CONTEXT)
      return invalid (error, "context_data is limited to %d bytes as JSON", MAX_CONTEXT);
    clean = redact_node (context);
    event->context_data = json_to_string (clean, FALSE);
  }
  event->source_component = g_strdup ("frontend");
  event->severity = g_strdup (severity);
  event->message = redact_text (message);
  event->stack_trace = stack != NULL ? redact_text (stack) : NULL;
  return TRUE;
}

/* --- POST /v1/errors ------------------------------------------------------ */

static gpointer
add_in_store (WeStore *store, gpointer data, GError **error)
{
  return we_store_error_event_add (store, data, error) ? GINT_TO_POINTER (1) : NULL;
}

static void
added_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  WeApiRequest *request = user_data;
  g_autoptr(GError) error = NULL;
  JsonObject *o;

  we_store_call_finish (WE_STORE (source), result, &error);
  if (error != NULL) {
    we_api_request_respond_error (request, error);
    return;
  }
  o = json_object_new ();
  json_object_set_string_member (o, "id", request->audit_resource_id);
  we_api_request_respond_object (request, 201, o);
}

void
we_api_errors_report (WeApiRequest *request)
{
  const WeApiContext *ctx = we_api_request_context (request);
  const gchar *client = soup_server_message_get_remote_host (request->msg);
  WeLoginLimiter *limiter = report_limiter (request);
  gint64 now = g_get_monotonic_time ();
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) body = NULL;
  g_autoptr(WeErrorEvent) event = NULL;
  guint wait_s;

  wait_s = we_login_limiter_check (limiter, client, now);
  if (wait_s > 0) {
    g_autofree gchar *retry = g_strdup_printf ("%u", wait_s);

    error = g_error_new (WE_ERROR, WE_ERROR_SYS_RATE_LIMITED,
                         "too many error reports from this address; retry in %u s", wait_s);
    soup_message_headers_replace (soup_server_message_get_response_headers (request->msg),
                                  "Retry-After", retry);
    we_api_request_respond_error (request, error);
    return;
  }
  /* refused reports count too: a flood of bad ones costs as much */
  we_login_limiter_failed (limiter, client, now);

  body = we_api_request_parse_json_object (request, &error);
  if (body == NULL) {
    we_api_request_respond_error (request, error);
    return;
  }
  event = we_error_event_new ();
  if (!parse_report (body, event, &error)) {
    we_api_request_respond_error (request, error);
    return;
  }
  event->id = we_uuid_new ();
  g_free (request->audit_resource_id);
  request->audit_resource_id = g_strdup (event->id);
  we_store_call_async (ctx->store, add_in_store, g_steal_pointer (&event),
                       (GDestroyNotify) we_error_event_free, NULL, request->cancellable,
                       added_cb, request);
}

/* --- GET /v1/errors ------------------------------------------------------- */

typedef struct {
  WeApiRequest *request;
  WeErrorFilter filter;
  gchar        *source, *severity;
} ListData;

static void
list_data_free (ListData *d)
{
  g_free (d->source);
  g_free (d->severity);
  g_free (d);
}

typedef struct {
  GPtrArray *events;
  guint      total;
} ListResult;

static void
list_result_free (ListResult *r)
{
  g_clear_pointer (&r->events, g_ptr_array_unref);
  g_free (r);
}

static gpointer
list_in_store (WeStore *store, gpointer data, GError **error)
{
  ListData *d = data;
  ListResult *r = g_new0 (ListResult, 1);

  r->events = we_store_error_event_list (store, &d->filter, &r->total, error);
  if (r->events == NULL) {
    list_result_free (r);
    return NULL;
  }
  return r;
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
  array = json_array_new ();
  for (guint i = 0; i < r->events->len; i++)
    json_array_add_object_element (array, event_to_json (g_ptr_array_index (r->events, i)));
  o = json_object_new ();
  json_object_set_array_member (o, "errors", array);
  json_object_set_int_member (o, "total", r->total);
  json_object_set_int_member (o, "limit", d->filter.limit);
  json_object_set_int_member (o, "offset", d->filter.offset);
  we_api_request_respond_object (d->request, 200, o);
  list_result_free (r);
  list_data_free (d);
}

static gboolean
parse_count (const gchar *name, const gchar *text, guint min, guint max, guint *out,
             GError **error)
{
  guint64 value;

  if (text == NULL || *text == '\0')
    return TRUE;
  if (!g_ascii_string_to_unsigned (text, 10, min, max, &value, NULL))
    return invalid (error, "%s must be a whole number from %u to %u", name, min, max);
  *out = (guint) value;
  return TRUE;
}

void
we_api_errors_list (WeApiRequest *request)
{
  const WeApiContext *ctx = we_api_request_context (request);
  const gchar *source = we_api_request_query (request, "source");
  const gchar *severity = we_api_request_query (request, "severity");
  const gchar *resolved = we_api_request_query (request, "resolved");
  const gchar *since = we_api_request_query (request, "since");
  g_autoptr(GError) error = NULL;
  ListData *d = g_new0 (ListData, 1);

  d->filter.resolved = -1;
  d->filter.limit = 50;
  if (source != NULL && *source != '\0')
    d->source = g_strdup (source);
  if (severity != NULL && *severity != '\0') {
    if (!g_strv_contains (severities, severity))
      invalid (&error, "severity must be one of warning, error, critical, fatal");
    d->severity = g_strdup (severity);
  }
  if (error == NULL && resolved != NULL && *resolved != '\0') {
    if (g_str_equal (resolved, "true"))
      d->filter.resolved = 1;
    else if (g_str_equal (resolved, "false"))
      d->filter.resolved = 0;
    else
      invalid (&error, "resolved must be true or false");
  }
  if (error == NULL && since != NULL && *since != '\0') {
    g_autoptr(GTimeZone) utc = g_time_zone_new_utc ();
    g_autoptr(GDateTime) dt = g_date_time_new_from_iso8601 (since, utc);

    if (dt == NULL)
      invalid (&error, "since must be an RFC 3339 time");
    else
      d->filter.since = g_date_time_to_unix (dt) * G_USEC_PER_SEC +
                        g_date_time_get_microsecond (dt);
  }
  if (error == NULL)
    parse_count ("limit", we_api_request_query (request, "limit"), 1, 1000, &d->filter.limit,
                 &error);
  if (error == NULL)
    parse_count ("offset", we_api_request_query (request, "offset"), 0, G_MAXINT,
                 &d->filter.offset, &error);
  if (error != NULL) {
    we_api_request_respond_error (request, error);
    list_data_free (d);
    return;
  }
  d->filter.source_component = d->source;
  d->filter.severity = d->severity;
  d->request = request;
  we_store_call_async (ctx->store, list_in_store, d, NULL, (GDestroyNotify) list_result_free,
                       request->cancellable, listed_cb, d);
}

/* --- PATCH /v1/errors/{id} ------------------------------------------------- */

typedef struct {
  gchar   *id;
  gboolean resolved;
  gchar   *by;
} Resolve;

static void
resolve_free (Resolve *r)
{
  g_free (r->id);
  g_free (r->by);
  g_free (r);
}

static gpointer
resolve_in_store (WeStore *store, gpointer data, GError **error)
{
  Resolve *r = data;

  return we_store_error_event_set_resolved (store, r->id, r->resolved, r->by, error)
           ? GINT_TO_POINTER (1) : NULL;
}

static void
resolved_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  WeApiRequest *request = user_data;
  g_autoptr(GError) error = NULL;
  JsonObject *o;

  we_store_call_finish (WE_STORE (source), result, &error);
  if (error != NULL) {
    we_api_request_respond_error (request, error);
    return;
  }
  o = json_object_new ();
  json_object_set_string_member (o, "id", we_api_request_param (request, 0));
  json_object_set_boolean_member (o, "resolved",
                                  GPOINTER_TO_INT (g_object_get_data (G_OBJECT (request->msg),
                                                                      "we-resolved")));
  we_api_request_respond_object (request, 200, o);
}

void
we_api_errors_update (WeApiRequest *request)
{
  const WeApiContext *ctx = we_api_request_context (request);
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) body = we_api_request_parse_json_object (request, &error);
  JsonNode *node;
  Resolve *r;

  if (body == NULL) {
    we_api_request_respond_error (request, error);
    return;
  }
  node = json_object_get_member (body, "resolved");
  if (json_object_get_size (body) != 1 || node == NULL || !JSON_NODE_HOLDS_VALUE (node) ||
      json_node_get_value_type (node) != G_TYPE_BOOLEAN) {
    invalid (&error, "the body must be {\"resolved\": true} or {\"resolved\": false}");
    we_api_request_respond_error (request, error);
    return;
  }
  r = g_new0 (Resolve, 1);
  r->id = g_strdup (we_api_request_param (request, 0));
  r->resolved = json_node_get_boolean (node);
  r->by = g_strdup (request->identity != NULL ? request->identity->username : NULL);
  g_object_set_data (G_OBJECT (request->msg), "we-resolved", GINT_TO_POINTER (r->resolved));
  we_store_call_async (ctx->store, resolve_in_store, r, (GDestroyNotify) resolve_free, NULL,
                       request->cancellable, resolved_cb, request);
}
