/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * /v1/streams (docs/api.md "Streams", spec §10.2, issue 10): live streams
 * and their ingest credentials. Reading is for every role; creating,
 * editing, deleting, rotating and revealing keys for operators (§19.5).
 *
 * The stream key and the SRT passphrase appear in exactly three responses,
 * to the operator who asked: the create, a rotation and a reveal (each a
 * POST, so each lands in the audit log). Lists and reads show the key's
 * last four characters only. Keys are made, sealed and opened in
 * src/core/we-stream-keys.c; every store access runs on the store's thread
 * through we_store_call_async(), a read-check-write in one such call.
 */
#include "config.h"

#include <string.h>

#include "common/we-config.h"
#include "common/we-job.h"
#include "common/we-json.h"
#include "core/we-live-kernel.h"
#include "core/we-stream-keys.h"
#include "we-api-handlers.h"

#define MAX_TITLE       255
#define MAX_DESCRIPTION 5000
#define MAX_PROFILE_ID  128
#define HISTORY_LEN     20
#define SRT_LATENCY_MS  200
/* create and rotate draw new keys this often before they report WE-STR-004 */
#define KEY_ATTEMPTS    3
/* telemetry_history: at most the last hour of 1 Hz samples */
#define WE_STREAM_TELEMETRY_MAX 3600

typedef enum {
  OP_CREATE,
  OP_GET,
  OP_UPDATE,
  OP_DELETE,
  OP_ROTATE,
  OP_REVEAL,
  OP_STATS,
} OpKind;

/* One request's work, filled in on the main loop, run on the store's
 * thread, answered on the main loop. */
typedef struct {
  WeApiRequest  *request;
  WeContentKeys *keys;
  OpKind         kind;
  gchar         *id;
  WeStream      *stream;      /* create: the new row; otherwise what the store holds */
  GPtrArray     *sessions;    /* newest first: the current one, or the history */
  /* PATCH members; set_* say which were given */
  gboolean       set_title, set_description, set_archive, set_record, set_latency, set_ladder;
  gchar         *title, *description, *latency, *ladder;
  gboolean       archive, record;
  gboolean       force;       /* DELETE ?force=true */
  /* plaintexts for the one response that shows them; wiped when freed */
  gchar         *key, *passphrase;
  /* for the response */
  gchar         *ingest_host;
  guint16        rtmp_port, srt_port;
  gboolean       show_remote;
  GPtrArray     *telemetry;   /* stats: the newest session's stored samples (JSON texts) */
} StreamOp;

static void
wipe_free (gchar *secret)
{
  if (secret != NULL)
    memset (secret, 0, strlen (secret));
  g_free (secret);
}

static void
stream_op_free (StreamOp *op)
{
  g_clear_object (&op->keys);
  g_free (op->id);
  g_clear_pointer (&op->stream, we_stream_free);
  g_clear_pointer (&op->sessions, g_ptr_array_unref);
  g_clear_pointer (&op->telemetry, g_ptr_array_unref);
  g_free (op->title);
  g_free (op->description);
  g_free (op->latency);
  g_free (op->ladder);
  wipe_free (op->key);
  wipe_free (op->passphrase);
  g_free (op->ingest_host);
  g_free (op);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (StreamOp, stream_op_free)

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
  g_set_error_literal (error, WE_ERROR, WE_ERROR_STR_INVALID_REQUEST, text);
  return FALSE;
}

/* --- the store side ------------------------------------------------------ */

/* A ladder must name a profile that exists (built in or stored). */
static gboolean
check_ladder (WeStore *store, const gchar *ladder, GError **error)
{
  g_autoptr(GError) local = NULL;
  g_autoptr(WeProfile) profile = NULL;

  if (ladder == NULL)
    return TRUE;
  profile = we_store_profile_get (store, ladder, &local);
  if (profile != NULL)
    return TRUE;
  if (local->domain == WE_ERROR && local->code == WE_ERROR_JOB_INVALID_PROFILE)
    return invalid (error, "ladder: no profile %s", ladder);
  g_propagate_error (error, g_steal_pointer (&local));
  return FALSE;
}

