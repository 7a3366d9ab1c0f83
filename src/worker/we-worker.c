/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "we-worker.h"
#include "we-worker-caps.h"
#include "we-worker-gst-log.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common/we-json.h"
#include "common/we-log.h"
#include "common/we-worker-protocol.h"
#include "plugin/we-plugin-host.h"
#include "secrets/we-secrets-router.h"

/* Progress is rate-limited so a fast encoder cannot flood the kernel, and
 * the last value held back is flushed by the ticker so it is never lost. */
#define WE_WORKER_PROGRESS_MIN_INTERVAL_US (500 * G_TIME_SPAN_MILLISECOND)
#define WE_WORKER_HEARTBEAT_US             (G_TIME_SPAN_SECOND)
#define WE_WORKER_TICK_MS                  250
/* How long a shutdown waits for the running task to report before the
 * process leaves anyway; the kernel kills us a little later. */
#define WE_WORKER_SHUTDOWN_DEADLINE_S      3
#define WE_WORKER_MAX_TASK_ID              256
/* A pipeline graph larger than this is left out of the "pipeline" message:
 * the channel's lines are capped (WE_WORKER_MAX_LINE) */
#define WE_WORKER_MAX_DOT                  (512 * 1024)

typedef enum {
  WE_WORKER_PHASE_RESOLVE,
  WE_WORKER_PHASE_PROBE,
  WE_WORKER_PHASE_TRANSCODE,
  WE_WORKER_PHASE_UPLOAD,
} WeWorkerPhase;

/* What a task asks for (the "kind" of a task message). */
typedef enum {
  WE_WORKER_KIND_TRANSCODE,   /* the finished file in one go */
  WE_WORKER_KIND_SCAN,        /* probe + keyframe index, for planning */
  WE_WORKER_KIND_SEGMENT,     /* split & stitch: one video range */
  WE_WORKER_KIND_AUDIO,       /* split & stitch: the whole audio track */
  WE_WORKER_KIND_STITCH,      /* split & stitch: join, mux and verify */
  WE_WORKER_KIND_PACKAGE,     /* a set of files (ladder, thumbnails, subtitles) */
} WeWorkerKind;

typedef struct {
  WeWorker         *worker;       /* not owned: the worker owns the task */
  guint             seq;          /* 1 for the first task of this process */
  gchar            *id;
  gchar            *input_url;
  gchar            *output_url;
  WeProfile        *profile;
  gdouble           start_s;
  gdouble           duration_s;
  GCancellable     *cancellable;
  WeStorage        *input_storage;
  WeStorage        *output_storage;
  WeEncoder        *encoder;
  gchar            *media_uri;
  gchar            *scratch_path;
  WeEncodeRequest   request;
  WeWorkerPhase     phase;
  WeEncodeProgress  progress;
  gboolean          progress_pending;
  gdouble           last_sent_percent;
  gint64            last_sent_us;
  guint             ticker_id;
  guint64           size_bytes;
  WeWorkerKind      kind;
  /* stitch only */
  gchar           **part_urls;      /* segment URLs, then the audio URL if any */
  gboolean          has_audio_part;
  gchar           **part_uris;      /* their media URIs */
  guint64           expected_frames;
  gdouble           expected_duration_s;
  gdouble           frame_duration_s;
  JsonObject       *result;         /* extra members for the "done" message */
  gchar            *audio_uri;
  WeStitchRequest   stitch_request; /* lives as long as the stitch runs */
  /* package only: scratch_path is a directory, output_url a prefix */
  WePackageRequest  package_request;
  guint8           *key;            /* 16 bytes or NULL */
  gchar            *key_uri;
  /* GStreamer debug log (issue 8): kept while gst_log, uploaded to log_url */
  gboolean          gst_log;
  gchar            *log_url;
  JsonObject       *final_msg;      /* held back while the log uploads */
  guint64           log_size;
  gboolean          log_truncated;
} WeWorkerTask;

typedef struct {
  GBytes   *bytes;
  gboolean  abort_after;  /* test-only crash hook, see we_worker_send_progress() */
} WeWorkerWrite;

struct _WeWorker {
  GObject           parent_instance;

  GDataInputStream *input;   /* stdio transport; NULL with another one */
  GOutputStream    *output;
  WeWorkerSendFunc  send_func; /* any other transport */
  gpointer          send_data;
  GDestroyNotify    send_notify;
  GCancellable     *read_cancellable;
  GQueue            writes;        /* (element-type WeWorkerWrite) */
  WeWorkerWrite    *current_write;
  gboolean          started;
  gboolean          closing;
  gboolean          output_broken;
  gboolean          finished;
  guint             deadline_id;
  gint              exit_status;

  gchar            *worker_id;
  gchar            *scratch_dir;
  GHashTable       *plugin_configs; /* id → JsonObject */
  WePluginConfigFunc config_func;
  gpointer          config_data;
  GDestroyNotify    config_notify;
  WePluginHost     *host;
  gboolean          configured;
  gchar            *gst_debug;      /* GST_DEBUG syntax; NULL: no per-task logs */

  WeWorkerTask     *task;
  guint             task_seq;
  guint             crash_after_progress;
  guint             first_task_progress;
};

G_DEFINE_TYPE (WeWorker, we_worker, G_TYPE_OBJECT)

enum {
  SIGNAL_FINISHED,
  SIGNAL_LAST
};

static guint signals[SIGNAL_LAST];

static void we_worker_read_next (WeWorker *self);
static void we_worker_write_next (WeWorker *self);
static void we_worker_close (WeWorker *self);
static void we_worker_maybe_finish (WeWorker *self);

/* Typed reads that never warn: every message comes from outside. */
static void
we_worker_write_free (WeWorkerWrite *write)
{
  g_bytes_unref (write->bytes);
  g_free (write);
}

static void
we_worker_test_crash (void)
{
  struct rlimit no_core = { 0, 0 };

  /* a core dump per test run helps nobody and costs seconds */
  setrlimit (RLIMIT_CORE, &no_core);
  g_printerr ("WE_WORKER_TEST_CRASH_AFTER_PROGRESS reached, aborting\n");
  abort ();
}

static void
we_worker_write_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(WeWorker) self = user_data;
  g_autoptr(GError) error = NULL;
  WeWorkerWrite *write = g_steal_pointer (&self->current_write);
  gboolean abort_after = write->abort_after;

  we_worker_write_free (write);
  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), res, NULL, &error)) {
    /* the kernel is gone: nobody is left to report to */
    g_warning ("writing to the kernel failed: %s", error->message);
    self->output_broken = TRUE;
    g_queue_clear_full (&self->writes, (GDestroyNotify) we_worker_write_free);
    we_worker_close (self);
    we_worker_maybe_finish (self);
    return;
  }
  if (abort_after)
    we_worker_test_crash ();
  we_worker_write_next (self);
  we_worker_maybe_finish (self);
}

static void
we_worker_write_next (WeWorker *self)
{
  gsize size = 0;
  gconstpointer data;

  if (self->current_write != NULL || self->output_broken)
    return;
  self->current_write = g_queue_pop_head (&self->writes);
  if (self->current_write == NULL)
    return;
  data = g_bytes_get_data (self->current_write->bytes, &size);
  g_output_stream_write_all_async (self->output, data, size, G_PRIORITY_DEFAULT, NULL,
                                   we_worker_write_cb, g_object_ref (self));
}

static void
we_worker_send_full (WeWorker *self, JsonObject *msg, gboolean abort_after)
{
  WeWorkerWrite *write;
  gchar *line;

  if (self->send_func != NULL) {
    self->send_func (self, msg, self->send_data);
    if (abort_after)
      we_worker_test_crash ();
    return;
  }
  if (self->output_broken)
    return;
  line = we_worker_msg_serialize (msg);
  write = g_new0 (WeWorkerWrite, 1);
  write->bytes = g_bytes_new_take (line, strlen (line));
  write->abort_after = abort_after;
  g_queue_push_tail (&self->writes, write);
  we_worker_write_next (self);
}

static void
we_worker_send (WeWorker *self, JsonObject *msg)
{
  we_worker_send_full (self, msg, FALSE);
}

static JsonObject *
we_worker_msg_new (const gchar *type, const gchar *task_id)
{
  JsonObject *msg = json_object_new ();

  json_object_set_string_member (msg, "type", type);
  if (task_id != NULL)
    json_object_set_string_member (msg, "task_id", task_id);
  return msg;
}

