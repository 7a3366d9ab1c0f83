/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "we-job-request.h"

#include <webencode/we-error.h>

#include "common/we-job.h"
#include "we-webhooks.h"

static const gchar *known_members[] = {
  "source_url", "profile", "profile_id", "profile_overrides", "output_url", "webhooks",
  "publish", "source_type", "priority", "idempotency_key", "custom_profile", NULL,
};

static gboolean
get_string (JsonObject *body, const gchar *name, gboolean required, gchar **out, GError **error)
{
  JsonNode *node = json_object_get_member (body, name);
  const gchar *value;

  *out = NULL;
  if (node == NULL || JSON_NODE_HOLDS_NULL (node)) {
    if (required) {
      g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                   "\"%s\" is required", name);
      return FALSE;
    }
    return TRUE;
  }
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST, "\"%s\" must be a string", name);
    return FALSE;
  }
  value = json_node_get_string (node);
  if (*value == '\0') {
    if (required) {
      g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST, "\"%s\" must not be empty",
                   name);
      return FALSE;
    }
    return TRUE;
  }
  if (strlen (value) > WE_JOB_REQUEST_MAX_URL) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                 "\"%s\" is longer than %d characters", name, WE_JOB_REQUEST_MAX_URL);
    return FALSE;
  }
  if (!g_utf8_validate (value, -1, NULL)) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST, "\"%s\" is not UTF-8", name);
    return FALSE;
  }
  *out = g_strdup (value);
  return TRUE;
}

static gboolean
has_scheme (const gchar *url)
{
  g_autofree gchar *scheme = g_uri_parse_scheme (url);
  return scheme != NULL;
}

gboolean
we_job_request_parse_priority (JsonNode *node, gint *priority, GError **error)
{
  gint64 v;

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) ||
      json_node_get_value_type (node) != G_TYPE_INT64 ||
      (v = json_node_get_int (node)) < 0 || v > 100) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                         "\"priority\" must be an integer from 0 to 100");
    return FALSE;
  }
  *priority = (gint) v;
  return TRUE;
}