/* The current session of @op->stream, when it has one. */
static gboolean
load_current_session (WeStore *store, StreamOp *op, GError **error)
{
  g_autoptr(GPtrArray) sessions = NULL;

  if (op->stream->current_session_id == NULL)
    return TRUE;
  sessions = we_store_stream_session_list (store, op->stream->id, 1, error);
  if (sessions == NULL)
    return FALSE;
  op->sessions = g_steal_pointer (&sessions);
  return TRUE;
}

/* Gives @stream fresh credentials and writes it (@create: inserts it),
 * drawing again on a key or play name collision; the plaintexts go to
 * @key and @passphrase (wiped and replaced on each draw). */
static gboolean
issue_and_write (WeStore *store, WeContentKeys *keys, WeStream *stream, gboolean create,
                 gchar **key, gchar **passphrase, GError **error)
{
  for (guint attempt = 1;; attempt++) {
    g_autoptr(GError) local = NULL;

    wipe_free (g_steal_pointer (key));
    wipe_free (g_steal_pointer (passphrase));
    if (!we_stream_keys_issue (keys, stream, key, passphrase, error))
      return FALSE;
    if (create) {
      g_free (stream->play_name);
      stream->play_name = we_stream_keys_generate_play_name ();
    }
    if (create ? we_store_stream_create (store, stream, &local)
               : we_store_stream_update (store, stream, &local))
      return TRUE;
    if (!g_error_matches (local, WE_ERROR, WE_ERROR_STR_KEY_CONFLICT) ||
        attempt == KEY_ATTEMPTS) {
      g_propagate_error (error, g_steal_pointer (&local));
      return FALSE;
    }
  }
}

static gboolean
write_with_new_key (WeStore *store, StreamOp *op, gboolean create, GError **error)
{
  return issue_and_write (store, op->keys, op->stream, create, &op->key, &op->passphrase, error);
}

/**
 * we_api_streams_create_in_store:
 * @stream: a new stream (id, user, title…), given its credentials and inserted
 * @key: (out) (transfer full): its stream key, to be wiped by the caller
 * @passphrase: (out) (transfer full): its SRT passphrase, likewise
 *
 * A stream made by another resource (a restream's own ingest). On the
 * store's thread.
 */
gboolean
we_api_streams_create_in_store (WeStore *store, WeContentKeys *keys, WeStream *stream,
                                gchar **key, gchar **passphrase, GError **error)
{
  return issue_and_write (store, keys, stream, TRUE, key, passphrase, error);
}

static gboolean
apply_patch (WeStore *store, StreamOp *op, GError **error)
{
  WeStream *s = op->stream;

  /* the live pipeline was built for the latency it started with */
  if (op->set_latency && s->is_live && g_strcmp0 (op->latency, s->latency_mode) != 0) {
    g_set_error (error, WE_ERROR, WE_ERROR_STR_ALREADY_LIVE,
                 "stream %s is live: latency_mode can change once it ended", s->id);
    return FALSE;
  }
  if (op->set_ladder && s->is_live && g_strcmp0 (op->ladder, s->ladder_profile_id) != 0) {
    g_set_error (error, WE_ERROR, WE_ERROR_STR_ALREADY_LIVE,
                 "stream %s is live: ladder can change once it ended", s->id);
    return FALSE;
  }
  if (op->set_ladder && !check_ladder (store, op->ladder, error))
    return FALSE;
  if (op->set_title) {
    g_free (s->title);
    s->title = g_strdup (op->title);
  }
  if (op->set_description) {
    g_free (s->description);
    s->description = g_strdup (op->description);
  }
  if (op->set_archive)
    s->archive_enabled = op->archive;
  if (op->set_record)
    s->record = op->record;
  if (op->set_latency) {
    g_free (s->latency_mode);
    s->latency_mode = g_strdup (op->latency);
  }
  if (op->set_ladder) {
    g_free (s->ladder_profile_id);
    s->ladder_profile_id = g_strdup (op->ladder);
  }
  return we_store_stream_update (store, s, error);
}