static JsonObject *
we_worker_failed_msg_new (const gchar *task_id, WeErrorCode code, const gchar *message,
                          gboolean retryable)
{
  JsonObject *msg = we_worker_msg_new ("failed", task_id);

  we_log (G_LOG_LEVEL_WARNING, task_id, we_error_code_to_string (code),
          "task failed (%s): %s", retryable ? "retryable" : "final", message);
  json_object_set_string_member (msg, "code", we_error_code_to_string (code));
  json_object_set_string_member (msg, "message", message);
  json_object_set_boolean_member (msg, "retryable", retryable);
  return msg;
}

static void
we_worker_send_failed (WeWorker *self, const gchar *task_id, WeErrorCode code,
                       const gchar *message, gboolean retryable)
{
  g_autoptr(JsonObject) msg = we_worker_failed_msg_new (task_id, code, message, retryable);

  we_worker_send (self, msg);
}

/* ---- tasks ------------------------------------------------------------- */

/* Stops the task's GStreamer log. Returns: (transfer full) (nullable): its file */
static gchar *
we_worker_task_end_gst_log (WeWorkerTask *task)
{
  if (!task->gst_log)
    return NULL;
  task->gst_log = FALSE;
  return we_worker_gst_log_end (task->id, &task->log_size, &task->log_truncated);
}

static void
we_worker_task_free (WeWorkerTask *task)
{
  g_autofree gchar *log_path = we_worker_task_end_gst_log (task);

  if (log_path != NULL)
    g_unlink (log_path);
  g_clear_handle_id (&task->ticker_id, g_source_remove);
  g_free (task->id);
  g_free (task->input_url);
  g_free (task->output_url);
  g_clear_pointer (&task->profile, we_profile_unref);
  g_clear_object (&task->cancellable);
  g_clear_object (&task->input_storage);
  g_clear_object (&task->output_storage);
  g_clear_object (&task->encoder);
  g_free (task->media_uri);
  g_free (task->scratch_path);
  g_strfreev (task->part_urls);
  g_strfreev (task->part_uris);
  g_clear_pointer (&task->result, json_object_unref);
  g_free (task->audio_uri);
  if (task->key != NULL)
    memset (task->key, 0, 16);
  g_free (task->key);
  g_free (task->key_uri);
  g_free (task->log_url);
  g_clear_pointer (&task->final_msg, json_object_unref);
  g_free (task);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeWorkerTask, we_worker_task_free)

static void
we_worker_remove_tree (const gchar *path)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  const gchar *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL) {
    g_autofree gchar *child = g_build_filename (path, name, NULL);
    if (g_file_test (child, G_FILE_TEST_IS_DIR) && !g_file_test (child, G_FILE_TEST_IS_SYMLINK))
      we_worker_remove_tree (child);
    else
      g_unlink (child);
  }
  g_rmdir (path);
}

static void
we_worker_task_remove_scratch (WeWorkerTask *task)
{
  if (task->scratch_path == NULL)
    return;
  if (task->kind == WE_WORKER_KIND_PACKAGE) {
    we_worker_remove_tree (task->scratch_path);
    return;
  }
  if (g_unlink (task->scratch_path) != 0 && errno != ENOENT)
    we_log (G_LOG_LEVEL_WARNING, task->id, NULL, "cannot remove %s: %s",
            task->scratch_path, g_strerror (errno));
}

/* Ends the running task; every path through a task ends here exactly once,
 * from the completion of its one outstanding operation. */
static void
we_worker_task_end (WeWorker *self)
{
  g_clear_pointer (&self->task, we_worker_task_free);
  we_worker_maybe_finish (self);
}

static void we_worker_task_report_final (WeWorker *self, JsonObject *final);

static void
we_worker_task_end_cancelled (WeWorker *self)
{
  WeWorkerTask *task = self->task;
  g_autoptr(JsonObject) msg = we_worker_msg_new ("cancelled", task->id);

  we_worker_task_remove_scratch (task);
  we_log (G_LOG_LEVEL_INFO, task->id, NULL, "task cancelled");
  we_worker_task_report_final (self, msg);
}

static void
we_worker_task_end_failed (WeWorker *self, const GError *error, gboolean retryable)
{
  WeWorkerTask *task = self->task;
  g_autoptr(JsonObject) msg = NULL;

  we_worker_task_remove_scratch (task);
  if (error == NULL) {
    /* a pillar broke its contract; still report, never crash */
    msg = we_worker_failed_msg_new (task->id, WE_ERROR_SYS_INTERNAL,
                                    "a plugin failed without saying why", TRUE);
  } else {
    msg = we_worker_failed_msg_new (task->id, we_error_code_from_gerror (error),
                                    error->message, retryable);
  }
  we_worker_task_report_final (self, msg);
}

/* A task is cancelled once its cancellable is, whatever the operation that
 * was running made of it: a result that raced the cancel is dropped. */
static gboolean
we_worker_task_is_cancelled (WeWorkerTask *task, const GError *error)
{
  return g_cancellable_is_cancelled (task->cancellable) ||
         g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
}

static void
we_worker_send_progress (WeWorker *self)
{
  WeWorkerTask *task = self->task;
  g_autoptr(JsonObject) msg = we_worker_msg_new ("progress", task->id);
  gboolean abort_after = FALSE;

  json_object_set_double_member (msg, "percent", CLAMP (task->progress.percent, 0.0, 100.0));
  json_object_set_double_member (msg, "position_s", task->progress.position_s);
  json_object_set_double_member (msg, "duration_s", task->progress.duration_s);
  json_object_set_double_member (msg, "fps", task->progress.fps);
  json_object_set_double_member (msg, "speed", task->progress.speed);
  json_object_set_int_member (msg, "frames", (gint64) task->progress.frames);
  task->progress_pending = FALSE;
  task->last_sent_percent = task->progress.percent;
  task->last_sent_us = g_get_monotonic_time ();

  /* TEST ONLY: WE_WORKER_TEST_CRASH_AFTER_PROGRESS=N makes the process abort
   * once its N-th progress message of its first task has been written, so the
   * queue's crash handling can be tested with a real worker. */
  if (task->seq == 1 && self->crash_after_progress > 0 &&
      ++self->first_task_progress == self->crash_after_progress)
    abort_after = TRUE;
  we_worker_send_full (self, msg, abort_after);
}

/* An encoder's report of a pipeline it runs for the task (issue 8): sent
 * on as it comes, so the kernel has it even when the task then fails. */
static void
we_worker_pipeline_cb (const WePipelineInfo *info, gpointer user_data)
{
  WeWorkerTask *task = user_data;
  g_autoptr(JsonObject) msg = NULL;

  if (task->worker->task != task || info == NULL || info->launch == NULL)
    return;
  msg = we_worker_msg_new ("pipeline", task->id);
  json_object_set_string_member (msg, "stage", info->stage != NULL ? info->stage : "");
  json_object_set_string_member (msg, "launch", info->launch);
  if (info->dot != NULL && strlen (info->dot) <= WE_WORKER_MAX_DOT)
    json_object_set_string_member (msg, "dot", info->dot);
  else if (info->dot != NULL)
    json_object_set_boolean_member (msg, "dot_omitted", TRUE);
  we_log (G_LOG_LEVEL_DEBUG, task->id, NULL, "pipeline %s: %s", info->stage, info->launch);
  we_worker_send (task->worker, msg);
}

static void
we_worker_progress_cb (const WeEncodeProgress *progress, gpointer user_data)
{
  WeWorkerTask *task = user_data;

  if (task->worker->task != task || task->phase != WE_WORKER_PHASE_TRANSCODE)
    return;
  task->progress = *progress;
  task->progress_pending = TRUE;
  if (g_get_monotonic_time () - task->last_sent_us >= WE_WORKER_PROGRESS_MIN_INTERVAL_US)
    we_worker_send_progress (task->worker);
}

static gboolean
we_worker_tick_cb (gpointer user_data)
{
  WeWorker *self = user_data;
  WeWorkerTask *task = self->task;
  gint64 since = g_get_monotonic_time () - task->last_sent_us;

  if (task->progress_pending && since >= WE_WORKER_PROGRESS_MIN_INTERVAL_US) {
    we_worker_send_progress (self);
  } else if (task->phase == WE_WORKER_PHASE_UPLOAD && since >= WE_WORKER_HEARTBEAT_US) {
    /* storage gives no progress; tell the kernel we are alive. During the
     * encode the encoder's own reports are the heartbeat, so a wedged
     * pipeline still goes quiet and trips the stall detection. */
    we_worker_send_progress (self);
  }
  return G_SOURCE_CONTINUE;
}

typedef struct {
  WeStorage  *storage;
  gchar      *url;
  gchar      *local_path;
  GHashTable *sizes;      /* package: relative path → guint64 size, NULL otherwise */
} WeWorkerStorageOp;

