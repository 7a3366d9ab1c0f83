/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The RTMP ingest port is open to the internet: whatever bytes arrive go
 * through the handshake, the chunk reader, AMF0 and the command dispatch of
 * a connection (we-rtmp-connection.c, driven from memory as the server
 * drives it from a socket). The input is cut into reads of varying size so
 * the incremental parsers see every split; every AMF0 value that decodes
 * must also survive a round trip.
 */
#include <stdint.h>
#include <string.h>

#include "we-rtmp-connection.h"
#include "we-rtmp-proto.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

typedef struct {
  gsize    flv_bytes;
  gboolean started;
  gboolean ended;
} State;

static gboolean
attempt (WeRtmpConnection *conn, const gchar *app, const gchar *key, gpointer user_data)
{
  g_assert (app != NULL && key != NULL);
  /* the key of the seed corpus */
  return g_str_equal (key, "fuzzkey");
}

static void
started (WeRtmpConnection *conn, gpointer user_data)
{
  State *state = user_data;

  g_assert (!state->started);
  state->started = TRUE;
}

static void
flv_data (WeRtmpConnection *conn, GBytes *bytes, gpointer user_data)
{
  State *state = user_data;
  gsize len = 0;
  const guint8 *p = g_bytes_get_data (bytes, &len);

  g_assert (state->started && !state->ended);
  /* whole tags: each ends with its size */
  g_assert (len >= 15);
  if (state->flv_bytes == 0)
    g_assert (memcmp (p, "FLV", 3) == 0);
  state->flv_bytes += len;
}

static void
ended (WeRtmpConnection *conn, WeRtmpEndReason reason, const gchar *message, gpointer user_data)
{
  State *state = user_data;

  g_assert (state->started && !state->ended);
  g_assert ((reason == WE_RTMP_END_ERROR) == (message != NULL));
  state->ended = TRUE;
}

static const WeRtmpConnectionCallbacks callbacks = { attempt, started, flv_data, ended };

static void
amf0_round_trip (const uint8_t *data, size_t size)
{
  g_autoptr(GError) error = NULL;
  gsize consumed = 0;
  g_autoptr(WeAmf0Value) value = we_amf0_decode (data, size, &consumed, &error);
  g_autoptr(GByteArray) out = NULL;
  g_autoptr(WeAmf0Value) back = NULL;

  if (value == NULL) {
    g_assert (error != NULL);
    return;
  }
  g_assert (consumed > 0 && consumed <= size);
  out = g_byte_array_new ();
  we_amf0_encode (out, value);
  back = we_amf0_decode (out->data, out->len, NULL, &error);
  g_assert (back != NULL);
  g_assert (we_amf0_value_equal (value, back));
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  State state = { 0 };
  g_autoptr(WeRtmpConnection) conn = we_rtmp_connection_new (&callbacks, &state);
  g_autoptr(GError) error = NULL;
  gsize pos = 0;
  guint i = 0;

  /* the first byte picks how the stream is cut */
  guint cut = size > 0 ? data[0] : 0;

  while (pos < size) {
    gsize piece = 1 + (gsize) ((cut * ++i) % 2048);
    gsize n = cut == 0 ? size - pos : MIN (size - pos, piece);
    g_autoptr(GBytes) out = NULL;

    if (!we_rtmp_connection_feed (conn, data + pos, n, &error)) {
      g_assert (error != NULL);
      break;
    }
    g_assert (error == NULL);
    pos += n;
    out = we_rtmp_connection_take_output (conn);
  }
  we_rtmp_connection_close (conn, error);
  g_assert (!state.started || state.ended);

  if (size > 1)
    amf0_round_trip (data + 1, size - 1);
  return 0;
}
