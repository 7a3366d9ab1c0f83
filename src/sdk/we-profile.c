/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "webencode/we-profile.h"
#include "webencode/we-error.h"

/* Profiles are refcounted so the scheduler and in-flight tasks can share one
 * without copying; the refcount lives in front of the public struct. */
typedef struct {
  gint      ref_count;
  WeProfile profile;
} WeProfilePriv;

#define PRIV(p) ((WeProfilePriv *) ((guint8 *) (p) - G_STRUCT_OFFSET (WeProfilePriv, profile)))

G_DEFINE_BOXED_TYPE (WeProfile, we_profile, we_profile_ref, we_profile_unref)

static const gchar *containers[] = { "mp4", "webm", "mkv", NULL };
static const gchar *video_codecs[] = { "h264", "hevc", "vp9", "av1", NULL };
static const gchar *audio_codecs[] = { "aac", "opus", "none", NULL };
static const gchar *presets[] = { "ultrafast", "superfast", "veryfast", "faster", "fast",
                                  "medium", "slow", "slower", "veryslow", NULL };

/* --- the JSON shape, one table per struct ---------------------------------- */

typedef enum {
  F_STRING,
  F_INT,
  F_BOOL,
  F_DOUBLE,
  F_STRV,
  F_OPT_DOUBLE,  /* a number or null; aux is the gboolean saying which */
  F_OBJECT,      /* a nested struct: sub lists its members */
  F_LADDER,      /* GPtrArray of WeProfileRung */
} FieldKind;

typedef struct _Field Field;
struct _Field {
  const gchar *name;
  FieldKind    kind;
  gsize        offset;
  gsize        aux;
  const Field *sub;
  guint        n_sub;
};

#define FIELD(T, n, k)         { #n, k, G_STRUCT_OFFSET (T, n), 0, NULL, 0 }
#define OPT_DOUBLE(T, n, flag) { #n, F_OPT_DOUBLE, G_STRUCT_OFFSET (T, n), \
                                 G_STRUCT_OFFSET (T, flag), NULL, 0 }
#define OBJECT(n, table)       { #n, F_OBJECT, G_STRUCT_OFFSET (WeProfile, n), 0, \
                                 table, G_N_ELEMENTS (table) }

/* a list is a choice among a few names; more is a mistake, not a use */
#define MAX_STRV 8

static const Field rung_fields[] = {
  FIELD (WeProfileRung, name, F_STRING),
  FIELD (WeProfileRung, width, F_INT),
  FIELD (WeProfileRung, height, F_INT),
  FIELD (WeProfileRung, video_bitrate_kbps, F_INT),
  FIELD (WeProfileRung, max_bitrate_kbps, F_INT),
  FIELD (WeProfileRung, audio_bitrate_kbps, F_INT),
  FIELD (WeProfileRung, enabled, F_BOOL),
};

static const Field hls_fields[] = {
  FIELD (WeProfileHls, enabled, F_BOOL),
  FIELD (WeProfileHls, segment_duration_s, F_DOUBLE),
  FIELD (WeProfileHls, segment_type, F_STRING),
  FIELD (WeProfileHls, encryption, F_STRING),
};

static const Field dash_fields[] = {
  FIELD (WeProfileDash, enabled, F_BOOL),
  FIELD (WeProfileDash, segment_duration_s, F_DOUBLE),
};

static const Field thumbnail_fields[] = {
  FIELD (WeProfileThumbnails, poster, F_BOOL),
  FIELD (WeProfileThumbnails, interval_s, F_INT),
  FIELD (WeProfileThumbnails, width, F_INT),
  FIELD (WeProfileThumbnails, sprite, F_BOOL),
  FIELD (WeProfileThumbnails, sprite_columns, F_INT),
  FIELD (WeProfileThumbnails, storyboard, F_BOOL),
};

static const Field subtitle_fields[] = {
  FIELD (WeProfileSubtitles, mode, F_STRING),
  FIELD (WeProfileSubtitles, formats, F_STRV),
  FIELD (WeProfileSubtitles, burn_track, F_INT),
};

static const Field audio_fields[] = {
  FIELD (WeProfileAudio, passthrough_when_compatible, F_BOOL),
  OPT_DOUBLE (WeProfileAudio, normalize_lufs, normalize),
  FIELD (WeProfileAudio, keep_all_tracks, F_BOOL),
};

