/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The publisher side of RTMP as ffmpeg, OBS (librtmp) and GStreamer's
 * rtmp2sink speak it:
 *
 *   C0 C1 → S0 S1 S2 → C2
 *   connect(app)            → Window Ack Size, Set Peer Bandwidth, Set Chunk Size, _result
 *   releaseStream, FCPublish → _result
 *   createStream            → _result(stream id)
 *   publish(key)            → checked by publish_attempt, then StreamBegin +
 *                             onStatus NetStream.Publish.Start, or onStatus
 *                             NetStream.Publish.BadName and the connection closed
 *   @setDataFrame onMetaData, audio, video → FLV script, audio and video tags
 *   FCUnpublish, deleteStream → the publish ends
 */
#include "config.h"

#include "we-rtmp-connection.h"

#include <string.h>

#include "webencode/we-error.h"
#include "we-rtmp-proto.h"

/* what we ask of the publisher and tell it */
#define WINDOW_ACK_SIZE 2500000
#define OUT_CHUNK_SIZE  4096
/* the chunk streams of our replies: protocol control on 2 (required),
 * commands on 3, stream status on 5, as the common servers do */
#define CSID_CONTROL 2
#define CSID_COMMAND 3
#define CSID_STATUS  5
#define STREAM_ID    1

struct _WeRtmpConnection {
  WeRtmpConnectionCallbacks callbacks;
  gpointer                  user_data;

  WeRtmpConnectionState state;
  gboolean              handshake_c1_done;
  GByteArray           *in;   /* unparsed input: a handshake packet or a header at most */
  GByteArray           *out;
  WeRtmpChunkReader    *reader;
  guint32               out_chunk_size;

  guint64 bytes_in;
  guint64 last_ack;
  guint32 peer_window;  /* the publisher's Window Ack Size; 0 = none yet */
  guint64 messages;

  gboolean connected;   /* connect was answered */
  gchar   *app;
  gchar   *key;
  guint32  publish_stream_id;
  gboolean flv_header_sent;
  guint8   flv_flags;   /* audio 0x04, video 0x01: from onMetaData when it comes first */
  gboolean ended_reported;
};

WeRtmpConnection *
we_rtmp_connection_new (const WeRtmpConnectionCallbacks *callbacks, gpointer user_data)
{
  WeRtmpConnection *conn = g_new0 (WeRtmpConnection, 1);

  g_return_val_if_fail (callbacks != NULL && callbacks->publish_attempt != NULL, NULL);
  conn->callbacks = *callbacks;
  conn->user_data = user_data;
  conn->state = WE_RTMP_CONNECTION_HANDSHAKE;
  conn->in = g_byte_array_new ();
  conn->out = g_byte_array_new ();
  conn->reader = we_rtmp_chunk_reader_new ();
  conn->out_chunk_size = WE_RTMP_DEFAULT_CHUNK_SIZE;
  conn->flv_flags = 0x05;
  return conn;
}

void
we_rtmp_connection_free (WeRtmpConnection *conn)
{
  if (conn == NULL)
    return;
  g_byte_array_unref (conn->in);
  g_byte_array_unref (conn->out);
  we_rtmp_chunk_reader_free (conn->reader);
  g_free (conn->app);
  g_free (conn->key);
  g_free (conn);
}

WeRtmpConnectionState
we_rtmp_connection_get_state (WeRtmpConnection *conn)
{
  return conn->state;
}

guint64
we_rtmp_connection_get_messages (WeRtmpConnection *conn)
{
  return conn->messages;
}

const gchar *
we_rtmp_connection_get_app (WeRtmpConnection *conn)
{
  return conn->app;
}

const gchar *
we_rtmp_connection_get_key (WeRtmpConnection *conn)
{
  return conn->key;
}

GBytes *
we_rtmp_connection_take_output (WeRtmpConnection *conn)
{
  GByteArray *out;

  if (conn->out->len == 0)
    return NULL;
  out = conn->out;
  conn->out = g_byte_array_new ();
  return g_byte_array_free_to_bytes (out);
}

