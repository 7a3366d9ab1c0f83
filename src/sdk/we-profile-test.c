/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <math.h>

#include "webencode/we-error.h"
#include "webencode/we-profile.h"

static JsonObject *
parse_object (const gchar *text)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;

  g_assert_true (json_parser_load_from_data (parser, text, -1, &error));
  g_assert_no_error (error);
  return json_object_ref (json_node_get_object (json_parser_get_root (parser)));
}

static gchar *
to_string (const WeProfile *profile)
{
  g_autoptr(JsonObject) o = we_profile_to_json (profile);
  g_autoptr(JsonNode) node = json_node_init_object (json_node_alloc (), o);

  return json_to_string (node, FALSE);
}

static void
test_defaults (void)
{
  g_autoptr(WeProfile) p = we_profile_new ("plain");
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) o = NULL;
  JsonObject *hls;

  g_assert_true (we_profile_validate (p, &error));
  g_assert_no_error (error);
  g_assert_nonnull (p->ladder);
  g_assert_cmpuint (p->ladder->len, ==, 0);
  g_assert_false (p->hls.enabled);
  g_assert_cmpfloat (p->hls.segment_duration_s, ==, 6);
  g_assert_cmpstr (p->hls.segment_type, ==, "ts");
  g_assert_cmpstr (p->hls.encryption, ==, "none");
  g_assert_false (p->dash.enabled);
  g_assert_cmpint (p->thumbnails.interval_s, ==, 0);
  g_assert_cmpint (p->thumbnails.width, ==, 320);
  g_assert_cmpstr (p->subtitles.mode, ==, "none");
  g_assert_cmpstr (p->subtitles.formats[0], ==, "vtt");
  g_assert_null (p->subtitles.formats[1]);
  g_assert_false (p->audio.normalize);

  o = we_profile_to_json (p);
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (o, "ladder")), ==, 0);
  hls = json_object_get_object_member (o, "hls");
  g_assert_false (json_object_get_boolean_member (hls, "enabled"));
  g_assert_cmpstr (json_object_get_string_member (hls, "segment_type"), ==, "ts");
  g_assert_true (json_object_get_null_member (json_object_get_object_member (o, "audio"),
                                              "normalize_lufs"));
  g_assert_false (json_object_get_boolean_member (o, "builtin"));
}

static void
test_builtins_round_trip (void)
{
  g_autoptr(GPtrArray) builtins = we_profile_builtins ();

  g_assert_cmpuint (builtins->len, ==, 6);
  for (guint i = 0; i < builtins->len; i++) {
    WeProfile *p = g_ptr_array_index (builtins, i);
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonObject) o = we_profile_to_json (p);
    g_autoptr(WeProfile) back = NULL;
    g_autofree gchar *a = NULL;
    g_autofree gchar *b = NULL;

    g_assert_true (p->builtin);
    g_assert_true (we_profile_validate (p, &error));
    g_assert_no_error (error);
    back = we_profile_new_from_json (o, &error);
    g_assert_no_error (error);
    g_assert_nonnull (back);
    /* reading JSON never makes a built-in: only the store knows that */
    g_assert_false (back->builtin);
    back->builtin = TRUE;
    a = to_string (p);
    b = to_string (back);
    g_assert_cmpstr (a, ==, b);
  }
}

/* a profile stored before the packaging fields existed */
static void
test_legacy_json (void)
{
  g_autoptr(JsonObject) o = parse_object (
    "{\"id\":\"old\",\"name\":\"Old\",\"description\":\"\",\"container\":\"mp4\","
    "\"video_codec\":\"h264\",\"width\":640,\"height\":360,\"pad\":false,"
    "\"video_bitrate_kbps\":800,\"max_bitrate_kbps\":0,\"buffer_kbps\":0,\"crf\":23,"
    "\"preset\":\"fast\",\"keyframe_interval_s\":2,\"bit_depth\":8,\"audio_codec\":\"aac\","
    "\"audio_bitrate_kbps\":96,\"audio_sample_rate\":48000,\"audio_channels\":2,"
    "\"prefer_hardware\":false,\"max_attempts\":3,\"segment_target_s\":30.0,"
    "\"segment_min_s\":10.0,\"segment_max_s\":120.0,\"builtin\":false}");
  g_autoptr(GError) error = NULL;
  g_autoptr(WeProfile) p = we_profile_new_from_json (o, &error);

  g_assert_no_error (error);
  g_assert_cmpint (p->width, ==, 640);
  g_assert_cmpint (p->audio_bitrate_kbps, ==, 96);
  g_assert_cmpuint (p->ladder->len, ==, 0);
  g_assert_false (p->hls.enabled);
  g_assert_cmpstr (p->subtitles.mode, ==, "none");
}

