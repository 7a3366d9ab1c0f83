/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Live ingest in cluster mode: see we-live-nats.h.
 */
#include "config.h"

#include "we-live-nats.h"

#include <errno.h>
#include <gio/gunixinputstream.h>
#include <gio/gunixoutputstream.h>
#include <glib-unix.h>
#include <string.h>
#include <unistd.h>
#include <webencode/we-error.h>

#include "common/we-json.h"
#include "common/we-log.h"
#include "common/we-worker-protocol.h"
#include "we-nats.h"

/* a publisher's handshake waits 5 s in the live worker: answer before */
#define DECIDE_TIMEOUT_MS    4500
/* a kernel answers once its main loop has taken it: a late answer makes
 * the worker ask again, maybe another kernel (which the store then tells
 * it was done) */
#define LIFECYCLE_TIMEOUT_MS 5000
/* what a stopping worker may spend on telling the kernels its streams ended */
#define DRAIN_US             (5 * G_USEC_PER_SEC)
/* a kernel not heard from for this long no longer counts for the leader */
#define KERNEL_BEAT_MS       1000

static gboolean
publish (natsConnection *nc, const gchar *prefix, const gchar *name, JsonObject *msg)
{
  g_autofree gchar *token = we_nats_token (name);
  g_autofree gchar *subject = g_strconcat (prefix, token, NULL);
  g_autoptr(GError) error = NULL;

  if (!we_nats_publish_json (nc, subject, NULL, msg, &error)) {
    g_warning ("live: %s", error->message);
    return FALSE;
  }
  return TRUE;
}

static gchar *
to_text (JsonObject *msg)
{
  g_autoptr(JsonNode) node = json_node_init_object (json_node_alloc (), msg);

  return json_to_string (node, FALSE);
}

/* ======================================================================== */
/* the live worker's side                                                    */
/* ======================================================================== */

/* A stream this worker holds, as the kernels are told of it. */
typedef struct {
  gchar      *session_id;
  gchar      *protocol;
  gchar      *remote;
  gint64      started_at_us;
  JsonObject *last_sample;   /* nullable */
} Session;

static void
session_free (Session *s)
{
  g_free (s->session_id);
  g_free (s->protocol);
  g_free (s->remote);
  g_clear_pointer (&s->last_sample, json_object_unref);
  g_free (s);
}

struct _WeLiveNatsWorker {
  natsConnection   *nc;
  natsSubscription *control;
  gchar            *worker_id;
  gchar            *instance;    /* this process: a restart under the same id is another */
  guint             heartbeat_ms;

  GInputStream     *in;          /* the live worker reads kernel → worker lines */
  GOutputStream    *out;         /* it writes worker → kernel lines */
  gint              in_fd;       /* our end of "in" */
  gint              out_fd;      /* our end of "out" */
  GMutex            in_lock;

  GMutex            lock;        /* sessions, ports, closing, publishing lifecycle */
  GCond             cond;
  GHashTable       *sessions;    /* stream id → Session */
  guint             rtmp_port;
  guint             srt_port;
  gboolean          closing;
  gint64            drain_deadline;

  GAsyncQueue      *outbox;      /* lifecycle messages for livectl.lifecycle */
  GThreadPool      *deciders;
  GThread          *reader;
  GThread          *sender;
  GThread          *beater;
};

static void
write_in (WeLiveNatsWorker *self, JsonObject *msg)
{
  g_autofree gchar *line = we_worker_msg_serialize (msg);
  gsize len = strlen (line), done = 0;

  g_mutex_lock (&self->in_lock);
  while (self->in_fd >= 0 && done < len) {
    gssize n = write (self->in_fd, line + done, len - done);

    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      g_warning ("live: cannot hand a message to the live worker: %s", g_strerror (errno));
      break;
    }
    done += (gsize) n;
  }
  g_mutex_unlock (&self->in_lock);
}

void
we_live_nats_worker_inject (WeLiveNatsWorker *self, JsonObject *msg)
{
  write_in (self, msg);
}

/* a kernel's command (nats.c thread): stop_stream, recording … */
static void
control_cb (natsConnection *nc, natsSubscription *sub, natsMsg *nmsg, void *closure)
{
  WeLiveNatsWorker *self = closure;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) msg = NULL;
  const gchar *type;

  msg = we_worker_msg_parse (natsMsg_GetData (nmsg), (gsize) MAX (natsMsg_GetDataLength (nmsg), 0),
                             &error);
  natsMsg_Destroy (nmsg);
  if (msg == NULL) {
    g_warning ("live: ignoring a bad control message: %s", error->message);
    return;
  }
  type = we_worker_msg_type (msg);
  /* decisions come as replies, the configuration from our own file, and a
   * kernel does not stop a worker the whole cluster shares */
  if (g_str_equal (type, "configure") || g_str_equal (type, "publish_decision") ||
      g_str_equal (type, "shutdown"))
    return;
  write_in (self, msg);
}

/* a publish attempt (thread pool): any kernel decides */
static void
decide_func (gpointer data, gpointer user_data)
{
  g_autoptr(JsonObject) attempt = data;
  WeLiveNatsWorker *self = user_data;
  g_autoptr(JsonObject) decision = NULL;
  g_autofree gchar *text = to_text (attempt);
  natsMsg *reply = NULL;
  natsStatus s;
  gint64 id = json_object_get_int_member_with_default (attempt, "id", 0);

  s = natsConnection_Request (&reply, self->nc, WE_LIVE_NATS_DECIDE, text, (int) strlen (text),
                              DECIDE_TIMEOUT_MS);
  /* the presented key was in it */
  memset (text, 0, strlen (text));
  if (s == NATS_OK) {
    g_autoptr(GError) error = NULL;

    decision = we_worker_msg_parse (natsMsg_GetData (reply),
                                    (gsize) MAX (natsMsg_GetDataLength (reply), 0), &error);
    natsMsg_Destroy (reply);
    if (decision == NULL)
      g_warning ("live: a bad publish decision: %s", error->message);
  }
  if (decision == NULL) {
    decision = json_object_new ();
    json_object_set_boolean_member (decision, "accept", FALSE);
    json_object_set_string_member (decision, "reason",
                                   s == NATS_NO_RESPONDERS ? "no kernel is listening"
                                                           : "no kernel decided in time");
  }
  json_object_set_string_member (decision, "type", "publish_decision");
  json_object_set_int_member (decision, "id", id);
  write_in (self, decision);
  if (json_object_has_member (decision, "passphrase"))
    json_object_remove_member (decision, "passphrase");
}

