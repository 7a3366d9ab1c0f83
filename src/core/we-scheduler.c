/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"
#include "we-scheduler.h"

#include <string.h>

#include "common/we-json.h"
#include "common/we-log.h"
#include "common/we-worker-protocol.h"
#include "we-content-keys.h"
#include "we-job-request.h"
#include "we-segment-planner.h"

#define RETRY_MAX_MS (5 * 60 * 1000)

/* One job the scheduler drives. The in-memory copy is authoritative while the
 * job is active; every change is written to the store (in order, on the
 * store's thread) before it is logged or announced. */
typedef struct {
  WeJob     *job;
  WeProfile *profile;
  GPtrArray *tasks;        /* (element-type WeTask) ordered by sequence_index */
  gchar     *output_prefix;
  GHashTable *rates;       /* task id → TaskRate of running tasks */
} ActiveJob;

typedef struct {
  gdouble fps;
  gdouble speed;
  gdouble remaining_s;     /* media seconds the task still has to do */
} TaskRate;

/* Task kinds (tasks.kind). A job starts with a scan; the plan then adds
 * either one transcode task, or segment tasks, an audio task and a stitch
 * task, or (HLS/DASH profiles) one ladder task; and a thumbnails and a
 * subtitles task when the profile asks for them. The last three are
 * "package" tasks to the worker: each writes a set of files below the
 * job's output prefix. */
#define KIND_SCAN       "scan"
#define KIND_TRANSCODE  "transcode"
#define KIND_SEGMENT    "segment"
#define KIND_AUDIO      "audio"
#define KIND_STITCH     "stitch"
#define KIND_LADDER     "ladder"
#define KIND_THUMBNAILS "thumbnails"
#define KIND_SUBTITLES  "subtitles"

static gboolean
task_is (const WeTask *t, const gchar *kind)
{
  return g_strcmp0 (t->kind, kind) == 0;
}

/* The task whose output is the job's output. */
static gboolean
task_is_package (const WeTask *t)
{
  return task_is (t, KIND_LADDER) || task_is (t, KIND_THUMBNAILS) || task_is (t, KIND_SUBTITLES);
}

/* A task whose files are outputs of the job (the others make intermediates) */
static gboolean
task_is_final (const WeTask *t)
{
  return task_is (t, KIND_TRANSCODE) || task_is (t, KIND_STITCH) || task_is_package (t);
}

struct _WeScheduler {
  GObject       parent_instance;
  WeStore      *store;
  WeQueue      *queue;
  WePluginHost *host;
  guint         retry_base_ms;
  GHashTable   *active;    /* job id → ActiveJob */
  GQueue        order;     /* job ids (owned) in submission order */
  GHashTable   *running;   /* task id → job id (owned strings) */
  guint         pump_source;
  guint         pump_idle;
  gulong        task_event_id;
  gulong        slots_id;
  /* cluster: this kernel's name in the store, and the adoption beat */
  gchar        *kernel_id;
  guint         beat_s;
  guint         tick_source;
  guint         tick_again;
  gboolean      ticking;
  WeContentKeys *keys;     /* nullable: encrypted ladders fail without */
};

G_DEFINE_TYPE (WeScheduler, we_scheduler, G_TYPE_OBJECT)

enum {
  SIGNAL_JOB_CHANGED,
  SIGNAL_JOB_TRANSITION,
  SIGNAL_LAST
};
static guint signals[SIGNAL_LAST];

static void schedule_pump (WeScheduler *self);
static void plan_job (WeScheduler *self, ActiveJob *aj, JsonObject *index_json);

static void
active_job_free (ActiveJob *aj)
{
  we_job_unref (aj->job);
  we_profile_unref (aj->profile);
  g_ptr_array_unref (aj->tasks);
  g_free (aj->output_prefix);
  g_hash_table_unref (aj->rates);
  g_free (aj);
}

static gint64
now_usec (void)
{
  return g_get_real_time ();
}

/* --- store writes, fire and forget but logged --- */

static void
store_write_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GError) error = NULL;
  g_autofree gchar *what = user_data;

  if (!we_store_finish_boolean (WE_STORE (source), result, &error))
    we_log (G_LOG_LEVEL_WARNING, NULL, "WE-SYS-002", "store write (%s) failed: %s", what,
            error->message);
}

static WeJob *cancel_active (WeScheduler *self, ActiveJob *aj);

typedef struct {
  WeScheduler *self;
  gchar       *job_id;
} JobWrite;

static void
job_write_free (JobWrite *w)
{
  g_object_unref (w->self);
  g_free (w->job_id);
  g_free (w);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (JobWrite, job_write_free)

static void
job_write_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(JobWrite) w = user_data;
  WeScheduler *self = w->self;
  const gchar *job_id = w->job_id;
  g_autoptr(GError) error = NULL;

  if (we_store_finish_boolean (WE_STORE (source), result, &error))
    return;
  if (g_error_matches (error, WE_ERROR, WE_ERROR_JOB_CANCELLED)) {
    /* a kernel serving the API for a job it does not drive wrote the cancel;
     * the store refuses our writes from then on, which is how we hear of it */
    ActiveJob *aj = g_hash_table_lookup (self->active, job_id);

    if (aj != NULL && aj->job->status != WE_JOB_STATUS_CANCELLED) {
      g_autoptr(WeJob) cancelled = NULL;

      we_log (G_LOG_LEVEL_INFO, NULL, NULL, "job %s was cancelled through another kernel",
              job_id);
      cancelled = cancel_active (self, aj);
    }
    return;
  }
  we_log (G_LOG_LEVEL_WARNING, NULL, "WE-SYS-002", "store write (job %s) failed: %s", job_id,
          error->message);
}

static void
write_job (WeScheduler *self, WeJob *job)
{
  g_autoptr(WeJob) copy = NULL;
  JobWrite *w = g_new0 (JobWrite, 1);

  w->self = g_object_ref (self);
  w->job_id = g_strdup (job->id);
  job->updated_at = now_usec ();
  copy = we_job_copy (job);
  we_store_job_update_async (self->store, copy, NULL, job_write_done, w);
  g_signal_emit (self, signals[SIGNAL_JOB_CHANGED], 0, job);
}

static void
write_task (WeScheduler *self, WeTask *task)
{
  g_autoptr(WeTask) copy = NULL;

  task->updated_at = now_usec ();
  copy = we_task_copy (task);
  we_store_task_update_async (self->store, copy, NULL, store_write_done,
                              g_strdup_printf ("task %s", task->id));
}

static void
add_event (WeScheduler *self, const gchar *job_id, const gchar *type, JsonObject *payload,
           const gchar *format, ...) G_GNUC_PRINTF (5, 6);

static void
add_event (WeScheduler *self, const gchar *job_id, const gchar *type, JsonObject *payload,
           const gchar *format, ...)
{
  g_autoptr(WeJobEvent) event = we_job_event_new ();
  va_list args;

  event->job_id = g_strdup (job_id);
  event->type = g_strdup (type);
  va_start (args, format);
  event->message = g_strdup_vprintf (format, args);
  va_end (args);
  event->payload = payload;
  event->created_at = now_usec ();
  we_log (G_LOG_LEVEL_INFO, job_id, NULL, "%s: %s", type, event->message);
  we_store_event_add_async (self->store, event, NULL, store_write_done,
                            g_strdup_printf ("event %s", type));
}

/* --- dispatch --- */

static WeTask *
find_task (ActiveJob *aj, const gchar *task_id)
{
  for (guint i = 0; i < aj->tasks->len; i++) {
    WeTask *t = g_ptr_array_index (aj->tasks, i);
    if (g_strcmp0 (t->id, task_id) == 0)
      return t;
  }
  return NULL;
}

/* How many frames the source holds in a segment's range, from the scan's
 * per-keyframe counts; 0 when unknown. */
static guint64
segment_frames (ActiveJob *aj, WeTask *task)
{
  JsonNode *scan = json_object_get_member (aj->job->output_config, "scan");
  g_autoptr(WeKeyframeIndex) index = NULL;
  guint64 frames = 0;

  if (scan == NULL || !JSON_NODE_HOLDS_OBJECT (scan))
    return 0;
  index = we_keyframe_index_new_from_json (json_node_get_object (scan), NULL);
  if (index == NULL || index->gop_frames->len != index->keyframes_s->len)
    return 0;
  for (guint i = 0; i < index->keyframes_s->len; i++) {
    gdouble kf = g_array_index (index->keyframes_s, gdouble, i);
    /* segments start on keyframes (the first at 0, before any keyframe) */
    if (kf + 1e-6 < task->start_time_sec && !(i == 0 && task->start_time_sec == 0))
      continue;
    if (task->end_time_sec > 0 && kf + 1e-6 >= task->end_time_sec)
      break;
    frames += g_array_index (index->gop_frames, guint, i);
  }
  return frames;
}

static gboolean
wants_encryption (const WeProfile *profile)
{
  return profile->hls.enabled && g_strcmp0 (profile->hls.encryption, "aes-128") == 0;
}

/* Where the worker of @task's attempt @attempt puts its GStreamer debug log:
 * a folder of its own beside the outputs, so a name never collides with an
 * output, is never listed as one, and goes with the job (the task id is a
 * UUID, so jobs sharing an output prefix do not collide either). */
static gchar *
task_log_url (ActiveJob *aj, const gchar *task_id, gint attempt)
{
  if (aj->output_prefix == NULL || aj->output_prefix[0] == '\0')
    return NULL;
  return g_strdup_printf ("%s%s.logs/%s-%d.log", aj->output_prefix,
                          g_str_has_suffix (aj->output_prefix, "/") ? "" : "/", task_id,
                          attempt);
}

static JsonObject *
build_task_message (WeScheduler *self, ActiveJob *aj, WeTask *task)
{
  g_autofree gchar *log_url = task_log_url (aj, task->id, task->attempt_count);
  JsonObject *msg = json_object_new ();

  json_object_set_string_member (msg, "id", task->id);
  json_object_set_string_member (msg, "job_id", task->job_id);
  if (task_is_package (task)) {
    json_object_set_string_member (msg, "kind", "package");
    json_object_set_string_member (msg, "package", task->kind);
    /* the key travels to the worker in the task only; the store never has it */
    if (task_is (task, KIND_LADDER) && wants_encryption (aj->profile) && self->keys != NULL) {
      g_autofree gchar *hex = we_content_keys_derive_hex (self->keys, aj->job->id);
      g_autofree gchar *uri = we_content_keys_uri (aj->job->id);
      json_object_set_string_member (msg, "key", hex);
      json_object_set_string_member (msg, "key_uri", uri);
      memset (hex, 0, strlen (hex));
    }
  } else {
    json_object_set_string_member (msg, "kind", task->kind);
  }
  json_object_set_int_member (msg, "attempt", task->attempt_count);
  json_object_set_string_member (msg, "input_url", aj->job->source_url);
  if (task->output_key != NULL)
    json_object_set_string_member (msg, "output_url", task->output_key);
  /* used only by a worker that keeps GStreamer debug logs ([workers] gst_debug) */
  if (log_url != NULL)
    json_object_set_string_member (msg, "log_url", log_url);
  json_object_set_double_member (msg, "start_s", task->start_time_sec);
  json_object_set_double_member (msg, "duration_s",
                                 task->end_time_sec > task->start_time_sec
                                     ? task->end_time_sec - task->start_time_sec : 0);
  json_object_set_object_member (msg, "profile", we_profile_to_json (aj->profile));
  if (task_is (task, KIND_SEGMENT)) {
    guint64 frames = segment_frames (aj, task);
    if (frames > 0)
      json_object_set_int_member (msg, "expected_frames", (gint64) frames);
  }
  if (task_is (task, KIND_STITCH)) {
    JsonArray *segments = json_array_new ();
    JsonNode *scan = json_object_get_member (aj->job->output_config, "scan");
    JsonObject *index = scan != NULL && JSON_NODE_HOLDS_OBJECT (scan)
                            ? json_node_get_object (scan) : NULL;

    for (guint i = 0; i < aj->tasks->len; i++) {
      WeTask *t = g_ptr_array_index (aj->tasks, i);
      if (task_is (t, KIND_SEGMENT))
        json_array_add_string_element (segments, t->output_key);
      else if (task_is (t, KIND_AUDIO))
        json_object_set_string_member (msg, "audio_url", t->output_key);
    }
    json_object_set_array_member (msg, "segment_urls", segments);
    if (index != NULL) {
      gdouble frames = json_object_get_double_member_with_default (index, "video_frames", 0);
      gdouble duration = json_object_get_double_member_with_default (index, "duration_s", 0);
      gdouble fps_n = json_object_get_double_member_with_default (index, "fps_n", 0);
      gdouble fps_d = json_object_get_double_member_with_default (index, "fps_d", 1);
      json_object_set_int_member (msg, "expected_frames", (gint64) frames);
      json_object_set_double_member (msg, "expected_duration_s", duration);
      json_object_set_double_member (msg, "frame_duration_s",
                                     fps_n > 0 ? fps_d / fps_n
                                               : frames > 0 ? duration / frames : 0);
    }
  }
  return msg;
}

