/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "we-worker-nats.h"

#include <string.h>
#include <unistd.h>
#include <webencode/we-error.h>

#include "common/we-json.h"
#include "common/we-job.h"
#include "common/we-log.h"
#include "common/we-sysinfo.h"
#include "common/we-worker-protocol.h"
#include "queue/we-nats.h"
#include "secrets/we-secrets-router.h"
#include "we-worker-caps.h"

/* One task at a time per process: an operator starts more processes for
 * more parallelism, so a crashing decoder still costs only one task. */
#define WE_WORKER_NATS_MAX_PARALLEL   1
#define WE_WORKER_NATS_FETCH_MS       1000
#define WE_WORKER_NATS_BIND_RETRY_MS  500
#define WE_WORKER_NATS_CLAIM_TIMEOUT  5000
#define WE_WORKER_NATS_REPORT_TIMEOUT 3000
#define WE_WORKER_NATS_REPORT_RETRY   2000
/* A final report waits this long for a kernel before the worker gives up on
 * it; by then a restarted kernel has re-dispatched the task from the store. */
#define WE_WORKER_NATS_REPORT_LIMIT_US (10 * 60 * G_TIME_SPAN_SECOND)
#define WE_WORKER_NATS_NAK_DELAY_MS   1000
/* After a cancel a task has this long to report before the process gives
 * up on it (a decoder deaf to cancellation). */
#define WE_WORKER_NATS_CANCEL_GRACE_S 10

typedef enum {
  WORK_CLAIMING,   /* fetched, waiting for the kernel's grant */
  WORK_RUNNING,    /* WeWorker runs it */
  WORK_REPORTING,  /* ended; the final report waits for the kernel's ack */
} WorkState;

typedef struct _WeWorkerNats WeWorkerNats;

typedef struct {
  WeWorkerNats *owner;      /* not owned */
  gchar        *task_id;
  gchar        *job_id;
  gint64        attempt;
  JsonObject   *task;       /* the "task" member of the task message */
  gchar        *ack_reply;  /* the JetStream delivery we hold */
  guint64       stream_seq;
  gint64        ack_wait_ms;
  gchar        *events_subject;
  WorkState     state;
  guint         progress_id;
  guint         retry_id;
  gint64        last_report_us;
  gint64        report_deadline_us;
  gboolean      cancel_requested; /* by the kernel */
  gboolean      stopping_cancel;  /* by us: the worker is stopping */
  gboolean      stalled;
  gint64        cancelled_us;
  JsonObject   *final;
} Work;

/* Shared with the puller threads. */
typedef struct {
  gatomicrefcount ref;
  GMutex          lock;
  GCond           cond;
  gint            free;     /* slots no work and no fetched message occupies */
  gboolean        paused;   /* draining or stopping */
  gboolean        quit;
  natsConnection *nc;       /* not owned */
  WeNatsBridge   *bridge;
} PullShared;

typedef struct {
  PullShared *shared;
  gchar      *route;
  GThread    *thread;
} Puller;

struct _WeWorkerNats {
  GObject          parent_instance;

  WeConfig        *config;
  gchar           *url;
  gchar           *worker_id;
  gchar           *scratch_dir;
  gchar           *plugin_dir;
  gchar           *gst_debug;
  guint            heartbeat_ms;
  guint            stall_timeout_s;
  guint            stop_grace_s;
  guint            report_grace_s;  /* after cancelling: how long reports may try */
  gchar           *started_at;
  gchar           *hostname;
  gchar           *ip_address;
  WeCpuSample      cpu;       /* the last heartbeat's, for this one's CPU use */

  WeWorker        *worker;
  JsonObject      *capabilities;
  WeNatsBridge    *bridge;
  GCancellable    *connect_cancellable;
  natsConnection  *nc;
  WeNatsRequester *requester;
  natsSubscription *control_sub;
  PullShared      *shared;
  GPtrArray       *pullers;   /* (element-type Puller) */
  GHashTable      *works;     /* task id → Work */

  guint            heartbeat_id;
  guint            watchdog_id;
  guint            grace_id;
  gboolean         draining;
  gboolean         stopping;
  gboolean         grace_over;
  gboolean         tearing_down;
  gboolean         finished;
  gint             exit_status;
  gboolean         test_exit_after_fetch;
};

G_DEFINE_TYPE (WeWorkerNats, we_worker_nats, G_TYPE_OBJECT)

enum {
  SIGNAL_FINISHED,
  SIGNAL_LAST
};

static guint signals[SIGNAL_LAST];

static void work_end (Work *work);
static void work_send_final (Work *work);
static void send_heartbeat (WeWorkerNats *self, gboolean leaving);
static void maybe_teardown (WeWorkerNats *self);

/* ---- pulling (threads) ---------------------------------------------------- */

static PullShared *
pull_shared_ref (PullShared *shared)
{
  g_atomic_ref_count_inc (&shared->ref);
  return shared;
}

static void
pull_shared_unref (PullShared *shared)
{
  if (!g_atomic_ref_count_dec (&shared->ref))
    return;
  g_mutex_clear (&shared->lock);
  g_cond_clear (&shared->cond);
  we_nats_bridge_unref (shared->bridge);
  g_free (shared);
}

static void
pull_shared_release (PullShared *shared)
{
  g_mutex_lock (&shared->lock);
  shared->free++;
  g_cond_broadcast (&shared->cond);
  g_mutex_unlock (&shared->lock);
}

static void
pull_shared_set_paused (PullShared *shared, gboolean paused)
{
  g_mutex_lock (&shared->lock);
  shared->paused = paused;
  g_cond_broadcast (&shared->cond);
  g_mutex_unlock (&shared->lock);
}

/* Waits while @pred is false or until @ms pass; FALSE once quitting. */
static gboolean
pull_wait (PullShared *shared, gboolean need_slot, guint ms)
{
  gint64 end = g_get_monotonic_time () + (gint64) ms * 1000;
  gboolean go;

  g_mutex_lock (&shared->lock);
  for (;;) {
    go = !shared->quit && (!need_slot || (!shared->paused && shared->free > 0));
    if (shared->quit || (need_slot && go))
      break;
    if (ms == 0) {
      g_cond_wait (&shared->cond, &shared->lock);
    } else if (!g_cond_wait_until (&shared->cond, &shared->lock, end)) {
      break;
    }
  }
  go = !shared->quit;
  g_mutex_unlock (&shared->lock);
  return go;
}

