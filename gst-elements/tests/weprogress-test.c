/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * weprogress driven by GstHarness: what passes, what it counts and the
 * messages it posts. The harness runs the element on a GstTestClock, so
 * "wall-clock" time (fps, speed, the interval) is set by the test.
 */
#include <gst/check/gstharness.h>
#include <gst/check/gsttestclock.h>

#include "we-gst-elements.h"

#define FRAME (40 * GST_MSECOND)
#define FRAME_BYTES 100

typedef struct {
  GstHarness *h;
  GstBus     *bus;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_assert_true (we_gst_elements_register ());
  f->h = gst_harness_new ("weprogress");
  g_assert_nonnull (f->h);
  /* an element outside a pipeline has no bus: its messages would be lost */
  f->bus = gst_bus_new ();
  gst_element_set_bus (f->h->element, f->bus);
  gst_harness_set_src_caps_str (f->h, "application/x-we-test");
  gst_harness_set_time (f->h, 0);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  gst_element_set_bus (f->h->element, NULL);
  gst_harness_teardown (f->h);
  gst_object_unref (f->bus);
}

/* A FRAME_BYTES buffer of frame @i (PTS @base + i frames), filled with @i. */
static GstBuffer *
frame_new (guint i, GstClockTime base)
{
  GstBuffer *buf = gst_buffer_new_allocate (NULL, FRAME_BYTES, NULL);

  gst_buffer_memset (buf, 0, (guint8) i, FRAME_BYTES);
  GST_BUFFER_PTS (buf) = base + i * FRAME;
  GST_BUFFER_DURATION (buf) = FRAME;
  return buf;
}

/* Pushes frames @from..@to-1 and checks each comes out as it went in. */
static void
push_frames (Fixture *f, guint from, guint to, GstClockTime base)
{
  for (guint i = from; i < to; i++) {
    GstBuffer *in = frame_new (i, base);
    GstBuffer *out;
    GstMapInfo map;

    g_assert_cmpint (gst_harness_push (f->h, gst_buffer_ref (in)), ==, GST_FLOW_OK);
    out = gst_harness_pull (f->h);
    /* pass-through: the very buffer, not a copy */
    g_assert_true (out == in);
    g_assert_cmpuint (GST_BUFFER_PTS (out), ==, base + i * FRAME);
    g_assert_true (gst_buffer_map (out, &map, GST_MAP_READ));
    g_assert_cmpuint (map.size, ==, FRAME_BYTES);
    for (gsize b = 0; b < map.size; b++)
      g_assert_cmpuint (map.data[b], ==, (guint8) i);
    gst_buffer_unmap (out, &map);
    gst_buffer_unref (out);
    gst_buffer_unref (in);
  }
}

/* The next we-progress message, or NULL if none is waiting.
 * Returns: (transfer full) (nullable) */
static GstMessage *
pop_progress (Fixture *f)
{
  GstMessage *msg = gst_bus_pop_filtered (f->bus, GST_MESSAGE_ELEMENT);

  if (msg != NULL) {
    g_assert_true (gst_structure_has_name (gst_message_get_structure (msg), "we-progress"));
    g_assert_true (GST_MESSAGE_SRC (msg) == GST_OBJECT (f->h->element));
  }
  return msg;
}

static guint64
field_u64 (GstMessage *msg, const gchar *name)
{
  guint64 v = 0;

  g_assert_true (gst_structure_get_uint64 (gst_message_get_structure (msg), name, &v));
  return v;
}

static gdouble
field_double (GstMessage *msg, const gchar *name)
{
  gdouble v = -1;

  g_assert_true (gst_structure_get_double (gst_message_get_structure (msg), name, &v));
  return v;
}

static gboolean
field_eos (GstMessage *msg)
{
  gboolean v = FALSE;

  g_assert_true (gst_structure_get_boolean (gst_message_get_structure (msg), "eos", &v));
  return v;
}

static guint64
prop_u64 (Fixture *f, const gchar *name)
{
  guint64 v = 0;

  g_object_get (f->h->element, name, &v, NULL);
  return v;
}

static void
test_passthrough (Fixture *f, gconstpointer data)
{
  g_autoptr(GstMessage) none = NULL;

  g_assert_cmpuint (prop_u64 (f, "position"), ==, GST_CLOCK_TIME_NONE);
  push_frames (f, 0, 10, 0);
  g_assert_cmpuint (prop_u64 (f, "frames"), ==, 10);
  g_assert_cmpuint (prop_u64 (f, "bytes"), ==, 10 * FRAME_BYTES);
  g_assert_cmpuint (prop_u64 (f, "position"), ==, 10 * FRAME);
  /* the clock did not move: the default interval of a second is not up */
  none = pop_progress (f);
  g_assert_null (none);
}

