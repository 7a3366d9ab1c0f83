/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "we-srt-server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <syslog.h>

#include <gio/gio.h>
#include <srt/access_control.h>
#include <srt/srt.h>

#include "webencode/we-error.h"

GST_DEBUG_CATEGORY_STATIC (we_srt_server_debug);
#define GST_CAT_DEFAULT we_srt_server_debug

/* SRT's limit on a streamid (SRTO_STREAMID) */
#define STREAM_ID_MAX 512
/* a live-mode SRT message carries at most 1456 bytes */
#define RECV_SIZE 1500
/* libsrt's bounds on SRTO_PASSPHRASE */
#define PASSPHRASE_MIN 10
#define PASSPHRASE_MAX 79
#define TICK_US G_USEC_PER_SEC

/* ------------------------------------------------------------------ */
/* session */

struct _WeSrtSession {
  GObject parent;

  SRTSOCKET sock;
  guint64   id;
  gchar    *key;
  gchar    *remote;
  gsize     max_buffer;
  gint      close_requested; /* atomic: we_srt_session_close() */

  /* under lock: the reader (an element's streaming thread) and the server
   * thread meet here */
  GMutex        lock;
  GCond         cond;
  GByteArray   *buffer;
  gboolean      ended;
  gchar        *end_reason;
  GstStructure *stats;
  guint64       bytes_overflow;

  /* the server thread's alone */
  gint64  started_us;
  gint64  last_data_us;
  gint64  last_stats_us;
  guint64 bytes_received;
  gint64  packets_retransmitted;
};

enum {
  SESSION_PROP_0,
  SESSION_PROP_STATS,
};

G_DEFINE_FINAL_TYPE (WeSrtSession, we_srt_session, G_TYPE_OBJECT)

static gsize next_session_id = 1; /* atomic */

static void
we_srt_session_finalize (GObject *object)
{
  WeSrtSession *self = WE_SRT_SESSION (object);

  g_free (self->key);
  g_free (self->remote);
  g_byte_array_unref (self->buffer);
  g_free (self->end_reason);
  gst_structure_free (self->stats);
  g_mutex_clear (&self->lock);
  g_cond_clear (&self->cond);
  G_OBJECT_CLASS (we_srt_session_parent_class)->finalize (object);
}

static void
we_srt_session_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  WeSrtSession *self = WE_SRT_SESSION (object);

  switch (prop_id) {
  case SESSION_PROP_STATS:
    g_value_take_boxed (value, we_srt_session_get_stats (self));
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
we_srt_session_class_init (WeSrtSessionClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = we_srt_session_finalize;
  object_class->get_property = we_srt_session_get_property;
  g_object_class_install_property (object_class, SESSION_PROP_STATS,
    g_param_spec_boxed ("stats", "Statistics",
                        "libsrt statistics of the connection, refreshed once a second",
                        GST_TYPE_STRUCTURE, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));
}

static void
we_srt_session_init (WeSrtSession *self)
{
  g_mutex_init (&self->lock);
  g_cond_init (&self->cond);
  self->buffer = g_byte_array_new ();
  self->sock = SRT_INVALID_SOCK;
}

static GstStructure *
stats_new (WeSrtSession *self, gdouble rtt_ms, gdouble bitrate, gdouble bandwidth,
           gint64 packets_received, gint64 lost, gint64 dropped, gint64 uptime_ms)
{
  return gst_structure_new (WE_SRT_STATS_NAME,
                            "session-id", G_TYPE_UINT64, self->id,
                            "remote-address", G_TYPE_STRING, self->remote,
                            "rtt-ms", G_TYPE_DOUBLE, rtt_ms,
                            "bitrate", G_TYPE_DOUBLE, bitrate,
                            "bandwidth-mbps", G_TYPE_DOUBLE, bandwidth,
                            "bytes-received", G_TYPE_UINT64, self->bytes_received,
                            "packets-received", G_TYPE_INT64, packets_received,
                            "packets-lost", G_TYPE_INT64, lost,
                            "packets-dropped", G_TYPE_INT64, dropped,
                            "packets-retransmitted", G_TYPE_INT64, self->packets_retransmitted,
                            "bytes-overflow", G_TYPE_UINT64, self->bytes_overflow,
                            "uptime-ms", G_TYPE_INT64, uptime_ms,
                            NULL);
}

static WeSrtSession *
session_new (SRTSOCKET sock, gchar *key, gchar *remote, gsize max_buffer)
{
  WeSrtSession *self = g_object_new (WE_TYPE_SRT_SESSION, NULL);

  self->sock = sock;
  self->id = (guint64) g_atomic_pointer_add (&next_session_id, 1);
  self->key = key;
  self->remote = remote;
  self->max_buffer = max_buffer;
  self->started_us = g_get_monotonic_time ();
  self->last_data_us = self->started_us;
  self->last_stats_us = self->started_us;
  self->stats = stats_new (self, 0, 0, 0, 0, 0, 0, 0);
  return self;
}

/* server thread: bytes from the publisher */
static void
session_push (WeSrtSession *self, const guint8 *data, gsize len)
{
  g_mutex_lock (&self->lock);
  self->bytes_received += len;
  /* a reader that falls behind loses the newest bytes rather than stall
   * the thread every publisher of the port depends on; tsdemux resyncs on
   * the next packet */
  if (self->buffer->len + len > self->max_buffer) {
    if (self->bytes_overflow == 0)
      GST_WARNING ("session %" G_GUINT64_FORMAT ": reader too slow, dropping data", self->id);
    self->bytes_overflow += len;
  } else {
    g_byte_array_append (self->buffer, data, len);
    g_cond_broadcast (&self->cond);
  }
  g_mutex_unlock (&self->lock);
}

/* server thread: libsrt statistics since the last call */
static void
session_update_stats (WeSrtSession *self, gint64 now)
{
  SRT_TRACEBSTATS perf;
  gdouble span_s = (gdouble) (now - self->last_stats_us) / G_USEC_PER_SEC;

  memset (&perf, 0, sizeof perf);
  if (srt_bstats (self->sock, &perf, 1) != 0)
    return;
  self->packets_retransmitted += perf.pktRcvRetrans;
  self->last_stats_us = now;
  g_mutex_lock (&self->lock);
  gst_structure_free (self->stats);
  self->stats = stats_new (self, perf.msRTT,
                           span_s > 0 ? (gdouble) perf.byteRecv * 8 / span_s : 0,
                           perf.mbpsBandwidth, perf.pktRecvTotal, perf.pktRcvLossTotal,
                           perf.pktRcvDropTotal, (now - self->started_us) / 1000);
  g_mutex_unlock (&self->lock);
}

static void
session_wake (GCancellable *cancellable, gpointer data)
{
  WeSrtSession *self = data;

  (void) cancellable;
  g_mutex_lock (&self->lock);
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
}

GBytes *
we_srt_session_pop (WeSrtSession *self, gint64 timeout_us, GCancellable *cancellable,
                    GError **error)
{
  gint64 end = timeout_us < 0 ? -1 : g_get_monotonic_time () + timeout_us;
  gulong handler = 0;
  GBytes *bytes = NULL;

  g_return_val_if_fail (WE_IS_SRT_SESSION (self), NULL);

  if (cancellable != NULL)
    handler = g_cancellable_connect (cancellable, G_CALLBACK (session_wake), self, NULL);
  g_mutex_lock (&self->lock);
  while (self->buffer->len == 0 && !self->ended &&
         !g_cancellable_is_cancelled (cancellable)) {
    if (end < 0)
      g_cond_wait (&self->cond, &self->lock);
    else if (!g_cond_wait_until (&self->cond, &self->lock, end))
      break;
  }
  if (self->buffer->len > 0) {
    bytes = g_byte_array_free_to_bytes (self->buffer);
    self->buffer = g_byte_array_new ();
  } else if (self->ended) {
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_CLOSED, self->end_reason);
  } else if (g_cancellable_is_cancelled (cancellable)) {
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_CANCELLED, "cancelled");
  } else {
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT, "no data");
  }
  g_mutex_unlock (&self->lock);
  if (handler != 0)
    g_cancellable_disconnect (cancellable, handler);
  return bytes;
}

