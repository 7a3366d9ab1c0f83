/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The kernel's side of live streaming: see we-live-kernel.h. The messages
 * exchanged with the live worker are listed in common/we-worker-protocol.h.
 */
#include "config.h"
#include "we-live-kernel.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>

#include "common/we-json.h"
#include "common/we-log.h"
#include "common/we-worker-protocol.h"
#include "core/we-stream-keys.h"
#include "queue/we-live-nats.h"

/* a worker that keeps dying (e.g. its ports are taken) is restarted ever
 * later, up to once a minute; a good start resets the delay */
#define RESPAWN_DELAY_S     2
#define RESPAWN_DELAY_MAX_S 60

/* What the kernel knows of one stream the worker has reported. */
typedef struct {
  gchar      *stream_id;
  gchar      *session_id;    /* NULL once ended */
  gchar      *protocol;
  gchar      *remote;
  gint64      started_at;
  GQueue      samples;       /* JsonObject*, oldest first, at most WE_LIVE_HISTORY */
  gchar      *recording_dir; /* the last one reported */
  gboolean    recording;     /* the session records now (decision, then telemetry) */
  gint64      bytes_in;      /* the session's, from the telemetry */
  GHashTable *viewers;       /* client → monotonic µs of its latest playlist fetch */
  guint       peak_viewers;  /* of the current (or last) session */
  gboolean    deleted;       /* the stream is gone: its files go once nothing uses them */
  guint       archiving;     /* archives reading its recording */
} LiveState;

/* a viewer is a client that fetched a live playlist this recently */
#define VIEWER_WINDOW_US (15 * G_USEC_PER_SEC)
/* telemetry samples kept per session in the store (1 Hz: an hour) */
#define STORED_SAMPLES   3600

struct _WeLiveKernel {
  GObject           parent_instance;
  WeStore          *store;
  WeContentKeys    *keys;
  WeScheduler      *scheduler;
  WeWebhooks       *webhooks;
  gchar            *worker_binary;
  gchar            *live_dir;
  gchar            *storage_root;
  gchar            *archive_profile;
  gchar            *plugin_dir;
  gchar            *plugin_id;
  JsonObject       *plugin_config;

  GSubprocess      *proc;
  GDataInputStream *in;
  GOutputStream    *out;
  GCancellable     *cancellable;   /* this worker's reads and wait */
  GCancellable     *life;          /* cancelled at dispose: everything in flight */
  guint             respawn_id;
  guint             respawn_delay_s;
  guint             generation;    /* of the worker: answers go to the one that asked */
  gboolean          stopping;
  guint             rtmp_port;
  guint             srt_port;
  GHashTable       *streams;       /* stream id → LiveState */
  /* cluster mode (docs/architecture.md "Live ingest in cluster mode") */
  gchar            *nats_url;
  gchar            *kernel_id;
  guint             offline_ms;
  WeLiveNats       *nats;
  gboolean          quiet;         /* handling a fan-out copy: no store, no webhooks */
};

G_DEFINE_TYPE (WeLiveKernel, we_live_kernel, G_TYPE_OBJECT)

enum { SIGNAL_EVENT, N_SIGNALS };
static guint signals[N_SIGNALS];

static void spawn_worker (WeLiveKernel *self);

static void
live_state_free (LiveState *s)
{
  g_free (s->stream_id);
  g_free (s->session_id);
  g_free (s->protocol);
  g_free (s->remote);
  g_free (s->recording_dir);
  g_queue_clear_full (&s->samples, (GDestroyNotify) json_object_unref);
  g_clear_pointer (&s->viewers, g_hash_table_unref);
  g_free (s);
}

static LiveState *
live_state_get (WeLiveKernel *self, const gchar *stream_id)
{
  LiveState *s = g_hash_table_lookup (self->streams, stream_id);

  if (s == NULL) {
    s = g_new0 (LiveState, 1);
    s->stream_id = g_strdup (stream_id);
    g_queue_init (&s->samples);
    s->viewers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
    g_hash_table_insert (self->streams, s->stream_id, s);
  }
  return s;
}

/* ids come from the store (UUIDs) or a URL: only these name folders */
static gboolean
id_is_safe (const gchar *id)
{
  if (id == NULL || *id == '\0' || strlen (id) > 64)
    return FALSE;
  for (const gchar *p = id; *p != '\0'; p++) {
    if (!g_ascii_isalnum (*p) && *p != '-' && *p != '_')
      return FALSE;
  }
  return TRUE;
}

static void
we_live_kernel_dispose (GObject *object)
{
  WeLiveKernel *self = WE_LIVE_KERNEL (object);

  we_live_kernel_stop (self);
  g_cancellable_cancel (self->life);
  g_clear_object (&self->nats);
  g_clear_object (&self->proc);
  g_clear_object (&self->in);
  g_clear_object (&self->out);
  g_clear_object (&self->cancellable);
  g_clear_object (&self->store);
  g_clear_object (&self->keys);
  g_clear_object (&self->scheduler);
  g_clear_object (&self->webhooks);
  G_OBJECT_CLASS (we_live_kernel_parent_class)->dispose (object);
}

static void
we_live_kernel_finalize (GObject *object)
{
  WeLiveKernel *self = WE_LIVE_KERNEL (object);

  g_free (self->worker_binary);
  g_free (self->live_dir);
  g_free (self->storage_root);
  g_free (self->archive_profile);
  g_free (self->plugin_dir);
  g_free (self->plugin_id);
  g_free (self->nats_url);
  g_free (self->kernel_id);
  g_clear_pointer (&self->plugin_config, json_object_unref);
  g_hash_table_unref (self->streams);
  g_clear_object (&self->life);
  G_OBJECT_CLASS (we_live_kernel_parent_class)->finalize (object);
}

static void
we_live_kernel_class_init (WeLiveKernelClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = we_live_kernel_dispose;
  G_OBJECT_CLASS (klass)->finalize = we_live_kernel_finalize;
  /* (stream_id, JsonObject event) */
  signals[SIGNAL_EVENT] = g_signal_new ("event", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                                        NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_STRING,
                                        JSON_TYPE_OBJECT);
}

static void
we_live_kernel_init (WeLiveKernel *self)
{
  self->streams = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                         (GDestroyNotify) live_state_free);
  self->life = g_cancellable_new ();
  self->respawn_delay_s = RESPAWN_DELAY_S;
}

WeLiveKernel *
we_live_kernel_new (const WeLiveKernelOptions *options)
{
  WeLiveKernel *self = g_object_new (WE_TYPE_LIVE_KERNEL, NULL);

  self->store = g_object_ref (options->store);
  self->keys = g_object_ref (options->keys);
  self->scheduler = g_object_ref (options->scheduler);
  self->webhooks = options->webhooks != NULL ? g_object_ref (options->webhooks) : NULL;
  self->worker_binary = g_strdup (options->worker_binary);
  self->live_dir = g_strdup (options->live_dir);
  self->storage_root = g_strdup (options->storage_root);
  self->archive_profile = g_strdup (options->archive_profile);
  self->plugin_dir = g_strdup (options->plugin_dir);
  self->plugin_id = g_strdup (options->plugin_id);
  self->plugin_config = options->plugin_config != NULL ? json_object_ref (options->plugin_config)
                                                       : json_object_new ();
  self->nats_url = g_strdup (options->nats_url);
  self->kernel_id = g_strdup (options->kernel_id);
  self->offline_ms = options->offline_ms;
  return self;
}

static void
emit (WeLiveKernel *self, const gchar *event, JsonObject *data)
{
  if (self->webhooks != NULL && !self->quiet)
    we_webhooks_emit (self->webhooks, event, NULL, data, NULL);
}

