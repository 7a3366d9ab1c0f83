/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * wehlssink: live HLS (MPEG-TS segments and a sliding media playlist) that
 * publishes a segment as soon as it is complete.
 *
 *   video ┐
 *         ├ mpegtsmux ! fakesink   (a probe on the fakesink writes the files)
 *   audio ┘
 *
 * Why not hlssink2: its splitmuxsink only closes a fragment once it holds
 * the whole *next* GOP, so every segment appears one GOP after its last
 * frame (1.1 s with 1 s GOPs). Here one muxer runs for the whole stream.
 * A probe on the muxer's video pad sees the keyframe that ends a segment
 * (the first one at or after target-duration) and sends a downstream
 * force-key-unit event in front of it; mpegtsmux forwards that event in
 * stream order and writes PAT/PMT again right behind it, so on the output
 * side the event is the exact boundary: everything before it belongs to
 * the old segment, which is closed, renamed into place and listed at once,
 * and the next segment starts with PAT, PMT and the keyframe.
 *
 * Files are never seen half-written: a segment is written under
 * "<name>.tmp" and renamed when complete; the playlist is replaced with
 * g_file_set_contents_full() (a temporary file renamed over it).
 */
#include "config.h"

#include "gstwehlssink.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <glib/gstdio.h>
#include <gst/video/video.h>

GST_DEBUG_CATEGORY_STATIC (we_hls_sink_debug);
#define GST_CAT_DEFAULT we_hls_sink_debug

#define DEFAULT_LOCATION          "segment%05d.ts"
#define DEFAULT_PLAYLIST_LOCATION "playlist.m3u8"
#define DEFAULT_TARGET_DURATION   15
#define DEFAULT_PLAYLIST_LENGTH   5
#define DEFAULT_MAX_FILES         10
/* timestamps going back more than this, or jumping ahead by more than
 * JUMP_AHEAD, are a new timeline (a takeover by another publisher) */
#define JUMP_BACK                 (500 * GST_MSECOND)
#define JUMP_AHEAD                (2 * GST_SECOND)
#define WRITE_BUFFER_BYTES        (64 * 1024)

enum {
  PROP_0,
  PROP_LOCATION,
  PROP_PLAYLIST_LOCATION,
  PROP_PLAYLIST_ROOT,
  PROP_TARGET_DURATION,
  PROP_PLAYLIST_LENGTH,
  PROP_MAX_FILES,
  PROP_SEND_KEYFRAME_REQUESTS,
};

/* a segment boundary decided on the input side, consumed on the output */
typedef struct {
  GstClockTime rt;
  GstClockTime prev_end; /* where the segment before it ends */
  gint64       pdt_us;   /* wall clock (Unix µs) of its keyframe */
  gboolean     discont;
} Cut;

typedef struct {
  gchar       *path;     /* on disk */
  gchar       *uri;      /* as the playlist names it */
  GstClockTime start_rt;
  GstClockTime duration;
  gint64       pdt_us;
  gboolean     discont;
  guint64      sequence; /* media sequence number */
  guint64      disc_seq; /* discontinuity sequence number */
} Segment;

struct _GstWeHlsSink {
  GstBin      parent;

  GstElement *mux;
  GstElement *sink;
  GstPad     *mux_pad[2]; /* [0] audio, [1] video */

  /* GST_OBJECT_LOCK: the properties */
  gchar      *location;
  gchar      *playlist_location;
  gchar      *playlist_root;
  guint       target_duration;
  guint       playlist_length;
  guint       max_files;
  gboolean    send_keyframe_requests;

  GMutex      lock;       /* everything below */
  /* input side (the video streaming thread) */
  gboolean     keyed;
  gboolean     pending_discont;
  gboolean     key_requested;
  GstClockTime seg_start_rt;
  GstClockTime last_video_rt;
  GstClockTime video_end_rt;
  GstClockTime jump_end_rt;
  GstClockTime last_key_rt;
  GstClockTime gop;       /* the last interval between two keyframes */
  GstClockTime base_rt;   /* base_rt was seen at base_wall_us (Unix µs) */
  gint64       base_wall_us;
  GstCaps     *caps;      /* the video's */
  gchar       *stream_id; /* the video's */
  GQueue       cuts;      /* Cut*: made on input, not yet met on output */
  /* output side (the muxer's thread) */
  FILE        *file;
  gchar       *file_tmp;
  Segment     *current;
  guint        next_index;
  guint64      next_sequence;
  guint64      disc_count;
  GQueue       segments;  /* Segment*: published and on disk, oldest first */
  gboolean     ended;
};

static GstStaticPadTemplate video_template =
  GST_STATIC_PAD_TEMPLATE ("video", GST_PAD_SINK, GST_PAD_REQUEST,
                           GST_STATIC_CAPS ("video/x-h264, stream-format=(string)byte-stream, "
                                            "alignment=(string)au"));