static JsonObject *
session_entry (const gchar *stream_id, Session *s)
{
  JsonObject *o = json_object_new ();

  json_object_set_string_member (o, "stream_id", stream_id);
  json_object_set_string_member (o, "session_id", s->session_id);
  json_object_set_string_member (o, "protocol", s->protocol != NULL ? s->protocol : "");
  json_object_set_string_member (o, "remote", s->remote != NULL ? s->remote : "");
  json_object_set_int_member (o, "started_at_us", s->started_at_us);
  return o;
}

/* under lock: the heartbeat is published in order with lifecycle events */
static void
publish_heartbeat_locked (WeLiveNatsWorker *self)
{
  g_autoptr(JsonObject) beat = json_object_new ();
  JsonArray *streams = json_array_new ();
  GHashTableIter iter;
  gpointer key, value;

  json_object_set_string_member (beat, "type", "live_heartbeat");
  json_object_set_string_member (beat, "worker_id", self->worker_id);
  json_object_set_string_member (beat, "instance", self->instance);
  json_object_set_int_member (beat, "pid", getpid ());
  json_object_set_int_member (beat, "rtmp_port", self->rtmp_port);
  json_object_set_int_member (beat, "srt_port", self->srt_port);
  json_object_set_boolean_member (beat, "stopping", self->closing);
  g_hash_table_iter_init (&iter, self->sessions);
  while (g_hash_table_iter_next (&iter, &key, &value))
    json_array_add_object_element (streams, session_entry (key, value));
  json_object_set_array_member (beat, "streams", streams);
  publish (self->nc, WE_LIVE_NATS_WORKERS, self->worker_id, beat);
}

static gpointer
beat_thread (gpointer data)
{
  WeLiveNatsWorker *self = data;

  g_mutex_lock (&self->lock);
  while (!self->closing) {
    gint64 until = g_get_monotonic_time () + self->heartbeat_ms * G_TIME_SPAN_MILLISECOND;

    publish_heartbeat_locked (self);
    while (!self->closing && g_cond_wait_until (&self->cond, &self->lock, until))
      ;
  }
  g_mutex_unlock (&self->lock);
  return NULL;
}

/* lifecycle messages reach one kernel for the store and webhooks; a kernel
 * restarting or none up yet only delays them */
static gpointer
send_thread (gpointer data)
{
  WeLiveNatsWorker *self = data;

  for (;;) {
    g_autoptr(JsonObject) msg = g_async_queue_timeout_pop (self->outbox, 200 * 1000);
    g_autofree gchar *text = NULL;
    gboolean closing;

    g_mutex_lock (&self->lock);
    closing = self->closing;
    g_mutex_unlock (&self->lock);
    if (msg == NULL) {
      if (closing)
        break;
      continue;
    }
    text = to_text (msg);
    for (;;) {
      natsMsg *reply = NULL;
      natsStatus s = natsConnection_Request (&reply, self->nc, WE_LIVE_NATS_LIFECYCLE, text,
                                             (int) strlen (text), LIFECYCLE_TIMEOUT_MS);
      gint64 deadline;

      if (s == NATS_OK) {
        natsMsg_Destroy (reply);
        break;
      }
      g_mutex_lock (&self->lock);
      closing = self->closing;
      deadline = self->drain_deadline;
      g_mutex_unlock (&self->lock);
      if (closing && g_get_monotonic_time () > deadline) {
        g_warning ("live: no kernel took %s of stream %s before the worker stopped",
                   we_worker_msg_type (msg), we_json_get_string (msg, "stream_id"));
        break;
      }
      g_usleep (s == NATS_TIMEOUT ? 0 : 500 * 1000);
    }
  }
  return NULL;
}

static void
route_started (WeLiveNatsWorker *self, JsonObject *msg)
{
  const gchar *stream_id = we_json_get_string (msg, "stream_id");
  Session *s;
  gboolean is_new;

  if (stream_id == NULL)
    return;
  g_mutex_lock (&self->lock);
  s = g_hash_table_lookup (self->sessions, stream_id);
  /* the engine says started again on a takeover: the session goes on */
  is_new = s == NULL;
  if (is_new) {
    s = g_new0 (Session, 1);
    s->session_id = g_uuid_string_random ();
    s->started_at_us = g_get_real_time ();
    g_hash_table_insert (self->sessions, g_strdup (stream_id), s);
  }
  g_free (s->protocol);
  s->protocol = g_strdup (we_json_get_string (msg, "protocol"));
  g_free (s->remote);
  s->remote = g_strdup (we_json_get_string (msg, "remote"));
  json_object_set_string_member (msg, "worker_id", self->worker_id);
  json_object_set_string_member (msg, "session_id", s->session_id);
  json_object_set_int_member (msg, "started_at_us", s->started_at_us);
  json_object_set_boolean_member (msg, "new", is_new);
  publish (self->nc, WE_LIVE_NATS_EVENTS, stream_id, msg);
  g_async_queue_push (self->outbox, json_object_ref (msg));
  g_mutex_unlock (&self->lock);
}

