/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include "we-gst-hls-playlist.h"

#include <math.h>

void
we_gst_hls_segment_free (WeGstHlsSegment *self)
{
  if (self == NULL)
    return;
  g_free (self->uri);
  g_free (self);
}

void
we_gst_hls_variant_free (WeGstHlsVariant *self)
{
  if (self == NULL)
    return;
  g_free (self->name);
  g_free (self->uri);
  g_free (self->codecs);
  g_free (self);
}

void
we_gst_dash_representation_free (WeGstDashRepresentation *self)
{
  if (self == NULL)
    return;
  g_free (self->id);
  g_free (self->mime_type);
  g_free (self->codecs);
  g_free (self->lang);
  g_free (self->init_uri);
  g_clear_pointer (&self->segments, g_ptr_array_unref);
  g_free (self->base_url);
  g_free (self);
}

void
we_gst_hls_segments_bandwidth (const GPtrArray *segments, guint64 *peak, guint64 *average)
{
  gdouble total_s = 0;
  guint64 total_bytes = 0;
  gdouble max_bps = 0;

  for (guint i = 0; i < segments->len; i++) {
    const WeGstHlsSegment *seg = g_ptr_array_index (segments, i);

    total_s += seg->duration_s;
    total_bytes += seg->size_bytes;
    /* a last segment of a few frames would claim a peak no player ever
     * has to sustain; it still counts towards the average */
    if (seg->duration_s >= 0.5 || segments->len == 1)
      max_bps = MAX (max_bps, seg->size_bytes * 8.0 / MAX (seg->duration_s, 0.001));
  }
  *average = total_s > 0 ? (guint64) ceil (total_bytes * 8.0 / total_s) : 0;
  *peak = MAX ((guint64) ceil (max_bps), *average);
}

/* RFC 8216 §4.3.3.1: every EXTINF rounded to the nearest integer must not
 * exceed it; the ceiling (as ffmpeg writes it) satisfies that and is what
 * players size their buffers on. The millisecond keeps 2.0000001 at 2. */
static gint
target_duration (const GPtrArray *segments)
{
  gdouble max = 0;

  for (guint i = 0; i < segments->len; i++)
    max = MAX (max, ((const WeGstHlsSegment *) g_ptr_array_index (segments, i))->duration_s);
  return MAX (1, (gint) ceil (max - 0.001));
}

gchar *
we_gst_hls_media_playlist (const GPtrArray *segments, const gchar *map_uri, const gchar *key_uri)
{
  GString *out = g_string_new ("#EXTM3U\n");
  gchar buf[G_ASCII_DTOSTR_BUF_SIZE];

  /* EXT-X-MAP in a playlist without I-frames-only needs version 6 */
  g_string_append_printf (out, "#EXT-X-VERSION:%d\n", map_uri != NULL ? 7 : 3);
  g_string_append_printf (out, "#EXT-X-TARGETDURATION:%d\n", target_duration (segments));
  g_string_append (out, "#EXT-X-MEDIA-SEQUENCE:0\n");
  g_string_append (out, "#EXT-X-PLAYLIST-TYPE:VOD\n");
  g_string_append (out, "#EXT-X-INDEPENDENT-SEGMENTS\n");
  if (map_uri != NULL)
    g_string_append_printf (out, "#EXT-X-MAP:URI=\"%s\"\n", map_uri);
  /* after EXT-X-MAP: the key applies to the media segments only, the init
   * segment is clear and so needs no IV attribute */
  if (key_uri != NULL)
    g_string_append_printf (out, "#EXT-X-KEY:METHOD=AES-128,URI=\"%s\"\n", key_uri);
  for (guint i = 0; i < segments->len; i++) {
    const WeGstHlsSegment *seg = g_ptr_array_index (segments, i);

    /* g_ascii_formatd: a playlist must not follow the locale's comma */
    g_string_append_printf (out, "#EXTINF:%s,\n%s\n",
                            g_ascii_formatd (buf, sizeof (buf), "%.6f", seg->duration_s),
                            seg->uri);
  }
  g_string_append (out, "#EXT-X-ENDLIST\n");
  return g_string_free (out, FALSE);
}

static const WeGstHlsMedia *
first_media (const GPtrArray *media, WeGstHlsMediaType type)
{
  for (guint i = 0; media != NULL && i < media->len; i++) {
    const WeGstHlsMedia *m = g_ptr_array_index (media, i);

    if (m->type == type)
      return m;
  }
  return NULL;
}

