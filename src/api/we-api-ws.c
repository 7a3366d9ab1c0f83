/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "common/we-json.h"
#include "common/we-log.h"
#include "common/we-sysinfo.h"
#include "core/we-rbac.h"
#include "queue/we-queue-nats.h"
#include "we-api-private.h"
#include "we-api-ws.h"

#define TICKET_PREFIX "wst_"
#define MAX_TICKETS 10000
/* at most 4 events a second per job (docs/api.md) */
#define JOB_FLUSH_MS 250
/* how many recent jobs the dashboard tick reads to count the last 24 h */
#define DASHBOARD_SCAN 500
/* beyond this libsoup drops the connection without reading the frame */
#define WE_WS_HARD_MAX_MESSAGE (4 * WE_WS_MAX_MESSAGE)

typedef struct {
  WeIdentity *identity;
  gint64      expires; /* monotonic µs */
} Ticket;

typedef struct {
  JsonObject *json;       /* latest state seen */
  gint64      last_sent;  /* monotonic µs; 0 = never */
  gboolean    dirty;      /* changed since last sent */
} JobState;

typedef struct {
  WeWsHub                 *hub;
  SoupWebsocketConnection *ws;
  WeIdentity              *identity;
  GHashTable              *topics;   /* set of topic strings */
  gchar                   *peer;
} Conn;

struct _WeWsHub {
  WeApiServer *server;
  GHashTable  *tickets;     /* "sha256:<hex>" → Ticket */
  GList       *conns;       /* Conn */
  GHashTable  *jobs;        /* job id → JobState, jobs someone follows */
  gulong       changed_id;
  gulong       live_id;     /* the live kernel's "event": topics stream:<id> */
  GObject     *restreams;   /* nullable: the restream manager (core/we-restream.h) */
  gulong       restreams_id; /* its "event": topics restream:<id> */
  guint        flush_id;    /* JOB_FLUSH_MS timer */
  guint        tick_id;     /* 1 s timer */
  gboolean     tick_busy;   /* a store read for the tick is in flight */
  gboolean     tick_again;  /* someone subscribed while it was */
  GCancellable *cancellable;
  guint        ticket_ttl_s;
  WeCpuSample  cpu;         /* the last tick's, for the next one's CPU use */
  gboolean     have_system; /* system is valid */
  WeSysinfo    system;      /* the kernel host's figures at the last tick */
  gint64       system_at;   /* monotonic µs they were read */
  JsonObject  *last_dashboard; /* the last good one, repeated when the store fails */
};

static void
ticket_free (Ticket *ticket)
{
  we_identity_free (ticket->identity);
  g_free (ticket);
}

static void
job_state_free (JobState *state)
{
  g_clear_pointer (&state->json, json_object_unref);
  g_free (state);
}

static const WeApiContext *
hub_ctx (WeWsHub *hub)
{
  return we_api_server_get_context (hub->server);
}

/* --- sending --- */

static void
conn_send (Conn *conn, JsonObject *object)
{
  g_autoptr(JsonNode) node = json_node_init_object (json_node_alloc (), object);
  g_autofree gchar *text = NULL;

  if (soup_websocket_connection_get_state (conn->ws) != SOUP_WEBSOCKET_STATE_OPEN)
    return;
  text = json_to_string (node, FALSE);
  soup_websocket_connection_send_text (conn->ws, text);
}

static void
conn_send_simple (Conn *conn, const gchar *type, const gchar *topic, const gchar *id)
{
  g_autoptr(JsonObject) o = json_object_new ();

  json_object_set_string_member (o, "type", type);
  if (topic != NULL)
    json_object_set_string_member (o, "topic", topic);
  if (id != NULL)
    json_object_set_string_member (o, "id", id);
  conn_send (conn, o);
}

static void
conn_send_error (Conn *conn, const gchar *id, const GError *error)
{
  g_autoptr(JsonObject) o = json_object_new ();
  JsonObject *e = json_object_new ();

  json_object_set_string_member (o, "type", "error");
  if (id != NULL)
    json_object_set_string_member (o, "id", id);
  json_object_set_string_member (e, "code",
                                 we_error_code_to_string (we_error_code_from_gerror (error)));
  json_object_set_string_member (e, "message", error->message);
  json_object_set_object_member (o, "error", e);
  conn_send (conn, o);
}

static void
conn_send_event (Conn *conn, const gchar *topic, JsonObject *data)
{
  g_autoptr(JsonObject) o = json_object_new ();

  json_object_set_string_member (o, "type", "event");
  json_object_set_string_member (o, "topic", topic);
  json_object_set_object_member (o, "data", json_object_ref (data));
  conn_send (conn, o);
}

static gboolean
conn_has_prefix (Conn *conn, const gchar *prefix)
{
  GHashTableIter iter;
  gpointer key;

  g_hash_table_iter_init (&iter, conn->topics);
  while (g_hash_table_iter_next (&iter, &key, NULL)) {
    if (g_str_has_prefix (key, prefix))
      return TRUE;
  }
  return FALSE;
}

static gboolean
hub_wants (WeWsHub *hub, const gchar *prefix)
{
  for (GList *l = hub->conns; l != NULL; l = l->next)
    if (conn_has_prefix (l->data, prefix))
      return TRUE;
  return FALSE;
}

/* --- job events --- */

