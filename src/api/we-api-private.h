/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Shared between the server core and handlers that run before the body.
 */
#pragma once

#include "we-api-request.h"
#include "we-login-limiter.h"

G_BEGIN_DECLS

#define WE_API_MAX_JSON_BODY (1024 * 1024)

/* Authenticates the caller of @msg through the auth pillar, in a thread.
 * Errors: WE-AUTH-001/002/005. */
void        we_api_server_authenticate_async  (WeApiServer         *self,
                                               SoupServerMessage   *msg,
                                               GCancellable        *cancellable,
                                               GAsyncReadyCallback  callback,
                                               gpointer             user_data);
/* Returns: (transfer full) (nullable) */
WeIdentity *we_api_server_authenticate_finish (WeApiServer  *self,
                                               GAsyncResult *result,
                                               GError      **error);
/* The route table. Returns: (transfer none) (array length=n_routes) */
const WeApiRoute *we_api_server_get_routes    (guint *n_routes);

/* Records @request in the audit log when its route changes state (any
 * method but GET/HEAD), as it is answered; see we-api-audit.c. */
void        we_api_audit_request              (WeApiRequest *request);
/* The failed-login limiter of the server (main loop only). */
struct _WeLoginLimiter *we_api_server_get_login_limiter (WeApiServer *self);

/* Per-message data an early handler may attach and a handler read. */
gpointer    we_api_message_get_upload         (SoupServerMessage *msg);
void        we_api_message_set_upload         (SoupServerMessage *msg,
                                               gpointer           upload,
                                               GDestroyNotify     destroy);
GCancellable *we_api_message_get_cancellable  (SoupServerMessage *msg);

G_END_DECLS