/* A stitch waits for every segment and the audio. */
static gboolean
task_is_ready (ActiveJob *aj, WeTask *task)
{
  if (!task_is (task, KIND_STITCH))
    return TRUE;
  for (guint i = 0; i < aj->tasks->len; i++) {
    WeTask *t = g_ptr_array_index (aj->tasks, i);
    if ((task_is (t, KIND_SEGMENT) || task_is (t, KIND_AUDIO)) &&
        t->status != WE_TASK_STATUS_COMPLETED)
      return FALSE;
  }
  return TRUE;
}

static gchar *
find_worker_of (WeScheduler *self, const gchar *task_id)
{
  g_autoptr(GPtrArray) workers = we_queue_list_workers (self->queue);

  for (guint i = 0; workers != NULL && i < workers->len; i++) {
    JsonObject *w = g_ptr_array_index (workers, i);
    JsonNode *t = json_object_get_member (w, "task_id");
    if (t != NULL && JSON_NODE_HOLDS_VALUE (t) &&
        g_strcmp0 (json_node_get_string (t), task_id) == 0)
      return g_strdup (json_object_get_string_member_with_default (w, "id", NULL));
  }
  return NULL;
}

static gboolean
dispatch_task (WeScheduler *self, ActiveJob *aj, WeTask *task)
{
  g_autoptr(JsonObject) msg = NULL;
  g_autoptr(GError) error = NULL;

  task->attempt_count++;
  msg = build_task_message (self, aj, task);
  if (task->attempt_count > 1 && task->assigned_worker_id != NULL)
    json_object_set_string_member (msg, "avoid_worker", task->assigned_worker_id);
  if (!we_queue_dispatch (self->queue, msg, &error)) {
    task->attempt_count--;
    if (!g_error_matches (error, WE_ERROR, WE_ERROR_JOB_NO_WORKERS))
      we_log (G_LOG_LEVEL_WARNING, aj->job->id, "WE-SYS-003", "dispatching task %s: %s",
              task->id, error->message);
    return FALSE;
  }
  task->status = WE_TASK_STATUS_RUNNING;
  task->progress_pct = 0;
  g_free (task->assigned_worker_id);
  task->assigned_worker_id = find_worker_of (self, task->id);
  g_free (aj->job->assigned_worker_id);
  aj->job->assigned_worker_id = g_strdup (task->assigned_worker_id);
  g_clear_pointer (&task->error_code, g_free);
  g_clear_pointer (&task->error_message, g_free);
  write_task (self, task);
  g_hash_table_replace (self->running, g_strdup (task->id), g_strdup (aj->job->id));
  add_event (self, aj->job->id, "task.started", NULL, "task %d (%s) attempt %d of %d dispatched",
             task->sequence_index, task->kind, task->attempt_count, task->max_attempts);

  if (aj->job->status == WE_JOB_STATUS_QUEUED) {
    aj->job->status = WE_JOB_STATUS_PROCESSING;
    if (aj->job->started_at == 0)
      aj->job->started_at = now_usec ();
    write_job (self, aj->job);
    add_event (self, aj->job->id, "job.started", NULL, "processing started");
    g_signal_emit (self, signals[SIGNAL_JOB_TRANSITION], 0, aj->job, "job.started");
  }
  return TRUE;
}

static gboolean
pump_timeout_cb (gpointer user_data)
{
  WeScheduler *self = user_data;

  self->pump_source = 0;
  schedule_pump (self);
  return G_SOURCE_REMOVE;
}

static gint
compare_priority (gconstpointer a, gconstpointer b)
{
  const ActiveJob *ja = *(ActiveJob * const *) a, *jb = *(ActiveJob * const *) b;

  return jb->job->priority - ja->job->priority;
}

static gboolean
pump (gpointer user_data)
{
  WeScheduler *self = user_data;
  gint64 now = now_usec ();
  gint64 next_wakeup = G_MAXINT64;

  g_autoptr(GPtrArray) jobs = g_ptr_array_new ();

  self->pump_idle = 0;
  for (GList *l = self->order.head; l != NULL; l = l->next) {
    ActiveJob *aj = g_hash_table_lookup (self->active, l->data);
    if (aj != NULL)
      g_ptr_array_add (jobs, aj);
  }
  /* higher priority first; GLib's sort is stable, keeping submission order */
  g_ptr_array_sort (jobs, compare_priority);
  for (guint j = 0; j < jobs->len; j++) {
    ActiveJob *aj = g_ptr_array_index (jobs, j);
    for (guint i = 0; i < aj->tasks->len; i++) {
      WeTask *t = g_ptr_array_index (aj->tasks, i);
      if (t->status != WE_TASK_STATUS_PENDING || !task_is_ready (aj, t))
        continue;
      if (t->not_before > now) {
        next_wakeup = MIN (next_wakeup, t->not_before);
        continue;
      }
      if (we_queue_free_slots (self->queue) == 0)
        goto out;
      if (!dispatch_task (self, aj, t))
        goto out;
    }
  }
out:
  if (next_wakeup != G_MAXINT64) {
    guint delay_ms = (guint) MAX (10, (next_wakeup - now) / 1000);
    if (self->pump_source != 0)
      g_source_remove (self->pump_source);
    self->pump_source = g_timeout_add (delay_ms, pump_timeout_cb, self);
  }
  return G_SOURCE_REMOVE;
}

static void
schedule_pump (WeScheduler *self)
{
  if (self->pump_idle == 0)
    self->pump_idle = g_idle_add (pump, self);
}

/* --- finishing jobs --- */

static void
forget_job (WeScheduler *self, const gchar *job_id)
{
  GList *link = g_queue_find_custom (&self->order, job_id, (GCompareFunc) g_strcmp0);

  if (link != NULL) {
    g_free (link->data);
    g_queue_delete_link (&self->order, link);
  }
  g_hash_table_remove (self->active, job_id);
}

static const gchar *
content_type_for (const gchar *container)
{
  if (g_strcmp0 (container, "webm") == 0)
    return "video/webm";
  if (g_strcmp0 (container, "mkv") == 0)
    return "video/x-matroska";
  return "video/mp4";
}

static void delete_object_in_background (WeScheduler *self, const gchar *url);

/* Segment and audio files only serve the stitch: drop them once the job is
 * over, whatever its end. */
static void
discard_intermediates (WeScheduler *self, ActiveJob *aj)
{
  for (guint i = 0; i < aj->tasks->len; i++) {
    WeTask *t = g_ptr_array_index (aj->tasks, i);
    if ((task_is (t, KIND_SEGMENT) || task_is (t, KIND_AUDIO)) && t->output_key != NULL)
      delete_object_in_background (self, t->output_key);
  }
}

static void
put_output (WeScheduler *self, ActiveJob *aj, const gchar *name, const gchar *type,
            const gchar *url, const gchar *content_type, gint64 size)
{
  g_autoptr(WeJobOutput) output = we_job_output_new ();

  output->job_id = g_strdup (aj->job->id);
  output->name = g_strdup (name);
  output->type = g_strdup (type);
  output->url = g_strdup (url);
  output->content_type = g_strdup (content_type);
  output->size_bytes = size;
  output->profile_id = g_strdup (aj->profile->id);
  output->created_at = now_usec ();
  we_store_output_put_async (self->store, output, NULL, store_write_done, g_strdup ("output"));
}

/* A final task's files are outputs as soon as the task is done: they are
 * committed to storage, and a later failure of another task of the job must
 * not leave them unlisted (nor undeleted with the job). */
static void
record_outputs (WeScheduler *self, ActiveJob *aj, WeTask *task, JsonObject *report)
{
  JsonArray *outputs;

  if (!task_is_package (task)) {
    g_autofree gchar *name = g_path_get_basename (task->output_key);
    put_output (self, aj, name, "final", task->output_key,
                content_type_for (aj->profile->container), task->output_size_bytes);
    return;
  }
  outputs = report != NULL ? we_json_get_array (report, "outputs") : NULL;
  for (guint i = 0; outputs != NULL && i < json_array_get_length (outputs); i++) {
    JsonNode *node = json_array_get_element (outputs, i);
    JsonObject *o = JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
    const gchar *path = o != NULL ? we_json_get_string (o, "path") : NULL;
    const gchar *url = o != NULL ? we_json_get_string (o, "url") : NULL;
    const gchar *type = o != NULL ? we_json_get_string (o, "type") : NULL;
    const gchar *content_type = o != NULL ? we_json_get_string (o, "content_type") : NULL;
    g_autofree gchar *expected = NULL;

    if (path == NULL || url == NULL || type == NULL)
      continue;
    /* a worker names its own URLs; take only those below the task's prefix */
    expected = g_strconcat (task->output_key, path, NULL);
    if (!g_str_equal (expected, url) || !we_job_output_path_is_safe (path)) {
      we_log (G_LOG_LEVEL_WARNING, aj->job->id, NULL, "ignoring output %s at %s", path, url);
      continue;
    }
    put_output (self, aj, path, type, url,
                content_type != NULL ? content_type : we_job_content_type_for_name (path),
                (gint64) we_json_get_double (o, "size_bytes", 0));
  }
  /* what the package learned (renditions, bandwidths, cue counts) */
  if (report != NULL)
    json_object_set_object_member (aj->job->output_config, task->kind,
                                   we_json_object_copy (report));
}

static gboolean
all_tasks_completed (ActiveJob *aj)
{
  for (guint i = 0; i < aj->tasks->len; i++)
    if (((WeTask *) g_ptr_array_index (aj->tasks, i))->status != WE_TASK_STATUS_COMPLETED)
      return FALSE;
  return TRUE;
}

static void
complete_job (WeScheduler *self, ActiveJob *aj)
{
  WeJob *job = aj->job;
  g_autoptr(GString) names = g_string_new (NULL);
  gint64 bytes = 0;

  for (guint i = 0; i < aj->tasks->len; i++) {
    WeTask *t = g_ptr_array_index (aj->tasks, i);
    g_autofree gchar *name = NULL;

    if (!task_is_final (t))
      continue;
    bytes += t->output_size_bytes;
    name = task_is_package (t) ? g_strdup (t->kind) : g_path_get_basename (t->output_key);
    g_string_append_printf (names, "%s%s", names->len > 0 ? ", " : "", name);
  }
  job->status = WE_JOB_STATUS_COMPLETED;
  job->progress_pct = 100;
  job->eta_seconds = 0;
  job->finished_at = now_usec ();
  write_job (self, job);
  add_event (self, job->id, "job.completed", NULL, "completed: %s (%" G_GINT64_FORMAT " bytes)",
             names->str, bytes);
  g_signal_emit (self, signals[SIGNAL_JOB_TRANSITION], 0, job, "job.completed");
  discard_intermediates (self, aj);
  forget_job (self, job->id);
}

static void
stop_running_tasks (WeScheduler *self, ActiveJob *aj)
{
  for (guint i = 0; i < aj->tasks->len; i++) {
    WeTask *t = g_ptr_array_index (aj->tasks, i);
    if (t->status == WE_TASK_STATUS_RUNNING)
      we_queue_cancel (self->queue, t->id);
    if (t->status == WE_TASK_STATUS_PENDING || t->status == WE_TASK_STATUS_RUNNING) {
      t->status = WE_TASK_STATUS_CANCELLED;
      write_task (self, t);
    }
  }
}

static void
fail_job (WeScheduler *self, ActiveJob *aj, const gchar *code, const gchar *message)
{
  WeJob *job = aj->job;

  stop_running_tasks (self, aj);
  job->status = WE_JOB_STATUS_FAILED;
  g_free (job->error_code);
  job->error_code = g_strdup (code);
  g_free (job->error_message);
  job->error_message = g_strdup (message);
  job->eta_seconds = -1;
  job->finished_at = now_usec ();
  write_job (self, job);
  add_event (self, job->id, "job.failed", NULL, "%s: %s", code, message);
  g_signal_emit (self, signals[SIGNAL_JOB_TRANSITION], 0, job, "job.failed");
  we_log (G_LOG_LEVEL_WARNING, job->id, code, "job failed: %s", message);
  /* the intermediates stay: a task retry (we_scheduler_retry_task_async)
   * finishes the job with them; deleting the job deletes them */
  forget_job (self, job->id);
}

