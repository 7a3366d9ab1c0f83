/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include "we-gst-transcode.h"

#include <math.h>
#include <gst/video/video.h>
#include <webencode/we-error.h>

#include "we-gst-introspect.h"
#include "we-gst-loudness.h"
#include "we-gst-run.h"
#include "we-gst-subtitles.h"

#define PROGRESS_INTERVAL_MS 500

/* An audio or subtitle branch of the plan, once built. */
typedef struct {
  gint        track;      /* the source stream it takes */
  GstElement *head;
  GstElement *tail;
  gboolean    linked;     /* under the job's lock */
} Branch;

typedef struct {
  GMainContext        *context;
  gchar               *task_id;
  gchar               *input_uri;
  gchar               *output_path;
  WeProfile           *profile;
  gdouble              start_s;
  gdouble              duration_s;
  WeEncodeMode         mode;
  WeGstOptions         options;
  WeGstProgressReport  report;
  WePipelineFunc       pipeline_func;  /* nullable: introspection */
  gpointer             pipeline_data;
  gboolean             introspected;

  GSource             *cancel_source;
  GSource             *bus_source;
  GSource             *timer_source;
  WeGstPlan           *plan;
  GstElement          *pipeline;
  GstElement          *decodebin;
  GstElement          *mux;
  GstElement          *video_head;
  GstElement          *video_tail;
  GArray              *audio;         /* Branch, as plan->audio_branches */
  GArray              *subs;          /* Branch, as plan->subtitle_branches */
  GstElement          *burn_head;     /* the queue to the overlay's subtitle pad */
  GPtrArray           *progress;      /* the plan's weprogress, what is reported */
  WeGstProbeResult    *probe;
  GCancellable        *cancellable;
  guint                measuring;     /* audio branch whose loudness is measured */
  GString             *loudness;      /* what normalising did, for the log and the output */
  gboolean             need_seek;
  gboolean             output_started;
  gboolean             done;

  /* shared with streaming threads */
  GMutex               lock;
  gboolean             video_linked;
  gboolean             burn_linked;
  guint                audio_pads;    /* audio pads seen, for sources the probe */
  guint                text_pads;     /* did not name (no stream-id) */
  GstPad              *seek_pad;
  GArray              *blocks;        /* BlockedPad */

  /* segment mode, streaming thread only */
  GstClockTime         range_start;   /* source PTS of the first frame to keep */
  GstClockTime         range_stop;    /* first PTS not to keep; NONE = to the end */
  GstClockTime         key_interval;  /* forced keyframe grid on the source timeline */
  guint64              last_key_slot;
  gboolean             kept_any;
  gboolean             range_ended;
  GstSegment           in_segment;
} TranscodeJob;

/* a double from a keyframe index may land a nanosecond either side of the
 * PTS it came from; frame times are compared with this slack */
#define PTS_SLACK (GST_USECOND)

typedef struct {
  GstPad *pad;
  gulong  id;
} BlockedPad;

static void
transcode_job_remove_sources (TranscodeJob *job)
{
  we_gst_source_clear (&job->cancel_source);
  we_gst_source_clear (&job->bus_source);
  we_gst_source_clear (&job->timer_source);
}

static void
transcode_job_stop (TranscodeJob *job)
{
  transcode_job_remove_sources (job);
  if (job->pipeline != NULL) {
    /* also unblocks a streaming thread held in a pad probe */
    gst_element_set_state (job->pipeline, GST_STATE_NULL);
  }
}

static void
remove_output (TranscodeJob *job)
{
  if (job->output_started)
    we_gst_remove_file (job->output_path);
}

/* Holds the task (and so the job the streaming threads point at) until the
 * pipeline is down. */
static gpointer
teardown_thread (gpointer data)
{
  GTask *task = G_TASK (data);
  TranscodeJob *job = g_task_get_task_data (task);

  gst_element_set_state (job->pipeline, GST_STATE_NULL);
  remove_output (job);
  g_object_unref (task);
  return NULL;
}

static void
transcode_job_free (TranscodeJob *job)
{
  transcode_job_stop (job);
  g_mutex_lock (&job->lock);
  for (guint i = 0; job->blocks != NULL && i < job->blocks->len; i++)
    gst_object_unref (g_array_index (job->blocks, BlockedPad, i).pad);
  g_clear_pointer (&job->blocks, g_array_unref);
  g_clear_pointer (&job->seek_pad, gst_object_unref);
  g_mutex_unlock (&job->lock);
  g_clear_pointer (&job->progress, g_ptr_array_unref);
  g_clear_pointer (&job->pipeline, gst_object_unref);
  g_clear_pointer (&job->plan, we_gst_plan_free);
  g_clear_pointer (&job->probe, we_gst_probe_result_free);
  g_clear_pointer (&job->audio, g_array_unref);
  g_clear_pointer (&job->subs, g_array_unref);
  g_clear_object (&job->cancellable);
  if (job->loudness != NULL)
    g_string_free (job->loudness, TRUE);
  g_clear_pointer (&job->profile, we_profile_unref);
  g_clear_pointer (&job->context, g_main_context_unref);
  g_free (job->task_id);
  g_free (job->input_uri);
  g_free (job->output_path);
  g_mutex_clear (&job->lock);
  g_free (job);
}

static void
report_progress (TranscodeJob *job, gboolean final)
{
  we_gst_progress_report_elements (&job->report, job->progress, final);
}

