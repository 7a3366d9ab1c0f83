/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Thumbnails, sprite and storyboard on clips whose picture tells the time:
 * the left half has the colour of the second, the right half a grey that
 * counts the frames within it, so a thumbnail taken one frame early or late
 * has the wrong picture.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <glib/gstdio.h>
#include <gst/app/app.h>
#include <gst/gst.h>
#include <gst/video/video.h>
#include <webencode/webencode.h>

#include "we-gst-test-util.h"
#include "we-gst-thumbnails.h"

/* the colour of second s is palette[s % 8]; neighbours differ by at
 * least 255 in one channel */
static const guint8 palette[8][3] = {
  { 255, 0, 0 }, { 0, 255, 0 }, { 0, 0, 255 }, { 255, 255, 0 },
  { 255, 0, 255 }, { 0, 255, 255 }, { 255, 255, 255 }, { 0, 0, 0 },
};
/* H.264 and two JPEG round trips move a flat colour by less than this */
#define COLOUR_TOLERANCE 24
/* and a flat grey by less than this: greys of neighbouring frames (10 fps)
 * are 28 apart */
#define GREY_TOLERANCE 10

typedef struct {
  gchar *tmpdir;
  gchar *colour7;     /* 320x240, 10 fps, 7 s, colour by second */
  gchar *colour60;    /* 64x48, 2 fps, 60 s, colour by second */
  gchar *understated; /* colour7 as Matroska whose header says 1 s */
  gchar *anamorphic;  /* 321x241 MJPEG, pixel aspect 466/321, 2 s */
  gchar *audio_only;
  gchar *not_media;
  gchar *long_clip;   /* 640x480, 25 fps, 30 s: long enough to cancel */
} Fixture;

static Fixture fx;

/* The grey of frame @index of a second of @fps frames: black to white. */
static guint8
frame_grey (guint index, guint fps)
{
  return (guint8) (index * 255 / MAX (fps - 1, 1));
}

/* An H.264 file (@mux) whose frames in second s are palette[s % 8] on the left
 * and frame_grey() of their place in the second on the right. */
static void
make_colour_clip (const gchar *out, const gchar *mux, guint seconds, guint fps, gint width,
                  gint height)
{
  g_autofree gchar *desc = g_strdup_printf (
    "appsrc name=src format=time caps=video/x-raw,format=RGB,width=%d,height=%d,framerate=%u/1 ! "
    "videoconvert ! x264enc speed-preset=ultrafast key-int-max=%u bframes=0 ! "
    "video/x-h264,profile=constrained-baseline ! h264parse ! %s ! filesink location=%s",
    width, height, fps, fps * 2, mux, out);
  g_autoptr(GError) error = NULL;
  g_autoptr(GstElement) pipeline = gst_parse_launch (desc, &error);
  g_autoptr(GstElement) src = NULL;
  GstVideoInfo info;

  g_assert_no_error (error);
  src = gst_bin_get_by_name (GST_BIN (pipeline), "src");
  gst_video_info_set_format (&info, GST_VIDEO_FORMAT_RGB, width, height);
  g_assert_cmpint (gst_element_set_state (pipeline, GST_STATE_PLAYING), !=, GST_STATE_CHANGE_FAILURE);
  for (guint n = 0; n < seconds * fps; n++) {
    const guint8 *rgb = palette[(n / fps) % 8];
    GstBuffer *buf = gst_buffer_new_allocate (NULL, GST_VIDEO_INFO_SIZE (&info), NULL);
    guint8 grey = frame_grey (n % fps, fps);
    GstVideoFrame frame;

    g_assert_true (gst_video_frame_map (&frame, &info, buf, GST_MAP_WRITE));
    for (gint y = 0; y < height; y++) {
      guint8 *row = (guint8 *) GST_VIDEO_FRAME_PLANE_DATA (&frame, 0) +
                    y * GST_VIDEO_FRAME_PLANE_STRIDE (&frame, 0);

      for (gint x = 0; x < width / 2; x++)
        memcpy (row + x * 3, rgb, 3);
      memset (row + (width / 2) * 3, grey, (width - width / 2) * 3);
    }
    gst_video_frame_unmap (&frame);
    GST_BUFFER_PTS (buf) = gst_util_uint64_scale (n, GST_SECOND, fps);
    GST_BUFFER_DURATION (buf) = gst_util_uint64_scale (n + 1, GST_SECOND, fps) - GST_BUFFER_PTS (buf);
    g_assert_cmpint (gst_app_src_push_buffer (GST_APP_SRC (src), buf), ==, GST_FLOW_OK);
  }
  gst_app_src_end_of_stream (GST_APP_SRC (src));
  we_gst_test_run_to_eos (pipeline);
}