static void
send_msg (WeLiveKernel *self, JsonObject *msg)
{
  g_autofree gchar *line = we_worker_msg_serialize (msg);
  g_autoptr(GError) error = NULL;

  if (self->nats != NULL) {
    /* cluster mode: a decision answers its request, a command goes to the
     * worker holding the stream */
    if (!we_live_nats_send (self->nats, msg))
      we_log (G_LOG_LEVEL_INFO, NULL, NULL, "live: %s not delivered (no such live worker)",
              we_worker_msg_type (msg));
    return;
  }
  /* lines are small and the worker reads them at once; a dead worker
   * fails the write (SIGPIPE is ignored) and its exit respawns it */
  if (self->out == NULL)
    return;
  if (!g_output_stream_write_all (self->out, line, strlen (line), NULL, NULL, &error))
    we_log (G_LOG_LEVEL_WARNING, NULL, "WE-STR-006", "writing to the live worker: %s",
            error->message);
}

/* ---- store operations ---------------------------------------------------- */

typedef struct {
  WeStreamSession *session;  /* to put */
  gboolean         is_new;   /* a new session: the stream becomes live */
  gboolean         ended;    /* an ended one: the stream goes offline */
  gchar           *last_stats;
  gchar           *recording_dir; /* ended: the session's recording (nullable) */
  WeStream        *stream;   /* out: the stream after the write */
  /* cluster mode (apply_lifecycle): a message that may come twice, and the
   * webhook it fires once the write shows it is the first */
  gboolean         once;
  gchar           *hook_event;
  JsonObject      *hook;
} SessionOp;

static void
session_op_free (SessionOp *op)
{
  g_clear_pointer (&op->session, we_stream_session_free);
  g_clear_pointer (&op->stream, we_stream_free);
  g_free (op->last_stats);
  g_free (op->recording_dir);
  g_free (op->hook_event);
  g_clear_pointer (&op->hook, json_object_unref);
  g_free (op);
}

static gpointer
session_op_run (WeStore *store, gpointer data, GError **error)
{
  SessionOp *op = data;
  g_autoptr(WeStream) stream = we_store_stream_get (store, op->session->stream_id, error);

  if (stream == NULL)
    return NULL;
  if (op->once) {
    /* a lifecycle message a second kernel got again (the first answered
     * the worker late) must not fire or archive twice */
    g_autoptr(GPtrArray) last = we_store_stream_session_list (store, op->session->stream_id, 1,
                                                              NULL);
    WeStreamSession *known = last != NULL && last->len > 0 ? last->pdata[0] : NULL;

    if (known != NULL && g_strcmp0 (known->id, op->session->id) == 0 &&
        (op->is_new || (op->ended && known->ended_at != 0)))
      return op;
  }
  if (!we_store_stream_session_put (store, op->session, error))
    return NULL;
  if (op->is_new) {
    stream->is_live = TRUE;
    g_free (stream->current_session_id);
    stream->current_session_id = g_strdup (op->session->id);
    stream->started_at = op->session->started_at;
  } else if (op->ended) {
    stream->is_live = FALSE;
    g_clear_pointer (&stream->current_session_id, g_free);
    stream->ended_at = op->session->ended_at;
    if (op->last_stats != NULL) {
      g_free (stream->last_stats);
      stream->last_stats = g_strdup (op->last_stats);
    }
  } else {
    return op; /* a takeover: only the session's remote changed */
  }
  if (!we_store_stream_update (store, stream, error))
    return NULL;
  op->stream = g_steal_pointer (&stream);
  return op;
}

static void archive_after_end (WeLiveKernel *self, const WeStream *stream,
                               const gchar *recording_dir);

static void
session_op_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(WeLiveKernel) self = user_data;
  g_autoptr(GError) error = NULL;
  SessionOp *op = we_store_call_finish (WE_STORE (source), result, &error);

  if (op == NULL) {
    /* e.g. the stream was deleted while live */
    if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
      we_log (G_LOG_LEVEL_WARNING, NULL, "WE-STR-006", "recording a live session: %s",
              error->message);
    return;
  }
  if (op->hook_event != NULL && op->stream != NULL)
    emit (self, op->hook_event, op->hook);
  if (op->ended && op->stream != NULL && op->stream->archive_enabled) {
    /* a worker that died named no folder: its newest recording is this
     * session's, its fragments playable up to where the crash cut them */
    archive_after_end (self, op->stream, op->recording_dir);
  }
}

static void
run_session_op (WeLiveKernel *self, SessionOp *op)
{
  if (self->quiet) {
    /* cluster mode: the kernel the lifecycle queue gave it to writes */
    session_op_free (op);
    return;
  }
  we_store_call_async (self->store, session_op_run, op, (GDestroyNotify) session_op_free, NULL,
                       self->life, session_op_done, g_object_ref (self));
}

/* What a previous life of the service left live: its worker is gone, so
 * those sessions ended when it did. */
static gpointer
close_stale_run (WeStore *store, gpointer data, GError **error)
{
  WeStreamFilter filter = { .live = 1, .limit = 500 };
  g_autoptr(GPtrArray) streams = we_store_stream_list (store, &filter, NULL, error);
  gint64 now = g_get_real_time ();
  const gchar *const *keep = data; /* cluster mode: what live workers still hold */

  for (guint i = 0; streams != NULL && i < streams->len; i++) {
    WeStream *s = streams->pdata[i];
    g_autoptr(GPtrArray) sessions = NULL;

    if (keep != NULL && g_strv_contains (keep, s->id))
      continue;
    sessions = we_store_stream_session_list (store, s->id, 1, NULL);

    if (sessions != NULL && sessions->len > 0) {
      WeStreamSession *session = sessions->pdata[0];

      if (session->ended_at == 0) {
        session->ended_at = now;
        g_free (session->end_reason);
        session->end_reason = g_strdup ("service restarted");
        we_store_stream_session_put (store, session, NULL);
      }
    }
    s->is_live = FALSE;
    g_clear_pointer (&s->current_session_id, g_free);
    s->ended_at = now;
    we_store_stream_update (store, s, NULL);
  }
  return NULL;
}

static void
close_stale_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GError) error = NULL;

  we_store_call_finish (WE_STORE (source), result, &error);
  if (error != NULL && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    we_log (G_LOG_LEVEL_WARNING, NULL, "WE-STR-006", "closing stale live sessions: %s",
            error->message);
}

/* ---- publish decisions --------------------------------------------------- */

typedef struct {
  gint64  id;
  guint   generation;
  gchar  *protocol;
  gchar  *key;
  gboolean accept;
  gchar  *stream_id;
  gchar  *passphrase;
  gchar  *reason;
  JsonObject *options;  /* accepted: record, latency_mode, ladder for the engine */
} Decide;

static void
decide_free (Decide *d)
{
  g_free (d->protocol);
  if (d->key != NULL)
    memset (d->key, 0, strlen (d->key));
  g_free (d->key);
  g_free (d->stream_id);
  if (d->passphrase != NULL)
    memset (d->passphrase, 0, strlen (d->passphrase));
  g_free (d->passphrase);
  g_free (d->reason);
  g_clear_pointer (&d->options, json_object_unref);
  g_free (d);
}

/* What the engine makes of an admitted stream: whether it records from
 * the start (record, or archive_enabled: an archive needs a recording),
 * its latency mode and the rungs of its ladder profile (a profile without
 * a ladder is one rung of its own size). On the decider's thread. */
