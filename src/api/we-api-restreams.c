/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * /v1/restreams (docs/api.md "Restreams", spec §4.6, §10.3, issue 11):
 * restream jobs, their destinations and their runs. Reading is for every
 * role, the rest for operators.
 *
 * A destination URL carries the platform's stream key, so it is a secret:
 * the store keeps it sealed (AES-256-GCM under the service secret, bound to
 * the restream and purpose, like stream keys: src/core/we-stream-keys.c)
 * beside a masked copy, and every response, the creating one included,
 * shows only the masked form ("rtmp://host/live/" followed by four asterisks and "abcd"). The open URL
 * goes to the restream worker and nowhere else.
 *
 * Each request's store work (read, check, write) runs in one
 * we_store_call_async() call; the run-time side (start, stop, destinations
 * of a running restream, live stats) is src/core/we-restream.c's manager,
 * which the daemon hangs on the API server as "we-restream-manager".
 */
#include "config.h"

#include <string.h>

#include "common/we-config.h"
#include "common/we-job.h"
#include "common/we-json.h"
#include "common/we-log.h"
#include "core/we-live-kernel.h"
#include "core/we-restream.h"
#include "core/we-restream-platform.h"
#include "core/we-stream-keys.h"
#include "we-api-handlers.h"

#define MAX_TITLE        255
#define MAX_DESCRIPTION  5000
#define MAX_URL          2048
#define MAX_DESTINATIONS 32
#define MAX_PLAYLIST     100

typedef enum {
  OP_LIST,
  OP_CREATE,
  OP_GET,
  OP_UPDATE,
  OP_DELETE,
  OP_START,
  OP_STOP,
  OP_DEST_ADD,
  OP_DEST_UPDATE,
  OP_DEST_DELETE,
} OpKind;

typedef struct {
  WeApiRequest      *request;
  WeRestreamManager *manager;   /* (nullable) */
  WeContentKeys     *keys;
  OpKind             kind;
  gchar             *id;
  gchar             *dest_id;
  JsonObject        *body;      /* (nullable) the request's */
  WeRestreamRecord  *record;    /* the row as it is after the op */
  GPtrArray         *records;   /* list */
  gboolean           start_now; /* create: schedule_type immediate */
  /* destination changes for a running restream: the open URL lives here
   * only until the response (wiped when freed) */
  gchar             *open_url;
  gboolean           dest_enabled;
  gboolean           set_enabled;
  gchar             *live_dir;  /* [live] output_dir: where a stream input is read */
  /* an rtmp/srt input's own stream: its credentials, shown in the creating
   * response only (wiped when freed), and the stream a delete takes along */
  gchar             *ingest_key, *ingest_passphrase;
  gchar             *own_stream_id;
  WePluginHost      *host;      /* storage URLs of file inputs */
} Op;

static void
op_free (Op *op)
{
  g_clear_object (&op->manager);
  g_clear_object (&op->keys);
  g_free (op->id);
  g_free (op->dest_id);
  g_clear_pointer (&op->body, json_object_unref);
  g_clear_pointer (&op->record, we_restream_record_free);
  g_clear_pointer (&op->records, g_ptr_array_unref);
  if (op->open_url != NULL)
    memset (op->open_url, 0, strlen (op->open_url));
  g_free (op->open_url);
  g_free (op->live_dir);
  if (op->ingest_key != NULL)
    memset (op->ingest_key, 0, strlen (op->ingest_key));
  g_free (op->ingest_key);
  if (op->ingest_passphrase != NULL)
    memset (op->ingest_passphrase, 0, strlen (op->ingest_passphrase));
  g_free (op->ingest_passphrase);
  g_free (op->own_stream_id);
  g_clear_object (&op->host);
  g_free (op);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Op, op_free)

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
  g_set_error_literal (error, WE_ERROR, WE_ERROR_RST_INVALID_REQUEST, text);
  return FALSE;
}

static WeRestreamManager *
manager_of (WeApiRequest *request)
{
  return g_object_get_data (G_OBJECT (request->server), "we-restream-manager");
}

/* --- validation (main loop, before the store) ------------------------------ */

static gboolean
member_string (JsonObject *o, const gchar *name, gsize max, const gchar **out, GError **error)
{
  JsonNode *node = json_object_get_member (o, name);

  *out = NULL;
  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    return invalid (error, "%s must be a string", name);
  *out = json_node_get_string (node);
  if (!g_utf8_validate (*out, -1, NULL) || g_utf8_strlen (*out, -1) > (glong) max)
    return invalid (error, "%s must be UTF-8 of at most %" G_GSIZE_FORMAT " characters", name,
                    max);
  return TRUE;
}

static gboolean
member_bool (JsonObject *o, const gchar *name, gboolean *present, gboolean *out,
             GError **error)
{
  JsonNode *node = json_object_get_member (o, name);

  *present = node != NULL;
  if (node == NULL)
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_BOOLEAN)
    return invalid (error, "%s must be true or false", name);
  *out = json_node_get_boolean (node);
  return TRUE;
}

/* An input location as the worker's uridecodebin takes it: an object of a
 * storage pillar (fs://, s3://, file:// — an absolute path is made one) as
 * that storage hands it to GStreamer. Everything goes through the storage
 * pillar, so a restream reads only what a job could: file:// inside the
 * storage root or its browse roots, never any file the service can open
 * (which a destination of the operator's choosing would then receive).
 * Returns: (transfer full) */
static gchar *
input_uri (WePluginHost *host, const gchar *name, const gchar *location, GError **error)
{
  g_autofree gchar *as_uri = NULL;
  g_autoptr(GError) local = NULL;
  g_autofree gchar *uri = NULL;
  g_autofree gchar *path = NULL;
  WeStorage *storage;

  if (location == NULL || *location == '\0') {
    invalid (error, "%s must not be empty", name);
    return NULL;
  }
  if (g_path_is_absolute (location)) {
    as_uri = g_filename_to_uri (location, NULL, NULL);
    if (as_uri == NULL) {
      invalid (error, "%s: not a valid path", name);
      return NULL;
    }
    location = as_uri;
  }
  storage = host != NULL ? we_plugin_host_storage_for_url (host, location, NULL) : NULL;
  if (storage == NULL) {
    invalid (error, "%s must be an absolute path or a storage URL (fs://, file://, s3://…) "
             "that a storage plugin serves", name);
    return NULL;
  }
  uri = we_storage_get_media_uri (storage, location, &local);
  if (uri == NULL) {
    invalid (error, "%s: %s", name, local->message);
    return NULL;
  }
  /* this runs on the main loop or the store's thread: a local object is
   * checked here, a remote one (a presigned URL) when the worker opens it */
  path = g_str_has_prefix (uri, "file:") ? g_filename_from_uri (uri, NULL, NULL) : NULL;
  if (path != NULL && !g_file_test (path, G_FILE_TEST_IS_REGULAR)) {
    invalid (error, "%s: no such file %s", name, location);
    return NULL;
  }
  return g_steal_pointer (&uri);
}

