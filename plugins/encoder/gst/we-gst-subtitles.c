/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include "we-gst-subtitles.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <gst/gst.h>
#include <webencode/we-error.h>
#include <webencode/we-media-info.h>

#include "we-gst-introspect.h"
#include "we-gst-probe.h"
#include "we-gst-run.h"

#define SUBTITLES_DIR "subtitles"
/* a cue without a duration that no later cue ends */
#define DEFAULT_CUE_DURATION (3 * GST_SECOND)

typedef struct {
  guint64  start;
  guint64  end;    /* G_MAXUINT64 until known */
  gchar   *text;   /* with <i>/<b>/<u> */
} Cue;

typedef struct {
  gint        track;       /* index among the source's subtitle streams */
  gchar      *language;    /* nullable */
  GArray     *cues;        /* Cue */
  GstSegment  segment;
  gboolean    is_markup;
} Track;

typedef struct {
  gchar        *uri;
  gchar        *task_id;       /* nullable: names the pipeline */
  WePipelineFunc pipeline_func; /* nullable: introspection */
  gpointer      pipeline_data;
  gboolean      introspected;
  GStrv         formats;
  gchar        *output_dir;
  GMainContext *context;
  GCancellable *cancellable;
  GSource      *cancel_source;
  GSource      *bus_source;
  GstElement   *pipeline;
  GstElement   *decodebin;
  GList        *demuxers;    /* element factories, read by streaming threads */
  WeGstProbeResult *probe;
  GPtrArray    *written;     /* (element-type filename) to remove on error */
  gboolean      done;

  GMutex        lock;        /* guards the fields below */
  GPtrArray    *tracks;      /* (element-type Track) */
  guint         unknown_pads;
} ExtractJob;

static void
cue_clear (Cue *cue)
{
  g_free (cue->text);
}

static void
track_free (Track *t)
{
  g_free (t->language);
  g_clear_pointer (&t->cues, g_array_unref);
  g_free (t);
}

/* ---- text --------------------------------------------------------------- */

static gboolean
is_style_tag (const gchar *name)
{
  return g_strcmp0 (name, "i") == 0 || g_strcmp0 (name, "b") == 0 || g_strcmp0 (name, "u") == 0;
}

/* Appends the character of the entity at @p (after the '&') and returns
 * where it ends, or NULL when it is not one we know. */
static const gchar *
append_entity (GString *out, const gchar *p, const gchar *end)
{
  const gchar *semi = memchr (p, ';', MIN (end - p, 10));
  g_autofree gchar *name = NULL;
  gunichar c = 0;

  if (semi == NULL)
    return NULL;
  name = g_strndup (p, semi - p);
  if (g_strcmp0 (name, "amp") == 0)
    c = '&';
  else if (g_strcmp0 (name, "lt") == 0)
    c = '<';
  else if (g_strcmp0 (name, "gt") == 0)
    c = '>';
  else if (g_strcmp0 (name, "quot") == 0)
    c = '"';
  else if (g_strcmp0 (name, "apos") == 0)
    c = '\'';
  else if (g_strcmp0 (name, "nbsp") == 0)
    c = 0xa0;
  else if (name[0] == '#' && (name[1] == 'x' || name[1] == 'X'))
    c = (gunichar) g_ascii_strtoull (name + 2, NULL, 16);
  else if (name[0] == '#')
    c = (gunichar) g_ascii_strtoull (name + 1, NULL, 10);
  if (c == 0 || !g_unichar_validate (c))
    return NULL;
  g_string_append_unichar (out, c);
  return semi + 1;
}

