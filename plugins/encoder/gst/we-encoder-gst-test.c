/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Loads the built module like the plugin host does and runs real pipelines on
 * clips generated with tests/media/make-clip.
 */

#include <math.h>
#include <glib/gstdio.h>
#include <gmodule.h>
#include <gst/gst.h>
#include <gst/pbutils/pbutils.h>
#include <webencode/webencode.h>

typedef struct {
  GMainContext *context;
  GModule      *module;
  WeEncoder    *encoder;
  gchar        *tmpdir;
  gchar        *clip43;     /* 320x240, 1 s, 10 fps, AAC */
  gchar        *clip169;    /* 320x180, 1 s, 10 fps, AAC */
  gchar        *clip_range; /* 320x180, 3 s, 10 fps, keyframe every 5 frames */
  gchar        *clip_long;  /* 320x180, 12 s, 25 fps */
  gchar        *audio_only;
  gchar        *not_media;
  gchar        *truncated;
} Fixture;

static Fixture fx;

/* ---- helpers ------------------------------------------------------------ */

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

static WeMediaInfo *
probe (const gchar *path, GError **error)
{
  g_autofree gchar *uri = path_to_uri (path);
  Waiter w = { 0, };
  WeMediaInfo *info;

  we_encoder_probe_async (fx.encoder, uri, NULL, waiter_cb, &w);
  wait_for (&w);
  info = we_encoder_probe_finish (fx.encoder, w.result, error);
  g_object_unref (w.result);
  return info;
}

typedef struct {
  GArray  *percents;   /* gdouble */
  GArray  *times;      /* gint64, monotonic µs */
  guint64  frames;
  GCancellable *cancel_on_frames;
  gint64   cancelled_at;
} ProgressLog;

static void
progress_cb (const WeEncodeProgress *p, gpointer user_data)
{
  ProgressLog *log = user_data;
  gint64 now = g_get_monotonic_time ();

  g_assert_cmpfloat (p->percent, >=, 0);
  g_assert_cmpfloat (p->percent, <=, 100);
  g_array_append_val (log->percents, p->percent);
  g_array_append_val (log->times, now);
  log->frames = p->frames;
  if (log->cancel_on_frames != NULL && p->frames > 0 && log->cancelled_at == 0) {
    log->cancelled_at = now;
    g_cancellable_cancel (log->cancel_on_frames);
  }
}

