/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * we_srt_parse_stream_id(): what a caller's streamid may look like, and
 * the SRT reject reason for everything else.
 */
#include "config.h"

#include <srt/access_control.h>

#include "we-srt-server.h"

static void
test_accepted (void)
{
  const struct {
    const gchar *stream_id;
    const gchar *key;
  } cases[] = {
    { "publish:abc", "abc" },
    { "publish:k-1_2.3~x/y", "k-1_2.3~x/y" },
    { "#!::r=abc,m=publish", "abc" },
    { "#!::m=publish,r=abc", "abc" },
    { "#!::r=abc", "abc" },                       /* m left out: a publish */
    { "#!::u=someone,r=abc,m=publish,s=1", "abc" }, /* other keys ignored */
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++) {
    gint reject = -1;
    g_autofree gchar *key = we_srt_parse_stream_id (cases[i].stream_id, &reject);

    g_assert_cmpstr (key, ==, cases[i].key);
    g_assert_cmpint (reject, ==, 0);
  }
}

static void
test_refused (void)
{
  g_autofree gchar *long_key = g_strnfill (300, 'k');
  g_autofree gchar *long_id = g_strconcat ("publish:", long_key, NULL);
  g_autofree gchar *huge = g_strnfill (600, 'x');
  const struct {
    const gchar *stream_id;
    gint reject;
  } cases[] = {
    { NULL, SRT_REJX_BAD_REQUEST },
    { "", SRT_REJX_BAD_REQUEST },
    { "abc", SRT_REJX_BAD_REQUEST },              /* neither syntax */
    { "publish:", SRT_REJX_BAD_REQUEST },
    { "publish:a b", SRT_REJX_BAD_REQUEST },      /* no spaces */
    { "publish:a,b", SRT_REJX_BAD_REQUEST },
    { "publish:\x01", SRT_REJX_BAD_REQUEST },
    { "#!::m=publish", SRT_REJX_BAD_REQUEST },    /* no resource */
    { "#!::r=a,r=b", SRT_REJX_BAD_REQUEST },      /* two */
    { "#!::r=", SRT_REJX_BAD_REQUEST },
    { "#!::rabc", SRT_REJX_BAD_REQUEST },
    { "#!::r=abc,m=request", SRT_REJX_BAD_MODE }, /* we are an ingest */
    { "#!::r=abc,m=bidirectional", SRT_REJX_BAD_MODE },
    { "read:abc", SRT_REJX_BAD_MODE },
    { "request:abc", SRT_REJX_BAD_MODE },
    { long_id, SRT_REJX_BAD_REQUEST },
    { huge, SRT_REJX_BAD_REQUEST },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++) {
    gint reject = 0;
    g_autofree gchar *key = we_srt_parse_stream_id (cases[i].stream_id, &reject);

    g_assert_null (key);
    g_assert_cmpint (reject, ==, cases[i].reject);
  }
  /* the reason is optional */
  g_assert_null (we_srt_parse_stream_id ("abc", NULL));
}

/* the server's own life without publishers: start on any port, stop,
 * start again, shared servers per port */
static void
test_server_lifecycle (void)
{
  g_autoptr(WeSrtServer) server = we_srt_server_new ();
  g_autoptr(WeSrtServer) shared1 = NULL;
  g_autoptr(WeSrtServer) shared2 = NULL;
  g_autoptr(WeSrtServer) taken = we_srt_server_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) sessions = NULL;
  guint port;

  g_object_set (server, "address", "127.0.0.1", "port", 0, NULL);
  g_assert_cmpuint (we_srt_server_get_bound_port (server), ==, 0);
  g_assert_true (we_srt_server_start (server, &error));
  g_assert_no_error (error);
  port = we_srt_server_get_bound_port (server);
  g_assert_cmpuint (port, >, 0);
  sessions = we_srt_server_list_sessions (server);
  g_assert_cmpuint (sessions->len, ==, 0);
  g_assert_null (we_srt_server_find_session (server, "abc"));

  /* the port is taken */
  g_object_set (taken, "address", "127.0.0.1", "port", port, NULL);
  g_assert_false (we_srt_server_start (taken, &error));
  g_assert_nonnull (error);
  g_clear_error (&error);

  we_srt_server_stop (server);
  g_assert_cmpuint (we_srt_server_get_bound_port (server), ==, 0);
  we_srt_server_stop (server);

  /* not an address */
  g_object_set (taken, "address", "localhost.invalid", NULL);
  g_assert_false (we_srt_server_start (taken, &error));
  g_assert_nonnull (error);
  g_clear_error (&error);

  shared1 = we_srt_server_get_shared ("127.0.0.1", port, 2000, 120, &error);
  g_assert_no_error (error);
  shared2 = we_srt_server_get_shared ("127.0.0.1", port, 2000, 120, &error);
  g_assert_no_error (error);
  g_assert_true (shared1 == shared2);
  g_assert_cmpuint (we_srt_server_get_bound_port (shared1), ==, port);
  we_srt_server_add_stream_key (shared1, "abc", "0123456789");
  we_srt_server_remove_stream_key (shared1, "abc");
}

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/srt/stream-id/accepted", test_accepted);
  g_test_add_func ("/srt/stream-id/refused", test_refused);
  g_test_add_func ("/srt/server/lifecycle", test_server_lifecycle);
  return g_test_run ();
}
