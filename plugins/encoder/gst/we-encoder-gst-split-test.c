/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Split & stitch through the built module: scan, segment and audio encodes,
 * stitch, and checks of the result that do not trust the module (ffprobe,
 * ffmpeg's ssim filter). Sources the make-clip script cannot make (B-frames,
 * VFR, late audio, odd GOPs) are generated with ffmpeg.
 */

#include <math.h>
#include <glib/gstdio.h>
#include <gmodule.h>
#include <gst/gst.h>
#include <webencode/webencode.h>

typedef struct {
  GMainContext *context;
  WeEncoder    *encoder;
  gchar        *tmpdir;
} Fixture;

static Fixture fx;

static gchar *
tmp_path (const gchar *name)
{
  return g_build_filename (fx.tmpdir, name, NULL);
}

static gchar *
path_to_uri (const gchar *path)
{
  return g_filename_to_uri (path, NULL, NULL);
}

static gchar *
run (const gchar *cmd)
{
  g_autofree gchar *out = NULL;
  g_autofree gchar *err = NULL;
  g_autoptr(GError) error = NULL;
  gint status = 0;

  g_assert_true (g_spawn_command_line_sync (cmd, &out, &err, &status, &error));
  g_assert_no_error (error);
  if (!g_spawn_check_wait_status (status, NULL))
    g_error ("%s failed: %s", cmd, err);
  return g_steal_pointer (&out);
}

static void
run_sh (const gchar *script)
{
  g_autofree gchar *quoted = g_shell_quote (script);
  g_autofree gchar *cmd = g_strdup_printf ("/bin/sh -c %s", quoted);
  g_autofree gchar *out = run (cmd);
}

typedef struct {
  gboolean      done;
  GAsyncResult *result;
} Waiter;

static void
waiter_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  Waiter *w = user_data;

  w->result = g_object_ref (res);
  w->done = TRUE;
}

static void
wait_for (Waiter *w)
{
  while (!w->done)
    g_main_context_iteration (fx.context, TRUE);
}

static WeKeyframeIndex *
scan (const gchar *path, GError **error)
{
  g_autofree gchar *uri = path_to_uri (path);
  Waiter w = { 0, };
  WeKeyframeIndex *index;

  we_encoder_scan_async (fx.encoder, uri, NULL, waiter_cb, &w);
  wait_for (&w);
  index = we_encoder_scan_finish (fx.encoder, w.result, error);
  g_object_unref (w.result);
  return index;
}

typedef struct {
  GArray       *percents;
  guint64       frames;
  GCancellable *cancel_on_frames;
  gint64        cancelled_at;
} ProgressLog;

static void
progress_cb (const WeEncodeProgress *p, gpointer user_data)
{
  ProgressLog *log = user_data;

  g_assert_cmpfloat (p->percent, >=, 0);
  g_assert_cmpfloat (p->percent, <=, 100);
  if (log->percents->len > 0)
    g_assert_cmpfloat (p->percent, >=,
                       g_array_index (log->percents, gdouble, log->percents->len - 1));
  g_array_append_val (log->percents, p->percent);
  log->frames = p->frames;
  if (log->cancel_on_frames != NULL && p->frames > 0 && log->cancelled_at == 0) {
    log->cancelled_at = g_get_monotonic_time ();
    g_cancellable_cancel (log->cancel_on_frames);
  }
}

static gboolean
encode (const gchar *input, const gchar *output, const WeProfile *profile, WeEncodeMode mode,
        gdouble start_s, gdouble duration_s, ProgressLog *log, GCancellable *cancellable,
        GError **error)
{
  g_autofree gchar *uri = path_to_uri (input);
  WeEncodeRequest req = {
    .task_id = "split-test",
    .input_uri = uri,
    .output_path = output,
    .profile = profile,
    .start_s = start_s,
    .duration_s = duration_s,
    .mode = mode,
  };
  Waiter w = { 0, };
  gboolean ok;

  we_encoder_transcode_async (fx.encoder, &req, log != NULL ? progress_cb : NULL, log,
                              cancellable, waiter_cb, &w);
  wait_for (&w);
  ok = we_encoder_transcode_finish (fx.encoder, w.result, error);
  g_object_unref (w.result);
  return ok;
}