static gpointer
run_op (WeStore *store, gpointer data, GError **error)
{
  StreamOp *op = data;

  if (op->kind == OP_CREATE) {
    if (!check_ladder (store, op->stream->ladder_profile_id, error) ||
        !write_with_new_key (store, op, TRUE, error))
      return NULL;
    return op;
  }

  op->stream = we_store_stream_get (store, op->id, error);
  if (op->stream == NULL)
    return NULL;
  switch (op->kind) {
  case OP_GET:
    if (!load_current_session (store, op, error))
      return NULL;
    break;
  case OP_UPDATE:
    if (!apply_patch (store, op, error) || !load_current_session (store, op, error))
      return NULL;
    break;
  case OP_DELETE:
    if (op->stream->is_live && !op->force) {
      g_set_error (error, WE_ERROR, WE_ERROR_STR_ALREADY_LIVE,
                   "stream %s is live: end it first, or delete with ?force=true", op->id);
      return NULL;
    }
    if (!we_store_stream_delete (store, op->id, error))
      return NULL;
    break;
  case OP_ROTATE:
    if (!write_with_new_key (store, op, FALSE, error) ||
        !load_current_session (store, op, error))
      return NULL;
    break;
  case OP_REVEAL:
    op->key = we_stream_keys_unseal (op->keys, op->stream->id, WE_STREAM_SEAL_KEY,
                                     op->stream->key_sealed, error);
    if (op->key == NULL)
      return NULL;
    op->passphrase = we_stream_keys_unseal (op->keys, op->stream->id, WE_STREAM_SEAL_SRT,
                                            op->stream->srt_passphrase_sealed, error);
    if (op->passphrase == NULL || !load_current_session (store, op, error))
      return NULL;
    break;
  case OP_STATS:
    op->sessions = we_store_stream_session_list (store, op->id, HISTORY_LEN, error);
    if (op->sessions == NULL)
      return NULL;
    /* the current (or last) session's telemetry, kept in the store so it
     * outlives a restart of the service */
    if (op->sessions->len > 0) {
      op->telemetry = we_store_stream_telemetry_list (
        store, ((WeStreamSession *) op->sessions->pdata[0])->id, WE_STREAM_TELEMETRY_MAX, error);
      if (op->telemetry == NULL)
        return NULL;
    }
    break;
  case OP_CREATE:
  default:
    g_assert_not_reached ();
  }
  return op;
}

/* --- JSON ------------------------------------------------------------------ */

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
set_string_or_null (JsonObject *o, const gchar *name, const gchar *value)
{
  if (value != NULL)
    json_object_set_string_member (o, name, value);
  else
    json_object_set_null_member (o, name);
}

static JsonObject *
session_to_json (const WeStreamSession *s, gboolean show_remote)
{
  JsonObject *o = json_object_new ();

  json_object_set_string_member (o, "id", s->id);
  json_object_set_string_member (o, "protocol", s->protocol);
  /* where a publisher connects from is for the people who run streams */
  if (show_remote)
    set_string_or_null (o, "remote_addr", s->remote_addr);
  set_time (o, "started_at", s->started_at);
  set_time (o, "ended_at", s->ended_at);
  set_string_or_null (o, "end_reason", s->end_reason);
  json_object_set_int_member (o, "bytes_in", s->bytes_in);
  return o;
}

/* The session @stream is in, from @sessions (newest first), or NULL. */
static const WeStreamSession *
current_session (const WeStream *stream, GPtrArray *sessions)
{
  const WeStreamSession *newest;

  if (stream->current_session_id == NULL || sessions == NULL || sessions->len == 0)
    return NULL;
  newest = g_ptr_array_index (sessions, 0);
  return g_strcmp0 (newest->id, stream->current_session_id) == 0 ? newest : NULL;
}