/* --- worker reports --- */

/* How much of the job's work a task is, in media seconds: encoding dominates,
 * audio is cheap, scanning and stitching are quick passes over the data. */
static gdouble
task_weight (ActiveJob *aj, const WeTask *t)
{
  gdouble duration = 0;

  if (aj->job->media_info != NULL)
    duration = json_object_get_double_member_with_default (aj->job->media_info, "duration_s", 0);
  if (duration <= 0)
    duration = 1;
  if (task_is (t, KIND_SEGMENT))
    return MAX (t->end_time_sec - t->start_time_sec, 0.001);
  if (task_is (t, KIND_TRANSCODE))
    return duration;
  if (task_is (t, KIND_AUDIO))
    return duration * 0.05;
  if (task_is (t, KIND_LADDER))
    return duration * MAX (aj->profile->ladder->len, 1);
  if (task_is (t, KIND_THUMBNAILS))
    return duration * 0.1;
  return duration * 0.02; /* scan, stitch, subtitles */
}

static void
update_job_progress (WeScheduler *self, ActiveJob *aj, WeTask *task, JsonObject *msg)
{
  WeJob *job = aj->job;
  gdouble total = 0, done = 0, fps = 0, speed = 0, remaining = 0;
  gboolean planned = FALSE;
  GHashTableIter iter;
  TaskRate *rate;

  if (task != NULL && msg != NULL) {
    gdouble duration = we_json_get_double (msg, "duration_s", 0);
    rate = g_hash_table_lookup (aj->rates, task->id);
    if (rate == NULL) {
      rate = g_new0 (TaskRate, 1);
      g_hash_table_insert (aj->rates, g_strdup (task->id), rate);
    }
    rate->fps = we_json_get_double (msg, "fps", 0);
    rate->speed = we_json_get_double (msg, "speed", 0);
    rate->remaining_s = MAX (duration - we_json_get_double (msg, "position_s", 0), 0);
  }

  for (guint i = 0; i < aj->tasks->len; i++) {
    WeTask *t = g_ptr_array_index (aj->tasks, i);
    gdouble w = task_weight (aj, t);
    planned |= task_is_final (t);
    total += w;
    done += w * (t->status == WE_TASK_STATUS_COMPLETED ? 100 : t->progress_pct) / 100;
    if (t->status == WE_TASK_STATUS_PENDING)
      remaining += task_is (t, KIND_SEGMENT) || task_is (t, KIND_TRANSCODE) ||
                   task_is (t, KIND_LADDER) ? w : 0;
  }
  /* before the plan exists the scan is all we know of: keep it small */
  if (!planned)
    total += task_weight (aj, &(WeTask){ .kind = (gchar *) KIND_TRANSCODE });
  g_hash_table_iter_init (&iter, aj->rates);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &rate)) {
    fps += rate->fps;
    speed += rate->speed;
    remaining += rate->remaining_s;
  }
  /* users trust a bar that never goes back and reaches 100 % only when the
   * output is verified (complete_job sets it) */
  job->progress_pct = MAX (job->progress_pct, total > 0 ? MIN (done * 100 / total, 99.9) : 0);
  job->fps = fps;
  job->speed = speed;
  if (speed > 0)
    job->eta_seconds = (gint) (remaining / speed + 0.5);
  if (task != NULL && task->assigned_worker_id != NULL) {
    g_free (job->assigned_worker_id);
    job->assigned_worker_id = g_strdup (task->assigned_worker_id);
  }
  write_job (self, job);
}

static guint
retry_delay_ms (WeScheduler *self, gint attempt)
{
  guint64 delay = self->retry_base_ms;

  for (gint i = 1; i < attempt && delay < RETRY_MAX_MS; i++)
    delay *= 2;
  return (guint) MIN (delay, RETRY_MAX_MS);
}

static void
delete_object_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  WePluginHost *host = source;
  const gchar *url = task_data;
  WeStorage *storage = we_plugin_host_storage_for_url (host, url, NULL);
  g_autoptr(GError) error = NULL;

  if (storage != NULL && !we_storage_delete_object (storage, url, &error) &&
      !g_error_matches (error, WE_ERROR, WE_ERROR_STO_NOT_FOUND))
    we_log (G_LOG_LEVEL_WARNING, NULL, "WE-STO-004", "deleting %s: %s", url, error->message);
  g_task_return_boolean (task, TRUE);
}

static void
delete_object_in_background (WeScheduler *self, const gchar *url)
{
  g_autoptr(GTask) task = g_task_new (self->host, NULL, NULL, NULL);

  g_task_set_source_tag (task, delete_object_in_background);
  g_task_set_task_data (task, g_strdup (url), g_free);
  g_task_run_in_thread (task, delete_object_thread);
}

/* --- planning: one task, or segments + audio + stitch --- */

static WeTask *
new_task (ActiveJob *aj, const gchar *kind, gdouble start, gdouble end, gchar *output_key)
{
  WeTask *t = we_task_new ();

  t->id = we_uuid_new ();
  t->job_id = g_strdup (aj->job->id);
  t->sequence_index = (gint) aj->tasks->len;
  g_free (t->kind);
  t->kind = g_strdup (kind);
  t->start_time_sec = start;
  t->end_time_sec = end;
  t->max_attempts = aj->profile->max_attempts;
  t->output_key = output_key;
  t->updated_at = now_usec ();
  return t;
}

static gchar *
work_url (ActiveJob *aj, const gchar *name)
{
  /* intermediates sit beside the output, in a folder of their own */
  return g_strdup_printf ("%swork/%s", aj->output_prefix, name);
}

/* MPEG-TS segment encodes land a frame off the scan's keyframe times (see
 * plugins/encoder/gst/README.md), so such sources are encoded in one task
 * until that is fixed: slower, but always right. */
static gboolean
splittable_container (ActiveJob *aj)
{
  const gchar *container = aj->job->media_info != NULL
                               ? json_object_get_string_member_with_default (
                                     aj->job->media_info, "container", "")
                               : "";

  return strstr (container, "mpegts") == NULL && strstr (container, "mp2t") == NULL;
}

/* Options only the one-task transcode implements (see we-gst-pipeline.h):
 * every audio track, subtitles carried or burned in. */
static gboolean
splittable_profile (const WeProfile *profile)
{
  return !profile->audio.keep_all_tracks &&
         (g_strcmp0 (profile->subtitles.mode, "none") == 0 ||
          g_strcmp0 (profile->subtitles.mode, "extract") == 0);
}

/* HLS or DASH: the outputs are a ladder's manifests and renditions */
static gboolean
is_packaged (const WeProfile *profile)
{
  return profile->hls.enabled || profile->dash.enabled;
}

/* Whether the probe saw a subtitle track; a probe from a worker that does
 * not report tracks says nothing, and the extraction finds out itself. */
static gboolean
has_subtitles (ActiveJob *aj)
{
  JsonArray *tracks = aj->job->media_info != NULL
                          ? we_json_get_array (aj->job->media_info, "subtitle_tracks") : NULL;

  if (aj->job->media_info == NULL || !json_object_has_member (aj->job->media_info,
                                                              "subtitle_tracks"))
    return TRUE;
  return tracks != NULL && json_array_get_length (tracks) > 0;
}

/* Called when the scan finished. The plan's tasks are written to the store
 * before any of them is dispatched (the store runs writes in order). */
static void
plan_job (WeScheduler *self, ActiveJob *aj, JsonObject *index_json)
{
  g_autoptr(WeKeyframeIndex) index = NULL;
  g_autoptr(GArray) segments = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *name = NULL;
  WePlanLimits limits = { aj->profile->segment_target_s, aj->profile->segment_min_s,
                          aj->profile->segment_max_s, 1 };
  guint first_new = aj->tasks->len;
  gboolean split;

  if (index_json != NULL) {
    index = we_keyframe_index_new_from_json (index_json, &error);
    if (index == NULL)
      we_log (G_LOG_LEVEL_WARNING, aj->job->id, "WE-WRK-004", "unusable keyframe index: %s",
              error->message);
    else
      json_object_set_object_member (aj->job->output_config, "scan",
                                     we_json_object_copy (index_json));
  }
  /* every slot that is free now, plus the one the scan just gave back */
  limits.slots = MAX (we_queue_free_slots (self->queue), 1);
  if (index != NULL && index->keyframes_s->len > 0)
    segments = we_segment_plan ((const gdouble *) index->keyframes_s->data,
                                index->keyframes_s->len, index->duration_s, &limits);
  split = segments != NULL && segments->len > 1 && splittable_container (aj) &&
          splittable_profile (aj->profile);
  name = we_job_output_name (aj->job->source_url, aj->profile->id,
                             we_profile_get_extension (aj->profile));

  if (is_packaged (aj->profile)) {
    split = FALSE;
    /* the manifests and rendition folders go straight into the prefix */
    g_ptr_array_add (aj->tasks, new_task (aj, KIND_LADDER, 0, 0, g_strdup (aj->output_prefix)));
  } else if (!split) {
    g_ptr_array_add (aj->tasks, new_task (aj, KIND_TRANSCODE, 0, 0,
                                          g_strconcat (aj->output_prefix, name, NULL)));
  } else {
    gdouble duration = index->duration_s;
    for (guint i = 0; i < segments->len; i++) {
      WeSegment *seg = &g_array_index (segments, WeSegment, i);
      g_autofree gchar *seg_name = g_strdup_printf ("segment-%04u.part", i);
      /* the last segment runs to the end, whatever the index said the duration was */
      g_ptr_array_add (aj->tasks, new_task (aj, KIND_SEGMENT, seg->start_s,
                                            i + 1 == segments->len ? 0 : seg->end_s,
                                            work_url (aj, seg_name)));
    }
    if (index->has_audio && g_strcmp0 (aj->profile->audio_codec, "none") != 0)
      g_ptr_array_add (aj->tasks, new_task (aj, KIND_AUDIO, 0, 0, work_url (aj, "audio.part")));
    g_ptr_array_add (aj->tasks, new_task (aj, KIND_STITCH, 0, duration,
                                          g_strconcat (aj->output_prefix, name, NULL)));
  }
  if (aj->profile->thumbnails.poster || aj->profile->thumbnails.interval_s > 0)
    g_ptr_array_add (aj->tasks, new_task (aj, KIND_THUMBNAILS, 0, 0,
                                          g_strdup (aj->output_prefix)));
  if (g_strcmp0 (aj->profile->subtitles.mode, "extract") == 0 && has_subtitles (aj))
    g_ptr_array_add (aj->tasks, new_task (aj, KIND_SUBTITLES, 0, 0,
                                          g_strdup (aj->output_prefix)));
  json_object_set_int_member (aj->job->output_config, "segments", split ? segments->len : 1);
  if (wants_encryption (aj->profile) && is_packaged (aj->profile))
    json_object_set_boolean_member (aj->job->output_config, "encrypted", TRUE);
  aj->job->tasks_total = (gint) aj->tasks->len;
  write_job (self, aj->job);
  for (guint i = first_new; i < aj->tasks->len; i++) {
    g_autoptr(WeTask) copy = we_task_copy (g_ptr_array_index (aj->tasks, i));
    we_store_task_insert_async (self->store, copy, NULL, store_write_done,
                                g_strdup ("planned task"));
  }
  if (split)
    add_event (self, aj->job->id, "job.planned", NULL, "split into %u segments for %u slot(s)",
               segments->len, limits.slots);
  else if (is_packaged (aj->profile))
    add_event (self, aj->job->id, "job.planned", NULL, "packaging %s%s%s in one task",
               aj->profile->hls.enabled ? "HLS" : "",
               aj->profile->hls.enabled && aj->profile->dash.enabled ? " and " : "",
               aj->profile->dash.enabled ? "DASH" : "");
  else
    add_event (self, aj->job->id, "job.planned", NULL, "encoding in one task");
  schedule_pump (self);
}

/* The files of a report nobody waits for any more. A package reports a
 * prefix and the files it wrote below it; only those go, never the prefix
 * (it may be a folder the user named). */
