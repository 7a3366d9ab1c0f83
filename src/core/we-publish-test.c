/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The publish requests' validation and the publication documents
 * (we-publish.c). The runner itself is tested end to end by
 * tests/integration/test_publish.py against a real daemon.
 */
#include "config.h"

#include <glib/gstdio.h>
#include <string.h>

#include "common/we-json.h"
#include "we-publish.h"

static JsonObject *
parse_json (const gchar *text)
{
  g_autoptr(JsonParser) parser = json_parser_new ();

  g_assert_true (json_parser_load_from_data (parser, text, -1, NULL));
  return json_object_ref (json_node_get_object (json_parser_get_root (parser)));
}

static void
test_problems_listed (void)
{
  g_autoptr(WePluginHost) host = we_plugin_host_new ();
  g_autoptr(JsonObject) body = parse_json (
      "{\"platform\": \"You Tube\", \"privacy\": \"secret\", \"tags\": [\"a\", 3],"
      " \"publish_at\": \"tomorrow\", \"category_id\": \"2 2\", \"colour\": \"red\"}");
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) out = we_publish_parse_request (host, body, &error);

  g_assert_null (out);
  g_assert_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST);
  /* every problem at once, so a client fixes them in one go */
  for (const gchar *const *w = (const gchar *const[]) { "platform", "privacy", "tags[1]",
                                                        "publish_at", "category_id",
                                                        "\"colour\"", "title", NULL };
       *w != NULL; w++)
    g_assert_nonnull (strstr (error->message, *w));
}

static void
test_lengths (void)
{
  g_autoptr(WePluginHost) host = we_plugin_host_new ();
  g_autoptr(JsonObject) body = parse_json ("{\"platform\": \"youtube\"}");
  g_autofree gchar *title = g_strnfill (WE_PUBLISH_MAX_TITLE + 1, 'x');
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) out = NULL;

  json_object_set_string_member (body, "title", title);
  out = we_publish_parse_request (host, body, &error);
  g_assert_null (out);
  g_assert_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST);
  g_assert_nonnull (strstr (error->message, "\"title\" is longer than 100"));
}

static void
test_no_publisher (void)
{
  g_autoptr(WePluginHost) host = we_plugin_host_new ();
  g_autoptr(JsonObject) body = parse_json (
      "{\"platform\": \"youtube\", \"title\": \"t\", \"category_id\": 22,"
      " \"publish_at\": \"2030-01-01T00:00:00Z\"}");
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) out = we_publish_parse_request (host, body, &error);

  /* a valid request nothing can publish: 422, not 400 */
  g_assert_null (out);
  g_assert_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG);
  g_assert_nonnull (strstr (error->message, "youtube"));
  g_clear_error (&error);
  json_object_set_string_member (body, "plugin", "publisher-none");
  out = we_publish_parse_request (host, body, &error);
  g_assert_null (out);
  g_assert_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG);
}

static void
test_targets_forms (void)
{
  g_autoptr(WePluginHost) host = we_plugin_host_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) node = json_from_string ("\"youtube\"", NULL);
  g_autoptr(JsonArray) none = we_publish_parse_targets (host, NULL, &error);
  g_autoptr(JsonArray) bad = NULL;

  g_assert_no_error (error);
  g_assert_cmpuint (json_array_get_length (none), ==, 0);
  bad = we_publish_parse_targets (host, node, &error);
  g_assert_null (bad);
  g_assert_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST);
  g_clear_error (&error);
  json_node_unref (node);
  node = json_from_string ("[{\"platform\": \"youtube\"}]", NULL);
  bad = we_publish_parse_targets (host, node, &error);
  g_assert_null (bad);
  g_assert_nonnull (strstr (error->message, "publish[0]: "));
  g_clear_error (&error);
  json_node_unref (node);
  node = json_from_string ("{\"vimeo\": {\"title\": \"t\"}}", NULL);
  bad = we_publish_parse_targets (host, node, &error);
  g_assert_null (bad);
  g_assert_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG);
  g_assert_nonnull (strstr (error->message, "publish.vimeo: "));
}