static const Field fields[] = {
  FIELD (WeProfile, id, F_STRING),
  FIELD (WeProfile, name, F_STRING),
  FIELD (WeProfile, description, F_STRING),
  FIELD (WeProfile, container, F_STRING),
  FIELD (WeProfile, video_codec, F_STRING),
  FIELD (WeProfile, width, F_INT),
  FIELD (WeProfile, height, F_INT),
  FIELD (WeProfile, pad, F_BOOL),
  FIELD (WeProfile, video_bitrate_kbps, F_INT),
  FIELD (WeProfile, max_bitrate_kbps, F_INT),
  FIELD (WeProfile, buffer_kbps, F_INT),
  FIELD (WeProfile, crf, F_INT),
  FIELD (WeProfile, preset, F_STRING),
  FIELD (WeProfile, keyframe_interval_s, F_INT),
  FIELD (WeProfile, bit_depth, F_INT),
  FIELD (WeProfile, audio_codec, F_STRING),
  FIELD (WeProfile, audio_bitrate_kbps, F_INT),
  FIELD (WeProfile, audio_sample_rate, F_INT),
  FIELD (WeProfile, audio_channels, F_INT),
  FIELD (WeProfile, prefer_hardware, F_BOOL),
  FIELD (WeProfile, max_attempts, F_INT),
  FIELD (WeProfile, segment_target_s, F_DOUBLE),
  FIELD (WeProfile, segment_min_s, F_DOUBLE),
  FIELD (WeProfile, segment_max_s, F_DOUBLE),
  FIELD (WeProfile, ladder, F_LADDER),
  OBJECT (hls, hls_fields),
  OBJECT (dash, dash_fields),
  OBJECT (thumbnails, thumbnail_fields),
  OBJECT (subtitles, subtitle_fields),
  OBJECT (audio, audio_fields),
};

/* Frees what the pointer members of @base own; the struct itself stays. */
static void
fields_clear (const Field *table, guint n, gpointer base)
{
  for (guint i = 0; i < n; i++) {
    gpointer p = G_STRUCT_MEMBER_P (base, table[i].offset);
    switch (table[i].kind) {
    case F_STRING:
      g_clear_pointer ((gchar **) p, g_free);
      break;
    case F_STRV:
      g_clear_pointer ((gchar ***) p, g_strfreev);
      break;
    case F_LADDER:
      g_clear_pointer ((GPtrArray **) p, g_ptr_array_unref);
      break;
    case F_OBJECT:
      fields_clear (table[i].sub, table[i].n_sub, p);
      break;
    default:
      break;
    }
  }
}

static GPtrArray *
ladder_new (void)
{
  return g_ptr_array_new_with_free_func ((GDestroyNotify) we_profile_rung_free);
}

/* After a bitwise copy into @base: gives it copies of what the pointers share. */
static void
fields_deepen (const Field *table, guint n, gpointer base)
{
  for (guint i = 0; i < n; i++) {
    gpointer p = G_STRUCT_MEMBER_P (base, table[i].offset);
    switch (table[i].kind) {
    case F_STRING:
      *(gchar **) p = g_strdup (*(gchar **) p);
      break;
    case F_STRV:
      *(gchar ***) p = g_strdupv (*(gchar ***) p);
      break;
    case F_LADDER: {
      GPtrArray *from = *(GPtrArray **) p;
      GPtrArray *to = ladder_new ();
      for (guint j = 0; from != NULL && j < from->len; j++)
        g_ptr_array_add (to, we_profile_rung_copy (g_ptr_array_index (from, j)));
      *(GPtrArray **) p = to;
      break;
    }
    case F_OBJECT:
      fields_deepen (table[i].sub, table[i].n_sub, p);
      break;
    default:
      break;
    }
  }
}

/* --- rungs ------------------------------------------------------------------ */

WeProfileRung *
we_profile_rung_new (const gchar *name)
{
  WeProfileRung *rung = g_new0 (WeProfileRung, 1);

  rung->name = g_strdup (name);
  rung->audio_bitrate_kbps = 128;
  rung->enabled = TRUE;
  return rung;
}

WeProfileRung *
we_profile_rung_copy (const WeProfileRung *rung)
{
  WeProfileRung *copy;

  g_return_val_if_fail (rung != NULL, NULL);
  copy = g_memdup2 (rung, sizeof (*rung));
  fields_deepen (rung_fields, G_N_ELEMENTS (rung_fields), copy);
  return copy;
}

void
we_profile_rung_free (WeProfileRung *rung)
{
  if (rung == NULL)
    return;
  fields_clear (rung_fields, G_N_ELEMENTS (rung_fields), rung);
  g_free (rung);
}

/* --- life cycle --------------------------------------------------------------- */

