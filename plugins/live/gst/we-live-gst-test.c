/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * live-gst, loaded through the plugin host as the daemon loads it, with
 * real publishers: ffmpeg over RTMP and over SRT (encrypted) at the same
 * time, a wrong key, live HLS read back and probed, telemetry, a publisher
 * killed with SIGKILL and the recording it leaves, stop_ingest(); the
 * host's options (record, latency_mode, ladder), recording switched at
 * run time, late frames and the live ABR read back.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "plugin/we-plugin-host.h"

#define RTMP_KEY        "rtmp-key-good-0123"
#define SRT_KEY         "srt-key-good-4567"
#define SRT_PASSPHRASE  "passphrase-0123456789"

typedef struct {
  GMutex lock;
  GCond  cond;
  GHashTable *started;   /* stream_id -> monotonic µs */
  GHashTable *ended;     /* stream_id -> "reason\nrecording dir" */
  GHashTable *telemetry; /* stream_id -> first sample (JsonObject) */
  GHashTable *first_tm;  /* stream_id -> monotonic µs of the first sample */
  guint refused;
} State;

static State state;

static void
decider (const WePublishAttempt *attempt, WePublishDecision *decision, gpointer user_data)
{
  g_assert_null (attempt->stream_id);
  if (g_str_equal (attempt->protocol, "rtmp") && g_str_equal (attempt->stream_key, RTMP_KEY)) {
    decision->accept = TRUE;
    decision->stream_id = g_strdup ("cam-rtmp");
  } else if (g_str_equal (attempt->protocol, "srt") &&
             g_str_equal (attempt->stream_key, SRT_KEY)) {
    decision->accept = TRUE;
    decision->stream_id = g_strdup ("cam-srt");
    decision->passphrase = g_strdup (SRT_PASSPHRASE);
  } else if (g_str_equal (attempt->stream_key, "video-only-key")) {
    decision->accept = TRUE;
    decision->stream_id = g_strdup ("cam-video");
  } else if (g_str_equal (attempt->stream_key, "abr-key")) {
    decision->accept = TRUE;
    decision->stream_id = g_strdup ("cam-abr");
  } else if (g_str_equal (attempt->stream_key, "mpeg2-key")) {
    decision->accept = TRUE;
    decision->stream_id = g_strdup ("cam-mpeg2");
  } else {
    decision->reason = g_strdup ("unknown key");
    g_mutex_lock (&state.lock);
    state.refused++;
    g_cond_broadcast (&state.cond);
    g_mutex_unlock (&state.lock);
  }
}

static void
on_started (GObject *engine, const gchar *id, const gchar *protocol, const gchar *remote,
            gpointer user_data)
{
  g_assert_true (g_str_has_prefix (remote, "127.0.0.1:"));
  g_mutex_lock (&state.lock);
  g_hash_table_replace (state.started, g_strdup (id), g_memdup2 (&(gint64){ g_get_monotonic_time () },
                                                                  sizeof (gint64)));
  g_cond_broadcast (&state.cond);
  g_mutex_unlock (&state.lock);
}

static void
on_ended (GObject *engine, const gchar *id, const gchar *reason, const gchar *recording,
          gpointer user_data)
{
  g_mutex_lock (&state.lock);
  g_hash_table_replace (state.ended, g_strdup (id),
                        g_strdup_printf ("%s\n%s", reason, recording ? recording : ""));
  g_cond_broadcast (&state.cond);
  g_mutex_unlock (&state.lock);
}

static void
on_telemetry (GObject *engine, const gchar *id, JsonObject *sample, gpointer user_data)
{
  g_mutex_lock (&state.lock);
  if (!g_hash_table_contains (state.first_tm, id))
    g_hash_table_insert (state.first_tm, g_strdup (id),
                         g_memdup2 (&(gint64){ g_get_monotonic_time () }, sizeof (gint64)));
  /* keep the latest: the first second may hold only part of the stream */
  g_hash_table_replace (state.telemetry, g_strdup (id), json_object_ref (sample));
  g_cond_broadcast (&state.cond);
  g_mutex_unlock (&state.lock);
}

/* waits until @table holds @key; FALSE after @timeout_s */
static gboolean
wait_for (GHashTable *table, const gchar *key, gdouble timeout_s)
{
  gint64 deadline = g_get_monotonic_time () + timeout_s * G_USEC_PER_SEC;
  gboolean found;

  g_mutex_lock (&state.lock);
  while (!(found = g_hash_table_contains (table, key)) &&
         g_cond_wait_until (&state.cond, &state.lock, deadline))
    ;
  found = g_hash_table_contains (table, key);
  g_mutex_unlock (&state.lock);
  return found;
}

static gint64
lookup_time (GHashTable *table, const gchar *key)
{
  gint64 t;

  g_mutex_lock (&state.lock);
  t = *(gint64 *) g_hash_table_lookup (table, key);
  g_mutex_unlock (&state.lock);
  return t;
}