static const gchar *full_json =
  "{\"id\":\"abr_h264\",\"name\":\"ABR ladder\",\"container\":\"mp4\",\"video_codec\":\"h264\","
  "\"width\":1920,\"height\":1080,\"video_bitrate_kbps\":5000,\"max_bitrate_kbps\":5500,"
  "\"ladder\":["
  "{\"name\":\"1080p\",\"width\":1920,\"height\":1080,\"video_bitrate_kbps\":5000,"
  "\"max_bitrate_kbps\":5500,\"audio_bitrate_kbps\":192,\"enabled\":true},"
  "{\"name\":\"720p\",\"width\":1280,\"height\":720,\"video_bitrate_kbps\":2500,"
  "\"max_bitrate_kbps\":2750,\"audio_bitrate_kbps\":128,\"enabled\":false},"
  "{\"name\":\"480p\",\"width\":854,\"height\":480,\"video_bitrate_kbps\":1000}],"
  "\"hls\":{\"enabled\":true,\"segment_duration_s\":4,\"segment_type\":\"fmp4\","
  "\"encryption\":\"aes-128\"},"
  "\"dash\":{\"enabled\":false,\"segment_duration_s\":2.5},"
  "\"thumbnails\":{\"poster\":true,\"interval_s\":5,\"width\":240,\"sprite\":true,"
  "\"sprite_columns\":8,\"storyboard\":true},"
  "\"subtitles\":{\"mode\":\"extract\",\"formats\":[\"vtt\",\"srt\"],\"burn_track\":1},"
  "\"audio\":{\"passthrough_when_compatible\":false,\"normalize_lufs\":-16,"
  "\"keep_all_tracks\":true}}";

static void
test_full_round_trip (void)
{
  g_autoptr(JsonObject) o = parse_object (full_json);
  g_autoptr(GError) error = NULL;
  g_autoptr(WeProfile) p = we_profile_new_from_json (o, &error);
  g_autoptr(WeProfile) back = NULL;
  g_autoptr(JsonObject) json = NULL;
  g_autofree gchar *a = NULL;
  g_autofree gchar *b = NULL;
  WeProfileRung *rung;

  g_assert_no_error (error);
  g_assert_nonnull (p);
  g_assert_cmpuint (p->ladder->len, ==, 3);
  rung = g_ptr_array_index (p->ladder, 1);
  g_assert_cmpstr (rung->name, ==, "720p");
  g_assert_cmpint (rung->width, ==, 1280);
  g_assert_cmpint (rung->max_bitrate_kbps, ==, 2750);
  g_assert_false (rung->enabled);
  rung = g_ptr_array_index (p->ladder, 2);
  /* members a rung leaves out take the rung defaults */
  g_assert_true (rung->enabled);
  g_assert_cmpint (rung->max_bitrate_kbps, ==, 0);
  g_assert_cmpint (rung->audio_bitrate_kbps, ==, 128);
  g_assert_true (p->hls.enabled);
  g_assert_cmpfloat (p->hls.segment_duration_s, ==, 4);
  g_assert_cmpstr (p->hls.segment_type, ==, "fmp4");
  g_assert_cmpstr (p->hls.encryption, ==, "aes-128");
  g_assert_cmpfloat (p->dash.segment_duration_s, ==, 2.5);
  g_assert_true (p->thumbnails.storyboard);
  g_assert_cmpint (p->thumbnails.sprite_columns, ==, 8);
  g_assert_cmpstr (p->subtitles.formats[1], ==, "srt");
  g_assert_cmpint (p->subtitles.burn_track, ==, 1);
  g_assert_true (p->audio.normalize);
  g_assert_cmpfloat (p->audio.normalize_lufs, ==, -16);
  g_assert_true (p->audio.keep_all_tracks);

  json = we_profile_to_json (p);
  back = we_profile_new_from_json (json, &error);
  g_assert_no_error (error);
  a = to_string (p);
  b = to_string (back);
  g_assert_cmpstr (a, ==, b);
}