/* Rewrites the Matroska Duration element (ID 0x4489, a float in
 * milliseconds at the default timecode scale) of @path to 1 s. */
static void
understate_duration (const gchar *path)
{
  gsize len = 0;
  g_autofree gchar *data = we_gst_test_read_file (path, &len);
  guint8 *p;
  gboolean done = FALSE;

  p = (guint8 *) data;
  for (gsize i = 0; i + 11 <= len && !done; i++) {
    if (p[i] != 0x44 || p[i + 1] != 0x89)
      continue;
    if (p[i + 2] == 0x88) {
      union { gdouble d; guint64 u; } v = { .d = 1000.0 };
      guint64 be = GUINT64_TO_BE (v.u);

      memcpy (p + i + 3, &be, 8);
      done = TRUE;
    } else if (p[i + 2] == 0x84) {
      union { gfloat f; guint32 u; } v = { .f = 1000.0f };
      guint32 be = GUINT32_TO_BE (v.u);

      memcpy (p + i + 3, &be, 4);
      done = TRUE;
    }
  }
  g_assert_true (done);
  g_assert_true (g_file_set_contents (path, data, len, NULL));
}

static void
make_anamorphic_clip (const gchar *out)
{
  g_autofree gchar *desc = g_strdup_printf (
    "videotestsrc num-buffers=20 ! video/x-raw,format=I420,width=321,height=241,"
    "pixel-aspect-ratio=16/11,framerate=10/1 ! jpegenc ! matroskamux ! filesink location=%s", out);

  we_gst_test_run_pipeline (desc);
}

/* ---- running the job ------------------------------------------------------ */

typedef struct {
  WeGstTestWaiter async;
  guint           reports;
  gdouble         last_percent;
} Waiter;

static void
progress_cb (const WeEncodeProgress *p, gpointer user_data)
{
  Waiter *w = user_data;

  g_assert_cmpfloat (p->percent, >=, w->last_percent);
  g_assert_cmpfloat (p->percent, <=, 100);
  w->last_percent = p->percent;
  w->reports++;
}

static WeProfileThumbnails
options_new (gboolean poster, gint interval_s, gint width, gboolean sprite, gint columns)
{
  WeProfileThumbnails o = { 0, };

  o.poster = poster;
  o.interval_s = interval_s;
  o.width = width;
  o.sprite = sprite;
  o.sprite_columns = columns;
  o.storyboard = sprite;
  return o;
}

static JsonArray *
run_thumbnails (const gchar *source, const WeProfileThumbnails *options, const gchar *out,
                GCancellable *cancellable, Waiter *w, GError **error)
{
  g_autofree gchar *uri = g_filename_to_uri (source, NULL, NULL);
  JsonArray *result;

  we_gst_thumbnails_async (uri, options, out, progress_cb, w, cancellable, we_gst_test_waiter_cb,
                           &w->async);
  we_gst_test_wait (&w->async, NULL);
  result = we_gst_thumbnails_finish (w->async.result, error);
  g_clear_object (&w->async.result);
  return result;
}

static gchar *
fresh_dir (const gchar *name)
{
  gchar *dir = g_build_filename (fx.tmpdir, name, NULL);

  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  return dir;
}

static guint
count_files (const gchar *dir)
{
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  guint n = 0;

  while (d != NULL && g_dir_read_name (d) != NULL)
    n++;
  return n;
}

/* ---- reading the outputs -------------------------------------------------- */

/* The size in a JPEG's start-of-frame header. */
static void
jpeg_size (const gchar *path, gint *width, gint *height)
{
  gsize len = 0;
  g_autofree gchar *data = we_gst_test_read_file (path, &len);
  const guint8 *p;

  p = (const guint8 *) data;
  g_assert_cmpuint (len, >, 4);
  g_assert_true (p[0] == 0xff && p[1] == 0xd8);
  for (gsize i = 2; i + 9 < len;) {
    guint marker, seglen;

    g_assert_cmpuint (p[i], ==, 0xff);
    marker = p[i + 1];
    seglen = (p[i + 2] << 8) | p[i + 3];
    if (marker >= 0xc0 && marker <= 0xc2) {
      *height = (p[i + 5] << 8) | p[i + 6];
      *width = (p[i + 7] << 8) | p[i + 8];
      return;
    }
    i += 2 + seglen;
  }
  g_error ("%s has no start of frame", path);
}

