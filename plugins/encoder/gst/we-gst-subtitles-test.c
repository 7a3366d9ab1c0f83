/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Subtitle extraction on clips made by tests/media/make-clip, whose cue N
 * reads "Cue N" (later tracks "Cue N <language>") from (2N - 1.5) s to
 * (2N - 0.5) s.
 */

#include <glib/gstdio.h>
#include <gst/gst.h>
#include <webencode/we-error.h>

#include "we-gst-subtitles.h"
#include "we-gst-test-util.h"

typedef struct {
  GMainContext *context;
  gchar        *tmpdir;
  gchar        *clip_mkv;    /* 6 s, subtitles eng + fra */
  gchar        *clip_mp4;    /* 6 s, subtitles eng */
  gchar        *clip_plain;  /* no subtitles */
} Fixture;

static Fixture fx;

static gchar *
tmp_path (const gchar *name)
{
  return g_build_filename (fx.tmpdir, name, NULL);
}

static JsonArray *
extract (const gchar *path, const gchar * const *formats, const gchar *out_dir,
         GCancellable *cancellable, GError **error)
{
  g_autofree gchar *uri = g_filename_to_uri (path, NULL, NULL);
  WeGstTestWaiter w = { 0, };
  JsonArray *files;

  we_gst_subtitles_extract_async (uri, formats, out_dir, cancellable, we_gst_test_waiter_cb, &w);
  we_gst_test_wait (&w, fx.context);
  files = we_gst_subtitles_extract_finish (w.result, error);
  g_object_unref (w.result);
  return files;
}

static gchar *
read_file (const gchar *dir, const gchar *rel)
{
  g_autofree gchar *path = g_build_filename (dir, rel, NULL);

  return we_gst_test_read_file (path, NULL);
}

static void
check_file (JsonObject *o, const gchar *path, const gchar *format, const gchar *language,
            gint64 track, gint64 cues, const gchar *content_type)
{
  g_assert_cmpstr (json_object_get_string_member (o, "type"), ==, "subtitle");
  g_assert_cmpstr (json_object_get_string_member (o, "path"), ==, path);
  g_assert_cmpstr (json_object_get_string_member (o, "format"), ==, format);
  g_assert_cmpstr (json_object_get_string_member (o, "language"), ==, language);
  g_assert_cmpint (json_object_get_int_member (o, "track"), ==, track);
  g_assert_cmpint (json_object_get_int_member (o, "cues"), ==, cues);
  g_assert_cmpstr (json_object_get_string_member (o, "content_type"), ==, content_type);
}

static const gchar expected_vtt_eng[] =
  "WEBVTT\n\n"
  "00:00:00.500 --> 00:00:01.500\nCue 1\n\n"
  "00:00:02.500 --> 00:00:03.500\nCue 2\n\n"
  "00:00:04.500 --> 00:00:05.500\nCue 3\n\n";
static const gchar expected_srt_eng[] =
  "1\n00:00:00,500 --> 00:00:01,500\nCue 1\n\n"
  "2\n00:00:02,500 --> 00:00:03,500\nCue 2\n\n"
  "3\n00:00:04,500 --> 00:00:05,500\nCue 3\n\n";
static const gchar expected_vtt_fra[] =
  "WEBVTT\n\n"
  "00:00:00.500 --> 00:00:01.500\nCue 1 fra\n\n"
  "00:00:02.500 --> 00:00:03.500\nCue 2 fra\n\n"
  "00:00:04.500 --> 00:00:05.500\nCue 3 fra\n\n";
static const gchar expected_srt_fra[] =
  "1\n00:00:00,500 --> 00:00:01,500\nCue 1 fra\n\n"
  "2\n00:00:02,500 --> 00:00:03,500\nCue 2 fra\n\n"
  "3\n00:00:04,500 --> 00:00:05,500\nCue 3 fra\n\n";

