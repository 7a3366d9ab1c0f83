/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include "we-gst-probe.h"

#include <gst/gst.h>
#include <gst/pbutils/pbutils.h>
#include <gst/tag/tag.h>
#include <webencode/we-error.h>

#include "we-gst-introspect.h"

#define PROBE_TIMEOUT      (20 * GST_SECOND)
#define TAIL_CHECK_TIMEOUT 20  /* seconds */

typedef enum {
  TAIL_PREROLL,
  TAIL_RUNNING,
} TailState;

typedef struct {
  gchar             *uri;
  gchar             *task_id;    /* nullable: names the pipelines */
  GMainContext      *context;
  GstDiscoverer     *discoverer;
  GstDiscovererInfo *dinfo;
  GError            *derror;
  GSource           *idle_source;
  GSource           *cancel_source;
  WeGstProbeResult  *result;

  /* the tail check */
  GstElement        *pipeline;
  GSource           *bus_source;
  GSource           *timeout_source;
  TailState          tail_state;
  GMutex             lock;
  GstClockTime       max_end;
  gboolean           done;
} ProbeJob;

static void discovered_cb (GstDiscoverer *discoverer, GstDiscovererInfo *info, GError *error,
                           gpointer user_data);

static gboolean
abandoned_stop_idle_cb (gpointer user_data)
{
  GstDiscoverer *discoverer = user_data;

  gst_discoverer_stop (discoverer);
  g_object_unref (discoverer);
  return G_SOURCE_REMOVE;
}

static void
abandoned_finished_cb (GstDiscoverer *discoverer, gpointer user_data)
{
  GMainContext *context = user_data;
  g_autoptr(GSource) idle = g_idle_source_new ();

  /* not inside its own signal emission, and on the context it runs on */
  g_source_set_callback (idle, abandoned_stop_idle_cb, discoverer, NULL);
  g_source_attach (idle, context);
}

/* gst_discoverer_stop() while the discoverer still works on a URI takes its
 * lock and then waits for the streaming threads to reach READY, while a
 * streaming thread in its pad-added handler waits for that same lock: the
 * thread that asked (a cancel on the worker's main loop) would hang for
 * good. So a discoverer cut short is left to finish on its own (it gives up
 * after its timeout at the latest) and stopped once it says it is done. */
static void
context_closure_unref (gpointer data, GClosure *closure)
{
  g_main_context_unref (data);
}

static void
discoverer_abandon (GstDiscoverer *discoverer, GMainContext *context)
{
  g_signal_handlers_disconnect_matched (discoverer, G_SIGNAL_MATCH_FUNC, 0, 0, NULL,
                                        discovered_cb, NULL);
  g_signal_connect_data (discoverer, "finished", G_CALLBACK (abandoned_finished_cb),
                         g_main_context_ref (context), context_closure_unref, 0);
}

static void
probe_job_stop (ProbeJob *job)
{
  if (job->idle_source != NULL) {
    g_source_destroy (job->idle_source);
    g_clear_pointer (&job->idle_source, g_source_unref);
  }
  if (job->cancel_source != NULL) {
    g_source_destroy (job->cancel_source);
    g_clear_pointer (&job->cancel_source, g_source_unref);
  }
  if (job->bus_source != NULL) {
    g_source_destroy (job->bus_source);
    g_clear_pointer (&job->bus_source, g_source_unref);
  }
  if (job->timeout_source != NULL) {
    g_source_destroy (job->timeout_source);
    g_clear_pointer (&job->timeout_source, g_source_unref);
  }
  if (job->discoverer != NULL)
    discoverer_abandon (g_steal_pointer (&job->discoverer), job->context);
  if (job->pipeline != NULL) {
    gst_element_set_state (job->pipeline, GST_STATE_NULL);
    g_clear_pointer (&job->pipeline, gst_object_unref);
  }
}

