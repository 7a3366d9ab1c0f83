/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * werestreamsink without a server: the redaction of secrets, and
 * destinations that cannot work (a closed port, an unresolvable host, a
 * disabled one) next to a plain branch of the same tee, which must get
 * every buffer while no error reaches the pipeline. The destinations that
 * do work are in tests/integration/test_restream_dest.py (nginx-rtmp).
 */
#include "config.h"

#include <gio/gio.h>
#include <gst/gst.h>

#include "gstwerestreamsink.h"

static void
test_redact (void)
{
  struct {
    const gchar *in, *out;
  } cases[] = {
    { "rtmp://a.example/live/secretkey", "rtmp://a.example/live/***" },
    { "rtmp://a.example:1935/live", "rtmp://a.example:1935/live" },
    { "rtmps://user:pw@b.example:443/app/k?x=1", "rtmps://***@b.example:443/app/***" },
    { "srt://c.example:9000?streamid=publish:k&passphrase=p", "srt://c.example:9000?***" },
    { "srt://c.example:9000", "srt://c.example:9000" },
    { "nonsense", "***" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autofree gchar *got = gst_we_restream_sink_redact_location (cases[i].in);

    g_assert_cmpstr (got, ==, cases[i].out);
  }
}

static guint16
closed_port (void)
{
  g_autoptr(GSocket) s = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
                                       G_SOCKET_PROTOCOL_TCP, NULL);
  g_autoptr(GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) any = g_inet_socket_address_new (lo, 0);
  g_autoptr(GSocketAddress) bound = NULL;

  g_assert_true (g_socket_bind (s, any, TRUE, NULL));
  bound = g_socket_get_local_address (s, NULL);
  /* closed when s goes: nothing listens there afterwards */
  return g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
}

static GstPadProbeReturn
count (GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
  g_atomic_int_inc ((gint *) data);
  return GST_PAD_PROBE_OK;
}

static void
test_dead_destinations (void)
{
  g_autofree gchar *desc = g_strdup_printf (
    "videotestsrc is-live=true num-buffers=75 ! video/x-raw,width=160,height=120,framerate=25/1 ! "
    "x264enc tune=zerolatency speed-preset=ultrafast key-int-max=25 ! h264parse ! "
    "tee name=t allow-not-linked=true "
    "t. ! queue ! fakesink name=plain sync=false "
    "werestreamsink name=refused location=rtmp://127.0.0.1:%u/live/topsecret1 "
    "werestreamsink name=unresolvable location=rtmp://no-such-host.invalid/live/topsecret2 "
    "werestreamsink name=off enabled=false location=rtmp://127.0.0.1:%u/live/topsecret3 "
    "t. ! refused.video t. ! unresolvable.video t. ! off.video",
    closed_port (), closed_port ());
  g_autoptr(GError) error = NULL;
  g_autoptr(GstElement) pipeline = gst_parse_launch (desc, &error);
  g_autoptr(GstBus) bus = NULL;
  g_autoptr(GstElement) plain = NULL;
  g_autoptr(GstPad) plain_pad = NULL;
  g_autoptr(GHashTable) errors = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_autoptr(GHashTable) states = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  gint buffers = 0;
  gboolean eos = FALSE;
  gint64 deadline = g_get_monotonic_time () + 20 * G_USEC_PER_SEC;

  g_assert_no_error (error);
  plain = gst_bin_get_by_name (GST_BIN (pipeline), "plain");
  plain_pad = gst_element_get_static_pad (plain, "sink");
  gst_pad_add_probe (plain_pad, GST_PAD_PROBE_TYPE_BUFFER, count, &buffers, NULL);
  bus = gst_element_get_bus (pipeline);
  g_assert_cmpint (gst_element_set_state (pipeline, GST_STATE_PLAYING), !=,
                   GST_STATE_CHANGE_FAILURE);

  while (!eos && g_get_monotonic_time () < deadline) {
    g_autoptr(GstMessage) msg = gst_bus_timed_pop (bus, 100 * GST_MSECOND);
    const GstStructure *s;

    if (msg == NULL)
      continue;
    switch (GST_MESSAGE_TYPE (msg)) {
    case GST_MESSAGE_ERROR: {
      g_autoptr(GError) e = NULL;

      gst_message_parse_error (msg, &e, NULL);
      g_error ("an error reached the pipeline: %s", e->message);
      break;
    }
    case GST_MESSAGE_EOS:
      eos = TRUE;
      break;
    case GST_MESSAGE_ELEMENT: {
      const gchar *name = GST_OBJECT_NAME (GST_MESSAGE_SRC (msg));
      const gchar *last_error, *state;

      s = gst_message_get_structure (msg);
      if (!gst_structure_has_name (s, "we-restream-stats"))
        break;
      last_error = gst_structure_get_string (s, "last_error");
      state = gst_structure_get_string (s, "state");
      g_assert_nonnull (state);
      g_assert_cmpstr (state, !=, "live");
      g_assert_null (strstr (gst_structure_get_string (s, "location"), "topsecret"));
      if (last_error != NULL) {
        g_assert_null (strstr (last_error, "topsecret"));
        g_hash_table_replace (errors, g_strdup (name), g_strdup (last_error));
      }
      g_hash_table_replace (states, g_strdup (name), g_strdup (state));
      break;
    }
    default:
      break;
    }
  }
  g_assert_true (eos);
  /* the dead destinations held up neither the tee nor the other branch */
  g_assert_cmpint (g_atomic_int_get (&buffers), ==, 75);
  g_assert_true (g_hash_table_contains (errors, "refused"));
  g_assert_true (g_hash_table_contains (errors, "unresolvable"));
  g_assert_false (g_hash_table_contains (errors, "off"));
  g_assert_cmpstr (g_hash_table_lookup (states, "off"), ==, "disabled");
  g_assert_cmpstr (g_hash_table_lookup (states, "refused"), ==, "connecting");
  g_test_message ("refused: %s", (gchar *) g_hash_table_lookup (errors, "refused"));
  g_test_message ("unresolvable: %s", (gchar *) g_hash_table_lookup (errors, "unresolvable"));

  {
    g_autoptr(GstElement) refused = gst_bin_get_by_name (GST_BIN (pipeline), "refused");
    g_autoptr(GstStructure) stats = NULL;
    g_autofree gchar *location = NULL;
    guint reconnects = 99;

    g_object_get (refused, "stats", &stats, "location", &location, NULL);
    g_assert_null (strstr (location, "topsecret"));
    g_assert_true (gst_structure_get_uint (stats, "reconnects", &reconnects));
    g_assert_cmpuint (reconnects, ==, 0);
  }
  gst_element_set_state (pipeline, GST_STATE_NULL);
}