/* A destination URL: rtmp, rtmps or srt with a host (WE-RST-004). The
 * message never repeats the URL: it may hold a stream key. */
static gboolean
check_destination_url (const gchar *url, GError **error)
{
  g_autoptr(GUri) uri = NULL;
  const gchar *scheme;

  if (url == NULL || *url == '\0') {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_RST_INVALID_DESTINATION,
                         "a destination needs a url");
    return FALSE;
  }
  uri = g_uri_parse (url, G_URI_FLAGS_ENCODED, NULL);
  scheme = uri != NULL ? g_uri_get_scheme (uri) : NULL;
  if (uri == NULL || g_uri_get_host (uri) == NULL || *g_uri_get_host (uri) == '\0' ||
      (g_strcmp0 (scheme, "rtmp") != 0 && g_strcmp0 (scheme, "rtmps") != 0 &&
       g_strcmp0 (scheme, "srt") != 0)) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_RST_INVALID_DESTINATION,
                         "a destination url must be rtmp://, rtmps:// or srt:// with a host");
    return FALSE;
  }
  if (g_strcmp0 (scheme, "srt") == 0 && g_uri_get_port (uri) <= 0) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_RST_INVALID_DESTINATION,
                         "an srt:// destination needs a port");
    return FALSE;
  }
  return TRUE;
}

/* A destination of the body, checked: {platform?, url, enabled?}. The open
 * URL is put into the document by seal_destinations() on the store thread. */
static JsonObject *
parse_destination (JsonNode *node, GError **error)
{
  JsonObject *in, *out;
  const gchar *url, *platform;
  g_autofree gchar *url_buf = NULL;
  gboolean present, enabled = TRUE;

  if (!JSON_NODE_HOLDS_OBJECT (node)) {
    invalid (error, "a destination must be an object");
    return NULL;
  }
  in = json_node_get_object (node);
  if (!member_string (in, "url", MAX_URL, &url, error) ||
      !member_string (in, "platform", 64, &platform, error) ||
      !member_bool (in, "enabled", &present, &enabled, error))
    return NULL;
  if (url == NULL && platform != NULL) {
    /* a platform destination: its URL is made from the publisher's preset
     * and the stream key in the secrets backend when the worker starts
     * (src/core/we-restream-platform.c); the store keeps a placeholder,
     * checked on the store thread (we_restream_platform_check_all) */
    if (platform[0] == '\0' || strspn (platform, "abcdefghijklmnopqrstuvwxyz0123456789_-") !=
        strlen (platform)) {
      g_set_error_literal (error, WE_ERROR, WE_ERROR_RST_INVALID_DESTINATION,
                           "a destination platform is a lower-case name such as twitch, kick, "
                           "rumble or youtube");
      return NULL;
    }
    url_buf = g_strconcat (WE_RESTREAM_PLATFORM_SCHEME, platform, NULL);
    url = url_buf;
  } else if (!check_destination_url (url, error)) {
    return NULL;
  }
  out = json_object_new ();
  {
    g_autofree gchar *uuid = we_uuid_new ();
    g_autofree gchar *id = g_strndup (uuid, 8);

    json_object_set_string_member (out, "id", id);
  }
  json_object_set_string_member (out, "platform", platform != NULL ? platform : "custom");
  json_object_set_string_member (out, "url_open", url);
  json_object_set_boolean_member (out, "enabled", enabled);
  return out;
}

/* rtmp and srt inputs are a new ingest of ours that comes with the restream */
static gboolean
is_own_ingest (const gchar *input_type)
{
  return g_strcmp0 (input_type, "rtmp") == 0 || g_strcmp0 (input_type, "srt") == 0;
}

/* The definition members of a POST (@create) or PATCH body, checked and
 * merged into @doc. */