static void
test_copy_is_deep (void)
{
  g_autoptr(JsonObject) o = parse_object (full_json);
  g_autoptr(GError) error = NULL;
  g_autoptr(WeProfile) p = we_profile_new_from_json (o, &error);
  g_autoptr(WeProfile) copy = NULL;
  g_autofree gchar *before = NULL;
  g_autofree gchar *after = NULL;
  WeProfileRung *rung;

  g_assert_no_error (error);
  p->builtin = TRUE;
  before = to_string (p);
  copy = we_profile_copy (p);
  g_assert_true (copy != p);
  g_assert_true (copy->builtin);
  g_assert_true (copy->ladder != p->ladder);
  g_assert_true (copy->hls.segment_type != p->hls.segment_type);
  g_assert_true (copy->subtitles.formats != p->subtitles.formats);

  rung = g_ptr_array_index (copy->ladder, 0);
  g_free (rung->name);
  rung->name = g_strdup ("changed");
  g_ptr_array_remove_index (copy->ladder, 2);
  g_free (copy->hls.segment_type);
  copy->hls.segment_type = g_strdup ("ts");
  g_free (copy->subtitles.formats[0]);
  copy->subtitles.formats[0] = g_strdup ("srt");
  g_free (copy->name);
  copy->name = g_strdup ("other");

  after = to_string (p);
  g_assert_cmpstr (before, ==, after);
}

static void
test_overrides_merge (void)
{
  g_autoptr(JsonObject) o = parse_object (full_json);
  g_autoptr(JsonObject) over = parse_object (
    "{\"hls\":{\"segment_duration_s\":8},\"ladder\":[{\"name\":\"only\",\"width\":640,"
    "\"height\":360,\"video_bitrate_kbps\":700}],\"audio\":{\"normalize_lufs\":null}}");
  g_autoptr(GError) error = NULL;
  g_autoptr(WeProfile) base = we_profile_new_from_json (o, &error);
  g_autoptr(WeProfile) p = NULL;

  g_assert_no_error (error);
  base->builtin = TRUE;
  p = we_profile_new_with_overrides (base, over, &error);
  g_assert_no_error (error);
  g_assert_nonnull (p);
  g_assert_false (p->builtin);
  /* nested objects merge member by member; the ladder is replaced whole */
  g_assert_cmpfloat (p->hls.segment_duration_s, ==, 8);
  g_assert_true (p->hls.enabled);
  g_assert_cmpstr (p->hls.segment_type, ==, "fmp4");
  g_assert_cmpuint (p->ladder->len, ==, 1);
  g_assert_cmpstr (((WeProfileRung *) g_ptr_array_index (p->ladder, 0))->name, ==, "only");
  g_assert_false (p->audio.normalize);
  g_assert_true (p->audio.keep_all_tracks);
  /* the base is untouched */
  g_assert_cmpfloat (base->hls.segment_duration_s, ==, 4);
  g_assert_cmpuint (base->ladder->len, ==, 3);
}

typedef struct {
  const gchar *json;     /* members put on top of a valid profile */
  const gchar *message;  /* a substring of the error */
} Invalid;