static void
we_worker_storage_op_free (WeWorkerStorageOp *op)
{
  g_clear_object (&op->storage);
  g_free (op->url);
  g_free (op->local_path);
  g_clear_pointer (&op->sizes, g_hash_table_unref);
  g_free (op);
}

static void
we_worker_media_uri_thread (GTask *gtask, gpointer source, gpointer task_data,
                            GCancellable *cancellable)
{
  WeWorkerStorageOp *op = task_data;
  g_auto(WeObjectInfo) info = { 0 };
  GError *error = NULL;
  gchar *uri;

  /* a media URI is only a name; ask the storage whether the object is
   * there so a missing source fails as such (final) and not as a decoder
   * error (retried) */
  if (!we_storage_stat (op->storage, op->url, &info, &error)) {
    if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED)) {
      g_task_return_error (gtask, error);
      return;
    }
    g_clear_error (&error);
  }
  uri = we_storage_get_media_uri (op->storage, op->url, &error);
  if (uri == NULL)
    g_task_return_error (gtask, error);
  else
    g_task_return_pointer (gtask, uri, g_free);
}

static void
we_worker_upload_thread (GTask *gtask, gpointer source, gpointer task_data,
                         GCancellable *cancellable)
{
  WeWorkerStorageOp *op = task_data;
  GError *error = NULL;

  if (!we_storage_upload_file (op->storage, op->local_path, op->url, cancellable, &error))
    g_task_return_error (gtask, error);
  else
    g_task_return_boolean (gtask, TRUE);
}

static void
we_worker_log_upload_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  WeWorker *self = WE_WORKER (source);
  WeWorkerTask *task = self->task;
  WeWorkerStorageOp *op = g_task_get_task_data (G_TASK (res));
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) final = g_steal_pointer (&task->final_msg);

  if (g_task_propagate_boolean (G_TASK (res), &error)) {
    g_autoptr(JsonObject) msg = we_worker_msg_new ("log", task->id);

    json_object_set_string_member (msg, "url", op->url);
    json_object_set_int_member (msg, "size_bytes", (gint64) task->log_size);
    json_object_set_boolean_member (msg, "truncated", task->log_truncated);
    we_worker_send (self, msg);
  } else {
    /* a debugging aid: its loss never fails the task */
    we_log (G_LOG_LEVEL_WARNING, task->id, NULL, "cannot upload the GStreamer log to %s: %s",
            op->url, error->message);
  }
  g_unlink (op->local_path);
  we_worker_send (self, final);
  we_worker_task_end (self);
}

/* Every task's final report goes out here. A task that kept a GStreamer
 * debug log uploads it first and reports it, since the kernel drops reports
 * of a task that has ended. */
static void
we_worker_task_report_final (WeWorker *self, JsonObject *final)
{
  WeWorkerTask *task = self->task;
  g_autofree gchar *log_path = we_worker_task_end_gst_log (task);
  WeStorage *storage = NULL;
  g_autoptr(GTask) gtask = NULL;
  WeWorkerStorageOp *op;

  if (log_path != NULL && task->log_url != NULL && self->host != NULL)
    storage = we_plugin_host_storage_for_url (self->host, task->log_url, NULL);
  if (storage == NULL) {
    if (log_path != NULL && task->log_url != NULL)
      we_log (G_LOG_LEVEL_WARNING, task->id, NULL, "no storage plugin takes the log URL %s",
              task->log_url);
    if (log_path != NULL)
      g_unlink (log_path);
    we_worker_send (self, final);
    we_worker_task_end (self);
    return;
  }
  task->final_msg = json_object_ref (final);
  op = g_new0 (WeWorkerStorageOp, 1);
  op->storage = g_object_ref (storage);
  op->url = g_strdup (task->log_url);
  op->local_path = g_steal_pointer (&log_path);
  /* no cancellable: a cancelled task still hands in its log, and a shutdown
   * has its own deadline */
  gtask = g_task_new (self, NULL, we_worker_log_upload_cb, NULL);
  g_task_set_source_tag (gtask, we_worker_task_report_final);
  g_task_set_task_data (gtask, op, (GDestroyNotify) we_worker_storage_op_free);
  g_task_run_in_thread (gtask, we_worker_upload_thread);
}

/* Uploads every file below @dir (relative path @rel) to @op->url + path. */
static gboolean
we_worker_upload_tree (WeWorkerStorageOp *op, const gchar *dir, const gchar *rel,
                       GCancellable *cancellable, GError **error)
{
  g_autoptr(GDir) d = g_dir_open (dir, 0, error);
  const gchar *name;

  if (d == NULL)
    return FALSE;
  while ((name = g_dir_read_name (d)) != NULL) {
    g_autofree gchar *path = g_build_filename (dir, name, NULL);
    g_autofree gchar *child = rel != NULL ? g_strconcat (rel, "/", name, NULL) : g_strdup (name);
    GStatBuf st;

    if (g_lstat (path, &st) != 0)
      continue;
    if (S_ISDIR (st.st_mode)) {
      if (!we_worker_upload_tree (op, path, child, cancellable, error))
        return FALSE;
    } else if (S_ISREG (st.st_mode)) {
      g_autofree gchar *url = g_strconcat (op->url, child, NULL);
      if (!we_storage_upload_file (op->storage, path, url, cancellable, error))
        return FALSE;
      g_hash_table_insert (op->sizes, g_steal_pointer (&child),
                           g_memdup2 (&(guint64){ (guint64) st.st_size }, sizeof (guint64)));
    }
  }
  return TRUE;
}

static void
we_worker_upload_tree_thread (GTask *gtask, gpointer source, gpointer task_data,
                              GCancellable *cancellable)
{
  WeWorkerStorageOp *op = task_data;
  GError *error = NULL;

  if (!we_worker_upload_tree (op, op->local_path, NULL, cancellable, &error))
    g_task_return_error (gtask, error);
  else
    g_task_return_boolean (gtask, TRUE);
}

/* The package's outputs with their storage URL and size; the total size
 * goes to the task. */
static void
we_worker_package_outputs_complete (WeWorkerTask *task, GHashTable *sizes)
{
  JsonArray *outputs = task->result != NULL
                           ? we_json_get_array (task->result, "outputs") : NULL;
  GHashTableIter iter;
  gpointer value;

  task->size_bytes = 0;
  g_hash_table_iter_init (&iter, sizes);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    task->size_bytes += *(guint64 *) value;
  for (guint i = 0; outputs != NULL && i < json_array_get_length (outputs); i++) {
    JsonNode *node = json_array_get_element (outputs, i);
    JsonObject *o = JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
    const gchar *path = o != NULL ? we_json_get_string (o, "path") : NULL;
    const gchar *playlist = o != NULL ? we_json_get_string (o, "playlist") : NULL;
    g_autofree gchar *owned = NULL;
    guint64 *size;

    /* renditions name their playlist, the file a client fetches (or, DASH
     * only, their init segment) */
    if (path == NULL)
      path = playlist;
    if (path == NULL && o != NULL)
      path = we_json_get_string (o, "init");
    if (path == NULL)
      continue;
    /* @path may point into @o: copy it before @o changes */
    path = owned = g_strdup (path);
    size = g_hash_table_lookup (sizes, path);
    json_object_set_string_member (o, "path", path);
    g_autofree gchar *url = g_strconcat (task->output_url, path, NULL);

    json_object_set_string_member (o, "url", url);
    json_object_set_int_member (o, "size_bytes", size != NULL ? (gint64) *size : 0);
  }
}

static gboolean
we_worker_storage_error_is_retryable (const GError *error)
{
  WeErrorCode code = we_error_code_from_gerror (error);

  /* a missing object or a refused access will not change on a retry */
  return code != WE_ERROR_STO_NOT_FOUND && code != WE_ERROR_STO_ACCESS_DENIED;
}

static void
we_worker_upload_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  WeWorker *self = WE_WORKER (source);
  WeWorkerTask *task = self->task;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) msg = NULL;

  if (!g_task_propagate_boolean (G_TASK (res), &error)) {
    if (we_worker_task_is_cancelled (task, error))
      we_worker_task_end_cancelled (self);
    else
      we_worker_task_end_failed (self, error, we_worker_storage_error_is_retryable (error));
    return;
  }
  /* the bytes are committed: report what happened even if a cancel raced
   * the last chunk, the kernel must not believe there is no output */
  if (task->kind == WE_WORKER_KIND_PACKAGE) {
    WeWorkerStorageOp *op = g_task_get_task_data (G_TASK (res));
    we_worker_package_outputs_complete (task, op->sizes);
  }
  we_worker_task_remove_scratch (task);
  msg = we_worker_msg_new ("done", task->id);
  json_object_set_string_member (msg, "output_url", task->output_url);
  json_object_set_int_member (msg, "size_bytes", (gint64) task->size_bytes);
  if (task->result != NULL)
    json_object_set_object_member (msg, "result", json_object_ref (task->result));
  we_log (G_LOG_LEVEL_INFO, task->id, NULL, "task done: %s (%" G_GUINT64_FORMAT " bytes)",
          task->output_url, task->size_bytes);
  we_worker_task_report_final (self, msg);
}

