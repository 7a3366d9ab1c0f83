/* SPDX-License-Identifier: LGPL-2.1-or-later */

/**
 * SECTION:element-wertmpserversrc
 * @title: wertmpserversrc
 *
 * An RTMP server (ingest, as OBS, ffmpeg and rtmp2sink publish to it) that
 * outputs the stream of one publisher as FLV: the FLV header, then its
 * script (onMetaData), audio and video tags with their RTMP timestamps.
 * Link it to flvdemux.
 *
 * Only a publish whose stream name (the key: what follows the application
 * in rtmp://host:port/app/KEY, without any "?query") equals
 * #GstWeRtmpServerSrc:stream-key is accepted, and only to
 * #GstWeRtmpServerSrc:app when that is set; other publishes get
 * NetStream.Publish.BadName and their connection is closed before any media
 * is read.
 *
 * Several sources share one listening port: give them the same
 * #GstWeRtmpServerSrc:server, or in one process the same
 * #GstWeRtmpServerSrc:port and #GstWeRtmpServerSrc:address (they then share
 * a server of the process), each with its own key.
 *
 * The element waits for its publisher (the first buffer comes with the
 * first media), sends EOS when the publisher ends the stream (FCUnpublish,
 * deleteStream or closing the connection) and posts an error naming the
 * reason when the publisher's connection fails (protocol error, no data for
 * #GstWeRtmpServerSrc:timeout seconds). Garbage from other clients closes
 * their connections only.
 *
 * It posts an element message `we-rtmp-publish` (app, remote-address) when
 * its publisher starts.
 *
 * ## Example launch line
 * |[
 * GST_PLUGIN_PATH=build/gst-elements gst-launch-1.0 wertmpserversrc port=1935 stream-key=abc ! \
 *     flvdemux name=d d.video ! queue ! h264parse ! avdec_h264 ! autovideosink
 * ffmpeg -re -f lavfi -i testsrc -c:v libx264 -f flv rtmp://127.0.0.1:1935/live/abc
 * ]|
 */

#include "config.h"

#include "gstwertmpserversrc.h"

#include "we-rtmp-server.h"

GST_DEBUG_CATEGORY_STATIC (gst_we_rtmp_server_src_debug);
#define GST_CAT_DEFAULT gst_we_rtmp_server_src_debug

#define DEFAULT_ADDRESS "0.0.0.0"

enum {
  PROP_0,
  PROP_PORT,
  PROP_ADDRESS,
  PROP_APP,
  PROP_STREAM_KEY,
  PROP_SERVER,
  PROP_TIMEOUT,
  PROP_BOUND_PORT,
};

struct _GstWeRtmpServerSrc {
  GstPushSrc parent;

  /* properties, under the object lock */
  guint         port;
  gchar        *address;
  gchar        *app;
  gchar        *stream_key;
  WeRtmpServer *server;   /* set by the application, or the shared one while started */
  gboolean      own_server; /* server came from we_rtmp_server_get_shared() */
  guint         timeout;

  /* streaming thread */
  gchar         *key;      /* the key registered with the server */
  WeRtmpSession *session;
  GCancellable  *cancellable;
};

static GstStaticPadTemplate src_template =
  GST_STATIC_PAD_TEMPLATE ("src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS ("video/x-flv"));

#define gst_we_rtmp_server_src_parent_class parent_class
G_DEFINE_TYPE (GstWeRtmpServerSrc, gst_we_rtmp_server_src, GST_TYPE_PUSH_SRC);
GST_ELEMENT_REGISTER_DEFINE (wertmpserversrc, "wertmpserversrc", GST_RANK_NONE,
                             GST_TYPE_WE_RTMP_SERVER_SRC);

static gboolean
gst_we_rtmp_server_src_start (GstBaseSrc *src)
{
  GstWeRtmpServerSrc *self = GST_WE_RTMP_SERVER_SRC (src);
  g_autoptr(WeRtmpServer) server = NULL;
  g_autofree gchar *address = NULL;
  g_autofree gchar *app = NULL;
  g_autoptr(GError) error = NULL;
  guint port, timeout;

  GST_OBJECT_LOCK (self);
  g_free (self->key);
  self->key = g_strdup (self->stream_key);
  server = self->server != NULL ? g_object_ref (self->server) : NULL;
  address = g_strdup (self->address);
  app = g_strdup (self->app);
  port = self->port;
  timeout = self->timeout;
  GST_OBJECT_UNLOCK (self);

  if (self->key == NULL || *self->key == '\0') {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS, ("No stream-key set"),
                       ("wertmpserversrc accepts only the publisher of its stream-key"));
    return FALSE;
  }
  if (server == NULL) {
    server = we_rtmp_server_get_shared (address, port, timeout, &error);
    if (server == NULL) {
      GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ, ("Could not listen for RTMP"),
                         ("%s", error->message));
      return FALSE;
    }
    GST_OBJECT_LOCK (self);
    g_set_object (&self->server, server);
    self->own_server = TRUE;
    GST_OBJECT_UNLOCK (self);
    GST_INFO_OBJECT (self, "listening on %s:%u", address, we_rtmp_server_get_bound_port (server));
  }
  we_rtmp_server_add_stream_key (server, app, self->key);
  g_clear_object (&self->cancellable);
  self->cancellable = g_cancellable_new ();
  return TRUE;
}