/* Completes the task once; @error NULL means success. */
static void
transcode_complete (GTask *task, GError *error)
{
  TranscodeJob *job = g_task_get_task_data (task);

  if (job->done) {
    g_clear_error (&error);
    return;
  }
  job->done = TRUE;
  if (job->pipeline != NULL && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
    g_autoptr(GThread) thread = NULL;

    /* going to NULL makes encoders drain their lookahead (x264 at 1080p
     * takes over a second), so the caller is answered first and the
     * pipeline is taken down on a thread of its own */
    transcode_job_remove_sources (job);
    thread = g_thread_new ("we-gst-teardown", teardown_thread, g_object_ref (task));
  } else {
    transcode_job_stop (job);
  }
  if (error != NULL) {
    /* a half-written file must not look like a result */
    remove_output (job);
    g_task_return_error (task, error);
  } else {
    report_progress (job, TRUE);
    g_task_return_boolean (task, TRUE);
  }
  g_object_unref (task);
}

static gboolean
transcode_cancelled_cb (GCancellable *cancellable, gpointer user_data)
{
  transcode_complete (G_TASK (user_data), we_gst_cancelled_error ("transcode"));
  return G_SOURCE_REMOVE;
}

static gboolean
progress_timer_cb (gpointer user_data)
{
  report_progress (user_data, FALSE);
  return G_SOURCE_CONTINUE;
}

/* ---- streaming-thread side ---------------------------------------------- */

/* Subtitle passthrough, after the capssetter that relabels the text as
 * plain UTF-8: Pango markup (Matroska's demuxer) is rewritten to what the
 * container's text format knows. */
typedef struct {
  gboolean   keep_style;  /* <i>, <b>, <u> stay (Matroska) */
  gboolean   fill_start;  /* MP4, see below */
  gboolean   started;
  gboolean   is_markup;
  GstSegment segment;
} SubtitleFix;

static GstPadProbeReturn
subtitle_fix_probe (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  SubtitleFix *fix = user_data;
  GstBuffer *buf;
  GstBuffer *out;
  GstMapInfo map;
  gchar *text;

  if (info->type & GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM) {
    GstEvent *event = GST_PAD_PROBE_INFO_EVENT (info);

    if (GST_EVENT_TYPE (event) == GST_EVENT_SEGMENT) {
      const GstSegment *segment;

      gst_event_parse_segment (event, &segment);
      gst_segment_copy_into (segment, &fix->segment);
    } else if (GST_EVENT_TYPE (event) == GST_EVENT_CAPS) {
      /* what came in, before the capssetter */
      GstElement *setter = gst_pad_get_parent_element (pad);
      g_autoptr(GstPad) sink = gst_element_get_static_pad (setter, "sink");
      g_autoptr(GstCaps) caps = gst_pad_get_current_caps (sink);

      fix->is_markup = caps != NULL && g_strcmp0 (gst_structure_get_string (
                                                    gst_caps_get_structure (caps, 0), "format"),
                                                  "pango-markup") == 0;
      gst_object_unref (setter);
    }
    return GST_PAD_PROBE_OK;
  }
  buf = GST_PAD_PROBE_INFO_BUFFER (info);
  if (fix->fill_start && !fix->started && fix->segment.format == GST_FORMAT_TIME &&
      GST_BUFFER_PTS_IS_VALID (buf) && GST_BUFFER_PTS (buf) > fix->segment.start) {
    /* qtmux gives a track that starts late an edit list that players read
     * as ending early, cutting the last cue short; an empty sample from the
     * start keeps the track whole */
    GstBuffer *empty = gst_buffer_new ();

    fix->started = TRUE;
    GST_BUFFER_PTS (empty) = fix->segment.start;
    GST_BUFFER_DURATION (empty) = GST_BUFFER_PTS (buf) - fix->segment.start;
    gst_pad_push (pad, empty);
  }
  fix->started = TRUE;
  if (!gst_buffer_map (buf, &map, GST_MAP_READ))
    return GST_PAD_PROBE_OK;
  text = we_gst_subtitle_cue_text ((const gchar *) map.data, (gssize) map.size, fix->is_markup,
                                   fix->keep_style);
  gst_buffer_unmap (buf, &map);
  out = gst_buffer_new_wrapped (text, strlen (text));
  gst_buffer_copy_into (out, buf, GST_BUFFER_COPY_METADATA, 0, -1);
  gst_buffer_unref (buf);
  info->data = out;
  return GST_PAD_PROBE_OK;
}

static GstPadProbeReturn
hold_buffers_probe (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  /* keeps decoded data out of the encoders until the range seek is done */
  return GST_PAD_PROBE_OK;
}

/* Segment mode, on the encoder's sink pad: keeps exactly the frames whose
 * source PTS lies in the range (decoders and B-frame reordering can hand
 * out a frame or two either side), and forces keyframes on the grid of the
 * whole source, so a stitched encode has them where a single pass would. */
