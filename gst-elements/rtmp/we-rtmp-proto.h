/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The RTMP wire format, without any I/O: the simple handshake, the chunk
 * stream (reader and writer) and AMF0, written from Adobe's "RTMP
 * Specification 1.0" and "AMF0 File Format Specification". Everything here
 * parses bytes a stranger sent: every length is checked against a limit
 * before anything is allocated for it.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define WE_RTMP_HANDSHAKE_SIZE 1536
#define WE_RTMP_VERSION        3

/* the chunk size every stream starts with (spec 5.4.1) */
#define WE_RTMP_DEFAULT_CHUNK_SIZE 128
/* what a peer may set with Set Chunk Size: the spec allows 2^31 - 1, but no
 * encoder uses more than 64 KiB and a large value only lets a client pin
 * memory */
#define WE_RTMP_MAX_CHUNK_SIZE (1 << 20)
/* the largest message we assemble: the 24-bit length allows 16 MiB - 1; a
 * video key frame of a 4K stream stays well below this */
#define WE_RTMP_MAX_MESSAGE_SIZE (8 << 20)
/* bytes of unfinished messages a connection may hold over all its chunk
 * streams */
#define WE_RTMP_MAX_PENDING_BYTES (16 << 20)
/* chunk streams one connection may open; publishers use fewer than ten */
#define WE_RTMP_MAX_CHUNK_STREAMS 64

/* message type ids (spec 5.4 and 7.1) */
typedef enum {
  WE_RTMP_MSG_SET_CHUNK_SIZE = 1,
  WE_RTMP_MSG_ABORT = 2,
  WE_RTMP_MSG_ACK = 3,
  WE_RTMP_MSG_USER_CONTROL = 4,
  WE_RTMP_MSG_WINDOW_ACK_SIZE = 5,
  WE_RTMP_MSG_SET_PEER_BANDWIDTH = 6,
  WE_RTMP_MSG_AUDIO = 8,
  WE_RTMP_MSG_VIDEO = 9,
  WE_RTMP_MSG_DATA_AMF3 = 15,
  WE_RTMP_MSG_COMMAND_AMF3 = 17,
  WE_RTMP_MSG_DATA_AMF0 = 18,
  WE_RTMP_MSG_COMMAND_AMF0 = 20,
  WE_RTMP_MSG_AGGREGATE = 22,
} WeRtmpMessageType;

/* User Control event types (spec 7.1.7) */
typedef enum {
  WE_RTMP_UC_STREAM_BEGIN = 0,
  WE_RTMP_UC_STREAM_EOF = 1,
  WE_RTMP_UC_PING_REQUEST = 6,
  WE_RTMP_UC_PING_RESPONSE = 7,
} WeRtmpUserControl;

/* ---- handshake ---- */

/* S0+S1+S2 for the client's C1 (@c1 is WE_RTMP_HANDSHAKE_SIZE bytes): S1
 * carries our time and random bytes with a zero version field, which tells
 * clients (ffmpeg, librtmp in OBS, rtmp2) to skip the digest handshake; S2
 * echoes C1. */
void we_rtmp_handshake_reply (const guint8 *c1, guint32 epoch, GByteArray *out);

/* ---- chunk stream ---- */

typedef struct {
  guint32  csid;
  guint8   type;
  guint32  timestamp;  /* ms, absolute, wraps at 2^32 */
  guint32  stream_id;
  GBytes  *payload;
} WeRtmpMessage;

void we_rtmp_message_free (WeRtmpMessage *msg);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeRtmpMessage, we_rtmp_message_free)

typedef struct _WeRtmpChunkReader WeRtmpChunkReader;

WeRtmpChunkReader *we_rtmp_chunk_reader_new (void);
void               we_rtmp_chunk_reader_free (WeRtmpChunkReader *reader);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeRtmpChunkReader, we_rtmp_chunk_reader_free)

/* Consumes what it can of @data (*@consumed bytes) and stops after the
 * first complete message (*@msg) or when the rest is too short for the next
 * header: call again with the unconsumed bytes once more have arrived. Set
 * Chunk Size and Abort take effect here, before the next chunk is read, and
 * are returned too. FALSE with @error (WE_ERROR_STR_INVALID_REQUEST) on
 * anything a conforming peer cannot send; the connection must then be
 * dropped. */
