/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * wehlssink under GstHarness with a real mpegtsmux inside: where segments
 * are cut, their durations, the sliding playlist and the files on disk,
 * EOS, a timestamp jump, and that files only ever appear by rename.
 *
 * The "H.264" frames are an access unit delimiter plus a marker naming the
 * frame ("WEFRAME:<n>;"): mpegtsmux does not parse further, and the marker
 * lets the test find out which frames each segment file holds.
 */
#include <string.h>
#include <sys/stat.h>

#include <glib/gstdio.h>
#include <gst/check/gstharness.h>

#include "gstwehlssink.h"

#define FRAME (40 * GST_MSECOND)

typedef struct {
  GstHarness *h;
  GstElement *sink;
  GstBus     *bus;
  gchar      *dir;
  gchar      *playlist;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree gchar *location = NULL;

  f->dir = g_dir_make_tmp ("wehlssink-XXXXXX", &error);
  g_assert_no_error (error);
  location = g_build_filename (f->dir, "segment%05d.ts", NULL);
  f->playlist = g_build_filename (f->dir, "index.m3u8", NULL);
  f->sink = gst_element_factory_make ("wehlssink", NULL);
  g_assert_nonnull (f->sink);
  g_object_set (f->sink, "location", location, "playlist-location", f->playlist,
                "target-duration", 1, "playlist-length", 0, "max-files", 0,
                "send-keyframe-requests", FALSE, NULL);
  /* an element outside a pipeline has no bus: its messages would be lost */
  f->bus = gst_bus_new ();
  gst_element_set_bus (f->sink, f->bus);
  f->h = gst_harness_new_with_element (f->sink, "video", NULL);
  gst_harness_set_src_caps_str (f->h, "video/x-h264, stream-format=(string)byte-stream, "
                                      "alignment=(string)au, width=(int)320, height=(int)240, "
                                      "framerate=(fraction)25/1");
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  g_autoptr(GDir) dir = g_dir_open (f->dir, 0, NULL);
  const gchar *name;

  gst_harness_teardown (f->h);
  gst_element_set_bus (f->sink, NULL);
  gst_object_unref (f->sink);
  gst_object_unref (f->bus);
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL) {
    g_autofree gchar *path = g_build_filename (f->dir, name, NULL);

    g_unlink (path);
  }
  g_rmdir (f->dir);
  g_free (f->dir);
  g_free (f->playlist);
}

static void
push_frame (Fixture *f, guint n, GstClockTime pts, gboolean key)
{
  static const guint8 aud[] = { 0, 0, 0, 1, 0x09, 0xf0 };
  g_autofree gchar *marker = g_strdup_printf ("WEFRAME:%u;", n);
  gsize len = sizeof aud + strlen (marker);
  GstBuffer *buf = gst_buffer_new_allocate (NULL, len, NULL);

  gst_buffer_fill (buf, 0, aud, sizeof aud);
  gst_buffer_fill (buf, sizeof aud, marker, strlen (marker));
  GST_BUFFER_PTS (buf) = GST_BUFFER_DTS (buf) = pts;
  GST_BUFFER_DURATION (buf) = FRAME;
  if (!key)
    GST_BUFFER_FLAG_SET (buf, GST_BUFFER_FLAG_DELTA_UNIT);
  g_assert_cmpint (gst_harness_push (f->h, buf), ==, GST_FLOW_OK);
}

/* Waits for the next hls-segment-added; returns its duration in ms. */
static guint64
wait_segment (Fixture *f)
{
  for (;;) {
    g_autoptr(GstMessage) msg = gst_bus_timed_pop_filtered (f->bus, 5 * GST_SECOND,
                                                            GST_MESSAGE_ELEMENT);
    GstClockTime duration = 0;

    g_assert_nonnull (msg);
    if (!gst_message_has_name (msg, "hls-segment-added"))
      continue;
    g_assert_true (gst_structure_get_clock_time (gst_message_get_structure (msg), "duration",
                                                 &duration));
    return duration / GST_MSECOND;
  }
}

static gchar *
read_playlist (Fixture *f)
{
  g_autoptr(GError) error = NULL;
  gchar *text = NULL;

  g_assert_true (g_file_get_contents (f->playlist, &text, NULL, &error));
  g_assert_no_error (error);
  return text;
}

