/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * GET /v1/jobs/{id}/key: the AES-128 key of an encrypted HLS ladder, the
 * URI its media playlists name in EXT-X-KEY. Players fetch it with the same
 * credentials as the playlists, so it is served to whoever may read the job
 * and to nobody else; it is never cached and never logged.
 */
#include "we-api-handlers.h"

#include <string.h>

#include "core/we-content-keys.h"

static void
key_job_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  WeApiRequest *request = user_data;
  const WeApiContext *ctx = we_api_request_context (request);
  g_autoptr(GError) error = NULL;
  g_autoptr(WeJob) job = we_store_finish_job (WE_STORE (source), result, &error);
  SoupMessageHeaders *headers;
  guint8 key[WE_CONTENT_KEY_SIZE];

  if (job == NULL) {
    we_api_request_respond_error (request, error);
    return;
  }
  /* the plan marks a job whose ladder is encrypted; any other job has no key
   * to give, and deriving one would hand out a key nobody asked for */
  if (job->output_config == NULL ||
      !json_object_get_boolean_member_with_default (job->output_config, "encrypted", FALSE) ||
      ctx->keys == NULL) {
    error = g_error_new (WE_ERROR, WE_ERROR_STO_NOT_FOUND, "job %s has no encryption key",
                         job->id);
    we_api_request_respond_error (request, error);
    return;
  }
  we_content_keys_derive (ctx->keys, job->id, key);
  headers = soup_server_message_get_response_headers (request->msg);
  soup_message_headers_replace (headers, "Cache-Control", "no-store");
  soup_server_message_set_response (request->msg, "application/octet-stream", SOUP_MEMORY_COPY,
                                    (const gchar *) key, sizeof key);
  memset (key, 0, sizeof key);
  we_api_request_respond_empty (request, SOUP_STATUS_OK);
}

void
we_api_jobs_key (WeApiRequest *request)
{
  we_store_job_get_async (we_api_request_context (request)->store,
                          we_api_request_param (request, 0), NULL, key_job_cb, request);
}
