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

WeProfile *
we_profile_new (const gchar *id)
{
  WeProfilePriv *priv = g_new0 (WeProfilePriv, 1);
  WeProfile *self = &priv->profile;

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
  g_free (self->id);
  g_free (self->name);
  g_free (self->description);
  g_free (self->container);
  g_free (self->video_codec);
  g_free (self->preset);
  g_free (self->audio_codec);
  g_free (PRIV (self));
}

WeProfile *
we_profile_copy (const WeProfile *self)
{
  g_autoptr(JsonObject) json = we_profile_to_json (self);
  g_autoptr(GError) error = NULL;
  WeProfile *copy = we_profile_new_with_overrides (NULL, json, &error);

  /* a validated profile always round-trips; an unvalidated one may not */
  if (copy == NULL) {
    g_warning ("copying profile %s: %s", self->id, error->message);
    return NULL;
  }
  copy->builtin = self->builtin;
  return copy;
}

const gchar *
we_profile_get_extension (const WeProfile *self)
{
  return self->container;
}

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

static gboolean
valid_id (const gchar *id)
{
  gsize len;

  if (id == NULL)
    return FALSE;
  len = strlen (id);
  if (len == 0 || len > 64)
    return FALSE;
  for (const gchar *p = id; *p; p++) {
    if (!g_ascii_isalnum (*p) && *p != '_' && *p != '-' && *p != '.')
      return FALSE;
  }
  return TRUE;
}

gboolean
we_profile_validate (const WeProfile *self, GError **error)
{
  if (!valid_id (self->id)) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_PROFILE,
                 "profile id must be 1-64 characters of [A-Za-z0-9_.-]");
    return FALSE;
  }
  if (!check_choice ("container", self->container, containers, error) ||
      !check_choice ("video_codec", self->video_codec, video_codecs, error) ||
      !check_choice ("audio_codec", self->audio_codec, audio_codecs, error) ||
      !check_choice ("preset", self->preset, presets, error))
    return FALSE;
  if (!check_range ("width", self->width, 16, 7680, error) ||
      !check_range ("height", self->height, 16, 4320, error) ||
      !check_range ("video_bitrate_kbps", self->video_bitrate_kbps, 0, 200000, error) ||
      !check_range ("max_bitrate_kbps", self->max_bitrate_kbps, 0, 250000, error) ||
      !check_range ("buffer_kbps", self->buffer_kbps, 0, 500000, error) ||
      !check_range ("crf", self->crf, 0, 63, error) ||
      !check_range ("keyframe_interval_s", self->keyframe_interval_s, 1, 20, error) ||
      !check_range ("max_attempts", self->max_attempts, 1, 10, error))
    return FALSE;
  if (self->width % 2 != 0 || self->height % 2 != 0) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_PROFILE,
                 "width and height must be even (got %dx%d)", self->width, self->height);
    return FALSE;
  }
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
                   "opus needs a sample rate of 8000, 16000, 24000 or 48000");
      return FALSE;
    }
  }
  if (g_strcmp0 (self->container, "webm") == 0) {
    if (g_strcmp0 (self->video_codec, "vp9") != 0 && g_strcmp0 (self->video_codec, "av1") != 0) {
      g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_PROFILE,
                   "WebM holds only vp9 or av1 video (got %s)", self->video_codec);
      return FALSE;
    }
    if (g_strcmp0 (self->audio_codec, "aac") == 0) {
      g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_PROFILE,
                   "WebM holds only opus audio (got aac)");
      return FALSE;
    }
  }
  if (!(self->segment_min_s > 0 && self->segment_min_s <= self->segment_target_s &&
        self->segment_target_s <= self->segment_max_s && self->segment_max_s <= 3600)) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_PROFILE,
                 "segment durations must satisfy 0 < min <= target <= max <= 3600");
    return FALSE;
  }
  return TRUE;
}

typedef enum { F_STRING, F_INT, F_BOOL, F_DOUBLE } FieldKind;

typedef struct {
  const gchar *name;
  FieldKind    kind;
  gsize        offset;
} Field;

#define FIELD(n, k) { #n, k, G_STRUCT_OFFSET (WeProfile, n) }

