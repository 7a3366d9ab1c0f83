/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "we-rtmp-server.h"

#include "webencode/we-error.h"

/* bytes read per wake-up: one connection cannot starve the others */
#define READ_SIZE (64 * 1024)
/* replies not yet taken by a slow reader; ours are small */
#define MAX_PENDING_OUT (1 << 20)
/* FLV bytes a session holds for a consumer that does not keep up */
#define MAX_SESSION_BYTES (64 << 20)
/* how long a connection we gave up on may take to read our last words */
#define LINGER_US (2 * G_TIME_SPAN_SECOND)

/* ---- WeRtmpSession ---- */

struct _WeRtmpSession {
  GObject parent;

  gchar *app;
  gchar *key;
  gchar *remote;

  GMutex          lock;
  GCond           cond;
  GQueue          queue;    /* GBytes */
  gsize           queued;
  gboolean        ended;
  WeRtmpEndReason reason;
  gchar          *message;
  gint            abandoned; /* atomic */
};

G_DEFINE_FINAL_TYPE (WeRtmpSession, we_rtmp_session, G_TYPE_OBJECT)

static void
we_rtmp_session_finalize (GObject *object)
{
  WeRtmpSession *self = WE_RTMP_SESSION (object);

  g_queue_clear_full (&self->queue, (GDestroyNotify) g_bytes_unref);
  g_free (self->app);
  g_free (self->key);
  g_free (self->remote);
  g_free (self->message);
  g_mutex_clear (&self->lock);
  g_cond_clear (&self->cond);
  G_OBJECT_CLASS (we_rtmp_session_parent_class)->finalize (object);
}

static void
we_rtmp_session_class_init (WeRtmpSessionClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = we_rtmp_session_finalize;
}

static void
we_rtmp_session_init (WeRtmpSession *self)
{
  g_mutex_init (&self->lock);
  g_cond_init (&self->cond);
  g_queue_init (&self->queue);
}

const gchar *
we_rtmp_session_get_app (WeRtmpSession *session)
{
  return session->app;
}

const gchar *
we_rtmp_session_get_key (WeRtmpSession *session)
{
  return session->key;
}

const gchar *
we_rtmp_session_get_remote_address (WeRtmpSession *session)
{
  return session->remote;
}

/* server thread; FALSE when the consumer fell too far behind */
static gboolean
session_push (WeRtmpSession *self, GBytes *bytes)
{
  gboolean ok;

  g_mutex_lock (&self->lock);
  ok = self->queued + g_bytes_get_size (bytes) <= MAX_SESSION_BYTES;
  if (ok) {
    g_queue_push_tail (&self->queue, g_bytes_ref (bytes));
    self->queued += g_bytes_get_size (bytes);
    g_cond_broadcast (&self->cond);
  }
  g_mutex_unlock (&self->lock);
  return ok;
}

static void
session_end (WeRtmpSession *self, WeRtmpEndReason reason, const gchar *message)
{
  g_mutex_lock (&self->lock);
  if (!self->ended) {
    self->ended = TRUE;
    self->reason = reason;
    self->message = g_strdup (message);
  }
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
}

GBytes *
we_rtmp_session_pop (WeRtmpSession *session, gint64 timeout_us, GCancellable *cancellable,
                     gboolean *ended)
{
  gint64 deadline = timeout_us >= 0 ? g_get_monotonic_time () + timeout_us : G_MAXINT64;
  GBytes *bytes = NULL;

  g_mutex_lock (&session->lock);
  for (;;) {
    bytes = g_queue_pop_head (&session->queue);
    if (bytes != NULL) {
      session->queued -= g_bytes_get_size (bytes);
      break;
    }
    if (session->ended || g_cancellable_is_cancelled (cancellable) ||
        g_get_monotonic_time () >= deadline)
      break;
    /* short waits: a cancellation is seen within 50 ms without a
     * cancellable callback taking this lock */
    g_cond_wait_until (&session->cond, &session->lock,
                       MIN (deadline, g_get_monotonic_time () + 50 * G_TIME_SPAN_MILLISECOND));
  }
  if (ended != NULL)
    *ended = bytes == NULL && session->ended;
  g_mutex_unlock (&session->lock);
  return bytes;
}