WeProfile *
we_profile_new (const gchar *id)
{
  WeProfilePriv *priv = g_new0 (WeProfilePriv, 1);
  WeProfile *self = &priv->profile;
  const gchar *formats[] = { "vtt", NULL };

  priv->ref_count = 1;
  self->id = g_strdup (id);
  self->name = g_strdup (id);
  self->description = g_strdup ("");
  self->container = g_strdup ("mp4");
  self->video_codec = g_strdup ("h264");
  self->width = 1280;
  self->height = 720;
  self->video_bitrate_kbps = 2500;
  self->crf = 23;
  self->preset = g_strdup ("fast");
  self->keyframe_interval_s = 2;
  self->bit_depth = 8;
  self->audio_codec = g_strdup ("aac");
  self->audio_bitrate_kbps = 128;
  self->audio_sample_rate = 48000;
  self->audio_channels = 2;
  self->max_attempts = 3;
  self->segment_target_s = 30;
  self->segment_min_s = 10;
  self->segment_max_s = 120;

  /* packaging is off by default: a stored profile from before these fields
   * existed loads as the single-file encode it always was */
  self->ladder = ladder_new ();
  self->hls.segment_duration_s = 6;
  self->hls.segment_type = g_strdup ("ts");
  self->hls.encryption = g_strdup ("none");
  self->dash.segment_duration_s = 6;
  self->thumbnails.width = 320;
  self->thumbnails.sprite_columns = 10;
  self->subtitles.mode = g_strdup ("none");
  self->subtitles.formats = g_strdupv ((gchar **) formats);
  self->audio.normalize_lufs = -23; /* EBU R 128, used once normalize is switched on */
  return self;
}

WeProfile *
we_profile_ref (WeProfile *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  g_atomic_int_inc (&PRIV (self)->ref_count);
  return self;
}

void
we_profile_unref (WeProfile *self)
{
  if (self == NULL)
    return;
  if (!g_atomic_int_dec_and_test (&PRIV (self)->ref_count))
    return;
  fields_clear (fields, G_N_ELEMENTS (fields), self);
  g_free (PRIV (self));
}

WeProfile *
we_profile_copy (const WeProfile *self)
{
  WeProfilePriv *priv;

  g_return_val_if_fail (self != NULL, NULL);
  priv = g_new0 (WeProfilePriv, 1);
  priv->ref_count = 1;
  priv->profile = *self;
  fields_deepen (fields, G_N_ELEMENTS (fields), &priv->profile);
  return &priv->profile;
}

const gchar *
we_profile_get_extension (const WeProfile *self)
{
  return self->container;
}

/* --- validation ------------------------------------------------------------- */

static gboolean
check_range (const gchar *field, gint64 value, gint64 min, gint64 max, GError **error)
{
  if (value < min || value > max) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_PROFILE,
                 "%s must be between %" G_GINT64_FORMAT " and %" G_GINT64_FORMAT
                 " (got %" G_GINT64_FORMAT ")", field, min, max, value);
    return FALSE;
  }
  return TRUE;
}

static gboolean
check_range_double (const gchar *field, gdouble value, gdouble min, gdouble max, GError **error)
{
  if (!(value >= min && value <= max)) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_PROFILE,
                 "%s must be between %g and %g (got %g)", field, min, max, value);
    return FALSE;
  }
  return TRUE;
}

static gboolean
check_choice (const gchar *field, const gchar *value, const gchar **choices, GError **error)
{
  if (value == NULL || !g_strv_contains (choices, value)) {
    g_autofree gchar *list = g_strjoinv (", ", (gchar **) choices);
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_PROFILE,
                 "%s must be one of %s (got \"%s\")", field, list, value ? value : "");
    return FALSE;
  }
  return TRUE;
}

/* Ids end up in URLs and output file names: keep them to one safe alphabet. */
static gboolean
valid_token (const gchar *id, gsize max_len)
{
  gsize len;

  if (id == NULL)
    return FALSE;
  len = strlen (id);
  if (len == 0 || len > max_len)
    return FALSE;
  for (const gchar *p = id; *p; p++) {
    if (!g_ascii_islower (*p) && !g_ascii_isdigit (*p) && *p != '_' && *p != '-')
      return FALSE;
  }
  return TRUE;
}

gboolean
we_profile_id_is_valid (const gchar *id)
{
  return valid_token (id, 64);
}

static gboolean
check_dimensions (const gchar *prefix, gint width, gint height, GError **error)
{
  g_autofree gchar *w = g_strconcat (prefix, "width", NULL);
  g_autofree gchar *h = g_strconcat (prefix, "height", NULL);

  if (!check_range (w, width, 16, 7680, error) || !check_range (h, height, 16, 4320, error))
    return FALSE;
  /* 4:2:0 chroma needs even sizes; encoders refuse odd ones mid-pipeline */
  if (width % 2 != 0 || height % 2 != 0) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_PROFILE,
                 "%s and %s must be even (got %dx%d)", w, h, width, height);
    return FALSE;
  }
  return TRUE;
}

static gboolean
check_max_bitrate (const gchar *prefix, gint kbps, gint max_kbps, GError **error)
{
  if (max_kbps > 0 && kbps > 0 && max_kbps < kbps) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_PROFILE,
                 "%smax_bitrate_kbps (%d) must be at least %svideo_bitrate_kbps (%d), "
                 "or 0 for no cap", prefix, max_kbps, prefix, kbps);
    return FALSE;
  }
  return TRUE;
}

