/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Pipeline introspection: a running pipeline written as a gst-launch line
 * must rebuild it. Each test runs a real pipeline, parses the line it
 * reported, runs that too and compares the two outputs (codec, size,
 * frames, duration); the transcode's line is run by gst-launch-1.0 -e as an
 * engineer would.
 */

#include <string.h>
#include <glib/gstdio.h>
#include <gst/gst.h>
#include <webencode/webencode.h>

#include "we-gst-elements.h"
#include "we-gst-introspect.h"
#include "we-gst-test-util.h"
#include "we-gst-transcode.h"

typedef struct {
  gchar *tmpdir;
  gchar *clip;   /* 2 s, 320x240 at 25 fps, H.264 + AAC in MP4 */
} Fixture;

static Fixture fx;

/* ---- what a file holds ---------------------------------------------------- */

typedef struct {
  GMutex       lock;
  GstElement  *pipeline;
  gchar       *video_codec;
  gint         width, height;
  guint64      frames;
  guint64      audio_buffers;
  GstClockTime first, last_end;
} Summary;

static GstPadProbeReturn
count_probe (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  Summary *s = user_data;
  GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER (info);
  gboolean video = GPOINTER_TO_INT (g_object_get_data (G_OBJECT (pad), "we-video"));

  g_mutex_lock (&s->lock);
  if (video) {
    GstClockTime pts = GST_BUFFER_PTS (buf);

    s->frames++;
    if (GST_CLOCK_TIME_IS_VALID (pts)) {
      if (!GST_CLOCK_TIME_IS_VALID (s->first) || pts < s->first)
        s->first = pts;
      if (GST_BUFFER_DURATION_IS_VALID (buf))
        pts += GST_BUFFER_DURATION (buf);
      if (!GST_CLOCK_TIME_IS_VALID (s->last_end) || pts > s->last_end)
        s->last_end = pts;
    }
  } else {
    s->audio_buffers++;
  }
  g_mutex_unlock (&s->lock);
  return GST_PAD_PROBE_OK;
}

static void
parsebin_pad_added (GstElement *parsebin, GstPad *pad, gpointer user_data)
{
  Summary *s = user_data;
  g_autoptr(GstCaps) caps = gst_pad_get_current_caps (pad);
  GstStructure *st = gst_caps_get_structure (caps, 0);
  GstElement *sink = gst_element_factory_make ("fakesink", NULL);
  g_autoptr(GstPad) sinkpad = gst_element_get_static_pad (sink, "sink");
  gboolean video = g_str_has_prefix (gst_structure_get_name (st), "video/");

  /* parsebin has no queues: a sink waiting to preroll would hold the
   * other stream back */
  g_object_set (sink, "sync", FALSE, "async", FALSE, NULL);
  if (video) {
    g_mutex_lock (&s->lock);
    s->video_codec = g_strdup (gst_structure_get_name (st));
    gst_structure_get_int (st, "width", &s->width);
    gst_structure_get_int (st, "height", &s->height);
    g_mutex_unlock (&s->lock);
  }
  g_object_set_data (G_OBJECT (pad), "we-video", GINT_TO_POINTER (video));
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, count_probe, s, NULL);
  gst_bin_add (GST_BIN (s->pipeline), sink);
  gst_element_sync_state_with_parent (sink);
  g_assert_cmpint (gst_pad_link (pad, sinkpad), ==, GST_PAD_LINK_OK);
}

static void
summarize (const gchar *path, Summary *s)
{
  g_autofree gchar *desc = g_strdup_printf ("filesrc location=\"%s\" ! parsebin name=p", path);
  g_autoptr(GError) error = NULL;
  g_autoptr(GstElement) parsebin = NULL;

  memset (s, 0, sizeof (*s));
  g_mutex_init (&s->lock);
  s->first = s->last_end = GST_CLOCK_TIME_NONE;
  s->pipeline = gst_parse_launch (desc, &error);
  g_assert_no_error (error);
  parsebin = gst_bin_get_by_name (GST_BIN (s->pipeline), "p");
  g_signal_connect (parsebin, "pad-added", G_CALLBACK (parsebin_pad_added), s);
  g_assert_cmpint (gst_element_set_state (s->pipeline, GST_STATE_PLAYING), !=,
                   GST_STATE_CHANGE_FAILURE);
  we_gst_test_run_to_eos (s->pipeline);
  gst_clear_object (&s->pipeline);
}

