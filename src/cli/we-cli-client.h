/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The CLI's REST client: one SoupSession, every call asynchronous on the
 * thread-default main context, error envelopes turned into GErrors.
 */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

#define WE_CLI_ERROR (we_cli_error_quark ())

/* The CLI's exit status follows the error code, see webencode.c. */
typedef enum {
  WE_CLI_ERROR_USAGE,    /* bad command line */
  WE_CLI_ERROR_CONNECT,  /* the service could not be reached at all */
  WE_CLI_ERROR_API,      /* the service answered with an error envelope */
  WE_CLI_ERROR_PROTOCOL, /* the service answered something we cannot read */
  WE_CLI_ERROR_LOCAL,    /* a local file could not be read or written */
} WeCliErrorCode;

GQuark we_cli_error_quark (void);

#define WE_TYPE_CLI_CLIENT (we_cli_client_get_type ())
G_DECLARE_FINAL_TYPE (WeCliClient, we_cli_client, WE, CLI_CLIENT, GObject)

/* @base_url: e.g. "http://127.0.0.1:8080" (a path prefix is kept, for proxies)
 * @user, @password: (nullable): sent as HTTP Basic when @user is set */
WeCliClient *we_cli_client_new        (const gchar  *base_url,
                                       const gchar  *user,
                                       const gchar  *password,
                                       GError      **error);
const gchar *we_cli_client_get_base_url (WeCliClient *self);

/* @path: starts with '/', already escaped, may carry a query
 * @body: (nullable): a JSON request body
 * The result is the parsed response: a JSON_NODE_NULL node for an empty body;
 * @raw: (out) (optional): the body as the service sent it */
void         we_cli_client_request_async  (WeCliClient         *self,
                                           const gchar         *method,
                                           const gchar         *path,
                                           JsonNode            *body,
                                           GCancellable        *cancellable,
                                           GAsyncReadyCallback  callback,
                                           gpointer             user_data);
JsonNode    *we_cli_client_request_finish (WeCliClient   *self,
                                           GAsyncResult  *res,
                                           GBytes       **raw,
                                           GError       **error);

/* GETs @path and returns its body as it is (an SVG, a log), for bodies
 * that are not JSON; errors as for a request.
 * @content_type: (out) (optional) (transfer full) */
void         we_cli_client_fetch_async    (WeCliClient         *self,
                                           const gchar         *path,
                                           GCancellable        *cancellable,
                                           GAsyncReadyCallback  callback,
                                           gpointer             user_data);
GBytes      *we_cli_client_fetch_finish   (WeCliClient   *self,
                                           GAsyncResult  *res,
                                           gchar        **content_type,
                                           GError       **error);

/* Called as bytes leave or arrive; @total is 0 when unknown. */
typedef void (*WeCliTransferFunc) (guint64  done,
                                   guint64  total,
                                   gpointer user_data);

/* Streams @file to POST /v1/files/upload as a raw body; the result is the
 * upload's JSON ({"url", "object_key", …}). */
void         we_cli_client_upload_async   (WeCliClient         *self,
                                           GFile               *file,
                                           WeCliTransferFunc    progress,
                                           gpointer             progress_data,
                                           GCancellable        *cancellable,
                                           GAsyncReadyCallback  callback,
                                           gpointer             user_data);
JsonNode    *we_cli_client_upload_finish  (WeCliClient   *self,
                                           GAsyncResult  *res,
                                           GError       **error);

/* GETs @path and splices the body into @dest (replaced only on success). */
void         we_cli_client_download_async  (WeCliClient         *self,
                                            const gchar         *path,
                                            GFile               *dest,
                                            WeCliTransferFunc    progress,
                                            gpointer             progress_data,
                                            GCancellable        *cancellable,
                                            GAsyncReadyCallback  callback,
                                            gpointer             user_data);
/* Returns: the number of bytes written, or -1 with @error set */
gint64       we_cli_client_download_finish (WeCliClient   *self,
                                            GAsyncResult  *res,
                                            GError       **error);

G_END_DECLS
