/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The ABR ladder packager on clips from tests/media/make-clip: manifests,
 * alignment of segments across rungs, keyframes at segment starts, rungs
 * above the source, fMP4/DASH (and where their first samples are presented),
 * AES-128, several audio tracks, subtitle renditions, broken sources and
 * cancellation.
 */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <glib/gstdio.h>
#include <gst/gst.h>
#include <webencode/webencode.h>

#include "we-gst-hls-playlist.h"
#include "we-gst-ladder.h"

#define CLIP_S 8.0
#define FRAME_S (1.0 / 25)

typedef struct {
  gchar *tmpdir;
  gchar *clip;        /* 1280x720, 8 s, 25 fps, AAC */
  gchar *truncated;
  gchar *multi;       /* 640x360, 6 s, AAC "eng" 440 Hz + AAC "fra" 660 Hz */
  gchar *vtt_en;
  gchar *vtt_fr;
} Fixture;

#define KEY_HEX "000102030405060708090a0b0c0d0e0f"
static const guint8 test_key[16] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 };
static const gchar *small_rungs[] = { "360p:640x360:700", "240p:426x240:400", NULL };

static Fixture fx;

static gdouble
time_factor (void)
{
  const gchar *f = g_getenv ("WE_TEST_TIME_FACTOR");

  return f != NULL ? MAX (g_ascii_strtod (f, NULL), 1.0) : 1.0;
}

static void
make_clip (const gchar *out, const gchar *extra)
{
  const gchar *root = g_getenv ("WE_SOURCE_ROOT");
  g_autofree gchar *script = NULL;
  g_autofree gchar *cmd = NULL;
  g_autofree gchar *err = NULL;
  g_autoptr(GError) error = NULL;
  gint status = 0;

  g_assert_nonnull (root);
  script = g_build_filename (root, "tests", "media", "make-clip", NULL);
  cmd = g_strdup_printf ("python3 %s %s %s", script, out, extra);
  g_assert_true (g_spawn_command_line_sync (cmd, NULL, &err, &status, &error));
  g_assert_no_error (error);
  if (!g_spawn_check_wait_status (status, NULL))
    g_error ("make-clip failed: %s", err);
}

static WeProfile *
ladder_profile (const gchar *const *rungs, gdouble segment, const gchar *segment_type,
                gboolean dash)
{
  WeProfile *p = we_profile_new ("ladder_test");

  for (guint i = 0; rungs[i] != NULL; i++) {
    g_auto(GStrv) f = g_strsplit (rungs[i], ":", -1);
    WeProfileRung *r = we_profile_rung_new (f[0]);

    g_assert_cmpint (sscanf (f[1], "%dx%d", &r->width, &r->height), ==, 2);
    r->video_bitrate_kbps = atoi (f[2]);
    r->max_bitrate_kbps = r->video_bitrate_kbps * 11 / 10;
    g_ptr_array_add (p->ladder, r);
  }
  g_free (p->preset);
  p->preset = g_strdup ("ultrafast");   /* the test is about packaging, not quality */
  p->hls.enabled = TRUE;
  p->hls.segment_duration_s = segment;
  g_free (p->hls.segment_type);
  p->hls.segment_type = g_strdup (segment_type);
  p->dash.enabled = dash;
  p->dash.segment_duration_s = segment;
  return p;
}

static const gchar *three_rungs[] = { "720p:1280x720:2500", "480p:854x480:1200",
                                      "360p:640x360:700", NULL };

typedef struct {
  gboolean      done;
  GAsyncResult *result;
  GCancellable *cancel_on_frames;
  gint64        cancelled_at;
  guint         reports;
} Waiter;

static void
waiter_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  Waiter *w = user_data;

  w->result = g_object_ref (res);
  w->done = TRUE;
}

static void
progress_cb (const WeEncodeProgress *p, gpointer user_data)
{
  Waiter *w = user_data;

  g_assert_cmpfloat (p->percent, >=, 0);
  g_assert_cmpfloat (p->percent, <=, 100);
  w->reports++;
  if (w->cancel_on_frames != NULL && p->frames > 0 && w->cancelled_at == 0) {
    w->cancelled_at = g_get_monotonic_time ();
    g_cancellable_cancel (w->cancel_on_frames);
  }
}

static WeGstLadderResult *
run_ladder_extras (const gchar *source, const WeProfile *profile, const gchar *out,
                   const WeGstLadderExtras *extras, GCancellable *cancellable, Waiter *w,
                   GError **error)
{
  g_autofree gchar *uri = g_filename_to_uri (source, NULL, NULL);
  WeGstOptions options = { 0, FALSE };
  WeGstLadderResult *result;

  we_gst_ladder_async (uri, profile, out, &options, extras, progress_cb, w, cancellable,
                       waiter_cb, w);
  while (!w->done)
    g_main_context_iteration (NULL, TRUE);
  result = we_gst_ladder_finish (w->result, error);
  g_clear_object (&w->result);
  return result;
}

static gchar *
read_text (const gchar *dir, const gchar *name)
{
  g_autofree gchar *path = g_build_filename (dir, name, NULL);
  g_autoptr(GError) error = NULL;
  gchar *text = NULL;

  g_file_get_contents (path, &text, NULL, &error);
  g_assert_no_error (error);
  return text;
}

static WeGstLadderResult *
run_ladder (const gchar *source, const WeProfile *profile, const gchar *out,
            GCancellable *cancellable, Waiter *w, GError **error)
{
  return run_ladder_extras (source, profile, out, NULL, cancellable, w, error);
}

/* EXTINF durations of a media playlist, checked for the VOD shape. */
static GArray *
parse_media_playlist (const gchar *dir, const gchar *rung, gboolean fmp4)
{
  g_autofree gchar *rdir = g_build_filename (dir, rung, NULL);
  g_autofree gchar *text = read_text (rdir, "index.m3u8");
  g_auto(GStrv) lines = g_strsplit (text, "\n", -1);
  GArray *durations = g_array_new (FALSE, FALSE, sizeof (gdouble));
  gint target = 0;
  gboolean vod = FALSE, end = FALSE, map = FALSE;

  g_assert_true (g_str_has_prefix (text, "#EXTM3U\n"));
  for (guint i = 0; lines[i] != NULL; i++) {
    if (g_str_has_prefix (lines[i], "#EXT-X-TARGETDURATION:"))
      target = atoi (lines[i] + 22);
    else if (g_strcmp0 (lines[i], "#EXT-X-PLAYLIST-TYPE:VOD") == 0)
      vod = TRUE;
    else if (g_strcmp0 (lines[i], "#EXT-X-ENDLIST") == 0)
      end = TRUE;
    else if (g_str_has_prefix (lines[i], "#EXT-X-MAP:URI=\"init.mp4\""))
      map = TRUE;
    else if (g_str_has_prefix (lines[i], "#EXTINF:")) {
      gdouble d = g_ascii_strtod (lines[i] + 8, NULL);
      g_autofree gchar *seg = NULL;

      g_assert_nonnull (lines[i + 1]);
      seg = g_build_filename (rdir, lines[i + 1], NULL);
      g_assert_true (g_file_test (seg, G_FILE_TEST_IS_REGULAR));
      g_assert_cmpint ((gint) (d + 0.5), <=, target);
      g_array_append_val (durations, d);
    }
  }
  g_assert_true (vod);
  g_assert_true (end);
  g_assert_cmpint (map, ==, fmp4);
  if (fmp4) {
    g_autofree gchar *init = g_build_filename (rdir, "init.mp4", NULL);

    g_assert_true (g_file_test (init, G_FILE_TEST_IS_REGULAR));
  }
  return durations;
}

