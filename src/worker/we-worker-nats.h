/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The NATS transport of webencode-worker (cluster mode): pulls task
 * messages from JetStream, claims each from the kernel that dispatched it,
 * runs it through the same WeWorker as the stdin/stdout mode, reports over
 * NATS and heartbeats. See docs/architecture.md "Cluster mode: NATS".
 */
#pragma once

#include "common/we-config.h"
#include "we-worker.h"

G_BEGIN_DECLS

typedef struct {
  const gchar *url;             /* NATS server(s) */
  const gchar *worker_id;       /* a subject-safe id */
  const gchar *scratch_dir;     /* this worker's own scratch folder */
  const gchar *plugin_dir;
  guint        heartbeat_ms;
  guint        stall_timeout_s; /* 0: no stall watchdog */
  guint        stop_grace_s;    /* how long a stop lets the running task finish */
  const gchar *gst_debug;       /* nullable: GStreamer debug logs per task (GST_DEBUG syntax) */
} WeWorkerNatsOptions;

#define WE_TYPE_WORKER_NATS (we_worker_nats_get_type ())
G_DECLARE_FINAL_TYPE (WeWorkerNats, we_worker_nats, WE, WORKER_NATS, GObject)

/* @config: plugin settings, disabled plugins */
WeWorkerNats *we_worker_nats_new             (WeConfig                  *config,
                                              const WeWorkerNatsOptions *options);
/* Loads the plugins and starts connecting; never blocks on NATS. */
void          we_worker_nats_start           (WeWorkerNats *self);
/* Stops pulling, lets the running task finish within the grace (then
 * cancels it and reports it as retryable), says goodbye and emits
 * "finished". A second call cancels the running task at once. */
void          we_worker_nats_abandon         (WeWorkerNats *self);
void          we_worker_nats_shutdown        (WeWorkerNats *self);
gint          we_worker_nats_get_exit_status (WeWorkerNats *self);
gboolean      we_worker_nats_is_busy         (WeWorkerNats *self);

G_END_DECLS