static void
route_ended (WeLiveNatsWorker *self, JsonObject *msg)
{
  const gchar *stream_id = we_json_get_string (msg, "stream_id");
  Session *s;

  if (stream_id == NULL)
    return;
  g_mutex_lock (&self->lock);
  s = g_hash_table_lookup (self->sessions, stream_id);
  if (s != NULL) {
    json_object_set_string_member (msg, "session_id", s->session_id);
    json_object_set_string_member (msg, "protocol", s->protocol != NULL ? s->protocol : "");
    json_object_set_string_member (msg, "remote", s->remote != NULL ? s->remote : "");
    json_object_set_int_member (msg, "started_at_us", s->started_at_us);
    if (s->last_sample != NULL)
      json_object_set_object_member (msg, "last_sample", json_object_ref (s->last_sample));
  }
  json_object_set_string_member (msg, "worker_id", self->worker_id);
  json_object_set_int_member (msg, "ended_at_us", g_get_real_time ());
  g_hash_table_remove (self->sessions, stream_id);
  publish (self->nc, WE_LIVE_NATS_EVENTS, stream_id, msg);
  if (json_object_has_member (msg, "session_id"))
    g_async_queue_push (self->outbox, json_object_ref (msg));
  g_mutex_unlock (&self->lock);
}

static void
route_telemetry (WeLiveNatsWorker *self, JsonObject *msg)
{
  const gchar *stream_id = we_json_get_string (msg, "stream_id");
  JsonObject *sample = we_json_get_object (msg, "sample");
  Session *s;

  if (stream_id == NULL || sample == NULL)
    return;
  g_mutex_lock (&self->lock);
  s = g_hash_table_lookup (self->sessions, stream_id);
  if (s != NULL) {
    g_clear_pointer (&s->last_sample, json_object_unref);
    s->last_sample = json_object_ref (sample);
    json_object_set_string_member (msg, "session_id", s->session_id);
    json_object_set_string_member (msg, "worker_id", self->worker_id);
    publish (self->nc, WE_LIVE_NATS_TELEMETRY, stream_id, msg);
  }
  g_mutex_unlock (&self->lock);
}

/* the live worker's lines (its own thread: blocking reads) */
static gpointer
read_thread (gpointer data)
{
  WeLiveNatsWorker *self = data;
  g_autoptr(GInputStream) raw = g_unix_input_stream_new (self->out_fd, TRUE);
  g_autoptr(GDataInputStream) in = g_data_input_stream_new (raw);

  g_data_input_stream_set_newline_type (in, G_DATA_STREAM_NEWLINE_TYPE_LF);
  for (;;) {
    g_autoptr(GError) error = NULL;
    gsize length = 0;
    g_autofree gchar *line = g_data_input_stream_read_line_utf8 (in, &length, NULL, &error);
    g_autoptr(JsonObject) msg = NULL;
    const gchar *type;

    if (line == NULL)
      break; /* the live worker closed its end: it is done */
    msg = we_worker_msg_parse (line, length, &error);
    if (msg == NULL) {
      g_warning ("live: a bad line from the live worker: %s", error->message);
      continue;
    }
    type = we_worker_msg_type (msg);
    if (g_str_equal (type, "publish_attempt")) {
      g_thread_pool_push (self->deciders, g_steal_pointer (&msg), NULL);
    } else if (g_str_equal (type, "stream_started")) {
      route_started (self, msg);
    } else if (g_str_equal (type, "stream_ended")) {
      route_ended (self, msg);
    } else if (g_str_equal (type, "telemetry")) {
      route_telemetry (self, msg);
    } else if (g_str_equal (type, "live_ready")) {
      g_mutex_lock (&self->lock);
      self->rtmp_port = (guint) json_object_get_int_member_with_default (msg, "rtmp_port", 0);
      self->srt_port = (guint) json_object_get_int_member_with_default (msg, "srt_port", 0);
      publish_heartbeat_locked (self);
      g_mutex_unlock (&self->lock);
      g_message ("live worker %s ready: RTMP on port %u, SRT on port %u", self->worker_id,
                 self->rtmp_port, self->srt_port);
    } else if (g_str_equal (type, "live_failed")) {
      g_warning ("live worker %s cannot run: %s", self->worker_id,
                 we_json_get_string (msg, "message") ?: "");
    }
    memset (line, 0, length);
  }
  return NULL;
}

WeLiveNatsWorker *
we_live_nats_worker_new (const gchar *url, const gchar *worker_id, guint heartbeat_ms,
                         GError **error)
{
  WeLiveNatsWorker *self;
  natsConnection *nc;
  g_autofree gchar *name = g_strconcat ("webencode-live-", worker_id, NULL);
  g_autofree gchar *token = we_nats_token (worker_id);
  g_autofree gchar *subject = g_strconcat (WE_LIVE_NATS_CONTROL, token, NULL);
  gint in_pipe[2], out_pipe[2];
  natsStatus s;

  nc = we_nats_connect (url, name, error);
  if (nc == NULL)
    return NULL;
  if (!g_unix_open_pipe (in_pipe, FD_CLOEXEC, error)) {
    natsConnection_Destroy (nc);
    return NULL;
  }
  if (!g_unix_open_pipe (out_pipe, FD_CLOEXEC, error)) {
    close (in_pipe[0]);
    close (in_pipe[1]);
    natsConnection_Destroy (nc);
    return NULL;
  }
  self = g_new0 (WeLiveNatsWorker, 1);
  self->nc = nc;
  self->worker_id = g_strdup (worker_id);
  self->instance = g_uuid_string_random ();
  self->heartbeat_ms = MAX (heartbeat_ms, 100);
  self->in = g_unix_input_stream_new (in_pipe[0], TRUE);
  self->in_fd = in_pipe[1];
  self->out = g_unix_output_stream_new (out_pipe[1], TRUE);
  self->out_fd = out_pipe[0];
  g_mutex_init (&self->in_lock);
  g_mutex_init (&self->lock);
  g_cond_init (&self->cond);
  self->sessions = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                          (GDestroyNotify) session_free);
  self->outbox = g_async_queue_new_full ((GDestroyNotify) json_object_unref);
  self->deciders = g_thread_pool_new (decide_func, self, 8, FALSE, NULL);
  s = natsConnection_Subscribe (&self->control, nc, subject, control_cb, self);
  if (s != NATS_OK) {
    we_nats_set_error (error, s, "subscribing to the live control subject");
    we_live_nats_worker_free (self);
    return NULL;
  }
  self->reader = g_thread_new ("live-nats-read", read_thread, self);
  self->sender = g_thread_new ("live-nats-send", send_thread, self);
  self->beater = g_thread_new ("live-nats-beat", beat_thread, self);
  return self;
}