static JsonObject *
stream_options (WeStore *store, const WeStream *stream)
{
  JsonObject *o = json_object_new ();
  g_autoptr(WeProfile) profile = NULL;
  JsonArray *ladder;

  json_object_set_boolean_member (o, "record", stream->record || stream->archive_enabled);
  json_object_set_string_member (o, "latency_mode", stream->latency_mode != NULL
                                                        ? stream->latency_mode : "normal");
  if (stream->ladder_profile_id == NULL)
    return o;
  profile = we_store_profile_get (store, stream->ladder_profile_id, NULL);
  if (profile == NULL) {
    we_log (G_LOG_LEVEL_WARNING, NULL, "WE-STR-006", "stream %s: ladder profile %s not found; "
            "live without ABR", stream->id, stream->ladder_profile_id);
    return o;
  }
  ladder = json_array_new ();
  for (guint i = 0; profile->ladder != NULL && i < profile->ladder->len; i++) {
    WeProfileRung *rung = profile->ladder->pdata[i];
    JsonObject *r;
    g_autofree gchar *name = NULL;

    if (!rung->enabled)
      continue;
    /* rung names are [a-z0-9_-]; live folders and URLs take [a-z0-9_] */
    name = g_strdelimit (g_strdup (rung->name), "-", '_');
    r = json_object_new ();
    json_object_set_string_member (r, "name", name);
    json_object_set_int_member (r, "width", rung->width);
    json_object_set_int_member (r, "height", rung->height);
    json_object_set_int_member (r, "video_bitrate_kbps", rung->video_bitrate_kbps);
    json_object_set_int_member (r, "audio_bitrate_kbps", rung->audio_bitrate_kbps);
    json_array_add_object_element (ladder, r);
  }
  if (json_array_get_length (ladder) == 0 && profile->width > 0 && profile->height > 0) {
    JsonObject *r = json_object_new ();

    json_object_set_string_member (r, "name", "main");
    json_object_set_int_member (r, "width", profile->width);
    json_object_set_int_member (r, "height", profile->height);
    /* a quality-mode profile: a rate that suits its size */
    json_object_set_int_member (r, "video_bitrate_kbps",
                                profile->video_bitrate_kbps > 0
                                    ? profile->video_bitrate_kbps
                                    : MAX (300, profile->width * profile->height / 400));
    json_object_set_int_member (r, "audio_bitrate_kbps", profile->audio_bitrate_kbps);
    json_array_add_object_element (ladder, r);
  }
  json_object_set_array_member (o, "ladder", ladder);
  return o;
}

static void
decide_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  WeLiveKernel *self = source;
  Decide *d = task_data;
  g_autoptr(WeStream) stream = NULL;
  g_autoptr(GError) error = NULL;

  if (g_strcmp0 (d->protocol, "rtmp") == 0) {
    /* the RTMP publish name is the stream key */
    if (!we_stream_keys_lookup (self->store, d->key, &stream, &error)) {
      d->reason = g_strdup (g_error_matches (error, WE_ERROR, WE_ERROR_STR_NOT_FOUND)
                                ? "unknown stream key" : "the key could not be checked");
    } else {
      d->accept = TRUE;
      d->stream_id = g_strdup (stream->id);
    }
  } else if (g_strcmp0 (d->protocol, "srt") == 0) {
    /* SRT: streamid publish:<stream id>, and the stream's own passphrase
     * is what admits the publisher (libsrt refuses a wrong one) */
    stream = id_is_safe (d->key) ? we_store_stream_get (self->store, d->key, &error) : NULL;
    if (stream == NULL || stream->srt_passphrase_sealed == NULL) {
      d->reason = g_strdup ("unknown stream");
    } else {
      d->passphrase = we_stream_keys_unseal (self->keys, stream->id, WE_STREAM_SEAL_SRT,
                                             stream->srt_passphrase_sealed, &error);
      if (d->passphrase == NULL) {
        d->reason = g_strdup ("the stream's SRT passphrase cannot be opened");
      } else {
        d->accept = TRUE;
        d->stream_id = g_strdup (stream->id);
      }
    }
  } else {
    d->reason = g_strdup ("unknown protocol");
  }
  if (d->accept && stream != NULL)
    d->options = stream_options (self->store, stream);
  g_task_return_boolean (task, TRUE);
}

static void
decided_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  WeLiveKernel *self = WE_LIVE_KERNEL (source);
  Decide *d = g_task_get_task_data (G_TASK (result));
  g_autoptr(JsonObject) msg = json_object_new ();

  /* attempt ids restart with each worker: a late answer for a dead one
   * must not admit a new worker's attempt */
  if (g_cancellable_is_cancelled (self->life) || d->generation != self->generation)
    return;
  json_object_set_string_member (msg, "type", "publish_decision");
  json_object_set_int_member (msg, "id", d->id);
  json_object_set_boolean_member (msg, "accept", d->accept);
  if (d->stream_id != NULL)
    json_object_set_string_member (msg, "stream_id", d->stream_id);
  if (d->passphrase != NULL)
    json_object_set_string_member (msg, "passphrase", d->passphrase);
  if (d->reason != NULL)
    json_object_set_string_member (msg, "reason", d->reason);
  if (d->options != NULL) {
    json_object_set_object_member (msg, "options", json_object_ref (d->options));
    /* what the session shows until its first telemetry says */
    if (d->stream_id != NULL && id_is_safe (d->stream_id))
      live_state_get (self, d->stream_id)->recording =
        json_object_get_boolean_member_with_default (d->options, "record", FALSE);
  }
  if (!d->accept)
    we_log (G_LOG_LEVEL_INFO, NULL, "WE-STR-002", "%s publish refused: %s", d->protocol,
            d->reason != NULL ? d->reason : "");
  send_msg (self, msg);
  /* the passphrase was in this message: do not leave it in freed memory */
  if (d->passphrase != NULL)
    json_object_remove_member (msg, "passphrase");
}

static void
handle_publish_attempt (WeLiveKernel *self, JsonObject *msg)
{
  g_autoptr(GTask) task = g_task_new (self, self->life, decided_cb, NULL);
  Decide *d = g_new0 (Decide, 1);

  d->id = json_object_get_int_member_with_default (msg, "id", 0);
  d->generation = self->generation;
  d->protocol = g_strdup (we_json_get_string (msg, "protocol"));
  d->key = g_strdup (we_json_get_string (msg, "key"));
  if (d->key == NULL)
    d->key = g_strdup ("");
  g_task_set_task_data (task, d, (GDestroyNotify) decide_free);
  g_task_run_in_thread (task, decide_thread);
}

/* ---- lifecycle reports --------------------------------------------------- */

static JsonObject *
lifecycle_event (const gchar *type, LiveState *s)
{
  JsonObject *o = json_object_new ();

  json_object_set_string_member (o, "type", type);
  json_object_set_string_member (o, "stream_id", s->stream_id);
  if (s->session_id != NULL)
    json_object_set_string_member (o, "session_id", s->session_id);
  if (s->protocol != NULL)
    json_object_set_string_member (o, "protocol", s->protocol);
  return o;
}