static void
delete_reported_outputs (WeScheduler *self, JsonObject *msg)
{
  const gchar *url = we_json_get_string (msg, "output_url");
  JsonObject *result = we_json_get_object (msg, "result");
  JsonArray *outputs = result != NULL ? we_json_get_array (result, "outputs") : NULL;

  if (url != NULL && !g_str_has_suffix (url, "/")) {
    delete_object_in_background (self, url);
    return;
  }
  for (guint i = 0; url != NULL && outputs != NULL && i < json_array_get_length (outputs); i++) {
    JsonNode *node = json_array_get_element (outputs, i);
    JsonObject *o = JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
    const gchar *file = o != NULL ? we_json_get_string (o, "url") : NULL;

    if (file != NULL && g_str_has_prefix (file, url))
      delete_object_in_background (self, file);
  }
}

/* --- pipeline introspection reports --- */

static gpointer
pipeline_put_func (WeStore *store, gpointer data, GError **error)
{
  we_store_task_pipeline_put (store, data, error);
  return NULL;
}

static gpointer
task_log_put_func (WeStore *store, gpointer data, GError **error)
{
  we_store_task_log_put (store, data, error);
  return NULL;
}

static void
store_call_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GError) error = NULL;
  g_autofree gchar *what = user_data;

  we_store_call_finish (WE_STORE (source), result, &error);
  if (error != NULL)
    we_log (G_LOG_LEVEL_WARNING, NULL, "WE-SYS-002", "store write (%s) failed: %s", what,
            error->message);
}

/* "pipeline": what one stage of the task ran, as a gst-launch line and a dot graph */
static void
record_pipeline (WeScheduler *self, ActiveJob *aj, WeTask *task, JsonObject *msg)
{
  const gchar *stage = we_json_get_string (msg, "stage");
  const gchar *launch = we_json_get_string (msg, "launch");
  WeTaskPipeline *pipeline;

  if (stage == NULL || stage[0] == '\0' || launch == NULL) {
    g_debug ("ignoring pipeline report of task %s without stage or launch", task->id);
    return;
  }
  pipeline = we_task_pipeline_new ();
  pipeline->job_id = g_strdup (aj->job->id);
  pipeline->task_id = g_strdup (task->id);
  pipeline->attempt = task->attempt_count;
  pipeline->stage = g_strdup (stage);
  pipeline->launch = g_strdup (launch);
  pipeline->dot = g_strdup (we_json_get_string (msg, "dot"));
  pipeline->recorded_at = now_usec ();
  we_store_call_async (self->store, pipeline_put_func, pipeline,
                       (GDestroyNotify) we_task_pipeline_free, NULL, NULL, store_call_done,
                       g_strdup ("pipeline"));
}

/* "log": the worker uploaded the task's GStreamer debug log to the log_url
 * it was given; any other URL is refused, so a worker can never make the API
 * serve some other object of the storage as a log */
static void
record_task_log (WeScheduler *self, ActiveJob *aj, WeTask *task, JsonObject *msg)
{
  g_autofree gchar *expected = task_log_url (aj, task->id, task->attempt_count);
  const gchar *url = we_json_get_string (msg, "url");
  WeTaskLog *log;

  if (url == NULL || g_strcmp0 (url, expected) != 0) {
    g_debug ("ignoring log report of task %s: not at its log_url", task->id);
    return;
  }
  log = we_task_log_new ();
  log->job_id = g_strdup (aj->job->id);
  log->task_id = g_strdup (task->id);
  log->attempt = task->attempt_count;
  log->url = g_strdup (url);
  log->size_bytes = (gint64) we_json_get_double (msg, "size_bytes", 0);
  log->truncated = json_object_get_boolean_member_with_default (msg, "truncated", FALSE);
  log->recorded_at = now_usec ();
  we_store_call_async (self->store, task_log_put_func, log, (GDestroyNotify) we_task_log_free,
                       NULL, NULL, store_call_done, g_strdup ("task log"));
}

static void
on_task_event (WeQueue *queue, const gchar *task_id, JsonObject *msg, WeScheduler *self)
{
  const gchar *type = we_worker_msg_type (msg);
  const gchar *job_id = g_hash_table_lookup (self->running, task_id);
  ActiveJob *aj = job_id ? g_hash_table_lookup (self->active, job_id) : NULL;
  WeTask *task = aj ? find_task (aj, task_id) : NULL;
  gboolean final = we_worker_msg_type_is_final (type);
  const gchar *worker = we_json_get_string (msg, "worker_id");

  if (task == NULL || task->status != WE_TASK_STATUS_RUNNING) {
    if (g_str_equal (type, "pipeline") || g_str_equal (type, "log"))
      g_debug ("ignoring %s report of task %s: not running here", type, task_id);
    /* a report for a job that was cancelled or deleted meanwhile */
    if (g_str_equal (type, "done"))
      delete_reported_outputs (self, msg);
    if (final)
      g_hash_table_remove (self->running, task_id);
    return;
  }

  /* a queue whose workers claim tasks themselves says who took it */
  if (worker != NULL && g_strcmp0 (worker, task->assigned_worker_id) != 0) {
    g_free (task->assigned_worker_id);
    task->assigned_worker_id = g_strdup (worker);
    g_free (aj->job->assigned_worker_id);
    aj->job->assigned_worker_id = g_strdup (worker);
    if (g_str_equal (type, "claimed")) {
      write_task (self, task);
      write_job (self, aj->job);
    }
  }

  if (g_str_equal (type, "claimed")) {
    /* recorded above */
  } else if (g_str_equal (type, "pipeline") || g_str_equal (type, "log")) {
    /* a queue that knows the attempt (NATS) says it; another attempt's
     * report is stale */
    gint64 attempt = we_json_get_int (msg, "attempt", task->attempt_count);

    if (attempt != task->attempt_count)
      g_debug ("ignoring %s report of task %s attempt %" G_GINT64_FORMAT " (now %d)", type,
               task_id, attempt, task->attempt_count);
    else if (g_str_equal (type, "pipeline"))
      record_pipeline (self, aj, task, msg);
    else
      record_task_log (self, aj, task, msg);
  } else if (g_str_equal (type, "probe")) {
    JsonNode *media = json_object_get_member (msg, "media");
    if (media != NULL && JSON_NODE_HOLDS_OBJECT (media)) {
      g_clear_pointer (&aj->job->media_info, json_object_unref);
      aj->job->media_info = json_object_ref (json_node_get_object (media));
      write_job (self, aj->job);
    }
  } else if (g_str_equal (type, "progress")) {
    task->progress_pct = CLAMP (we_json_get_double (msg, "percent", 0), 0, 100);
    write_task (self, task);
    update_job_progress (self, aj, task, msg);
  } else if (g_str_equal (type, "done")) {
    g_hash_table_remove (self->running, task_id);
    task->status = WE_TASK_STATUS_COMPLETED;
    task->progress_pct = 100;
    task->output_size_bytes = (gint64) we_json_get_double (msg, "size_bytes", 0);
    g_hash_table_remove (aj->rates, task->id);
    write_task (self, task);
    add_event (self, aj->job->id, "task.completed", NULL, "task %d (%s) completed",
               task->sequence_index, task->kind);
    if (task_is (task, KIND_SCAN)) {
      JsonNode *index = json_object_get_member (msg, "index");
      plan_job (self, aj, index != NULL && JSON_NODE_HOLDS_OBJECT (index)
                              ? json_node_get_object (index) : NULL);
    } else if (task_is_final (task)) {
      JsonObject *report = we_json_get_object (msg, "result");
      if (report != NULL && !task_is_package (task))
        json_object_set_object_member (aj->job->output_config, "verification",
                                       we_json_object_copy (report));
      record_outputs (self, aj, task, report);
      if (all_tasks_completed (aj)) {
        complete_job (self, aj);
        return;
      }
      write_job (self, aj->job);
    }
    update_job_progress (self, aj, NULL, NULL);
    schedule_pump (self);
  } else if (g_str_equal (type, "failed")) {
    const gchar *code = json_object_get_string_member_with_default (msg, "code", "WE-JOB-008");
    const gchar *message = json_object_get_string_member_with_default (msg, "message",
                                                                       "task failed");
    gboolean retryable = json_object_get_boolean_member_with_default (msg, "retryable", TRUE);

    g_hash_table_remove (self->running, task_id);
    g_hash_table_remove (aj->rates, task->id);
    if (task_is (task, KIND_SCAN) && !g_str_equal (code, "WE-JOB-007") &&
        !g_str_equal (code, "WE-STO-001") && !g_str_equal (code, "WE-STO-002") &&
        (!retryable || task->attempt_count >= task->max_attempts)) {
      /* an encoder that cannot index keyframes can still encode in one go */
      task->status = WE_TASK_STATUS_COMPLETED;
      write_task (self, task);
      add_event (self, aj->job->id, "task.completed", NULL,
                 "keyframe scan unavailable (%s: %s); encoding in one task", code, message);
      plan_job (self, aj, NULL);
      return;
    }
    g_free (task->error_code);
    task->error_code = g_strdup (code);
    g_free (task->error_message);
    task->error_message = g_strdup (message);
    add_event (self, aj->job->id, "task.failed", NULL, "task %d attempt %d: %s: %s",
               task->sequence_index, task->attempt_count, code, message);
    if (retryable && task->attempt_count < task->max_attempts) {
      guint delay = retry_delay_ms (self, task->attempt_count);
      task->status = WE_TASK_STATUS_PENDING;
      task->progress_pct = 0;
      task->not_before = now_usec () + (gint64) delay * 1000;
      write_task (self, task);
      add_event (self, aj->job->id, "task.retry_scheduled", NULL,
                 "task %d retries in %.1f s", task->sequence_index, delay / 1000.0);
      schedule_pump (self);
    } else {
      g_autofree gchar *reason = NULL;
      task->status = WE_TASK_STATUS_FAILED;
      write_task (self, task);
      if (retryable) {
        reason = g_strdup_printf ("gave up after %d attempts: %s", task->attempt_count, message);
        fail_job (self, aj, "WE-JOB-008", reason);
      } else {
        fail_job (self, aj, code, message);
      }
    }
  } else if (g_str_equal (type, "cancelled")) {
    g_hash_table_remove (self->running, task_id);
    g_hash_table_remove (aj->rates, task->id);
    task->status = WE_TASK_STATUS_CANCELLED;
    write_task (self, task);
  }
}

static void
on_slots_changed (WeQueue *queue, WeScheduler *self)
{
  schedule_pump (self);
}

/* --- construction --- */

static void
we_scheduler_dispose (GObject *object)
{
  WeScheduler *self = WE_SCHEDULER (object);

  if (self->queue != NULL) {
    g_clear_signal_handler (&self->task_event_id, self->queue);
    g_clear_signal_handler (&self->slots_id, self->queue);
  }
  g_clear_handle_id (&self->pump_source, g_source_remove);
  g_clear_handle_id (&self->pump_idle, g_source_remove);
  g_clear_handle_id (&self->tick_source, g_source_remove);
  g_clear_handle_id (&self->tick_again, g_source_remove);
  g_clear_object (&self->queue);
  g_clear_object (&self->store);
  g_clear_object (&self->host);
  g_clear_object (&self->keys);
  G_OBJECT_CLASS (we_scheduler_parent_class)->dispose (object);
}

static void
we_scheduler_finalize (GObject *object)
{
  WeScheduler *self = WE_SCHEDULER (object);

  g_hash_table_unref (self->active);
  g_hash_table_unref (self->running);
  g_queue_clear_full (&self->order, g_free);
  g_free (self->kernel_id);
  G_OBJECT_CLASS (we_scheduler_parent_class)->finalize (object);
}

static void
we_scheduler_class_init (WeSchedulerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = we_scheduler_dispose;
  object_class->finalize = we_scheduler_finalize;

  /**
   * WeScheduler::job-changed:
   * @job: (transfer none): the job after the change, already written to the store
   */
  signals[SIGNAL_JOB_CHANGED] =
      g_signal_new ("job-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                    NULL, NULL, NULL, G_TYPE_NONE, 1, WE_TYPE_JOB | G_SIGNAL_TYPE_STATIC_SCOPE);
  /**
   * WeScheduler::job-transition:
   * @job: (transfer none): the job after the change, already written to the store
   * @event_type: "job.created", "job.started", "job.completed" or "job.failed"
   *
   * Emitted once per transition by the kernel that drives the job (webhooks).
   */
  signals[SIGNAL_JOB_TRANSITION] =
      g_signal_new ("job-transition", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                    NULL, NULL, NULL, G_TYPE_NONE, 2, WE_TYPE_JOB | G_SIGNAL_TYPE_STATIC_SCOPE,
                    G_TYPE_STRING | G_SIGNAL_TYPE_STATIC_SCOPE);
}

static void
we_scheduler_init (WeScheduler *self)
{
  self->retry_base_ms = 5000;
  self->active = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                        (GDestroyNotify) active_job_free);
  self->running = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_queue_init (&self->order);
}

