/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Restream jobs at run time (spec §4.6, §10.3, issue 11; docs/architecture.md
 * "Restreams"): the manager runs each running restream in a worker process
 * of its own (`webencode-worker --restream`, src/worker/we-restream-worker.c)
 * and speaks JSON lines with it on stdin/stdout, keeps the per-destination
 * stats the worker reports once a second, writes status and stats to the
 * store, resumes what was streaming when the service stopped, and starts
 * and stops scheduled ("at") and recurring (cron) restreams. Kernels
 * sharing a store run each restream on the one that claimed it
 * (docs/architecture.md "Restreams in cluster mode").
 *
 * Everything runs on the main loop; the store is reached through
 * we_store_call_async(). Destination URLs (stream keys in them) are opened
 * only to be handed to the worker: they are never logged or stored open.
 */
#pragma once

#include "core/we-content-keys.h"
#include "store/we-store.h"

G_BEGIN_DECLS

/* What a destination URL is sealed for (we_stream_keys_seal purpose). */
#define WE_RESTREAM_SEAL_URL "restream destination"

#define WE_TYPE_RESTREAM_MANAGER (we_restream_manager_get_type ())
G_DECLARE_FINAL_TYPE (WeRestreamManager, we_restream_manager, WE, RESTREAM_MANAGER, GObject)

/* @worker_binary: webencode-worker */
WeRestreamManager *we_restream_manager_new      (WeStore       *store,
                                                 WeContentKeys *keys,
                                                 const gchar   *worker_binary);
/* The name this kernel claims restreams as (its kernels-table id) and
 * whether other kernels share the store (cluster mode: stats are stored
 * every second for them to show). Before start_all. */
void        we_restream_manager_set_kernel      (WeRestreamManager *self,
                                                 const gchar       *kernel_id,
                                                 gboolean           cluster);
/* Starts the 1 s tick: it renews this kernel's leases, ends what is no
 * longer its own (stopped, deleted or adopted elsewhere), applies edits of
 * what it runs, resumes or adopts what should run and nobody runs, starts
 * schedules that are due, and relays other kernels' stats as events.
 * docs/architecture.md "Restreams in cluster mode". */
void        we_restream_manager_start_all       (WeRestreamManager *self);
/* Restream @id's definition was stored anew: if it runs here, apply it now
 * (a new input restarts its worker) rather than on the next tick. */
void        we_restream_manager_reload          (WeRestreamManager *self,
                                                 const gchar       *id);
/* Ends every worker, leaving the store's status as it is so that the next
 * start resumes them. */
void        we_restream_manager_shutdown        (WeRestreamManager *self);

/* Loads restream @id, opens its destinations and runs it (status
 * "starting", then "streaming" once the worker plays). @callback gets the
 * result on the main loop; finish with we_restream_manager_run_finish(). */
void        we_restream_manager_run_async       (WeRestreamManager  *self,
                                                 const gchar        *id,
                                                 GAsyncReadyCallback callback,
                                                 gpointer            user_data);
gboolean    we_restream_manager_run_finish      (WeRestreamManager *self,
                                                 GAsyncResult      *result,
                                                 GError           **error);
/* Ends restream @id's worker, if any, and stores status "stopped" with no
 * owner: a kernel that runs it elsewhere ends its worker on its next tick. */
void        we_restream_manager_stop            (WeRestreamManager *self,
                                                 const gchar       *id);
gboolean    we_restream_manager_is_running      (WeRestreamManager *self,
                                                 const gchar       *id);
/* The run-time view of a running restream: {"status", "error",
 * "destinations": {dest id: {state, enabled, bitrate_kbps, bytes_acked,
 * uptime_s, reconnects, last_error}}}. Returns: (transfer full) (nullable):
 * NULL when it does not run here */
JsonObject *we_restream_manager_get_live        (WeRestreamManager *self,
                                                 const gchar       *id);

/* Destinations of a running restream, changed at run time (no-ops when it
 * does not run). @url is the open URL. */
void        we_restream_manager_dest_add        (WeRestreamManager *self,
                                                 const gchar       *id,
                                                 const gchar       *dest_id,
                                                 const gchar       *url,
                                                 gboolean           enabled);
void        we_restream_manager_dest_set_enabled (WeRestreamManager *self,
                                                  const gchar       *id,
                                                  const gchar       *dest_id,
                                                  gboolean           enabled);
void        we_restream_manager_dest_remove     (WeRestreamManager *self,
                                                 const gchar       *id,
                                                 const gchar       *dest_id);

/* --- helpers shared with the API ------------------------------------------ */

/* @url with its secrets masked for responses: the last path segment (an
 * RTMP stream key) as "****" + its last four characters, user info and
 * query values (SRT passphrase, streamid) as "****".
 * Returns: (transfer full) */
gchar      *we_restream_mask_url                (const gchar *url);
/* Whether @expr is a 5-field cron expression we understand ("m h dom mon
 * dow": numbers, *, ranges a-b, steps /n, lists). */
gboolean    we_restream_cron_valid              (const gchar *expr);
/* Whether @expr matches the local-time minute of @when. */
gboolean    we_restream_cron_matches            (const gchar *expr,
                                                 GDateTime   *when);

G_END_DECLS
