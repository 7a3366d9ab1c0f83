/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * htpasswd files are edited by hand and by tools we don't control; whatever
 * they hold, the parser returns only entries with a checkable hash and never
 * crashes, reads past the end or leaks.
 */
#include <stdint.h>
#include <string.h>

#include "we-htpasswd.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr(GPtrArray) entries = we_htpasswd_parse ((const gchar *) data, size, NULL, NULL);

  for (guint i = 0; i < entries->len; i++) {
    WeHtpasswdEntry *e = g_ptr_array_index (entries, i);

    g_assert (e->username[0] != '\0' && strchr (e->username, ':') == NULL);
    g_assert (strlen (e->username) <= WE_HTPASSWD_MAX_USERNAME);
    g_assert (we_htpasswd_hash_is_supported (e->hash));
  }
  return 0;
}