/* Returns: (transfer full): @path decoded to RGB */
static GstSample *
load_rgb (const gchar *path)
{
  g_autofree gchar *desc = g_strdup_printf (
    "filesrc location=%s ! jpegdec ! videoconvert ! video/x-raw,format=RGB ! appsink name=sink", path);
  g_autoptr(GError) error = NULL;
  g_autoptr(GstElement) pipeline = gst_parse_launch (desc, &error);
  g_autoptr(GstElement) sink = NULL;
  GstSample *sample;

  g_assert_no_error (error);
  sink = gst_bin_get_by_name (GST_BIN (pipeline), "sink");
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  sample = gst_app_sink_try_pull_sample (GST_APP_SINK (sink), 30 * GST_SECOND);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  g_assert_nonnull (sample);
  return sample;
}

/* Asserts that the mean colour of the @w x @h rectangle at @x,@y (less a
 * margin, where JPEG blocks and chroma bleed into each other) is @rgb. */
static void
assert_region (GstSample *sample, gint x, gint y, gint w, gint h, const guint8 *rgb,
               gint tolerance, const gchar *what)
{
  GstVideoInfo info;
  GstVideoFrame frame;
  guint64 sum[3] = { 0, 0, 0 }, n = 0;
  gint margin = MIN (w, h) / 8;

  g_assert_true (gst_video_info_from_caps (&info, gst_sample_get_caps (sample)));
  g_assert_true (gst_video_frame_map (&frame, &info, gst_sample_get_buffer (sample), GST_MAP_READ));
  g_assert_cmpint (x + w, <=, GST_VIDEO_INFO_WIDTH (&info));
  g_assert_cmpint (y + h, <=, GST_VIDEO_INFO_HEIGHT (&info));
  for (gint j = y + margin; j < y + h - margin; j++) {
    const guint8 *row = (const guint8 *) GST_VIDEO_FRAME_PLANE_DATA (&frame, 0) +
                        j * GST_VIDEO_FRAME_PLANE_STRIDE (&frame, 0);

    for (gint i = x + margin; i < x + w - margin; i++) {
      for (guint c = 0; c < 3; c++)
        sum[c] += row[i * 3 + c];
      n++;
    }
  }
  gst_video_frame_unmap (&frame);
  g_assert_cmpuint (n, >, 0);
  for (guint c = 0; c < 3; c++) {
    gint mean = (gint) (sum[c] / n);

    if (ABS (mean - rgb[c]) > tolerance)
      g_error ("%s: channel %u is %d, expected %u", what, c, mean, rgb[c]);
  }
}

/* Asserts that the @w x @h picture at @x,@y is frame @index of second
 * @second of a colour clip at @fps. */
static void
assert_picture (GstSample *sample, gint x, gint y, gint w, gint h, guint second, guint index,
                guint fps, const gchar *what)
{
  guint8 grey = frame_grey (index, fps);
  const guint8 grey_rgb[3] = { grey, grey, grey };
  g_autofree gchar *left = g_strdup_printf ("%s, colour of second %u", what, second);
  g_autofree gchar *right = g_strdup_printf ("%s, grey of frame %u", what, index);

  assert_region (sample, x, y, w / 2, h, palette[second % 8], COLOUR_TOLERANCE, left);
  assert_region (sample, x + w / 2, y, w - w / 2, h, grey_rgb, GREY_TOLERANCE, right);
}

static void
assert_file_picture (const gchar *path, guint second, guint index, guint fps)
{
  g_autoptr(GstSample) sample = load_rgb (path);
  GstVideoInfo info;

  g_assert_true (gst_video_info_from_caps (&info, gst_sample_get_caps (sample)));
  assert_picture (sample, 0, 0, GST_VIDEO_INFO_WIDTH (&info), GST_VIDEO_INFO_HEIGHT (&info),
                  second, index, fps, path);
}

