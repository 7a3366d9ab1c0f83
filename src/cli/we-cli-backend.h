/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The CLI's transport seam: every command asks a WeCliBackend for an
 * operation and gets back the JSON the REST API would have answered, so the
 * commands and their output do not know whether REST (we-cli-rest.c) or the
 * D-Bus API (we-cli-dbus.c) carried them.
 */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "we-cli-client.h"

G_BEGIN_DECLS

/* The operations; ARGS are the strings passed in @args, in order. */
typedef enum {
  WE_CLI_OP_HEALTH,    /* → GET /health */
  WE_CLI_OP_PROFILES,  /* → GET /v1/profiles */
  WE_CLI_OP_PROFILE,   /* ARGS: profile id → GET /v1/profiles/{id} */
  WE_CLI_OP_JOBS,      /* @params: {"status", "limit", "offset"} → GET /v1/jobs */
  WE_CLI_OP_JOB,       /* ARGS: job → GET /v1/jobs/{id} */
  WE_CLI_OP_SUBMIT,    /* @params: the POST /v1/jobs body → the new job */
  WE_CLI_OP_CANCEL,    /* ARGS: job → the cancelled job */
  WE_CLI_OP_RETRY,     /* ARGS: job → the new job */
  WE_CLI_OP_DELETE,    /* ARGS: job → null */
  WE_CLI_OP_OUTPUTS,   /* ARGS: job → GET /v1/jobs/{id}/outputs */
  WE_CLI_OP_PIPELINE,  /* ARGS: job, task or "" for the first one with a pipeline */
} WeCliOp;

/* Byte-valued operations (not JSON). */
typedef enum {
  WE_CLI_FETCH_GRAPH,  /* ARGS: job, task, stage ("" for the first), format */
  WE_CLI_FETCH_LOGS,   /* ARGS: job, task */
} WeCliFetch;

/* Called with each state of a watched job, as GET /v1/jobs/{id} shows it. */
typedef void (*WeCliJobFunc) (JsonObject *job,
                              gpointer    user_data);

#define WE_TYPE_CLI_BACKEND (we_cli_backend_get_type ())
G_DECLARE_INTERFACE (WeCliBackend, we_cli_backend, WE, CLI_BACKEND, GObject)

struct _WeCliBackendInterface {
  GTypeInterface parent_iface;

  gchar    *(*describe)        (WeCliBackend *self);
  void      (*call_async)      (WeCliBackend *self, WeCliOp op, const gchar *const *args,
                                JsonNode *params, GCancellable *cancellable,
                                GAsyncReadyCallback callback, gpointer user_data);
  JsonNode *(*call_finish)     (WeCliBackend *self, GAsyncResult *res, GBytes **raw,
                                GError **error);
  void      (*fetch_async)     (WeCliBackend *self, WeCliFetch what, const gchar *const *args,
                                GCancellable *cancellable, GAsyncReadyCallback callback,
                                gpointer user_data);
  GBytes   *(*fetch_finish)    (WeCliBackend *self, GAsyncResult *res, gchar **content_type,
                                GError **error);
  void      (*upload_async)    (WeCliBackend *self, GFile *file, WeCliTransferFunc progress,
                                gpointer progress_data, GCancellable *cancellable,
                                GAsyncReadyCallback callback, gpointer user_data);
  JsonNode *(*upload_finish)   (WeCliBackend *self, GAsyncResult *res, GError **error);
  void      (*download_async)  (WeCliBackend *self, const gchar *job_id, JsonObject *output,
                                GFile *dest, WeCliTransferFunc progress, gpointer progress_data,
                                GCancellable *cancellable, GAsyncReadyCallback callback,
                                gpointer user_data);
  gint64    (*download_finish) (WeCliBackend *self, GAsyncResult *res, GError **error);
  void      (*watch_async)     (WeCliBackend *self, const gchar *job_id, WeCliJobFunc update,
                                gpointer update_data, GCancellable *cancellable,
                                GAsyncReadyCallback callback, gpointer user_data);
  JsonNode *(*watch_finish)    (WeCliBackend *self, GAsyncResult *res, GBytes **raw,
                                GError **error);
};