static gboolean
transcode_full (const gchar *input, const gchar *output, const WeProfile *profile,
                gdouble start_s, gdouble duration_s, ProgressLog *log,
                GCancellable *cancellable, GError **error)
{
  g_autofree gchar *uri = path_to_uri (input);
  WeEncodeRequest req = {
    .task_id = "test",
    .input_uri = uri,
    .output_path = output,
    .profile = profile,
    .start_s = start_s,
    .duration_s = duration_s,
  };
  Waiter w = { 0, };
  gboolean ok;

  we_encoder_transcode_async (fx.encoder, &req, log ? progress_cb : NULL, log, cancellable,
                              waiter_cb, &w);
  wait_for (&w);
  ok = we_encoder_transcode_finish (fx.encoder, w.result, error);
  g_object_unref (w.result);
  if (!ok && error != NULL && *error != NULL)
    g_test_message ("transcode failed: %s", (*error)->message);
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

typedef struct {
  gchar   *container;
  gchar   *video;
  gint     width;
  gint     height;
  gchar   *audio;     /* NULL when none */
  gdouble  duration;
} Verified;

static void
verified_clear (Verified *v)
{
  g_free (v->container);
  g_free (v->video);
  g_free (v->audio);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Verified, verified_clear)

/* what the test believes, independent of the module's own probe */
static void
discover (const gchar *path, Verified *out)
{
  g_autofree gchar *uri = path_to_uri (path);
  g_autoptr(GstDiscoverer) dc = gst_discoverer_new (20 * GST_SECOND, NULL);
  g_autoptr(GstDiscovererInfo) info = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GstDiscovererStreamInfo) top = NULL;
  g_autoptr(GstCaps) tcaps = NULL;
  GList *videos;
  GList *audios;

  info = gst_discoverer_discover_uri (dc, uri, &error);
  g_assert_no_error (error);
  g_assert_cmpint (gst_discoverer_info_get_result (info), ==, GST_DISCOVERER_OK);
  memset (out, 0, sizeof (*out));
  top = gst_discoverer_info_get_stream_info (info);
  tcaps = gst_discoverer_stream_info_get_caps (top);
  out->container = g_strdup (gst_structure_get_name (gst_caps_get_structure (tcaps, 0)));
  out->duration = (gdouble) gst_discoverer_info_get_duration (info) / GST_SECOND;
  videos = gst_discoverer_info_get_video_streams (info);
  audios = gst_discoverer_info_get_audio_streams (info);
  if (videos != NULL) {
    g_autoptr(GstCaps) caps = gst_discoverer_stream_info_get_caps (videos->data);

    out->video = g_strdup (gst_structure_get_name (gst_caps_get_structure (caps, 0)));
    out->width = gst_discoverer_video_info_get_width (videos->data);
    out->height = gst_discoverer_video_info_get_height (videos->data);
  }
  if (audios != NULL) {
    g_autoptr(GstCaps) caps = gst_discoverer_stream_info_get_caps (audios->data);

    out->audio = gst_caps_to_string (caps);
  }
  gst_discoverer_stream_info_list_free (videos);
  gst_discoverer_stream_info_list_free (audios);
}

/* one video frame at 10 fps plus one AAC frame (1024 samples at 48 kHz) */
#define DURATION_TOLERANCE (0.1 + 1024.0 / 48000 + 0.001)

/* ---- module loading ----------------------------------------------------- */

static void
test_module_descriptor (void)
{
  const gchar *manifest = g_getenv ("WE_ENCODER_GST_MANIFEST");
  g_autoptr(GKeyFile) kf = g_key_file_new ();
  g_autoptr(GError) error = NULL;
  g_autofree gchar *id = NULL;
  g_autofree gchar *type = NULL;
  g_auto(GStrv) keys = NULL;
  g_auto(WeEncoderCapabilities) caps = { 0, };
  WePluginGetDescriptorFunc get_descriptor = NULL;
  const WePluginDescriptor *d;

  g_assert_nonnull (manifest);
  g_assert_true (g_key_file_load_from_file (kf, manifest, G_KEY_FILE_NONE, &error));
  g_assert_no_error (error);
  id = g_key_file_get_string (kf, "Plugin", "Id", NULL);
  type = g_key_file_get_string (kf, "Plugin", "Type", NULL);
  g_assert_cmpstr (id, ==, "encoder-gst");
  g_assert_cmpstr (type, ==, "encoder");
  g_assert_cmpint (g_key_file_get_integer (kf, "Plugin", "ProtocolVersion", NULL), ==,
                   WE_PLUGIN_PROTOCOL_VERSION);
  keys = g_key_file_get_string_list (kf, "Plugin", "ConfigKeys", NULL, NULL);
  g_assert_true (g_strv_contains ((const gchar * const *) keys, "threads"));
  g_assert_true (g_strv_contains ((const gchar * const *) keys, "hardware"));

  g_assert_true (g_module_symbol (fx.module, WE_PLUGIN_SYMBOL, (gpointer *) &get_descriptor));
  d = get_descriptor ();
  g_assert_cmpuint (d->protocol_version, ==, WE_PLUGIN_PROTOCOL_VERSION);
  g_assert_cmpint (d->pillar, ==, WE_PILLAR_ENCODER);
  g_assert_cmpstr (d->id, ==, "encoder-gst");
  g_assert_true (g_strv_contains (d->config_keys, "threads"));

  /* bad config is refused with the catalogue code */
  {
    g_autoptr(JsonObject) bad = json_object_new ();
    g_autoptr(GObject) obj = NULL;

    json_object_set_string_member (bad, "hardware", "sometimes");
    obj = d->create (bad, &error);
    g_assert_null (obj);
    g_assert_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG);
    g_clear_error (&error);
  }

  we_encoder_get_capabilities (fx.encoder, &caps);
  g_assert_true (g_strv_contains ((const gchar * const *) caps.video_codecs, "h264"));
  g_assert_true (g_strv_contains ((const gchar * const *) caps.video_codecs, "hevc"));
  g_assert_true (g_strv_contains ((const gchar * const *) caps.video_codecs, "vp9"));
  g_assert_true (g_strv_contains ((const gchar * const *) caps.video_codecs, "av1"));
  g_assert_true (g_strv_contains ((const gchar * const *) caps.audio_codecs, "aac"));
  g_assert_true (g_strv_contains ((const gchar * const *) caps.audio_codecs, "opus"));
  /* no GPU encoders on this machine */
  g_assert_true (caps.gpu_accelerated == (caps.gpu_type != NULL));
}