static gboolean
job_is_followed (WeWsHub *hub, const gchar *job_id)
{
  g_autofree gchar *topic = g_strconcat ("job:", job_id, NULL);

  for (GList *l = hub->conns; l != NULL; l = l->next) {
    Conn *conn = l->data;

    if (g_hash_table_contains (conn->topics, "jobs") ||
        g_hash_table_contains (conn->topics, topic))
      return TRUE;
  }
  return FALSE;
}

static void
send_job (WeWsHub *hub, const gchar *job_id, JobState *state)
{
  g_autofree gchar *topic = g_strconcat ("job:", job_id, NULL);

  for (GList *l = hub->conns; l != NULL; l = l->next) {
    Conn *conn = l->data;

    if (g_hash_table_contains (conn->topics, topic))
      conn_send_event (conn, topic, state->json);
    if (g_hash_table_contains (conn->topics, "jobs"))
      conn_send_event (conn, "jobs", state->json);
  }
  state->last_sent = g_get_monotonic_time ();
  state->dirty = FALSE;
}

static gboolean
job_json_is_active (JsonObject *json)
{
  WeJobStatus status;

  return we_job_status_from_string (we_json_get_string (json, "status"), &status) &&
         !we_job_status_is_final (status);
}

/* Every JOB_FLUSH_MS: what changed goes out (so at most 4 a second per job,
 * the latest state winning), and an active job nobody heard of for a second
 * is repeated so its ETA and the client's liveness check stay fresh. */
static gboolean
flush_cb (gpointer user_data)
{
  WeWsHub *hub = user_data;
  gint64 now = g_get_monotonic_time ();
  GHashTableIter iter;
  gpointer key, value;

  g_hash_table_iter_init (&iter, hub->jobs);
  while (g_hash_table_iter_next (&iter, &key, &value)) {
    JobState *state = value;

    if (!job_is_followed (hub, key)) {
      g_hash_table_iter_remove (&iter);
      continue;
    }
    if (state->dirty ||
        (job_json_is_active (state->json) && now - state->last_sent >= G_USEC_PER_SEC))
      send_job (hub, key, state);
    if (!job_json_is_active (state->json) && !state->dirty)
      g_hash_table_iter_remove (&iter); /* final: nothing more will come */
  }
  return G_SOURCE_CONTINUE;
}

static void
hub_note_job (WeWsHub *hub, JsonObject *json, gboolean sent)
{
  const gchar *id = we_json_get_string (json, "id");
  JobState *state;

  if (id == NULL)
    return;
  state = g_hash_table_lookup (hub->jobs, id);
  if (state == NULL) {
    state = g_new0 (JobState, 1);
    g_hash_table_insert (hub->jobs, g_strdup (id), state);
  }
  g_clear_pointer (&state->json, json_object_unref);
  state->json = json_object_ref (json);
  if (sent)
    state->last_sent = g_get_monotonic_time ();
  else
    state->dirty = TRUE;
}

static void
job_changed_cb (WeScheduler *scheduler, WeJob *job, gpointer user_data)
{
  WeWsHub *hub = user_data;
  g_autoptr(JsonObject) json = NULL;

  if (!job_is_followed (hub, job->id))
    return;
  json = we_job_to_json (job);
  hub_note_job (hub, json, FALSE);
}

/* --- dashboard and workers, every second --- */

/* What a tick's thread is given and finds. */
typedef struct {
  /* in */
  gboolean     want_jobs;
  gchar       *data_dir;
  WeCpuSample  cpu;       /* inout: the previous sample, then this one */
  /* out */
  GPtrArray   *records;   /* WeWorkerRecord */
  GPtrArray   *jobs;      /* WeJob, newest first */
  gdouble      db_latency_ms;
  gboolean     have_system;
  WeSysinfo    system;
} TickData;

static void
tick_data_free (TickData *d)
{
  g_free (d->data_dir);
  g_clear_pointer (&d->records, g_ptr_array_unref);
  g_clear_pointer (&d->jobs, g_ptr_array_unref);
  g_free (d);
}

static void
tick_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  WeStore *store = WE_STORE (source);
  TickData *d = task_data;
  GError *error = NULL;
  g_autoptr(GError) sys_error = NULL;
  gint64 t0 = g_get_monotonic_time ();

  d->records = we_store_worker_list (store, &error);
  if (d->records != NULL && d->want_jobs) {
    WeJobFilter filter = { 0 };

    filter.limit = DASHBOARD_SCAN;
    d->jobs = we_store_job_list (store, &filter, NULL, &error);
  }
  /* the dashboard's database health: how long this tick's reads took */
  d->db_latency_ms = (gdouble) (g_get_monotonic_time () - t0) / 1000.0;
  d->have_system = we_sysinfo_read (d->data_dir, &d->cpu, &d->system, &sys_error);
  if (!d->have_system)
    g_debug ("websocket tick: %s", sys_error->message);
  if (error != NULL) {
    g_task_return_error (task, error);
    return;
  }
  g_task_return_boolean (task, TRUE);
}

void
we_ws_hub_add_worker_resources (WeWsHub *hub, JsonObject *worker)
{
  JsonObject *r;

  if (hub == NULL || json_object_has_member (worker, "resources") || !hub->have_system ||
      g_get_monotonic_time () - hub->system_at > 5 * G_USEC_PER_SEC ||
      WE_IS_QUEUE_NATS (hub_ctx (hub)->queue) ||
      g_strcmp0 (we_json_get_string (worker, "status"), "offline") == 0)
    return;
  /* a local queue's workers are child processes of this kernel */
  r = json_object_new ();
  json_object_set_double_member (r, "cpu_pct", ((gint64) (hub->system.cpu_pct * 10 + 0.5)) / 10.0);
  json_object_set_double_member (r, "mem_pct", ((gint64) (hub->system.mem_pct * 10 + 0.5)) / 10.0);
  json_object_set_object_member (worker, "resources", r);
}