static GstStaticPadTemplate audio_template =
  GST_STATIC_PAD_TEMPLATE ("audio", GST_PAD_SINK, GST_PAD_REQUEST,
                           GST_STATIC_CAPS ("audio/mpeg, mpegversion=(int){ 2, 4 }"));

G_DEFINE_TYPE (GstWeHlsSink, gst_we_hls_sink, GST_TYPE_BIN);
GST_ELEMENT_REGISTER_DEFINE_WITH_CODE (wehlssink, "wehlssink", GST_RANK_NONE,
                                       GST_TYPE_WE_HLS_SINK,
                                       GST_DEBUG_CATEGORY_INIT (we_hls_sink_debug, "wehlssink",
                                                                0, "low-latency live HLS sink"));

static void
segment_free (Segment *seg)
{
  g_free (seg->path);
  g_free (seg->uri);
  g_free (seg);
}

/* ISO 8601 with milliseconds, UTC, as EXT-X-PROGRAM-DATE-TIME wants it */
static void
append_date_time (GString *out, gint64 unix_us)
{
  time_t secs = (time_t) (unix_us / G_USEC_PER_SEC);
  struct tm tm;
  gchar buf[64];

  gmtime_r (&secs, &tm);
  strftime (buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  g_string_append_printf (out, "%s.%03dZ", buf, (gint) ((unix_us % G_USEC_PER_SEC) / 1000));
}

static gdouble
seconds_ms (GstClockTime t)
{
  /* to whole milliseconds first, so EXTINF and the target agree */
  return (gdouble) (t / GST_MSECOND) / 1000.0;
}

/* Called with the lock. Rewrites the playlist from the published segments. */
static void
write_playlist (GstWeHlsSink *self)
{
  g_autoptr(GString) out = g_string_new ("#EXTM3U\n#EXT-X-VERSION:3\n");
  g_autoptr(GError) error = NULL;
  g_autofree gchar *playlist = NULL;
  guint length, skip;
  GList *first;
  gdouble max = 0;
  gchar num[G_ASCII_DTOSTR_BUF_SIZE];

  GST_OBJECT_LOCK (self);
  playlist = g_strdup (self->playlist_location);
  length = self->playlist_length;
  GST_OBJECT_UNLOCK (self);
  if (playlist == NULL || self->segments.length == 0)
    return;
  skip = length > 0 && self->segments.length > length ? self->segments.length - length : 0;
  first = g_queue_peek_nth_link (&self->segments, skip);
  for (GList *l = first; l != NULL; l = l->next)
    max = MAX (max, seconds_ms (((Segment *) l->data)->duration));
  g_string_append_printf (out, "#EXT-X-TARGETDURATION:%u\n", MAX (1, (guint) ceil (max)));
  g_string_append_printf (out, "#EXT-X-MEDIA-SEQUENCE:%" G_GUINT64_FORMAT "\n",
                          ((Segment *) first->data)->sequence);
  if (((Segment *) first->data)->disc_seq > 0)
    g_string_append_printf (out, "#EXT-X-DISCONTINUITY-SEQUENCE:%" G_GUINT64_FORMAT "\n",
                            ((Segment *) first->data)->disc_seq);
  for (GList *l = first; l != NULL; l = l->next) {
    Segment *seg = l->data;

    /* the first one listed carries its number in DISCONTINUITY-SEQUENCE */
    if (seg->discont && l != first)
      g_string_append (out, "#EXT-X-DISCONTINUITY\n");
    g_string_append (out, "#EXT-X-PROGRAM-DATE-TIME:");
    append_date_time (out, seg->pdt_us);
    g_string_append_printf (out, "\n#EXTINF:%s,\n%s\n",
                            g_ascii_formatd (num, sizeof num, "%.3f", seconds_ms (seg->duration)),
                            seg->uri);
  }
  if (self->ended)
    g_string_append (out, "#EXT-X-ENDLIST\n");
  /* CONSISTENT: a temporary file renamed over the playlist, so a player
   * reads the old one or the new one, never a mix; no fsync (latency) */
  if (!g_file_set_contents_full (playlist, out->str, (gssize) out->len,
                                 G_FILE_SET_CONTENTS_CONSISTENT, 0644, &error))
    GST_ELEMENT_WARNING (self, RESOURCE, WRITE, ("cannot write the playlist"),
                         ("%s", error->message));
}

/* Called with the lock: starts the file of the segment beginning at @cut. */
static gboolean
open_segment (GstWeHlsSink *self, const Cut *cut)
{
  g_autofree gchar *pattern = NULL;
  g_autofree gchar *root = NULL;
  g_autofree gchar *base = NULL;
  Segment *seg = g_new0 (Segment, 1);

  GST_OBJECT_LOCK (self);
  pattern = g_strdup (self->location);
  root = g_strdup (self->playlist_root);
  GST_OBJECT_UNLOCK (self);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
  /* the same pattern hlssink2 and multifilesink take ("segment%05d.ts") */
  seg->path = g_strdup_printf (pattern, self->next_index++);
#pragma GCC diagnostic pop
  base = g_path_get_basename (seg->path);
  seg->uri = root != NULL ? g_strdup_printf ("%s/%s", root, base) : g_strdup (base);
  seg->start_rt = cut->rt;
  seg->pdt_us = cut->pdt_us;
  seg->discont = cut->discont && self->next_sequence > 0;
  if (seg->discont)
    self->disc_count++;
  seg->disc_seq = self->disc_count;
  seg->sequence = self->next_sequence++;
  self->file_tmp = g_strconcat (seg->path, ".tmp", NULL);
  self->file = g_fopen (self->file_tmp, "wb");
  if (self->file == NULL) {
    int saved = errno;

    GST_ELEMENT_ERROR (self, RESOURCE, OPEN_WRITE, ("cannot write the segment %s", seg->path),
                       ("%s", g_strerror (saved)));
    g_clear_pointer (&self->file_tmp, g_free);
    segment_free (seg);
    return FALSE;
  }
  setvbuf (self->file, NULL, _IOFBF, WRITE_BUFFER_BYTES);
  self->current = seg;
  GST_DEBUG_OBJECT (self, "segment %s opened at %" GST_TIME_FORMAT, seg->path,
                    GST_TIME_ARGS (seg->start_rt));
  return TRUE;
}

/* Called with the lock: closes the current segment, which ends at @end_rt,
 * renames it into place, drops the files beyond max-files and rewrites
 * the playlist. Returns: (transfer full) (nullable) the message to post
 * once the lock is released. */
static GstMessage *
close_segment (GstWeHlsSink *self, GstClockTime end_rt)
{
  Segment *seg = self->current;
  g_autofree gchar *tmp = g_steal_pointer (&self->file_tmp);
  gboolean ok;
  guint max_files, length, keep;

  if (seg == NULL)
    return NULL;
  self->current = NULL;
  ok = fclose (self->file) == 0;
  self->file = NULL;
  if (!ok || g_rename (tmp, seg->path) != 0) {
    int saved = errno;

    GST_ELEMENT_WARNING (self, RESOURCE, WRITE, ("cannot finish the segment %s", seg->path),
                         ("%s", g_strerror (saved)));
    g_unlink (tmp);
    segment_free (seg);
    return NULL;
  }
  seg->duration = GST_CLOCK_TIME_IS_VALID (end_rt) && end_rt > seg->start_rt
                      ? end_rt - seg->start_rt : 0;
  g_queue_push_tail (&self->segments, seg);

  GST_OBJECT_LOCK (self);
  max_files = self->max_files;
  length = self->playlist_length;
  GST_OBJECT_UNLOCK (self);
  /* never delete a file the playlist still names */
  keep = max_files == 0 ? G_MAXUINT : MAX (max_files, length);
  while (self->segments.length > keep) {
    Segment *old = g_queue_pop_head (&self->segments);

    if (g_unlink (old->path) != 0 && errno != ENOENT)
      GST_WARNING_OBJECT (self, "cannot delete %s: %s", old->path, g_strerror (errno));
    segment_free (old);
  }
  write_playlist (self);
  GST_DEBUG_OBJECT (self, "segment %s published, %" GST_TIME_FORMAT, seg->path,
                    GST_TIME_ARGS (seg->duration));
  /* no "running-time" field: live-gst takes any element message with
   * "location" and "running-time" for one of its recording's fragments */
  return gst_message_new_element (GST_OBJECT (self),
                                  gst_structure_new ("hls-segment-added",
                                                     "location", G_TYPE_STRING, seg->path,
                                                     "start-time", GST_TYPE_CLOCK_TIME,
                                                     seg->start_rt,
                                                     "duration", GST_TYPE_CLOCK_TIME,
                                                     seg->duration,
                                                     "discont", G_TYPE_BOOLEAN, seg->discont,
                                                     NULL));
}

/* Called with the lock: the boundary at @rt, as the input side made it */
static Cut
take_cut (GstWeHlsSink *self, GstClockTime rt)
{
  Cut cut = { rt, rt, g_get_real_time (), FALSE };
  Cut *c;

  /* a boundary the muxer did not honour (it never does unless asked for
   * a keyframe it gets) is dropped */
  while ((c = g_queue_peek_head (&self->cuts)) != NULL &&
         GST_CLOCK_TIME_IS_VALID (rt) && c->rt < rt)
    g_free (g_queue_pop_head (&self->cuts));
  c = g_queue_pop_head (&self->cuts);
  if (c != NULL) {
    cut = *c;
    g_free (c);
  }
  return cut;
}

static gboolean
write_data (GstWeHlsSink *self, GstBuffer *buf)
{
  GstMapInfo map;
  gboolean ok;

  if (self->file == NULL) {
    Cut cut;

    if (self->ended)
      return TRUE;
    cut = take_cut (self, GST_CLOCK_TIME_NONE);
    if (!open_segment (self, &cut))
      return FALSE;
  }
  if (!gst_buffer_map (buf, &map, GST_MAP_READ))
    return FALSE;
  ok = fwrite (map.data, 1, map.size, self->file) == map.size;
  gst_buffer_unmap (buf, &map);
  if (!ok)
    GST_ELEMENT_WARNING (self, RESOURCE, WRITE, ("cannot write the segment"),
                         ("%s", g_strerror (errno)));
  return TRUE;
}

static gboolean
write_list (GstBuffer **buf, guint idx, gpointer user_data)
{
  return write_data (user_data, *buf);
}

/* On the fakesink's pad, in the muxer's thread: the files */
static GstPadProbeReturn
output_probe (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  GstWeHlsSink *self = user_data;
  GstMessage *msg = NULL;

  g_mutex_lock (&self->lock);
  if (info->type & GST_PAD_PROBE_TYPE_BUFFER) {
    write_data (self, GST_PAD_PROBE_INFO_BUFFER (info));
  } else if (info->type & GST_PAD_PROBE_TYPE_BUFFER_LIST) {
    gst_buffer_list_foreach (GST_PAD_PROBE_INFO_BUFFER_LIST (info), write_list, self);
  } else if (info->type & GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM) {
    GstEvent *event = GST_PAD_PROBE_INFO_EVENT (info);
    GstClockTime rt = GST_CLOCK_TIME_NONE;

    if (gst_video_event_is_force_key_unit (event) &&
        gst_video_event_parse_downstream_force_key_unit (event, NULL, NULL, &rt, NULL, NULL) &&
        !self->ended) {
      /* the boundary: the old segment is complete, the next one starts
       * with the PAT/PMT and keyframe behind this event */
      Cut cut = take_cut (self, rt);

      msg = close_segment (self, cut.prev_end);
      open_segment (self, &cut);
    } else if (GST_EVENT_TYPE (event) == GST_EVENT_EOS && !self->ended) {
      self->ended = TRUE;
      msg = close_segment (self, self->video_end_rt);
      write_playlist (self);
    }
  }
  g_mutex_unlock (&self->lock);
  if (msg != NULL)
    gst_element_post_message (GST_ELEMENT (self), msg);
  return GST_PAD_PROBE_OK;
}

static GstClockTime
running_time (GstPad *pad, GstClockTime ts)
{
  g_autoptr(GstEvent) event = gst_pad_get_sticky_event (pad, GST_EVENT_SEGMENT, 0);
  const GstSegment *segment;

  if (event == NULL || !GST_CLOCK_TIME_IS_VALID (ts))
    return GST_CLOCK_TIME_NONE;
  gst_event_parse_segment (event, &segment);
  if (segment->format != GST_FORMAT_TIME)
    return GST_CLOCK_TIME_NONE;
  return gst_segment_to_running_time (segment, GST_FORMAT_TIME, ts);
}

/* Called with the lock: a boundary at @rt, to be met on the output side */
static void
push_cut (GstWeHlsSink *self, GstClockTime rt, GstClockTime prev_end, gboolean discont)
{
  Cut *cut = g_new0 (Cut, 1);

  /* the wall clock follows the running time from the first keyframe (or
   * the first after a jump) on, so the dates do not drift with delays
   * in the pipeline */
  if (!GST_CLOCK_TIME_IS_VALID (self->base_rt) || discont || rt < self->base_rt) {
    self->base_rt = rt;
    self->base_wall_us = g_get_real_time ();
  }
  cut->rt = rt;
  cut->prev_end = prev_end;
  cut->pdt_us = self->base_wall_us + (gint64) ((rt - self->base_rt) / GST_USECOND);
  cut->discont = discont;
  g_queue_push_tail (&self->cuts, cut);
  self->seg_start_rt = rt;
  self->key_requested = FALSE;
}

/* Called with the lock, at a keyframe @rt before the segment reached
 * @target: cut here all the same when the next keyframe, expected one GOP
 * (the previous interval between two keyframes) later, would overshoot
 * the target by more than this one falls short. A regular GOP never
 * triggers it, except to absorb timestamp jitter (a keyframe 1 ms early
 * must not make a segment of two GOPs); a takeover does (the new
 * publisher's first keyframe comes at any point of the old GOP, and
 * live-gst continues the same stream, so nothing else marks it), as does
 * a publisher shortening its GOP: segments stay near the target instead
 * of growing to almost two. */
static gboolean
early_cut (GstWeHlsSink *self, GstClockTime rt, GstClockTime target)
{
  GstClockTime elapsed, gop;

  if (!GST_CLOCK_TIME_IS_VALID (self->gop) || rt < self->seg_start_rt)
    return FALSE;
  elapsed = rt - self->seg_start_rt;
  gop = self->gop;
  if (elapsed >= target || elapsed + gop <= target)
    return FALSE;
  return target - elapsed < elapsed + gop - target;
}

/* On the muxer's video pad, in the video streaming thread: where the
 * segments end */
static GstPadProbeReturn
video_probe (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  GstWeHlsSink *self = user_data;
  GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER (info);
  GstClockTime pts = GST_BUFFER_PTS_IS_VALID (buf) ? GST_BUFFER_PTS (buf) : GST_BUFFER_DTS (buf);
  GstClockTime rt = running_time (pad, pts);
  GstClockTime end;
  gboolean key = !GST_BUFFER_FLAG_IS_SET (buf, GST_BUFFER_FLAG_DELTA_UNIT);
  gboolean cut = FALSE, discont = FALSE, request;
  GstClockTime target;

  if (!GST_CLOCK_TIME_IS_VALID (rt))
    return GST_PAD_PROBE_OK;
  end = rt + (GST_BUFFER_DURATION_IS_VALID (buf) ? GST_BUFFER_DURATION (buf) : 0);
  GST_OBJECT_LOCK (self);
  target = self->target_duration * GST_SECOND;
  request = self->send_keyframe_requests;
  GST_OBJECT_UNLOCK (self);

  g_mutex_lock (&self->lock);
  if (!self->keyed) {
    /* a segment starts with a keyframe: nothing before the first */
    if (!key) {
      g_mutex_unlock (&self->lock);
      return GST_PAD_PROBE_DROP;
    }
    self->keyed = TRUE;
    self->last_key_rt = rt;
    push_cut (self, rt, rt, FALSE);
    self->last_video_rt = rt;
    self->video_end_rt = end;
    g_mutex_unlock (&self->lock);
    return GST_PAD_PROBE_OK;
  }
  if (rt + JUMP_BACK < self->last_video_rt || rt > self->video_end_rt + JUMP_AHEAD) {
    GST_INFO_OBJECT (self, "timestamps jump from %" GST_TIME_FORMAT " to %" GST_TIME_FORMAT,
                     GST_TIME_ARGS (self->last_video_rt), GST_TIME_ARGS (rt));
    /* the end of the old timeline ends its segment */
    if (!self->pending_discont)
      self->jump_end_rt = self->video_end_rt;
    self->pending_discont = TRUE;
    self->video_end_rt = GST_CLOCK_TIME_NONE;
  }
  self->last_video_rt = rt;
  if (!GST_CLOCK_TIME_IS_VALID (self->video_end_rt) || end > self->video_end_rt)
    self->video_end_rt = end;
  if (self->pending_discont && !key) {
    /* the new timeline starts its own segment, with a keyframe */
    g_mutex_unlock (&self->lock);
    return GST_PAD_PROBE_DROP;
  }
  if (key && (self->pending_discont || (target > 0 && rt >= self->seg_start_rt + target) ||
              (target > 0 && early_cut (self, rt, target)))) {
    cut = TRUE;
    discont = self->pending_discont;
    push_cut (self, rt, self->pending_discont ? self->jump_end_rt : rt, self->pending_discont);
    self->pending_discont = FALSE;
    request = FALSE;
  } else if (request && !key && !self->key_requested && target > 0 &&
             rt >= self->seg_start_rt + target) {
    self->key_requested = TRUE;
  } else {
    request = FALSE;
  }
  if (key) {
    /* no GOP across a discontinuity */
    if (discont)
      self->gop = GST_CLOCK_TIME_NONE;
    else if (GST_CLOCK_TIME_IS_VALID (self->last_key_rt) && rt > self->last_key_rt)
      self->gop = rt - self->last_key_rt;
    self->last_key_rt = rt;
  }
  g_mutex_unlock (&self->lock);

  if (cut) {
    GstClockTime stream_time = GST_CLOCK_TIME_NONE;
    g_autoptr(GstEvent) segment = gst_pad_get_sticky_event (pad, GST_EVENT_SEGMENT, 0);

    if (segment != NULL) {
      const GstSegment *s;

      gst_event_parse_segment (segment, &s);
      stream_time = gst_segment_to_stream_time (s, GST_FORMAT_TIME, pts);
    }
    /* serialized: it reaches the muxer before this keyframe, which the
     * muxer then writes behind the event and a new PAT/PMT */
    gst_pad_send_event (pad, gst_video_event_new_downstream_force_key_unit (pts, stream_time,
                                                                            rt, TRUE, 0));
  } else if (request) {
    /* upstream, to an encoder that takes requests */
    gst_pad_push_event (pad, gst_video_event_new_upstream_force_key_unit (GST_CLOCK_TIME_NONE,
                                                                          TRUE, 0));
  }
  return GST_PAD_PROBE_OK;
}

/* Called with the lock: the current timeline ends here, the next segment
 * starts with the next keyframe and is marked as a discontinuity */
static void
set_discont (GstWeHlsSink *self)
{
  if (!self->keyed)
    return;
  if (!self->pending_discont)
    self->jump_end_rt = self->video_end_rt;
  self->pending_discont = TRUE;
}

/* On the muxer's video pad: a new stream (a takeover: another publisher,
 * another encoder) or other caps start a new segment marked as a
 * discontinuity, as players reset their decoder there; without it the
 * old publisher's last partial GOP and the new one's first GOP would
 * make one long segment */
static GstPadProbeReturn
video_event_probe (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  GstWeHlsSink *self = user_data;
  GstEvent *event = GST_PAD_PROBE_INFO_EVENT (info);

  if (GST_EVENT_TYPE (event) == GST_EVENT_CAPS) {
    GstCaps *caps;

    gst_event_parse_caps (event, &caps);
    g_mutex_lock (&self->lock);
    if (self->caps != NULL && !gst_caps_is_equal (self->caps, caps)) {
      GST_INFO_OBJECT (self, "new caps %" GST_PTR_FORMAT, caps);
      set_discont (self);
    }
    gst_caps_replace (&self->caps, caps);
    g_mutex_unlock (&self->lock);
  } else if (GST_EVENT_TYPE (event) == GST_EVENT_STREAM_START) {
    const gchar *id = NULL;

    gst_event_parse_stream_start (event, &id);
    g_mutex_lock (&self->lock);
    if (self->stream_id != NULL && g_strcmp0 (self->stream_id, id) != 0) {
      GST_INFO_OBJECT (self, "new stream %s", id);
      set_discont (self);
    }
    g_free (self->stream_id);
    self->stream_id = g_strdup (id != NULL ? id : "");
    g_mutex_unlock (&self->lock);
  }
  return GST_PAD_PROBE_OK;
}

/* On the muxer's audio pad: nothing before the first video keyframe */
static GstPadProbeReturn
audio_probe (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  GstWeHlsSink *self = user_data;
  gboolean keyed;

  g_mutex_lock (&self->lock);
  keyed = self->keyed;
  g_mutex_unlock (&self->lock);
  return keyed ? GST_PAD_PROBE_OK : GST_PAD_PROBE_DROP;
}

static GstPad *
gst_we_hls_sink_request_new_pad (GstElement *element, GstPadTemplate *templ, const gchar *name,
                                 const GstCaps *caps)
{
  GstWeHlsSink *self = GST_WE_HLS_SINK (element);
  gboolean video = g_str_equal (GST_PAD_TEMPLATE_NAME_TEMPLATE (templ), "video");
  GstPad *target, *ghost;

  if (self->mux_pad[video] != NULL) {
    GST_WARNING_OBJECT (self, "the %s pad exists already", video ? "video" : "audio");
    return NULL;
  }
  target = gst_element_request_pad_simple (self->mux, "sink_%d");
  if (target == NULL)
    return NULL;
  gst_pad_add_probe (target, GST_PAD_PROBE_TYPE_BUFFER, video ? video_probe : audio_probe, self,
                     NULL);
  if (video)
    gst_pad_add_probe (target, GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM, video_event_probe, self,
                       NULL);
  ghost = gst_ghost_pad_new_from_template (video ? "video" : "audio", target, templ);
  self->mux_pad[video] = target;
  gst_pad_set_active (ghost, TRUE);
  gst_element_add_pad (element, ghost);
  return ghost;
}

static void
gst_we_hls_sink_release_pad (GstElement *element, GstPad *pad)
{
  GstWeHlsSink *self = GST_WE_HLS_SINK (element);
  gboolean video = g_str_equal (GST_PAD_NAME (pad), "video");
  GstPad *target = g_steal_pointer (&self->mux_pad[video]);

  gst_element_remove_pad (element, pad);
  if (target != NULL) {
    /* at dispose GstBin lets go of the muxer before GstElement releases
     * the request pads: then the muxer's pads go with the muxer */
    if (GST_OBJECT_PARENT (self->mux) == GST_OBJECT (self))
      gst_element_release_request_pad (self->mux, target);
    gst_object_unref (target);
  }
}

/* Called with the lock */
static void
reset (GstWeHlsSink *self)
{
  self->keyed = FALSE;
  self->pending_discont = FALSE;
  self->key_requested = FALSE;
  self->seg_start_rt = GST_CLOCK_TIME_NONE;
  self->last_video_rt = GST_CLOCK_TIME_NONE;
  self->last_key_rt = GST_CLOCK_TIME_NONE;
  self->gop = GST_CLOCK_TIME_NONE;
  self->video_end_rt = GST_CLOCK_TIME_NONE;
  self->base_rt = GST_CLOCK_TIME_NONE;
  gst_caps_replace (&self->caps, NULL);
  g_clear_pointer (&self->stream_id, g_free);
  g_queue_clear_full (&self->cuts, g_free);
  g_queue_clear_full (&self->segments, (GDestroyNotify) segment_free);
  self->ended = FALSE;
}

static GstStateChangeReturn
gst_we_hls_sink_change_state (GstElement *element, GstStateChange transition)
{
  GstWeHlsSink *self = GST_WE_HLS_SINK (element);
  GstStateChangeReturn ret;
  GstMessage *msg = NULL;

  if (transition == GST_STATE_CHANGE_READY_TO_PAUSED) {
    g_mutex_lock (&self->lock);
    reset (self);
    self->next_index = 0;
    self->next_sequence = 0;
    self->disc_count = 0;
    g_mutex_unlock (&self->lock);
  }
  ret = GST_ELEMENT_CLASS (gst_we_hls_sink_parent_class)->change_state (element, transition);
  if (transition == GST_STATE_CHANGE_PAUSED_TO_READY) {
    /* stopped without EOS: what was written is a valid segment, listed
     * (without EXT-X-ENDLIST: the stream did not end) */
    g_mutex_lock (&self->lock);
    msg = close_segment (self, self->video_end_rt);
    reset (self);
    g_mutex_unlock (&self->lock);
    if (msg != NULL)
      gst_element_post_message (element, msg);
  }
  return ret;
}

static void
gst_we_hls_sink_set_property (GObject *object, guint prop_id, const GValue *value,
                              GParamSpec *pspec)
{
  GstWeHlsSink *self = GST_WE_HLS_SINK (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
  case PROP_LOCATION:
    g_free (self->location);
    self->location = g_value_dup_string (value);
    break;
  case PROP_PLAYLIST_LOCATION:
    g_free (self->playlist_location);
    self->playlist_location = g_value_dup_string (value);
    break;
  case PROP_PLAYLIST_ROOT:
    g_free (self->playlist_root);
    self->playlist_root = g_value_dup_string (value);
    break;
  case PROP_TARGET_DURATION:
    self->target_duration = g_value_get_uint (value);
    break;
  case PROP_PLAYLIST_LENGTH:
    self->playlist_length = g_value_get_uint (value);
    break;
  case PROP_MAX_FILES:
    self->max_files = g_value_get_uint (value);
    break;
  case PROP_SEND_KEYFRAME_REQUESTS:
    self->send_keyframe_requests = g_value_get_boolean (value);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_we_hls_sink_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  GstWeHlsSink *self = GST_WE_HLS_SINK (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
  case PROP_LOCATION:
    g_value_set_string (value, self->location);
    break;
  case PROP_PLAYLIST_LOCATION:
    g_value_set_string (value, self->playlist_location);
    break;
  case PROP_PLAYLIST_ROOT:
    g_value_set_string (value, self->playlist_root);
    break;
  case PROP_TARGET_DURATION:
    g_value_set_uint (value, self->target_duration);
    break;
  case PROP_PLAYLIST_LENGTH:
    g_value_set_uint (value, self->playlist_length);
    break;
  case PROP_MAX_FILES:
    g_value_set_uint (value, self->max_files);
    break;
  case PROP_SEND_KEYFRAME_REQUESTS:
    g_value_set_boolean (value, self->send_keyframe_requests);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_we_hls_sink_finalize (GObject *object)
{
  GstWeHlsSink *self = GST_WE_HLS_SINK (object);

  if (self->file != NULL)
    fclose (self->file);
  g_free (self->file_tmp);
  gst_object_unref (self->mux);
  gst_caps_replace (&self->caps, NULL);
  g_free (self->stream_id);
  if (self->current != NULL)
    segment_free (self->current);
  g_queue_clear_full (&self->cuts, g_free);
  g_queue_clear_full (&self->segments, (GDestroyNotify) segment_free);
  g_free (self->location);
  g_free (self->playlist_location);
  g_free (self->playlist_root);
  g_mutex_clear (&self->lock);
  G_OBJECT_CLASS (gst_we_hls_sink_parent_class)->finalize (object);
}

static void
gst_we_hls_sink_init (GstWeHlsSink *self)
{
  g_mutex_init (&self->lock);
  g_queue_init (&self->cuts);
  g_queue_init (&self->segments);
  self->location = g_strdup (DEFAULT_LOCATION);
  self->playlist_location = g_strdup (DEFAULT_PLAYLIST_LOCATION);
  self->target_duration = DEFAULT_TARGET_DURATION;
  self->playlist_length = DEFAULT_PLAYLIST_LENGTH;
  self->max_files = DEFAULT_MAX_FILES;
  self->send_keyframe_requests = TRUE;
  reset (self);

  self->mux = gst_element_factory_make ("mpegtsmux", NULL);
  self->sink = gst_element_factory_make ("fakesink", NULL);
  if (self->mux == NULL || self->sink == NULL) {
    /* a missing plugin: the element is unusable, say why */
    GST_ERROR_OBJECT (self, "mpegtsmux or fakesink is missing");
    g_clear_object (&self->mux);
    g_clear_object (&self->sink);
    self->mux = gst_element_factory_make ("identity", NULL);
    self->sink = gst_element_factory_make ("fakesink", NULL);
  }
  /* the files are written as fast as data comes: no clock, no preroll */
  g_object_set (self->sink, "sync", FALSE, "async", FALSE, "enable-last-sample", FALSE, NULL);
  /* mpegtsmux's default alignment: packets pushed as they are made. With
   * "alignment" 7 it holds up to 6 packets back, which would then come
   * after the force-key-unit event and land in the next segment. */
  gst_bin_add_many (GST_BIN (self), self->mux, self->sink, NULL);
  /* our own reference: release_pad may run after GstBin's dispose */
  gst_object_ref (self->mux);
  gst_element_link (self->mux, self->sink);
  {
    g_autoptr(GstPad) pad = gst_element_get_static_pad (self->sink, "sink");

    gst_pad_add_probe (pad,
                       GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST |
                         GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM,
                       output_probe, self, NULL);
  }
  GST_OBJECT_FLAG_SET (self, GST_ELEMENT_FLAG_SINK);
}

static void
gst_we_hls_sink_class_init (GstWeHlsSinkClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);

  object_class->set_property = gst_we_hls_sink_set_property;
  object_class->get_property = gst_we_hls_sink_get_property;
  object_class->finalize = gst_we_hls_sink_finalize;
  element_class->request_new_pad = gst_we_hls_sink_request_new_pad;
  element_class->release_pad = gst_we_hls_sink_release_pad;
  element_class->change_state = gst_we_hls_sink_change_state;

  g_object_class_install_property (
    object_class, PROP_LOCATION,
    g_param_spec_string ("location", "Location",
                         "Segment files, a pattern with one integer (\"%05d\")",
                         DEFAULT_LOCATION, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (
    object_class, PROP_PLAYLIST_LOCATION,
    g_param_spec_string ("playlist-location", "Playlist location", "The media playlist file",
                         DEFAULT_PLAYLIST_LOCATION, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (
    object_class, PROP_PLAYLIST_ROOT,
    g_param_spec_string ("playlist-root", "Playlist root",
                         "Prefix of the segment names in the playlist (none: the bare names)",
                         NULL, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (
    object_class, PROP_TARGET_DURATION,
    g_param_spec_uint ("target-duration", "Target duration",
                       "Seconds: a segment ends at the first keyframe at or after this long "
                       "(0: at every keyframe)",
                       0, G_MAXUINT, DEFAULT_TARGET_DURATION,
                       G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (
    object_class, PROP_PLAYLIST_LENGTH,
    g_param_spec_uint ("playlist-length", "Playlist length",
                       "Segments listed in the playlist (0: all)", 0, G_MAXUINT,
                       DEFAULT_PLAYLIST_LENGTH, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (
    object_class, PROP_MAX_FILES,
    g_param_spec_uint ("max-files", "Max files",
                       "Segment files kept on disk, never fewer than the playlist lists "
                       "(0: all)",
                       0, G_MAXUINT, DEFAULT_MAX_FILES,
                       G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (
    object_class, PROP_SEND_KEYFRAME_REQUESTS,
    g_param_spec_boolean ("send-keyframe-requests", "Send keyframe requests",
                          "Ask upstream for a keyframe once a segment reaches target-duration",
                          TRUE, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));

  gst_element_class_add_static_pad_template (element_class, &video_template);
  gst_element_class_add_static_pad_template (element_class, &audio_template);
  gst_element_class_set_static_metadata (
    element_class, "WebEncode low-latency HLS sink", "Sink/Muxer",
    "Live HLS: MPEG-TS segments cut at keyframes, each published the moment it is complete",
    "WebEncode");
}
