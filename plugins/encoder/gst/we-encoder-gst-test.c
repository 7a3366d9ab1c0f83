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

#include "we-gst-test-util.h"

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
  gchar        *clip_tracks;      /* mkv, 6 s: audio and subtitles eng + fra */
  gchar        *clip_subs_short;  /* mkv, 2 s, subtitles eng */
  gchar        *clip_black;       /* mkv, 4 s, black, subtitles eng */
  gchar        *clip_langs;       /* mp4, 1 s, audio eng (440 Hz) + fra (660 Hz) */
  gchar        *clip_quiet;       /* mp4, 3 s, audio at -35 dBFS */
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

static WeMediaInfo *
probe (const gchar *path, GError **error)
{
  g_autofree gchar *uri = path_to_uri (path);
  WeGstTestWaiter w = { 0, };
  WeMediaInfo *info;

  we_encoder_probe_async (fx.encoder, uri, NULL, we_gst_test_waiter_cb, &w);
  we_gst_test_wait (&w, fx.context);
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
  WeGstTestWaiter w = { 0, };
  gboolean ok;

  we_encoder_transcode_async (fx.encoder, &req, log ? progress_cb : NULL, log, cancellable,
                              we_gst_test_waiter_cb, &w);
  we_gst_test_wait (&w, fx.context);
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

  we_gst_test_make_clip (src, "--duration 1 --fps 10 --width 320 --height 180 --no-audio");
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

/* The pipeline a weprogress posted from, caught by its debug log: the
 * module's pipelines are not reachable from here otherwise. */
static void
progress_log_fn (GstDebugCategory *category, GstDebugLevel level, const gchar *file,
                 const gchar *function, gint line, GObject *object, GstDebugMessage *message,
                 gpointer user_data)
{
  GstObject **pipeline = user_data;
  GstObject *top;
  GstObject *parent;

  if (object == NULL || !GST_IS_ELEMENT (object) ||
      g_strcmp0 (gst_debug_category_get_name (category), "weprogress") != 0)
    return;
  top = gst_object_ref (GST_OBJECT (object));
  while ((parent = gst_object_get_parent (top)) != NULL) {
    gst_object_unref (top);
    top = parent;
  }
  if (!g_atomic_pointer_compare_and_exchange (pipeline, NULL, top))
    gst_object_unref (top);
}

static void
test_progress (void)
{
  GstObject *pipeline = NULL;
  g_autoptr(GstIterator) it = NULL;
  GValue item = G_VALUE_INIT;
  guint n_progress = 0;
  g_autoptr(WeProfile) profile = builtin_profile ("720p_h264");
  g_autofree gchar *out = tmp_path ("out-progress.mp4");
  g_autoptr(GError) error = NULL;
  ProgressLog log = { g_array_new (FALSE, FALSE, sizeof (gdouble)),
                      g_array_new (FALSE, FALSE, sizeof (gint64)), 0, NULL, 0 };
  gint64 t0 = g_get_monotonic_time ();
  gint64 prev;

  gst_debug_remove_log_function (gst_debug_log_default);
  gst_debug_add_log_function (progress_log_fn, &pipeline, NULL);
  gst_debug_set_threshold_for_name ("weprogress", GST_LEVEL_LOG);
  g_assert_true (transcode_full (fx.clip_long, out, profile, 0, 0, &log, NULL, &error));
  gst_debug_unset_threshold_for_name ("weprogress");
  gst_debug_remove_log_function (progress_log_fn);
  gst_debug_add_log_function (gst_debug_log_default, NULL, NULL);
  g_assert_no_error (error);

  /* the pipeline that ran had its progress measured by a weprogress after
   * the encoder, which saw every frame the encoder reported */
  g_assert_nonnull (pipeline);
  it = gst_bin_iterate_recurse (GST_BIN (pipeline));
  while (gst_iterator_next (it, &item) == GST_ITERATOR_OK) {
    GstElement *e = g_value_get_object (&item);
    GstElementFactory *factory = gst_element_get_factory (e);

    if (factory != NULL &&
        g_strcmp0 (GST_OBJECT_NAME (factory), "weprogress") == 0) {
      guint64 frames = 0;
      guint64 position = 0;

      n_progress++;
      g_assert_cmpstr (GST_ELEMENT_NAME (e), ==, "progress");
      g_object_get (e, "frames", &frames, "position", &position, NULL);
      g_assert_cmpuint (frames, ==, 300);
      g_assert_cmpuint (position, >=, 9 * GST_SECOND);
    }
    g_value_reset (&item);
  }
  g_value_unset (&item);
  g_assert_cmpuint (n_progress, ==, 1);
  gst_object_unref (pipeline);
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
  g_auto(GStrv) envp = g_get_environ ();
  g_autofree gchar *registry = tmp_path ("describe-registry.bin");
  g_autofree gchar *err = NULL;
  g_autoptr(GError) error = NULL;
  gint status = 0;
  g_auto(Verified) v = { 0, };

  g_assert_nonnull (line);
  g_test_message ("%s", line);
  g_assert_true (g_str_has_prefix (line, "gst-launch-1.0 "));
  g_assert_nonnull (strstr (line, "x264enc"));
  g_assert_nonnull (strstr (line, "mp4mux"));
  g_assert_nonnull (strstr (line, "weprogress name=progress"));
  argv[2] = line;
  /* by hand, the line needs our elements' plugin (docs/architecture.md);
   * an ASan build of it loads only with the sanitizer runtimes first */
  envp = g_environ_setenv (envp, "GST_PLUGIN_PATH", g_getenv ("WE_GST_ELEMENTS_DIR"), TRUE);
  envp = g_environ_setenv (envp, "GST_REGISTRY", registry, TRUE);
  if (g_strcmp0 (g_getenv ("WE_SANITIZER_PRELOAD"), "") > 0) {
    envp = g_environ_setenv (envp, "LD_PRELOAD", g_getenv ("WE_SANITIZER_PRELOAD"), TRUE);
    envp = g_environ_setenv (envp, "ASAN_OPTIONS", "detect_leaks=0", TRUE);
  }
  g_assert_true (g_spawn_sync (NULL, (gchar **) argv, envp, G_SPAWN_STDOUT_TO_DEV_NULL, NULL,
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

/* ---- audio and subtitle tracks ------------------------------------------ */

/* One line per stream of @kind ("a", "s"): "stream|codec_name=aac|tag:language=eng|…",
 * lower-cased so Matroska's "TITLE" and MP4's "title" read alike */
static GStrv
ffprobe_streams (const gchar *path, const gchar *kind)
{
  g_autofree gchar *cmd = g_strdup_printf ("ffprobe -v error -select_streams %s -show_entries "
                                           "stream=codec_name:stream_tags=language,title "
                                           "-of compact %s", kind, path);
  g_autofree gchar *out = we_gst_test_run_command (cmd, NULL);
  g_autofree gchar *lower = g_ascii_strdown (g_strstrip (out), -1);

  if (*lower == '\0')
    return g_new0 (gchar *, 1);
  return g_strsplit (lower, "\n", -1);
}

static gchar *
ffmpeg_md5 (const gchar *path, const gchar *map)
{
  g_autofree gchar *cmd = g_strdup_printf ("ffmpeg -v error -i %s -map %s -c copy -f md5 -",
                                           path, map);
  gchar *out = we_gst_test_run_command (cmd, NULL);

  return g_strstrip (out);
}

/* Integrated loudness of the first audio stream after ffmpeg's ebur128. */
static gdouble
ffmpeg_lufs (const gchar *path)
{
  g_autofree gchar *cmd = g_strdup_printf ("ffmpeg -nostats -i %s -map 0:a:0 -af ebur128 "
                                           "-f null -", path);
  g_autofree gchar *err = NULL;
  g_autofree gchar *out = we_gst_test_run_command (cmd, &err);
  const gchar *summary = strstr (err, "Integrated loudness:");
  const gchar *i;

  g_assert_nonnull (summary);
  i = strstr (summary, "I:");
  g_assert_nonnull (i);
  return g_ascii_strtod (i + 2, NULL);
}

/* The cues of subtitle stream @index as SRT, markup dropped (ffmpeg dresses
 * tx3g in <font> tags). */
static gchar *
ffmpeg_cues (const gchar *path, guint index)
{
  g_autofree gchar *cmd = g_strdup_printf ("ffmpeg -v error -i %s -map 0:s:%u -f srt -", path,
                                           index);
  g_autofree gchar *out = we_gst_test_run_command (cmd, NULL);
  GString *plain = g_string_new (NULL);
  gboolean in_tag = FALSE;

  for (const gchar *p = out; *p != '\0'; p++) {
    if (*p == '<')
      in_tag = TRUE;
    else if (*p == '>' && in_tag)
      in_tag = FALSE;
    else if (!in_tag && *p != '\r')
      g_string_append_c (plain, *p);
  }
  return g_string_free (plain, FALSE);
}

static WeProfile *
custom_profile (const gchar *container, const gchar *video_codec, const gchar *audio_codec)
{
  g_autoptr(WeProfile) base = builtin_profile ("480p_fast");
  WeProfile *p = we_profile_copy (base);

  g_free (p->container);
  p->container = g_strdup (container);
  g_free (p->video_codec);
  p->video_codec = g_strdup (video_codec);
  g_free (p->audio_codec);
  p->audio_codec = g_strdup (audio_codec);
  /* small and fast: the tests are about the other streams */
  p->width = 320;
  p->height = 240;
  g_free (p->preset);
  p->preset = g_strdup ("ultrafast");
  return p;
}

static void
set_subtitle_mode (WeProfile *p, const gchar *mode)
{
  g_free (p->subtitles.mode);
  p->subtitles.mode = g_strdup (mode);
}

static gboolean
transcode_mode (const gchar *input, const gchar *output, const WeProfile *profile,
                WeEncodeMode mode, GError **error)
{
  g_autofree gchar *uri = path_to_uri (input);
  WeEncodeRequest req = { "test", uri, output, profile, 0, 0, mode };
  WeGstTestWaiter w = { 0, };
  gboolean ok;

  we_encoder_transcode_async (fx.encoder, &req, NULL, NULL, NULL, we_gst_test_waiter_cb, &w);
  we_gst_test_wait (&w, fx.context);
  ok = we_encoder_transcode_finish (fx.encoder, w.result, error);
  g_object_unref (w.result);
  return ok;
}

static void
log_collect (const gchar *domain, GLogLevelFlags level, const gchar *message, gpointer user_data)
{
  g_string_append_printf (user_data, "%s\n", message);
  g_test_message ("%s", message);
}

static void
test_probe_tracks (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(WeMediaInfo) info = probe (fx.clip_tracks, &error);
  g_autoptr(JsonObject) json = NULL;
  g_autoptr(WeMediaInfo) back = NULL;
  const WeMediaTrack *t;

  g_assert_no_error (error);
  g_assert_nonnull (info->audio_tracks);
  g_assert_nonnull (info->subtitle_tracks);
  g_assert_cmpuint (info->audio_tracks->len, ==, 2);
  g_assert_cmpuint (info->subtitle_tracks->len, ==, 2);
  for (guint i = 0; i < 2; i++) {
    const gchar *lang = i == 0 ? "eng" : "fra";
    const gchar *title = i == 0 ? "English" : "French";

    t = g_ptr_array_index (info->audio_tracks, i);
    g_assert_cmpint (t->index, ==, i);
    g_assert_cmpstr (t->codec, ==, "aac");
    g_assert_cmpstr (t->language, ==, lang);
    g_assert_cmpstr (t->title, ==, title);
    g_assert_cmpint (t->channels, ==, 2);
    g_assert_cmpint (t->rate, ==, 48000);
    t = g_ptr_array_index (info->subtitle_tracks, i);
    g_assert_cmpint (t->index, ==, i);
    g_assert_cmpstr (t->codec, ==, "text");
    g_assert_cmpstr (t->language, ==, lang);
    g_assert_cmpstr (t->title, ==, title);
  }

  /* JSON both ways, and from an older worker without the lists */
  json = we_media_info_to_json (info);
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (json, "audio_tracks")),
                    ==, 2);
  g_assert_false (json_object_has_member (
    json_array_get_object_element (json_object_get_array_member (json, "subtitle_tracks"), 0),
    "channels"));
  back = we_media_info_new_from_json (json, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (back->subtitle_tracks->len, ==, 2);
  t = g_ptr_array_index (back->audio_tracks, 1);
  g_assert_cmpstr (t->language, ==, "fra");
  g_assert_cmpint (t->rate, ==, 48000);
  json_object_remove_member (json, "audio_tracks");
  json_object_remove_member (json, "subtitle_tracks");
  g_clear_pointer (&back, we_media_info_free);
  back = we_media_info_new_from_json (json, &error);
  g_assert_no_error (error);
  g_assert_null (back->audio_tracks);
  g_assert_null (back->subtitle_tracks);
  g_assert_cmpstr (back->audio_codec, ==, "aac");
}

static const gchar expected_cues_eng[] =
  "1\n00:00:00,500 --> 00:00:01,500\nCue 1\n\n"
  "2\n00:00:02,500 --> 00:00:03,500\nCue 2\n\n"
  "3\n00:00:04,500 --> 00:00:05,500\nCue 3\n\n";
static const gchar expected_cues_fra[] =
  "1\n00:00:00,500 --> 00:00:01,500\nCue 1 fra\n\n"
  "2\n00:00:02,500 --> 00:00:03,500\nCue 2 fra\n\n"
  "3\n00:00:04,500 --> 00:00:05,500\nCue 3 fra\n\n";

static void
test_subtitle_passthrough (gconstpointer data)
{
  const gchar *container = data;
  g_autoptr(WeProfile) profile = custom_profile (container, "h264", "aac");
  g_autofree gchar *name = g_strdup_printf ("out-subs.%s", container);
  g_autofree gchar *out = tmp_path (name);
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) streams = NULL;
  g_autofree gchar *cues0 = NULL;
  g_autofree gchar *cues1 = NULL;
  gboolean mkv = g_str_equal (container, "mkv");

  set_subtitle_mode (profile, "passthrough");
  g_assert_true (transcode_full (fx.clip_tracks, out, profile, 0, 0, NULL, NULL, &error));
  g_assert_no_error (error);
  streams = ffprobe_streams (out, "s");
  g_assert_cmpuint (g_strv_length (streams), ==, 2);
  g_test_message ("%s | %s", streams[0], streams[1]);
  g_assert_nonnull (strstr (streams[0], mkv ? "codec_name=subrip" : "codec_name=mov_text"));
  g_assert_nonnull (strstr (streams[0], "tag:language=eng"));
  /* Matroska writes ISO 639-2/B */
  g_assert_nonnull (strstr (streams[1], mkv ? "tag:language=fre" : "tag:language=fra"));
  if (mkv)
    g_assert_nonnull (strstr (streams[1], "tag:title=french"));
  cues0 = ffmpeg_cues (out, 0);
  cues1 = ffmpeg_cues (out, 1);
  g_assert_cmpstr (cues0, ==, expected_cues_eng);
  g_assert_cmpstr (cues1, ==, expected_cues_fra);
}

/* WebM takes WebVTT only, which webmmux cannot write: dropped, encode goes on */
static void
test_subtitle_webm (void)
{
  g_autoptr(WeProfile) profile = custom_profile ("webm", "vp9", "opus");
  g_autofree gchar *out = tmp_path ("out-subs.webm");
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) subs = NULL;
  g_auto(GStrv) audio = NULL;

  set_subtitle_mode (profile, "passthrough");
  g_assert_true (transcode_full (fx.clip_subs_short, out, profile, 0, 0, NULL, NULL, &error));
  g_assert_no_error (error);
  subs = ffprobe_streams (out, "s");
  audio = ffprobe_streams (out, "a");
  g_assert_cmpuint (g_strv_length (subs), ==, 0);
  g_assert_cmpuint (g_strv_length (audio), ==, 1);
}

/* Counts the pixels brighter than 160 in the lower (or upper) half of the
 * frame at @t_s. */
static guint
bright_pixels (const gchar *path, gdouble t_s, gboolean lower)
{
  g_autofree gchar *gray = tmp_path ("frame.gray");
  g_autofree gchar *cmd = g_strdup_printf ("ffmpeg -v error -y -ss %.2f -i %s -frames:v 1 "
                                           "-vf crop=iw:ih/2:0:%s,format=gray -f rawvideo %s",
                                           t_s, path, lower ? "ih/2" : "0", gray);
  g_autofree gchar *out = we_gst_test_run_command (cmd, NULL);
  g_autofree gchar *raw = NULL;
  gsize len = 0;
  guint n = 0;

  raw = we_gst_test_read_file (gray, &len);
  /* half of a 320x240 frame */
  g_assert_cmpuint (len, ==, 320 * 120);
  for (gsize i = 0; i < len; i++)
    n += (guint8) raw[i] > 160;
  g_unlink (gray);
  return n;
}

static void
test_subtitle_burn (void)
{
  g_autoptr(WeProfile) profile = custom_profile ("mp4", "h264", "aac");
  g_autofree gchar *out = tmp_path ("out-burn.mp4");
  g_autoptr(GError) error = NULL;
  guint during;
  guint between;
  guint upper;

  set_subtitle_mode (profile, "burn");
  profile->subtitles.burn_track = 0;
  g_assert_true (transcode_full (fx.clip_black, out, profile, 0, 0, NULL, NULL, &error));
  g_assert_no_error (error);
  /* cue 1 is shown from 0.5 to 1.5 s, cue 2 from 2.5 s */
  during = bright_pixels (out, 1.0, TRUE);
  upper = bright_pixels (out, 1.0, FALSE);
  between = bright_pixels (out, 2.0, TRUE);
  g_test_message ("bright pixels: %u during a cue, %u above it, %u between cues", during, upper,
                  between);
  g_assert_cmpuint (during, >, 50);
  g_assert_cmpuint (upper, ==, 0);
  g_assert_cmpuint (between, ==, 0);
  g_assert_cmpuint (bright_pixels (out, 3.0, TRUE), >, 50);

  /* a track the source does not have */
  g_unlink (out);
  profile->subtitles.burn_track = 1;
  g_assert_false (transcode_full (fx.clip_black, out, profile, 0, 0, NULL, NULL, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_JOB_UNSUPPORTED_SOURCE);
  g_assert_cmpstr (error->message, ==,
                   "subtitles.burn_track 1 but the source has 1 subtitle track");
  g_assert_false (g_file_test (out, G_FILE_TEST_EXISTS));
}

typedef struct {
  const gchar *container;
  const gchar *video;
  const gchar *audio;
} KeepCase;

static const KeepCase keep_cases[] = {
  { "mp4", "h264", "aac" },
  { "mkv", "h264", "aac" },
  { "webm", "vp9", "opus" },
};

static void
test_audio_keep_all (gconstpointer data)
{
  const KeepCase *c = data;
  g_autoptr(WeProfile) profile = custom_profile (c->container, c->video, c->audio);
  g_autofree gchar *name = g_strdup_printf ("out-keep.%s", c->container);
  g_autofree gchar *out = tmp_path (name);
  g_autofree gchar *codec = g_strdup_printf ("codec_name=%s", c->audio);
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) streams = NULL;
  gboolean matroska = !g_str_equal (c->container, "mp4");

  profile->audio.keep_all_tracks = TRUE;
  g_assert_true (transcode_full (fx.clip_langs, out, profile, 0, 0, NULL, NULL, &error));
  g_assert_no_error (error);
  streams = ffprobe_streams (out, "a");
  g_assert_cmpuint (g_strv_length (streams), ==, 2);
  g_test_message ("%s | %s", streams[0], streams[1]);
  g_assert_nonnull (strstr (streams[0], codec));
  g_assert_nonnull (strstr (streams[1], codec));
  g_assert_nonnull (strstr (streams[0], "tag:language=eng"));
  g_assert_nonnull (strstr (streams[1], matroska ? "tag:language=fre" : "tag:language=fra"));
  if (matroska) {
    /* MP4 has no track titles */
    g_assert_nonnull (strstr (streams[0], "tag:title=english"));
    g_assert_nonnull (strstr (streams[1], "tag:title=french"));
  }

  /* the default keeps the first stream only */
  if (g_str_equal (c->container, "mp4")) {
    g_auto(GStrv) one = NULL;

    g_unlink (out);
    profile->audio.keep_all_tracks = FALSE;
    g_assert_true (transcode_full (fx.clip_langs, out, profile, 0, 0, NULL, NULL, &error));
    g_assert_no_error (error);
    one = ffprobe_streams (out, "a");
    g_assert_cmpuint (g_strv_length (one), ==, 1);
    g_assert_nonnull (strstr (one[0], "tag:language=eng"));
  }
}

static void
test_audio_codec (gconstpointer data)
{
  const gchar *codec = data;
  g_autoptr(WeProfile) profile = custom_profile ("mp4", "h264", codec);
  g_autofree gchar *name = g_strdup_printf ("out-codec-%s.mp4", codec);
  g_autofree gchar *out = tmp_path (name);
  g_autofree gchar *want = g_strdup_printf ("codec_name=%s", codec);
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) streams = NULL;

  g_assert_true (transcode_full (fx.clip169, out, profile, 0, 0, NULL, NULL, &error));
  g_assert_no_error (error);
  streams = ffprobe_streams (out, "a");
  g_assert_cmpuint (g_strv_length (streams), ==, 1);
  g_assert_nonnull (strstr (streams[0], want));
}