static JsonObject *
output_at (JsonArray *outputs, guint i, const gchar *role)
{
  JsonObject *o;

  g_assert_cmpuint (i, <, json_array_get_length (outputs));
  o = json_array_get_object_element (outputs, i);
  g_assert_cmpstr (json_object_get_string_member (o, "type"), ==, "thumbnail");
  g_assert_cmpstr (json_object_get_string_member (o, "role"), ==, role);
  return o;
}

static gchar *
output_path (const gchar *out, JsonObject *o)
{
  gchar *path = g_build_filename (out, json_object_get_string_member (o, "path"), NULL);

  g_assert_true (g_file_test (path, G_FILE_TEST_IS_REGULAR));
  return path;
}

typedef struct {
  gint64 start_ms;
  gint64 end_ms;
  gint   x, y, w, h;
} Cue;

static gint64
parse_vtt_time (const gchar *s)
{
  guint hh, mm, ss, ms;

  g_assert_cmpint (sscanf (s, "%u:%u:%u.%u", &hh, &mm, &ss, &ms), ==, 4);
  g_assert_cmpuint (mm, <, 60);
  g_assert_cmpuint (ss, <, 60);
  return ((gint64) hh * 3600 + mm * 60 + ss) * 1000 + ms;
}

/* Parses a storyboard the way players read one: header, blank-line
 * separated cues of a timing line and a "sprite.jpg#xywh=" text. */
static GArray *
parse_storyboard (const gchar *path)
{
  g_autofree gchar *text = we_gst_test_read_file (path, NULL);
  g_auto(GStrv) blocks = NULL;
  GArray *cues = g_array_new (FALSE, FALSE, sizeof (Cue));

  g_assert_true (g_str_has_prefix (text, "WEBVTT\n"));
  blocks = g_strsplit (text, "\n\n", -1);
  for (guint b = 1; blocks[b] != NULL; b++) {
    g_auto(GStrv) lines = NULL;
    g_auto(GStrv) times = NULL;
    Cue cue;

    if (*g_strstrip (blocks[b]) == '\0')
      continue;
    lines = g_strsplit (blocks[b], "\n", -1);
    g_assert_cmpuint (g_strv_length (lines), ==, 2);
    times = g_strsplit (lines[0], " --> ", -1);
    g_assert_cmpuint (g_strv_length (times), ==, 2);
    cue.start_ms = parse_vtt_time (times[0]);
    cue.end_ms = parse_vtt_time (times[1]);
    g_assert_cmpint (cue.end_ms, >, cue.start_ms);
    g_assert_true (g_str_has_prefix (lines[1], "sprite.jpg#xywh="));
    g_assert_cmpint (sscanf (lines[1] + 16, "%d,%d,%d,%d", &cue.x, &cue.y, &cue.w, &cue.h), ==, 4);
    g_array_append_val (cues, cue);
  }
  return cues;
}

/* ---- tests ---------------------------------------------------------------- */