WeRtmpEndReason
we_rtmp_session_get_end_reason (WeRtmpSession *session, const gchar **message)
{
  WeRtmpEndReason reason;

  g_mutex_lock (&session->lock);
  reason = session->reason;
  if (message != NULL)
    *message = session->message;
  g_mutex_unlock (&session->lock);
  return reason;
}

void
we_rtmp_session_abandon (WeRtmpSession *session)
{
  g_atomic_int_set (&session->abandoned, 1);
}

/* ---- WeRtmpServer ---- */

typedef struct {
  WeRtmpServer     *server;     /* (unowned) */
  GSocket          *socket;
  GSource          *in_source;
  GSource          *out_source;
  WeRtmpConnection *rtmp;
  GByteArray       *pending_out;
  gchar            *remote;
  gint64            accepted;   /* monotonic µs */
  gint64            progress;   /* when the message count last moved */
  guint64           messages;
  WeRtmpSession    *session;
  gint64            closing;    /* when we gave up on it, 0 before */
} Conn;

struct _WeRtmpServer {
  GObject parent;

  gchar *address;
  guint  port;
  guint  bound_port;
  guint  timeout;
  guint  max_connections;
  gint   allow_takeover; /* atomic: read on the server thread */

  GMainContext *context;
  GMainLoop    *loop;
  GThread      *thread;
  GSocket      *listener;
  GSource      *accept_source;
  GSource      *tick_source;
  GList        *conns;      /* Conn, server thread only */

  GMutex      lock;         /* the tables below */
  GCond       cond;
  GHashTable *keys;         /* key → app or "" for any app */
  GHashTable *active;       /* key → WeRtmpSession, publishing now */
  GHashTable *waiting;      /* key → WeRtmpSession, not yet taken */
};

enum {
  PROP_0,
  PROP_ADDRESS,
  PROP_PORT,
  PROP_BOUND_PORT,
  PROP_TIMEOUT,
  PROP_MAX_CONNECTIONS,
  PROP_ALLOW_TAKEOVER,
  N_PROPS
};
static GParamSpec *props[N_PROPS];

enum {
  SIGNAL_PUBLISH_ATTEMPT,
  SIGNAL_PUBLISH_STARTED,
  SIGNAL_PUBLISH_ENDED,
  N_SIGNALS
};
static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (WeRtmpServer, we_rtmp_server, G_TYPE_OBJECT)

static void conn_close (Conn *conn, const GError *error);
static void conn_fail (Conn *conn, const GError *error);

static void
conn_free (Conn *conn)
{
  if (conn->in_source != NULL) {
    g_source_destroy (conn->in_source);
    g_source_unref (conn->in_source);
  }
  if (conn->out_source != NULL) {
    g_source_destroy (conn->out_source);
    g_source_unref (conn->out_source);
  }
  g_socket_close (conn->socket, NULL);
  g_object_unref (conn->socket);
  we_rtmp_connection_free (conn->rtmp);
  g_byte_array_unref (conn->pending_out);
  g_free (conn->remote);
  g_clear_object (&conn->session);
  g_free (conn);
}

static gboolean
on_writable (GSocket *socket, GIOCondition condition, gpointer user_data);

/* Sends what can go now and keeps the rest for when the socket is
 * writable; FALSE when the peer does not read. */
static gboolean
conn_flush (Conn *conn, GError **error)
{
  while (conn->pending_out->len > 0) {
    g_autoptr(GError) local = NULL;
    gssize n = g_socket_send (conn->socket, (const gchar *) conn->pending_out->data,
                              conn->pending_out->len, NULL, &local);

    if (n < 0) {
      if (g_error_matches (local, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        break;
      g_propagate_error (error, g_steal_pointer (&local));
      return FALSE;
    }
    g_byte_array_remove_range (conn->pending_out, 0, (guint) n);
  }
  if (conn->pending_out->len > MAX_PENDING_OUT) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_SYS_RATE_LIMITED,
                         "the publisher does not read our replies");
    return FALSE;
  }
  if (conn->pending_out->len > 0 && conn->out_source == NULL) {
    conn->out_source = g_socket_create_source (conn->socket, G_IO_OUT, NULL);
    g_source_set_callback (conn->out_source, (GSourceFunc) (void (*) (void)) on_writable, conn,
                           NULL);
    g_source_attach (conn->out_source, conn->server->context);
  }
  return TRUE;
}

