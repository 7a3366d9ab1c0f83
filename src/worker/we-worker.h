/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The executor side of the worker protocol (common/we-worker-protocol.h):
 * takes kernel messages, runs one media task at a time through the storage
 * and encoder pillars, and sends its reports in order. The transport is a
 * seam: stdin/stdout lines (we_worker_new(), the embedded mode) or anything
 * else (we_worker_new_with_transport(), e.g. NATS in we-worker-nats.c). Owns
 * no process state, so tests can drive it over any stream pair.
 */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "plugin/we-plugin-host.h"

G_BEGIN_DECLS

#define WE_TYPE_WORKER (we_worker_get_type ())
G_DECLARE_FINAL_TYPE (WeWorker, we_worker, WE, WORKER, GObject)

/* The transport seam: the worker hands every message it sends to this
 * function, in order, on its main context. */
typedef void (*WeWorkerSendFunc) (WeWorker   *worker,
                                  JsonObject *msg,
                                  gpointer    user_data);

/* The stdin/stdout transport of the embedded mode.
 * @worker_id: nullable; the configure message may set it. */
WeWorker *we_worker_new             (GInputStream  *input,
                                     GOutputStream *output,
                                     const gchar   *worker_id);
/* Any other transport (e.g. NATS): messages from the kernel come in through
 * we_worker_receive(), messages to it go out through @send. */
WeWorker *we_worker_new_with_transport (WeWorkerSendFunc send,
                                        gpointer         user_data,
                                        GDestroyNotify   notify,
                                        const gchar     *worker_id);
/* Handles one kernel message (configure, task, cancel, shutdown). */
void      we_worker_receive         (WeWorker   *self,
                                     JsonObject *msg);
/* Where plugin configuration comes from when the configure message carries
 * none (a worker configured from its own WeConfig). Call before configure. */
void      we_worker_set_plugin_config_func (WeWorker          *self,
                                            WePluginConfigFunc func,
                                            gpointer           user_data,
                                            GDestroyNotify     notify);
/* Keeps a GStreamer debug log per task (@spec in GST_DEBUG syntax, e.g.
 * "*:4"; NULL: only when the configure message asks with "gst_debug"), see
 * we-worker-gst-log.h. Call before configure. */
void      we_worker_set_gst_debug   (WeWorker    *self,
                                     const gchar *spec);
/* The key under which every task's GCancellable carries its task id (a
 * string), for the encoder to name pipelines of calls that carry none. */
#define WE_WORKER_TASK_ID_KEY "webencode-task-id"
/* Returns: (transfer none) (nullable): loaded once configured */
WePluginHost *we_worker_get_plugin_host (WeWorker *self);
/* The "capabilities" object of the hello message.
 * Returns: (transfer full) */
JsonObject *we_worker_get_capabilities (WeWorker *self);
/* Starts reading messages. "finished" is emitted once the channel ends
 * (EOF, shutdown, we_worker_shutdown() or a broken pipe) and every reply
 * has been written. */
void      we_worker_start           (WeWorker *self);
/* Cancels the running task, lets it report, then finishes. */
void      we_worker_shutdown        (WeWorker *self);
gboolean  we_worker_is_busy         (WeWorker *self);
gint      we_worker_get_exit_status (WeWorker *self);

G_END_DECLS