/* 7 s every 2 s: t = 0, 2, 4, 6; each thumbnail has its second's colour. */
static void
test_periodic (void)
{
  WeProfileThumbnails opts = options_new (TRUE, 2, 160, TRUE, 3);
  g_autofree gchar *out = fresh_dir ("periodic");
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonArray) outputs = NULL;
  g_autoptr(GArray) cues = NULL;
  g_autoptr(GstSample) sprite_rgb = NULL;
  g_autofree gchar *poster = NULL;
  g_autofree gchar *sprite = NULL;
  g_autofree gchar *vtt = NULL;
  JsonObject *o;
  Waiter w = { 0, };
  gint width, height;

  outputs = run_thumbnails (fx.colour7, &opts, out, NULL, &w, &error);
  g_assert_no_error (error);
  g_assert_nonnull (outputs);
  g_assert_cmpuint (json_array_get_length (outputs), ==, 1 + 4 + 2);
  g_assert_cmpfloat (w.last_percent, ==, 100);

  /* poster: 10 % of 7 s is in second 0 (at 5 s it would be cyan) */
  o = output_at (outputs, 0, "poster");
  poster = output_path (out, o);
  g_assert_cmpstr (json_object_get_string_member (o, "path"), ==, "thumbnails/poster.jpg");
  g_assert_cmpstr (json_object_get_string_member (o, "content_type"), ==, "image/jpeg");
  g_assert_cmpfloat_with_epsilon (json_object_get_double_member (o, "time_s"), 0.7, 1e-6);
  g_assert_cmpint (json_object_get_int_member (o, "width"), ==, 320);
  g_assert_cmpint (json_object_get_int_member (o, "height"), ==, 240);
  jpeg_size (poster, &width, &height);
  g_assert_cmpint (width, ==, 320);
  g_assert_cmpint (height, ==, 240);
  /* frame 7 of second 0 */
  assert_file_picture (poster, 0, 7, 10);

  for (guint i = 0; i < 4; i++) {
    g_autofree gchar *path = NULL;
    g_autofree gchar *name = g_strdup_printf ("thumbnails/thumb_%05u.jpg", i + 1);

    o = output_at (outputs, 1 + i, "frame");
    g_assert_cmpstr (json_object_get_string_member (o, "path"), ==, name);
    g_assert_cmpstr (json_object_get_string_member (o, "content_type"), ==, "image/jpeg");
    g_assert_cmpfloat (json_object_get_double_member (o, "time_s"), ==, i * 2.0);
    g_assert_cmpint (json_object_get_int_member (o, "width"), ==, 160);
    g_assert_cmpint (json_object_get_int_member (o, "height"), ==, 120);
    path = output_path (out, o);
    jpeg_size (path, &width, &height);
    g_assert_cmpint (width, ==, 160);
    g_assert_cmpint (height, ==, 120);
    /* the frame at exactly t = 2 s is the first of second 2, not the
     * last of second 1 nor the second of second 2 */
    assert_file_picture (path, i * 2, 0, 10);
  }
  {
    g_autofree gchar *fifth = g_build_filename (out, "thumbnails", "thumb_00005.jpg", NULL);

    g_assert_false (g_file_test (fifth, G_FILE_TEST_EXISTS));
  }

  /* 4 tiles in 3 columns: 3 x 2 tiles of 160x120 */
  o = output_at (outputs, 5, "sprite");
  sprite = output_path (out, o);
  g_assert_cmpstr (json_object_get_string_member (o, "path"), ==, "thumbnails/sprite.jpg");
  g_assert_cmpint (json_object_get_int_member (o, "columns"), ==, 3);
  g_assert_cmpint (json_object_get_int_member (o, "rows"), ==, 2);
  g_assert_cmpint (json_object_get_int_member (o, "count"), ==, 4);
  g_assert_cmpint (json_object_get_int_member (o, "width"), ==, 480);
  g_assert_cmpint (json_object_get_int_member (o, "height"), ==, 240);
  jpeg_size (sprite, &width, &height);
  g_assert_cmpint (width, ==, 3 * 160);
  g_assert_cmpint (height, ==, 2 * 120);

  o = output_at (outputs, 6, "storyboard");
  vtt = output_path (out, o);
  g_assert_cmpstr (json_object_get_string_member (o, "path"), ==, "thumbnails/storyboard.vtt");
  g_assert_cmpstr (json_object_get_string_member (o, "content_type"), ==, "text/vtt");
  cues = parse_storyboard (vtt);
  g_assert_cmpuint (cues->len, ==, 4);
  sprite_rgb = load_rgb (sprite);
  for (guint i = 0; i < cues->len; i++) {
    const Cue *c = &g_array_index (cues, Cue, i);
    g_autofree gchar *what = g_strdup_printf ("sprite tile %u", i);

    g_assert_cmpint (c->start_ms, ==, i * 2000);
    g_assert_cmpint (c->end_ms, ==, MIN (i * 2000 + 2000, 7000));
    g_assert_cmpint (c->x, ==, (i % 3) * 160);
    g_assert_cmpint (c->y, ==, (i / 3) * 120);
    g_assert_cmpint (c->w, ==, 160);
    g_assert_cmpint (c->h, ==, 120);
    /* the cue's rectangle shows the picture at the cue's start */
    assert_picture (sprite_rgb, c->x, c->y, c->w, c->h, i * 2, 0, 10, what);
  }
  /* the two tiles the last row does not use are black */
  assert_region (sprite_rgb, 160, 120, 320, 120, palette[7], GREY_TOLERANCE, "sprite padding");
}

/* 60 s: the poster is at 5 s (10 % would be 6 s), and a poster alone
 * writes nothing else. */
