/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "we-api-request.h"
#include "we-api-private.h"

#include "common/we-log.h"

#define DOCS_BASE "https://docs.webencode.io/errors/"

const WeApiContext *
we_api_request_context (WeApiRequest *request)
{
  return we_api_server_get_context (request->server);
}

const gchar *
we_api_request_param (WeApiRequest *request, guint index)
{
  if (request->params == NULL || index >= g_strv_length (request->params))
    return NULL;
  return request->params[index];
}

const gchar *
we_api_request_query (WeApiRequest *request, const gchar *name)
{
  if (request->query == NULL)
    return NULL;
  return g_hash_table_lookup (request->query, name);
}

JsonObject *
we_api_request_parse_json_object (WeApiRequest *request, GError **error)
{
  g_autoptr(JsonParser) parser = json_parser_new_immutable ();
  g_autoptr(GError) local = NULL;
  gsize size = 0;
  const gchar *data = request->body ? g_bytes_get_data (request->body, &size) : NULL;
  JsonNode *root;

  if (data == NULL || size == 0) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                         "the request body is empty; a JSON object is expected");
    return NULL;
  }
  if (!g_utf8_validate (data, (gssize) size, NULL)) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                         "the request body is not UTF-8");
    return NULL;
  }
  if (!json_parser_load_from_data (parser, data, (gssize) size, &local)) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST, "malformed JSON: %s",
                 local->message);
    return NULL;
  }
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root)) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                         "the request body must be a JSON object");
    return NULL;
  }
  return json_object_ref (json_node_get_object (root));
}

JsonNode *
we_api_error_envelope (const GError *error, const gchar *request_id)
{
  WeErrorCode code = we_error_code_from_gerror (error);
  g_autoptr(JsonBuilder) b = json_builder_new ();
  g_autoptr(GDateTime) now = g_date_time_new_now_utc ();
  g_autofree gchar *ts = g_date_time_format (now, "%Y-%m-%dT%H:%M:%SZ");
  g_autofree gchar *docs = g_strconcat (DOCS_BASE, we_error_code_to_string (code), NULL);

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "error");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "code");
  json_builder_add_string_value (b, we_error_code_to_string (code));
  json_builder_set_member_name (b, "message");
  json_builder_add_string_value (b, we_error_code_message (code));
  json_builder_set_member_name (b, "details");
  json_builder_add_string_value (b, error ? error->message : "");
  json_builder_set_member_name (b, "request_id");
  json_builder_add_string_value (b, request_id ? request_id : "");
  json_builder_set_member_name (b, "timestamp");
  json_builder_add_string_value (b, ts);
  json_builder_set_member_name (b, "docs_url");
  json_builder_add_string_value (b, docs);
  json_builder_end_object (b);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

static void
set_json_body (SoupServerMessage *msg, guint status, JsonNode *node)
{
  g_autofree gchar *text = json_to_string (node, FALSE);
  gsize len = strlen (text);

  soup_server_message_set_status (msg, status, NULL);
  soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Cache-Control",
                                "no-store");
  soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_TAKE,
                                    g_steal_pointer (&text), len);
}

void
we_api_message_set_error (SoupServerMessage *msg, const GError *error, const gchar *request_id)
{
  WeErrorCode code = we_error_code_from_gerror (error);
  g_autoptr(JsonNode) node = we_api_error_envelope (error, request_id);

  if (code == WE_ERROR_SYS_INTERNAL)
    we_log (G_LOG_LEVEL_WARNING, request_id, we_error_code_to_string (code), "%s",
            error ? error->message : "internal error");
  /* a browser answers a Basic challenge with its own login dialog, over the
   * dashboard's form: scripts that say who they are get the envelope only */
  if ((code == WE_ERROR_AUTH_UNAUTHORIZED || code == WE_ERROR_AUTH_TOKEN_EXPIRED) &&
      g_strcmp0 (soup_message_headers_get_one (soup_server_message_get_request_headers (msg),
                                               "X-Requested-With"), "XMLHttpRequest") != 0)
    soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                  "WWW-Authenticate", "Basic realm=\"WebEncode\"");
  set_json_body (msg, we_error_code_http_status (code), node);
}

static void
finish (WeApiRequest *request)
{
  we_api_audit_request (request);
  soup_server_message_unpause (request->msg);
  we_api_request_free (request);
}

void
we_api_request_respond_json (WeApiRequest *request, guint status, JsonNode *node)
{
  if (request->audit_resource_id == NULL && JSON_NODE_HOLDS_OBJECT (node)) {
    JsonNode *id = json_object_get_member (json_node_get_object (node), "id");

    if (id != NULL && JSON_NODE_HOLDS_VALUE (id) &&
        json_node_get_value_type (id) == G_TYPE_STRING)
      request->audit_resource_id = g_strdup (json_node_get_string (id));
  }
  set_json_body (request->msg, status, node);
  finish (request);
}

void
we_api_request_respond_object (WeApiRequest *request, guint status, JsonObject *object)
{
  g_autoptr(JsonNode) node = json_node_init_object (json_node_alloc (), object);

  json_object_unref (object);
  we_api_request_respond_json (request, status, node);
}

void
we_api_request_respond_array (WeApiRequest *request, guint status, JsonArray *array)
{
  g_autoptr(JsonNode) node = json_node_init_array (json_node_alloc (), array);

  json_array_unref (array);
  we_api_request_respond_json (request, status, node);
}

void
we_api_request_respond_empty (WeApiRequest *request, guint status)
{
  soup_server_message_set_status (request->msg, status, NULL);
  finish (request);
}

void
we_api_request_respond_error (WeApiRequest *request, const GError *error)
{
  g_free (request->audit_error_code);
  request->audit_error_code = g_strdup (we_error_code_to_string (we_error_code_from_gerror (error)));
  we_api_message_set_error (request->msg, error, request->request_id);
  finish (request);
}

SoupServerMessage *
we_api_request_steal_message (WeApiRequest *request)
{
  SoupServerMessage *msg = g_object_ref (request->msg);

  we_api_request_free (request);
  return msg;
}

void
we_api_request_free (WeApiRequest *request)
{
  if (request == NULL)
    return;
  g_clear_object (&request->server);
  g_clear_object (&request->msg);
  g_free (request->request_id);
  g_strfreev (request->params);
  g_clear_pointer (&request->query, g_hash_table_unref);
  g_clear_pointer (&request->identity, we_identity_free);
  g_clear_pointer (&request->body, g_bytes_unref);
  g_clear_object (&request->cancellable);
  g_free (request->audit_resource_id);
  g_free (request->audit_error_code);
  g_free (request);
}
