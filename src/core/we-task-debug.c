/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Pipeline introspection (issue 8): the pipeline document and graphs of a
 * task, from what its worker reported (see we-scheduler.c) and the store
 * kept. The store is read on its own thread (we_store_call_async) and
 * Graphviz runs as a child process, so nothing here blocks the main loop.
 */
#include "config.h"

#include <string.h>

#include "common/we-job.h"
#include "core/we-task-debug.h"

/* A graph of a big pipeline renders in well under a second; a stuck `dot`
 * must not hold an API request forever. */
#define GRAPHVIZ_TIMEOUT_S 30

/* --- where our GStreamer plugin lives, for the "command" --- */

/* The build tree's gst-elements when the daemon runs from a build (as the
 * daemon finds its plugins beside its executable), else the installed
 * gstreamer-1.0 plugin directory. */
static const gchar *
gst_plugin_dir (void)
{
  static gsize once;
  static const gchar *dir;

  if (g_once_init_enter (&once)) {
    g_autofree gchar *exe = g_file_read_link ("/proc/self/exe", NULL);

    dir = WE_GST_PLUGINDIR;
    if (exe != NULL && g_str_has_prefix (exe, WE_BUILD_ROOT "/") &&
        g_file_test (WE_BUILD_GST_PLUGINDIR, G_FILE_TEST_IS_DIR))
      dir = WE_BUILD_GST_PLUGINDIR;
    g_once_init_leave (&once, 1);
  }
  return dir;
}

/* Characters a shell takes literally in a word. */
static gboolean
shell_safe (const gchar *word)
{
  if (*word == '\0')
    return FALSE;
  for (const gchar *p = word; *p != '\0'; p++) {
    if (!g_ascii_isalnum (*p) && strchr ("_./:=,+@%^-", *p) == NULL)
      return FALSE;
  }
  return TRUE;
}

static void
append_word (GString *line, const gchar *word)
{
  g_string_append_c (line, ' ');
  if (g_str_equal (word, "!") || shell_safe (word)) {
    g_string_append (line, word);
  } else {
    g_autofree gchar *quoted = g_shell_quote (word);
    g_string_append (line, quoted);
  }
}

/* gst-launch-1.0 takes the description as words (gst_parse_launchv escapes
 * the spaces inside each one), not as one argument: the description is split
 * where gst_parse_launch() would (blanks outside "…" quotes) and each word
 * shell-quoted, so the shell hands gst-launch-1.0 exactly those words. */
static gchar *
command_for (const gchar *launch)
{
  g_autofree gchar *dir = g_shell_quote (gst_plugin_dir ());
  g_autoptr(GString) line = g_string_new (NULL);
  g_autoptr(GString) word = g_string_new (NULL);
  gboolean quoted = FALSE;

  /* -e: an EOS on interrupt, so a muxer finishes the file as the worker's did */
  g_string_printf (line, "GST_PLUGIN_PATH=%s gst-launch-1.0 -e", dir);
  for (const gchar *p = launch; *p != '\0'; p++) {
    if (!quoted && g_ascii_isspace (*p)) {
      if (word->len > 0)
        append_word (line, word->str);
      g_string_truncate (word, 0);
      continue;
    }
    if (*p == '\\' && p[1] != '\0') {
      g_string_append_c (word, *p++);
      g_string_append_c (word, *p);
      continue;
    }
    if (*p == '"')
      quoted = !quoted;
    g_string_append_c (word, *p);
  }
  if (word->len > 0)
    append_word (line, word->str);
  return g_string_free (g_steal_pointer (&line), FALSE);
}

/* --- reading the store --- */

typedef struct {
  gchar *job_id;
  gchar *task_id;  /* nullable: the first task that recorded a pipeline */
} Query;

static void
query_free (Query *q)
{
  g_free (q->job_id);
  g_free (q->task_id);
  g_free (q);
}

static Query *
query_new (const gchar *job_id, const gchar *task_id)
{
  Query *q = g_new0 (Query, 1);

  q->job_id = g_strdup (job_id);
  q->task_id = task_id != NULL && task_id[0] != '\0' ? g_strdup (task_id) : NULL;
  return q;
}

