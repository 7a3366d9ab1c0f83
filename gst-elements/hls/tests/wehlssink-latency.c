/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * How long after a segment's last frame the playlist names it, for
 * wehlssink and hlssink2 fed the very same live encode (20 s, 30 fps,
 * a keyframe every second, 1 s target, H.264 + AAC) in one pipeline.
 *
 * A probe on each sink's video pad notes when every frame enters; a
 * thread reads both playlists every 2 ms and notes when each segment is
 * first named. A segment's last frame is the newest one before the sum of
 * the EXTINF durations so far. hlssink2 (splitmuxsink) names a segment
 * only once it holds the next GOP, about a second late; wehlssink must do
 * it within 0.3 s (median; the maximum and p95 are printed). Then every
 * wehlssink segment is demuxed to check it starts with a keyframe.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <glib/gstdio.h>
#include <gst/gst.h>

#include "gstwehlssink.h"

#define RUN_S   20
#define POLL_US 2000

typedef struct {
  const gchar *label;
  gchar       *playlist;
  GMutex       lock;
  GArray      *enter_rt;     /* GstClockTime of each video frame entering */
  GArray      *enter_us;     /* gint64 monotonic time it entered */
  GPtrArray   *names;        /* segments in the order they appeared */
  GArray      *durations;    /* gdouble, their EXTINF */
  GArray      *appeared_us;  /* gint64 monotonic time first named */
} Side;

typedef struct {
  Side           side[2];
  gint           stop;
  gint64         eos_sent_us;
} Run;

static GstPadProbeReturn
enter_probe (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  Side *side = user_data;
  GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER (info);
  gint64 now = g_get_monotonic_time ();
  g_autoptr(GstEvent) event = gst_pad_get_sticky_event (pad, GST_EVENT_SEGMENT, 0);
  const GstSegment *segment;
  GstClockTime rt;

  if (event == NULL)
    return GST_PAD_PROBE_OK;
  gst_event_parse_segment (event, &segment);
  rt = gst_segment_to_running_time (segment, GST_FORMAT_TIME, GST_BUFFER_PTS (buf));
  g_mutex_lock (&side->lock);
  g_array_append_val (side->enter_rt, rt);
  g_array_append_val (side->enter_us, now);
  g_mutex_unlock (&side->lock);
  return GST_PAD_PROBE_OK;
}

static void
scan_playlist (Side *side, gint64 now)
{
  g_autofree gchar *text = NULL;
  g_auto(GStrv) lines = NULL;

  if (!g_file_get_contents (side->playlist, &text, NULL, NULL))
    return;
  lines = g_strsplit (text, "\n", -1);
  for (guint i = 0; lines[i] != NULL && lines[i + 1] != NULL; i++) {
    gdouble duration;
    gboolean seen = FALSE;

    if (!g_str_has_prefix (lines[i], "#EXTINF:"))
      continue;
    duration = g_ascii_strtod (lines[i] + 8, NULL);
    for (guint n = 0; n < side->names->len && !seen; n++)
      seen = g_str_equal (side->names->pdata[n], lines[i + 1]);
    if (seen)
      continue;
    g_ptr_array_add (side->names, g_strdup (lines[i + 1]));
    g_array_append_val (side->durations, duration);
    g_array_append_val (side->appeared_us, now);
  }
}

static gpointer
watch_thread (gpointer data)
{
  Run *run = data;

  while (!g_atomic_int_get (&run->stop)) {
    gint64 now = g_get_monotonic_time ();

    scan_playlist (&run->side[0], now);
    scan_playlist (&run->side[1], now);
    g_usleep (POLL_US);
  }
  return NULL;
}

static gint
cmp_double (gconstpointer a, gconstpointer b)
{
  gdouble x = *(const gdouble *) a, y = *(const gdouble *) b;

  return x < y ? -1 : x > y;
}