static void
summary_clear (Summary *s)
{
  g_free (s->video_codec);
  g_mutex_clear (&s->lock);
}

/* Same codec and size, frames ±1, duration ±1 frame. */
static void
assert_equivalent (const gchar *a_path, const gchar *b_path, gboolean audio)
{
  Summary a, b;
  gdouble frame;

  summarize (a_path, &a);
  summarize (b_path, &b);
  g_test_message ("%s: %s %dx%d %" G_GUINT64_FORMAT " frames; %s: %s %dx%d %" G_GUINT64_FORMAT
                  " frames", a_path, a.video_codec, a.width, a.height, a.frames, b_path,
                  b.video_codec, b.width, b.height, b.frames);
  g_assert_nonnull (a.video_codec);
  g_assert_cmpstr (a.video_codec, ==, b.video_codec);
  g_assert_cmpint (a.width, ==, b.width);
  g_assert_cmpint (a.height, ==, b.height);
  g_assert_cmpuint (a.frames, >, 10);
  g_assert_cmpint (ABS ((gint64) a.frames - (gint64) b.frames), <=, 1);
  frame = (gdouble) (a.last_end - a.first) / a.frames / GST_SECOND;
  g_assert_cmpfloat (ABS ((gdouble) (a.last_end - a.first) - (gdouble) (b.last_end - b.first)) /
                     GST_SECOND, <=, frame + 1e-3);
  if (audio) {
    g_assert_cmpuint (a.audio_buffers, >, 0);
    g_assert_cmpuint (b.audio_buffers, >, 0);
  }
  summary_clear (&a);
  summary_clear (&b);
}

/* ---- a hand-built pipeline -------------------------------------------------- */

typedef struct {
  gchar    *launch;
  gchar    *dot;
  gchar    *stage;
  guint     reports;
} Recorded;

static void
record_cb (const WePipelineInfo *info, gpointer user_data)
{
  Recorded *r = user_data;

  r->reports++;
  g_free (r->launch);
  g_free (r->dot);
  g_free (r->stage);
  r->launch = g_strdup (info->launch);
  r->dot = g_strdup (info->dot);
  r->stage = g_strdup (info->stage);
}

static void
recorded_clear (Recorded *r)
{
  g_free (r->launch);
  g_free (r->dot);
  g_free (r->stage);
}

typedef struct {
  GstElement *vq;
  GstElement *aq;
} Heads;

static void
decode_pad_added (GstElement *decodebin, GstPad *pad, gpointer user_data)
{
  Heads *h = user_data;
  g_autoptr(GstCaps) caps = gst_pad_get_current_caps (pad);
  const gchar *name = gst_structure_get_name (gst_caps_get_structure (caps, 0));
  GstElement *head = g_str_has_prefix (name, "video/") ? h->vq : h->aq;
  g_autoptr(GstPad) sinkpad = gst_element_get_static_pad (head, "sink");

  g_assert_cmpint (gst_pad_link (pad, sinkpad), ==, GST_PAD_LINK_OK);
}

static GstElement *
add (GstElement *pipeline, const gchar *factory, const gchar *name)
{
  GstElement *e = gst_element_factory_make (factory, name);

  g_assert_nonnull (e);
  gst_bin_add (GST_BIN (pipeline), e);
  return e;
}

static gboolean
bus_cb (GstBus *bus, GstMessage *msg, gpointer user_data)
{
  gpointer *args = user_data;
  GstElement *pipeline = args[0];
  Recorded *r = args[1];
  gboolean *reported = args[2];
  GMainLoop *loop = args[3];

  we_gst_introspect_message (pipeline, msg, "test", record_cb, r, reported);
  if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
    g_autoptr(GError) err = NULL;

    gst_message_parse_error (msg, &err, NULL);
    g_error ("pipeline failed: %s", err->message);
  }
  if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_EOS)
    g_main_loop_quit (loop);
  return G_SOURCE_CONTINUE;
}

