/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Client frames of the dashboard WebSocket (docs/api.md "WebSocket"): a pure
 * parser, apart from the server so tests/fuzz/fuzz-ws-message.c can link it
 * alone.
 */
#pragma once

#include <webencode/webencode.h>

G_BEGIN_DECLS

/* Frames larger than this close the socket with 1009. */
#define WE_WS_MAX_MESSAGE (64 * 1024)
/* Tickets live this long (seconds). */
#define WE_WS_TICKET_TTL_S 30

typedef enum {
  WE_WS_MESSAGE_SUBSCRIBE,
  WE_WS_MESSAGE_UNSUBSCRIBE,
  WE_WS_MESSAGE_PING,
} WeWsMessageType;

typedef struct {
  WeWsMessageType type;
  gchar          *topic;  /* subscribe/unsubscribe only; not yet checked */
  gchar          *id;     /* (nullable) the client's correlation id */
} WeWsMessage;

void         we_ws_message_free  (WeWsMessage *message);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeWsMessage, we_ws_message_free)

/* Parses one client frame (pure: no I/O, no state). Anything but a JSON
 * object with a known "type", string "id"/"topic" of sane length is
 * WE_ERROR_JOB_INVALID_REQUEST: the caller closes the socket with 1008.
 * Returns: (transfer full) (nullable) */
WeWsMessage *we_ws_message_parse (const guint8 *data,
                                  gsize         size,
                                  GError      **error);

/* The RBAC action a subscription to @topic needs, with the id it names
 * (job:<id>, worker:<id>) in @object_id. Unknown topics are
 * WE_ERROR_JOB_INVALID_REQUEST (answered with an error frame).
 * Returns: (transfer none) (nullable) */
const gchar *we_ws_topic_action  (const gchar  *topic,
                                  const gchar **object_id,
                                  GError      **error);

G_END_DECLS