static JsonObject *
stream_to_json (const WeStream *s, const WeStreamSession *session, gboolean show_remote,
                WeLiveKernel *live)
{
  JsonObject *o = json_object_new ();

  json_object_set_string_member (o, "id", s->id);
  json_object_set_string_member (o, "user_id", s->user_id);
  json_object_set_string_member (o, "title", s->title);
  set_string_or_null (o, "description", s->description);
  json_object_set_boolean_member (o, "is_live", s->is_live);
  json_object_set_boolean_member (o, "archive_enabled", s->archive_enabled);
  json_object_set_boolean_member (o, "record", s->record);
  json_object_set_string_member (o, "latency_mode", s->latency_mode);
  set_string_or_null (o, "ladder", s->ladder_profile_id);
  json_object_set_string_member (o, "stream_key_hint", s->key_hint);
  json_object_set_string_member (o, "play_name", s->play_name);
  set_time (o, "created_at", s->created_at);
  set_time (o, "updated_at", s->updated_at);
  set_time (o, "last_started_at", s->started_at);
  set_time (o, "last_ended_at", s->ended_at);
  set_string_or_null (o, "archive_vod_job_id", s->archive_vod_job_id);
  if (session != NULL) {
    JsonObject *current = session_to_json (session, show_remote);

    /* recording starts and stops at run time (POST …/recording) */
    json_object_set_boolean_member (current, "recording",
                                    live != NULL && we_live_kernel_is_recording (live, s->id));
    json_object_set_object_member (o, "session", current);
  } else {
    json_object_set_null_member (o, "session");
  }
  return o;
}

/* What OBS and ffmpeg are given: RTMP server + key, and the SRT URL. Without
 * a key (a plain read) only the public half: the server, the SRT address and
 * streamid, so that the studio can show them with the key still masked. */
static JsonObject *
ingest_json (const gchar *host, guint16 rtmp_port, guint16 srt_port, const gchar *stream_id,
             const gchar *key, const gchar *passphrase)
{
  JsonObject *ingest = json_object_new ();
  JsonObject *rtmp = json_object_new ();
  JsonObject *srt = json_object_new ();
  g_autofree gchar *server = g_strdup_printf ("rtmp://%s:%u/live", host, rtmp_port);
  g_autofree gchar *streamid = g_strconcat ("publish:", stream_id, NULL);
  g_autofree gchar *srt_base = g_strdup_printf ("srt://%s:%u?streamid=%s", host, srt_port,
                                                streamid);

  json_object_set_string_member (rtmp, "server", server);
  json_object_set_string_member (srt, "streamid", streamid);
  json_object_set_int_member (srt, "latency_ms", SRT_LATENCY_MS);
  if (key != NULL) {
    g_autofree gchar *rtmp_url = g_strdup_printf ("%s/%s", server, key);
    g_autofree gchar *srt_url = g_strdup_printf ("%s&passphrase=%s", srt_base, passphrase);

    json_object_set_string_member (rtmp, "stream_key", key);
    json_object_set_string_member (rtmp, "url", rtmp_url);
    json_object_set_string_member (srt, "url", srt_url);
    json_object_set_string_member (srt, "passphrase", passphrase);
  } else {
    json_object_set_string_member (srt, "url", srt_base);
  }
  json_object_set_object_member (ingest, "rtmp", rtmp);
  json_object_set_object_member (ingest, "srt", srt);
  return ingest;
}

static JsonObject *
ingest_to_json (const StreamOp *op)
{
  return ingest_json (op->ingest_host, op->rtmp_port, op->srt_port, op->stream->id, op->key,
                      op->passphrase);
}

