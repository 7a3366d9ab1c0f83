/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include "we-gst-transcode.h"

#include <math.h>
#include <glib/gstdio.h>
#include <gst/video/video.h>
#include <webencode/we-error.h>

#include "we-gst-run.h"

#define PROGRESS_INTERVAL_MS 500

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
  WeEncodeProgressFunc progress;
  gpointer             progress_data;

  GSource             *cancel_source;
  GSource             *bus_source;
  GSource             *timer_source;
  WeGstPlan           *plan;
  GstElement          *pipeline;
  GstElement          *decodebin;
  GstElement          *mux;
  GstElement          *video_head;
  GstElement          *video_tail;
  GstElement          *audio_head;
  GstElement          *audio_tail;
  gboolean             need_seek;
  gdouble              expected_s;    /* media seconds the output should hold */
  gint64               started_us;
  gdouble              last_percent;
  gboolean             output_started;
  gboolean             done;

  /* shared with streaming threads */
  GMutex               lock;
  gboolean             video_linked;
  gboolean             audio_linked;
  GstPad              *seek_pad;
  GArray              *blocks;        /* BlockedPad */
  GstSegment           out_segment;
  GstClockTime         out_position;  /* running time encoded so far */
  guint64              frames;

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
  if (job->cancel_source != NULL) {
    g_source_destroy (job->cancel_source);
    g_clear_pointer (&job->cancel_source, g_source_unref);
  }
  if (job->bus_source != NULL) {
    g_source_destroy (job->bus_source);
    g_clear_pointer (&job->bus_source, g_source_unref);
  }
  if (job->timer_source != NULL) {
    g_source_destroy (job->timer_source);
    g_clear_pointer (&job->timer_source, g_source_unref);
  }
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
  if (job->output_started && g_unlink (job->output_path) != 0 && errno != ENOENT)
    g_debug ("could not remove %s: %s", job->output_path, g_strerror (errno));
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
  g_clear_pointer (&job->pipeline, gst_object_unref);
  g_clear_pointer (&job->plan, we_gst_plan_free);
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
  WeEncodeProgress p;
  GstClockTime pos;
  guint64 frames;

  if (job->progress == NULL)
    return;
  g_mutex_lock (&job->lock);
  pos = job->out_position;
  frames = job->frames;
  g_mutex_unlock (&job->lock);
  we_gst_progress_compute (&p, pos, frames, job->expected_s, job->started_us, final,
                           &job->last_percent);
  job->progress (&p, job->progress_data);
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
  transcode_complete (G_TASK (user_data),
                      g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED,
                                           "transcode was cancelled"));
  return G_SOURCE_REMOVE;
}

static gboolean
progress_timer_cb (gpointer user_data)
{
  report_progress (user_data, FALSE);
  return G_SOURCE_CONTINUE;
}

/* ---- streaming-thread side ---------------------------------------------- */