static void
test_probe_ok (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(WeMediaInfo) info = probe (fx.clip169, &error);

  g_assert_no_error (error);
  g_assert_nonnull (info);
  g_assert_true (info->has_video);
  g_assert_true (info->has_audio);
  g_assert_cmpstr (info->video_codec, ==, "h264");
  g_assert_cmpstr (info->audio_codec, ==, "aac");
  g_assert_cmpint (info->width, ==, 320);
  g_assert_cmpint (info->height, ==, 180);
  g_assert_cmpint (info->fps_n, ==, 10);
  g_assert_cmpint (info->fps_d, ==, 1);
  g_assert_cmpfloat (fabs (info->duration_s - 1.0), <, 0.1);
  g_assert_cmpuint (info->size_bytes, >, 0);
}

/* ---- profiles ----------------------------------------------------------- */

typedef struct {
  const gchar *profile;
  gboolean     four_three;
  const gchar *video_caps;
  const gchar *container_caps;
  const gchar *audio_caps;
  gint         width;
  gint         height;
} ProfileCase;

static const ProfileCase profile_cases[] = {
  /* 4:3 into a padded 16:9 box: letterboxed to exactly 1920x1080 */
  { "1080p_h264", TRUE,  "video/x-h264", "video/quicktime", "audio/mpeg", 1920, 1080 },
  { "720p_h264",  FALSE, "video/x-h264", "video/quicktime", "audio/mpeg", 1280, 720 },
  { "480p_fast",  TRUE,  "video/x-h264", "video/quicktime", "audio/mpeg", 640, 480 },
  { "720p_vp9",   TRUE,  "video/x-vp9",  "video/webm",      "audio/x-opus", 960, 720 },
  { "1080p_av1",  FALSE, "video/x-av1",  "video/quicktime", "audio/x-opus", 1920, 1080 },
  { "4k_hevc",    TRUE,  "video/x-h265", "video/quicktime", "audio/mpeg", 2880, 2160 },
};

