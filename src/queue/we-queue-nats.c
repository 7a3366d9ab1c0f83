/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "we-queue-nats.h"

#include <signal.h>
#include <string.h>
#include <webencode/we-error.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "common/we-json.h"
#include "common/we-job.h"
#include "common/we-log.h"
#include "common/we-worker-protocol.h"
#include "we-nats.h"

#define WE_QUEUE_NATS_DEFAULT_ACK_WAIT_S   30
#define WE_QUEUE_NATS_DEFAULT_HEARTBEAT_MS 2000
#define WE_QUEUE_NATS_DEFAULT_MAX_DELIVER  20
/* A claim refused because of avoid_worker is retried by the worker with a
 * delay; after this many refusals the avoided worker gets it after all,
 * since a task running on a suspect worker beats a task that never runs. */
#define WE_QUEUE_NATS_MAX_AVOID_REFUSALS   3
/* How long ids of finished tasks are kept to answer late reports: longer
 * than a worker retries a final report. */
#define WE_QUEUE_NATS_FINISHED_KEEP_US     (15 * 60 * G_TIME_SPAN_SECOND)
#define WE_QUEUE_NATS_REMOVED_KEEP_US      (10 * 60 * G_TIME_SPAN_SECOND)
#define WE_QUEUE_NATS_PUBLISH_TRIES        5
#define WE_QUEUE_NATS_LOCAL_BACKOFF_MIN_MS 500
#define WE_QUEUE_NATS_LOCAL_BACKOFF_MAX_MS 30000

/* ---- state ------------------------------------------------------------- */

typedef struct {
  gchar      *id;
  gchar      *hostname;
  gchar      *ip_address;
  gchar      *version;
  gchar      *started_at;
  gint64      pid;
  JsonObject *capabilities;
  JsonObject *resources;         /* the host's load from the last heartbeat, nullable */
  guint       slots_total;
  guint       slots_free;
  gboolean    reported_draining;
  gboolean    drain_wanted_set;  /* the kernel asked for drain/undrain */
  gboolean    drain_wanted;
  GHashTable *reported;          /* task id → attempt, from the last heartbeat */
  GHashTable *claiming;          /* task ids it asks for right now (not yet its own) */
  gint64      seen_us;           /* monotonic time of the last heartbeat */
  gint64      seen_real_us;
  gboolean    online;
  guint       restarts;          /* new incarnations this kernel saw come in */
} NatsWorker;

typedef struct {
  gchar   *id;
  gchar   *job_id;
  gchar   *route;
  gchar   *codec;            /* NULL: any worker will do */
  gboolean hw;
  gint64   attempt;
  gchar   *holder;           /* the worker whose claim was granted; nullable */
  gint64   granted_us;
  gchar   *avoid;
  guint    avoid_refusals;
  gboolean cancel_requested;
  gint64   orphaned_since_us;
  gint64   starved_since_us;  /* unclaimed while a capable worker had a free slot */
} NatsTask;

typedef struct {
  gint64  attempt;
  gchar  *holder;
  gint64  finished_us;
} NatsFinished;

typedef struct {
  gchar  *pid_or_start;  /* what identifies the removed process */
  gint64  removed_us;
} NatsRemoved;

typedef struct _LocalChild LocalChild;

/* Shared between the queue (main thread) and its NATS thread. */
typedef struct {
  gatomicrefcount ref;
  gchar          *url;
  guint           ack_wait_s;
  guint           max_deliver;
  GAsyncQueue    *ops;
  WeNatsBridge   *bridge;
  gint            quit;      /* atomic */
} NatsCore;

typedef enum {
  NATS_OP_PUBLISH,
  NATS_OP_ENSURE_ROUTES,
  NATS_OP_QUIT,
} NatsOpKind;

typedef struct {
  NatsOpKind kind;
  GPtrArray *routes;     /* NATS_OP_ENSURE_ROUTES */
  gchar     *route;
  gchar     *task_id;
  gint64     attempt;
  GBytes    *payload;
} NatsOp;

struct _WeQueueNats {
  GObject             parent_instance;

  gchar              *url;
  guint               ack_wait_s;
  guint               heartbeat_ms;
  guint               offline_ms;
  guint               max_deliver;
  gchar              *kernel_id;

  NatsCore           *core;
  GThread            *thread;
  WeNatsBridge       *bridge;
  natsConnection     *nc;        /* owned by the NATS thread */
  GPtrArray          *subs;      /* (element-type natsSubscription) */

  gboolean            started;
  gboolean            stopping;
  gboolean            ready;     /* connected and subscribed */
  gint64              warm_us;   /* claims wait until every live worker was heard */
  GPtrArray          *deferred_claims; /* (element-type WeNatsMsg) */
  guint               warm_id;
  guint               tick_id;
  guint               cancelled_idle_id;
  GPtrArray          *cancelled; /* task ids cancelled before any claim */

  GHashTable         *workers;   /* id → NatsWorker */
  GHashTable         *tasks;     /* id → NatsTask: dispatched here, not finished */
  GHashTable         *finished;  /* id → NatsFinished */
  GHashTable         *removed;   /* worker id → NatsRemoved */

  GStrv               local_argv;
  GStrv               local_envp;
  guint               local_count;
  GPtrArray          *local;     /* (element-type LocalChild) */
};

struct _LocalChild {
  WeQueueNats  *queue;   /* not owned */
  gchar        *id;
  GSubprocess  *proc;
  GCancellable *cancellable;
  guint         respawn_id;
  guint         backoff_ms;
  gint64        started_us;
  gboolean      removed;
};

static void we_queue_nats_iface_init (WeQueueInterface *iface);

G_DEFINE_TYPE_WITH_CODE (WeQueueNats, we_queue_nats, G_TYPE_OBJECT,
                         G_IMPLEMENT_INTERFACE (WE_TYPE_QUEUE, we_queue_nats_iface_init))

static void local_child_spawn (LocalChild *child);

/* ---- JSON ------------------------------------------------------------- */

/* Heartbeats are parsed immutable; callers of list_workers() may edit what
 * they get, so they get their own copy. */
static JsonObject *
json_object_deep_copy (JsonObject *obj)
{
  g_autoptr(JsonNode) node = json_node_init_object (json_node_alloc (), obj);
  g_autofree gchar *text = json_to_string (node, FALSE);
  g_autoptr(JsonParser) parser = json_parser_new ();

  if (!json_parser_load_from_data (parser, text, -1, NULL) ||
      !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    return json_object_new ();
  return json_object_ref (json_node_get_object (json_parser_get_root (parser)));
}

/* ---- records ------------------------------------------------------------ */

static void
nats_worker_free (NatsWorker *w)
{
  g_free (w->id);
  g_free (w->hostname);
  g_free (w->ip_address);
  g_free (w->version);
  g_free (w->started_at);
  g_clear_pointer (&w->capabilities, json_object_unref);
  g_clear_pointer (&w->resources, json_object_unref);
  g_hash_table_unref (w->reported);
  g_hash_table_unref (w->claiming);
  g_free (w);
}

static void
nats_task_free (NatsTask *t)
{
  g_free (t->id);
  g_free (t->job_id);
  g_free (t->route);
  g_free (t->codec);
  g_free (t->holder);
  g_free (t->avoid);
  g_free (t);
}

static void
nats_finished_free (NatsFinished *f)
{
  g_free (f->holder);
  g_free (f);
}

static void
nats_removed_free (NatsRemoved *r)
{
  g_free (r->pid_or_start);
  g_free (r);
}

static void
nats_op_free (NatsOp *op)
{
  g_clear_pointer (&op->routes, g_ptr_array_unref);
  g_free (op->route);
  g_free (op->task_id);
  g_clear_pointer (&op->payload, g_bytes_unref);
  g_free (op);
}

static NatsCore *
nats_core_ref (NatsCore *core)
{
  g_atomic_ref_count_inc (&core->ref);
  return core;
}

static void
nats_core_unref (NatsCore *core)
{
  if (!g_atomic_ref_count_dec (&core->ref))
    return;
  g_free (core->url);
  g_async_queue_unref (core->ops);
  we_nats_bridge_unref (core->bridge);
  g_free (core);
}

/* ---- capabilities ------------------------------------------------------- */

static gboolean
worker_has_codec (NatsWorker *w, const gchar *codec, gboolean hw)
{
  JsonArray *list;

  if (codec == NULL)
    return TRUE;
  if (hw) {
    list = we_json_get_array (w->capabilities, "hw_encoders");
    for (guint i = 0; list != NULL && i < json_array_get_length (list); i++) {
      g_autofree gchar *c = we_nats_hw_encoder_codec (json_array_get_element (list, i));

      if (g_strcmp0 (c, codec) == 0)
        return TRUE;
    }
    return FALSE;
  }
  list = we_json_get_array (w->capabilities, "video_codecs");
  for (guint i = 0; list != NULL && i < json_array_get_length (list); i++) {
    JsonNode *node = json_array_get_element (list, i);

    if (JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING &&
        g_ascii_strcasecmp (json_node_get_string (node), codec) == 0)
      return TRUE;
  }
  return FALSE;
}

static gboolean
worker_is_draining (NatsWorker *w)
{
  /* what the kernel asked for wins until the worker's heartbeat confirms it */
  return w->drain_wanted_set ? w->drain_wanted : w->reported_draining;
}

static guint
worker_held (WeQueueNats *self, NatsWorker *w)
{
  GHashTableIter iter;
  gpointer value;
  guint n = 0;

  g_hash_table_iter_init (&iter, self->tasks);
  while (g_hash_table_iter_next (&iter, NULL, &value)) {
    NatsTask *t = value;

    if (g_strcmp0 (t->holder, w->id) == 0)
      n++;
  }
  return n;
}

/* Slots as the worker last reported them, less what this kernel granted it
 * since: a grant must not look like a free slot until the next heartbeat. */
static guint
worker_free (WeQueueNats *self, NatsWorker *w)
{
  guint held = worker_held (self, w);
  guint by_grants = w->slots_total > held ? w->slots_total - held : 0;

  return MIN (w->slots_free, by_grants);
}

static gboolean
worker_can_take (WeQueueNats *self, NatsWorker *w, const gchar *codec, gboolean hw)
{
  return w->online && !worker_is_draining (w) && worker_has_codec (w, codec, hw);
}

static gboolean
any_worker_can_take (WeQueueNats *self, const gchar *codec, gboolean hw, const gchar *except,
                     gboolean need_free)
{
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, self->workers);
  while (g_hash_table_iter_next (&iter, NULL, &value)) {
    NatsWorker *w = value;

    if (g_strcmp0 (w->id, except) == 0 || !worker_can_take (self, w, codec, hw))
      continue;
    if (!need_free || worker_free (self, w) > 0)
      return TRUE;
  }
  return FALSE;
}