typedef struct {
  gchar *uri;
  gchar *resolution;
  gchar *codecs;
  guint64 bandwidth;
  guint64 average;
} Variant;

static void
variant_free (Variant *v)
{
  g_free (v->uri);
  g_free (v->resolution);
  g_free (v->codecs);
  g_free (v);
}

static gchar *
attribute (const gchar *line, const gchar *name)
{
  g_autofree gchar *key = g_strdup_printf ("%s=", name);
  const gchar *p = line;

  /* attribute names are whole words after ':' or ',' */
  while ((p = strstr (p, key)) != NULL && p[-1] != ':' && p[-1] != ',')
    p += strlen (key);
  if (p == NULL)
    return NULL;
  p += strlen (key);
  if (*p == '"')
    return g_strndup (p + 1, strchr (p + 1, '"') - (p + 1));
  return g_strndup (p, strcspn (p, ","));
}

static GPtrArray *
parse_master (const gchar *dir)
{
  g_autofree gchar *text = read_text (dir, "master.m3u8");
  g_auto(GStrv) lines = g_strsplit (text, "\n", -1);
  GPtrArray *variants = g_ptr_array_new_with_free_func ((GDestroyNotify) variant_free);

  g_assert_true (g_str_has_prefix (text, "#EXTM3U\n"));
  for (guint i = 0; lines[i] != NULL; i++) {
    Variant *v;
    g_autofree gchar *bw = NULL;
    g_autofree gchar *avg = NULL;

    if (!g_str_has_prefix (lines[i], "#EXT-X-STREAM-INF:"))
      continue;
    v = g_new0 (Variant, 1);
    bw = attribute (lines[i], "BANDWIDTH");
    avg = attribute (lines[i], "AVERAGE-BANDWIDTH");
    g_assert_nonnull (bw);
    g_assert_nonnull (avg);
    v->bandwidth = g_ascii_strtoull (bw, NULL, 10);
    v->average = g_ascii_strtoull (avg, NULL, 10);
    v->resolution = attribute (lines[i], "RESOLUTION");
    v->codecs = attribute (lines[i], "CODECS");
    g_assert_nonnull (lines[i + 1]);
    v->uri = g_strdup (lines[i + 1]);
    g_ptr_array_add (variants, v);
  }
  return variants;
}

/* Whether the first video frame of @path is a keyframe, by ffprobe. */
static gboolean
starts_with_keyframe (const gchar *path)
{
  g_autofree gchar *cmd = g_strdup_printf (
    "ffprobe -v error -select_streams v -show_entries frame=key_frame -of csv=p=0 "
    "-read_intervals %%+#1 %s", path);
  g_autofree gchar *out = NULL;
  gint status = 0;

  g_assert_true (g_spawn_command_line_sync (cmd, &out, NULL, &status, NULL));
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  return g_str_has_prefix (out, "1");
}

static gboolean
have_ffprobe (void)
{
  g_autofree gchar *path = g_find_program_in_path ("ffprobe");

  return path != NULL;
}

static gchar *
fresh_dir (const gchar *name)
{
  return g_build_filename (fx.tmpdir, name, NULL);
}

/* Runs @argv; returns whether it exited 0, with its stdout in @out. */
static gboolean
run (const gchar *const *argv, gchar **out)
{
  g_autoptr(GError) error = NULL;
  gint status = 0;

  g_assert_true (g_spawn_sync (NULL, (gchar **) argv, NULL, G_SPAWN_SEARCH_PATH |
                               G_SPAWN_STDERR_TO_DEV_NULL | (out == NULL ? G_SPAWN_STDOUT_TO_DEV_NULL : 0),
                               NULL, NULL, out, NULL, &status, &error));
  g_assert_no_error (error);
  return g_spawn_check_wait_status (status, NULL);
}

static gboolean
have_program (const gchar *name)
{
  g_autofree gchar *path = g_find_program_in_path (name);

  return path != NULL;
}

/* "h264,aac" for the streams ffprobe finds in @path */
static gchar *
probe_codecs (const gchar *path)
{
  const gchar *argv[] = { "ffprobe", "-v", "error", "-show_entries", "stream=codec_name",
                          "-of", "csv=p=0", path, NULL };
  g_autofree gchar *out = NULL;
  g_auto(GStrv) lines = NULL;

  if (!run (argv, &out))
    return g_strdup ("");
  lines = g_strsplit (out, "\n", -1);
  {
    /* TS lists its streams twice, once under the program */
    GString *joined = g_string_new (NULL);

    for (guint i = 0; lines[i] != NULL; i++) {
      g_strstrip (lines[i]);
      if (*lines[i] == '\0' || strstr (joined->str, lines[i]) != NULL)
        continue;
      g_string_append_printf (joined, "%s%s", joined->len > 0 ? "," : "", lines[i]);
    }
    return g_string_free (joined, FALSE);
  }
}

/* Whether @path holds MPEG-TS: a sync byte at every packet start. */
static gboolean
looks_like_ts (const gchar *path)
{
  g_autofree gchar *data = NULL;
  gsize len = 0;

  g_assert_true (g_file_get_contents (path, &data, &len, NULL));
  if (len < 188 || len % 188 != 0)
    return FALSE;
  for (gsize i = 0; i < len; i += 188) {
    if ((guint8) data[i] != 0x47)
      return FALSE;
  }
  return TRUE;
}

/* openssl's AES-128-CBC decryption of @in with the IV of media sequence
 * number @seq; FALSE when openssl refuses (bad padding). */
static gboolean
decrypt (const gchar *in, const gchar *key_hex, guint seq, const gchar *out)
{
  g_autofree gchar *iv = g_strdup_printf ("%032x", seq);
  const gchar *argv[] = { "openssl", "enc", "-aes-128-cbc", "-d", "-K", key_hex, "-iv", iv,
                          "-in", in, "-out", out, NULL };

  g_unlink (out);
  return run (argv, NULL);
}

static guint
count_lines_with (const gchar *text, const gchar *needle)
{
  g_auto(GStrv) lines = g_strsplit (text, "\n", -1);
  guint n = 0;

  for (guint i = 0; lines[i] != NULL; i++)
    n += strstr (lines[i], needle) != NULL;
  return n;
}

static const gchar *
line_with (const gchar *text, const gchar *needle, gchar **owned)
{
  g_auto(GStrv) lines = g_strsplit (text, "\n", -1);

  for (guint i = 0; lines[i] != NULL; i++) {
    if (strstr (lines[i], needle) != NULL)
      return *owned = g_strdup (lines[i]);
  }
  return *owned = NULL;
}

/* ---- pure functions ------------------------------------------------------- */