static void
op_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(StreamOp) op = user_data;
  WeApiRequest *request = op->request;
  g_autoptr(GError) error = NULL;
  const WeStreamSession *session;
  JsonObject *o;

  we_store_call_finish (WE_STORE (source), result, &error);
  if (error != NULL) {
    we_api_request_respond_error (request, error);
    return;
  }
  /* a deleted stream, or a rotated key, ends the publish running with it
   * (the publisher reconnecting with the old key is refused) */
  if ((op->kind == OP_DELETE || op->kind == OP_ROTATE) &&
      we_api_request_context (request)->live != NULL &&
      we_live_kernel_is_live (we_api_request_context (request)->live, op->id))
    we_live_kernel_end_stream (we_api_request_context (request)->live, op->id, NULL);
  switch (op->kind) {
  case OP_DELETE:
    /* its live HLS and recordings go (after an archive that reads them) */
    if (we_api_request_context (request)->live != NULL)
      we_live_kernel_forget_stream (we_api_request_context (request)->live, op->id);
    we_api_request_respond_empty (request, SOUP_STATUS_NO_CONTENT);
    return;
  case OP_STATS: {
    JsonArray *history = json_array_new ();

    session = current_session (op->stream, op->sessions);
    o = json_object_new ();
    json_object_set_string_member (o, "stream_id", op->stream->id);
    json_object_set_boolean_member (o, "is_live", op->stream->is_live);
    if (session != NULL) {
      JsonObject *current = session_to_json (session, op->show_remote);
      WeLiveKernel *live = we_api_request_context (request)->live;

      json_object_set_boolean_member (current, "recording",
                                      live != NULL &&
                                          we_live_kernel_is_recording (live, op->stream->id));
      json_object_set_object_member (o, "session", current);
    } else {
      json_object_set_null_member (o, "session");
    }
    /* the live worker's 1 Hz samples, kept by the kernel for the current
     * (or last) session: the latest and the history */
    {
      WeLiveKernel *live = we_api_request_context (request)->live;
      JsonObject *latest = live != NULL ? we_live_kernel_get_telemetry (live, op->stream->id)
                                        : NULL;

      json_object_set_string_member (o, "status", op->stream->is_live ? "live" : "offline");
      if (latest != NULL && op->stream->is_live) {
        json_object_set_double_member (o, "bitrate_kbps",
                                       we_json_get_double (latest, "video_bitrate_kbps", 0) +
                                           we_json_get_double (latest, "audio_bitrate_kbps", 0));
        json_object_set_double_member (o, "fps", we_json_get_double (latest, "fps", 0));
      }
      guint viewers = 0, peak = 0;
      JsonArray *samples = json_array_new ();

      if (latest != NULL)
        json_object_set_object_member (o, "telemetry", latest);
      else
        json_object_set_null_member (o, "telemetry");
      /* the session's samples from the store (they survive a restart) */
      for (guint i = 0; op->telemetry != NULL && i < op->telemetry->len; i++) {
        g_autoptr(JsonNode) node = json_from_string (op->telemetry->pdata[i], NULL);

        if (node != NULL && JSON_NODE_HOLDS_OBJECT (node))
          json_array_add_object_element (samples, json_object_ref (json_node_get_object (node)));
      }
      json_object_set_array_member (o, "telemetry_history", samples);
      if (live != NULL)
        viewers = we_live_kernel_get_viewers (live, op->stream->id, &peak);
      json_object_set_int_member (o, "viewers", op->stream->is_live ? viewers : 0);
      json_object_set_int_member (o, "peak_viewers", peak);
    }
    for (guint i = 0; i < op->sessions->len; i++)
      json_array_add_object_element (history, session_to_json (op->sessions->pdata[i],
                                                               op->show_remote));
    json_object_set_array_member (o, "history", history);
    we_api_request_respond_object (request, SOUP_STATUS_OK, o);
    return;
  }
  case OP_CREATE:
  case OP_GET:
  case OP_UPDATE:
  case OP_ROTATE:
  case OP_REVEAL:
  default:
    break;
  }
  session = current_session (op->stream, op->sessions);
  o = stream_to_json (op->stream, session, op->show_remote,
                      we_api_request_context (request)->live);
  if (op->key != NULL)
    json_object_set_string_member (o, "stream_key", op->key);
  json_object_set_object_member (o, "ingest", ingest_to_json (op));
  if (op->kind == OP_CREATE) {
    g_free (request->audit_resource_id);
    request->audit_resource_id = g_strdup (op->stream->id);
  }
  we_api_request_respond_object (request, op->kind == OP_CREATE ? SOUP_STATUS_CREATED
                                                                : SOUP_STATUS_OK, o);
}

/* --- requests -------------------------------------------------------------- */