static gboolean
parse_definition (JsonObject *body, JsonObject *doc, gboolean create, const gchar *live_dir,
                  WePluginHost *host, GError **error)
{
  static const gchar *const members[] = {
    "title", "description", "input_type", "input_url", "vod_job_id", "vod_output", "stream_id",
    "playlist", "output_destinations", "schedule_type", "schedule_config", "loop_enabled",
    "loop_count", "simulate_live", NULL
  };
  JsonObjectIter iter;
  const gchar *key, *text;
  JsonNode *value;
  gboolean present = FALSE, flag = FALSE;
  const gchar *input_type;

  json_object_iter_init (&iter, body);
  while (json_object_iter_next (&iter, &key, &value))
    if (!g_strv_contains (members, key))
      return invalid (error, "unknown member %s", key);
  if (!create && json_object_has_member (body, "output_destinations"))
    return invalid (error, "change destinations through /v1/restreams/{id}/destinations");

  if (!member_string (body, "title", MAX_TITLE, &text, error))
    return FALSE;
  if (text != NULL) {
    g_autofree gchar *trimmed = g_strstrip (g_strdup (text));

    if (*trimmed == '\0')
      return invalid (error, "title must not be empty");
    json_object_set_string_member (doc, "title", trimmed);
  } else if (create) {
    return invalid (error, "title is required");
  }
  if (!member_string (body, "description", MAX_DESCRIPTION, &text, error))
    return FALSE;
  if (json_object_has_member (body, "description")) {
    if (text != NULL)
      json_object_set_string_member (doc, "description", text);
    else
      json_object_set_null_member (doc, "description");
  }

  if (!member_string (body, "input_type", 16, &text, error))
    return FALSE;
  if (text != NULL)
    json_object_set_string_member (doc, "input_type", text);
  else if (create)
    json_object_set_string_member (doc, "input_type", "file");
  if (!create && text != NULL && is_own_ingest (we_json_get_string (doc, "input_type")) !=
                                     json_object_get_boolean_member_with_default (
                                       doc, "own_ingest", FALSE))
    return invalid (error, "an rtmp or srt input is the restream's own ingest: it is chosen "
                           "when the restream is created and stays");
  input_type = we_json_get_string (doc, "input_type");
  if (g_strcmp0 (input_type, "file") != 0 && g_strcmp0 (input_type, "vod_job") != 0 &&
      g_strcmp0 (input_type, "stream") != 0 && !is_own_ingest (input_type))
    return invalid (error, "input_type must be file, vod_job, stream, rtmp or srt");
  if (is_own_ingest (input_type)) {
    /* a new ingest of ours, made with the restream (create_own_ingest()):
     * a publisher sends to it and the restream follows it like a stream
     * input */
    if (json_object_has_member (body, "input_url") || json_object_has_member (body, "playlist") ||
        json_object_has_member (body, "stream_id") || json_object_has_member (body, "vod_job_id"))
      return invalid (error, "an rtmp or srt restream has its own ingest: no input_url, "
                             "playlist, stream_id or vod_job_id");
    if (create)
      json_object_set_boolean_member (doc, "own_ingest", TRUE);
    goto destinations;
  }
  if (g_strcmp0 (input_type, "vod_job") == 0) {
    const gchar *jid;

    if (!member_string (body, "vod_job_id", 128, &text, error))
      return FALSE;
    if (text != NULL)
      json_object_set_string_member (doc, "vod_job_id", text);
    if (!member_string (body, "vod_output", MAX_URL, &text, error))
      return FALSE;
    if (json_object_has_member (body, "vod_output")) {
      if (text != NULL)
        json_object_set_string_member (doc, "vod_output", text);
      else if (json_object_has_member (doc, "vod_output"))
        json_object_remove_member (doc, "vod_output");
    }
    jid = we_json_get_string (doc, "vod_job_id");
    if (jid == NULL || *jid == '\0')
      return invalid (error, "a vod_job restream needs vod_job_id");
    if (json_object_has_member (body, "input_url") || json_object_has_member (body, "playlist") ||
        json_object_has_member (body, "stream_id"))
      return invalid (error, "a vod_job restream takes vod_job_id (and vod_output), not "
                             "input_url, playlist or stream_id");
    /* which output plays is decided with the job at hand: resolve_vod_job() */
    for (const gchar *const *m = (const gchar *const[]) { "playlist", "stream_id", NULL }; *m;
         m++)
      if (json_object_has_member (doc, *m))
        json_object_remove_member (doc, *m);
    goto destinations;
  }
  if (json_object_has_member (doc, "vod_job_id")) {
    /* from a job's output to a file or stream: the job is no longer the input */
    json_object_remove_member (doc, "vod_job_id");
    if (json_object_has_member (doc, "vod_output"))
      json_object_remove_member (doc, "vod_output");
    if (!json_object_has_member (body, "input_url")) {
      json_object_remove_member (doc, "input_url");
      json_object_remove_member (doc, "input_uri");
    }
  }
  if (g_strcmp0 (input_type, "stream") == 0) {
    g_autofree gchar *path = NULL;
    g_autofree gchar *uri = NULL;
    const gchar *sid;

    if (!member_string (body, "stream_id", 128, &text, error))
      return FALSE;
    if (text != NULL)
      json_object_set_string_member (doc, "stream_id", text);
    sid = we_json_get_string (doc, "stream_id");
    if (sid == NULL || *sid == '\0')
      return invalid (error, "a stream restream needs stream_id");
    if (strchr (sid, '/') != NULL || sid[0] == '.')
      return invalid (error, "stream_id: no such stream");
    /* the live worker's HLS of the stream (docs/architecture.md "Live
     * pillar"): the restream follows it a few segments behind */
    path = g_build_filename (live_dir, sid, "live", "index.m3u8", NULL);
    uri = g_filename_to_uri (path, NULL, error);
    if (uri == NULL)
      return FALSE;
    json_object_set_string_member (doc, "input_uri", uri);
    if (json_object_has_member (doc, "playlist"))
      json_object_remove_member (doc, "playlist");
    if (json_object_has_member (doc, "input_url"))
      json_object_remove_member (doc, "input_url");
    if (json_object_has_member (body, "input_url") || json_object_has_member (body, "playlist"))
      return invalid (error, "a stream restream takes stream_id, not input_url or playlist");
    goto destinations;
  }
  if (json_object_has_member (doc, "stream_id")) {
    /* from stream to file: the stream's playlist is no input of a file */
    json_object_remove_member (doc, "stream_id");
    json_object_remove_member (doc, "input_uri");
  }

  if (!member_string (body, "input_url", MAX_URL, &text, error))
    return FALSE;
  if (text != NULL) {
    g_autofree gchar *uri = input_uri (host, "input_url", text, error);

    if (uri == NULL)
      return FALSE;
    json_object_set_string_member (doc, "input_url", text);
    json_object_set_string_member (doc, "input_uri", uri);
  }
  if (json_object_has_member (body, "playlist")) {
    JsonNode *node = json_object_get_member (body, "playlist");
    JsonArray *in, *out;

    if (!JSON_NODE_HOLDS_ARRAY (node))
      return invalid (error, "playlist must be an array of file locations");
    in = json_node_get_array (node);
    if (json_array_get_length (in) > MAX_PLAYLIST)
      return invalid (error, "playlist is limited to %d items", MAX_PLAYLIST);
    out = json_array_new ();
    json_object_set_array_member (doc, "playlist", out);
    for (guint i = 0; i < json_array_get_length (in); i++) {
      JsonNode *item = json_array_get_element (in, i);
      g_autofree gchar *uri = NULL;

      if (!JSON_NODE_HOLDS_VALUE (item) || json_node_get_value_type (item) != G_TYPE_STRING)
        return invalid (error, "playlist must be an array of file locations");
      uri = input_uri (host, "playlist", json_node_get_string (item), error);
      if (uri == NULL)
        return FALSE;
      json_array_add_string_element (out, uri);
    }
  }
  if (we_json_get_string (doc, "input_uri") == NULL &&
      (we_json_get_array (doc, "playlist") == NULL ||
       json_array_get_length (we_json_get_array (doc, "playlist")) == 0))
    return invalid (error, "a file restream needs input_url or playlist");

destinations:
  if (create) {
    JsonNode *node = json_object_get_member (body, "output_destinations");
    JsonArray *out = json_array_new ();

    json_object_set_array_member (doc, "output_destinations", out);
    if (node != NULL && !JSON_NODE_HOLDS_ARRAY (node))
      return invalid (error, "output_destinations must be an array");
    if (node != NULL) {
      JsonArray *in = json_node_get_array (node);

      if (json_array_get_length (in) > MAX_DESTINATIONS)
        return invalid (error, "a restream has at most %d destinations", MAX_DESTINATIONS);
      for (guint i = 0; i < json_array_get_length (in); i++) {
        JsonObject *d = parse_destination (json_array_get_element (in, i), error);

        if (d == NULL)
          return FALSE;
        json_array_add_object_element (out, d);
      }
    }
  }

  if (!member_string (body, "schedule_type", 16, &text, error))
    return FALSE;
  if (text != NULL)
    json_object_set_string_member (doc, "schedule_type", text);
  else if (create)
    json_object_set_string_member (doc, "schedule_type", "immediate");
  if (json_object_has_member (body, "schedule_config")) {
    JsonNode *node = json_object_get_member (body, "schedule_config");

    if (JSON_NODE_HOLDS_NULL (node)) {
      json_object_remove_member (doc, "schedule_config");
    } else if (!JSON_NODE_HOLDS_OBJECT (node)) {
      return invalid (error, "schedule_config must be an object");
    } else {
      json_object_set_object_member (doc, "schedule_config",
                                     json_object_ref (json_node_get_object (node)));
      /* a new schedule fires anew */
      if (json_object_has_member (doc, "schedule_state"))
        json_object_remove_member (doc, "schedule_state");
    }
  }
  text = we_json_get_string (doc, "schedule_type");
  {
    JsonObject *sched = we_json_get_object (doc, "schedule_config");
    gint64 duration = sched != NULL ? we_json_get_int (sched, "duration_s", 0) : 0;

    if (sched != NULL && json_object_has_member (sched, "duration_s") && duration <= 0)
      return invalid (error, "schedule_config.duration_s must be a positive number of seconds");
    if (g_strcmp0 (text, "scheduled") == 0) {
      const gchar *at = sched != NULL ? we_json_get_string (sched, "at") : NULL;
      g_autoptr(GDateTime) when = at != NULL ? g_date_time_new_from_iso8601 (at, NULL) : NULL;

      if (when == NULL)
        return invalid (error, "a scheduled restream needs schedule_config.at, an RFC 3339 "
                               "time with its offset");
    } else if (g_strcmp0 (text, "recurring") == 0) {
      const gchar *cron = sched != NULL ? we_json_get_string (sched, "cron") : NULL;

      if (cron == NULL || !we_restream_cron_valid (cron))
        return invalid (error, "a recurring restream needs schedule_config.cron, \"m h dom mon "
                               "dow\"");
      if (duration <= 0)
        return invalid (error, "a recurring restream needs schedule_config.duration_s");
    } else if (g_strcmp0 (text, "immediate") != 0) {
      return invalid (error, "schedule_type must be immediate, scheduled or recurring");
    }
  }

  if (!member_bool (body, "loop_enabled", &present, &flag, error))
    return FALSE;
  if (present || create)
    json_object_set_boolean_member (doc, "loop_enabled", present ? flag : FALSE);
  if (!member_bool (body, "simulate_live", &present, &flag, error))
    return FALSE;
  /* file-as-live means real-time pacing unless asked otherwise */
  if (present || create)
    json_object_set_boolean_member (doc, "simulate_live", present ? flag : TRUE);
  if (json_object_has_member (body, "loop_count")) {
    JsonNode *node = json_object_get_member (body, "loop_count");

    if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_INT64 ||
        json_node_get_int (node) < 0 || json_node_get_int (node) > 1000000)
      return invalid (error, "loop_count must be a whole number from 0 (forever)");
    json_object_set_int_member (doc, "loop_count", json_node_get_int (node));
  }
  return TRUE;
}