static guint16
free_udp_port (void)
{
  g_autoptr(GSocket) s = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_DATAGRAM,
                                       G_SOCKET_PROTOCOL_UDP, NULL);
  g_autoptr(GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) any = g_inet_socket_address_new (lo, 0);
  g_autoptr(GSocketAddress) bound = NULL;

  g_assert_true (g_socket_bind (s, any, TRUE, NULL));
  bound = g_socket_get_local_address (s, NULL);
  return g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
}

/* srt:// in caller mode to GStreamer's srtsrc as a listener: MPEG-TS
 * arrives, the destination goes live and counts acknowledged bytes */
static void
test_srt (void)
{
  guint16 port = free_udp_port ();
  g_autofree gchar *rx_desc = g_strdup_printf (
    "srtsrc uri=srt://127.0.0.1:%u?mode=listener&passphrase=verysecret123 ! "
    "tsdemux ! h264parse ! fakesink name=rx sync=false", port);
  g_autofree gchar *tx_desc = g_strdup_printf (
    "videotestsrc is-live=true num-buffers=100 ! video/x-raw,width=160,height=120,framerate=25/1 ! "
    "x264enc tune=zerolatency speed-preset=ultrafast key-int-max=25 ! h264parse ! "
    "werestreamsink name=srt location=srt://127.0.0.1:%u?passphrase=verysecret123", port);
  g_autoptr(GError) error = NULL;
  g_autoptr(GstElement) rx = gst_parse_launch (rx_desc, &error);
  g_autoptr(GstElement) tx = NULL;
  g_autoptr(GstElement) rx_sink = NULL;
  g_autoptr(GstPad) rx_pad = NULL;
  g_autoptr(GstBus) bus = NULL;
  gint frames = 0;
  gboolean eos = FALSE, live = FALSE;
  guint64 acked = 0;
  gint64 deadline = g_get_monotonic_time () + 20 * G_USEC_PER_SEC;

  g_assert_no_error (error);
  rx_sink = gst_bin_get_by_name (GST_BIN (rx), "rx");
  rx_pad = gst_element_get_static_pad (rx_sink, "sink");
  gst_pad_add_probe (rx_pad, GST_PAD_PROBE_TYPE_BUFFER, count, &frames, NULL);
  gst_element_set_state (rx, GST_STATE_PLAYING);

  tx = gst_parse_launch (tx_desc, &error);
  g_assert_no_error (error);
  bus = gst_element_get_bus (tx);
  g_assert_cmpint (gst_element_set_state (tx, GST_STATE_PLAYING), !=, GST_STATE_CHANGE_FAILURE);
  while (!eos && g_get_monotonic_time () < deadline) {
    g_autoptr(GstMessage) msg = gst_bus_timed_pop (bus, 100 * GST_MSECOND);
    const GstStructure *s;

    if (msg == NULL)
      continue;
    if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
      g_autoptr(GError) e = NULL;

      gst_message_parse_error (msg, &e, NULL);
      g_error ("an error reached the pipeline: %s", e->message);
    }
    if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_EOS)
      eos = TRUE;
    s = gst_message_get_structure (msg);
    if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ELEMENT &&
        gst_structure_has_name (s, "we-restream-stats")) {
      g_autofree gchar *text = gst_structure_to_string (s);

      g_test_message ("%s", text);
      g_assert_null (strstr (text, "verysecret123"));
      live |= g_str_equal (gst_structure_get_string (s, "state"), "live");
      gst_structure_get_uint64 (s, "bytes_acked", &acked);
    }
  }
  g_assert_true (eos);
  g_assert_true (live);
  g_assert_cmpuint (acked, >, 10000);
  /* most of the 4 s arrived (the first frames may go while connecting) */
  g_assert_cmpint (g_atomic_int_get (&frames), >=, 50);
  gst_element_set_state (tx, GST_STATE_NULL);
  gst_element_set_state (rx, GST_STATE_NULL);
}