/* The host publishers are told to connect to: [live] public_host, or the
 * host this API was reached at (IPv6 literals in brackets). */
static gchar *
ingest_host (WeApiRequest *request)
{
  const WeApiContext *ctx = we_api_request_context (request);
  const gchar *configured = we_config_get_live_public_host (ctx->config);
  const gchar *host;

  if (configured != NULL && *configured != '\0')
    return g_strdup (configured);
  host = g_uri_get_host (soup_server_message_get_uri (request->msg));
  if (host == NULL || *host == '\0')
    return g_strdup ("localhost");
  if (strchr (host, ':') != NULL && host[0] != '[')
    return g_strdup_printf ("[%s]", host);
  return g_strdup (host);
}

/**
 * we_api_streams_ingest_json:
 * @key: (nullable): the plaintext key, shown in this one response only
 *
 * Returns: (transfer full): the OBS-style ingest settings of a stream, as
 * `POST /v1/streams` answers them, for the host @request reached.
 */
JsonObject *
we_api_streams_ingest_json (WeApiRequest *request, const gchar *stream_id, const gchar *key,
                            const gchar *passphrase)
{
  const WeApiContext *ctx = we_api_request_context (request);
  g_autofree gchar *host = ingest_host (request);

  return ingest_json (host, we_config_get_live_rtmp_port (ctx->config),
                      we_config_get_live_srt_port (ctx->config), stream_id, key, passphrase);
}

static StreamOp *
op_new (WeApiRequest *request, OpKind kind)
{
  const WeApiContext *ctx = we_api_request_context (request);
  StreamOp *op = g_new0 (StreamOp, 1);

  op->request = request;
  op->kind = kind;
  op->keys = g_object_ref (ctx->keys);
  if (kind != OP_CREATE)
    op->id = g_strdup (we_api_request_param (request, 0));
  op->ingest_host = ingest_host (request);
  op->rtmp_port = we_config_get_live_rtmp_port (ctx->config);
  op->srt_port = we_config_get_live_srt_port (ctx->config);
  op->show_remote = request->identity != NULL && request->identity->role >= WE_ROLE_OPERATOR;
  return op;
}

static void
op_run (StreamOp *op)
{
  we_store_call_async (we_api_request_context (op->request)->store, run_op, op, NULL, NULL,
                       op->request->cancellable, op_done_cb, op);
}

/* The body as a JSON object; its own errors are WE-STR-001 here. */
static JsonObject *
parse_body (WeApiRequest *request, GError **error)
{
  g_autoptr(GError) local = NULL;
  JsonObject *body = we_api_request_parse_json_object (request, &local);

  if (body == NULL)
    invalid (error, "%s", local->message);
  return body;
}

/* An optional string member. @present says whether it was there (null
 * counts, leaving *@out NULL). */
static gboolean
get_string (JsonObject *body, const gchar *name, gsize max, gboolean nullable,
            gboolean *present, const gchar **out, GError **error)
{
  JsonNode *node = json_object_get_member (body, name);

  *out = NULL;
  *present = node != NULL;
  if (node == NULL)
    return TRUE;
  if (JSON_NODE_HOLDS_NULL (node)) {
    if (!nullable)
      return invalid (error, "%s must be a string", name);
    return TRUE;
  }
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    return invalid (error, "%s must be a string%s", name, nullable ? " or null" : "");
  *out = json_node_get_string (node);
  if (!g_utf8_validate (*out, -1, NULL))
    return invalid (error, "%s must be UTF-8", name);
  if (g_utf8_strlen (*out, -1) > (glong) max)
    return invalid (error, "%s is limited to %" G_GSIZE_FORMAT " characters", name, max);
  return TRUE;
}

static gboolean
get_bool (JsonObject *body, const gchar *name, gboolean *present, gboolean *out,
          GError **error)
{
  JsonNode *node = json_object_get_member (body, name);

  *present = node != NULL;
  if (node == NULL)
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_BOOLEAN)
    return invalid (error, "%s must be true or false", name);
  *out = json_node_get_boolean (node);
  return TRUE;
}