gboolean we_rtmp_chunk_reader_read (WeRtmpChunkReader *reader, const guint8 *data, gsize len,
                                    gsize *consumed, WeRtmpMessage **msg, GError **error);
guint32  we_rtmp_chunk_reader_get_chunk_size (WeRtmpChunkReader *reader);

/* Appends @payload as chunks of @chunk_size: a type 0 header, then type 3
 * continuations (with the extended timestamp repeated, as the spec asks). */
void we_rtmp_chunk_write (GByteArray *out, guint32 chunk_size, guint32 csid, guint8 type,
                          guint32 timestamp, guint32 stream_id, const guint8 *payload, gsize len);

/* ---- AMF0 ---- */

typedef enum {
  WE_AMF0_NUMBER = 0x00,
  WE_AMF0_BOOLEAN = 0x01,
  WE_AMF0_STRING = 0x02,
  WE_AMF0_OBJECT = 0x03,
  WE_AMF0_NULL = 0x05,
  WE_AMF0_UNDEFINED = 0x06,
  WE_AMF0_ECMA_ARRAY = 0x08,
  WE_AMF0_OBJECT_END = 0x09,
  WE_AMF0_STRICT_ARRAY = 0x0a,
  WE_AMF0_DATE = 0x0b,
  WE_AMF0_LONG_STRING = 0x0c,
} WeAmf0Type;

/* nesting of objects and arrays we follow */
#define WE_AMF0_MAX_DEPTH 16
/* values in one decoded tree; a command has a dozen */
#define WE_AMF0_MAX_VALUES 4096

typedef struct _WeAmf0Value WeAmf0Value;

struct _WeAmf0Value {
  WeAmf0Type type;
  gdouble    number;  /* NUMBER, DATE (ms since the epoch) */
  gint16     tz;      /* DATE */
  gboolean   boolean;
  gchar     *string;  /* STRING, LONG_STRING: NUL-terminated, may hold NULs */
  gsize      string_len;
  /* OBJECT, ECMA_ARRAY: names (gchar *) and values, in order;
   * STRICT_ARRAY: values only */
  GPtrArray *names;
  GPtrArray *values;
};

WeAmf0Value *we_amf0_value_new (WeAmf0Type type);
WeAmf0Value *we_amf0_value_new_number (gdouble number);
WeAmf0Value *we_amf0_value_new_boolean (gboolean boolean);
WeAmf0Value *we_amf0_value_new_string (const gchar *string);
void         we_amf0_value_free (WeAmf0Value *value);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeAmf0Value, we_amf0_value_free)

/* adds @name = @value (taken) to an OBJECT or ECMA_ARRAY, or @value to a
 * STRICT_ARRAY (@name NULL) */
void               we_amf0_value_add (WeAmf0Value *container, const gchar *name,
                                      WeAmf0Value *value);
const WeAmf0Value *we_amf0_value_get (const WeAmf0Value *object, const gchar *name);
/* the string of @name in @object, or NULL when absent or not a string */
const gchar       *we_amf0_value_get_string (const WeAmf0Value *object, const gchar *name);
gboolean           we_amf0_value_equal (const WeAmf0Value *a, const WeAmf0Value *b);

/* Decodes one value at @data; *@consumed is its length. */
WeAmf0Value *we_amf0_decode (const guint8 *data, gsize len, gsize *consumed, GError **error);
/* Decodes values until @len is used up (a command: name, transaction id,
 * arguments). */
GPtrArray   *we_amf0_decode_all (const guint8 *data, gsize len, GError **error);
void         we_amf0_encode (GByteArray *out, const WeAmf0Value *value);

/* shorthands for building replies */
void we_amf0_write_number (GByteArray *out, gdouble number);
void we_amf0_write_boolean (GByteArray *out, gboolean boolean);
void we_amf0_write_string (GByteArray *out, const gchar *string);
void we_amf0_write_null (GByteArray *out);
void we_amf0_write_object_start (GByteArray *out);
void we_amf0_write_property_name (GByteArray *out, const gchar *name);
void we_amf0_write_object_end (GByteArray *out);

G_END_DECLS