GInputStream *
we_live_nats_worker_get_input (WeLiveNatsWorker *self)
{
  return self->in;
}

GOutputStream *
we_live_nats_worker_get_output (WeLiveNatsWorker *self)
{
  return self->out;
}

void
we_live_nats_worker_free (WeLiveNatsWorker *self)
{
  if (self == NULL)
    return;
  /* no more commands: the live worker is gone */
  if (self->control != NULL) {
    natsSubscription_Unsubscribe (self->control);
    natsSubscription_Destroy (self->control);
  }
  /* its last lines (stream_ended …) are read to the end */
  if (self->out != NULL)
    g_output_stream_close (self->out, NULL, NULL);
  if (self->reader != NULL)
    g_thread_join (self->reader);
  else if (self->out_fd >= 0)
    close (self->out_fd);
  g_thread_pool_free (self->deciders, FALSE, TRUE);
  g_mutex_lock (&self->lock);
  self->closing = TRUE;
  self->drain_deadline = g_get_monotonic_time () + DRAIN_US;
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
  if (self->sender != NULL)
    g_thread_join (self->sender);
  if (self->beater != NULL)
    g_thread_join (self->beater);
  g_mutex_lock (&self->lock);
  /* an empty last heartbeat: the kernels need not wait for our silence */
  g_hash_table_remove_all (self->sessions);
  publish_heartbeat_locked (self);
  g_mutex_unlock (&self->lock);
  natsConnection_FlushTimeout (self->nc, 1000);
  natsConnection_Close (self->nc);
  natsConnection_Destroy (self->nc);
  g_mutex_lock (&self->in_lock);
  if (self->in_fd >= 0)
    close (self->in_fd);
  self->in_fd = -1;
  g_mutex_unlock (&self->in_lock);
  g_clear_object (&self->in);
  g_clear_object (&self->out);
  g_async_queue_unref (self->outbox);
  g_hash_table_unref (self->sessions);
  g_mutex_clear (&self->in_lock);
  g_mutex_clear (&self->lock);
  g_cond_clear (&self->cond);
  g_free (self->worker_id);
  g_free (self->instance);
  g_free (self);
}

/* ======================================================================== */
/* the kernel's side                                                         */
/* ======================================================================== */

/* A live stream as this kernel knows it from the worker holding it. */
typedef struct {
  gchar  *worker_id;
  gchar  *session_id;
  gchar  *protocol;
  gchar  *remote;
  gint64  started_at_us;
} Held;

static void
held_free (Held *h)
{
  g_free (h->worker_id);
  g_free (h->session_id);
  g_free (h->protocol);
  g_free (h->remote);
  g_free (h);
}

typedef struct {
  gint64  last_seen;   /* monotonic */
  guint   rtmp_port;
  guint   srt_port;
  gchar  *instance;
} LiveWorkerInfo;

static void
live_worker_info_free (LiveWorkerInfo *info)
{
  g_free (info->instance);
  g_free (info);
}

struct _WeLiveNats {
  GObject             parent_instance;
  gchar              *url;
  gchar              *kernel_id;
  guint               offline_ms;
  WeLiveNatsDispatch  dispatch;
  gpointer            user_data;

  natsConnection     *nc;
  WeNatsBridge       *bridge;
  natsSubscription   *subs[4];
  GCancellable       *cancellable;
  guint               retry_id;
  guint               tick_id;
  gint64              connected_at; /* monotonic */
  gboolean            stale_checked;
  gboolean            stopped;
  GHashTable         *replies;   /* gint64* id → reply subject */
  gint64              next_id;
  GHashTable         *streams;   /* stream id → Held */
  GHashTable         *ended;     /* session ids ended lately → monotonic time */
  GHashTable         *workers;   /* worker id → LiveWorkerInfo */
  GHashTable         *kernels;   /* kernel id → gint64* monotonic last seen */
};

G_DEFINE_TYPE (WeLiveNats, we_live_nats, G_TYPE_OBJECT)

static void connect_now (WeLiveNats *self);

static void
we_live_nats_dispose (GObject *object)
{
  we_live_nats_stop (WE_LIVE_NATS (object));
  G_OBJECT_CLASS (we_live_nats_parent_class)->dispose (object);
}

static void
we_live_nats_finalize (GObject *object)
{
  WeLiveNats *self = WE_LIVE_NATS (object);

  g_free (self->url);
  g_free (self->kernel_id);
  g_hash_table_unref (self->replies);
  g_hash_table_unref (self->streams);
  g_hash_table_unref (self->ended);
  g_hash_table_unref (self->workers);
  g_hash_table_unref (self->kernels);
  g_clear_object (&self->cancellable);
  G_OBJECT_CLASS (we_live_nats_parent_class)->finalize (object);
}

static void
we_live_nats_class_init (WeLiveNatsClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = we_live_nats_dispose;
  G_OBJECT_CLASS (klass)->finalize = we_live_nats_finalize;
}