static gboolean
gst_we_rtmp_server_src_stop (GstBaseSrc *src)
{
  GstWeRtmpServerSrc *self = GST_WE_RTMP_SERVER_SRC (src);
  g_autoptr(WeRtmpServer) server = NULL;

  GST_OBJECT_LOCK (self);
  if (self->server != NULL)
    server = g_object_ref (self->server);
  if (self->own_server) {
    g_clear_object (&self->server);
    self->own_server = FALSE;
  }
  GST_OBJECT_UNLOCK (self);

  if (server != NULL && self->key != NULL)
    we_rtmp_server_remove_stream_key (server, self->key);
  if (self->session != NULL) {
    /* a publisher still sending has no one to send to */
    we_rtmp_session_abandon (self->session);
    g_clear_object (&self->session);
  }
  g_clear_pointer (&self->key, g_free);
  g_clear_object (&self->cancellable);
  return TRUE;
}

static gboolean
gst_we_rtmp_server_src_unlock (GstBaseSrc *src)
{
  GstWeRtmpServerSrc *self = GST_WE_RTMP_SERVER_SRC (src);

  if (self->cancellable != NULL)
    g_cancellable_cancel (self->cancellable);
  return TRUE;
}

static gboolean
gst_we_rtmp_server_src_unlock_stop (GstBaseSrc *src)
{
  GstWeRtmpServerSrc *self = GST_WE_RTMP_SERVER_SRC (src);

  if (self->cancellable != NULL)
    g_cancellable_reset (self->cancellable);
  return TRUE;
}

static gboolean
gst_we_rtmp_server_src_is_seekable (GstBaseSrc *src)
{
  return FALSE;
}

static GstFlowReturn
gst_we_rtmp_server_src_create (GstPushSrc *src, GstBuffer **outbuf)
{
  GstWeRtmpServerSrc *self = GST_WE_RTMP_SERVER_SRC (src);
  g_autoptr(GBytes) bytes = NULL;
  gboolean ended = FALSE;

  if (self->session == NULL) {
    g_autoptr(WeRtmpServer) server = NULL;

    GST_OBJECT_LOCK (self);
    server = self->server != NULL ? g_object_ref (self->server) : NULL;
    GST_OBJECT_UNLOCK (self);
    if (server == NULL)
      return GST_FLOW_FLUSHING;
    self->session = we_rtmp_server_take_session (server, self->key, self->cancellable);
    if (self->session == NULL)
      return GST_FLOW_FLUSHING;
    GST_INFO_OBJECT (self, "publisher %s started on app %s",
                     we_rtmp_session_get_remote_address (self->session),
                     we_rtmp_session_get_app (self->session));
    gst_element_post_message (
      GST_ELEMENT (self),
      gst_message_new_element (
        GST_OBJECT (self),
        gst_structure_new ("we-rtmp-publish",
                           "app", G_TYPE_STRING, we_rtmp_session_get_app (self->session),
                           "remote-address", G_TYPE_STRING,
                           we_rtmp_session_get_remote_address (self->session), NULL)));
  }

  bytes = we_rtmp_session_pop (self->session, -1, self->cancellable, &ended);
  if (bytes != NULL) {
    *outbuf = gst_buffer_new_wrapped_bytes (bytes);
    return GST_FLOW_OK;
  }
  if (!ended)
    return GST_FLOW_FLUSHING;

  {
    const gchar *message = NULL;
    WeRtmpEndReason reason = we_rtmp_session_get_end_reason (self->session, &message);

    if (reason == WE_RTMP_END_ERROR) {
      GST_ELEMENT_ERROR (self, STREAM, FAILED, ("The RTMP publisher's stream failed"),
                         ("%s", message != NULL ? message : "unknown error"));
      return GST_FLOW_ERROR;
    }
    GST_INFO_OBJECT (self, "publisher %s",
                     reason == WE_RTMP_END_UNPUBLISHED ? "unpublished" : "closed the connection");
    return GST_FLOW_EOS;
  }
}