static void
handle_started (WeLiveKernel *self, JsonObject *msg)
{
  const gchar *stream_id = we_json_get_string (msg, "stream_id");
  LiveState *s;
  SessionOp *op;
  g_autoptr(JsonObject) event = NULL;

  if (!id_is_safe (stream_id))
    return;
  s = live_state_get (self, stream_id);
  op = g_new0 (SessionOp, 1);
  g_free (s->remote);
  s->remote = g_strdup (we_json_get_string (msg, "remote"));
  g_free (s->protocol);
  s->protocol = g_strdup (we_json_get_string (msg, "protocol"));
  /* the engine says started again on a takeover (the same key back within
   * the idle timeout): the session continues. A cluster's live worker
   * names the session itself, so that every kernel calls it the same. */
  op->is_new = s->session_id == NULL ||
               (we_json_get_string (msg, "session_id") != NULL &&
                g_strcmp0 (s->session_id, we_json_get_string (msg, "session_id")) != 0);
  if (op->is_new) {
    g_free (s->session_id);
    s->session_id = we_json_get_string (msg, "session_id") != NULL
                      ? g_strdup (we_json_get_string (msg, "session_id")) : we_uuid_new ();
    s->started_at = json_object_get_int_member_with_default (msg, "started_at_us", 0);
    if (s->started_at <= 0)
      s->started_at = g_get_real_time ();
    g_clear_pointer (&s->recording_dir, g_free);
    g_queue_clear_full (&s->samples, (GDestroyNotify) json_object_unref);
    g_hash_table_remove_all (s->viewers);
    s->peak_viewers = 0;
    s->bytes_in = 0;
  }
  op->session = we_stream_session_new ();
  op->session->id = g_strdup (s->session_id);
  op->session->stream_id = g_strdup (stream_id);
  op->session->protocol = g_strdup (s->protocol);
  op->session->remote_addr = g_strdup (s->remote);
  op->session->started_at = s->started_at;

  we_log (G_LOG_LEVEL_INFO, NULL, NULL, "stream %s %s over %s", stream_id,
          op->is_new ? "started" : "taken over", s->protocol != NULL ? s->protocol : "?");
  event = lifecycle_event ("stream.started", s);
  if (op->is_new) {
    /* the publisher's address stays out of webhooks: it is personal data */
    emit (self, "stream.started", event);
  } else {
    json_object_set_boolean_member (event, "takeover", TRUE);
  }
  g_signal_emit (self, signals[SIGNAL_EVENT], 0, stream_id, event);
  /* last: in cluster mode's fan-out (quiet) it frees op at once */
  run_session_op (self, op);
}

static void remove_files_when_unused (WeLiveKernel *self, LiveState *s);

static void
end_state (WeLiveKernel *self, LiveState *s, const gchar *reason, const gchar *recording_dir)
{
  SessionOp *op;
  g_autoptr(JsonObject) event = NULL;
  gint64 now = g_get_real_time ();

  if (s->session_id == NULL)
    return;
  if (recording_dir != NULL) {
    g_free (s->recording_dir);
    s->recording_dir = g_strdup (recording_dir);
  }
  op = g_new0 (SessionOp, 1);
  op->ended = TRUE;
  op->recording_dir = g_strdup (s->recording_dir);
  op->session = we_stream_session_new ();
  op->session->id = g_strdup (s->session_id);
  op->session->stream_id = g_strdup (s->stream_id);
  op->session->protocol = g_strdup (s->protocol);
  op->session->remote_addr = g_strdup (s->remote);
  op->session->started_at = s->started_at;
  op->session->ended_at = now;
  op->session->end_reason = g_strdup (reason);
  op->session->bytes_in = s->bytes_in;
  s->recording = FALSE;
  g_hash_table_remove_all (s->viewers);
  if (!g_queue_is_empty (&s->samples)) {
    g_autoptr(JsonNode) node = json_node_init_object (json_node_alloc (),
                                                      g_queue_peek_tail (&s->samples));

    op->last_stats = json_to_string (node, FALSE);
  }

  event = lifecycle_event ("stream.ended", s);
  json_object_set_string_member (event, "reason", reason != NULL ? reason : "");
  json_object_set_double_member (event, "duration_s",
                                 (gdouble) (now - s->started_at) / G_USEC_PER_SEC);
  we_log (G_LOG_LEVEL_INFO, NULL, NULL, "stream %s ended: %s", s->stream_id,
          reason != NULL ? reason : "");
  emit (self, "stream.ended", event);
  g_signal_emit (self, signals[SIGNAL_EVENT], 0, s->stream_id, event);
  g_clear_pointer (&s->session_id, g_free);
  run_session_op (self, op);
  remove_files_when_unused (self, s);
}

static void
handle_ended (WeLiveKernel *self, JsonObject *msg)
{
  const gchar *stream_id = we_json_get_string (msg, "stream_id");
  LiveState *s = stream_id != NULL ? g_hash_table_lookup (self->streams, stream_id) : NULL;

  if (s != NULL)
    end_state (self, s, we_json_get_string (msg, "reason"),
               we_json_get_string (msg, "recording_dir"));
}

/* Distinct clients with a live playlist fetch in the last 15 s (the
 * older ones are forgotten); keeps the session's peak. */
static guint
count_viewers (LiveState *s)
{
  gint64 now = g_get_monotonic_time ();
  GHashTableIter iter;
  gpointer value;
  guint n;

  g_hash_table_iter_init (&iter, s->viewers);
  while (g_hash_table_iter_next (&iter, NULL, &value)) {
    if (now - *(gint64 *) value > VIEWER_WINDOW_US)
      g_hash_table_iter_remove (&iter);
  }
  n = g_hash_table_size (s->viewers);
  s->peak_viewers = MAX (s->peak_viewers, n);
  return n;
}

typedef struct {
  gchar  *session_id;
  gint64  time_ms;
  gchar  *text;
} StoredSample;

static void
stored_sample_free (StoredSample *ss)
{
  g_free (ss->session_id);
  g_free (ss->text);
  g_free (ss);
}

static gpointer
store_sample_run (WeStore *store, gpointer data, GError **error)
{
  StoredSample *ss = data;

  return we_store_stream_telemetry_add (store, ss->session_id, ss->time_ms, ss->text,
                                        STORED_SAMPLES, error) ? ss : NULL;
}

static void
store_sample_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GError) error = NULL;

  /* a session row not written yet, or its stream deleted: nothing to keep */
  if (we_store_call_finish (WE_STORE (source), result, &error) == NULL &&
      !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) &&
      !g_error_matches (error, WE_ERROR, WE_ERROR_STR_NOT_FOUND))
    we_log (G_LOG_LEVEL_WARNING, NULL, "WE-STR-006", "storing telemetry: %s", error->message);
}

/* The session's history survives a restart of the service: each sample
 * goes to the store (the kernel that writes the session's rows does it). */
static void
store_sample (WeLiveKernel *self, LiveState *s, gint64 time_ms, JsonObject *event)
{
  g_autoptr(JsonNode) node = NULL;
  StoredSample *ss;

  if (self->quiet || s->deleted)
    return;
  node = json_node_init_object (json_node_alloc (), event);
  ss = g_new0 (StoredSample, 1);
  ss->session_id = g_strdup (s->session_id);
  ss->time_ms = time_ms;
  ss->text = json_to_string (node, FALSE);
  we_store_call_async (self->store, store_sample_run, ss, (GDestroyNotify) stored_sample_free,
                       NULL, self->life, store_sample_done, NULL);
}

static void
handle_telemetry (WeLiveKernel *self, JsonObject *msg)
{
  const gchar *stream_id = we_json_get_string (msg, "stream_id");
  JsonObject *sample = we_json_get_object (msg, "sample");
  LiveState *s = stream_id != NULL ? g_hash_table_lookup (self->streams, stream_id) : NULL;
  JsonObject *event;
  g_autoptr(GList) members = NULL;
  gint64 time_ms;
  g_autoptr(GDateTime) time = NULL;
  g_autofree gchar *iso = NULL;

  if (s == NULL || s->session_id == NULL || sample == NULL)
    return;
  /* the studio's shape: the engine's sample plus type and an ISO time;
   * what a pass-through pipeline cannot know (dropped frames, SRT loss in
   * percent) is left out rather than invented */
  event = json_object_new ();
  json_object_set_string_member (event, "type", "telemetry");
  members = json_object_get_members (sample);
  for (GList *l = members; l != NULL; l = l->next) {
    if (g_str_equal (l->data, "type"))
      continue;
    json_object_set_member (event, l->data,
                            json_node_copy (json_object_get_member (sample, l->data)));
  }
  json_object_set_string_member (event, "stream_id", stream_id);
  json_object_set_string_member (event, "session_id", s->session_id);
  time_ms = json_object_get_int_member_with_default (sample, "time_ms", 0);
  if (time_ms <= 0)
    time_ms = g_get_real_time () / 1000;
  {
    g_autoptr(GDateTime) seconds = g_date_time_new_from_unix_utc (time_ms / 1000);

    time = seconds != NULL ? g_date_time_add (seconds, (time_ms % 1000) * 1000) : NULL;
  }
  iso = time != NULL ? g_date_time_format_iso8601 (time) : NULL;
  if (iso != NULL)
    json_object_set_string_member (event, "time", iso);
  /* counted here, where the live playlists are served */
  json_object_set_int_member (event, "viewers", count_viewers (s));
  s->bytes_in = json_object_get_int_member_with_default (sample, "bytes_in", s->bytes_in);
  if (json_object_has_member (sample, "recording"))
    s->recording = json_object_get_boolean_member (sample, "recording");
  store_sample (self, s, time_ms, event);
  g_queue_push_tail (&s->samples, event);
  while (g_queue_get_length (&s->samples) > WE_LIVE_HISTORY)
    json_object_unref (g_queue_pop_head (&s->samples));
  g_signal_emit (self, signals[SIGNAL_EVENT], 0, stream_id, event);
}