static void
we_live_nats_init (WeLiveNats *self)
{
  self->replies = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, g_free);
  self->streams = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                         (GDestroyNotify) held_free);
  self->ended = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->workers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                         (GDestroyNotify) live_worker_info_free);
  self->kernels = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->cancellable = g_cancellable_new ();
}

WeLiveNats *
we_live_nats_new (const gchar *url, const gchar *kernel_id, guint offline_ms,
                  WeLiveNatsDispatch dispatch, gpointer user_data)
{
  WeLiveNats *self = g_object_new (WE_TYPE_LIVE_NATS, NULL);

  self->url = g_strdup (url);
  self->kernel_id = g_strdup (kernel_id != NULL ? kernel_id : g_get_host_name ());
  self->offline_ms = MAX (offline_ms, 1000);
  self->dispatch = dispatch;
  self->user_data = user_data;
  return self;
}

static gboolean
alive (WeLiveNats *self, gint64 last_seen, gint64 now)
{
  return now - last_seen <= (gint64) self->offline_ms * G_TIME_SPAN_MILLISECOND;
}

/* the lowest kernel id heard from lately writes what nobody else would */
static gboolean
is_leader (WeLiveNats *self)
{
  GHashTableIter iter;
  gpointer key, value;
  gint64 now = g_get_monotonic_time ();

  g_hash_table_iter_init (&iter, self->kernels);
  while (g_hash_table_iter_next (&iter, &key, &value)) {
    if (alive (self, *(gint64 *) value, now) && strcmp (key, self->kernel_id) < 0)
      return FALSE;
  }
  return TRUE;
}

static JsonObject *
held_message (const gchar *type, const gchar *stream_id, Held *h)
{
  JsonObject *msg = json_object_new ();

  json_object_set_string_member (msg, "type", type);
  json_object_set_string_member (msg, "stream_id", stream_id);
  json_object_set_string_member (msg, "worker_id", h->worker_id);
  json_object_set_string_member (msg, "session_id", h->session_id);
  json_object_set_string_member (msg, "protocol", h->protocol != NULL ? h->protocol : "");
  json_object_set_string_member (msg, "remote", h->remote != NULL ? h->remote : "");
  json_object_set_int_member (msg, "started_at_us", h->started_at_us);
  return msg;
}

static void
hold (WeLiveNats *self, const gchar *stream_id, JsonObject *msg)
{
  Held *h = g_new0 (Held, 1);

  h->worker_id = g_strdup (we_json_get_string (msg, "worker_id"));
  h->session_id = g_strdup (we_json_get_string (msg, "session_id"));
  h->protocol = g_strdup (we_json_get_string (msg, "protocol"));
  h->remote = g_strdup (we_json_get_string (msg, "remote"));
  h->started_at_us = json_object_get_int_member_with_default (msg, "started_at_us", 0);
  g_hash_table_replace (self->streams, g_strdup (stream_id), h);
}

static void
forget (WeLiveNats *self, const gchar *stream_id, const gchar *session_id)
{
  gint64 *when = g_new (gint64, 1);

  *when = g_get_monotonic_time ();
  if (session_id != NULL)
    g_hash_table_replace (self->ended, g_strdup (session_id), when);
  else
    g_free (when);
  g_hash_table_remove (self->streams, stream_id);
}

/* The streams of a worker gone silent (or that stopped) end here; the
 * leader also closes them in the store. */
static void
end_streams_of (WeLiveNats *self, const gchar *worker_id, const gchar *reason,
                gboolean effects)
{
  GHashTableIter iter;
  gpointer key, value;
  g_autoptr(GPtrArray) gone = g_ptr_array_new_with_free_func (g_free);

  g_hash_table_iter_init (&iter, self->streams);
  while (g_hash_table_iter_next (&iter, &key, &value)) {
    if (g_strcmp0 (((Held *) value)->worker_id, worker_id) == 0)
      g_ptr_array_add (gone, g_strdup (key));
  }
  for (guint i = 0; i < gone->len; i++) {
    const gchar *stream_id = gone->pdata[i];
    Held *h = g_hash_table_lookup (self->streams, stream_id);
    g_autoptr(JsonObject) msg = held_message ("stream_ended", stream_id, h);
    g_autofree gchar *session_id = g_strdup (h->session_id);

    json_object_set_string_member (msg, "reason", reason);
    json_object_set_null_member (msg, "recording_dir");
    json_object_set_int_member (msg, "ended_at_us", g_get_real_time ());
    forget (self, stream_id, session_id);
    self->dispatch (msg, FALSE, self->user_data);
    if (effects)
      self->dispatch (msg, TRUE, self->user_data);
  }
}

static void
on_event (WeLiveNats *self, const gchar *stream_id, JsonObject *msg)
{
  const gchar *type = we_worker_msg_type (msg);
  const gchar *session_id = we_json_get_string (msg, "session_id");

  if (g_str_equal (type, "stream_started")) {
    if (session_id == NULL || g_hash_table_contains (self->ended, session_id))
      return;
    hold (self, stream_id, msg);
  } else if (g_str_equal (type, "stream_ended")) {
    forget (self, stream_id, session_id);
  } else {
    return;
  }
  self->dispatch (msg, FALSE, self->user_data);
}