static void
test_profile (gconstpointer data)
{
  const ProfileCase *c = data;
  g_autoptr(WeProfile) profile = builtin_profile (c->profile);
  g_autofree gchar *name = g_strdup_printf ("out-%s.%s", c->profile,
                                            we_profile_get_extension (profile));
  g_autofree gchar *out = tmp_path (name);
  const gchar *src = c->four_three ? fx.clip43 : fx.clip169;
  g_autoptr(GError) error = NULL;
  g_auto(Verified) v = { 0, };
  g_auto(Verified) s = { 0, };
  gint64 t0 = g_get_monotonic_time ();

  g_assert_true (transcode_full (src, out, profile, 0, 0, NULL, NULL, &error));
  g_assert_no_error (error);
  g_test_message ("%s took %.1f s", c->profile, (g_get_monotonic_time () - t0) / 1e6);

  discover (src, &s);
  discover (out, &v);
  g_assert_cmpstr (v.container, ==, c->container_caps);
  g_assert_cmpstr (v.video, ==, c->video_caps);
  g_assert_cmpint (v.width, ==, c->width);
  g_assert_cmpint (v.height, ==, c->height);
  g_assert_nonnull (v.audio);
  g_assert_true (g_str_has_prefix (v.audio, c->audio_caps));
  if (g_str_equal (c->audio_caps, "audio/mpeg"))
    g_assert_nonnull (strstr (v.audio, "mpegversion=(int)4"));
  g_test_message ("%s: source %.3f s, output %.3f s", c->profile, s.duration, v.duration);
  g_assert_cmpfloat (fabs (v.duration - s.duration), <=, DURATION_TOLERANCE);
}

static void
test_no_audio_source (void)
{
  g_autoptr(WeProfile) profile = builtin_profile ("480p_fast");
  g_autofree gchar *src = tmp_path ("noaudio.mp4");
  g_autofree gchar *out = tmp_path ("out-noaudio.mp4");
  g_autoptr(GError) error = NULL;
  g_auto(Verified) v = { 0, };

  make_clip (src, "--duration 1 --fps 10 --width 320 --height 180 --no-audio");
  g_assert_true (transcode_full (src, out, profile, 0, 0, NULL, NULL, &error));
  g_assert_no_error (error);
  discover (out, &v);
  g_assert_cmpstr (v.video, ==, "video/x-h264");
  g_assert_null (v.audio);
}

static void
test_range (void)
{
  g_autoptr(WeProfile) profile = builtin_profile ("480p_fast");
  g_autofree gchar *out = tmp_path ("out-range.mp4");
  g_autoptr(GError) error = NULL;
  g_auto(Verified) v = { 0, };

  g_assert_true (transcode_full (fx.clip_range, out, profile, 1.0, 1.0, NULL, NULL, &error));
  g_assert_no_error (error);
  discover (out, &v);
  g_test_message ("range output %.3f s", v.duration);
  g_assert_cmpstr (v.video, ==, "video/x-h264");
  g_assert_cmpint (v.height, ==, 480);
  g_assert_cmpfloat (fabs (v.duration - 1.0), <=, DURATION_TOLERANCE);
}

static void
test_progress (void)
{
  g_autoptr(WeProfile) profile = builtin_profile ("720p_h264");
  g_autofree gchar *out = tmp_path ("out-progress.mp4");
  g_autoptr(GError) error = NULL;
  ProgressLog log = { g_array_new (FALSE, FALSE, sizeof (gdouble)),
                      g_array_new (FALSE, FALSE, sizeof (gint64)), 0, NULL, 0 };
  gint64 t0 = g_get_monotonic_time ();
  gint64 prev;

  g_assert_true (transcode_full (fx.clip_long, out, profile, 0, 0, &log, NULL, &error));
  g_assert_no_error (error);
  g_test_message ("progress: %u callbacks in %.1f s, %" G_GUINT64_FORMAT " frames",
                  log.percents->len, (g_get_monotonic_time () - t0) / 1e6, log.frames);
  g_assert_cmpuint (log.percents->len, >=, 2);
  prev = t0;
  for (guint i = 0; i < log.percents->len; i++) {
    gint64 t = g_array_index (log.times, gint64, i);

    /* at least once a second (the probe runs before the first report) */
    if (i > 0)
      g_assert_cmpint (t - prev, <=, 1100000);
    prev = t;
    if (i > 0)
      g_assert_cmpfloat (g_array_index (log.percents, gdouble, i), >=,
                         g_array_index (log.percents, gdouble, i - 1));
  }
  g_assert_cmpfloat (g_array_index (log.percents, gdouble, log.percents->len - 1), ==, 100.0);
  g_assert_cmpuint (log.frames, ==, 300);
  g_array_unref (log.percents);
  g_array_unref (log.times);
}