static void
test_interval (Fixture *f, gconstpointer data)
{
  g_autoptr(GstMessage) first = NULL;
  g_autoptr(GstMessage) again = NULL;
  g_autoptr(GstMessage) second = NULL;
  g_autoptr(GstMessage) end = NULL;
  g_autoptr(GstMessage) none = NULL;

  g_assert_cmpuint (prop_u64 (f, "interval"), ==, GST_SECOND);
  push_frames (f, 0, 5, 0);
  none = pop_progress (f);
  g_assert_null (none);

  /* a second later: one message for the sixth frame */
  gst_harness_set_time (f->h, GST_SECOND);
  push_frames (f, 5, 6, 0);
  first = pop_progress (f);
  g_assert_nonnull (first);
  g_assert_cmpuint (field_u64 (first, "frames"), ==, 6);
  g_assert_cmpuint (field_u64 (first, "bytes"), ==, 6 * FRAME_BYTES);
  g_assert_cmpuint (field_u64 (first, "position"), ==, 6 * FRAME);
  /* nothing answers a duration query upstream, and none was set */
  g_assert_cmpuint (field_u64 (first, "duration"), ==, GST_CLOCK_TIME_NONE);
  /* 6 frames in 1 s of wall clock; 600 bytes over 0.24 s of media */
  g_assert_cmpfloat_with_epsilon (field_double (first, "fps"), 6.0, 1e-9);
  g_assert_cmpfloat_with_epsilon (field_double (first, "bitrate"), 600 * 8 / 0.24, 1e-6);
  g_assert_cmpfloat_with_epsilon (field_double (first, "speed"), 0.24, 1e-9);
  g_assert_false (field_eos (first));

  /* the interval is not up again until a second after the last message */
  gst_harness_set_time (f->h, GST_SECOND + 999 * GST_MSECOND);
  push_frames (f, 6, 10, 0);
  again = pop_progress (f);
  g_assert_null (again);
  gst_harness_set_time (f->h, 2 * GST_SECOND);
  push_frames (f, 10, 11, 0);
  second = pop_progress (f);
  g_assert_nonnull (second);
  g_assert_cmpuint (field_u64 (second, "frames"), ==, 11);
  g_assert_cmpuint (field_u64 (second, "position"), ==, 11 * FRAME);

  /* EOS: one last message, whatever the interval */
  gst_harness_set_time (f->h, 2 * GST_SECOND + 500 * GST_MSECOND);
  g_object_set (f->h->element, "duration", (guint64) (10 * GST_SECOND), NULL);
  g_assert_true (gst_harness_push_event (f->h, gst_event_new_eos ()));
  end = pop_progress (f);
  g_assert_nonnull (end);
  g_assert_true (field_eos (end));
  g_assert_cmpuint (field_u64 (end, "frames"), ==, 11);
  g_assert_cmpuint (field_u64 (end, "position"), ==, 11 * FRAME);
  g_assert_cmpuint (field_u64 (end, "duration"), ==, 10 * GST_SECOND);
  g_assert_cmpfloat_with_epsilon (field_double (end, "fps"), 11 / 2.5, 1e-9);
  g_assert_cmpfloat_with_epsilon (field_double (end, "speed"), 0.44 / 2.5, 1e-9);
  g_clear_pointer (&none, gst_message_unref);
  none = pop_progress (f);
  g_assert_null (none);
}

static void
test_every_buffer (Fixture *f, gconstpointer data)
{
  g_object_set (f->h->element, "interval", (guint64) 0, NULL);
  push_frames (f, 0, 4, 0);
  for (guint i = 1; i <= 4; i++) {
    g_autoptr(GstMessage) msg = pop_progress (f);

    g_assert_nonnull (msg);
    g_assert_cmpuint (field_u64 (msg, "frames"), ==, i);
    g_assert_cmpuint (field_u64 (msg, "bytes"), ==, i * FRAME_BYTES);
    g_assert_cmpuint (field_u64 (msg, "position"), ==, i * FRAME);
    g_assert_false (field_eos (msg));
  }
  g_assert_true (gst_harness_push_event (f->h, gst_event_new_eos ()));
  {
    g_autoptr(GstMessage) end = pop_progress (f);
    g_autoptr(GstMessage) none = NULL;

    g_assert_nonnull (end);
    g_assert_true (field_eos (end));
    g_assert_cmpuint (field_u64 (end, "frames"), ==, 4);
    none = pop_progress (f);
    g_assert_null (none);
  }
}