static void
probe_job_free (ProbeJob *job)
{
  probe_job_stop (job);
  g_free (job->uri);
  g_free (job->task_id);
  g_clear_pointer (&job->context, g_main_context_unref);
  g_clear_object (&job->dinfo);
  g_clear_error (&job->derror);
  g_clear_pointer (&job->result, we_gst_probe_result_free);
  g_mutex_clear (&job->lock);
  g_free (job);
}

void
we_gst_probe_result_free (WeGstProbeResult *self)
{
  if (self == NULL)
    return;
  g_clear_pointer (&self->info, we_media_info_free);
  g_clear_pointer (&self->audio_stream_ids, g_ptr_array_unref);
  g_clear_pointer (&self->subtitle_stream_ids, g_ptr_array_unref);
  g_free (self);
}

gint
we_gst_probe_stream_index (const GPtrArray *ids, const gchar *stream_id)
{
  if (ids == NULL || stream_id == NULL)
    return -1;
  for (guint i = 0; i < ids->len; i++) {
    if (g_strcmp0 (g_ptr_array_index (ids, i), stream_id) == 0)
      return (gint) i;
  }
  return -1;
}

gchar *
we_gst_language_normalize (const gchar *language)
{
  const gchar *t;

  if (language == NULL || *language == '\0')
    return NULL;
  /* tags carry ISO 639-1 where one exists ("en"); containers and clients
   * speak ISO 639-2 */
  t = gst_tag_get_language_code_iso_639_2T (language);
  return g_strdup (t != NULL ? t : language);
}

/* Completes @task and drops the reference the running operation held. */
static void
probe_complete (GTask *task, GError *error)
{
  ProbeJob *job = g_task_get_task_data (task);

  if (job->done) {
    g_clear_error (&error);
    return;
  }
  job->done = TRUE;
  probe_job_stop (job);
  if (error != NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, g_steal_pointer (&job->result),
                           (GDestroyNotify) we_gst_probe_result_free);
  g_object_unref (task);
}

static gboolean
probe_cancelled_cb (GCancellable *cancellable, gpointer user_data)
{
  GTask *task = G_TASK (user_data);

  probe_complete (task, g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED,
                                             "probe was cancelled"));
  return G_SOURCE_REMOVE;
}

static gchar *
short_codec_name (const GstCaps *caps)
{
  const GstStructure *s;
  const gchar *name;
  gint version = 0;
  gint layer = 0;
  static const struct {
    const gchar *caps_name;
    const gchar *short_name;
  } map[] = {
    { "video/x-h264", "h264" },   { "video/x-h265", "hevc" },  { "video/x-vp8", "vp8" },
    { "video/x-vp9", "vp9" },     { "video/x-av1", "av1" },    { "video/x-theora", "theora" },
    { "video/x-prores", "prores" }, { "image/jpeg", "mjpeg" }, { "video/x-raw", "rawvideo" },
    { "audio/x-opus", "opus" },   { "audio/x-vorbis", "vorbis" }, { "audio/x-flac", "flac" },
    { "audio/x-ac3", "ac3" },     { "audio/x-eac3", "eac3" },  { "audio/x-alac", "alac" },
    { "audio/x-raw", "pcm" },
    { "text/x-raw", "text" },     { "application/x-ssa", "ass" }, { "application/x-ass", "ass" },
    { "application/x-subtitle-vtt", "webvtt" }, { "application/ttml+xml", "ttml" },
    { "subpicture/x-dvd", "dvd_subtitle" }, { "subpicture/x-pgs", "pgs" },
    { "subpicture/x-dvb", "dvb_subtitle" },
  };

  if (caps == NULL || gst_caps_get_size (caps) == 0)
    return NULL;
  s = gst_caps_get_structure (caps, 0);
  name = gst_structure_get_name (s);
  for (gsize i = 0; i < G_N_ELEMENTS (map); i++) {
    if (g_strcmp0 (map[i].caps_name, name) == 0)
      return g_strdup (map[i].short_name);
  }
  gst_structure_get_int (s, "mpegversion", &version);
  if (g_strcmp0 (name, "audio/mpeg") == 0) {
    if (version == 2 || version == 4)
      return g_strdup ("aac");
    gst_structure_get_int (s, "layer", &layer);
    return g_strdup_printf ("mp%d", layer > 0 ? layer : 3);
  }
  if (g_strcmp0 (name, "video/mpeg") == 0)
    return g_strdup (version == 4 ? "mpeg4" : version == 2 ? "mpeg2video" : "mpeg1video");
  return g_strdup (name);
}

