/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * What a worker can do, for its hello (docs/api.md "Workers"): the codecs of
 * its healthy encoder plugins, the hardware encoders the GStreamer registry
 * holds, and the machine it runs on.
 */
#pragma once

#include <json-glib/json-glib.h>

#include "plugin/we-plugin-host.h"

G_BEGIN_DECLS

/* @host: (nullable): the worker's plugins; NULL reports no codecs.
 * @max_parallel_tasks: how many tasks the worker runs at once.
 *
 * Members: video_codecs, audio_codecs (arrays of strings), hw_encoders
 * (array of {"element","codec","gpu_type"}), gpu_accelerated, gpu_type
 * (nullable), cores, memory_bytes, hostname, ip_address (nullable),
 * max_parallel_tasks.
 *
 * Returns: (transfer full) */
JsonObject *we_worker_caps_collect (WePluginHost *host,
                                    guint         max_parallel_tasks);

/* The hardware video encoders among the registry's element factories, one
 * {"element","codec","gpu_type"} each; initialises GStreamer if nobody did.
 * Returns: (transfer full) */
JsonArray  *we_worker_caps_hw_encoders (void);

/* MemTotal of /proc/meminfo, or physical pages × page size; 0 if unknown. */
guint64     we_worker_caps_memory_bytes (void);

/* The first address of an interface that is up and not loopback: IPv4 if
 * any, else a global IPv6. Returns: (transfer full) (nullable) */
gchar      *we_worker_caps_ip_address (void);

G_END_DECLS