static gboolean
validate_ladder (const WeProfile *self, GError **error)
{
  g_autoptr(GHashTable) names = g_hash_table_new (g_str_hash, g_str_equal);
  gboolean any_enabled = FALSE;
  gboolean has_audio = g_strcmp0 (self->audio_codec, "none") != 0;

  if (self->ladder == NULL || self->ladder->len == 0)
    return TRUE;
  if (self->ladder->len > WE_PROFILE_MAX_RUNGS) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_PROFILE,
                 "ladder has %u rungs; at most %d are allowed", self->ladder->len,
                 WE_PROFILE_MAX_RUNGS);
    return FALSE;
  }
  for (guint i = 0; i < self->ladder->len; i++) {
    const WeProfileRung *rung = g_ptr_array_index (self->ladder, i);
    g_autofree gchar *prefix = g_strdup_printf ("ladder[%u].", i);
    g_autofree gchar *field = NULL;

    if (!valid_token (rung->name, 32)) {
      g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_PROFILE,
                   "ladder[%u].name must be 1-32 characters of [a-z0-9_-] (got \"%s\")", i,
                   rung->name ? rung->name : "");
      return FALSE;
    }
    if (!g_hash_table_add (names, rung->name)) {
      g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_PROFILE,
                   "ladder[%u].name \"%s\" is used by an earlier rung; names must be unique",
                   i, rung->name);
      return FALSE;
    }
    if (!check_dimensions (prefix, rung->width, rung->height, error))
      return FALSE;
    field = g_strconcat (prefix, "video_bitrate_kbps", NULL);
    if (!check_range (field, rung->video_bitrate_kbps, 1, 200000, error))
      return FALSE;
    g_free (field);
    field = g_strconcat (prefix, "max_bitrate_kbps", NULL);
    if (!check_range (field, rung->max_bitrate_kbps, 0, 250000, error) ||
        !check_max_bitrate (prefix, rung->video_bitrate_kbps, rung->max_bitrate_kbps, error))
      return FALSE;
    g_free (field);
    field = g_strconcat (prefix, "audio_bitrate_kbps", NULL);
    if (!check_range (field, rung->audio_bitrate_kbps, has_audio ? 8 : 0, 512, error))
      return FALSE;
    any_enabled |= rung->enabled;
  }
  if (!any_enabled) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_JOB_INVALID_PROFILE,
                         "ladder has no enabled rung; enable one, or send an empty ladder "
                         "for a single rendition");
    return FALSE;
  }
  return TRUE;
}

static gboolean
validate_packaging (const WeProfile *self, GError **error)
{
  static const gchar *segment_types[] = { "ts", "fmp4", NULL };
  static const gchar *encryptions[] = { "none", "aes-128", NULL };

  if (!check_range_double ("hls.segment_duration_s", self->hls.segment_duration_s, 1, 30,
                           error) ||
      !check_choice ("hls.segment_type", self->hls.segment_type, segment_types, error) ||
      !check_choice ("hls.encryption", self->hls.encryption, encryptions, error) ||
      !check_range_double ("dash.segment_duration_s", self->dash.segment_duration_s, 1, 30,
                           error))
    return FALSE;
  if (g_strcmp0 (self->hls.encryption, "none") != 0 && !self->hls.enabled) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_PROFILE,
                 "hls.encryption \"%s\" needs hls.enabled: only HLS output is encrypted",
                 self->hls.encryption);
    return FALSE;
  }
  if (g_strcmp0 (self->hls.encryption, "none") != 0 && self->dash.enabled) {
    /* DASH would serve the very segments HLS encrypts, and with no key of
     * its own (Clear Key CENC is not implemented) */
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_PROFILE,
                 "hls.encryption \"%s\" cannot be combined with dash.enabled: DASH output "
                 "is not encrypted", self->hls.encryption);
    return FALSE;
  }
  if (self->hls.enabled && g_strcmp0 (self->hls.segment_type, "ts") == 0) {
    /* what HLS players accept in MPEG-TS; HEVC, VP9, AV1 and Opus need fMP4 */
    if (g_strcmp0 (self->video_codec, "h264") != 0) {
      g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_PROFILE,
                   "hls.segment_type \"ts\" holds only h264 video (video_codec is %s); "
                   "use \"fmp4\"", self->video_codec);
      return FALSE;
    }
    if (g_strcmp0 (self->audio_codec, "opus") == 0) {
      g_set_error_literal (error, WE_ERROR, WE_ERROR_JOB_INVALID_PROFILE,
                           "hls.segment_type \"ts\" holds only aac audio (audio_codec is opus); "
                           "use \"fmp4\"");
      return FALSE;
    }
  }
  return TRUE;
}

static gboolean
validate_thumbnails (const WeProfileThumbnails *t, GError **error)
{
  if (!check_range ("thumbnails.interval_s", t->interval_s, 0, 3600, error) ||
      !check_range ("thumbnails.width", t->width, 16, 3840, error) ||
      !check_range ("thumbnails.sprite_columns", t->sprite_columns, 1, 20, error))
    return FALSE;
  if (t->width % 2 != 0) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_PROFILE,
                 "thumbnails.width must be even (got %d)", t->width);
    return FALSE;
  }
  if (t->sprite && t->interval_s == 0) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_JOB_INVALID_PROFILE,
                         "thumbnails.sprite needs thumbnails.interval_s > 0: a sprite tiles "
                         "the periodic thumbnails");
    return FALSE;
  }
  if (t->storyboard && !t->sprite) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_JOB_INVALID_PROFILE,
                         "thumbnails.storyboard needs thumbnails.sprite: the storyboard points "
                         "into the sprite image");
    return FALSE;
  }
  return TRUE;
}

