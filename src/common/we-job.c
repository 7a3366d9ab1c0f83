/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "we-job.h"

#include <string.h>

#include <webencode/we-media-info.h>

static const gchar *job_status_names[WE_JOB_STATUS_LAST] = {
  "queued", "processing", "stitching", "uploading", "completed", "failed", "cancelled",
};

static const gchar *task_status_names[WE_TASK_STATUS_LAST] = {
  "pending", "running", "completed", "failed", "cancelled",
};

const gchar *
we_job_status_to_string (WeJobStatus status)
{
  return (guint) status < WE_JOB_STATUS_LAST ? job_status_names[status] : "unknown";
}

gboolean
we_job_status_from_string (const gchar *str, WeJobStatus *status)
{
  for (guint i = 0; i < WE_JOB_STATUS_LAST; i++) {
    if (g_strcmp0 (str, job_status_names[i]) == 0) {
      *status = (WeJobStatus) i;
      return TRUE;
    }
  }
  return FALSE;
}

gboolean
we_job_status_is_final (WeJobStatus status)
{
  return status == WE_JOB_STATUS_COMPLETED || status == WE_JOB_STATUS_FAILED ||
         status == WE_JOB_STATUS_CANCELLED;
}

const gchar *
we_task_status_to_string (WeTaskStatus status)
{
  return (guint) status < WE_TASK_STATUS_LAST ? task_status_names[status] : "unknown";
}

gboolean
we_task_status_from_string (const gchar *str, WeTaskStatus *status)
{
  for (guint i = 0; i < WE_TASK_STATUS_LAST; i++) {
    if (g_strcmp0 (str, task_status_names[i]) == 0) {
      *status = (WeTaskStatus) i;
      return TRUE;
    }
  }
  return FALSE;
}

/* refcounts sit in front of the public structs, as for WeProfile */
typedef struct {
  gint  ref_count;
  WeJob job;
} WeJobPriv;

typedef struct {
  gint   ref_count;
  WeTask task;
} WeTaskPriv;

#define JOB_PRIV(j)  ((WeJobPriv *) ((guint8 *) (j) - G_STRUCT_OFFSET (WeJobPriv, job)))
#define TASK_PRIV(t) ((WeTaskPriv *) ((guint8 *) (t) - G_STRUCT_OFFSET (WeTaskPriv, task)))

G_DEFINE_BOXED_TYPE (WeJob, we_job, we_job_ref, we_job_unref)
G_DEFINE_BOXED_TYPE (WeTask, we_task, we_task_ref, we_task_unref)

WeJob *
we_job_new (void)
{
  WeJobPriv *priv = g_new0 (WeJobPriv, 1);

  priv->ref_count = 1;
  priv->job.eta_seconds = -1;
  priv->job.priority = 50;
  return &priv->job;
}

WeJob *
we_job_ref (WeJob *job)
{
  g_atomic_int_inc (&JOB_PRIV (job)->ref_count);
  return job;
}

void
we_job_unref (WeJob *job)
{
  if (job == NULL || !g_atomic_int_dec_and_test (&JOB_PRIV (job)->ref_count))
    return;
  g_free (job->id);
  g_free (job->user_id);
  g_free (job->source_type);
  g_free (job->source_url);
  g_free (job->profile_id);
  g_clear_pointer (&job->output_config, json_object_unref);
  g_free (job->error_code);
  g_free (job->error_message);
  g_free (job->assigned_worker_id);
  g_free (job->retry_of);
  g_free (job->owner_kernel);
  g_free (job->idempotency_key);
  g_clear_pointer (&job->media_info, json_object_unref);
  g_free (JOB_PRIV (job));
}