static void
on_heartbeat (WeLiveNats *self, JsonObject *msg)
{
  const gchar *worker_id = we_json_get_string (msg, "worker_id");
  JsonArray *streams = we_json_get_array (msg, "streams");
  LiveWorkerInfo *info;
  g_autoptr(GHashTable) listed = g_hash_table_new (g_str_hash, g_str_equal);
  GHashTableIter iter;
  gpointer key, value;
  g_autoptr(GPtrArray) missing = g_ptr_array_new_with_free_func (g_free);

  if (worker_id == NULL)
    return;
  info = g_hash_table_lookup (self->workers, worker_id);
  if (info != NULL && g_strcmp0 (info->instance, we_json_get_string (msg, "instance")) != 0) {
    /* restarted under the same id before its silence was noticed: what the
     * old process held ended with it, and no stream_ended will say so */
    g_warning ("live worker %s restarted; ending the streams it had", worker_id);
    end_streams_of (self, worker_id, "the live worker exited", is_leader (self));
    g_hash_table_remove (self->workers, worker_id);
    info = NULL;
  }
  if (info == NULL) {
    info = g_new0 (LiveWorkerInfo, 1);
    info->instance = g_strdup (we_json_get_string (msg, "instance"));
    g_hash_table_insert (self->workers, g_strdup (worker_id), info);
    g_message ("live worker %s joined", worker_id);
  }
  info->last_seen = g_get_monotonic_time ();
  info->rtmp_port = (guint) json_object_get_int_member_with_default (msg, "rtmp_port", 0);
  info->srt_port = (guint) json_object_get_int_member_with_default (msg, "srt_port", 0);
  /* what is live that we did not see start (this kernel started later) */
  for (guint i = 0; streams != NULL && i < json_array_get_length (streams); i++) {
    JsonObject *entry = json_array_get_object_element (streams, i);
    const gchar *stream_id = entry != NULL ? we_json_get_string (entry, "stream_id") : NULL;
    const gchar *session_id = entry != NULL ? we_json_get_string (entry, "session_id") : NULL;
    Held *h;

    if (stream_id == NULL || session_id == NULL)
      continue;
    g_hash_table_add (listed, (gpointer) stream_id);
    h = g_hash_table_lookup (self->streams, stream_id);
    if (g_hash_table_contains (self->ended, session_id) ||
        (h != NULL && g_strcmp0 (h->session_id, session_id) == 0))
      continue;
    {
      g_autoptr(JsonObject) started = json_object_new ();
      GList *members;

      json_object_set_string_member (started, "type", "stream_started");
      json_object_set_string_member (started, "worker_id", worker_id);
      members = json_object_get_members (entry);
      for (GList *m = members; m != NULL; m = m->next)
        json_object_set_member (started, m->data,
                                json_node_copy (json_object_get_member (entry, m->data)));
      g_list_free (members);
      json_object_set_boolean_member (started, "new", FALSE);
      hold (self, stream_id, started);
      self->dispatch (started, FALSE, self->user_data);
    }
  }
  /* what it no longer holds, whose end we missed (a reconnect of ours) */
  g_hash_table_iter_init (&iter, self->streams);
  while (g_hash_table_iter_next (&iter, &key, &value)) {
    if (g_strcmp0 (((Held *) value)->worker_id, worker_id) == 0 &&
        !g_hash_table_contains (listed, key))
      g_ptr_array_add (missing, g_strdup (key));
  }
  for (guint i = 0; i < missing->len; i++) {
    Held *h = g_hash_table_lookup (self->streams, missing->pdata[i]);
    g_autoptr(JsonObject) ended = held_message ("stream_ended", missing->pdata[i], h);
    g_autofree gchar *session_id = g_strdup (h->session_id);

    json_object_set_string_member (ended, "reason", "ended");
    forget (self, missing->pdata[i], session_id);
    self->dispatch (ended, FALSE, self->user_data);
  }
}

static void
live_cb (GObject *target, WeNatsMsg *nmsg)
{
  WeLiveNats *self = WE_LIVE_NATS (target);
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) msg = we_nats_msg_parse (nmsg, &error);
  const gchar *stream_id;

  if (msg == NULL || self->stopped) {
    if (msg == NULL)
      g_warning ("live: %s", error->message);
    return;
  }
  if (g_str_has_prefix (nmsg->subject, WE_LIVE_NATS_WORKERS)) {
    on_heartbeat (self, msg);
    return;
  }
  stream_id = we_json_get_string (msg, "stream_id");
  if (stream_id == NULL)
    return;
  if (g_str_has_prefix (nmsg->subject, WE_LIVE_NATS_EVENTS)) {
    on_event (self, stream_id, msg);
  } else if (g_str_has_prefix (nmsg->subject, WE_LIVE_NATS_TELEMETRY) &&
             g_str_equal (we_worker_msg_type (msg), "telemetry") &&
             g_hash_table_contains (self->streams, stream_id)) {
    /* every kernel relays it to its WebSocket clients; the leader is the
     * one that may keep it */
    self->dispatch (msg, is_leader (self), self->user_data);
  }
}

static void
reply_json (WeLiveNats *self, const gchar *reply, JsonObject *msg)
{
  g_autoptr(GError) error = NULL;

  if (self->nc != NULL && reply != NULL &&
      !we_nats_publish_json (self->nc, reply, NULL, msg, &error))
    g_warning ("live: %s", error->message);
}

static void
decide_cb (GObject *target, WeNatsMsg *nmsg)
{
  WeLiveNats *self = WE_LIVE_NATS (target);
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) msg = we_nats_msg_parse (nmsg, &error);
  g_autoptr(JsonObject) attempt = NULL;
  gint64 *id;

  if (msg == NULL || nmsg->reply == NULL || self->stopped)
    return;
  id = g_new (gint64, 1);
  *id = ++self->next_id;
  g_hash_table_insert (self->replies, id, g_strdup (nmsg->reply));
  attempt = json_object_new ();
  json_object_set_string_member (attempt, "type", "publish_attempt");
  json_object_set_int_member (attempt, "id", *id);
  json_object_set_string_member (attempt, "protocol", we_json_get_string (msg, "protocol") ?: "");
  json_object_set_string_member (attempt, "key", we_json_get_string (msg, "key") ?: "");
  json_object_set_string_member (attempt, "remote", we_json_get_string (msg, "remote") ?: "");
  /* which kernel decided is worth a line (the key is not) */
  we_log (G_LOG_LEVEL_INFO, NULL, NULL, "live: deciding a %s publish attempt for the cluster",
          we_json_get_string (msg, "protocol") ?: "?");
  self->dispatch (attempt, TRUE, self->user_data);
}