static void
handle_ready (WeLiveKernel *self, JsonObject *msg)
{
  self->rtmp_port = (guint) json_object_get_int_member_with_default (msg, "rtmp_port", 0);
  self->srt_port = (guint) json_object_get_int_member_with_default (msg, "srt_port", 0);
  self->respawn_delay_s = RESPAWN_DELAY_S;
  we_log (G_LOG_LEVEL_INFO, NULL, NULL, "live ingest ready: RTMP on port %u, SRT on port %u",
          self->rtmp_port, self->srt_port);
}

/* ---- cluster mode -------------------------------------------------------- */

/* The store and webhook half of a lifecycle message, for the one kernel the
 * lifecycle queue (or, for a dead worker, the leader) gave it to; every
 * kernel's state and WebSocket clients follow the fan-out copy. */
static void
apply_lifecycle (WeLiveKernel *self, JsonObject *msg)
{
  const gchar *type = we_worker_msg_type (msg);
  const gchar *stream_id = we_json_get_string (msg, "stream_id");
  const gchar *session_id = we_json_get_string (msg, "session_id");
  gboolean started = g_strcmp0 (type, "stream_started") == 0;
  JsonObject *last = we_json_get_object (msg, "last_sample");
  g_autoptr(JsonObject) event = json_object_new ();
  SessionOp *op;

  if (!id_is_safe (stream_id) || session_id == NULL ||
      (!started && g_strcmp0 (type, "stream_ended") != 0))
    return;
  op = g_new0 (SessionOp, 1);
  op->once = TRUE;
  op->session = we_stream_session_new ();
  op->session->id = g_strdup (session_id);
  op->session->stream_id = g_strdup (stream_id);
  op->session->protocol = g_strdup (we_json_get_string (msg, "protocol"));
  op->session->remote_addr = g_strdup (we_json_get_string (msg, "remote"));
  op->session->started_at = json_object_get_int_member_with_default (msg, "started_at_us", 0);
  if (op->session->started_at <= 0)
    op->session->started_at = g_get_real_time ();
  json_object_set_string_member (event, "type", started ? "stream.started" : "stream.ended");
  json_object_set_string_member (event, "stream_id", stream_id);
  json_object_set_string_member (event, "session_id", session_id);
  if (op->session->protocol != NULL)
    json_object_set_string_member (event, "protocol", op->session->protocol);
  if (started) {
    op->is_new = json_object_get_boolean_member_with_default (msg, "new", TRUE);
    if (op->is_new)
      op->hook_event = g_strdup ("stream.started");
  } else {
    const gchar *reason = we_json_get_string (msg, "reason");

    op->ended = TRUE;
    op->session->ended_at = json_object_get_int_member_with_default (msg, "ended_at_us", 0);
    if (op->session->ended_at <= 0)
      op->session->ended_at = g_get_real_time ();
    op->session->end_reason = g_strdup (reason);
    op->recording_dir = g_strdup (we_json_get_string (msg, "recording_dir"));
    if (last != NULL) {
      g_autoptr(JsonNode) node = json_node_init_object (json_node_alloc (), last);

      op->last_stats = json_to_string (node, FALSE);
    }
    json_object_set_string_member (event, "reason", reason != NULL ? reason : "");
    json_object_set_double_member (event, "duration_s",
                                   (gdouble) (op->session->ended_at - op->session->started_at) /
                                       G_USEC_PER_SEC);
    op->hook_event = g_strdup ("stream.ended");
  }
  op->hook = g_steal_pointer (&event);
  run_session_op (self, op);
}

/* A live worker's message over NATS (queue/we-live-nats.c), on the main
 * loop: @effects says whether this kernel writes the store for it. */
static void
nats_dispatch (JsonObject *msg, gboolean effects, gpointer user_data)
{
  WeLiveKernel *self = user_data;
  const gchar *type = we_worker_msg_type (msg);
  gboolean lifecycle = g_strcmp0 (type, "stream_started") == 0 ||
                       g_strcmp0 (type, "stream_ended") == 0;

  if (self->stopping)
    return;
  if (g_strcmp0 (type, "publish_attempt") == 0) {
    handle_publish_attempt (self, msg);
    return;
  }
  if (g_strcmp0 (type, "close_stale") == 0) {
    /* the leader, once the live workers have been heard: what the store
     * says is live and no worker holds ended with a whole-cluster outage */
    JsonArray *live = we_json_get_array (msg, "live");
    GStrvBuilder *builder = g_strv_builder_new ();

    for (guint i = 0; live != NULL && i < json_array_get_length (live); i++)
      g_strv_builder_add (builder, json_array_get_string_element (live, i));
    we_store_call_async (self->store, close_stale_run, g_strv_builder_end (builder),
                         (GDestroyNotify) g_strfreev, NULL, self->life, close_stale_done, NULL);
    g_strv_builder_unref (builder);
    return;
  }
  if (effects && lifecycle) {
    apply_lifecycle (self, msg);
    return;
  }
  self->quiet = !effects;
  if (g_strcmp0 (type, "stream_started") == 0)
    handle_started (self, msg);
  else if (g_strcmp0 (type, "stream_ended") == 0)
    handle_ended (self, msg);
  else if (g_strcmp0 (type, "telemetry") == 0)
    handle_telemetry (self, msg);
  self->quiet = FALSE;
}

/* ---- the worker process -------------------------------------------------- */

static void read_next (WeLiveKernel *self);

static void
line_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  WeLiveKernel *self = user_data;
  g_autoptr(GError) error = NULL;
  gsize length = 0;
  g_autofree gchar *line = g_data_input_stream_read_line_finish_utf8 (G_DATA_INPUT_STREAM (source),
                                                                      result, &length, &error);
  g_autoptr(JsonObject) msg = NULL;
  const gchar *type;

  if (line == NULL) {
    /* EOF or cancelled: the worker's exit (wait_cb) takes it from here */
    g_object_unref (self);
    return;
  }
  if (length > WE_WORKER_MAX_LINE) {
    we_log (G_LOG_LEVEL_WARNING, NULL, "WE-STR-006", "the live worker sent a line over %u "
            "bytes; restarting it", WE_WORKER_MAX_LINE);
    if (self->proc != NULL)
      g_subprocess_force_exit (self->proc);
    g_object_unref (self);
    return;
  }
  msg = we_worker_msg_parse (line, length, &error);
  type = msg != NULL ? we_worker_msg_type (msg) : NULL;
  if (msg == NULL)
    we_log (G_LOG_LEVEL_WARNING, NULL, NULL, "ignoring a bad line from the live worker: %s",
            error->message);
  else if (g_str_equal (type, "publish_attempt"))
    handle_publish_attempt (self, msg);
  else if (g_str_equal (type, "stream_started"))
    handle_started (self, msg);
  else if (g_str_equal (type, "stream_ended"))
    handle_ended (self, msg);
  else if (g_str_equal (type, "telemetry"))
    handle_telemetry (self, msg);
  else if (g_str_equal (type, "live_ready"))
    handle_ready (self, msg);
  else if (g_str_equal (type, "live_failed"))
    we_log (G_LOG_LEVEL_WARNING, NULL, "WE-STR-006", "the live worker cannot run: %s",
            we_json_get_string (msg, "message") ?: "");
  read_next (self);
  g_object_unref (self);
}