static gboolean
stitch (const gchar * const *segments, const gchar *audio, const gchar *output,
        const WeProfile *profile, const WeKeyframeIndex *index, WeStitchReport *report,
        GError **error)
{
  g_autoptr(GPtrArray) uris = g_ptr_array_new_with_free_func (g_free);
  g_autofree gchar *audio_uri = audio != NULL ? path_to_uri (audio) : NULL;
  WeStitchRequest req = { 0, };
  Waiter w = { 0, };
  gboolean ok;

  for (guint i = 0; segments[i] != NULL; i++)
    g_ptr_array_add (uris, path_to_uri (segments[i]));
  g_ptr_array_add (uris, NULL);
  req.segment_uris = (const gchar * const *) uris->pdata;
  req.audio_uri = audio_uri;
  req.output_path = output;
  req.profile = profile;
  req.expected_frames = index->video_frames;
  req.expected_duration_s = index->duration_s;
  req.frame_duration_s = index->video_frames > 0 ? index->duration_s / index->video_frames : 0;
  we_encoder_stitch_async (fx.encoder, &req, NULL, waiter_cb, &w);
  wait_for (&w);
  ok = we_encoder_stitch_finish (fx.encoder, w.result, report, error);
  g_object_unref (w.result);
  return ok;
}

static WeProfile *
builtin_profile (const gchar *id)
{
  g_autoptr(GPtrArray) list = we_profile_builtins ();

  for (guint i = 0; i < list->len; i++) {
    WeProfile *p = g_ptr_array_index (list, i);

    if (g_strcmp0 (p->id, id) == 0)
      return we_profile_ref (p);
  }
  g_assert_not_reached ();
  return NULL;
}

/* the fast profile at the sources' own size keeps the test short */
static WeProfile *
small_profile (void)
{
  g_autoptr(WeProfile) base = builtin_profile ("480p_fast");
  WeProfile *p = we_profile_copy (base);

  p->width = 320;
  p->height = 240;
  return p;
}

static gint
compare_double (gconstpointer a, gconstpointer b)
{
  gdouble x = *(const gdouble *) a;
  gdouble y = *(const gdouble *) b;

  return x < y ? -1 : x > y ? 1 : 0;
}

/* sorted video PTS as ffprobe sees them */
static GArray *
ffprobe_pts (const gchar *path)
{
  g_autofree gchar *cmd = g_strdup_printf ("ffprobe -v error -select_streams v:0 -show_entries "
                                           "packet=pts_time -of csv=p=0 %s", path);
  g_autofree gchar *out = run (cmd);
  g_auto(GStrv) lines = g_strsplit (out, "\n", -1);
  GArray *pts = g_array_new (FALSE, FALSE, sizeof (gdouble));

  for (guint i = 0; lines[i] != NULL; i++) {
    gchar *l = g_strstrip (lines[i]);
    gdouble t;

    if (*l == '\0' || g_str_equal (l, "N/A"))
      continue;
    t = g_ascii_strtod (l, NULL);
    g_array_append_val (pts, t);
  }
  g_array_sort (pts, compare_double);
  return pts;
}

static gdouble
ffprobe_audio_start (const gchar *path)
{
  g_autofree gchar *cmd = g_strdup_printf ("ffprobe -v error -select_streams a:0 -show_entries "
                                           "stream=start_time -of csv=p=0 %s", path);
  g_autofree gchar *out = run (cmd);

  return g_ascii_strtod (g_strstrip (out), NULL);
}

/* ---- the split & stitch round trip -------------------------------------- */

/* the command with its "%s" replaced by @out */
static gchar *
make_command (const gchar *tmpl, const gchar *out)
{
  g_auto(GStrv) parts = g_strsplit (tmpl, "%s", -1);

  return g_strjoinv (out, parts);
}

typedef struct {
  const gchar *name;
  const gchar *ext;
  const gchar *make;     /* shell command; %s = output */
  gboolean     audio;
  guint        every;    /* cut at every Nth keyframe */
} SplitCase;