static gboolean
validate_subtitles (const WeProfileSubtitles *s, GError **error)
{
  static const gchar *modes[] = { "none", "passthrough", "extract", "burn", NULL };
  static const gchar *formats[] = { "vtt", "srt", NULL };
  guint n = s->formats != NULL ? g_strv_length (s->formats) : 0;

  if (!check_choice ("subtitles.mode", s->mode, modes, error) ||
      !check_range ("subtitles.burn_track", s->burn_track, 0, 63, error))
    return FALSE;
  for (guint i = 0; i < n; i++) {
    if (!check_choice ("subtitles.formats[]", s->formats[i], formats, error))
      return FALSE;
    for (guint j = 0; j < i; j++) {
      if (g_str_equal (s->formats[i], s->formats[j])) {
        g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_PROFILE,
                     "subtitles.formats lists \"%s\" twice", s->formats[i]);
        return FALSE;
      }
    }
  }
  if (g_strcmp0 (s->mode, "extract") == 0 && n == 0) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_JOB_INVALID_PROFILE,
                         "subtitles.mode \"extract\" needs at least one of subtitles.formats "
                         "(vtt, srt)");
    return FALSE;
  }
  return TRUE;
}

static gboolean
validate_audio_options (const WeProfile *self, GError **error)
{
  const WeProfileAudio *a = &self->audio;

  if (a->normalize &&
      !check_range_double ("audio.normalize_lufs", a->normalize_lufs, -70, -5, error))
    return FALSE;
  if (g_strcmp0 (self->audio_codec, "none") == 0 &&
      (a->normalize || a->passthrough_when_compatible || a->keep_all_tracks)) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_PROFILE,
                 "audio.%s needs audio, but audio_codec is \"none\"",
                 a->normalize ? "normalize_lufs"
                 : a->passthrough_when_compatible ? "passthrough_when_compatible"
                                                  : "keep_all_tracks");
    return FALSE;
  }
  if (a->normalize && a->passthrough_when_compatible) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_JOB_INVALID_PROFILE,
                         "audio.normalize_lufs re-encodes the audio, so it cannot be combined "
                         "with audio.passthrough_when_compatible");
    return FALSE;
  }
  return TRUE;
}

