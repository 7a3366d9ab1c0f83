/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * What a probe learned about a source: enough to plan, encode and verify.
 */
#pragma once

#include <glib-object.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* One audio or subtitle stream of a source. */
typedef struct {
  gint   index;      /* among the source's streams of its kind, 0-based */
  gchar *codec;      /* short name: "aac", "opus", … ; subtitles "text" (timed
                      * text: SRT, tx3g, S_TEXT/UTF8), "ass", "webvtt", "ttml",
                      * "dvd_subtitle", "pgs", "dvb_subtitle" */
  gchar *language;   /* ISO 639-2/T ("eng", "fra") from the stream's tags, nullable */
  gchar *title;      /* nullable */
  gint   channels;   /* audio only, else 0 */
  gint   rate;       /* audio only, else 0 */
} WeMediaTrack;

#define WE_TYPE_MEDIA_TRACK (we_media_track_get_type ())
GType         we_media_track_get_type (void);
WeMediaTrack *we_media_track_new      (void);
WeMediaTrack *we_media_track_copy     (const WeMediaTrack *self);
void          we_media_track_free     (WeMediaTrack *self);
/* Whether the subtitle @codec is text that can be demuxed to text/x-raw
 * (passthrough, extraction), not pictures. */
gboolean      we_media_track_codec_is_text (const gchar *codec);

typedef struct {
  gdouble  duration_s;
  gchar   *container;        /* e.g. "video/quicktime" */
  gboolean has_video;
  gboolean has_audio;
  gchar   *video_codec;      /* short name: "h264", "vp9", … */
  gint     width;
  gint     height;
  gint     fps_n;
  gint     fps_d;
  gchar   *audio_codec;
  gint     audio_channels;
  gint     audio_rate;
  guint64  bitrate;          /* bits/s over the whole file, 0 if unknown */
  guint64  size_bytes;

  /* Appended so the fields above keep their offsets for plugins built
   * against the older struct. NULL means unknown (an older probe or
   * worker): JSON then has no "audio_tracks"/"subtitle_tracks" members. */
  GPtrArray *audio_tracks;     /* (element-type WeMediaTrack) (nullable) */
  GPtrArray *subtitle_tracks;  /* (element-type WeMediaTrack) (nullable) */
} WeMediaInfo;

#define WE_TYPE_MEDIA_INFO (we_media_info_get_type ())
GType        we_media_info_get_type  (void);
WeMediaInfo *we_media_info_new       (void);
WeMediaInfo *we_media_info_copy      (const WeMediaInfo *self);
void         we_media_info_free      (WeMediaInfo *self);
/* Returns: (transfer full): also "audio_tracks": [{index, codec, language,
 * title, channels, rate}] and "subtitle_tracks": [{index, codec, language,
 * title}] when known */
JsonObject  *we_media_info_to_json   (const WeMediaInfo *self);
/* Accepts JSON without the track lists (older workers).
 * Returns: (transfer full) (nullable) */
WeMediaInfo *we_media_info_new_from_json (JsonObject *object,
                                          GError    **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeMediaInfo, we_media_info_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeMediaTrack, we_media_track_free)

G_END_DECLS