static const Invalid invalid[] = {
  /* shape */
  { "{\"colour\":1}", "unknown profile field \"colour\"" },
  { "{\"hls\":{\"segment_size\":1}}", "unknown profile field \"hls.segment_size\"" },
  { "{\"hls\":true}", "\"hls\" must be an object" },
  { "{\"width\":\"640\"}", "\"width\" must be an integer" },
  { "{\"width\":640.5}", "\"width\" must be an integer" },
  { "{\"dash\":{\"enabled\":1}}", "\"dash.enabled\" must be true or false" },
  { "{\"ladder\":{}}", "\"ladder\" must be an array" },
  { "{\"ladder\":[1]}", "\"ladder[0]\" must be an object" },
  { "{\"ladder\":[{\"name\":\"a\",\"bogus\":1}]}", "unknown profile field \"ladder[0].bogus\"" },
  { "{\"subtitles\":{\"formats\":\"vtt\"}}", "\"subtitles.formats\" must be an array" },
  { "{\"subtitles\":{\"formats\":[\"vtt\",2]}}", "\"subtitles.formats\" must be an array" },
  { "{\"audio\":{\"normalize_lufs\":\"loud\"}}", "\"audio.normalize_lufs\" must be a number" },
  /* basics */
  { "{\"id\":\"Upper\"}", "id must be 1-64 characters of [a-z0-9_-]" },
  { "{\"id\":\"a.b\"}", "id must be" },
  { "{\"id\":\"\"}", "id must be" },
  { "{\"name\":\"\"}", "name must be 1-128 characters" },
  { "{\"container\":\"avi\"}", "container must be one of mp4, webm, mkv (got \"avi\")" },
  { "{\"video_codec\":\"mpeg2\"}", "video_codec must be one of" },
  { "{\"preset\":\"turbo\"}", "preset must be one of ultrafast" },
  { "{\"container\":\"webm\",\"audio_codec\":\"opus\"}", "container webm holds only vp9 or av1 video (video_codec is h264)" },
  { "{\"container\":\"webm\",\"video_codec\":\"vp9\"}", "container webm holds only opus audio" },
  { "{\"width\":641}", "width and height must be even (got 641x720)" },
  { "{\"height\":8}", "height must be between 16 and 4320 (got 8)" },
  { "{\"width\":8000}", "width must be between 16 and 7680" },
  { "{\"video_bitrate_kbps\":-1}", "video_bitrate_kbps must be between 0 and 200000" },
  { "{\"video_bitrate_kbps\":3000,\"max_bitrate_kbps\":2000}", "max_bitrate_kbps (2000) must be at least video_bitrate_kbps (3000)" },
  { "{\"audio_bitrate_kbps\":0}", "audio_bitrate_kbps must be between 8 and 512" },
  { "{\"audio_codec\":\"opus\",\"audio_sample_rate\":44100}", "does not suit opus" },
  { "{\"max_attempts\":0}", "max_attempts must be between 1 and 10" },
  { "{\"segment_min_s\":40}", "0 < min <= target <= max" },
  { "{\"segment_max_s\":20}", "0 < min <= target <= max" },
  /* ladder */
  { "{\"ladder\":[{\"name\":\"HD\",\"width\":640,\"height\":360,\"video_bitrate_kbps\":800}]}", "ladder[0].name must be 1-32 characters of [a-z0-9_-] (got \"HD\")" },
  { "{\"ladder\":[{\"width\":640,\"height\":360,\"video_bitrate_kbps\":800}]}", "ladder[0].name must be" },
  { "{\"ladder\":[{\"name\":\"a\",\"width\":640,\"height\":360,\"video_bitrate_kbps\":800},"
    "{\"name\":\"a\",\"width\":320,\"height\":180,\"video_bitrate_kbps\":400}]}", "ladder[1].name \"a\" is used by an earlier rung" },
  { "{\"ladder\":[{\"name\":\"a\",\"width\":641,\"height\":360,\"video_bitrate_kbps\":800}]}", "ladder[0].width and ladder[0].height must be even" },
  { "{\"ladder\":[{\"name\":\"a\",\"width\":640,\"height\":360,\"video_bitrate_kbps\":0}]}", "ladder[0].video_bitrate_kbps must be between 1 and 200000 (got 0)" },
  { "{\"ladder\":[{\"name\":\"a\",\"width\":640,\"height\":360,\"video_bitrate_kbps\":800,"
    "\"max_bitrate_kbps\":700}]}", "ladder[0].max_bitrate_kbps (700) must be at least ladder[0].video_bitrate_kbps (800)" },
  { "{\"ladder\":[{\"name\":\"a\",\"width\":640,\"height\":360,\"video_bitrate_kbps\":800,"
    "\"audio_bitrate_kbps\":2}]}", "ladder[0].audio_bitrate_kbps must be between 8 and 512" },
  { "{\"ladder\":[{\"name\":\"a\",\"width\":640,\"height\":360,\"video_bitrate_kbps\":800,"
    "\"enabled\":false}]}", "ladder has no enabled rung" },
  { "{\"ladder\":[{},{},{},{},{},{},{},{},{}]}", "ladder has 9 rungs; at most 8 are allowed" },
  /* packaging */
  { "{\"hls\":{\"segment_duration_s\":0.5}}", "hls.segment_duration_s must be between 1 and 30 (got 0.5)" },
  { "{\"hls\":{\"segment_duration_s\":31}}", "hls.segment_duration_s must be between 1 and 30" },
  { "{\"dash\":{\"segment_duration_s\":60}}", "dash.segment_duration_s must be between 1 and 30 (got 60)" },
  { "{\"hls\":{\"segment_type\":\"mp2t\"}}", "hls.segment_type must be one of ts, fmp4" },
  { "{\"hls\":{\"encryption\":\"sample-aes\"}}", "hls.encryption must be one of none, aes-128" },
  { "{\"hls\":{\"encryption\":\"aes-128\"}}", "hls.encryption \"aes-128\" needs hls.enabled" },
  { "{\"hls\":{\"enabled\":true,\"encryption\":\"aes-128\"},\"dash\":{\"enabled\":true}}",
    "hls.encryption \"aes-128\" cannot be combined with dash.enabled" },
  { "{\"video_codec\":\"hevc\",\"hls\":{\"enabled\":true}}", "hls.segment_type \"ts\" holds only h264 video (video_codec is hevc)" },
  { "{\"audio_codec\":\"opus\",\"hls\":{\"enabled\":true}}", "hls.segment_type \"ts\" holds only aac audio" },
  /* thumbnails */
  { "{\"thumbnails\":{\"interval_s\":-1}}", "thumbnails.interval_s must be between 0 and 3600" },
  { "{\"thumbnails\":{\"width\":8}}", "thumbnails.width must be between 16 and 3840" },
  { "{\"thumbnails\":{\"width\":161}}", "thumbnails.width must be even" },
  { "{\"thumbnails\":{\"sprite_columns\":0}}", "thumbnails.sprite_columns must be between 1 and 20" },
  { "{\"thumbnails\":{\"sprite\":true}}", "thumbnails.sprite needs thumbnails.interval_s > 0" },
  { "{\"thumbnails\":{\"interval_s\":5,\"storyboard\":true}}", "thumbnails.storyboard needs thumbnails.sprite" },
  /* subtitles */
  { "{\"subtitles\":{\"mode\":\"embed\"}}", "subtitles.mode must be one of none, passthrough, extract, burn (got \"embed\")" },
  { "{\"subtitles\":{\"formats\":[\"ass\"]}}", "subtitles.formats[] must be one of vtt, srt (got \"ass\")" },
  { "{\"subtitles\":{\"formats\":[\"vtt\",\"vtt\"]}}", "subtitles.formats lists \"vtt\" twice" },
  { "{\"subtitles\":{\"mode\":\"extract\",\"formats\":[]}}", "subtitles.mode \"extract\" needs at least one" },
  { "{\"subtitles\":{\"burn_track\":-1}}", "subtitles.burn_track must be between 0 and 63" },
  /* audio */
  { "{\"audio\":{\"normalize_lufs\":-80}}", "audio.normalize_lufs must be between -70 and -5 (got -80)" },
  { "{\"audio\":{\"normalize_lufs\":0}}", "audio.normalize_lufs must be between -70 and -5" },
  { "{\"audio_codec\":\"none\",\"audio\":{\"normalize_lufs\":-16}}", "audio.normalize_lufs needs audio, but audio_codec is \"none\"" },
  { "{\"audio_codec\":\"none\",\"audio\":{\"keep_all_tracks\":true}}", "audio.keep_all_tracks needs audio" },
  { "{\"audio\":{\"normalize_lufs\":-16,\"passthrough_when_compatible\":true}}", "cannot be combined with audio.passthrough_when_compatible" },
};