gchar *
we_gst_subtitle_cue_text (const gchar *markup, gssize length, gboolean is_markup,
                          gboolean keep_style)
{
  g_autofree gchar *valid = g_utf8_make_valid (markup != NULL ? markup : "",
                                               markup != NULL ? length : 0);
  const gchar *p = valid;
  const gchar *end = valid + strlen (valid);
  g_autoptr(GString) text = g_string_new (NULL);
  g_autoptr(GString) out = g_string_new (NULL);
  g_auto(GStrv) lines = NULL;

  while (p < end) {
    if (is_markup && *p == '<') {
      const gchar *close = memchr (p, '>', end - p);
      g_autofree gchar *name = NULL;
      gboolean closing;
      const gchar *n;
      gsize len = 0;

      if (close == NULL)
        break;  /* not markup after all: the rest is a broken tag */
      n = p + 1;
      closing = *n == '/';
      if (closing)
        n++;
      while (n + len < close && g_ascii_isalnum (n[len]))
        len++;
      name = g_ascii_strdown (n, len);
      if (keep_style && is_style_tag (name))
        g_string_append_printf (text, closing ? "</%s>" : "<%s>", name);
      p = close + 1;
    } else if (is_markup && *p == '&') {
      const gchar *next = append_entity (text, p + 1, end);

      if (next == NULL) {
        g_string_append_c (text, '&');
        p++;
      } else {
        p = next;
      }
    } else if (*p == '\r') {
      p++;
    } else {
      g_string_append_c (text, *p);
      p++;
    }
  }

  /* a blank line would end the cue in both formats */
  lines = g_strsplit (text->str, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++) {
    g_strchomp (lines[i]);
    if (lines[i][0] == '\0')
      continue;
    if (out->len > 0)
      g_string_append_c (out, '\n');
    g_string_append (out, lines[i]);
  }
  return g_string_free (g_steal_pointer (&out), FALSE);
}

static void
append_time (GString *out, guint64 ns, gchar sep)
{
  guint64 ms = (ns + GST_MSECOND / 2) / GST_MSECOND;

  g_string_append_printf (out, "%02" G_GUINT64_FORMAT ":%02u:%02u%c%03u", ms / 3600000,
                          (guint) (ms / 60000 % 60), (guint) (ms / 1000 % 60), sep,
                          (guint) (ms % 1000));
}

void
we_gst_subtitle_append_vtt_cue (GString *out, guint64 start_ns, guint64 end_ns, const gchar *text)
{
  static const gchar * const tags[] = { "<i>", "</i>", "<b>", "</b>", "<u>", "</u>" };

  append_time (out, start_ns, '.');
  g_string_append (out, " --> ");
  append_time (out, end_ns, '.');
  g_string_append_c (out, '\n');
  for (const gchar *p = text; *p != '\0'; p++) {
    gboolean tag = FALSE;

    for (gsize i = 0; *p == '<' && i < G_N_ELEMENTS (tags); i++) {
      if (g_str_has_prefix (p, tags[i])) {
        g_string_append (out, tags[i]);
        p += strlen (tags[i]) - 1;
        tag = TRUE;
        break;
      }
    }
    if (tag)
      continue;
    /* escaping '>' also keeps "-->" out of the text */
    if (*p == '&')
      g_string_append (out, "&amp;");
    else if (*p == '<')
      g_string_append (out, "&lt;");
    else if (*p == '>')
      g_string_append (out, "&gt;");
    else
      g_string_append_c (out, *p);
  }
  g_string_append (out, "\n\n");
}

void
we_gst_subtitle_append_srt_cue (GString *out, guint number, guint64 start_ns, guint64 end_ns,
                                const gchar *text)
{
  g_string_append_printf (out, "%u\n", number);
  append_time (out, start_ns, ',');
  g_string_append (out, " --> ");
  append_time (out, end_ns, ',');
  g_string_append_printf (out, "\n%s\n\n", text);
}

/* ---- job ---------------------------------------------------------------- */

static void
extract_job_stop (ExtractJob *job)
{
  we_gst_source_clear (&job->cancel_source);
  we_gst_source_clear (&job->bus_source);
  if (job->pipeline != NULL)
    gst_element_set_state (job->pipeline, GST_STATE_NULL);
}

static void
extract_job_free (ExtractJob *job)
{
  extract_job_stop (job);
  g_free (job->task_id);
  g_clear_pointer (&job->pipeline, gst_object_unref);
  g_clear_pointer (&job->demuxers, gst_plugin_feature_list_free);
  g_clear_pointer (&job->probe, we_gst_probe_result_free);
  g_clear_pointer (&job->written, g_ptr_array_unref);
  g_clear_pointer (&job->tracks, g_ptr_array_unref);
  g_clear_object (&job->cancellable);
  g_clear_pointer (&job->context, g_main_context_unref);
  g_free (job->uri);
  g_strfreev (job->formats);
  g_free (job->output_dir);
  g_mutex_clear (&job->lock);
  g_free (job);
}

