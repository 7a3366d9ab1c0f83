/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "we-gst-test-util.h"

#include <glib/gstdio.h>

gdouble
we_gst_test_time_factor (void)
{
  const gchar *f = g_getenv ("WE_TEST_TIME_FACTOR");

  return f != NULL ? MAX (g_ascii_strtod (f, NULL), 1.0) : 1.0;
}

gchar *
we_gst_test_run_command (const gchar *cmd, gchar **err_out)
{
  g_autofree gchar *out = NULL;
  g_autofree gchar *err = NULL;
  g_autoptr(GError) error = NULL;
  gint status = 0;

  g_assert_true (g_spawn_command_line_sync (cmd, &out, &err, &status, &error));
  g_assert_no_error (error);
  if (!g_spawn_check_wait_status (status, NULL))
    g_error ("'%s' failed: %s", cmd, err);
  if (err_out != NULL)
    *err_out = g_steal_pointer (&err);
  return g_steal_pointer (&out);
}

void
we_gst_test_make_clip (const gchar *out, const gchar *extra)
{
  const gchar *root = g_getenv ("WE_SOURCE_ROOT");
  g_autofree gchar *script = NULL;
  g_autofree gchar *cmd = NULL;

  g_assert_nonnull (root);
  script = g_build_filename (root, "tests", "media", "make-clip", NULL);
  cmd = g_strdup_printf ("python3 %s %s %s", script, out, extra);
  g_free (we_gst_test_run_command (cmd, NULL));
}

void
we_gst_test_run_to_eos (GstElement *pipeline)
{
  g_autoptr(GstBus) bus = gst_element_get_bus (pipeline);
  g_autoptr(GstMessage) msg = NULL;

  msg = gst_bus_timed_pop_filtered (bus,
                                    (GstClockTime) (120 * GST_SECOND * we_gst_test_time_factor ()),
                                    GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  g_assert_nonnull (msg);
  if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
    g_autoptr(GError) err = NULL;

    gst_message_parse_error (msg, &err, NULL);
    g_error ("clip pipeline failed: %s", err->message);
  }
  gst_element_set_state (pipeline, GST_STATE_NULL);
}

void
we_gst_test_run_pipeline (const gchar *description)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GstElement) pipeline = gst_parse_launch (description, &error);

  g_assert_no_error (error);
  g_assert_cmpint (gst_element_set_state (pipeline, GST_STATE_PLAYING), !=,
                   GST_STATE_CHANGE_FAILURE);
  we_gst_test_run_to_eos (pipeline);
}

gchar *
we_gst_test_read_file (const gchar *path, gsize *length)
{
  g_autoptr(GError) error = NULL;
  gchar *data = NULL;

  g_assert_true (g_file_get_contents (path, &data, length, &error));
  g_assert_no_error (error);
  return data;
}

void
we_gst_test_remove_tree (const gchar *path)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  const gchar *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL) {
    g_autofree gchar *p = g_build_filename (path, name, NULL);

    if (g_file_test (p, G_FILE_TEST_IS_DIR) && !g_file_test (p, G_FILE_TEST_IS_SYMLINK))
      we_gst_test_remove_tree (p);
    else
      g_unlink (p);
  }
  g_rmdir (path);
}

void
we_gst_test_waiter_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  WeGstTestWaiter *w = user_data;

  w->result = g_object_ref (res);
  w->done = TRUE;
}

void
we_gst_test_wait (WeGstTestWaiter *w, GMainContext *context)
{
  while (!w->done)
    g_main_context_iteration (context, TRUE);
}