static GstPadProbeReturn
segment_input_probe (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  TranscodeJob *job = user_data;
  GstBuffer *buf;
  GstClockTime pts;
  guint64 slot;

  if (info->type & GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM) {
    GstEvent *event = GST_PAD_PROBE_INFO_EVENT (info);

    if (GST_EVENT_TYPE (event) == GST_EVENT_SEGMENT) {
      const GstSegment *segment;

      gst_event_parse_segment (event, &segment);
      gst_segment_copy_into (segment, &job->in_segment);
      g_debug ("segment input: start %" G_GUINT64_FORMAT " time %" G_GUINT64_FORMAT " base %"
               G_GUINT64_FORMAT " stop %" G_GUINT64_FORMAT, segment->start, segment->time,
               segment->base, segment->stop);
    }
    return GST_PAD_PROBE_OK;
  }
  buf = GST_PAD_PROBE_INFO_BUFFER (info);
  /* the range is on the source timeline, which is stream time: with an MP4
   * edit list, qtdemux's PTS are offset from it */
  pts = job->in_segment.format == GST_FORMAT_TIME
          ? gst_segment_to_stream_time (&job->in_segment, GST_FORMAT_TIME, GST_BUFFER_PTS (buf))
          : GST_BUFFER_PTS (buf);

  if (job->range_ended) {
    /* the pad is EOS: the buffer is refused with GST_FLOW_EOS, which stops
     * the demuxer instead of decoding the rest of the file */
    return GST_PAD_PROBE_OK;
  }
  if (!GST_CLOCK_TIME_IS_VALID (pts))
    return GST_PAD_PROBE_OK;
  /* half the seek's slack: a frame ending just after the seek position is
   * clipped to it by the decoder and must not pass for the first one */
  if (pts + PTS_SLACK / 2 < job->range_start)
    return GST_PAD_PROBE_DROP;
  if (GST_CLOCK_TIME_IS_VALID (job->range_stop) && pts + PTS_SLACK / 2 >= job->range_stop) {
    /* frames leave the decoder in presentation order, so the range is
     * complete; demuxers are not trusted to stop there (qtdemux stops
     * early by the edit-list offset of B-frame files) */
    job->range_ended = TRUE;
    gst_pad_send_event (pad, gst_event_new_eos ());
    return GST_PAD_PROBE_DROP;
  }
  slot = job->key_interval > 0 ? (pts + PTS_SLACK / 2) / job->key_interval : 0;
  if (job->kept_any && slot > job->last_key_slot) {
    /* the encoder applies it to the frame that follows */
    gst_pad_send_event (pad, gst_video_event_new_downstream_force_key_unit (
                               GST_CLOCK_TIME_NONE, GST_CLOCK_TIME_NONE, GST_CLOCK_TIME_NONE,
                               FALSE, (guint) slot));
  }
  job->last_key_slot = slot;
  job->kept_any = TRUE;
  return GST_PAD_PROBE_OK;
}

/* Segment and audio mode, in front of the muxer: the seek made running time
 * start at zero, but the intermediate must carry source timestamps so that
 * stitch can join segments exactly; running time is made equal to stream
 * time. */
static GstPadProbeReturn
source_timeline_probe (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  GstEvent *event = GST_PAD_PROBE_INFO_EVENT (info);
  const GstSegment *segment;
  GstSegment copy;

  if (GST_EVENT_TYPE (event) != GST_EVENT_SEGMENT)
    return GST_PAD_PROBE_OK;
  gst_event_parse_segment (event, &segment);
  if (segment->format != GST_FORMAT_TIME || segment->rate != 1.0 || segment->base == segment->time)
    return GST_PAD_PROBE_OK;
  gst_segment_copy_into (segment, &copy);
  copy.base = copy.time;
  info->data = gst_event_new_segment (&copy);
  gst_event_unref (event);
  return GST_PAD_PROBE_OK;
}

/* Audio mode: video is demuxed and parsed but never decoded. */
static gboolean
audio_only_autoplug_continue (GstElement *bin, GstPad *pad, GstCaps *caps, gpointer user_data)
{
  const GstStructure *s;
  gboolean parsed = FALSE;

  if (gst_caps_get_size (caps) == 0)
    return TRUE;
  s = gst_caps_get_structure (caps, 0);
  if (!g_str_has_prefix (gst_structure_get_name (s), "video/"))
    return TRUE;
  return !(gst_structure_get_boolean (s, "parsed", &parsed) && parsed);
}

/* The branch of @branches for source stream @track that still waits for its
 * pad; under the lock. */
static Branch *
find_branch (GArray *branches, gint track)
{
  for (guint i = 0; branches != NULL && i < branches->len; i++) {
    Branch *b = &g_array_index (branches, Branch, i);

    if (b->track == track && !b->linked)
      return b;
  }
  return NULL;
}

/* The index among the source's streams of its kind of decodebin's @pad:
 * by stream-id from the probe, else by arrival. Under the lock. */
static gint
pad_track_index (TranscodeJob *job, GstPad *pad, gboolean audio)
{
  g_autofree gchar *stream_id = gst_pad_get_stream_id (pad);
  const GPtrArray *ids = job->probe == NULL ? NULL
                         : audio ? job->probe->audio_stream_ids
                                 : job->probe->subtitle_stream_ids;
  gint index = we_gst_probe_stream_index (ids, stream_id);
  guint *seen = audio ? &job->audio_pads : &job->text_pads;

  if (index < 0)
    index = (gint) *seen;
  (*seen)++;
  return index;
}