static guint
unclaimed_count (WeQueueNats *self)
{
  GHashTableIter iter;
  gpointer value;
  guint n = 0;

  g_hash_table_iter_init (&iter, self->tasks);
  while (g_hash_table_iter_next (&iter, NULL, &value)) {
    if (((NatsTask *) value)->holder == NULL)
      n++;
  }
  return n;
}

/* ---- publishing from the main thread ----------------------------------- */

static void
publish (WeQueueNats *self, const gchar *subject, const gchar *reply, JsonObject *obj)
{
  g_autoptr(GError) error = NULL;

  if (self->nc == NULL)
    return;
  if (!we_nats_publish_json (self->nc, subject, reply, obj, &error))
    we_log (G_LOG_LEVEL_WARNING, NULL, we_error_code_to_string (WE_ERROR_SYS_QUEUE), "%s",
            error->message);
}

static void
send_control (WeQueueNats *self, const gchar *worker_id, const gchar *type, const gchar *task_id)
{
  g_autoptr(JsonObject) msg = json_object_new ();
  g_autofree gchar *token = we_nats_token (worker_id);
  g_autofree gchar *subject = g_strconcat (WE_NATS_CONTROL_PREFIX, token, NULL);

  json_object_set_string_member (msg, "type", type);
  if (task_id != NULL)
    json_object_set_string_member (msg, "task_id", task_id);
  publish (self, subject, NULL, msg);
}

/* spec §5.3: worker joined, offline, removed land in WEBENCODE_EVENTS */
static void
send_audit (WeQueueNats *self, const gchar *type, NatsWorker *w, const gchar *reason)
{
  g_autoptr(JsonObject) msg = json_object_new ();
  g_autoptr(GDateTime) now = g_date_time_new_now_utc ();
  g_autofree gchar *at = g_date_time_format_iso8601 (now);

  json_object_set_string_member (msg, "type", type);
  json_object_set_string_member (msg, "worker_id", w->id);
  if (w->hostname != NULL)
    json_object_set_string_member (msg, "hostname", w->hostname);
  if (reason != NULL)
    json_object_set_string_member (msg, "reason", reason);
  if (self->kernel_id != NULL)
    json_object_set_string_member (msg, "kernel_id", self->kernel_id);
  json_object_set_string_member (msg, "at", at);
  publish (self, WE_NATS_AUDIT_SYSTEM, NULL, msg);
}

static void
we_queue_nats_publish_audit (WeQueue *queue, JsonObject *entry)
{
  WeQueueNats *self = WE_QUEUE_NATS (queue);

  /* the store keeps the record; this copy is for whoever follows the stream */
  if (self->ready)
    publish (self, WE_NATS_AUDIT_USER, NULL, entry);
}

static void
reply_json (WeQueueNats *self, const gchar *reply, const gchar *member, gboolean value,
            const gchar *reason, gboolean retry)
{
  g_autoptr(JsonObject) msg = json_object_new ();

  if (reply == NULL)
    return;
  json_object_set_boolean_member (msg, member, value);
  if (retry)
    json_object_set_boolean_member (msg, "retry", TRUE);
  if (reason != NULL)
    json_object_set_string_member (msg, "reason", reason);
  publish (self, reply, NULL, msg);
}

/* ---- finishing tasks ---------------------------------------------------- */

/* Moves @t out of the running table; the caller emits what happened. */
static void
task_finish (WeQueueNats *self, NatsTask *t)
{
  NatsFinished *f = g_new0 (NatsFinished, 1);

  f->attempt = t->attempt;
  f->holder = g_strdup (t->holder);
  f->finished_us = g_get_monotonic_time ();
  g_hash_table_replace (self->finished, g_strdup (t->id), f);
  g_hash_table_remove (self->tasks, t->id);
}

static void
task_fail (WeQueueNats *self, NatsTask *t, WeErrorCode code, const gchar *message)
{
  g_autoptr(JsonObject) msg = json_object_new ();
  g_autoptr(WeQueueNats) keep = g_object_ref (self);
  g_autofree gchar *task_id = g_strdup (t->id);

  if (t->cancel_requested) {
    /* it was going away anyway: what the caller asked for happened */
    json_object_set_string_member (msg, "type", "cancelled");
    json_object_set_string_member (msg, "task_id", task_id);
  } else {
    we_log (G_LOG_LEVEL_WARNING, task_id, we_error_code_to_string (code), "task %s: %s",
            task_id, message);
    json_object_set_string_member (msg, "type", "failed");
    json_object_set_string_member (msg, "task_id", task_id);
    json_object_set_string_member (msg, "code", we_error_code_to_string (code));
    json_object_set_string_member (msg, "message", message);
    json_object_set_boolean_member (msg, "retryable", TRUE);
  }
  task_finish (self, t);
  we_queue_emit_task_event (WE_QUEUE (self), task_id, msg);
}

/* Ids, not pointers: a task-event handler may finish or cancel other
 * tasks while the caller walks the list. */
static GPtrArray *
tasks_held_by (WeQueueNats *self, const gchar *worker_id)
{
  GPtrArray *ids = g_ptr_array_new_with_free_func (g_free);
  GHashTableIter iter;
  gpointer key, value;

  g_hash_table_iter_init (&iter, self->tasks);
  while (g_hash_table_iter_next (&iter, &key, &value)) {
    if (g_strcmp0 (((NatsTask *) value)->holder, worker_id) == 0)
      g_ptr_array_add (ids, g_strdup (key));
  }
  return ids;
}

static void
worker_set_offline (WeQueueNats *self, NatsWorker *w, const gchar *reason, gboolean clean)
{
  g_autoptr(GPtrArray) held = NULL;
  g_autofree gchar *worker_id = g_strdup (w->id);

  if (!w->online)
    return;
  w->online = FALSE;
  if (clean)
    we_log (G_LOG_LEVEL_INFO, NULL, NULL, "worker %s left (%s)", w->id, reason);
  else
    we_log (G_LOG_LEVEL_WARNING, NULL, we_error_code_to_string (WE_ERROR_WRK_OFFLINE),
            "worker %s is offline (%s)", w->id, reason);
  send_audit (self, "worker.offline", w, reason);

  /* like a dead local child: each of its tasks fails retryably, and the
   * retry avoids this worker */
  held = tasks_held_by (self, worker_id);
  for (guint i = 0; i < held->len; i++) {
    NatsTask *t = g_hash_table_lookup (self->tasks, g_ptr_array_index (held, i));
    g_autofree gchar *message = NULL;

    if (t == NULL || g_strcmp0 (t->holder, worker_id) != 0)
      continue;
    message = g_strdup_printf ("worker %s went offline (%s) while running it", worker_id,
                               reason);
    task_fail (self, t, WE_ERROR_WRK_COMMUNICATION, message);
  }
  we_queue_emit_slots_changed (WE_QUEUE (self));
}

/* ---- the NATS thread ----------------------------------------------------- */

typedef struct {
  natsConnection *nc;
} NatsConnected;

typedef struct {
  gchar  *task_id;
  gint64  attempt;
  gchar  *message;
} NatsPublishFailed;

static void
nats_publish_failed_free (NatsPublishFailed *pf)
{
  g_free (pf->task_id);
  g_free (pf->message);
  g_free (pf);
}

static gboolean
core_sleep (NatsCore *core, guint ms)
{
  /* short naps, so a stop never waits on a back-off */
  for (guint slept = 0; slept < ms; slept += 50) {
    if (g_atomic_int_get (&core->quit))
      return FALSE;
    g_usleep (50 * G_TIME_SPAN_MILLISECOND);
  }
  return !g_atomic_int_get (&core->quit);
}

static gboolean
ensure_stream (jsCtx *js, const gchar *name, const gchar *subject, jsRetentionPolicy retention,
               jsStorageType storage, gint64 max_age_s, GError **error)
{
  jsStreamConfig cfg;
  jsStreamInfo *si = NULL;
  jsErrCode jerr = 0;
  const char *subjects[] = { subject };
  natsStatus s;

  jsStreamConfig_Init (&cfg);
  cfg.Name = name;
  cfg.Subjects = subjects;
  cfg.SubjectsLen = 1;
  cfg.Retention = retention;
  cfg.Storage = storage;
  cfg.MaxAge = max_age_s * G_GINT64_CONSTANT (1000000000);
  cfg.Replicas = 1;
  s = js_AddStream (&si, js, &cfg, NULL, &jerr);
  if (s != NATS_OK && jerr == JSStreamNameExistErr) {
    /* created by an older version or by hand: bring it to what we expect */
    s = js_UpdateStream (&si, js, &cfg, NULL, &jerr);
  }
  jsStreamInfo_Destroy (si);
  if (s != NATS_OK) {
    g_autofree gchar *what = g_strdup_printf ("creating stream %s", name);
    return we_nats_set_error (error, s, what);
  }
  return TRUE;
}

static gboolean
ensure_streams (jsCtx *js, GError **error)
{
  return ensure_stream (js, WE_NATS_STREAM_WORK, WE_NATS_DISPATCH_PREFIX ">",
                        js_WorkQueuePolicy, js_FileStorage, 24 * 3600, error) &&
         ensure_stream (js, WE_NATS_STREAM_EVENTS, "audit.>", js_LimitsPolicy, js_FileStorage,
                        90 * 24 * 3600, error) &&
         ensure_stream (js, WE_NATS_STREAM_LIVE, "live.>", js_LimitsPolicy, js_MemoryStorage, 10,
                        error);
}

static gchar *
consumer_name (const gchar *route)
{
  gchar *name = g_strconcat ("work-", route, NULL);

  /* durable names cannot contain '.' */
  g_strdelimit (name, ".", '-');
  return name;
}