static const SplitCase split_cases[] = {
  { "bframes", "mp4",
    "ffmpeg -v error -y -f lavfi -i testsrc2=size=320x240:rate=25 -f lavfi "
    "-i sine=f=440:sample_rate=48000 -t 8 -c:v libx264 -preset ultrafast -bf 2 -g 50 "
    "-keyint_min 50 -sc_threshold 0 -pix_fmt yuv420p -c:a aac -b:a 64k %s", TRUE, 1 },
  { "odd-gop", "mp4",
    "gst-launch-1.0 -q videotestsrc pattern=ball num-buffers=200 ! "
    "video/x-raw,width=320,height=240,framerate=25/1 ! x264enc speed-preset=ultrafast bframes=2 "
    "b-adapt=false key-int-max=37 ! h264parse ! mp4mux name=m ! filesink location=%s "
    "audiotestsrc num-buffers=375 samplesperbuffer=1024 ! audio/x-raw,rate=48000,channels=2 ! "
    "avenc_aac ! aacparse ! m.", TRUE, 2 },
  /* 25 fps for 4 s, then 12.5 fps */
  { "vfr", "mp4",
    "ffmpeg -v error -y -f lavfi -i testsrc2=size=320x240:rate=25 -f lavfi "
    "-i sine=f=440:sample_rate=48000 -t 8 "
    "-vf \"setpts='if(lt(N,100),N,100+(N-100)*2)/25/TB'\" -fps_mode vfr -frames:v 150 "
    "-c:v libx264 -preset ultrafast -bf 2 -g 25 -keyint_min 25 -sc_threshold 0 "
    "-pix_fmt yuv420p -c:a aac -b:a 64k -t 8 %s", TRUE, 2 },
  { "late-audio", "mkv",
    "ffmpeg -v error -y -f lavfi -i testsrc2=size=320x240:rate=25 -itsoffset 0.5 -f lavfi "
    "-i sine=f=440:sample_rate=48000:duration=7.5 -t 8 -c:v libx264 -preset ultrafast -bf 2 "
    "-g 50 -keyint_min 50 -sc_threshold 0 -pix_fmt yuv420p -c:a aac -b:a 64k %s", TRUE, 1 },
  /* MPEG-TS sources are not covered yet: a segment encode of one lands a
   * frame later than the scan's keyframe times */
  { "no-audio", "mp4",
    "gst-launch-1.0 -q videotestsrc pattern=smpte num-buffers=200 ! "
    "video/x-raw,width=320,height=240,framerate=25/1 ! x264enc speed-preset=ultrafast bframes=0 "
    "key-int-max=50 ! h264parse ! mp4mux ! filesink location=%s", FALSE, 1 },
};

typedef struct {
  gchar          *source;
  gchar          *output;
  gchar         **segments;
  gchar          *audio;
  WeKeyframeIndex *index;
  GArray         *cuts;   /* gdouble, the segment starts after the first */
} SplitRun;