WeScheduler *
we_scheduler_new (WeStore *store, WeQueue *queue, WePluginHost *host)
{
  WeScheduler *self = g_object_new (WE_TYPE_SCHEDULER, NULL);

  self->store = g_object_ref (store);
  self->queue = g_object_ref (queue);
  self->host = g_object_ref (host);
  self->task_event_id = g_signal_connect (queue, "task-event", G_CALLBACK (on_task_event), self);
  self->slots_id = g_signal_connect (queue, "slots-changed", G_CALLBACK (on_slots_changed), self);
  return self;
}

void
we_scheduler_set_content_keys (WeScheduler *self, WeContentKeys *keys)
{
  g_return_if_fail (WE_IS_SCHEDULER (self));
  g_set_object (&self->keys, keys);
}

void
we_scheduler_set_retry_base (WeScheduler *self, guint milliseconds)
{
  self->retry_base_ms = MAX (milliseconds, 1);
}

guint
we_scheduler_get_active_count (WeScheduler *self)
{
  return g_hash_table_size (self->active);
}

static ActiveJob *
adopt_job (WeScheduler *self, WeJob *job, WeProfile *profile, GPtrArray *tasks)
{
  ActiveJob *aj = g_new0 (ActiveJob, 1);

  aj->job = we_job_ref (job);
  aj->profile = we_profile_ref (profile);
  aj->tasks = g_ptr_array_ref (tasks);
  aj->rates = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  aj->output_prefix = g_strdup (job->output_config != NULL
                                    ? json_object_get_string_member_with_default (
                                          job->output_config, "output_url", "")
                                    : "");
  g_hash_table_replace (self->active, g_strdup (job->id), aj);
  g_queue_push_tail (&self->order, g_strdup (job->id));
  return aj;
}

/* --- submit --- */

typedef struct {
  WeJobRequest *request;
  gchar        *user_id;
  WeProfile    *profile;
  WeJob        *job;
  GPtrArray    *tasks;
  gboolean      created;   /* job_create ran and found the key taken */
} SubmitData;

static void
submit_data_free (SubmitData *d)
{
  we_job_request_free (d->request);
  g_free (d->user_id);
  g_clear_pointer (&d->profile, we_profile_unref);
  g_clear_pointer (&d->job, we_job_unref);
  g_clear_pointer (&d->tasks, g_ptr_array_unref);
  g_free (d);
}

/* Runs in a thread: storage pillars may block. */
static void
check_source_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  WeScheduler *self = source;
  SubmitData *d = task_data;
  const gchar *url = d->request->source_url;
  WeStorage *storage = we_plugin_host_storage_for_url (self->host, url, NULL);
  g_auto(WeObjectInfo) info = { 0 };
  g_autoptr(GError) error = NULL;
  gchar *output_prefix = NULL;

  if (storage == NULL) {
    g_autofree gchar *scheme = g_uri_parse_scheme (url);
    g_task_return_new_error (task, WE_ERROR, WE_ERROR_JOB_INVALID_SOURCE,
                             "no storage plugin handles %s:// URLs", scheme ? scheme : "?");
    return;
  }
  if (!we_storage_stat (storage, url, &info, &error)) {
    g_task_return_new_error (task, WE_ERROR, WE_ERROR_JOB_INVALID_SOURCE,
                             "source %s is not readable: %s", url, error->message);
    return;
  }
  if (info.size == 0) {
    g_task_return_new_error (task, WE_ERROR, WE_ERROR_JOB_INVALID_SOURCE,
                             "source %s is empty", url);
    return;
  }

  if (d->request->output_url != NULL) {
    WeStorage *out = we_plugin_host_storage_for_url (self->host, d->request->output_url, NULL);
    if (out == NULL) {
      g_task_return_new_error (task, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                               "no storage plugin handles output_url %s",
                               d->request->output_url);
      return;
    }
    output_prefix = g_str_has_suffix (d->request->output_url, "/")
                        ? g_strdup (d->request->output_url)
                        : g_strconcat (d->request->output_url, "/", NULL);
  } else {
    WeStorage *out = we_plugin_host_default_storage (self->host, NULL);
    g_autofree gchar *key = g_strdup_printf ("outputs/%s/", d->job->id);
    if (out == NULL) {
      g_task_return_new_error (task, WE_ERROR, WE_ERROR_STO_UNAVAILABLE,
                               "no storage plugin accepts outputs");
      return;
    }
    output_prefix = we_storage_make_url (out, key);
  }
  g_task_return_pointer (task, output_prefix, g_free);
}

static void submit_profile_cb (GObject *source, GAsyncResult *result, gpointer user_data);
static void submit_with_profile (GTask *task, WeProfile *profile);

/* The stored profile the request names, or its custom one, which the store
 * never sees. Takes @task. */
static void
submit_resolve_profile (WeScheduler *self, GTask *task)
{
  SubmitData *d = g_task_get_task_data (task);
  GCancellable *cancellable = g_task_get_cancellable (task);

  if (d->request->custom_profile != NULL) {
    submit_with_profile (task, we_profile_ref (d->request->custom_profile));
    return;
  }
  we_store_profile_get_async (self->store, d->request->profile_id, cancellable,
                              submit_profile_cb, task);
}

/* The job an earlier submit with the same idempotency key made, if any:
 * the answer to this submit too. */
static void
submit_key_found_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  WeScheduler *self = g_task_get_source_object (task);
  SubmitData *d = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) jobs = we_store_finish_list (WE_STORE (source), result, NULL, &error);

  if (jobs == NULL) {
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }
  if (jobs->len > 0) {
    g_task_return_pointer (task, we_job_ref (g_ptr_array_index (jobs, 0)),
                           (GDestroyNotify) we_job_unref);
    return;
  }
  if (d->created) {
    /* the store said the key was taken, yet nothing has it: deleted meanwhile */
    g_task_return_new_error (task, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                             "the job of idempotency key \"%s\" was deleted; use a new key",
                             d->request->idempotency_key);
    return;
  }
  submit_resolve_profile (self, g_steal_pointer (&task));
}

static void
find_by_key (WeScheduler *self, GTask *task)
{
  SubmitData *d = g_task_get_task_data (task);
  WeJobFilter filter = { 0 };

  filter.user_id = d->user_id;
  filter.idempotency_key = d->request->idempotency_key;
  filter.limit = 1;
  we_store_job_list_async (self->store, &filter, g_task_get_cancellable (task),
                           submit_key_found_cb, task);
}

static void
submit_created_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  WeScheduler *self = g_task_get_source_object (task);
  SubmitData *d = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;

  if (!we_store_finish_boolean (WE_STORE (source), result, &error)) {
    if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_EXISTS) &&
        d->request->idempotency_key != NULL) {
      /* a concurrent submit with the same key, maybe through another kernel, won */
      d->created = TRUE;
      find_by_key (self, g_steal_pointer (&task));
      return;
    }
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }
  add_event (self, d->job->id, "job.created", NULL, "queued %s with profile %s%s%s",
             d->job->source_url, d->profile->id, d->job->retry_of ? " retrying " : "",
             d->job->retry_of ? d->job->retry_of : "");
  adopt_job (self, d->job, d->profile, d->tasks);
  g_signal_emit (self, signals[SIGNAL_JOB_CHANGED], 0, d->job);
  g_signal_emit (self, signals[SIGNAL_JOB_TRANSITION], 0, d->job, "job.created");
  schedule_pump (self);
  g_task_return_pointer (task, we_job_copy (d->job), (GDestroyNotify) we_job_unref);
}

static void
submit_source_checked_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  WeScheduler *self = g_task_get_source_object (task);
  SubmitData *d = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  g_autofree gchar *output_prefix = g_task_propagate_pointer (G_TASK (result), &error);
  g_autoptr(WeTask) t = NULL;
  g_autoptr(GPtrArray) tasks_copy = NULL;
  g_autoptr(WeJob) job_copy = NULL;

  if (output_prefix == NULL) {
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }
  json_object_set_string_member (d->job->output_config, "output_url", output_prefix);

  /* every job starts with a keyframe scan; its result decides the plan */
  t = we_task_new ();
  t->id = we_uuid_new ();
  t->job_id = g_strdup (d->job->id);
  t->sequence_index = 0;
  g_free (t->kind);
  t->kind = g_strdup (KIND_SCAN);
  t->max_attempts = d->profile->max_attempts;
  t->updated_at = d->job->created_at;
  d->tasks = g_ptr_array_new_with_free_func ((GDestroyNotify) we_task_unref);
  g_ptr_array_add (d->tasks, g_steal_pointer (&t));
  d->job->tasks_total = 1;

  tasks_copy = g_ptr_array_new_with_free_func ((GDestroyNotify) we_task_unref);
  for (guint i = 0; i < d->tasks->len; i++)
    g_ptr_array_add (tasks_copy, we_task_copy (g_ptr_array_index (d->tasks, i)));
  job_copy = we_job_copy (d->job);
  we_store_job_create_async (self->store, job_copy, tasks_copy, g_task_get_cancellable (task),
                             submit_created_cb, g_object_ref (task));
}

static void
submit_profile_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  SubmitData *d = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  WeProfile *base = we_store_finish_profile (WE_STORE (source), result, &error);

  if (base == NULL) {
    if (g_error_matches (error, WE_ERROR, WE_ERROR_JOB_INVALID_PROFILE) ||
        g_error_matches (error, WE_ERROR, WE_ERROR_JOB_NOT_FOUND))
      g_task_return_new_error (task, WE_ERROR, WE_ERROR_JOB_INVALID_PROFILE,
                               "profile \"%s\" does not exist; GET /v1/profiles lists them",
                               d->request->profile_id);
    else
      g_task_return_error (task, g_steal_pointer (&error));
    return;
  }
  submit_with_profile (g_steal_pointer (&task), base);
}

/* Takes @task and @base: the job's profile before its overrides. */
static void
submit_with_profile (GTask *task_in, WeProfile *base_in)
{
  g_autoptr(GTask) task = task_in;
  g_autoptr(WeProfile) base = base_in;
  WeScheduler *self = g_task_get_source_object (task);
  SubmitData *d = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  g_autoptr(GTask) check = NULL;
  WeJob *job;

  if (d->request->profile_overrides != NULL) {
    d->profile = we_profile_new_with_overrides (base, d->request->profile_overrides, &error);
    if (d->profile == NULL) {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
    /* keep the id: outputs and lists name the profile the user picked */
    g_free (d->profile->id);
    d->profile->id = g_strdup (base->id);
  } else {
    d->profile = we_profile_ref (base);
  }

  job = d->job = we_job_new ();
  job->id = we_uuid_new ();
  job->user_id = g_strdup (d->user_id);
  job->source_type = g_strdup (g_str_has_prefix (d->request->source_url, "fs://uploads/")
                                   ? "upload" : "url");
  job->source_url = g_strdup (d->request->source_url);
  job->profile_id = g_strdup (d->profile->id);
  job->status = WE_JOB_STATUS_QUEUED;
  job->retry_of = g_strdup (d->request->retry_of);
  job->priority = d->request->priority;
  job->owner_kernel = g_strdup (self->kernel_id);
  job->idempotency_key = g_strdup (d->request->idempotency_key);
  job->created_at = job->updated_at = now_usec ();
  job->output_config = json_object_new ();
  json_object_set_object_member (job->output_config, "profile", we_profile_to_json (d->profile));
  if (d->request->profile_overrides != NULL)
    json_object_set_object_member (job->output_config, "profile_overrides",
                                   json_object_ref (d->request->profile_overrides));
  /* a retry takes the profile from the snapshot above: no stored one has it */
  if (d->request->custom_profile != NULL)
    json_object_set_boolean_member (job->output_config, "custom_profile", TRUE);
  if (d->request->webhooks != NULL)
    json_object_set_array_member (job->output_config, "webhooks",
                                  json_array_ref (d->request->webhooks));
  if (d->request->publish != NULL)
    json_object_set_object_member (job->output_config, "publish",
                                   json_object_ref (d->request->publish));

  check = g_task_new (self, g_task_get_cancellable (task), submit_source_checked_cb,
                      g_object_ref (task));
  g_task_set_source_tag (check, check_source_thread);
  g_task_set_task_data (check, d, NULL); /* owned by the outer task, which outlives this one */
  g_task_run_in_thread (check, check_source_thread);
}

static void
submit_request (WeScheduler *self, WeJobRequest *request, const gchar *user_id,
                GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data,
                gpointer source_tag)
{
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
  SubmitData *d = g_new0 (SubmitData, 1);

  g_task_set_source_tag (task, source_tag);
  d->request = request;
  d->user_id = g_strdup (user_id);
  g_task_set_task_data (task, d, (GDestroyNotify) submit_data_free);
  if (request->idempotency_key != NULL) {
    find_by_key (self, g_steal_pointer (&task));
    return;
  }
  submit_resolve_profile (self, g_steal_pointer (&task));
}

void
we_scheduler_submit_async (WeScheduler *self, JsonObject *body, const gchar *user_id,
                           GCancellable *cancellable, GAsyncReadyCallback callback,
                           gpointer user_data)
{
  g_autoptr(GError) error = NULL;
  WeJobRequest *request = we_job_request_parse (body, &error);

  if (request == NULL) {
    g_task_report_error (self, callback, user_data, we_scheduler_submit_async,
                         g_steal_pointer (&error));
    return;
  }
  submit_request (self, request, user_id, cancellable, callback, user_data,
                  we_scheduler_submit_async);
}

WeJob *
we_scheduler_submit_finish (WeScheduler *self, GAsyncResult *result, GError **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

/* --- cancel --- */

static WeJob *
cancel_active (WeScheduler *self, ActiveJob *aj)
{
  WeJob *job = we_job_ref (aj->job);

  stop_running_tasks (self, aj);
  job->status = WE_JOB_STATUS_CANCELLED;
  job->eta_seconds = -1;
  job->finished_at = now_usec ();
  write_job (self, job);
  add_event (self, job->id, "job.cancelled", NULL, "cancelled");
  discard_intermediates (self, aj);
  forget_job (self, job->id);
  return job;
}

static gboolean
check_cancellable (WeJob *job, GError **error)
{
  switch (job->status) {
  case WE_JOB_STATUS_CANCELLED:
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_CANCELLED, "job %s was already cancelled",
                 job->id);
    return FALSE;
  case WE_JOB_STATUS_COMPLETED:
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_COMPLETED, "job %s has already completed",
                 job->id);
    return FALSE;
  case WE_JOB_STATUS_FAILED:
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_COMPLETED, "job %s has already failed", job->id);
    return FALSE;
  default:
    return TRUE;
  }
}

