/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The RTMP wire format and connection state machine from memory (AMF0 and
 * chunk round trips, a publish accepted and one refused), and the server on
 * a real loopback socket.
 */
#include "config.h"

#include <string.h>

#include "webencode/we-error.h"
#include "we-rtmp-proto.h"
#include "we-rtmp-server.h"
#include "we-rtmp-test-util.h"

/* ---- AMF0 ---- */

static WeAmf0Value *
make_tree (void)
{
  WeAmf0Value *root = we_amf0_value_new (WE_AMF0_OBJECT);
  WeAmf0Value *ecma = we_amf0_value_new (WE_AMF0_ECMA_ARRAY);
  WeAmf0Value *strict = we_amf0_value_new (WE_AMF0_STRICT_ARRAY);
  WeAmf0Value *date = we_amf0_value_new (WE_AMF0_DATE);
  g_autofree gchar *long_text = g_strnfill (70000, 'x');
  WeAmf0Value *with_nul = we_amf0_value_new (WE_AMF0_STRING);

  date->number = 1700000000000.0;
  date->tz = -60;
  with_nul->string = g_memdup2 ("a\0b", 4);
  with_nul->string_len = 3;
  we_amf0_value_add (root, "number", we_amf0_value_new_number (-2.5));
  we_amf0_value_add (root, "yes", we_amf0_value_new_boolean (TRUE));
  we_amf0_value_add (root, "app", we_amf0_value_new_string ("live"));
  we_amf0_value_add (root, "long", we_amf0_value_new_string (long_text));
  we_amf0_value_add (root, "nul", with_nul);
  we_amf0_value_add (root, "null", we_amf0_value_new (WE_AMF0_NULL));
  we_amf0_value_add (root, "undefined", we_amf0_value_new (WE_AMF0_UNDEFINED));
  we_amf0_value_add (root, "date", date);
  we_amf0_value_add (ecma, "width", we_amf0_value_new_number (1280));
  we_amf0_value_add (ecma, "", we_amf0_value_new_string ("empty name"));
  we_amf0_value_add (root, "ecma", ecma);
  we_amf0_value_add (strict, NULL, we_amf0_value_new_number (1));
  we_amf0_value_add (strict, NULL, we_amf0_value_new (WE_AMF0_OBJECT));
  we_amf0_value_add (root, "strict", strict);
  return root;
}