static gboolean
on_writable (GSocket *socket, GIOCondition condition, gpointer user_data)
{
  Conn *conn = user_data;
  g_autoptr(GError) error = NULL;

  g_source_unref (conn->out_source);
  conn->out_source = NULL;
  if (!conn_flush (conn, &error))
    conn_close (conn, error);
  else if (conn->closing != 0 && conn->pending_out->len == 0)
    g_socket_shutdown (conn->socket, FALSE, TRUE, NULL);
  return G_SOURCE_REMOVE;
}

static void
conn_queue_output (Conn *conn)
{
  g_autoptr(GBytes) out = we_rtmp_connection_take_output (conn->rtmp);

  if (out != NULL)
    g_byte_array_append (conn->pending_out, g_bytes_get_data (out, NULL),
                         (guint) g_bytes_get_size (out));
}

/* The socket is gone or unusable: ends the connection and frees it. */
static void
conn_close (Conn *conn, const GError *error)
{
  WeRtmpServer *server = conn->server;

  if (conn->closing == 0) {
    if (error != NULL)
      g_debug ("closing RTMP connection from %s: %s", conn->remote, error->message);
    else
      g_debug ("RTMP connection from %s closed", conn->remote);
  }
  server->conns = g_list_remove (server->conns, conn);
  /* publish_ended runs from here for a running publish */
  we_rtmp_connection_close (conn->rtmp, error);
  conn_free (conn);
}

/* We give up on the connection: its publish ends now, but the socket stays
 * until the peer read what we still send (the onStatus of a refused
 * publish) and hung up, or LINGER_US passed. Closing at once with unread
 * input would reset the connection and lose those last words. */
static void
conn_fail (Conn *conn, const GError *error)
{
  g_autoptr(GError) flush_error = NULL;

  if (conn->closing != 0)
    return;
  g_debug ("closing RTMP connection from %s: %s", conn->remote, error->message);
  conn->closing = g_get_monotonic_time ();
  we_rtmp_connection_close (conn->rtmp, error);
  if (conn_flush (conn, &flush_error) && conn->pending_out->len == 0)
    g_socket_shutdown (conn->socket, FALSE, TRUE, NULL);
}

static gboolean
on_readable (GSocket *socket, GIOCondition condition, gpointer user_data)
{
  Conn *conn = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree guint8 *buf = g_malloc (READ_SIZE);
  gssize n = g_socket_receive (socket, (gchar *) buf, READ_SIZE, NULL, &error);
  gboolean ok;

  if (n < 0 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
    return G_SOURCE_CONTINUE;
  if (n == 0 || g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED)) {
    /* a reset is how many publishers hang up: not an error of theirs */
    conn_close (conn, NULL);
    return G_SOURCE_REMOVE;
  }
  if (n < 0) {
    conn_close (conn, error);
    return G_SOURCE_REMOVE;
  }
  if (conn->closing != 0)
    return G_SOURCE_CONTINUE;
  ok = we_rtmp_connection_feed (conn->rtmp, buf, (gsize) n, &error);
  conn_queue_output (conn);
  if (!ok) {
    conn_fail (conn, error);
    return G_SOURCE_CONTINUE;
  }
  /* a session that overflowed while feeding, or whose consumer left */
  if (conn->session != NULL && g_atomic_int_get (&conn->session->abandoned)) {
    g_set_error_literal (&error, WE_ERROR, WE_ERROR_STR_INGEST_UNAVAILABLE,
                         "the consumer of the stream stopped or fell behind");
    conn_fail (conn, error);
    return G_SOURCE_CONTINUE;
  }
  if (!conn_flush (conn, &error)) {
    conn_close (conn, error);
    return G_SOURCE_REMOVE;
  }
  return G_SOURCE_CONTINUE;
}