static void
test_roundtrip (void)
{
  g_autofree gchar *uri = g_filename_to_uri (fx.clip, NULL, NULL);
  g_autofree gchar *out_a = g_build_filename (fx.tmpdir, "a.mkv", NULL);
  g_autofree gchar *out_b = g_build_filename (fx.tmpdir, "b.mkv", NULL);
  g_autoptr(GstElement) pipeline = gst_pipeline_new (we_gst_pipeline_name ("task-42"));
  g_autoptr(GstElement) parsed = NULL;
  g_autoptr(GstElement) sink = NULL;
  g_autoptr(GstCaps) caps = gst_caps_from_string ("video/x-raw,width=160,height=120");
  g_autoptr(GMainLoop) loop = g_main_loop_new (NULL, FALSE);
  g_autoptr(GstBus) bus = NULL;
  g_autoptr(GError) error = NULL;
  Recorded r = { 0 };
  gboolean reported = FALSE;
  gpointer args[4] = { pipeline, &r, &reported, loop };
  GstElement *d, *t, *x264, *opus, *mux, *out, *vc, *vs, *size;
  Heads h;

  g_assert_cmpstr (GST_OBJECT_NAME (pipeline), ==, "task-42");
  d = add (pipeline, "uridecodebin", "d");
  g_object_set (d, "uri", uri, NULL);
  h.vq = add (pipeline, "queue", "vq");
  vc = add (pipeline, "videoconvert", NULL);
  vs = add (pipeline, "videoscale", NULL);
  size = add (pipeline, "capsfilter", "size");
  g_object_set (size, "caps", caps, NULL);
  t = add (pipeline, "tee", "t");
  g_assert_true (gst_element_link_many (h.vq, vc, vs, size, t, NULL));

  x264 = add (pipeline, "x264enc", "venc");
  /* an enum, flags and plain numbers */
  gst_util_set_object_arg (G_OBJECT (x264), "speed-preset", "ultrafast");
  gst_util_set_object_arg (G_OBJECT (x264), "tune", "zerolatency+fastdecode");
  g_object_set (x264, "bitrate", 300, "key-int-max", 25, NULL);
  mux = add (pipeline, "matroskamux", "mux");
  out = add (pipeline, "filesink", "out");
  g_object_set (out, "location", out_a, NULL);
  {
    GstElement *q1 = add (pipeline, "queue", "q1");
    GstElement *q2 = add (pipeline, "queue", "q2");
    GstElement *fs = add (pipeline, "fakesink", "preview");
    GstElement *parse = add (pipeline, "h264parse", NULL);
    GstElement *ac, *ar;
    g_autoptr(GstPad) tsrc0 = gst_element_request_pad_simple (t, "src_%u");
    g_autoptr(GstPad) tsrc1 = gst_element_request_pad_simple (t, "src_%u");
    g_autoptr(GstPad) q1sink = gst_element_get_static_pad (q1, "sink");
    g_autoptr(GstPad) q2sink = gst_element_get_static_pad (q2, "sink");

    g_object_set (fs, "sync", FALSE, NULL);
    g_assert_cmpint (gst_pad_link (tsrc0, q1sink), ==, GST_PAD_LINK_OK);
    g_assert_cmpint (gst_pad_link (tsrc1, q2sink), ==, GST_PAD_LINK_OK);
    g_assert_true (gst_element_link_many (q1, x264, parse, NULL));
    g_assert_true (gst_element_link_pads (parse, "src", mux, "video_%u"));
    g_assert_true (gst_element_link (q2, fs));
    g_assert_true (gst_element_link (mux, out));

    h.aq = add (pipeline, "queue", "aq");
    ac = add (pipeline, "audioconvert", NULL);
    ar = add (pipeline, "audioresample", NULL);
    opus = add (pipeline, "opusenc", "aenc");
    gst_util_set_object_arg (G_OBJECT (opus), "bitrate-type", "vbr");
    g_assert_true (gst_element_link_many (h.aq, ac, ar, opus, NULL));
    g_assert_true (gst_element_link_pads (opus, "src", mux, "audio_%u"));
  }
  g_signal_connect (d, "pad-added", G_CALLBACK (decode_pad_added), &h);

  bus = gst_element_get_bus (pipeline);
  gst_bus_add_watch (bus, bus_cb, args);
  g_assert_cmpint (gst_element_set_state (pipeline, GST_STATE_PLAYING), !=,
                   GST_STATE_CHANGE_FAILURE);
  g_main_loop_run (loop);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_bus_remove_watch (bus);

  g_assert_cmpuint (r.reports, ==, 1);
  g_assert_cmpstr (r.stage, ==, "test");
  g_test_message ("launch: %s", r.launch);
  g_assert_nonnull (r.dot);
  g_assert_true (g_str_has_prefix (r.dot, "digraph"));
  g_assert_nonnull (strstr (r.dot, "venc"));
  /* what an engineer needs to see */
  g_assert_nonnull (strstr (r.launch, "uridecodebin name=d uri=file://"));
  g_assert_nonnull (strstr (r.launch, "speed-preset=ultrafast"));
  g_assert_nonnull (strstr (r.launch, "tune=fastdecode+zerolatency"));
  g_assert_nonnull (strstr (r.launch, "bitrate=300"));
  g_assert_nonnull (strstr (r.launch, "bitrate-type=vbr"));
  g_assert_nonnull (strstr (r.launch, "video/x-raw,width=(int)160,height=(int)120"));
  g_assert_null (strstr (r.launch, "capsfilter"));
  g_assert_nonnull (strstr (r.launch, "t.src_0 ! queue name=q1"));
  g_assert_nonnull (strstr (r.launch, "t.src_1 ! queue name=q2"));
  g_assert_nonnull (strstr (r.launch, "! mux.video_0"));
  g_assert_nonnull (strstr (r.launch, "! mux.audio_0"));
  g_assert_nonnull (strstr (r.launch, "d.src_0 ! queue name="));
  g_assert_nonnull (strstr (r.launch, "d.src_1 ! queue name="));
  /* defaults are left out */
  g_assert_null (strstr (r.launch, "max-size-buffers"));

  parsed = gst_parse_launch (r.launch, &error);
  g_assert_no_error (error);
  sink = gst_bin_get_by_name (GST_BIN (parsed), "out");
  g_object_set (sink, "location", out_b, NULL);
  g_assert_cmpint (gst_element_set_state (parsed, GST_STATE_PLAYING), !=,
                   GST_STATE_CHANGE_FAILURE);
  we_gst_test_run_to_eos (parsed);
  assert_equivalent (out_a, out_b, TRUE);
  recorded_clear (&r);
}