static guint64
uri_size_bytes (const gchar *uri)
{
  g_autoptr(GFile) file = NULL;
  g_autoptr(GFileInfo) info = NULL;

  if (!g_str_has_prefix (uri, "file:"))
    return 0;
  file = g_file_new_for_uri (uri);
  info = g_file_query_info (file, G_FILE_ATTRIBUTE_STANDARD_SIZE, G_FILE_QUERY_INFO_NONE,
                            NULL, NULL);
  return info != NULL ? (guint64) g_file_info_get_size (info) : 0;
}

static gchar *
stream_tag_string (GstDiscovererStreamInfo *sinfo, const gchar *tag)
{
  const GstTagList *tags = gst_discoverer_stream_info_get_tags (sinfo);
  const gchar *value = NULL;

  /* index 0: the discoverer can merge a stream's tags with others' into a
   * list, the stream's own value comes first */
  if (tags != NULL && gst_tag_list_peek_string_index (tags, tag, 0, &value) && value != NULL &&
      *value != '\0')
    return g_strdup (value);
  return NULL;
}

static void
add_tracks (WeGstProbeResult *result, GList *audios, GList *subtitles)
{
  WeMediaInfo *info = result->info;
  gint index = 0;

  info->audio_tracks = g_ptr_array_new_with_free_func ((GDestroyNotify) we_media_track_free);
  info->subtitle_tracks = g_ptr_array_new_with_free_func ((GDestroyNotify) we_media_track_free);
  result->audio_stream_ids = g_ptr_array_new_with_free_func (g_free);
  result->subtitle_stream_ids = g_ptr_array_new_with_free_func (g_free);
  for (GList *l = audios; l != NULL; l = l->next, index++) {
    GstDiscovererAudioInfo *ainfo = l->data;
    GstDiscovererStreamInfo *sinfo = GST_DISCOVERER_STREAM_INFO (ainfo);
    g_autoptr(GstCaps) caps = gst_discoverer_stream_info_get_caps (sinfo);
    WeMediaTrack *t = we_media_track_new ();

    t->index = index;
    t->codec = short_codec_name (caps);
    t->language = we_gst_language_normalize (gst_discoverer_audio_info_get_language (ainfo));
    t->title = stream_tag_string (sinfo, GST_TAG_TITLE);
    t->channels = (gint) gst_discoverer_audio_info_get_channels (ainfo);
    t->rate = (gint) gst_discoverer_audio_info_get_sample_rate (ainfo);
    g_ptr_array_add (info->audio_tracks, t);
    g_ptr_array_add (result->audio_stream_ids,
                     g_strdup (gst_discoverer_stream_info_get_stream_id (sinfo)));
  }
  index = 0;
  for (GList *l = subtitles; l != NULL; l = l->next, index++) {
    GstDiscovererSubtitleInfo *tinfo = l->data;
    GstDiscovererStreamInfo *sinfo = GST_DISCOVERER_STREAM_INFO (tinfo);
    g_autoptr(GstCaps) caps = gst_discoverer_stream_info_get_caps (sinfo);
    WeMediaTrack *t = we_media_track_new ();

    t->index = index;
    t->codec = short_codec_name (caps);
    t->language = we_gst_language_normalize (gst_discoverer_subtitle_info_get_language (tinfo));
    t->title = stream_tag_string (sinfo, GST_TAG_TITLE);
    g_ptr_array_add (info->subtitle_tracks, t);
    g_ptr_array_add (result->subtitle_stream_ids,
                     g_strdup (gst_discoverer_stream_info_get_stream_id (sinfo)));
  }
}