static gboolean
ensure_consumer (NatsCore *core, jsCtx *js, const gchar *route, GError **error)
{
  g_autofree gchar *name = consumer_name (route);
  g_autofree gchar *subject = g_strconcat (WE_NATS_DISPATCH_PREFIX, route, NULL);
  jsConsumerConfig cfg;
  jsConsumerInfo *ci = NULL;
  jsErrCode jerr = 0;
  natsStatus s;

  jsConsumerConfig_Init (&cfg);
  cfg.Durable = name;
  cfg.FilterSubject = subject;
  cfg.AckPolicy = js_AckExplicit;
  cfg.AckWait = (gint64) core->ack_wait_s * G_GINT64_CONSTANT (1000000000);
  cfg.MaxDeliver = core->max_deliver;
  cfg.DeliverPolicy = js_DeliverAll;
  s = js_AddConsumer (&ci, js, WE_NATS_STREAM_WORK, &cfg, NULL, &jerr);
  if (s != NATS_OK)
    s = js_UpdateConsumer (&ci, js, WE_NATS_STREAM_WORK, &cfg, NULL, &jerr);
  jsConsumerInfo_Destroy (ci);
  if (s != NATS_OK) {
    g_autofree gchar *what = g_strdup_printf ("creating consumer %s", name);
    return we_nats_set_error (error, s, what);
  }
  return TRUE;
}

static void on_connected (GObject *target, gpointer data);
static void on_publish_failed (GObject *target, gpointer data);

static void
core_publish (NatsCore *core, jsCtx *js, GHashTable *consumers, NatsOp *op)
{
  g_autofree gchar *subject = g_strconcat (WE_NATS_DISPATCH_PREFIX, op->route, NULL);
  g_autoptr(GError) error = NULL;
  gsize size = 0;
  gconstpointer data = g_bytes_get_data (op->payload, &size);

  for (guint attempt = 1; attempt <= WE_QUEUE_NATS_PUBLISH_TRIES; attempt++) {
    jsPubAck *pa = NULL;
    jsErrCode jerr = 0;
    natsStatus s;

    g_clear_error (&error);
    if (!g_hash_table_contains (consumers, op->route)) {
      if (ensure_consumer (core, js, op->route, &error))
        g_hash_table_add (consumers, g_strdup (op->route));
    }
    if (error == NULL) {
      s = js_Publish (&pa, js, subject, data, (int) size, NULL, &jerr);
      jsPubAck_Destroy (pa);
      if (s == NATS_OK)
        return;
      we_nats_set_error (&error, s, "publishing a task");
      /* the consumer may have been deleted behind our back */
      g_hash_table_remove (consumers, op->route);
    }
    if (!core_sleep (core, 500 * attempt))
      return;
  }
  {
    NatsPublishFailed *pf = g_new0 (NatsPublishFailed, 1);

    pf->task_id = g_strdup (op->task_id);
    pf->attempt = op->attempt;
    pf->message = g_strdup (error->message);
    we_nats_bridge_call (core->bridge, on_publish_failed, pf,
                         (GDestroyNotify) nats_publish_failed_free);
  }
}

/* A joining worker's routes get their consumers at once, so it can bind
 * before the first task for them is dispatched. */
static void
core_ensure_routes (NatsCore *core, jsCtx *js, GHashTable *consumers, GPtrArray *routes)
{
  for (guint i = 0; i < routes->len; i++) {
    const gchar *route = g_ptr_array_index (routes, i);
    g_autoptr(GError) error = NULL;

    if (g_hash_table_contains (consumers, route))
      continue;
    if (ensure_consumer (core, js, route, &error))
      g_hash_table_add (consumers, g_strdup (route));
    else
      g_debug ("%s (retried at the first dispatch)", error->message);
  }
}

static gpointer
core_thread (gpointer data)
{
  NatsCore *core = data;
  g_autofree gchar *safe_url = we_nats_redact_url (core->url);
  g_autoptr(GHashTable) consumers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                                           NULL);
  natsConnection *nc = NULL;
  jsCtx *js = NULL;
  guint backoff = 500;
  guint failures = 0;

  while (!g_atomic_int_get (&core->quit)) {
    g_autoptr(GError) error = NULL;

    if (nc == NULL)
      nc = we_nats_connect (core->url, "webencoded", &error);
    if (nc != NULL && js == NULL) {
      natsStatus s = natsConnection_JetStream (&js, nc, NULL);
      if (s != NATS_OK)
        we_nats_set_error (&error, s, "opening JetStream");
    }
    if (js != NULL && ensure_streams (js, &error))
      break;
    /* log the first failure and then now and then, not every second */
    if (failures++ % 30 == 0)
      we_log (G_LOG_LEVEL_WARNING, NULL, we_error_code_to_string (WE_ERROR_SYS_QUEUE),
              "NATS at %s is not usable yet, retrying: %s", safe_url, error->message);
    if (!core_sleep (core, backoff))
      break;
    backoff = MIN (backoff * 2, 5000);
  }
  if (!g_atomic_int_get (&core->quit)) {
    NatsConnected *c = g_new0 (NatsConnected, 1);

    c->nc = nc;
    we_nats_bridge_call (core->bridge, on_connected, c, g_free);
    for (;;) {
      NatsOp *op = g_async_queue_pop (core->ops);
      gboolean quit = op->kind == NATS_OP_QUIT;

      if (op->kind == NATS_OP_PUBLISH && !g_atomic_int_get (&core->quit))
        core_publish (core, js, consumers, op);
      if (op->kind == NATS_OP_ENSURE_ROUTES && !g_atomic_int_get (&core->quit))
        core_ensure_routes (core, js, consumers, op->routes);
      nats_op_free (op);
      if (quit)
        break;
    }
  }
  if (js != NULL)
    jsCtx_Destroy (js);
  if (nc != NULL) {
    /* the last replies and acks must leave before the socket closes */
    natsConnection_FlushTimeout (nc, 1000);
    natsConnection_Close (nc);
    natsConnection_Destroy (nc);
  }
  nats_core_unref (core);
  return NULL;
}

/* ---- claims ------------------------------------------------------------- */

/* Another live worker that says (in its heartbeat) it has @t: the holder
 * from before a kernel restart, or one whose grant got lost. */
static NatsWorker *
find_reporting_worker (WeQueueNats *self, NatsTask *t, const gchar *except)
{
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, self->workers);
  while (g_hash_table_iter_next (&iter, NULL, &value)) {
    NatsWorker *w = value;
    gpointer attempt;

    if (!w->online || g_strcmp0 (w->id, except) == 0)
      continue;
    if (g_hash_table_lookup_extended (w->reported, t->id, NULL, &attempt) &&
        (GPOINTER_TO_INT (attempt) == 0 || GPOINTER_TO_INT (attempt) == t->attempt))
      return w;
  }
  return NULL;
}

/* Tells the scheduler who holds the task, so the store names the worker of
 * every attempt (an operator looking at a task, the retry that avoids it). */
static void
emit_holder (WeQueueNats *self, NatsTask *t)
{
  g_autoptr(JsonObject) msg = json_object_new ();

  json_object_set_string_member (msg, "type", "claimed");
  json_object_set_string_member (msg, "task_id", t->id);
  json_object_set_string_member (msg, "worker_id", t->holder);
  json_object_set_int_member (msg, "attempt", t->attempt);
  we_queue_emit_task_event (WE_QUEUE (self), t->id, msg);
}

static void
task_adopt (WeQueueNats *self, NatsTask *t, const gchar *worker_id, const gchar *why)
{
  g_free (t->holder);
  t->holder = g_strdup (worker_id);
  t->granted_us = g_get_monotonic_time ();
  emit_holder (self, t);
  we_log (G_LOG_LEVEL_INFO, t->id, NULL, "task %s is held by worker %s (%s)", t->id, worker_id,
          why);
  if (t->cancel_requested)
    send_control (self, worker_id, "cancel", t->id);
}

static NatsWorker *
worker_lookup_or_add (WeQueueNats *self, const gchar *worker_id)
{
  NatsWorker *w = g_hash_table_lookup (self->workers, worker_id);

  if (w == NULL) {
    w = g_new0 (NatsWorker, 1);
    w->id = g_strdup (worker_id);
    w->reported = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
    w->claiming = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
    g_hash_table_insert (self->workers, g_strdup (worker_id), w);
  }
  return w;
}

static void
handle_claim_now (WeQueueNats *self, WeNatsMsg *msg, JsonObject *claim)
{
  const gchar *task_id = we_json_get_string (claim, "task_id");
  const gchar *worker_id = we_json_get_string (claim, "worker_id");
  gint64 attempt = we_json_get_int (claim, "attempt", -1);
  NatsTask *t = task_id != NULL ? g_hash_table_lookup (self->tasks, task_id) : NULL;
  NatsWorker *w, *other;

  if (t == NULL) {
    /* a replica answers only for what it dispatched; for a task it knew,
     * a refusal spares the worker a wait */
    if (task_id != NULL && g_hash_table_contains (self->finished, task_id))
      reply_json (self, msg->reply, "granted", FALSE, "the task is finished", FALSE);
    return;
  }
  if (worker_id == NULL || *worker_id == '\0') {
    reply_json (self, msg->reply, "granted", FALSE, "no worker_id", FALSE);
    return;
  }
  if (attempt != t->attempt) {
    reply_json (self, msg->reply, "granted", FALSE, "not the current attempt", FALSE);
    return;
  }
  if (t->cancel_requested) {
    reply_json (self, msg->reply, "granted", FALSE, "the task is being cancelled", FALSE);
    return;
  }
  if (t->holder != NULL && g_strcmp0 (t->holder, worker_id) == 0) {
    /* we took it for this worker's (from a report or heartbeat), and it
     * asks: a worker never claims what it already runs, so this is a new
     * process under the same id, or our grant got lost */
    t->granted_us = g_get_monotonic_time ();
    reply_json (self, msg->reply, "granted", TRUE, NULL, FALSE);
    return;
  }
  if (t->holder != NULL) {
    reply_json (self, msg->reply, "granted", FALSE, "another worker holds the task", FALSE);
    return;
  }
  other = find_reporting_worker (self, t, worker_id);
  if (other != NULL) {
    task_adopt (self, t, other->id, "it reports the task as its own");
    reply_json (self, msg->reply, "granted", FALSE, "another worker holds the task", FALSE);
    return;
  }
  w = g_hash_table_lookup (self->workers, worker_id);
  if (w != NULL && w->online && worker_is_draining (w)) {
    reply_json (self, msg->reply, "granted", FALSE, "the worker is draining", TRUE);
    return;
  }
  if (g_strcmp0 (t->avoid, worker_id) == 0 &&
      t->avoid_refusals < WE_QUEUE_NATS_MAX_AVOID_REFUSALS &&
      any_worker_can_take (self, t->codec, t->hw, worker_id, TRUE)) {
    t->avoid_refusals++;
    reply_json (self, msg->reply, "granted", FALSE, "the retry should run elsewhere", TRUE);
    return;
  }

  if (w == NULL || !w->online) {
    /* a worker that claims before its first heartbeat reached us (or after
     * we gave up on it) is alive after all; it goes offline like any other
     * when no heartbeat follows */
    w = worker_lookup_or_add (self, worker_id);
    w->seen_us = g_get_monotonic_time ();
    w->online = TRUE;
  }
  g_free (t->holder);
  t->holder = g_strdup (worker_id);
  t->granted_us = g_get_monotonic_time ();
  t->orphaned_since_us = 0;
  reply_json (self, msg->reply, "granted", TRUE, NULL, FALSE);
  we_log (G_LOG_LEVEL_INFO, t->id, NULL, "task %s (attempt %" G_GINT64_FORMAT ") claimed by %s",
          t->id, t->attempt, worker_id);
  emit_holder (self, t);
}

