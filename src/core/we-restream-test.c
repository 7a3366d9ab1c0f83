/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The restream helpers the API relies on: destination URLs masked for
 * responses, and the cron expressions of recurring restreams.
 */
#include "config.h"

#include "core/we-restream.h"

static void
test_mask (void)
{
  static const struct {
    const gchar *url;
    const gchar *masked;
  } cases[] = {
    { "rtmp://live.twitch.tv/app/live_123456789_abcdEFGHijkl", "rtmp://live.twitch.tv/app/****ijkl" },
    { "rtmps://a.rtmp.youtube.com:443/live2/xxxx-yyyy-zzzz-wwww", "rtmps://a.rtmp.youtube.com:443/live2/****wwww" },
    /* a short last segment shows nothing of itself */
    { "rtmp://127.0.0.1/live/short", "rtmp://127.0.0.1/live/****" },
    { "srt://10.0.0.1:9000?streamid=publish:key&passphrase=secret123",
      "srt://10.0.0.1:9000?streamid=****&passphrase=****" },
    { "rtmp://user:pw@host/app/k", "rtmp://****@host/app/****" },
    { "not a url", "****" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autofree gchar *masked = we_restream_mask_url (cases[i].url);

    g_assert_cmpstr (masked, ==, cases[i].masked);
  }
}

static void
test_cron (void)
{
  /* Monday 2026-11-23 18:30 */
  g_autoptr(GTimeZone) utc = g_time_zone_new_utc ();
  g_autoptr(GDateTime) mon = g_date_time_new (utc, 2026, 11, 23, 18, 30, 0);
  g_autoptr(GDateTime) sun = g_date_time_new (utc, 2026, 11, 29, 18, 30, 0);

  g_assert_true (we_restream_cron_valid ("30 18 * * 1-5"));
  g_assert_true (we_restream_cron_valid ("*/15 0-23/2 1,15 * 0"));
  g_assert_false (we_restream_cron_valid ("61 * * * *"));
  g_assert_false (we_restream_cron_valid ("* * * *"));
  g_assert_false (we_restream_cron_valid ("* * * * * *"));
  g_assert_false (we_restream_cron_valid ("a * * * *"));
  g_assert_false (we_restream_cron_valid ("*/0 * * * *"));
  g_assert_false (we_restream_cron_valid ("5-1 * * * *"));
  g_assert_false (we_restream_cron_valid (""));

  g_assert_true (we_restream_cron_matches ("30 18 * * 1-5", mon));
  g_assert_false (we_restream_cron_matches ("30 18 * * 1-5", sun));
  g_assert_true (we_restream_cron_matches ("30 18 * * 0", sun));
  g_assert_true (we_restream_cron_matches ("30 18 * * 7", sun));
  g_assert_true (we_restream_cron_matches ("*/15 * * * *", mon));
  g_assert_false (we_restream_cron_matches ("*/20 * * * *", mon));
  g_assert_true (we_restream_cron_matches ("0,30 18 23 11 *", mon));
  g_assert_false (we_restream_cron_matches ("0,30 18 24 11 *", mon));
  g_assert_true (we_restream_cron_matches ("10-40/10 * * * *", mon));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/restream/mask-url", test_mask);
  g_test_add_func ("/restream/cron", test_cron);
  return g_test_run ();
}