static void on_work (GObject *target, WeNatsMsg *msg);

static natsSubscription *
puller_bind (Puller *p, jsCtx *js, gint64 *ack_wait_ms, GError **error)
{
  g_autofree gchar *subject = g_strconcat (WE_NATS_DISPATCH_PREFIX, p->route, NULL);
  g_autofree gchar *consumer = g_strconcat ("work-", p->route, NULL);
  natsSubscription *sub = NULL;
  jsConsumerInfo *ci = NULL;
  jsSubOptions so;
  jsErrCode jerr = 0;
  natsStatus s;

  g_strdelimit (consumer, ".", '-');
  jsSubOptions_Init (&so);
  /* bind only: the kernel creates the consumer with the settings it owns
   * (AckWait, MaxDeliver) when it first dispatches on the route */
  so.Stream = WE_NATS_STREAM_WORK;
  so.Consumer = consumer;
  s = js_PullSubscribe (&sub, js, subject, consumer, NULL, &so, &jerr);
  if (s != NATS_OK) {
    we_nats_set_error (error, s, "binding to the work consumer");
    return NULL;
  }
  if (natsSubscription_GetConsumerInfo (&ci, sub, NULL, &jerr) == NATS_OK && ci != NULL &&
      ci->Config != NULL && ci->Config->AckWait > 0)
    *ack_wait_ms = ci->Config->AckWait / 1000000;
  jsConsumerInfo_Destroy (ci);
  return sub;
}

static gpointer
puller_thread (gpointer data)
{
  Puller *p = data;
  PullShared *shared = p->shared;
  natsSubscription *sub = NULL;
  jsCtx *js = NULL;
  gint64 ack_wait_ms = 30000;

  if (natsConnection_JetStream (&js, shared->nc, NULL) != NATS_OK) {
    g_warning ("route %s: cannot open JetStream", p->route);
    return NULL;
  }
  while (pull_wait (shared, TRUE, 0)) {
    natsMsgList list = { 0 };
    jsErrCode jerr = 0;
    natsStatus s;

    if (sub == NULL) {
      g_autoptr(GError) error = NULL;

      sub = puller_bind (p, js, &ack_wait_ms, &error);
      if (sub == NULL) {
        /* usually: nothing was dispatched on this route yet */
        g_debug ("route %s: %s", p->route, error->message);
        pull_wait (shared, FALSE, WE_WORKER_NATS_BIND_RETRY_MS);
        continue;
      }
    }
    s = natsSubscription_Fetch (&list, sub, 1, WE_WORKER_NATS_FETCH_MS, &jerr);
    if (s == NATS_OK && list.Count > 0) {
      natsMsg *nmsg = list.Msgs[0];
      WeNatsMsg *msg = g_new0 (WeNatsMsg, 1);
      jsMsgMetaData *meta = NULL;

      msg->subject = g_strdup (natsMsg_GetSubject (nmsg));
      msg->reply = g_strdup (natsMsg_GetReply (nmsg));
      msg->data = g_bytes_new (natsMsg_GetData (nmsg),
                               (gsize) MAX (natsMsg_GetDataLength (nmsg), 0));
      msg->ack_wait_ms = ack_wait_ms;
      msg->route = g_strdup (p->route);
      if (natsMsg_GetMetaData (&meta, nmsg) == NATS_OK) {
        msg->delivered = meta->NumDelivered;
        msg->stream_seq = meta->Sequence.Stream;
        jsMsgMetaData_Destroy (meta);
      }
      /* the slot is taken until the main loop decides; acks go to the
       * reply subject, so the natsMsg need not outlive this call */
      g_mutex_lock (&shared->lock);
      shared->free--;
      g_mutex_unlock (&shared->lock);
      we_nats_bridge_post (shared->bridge, on_work, msg);
    } else if (s != NATS_OK && s != NATS_TIMEOUT) {
      g_debug ("route %s: fetch failed: %s", p->route, natsStatus_GetText (s));
      /* the consumer may be gone (deleted, stream recreated): bind again */
      natsSubscription_Destroy (sub);
      sub = NULL;
      pull_wait (shared, FALSE, WE_WORKER_NATS_BIND_RETRY_MS);
    }
    natsMsgList_Destroy (&list);
  }
  if (sub != NULL)
    natsSubscription_Destroy (sub);
  jsCtx_Destroy (js);
  return NULL;
}

static void
puller_free (Puller *p)
{
  if (p->thread != NULL)
    g_thread_join (p->thread);
  pull_shared_unref (p->shared);
  g_free (p->route);
  g_free (p);
}

/* ---- acks ------------------------------------------------------------------ */

/* JetStream's acknowledgement protocol, published on the delivery's reply
 * subject from the main loop. */
static void
work_ack (Work *work, const gchar *what)
{
  WeWorkerNats *self = work->owner;

  if (self->nc == NULL || work->ack_reply == NULL)
    return;
  natsConnection_PublishString (self->nc, work->ack_reply, what);
}

static gboolean
work_progress_cb (gpointer user_data)
{
  Work *work = user_data;

  /* "working on it": keeps JetStream from giving the task to another
   * worker while this one is alive, including while the report waits */
  work_ack (work, "+WPI");
  return G_SOURCE_CONTINUE;
}

static void
work_free (Work *work)
{
  g_clear_handle_id (&work->progress_id, g_source_remove);
  g_clear_handle_id (&work->retry_id, g_source_remove);
  g_free (work->task_id);
  g_free (work->job_id);
  g_clear_pointer (&work->task, json_object_unref);
  g_free (work->ack_reply);
  g_free (work->events_subject);
  g_clear_pointer (&work->final, json_object_unref);
  g_free (work);
}

static void
work_end (Work *work)
{
  WeWorkerNats *self = work->owner;

  g_hash_table_remove (self->works, work->task_id);
  if (self->shared != NULL)
    pull_shared_release (self->shared);
  send_heartbeat (self, FALSE);
  maybe_teardown (self);
}

/* ---- reports ----------------------------------------------------------------- */

static void
work_publish (Work *work, JsonObject *msg)
{
  WeWorkerNats *self = work->owner;
  g_autoptr(GError) error = NULL;

  if (self->nc == NULL)
    return;
  json_object_set_string_member (msg, "worker_id", self->worker_id);
  json_object_set_int_member (msg, "attempt", work->attempt);
  if (!we_nats_publish_json (self->nc, work->events_subject, NULL, msg, &error))
    g_debug ("%s", error->message);
}