/* ---- connection callbacks (server thread) ---- */

static gboolean
cb_publish_attempt (WeRtmpConnection *rtmp, const gchar *app, const gchar *key,
                    gpointer user_data)
{
  Conn *conn = user_data;
  WeRtmpServer *server = conn->server;
  gboolean registered, busy, accept = FALSE, takeover = FALSE;
  const gchar *want_app;

  g_mutex_lock (&server->lock);
  want_app = g_hash_table_lookup (server->keys, key);
  registered = want_app != NULL && (*want_app == '\0' || g_strcmp0 (want_app, app) == 0);
  busy = g_hash_table_contains (server->active, key) ||
         g_hash_table_contains (server->waiting, key);
  if (busy && !g_hash_table_contains (server->waiting, key) &&
      g_atomic_int_get (&server->allow_takeover)) {
    busy = FALSE;
    takeover = TRUE;
  }
  g_mutex_unlock (&server->lock);

  if (busy) {
    g_debug ("publish from %s refused: the key is publishing already", conn->remote);
    return FALSE;
  }
  if (registered)
    accept = TRUE;
  else
    g_signal_emit (server, signals[SIGNAL_PUBLISH_ATTEMPT], 0, app, key, conn->remote, &accept);
  g_debug ("publish to %s from %s %s", app, conn->remote, accept ? "accepted" : "refused");
  if (accept && takeover) {
    WeRtmpSession *old;

    g_mutex_lock (&server->lock);
    old = g_hash_table_lookup (server->active, key);
    if (old != NULL)
      we_rtmp_session_abandon (old);
    g_mutex_unlock (&server->lock);
    g_debug ("publish from %s takes over a running publish", conn->remote);
  }
  return accept;
}

static void
cb_publish_started (WeRtmpConnection *rtmp, gpointer user_data)
{
  Conn *conn = user_data;
  WeRtmpServer *server = conn->server;
  WeRtmpSession *session = g_object_new (WE_TYPE_RTMP_SESSION, NULL);
  const gchar *key = we_rtmp_connection_get_key (rtmp);

  session->app = g_strdup (we_rtmp_connection_get_app (rtmp));
  session->key = g_strdup (key);
  session->remote = g_strdup (conn->remote);
  conn->session = session;

  g_mutex_lock (&server->lock);
  g_hash_table_insert (server->active, g_strdup (key), g_object_ref (session));
  if (g_hash_table_contains (server->keys, key))
    g_hash_table_insert (server->waiting, g_strdup (key), g_object_ref (session));
  g_cond_broadcast (&server->cond);
  g_mutex_unlock (&server->lock);
  g_signal_emit (server, signals[SIGNAL_PUBLISH_STARTED], 0, session);
}

static void
cb_flv_data (WeRtmpConnection *rtmp, GBytes *bytes, gpointer user_data)
{
  Conn *conn = user_data;

  if (conn->session != NULL && !session_push (conn->session, bytes)) {
    g_warning ("RTMP stream from %s: the consumer fell %u MiB behind, dropping the publisher",
               conn->remote, MAX_SESSION_BYTES >> 20);
    we_rtmp_session_abandon (conn->session);
  }
}

static void
cb_publish_ended (WeRtmpConnection *rtmp, WeRtmpEndReason reason, const gchar *message,
                  gpointer user_data)
{
  Conn *conn = user_data;
  WeRtmpServer *server = conn->server;
  WeRtmpSession *session = conn->session;

  if (session == NULL)
    return;
  session_end (session, reason, message);
  g_mutex_lock (&server->lock);
  if (g_hash_table_lookup (server->active, session->key) == session)
    g_hash_table_remove (server->active, session->key);
  g_mutex_unlock (&server->lock);
  g_signal_emit (server, signals[SIGNAL_PUBLISH_ENDED], 0, session, (gint) reason, message);
}

