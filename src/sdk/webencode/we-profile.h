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
} WeProfile;

#define WE_TYPE_PROFILE (we_profile_get_type ())
GType       we_profile_get_type     (void);

/* Returns: (transfer full): a profile with every field at its default */
WeProfile  *we_profile_new          (const gchar *id);
WeProfile  *we_profile_ref          (WeProfile *self);
void        we_profile_unref        (WeProfile *self);
/* Returns: (transfer full): a deep copy */
WeProfile  *we_profile_copy         (const WeProfile *self);

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
gboolean    we_profile_validate     (const WeProfile *self,
                                     GError         **error);
/* The file extension of the container, without dot. */
const gchar *we_profile_get_extension (const WeProfile *self);

/* Returns: (transfer full) (element-type WeProfile): the spec §9.3 set */
GPtrArray  *we_profile_builtins     (void);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeProfile, we_profile_unref)

G_END_DECLS