static void
cancel_get_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  WeScheduler *self = g_task_get_source_object (task);
  g_autoptr(GError) error = NULL;
  g_autoptr(WeJob) job = we_store_finish_job (WE_STORE (source), result, &error);
  ActiveJob *aj;

  if (job == NULL) {
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }
  /* it may have become active or finished while we read it */
  aj = g_hash_table_lookup (self->active, job->id);
  if (aj != NULL) {
    g_task_return_pointer (task, cancel_active (self, aj), (GDestroyNotify) we_job_unref);
    return;
  }
  if (!check_cancellable (job, &error)) {
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }
  /* active in the store but not driven by us: a record from an unfinished resume */
  job->status = WE_JOB_STATUS_CANCELLED;
  job->finished_at = now_usec ();
  write_job (self, job);
  g_task_return_pointer (task, g_steal_pointer (&job), (GDestroyNotify) we_job_unref);
}

void
we_scheduler_cancel_async (WeScheduler *self, const gchar *job_id, GCancellable *cancellable,
                           GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
  ActiveJob *aj = g_hash_table_lookup (self->active, job_id);

  g_task_set_source_tag (task, we_scheduler_cancel_async);
  if (aj != NULL) {
    g_task_return_pointer (task, cancel_active (self, aj), (GDestroyNotify) we_job_unref);
    return;
  }
  we_store_job_get_async (self->store, job_id, cancellable, cancel_get_cb,
                          g_steal_pointer (&task));
}

WeJob *
we_scheduler_cancel_finish (WeScheduler *self, GAsyncResult *result, GError **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

/* --- retry --- */

/* Finishes a job_get for @task; a job still running is cancelled first.
 * Returns: (transfer full) (nullable): NULL once @task has its error */
static WeJob *
finish_get_and_stop (WeScheduler *self, GAsyncResult *result, GTask *task)
{
  g_autoptr(GError) error = NULL;
  WeJob *job = we_store_finish_job (self->store, result, &error);
  ActiveJob *aj;

  if (job == NULL) {
    g_task_return_error (task, g_steal_pointer (&error));
    return NULL;
  }
  aj = g_hash_table_lookup (self->active, job->id);
  if (aj != NULL) {
    g_autoptr(WeJob) cancelled = cancel_active (self, aj);
  }
  return job;
}

static void
retry_submitted_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;
  WeJob *job = we_scheduler_submit_finish (WE_SCHEDULER (source), result, &error);

  if (job == NULL)
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_pointer (task, job, (GDestroyNotify) we_job_unref);
}

static void
retry_get_chain_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  WeScheduler *self = g_task_get_source_object (task);
  g_autoptr(WeJob) job = finish_get_and_stop (self, result, task);
  WeJobRequest *request;
  JsonNode *node;

  if (job == NULL)
    return;

  request = g_new0 (WeJobRequest, 1);
  request->source_url = g_strdup (job->source_url);
  request->profile_id = g_strdup (job->profile_id);
  request->retry_of = g_strdup (job->id);
  request->priority = job->priority;
  if (job->output_config != NULL) {
    node = json_object_get_member (job->output_config, "profile_overrides");
    if (node != NULL && JSON_NODE_HOLDS_OBJECT (node))
      request->profile_overrides = json_object_ref (json_node_get_object (node));
    node = json_object_get_member (job->output_config, "custom_profile");
    if (node != NULL && JSON_NODE_HOLDS_VALUE (node) && json_node_get_boolean (node)) {
      node = json_object_get_member (job->output_config, "profile");
      if (node != NULL && JSON_NODE_HOLDS_OBJECT (node))
        request->custom_profile = we_profile_new_from_json (json_node_get_object (node), NULL);
    }
    node = json_object_get_member (job->output_config, "webhooks");
    if (node != NULL && JSON_NODE_HOLDS_ARRAY (node))
      request->webhooks = json_array_ref (json_node_get_array (node));
  }
  submit_request (self, request, g_task_get_task_data (task), g_task_get_cancellable (task),
                  retry_submitted_cb, g_object_ref (task), we_scheduler_submit_async);
}

void
we_scheduler_retry_async (WeScheduler *self, const gchar *job_id, const gchar *user_id,
                          GCancellable *cancellable, GAsyncReadyCallback callback,
                          gpointer user_data)
{
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);

  g_task_set_source_tag (task, we_scheduler_retry_async);
  g_task_set_task_data (task, g_strdup (user_id), g_free);
  we_store_job_get_async (self->store, job_id, cancellable, retry_get_chain_cb,
                          g_steal_pointer (&task));
}

WeJob *
we_scheduler_retry_finish (WeScheduler *self, GAsyncResult *result, GError **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

/* --- delete --- */

static void
delete_folder_of (WeStorage *storage, WeJobOutput *output)
{
  g_autofree gchar *prefix = g_strndup (output->url, strrchr (output->url, '/') - output->url + 1);
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) objects = we_storage_list_objects (storage, prefix, &error);

  for (guint i = 0; objects != NULL && i < objects->len; i++) {
    WeObjectInfo *info = g_ptr_array_index (objects, i);
    g_autoptr(GError) local = NULL;

    if (g_strcmp0 (info->url, output->url) != 0 &&
        !we_storage_delete_object (storage, info->url, &local) &&
        !g_error_matches (local, WE_ERROR, WE_ERROR_STO_NOT_FOUND))
      we_log (G_LOG_LEVEL_WARNING, output->job_id, "WE-STO-004", "deleting %s: %s", info->url,
              local->message);
  }
}

static void
delete_outputs_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  WeScheduler *self = source;
  GPtrArray *outputs = task_data;

  for (guint i = 0; i < outputs->len; i++) {
    WeJobOutput *o = g_ptr_array_index (outputs, i);
    WeStorage *storage = we_plugin_host_storage_for_url (self->host, o->url, NULL);
    g_autoptr(GError) error = NULL;

    /* a rendition's folder holds its segments, which have no rows */
    if (storage != NULL && strchr (o->name, '/') != NULL &&
        (g_strcmp0 (o->type, "rendition") == 0 || g_strcmp0 (o->type, "subtitle") == 0))
      delete_folder_of (storage, o);
    if (storage != NULL && !we_storage_delete_object (storage, o->url, &error) &&
        !g_error_matches (error, WE_ERROR, WE_ERROR_STO_NOT_FOUND))
      we_log (G_LOG_LEVEL_WARNING, o->job_id, "WE-STO-004", "deleting output %s: %s", o->url,
              error->message);
  }
  g_task_return_boolean (task, TRUE);
}

static void
delete_records_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;

  if (!we_store_finish_boolean (WE_STORE (source), result, &error))
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_boolean (task, TRUE);
}

static void
delete_outputs_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  WeScheduler *self = g_task_get_source_object (task);
  const gchar *job_id = g_task_get_task_data (task);
  GCancellable *cancellable = g_task_get_cancellable (task);

  /* argument evaluation order is unspecified: read the task before giving it away */
  we_store_job_delete_async (self->store, job_id, cancellable, delete_records_cb,
                             g_steal_pointer (&task));
}

static void
delete_outputs_listed_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  WeScheduler *self = g_task_get_source_object (task);
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) outputs = we_store_call_finish (WE_STORE (source), result, &error);
  g_autoptr(GTask) sub = NULL;

  if (outputs == NULL) {
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }
  sub = g_task_new (self, NULL, delete_outputs_done_cb, g_steal_pointer (&task));
  g_task_set_source_tag (sub, delete_outputs_thread);
  g_task_set_task_data (sub, g_steal_pointer (&outputs), (GDestroyNotify) g_ptr_array_unref);
  g_task_run_in_thread (sub, delete_outputs_thread);
}

/* The job's outputs, and its tasks' debug logs as outputs of type "log", so
 * the deleting thread removes both from storage. */
static gpointer
list_deletable_func (WeStore *store, gpointer data, GError **error)
{
  const gchar *job_id = data;
  g_autoptr(GPtrArray) outputs = we_store_output_list (store, job_id, error);
  g_autoptr(GPtrArray) logs = NULL;
  g_autoptr(GPtrArray) tasks = NULL;

  if (outputs == NULL)
    return NULL;
  logs = we_store_task_log_list (store, job_id, NULL, error);
  if (logs == NULL)
    return NULL;
  for (guint i = 0; i < logs->len; i++) {
    WeTaskLog *log = g_ptr_array_index (logs, i);
    WeJobOutput *o = we_job_output_new ();

    o->job_id = g_strdup (log->job_id);
    o->name = g_strdup_printf ("%s.log", log->task_id);
    o->type = g_strdup ("log");
    o->url = g_strdup (log->url);
    g_ptr_array_add (outputs, o);
  }
  /* a failed job keeps its segments for a task retry (see fail_job) */
  tasks = we_store_task_list (store, job_id, error);
  if (tasks == NULL)
    return NULL;
  for (guint i = 0; i < tasks->len; i++) {
    WeTask *t = g_ptr_array_index (tasks, i);
    WeJobOutput *o;

    if ((!task_is (t, KIND_SEGMENT) && !task_is (t, KIND_AUDIO)) || t->output_key == NULL)
      continue;
    o = we_job_output_new ();
    o->job_id = g_strdup (job_id);
    o->name = g_path_get_basename (t->output_key);
    o->type = g_strdup ("intermediate");
    o->url = g_strdup (t->output_key);
    g_ptr_array_add (outputs, o);
  }
  return g_steal_pointer (&outputs);
}

static void
delete_get_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  WeScheduler *self = g_task_get_source_object (task);
  g_autoptr(WeJob) job = finish_get_and_stop (self, result, task);
  GCancellable *cancellable;

  if (job == NULL)
    return;
  cancellable = g_task_get_cancellable (task);
  we_store_call_async (self->store, list_deletable_func, g_strdup (job->id), g_free,
                       (GDestroyNotify) g_ptr_array_unref, cancellable, delete_outputs_listed_cb,
                       g_steal_pointer (&task));
}

