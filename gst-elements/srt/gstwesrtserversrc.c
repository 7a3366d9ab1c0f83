/* SPDX-License-Identifier: LGPL-2.1-or-later */

/**
 * SECTION:element-wesrtserversrc
 * @title: wesrtserversrc
 *
 * Pushes the MPEG-TS of one SRT publisher: the one whose streamid
 * (`publish:<key>` or `#!::r=<key>,m=publish`) names #GstWeSrtServerSrc:stream-key.
 *
 * Without #GstWeSrtServerSrc:server, the element listens on
 * #GstWeSrtServerSrc:address and #GstWeSrtServerSrc:port and admits its
 * key with #GstWeSrtServerSrc:passphrase; elements of one process with the
 * same address and port share that listener (we_srt_server_get_shared()),
 * so one gst-launch-1.0 line can take several publishers on one port.
 * Given a #WeSrtServer, it only picks its publisher from it: the
 * application admits keys (we_srt_server_add_stream_key() or the
 * server's `publish-attempt`), and any number of these elements, one per
 * stream, read from the one port.
 *
 * EOS when the publisher disconnects, times out or is closed; when the
 * same key connects again while its old connection lingers ("replaced"),
 * the element carries on with the new one (first buffer flagged DISCONT).
 * Every second, and once at the end, an element message `we-srt-stats`
 * carries the connection's statistics (rtt-ms, bitrate, packets-lost, …,
 * see we_srt_session_get_stats()) plus `eos` and, at the end, `reason`.
 *
 * ## Example launch line
 * |[
 * GST_PLUGIN_PATH=build/gst-elements gst-launch-1.0 -m wesrtserversrc port=8890 \
 *     stream-key=demo passphrase=0123456789 ! tsdemux ! h264parse ! fakesink
 * ffmpeg -re -f lavfi -i testsrc -c:v libx264 -f mpegts \
 *     'srt://127.0.0.1:8890?streamid=publish:demo&passphrase=0123456789'
 * ]|
 */

#include "config.h"

#include "gstwesrtserversrc.h"

#include <gio/gio.h>
#include <string.h>

#include "we-srt-server.h"

GST_DEBUG_CATEGORY_STATIC (gst_we_srt_server_src_debug);
#define GST_CAT_DEFAULT gst_we_srt_server_src_debug

#define STATS_INTERVAL_US G_USEC_PER_SEC
/* how long a replaced session waits for its successor (started right
 * after the old one ended, on the same thread) */
#define REPLACE_WAIT_US (2 * G_USEC_PER_SEC)

enum {
  PROP_0,
  PROP_PORT,
  PROP_ADDRESS,
  PROP_STREAM_KEY,
  PROP_PASSPHRASE,
  PROP_SERVER,
  PROP_BOUND_PORT,
  PROP_IDLE_TIMEOUT,
  PROP_LATENCY,
  PROP_STATS,
};

struct _GstWeSrtServerSrc {
  GstPushSrc parent;

  /* properties, under the object lock */
  guint        port;
  gchar       *address;
  gchar       *stream_key;
  gchar       *passphrase;
  WeSrtServer *server_prop;
  guint        idle_timeout;
  guint        latency;

  /* between start() and stop() */
  WeSrtServer *server;
  gboolean     own_server;
  gulong       started_id;
  struct _Link *link;      /* (unowned) what the started handler holds */
  gchar       *key;        /* copy of stream_key for the server's threads */
  gchar       *secret;     /* copy of passphrase */

  /* under lock: the server's thread hands sessions over */
  GMutex        lock;
  GCond         cond;
  WeSrtSession *session;   /* the one being read */
  WeSrtSession *next;      /* a newer one for the key */
  GCancellable *cancellable;

  /* streaming thread */
  gint64   next_stats_us;
  gboolean discont;
};

static GstStaticPadTemplate src_template =
  GST_STATIC_PAD_TEMPLATE ("src", GST_PAD_SRC, GST_PAD_ALWAYS,
                           GST_STATIC_CAPS ("video/mpegts, systemstream = (boolean) true"));

#define gst_we_srt_server_src_parent_class parent_class
G_DEFINE_TYPE (GstWeSrtServerSrc, gst_we_srt_server_src, GST_TYPE_PUSH_SRC);
GST_ELEMENT_REGISTER_DEFINE (wesrtserversrc, "wesrtserversrc", GST_RANK_NONE,
                             GST_TYPE_WE_SRT_SERVER_SRC);

/* What the server's "publish-started" handler holds instead of the
 * element: a handler already running when stop() disconnects it would
 * otherwise outlive the element; stop() clears @self under @lock. */
