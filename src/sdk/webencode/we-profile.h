/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * An encoding profile (spec §9.3, §19.3). Public fields because every pillar
 * that encodes reads them; created and validated only through the functions
 * below so an invalid profile never reaches a pipeline.
 */
#pragma once

#include <glib-object.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* One rendition of an ABR ladder (spec §9.4.1, §19.3 "Ladder"). */
typedef struct {
  gchar   *name;                /* [a-z0-9_-]{1,32}, unique in its ladder */
  gint     width;               /* bounding box, as WeProfile.width */
  gint     height;
  gint     video_bitrate_kbps;  /* > 0: ladders are bitrate-driven */
  gint     max_bitrate_kbps;    /* 0 = no cap, else >= video_bitrate_kbps */
  gint     audio_bitrate_kbps;
  gboolean enabled;             /* the editor switches rungs off without losing them */
} WeProfileRung;

typedef struct {
  gboolean enabled;
  gdouble  segment_duration_s;  /* 1..30 */
  gchar   *segment_type;        /* "ts" | "fmp4" */
  gchar   *encryption;          /* "none" | "aes-128" */
} WeProfileHls;

typedef struct {
  gboolean enabled;
  gdouble  segment_duration_s;  /* 1..30 */
} WeProfileDash;

typedef struct {
  gboolean poster;              /* one still image */
  gint     interval_s;          /* 0 = no periodic thumbnails */
  gint     width;               /* height follows the aspect ratio */
  gboolean sprite;              /* the periodic thumbnails tiled in one image */
  gint     sprite_columns;
  gboolean storyboard;          /* a WebVTT file pointing into the sprite */
} WeProfileThumbnails;

typedef struct {
  gchar   *mode;                /* "none" | "passthrough" | "extract" | "burn" */
  gchar  **formats;             /* "vtt", "srt": files written by "extract" */
  gint     burn_track;          /* the subtitle stream index "burn" renders */
} WeProfileSubtitles;

typedef struct {
  gboolean passthrough_when_compatible; /* copy the source audio if the container takes it */
  gboolean normalize;           /* FALSE: "normalize_lufs" is null in JSON */
  gdouble  normalize_lufs;      /* integrated loudness target, -70..-5 */
  gboolean keep_all_tracks;     /* every audio stream, not only the default one */
} WeProfileAudio;

typedef struct {
  gchar   *id;                  /* "720p_h264"; [a-z0-9_-]{1,64} */
  gchar   *name;
  gchar   *description;
  gchar   *container;           /* "mp4" | "webm" | "mkv" */
  gchar   *video_codec;         /* "h264" | "hevc" | "vp9" | "av1" */
  gint     width;               /* bounding box, aspect ratio kept */
  gint     height;
  gboolean pad;                 /* letterbox to exactly width x height */
  gint     video_bitrate_kbps;  /* 0 = quality mode (crf-like) */
  gint     max_bitrate_kbps;
  gint     buffer_kbps;
  gint     crf;                 /* used when video_bitrate_kbps == 0, or as a cap for vp9 */
  gchar   *preset;              /* "ultrafast" .. "veryslow" */
  gint     keyframe_interval_s;
  gint     bit_depth;           /* 8 or 10 */
  gchar   *audio_codec;         /* "aac" | "opus" | "none" */
  gint     audio_bitrate_kbps;
  gint     audio_sample_rate;
  gint     audio_channels;
  gboolean prefer_hardware;
  gint     max_attempts;
  gdouble  segment_target_s;
  gdouble  segment_min_s;
  gdouble  segment_max_s;
  gboolean builtin;             /* built-in profiles are read-only */

  /* Packaging (spec §9.4, §19.3). Appended so the fields above keep their
   * offsets for plugins built against the older struct. */
  GPtrArray          *ladder;   /* (element-type WeProfileRung): empty = one rendition */
  WeProfileHls        hls;
  WeProfileDash       dash;
  WeProfileThumbnails thumbnails;
  WeProfileSubtitles  subtitles;
  WeProfileAudio      audio;
} WeProfile;

#define WE_PROFILE_MAX_RUNGS 8

#define WE_TYPE_PROFILE (we_profile_get_type ())
GType       we_profile_get_type     (void);

/* Returns: (transfer full): a profile with every field at its default */
WeProfile  *we_profile_new          (const gchar *id);
WeProfile  *we_profile_ref          (WeProfile *self);
void        we_profile_unref        (WeProfile *self);
/* Returns: (transfer full): a deep copy, builtin flag included */
WeProfile  *we_profile_copy         (const WeProfile *self);

/* Returns: (transfer full): an enabled rung with the given name */
WeProfileRung *we_profile_rung_new  (const gchar *name);
WeProfileRung *we_profile_rung_copy (const WeProfileRung *rung);
void        we_profile_rung_free    (WeProfileRung *rung);

/* Validates and builds a profile; unknown members are rejected so typos are
 * not silently ignored. Errors are WE_ERROR_JOB_INVALID_PROFILE.
 * Returns: (transfer full) (nullable) */
WeProfile  *we_profile_new_from_json (JsonObject *object,
                                      GError    **error);
/* Applies the members of @overrides on top of @base (the wizard's "Custom").
 * Returns: (transfer full) (nullable) */
WeProfile  *we_profile_new_with_overrides (const WeProfile *base,
                                           JsonObject      *overrides,
                                           GError         **error);
/* Returns: (transfer full) */
JsonObject *we_profile_to_json      (const WeProfile *self);
/* Checks every field and their combinations; the message names the field
 * ("hls.segment_duration_s must be …"). Errors are WE_ERROR_JOB_INVALID_PROFILE. */
gboolean    we_profile_validate     (const WeProfile *self,
                                     GError         **error);
/* Whether @id is a valid profile id: [a-z0-9_-]{1,64}. */
gboolean    we_profile_id_is_valid  (const gchar *id);
/* The file extension of the container, without dot. */
const gchar *we_profile_get_extension (const WeProfile *self);

/* Returns: (transfer full) (element-type WeProfile): the spec §9.3 set */
GPtrArray  *we_profile_builtins     (void);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeProfile, we_profile_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeProfileRung, we_profile_rung_free)

G_END_DECLS
