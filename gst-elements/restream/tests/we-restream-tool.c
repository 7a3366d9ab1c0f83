/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * One live encode tee'd into N werestreamsink destinations, the shape of
 * the restream pipeline, for tests/integration/test_restream_dest.py:
 *
 *   videotestsrc is-live ! x264enc ! h264parse ! tee ─▶ werestreamsink name=NAME location=URL …
 *   audiotestsrc is-live ! voaacenc ! aacparse ! tee ─┘
 *
 * Reports as one JSON object per line on stdout: every we-restream-stats
 * message ({"event":"stats","name":…}), pipeline errors, and at the end the
 * number of video and audio frames that went into the tees. Reads
 * "enable NAME" / "disable NAME" lines on stdin. Runs for --seconds, then
 * sends EOS and waits for it (5 s at most).
 *
 * Usage: we-restream-tool --seconds S --dest NAME=URL [--dest …]
 *        [--max-backoff MS] [--stall-timeout S] [--tls NAME=FLAGS …]
 */
#include "config.h"

#include <gio/gio.h>
#include <gio/gunixinputstream.h>
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gstwerestreamsink.h"

static GMainLoop  *loop;
static GstElement *pipeline;
static gint        video_frames, audio_frames;
static gint        exit_code;
static gboolean    eos_sent;

static void
emit (JsonBuilder *b)
{
  g_autoptr(JsonGenerator) gen = json_generator_new ();
  g_autoptr(JsonNode) root = json_builder_get_root (b);
  g_autofree gchar *text = NULL;

  json_generator_set_root (gen, root);
  text = json_generator_to_data (gen, NULL);
  printf ("%s\n", text);
  fflush (stdout);
}

static gboolean
add_field (GQuark field, const GValue *value, gpointer data)
{
  JsonBuilder *b = data;

  json_builder_set_member_name (b, g_quark_to_string (field));
  if (G_VALUE_HOLDS_STRING (value)) {
    if (g_value_get_string (value) != NULL)
      json_builder_add_string_value (b, g_value_get_string (value));
    else
      json_builder_add_null_value (b);
  } else if (G_VALUE_HOLDS_BOOLEAN (value)) {
    json_builder_add_boolean_value (b, g_value_get_boolean (value));
  } else if (G_VALUE_HOLDS_UINT64 (value)) {
    json_builder_add_int_value (b, (gint64) g_value_get_uint64 (value));
  } else if (G_VALUE_HOLDS_UINT (value)) {
    json_builder_add_int_value (b, g_value_get_uint (value));
  } else {
    g_autofree gchar *s = gst_value_serialize (value);

    json_builder_add_string_value (b, s);
  }
  return TRUE;
}

static gboolean
on_bus (GstBus *bus, GstMessage *msg, gpointer data)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();

  switch (GST_MESSAGE_TYPE (msg)) {
  case GST_MESSAGE_ELEMENT: {
    const GstStructure *s = gst_message_get_structure (msg);

    if (s == NULL || !gst_structure_has_name (s, "we-restream-stats"))
      break;
    json_builder_begin_object (b);
    json_builder_set_member_name (b, "event");
    json_builder_add_string_value (b, "stats");
    json_builder_set_member_name (b, "name");
    json_builder_add_string_value (b, GST_OBJECT_NAME (GST_MESSAGE_SRC (msg)));
    json_builder_set_member_name (b, "t");
    json_builder_add_double_value (b, g_get_monotonic_time () / 1e6);
    gst_structure_foreach (s, add_field, b);
    json_builder_end_object (b);
    emit (b);
    break;
  }
  case GST_MESSAGE_ERROR: {
    g_autoptr(GError) error = NULL;

    gst_message_parse_error (msg, &error, NULL);
    json_builder_begin_object (b);
    json_builder_set_member_name (b, "event");
    json_builder_add_string_value (b, "error");
    json_builder_set_member_name (b, "source");
    json_builder_add_string_value (b, GST_OBJECT_NAME (GST_MESSAGE_SRC (msg)));
    json_builder_set_member_name (b, "message");
    json_builder_add_string_value (b, error->message);
    json_builder_end_object (b);
    emit (b);
    exit_code = 1;
    g_main_loop_quit (loop);
    break;
  }
  case GST_MESSAGE_EOS:
    g_main_loop_quit (loop);
    break;
  default:
    break;
  }
  return G_SOURCE_CONTINUE;
}