WeJobRequest *
we_job_request_parse (JsonObject *body, GError **error)
{
  g_autoptr(WeJobRequest) req = g_new0 (WeJobRequest, 1);
  g_autoptr(GList) members = NULL;
  JsonNode *node;

  if (body == NULL) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                         "the request body must be a JSON object");
    return NULL;
  }
  members = json_object_get_members (body);
  for (GList *l = members; l != NULL; l = l->next) {
    if (!g_strv_contains (known_members, l->data)) {
      g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                   "unknown member \"%s\"", (const gchar *) l->data);
      return NULL;
    }
  }

  if (!get_string (body, "source_url", TRUE, &req->source_url, error))
    return NULL;
  if (!has_scheme (req->source_url)) {
    /* a bare path is ambiguous between hosts; make the caller say which storage */
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_SOURCE,
                 "source_url \"%s\" has no scheme; use fs://key or file:///absolute/path",
                 req->source_url);
    return NULL;
  }
  node = json_object_get_member (body, "custom_profile");
  if (node != NULL && !JSON_NODE_HOLDS_NULL (node)) {
    g_autoptr(JsonObject) custom = NULL;

    /* one way to say which profile: a stored one (maybe overridden) or this */
    if (json_object_has_member (body, "profile") || json_object_has_member (body, "profile_id") ||
        json_object_has_member (body, "profile_overrides")) {
      g_set_error_literal (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                           "\"custom_profile\" replaces \"profile\" and "
                           "\"profile_overrides\"; send one or the other");
      return NULL;
    }
    if (!JSON_NODE_HOLDS_OBJECT (node)) {
      g_set_error_literal (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                           "\"custom_profile\" must be a profile object");
      return NULL;
    }
    custom = json_object_ref (json_node_get_object (node));
    if (!json_object_has_member (custom, "id")) {
      /* name a copy: the caller's body stays as it was sent */
      JsonObject *named = we_json_object_copy (custom);

      json_object_unref (custom);
      custom = named;
      json_object_set_string_member (custom, "id", WE_JOB_REQUEST_CUSTOM_PROFILE_ID);
    }
    req->custom_profile = we_profile_new_from_json (custom, error);
    if (req->custom_profile == NULL) {
      g_prefix_error (error, "custom_profile: ");
      return NULL;
    }
    req->profile_id = g_strdup (req->custom_profile->id);
  } else if (json_object_has_member (body, "profile")) {
    if (!get_string (body, "profile", TRUE, &req->profile_id, error))
      return NULL;
  } else if (!get_string (body, "profile_id", TRUE, &req->profile_id, error)) {
    g_clear_error (error);
    g_set_error_literal (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                         "\"profile\" is required");
    return NULL;
  }
  if (!get_string (body, "output_url", FALSE, &req->output_url, error))
    return NULL;
  if (req->output_url != NULL && !has_scheme (req->output_url)) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                 "output_url \"%s\" has no scheme", req->output_url);
    return NULL;
  }

  if (!get_string (body, "idempotency_key", FALSE, &req->idempotency_key, error))
    return NULL;
  if (req->idempotency_key != NULL &&
      (req->idempotency_key[0] == '\0' || strlen (req->idempotency_key) > 255)) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                         "the idempotency key must be 1 to 255 characters");
    return NULL;
  }

  req->priority = 50;
  node = json_object_get_member (body, "priority");
  if (node != NULL && !JSON_NODE_HOLDS_NULL (node)) {
    if (!we_job_request_parse_priority (node, &req->priority, error))
      return NULL;
  }

  node = json_object_get_member (body, "profile_overrides");
  if (node != NULL && !JSON_NODE_HOLDS_NULL (node)) {
    if (!JSON_NODE_HOLDS_OBJECT (node)) {
      g_set_error_literal (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                           "\"profile_overrides\" must be an object");
      return NULL;
    }
    req->profile_overrides = json_object_ref (json_node_get_object (node));
  }

  node = json_object_get_member (body, "webhooks");
  if (node != NULL && !JSON_NODE_HOLDS_NULL (node)) {
    JsonArray *array;
    g_autoptr(JsonArray) hooks = json_array_new ();

    if (!JSON_NODE_HOLDS_ARRAY (node)) {
      g_set_error_literal (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                           "\"webhooks\" must be an array of URLs or {url, events} objects");
      return NULL;
    }
    array = json_node_get_array (node);
    if (json_array_get_length (array) > WE_JOB_REQUEST_MAX_WEBHOOKS) {
      g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                   "at most %d webhooks per job", WE_JOB_REQUEST_MAX_WEBHOOKS);
      return NULL;
    }
    /* normalised to {url, events?} objects: the webhooks dispatcher makes
     * them per-job webhook rows when the job is created */
    for (guint i = 0; i < json_array_get_length (array); i++) {
      JsonNode *el = json_array_get_element (array, i);
      JsonObject *hook = json_object_new ();
      JsonNode *url_node = el;
      g_auto(GStrv) events = NULL;

      json_array_add_object_element (hooks, hook);
      if (JSON_NODE_HOLDS_OBJECT (el)) {
        JsonObject *o = json_node_get_object (el);
        g_autoptr(GList) names = json_object_get_members (o);

        for (GList *l = names; l != NULL; l = l->next) {
          if (!g_str_equal (l->data, "url") && !g_str_equal (l->data, "events")) {
            g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                         "webhooks[%u]: unknown member \"%s\"", i, (const gchar *) l->data);
            return NULL;
          }
        }
        url_node = json_object_get_member (o, "url");
        g_autoptr(GError) local = NULL;

        events = we_webhooks_parse_events (json_object_get_member (o, "events"), &local);
        if (local != NULL) {
          g_propagate_prefixed_error (error, g_steal_pointer (&local), "webhooks[%u]: ", i);
          return NULL;
        }
      }
      if (url_node == NULL || !JSON_NODE_HOLDS_VALUE (url_node) ||
          json_node_get_value_type (url_node) != G_TYPE_STRING) {
        g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                     "webhooks[%u] must be a URL or an object with a \"url\"", i);
        return NULL;
      }
      if (!we_webhooks_check_url (json_node_get_string (url_node), error)) {
        g_prefix_error (error, "webhooks[%u]: ", i);
        return NULL;
      }
      json_object_set_string_member (hook, "url", json_node_get_string (url_node));
      if (events != NULL) {
        JsonArray *ev = json_array_new ();
        for (guint j = 0; events[j] != NULL; j++)
          json_array_add_string_element (ev, events[j]);
        json_object_set_array_member (hook, "events", ev);
      }
    }
    req->webhooks = g_steal_pointer (&hooks);
  }

  node = json_object_get_member (body, "publish");
  if (node != NULL && !JSON_NODE_HOLDS_NULL (node)) {
    if (!JSON_NODE_HOLDS_OBJECT (node)) {
      g_set_error_literal (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                           "\"publish\" must be an object");
      return NULL;
    }
    req->publish = json_object_ref (json_node_get_object (node));
  }
  return g_steal_pointer (&req);
}

void
we_job_request_free (WeJobRequest *request)
{
  if (request == NULL)
    return;
  g_free (request->source_url);
  g_free (request->profile_id);
  g_clear_pointer (&request->profile_overrides, json_object_unref);
  g_clear_pointer (&request->custom_profile, we_profile_unref);
  g_free (request->output_url);
  g_clear_pointer (&request->webhooks, json_array_unref);
  g_clear_pointer (&request->publish, json_object_unref);
  g_free (request->retry_of);
  g_free (request->idempotency_key);
  g_free (request);
}

gchar *
we_job_output_name (const gchar *source_url, const gchar *profile_id, const gchar *extension)
{
  g_autofree gchar *unescaped = g_uri_unescape_string (source_url, NULL);
  const gchar *base = unescaped ? unescaped : source_url;
  const gchar *slash = strrchr (base, '/');
  g_autofree gchar *stem = g_strdup (slash ? slash + 1 : base);
  gchar *dot = strrchr (stem, '.');
  GString *name = g_string_new (NULL);

  if (dot != NULL && dot != stem)
    *dot = '\0';
  for (const gchar *p = stem; *p && name->len < 80; p++) {
    if (g_ascii_isalnum (*p) || *p == '-' || *p == '_')
      g_string_append_c (name, *p);
    else if (name->len > 0 && name->str[name->len - 1] != '_')
      g_string_append_c (name, '_');
  }
  if (name->len == 0)
    g_string_append (name, "output");
  g_string_append_printf (name, "-%s.%s", profile_id, extension);
  return g_string_free (name, FALSE);
}