static void
decodebin_pad_added (GstElement *decodebin, GstPad *pad, gpointer user_data)
{
  TranscodeJob *job = user_data;
  g_autoptr(GstCaps) caps = gst_pad_get_current_caps (pad);
  const gchar *name;
  GstElement *head = NULL;
  g_autoptr(GstPad) sinkpad = NULL;

  if (caps == NULL)
    caps = gst_pad_query_caps (pad, NULL);
  name = gst_caps_get_size (caps) > 0 ? gst_structure_get_name (gst_caps_get_structure (caps, 0)) : "";

  g_mutex_lock (&job->lock);
  /* like ffmpeg's -map 0:v:0: the first video stream; audio and subtitle
   * streams by their index, as planned */
  if (g_str_has_prefix (name, "video/x-raw")) {
    if (!job->video_linked && job->video_head != NULL) {
      head = job->video_head;
      job->video_linked = TRUE;
      if (job->need_seek)
        job->seek_pad = gst_object_ref (pad);
    }
  } else if (g_str_has_prefix (name, "audio/")) {
    Branch *b = find_branch (job->audio, pad_track_index (job, pad, TRUE));

    if (b != NULL) {
      head = b->head;
      b->linked = TRUE;
    }
  } else if (g_str_has_prefix (name, "text/") || g_str_has_prefix (name, "subpicture/")) {
    gint index = pad_track_index (job, pad, FALSE);
    Branch *b;

    if (job->burn_head != NULL && index == job->plan->burn_track && !job->burn_linked) {
      head = job->burn_head;
      job->burn_linked = TRUE;
    } else if (g_str_has_prefix (name, "text/") && (b = find_branch (job->subs, index)) != NULL) {
      head = b->head;
      b->linked = TRUE;
    }
  }
  if (head != NULL && job->need_seek) {
    BlockedPad b = { gst_object_ref (pad), 0 };

    b.id = gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BLOCK | GST_PAD_PROBE_TYPE_BUFFER,
                              hold_buffers_probe, NULL, NULL);
    g_array_append_val (job->blocks, b);
  }
  g_mutex_unlock (&job->lock);

  if (head == NULL)
    head = we_gst_add_fakesink (job->pipeline);
  sinkpad = gst_element_get_static_pad (head, "sink");
  if (gst_pad_link (pad, sinkpad) != GST_PAD_LINK_OK)
    we_gst_post_app_message (job->pipeline, "we-link-failed", name);
}

/* ---- main-context side -------------------------------------------------- */

static void
release_blocks (TranscodeJob *job)
{
  g_mutex_lock (&job->lock);
  for (guint i = 0; i < job->blocks->len; i++) {
    BlockedPad *b = &g_array_index (job->blocks, BlockedPad, i);

    gst_pad_remove_probe (b->pad, b->id);
    gst_object_unref (b->pad);
  }
  g_array_set_size (job->blocks, 0);
  g_mutex_unlock (&job->lock);
}

static void
end_branch (GstElement *head)
{
  g_autoptr(GstPad) pad = gst_element_get_static_pad (head, "sink");

  gst_pad_send_event (pad, gst_event_new_eos ());
}

/* A planned stream decodebin did not offer (a source the probe saw
 * differently) ends at once, or the muxer would wait for it forever. */
static void
end_unlinked_branches (TranscodeJob *job)
{
  g_autoptr(GPtrArray) heads = g_ptr_array_new ();

  g_mutex_lock (&job->lock);
  for (guint i = 0; i < job->audio->len; i++) {
    Branch *b = &g_array_index (job->audio, Branch, i);

    if (!b->linked) {
      b->linked = TRUE;
      g_ptr_array_add (heads, b->head);
    }
  }
  for (guint i = 0; i < job->subs->len; i++) {
    Branch *b = &g_array_index (job->subs, Branch, i);

    if (!b->linked) {
      b->linked = TRUE;
      g_ptr_array_add (heads, b->head);
    }
  }
  if (job->burn_head != NULL && !job->burn_linked) {
    job->burn_linked = TRUE;
    g_ptr_array_add (heads, job->burn_head);
  }
  g_mutex_unlock (&job->lock);
  for (guint i = 0; i < heads->len; i++) {
    GstElement *head = g_ptr_array_index (heads, i);

    g_message ("%s: stream for %s not found in the source; left empty", job->task_id,
               GST_ELEMENT_NAME (head));
    end_branch (head);
  }
}

static void
handle_pads_done (GTask *task)
{
  TranscodeJob *job = g_task_get_task_data (task);
  g_autoptr(GstPad) seek_pad = NULL;
  gboolean video_linked;

  g_mutex_lock (&job->lock);
  video_linked = job->video_linked;
  seek_pad = g_steal_pointer (&job->seek_pad);
  g_mutex_unlock (&job->lock);

  end_unlinked_branches (job);
  if (job->mode == WE_ENCODE_MODE_AUDIO) {
    gboolean audio_linked;

    g_mutex_lock (&job->lock);
    audio_linked = job->audio->len > 0 && g_array_index (job->audio, Branch, 0).linked;
    g_mutex_unlock (&job->lock);
    if (!audio_linked) {
      transcode_complete (task, g_error_new (WE_ERROR, WE_ERROR_JOB_UNSUPPORTED_SOURCE,
                                             "source has no audio"));
      return;
    }
  } else if (!video_linked) {
    transcode_complete (task, g_error_new (WE_ERROR, WE_ERROR_JOB_UNSUPPORTED_SOURCE,
                                           "source has no decodable video stream"));
    return;
  }
  if (job->need_seek && seek_pad != NULL) {
    GstSeekType stop_type = job->duration_s > 0 ? GST_SEEK_TYPE_SET : GST_SEEK_TYPE_NONE;
    /* a little early, so rounding cannot make the decoder drop the
     * keyframe the range starts on */
    gint64 start = MAX ((gint64) llround (job->start_s * GST_SECOND) - (gint64) PTS_SLACK, 0);
    /* a second of slack: the exact end is cut at the encoder's input */
    gint64 stop = (gint64) llround ((job->start_s + job->duration_s) * GST_SECOND) +
                  (job->mode == WE_ENCODE_MODE_VIDEO_SEGMENT ? GST_SECOND : 0);
    GstEvent *seek;

    /* flushing + accurate: decoders drop what lies before @start, the
     * demuxer ends the stream at @stop, and the new segment makes running
     * time — hence output timestamps — start at zero */
    seek = gst_event_new_seek (1.0, GST_FORMAT_TIME,
                               GST_SEEK_FLAG_FLUSH | GST_SEEK_FLAG_ACCURATE,
                               GST_SEEK_TYPE_SET, start, stop_type,
                               stop_type == GST_SEEK_TYPE_SET ? stop : -1);
    if (!gst_pad_send_event (seek_pad, seek)) {
      transcode_complete (task, g_error_new (WE_ERROR, WE_ERROR_JOB_FAILED,
                                             "source is not seekable; cannot encode the range "
                                             "%.3f s + %.3f s", job->start_s, job->duration_s));
      return;
    }
    release_blocks (job);
  }
}