static void
handle_claim (WeQueueNats *self, WeNatsMsg *msg)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) claim = NULL;

  if (!self->ready || msg->reply == NULL)
    return;
  claim = we_nats_msg_parse (msg, &error);
  if (claim == NULL) {
    g_debug ("ignoring claim: %s", error->message);
    return;
  }
  handle_claim_now (self, msg, claim);
}

static void
on_claim (GObject *target, WeNatsMsg *msg)
{
  WeQueueNats *self = WE_QUEUE_NATS (target);

  /* right after a (re)start this kernel has not heard every live worker's
   * heartbeat yet, so it cannot tell who already holds a task: answer when
   * it has (the worker waits longer than that) */
  if (self->ready && g_get_monotonic_time () < self->warm_us) {
    WeNatsMsg *copy = g_new0 (WeNatsMsg, 1);

    copy->subject = g_strdup (msg->subject);
    copy->reply = g_strdup (msg->reply);
    copy->data = g_bytes_ref (msg->data);
    g_ptr_array_add (self->deferred_claims, copy);
    return;
  }
  handle_claim (self, msg);
}

static gboolean
warm_cb (gpointer user_data)
{
  WeQueueNats *self = user_data;
  g_autoptr(GPtrArray) claims = g_steal_pointer (&self->deferred_claims);

  self->warm_id = 0;
  self->deferred_claims = g_ptr_array_new_with_free_func ((GDestroyNotify) we_nats_msg_free);
  for (guint i = 0; i < claims->len; i++)
    handle_claim (self, g_ptr_array_index (claims, i));
  return G_SOURCE_REMOVE;
}

/* ---- reports ------------------------------------------------------------- */

static void
on_event (GObject *target, WeNatsMsg *msg)
{
  WeQueueNats *self = WE_QUEUE_NATS (target);
  g_autoptr(WeQueueNats) keep = g_object_ref (self);
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) report = NULL;
  const gchar *type, *task_id, *worker_id;
  gboolean final;
  gint64 attempt;
  NatsTask *t;
  g_autofree gchar *id = NULL;

  if (!self->ready)
    return;
  report = we_nats_msg_parse (msg, &error);
  if (report == NULL) {
    g_debug ("ignoring report: %s", error->message);
    return;
  }
  type = we_json_get_string (report, "type");
  task_id = we_json_get_string (report, "task_id");
  worker_id = we_json_get_string (report, "worker_id");
  attempt = we_json_get_int (report, "attempt", -1);
  if (type == NULL || task_id == NULL || worker_id == NULL)
    return;
  /* pipeline and log: what the task ran, for introspection (issue 8) */
  if (g_strcmp0 (type, "probe") != 0 && g_strcmp0 (type, "progress") != 0 &&
      g_strcmp0 (type, "pipeline") != 0 && g_strcmp0 (type, "log") != 0 &&
      !we_worker_msg_type_is_final (type))
    return;
  final = we_worker_msg_type_is_final (type);

  t = g_hash_table_lookup (self->tasks, task_id);
  if (t == NULL) {
    /* done with it already (or it was never ours): a final report still
     * gets its ack from the kernel that knew the task, so the worker stops
     * retrying */
    if (final && g_hash_table_contains (self->finished, task_id))
      reply_json (self, msg->reply, "ack", TRUE, NULL, FALSE);
    return;
  }
  if (attempt != t->attempt) {
    if (final)
      reply_json (self, msg->reply, "ack", TRUE, "not the current attempt", FALSE);
    return;
  }
  if (t->holder == NULL) {
    /* granted by a kernel before us, or our grant's reply was lost: the
     * report is the proof of possession */
    task_adopt (self, t, worker_id, "it reports on the task");
  } else if (g_strcmp0 (t->holder, worker_id) != 0) {
    if (final)
      reply_json (self, msg->reply, "ack", TRUE, "another worker holds the task", FALSE);
    return;
  }
  if (!final) {
    we_queue_emit_task_event (WE_QUEUE (self), task_id, report);
    return;
  }

  /* free the slot before telling anyone, so a handler can dispatch into it:
   * the worker gives it back with this report, not at its next heartbeat */
  id = g_strdup (task_id);
  if (t->holder != NULL) {
    NatsWorker *w = g_hash_table_lookup (self->workers, t->holder);

    if (w != NULL && w->slots_free < w->slots_total)
      w->slots_free++;
  }
  task_finish (self, t);
  reply_json (self, msg->reply, "ack", TRUE, NULL, FALSE);
  we_queue_emit_task_event (WE_QUEUE (self), id, report);
  we_queue_emit_slots_changed (WE_QUEUE (self));
}

/* ---- heartbeats ---------------------------------------------------------- */

static gchar *
worker_incarnation (JsonObject *hb)
{
  return g_strdup_printf ("%" G_GINT64_FORMAT "/%s", we_json_get_int (hb, "pid", 0),
                          we_json_get_string (hb, "started_at") != NULL ? we_json_get_string (hb, "started_at") : "");
}

static void
set_string (gchar **field, const gchar *value)
{
  if (value != NULL && g_strcmp0 (*field, value) != 0) {
    g_free (*field);
    *field = g_strdup (value);
  }
}

/* A heartbeat's "resources" (docs/api.md "Workers"): only the figures the
 * API shows, numbers in their range; anything else is dropped. */
static JsonObject *
heartbeat_resources (JsonObject *in)
{
  static const gchar *const pcts[] = { "cpu_pct", "mem_pct", "disk_pct" };
  JsonObject *out;

  if (in == NULL)
    return NULL;
  out = json_object_new ();
  for (guint i = 0; i < G_N_ELEMENTS (pcts); i++) {
    JsonNode *n = json_object_get_member (in, pcts[i]);

    if (n != NULL && JSON_NODE_HOLDS_VALUE (n) &&
        (json_node_get_value_type (n) == G_TYPE_DOUBLE ||
         json_node_get_value_type (n) == G_TYPE_INT64))
      json_object_set_double_member (out, pcts[i], CLAMP (json_node_get_double (n), 0, 100));
  }
  if (!json_object_has_member (out, "cpu_pct") || !json_object_has_member (out, "mem_pct")) {
    json_object_unref (out);
    return NULL;
  }
  return out;
}

