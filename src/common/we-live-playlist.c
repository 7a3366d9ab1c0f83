/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include "config.h"

#include <string.h>

#include "common/we-live-playlist.h"

gboolean
we_live_playlist_is_live (const gchar *uri)
{
  g_autofree gchar *path = g_filename_from_uri (uri, NULL, NULL);
  g_autofree gchar *text = NULL;

  if (path == NULL)
    return TRUE;
  if (!g_file_get_contents (path, &text, NULL, NULL))
    return FALSE;
  return strstr (text, "#EXT-X-ENDLIST") == NULL;
}
