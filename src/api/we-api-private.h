/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Shared between the server core and handlers that run before the body.
 */
#pragma once

#include "we-api-request.h"

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
/* RBAC (spec §19.5) in one place. Errors: WE-AUTH-004. */
gboolean    we_api_check_role                 (const WeIdentity *identity,
                                               WeRole            required,
                                               GError          **error);

/* Per-message data an early handler may attach and a handler read. */
gpointer    we_api_message_get_upload         (SoupServerMessage *msg);
void        we_api_message_set_upload         (SoupServerMessage *msg,
                                               gpointer           upload,
                                               GDestroyNotify     destroy);
GCancellable *we_api_message_get_cancellable  (SoupServerMessage *msg);

G_END_DECLS
