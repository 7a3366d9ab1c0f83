/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Dashboard WebSocket frames come from any browser tab with a ticket: the
 * parser and the topic check must survive anything a client sends.
 */
#include <stdint.h>

#include "we-api-ws-message.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(WeWsMessage) message = we_ws_message_parse (data, size, &error);

  if (message == NULL) {
    g_assert (error != NULL && g_error_matches (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST));
    return 0;
  }
  g_assert (error == NULL);
  g_assert ((message->type == WE_WS_MESSAGE_PING) == (message->topic == NULL));
  if (message->topic != NULL) {
    g_autoptr(GError) topic_error = NULL;
    const gchar *object_id = NULL;
    const gchar *action = we_ws_topic_action (message->topic, &object_id, &topic_error);

    g_assert ((action == NULL) == (topic_error != NULL));
    g_assert (object_id == NULL || *object_id != '\0');
  }
  return 0;
}