/* Where the commands go, for `health` and messages: a URL or a bus. */
gchar    *we_cli_backend_describe        (WeCliBackend *self);

/* @args: (nullable): NULL-terminated, as the operation lists them
 * @params: (nullable): the operation's JSON input
 * Returns: the REST API's JSON for it, a JSON_NODE_NULL node for none;
 * @raw: (out) (optional): that JSON as text, for --json */
void      we_cli_backend_call_async      (WeCliBackend        *self,
                                          WeCliOp              op,
                                          const gchar *const  *args,
                                          JsonNode            *params,
                                          GCancellable        *cancellable,
                                          GAsyncReadyCallback  callback,
                                          gpointer             user_data);
JsonNode *we_cli_backend_call_finish     (WeCliBackend  *self,
                                          GAsyncResult  *res,
                                          GBytes       **raw,
                                          GError       **error);

void      we_cli_backend_fetch_async     (WeCliBackend        *self,
                                          WeCliFetch           what,
                                          const gchar *const  *args,
                                          GCancellable        *cancellable,
                                          GAsyncReadyCallback  callback,
                                          gpointer             user_data);
/* @content_type: (out) (optional) (transfer full) */
GBytes   *we_cli_backend_fetch_finish    (WeCliBackend  *self,
                                          GAsyncResult  *res,
                                          gchar        **content_type,
                                          GError       **error);

/* Sends a local file to the service; the result is what POST
 * /v1/files/upload answers ({"url", "object_key", …}). */
void      we_cli_backend_upload_async    (WeCliBackend        *self,
                                          GFile               *file,
                                          WeCliTransferFunc    progress,
                                          gpointer             progress_data,
                                          GCancellable        *cancellable,
                                          GAsyncReadyCallback  callback,
                                          gpointer             user_data);
JsonNode *we_cli_backend_upload_finish   (WeCliBackend  *self,
                                          GAsyncResult  *res,
                                          GError       **error);

/* Saves @output (an item of the outputs listing) of @job_id as @dest,
 * replacing it only when complete. Returns: bytes written, or -1. */
void      we_cli_backend_download_async  (WeCliBackend        *self,
                                          const gchar         *job_id,
                                          JsonObject          *output,
                                          GFile               *dest,
                                          WeCliTransferFunc    progress,
                                          gpointer             progress_data,
                                          GCancellable        *cancellable,
                                          GAsyncReadyCallback  callback,
                                          gpointer             user_data);
gint64    we_cli_backend_download_finish (WeCliBackend  *self,
                                          GAsyncResult  *res,
                                          GError       **error);

/* Follows @job_id until it is completed, failed or cancelled, calling
 * @update with each state seen; the result is the final job. */
void      we_cli_backend_watch_async     (WeCliBackend        *self,
                                          const gchar         *job_id,
                                          WeCliJobFunc         update,
                                          gpointer             update_data,
                                          GCancellable        *cancellable,
                                          GAsyncReadyCallback  callback,
                                          gpointer             user_data);
JsonNode *we_cli_backend_watch_finish    (WeCliBackend  *self,
                                          GAsyncResult  *res,
                                          GBytes       **raw,
                                          GError       **error);

/* ---- helpers shared by the implementations ---- */

gboolean  we_cli_job_status_is_final     (const gchar *status);

/* What a JSON-valued task returns: the node and its text. */
void      we_cli_task_return_json        (GTask    *task,
                                          JsonNode *node,
                                          GBytes   *raw);
JsonNode *we_cli_task_propagate_json     (GTask    *task,
                                          GBytes  **raw,
                                          GError  **error);

/* Splices @in into @dest through "<dest>.part", renamed over @dest when
 * complete, reporting progress every 250 ms; @total: 0 when unknown, else
 * the size the copy must reach. Returns the bytes written as the task's int. */
void      we_cli_save_stream_async       (GInputStream        *in,
                                          GFile               *dest,
                                          guint64              total,
                                          WeCliTransferFunc    progress,
                                          gpointer             progress_data,
                                          GCancellable        *cancellable,
                                          GAsyncReadyCallback  callback,
                                          gpointer             user_data);
gint64    we_cli_save_stream_finish      (GAsyncResult  *res,
                                          GError       **error);

G_END_DECLS