static void
test_audio_passthrough (void)
{
  g_autoptr(WeProfile) profile = custom_profile ("mp4", "h264", "aac");
  g_autofree gchar *out = tmp_path ("out-pass.mp4");
  g_autofree gchar *out_audio = tmp_path ("out-pass-audio.mkv");
  g_autofree gchar *src_md5 = ffmpeg_md5 (fx.clip169, "0:a:0");
  g_autofree gchar *out_md5 = NULL;
  g_autofree gchar *audio_md5 = NULL;
  g_autofree gchar *encoded_md5 = NULL;
  g_autoptr(GString) log = g_string_new (NULL);
  g_autoptr(GError) error = NULL;
  guint handler;

  profile->audio.passthrough_when_compatible = TRUE;
  handler = g_log_set_handler ("WeEncoderGst", G_LOG_LEVEL_MESSAGE, log_collect, log);
  g_assert_true (transcode_full (fx.clip169, out, profile, 0, 0, NULL, NULL, &error));
  g_assert_no_error (error);
  /* split & stitch's audio task copies too */
  g_assert_true (transcode_mode (fx.clip169, out_audio, profile, WE_ENCODE_MODE_AUDIO, &error));
  g_assert_no_error (error);
  g_log_remove_handler ("WeEncoderGst", handler);
  /* no encoder in either pipeline, and the very same packets */
  g_assert_nonnull (strstr (log->str, "audio stream 0 copied as it is (aac passthrough)"));
  g_assert_nonnull (strstr (strstr (log->str, "(aac passthrough)") + 1, "(aac passthrough)"));
  out_md5 = ffmpeg_md5 (out, "0:a:0");
  audio_md5 = ffmpeg_md5 (out_audio, "0:a:0");
  g_test_message ("audio packets: source %s, output %s, audio task %s", src_md5, out_md5,
                  audio_md5);
  g_assert_cmpstr (out_md5, ==, src_md5);
  g_assert_cmpstr (audio_md5, ==, src_md5);

  /* the control: re-encoding changes the packets */
  g_unlink (out);
  profile->audio.passthrough_when_compatible = FALSE;
  g_assert_true (transcode_full (fx.clip169, out, profile, 0, 0, NULL, NULL, &error));
  g_assert_no_error (error);
  encoded_md5 = ffmpeg_md5 (out, "0:a:0");
  g_assert_cmpstr (encoded_md5, !=, src_md5);

  /* opus in a source of AAC is no match: encoded */
  {
    g_autoptr(WeProfile) opus = custom_profile ("mp4", "h264", "opus");
    g_auto(GStrv) streams = NULL;

    g_unlink (out);
    opus->audio.passthrough_when_compatible = TRUE;
    g_assert_true (transcode_full (fx.clip169, out, opus, 0, 0, NULL, NULL, &error));
    g_assert_no_error (error);
    streams = ffprobe_streams (out, "a");
    g_assert_nonnull (strstr (streams[0], "codec_name=opus"));
  }
}

