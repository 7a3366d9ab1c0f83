/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "we-cli-backend.h"

#include <glib/gi18n.h>

G_DEFINE_INTERFACE (WeCliBackend, we_cli_backend, G_TYPE_OBJECT)

static void
we_cli_backend_default_init (WeCliBackendInterface *iface)
{
}

gchar *
we_cli_backend_describe (WeCliBackend *self)
{
  g_return_val_if_fail (WE_IS_CLI_BACKEND (self), NULL);
  return WE_CLI_BACKEND_GET_IFACE (self)->describe (self);
}

void
we_cli_backend_call_async (WeCliBackend *self, WeCliOp op, const gchar *const *args,
                           JsonNode *params, GCancellable *cancellable,
                           GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail (WE_IS_CLI_BACKEND (self));
  WE_CLI_BACKEND_GET_IFACE (self)->call_async (self, op, args, params, cancellable, callback,
                                               user_data);
}

JsonNode *
we_cli_backend_call_finish (WeCliBackend *self, GAsyncResult *res, GBytes **raw,
                            GError **error)
{
  g_return_val_if_fail (WE_IS_CLI_BACKEND (self), NULL);
  return WE_CLI_BACKEND_GET_IFACE (self)->call_finish (self, res, raw, error);
}

void
we_cli_backend_fetch_async (WeCliBackend *self, WeCliFetch what, const gchar *const *args,
                            GCancellable *cancellable, GAsyncReadyCallback callback,
                            gpointer user_data)
{
  g_return_if_fail (WE_IS_CLI_BACKEND (self));
  WE_CLI_BACKEND_GET_IFACE (self)->fetch_async (self, what, args, cancellable, callback,
                                                user_data);
}

GBytes *
we_cli_backend_fetch_finish (WeCliBackend *self, GAsyncResult *res, gchar **content_type,
                             GError **error)
{
  g_return_val_if_fail (WE_IS_CLI_BACKEND (self), NULL);
  return WE_CLI_BACKEND_GET_IFACE (self)->fetch_finish (self, res, content_type, error);
}

void
we_cli_backend_upload_async (WeCliBackend *self, GFile *file, WeCliTransferFunc progress,
                             gpointer progress_data, GCancellable *cancellable,
                             GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail (WE_IS_CLI_BACKEND (self));
  WE_CLI_BACKEND_GET_IFACE (self)->upload_async (self, file, progress, progress_data,
                                                 cancellable, callback, user_data);
}

JsonNode *
we_cli_backend_upload_finish (WeCliBackend *self, GAsyncResult *res, GError **error)
{
  g_return_val_if_fail (WE_IS_CLI_BACKEND (self), NULL);
  return WE_CLI_BACKEND_GET_IFACE (self)->upload_finish (self, res, error);
}

void
we_cli_backend_download_async (WeCliBackend *self, const gchar *job_id, JsonObject *output,
                               GFile *dest, WeCliTransferFunc progress, gpointer progress_data,
                               GCancellable *cancellable, GAsyncReadyCallback callback,
                               gpointer user_data)
{
  g_return_if_fail (WE_IS_CLI_BACKEND (self));
  WE_CLI_BACKEND_GET_IFACE (self)->download_async (self, job_id, output, dest, progress,
                                                   progress_data, cancellable, callback,
                                                   user_data);
}

gint64
we_cli_backend_download_finish (WeCliBackend *self, GAsyncResult *res, GError **error)
{
  g_return_val_if_fail (WE_IS_CLI_BACKEND (self), -1);
  return WE_CLI_BACKEND_GET_IFACE (self)->download_finish (self, res, error);
}

void
we_cli_backend_watch_async (WeCliBackend *self, const gchar *job_id, WeCliJobFunc update,
                            gpointer update_data, GCancellable *cancellable,
                            GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail (WE_IS_CLI_BACKEND (self));
  WE_CLI_BACKEND_GET_IFACE (self)->watch_async (self, job_id, update, update_data, cancellable,
                                                callback, user_data);
}

JsonNode *
we_cli_backend_watch_finish (WeCliBackend *self, GAsyncResult *res, GBytes **raw,
                             GError **error)
{
  g_return_val_if_fail (WE_IS_CLI_BACKEND (self), NULL);
  return WE_CLI_BACKEND_GET_IFACE (self)->watch_finish (self, res, raw, error);
}

/* ---- helpers ------------------------------------------------------------ */

gboolean
we_cli_job_status_is_final (const gchar *status)
{
  return g_strcmp0 (status, "completed") == 0 || g_strcmp0 (status, "failed") == 0 ||
         g_strcmp0 (status, "cancelled") == 0;
}

typedef struct {
  JsonNode *node;
  GBytes   *raw;
} JsonResult;

static void
json_result_free (JsonResult *r)
{
  g_clear_pointer (&r->node, json_node_unref);
  g_clear_pointer (&r->raw, g_bytes_unref);
  g_free (r);
}

void
we_cli_task_return_json (GTask *task, JsonNode *node, GBytes *raw)
{
  JsonResult *r = g_new0 (JsonResult, 1);

  r->node = node;
  r->raw = raw != NULL ? g_bytes_ref (raw) : NULL;
  g_task_return_pointer (task, r, (GDestroyNotify) json_result_free);
}