static gboolean
work_retry_final_cb (gpointer user_data)
{
  Work *work = user_data;

  work->retry_id = 0;
  work_send_final (work);
  return G_SOURCE_REMOVE;
}

static void
work_final_reply_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autofree gchar *task_id = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) reply = we_nats_request_finish (WE_NATS_REQUESTER (source), res, &error);
  WeWorkerNats *self;
  Work *work;
  JsonNode *ack;

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return; /* torn down: the message is redelivered, the kernel decides */
  self = g_object_get_data (source, "we-worker-nats");
  work = self != NULL ? g_hash_table_lookup (self->works, task_id) : NULL;
  if (work == NULL || work->state != WORK_REPORTING)
    return;
  ack = reply != NULL ? json_object_get_member (reply, "ack") : NULL;
  if (ack != NULL && JSON_NODE_HOLDS_VALUE (ack) &&
      json_node_get_value_type (ack) == G_TYPE_BOOLEAN && json_node_get_boolean (ack)) {
    /* only now is the work message done with: until the kernel has the
     * result, a crash here must leave the task to be run again */
    work_ack (work, "+ACK");
    we_log (G_LOG_LEVEL_INFO, work->task_id, NULL, "task %s: %s report delivered", task_id,
            we_worker_msg_type (work->final));
    work_end (work);
    return;
  }
  if (g_get_monotonic_time () > work->report_deadline_us) {
    we_log (G_LOG_LEVEL_WARNING, work->task_id,
            we_error_code_to_string (WE_ERROR_WRK_COMMUNICATION),
            "task %s: no kernel took its %s report in %d minutes; giving up on it", task_id,
            we_worker_msg_type (work->final), (gint) (WE_WORKER_NATS_REPORT_LIMIT_US /
                                                      G_TIME_SPAN_MINUTE));
    work_ack (work, "+TERM");
    work_end (work);
    return;
  }
  if (error != NULL)
    g_debug ("task %s: report not taken yet (%s); retrying", task_id, error->message);
  work->retry_id = g_timeout_add (WE_WORKER_NATS_REPORT_RETRY, work_retry_final_cb, work);
}

static void
work_send_final (Work *work)
{
  WeWorkerNats *self = work->owner;

  if (self->requester == NULL)
    return;
  we_nats_request_async (self->requester, work->events_subject, work->final,
                         WE_WORKER_NATS_REPORT_TIMEOUT, work_final_reply_cb,
                         g_strdup (work->task_id));
}

static void
work_report_final (Work *work, JsonObject *msg)
{
  WeWorkerNats *self = work->owner;
  const gchar *type = we_worker_msg_type (msg);
  JsonObject *final;

  if (g_strcmp0 (type, "cancelled") == 0 && !work->cancel_requested &&
      (work->stopping_cancel || work->stalled)) {
    /* nobody asked for this cancel: to the kernel it is a failure of this
     * worker, to be retried elsewhere */
    final = json_object_new ();
    json_object_set_string_member (final, "type", "failed");
    json_object_set_string_member (final, "task_id", work->task_id);
    json_object_set_string_member (final, "code",
                                   we_error_code_to_string (work->stalled
                                                              ? WE_ERROR_WRK_COMMUNICATION
                                                              : WE_ERROR_WRK_OFFLINE));
    json_object_set_string_member (final, "message",
                                   work->stalled ? "the task stalled and was stopped"
                                                 : "the worker shut down during the task");
    json_object_set_boolean_member (final, "retryable", TRUE);
  } else {
    final = json_object_ref (msg);
  }
  json_object_set_string_member (final, "worker_id", self->worker_id);
  json_object_set_int_member (final, "attempt", work->attempt);
  g_clear_pointer (&work->final, json_object_unref);
  work->final = final;
  work->state = WORK_REPORTING;
  work->report_deadline_us = g_get_monotonic_time () + WE_WORKER_NATS_REPORT_LIMIT_US;
  send_heartbeat (self, FALSE);
  work_send_final (work);
}

/* The WeWorker's transport: every message it sends comes here. */
static void
worker_send_cb (WeWorker *worker, JsonObject *msg, gpointer user_data)
{
  WeWorkerNats *self = user_data;
  const gchar *type = we_worker_msg_type (msg);
  const gchar *task_id = we_json_get_string (msg, "task_id");
  Work *work = task_id != NULL ? g_hash_table_lookup (self->works, task_id) : NULL;

  if (g_strcmp0 (type, "hello") == 0)
    return; /* heartbeats say it, see heartbeat_capabilities() */
  if (work == NULL || work->state != WORK_RUNNING) {
    g_debug ("dropping a \"%s\" report for task %s which is not running here", type,
             task_id != NULL ? task_id : "(none)");
    return;
  }
  work->last_report_us = g_get_monotonic_time ();
  if (we_worker_msg_type_is_final (type)) {
    work_report_final (work, msg);
    return;
  }
  {
    g_autoptr(JsonObject) copy = json_object_ref (msg);

    work_publish (work, copy);
  }
}

/* A report made up here for a task WeWorker never ran. */
static void
work_report_now (Work *work, const gchar *type, WeErrorCode code, const gchar *message)
{
  g_autoptr(JsonObject) msg = json_object_new ();

  json_object_set_string_member (msg, "type", type);
  json_object_set_string_member (msg, "task_id", work->task_id);
  if (code != WE_ERROR_LAST) {
    json_object_set_string_member (msg, "code", we_error_code_to_string (code));
    json_object_set_string_member (msg, "message", message);
    json_object_set_boolean_member (msg, "retryable", TRUE);
  }
  work_report_final (work, msg);
}

/* ---- claims ---------------------------------------------------------------- */

static void
work_run (Work *work)
{
  WeWorkerNats *self = work->owner;
  g_autoptr(JsonObject) msg = json_object_new ();

  work->state = WORK_RUNNING;
  work->last_report_us = g_get_monotonic_time ();
  we_log (G_LOG_LEVEL_INFO, work->task_id, NULL, "task %s (attempt %" G_GINT64_FORMAT
          ") claimed", work->task_id, work->attempt);
  json_object_set_string_member (msg, "type", "task");
  json_object_set_object_member (msg, "task", json_object_ref (work->task));
  we_worker_receive (self->worker, msg);
}