static void
test_amf0_round_trip (void)
{
  g_autoptr(WeAmf0Value) tree = make_tree ();
  g_autoptr(GByteArray) out = g_byte_array_new ();
  g_autoptr(WeAmf0Value) back = NULL;
  g_autoptr(GError) error = NULL;
  gsize consumed = 0;

  we_amf0_encode (out, tree);
  back = we_amf0_decode (out->data, out->len, &consumed, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (consumed, ==, out->len);
  g_assert_true (we_amf0_value_equal (tree, back));
  g_assert_cmpstr (we_amf0_value_get_string (back, "app"), ==, "live");
  g_assert_cmpint (we_amf0_value_get (back, "long")->type, ==, WE_AMF0_LONG_STRING);
  g_assert_cmpuint (we_amf0_value_get (back, "nul")->string_len, ==, 3);

  /* every truncation fails cleanly */
  for (gsize len = 0; len < out->len; len += (len < 200 ? 1 : 997)) {
    g_autoptr(GError) e = NULL;
    g_autoptr(WeAmf0Value) v = we_amf0_decode (out->data, len, NULL, &e);

    g_assert_null (v);
    g_assert_error (e, WE_ERROR, WE_ERROR_STR_INVALID_REQUEST);
  }
}

static void
test_amf0_limits (void)
{
  g_autoptr(GByteArray) deep = g_byte_array_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(WeAmf0Value) v = NULL;
  guint8 strict_bomb[] = { WE_AMF0_STRICT_ARRAY, 0xff, 0xff, 0xff, 0xff, WE_AMF0_NULL };
  guint8 reference[] = { 0x07, 0x00, 0x01 };

  /* 40 nested strict arrays */
  for (guint i = 0; i < 40; i++) {
    guint8 b[] = { WE_AMF0_STRICT_ARRAY, 0, 0, 0, 1 };
    g_byte_array_append (deep, b, sizeof b);
  }
  we_amf0_write_null (deep);
  v = we_amf0_decode (deep->data, deep->len, NULL, &error);
  g_assert_null (v);
  g_assert_error (error, WE_ERROR, WE_ERROR_STR_INVALID_REQUEST);
  g_clear_error (&error);

  v = we_amf0_decode (strict_bomb, sizeof strict_bomb, NULL, &error);
  g_assert_null (v);
  g_assert_error (error, WE_ERROR, WE_ERROR_STR_INVALID_REQUEST);
  g_clear_error (&error);

  v = we_amf0_decode (reference, sizeof reference, NULL, &error);
  g_assert_null (v);
  g_assert_error (error, WE_ERROR, WE_ERROR_STR_INVALID_REQUEST);
}

/* ---- chunk stream ---- */

typedef struct {
  guint32 csid;
  guint8  type;
  guint32 timestamp;
  guint32 stream_id;
  gsize   len;
} Spec;

static const Spec specs[] = {
  { 3, WE_RTMP_MSG_COMMAND_AMF0, 0, 0, 0 },
  { 4, WE_RTMP_MSG_AUDIO, 1, 1, 1 },
  { 6, WE_RTMP_MSG_VIDEO, 40, 1, 127 },
  { 6, WE_RTMP_MSG_VIDEO, 80, 1, 128 },
  { 64, WE_RTMP_MSG_VIDEO, 120, 1, 129 },
  { 319, WE_RTMP_MSG_DATA_AMF0, 0xfffffe, 1, 5000 },
  { 400, WE_RTMP_MSG_VIDEO, 0x1000000, 1, 300000 },
  { 65599, WE_RTMP_MSG_AUDIO, 0xffffffff, 7, 4097 },
};

static void
payload_fill (guint8 *p, gsize len, guint seed)
{
  for (gsize i = 0; i < len; i++)
    p[i] = (guint8) (i * 31 + seed);
}

static void
chunk_round_trip (guint32 chunk_size, gsize step)
{
  g_autoptr(GByteArray) wire = g_byte_array_new ();
  g_autoptr(WeRtmpChunkReader) reader = we_rtmp_chunk_reader_new ();
  guint8 size_be[4] = { chunk_size >> 24, (chunk_size >> 16) & 0xff, (chunk_size >> 8) & 0xff,
                        chunk_size & 0xff };
  gsize pos = 0, avail = 0;
  guint got = 0;

  /* the size change goes out in the old size */
  we_rtmp_chunk_write (wire, WE_RTMP_DEFAULT_CHUNK_SIZE, 2, WE_RTMP_MSG_SET_CHUNK_SIZE, 0, 0,
                       size_be, 4);
  for (guint i = 0; i < G_N_ELEMENTS (specs); i++) {
    g_autofree guint8 *p = g_malloc (specs[i].len + 1);

    payload_fill (p, specs[i].len, i);
    we_rtmp_chunk_write (wire, chunk_size, specs[i].csid, specs[i].type, specs[i].timestamp,
                         specs[i].stream_id, p, specs[i].len);
  }

  /* the bytes arrive @step at a time */
  while (pos < wire->len) {
    g_autoptr(WeRtmpMessage) msg = NULL;
    g_autoptr(GError) error = NULL;
    gsize consumed = 0;

    g_assert_true (we_rtmp_chunk_reader_read (reader, wire->data + pos, avail - pos, &consumed,
                                              &msg, &error));
    g_assert_no_error (error);
    pos += consumed;
    if (consumed == 0 && msg == NULL) {
      g_assert_cmpuint (avail, <, wire->len);
      avail = MIN (wire->len, avail + step);
    }
    if (msg == NULL)
      continue;
    if (got == 0) {
      g_assert_cmpuint (msg->type, ==, WE_RTMP_MSG_SET_CHUNK_SIZE);
      g_assert_cmpuint (we_rtmp_chunk_reader_get_chunk_size (reader), ==, chunk_size);
    } else {
      const Spec *s = &specs[got - 1];
      g_autofree guint8 *p = g_malloc (s->len + 1);

      payload_fill (p, s->len, got - 1);
      g_assert_cmpuint (msg->csid, ==, s->csid);
      g_assert_cmpuint (msg->type, ==, s->type);
      g_assert_cmpuint (msg->timestamp, ==, s->timestamp);
      g_assert_cmpuint (msg->stream_id, ==, s->stream_id);
      g_assert_cmpmem (g_bytes_get_data (msg->payload, NULL), g_bytes_get_size (msg->payload),
                       p, s->len);
    }
    got++;
  }
  g_assert_cmpuint (got, ==, G_N_ELEMENTS (specs) + 1);
}

static void
test_chunk_round_trip (void)
{
  chunk_round_trip (1, 1 << 20);
  chunk_round_trip (128, 7);
  chunk_round_trip (128, 1 << 20);
  chunk_round_trip (4096, 1000);
  chunk_round_trip (65536, 1 << 20);
  chunk_round_trip (WE_RTMP_MAX_CHUNK_SIZE, 3);
}

static void
expect_reader_error (const guint8 *wire, gsize len, gint code)
{
  g_autoptr(WeRtmpChunkReader) reader = we_rtmp_chunk_reader_new ();
  g_autoptr(GError) error = NULL;
  gsize pos = 0;

  for (;;) {
    g_autoptr(WeRtmpMessage) msg = NULL;
    gsize consumed = 0;

    if (!we_rtmp_chunk_reader_read (reader, wire + pos, len - pos, &consumed, &msg, &error))
      break;
    g_assert_true (consumed > 0 || msg != NULL);
    pos += consumed;
  }
  g_assert_error (error, WE_ERROR, code);
}

static void
test_chunk_limits (void)
{
  g_autoptr(GByteArray) wire = g_byte_array_new ();
  guint8 zero[4] = { 0, 0, 0, 0 };
  guint8 huge[4] = { 0x7f, 0xff, 0xff, 0xff };
  /* type 0 header on csid 6 claiming 0xffffff bytes */
  guint8 big_message[] = { 0x06, 0, 0, 0, 0xff, 0xff, 0xff, 9, 1, 0, 0, 0 };
  /* a type 1 header opening a chunk stream never seen */
  guint8 no_first[] = { 0x46, 0, 0, 0, 0, 0, 1, 9 };

  we_rtmp_chunk_write (wire, 128, 2, WE_RTMP_MSG_SET_CHUNK_SIZE, 0, 0, zero, 4);
  expect_reader_error (wire->data, wire->len, WE_ERROR_STR_INVALID_REQUEST);
  g_byte_array_set_size (wire, 0);
  we_rtmp_chunk_write (wire, 128, 2, WE_RTMP_MSG_SET_CHUNK_SIZE, 0, 0, huge, 4);
  expect_reader_error (wire->data, wire->len, WE_ERROR_STR_INVALID_REQUEST);
  expect_reader_error (big_message, sizeof big_message, WE_ERROR_SYS_PAYLOAD_TOO_LARGE);
  expect_reader_error (no_first, sizeof no_first, WE_ERROR_STR_INVALID_REQUEST);

  /* 65 chunk streams */
  g_byte_array_set_size (wire, 0);
  for (guint csid = 3; csid < 3 + WE_RTMP_MAX_CHUNK_STREAMS + 1; csid++)
    we_rtmp_chunk_write (wire, 128, csid, WE_RTMP_MSG_AUDIO, 0, 1, zero, 1);
  expect_reader_error (wire->data, wire->len, WE_ERROR_STR_INVALID_REQUEST);
}

/* ---- a publisher from memory ---- */

typedef struct {
  guint       attempts;
  gchar      *app;
  gchar      *key;
  guint       started;
  guint       ended;
  WeRtmpEndReason reason;
  GByteArray *flv;
} Events;

static gboolean
ev_attempt (WeRtmpConnection *conn, const gchar *app, const gchar *key, gpointer user_data)
{
  Events *ev = user_data;

  ev->attempts++;
  ev->app = g_strdup (app);
  ev->key = g_strdup (key);
  return g_str_equal (key, "good");
}

static void
ev_started (WeRtmpConnection *conn, gpointer user_data)
{
  ((Events *) user_data)->started++;
}

static void
ev_data (WeRtmpConnection *conn, GBytes *bytes, gpointer user_data)
{
  Events *ev = user_data;

  g_byte_array_append (ev->flv, g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
}

static void
ev_ended (WeRtmpConnection *conn, WeRtmpEndReason reason, const gchar *message,
          gpointer user_data)
{
  Events *ev = user_data;

  ev->ended++;
  ev->reason = reason;
}

static const WeRtmpConnectionCallbacks ev_callbacks = {
  ev_attempt, ev_started, ev_data, ev_ended,
};

/* the command names and status codes in our replies */
static gchar *
replies_summary (GBytes *out)
{
  gsize len = 0;
  const guint8 *p = g_bytes_get_data (out, &len);
  g_autoptr(WeRtmpChunkReader) reader = we_rtmp_chunk_reader_new ();
  g_autoptr(GString) summary = g_string_new (NULL);
  gsize pos = 1 + 2 * WE_RTMP_HANDSHAKE_SIZE;

  g_assert_cmpuint (len, >, pos);
  g_assert_cmpuint (p[0], ==, 3);
  while (pos < len) {
    g_autoptr(WeRtmpMessage) msg = NULL;
    g_autoptr(GError) error = NULL;
    gsize consumed = 0;

    g_assert_true (we_rtmp_chunk_reader_read (reader, p + pos, len - pos, &consumed, &msg,
                                              &error));
    g_assert_true (consumed > 0);
    pos += consumed;
    if (msg != NULL && msg->type == WE_RTMP_MSG_COMMAND_AMF0) {
      g_autoptr(GPtrArray) args = we_amf0_decode_all (g_bytes_get_data (msg->payload, NULL),
                                                      g_bytes_get_size (msg->payload), &error);
      const WeAmf0Value *info;

      g_assert_no_error (error);
      g_string_append_printf (summary, "%s ", ((WeAmf0Value *) args->pdata[0])->string);
      info = args->pdata[args->len - 1];
      if (we_amf0_value_get_string (info, "code") != NULL)
        g_string_append_printf (summary, "%s ", we_amf0_value_get_string (info, "code"));
    }
  }
  return g_strdup (summary->str);
}

static void
test_connection_publish (void)
{
  Events ev = { .flv = g_byte_array_new () };
  g_autoptr(WeRtmpConnection) conn = we_rtmp_connection_new (&ev_callbacks, &ev);
  g_autoptr(GByteArray) wire = publisher_bytes ("good?token=1", TRUE);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) out = NULL;
  g_autofree gchar *summary = NULL;

  /* in odd pieces */
  for (gsize pos = 0; pos < wire->len; pos += 333) {
    g_assert_true (we_rtmp_connection_feed (conn, wire->data + pos, MIN (333, wire->len - pos),
                                            &error));
    g_assert_no_error (error);
  }
  g_assert_cmpuint (ev.attempts, ==, 1);
  g_assert_cmpstr (ev.app, ==, "live");
  g_assert_cmpstr (ev.key, ==, "good");
  g_assert_cmpuint (ev.started, ==, 1);
  g_assert_cmpuint (ev.ended, ==, 1);
  g_assert_cmpint (ev.reason, ==, WE_RTMP_END_UNPUBLISHED);
  out = we_rtmp_connection_take_output (conn);
  summary = replies_summary (out);
  g_assert_cmpstr (summary, ==,
                   "_result NetConnection.Connect.Success _result _result _result "
                   "onStatus NetStream.Publish.Start ");

  /* FLV: header (video only, from onMetaData), script tag without
   * @setDataFrame, two video tags, the second with an extended timestamp */
  g_assert_cmpuint (ev.flv->len, >, 13);
  g_assert_cmpmem (ev.flv->data, 9, "FLV\x01\x01\x00\x00\x00\x09", 9);
  g_assert_cmpuint (ev.flv->data[13], ==, 18);
  g_assert_cmpuint (ev.flv->data[13 + 11], ==, WE_AMF0_STRING);
  {
    gsize script_len = (ev.flv->data[14] << 16) | (ev.flv->data[15] << 8) | ev.flv->data[16];
    gsize v1 = 13 + 11 + script_len + 4;
    gsize v2 = v1 + 11 + 300 + 4;

    g_assert_cmpuint (ev.flv->data[v1], ==, 9);
    g_assert_cmpuint (ev.flv->data[v2], ==, 9);
    /* 0x1000010 ms: 24 bits then the extension byte */
    g_assert_cmpuint (ev.flv->data[v2 + 4], ==, 0x00);
    g_assert_cmpuint (ev.flv->data[v2 + 6], ==, 0x10);
    g_assert_cmpuint (ev.flv->data[v2 + 7], ==, 0x01);
    g_assert_cmpuint (ev.flv->len, ==, v2 + 11 + 10 + 4);
  }
  we_rtmp_connection_close (conn, NULL);
  g_assert_cmpuint (ev.ended, ==, 1);
  g_free (ev.app);
  g_free (ev.key);
  g_byte_array_unref (ev.flv);
}

static void
test_connection_refused (void)
{
  Events ev = { .flv = g_byte_array_new () };
  g_autoptr(WeRtmpConnection) conn = we_rtmp_connection_new (&ev_callbacks, &ev);
  g_autoptr(GByteArray) wire = publisher_bytes ("bad", FALSE);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) out = NULL;
  g_autofree gchar *summary = NULL;

  g_assert_false (we_rtmp_connection_feed (conn, wire->data, wire->len, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_AUTH_FORBIDDEN);
  g_assert_null (strstr (error->message, "bad"));
  g_assert_cmpuint (ev.started, ==, 0);
  g_assert_cmpuint (ev.flv->len, ==, 0);
  out = we_rtmp_connection_take_output (conn);
  summary = replies_summary (out);
  g_assert_true (g_str_has_suffix (summary, "onStatus NetStream.Publish.BadName "));
  we_rtmp_connection_close (conn, NULL);
  g_assert_cmpuint (ev.ended, ==, 0);
  g_free (ev.app);
  g_free (ev.key);
  g_byte_array_unref (ev.flv);
}

static void
test_connection_garbage (void)
{
  Events ev = { .flv = g_byte_array_new () };
  g_autoptr(WeRtmpConnection) conn = we_rtmp_connection_new (&ev_callbacks, &ev);
  g_autoptr(GError) error = NULL;
  guint8 c0[1 + WE_RTMP_HANDSHAKE_SIZE] = { 'G', 'E', 'T' };

  g_assert_false (we_rtmp_connection_feed (conn, c0, sizeof c0, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_STR_INVALID_REQUEST);
  g_byte_array_unref (ev.flv);
}

static void
test_connection_aggregate (void)
{
  Events ev = { .flv = g_byte_array_new () };
  g_autoptr(WeRtmpConnection) conn = we_rtmp_connection_new (&ev_callbacks, &ev);
  g_autoptr(GByteArray) wire = publisher_bytes ("good", FALSE);
  g_autoptr(GByteArray) agg = g_byte_array_new ();
  g_autoptr(GError) error = NULL;
  gsize before, pos;
  /* audio at 100 and video at 140 (with the extension byte 0) */
  const guint8 tags[] = {
    8, 0, 0, 2, 0, 0, 100, 0, 0, 0, 0, 0xaf, 0x01, 0, 0, 0, 13,
    9, 0, 0, 3, 0, 0, 140, 0, 0, 0, 0, 0x27, 0x01, 0x00, 0, 0, 0, 14,
  };

  g_assert_true (we_rtmp_connection_feed (conn, wire->data, wire->len, &error));
  g_assert_no_error (error);
  before = ev.flv->len;
  we_rtmp_chunk_write (agg, 128, 6, WE_RTMP_MSG_AGGREGATE, 5000, 1, tags, sizeof tags);
  g_assert_true (we_rtmp_connection_feed (conn, agg->data, agg->len, &error));
  g_assert_no_error (error);
  /* two tags, at 5000 and 5040 */
  g_assert_cmpuint (ev.flv->len, ==, before + (11 + 2 + 4) + (11 + 3 + 4));
  pos = before;
  g_assert_cmpuint (ev.flv->data[pos], ==, 8);
  g_assert_cmpuint ((ev.flv->data[pos + 5] << 8) | ev.flv->data[pos + 6], ==, 5000);
  pos += 11 + 2 + 4;
  g_assert_cmpuint (ev.flv->data[pos], ==, 9);
  g_assert_cmpuint ((ev.flv->data[pos + 5] << 8) | ev.flv->data[pos + 6], ==, 5040);

  /* a truncated one ends the connection */
  g_byte_array_set_size (agg, 0);
  we_rtmp_chunk_write (agg, 128, 6, WE_RTMP_MSG_AGGREGATE, 6000, 1, tags, sizeof tags - 1);
  g_assert_false (we_rtmp_connection_feed (conn, agg->data, agg->len, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_STR_INVALID_REQUEST);
  we_rtmp_connection_close (conn, error);
  g_assert_cmpuint (ev.ended, ==, 1);
  g_assert_cmpint (ev.reason, ==, WE_RTMP_END_ERROR);
  g_free (ev.app);
  g_free (ev.key);
  g_byte_array_unref (ev.flv);
}

/* ---- the server on a socket ---- */

static void
test_server (void)
{
  g_autoptr(WeRtmpServer) server = we_rtmp_server_new ("127.0.0.1", 0);
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GSocketConnection) garbage = NULL;
  g_autoptr(GSocketConnection) publisher = NULL;
  g_autoptr(GByteArray) wire = publisher_bytes ("good", FALSE);
  g_autoptr(WeRtmpSession) session = NULL;
  g_autoptr(GByteArray) flv = g_byte_array_new ();
  gboolean ended = FALSE;
  guint8 buf[64];

  g_socket_client_set_enable_proxy (client, FALSE);
  g_assert_true (we_rtmp_server_start (server, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (we_rtmp_server_get_bound_port (server), >, 0);
  we_rtmp_server_add_stream_key (server, "live", "good");

  /* garbage: closed by the server, which keeps serving */
  garbage = g_socket_client_connect_to_host (client, "127.0.0.1",
                                             we_rtmp_server_get_bound_port (server), NULL, &error);
  g_assert_no_error (error);
  {
    g_autofree guint8 *junk = g_malloc0 (4000);

    g_assert_true (g_output_stream_write_all (
      g_io_stream_get_output_stream (G_IO_STREAM (garbage)), junk, 4000, NULL, NULL, &error));
    g_assert_no_error (error);
    /* EOF (or a reset) once the server hung up */
    g_input_stream_read (g_io_stream_get_input_stream (G_IO_STREAM (garbage)), buf, sizeof buf,
                         NULL, NULL);
  }

  publisher = g_socket_client_connect_to_host (client, "127.0.0.1",
                                               we_rtmp_server_get_bound_port (server), NULL,
                                               &error);
  g_assert_no_error (error);
  g_assert_true (g_output_stream_write_all (
    g_io_stream_get_output_stream (G_IO_STREAM (publisher)), wire->data, wire->len, NULL, NULL,
    &error));
  g_assert_no_error (error);
  session = we_rtmp_server_take_session (server, "good", NULL);
  g_assert_nonnull (session);
  g_assert_cmpstr (we_rtmp_session_get_app (session), ==, "live");
  while (flv->len < 13 + 11 + 300 + 4) {
    g_autoptr(GBytes) bytes = we_rtmp_session_pop (session, 5 * G_TIME_SPAN_SECOND, NULL,
                                                   &ended);

    g_assert_nonnull (bytes);
    g_byte_array_append (flv, g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
  }
  g_assert_cmpmem (flv->data, 3, "FLV", 3);

  /* the publisher hangs up: the session ends, cleanly */
  g_io_stream_close (G_IO_STREAM (publisher), NULL, NULL);
  for (;;) {
    g_autoptr(GBytes) bytes = we_rtmp_session_pop (session, 5 * G_TIME_SPAN_SECOND, NULL,
                                                   &ended);
    if (bytes == NULL)
      break;
  }
  g_assert_true (ended);
  g_assert_cmpint (we_rtmp_session_get_end_reason (session, NULL), ==, WE_RTMP_END_CLOSED);
  we_rtmp_server_stop (server);
}

typedef struct {
  GMutex  lock;
  GCond   cond;
  gchar  *attempt;  /* "app key remote-host" */
  WeRtmpSession *started;
  gint    ended_reason;
  gboolean ended;
} Signals;

static gboolean
on_publish_attempt (WeRtmpServer *server, const gchar *app, const gchar *key,
                    const gchar *remote, Signals *sig)
{
  g_mutex_lock (&sig->lock);
  g_free (sig->attempt);
  sig->attempt = g_strdup_printf ("%s %s %s", app, key, remote);
  g_mutex_unlock (&sig->lock);
  return g_str_equal (app, "studio") && g_str_equal (key, "svc");
}

static void
on_publish_started (WeRtmpServer *server, WeRtmpSession *session, Signals *sig)
{
  g_mutex_lock (&sig->lock);
  g_set_object (&sig->started, session);
  g_cond_broadcast (&sig->cond);
  g_mutex_unlock (&sig->lock);
}

static void
on_publish_ended (WeRtmpServer *server, WeRtmpSession *session, gint reason,
                  const gchar *message, Signals *sig)
{
  g_mutex_lock (&sig->lock);
  sig->ended = TRUE;
  sig->ended_reason = reason;
  g_cond_broadcast (&sig->cond);
  g_mutex_unlock (&sig->lock);
}

/* sends @wire, returns what comes back until EOF, or until @until arrived
 * and then the publish ended (before we hang up: the end must come from
 * the unpublish in @wire, not from our closing) */
static GByteArray *
exchange (guint port, GByteArray *wire, const gchar *until, Signals *sig)
{
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GSocketConnection) conn = NULL;
  g_autoptr(GError) error = NULL;
  GByteArray *reply = g_byte_array_new ();
  guint8 buf[4096];
  gssize n;

  g_socket_client_set_enable_proxy (client, FALSE);
  conn = g_socket_client_connect_to_host (client, "127.0.0.1", port, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (g_output_stream_write_all (g_io_stream_get_output_stream (G_IO_STREAM (conn)),
                                            wire->data, wire->len, NULL, NULL, &error));
  g_assert_no_error (error);
  while ((n = g_input_stream_read (g_io_stream_get_input_stream (G_IO_STREAM (conn)), buf,
                                   sizeof buf, NULL, NULL)) > 0) {
    g_byte_array_append (reply, buf, (guint) n);
    if (until != NULL && memmem (reply->data, reply->len, until, strlen (until)) != NULL)
      break;
  }
  if (until != NULL) {
    g_mutex_lock (&sig->lock);
    while (!sig->ended)
      g_cond_wait (&sig->cond, &sig->lock);
    g_mutex_unlock (&sig->lock);
  }
  return reply;
}

/* what the service does: keys decided by the publish-attempt signal,
 * sessions from publish-started */
static void
test_server_signals (void)
{
  g_autoptr(WeRtmpServer) server = we_rtmp_server_new ("127.0.0.1", 0);
  g_autoptr(GError) error = NULL;
  Signals sig = { 0 };
  g_autoptr(GByteArray) wrong_app = publisher_bytes ("svc", TRUE);
  g_autoptr(GByteArray) right = publisher_bytes_to ("studio", "svc", TRUE);
  g_autoptr(GByteArray) reply = NULL;
  gboolean ended = FALSE;
  gsize got = 0;
  guint port;

  g_mutex_init (&sig.lock);
  g_cond_init (&sig.cond);
  g_signal_connect (server, "publish-attempt", G_CALLBACK (on_publish_attempt), &sig);
  g_signal_connect (server, "publish-started", G_CALLBACK (on_publish_started), &sig);
  g_signal_connect (server, "publish-ended", G_CALLBACK (on_publish_ended), &sig);
  g_assert_true (we_rtmp_server_start (server, &error));
  g_assert_no_error (error);
  port = we_rtmp_server_get_bound_port (server);

  /* publisher_bytes() connects to "live/": refused by the handler */
  reply = exchange (port, wrong_app, NULL, NULL);
  g_assert_nonnull (memmem (reply->data, reply->len, "NetStream.Publish.BadName", 25));
  g_mutex_lock (&sig.lock);
  g_assert_true (g_str_has_prefix (sig.attempt, "live svc 127.0.0.1:"));
  g_assert_null (sig.started);
  g_mutex_unlock (&sig.lock);
  g_clear_pointer (&reply, g_byte_array_unref);

  /* the app "studio" */
  reply = exchange (port, right, "NetStream.Publish.Start", &sig);
  g_assert_nonnull (memmem (reply->data, reply->len, "NetStream.Publish.Start", 23));
  g_mutex_lock (&sig.lock);
  while (!sig.ended)
    g_cond_wait (&sig.cond, &sig.lock);
  g_assert_nonnull (sig.started);
  g_assert_cmpint (sig.ended_reason, ==, WE_RTMP_END_UNPUBLISHED);
  g_mutex_unlock (&sig.lock);
  g_assert_cmpstr (we_rtmp_session_get_app (sig.started), ==, "studio");
  g_assert_cmpstr (we_rtmp_session_get_key (sig.started), ==, "svc");
  for (;;) {
    g_autoptr(GBytes) bytes = we_rtmp_session_pop (sig.started, 0, NULL, &ended);

    if (bytes == NULL)
      break;
    got += g_bytes_get_size (bytes);
  }
  g_assert_true (ended);
  g_assert_cmpuint (got, >, 13 + 300);

  we_rtmp_server_stop (server);
  g_free (sig.attempt);
  g_clear_object (&sig.started);
  g_mutex_clear (&sig.lock);
  g_cond_clear (&sig.cond);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/rtmp/amf0/round-trip", test_amf0_round_trip);
  g_test_add_func ("/rtmp/amf0/limits", test_amf0_limits);
  g_test_add_func ("/rtmp/chunk/round-trip", test_chunk_round_trip);
  g_test_add_func ("/rtmp/chunk/limits", test_chunk_limits);
  g_test_add_func ("/rtmp/connection/publish", test_connection_publish);
  g_test_add_func ("/rtmp/connection/refused", test_connection_refused);
  g_test_add_func ("/rtmp/connection/garbage", test_connection_garbage);
  g_test_add_func ("/rtmp/connection/aggregate", test_connection_aggregate);
  g_test_add_func ("/rtmp/server", test_server);
  g_test_add_func ("/rtmp/server/signals", test_server_signals);
  return g_test_run ();
}