static void
test_master_playlist (void)
{
  g_autoptr(GPtrArray) variants = g_ptr_array_new_with_free_func ((GDestroyNotify) we_gst_hls_variant_free);
  WeGstHlsVariant *v = g_new0 (WeGstHlsVariant, 1);
  WeGstHlsMedia audio = { WE_GST_HLS_MEDIA_AUDIO, "aud", "English", "en", "audio/index.m3u8", TRUE };
  WeGstHlsMedia french = { WE_GST_HLS_MEDIA_AUDIO, "aud", "French", "fr", "audio_1/index.m3u8", FALSE };
  WeGstHlsMedia subs = { WE_GST_HLS_MEDIA_SUBTITLES, "subs", "English", "en", "subs/en/index.m3u8", FALSE };
  g_autoptr(GPtrArray) media = g_ptr_array_new ();
  g_autofree gchar *text = NULL;
  g_autofree gchar *with_audio = NULL;

  v->name = g_strdup ("720p");
  v->uri = g_strdup ("720p/index.m3u8");
  v->width = 1280;
  v->height = 720;
  v->frame_rate = 29.97;
  v->bandwidth = 2800000;
  v->average_bandwidth = 2500123;
  v->codecs = g_strdup ("avc1.64001f,mp4a.40.2");
  g_ptr_array_add (variants, v);
  text = we_gst_hls_master_playlist (variants, NULL);
  g_assert_cmpstr (text, ==,
                   "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n"
                   "#EXT-X-STREAM-INF:BANDWIDTH=2800000,AVERAGE-BANDWIDTH=2500123,"
                   "RESOLUTION=1280x720,CODECS=\"avc1.64001f,mp4a.40.2\",FRAME-RATE=29.970\n"
                   "720p/index.m3u8\n");
  g_ptr_array_add (media, &audio);
  g_ptr_array_add (media, &french);
  g_ptr_array_add (media, &subs);
  with_audio = we_gst_hls_master_playlist (variants, media);
  g_assert_nonnull (strstr (with_audio, "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"aud\",LANGUAGE=\"en\","
                                        "NAME=\"English\",DEFAULT=YES,AUTOSELECT=YES,"
                                        "URI=\"audio/index.m3u8\"\n"));
  g_assert_nonnull (strstr (with_audio, "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"aud\",LANGUAGE=\"fr\","
                                        "NAME=\"French\",DEFAULT=NO,AUTOSELECT=YES,"
                                        "URI=\"audio_1/index.m3u8\"\n"));
  g_assert_nonnull (strstr (with_audio, "#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID=\"subs\",LANGUAGE=\"en\","
                                        "NAME=\"English\",DEFAULT=NO,AUTOSELECT=YES,"
                                        "URI=\"subs/en/index.m3u8\"\n"));
  g_assert_nonnull (strstr (with_audio, ",AUDIO=\"aud\",SUBTITLES=\"subs\"\n720p/index.m3u8\n"));
}

static void
test_media_playlist (void)
{
  g_autoptr(GPtrArray) segs = g_ptr_array_new_with_free_func ((GDestroyNotify) we_gst_hls_segment_free);
  const gdouble durations[] = { 6.0000001, 6.0, 2.52 };
  const guint64 sizes[] = { 750000, 600000, 50000 };
  g_autofree gchar *ts = NULL;
  g_autofree gchar *fmp4 = NULL;
  g_autofree gchar *encrypted = NULL;
  guint64 peak, avg;

  for (guint i = 0; i < G_N_ELEMENTS (durations); i++) {
    WeGstHlsSegment *s = g_new0 (WeGstHlsSegment, 1);

    s->uri = g_strdup_printf ("segment_%05u.ts", i);
    s->duration_s = durations[i];
    s->size_bytes = sizes[i];
    g_ptr_array_add (segs, s);
  }
  ts = we_gst_hls_media_playlist (segs, NULL, NULL);
  g_assert_cmpstr (ts, ==,
                   "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:6\n#EXT-X-MEDIA-SEQUENCE:0\n"
                   "#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-INDEPENDENT-SEGMENTS\n"
                   "#EXTINF:6.000000,\nsegment_00000.ts\n#EXTINF:6.000000,\nsegment_00001.ts\n"
                   "#EXTINF:2.520000,\nsegment_00002.ts\n#EXT-X-ENDLIST\n");
  fmp4 = we_gst_hls_media_playlist (segs, "init.mp4", NULL);
  g_assert_nonnull (strstr (fmp4, "#EXT-X-VERSION:7\n"));
  g_assert_nonnull (strstr (fmp4, "#EXT-X-MAP:URI=\"init.mp4\"\n#EXTINF:"));
  /* the key after the map: the init segment stays clear */
  encrypted = we_gst_hls_media_playlist (segs, "init.mp4", "https://keys.example/k?id=1");
  g_assert_nonnull (strstr (encrypted, "#EXT-X-MAP:URI=\"init.mp4\"\n"
                                       "#EXT-X-KEY:METHOD=AES-128,URI=\"https://keys.example/k?id=1\"\n"
                                       "#EXTINF:"));

  we_gst_hls_segments_bandwidth (segs, &peak, &avg);
  g_assert_cmpuint (peak, ==, 1000000);   /* 750000 B in 6 s */
  g_assert_cmpuint (avg, ==, (guint64) ceil (1400000 * 8 / 14.52));
}

typedef struct {
  guint reps;
  guint sets;
  guint segment_urls;
  gchar sets_desc[512];   /* "mimeType[:lang] ..." per AdaptationSet */
} MpdCount;

static void
mpd_start (GMarkupParseContext *ctx, const gchar *name, const gchar **names,
           const gchar **values, gpointer user_data, GError **error)
{
  MpdCount *c = user_data;

  if (g_strcmp0 (name, "Representation") == 0)
    c->reps++;
  else if (g_strcmp0 (name, "AdaptationSet") == 0) {
    const gchar *mime = "", *lang = NULL;

    c->sets++;
    for (guint i = 0; names[i] != NULL; i++) {
      if (g_str_equal (names[i], "mimeType"))
        mime = values[i];
      else if (g_str_equal (names[i], "lang"))
        lang = values[i];
    }
    g_strlcat (c->sets_desc, c->sets > 1 ? " " : "", sizeof (c->sets_desc));
    g_strlcat (c->sets_desc, mime, sizeof (c->sets_desc));
    if (lang != NULL) {
      g_strlcat (c->sets_desc, ":", sizeof (c->sets_desc));
      g_strlcat (c->sets_desc, lang, sizeof (c->sets_desc));
    }
  }
  else if (g_strcmp0 (name, "SegmentURL") == 0)
    c->segment_urls++;
}

static MpdCount
parse_mpd (const gchar *text)
{
  GMarkupParser parser = { mpd_start, NULL, NULL, NULL, NULL };
  MpdCount count = { 0, };
  g_autoptr(GMarkupParseContext) ctx = g_markup_parse_context_new (&parser, 0, &count, NULL);
  g_autoptr(GError) error = NULL;
  const gchar *body = strstr (text, "<MPD");

  /* GMarkup takes no XML declaration */
  g_assert_nonnull (body);
  g_assert_true (g_markup_parse_context_parse (ctx, body, -1, &error));
  g_assert_true (g_markup_parse_context_end_parse (ctx, &error));
  g_assert_no_error (error);
  return count;
}