static void
test_poster_only (void)
{
  WeProfileThumbnails o = options_new (TRUE, 0, 160, FALSE, 10);
  g_autofree gchar *out = fresh_dir ("poster-only");
  g_autofree gchar *dir = g_build_filename (out, "thumbnails", NULL);
  g_autofree gchar *poster = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonArray) outputs = NULL;
  JsonObject *obj;
  Waiter w = { 0, };
  gint width, height;

  outputs = run_thumbnails (fx.colour60, &o, out, NULL, &w, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (json_array_get_length (outputs), ==, 1);
  obj = output_at (outputs, 0, "poster");
  g_assert_cmpfloat_with_epsilon (json_object_get_double_member (obj, "time_s"), 5.0, 1e-6);
  poster = output_path (out, obj);
  jpeg_size (poster, &width, &height);
  g_assert_cmpint (width, ==, 64);
  g_assert_cmpint (height, ==, 48);
  assert_file_picture (poster, 5, 0, 2);
  g_assert_cmpuint (count_files (dir), ==, 1);
}

/* An odd-sized source with non-square pixels: 321x241 at 466/321 shows as
 * 466x241. */
static void
test_anamorphic (void)
{
  WeProfileThumbnails o = options_new (TRUE, 1, 160, TRUE, 10);
  g_autofree gchar *out = fresh_dir ("anamorphic");
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonArray) outputs = NULL;
  g_autoptr(GArray) cues = NULL;
  g_autofree gchar *vtt = NULL;
  Waiter w = { 0, };
  JsonObject *obj;
  gint width, height;

  outputs = run_thumbnails (fx.anamorphic, &o, out, NULL, &w, &error);
  g_assert_no_error (error);
  /* poster, t = 0 and 1, sprite, storyboard */
  g_assert_cmpuint (json_array_get_length (outputs), ==, 5);
  {
    g_autofree gchar *poster = output_path (out, output_at (outputs, 0, "poster"));

    /* square pixels at the display size, even: not 320x240 */
    jpeg_size (poster, &width, &height);
    g_assert_cmpint (width, ==, 466);
    g_assert_cmpint (height, ==, 240);
  }
  for (guint i = 0; i < 2; i++) {
    g_autofree gchar *path = NULL;

    obj = output_at (outputs, 1 + i, "frame");
    path = output_path (out, obj);
    jpeg_size (path, &width, &height);
    /* 241 * 160 / 466 = 82.7, even: 82 (without the pixel aspect: 120) */
    g_assert_cmpint (width, ==, 160);
    g_assert_cmpint (height, ==, 82);
    g_assert_cmpint (json_object_get_int_member (obj, "height"), ==, 82);
  }
  {
    g_autofree gchar *sprite = output_path (out, output_at (outputs, 3, "sprite"));

    jpeg_size (sprite, &width, &height);
    g_assert_cmpint (width, ==, 2 * 160);
    g_assert_cmpint (height, ==, 82);
  }
  vtt = output_path (out, output_at (outputs, 4, "storyboard"));
  cues = parse_storyboard (vtt);
  g_assert_cmpuint (cues->len, ==, 2);
  g_assert_cmpint (g_array_index (cues, Cue, 1).x, ==, 160);
  g_assert_cmpint (g_array_index (cues, Cue, 1).h, ==, 82);
  g_assert_cmpint (g_array_index (cues, Cue, 1).end_ms, ==, 2000);
}

/* 3840 px thumbnails of a 4:3 source are 3840x2880: 4 columns fit 16384 px
 * and one row fits 64 Mpx, so 7 thumbnails go into the sprite one in two,
 * each cue covering two intervals. */
static void
test_sprite_limits (void)
{
  WeProfileThumbnails o = options_new (FALSE, 1, 3840, TRUE, 20);
  g_autofree gchar *out = fresh_dir ("limits");
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonArray) outputs = NULL;
  g_autoptr(GArray) cues = NULL;
  g_autofree gchar *sprite = NULL;
  g_autofree gchar *vtt = NULL;
  JsonObject *obj;
  Waiter w = { 0, };
  gint width, height;

  outputs = run_thumbnails (fx.colour7, &o, out, NULL, &w, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (json_array_get_length (outputs), ==, 7 + 2);
  obj = output_at (outputs, 7, "sprite");
  g_assert_cmpint (json_object_get_int_member (obj, "columns"), ==, 4);
  g_assert_cmpint (json_object_get_int_member (obj, "rows"), ==, 1);
  g_assert_cmpint (json_object_get_int_member (obj, "count"), ==, 4);
  g_assert_cmpfloat (json_object_get_double_member (obj, "interval_s"), ==, 2.0);
  sprite = output_path (out, obj);
  jpeg_size (sprite, &width, &height);
  g_assert_cmpint (width, ==, 4 * 3840);
  g_assert_cmpint (height, ==, 2880);
  g_assert_cmpint ((gint64) width * height, <=, WE_GST_THUMBNAILS_MAX_SPRITE_PIXELS);

  vtt = output_path (out, output_at (outputs, 8, "storyboard"));
  cues = parse_storyboard (vtt);
  g_assert_cmpuint (cues->len, ==, 4);
  for (guint i = 0; i < cues->len; i++) {
    const Cue *c = &g_array_index (cues, Cue, i);

    g_assert_cmpint (c->start_ms, ==, i * 2000);
    g_assert_cmpint (c->end_ms, ==, MIN (i * 2000 + 2000, 7000));
    g_assert_cmpint (c->x, ==, i * 3840);
    g_assert_cmpint (c->y, ==, 0);
  }
}