static void we_worker_upload_scratch (WeWorker *self);

static void
we_worker_transcode_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(WeWorker) self = user_data;
  WeWorkerTask *task = self->task;
  g_autoptr(GError) error = NULL;

  if (!we_encoder_transcode_finish (WE_ENCODER (source), res, &error)) {
    if (we_worker_task_is_cancelled (task, error))
      we_worker_task_end_cancelled (self);
    else
      we_worker_task_end_failed (
        self, error, !g_error_matches (error, WE_ERROR, WE_ERROR_JOB_UNSUPPORTED_SOURCE));
    return;
  }
  /* decoders conceal damage by dropping frames; a segment short of the
   * frames its range holds has met a corrupt source, which no retry fixes */
  if (task->kind == WE_WORKER_KIND_SEGMENT && task->expected_frames > 0 &&
      task->progress.frames < task->expected_frames) {
    g_autofree gchar *range = task->duration_s > 0
                                  ? g_strdup_printf ("between %.2f s and %.2f s", task->start_s,
                                                     task->start_s + task->duration_s)
                                  : g_strdup_printf ("after %.2f s", task->start_s);
    g_set_error (&error, WE_ERROR, WE_ERROR_JOB_UNSUPPORTED_SOURCE,
                 "source is corrupt %s: only %" G_GUINT64_FORMAT " of its %" G_GUINT64_FORMAT
                 " frames could be decoded", range, task->progress.frames,
                 task->expected_frames);
    we_worker_task_end_failed (self, error, FALSE);
    return;
  }
  we_worker_upload_scratch (self);
}

/* The encode (or stitch) wrote the scratch file: send it to storage. */
static void
we_worker_upload_scratch (WeWorker *self)
{
  WeWorkerTask *task = self->task;
  g_autoptr(GError) error = NULL;
  g_autoptr(GTask) gtask = NULL;
  WeWorkerStorageOp *op;
  GStatBuf st;

  if (g_cancellable_is_cancelled (task->cancellable)) {
    we_worker_task_end_cancelled (self);
    return;
  }
  if (g_stat (task->scratch_path, &st) != 0) {
    g_set_error (&error, WE_ERROR, WE_ERROR_JOB_FAILED,
                 "the encoder reported success but wrote no %s", task->scratch_path);
    we_worker_task_end_failed (self, error, TRUE);
    return;
  }
  task->size_bytes = S_ISDIR (st.st_mode) ? 0 : (guint64) st.st_size;

  /* always end the encode at 100 % so a short task still shows progress */
  if (task->last_sent_percent < 100.0) {
    task->progress.percent = 100.0;
    if (task->progress.duration_s > 0)
      task->progress.position_s = task->progress.duration_s;
    we_worker_send_progress (self);
  }

  task->phase = WE_WORKER_PHASE_UPLOAD;
  op = g_new0 (WeWorkerStorageOp, 1);
  op->storage = g_object_ref (task->output_storage);
  op->url = g_strdup (task->output_url);
  op->local_path = g_strdup (task->scratch_path);
  /* a thread: storages may block, and the loop must keep reading cancels */
  gtask = g_task_new (self, task->cancellable, we_worker_upload_cb, NULL);
  g_task_set_source_tag (gtask, we_worker_upload_scratch);
  g_task_set_task_data (gtask, op, (GDestroyNotify) we_worker_storage_op_free);
  if (task->kind == WE_WORKER_KIND_PACKAGE) {
    op->sizes = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
    g_task_run_in_thread (gtask, we_worker_upload_tree_thread);
  } else {
    g_task_run_in_thread (gtask, we_worker_upload_thread);
  }
}

static void
we_worker_scan_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(WeWorker) self = user_data;
  WeWorkerTask *task = self->task;
  g_autoptr(GError) error = NULL;
  g_autoptr(WeKeyframeIndex) index = we_encoder_scan_finish (WE_ENCODER (source), res, &error);
  g_autoptr(JsonObject) msg = NULL;

  if (index == NULL || g_cancellable_is_cancelled (task->cancellable)) {
    if (we_worker_task_is_cancelled (task, error))
      we_worker_task_end_cancelled (self);
    else
      we_worker_task_end_failed (
        self, error, !g_error_matches (error, WE_ERROR, WE_ERROR_JOB_UNSUPPORTED_SOURCE));
    return;
  }
  msg = we_worker_msg_new ("done", task->id);
  json_object_set_object_member (msg, "index", we_keyframe_index_to_json (index));
  /* the storage URL, not media_uri: a presigned URL is a credential */
  we_log (G_LOG_LEVEL_INFO, task->id, NULL, "scanned %s: %u keyframes, %" G_GUINT64_FORMAT
          " frames", task->input_url, index->keyframes_s->len, index->video_frames);
  we_worker_task_report_final (self, msg);
}

static void
we_worker_stitch_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(WeWorker) self = user_data;
  WeWorkerTask *task = self->task;
  g_autoptr(GError) error = NULL;
  WeStitchReport report = { 0 };

  if (!we_encoder_stitch_finish (WE_ENCODER (source), res, &report, &error)) {
    if (we_worker_task_is_cancelled (task, error))
      we_worker_task_end_cancelled (self);
    else
      /* a failed verification will fail again: the kernel must not loop on it */
      we_worker_task_end_failed (self, error,
                                 !g_error_matches (error, WE_ERROR, WE_ERROR_JOB_FAILED) &&
                                 !g_error_matches (error, WE_ERROR,
                                                   WE_ERROR_JOB_UNSUPPORTED_SOURCE));
    return;
  }
  task->result = json_object_new ();
  json_object_set_int_member (task->result, "frames", (gint64) report.frames);
  json_object_set_double_member (task->result, "duration_s", report.duration_s);
  json_object_set_double_member (task->result, "video_duration_s", report.video_duration_s);
  json_object_set_double_member (task->result, "audio_duration_s", report.audio_duration_s);
  we_worker_upload_scratch (self);
}

static void
we_worker_parts_thread (GTask *gtask, gpointer source, gpointer task_data,
                        GCancellable *cancellable)
{
  WeWorker *self = source;
  gchar **urls = task_data;
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();

  for (guint i = 0; urls[i] != NULL; i++) {
    WeStorage *storage = we_plugin_host_storage_for_url (self->host, urls[i], NULL);
    GError *error = NULL;
    g_auto(WeObjectInfo) info = { 0 };
    g_autofree gchar *uri = NULL;

    if (storage == NULL) {
      g_task_return_new_error (gtask, WE_ERROR, WE_ERROR_PLG_NOT_FOUND,
                               "no storage plugin handles %s", urls[i]);
      return;
    }
    if (!we_storage_stat (storage, urls[i], &info, &error) ||
        (uri = we_storage_get_media_uri (storage, urls[i], &error)) == NULL) {
      g_prefix_error (&error, "stitch input %s: ", urls[i]);
      g_task_return_error (gtask, error);
      return;
    }
    g_strv_builder_add (builder, uri);
  }
  g_task_return_pointer (gtask, g_strv_builder_end (builder), (GDestroyNotify) g_strfreev);
}

static void
we_worker_parts_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  WeWorker *self = WE_WORKER (source);
  WeWorkerTask *task = self->task;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *safe_id = NULL;
  g_autofree gchar *name = NULL;
  WeStitchRequest *req = &self->task->stitch_request;
  guint n;

  task->part_uris = g_task_propagate_pointer (G_TASK (res), &error);
  if (task->part_uris == NULL || g_cancellable_is_cancelled (task->cancellable)) {
    if (we_worker_task_is_cancelled (task, error))
      we_worker_task_end_cancelled (self);
    else
      we_worker_task_end_failed (self, error, we_worker_storage_error_is_retryable (error));
    return;
  }
  safe_id = g_strdup (task->id);
  g_strcanon (safe_id, G_CSET_A_2_Z G_CSET_a_2_z G_CSET_DIGITS "_-", '_');
  name = g_strdup_printf ("%s.%s.part", safe_id, we_profile_get_extension (task->profile));
  task->scratch_path = g_build_filename (self->scratch_dir, name, NULL);
  we_worker_task_remove_scratch (task);

  n = g_strv_length (task->part_uris);
  if (task->has_audio_part && n > 0) {
    /* the audio is the last part; the list stays NULL-terminated without it */
    task->audio_uri = g_steal_pointer (&task->part_uris[n - 1]);
  }
  req->segment_uris = (const gchar * const *) task->part_uris;
  req->audio_uri = task->audio_uri;
  req->output_path = task->scratch_path;
  req->profile = task->profile;
  req->expected_frames = task->expected_frames;
  req->expected_duration_s = task->expected_duration_s;
  req->frame_duration_s = task->frame_duration_s;
  req->task_id = task->id;
  req->pipeline_func = we_worker_pipeline_cb;
  req->pipeline_data = task;
  task->phase = WE_WORKER_PHASE_TRANSCODE;
  we_log (G_LOG_LEVEL_INFO, task->id, NULL, "stitching %u segment(s)%s into %s",
          g_strv_length (task->part_uris), task->has_audio_part ? " and audio" : "",
          task->scratch_path);
  we_encoder_stitch_async (task->encoder, req, task->cancellable, we_worker_stitch_cb,
                           g_object_ref (self));
}