static void
end_publish (WeRtmpConnection *conn, WeRtmpEndReason reason, const gchar *message)
{
  if (conn->state != WE_RTMP_CONNECTION_PUBLISHING)
    return;
  conn->state = WE_RTMP_CONNECTION_ENDED;
  if (!conn->ended_reported && conn->callbacks.publish_ended != NULL) {
    conn->ended_reported = TRUE;
    conn->callbacks.publish_ended (conn, reason, message, conn->user_data);
  }
}

void
we_rtmp_connection_close (WeRtmpConnection *conn, const GError *error)
{
  end_publish (conn, error != NULL ? WE_RTMP_END_ERROR : WE_RTMP_END_CLOSED,
               error != NULL ? error->message : NULL);
}

/* ---- replies ---- */

static void
send_control (WeRtmpConnection *conn, guint8 type, guint32 value)
{
  guint8 b[4] = { value >> 24, (value >> 16) & 0xff, (value >> 8) & 0xff, value & 0xff };

  we_rtmp_chunk_write (conn->out, conn->out_chunk_size, CSID_CONTROL, type, 0, 0, b, 4);
}

static void
send_user_control (WeRtmpConnection *conn, guint16 event, guint32 value)
{
  guint8 b[6] = { event >> 8, event & 0xff,
                  value >> 24, (value >> 16) & 0xff, (value >> 8) & 0xff, value & 0xff };

  we_rtmp_chunk_write (conn->out, conn->out_chunk_size, CSID_CONTROL,
                       WE_RTMP_MSG_USER_CONTROL, 0, 0, b, sizeof b);
}

static void
send_command (WeRtmpConnection *conn, guint32 csid, guint32 stream_id, GByteArray *body)
{
  we_rtmp_chunk_write (conn->out, conn->out_chunk_size, csid, WE_RTMP_MSG_COMMAND_AMF0, 0,
                       stream_id, body->data, body->len);
}

/* _result(txn, null, null): what releaseStream and FCPublish get */
static void
send_result_null (WeRtmpConnection *conn, gdouble txn)
{
  g_autoptr(GByteArray) body = g_byte_array_new ();

  we_amf0_write_string (body, "_result");
  we_amf0_write_number (body, txn);
  we_amf0_write_null (body);
  we_amf0_write_null (body);
  send_command (conn, CSID_COMMAND, 0, body);
}

static void
send_on_status (WeRtmpConnection *conn, const gchar *level, const gchar *code,
                const gchar *description)
{
  g_autoptr(GByteArray) body = g_byte_array_new ();

  we_amf0_write_string (body, "onStatus");
  we_amf0_write_number (body, 0);
  we_amf0_write_null (body);
  we_amf0_write_object_start (body);
  we_amf0_write_property_name (body, "level");
  we_amf0_write_string (body, level);
  we_amf0_write_property_name (body, "code");
  we_amf0_write_string (body, code);
  we_amf0_write_property_name (body, "description");
  we_amf0_write_string (body, description);
  we_amf0_write_object_end (body);
  send_command (conn, CSID_STATUS, conn->publish_stream_id, body);
}

/* ---- commands ---- */

