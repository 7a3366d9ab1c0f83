/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * we-sysinfo parsing on sample /proc texts, and one read of the real host.
 */
#include "config.h"

#include <unistd.h>

#include "we-sysinfo.h"

static const gchar STAT_A[] =
  "cpu  100 5 50 800 45 0 0 0 0 0\n"
  "cpu0 50 2 25 400 20 0 0 0 0 0\n"
  "cpu1 50 3 25 400 25 0 0 0 0 0\n"
  "intr 12345 0 0\n"
  "ctxt 999\n";
/* 100 jiffies later: 60 busy, 40 idle (30 idle + 10 iowait) */
static const gchar STAT_B[] =
  "cpu  140 5 70 830 55 0 0 0 0 0\n"
  "cpu0 70 2 35 415 25 0 0 0 0 0\n";

static void
test_stat (void)
{
  WeCpuSample a, b;

  g_assert_true (we_sysinfo_parse_stat (STAT_A, &a));
  g_assert_true (a.valid);
  g_assert_cmpuint (a.total, ==, 1000);
  g_assert_cmpuint (a.idle, ==, 845);
  g_assert_true (we_sysinfo_parse_stat (STAT_B, &b));
  g_assert_cmpuint (b.total, ==, 1100);
  g_assert_cmpfloat_with_epsilon (we_sysinfo_cpu_pct (&a, &b), 60.0, 1e-9);
  /* no previous sample: the average since boot */
  g_assert_cmpfloat_with_epsilon (we_sysinfo_cpu_pct (NULL, &a), 15.5, 1e-9);
  /* counters that went back (a new boot in a saved sample) do not go negative */
  g_assert_cmpfloat_with_epsilon (we_sysinfo_cpu_pct (&b, &a), 15.5, 1e-9);
  /* guest time is in user already: columns 9 and 10 are not added twice */
  g_assert_true (we_sysinfo_parse_stat ("cpu 10 0 0 10 0 0 0 0 7 7\n", &a));
  g_assert_cmpuint (a.total, ==, 20);
  /* old kernels: four columns */
  g_assert_true (we_sysinfo_parse_stat ("cpu 1 2 3 4\n", &a));
  g_assert_cmpuint (a.total, ==, 10);
  g_assert_cmpuint (a.idle, ==, 4);

  g_assert_false (we_sysinfo_parse_stat ("", &a));
  g_assert_false (a.valid);
  g_assert_false (we_sysinfo_parse_stat ("cpu0 1 2 3 4\nintr 1\n", &a));
  g_assert_false (we_sysinfo_parse_stat ("cpu 1 2\n", &a));
  g_assert_cmpfloat (we_sysinfo_cpu_pct (NULL, &a), ==, 0);
}

static void
test_meminfo (void)
{
  guint64 total = 0, used = 0;

  g_assert_true (we_sysinfo_parse_meminfo ("MemTotal:        8000000 kB\n"
                                           "MemFree:          1000000 kB\n"
                                           "MemAvailable:     6000000 kB\n"
                                           "Buffers:           100000 kB\n", &total, &used));
  g_assert_cmpuint (total, ==, 8000000ULL * 1024);
  g_assert_cmpuint (used, ==, 2000000ULL * 1024);
  /* before Linux 3.14 there is no MemAvailable */
  g_assert_true (we_sysinfo_parse_meminfo ("MemTotal: 1000 kB\nMemFree: 100 kB\n"
                                           "Buffers: 50 kB\nCached: 250 kB\n", &total, &used));
  g_assert_cmpuint (used, ==, 600 * 1024);
  /* a field whose name another one starts with is not taken for it */
  g_assert_true (we_sysinfo_parse_meminfo ("MemTotalX: 5 kB\nMemTotal: 10 kB\n"
                                           "MemAvailable: 20 kB\n", &total, &used));
  g_assert_cmpuint (total, ==, 10 * 1024);
  g_assert_cmpuint (used, ==, 0);
  g_assert_false (we_sysinfo_parse_meminfo ("MemFree: 1 kB\n", &total, &used));
  g_assert_false (we_sysinfo_parse_meminfo ("MemTotal: 0 kB\nMemAvailable: 0 kB\n", &total,
                                            &used));
}

static void
test_loadavg (void)
{
  gdouble load = -1;

  g_assert_true (we_sysinfo_parse_loadavg ("0.52 0.58 0.59 1/467 12345\n", &load));
  g_assert_cmpfloat_with_epsilon (load, 0.52, 1e-9);
  g_assert_false (we_sysinfo_parse_loadavg ("", &load));
  g_assert_false (we_sysinfo_parse_loadavg ("x", &load));
}

static void
test_read_host (void)
{
  WeCpuSample prev = { 0 };
  WeSysinfo info;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) json = NULL;

  g_assert_true (we_sysinfo_read ("/", &prev, &info, &error));
  g_assert_no_error (error);
  g_assert_true (prev.valid);
  g_assert_cmpfloat (info.cpu_pct, >=, 0);
  g_assert_cmpfloat (info.cpu_pct, <=, 100);
  g_assert_cmpfloat (info.mem_pct, >, 0);
  g_assert_cmpfloat (info.mem_pct, <=, 100);
  g_assert_cmpuint (info.mem_used_bytes, <=, info.mem_total_bytes);
  g_assert_cmpfloat (info.disk_pct, >, 0);
  g_assert_cmpfloat (info.disk_pct, <=, 100);
  g_assert_cmpuint (info.cores, ==, (guint) sysconf (_SC_NPROCESSORS_ONLN));
  json = we_sysinfo_to_json (&info);
  g_assert_cmpint (json_object_get_int_member (json, "cores"), ==, info.cores);
  g_assert_true (json_object_has_member (json, "load1"));
  g_assert_true (json_object_has_member (json, "disk_pct"));
  /* a path that does not exist measures nothing */
  g_assert_true (we_sysinfo_read ("/nonexistent/we-sysinfo", &prev, &info, NULL));
  g_assert_cmpfloat (info.disk_pct, ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/sysinfo/stat", test_stat);
  g_test_add_func ("/sysinfo/meminfo", test_meminfo);
  g_test_add_func ("/sysinfo/loadavg", test_loadavg);
  g_test_add_func ("/sysinfo/read-host", test_read_host);
  return g_test_run ();
}
