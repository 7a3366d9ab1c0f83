/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Test-only driver of the ladder packager, for the browser playback test
 * and the benchmark:
 *
 *   we-gst-ladder-tool SOURCE OUTDIR --ladder 720p:1280x720:2500,480p:854x480:1200
 *                      [--segment 2] [--fmp4] [--dash] [--no-hls] [--preset medium]
 *                      [--all-audio] [--key HEX32 --key-uri URI]
 *                      [--subtitle NAME:LANG:FILE.vtt ...]
 *
 * Prints the result as JSON on stdout; exits 1 with the error on stderr.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <gst/gst.h>
#include <webencode/webencode.h>

#include "we-gst-ladder.h"

typedef struct {
  gboolean           done;
  WeGstLadderResult *result;
  GError            *error;
} Waiter;

static void
done_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  Waiter *w = user_data;

  w->result = we_gst_ladder_finish (res, &w->error);
  w->done = TRUE;
}

/* "name:WxH:kbps[:maxkbps]" */
static gboolean
parse_ladder (WeProfile *profile, const gchar *spec, GError **error)
{
  g_auto(GStrv) rungs = g_strsplit (spec, ",", -1);

  for (guint i = 0; rungs[i] != NULL; i++) {
    g_auto(GStrv) f = g_strsplit (rungs[i], ":", -1);
    g_autoptr(WeProfileRung) rung = NULL;
    gint w = 0, h = 0;

    if (g_strv_length (f) < 3 || sscanf (f[1], "%dx%d", &w, &h) != 2) {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "bad rung \"%s\": want name:WxH:kbps[:maxkbps]", rungs[i]);
      return FALSE;
    }
    rung = we_profile_rung_new (f[0]);
    rung->width = w;
    rung->height = h;
    rung->video_bitrate_kbps = atoi (f[2]);
    /* spec §9.4.1: -maxrate is 1.1 × -b:v */
    rung->max_bitrate_kbps = f[3] != NULL ? atoi (f[3]) : rung->video_bitrate_kbps * 11 / 10;
    g_ptr_array_add (profile->ladder, g_steal_pointer (&rung));
  }
  return TRUE;
}

/* "NAME:LANG:PATH" (LANG may be empty); @fields keeps the strings */
static gboolean
parse_subtitles (GStrv specs, GArray *out, GPtrArray *fields, GError **error)
{
  for (guint i = 0; specs != NULL && specs[i] != NULL; i++) {
    gchar **f = g_strsplit (specs[i], ":", 3);
    WeGstLadderSubtitle s = { 0, };

    g_ptr_array_add (fields, f);
    if (g_strv_length (f) != 3) {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "bad subtitle \"%s\": want NAME:LANG:PATH", specs[i]);
      return FALSE;
    }
    s.name = f[0];
    s.language = *f[1] != '\0' ? f[1] : NULL;
    s.vtt_path = f[2];
    g_array_append_val (out, s);
  }
  return TRUE;
}

static gboolean
parse_key (const gchar *hex, guint8 *key, GError **error)
{
  if (hex == NULL || strlen (hex) != 32) {
    g_set_error_literal (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                         "--key wants 32 hex digits");
    return FALSE;
  }
  for (guint i = 0; i < 16; i++) {
    gint hi = g_ascii_xdigit_value (hex[2 * i]), lo = g_ascii_xdigit_value (hex[2 * i + 1]);

    if (hi < 0 || lo < 0) {
      g_set_error_literal (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                           "--key wants 32 hex digits");
      return FALSE;
    }
    key[i] = (guint8) (hi << 4 | lo);
  }
  return TRUE;
}