static void
work_claim_reply_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autofree gchar *task_id = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) reply = we_nats_request_finish (WE_NATS_REQUESTER (source), res, &error);
  WeWorkerNats *self;
  Work *work;
  JsonNode *granted;
  gboolean retry;

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  self = g_object_get_data (source, "we-worker-nats");
  work = self != NULL ? g_hash_table_lookup (self->works, task_id) : NULL;
  if (work == NULL || work->state != WORK_CLAIMING)
    return;
  granted = reply != NULL ? json_object_get_member (reply, "granted") : NULL;
  if (granted != NULL && JSON_NODE_HOLDS_VALUE (granted) &&
      json_node_get_value_type (granted) == G_TYPE_BOOLEAN && json_node_get_boolean (granted)) {
    if (work->cancel_requested) {
      work->state = WORK_RUNNING;
      work_report_now (work, "cancelled", WE_ERROR_LAST, NULL);
    } else if (self->stopping && self->grace_over) {
      work->state = WORK_RUNNING;
      work_report_now (work, "failed", WE_ERROR_WRK_OFFLINE,
                       "the worker shut down before the task started");
    } else {
      work_run (work);
    }
    return;
  }

  retry = reply != NULL && json_object_get_boolean_member_with_default (reply, "retry", FALSE);
  if (error != NULL) {
    we_log (G_LOG_LEVEL_INFO, task_id, NULL, "task %s: no kernel granted it (%s); dropping the "
            "message", task_id, error->message);
  } else {
    we_log (G_LOG_LEVEL_INFO, task_id, NULL, "task %s: claim refused (%s)", task_id,
            json_object_get_string_member_with_default (reply, "reason", "no reason given"));
  }
  if (retry) {
    /* meant for another worker: back into the queue for it */
    g_autofree gchar *nak = g_strdup_printf ("-NAK {\"delay\":%" G_GINT64_FORMAT "}",
                                             (gint64) WE_WORKER_NATS_NAK_DELAY_MS * 1000000);
    work_ack (work, nak);
  } else {
    /* the kernel that knew the task says no, or no kernel knows it: the
     * store is the truth and a kernel re-dispatches from it */
    work_ack (work, "+TERM");
  }
  work_end (work);
}

static void
on_work (GObject *target, WeNatsMsg *msg)
{
  WeWorkerNats *self = WE_WORKER_NATS (target);
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) payload = NULL;
  g_autoptr(JsonObject) claim = NULL;
  g_autofree gchar *job_token = NULL;
  g_autofree gchar *task_token = NULL;
  g_autofree gchar *claim_subject = NULL;
  JsonObject *task;
  const gchar *task_id;
  Work *work;

  if (self->tearing_down || self->nc == NULL) {
    pull_shared_release (self->shared);
    return;
  }
  if (self->test_exit_after_fetch) {
    /* TEST ONLY: a crash between fetching a task and claiming it */
    g_printerr ("WE_WORKER_TEST_EXIT_AFTER_FETCH: exiting with task message unclaimed\n");
    _exit (3);
  }
  if (self->draining || self->stopping) {
    /* fetched just as we stopped taking work: hand it to someone else */
    natsConnection_PublishString (self->nc, msg->reply, "-NAK");
    pull_shared_release (self->shared);
    return;
  }
  if (g_hash_table_size (self->works) >= WE_WORKER_NATS_MAX_PARALLEL) {
    /* pullers of two routes fetched into the same free slot: the later
     * message goes back at once, to a worker with room, not to a claim
     * this worker would have to fail */
    natsConnection_PublishString (self->nc, msg->reply, "-NAK");
    pull_shared_release (self->shared);
    return;
  }
  payload = we_nats_msg_parse (msg, &error);
  task = payload != NULL && g_strcmp0 (we_worker_msg_type (payload), "task") == 0 &&
         json_object_has_member (payload, "task") &&
         JSON_NODE_HOLDS_OBJECT (json_object_get_member (payload, "task"))
           ? json_object_get_object_member (payload, "task") : NULL;
  task_id = we_json_get_string (task, "id");
  if (task_id == NULL || *task_id == '\0' || strlen (task_id) > 256) {
    g_warning ("dropping an unusable task message on %s: %s", msg->subject,
               error != NULL ? error->message : "no task id");
    natsConnection_PublishString (self->nc, msg->reply, "+TERM");
    pull_shared_release (self->shared);
    return;
  }

  work = g_hash_table_lookup (self->works, task_id);
  if (work != NULL) {
    if (work->stream_seq == msg->stream_seq) {
      /* our own message again (an in-progress ack came too late): follow
       * the newest delivery */
      g_free (work->ack_reply);
      work->ack_reply = g_strdup (msg->reply);
    } else {
      /* a second message for a task this worker has: never run twice */
      natsConnection_PublishString (self->nc, msg->reply, "+TERM");
    }
    pull_shared_release (self->shared);
    return;
  }

  work = g_new0 (Work, 1);
  work->owner = self;
  work->task_id = g_strdup (task_id);
  work->job_id = g_strdup (we_json_get_string (task, "job_id"));
  work->attempt = we_json_get_int (task, "attempt", 1);
  work->task = json_object_ref (task);
  work->ack_reply = g_strdup (msg->reply);
  work->stream_seq = msg->stream_seq;
  work->ack_wait_ms = msg->ack_wait_ms > 0 ? msg->ack_wait_ms : 30000;
  job_token = we_nats_token (work->job_id);
  task_token = we_nats_token (task_id);
  work->events_subject = g_strdup_printf ("%s%s.%s", WE_NATS_EVENTS_PREFIX, job_token,
                                          task_token);
  work->state = WORK_CLAIMING;
  g_hash_table_insert (self->works, g_strdup (task_id), work);
  work->progress_id = g_timeout_add (MAX (work->ack_wait_ms / 3, 200), work_progress_cb, work);
  we_log (G_LOG_LEVEL_DEBUG, task_id, NULL, "task %s fetched from route %s (delivery %"
          G_GUINT64_FORMAT ")", task_id, msg->route, msg->delivered);

  claim = json_object_new ();
  json_object_set_string_member (claim, "task_id", task_id);
  json_object_set_int_member (claim, "attempt", work->attempt);
  json_object_set_string_member (claim, "worker_id", self->worker_id);
  claim_subject = g_strconcat (WE_NATS_CLAIM_PREFIX, task_token, NULL);
  we_nats_request_async (self->requester, claim_subject, claim, WE_WORKER_NATS_CLAIM_TIMEOUT,
                         work_claim_reply_cb, g_strdup (task_id));
  send_heartbeat (self, FALSE);
}