static gboolean
handle_connect (WeRtmpConnection *conn, gdouble txn, const WeAmf0Value *cmd, GError **error)
{
  g_autoptr(GByteArray) body = g_byte_array_new ();
  const gchar *app = we_amf0_value_get_string (cmd, "app");
  gsize len;

  if (conn->connected) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_STR_INVALID_REQUEST, "second connect");
    return FALSE;
  }
  if (app == NULL) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_STR_INVALID_REQUEST, "connect without app");
    return FALSE;
  }
  /* "live", "live/" and "live?x=y" name the same application */
  len = strcspn (app, "?");
  while (len > 0 && app[len - 1] == '/')
    len--;
  conn->app = g_strndup (app, len);
  conn->connected = TRUE;

  send_control (conn, WE_RTMP_MSG_WINDOW_ACK_SIZE, WINDOW_ACK_SIZE);
  {
    guint8 b[5] = { WINDOW_ACK_SIZE >> 24, (WINDOW_ACK_SIZE >> 16) & 0xff,
                    (WINDOW_ACK_SIZE >> 8) & 0xff, WINDOW_ACK_SIZE & 0xff, 2 /* dynamic */ };
    we_rtmp_chunk_write (conn->out, conn->out_chunk_size, CSID_CONTROL,
                         WE_RTMP_MSG_SET_PEER_BANDWIDTH, 0, 0, b, sizeof b);
  }
  send_control (conn, WE_RTMP_MSG_SET_CHUNK_SIZE, OUT_CHUNK_SIZE);
  conn->out_chunk_size = OUT_CHUNK_SIZE;

  we_amf0_write_string (body, "_result");
  we_amf0_write_number (body, txn);
  we_amf0_write_object_start (body);
  we_amf0_write_property_name (body, "fmsVer");
  we_amf0_write_string (body, "FMS/3,0,1,123");
  we_amf0_write_property_name (body, "capabilities");
  we_amf0_write_number (body, 31);
  we_amf0_write_object_end (body);
  we_amf0_write_object_start (body);
  we_amf0_write_property_name (body, "level");
  we_amf0_write_string (body, "status");
  we_amf0_write_property_name (body, "code");
  we_amf0_write_string (body, "NetConnection.Connect.Success");
  we_amf0_write_property_name (body, "description");
  we_amf0_write_string (body, "Connection succeeded.");
  we_amf0_write_property_name (body, "objectEncoding");
  we_amf0_write_number (body, 0);
  we_amf0_write_object_end (body);
  send_command (conn, CSID_COMMAND, 0, body);
  return TRUE;
}

static gboolean
handle_publish (WeRtmpConnection *conn, const WeRtmpMessage *msg, GPtrArray *args,
                GError **error)
{
  const WeAmf0Value *name = args->len > 3 ? g_ptr_array_index (args, 3) : NULL;

  if (!conn->connected || conn->state != WE_RTMP_CONNECTION_CONNECTING || conn->key != NULL) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_STR_INVALID_REQUEST,
                         "publish out of order");
    return FALSE;
  }
  if (name == NULL || (name->type != WE_AMF0_STRING && name->type != WE_AMF0_LONG_STRING) ||
      strlen (name->string) != name->string_len) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_STR_INVALID_REQUEST,
                         "publish without a stream name");
    return FALSE;
  }
  /* OBS and others append "?param" to the key */
  conn->key = g_strndup (name->string, strcspn (name->string, "?"));
  conn->publish_stream_id = msg->stream_id;

  if (*conn->key == '\0' ||
      !conn->callbacks.publish_attempt (conn, conn->app, conn->key, conn->user_data)) {
    send_on_status (conn, "error", "NetStream.Publish.BadName", "Publishing refused.");
    /* the key stays out of the message: it is a secret when it is right,
     * and whoever sent a wrong one knows it */
    g_set_error (error, WE_ERROR, WE_ERROR_AUTH_FORBIDDEN,
                 "publish to application \"%s\" refused", conn->app);
    return FALSE;
  }
  send_user_control (conn, WE_RTMP_UC_STREAM_BEGIN, msg->stream_id);
  send_on_status (conn, "status", "NetStream.Publish.Start", "Publishing started.");
  conn->state = WE_RTMP_CONNECTION_PUBLISHING;
  if (conn->callbacks.publish_started != NULL)
    conn->callbacks.publish_started (conn, conn->user_data);
  return TRUE;
}