static void
lifecycle_cb (GObject *target, WeNatsMsg *nmsg)
{
  WeLiveNats *self = WE_LIVE_NATS (target);
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) msg = we_nats_msg_parse (nmsg, &error);
  g_autoptr(JsonObject) ack = json_object_new ();

  if (msg == NULL || self->stopped) {
    /* unanswered: the worker asks again, maybe another kernel */
    return;
  }
  we_log (G_LOG_LEVEL_INFO, NULL, NULL, "live: recording %s of stream %s for the cluster",
          we_worker_msg_type (msg), we_json_get_string (msg, "stream_id") ?: "?");
  self->dispatch (msg, TRUE, self->user_data);
  json_object_set_boolean_member (ack, "ok", TRUE);
  reply_json (self, nmsg->reply, ack);
}

static void
kernel_cb (GObject *target, WeNatsMsg *nmsg)
{
  WeLiveNats *self = WE_LIVE_NATS (target);
  g_autoptr(JsonObject) msg = we_nats_msg_parse (nmsg, NULL);
  const gchar *id = msg != NULL ? we_json_get_string (msg, "kernel_id") : NULL;
  gint64 *when;

  if (id == NULL)
    return;
  when = g_new (gint64, 1);
  *when = g_get_monotonic_time ();
  g_hash_table_replace (self->kernels, g_strdup (id), when);
}

static gboolean
tick_cb (gpointer user_data)
{
  WeLiveNats *self = user_data;
  g_autoptr(JsonObject) beat = json_object_new ();
  g_autoptr(GPtrArray) silent = g_ptr_array_new_with_free_func (g_free);
  gint64 now = g_get_monotonic_time ();
  GHashTableIter iter;
  gpointer key, value;

  json_object_set_string_member (beat, "kernel_id", self->kernel_id);
  publish (self->nc, WE_LIVE_NATS_KERNEL, self->kernel_id, beat);
  g_hash_table_iter_init (&iter, self->workers);
  while (g_hash_table_iter_next (&iter, &key, &value)) {
    if (!alive (self, ((LiveWorkerInfo *) value)->last_seen, now))
      g_ptr_array_add (silent, g_strdup (key));
  }
  for (guint i = 0; i < silent->len; i++) {
    g_warning ("live worker %s is silent; ending its streams", (gchar *) silent->pdata[i]);
    end_streams_of (self, silent->pdata[i], "the live worker exited", is_leader (self));
    g_hash_table_remove (self->workers, silent->pdata[i]);
  }
  /* once every live worker has had time to beat: the leader closes in the
   * store what no worker holds (a whole-cluster outage left it live) */
  if (!self->stale_checked &&
      now - self->connected_at > 2 * (gint64) self->offline_ms * G_TIME_SPAN_MILLISECOND) {
    self->stale_checked = TRUE;
    if (is_leader (self)) {
      g_autoptr(JsonObject) msg = json_object_new ();
      JsonArray *live = json_array_new ();

      g_hash_table_iter_init (&iter, self->streams);
      while (g_hash_table_iter_next (&iter, &key, NULL))
        json_array_add_string_element (live, key);
      json_object_set_string_member (msg, "type", "close_stale");
      json_object_set_array_member (msg, "live", live);
      self->dispatch (msg, TRUE, self->user_data);
    }
  }
  /* ended sessions are remembered a while against late heartbeats */
  g_hash_table_iter_init (&iter, self->ended);
  while (g_hash_table_iter_next (&iter, NULL, &value)) {
    if (now - *(gint64 *) value > 60 * G_USEC_PER_SEC)
      g_hash_table_iter_remove (&iter);
  }
  return G_SOURCE_CONTINUE;
}

static natsSubscription *
subscribe (WeLiveNats *self, const gchar *subject, WeNatsHandler handler)
{
  g_autoptr(GError) error = NULL;
  natsSubscription *sub = we_nats_subscribe (self->nc, subject, self->bridge, handler, &error);

  if (sub == NULL)
    g_warning ("live: %s", error->message);
  return sub;
}

typedef struct {
  WeNatsBridge  *bridge;
  WeNatsHandler  handler;
} QueueClosure;

static void
queue_closure_free (void *data)
{
  QueueClosure *c = data;

  we_nats_bridge_unref (c->bridge);
  g_free (c);
}

static void
queue_msg_cb (natsConnection *nc, natsSubscription *sub, natsMsg *nmsg, void *closure)
{
  QueueClosure *c = closure;
  WeNatsMsg *msg = g_new0 (WeNatsMsg, 1);
  const gchar *reply = natsMsg_GetReply (nmsg);

  msg->subject = g_strdup (natsMsg_GetSubject (nmsg));
  msg->reply = reply != NULL && *reply != '\0' ? g_strdup (reply) : NULL;
  msg->data = g_bytes_new (natsMsg_GetData (nmsg), (gsize) MAX (natsMsg_GetDataLength (nmsg), 0));
  natsMsg_Destroy (nmsg);
  we_nats_bridge_post (c->bridge, c->handler, msg);
}