static void
split_run_clear (SplitRun *r)
{
  g_free (r->source);
  g_free (r->output);
  g_strfreev (r->segments);
  g_free (r->audio);
  g_clear_pointer (&r->index, we_keyframe_index_free);
  g_clear_pointer (&r->cuts, g_array_unref);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (SplitRun, split_run_clear)

/* scan → cut at every @every-th keyframe → encode segments and audio →
 * stitch; the stitch's own verification has to pass */
static void
split_and_stitch (const gchar *source, const gchar *name, const WeProfile *profile, guint every,
                  gboolean audio, SplitRun *r)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) segs = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GArray) starts = g_array_new (FALSE, FALSE, sizeof (gdouble));
  g_autofree gchar *outname = g_strdup_printf ("%s-stitched.%s", name,
                                               we_profile_get_extension (profile));
  WeStitchReport report = { 0, };
  gint64 t0 = g_get_monotonic_time ();

  r->source = g_strdup (source);
  r->index = scan (source, &error);
  g_assert_no_error (error);
  g_test_message ("%s: scan took %.3f s: %" G_GUINT64_FORMAT " frames, %.3f s, %u keyframes, "
                  "fps %d/%d, audio %d from %.3f s for %.3f s", name,
                  (g_get_monotonic_time () - t0) / 1e6, r->index->video_frames,
                  r->index->duration_s, r->index->keyframes_s->len, r->index->fps_n,
                  r->index->fps_d, r->index->has_audio, r->index->audio_start_s,
                  r->index->audio_duration_s);
  g_assert_cmpint (r->index->has_audio, ==, audio);
  g_assert_cmpuint (r->index->keyframes_s->len, >=, 3);

  for (guint k = 0; k < r->index->keyframes_s->len; k += every)
    g_array_append_val (starts, g_array_index (r->index->keyframes_s, gdouble, k));
  r->cuts = g_array_new (FALSE, FALSE, sizeof (gdouble));
  for (guint s = 0; s < starts->len; s++) {
    gdouble start = g_array_index (starts, gdouble, s);
    gdouble dur = s + 1 < starts->len ? g_array_index (starts, gdouble, s + 1) - start : 0;
    g_autofree gchar *segname = g_strdup_printf ("%s-seg%u.mkv", name, s);
    gchar *seg = tmp_path (segname);

    if (s > 0)
      g_array_append_val (r->cuts, start);
    t0 = g_get_monotonic_time ();
    g_assert_true (encode (source, seg, profile, WE_ENCODE_MODE_VIDEO_SEGMENT, start, dur, NULL,
                           NULL, &error));
    g_assert_no_error (error);
    g_test_message ("%s: segment %u [%.3f, +%.3f) took %.2f s", name, s, start, dur,
                    (g_get_monotonic_time () - t0) / 1e6);
    g_ptr_array_add (segs, seg);
  }
  g_ptr_array_add (segs, NULL);
  r->segments = (gchar **) g_ptr_array_free (g_steal_pointer (&segs), FALSE);

  if (audio) {
    g_autofree gchar *aname = g_strdup_printf ("%s-audio.mkv", name);

    r->audio = tmp_path (aname);
    g_assert_true (encode (source, r->audio, profile, WE_ENCODE_MODE_AUDIO, 0, 0, NULL, NULL,
                           &error));
    g_assert_no_error (error);
  }

  r->output = tmp_path (outname);
  t0 = g_get_monotonic_time ();
  if (!stitch ((const gchar * const *) r->segments, r->audio, r->output, profile, r->index,
               &report, &error))
    g_error ("%s: stitch failed: %s", name, error->message);
  g_test_message ("%s: stitch took %.2f s: %" G_GUINT64_FORMAT " frames, %.4f s (video %.4f s, "
                  "audio %.4f s)", name, (g_get_monotonic_time () - t0) / 1e6, report.frames,
                  report.duration_s, report.video_duration_s, report.audio_duration_s);
  g_assert_cmpuint (report.frames, ==, r->index->video_frames);
}

static void
test_split (gconstpointer data)
{
  const SplitCase *c = data;
  g_autofree gchar *srcname = g_strdup_printf ("src-%s.%s", c->name, c->ext);
  g_autofree gchar *src = tmp_path (srcname);
  g_autofree gchar *cmd = make_command (c->make, src);
  g_autoptr(WeProfile) profile = small_profile ();
  g_autoptr(GArray) src_pts = NULL;
  g_autoptr(GArray) out_pts = NULL;
  g_auto(SplitRun) r = { 0, };
  gdouble src_gap = 0, frame, src_span, out_span;

  run_sh (cmd);
  split_and_stitch (src, c->name, profile, c->every, c->audio, &r);

  /* independent checks */
  src_pts = ffprobe_pts (src);
  out_pts = ffprobe_pts (r.output);
  g_assert_cmpuint (src_pts->len, ==, r.index->video_frames);
  g_assert_cmpuint (out_pts->len, ==, src_pts->len);
  for (guint i = 1; i < src_pts->len; i++)
    src_gap = MAX (src_gap, g_array_index (src_pts, gdouble, i) -
                              g_array_index (src_pts, gdouble, i - 1));
  frame = r.index->duration_s / r.index->video_frames;
  src_span = g_array_index (src_pts, gdouble, src_pts->len - 1) - g_array_index (src_pts, gdouble, 0);
  out_span = g_array_index (out_pts, gdouble, out_pts->len - 1) - g_array_index (out_pts, gdouble, 0);
  g_test_message ("%s: source %u frames over %.4f s, stitched %u over %.4f s", c->name,
                  src_pts->len, src_span, out_pts->len, out_span);
  g_assert_cmpfloat (fabs (out_span - src_span), <=, frame);
  for (guint i = 1; i < out_pts->len; i++) {
    gdouble gap = g_array_index (out_pts, gdouble, i) - g_array_index (out_pts, gdouble, i - 1);

    g_assert_cmpfloat (gap, >, 0);
    /* no hole at the joins: never more than the source's widest spacing */
    g_assert_cmpfloat (gap, <=, src_gap + 0.0015);
    /* same timeline as the source, rebased */
    g_assert_cmpfloat (fabs ((g_array_index (out_pts, gdouble, i) - g_array_index (out_pts, gdouble, 0)) -
                             (g_array_index (src_pts, gdouble, i) - g_array_index (src_pts, gdouble, 0))),
                       <=, 0.0015);
  }
  if (c->audio) {
    gdouble src_offset = ffprobe_audio_start (src) - g_array_index (src_pts, gdouble, 0);
    gdouble out_offset = ffprobe_audio_start (r.output) - g_array_index (out_pts, gdouble, 0);

    g_test_message ("%s: audio starts %.4f s after video in the source, %.4f s in the output",
                    c->name, src_offset, out_offset);
    g_assert_cmpfloat (fabs (src_offset - out_offset), <=, 0.025);
  }
}