static GstPadProbeReturn
count_buffer (GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
  g_atomic_int_inc ((gint *) data);
  return GST_PAD_PROBE_OK;
}

static gboolean
on_give_up (gpointer data)
{
  fprintf (stderr, "no EOS within 5 s\n");
  exit_code = 1;
  g_main_loop_quit (loop);
  return G_SOURCE_REMOVE;
}

static gboolean
on_time_up (gpointer data)
{
  eos_sent = TRUE;
  gst_element_send_event (pipeline, gst_event_new_eos ());
  g_timeout_add_seconds (5, on_give_up, NULL);
  return G_SOURCE_REMOVE;
}

static void
on_line (GObject *source, GAsyncResult *res, gpointer data)
{
  GDataInputStream *in = G_DATA_INPUT_STREAM (source);
  g_autofree gchar *line = g_data_input_stream_read_line_finish (in, res, NULL, NULL);
  g_auto(GStrv) words = NULL;

  if (line == NULL)
    return;
  words = g_strsplit (g_strstrip (line), " ", 2);
  if (g_strv_length (words) == 2) {
    g_autoptr(GstElement) dest = gst_bin_get_by_name (GST_BIN (pipeline), words[1]);

    if (dest != NULL)
      g_object_set (dest, "enabled", g_str_equal (words[0], "enable"), NULL);
  }
  g_data_input_stream_read_line_async (in, G_PRIORITY_DEFAULT, NULL, on_line, NULL);
}