/* Runs on the store's thread. Returns: (element-type WeTaskPipeline) the
 * pipelines of the one task asked for (or picked), never empty. */
static gpointer
pipelines_func (WeStore *store, gpointer data, GError **error)
{
  Query *q = data;
  g_autoptr(WeJob) job = we_store_job_get (store, q->job_id, error);
  g_autoptr(GPtrArray) pipelines = NULL;
  g_autoptr(GPtrArray) tasks = NULL;
  const gchar *picked;

  if (job == NULL)
    return NULL;
  pipelines = we_store_task_pipeline_list (store, q->job_id, q->task_id, error);
  if (pipelines == NULL)
    return NULL;
  if (pipelines->len > 0) {
    /* in task order: without a task asked for, the first one's */
    picked = ((WeTaskPipeline *) g_ptr_array_index (pipelines, 0))->task_id;
    for (guint i = pipelines->len; i > 0; i--) {
      WeTaskPipeline *p = g_ptr_array_index (pipelines, i - 1);

      if (g_strcmp0 (p->task_id, picked) != 0)
        g_ptr_array_remove_index (pipelines, i - 1);
    }
    return g_steal_pointer (&pipelines);
  }
  if (q->task_id == NULL) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_NOT_FOUND,
                 "no task of job %s recorded a pipeline (yet)", q->job_id);
    return NULL;
  }
  tasks = we_store_task_list (store, q->job_id, error);
  if (tasks == NULL)
    return NULL;
  for (guint i = 0; i < tasks->len; i++) {
    if (g_strcmp0 (((WeTask *) g_ptr_array_index (tasks, i))->id, q->task_id) == 0) {
      g_set_error (error, WE_ERROR, WE_ERROR_JOB_NOT_FOUND,
                   "task %s recorded no pipeline (yet)", q->task_id);
      return NULL;
    }
  }
  g_set_error (error, WE_ERROR, WE_ERROR_JOB_NOT_FOUND, "job %s has no task %s", q->job_id,
               q->task_id);
  return NULL;
}

/* --- the pipeline document --- */

static JsonObject *
pipeline_document (const gchar *job_id, GPtrArray *pipelines)
{
  JsonObject *doc = json_object_new ();
  JsonArray *array = json_array_new ();
  WeTaskPipeline *first = g_ptr_array_index (pipelines, 0);

  json_object_set_string_member (doc, "job_id", job_id);
  json_object_set_string_member (doc, "task_id", first->task_id);
  json_object_set_int_member (doc, "attempt", first->attempt);
  for (guint i = 0; i < pipelines->len; i++) {
    WeTaskPipeline *p = g_ptr_array_index (pipelines, i);
    JsonObject *o = json_object_new ();
    g_autofree gchar *command = command_for (p->launch);
    g_autofree gchar *at = we_time_format (p->recorded_at);

    json_object_set_string_member (o, "stage", p->stage);
    json_object_set_string_member (o, "launch", p->launch);
    json_object_set_string_member (o, "command", command);
    json_object_set_boolean_member (o, "has_graph", p->dot != NULL && p->dot[0] != '\0');
    json_object_set_string_member (o, "recorded_at", at);
    json_array_add_object_element (array, o);
  }
  json_object_set_array_member (doc, "pipelines", array);
  return doc;
}

static void
pipeline_listed_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) pipelines = we_store_call_finish (WE_STORE (source), result, &error);
  const gchar *job_id = g_task_get_task_data (task);

  if (pipelines == NULL) {
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }
  g_task_return_pointer (task, pipeline_document (job_id, pipelines),
                         (GDestroyNotify) json_object_unref);
}

void
we_task_debug_pipeline_async (WeStore             *store,
                              const gchar         *job_id,
                              const gchar         *task_id,
                              GCancellable        *cancellable,
                              GAsyncReadyCallback  callback,
                              gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (WE_IS_STORE (store));
  g_return_if_fail (job_id != NULL);

  task = g_task_new (store, cancellable, callback, user_data);
  g_task_set_source_tag (task, we_task_debug_pipeline_async);
  g_task_set_task_data (task, g_strdup (job_id), g_free);
  we_store_call_async (store, pipelines_func, query_new (job_id, task_id),
                       (GDestroyNotify) query_free, (GDestroyNotify) g_ptr_array_unref,
                       cancellable, pipeline_listed_cb, g_steal_pointer (&task));
}