/* Reads the members POST and PATCH share into @op's set_* fields. */
static gboolean
parse_fields (JsonObject *body, StreamOp *op, GError **error)
{
  static const gchar *const members[] = { "title", "description", "archive_enabled", "record",
                                          "latency_mode", "ladder", NULL };
  JsonObjectIter iter;
  const gchar *key, *title, *description, *latency, *ladder;
  JsonNode *value;

  json_object_iter_init (&iter, body);
  while (json_object_iter_next (&iter, &key, &value)) {
    if (!g_strv_contains (members, key))
      return invalid (error, "unknown member %s", key);
  }
  if (!get_string (body, "title", MAX_TITLE, FALSE, &op->set_title, &title, error) ||
      !get_string (body, "description", MAX_DESCRIPTION, TRUE, &op->set_description,
                   &description, error) ||
      !get_string (body, "latency_mode", 16, FALSE, &op->set_latency, &latency, error) ||
      !get_string (body, "ladder", MAX_PROFILE_ID, TRUE, &op->set_ladder, &ladder, error) ||
      !get_bool (body, "archive_enabled", &op->set_archive, &op->archive, error) ||
      !get_bool (body, "record", &op->set_record, &op->record, error))
    return FALSE;
  if (op->set_title) {
    g_autofree gchar *trimmed = g_strstrip (g_strdup (title));

    if (*trimmed == '\0')
      return invalid (error, "title must not be empty");
    op->title = g_steal_pointer (&trimmed);
  }
  if (op->set_latency && !g_str_equal (latency, "normal") && !g_str_equal (latency, "low"))
    return invalid (error, "latency_mode must be \"normal\" or \"low\"");
  if (op->set_ladder && ladder != NULL && *ladder == '\0')
    return invalid (error, "ladder must be a profile id or null");
  op->description = g_strdup (description);
  op->latency = g_strdup (latency);
  op->ladder = g_strdup (ladder);
  return TRUE;
}

void
we_api_streams_create (WeApiRequest *request)
{
  g_autoptr(StreamOp) op = op_new (request, OP_CREATE);
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) body = parse_body (request, &error);
  WeStream *s;

  if (body == NULL || !parse_fields (body, op, &error)) {
    we_api_request_respond_error (request, error);
    return;
  }
  if (!op->set_title) {
    invalid (&error, "title is required");
    we_api_request_respond_error (request, error);
    return;
  }
  s = op->stream = we_stream_new ();
  s->id = we_uuid_new ();
  s->user_id = g_strdup (request->identity != NULL && request->identity->user_id != NULL
                         ? request->identity->user_id : "anonymous");
  s->title = g_strdup (op->title);
  s->description = g_strdup (op->description);
  s->archive_enabled = op->set_archive ? op->archive : TRUE;
  s->record = op->set_record ? op->record : FALSE;
  s->latency_mode = g_strdup (op->set_latency ? op->latency : "normal");
  s->ladder_profile_id = g_strdup (op->ladder);
  op_run (g_steal_pointer (&op));
}

typedef struct {
  WeApiRequest  *request;
  WeStreamFilter filter;
  GPtrArray     *streams;
  GHashTable    *sessions;   /* stream id → its current WeStreamSession */
  guint          total;
  gboolean       show_remote;
} ListOp;

static void
list_op_free (ListOp *op)
{
  g_clear_pointer (&op->streams, g_ptr_array_unref);
  g_clear_pointer (&op->sessions, g_hash_table_unref);
  g_free (op);
}

static gpointer
list_in_store (WeStore *store, gpointer data, GError **error)
{
  ListOp *op = data;

  op->streams = we_store_stream_list (store, &op->filter, &op->total, error);
  if (op->streams == NULL)
    return NULL;
  op->sessions = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                        (GDestroyNotify) we_stream_session_free);
  /* only live streams have a current session: few, even on a long page */
  for (guint i = 0; i < op->streams->len; i++) {
    WeStream *s = op->streams->pdata[i];
    g_autoptr(GPtrArray) sessions = NULL;

    if (s->current_session_id == NULL)
      continue;
    sessions = we_store_stream_session_list (store, s->id, 1, error);
    if (sessions == NULL)
      return NULL;
    if (sessions->len > 0 && g_strcmp0 (((WeStreamSession *) sessions->pdata[0])->id,
                                        s->current_session_id) == 0)
      g_hash_table_insert (op->sessions, s->id, g_ptr_array_steal_index (sessions, 0));
  }
  return op;
}