static void
on_heartbeat (GObject *target, WeNatsMsg *msg)
{
  WeQueueNats *self = WE_QUEUE_NATS (target);
  g_autoptr(WeQueueNats) keep = g_object_ref (self);
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) hb = NULL;
  g_autoptr(GPtrArray) lost = NULL;
  g_autofree gchar *incarnation = NULL;
  const gchar *worker_id;
  JsonObject *caps;
  JsonArray *list;
  NatsWorker *w;
  NatsRemoved *removed;
  gboolean was_online, was_draining, changed = FALSE;
  guint old_free, old_total;
  gint64 now = g_get_monotonic_time ();
  GHashTableIter iter;
  gpointer value;

  if (!self->ready)
    return;
  hb = we_nats_msg_parse (msg, &error);
  if (hb == NULL) {
    g_debug ("ignoring heartbeat: %s", error->message);
    return;
  }
  worker_id = we_json_get_string (hb, "worker_id");
  if (worker_id == NULL || *worker_id == '\0' || strlen (worker_id) > 256)
    return;
  incarnation = worker_incarnation (hb);
  removed = g_hash_table_lookup (self->removed, worker_id);
  if (removed != NULL) {
    /* the removed process's last words; a restarted one is welcome */
    if (g_strcmp0 (removed->pid_or_start, incarnation) == 0)
      return;
    g_hash_table_remove (self->removed, worker_id);
  }

  w = worker_lookup_or_add (self, worker_id);
  was_online = w->online;
  was_draining = worker_is_draining (w);
  old_free = worker_free (self, w);
  old_total = w->slots_total;

  if (w->started_at != NULL &&
      (g_strcmp0 (w->started_at, we_json_get_string (hb, "started_at")) != 0 ||
       w->pid != we_json_get_int (hb, "pid", w->pid)))
    w->restarts++;
  set_string (&w->hostname, we_json_get_string (hb, "hostname"));
  set_string (&w->ip_address, we_json_get_string (hb, "ip_address"));
  set_string (&w->version, we_json_get_string (hb, "version"));
  set_string (&w->started_at, we_json_get_string (hb, "started_at"));
  w->pid = we_json_get_int (hb, "pid", w->pid);
  caps = we_json_get_object (hb, "capabilities");
  if (caps != NULL) {
    g_clear_pointer (&w->capabilities, json_object_unref);
    w->capabilities = json_object_ref (caps);
  }
  g_clear_pointer (&w->resources, json_object_unref);
  w->resources = heartbeat_resources (we_json_get_object (hb, "resources"));
  w->slots_total = (guint) CLAMP (we_json_get_int (hb, "slots_total", 1), 0, 1024);
  w->slots_free = (guint) CLAMP (we_json_get_int (hb, "slots_free", 0), 0, w->slots_total);
  w->reported_draining = we_json_get_bool (hb, "draining", FALSE);
  /* confirmed: from now on the worker's word counts, so a drain another
   * kernel asks for later is not fought by our older request */
  if (w->drain_wanted_set && w->reported_draining == w->drain_wanted)
    w->drain_wanted_set = FALSE;
  w->seen_us = now;
  w->seen_real_us = g_get_real_time ();

  g_hash_table_remove_all (w->reported);
  g_hash_table_remove_all (w->claiming);
  list = we_json_get_array (hb, "tasks");
  for (guint i = 0; list != NULL && i < json_array_get_length (list); i++) {
    JsonNode *node = json_array_get_element (list, i);
    JsonObject *entry = JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
    const gchar *id = we_json_get_string (entry, "task_id");

    if (id == NULL)
      continue;
    /* a task being claimed is not the worker's yet: it proves nothing */
    if (g_strcmp0 (we_json_get_string (entry, "state"), "claiming") == 0)
      g_hash_table_add (w->claiming, g_strdup (id));
    else
      g_hash_table_replace (w->reported, g_strdup (id),
                            GINT_TO_POINTER ((gint) we_json_get_int (entry, "attempt", 0)));
  }
  list = we_json_get_array (hb, "task_ids");
  for (guint i = 0; list != NULL && i < json_array_get_length (list); i++) {
    JsonNode *node = json_array_get_element (list, i);
    const gchar *id;

    if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
      continue;
    id = json_node_get_string (node);
    if (!g_hash_table_contains (w->reported, id) && !g_hash_table_contains (w->claiming, id))
      g_hash_table_insert (w->reported, g_strdup (id), GINT_TO_POINTER (0));
  }

  if (we_json_get_bool (hb, "leaving", FALSE)) {
    if (was_online)
      worker_set_offline (self, w, "it shut down", TRUE);
    return;
  }
  if (!was_online) {
    w->online = TRUE;
    we_log (G_LOG_LEVEL_INFO, NULL, NULL, "worker %s (%s, pid %" G_GINT64_FORMAT ") joined with "
            "%u slot(s)", w->id, w->hostname != NULL ? w->hostname : "?", w->pid,
            w->slots_total);
    send_audit (self, "worker.joined", w, NULL);
    changed = TRUE;
    if (self->core != NULL) {
      NatsOp *op = g_new0 (NatsOp, 1);

      op->kind = NATS_OP_ENSURE_ROUTES;
      op->routes = we_nats_routes_for_capabilities (w->capabilities);
      g_async_queue_push (self->core->ops, op);
    }
  }

  lost = g_ptr_array_new_with_free_func (g_free);
  g_hash_table_iter_init (&iter, self->tasks);
  while (g_hash_table_iter_next (&iter, NULL, &value)) {
    NatsTask *t = value;

    if (t->holder == NULL) {
      gpointer attempt;

      if (g_hash_table_lookup_extended (w->reported, t->id, NULL, &attempt) &&
          (GPOINTER_TO_INT (attempt) == 0 || GPOINTER_TO_INT (attempt) == t->attempt))
        task_adopt (self, t, w->id, "its heartbeat lists the task");
      continue;
    }
    if (g_strcmp0 (t->holder, w->id) != 0)
      continue;
    if (!g_hash_table_contains (w->reported, t->id) &&
        !g_hash_table_contains (w->claiming, t->id)) {
      /* a heartbeat sent well after the grant must list the task */
      if (now - t->granted_us > (gint64) (self->heartbeat_ms + 1000) * 1000)
        g_ptr_array_add (lost, g_strdup (t->id));
    } else if (t->cancel_requested) {
      /* control messages are fire-and-forget: repeat until it is done */
      send_control (self, w->id, "cancel", t->id);
    }
  }
  for (guint i = 0; i < lost->len; i++) {
    NatsTask *t = g_hash_table_lookup (self->tasks, g_ptr_array_index (lost, i));
    g_autofree gchar *message = NULL;

    if (t == NULL || g_strcmp0 (t->holder, worker_id) != 0)
      continue;
    message = g_strdup_printf ("worker %s no longer has the task", worker_id);
    task_fail (self, t, WE_ERROR_WRK_COMMUNICATION, message);
    changed = TRUE;
  }
  /* a handler may have removed the worker meanwhile */
  w = g_hash_table_lookup (self->workers, worker_id);
  if (w == NULL)
    return;

  if (w->drain_wanted_set && w->reported_draining != w->drain_wanted)
    send_control (self, w->id, w->drain_wanted ? "drain" : "undrain", NULL);

  if (changed || was_draining != worker_is_draining (w) || old_free != worker_free (self, w) ||
      old_total != w->slots_total)
    we_queue_emit_slots_changed (WE_QUEUE (self));
}

/* ---- periodic checks ---------------------------------------------------- */

static gboolean
tick_cb (gpointer user_data)
{
  WeQueueNats *self = user_data;
  g_autoptr(WeQueueNats) keep = g_object_ref (self);
  g_autoptr(GPtrArray) offline = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) orphans = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) undelivered = g_ptr_array_new_with_free_func (g_free);
  gint64 now = g_get_monotonic_time ();
  GHashTableIter iter;
  gpointer key, value;

  if (!self->ready)
    return G_SOURCE_CONTINUE;
  if (natsConnection_Status (self->nc) != NATS_CONN_STATUS_CONNECTED) {
    /* while we cannot hear anyone, silence says nothing about the workers:
     * judge them again from when we reconnect */
    g_hash_table_iter_init (&iter, self->workers);
    while (g_hash_table_iter_next (&iter, NULL, &value))
      ((NatsWorker *) value)->seen_us = now;
    g_hash_table_iter_init (&iter, self->tasks);
    while (g_hash_table_iter_next (&iter, NULL, &value))
      ((NatsTask *) value)->orphaned_since_us = 0;
    return G_SOURCE_CONTINUE;
  }
  g_hash_table_iter_init (&iter, self->workers);
  while (g_hash_table_iter_next (&iter, NULL, &value)) {
    NatsWorker *w = value;

    if (w->online && now - w->seen_us > (gint64) self->offline_ms * 1000)
      g_ptr_array_add (offline, g_strdup (w->id));
  }
  for (guint i = 0; i < offline->len; i++) {
    NatsWorker *w = g_hash_table_lookup (self->workers, g_ptr_array_index (offline, i));
    g_autofree gchar *reason = g_strdup_printf ("no heartbeat for %u ms", self->offline_ms);

    if (w != NULL)
      worker_set_offline (self, w, reason, FALSE);
  }

  /* a task waiting in a route that no live worker pulls from would wait
   * forever: give it back to the scheduler, which waits for workers */
  g_hash_table_iter_init (&iter, self->tasks);
  while (g_hash_table_iter_next (&iter, NULL, &value)) {
    NatsTask *t = value;

    if (t->holder != NULL || t->cancel_requested) {
      t->starved_since_us = 0;
      continue;
    }
    /* a free worker pulls a deliverable message within a second; one left
     * waiting through two AckWaits is not coming (JetStream stopped after
     * MaxDeliver deliveries to workers that died before claiming, or the
     * message was lost): the scheduler's retry publishes a new one */
    if (!any_worker_can_take (self, t->codec, t->hw, NULL, TRUE))
      t->starved_since_us = 0;
    else if (t->starved_since_us == 0)
      t->starved_since_us = now;
    else if (now - t->starved_since_us >
             2 * (gint64) self->ack_wait_s * G_USEC_PER_SEC + (gint64) self->offline_ms * 1000)
      g_ptr_array_add (undelivered, g_strdup (t->id));
    if (any_worker_can_take (self, t->codec, t->hw, NULL, FALSE)) {
      t->orphaned_since_us = 0;
    } else if (t->orphaned_since_us == 0) {
      t->orphaned_since_us = now;
    } else if (now - t->orphaned_since_us > (gint64) self->offline_ms * 1000) {
      g_ptr_array_add (orphans, g_strdup (t->id));
    }
  }
  for (guint i = 0; i < orphans->len; i++) {
    NatsTask *t = g_hash_table_lookup (self->tasks, g_ptr_array_index (orphans, i));
    g_autofree gchar *message = NULL;

    if (t == NULL || t->holder != NULL)
      continue;
    message = g_strdup_printf ("no online worker can take it (route %s)", t->route);
    task_fail (self, t, WE_ERROR_JOB_NO_WORKERS, message);
  }
  for (guint i = 0; i < undelivered->len; i++) {
    NatsTask *t = g_hash_table_lookup (self->tasks, g_ptr_array_index (undelivered, i));
    g_autofree gchar *message = NULL;

    if (t == NULL || t->holder != NULL)
      continue;
    message = g_strdup_printf ("its work message on %s was not delivered to any free worker "
                               "within %u s", t->route,
                               2 * self->ack_wait_s + self->offline_ms / 1000);
    task_fail (self, t, WE_ERROR_WRK_COMMUNICATION, message);
  }
  if (orphans->len > 0 || undelivered->len > 0)
    we_queue_emit_slots_changed (WE_QUEUE (self));

  g_hash_table_iter_init (&iter, self->finished);
  while (g_hash_table_iter_next (&iter, &key, &value)) {
    if (now - ((NatsFinished *) value)->finished_us > WE_QUEUE_NATS_FINISHED_KEEP_US)
      g_hash_table_iter_remove (&iter);
  }
  g_hash_table_iter_init (&iter, self->removed);
  while (g_hash_table_iter_next (&iter, &key, &value)) {
    if (now - ((NatsRemoved *) value)->removed_us > WE_QUEUE_NATS_REMOVED_KEEP_US)
      g_hash_table_iter_remove (&iter);
  }
  return G_SOURCE_CONTINUE;
}

/* ---- connection results -------------------------------------------------- */

static void
on_connected (GObject *target, gpointer data)
{
  WeQueueNats *self = WE_QUEUE_NATS (target);
  NatsConnected *c = data;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *safe_url = NULL;
  static const struct {
    const gchar  *subject;
    WeNatsHandler handler;
  } subscriptions[] = {
    { WE_NATS_HEARTBEAT_PREFIX "*", on_heartbeat },
    { WE_NATS_CLAIM_PREFIX "*", on_claim },
    { WE_NATS_EVENTS_PREFIX ">", on_event },
  };

  if (!self->started || self->stopping)
    return;
  self->nc = c->nc;
  for (guint i = 0; i < G_N_ELEMENTS (subscriptions); i++) {
    natsSubscription *sub = we_nats_subscribe (self->nc, subscriptions[i].subject, self->bridge,
                                               subscriptions[i].handler, &error);

    if (sub == NULL) {
      /* only a connection closed under us gets here; nothing works now */
      we_log (G_LOG_LEVEL_CRITICAL, NULL, we_error_code_to_string (WE_ERROR_SYS_QUEUE), "%s",
              error->message);
      return;
    }
    g_ptr_array_add (self->subs, sub);
  }
  self->ready = TRUE;
  self->warm_us = g_get_monotonic_time () + (gint64) (self->heartbeat_ms + 500) * 1000;
  self->warm_id = g_timeout_add (self->heartbeat_ms + 500, warm_cb, self);
  self->tick_id = g_timeout_add (MAX (self->heartbeat_ms / 4, 50), tick_cb, self);
  safe_url = we_nats_redact_url (self->url);
  we_log (G_LOG_LEVEL_INFO, NULL, NULL, "connected to NATS at %s; waiting for workers", safe_url);
  for (guint i = 0; self->local != NULL && i < self->local->len; i++)
    local_child_spawn (g_ptr_array_index (self->local, i));
}