/* ---- quality at the cuts ------------------------------------------------ */

/* per-frame SSIM ("All") of @path against the source scaled to its size */
static GArray *
ssim_per_frame (const gchar *path, const gchar *source, gint width, gint height)
{
  g_autofree gchar *stats = g_strdup_printf ("%s.ssim", path);
  g_autofree gchar *cmd = g_strdup_printf (
    "ffmpeg -v error -i %s -i %s -lavfi \"[1:v]scale=%d:%d:flags=bicubic[ref];"
    "[0:v][ref]ssim=stats_file=%s\" -f null -", path, source, width, height, stats);
  g_autofree gchar *text = NULL;
  g_auto(GStrv) lines = NULL;
  GArray *out = g_array_new (FALSE, FALSE, sizeof (gdouble));

  run_sh (cmd);
  g_assert_true (g_file_get_contents (stats, &text, NULL, NULL));
  lines = g_strsplit (text, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++) {
    const gchar *all = strstr (lines[i], "All:");
    gdouble v;

    if (all == NULL)
      continue;
    v = g_ascii_strtod (all + 4, NULL);
    g_array_append_val (out, v);
  }
  return out;
}

static void
test_quality (void)
{
  const SplitCase *c = &split_cases[0];
  g_autofree gchar *src = tmp_path ("src-quality.mp4");
  g_autofree gchar *cmd = make_command (c->make, src);
  g_autofree gchar *single = tmp_path ("quality-single.mp4");
  g_autoptr(WeProfile) profile = builtin_profile ("720p_h264");
  g_autoptr(GError) error = NULL;
  g_autoptr(GArray) s_ssim = NULL;
  g_autoptr(GArray) f_ssim = NULL;
  g_auto(SplitRun) r = { 0, };

  run_sh (cmd);
  split_and_stitch (src, "quality", profile, 1, TRUE, &r);
  g_assert_true (encode (src, single, profile, WE_ENCODE_MODE_FULL, 0, 0, NULL, NULL, &error));
  g_assert_no_error (error);

  /* 320x240 in a 1280x720 box: 960x720 */
  s_ssim = ssim_per_frame (r.output, src, 960, 720);
  f_ssim = ssim_per_frame (single, src, 960, 720);
  g_assert_cmpuint (s_ssim->len, ==, r.index->video_frames);
  g_assert_cmpuint (f_ssim->len, ==, r.index->video_frames);
  for (guint k = 0; k < r.cuts->len; k++) {
    gdouble t = g_array_index (r.cuts, gdouble, k);
    gint cut = (gint) (t * r.index->fps_n / r.index->fps_d + 0.5);
    gdouble around = 0;
    guint n = 0;

    /* the neighbourhood, a few frames away from the cut */
    for (gint i = cut - 8; i <= cut + 8; i++) {
      if (i >= 0 && i < (gint) s_ssim->len && ABS (i - cut) >= 3) {
        around += g_array_index (s_ssim, gdouble, i);
        n++;
      }
    }
    around /= n;
    for (gint i = MAX (cut - 1, 0); i <= MIN (cut + 1, (gint) s_ssim->len - 1); i++) {
      gdouble s = g_array_index (s_ssim, gdouble, i);
      gdouble f = g_array_index (f_ssim, gdouble, i);

      g_test_message ("cut at %.2f s, frame %d: SSIM stitched %.4f, single pass %.4f, "
                      "neighbourhood %.4f", t, i, s, f, around);
      g_assert_cmpfloat (s, >=, f - 0.02);
      g_assert_cmpfloat (s, >=, around - 0.02);
    }
  }
}