static void
test_cancel (void)
{
  g_autoptr(WeProfile) profile = builtin_profile ("1080p_h264");
  g_autofree gchar *out = tmp_path ("out-cancel.mp4");
  g_autoptr(GError) error = NULL;
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  ProgressLog log = { g_array_new (FALSE, FALSE, sizeof (gdouble)),
                      g_array_new (FALSE, FALSE, sizeof (gint64)), 0, cancellable, 0 };
  gint64 ended;

  g_assert_false (transcode_full (fx.clip_long, out, profile, 0, 0, &log, cancellable, &error));
  ended = g_get_monotonic_time ();
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpint (log.cancelled_at, >, 0);
  g_test_message ("cancel took %.3f s", (ended - log.cancelled_at) / 1e6);
  g_assert_cmpint (ended - log.cancelled_at, <, G_USEC_PER_SEC);
  g_assert_false (g_file_test (out, G_FILE_TEST_EXISTS));
  g_array_unref (log.percents);
  g_array_unref (log.times);
}

static gboolean
cancel_cb (gpointer user_data)
{
  g_cancellable_cancel (G_CANCELLABLE (user_data));
  return G_SOURCE_REMOVE;
}

static gboolean
set_flag_cb (gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_REMOVE;
}

/* A cancel while the source is still being probed: the discoverer must not
 * be stopped mid-URI (that can hang the caller's thread for good), and
 * every attempt ends cancelled, promptly. */
static void
test_cancel_during_probe (void)
{
  g_autoptr(WeProfile) profile = builtin_profile ("480p_fast");
  g_autofree gchar *out = tmp_path ("out-cancel-probe.mp4");
  const guint delays_ms[] = { 0, 1, 2, 3, 5, 8, 12, 20, 35, 60 };
  g_autoptr(GSource) settle = NULL;
  gboolean settled = FALSE;

  for (guint i = 0; i < G_N_ELEMENTS (delays_ms); i++) {
    g_autoptr(GCancellable) cancellable = g_cancellable_new ();
    g_autoptr(GSource) timer = g_timeout_source_new (delays_ms[i]);
    g_autoptr(GError) error = NULL;
    gint64 started = g_get_monotonic_time ();

    g_source_set_callback (timer, cancel_cb, cancellable, NULL);
    g_source_attach (timer, fx.context);
    g_assert_false (transcode_full (fx.clip_long, out, profile, 0, 0, NULL, cancellable,
                                    &error));
    g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
    g_assert_cmpint (g_get_monotonic_time () - started, <, 2 * G_USEC_PER_SEC);
    g_source_destroy (timer);
  }
  /* the abandoned discoverers finish their URI and are stopped on this
   * context: give them the time, so nothing is left at exit */
  settle = g_timeout_source_new (1500);
  g_source_set_callback (settle, set_flag_cb, &settled, NULL);
  g_source_attach (settle, fx.context);
  while (!settled)
    g_main_context_iteration (fx.context, TRUE);
  g_assert_false (g_file_test (out, G_FILE_TEST_EXISTS));
}

/* ---- bad sources -------------------------------------------------------- */

typedef struct {
  const gchar **path;
  const gchar  *message;
} BadCase;

static const BadCase bad_cases[] = {
  { (const gchar **) &fx.not_media,  "not a media file" },
  { (const gchar **) &fx.truncated,  "truncated or corrupt" },
  { (const gchar **) &fx.audio_only, "no video stream" },
};

