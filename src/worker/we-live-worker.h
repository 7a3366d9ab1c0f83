/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * `webencode-worker --live`: the process that runs the live pillar (spec:
 * "ingest pipelines run in workers"), so that a crashing demuxer or a
 * hostile publisher costs the live streams and never the service. It speaks
 * the live messages of the worker protocol (common/we-worker-protocol.h) on
 * stdin/stdout with the kernel, which decides every publish attempt.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* Runs until the kernel sends shutdown or closes stdin; the exit status. */
int we_live_worker_run (void);
/* The same on given streams: in cluster mode (`--live --nats URL`) they are
 * the pipes of queue/we-live-nats.h, which carry the lines over NATS. */
int we_live_worker_run_streams (GInputStream  *in,
                                GOutputStream *out);

G_END_DECLS
