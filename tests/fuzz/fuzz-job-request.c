/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The JSON request bodies of the API: POST /v1/jobs (with an inline
 * "custom_profile") and the profile documents of POST/PUT /v1/profiles, token
 * and webhook bodies going through the same json-glib parse. Anything a client
 * sends is answered with an error, never a crash.
 */
#include <stdint.h>

#include "core/we-job-request.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr(JsonParser) parser = json_parser_new_immutable ();
  g_autoptr(GError) error = NULL;
  JsonNode *root;
  JsonObject *body;

  if (size > 1024 * 1024)
    return 0; /* the API refuses bigger bodies before parsing */
  if (!json_parser_load_from_data (parser, (const gchar *) data, (gssize) size, &error))
    return 0;
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    return 0;
  body = json_node_get_object (root);

  {
    g_autoptr(GError) job_error = NULL;
    g_autoptr(WeJobRequest) request = we_job_request_parse (body, &job_error);

    g_assert ((request == NULL) == (job_error != NULL));
  }
  {
    g_autoptr(GError) profile_error = NULL;
    g_autoptr(WeProfile) profile = we_profile_new_from_json (body, &profile_error);

    if (profile != NULL) {
      g_autoptr(GError) invalid = NULL;
      g_autoptr(JsonObject) back = NULL;

      we_profile_validate (profile, &invalid);
      back = we_profile_to_json (profile);
      g_assert (back != NULL);
    } else {
      g_assert (profile_error != NULL);
    }
  }
  return 0;
}