static void
on_publish_failed (GObject *target, gpointer data)
{
  WeQueueNats *self = WE_QUEUE_NATS (target);
  NatsPublishFailed *pf = data;
  NatsTask *t = g_hash_table_lookup (self->tasks, pf->task_id);
  g_autofree gchar *message = NULL;

  if (t == NULL || t->attempt != pf->attempt || t->holder != NULL)
    return;
  message = g_strdup_printf ("cannot hand the task to NATS: %s", pf->message);
  task_fail (self, t, WE_ERROR_SYS_QUEUE, message);
  we_queue_emit_slots_changed (WE_QUEUE (self));
}

/* ---- local workers -------------------------------------------------------- */

static void
local_child_free (LocalChild *child)
{
  g_clear_handle_id (&child->respawn_id, g_source_remove);
  if (child->cancellable != NULL)
    g_cancellable_cancel (child->cancellable);
  g_clear_object (&child->cancellable);
  g_clear_object (&child->proc);
  g_free (child->id);
  g_free (child);
}

static gboolean
local_child_respawn_cb (gpointer user_data)
{
  LocalChild *child = user_data;

  child->respawn_id = 0;
  local_child_spawn (child);
  return G_SOURCE_REMOVE;
}

static void
local_child_exited_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  LocalChild *child = user_data;
  GSubprocess *proc = G_SUBPROCESS (source);

  if (!g_subprocess_wait_finish (proc, res, NULL))
    return; /* cancelled: the queue is going away and freed the child */
  if (child->proc != proc)
    return;
  g_clear_object (&child->proc);
  if (child->queue->stopping || child->removed)
    return;
  if (g_get_monotonic_time () - child->started_us > 60 * G_TIME_SPAN_SECOND)
    child->backoff_ms = 0;
  child->backoff_ms = child->backoff_ms == 0
                        ? WE_QUEUE_NATS_LOCAL_BACKOFF_MIN_MS
                        : MIN (child->backoff_ms * 2, WE_QUEUE_NATS_LOCAL_BACKOFF_MAX_MS);
  we_log (G_LOG_LEVEL_WARNING, NULL, we_error_code_to_string (WE_ERROR_WRK_COMMUNICATION),
          "local worker %s exited; restarting it in %u ms", child->id, child->backoff_ms);
  child->respawn_id = g_timeout_add (child->backoff_ms, local_child_respawn_cb, child);
}

#ifdef __linux__
static void
local_child_setup (gpointer user_data)
{
  /* a worker must not outlive the kernel that started it. SIGHUP, not
   * SIGTERM: when the signal arrives getppid() may still name the dying
   * kernel, so the worker could not tell it from a plain stop request
   * (which finishes the running task); before the worker's handler is
   * installed, SIGHUP's default ends it, which is right too */
  prctl (PR_SET_PDEATHSIG, SIGHUP);
}
#endif

static void
local_child_spawn (LocalChild *child)
{
  WeQueueNats *self = child->queue;
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_NONE);
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GError) error = NULL;

  if (child->proc != NULL || child->removed || self->stopping)
    return;
  for (guint i = 0; self->local_argv[i] != NULL; i++)
    g_ptr_array_add (argv, self->local_argv[i]);
  g_ptr_array_add (argv, (gpointer) "--nats");
  g_ptr_array_add (argv, self->url);
  g_ptr_array_add (argv, (gpointer) "--worker-id");
  g_ptr_array_add (argv, child->id);
  g_ptr_array_add (argv, (gpointer) "--exit-with-parent");
  g_ptr_array_add (argv, NULL);
  if (self->local_envp != NULL)
    g_subprocess_launcher_set_environ (launcher, self->local_envp);
#ifdef __linux__
  g_subprocess_launcher_set_child_setup (launcher, local_child_setup, NULL, NULL);
#endif
  child->proc = g_subprocess_launcher_spawnv (launcher, (const gchar * const *) argv->pdata,
                                              &error);
  if (child->proc == NULL) {
    child->backoff_ms = MIN (MAX (child->backoff_ms * 2, WE_QUEUE_NATS_LOCAL_BACKOFF_MIN_MS),
                             WE_QUEUE_NATS_LOCAL_BACKOFF_MAX_MS);
    we_log (G_LOG_LEVEL_WARNING, NULL, we_error_code_to_string (WE_ERROR_SYS_QUEUE),
            "cannot start local worker %s: %s; next try in %u ms", child->id, error->message,
            child->backoff_ms);
    child->respawn_id = g_timeout_add (child->backoff_ms, local_child_respawn_cb, child);
    return;
  }
  child->started_us = g_get_monotonic_time ();
  g_subprocess_wait_async (child->proc, child->cancellable, local_child_exited_cb, child);
}

static LocalChild *
local_child_find (WeQueueNats *self, const gchar *worker_id)
{
  for (guint i = 0; self->local != NULL && i < self->local->len; i++) {
    LocalChild *child = g_ptr_array_index (self->local, i);

    if (g_strcmp0 (child->id, worker_id) == 0)
      return child;
  }
  return NULL;
}

/* ---- WeQueue -------------------------------------------------------------- */

static gboolean
we_queue_nats_start (WeQueue *queue, GError **error)
{
  WeQueueNats *self = WE_QUEUE_NATS (queue);
  g_autofree gchar *safe_url = NULL;

  if (self->started) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_SYS_QUEUE, "the NATS queue is already started");
    return FALSE;
  }
  if (self->url == NULL || *g_strstrip (self->url) == '\0') {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_SYS_QUEUE, "NATS_URL is empty");
    return FALSE;
  }
  self->started = TRUE;
  self->core = g_new0 (NatsCore, 1);
  g_atomic_ref_count_init (&self->core->ref);
  self->core->url = g_strdup (self->url);
  self->core->ack_wait_s = self->ack_wait_s;
  self->core->max_deliver = self->max_deliver;
  self->core->ops = g_async_queue_new_full ((GDestroyNotify) nats_op_free);
  self->core->bridge = we_nats_bridge_ref (self->bridge);
  self->thread = g_thread_new ("we-queue-nats", core_thread, nats_core_ref (self->core));
  safe_url = we_nats_redact_url (self->url);
  we_log (G_LOG_LEVEL_INFO, NULL, NULL, "cluster queue: connecting to NATS at %s", safe_url);
  return TRUE;
}

static void
we_queue_nats_stop (WeQueue *queue)
{
  WeQueueNats *self = WE_QUEUE_NATS (queue);
  GHashTableIter iter;
  gpointer value;
  NatsOp *op;

  if (!self->started || self->stopping)
    return;
  self->stopping = TRUE;
  self->ready = FALSE;
  g_clear_handle_id (&self->warm_id, g_source_remove);
  g_clear_handle_id (&self->tick_id, g_source_remove);
  g_clear_handle_id (&self->cancelled_idle_id, g_source_remove);
  g_ptr_array_set_size (self->deferred_claims, 0);
  /* tasks still running stay as the store has them: the next kernel
   * re-dispatches them and the workers' reports find it */
  g_ptr_array_set_size (self->subs, 0);
  self->nc = NULL;
  g_atomic_int_set (&self->core->quit, 1);
  op = g_new0 (NatsOp, 1);
  op->kind = NATS_OP_QUIT;
  g_async_queue_push (self->core->ops, op);
  /* the thread closes the connection and ends on its own */
  g_clear_pointer (&self->thread, g_thread_unref);

  for (guint i = 0; self->local != NULL && i < self->local->len; i++) {
    LocalChild *child = g_ptr_array_index (self->local, i);

    g_clear_handle_id (&child->respawn_id, g_source_remove);
    if (child->proc != NULL)
      g_subprocess_send_signal (child->proc, SIGTERM);
  }
  g_hash_table_iter_init (&iter, self->workers);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    ((NatsWorker *) value)->online = FALSE;
  we_queue_emit_slots_changed (queue);
}

static gchar *
route_for (WeQueueNats *self, JsonObject *task, gchar **codec, gboolean *hw)
{
  const gchar *kind = we_json_get_string (task, "kind");
  JsonObject *profile = we_json_get_object (task, "profile");
  const gchar *vcodec = we_json_get_string (profile, "video_codec");
  GHashTableIter iter;
  gpointer value;

  *codec = NULL;
  *hw = FALSE;
  if (g_strcmp0 (kind, "segment") != 0 && g_strcmp0 (kind, "transcode") != 0)
    return g_strdup (WE_NATS_ROUTE_ANY);
  *codec = we_nats_token (vcodec != NULL ? vcodec : "h264");
  for (gchar *p = *codec; *p != '\0'; p++)
    *p = g_ascii_tolower (*p);
  if (we_json_get_bool (profile, "prefer_hardware", FALSE)) {
    g_hash_table_iter_init (&iter, self->workers);
    while (g_hash_table_iter_next (&iter, NULL, &value)) {
      if (worker_can_take (self, value, *codec, TRUE)) {
        *hw = TRUE;
        return g_strconcat (*codec, ".hw", NULL);
      }
    }
  }
  return g_strdup (*codec);
}

static guint we_queue_nats_free_slots (WeQueue *queue);