JsonObject *
we_task_debug_pipeline_finish (WeStore       *store,
                               GAsyncResult  *result,
                               GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, store), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

/* --- graphs --- */

typedef struct {
  gchar        *stage;        /* nullable: the first */
  gboolean      svg;
  GSubprocess  *dot;
  GCancellable *timeout;      /* cancelled when Graphviz overstays */
  guint         timeout_id;
  gboolean      timed_out;
} GraphData;

static void
graph_data_free (GraphData *d)
{
  g_clear_handle_id (&d->timeout_id, g_source_remove);
  g_free (d->stage);
  g_clear_object (&d->dot);
  g_clear_object (&d->timeout);
  g_free (d);
}

typedef struct {
  GBytes *bytes;
  gchar  *content_type;
} Graph;

static void
graph_free (Graph *g)
{
  g_bytes_unref (g->bytes);
  g_free (g->content_type);
  g_free (g);
}

static void
return_graph (GTask *task, GBytes *bytes, const gchar *content_type)
{
  Graph *g = g_new0 (Graph, 1);

  g->bytes = bytes;
  g->content_type = g_strdup (content_type);
  g_task_return_pointer (task, g, (GDestroyNotify) graph_free);
}

static gboolean
graphviz_timeout_cb (gpointer user_data)
{
  GraphData *d = user_data;

  d->timeout_id = 0;
  d->timed_out = TRUE;
  g_cancellable_cancel (d->timeout);
  if (d->dot != NULL)
    g_subprocess_force_exit (d->dot);
  return G_SOURCE_REMOVE;
}

static void
graphviz_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  GraphData *d = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) out = NULL;
  g_autoptr(GBytes) err = NULL;

  g_clear_handle_id (&d->timeout_id, g_source_remove);
  if (!g_subprocess_communicate_finish (G_SUBPROCESS (source), result, &out, &err, &error)) {
    if (d->timed_out)
      g_task_return_new_error (task, WE_ERROR, WE_ERROR_SYS_INTERNAL,
                               "Graphviz took longer than %d s", GRAPHVIZ_TIMEOUT_S);
    else
      g_task_return_new_error (task, WE_ERROR, WE_ERROR_SYS_INTERNAL, "running Graphviz: %s",
                               error->message);
    return;
  }
  if (!g_subprocess_get_if_exited (G_SUBPROCESS (source)) ||
      g_subprocess_get_exit_status (G_SUBPROCESS (source)) != 0 || out == NULL ||
      g_bytes_get_size (out) == 0) {
    g_autofree gchar *why = err != NULL
                                ? g_strndup (g_bytes_get_data (err, NULL),
                                             MIN (g_bytes_get_size (err), 512))
                                : NULL;

    g_task_return_new_error (task, WE_ERROR, WE_ERROR_SYS_INTERNAL,
                             "Graphviz could not render the graph: %s",
                             why != NULL ? g_strstrip (why) : "no output");
    return;
  }
  return_graph (task, g_steal_pointer (&out), "image/svg+xml");
}

