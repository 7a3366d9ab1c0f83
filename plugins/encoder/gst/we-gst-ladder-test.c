/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The ABR ladder packager on clips from tests/media/make-clip: manifests,
 * alignment of segments across rungs, keyframes at segment starts, rungs
 * above the source, fMP4/DASH, broken sources and cancellation.
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
} Fixture;

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
run_ladder (const gchar *source, const WeProfile *profile, const gchar *out,
            GCancellable *cancellable, Waiter *w, GError **error)
{
  g_autofree gchar *uri = g_filename_to_uri (source, NULL, NULL);
  WeGstOptions options = { 0, FALSE };
  WeGstLadderResult *result;

  we_gst_ladder_async (uri, profile, out, &options, progress_cb, w, cancellable, waiter_cb, w);
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

/* ---- pure functions ------------------------------------------------------- */

static void
test_master_playlist (void)
{
  g_autoptr(GPtrArray) variants = g_ptr_array_new_with_free_func ((GDestroyNotify) we_gst_hls_variant_free);
  WeGstHlsVariant *v = g_new0 (WeGstHlsVariant, 1);
  WeGstHlsAudio audio = { "aud", "English", "audio/index.m3u8" };
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
  with_audio = we_gst_hls_master_playlist (variants, &audio);
  g_assert_nonnull (strstr (with_audio, "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"aud\",NAME=\"English\","
                                        "DEFAULT=YES,AUTOSELECT=YES,URI=\"audio/index.m3u8\"\n"));
  g_assert_nonnull (strstr (with_audio, ",AUDIO=\"aud\"\n720p/index.m3u8\n"));
}

static void
test_media_playlist (void)
{
  g_autoptr(GPtrArray) segs = g_ptr_array_new_with_free_func ((GDestroyNotify) we_gst_hls_segment_free);
  const gdouble durations[] = { 6.0000001, 6.0, 2.52 };
  const guint64 sizes[] = { 750000, 600000, 50000 };
  g_autofree gchar *ts = NULL;
  g_autofree gchar *fmp4 = NULL;
  guint64 peak, avg;

  for (guint i = 0; i < G_N_ELEMENTS (durations); i++) {
    WeGstHlsSegment *s = g_new0 (WeGstHlsSegment, 1);

    s->uri = g_strdup_printf ("segment_%05u.ts", i);
    s->duration_s = durations[i];
    s->size_bytes = sizes[i];
    g_ptr_array_add (segs, s);
  }
  ts = we_gst_hls_media_playlist (segs, NULL);
  g_assert_cmpstr (ts, ==,
                   "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:6\n#EXT-X-MEDIA-SEQUENCE:0\n"
                   "#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-INDEPENDENT-SEGMENTS\n"
                   "#EXTINF:6.000000,\nsegment_00000.ts\n#EXTINF:6.000000,\nsegment_00001.ts\n"
                   "#EXTINF:2.520000,\nsegment_00002.ts\n#EXT-X-ENDLIST\n");
  fmp4 = we_gst_hls_media_playlist (segs, "init.mp4");
  g_assert_nonnull (strstr (fmp4, "#EXT-X-VERSION:7\n"));
  g_assert_nonnull (strstr (fmp4, "#EXT-X-MAP:URI=\"init.mp4\"\n#EXTINF:"));

  we_gst_hls_segments_bandwidth (segs, &peak, &avg);
  g_assert_cmpuint (peak, ==, 1000000);   /* 750000 B in 6 s */
  g_assert_cmpuint (avg, ==, (guint64) ceil (1400000 * 8 / 14.52));
}

typedef struct {
  guint reps;
  guint sets;
  guint segment_urls;
} MpdCount;

static void
mpd_start (GMarkupParseContext *ctx, const gchar *name, const gchar **names,
           const gchar **values, gpointer user_data, GError **error)
{
  MpdCount *c = user_data;

  if (g_strcmp0 (name, "Representation") == 0)
    c->reps++;
  else if (g_strcmp0 (name, "AdaptationSet") == 0)
    c->sets++;
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
check_aligned (const gchar *out, const gchar *const *names, gboolean fmp4, guint *count)
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
  g_assert_cmpfloat_with_epsilon (sum, CLIP_S, FRAME_S);
  *count = first->len;
}

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

  g_test_add_func ("/ladder/master-playlist", test_master_playlist);
  g_test_add_func ("/ladder/media-playlist", test_media_playlist);
  g_test_add_func ("/ladder/plan-rungs", test_plan_rungs);
  g_test_add_func ("/ladder/bad-profile", test_ladder_bad_profile);
  g_test_add_func ("/ladder/ts", test_ladder_ts);
  g_test_add_func ("/ladder/no-upscale", test_ladder_no_upscale);
  g_test_add_func ("/ladder/fmp4-dash", test_ladder_fmp4_dash);
  g_test_add_func ("/ladder/truncated", test_ladder_truncated);
  g_test_add_func ("/ladder/cancel", test_ladder_cancel);
  rc = g_test_run ();

  remove_tree (fx.tmpdir);
  g_free (fx.tmpdir);
  g_free (fx.clip);
  g_free (fx.truncated);
  return rc;
}