static gboolean
exists (Fixture *f, const gchar *name)
{
  g_autofree gchar *path = g_build_filename (f->dir, name, NULL);

  return g_file_test (path, G_FILE_TEST_EXISTS);
}

static guint
count_tmp (Fixture *f)
{
  g_autoptr(GDir) dir = g_dir_open (f->dir, 0, NULL);
  const gchar *name;
  guint n = 0;

  while ((name = g_dir_read_name (dir)) != NULL)
    n += g_str_has_suffix (name, ".tmp") || strstr (name, ".m3u8.") != NULL;
  return n;
}

/* The frames segment @index holds, checked to be @first..@last in order,
 * and that the file starts with a PAT (a player may start there). */
static void
check_segment_frames (Fixture *f, guint index, guint first, guint last)
{
  g_autofree gchar *name = g_strdup_printf ("segment%05u.ts", index);
  g_autofree gchar *path = g_build_filename (f->dir, name, NULL);
  g_autofree gchar *data = NULL;
  gsize len = 0;
  guint expect = first;

  g_assert_true (g_file_get_contents (path, &data, &len, NULL));
  g_assert_cmpuint (len % 188, ==, 0);
  g_assert_cmpuint (len, >, 188);
  g_assert_cmpint ((guint8) data[0], ==, 0x47);
  /* PID 0: the PAT */
  g_assert_cmpuint (((guint8) data[1] & 0x1f) << 8 | (guint8) data[2], ==, 0);
  for (gsize i = 0; i + 8 < len; i++) {
    if (memcmp (data + i, "WEFRAME:", 8) == 0) {
      guint n = (guint) g_ascii_strtoull (data + i + 8, NULL, 10);

      g_assert_cmpuint (n, ==, expect);
      expect++;
    }
  }
  g_assert_cmpuint (expect, ==, last + 1);
}

static guint
count_lines (const gchar *text, const gchar *prefix)
{
  g_auto(GStrv) lines = g_strsplit (text, "\n", -1);
  guint n = 0;

  for (guint i = 0; lines[i] != NULL; i++)
    n += g_str_has_prefix (lines[i], prefix);
  return n;
}

/* Keyframes at irregular places: a segment ends at the first keyframe at
 * or after 1 s, with the real duration; nothing before the first keyframe;
 * EOS closes the last one and ends the playlist. */
static void
test_cuts (Fixture *f, gconstpointer data)
{
  static const guint keys[] = { 2, 12, 32, 47, 57, 82 };
  g_autofree gchar *text = NULL;
  g_autofree gchar *expect = NULL;
  guint64 durations[4];
  guint got = 0;

  for (guint i = 0; i < 102; i++) {
    gboolean key = FALSE;

    for (guint k = 0; k < G_N_ELEMENTS (keys); k++)
      key |= keys[k] == i;
    push_frame (f, i, i * FRAME, key);
    /* published at once: by the keyframe that ends it, not a GOP later */
    if (i == 32 || i == 57 || i == 82)
      durations[got++] = wait_segment (f);
  }
  g_assert_cmpuint (count_tmp (f), ==, 1);
  g_assert_true (gst_harness_push_event (f->h, gst_event_new_eos ()));
  durations[got++] = wait_segment (f);
  g_assert_cmpuint (durations[0], ==, 1200);
  g_assert_cmpuint (durations[1], ==, 1000);
  g_assert_cmpuint (durations[2], ==, 1000);
  g_assert_cmpuint (durations[3], ==, 800);

  text = read_playlist (f);
  g_assert_true (g_str_has_prefix (text, "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n"
                                         "#EXT-X-MEDIA-SEQUENCE:0\n"));
  g_assert_nonnull (strstr (text, "#EXTINF:1.200,\nsegment00000.ts\n"));
  g_assert_nonnull (strstr (text, "#EXTINF:1.000,\nsegment00001.ts\n"));
  g_assert_nonnull (strstr (text, "#EXTINF:1.000,\nsegment00002.ts\n"));
  g_assert_nonnull (strstr (text, "#EXTINF:0.800,\nsegment00003.ts\n#EXT-X-ENDLIST\n"));
  g_assert_cmpuint (count_lines (text, "#EXT-X-PROGRAM-DATE-TIME:20"), ==, 4);
  g_assert_cmpuint (count_lines (text, "#EXT-X-DISCONTINUITY"), ==, 0);
  g_assert_cmpuint (count_tmp (f), ==, 0);
  /* each file: PAT first, then exactly its frames from its keyframe on */
  check_segment_frames (f, 0, 2, 31);
  check_segment_frames (f, 1, 32, 56);
  check_segment_frames (f, 2, 57, 81);
  check_segment_frames (f, 3, 82, 101);
}