/* --- store side ------------------------------------------------------------- */

/* Seals every destination's "url_open" into "url_sealed" + "url_masked". */
static gboolean
seal_destinations (WeContentKeys *keys, const gchar *id, JsonArray *dests, GError **error)
{
  for (guint i = 0; i < json_array_get_length (dests); i++) {
    JsonObject *d = json_array_get_object_element (dests, i);
    const gchar *url = we_json_get_string (d, "url_open");
    g_autofree gchar *sealed = NULL;
    g_autofree gchar *masked = NULL;

    if (url == NULL)
      continue;
    sealed = we_stream_keys_seal (keys, id, WE_RESTREAM_SEAL_URL, url, error);
    if (sealed == NULL)
      return FALSE;
    masked = we_restream_mask_url (url);
    json_object_set_string_member (d, "url_sealed", sealed);
    json_object_set_string_member (d, "url_masked", masked);
    json_object_remove_member (d, "url_open");
  }
  return TRUE;
}

static JsonObject *
parse_doc (const WeRestreamRecord *record, GError **error)
{
  g_autoptr(JsonNode) node = json_from_string (record->doc, error);

  if (node == NULL)
    return NULL;
  if (!JSON_NODE_HOLDS_OBJECT (node)) {
    g_set_error (error, WE_ERROR, WE_ERROR_SYS_DATABASE, "restream %s: its document is not "
                 "an object", record->id);
    return NULL;
  }
  return json_object_ref (json_node_get_object (node));
}

static gboolean
put_doc (WeStore *store, WeRestreamRecord *record, JsonObject *doc, GError **error)
{
  g_autoptr(JsonNode) node = json_node_init_object (json_node_alloc (), doc);

  g_free (record->doc);
  record->doc = json_to_string (node, FALSE);
  return we_store_restream_put (store, record, error);
}