gchar *
we_gst_hls_master_playlist (const GPtrArray *variants, const GPtrArray *media)
{
  GString *out = g_string_new ("#EXTM3U\n");
  gchar buf[G_ASCII_DTOSTR_BUF_SIZE];
  const WeGstHlsMedia *audio = first_media (media, WE_GST_HLS_MEDIA_AUDIO);
  const WeGstHlsMedia *subs = first_media (media, WE_GST_HLS_MEDIA_SUBTITLES);

  g_string_append_printf (out, "#EXT-X-VERSION:%d\n", media != NULL && media->len > 0 ? 7 : 3);
  g_string_append (out, "#EXT-X-INDEPENDENT-SEGMENTS\n");
  for (guint i = 0; media != NULL && i < media->len; i++) {
    const WeGstHlsMedia *m = g_ptr_array_index (media, i);

    g_string_append_printf (out, "#EXT-X-MEDIA:TYPE=%s,GROUP-ID=\"%s\"",
                            m->type == WE_GST_HLS_MEDIA_AUDIO ? "AUDIO" : "SUBTITLES",
                            m->group_id);
    if (m->language != NULL)
      g_string_append_printf (out, ",LANGUAGE=\"%s\"", m->language);
    /* AUTOSELECT on every entry: a player may pick by the viewer's language */
    g_string_append_printf (out, ",NAME=\"%s\",DEFAULT=%s,AUTOSELECT=YES,URI=\"%s\"\n", m->name,
                            m->is_default ? "YES" : "NO", m->uri);
  }
  for (guint i = 0; i < variants->len; i++) {
    const WeGstHlsVariant *v = g_ptr_array_index (variants, i);

    g_string_append_printf (out, "#EXT-X-STREAM-INF:BANDWIDTH=%" G_GUINT64_FORMAT
                            ",AVERAGE-BANDWIDTH=%" G_GUINT64_FORMAT, v->bandwidth,
                            v->average_bandwidth);
    if (v->width > 0 && v->height > 0)
      g_string_append_printf (out, ",RESOLUTION=%dx%d", v->width, v->height);
    if (v->codecs != NULL)
      g_string_append_printf (out, ",CODECS=\"%s\"", v->codecs);
    if (v->frame_rate > 0)
      g_string_append_printf (out, ",FRAME-RATE=%s",
                              g_ascii_formatd (buf, sizeof (buf), "%.3f", v->frame_rate));
    if (audio != NULL)
      g_string_append_printf (out, ",AUDIO=\"%s\"", audio->group_id);
    if (subs != NULL)
      g_string_append_printf (out, ",SUBTITLES=\"%s\"", subs->group_id);
    g_string_append_printf (out, "\n%s\n", v->uri);
  }
  return g_string_free (out, FALSE);
}

/* xs:duration with millisecond precision */
static void
append_duration (GString *out, gdouble seconds)
{
  gchar buf[G_ASCII_DTOSTR_BUF_SIZE];

  g_string_append_printf (out, "PT%sS", g_ascii_formatd (buf, sizeof (buf), "%.3f", seconds));
}

static void
append_representation (GString *out, const WeGstDashRepresentation *rep)
{
  g_autofree gchar *id = g_markup_escape_text (rep->id, -1);
  g_autofree gchar *codecs = g_markup_escape_text (rep->codecs != NULL ? rep->codecs : "", -1);
  g_autofree gchar *init = g_markup_escape_text (rep->init_uri, -1);
  gint64 t = 0;
  gdouble start_s = 0;

  g_string_append_printf (out, "      <Representation id=\"%s\" codecs=\"%s\" bandwidth=\"%"
                          G_GUINT64_FORMAT "\"", id, codecs, rep->bandwidth);
  if (rep->width > 0)
    g_string_append_printf (out, " width=\"%d\" height=\"%d\"", rep->width, rep->height);
  if (rep->frame_rate > 0)
    g_string_append_printf (out, " frameRate=\"%d/1000\"",
                            (gint) llround (rep->frame_rate * 1000));
  if (rep->sample_rate > 0)
    g_string_append_printf (out, " audioSamplingRate=\"%d\"", rep->sample_rate);
  g_string_append (out, ">\n");
  /* milliseconds: segment times are only needed to the frame, and the
   * media's own decode times take over once a segment is loaded */
  g_string_append_printf (out, "        <SegmentList timescale=\"1000\">\n"
                               "          <Initialization sourceURL=\"%s\"/>\n"
                               "          <SegmentTimeline>\n", init);
  for (guint i = 0; i < rep->segments->len; i++) {
    const WeGstHlsSegment *seg = g_ptr_array_index (rep->segments, i);
    /* the end is rounded, not the length, so the timeline cannot drift */
    gint64 end;

    start_s += seg->duration_s;
    end = llround (start_s * 1000);
    g_string_append_printf (out, "            <S t=\"%" G_GINT64_FORMAT "\" d=\"%" G_GINT64_FORMAT
                            "\"/>\n", t, end - t);
    t = end;
  }
  g_string_append (out, "          </SegmentTimeline>\n");
  for (guint i = 0; i < rep->segments->len; i++) {
    const WeGstHlsSegment *seg = g_ptr_array_index (rep->segments, i);
    g_autofree gchar *media = g_markup_escape_text (seg->uri, -1);

    g_string_append_printf (out, "          <SegmentURL media=\"%s\"/>\n", media);
  }
  g_string_append (out, "        </SegmentList>\n      </Representation>\n");
}