static GstPadProbeReturn
encoder_output_probe (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  TranscodeJob *job = user_data;

  if (info->type & GST_PAD_PROBE_TYPE_BUFFER) {
    GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER (info);
    GstClockTime ts = GST_BUFFER_PTS (buf);

    g_mutex_lock (&job->lock);
    job->frames++;
    if (GST_CLOCK_TIME_IS_VALID (ts) && job->out_segment.format == GST_FORMAT_TIME) {
      GstClockTime end = ts + (GST_BUFFER_DURATION_IS_VALID (buf) ? GST_BUFFER_DURATION (buf) : 0);
      GstClockTime rt = gst_segment_to_running_time (&job->out_segment, GST_FORMAT_TIME, end);

      if (GST_CLOCK_TIME_IS_VALID (rt) &&
          (!GST_CLOCK_TIME_IS_VALID (job->out_position) || rt > job->out_position))
        job->out_position = rt;
    }
    g_mutex_unlock (&job->lock);
  } else if (info->type & GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM) {
    GstEvent *event = GST_PAD_PROBE_INFO_EVENT (info);

    if (GST_EVENT_TYPE (event) == GST_EVENT_SEGMENT) {
      const GstSegment *segment;

      gst_event_parse_segment (event, &segment);
      g_mutex_lock (&job->lock);
      gst_segment_copy_into (segment, &job->out_segment);
      g_mutex_unlock (&job->lock);
    }
  }
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

static gboolean
link_to_mux (TranscodeJob *job, GstElement *tail, const gchar *template_name)
{
  g_autoptr(GstPad) srcpad = gst_element_get_static_pad (tail, "src");
  g_autoptr(GstPad) muxpad = gst_element_request_pad_simple (job->mux, template_name);

  if (muxpad == NULL)
    return FALSE;
  return gst_pad_link (srcpad, muxpad) == GST_PAD_LINK_OK;
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
  /* like ffmpeg's -map 0:v:0 -map 0:a:0: the first stream of each kind */
  if (g_str_has_prefix (name, "video/x-raw") && !job->video_linked && job->video_head != NULL) {
    if (link_to_mux (job, job->video_tail, "video_%u")) {
      head = job->video_head;
      job->video_linked = TRUE;
      if (job->need_seek)
        job->seek_pad = gst_object_ref (pad);
    } else {
      we_gst_post_app_message (job->pipeline, "we-link-failed", "video");
    }
  } else if (g_str_has_prefix (name, "audio/x-raw") && !job->audio_linked &&
             job->audio_head != NULL) {
    if (link_to_mux (job, job->audio_tail, "audio_%u")) {
      head = job->audio_head;
      job->audio_linked = TRUE;
    } else {
      we_gst_post_app_message (job->pipeline, "we-link-failed", "audio");
    }
  }
  if (head != NULL && job->need_seek) {
    BlockedPad b = { gst_object_ref (pad), 0 };

    b.id = gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BLOCK | GST_PAD_PROBE_TYPE_BUFFER,
                              hold_buffers_probe, NULL, NULL);
    g_array_append_val (job->blocks, b);
  }
  g_mutex_unlock (&job->lock);

  if (head == NULL) {
    /* streams we do not map still need a consumer or decodebin stops */
    GstElement *sink = gst_element_factory_make ("fakesink", NULL);

    g_object_set (sink, "sync", FALSE, "async", FALSE, NULL);
    gst_bin_add (GST_BIN (job->pipeline), sink);
    gst_element_sync_state_with_parent (sink);
    head = sink;
  }
  sinkpad = gst_element_get_static_pad (head, "sink");
  if (gst_pad_link (pad, sinkpad) != GST_PAD_LINK_OK)
    we_gst_post_app_message (job->pipeline, "we-link-failed", name);
}