typedef struct _Link {
  gatomicrefcount    ref;
  GMutex             lock;
  GstWeSrtServerSrc *self;
} Link;

static Link *
link_new (GstWeSrtServerSrc *self)
{
  Link *link = g_new0 (Link, 1);

  g_atomic_ref_count_init (&link->ref);
  g_mutex_init (&link->lock);
  link->self = self;
  return link;
}

static void
link_unref (gpointer data, GClosure *closure)
{
  Link *link = data;

  (void) closure;
  if (g_atomic_ref_count_dec (&link->ref)) {
    g_mutex_clear (&link->lock);
    g_free (link);
  }
}

static void
link_cut (Link *link)
{
  g_mutex_lock (&link->lock);
  link->self = NULL;
  g_mutex_unlock (&link->lock);
}

/* server thread: a publisher of some key connected */
static void
on_publish_started (WeSrtServer *server, WeSrtSession *session, Link *link)
{
  GstWeSrtServerSrc *self;

  (void) server;
  g_mutex_lock (&link->lock);
  self = link->self;
  if (self != NULL && g_strcmp0 (we_srt_session_get_stream_key (session), self->key) == 0) {
    g_mutex_lock (&self->lock);
    g_clear_object (&self->next);
    self->next = g_object_ref (session);
    g_cond_broadcast (&self->cond);
    g_mutex_unlock (&self->lock);
  }
  g_mutex_unlock (&link->lock);
}

static void
wake (GCancellable *cancellable, GstWeSrtServerSrc *self)
{
  (void) cancellable;
  g_mutex_lock (&self->lock);
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
}

static gboolean
gst_we_srt_server_src_start (GstBaseSrc *src)
{
  GstWeSrtServerSrc *self = GST_WE_SRT_SERVER_SRC (src);
  g_autoptr(GError) error = NULL;
  g_autofree gchar *address = NULL;
  WeSrtServer *server;
  WeSrtSession *existing;
  guint port, idle_timeout, latency;

  GST_OBJECT_LOCK (self);
  g_free (self->key);
  self->key = g_strdup (self->stream_key);
  g_free (self->secret);
  self->secret = g_strdup (self->passphrase);
  self->own_server = self->server_prop == NULL;
  server = self->server_prop != NULL ? g_object_ref (self->server_prop) : NULL;
  address = g_strdup (self->address);
  port = self->port;
  idle_timeout = self->idle_timeout;
  latency = self->latency;
  GST_OBJECT_UNLOCK (self);

  if (self->key == NULL || *self->key == '\0') {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS, ("No stream key set"),
                       ("set the stream-key property"));
    return FALSE;
  }
  if (server == NULL) {
    server = we_srt_server_get_shared (address, port, idle_timeout, latency, &error);
    if (server == NULL) {
      GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ, ("Cannot listen for SRT publishers"),
                         ("%s", error->message));
      return FALSE;
    }
    we_srt_server_add_stream_key (server, self->key, self->secret);
  }
  self->cancellable = g_cancellable_new ();
  self->link = link_new (self);
  self->started_id = g_signal_connect_data (server, "publish-started",
                                            G_CALLBACK (on_publish_started), self->link,
                                            link_unref, 0);
  GST_OBJECT_LOCK (self);
  self->server = server;
  GST_OBJECT_UNLOCK (self);
  if (self->own_server)
    g_object_notify (G_OBJECT (self), "bound-port");

  /* a publisher that connected before we started */
  existing = we_srt_server_find_session (self->server, self->key);
  g_mutex_lock (&self->lock);
  if (existing != NULL && self->next == NULL)
    self->next = existing;
  else
    g_clear_object (&existing);
  g_mutex_unlock (&self->lock);
  self->next_stats_us = 0;
  self->discont = FALSE;
  return TRUE;
}

static gboolean
gst_we_srt_server_src_stop (GstBaseSrc *src)
{
  GstWeSrtServerSrc *self = GST_WE_SRT_SERVER_SRC (src);
  g_autoptr(WeSrtServer) server = NULL;

  if (self->server != NULL) {
    if (self->link != NULL)
      link_cut (self->link);
    self->link = NULL; /* the closure owns it */
    if (self->started_id != 0)
      g_signal_handler_disconnect (self->server, self->started_id);
    self->started_id = 0;
    if (self->own_server)
      we_srt_server_remove_stream_key (self->server, self->key);
  }
  g_mutex_lock (&self->lock);
  /* nobody else reads our publisher */
  if (self->session != NULL)
    we_srt_session_close (self->session);
  g_clear_object (&self->session);
  g_clear_object (&self->next);
  g_clear_object (&self->cancellable);
  g_mutex_unlock (&self->lock);
  GST_OBJECT_LOCK (self);
  server = g_steal_pointer (&self->server);
  GST_OBJECT_UNLOCK (self);
  if (self->own_server)
    g_object_notify (G_OBJECT (self), "bound-port");
  return TRUE;
}