static void
test_silent (Fixture *f, gconstpointer data)
{
  g_autoptr(GstMessage) none = NULL;

  g_object_set (f->h->element, "interval", (guint64) 0, "silent", TRUE, NULL);
  push_frames (f, 0, 5, 0);
  gst_harness_set_time (f->h, 5 * GST_SECOND);
  push_frames (f, 5, 6, 0);
  g_assert_true (gst_harness_push_event (f->h, gst_event_new_eos ()));
  none = pop_progress (f);
  g_assert_null (none);
  /* it still counts */
  g_assert_cmpuint (prop_u64 (f, "frames"), ==, 6);
  g_assert_cmpuint (prop_u64 (f, "bytes"), ==, 6 * FRAME_BYTES);
  g_assert_cmpuint (prop_u64 (f, "position"), ==, 6 * FRAME);
}

/* Position is running time: a segment that starts at 10 s (what a seek to
 * 10 s gives) counts from zero, plus the segment's base. */
static void
test_segment (Fixture *f, gconstpointer data)
{
  GstSegment segment;
  g_autoptr(GstMessage) msg = NULL;
  g_autoptr(GstMessage) end = NULL;

  gst_segment_init (&segment, GST_FORMAT_TIME);
  segment.start = 10 * GST_SECOND;
  segment.time = 10 * GST_SECOND;
  segment.base = 2 * GST_SECOND;
  segment.position = segment.start;
  g_assert_true (gst_harness_push_event (f->h, gst_event_new_segment (&segment)));
  g_object_set (f->h->element, "interval", (guint64) 0, NULL);
  push_frames (f, 0, 25, 10 * GST_SECOND);
  g_assert_cmpuint (prop_u64 (f, "position"), ==, 2 * GST_SECOND + 25 * FRAME);
  for (guint i = 0; i < 25; i++) {
    g_clear_pointer (&msg, gst_message_unref);
    msg = pop_progress (f);
    g_assert_nonnull (msg);
  }
  g_assert_cmpuint (field_u64 (msg, "position"), ==, 2 * GST_SECOND + 25 * FRAME);
  /* the bit rate is over the second the buffers covered, not from zero */
  g_assert_cmpfloat_with_epsilon (field_double (msg, "bitrate"),
                                  25.0 * FRAME_BYTES * 8 / (25 * FRAME / (gdouble) GST_SECOND),
                                  1e-6);
  g_assert_true (gst_harness_push_event (f->h, gst_event_new_eos ()));
  end = pop_progress (f);
  g_assert_true (field_eos (end));
  g_assert_cmpuint (field_u64 (end, "position"), ==, 2 * GST_SECOND + 25 * FRAME);
}

/* A flushing seek starts the measurement over. */
static void
test_flush (Fixture *f, gconstpointer data)
{
  GstSegment segment;

  push_frames (f, 0, 5, 0);
  g_assert_cmpuint (prop_u64 (f, "frames"), ==, 5);
  g_assert_true (gst_harness_push_event (f->h, gst_event_new_flush_start ()));
  g_assert_true (gst_harness_push_event (f->h, gst_event_new_flush_stop (TRUE)));
  g_assert_cmpuint (prop_u64 (f, "frames"), ==, 0);
  g_assert_cmpuint (prop_u64 (f, "position"), ==, GST_CLOCK_TIME_NONE);
  gst_segment_init (&segment, GST_FORMAT_TIME);
  g_assert_true (gst_harness_push_event (f->h, gst_event_new_segment (&segment)));
  push_frames (f, 0, 2, 0);
  g_assert_cmpuint (prop_u64 (f, "frames"), ==, 2);
  g_assert_cmpuint (prop_u64 (f, "position"), ==, 2 * FRAME);
}

/* Statically registered, and once only however often it is asked. */
static void
test_register (void)
{
  g_autoptr(GstElementFactory) factory = NULL;
  g_autoptr(GstPlugin) plugin = NULL;

  g_assert_true (we_gst_elements_register ());
  g_assert_true (we_gst_elements_register ());
  factory = gst_element_factory_find ("weprogress");
  g_assert_nonnull (factory);
  g_assert_cmpstr (gst_plugin_feature_get_plugin_name (GST_PLUGIN_FEATURE (factory)), ==,
                   "webencode");
  plugin = gst_registry_find_plugin (gst_registry_get (), "webencode");
  g_assert_nonnull (plugin);
  g_assert_cmpstr (gst_plugin_get_license (plugin), ==, "LGPL");
  g_assert_cmpstr (gst_element_factory_get_metadata (factory, GST_ELEMENT_METADATA_KLASS), ==,
                   "Generic");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  gst_init (&argc, &argv);

  g_test_add_func ("/weprogress/register", test_register);
#define ADD(path, fn) g_test_add ("/weprogress/" path, Fixture, NULL, fixture_setup, fn, \
                                  fixture_teardown)
  ADD ("passthrough", test_passthrough);
  ADD ("interval", test_interval);
  ADD ("every-buffer", test_every_buffer);
  ADD ("silent", test_silent);
  ADD ("segment", test_segment);
  ADD ("flush", test_flush);
#undef ADD
  return g_test_run ();
}