static void
we_worker_package_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(WeWorker) self = user_data;
  WeWorkerTask *task = self->task;
  g_autoptr(GError) error = NULL;
  JsonObject *result = we_encoder_package_finish (WE_ENCODER (source), res, &error);

  if (result == NULL || g_cancellable_is_cancelled (task->cancellable)) {
    g_clear_pointer (&result, json_object_unref);
    if (we_worker_task_is_cancelled (task, error))
      we_worker_task_end_cancelled (self);
    else
      we_worker_task_end_failed (
        self, error, !g_error_matches (error, WE_ERROR, WE_ERROR_JOB_UNSUPPORTED_SOURCE) &&
                     !g_error_matches (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST));
    return;
  }
  task->result = result;
  we_worker_upload_scratch (self);
}

static const gchar *
we_worker_package_kind_name (WePackageKind kind)
{
  return kind == WE_PACKAGE_LADDER ? "ladder"
         : kind == WE_PACKAGE_THUMBNAILS ? "thumbnails" : "subtitles";
}

static void
we_worker_probe_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(WeWorker) self = user_data;
  WeWorkerTask *task = self->task;
  g_autoptr(GError) error = NULL;
  g_autoptr(WeMediaInfo) info = NULL;
  g_autoptr(JsonObject) msg = NULL;
  g_autofree gchar *safe_id = NULL;
  g_autofree gchar *name = NULL;

  info = we_encoder_probe_finish (WE_ENCODER (source), res, &error);
  if (info == NULL || g_cancellable_is_cancelled (task->cancellable)) {
    if (we_worker_task_is_cancelled (task, error))
      we_worker_task_end_cancelled (self);
    else
      we_worker_task_end_failed (
        self, error, !g_error_matches (error, WE_ERROR, WE_ERROR_JOB_UNSUPPORTED_SOURCE));
    return;
  }
  msg = we_worker_msg_new ("probe", task->id);
  json_object_set_object_member (msg, "media", we_media_info_to_json (info));
  we_worker_send (self, msg);

  if (task->kind == WE_WORKER_KIND_SCAN) {
    task->phase = WE_WORKER_PHASE_TRANSCODE;
    we_encoder_scan_async (task->encoder, task->media_uri, task->cancellable, we_worker_scan_cb,
                           g_object_ref (self));
    return;
  }

  /* task ids come from outside: keep them from naming other paths */
  safe_id = g_strdup (task->id);
  g_strcanon (safe_id, G_CSET_A_2_Z G_CSET_a_2_z G_CSET_DIGITS "_-", '_');
  if (task->kind == WE_WORKER_KIND_PACKAGE)
    name = g_strdup_printf ("%s.package", safe_id);
  else
    name = g_strdup_printf ("%s.%s.part", safe_id, we_profile_get_extension (task->profile));
  task->scratch_path = g_build_filename (self->scratch_dir, name, NULL);
  /* a previous attempt that died may have left its scratch file */
  we_worker_task_remove_scratch (task);

  if (task->kind == WE_WORKER_KIND_PACKAGE) {
    WePackageRequest *req = &task->package_request;

    req->task_id = task->id;
    req->input_uri = task->media_uri;
    req->output_dir = task->scratch_path;
    req->profile = task->profile;
    req->key = task->key;
    req->key_uri = task->key_uri;
    req->pipeline_func = we_worker_pipeline_cb;
    req->pipeline_data = task;
    task->phase = WE_WORKER_PHASE_TRANSCODE;
    memset (&task->progress, 0, sizeof (task->progress));
    task->progress.duration_s = info->duration_s;
    we_worker_send_progress (self);
    task->ticker_id = g_timeout_add (WE_WORKER_TICK_MS, we_worker_tick_cb, self);
    we_log (G_LOG_LEVEL_INFO, task->id, NULL, "packaging %s (%s) into %s", task->input_url,
            we_worker_package_kind_name (req->kind), task->scratch_path);
    we_encoder_package_async (task->encoder, req, we_worker_progress_cb, task,
                              task->cancellable, we_worker_package_cb, g_object_ref (self));
    return;
  }

  task->request.task_id = task->id;
  task->request.input_uri = task->media_uri;
  task->request.output_path = task->scratch_path;
  task->request.profile = task->profile;
  task->request.start_s = task->start_s;
  task->request.duration_s = task->duration_s;
  task->request.pipeline_func = we_worker_pipeline_cb;
  task->request.pipeline_data = task;
  task->request.mode = task->kind == WE_WORKER_KIND_SEGMENT ? WE_ENCODE_MODE_VIDEO_SEGMENT
                       : task->kind == WE_WORKER_KIND_AUDIO ? WE_ENCODE_MODE_AUDIO
                                                            : WE_ENCODE_MODE_FULL;
  task->phase = WE_WORKER_PHASE_TRANSCODE;

  /* an immediate 0 % so the kernel sees the encode start */
  memset (&task->progress, 0, sizeof (task->progress));
  task->progress.duration_s = task->duration_s > 0 ? task->duration_s
                                                   : MAX (info->duration_s - task->start_s, 0.0);
  we_worker_send_progress (self);
  task->ticker_id = g_timeout_add (WE_WORKER_TICK_MS, we_worker_tick_cb, self);

  we_log (G_LOG_LEVEL_INFO, task->id, NULL, "transcoding %s into %s", task->input_url,
          task->scratch_path);
  we_encoder_transcode_async (task->encoder, &task->request, we_worker_progress_cb, task,
                              task->cancellable, we_worker_transcode_cb, g_object_ref (self));
}

static void
we_worker_media_uri_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  WeWorker *self = WE_WORKER (source);
  WeWorkerTask *task = self->task;
  g_autoptr(GError) error = NULL;

  task->media_uri = g_task_propagate_pointer (G_TASK (res), &error);
  if (task->media_uri == NULL || g_cancellable_is_cancelled (task->cancellable)) {
    if (we_worker_task_is_cancelled (task, error))
      we_worker_task_end_cancelled (self);
    else
      we_worker_task_end_failed (self, error, we_worker_storage_error_is_retryable (error));
    return;
  }
  task->phase = WE_WORKER_PHASE_PROBE;
  we_encoder_probe_async (task->encoder, task->media_uri, task->cancellable, we_worker_probe_cb,
                          g_object_ref (self));
}

/* A package task names what to make, writes below a prefix and, for an
 * encrypted ladder, carries the content key (32 hex digits) and its URI. */
static gboolean
we_worker_parse_package (WeWorkerTask *task, JsonObject *spec, GError **error)
{
  const gchar *what = we_json_get_string (spec, "package");
  const gchar *key_hex = we_json_get_string (spec, "key");

  if (g_strcmp0 (what, "ladder") == 0)
    task->package_request.kind = WE_PACKAGE_LADDER;
  else if (g_strcmp0 (what, "thumbnails") == 0)
    task->package_request.kind = WE_PACKAGE_THUMBNAILS;
  else if (g_strcmp0 (what, "subtitles") == 0)
    task->package_request.kind = WE_PACKAGE_SUBTITLES;
  else {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                 "a package task needs package ladder|thumbnails|subtitles, not \"%s\"",
                 what != NULL ? what : "");
    return FALSE;
  }
  if (!g_str_has_suffix (task->output_url, "/")) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                 "a package task's output_url must be a prefix ending in /");
    return FALSE;
  }
  if (key_hex != NULL) {
    if (strlen (key_hex) != 32) {
      g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                   "a package key is 32 hex digits");
      return FALSE;
    }
    task->key = g_malloc (16);
    for (guint i = 0; i < 16; i++) {
      gint hi = g_ascii_xdigit_value (key_hex[2 * i]);
      gint lo = g_ascii_xdigit_value (key_hex[2 * i + 1]);
      if (hi < 0 || lo < 0) {
        g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                     "a package key is 32 hex digits");
        return FALSE;
      }
      task->key[i] = (guint8) (hi << 4 | lo);
    }
    task->key_uri = g_strdup (we_json_get_string (spec, "key_uri"));
  }
  return TRUE;
}