static void
test_bad_source (gconstpointer data)
{
  const BadCase *c = data;
  g_autoptr(WeProfile) profile = builtin_profile ("480p_fast");
  g_autofree gchar *out = tmp_path ("out-bad.mp4");
  g_autoptr(GError) error = NULL;
  g_autoptr(WeMediaInfo) info = NULL;

  info = probe (*c->path, &error);
  g_assert_null (info);
  g_assert_error (error, WE_ERROR, WE_ERROR_JOB_UNSUPPORTED_SOURCE);
  g_test_message ("probe: %s", error->message);
  g_assert_nonnull (strstr (error->message, c->message));
  g_clear_error (&error);

  g_assert_false (transcode_full (*c->path, out, profile, 0, 0, NULL, NULL, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_JOB_UNSUPPORTED_SOURCE);
  g_test_message ("transcode: %s", error->message);
  g_assert_nonnull (strstr (error->message, c->message));
  g_assert_cmpstr (we_error_code_to_string (error->code), ==, "WE-JOB-007");
  g_assert_false (g_file_test (out, G_FILE_TEST_EXISTS));
}

static void
test_missing_source (void)
{
  g_autofree gchar *missing = tmp_path ("does-not-exist.mp4");
  g_autoptr(GError) error = NULL;
  g_autoptr(WeMediaInfo) info = probe (missing, &error);

  g_assert_null (info);
  g_assert_error (error, WE_ERROR, WE_ERROR_JOB_FAILED);
}

/* ---- describe ----------------------------------------------------------- */

static void
test_describe (void)
{
  g_autoptr(WeProfile) profile = builtin_profile ("480p_fast");
  g_autofree gchar *uri = path_to_uri (fx.clip43);
  g_autofree gchar *out = tmp_path ("out-describe.mp4");
  WeEncodeRequest req = { "t", uri, out, profile, 0, 0 };
  g_autofree gchar *line = we_encoder_describe (fx.encoder, &req);
  const gchar *argv[] = { "/bin/sh", "-c", NULL, NULL };
  g_autofree gchar *err = NULL;
  g_autoptr(GError) error = NULL;
  gint status = 0;
  g_auto(Verified) v = { 0, };

  g_assert_nonnull (line);
  g_test_message ("%s", line);
  g_assert_true (g_str_has_prefix (line, "gst-launch-1.0 "));
  g_assert_nonnull (strstr (line, "x264enc"));
  g_assert_nonnull (strstr (line, "mp4mux"));
  argv[2] = line;
  g_assert_true (g_spawn_sync (NULL, (gchar **) argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL,
                               NULL, NULL, &err, &status, &error));
  g_assert_no_error (error);
  if (!g_spawn_check_wait_status (status, NULL))
    g_error ("gst-launch failed: %s", err);
  discover (out, &v);
  g_assert_cmpstr (v.video, ==, "video/x-h264");
  g_assert_cmpint (v.width, ==, 640);
  g_assert_cmpint (v.height, ==, 480);
  g_assert_nonnull (v.audio);

  /* ranges cannot be written for gst-launch; the line says so */
  req.start_s = 0.5;
  g_free (line);
  line = we_encoder_describe (fx.encoder, &req);
  g_assert_nonnull (strstr (line, "# range"));
}

/* ---- setup -------------------------------------------------------------- */

static void
load_module (void)
{
  const gchar *path = g_getenv ("WE_ENCODER_GST_MODULE");
  g_autofree gchar *fallback = NULL;
  WePluginGetDescriptorFunc get_descriptor = NULL;
  const WePluginDescriptor *d;
  g_autoptr(JsonObject) config = json_object_new ();
  g_autoptr(GError) error = NULL;
  GObject *obj;

  if (path == NULL) {
    const gchar *dir = g_getenv ("WE_PLUGIN_DIR");

    g_assert_nonnull (dir);
    fallback = g_build_filename (dir, "encoder", "gst", "libwe-encoder-gst.so", NULL);
    path = fallback;
  }
  fx.module = g_module_open (path, G_MODULE_BIND_LOCAL);
  if (fx.module == NULL)
    g_error ("cannot open %s: %s", path, g_module_error ());
  g_assert_true (g_module_symbol (fx.module, WE_PLUGIN_SYMBOL, (gpointer *) &get_descriptor));
  d = get_descriptor ();
  g_assert_cmpuint (d->protocol_version, ==, WE_PLUGIN_PROTOCOL_VERSION);
  obj = d->create (config, &error);
  g_assert_no_error (error);
  g_assert_true (WE_IS_ENCODER (obj));
  fx.encoder = WE_ENCODER (obj);
}

static void
make_fixtures (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree gchar *data = NULL;
  gsize len = 0;
  g_autofree guint8 *noise = g_malloc (64 * 1024);

  fx.tmpdir = g_dir_make_tmp ("we-encoder-gst-XXXXXX", &error);
  g_assert_no_error (error);
  fx.clip43 = tmp_path ("clip43.mp4");
  fx.clip169 = tmp_path ("clip169.mp4");
  fx.clip_range = tmp_path ("clip-range.mp4");
  fx.clip_long = tmp_path ("clip-long.mp4");
  fx.audio_only = tmp_path ("audio-only.mp4");
  fx.not_media = tmp_path ("noise.mp4");
  fx.truncated = tmp_path ("truncated.mp4");
  make_clip (fx.clip43, "--duration 1 --fps 10 --width 320 --height 240");
  make_clip (fx.clip169, "--duration 1 --fps 10 --width 320 --height 180");
  make_clip (fx.clip_range, "--duration 3 --fps 10 --width 320 --height 180 --gop 5");
  make_clip (fx.clip_long, "--duration 12 --fps 25 --width 320 --height 180");
  make_clip (fx.audio_only, "--duration 1 --no-video");

  for (gsize i = 0; i < 64 * 1024; i++)
    noise[i] = (guint8) g_random_int ();
  g_assert_true (g_file_set_contents (fx.not_media, (const gchar *) noise, 64 * 1024, &error));
  g_assert_true (g_file_get_contents (fx.clip169, &data, &len, &error));
  g_assert_true (g_file_set_contents (fx.truncated, data, len / 2, &error));
  g_assert_no_error (error);
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
  int ret;

  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);

  /* the API must work on a thread-default context, not the global one */
  fx.context = g_main_context_new ();
  g_main_context_push_thread_default (fx.context);

  load_module ();
  make_fixtures ();

  g_test_add_func ("/encoder-gst/module", test_module_descriptor);
  g_test_add_func ("/encoder-gst/probe", test_probe_ok);
  for (gsize i = 0; i < G_N_ELEMENTS (profile_cases); i++) {
    g_autofree gchar *path = g_strdup_printf ("/encoder-gst/profile/%s", profile_cases[i].profile);

    g_test_add_data_func (path, &profile_cases[i], test_profile);
  }
  g_test_add_func ("/encoder-gst/no-audio-source", test_no_audio_source);
  g_test_add_func ("/encoder-gst/range", test_range);
  g_test_add_func ("/encoder-gst/progress", test_progress);
  g_test_add_func ("/encoder-gst/cancel", test_cancel);
  g_test_add_func ("/encoder-gst/cancel-during-probe", test_cancel_during_probe);
  g_test_add_data_func ("/encoder-gst/bad-source/not-media", &bad_cases[0], test_bad_source);
  g_test_add_data_func ("/encoder-gst/bad-source/truncated", &bad_cases[1], test_bad_source);
  g_test_add_data_func ("/encoder-gst/bad-source/audio-only", &bad_cases[2], test_bad_source);
  g_test_add_func ("/encoder-gst/missing-source", test_missing_source);
  g_test_add_func ("/encoder-gst/describe", test_describe);

  ret = g_test_run ();

  remove_tmpdir ();
  g_clear_object (&fx.encoder);
  g_main_context_pop_thread_default (fx.context);
  g_main_context_unref (fx.context);
  /* the module stays loaded: its GType is registered statically */
  return ret;
}
