/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Worker protocol lines cross a process boundary from code that handles
 * untrusted media; the kernel must survive anything a broken worker writes.
 */
#include <stdint.h>

#include "common/we-worker-protocol.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) msg = we_worker_msg_parse ((const gchar *) data, size, &error);

  if (msg != NULL) {
    g_autofree gchar *line = we_worker_msg_serialize (msg);
    g_assert (line != NULL && *we_worker_msg_type (msg) != '\0');
  } else {
    g_assert (error != NULL);
  }
  return 0;
}