/* A file whose header says 1 s but holds 7 s (the probe believes the
 * header, players play what is there): the thumbnails cover the 7 s, and
 * the sprite planned for one thumbnail thins its tiles out as more come. */
static void
test_understated_duration (void)
{
  WeProfileThumbnails o = options_new (FALSE, 1, 3840, TRUE, 20);
  g_autofree gchar *out = fresh_dir ("understated-duration");
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonArray) outputs = NULL;
  g_autoptr(GArray) cues = NULL;
  g_autofree gchar *last = NULL;
  g_autofree gchar *vtt = NULL;
  JsonObject *obj;
  Waiter w = { 0, };

  outputs = run_thumbnails (fx.understated, &o, out, NULL, &w, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (json_array_get_length (outputs), ==, 7 + 2);
  obj = output_at (outputs, 6, "frame");
  g_assert_cmpfloat (json_object_get_double_member (obj, "time_s"), ==, 6.0);
  last = output_path (out, obj);
  assert_file_picture (last, 6, 0, 10);

  obj = output_at (outputs, 7, "sprite");
  g_assert_cmpint (json_object_get_int_member (obj, "columns"), ==, 4);
  g_assert_cmpint (json_object_get_int_member (obj, "count"), ==, 4);
  g_assert_cmpfloat (json_object_get_double_member (obj, "interval_s"), ==, 2.0);
  vtt = output_path (out, output_at (outputs, 8, "storyboard"));
  cues = parse_storyboard (vtt);
  g_assert_cmpuint (cues->len, ==, 4);
  for (guint i = 0; i < cues->len; i++) {
    g_assert_cmpint (g_array_index (cues, Cue, i).start_ms, ==, i * 2000);
    g_assert_cmpint (g_array_index (cues, Cue, i).x, ==, i * 3840);
  }
  g_assert_cmpint (g_array_index (cues, Cue, 3).end_ms, ==, 7000);
}

static void
test_no_video (void)
{
  WeProfileThumbnails o = options_new (TRUE, 2, 160, TRUE, 10);
  const gchar *sources[] = { fx.audio_only, fx.not_media };

  for (guint i = 0; i < G_N_ELEMENTS (sources); i++) {
    g_autofree gchar *name = g_strdup_printf ("no-video-%u", i);
    g_autofree gchar *out = fresh_dir (name);
    g_autofree gchar *dir = g_build_filename (out, "thumbnails", NULL);
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonArray) outputs = NULL;
    Waiter w = { 0, };

    outputs = run_thumbnails (sources[i], &o, out, NULL, &w, &error);
    g_assert_null (outputs);
    g_assert_error (error, WE_ERROR, WE_ERROR_JOB_UNSUPPORTED_SOURCE);
    g_test_message ("%s: %s", sources[i], error->message);
    g_assert_false (g_file_test (dir, G_FILE_TEST_EXISTS));
  }
}

static void
test_options (void)
{
  WeProfileThumbnails nothing = options_new (FALSE, 0, 320, FALSE, 10);
  WeProfileThumbnails odd = options_new (TRUE, 2, 161, FALSE, 10);
  g_autofree gchar *out = fresh_dir ("options");
  g_autofree gchar *dir = g_build_filename (out, "thumbnails", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonArray) outputs = NULL;
  g_autoptr(JsonArray) none = NULL;
  Waiter w1 = { 0, }, w2 = { 0, };

  none = run_thumbnails (fx.colour7, &nothing, out, NULL, &w1, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (json_array_get_length (none), ==, 0);
  g_assert_false (g_file_test (dir, G_FILE_TEST_EXISTS));

  outputs = run_thumbnails (fx.colour7, &odd, out, NULL, &w2, &error);
  g_assert_null (outputs);
  g_assert_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_PROFILE);
}