/* The segment seek flushes the pipeline before any caps reached the
 * encoder. x265enc re-initialises itself on a flush and fails without caps
 * ("Can not initialize x265 encoder"); with nothing encoded yet there is
 * nothing to flush, so the flush stops here. */
static GstPadProbeReturn
drop_flush_before_caps (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  GstEvent *event = GST_PAD_PROBE_INFO_EVENT (info);

  if ((GST_EVENT_TYPE (event) == GST_EVENT_FLUSH_START ||
       GST_EVENT_TYPE (event) == GST_EVENT_FLUSH_STOP) &&
      !gst_pad_has_current_caps (pad))
    return GST_PAD_PROBE_DROP;
  return GST_PAD_PROBE_OK;
}

static gboolean
bus_cb (GstBus *bus, GstMessage *msg, gpointer user_data)
{
  GTask *task = G_TASK (user_data);
  TranscodeJob *job = g_task_get_task_data (task);

  if (job->done)
    return G_SOURCE_REMOVE;
  /* once it plays, dynamic pads are linked and caps negotiated */
  we_gst_introspect_message (job->pipeline, msg,
                             job->mode == WE_ENCODE_MODE_VIDEO_SEGMENT ? "segment"
                             : job->mode == WE_ENCODE_MODE_AUDIO     ? "audio"
                                                                     : "transcode",
                             job->pipeline_func, job->pipeline_data, &job->introspected);
  switch (GST_MESSAGE_TYPE (msg)) {
  case GST_MESSAGE_ERROR:
    transcode_complete (task, we_gst_error_from_message (msg, job->decodebin));
    return G_SOURCE_REMOVE;
  case GST_MESSAGE_EOS:
    /* only now has the muxer written its index (the MP4 moov) */
    transcode_complete (task, NULL);
    return G_SOURCE_REMOVE;
  case GST_MESSAGE_WARNING:
    we_gst_log_warning (msg);
    break;
  case GST_MESSAGE_APPLICATION: {
    const GstStructure *s = gst_message_get_structure (msg);

    if (gst_structure_has_name (s, "we-pads-done")) {
      handle_pads_done (task);
    } else if (gst_structure_has_name (s, "we-link-failed")) {
      transcode_complete (task, g_error_new (WE_ERROR, WE_ERROR_JOB_FAILED,
                                             "cannot link the %s stream into the %s pipeline",
                                             gst_structure_get_string (s, "detail"),
                                             job->profile->id));
      return G_SOURCE_REMOVE;
    }
    break;
  }
  default:
    break;
  }
  return job->done ? G_SOURCE_REMOVE : G_SOURCE_CONTINUE;
}

static gboolean
link_to_mux (TranscodeJob *job, GstElement *tail, const gchar *template_name, GError **error)
{
  g_autoptr(GstPad) srcpad = gst_element_get_static_pad (tail, "src");
  g_autoptr(GstPad) muxpad = gst_element_request_pad_simple (job->mux, template_name);

  if (muxpad == NULL || gst_pad_link (srcpad, muxpad) != GST_PAD_LINK_OK) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_FAILED, "cannot link %s to %s's %s pad",
                 GST_ELEMENT_NAME (tail), GST_ELEMENT_NAME (job->mux), template_name);
    return FALSE;
  }
  return TRUE;
}

static gboolean
build_chain (TranscodeJob *job, GPtrArray *specs, GstElement **head, GstElement **tail,
             GError **error)
{
  GstElement *prev = NULL;

  for (guint i = 0; i < specs->len; i++) {
    WeGstElementSpec *spec = g_ptr_array_index (specs, i);
    g_autoptr(GstElement) element = we_gst_element_spec_make (spec, error);

    if (element == NULL)
      return FALSE;
    gst_bin_add (GST_BIN (job->pipeline), element);
    /* the overlay's other sink pad takes the subtitles */
    if (prev != NULL &&
        !gst_element_link_pads (prev, NULL, element,
                                g_strcmp0 (spec->factory, "subtitleoverlay") == 0 ? "video_sink"
                                                                                  : NULL)) {
      g_set_error (error, WE_ERROR, WE_ERROR_JOB_FAILED, "cannot link %s to %s",
                   GST_ELEMENT_NAME (prev), spec->factory);
      return FALSE;
    }
    if (prev == NULL)
      *head = element;
    prev = element;
  }
  *tail = prev;
  return TRUE;
}

