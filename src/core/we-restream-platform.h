/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Platform destinations of restreams (issue 11, docs/api.md "Restreams"): a
 * destination given as {"platform": "twitch"} instead of a URL. Its URL is
 * made by a publisher module (publisher-<platform>, else publisher-rtmp's
 * presets) through the module's action signal "open-destination", from the
 * preset and the stream key in the secrets backend, or for YouTube with
 * OAuth as a new broadcast (liveStreams.insert, liveBroadcasts.insert and
 * .bind). That blocks, so it runs in a thread, each time a worker is
 * started; the URL is never stored: the store keeps the sealed placeholder
 * "platform:<name>" (we-api-restreams.c seals it like any URL), which the
 * manager (we-restream.c) hands here before the worker gets its
 * configuration.
 *
 * YouTube broadcasts made so are moved to "live" when their destination
 * first reports live, and to "complete" when the restream is stopped.
 */
#pragma once

#include <json-glib/json-glib.h>

#include "plugin/we-plugin-host.h"

G_BEGIN_DECLS

/* The placeholder URL of a platform destination: "platform:<name>" */
#define WE_RESTREAM_PLATFORM_SCHEME "platform:"

/* Lets @manager (a WeRestreamManager) find the publisher modules. */
void      we_restream_platform_attach      (GObject      *manager,
                                            WePluginHost *host);

/* Whether @url is a platform placeholder. */
gboolean  we_restream_platform_is_placeholder (const gchar *url);

/* The API's check of the destinations of a create or add, on the store
 * thread (it blocks: a secrets lookup): every destination of @dests whose
 * masked URL is still a placeholder must have a publisher that can make its
 * URL (a preset, a stream key, or YouTube's OAuth keys); its "url_masked"
 * becomes the masked URL, or "****" when the URL is made at start (a YouTube
 * broadcast). Errors: WE_ERROR_RST_INVALID_DESTINATION saying what is
 * missing, never a key. */
gboolean  we_restream_platform_check_all   (WePluginHost *host,
                                            JsonArray    *dests,
                                            GError      **error);

typedef void (*WeRestreamPlatformDone) (JsonObject *results, gpointer user_data);

/* Run time, main loop: when @config (a worker "start" configuration) has
 * destinations whose url is a placeholder (or "_unresolved" ones from an
 * earlier start), opens them in a thread and calls @done on this main
 * context with {dest id: {"url": …} | {"error": …}}; then
 * we_restream_platform_apply() puts them into @config. FALSE (and @done is
 * not called) when there is nothing to open. "_title" and "_description"
 * of @config name a YouTube broadcast. */
gboolean  we_restream_platform_resolve     (GObject               *manager,
                                            const gchar           *restream_id,
                                            JsonObject            *config,
                                            WeRestreamPlatformDone done,
                                            gpointer               user_data);
/* Sets the opened URLs; a destination that could not be opened leaves
 * "destinations" for "_unresolved" (tried again at the next start) and gets
 * state "error" with its last_error in @stats (dest id → stats). */
void      we_restream_platform_apply       (JsonObject   *config,
                                            JsonObject   *results,
                                            JsonObject   *stats);

/* Drops destination @dest_id from @config's "_unresolved" (it was removed).
 * TRUE when it was there. */
gboolean  we_restream_platform_forget      (JsonObject   *config,
                                            const gchar  *dest_id);

/* A destination added at run time with a placeholder URL: opened in a
 * thread, then given to we_restream_manager_dest_add(). */
void      we_restream_platform_dest_add    (GObject      *manager,
                                            const gchar  *restream_id,
                                            const gchar  *dest_id,
                                            const gchar  *url,
                                            gboolean      enabled,
                                            JsonObject   *config);

/* A destination's state changed (the worker's stats): a broadcast of ours
 * goes live the first time it is "live". */
void      we_restream_platform_dest_state  (GObject      *manager,
                                            const gchar  *restream_id,
                                            const gchar  *dest_id,
                                            const gchar  *state);
/* The restream was stopped: its broadcasts that went live are completed. */
void      we_restream_platform_stopped     (GObject      *manager,
                                            const gchar  *restream_id);

G_END_DECLS