static void
decodebin_no_more_pads (GstElement *decodebin, gpointer user_data)
{
  TranscodeJob *job = user_data;

  we_gst_post_app_message (job->pipeline, "we-pads-done", NULL);
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
handle_pads_done (GTask *task)
{
  TranscodeJob *job = g_task_get_task_data (task);
  g_autoptr(GstPad) seek_pad = NULL;
  gboolean video_linked;

  g_mutex_lock (&job->lock);
  video_linked = job->video_linked;
  seek_pad = g_steal_pointer (&job->seek_pad);
  g_mutex_unlock (&job->lock);

  if (job->mode == WE_ENCODE_MODE_AUDIO) {
    gboolean audio_linked;

    g_mutex_lock (&job->lock);
    audio_linked = job->audio_linked;
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
  switch (GST_MESSAGE_TYPE (msg)) {
  case GST_MESSAGE_ERROR:
    transcode_complete (task, we_gst_error_from_message (msg, job->decodebin));
    return G_SOURCE_REMOVE;
  case GST_MESSAGE_EOS:
    /* only now has the muxer written its index (the MP4 moov) */
    transcode_complete (task, NULL);
    return G_SOURCE_REMOVE;
  case GST_MESSAGE_WARNING: {
    g_autoptr(GError) err = NULL;

    gst_message_parse_warning (msg, &err, NULL);
    g_debug ("warning from %s: %s", GST_MESSAGE_SRC_NAME (msg), err->message);
    break;
  }
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
    if (prev != NULL && !gst_element_link (prev, element)) {
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
  g_autoptr(GstElement) enc = NULL;
  g_autoptr(GstPad) enc_src = NULL;
  g_autoptr(GstBus) bus = NULL;

  job->pipeline = gst_object_ref_sink (gst_pipeline_new ("we-transcode"));
  job->decodebin = gst_element_factory_make ("uridecodebin", "src");
  if (job->decodebin == NULL) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_JOB_FAILED,
                         "GStreamer element 'uridecodebin' is not installed");
    return FALSE;
  }
  g_object_set (job->decodebin, "uri", job->input_uri, NULL);
  gst_bin_add (GST_BIN (job->pipeline), job->decodebin);

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

  if (job->plan->video->len > 0 &&
      !build_chain (job, job->plan->video, &job->video_head, &job->video_tail, error))
    return FALSE;
  if (job->plan->audio->len > 0 &&
      !build_chain (job, job->plan->audio, &job->audio_head, &job->audio_tail, error))
    return FALSE;

  /* progress follows the stream the output is made of */
  enc = gst_bin_get_by_name (GST_BIN (job->pipeline), job->mode == WE_ENCODE_MODE_AUDIO
                                                        ? "aenc" : job->plan->video_encoder_name);
  enc_src = gst_element_get_static_pad (enc, "src");
  gst_pad_add_probe (enc_src, GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM,
                     encoder_output_probe, job, NULL);

  if (job->mode == WE_ENCODE_MODE_VIDEO_SEGMENT) {
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
  g_signal_connect (job->decodebin, "no-more-pads", G_CALLBACK (decodebin_no_more_pads), job);

  bus = gst_element_get_bus (job->pipeline);
  job->bus_source = gst_bus_create_watch (bus);
  return TRUE;
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
  job->expected_s = job->duration_s > 0 ? MIN (job->duration_s, remaining) : remaining;

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
  if (!build_pipeline (job, &error)) {
    transcode_complete (task, error);
    return;
  }
  g_source_set_callback (job->bus_source, (GSourceFunc) (GCallback) bus_cb, task, NULL);
  g_source_attach (job->bus_source, job->context);
  job->timer_source = g_timeout_source_new (PROGRESS_INTERVAL_MS);
  g_source_set_callback (job->timer_source, progress_timer_cb, job, NULL);
  g_source_attach (job->timer_source, job->context);

  job->started_us = g_get_monotonic_time ();
  job->output_started = TRUE;
  if (gst_element_set_state (job->pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    /* the bus usually holds the reason */
    g_autoptr(GstBus) bus = gst_element_get_bus (job->pipeline);
    g_autoptr(GstMessage) msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);

    transcode_complete (task, msg != NULL ? we_gst_error_from_message (msg, job->decodebin)
                                          : g_error_new (WE_ERROR, WE_ERROR_JOB_FAILED,
                                                         "pipeline failed to start"));
    return;
  }
  report_progress (job, FALSE);
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
  job->out_position = GST_CLOCK_TIME_NONE;
  gst_segment_init (&job->out_segment, GST_FORMAT_UNDEFINED);
  job->options = *options;
  job->progress = progress;
  job->progress_data = progress_data;
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

  if (cancellable != NULL) {
    if (g_cancellable_is_cancelled (cancellable)) {
      transcode_complete (task, g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED,
                                                     "transcode was cancelled"));
      return;
    }
    job->cancel_source = g_cancellable_source_new (cancellable);
    g_source_set_callback (job->cancel_source, (GSourceFunc) (GCallback) transcode_cancelled_cb,
                           task, NULL);
    g_source_attach (job->cancel_source, job->context);
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