static void
test_extract_mkv (void)
{
  const gchar * const formats[] = { "vtt", "srt", NULL };
  g_autofree gchar *out = tmp_path ("out-mkv");
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonArray) files = NULL;
  g_autofree gchar *vtt0 = NULL;
  g_autofree gchar *srt0 = NULL;
  g_autofree gchar *vtt1 = NULL;
  g_autofree gchar *srt1 = NULL;

  files = extract (fx.clip_mkv, formats, out, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (files);
  g_assert_cmpuint (json_array_get_length (files), ==, 4);
  check_file (json_array_get_object_element (files, 0), "subtitles/0_eng.vtt", "vtt", "eng", 0,
              3, "text/vtt");
  check_file (json_array_get_object_element (files, 1), "subtitles/0_eng.srt", "srt", "eng", 0,
              3, "application/x-subrip");
  check_file (json_array_get_object_element (files, 2), "subtitles/1_fra.vtt", "vtt", "fra", 1,
              3, "text/vtt");
  check_file (json_array_get_object_element (files, 3), "subtitles/1_fra.srt", "srt", "fra", 1,
              3, "application/x-subrip");
  vtt0 = read_file (out, "subtitles/0_eng.vtt");
  srt0 = read_file (out, "subtitles/0_eng.srt");
  vtt1 = read_file (out, "subtitles/1_fra.vtt");
  srt1 = read_file (out, "subtitles/1_fra.srt");
  g_assert_cmpstr (vtt0, ==, expected_vtt_eng);
  g_assert_cmpstr (srt0, ==, expected_srt_eng);
  g_assert_cmpstr (vtt1, ==, expected_vtt_fra);
  g_assert_cmpstr (srt1, ==, expected_srt_fra);
  we_gst_test_remove_tree (out);
}

/* tx3g in MP4: qtmux gives the late-starting track an edit list, which
 * qtdemux reads right: the cue times are those of the Matroska source */
static void
test_extract_mp4 (void)
{
  g_autofree gchar *out = tmp_path ("out-mp4");
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonArray) files = NULL;
  g_autofree gchar *vtt = NULL;

  files = extract (fx.clip_mp4, NULL, out, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (json_array_get_length (files), ==, 1);
  vtt = read_file (out, "subtitles/0_eng.vtt");
  g_test_message ("%s", vtt);
  check_file (json_array_get_object_element (files, 0), "subtitles/0_eng.vtt", "vtt", "eng", 0,
              3, "text/vtt");
  g_assert_cmpstr (vtt, ==, expected_vtt_eng);
  we_gst_test_remove_tree (out);
}

static void
test_no_subtitles (void)
{
  g_autofree gchar *out = tmp_path ("out-plain");
  g_autofree gchar *sub_dir = g_build_filename (out, "subtitles", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonArray) files = extract (fx.clip_plain, NULL, out, NULL, &error);

  g_assert_no_error (error);
  g_assert_nonnull (files);
  g_assert_cmpuint (json_array_get_length (files), ==, 0);
  g_assert_false (g_file_test (sub_dir, G_FILE_TEST_EXISTS));
  we_gst_test_remove_tree (out);
}

static void
test_bad_source (void)
{
  g_autofree gchar *noise = tmp_path ("noise.mkv");
  g_autofree gchar *out = tmp_path ("out-noise");
  g_autofree gchar *sub_dir = g_build_filename (out, "subtitles", NULL);
  g_autofree guint8 *data = g_malloc (32 * 1024);
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonArray) files = NULL;

  for (gsize i = 0; i < 32 * 1024; i++)
    data[i] = (guint8) g_random_int ();
  g_assert_true (g_file_set_contents (noise, (const gchar *) data, 32 * 1024, &error));
  files = extract (noise, NULL, out, NULL, &error);
  g_assert_null (files);
  g_assert_error (error, WE_ERROR, WE_ERROR_JOB_UNSUPPORTED_SOURCE);
  g_assert_false (g_file_test (sub_dir, G_FILE_TEST_EXISTS));
  g_clear_error (&error);

  {
    const gchar * const formats[] = { "ass", NULL };

    files = extract (fx.clip_mkv, formats, out, NULL, &error);
    g_assert_null (files);
    g_assert_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_PROFILE);
  }
  g_unlink (noise);
  we_gst_test_remove_tree (out);
}

static gboolean
cancel_cb (gpointer user_data)
{
  g_cancellable_cancel (G_CANCELLABLE (user_data));
  return G_SOURCE_REMOVE;
}

static void
test_cancel (void)
{
  g_autofree gchar *out = tmp_path ("out-cancel");
  const guint delays_ms[] = { 0, 5, 30, 120 };

  for (guint i = 0; i < G_N_ELEMENTS (delays_ms); i++) {
    g_autoptr(GCancellable) cancellable = g_cancellable_new ();
    g_autoptr(GSource) timer = g_timeout_source_new (delays_ms[i]);
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonArray) files = NULL;

    g_source_set_callback (timer, cancel_cb, cancellable, NULL);
    g_source_attach (timer, fx.context);
    files = extract (fx.clip_mkv, NULL, out, cancellable, &error);
    g_source_destroy (timer);
    /* a late cancel may find the work done */
    if (files != NULL) {
      g_test_message ("finished before the cancel at %u ms", delays_ms[i]);
      continue;
    }
    g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
    {
      g_autofree gchar *vtt = g_build_filename (out, "subtitles", "0_eng.vtt", NULL);

      g_assert_false (g_file_test (vtt, G_FILE_TEST_EXISTS));
    }
  }
  /* the abandoned probes' discoverers finish on this context */
  for (gint64 end = g_get_monotonic_time () + 1500000; g_get_monotonic_time () < end;)
    g_main_context_iteration (fx.context, FALSE);
  we_gst_test_remove_tree (out);
}

