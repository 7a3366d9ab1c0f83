/* SPDX-License-Identifier: LGPL-2.1-or-later */

/**
 * SECTION:element-weprogress
 * @title: weprogress
 *
 * Measures the stream that flows through it, unchanged: buffers ("frames"),
 * bytes and the position (running time of the end of the furthest buffer),
 * and posts ELEMENT messages named `we-progress` at most every #GstWeProgress:interval
 * of wall-clock time (the element's clock, else the monotonic clock) and
 * once at EOS. Each message carries:
 *
 * - `position` (guint64, ns): running time reached, GST_CLOCK_TIME_NONE before
 *   the first timed buffer
 * - `duration` (guint64, ns): #GstWeProgress:duration when set, else what an
 *   upstream duration query answers, else GST_CLOCK_TIME_NONE
 * - `frames`, `bytes` (guint64): buffers and bytes seen
 * - `fps` (gdouble): buffers per wall-clock second since the first buffer
 * - `bitrate` (gdouble): bits per media second, bytes * 8 over the span of
 *   running time the buffers covered
 * - `speed` (gdouble): media seconds per wall-clock second
 * - `eos` (gboolean): TRUE on the message posted at EOS
 *
 * The WebEncode workers put one after the encoder (or parser) whose output
 * defines a task's progress and read it from there, so every pipeline they
 * build reports progress the same way.
 *
 * A flushing seek starts the measurement over.
 *
 * ## Example launch line
 * |[
 * GST_PLUGIN_PATH=build/gst-elements gst-launch-1.0 -m videotestsrc num-buffers=30 ! \
 *     weprogress interval=0 ! fakesink
 * ]|
 */

#include "gstweprogress.h"

GST_DEBUG_CATEGORY_STATIC (gst_we_progress_debug);
#define GST_CAT_DEFAULT gst_we_progress_debug

#define DEFAULT_INTERVAL GST_SECOND
#define DEFAULT_SILENT   FALSE
#define DEFAULT_DURATION GST_CLOCK_TIME_NONE

enum {
  PROP_0,
  PROP_INTERVAL,
  PROP_SILENT,
  PROP_DURATION,
  PROP_FRAMES,
  PROP_BYTES,
  PROP_POSITION,
};

struct _GstWeProgress {
  GstBaseTransform parent;

  /* everything below under the object lock: the streaming thread writes,
   * the application reads the properties from any thread */
  GstClockTime interval;
  gboolean     silent;
  GstClockTime duration;          /* set by the application */
  GstClockTime queried_duration;  /* from upstream, once known */

  guint64      frames;
  guint64      bytes;
  GstClockTime first;             /* running time of the first buffer's start */
  GstClockTime position;          /* running time of the furthest buffer's end */

  /* wall clock: the element's clock while it has one (a test clock in
   * GstHarness, the pipeline's in PLAYING), else the monotonic clock */
  GstClock    *wall_clock;        /* (unowned) only compared, never used */
  GstClockTime wall_start;        /* at the first buffer, NONE before */
  GstClockTime wall_elapsed;      /* at the last buffer */
  GstClockTime last_post;         /* wall time of the last message */
};