static const WeRtmpConnectionCallbacks conn_callbacks = {
  .publish_attempt = cb_publish_attempt,
  .publish_started = cb_publish_started,
  .flv_data = cb_flv_data,
  .publish_ended = cb_publish_ended,
};

/* ---- accept and timers ---- */

static gboolean
on_accept (GSocket *listener, GIOCondition condition, gpointer user_data)
{
  WeRtmpServer *server = user_data;

  for (;;) {
    g_autoptr(GError) error = NULL;
    g_autoptr(GSocket) socket = g_socket_accept (listener, NULL, &error);
    g_autoptr(GSocketAddress) remote = NULL;
    Conn *conn;

    if (socket == NULL) {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        g_debug ("accept: %s", error->message);
      break;
    }
    if (g_list_length (server->conns) >= server->max_connections) {
      g_debug ("refusing a connection: %u open already", server->max_connections);
      g_socket_close (socket, NULL);
      continue;
    }
    g_socket_set_blocking (socket, FALSE);
    conn = g_new0 (Conn, 1);
    conn->server = server;
    conn->socket = g_steal_pointer (&socket);
    conn->rtmp = we_rtmp_connection_new (&conn_callbacks, conn);
    conn->pending_out = g_byte_array_new ();
    conn->accepted = conn->progress = g_get_monotonic_time ();
    remote = g_socket_get_remote_address (conn->socket, NULL);
    if (G_IS_INET_SOCKET_ADDRESS (remote)) {
      g_autofree gchar *ip = g_inet_address_to_string (
        g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (remote)));
      guint16 port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (remote));

      conn->remote = g_strdup_printf ("%s:%u", ip, port);
    } else {
      conn->remote = g_strdup ("unknown");
    }
    conn->in_source = g_socket_create_source (conn->socket, G_IO_IN | G_IO_HUP | G_IO_ERR, NULL);
    g_source_set_callback (conn->in_source, (GSourceFunc) (void (*) (void)) on_readable, conn,
                           NULL);
    g_source_attach (conn->in_source, server->context);
    server->conns = g_list_prepend (server->conns, conn);
    g_debug ("RTMP connection from %s", conn->remote);
  }
  return G_SOURCE_CONTINUE;
}

/* once a second: handshakes that take too long, connections that send no
 * complete message (slow-loris), sessions whose consumer left */
static gboolean
on_tick (gpointer user_data)
{
  WeRtmpServer *server = user_data;
  gint64 now = g_get_monotonic_time ();
  GList *l = server->conns;

  while (l != NULL) {
    Conn *conn = l->data;
    guint64 messages = we_rtmp_connection_get_messages (conn->rtmp);
    g_autoptr(GError) error = NULL;

    l = l->next;
    if (conn->closing != 0) {
      if (now - conn->closing > LINGER_US)
        conn_close (conn, NULL);
      continue;
    }
    if (messages != conn->messages) {
      conn->messages = messages;
      conn->progress = now;
    }
    if (we_rtmp_connection_get_state (conn->rtmp) == WE_RTMP_CONNECTION_HANDSHAKE &&
        now - conn->accepted > WE_RTMP_HANDSHAKE_TIMEOUT * G_TIME_SPAN_SECOND)
      g_set_error (&error, WE_ERROR, WE_ERROR_STR_INVALID_REQUEST,
                   "no RTMP handshake within %u s", WE_RTMP_HANDSHAKE_TIMEOUT);
    else if (server->timeout > 0 && now - conn->progress > server->timeout * G_TIME_SPAN_SECOND)
      g_set_error (&error, WE_ERROR, WE_ERROR_STR_INVALID_REQUEST,
                   "no complete RTMP message for %u s", server->timeout);
    else if (conn->session != NULL && g_atomic_int_get (&conn->session->abandoned))
      g_set_error_literal (&error, WE_ERROR, WE_ERROR_STR_INGEST_UNAVAILABLE,
                           "the consumer of the stream stopped or fell behind");
    if (error != NULL)
      conn_fail (conn, error);
  }
  return G_SOURCE_CONTINUE;
}