/* Completes the task once, with @files or @error. */
static void
extract_complete (GTask *task, JsonArray *files, GError *error)
{
  ExtractJob *job = g_task_get_task_data (task);

  if (job->done) {
    g_clear_error (&error);
    g_clear_pointer (&files, json_array_unref);
    return;
  }
  job->done = TRUE;
  extract_job_stop (job);
  if (error != NULL) {
    g_clear_pointer (&files, json_array_unref);
    we_gst_remove_files (job->written);
    g_task_return_error (task, error);
  } else {
    g_task_return_pointer (task, files, (GDestroyNotify) json_array_unref);
  }
  g_object_unref (task);
}

static gboolean
extract_cancelled_cb (GCancellable *cancellable, gpointer user_data)
{
  extract_complete (G_TASK (user_data), NULL, we_gst_cancelled_error ("subtitle extraction"));
  return G_SOURCE_REMOVE;
}

/* ---- streaming threads -------------------------------------------------- */

/* Closes the open-ended cue before @t's new one at @start. */
static void
close_last_cue (Track *t, guint64 start)
{
  Cue *last;

  if (t->cues->len == 0)
    return;
  last = &g_array_index (t->cues, Cue, t->cues->len - 1);
  if (last->end == G_MAXUINT64)
    last->end = MAX (start, last->start);
}

static GstPadProbeReturn
text_probe (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  Track *t = user_data;

  /* one streaming thread per pad: the track is only touched here until
   * EOS reaches the main loop */
  if (info->type & GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM) {
    GstEvent *event = GST_PAD_PROBE_INFO_EVENT (info);

    if (we_gst_event_keep_stream (event, &t->segment, NULL)) {
      /* kept */
    } else if (GST_EVENT_TYPE (event) == GST_EVENT_CAPS) {
      GstCaps *caps;
      const gchar *format;

      gst_event_parse_caps (event, &caps);
      format = gst_structure_get_string (gst_caps_get_structure (caps, 0), "format");
      t->is_markup = g_strcmp0 (format, "pango-markup") == 0;
    } else if (GST_EVENT_TYPE (event) == GST_EVENT_TAG && t->language == NULL) {
      GstTagList *tags;
      g_autofree gchar *code = NULL;

      /* the discoverer may finish before a later track's tags reach it
       * (seen under load); the stream's own tags always come first here */
      gst_event_parse_tag (event, &tags);
      if (gst_tag_list_get_string (tags, GST_TAG_LANGUAGE_CODE, &code))
        t->language = we_gst_language_normalize (code);
    }
  } else if (info->type & GST_PAD_PROBE_TYPE_BUFFER) {
    GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER (info);
    GstClockTime pts = GST_BUFFER_PTS (buf);
    GstMapInfo map;
    Cue cue = { 0, G_MAXUINT64, NULL };
    guint64 start;

    if (!GST_CLOCK_TIME_IS_VALID (pts))
      return GST_PAD_PROBE_OK;
    /* stream time: the file's timeline as a player shows it, whatever
     * offset the demuxer's timestamps carry (MP4 edit lists) */
    start = t->segment.format == GST_FORMAT_TIME
              ? gst_segment_to_stream_time (&t->segment, GST_FORMAT_TIME, pts) : pts;
    if (!GST_CLOCK_TIME_IS_VALID (start))
      return GST_PAD_PROBE_OK;
    close_last_cue (t, start);
    if (!gst_buffer_map (buf, &map, GST_MAP_READ))
      return GST_PAD_PROBE_OK;
    cue.text = we_gst_subtitle_cue_text ((const gchar *) map.data, (gssize) map.size,
                                         t->is_markup, TRUE);
    gst_buffer_unmap (buf, &map);
    /* an empty sample only ends the previous cue (MP4 fills gaps so) */
    if (cue.text[0] == '\0') {
      g_free (cue.text);
      return GST_PAD_PROBE_OK;
    }
    cue.start = start;
    if (GST_BUFFER_DURATION_IS_VALID (buf))
      cue.end = start + GST_BUFFER_DURATION (buf);
    g_array_append_val (t->cues, cue);
  }
  return GST_PAD_PROBE_OK;
}

/* Audio and video are demuxed, never decoded: only containers go on. */
static gboolean
extract_autoplug_continue (GstElement *bin, GstPad *pad, GstCaps *caps, gpointer user_data)
{
  ExtractJob *job = user_data;
  const gchar *name;
  GList *demuxers;
  gboolean container;

  if (gst_caps_get_size (caps) == 0)
    return TRUE;
  name = gst_structure_get_name (gst_caps_get_structure (caps, 0));
  if (!g_str_has_prefix (name, "video/") && !g_str_has_prefix (name, "audio/") &&
      !g_str_has_prefix (name, "image/"))
    return TRUE;
  demuxers = gst_element_factory_list_filter (job->demuxers, caps, GST_PAD_SINK, FALSE);
  container = demuxers != NULL;
  gst_plugin_feature_list_free (demuxers);
  return container;
}