int
main (int argc, char **argv)
{
  g_autofree gchar *ladder = NULL;
  g_autofree gchar *preset = NULL;
  g_autofree gchar *uri = NULL;
  gdouble segment = 6;
  gboolean fmp4 = FALSE, dash = FALSE, no_hls = FALSE, all_audio = FALSE;
  gint threads = 0;
  g_autofree gchar *key_hex = NULL;
  g_autofree gchar *key_uri = NULL;
  g_auto(GStrv) subtitle_specs = NULL;
  g_autoptr(GArray) subtitles = g_array_new (FALSE, FALSE, sizeof (WeGstLadderSubtitle));
  g_autoptr(GPtrArray) subtitle_fields = g_ptr_array_new_with_free_func ((GDestroyNotify) g_strfreev);
  guint8 key[16];
  WeGstLadderExtras extras = { 0, };
  GOptionEntry entries[] = {
    { "ladder", 0, 0, G_OPTION_ARG_STRING, &ladder, "Rungs: name:WxH:kbps[:maxkbps],…", "LIST" },
    { "segment", 0, 0, G_OPTION_ARG_DOUBLE, &segment, "Segment duration in seconds", "S" },
    { "fmp4", 0, 0, G_OPTION_ARG_NONE, &fmp4, "HLS with fMP4 (CMAF) segments", NULL },
    { "dash", 0, 0, G_OPTION_ARG_NONE, &dash, "Also a DASH manifest", NULL },
    { "no-hls", 0, 0, G_OPTION_ARG_NONE, &no_hls, "No HLS output", NULL },
    { "preset", 0, 0, G_OPTION_ARG_STRING, &preset, "x264 preset (default medium, as ffmpeg)", "P" },
    { "threads", 0, 0, G_OPTION_ARG_INT, &threads, "Encoder threads (0 = auto)", "N" },
    { "all-audio", 0, 0, G_OPTION_ARG_NONE, &all_audio, "Every audio track (keep_all_tracks)", NULL },
    { "key", 0, 0, G_OPTION_ARG_STRING, &key_hex, "AES-128 key for the HLS segments", "HEX32" },
    { "key-uri", 0, 0, G_OPTION_ARG_STRING, &key_uri, "EXT-X-KEY URI", "URI" },
    { "subtitle", 0, 0, G_OPTION_ARG_STRING_ARRAY, &subtitle_specs, "A WebVTT rendition", "NAME:LANG:PATH" },
    { NULL }
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new ("SOURCE OUTDIR");
  g_autoptr(GError) error = NULL;
  g_autoptr(WeProfile) profile = we_profile_new ("ladder");
  g_autoptr(JsonObject) json = NULL;
  g_autoptr(JsonNode) node = NULL;
  g_autofree gchar *text = NULL;
  WeGstOptions options = { 0, FALSE };
  Waiter w = { 0, };

  /* no GStreamer option group: initialising from the option parser
   * updates the registry outside gst_init(), whose one-time allocations
   * the LeakSanitizer suppressions name */
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error) || argc != 3 || ladder == NULL) {
    g_printerr ("%s\n", error != NULL ? error->message : "usage: SOURCE OUTDIR --ladder LIST");
    return 2;
  }
  gst_init (NULL, NULL);
  if (!parse_ladder (profile, ladder, &error) ||
      (key_hex != NULL && !parse_key (key_hex, key, &error)) ||
      !parse_subtitles (subtitle_specs, subtitles, subtitle_fields, &error)) {
    g_printerr ("%s\n", error->message);
    return 2;
  }
  g_free (profile->preset);
  profile->preset = g_strdup (preset != NULL ? preset : "medium");
  profile->hls.enabled = !no_hls;
  profile->hls.segment_duration_s = segment;
  g_free (profile->hls.segment_type);
  profile->hls.segment_type = g_strdup (fmp4 ? "fmp4" : "ts");
  profile->dash.enabled = dash;
  profile->dash.segment_duration_s = segment;
  profile->audio.keep_all_tracks = all_audio;
  if (key_hex != NULL) {
    g_free (profile->hls.encryption);
    profile->hls.encryption = g_strdup ("aes-128");
    extras.key = key;
    extras.key_uri = key_uri;
  }
  extras.subtitles = (const WeGstLadderSubtitle *) (gpointer) subtitles->data;
  extras.n_subtitles = subtitles->len;
  options.threads = threads;

  uri = gst_uri_is_valid (argv[1]) ? g_strdup (argv[1]) : gst_filename_to_uri (argv[1], &error);
  if (uri == NULL) {
    g_printerr ("%s\n", error->message);
    return 2;
  }
  we_gst_ladder_async (uri, profile, argv[2], &options, &extras, NULL, NULL, NULL, done_cb, &w);
  while (!w.done)
    g_main_context_iteration (NULL, TRUE);
  if (w.result == NULL) {
    g_printerr ("ladder failed: %s\n", w.error->message);
    g_error_free (w.error);
    return 1;
  }
  json = we_gst_ladder_result_to_json (w.result);
  node = json_node_init_object (json_node_alloc (), json);
  text = json_to_string (node, TRUE);
  g_print ("%s\n", text);
  we_gst_ladder_result_free (w.result);
  return 0;
}