static void
we_worker_handle_task (WeWorker *self, JsonObject *msg)
{
  JsonObject *spec = we_json_get_object (msg, "task");
  JsonObject *profile_json;
  const gchar *id = spec != NULL ? we_json_get_string (spec, "id") : NULL;
  const gchar *kind, *input_url, *output_url;
  const gchar *plugin_id = NULL;
  WeWorkerKind task_kind;
  g_auto(GStrv) part_urls = NULL;
  g_autoptr(WeWorkerTask) task = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GTask) gtask = NULL;
  g_autofree gchar *why = NULL;
  WeWorkerStorageOp *op;

  if (id == NULL || *id == '\0' || strlen (id) > WE_WORKER_MAX_TASK_ID) {
    g_warning ("ignoring a task message without a valid task id");
    return;
  }
  if (self->closing)
    return;
  if (self->task != NULL) {
    why = g_strdup_printf ("worker %s is busy with task %s", self->worker_id, self->task->id);
    we_worker_send_failed (self, id, WE_ERROR_WRK_BUSY, why, TRUE);
    return;
  }
  if (!self->configured) {
    we_worker_send_failed (self, id, WE_ERROR_WRK_OFFLINE, "worker is not configured yet", TRUE);
    return;
  }

  kind = we_json_get_string (spec, "kind");
  if (g_strcmp0 (kind, "transcode") == 0)
    task_kind = WE_WORKER_KIND_TRANSCODE;
  else if (g_strcmp0 (kind, "scan") == 0)
    task_kind = WE_WORKER_KIND_SCAN;
  else if (g_strcmp0 (kind, "segment") == 0)
    task_kind = WE_WORKER_KIND_SEGMENT;
  else if (g_strcmp0 (kind, "audio") == 0)
    task_kind = WE_WORKER_KIND_AUDIO;
  else if (g_strcmp0 (kind, "stitch") == 0)
    task_kind = WE_WORKER_KIND_STITCH;
  else if (g_strcmp0 (kind, "package") == 0)
    task_kind = WE_WORKER_KIND_PACKAGE;
  else {
    why = g_strdup_printf ("unsupported task kind \"%s\"", kind != NULL ? kind : "");
    we_worker_send_failed (self, id, WE_ERROR_JOB_INVALID_REQUEST, why, FALSE);
    return;
  }
  if (task_kind == WE_WORKER_KIND_STITCH) {
    JsonArray *segments = we_json_get_array (spec, "segment_urls");
    const gchar *audio_url = we_json_get_string (spec, "audio_url");
    g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();

    if (segments == NULL || json_array_get_length (segments) == 0) {
      we_worker_send_failed (self, id, WE_ERROR_JOB_INVALID_REQUEST,
                             "a stitch task needs segment_urls", FALSE);
      return;
    }
    for (guint i = 0; i < json_array_get_length (segments); i++) {
      JsonNode *el = json_array_get_element (segments, i);
      if (!JSON_NODE_HOLDS_VALUE (el) || json_node_get_value_type (el) != G_TYPE_STRING) {
        we_worker_send_failed (self, id, WE_ERROR_JOB_INVALID_REQUEST,
                               "segment_urls must be strings", FALSE);
        return;
      }
      g_strv_builder_add (builder, json_node_get_string (el));
    }
    if (audio_url != NULL)
      g_strv_builder_add (builder, audio_url);
    part_urls = g_strv_builder_end (builder);
    input_url = part_urls[0];
  } else {
    input_url = we_json_get_string (spec, "input_url");
  }
  output_url = we_json_get_string (spec, "output_url");
  profile_json = we_json_get_object (spec, "profile");
  if (input_url == NULL || profile_json == NULL ||
      (output_url == NULL && task_kind != WE_WORKER_KIND_SCAN)) {
    we_worker_send_failed (self, id, WE_ERROR_JOB_INVALID_REQUEST,
                           "task needs input_url, output_url and profile", FALSE);
    return;
  }
  if (output_url == NULL)
    output_url = input_url; /* a scan writes nothing */

  task = g_new0 (WeWorkerTask, 1);
  task->worker = self;
  task->id = g_strdup (id);
  task->input_url = g_strdup (input_url);
  task->output_url = g_strdup (output_url);
  task->start_s = MAX (we_json_get_double (spec, "start_s", 0.0), 0.0);
  task->duration_s = MAX (we_json_get_double (spec, "duration_s", 0.0), 0.0);
  task->cancellable = g_cancellable_new ();
  task->kind = task_kind;
  task->has_audio_part = we_json_get_string (spec, "audio_url") != NULL;
  task->expected_frames = (guint64) MAX (we_json_get_double (spec, "expected_frames", 0.0), 0.0);
  task->expected_duration_s = MAX (we_json_get_double (spec, "expected_duration_s", 0.0), 0.0);
  task->frame_duration_s = MAX (we_json_get_double (spec, "frame_duration_s", 0.0), 0.0);
  task->profile = we_profile_new_from_json (profile_json, &error);
  if (task->profile == NULL) {
    we_worker_send_failed (self, id, we_error_code_from_gerror (error), error->message, FALSE);
    return;
  }
  if (task_kind == WE_WORKER_KIND_PACKAGE &&
      !we_worker_parse_package (task, spec, &error)) {
    we_worker_send_failed (self, id, we_error_code_from_gerror (error), error->message, FALSE);
    return;
  }

  /* resolve every pillar up front: a task that cannot finish should fail
   * before it costs an encode */
  task->input_storage = we_plugin_host_storage_for_url (self->host, input_url, &plugin_id);
  task->output_storage = we_plugin_host_storage_for_url (self->host, output_url, &plugin_id);
  task->encoder = we_plugin_host_encoder_for (self->host, task->profile->video_codec,
                                              task->profile->prefer_hardware, &plugin_id);
  if (task->input_storage == NULL || task->output_storage == NULL) {
    why = g_strdup_printf ("no storage plugin on worker %s handles %s", self->worker_id,
                           task->input_storage == NULL ? input_url : output_url);
    we_worker_send_failed (self, id, WE_ERROR_PLG_NOT_FOUND, why, FALSE);
    return;
  }
  if (task->encoder == NULL) {
    why = g_strdup_printf ("no encoder plugin on worker %s supports %s", self->worker_id,
                           task->profile->video_codec);
    we_worker_send_failed (self, id, WE_ERROR_PLG_NOT_FOUND, why, FALSE);
    return;
  }
  g_object_ref (task->input_storage);
  g_object_ref (task->output_storage);
  g_object_ref (task->encoder);
  if (task_kind == WE_WORKER_KIND_PACKAGE && !we_encoder_can_package (task->encoder)) {
    why = g_strdup_printf ("encoder %s cannot package", plugin_id);
    we_worker_send_failed (self, id, WE_ERROR_PLG_NOT_FOUND, why, FALSE);
    return;
  }
  if (task_kind != WE_WORKER_KIND_TRANSCODE && task_kind != WE_WORKER_KIND_PACKAGE &&
      !we_encoder_can_split (task->encoder)) {
    why = g_strdup_printf ("encoder %s cannot split and stitch", plugin_id);
    we_worker_send_failed (self, id, WE_ERROR_PLG_NOT_FOUND, why, FALSE);
    return;
  }
  task->part_urls = g_steal_pointer (&part_urls);

  task->seq = ++self->task_seq;
  task->phase = WE_WORKER_PHASE_RESOLVE;
  /* the encoder names the pipelines of calls that carry no task id (probe,
   * scan) after this, see we-gst-introspect.h */
  g_object_set_data_full (G_OBJECT (task->cancellable), WE_WORKER_TASK_ID_KEY,
                          g_strdup (task->id), g_free);
  if (we_worker_gst_log_is_enabled ()) {
    if (we_worker_gst_log_begin (task->id, &error)) {
      task->gst_log = TRUE;
      task->log_url = g_strdup (we_json_get_string (spec, "log_url"));
    } else {
      we_log (G_LOG_LEVEL_WARNING, task->id, NULL, "no GStreamer log for this task: %s",
              error->message);
      g_clear_error (&error);
    }
  }
  we_log (G_LOG_LEVEL_INFO, task->id, NULL, "task %s: %s → %s (profile %s, encoder %s)", id,
          input_url, output_url, task->profile->id, plugin_id);
  self->task = g_steal_pointer (&task);

  if (self->task->kind == WE_WORKER_KIND_STITCH) {
    gtask = g_task_new (self, self->task->cancellable, we_worker_parts_cb, NULL);
    g_task_set_source_tag (gtask, we_worker_parts_thread);
    g_task_set_task_data (gtask, g_strdupv (self->task->part_urls), (GDestroyNotify) g_strfreev);
    g_task_set_return_on_cancel (gtask, TRUE);
    g_task_run_in_thread (gtask, we_worker_parts_thread);
    return;
  }
  op = g_new0 (WeWorkerStorageOp, 1);
  op->storage = g_object_ref (self->task->input_storage);
  op->url = g_strdup (input_url);
  gtask = g_task_new (self, self->task->cancellable, we_worker_media_uri_cb, NULL);
  g_task_set_source_tag (gtask, we_worker_handle_task);
  g_task_set_task_data (gtask, op, (GDestroyNotify) we_worker_storage_op_free);
  /* nothing to clean up after a media URI: answer a cancel at once */
  g_task_set_return_on_cancel (gtask, TRUE);
  g_task_run_in_thread (gtask, we_worker_media_uri_thread);
}