static JsonObject *
health_json (const WeApiContext *ctx, gboolean db_ok, gdouble db_latency_ms)
{
  JsonObject *o = json_object_new ();
  JsonObject *db = json_object_new ();
  JsonObject *queue = json_object_new ();
  JsonObject *plugins = json_object_new ();
  GPtrArray *infos = ctx->host != NULL ? we_plugin_host_get_plugins (ctx->host) : NULL;
  gint64 counts[4] = { 0 };

  json_object_set_boolean_member (db, "ok", db_ok);
  json_object_set_double_member (db, "latency_ms", ((gint64) (db_latency_ms * 100 + 0.5)) / 100.0);
  json_object_set_string_member (db, "backend", ctx->store_kind != NULL ? ctx->store_kind
                                                                        : "sqlite");
  json_object_set_object_member (o, "database", db);
  /* ok: work can be handed out through it, i.e. a worker slot is reachable */
  json_object_set_boolean_member (queue, "ok", we_queue_total_slots (ctx->queue) > 0);
  json_object_set_string_member (queue, "kind", WE_IS_QUEUE_NATS (ctx->queue) ? "nats" : "local");
  json_object_set_object_member (o, "queue", queue);
  for (guint i = 0; infos != NULL && i < infos->len; i++) {
    const WePluginInfo *info = g_ptr_array_index (infos, i);

    if ((guint) info->state < G_N_ELEMENTS (counts))
      counts[info->state]++;
  }
  json_object_set_int_member (plugins, "healthy", counts[WE_PLUGIN_STATE_HEALTHY]);
  json_object_set_int_member (plugins, "degraded", counts[WE_PLUGIN_STATE_DEGRADED]);
  json_object_set_int_member (plugins, "failed", counts[WE_PLUGIN_STATE_FAILED]);
  json_object_set_int_member (plugins, "disabled", counts[WE_PLUGIN_STATE_DISABLED]);
  json_object_set_object_member (o, "plugins", plugins);
  return o;
}

static JsonObject *
dashboard_json (JsonArray *workers, GPtrArray *jobs)
{
  JsonObject *o = json_object_new ();
  JsonObject *j24 = json_object_new ();
  JsonObject *w = json_object_new ();
  JsonArray *recent = json_array_new ();
  gint64 since = g_get_real_time () - 24 * G_TIME_SPAN_HOUR;
  gint64 total = 0, completed = 0, failed = 0, cancelled = 0, queued = 0, processing = 0;
  gint64 active = 0;
  gint64 online = 0, busy = 0, draining = 0, offline = 0;
  gint64 timed = 0;
  gdouble processing_s = 0;

  for (guint i = 0; jobs != NULL && i < jobs->len; i++) {
    WeJob *job = g_ptr_array_index (jobs, i);

    if (i < 10)
      json_array_add_object_element (recent, we_job_to_json (job));
    if (!we_job_status_is_final (job->status))
      active++;
    if (job->created_at < since)
      continue;
    total++;
    switch (job->status) {
    case WE_JOB_STATUS_COMPLETED:
      completed++;
      if (job->started_at > 0 && job->finished_at >= job->started_at) {
        processing_s += (gdouble) (job->finished_at - job->started_at) / G_USEC_PER_SEC;
        timed++;
      }
      break;
    case WE_JOB_STATUS_FAILED: failed++; break;
    case WE_JOB_STATUS_CANCELLED: cancelled++; break;
    case WE_JOB_STATUS_QUEUED: queued++; break;
    case WE_JOB_STATUS_PROCESSING:
    case WE_JOB_STATUS_STITCHING:
    case WE_JOB_STATUS_UPLOADING: processing++; break;
    case WE_JOB_STATUS_LAST:
    default: break;
    }
  }
  json_object_set_int_member (j24, "total", total);
  json_object_set_int_member (j24, "completed", completed);
  json_object_set_int_member (j24, "failed", failed);
  json_object_set_int_member (j24, "cancelled", cancelled);
  json_object_set_int_member (j24, "queued", queued);
  json_object_set_int_member (j24, "processing", processing);
  if (timed > 0)
    json_object_set_double_member (j24, "avg_processing_s",
                                   ((gint64) (processing_s / timed * 10 + 0.5)) / 10.0);
  else
    json_object_set_null_member (j24, "avg_processing_s");
  /* of the jobs that finished: a cancel is neither success nor failure */
  if (completed + failed > 0)
    json_object_set_double_member (j24, "succeeded_pct",
                                   ((gint64) (1000.0 * completed / (completed + failed) + 0.5))
                                       / 10.0);
  else
    json_object_set_null_member (j24, "succeeded_pct");
  json_object_set_object_member (o, "jobs_24h", j24);
  json_object_set_int_member (o, "active_jobs", active);

  for (guint i = 0; i < json_array_get_length (workers); i++) {
    JsonObject *worker = json_array_get_object_element (workers, i);
    const gchar *status = we_json_get_string (worker, "status");
    JsonArray *tasks = we_json_get_array (worker, "task_ids");

    if (g_strcmp0 (status, "offline") == 0)
      offline++;
    else if (g_strcmp0 (status, "draining") == 0)
      draining++;
    else
      online++;
    if (g_strcmp0 (status, "offline") != 0 && tasks != NULL && json_array_get_length (tasks) > 0)
      busy++;
  }
  json_object_set_int_member (w, "total", json_array_get_length (workers));
  json_object_set_int_member (w, "online", online);
  json_object_set_int_member (w, "busy", busy);
  json_object_set_int_member (w, "draining", draining);
  json_object_set_int_member (w, "offline", offline);
  json_object_set_object_member (o, "workers", w);
  json_object_set_array_member (o, "recent_jobs", recent);
  {
    g_autofree gchar *now = we_time_format (g_get_real_time ());

    json_object_set_string_member (o, "time", now);
  }
  return o;
}