static void
append_text_set (GString *out, guint id, const WeGstDashRepresentation *rep)
{
  g_autofree gchar *rid = g_markup_escape_text (rep->id, -1);
  g_autofree gchar *url = g_markup_escape_text (rep->base_url, -1);

  /* a sidecar WebVTT file: one BaseURL, no segments (DASH-IF IOP §6.4.5) */
  g_string_append_printf (out, "    <AdaptationSet id=\"%u\" contentType=\"text\" "
                          "mimeType=\"text/vtt\"", id);
  if (rep->lang != NULL) {
    g_autofree gchar *lang = g_markup_escape_text (rep->lang, -1);

    g_string_append_printf (out, " lang=\"%s\"", lang);
  }
  g_string_append_printf (out, ">\n      <Role schemeIdUri=\"urn:mpeg:dash:role:2011\" "
                          "value=\"subtitle\"/>\n"
                          "      <Representation id=\"%s\" bandwidth=\"%" G_GUINT64_FORMAT
                          "\">\n        <BaseURL>%s</BaseURL>\n      </Representation>\n"
                          "    </AdaptationSet>\n", rid, MAX (rep->bandwidth, 1), url);
}

gchar *
we_gst_dash_mpd (const GPtrArray *video, const GPtrArray *audio, const GPtrArray *text,
                 gdouble duration_s)
{
  GString *out = g_string_new ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
  gdouble max_seg = 0;
  guint set_id = 1;

  for (guint i = 0; i < video->len; i++) {
    const WeGstDashRepresentation *rep = g_ptr_array_index (video, i);

    for (guint j = 0; j < rep->segments->len; j++)
      max_seg = MAX (max_seg, ((const WeGstHlsSegment *) g_ptr_array_index (rep->segments, j))->duration_s);
  }
  g_string_append (out, "<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\" type=\"static\" "
                        "profiles=\"urn:mpeg:dash:profile:isoff-live:2011\" "
                        "mediaPresentationDuration=\"");
  append_duration (out, duration_s);
  g_string_append (out, "\" minBufferTime=\"");
  append_duration (out, MAX (max_seg, 1.0));
  g_string_append (out, "\" maxSegmentDuration=\"");
  append_duration (out, MAX (max_seg, 1.0));
  g_string_append (out, "\">\n  <Period id=\"0\" start=\"PT0S\">\n");
  /* segmentAlignment: the packager forces every rung's keyframes on the
   * same frames, which is what lets a player switch at any boundary */
  g_string_append (out, "    <AdaptationSet id=\"0\" contentType=\"video\" mimeType=\"video/mp4\" "
                        "segmentAlignment=\"true\" startWithSAP=\"1\">\n");
  for (guint i = 0; i < video->len; i++)
    append_representation (out, g_ptr_array_index (video, i));
  g_string_append (out, "    </AdaptationSet>\n");
  /* one set per track: a player offers the sets' languages to choose from,
   * and switches only between representations of one set */
  for (guint i = 0; audio != NULL && i < audio->len; i++, set_id++) {
    const WeGstDashRepresentation *rep = g_ptr_array_index (audio, i);
    g_autofree gchar *lang = g_markup_escape_text (rep->lang != NULL ? rep->lang : "und", -1);

    g_string_append_printf (out, "    <AdaptationSet id=\"%u\" contentType=\"audio\" "
                            "mimeType=\"audio/mp4\" segmentAlignment=\"true\" "
                            "startWithSAP=\"1\" lang=\"%s\">\n", set_id, lang);
    /* the first track is the main one, as DEFAULT=YES in HLS */
    g_string_append_printf (out, "      <Role schemeIdUri=\"urn:mpeg:dash:role:2011\" "
                            "value=\"%s\"/>\n", i == 0 ? "main" : "alternate");
    append_representation (out, rep);
    g_string_append (out, "    </AdaptationSet>\n");
  }
  for (guint i = 0; text != NULL && i < text->len; i++, set_id++)
    append_text_set (out, set_id, g_ptr_array_index (text, i));
  g_string_append (out, "  </Period>\n</MPD>\n");
  return g_string_free (out, FALSE);
}