static void
we_worker_handle_cancel (WeWorker *self, JsonObject *msg)
{
  const gchar *task_id = we_json_get_string (msg, "task_id");

  if (self->task == NULL || g_strcmp0 (task_id, self->task->id) != 0) {
    /* a cancel that crossed our final report: nothing to do */
    g_debug ("ignoring cancel for task %s which is not running", task_id ? task_id : "(null)");
    return;
  }
  we_log (G_LOG_LEVEL_INFO, task_id, NULL, "cancelling task");
  g_cancellable_cancel (self->task->cancellable);
}

/* ---- configure --------------------------------------------------------- */

static JsonObject *
we_worker_plugin_config_cb (const gchar *plugin_id, gpointer user_data)
{
  GHashTable *configs = user_data;
  JsonObject *config = g_hash_table_lookup (configs, plugin_id);

  return config != NULL ? json_object_ref (config) : NULL;
}

/* Returns: (transfer full): each loaded plugin's id, pillar, state and error */
static JsonArray *
we_worker_plugins_json (WeWorker *self)
{
  JsonArray *plugins = json_array_new ();
  GPtrArray *infos = self->host != NULL ? we_plugin_host_get_plugins (self->host) : NULL;

  for (guint i = 0; infos != NULL && i < infos->len; i++) {
    WePluginInfo *info = g_ptr_array_index (infos, i);
    JsonObject *entry = json_object_new ();

    json_object_set_string_member (entry, "id", info->id);
    json_object_set_string_member (entry, "pillar", we_pillar_type_to_string (info->pillar));
    json_object_set_string_member (entry, "state", we_plugin_state_to_string (info->state));
    if (info->error != NULL)
      json_object_set_string_member (entry, "error", info->error);
    json_array_add_object_element (plugins, entry);
  }
  return plugins;
}

JsonObject *
we_worker_get_capabilities (WeWorker *self)
{
  g_return_val_if_fail (WE_IS_WORKER (self), json_object_new ());

  /* one task at a time per process: operators start more processes for more */
  return we_worker_caps_collect (self->host, 1);
}

static void
we_worker_send_hello (WeWorker *self)
{
  g_autoptr(JsonObject) msg = we_worker_msg_new ("hello", NULL);

  json_object_set_string_member (msg, "worker_id", self->worker_id);
  json_object_set_int_member (msg, "pid", getpid ());
  json_object_set_string_member (msg, "version", PACKAGE_VERSION);
  json_object_set_object_member (msg, "capabilities", we_worker_get_capabilities (self));
  json_object_set_array_member (msg, "plugins", we_worker_plugins_json (self));
  we_worker_send (self, msg);
}

static void
we_worker_handle_configure (WeWorker *self, JsonObject *msg)
{
  const gchar *worker_id = we_json_get_string (msg, "worker_id");
  const gchar *scratch_dir = we_json_get_string (msg, "scratch_dir");
  const gchar *plugin_dir = we_json_get_string (msg, "plugin_dir");
  JsonArray *plugins = we_json_get_array (msg, "plugins");
  JsonArray *disabled = we_json_get_array (msg, "disabled_plugins");
  JsonObject *secrets_settings = we_json_get_object (msg, "secrets");
  g_autoptr(WeSecretsRouter) secrets = NULL;
  g_autoptr(GStrvBuilder) disabled_ids = g_strv_builder_new ();
  g_auto(GStrv) disabled_list = NULL;
  g_autoptr(GError) error = NULL;
  guint healthy;

  if (self->configured) {
    g_warning ("ignoring a second configure message");
    return;
  }
  self->configured = TRUE;
  if (worker_id != NULL && *worker_id != '\0') {
    g_free (self->worker_id);
    self->worker_id = g_strdup (worker_id);
  }
  if (scratch_dir != NULL && *scratch_dir != '\0')
    self->scratch_dir = g_strdup (scratch_dir);
  else
    self->scratch_dir = g_build_filename (g_get_tmp_dir (), "webencode-scratch", NULL);
  if (g_mkdir_with_parents (self->scratch_dir, 0700) != 0)
    g_warning ("cannot create scratch dir %s: %s", self->scratch_dir, g_strerror (errno));
  /* --gst-debug wins over what the kernel asks for */
  if (self->gst_debug == NULL && we_json_get_string (msg, "gst_debug") != NULL &&
      *we_json_get_string (msg, "gst_debug") != '\0')
    self->gst_debug = g_strdup (we_json_get_string (msg, "gst_debug"));
  if (self->gst_debug != NULL) {
    g_autofree gchar *logs = g_build_filename (self->scratch_dir, "logs", NULL);

    if (!we_worker_gst_log_enable (self->gst_debug, logs, &error)) {
      g_warning ("worker %s: no GStreamer debug logs: %s", self->worker_id, error->message);
      g_clear_error (&error);
    } else {
      g_info ("worker %s: GStreamer debug logs (%s) per task in %s", self->worker_id,
              self->gst_debug, logs);
    }
  }

  for (guint i = 0; plugins != NULL && i < json_array_get_length (plugins); i++) {
    JsonNode *node = json_array_get_element (plugins, i);
    JsonObject *entry = JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
    const gchar *id = entry != NULL ? we_json_get_string (entry, "id") : NULL;
    JsonObject *config = entry != NULL ? we_json_get_object (entry, "config") : NULL;

    if (id == NULL) {
      g_warning ("ignoring plugin entry %u without an id", i);
      continue;
    }
    g_hash_table_replace (self->plugin_configs, g_strdup (id),
                          config != NULL ? json_object_ref (config) : json_object_new ());
  }

  self->host = we_plugin_host_new ();
  if (plugins == NULL && self->config_func != NULL)
    we_plugin_host_set_config_func (self->host, self->config_func, self->config_data, NULL);
  else
    we_plugin_host_set_config_func (self->host, we_worker_plugin_config_cb,
                                    g_hash_table_ref (self->plugin_configs),
                                    (GDestroyNotify) g_hash_table_unref);
  we_plugin_host_set_pillar_filter (self->host,
                                    (1u << WE_PILLAR_STORAGE) | (1u << WE_PILLAR_ENCODER));
  /* The kernel sends where secrets live, never a secret: plugins here
   * resolve their references themselves (spec §6.5). */
  if (secrets_settings != NULL) {
    secrets = we_secrets_router_new_from_settings (secrets_settings, &error);
    if (secrets == NULL) {
      g_warning ("worker %s: no secrets backend: %s", self->worker_id, error->message);
      g_clear_error (&error);
    } else {
      we_plugin_host_set_secrets (self->host, WE_SECRETS (secrets));
    }
  }
  for (guint i = 0; disabled != NULL && i < json_array_get_length (disabled); i++) {
    JsonNode *node = json_array_get_element (disabled, i);

    if (JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING)
      g_strv_builder_add (disabled_ids, json_node_get_string (node));
  }
  disabled_list = g_strv_builder_end (disabled_ids);
  if (disabled_list[0] != NULL)
    we_plugin_host_set_disabled (self->host, (const gchar * const *) disabled_list);
  if (plugin_dir == NULL || *plugin_dir == '\0')
    plugin_dir = WE_PLUGINDIR;
  healthy = we_plugin_host_load_dir (self->host, plugin_dir, &error);
  if (error != NULL)
    g_warning ("cannot load plugins from %s: %s", plugin_dir, error->message);
  else
    g_info ("worker %s: %u healthy plugins from %s", self->worker_id, healthy, plugin_dir);
  we_worker_send_hello (self);
}

