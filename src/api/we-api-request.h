/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * One API request in flight. The server creates it, pauses the message,
 * authenticates, checks the role and hands it to a route handler; the handler
 * ends it with exactly one respond call (which unpauses and frees it), from
 * any later main-loop callback.
 */
#pragma once

#include <libsoup/soup.h>
#include <webencode/webencode.h>

#include "we-api-server.h"

G_BEGIN_DECLS

typedef struct _WeApiRequest WeApiRequest;
typedef void (*WeApiHandler) (WeApiRequest *request);

typedef struct {
  const gchar  *method;
  const gchar  *pattern;   /* "/v1/jobs/{}/cancel": {} captures one segment;
                            * {**} (once per pattern) one or more, as "a/b" */
  const gchar  *action;    /* the RBAC/audit action, see core/we-rbac.c */
  WeApiHandler  handler;
} WeApiRoute;

struct _WeApiRequest {
  WeApiServer       *server;
  SoupServerMessage *msg;
  gchar             *request_id;
  const WeApiRoute  *route;
  gchar            **params;       /* captured path segments, unescaped */
  GHashTable        *query;        /* (nullable) decoded query */
  WeIdentity        *identity;     /* (nullable) */
  GBytes            *body;         /* (nullable) request body, size-limited */
  GCancellable      *cancellable;  /* cancelled when the client goes away */
  /* for the audit log: what a create made (taken from the response's "id"
   * unless a handler sets it) and the error code it ended with */
  gchar             *audit_resource_id;
  gchar             *audit_error_code;
};

const WeApiContext *we_api_request_context  (WeApiRequest *request);
const gchar        *we_api_request_param    (WeApiRequest *request,
                                             guint         index);
const gchar        *we_api_request_query    (WeApiRequest *request,
                                             const gchar  *name);
/* The body as a JSON object; errors are WE_ERROR_JOB_INVALID_REQUEST.
 * Returns: (transfer full) (nullable) */
JsonObject         *we_api_request_parse_json_object (WeApiRequest *request,
                                                      GError      **error);

void we_api_request_respond_json   (WeApiRequest *request,
                                    guint         status,
                                    JsonNode     *node);
/* takes ownership of @object */
void we_api_request_respond_object (WeApiRequest *request,
                                    guint         status,
                                    JsonObject   *object);
void we_api_request_respond_array  (WeApiRequest *request,
                                    guint         status,
                                    JsonArray    *array);
void we_api_request_respond_empty  (WeApiRequest *request,
                                    guint         status);
void we_api_request_respond_error  (WeApiRequest *request,
                                    const GError *error);
/* For handlers that stream their own response: ends our bookkeeping but
 * leaves the message paused and alive for the caller, who unpauses it.
 * Returns: (transfer full) the message */
SoupServerMessage *we_api_request_steal_message (WeApiRequest *request);

/* The §11 envelope for @error. Returns: (transfer full) */
JsonNode *we_api_error_envelope (const GError *error,
                                 const gchar  *request_id);
/* Writes the envelope into @msg's response directly (for early handlers). */
void      we_api_message_set_error (SoupServerMessage *msg,
                                    const GError      *error,
                                    const gchar       *request_id);

/* The request id of @msg, assigned when its headers arrived. */
const gchar *we_api_message_get_request_id (SoupServerMessage *msg);

void we_api_request_free (WeApiRequest *request);

G_END_DECLS