static gboolean
build_pipeline (TranscodeJob *job, GError **error)
{
  g_autoptr(GstElement) sink = NULL;
  g_autoptr(GstElement) progress = NULL;

  job->pipeline = gst_object_ref_sink (gst_pipeline_new (we_gst_pipeline_name (job->task_id)));
  job->decodebin = we_gst_bin_add_new (job->pipeline, "uridecodebin", "src", error);
  if (job->decodebin == NULL)
    return FALSE;
  g_object_set (job->decodebin, "uri", job->input_uri, NULL);

  job->mux = we_gst_element_spec_make (job->plan->mux, error);
  if (job->mux == NULL)
    return FALSE;
  gst_bin_add (GST_BIN (job->pipeline), job->mux);
  gst_object_unref (job->mux);  /* the bin holds it */
  sink = we_gst_element_spec_make (job->plan->sink, error);
  if (sink == NULL)
    return FALSE;
  gst_bin_add (GST_BIN (job->pipeline), gst_object_ref (sink));
  if (!gst_element_link (job->mux, sink)) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_JOB_FAILED, "cannot link muxer to filesink");
    return FALSE;
  }

  /* the muxer's pads are asked for in the plan's order, which is the
   * order of the output's tracks, whatever order decodebin's pads come in */
  if (job->plan->video->len > 0 &&
      (!build_chain (job, job->plan->video, &job->video_head, &job->video_tail, error) ||
       !link_to_mux (job, job->video_tail, "video_%u", error)))
    return FALSE;
  for (guint i = 0; i < job->plan->audio_branches->len; i++) {
    const WeGstAudioBranch *pb = g_ptr_array_index (job->plan->audio_branches, i);
    Branch b = { pb->track, NULL, NULL, FALSE };

    if (!build_chain (job, pb->chain, &b.head, &b.tail, error) ||
        !link_to_mux (job, b.tail, "audio_%u", error))
      return FALSE;
    g_array_append_val (job->audio, b);
    if (pb->passthrough)
      g_message ("%s: audio stream %d copied as it is (%s passthrough)", job->task_id,
                 pb->track, pb->codec);
  }
  for (guint i = 0; i < job->plan->subtitle_branches->len; i++) {
    const WeGstSubtitleBranch *pb = g_ptr_array_index (job->plan->subtitle_branches, i);
    Branch b = { pb->track, NULL, NULL, FALSE };
    SubtitleFix *fix;
    g_autoptr(GstElement) setter = NULL;
    g_autoptr(GstPad) fix_src = NULL;

    if (!build_chain (job, pb->chain, &b.head, &b.tail, error) ||
        !link_to_mux (job, b.tail, "subtitle_%u", error))
      return FALSE;
    setter = gst_bin_get_by_name (GST_BIN (job->pipeline), pb->setter_name);
    fix = g_new0 (SubtitleFix, 1);
    /* Matroska's S_TEXT/UTF8 knows SRT's <i>, <b>, <u>; tx3g is plain */
    fix->keep_style = g_strcmp0 (job->profile->container, "mkv") == 0;
    fix->fill_start = g_strcmp0 (job->profile->container, "mp4") == 0;
    gst_segment_init (&fix->segment, GST_FORMAT_UNDEFINED);
    fix_src = gst_element_get_static_pad (setter, "src");
    gst_pad_add_probe (fix_src, GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM,
                       subtitle_fix_probe, fix, g_free);
    g_array_append_val (job->subs, b);
  }
  if (job->plan->subtitles_dropped)
    g_message ("%s: %s cannot carry the text subtitles (WebM takes WebVTT only, which "
               "webmmux cannot write); subtitle streams dropped", job->task_id,
               job->profile->container);
  if (job->plan->burn_text != NULL) {
    g_autoptr(GstElement) overlay = gst_bin_get_by_name (GST_BIN (job->pipeline),
                                                         job->plan->burn_name);
    GstElement *tail = NULL;

    if (!build_chain (job, job->plan->burn_text, &job->burn_head, &tail, error))
      return FALSE;
    if (!gst_element_link_pads (tail, "src", overlay, "subtitle_sink")) {
      g_set_error_literal (error, WE_ERROR, WE_ERROR_JOB_FAILED,
                           "cannot link the subtitles to subtitleoverlay");
      return FALSE;
    }
  }
  if (job->plan->decode_caps != NULL) {
    g_autoptr(GstCaps) caps = gst_caps_from_string (job->plan->decode_caps);

    g_object_set (job->decodebin, "caps", caps, NULL);
  }
  if (job->loudness != NULL) {
    g_autoptr(GstTagList) tags = gst_tag_list_new (GST_TAG_COMMENT, job->loudness->str, NULL);

    /* where the worker and anyone who probes the output can read it */
    if (GST_IS_TAG_SETTER (job->mux))
      gst_tag_setter_merge_tags (GST_TAG_SETTER (job->mux), tags, GST_TAG_MERGE_REPLACE);
  }

  /* progress follows the stream the output is made of: the plan put a
   * weprogress after its encoder */
  progress = gst_bin_get_by_name (GST_BIN (job->pipeline), WE_GST_PLAN_PROGRESS);
  if (progress == NULL) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_FAILED, "the %s pipeline has no %s element",
                 job->profile->id, WE_GST_PLAN_PROGRESS);
    return FALSE;
  }
  g_ptr_array_add (job->progress, g_steal_pointer (&progress));

  if (job->mode == WE_ENCODE_MODE_VIDEO_SEGMENT) {
    g_autoptr(GstElement) enc = gst_bin_get_by_name (GST_BIN (job->pipeline),
                                                     job->plan->video_encoder_name);
    g_autoptr(GstPad) enc_sink = gst_element_get_static_pad (enc, "sink");
    g_autoptr(GstPad) tail_src = gst_element_get_static_pad (job->video_tail, "src");

    gst_segment_init (&job->in_segment, GST_FORMAT_UNDEFINED);
    gst_pad_add_probe (enc_sink, GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM,
                       segment_input_probe, job, NULL);
    gst_pad_add_probe (enc_sink, GST_PAD_PROBE_TYPE_EVENT_FLUSH, drop_flush_before_caps, NULL,
                       NULL);
    gst_pad_add_probe (tail_src, GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM, source_timeline_probe,
                       NULL, NULL);
  } else if (job->mode == WE_ENCODE_MODE_AUDIO) {
    g_signal_connect (job->decodebin, "autoplug-continue",
                      G_CALLBACK (audio_only_autoplug_continue), NULL);
  }

  g_signal_connect (job->decodebin, "pad-added", G_CALLBACK (decodebin_pad_added), job);
  g_signal_connect (job->decodebin, "no-more-pads", G_CALLBACK (we_gst_pads_done_cb),
                    job->pipeline);
  return TRUE;
}