static gboolean
gst_we_srt_server_src_unlock (GstBaseSrc *src)
{
  GstWeSrtServerSrc *self = GST_WE_SRT_SERVER_SRC (src);
  g_autoptr(GCancellable) cancellable = NULL;

  g_mutex_lock (&self->lock);
  cancellable = self->cancellable != NULL ? g_object_ref (self->cancellable) : NULL;
  g_mutex_unlock (&self->lock);
  /* outside the lock: the cancel handler (wake) takes it */
  if (cancellable != NULL)
    g_cancellable_cancel (cancellable);
  return TRUE;
}

static gboolean
gst_we_srt_server_src_unlock_stop (GstBaseSrc *src)
{
  GstWeSrtServerSrc *self = GST_WE_SRT_SERVER_SRC (src);

  g_mutex_lock (&self->lock);
  g_clear_object (&self->cancellable);
  self->cancellable = g_cancellable_new ();
  g_mutex_unlock (&self->lock);
  return TRUE;
}

static void
post_stats (GstWeSrtServerSrc *self, WeSrtSession *session, gboolean eos, const gchar *reason)
{
  GstStructure *s = we_srt_session_get_stats (session);

  gst_structure_set (s, "eos", G_TYPE_BOOLEAN, eos, NULL);
  if (reason != NULL)
    gst_structure_set (s, "reason", G_TYPE_STRING, reason, NULL);
  gst_element_post_message (GST_ELEMENT (self), gst_message_new_element (GST_OBJECT (self), s));
}

/* The session to read: the current one, else the next, waiting up to
 * @end_us (-1: forever). NULL when cancelled or out of time. */
static WeSrtSession *
wait_session (GstWeSrtServerSrc *self, GCancellable *cancellable, gint64 end_us)
{
  WeSrtSession *session = NULL;
  gulong handler = g_cancellable_connect (cancellable, G_CALLBACK (wake), self, NULL);

  g_mutex_lock (&self->lock);
  for (;;) {
    if (self->session == NULL && self->next != NULL) {
      self->session = g_steal_pointer (&self->next);
      self->discont = TRUE;
    }
    if (self->session != NULL) {
      session = g_object_ref (self->session);
      break;
    }
    if (g_cancellable_is_cancelled (cancellable))
      break;
    if (end_us < 0)
      g_cond_wait (&self->cond, &self->lock);
    else if (!g_cond_wait_until (&self->cond, &self->lock, end_us))
      break;
  }
  g_mutex_unlock (&self->lock);
  g_cancellable_disconnect (cancellable, handler);
  return session;
}

static GstFlowReturn
gst_we_srt_server_src_create (GstPushSrc *src, GstBuffer **outbuf)
{
  GstWeSrtServerSrc *self = GST_WE_SRT_SERVER_SRC (src);
  g_autoptr(GCancellable) cancellable = NULL;
  gint64 replace_deadline = -1;

  g_mutex_lock (&self->lock);
  cancellable = self->cancellable != NULL ? g_object_ref (self->cancellable) : NULL;
  g_mutex_unlock (&self->lock);
  if (cancellable == NULL)
    return GST_FLOW_FLUSHING;

  for (;;) {
    g_autoptr(WeSrtSession) session = wait_session (self, cancellable, replace_deadline);
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) bytes = NULL;
    gint64 now = g_get_monotonic_time ();

    if (session == NULL) {
      if (g_cancellable_is_cancelled (cancellable))
        return GST_FLOW_FLUSHING;
      GST_INFO_OBJECT (self, "the replaced publisher has no successor");
      return GST_FLOW_EOS;
    }
    replace_deadline = -1;
    if (self->next_stats_us == 0)
      self->next_stats_us = now + STATS_INTERVAL_US;

    bytes = we_srt_session_pop (session, MAX (self->next_stats_us - now, 0), cancellable,
                                &error);
    if (g_get_monotonic_time () >= self->next_stats_us) {
      post_stats (self, session, FALSE, NULL);
      self->next_stats_us += STATS_INTERVAL_US;
    }
    if (bytes != NULL) {
      *outbuf = gst_buffer_new_wrapped_bytes (bytes);
      if (self->discont) {
        GST_BUFFER_FLAG_SET (*outbuf, GST_BUFFER_FLAG_DISCONT);
        self->discont = FALSE;
      }
      return GST_FLOW_OK;
    }
    if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
      continue;
    if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
      return GST_FLOW_FLUSHING;

    /* the publisher is gone */
    post_stats (self, session, g_strcmp0 (error->message, WE_SRT_END_REPLACED) != 0,
                error->message);
    g_mutex_lock (&self->lock);
    if (self->session == session)
      g_clear_object (&self->session);
    g_mutex_unlock (&self->lock);
    if (g_strcmp0 (error->message, WE_SRT_END_REPLACED) != 0) {
      GST_INFO_OBJECT (self, "publisher gone: %s", error->message);
      return GST_FLOW_EOS;
    }
    GST_INFO_OBJECT (self, "publisher reconnected, carrying on with the new connection");
    replace_deadline = g_get_monotonic_time () + REPLACE_WAIT_US;
  }
}