static void
test_audio_normalize (void)
{
  g_autoptr(WeProfile) profile = custom_profile ("mp4", "h264", "aac");
  g_autofree gchar *out = tmp_path ("out-loud.mp4");
  g_autofree gchar *out_audio = tmp_path ("out-loud-audio.mkv");
  g_autoptr(GError) error = NULL;
  g_autofree gchar *tags = NULL;
  gdouble src_lufs = ffmpeg_lufs (fx.clip_quiet);
  gdouble out_lufs;
  gdouble audio_lufs;

  profile->audio.normalize = TRUE;
  profile->audio.normalize_lufs = -23;
  /* copying cannot change the level: normalising wins */
  profile->audio.passthrough_when_compatible = TRUE;
  g_assert_true (transcode_full (fx.clip_quiet, out, profile, 0, 0, NULL, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (transcode_mode (fx.clip_quiet, out_audio, profile, WE_ENCODE_MODE_AUDIO,
                                 &error));
  g_assert_no_error (error);
  out_lufs = ffmpeg_lufs (out);
  audio_lufs = ffmpeg_lufs (out_audio);
  g_test_message ("loudness: source %.1f LUFS, output %.1f LUFS, audio task %.1f LUFS",
                  src_lufs, out_lufs, audio_lufs);
  g_assert_cmpfloat (fabs (src_lufs - -35), <, 2);
  g_assert_cmpfloat (fabs (out_lufs - -23), <=, 1);
  g_assert_cmpfloat (fabs (audio_lufs - -23), <=, 1);

  /* what was measured and applied travels with the output */
  {
    g_autofree gchar *cmd = g_strdup_printf ("ffprobe -v error -show_entries format_tags=comment "
                                             "-of default=nw=1:nk=1 %s", out);

    tags = we_gst_test_run_command (cmd, NULL);
  }
  g_test_message ("comment: %s", tags);
  g_assert_nonnull (strstr (tags, "webencode loudness: audio 0 measured -3"));
  g_assert_nonnull (strstr (tags, "target -23.0 LUFS"));
}

static void
test_describe_subtitles (void)
{
  g_autoptr(WeProfile) profile = custom_profile ("mkv", "h264", "aac");
  g_autofree gchar *uri = path_to_uri (fx.clip_tracks);
  g_autofree gchar *out = tmp_path ("out-describe.mkv");
  WeEncodeRequest req = { "t", uri, out, profile, 0, 0 };
  g_autofree gchar *line = NULL;

  set_subtitle_mode (profile, "passthrough");
  line = we_encoder_describe (fx.encoder, &req);
  g_test_message ("%s", line);
  g_assert_nonnull (strstr (line, "src. ! text/x-raw ! queue ! capssetter"));
  g_assert_nonnull (strstr (line, "mux.subtitle_0"));

  set_subtitle_mode (profile, "burn");
  g_free (line);
  line = we_encoder_describe (fx.encoder, &req);
  g_test_message ("%s", line);
  g_assert_nonnull (strstr (line, "subtitleoverlay name=burn"));
  g_assert_nonnull (strstr (line, "src. ! text/x-raw ! queue ! burn.subtitle_sink"));
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
  we_gst_test_make_clip (fx.clip43, "--duration 1 --fps 10 --width 320 --height 240");
  we_gst_test_make_clip (fx.clip169, "--duration 1 --fps 10 --width 320 --height 180");
  we_gst_test_make_clip (fx.clip_range, "--duration 3 --fps 10 --width 320 --height 180 --gop 5");
  we_gst_test_make_clip (fx.clip_long, "--duration 12 --fps 25 --width 320 --height 180");
  we_gst_test_make_clip (fx.audio_only, "--duration 1 --no-video");
  fx.clip_tracks = tmp_path ("clip-tracks.mkv");
  fx.clip_subs_short = tmp_path ("clip-subs-short.mkv");
  fx.clip_black = tmp_path ("clip-black.mkv");
  fx.clip_langs = tmp_path ("clip-langs.mp4");
  fx.clip_quiet = tmp_path ("clip-quiet.mp4");
  we_gst_test_make_clip (fx.clip_tracks, "--container mkv --duration 6 --fps 10 --width 320 --height 180 "
                             "--subtitle-languages eng,fra --audio-languages eng,fra");
  we_gst_test_make_clip (fx.clip_subs_short, "--container mkv --duration 2 --fps 10 --width 320 "
                                 "--height 180 --subtitles");
  we_gst_test_make_clip (fx.clip_black, "--container mkv --duration 4 --fps 10 --width 320 --height 240 "
                            "--pattern black --subtitles");
  we_gst_test_make_clip (fx.clip_langs, "--duration 1 --fps 10 --width 320 --height 180 "
                            "--audio-languages eng,fra");
  we_gst_test_make_clip (fx.clip_quiet, "--duration 3 --fps 10 --width 320 --height 180 "
                            "--audio-volume -35");

  for (gsize i = 0; i < 64 * 1024; i++)
    noise[i] = (guint8) g_random_int ();
  g_assert_true (g_file_set_contents (fx.not_media, (const gchar *) noise, 64 * 1024, &error));
  g_assert_true (g_file_get_contents (fx.clip169, &data, &len, &error));
  g_assert_true (g_file_set_contents (fx.truncated, data, len / 2, &error));
  g_assert_no_error (error);
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
  g_test_add_func ("/encoder-gst/probe-tracks", test_probe_tracks);
  g_test_add_data_func ("/encoder-gst/subtitles/passthrough/mkv", "mkv",
                        test_subtitle_passthrough);
  g_test_add_data_func ("/encoder-gst/subtitles/passthrough/mp4", "mp4",
                        test_subtitle_passthrough);
  g_test_add_func ("/encoder-gst/subtitles/passthrough/webm", test_subtitle_webm);
  g_test_add_func ("/encoder-gst/subtitles/burn", test_subtitle_burn);
  g_test_add_func ("/encoder-gst/subtitles/describe", test_describe_subtitles);
  for (gsize i = 0; i < G_N_ELEMENTS (keep_cases); i++) {
    g_autofree gchar *path = g_strdup_printf ("/encoder-gst/audio/keep-all/%s",
                                              keep_cases[i].container);

    g_test_add_data_func (path, &keep_cases[i], test_audio_keep_all);
  }
  g_test_add_data_func ("/encoder-gst/audio/codec/aac", "aac", test_audio_codec);
  g_test_add_data_func ("/encoder-gst/audio/codec/opus", "opus", test_audio_codec);
  g_test_add_func ("/encoder-gst/audio/passthrough", test_audio_passthrough);
  g_test_add_func ("/encoder-gst/audio/normalize", test_audio_normalize);

  ret = g_test_run ();

  we_gst_test_remove_tree (fx.tmpdir);
  g_clear_object (&fx.encoder);
  g_main_context_pop_thread_default (fx.context);
  g_main_context_unref (fx.context);
  /* the module stays loaded: its GType is registered statically */
  return ret;
}