JsonNode *
we_cli_task_propagate_json (GTask *task, GBytes **raw, GError **error)
{
  JsonResult *r = g_task_propagate_pointer (task, error);
  JsonNode *node;

  if (r == NULL)
    return NULL;
  node = g_steal_pointer (&r->node);
  if (raw != NULL)
    *raw = g_steal_pointer (&r->raw);
  json_result_free (r);
  return node;
}

/* ---- saving a stream ---------------------------------------------------- */

typedef struct {
  GInputStream      *in;
  GOutputStream     *out;
  GFile             *dest;
  GFile             *part;
  guint64            total;
  gint64             written;
  guint              timer_id;
  WeCliTransferFunc  progress;
  gpointer           progress_data;
} SaveData;

static void
save_data_free (SaveData *d)
{
  g_clear_handle_id (&d->timer_id, g_source_remove);
  g_clear_object (&d->in);
  g_clear_object (&d->out);
  g_clear_object (&d->dest);
  g_clear_object (&d->part);
  g_free (d);
}

/* Leaves no half-written file behind; whatever deleting says is not news. */
static void
save_fail (GTask *task, GError *error)
{
  SaveData *d = g_task_get_task_data (task);

  g_clear_handle_id (&d->timer_id, g_source_remove);
  g_file_delete (d->part, NULL, NULL);
  g_task_return_error (task, error);
}

static gboolean
save_tick_cb (gpointer user_data)
{
  SaveData *d = user_data;
  goffset pos = g_seekable_tell (G_SEEKABLE (d->out));

  if (pos >= 0)
    d->progress ((guint64) pos, d->total, d->progress_data);
  return G_SOURCE_CONTINUE;
}

static void
save_moved_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(GTask) task = G_TASK (user_data);
  SaveData *d = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;

  if (!g_file_move_finish (G_FILE (source), res, &error)) {
    save_fail (task, g_error_new (WE_CLI_ERROR, WE_CLI_ERROR_LOCAL, "%s", error->message));
    return;
  }
  g_task_return_int (task, d->written);
}

static void
save_spliced_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(GTask) task = G_TASK (user_data);
  /* read before the task is handed on: arguments are evaluated in any order */
  GCancellable *cancellable = g_task_get_cancellable (task);
  SaveData *d = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  gssize written;

  g_clear_handle_id (&d->timer_id, g_source_remove);
  written = g_output_stream_splice_finish (G_OUTPUT_STREAM (source), res, &error);
  if (written < 0) {
    save_fail (task, g_steal_pointer (&error));
    return;
  }
  if (d->total > 0 && (guint64) written != d->total) {
    save_fail (task, g_error_new (WE_CLI_ERROR, WE_CLI_ERROR_PROTOCOL,
                                  _("download truncated: %" G_GSSIZE_FORMAT " of %"
                                    G_GUINT64_FORMAT " bytes"), written, d->total));
    return;
  }
  d->written = written;
  if (d->progress != NULL)
    d->progress ((guint64) written, d->total, d->progress_data);
  g_file_move_async (d->part, d->dest, G_FILE_COPY_OVERWRITE, G_PRIORITY_DEFAULT, cancellable,
                     NULL, NULL, save_moved_cb, g_steal_pointer (&task));
}

static void
save_created_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(GTask) task = G_TASK (user_data);
  GCancellable *cancellable = g_task_get_cancellable (task);
  SaveData *d = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  GFileOutputStream *out;

  out = g_file_replace_finish (G_FILE (source), res, &error);
  if (out == NULL) {
    g_task_return_new_error (task, WE_CLI_ERROR, WE_CLI_ERROR_LOCAL, "%s", error->message);
    return;
  }
  d->out = G_OUTPUT_STREAM (out);
  if (d->progress != NULL)
    d->timer_id = g_timeout_add (250, save_tick_cb, d);
  g_output_stream_splice_async (d->out, d->in,
                                G_OUTPUT_STREAM_SPLICE_CLOSE_SOURCE |
                                G_OUTPUT_STREAM_SPLICE_CLOSE_TARGET,
                                G_PRIORITY_DEFAULT, cancellable, save_spliced_cb,
                                g_steal_pointer (&task));
}

void
we_cli_save_stream_async (GInputStream *in, GFile *dest, guint64 total,
                          WeCliTransferFunc progress, gpointer progress_data,
                          GCancellable *cancellable, GAsyncReadyCallback callback,
                          gpointer user_data)
{
  g_autoptr(GTask) task = g_task_new (NULL, cancellable, callback, user_data);
  g_autofree gchar *dest_path = g_file_get_path (dest);
  g_autofree gchar *part_path = g_strconcat (dest_path, ".part", NULL);
  SaveData *d = g_new0 (SaveData, 1);

  g_task_set_source_tag (task, we_cli_save_stream_async);
  d->in = g_object_ref (in);
  d->dest = g_object_ref (dest);
  d->part = g_file_new_for_path (part_path);
  d->total = total;
  d->progress = progress;
  d->progress_data = progress_data;
  g_task_set_task_data (task, d, (GDestroyNotify) save_data_free);
  g_file_replace_async (d->part, NULL, FALSE, G_FILE_CREATE_REPLACE_DESTINATION,
                        G_PRIORITY_DEFAULT, cancellable, save_created_cb,
                        g_steal_pointer (&task));
}

gint64
we_cli_save_stream_finish (GAsyncResult *res, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (res, NULL), -1);
  return g_task_propagate_int (G_TASK (res), error);
}