/* The pipeline, once every gain is known. */
static void
start_pipeline (GTask *task)
{
  TranscodeJob *job = g_task_get_task_data (task);
  GError *error = NULL;

  if (!build_pipeline (job, &error)) {
    transcode_complete (task, error);
    return;
  }
  job->bus_source = we_gst_bus_watch_attach (job->pipeline, job->context, bus_cb, task);
  job->timer_source = we_gst_source_attach (g_timeout_source_new (PROGRESS_INTERVAL_MS),
                                            job->context, progress_timer_cb, job);

  job->report.started_us = g_get_monotonic_time ();
  job->output_started = TRUE;
  if (!we_gst_pipeline_play (job->pipeline, job->decodebin, "pipeline", &error)) {
    transcode_complete (task, error);
    return;
  }
  report_progress (job, FALSE);
}

static void measure_next (GTask *task);

static void
measured_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(GTask) task = G_TASK (user_data);   /* the ref taken for the measurement */
  TranscodeJob *job = g_task_get_task_data (task);
  WeGstAudioBranch *branch;
  GError *error = NULL;
  gdouble lufs = 0;
  gdouble peak = 0;
  gdouble gain;
  gdouble target;
  g_autofree gchar *volume = NULL;

  if (!we_gst_loudness_measure_finish (res, &lufs, &peak, &error)) {
    if (job->done) {
      g_clear_error (&error);
      return;
    }
    g_prefix_error (&error, "measuring the loudness of audio stream %d: ",
                    ((WeGstAudioBranch *) g_ptr_array_index (job->plan->audio_branches,
                                                             job->measuring))->track);
    transcode_complete (task, error);
    return;
  }
  if (job->done)
    return;
  branch = g_ptr_array_index (job->plan->audio_branches, job->measuring);
  target = job->profile->audio.normalize_lufs;
  gain = we_loudness_gain_for_target (lufs, peak, target);
  /* the plan's volume element, not built yet */
  for (guint i = 0; i < branch->chain->len; i++) {
    WeGstElementSpec *spec = g_ptr_array_index (branch->chain, i);

    if (g_strcmp0 (spec->name, branch->gain_name) == 0) {
      volume = g_strdup_printf ("%.6f", gain);
      we_gst_element_spec_set (spec, "volume", volume);
    }
  }
  if (job->loudness == NULL)
    job->loudness = g_string_new ("webencode loudness:");
  else
    g_string_append_c (job->loudness, ';');
  if (isfinite (lufs))
    g_string_append_printf (job->loudness,
                            " audio %d measured %.1f LUFS peak %.1f dBFS gain %+.1f dB "
                            "target %.1f LUFS",
                            branch->track, lufs, peak, 20 * log10 (gain), target);
  else
    g_string_append_printf (job->loudness, " audio %d silent, gain +0.0 dB target %.1f LUFS",
                            branch->track, target);
  g_message ("%s: audio stream %d: integrated loudness %.1f LUFS, peak %.1f dBFS; gain "
             "%+.1f dB for %.1f LUFS", job->task_id, branch->track, lufs, peak,
             20 * log10 (gain), target);
  job->measuring++;
  measure_next (g_steal_pointer (&task));
}

/* Normalising measures each stream's loudness first, one at a time. */
static void
measure_next (GTask *task)
{
  TranscodeJob *job = g_task_get_task_data (task);

  while (job->measuring < job->plan->audio_branches->len) {
    WeGstAudioBranch *branch = g_ptr_array_index (job->plan->audio_branches, job->measuring);

    if (branch->gain_name != NULL) {
      we_gst_loudness_measure_task_async (job->input_uri, (guint) MAX (branch->track, 0),
                                          job->task_id, job->pipeline_func, job->pipeline_data,
                                          job->cancellable, measured_cb, task);
      return;
    }
    job->measuring++;
  }
  start_pipeline (task);
  g_object_unref (task);
}