static gboolean
handle_command (WeRtmpConnection *conn, const WeRtmpMessage *msg, const guint8 *data, gsize len,
                GError **error)
{
  g_autoptr(GPtrArray) args = NULL;
  const WeAmf0Value *name;
  const WeAmf0Value *txn;
  gdouble txn_id = 0;

  args = we_amf0_decode_all (data, len, error);
  if (args == NULL) {
    g_prefix_error (error, "command: ");
    return FALSE;
  }
  if (args->len < 1)
    return TRUE;
  name = g_ptr_array_index (args, 0);
  if (name->type != WE_AMF0_STRING) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_STR_INVALID_REQUEST,
                         "command without a name");
    return FALSE;
  }
  txn = args->len > 1 ? g_ptr_array_index (args, 1) : NULL;
  if (txn != NULL && txn->type == WE_AMF0_NUMBER)
    txn_id = txn->number;

  if (g_str_equal (name->string, "connect")) {
    const WeAmf0Value *cmd = args->len > 2 ? g_ptr_array_index (args, 2) : NULL;

    if (cmd == NULL || cmd->type != WE_AMF0_OBJECT) {
      g_set_error_literal (error, WE_ERROR, WE_ERROR_STR_INVALID_REQUEST,
                           "connect without a command object");
      return FALSE;
    }
    return handle_connect (conn, txn_id, cmd, error);
  }
  if (!conn->connected) {
    g_set_error (error, WE_ERROR, WE_ERROR_STR_INVALID_REQUEST,
                 "command before connect");
    return FALSE;
  }
  if (g_str_equal (name->string, "releaseStream") || g_str_equal (name->string, "FCPublish")) {
    if (txn_id != 0)
      send_result_null (conn, txn_id);
  } else if (g_str_equal (name->string, "createStream")) {
    g_autoptr(GByteArray) body = g_byte_array_new ();

    we_amf0_write_string (body, "_result");
    we_amf0_write_number (body, txn_id);
    we_amf0_write_null (body);
    we_amf0_write_number (body, STREAM_ID);
    send_command (conn, CSID_COMMAND, 0, body);
  } else if (g_str_equal (name->string, "publish")) {
    return handle_publish (conn, msg, args, error);
  } else if (g_str_equal (name->string, "FCUnpublish") ||
             g_str_equal (name->string, "deleteStream") ||
             g_str_equal (name->string, "closeStream")) {
    end_publish (conn, WE_RTMP_END_UNPUBLISHED, NULL);
  }
  /* anything else (_checkbw, getStreamLength, …) needs no answer */
  return TRUE;
}

/* ---- FLV ---- */

static void
emit_flv (WeRtmpConnection *conn, guint8 tag_type, guint32 timestamp, const guint8 *data,
          gsize len)
{
  g_autoptr(GByteArray) flv = g_byte_array_sized_new (len + 32);
  guint32 tag_size = 11 + len;
  guint8 header[11] = {
    tag_type, (len >> 16) & 0xff, (len >> 8) & 0xff, len & 0xff,
    (timestamp >> 16) & 0xff, (timestamp >> 8) & 0xff, timestamp & 0xff, timestamp >> 24,
    0, 0, 0,
  };
  guint8 prev[4] = { tag_size >> 24, (tag_size >> 16) & 0xff, (tag_size >> 8) & 0xff,
                     tag_size & 0xff };

  if (!conn->flv_header_sent) {
    guint8 file_header[13] = { 'F', 'L', 'V', 1, conn->flv_flags, 0, 0, 0, 9, 0, 0, 0, 0 };

    g_byte_array_append (flv, file_header, sizeof file_header);
    conn->flv_header_sent = TRUE;
  }
  g_byte_array_append (flv, header, sizeof header);
  g_byte_array_append (flv, data, len);
  g_byte_array_append (flv, prev, sizeof prev);
  if (conn->callbacks.flv_data != NULL) {
    g_autoptr(GBytes) bytes = g_byte_array_free_to_bytes (g_steal_pointer (&flv));

    conn->callbacks.flv_data (conn, bytes, conn->user_data);
  }
}

/* @setDataFrame("onMetaData", {…}) becomes the script tag onMetaData {…};
 * what the metadata says of the tracks goes into the FLV header when it
 * comes before the first media, as it does from ffmpeg and flvmux */