static void
test_redaction (void)
{
  g_autoptr(GstElement) pipeline = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *launch = NULL;
  g_autofree gchar *plain = NULL;
  Recorded r = { 0 };

  plain = we_gst_redact_urls ("s3://b/k?X-Amz-Signature=abc&X-Amz-Credential=def "
                              "https://user:pw@host:8443/a/b.mp4?token=1 file:///tmp/x.mp4");
  g_assert_cmpstr (plain, ==, "s3://b/k?REDACTED https://REDACTED@host:8443/a/b.mp4?REDACTED "
                              "file:///tmp/x.mp4");

  pipeline = gst_parse_launch ("souphttpsrc name=http location=\"https://bucket.s3.example/"
                               "in.mp4?X-Amz-Signature=sekrit&X-Amz-Expires=60\" "
                               "user-pw=hunter2 ! queue ! fakesink "
                               "uridecodebin name=d uri=\"https://u:topsecret@h.example/x.mp4\" "
                               "! fakesink", &error);
  g_assert_no_error (error);
  launch = we_gst_pipeline_to_launch (pipeline);
  g_test_message ("launch: %s", launch);
  g_assert_null (strstr (launch, "sekrit"));
  g_assert_null (strstr (launch, "hunter2"));
  g_assert_null (strstr (launch, "topsecret"));
  g_assert_nonnull (strstr (launch, "location=https://bucket.s3.example/in.mp4?REDACTED"));
  g_assert_nonnull (strstr (launch, "user-pw=REDACTED"));
  we_gst_pipeline_introspect (pipeline, "redaction", record_cb, &r);
  g_assert_cmpuint (r.reports, ==, 1);
  g_assert_null (strstr (r.dot, "sekrit"));
  g_assert_null (strstr (r.dot, "topsecret"));
  g_assert_null (strstr (r.launch, "sekrit"));
  /* still a description gst_parse takes */
  {
    g_autoptr(GstElement) again = gst_parse_launch (launch, &error);
    g_assert_no_error (error);
  }
  recorded_clear (&r);
}