static gpointer
server_thread (gpointer data)
{
  WeRtmpServer *server = data;

  g_main_context_push_thread_default (server->context);
  g_main_loop_run (server->loop);
  g_main_context_pop_thread_default (server->context);
  return NULL;
}

gboolean
we_rtmp_server_start (WeRtmpServer *server, GError **error)
{
  g_autoptr(GSocketAddress) address = NULL;
  g_autoptr(GSocketAddress) bound = NULL;
  g_autoptr(GSocket) listener = NULL;

  g_return_val_if_fail (server->thread == NULL, FALSE);
  address = g_inet_socket_address_new_from_string (server->address, server->port);
  if (address == NULL) {
    g_set_error (error, WE_ERROR, WE_ERROR_STR_INVALID_REQUEST,
                 "not an IP address: %s", server->address);
    return FALSE;
  }
  listener = g_socket_new (g_socket_address_get_family (address), G_SOCKET_TYPE_STREAM,
                           G_SOCKET_PROTOCOL_TCP, error);
  if (listener == NULL)
    return FALSE;
  g_socket_set_blocking (listener, FALSE);
  if (!g_socket_bind (listener, address, TRUE, error) || !g_socket_listen (listener, error)) {
    g_prefix_error (error, "RTMP listener on %s:%u: ", server->address, server->port);
    return FALSE;
  }
  bound = g_socket_get_local_address (listener, error);
  if (bound == NULL)
    return FALSE;
  server->bound_port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
  server->listener = g_steal_pointer (&listener);

  server->accept_source = g_socket_create_source (server->listener, G_IO_IN, NULL);
  g_source_set_callback (server->accept_source, (GSourceFunc) (void (*) (void)) on_accept,
                         server, NULL);
  g_source_attach (server->accept_source, server->context);
  server->tick_source = g_timeout_source_new_seconds (1);
  g_source_set_callback (server->tick_source, on_tick, server, NULL);
  g_source_attach (server->tick_source, server->context);
  server->thread = g_thread_new ("we-rtmp-server", server_thread, server);
  g_object_notify_by_pspec (G_OBJECT (server), props[PROP_BOUND_PORT]);
  return TRUE;
}

void
we_rtmp_server_stop (WeRtmpServer *server)
{
  g_autoptr(GError) error = NULL;

  if (server->thread == NULL)
    return;
  g_main_loop_quit (server->loop);
  g_thread_join (g_steal_pointer (&server->thread));
  /* the loop is stopped: the connections are ours to end from here */
  g_main_context_push_thread_default (server->context);
  g_set_error_literal (&error, WE_ERROR, WE_ERROR_STR_INGEST_UNAVAILABLE,
                       "the RTMP server stopped");
  while (server->conns != NULL)
    conn_close (server->conns->data, error);
  g_source_destroy (server->accept_source);
  g_clear_pointer (&server->accept_source, g_source_unref);
  g_source_destroy (server->tick_source);
  g_clear_pointer (&server->tick_source, g_source_unref);
  g_socket_close (server->listener, NULL);
  g_clear_object (&server->listener);
  g_main_context_pop_thread_default (server->context);
}

guint
we_rtmp_server_get_bound_port (WeRtmpServer *server)
{
  return server->bound_port;
}

void
we_rtmp_server_add_stream_key (WeRtmpServer *server, const gchar *app, const gchar *key)
{
  g_return_if_fail (key != NULL);
  g_mutex_lock (&server->lock);
  g_hash_table_insert (server->keys, g_strdup (key), g_strdup (app != NULL ? app : ""));
  g_mutex_unlock (&server->lock);
}

void
we_rtmp_server_remove_stream_key (WeRtmpServer *server, const gchar *key)
{
  g_mutex_lock (&server->lock);
  g_hash_table_remove (server->keys, key);
  g_hash_table_remove (server->waiting, key);
  g_mutex_unlock (&server->lock);
}

