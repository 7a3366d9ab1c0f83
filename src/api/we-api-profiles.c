/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"
#include "we-api-handlers.h"

static void
profiles_listed_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  WeApiRequest *request = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) profiles = we_store_finish_list (WE_STORE (source), result, NULL, &error);
  JsonArray *array;
  JsonObject *o;

  if (profiles == NULL) {
    we_api_request_respond_error (request, error);
    return;
  }
  array = json_array_new ();
  for (guint i = 0; i < profiles->len; i++)
    json_array_add_object_element (array, we_profile_to_json (g_ptr_array_index (profiles, i)));
  o = json_object_new ();
  json_object_set_array_member (o, "profiles", array);
  we_api_request_respond_object (request, SOUP_STATUS_OK, o);
}

void
we_api_profiles_list (WeApiRequest *request)
{
  we_store_profile_list_async (we_api_request_context (request)->store, NULL,
                               profiles_listed_cb, request);
}

static void
profile_got_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  WeApiRequest *request = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(WeProfile) profile = we_store_finish_profile (WE_STORE (source), result, &error);

  if (profile == NULL) {
    we_api_request_respond_error (request, error);
    return;
  }
  we_api_request_respond_object (request, SOUP_STATUS_OK, we_profile_to_json (profile));
}

void
we_api_profiles_get (WeApiRequest *request)
{
  we_store_profile_get_async (we_api_request_context (request)->store,
                              we_api_request_param (request, 0), NULL, profile_got_cb, request);
}

void
we_api_health (WeApiRequest *request)
{
  const WeApiContext *ctx = we_api_request_context (request);
  JsonObject *o = json_object_new ();
  JsonObject *workers = json_object_new ();
  gint64 up = (g_get_real_time () - we_api_server_get_started_at (request->server)) /
              G_USEC_PER_SEC;

  json_object_set_string_member (o, "status", "ok");
  json_object_set_string_member (o, "version", PACKAGE_VERSION);
  json_object_set_string_member (o, "mode", ctx->mode);
  json_object_set_string_member (o, "store", ctx->store_kind);
  json_object_set_int_member (workers, "total", we_queue_total_slots (ctx->queue));
  json_object_set_int_member (workers, "free", we_queue_free_slots (ctx->queue));
  json_object_set_object_member (o, "workers", workers);
  json_object_set_int_member (o, "active_jobs", we_scheduler_get_active_count (ctx->scheduler));
  json_object_set_int_member (o, "uptime_s", up);
  we_api_request_respond_object (request, SOUP_STATUS_OK, o);
}