static void
gst_we_rtmp_server_src_set_property (GObject *object, guint prop_id, const GValue *value,
                                     GParamSpec *pspec)
{
  GstWeRtmpServerSrc *self = GST_WE_RTMP_SERVER_SRC (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
  case PROP_PORT:
    self->port = g_value_get_uint (value);
    break;
  case PROP_ADDRESS:
    g_free (self->address);
    self->address = g_value_dup_string (value);
    if (self->address == NULL)
      self->address = g_strdup (DEFAULT_ADDRESS);
    break;
  case PROP_APP:
    g_free (self->app);
    self->app = g_value_dup_string (value);
    break;
  case PROP_STREAM_KEY:
    g_free (self->stream_key);
    self->stream_key = g_value_dup_string (value);
    break;
  case PROP_SERVER:
    g_set_object (&self->server, g_value_get_object (value));
    self->own_server = FALSE;
    break;
  case PROP_TIMEOUT:
    self->timeout = g_value_get_uint (value);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_we_rtmp_server_src_get_property (GObject *object, guint prop_id, GValue *value,
                                     GParamSpec *pspec)
{
  GstWeRtmpServerSrc *self = GST_WE_RTMP_SERVER_SRC (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
  case PROP_PORT:
    g_value_set_uint (value, self->port);
    break;
  case PROP_ADDRESS:
    g_value_set_string (value, self->address);
    break;
  case PROP_APP:
    g_value_set_string (value, self->app);
    break;
  case PROP_STREAM_KEY:
    g_value_set_string (value, self->stream_key);
    break;
  case PROP_SERVER:
    g_value_set_object (value, self->server);
    break;
  case PROP_TIMEOUT:
    g_value_set_uint (value, self->timeout);
    break;
  case PROP_BOUND_PORT:
    g_value_set_uint (value, self->server != NULL ? we_rtmp_server_get_bound_port (self->server)
                                                  : 0);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_we_rtmp_server_src_finalize (GObject *object)
{
  GstWeRtmpServerSrc *self = GST_WE_RTMP_SERVER_SRC (object);

  g_free (self->address);
  g_free (self->app);
  g_free (self->stream_key);
  g_free (self->key);
  g_clear_object (&self->server);
  g_clear_object (&self->session);
  g_clear_object (&self->cancellable);
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_we_rtmp_server_src_class_init (GstWeRtmpServerSrcClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseSrcClass *basesrc_class = GST_BASE_SRC_CLASS (klass);
  GstPushSrcClass *pushsrc_class = GST_PUSH_SRC_CLASS (klass);

  gobject_class->set_property = gst_we_rtmp_server_src_set_property;
  gobject_class->get_property = gst_we_rtmp_server_src_get_property;
  gobject_class->finalize = gst_we_rtmp_server_src_finalize;

  g_object_class_install_property (
    gobject_class, PROP_PORT,
    g_param_spec_uint ("port", "Port",
                       "TCP port to listen on (0: any free port, see bound-port); "
                       "sources of one process with the same address and port share it",
                       0, 65535, WE_RTMP_DEFAULT_PORT,
                       G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (
    gobject_class, PROP_ADDRESS,
    g_param_spec_string ("address", "Address", "IP address to listen on", DEFAULT_ADDRESS,
                         G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (
    gobject_class, PROP_APP,
    g_param_spec_string ("app", "Application",
                         "Accept the publish only to this RTMP application "
                         "(\"live\" of rtmp://host/live/KEY); NULL: any",
                         NULL,
                         G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (
    gobject_class, PROP_STREAM_KEY,
    g_param_spec_string ("stream-key", "Stream key",
                         "The only publish name accepted (required); others are refused "
                         "before any media is read",
                         NULL,
                         G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (
    gobject_class, PROP_SERVER,
    g_param_spec_object ("server", "Server",
                         "A started WeRtmpServer to take the publish of stream-key from, "
                         "shared with other sources; NULL: listen on address:port",
                         WE_TYPE_RTMP_SERVER,
                         G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (
    gobject_class, PROP_TIMEOUT,
    g_param_spec_uint ("timeout", "Timeout",
                       "Seconds a connection may send no complete message before it is "
                       "closed (0: never), for the server this element starts",
                       0, 3600, WE_RTMP_DEFAULT_TIMEOUT,
                       G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (
    gobject_class, PROP_BOUND_PORT,
    g_param_spec_uint ("bound-port", "Bound port",
                       "The port listened on, once started (0 before)", 0, 65535, 0,
                       G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));

  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (
    element_class, "WebEncode RTMP server source", "Source/Network",
    "Receives the RTMP publish of one stream key (OBS, ffmpeg, rtmp2sink) and outputs it as FLV; "
    "several sources can share a port",
    "WebEncode <https://github.com/webencode/webencode>");

  basesrc_class->start = gst_we_rtmp_server_src_start;
  basesrc_class->stop = gst_we_rtmp_server_src_stop;
  basesrc_class->unlock = gst_we_rtmp_server_src_unlock;
  basesrc_class->unlock_stop = gst_we_rtmp_server_src_unlock_stop;
  basesrc_class->is_seekable = gst_we_rtmp_server_src_is_seekable;
  pushsrc_class->create = gst_we_rtmp_server_src_create;

  GST_DEBUG_CATEGORY_INIT (gst_we_rtmp_server_src_debug, "wertmpserversrc", 0,
                           "WebEncode RTMP server source");
}

static void
gst_we_rtmp_server_src_init (GstWeRtmpServerSrc *self)
{
  self->port = WE_RTMP_DEFAULT_PORT;
  self->address = g_strdup (DEFAULT_ADDRESS);
  self->timeout = WE_RTMP_DEFAULT_TIMEOUT;
  /* bytes of a stream that has no position to seek to */
  gst_base_src_set_format (GST_BASE_SRC (self), GST_FORMAT_BYTES);
}
