/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The upload parser sees raw bytes from the network. Input layout: the first
 * line is the Content-Type header value, the rest is the body, fed in chunks
 * whose sizes come from the body itself so boundaries land mid-chunk.
 */
#include <glib.h>
#include <stdint.h>
#include <string.h>

#include "we-multipart.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static gboolean
on_begin (const gchar *name, const gchar *filename, const gchar *content_type, gpointer user_data)
{
  g_assert (name != NULL);
  return TRUE;
}

static gboolean
on_data (const guint8 *data, gsize length, gpointer user_data)
{
  gsize *total = user_data;
  *total += length;
  return TRUE;
}

static gboolean
on_end (gpointer user_data)
{
  return TRUE;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const uint8_t *nl = memchr (data, '\n', size);
  g_autofree gchar *content_type = NULL;
  g_autoptr(WeMultipart) mp = NULL;
  WeMultipartCallbacks cb = { on_begin, on_data, on_end };
  gsize total = 0;
  gsize off;

  if (nl == NULL)
    return 0;
  content_type = g_strndup ((const gchar *) data, nl - data);
  mp = we_multipart_new (content_type, &cb, &total, NULL);
  if (mp == NULL)
    return 0;
  off = (nl - data) + 1;
  while (off < size) {
    gsize chunk = 1 + (data[off] % 97);
    g_autoptr(GError) error = NULL;
    if (chunk > size - off)
      chunk = size - off;
    if (!we_multipart_feed (mp, data + off, chunk, &error))
      break;
    off += chunk;
  }
  g_assert (total <= size);
  return 0;
}