int
main (int argc, char **argv)
{
  g_auto(GStrv) dests = NULL;
  gint seconds = 10;
  gint max_backoff = 2000;
  gint stall_timeout = 10;
  g_auto(GStrv) tls = NULL;
  GOptionEntry entries[] = {
    { "seconds", 0, 0, G_OPTION_ARG_INT, &seconds, "how long to run", "S" },
    { "dest", 0, 0, G_OPTION_ARG_STRING_ARRAY, &dests, "a destination", "NAME=URL" },
    { "max-backoff", 0, 0, G_OPTION_ARG_INT, &max_backoff, "max-backoff of each", "MS" },
    { "stall-timeout", 0, 0, G_OPTION_ARG_INT, &stall_timeout, "stall-timeout of each", "S" },
    { "tls", 0, 0, G_OPTION_ARG_STRING_ARRAY, &tls,
      "tls-validation-flags (GTlsCertificateFlags) of one", "NAME=N" },
    { NULL },
  };
  g_autoptr(GOptionContext) octx = g_option_context_new ("- restream to destinations");
  g_autoptr(GError) error = NULL;
  g_autoptr(GString) desc = g_string_new (NULL);
  g_autoptr(GstBus) bus = NULL;
  g_autoptr(GstElement) vtee = NULL, atee = NULL;
  g_autoptr(GstPad) vpad = NULL, apad = NULL;
  g_autoptr(GInputStream) stdin_stream = NULL;
  g_autoptr(GDataInputStream) lines = NULL;
  g_autoptr(JsonBuilder) b = json_builder_new ();

  gst_init (&argc, &argv);
  g_option_context_add_main_entries (octx, entries, NULL);
  if (!g_option_context_parse (octx, &argc, &argv, &error)) {
    fprintf (stderr, "%s\n", error->message);
    return 2;
  }
  if (dests == NULL) {
    fprintf (stderr, "no --dest\n");
    return 2;
  }
  if (!GST_ELEMENT_REGISTER (werestreamsink, NULL))
    return 1;

  g_string_append (desc,
                   "videotestsrc is-live=true pattern=ball ! "
                   "video/x-raw,width=320,height=240,framerate=25/1 ! "
                   "x264enc tune=zerolatency speed-preset=ultrafast key-int-max=25 bitrate=400 ! "
                   "h264parse config-interval=-1 ! tee name=vt allow-not-linked=true "
                   "audiotestsrc is-live=true samplesperbuffer=1024 ! "
                   "audio/x-raw,rate=44100,channels=2 ! voaacenc ! aacparse ! "
                   "tee name=at allow-not-linked=true ");
  for (guint i = 0; dests[i] != NULL; i++) {
    g_auto(GStrv) kv = g_strsplit (dests[i], "=", 2);
    gint tls_flags = G_TLS_CERTIFICATE_VALIDATE_ALL;

    if (g_strv_length (kv) != 2) {
      fprintf (stderr, "bad --dest\n");
      return 2;
    }
    for (guint j = 0; tls != NULL && tls[j] != NULL; j++) {
      g_auto(GStrv) nv = g_strsplit (tls[j], "=", 2);

      if (g_strv_length (nv) == 2 && g_str_equal (nv[0], kv[0]))
        tls_flags = atoi (nv[1]);
    }
    g_string_append_printf (desc,
                            "werestreamsink name=%s location=\"%s\" max-backoff=%d "
                            "stall-timeout=%d tls-validation-flags=%d "
                            "vt. ! %s.video at. ! %s.audio ",
                            kv[0], kv[1], max_backoff, stall_timeout, tls_flags, kv[0], kv[0]);
  }
  pipeline = gst_parse_launch (desc->str, &error);
  if (pipeline == NULL) {
    fprintf (stderr, "%s\n", error->message);
    return 1;
  }
  /* frames sent: what went into the tees */
  vtee = gst_bin_get_by_name (GST_BIN (pipeline), "vt");
  atee = gst_bin_get_by_name (GST_BIN (pipeline), "at");
  vpad = gst_element_get_static_pad (vtee, "sink");
  apad = gst_element_get_static_pad (atee, "sink");
  gst_pad_add_probe (vpad, GST_PAD_PROBE_TYPE_BUFFER, count_buffer, &video_frames, NULL);
  gst_pad_add_probe (apad, GST_PAD_PROBE_TYPE_BUFFER, count_buffer, &audio_frames, NULL);

  loop = g_main_loop_new (NULL, FALSE);
  bus = gst_element_get_bus (pipeline);
  gst_bus_add_watch (bus, on_bus, NULL);
  stdin_stream = g_unix_input_stream_new (0, FALSE);
  lines = g_data_input_stream_new (stdin_stream);
  g_data_input_stream_read_line_async (lines, G_PRIORITY_DEFAULT, NULL, on_line, NULL);
  g_timeout_add_seconds (seconds, on_time_up, NULL);

  if (gst_element_set_state (pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    fprintf (stderr, "cannot start the pipeline\n");
    return 1;
  }
  g_main_loop_run (loop);
  gst_element_set_state (pipeline, GST_STATE_NULL);

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "event");
  json_builder_add_string_value (b, "done");
  json_builder_set_member_name (b, "eos");
  json_builder_add_boolean_value (b, eos_sent);
  json_builder_set_member_name (b, "video_frames");
  json_builder_add_int_value (b, g_atomic_int_get (&video_frames));
  json_builder_set_member_name (b, "audio_frames");
  json_builder_add_int_value (b, g_atomic_int_get (&audio_frames));
  json_builder_end_object (b);
  emit (b);

  gst_bus_remove_watch (bus);
  gst_object_unref (pipeline);
  g_main_loop_unref (loop);
  return exit_code;
}