/* The latencies (s) of the segments published before EOS, sorted. */
static GArray *
latencies (Run *run, Side *side)
{
  GArray *out = g_array_new (FALSE, FALSE, sizeof (gdouble));
  GstClockTime end;

  g_assert_cmpuint (side->enter_rt->len, >, 0);
  end = g_array_index (side->enter_rt, GstClockTime, 0);
  for (guint s = 0; s < side->names->len; s++) {
    gint64 appeared = g_array_index (side->appeared_us, gint64, s);
    gint64 entered = -1;
    gdouble latency;

    end += (GstClockTime) llround (g_array_index (side->durations, gdouble, s) * GST_SECOND);
    /* the segments EOS closed are not a measure of the cutting */
    if (appeared >= run->eos_sent_us)
      break;
    for (guint f = 0; f < side->enter_rt->len; f++)
      if (g_array_index (side->enter_rt, GstClockTime, f) + GST_MSECOND < end)
        entered = g_array_index (side->enter_us, gint64, f);
    g_assert_cmpint (entered, >, 0);
    latency = (gdouble) (appeared - entered) / G_USEC_PER_SEC;
    g_array_append_val (out, latency);
  }
  g_array_sort (out, cmp_double);
  return out;
}

static gdouble
pct (GArray *values, gdouble p)
{
  guint i = (guint) MIN (values->len - 1, (guint) floor (p * (values->len - 1) + 0.5));

  return g_array_index (values, gdouble, i);
}

/* TRUE if the first H.264 frame in @path is a keyframe. */
static gboolean
starts_with_keyframe (const gchar *path)
{
  g_autoptr(GError) error = NULL;
  g_autofree gchar *desc = g_strdup_printf ("filesrc location=\"%s\" ! tsdemux ! h264parse ! "
                                            "appsink name=out sync=false", path);
  g_autoptr(GstElement) pipeline = gst_parse_launch (desc, &error);
  g_autoptr(GstElement) out = NULL;
  g_autoptr(GstSample) sample = NULL;
  gboolean key;

  g_assert_no_error (error);
  out = gst_bin_get_by_name (GST_BIN (pipeline), "out");
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  g_signal_emit_by_name (out, "try-pull-sample", 5 * GST_SECOND, &sample);
  key = sample != NULL &&
        !GST_BUFFER_FLAG_IS_SET (gst_sample_get_buffer (sample), GST_BUFFER_FLAG_DELTA_UNIT);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  return key;
}