static JsonObject *
find_dest (JsonObject *doc, const gchar *dest_id, guint *index)
{
  JsonArray *dests = we_json_get_array (doc, "output_destinations");

  for (guint i = 0; dests != NULL && i < json_array_get_length (dests); i++) {
    JsonObject *d = json_array_get_object_element (dests, i);

    if (g_strcmp0 (we_json_get_string (d, "id"), dest_id) == 0) {
      if (index != NULL)
        *index = i;
      return d;
    }
  }
  return NULL;
}

/* A stream input names a stream of ours. */
static gboolean
check_stream (WeStore *store, JsonObject *doc, GError **error)
{
  g_autoptr(WeStream) stream = NULL;
  g_autoptr(GError) local = NULL;
  const gchar *sid = we_json_get_string (doc, "stream_id");

  if (g_strcmp0 (we_json_get_string (doc, "input_type"), "stream") != 0 || sid == NULL)
    return TRUE;
  stream = we_store_stream_get (store, sid, &local);
  if (stream != NULL)
    return TRUE;
  if (g_error_matches (local, WE_ERROR, WE_ERROR_STR_NOT_FOUND))
    return invalid (error, "stream_id: no stream %s", sid);
  g_propagate_error (error, g_steal_pointer (&local));
  return FALSE;
}

/* The output of a job a vod_job restream plays: the one named vod_output,
 * else the job's final file, else its HLS (or DASH) manifest, whose best
 * rendition the worker's demuxer picks. */
static WeJobOutput *
pick_output (GPtrArray *outputs, const gchar *wanted)
{
  static const gchar *const preference[] = { "final", "manifest", NULL };

  for (guint i = 0; wanted != NULL && i < outputs->len; i++) {
    WeJobOutput *o = g_ptr_array_index (outputs, i);

    if (g_strcmp0 (o->name, wanted) == 0)
      return o;
  }
  if (wanted != NULL)
    return NULL;
  for (guint p = 0; preference[p] != NULL; p++) {
    WeJobOutput *found = NULL;

    for (guint i = 0; i < outputs->len; i++) {
      WeJobOutput *o = g_ptr_array_index (outputs, i);

      if (g_strcmp0 (o->type, preference[p]) != 0)
        continue;
      /* of several manifests, the HLS master plays in every case */
      if (found == NULL || (g_str_has_suffix (o->name, ".m3u8") &&
                            !g_str_has_suffix (found->name, ".m3u8")))
        found = o;
    }
    if (found != NULL)
      return found;
  }
  return NULL;
}

/* A vod_job input names a completed job of ours: its output becomes the
 * input, as a file restream of that storage URL would have it. On the
 * store thread (the storage's media URI is computed, not fetched). */
static gboolean
resolve_vod_job (WeStore *store, WePluginHost *host, JsonObject *doc, GError **error)
{
  const gchar *jid = we_json_get_string (doc, "vod_job_id");
  const gchar *wanted = we_json_get_string (doc, "vod_output");
  g_autoptr(WeJob) job = NULL;
  g_autoptr(GPtrArray) outputs = NULL;
  g_autoptr(GError) local = NULL;
  g_autofree gchar *uri = NULL;
  WeJobOutput *output;

  if (g_strcmp0 (we_json_get_string (doc, "input_type"), "vod_job") != 0)
    return TRUE;
  job = we_store_job_get (store, jid, &local);
  if (job == NULL) {
    if (g_error_matches (local, WE_ERROR, WE_ERROR_JOB_NOT_FOUND))
      return invalid (error, "vod_job_id: no job %s", jid);
    g_propagate_error (error, g_steal_pointer (&local));
    return FALSE;
  }
  if (job->status != WE_JOB_STATUS_COMPLETED)
    return invalid (error, "vod_job_id: job %s is %s: only a completed job's output can be "
                    "restreamed", jid, we_job_status_to_string (job->status));
  outputs = we_store_output_list (store, jid, error);
  if (outputs == NULL)
    return FALSE;
  output = pick_output (outputs, wanted);
  if (output == NULL) {
    if (wanted != NULL)
      return invalid (error, "vod_output: job %s has no output %s", jid, wanted);
    return invalid (error, "vod_job_id: job %s has no final output or manifest", jid);
  }
  uri = input_uri (host, "vod_job_id", output->url, error);
  if (uri == NULL)
    return FALSE;
  json_object_set_string_member (doc, "input_url", output->url);
  json_object_set_string_member (doc, "input_uri", uri);
  return TRUE;
}

/* An rtmp/srt input: a stream of ours made for the restream (listed with
 * the others in /v1/streams, where its key can be revealed and rotated),
 * read like a stream input. On the store thread. */
static gboolean
create_own_ingest (WeStore *store, Op *op, JsonObject *doc, GError **error)
{
  g_autoptr(WeStream) stream = NULL;
  g_autofree gchar *path = NULL;
  g_autofree gchar *uri = NULL;

  if (!json_object_get_boolean_member_with_default (doc, "own_ingest", FALSE))
    return TRUE;
  stream = we_stream_new ();
  stream->id = we_uuid_new ();
  stream->user_id = g_strdup (op->record->user_id);
  stream->title = g_strdup_printf ("%s (restream ingest)", we_json_get_string (doc, "title"));
  /* the stream only feeds the restream: nothing archived or recorded */
  stream->archive_enabled = FALSE;
  stream->record = FALSE;
  stream->latency_mode = g_strdup ("normal");
  if (!we_api_streams_create_in_store (store, op->keys, stream, &op->ingest_key,
                                       &op->ingest_passphrase, error))
    return FALSE;
  path = g_build_filename (op->live_dir, stream->id, "live", "index.m3u8", NULL);
  uri = g_filename_to_uri (path, NULL, error);
  if (uri == NULL)
    return FALSE;
  json_object_set_string_member (doc, "stream_id", stream->id);
  json_object_set_string_member (doc, "input_uri", uri);
  return TRUE;
}