void
we_srt_session_close (WeSrtSession *self)
{
  g_return_if_fail (WE_IS_SRT_SESSION (self));
  g_atomic_int_set (&self->close_requested, 1);
}

gboolean
we_srt_session_is_ended (WeSrtSession *self)
{
  gboolean ended;

  g_return_val_if_fail (WE_IS_SRT_SESSION (self), TRUE);
  g_mutex_lock (&self->lock);
  ended = self->ended;
  g_mutex_unlock (&self->lock);
  return ended;
}

gchar *
we_srt_session_dup_end_reason (WeSrtSession *self)
{
  gchar *reason;

  g_return_val_if_fail (WE_IS_SRT_SESSION (self), NULL);
  g_mutex_lock (&self->lock);
  reason = g_strdup (self->end_reason);
  g_mutex_unlock (&self->lock);
  return reason;
}

GstStructure *
we_srt_session_get_stats (WeSrtSession *self)
{
  GstStructure *stats;

  g_return_val_if_fail (WE_IS_SRT_SESSION (self), NULL);
  g_mutex_lock (&self->lock);
  stats = gst_structure_copy (self->stats);
  g_mutex_unlock (&self->lock);
  return stats;
}

const gchar *
we_srt_session_get_stream_key (WeSrtSession *self)
{
  g_return_val_if_fail (WE_IS_SRT_SESSION (self), NULL);
  return self->key;
}

const gchar *
we_srt_session_get_remote_address (WeSrtSession *self)
{
  g_return_val_if_fail (WE_IS_SRT_SESSION (self), NULL);
  return self->remote;
}

guint64
we_srt_session_get_id (WeSrtSession *self)
{
  g_return_val_if_fail (WE_IS_SRT_SESSION (self), 0);
  return self->id;
}

/* ------------------------------------------------------------------ */
/* stream id */

static gboolean
key_is_valid (const gchar *key)
{
  gsize len = strlen (key);

  if (len == 0 || len > 256)
    return FALSE;
  for (const gchar *p = key; *p != '\0'; p++) {
    if (!g_ascii_isgraph (*p) || *p == ',')
      return FALSE;
  }
  return TRUE;
}