static void
read_next (WeLiveKernel *self)
{
  g_data_input_stream_read_line_async (self->in, G_PRIORITY_DEFAULT, self->cancellable, line_cb,
                                       g_object_ref (self));
}

static gboolean
respawn_cb (gpointer user_data)
{
  WeLiveKernel *self = user_data;

  self->respawn_id = 0;
  spawn_worker (self);
  return G_SOURCE_REMOVE;
}

static void
wait_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(WeLiveKernel) self = user_data;
  GSubprocess *proc = G_SUBPROCESS (source);
  GHashTableIter iter;
  gpointer value;

  if (!g_subprocess_wait_finish (proc, result, NULL) || proc != self->proc)
    return; /* cancelled: we are going away */
  g_clear_object (&self->proc);
  g_clear_object (&self->in);
  g_clear_object (&self->out);
  g_clear_object (&self->cancellable);
  self->rtmp_port = self->srt_port = 0;
  /* streams it never reported ending ended with it */
  g_hash_table_iter_init (&iter, self->streams);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    end_state (self, value, "the live worker exited", NULL);
  if (self->stopping)
    return;
  we_log (G_LOG_LEVEL_WARNING, NULL, "WE-STR-006", "the live worker exited; restarting it in "
          "%u s", self->respawn_delay_s);
  self->respawn_id = g_timeout_add_seconds (self->respawn_delay_s, respawn_cb, self);
  self->respawn_delay_s = MIN (self->respawn_delay_s * 2, RESPAWN_DELAY_MAX_S);
}

static void
spawn_worker (WeLiveKernel *self)
{
  const gchar *argv[] = { self->worker_binary, "--live", NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) configure = json_object_new ();
  g_autoptr(GDataInputStream) in = NULL;

  self->proc = g_subprocess_newv (argv, G_SUBPROCESS_FLAGS_STDIN_PIPE |
                                            G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error);
  if (self->proc == NULL) {
    we_log (G_LOG_LEVEL_WARNING, NULL, "WE-STR-006", "cannot start the live worker %s: %s",
            self->worker_binary, error->message);
    self->respawn_id = g_timeout_add_seconds (RESPAWN_DELAY_MAX_S, respawn_cb, self);
    return;
  }
  self->generation++;
  self->cancellable = g_cancellable_new ();
  self->out = g_object_ref (g_subprocess_get_stdin_pipe (self->proc));
  self->in = g_data_input_stream_new (g_subprocess_get_stdout_pipe (self->proc));
  g_data_input_stream_set_newline_type (self->in, G_DATA_STREAM_NEWLINE_TYPE_LF);
  json_object_set_string_member (configure, "type", "configure");
  json_object_set_string_member (configure, "plugin_dir", self->plugin_dir);
  json_object_set_string_member (configure, "plugin_id", self->plugin_id);
  json_object_set_object_member (configure, "config", json_object_ref (self->plugin_config));
  send_msg (self, configure);
  read_next (self);
  g_subprocess_wait_async (self->proc, self->life, wait_cb, g_object_ref (self));
  we_log (G_LOG_LEVEL_INFO, NULL, NULL, "live worker started (pid %s)",
          g_subprocess_get_identifier (self->proc) ?: "?");
}

gboolean
we_live_kernel_start (WeLiveKernel *self, GError **error)
{
  g_return_val_if_fail (WE_IS_LIVE_KERNEL (self), FALSE);
  if (g_mkdir_with_parents (self->live_dir, 0700) != 0) {
    g_set_error (error, WE_ERROR, WE_ERROR_STR_INGEST_UNAVAILABLE,
                 "cannot create the live folder %s: %s", self->live_dir, g_strerror (errno));
    return FALSE;
  }
  if (self->nats_url != NULL) {
    /* cluster mode: the live workers' heartbeats say what is live; what
     * was live in the store is not stale just because this kernel starts */
    self->nats = we_live_nats_new (self->nats_url, self->kernel_id, self->offline_ms,
                                   nats_dispatch, self);
    we_live_nats_start (self->nats);
    return TRUE;
  }
  /* queued before any session of this life, so it cannot close those */
  we_store_call_async (self->store, close_stale_run, NULL, NULL, NULL, self->life,
                       close_stale_done, NULL);
  spawn_worker (self);
  return TRUE;
}

void
we_live_kernel_stop (WeLiveKernel *self)
{
  g_autoptr(JsonObject) msg = NULL;

  if (self->stopping)
    return;
  self->stopping = TRUE;
  g_clear_handle_id (&self->respawn_id, g_source_remove);
  if (self->nats != NULL)
    we_live_nats_stop (self->nats);
  if (self->out != NULL) {
    /* the worker ends every stream (recordings finalized) and exits; its
     * stdin's EOF would do the same if this line got lost */
    msg = json_object_new ();
    json_object_set_string_member (msg, "type", "shutdown");
    send_msg (self, msg);
    g_output_stream_close (self->out, NULL, NULL);
  }
  if (self->cancellable != NULL)
    g_cancellable_cancel (self->cancellable);
  /* the service is going: what is in flight (the wait for the worker,
   * decisions, archives) lets go of us; the next start closes the
   * sessions this one leaves open */
  g_cancellable_cancel (self->life);
}

guint
we_live_kernel_get_port (WeLiveKernel *self, const gchar *protocol)
{
  if (self->nats != NULL)
    return we_live_nats_get_port (self->nats, protocol);
  if (g_strcmp0 (protocol, "rtmp") == 0)
    return self->rtmp_port;
  if (g_strcmp0 (protocol, "srt") == 0)
    return self->srt_port;
  return 0;
}

gboolean
we_live_kernel_is_live (WeLiveKernel *self, const gchar *stream_id)
{
  LiveState *s = stream_id != NULL ? g_hash_table_lookup (self->streams, stream_id) : NULL;

  return s != NULL && s->session_id != NULL;
}

gboolean
we_live_kernel_end_stream (WeLiveKernel *self, const gchar *stream_id, GError **error)
{
  g_autoptr(JsonObject) msg = NULL;

  if (self->out == NULL && (self->nats == NULL || !we_live_nats_has_worker (self->nats))) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_STR_INGEST_UNAVAILABLE,
                         "the live worker is not running");
    return FALSE;
  }
  if (!we_live_kernel_is_live (self, stream_id)) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_STR_NOT_FOUND, "the stream is not live");
    return FALSE;
  }
  msg = json_object_new ();
  json_object_set_string_member (msg, "type", "stop_stream");
  json_object_set_string_member (msg, "stream_id", stream_id);
  send_msg (self, msg);
  return TRUE;
}

JsonObject *
we_live_kernel_get_telemetry (WeLiveKernel *self, const gchar *stream_id)
{
  LiveState *s = stream_id != NULL ? g_hash_table_lookup (self->streams, stream_id) : NULL;

  if (s == NULL || g_queue_is_empty (&s->samples))
    return NULL;
  return json_object_ref (g_queue_peek_tail (&s->samples));
}