static void
listed_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  ListOp *op = user_data;
  g_autoptr(GError) error = NULL;
  JsonArray *array;
  JsonObject *o;

  we_store_call_finish (WE_STORE (source), result, &error);
  if (error != NULL) {
    we_api_request_respond_error (op->request, error);
    list_op_free (op);
    return;
  }
  array = json_array_new ();
  for (guint i = 0; i < op->streams->len; i++) {
    WeStream *s = op->streams->pdata[i];

    json_array_add_object_element (array,
                                   stream_to_json (s, g_hash_table_lookup (op->sessions, s->id),
                                                   op->show_remote,
                                                   we_api_request_context (op->request)->live));
  }
  o = json_object_new ();
  json_object_set_array_member (o, "streams", array);
  json_object_set_int_member (o, "total", op->total);
  json_object_set_int_member (o, "limit", op->filter.limit);
  json_object_set_int_member (o, "offset", op->filter.offset);
  we_api_request_respond_object (op->request, SOUP_STATUS_OK, o);
  list_op_free (op);
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
we_api_streams_list (WeApiRequest *request)
{
  const gchar *live = we_api_request_query (request, "live");
  g_autoptr(GError) error = NULL;
  ListOp *op = g_new0 (ListOp, 1);

  op->request = request;
  op->filter.live = -1;
  op->filter.limit = 50;
  op->show_remote = request->identity != NULL && request->identity->role >= WE_ROLE_OPERATOR;
  if (live != NULL && *live != '\0') {
    if (g_str_equal (live, "true"))
      op->filter.live = 1;
    else if (g_str_equal (live, "false"))
      op->filter.live = 0;
    else
      invalid (&error, "live must be true or false");
  }
  if (error == NULL)
    parse_count ("limit", we_api_request_query (request, "limit"), 1, 500, &op->filter.limit,
                 &error);
  if (error == NULL)
    parse_count ("offset", we_api_request_query (request, "offset"), 0, G_MAXINT,
                 &op->filter.offset, &error);
  if (error != NULL) {
    we_api_request_respond_error (request, error);
    list_op_free (op);
    return;
  }
  we_store_call_async (we_api_request_context (request)->store, list_in_store, op, NULL, NULL,
                       request->cancellable, listed_cb, op);
}

void
we_api_streams_get (WeApiRequest *request)
{
  op_run (op_new (request, OP_GET));
}

void
we_api_streams_update (WeApiRequest *request)
{
  g_autoptr(StreamOp) op = op_new (request, OP_UPDATE);
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) body = parse_body (request, &error);

  if (body == NULL || !parse_fields (body, op, &error)) {
    we_api_request_respond_error (request, error);
    return;
  }
  op_run (g_steal_pointer (&op));
}

void
we_api_streams_delete (WeApiRequest *request)
{
  g_autoptr(StreamOp) op = op_new (request, OP_DELETE);
  const gchar *force = we_api_request_query (request, "force");
  g_autoptr(GError) error = NULL;

  if (force != NULL && !g_str_equal (force, "true") && !g_str_equal (force, "false")) {
    invalid (&error, "force must be true or false");
    we_api_request_respond_error (request, error);
    return;
  }
  op->force = g_strcmp0 (force, "true") == 0;
  op_run (g_steal_pointer (&op));
}

void
we_api_streams_rotate_key (WeApiRequest *request)
{
  op_run (op_new (request, OP_ROTATE));
}

void
we_api_streams_reveal_key (WeApiRequest *request)
{
  op_run (op_new (request, OP_REVEAL));
}

void
we_api_streams_stats (WeApiRequest *request)
{
  op_run (op_new (request, OP_STATS));
}
