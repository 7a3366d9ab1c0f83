/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Whether a live stream's HLS playlist is live: read by the restream
 * manager before it starts a worker for a stream input and by the worker
 * itself. After a stream ends its playlist stays on disk with
 * EXT-X-ENDLIST until the next publish rewrites it; played, it would send
 * the ended session's last window to the destinations again.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* @uri: a file:// URI of the playlist; TRUE for any other URI (the demuxer
 * decides). Blocks on the file system: not on a main loop. */
gboolean we_live_playlist_is_live (const gchar *uri);

G_END_DECLS
