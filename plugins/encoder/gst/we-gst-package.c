/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include "we-gst-package.h"

#include <errno.h>
#include <string.h>
#include <glib/gstdio.h>
#include <webencode/we-error.h>

#include "we-gst-ladder.h"
#include "we-gst-subtitles.h"
#include "we-gst-thumbnails.h"

/* below the output directory, removed before the task ends: the ladder
 * copies what it needs from here into its own subtitle renditions */
#define SUBTITLE_SOURCE_DIR ".subtitle-sources"

typedef struct {
  WePackageKind         kind;
  gchar                *input_uri;
  gchar                *output_dir;
  WeProfile            *profile;
  WeGstOptions          options;
  guint8               *key;
  gchar                *key_uri;
  WeEncodeProgressFunc  progress;
  gpointer              progress_data;
  gchar                *task_id;
  WePipelineFunc        pipeline_func;
  gpointer              pipeline_data;
} Package;

static void
package_free (Package *p)
{
  g_free (p->input_uri);
  g_free (p->task_id);
  g_free (p->output_dir);
  g_clear_pointer (&p->profile, we_profile_unref);
  if (p->key != NULL)
    memset (p->key, 0, 16);
  g_free (p->key);
  g_free (p->key_uri);
  g_free (p);
}

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

static JsonObject *
outputs_object (JsonArray *outputs)
{
  JsonObject *o = json_object_new ();

  json_object_set_array_member (o, "outputs", outputs);
  return o;
}

static void
ladder_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  Package *p = g_task_get_task_data (task);
  g_autofree gchar *subs = g_build_filename (p->output_dir, SUBTITLE_SOURCE_DIR, NULL);
  g_autoptr(WeGstLadderResult) result = NULL;
  GError *error = NULL;

  result = we_gst_ladder_finish (res, &error);
  remove_tree (subs);
  if (result == NULL) {
    g_task_return_error (task, error);
    return;
  }
  g_task_return_pointer (task, we_gst_ladder_result_to_json (result),
                         (GDestroyNotify) json_object_unref);
}

static gboolean
wants_subtitle_renditions (const WeProfile *profile)
{
  /* burned-in text is in the picture; a rendition would show it twice */
  return g_strcmp0 (profile->subtitles.mode, "none") != 0 &&
         g_strcmp0 (profile->subtitles.mode, "burn") != 0 &&
         profile->hls.enabled | profile->dash.enabled;
}

static void
start_ladder (GTask *task, JsonArray *subtitle_files)
{
  Package *p = g_task_get_task_data (task);
  g_autoptr(GArray) subs = g_array_new (FALSE, TRUE, sizeof (WeGstLadderSubtitle));
  g_autoptr(GPtrArray) strings = g_ptr_array_new_with_free_func (g_free);
  WeGstLadderExtras extras = { 0 };
  guint n = subtitle_files != NULL ? json_array_get_length (subtitle_files) : 0;

  for (guint i = 0; i < n; i++) {
    JsonObject *f = json_array_get_object_element (subtitle_files, i);
    const gchar *path = json_object_get_string_member_with_default (f, "path", NULL);
    const gchar *language = json_object_get_string_member_with_default (f, "language", NULL);
    gint64 track = json_object_get_int_member_with_default (f, "track", i);
    WeGstLadderSubtitle s = { 0 };
    g_autofree gchar *raw = NULL;
    gchar *name, *full;

    if (path == NULL)
      continue;
    raw = language != NULL && *language != '\0'
              ? g_strdup_printf ("sub_%" G_GINT64_FORMAT "_%s", track, language)
              : g_strdup_printf ("sub_%" G_GINT64_FORMAT, track);
    /* rendition names are [a-z0-9_-]: a language tag like "pt-BR" is not */
    name = g_ascii_strdown (raw, -1);
    g_strcanon (name, "abcdefghijklmnopqrstuvwxyz0123456789_-", '_');
    full = g_build_filename (p->output_dir, SUBTITLE_SOURCE_DIR, path, NULL);
    g_ptr_array_add (strings, name);
    g_ptr_array_add (strings, full);
    s.name = name;
    s.language = language;
    s.vtt_path = full;
    g_array_append_val (subs, s);
  }
  extras.key = p->key;
  extras.key_uri = p->key_uri;
  extras.subtitles = (const WeGstLadderSubtitle *) (gpointer) subs->data;
  extras.n_subtitles = subs->len;
  extras.task_id = p->task_id;
  extras.pipeline_func = p->pipeline_func;
  extras.pipeline_data = p->pipeline_data;
  /* the extras are read before we_gst_ladder_async returns */
  we_gst_ladder_async (p->input_uri, p->profile, p->output_dir, &p->options, &extras,
                       p->progress, p->progress_data, g_task_get_cancellable (task), ladder_cb,
                       g_object_ref (task));
}