static void hub_tick_now (WeWsHub *hub);

static void
tick_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  WeWsHub *hub = user_data;
  g_autoptr(GError) error = NULL;
  TickData *d = g_task_get_task_data (G_TASK (result));
  g_autoptr(JsonArray) workers = NULL;
  g_autoptr(JsonObject) workers_event = NULL;
  g_autoptr(JsonObject) dashboard = NULL;

  if (!g_task_propagate_boolean (G_TASK (result), &error) &&
      g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return; /* the hub is gone */
  hub->tick_busy = FALSE;
  hub->cpu = d->cpu;
  hub->have_system = d->have_system;
  hub->system = d->system;
  hub->system_at = g_get_monotonic_time ();
  if (error != NULL) {
    we_log (G_LOG_LEVEL_WARNING, NULL, we_error_code_to_string (we_error_code_from_gerror (error)),
            "websocket tick: reading the store failed: %s", error->message);
    /* the health card must say so: the last figures, the database not ok */
    if (hub->last_dashboard != NULL && d->want_jobs) {
      g_autofree gchar *now = we_time_format (g_get_real_time ());

      dashboard = we_json_object_copy (hub->last_dashboard);
      json_object_set_object_member (dashboard, "health",
                                     health_json (hub_ctx (hub), FALSE, d->db_latency_ms));
      if (d->have_system)
        json_object_set_object_member (dashboard, "system", we_sysinfo_to_json (&d->system));
      json_object_set_string_member (dashboard, "time", now);
      for (GList *l = hub->conns; l != NULL; l = l->next) {
        Conn *conn = l->data;

        if (g_hash_table_contains (conn->topics, "dashboard"))
          conn_send_event (conn, "dashboard", dashboard);
      }
    }
    return;
  }
  workers = we_api_workers_list_json (hub_ctx (hub)->queue, d->records);
  for (guint i = 0; i < json_array_get_length (workers); i++)
    we_ws_hub_add_worker_resources (hub, json_array_get_object_element (workers, i));
  workers_event = json_object_new ();
  json_object_set_array_member (workers_event, "workers", json_array_ref (workers));
  if (d->jobs != NULL) {
    dashboard = dashboard_json (workers, d->jobs);
    if (d->have_system)
      json_object_set_object_member (dashboard, "system", we_sysinfo_to_json (&d->system));
    json_object_set_object_member (dashboard, "health",
                                   health_json (hub_ctx (hub), TRUE, d->db_latency_ms));
    g_clear_pointer (&hub->last_dashboard, json_object_unref);
    hub->last_dashboard = json_object_ref (dashboard);
  }

  for (GList *l = hub->conns; l != NULL; l = l->next) {
    Conn *conn = l->data;
    GHashTableIter iter;
    gpointer key;

    g_hash_table_iter_init (&iter, conn->topics);
    while (g_hash_table_iter_next (&iter, &key, NULL)) {
      const gchar *topic = key;

      if (g_str_equal (topic, "dashboard") && dashboard != NULL) {
        conn_send_event (conn, topic, dashboard);
      } else if (g_str_equal (topic, "workers")) {
        conn_send_event (conn, topic, workers_event);
      } else if (g_str_has_prefix (topic, "worker:")) {
        for (guint i = 0; i < json_array_get_length (workers); i++) {
          JsonObject *worker = json_array_get_object_element (workers, i);

          if (g_strcmp0 (we_json_get_string (worker, "id"), topic + 7) == 0)
            conn_send_event (conn, topic, worker);
        }
      }
    }
  }
  if (hub->tick_again) {
    hub->tick_again = FALSE;
    hub_tick_now (hub);
  }
}

static void
hub_tick_now (WeWsHub *hub)
{
  g_autoptr(GTask) task = NULL;
  gboolean want_jobs = hub_wants (hub, "dashboard");
  TickData *d;

  if (!want_jobs && !hub_wants (hub, "worker"))
    return;
  if (hub->tick_busy) {
    hub->tick_again = TRUE;
    return;
  }
  hub->tick_busy = TRUE;
  d = g_new0 (TickData, 1);
  d->want_jobs = want_jobs;
  d->data_dir = g_strdup (hub_ctx (hub)->config != NULL
                              ? we_config_get_data_dir (hub_ctx (hub)->config) : NULL);
  d->cpu = hub->cpu;
  task = g_task_new (hub_ctx (hub)->store, hub->cancellable, tick_done_cb, hub);
  g_task_set_source_tag (task, hub_tick_now);
  g_task_set_task_data (task, d, (GDestroyNotify) tick_data_free);
  g_task_run_in_thread (task, tick_thread);
}

static gboolean
tick_cb (gpointer user_data)
{
  hub_tick_now (user_data);
  return G_SOURCE_CONTINUE;
}