/* On the store thread. Returns @data, or NULL with @error set. */
static gpointer
run_op (WeStore *store, gpointer data, GError **error)
{
  Op *op = data;
  g_autoptr(JsonObject) doc = NULL;

  switch (op->kind) {
  case OP_LIST:
    op->records = we_store_restream_list (store, error);
    return op->records != NULL ? op : NULL;
  case OP_CREATE:
    doc = json_object_ref (op->body);
    if (!check_stream (store, doc, error) || !resolve_vod_job (store, op->host, doc, error) ||
        !create_own_ingest (store, op, doc, error) ||
        !seal_destinations (op->keys, op->record->id,
                            we_json_get_array (doc, "output_destinations"), error) ||
        !we_restream_platform_check_all (op->host, we_json_get_array (doc, "output_destinations"),
                                         error) ||
        !put_doc (store, op->record, doc, error))
      return NULL;
    break;
  case OP_GET:
  case OP_START:
  case OP_STOP:
  case OP_DELETE:
  case OP_UPDATE:
  case OP_DEST_ADD:
  case OP_DEST_UPDATE:
  case OP_DEST_DELETE:
  default:
    op->record = we_store_restream_get (store, op->id, error);
    if (op->record == NULL)
      return NULL;
    break;
  }
  switch (op->kind) {
  case OP_UPDATE:
    doc = parse_doc (op->record, error);
    if (doc == NULL || !parse_definition (op->body, doc, FALSE, op->live_dir, op->host, error) ||
        !check_stream (store, doc, error) || !resolve_vod_job (store, op->host, doc, error) ||
        !put_doc (store, op->record, doc, error))
      return NULL;
    break;
  case OP_DELETE: {
    g_autoptr(JsonObject) old = parse_doc (op->record, NULL);

    if (!we_store_restream_delete (store, op->id, error))
      return NULL;
    /* its own ingest goes with it; a publisher still on it is cut off on
     * the main loop */
    if (old != NULL && json_object_get_boolean_member_with_default (old, "own_ingest", FALSE) &&
        we_json_get_string (old, "stream_id") != NULL) {
      g_autoptr(GError) local = NULL;

      op->own_stream_id = g_strdup (we_json_get_string (old, "stream_id"));
      if (!we_store_stream_delete (store, op->own_stream_id, &local) &&
          !g_error_matches (local, WE_ERROR, WE_ERROR_STR_NOT_FOUND))
        we_log (G_LOG_LEVEL_WARNING, NULL, NULL,
                "restream %s: its ingest stream %s stays: %s", op->id, op->own_stream_id,
                local->message);
    }
    break;
  }
  case OP_DEST_ADD: {
    g_autoptr(JsonNode) body = json_node_init_object (json_node_alloc (), op->body);
    JsonObject *d = parse_destination (body, error);
    JsonArray *dests;

    if (d == NULL)
      return NULL;
    doc = parse_doc (op->record, error);
    if (doc == NULL) {
      json_object_unref (d);
      return NULL;
    }
    dests = we_json_get_array (doc, "output_destinations");
    if (dests == NULL) {
      dests = json_array_new ();
      json_object_set_array_member (doc, "output_destinations", dests);
    }
    if (json_array_get_length (dests) >= MAX_DESTINATIONS) {
      json_object_unref (d);
      return GINT_TO_POINTER (invalid (error, "a restream has at most %d destinations",
                                       MAX_DESTINATIONS));
    }
    op->dest_id = g_strdup (we_json_get_string (d, "id"));
    op->open_url = g_strdup (we_json_get_string (d, "url_open"));
    op->dest_enabled = we_json_get_bool (d, "enabled", TRUE);
    json_array_add_object_element (dests, d);
    if (!seal_destinations (op->keys, op->id, dests, error) ||
        !we_restream_platform_check_all (op->host, dests, error) ||
        !put_doc (store, op->record, doc, error))
      return NULL;
    break;
  }
  case OP_DEST_UPDATE:
  case OP_DEST_DELETE: {
    JsonObject *d;
    guint index = 0;

    doc = parse_doc (op->record, error);
    if (doc == NULL)
      return NULL;
    d = find_dest (doc, op->dest_id, &index);
    if (d == NULL) {
      g_set_error (error, WE_ERROR, WE_ERROR_RST_DESTINATION_NOT_FOUND,
                   "restream %s has no destination %s", op->id, op->dest_id);
      return NULL;
    }
    if (op->kind == OP_DEST_DELETE)
      json_array_remove_element (we_json_get_array (doc, "output_destinations"), index);
    else if (op->set_enabled)
      json_object_set_boolean_member (d, "enabled", op->dest_enabled);
    if (!put_doc (store, op->record, doc, error))
      return NULL;
    break;
  }
  case OP_LIST:
  case OP_CREATE:
  case OP_GET:
  case OP_START:
  case OP_STOP:
  default:
    break;
  }
  return op;
}

/* --- JSON --------------------------------------------------------------------- */

static void
set_time (JsonObject *o, const gchar *name, gint64 at)
{
  if (at > 0) {
    g_autofree gchar *text = we_time_format (at);
    json_object_set_string_member (o, name, text);
  } else {
    json_object_set_null_member (o, name);
  }
}

static void
copy_member (JsonObject *to, JsonObject *from, const gchar *name)
{
  JsonNode *node = json_object_get_member (from, name);

  json_object_set_member (to, name, node != NULL ? json_node_copy (node)
                                                 : json_node_new (JSON_NODE_NULL));
}

/* A restream as the API shows it: the record, with the manager's run-time
 * view when it runs here. */