static void
extract_pad_added (GstElement *decodebin, GstPad *pad, gpointer user_data)
{
  ExtractJob *job = user_data;
  g_autoptr(GstCaps) caps = gst_pad_get_current_caps (pad);
  GstElement *sink = gst_element_factory_make ("fakesink", NULL);
  GstElement *progress = NULL;
  g_autoptr(GstPad) sinkpad = NULL;
  g_autofree gchar *stream_id = gst_pad_get_stream_id (pad);
  const gchar *name;

  if (caps == NULL)
    caps = gst_pad_query_caps (pad, NULL);
  name = gst_caps_get_size (caps) > 0 ? gst_structure_get_name (gst_caps_get_structure (caps, 0))
                                      : "";
  g_object_set (sink, "sync", FALSE, "async", FALSE, NULL);
  sinkpad = gst_element_get_static_pad (sink, "sink");
  if (g_str_equal (name, "text/x-raw")) {
    gint index = we_gst_probe_stream_index (job->probe->subtitle_stream_ids, stream_id);
    Track *t = g_new0 (Track, 1);

    g_mutex_lock (&job->lock);
    if (index < 0) {
      /* not seen by the probe (should not happen): numbered after its tracks */
      index = (gint) (job->probe->info->subtitle_tracks->len + job->unknown_pads++);
    } else {
      const WeMediaTrack *mt = g_ptr_array_index (job->probe->info->subtitle_tracks, index);

      t->language = g_strdup (mt->language);
    }
    t->track = index;
    t->cues = g_array_new (FALSE, TRUE, sizeof (Cue));
    g_array_set_clear_func (t->cues, (GDestroyNotify) cue_clear);
    gst_segment_init (&t->segment, GST_FORMAT_UNDEFINED);
    g_ptr_array_add (job->tracks, t);
    g_mutex_unlock (&job->lock);
    gst_pad_add_probe (sinkpad, GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM,
                       text_probe, t, NULL);
    {
      g_autofree gchar *progress_name = g_strdup_printf ("progress_text_%d", index);

      /* how far each extracted track has been read, on the bus */
      progress = we_gst_add_progress (job->pipeline, progress_name, NULL);
    }
  }
  gst_bin_add (GST_BIN (job->pipeline), sink);
  gst_element_sync_state_with_parent (sink);
  if (progress != NULL) {
    gst_element_link (progress, sink);
    gst_element_sync_state_with_parent (progress);
    gst_object_unref (sinkpad);
    sinkpad = gst_element_get_static_pad (progress, "sink");
  }
  if (gst_pad_link (pad, sinkpad) != GST_PAD_LINK_OK)
    we_gst_post_app_message (job->pipeline, "we-link-failed", name);
}

/* ---- main-context side -------------------------------------------------- */

static gint
track_compare (gconstpointer a, gconstpointer b)
{
  const Track *ta = *(const Track * const *) a;
  const Track *tb = *(const Track * const *) b;

  return ta->track - tb->track;
}

static gint
cue_compare (gconstpointer a, gconstpointer b)
{
  const Cue *ca = a;
  const Cue *cb = b;

  return ca->start < cb->start ? -1 : ca->start > cb->start ? 1 : 0;
}