gchar *
we_srt_parse_stream_id (const gchar *stream_id, gint *reject)
{
  g_autofree gchar *key = NULL;
  gint dummy;

  if (reject == NULL)
    reject = &dummy;
  *reject = SRT_REJX_BAD_REQUEST;
  if (stream_id == NULL || strlen (stream_id) > STREAM_ID_MAX)
    return NULL;

  if (g_str_has_prefix (stream_id, "publish:")) {
    key = g_strdup (stream_id + strlen ("publish:"));
  } else if (g_str_has_prefix (stream_id, "#!::")) {
    g_auto(GStrv) pairs = g_strsplit (stream_id + strlen ("#!::"), ",", 32);
    const gchar *mode = NULL;

    for (guint i = 0; pairs[i] != NULL; i++) {
      const gchar *eq = strchr (pairs[i], '=');

      if (eq == NULL)
        return NULL;
      if (strncmp (pairs[i], "r=", 2) == 0) {
        if (key != NULL)
          return NULL;
        key = g_strdup (eq + 1);
      } else if (strncmp (pairs[i], "m=", 2) == 0) {
        mode = eq + 1;
      }
      /* u=, h=, s=, t= and custom keys: nothing we need */
    }
    /* an ingest only takes publishers: m=request (play) would never get
     * a byte; a missing m is taken as publish, OBS users often leave it
     * out */
    if (mode != NULL && g_strcmp0 (mode, "publish") != 0) {
      *reject = SRT_REJX_BAD_MODE;
      return NULL;
    }
  } else if (g_str_has_prefix (stream_id, "read:") || g_str_has_prefix (stream_id, "request:")) {
    *reject = SRT_REJX_BAD_MODE;
    return NULL;
  }
  if (key == NULL || !key_is_valid (key))
    return NULL;
  *reject = 0;
  return g_steal_pointer (&key);
}

/* keys are secrets: logs show their beginning only */
static gchar *
mask_key (const gchar *key)
{
  return g_strdup_printf ("%.3s…(%zu)", key, strlen (key));
}

static gchar *
address_to_string (const struct sockaddr *sa)
{
  gchar host[INET6_ADDRSTRLEN] = "?";
  guint port = 0;

  if (sa == NULL)
    return g_strdup ("?");
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *) sa;

    inet_ntop (AF_INET, &in->sin_addr, host, sizeof host);
    port = ntohs (in->sin_port);
    return g_strdup_printf ("%s:%u", host, port);
  }
  if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *) sa;

    inet_ntop (AF_INET6, &in6->sin6_addr, host, sizeof host);
    port = ntohs (in6->sin6_port);
    return g_strdup_printf ("[%s]:%u", host, port);
  }
  return g_strdup ("?");
}

/* ------------------------------------------------------------------ */
/* server */

struct _WeSrtServer {
  GObject parent;

  /* properties, set before start */
  gchar *address;
  guint  port;
  guint  idle_timeout; /* ms */
  guint  latency;      /* ms */
  guint  max_sessions;
  guint  max_buffer;

  GMutex      lock;
  gboolean    accepting;  /* under lock: the listener callback reads it */
  GHashTable *sessions;   /* under lock: SRTSOCKET -> WeSrtSession (owned) */
  GHashTable *keys;       /* under lock: stream key -> passphrase ("" for none) */
  guint       bound_port; /* under lock */

  SRTSOCKET listener;
  int       eid;
  GThread  *thread;
  gint      stopping; /* atomic */
};

enum {
  PROP_0,
  PROP_ADDRESS,
  PROP_PORT,
  PROP_BOUND_PORT,
  PROP_IDLE_TIMEOUT,
  PROP_LATENCY,
  PROP_MAX_SESSIONS,
  PROP_MAX_BUFFER,
};

enum {
  SIGNAL_PUBLISH_ATTEMPT,
  SIGNAL_PUBLISH_STARTED,
  SIGNAL_PUBLISH_ENDED,
  N_SIGNALS,
};

static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (WeSrtServer, we_srt_server, G_TYPE_OBJECT)

/* libsrt's own log lines (rejections, handshake failures) go to our debug
 * category rather than stderr */
static void
srt_log (void *opaque, int level, const char *file, int line, const char *area, const char *msg)
{
  (void) opaque;
  (void) file;
  (void) line;
  GST_CAT_LEVEL_LOG (we_srt_server_debug, level <= LOG_ERR ? GST_LEVEL_INFO : GST_LEVEL_DEBUG,
                     NULL, "libsrt %s: %s", area, msg);
}

static void
we_srt_server_finalize (GObject *object)
{
  WeSrtServer *self = WE_SRT_SERVER (object);

  we_srt_server_stop (self);
  g_hash_table_unref (self->sessions);
  g_hash_table_unref (self->keys);
  g_free (self->address);
  g_mutex_clear (&self->lock);
  G_OBJECT_CLASS (we_srt_server_parent_class)->finalize (object);
}