/* 1 s GOPs and then a keyframe out of step (a takeover: live-gst goes on
 * with the same stream): one 0.72 s into a segment ends it there, as the
 * next (expected a GOP later) would make it 1.72 s; one 0.4 s into a
 * segment does not (1.4 s is nearer to the target than 0.4 s). */
static void
test_early_cut (Fixture *f, gconstpointer data)
{
  static const guint keys[] = { 0, 25, 43, 68, 78, 103 };
  guint64 durations[5];
  guint got = 0;

  for (guint i = 0; i < 110; i++) {
    gboolean key = FALSE;

    for (guint k = 0; k < G_N_ELEMENTS (keys); k++)
      key |= keys[k] == i;
    push_frame (f, i, i * FRAME, key);
  }
  g_assert_true (gst_harness_push_event (f->h, gst_event_new_eos ()));
  while (got < G_N_ELEMENTS (durations))
    durations[got++] = wait_segment (f);
  g_assert_cmpuint (durations[0], ==, 1000);
  g_assert_cmpuint (durations[1], ==, 720);
  g_assert_cmpuint (durations[2], ==, 1000);
  g_assert_cmpuint (durations[3], ==, 1400);
  g_assert_cmpuint (durations[4], ==, 280);
  check_segment_frames (f, 1, 25, 42);
  check_segment_frames (f, 3, 68, 102);
}

/* A playlist of 3 over 4 files kept: the window slides, the media
 * sequence follows, older files go; every playlist is a new file renamed
 * over the old one (a new inode), never rewritten in place. */
static void
test_sliding (Fixture *f, gconstpointer data)
{
  g_autofree gchar *text = NULL;
  ino_t inode = 0;

  g_object_set (f->sink, "playlist-length", 3, "max-files", 4, NULL);
  for (guint i = 0; i < 200; i++) {
    push_frame (f, i, i * FRAME, i % 25 == 0);
    if (i > 0 && i % 25 == 0) {
      GStatBuf st;

      g_assert_cmpuint (wait_segment (f), ==, 1000);
      g_assert_cmpint (g_stat (f->playlist, &st), ==, 0);
      g_assert_true (st.st_ino != inode);
      inode = st.st_ino;
      /* the segment being written has a temporary name only */
      g_assert_cmpuint (count_tmp (f), ==, 1);
    }
  }
  text = read_playlist (f);
  g_assert_true (g_str_has_prefix (text, "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:1\n"
                                         "#EXT-X-MEDIA-SEQUENCE:4\n"));
  g_assert_cmpuint (count_lines (text, "#EXTINF:1.000,"), ==, 3);
  g_assert_null (strstr (text, "segment00003.ts"));
  g_assert_nonnull (strstr (text, "segment00004.ts\n"));
  g_assert_nonnull (strstr (text, "segment00006.ts\n"));
  g_assert_null (strstr (text, "#EXT-X-ENDLIST"));
  for (guint i = 0; i < 3; i++) {
    g_autofree gchar *name = g_strdup_printf ("segment%05u.ts", i);

    g_assert_false (exists (f, name));
  }
  g_assert_true (exists (f, "segment00003.ts"));
  g_assert_true (exists (f, "segment00006.ts"));
  g_assert_false (exists (f, "segment00007.ts"));

  g_assert_true (gst_harness_push_event (f->h, gst_event_new_eos ()));
  g_assert_cmpuint (wait_segment (f), ==, 1000);
  g_clear_pointer (&text, g_free);
  text = read_playlist (f);
  g_assert_nonnull (strstr (text, "#EXT-X-MEDIA-SEQUENCE:5\n"));
  g_assert_true (g_str_has_suffix (text, "#EXTINF:1.000,\nsegment00007.ts\n#EXT-X-ENDLIST\n"));
  g_assert_false (exists (f, "segment00003.ts"));
  g_assert_cmpuint (count_tmp (f), ==, 0);
}