/* H.264 without audio */
static GSubprocess *
publish_video_only (const gchar *url)
{
  g_autoptr(GError) error = NULL;
  GSubprocess *proc = g_subprocess_new (
    G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_SILENCE, &error, "ffmpeg",
    "-nostdin", "-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi", "-i",
    "testsrc2=size=160x120:rate=25", "-t", "30", "-c:v", "libx264", "-preset", "ultrafast",
    "-g", "25", "-pix_fmt", "yuv420p", "-an", "-f", "flv", url, NULL);

  g_assert_no_error (error);
  return proc;
}

static GSubprocess *
publish_mpeg2 (const gchar *url)
{
  g_autoptr(GError) error = NULL;
  GSubprocess *proc = g_subprocess_new (
    G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_SILENCE, &error, "ffmpeg",
    "-nostdin", "-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi", "-i",
    "testsrc2=size=160x120:rate=25", "-t", "20", "-c:v", "mpeg2video", "-f", "mpegts", url, NULL);

  g_assert_no_error (error);
  return proc;
}

static GSubprocess *
publish (const gchar *url, const gchar *format)
{
  g_autoptr(GError) error = NULL;
  GSubprocess *proc = g_subprocess_new (
    G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_SILENCE, &error, "ffmpeg",
    "-nostdin", "-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi", "-i",
    "testsrc2=size=320x240:rate=25", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
    "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "25",
    "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "64k", "-f", format, url, NULL);

  g_assert_no_error (error);
  return proc;
}

/* H.264 (a keyframe every second) and AAC of a given size; its encoder
 * drops one frame in 25 (the 11th of each second), leaving a gap in the
 * timestamps as a publisher that loses frames does */
static GSubprocess *
publish_sized (const gchar *url, const gchar *size)
{
  g_autoptr(GError) error = NULL;
  g_autofree gchar *video = g_strdup_printf ("testsrc2=size=%s:rate=25", size);
  GSubprocess *proc = g_subprocess_new (
    G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_SILENCE, &error, "ffmpeg",
    "-nostdin", "-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi", "-i", video,
    "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100", "-t", "60",
    "-vf", "select='not(eq(mod(n\\,25)\\,10))'", "-vsync", "passthrough",
    "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency",
    "-force_key_frames", "expr:gte(t,n_forced)", "-g", "50",
    "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "64k", "-f", "flv", url, NULL);

  g_assert_no_error (error);
  return proc;
}

static gchar *
run (GError **error, const gchar *const *argv)
{
  g_autoptr(GSubprocess) proc = g_subprocess_newv (argv, G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                                           G_SUBPROCESS_FLAGS_STDERR_SILENCE,
                                                   error);
  gchar *out = NULL;

  if (proc == NULL || !g_subprocess_communicate_utf8 (proc, NULL, NULL, &out, NULL, error))
    return NULL;
  return out;
}

static gdouble
probe_duration (const gchar *path)
{
  g_autoptr(GError) error = NULL;
  const gchar *argv[] = { "ffprobe", "-v", "error", "-show_entries", "format=duration", "-of",
                          "default=nw=1:nk=1", path, NULL };
  g_autofree gchar *out = run (&error, argv);

  g_assert_no_error (error);
  return g_ascii_strtod (out, NULL);
}

/* the first timestamp of a file */
static gdouble
probe_start (const gchar *path)
{
  g_autoptr(GError) error = NULL;
  const gchar *argv[] = { "ffprobe", "-v", "error", "-show_entries", "format=start_time", "-of",
                          "default=nw=1:nk=1", path, NULL };
  g_autofree gchar *out = run (&error, argv);

  g_assert_no_error (error);
  return g_ascii_strtod (out, NULL);
}

typedef struct {
  gint64  sequence;
  guint   segments;
  gdouble max_extinf, min_extinf;
  gchar  *last;
} Playlist;

static gboolean
read_playlist (const gchar *dir, Playlist *pl)
{
  g_autofree gchar *path = g_build_filename (dir, "index.m3u8", NULL);
  g_autofree gchar *text = NULL;
  g_auto(GStrv) lines = NULL;

  memset (pl, 0, sizeof *pl);
  pl->min_extinf = 1e9;
  if (!g_file_get_contents (path, &text, NULL, NULL))
    return FALSE;
  g_assert_true (g_str_has_prefix (text, "#EXTM3U"));
  lines = g_strsplit (text, "\n", -1);
  for (guint i = 0; lines[i]; i++) {
    if (g_str_has_prefix (lines[i], "#EXT-X-MEDIA-SEQUENCE:")) {
      pl->sequence = g_ascii_strtoll (lines[i] + 22, NULL, 10);
    } else if (g_str_has_prefix (lines[i], "#EXTINF:")) {
      gdouble d = g_ascii_strtod (lines[i] + 8, NULL);

      pl->max_extinf = MAX (pl->max_extinf, d);
      pl->min_extinf = MIN (pl->min_extinf, d);
      pl->segments++;
    } else if (lines[i][0] != '\0' && lines[i][0] != '#') {
      g_free (pl->last);
      pl->last = g_build_filename (dir, lines[i], NULL);
    }
  }
  return TRUE;
}

static void
check_telemetry (const gchar *id, gboolean srt)
{
  JsonObject *t;
  gint64 started = lookup_time (state.started, id);

  g_assert_true (wait_for (state.first_tm, id, 5));
  /* the first sample comes a second after the first media, which follows
   * the publish within a few hundred ms */
  g_assert_cmpint (lookup_time (state.first_tm, id) - started, <, 3 * G_USEC_PER_SEC);
  g_usleep (1200 * 1000);
  g_mutex_lock (&state.lock);
  t = json_object_ref (g_hash_table_lookup (state.telemetry, id));
  g_mutex_unlock (&state.lock);
  g_test_message ("%s telemetry: video %.0f kbit/s, audio %.0f kbit/s, %.1f fps, GOP %.2f s, "
                  "A/V %.0f ms", id,
                  json_object_get_double_member (t, "video_bitrate_kbps"),
                  json_object_get_double_member (t, "audio_bitrate_kbps"),
                  json_object_get_double_member (t, "fps"),
                  json_object_get_double_member (t, "keyframe_interval_s"),
                  json_object_get_double_member_with_default (t, "av_offset_ms", -1));
  g_assert_cmpstr (json_object_get_string_member (t, "stream_id"), ==, id);
  g_assert_cmpfloat (json_object_get_double_member (t, "fps"), >, 15);
  g_assert_cmpfloat (json_object_get_double_member (t, "fps"), <, 40);
  g_assert_cmpfloat (json_object_get_double_member (t, "video_bitrate_kbps"), >, 20);
  g_assert_cmpfloat (json_object_get_double_member (t, "audio_bitrate_kbps"), >, 20);
  g_assert_cmpfloat (json_object_get_double_member (t, "audio_bitrate_kbps"), <, 200);
  g_assert_cmpfloat (json_object_get_double_member (t, "keyframe_interval_s"), >, 0.8);
  g_assert_cmpfloat (json_object_get_double_member (t, "keyframe_interval_s"), <, 1.2);
  g_assert_false (json_object_get_null_member (t, "av_offset_ms"));
  g_assert_cmpfloat (ABS (json_object_get_double_member (t, "av_offset_ms")), <, 1000);
  g_assert_true (json_object_has_member (t, "srt_rtt_ms") == srt);
  json_object_unref (t);
}

static gdouble
check_recording (const gchar *dir, gboolean complete)
{
  g_autofree gchar *manifest = g_build_filename (dir, "recording.json", NULL);
  g_autofree gchar *joined = g_build_filename (dir, "all.ts", NULL);
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(GString) bytes = g_string_new (NULL);
  JsonObject *root;
  JsonArray *segments;
  gdouble total, probed;

  json_parser_load_from_file (parser, manifest, &error);
  g_assert_no_error (error);
  root = json_node_get_object (json_parser_get_root (parser));
  g_assert_true (json_object_get_boolean_member (root, "complete") == complete);
  segments = json_object_get_array_member (root, "segments");
  g_assert_cmpuint (json_array_get_length (segments), >=, 2);
  total = json_object_get_double_member (root, "duration_s");
  for (guint i = 0; i < json_array_get_length (segments); i++) {
    JsonObject *seg = json_array_get_object_element (segments, i);
    g_autofree gchar *path = g_build_filename (dir, json_object_get_string_member (seg, "file"),
                                               NULL);
    g_autofree gchar *data = NULL;
    gsize len;

    g_assert_true (g_file_get_contents (path, &data, &len, NULL));
    g_string_append_len (bytes, data, len);
  }
  g_assert_true (g_file_set_contents (joined, bytes->str, bytes->len, NULL));
  probed = probe_duration (joined);
  g_test_message ("recording %s: manifest %.2f s, ffprobe %.2f s", dir, total, probed);
  g_assert_cmpfloat (ABS (probed - total), <, 1.0);
  return total;
}

static JsonObject *
config_func (const gchar *plugin_id, gpointer user_data)
{
  JsonObject *config = json_object_new ();

  json_object_set_int_member (config, "rtmp_port", 0);
  json_object_set_int_member (config, "srt_port", 0);
  json_object_set_string_member (config, "address", "127.0.0.1");
  json_object_set_string_member (config, "output_dir", user_data);
  json_object_set_int_member (config, "segment_s", 1);
  json_object_set_int_member (config, "playlist_length", 6);
  json_object_set_int_member (config, "idle_timeout_s", 5);
  return config;
}

static void
test_two_publishers (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree gchar *out = g_dir_make_tmp ("we-live-gst-XXXXXX", &error);
  g_autofree gchar *manifest = g_build_filename (g_getenv ("WE_PLUGIN_DIR"), "we-live-gst.plugin",
                                                 NULL);
  g_autoptr(WePluginHost) host = we_plugin_host_new ();
  g_autoptr(GSubprocess) rtmp = NULL, srt = NULL, wrong = NULL, mpeg2 = NULL, video = NULL;
  g_autofree gchar *url = NULL, *live_rtmp = NULL, *live_srt = NULL;
  g_auto(GStrv) ended = NULL;
  Playlist a, b;
  WeLiveEngine *engine;
  gint64 killed_at, seq_before, second_started;
  gdouble recorded, sent, start_before;

  g_assert_no_error (error);
  we_plugin_host_set_config_func (host, config_func, out, NULL);
  g_assert_true (we_plugin_host_load_manifest (host, manifest, &error));
  g_assert_no_error (error);
  engine = WE_LIVE_ENGINE (we_plugin_host_get_instance (host, "live-gst"));
  g_assert_nonnull (engine);
  g_signal_connect (engine, "stream-started", G_CALLBACK (on_started), NULL);
  g_signal_connect (engine, "stream-ended", G_CALLBACK (on_ended), NULL);
  g_signal_connect (engine, "telemetry", G_CALLBACK (on_telemetry), NULL);
  we_live_engine_set_publish_decider (engine, decider, NULL, NULL);
  g_assert_true (we_live_engine_start (engine, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (we_live_engine_get_port (engine, "rtmp"), >, 0);
  g_assert_cmpuint (we_live_engine_get_port (engine, "srt"), >, 0);

  url = g_strdup_printf ("rtmp://127.0.0.1:%u/live/" RTMP_KEY,
                         we_live_engine_get_port (engine, "rtmp"));
  rtmp = publish (url, "flv");
  g_clear_pointer (&url, g_free);
  url = g_strdup_printf ("srt://127.0.0.1:%u?streamid=publish:" SRT_KEY
                         "&passphrase=" SRT_PASSPHRASE,
                         we_live_engine_get_port (engine, "srt"));
  srt = publish (url, "mpegts");
  g_clear_pointer (&url, g_free);
  url = g_strdup_printf ("rtmp://127.0.0.1:%u/live/not-a-key",
                         we_live_engine_get_port (engine, "rtmp"));
  wrong = publish (url, "flv");
  g_clear_pointer (&url, g_free);
  url = g_strdup_printf ("srt://127.0.0.1:%u?streamid=publish:mpeg2-key",
                         we_live_engine_get_port (engine, "srt"));
  mpeg2 = publish_mpeg2 (url);
  g_clear_pointer (&url, g_free);
  url = g_strdup_printf ("rtmp://127.0.0.1:%u/live/video-only-key",
                         we_live_engine_get_port (engine, "rtmp"));
  video = publish_video_only (url);

  g_assert_true (wait_for (state.started, "cam-rtmp", 10));
  g_assert_true (wait_for (state.started, "cam-srt", 10));
  /* the wrong key: refused by the decider, its publisher gives up */
  g_assert_true (g_subprocess_wait_check (wrong, NULL, NULL) == FALSE);
  g_assert_cmpuint (state.refused, >=, 1);
  g_assert_false (g_hash_table_contains (state.started, "not-a-key"));
  /* MPEG-2 video is refused with a reason, the publisher is sent away */
  g_assert_true (wait_for (state.ended, "cam-mpeg2", 10));
  g_assert_true (g_str_has_prefix (g_hash_table_lookup (state.ended, "cam-mpeg2"),
                                   "unsupported codec video/mpeg"));
  g_subprocess_force_exit (mpeg2);
  g_subprocess_wait (mpeg2, NULL, NULL);

  check_telemetry ("cam-rtmp", FALSE);
  check_telemetry ("cam-srt", TRUE);

  /* the live HLS of both advances, segments of ~segment_s */
  live_rtmp = g_build_filename (out, "cam-rtmp", "live", NULL);
  live_srt = g_build_filename (out, "cam-srt", "live", NULL);
  g_usleep (5 * G_USEC_PER_SEC);
  g_assert_true (read_playlist (live_rtmp, &a));
  g_assert_true (read_playlist (live_srt, &b));
  g_assert_cmpuint (a.segments, >=, 3);
  g_assert_cmpuint (b.segments, >=, 3);
  g_assert_cmpfloat (a.max_extinf, <, 1.6);
  g_assert_cmpfloat (a.min_extinf, >, 0.5);
  g_assert_cmpfloat (b.max_extinf, <, 1.6);
  g_assert_cmpfloat (b.min_extinf, >, 0.5);
  /* a segment of each plays on its own */
  g_assert_cmpfloat (probe_duration (a.last), >, 0.5);
  g_assert_cmpfloat (probe_duration (b.last), >, 0.5);
  /* a publisher without audio is refused with a reason, not left
   * hanging */
  {
    g_assert_true (wait_for (state.ended, "cam-video", 1));
    g_assert_true (g_str_has_prefix (g_hash_table_lookup (state.ended, "cam-video"),
                                     "unsupported stream: no audio track"));
    g_subprocess_force_exit (video);
    g_subprocess_wait (video, NULL, NULL);
  }
  {
    gint64 seq_a = a.sequence, seq_b = b.sequence;

    g_free (a.last);
    g_free (b.last);
    g_usleep (2500 * 1000);
    g_assert_true (read_playlist (live_rtmp, &a));
    g_assert_true (read_playlist (live_srt, &b));
    g_assert_cmpint (a.sequence, >, seq_a);
    g_assert_cmpint (b.sequence, >, seq_b);
    g_assert_cmpuint (a.segments, <=, 6);
    g_free (b.last);
  }

  /* the RTMP publisher dies and comes back within the idle timeout: the
   * same pipeline goes on, HLS and recording with later timestamps */
  start_before = probe_start (a.last);
  seq_before = a.sequence;
  g_clear_pointer (&a.last, g_free);
  g_subprocess_send_signal (rtmp, SIGKILL);
  killed_at = g_get_monotonic_time ();
  sent = (killed_at - lookup_time (state.started, "cam-rtmp")) / (gdouble) G_USEC_PER_SEC;
  g_subprocess_wait (rtmp, NULL, NULL);
  g_clear_object (&rtmp);
  g_usleep (1500 * 1000);
  g_assert_false (g_hash_table_contains (state.ended, "cam-rtmp"));
  g_mutex_lock (&state.lock);
  g_hash_table_remove (state.started, "cam-rtmp");
  g_mutex_unlock (&state.lock);
  g_clear_pointer (&url, g_free);
  url = g_strdup_printf ("rtmp://127.0.0.1:%u/live/" RTMP_KEY,
                         we_live_engine_get_port (engine, "rtmp"));
  rtmp = publish (url, "flv");
  g_clear_pointer (&url, g_free);
  g_assert_true (wait_for (state.started, "cam-rtmp", 10));
  second_started = lookup_time (state.started, "cam-rtmp");
  g_usleep (4 * G_USEC_PER_SEC);
  g_assert_true (read_playlist (live_rtmp, &a));
  g_test_message ("after the takeover: media sequence %" G_GINT64_FORMAT " (was %" G_GINT64_FORMAT
                  "), newest segment starts at %.2f s (was %.2f s)", a.sequence, seq_before,
                  probe_start (a.last), start_before);
  g_assert_cmpint (a.sequence, >, seq_before);
  g_assert_cmpfloat (probe_start (a.last), >, start_before + 2);
  g_assert_cmpfloat (a.max_extinf, <, 1.6);
  g_assert_cmpfloat (probe_duration (a.last), >, 0.5);
  g_clear_pointer (&a.last, g_free);

  /* a third publisher of the key while the second is still connected
   * takes over at once; the second is sent away */
  g_mutex_lock (&state.lock);
  g_hash_table_remove (state.started, "cam-rtmp");
  g_mutex_unlock (&state.lock);
  {
    g_autoptr(GSubprocess) second = g_steal_pointer (&rtmp);
    gint64 takeover_at = g_get_monotonic_time ();

    url = g_strdup_printf ("rtmp://127.0.0.1:%u/live/" RTMP_KEY,
                           we_live_engine_get_port (engine, "rtmp"));
    rtmp = publish (url, "flv");
    g_clear_pointer (&url, g_free);
    g_assert_true (wait_for (state.started, "cam-rtmp", 10));
    g_assert_false (g_subprocess_wait_check (second, NULL, NULL));
    sent += (lookup_time (state.started, "cam-rtmp") - second_started) / (gdouble) G_USEC_PER_SEC;
    g_test_message ("live takeover after %.2f s", (lookup_time (state.started, "cam-rtmp") -
                                                   takeover_at) / (gdouble) G_USEC_PER_SEC);
  }
  g_usleep (2 * G_USEC_PER_SEC);
  g_assert_false (g_hash_table_contains (state.ended, "cam-rtmp"));

  /* ... and dies for good: after the idle timeout the stream ends, its
   * recording holds what both publishers sent */
  g_subprocess_send_signal (rtmp, SIGKILL);
  killed_at = g_get_monotonic_time ();
  sent += (killed_at - lookup_time (state.started, "cam-rtmp")) / (gdouble) G_USEC_PER_SEC;
  g_assert_true (wait_for (state.ended, "cam-rtmp", 10));
  ended = g_strsplit (g_hash_table_lookup (state.ended, "cam-rtmp"), "\n", 2);
  g_test_message ("cam-rtmp ended: %s", ended[0]);
  g_assert_cmpstr (ended[0], ==, "disconnected");
  /* the idle timeout passed before */
  g_assert_cmpint (g_get_monotonic_time () - killed_at, >=, 4 * G_USEC_PER_SEC);
  recorded = check_recording (ended[1], TRUE);
  g_test_message ("cam-rtmp: sent about %.2f s, recorded %.2f s", sent, recorded);
  g_assert_cmpfloat (ABS (recorded - sent), <, 1.0);
  g_clear_pointer (&ended, g_strfreev);

  /* the SRT stream is ended by the host */
  g_assert_true (we_live_engine_stop_ingest (engine, "cam-srt", &error));
  g_assert_no_error (error);
  g_assert_false (we_live_engine_stop_ingest (engine, "no-such", &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_STR_NOT_FOUND);
  g_clear_error (&error);
  g_assert_true (wait_for (state.ended, "cam-srt", 10));
  ended = g_strsplit (g_hash_table_lookup (state.ended, "cam-srt"), "\n", 2);
  g_assert_cmpstr (ended[0], ==, "stopped");
  check_recording (ended[1], TRUE);
  g_subprocess_wait (srt, NULL, NULL);

  we_live_engine_stop (engine);
  g_clear_object (&host);
  {
    const gchar *argv[] = { "rm", "-rf", out, NULL };
    g_autofree gchar *rm = run (&error, argv);

    g_assert_no_error (error);
  }
}

static JsonObject *
latest_sample (const gchar *id)
{
  JsonObject *t;

  g_mutex_lock (&state.lock);
  t = g_hash_table_lookup (state.telemetry, id);
  if (t != NULL)
    json_object_ref (t);
  g_mutex_unlock (&state.lock);
  g_assert_nonnull (t);
  return t;
}

static gboolean
set_recording (WeLiveEngine *engine, const gchar *id, gboolean enabled)
{
  gboolean ok = FALSE;

  g_signal_emit_by_name (engine, "set-recording", id, enabled, &ok);
  return ok;
}

static JsonObject *
load_manifest (const gchar *dir, JsonParser *parser)
{
  g_autofree gchar *path = g_build_filename (dir, "recording.json", NULL);
  g_autoptr(GError) error = NULL;

  json_parser_load_from_file (parser, path, &error);
  g_assert_no_error (error);
  return json_node_get_object (json_parser_get_root (parser));
}

/* the fragments the recording under @rec_root (one session folder) lists */
static guint
count_fragments (const gchar *rec_root)
{
  g_autoptr(GDir) dir = g_dir_open (rec_root, 0, NULL);
  const gchar *name = dir != NULL ? g_dir_read_name (dir) : NULL;
  g_autofree gchar *path = name != NULL ? g_build_filename (rec_root, name, "recording.json",
                                                            NULL) : NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  JsonNode *root;

  if (path == NULL || !json_parser_load_from_file (parser, path, NULL))
    return 0;
  root = json_parser_get_root (parser);
  return json_array_get_length (json_object_get_array_member (json_node_get_object (root),
                                                              "segments"));
}

/* waits (up to 10 s: a loaded machine) for the recording's fragment
 * number @n to open: the recording has media from then on */
static void
wait_fragments (const gchar *rec_root, guint n)
{
  gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;

  while (count_fragments (rec_root) < n) {
    g_assert_cmpint (g_get_monotonic_time (), <, deadline);
    g_usleep (100 * 1000);
  }
}

/* the variants of a master playlist: "name WxH BANDWIDTH CODECS" */
static GPtrArray *
read_master (const gchar *path)
{
  g_autofree gchar *text = NULL;
  g_auto(GStrv) lines = NULL;
  GPtrArray *variants = g_ptr_array_new_with_free_func (g_free);
  g_autofree gchar *inf = NULL;

  g_assert_true (g_file_get_contents (path, &text, NULL, NULL));
  g_assert_true (g_str_has_prefix (text, "#EXTM3U"));
  lines = g_strsplit (text, "\n", -1);
  for (guint i = 0; lines[i]; i++) {
    if (g_str_has_prefix (lines[i], "#EXT-X-STREAM-INF:")) {
      g_free (inf);
      inf = g_strdup (lines[i] + 18);
    } else if (inf != NULL && lines[i][0] != '\0' && lines[i][0] != '#') {
      g_autoptr(GRegex) re = g_regex_new ("^BANDWIDTH=(\\d+),RESOLUTION=(\\d+x\\d+),"
                                          "CODECS=\"(avc1\\.[0-9a-f]{6},mp4a\\.40\\.2)\"$",
                                          0, 0, NULL);
      g_autoptr(GMatchInfo) match = NULL;
      g_autofree gchar *bw = NULL, *res = NULL, *codecs = NULL;

      g_assert_true (g_regex_match (re, inf, 0, &match));
      bw = g_match_info_fetch (match, 1);
      res = g_match_info_fetch (match, 2);
      codecs = g_match_info_fetch (match, 3);
      g_assert_cmpint (g_ascii_strtoll (bw, NULL, 10), >, 10000);
      g_assert_true (g_str_has_suffix (lines[i], "/index.m3u8"));
      g_ptr_array_add (variants, g_strdup_printf ("%.*s %s", (gint) (strlen (lines[i]) - 11),
                                                  lines[i], res));
      g_clear_pointer (&inf, g_free);
    }
  }
  return variants;
}

/* Options from the host (no recording at first, low latency, a ladder of
 * which one rung would upscale), the recording switched on, off and on
 * again at run time, a publisher that stalls (late frames), the live ABR
 * read back and compared across renditions. */
static void
test_abr_recording (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree gchar *out = g_dir_make_tmp ("we-live-gst-XXXXXX", &error);
  g_autofree gchar *manifest = g_build_filename (g_getenv ("WE_PLUGIN_DIR"), "we-live-gst.plugin",
                                                 NULL);
  g_autoptr(WePluginHost) host = we_plugin_host_new ();
  g_autoptr(GSubprocess) pub = NULL;
  g_autoptr(JsonObject) options = json_object_new ();
  g_autoptr(JsonObject) t1 = NULL, t2 = NULL, t3 = NULL;
  g_autoptr(GPtrArray) variants = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autofree gchar *url = NULL, *live = NULL, *rec_root = NULL, *stale = NULL;
  g_autofree gchar *stale_dir = NULL, *master = NULL;
  g_auto(GStrv) ended = NULL;
  JsonArray *ladder = json_array_new ();
  const gchar *rungs[][4] = { { "r180", "320", "180", "300" }, { "r144", "256", "144", "200" },
                              { "r720", "1280", "720", "2000" } };
  const gchar *names[] = { "source", "r180", "r144" };
  Playlist before[3], after[3];
  JsonObject *root;
  JsonArray *spans;
  WeLiveEngine *engine;
  gboolean ok = FALSE;
  gdouble span_total = 0, recorded;
  guint fragments;

  g_assert_no_error (error);
  we_plugin_host_set_config_func (host, config_func, out, NULL);
  g_assert_true (we_plugin_host_load_manifest (host, manifest, &error));
  g_assert_no_error (error);
  engine = WE_LIVE_ENGINE (we_plugin_host_get_instance (host, "live-gst"));
  g_signal_connect (engine, "stream-started", G_CALLBACK (on_started), NULL);
  g_signal_connect (engine, "stream-ended", G_CALLBACK (on_ended), NULL);
  g_signal_connect (engine, "telemetry", G_CALLBACK (on_telemetry), NULL);
  we_live_engine_set_publish_decider (engine, decider, NULL, NULL);
  g_assert_true (we_live_engine_start (engine, &error));
  g_assert_no_error (error);

  for (guint i = 0; i < G_N_ELEMENTS (rungs); i++) {
    JsonObject *r = json_object_new ();

    json_object_set_string_member (r, "name", rungs[i][0]);
    json_object_set_int_member (r, "width", g_ascii_strtoll (rungs[i][1], NULL, 10));
    json_object_set_int_member (r, "height", g_ascii_strtoll (rungs[i][2], NULL, 10));
    json_object_set_int_member (r, "video_bitrate_kbps", g_ascii_strtoll (rungs[i][3], NULL, 10));
    json_array_add_object_element (ladder, r);
  }
  json_object_set_boolean_member (options, "record", FALSE);
  json_object_set_string_member (options, "latency_mode", "low");
  json_object_set_array_member (options, "ladder", ladder);
  g_signal_emit_by_name (engine, "set-stream-options", "cam-abr", options, &ok);
  g_assert_true (ok);
  g_assert_false (set_recording (engine, "cam-abr", TRUE)); /* not live yet */

  /* an earlier session's live HLS goes when a new session starts */
  live = g_build_filename (out, "cam-abr", "live", NULL);
  stale_dir = g_build_filename (live, "old_rung", NULL);
  g_assert_cmpint (g_mkdir_with_parents (stale_dir, 0755), ==, 0);
  stale = g_build_filename (stale_dir, "index.m3u8", NULL);
  g_assert_true (g_file_set_contents (stale, "#EXTM3U\n", -1, NULL));

  url = g_strdup_printf ("rtmp://127.0.0.1:%u/live/abr-key",
                         we_live_engine_get_port (engine, "rtmp"));
  pub = publish_sized (url, "480x270");
  g_assert_true (wait_for (state.started, "cam-abr", 10));
  g_assert_false (g_file_test (stale_dir, G_FILE_TEST_EXISTS));
  /* (a segment is written once the next one is complete) */
  g_usleep (4500 * 1000);

  /* record: false: no recording yet */
  rec_root = g_build_filename (out, "cam-abr", "rec", NULL);
  g_assert_false (g_file_test (rec_root, G_FILE_TEST_EXISTS));
  t1 = latest_sample ("cam-abr");
  g_assert_false (json_object_get_boolean_member (t1, "recording"));
  g_assert_cmpint (json_object_get_int_member (t1, "bytes_in"), >, 10000);
  /* (a loaded machine may already make a publisher fall behind) */
  g_assert_cmpint (json_object_get_int_member (t1, "late_frames"), >=, 0);
  g_assert_cmpint (json_object_get_int_member (t1, "dropped_frames"), >=, 0);

  /* the live ABR: a master with the source and the two rungs that do not
   * upscale the 480x270 source, at its aspect ratio */
  master = g_build_filename (live, "index.m3u8", NULL);
  variants = read_master (master);
  g_assert_cmpuint (variants->len, ==, 3);
  g_assert_cmpstr (variants->pdata[0], ==, "source 480x270");
  g_assert_cmpstr (variants->pdata[1], ==, "r180 320x180");
  g_assert_cmpstr (variants->pdata[2], ==, "r144 256x144");
  for (guint i = 0; i < 3; i++) {
    g_autofree gchar *dir = g_build_filename (live, names[i], NULL);

    g_assert_true (read_playlist (dir, &before[i]));
  }

  /* recording on at run time */
  g_assert_true (set_recording (engine, "cam-abr", TRUE));
  wait_fragments (rec_root, 1);
  g_usleep (2500 * 1000);
  t2 = latest_sample ("cam-abr");
  g_assert_true (json_object_get_boolean_member (t2, "recording"));
  g_assert_cmpint (json_object_get_int_member (t2, "bytes_in"), >,
                   json_object_get_int_member (t1, "bytes_in"));
  g_assert_true (set_recording (engine, "cam-abr", FALSE));
  g_usleep (1500 * 1000);

  /* the publisher stalls for 2.5 s, then sends what it holds: late */
  kill (atoi (g_subprocess_get_identifier (pub)), SIGSTOP);
  g_usleep (2500 * 1000);
  kill (atoi (g_subprocess_get_identifier (pub)), SIGCONT);
  g_usleep (1500 * 1000);
  /* on again: the same session's folder, fragments numbered on */
  fragments = count_fragments (rec_root);
  g_assert_true (set_recording (engine, "cam-abr", TRUE));
  wait_fragments (rec_root, fragments + 1);
  g_usleep (2500 * 1000);
  t3 = latest_sample ("cam-abr");
  g_test_message ("cam-abr telemetry: bytes_in %" G_GINT64_FORMAT ", late %" G_GINT64_FORMAT
                  ", dropped %" G_GINT64_FORMAT, json_object_get_int_member (t3, "bytes_in"),
                  json_object_get_int_member (t3, "late_frames"),
                  json_object_get_int_member (t3, "dropped_frames"));
  g_assert_cmpint (json_object_get_int_member (t3, "late_frames"), >,
                   json_object_get_int_member (t2, "late_frames") + 10);
  g_assert_cmpint (json_object_get_int_member (t3, "bytes_in"), >,
                   json_object_get_int_member (t2, "bytes_in"));
  /* the publisher's dropped frames: one a second */
  g_assert_cmpint (json_object_get_int_member (t3, "dropped_frames"), >,
                   json_object_get_int_member (t1, "dropped_frames") + 5);

  /* every rendition went on; low latency: 1 s segments, 3 in the list;
   * the renditions cut at the same keyframes */
  for (guint i = 0; i < 3; i++) {
    g_autofree gchar *dir = g_build_filename (live, names[i], NULL);

    g_assert_true (read_playlist (dir, &after[i]));
    g_test_message ("%s: sequence %" G_GINT64_FORMAT " -> %" G_GINT64_FORMAT ", %u segments, "
                    "EXTINF %.2f..%.2f", names[i], before[i].sequence, after[i].sequence,
                    after[i].segments, after[i].min_extinf, after[i].max_extinf);
    g_assert_cmpint (after[i].sequence, >, before[i].sequence + 3);
    g_assert_cmpuint (after[i].segments, <=, 3);
    g_assert_cmpfloat (after[i].max_extinf, <, 1.6);
    g_assert_cmpint (ABS ((after[i].sequence - before[i].sequence) -
                          (after[0].sequence - before[0].sequence)), <=, 1);
    g_assert_cmpfloat (ABS (after[i].max_extinf - after[0].max_extinf), <, 0.1);
    g_assert_cmpfloat (probe_duration (after[i].last), >, 0.5);
    g_free (before[i].last);
    g_free (after[i].last);
  }

  g_assert_true (we_live_engine_stop_ingest (engine, "cam-abr", &error));
  g_assert_true (wait_for (state.ended, "cam-abr", 10));
  ended = g_strsplit (g_hash_table_lookup (state.ended, "cam-abr"), "\n", 2);
  g_assert_cmpstr (ended[0], ==, "stopped");
  g_assert_true (g_str_has_prefix (ended[1], rec_root));
  /* two spans, end to end in the fragments */
  root = load_manifest (ended[1], parser);
  {
    g_autoptr(JsonNode) node = json_node_init_object (json_node_alloc (), root);
    g_autofree gchar *text = json_to_string (node, FALSE);

    g_test_message ("cam-abr recording: %s", text);
  }
  spans = json_object_get_array_member (root, "spans");
  g_assert_cmpuint (json_array_get_length (spans), ==, 2);
  g_assert_false (json_object_get_boolean_member (root, "recording"));
  /* every fragment finalized, the one each stop closed included */
  for (guint i = 0; i < json_array_get_length (json_object_get_array_member (root, "segments"));
       i++)
    g_assert_true (json_object_get_boolean_member (
      json_array_get_object_element (json_object_get_array_member (root, "segments"), i),
      "closed"));
  for (guint i = 0; i < 2; i++) {
    JsonObject *span = json_array_get_object_element (spans, i);

    span_total += json_object_get_double_member (span, "end_s") -
                  json_object_get_double_member (span, "start_s");
  }
  g_assert_cmpfloat (json_object_get_double_member (json_array_get_object_element (spans, 1),
                                                    "start_s"), >,
                     json_object_get_double_member (json_array_get_object_element (spans, 0),
                                                    "end_s") + 3);
  recorded = check_recording (ended[1], TRUE);
  g_test_message ("cam-abr: spans %.2f s, recorded %.2f s", span_total, recorded);
  g_assert_cmpfloat (ABS (recorded - span_total), <, 1.0);
  g_assert_cmpfloat (span_total, >, 4);
  g_assert_cmpfloat (span_total, <, 9);

  g_subprocess_force_exit (pub);
  we_live_engine_stop (engine);
  g_clear_object (&host);
  {
    const gchar *argv[] = { "rm", "-rf", out, NULL };
    g_autofree gchar *rm = run (&error, argv);

    g_assert_no_error (error);
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_mutex_init (&state.lock);
  g_cond_init (&state.cond);
  state.started = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  state.ended = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  state.telemetry = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                           (GDestroyNotify) json_object_unref);
  state.first_tm = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_test_add_func ("/live-gst/two-publishers", test_two_publishers);
  g_test_add_func ("/live-gst/abr-recording", test_abr_recording);
  return g_test_run ();
}