void
we_scheduler_delete_async (WeScheduler *self, const gchar *job_id, GCancellable *cancellable,
                           GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);

  g_task_set_source_tag (task, we_scheduler_delete_async);
  g_task_set_task_data (task, g_strdup (job_id), g_free);
  we_store_job_get_async (self->store, job_id, cancellable, delete_get_cb,
                          g_steal_pointer (&task));
}

gboolean
we_scheduler_delete_finish (WeScheduler *self, GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

/* --- resume --- */

/* A kernel adopts at most this many jobs per store round trip, and goes
 * straight on to the next batch while batches come back full. */
#define ADOPT_BATCH 200

typedef struct {
  GPtrArray *jobs;   /* (element-type WeJob) still to load */
  guint      next;
  guint      resumed;
  GPtrArray *ids;    /* (element-type utf8) adopted job ids to fetch, or NULL */
  guint      next_id;
  gboolean   adopting;
} ResumeData;

static void
resume_data_free (ResumeData *d)
{
  g_clear_pointer (&d->jobs, g_ptr_array_unref);
  g_clear_pointer (&d->ids, g_ptr_array_unref);
  g_free (d);
}

static void resume_next (GTask *task);
static gboolean tick_cb (gpointer user_data);
static gboolean tick_again_cb (gpointer user_data);

static void
resume_tasks_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  WeScheduler *self = g_task_get_source_object (task);
  ResumeData *d = g_task_get_task_data (task);
  WeJob *job = g_ptr_array_index (d->jobs, d->next - 1);
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) tasks = we_store_finish_list (WE_STORE (source), result, NULL, &error);
  g_autoptr(WeProfile) profile = NULL;
  JsonNode *node = job->output_config
                       ? json_object_get_member (job->output_config, "profile") : NULL;

  if (tasks == NULL) {
    self->ticking = FALSE;
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }
  if (node != NULL && JSON_NODE_HOLDS_OBJECT (node))
    profile = we_profile_new_from_json (json_node_get_object (node), &error);
  if (profile == NULL || tasks->len == 0) {
    g_autoptr(WeProfile) placeholder = profile ? we_profile_ref (profile)
                                               : we_profile_new ("unknown");
    ActiveJob *aj = adopt_job (self, job, placeholder, tasks);
    fail_job (self, aj, "WE-JOB-008",
              profile == NULL ? "cannot resume: the job's profile snapshot is unreadable"
                              : "cannot resume: the job has no tasks");
    resume_next (g_steal_pointer (&task));
    return;
  }

  for (guint i = 0; i < tasks->len; i++) {
    WeTask *t = g_ptr_array_index (tasks, i);
    if (t->status == WE_TASK_STATUS_RUNNING) {
      /* the interruption was ours, not the task's: it does not use up an attempt */
      t->status = WE_TASK_STATUS_PENDING;
      t->attempt_count = MAX (0, t->attempt_count - 1);
      t->progress_pct = 0;
      t->not_before = 0;
      write_task (self, t);
    }
  }
  {
    ActiveJob *aj = adopt_job (self, job, profile, tasks);
    gboolean has_final = FALSE, scanned = FALSE;

    for (guint i = 0; i < tasks->len; i++) {
      WeTask *t = g_ptr_array_index (tasks, i);
      has_final |= task_is_final (t);
      scanned |= task_is (t, KIND_SCAN) && t->status == WE_TASK_STATUS_COMPLETED;
    }
    if (self->kernel_id != NULL)
      add_event (self, job->id, "job.resumed", NULL, "resumed by kernel %s", self->kernel_id);
    else
      add_event (self, job->id, "job.resumed", NULL, "resumed after a service restart");
    /* the service died between the scan and writing its plan */
    if (scanned && !has_final) {
      JsonNode *scan = json_object_get_member (job->output_config, "scan");
      plan_job (self, aj, scan != NULL && JSON_NODE_HOLDS_OBJECT (scan)
                              ? json_node_get_object (scan) : NULL);
    }
  }
  d->resumed++;
  resume_next (g_steal_pointer (&task));
}

static void
resume_next (GTask *task)
{
  WeScheduler *self = g_task_get_source_object (task);
  ResumeData *d = g_task_get_task_data (task);
  WeJob *job;

  if (d->next >= d->jobs->len) {
    if (d->resumed > 0)
      we_log (G_LOG_LEVEL_INFO, NULL, NULL, "%s %u active job(s) from the store",
              d->adopting ? "adopted" : "resumed", d->resumed);
    schedule_pump (self);
    self->ticking = FALSE;
    if (self->kernel_id != NULL) {
      if (self->tick_source == 0)
        self->tick_source = g_timeout_add_seconds (self->beat_s, tick_cb, self);
      /* a full batch: there may be more orphans waiting right now */
      if (d->ids != NULL && d->ids->len >= ADOPT_BATCH && self->tick_again == 0)
        self->tick_again = g_idle_add (tick_again_cb, self);
    }
    g_task_return_boolean (task, TRUE);
    g_object_unref (task);
    return;
  }
  job = g_ptr_array_index (d->jobs, d->next++);
  we_store_task_list_async (self->store, job->id, g_task_get_cancellable (task), resume_tasks_cb,
                            task);
}

static void
resume_list_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  ResumeData *d = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;

  d->jobs = we_store_finish_list (WE_STORE (source), result, NULL, &error);
  if (d->jobs == NULL) {
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }
  resume_next (g_steal_pointer (&task));
}

static void adopt_fetch_next (GTask *task);

static void
adopt_got_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GTask *task = user_data;
  WeScheduler *self = g_task_get_source_object (task);
  ResumeData *d = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  WeJob *job = we_store_finish_job (WE_STORE (source), result, &error);

  if (job == NULL)
    we_log (G_LOG_LEVEL_WARNING, NULL, "WE-SYS-002", "cannot load job %s to adopt it: %s",
            (const gchar *) g_ptr_array_index (d->ids, d->next_id - 1), error->message);
  else if (g_hash_table_contains (self->active, job->id))
    we_job_unref (job);
  else
    g_ptr_array_add (d->jobs, job);
  adopt_fetch_next (task);
}

/* Consumes @task's reference, like resume_next(). */
static void
adopt_fetch_next (GTask *task)
{
  WeScheduler *self = g_task_get_source_object (task);
  ResumeData *d = g_task_get_task_data (task);

  if (d->next_id < d->ids->len) {
    const gchar *id = g_ptr_array_index (d->ids, d->next_id++);

    we_store_job_get_async (self->store, id, g_task_get_cancellable (task), adopt_got_cb, task);
    return;
  }
  resume_next (task);
}

static void
adopt_listed_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GTask *task = user_data;
  WeScheduler *self = g_task_get_source_object (task);
  ResumeData *d = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;

  d->ids = we_store_finish_list (WE_STORE (source), result, NULL, &error);
  if (d->ids == NULL) {
    self->ticking = FALSE;
    g_task_return_error (task, g_steal_pointer (&error));
    g_object_unref (task);
    return;
  }
  d->jobs = g_ptr_array_new_with_free_func ((GDestroyNotify) we_job_unref);
  adopt_fetch_next (task);
}

/* Beats in the store and adopts the jobs no live kernel drives. */
static void
adopt_orphans (WeScheduler *self, gboolean release_owned, GTask *task)
{
  ResumeData *d = g_new0 (ResumeData, 1);

  d->adopting = !release_owned;
  g_task_set_task_data (task, d, (GDestroyNotify) resume_data_free);
  self->ticking = TRUE;
  we_store_kernel_tick_async (self->store, self->kernel_id, g_get_host_name (), release_owned,
                              self->beat_s * 3, ADOPT_BATCH, g_task_get_cancellable (task),
                              adopt_listed_cb, task);
}

static void
tick_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GError) error = NULL;

  if (!g_task_propagate_boolean (G_TASK (result), &error))
    we_log (G_LOG_LEVEL_WARNING, NULL, "WE-SYS-002", "kernel beat failed: %s", error->message);
}

static void
tick_start (WeScheduler *self)
{
  GTask *task;

  if (self->ticking || self->store == NULL)
    return;
  task = g_task_new (self, NULL, tick_done_cb, NULL);
  g_task_set_source_tag (task, tick_start);
  adopt_orphans (self, FALSE, task);
}

static void poll_task_retries (WeScheduler *self);

static gboolean
tick_cb (gpointer user_data)
{
  tick_start (user_data);
  poll_task_retries (user_data);
  return G_SOURCE_CONTINUE;
}

static gboolean
tick_again_cb (gpointer user_data)
{
  WeScheduler *self = user_data;

  self->tick_again = 0;
  tick_start (self);
  return G_SOURCE_REMOVE;
}

void
we_scheduler_set_kernel (WeScheduler *self, const gchar *kernel_id, guint beat_s)
{
  g_return_if_fail (WE_IS_SCHEDULER (self));
  g_free (self->kernel_id);
  self->kernel_id = g_strdup (kernel_id);
  self->beat_s = MAX (beat_s, 1);
}

void
we_scheduler_resume_async (WeScheduler *self, GCancellable *cancellable,
                           GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
  WeJobFilter filter = { 0 };

  g_task_set_source_tag (task, we_scheduler_resume_async);
  if (self->kernel_id != NULL) {
    /* what this kernel drove before it restarted is released and adopted
     * like any orphan, in batches, possibly by another live kernel */
    adopt_orphans (self, TRUE, g_steal_pointer (&task));
    return;
  }
  g_task_set_task_data (task, g_new0 (ResumeData, 1), (GDestroyNotify) resume_data_free);
  filter.status_mask = WE_JOB_STATUS_MASK_ACTIVE;
  filter.limit = 500;
  filter.oldest_first = TRUE;
  we_store_job_list_async (self->store, &filter, cancellable, resume_list_cb,
                           g_steal_pointer (&task));
}

gboolean
we_scheduler_resume_finish (WeScheduler *self, GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

/* --- priority --- */

static void
priority_get_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(WeJob) job = we_store_finish_job (WE_STORE (source), result, &error);

  if (job == NULL) {
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }
  /* not active: it has finished (or is about to be resumed) */
  if (!check_cancellable (job, &error)) {
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }
  g_task_return_new_error (task, WE_ERROR, WE_ERROR_SYS_UNAVAILABLE,
                           "job %s is not scheduled yet; try again", job->id);
}

void
we_scheduler_set_priority_async (WeScheduler *self, const gchar *job_id, gint priority,
                                 GCancellable *cancellable, GAsyncReadyCallback callback,
                                 gpointer user_data)
{
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
  ActiveJob *aj = g_hash_table_lookup (self->active, job_id);

  g_task_set_source_tag (task, we_scheduler_set_priority_async);
  if (aj != NULL) {
    aj->job->priority = CLAMP (priority, 0, 100);
    write_job (self, aj->job);
    add_event (self, aj->job->id, "job.priority", NULL, "priority set to %d",
               aj->job->priority);
    schedule_pump (self);
    g_task_return_pointer (task, we_job_copy (aj->job), (GDestroyNotify) we_job_unref);
    return;
  }
  we_store_job_get_async (self->store, job_id, cancellable, priority_get_cb,
                          g_steal_pointer (&task));
}