static void
test_plan_rungs (void)
{
  static const gchar *four[] = { "1080p:1920x1080:5000", "720p:1280x720:2500",
                                 "480p:854x480:1200", "360p:640x360:700", NULL };
  g_autoptr(WeProfile) p = ladder_profile (four, 2, "ts", FALSE);
  g_auto(GStrv) dropped = NULL;
  g_auto(GStrv) dropped_small = NULL;
  g_autoptr(GPtrArray) rungs = we_gst_ladder_plan_rungs (p, 1280, 720, 1, 1, &dropped);
  g_autoptr(GPtrArray) tiny = NULL;
  WeProfileRung *r;

  g_assert_cmpuint (rungs->len, ==, 3);
  g_assert_cmpstrv (dropped, ((const gchar *[]) { "1080p", NULL }));
  r = g_ptr_array_index (rungs, 0);
  g_assert_cmpstr (r->name, ==, "720p");
  g_assert_cmpint (r->width, ==, 1280);
  g_assert_cmpint (r->height, ==, 720);

  /* below every rung: the smallest is kept, at the source's size */
  tiny = we_gst_ladder_plan_rungs (p, 320, 180, 1, 1, &dropped_small);
  g_assert_cmpuint (tiny->len, ==, 1);
  r = g_ptr_array_index (tiny, 0);
  g_assert_cmpstr (r->name, ==, "360p");
  g_assert_cmpint (r->width, ==, 320);
  g_assert_cmpint (r->height, ==, 180);
  g_assert_cmpuint (g_strv_length (dropped_small), ==, 3);
}

/* ---- real pipelines ------------------------------------------------------- */

static void
check_aligned_n (const gchar *out, const gchar *const *names, gboolean fmp4, gdouble clip_s,
                 guint *count)
{
  g_autoptr(GArray) first = NULL;
  gdouble sum = 0;

  for (guint i = 0; names[i] != NULL; i++) {
    g_autoptr(GArray) d = parse_media_playlist (out, names[i], fmp4);

    if (first == NULL) {
      first = g_array_ref (d);
      continue;
    }
    g_assert_cmpuint (d->len, ==, first->len);
    for (guint j = 0; j < d->len; j++)
      g_assert_cmpfloat_with_epsilon (g_array_index (d, gdouble, j),
                                      g_array_index (first, gdouble, j), 1e-6);
  }
  for (guint j = 0; j < first->len; j++)
    sum += g_array_index (first, gdouble, j);
  g_assert_cmpfloat_with_epsilon (sum, clip_s, FRAME_S);
  *count = first->len;
}

static void
check_aligned (const gchar *out, const gchar *const *names, gboolean fmp4, guint *count)
{
  check_aligned_n (out, names, fmp4, CLIP_S, count);
}

static const gchar *small_rungs_names[] = { "360p", "240p", NULL };

static void
test_ladder_ts (void)
{
  g_autoptr(WeProfile) p = ladder_profile (three_rungs, 2, "ts", FALSE);
  g_autofree gchar *out = fresh_dir ("ts");
  g_autoptr(GError) error = NULL;
  g_autoptr(WeGstLadderResult) result = NULL;
  g_autoptr(GPtrArray) variants = NULL;
  g_autoptr(JsonObject) json = NULL;
  const gchar *names[] = { "720p", "480p", "360p", NULL };
  const gchar *resolutions[] = { "1280x720", "852x480", "640x360" };
  Waiter w = { 0, };
  guint count = 0;

  result = run_ladder (fx.clip, p, out, NULL, &w, &error);
  g_assert_no_error (error);
  g_assert_nonnull (result);
  g_assert_cmpuint (w.reports, >, 0);
  g_assert_cmpuint (result->renditions->len, ==, 3);
  g_assert_cmpfloat_with_epsilon (result->duration_s, CLIP_S, FRAME_S);
  g_assert_cmpstr (result->master_playlist, ==, "master.m3u8");
  g_assert_null (result->dash_manifest);

  variants = parse_master (out);
  g_assert_cmpuint (variants->len, ==, 3);
  for (guint i = 0; i < variants->len; i++) {
    Variant *v = g_ptr_array_index (variants, i);
    WeGstLadderRendition *r = g_ptr_array_index (result->renditions, i);
    g_auto(GStrv) codecs = g_strsplit (v->codecs, ",", -1);

    g_assert_cmpstr (v->resolution, ==, resolutions[i]);
    g_assert_cmpstr (r->name, ==, names[i]);
    /* RFC 6381: avc1.PPCCLL from the stream's SPS, AAC-LC */
    g_assert_cmpuint (g_strv_length (codecs), ==, 2);
    g_assert_true (g_str_has_prefix (codecs[0], "avc1."));
    g_assert_cmpuint (strlen (codecs[0]), ==, 11);
    g_assert_cmpstr (codecs[1], ==, "mp4a.40.2");
    g_assert_cmpuint (v->bandwidth, >=, v->average);
    g_assert_cmpuint (v->average, >, 100000);
    if (i > 0)
      g_assert_cmpuint (v->bandwidth, <, ((Variant *) g_ptr_array_index (variants, i - 1))->bandwidth);
  }
  check_aligned (out, names, FALSE, &count);
  g_assert_cmpuint (count, ==, 4);
  g_assert_cmpuint (result->segment_count, ==, count);

  if (have_ffprobe ()) {
    for (guint i = 0; names[i] != NULL; i++) {
      for (guint j = 0; j < count; j++) {
        g_autofree gchar *seg = g_strdup_printf ("%s/%s/segment_%05u.ts", out, names[i], j);

        g_assert_true (starts_with_keyframe (seg));
      }
    }
  }
  json = we_gst_ladder_result_to_json (result);
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (json, "outputs")), ==, 4);
}