/* --- subscriptions --- */

typedef struct {
  WeWsHub *hub;
  Conn    *conn;    /* checked against hub->conns before use */
  gchar   *topic;
} SnapshotData;

static void
snapshot_data_free (SnapshotData *d)
{
  g_free (d->topic);
  g_free (d);
}

static gboolean
conn_alive (WeWsHub *hub, Conn *conn)
{
  return g_list_find (hub->conns, conn) != NULL;
}

static void
job_snapshot_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  SnapshotData *d = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(WeJob) job = we_store_finish_job (WE_STORE (source), result, &error);
  g_autoptr(JsonObject) json = NULL;

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) ||
      !conn_alive (d->hub, d->conn) || !g_hash_table_contains (d->conn->topics, d->topic)) {
    snapshot_data_free (d);
    return;
  }
  if (job == NULL) {
    /* nothing to follow: say so and drop the subscription */
    g_hash_table_remove (d->conn->topics, d->topic);
    conn_send_error (d->conn, NULL, error);
    snapshot_data_free (d);
    return;
  }
  json = we_job_to_json (job);
  conn_send_event (d->conn, d->topic, json);
  if (!we_job_status_is_final (job->status) && g_hash_table_lookup (d->hub->jobs, job->id) == NULL)
    hub_note_job (d->hub, json, TRUE); /* so the 1 s repeat knows it */
  snapshot_data_free (d);
}

static void
jobs_snapshot_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  SnapshotData *d = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) jobs = we_store_finish_list (WE_STORE (source), result, NULL, &error);

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
    snapshot_data_free (d); /* the hub is gone */
    return;
  }
  if (jobs != NULL && conn_alive (d->hub, d->conn) &&
      g_hash_table_contains (d->conn->topics, d->topic)) {
    /* oldest first, as they would have arrived */
    for (guint i = jobs->len; i > 0; i--) {
      WeJob *job = g_ptr_array_index (jobs, i - 1);
      g_autoptr(JsonObject) json = we_job_to_json (job);

      conn_send_event (d->conn, d->topic, json);
      if (g_hash_table_lookup (d->hub->jobs, job->id) == NULL)
        hub_note_job (d->hub, json, TRUE); /* so the 1 s repeat knows it */
    }
  }
  snapshot_data_free (d);
}

static void
conn_subscribe (Conn *conn, WeWsMessage *message)
{
  WeWsHub *hub = conn->hub;
  g_autoptr(GError) error = NULL;
  const gchar *object_id = NULL;
  const gchar *action = we_ws_topic_action (message->topic, &object_id, &error);
  SnapshotData *d;

  /* a socket outlives nothing its credentials would not: the client gets
   * a new ticket (and so a fresh login) when it reconnects */
  if (conn->identity->expires_at_unix != 0 &&
      g_get_real_time () / G_USEC_PER_SEC >= conn->identity->expires_at_unix) {
    soup_websocket_connection_close (conn->ws, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION,
                                     "the session has expired");
    return;
  }
  /* RBAC in one place (core/we-rbac.c), per subscription */
  if (action == NULL || !we_rbac_check (conn->identity, action, &error)) {
    conn_send_error (conn, message->id, error);
    return;
  }
  if (g_hash_table_size (conn->topics) >= 256 && !g_hash_table_contains (conn->topics,
                                                                           message->topic)) {
    g_set_error_literal (&error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                         "too many subscriptions on one socket (256)");
    conn_send_error (conn, message->id, error);
    return;
  }
  g_hash_table_add (conn->topics, g_strdup (message->topic));
  conn_send_simple (conn, "subscribed", message->topic, message->id);

  d = g_new0 (SnapshotData, 1);
  d->hub = hub;
  d->conn = conn;
  d->topic = g_strdup (message->topic);
  if (g_str_has_prefix (message->topic, "job:")) {
    we_store_job_get_async (hub_ctx (hub)->store, object_id, hub->cancellable, job_snapshot_cb,
                            d);
  } else if (g_str_equal (message->topic, "jobs")) {
    WeJobFilter filter = { 0 };

    filter.status_mask = WE_JOB_STATUS_MASK_ACTIVE;
    filter.limit = 100;
    we_store_job_list_async (hub_ctx (hub)->store, &filter, hub->cancellable, jobs_snapshot_cb,
                             d);
  } else {
    snapshot_data_free (d);
    hub_tick_now (hub);
  }
}

static void
on_message (SoupWebsocketConnection *ws, gint type, GBytes *bytes, gpointer user_data)
{
  Conn *conn = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(WeWsMessage) message = NULL;
  gsize size = 0;
  const guint8 *data = g_bytes_get_data (bytes, &size);

  if (size > WE_WS_MAX_MESSAGE) {
    soup_websocket_connection_close (ws, SOUP_WEBSOCKET_CLOSE_TOO_BIG,
                                     "messages are limited to 64 KiB");
    return;
  }
  if (type != SOUP_WEBSOCKET_DATA_TEXT) {
    soup_websocket_connection_close (ws, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION,
                                     "text frames only");
    return;
  }
  message = we_ws_message_parse (data, size, &error);
  if (message == NULL) {
    /* a client that sends garbage is broken: it gets no second chance */
    we_log (G_LOG_LEVEL_INFO, NULL, "WE-JOB-001", "websocket from %s closed: %s", conn->peer,
            error->message);
    soup_websocket_connection_close (ws, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION,
                                     "malformed message");
    return;
  }
  switch (message->type) {
  case WE_WS_MESSAGE_PING:
    conn_send_simple (conn, "pong", NULL, message->id);
    break;
  case WE_WS_MESSAGE_UNSUBSCRIBE:
    g_hash_table_remove (conn->topics, message->topic);
    conn_send_simple (conn, "unsubscribed", message->topic, message->id);
    break;
  case WE_WS_MESSAGE_SUBSCRIBE:
  default:
    conn_subscribe (conn, message);
    break;
  }
}