static gboolean
handle_data (WeRtmpConnection *conn, const WeRtmpMessage *msg, const guint8 *data, gsize len,
             GError **error)
{
  g_autoptr(GPtrArray) values = we_amf0_decode_all (data, len, error);
  const WeAmf0Value *first;
  gsize skip = 0;

  if (values == NULL) {
    g_prefix_error (error, "data message: ");
    return FALSE;
  }
  if (values->len == 0)
    return TRUE;
  first = g_ptr_array_index (values, 0);
  if (first->type == WE_AMF0_STRING && g_str_equal (first->string, "@setDataFrame")) {
    skip = 3 + first->string_len;
    g_ptr_array_remove_index (values, 0);
  } else if (first->type == WE_AMF0_STRING && g_str_equal (first->string, "@clearDataFrame")) {
    return TRUE;
  }
  if (values->len >= 2 && !conn->flv_header_sent) {
    const WeAmf0Value *title = g_ptr_array_index (values, 0);
    const WeAmf0Value *meta = g_ptr_array_index (values, 1);

    if (title->type == WE_AMF0_STRING && g_str_equal (title->string, "onMetaData") &&
        meta->names != NULL) {
      const WeAmf0Value *has_audio = we_amf0_value_get (meta, "audiocodecid");
      const WeAmf0Value *has_video = we_amf0_value_get (meta, "videocodecid");

      if (has_audio != NULL || has_video != NULL)
        conn->flv_flags = (has_audio != NULL ? 0x04 : 0) | (has_video != NULL ? 0x01 : 0);
    }
  }
  emit_flv (conn, 18, msg->timestamp, data + skip, len - skip);
  return TRUE;
}

/* An aggregate message is FLV tags back to back (each with its back
 * pointer); their timestamps count from the aggregate's own. */
static gboolean
handle_aggregate (WeRtmpConnection *conn, const WeRtmpMessage *msg, const guint8 *p, gsize len,
                  GError **error)
{
  gsize pos = 0;
  guint32 first_ts = 0;

  while (pos < len) {
    guint8 type;
    gsize size;
    guint32 ts;

    if (len - pos < 11) {
      g_set_error_literal (error, WE_ERROR, WE_ERROR_STR_INVALID_REQUEST,
                           "aggregate message truncated");
      return FALSE;
    }
    type = p[pos];
    size = ((gsize) p[pos + 1] << 16) | ((gsize) p[pos + 2] << 8) | p[pos + 3];
    ts = ((guint32) p[pos + 7] << 24) | ((guint32) p[pos + 4] << 16) |
         ((guint32) p[pos + 5] << 8) | p[pos + 6];
    if (len - pos - 11 < size + 4) {
      g_set_error_literal (error, WE_ERROR, WE_ERROR_STR_INVALID_REQUEST,
                           "aggregate message truncated");
      return FALSE;
    }
    if (pos == 0)
      first_ts = ts;
    if ((type == WE_RTMP_MSG_AUDIO || type == WE_RTMP_MSG_VIDEO ||
         type == WE_RTMP_MSG_DATA_AMF0) && size > 0)
      emit_flv (conn, type, msg->timestamp + (ts - first_ts), p + pos + 11, size);
    pos += 11 + size + 4;
  }
  return TRUE;
}

/* ---- messages ---- */