WeJob *
we_scheduler_set_priority_finish (WeScheduler *self, GAsyncResult *result, GError **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

/* --- per-task retry --- */

typedef struct {
  gchar    *job_id;
  gchar    *task_id;
  gboolean  requeue;
  WeJob    *job;     /* read from the store */
  WeTask   *task;    /* the answer's task */
} TaskRetryData;

static void
task_retry_data_free (TaskRetryData *d)
{
  g_free (d->job_id);
  g_free (d->task_id);
  g_clear_pointer (&d->job, we_job_unref);
  g_clear_pointer (&d->task, we_task_unref);
  g_free (d);
}

static WeTask *
find_task_in (GPtrArray *tasks, const gchar *task_id)
{
  for (guint i = 0; i < tasks->len; i++) {
    WeTask *t = g_ptr_array_index (tasks, i);
    if (g_strcmp0 (t->id, task_id) == 0)
      return t;
  }
  return NULL;
}

/* Whether @task_id of @job (with @tasks) may run again.
 * Returns: (transfer none) (nullable): the task, or NULL with @error set */
static WeTask *
task_retry_check (WeJob *job, GPtrArray *tasks, const gchar *task_id, gboolean requeue,
                  GError **error)
{
  WeTask *task;

  if (job->status == WE_JOB_STATUS_COMPLETED) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_COMPLETED, "job %s has already completed",
                 job->id);
    return NULL;
  }
  /* the store refuses every write to a cancelled job: that refusal is how a
   * cancel through one kernel reaches the kernel driving the job */
  if (job->status == WE_JOB_STATUS_CANCELLED) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_CANCELLED,
                 "job %s was cancelled, which is final; POST /v1/jobs/%s/retry submits a copy",
                 job->id, job->id);
    return NULL;
  }
  task = find_task_in (tasks, task_id);
  if (task == NULL) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_NOT_FOUND, "job %s has no task %s", job->id,
                 task_id);
    return NULL;
  }
  switch (task->status) {
  case WE_TASK_STATUS_PENDING:
  case WE_TASK_STATUS_RUNNING:
    g_set_error (error, WE_ERROR, WE_ERROR_SYS_CONFLICT, "task is %s",
                 we_task_status_to_string (task->status));
    return NULL;
  case WE_TASK_STATUS_COMPLETED:
    if (!requeue) {
      g_set_error (error, WE_ERROR, WE_ERROR_JOB_COMPLETED,
                   "task %s has completed; ?requeue=true runs it again", task_id);
      return NULL;
    }
    if (we_job_status_is_final (job->status)) {
      g_set_error (error, WE_ERROR, WE_ERROR_JOB_COMPLETED,
                   "job %s has finished; only its failed or cancelled tasks can run again",
                   job->id);
      return NULL;
    }
    /* the plan was made from the scan: running it again would plan twice */
    if (task_is (task, KIND_SCAN)) {
      g_set_error (error, WE_ERROR, WE_ERROR_JOB_COMPLETED,
                   "the scan of job %s cannot run again once the job is planned", job->id);
      return NULL;
    }
    /* a stitch reading the segment while it is rewritten would mix encodes */
    if (task_is (task, KIND_SEGMENT) || task_is (task, KIND_AUDIO)) {
      for (guint i = 0; i < tasks->len; i++) {
        WeTask *t = g_ptr_array_index (tasks, i);
        if (task_is (t, KIND_STITCH) && t->status == WE_TASK_STATUS_RUNNING) {
          g_set_error (error, WE_ERROR, WE_ERROR_SYS_CONFLICT,
                       "the stitch using task %s is running", task_id);
          return NULL;
        }
      }
    }
    return task;
  case WE_TASK_STATUS_FAILED:
  case WE_TASK_STATUS_CANCELLED:
  case WE_TASK_STATUS_LAST:
  default:
    return task;
  }
}

/* The attempt budget of the job's profile snapshot; the task's own without one. */
static gint
profile_max_attempts (WeJob *job, WeTask *task)
{
  JsonNode *node = job->output_config != NULL
                       ? json_object_get_member (job->output_config, "profile") : NULL;
  gint64 n = 0;

  if (node != NULL && JSON_NODE_HOLDS_OBJECT (node))
    n = we_json_get_int (json_node_get_object (node), "max_attempts", 0);
  return n > 0 ? (gint) MIN (n, 100) : MAX (task->max_attempts, 1);
}

/* Pending again with @budget more attempts than it has used. */
static void
task_reset (WeTask *t, gint budget)
{
  t->status = WE_TASK_STATUS_PENDING;
  t->progress_pct = 0;
  t->not_before = 0;
  t->max_attempts = t->attempt_count + MAX (budget, 1);
  g_clear_pointer (&t->error_code, g_free);
  g_clear_pointer (&t->error_message, g_free);
}

/* The job is driven here: the change is made in memory and written. */
static WeJob *
retry_task_active (WeScheduler *self, ActiveJob *aj, WeTask *task, WeTask **task_out)
{
  const gchar *was = we_task_status_to_string (task->status);

  add_event (self, aj->job->id, "task.retried", NULL, "task %d (%s), %s, runs again by request",
             task->sequence_index, task->kind, was);
  task_reset (task, aj->profile->max_attempts);
  write_task (self, task);
  write_job (self, aj->job);
  schedule_pump (self);
  *task_out = we_task_copy (task);
  return we_job_copy (aj->job);
}

/* A failed job comes back to this kernel: the named task and the ones its
 * failure cancelled run again, the completed ones are kept (a failed job
 * keeps its intermediates for this, see fail_job()). */
static WeJob *
reopen_job (WeScheduler *self, WeJob *job, GPtrArray *tasks, WeTask *task, WeTask **task_out,
            GError **error)
{
  JsonNode *node = job->output_config != NULL
                       ? json_object_get_member (job->output_config, "profile") : NULL;
  g_autoptr(WeProfile) profile = NULL;
  g_autofree gchar *reason = g_strdup (job->error_message);

  if (node != NULL && JSON_NODE_HOLDS_OBJECT (node))
    profile = we_profile_new_from_json (json_node_get_object (node), error);
  if (profile == NULL) {
    g_prefix_error (error, "job %s cannot run again: its profile snapshot is unreadable: ",
                    job->id);
    if (error != NULL && *error == NULL)
      g_set_error (error, WE_ERROR, WE_ERROR_SYS_INTERNAL,
                   "job %s cannot run again: it has no profile snapshot", job->id);
    return NULL;
  }
  add_event (self, job->id, "task.retried", NULL, "task %d (%s), %s, runs again by request",
             task->sequence_index, task->kind, we_task_status_to_string (task->status));
  for (guint i = 0; i < tasks->len; i++) {
    WeTask *t = g_ptr_array_index (tasks, i);

    if (t == task || t->status == WE_TASK_STATUS_CANCELLED) {
      task_reset (t, profile->max_attempts);
      write_task (self, t);
    }
  }
  job->status = WE_JOB_STATUS_PROCESSING;
  g_clear_pointer (&job->error_code, g_free);
  g_clear_pointer (&job->error_message, g_free);
  job->finished_at = 0;
  job->eta_seconds = -1;
  adopt_job (self, job, profile, tasks);
  write_job (self, job);
  add_event (self, job->id, "job.started", NULL, "processing again after %s",
             reason != NULL ? reason : "a failure");
  g_signal_emit (self, signals[SIGNAL_JOB_TRANSITION], 0, job, "job.started");
  schedule_pump (self);
  *task_out = we_task_copy (task);
  return we_job_copy (job);
}

static void
retry_task_listed_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) gtask = user_data;
  WeScheduler *self = g_task_get_source_object (gtask);
  TaskRetryData *d = g_task_get_task_data (gtask);
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) tasks = we_store_finish_list (WE_STORE (source), result, NULL, &error);
  ActiveJob *aj;
  WeTask *task;
  WeJob *job;

  if (tasks == NULL) {
    g_task_return_error (gtask, g_steal_pointer (&error));
    return;
  }
  /* it may have become active here while we read it */
  aj = g_hash_table_lookup (self->active, d->job_id);
  if (aj != NULL) {
    task = task_retry_check (aj->job, aj->tasks, d->task_id, d->requeue, &error);
    if (task == NULL) {
      g_task_return_error (gtask, g_steal_pointer (&error));
      return;
    }
    job = retry_task_active (self, aj, task, &d->task);
    g_task_return_pointer (gtask, job, (GDestroyNotify) we_job_unref);
    return;
  }
  task = task_retry_check (d->job, tasks, d->task_id, d->requeue, &error);
  if (task == NULL) {
    g_task_return_error (gtask, g_steal_pointer (&error));
    return;
  }
  if (we_job_status_is_final (d->job->status)) {
    job = reopen_job (self, d->job, tasks, task, &d->task, &error);
    if (job == NULL)
      g_task_return_error (gtask, g_steal_pointer (&error));
    else
      g_task_return_pointer (gtask, job, (GDestroyNotify) we_job_unref);
    return;
  }
  /* active, but another kernel drives it (or this one has not resumed it
   * yet): the request goes through the store; the driver compares the rows
   * with its tasks at its next beat (poll_task_retries()), a resume reads
   * them as they are */
  add_event (self, d->job->id, "task.retried", NULL,
             "task %d (%s), %s, runs again by request through kernel %s",
             task->sequence_index, task->kind, we_task_status_to_string (task->status),
             self->kernel_id != NULL ? self->kernel_id : "(unnamed)");
  task_reset (task, profile_max_attempts (d->job, task));
  write_task (self, task);
  d->task = we_task_copy (task);
  g_task_return_pointer (gtask, we_job_copy (d->job), (GDestroyNotify) we_job_unref);
}

static void
retry_task_got_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) gtask = user_data;
  TaskRetryData *d = g_task_get_task_data (gtask);
  g_autoptr(GError) error = NULL;

  d->job = we_store_finish_job (WE_STORE (source), result, &error);
  if (d->job == NULL) {
    g_task_return_error (gtask, g_steal_pointer (&error));
    return;
  }
  we_store_task_list_async (WE_STORE (source), d->job_id, g_task_get_cancellable (gtask),
                            retry_task_listed_cb, g_object_ref (gtask));
}

void
we_scheduler_retry_task_async (WeScheduler *self, const gchar *job_id, const gchar *task_id,
                               gboolean requeue, GCancellable *cancellable,
                               GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr(GTask) gtask = NULL;
  TaskRetryData *d;
  ActiveJob *aj;

  g_return_if_fail (WE_IS_SCHEDULER (self));
  gtask = g_task_new (self, cancellable, callback, user_data);
  d = g_new0 (TaskRetryData, 1);
  aj = g_hash_table_lookup (self->active, job_id);
  g_task_set_source_tag (gtask, we_scheduler_retry_task_async);
  d->job_id = g_strdup (job_id);
  d->task_id = g_strdup (task_id);
  d->requeue = requeue;
  g_task_set_task_data (gtask, d, (GDestroyNotify) task_retry_data_free);
  if (aj != NULL) {
    g_autoptr(GError) error = NULL;
    WeTask *task = task_retry_check (aj->job, aj->tasks, task_id, requeue, &error);

    if (task == NULL)
      g_task_return_error (gtask, g_steal_pointer (&error));
    else
      g_task_return_pointer (gtask, retry_task_active (self, aj, task, &d->task),
                             (GDestroyNotify) we_job_unref);
    return;
  }
  we_store_job_get_async (self->store, job_id, cancellable, retry_task_got_cb,
                          g_steal_pointer (&gtask));
}

WeJob *
we_scheduler_retry_task_finish (WeScheduler *self, GAsyncResult *result, WeTask **task_out,
                                GError **error)
{
  WeJob *job = g_task_propagate_pointer (G_TASK (result), error);
  TaskRetryData *d = g_task_get_task_data (G_TASK (result));

  if (task_out != NULL)
    *task_out = job != NULL && d->task != NULL ? we_task_copy (d->task) : NULL;
  return job;
}

/* The driver's side of a retry asked through another kernel: a task that is
 * over here but pending in the store was sent back by a request. */
static void
poll_task_retries_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(JobWrite) w = user_data;
  WeScheduler *self = w->self;
  const gchar *job_id = w->job_id;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) rows = we_store_finish_list (WE_STORE (source), result, NULL, &error);
  ActiveJob *aj = g_hash_table_lookup (self->active, job_id);
  gboolean changed = FALSE;

  if (rows == NULL) {
    g_debug ("reading the tasks of job %s: %s", job_id, error->message);
    return;
  }
  for (guint i = 0; aj != NULL && i < rows->len; i++) {
    WeTask *row = g_ptr_array_index (rows, i);
    WeTask *t = find_task (aj, row->id);

    /* our own writes go to the store in order, before this read: a row
     * that is pending while the task is over here was written by another */
    if (t == NULL || row->status != WE_TASK_STATUS_PENDING ||
        (t->status != WE_TASK_STATUS_FAILED && t->status != WE_TASK_STATUS_CANCELLED &&
         t->status != WE_TASK_STATUS_COMPLETED))
      continue;
    we_log (G_LOG_LEVEL_INFO, job_id, NULL,
            "task %d (%s) runs again, as asked through another kernel", t->sequence_index,
            t->kind);
    task_reset (t, MAX (row->max_attempts - t->attempt_count, 1));
    write_task (self, t);
    changed = TRUE;
  }
  if (changed) {
    write_job (self, aj->job);
    schedule_pump (self);
  }
}

/* Once a beat (a named kernel only: without a name no other kernel drives
 * jobs of this store): one task read per active job. */
static void
poll_task_retries (WeScheduler *self)
{
  GHashTableIter iter;
  gpointer key;

  g_hash_table_iter_init (&iter, self->active);
  while (g_hash_table_iter_next (&iter, &key, NULL)) {
    JobWrite *w = g_new0 (JobWrite, 1);

    w->self = g_object_ref (self);
    w->job_id = g_strdup (key);
    we_store_task_list_async (self->store, key, NULL, poll_task_retries_cb, w);
  }
}