/* ---- failures, cancel, progress ----------------------------------------- */

static gchar *
bframes_source (void)
{
  gchar *src = tmp_path ("src-bframes.mp4");

  if (!g_file_test (src, G_FILE_TEST_EXISTS)) {
    g_autofree gchar *cmd = make_command (split_cases[0].make, src);

    run_sh (cmd);
  }
  return src;
}

static void
test_missing_segment (void)
{
  g_autofree gchar *src = bframes_source ();
  g_autoptr(WeProfile) profile = small_profile ();
  g_autofree gchar *out = tmp_path ("missing-stitched.mp4");
  g_autoptr(GError) error = NULL;
  g_auto(SplitRun) r = { 0, };
  WeStitchReport report = { 0, };
  gchar *kept[8] = { NULL, };
  guint n = 0;

  split_and_stitch (src, "missing", profile, 1, TRUE, &r);
  g_assert_cmpuint (g_strv_length (r.segments), >=, 3);
  /* drop the second segment */
  for (guint i = 0; r.segments[i] != NULL && n < G_N_ELEMENTS (kept) - 1; i++) {
    if (i != 1)
      kept[n++] = r.segments[i];
  }
  g_assert_false (stitch ((const gchar * const *) kept, r.audio, out, profile, r.index, &report,
                          &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_JOB_FAILED);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "frames, source has"));
  g_assert_false (g_file_test (out, G_FILE_TEST_EXISTS));
}

static void
test_segment_progress (void)
{
  g_autofree gchar *src = bframes_source ();
  g_autoptr(WeProfile) profile = small_profile ();
  g_autofree gchar *out = tmp_path ("progress-seg.mkv");
  g_autoptr(GError) error = NULL;
  ProgressLog log = { g_array_new (FALSE, FALSE, sizeof (gdouble)), 0, NULL, 0 };

  /* [2, 6): 100 frames */
  g_assert_true (encode (src, out, profile, WE_ENCODE_MODE_VIDEO_SEGMENT, 2.0, 4.0, &log, NULL,
                         &error));
  g_assert_no_error (error);
  g_test_message ("segment progress: %u reports, %" G_GUINT64_FORMAT " frames", log.percents->len,
                  log.frames);
  g_assert_cmpuint (log.percents->len, >=, 2);
  g_assert_cmpfloat (g_array_index (log.percents, gdouble, log.percents->len - 1), ==, 100.0);
  g_assert_cmpuint (log.frames, ==, 100);
  g_array_unref (log.percents);
}

static void
test_segment_cancel (void)
{
  g_autofree gchar *src = bframes_source ();
  g_autoptr(WeProfile) profile = builtin_profile ("1080p_h264");
  g_autofree gchar *out = tmp_path ("cancel-seg.mkv");
  g_autoptr(GError) error = NULL;
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  ProgressLog log = { g_array_new (FALSE, FALSE, sizeof (gdouble)), 0, cancellable, 0 };
  gint64 ended;

  g_assert_false (encode (src, out, profile, WE_ENCODE_MODE_VIDEO_SEGMENT, 2.0, 4.0, &log,
                          cancellable, &error));
  ended = g_get_monotonic_time ();
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpint (log.cancelled_at, >, 0);
  g_test_message ("segment cancel took %.3f s", (ended - log.cancelled_at) / 1e6);
  g_assert_cmpint (ended - log.cancelled_at, <, G_USEC_PER_SEC);
  g_assert_false (g_file_test (out, G_FILE_TEST_EXISTS));
  g_array_unref (log.percents);
}