/* appsink becomes fakesink, a substitute replaces what the app feeds */
static void
test_substitute (void)
{
  g_autoptr(GstElement) pipeline = NULL;
  g_autoptr(GstElement) src = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *launch = NULL;

  pipeline = gst_parse_launch ("appsrc name=feed caps=video/x-raw,format=I420,width=64,"
                               "height=48,framerate=10/1 format=time ! videoconvert ! "
                               "appsink name=grab sync=false", &error);
  g_assert_no_error (error);
  src = gst_bin_get_by_name (GST_BIN (pipeline), "feed");
  we_gst_introspect_set_substitute (src, "videotestsrc num-buffers=5 ! "
                                         "video/x-raw,format=I420,width=64,height=48");
  launch = we_gst_pipeline_to_launch (pipeline);
  g_test_message ("launch: %s", launch);
  g_assert_nonnull (strstr (launch, "videotestsrc num-buffers=5 ! video/x-raw"));
  g_assert_nonnull (strstr (launch, "fakesink name=grab sync=false"));
  g_assert_null (strstr (launch, "appsink"));
  we_gst_test_run_pipeline (launch);
}

/* ---- the transcode's own line, by gst-launch-1.0 -e ------------------------- */

static void
transcode_done_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  we_gst_test_waiter_cb (source, res, user_data);
}

/* The launch line as the words gst-launch-1.0 takes: split at spaces
 * outside double quotes, as a shell would after quoting each word. */
static gchar **
launch_words (const gchar *launch)
{
  g_autoptr(GStrvBuilder) b = g_strv_builder_new ();
  g_autoptr(GString) word = g_string_new (NULL);
  gboolean quoted = FALSE;

  for (const gchar *p = launch; *p != '\0'; p++) {
    if (*p == '\\' && p[1] != '\0') {
      g_string_append_c (word, *p++);
      g_string_append_c (word, *p);
      continue;
    }
    if (*p == '"')
      quoted = !quoted;
    if (*p == ' ' && !quoted) {
      if (word->len > 0)
        g_strv_builder_add (b, word->str);
      g_string_truncate (word, 0);
      continue;
    }
    g_string_append_c (word, *p);
  }
  if (word->len > 0)
    g_strv_builder_add (b, word->str);
  return g_strv_builder_end (b);
}

