/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * HLS (RFC 8216) and DASH (ISO/IEC 23009-1) manifest text for a packaged
 * ABR ladder. Pure functions over plain structs: everything they print was
 * measured by the packager, so they can be tested without a pipeline.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
  gchar   *uri;          /* relative to the playlist */
  gdouble  duration_s;
  guint64  size_bytes;
} WeGstHlsSegment;

typedef struct {
  gchar     *name;               /* rung name, also its directory */
  gchar     *uri;                /* media playlist, relative to the master */
  gint       width;
  gint       height;
  gdouble    frame_rate;         /* 0 = unknown, not written */
  guint64    bandwidth;          /* peak segment bit rate, bits/s */
  guint64    average_bandwidth;  /* whole rendition, bits/s */
  gchar     *codecs;             /* RFC 6381, e.g. "avc1.64001f,mp4a.40.2" */
} WeGstHlsVariant;

/* An alternative rendition (EXT-X-MEDIA): an audio track or subtitles. */
typedef enum {
  WE_GST_HLS_MEDIA_AUDIO,
  WE_GST_HLS_MEDIA_SUBTITLES,
} WeGstHlsMediaType;

typedef struct {
  WeGstHlsMediaType  type;
  const gchar       *group_id;
  const gchar       *name;      /* unique in its group */
  const gchar       *language;  /* nullable */
  const gchar       *uri;
  gboolean           is_default;
} WeGstHlsMedia;

void     we_gst_hls_segment_free (WeGstHlsSegment *self);
void     we_gst_hls_variant_free (WeGstHlsVariant *self);

/* Peak and average bit rate of @segments (element-type WeGstHlsSegment). */
void     we_gst_hls_segments_bandwidth (const GPtrArray *segments,
                                        guint64         *peak,
                                        guint64         *average);

/* A VOD media playlist; @map_uri is the fMP4 init segment (EXT-X-MAP) or
 * NULL. With @key_uri, every media segment is AES-128 encrypted with the IV
 * left implicit (the media sequence number, which starts at 0), and
 * EXT-X-KEY follows EXT-X-MAP so the init segment stays clear (RFC 8216
 * §4.3.2.4, §4.3.2.5). Returns: (transfer full) */
gchar   *we_gst_hls_media_playlist  (const GPtrArray *segments,
                                     const gchar     *map_uri,
                                     const gchar     *key_uri);

/* The master playlist over @variants (element-type WeGstHlsVariant), best
 * first as given. @media (nullable, element-type WeGstHlsMedia) are the
 * alternative renditions; every variant names the group of the first audio
 * and of the first subtitles entry (one group of each is supported).
 * Returns: (transfer full) */
gchar   *we_gst_hls_master_playlist (const GPtrArray *variants,
                                     const GPtrArray *media);

typedef struct {
  gchar     *id;
  gchar     *mime_type;          /* "video/mp4" | "audio/mp4" | "text/vtt" */
  gchar     *lang;               /* audio and text: the AdaptationSet's lang, nullable */
  gchar     *codecs;
  gint       width;              /* video only */
  gint       height;
  gdouble    frame_rate;
  gint       sample_rate;        /* audio only */
  guint64    bandwidth;
  gchar     *init_uri;           /* relative to the MPD */
  GPtrArray *segments;           /* (element-type WeGstHlsSegment): media segments */
  gchar     *base_url;           /* text/vtt: the whole file, instead of segments */
} WeGstDashRepresentation;

void     we_gst_dash_representation_free (WeGstDashRepresentation *self);

/* A static (VOD) MPD with one video adaptation set holding @video, one
 * audio adaptation set per entry of @audio (nullable; one per language) and
 * one text/vtt adaptation set per entry of @text (nullable). Segments are
 * listed with a SegmentList so their measured durations need no shared
 * timescale grid. Returns: (transfer full) */
gchar   *we_gst_dash_mpd (const GPtrArray *video,
                          const GPtrArray *audio,
                          const GPtrArray *text,
                          gdouble          duration_s);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeGstHlsSegment, we_gst_hls_segment_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeGstHlsVariant, we_gst_hls_variant_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeGstDashRepresentation, we_gst_dash_representation_free)

G_END_DECLS