/* The publisher's timestamps jump (a takeover, a long stall): the old
 * segment ends where its timeline ended, the new timeline starts a
 * segment of its own at its first keyframe, marked as a discontinuity;
 * so do new caps and a new stream (a takeover by another publisher). */
static void
test_discontinuity (Fixture *f, gconstpointer data)
{
  g_autofree gchar *text = NULL;
  GstClockTime jump = 5 * GST_SECOND;

  for (guint i = 0; i < 60; i++)
    push_frame (f, i, i * FRAME, i % 25 == 0);
  g_assert_cmpuint (wait_segment (f), ==, 1000);
  g_assert_cmpuint (wait_segment (f), ==, 1000);
  /* a non-keyframe first: it belongs to no segment */
  push_frame (f, 60, jump + 60 * FRAME, FALSE);
  for (guint i = 61; i < 100; i++)
    push_frame (f, i, jump + i * FRAME, i == 61 || i == 86);
  g_assert_cmpuint (wait_segment (f), ==, 400);
  g_assert_cmpuint (wait_segment (f), ==, 1000);
  /* a publisher with other settings takes over: new caps, same timeline */
  gst_harness_set_src_caps_str (f->h, "video/x-h264, stream-format=(string)byte-stream, "
                                      "alignment=(string)au, width=(int)640, height=(int)480, "
                                      "framerate=(fraction)25/1");
  for (guint i = 100; i < 111; i++)
    push_frame (f, i, jump + i * FRAME, i == 100);
  g_assert_cmpuint (wait_segment (f), ==, 560);
  /* another publisher's stream, same caps and timeline, mid-GOP */
  g_assert_true (gst_harness_push_event (f->h, gst_event_new_stream_start ("takeover")));
  gst_harness_set_src_caps_str (f->h, "video/x-h264, stream-format=(string)byte-stream, "
                                      "alignment=(string)au, width=(int)640, height=(int)480, "
                                      "framerate=(fraction)25/1");
  for (guint i = 111; i < 121; i++)
    push_frame (f, i, jump + i * FRAME, i == 111);
  g_assert_cmpuint (wait_segment (f), ==, 440);
  g_assert_true (gst_harness_push_event (f->h, gst_event_new_eos ()));
  g_assert_cmpuint (wait_segment (f), ==, 400);
  text = read_playlist (f);
  g_assert_nonnull (strstr (text, "#EXTINF:0.400,\nsegment00002.ts\n#EXT-X-DISCONTINUITY\n"
                                  "#EXT-X-PROGRAM-DATE-TIME:"));
  g_assert_nonnull (strstr (text, "#EXTINF:0.560,\nsegment00004.ts\n#EXT-X-DISCONTINUITY\n"
                                  "#EXT-X-PROGRAM-DATE-TIME:"));
  g_assert_nonnull (strstr (text, "#EXTINF:0.440,\nsegment00005.ts\n#EXT-X-DISCONTINUITY\n"
                                  "#EXT-X-PROGRAM-DATE-TIME:"));
  g_assert_cmpuint (count_lines (text, "#EXT-X-DISCONTINUITY"), ==, 3);
  check_segment_frames (f, 2, 50, 59);
  check_segment_frames (f, 3, 61, 85);
  check_segment_frames (f, 4, 86, 99);
  check_segment_frames (f, 5, 100, 110);
  check_segment_frames (f, 6, 111, 120);
}

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  g_assert_true (GST_ELEMENT_REGISTER (wehlssink, NULL));
  g_test_add ("/wehlssink/cuts", Fixture, NULL, fixture_setup, test_cuts, fixture_teardown);
  g_test_add ("/wehlssink/early-cut", Fixture, NULL, fixture_setup, test_early_cut,
              fixture_teardown);
  g_test_add ("/wehlssink/sliding", Fixture, NULL, fixture_setup, test_sliding,
              fixture_teardown);
  g_test_add ("/wehlssink/discontinuity", Fixture, NULL, fixture_setup, test_discontinuity,
              fixture_teardown);
  return g_test_run ();
}
