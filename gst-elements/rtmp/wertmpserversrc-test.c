/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * wertmpserversrc under GstHarness, on a WeRtmpServer of the test's own
 * (the `server` property) and a publisher on a real loopback socket: a
 * wrong key is refused while the element waits, the right one gives FLV
 * buffers and EOS at unpublish; a protocol error of the publisher becomes
 * an error message naming the reason.
 */
#include "config.h"

#include <gst/check/gstharness.h>

#include "gstwertmpserversrc.h"
#include "we-rtmp-server.h"
#include "we-rtmp-test-util.h"

typedef struct {
  WeRtmpServer  *server;
  GstHarness    *h;
  GstBus        *bus;
  GSocketClient *client;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  f->server = we_rtmp_server_new ("127.0.0.1", 0);
  g_assert_true (we_rtmp_server_start (f->server, &error));
  g_assert_no_error (error);
  f->h = gst_harness_new ("wertmpserversrc");
  g_object_set (f->h->element, "server", f->server, "stream-key", "good", "app", "live", NULL);
  f->bus = gst_bus_new ();
  gst_element_set_bus (f->h->element, f->bus);
  f->client = g_socket_client_new ();
  g_socket_client_set_enable_proxy (f->client, FALSE);
  gst_harness_play (f->h);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  gst_harness_teardown (f->h);
  gst_object_unref (f->bus);
  g_object_unref (f->client);
  g_object_unref (f->server);
}

static GSocketConnection *
publish (Fixture *f, GByteArray *wire)
{
  g_autoptr(GError) error = NULL;
  GSocketConnection *conn =
    g_socket_client_connect_to_host (f->client, "127.0.0.1",
                                     we_rtmp_server_get_bound_port (f->server), NULL, &error);

  g_assert_no_error (error);
  g_assert_true (g_output_stream_write_all (g_io_stream_get_output_stream (G_IO_STREAM (conn)),
                                            wire->data, wire->len, NULL, NULL, &error));
  g_assert_no_error (error);
  return conn;
}

/* everything the server sends until it hangs up */
static GByteArray *
read_to_eof (GSocketConnection *conn)
{
  GByteArray *all = g_byte_array_new ();
  guint8 buf[4096];
  gssize n;

  while ((n = g_input_stream_read (g_io_stream_get_input_stream (G_IO_STREAM (conn)), buf,
                                   sizeof buf, NULL, NULL)) > 0)
    g_byte_array_append (all, buf, (guint) n);
  return all;
}

static void
test_publish (Fixture *f, gconstpointer data)
{
  g_autoptr(GByteArray) bad = publisher_bytes ("bad", FALSE);
  g_autoptr(GByteArray) good = publisher_bytes ("good", TRUE);
  g_autoptr(GSocketConnection) refused = publish (f, bad);
  g_autoptr(GByteArray) reply = read_to_eof (refused);
  g_autoptr(GSocketConnection) accepted = NULL;
  g_autoptr(GByteArray) flv = g_byte_array_new ();
  g_autoptr(GstMessage) msg = NULL;
  GstEvent *event;

  /* the refusal, then the server hung up; the element got nothing */
  g_assert_nonnull (memmem (reply->data, reply->len, "NetStream.Publish.BadName",
                            strlen ("NetStream.Publish.BadName")));
  g_assert_cmpuint (gst_harness_buffers_received (f->h), ==, 0);

  accepted = publish (f, good);
  /* one buffer per FLV piece: header with script tag, two video tags */
  for (guint i = 0; i < 3; i++) {
    g_autoptr(GstBuffer) buf = gst_harness_pull (f->h);
    GstMapInfo map;

    g_assert_nonnull (buf);
    gst_buffer_map (buf, &map, GST_MAP_READ);
    g_byte_array_append (flv, map.data, (guint) map.size);
    gst_buffer_unmap (buf, &map);
  }
  g_assert_cmpmem (flv->data, 4, "FLV\x01", 4);
  g_assert_cmpuint (flv->data[13], ==, 18);

  /* FCUnpublish + deleteStream were in the same bytes: EOS follows */
  while ((event = gst_harness_pull_event (f->h)) != NULL) {
    gboolean eos = GST_EVENT_TYPE (event) == GST_EVENT_EOS;

    gst_event_unref (event);
    if (eos)
      break;
  }
  g_assert_nonnull (event);
  /* popping discards what does not match: both kinds at once */
  msg = gst_bus_pop_filtered (f->bus, GST_MESSAGE_ERROR | GST_MESSAGE_ELEMENT);
  g_assert_nonnull (msg);
  g_assert_true (gst_message_has_name (msg, "we-rtmp-publish"));
  g_clear_pointer (&msg, gst_message_unref);
  msg = gst_bus_pop_filtered (f->bus, GST_MESSAGE_ERROR | GST_MESSAGE_ELEMENT);
  g_assert_null (msg);
}

static void
test_protocol_error (Fixture *f, gconstpointer data)
{
  g_autoptr(GByteArray) wire = publisher_bytes ("good", FALSE);
  g_autoptr(GSocketConnection) conn = NULL;
  g_autoptr(GstMessage) msg = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *debug = NULL;
  /* a type 0 header claiming a 16 MiB video message */
  guint8 huge[] = { 0x06, 0, 0, 0, 0xff, 0xff, 0xff, 9, 1, 0, 0, 0 };

  g_byte_array_append (wire, huge, sizeof huge);
  conn = publish (f, wire);
  msg = gst_bus_timed_pop_filtered (f->bus, 20 * GST_SECOND, GST_MESSAGE_ERROR);
  g_assert_nonnull (msg);
  gst_message_parse_error (msg, &error, &debug);
  g_assert_error (error, GST_STREAM_ERROR, GST_STREAM_ERROR_FAILED);
  g_assert_nonnull (strstr (debug, "larger than"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  gst_init (&argc, &argv);
  g_assert_true (GST_ELEMENT_REGISTER (wertmpserversrc, NULL));
  g_test_add ("/wertmpserversrc/publish", Fixture, NULL, fixture_setup, test_publish,
              fixture_teardown);
  g_test_add ("/wertmpserversrc/protocol-error", Fixture, NULL, fixture_setup,
              test_protocol_error, fixture_teardown);
  return g_test_run ();
}