static void
test_invalid (void)
{
  g_autoptr(WeProfile) base = we_profile_new ("valid");

  for (guint i = 0; i < G_N_ELEMENTS (invalid); i++) {
    g_autoptr(JsonObject) over = parse_object (invalid[i].json);
    g_autoptr(GError) error = NULL;
    g_autoptr(WeProfile) p = we_profile_new_with_overrides (base, over, &error);

    if (p != NULL)
      g_error ("%s was accepted", invalid[i].json);
    g_assert_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_PROFILE);
    if (strstr (error->message, invalid[i].message) == NULL)
      g_error ("%s: \"%s\" does not say \"%s\"", invalid[i].json, error->message,
               invalid[i].message);
  }
}

static const gchar *valid[] = {
  "{\"container\":\"mkv\",\"video_codec\":\"av1\",\"audio_codec\":\"opus\"}",
  "{\"container\":\"mp4\",\"video_codec\":\"vp9\"}",
  "{\"container\":\"webm\",\"video_codec\":\"av1\",\"audio_codec\":\"none\"}",
  "{\"video_bitrate_kbps\":0,\"max_bitrate_kbps\":0}",
  "{\"video_codec\":\"hevc\",\"hls\":{\"enabled\":true,\"segment_type\":\"fmp4\"}}",
  "{\"hls\":{\"enabled\":true,\"segment_duration_s\":1,\"encryption\":\"aes-128\"}}",
  "{\"dash\":{\"enabled\":true,\"segment_duration_s\":30}}",
  "{\"thumbnails\":{\"poster\":true}}",
  "{\"subtitles\":{\"mode\":\"burn\",\"burn_track\":2,\"formats\":[]}}",
  "{\"audio\":{\"normalize_lufs\":-70}}",
  "{\"audio\":{\"normalize_lufs\":-5.0,\"keep_all_tracks\":true}}",
  "{\"audio_codec\":\"none\",\"ladder\":[{\"name\":\"a\",\"width\":640,\"height\":360,"
  "\"video_bitrate_kbps\":800,\"audio_bitrate_kbps\":0}]}",
  "{\"ladder\":[]}",
};