static JsonObject *
restream_to_json (const WeRestreamRecord *record, WeRestreamManager *manager)
{
  g_autoptr(JsonObject) doc = parse_doc (record, NULL);
  g_autoptr(JsonObject) live = manager != NULL ? we_restream_manager_get_live (manager,
                                                                               record->id)
                                               : NULL;
  g_autoptr(JsonObject) stored = NULL;
  JsonObject *o = json_object_new ();
  JsonObject *stats_dests;
  JsonArray *dests = json_array_new ();
  JsonArray *doc_dests;
  JsonObject *current = json_object_new ();
  static const gchar *const copied[] = { "title", "description", "input_type", "input_url",
                                         "playlist", "schedule_type", "schedule_config",
                                         "loop_enabled", "loop_count", "simulate_live", NULL };

  if (record->stats != NULL) {
    g_autoptr(JsonNode) node = json_from_string (record->stats, NULL);

    if (node != NULL && JSON_NODE_HOLDS_OBJECT (node))
      stored = json_object_ref (json_node_get_object (node));
  }
  if (doc == NULL)
    doc = json_object_new ();
  json_object_set_string_member (o, "id", record->id);
  json_object_set_string_member (o, "user_id", record->user_id);
  for (guint i = 0; copied[i] != NULL; i++)
    copy_member (o, doc, copied[i]);
  if (json_object_get_member (o, "playlist") != NULL &&
      JSON_NODE_HOLDS_NULL (json_object_get_member (o, "playlist")))
    json_object_set_array_member (o, "playlist", json_array_new ());
  copy_member (o, doc, "vod_job_id");
  copy_member (o, doc, "vod_output");
  copy_member (o, doc, "stream_id");
  /* a restream that should run but does not run here (yet) shows what the
   * store says */
  json_object_set_string_member (o, "status", live != NULL ? we_json_get_string (live, "status")
                                                          : record->status);
  {
    JsonObject *src = live != NULL ? live : stored;
    const gchar *error = src != NULL ? we_json_get_string (src, "error") : NULL;

    if (error != NULL)
      json_object_set_string_member (o, "error", error);
    else
      json_object_set_null_member (o, "error");
    stats_dests = src != NULL ? we_json_get_object (src, "destinations") : NULL;
  }
  doc_dests = we_json_get_array (doc, "output_destinations");
  for (guint i = 0; doc_dests != NULL && i < json_array_get_length (doc_dests); i++) {
    JsonObject *d = json_array_get_object_element (doc_dests, i);
    JsonObject *out = json_object_new ();
    const gchar *dest_id = we_json_get_string (d, "id");
    JsonObject *stats = stats_dests != NULL && dest_id != NULL
                          ? we_json_get_object (stats_dests, dest_id) : NULL;

    json_object_set_string_member (out, "id", dest_id);
    json_object_set_string_member (out, "platform", we_json_get_string (d, "platform"));
    json_object_set_string_member (out, "url", we_json_get_string (d, "url_masked"));
    json_object_set_boolean_member (out, "enabled", we_json_get_bool (d, "enabled", TRUE));
    if (stats != NULL) {
      json_object_set_object_member (out, "stats", json_object_ref (stats));
      json_object_set_object_member (current, dest_id, json_object_ref (stats));
    } else {
      json_object_set_null_member (out, "stats");
    }
    json_array_add_object_element (dests, out);
  }
  json_object_set_array_member (o, "output_destinations", dests);
  json_object_set_object_member (o, "current_stats", current);
  set_time (o, "created_at", record->created_at);
  set_time (o, "updated_at", record->updated_at);
  return o;
}

/* --- answering ----------------------------------------------------------------- */

static void
respond_restream (Op *op, guint status)
{
  WeApiRequest *request = op->request;
  JsonObject *o = restream_to_json (op->record, op->manager);

  /* an own ingest: where to publish, the key only in the creating answer */
  if (is_own_ingest (we_json_get_string (o, "input_type")) &&
      we_json_get_string (o, "stream_id") != NULL)
    json_object_set_object_member (o, "ingest",
                                   we_api_streams_ingest_json (request,
                                                               we_json_get_string (o, "stream_id"),
                                                               op->ingest_key,
                                                               op->ingest_passphrase));
  we_api_request_respond_object (request, status, o);
}

static void
run_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Op) op = user_data;
  g_autoptr(GError) error = NULL;

  if (!we_restream_manager_run_finish (WE_RESTREAM_MANAGER (source), result, &error)) {
    we_api_request_respond_error (op->request, error);
    return;
  }
  respond_restream (op, op->kind == OP_CREATE ? SOUP_STATUS_CREATED : SOUP_STATUS_ACCEPTED);
}

static void
op_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Op *op = user_data;
  WeApiRequest *request = op->request;
  g_autoptr(GError) error = NULL;

  we_store_call_finish (WE_STORE (source), result, &error);
  if (error != NULL) {
    we_api_request_respond_error (request, error);
    return;
  }
  switch (op->kind) {
  case OP_LIST: {
    JsonArray *array = json_array_new ();
    JsonObject *o = json_object_new ();

    for (guint i = 0; i < op->records->len; i++)
      json_array_add_object_element (array, restream_to_json (op->records->pdata[i],
                                                              op->manager));
    json_object_set_array_member (o, "restreams", array);
    json_object_set_int_member (o, "total", op->records->len);
    we_api_request_respond_object (request, SOUP_STATUS_OK, o);
    op_free (op);
    return;
  }
  case OP_CREATE:
    g_free (request->audit_resource_id);
    request->audit_resource_id = g_strdup (op->record->id);
    if (op->start_now && op->manager != NULL) {
      /* the op goes on to the manager, which owns it from here */
      we_restream_manager_run_async (op->manager, op->record->id, run_done_cb, op);
      return;
    }
    respond_restream (op, SOUP_STATUS_CREATED);
    op_free (op);
    return;
  case OP_DELETE:
    if (op->manager != NULL && we_restream_manager_is_running (op->manager, op->id))
      we_restream_manager_stop (op->manager, op->id);
    if (op->own_stream_id != NULL && we_api_request_context (request)->live != NULL) {
      WeLiveKernel *live = we_api_request_context (request)->live;

      if (we_live_kernel_is_live (live, op->own_stream_id))
        we_live_kernel_end_stream (live, op->own_stream_id, NULL);
      we_live_kernel_forget_stream (live, op->own_stream_id);
    }
    we_api_request_respond_empty (request, SOUP_STATUS_NO_CONTENT);
    op_free (op);
    return;
  case OP_START:
    if (op->manager == NULL) {
      g_autoptr(GError) e = g_error_new_literal (WE_ERROR, WE_ERROR_RST_RUNNER_FAILED,
                                                 "restreams do not run in this service");

      we_api_request_respond_error (request, e);
      op_free (op);
      return;
    }
    if (we_restream_manager_is_running (op->manager, op->id)) {
      g_autoptr(GError) e = g_error_new (WE_ERROR, WE_ERROR_RST_RUNNING,
                                         "restream %s is running already", op->id);

      we_api_request_respond_error (request, e);
      op_free (op);
      return;
    }
    we_restream_manager_run_async (op->manager, op->id, run_done_cb, op);
    return;
  case OP_STOP:
    if (op->manager != NULL)
      we_restream_manager_stop (op->manager, op->id);
    g_free (op->record->status);
    op->record->status = g_strdup ("stopped");
    break;
  case OP_DEST_ADD:
    if (op->manager != NULL)
      we_restream_manager_dest_add (op->manager, op->id, op->dest_id, op->open_url,
                                    op->dest_enabled);
    respond_restream (op, SOUP_STATUS_CREATED);
    op_free (op);
    return;
  case OP_DEST_UPDATE:
    if (op->manager != NULL && op->set_enabled)
      we_restream_manager_dest_set_enabled (op->manager, op->id, op->dest_id, op->dest_enabled);
    break;
  case OP_DEST_DELETE:
    if (op->manager != NULL)
      we_restream_manager_dest_remove (op->manager, op->id, op->dest_id);
    break;
  case OP_UPDATE:
    /* running here: applied now (a new input restarts its worker); running
     * on another kernel: its owner applies it on its next tick */
    if (op->manager != NULL)
      we_restream_manager_reload (op->manager, op->id);
    break;
  case OP_GET:
  default:
    break;
  }
  respond_restream (op, SOUP_STATUS_OK);
  op_free (op);
}

