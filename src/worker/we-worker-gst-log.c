/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "we-worker-gst-log.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <gst/gst.h>
#include <stdio.h>
#include <string.h>

#include <webencode/we-error.h>

#define TRUNCATED_LINE "[truncated]\n"

typedef struct {
  gchar   *path;
  FILE    *file;       /* NULL once truncated or after a write error */
  guint64  size;
  gboolean truncated;
} TaskLog;

/* GStreamer's debug log is one per process, and so is its router. Every
 * member is guarded by lock; the log function reads the table from any
 * streaming thread. */
static struct {
  GMutex      lock;
  gboolean    enabled;
  gchar      *dir;
  GHashTable *logs;    /* task id (= pipeline name) → TaskLog */
  guint64     limit;
} router = { .limit = WE_WORKER_GST_LOG_LIMIT };

static void
task_log_free (TaskLog *log)
{
  if (log->file != NULL)
    fclose (log->file);
  g_free (log->path);
  g_free (log);
}

/* The top-level object @object belongs to. Read without the object locks:
 * GStreamer logs while holding them (a locked walk would deadlock), and its
 * own default log function reads names the same way. */
static const gchar *
top_level_name (GObject *object)
{
  GstObject *top;

  if (object == NULL || !GST_IS_OBJECT (object))
    return NULL;
  top = GST_OBJECT_CAST (object);
  while (GST_OBJECT_PARENT (top) != NULL)
    top = GST_OBJECT_PARENT (top);
  return GST_IS_PIPELINE (top) ? GST_OBJECT_NAME (top) : NULL;
}

static gboolean
task_is_logging (const gchar *name)
{
  gboolean logging;

  g_mutex_lock (&router.lock);
  logging = router.logs != NULL && g_hash_table_contains (router.logs, name);
  g_mutex_unlock (&router.lock);
  return logging;
}

static void
log_function (GstDebugCategory *category, GstDebugLevel level, const gchar *file,
              const gchar *function, gint line, GObject *object, GstDebugMessage *message,
              gpointer user_data)
{
  const gchar *name = top_level_name (object);
  g_autofree gchar *text = NULL;
  TaskLog *log;
  gsize length;

  /* most lines belong to no task: answer those before formatting anything */
  if (name == NULL || !task_is_logging (name))
    return;
  text = gst_debug_log_get_line (category, level, file, function, line, object, message);
  length = strlen (text);

  g_mutex_lock (&router.lock);
  log = router.logs != NULL ? g_hash_table_lookup (router.logs, name) : NULL;
  if (log != NULL && log->file != NULL) {
    if (log->size + length > router.limit) {
      fputs (TRUNCATED_LINE, log->file);
      log->size += strlen (TRUNCATED_LINE);
      log->truncated = TRUE;
      g_clear_pointer (&log->file, fclose);
    } else if (fwrite (text, 1, length, log->file) == length) {
      log->size += length;
    } else {
      /* a full disk: keep what was written, never fail the task for it */
      g_clear_pointer (&log->file, fclose);
    }
  }
  g_mutex_unlock (&router.lock);
}

gboolean
we_worker_gst_log_enable (const gchar *spec, const gchar *dir, GError **error)
{
  g_autoptr(GError) local_error = NULL;

  g_return_val_if_fail (dir != NULL, FALSE);

  if (!gst_init_check (NULL, NULL, &local_error)) {
    g_set_error (error, WE_ERROR, WE_ERROR_SYS_INTERNAL, "cannot initialise GStreamer: %s",
                 local_error->message);
    return FALSE;
  }
  if (g_mkdir_with_parents (dir, 0700) != 0) {
    g_set_error (error, WE_ERROR, WE_ERROR_SYS_INTERNAL, "cannot create %s: %s", dir,
                 g_strerror (errno));
    return FALSE;
  }
  gst_debug_set_active (TRUE);
  gst_debug_set_threshold_from_string (spec != NULL && *spec != '\0'
                                           ? spec : WE_WORKER_GST_DEBUG_DEFAULT, TRUE);

  g_mutex_lock (&router.lock);
  if (!router.enabled) {
    router.enabled = TRUE;
    router.dir = g_strdup (dir);
    router.logs = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                         (GDestroyNotify) task_log_free);
  }
  g_mutex_unlock (&router.lock);

  /* stderr is the kernel's log channel: GStreamer's own lines must not go there */
  gst_debug_remove_log_function (gst_debug_log_default);
  gst_debug_remove_log_function (log_function);
  gst_debug_add_log_function (log_function, NULL, NULL);
  return TRUE;
}

gboolean
we_worker_gst_log_is_enabled (void)
{
  gboolean enabled;

  g_mutex_lock (&router.lock);
  enabled = router.enabled;
  g_mutex_unlock (&router.lock);
  return enabled;
}

gboolean
we_worker_gst_log_begin (const gchar *task_id, GError **error)
{
  g_autofree gchar *safe_id = NULL;
  g_autofree gchar *name = NULL;
  TaskLog *log;

  g_return_val_if_fail (task_id != NULL, FALSE);

  /* task ids come from outside: keep them from naming other paths */
  safe_id = g_strndup (task_id, 200);
  g_strcanon (safe_id, G_CSET_A_2_Z G_CSET_a_2_z G_CSET_DIGITS "_-", '_');
  name = g_strconcat (safe_id, ".log", NULL);

  g_mutex_lock (&router.lock);
  if (!router.enabled) {
    g_mutex_unlock (&router.lock);
    g_set_error (error, WE_ERROR, WE_ERROR_SYS_INTERNAL, "GStreamer debug logs are off");
    return FALSE;
  }
  log = g_new0 (TaskLog, 1);
  log->path = g_build_filename (router.dir, name, NULL);
  log->file = fopen (log->path, "we");
  if (log->file == NULL) {
    int saved = errno;

    g_mutex_unlock (&router.lock);
    g_set_error (error, WE_ERROR, WE_ERROR_SYS_INTERNAL, "cannot write %s: %s", log->path,
                 g_strerror (saved));
    task_log_free (log);
    return FALSE;
  }
  g_hash_table_replace (router.logs, g_strdup (task_id), log);
  g_mutex_unlock (&router.lock);
  return TRUE;
}

gchar *
we_worker_gst_log_end (const gchar *task_id, guint64 *size_bytes, gboolean *truncated)
{
  gpointer key = NULL, value = NULL;
  TaskLog *log;
  gchar *path;

  g_return_val_if_fail (task_id != NULL, NULL);

  g_mutex_lock (&router.lock);
  if (router.logs == NULL || !g_hash_table_steal_extended (router.logs, task_id, &key, &value)) {
    g_mutex_unlock (&router.lock);
    return NULL;
  }
  log = value;
  if (log->file != NULL)
    fflush (log->file);
  if (size_bytes != NULL)
    *size_bytes = log->size;
  if (truncated != NULL)
    *truncated = log->truncated;
  path = g_steal_pointer (&log->path);
  task_log_free (log);
  g_mutex_unlock (&router.lock);
  g_free (key);
  return path;
}

void
we_worker_gst_log_set_limit (guint64 limit)
{
  g_mutex_lock (&router.lock);
  router.limit = limit;
  g_mutex_unlock (&router.lock);
}