/* ---- control ------------------------------------------------------------------- */

static void
set_draining (WeWorkerNats *self, gboolean draining)
{
  self->draining = draining;
  if (self->shared != NULL)
    pull_shared_set_paused (self->shared, self->draining || self->stopping);
  send_heartbeat (self, FALSE);
}

static void
work_cancel (Work *work, gboolean by_kernel)
{
  WeWorkerNats *self = work->owner;
  g_autoptr(JsonObject) msg = NULL;

  if (by_kernel)
    work->cancel_requested = TRUE;
  else
    work->stopping_cancel = TRUE;
  if (work->state != WORK_RUNNING || work->cancelled_us != 0)
    return;
  work->cancelled_us = g_get_monotonic_time ();
  msg = json_object_new ();
  json_object_set_string_member (msg, "type", "cancel");
  json_object_set_string_member (msg, "task_id", work->task_id);
  we_worker_receive (self->worker, msg);
}

static void
on_control (GObject *target, WeNatsMsg *msg)
{
  WeWorkerNats *self = WE_WORKER_NATS (target);
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) control = we_nats_msg_parse (msg, &error);
  const gchar *type;

  if (control == NULL) {
    g_debug ("ignoring control message: %s", error->message);
    return;
  }
  type = we_json_get_string (control, "type");
  if (g_strcmp0 (type, "cancel") == 0) {
    const gchar *task_id = we_json_get_string (control, "task_id");
    Work *work = task_id != NULL ? g_hash_table_lookup (self->works, task_id) : NULL;

    if (work != NULL) {
      we_log (G_LOG_LEVEL_INFO, task_id, NULL, "task %s: cancel requested", task_id);
      work_cancel (work, TRUE);
    }
  } else if (g_strcmp0 (type, "drain") == 0) {
    if (!self->draining)
      we_log (G_LOG_LEVEL_INFO, NULL, NULL, "draining: taking no new tasks");
    set_draining (self, TRUE);
  } else if (g_strcmp0 (type, "undrain") == 0) {
    if (self->draining)
      we_log (G_LOG_LEVEL_INFO, NULL, NULL, "taking tasks again");
    set_draining (self, FALSE);
  } else if (g_strcmp0 (type, "shutdown") == 0) {
    we_log (G_LOG_LEVEL_INFO, NULL, NULL, "the kernel asked this worker to shut down");
    we_worker_nats_shutdown (self);
  } else {
    g_debug ("ignoring control message of type \"%s\"", type != NULL ? type : "");
  }
}

/* ---- heartbeats ------------------------------------------------------------------ */

/* What this worker can do, as heartbeats carry it: collected once (the
 * registry scan is not free), after the plugins are loaded. */
static JsonObject *
heartbeat_capabilities (WeWorkerNats *self)
{
  if (self->capabilities == NULL) {
    JsonNode *ip;

    self->capabilities = we_worker_caps_collect (we_worker_get_plugin_host (self->worker),
                                                 WE_WORKER_NATS_MAX_PARALLEL);
    /* no routable interface found: the address NATS sees us at will do */
    ip = json_object_get_member (self->capabilities, "ip_address");
    if ((ip == NULL || JSON_NODE_HOLDS_NULL (ip)) && self->ip_address != NULL)
      json_object_set_string_member (self->capabilities, "ip_address", self->ip_address);
  }
  return json_object_ref (self->capabilities);
}

static const gchar *
work_state_to_string (WorkState state)
{
  switch (state) {
  case WORK_CLAIMING:
    return "claiming";
  case WORK_RUNNING:
    return "running";
  case WORK_REPORTING:
  default:
    return "reporting";
  }
}

static void
send_heartbeat (WeWorkerNats *self, gboolean leaving)
{
  g_autoptr(JsonObject) hb = json_object_new ();
  g_autoptr(GError) error = NULL;
  g_autofree gchar *subject = NULL;
  JsonArray *task_ids = json_array_new ();
  JsonArray *tasks = json_array_new ();
  GHashTableIter iter;
  gpointer value;
  guint busy = 0;

  if (self->nc == NULL) {
    json_array_unref (task_ids);
    json_array_unref (tasks);
    return;
  }
  g_hash_table_iter_init (&iter, self->works);
  while (g_hash_table_iter_next (&iter, NULL, &value)) {
    Work *work = value;
    JsonObject *entry = json_object_new ();

    json_array_add_string_element (task_ids, work->task_id);
    json_object_set_string_member (entry, "task_id", work->task_id);
    json_object_set_int_member (entry, "attempt", work->attempt);
    json_object_set_string_member (entry, "state", work_state_to_string (work->state));
    json_array_add_object_element (tasks, entry);
    busy++;
  }
  json_object_set_string_member (hb, "worker_id", self->worker_id);
  json_object_set_string_member (hb, "hostname", self->hostname);
  json_object_set_string_member (hb, "ip_address",
                                 self->ip_address != NULL ? self->ip_address : "");
  json_object_set_string_member (hb, "version", PACKAGE_VERSION);
  json_object_set_int_member (hb, "pid", getpid ());
  json_object_set_object_member (hb, "capabilities", heartbeat_capabilities (self));
  json_object_set_int_member (hb, "slots_total", WE_WORKER_NATS_MAX_PARALLEL);
  json_object_set_int_member (hb, "slots_free",
                              leaving ? 0 : MAX (WE_WORKER_NATS_MAX_PARALLEL - (gint) busy, 0));
  json_object_set_boolean_member (hb, "draining", self->draining || self->stopping);
  json_object_set_array_member (hb, "task_ids", task_ids);
  json_object_set_array_member (hb, "tasks", tasks);
  json_object_set_string_member (hb, "started_at", self->started_at);
  /* the host's load for the dashboard (docs/api.md "Workers"); /proc and
   * statvfs answer from the kernel's memory, so this does not block */
  {
    WeSysinfo info;
    g_autoptr(GError) sys_error = NULL;

    if (we_sysinfo_read (self->scratch_dir, &self->cpu, &info, &sys_error))
      json_object_set_object_member (hb, "resources", we_sysinfo_to_json (&info));
    else
      g_debug ("heartbeat: %s", sys_error->message);
  }
  if (leaving)
    json_object_set_boolean_member (hb, "leaving", TRUE);
  subject = g_strconcat (WE_NATS_HEARTBEAT_PREFIX, self->worker_id, NULL);
  if (!we_nats_publish_json (self->nc, subject, NULL, hb, &error))
    g_debug ("heartbeat: %s", error->message);
}