/* Maps what the discoverer said into our result or a WE_ERROR. */
static WeGstProbeResult *
probe_result_from_discoverer (ProbeJob *job, GError **error)
{
  GstDiscovererInfo *dinfo = job->dinfo;
  const GError *derror = job->derror;
  g_autoptr(WeGstProbeResult) result = g_new0 (WeGstProbeResult, 1);
  g_autoptr(WeMediaInfo) info = we_media_info_new ();
  g_autoptr(GstDiscovererStreamInfo) container = NULL;
  GList *videos;
  GList *audios;
  GList *subtitles;
  GstDiscovererVideoInfo *vinfo;
  g_autoptr(GstCaps) vcaps = NULL;
  const gchar *msg = derror != NULL ? derror->message : "unknown error";

  switch (dinfo != NULL ? gst_discoverer_info_get_result (dinfo) : GST_DISCOVERER_ERROR) {
  case GST_DISCOVERER_OK:
    break;
  case GST_DISCOVERER_URI_INVALID:
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_FAILED, "invalid source URI: %s", job->uri);
    return NULL;
  case GST_DISCOVERER_TIMEOUT:
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_FAILED, "probing the source timed out");
    return NULL;
  case GST_DISCOVERER_BUSY:
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_FAILED, "probe is busy");
    return NULL;
  case GST_DISCOVERER_MISSING_PLUGINS: {
    const gchar **details = gst_discoverer_info_get_missing_elements_installer_details (dinfo);
    g_autofree gchar *joined = details != NULL ? g_strjoinv (", ", (gchar **) details) : NULL;

    g_set_error (error, WE_ERROR, WE_ERROR_JOB_UNSUPPORTED_SOURCE,
                 "unsupported codec or container: no GStreamer plugin for %s",
                 joined != NULL ? joined : msg);
    return NULL;
  }
  case GST_DISCOVERER_ERROR:
  default:
    if (derror != NULL && derror->domain == GST_RESOURCE_ERROR) {
      g_set_error (error, WE_ERROR, WE_ERROR_JOB_FAILED, "cannot read source: %s", msg);
    } else if (derror != NULL && derror->domain == GST_STREAM_ERROR &&
               (derror->code == GST_STREAM_ERROR_TYPE_NOT_FOUND ||
                derror->code == GST_STREAM_ERROR_WRONG_TYPE)) {
      g_set_error (error, WE_ERROR, WE_ERROR_JOB_UNSUPPORTED_SOURCE,
                   "not a media file: could not determine type (%s)", msg);
    } else if (derror != NULL && derror->domain == GST_STREAM_ERROR &&
               derror->code == GST_STREAM_ERROR_CODEC_NOT_FOUND) {
      g_set_error (error, WE_ERROR, WE_ERROR_JOB_UNSUPPORTED_SOURCE,
                   "unsupported codec: %s", msg);
    } else {
      g_set_error (error, WE_ERROR, WE_ERROR_JOB_UNSUPPORTED_SOURCE,
                   "source is truncated or corrupt: %s", msg);
    }
    return NULL;
  }

  videos = gst_discoverer_info_get_video_streams (dinfo);
  audios = gst_discoverer_info_get_audio_streams (dinfo);
  if (videos == NULL) {
    gst_discoverer_stream_info_list_free (audios);
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_UNSUPPORTED_SOURCE,
                 "source has no video stream%s", audios != NULL ? " (audio only)" : "");
    return NULL;
  }
  vinfo = GST_DISCOVERER_VIDEO_INFO (videos->data);
  if (gst_discoverer_video_info_is_image (vinfo)) {
    gst_discoverer_stream_info_list_free (videos);
    gst_discoverer_stream_info_list_free (audios);
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_UNSUPPORTED_SOURCE,
                 "source is a still image, not a video");
    return NULL;
  }

  info->duration_s = (gdouble) gst_discoverer_info_get_duration (dinfo) / GST_SECOND;
  container = gst_discoverer_info_get_stream_info (dinfo);
  if (container != NULL && GST_IS_DISCOVERER_CONTAINER_INFO (container)) {
    g_autoptr(GstCaps) ccaps = gst_discoverer_stream_info_get_caps (container);

    if (ccaps != NULL && gst_caps_get_size (ccaps) > 0)
      info->container = g_strdup (gst_structure_get_name (gst_caps_get_structure (ccaps, 0)));
  }
  info->has_video = TRUE;
  vcaps = gst_discoverer_stream_info_get_caps (GST_DISCOVERER_STREAM_INFO (vinfo));
  info->video_codec = short_codec_name (vcaps);
  info->width = (gint) gst_discoverer_video_info_get_width (vinfo);
  info->height = (gint) gst_discoverer_video_info_get_height (vinfo);
  info->fps_n = (gint) gst_discoverer_video_info_get_framerate_num (vinfo);
  info->fps_d = (gint) gst_discoverer_video_info_get_framerate_denom (vinfo);
  result->par_n = (gint) gst_discoverer_video_info_get_par_num (vinfo);
  result->par_d = (gint) gst_discoverer_video_info_get_par_denom (vinfo);
  if (result->par_n <= 0 || result->par_d <= 0)
    result->par_n = result->par_d = 1;
  if (audios != NULL) {
    GstDiscovererAudioInfo *ainfo = GST_DISCOVERER_AUDIO_INFO (audios->data);
    g_autoptr(GstCaps) acaps =
      gst_discoverer_stream_info_get_caps (GST_DISCOVERER_STREAM_INFO (ainfo));

    info->has_audio = TRUE;
    info->audio_codec = short_codec_name (acaps);
    info->audio_channels = (gint) gst_discoverer_audio_info_get_channels (ainfo);
    info->audio_rate = (gint) gst_discoverer_audio_info_get_sample_rate (ainfo);
  }
  result->info = g_steal_pointer (&info);
  subtitles = gst_discoverer_info_get_subtitle_streams (dinfo);
  add_tracks (result, audios, subtitles);
  info = g_steal_pointer (&result->info);
  gst_discoverer_stream_info_list_free (videos);
  gst_discoverer_stream_info_list_free (audios);
  gst_discoverer_stream_info_list_free (subtitles);

  info->size_bytes = uri_size_bytes (job->uri);
  if (info->size_bytes > 0 && info->duration_s > 0)
    info->bitrate = (guint64) (info->size_bytes * 8 / info->duration_s);
  result->seekable = gst_discoverer_info_get_seekable (dinfo);
  result->info = g_steal_pointer (&info);
  return g_steal_pointer (&result);
}