JsonArray *
we_live_kernel_get_history (WeLiveKernel *self, const gchar *stream_id)
{
  LiveState *s = stream_id != NULL ? g_hash_table_lookup (self->streams, stream_id) : NULL;
  JsonArray *array = json_array_new ();

  for (GList *l = s != NULL ? s->samples.head : NULL; l != NULL; l = l->next)
    json_array_add_object_element (array, json_object_ref (l->data));
  return array;
}

/* ---- archive ------------------------------------------------------------- */

typedef struct {
  gchar   *stream_id;
  gchar   *user_id;
  gchar   *recording_dir;  /* nullable: the newest one under live_dir */
  gchar   *live_dir;
  gchar   *storage_root;
  gchar   *source_url;     /* out */
  gdouble  duration_s;     /* out */
  WeJob   *job;            /* out */
} Archive;

static void
archive_free (Archive *a)
{
  g_free (a->stream_id);
  g_free (a->user_id);
  g_free (a->recording_dir);
  g_free (a->live_dir);
  g_free (a->storage_root);
  g_free (a->source_url);
  g_clear_pointer (&a->job, we_job_unref);
  g_free (a);
}

static gchar *
newest_recording (const gchar *live_dir, const gchar *stream_id)
{
  g_autofree gchar *rec = g_build_filename (live_dir, stream_id, "rec", NULL);
  g_autoptr(GDir) dir = g_dir_open (rec, 0, NULL);
  const gchar *name;
  gchar *best = NULL;
  gint64 best_mtime = 0;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL) {
    g_autofree gchar *path = g_build_filename (rec, name, NULL);
    g_autofree gchar *index = g_build_filename (path, "recording.json", NULL);
    GStatBuf st;

    if (g_stat (index, &st) != 0)
      continue;
    if (best == NULL || (gint64) st.st_mtime > best_mtime) {
      g_free (best);
      best = g_steal_pointer (&path);
      best_mtime = st.st_mtime;
    }
  }
  return best;
}

/* The fragments are MPEG-TS cut at keyframes: joined end to end they are
 * one valid transport stream, which every encoder reads. */
static gboolean
join_recording (Archive *a, GError **error)
{
  g_autofree gchar *index = g_build_filename (a->recording_dir, "recording.json", NULL);
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autofree gchar *session = g_path_get_basename (a->recording_dir);
  g_autofree gchar *folder = g_build_filename (a->storage_root, "live", a->stream_id, NULL);
  g_autofree gchar *name = g_strconcat (session, ".ts", NULL);
  g_autofree gchar *target = g_build_filename (folder, name, NULL);
  g_autofree gchar *part = g_strconcat (target, ".part", NULL);
  g_autoptr(GFile) out_file = g_file_new_for_path (part);
  g_autoptr(GFileOutputStream) out = NULL;
  JsonObject *root;
  JsonArray *segments;
  guint joined = 0;

  if (!json_parser_load_from_file (parser, index, error))
    return FALSE;
  root = JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser))
             ? json_node_get_object (json_parser_get_root (parser)) : NULL;
  segments = root != NULL ? we_json_get_array (root, "segments") : NULL;
  if (segments == NULL) {
    g_set_error (error, WE_ERROR, WE_ERROR_STR_NOT_FOUND, "the recording has no fragments");
    return FALSE;
  }
  if (g_mkdir_with_parents (folder, 0700) != 0) {
    g_set_error (error, WE_ERROR, WE_ERROR_STO_UNAVAILABLE, "cannot create %s: %s", folder,
                 g_strerror (errno));
    return FALSE;
  }
  out = g_file_replace (out_file, NULL, FALSE, G_FILE_CREATE_PRIVATE, NULL, error);
  if (out == NULL)
    return FALSE;
  a->duration_s = 0;
  for (guint i = 0; i < json_array_get_length (segments); i++) {
    JsonObject *seg = json_array_get_object_element (segments, i);
    const gchar *file = seg != NULL ? we_json_get_string (seg, "file") : NULL;
    g_autofree gchar *base = file != NULL ? g_path_get_basename (file) : NULL;
    g_autofree gchar *path = base != NULL ? g_build_filename (a->recording_dir, base, NULL)
                                          : NULL;
    g_autoptr(GFile) in_file = path != NULL ? g_file_new_for_path (path) : NULL;
    g_autoptr(GFileInputStream) in = in_file != NULL ? g_file_read (in_file, NULL, NULL) : NULL;

    if (in == NULL)
      continue; /* a fragment listed as it opened, never written */
    if (g_output_stream_splice (G_OUTPUT_STREAM (out), G_INPUT_STREAM (in),
                                G_OUTPUT_STREAM_SPLICE_CLOSE_SOURCE, NULL, error) < 0)
      return FALSE;
    a->duration_s += json_object_get_double_member_with_default (seg, "duration_s", 0);
    joined++;
  }
  if (!g_output_stream_close (G_OUTPUT_STREAM (out), NULL, error))
    return FALSE;
  if (joined == 0) {
    g_unlink (part);
    g_set_error (error, WE_ERROR, WE_ERROR_STR_NOT_FOUND, "the recording has no media");
    return FALSE;
  }
  if (g_rename (part, target) != 0) {
    g_set_error (error, WE_ERROR, WE_ERROR_STO_UNAVAILABLE, "cannot rename %s: %s", part,
                 g_strerror (errno));
    return FALSE;
  }
  if (json_object_has_member (root, "duration_s"))
    a->duration_s = json_object_get_double_member (root, "duration_s");
  a->source_url = g_strdup_printf ("fs://live/%s/%s", a->stream_id, name);
  return TRUE;
}

static void
archive_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  Archive *a = task_data;
  GError *error = NULL;

  if (a->recording_dir == NULL)
    a->recording_dir = newest_recording (a->live_dir, a->stream_id);
  if (a->recording_dir == NULL) {
    g_task_return_new_error (task, WE_ERROR, WE_ERROR_STR_NOT_FOUND,
                             "the stream has no recording");
    return;
  }
  if (!join_recording (a, &error)) {
    g_task_return_error (task, error);
    return;
  }
  g_task_return_boolean (task, TRUE);
}

static gpointer
link_archive_run (WeStore *store, gpointer data, GError **error)
{
  Archive *a = data;
  g_autoptr(WeStream) stream = we_store_stream_get (store, a->stream_id, error);

  if (stream == NULL)
    return NULL;
  g_free (stream->archive_vod_job_id);
  stream->archive_vod_job_id = g_strdup (a->job->id);
  if (!we_store_stream_update (store, stream, error))
    return NULL;
  return a;
}

static void
linked_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  WeLiveKernel *self = g_task_get_source_object (task);
  Archive *a = g_task_get_task_data (task);
  GError *error = NULL;
  g_autoptr(JsonObject) data = NULL;

  if (we_store_call_finish (WE_STORE (source), result, &error) == NULL) {
    g_task_return_error (task, error);
    return;
  }
  data = json_object_new ();
  json_object_set_string_member (data, "stream_id", a->stream_id);
  json_object_set_string_member (data, "job_id", a->job->id);
  json_object_set_string_member (data, "source_url", a->source_url);
  json_object_set_double_member (data, "duration_s", a->duration_s);
  emit (self, "recording.ready", data);
  we_log (G_LOG_LEVEL_INFO, a->job->id, NULL, "stream %s: recording of %.1f s archived as "
          "job %s", a->stream_id, a->duration_s, a->job->id);
  g_task_return_pointer (task, we_job_ref (a->job), (GDestroyNotify) we_job_unref);
}

static void
submitted_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GTask *task = user_data;
  WeLiveKernel *self = g_task_get_source_object (task);
  Archive *a = g_task_get_task_data (task);
  GError *error = NULL;

  a->job = we_scheduler_submit_finish (WE_SCHEDULER (source), result, &error);
  if (a->job == NULL) {
    g_task_return_error (task, error);
    g_object_unref (task);
    return;
  }
  we_store_call_async (self->store, link_archive_run, a, NULL, NULL, self->life, linked_cb,
                       task);
}