static gboolean
heartbeat_cb (gpointer user_data)
{
  send_heartbeat (user_data, FALSE);
  return G_SOURCE_CONTINUE;
}

/* A task silent for the stall timeout is wedged (a decoder that stopped
 * producing): cancel it; one deaf to the cancel costs the process. */
static gboolean
watchdog_cb (gpointer user_data)
{
  WeWorkerNats *self = user_data;
  gint64 now = g_get_monotonic_time ();
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, self->works);
  while (g_hash_table_iter_next (&iter, NULL, &value)) {
    Work *work = value;

    if (work->state != WORK_RUNNING)
      continue;
    if (work->cancelled_us != 0 &&
        now - work->cancelled_us > WE_WORKER_NATS_CANCEL_GRACE_S * G_TIME_SPAN_SECOND) {
      we_log (G_LOG_LEVEL_WARNING, work->task_id,
              we_error_code_to_string (WE_ERROR_WRK_COMMUNICATION),
              "task %s does not answer its cancel; leaving so JetStream hands it on",
              work->task_id);
      self->exit_status = 1;
      self->watchdog_id = 0;
      we_worker_nats_shutdown (self);
      self->grace_over = TRUE;
      g_hash_table_remove_all (self->works);
      maybe_teardown (self);
      return G_SOURCE_REMOVE;
    }
    if (self->stall_timeout_s > 0 && work->cancelled_us == 0 &&
        now - work->last_report_us > (gint64) self->stall_timeout_s * G_TIME_SPAN_SECOND) {
      we_log (G_LOG_LEVEL_WARNING, work->task_id,
              we_error_code_to_string (WE_ERROR_WRK_COMMUNICATION),
              "task %s stalled (no progress for %u s); cancelling it", work->task_id,
              self->stall_timeout_s);
      work->stalled = TRUE;
      work_cancel (work, FALSE);
    }
  }
  return G_SOURCE_CONTINUE;
}

/* ---- connecting ---------------------------------------------------------------- */

static void
connect_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  const gchar *url = task_data;
  g_autofree gchar *safe = we_nats_redact_url (url);
  guint backoff = 250;
  guint failures = 0;

  while (!g_cancellable_is_cancelled (cancellable)) {
    g_autoptr(GError) error = NULL;
    natsConnection *nc = we_nats_connect (url, "webencode-worker", &error);

    if (nc != NULL) {
      g_task_return_pointer (task, nc, NULL);
      return;
    }
    if (failures++ % 30 == 0)
      g_warning ("NATS at %s is not reachable yet, retrying: %s", safe, error->message);
    for (guint slept = 0; slept < backoff && !g_cancellable_is_cancelled (cancellable);
         slept += 50)
      g_usleep (50 * G_TIME_SPAN_MILLISECOND);
    backoff = MIN (backoff * 2, 5000);
  }
  g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CANCELLED, "cancelled");
}

static void
connected_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(WeWorkerNats) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) caps = NULL;
  g_autoptr(GPtrArray) routes = NULL;
  g_autofree gchar *control_subject = NULL;
  g_autofree gchar *safe_url = NULL;
  natsConnection *nc = g_task_propagate_pointer (G_TASK (res), &error);
  char *ip = NULL;
  int port = 0;

  if (nc == NULL) {
    maybe_teardown (self);
    return;
  }
  self->nc = nc;
  if (self->tearing_down || self->stopping) {
    maybe_teardown (self);
    return;
  }
  if (natsConnection_GetLocalIPAndPort (nc, &ip, &port) == NATS_OK && ip != NULL)
    self->ip_address = g_strdup (ip);
  free (ip);

  self->requester = we_nats_requester_new (nc, &error);
  if (self->requester != NULL) {
    g_object_set_data (G_OBJECT (self->requester), "we-worker-nats", self);
    control_subject = g_strconcat (WE_NATS_CONTROL_PREFIX, self->worker_id, NULL);
    self->control_sub = we_nats_subscribe (nc, control_subject, self->bridge, on_control, &error);
  }
  if (self->control_sub == NULL) {
    we_log (G_LOG_LEVEL_CRITICAL, NULL, we_error_code_to_string (WE_ERROR_SYS_QUEUE), "%s",
            error->message);
    self->exit_status = 1;
    we_worker_nats_shutdown (self);
    return;
  }
  safe_url = we_nats_redact_url (self->url);
  we_log (G_LOG_LEVEL_INFO, NULL, NULL, "worker %s connected to NATS at %s", self->worker_id,
          safe_url);

  self->shared->nc = nc;
  caps = heartbeat_capabilities (self);
  routes = we_nats_routes_for_capabilities (caps);
  for (guint i = 0; i < routes->len; i++) {
    Puller *p = g_new0 (Puller, 1);
    g_autofree gchar *name = g_strdup_printf ("we-pull-%s",
                                              (gchar *) g_ptr_array_index (routes, i));

    p->shared = pull_shared_ref (self->shared);
    p->route = g_strdup (g_ptr_array_index (routes, i));
    p->thread = g_thread_new (name, puller_thread, p);
    g_ptr_array_add (self->pullers, p);
  }
  send_heartbeat (self, FALSE);
  self->heartbeat_id = g_timeout_add (self->heartbeat_ms, heartbeat_cb, self);
  self->watchdog_id = g_timeout_add_seconds (1, watchdog_cb, self);
}

/* ---- stopping ---------------------------------------------------------------- */

static void
teardown_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  WeWorkerNats *self = source;

  /* joins every puller (each within one fetch timeout) */
  g_ptr_array_set_size (self->pullers, 0);
  if (self->nc != NULL) {
    natsConnection_FlushTimeout (self->nc, 1000);
    natsConnection_Close (self->nc);
    natsConnection_Destroy (self->nc);
  }
  g_task_return_boolean (task, TRUE);
}