static void
test_bad_inputs (void)
{
  g_autofree gchar *noise = tmp_path ("noise.bin");
  g_autofree gchar *noaudio = tmp_path ("src-noaudio.mp4");
  g_autofree gchar *out = tmp_path ("bad-audio.mkv");
  g_autofree gchar *cmd = NULL;
  g_autoptr(WeProfile) profile = small_profile ();
  g_autoptr(GError) error = NULL;
  g_autoptr(WeKeyframeIndex) index = NULL;
  g_autofree guint8 *bytes = g_malloc (32 * 1024);

  g_assert_true (we_encoder_can_split (fx.encoder));
  for (gsize i = 0; i < 32 * 1024; i++)
    bytes[i] = (guint8) g_random_int ();
  g_assert_true (g_file_set_contents (noise, (const gchar *) bytes, 32 * 1024, &error));
  index = scan (noise, &error);
  g_assert_null (index);
  g_assert_error (error, WE_ERROR, WE_ERROR_JOB_UNSUPPORTED_SOURCE);
  g_test_message ("scan of noise: %s", error->message);
  g_clear_error (&error);

  cmd = g_strdup_printf ("python3 %s/tests/media/make-clip %s --duration 1 --fps 10 --no-audio",
                         g_getenv ("WE_SOURCE_ROOT"), noaudio);
  g_free (run (cmd));
  g_assert_false (encode (noaudio, out, profile, WE_ENCODE_MODE_AUDIO, 0, 0, NULL, NULL, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_JOB_UNSUPPORTED_SOURCE);
  g_assert_cmpstr (error->message, ==, "source has no audio");
}

/* ---- setup -------------------------------------------------------------- */

static void
load_module (void)
{
  const gchar *path = g_getenv ("WE_ENCODER_GST_MODULE");
  GModule *module;
  WePluginGetDescriptorFunc get_descriptor = NULL;
  const WePluginDescriptor *d;
  g_autoptr(JsonObject) config = json_object_new ();
  g_autoptr(GError) error = NULL;
  GObject *obj;

  g_assert_nonnull (path);
  module = g_module_open (path, G_MODULE_BIND_LOCAL);
  if (module == NULL)
    g_error ("cannot open %s: %s", path, g_module_error ());
  g_assert_true (g_module_symbol (module, WE_PLUGIN_SYMBOL, (gpointer *) &get_descriptor));
  d = get_descriptor ();
  g_assert_cmpuint (d->abi_minor, ==, WE_PLUGIN_ABI_MINOR);
  obj = d->create (config, &error);
  g_assert_no_error (error);
  fx.encoder = WE_ENCODER (obj);
}

static void
remove_tmpdir (void)
{
  g_autoptr(GDir) dir = g_dir_open (fx.tmpdir, 0, NULL);
  const gchar *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL) {
    g_autofree gchar *p = tmp_path (name);

    g_unlink (p);
  }
  g_rmdir (fx.tmpdir);
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
  load_module ();
  fx.tmpdir = g_dir_make_tmp ("we-encoder-split-XXXXXX", &error);
  g_assert_no_error (error);

  for (gsize i = 0; i < G_N_ELEMENTS (split_cases); i++) {
    g_autofree gchar *path = g_strdup_printf ("/encoder-gst/split/%s", split_cases[i].name);

    g_test_add_data_func (path, &split_cases[i], test_split);
  }
  g_test_add_func ("/encoder-gst/split/quality", test_quality);
  g_test_add_func ("/encoder-gst/split/missing-segment", test_missing_segment);
  g_test_add_func ("/encoder-gst/split/segment-progress", test_segment_progress);
  g_test_add_func ("/encoder-gst/split/segment-cancel", test_segment_cancel);
  g_test_add_func ("/encoder-gst/split/bad-inputs", test_bad_inputs);

  ret = g_test_run ();
  if (g_getenv ("WE_KEEP_TMP") == NULL)
    remove_tmpdir ();
  g_clear_object (&fx.encoder);
  g_main_context_pop_thread_default (fx.context);
  g_main_context_unref (fx.context);
  return ret;
}