static void
conn_free (Conn *conn)
{
  g_signal_handlers_disconnect_by_data (conn->ws, conn);
  g_clear_object (&conn->ws);
  g_clear_pointer (&conn->identity, we_identity_free);
  g_clear_pointer (&conn->topics, g_hash_table_unref);
  g_free (conn->peer);
  g_free (conn);
}

static void
on_closed (SoupWebsocketConnection *ws, gpointer user_data)
{
  Conn *conn = user_data;
  WeWsHub *hub = conn->hub;

  we_log (G_LOG_LEVEL_INFO, NULL, NULL, "websocket of %s from %s closed (%u)",
          conn->identity->username != NULL ? conn->identity->username : "?", conn->peer,
          soup_websocket_connection_get_close_code (ws));
  hub->conns = g_list_remove (hub->conns, conn);
  conn_free (conn);
}

static void
conn_start (WeWsHub *hub, SoupWebsocketConnection *ws, WeIdentity *identity, const gchar *peer)
{
  Conn *conn = g_new0 (Conn, 1);
  g_autoptr(JsonObject) hello = json_object_new ();
  JsonObject *user = json_object_new ();

  conn->hub = hub;
  conn->ws = g_object_ref (ws);
  conn->identity = identity;
  conn->topics = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  conn->peer = g_strdup (peer != NULL ? peer : "?");
  hub->conns = g_list_prepend (hub->conns, conn);

  /* libsoup drops the TCP connection, without a close frame, past its cap:
   * keep that for the absurd and answer moderate excess with 1009 ourselves */
  soup_websocket_connection_set_max_incoming_payload_size (ws, WE_WS_HARD_MAX_MESSAGE);
  soup_websocket_connection_set_keepalive_interval (ws, 20);
  g_signal_connect (ws, "message", G_CALLBACK (on_message), conn);
  g_signal_connect (ws, "closed", G_CALLBACK (on_closed), conn);

  json_object_set_string_member (hello, "type", "hello");
  json_object_set_string_member (user, "id", identity->user_id != NULL ? identity->user_id : "");
  json_object_set_string_member (user, "username",
                                 identity->username != NULL ? identity->username : "");
  json_object_set_string_member (user, "role", we_role_to_string (identity->role));
  json_object_set_object_member (hello, "user", user);
  json_object_set_string_member (hello, "version", PACKAGE_VERSION);
  conn_send (conn, hello);
  we_log (G_LOG_LEVEL_INFO, NULL, NULL, "websocket of %s from %s open",
          identity->username != NULL ? identity->username : "?", conn->peer);
}

/* --- the upgrade --- */

typedef struct {
  WeWsHub           *hub;
  SoupServerMessage *msg;
  gchar             *request_id;
  WeIdentity        *identity;
} Upgrade;

static void
upgrade_free (Upgrade *u)
{
  g_clear_object (&u->msg);
  g_free (u->request_id);
  g_clear_pointer (&u->identity, we_identity_free);
  g_free (u);
}

static void
upgrade_refuse (Upgrade *u, const GError *error)
{
  we_api_message_set_error (u->msg, error, u->request_id);
  soup_server_message_unpause (u->msg);
  upgrade_free (u);
}

static void
wrote_informational_cb (SoupServerMessage *msg, gpointer user_data)
{
  Upgrade *u = user_data;
  g_autoptr(GIOStream) stream = NULL;
  g_autoptr(SoupWebsocketConnection) ws = NULL;
  const gchar *origin;

  if (soup_server_message_get_status (msg) != SOUP_STATUS_SWITCHING_PROTOCOLS)
    return;
  g_signal_handlers_disconnect_by_data (msg, u);
  origin = soup_message_headers_get_one (soup_server_message_get_request_headers (msg), "Origin");
  stream = soup_server_message_steal_connection (msg);
  ws = soup_websocket_connection_new (stream, soup_server_message_get_uri (msg),
                                      SOUP_WEBSOCKET_CONNECTION_SERVER, origin, NULL, NULL);
  conn_start (u->hub, ws, g_steal_pointer (&u->identity),
              soup_server_message_get_remote_host (msg));
  upgrade_free (u);
}

/* The client went away before the 101 was written. */
static void
upgrade_abandoned_cb (SoupServerMessage *msg, gpointer user_data)
{
  Upgrade *u = user_data;

  g_signal_handlers_disconnect_by_data (msg, u);
  upgrade_free (u);
}

static void
upgrade_proceed (Upgrade *u)
{
  g_autoptr(GError) error = NULL;

  if (!we_rbac_check (u->identity, "ws.ticket", &error)) {
    upgrade_refuse (u, error);
    return;
  }
  if (!soup_websocket_server_check_handshake (u->msg, NULL, NULL, NULL, &error)) {
    g_autoptr(GError) bad = g_error_new (WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                                         "not a WebSocket handshake: %s", error->message);
    upgrade_refuse (u, bad);
    return;
  }
  soup_websocket_server_process_handshake (u->msg, NULL, NULL, NULL, NULL);
  g_signal_connect (u->msg, "wrote-informational", G_CALLBACK (wrote_informational_cb), u);
  g_signal_connect (u->msg, "finished", G_CALLBACK (upgrade_abandoned_cb), u);
  soup_server_message_unpause (u->msg);
}

