/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * SRT ingest on libsrt: one listener socket per port, many publishers on
 * it, each chosen by the `streamid` of its handshake and protected by its
 * own passphrase. GStreamer's srtsrc in listener mode serves a single
 * caller per port, which is why this exists.
 *
 * The listener callback (libsrt's handshake thread) parses the streamid,
 * asks #WeSrtServer::publish-attempt and sets the stream's passphrase on
 * the socket being accepted, so a wrong passphrase fails the handshake
 * itself and not one byte of media is read. One epoll thread per server
 * then accepts and reads every connection into a #WeSrtSession (bounded
 * buffer, idle timeout, libsrt statistics once a second).
 */
#pragma once

#include <gio/gio.h>
#include <gst/gst.h>

G_BEGIN_DECLS

#define WE_TYPE_SRT_SERVER (we_srt_server_get_type ())
G_DECLARE_FINAL_TYPE (WeSrtServer, we_srt_server, WE, SRT_SERVER, GObject)

#define WE_TYPE_SRT_SESSION (we_srt_session_get_type ())
G_DECLARE_FINAL_TYPE (WeSrtSession, we_srt_session, WE, SRT_SESSION, GObject)

/* port 0 takes any free port (see #WeSrtServer:bound-port) */
#define WE_SRT_SERVER_DEFAULT_PORT         8890
#define WE_SRT_SERVER_DEFAULT_IDLE_TIMEOUT 10000 /* ms */
#define WE_SRT_SERVER_DEFAULT_LATENCY      120   /* ms, libsrt's own default */
#define WE_SRT_SERVER_DEFAULT_MAX_SESSIONS 64
#define WE_SRT_SERVER_DEFAULT_MAX_BUFFER   (4 << 20) /* bytes per session */

/* the name of the statistics structure (session, element property and
 * the element's messages) */
#define WE_SRT_STATS_NAME "we-srt-stats"

/* Why a session ended (#WeSrtServer::publish-ended, the `reason` field of
 * the last statistics) */
#define WE_SRT_END_DISCONNECTED "disconnected" /* the publisher closed the connection */
#define WE_SRT_END_TIMEOUT      "timeout"      /* no media for idle-timeout (gone or silent) */
#define WE_SRT_END_REPLACED     "replaced"     /* the same key connected again */
#define WE_SRT_END_CLOSED       "closed"       /* we_srt_session_close() */
#define WE_SRT_END_STOPPED      "stopped"      /* the server stopped */

/* Parses a caller's streamid: `publish:<key>` or the SRT access control
 * syntax `#!::r=<key>,m=publish` (keys in any order; `m` may be left out,
 * every caller of an ingest publishes). Returns the key, or NULL with
 * @reject set to the SRT_REJX_* code the caller gets: 1405 (bad mode) for
 * `m=request` and other modes, 1400 (bad request) for anything else. */
gchar *we_srt_parse_stream_id (const gchar *stream_id, gint *reject);

WeSrtServer *we_srt_server_new (void);

/* Binds and listens on #WeSrtServer:address and #WeSrtServer:port and
 * starts the epoll thread. FALSE with @error (WE_ERROR_STR_INGEST_UNAVAILABLE)
 * when the port cannot be had. */
gboolean we_srt_server_start (WeSrtServer *self, GError **error);
/* Ends every session (reason "stopped"), closes the listener and joins the
 * thread. Harmless when not started. */
void     we_srt_server_stop (WeSrtServer *self);

/* The started server of this process on @address:@port, made and started
 * on first use with @idle_timeout and @latency: how several wesrtserversrc
 * in one gst-launch-1.0 share a port. @port 0 always makes a new server. */
WeSrtServer *we_srt_server_get_shared (const gchar *address, guint port, guint idle_timeout,
                                       guint latency, GError **error);

/* Publishers with @stream_key are accepted without asking
 * #WeSrtServer::publish-attempt, with @passphrase (NULL: unencrypted). */
void     we_srt_server_add_stream_key (WeSrtServer *self, const gchar *stream_key,
                                       const gchar *passphrase);
void     we_srt_server_remove_stream_key (WeSrtServer *self, const gchar *stream_key);

/* the UDP port listened on, 0 before start */
guint    we_srt_server_get_bound_port (WeSrtServer *self);
/* (transfer full) (nullable): the running session of @stream_key */
WeSrtSession *we_srt_server_find_session (WeSrtServer *self, const gchar *stream_key);
/* (transfer container): the running sessions */
GPtrArray    *we_srt_server_list_sessions (WeSrtServer *self);

/* The publisher's key (a secret: never log it whole). */
const gchar *we_srt_session_get_stream_key (WeSrtSession *self);
/* the publisher's "host:port" */
const gchar *we_srt_session_get_remote_address (WeSrtSession *self);
/* unique in the process, for logs */
guint64      we_srt_session_get_id (WeSrtSession *self);

/* The MPEG-TS bytes received since the last call, waiting up to
 * @timeout_us (-1: forever) for some. NULL with @error when there are
 * none: G_IO_ERROR_TIMED_OUT, G_IO_ERROR_CANCELLED (@cancellable), or
 * G_IO_ERROR_CLOSED once the session has ended and everything was read
 * (the message is the end reason). */
GBytes *we_srt_session_pop (WeSrtSession *self, gint64 timeout_us, GCancellable *cancellable,
                            GError **error);
/* Asks the server to disconnect the publisher (reason "closed"); the
 * session ends from the server's thread shortly after. */
void    we_srt_session_close (WeSrtSession *self);
gboolean we_srt_session_is_ended (WeSrtSession *self);
/* (transfer full) (nullable): NULL while running */
gchar  *we_srt_session_dup_end_reason (WeSrtSession *self);
/* (transfer full): a WE_SRT_STATS_NAME structure, refreshed once a second:
 * session-id, remote-address, rtt-ms, bitrate (bit/s over the last
 * second), bandwidth-mbps (libsrt's estimate), bytes-received,
 * packets-received, packets-lost, packets-dropped (too late to play),
 * packets-retransmitted, bytes-overflow (dropped by our bounded buffer),
 * uptime-ms */
GstStructure *we_srt_session_get_stats (WeSrtSession *self);

G_END_DECLS
