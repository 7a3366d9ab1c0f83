/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * `webencode-worker --live`: the process that runs the live pillar (spec:
 * "ingest pipelines run in workers"), so that a crashing demuxer or a
 * hostile publisher costs the live streams and never the service. It speaks
 * the live messages of the worker protocol (common/we-worker-protocol.h) on
 * stdin/stdout with the kernel, which decides every publish attempt.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Runs until the kernel sends shutdown or closes stdin; the exit status. */
int we_live_worker_run (void);

G_END_DECLS