static gboolean
we_queue_nats_dispatch (WeQueue *queue, JsonObject *task, GError **error)
{
  WeQueueNats *self = WE_QUEUE_NATS (queue);
  const gchar *task_id = we_json_get_string (task, "id");
  g_autofree gchar *codec = NULL;
  g_autofree gchar *route = NULL;
  g_autoptr(JsonObject) msg = NULL;
  g_autoptr(JsonNode) node = NULL;
  NatsFinished *previous;
  NatsWorker *reporter;
  NatsTask *t;
  NatsOp *op;
  gboolean hw;
  gchar *text;

  if (task_id == NULL || *task_id == '\0') {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST, "task has no id");
    return FALSE;
  }
  t = g_hash_table_lookup (self->tasks, task_id);
  if (t != NULL) {
    g_set_error (error, WE_ERROR, WE_ERROR_WRK_BUSY, "task %s is already dispatched%s%s",
                 task_id, t->holder != NULL ? " to worker " : "", t->holder ? t->holder : "");
    return FALSE;
  }
  if (!self->ready) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_NO_WORKERS,
                 "not connected to NATS: no worker for task %s", task_id);
    return FALSE;
  }
  route = route_for (self, task, &codec, &hw);
  t = g_new0 (NatsTask, 1);
  t->id = g_strdup (task_id);
  t->attempt = we_json_get_int (task, "attempt", 1);
  reporter = find_reporting_worker (self, t, NULL);
  nats_task_free (g_steal_pointer (&t));
  if (!any_worker_can_take (self, codec, hw, NULL, FALSE) && reporter == NULL) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_NO_WORKERS,
                 "no online worker can run task %s (%s)", task_id,
                 codec != NULL ? codec : "any worker");
    return FALSE;
  }
  /* a worker that still has the task (re-dispatched after a kernel restart)
   * keeps it, slot or no slot */
  if (we_queue_nats_free_slots (queue) == 0 && reporter == NULL) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_NO_WORKERS,
                 "no free worker slot for task %s (%u unclaimed task(s) wait)", task_id,
                 unclaimed_count (self));
    return FALSE;
  }

  t = g_new0 (NatsTask, 1);
  t->id = g_strdup (task_id);
  t->job_id = g_strdup (we_json_get_string (task, "job_id"));
  t->route = g_strdup (route);
  t->codec = g_steal_pointer (&codec);
  t->hw = hw;
  t->attempt = we_json_get_int (task, "attempt", 1);
  t->avoid = g_strdup (we_json_get_string (task, "avoid_worker"));
  previous = g_hash_table_lookup (self->finished, task_id);
  /* the scheduler names the worker to avoid only when it learnt it at
   * dispatch, which it cannot here (the worker claims later): remember */
  if (t->avoid == NULL && previous != NULL && t->attempt > previous->attempt)
    t->avoid = g_strdup (previous->holder);
  g_hash_table_remove (self->finished, task_id);
  g_hash_table_insert (self->tasks, g_strdup (task_id), t);

  if (reporter != NULL) {
    /* re-dispatched after a kernel restart while a worker still runs it (or
     * still delivers its result): no second copy goes out */
    task_adopt (self, t, reporter->id, "it already runs the task");
    return TRUE;
  }

  msg = json_object_new ();
  json_object_set_string_member (msg, "type", "task");
  json_object_set_object_member (msg, "task", json_object_ref (task));
  node = json_node_init_object (json_node_alloc (), msg);
  text = json_to_string (node, FALSE);
  op = g_new0 (NatsOp, 1);
  op->kind = NATS_OP_PUBLISH;
  op->route = g_strdup (route);
  op->task_id = g_strdup (task_id);
  op->attempt = t->attempt;
  op->payload = g_bytes_new_take (text, strlen (text));
  g_async_queue_push (self->core->ops, op);
  we_log (G_LOG_LEVEL_INFO, task_id, NULL, "task %s (attempt %" G_GINT64_FORMAT ") queued on "
          "route %s", task_id, t->attempt, route);
  return TRUE;
}

static gboolean
cancelled_idle_cb (gpointer user_data)
{
  WeQueueNats *self = user_data;
  g_autoptr(WeQueueNats) keep = g_object_ref (self);
  g_autoptr(GPtrArray) ids = g_steal_pointer (&self->cancelled);

  self->cancelled_idle_id = 0;
  self->cancelled = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < ids->len; i++) {
    const gchar *task_id = g_ptr_array_index (ids, i);
    g_autoptr(JsonObject) msg = json_object_new ();

    json_object_set_string_member (msg, "type", "cancelled");
    json_object_set_string_member (msg, "task_id", task_id);
    we_queue_emit_task_event (WE_QUEUE (self), task_id, msg);
  }
  if (ids->len > 0)
    we_queue_emit_slots_changed (WE_QUEUE (self));
  return G_SOURCE_REMOVE;
}

static void
we_queue_nats_cancel (WeQueue *queue, const gchar *task_id)
{
  WeQueueNats *self = WE_QUEUE_NATS (queue);
  NatsTask *t = g_hash_table_lookup (self->tasks, task_id);

  if (t == NULL || t->cancel_requested)
    return;
  t->cancel_requested = TRUE;
  if (t->holder != NULL) {
    send_control (self, t->holder, "cancel", task_id);
    return;
  }
  /* nobody runs it yet: it is cancelled now, and a late claim is refused.
   * Reported from an idle so the caller is not re-entered. */
  task_finish (self, t);
  g_ptr_array_add (self->cancelled, g_strdup (task_id));
  if (self->cancelled_idle_id == 0)
    self->cancelled_idle_id = g_idle_add (cancelled_idle_cb, self);
}

static guint
we_queue_nats_free_slots (WeQueue *queue)
{
  WeQueueNats *self = WE_QUEUE_NATS (queue);
  GHashTableIter iter;
  gpointer value;
  guint free_slots = 0, unclaimed;

  if (!self->ready)
    return 0;
  g_hash_table_iter_init (&iter, self->workers);
  while (g_hash_table_iter_next (&iter, NULL, &value)) {
    NatsWorker *w = value;

    if (w->online && !worker_is_draining (w))
      free_slots += worker_free (self, w);
  }
  unclaimed = unclaimed_count (self);
  return free_slots > unclaimed ? free_slots - unclaimed : 0;
}

static guint
we_queue_nats_total_slots (WeQueue *queue)
{
  WeQueueNats *self = WE_QUEUE_NATS (queue);
  GHashTableIter iter;
  gpointer value;
  guint total = 0;

  if (!self->ready)
    return 0;
  g_hash_table_iter_init (&iter, self->workers);
  while (g_hash_table_iter_next (&iter, NULL, &value)) {
    NatsWorker *w = value;

    if (w->online)
      total += w->slots_total;
  }
  return total;
}

static GPtrArray *
worker_task_ids (WeQueueNats *self, NatsWorker *w)
{
  GPtrArray *ids = g_ptr_array_new_with_free_func (g_free);
  GHashTableIter iter;
  gpointer key, value;

  g_hash_table_iter_init (&iter, self->tasks);
  while (g_hash_table_iter_next (&iter, &key, &value)) {
    if (g_strcmp0 (((NatsTask *) value)->holder, w->id) == 0)
      g_ptr_array_add (ids, g_strdup (key));
  }
  if (w->online) {
    g_hash_table_iter_init (&iter, w->reported);
    while (g_hash_table_iter_next (&iter, &key, NULL)) {
      if (!g_ptr_array_find_with_equal_func (ids, key, g_str_equal, NULL))
        g_ptr_array_add (ids, g_strdup (key));
    }
  }
  g_ptr_array_sort (ids, (GCompareFunc) g_strcmp0);
  return ids;
}

static gint
compare_ids (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (*(const gchar * const *) a, *(const gchar * const *) b);
}

static GPtrArray *
we_queue_nats_list_workers (WeQueue *queue)
{
  WeQueueNats *self = WE_QUEUE_NATS (queue);
  GPtrArray *list = g_ptr_array_new_with_free_func ((GDestroyNotify) json_object_unref);
  g_autoptr(GPtrArray) ids = g_ptr_array_new ();
  GHashTableIter iter;
  gpointer key;

  g_hash_table_iter_init (&iter, self->workers);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    g_ptr_array_add (ids, key);
  g_ptr_array_sort (ids, compare_ids);

  for (guint i = 0; i < ids->len; i++) {
    NatsWorker *w = g_hash_table_lookup (self->workers, g_ptr_array_index (ids, i));
    g_autoptr(GPtrArray) tasks = worker_task_ids (self, w);
    JsonObject *obj = json_object_new ();
    JsonArray *task_ids = json_array_new ();
    const gchar *state;

    for (guint j = 0; j < tasks->len; j++)
      json_array_add_string_element (task_ids, g_ptr_array_index (tasks, j));
    if (!w->online)
      state = "offline";
    else if (worker_is_draining (w))
      state = "draining";
    else if (tasks->len > 0)
      state = "busy";
    else
      state = "idle";

    json_object_set_string_member (obj, "id", w->id);
    json_object_set_string_member (obj, "hostname", w->hostname != NULL ? w->hostname : "");
    json_object_set_string_member (obj, "ip_address",
                                   w->ip_address != NULL ? w->ip_address : "");
    json_object_set_string_member (obj, "version", w->version != NULL ? w->version : "");
    json_object_set_int_member (obj, "pid", w->pid);
    json_object_set_int_member (obj, "restarts", w->restarts);
    json_object_set_string_member (obj, "state", state);
    json_object_set_boolean_member (obj, "draining", worker_is_draining (w));
    json_object_set_array_member (obj, "task_ids", task_ids);
    /* the scheduler (and older callers) look for one task per worker */
    if (tasks->len > 0)
      json_object_set_string_member (obj, "task_id", g_ptr_array_index (tasks, 0));
    else
      json_object_set_null_member (obj, "task_id");
    json_object_set_int_member (obj, "slots_total", w->slots_total);
    json_object_set_int_member (obj, "slots_free",
                                w->online && !worker_is_draining (w) ? worker_free (self, w) : 0);
    if (w->resources != NULL && w->online)
      json_object_set_object_member (obj, "resources", json_object_ref (w->resources));
    if (w->capabilities != NULL)
      json_object_set_object_member (obj, "capabilities", json_object_deep_copy (w->capabilities));
    else
      json_object_set_null_member (obj, "capabilities");
    if (w->seen_real_us > 0) {
      g_autofree gchar *iso = we_time_format (w->seen_real_us);

      json_object_set_string_member (obj, "last_heartbeat", iso);
    } else {
      json_object_set_null_member (obj, "last_heartbeat");
    }
    if (w->started_at != NULL)
      json_object_set_string_member (obj, "started_at", w->started_at);
    else
      json_object_set_null_member (obj, "started_at");
    g_ptr_array_add (list, obj);
  }
  return list;
}