typedef struct {
  const gchar *in;
  gboolean     markup;
  const gchar *text;  /* we_gst_subtitle_cue_text with keep_style */
  const gchar *plain; /* without */
  const gchar *vtt;   /* the cue's text line(s) in WebVTT */
} TextCase;

static const TextCase text_cases[] = {
  { "<i>a &amp; b</i> <span foreground=\"red\">c</span>", TRUE,
    "<i>a & b</i> c", "a & b c", "<i>a &amp; b</i> c" },
  { "x --&gt; y &lt;3", TRUE, "x --> y <3", "x --> y <3", "x --&gt; y &lt;3" },
  { "<B>bold</B>\r\n\r\nnext&#33;&#x3f;", TRUE, "<b>bold</b>\nnext!?", "bold\nnext!?",
    "<b>bold</b>\nnext!?" },
  { "AT&T <3 \n", FALSE, "AT&T <3", "AT&T <3", "AT&amp;T &lt;3" },
  { "&unknown; & done", TRUE, "&unknown; & done", "&unknown; & done",
    "&amp;unknown; &amp; done" },
};

static void
test_text (void)
{
  for (gsize i = 0; i < G_N_ELEMENTS (text_cases); i++) {
    const TextCase *c = &text_cases[i];
    g_autofree gchar *text = we_gst_subtitle_cue_text (c->in, -1, c->markup, TRUE);
    g_autofree gchar *plain = we_gst_subtitle_cue_text (c->in, -1, c->markup, FALSE);
    g_autoptr(GString) vtt = g_string_new (NULL);
    g_autoptr(GString) srt = g_string_new (NULL);
    g_autofree gchar *want_vtt = g_strdup_printf ("01:02:03.457 --> 01:02:04.000\n%s\n\n",
                                                  c->vtt);
    g_autofree gchar *want_srt = g_strdup_printf ("7\n00:00:00,000 --> 00:00:00,001\n%s\n\n",
                                                  c->text);

    g_assert_cmpstr (text, ==, c->text);
    g_assert_cmpstr (plain, ==, c->plain);
    we_gst_subtitle_append_vtt_cue (vtt, (3723 * G_GUINT64_CONSTANT (1000) + 456) * GST_MSECOND +
                                           600 * GST_USECOND,
                                    3724 * GST_SECOND, text);
    g_assert_cmpstr (vtt->str, ==, want_vtt);
    g_assert_null (strstr (vtt->str + strlen ("01:02:03.457 --> 01:02:04.000"), "-->"));
    we_gst_subtitle_append_srt_cue (srt, 7, 0, GST_MSECOND, text);
    g_assert_cmpstr (srt->str, ==, want_srt);
  }
}

int
main (int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  int ret;

  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);

  fx.context = g_main_context_new ();
  g_main_context_push_thread_default (fx.context);
  fx.tmpdir = g_dir_make_tmp ("we-gst-subtitles-XXXXXX", &error);
  g_assert_no_error (error);
  fx.clip_mkv = tmp_path ("subs.mkv");
  fx.clip_mp4 = tmp_path ("subs.mp4");
  fx.clip_plain = tmp_path ("plain.mp4");
  we_gst_test_make_clip (fx.clip_mkv, "--container mkv --duration 6 --fps 10 --width 160 --height 120 "
                          "--subtitle-languages eng,fra");
  we_gst_test_make_clip (fx.clip_mp4, "--duration 6 --fps 10 --width 160 --height 120 --subtitles");
  we_gst_test_make_clip (fx.clip_plain, "--duration 1 --fps 10 --width 160 --height 120");

  g_test_add_func ("/subtitles/text", test_text);
  g_test_add_func ("/subtitles/extract/mkv", test_extract_mkv);
  g_test_add_func ("/subtitles/extract/mp4", test_extract_mp4);
  g_test_add_func ("/subtitles/none", test_no_subtitles);
  g_test_add_func ("/subtitles/bad-source", test_bad_source);
  g_test_add_func ("/subtitles/cancel", test_cancel);
  ret = g_test_run ();

  we_gst_test_remove_tree (fx.tmpdir);
  g_free (fx.clip_mkv);
  g_free (fx.clip_mp4);
  g_free (fx.clip_plain);
  g_free (fx.tmpdir);
  g_main_context_pop_thread_default (fx.context);
  g_main_context_unref (fx.context);
  return ret;
}