static void
upgrade_authenticated_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Upgrade *u = user_data;
  g_autoptr(GError) error = NULL;

  u->identity = we_api_server_authenticate_finish (WE_API_SERVER (source), result, &error);
  if (u->identity == NULL) {
    upgrade_refuse (u, error);
    return;
  }
  upgrade_proceed (u);
}

static gchar *
ticket_digest (const gchar *ticket)
{
  g_autofree gchar *hex = g_compute_checksum_for_string (G_CHECKSUM_SHA256, ticket, -1);

  return g_strconcat ("sha256:", hex, NULL);
}

static void
tickets_expire (WeWsHub *hub)
{
  gint64 now = g_get_monotonic_time ();
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, hub->tickets);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    if (((Ticket *) value)->expires <= now)
      g_hash_table_iter_remove (&iter);
}

void
we_ws_hub_upgrade (WeWsHub *hub, SoupServerMessage *msg, GHashTable *query,
                   const gchar *request_id)
{
  Upgrade *u;
  const gchar *ticket = query != NULL ? g_hash_table_lookup (query, "ticket") : NULL;

  if (g_strcmp0 (soup_server_message_get_method (msg), "GET") != 0) {
    g_autoptr(GError) error = g_error_new_literal (WE_ERROR, WE_ERROR_SYS_METHOD_NOT_ALLOWED,
                                                   "only GET upgrades /v1/ws");
    we_api_message_set_error (msg, error, request_id);
    return;
  }
  u = g_new0 (Upgrade, 1);
  u->hub = hub;
  u->msg = g_object_ref (msg);
  u->request_id = g_strdup (request_id);
  soup_server_message_pause (msg);

  if (ticket != NULL) {
    g_autofree gchar *digest = ticket_digest (ticket);
    Ticket *found;

    tickets_expire (hub);
    found = g_hash_table_lookup (hub->tickets, digest);
    if (found == NULL) {
      g_autoptr(GError) error = g_error_new_literal (WE_ERROR, WE_ERROR_AUTH_UNAUTHORIZED,
                                                     "unknown, used or expired ticket");
      upgrade_refuse (u, error);
      return;
    }
    /* single use */
    u->identity = g_steal_pointer (&found->identity);
    g_hash_table_remove (hub->tickets, digest);
    upgrade_proceed (u);
    return;
  }
  we_api_server_authenticate_async (hub->server, msg, we_api_message_get_cancellable (msg),
                                    upgrade_authenticated_cb, u);
}

/* --- POST /v1/ws/ticket --- */

static gchar *
ticket_generate (void)
{
  guint8 bytes[24];
  gsize got = 0;
  GString *out = g_string_new (TICKET_PREFIX);

  /* getrandom: the kernel CSPRNG, never GLib's Mersenne Twister */
  while (got < sizeof bytes) {
    gssize n = getrandom (bytes + got, sizeof bytes - got, 0);

    if (n > 0)
      got += (gsize) n;
    else if (n < 0 && errno != EINTR)
      g_error ("getrandom failed: %s", g_strerror (errno));
  }
  for (guint i = 0; i < sizeof bytes; i++)
    g_string_append_printf (out, "%02x", bytes[i]);
  memset (bytes, 0, sizeof bytes);
  return g_string_free (out, FALSE);
}

void
we_api_ws_ticket (WeApiRequest *request)
{
  WeWsHub *hub = we_api_server_get_ws_hub (request->server);
  g_autofree gchar *ticket = NULL;
  Ticket *entry;
  JsonObject *o;

  tickets_expire (hub);
  /* tickets are memory a caller can make us hold for 30 s: bound it */
  if (g_hash_table_size (hub->tickets) >= MAX_TICKETS) {
    g_autoptr(GError) error = g_error_new (WE_ERROR, WE_ERROR_SYS_RATE_LIMITED,
                                           "too many WebSocket tickets outstanding (%d); "
                                           "try again in a few seconds", MAX_TICKETS);
    we_api_request_respond_error (request, error);
    return;
  }
  ticket = ticket_generate ();
  entry = g_new0 (Ticket, 1);
  entry->identity = we_identity_copy (request->identity);
  /* the ticket is a bearer secret for 30 s; the identity's own tokens are not needed */
  g_clear_pointer (&entry->identity->access_token, g_free);
  g_clear_pointer (&entry->identity->refresh_token, g_free);
  entry->expires = g_get_monotonic_time () + (gint64) hub->ticket_ttl_s * G_USEC_PER_SEC;
  g_hash_table_replace (hub->tickets, ticket_digest (ticket), entry);
  o = json_object_new ();
  json_object_set_string_member (o, "ticket", ticket);
  json_object_set_int_member (o, "expires_in", hub->ticket_ttl_s);
  we_api_request_respond_object (request, SOUP_STATUS_CREATED, o);
}

/* --- the hub --- */

/* Live telemetry (1 Hz per stream) and lifecycle events go to whoever
 * follows stream:<id>; nothing is kept for late subscribers (the studio
 * reads GET /v1/streams/{id}/stats for the history). */