static const Field fields[] = {
  FIELD (id, F_STRING),
  FIELD (name, F_STRING),
  FIELD (description, F_STRING),
  FIELD (container, F_STRING),
  FIELD (video_codec, F_STRING),
  FIELD (width, F_INT),
  FIELD (height, F_INT),
  FIELD (pad, F_BOOL),
  FIELD (video_bitrate_kbps, F_INT),
  FIELD (max_bitrate_kbps, F_INT),
  FIELD (buffer_kbps, F_INT),
  FIELD (crf, F_INT),
  FIELD (preset, F_STRING),
  FIELD (keyframe_interval_s, F_INT),
  FIELD (bit_depth, F_INT),
  FIELD (audio_codec, F_STRING),
  FIELD (audio_bitrate_kbps, F_INT),
  FIELD (audio_sample_rate, F_INT),
  FIELD (audio_channels, F_INT),
  FIELD (prefer_hardware, F_BOOL),
  FIELD (max_attempts, F_INT),
  FIELD (segment_target_s, F_DOUBLE),
  FIELD (segment_min_s, F_DOUBLE),
  FIELD (segment_max_s, F_DOUBLE),
};

static const Field *
find_field (const gchar *name)
{
  for (guint i = 0; i < G_N_ELEMENTS (fields); i++) {
    if (g_strcmp0 (fields[i].name, name) == 0)
      return &fields[i];
  }
  return NULL;
}

static gboolean
apply_member (WeProfile *self, const gchar *name, JsonNode *node, GError **error)
{
  const Field *f = find_field (name);
  gpointer p;
  GType vt;

  /* read-only or informational members the API adds */
  if (g_strcmp0 (name, "builtin") == 0)
    return TRUE;
  if (f == NULL) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_PROFILE, "unknown profile field \"%s\"",
                 name);
    return FALSE;
  }
  if (!JSON_NODE_HOLDS_VALUE (node)) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_PROFILE,
                 "profile field \"%s\" must be a scalar", name);
    return FALSE;
  }
  vt = json_node_get_value_type (node);
  p = G_STRUCT_MEMBER_P (self, f->offset);
  switch (f->kind) {
  case F_STRING:
    if (vt != G_TYPE_STRING)
      goto wrong_type;
    g_free (*(gchar **) p);
    *(gchar **) p = g_strdup (json_node_get_string (node));
    break;
  case F_INT:
    if (vt == G_TYPE_INT64) {
      gint64 v = json_node_get_int (node);
      if (v < G_MININT || v > G_MAXINT)
        goto wrong_type;
      *(gint *) p = (gint) v;
    } else {
      goto wrong_type;
    }
    break;
  case F_BOOL:
    if (vt != G_TYPE_BOOLEAN)
      goto wrong_type;
    *(gboolean *) p = json_node_get_boolean (node);
    break;
  case F_DOUBLE:
    if (vt == G_TYPE_INT64)
      *(gdouble *) p = (gdouble) json_node_get_int (node);
    else if (vt == G_TYPE_DOUBLE)
      *(gdouble *) p = json_node_get_double (node);
    else
      goto wrong_type;
    break;
  default:
    g_assert_not_reached ();
  }
  return TRUE;

wrong_type:
  g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_PROFILE,
               "profile field \"%s\" has the wrong type", name);
  return FALSE;
}

WeProfile *
we_profile_new_with_overrides (const WeProfile *base, JsonObject *overrides, GError **error)
{
  g_autoptr(WeProfile) self = we_profile_new (base ? base->id : NULL);
  g_autoptr(GList) members = NULL;

  if (base != NULL) {
    g_autoptr(JsonObject) base_json = we_profile_to_json (base);
    g_autoptr(GList) base_members = json_object_get_members (base_json);
    for (GList *l = base_members; l; l = l->next) {
      if (!apply_member (self, l->data, json_object_get_member (base_json, l->data), error))
        return NULL;
    }
  }
  members = json_object_get_members (overrides);
  for (GList *l = members; l; l = l->next) {
    if (!apply_member (self, l->data, json_object_get_member (overrides, l->data), error))
      return NULL;
  }
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

JsonObject *
we_profile_to_json (const WeProfile *self)
{
  JsonObject *o = json_object_new ();

  for (guint i = 0; i < G_N_ELEMENTS (fields); i++) {
    gconstpointer p = G_STRUCT_MEMBER_P (self, fields[i].offset);
    switch (fields[i].kind) {
    case F_STRING:
      json_object_set_string_member (o, fields[i].name, *(gchar * const *) p);
      break;
    case F_INT:
      json_object_set_int_member (o, fields[i].name, *(const gint *) p);
      break;
    case F_BOOL:
      json_object_set_boolean_member (o, fields[i].name, *(const gboolean *) p);
      break;
    case F_DOUBLE:
      json_object_set_double_member (o, fields[i].name, *(const gdouble *) p);
      break;
    default:
      g_assert_not_reached ();
    }
  }
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