static void
worker_finished_cb (WeWorker *worker, gpointer user_data)
{
  WeWorkerNats *self = user_data;

  if (self->finished)
    return;
  self->finished = TRUE;
  g_signal_emit (self, signals[SIGNAL_FINISHED], 0);
}

static void
teardown_done_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  WeWorkerNats *self = WE_WORKER_NATS (source);

  self->nc = NULL;
  we_log (G_LOG_LEVEL_INFO, NULL, NULL, "worker %s stopped", self->worker_id);
  /* any task still there ignored its cancel; WeWorker gives it a moment */
  we_worker_shutdown (self->worker);
}

static void
maybe_teardown (WeWorkerNats *self)
{
  g_autoptr(GTask) task = NULL;

  if (!self->stopping || self->tearing_down || g_hash_table_size (self->works) > 0)
    return;
  if (self->nc == NULL && self->connect_cancellable != NULL &&
      !g_cancellable_is_cancelled (self->connect_cancellable)) {
    /* still connecting: connected_cb comes back here once that ends */
    g_cancellable_cancel (self->connect_cancellable);
    return;
  }
  self->tearing_down = TRUE;
  g_clear_handle_id (&self->heartbeat_id, g_source_remove);
  g_clear_handle_id (&self->watchdog_id, g_source_remove);
  g_clear_handle_id (&self->grace_id, g_source_remove);
  /* the kernel marks us offline now instead of after missed heartbeats */
  send_heartbeat (self, TRUE);
  g_clear_pointer (&self->control_sub, we_nats_unsubscribe);
  if (self->requester != NULL)
    we_nats_requester_close (self->requester);
  g_mutex_lock (&self->shared->lock);
  self->shared->quit = TRUE;
  g_cond_broadcast (&self->shared->cond);
  g_mutex_unlock (&self->shared->lock);

  task = g_task_new (self, NULL, teardown_done_cb, NULL);
  g_task_set_source_tag (task, maybe_teardown);
  g_task_run_in_thread (task, teardown_thread);
}

static gboolean
grace_over_cb (gpointer user_data)
{
  WeWorkerNats *self = user_data;

  self->grace_id = 0;
  if (g_hash_table_size (self->works) > 0) {
    /* unacked, their messages go to another worker after AckWait, and the
     * kernel fails what we held when our goodbye heartbeat arrives */
    we_log (G_LOG_LEVEL_WARNING, NULL, we_error_code_to_string (WE_ERROR_WRK_COMMUNICATION),
            "leaving with %u task(s) whose report no kernel took",
            g_hash_table_size (self->works));
    g_hash_table_remove_all (self->works);
  }
  maybe_teardown (self);
  return G_SOURCE_REMOVE;
}

static gboolean
grace_cb (gpointer user_data)
{
  WeWorkerNats *self = user_data;
  GHashTableIter iter;
  gpointer value;

  self->grace_id = 0;
  self->grace_over = TRUE;
  g_hash_table_iter_init (&iter, self->works);
  while (g_hash_table_iter_next (&iter, NULL, &value)) {
    Work *work = value;

    if (work->state == WORK_RUNNING) {
      we_log (G_LOG_LEVEL_INFO, work->task_id, NULL, "stopping: cancelling task %s",
              work->task_id);
      work_cancel (work, FALSE);
    }
  }
  /* reports that no kernel takes must not hold the exit up for long */
  self->grace_id = g_timeout_add_seconds (self->report_grace_s, grace_over_cb, self);
  return G_SOURCE_REMOVE;
}

void
we_worker_nats_shutdown (WeWorkerNats *self)
{
  g_return_if_fail (WE_IS_WORKER_NATS (self));

  if (self->stopping) {
    /* asked twice: do not wait for the running task */
    if (!self->grace_over && self->grace_id != 0) {
      g_clear_handle_id (&self->grace_id, g_source_remove);
      grace_cb (self);
    }
    return;
  }
  self->stopping = TRUE;
  we_log (G_LOG_LEVEL_INFO, NULL, NULL, "stopping: taking no new tasks%s",
          g_hash_table_size (self->works) > 0 ? ", finishing the running one" : "");
  if (self->shared != NULL)
    pull_shared_set_paused (self->shared, TRUE);
  send_heartbeat (self, FALSE);
  self->grace_id = g_timeout_add_seconds (self->stop_grace_s, grace_cb, self);
  maybe_teardown (self);
}

/**
 * we_worker_nats_abandon:
 * @self: the worker
 *
 * Stops at once: running tasks are cancelled now and their reports get a
 * second to reach a kernel. For a worker whose kernel went away (it started
 * the worker and died): the kernel that takes its jobs over runs them
 * again, and a restarted kernel starts a worker under the same id.
 */
void
we_worker_nats_abandon (WeWorkerNats *self)
{
  g_return_if_fail (WE_IS_WORKER_NATS (self));

  self->report_grace_s = 1;
  we_worker_nats_shutdown (self);
  we_worker_nats_shutdown (self);
  /* a shutdown asked for earlier may already wait out the longer report
   * grace of a cancel: cut it to ours */
  if (self->grace_over && self->grace_id != 0) {
    g_clear_handle_id (&self->grace_id, g_source_remove);
    self->grace_id = g_timeout_add_seconds (self->report_grace_s, grace_over_cb, self);
  }
}

gint
we_worker_nats_get_exit_status (WeWorkerNats *self)
{
  g_return_val_if_fail (WE_IS_WORKER_NATS (self), 1);

  return self->exit_status;
}

gboolean
we_worker_nats_is_busy (WeWorkerNats *self)
{
  g_return_val_if_fail (WE_IS_WORKER_NATS (self), FALSE);

  return we_worker_is_busy (self->worker);
}

static JsonObject *
plugin_config_cb (const gchar *plugin_id, gpointer user_data)
{
  return we_config_get_plugin_config (WE_CONFIG (user_data), plugin_id);
}