/* --- requests ----------------------------------------------------------------------- */

static Op *
op_new (WeApiRequest *request, OpKind kind)
{
  Op *op = g_new0 (Op, 1);
  WeRestreamManager *manager = manager_of (request);

  op->request = request;
  op->kind = kind;
  op->keys = g_object_ref (we_api_request_context (request)->keys);
  op->manager = manager != NULL ? g_object_ref (manager) : NULL;
  if (kind != OP_LIST && kind != OP_CREATE)
    op->id = g_strdup (we_api_request_param (request, 0));
  if (kind == OP_DEST_UPDATE || kind == OP_DEST_DELETE)
    op->dest_id = g_strdup (we_api_request_param (request, 1));
  op->live_dir = g_strdup (we_config_get_live_output_dir (we_api_request_context (request)->config));
  op->host = g_object_ref (we_api_request_context (request)->host);
  return op;
}

static JsonObject *
body_of (WeApiRequest *request, GError **error)
{
  g_autoptr(GError) local = NULL;
  JsonObject *body = we_api_request_parse_json_object (request, &local);

  if (body == NULL)
    invalid (error, "%s", local->message);
  return body;
}

static void
fail (WeApiRequest *request, Op *op, GError *error)
{
  we_api_request_respond_error (request, error);
  g_error_free (error);
  if (op != NULL)
    op_free (op);
}

/* The store call frees nothing on error: op_done_cb must. */
static void
op_done_or_free_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Op *op = user_data;

  if (!g_task_had_error (G_TASK (result))) {
    op_done_cb (source, result, op);
    return;
  }
  {
    g_autoptr(GError) error = NULL;

    we_store_call_finish (WE_STORE (source), result, &error);
    we_api_request_respond_error (op->request, error);
    op_free (op);
  }
}

static void
op_submit (Op *op)
{
  we_store_call_async (we_api_request_context (op->request)->store, run_op, op, NULL, NULL,
                       op->request->cancellable, op_done_or_free_cb, op);
}

void
we_api_restreams_list (WeApiRequest *request)
{
  op_submit (op_new (request, OP_LIST));
}

void
we_api_restreams_create (WeApiRequest *request)
{
  GError *error = NULL;
  g_autoptr(JsonObject) body = body_of (request, &error);
  Op *op;

  if (body == NULL) {
    fail (request, NULL, error);
    return;
  }
  op = op_new (request, OP_CREATE);
  op->body = json_object_new ();
  if (!parse_definition (body, op->body, TRUE, op->live_dir, op->host, &error)) {
    fail (request, op, error);
    return;
  }
  op->record = we_restream_record_new ();
  op->record->id = we_uuid_new ();
  op->record->user_id = g_strdup (request->identity != NULL &&
                                  request->identity->user_id != NULL
                                    ? request->identity->user_id : "anonymous");
  op->record->status = g_strdup ("stopped");
  op->start_now = g_strcmp0 (we_json_get_string (op->body, "schedule_type"), "immediate") == 0;
  op_submit (op);
}

void
we_api_restreams_get (WeApiRequest *request)
{
  op_submit (op_new (request, OP_GET));
}

void
we_api_restreams_update (WeApiRequest *request)
{
  GError *error = NULL;
  JsonObject *body = body_of (request, &error);
  Op *op;

  if (body == NULL) {
    fail (request, NULL, error);
    return;
  }
  op = op_new (request, OP_UPDATE);
  /* checked against the stored definition on the store thread (run_op):
   * a schedule_type may need the schedule_config stored already */
  op->body = body;
  op_submit (op);
}

void
we_api_restreams_delete (WeApiRequest *request)
{
  op_submit (op_new (request, OP_DELETE));
}

void
we_api_restreams_start (WeApiRequest *request)
{
  op_submit (op_new (request, OP_START));
}

void
we_api_restreams_stop (WeApiRequest *request)
{
  op_submit (op_new (request, OP_STOP));
}

void
we_api_restreams_dest_add (WeApiRequest *request)
{
  GError *error = NULL;
  JsonObject *body = body_of (request, &error);
  Op *op;

  if (body == NULL) {
    fail (request, NULL, error);
    return;
  }
  op = op_new (request, OP_DEST_ADD);
  op->body = body;
  op_submit (op);
}

void
we_api_restreams_dest_update (WeApiRequest *request)
{
  GError *error = NULL;
  g_autoptr(JsonObject) body = body_of (request, &error);
  JsonObjectIter iter;
  const gchar *key;
  JsonNode *value;
  Op *op;

  if (body == NULL) {
    fail (request, NULL, error);
    return;
  }
  op = op_new (request, OP_DEST_UPDATE);
  json_object_iter_init (&iter, body);
  while (json_object_iter_next (&iter, &key, &value))
    if (!g_str_equal (key, "enabled")) {
      invalid (&error, "a destination's url cannot change: remove it and add another; "
                       "unknown member %s", key);
      fail (request, op, error);
      return;
    }
  if (!member_bool (body, "enabled", &op->set_enabled, &op->dest_enabled, &error)) {
    fail (request, op, error);
    return;
  }
  op_submit (op);
}

void
we_api_restreams_dest_delete (WeApiRequest *request)
{
  op_submit (op_new (request, OP_DEST_DELETE));
}