static gboolean
write_files (ExtractJob *job, JsonArray *files, GError **error)
{
  g_autofree gchar *dir = g_build_filename (job->output_dir, SUBTITLES_DIR, NULL);

  if (g_mkdir_with_parents (dir, 0755) != 0) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_FAILED, "cannot create %s: %s", dir,
                 g_strerror (errno));
    return FALSE;
  }
  g_ptr_array_sort (job->tracks, track_compare);
  for (guint i = 0; i < job->tracks->len; i++) {
    Track *t = g_ptr_array_index (job->tracks, i);

    g_array_sort (t->cues, cue_compare);
    for (guint c = 0; c < t->cues->len; c++) {
      Cue *cue = &g_array_index (t->cues, Cue, c);

      if (cue->end == G_MAXUINT64)
        cue->end = c + 1 < t->cues->len ? g_array_index (t->cues, Cue, c + 1).start
                                        : cue->start + DEFAULT_CUE_DURATION;
    }
    for (guint f = 0; job->formats[f] != NULL; f++) {
      const gchar *format = job->formats[f];
      gboolean vtt = g_str_equal (format, "vtt");
      g_autoptr(GString) out = g_string_new (vtt ? "WEBVTT\n\n" : NULL);
      g_autofree gchar *base = g_strdup_printf ("%d_%s.%s", t->track,
                                                t->language != NULL ? t->language : "und",
                                                format);
      g_autofree gchar *rel = g_build_filename (SUBTITLES_DIR, base, NULL);
      g_autofree gchar *path = g_build_filename (job->output_dir, rel, NULL);
      g_autoptr(GError) local = NULL;
      JsonObject *o;

      for (guint c = 0; c < t->cues->len; c++) {
        const Cue *cue = &g_array_index (t->cues, Cue, c);

        if (vtt)
          we_gst_subtitle_append_vtt_cue (out, cue->start, cue->end, cue->text);
        else
          we_gst_subtitle_append_srt_cue (out, c + 1, cue->start, cue->end, cue->text);
      }
      g_ptr_array_add (job->written, g_strdup (path));
      if (!g_file_set_contents (path, out->str, (gssize) out->len, &local)) {
        g_set_error (error, WE_ERROR, WE_ERROR_JOB_FAILED, "cannot write %s: %s", rel,
                     local->message);
        return FALSE;
      }
      o = json_object_new ();
      json_object_set_string_member (o, "type", "subtitle");
      json_object_set_string_member (o, "path", rel);
      json_object_set_string_member (o, "format", format);
      json_object_set_string_member (o, "language", t->language);
      json_object_set_int_member (o, "track", t->track);
      json_object_set_int_member (o, "cues", t->cues->len);
      json_object_set_string_member (o, "content_type",
                                     vtt ? "text/vtt" : "application/x-subrip");
      json_array_add_object_element (files, o);
    }
  }
  return TRUE;
}

static gboolean
extract_bus_cb (GstBus *bus, GstMessage *msg, gpointer user_data)
{
  GTask *task = G_TASK (user_data);
  ExtractJob *job = g_task_get_task_data (task);

  if (job->done)
    return G_SOURCE_REMOVE;
  we_gst_introspect_message (job->pipeline, msg, "subtitles", job->pipeline_func,
                             job->pipeline_data, &job->introspected);
  switch (GST_MESSAGE_TYPE (msg)) {
  case GST_MESSAGE_ERROR:
    extract_complete (task, NULL, we_gst_error_from_message (msg, job->decodebin));
    return G_SOURCE_REMOVE;
  case GST_MESSAGE_EOS: {
    g_autoptr(JsonArray) files = json_array_new ();
    GError *error = NULL;

    /* the streaming threads are done with the tracks */
    gst_element_set_state (job->pipeline, GST_STATE_NULL);
    if (!write_files (job, files, &error)) {
      extract_complete (task, NULL, error);
      return G_SOURCE_REMOVE;
    }
    extract_complete (task, g_steal_pointer (&files), NULL);
    return G_SOURCE_REMOVE;
  }
  case GST_MESSAGE_APPLICATION:
    if (gst_structure_has_name (gst_message_get_structure (msg), "we-link-failed")) {
      extract_complete (task, NULL,
                        g_error_new (WE_ERROR, WE_ERROR_JOB_FAILED,
                                     "cannot link the %s stream for subtitle extraction",
                                     gst_structure_get_string (gst_message_get_structure (msg),
                                                               "detail")));
      return G_SOURCE_REMOVE;
    }
    break;
  default:
    break;
  }
  return G_SOURCE_CONTINUE;
}

static void
start_pipeline (GTask *task)
{
  ExtractJob *job = g_task_get_task_data (task);
  GError *error = NULL;

  job->pipeline = gst_object_ref_sink (
    gst_pipeline_new (job->task_id != NULL ? job->task_id : "we-subtitles"));
  job->decodebin = we_gst_bin_add_new (job->pipeline, "uridecodebin", NULL, &error);
  if (job->decodebin == NULL) {
    extract_complete (task, NULL, error);
    return;
  }
  job->demuxers = gst_element_factory_list_get_elements (GST_ELEMENT_FACTORY_TYPE_DEMUXER,
                                                         GST_RANK_MARGINAL);
  g_object_set (job->decodebin, "uri", job->uri, NULL);
  g_signal_connect (job->decodebin, "autoplug-continue", G_CALLBACK (extract_autoplug_continue),
                    job);
  g_signal_connect (job->decodebin, "pad-added", G_CALLBACK (extract_pad_added), job);

  job->bus_source = we_gst_bus_watch_attach (job->pipeline, job->context, extract_bus_cb, task);
  if (!we_gst_pipeline_play (job->pipeline, job->decodebin, "subtitle pipeline", &error))
    extract_complete (task, NULL, error);
}