static void
test_document (void)
{
  g_autoptr(JsonObject) request = parse_json (
      "{\"platform\": \"youtube\", \"plugin\": \"publisher-youtube\", \"title\": \"t\"}");
  g_autoptr(JsonObject) doc = we_publication_new ("job-1", request, "user-1");
  g_autoptr(JsonObject) api = we_publication_to_api (doc);
  g_autoptr(JsonNode) node = json_node_init_object (json_node_alloc (), doc);
  g_autofree gchar *text = json_to_string (node, FALSE);
  g_autoptr(JsonObject) again = we_publication_parse (text, NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) broken = we_publication_parse ("[1]", &error);

  g_assert_cmpstr (we_json_get_string (doc, "status"), ==, "queued");
  g_assert_cmpint (we_json_get_int (doc, "attempts", -1), ==, 0);
  g_assert_cmpstr (we_json_get_string (doc, "job_id"), ==, "job-1");
  g_assert_true (json_object_has_member (doc, "_user_id"));
  /* the API never shows the runner's own members */
  g_assert_false (json_object_has_member (api, "_user_id"));
  g_assert_false (json_object_has_member (api, "_next_at"));
  g_assert_true (json_object_has_member (api, "last_error"));
  g_assert_cmpstr (we_json_get_string (again, "id"), ==, we_json_get_string (doc, "id"));
  g_assert_null (broken);
  g_assert_error (error, WE_ERROR, WE_ERROR_SYS_DATABASE);
}

/* [publish] in the key file, WE_PUBLISH_* over it, ranges checked */
static void
test_config_group (void)
{
  g_autofree gchar *dir = g_dir_make_tmp ("we-publish-config-XXXXXX", NULL);
  g_autofree gchar *path = g_build_filename (dir, "webencode.conf", NULL);
  g_autofree gchar *data_env = g_strconcat ("WE_DATA_DIR=", dir, NULL);
  gchar *env[] = { data_env, (gchar *) "WE_PUBLISH_CONCURRENCY=2", NULL };
  gchar *plain[] = { data_env, NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(WeConfig) config = NULL;
  g_autoptr(WeConfig) defaults = NULL;
  g_autoptr(WeConfig) bad = NULL;

  g_assert_true (g_file_set_contents (path, "[publish]\nmax_attempts=7\nconcurrency=3\n"
                                      "poll_ms=250\n", -1, NULL));
  config = we_config_new (path, env, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (we_config_get_publish_max_attempts (config), ==, 7);
  g_assert_cmpuint (we_config_get_publish_concurrency (config), ==, 2);   /* the variable wins */
  g_assert_cmpuint (we_config_get_publish_poll_ms (config), ==, 250);
  g_assert_cmpuint (we_config_get_publish_retry_base_ms (config), ==, 5000);

  defaults = we_config_new (NULL, plain, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (we_config_get_publish_max_attempts (defaults), ==, 5);
  g_assert_cmpuint (we_config_get_publish_concurrency (defaults), ==, 1);
  g_assert_cmpuint (we_config_get_publish_poll_ms (defaults), ==, 2000);

  for (guint i = 0; i < 3; i++) {
    const gchar *text[] = { "[publish]\nconcurrency=0\n", "[publish]\nconcurrency=17\n",
                            "[publish]\npoll_ms=10\n" };

    g_assert_true (g_file_set_contents (path, text[i], -1, NULL));
    bad = we_config_new (path, plain, &error);
    g_assert_null (bad);
    g_assert_error (error, WE_ERROR, WE_ERROR_SYS_INTERNAL);
    g_assert_nonnull (strstr (error->message, "publish"));
    g_clear_error (&error);
  }
  g_unlink (path);
  g_rmdir (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/publish/problems-listed", test_problems_listed);
  g_test_add_func ("/publish/lengths", test_lengths);
  g_test_add_func ("/publish/no-publisher", test_no_publisher);
  g_test_add_func ("/publish/targets", test_targets_forms);
  g_test_add_func ("/publish/document", test_document);
  g_test_add_func ("/publish/config-group", test_config_group);
  return g_test_run ();
}
