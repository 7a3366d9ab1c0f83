/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * One RTMP connection from a publisher, without its socket: bytes in,
 * replies out, and what the publisher does reported through callbacks. The
 * server (we-rtmp-server.c) moves the bytes; the fuzz target and the unit
 * tests drive the same code from memory.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _WeRtmpConnection WeRtmpConnection;

typedef enum {
  WE_RTMP_CONNECTION_HANDSHAKE,  /* waiting for C0+C1 or C2 */
  WE_RTMP_CONNECTION_CONNECTING, /* handshake done, no accepted publish yet */
  WE_RTMP_CONNECTION_PUBLISHING, /* media flows */
  WE_RTMP_CONNECTION_ENDED,      /* unpublished; the socket may still be open */
} WeRtmpConnectionState;

typedef enum {
  WE_RTMP_END_UNPUBLISHED, /* deleteStream, FCUnpublish or closeStream */
  WE_RTMP_END_CLOSED,      /* the publisher closed the connection */
  WE_RTMP_END_ERROR,       /* protocol error, timeout, overflow: see the message */
} WeRtmpEndReason;

typedef struct {
  /* Whether @key may publish to @app; called once, before any media is
   * read. Required. */
  gboolean (*publish_attempt) (WeRtmpConnection *conn, const gchar *app, const gchar *key,
                               gpointer user_data);
  /* the publish was accepted and NetStream.Publish.Start sent */
  void     (*publish_started) (WeRtmpConnection *conn, gpointer user_data);
  /* FLV bytes of the published stream: the FLV header with the first call,
   * then whole tags (each with its PreviousTagSize) */
  void     (*flv_data) (WeRtmpConnection *conn, GBytes *bytes, gpointer user_data);
  /* once per started publish; @message says why for WE_RTMP_END_ERROR */
  void     (*publish_ended) (WeRtmpConnection *conn, WeRtmpEndReason reason,
                             const gchar *message, gpointer user_data);
} WeRtmpConnectionCallbacks;

WeRtmpConnection *we_rtmp_connection_new (const WeRtmpConnectionCallbacks *callbacks,
                                          gpointer user_data);
void              we_rtmp_connection_free (WeRtmpConnection *conn);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeRtmpConnection, we_rtmp_connection_free)

/* Processes bytes from the publisher. FALSE with @error when the connection
 * must be closed (after sending what we_rtmp_connection_take_output() still
 * holds, e.g. the onStatus error of a refused publish). */
gboolean  we_rtmp_connection_feed (WeRtmpConnection *conn, const guint8 *data, gsize len,
                                   GError **error);
/* the bytes to send to the publisher, or NULL when there are none */
GBytes   *we_rtmp_connection_take_output (WeRtmpConnection *conn);
/* The socket is gone: @error NULL when the publisher closed it, else why we
 * did. Ends a running publish (publish_ended). */
void      we_rtmp_connection_close (WeRtmpConnection *conn, const GError *error);

WeRtmpConnectionState we_rtmp_connection_get_state (WeRtmpConnection *conn);
/* complete messages received so far (the server's idle check) */
guint64      we_rtmp_connection_get_messages (WeRtmpConnection *conn);
const gchar *we_rtmp_connection_get_app (WeRtmpConnection *conn);
const gchar *we_rtmp_connection_get_key (WeRtmpConnection *conn);

G_END_DECLS