static void
test_latency (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree gchar *dir = g_dir_make_tmp ("wehlssink-latency-XXXXXX", &error);
  g_autofree gchar *desc = NULL;
  g_autoptr(GstElement) pipeline = NULL;
  g_autoptr(GstBus) bus = NULL;
  g_autoptr(GstMessage) msg = NULL;
  g_autoptr(GThread) watcher = NULL;
  g_autoptr(GDir) listing = NULL;
  const gchar *name;
  Run run = { 0 };
  GArray *lat[2];

  g_assert_no_error (error);
  desc = g_strdup_printf (
    "videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=240,framerate=30/1 "
    "! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30 bitrate=400 "
    "! h264parse ! video/x-h264,stream-format=byte-stream,alignment=au ! tee name=vt "
    "audiotestsrc is-live=true wave=ticks ! audio/x-raw,rate=48000,channels=2 ! audioconvert "
    "! avenc_aac ! aacparse ! tee name=at "
    "wehlssink name=ours location=%s/ours%%05d.ts playlist-location=%s/ours.m3u8 "
    "  target-duration=1 playlist-length=0 max-files=0 send-keyframe-requests=false "
    "hlssink2 name=theirs location=%s/theirs%%05d.ts playlist-location=%s/theirs.m3u8 "
    "  target-duration=1 playlist-length=0 max-files=0 send-keyframe-requests=false "
    "vt. ! queue ! ours.video  at. ! queue ! ours.audio "
    "vt. ! queue ! theirs.video  at. ! queue ! theirs.audio",
    dir, dir, dir, dir);
  pipeline = gst_parse_launch (desc, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < 2; i++) {
    Side *side = &run.side[i];
    g_autoptr(GstElement) sink = gst_bin_get_by_name (GST_BIN (pipeline),
                                                      i == 0 ? "ours" : "theirs");
    g_autoptr(GstPad) pad = gst_element_get_static_pad (sink, "video");

    g_assert_nonnull (pad);
    side->label = i == 0 ? "wehlssink" : "hlssink2";
    side->playlist = g_strdup_printf ("%s/%s.m3u8", dir, i == 0 ? "ours" : "theirs");
    g_mutex_init (&side->lock);
    side->enter_rt = g_array_new (FALSE, FALSE, sizeof (GstClockTime));
    side->enter_us = g_array_new (FALSE, FALSE, sizeof (gint64));
    side->names = g_ptr_array_new_with_free_func (g_free);
    side->durations = g_array_new (FALSE, FALSE, sizeof (gdouble));
    side->appeared_us = g_array_new (FALSE, FALSE, sizeof (gint64));
    gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, enter_probe, side, NULL);
  }
  run.eos_sent_us = G_MAXINT64;
  watcher = g_thread_new ("watch", watch_thread, &run);
  bus = gst_element_get_bus (pipeline);
  g_assert_cmpint (gst_element_set_state (pipeline, GST_STATE_PLAYING), !=,
                   GST_STATE_CHANGE_FAILURE);
  msg = gst_bus_timed_pop_filtered (bus, RUN_S * GST_SECOND, GST_MESSAGE_ERROR | GST_MESSAGE_EOS);
  g_assert_null (msg);
  run.eos_sent_us = g_get_monotonic_time ();
  gst_element_send_event (pipeline, gst_event_new_eos ());
  msg = gst_bus_timed_pop_filtered (bus, 10 * GST_SECOND, GST_MESSAGE_ERROR | GST_MESSAGE_EOS);
  g_assert_nonnull (msg);
  g_assert_cmpint (GST_MESSAGE_TYPE (msg), ==, GST_MESSAGE_EOS);
  g_usleep (50 * 1000);
  g_atomic_int_set (&run.stop, 1);
  g_thread_join (g_steal_pointer (&watcher));
  gst_element_set_state (pipeline, GST_STATE_NULL);

  for (guint i = 0; i < 2; i++) {
    lat[i] = latencies (&run, &run.side[i]);
    g_assert_cmpuint (lat[i]->len, >=, RUN_S - 5);
    printf ("%-9s: %u segments, last frame -> named in playlist: median %.3f s, "
            "p95 %.3f s, max %.3f s\n",
            run.side[i].label, lat[i]->len, pct (lat[i], 0.5), pct (lat[i], 0.95),
            pct (lat[i], 1.0));
  }
  fflush (stdout);
  g_assert_cmpfloat (pct (lat[0], 0.5), <, 0.3);
  g_assert_cmpfloat (pct (lat[0], 0.5), <, pct (lat[1], 0.5));
  /* every segment of ours starts with a keyframe; durations about 1 s */
  for (guint s = 0; s < run.side[0].names->len; s++) {
    g_autofree gchar *path = g_build_filename (dir, run.side[0].names->pdata[s], NULL);
    gdouble d = g_array_index (run.side[0].durations, gdouble, s);

    g_assert_true (starts_with_keyframe (path));
    if (s + 1 < run.side[0].names->len)
      g_assert_cmpfloat (fabs (d - 1.0), <, 0.05);
  }

  listing = g_dir_open (dir, 0, NULL);
  while ((name = g_dir_read_name (listing)) != NULL) {
    g_autofree gchar *path = g_build_filename (dir, name, NULL);

    g_unlink (path);
  }
  g_rmdir (dir);
  for (guint i = 0; i < 2; i++) {
    Side *side = &run.side[i];

    g_array_unref (lat[i]);
    g_free (side->playlist);
    g_mutex_clear (&side->lock);
    g_array_unref (side->enter_rt);
    g_array_unref (side->enter_us);
    g_ptr_array_unref (side->names);
    g_array_unref (side->durations);
    g_array_unref (side->appeared_us);
  }
}

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  g_assert_true (GST_ELEMENT_REGISTER (wehlssink, NULL));
  g_test_add_func ("/wehlssink/latency", test_latency);
  return g_test_run ();
}
