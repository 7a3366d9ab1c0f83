/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "we-rtmp-proto.h"

#include <string.h>

#include "webencode/we-error.h"

/* ---- byte helpers ---- */

static guint32
be24 (const guint8 *p)
{
  return ((guint32) p[0] << 16) | ((guint32) p[1] << 8) | p[2];
}

static guint32
be32 (const guint8 *p)
{
  return ((guint32) p[0] << 24) | ((guint32) p[1] << 16) | ((guint32) p[2] << 8) | p[3];
}

static void
put_u8 (GByteArray *out, guint8 v)
{
  g_byte_array_append (out, &v, 1);
}

static void
put_be16 (GByteArray *out, guint16 v)
{
  guint8 b[2] = { v >> 8, v & 0xff };
  g_byte_array_append (out, b, 2);
}

static void
put_be24 (GByteArray *out, guint32 v)
{
  guint8 b[3] = { (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff };
  g_byte_array_append (out, b, 3);
}

static void
put_be32 (GByteArray *out, guint32 v)
{
  guint8 b[4] = { v >> 24, (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff };
  g_byte_array_append (out, b, 4);
}

static void
put_le32 (GByteArray *out, guint32 v)
{
  guint8 b[4] = { v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, v >> 24 };
  g_byte_array_append (out, b, 4);
}

/* ---- handshake ---- */

void
we_rtmp_handshake_reply (const guint8 *c1, guint32 epoch, GByteArray *out)
{
  guint8 s1[WE_RTMP_HANDSHAKE_SIZE];

  put_u8 (out, WE_RTMP_VERSION);
  s1[0] = epoch >> 24;
  s1[1] = (epoch >> 16) & 0xff;
  s1[2] = (epoch >> 8) & 0xff;
  s1[3] = epoch & 0xff;
  /* a zero version: no digest handshake (see the header) */
  memset (s1 + 4, 0, 4);
  for (gsize i = 8; i < sizeof s1; i += 4) {
    guint32 r = g_random_int ();
    memcpy (s1 + i, &r, MIN (4, sizeof s1 - i));
  }
  g_byte_array_append (out, s1, sizeof s1);
  g_byte_array_append (out, c1, WE_RTMP_HANDSHAKE_SIZE);
}

/* ---- chunk stream reader ---- */

typedef struct {
  guint32     csid;
  gboolean    started;    /* a type 0 header was seen */
  guint8      type;
  guint32     length;
  guint32     stream_id;
  guint32     timestamp;  /* of the current message */
  guint32     ts_field;   /* the last header's timestamp field (absolute or delta) */
  gboolean    ext_ts;     /* the last header carried an extended timestamp */
  GByteArray *partial;    /* the message being assembled, NULL between messages */
} ChunkStream;

struct _WeRtmpChunkReader {
  guint32      chunk_size;
  GHashTable  *streams;      /* csid → ChunkStream */
  ChunkStream *cur;          /* whose chunk payload is being read, or NULL */
  guint32      chunk_left;   /* bytes of cur's chunk still to come */
  gsize        pending;      /* bytes in all partial messages */
};

static void
chunk_stream_free (gpointer data)
{
  ChunkStream *cs = data;

  if (cs->partial != NULL)
    g_byte_array_unref (cs->partial);
  g_free (cs);
}

void
we_rtmp_message_free (WeRtmpMessage *msg)
{
  if (msg == NULL)
    return;
  g_bytes_unref (msg->payload);
  g_free (msg);
}

WeRtmpChunkReader *
we_rtmp_chunk_reader_new (void)
{
  WeRtmpChunkReader *reader = g_new0 (WeRtmpChunkReader, 1);

  reader->chunk_size = WE_RTMP_DEFAULT_CHUNK_SIZE;
  reader->streams = g_hash_table_new_full (NULL, NULL, NULL, chunk_stream_free);
  return reader;
}

void
we_rtmp_chunk_reader_free (WeRtmpChunkReader *reader)
{
  if (reader == NULL)
    return;
  g_hash_table_unref (reader->streams);
  g_free (reader);
}

guint32
we_rtmp_chunk_reader_get_chunk_size (WeRtmpChunkReader *reader)
{
  return reader->chunk_size;
}

static gboolean
fail (GError **error, const gchar *message)
{
  g_set_error_literal (error, WE_ERROR, WE_ERROR_STR_INVALID_REQUEST, message);
  return FALSE;
}

/* the protocol control messages the reader itself must obey */
static gboolean
apply_control (WeRtmpChunkReader *reader, const WeRtmpMessage *msg, GError **error)
{
  gsize len = 0;
  const guint8 *p = g_bytes_get_data (msg->payload, &len);

  if (msg->csid != 2 || msg->stream_id != 0)
    return TRUE;
  if (msg->type == WE_RTMP_MSG_SET_CHUNK_SIZE) {
    guint32 size;

    if (len < 4)
      return fail (error, "Set Chunk Size message too short");
    size = be32 (p) & 0x7fffffff;
    if (size < 1 || size > WE_RTMP_MAX_CHUNK_SIZE) {
      g_set_error (error, WE_ERROR, WE_ERROR_STR_INVALID_REQUEST,
                   "chunk size %u out of range 1..%u", size, WE_RTMP_MAX_CHUNK_SIZE);
      return FALSE;
    }
    reader->chunk_size = size;
  } else if (msg->type == WE_RTMP_MSG_ABORT) {
    ChunkStream *cs;

    if (len < 4)
      return fail (error, "Abort message too short");
    cs = g_hash_table_lookup (reader->streams, GUINT_TO_POINTER (be32 (p)));
    if (cs != NULL && cs->partial != NULL && cs != reader->cur) {
      reader->pending -= cs->partial->len;
      g_clear_pointer (&cs->partial, g_byte_array_unref);
    }
  }
  return TRUE;
}

/* Parses the next chunk header at @data; 0 when more bytes are needed. */
static gsize
read_header (WeRtmpChunkReader *reader, const guint8 *data, gsize len, GError **error)
{
  static const gsize header_sizes[] = { 11, 7, 3, 0 };
  guint fmt, csid;
  gsize pos;
  ChunkStream *cs;
  guint32 ts_field = 0;
  gboolean new_message;

  if (len < 1)
    return 0;
  fmt = data[0] >> 6;
  csid = data[0] & 0x3f;
  pos = 1;
  if (csid == 0) {
    if (len < 2)
      return 0;
    csid = 64 + data[1];
    pos = 2;
  } else if (csid == 1) {
    if (len < 3)
      return 0;
    csid = 64 + data[1] + ((guint) data[2] << 8);
    pos = 3;
  }
  if (len < pos + header_sizes[fmt])
    return 0;

  cs = g_hash_table_lookup (reader->streams, GUINT_TO_POINTER (csid));
  if (cs == NULL) {
    if (g_hash_table_size (reader->streams) >= WE_RTMP_MAX_CHUNK_STREAMS) {
      fail (error, "too many chunk streams");
      return 0;
    }
    cs = g_new0 (ChunkStream, 1);
    cs->csid = csid;
    g_hash_table_insert (reader->streams, GUINT_TO_POINTER (csid), cs);
  }
  new_message = cs->partial == NULL;
  if (!new_message && fmt != 3) {
    fail (error, "new chunk header in the middle of a message");
    return 0;
  }
  if (new_message && fmt != 0 && !cs->started) {
    fail (error, "first chunk of a chunk stream without a full header");
    return 0;
  }

  if (fmt <= 2) {
    ts_field = be24 (data + pos);
    if (fmt <= 1) {
      guint32 length = be24 (data + pos + 3);

      if (length > WE_RTMP_MAX_MESSAGE_SIZE) {
        g_set_error (error, WE_ERROR, WE_ERROR_SYS_PAYLOAD_TOO_LARGE,
                     "message of %u bytes is larger than %u", length, WE_RTMP_MAX_MESSAGE_SIZE);
        return 0;
      }
      cs->length = length;
      cs->type = data[pos + 6];
      if (fmt == 0)
        cs->stream_id = data[pos + 7] | ((guint32) data[pos + 8] << 8) |
                        ((guint32) data[pos + 9] << 16) | ((guint32) data[pos + 10] << 24);
    }
    pos += header_sizes[fmt];
    cs->ext_ts = ts_field == 0xffffff;
  }
  if (cs->ext_ts) {
    if (len < pos + 4)
      return 0;
    /* a type 3 chunk repeats the extended timestamp (spec 5.3.1.3) */
    if (fmt <= 2)
      ts_field = be32 (data + pos);
    pos += 4;
  }

  if (new_message) {
    if (fmt == 0) {
      cs->timestamp = ts_field;
      cs->ts_field = ts_field;
    } else if (fmt <= 2) {
      cs->timestamp += ts_field;
      cs->ts_field = ts_field;
    } else {
      /* type 3 opening a message: the last delta again */
      cs->timestamp += cs->ts_field;
    }
    cs->started = TRUE;
    cs->partial = g_byte_array_sized_new (MIN (cs->length, 65536));
  }
  reader->cur = cs;
  reader->chunk_left = MIN (reader->chunk_size, cs->length - cs->partial->len);
  return pos;
}

gboolean
we_rtmp_chunk_reader_read (WeRtmpChunkReader *reader, const guint8 *data, gsize len,
                           gsize *consumed, WeRtmpMessage **msg, GError **error)
{
  gsize pos = 0;

  g_return_val_if_fail (consumed != NULL && msg != NULL, FALSE);
  *consumed = 0;
  *msg = NULL;

  for (;;) {
    ChunkStream *cs;
    gsize n;

    if (reader->cur == NULL) {
      g_autoptr(GError) local = NULL;
      gsize header = read_header (reader, data + pos, len - pos, &local);

      if (local != NULL) {
        g_propagate_error (error, g_steal_pointer (&local));
        return FALSE;
      }
      if (header == 0)
        break;
      pos += header;
    }
    cs = reader->cur;
    n = MIN (reader->chunk_left, len - pos);
    if (reader->pending + n > WE_RTMP_MAX_PENDING_BYTES)
      return fail (error, "too many bytes in unfinished messages");
    g_byte_array_append (cs->partial, data + pos, n);
    reader->pending += n;
    reader->chunk_left -= n;
    pos += n;
    if (reader->chunk_left > 0)
      break;
    reader->cur = NULL;
    if (cs->partial->len == cs->length) {
      g_autoptr(WeRtmpMessage) m = g_new0 (WeRtmpMessage, 1);

      reader->pending -= cs->partial->len;
      m->csid = cs->csid;
      m->type = cs->type;
      m->timestamp = cs->timestamp;
      m->stream_id = cs->stream_id;
      m->payload = g_byte_array_free_to_bytes (g_steal_pointer (&cs->partial));
      if (!apply_control (reader, m, error)) {
        *consumed = pos;
        return FALSE;
      }
      *msg = g_steal_pointer (&m);
      break;
    }
  }
  *consumed = pos;
  return TRUE;
}

/* ---- chunk writer ---- */

static void
put_basic_header (GByteArray *out, guint fmt, guint32 csid)
{
  if (csid < 64) {
    put_u8 (out, (fmt << 6) | csid);
  } else if (csid < 320) {
    put_u8 (out, fmt << 6);
    put_u8 (out, csid - 64);
  } else {
    put_u8 (out, (fmt << 6) | 1);
    put_u8 (out, (csid - 64) & 0xff);
    put_u8 (out, (csid - 64) >> 8);
  }
}

void
we_rtmp_chunk_write (GByteArray *out, guint32 chunk_size, guint32 csid, guint8 type,
                     guint32 timestamp, guint32 stream_id, const guint8 *payload, gsize len)
{
  gboolean ext = timestamp >= 0xffffff;
  gsize pos = 0;

  g_return_if_fail (csid >= 2 && csid < 65600 && chunk_size > 0 && len < 0x1000000);
  put_basic_header (out, 0, csid);
  put_be24 (out, ext ? 0xffffff : timestamp);
  put_be24 (out, (guint32) len);
  put_u8 (out, type);
  put_le32 (out, stream_id);
  if (ext)
    put_be32 (out, timestamp);
  do {
    gsize n = MIN (chunk_size, len - pos);

    if (pos > 0) {
      put_basic_header (out, 3, csid);
      if (ext)
        put_be32 (out, timestamp);
    }
    g_byte_array_append (out, payload + pos, n);
    pos += n;
  } while (pos < len);
}

/* ---- AMF0 ---- */

WeAmf0Value *
we_amf0_value_new (WeAmf0Type type)
{
  WeAmf0Value *value = g_new0 (WeAmf0Value, 1);

  value->type = type;
  if (type == WE_AMF0_OBJECT || type == WE_AMF0_ECMA_ARRAY)
    value->names = g_ptr_array_new_with_free_func (g_free);
  if (type == WE_AMF0_OBJECT || type == WE_AMF0_ECMA_ARRAY || type == WE_AMF0_STRICT_ARRAY)
    value->values = g_ptr_array_new_with_free_func ((GDestroyNotify) we_amf0_value_free);
  return value;
}

WeAmf0Value *
we_amf0_value_new_number (gdouble number)
{
  WeAmf0Value *value = we_amf0_value_new (WE_AMF0_NUMBER);

  value->number = number;
  return value;
}

WeAmf0Value *
we_amf0_value_new_boolean (gboolean boolean)
{
  WeAmf0Value *value = we_amf0_value_new (WE_AMF0_BOOLEAN);

  value->boolean = !!boolean;
  return value;
}

WeAmf0Value *
we_amf0_value_new_string (const gchar *string)
{
  gsize len = strlen (string);
  WeAmf0Value *value = we_amf0_value_new (len > G_MAXUINT16 ? WE_AMF0_LONG_STRING
                                                            : WE_AMF0_STRING);

  value->string = g_strdup (string);
  value->string_len = len;
  return value;
}

void
we_amf0_value_free (WeAmf0Value *value)
{
  if (value == NULL)
    return;
  g_free (value->string);
  g_clear_pointer (&value->names, g_ptr_array_unref);
  g_clear_pointer (&value->values, g_ptr_array_unref);
  g_free (value);
}

void
we_amf0_value_add (WeAmf0Value *container, const gchar *name, WeAmf0Value *value)
{
  g_return_if_fail (container->values != NULL);
  g_return_if_fail ((container->names != NULL) == (name != NULL));
  if (name != NULL)
    g_ptr_array_add (container->names, g_strdup (name));
  g_ptr_array_add (container->values, value);
}

const WeAmf0Value *
we_amf0_value_get (const WeAmf0Value *object, const gchar *name)
{
  if (object == NULL || object->names == NULL)
    return NULL;
  for (guint i = 0; i < object->names->len; i++) {
    if (g_strcmp0 (g_ptr_array_index (object->names, i), name) == 0)
      return g_ptr_array_index (object->values, i);
  }
  return NULL;
}

const gchar *
we_amf0_value_get_string (const WeAmf0Value *object, const gchar *name)
{
  const WeAmf0Value *v = we_amf0_value_get (object, name);

  if (v == NULL || (v->type != WE_AMF0_STRING && v->type != WE_AMF0_LONG_STRING))
    return NULL;
  return v->string;
}

gboolean
we_amf0_value_equal (const WeAmf0Value *a, const WeAmf0Value *b)
{
  if (a->type != b->type)
    return FALSE;
  switch (a->type) {
  case WE_AMF0_NUMBER:
    return memcmp (&a->number, &b->number, sizeof a->number) == 0;
  case WE_AMF0_DATE:
    return memcmp (&a->number, &b->number, sizeof a->number) == 0 && a->tz == b->tz;
  case WE_AMF0_BOOLEAN:
    return a->boolean == b->boolean;
  case WE_AMF0_STRING:
  case WE_AMF0_LONG_STRING:
    return a->string_len == b->string_len && memcmp (a->string, b->string, a->string_len) == 0;
  case WE_AMF0_OBJECT:
  case WE_AMF0_ECMA_ARRAY:
  case WE_AMF0_STRICT_ARRAY:
    if (a->values->len != b->values->len)
      return FALSE;
    for (guint i = 0; i < a->values->len; i++) {
      if (a->names != NULL &&
          g_strcmp0 (g_ptr_array_index (a->names, i), g_ptr_array_index (b->names, i)) != 0)
        return FALSE;
      if (!we_amf0_value_equal (g_ptr_array_index (a->values, i),
                                g_ptr_array_index (b->values, i)))
        return FALSE;
    }
    return TRUE;
  case WE_AMF0_NULL:
  case WE_AMF0_UNDEFINED:
  case WE_AMF0_OBJECT_END:
  default:
    return TRUE;
  }
}

typedef struct {
  const guint8 *data;
  gsize         len;
  gsize         pos;
  guint         values;
} Decoder;

static gboolean
need (Decoder *d, gsize n, GError **error)
{
  if (d->len - d->pos < n)
    return fail (error, "AMF0 value truncated");
  return TRUE;
}

static gdouble
read_double (Decoder *d)
{
  guint64 bits = ((guint64) be32 (d->data + d->pos) << 32) | be32 (d->data + d->pos + 4);
  gdouble v;

  memcpy (&v, &bits, sizeof v);
  d->pos += 8;
  return v;
}

static WeAmf0Value *decode_value (Decoder *d, guint depth, GError **error);

/* the name/value pairs of an object or ECMA array, up to the end marker */
static gboolean
decode_properties (Decoder *d, WeAmf0Value *container, guint depth, GError **error)
{
  for (;;) {
    guint16 name_len;
    g_autofree gchar *name = NULL;
    WeAmf0Value *value;

    if (!need (d, 2, error))
      return FALSE;
    name_len = (d->data[d->pos] << 8) | d->data[d->pos + 1];
    d->pos += 2;
    if (name_len == 0) {
      if (!need (d, 1, error))
        return FALSE;
      if (d->data[d->pos] == WE_AMF0_OBJECT_END) {
        d->pos++;
        return TRUE;
      }
    }
    if (!need (d, name_len, error))
      return FALSE;
    if (memchr (d->data + d->pos, 0, name_len) != NULL)
      return fail (error, "AMF0 property name holds a NUL");
    name = g_strndup ((const gchar *) d->data + d->pos, name_len);
    d->pos += name_len;
    value = decode_value (d, depth + 1, error);
    if (value == NULL)
      return FALSE;
    g_ptr_array_add (container->names, g_steal_pointer (&name));
    g_ptr_array_add (container->values, value);
  }
}

static WeAmf0Value *
decode_value (Decoder *d, guint depth, GError **error)
{
  g_autoptr(WeAmf0Value) value = NULL;
  guint8 marker;

  if (depth > WE_AMF0_MAX_DEPTH) {
    fail (error, "AMF0 values nested too deeply");
    return NULL;
  }
  if (++d->values > WE_AMF0_MAX_VALUES) {
    fail (error, "too many AMF0 values");
    return NULL;
  }
  if (!need (d, 1, error))
    return NULL;
  marker = d->data[d->pos++];
  switch (marker) {
  case WE_AMF0_NUMBER:
    if (!need (d, 8, error))
      return NULL;
    value = we_amf0_value_new (WE_AMF0_NUMBER);
    value->number = read_double (d);
    break;
  case WE_AMF0_BOOLEAN:
    if (!need (d, 1, error))
      return NULL;
    value = we_amf0_value_new_boolean (d->data[d->pos++] != 0);
    break;
  case WE_AMF0_STRING:
  case WE_AMF0_LONG_STRING: {
    gsize n;

    if (!need (d, marker == WE_AMF0_STRING ? 2 : 4, error))
      return NULL;
    if (marker == WE_AMF0_STRING) {
      n = (d->data[d->pos] << 8) | d->data[d->pos + 1];
      d->pos += 2;
    } else {
      n = be32 (d->data + d->pos);
      d->pos += 4;
    }
    if (!need (d, n, error))
      return NULL;
    value = we_amf0_value_new (marker);
    value->string = g_malloc (n + 1);
    memcpy (value->string, d->data + d->pos, n);
    value->string[n] = '\0';
    value->string_len = n;
    d->pos += n;
    break;
  }
  case WE_AMF0_OBJECT:
    value = we_amf0_value_new (WE_AMF0_OBJECT);
    if (!decode_properties (d, value, depth, error))
      return NULL;
    break;
  case WE_AMF0_ECMA_ARRAY:
    /* the count is only a hint (encoders get it wrong); the end marker
     * ends the array */
    if (!need (d, 4, error))
      return NULL;
    d->pos += 4;
    value = we_amf0_value_new (WE_AMF0_ECMA_ARRAY);
    if (!decode_properties (d, value, depth, error))
      return NULL;
    break;
  case WE_AMF0_STRICT_ARRAY: {
    guint32 count;

    if (!need (d, 4, error))
      return NULL;
    count = be32 (d->data + d->pos);
    d->pos += 4;
    /* every value takes a byte at least */
    if (count > d->len - d->pos || count > WE_AMF0_MAX_VALUES) {
      fail (error, "AMF0 strict array longer than its message");
      return NULL;
    }
    value = we_amf0_value_new (WE_AMF0_STRICT_ARRAY);
    for (guint32 i = 0; i < count; i++) {
      WeAmf0Value *item = decode_value (d, depth + 1, error);

      if (item == NULL)
        return NULL;
      g_ptr_array_add (value->values, item);
    }
    break;
  }
  case WE_AMF0_DATE:
    if (!need (d, 10, error))
      return NULL;
    value = we_amf0_value_new (WE_AMF0_DATE);
    value->number = read_double (d);
    value->tz = (gint16) ((d->data[d->pos] << 8) | d->data[d->pos + 1]);
    d->pos += 2;
    break;
  case WE_AMF0_NULL:
  case WE_AMF0_UNDEFINED:
    value = we_amf0_value_new (marker);
    break;
  default:
    /* movie clip, reference, XML, typed object, AMF3: nothing a publisher
     * sends */
    g_set_error (error, WE_ERROR, WE_ERROR_STR_INVALID_REQUEST,
                 "unsupported AMF0 type 0x%02x", marker);
    return NULL;
  }
  return g_steal_pointer (&value);
}

WeAmf0Value *
we_amf0_decode (const guint8 *data, gsize len, gsize *consumed, GError **error)
{
  Decoder d = { data, len, 0, 0 };
  WeAmf0Value *value = decode_value (&d, 0, error);

  if (consumed != NULL)
    *consumed = value != NULL ? d.pos : 0;
  return value;
}

GPtrArray *
we_amf0_decode_all (const guint8 *data, gsize len, GError **error)
{
  g_autoptr(GPtrArray) values =
    g_ptr_array_new_with_free_func ((GDestroyNotify) we_amf0_value_free);
  Decoder d = { data, len, 0, 0 };

  while (d.pos < len) {
    WeAmf0Value *value = decode_value (&d, 0, error);

    if (value == NULL)
      return NULL;
    g_ptr_array_add (values, value);
  }
  return g_steal_pointer (&values);
}

void
we_amf0_write_number (GByteArray *out, gdouble number)
{
  guint64 bits;

  memcpy (&bits, &number, sizeof bits);
  put_u8 (out, WE_AMF0_NUMBER);
  put_be32 (out, bits >> 32);
  put_be32 (out, bits & 0xffffffff);
}

void
we_amf0_write_boolean (GByteArray *out, gboolean boolean)
{
  put_u8 (out, WE_AMF0_BOOLEAN);
  put_u8 (out, boolean ? 1 : 0);
}

static void
write_string_len (GByteArray *out, const gchar *string, gsize len)
{
  if (len > G_MAXUINT16) {
    put_u8 (out, WE_AMF0_LONG_STRING);
    put_be32 (out, (guint32) len);
  } else {
    put_u8 (out, WE_AMF0_STRING);
    put_be16 (out, (guint16) len);
  }
  g_byte_array_append (out, (const guint8 *) string, len);
}

void
we_amf0_write_string (GByteArray *out, const gchar *string)
{
  write_string_len (out, string, strlen (string));
}

void
we_amf0_write_null (GByteArray *out)
{
  put_u8 (out, WE_AMF0_NULL);
}

void
we_amf0_write_object_start (GByteArray *out)
{
  put_u8 (out, WE_AMF0_OBJECT);
}

void
we_amf0_write_property_name (GByteArray *out, const gchar *name)
{
  gsize len = MIN (strlen (name), G_MAXUINT16);

  put_be16 (out, (guint16) len);
  g_byte_array_append (out, (const guint8 *) name, len);
}

void
we_amf0_write_object_end (GByteArray *out)
{
  put_be16 (out, 0);
  put_u8 (out, WE_AMF0_OBJECT_END);
}

void
we_amf0_encode (GByteArray *out, const WeAmf0Value *value)
{
  switch (value->type) {
  case WE_AMF0_NUMBER:
    we_amf0_write_number (out, value->number);
    break;
  case WE_AMF0_BOOLEAN:
    we_amf0_write_boolean (out, value->boolean);
    break;
  case WE_AMF0_STRING:
  case WE_AMF0_LONG_STRING:
    /* the marker of the value, so a decoded long string stays one */
    put_u8 (out, value->type);
    if (value->type == WE_AMF0_STRING)
      put_be16 (out, (guint16) MIN (value->string_len, G_MAXUINT16));
    else
      put_be32 (out, (guint32) value->string_len);
    g_byte_array_append (out, (const guint8 *) value->string,
                         value->type == WE_AMF0_STRING ? MIN (value->string_len, G_MAXUINT16)
                                                       : value->string_len);
    break;
  case WE_AMF0_OBJECT:
  case WE_AMF0_ECMA_ARRAY:
    put_u8 (out, value->type);
    if (value->type == WE_AMF0_ECMA_ARRAY)
      put_be32 (out, value->values->len);
    for (guint i = 0; i < value->values->len; i++) {
      we_amf0_write_property_name (out, g_ptr_array_index (value->names, i));
      we_amf0_encode (out, g_ptr_array_index (value->values, i));
    }
    we_amf0_write_object_end (out);
    break;
  case WE_AMF0_STRICT_ARRAY:
    put_u8 (out, WE_AMF0_STRICT_ARRAY);
    put_be32 (out, value->values->len);
    for (guint i = 0; i < value->values->len; i++)
      we_amf0_encode (out, g_ptr_array_index (value->values, i));
    break;
  case WE_AMF0_DATE: {
    guint64 bits;

    memcpy (&bits, &value->number, sizeof bits);
    put_u8 (out, WE_AMF0_DATE);
    put_be32 (out, bits >> 32);
    put_be32 (out, bits & 0xffffffff);
    put_be16 (out, (guint16) value->tz);
    break;
  }
  case WE_AMF0_NULL:
  case WE_AMF0_UNDEFINED:
  case WE_AMF0_OBJECT_END:
  default:
    put_u8 (out, value->type);
    break;
  }
}