/* state changes and enabled toggled in a hurry: the manager thread starts
 * and stops with the element, nothing leaks or hangs (ASan, the timeout) */
static void
test_restart_and_toggle (void)
{
  g_autofree gchar *desc = g_strdup_printf (
    "videotestsrc is-live=true ! video/x-raw,width=160,height=120,framerate=25/1 ! "
    "x264enc tune=zerolatency speed-preset=ultrafast key-int-max=10 ! h264parse ! "
    "werestreamsink name=d location=rtmp://127.0.0.1:%u/live/k", closed_port ());
  g_autoptr(GError) error = NULL;
  g_autoptr(GstElement) pipeline = gst_parse_launch (desc, &error);
  g_autoptr(GstElement) d = NULL;

  g_assert_no_error (error);
  d = gst_bin_get_by_name (GST_BIN (pipeline), "d");
  for (guint round = 0; round < 3; round++) {
    g_assert_cmpint (gst_element_set_state (pipeline, GST_STATE_PLAYING), !=,
                     GST_STATE_CHANGE_FAILURE);
    for (guint i = 0; i < 20; i++) {
      g_object_set (d, "enabled", i % 2 == 1, NULL);
      g_usleep (10 * 1000);
    }
    g_usleep (300 * 1000);
    g_assert_cmpint (gst_element_set_state (pipeline, round == 1 ? GST_STATE_READY : GST_STATE_NULL),
                     ==, GST_STATE_CHANGE_SUCCESS);
  }
  {
    g_autoptr(GstStructure) stats = NULL;

    g_object_get (d, "stats", &stats, NULL);
    g_assert_cmpstr (gst_structure_get_string (stats, "state"), ==, "connecting");
  }
}

static void
test_bad_location (void)
{
  g_autoptr(GstElement) sink = gst_element_factory_make ("werestreamsink", NULL);

  g_object_set (sink, "location", "http://example.com/", NULL);
  g_assert_cmpint (gst_element_set_state (sink, GST_STATE_READY), ==, GST_STATE_CHANGE_FAILURE);
  gst_element_set_state (sink, GST_STATE_NULL);
}

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  g_assert_true (GST_ELEMENT_REGISTER (werestreamsink, NULL));
  g_test_add_func ("/werestreamsink/redact", test_redact);
  g_test_add_func ("/werestreamsink/bad-location", test_bad_location);
  g_test_add_func ("/werestreamsink/dead-destinations", test_dead_destinations);
  g_test_add_func ("/werestreamsink/srt", test_srt);
  g_test_add_func ("/werestreamsink/restart-and-toggle", test_restart_and_toggle);
  return g_test_run ();
}