/* ---- a deleted stream's files ------------------------------------------- */

static void
remove_tree (const gchar *path)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  const gchar *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL) {
    g_autofree gchar *child = g_build_filename (path, name, NULL);

    if (g_file_test (child, G_FILE_TEST_IS_DIR) && !g_file_test (child, G_FILE_TEST_IS_SYMLINK))
      remove_tree (child);
    else
      g_unlink (child);
  }
  g_rmdir (path);
}

static void
remove_files_thread (GTask *task, gpointer source, gpointer task_data,
                     GCancellable *cancellable)
{
  remove_tree (task_data);
  g_task_return_boolean (task, TRUE);
}

/* The live HLS and the recordings of a deleted stream, once it is no
 * longer live and no archive reads them (the archive in storage stays). */
static void
remove_files_when_unused (WeLiveKernel *self, LiveState *s)
{
  g_autoptr(GTask) task = NULL;

  if (!s->deleted || s->session_id != NULL || s->archiving > 0 || !id_is_safe (s->stream_id))
    return;
  task = g_task_new (NULL, NULL, NULL, NULL);
  g_task_set_task_data (task, g_build_filename (self->live_dir, s->stream_id, NULL), g_free);
  g_task_run_in_thread (task, remove_files_thread);
  /* (the state stays: callers may be iterating over the streams) */
  we_log (G_LOG_LEVEL_INFO, NULL, NULL, "stream %s deleted: its live files go", s->stream_id);
}

static void
archive_read (WeLiveKernel *self, const gchar *stream_id)
{
  LiveState *s = g_hash_table_lookup (self->streams, stream_id);

  if (s == NULL)
    return;
  if (s->archiving > 0)
    s->archiving--;
  remove_files_when_unused (self, s);
}

static void
joined_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GTask *task = user_data;
  WeLiveKernel *self = WE_LIVE_KERNEL (source);
  Archive *a = g_task_get_task_data (task);
  GError *error = NULL;
  g_autoptr(JsonObject) request = NULL;

  archive_read (self, a->stream_id);
  if (!g_task_propagate_boolean (G_TASK (result), &error)) {
    g_task_return_error (task, error);
    g_object_unref (task);
    return;
  }
  request = json_object_new ();
  json_object_set_string_member (request, "source_url", a->source_url);
  json_object_set_string_member (request, "profile", self->archive_profile);
  we_scheduler_submit_async (self->scheduler, request, a->user_id, self->life, submitted_cb,
                             task);
}

void
we_live_kernel_archive_async (WeLiveKernel *self, const gchar *stream_id, const gchar *user_id,
                              GCancellable *cancellable, GAsyncReadyCallback callback,
                              gpointer user_data)
{
  GTask *task = g_task_new (self, cancellable, callback, user_data);
  g_autoptr(GTask) join = NULL;
  Archive *a;

  if (!id_is_safe (stream_id)) {
    g_task_return_new_error (task, WE_ERROR, WE_ERROR_STR_NOT_FOUND, "no such stream");
    g_object_unref (task);
    return;
  }
  a = g_new0 (Archive, 1);
  a->stream_id = g_strdup (stream_id);
  a->user_id = g_strdup (user_id);
  a->live_dir = g_strdup (self->live_dir);
  a->storage_root = g_strdup (self->storage_root);
  g_task_set_task_data (task, a, (GDestroyNotify) archive_free);
  /* the file work in a thread of its own (not the store's) */
  join = g_task_new (self, self->life, joined_cb, task);
  g_task_set_task_data (join, a, NULL);
  live_state_get (self, a->stream_id)->archiving++;
  g_task_run_in_thread (join, archive_thread);
}

WeJob *
we_live_kernel_archive_finish (WeLiveKernel *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

static void
auto_archived_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(WeJob) job = we_live_kernel_archive_finish (WE_LIVE_KERNEL (source), result, &error);

  if (job == NULL && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    we_log (G_LOG_LEVEL_WARNING, NULL, "WE-STR-006", "archiving a recording: %s",
            error->message);
}

static void
archive_after_end (WeLiveKernel *self, const WeStream *stream, const gchar *recording_dir)
{
  GTask *task = g_task_new (self, NULL, auto_archived_cb, NULL);
  g_autoptr(GTask) join = NULL;
  Archive *a = g_new0 (Archive, 1);

  a->stream_id = g_strdup (stream->id);
  a->user_id = g_strdup (stream->user_id);
  a->recording_dir = g_strdup (recording_dir);
  a->live_dir = g_strdup (self->live_dir);
  a->storage_root = g_strdup (self->storage_root);
  g_task_set_task_data (task, a, (GDestroyNotify) archive_free);
  join = g_task_new (self, self->life, joined_cb, task);
  g_task_set_task_data (join, a, NULL);
  live_state_get (self, a->stream_id)->archiving++;
  g_task_run_in_thread (join, archive_thread);
}

/* ---- recording, viewers, deletion ----------------------------------------- */

gboolean
we_live_kernel_set_recording (WeLiveKernel *self, const gchar *stream_id, gboolean enabled,
                              GError **error)
{
  g_autoptr(JsonObject) msg = NULL;

  if (self->out == NULL && (self->nats == NULL || !we_live_nats_has_worker (self->nats))) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_STR_INGEST_UNAVAILABLE,
                         "the live worker is not running");
    return FALSE;
  }
  if (!we_live_kernel_is_live (self, stream_id)) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_STR_NOT_FOUND, "the stream is not live");
    return FALSE;
  }
  msg = json_object_new ();
  json_object_set_string_member (msg, "type", "recording");
  json_object_set_string_member (msg, "stream_id", stream_id);
  json_object_set_boolean_member (msg, "enabled", enabled);
  send_msg (self, msg);
  /* the engine switches within 100 ms; its telemetry confirms it */
  ((LiveState *) g_hash_table_lookup (self->streams, stream_id))->recording = enabled;
  return TRUE;
}

gboolean
we_live_kernel_is_recording (WeLiveKernel *self, const gchar *stream_id)
{
  LiveState *s = stream_id != NULL ? g_hash_table_lookup (self->streams, stream_id) : NULL;

  return s != NULL && s->session_id != NULL && s->recording;
}

void
we_live_kernel_count_viewer (WeLiveKernel *self, const gchar *stream_id, const gchar *client)
{
  LiveState *s = stream_id != NULL ? g_hash_table_lookup (self->streams, stream_id) : NULL;

  if (s == NULL || s->session_id == NULL || client == NULL)
    return;
  /* bounded: a flood of clients cannot grow it without end */
  if (g_hash_table_size (s->viewers) >= 100000 && !g_hash_table_contains (s->viewers, client))
    return;
  g_hash_table_replace (s->viewers, g_strdup (client),
                        g_memdup2 (&(gint64){ g_get_monotonic_time () }, sizeof (gint64)));
  count_viewers (s);
}

guint
we_live_kernel_get_viewers (WeLiveKernel *self, const gchar *stream_id, guint *peak)
{
  LiveState *s = stream_id != NULL ? g_hash_table_lookup (self->streams, stream_id) : NULL;
  guint n = s != NULL && s->session_id != NULL ? count_viewers (s) : 0;

  if (peak != NULL)
    *peak = s != NULL ? s->peak_viewers : 0;
  return n;
}

void
we_live_kernel_forget_stream (WeLiveKernel *self, const gchar *stream_id)
{
  LiveState *s;

  if (!id_is_safe (stream_id))
    return;
  s = live_state_get (self, stream_id);
  s->deleted = TRUE;
  remove_files_when_unused (self, s);
}