gboolean
we_profile_validate (const WeProfile *self, GError **error)
{
  g_return_val_if_fail (self != NULL, FALSE);

  if (!we_profile_id_is_valid (self->id)) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_PROFILE,
                 "id must be 1-64 characters of [a-z0-9_-] (got \"%s\")",
                 self->id ? self->id : "");
    return FALSE;
  }
  if (self->name == NULL || *self->name == '\0' || g_utf8_strlen (self->name, -1) > 128) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_JOB_INVALID_PROFILE,
                         "name must be 1-128 characters");
    return FALSE;
  }
  if (self->description == NULL || g_utf8_strlen (self->description, -1) > 1024) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_JOB_INVALID_PROFILE,
                         "description must be at most 1024 characters");
    return FALSE;
  }
  if (!check_choice ("container", self->container, containers, error) ||
      !check_choice ("video_codec", self->video_codec, video_codecs, error) ||
      !check_choice ("audio_codec", self->audio_codec, audio_codecs, error) ||
      !check_choice ("preset", self->preset, presets, error))
    return FALSE;
  if (!check_dimensions ("", self->width, self->height, error) ||
      !check_range ("video_bitrate_kbps", self->video_bitrate_kbps, 0, 200000, error) ||
      !check_range ("max_bitrate_kbps", self->max_bitrate_kbps, 0, 250000, error) ||
      !check_max_bitrate ("", self->video_bitrate_kbps, self->max_bitrate_kbps, error) ||
      !check_range ("buffer_kbps", self->buffer_kbps, 0, 500000, error) ||
      !check_range ("crf", self->crf, 0, 63, error) ||
      !check_range ("keyframe_interval_s", self->keyframe_interval_s, 1, 20, error) ||
      !check_range ("max_attempts", self->max_attempts, 1, 10, error))
    return FALSE;
  if (self->bit_depth != 8 && self->bit_depth != 10) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_PROFILE,
                 "bit_depth must be 8 or 10 (got %d)", self->bit_depth);
    return FALSE;
  }
  if (g_strcmp0 (self->audio_codec, "none") != 0) {
    if (!check_range ("audio_bitrate_kbps", self->audio_bitrate_kbps, 8, 512, error) ||
        !check_range ("audio_channels", self->audio_channels, 1, 8, error))
      return FALSE;
    if (self->audio_sample_rate != 8000 && self->audio_sample_rate != 16000 &&
        self->audio_sample_rate != 22050 && self->audio_sample_rate != 24000 &&
        self->audio_sample_rate != 32000 && self->audio_sample_rate != 44100 &&
        self->audio_sample_rate != 48000 && self->audio_sample_rate != 96000) {
      g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_PROFILE,
                   "audio_sample_rate %d is not a supported rate", self->audio_sample_rate);
      return FALSE;
    }
    if (g_strcmp0 (self->audio_codec, "opus") == 0 && self->audio_sample_rate != 48000 &&
        self->audio_sample_rate != 24000 && self->audio_sample_rate != 16000 &&
        self->audio_sample_rate != 8000) {
      g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_PROFILE,
                   "audio_sample_rate %d does not suit opus, which needs 8000, 16000, 24000 "
                   "or 48000", self->audio_sample_rate);
      return FALSE;
    }
  }
  if (g_strcmp0 (self->container, "webm") == 0) {
    if (g_strcmp0 (self->video_codec, "vp9") != 0 && g_strcmp0 (self->video_codec, "av1") != 0) {
      g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_PROFILE,
                   "container webm holds only vp9 or av1 video (video_codec is %s)",
                   self->video_codec);
      return FALSE;
    }
    if (g_strcmp0 (self->audio_codec, "aac") == 0) {
      g_set_error_literal (error, WE_ERROR, WE_ERROR_JOB_INVALID_PROFILE,
                           "container webm holds only opus audio (audio_codec is aac)");
      return FALSE;
    }
  }
  if (!(self->segment_min_s > 0 && self->segment_min_s <= self->segment_target_s &&
        self->segment_target_s <= self->segment_max_s && self->segment_max_s <= 3600)) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_PROFILE,
                 "segment_min_s, segment_target_s and segment_max_s must satisfy "
                 "0 < min <= target <= max <= 3600 (got %g, %g, %g)", self->segment_min_s,
                 self->segment_target_s, self->segment_max_s);
    return FALSE;
  }
  return validate_ladder (self, error) && validate_packaging (self, error) &&
         validate_thumbnails (&self->thumbnails, error) &&
         validate_subtitles (&self->subtitles, error) && validate_audio_options (self, error);
}

/* --- JSON ------------------------------------------------------------------- */

static const Field *
find_field (const Field *table, guint n, const gchar *name)
{
  for (guint i = 0; i < n; i++) {
    if (g_strcmp0 (table[i].name, name) == 0)
      return &table[i];
  }
  return NULL;
}

static gboolean apply_object (const Field *table, guint n, gpointer base, const gchar *prefix,
                              JsonObject *object, GError **error);

static gboolean
wrong_type (const gchar *path, const gchar *expected, GError **error)
{
  g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_PROFILE,
               "profile field \"%s\" must be %s", path, expected);
  return FALSE;
}

static gboolean
apply_ladder (GPtrArray **ladder, const gchar *path, JsonNode *node, GError **error)
{
  g_autoptr(GPtrArray) rungs = ladder_new ();
  JsonArray *array;

  if (!JSON_NODE_HOLDS_ARRAY (node))
    return wrong_type (path, "an array of rungs", error);
  array = json_node_get_array (node);
  /* checked here too, so a huge array is refused before it is built */
  if (json_array_get_length (array) > WE_PROFILE_MAX_RUNGS) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_PROFILE,
                 "ladder has %u rungs; at most %d are allowed", json_array_get_length (array),
                 WE_PROFILE_MAX_RUNGS);
    return FALSE;
  }
  for (guint i = 0; i < json_array_get_length (array); i++) {
    JsonNode *el = json_array_get_element (array, i);
    g_autofree gchar *prefix = g_strdup_printf ("%s[%u]", path, i);
    g_autoptr(WeProfileRung) rung = we_profile_rung_new (NULL);

    if (!JSON_NODE_HOLDS_OBJECT (el))
      return wrong_type (prefix, "an object", error);
    if (!apply_object (rung_fields, G_N_ELEMENTS (rung_fields), rung, prefix,
                       json_node_get_object (el), error))
      return FALSE;
    g_ptr_array_add (rungs, g_steal_pointer (&rung));
  }
  g_clear_pointer (ladder, g_ptr_array_unref);
  *ladder = g_steal_pointer (&rungs);
  return TRUE;
}