static void
test_transcode_line (void)
{
  g_autofree gchar *uri = g_filename_to_uri (fx.clip, NULL, NULL);
  g_autofree gchar *out = g_build_filename (fx.tmpdir, "t.mp4", NULL);
  g_autofree gchar *orig = g_build_filename (fx.tmpdir, "t-orig.mp4", NULL);
  g_autoptr(WeProfile) profile = we_profile_new ("intro_test");
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_auto(GStrv) words = NULL;
  g_auto(GStrv) env = g_get_environ ();
  g_autofree gchar *err = NULL;
  const gchar *plugin_dir = g_getenv ("WE_GST_PLUGIN_DIR");
  WeGstOptions options = { 0, FALSE };
  WeGstTestWaiter w = { 0 };
  Recorded r = { 0 };
  gint status = 0;
  WeEncodeRequest req = {
    .task_id = "job1-t1",
    .input_uri = uri,
    .output_path = out,
    .profile = profile,
    .mode = WE_ENCODE_MODE_FULL,
    .pipeline_func = record_cb,
    .pipeline_data = &r,
  };

  profile->width = 160;
  profile->height = 120;
  g_free (profile->preset);
  profile->preset = g_strdup ("ultrafast");
  we_gst_transcode_async (NULL, &req, &options, NULL, NULL, NULL, transcode_done_cb, &w);
  we_gst_test_wait (&w, NULL);
  we_gst_transcode_finish (w.result, &error);
  g_assert_no_error (error);
  g_clear_object (&w.result);
  g_assert_cmpuint (r.reports, ==, 1);
  g_assert_cmpstr (r.stage, ==, "transcode");
  g_test_message ("launch: %s", r.launch);
  g_assert_nonnull (strstr (r.launch, out));
  g_assert_null (strstr (r.launch, "faststart-file"));
  g_assert_nonnull (r.dot);
  g_assert_nonnull (strstr (r.dot, "job1-t1"));

  /* by hand: the recorded line writes the same path again */
  g_assert_cmpint (g_rename (out, orig), ==, 0);
  if (plugin_dir == NULL) {
    /* no loadable plugin in this build: gst-launch could not find
     * weprogress, so the line is parsed here, where it is registered */
    g_autoptr(GstElement) again = gst_parse_launch (r.launch, &error);

    g_assert_no_error (error);
    g_assert_cmpint (gst_element_set_state (again, GST_STATE_PLAYING), !=,
                     GST_STATE_CHANGE_FAILURE);
    we_gst_test_run_to_eos (again);
    assert_equivalent (orig, out, TRUE);
    recorded_clear (&r);
    return;
  }
  words = launch_words (r.launch);
  g_ptr_array_add (argv, "gst-launch-1.0");
  g_ptr_array_add (argv, "-q");
  g_ptr_array_add (argv, "-e");
  for (guint i = 0; words[i] != NULL; i++)
    g_ptr_array_add (argv, words[i]);
  g_ptr_array_add (argv, NULL);
  /* our elements (weprogress) as an engineer finds them */
  env = g_environ_setenv (env, "GST_PLUGIN_PATH", plugin_dir, TRUE);
  if (g_getenv ("WE_GST_LAUNCH_PRELOAD") != NULL) {
    env = g_environ_setenv (env, "LD_PRELOAD", g_getenv ("WE_GST_LAUNCH_PRELOAD"), TRUE);
    /* gst-launch-1.0 is not ours: its leaks are not this test's business */
    env = g_environ_setenv (env, "ASAN_OPTIONS", "detect_leaks=0", TRUE);
  }
  g_assert_true (g_spawn_sync (NULL, (gchar **) argv->pdata, env, G_SPAWN_SEARCH_PATH, NULL, NULL,
                               NULL, &err, &status, &error));
  g_assert_no_error (error);
  if (!g_spawn_check_wait_status (status, NULL))
    g_error ("gst-launch-1.0 failed: %s", err);
  assert_equivalent (orig, out, TRUE);
  recorded_clear (&r);
}

int
main (int argc, char **argv)
{
  int ret;

  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  /* weprogress, as the module registers it when it loads */
  g_assert_true (we_gst_elements_register ());

  fx.tmpdir = g_dir_make_tmp ("we-gst-introspect-XXXXXX", NULL);
  fx.clip = g_build_filename (fx.tmpdir, "clip.mp4", NULL);
  we_gst_test_make_clip (fx.clip, "--duration 2 --width 320 --height 240 --fps 25");

  g_test_add_func ("/encoder-gst/introspect/redaction", test_redaction);
  g_test_add_func ("/encoder-gst/introspect/substitute", test_substitute);
  g_test_add_func ("/encoder-gst/introspect/roundtrip", test_roundtrip);
  g_test_add_func ("/encoder-gst/introspect/transcode-line", test_transcode_line);
  ret = g_test_run ();

  we_gst_test_remove_tree (fx.tmpdir);
  g_free (fx.tmpdir);
  g_free (fx.clip);
  gst_deinit ();
  return ret;
}
