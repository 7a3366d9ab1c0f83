/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * WeRtmpServer: an RTMP ingest listener. Many publishers on one port, each
 * publish checked by key before any media is read, each accepted publish a
 * WeRtmpSession whose FLV byte stream a consumer (wertmpserversrc) pops
 * from any thread. The sockets live on a thread and GMainContext of the
 * server's own, so no caller's main loop ever waits on a publisher.
 */
#pragma once

#include <gio/gio.h>

#include "we-rtmp-connection.h"

G_BEGIN_DECLS

#define WE_RTMP_DEFAULT_PORT    1935
/* seconds a connection may go without a complete message */
#define WE_RTMP_DEFAULT_TIMEOUT 10
/* seconds from accept to the end of the handshake */
#define WE_RTMP_HANDSHAKE_TIMEOUT 10
#define WE_RTMP_DEFAULT_MAX_CONNECTIONS 256

#define WE_TYPE_RTMP_SESSION (we_rtmp_session_get_type ())
G_DECLARE_FINAL_TYPE (WeRtmpSession, we_rtmp_session, WE, RTMP_SESSION, GObject)

const gchar *we_rtmp_session_get_app (WeRtmpSession *session);
const gchar *we_rtmp_session_get_key (WeRtmpSession *session);
const gchar *we_rtmp_session_get_remote_address (WeRtmpSession *session);
/* The next FLV bytes, waiting up to @timeout_us (-1: until there are some,
 * the publish ends or @cancellable fires). NULL when there are none: then
 * *@ended says whether the publish is over and every byte was popped. */
GBytes      *we_rtmp_session_pop (WeRtmpSession *session, gint64 timeout_us,
                                  GCancellable *cancellable, gboolean *ended);
/* why the publish ended (valid once ended); @message for errors */
WeRtmpEndReason we_rtmp_session_get_end_reason (WeRtmpSession *session, const gchar **message);
/* the consumer is gone: the server closes the publisher's connection */
void         we_rtmp_session_abandon (WeRtmpSession *session);

#define WE_TYPE_RTMP_SERVER (we_rtmp_server_get_type ())
G_DECLARE_FINAL_TYPE (WeRtmpServer, we_rtmp_server, WE, RTMP_SERVER, GObject)

WeRtmpServer *we_rtmp_server_new (const gchar *address, guint port);
/* Binds and starts the server thread. */
gboolean      we_rtmp_server_start (WeRtmpServer *server, GError **error);
/* Closes the listener and every connection (running publishes end with an
 * error) and joins the thread. Not from a signal handler of the server. */
void          we_rtmp_server_stop (WeRtmpServer *server);
guint         we_rtmp_server_get_bound_port (WeRtmpServer *server);

/* The started server of this process on @address:@port, made and started
 * on first use: how several wertmpserversrc in one gst-launch-1.0 share a
 * port. @port 0 always makes a new server. */
WeRtmpServer *we_rtmp_server_get_shared (const gchar *address, guint port, guint timeout,
                                         GError **error);

/* Publishes with @key (to @app, or to any app when NULL) are accepted
 * without asking "publish-attempt", and their sessions are kept for
 * we_rtmp_server_take_session(). */
void          we_rtmp_server_add_stream_key (WeRtmpServer *server, const gchar *app,
                                             const gchar *key);
void          we_rtmp_server_remove_stream_key (WeRtmpServer *server, const gchar *key);
/* Waits for a publish with a key added above. NULL when @cancellable
 * fires. */
WeRtmpSession *we_rtmp_server_take_session (WeRtmpServer *server, const gchar *key,
                                            GCancellable *cancellable);

G_END_DECLS