WeRtmpSession *
we_rtmp_server_take_session (WeRtmpServer *server, const gchar *key, GCancellable *cancellable)
{
  WeRtmpSession *session = NULL;
  g_autofree gchar *stolen_key = NULL;

  g_mutex_lock (&server->lock);
  while (!g_cancellable_is_cancelled (cancellable)) {
    if (g_hash_table_steal_extended (server->waiting, key, (gpointer *) &stolen_key,
                                     (gpointer *) &session))
      break;
    /* see we_rtmp_session_pop() on the short waits */
    g_cond_wait_until (&server->cond, &server->lock,
                       g_get_monotonic_time () + 50 * G_TIME_SPAN_MILLISECOND);
  }
  g_mutex_unlock (&server->lock);
  return session;
}

/* ---- shared servers ---- */

static GMutex shared_lock;
/* "address:port" → GWeakRef: one server per port per process, for
 * elements of one gst-launch-1.0 line; the service passes its own */
static GHashTable *shared_servers;

static void
weak_ref_free (gpointer data)
{
  g_weak_ref_clear (data);
  g_free (data);
}

WeRtmpServer *
we_rtmp_server_get_shared (const gchar *address, guint port, guint timeout, GError **error)
{
  g_autofree gchar *id = g_strdup_printf ("%s:%u", address, port);
  g_autoptr(WeRtmpServer) server = NULL;
  GWeakRef *ref;

  g_mutex_lock (&shared_lock);
  if (shared_servers == NULL)
    shared_servers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, weak_ref_free);
  ref = port != 0 ? g_hash_table_lookup (shared_servers, id) : NULL;
  if (ref != NULL)
    server = g_weak_ref_get (ref);
  if (server == NULL) {
    server = we_rtmp_server_new (address, port);
    server->timeout = timeout;
    if (!we_rtmp_server_start (server, error)) {
      g_mutex_unlock (&shared_lock);
      return NULL;
    }
    if (port != 0) {
      ref = g_new0 (GWeakRef, 1);
      g_weak_ref_init (ref, server);
      g_hash_table_replace (shared_servers, g_strdup (id), ref);
    }
  }
  g_mutex_unlock (&shared_lock);
  return g_steal_pointer (&server);
}

/* ---- GObject ---- */

static void
we_rtmp_server_dispose (GObject *object)
{
  we_rtmp_server_stop (WE_RTMP_SERVER (object));
  G_OBJECT_CLASS (we_rtmp_server_parent_class)->dispose (object);
}

static void
we_rtmp_server_finalize (GObject *object)
{
  WeRtmpServer *self = WE_RTMP_SERVER (object);

  g_main_loop_unref (self->loop);
  g_main_context_unref (self->context);
  g_hash_table_unref (self->keys);
  g_hash_table_unref (self->active);
  g_hash_table_unref (self->waiting);
  g_mutex_clear (&self->lock);
  g_cond_clear (&self->cond);
  g_free (self->address);
  G_OBJECT_CLASS (we_rtmp_server_parent_class)->finalize (object);
}