/* ---- tail check ---------------------------------------------------------- */

static GstPadProbeReturn
tail_buffer_probe (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  ProbeJob *job = user_data;
  GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER (info);
  GstClockTime ts = GST_BUFFER_PTS_IS_VALID (buf) ? GST_BUFFER_PTS (buf) : GST_BUFFER_DTS (buf);

  if (GST_CLOCK_TIME_IS_VALID (ts)) {
    GstClockTime end = ts + (GST_BUFFER_DURATION_IS_VALID (buf) ? GST_BUFFER_DURATION (buf) : 0);

    g_mutex_lock (&job->lock);
    if (!GST_CLOCK_TIME_IS_VALID (job->max_end) || end > job->max_end)
      job->max_end = end;
    g_mutex_unlock (&job->lock);
  }
  return GST_PAD_PROBE_OK;
}

/* streaming thread */
static void
tail_parsebin_pad_added (GstElement *parsebin, GstPad *pad, gpointer user_data)
{
  ProbeJob *job = user_data;
  GstElement *queue = gst_element_factory_make ("queue", NULL);
  GstElement *sink = gst_element_factory_make ("fakesink", NULL);
  g_autoptr(GstPad) queuepad = NULL;
  g_autoptr(GstPad) sinkpad = NULL;

  /* parsebin has no multiqueue: without a queue per stream, the first sink
   * to preroll would hold the demuxer's only thread and starve the others */
  g_object_set (sink, "sync", FALSE, NULL);
  gst_bin_add_many (GST_BIN (job->pipeline), queue, sink, NULL);
  gst_element_link (queue, sink);
  sinkpad = gst_element_get_static_pad (sink, "sink");
  gst_pad_add_probe (sinkpad, GST_PAD_PROBE_TYPE_BUFFER, tail_buffer_probe, job, NULL);
  queuepad = gst_element_get_static_pad (queue, "sink");
  if (gst_pad_link (pad, queuepad) != GST_PAD_LINK_OK)
    g_debug ("could not link %s for the tail check", GST_PAD_NAME (pad));
  gst_element_sync_state_with_parent (sink);
  gst_element_sync_state_with_parent (queue);
}