static gboolean
apply_member (const Field *table, guint n, gpointer base, const gchar *prefix,
              const gchar *name, JsonNode *node, GError **error)
{
  const Field *f = find_field (table, n, name);
  g_autofree gchar *path = prefix ? g_strdup_printf ("%s.%s", prefix, name) : g_strdup (name);
  gpointer p;
  GType vt;

  /* read-only or informational members the API adds */
  if (prefix == NULL && g_strcmp0 (name, "builtin") == 0)
    return TRUE;
  if (f == NULL) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_PROFILE, "unknown profile field \"%s\"",
                 path);
    return FALSE;
  }
  p = G_STRUCT_MEMBER_P (base, f->offset);
  switch (f->kind) {
  case F_OBJECT:
    if (!JSON_NODE_HOLDS_OBJECT (node))
      return wrong_type (path, "an object", error);
    /* members left out keep their values: an override may change one */
    return apply_object (f->sub, f->n_sub, p, path, json_node_get_object (node), error);
  case F_LADDER:
    return apply_ladder ((GPtrArray **) p, path, node, error);
  case F_STRV: {
    g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
    JsonArray *array;

    if (!JSON_NODE_HOLDS_ARRAY (node))
      return wrong_type (path, "an array of strings", error);
    array = json_node_get_array (node);
    if (json_array_get_length (array) > MAX_STRV) {
      g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_PROFILE,
                   "profile field \"%s\" has more than %d entries", path, MAX_STRV);
      return FALSE;
    }
    for (guint i = 0; i < json_array_get_length (array); i++) {
      JsonNode *el = json_array_get_element (array, i);
      if (!JSON_NODE_HOLDS_VALUE (el) || json_node_get_value_type (el) != G_TYPE_STRING)
        return wrong_type (path, "an array of strings", error);
      g_strv_builder_add (builder, json_node_get_string (el));
    }
    g_strfreev (*(gchar ***) p);
    *(gchar ***) p = g_strv_builder_end (builder);
    return TRUE;
  }
  case F_OPT_DOUBLE:
    if (JSON_NODE_HOLDS_NULL (node)) {
      *(gboolean *) G_STRUCT_MEMBER_P (base, f->aux) = FALSE;
      return TRUE;
    }
    break;
  default:
    break;
  }

  if (!JSON_NODE_HOLDS_VALUE (node))
    return wrong_type (path, f->kind == F_OPT_DOUBLE ? "a number or null" : "a scalar", error);
  vt = json_node_get_value_type (node);
  switch (f->kind) {
  case F_STRING:
    if (vt != G_TYPE_STRING)
      return wrong_type (path, "a string", error);
    g_free (*(gchar **) p);
    *(gchar **) p = g_strdup (json_node_get_string (node));
    break;
  case F_INT: {
    gint64 v;
    if (vt != G_TYPE_INT64)
      return wrong_type (path, "an integer", error);
    v = json_node_get_int (node);
    if (v < G_MININT || v > G_MAXINT)
      return wrong_type (path, "an integer", error);
    *(gint *) p = (gint) v;
    break;
  }
  case F_BOOL:
    if (vt != G_TYPE_BOOLEAN)
      return wrong_type (path, "true or false", error);
    *(gboolean *) p = json_node_get_boolean (node);
    break;
  case F_DOUBLE:
  case F_OPT_DOUBLE:
    if (vt == G_TYPE_INT64)
      *(gdouble *) p = (gdouble) json_node_get_int (node);
    else if (vt == G_TYPE_DOUBLE)
      *(gdouble *) p = json_node_get_double (node);
    else
      return wrong_type (path, "a number", error);
    if (f->kind == F_OPT_DOUBLE)
      *(gboolean *) G_STRUCT_MEMBER_P (base, f->aux) = TRUE;
    break;
  default:
    g_assert_not_reached ();
  }
  return TRUE;
}

static gboolean
apply_object (const Field *table, guint n, gpointer base, const gchar *prefix,
              JsonObject *object, GError **error)
{
  g_autoptr(GList) members = json_object_get_members (object);

  for (GList *l = members; l != NULL; l = l->next) {
    if (!apply_member (table, n, base, prefix, l->data,
                       json_object_get_member (object, l->data), error))
      return FALSE;
  }
  return TRUE;
}

WeProfile *
we_profile_new_with_overrides (const WeProfile *base, JsonObject *overrides, GError **error)
{
  g_autoptr(WeProfile) self = base ? we_profile_copy (base) : we_profile_new (NULL);

  if (!apply_object (fields, G_N_ELEMENTS (fields), self, NULL, overrides, error))
    return NULL;
  /* a copy of something is not built in, whatever the original was */
  self->builtin = FALSE;
  if (self->name == NULL)
    self->name = g_strdup (self->id);
  if (!we_profile_validate (self, error))
    return NULL;
  return g_steal_pointer (&self);
}

WeProfile *
we_profile_new_from_json (JsonObject *object, GError **error)
{
  if (object == NULL || !json_object_has_member (object, "id")) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_JOB_INVALID_PROFILE,
                         "a profile needs an \"id\"");
    return NULL;
  }
  return we_profile_new_with_overrides (NULL, object, error);
}