static void
we_rtmp_server_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  WeRtmpServer *self = WE_RTMP_SERVER (object);

  switch (prop_id) {
  case PROP_ADDRESS:
    g_value_set_string (value, self->address);
    break;
  case PROP_PORT:
    g_value_set_uint (value, self->port);
    break;
  case PROP_BOUND_PORT:
    g_value_set_uint (value, self->bound_port);
    break;
  case PROP_TIMEOUT:
    g_value_set_uint (value, self->timeout);
    break;
  case PROP_MAX_CONNECTIONS:
    g_value_set_uint (value, self->max_connections);
    break;
  case PROP_ALLOW_TAKEOVER:
    g_value_set_boolean (value, g_atomic_int_get (&self->allow_takeover));
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
we_rtmp_server_set_property (GObject *object, guint prop_id, const GValue *value,
                             GParamSpec *pspec)
{
  WeRtmpServer *self = WE_RTMP_SERVER (object);

  switch (prop_id) {
  case PROP_ADDRESS:
    g_free (self->address);
    self->address = g_value_dup_string (value);
    break;
  case PROP_PORT:
    self->port = g_value_get_uint (value);
    break;
  case PROP_TIMEOUT:
    /* read by the server thread once a second; a torn read is harmless */
    self->timeout = g_value_get_uint (value);
    break;
  case PROP_MAX_CONNECTIONS:
    self->max_connections = g_value_get_uint (value);
    break;
  case PROP_ALLOW_TAKEOVER:
    g_atomic_int_set (&self->allow_takeover, g_value_get_boolean (value));
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
we_rtmp_server_class_init (WeRtmpServerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = we_rtmp_server_dispose;
  object_class->finalize = we_rtmp_server_finalize;
  object_class->get_property = we_rtmp_server_get_property;
  object_class->set_property = we_rtmp_server_set_property;

  props[PROP_ADDRESS] = g_param_spec_string ("address", NULL, NULL, "0.0.0.0",
                                             G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY |
                                               G_PARAM_STATIC_STRINGS);
  props[PROP_PORT] = g_param_spec_uint ("port", NULL, NULL, 0, 65535, WE_RTMP_DEFAULT_PORT,
                                        G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY |
                                          G_PARAM_STATIC_STRINGS);
  props[PROP_BOUND_PORT] = g_param_spec_uint ("bound-port", NULL, NULL, 0, 65535, 0,
                                              G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  props[PROP_TIMEOUT] = g_param_spec_uint ("timeout", NULL, NULL, 0, 3600,
                                           WE_RTMP_DEFAULT_TIMEOUT,
                                           G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  props[PROP_MAX_CONNECTIONS] =
    g_param_spec_uint ("max-connections", NULL, NULL, 1, 65535, WE_RTMP_DEFAULT_MAX_CONNECTIONS,
                       G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  /* an accepted publish of a key that is publishing already sends the
   * old publisher away (a reconnect whose old connection has not timed
   * out yet) instead of being refused; keys added with
   * we_rtmp_server_add_stream_key() and not yet taken are never taken over */
  props[PROP_ALLOW_TAKEOVER] =
    g_param_spec_boolean ("allow-takeover", NULL, NULL, FALSE,
                          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, props);

  /**
   * WeRtmpServer::publish-attempt:
   * @app: the application of the connect command
   * @key: the publish name without its "?query"
   * @remote: the publisher's address:port
   *
   * Whether to accept a publish whose key was not added with
   * we_rtmp_server_add_stream_key(). Emitted on the server's thread, before
   * any media is read; no handler (or FALSE) refuses.
   */
  signals[SIGNAL_PUBLISH_ATTEMPT] =
    g_signal_new ("publish-attempt", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  g_signal_accumulator_first_wins, NULL, NULL, G_TYPE_BOOLEAN, 3,
                  G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING);
  /* (session): on the server's thread */
  signals[SIGNAL_PUBLISH_STARTED] =
    g_signal_new ("publish-started", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL,
                  NULL, NULL, G_TYPE_NONE, 1, WE_TYPE_RTMP_SESSION);
  /* (session, reason: WeRtmpEndReason, message: for errors): on the
   * server's thread */
  signals[SIGNAL_PUBLISH_ENDED] =
    g_signal_new ("publish-ended", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                  NULL, G_TYPE_NONE, 3, WE_TYPE_RTMP_SESSION, G_TYPE_INT, G_TYPE_STRING);
}

static void
we_rtmp_server_init (WeRtmpServer *self)
{
  self->address = g_strdup ("0.0.0.0");
  self->port = WE_RTMP_DEFAULT_PORT;
  self->timeout = WE_RTMP_DEFAULT_TIMEOUT;
  self->max_connections = WE_RTMP_DEFAULT_MAX_CONNECTIONS;
  self->context = g_main_context_new ();
  self->loop = g_main_loop_new (self->context, FALSE);
  g_mutex_init (&self->lock);
  g_cond_init (&self->cond);
  self->keys = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->active = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);
  self->waiting = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);
}

WeRtmpServer *
we_rtmp_server_new (const gchar *address, guint port)
{
  return g_object_new (WE_TYPE_RTMP_SERVER, "address", address != NULL ? address : "0.0.0.0",
                       "port", port, NULL);
}