/* streaming thread */
static void
tail_source_pad_added (GstElement *src, GstPad *pad, gpointer user_data)
{
  GstElement *parsebin = user_data;
  g_autoptr(GstPad) sinkpad = gst_element_get_static_pad (parsebin, "sink");

  if (!gst_pad_is_linked (sinkpad))
    gst_pad_link (pad, sinkpad);
}

static void
tail_finish (GTask *task)
{
  ProbeJob *job = g_task_get_task_data (task);
  WeMediaInfo *info = job->result->info;
  GstClockTime duration = (GstClockTime) (info->duration_s * GST_SECOND);
  GstClockTime tolerance = MIN (GST_SECOND, duration / 10);
  GstClockTime max_end;

  g_mutex_lock (&job->lock);
  max_end = job->max_end;
  g_mutex_unlock (&job->lock);

  /* no timestamps at all (raw elementary streams): nothing to compare */
  if (GST_CLOCK_TIME_IS_VALID (max_end) && max_end + tolerance < duration) {
    probe_complete (task, g_error_new (WE_ERROR, WE_ERROR_JOB_UNSUPPORTED_SOURCE,
                                       "source is truncated or corrupt: media data ends at "
                                       "%.3f s but the container declares %.3f s",
                                       (gdouble) max_end / GST_SECOND, info->duration_s));
    return;
  }
  probe_complete (task, NULL);
}

static gboolean
tail_bus_cb (GstBus *bus, GstMessage *msg, gpointer user_data)
{
  GTask *task = G_TASK (user_data);
  ProbeJob *job = g_task_get_task_data (task);

  switch (GST_MESSAGE_TYPE (msg)) {
  case GST_MESSAGE_ERROR: {
    g_autoptr(GError) err = NULL;
    g_autofree gchar *dbg = NULL;

    gst_message_parse_error (msg, &err, &dbg);
    g_debug ("tail check: %s (%s)", err->message, dbg);
    if (err->domain == GST_RESOURCE_ERROR && err->code != GST_RESOURCE_ERROR_READ)
      probe_complete (task, g_error_new (WE_ERROR, WE_ERROR_JOB_FAILED,
                                         "cannot read source: %s", err->message));
    else
      probe_complete (task, g_error_new (WE_ERROR, WE_ERROR_JOB_UNSUPPORTED_SOURCE,
                                         "source is truncated or corrupt: %s", err->message));
    return G_SOURCE_REMOVE;
  }
  case GST_MESSAGE_ASYNC_DONE:
    if (GST_MESSAGE_SRC (msg) == GST_OBJECT (job->pipeline) && job->tail_state == TAIL_PREROLL) {
      gdouble target = MAX (job->result->info->duration_s - 1.0, 0.0);

      job->tail_state = TAIL_RUNNING;
      /* jumping to the last second keeps the check cheap for long sources;
       * no decoding happens, only demuxing and parsing */
      if (!gst_element_seek_simple (job->pipeline, GST_FORMAT_TIME,
                                    GST_SEEK_FLAG_FLUSH | GST_SEEK_FLAG_KEY_UNIT,
                                    (gint64) (target * GST_SECOND)))
        g_debug ("tail check: seek failed, reading from the start");
      gst_element_set_state (job->pipeline, GST_STATE_PLAYING);
    }
    break;
  case GST_MESSAGE_EOS:
    tail_finish (task);
    return G_SOURCE_REMOVE;
  default:
    break;
  }
  return G_SOURCE_CONTINUE;
}