static void
gst_we_srt_server_src_set_property (GObject *object, guint prop_id, const GValue *value,
                                    GParamSpec *pspec)
{
  GstWeSrtServerSrc *self = GST_WE_SRT_SERVER_SRC (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
  case PROP_PORT:
    self->port = g_value_get_uint (value);
    break;
  case PROP_ADDRESS:
    g_free (self->address);
    self->address = g_value_dup_string (value);
    break;
  case PROP_STREAM_KEY:
    g_free (self->stream_key);
    self->stream_key = g_value_dup_string (value);
    break;
  case PROP_PASSPHRASE:
    g_free (self->passphrase);
    self->passphrase = g_value_dup_string (value);
    break;
  case PROP_SERVER:
    g_clear_object (&self->server_prop);
    self->server_prop = g_value_dup_object (value);
    break;
  case PROP_IDLE_TIMEOUT:
    self->idle_timeout = g_value_get_uint (value);
    break;
  case PROP_LATENCY:
    self->latency = g_value_get_uint (value);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_we_srt_server_src_get_property (GObject *object, guint prop_id, GValue *value,
                                    GParamSpec *pspec)
{
  GstWeSrtServerSrc *self = GST_WE_SRT_SERVER_SRC (object);

  switch (prop_id) {
  case PROP_PORT:
    GST_OBJECT_LOCK (self);
    g_value_set_uint (value, self->port);
    GST_OBJECT_UNLOCK (self);
    break;
  case PROP_ADDRESS:
    GST_OBJECT_LOCK (self);
    g_value_set_string (value, self->address);
    GST_OBJECT_UNLOCK (self);
    break;
  case PROP_STREAM_KEY:
    GST_OBJECT_LOCK (self);
    g_value_set_string (value, self->stream_key);
    GST_OBJECT_UNLOCK (self);
    break;
  case PROP_PASSPHRASE:
    /* write-only: a secret */
    break;
  case PROP_SERVER:
    GST_OBJECT_LOCK (self);
    g_value_set_object (value, self->server_prop);
    GST_OBJECT_UNLOCK (self);
    break;
  case PROP_IDLE_TIMEOUT:
    GST_OBJECT_LOCK (self);
    g_value_set_uint (value, self->idle_timeout);
    GST_OBJECT_UNLOCK (self);
    break;
  case PROP_LATENCY:
    GST_OBJECT_LOCK (self);
    g_value_set_uint (value, self->latency);
    GST_OBJECT_UNLOCK (self);
    break;
  case PROP_BOUND_PORT: {
    /* stop() clears the server in the application's thread too */
    g_autoptr(WeSrtServer) server = NULL;

    GST_OBJECT_LOCK (self);
    server = self->server != NULL ? g_object_ref (self->server) : NULL;
    GST_OBJECT_UNLOCK (self);
    g_value_set_uint (value, server != NULL ? we_srt_server_get_bound_port (server) : 0);
    break;
  }
  case PROP_STATS: {
    g_autoptr(WeSrtSession) session = NULL;

    g_mutex_lock (&self->lock);
    session = self->session != NULL ? g_object_ref (self->session) : NULL;
    g_mutex_unlock (&self->lock);
    g_value_take_boxed (value, session != NULL ? we_srt_session_get_stats (session) : NULL);
    break;
  }
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
gst_we_srt_server_src_finalize (GObject *object)
{
  GstWeSrtServerSrc *self = GST_WE_SRT_SERVER_SRC (object);

  g_free (self->address);
  g_free (self->stream_key);
  g_free (self->passphrase);
  g_free (self->key);
  g_free (self->secret);
  g_clear_object (&self->server_prop);
  g_clear_object (&self->server);
  g_clear_object (&self->session);
  g_clear_object (&self->next);
  g_clear_object (&self->cancellable);
  g_mutex_clear (&self->lock);
  g_cond_clear (&self->cond);
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_we_srt_server_src_class_init (GstWeSrtServerSrcClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseSrcClass *basesrc_class = GST_BASE_SRC_CLASS (klass);
  GstPushSrcClass *pushsrc_class = GST_PUSH_SRC_CLASS (klass);

  GST_DEBUG_CATEGORY_INIT (gst_we_srt_server_src_debug, "wesrtserversrc", 0,
                           "WebEncode SRT ingest source");

  object_class->set_property = gst_we_srt_server_src_set_property;
  object_class->get_property = gst_we_srt_server_src_get_property;
  object_class->finalize = gst_we_srt_server_src_finalize;

  g_object_class_install_property (object_class, PROP_PORT,
    g_param_spec_uint ("port", "Port", "UDP port to listen on without a server set (0: any free port, see "
                       "bound-port); sources of one process with the same address and port "
                       "share it",
                       0, 65535, WE_SRT_SERVER_DEFAULT_PORT,
                       G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (object_class, PROP_ADDRESS,
    g_param_spec_string ("address", "Address", "Local IP address to listen on without a shared "
                         "server", "0.0.0.0",
                         G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (object_class, PROP_STREAM_KEY,
    g_param_spec_string ("stream-key", "Stream key",
                         "The key of the publisher to read (streamid publish:<key> or "
                         "#!::r=<key>,m=publish)", NULL,
                         G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (object_class, PROP_PASSPHRASE,
    g_param_spec_string ("passphrase", "Passphrase",
                         "SRT passphrase (10 to 79 characters) the publisher must use, without "
                         "a shared server; unset: unencrypted", NULL,
                         G_PARAM_WRITABLE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (object_class, PROP_SERVER,
    g_param_spec_object ("server", "Server",
                         "A shared WeSrtServer to take the publisher from (its application "
                         "answers publish-attempt); unset: listen on port alone",
                         WE_TYPE_SRT_SERVER,
                         G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (object_class, PROP_BOUND_PORT,
    g_param_spec_uint ("bound-port", "Bound port", "The port listened on, 0 when not listening",
                       0, 65535, 0, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (object_class, PROP_IDLE_TIMEOUT,
    g_param_spec_uint ("idle-timeout", "Idle timeout",
                       "Milliseconds without media before the publisher is dropped (own "
                       "server only)", 1000, 600000, WE_SRT_SERVER_DEFAULT_IDLE_TIMEOUT,
                       G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (object_class, PROP_LATENCY,
    g_param_spec_uint ("latency", "Latency", "SRT receiver latency in ms (own server only)", 20,
                       8000, WE_SRT_SERVER_DEFAULT_LATENCY,
                       G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (object_class, PROP_STATS,
    g_param_spec_boxed ("stats", "Statistics",
                        "The publisher's SRT statistics (" WE_SRT_STATS_NAME "), NULL without one",
                        GST_TYPE_STRUCTURE, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));

  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class, "WebEncode SRT ingest source",
    "Source/Network", "Receives the MPEG-TS of one of many SRT publishers sharing a port, "
    "chosen by streamid and protected by its own passphrase",
    "WebEncode <https://github.com/webencode/webencode>");

  basesrc_class->start = GST_DEBUG_FUNCPTR (gst_we_srt_server_src_start);
  basesrc_class->stop = GST_DEBUG_FUNCPTR (gst_we_srt_server_src_stop);
  basesrc_class->unlock = GST_DEBUG_FUNCPTR (gst_we_srt_server_src_unlock);
  basesrc_class->unlock_stop = GST_DEBUG_FUNCPTR (gst_we_srt_server_src_unlock_stop);
  pushsrc_class->create = GST_DEBUG_FUNCPTR (gst_we_srt_server_src_create);

  gst_type_mark_as_plugin_api (WE_TYPE_SRT_SERVER, 0);
}

static void
gst_we_srt_server_src_init (GstWeSrtServerSrc *self)
{
  g_mutex_init (&self->lock);
  g_cond_init (&self->cond);
  self->port = WE_SRT_SERVER_DEFAULT_PORT;
  self->address = g_strdup ("0.0.0.0");
  self->idle_timeout = WE_SRT_SERVER_DEFAULT_IDLE_TIMEOUT;
  self->latency = WE_SRT_SERVER_DEFAULT_LATENCY;
  gst_base_src_set_live (GST_BASE_SRC (self), TRUE);
  gst_base_src_set_format (GST_BASE_SRC (self), GST_FORMAT_TIME);
  gst_base_src_set_do_timestamp (GST_BASE_SRC (self), TRUE);
}