static void
live_event_cb (GObject *live, const gchar *stream_id, JsonObject *event, gpointer user_data)
{
  WeWsHub *hub = user_data;
  g_autofree gchar *topic = g_strconcat ("stream:", stream_id, NULL);

  for (GList *l = hub->conns; l != NULL; l = l->next) {
    Conn *conn = l->data;

    if (g_hash_table_contains (conn->topics, topic))
      conn_send_event (conn, topic, event);
  }
}

static void
copy_member (JsonObject *from, const gchar *name, JsonNode *node, gpointer user_data)
{
  JsonObject *to = user_data;

  if (g_strcmp0 (name, "type") != 0 && g_strcmp0 (name, "id") != 0)
    json_object_set_member (to, name, json_node_copy (node));
}

static void
restream_event_cb (GObject *manager, const gchar *restream_id, JsonObject *event,
                   gpointer user_data)
{
  WeWsHub *hub = user_data;
  g_autofree gchar *topic = g_strconcat ("restream:", restream_id, NULL);
  g_autoptr(JsonObject) data = NULL;

  for (GList *l = hub->conns; l != NULL; l = l->next) {
    Conn *conn = l->data;

    if (!g_hash_table_contains (conn->topics, topic))
      continue;
    /* built once, only when someone follows this restream */
    if (data == NULL) {
      data = json_object_new ();
      json_object_set_string_member (data, "type", "restream");
      json_object_set_string_member (data, "id", restream_id);
      json_object_foreach_member (event, copy_member, data);
    }
    conn_send_event (conn, topic, data);
  }
}

void
we_ws_hub_watch_restreams (WeWsHub *hub, GObject *manager)
{
  if (hub->restreams != NULL)
    g_clear_signal_handler (&hub->restreams_id, hub->restreams);
  g_clear_object (&hub->restreams);
  if (manager == NULL)
    return;
  hub->restreams = g_object_ref (manager);
  hub->restreams_id = g_signal_connect (manager, "event", G_CALLBACK (restream_event_cb), hub);
}

void
we_ws_hub_send_publication (WeWsHub *hub, JsonObject *publication)
{
  const gchar *job_id = json_object_get_string_member_with_default (publication, "job_id", "");
  g_autofree gchar *topic = g_strconcat ("job:", job_id, NULL);

  for (GList *l = hub->conns; l != NULL; l = l->next) {
    Conn *conn = l->data;
    g_autoptr(JsonObject) o = NULL;

    if (!g_hash_table_contains (conn->topics, topic))
      continue;
    o = json_object_new ();
    json_object_set_string_member (o, "type", "publication");
    json_object_set_string_member (o, "topic", topic);
    json_object_set_object_member (o, "data", json_object_ref (publication));
    conn_send (conn, o);
  }
}

WeWsHub *
we_ws_hub_new (WeApiServer *server)
{
  WeWsHub *hub = g_new0 (WeWsHub, 1);
  const gchar *ttl = g_getenv ("WE_WS_TICKET_TTL_S");

  hub->server = server;
  /* tests shorten it to see tickets expire without waiting 30 s */
  hub->ticket_ttl_s = ttl != NULL && atoi (ttl) > 0 ? (guint) atoi (ttl) : WE_WS_TICKET_TTL_S;
  hub->tickets = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                        (GDestroyNotify) ticket_free);
  hub->jobs = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                     (GDestroyNotify) job_state_free);
  hub->cancellable = g_cancellable_new ();
  hub->changed_id = g_signal_connect (hub_ctx (hub)->scheduler, "job-changed",
                                      G_CALLBACK (job_changed_cb), hub);
  if (hub_ctx (hub)->live != NULL)
    hub->live_id = g_signal_connect (hub_ctx (hub)->live, "event", G_CALLBACK (live_event_cb),
                                     hub);
  hub->flush_id = g_timeout_add (JOB_FLUSH_MS, flush_cb, hub);
  hub->tick_id = g_timeout_add_seconds (1, tick_cb, hub);
  return hub;
}

void
we_ws_hub_close_all (WeWsHub *hub)
{
  GList *conns = g_list_copy (hub->conns);

  for (GList *l = conns; l != NULL; l = l->next) {
    Conn *conn = l->data;

    if (soup_websocket_connection_get_state (conn->ws) == SOUP_WEBSOCKET_STATE_OPEN)
      soup_websocket_connection_close (conn->ws, SOUP_WEBSOCKET_CLOSE_GOING_AWAY,
                                       "the service is stopping");
  }
  g_list_free (conns);
}

void
we_ws_hub_free (WeWsHub *hub)
{
  if (hub == NULL)
    return;
  we_ws_hub_close_all (hub);
  g_cancellable_cancel (hub->cancellable);
  g_clear_signal_handler (&hub->changed_id, hub_ctx (hub)->scheduler);
  if (hub_ctx (hub)->live != NULL)
    g_clear_signal_handler (&hub->live_id, hub_ctx (hub)->live);
  we_ws_hub_watch_restreams (hub, NULL);
  g_clear_handle_id (&hub->flush_id, g_source_remove);
  g_clear_handle_id (&hub->tick_id, g_source_remove);
  g_list_free_full (g_steal_pointer (&hub->conns), (GDestroyNotify) conn_free);
  g_clear_pointer (&hub->tickets, g_hash_table_unref);
  g_clear_pointer (&hub->jobs, g_hash_table_unref);
  g_clear_pointer (&hub->last_dashboard, json_object_unref);
  g_clear_object (&hub->cancellable);
  g_free (hub);
}