static GstStaticPadTemplate sink_template =
  GST_STATIC_PAD_TEMPLATE ("sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS_ANY);
static GstStaticPadTemplate src_template =
  GST_STATIC_PAD_TEMPLATE ("src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS_ANY);

#define gst_we_progress_parent_class parent_class
G_DEFINE_TYPE (GstWeProgress, gst_we_progress, GST_TYPE_BASE_TRANSFORM);
GST_ELEMENT_REGISTER_DEFINE (weprogress, "weprogress", GST_RANK_NONE, GST_TYPE_WE_PROGRESS);

/* object lock held */
static void
reset_locked (GstWeProgress *self)
{
  self->frames = 0;
  self->bytes = 0;
  self->first = GST_CLOCK_TIME_NONE;
  self->position = GST_CLOCK_TIME_NONE;
  self->wall_clock = NULL;
  self->wall_start = GST_CLOCK_TIME_NONE;
  self->wall_elapsed = 0;
  self->last_post = 0;
}

/* Wall-clock time; object lock held. When the element's clock changes
 * (none while PAUSED, the pipeline's in PLAYING) the start moves so the
 * time measured so far carries over. */
static GstClockTime
wall_now_locked (GstWeProgress *self)
{
  GstClock *clock = GST_ELEMENT_CLOCK (self);
  GstClockTime now = clock != NULL ? gst_clock_get_time (clock)
                                   : (GstClockTime) g_get_monotonic_time () * GST_USECOND;

  if (GST_CLOCK_TIME_IS_VALID (self->wall_start) && clock != self->wall_clock) {
    GstClockTime since_post = self->last_post > self->wall_start ? self->last_post - self->wall_start
                                                                 : 0;

    self->wall_start = now > self->wall_elapsed ? now - self->wall_elapsed : 0;
    self->last_post = self->wall_start + MIN (since_post, self->wall_elapsed);
    self->wall_clock = clock;
  }
  return now;
}

/* The message for the current counters; object lock held. */
static GstMessage *
message_new_locked (GstWeProgress *self, gboolean eos)
{
  GstClockTime span = GST_CLOCK_TIME_IS_VALID (self->first) &&
                          GST_CLOCK_TIME_IS_VALID (self->position) &&
                          self->position > self->first
                        ? self->position - self->first
                        : 0;
  gdouble media_s = (gdouble) span / GST_SECOND;
  gdouble wall_s = (gdouble) self->wall_elapsed / GST_SECOND;
  GstClockTime duration = GST_CLOCK_TIME_IS_VALID (self->duration) ? self->duration
                                                                    : self->queried_duration;
  GstStructure *s;

  s = gst_structure_new (GST_WE_PROGRESS_MESSAGE,
                         "position", G_TYPE_UINT64, (guint64) self->position,
                         "duration", G_TYPE_UINT64, (guint64) duration,
                         "frames", G_TYPE_UINT64, self->frames,
                         "bytes", G_TYPE_UINT64, self->bytes,
                         "fps", G_TYPE_DOUBLE, wall_s > 0 ? self->frames / wall_s : 0.0,
                         "bitrate", G_TYPE_DOUBLE, media_s > 0 ? self->bytes * 8 / media_s : 0.0,
                         "speed", G_TYPE_DOUBLE, wall_s > 0 ? media_s / wall_s : 0.0,
                         "eos", G_TYPE_BOOLEAN, eos,
                         NULL);
  return gst_message_new_element (GST_OBJECT (self), s);
}

/* An upstream duration query, while none is known; not under the lock, as
 * the query travels through other elements. */
static void
query_duration (GstWeProgress *self)
{
  gboolean want;
  gint64 duration = -1;

  GST_OBJECT_LOCK (self);
  want = !GST_CLOCK_TIME_IS_VALID (self->duration) &&
         !GST_CLOCK_TIME_IS_VALID (self->queried_duration);
  GST_OBJECT_UNLOCK (self);
  if (!want || !gst_pad_peer_query_duration (GST_BASE_TRANSFORM_SINK_PAD (self), GST_FORMAT_TIME,
                                             &duration) || duration < 0)
    return;
  GST_OBJECT_LOCK (self);
  self->queried_duration = (GstClockTime) duration;
  GST_OBJECT_UNLOCK (self);
}

static void
post (GstWeProgress *self, gboolean eos)
{
  GstMessage *msg;

  query_duration (self);
  GST_OBJECT_LOCK (self);
  msg = message_new_locked (self, eos);
  GST_OBJECT_UNLOCK (self);
  GST_LOG_OBJECT (self, "posting %" GST_PTR_FORMAT, gst_message_get_structure (msg));
  gst_element_post_message (GST_ELEMENT (self), msg);
}

static GstFlowReturn
gst_we_progress_transform_ip (GstBaseTransform *trans, GstBuffer *buf)
{
  GstWeProgress *self = GST_WE_PROGRESS (trans);
  /* the segment is only written by this streaming thread */
  const GstSegment *segment = &trans->segment;
  GstClockTime ts = GST_BUFFER_PTS_IS_VALID (buf) ? GST_BUFFER_PTS (buf) : GST_BUFFER_DTS (buf);
  GstClockTime start = GST_CLOCK_TIME_NONE;
  GstClockTime end = GST_CLOCK_TIME_NONE;
  GstClockTime now;
  gboolean due;

  if (GST_CLOCK_TIME_IS_VALID (ts) && segment->format == GST_FORMAT_TIME) {
    GstClockTime stop = ts + (GST_BUFFER_DURATION_IS_VALID (buf) ? GST_BUFFER_DURATION (buf) : 0);

    start = gst_segment_to_running_time (segment, GST_FORMAT_TIME, ts);
    end = gst_segment_to_running_time (segment, GST_FORMAT_TIME, stop);
    /* a buffer reaching past the segment's stop ends there */
    if (!GST_CLOCK_TIME_IS_VALID (end) && GST_CLOCK_TIME_IS_VALID (segment->stop))
      end = gst_segment_to_running_time (segment, GST_FORMAT_TIME, segment->stop);
  }

  GST_OBJECT_LOCK (self);
  now = wall_now_locked (self);
  if (!GST_CLOCK_TIME_IS_VALID (self->wall_start)) {
    self->wall_start = now;
    self->wall_clock = GST_ELEMENT_CLOCK (self);
    self->last_post = now;
  }
  self->wall_elapsed = now > self->wall_start ? now - self->wall_start : 0;
  self->frames++;
  self->bytes += gst_buffer_get_size (buf);
  if (GST_CLOCK_TIME_IS_VALID (start) &&
      (!GST_CLOCK_TIME_IS_VALID (self->first) || start < self->first))
    self->first = start;
  if (GST_CLOCK_TIME_IS_VALID (end) &&
      (!GST_CLOCK_TIME_IS_VALID (self->position) || end > self->position))
    self->position = end;
  due = !self->silent && (self->interval == 0 || now >= self->last_post + self->interval);
  if (due)
    self->last_post = now;
  GST_OBJECT_UNLOCK (self);

  if (due)
    post (self, FALSE);
  return GST_FLOW_OK;
}

static gboolean
gst_we_progress_sink_event (GstBaseTransform *trans, GstEvent *event)
{
  GstWeProgress *self = GST_WE_PROGRESS (trans);

  switch (GST_EVENT_TYPE (event)) {
  case GST_EVENT_EOS: {
    gboolean silent;

    GST_OBJECT_LOCK (self);
    silent = self->silent;
    if (GST_CLOCK_TIME_IS_VALID (self->wall_start)) {
      GstClockTime now = wall_now_locked (self);

      self->wall_elapsed = now > self->wall_start ? now - self->wall_start : 0;
    }
    GST_OBJECT_UNLOCK (self);
    /* before EOS goes on: whoever waits for EOS on the bus has it first */
    if (!silent)
      post (self, TRUE);
    break;
  }
  case GST_EVENT_FLUSH_STOP:
    GST_OBJECT_LOCK (self);
    reset_locked (self);
    GST_OBJECT_UNLOCK (self);
    break;
  default:
    break;
  }
  return GST_BASE_TRANSFORM_CLASS (parent_class)->sink_event (trans, event);
}

static gboolean
gst_we_progress_start (GstBaseTransform *trans)
{
  GstWeProgress *self = GST_WE_PROGRESS (trans);

  GST_OBJECT_LOCK (self);
  reset_locked (self);
  self->queried_duration = GST_CLOCK_TIME_NONE;
  GST_OBJECT_UNLOCK (self);
  return TRUE;
}

static void
gst_we_progress_set_property (GObject *object, guint prop_id, const GValue *value,
                              GParamSpec *pspec)
{
  GstWeProgress *self = GST_WE_PROGRESS (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
  case PROP_INTERVAL:
    self->interval = g_value_get_uint64 (value);
    break;
  case PROP_SILENT:
    self->silent = g_value_get_boolean (value);
    break;
  case PROP_DURATION:
    self->duration = g_value_get_uint64 (value);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_we_progress_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  GstWeProgress *self = GST_WE_PROGRESS (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
  case PROP_INTERVAL:
    g_value_set_uint64 (value, self->interval);
    break;
  case PROP_SILENT:
    g_value_set_boolean (value, self->silent);
    break;
  case PROP_DURATION:
    g_value_set_uint64 (value, self->duration);
    break;
  case PROP_FRAMES:
    g_value_set_uint64 (value, self->frames);
    break;
  case PROP_BYTES:
    g_value_set_uint64 (value, self->bytes);
    break;
  case PROP_POSITION:
    g_value_set_uint64 (value, self->position);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_we_progress_class_init (GstWeProgressClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseTransformClass *trans_class = GST_BASE_TRANSFORM_CLASS (klass);
  const GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING;
  const GParamFlags ro = G_PARAM_READABLE | G_PARAM_STATIC_STRINGS;

  GST_DEBUG_CATEGORY_INIT (gst_we_progress_debug, "weprogress", 0,
                           "WebEncode progress and telemetry");

  gobject_class->set_property = gst_we_progress_set_property;
  gobject_class->get_property = gst_we_progress_get_property;

  g_object_class_install_property (gobject_class, PROP_INTERVAL,
    g_param_spec_uint64 ("interval", "Interval",
                         "Least wall-clock time between two progress messages, in ns "
                         "(0: one per buffer)",
                         0, G_MAXUINT64, DEFAULT_INTERVAL, rw));
  g_object_class_install_property (gobject_class, PROP_SILENT,
    g_param_spec_boolean ("silent", "Silent", "Post no messages; only count",
                          DEFAULT_SILENT, rw));
  g_object_class_install_property (gobject_class, PROP_DURATION,
    g_param_spec_uint64 ("duration", "Duration",
                         "Media duration the messages report, in ns (none: ask upstream)",
                         0, G_MAXUINT64, DEFAULT_DURATION, rw));
  g_object_class_install_property (gobject_class, PROP_FRAMES,
    g_param_spec_uint64 ("frames", "Frames", "Buffers that went through",
                         0, G_MAXUINT64, 0, ro));
  g_object_class_install_property (gobject_class, PROP_BYTES,
    g_param_spec_uint64 ("bytes", "Bytes", "Bytes that went through",
                         0, G_MAXUINT64, 0, ro));
  g_object_class_install_property (gobject_class, PROP_POSITION,
    g_param_spec_uint64 ("position", "Position",
                         "Running time of the end of the furthest buffer, in ns (none before "
                         "the first)",
                         0, G_MAXUINT64, GST_CLOCK_TIME_NONE, ro));

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class, "WebEncode progress", "Generic",
                                         "Passes data through unchanged and posts progress "
                                         "messages: position, duration, frames, bytes, fps, "
                                         "bitrate, speed",
                                         "WebEncode developers");

  trans_class->transform_ip = GST_DEBUG_FUNCPTR (gst_we_progress_transform_ip);
  trans_class->sink_event = GST_DEBUG_FUNCPTR (gst_we_progress_sink_event);
  trans_class->start = GST_DEBUG_FUNCPTR (gst_we_progress_start);
  /* it only reads the buffers: they need not be writable */
  trans_class->transform_ip_on_passthrough = TRUE;
  trans_class->passthrough_on_same_caps = TRUE;
}

static void
gst_we_progress_init (GstWeProgress *self)
{
  self->interval = DEFAULT_INTERVAL;
  self->silent = DEFAULT_SILENT;
  self->duration = DEFAULT_DURATION;
  self->queried_duration = GST_CLOCK_TIME_NONE;
  reset_locked (self);
  gst_base_transform_set_passthrough (GST_BASE_TRANSFORM (self), TRUE);
  /* caps and allocation pass straight through */
  gst_base_transform_set_prefer_passthrough (GST_BASE_TRANSFORM (self), TRUE);
}