static void
test_ladder_no_upscale (void)
{
  static const gchar *four[] = { "1080p:1920x1080:5000", "720p:1280x720:2500",
                                 "480p:854x480:1200", "360p:640x360:700", NULL };
  g_autoptr(WeProfile) p = ladder_profile (four, 2, "ts", FALSE);
  g_autofree gchar *out = fresh_dir ("noup");
  g_autofree gchar *up_dir = g_build_filename (out, "1080p", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(WeGstLadderResult) result = NULL;
  g_autoptr(GPtrArray) variants = NULL;
  Waiter w = { 0, };

  result = run_ladder (fx.clip, p, out, NULL, &w, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (result->renditions->len, ==, 3);
  g_assert_cmpstrv (result->dropped, ((const gchar *[]) { "1080p", NULL }));
  g_assert_false (g_file_test (up_dir, G_FILE_TEST_EXISTS));
  variants = parse_master (out);
  g_assert_cmpuint (variants->len, ==, 3);
  for (guint i = 0; i < variants->len; i++)
    g_assert_cmpstr (((Variant *) g_ptr_array_index (variants, i))->resolution, !=, "1920x1080");
}

static guint32
be32 (const guint8 *p)
{
  return ((guint32) p[0] << 24) | ((guint32) p[1] << 16) | ((guint32) p[2] << 8) | p[3];
}

/* Where the first sample of an fMP4 media segment is presented, in its
 * timescale: tfdt plus the first composition offset (signed in trun v1). */
static gint64
fmp4_first_pts (const gchar *path)
{
  g_autofree gchar *data = NULL;
  gsize len = 0;
  const guint8 *tfdt, *trun;
  gint64 pts;
  guint32 flags;
  const guint8 *q;

  g_assert_true (g_file_get_contents (path, &data, &len, NULL));
  tfdt = memmem (data, len, "tfdt", 4);
  trun = memmem (data, len, "trun", 4);
  g_assert_nonnull (tfdt);
  g_assert_nonnull (trun);
  pts = tfdt[4] == 1 ? ((gint64) be32 (tfdt + 8) << 32 | be32 (tfdt + 12)) : be32 (tfdt + 8);
  flags = be32 (trun + 4) & 0xffffff;
  if (!(flags & 0x800))
    return pts;
  q = trun + 12 + ((flags & 0x1) ? 4 : 0) + ((flags & 0x4) ? 4 : 0);
  q += ((flags & 0x100) ? 4 : 0) + ((flags & 0x200) ? 4 : 0) + ((flags & 0x400) ? 4 : 0);
  return pts + (trun[4] == 1 ? (gint32) be32 (q) : (gint64) be32 (q));
}

static void
test_ladder_fmp4_dash (void)
{
  g_autoptr(WeProfile) p = ladder_profile (three_rungs, 2, "fmp4", TRUE);
  g_autofree gchar *out = fresh_dir ("fmp4");
  g_autoptr(GError) error = NULL;
  g_autoptr(WeGstLadderResult) result = NULL;
  g_autoptr(GPtrArray) variants = NULL;
  g_autofree gchar *master = NULL;
  g_autofree gchar *mpd = NULL;
  g_autoptr(GArray) audio = NULL;
  const gchar *names[] = { "720p", "480p", "360p", NULL };
  Waiter w = { 0, };
  MpdCount c;
  guint count = 0;

  result = run_ladder (fx.clip, p, out, NULL, &w, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (result->dash_manifest, ==, "manifest.mpd");
  check_aligned (out, names, TRUE, &count);
  g_assert_cmpuint (count, ==, 4);
  audio = parse_media_playlist (out, "audio", TRUE);
  g_assert_cmpuint (audio->len, >, 0);

  master = read_text (out, "master.m3u8");
  g_assert_nonnull (strstr (master, "#EXT-X-MEDIA:TYPE=AUDIO"));
  variants = parse_master (out);
  g_assert_cmpuint (variants->len, ==, 3);
  for (guint i = 0; i < variants->len; i++) {
    Variant *v = g_ptr_array_index (variants, i);

    g_assert_true (g_str_has_prefix (v->codecs, "avc1."));
    g_assert_true (g_str_has_suffix (v->codecs, ",mp4a.40.2"));
  }
  if (have_ffprobe ()) {
    for (guint i = 0; names[i] != NULL; i++) {
      for (guint j = 0; j < count; j++) {
        g_autofree gchar *cmd = g_strdup_printf ("sh -c 'cat %s/%s/init.mp4 %s/%s/segment_%05u.m4s "
                                                 "> %s/probe.mp4'", out, names[i], out, names[i], j,
                                                 fx.tmpdir);
        g_autofree gchar *probe = g_build_filename (fx.tmpdir, "probe.mp4", NULL);

        g_assert_true (g_spawn_command_line_sync (cmd, NULL, NULL, NULL, NULL));
        g_assert_true (starts_with_keyframe (probe));
      }
    }
  }

  mpd = read_text (out, "manifest.mpd");
  c = parse_mpd (mpd);
  g_assert_cmpuint (c.sets, ==, 2);
  g_assert_cmpuint (c.reps, ==, 4);   /* 3 video + the audio */
  g_assert_cmpuint (c.segment_urls, ==, 3 * count + audio->len);

  /* Every track presents its first sample at 0, where playlists and MPD
   * say the media starts: mp4mux's B-frame delay (decode times from 0,
   * the first frame shown 2 frames later) made hls.js skip a hole at the
   * start and dash.js stall before the end. */
  for (guint i = 0; names[i] != NULL; i++) {
    g_autofree gchar *seg = g_strdup_printf ("%s/%s/segment_00000.m4s", out, names[i]);

    g_assert_cmpint (fmp4_first_pts (seg), ==, 0);
  }
  {
    g_autofree gchar *seg = g_build_filename (out, "audio", "segment_00000.m4s", NULL);
    gdouble audio_total = 0;

    g_assert_cmpint (fmp4_first_pts (seg), ==, 0);
    /* the audio ends with the video, give or take an AAC frame or two */
    for (guint i = 0; i < audio->len; i++)
      audio_total += g_array_index (audio, gdouble, i);
    g_assert_cmpfloat (fabs (audio_total - CLIP_S), <, 0.1);
  }
  {
    g_autoptr(JsonObject) json = we_gst_ladder_result_to_json (result);
    JsonArray *outputs = json_object_get_array_member (json, "outputs");
    /* 2 manifests, 3 video renditions, the audio */
    JsonObject *a = json_array_get_object_element (outputs, 5);

    g_assert_cmpuint (json_array_get_length (outputs), ==, 6);
    g_assert_cmpstr (json_object_get_string_member (a, "kind"), ==, "audio");
    g_assert_cmpstr (json_object_get_string_member (a, "playlist"), ==, "audio/index.m3u8");
    g_assert_cmpstr (json_object_get_string_member (a, "init"), ==, "audio/init.mp4");
    g_assert_false (json_object_get_boolean_member (json, "encrypted"));
  }
}

static WeProfile *
aes_profile (const gchar *segment_type)
{
  WeProfile *p = ladder_profile (small_rungs, 2, segment_type, FALSE);

  g_free (p->hls.encryption);
  p->hls.encryption = g_strdup ("aes-128");
  return p;
}

/* Every media segment of @rung's playlist: encrypted (not TS / not a
 * fragment), decrypted with the key and its sequence number into media
 * ffprobe reads starting with a keyframe, and not with another key. */
static void
check_encrypted_rung (const gchar *out, const gchar *rung, gboolean fmp4)
{
  g_autofree gchar *rdir = g_build_filename (out, rung, NULL);
  g_autofree gchar *playlist = read_text (rdir, "index.m3u8");
  g_autofree gchar *clear = g_build_filename (fx.tmpdir, "clear.bin", NULL);
  g_autofree gchar *probe = g_build_filename (fx.tmpdir, fmp4 ? "probe.mp4" : "probe.ts", NULL);
  g_autofree gchar *key_line = NULL;
  g_autoptr(GArray) durations = parse_media_playlist (out, rung, fmp4);

  line_with (playlist, "#EXT-X-KEY:", &key_line);
  g_assert_cmpstr (key_line, ==, "#EXT-X-KEY:METHOD=AES-128,URI=\"https://keys.test/k/1?t=a&b=c\"");
  if (fmp4) {
    /* the key comes after the map: the init segment is clear */
    g_assert_nonnull (strstr (playlist, "#EXT-X-MAP:URI=\"init.mp4\"\n#EXT-X-KEY:"));
  }
  for (guint i = 0; i < durations->len; i++) {
    g_autofree gchar *seg = g_strdup_printf ("%s/segment_%05u.%s", rdir, i, fmp4 ? "m4s" : "ts");
    GStatBuf st;

    g_assert_cmpint (g_stat (seg, &st), ==, 0);
    g_assert_cmpint (st.st_size % 16, ==, 0);
    if (!fmp4)
      g_assert_false (looks_like_ts (seg));
    g_assert_true (decrypt (seg, KEY_HEX, i, clear));
    if (fmp4) {
      g_autofree gchar *init_path = g_build_filename (rdir, "init.mp4", NULL);
      g_autofree gchar *init = NULL;
      g_autofree gchar *body = NULL;
      g_autofree gchar *both = NULL;
      gsize ilen = 0, blen = 0;

      g_assert_true (g_file_get_contents (init_path, &init, &ilen, NULL));
      g_assert_true (g_file_get_contents (clear, &body, &blen, NULL));
      g_assert_cmpmem (body + 4, 4, "moof", 4);
      both = g_malloc (ilen + blen);
      memcpy (both, init, ilen);
      memcpy (both + ilen, body, blen);
      g_assert_true (g_file_set_contents (probe, both, ilen + blen, NULL));
    } else {
      g_assert_true (looks_like_ts (clear));
      g_assert_true (g_rename (clear, probe) == 0);
    }
    if (g_str_has_prefix (rung, "audio")) {
      g_autofree gchar *codecs = probe_codecs (probe);

      g_assert_cmpstr (codecs, ==, "aac");
    } else {
      g_assert_true (starts_with_keyframe (probe));
    }
    /* another key: openssl finds bad padding, or the result is garbage */
    if (decrypt (seg, "0f0e0d0c0b0a09080706050403020100", i, clear)) {
      g_autofree gchar *garbage = NULL;
      gsize glen = 0;

      g_assert_true (g_file_get_contents (clear, &garbage, &glen, NULL));
      g_assert_false (fmp4 ? glen >= 8 && memcmp (garbage + 4, "moof", 4) == 0
                           : looks_like_ts (clear));
    }
  }
}

static void
test_ladder_aes_ts (void)
{
  g_autoptr(WeProfile) p = aes_profile ("ts");
  g_autofree gchar *out = fresh_dir ("aes-ts");
  g_autoptr(GError) error = NULL;
  g_autoptr(WeGstLadderResult) result = NULL;
  g_autoptr(JsonObject) json = NULL;
  WeGstLadderExtras extras = { test_key, "https://keys.test/k/1?t=a&b=c", NULL, 0 };
  Waiter w = { 0, };

  if (!have_program ("openssl") || !have_ffprobe ()) {
    g_test_skip ("needs openssl and ffprobe");
    return;
  }
  result = run_ladder_extras (fx.multi, p, out, &extras, NULL, &w, &error);
  g_assert_no_error (error);
  g_assert_true (result->encrypted);
  json = we_gst_ladder_result_to_json (result);
  g_assert_true (json_object_get_boolean_member (json, "encrypted"));
  check_encrypted_rung (out, "360p", FALSE);
  check_encrypted_rung (out, "240p", FALSE);
}

static void
test_ladder_aes_fmp4 (void)
{
  g_autoptr(WeProfile) p = aes_profile ("fmp4");
  g_autofree gchar *out = fresh_dir ("aes-fmp4");
  g_autoptr(GError) error = NULL;
  g_autoptr(WeGstLadderResult) result = NULL;
  g_autofree gchar *init = NULL;
  g_autofree gchar *init_path = NULL;
  WeGstLadderExtras extras = { test_key, "https://keys.test/k/1?t=a&b=c", NULL, 0 };
  Waiter w = { 0, };
  gsize len = 0;

  if (!have_program ("openssl") || !have_ffprobe ()) {
    g_test_skip ("needs openssl and ffprobe");
    return;
  }
  result = run_ladder_extras (fx.multi, p, out, &extras, NULL, &w, &error);
  g_assert_no_error (error);
  init_path = g_build_filename (out, "audio", "init.mp4", NULL);
  g_assert_true (g_file_get_contents (init_path, &init, &len, NULL));
  g_assert_cmpmem (init + 4, 4, "ftyp", 4);
  check_encrypted_rung (out, "360p", TRUE);
  check_encrypted_rung (out, "audio", TRUE);
}

static void
test_ladder_aes_refused (void)
{
  g_autoptr(WeProfile) p = aes_profile ("ts");
  g_autofree gchar *out = fresh_dir ("aes-refused");
  WeGstLadderExtras extras = { test_key, "https://keys.test/k", NULL, 0 };
  WeGstLadderExtras bad_uri = { test_key, "https://keys.test/\"k", NULL, 0 };
  struct {
    gboolean dash;
    const WeGstLadderExtras *extras;
    gint code;
  } cases[] = {
    /* a clear DASH copy would give the content away */
    { TRUE, &extras, WE_ERROR_JOB_INVALID_PROFILE },
    { FALSE, NULL, WE_ERROR_JOB_INVALID_REQUEST },
    { FALSE, &bad_uri, WE_ERROR_JOB_INVALID_REQUEST },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autoptr(GError) error = NULL;
    g_autoptr(WeGstLadderResult) result = NULL;
    Waiter w = { 0, };

    p->dash.enabled = cases[i].dash;
    result = run_ladder_extras (fx.multi, p, out, cases[i].extras, NULL, &w, &error);
    g_assert_null (result);
    g_assert_error (error, WE_ERROR, cases[i].code);
    g_test_message ("refused: %s", error->message);
  }
  {
    /* and a key without aes-128 */
    g_autoptr(WeProfile) clear = ladder_profile (small_rungs, 2, "ts", FALSE);
    g_autoptr(GError) error = NULL;
    g_autoptr(WeGstLadderResult) result = NULL;
    Waiter w = { 0, };

    result = run_ladder_extras (fx.multi, clear, out, &extras, NULL, &w, &error);
    g_assert_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST);
  }
}

static const WeGstLadderSubtitle test_subs[] = {
  { "sub_en", "en", NULL },
  { "sub_fr", "fr", NULL },
};

static WeGstLadderSubtitle *
subtitles (void)
{
  static WeGstLadderSubtitle subs[2];

  memcpy (subs, test_subs, sizeof (subs));
  subs[0].vtt_path = fx.vtt_en;
  subs[1].vtt_path = fx.vtt_fr;
  return subs;
}

/* keep_all_tracks with TS: video-only rungs, one audio-only TS rendition
 * per language, subtitle renditions. */
static void
test_ladder_audio_tracks_ts (void)
{
  g_autoptr(WeProfile) p = ladder_profile (small_rungs, 2, "ts", FALSE);
  g_autofree gchar *out = fresh_dir ("tracks-ts");
  g_autoptr(GError) error = NULL;
  g_autoptr(WeGstLadderResult) result = NULL;
  g_autoptr(GPtrArray) variants = NULL;
  g_autoptr(JsonObject) json = NULL;
  g_autofree gchar *master = NULL;
  g_autofree gchar *line = NULL;
  g_autofree gchar *vtt = NULL;
  g_autofree gchar *sub_playlist = NULL;
  WeGstLadderExtras extras = { NULL, NULL, subtitles (), 2 };
  JsonArray *outputs;
  Waiter w = { 0, };
  guint count = 0;

  p->audio.keep_all_tracks = TRUE;
  result = run_ladder_extras (fx.multi, p, out, &extras, NULL, &w, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (result->audio->len, ==, 2);
  g_assert_cmpuint (result->subtitles->len, ==, 2);

  master = read_text (out, "master.m3u8");
  g_assert_cmpuint (count_lines_with (master, "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\""), ==, 2);
  /* the language from each stream's tags; the first is the default */
  line_with (master, "URI=\"audio_0/index.m3u8\"", &line);
  g_assert_nonnull (strstr (line, ",LANGUAGE=\"en\","));
  g_assert_nonnull (strstr (line, ",DEFAULT=YES,AUTOSELECT=YES,"));
  g_clear_pointer (&line, g_free);
  line_with (master, "URI=\"audio_1/index.m3u8\"", &line);
  g_assert_nonnull (strstr (line, ",LANGUAGE=\"fr\","));
  g_assert_nonnull (strstr (line, ",DEFAULT=NO,AUTOSELECT=YES,"));
  g_clear_pointer (&line, g_free);
  line_with (master, "URI=\"subs/sub_fr/index.m3u8\"", &line);
  g_assert_nonnull (strstr (line, "#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID=\"subs\",LANGUAGE=\"fr\","));
  variants = parse_master (out);
  g_assert_cmpuint (variants->len, ==, 2);
  g_assert_cmpuint (count_lines_with (master, ",AUDIO=\"audio\",SUBTITLES=\"subs\""), ==, 2);
  for (guint i = 0; i < variants->len; i++)
    g_assert_true (g_str_has_suffix (((Variant *) g_ptr_array_index (variants, i))->codecs, ",mp4a.40.2"));

  check_aligned_n (out, small_rungs_names, FALSE, 6.0, &count);
  for (guint i = 0; i < 2; i++) {
    g_autofree gchar *name = g_strdup_printf ("audio_%u", i);
    g_autoptr(GArray) d = parse_media_playlist (out, name, FALSE);
    gdouble sum = 0;

    for (guint j = 0; j < d->len; j++)
      sum += g_array_index (d, gdouble, j);
    g_assert_cmpfloat (fabs (sum - 6.0), <, 0.1);
    g_assert_cmpuint (d->len, ==, count);
  }
  if (have_ffprobe ()) {
    g_autofree gchar *v = g_build_filename (out, "360p", "segment_00001.ts", NULL);
    g_autofree gchar *a = g_build_filename (out, "audio_1", "segment_00001.ts", NULL);
    g_autofree gchar *vc = probe_codecs (v);
    g_autofree gchar *ac = probe_codecs (a);

    g_assert_cmpstr (vc, ==, "h264");
    g_assert_cmpstr (ac, ==, "aac");
  }

  /* the WebVTT copied with its cues tied to the TS clock */
  vtt = read_text (out, "subs/sub_en/sub_en.vtt");
  g_assert_true (g_str_has_prefix (vtt, "WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:324000000,LOCAL:00:00:00.000\n\n"));
  g_assert_nonnull (strstr (vtt, "00:00:00.500 --> 00:00:01.500\nCue 1\n"));
  sub_playlist = read_text (out, "subs/sub_en/index.m3u8");
  g_assert_nonnull (strstr (sub_playlist, "#EXTINF:6.000000,\nsub_en.vtt\n#EXT-X-ENDLIST\n"));

  json = we_gst_ladder_result_to_json (result);
  outputs = json_object_get_array_member (json, "outputs");
  /* master, 2 video, 2 audio, 2 subtitles */
  g_assert_cmpuint (json_array_get_length (outputs), ==, 7);
  {
    JsonObject *a = json_array_get_object_element (outputs, 4);
    JsonObject *sub = json_array_get_object_element (outputs, 6);

    g_assert_cmpstr (json_object_get_string_member (a, "kind"), ==, "audio");
    g_assert_cmpstr (json_object_get_string_member (a, "language"), ==, "fr");
    g_assert_cmpstr (json_object_get_string_member (a, "playlist"), ==, "audio_1/index.m3u8");
    g_assert_cmpstr (json_object_get_string_member (a, "codecs"), ==, "mp4a.40.2");
    g_assert_cmpint (json_object_get_int_member (a, "segment_count"), ==, count);
    g_assert_cmpstr (json_object_get_string_member (sub, "type"), ==, "subtitle");
    g_assert_cmpstr (json_object_get_string_member (sub, "language"), ==, "fr");
    g_assert_cmpstr (json_object_get_string_member (sub, "playlist"), ==, "subs/sub_fr/index.m3u8");
    g_assert_cmpstr (json_object_get_string_member (sub, "path"), ==, "subs/sub_fr/sub_fr.vtt");
  }
}

/* keep_all_tracks off (the default): the first audio stream only, muxed
 * into every TS rung, as before. */
static void
test_ladder_audio_first_only (void)
{
  g_autoptr(WeProfile) p = ladder_profile (small_rungs, 2, "ts", FALSE);
  g_autofree gchar *out = fresh_dir ("first-audio");
  g_autofree gchar *audio_dir = g_build_filename (out, "audio_1", NULL);
  g_autofree gchar *master = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(WeGstLadderResult) result = NULL;
  Waiter w = { 0, };

  result = run_ladder (fx.multi, p, out, NULL, &w, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (result->audio->len, ==, 0);
  master = read_text (out, "master.m3u8");
  g_assert_null (strstr (master, "#EXT-X-MEDIA"));
  g_assert_false (g_file_test (audio_dir, G_FILE_TEST_EXISTS));
  if (have_ffprobe ()) {
    g_autofree gchar *seg = g_build_filename (out, "360p", "segment_00000.ts", NULL);
    g_autofree gchar *codecs = probe_codecs (seg);

    g_assert_cmpstr (codecs, ==, "h264,aac");
  }
}

/* keep_all_tracks with fMP4 HLS and DASH: an AdaptationSet per language,
 * text/vtt sets for the subtitles. */
static void
test_ladder_audio_tracks_dash (void)
{
  g_autoptr(WeProfile) p = ladder_profile (small_rungs, 2, "fmp4", TRUE);
  g_autofree gchar *out = fresh_dir ("tracks-dash");
  g_autoptr(GError) error = NULL;
  g_autoptr(WeGstLadderResult) result = NULL;
  g_autofree gchar *mpd = NULL;
  g_autofree gchar *master = NULL;
  g_autofree gchar *vtt = NULL;
  WeGstLadderExtras extras = { NULL, NULL, subtitles (), 2 };
  Waiter w = { 0, };
  MpdCount c;

  p->audio.keep_all_tracks = TRUE;
  result = run_ladder_extras (fx.multi, p, out, &extras, NULL, &w, &error);
  g_assert_no_error (error);
  mpd = read_text (out, "manifest.mpd");
  c = parse_mpd (mpd);
  g_assert_cmpstr (c.sets_desc, ==, "video/mp4 audio/mp4:en audio/mp4:fr text/vtt:en text/vtt:fr");
  g_assert_nonnull (strstr (mpd, "<BaseURL>subs/sub_fr/sub_fr.vtt</BaseURL>"));
  for (guint i = 0; i < 2; i++) {
    g_autofree gchar *seg = g_strdup_printf ("%s/audio_%u/segment_00000.m4s", out, i);

    g_assert_cmpint (fmp4_first_pts (seg), ==, 0);
  }
  master = read_text (out, "master.m3u8");
  g_assert_cmpuint (count_lines_with (master, "#EXT-X-MEDIA:TYPE=AUDIO"), ==, 2);
  g_assert_cmpuint (count_lines_with (master, "#EXT-X-MEDIA:TYPE=SUBTITLES"), ==, 2);
  /* fMP4 starts at 0; the map goes in the header whatever the line ends
   * (this file has a BOM and CRLF) */
  vtt = read_text (out, "subs/sub_fr/sub_fr.vtt");
  g_assert_true (g_str_has_prefix (vtt, "WEBVTT\r\nX-TIMESTAMP-MAP=MPEGTS:0,LOCAL:00:00:00.000\n\r\n"));
}

static void
test_ladder_bad_subtitles (void)
{
  g_autoptr(WeProfile) p = ladder_profile (small_rungs, 2, "ts", FALSE);
  g_autofree gchar *out = fresh_dir ("bad-subs");
  g_autofree gchar *not_vtt = g_build_filename (fx.tmpdir, "not.vtt", NULL);
  g_autofree gchar *subs_dir = g_build_filename (out, "subs", NULL);
  WeGstLadderSubtitle bad_name[] = { { "Sub EN", "en", fx.vtt_en } };
  WeGstLadderSubtitle twice[] = { { "s", "en", fx.vtt_en }, { "s", "fr", fx.vtt_fr } };
  WeGstLadderSubtitle missing[] = { { "s", "en", "/nonexistent.vtt" } };
  WeGstLadderSubtitle garbage[] = { { "s", "en", not_vtt } };
  WeGstLadderSubtitle *cases[] = { bad_name, twice, missing, garbage };
  guint counts[] = { 1, 2, 1, 1 };

  g_assert_true (g_file_set_contents (not_vtt, "1\n00:00:01,000 --> 00:00:02,000\nSRT\n", -1, NULL));
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    WeGstLadderExtras extras = { NULL, NULL, cases[i], counts[i] };
    g_autoptr(GError) error = NULL;
    g_autoptr(WeGstLadderResult) result = NULL;
    Waiter w = { 0, };

    result = run_ladder_extras (fx.multi, p, out, &extras, NULL, &w, &error);
    g_assert_null (result);
    g_assert_nonnull (error);
    g_assert_true (error->domain == WE_ERROR);
    g_test_message ("subtitles refused: %s", error->message);
  }
  /* a failed job leaves no subtitle directory behind */
  g_assert_false (g_file_test (subs_dir, G_FILE_TEST_EXISTS));
}

static void
test_ladder_truncated (void)
{
  g_autoptr(WeProfile) p = ladder_profile (three_rungs, 2, "ts", FALSE);
  g_autofree gchar *out = fresh_dir ("truncated");
  g_autofree gchar *rung_dir = g_build_filename (out, "720p", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(WeGstLadderResult) result = NULL;
  Waiter w = { 0, };

  result = run_ladder (fx.truncated, p, out, NULL, &w, &error);
  g_assert_null (result);
  g_assert_nonnull (error);
  g_assert_true (error->domain == WE_ERROR);
  g_test_message ("truncated: %s", error->message);
  /* a failed job leaves nothing that looks like a result */
  g_assert_false (g_file_test (rung_dir, G_FILE_TEST_EXISTS));
}

static void
test_ladder_cancel (void)
{
  g_autoptr(WeProfile) p = ladder_profile (three_rungs, 2, "ts", TRUE);
  g_autofree gchar *out = fresh_dir ("cancel");
  g_autofree gchar *master = g_build_filename (out, "master.m3u8", NULL);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(WeGstLadderResult) result = NULL;
  Waiter w = { 0, };
  gint64 answered;

  w.cancel_on_frames = cancellable;
  result = run_ladder (fx.clip, p, out, cancellable, &w, &error);
  answered = g_get_monotonic_time ();
  g_assert_null (result);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpint (w.cancelled_at, >, 0);
  g_assert_cmpint (answered - w.cancelled_at, <, G_USEC_PER_SEC * time_factor ());
  g_assert_false (g_file_test (master, G_FILE_TEST_EXISTS));
}

static void
test_ladder_bad_profile (void)
{
  g_autoptr(WeProfile) p = ladder_profile (three_rungs, 2, "ts", FALSE);
  g_autofree gchar *out = fresh_dir ("bad");
  g_autoptr(GError) error = NULL;
  g_autoptr(WeGstLadderResult) result = NULL;
  Waiter w = { 0, };

  p->hls.enabled = FALSE;
  result = run_ladder (fx.clip, p, out, NULL, &w, &error);
  g_assert_null (result);
  g_assert_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_PROFILE);
}

static void
remove_tree (const gchar *path)
{
  g_autofree gchar *cmd = g_strdup_printf ("rm -rf %s", path);

  g_spawn_command_line_sync (cmd, NULL, NULL, NULL, NULL);
}

int
main (int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autofree gchar *contents = NULL;
  gsize len = 0;
  int rc;

  g_test_init (&argc, &argv, NULL);
  gst_init (NULL, NULL);

  fx.tmpdir = g_dir_make_tmp ("we-gst-ladder-XXXXXX", &error);
  g_assert_no_error (error);
  fx.clip = g_build_filename (fx.tmpdir, "clip.mp4", NULL);
  make_clip (fx.clip, "--duration 8 --width 1280 --height 720 --fps 25");
  /* the second half gone, index at the front: looks whole until read */
  fx.truncated = g_build_filename (fx.tmpdir, "truncated.mp4", NULL);
  g_assert_true (g_file_get_contents (fx.clip, &contents, &len, NULL));
  g_assert_true (g_file_set_contents (fx.truncated, contents, len / 2, NULL));
  fx.multi = g_build_filename (fx.tmpdir, "multi.mp4", NULL);
  make_clip (fx.multi, "--duration 6 --width 640 --height 360 --fps 25 --audio-languages eng,fra");
  fx.vtt_en = g_build_filename (fx.tmpdir, "en.vtt", NULL);
  fx.vtt_fr = g_build_filename (fx.tmpdir, "fr.vtt", NULL);
  g_assert_true (g_file_set_contents (fx.vtt_en, "WEBVTT\n\n00:00:00.500 --> 00:00:01.500\nCue 1\n\n"
                                      "00:00:02.500 --> 00:00:03.500\nCue 2\n", -1, NULL));
  g_assert_true (g_file_set_contents (fx.vtt_fr, "\xef\xbb\xbfWEBVTT\r\n\r\n00:00:00.500 --> 00:00:01.500\r\n"
                                      "Cue 1 fra\r\n", -1, NULL));

  g_test_add_func ("/ladder/master-playlist", test_master_playlist);
  g_test_add_func ("/ladder/media-playlist", test_media_playlist);
  g_test_add_func ("/ladder/plan-rungs", test_plan_rungs);
  g_test_add_func ("/ladder/bad-profile", test_ladder_bad_profile);
  g_test_add_func ("/ladder/ts", test_ladder_ts);
  g_test_add_func ("/ladder/no-upscale", test_ladder_no_upscale);
  g_test_add_func ("/ladder/fmp4-dash", test_ladder_fmp4_dash);
  g_test_add_func ("/ladder/truncated", test_ladder_truncated);
  g_test_add_func ("/ladder/cancel", test_ladder_cancel);
  g_test_add_func ("/ladder/aes-128-ts", test_ladder_aes_ts);
  g_test_add_func ("/ladder/aes-128-fmp4", test_ladder_aes_fmp4);
  g_test_add_func ("/ladder/aes-128-refused", test_ladder_aes_refused);
  g_test_add_func ("/ladder/audio-tracks-ts", test_ladder_audio_tracks_ts);
  g_test_add_func ("/ladder/audio-first-only", test_ladder_audio_first_only);
  g_test_add_func ("/ladder/audio-tracks-dash", test_ladder_audio_tracks_dash);
  g_test_add_func ("/ladder/bad-subtitles", test_ladder_bad_subtitles);
  rc = g_test_run ();

  remove_tree (fx.tmpdir);
  g_free (fx.tmpdir);
  g_free (fx.clip);
  g_free (fx.truncated);
  g_free (fx.multi);
  g_free (fx.vtt_en);
  g_free (fx.vtt_fr);
  return rc;
}
