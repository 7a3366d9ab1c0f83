/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A publisher's bytes for the RTMP tests, written with our own chunk writer
 * and AMF0 encoder (their round trips are tested on their own).
 */
#pragma once

#include <string.h>

#include "we-rtmp-proto.h"

static void
write_command (GByteArray *wire, guint32 stream_id, const gchar *name, gdouble txn,
               const gchar *arg)
{
  g_autoptr(GByteArray) body = g_byte_array_new ();

  we_amf0_write_string (body, name);
  we_amf0_write_number (body, txn);
  if (g_str_equal (name, "connect")) {
    we_amf0_write_object_start (body);
    we_amf0_write_property_name (body, "app");
    we_amf0_write_string (body, arg);
    we_amf0_write_property_name (body, "type");
    we_amf0_write_string (body, "nonprivate");
    we_amf0_write_object_end (body);
  } else {
    we_amf0_write_null (body);
    if (arg != NULL)
      we_amf0_write_string (body, arg);
    if (g_str_equal (name, "publish"))
      we_amf0_write_string (body, "live");
  }
  we_rtmp_chunk_write (wire, 128, 3, WE_RTMP_MSG_COMMAND_AMF0, 0, stream_id, body->data,
                       body->len);
}

/* a publisher's bytes: handshake, commands, metadata, two video frames */
static G_GNUC_UNUSED GByteArray *
publisher_bytes_to (const gchar *app, const gchar *key, gboolean unpublish)
{
  GByteArray *wire = g_byte_array_new ();
  guint8 c1[1 + 2 * WE_RTMP_HANDSHAKE_SIZE];
  g_autoptr(GByteArray) meta = g_byte_array_new ();
  guint8 frame[300];

  memset (c1, 0x42, sizeof c1);
  c1[0] = 3;
  g_byte_array_append (wire, c1, sizeof c1);
  write_command (wire, 0, "connect", 1, app);
  write_command (wire, 0, "releaseStream", 2, key);
  write_command (wire, 0, "FCPublish", 3, key);
  write_command (wire, 0, "createStream", 4, NULL);
  write_command (wire, 1, "publish", 5, key);
  we_amf0_write_string (meta, "@setDataFrame");
  we_amf0_write_string (meta, "onMetaData");
  we_amf0_write_object_start (meta);
  we_amf0_write_property_name (meta, "videocodecid");
  we_amf0_write_number (meta, 7);
  we_amf0_write_object_end (meta);
  we_rtmp_chunk_write (wire, 128, 4, WE_RTMP_MSG_DATA_AMF0, 0, 1, meta->data, meta->len);
  memset (frame, 0x17, sizeof frame);
  we_rtmp_chunk_write (wire, 128, 6, WE_RTMP_MSG_VIDEO, 0, 1, frame, sizeof frame);
  we_rtmp_chunk_write (wire, 128, 6, WE_RTMP_MSG_VIDEO, 0x1000010, 1, frame, 10);
  if (unpublish) {
    write_command (wire, 0, "FCUnpublish", 6, key);
    write_command (wire, 0, "deleteStream", 7, NULL);
  }
  return wire;
}

static G_GNUC_UNUSED GByteArray *
publisher_bytes (const gchar *key, gboolean unpublish)
{
  return publisher_bytes_to ("live/", key, unpublish);
}