static void
test_valid (void)
{
  g_autoptr(WeProfile) base = we_profile_new ("valid");

  for (guint i = 0; i < G_N_ELEMENTS (valid); i++) {
    g_autoptr(JsonObject) over = parse_object (valid[i]);
    g_autoptr(GError) error = NULL;
    g_autoptr(WeProfile) p = we_profile_new_with_overrides (base, over, &error);

    if (p == NULL)
      g_error ("%s was refused: %s", valid[i], error->message);
  }
}

static void
test_from_json_needs_id (void)
{
  g_autoptr(JsonObject) o = parse_object ("{\"name\":\"x\"}");
  g_autoptr(GError) error = NULL;
  g_autoptr(WeProfile) p = we_profile_new_from_json (o, &error);

  g_assert_null (p);
  g_assert_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_PROFILE);
  g_clear_error (&error);
  g_clear_pointer (&o, json_object_unref);
  /* without a name the id names the profile */
  o = parse_object ("{\"id\":\"named_by_id\"}");
  g_clear_pointer (&p, we_profile_unref);
  p = we_profile_new_from_json (o, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (p->name, ==, "named_by_id");
}

static void
test_id_is_valid (void)
{
  g_assert_true (we_profile_id_is_valid ("720p_h264"));
  g_assert_true (we_profile_id_is_valid ("a-b_c-9"));
  g_assert_false (we_profile_id_is_valid (NULL));
  g_assert_false (we_profile_id_is_valid (""));
  g_assert_false (we_profile_id_is_valid ("with space"));
  g_assert_false (we_profile_id_is_valid ("../etc"));
  g_assert_false (we_profile_id_is_valid ("ABC"));
  g_assert_true (we_profile_id_is_valid ("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
  g_assert_false (we_profile_id_is_valid ("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/profile/defaults", test_defaults);
  g_test_add_func ("/profile/builtins-round-trip", test_builtins_round_trip);
  g_test_add_func ("/profile/legacy-json", test_legacy_json);
  g_test_add_func ("/profile/full-round-trip", test_full_round_trip);
  g_test_add_func ("/profile/copy-is-deep", test_copy_is_deep);
  g_test_add_func ("/profile/overrides-merge", test_overrides_merge);
  g_test_add_func ("/profile/invalid", test_invalid);
  g_test_add_func ("/profile/valid", test_valid);
  g_test_add_func ("/profile/from-json-needs-id", test_from_json_needs_id);
  g_test_add_func ("/profile/id-is-valid", test_id_is_valid);
  return g_test_run ();
}