static void
probed_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(GTask) task = G_TASK (user_data);  /* the ref taken for the probe */
  ExtractJob *job = g_task_get_task_data (task);
  GError *error = NULL;
  gboolean any_text = FALSE;

  job->probe = we_gst_probe_finish (res, &error);
  if (job->done) {
    g_clear_error (&error);
    return;
  }
  if (job->probe == NULL) {
    extract_complete (task, NULL, error);
    return;
  }
  for (guint i = 0; i < job->probe->info->subtitle_tracks->len; i++) {
    const WeMediaTrack *t = g_ptr_array_index (job->probe->info->subtitle_tracks, i);

    any_text |= we_media_track_codec_is_text (t->codec);
  }
  if (!any_text) {
    extract_complete (task, json_array_new (), NULL);
    return;
  }
  start_pipeline (task);
}

void
we_gst_subtitles_extract_async (const gchar *input_uri, const gchar * const *formats,
                                const gchar *output_dir, GCancellable *cancellable,
                                GAsyncReadyCallback callback, gpointer user_data)
{
  we_gst_subtitles_extract_task_async (input_uri, formats, output_dir, NULL, NULL, NULL,
                                       cancellable, callback, user_data);
}

void
we_gst_subtitles_extract_task_async (const gchar *input_uri, const gchar * const *formats,
                                     const gchar *output_dir, const gchar *task_id,
                                     WePipelineFunc pipeline_func, gpointer pipeline_data,
                                     GCancellable *cancellable, GAsyncReadyCallback callback,
                                     gpointer user_data)
{
  GTask *task = g_task_new (NULL, cancellable, callback, user_data);
  ExtractJob *job = g_new0 (ExtractJob, 1);
  static const gchar * const vtt_only[] = { "vtt", NULL };

  g_task_set_source_tag (task, we_gst_subtitles_extract_async);
  g_mutex_init (&job->lock);
  job->context = g_main_context_ref_thread_default ();
  job->uri = g_strdup (input_uri);
  job->output_dir = g_strdup (output_dir);
  job->formats = g_strdupv ((gchar **) (formats != NULL && formats[0] != NULL ? formats
                                                                              : vtt_only));
  job->written = g_ptr_array_new_with_free_func (g_free);
  job->tracks = g_ptr_array_new_with_free_func ((GDestroyNotify) track_free);
  job->cancellable = cancellable != NULL ? g_object_ref (cancellable) : NULL;
  job->task_id = g_strdup (task_id != NULL ? task_id : we_gst_cancellable_task_id (cancellable));
  job->pipeline_func = pipeline_func;
  job->pipeline_data = pipeline_data;
  g_task_set_task_data (task, job, (GDestroyNotify) extract_job_free);

  if (input_uri == NULL || output_dir == NULL) {
    extract_complete (task, NULL, g_error_new_literal (WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                                                       "subtitle extraction needs an input URI "
                                                       "and an output directory"));
    return;
  }
  for (guint i = 0; job->formats[i] != NULL; i++) {
    if (!g_str_equal (job->formats[i], "vtt") && !g_str_equal (job->formats[i], "srt")) {
      extract_complete (task, NULL, g_error_new (WE_ERROR, WE_ERROR_JOB_INVALID_PROFILE,
                                                 "unknown subtitle format '%s' (vtt, srt)",
                                                 job->formats[i]));
      return;
    }
  }
  if (!we_gst_watch_cancellable (cancellable, job->context, extract_cancelled_cb, task,
                                 &job->cancel_source)) {
    extract_complete (task, NULL, we_gst_cancelled_error ("subtitle extraction"));
    return;
  }
  /* the probe numbers the subtitle streams, names their languages and turns
   * unreadable sources into WE-JOB-007 */
  we_gst_probe_async (NULL, job->uri, cancellable, probed_cb, g_object_ref (task));
}

JsonArray *
we_gst_subtitles_extract_finish (GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_async_result_is_tagged (result, we_gst_subtitles_extract_async), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}