static gboolean
tail_timeout_cb (gpointer user_data)
{
  GTask *task = G_TASK (user_data);

  /* a slow network source is not a broken one */
  g_warning ("tail check timed out; accepting the source");
  probe_complete (task, NULL);
  return G_SOURCE_REMOVE;
}

static void
tail_check_start (GTask *task)
{
  ProbeJob *job = g_task_get_task_data (task);
  GstElement *src = gst_element_factory_make ("urisourcebin", NULL);
  GstElement *parsebin = gst_element_factory_make ("parsebin", NULL);
  g_autoptr(GstBus) bus = NULL;

  if (src == NULL || parsebin == NULL) {
    g_clear_pointer (&src, gst_object_unref);
    g_clear_pointer (&parsebin, gst_object_unref);
    g_debug ("urisourcebin/parsebin missing: skipping the tail check");
    probe_complete (task, NULL);
    return;
  }
  job->pipeline = gst_object_ref_sink (
    gst_pipeline_new (job->task_id != NULL ? job->task_id : "we-probe-tail"));
  job->max_end = GST_CLOCK_TIME_NONE;
  g_object_set (src, "uri", job->uri, NULL);
  gst_bin_add_many (GST_BIN (job->pipeline), src, parsebin, NULL);
  g_signal_connect (src, "pad-added", G_CALLBACK (tail_source_pad_added), parsebin);
  g_signal_connect (parsebin, "pad-added", G_CALLBACK (tail_parsebin_pad_added), job);

  bus = gst_element_get_bus (job->pipeline);
  job->bus_source = gst_bus_create_watch (bus);
  g_source_set_callback (job->bus_source, (GSourceFunc) (GCallback) tail_bus_cb, task, NULL);
  g_source_attach (job->bus_source, job->context);
  job->timeout_source = g_timeout_source_new_seconds (TAIL_CHECK_TIMEOUT);
  g_source_set_callback (job->timeout_source, tail_timeout_cb, task, NULL);
  g_source_attach (job->timeout_source, job->context);

  job->tail_state = TAIL_PREROLL;
  if (gst_element_set_state (job->pipeline, GST_STATE_PAUSED) == GST_STATE_CHANGE_FAILURE) {
    probe_complete (task, g_error_new (WE_ERROR, WE_ERROR_JOB_UNSUPPORTED_SOURCE,
                                       "source is truncated or corrupt: cannot be demuxed"));
  }
}

/* ---- discoverer --------------------------------------------------------- */

static gboolean
discovered_idle_cb (gpointer user_data)
{
  GTask *task = G_TASK (user_data);
  ProbeJob *job = g_task_get_task_data (task);
  GError *error = NULL;

  g_clear_pointer (&job->idle_source, g_source_unref);
  /* stopped here, not in its own signal handler */
  if (job->discoverer != NULL) {
    gst_discoverer_stop (job->discoverer);
    g_clear_object (&job->discoverer);
  }
  job->result = probe_result_from_discoverer (job, &error);
  if (job->result == NULL) {
    probe_complete (task, error);
    return G_SOURCE_REMOVE;
  }
  if (job->result->seekable && job->result->info->duration_s > 0)
    tail_check_start (task);
  else
    probe_complete (task, NULL);
  return G_SOURCE_REMOVE;
}

