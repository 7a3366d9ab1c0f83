/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * `webencode-worker --restream`: one restream's pipeline (issue 11), in a
 * process of its own so that a crashing demuxer costs that restream and
 * never the service. The restream manager (src/core/we-restream.c) speaks
 * JSON lines with it: a "start" with the inputs and destinations, then
 * "dest_add", "dest_enable", "dest_remove" and "stop"; it answers with
 * "state", "stats" (per destination, once a second), "error" and
 * "finished" (see we-restream-worker.c).
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Runs until "stop", the end of stdin or of a playlist that does not loop;
 * the exit status. */
int we_restream_worker_run (void);

G_END_DECLS