static JsonObject *
fields_to_json (const Field *table, guint n, gconstpointer base)
{
  JsonObject *o = json_object_new ();

  for (guint i = 0; i < n; i++) {
    gconstpointer p = G_STRUCT_MEMBER_P (base, table[i].offset);
    const gchar *name = table[i].name;

    switch (table[i].kind) {
    case F_STRING:
      json_object_set_string_member (o, name, *(gchar * const *) p);
      break;
    case F_INT:
      json_object_set_int_member (o, name, *(const gint *) p);
      break;
    case F_BOOL:
      json_object_set_boolean_member (o, name, *(const gboolean *) p);
      break;
    case F_DOUBLE:
      json_object_set_double_member (o, name, *(const gdouble *) p);
      break;
    case F_OPT_DOUBLE:
      if (*(const gboolean *) G_STRUCT_MEMBER_P (base, table[i].aux))
        json_object_set_double_member (o, name, *(const gdouble *) p);
      else
        json_object_set_null_member (o, name);
      break;
    case F_STRV: {
      JsonArray *a = json_array_new ();
      gchar * const *v = *(gchar * const * const *) p;
      for (guint j = 0; v != NULL && v[j] != NULL; j++)
        json_array_add_string_element (a, v[j]);
      json_object_set_array_member (o, name, a);
      break;
    }
    case F_LADDER: {
      JsonArray *a = json_array_new ();
      const GPtrArray *ladder = *(GPtrArray * const *) p;
      for (guint j = 0; ladder != NULL && j < ladder->len; j++)
        json_array_add_object_element (a, fields_to_json (rung_fields,
                                                          G_N_ELEMENTS (rung_fields),
                                                          g_ptr_array_index (ladder, j)));
      json_object_set_array_member (o, name, a);
      break;
    }
    case F_OBJECT:
      json_object_set_object_member (o, name, fields_to_json (table[i].sub, table[i].n_sub, p));
      break;
    default:
      g_assert_not_reached ();
    }
  }
  return o;
}

JsonObject *
we_profile_to_json (const WeProfile *self)
{
  JsonObject *o = fields_to_json (fields, G_N_ELEMENTS (fields), self);

  json_object_set_boolean_member (o, "builtin", self->builtin);
  return o;
}

static WeProfile *
builtin (const gchar *id, const gchar *description, const gchar *container,
         const gchar *vcodec, gint w, gint h, gboolean pad, gint kbps, gint max_kbps,
         gint buf_kbps, gint crf, const gchar *preset, gint depth, const gchar *acodec,
         gint akbps, gboolean hw)
{
  WeProfile *p = we_profile_new (id);

  g_free (p->description);
  p->description = g_strdup (description);
  g_free (p->container);
  p->container = g_strdup (container);
  g_free (p->video_codec);
  p->video_codec = g_strdup (vcodec);
  p->width = w;
  p->height = h;
  p->pad = pad;
  p->video_bitrate_kbps = kbps;
  p->max_bitrate_kbps = max_kbps;
  p->buffer_kbps = buf_kbps;
  p->crf = crf;
  g_free (p->preset);
  p->preset = g_strdup (preset);
  p->bit_depth = depth;
  g_free (p->audio_codec);
  p->audio_codec = g_strdup (acodec);
  p->audio_bitrate_kbps = akbps;
  p->prefer_hardware = hw;
  p->builtin = TRUE;
  return p;
}

GPtrArray *
we_profile_builtins (void)
{
  GPtrArray *list = g_ptr_array_new_with_free_func ((GDestroyNotify) we_profile_unref);

  /* spec §9.3 */
  g_ptr_array_add (list, builtin ("1080p_h264", "Full HD H.264 (MP4)", "mp4", "h264",
                                  1920, 1080, TRUE, 5000, 5500, 10000, 23, "fast", 8,
                                  "aac", 192, FALSE));
  g_ptr_array_add (list, builtin ("720p_h264", "HD H.264 (MP4)", "mp4", "h264",
                                  1280, 720, FALSE, 2500, 2750, 5000, 23, "fast", 8,
                                  "aac", 128, FALSE));
  g_ptr_array_add (list, builtin ("480p_fast", "SD H.264, fastest preset (MP4)", "mp4", "h264",
                                  854, 480, FALSE, 1000, 1100, 2000, 23, "veryfast", 8,
                                  "aac", 96, FALSE));
  g_ptr_array_add (list, builtin ("720p_vp9", "HD VP9 with Opus (WebM)", "webm", "vp9",
                                  1280, 720, FALSE, 2000, 0, 0, 30, "fast", 8,
                                  "opus", 128, FALSE));
  g_ptr_array_add (list, builtin ("1080p_av1", "Full HD AV1 10-bit with Opus (MP4)", "mp4", "av1",
                                  1920, 1080, FALSE, 0, 0, 0, 30, "fast", 10,
                                  "opus", 128, FALSE));
  g_ptr_array_add (list, builtin ("4k_hevc", "4K HEVC, hardware encoder when present (MP4)",
                                  "mp4", "hevc", 3840, 2160, FALSE, 15000, 18000, 30000, 23,
                                  "fast", 8, "aac", 320, TRUE));
  return list;
}