static void
probed_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(GTask) task = G_TASK (user_data);   /* the ref taken for the probe */
  TranscodeJob *job = g_task_get_task_data (task);
  g_autoptr(WeGstProbeResult) probe = NULL;
  GError *error = NULL;
  gdouble remaining;

  probe = we_gst_probe_finish (res, &error);
  if (job->done) {
    g_clear_error (&error);
    return;
  }
  if (probe == NULL) {
    transcode_complete (task, error);
    return;
  }
  if (job->start_s > 0 && probe->info->duration_s > 0 && job->start_s >= probe->info->duration_s) {
    transcode_complete (task, g_error_new (WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                                           "range start %.3f s is past the end of the "
                                           "source (%.3f s)", job->start_s,
                                           probe->info->duration_s));
    return;
  }
  if (job->mode == WE_ENCODE_MODE_AUDIO && !probe->info->has_audio) {
    transcode_complete (task, g_error_new_literal (WE_ERROR, WE_ERROR_JOB_UNSUPPORTED_SOURCE,
                                                   "source has no audio"));
    return;
  }
  remaining = MAX (probe->info->duration_s - job->start_s, 0);
  job->report.expected_s = job->duration_s > 0 ? MIN (job->duration_s, remaining) : remaining;

  {
    WeEncodeRequest req = {
      .task_id = job->task_id,
      .input_uri = job->input_uri,
      .output_path = job->output_path,
      .profile = job->profile,
      .start_s = job->start_s,
      .duration_s = job->duration_s,
      .mode = job->mode,
    };

    job->plan = we_gst_plan_new (&req, probe, &job->options, &error);
  }
  if (job->plan == NULL) {
    transcode_complete (task, error);
    return;
  }
  if (job->plan->depth_fallback)
    g_message ("%s: %s takes 8-bit input only; encoding %s at 8 bits", job->task_id,
               job->plan->video_encoder.factory, job->profile->id);
  job->probe = g_steal_pointer (&probe);
  job->measuring = 0;
  measure_next (g_steal_pointer (&task));
}

void
we_gst_transcode_async (gpointer source_object, const WeEncodeRequest *request,
                        const WeGstOptions *options, WeEncodeProgressFunc progress,
                        gpointer progress_data, GCancellable *cancellable,
                        GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new (source_object, cancellable, callback, user_data);
  TranscodeJob *job = g_new0 (TranscodeJob, 1);

  g_task_set_source_tag (task, we_gst_transcode_async);
  g_mutex_init (&job->lock);
  job->context = g_main_context_ref_thread_default ();
  job->blocks = g_array_new (FALSE, FALSE, sizeof (BlockedPad));
  job->audio = g_array_new (FALSE, TRUE, sizeof (Branch));
  job->subs = g_array_new (FALSE, TRUE, sizeof (Branch));
  job->cancellable = cancellable != NULL ? g_object_ref (cancellable) : NULL;
  job->progress = g_ptr_array_new_with_free_func (gst_object_unref);
  job->options = *options;
  job->report.func = progress;
  job->report.data = progress_data;
  if (request != NULL) {
    job->pipeline_func = request->pipeline_func;
    job->pipeline_data = request->pipeline_data;
  }
  g_task_set_task_data (task, job, (GDestroyNotify) transcode_job_free);

  if (request == NULL || request->input_uri == NULL || request->output_path == NULL ||
      request->profile == NULL || request->start_s < 0 || request->duration_s < 0 ||
      request->mode > WE_ENCODE_MODE_AUDIO) {
    transcode_complete (task, g_error_new_literal (WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                                                   "transcode request needs an input URI, an "
                                                   "output path, a profile and a valid range"));
    return;
  }
  job->task_id = g_strdup (request->task_id != NULL ? request->task_id : "task");
  job->input_uri = g_strdup (request->input_uri);
  job->output_path = g_strdup (request->output_path);
  job->profile = we_profile_ref ((WeProfile *) request->profile);
  job->start_s = request->start_s;
  job->duration_s = request->duration_s;
  job->mode = request->mode;
  if (job->mode == WE_ENCODE_MODE_AUDIO) {
    /* the whole track, whatever range was asked for */
    job->start_s = job->duration_s = 0;
  }
  job->need_seek = job->start_s > 0 || job->duration_s > 0;
  job->range_start = (GstClockTime) llround (job->start_s * GST_SECOND);
  job->range_stop = job->duration_s > 0
                      ? (GstClockTime) llround ((job->start_s + job->duration_s) * GST_SECOND)
                      : GST_CLOCK_TIME_NONE;
  job->key_interval = (GstClockTime) MAX (job->profile->keyframe_interval_s, 1) * GST_SECOND;

  if (!we_gst_watch_cancellable (cancellable, job->context, transcode_cancelled_cb, task,
                                 &job->cancel_source)) {
    transcode_complete (task, we_gst_cancelled_error ("transcode"));
    return;
  }
  /* probing first gives the size to scale to, whether there is audio, and
   * turns unusable sources into WE-JOB-007 before anything is written */
  we_gst_probe_async (NULL, job->input_uri, cancellable, probed_cb, g_object_ref (task));
}

gboolean
we_gst_transcode_finish (GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_async_result_is_tagged (result, we_gst_transcode_async), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}