static void
render_svg (GTask *task, const gchar *dot)
{
  GraphData *d = g_task_get_task_data (task);
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GBytes) input = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *program = g_find_program_in_path ("dot");

  if (program == NULL) {
    g_task_return_new_error (task, WE_ERROR, WE_ERROR_SYS_UNAVAILABLE,
                             "Graphviz (dot) is not installed: SVG graphs are unavailable, "
                             "ask for format=dot instead");
    return;
  }
  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDIN_PIPE |
                                        G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                        G_SUBPROCESS_FLAGS_STDERR_PIPE);
  /* the graph comes from a worker: Graphviz reads no image or shape file
   * it names (GV_FILE_PATH confines them to a directory that is not there) */
  g_subprocess_launcher_setenv (launcher, "GV_FILE_PATH", "/nonexistent/", TRUE);
  g_subprocess_launcher_setenv (launcher, "SERVER_NAME", "webencode", TRUE);
  d->dot = g_subprocess_launcher_spawn (launcher, &error, program, "-Tsvg", NULL);
  if (d->dot == NULL) {
    g_task_return_new_error (task, WE_ERROR, WE_ERROR_SYS_UNAVAILABLE, "starting Graphviz: %s",
                             error->message);
    return;
  }
  d->timeout = g_cancellable_new ();
  d->timeout_id = g_timeout_add_seconds (GRAPHVIZ_TIMEOUT_S, graphviz_timeout_cb, d);
  input = g_bytes_new (dot, strlen (dot));
  g_subprocess_communicate_async (d->dot, input, d->timeout, graphviz_done_cb,
                                  g_object_ref (task));
}

static void
graph_listed_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  GraphData *d = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) pipelines = we_store_call_finish (WE_STORE (source), result, &error);
  WeTaskPipeline *found = NULL;

  if (pipelines == NULL) {
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }
  for (guint i = 0; i < pipelines->len && found == NULL; i++) {
    WeTaskPipeline *p = g_ptr_array_index (pipelines, i);

    if (d->stage == NULL || g_strcmp0 (p->stage, d->stage) == 0)
      found = p;
  }
  if (found == NULL) {
    g_task_return_new_error (task, WE_ERROR, WE_ERROR_JOB_NOT_FOUND,
                             "task %s ran no pipeline of stage \"%s\"",
                             ((WeTaskPipeline *) g_ptr_array_index (pipelines, 0))->task_id,
                             d->stage);
    return;
  }
  if (found->dot == NULL || found->dot[0] == '\0') {
    g_task_return_new_error (task, WE_ERROR, WE_ERROR_JOB_NOT_FOUND,
                             "the worker recorded no graph of stage \"%s\"", found->stage);
    return;
  }
  if (!d->svg) {
    return_graph (task, g_bytes_new (found->dot, strlen (found->dot)), "text/vnd.graphviz");
    return;
  }
  render_svg (task, found->dot);
}

void
we_task_debug_graph_async (WeStore             *store,
                           const gchar         *job_id,
                           const gchar         *task_id,
                           const gchar         *stage,
                           const gchar         *format,
                           GCancellable        *cancellable,
                           GAsyncReadyCallback  callback,
                           gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  GraphData *d;

  g_return_if_fail (WE_IS_STORE (store));
  g_return_if_fail (job_id != NULL);

  task = g_task_new (store, cancellable, callback, user_data);
  g_task_set_source_tag (task, we_task_debug_graph_async);
  if (g_strcmp0 (format, "svg") != 0 && g_strcmp0 (format, "dot") != 0) {
    g_task_return_new_error (task, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                             "unknown graph format \"%s\" (use svg or dot)",
                             format != NULL ? format : "");
    return;
  }
  d = g_new0 (GraphData, 1);
  d->stage = stage != NULL && stage[0] != '\0' ? g_strdup (stage) : NULL;
  d->svg = g_str_equal (format, "svg");
  g_task_set_task_data (task, d, (GDestroyNotify) graph_data_free);
  we_store_call_async (store, pipelines_func, query_new (job_id, task_id),
                       (GDestroyNotify) query_free, (GDestroyNotify) g_ptr_array_unref,
                       cancellable, graph_listed_cb, g_steal_pointer (&task));
}

GBytes *
we_task_debug_graph_finish (WeStore       *store,
                            GAsyncResult  *result,
                            gchar        **content_type,
                            GError       **error)
{
  Graph *g;
  GBytes *bytes;

  g_return_val_if_fail (g_task_is_valid (result, store), NULL);
  g = g_task_propagate_pointer (G_TASK (result), error);
  if (content_type != NULL)
    *content_type = g != NULL ? g_strdup (g->content_type) : NULL;
  if (g == NULL)
    return NULL;
  bytes = g_bytes_ref (g->bytes);
  graph_free (g);
  return bytes;
}