static gboolean
we_queue_nats_set_draining (WeQueue *queue, const gchar *worker_id, gboolean draining,
                            GError **error)
{
  WeQueueNats *self = WE_QUEUE_NATS (queue);
  NatsWorker *w = g_hash_table_lookup (self->workers, worker_id);

  if (w == NULL) {
    g_set_error (error, WE_ERROR, WE_ERROR_WRK_NOT_FOUND, "worker %s not found", worker_id);
    return FALSE;
  }
  if (!w->online) {
    g_set_error (error, WE_ERROR, WE_ERROR_WRK_OFFLINE, "worker %s is offline", worker_id);
    return FALSE;
  }
  w->drain_wanted_set = TRUE;
  w->drain_wanted = draining;
  send_control (self, worker_id, draining ? "drain" : "undrain", NULL);
  we_log (G_LOG_LEVEL_INFO, NULL, NULL, "worker %s: %s requested", worker_id,
          draining ? "drain" : "undrain");
  we_queue_emit_slots_changed (queue);
  return TRUE;
}

static gboolean
remove_worker (WeQueueNats *self, const gchar *worker_id, gboolean force, GError **error)
{
  NatsWorker *w = g_hash_table_lookup (self->workers, worker_id);
  g_autoptr(GPtrArray) tasks = NULL;
  g_autoptr(GPtrArray) held = NULL;
  LocalChild *child;
  NatsRemoved *removed;

  if (w == NULL) {
    g_set_error (error, WE_ERROR, WE_ERROR_WRK_NOT_FOUND, "worker %s not found", worker_id);
    return FALSE;
  }
  tasks = worker_task_ids (self, w);
  if (w->online && tasks->len > 0 && !force) {
    g_set_error (error, WE_ERROR, WE_ERROR_WRK_BUSY, "worker %s is running %s", worker_id,
                 (const gchar *) g_ptr_array_index (tasks, 0));
    return FALSE;
  }
  child = local_child_find (self, worker_id);
  if (child != NULL)
    child->removed = TRUE;
  if (w->online) {
    /* a forced removal stops its tasks first; should the worker not hear
     * it (cut off), its late reports name an attempt that is over */
    for (guint i = 0; i < tasks->len; i++)
      send_control (self, worker_id, "cancel", g_ptr_array_index (tasks, i));
    send_control (self, worker_id, "shutdown", NULL);
    /* its heartbeats may still be on the way: do not let them bring it back */
    removed = g_new0 (NatsRemoved, 1);
    removed->pid_or_start = g_strdup_printf ("%" G_GINT64_FORMAT "/%s", w->pid,
                                             w->started_at != NULL ? w->started_at : "");
    removed->removed_us = g_get_monotonic_time ();
    g_hash_table_replace (self->removed, g_strdup (worker_id), removed);
  }
  send_audit (self, "worker.removed", w, force ? "forced" : NULL);
  we_log (G_LOG_LEVEL_INFO, NULL, NULL, "worker %s removed%s", worker_id,
          force && tasks->len > 0 ? " while busy; its tasks go to other workers" : "");
  /* like an offline worker's: each task fails retryably and avoids it */
  held = tasks_held_by (self, worker_id);
  g_hash_table_remove (self->workers, worker_id);
  for (guint i = 0; i < held->len; i++) {
    NatsTask *t = g_hash_table_lookup (self->tasks, g_ptr_array_index (held, i));
    g_autofree gchar *message = NULL;

    if (t == NULL || g_strcmp0 (t->holder, worker_id) != 0)
      continue;
    message = g_strdup_printf ("worker %s was removed while running it", worker_id);
    task_fail (self, t, WE_ERROR_WRK_COMMUNICATION, message);
  }
  we_queue_emit_slots_changed (WE_QUEUE (self));
  return TRUE;
}

static gboolean
we_queue_nats_remove_worker (WeQueue *queue, const gchar *worker_id, GError **error)
{
  return remove_worker (WE_QUEUE_NATS (queue), worker_id, FALSE, error);
}

/**
 * we_queue_nats_remove_worker_forced:
 * @self: the queue
 * @worker_id: the worker to remove, busy or not
 * @error: return location for a #GError
 *
 * Removes a worker even while it runs tasks: they are cancelled on the
 * worker, fail over to other workers (avoiding this one) and the worker is
 * told to shut down. Its later heartbeats and reports are ignored.
 *
 * Returns: %TRUE, or %FALSE with @error (WE_ERROR_WRK_NOT_FOUND)
 */
gboolean
we_queue_nats_remove_worker_forced (WeQueueNats *self, const gchar *worker_id, GError **error)
{
  g_return_val_if_fail (WE_IS_QUEUE_NATS (self), FALSE);
  g_return_val_if_fail (worker_id != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  return remove_worker (self, worker_id, TRUE, error);
}

static void
we_queue_nats_iface_init (WeQueueInterface *iface)
{
  iface->start = we_queue_nats_start;
  iface->stop = we_queue_nats_stop;
  iface->dispatch = we_queue_nats_dispatch;
  iface->cancel = we_queue_nats_cancel;
  iface->free_slots = we_queue_nats_free_slots;
  iface->total_slots = we_queue_nats_total_slots;
  iface->list_workers = we_queue_nats_list_workers;
  iface->set_draining = we_queue_nats_set_draining;
  iface->remove_worker = we_queue_nats_remove_worker;
  iface->publish_audit = we_queue_nats_publish_audit;
}

/* ---- GObject -------------------------------------------------------------- */

static void
we_queue_nats_dispose (GObject *object)
{
  WeQueueNats *self = WE_QUEUE_NATS (object);

  we_queue_nats_stop (WE_QUEUE (self));
  g_clear_pointer (&self->local, g_ptr_array_unref);
  G_OBJECT_CLASS (we_queue_nats_parent_class)->dispose (object);
}

static void
we_queue_nats_finalize (GObject *object)
{
  WeQueueNats *self = WE_QUEUE_NATS (object);

  g_clear_pointer (&self->core, nats_core_unref);
  g_clear_pointer (&self->bridge, we_nats_bridge_unref);
  g_ptr_array_unref (self->subs);
  g_ptr_array_unref (self->deferred_claims);
  g_ptr_array_unref (self->cancelled);
  g_hash_table_unref (self->workers);
  g_hash_table_unref (self->tasks);
  g_hash_table_unref (self->finished);
  g_hash_table_unref (self->removed);
  g_strfreev (self->local_argv);
  g_strfreev (self->local_envp);
  g_free (self->url);
  g_free (self->kernel_id);
  G_OBJECT_CLASS (we_queue_nats_parent_class)->finalize (object);
}

static void
we_queue_nats_class_init (WeQueueNatsClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = we_queue_nats_dispose;
  object_class->finalize = we_queue_nats_finalize;
}

static void
we_queue_nats_init (WeQueueNats *self)
{
  self->subs = g_ptr_array_new_with_free_func ((GDestroyNotify) we_nats_unsubscribe);
  self->deferred_claims = g_ptr_array_new_with_free_func ((GDestroyNotify) we_nats_msg_free);
  self->cancelled = g_ptr_array_new_with_free_func (g_free);
  self->workers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                         (GDestroyNotify) nats_worker_free);
  self->tasks = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                       (GDestroyNotify) nats_task_free);
  self->finished = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                          (GDestroyNotify) nats_finished_free);
  self->removed = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                         (GDestroyNotify) nats_removed_free);
}

WeQueueNats *
we_queue_nats_new (const gchar *url, const WeQueueNatsOptions *options)
{
  WeQueueNats *self;

  g_return_val_if_fail (url != NULL, NULL);

  self = g_object_new (WE_TYPE_QUEUE_NATS, NULL);
  self->url = g_strdup (url);
  self->ack_wait_s = options != NULL && options->ack_wait_s > 0
                       ? options->ack_wait_s : WE_QUEUE_NATS_DEFAULT_ACK_WAIT_S;
  self->heartbeat_ms = options != NULL && options->heartbeat_ms > 0
                         ? options->heartbeat_ms : WE_QUEUE_NATS_DEFAULT_HEARTBEAT_MS;
  self->offline_ms = options != NULL && options->offline_ms > 0
                       ? options->offline_ms : 3 * self->heartbeat_ms + 1000;
  self->max_deliver = options != NULL && options->max_deliver > 0
                        ? options->max_deliver : WE_QUEUE_NATS_DEFAULT_MAX_DELIVER;
  self->kernel_id = options != NULL ? g_strdup (options->kernel_id) : NULL;
  self->bridge = we_nats_bridge_new (G_OBJECT (self), NULL);
  return self;
}

void
we_queue_nats_set_local_workers (WeQueueNats *self, const gchar * const *worker_argv, guint count,
                                 const gchar * const *envp)
{
  g_autofree gchar *prefix = NULL;

  g_return_if_fail (WE_IS_QUEUE_NATS (self));
  g_return_if_fail (worker_argv != NULL && worker_argv[0] != NULL);
  g_return_if_fail (!self->started);

  g_strfreev (self->local_argv);
  self->local_argv = g_strdupv ((gchar **) worker_argv);
  g_strfreev (self->local_envp);
  self->local_envp = envp != NULL ? g_strdupv ((gchar **) envp) : NULL;
  self->local_count = count;
  g_clear_pointer (&self->local, g_ptr_array_unref);
  self->local = g_ptr_array_new_with_free_func ((GDestroyNotify) local_child_free);
  /* ids that stay the same across kernel restarts, unique per kernel */
  prefix = we_nats_token (self->kernel_id != NULL ? self->kernel_id : g_get_host_name ());
  g_strcanon (prefix, G_CSET_A_2_Z G_CSET_a_2_z G_CSET_DIGITS "_-", '-');
  for (guint i = 0; i < count; i++) {
    LocalChild *child = g_new0 (LocalChild, 1);

    child->queue = self;
    child->id = g_strdup_printf ("%s-local-%u", prefix, i + 1);
    child->cancellable = g_cancellable_new ();
    g_ptr_array_add (self->local, child);
  }
}

const gchar *
we_queue_nats_get_task_holder (WeQueueNats *self, const gchar *task_id)
{
  NatsTask *t;

  g_return_val_if_fail (WE_IS_QUEUE_NATS (self), NULL);
  g_return_val_if_fail (task_id != NULL, NULL);

  t = g_hash_table_lookup (self->tasks, task_id);
  return t != NULL ? t->holder : NULL;
}