static void
ladder_subtitles_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  Package *p = g_task_get_task_data (task);
  g_autoptr(JsonArray) files = NULL;
  GError *error = NULL;

  files = we_gst_subtitles_extract_finish (res, &error);
  if (files == NULL) {
    g_autofree gchar *subs = g_build_filename (p->output_dir, SUBTITLE_SOURCE_DIR, NULL);
    remove_tree (subs);
    g_task_return_error (task, error);
    return;
  }
  start_ladder (task, files);
}

static void
thumbnails_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  GError *error = NULL;
  JsonArray *outputs = we_gst_thumbnails_finish (res, &error);

  if (outputs == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, outputs_object (outputs), (GDestroyNotify) json_object_unref);
}

static void
subtitles_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  GError *error = NULL;
  JsonArray *outputs = we_gst_subtitles_extract_finish (res, &error);

  if (outputs == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, outputs_object (outputs), (GDestroyNotify) json_object_unref);
}

void
we_gst_package_async (gpointer source_object, const WePackageRequest *request,
                      const WeGstOptions *options, WeEncodeProgressFunc progress,
                      gpointer progress_data, GCancellable *cancellable,
                      GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr(GTask) task = g_task_new (source_object, cancellable, callback, user_data);
  Package *p = g_new0 (Package, 1);
  static const gchar * const vtt_only[] = { "vtt", NULL };

  g_task_set_source_tag (task, we_gst_package_async);
  g_task_set_task_data (task, p, (GDestroyNotify) package_free);
  p->kind = request->kind;
  p->input_uri = g_strdup (request->input_uri);
  p->output_dir = g_strdup (request->output_dir);
  p->profile = we_profile_copy (request->profile);
  p->options = *options;
  p->progress = progress;
  p->progress_data = progress_data;
  if (request->key != NULL)
    p->key = g_memdup2 (request->key, 16);
  p->key_uri = g_strdup (request->key_uri);
  p->task_id = g_strdup (request->task_id);
  p->pipeline_func = request->pipeline_func;
  p->pipeline_data = request->pipeline_data;

  if (g_mkdir_with_parents (p->output_dir, 0700) != 0) {
    g_task_return_new_error (task, WE_ERROR, WE_ERROR_JOB_FAILED, "cannot create %s: %s",
                             p->output_dir, g_strerror (errno));
    return;
  }

  switch (p->kind) {
  case WE_PACKAGE_LADDER:
    if (g_strcmp0 (p->profile->hls.encryption, "aes-128") == 0 && p->key == NULL) {
      g_task_return_new_error (task, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                               "hls.encryption is aes-128 but the task carries no key");
      return;
    }
    if (wants_subtitle_renditions (p->profile)) {
      g_autofree gchar *subs = g_build_filename (p->output_dir, SUBTITLE_SOURCE_DIR, NULL);
      we_gst_subtitles_extract_task_async (p->input_uri, vtt_only, subs, p->task_id,
                                           p->pipeline_func, p->pipeline_data, cancellable,
                                           ladder_subtitles_cb, g_object_ref (task));
    } else {
      start_ladder (task, NULL);
    }
    break;
  case WE_PACKAGE_THUMBNAILS:
    we_gst_thumbnails_task_async (p->input_uri, &p->profile->thumbnails, p->output_dir,
                                  p->task_id, p->pipeline_func, p->pipeline_data, progress,
                                  progress_data, cancellable, thumbnails_cb,
                                  g_object_ref (task));
    break;
  case WE_PACKAGE_SUBTITLES:
    we_gst_subtitles_extract_task_async (p->input_uri,
                                         (const gchar * const *) p->profile->subtitles.formats,
                                         p->output_dir, p->task_id, p->pipeline_func,
                                         p->pipeline_data, cancellable, subtitles_cb,
                                         g_object_ref (task));
    break;
  default:
    g_task_return_new_error (task, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                             "unknown package kind %d", p->kind);
  }
}

JsonObject *
we_gst_package_finish (GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_async_result_is_tagged (result, we_gst_package_async), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}