JsonObject *
we_json_object_copy (JsonObject *object)
{
  g_autoptr(JsonNode) node = NULL;
  g_autoptr(JsonParser) parser = NULL;
  g_autofree gchar *text = NULL;

  if (object == NULL)
    return NULL;
  node = json_node_init_object (json_node_alloc (), object);
  text = json_to_string (node, FALSE);
  parser = json_parser_new_immutable ();
  if (!json_parser_load_from_data (parser, text, -1, NULL) ||
      !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    return json_object_new ();
  return json_object_ref (json_node_get_object (json_parser_get_root (parser)));
}

WeJob *
we_job_copy (const WeJob *job)
{
  WeJob *c = we_job_new ();

  c->id = g_strdup (job->id);
  c->user_id = g_strdup (job->user_id);
  c->source_type = g_strdup (job->source_type);
  c->source_url = g_strdup (job->source_url);
  c->profile_id = g_strdup (job->profile_id);
  c->output_config = we_json_object_copy (job->output_config);
  c->status = job->status;
  c->progress_pct = job->progress_pct;
  c->fps = job->fps;
  c->speed = job->speed;
  c->eta_seconds = job->eta_seconds;
  c->error_code = g_strdup (job->error_code);
  c->error_message = g_strdup (job->error_message);
  c->assigned_worker_id = g_strdup (job->assigned_worker_id);
  c->retry_of = g_strdup (job->retry_of);
  c->owner_kernel = g_strdup (job->owner_kernel);
  c->idempotency_key = g_strdup (job->idempotency_key);
  c->priority = job->priority;
  c->media_info = we_json_object_copy (job->media_info);
  c->created_at = job->created_at;
  c->updated_at = job->updated_at;
  c->started_at = job->started_at;
  c->finished_at = job->finished_at;
  c->tasks_total = job->tasks_total;
  c->tasks_completed = job->tasks_completed;
  return c;
}

static void
set_time (JsonObject *o, const gchar *name, gint64 t)
{
  g_autofree gchar *s = we_time_format (t);

  if (s != NULL)
    json_object_set_string_member (o, name, s);
  else
    json_object_set_null_member (o, name);
}

static void
set_nullable_string (JsonObject *o, const gchar *name, const gchar *value)
{
  if (value != NULL)
    json_object_set_string_member (o, name, value);
  else
    json_object_set_null_member (o, name);
}

JsonObject *
we_job_to_json (const WeJob *job)
{
  JsonObject *o = json_object_new ();

  json_object_set_string_member (o, "id", job->id);
  json_object_set_string_member (o, "status", we_job_status_to_string (job->status));
  json_object_set_string_member (o, "source_type", job->source_type ? job->source_type : "url");
  set_nullable_string (o, "source_url", job->source_url);
  json_object_set_string_member (o, "profile", job->profile_id);
  json_object_set_int_member (o, "progress_pct", (gint64) job->progress_pct);
  json_object_set_double_member (o, "progress", job->progress_pct);
  json_object_set_double_member (o, "fps", job->fps);
  json_object_set_double_member (o, "speed", job->speed);
  if (job->eta_seconds >= 0)
    json_object_set_int_member (o, "eta_seconds", job->eta_seconds);
  else
    json_object_set_null_member (o, "eta_seconds");
  json_object_set_int_member (o, "tasks_total", job->tasks_total);
  json_object_set_int_member (o, "tasks_completed", job->tasks_completed);
  set_nullable_string (o, "error_code", job->error_code);
  set_nullable_string (o, "error_message", job->error_message);
  set_nullable_string (o, "assigned_to_worker_id", job->assigned_worker_id);
  set_nullable_string (o, "retry_of", job->retry_of);
  set_nullable_string (o, "kernel_id", job->owner_kernel);
  json_object_set_int_member (o, "priority", job->priority);
  set_nullable_string (o, "user_id", job->user_id);
  if (job->media_info != NULL)
    json_object_set_object_member (o, "source_media", json_object_ref (job->media_info));
  if (job->output_config != NULL)
    json_object_set_object_member (o, "output_config", json_object_ref (job->output_config));
  set_time (o, "created_at", job->created_at);
  set_time (o, "updated_at", job->updated_at);
  set_time (o, "started_at", job->started_at);
  set_time (o, "finished_at", job->finished_at);
  return o;
}

WeTask *
we_task_new (void)
{
  WeTaskPriv *priv = g_new0 (WeTaskPriv, 1);

  priv->ref_count = 1;
  priv->task.max_attempts = 3;
  priv->task.kind = g_strdup ("transcode");
  return &priv->task;
}

WeTask *
we_task_ref (WeTask *task)
{
  g_atomic_int_inc (&TASK_PRIV (task)->ref_count);
  return task;
}

void
we_task_unref (WeTask *task)
{
  if (task == NULL || !g_atomic_int_dec_and_test (&TASK_PRIV (task)->ref_count))
    return;
  g_free (task->id);
  g_free (task->job_id);
  g_free (task->kind);
  g_free (task->assigned_worker_id);
  g_free (task->output_key);
  g_free (task->error_code);
  g_free (task->error_message);
  g_free (TASK_PRIV (task));
}

WeTask *
we_task_copy (const WeTask *task)
{
  WeTask *c = we_task_new ();

  c->id = g_strdup (task->id);
  c->job_id = g_strdup (task->job_id);
  c->sequence_index = task->sequence_index;
  g_free (c->kind);
  c->kind = g_strdup (task->kind);
  c->start_time_sec = task->start_time_sec;
  c->end_time_sec = task->end_time_sec;
  c->assigned_worker_id = g_strdup (task->assigned_worker_id);
  c->attempt_count = task->attempt_count;
  c->max_attempts = task->max_attempts;
  c->output_key = g_strdup (task->output_key);
  c->output_size_bytes = task->output_size_bytes;
  c->status = task->status;
  c->progress_pct = task->progress_pct;
  c->error_code = g_strdup (task->error_code);
  c->error_message = g_strdup (task->error_message);
  c->not_before = task->not_before;
  c->updated_at = task->updated_at;
  return c;
}

JsonObject *
we_task_to_json (const WeTask *task)
{
  JsonObject *o = json_object_new ();

  json_object_set_string_member (o, "id", task->id);
  json_object_set_string_member (o, "job_id", task->job_id);
  json_object_set_int_member (o, "sequence_index", task->sequence_index);
  json_object_set_string_member (o, "kind", task->kind);
  json_object_set_double_member (o, "start_time_sec", task->start_time_sec);
  json_object_set_double_member (o, "end_time_sec", task->end_time_sec);
  set_nullable_string (o, "assigned_worker_id", task->assigned_worker_id);
  json_object_set_int_member (o, "attempt_count", task->attempt_count);
  json_object_set_int_member (o, "max_attempts", task->max_attempts);
  json_object_set_string_member (o, "status", we_task_status_to_string (task->status));
  json_object_set_double_member (o, "progress_pct", task->progress_pct);
  set_nullable_string (o, "output_key", task->output_key);
  json_object_set_int_member (o, "output_size_bytes", task->output_size_bytes);
  set_nullable_string (o, "error_code", task->error_code);
  set_nullable_string (o, "error_message", task->error_message);
  set_time (o, "updated_at", task->updated_at);
  return o;
}

WeJobOutput *
we_job_output_new (void)
{
  return g_new0 (WeJobOutput, 1);
}

WeJobOutput *
we_job_output_copy (const WeJobOutput *output)
{
  WeJobOutput *c = we_job_output_new ();

  c->job_id = g_strdup (output->job_id);
  c->name = g_strdup (output->name);
  c->type = g_strdup (output->type);
  c->url = g_strdup (output->url);
  c->content_type = g_strdup (output->content_type);
  c->size_bytes = output->size_bytes;
  c->profile_id = g_strdup (output->profile_id);
  c->created_at = output->created_at;
  return c;
}

void
we_job_output_free (WeJobOutput *output)
{
  if (output == NULL)
    return;
  g_free (output->job_id);
  g_free (output->name);
  g_free (output->type);
  g_free (output->url);
  g_free (output->content_type);
  g_free (output->profile_id);
  g_free (output);
}

JsonObject *
we_job_output_to_json (const WeJobOutput *output)
{
  JsonObject *o = json_object_new ();

  json_object_set_string_member (o, "name", output->name);
  json_object_set_string_member (o, "type", output->type);
  json_object_set_string_member (o, "url", output->url);
  set_nullable_string (o, "content_type", output->content_type);
  json_object_set_int_member (o, "size_bytes", output->size_bytes);
  set_nullable_string (o, "profile", output->profile_id);
  set_time (o, "created_at", output->created_at);
  return o;
}

WeJobEvent *
we_job_event_new (void)
{
  return g_new0 (WeJobEvent, 1);
}

WeJobEvent *
we_job_event_copy (const WeJobEvent *event)
{
  WeJobEvent *c = we_job_event_new ();

  c->id = event->id;
  c->job_id = g_strdup (event->job_id);
  c->type = g_strdup (event->type);
  c->message = g_strdup (event->message);
  c->payload = we_json_object_copy (event->payload);
  c->created_at = event->created_at;
  return c;
}

void
we_job_event_free (WeJobEvent *event)
{
  if (event == NULL)
    return;
  g_free (event->job_id);
  g_free (event->type);
  g_free (event->message);
  g_clear_pointer (&event->payload, json_object_unref);
  g_free (event);
}

JsonObject *
we_job_event_to_json (const WeJobEvent *event)
{
  JsonObject *o = json_object_new ();

  json_object_set_int_member (o, "id", event->id);
  json_object_set_string_member (o, "job_id", event->job_id);
  json_object_set_string_member (o, "type", event->type);
  set_nullable_string (o, "message", event->message);
  if (event->payload != NULL)
    json_object_set_object_member (o, "payload", json_object_ref (event->payload));
  set_time (o, "created_at", event->created_at);
  return o;
}

gchar *
we_uuid_new (void)
{
  return g_uuid_string_random ();
}

gchar *
we_time_format (gint64 unix_usec)
{
  g_autoptr(GDateTime) dt = NULL;
  g_autofree gchar *secs = NULL;

  if (unix_usec <= 0)
    return NULL;
  dt = g_date_time_new_from_unix_utc (unix_usec / G_USEC_PER_SEC);
  if (dt == NULL)
    return NULL;
  /* %f would give microseconds; the API promises milliseconds */
  secs = g_date_time_format (dt, "%Y-%m-%dT%H:%M:%S");
  return g_strdup_printf ("%s.%03dZ", secs, (gint) ((unix_usec % G_USEC_PER_SEC) / 1000));
}

gboolean
we_job_output_path_is_safe (const gchar *path)
{
  g_auto(GStrv) parts = NULL;
  guint n;

  if (path == NULL || *path == '\0' || *path == '/' || strlen (path) > 512 ||
      !g_utf8_validate (path, -1, NULL))
    return FALSE;
  for (const gchar *p = path; *p != '\0'; p++)
    if (*p == '\\' || g_ascii_iscntrl (*p))
      return FALSE;
  parts = g_strsplit (path, "/", -1);
  n = g_strv_length (parts);
  if (n > 4)
    return FALSE;
  for (guint i = 0; i < n; i++)
    if (*parts[i] == '\0' || g_str_equal (parts[i], ".") || g_str_equal (parts[i], ".."))
      return FALSE;
  return TRUE;
}

const gchar *
we_job_content_type_for_name (const gchar *name)
{
  static const struct { const gchar *ext, *type; } types[] = {
    { ".m3u8", "application/vnd.apple.mpegurl" },
    { ".mpd", "application/dash+xml" },
    { ".ts", "video/mp2t" },
    { ".m4s", "video/iso.segment" },
    { ".mp4", "video/mp4" },
    { ".m4a", "audio/mp4" },
    { ".aac", "audio/aac" },
    { ".webm", "video/webm" },
    { ".mkv", "video/x-matroska" },
    { ".vtt", "text/vtt" },
    { ".srt", "application/x-subrip" },
    { ".jpg", "image/jpeg" },
    { ".jpeg", "image/jpeg" },
    { ".png", "image/png" },
    { ".json", "application/json" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (types); i++)
    if (name != NULL && g_str_has_suffix (name, types[i].ext))
      return types[i].type;
  return "application/octet-stream";
}