static gboolean
handle_message (WeRtmpConnection *conn, const WeRtmpMessage *msg, GError **error)
{
  gsize len = 0;
  const guint8 *p = g_bytes_get_data (msg->payload, &len);

  conn->messages++;
  switch (msg->type) {
  case WE_RTMP_MSG_SET_CHUNK_SIZE:
  case WE_RTMP_MSG_ABORT:
  case WE_RTMP_MSG_ACK:
  case WE_RTMP_MSG_SET_PEER_BANDWIDTH:
    /* the reader applied the first two; we send nothing a publisher
     * acknowledges in a way we act on */
    return TRUE;
  case WE_RTMP_MSG_WINDOW_ACK_SIZE:
    if (len >= 4)
      conn->peer_window = ((guint32) p[0] << 24) | ((guint32) p[1] << 16) |
                          ((guint32) p[2] << 8) | p[3];
    return TRUE;
  case WE_RTMP_MSG_USER_CONTROL:
    if (len >= 6 && ((p[0] << 8) | p[1]) == WE_RTMP_UC_PING_REQUEST) {
      guint32 t = ((guint32) p[2] << 24) | ((guint32) p[3] << 16) | ((guint32) p[4] << 8) | p[5];

      send_user_control (conn, WE_RTMP_UC_PING_RESPONSE, t);
    }
    return TRUE;
  case WE_RTMP_MSG_COMMAND_AMF3:
    /* an AMF0 command behind a format byte */
    if (len < 1) {
      g_set_error_literal (error, WE_ERROR, WE_ERROR_STR_INVALID_REQUEST, "empty command");
      return FALSE;
    }
    return handle_command (conn, msg, p + 1, len - 1, error);
  case WE_RTMP_MSG_COMMAND_AMF0:
    return handle_command (conn, msg, p, len, error);
  case WE_RTMP_MSG_DATA_AMF3:
  case WE_RTMP_MSG_DATA_AMF0:
  case WE_RTMP_MSG_AUDIO:
  case WE_RTMP_MSG_VIDEO:
  case WE_RTMP_MSG_AGGREGATE:
    if (conn->state == WE_RTMP_CONNECTION_ENDED)
      return TRUE;
    if (conn->state != WE_RTMP_CONNECTION_PUBLISHING) {
      g_set_error_literal (error, WE_ERROR, WE_ERROR_STR_INVALID_REQUEST,
                           "media before an accepted publish");
      return FALSE;
    }
    if (msg->stream_id != conn->publish_stream_id)
      return TRUE;
    if (msg->type == WE_RTMP_MSG_DATA_AMF3) {
      if (len < 1)
        return TRUE;
      return handle_data (conn, msg, p + 1, len - 1, error);
    }
    if (msg->type == WE_RTMP_MSG_DATA_AMF0)
      return handle_data (conn, msg, p, len, error);
    if (msg->type == WE_RTMP_MSG_AGGREGATE)
      return handle_aggregate (conn, msg, p, len, error);
    /* an empty audio or video message is a keep-alive some encoders send */
    if (len > 0)
      emit_flv (conn, msg->type, msg->timestamp, p, len);
    return TRUE;
  default:
    /* shared objects, AMF3 shared objects: publishers send none */
    return TRUE;
  }
}

static gboolean
process (WeRtmpConnection *conn, GError **error)
{
  gsize pos = 0;
  gboolean ok = TRUE;

  while (ok) {
    if (conn->state == WE_RTMP_CONNECTION_HANDSHAKE) {
      if (!conn->handshake_c1_done) {
        /* C0 alone tells an RTMP client from anything else */
        if (conn->in->len - pos >= 1 && conn->in->data[pos] != WE_RTMP_VERSION) {
          g_set_error (error, WE_ERROR, WE_ERROR_STR_INVALID_REQUEST,
                       "RTMP version %u in the handshake, not 3", conn->in->data[pos]);
          ok = FALSE;
          break;
        }
        if (conn->in->len - pos < 1 + WE_RTMP_HANDSHAKE_SIZE)
          break;
        we_rtmp_handshake_reply (conn->in->data + pos + 1,
                                 (guint32) (g_get_monotonic_time () / 1000), conn->out);
        pos += 1 + WE_RTMP_HANDSHAKE_SIZE;
        conn->handshake_c1_done = TRUE;
      } else {
        /* C2 should echo S1; clients get that wrong, and it proves nothing */
        if (conn->in->len - pos < WE_RTMP_HANDSHAKE_SIZE)
          break;
        pos += WE_RTMP_HANDSHAKE_SIZE;
        conn->state = WE_RTMP_CONNECTION_CONNECTING;
      }
    } else {
      g_autoptr(WeRtmpMessage) msg = NULL;
      gsize consumed = 0;

      ok = we_rtmp_chunk_reader_read (conn->reader, conn->in->data + pos, conn->in->len - pos,
                                      &consumed, &msg, error);
      pos += consumed;
      if (!ok)
        break;
      if (msg == NULL)
        break;
      ok = handle_message (conn, msg, error);
    }
  }
  g_byte_array_remove_range (conn->in, 0, pos);
  return ok;
}

gboolean
we_rtmp_connection_feed (WeRtmpConnection *conn, const guint8 *data, gsize len, GError **error)
{
  gboolean ok;

  g_byte_array_append (conn->in, data, len);
  ok = process (conn, error);
  conn->bytes_in += len;
  /* the acknowledgement the publisher's window asks for (spec 5.4.3) */
  if (ok && conn->peer_window > 0 && conn->bytes_in - conn->last_ack >= conn->peer_window) {
    conn->last_ack = conn->bytes_in;
    send_control (conn, WE_RTMP_MSG_ACK, (guint32) conn->bytes_in);
  }
  return ok;
}