static void
discovered_cb (GstDiscoverer *discoverer, GstDiscovererInfo *info, GError *error,
               gpointer user_data)
{
  GTask *task = G_TASK (user_data);
  ProbeJob *job = g_task_get_task_data (task);

  if (job->done || job->dinfo != NULL)
    return;
  job->dinfo = g_object_ref (info);
  if (error != NULL)
    job->derror = g_error_copy (error);
  job->idle_source = g_idle_source_new ();
  g_source_set_callback (job->idle_source, discovered_idle_cb, task, NULL);
  g_source_attach (job->idle_source, job->context);
}

/* The discoverer keeps its pipeline to itself; its first source is set up
 * before anything streams in it, when renaming the pipeline after the task
 * races no log line. */
static void
discoverer_source_setup_cb (GstDiscoverer *discoverer, GstElement *source, gpointer user_data)
{
  const gchar *task_id = user_data;
  GstObject *top = GST_OBJECT (source);
  g_autofree gchar *name = NULL;

  while (GST_OBJECT_PARENT (top) != NULL)
    top = GST_OBJECT_PARENT (top);
  name = gst_object_get_name (top);
  if (top != GST_OBJECT (source) && g_strcmp0 (name, task_id) != 0)
    gst_object_set_name (top, task_id);
}

void
we_gst_probe_async (gpointer source_object, const gchar *uri, GCancellable *cancellable,
                    GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new (source_object, cancellable, callback, user_data);
  ProbeJob *job = g_new0 (ProbeJob, 1);
  g_autoptr(GError) error = NULL;

  g_task_set_source_tag (task, we_gst_probe_async);
  g_mutex_init (&job->lock);
  job->uri = g_strdup (uri);
  job->task_id = g_strdup (we_gst_cancellable_task_id (cancellable));
  job->context = g_main_context_ref_thread_default ();
  g_task_set_task_data (task, job, (GDestroyNotify) probe_job_free);

  if (uri == NULL || !gst_uri_is_valid (uri)) {
    probe_complete (task, g_error_new (WE_ERROR, WE_ERROR_JOB_FAILED,
                                       "invalid source URI: %s", uri ? uri : "(null)"));
    return;
  }
  if (cancellable != NULL) {
    if (g_cancellable_is_cancelled (cancellable)) {
      probe_complete (task, g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED,
                                                 "probe was cancelled"));
      return;
    }
    job->cancel_source = g_cancellable_source_new (cancellable);
    g_source_set_callback (job->cancel_source, (GSourceFunc) (GCallback) probe_cancelled_cb,
                           task, NULL);
    g_source_attach (job->cancel_source, job->context);
  }

  job->discoverer = gst_discoverer_new (PROBE_TIMEOUT, &error);
  if (job->discoverer == NULL) {
    probe_complete (task, g_error_new (WE_ERROR, WE_ERROR_JOB_FAILED,
                                       "cannot create a discoverer: %s", error->message));
    return;
  }
  g_signal_connect (job->discoverer, "discovered", G_CALLBACK (discovered_cb), task);
  if (job->task_id != NULL)
    g_signal_connect_data (job->discoverer, "source-setup",
                           G_CALLBACK (discoverer_source_setup_cb), g_strdup (job->task_id),
                           (GClosureNotify) (GCallback) g_free, 0);
  /* the discoverer attaches to the thread-default context at start() */
  gst_discoverer_start (job->discoverer);
  if (!gst_discoverer_discover_uri_async (job->discoverer, uri)) {
    /* it works on nothing, so it stops at once (and would never finish) */
    gst_discoverer_stop (job->discoverer);
    g_clear_object (&job->discoverer);
    probe_complete (task, g_error_new (WE_ERROR, WE_ERROR_JOB_FAILED,
                                       "cannot queue %s for probing", uri));
  }
}

WeGstProbeResult *
we_gst_probe_finish (GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_async_result_is_tagged (result, we_gst_probe_async), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}