static void
we_srt_server_set_property (GObject *object, guint prop_id, const GValue *value,
                            GParamSpec *pspec)
{
  WeSrtServer *self = WE_SRT_SERVER (object);

  if (self->thread != NULL) {
    g_warning ("WeSrtServer: %s cannot change while the server runs", pspec->name);
    return;
  }
  switch (prop_id) {
  case PROP_ADDRESS:
    g_free (self->address);
    self->address = g_value_dup_string (value);
    break;
  case PROP_PORT:
    self->port = g_value_get_uint (value);
    break;
  case PROP_IDLE_TIMEOUT:
    self->idle_timeout = g_value_get_uint (value);
    break;
  case PROP_LATENCY:
    self->latency = g_value_get_uint (value);
    break;
  case PROP_MAX_SESSIONS:
    self->max_sessions = g_value_get_uint (value);
    break;
  case PROP_MAX_BUFFER:
    self->max_buffer = g_value_get_uint (value);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
we_srt_server_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  WeSrtServer *self = WE_SRT_SERVER (object);

  switch (prop_id) {
  case PROP_ADDRESS:
    g_value_set_string (value, self->address);
    break;
  case PROP_PORT:
    g_value_set_uint (value, self->port);
    break;
  case PROP_BOUND_PORT:
    g_value_set_uint (value, we_srt_server_get_bound_port (self));
    break;
  case PROP_IDLE_TIMEOUT:
    g_value_set_uint (value, self->idle_timeout);
    break;
  case PROP_LATENCY:
    g_value_set_uint (value, self->latency);
    break;
  case PROP_MAX_SESSIONS:
    g_value_set_uint (value, self->max_sessions);
    break;
  case PROP_MAX_BUFFER:
    g_value_set_uint (value, self->max_buffer);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static gpointer
init_logging (gpointer data)
{
  (void) data;
  GST_DEBUG_CATEGORY_INIT (we_srt_server_debug, "wesrtserver", 0, "WebEncode SRT ingest server");
  srt_setloghandler (NULL, srt_log);
  srt_setloglevel (LOG_NOTICE);
  return NULL;
}

static void
we_srt_server_class_init (WeSrtServerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  static GOnce once = G_ONCE_INIT;

  g_once (&once, init_logging, NULL);

  object_class->finalize = we_srt_server_finalize;
  object_class->set_property = we_srt_server_set_property;
  object_class->get_property = we_srt_server_get_property;

  g_object_class_install_property (object_class, PROP_ADDRESS,
    g_param_spec_string ("address", "Address", "Local IP address to listen on", "0.0.0.0",
                         G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (object_class, PROP_PORT,
    g_param_spec_uint ("port", "Port", "UDP port to listen on (0: any free port)", 0, 65535,
                       WE_SRT_SERVER_DEFAULT_PORT, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (object_class, PROP_BOUND_PORT,
    g_param_spec_uint ("bound-port", "Bound port", "The port listened on, 0 when not listening",
                       0, 65535, 0, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (object_class, PROP_IDLE_TIMEOUT,
    g_param_spec_uint ("idle-timeout", "Idle timeout",
                       "Milliseconds without media (or without any packet) before a publisher "
                       "is disconnected",
                       1000, 600000, WE_SRT_SERVER_DEFAULT_IDLE_TIMEOUT,
                       G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (object_class, PROP_LATENCY,
    g_param_spec_uint ("latency", "Latency", "SRT receiver latency in milliseconds", 20, 8000,
                       WE_SRT_SERVER_DEFAULT_LATENCY, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (object_class, PROP_MAX_SESSIONS,
    g_param_spec_uint ("max-sessions", "Max sessions", "Publishers served at once", 1, 4096,
                       WE_SRT_SERVER_DEFAULT_MAX_SESSIONS,
                       G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (object_class, PROP_MAX_BUFFER,
    g_param_spec_uint ("max-buffer", "Max buffer",
                       "Bytes a session holds for a reader that falls behind", 65536, 1 << 30,
                       WE_SRT_SERVER_DEFAULT_MAX_BUFFER,
                       G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));

  /**
   * WeSrtServer::publish-attempt:
   * @server: the server
   * @stream_key: the key from the caller's streamid
   * @remote_address: the caller's "host:port"
   * @reply: a writable structure: set "passphrase" (string, 10 to 79
   *   characters) for an encrypted stream, or on refusal "reject-reason"
   *   (int, an SRT_REJX_* code; 1403 forbidden by default)
   *
   * Whether @stream_key may publish, for keys not added with
   * we_srt_server_add_stream_key(). Emitted from libsrt's handshake
   * thread during the handshake: answer quickly and without blocking. No
   * handler (or FALSE) refuses.
   *
   * Returns: TRUE to accept
   */
  signals[SIGNAL_PUBLISH_ATTEMPT] =
    g_signal_new ("publish-attempt", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  g_signal_accumulator_first_wins, NULL, NULL, G_TYPE_BOOLEAN, 3, G_TYPE_STRING,
                  G_TYPE_STRING, GST_TYPE_STRUCTURE | G_SIGNAL_TYPE_STATIC_SCOPE);
  /**
   * WeSrtServer::publish-started:
   * @session: the new #WeSrtSession
   *
   * A publisher is connected (its passphrase matched); its bytes are read
   * into @session from now on. Emitted from the server's thread.
   */
  signals[SIGNAL_PUBLISH_STARTED] =
    g_signal_new ("publish-started", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL,
                  NULL, NULL, G_TYPE_NONE, 1, WE_TYPE_SRT_SESSION);
  /**
   * WeSrtServer::publish-ended:
   * @session: the session
   * @reason: one of the WE_SRT_END_* strings
   *
   * The publisher is gone; what it sent can still be popped from @session.
   * Emitted from the server's thread.
   */
  signals[SIGNAL_PUBLISH_ENDED] =
    g_signal_new ("publish-ended", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL,
                  NULL, NULL, G_TYPE_NONE, 2, WE_TYPE_SRT_SESSION, G_TYPE_STRING);
}

static void
we_srt_server_init (WeSrtServer *self)
{
  g_mutex_init (&self->lock);
  self->address = g_strdup ("0.0.0.0");
  self->port = WE_SRT_SERVER_DEFAULT_PORT;
  self->idle_timeout = WE_SRT_SERVER_DEFAULT_IDLE_TIMEOUT;
  self->latency = WE_SRT_SERVER_DEFAULT_LATENCY;
  self->max_sessions = WE_SRT_SERVER_DEFAULT_MAX_SESSIONS;
  self->max_buffer = WE_SRT_SERVER_DEFAULT_MAX_BUFFER;
  self->sessions = g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL, g_object_unref);
  self->keys = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->listener = SRT_INVALID_SOCK;
  self->eid = -1;
}

static GMutex      shared_lock;
static GHashTable *shared_servers; /* "address:port" -> GWeakRef of a WeSrtServer */

static void
weak_ref_free (gpointer data)
{
  g_weak_ref_clear (data);
  g_free (data);
}

WeSrtServer *
we_srt_server_get_shared (const gchar *address, guint port, guint idle_timeout, guint latency,
                          GError **error)
{
  g_autofree gchar *id = g_strdup_printf ("%s:%u", address, port);
  g_autoptr(WeSrtServer) server = NULL;
  GWeakRef *ref;

  g_return_val_if_fail (address != NULL, NULL);
  g_mutex_lock (&shared_lock);
  if (shared_servers == NULL)
    shared_servers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, weak_ref_free);
  ref = port != 0 ? g_hash_table_lookup (shared_servers, id) : NULL;
  if (ref != NULL)
    server = g_weak_ref_get (ref);
  if (server == NULL) {
    server = g_object_new (WE_TYPE_SRT_SERVER, "address", address, "port", port,
                           "idle-timeout", idle_timeout, "latency", latency, NULL);
    if (!we_srt_server_start (server, error)) {
      g_mutex_unlock (&shared_lock);
      return NULL;
    }
    if (port != 0) {
      ref = g_new0 (GWeakRef, 1);
      g_weak_ref_init (ref, server);
      g_hash_table_replace (shared_servers, g_steal_pointer (&id), ref);
    }
  }
  g_mutex_unlock (&shared_lock);
  return g_steal_pointer (&server);
}

void
we_srt_server_add_stream_key (WeSrtServer *self, const gchar *stream_key,
                              const gchar *passphrase)
{
  g_return_if_fail (WE_IS_SRT_SERVER (self));
  g_return_if_fail (stream_key != NULL);
  g_mutex_lock (&self->lock);
  g_hash_table_replace (self->keys, g_strdup (stream_key), g_strdup (passphrase ? passphrase : ""));
  g_mutex_unlock (&self->lock);
}

void
we_srt_server_remove_stream_key (WeSrtServer *self, const gchar *stream_key)
{
  g_return_if_fail (WE_IS_SRT_SERVER (self));
  g_mutex_lock (&self->lock);
  g_hash_table_remove (self->keys, stream_key);
  g_mutex_unlock (&self->lock);
}

WeSrtServer *
we_srt_server_new (void)
{
  return g_object_new (WE_TYPE_SRT_SERVER, NULL);
}

guint
we_srt_server_get_bound_port (WeSrtServer *self)
{
  guint port;

  g_return_val_if_fail (WE_IS_SRT_SERVER (self), 0);
  g_mutex_lock (&self->lock);
  port = self->bound_port;
  g_mutex_unlock (&self->lock);
  return port;
}

WeSrtSession *
we_srt_server_find_session (WeSrtServer *self, const gchar *stream_key)
{
  GHashTableIter iter;
  gpointer value;
  WeSrtSession *found = NULL;

  g_return_val_if_fail (WE_IS_SRT_SERVER (self), NULL);
  g_return_val_if_fail (stream_key != NULL, NULL);
  g_mutex_lock (&self->lock);
  g_hash_table_iter_init (&iter, self->sessions);
  while (g_hash_table_iter_next (&iter, NULL, &value)) {
    WeSrtSession *session = value;

    if (g_strcmp0 (session->key, stream_key) == 0) {
      found = g_object_ref (session);
      break;
    }
  }
  g_mutex_unlock (&self->lock);
  return found;
}

GPtrArray *
we_srt_server_list_sessions (WeSrtServer *self)
{
  GPtrArray *list = g_ptr_array_new_with_free_func (g_object_unref);
  GHashTableIter iter;
  gpointer value;

  g_return_val_if_fail (WE_IS_SRT_SERVER (self), list);
  g_mutex_lock (&self->lock);
  g_hash_table_iter_init (&iter, self->sessions);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    g_ptr_array_add (list, g_object_ref (value));
  g_mutex_unlock (&self->lock);
  return list;
}

static int
refuse (SRTSOCKET ns, int reason)
{
  srt_setrejectreason (ns, reason);
  return -1;
}

/* libsrt's handshake thread, before the caller is accepted: whatever is
 * set on @ns here applies to the connection being made */
static int
listen_callback (void *opaque, SRTSOCKET ns, int hs_version, const struct sockaddr *peer,
                 const char *stream_id)
{
  WeSrtServer *self = opaque;
  g_autofree gchar *remote = address_to_string (peer);
  g_autofree gchar *key = NULL;
  g_autofree gchar *masked = NULL;
  g_autofree gchar *known = NULL;
  g_autoptr(GstStructure) reply = NULL;
  const gchar *passphrase;
  gboolean accepting, accept = FALSE;
  guint running;
  gint reject = 0;

  /* HSv4 callers (libsrt < 1.3) send no streamid */
  if (hs_version < 5) {
    GST_INFO ("refusing %s: SRT handshake v%d carries no streamid", remote, hs_version);
    return refuse (ns, SRT_REJX_VERSION);
  }
  key = we_srt_parse_stream_id (stream_id, &reject);
  if (key == NULL) {
    GST_INFO ("refusing %s: unusable streamid (reason %d)", remote, reject);
    return refuse (ns, reject);
  }
  masked = mask_key (key);

  g_mutex_lock (&self->lock);
  accepting = self->accepting;
  running = g_hash_table_size (self->sessions);
  known = g_strdup (g_hash_table_lookup (self->keys, key));
  g_mutex_unlock (&self->lock);
  if (!accepting)
    return refuse (ns, SRT_REJX_DOWN);
  if (running >= self->max_sessions) {
    GST_WARNING ("refusing %s (key %s): %u publishers already", remote, masked, running);
    return refuse (ns, SRT_REJX_OVERLOAD);
  }

  reply = gst_structure_new_empty ("we-srt-publish-reply");
  if (known != NULL) {
    accept = TRUE;
    gst_structure_set (reply, "passphrase", G_TYPE_STRING, known, NULL);
  } else {
    g_signal_emit (self, signals[SIGNAL_PUBLISH_ATTEMPT], 0, key, remote, reply, &accept);
  }
  if (!accept) {
    gint reason = SRT_REJX_FORBIDDEN;

    gst_structure_get_int (reply, "reject-reason", &reason);
    GST_INFO ("refusing %s (key %s): not allowed, reason %d", remote, masked, reason);
    return refuse (ns, reason);
  }
  passphrase = gst_structure_get_string (reply, "passphrase");
  if (passphrase != NULL && *passphrase != '\0') {
    gsize len = strlen (passphrase);

    if (len < PASSPHRASE_MIN || len > PASSPHRASE_MAX) {
      GST_WARNING ("refusing %s (key %s): the stream's passphrase has %zu characters, SRT "
                   "needs %d to %d", remote, masked, len, PASSPHRASE_MIN, PASSPHRASE_MAX);
      return refuse (ns, SRT_REJX_ISE);
    }
    if (srt_setsockflag (ns, SRTO_PASSPHRASE, passphrase, (int) len) != 0) {
      GST_WARNING ("refusing %s (key %s): cannot set the passphrase: %s", remote, masked,
                   srt_getlasterror_str ());
      return refuse (ns, SRT_REJX_ISE);
    }
  }
  GST_INFO ("handshake of %s (key %s) allowed%s", remote, masked,
            passphrase != NULL && *passphrase != '\0' ? ", encrypted" : "");
  return 0;
}

/* server thread: @session leaves; its socket is closed */
static void
end_session (WeSrtServer *self, WeSrtSession *session, const gchar *reason)
{
  g_autofree gchar *masked = mask_key (session->key);
  gint64 now = g_get_monotonic_time ();

  /* the totals up to the end, for the last statistics message */
  session_update_stats (session, now);
  srt_epoll_remove_usock (self->eid, session->sock);
  srt_close (session->sock);

  g_object_ref (session);
  g_mutex_lock (&self->lock);
  g_hash_table_remove (self->sessions, GINT_TO_POINTER (session->sock));
  g_mutex_unlock (&self->lock);

  g_mutex_lock (&session->lock);
  session->ended = TRUE;
  session->end_reason = g_strdup (reason);
  g_cond_broadcast (&session->cond);
  g_mutex_unlock (&session->lock);

  GST_INFO ("session %" G_GUINT64_FORMAT " (key %s, %s) ended: %s after %" G_GINT64_FORMAT
            " ms, %" G_GUINT64_FORMAT " bytes", session->id, masked, session->remote, reason,
            (now - session->started_us) / 1000, session->bytes_received);
  g_signal_emit (self, signals[SIGNAL_PUBLISH_ENDED], 0, session, reason);
  g_object_unref (session);
}

static WeSrtSession *
lookup (WeSrtServer *self, SRTSOCKET sock)
{
  WeSrtSession *session;

  g_mutex_lock (&self->lock);
  session = g_hash_table_lookup (self->sessions, GINT_TO_POINTER (sock));
  if (session != NULL)
    g_object_ref (session);
  g_mutex_unlock (&self->lock);
  return session;
}

static void
accept_all (WeSrtServer *self)
{
  for (;;) {
    struct sockaddr_storage ss;
    int ss_len = sizeof ss;
    gchar sid[STREAM_ID_MAX + 1];
    int sid_len = sizeof sid - 1;
    int events = SRT_EPOLL_IN | SRT_EPOLL_ERR;
    gboolean no = FALSE;
    SRTSOCKET sock = srt_accept (self->listener, (struct sockaddr *) &ss, &ss_len);
    g_autoptr(WeSrtSession) session = NULL;
    g_autoptr(WeSrtSession) old = NULL;
    g_autofree gchar *key = NULL;
    g_autofree gchar *masked = NULL;

    if (sock == SRT_INVALID_SOCK)
      return;
    memset (sid, 0, sizeof sid);
    if (srt_getsockflag (sock, SRTO_STREAMID, sid, &sid_len) != 0 ||
        (key = we_srt_parse_stream_id (sid, NULL)) == NULL) {
      /* the listener callback let it through, so this cannot happen */
      GST_WARNING ("accepted a socket without a usable streamid");
      srt_close (sock);
      continue;
    }
    srt_setsockflag (sock, SRTO_RCVSYN, &no, sizeof no);
    masked = mask_key (key);
    session = session_new (sock, g_steal_pointer (&key), address_to_string ((struct sockaddr *) &ss),
                           self->max_buffer);
    if (srt_epoll_add_usock (self->eid, sock, &events) != 0) {
      GST_WARNING ("cannot watch the socket of %s: %s", session->remote, srt_getlasterror_str ());
      srt_close (sock);
      continue;
    }

    /* the same key again: the new connection wins at once, the old one
     * (often a publisher whose network changed, not yet timed out) goes */
    old = we_srt_server_find_session (self, session->key);
    if (old != NULL)
      end_session (self, old, WE_SRT_END_REPLACED);

    g_mutex_lock (&self->lock);
    g_hash_table_insert (self->sessions, GINT_TO_POINTER (sock), g_object_ref (session));
    g_mutex_unlock (&self->lock);
    GST_INFO ("session %" G_GUINT64_FORMAT " (key %s) from %s started", session->id, masked,
              session->remote);
    g_signal_emit (self, signals[SIGNAL_PUBLISH_STARTED], 0, session);
  }
}

/* why a connection broke: a publisher that said goodbye sent data until the
 * end; one that vanished (killed, unplugged) went silent first, until
 * libsrt's peer idle timeout gave up on it */
static const gchar *
broken_reason (WeSrtServer *self, WeSrtSession *session)
{
  gint64 silent_us = g_get_monotonic_time () - session->last_data_us;

  (void) self;
  /* live publishers send every few milliseconds */
  return silent_us >= 1500 * 1000 ? WE_SRT_END_TIMEOUT : WE_SRT_END_DISCONNECTED;
}

static void
read_socket (WeSrtServer *self, SRTSOCKET sock, int events, guint8 *buf)
{
  g_autoptr(WeSrtSession) session = lookup (self, sock);

  if (session == NULL) {
    srt_epoll_remove_usock (self->eid, sock);
    return;
  }
  if (events & SRT_EPOLL_IN) {
    for (;;) {
      int n = srt_recvmsg (sock, (char *) buf, RECV_SIZE);

      if (n > 0) {
        session->last_data_us = g_get_monotonic_time ();
        session_push (session, buf, (gsize) n);
        continue;
      }
      if (n == SRT_ERROR && srt_getlasterror (NULL) == SRT_EASYNCRCV)
        break;
      end_session (self, session, broken_reason (self, session));
      return;
    }
  }
  if ((events & SRT_EPOLL_ERR) || srt_getsockstate (sock) >= SRTS_BROKEN)
    end_session (self, session, broken_reason (self, session));
}

/* server thread, once a second: statistics and the idle check */
static void
tick (WeSrtServer *self, gint64 now)
{
  g_autoptr(GPtrArray) sessions = we_srt_server_list_sessions (self);

  for (guint i = 0; i < sessions->len; i++) {
    WeSrtSession *session = g_ptr_array_index (sessions, i);

    session_update_stats (session, now);
    /* a vanished publisher and one that keeps the connection alive
     * without sending media look alike until libsrt gives up on the first
     * (some 5 s at least, whatever SRTO_PEERIDLETIMEO says): both end here */
    if (now - session->last_data_us > (gint64) self->idle_timeout * 1000)
      end_session (self, session, WE_SRT_END_TIMEOUT);
  }
}

static void
close_requested (WeSrtServer *self)
{
  g_autoptr(GPtrArray) sessions = we_srt_server_list_sessions (self);

  for (guint i = 0; i < sessions->len; i++) {
    WeSrtSession *session = g_ptr_array_index (sessions, i);

    if (g_atomic_int_get (&session->close_requested))
      end_session (self, session, WE_SRT_END_CLOSED);
  }
}

static gpointer
server_thread (gpointer data)
{
  WeSrtServer *self = data;
  g_autofree guint8 *buf = g_malloc (RECV_SIZE);
  gint64 next_tick = g_get_monotonic_time () + TICK_US;

  while (!g_atomic_int_get (&self->stopping)) {
    SRT_EPOLL_EVENT events[64];
    /* 100 ms: how long stop() and we_srt_session_close() wait at most */
    int n = srt_epoll_uwait (self->eid, events, G_N_ELEMENTS (events), 100);
    gint64 now;

    for (int i = 0; i < n; i++) {
      if (events[i].fd == self->listener)
        accept_all (self);
      else
        read_socket (self, events[i].fd, events[i].events, buf);
    }
    close_requested (self);
    now = g_get_monotonic_time ();
    if (now >= next_tick) {
      tick (self, now);
      next_tick = now + TICK_US;
    }
  }

  {
    g_autoptr(GPtrArray) sessions = we_srt_server_list_sessions (self);

    for (guint i = 0; i < sessions->len; i++)
      end_session (self, g_ptr_array_index (sessions, i), WE_SRT_END_STOPPED);
  }
  return NULL;
}

static gboolean
set_flag (SRTSOCKET sock, SRT_SOCKOPT opt, int value, const gchar *name, GError **error)
{
  if (srt_setsockflag (sock, opt, &value, sizeof value) != 0) {
    g_set_error (error, WE_ERROR, WE_ERROR_STR_INGEST_UNAVAILABLE, "SRT option %s: %s", name,
                 srt_getlasterror_str ());
    return FALSE;
  }
  return TRUE;
}

static gboolean
open_listener (WeSrtServer *self, GError **error)
{
  struct sockaddr_storage ss;
  socklen_t ss_len;
  int len, no = 0, events = SRT_EPOLL_IN | SRT_EPOLL_ERR;

  memset (&ss, 0, sizeof ss);
  if (inet_pton (AF_INET, self->address, &((struct sockaddr_in *) &ss)->sin_addr) == 1) {
    ((struct sockaddr_in *) &ss)->sin_family = AF_INET;
    ((struct sockaddr_in *) &ss)->sin_port = htons (self->port);
    ss_len = sizeof (struct sockaddr_in);
  } else if (inet_pton (AF_INET6, self->address, &((struct sockaddr_in6 *) &ss)->sin6_addr) == 1) {
    ((struct sockaddr_in6 *) &ss)->sin6_family = AF_INET6;
    ((struct sockaddr_in6 *) &ss)->sin6_port = htons (self->port);
    ss_len = sizeof (struct sockaddr_in6);
  } else {
    g_set_error (error, WE_ERROR, WE_ERROR_STR_INVALID_REQUEST,
                 "SRT listen address %s is not an IP address", self->address);
    return FALSE;
  }

  self->listener = srt_create_socket ();
  if (self->listener == SRT_INVALID_SOCK) {
    g_set_error (error, WE_ERROR, WE_ERROR_STR_INGEST_UNAVAILABLE, "SRT socket: %s",
                 srt_getlasterror_str ());
    return FALSE;
  }
  /* accepted sockets inherit these: no blocking reads (the epoll thread
   * serves every publisher), the receiver latency, and the peer idle
   * timeout that notices a vanished publisher */
  if (!set_flag (self->listener, SRTO_RCVSYN, no, "rcvsyn", error) ||
      !set_flag (self->listener, SRTO_LATENCY, (int) self->latency, "latency", error) ||
      !set_flag (self->listener, SRTO_PEERIDLETIMEO, (int) self->idle_timeout, "peeridletimeo",
                 error))
    return FALSE;
  if (srt_bind (self->listener, (struct sockaddr *) &ss, (int) ss_len) != 0) {
    g_set_error (error, WE_ERROR, WE_ERROR_STR_INGEST_UNAVAILABLE, "SRT bind to %s port %u: %s",
                 self->address, self->port, srt_getlasterror_str ());
    return FALSE;
  }
  if (srt_listen_callback (self->listener, listen_callback, self) != 0 ||
      srt_listen (self->listener, (int) MIN (self->max_sessions, 128)) != 0) {
    g_set_error (error, WE_ERROR, WE_ERROR_STR_INGEST_UNAVAILABLE, "SRT listen: %s",
                 srt_getlasterror_str ());
    return FALSE;
  }
  len = sizeof ss;
  if (srt_getsockname (self->listener, (struct sockaddr *) &ss, &len) != 0) {
    g_set_error (error, WE_ERROR, WE_ERROR_STR_INGEST_UNAVAILABLE, "SRT getsockname: %s",
                 srt_getlasterror_str ());
    return FALSE;
  }
  self->eid = srt_epoll_create ();
  if (self->eid < 0 || srt_epoll_add_usock (self->eid, self->listener, &events) != 0) {
    g_set_error (error, WE_ERROR, WE_ERROR_STR_INGEST_UNAVAILABLE, "SRT epoll: %s",
                 srt_getlasterror_str ());
    return FALSE;
  }
  g_mutex_lock (&self->lock);
  self->bound_port = ss.ss_family == AF_INET6 ? ntohs (((struct sockaddr_in6 *) &ss)->sin6_port)
                                              : ntohs (((struct sockaddr_in *) &ss)->sin_port);
  self->accepting = TRUE;
  g_mutex_unlock (&self->lock);
  return TRUE;
}

static void
close_listener (WeSrtServer *self)
{
  g_mutex_lock (&self->lock);
  self->accepting = FALSE;
  self->bound_port = 0;
  g_mutex_unlock (&self->lock);
  if (self->listener != SRT_INVALID_SOCK)
    srt_close (self->listener);
  self->listener = SRT_INVALID_SOCK;
  if (self->eid >= 0)
    srt_epoll_release (self->eid);
  self->eid = -1;
}

gboolean
we_srt_server_start (WeSrtServer *self, GError **error)
{
  g_return_val_if_fail (WE_IS_SRT_SERVER (self), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (self->thread != NULL)
    return TRUE;
  /* reference counted by libsrt; balanced in stop() */
  if (srt_startup () < 0) {
    g_set_error (error, WE_ERROR, WE_ERROR_STR_INGEST_UNAVAILABLE, "libsrt: %s",
                 srt_getlasterror_str ());
    return FALSE;
  }
  if (!open_listener (self, error)) {
    close_listener (self);
    srt_cleanup ();
    return FALSE;
  }
  g_atomic_int_set (&self->stopping, 0);
  self->thread = g_thread_new ("we-srt-server", server_thread, self);
  GST_INFO ("SRT ingest listening on %s port %u", self->address, self->bound_port);
  return TRUE;
}

void
we_srt_server_stop (WeSrtServer *self)
{
  g_return_if_fail (WE_IS_SRT_SERVER (self));

  if (self->thread == NULL)
    return;
  /* no new handshakes, then the thread ends every session and leaves */
  g_mutex_lock (&self->lock);
  self->accepting = FALSE;
  g_mutex_unlock (&self->lock);
  g_atomic_int_set (&self->stopping, 1);
  g_thread_join (self->thread);
  self->thread = NULL;
  close_listener (self);
  srt_cleanup ();
}