/* ---- channel ----------------------------------------------------------- */

void
we_worker_receive (WeWorker *self, JsonObject *msg)
{
  const gchar *type;

  g_return_if_fail (WE_IS_WORKER (self));
  g_return_if_fail (msg != NULL);

  type = we_worker_msg_type (msg);
  if (g_strcmp0 (type, "configure") == 0)
    we_worker_handle_configure (self, msg);
  else if (g_strcmp0 (type, "task") == 0)
    we_worker_handle_task (self, msg);
  else if (g_strcmp0 (type, "cancel") == 0)
    we_worker_handle_cancel (self, msg);
  else if (g_strcmp0 (type, "shutdown") == 0)
    we_worker_close (self);
  else
    g_debug ("ignoring message of unknown type \"%s\"", type);
}

static void
we_worker_handle_line (WeWorker *self, const gchar *line, gsize length)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) msg = we_worker_msg_parse (line, length, &error);

  if (msg == NULL) {
    g_warning ("ignoring a message from the kernel: %s", error->message);
    return;
  }
  we_worker_receive (self, msg);
}

static void
we_worker_read_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(WeWorker) self = user_data;
  g_autoptr(GError) error = NULL;
  gsize length = 0;
  g_autofree gchar *line = NULL;

  line = g_data_input_stream_read_line_finish (G_DATA_INPUT_STREAM (source), res, &length,
                                               &error);
  if (line == NULL) {
    if (error == NULL)
      g_info ("the kernel closed the channel");
    else if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
      g_warning ("reading from the kernel failed: %s", error->message);
    we_worker_close (self);
    return;
  }
  if (length > WE_WORKER_MAX_LINE) {
    g_warning ("the kernel sent a line of %" G_GSIZE_FORMAT " bytes, closing the channel",
               length);
    we_worker_close (self);
    return;
  }
  if (length > 0)
    we_worker_handle_line (self, line, length);
  if (!self->closing)
    we_worker_read_next (self);
}

static void
we_worker_read_next (WeWorker *self)
{
  g_data_input_stream_read_line_async (self->input, G_PRIORITY_DEFAULT, self->read_cancellable,
                                       we_worker_read_cb, g_object_ref (self));
}

static gboolean
we_worker_deadline_cb (gpointer user_data)
{
  WeWorker *self = user_data;

  self->deadline_id = 0;
  if (!self->finished) {
    g_warning ("could not finish %s within %d s, leaving anyway",
               self->task != NULL ? self->task->id : "the last replies",
               WE_WORKER_SHUTDOWN_DEADLINE_S);
    self->finished = TRUE;
    g_signal_emit (self, signals[SIGNAL_FINISHED], 0);
  }
  return G_SOURCE_REMOVE;
}

static void
we_worker_maybe_finish (WeWorker *self)
{
  if (!self->closing || self->finished || self->task != NULL)
    return;
  if (self->current_write != NULL || !g_queue_is_empty (&self->writes))
    return;
  g_clear_handle_id (&self->deadline_id, g_source_remove);
  self->finished = TRUE;
  g_signal_emit (self, signals[SIGNAL_FINISHED], 0);
}

static void
we_worker_close (WeWorker *self)
{
  if (self->closing)
    return;
  self->closing = TRUE;
  g_cancellable_cancel (self->read_cancellable);
  if (self->task != NULL) {
    we_log (G_LOG_LEVEL_INFO, self->task->id, NULL, "shutting down: cancelling the task");
    g_cancellable_cancel (self->task->cancellable);
  }
  /* neither a task deaf to its cancel nor a kernel that stopped reading
   * may keep the process alive */
  self->deadline_id = g_timeout_add_seconds (WE_WORKER_SHUTDOWN_DEADLINE_S,
                                             we_worker_deadline_cb, self);
  we_worker_maybe_finish (self);
}

void
we_worker_start (WeWorker *self)
{
  g_return_if_fail (WE_IS_WORKER (self));
  g_return_if_fail (!self->started);

  self->started = TRUE;
  if (self->input != NULL)
    we_worker_read_next (self);
}

void
we_worker_shutdown (WeWorker *self)
{
  g_return_if_fail (WE_IS_WORKER (self));

  we_worker_close (self);
}

gboolean
we_worker_is_busy (WeWorker *self)
{
  g_return_val_if_fail (WE_IS_WORKER (self), FALSE);

  return self->task != NULL;
}

gint
we_worker_get_exit_status (WeWorker *self)
{
  g_return_val_if_fail (WE_IS_WORKER (self), 1);

  return self->exit_status;
}

static void
we_worker_dispose (GObject *object)
{
  WeWorker *self = WE_WORKER (object);

  g_cancellable_cancel (self->read_cancellable);
  g_clear_handle_id (&self->deadline_id, g_source_remove);
  g_clear_pointer (&self->task, we_worker_task_free);
  g_clear_object (&self->host);
  G_OBJECT_CLASS (we_worker_parent_class)->dispose (object);
}

static void
we_worker_finalize (GObject *object)
{
  WeWorker *self = WE_WORKER (object);

  g_queue_clear_full (&self->writes, (GDestroyNotify) we_worker_write_free);
  g_clear_object (&self->input);
  g_clear_object (&self->output);
  g_clear_object (&self->read_cancellable);
  g_clear_pointer (&self->plugin_configs, g_hash_table_unref);
  if (self->send_notify != NULL)
    self->send_notify (self->send_data);
  if (self->config_notify != NULL)
    self->config_notify (self->config_data);
  g_free (self->worker_id);
  g_free (self->scratch_dir);
  g_free (self->gst_debug);
  G_OBJECT_CLASS (we_worker_parent_class)->finalize (object);
}

static void
we_worker_class_init (WeWorkerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = we_worker_dispose;
  object_class->finalize = we_worker_finalize;

  /**
   * WeWorker::finished:
   *
   * The channel has ended and every reply was written: time to exit.
   */
  signals[SIGNAL_FINISHED] = g_signal_new ("finished", G_TYPE_FROM_CLASS (klass),
                                           G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                           G_TYPE_NONE, 0);
}

static void
we_worker_init (WeWorker *self)
{
  const gchar *crash = g_getenv ("WE_WORKER_TEST_CRASH_AFTER_PROGRESS");

  g_queue_init (&self->writes);
  self->read_cancellable = g_cancellable_new ();
  self->plugin_configs = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                                (GDestroyNotify) json_object_unref);
  if (crash != NULL)
    self->crash_after_progress = (guint) g_ascii_strtoull (crash, NULL, 10);
}

WeWorker *
we_worker_new_with_transport (WeWorkerSendFunc send, gpointer user_data, GDestroyNotify notify,
                              const gchar *worker_id)
{
  WeWorker *self;

  g_return_val_if_fail (send != NULL, NULL);

  self = g_object_new (WE_TYPE_WORKER, NULL);
  self->send_func = send;
  self->send_data = user_data;
  self->send_notify = notify;
  self->worker_id = g_strdup (worker_id != NULL ? worker_id : "worker");
  return self;
}

void
we_worker_set_plugin_config_func (WeWorker *self, WePluginConfigFunc func, gpointer user_data,
                                  GDestroyNotify notify)
{
  g_return_if_fail (WE_IS_WORKER (self));
  g_return_if_fail (!self->configured);

  if (self->config_notify != NULL)
    self->config_notify (self->config_data);
  self->config_func = func;
  self->config_data = user_data;
  self->config_notify = notify;
}

void
we_worker_set_gst_debug (WeWorker *self, const gchar *spec)
{
  g_return_if_fail (WE_IS_WORKER (self));
  g_return_if_fail (!self->configured);

  g_free (self->gst_debug);
  self->gst_debug = spec != NULL && *spec != '\0' ? g_strdup (spec) : NULL;
}

WePluginHost *
we_worker_get_plugin_host (WeWorker *self)
{
  g_return_val_if_fail (WE_IS_WORKER (self), NULL);

  return self->host;
}

WeWorker *
we_worker_new (GInputStream *input, GOutputStream *output, const gchar *worker_id)
{
  WeWorker *self;

  g_return_val_if_fail (G_IS_INPUT_STREAM (input), NULL);
  g_return_val_if_fail (G_IS_OUTPUT_STREAM (output), NULL);

  self = g_object_new (WE_TYPE_WORKER, NULL);
  self->input = g_data_input_stream_new (input);
  g_data_input_stream_set_newline_type (self->input, G_DATA_STREAM_NEWLINE_TYPE_LF);
  self->output = g_object_ref (output);
  self->worker_id = g_strdup (worker_id != NULL ? worker_id : "worker");
  return self;
}