typedef struct {
  gchar        *first;
  GCancellable *cancellable;
  gboolean      seen;
} CancelWatch;

/* Cancels as soon as the first thumbnail is on disk. */
static gboolean
cancel_watch_cb (gpointer user_data)
{
  CancelWatch *cw = user_data;

  if (!g_file_test (cw->first, G_FILE_TEST_EXISTS))
    return G_SOURCE_CONTINUE;
  cw->seen = TRUE;
  g_cancellable_cancel (cw->cancellable);
  return G_SOURCE_REMOVE;
}

static void
test_cancel (void)
{
  WeProfileThumbnails o = options_new (TRUE, 1, 320, TRUE, 10);
  g_autofree gchar *out = fresh_dir ("cancel");
  g_autofree gchar *dir = g_build_filename (out, "thumbnails", NULL);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonArray) outputs = NULL;
  CancelWatch cw = { NULL, cancellable, FALSE };
  Waiter w = { 0, };
  guint id;

  cw.first = g_build_filename (dir, "thumb_00001.jpg", NULL);
  id = g_timeout_add (1, cancel_watch_cb, &cw);
  outputs = run_thumbnails (fx.long_clip, &o, out, cancellable, &w, &error);
  if (!cw.seen)
    g_source_remove (id);
  g_assert_true (cw.seen);
  g_assert_null (outputs);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  /* everything written is gone, the directory too */
  g_assert_false (g_file_test (cw.first, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (dir, G_FILE_TEST_EXISTS));
  g_free (cw.first);
}

int
main (int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  int rc;

  g_test_init (&argc, &argv, NULL);
  gst_init (NULL, NULL);

  fx.tmpdir = g_dir_make_tmp ("we-gst-thumbnails-XXXXXX", &error);
  g_assert_no_error (error);
  fx.colour7 = g_build_filename (fx.tmpdir, "colour7.mp4", NULL);
  make_colour_clip (fx.colour7, "mp4mux", 7, 10, 320, 240);
  fx.understated = g_build_filename (fx.tmpdir, "understated.mkv", NULL);
  make_colour_clip (fx.understated, "matroskamux", 7, 10, 320, 240);
  understate_duration (fx.understated);
  fx.colour60 = g_build_filename (fx.tmpdir, "colour60.mp4", NULL);
  make_colour_clip (fx.colour60, "mp4mux", 60, 2, 64, 48);
  fx.anamorphic = g_build_filename (fx.tmpdir, "anamorphic.mkv", NULL);
  make_anamorphic_clip (fx.anamorphic);
  fx.audio_only = g_build_filename (fx.tmpdir, "audio.mp4", NULL);
  we_gst_test_make_clip (fx.audio_only, "--duration 2 --no-video");
  fx.not_media = g_build_filename (fx.tmpdir, "notes.txt", NULL);
  g_assert_true (g_file_set_contents (fx.not_media, "not a video, only words\n", -1, NULL));
  fx.long_clip = g_build_filename (fx.tmpdir, "long.mp4", NULL);
  we_gst_test_make_clip (fx.long_clip, "--duration 30 --width 640 --height 480 --fps 25 --no-audio");

  g_test_add_func ("/thumbnails/periodic", test_periodic);
  g_test_add_func ("/thumbnails/poster-only", test_poster_only);
  g_test_add_func ("/thumbnails/anamorphic", test_anamorphic);
  g_test_add_func ("/thumbnails/sprite-limits", test_sprite_limits);
  g_test_add_func ("/thumbnails/understated-duration", test_understated_duration);
  g_test_add_func ("/thumbnails/no-video", test_no_video);
  g_test_add_func ("/thumbnails/options", test_options);
  g_test_add_func ("/thumbnails/cancel", test_cancel);
  rc = g_test_run ();

  we_gst_test_remove_tree (fx.tmpdir);
  g_free (fx.tmpdir);
  g_free (fx.colour7);
  g_free (fx.colour60);
  g_free (fx.understated);
  g_free (fx.anamorphic);
  g_free (fx.audio_only);
  g_free (fx.not_media);
  g_free (fx.long_clip);
  return rc;
}