void
we_worker_nats_start (WeWorkerNats *self)
{
  g_autoptr(JsonObject) configure = json_object_new ();
  g_autoptr(GTask) task = NULL;
  g_auto(GStrv) disabled = we_config_get_disabled_plugins (self->config);
  JsonArray *disabled_json = json_array_new ();

  g_return_if_fail (WE_IS_WORKER_NATS (self));
  g_return_if_fail (self->connect_cancellable == NULL);

  /* the same configure message the kernel sends a local worker, from our
   * own configuration: plugins load before the first task arrives */
  for (guint i = 0; disabled[i] != NULL; i++)
    json_array_add_string_element (disabled_json, disabled[i]);
  json_object_set_string_member (configure, "type", "configure");
  json_object_set_string_member (configure, "worker_id", self->worker_id);
  json_object_set_string_member (configure, "scratch_dir", self->scratch_dir);
  json_object_set_string_member (configure, "plugin_dir", self->plugin_dir);
  if (self->gst_debug != NULL)
    json_object_set_string_member (configure, "gst_debug", self->gst_debug);
  json_object_set_array_member (configure, "disabled_plugins", disabled_json);
  json_object_set_object_member (configure, "secrets",
                                 we_secrets_settings_from_config (self->config));
  we_worker_start (self->worker);
  we_worker_receive (self->worker, configure);

  self->connect_cancellable = g_cancellable_new ();
  task = g_task_new (self, self->connect_cancellable, connected_cb, g_object_ref (self));
  g_task_set_source_tag (task, we_worker_nats_start);
  g_task_set_task_data (task, g_strdup (self->url), g_free);
  /* a connection made just as we were cancelled must still reach
   * connected_cb, which closes it */
  g_task_set_check_cancellable (task, FALSE);
  g_task_run_in_thread (task, connect_thread);
}

static void
we_worker_nats_dispose (GObject *object)
{
  WeWorkerNats *self = WE_WORKER_NATS (object);

  g_clear_handle_id (&self->heartbeat_id, g_source_remove);
  g_clear_handle_id (&self->watchdog_id, g_source_remove);
  g_clear_handle_id (&self->grace_id, g_source_remove);
  if (self->connect_cancellable != NULL)
    g_cancellable_cancel (self->connect_cancellable);
  if (self->works != NULL)
    g_hash_table_remove_all (self->works);
  g_clear_pointer (&self->control_sub, we_nats_unsubscribe);
  if (self->requester != NULL)
    we_nats_requester_close (self->requester);
  g_clear_object (&self->requester);
  if (self->shared != NULL) {
    g_mutex_lock (&self->shared->lock);
    self->shared->quit = TRUE;
    g_cond_broadcast (&self->shared->cond);
    g_mutex_unlock (&self->shared->lock);
  }
  if (self->pullers != NULL)
    g_ptr_array_set_size (self->pullers, 0);
  if (self->nc != NULL) {
    natsConnection_Close (self->nc);
    natsConnection_Destroy (self->nc);
    self->nc = NULL;
  }
  if (self->worker != NULL)
    g_signal_handlers_disconnect_by_data (self->worker, self);
  g_clear_object (&self->worker);
  G_OBJECT_CLASS (we_worker_nats_parent_class)->dispose (object);
}

static void
we_worker_nats_finalize (GObject *object)
{
  WeWorkerNats *self = WE_WORKER_NATS (object);

  g_clear_pointer (&self->works, g_hash_table_unref);
  g_clear_pointer (&self->pullers, g_ptr_array_unref);
  g_clear_pointer (&self->shared, pull_shared_unref);
  g_clear_pointer (&self->bridge, we_nats_bridge_unref);
  g_clear_pointer (&self->capabilities, json_object_unref);
  g_clear_object (&self->connect_cancellable);
  g_clear_object (&self->config);
  g_free (self->url);
  g_free (self->worker_id);
  g_free (self->scratch_dir);
  g_free (self->plugin_dir);
  g_free (self->gst_debug);
  g_free (self->started_at);
  g_free (self->hostname);
  g_free (self->ip_address);
  G_OBJECT_CLASS (we_worker_nats_parent_class)->finalize (object);
}

static void
we_worker_nats_class_init (WeWorkerNatsClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = we_worker_nats_dispose;
  object_class->finalize = we_worker_nats_finalize;

  /**
   * WeWorkerNats::finished:
   *
   * The worker has stopped (said goodbye and closed its connection): time
   * to exit with we_worker_nats_get_exit_status().
   */
  signals[SIGNAL_FINISHED] = g_signal_new ("finished", G_TYPE_FROM_CLASS (klass),
                                           G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                           G_TYPE_NONE, 0);
}

static void
we_worker_nats_init (WeWorkerNats *self)
{
  self->works = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                       (GDestroyNotify) work_free);
  self->pullers = g_ptr_array_new_with_free_func ((GDestroyNotify) puller_free);
  self->test_exit_after_fetch = g_getenv ("WE_WORKER_TEST_EXIT_AFTER_FETCH") != NULL;
}

WeWorkerNats *
we_worker_nats_new (WeConfig *config, const WeWorkerNatsOptions *options)
{
  WeWorkerNats *self;

  g_return_val_if_fail (WE_IS_CONFIG (config), NULL);
  g_return_val_if_fail (options != NULL && options->url != NULL && options->worker_id != NULL,
                        NULL);

  self = g_object_new (WE_TYPE_WORKER_NATS, NULL);
  self->config = g_object_ref (config);
  self->url = g_strdup (options->url);
  self->worker_id = g_strdup (options->worker_id);
  self->scratch_dir = g_strdup (options->scratch_dir);
  self->plugin_dir = g_strdup (options->plugin_dir);
  self->gst_debug = g_strdup (options->gst_debug);
  self->heartbeat_ms = MAX (options->heartbeat_ms, 50);
  self->stall_timeout_s = options->stall_timeout_s;
  self->stop_grace_s = options->stop_grace_s;
  self->report_grace_s = WE_WORKER_NATS_CANCEL_GRACE_S;
  self->started_at = we_time_format (g_get_real_time ());
  self->hostname = g_strdup (g_get_host_name ());
  self->bridge = we_nats_bridge_new (G_OBJECT (self), NULL);
  self->shared = g_new0 (PullShared, 1);
  g_atomic_ref_count_init (&self->shared->ref);
  g_mutex_init (&self->shared->lock);
  g_cond_init (&self->shared->cond);
  self->shared->free = WE_WORKER_NATS_MAX_PARALLEL;
  self->shared->bridge = we_nats_bridge_ref (self->bridge);

  self->worker = we_worker_new_with_transport (worker_send_cb, self, NULL, self->worker_id);
  we_worker_set_plugin_config_func (self->worker, plugin_config_cb, g_object_ref (config),
                                    g_object_unref);
  g_signal_connect (self->worker, "finished", G_CALLBACK (worker_finished_cb), self);
  return self;
}