static natsSubscription *
queue_subscribe (WeLiveNats *self, const gchar *subject, WeNatsHandler handler)
{
  QueueClosure *c = g_new0 (QueueClosure, 1);
  natsSubscription *sub = NULL;
  natsStatus s;

  c->bridge = we_nats_bridge_ref (self->bridge);
  c->handler = handler;
  s = natsConnection_QueueSubscribe (&sub, self->nc, subject, WE_LIVE_NATS_QUEUE_GROUP,
                                     queue_msg_cb, c);
  if (s == NATS_OK)
    s = natsSubscription_SetOnCompleteCB (sub, queue_closure_free, c);
  if (s != NATS_OK) {
    g_warning ("live: subscribing to %s: %s", subject, natsStatus_GetText (s));
    if (sub != NULL) {
      natsSubscription_Unsubscribe (sub);
      natsSubscription_Destroy (sub);
    } else {
      queue_closure_free (c);
    }
    return NULL;
  }
  return sub;
}

static void
connect_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  WeLiveNats *self = source;   /* url and kernel_id never change */
  g_autofree gchar *name = g_strconcat ("webencoded-live-", self->kernel_id, NULL);
  GError *error = NULL;
  natsConnection *nc = we_nats_connect (self->url, name, &error);

  if (nc == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, nc, (GDestroyNotify) natsConnection_Destroy);
}

static gboolean
retry_cb (gpointer user_data)
{
  WeLiveNats *self = user_data;

  self->retry_id = 0;
  connect_now (self);
  return G_SOURCE_REMOVE;
}

static void
connected_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  WeLiveNats *self = WE_LIVE_NATS (source);
  g_autoptr(GError) error = NULL;
  natsConnection *nc = g_task_propagate_pointer (G_TASK (result), &error);

  if (nc == NULL) {
    if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
      return;
    g_warning ("live: %s; retrying in 2 s", error->message);
    if (!self->stopped)
      self->retry_id = g_timeout_add_seconds (2, retry_cb, self);
    return;
  }
  if (self->stopped) {
    natsConnection_Close (nc);
    natsConnection_Destroy (nc);
    return;
  }
  self->nc = nc;
  self->bridge = we_nats_bridge_new (G_OBJECT (self), NULL);
  self->subs[0] = subscribe (self, "live.>", live_cb);
  self->subs[1] = queue_subscribe (self, WE_LIVE_NATS_DECIDE, decide_cb);
  self->subs[2] = queue_subscribe (self, WE_LIVE_NATS_LIFECYCLE, lifecycle_cb);
  self->subs[3] = subscribe (self, WE_LIVE_NATS_KERNEL "*", kernel_cb);
  self->connected_at = g_get_monotonic_time ();
  self->tick_id = g_timeout_add (KERNEL_BEAT_MS, tick_cb, self);
  tick_cb (self);
  g_message ("live: listening for live workers over NATS");
}

static void
connect_now (WeLiveNats *self)
{
  g_autoptr(GTask) task = g_task_new (self, self->cancellable, connected_cb, NULL);

  g_task_run_in_thread (task, connect_thread);
}

void
we_live_nats_start (WeLiveNats *self)
{
  g_return_if_fail (WE_IS_LIVE_NATS (self));
  connect_now (self);
}

void
we_live_nats_stop (WeLiveNats *self)
{
  if (self->stopped)
    return;
  self->stopped = TRUE;
  g_cancellable_cancel (self->cancellable);
  g_clear_handle_id (&self->retry_id, g_source_remove);
  g_clear_handle_id (&self->tick_id, g_source_remove);
  for (guint i = 0; i < G_N_ELEMENTS (self->subs); i++) {
    if (self->subs[i] != NULL)
      we_nats_unsubscribe (self->subs[i]);
    self->subs[i] = NULL;
  }
  if (self->nc != NULL) {
    natsConnection_FlushTimeout (self->nc, 500);
    natsConnection_Close (self->nc);
    natsConnection_Destroy (self->nc);
    self->nc = NULL;
  }
  g_clear_pointer (&self->bridge, we_nats_bridge_unref);
}

gboolean
we_live_nats_send (WeLiveNats *self, JsonObject *msg)
{
  const gchar *type = we_worker_msg_type (msg);
  const gchar *stream_id = we_json_get_string (msg, "stream_id");
  Held *h;

  if (self->nc == NULL)
    return FALSE;
  if (g_strcmp0 (type, "publish_decision") == 0) {
    gint64 id = json_object_get_int_member_with_default (msg, "id", 0);
    const gchar *reply = g_hash_table_lookup (self->replies, &id);

    if (reply == NULL)
      return FALSE;
    reply_json (self, reply, msg);
    g_hash_table_remove (self->replies, &id);
    return TRUE;
  }
  if (g_strcmp0 (type, "configure") == 0 || g_strcmp0 (type, "shutdown") == 0)
    return FALSE; /* a cluster's live workers configure and stop themselves */
  h = stream_id != NULL ? g_hash_table_lookup (self->streams, stream_id) : NULL;
  if (h == NULL || h->worker_id == NULL)
    return FALSE;
  return publish (self->nc, WE_LIVE_NATS_CONTROL, h->worker_id, msg);
}

gboolean
we_live_nats_has_worker (WeLiveNats *self)
{
  GHashTableIter iter;
  gpointer value;
  gint64 now = g_get_monotonic_time ();

  g_hash_table_iter_init (&iter, self->workers);
  while (g_hash_table_iter_next (&iter, NULL, &value)) {
    if (alive (self, ((LiveWorkerInfo *) value)->last_seen, now))
      return TRUE;
  }
  return FALSE;
}

guint
we_live_nats_get_port (WeLiveNats *self, const gchar *protocol)
{
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, self->workers);
  while (g_hash_table_iter_next (&iter, NULL, &value)) {
    LiveWorkerInfo *info = value;

    if (g_strcmp0 (protocol, "rtmp") == 0 && info->rtmp_port != 0)
      return info->rtmp_port;
    if (g_strcmp0 (protocol, "srt") == 0 && info->srt_port != 0)
      return info->srt_port;
  }
  return 0;
}
