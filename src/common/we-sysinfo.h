/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Host figures for the dashboard and worker heartbeats (spec §19.3 "Resource
 * Utilization"): CPU, memory and disk use, load, cores. Read from /proc and
 * statvfs(), which do not block on anything but the kernel; still, callers
 * on the main loop read them in a thread with the rest of their tick.
 *
 * CPU use is a rate: it takes two samples. The caller keeps the previous one
 * (a WeCpuSample in its own object) and hands it to every read.
 */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

typedef struct {
  guint64  total;   /* jiffies, every state */
  guint64  idle;    /* idle + iowait */
  gboolean valid;
} WeCpuSample;

typedef struct {
  gdouble cpu_pct;          /* 0..100, all cores together */
  gdouble mem_pct;          /* 0..100 */
  guint64 mem_used_bytes;   /* MemTotal - MemAvailable */
  guint64 mem_total_bytes;
  gdouble disk_pct;         /* 0..100 of the filesystem holding the path, as df counts */
  gdouble load1;
  guint   cores;
} WeSysinfo;

/* The "cpu" line of /proc/stat. */
gboolean    we_sysinfo_parse_stat     (const gchar       *text,
                                       WeCpuSample       *out);
/* Busy share between two samples; @prev invalid: since boot. */
gdouble     we_sysinfo_cpu_pct        (const WeCpuSample *prev,
                                       const WeCpuSample *now);
/* MemTotal and MemAvailable (MemFree + Buffers + Cached on kernels without it). */
gboolean    we_sysinfo_parse_meminfo  (const gchar       *text,
                                       guint64           *total_bytes,
                                       guint64           *used_bytes);
gboolean    we_sysinfo_parse_loadavg  (const gchar       *text,
                                       gdouble           *load1);

/* Reads everything; @disk_path: a path on the filesystem to measure
 * (nullable: disk_pct 0); @prev: (inout): the previous CPU sample, replaced
 * by this one. */
gboolean    we_sysinfo_read           (const gchar       *disk_path,
                                       WeCpuSample       *prev,
                                       WeSysinfo         *out,
                                       GError           **error);
/* {"cpu_pct","mem_pct","mem_used_bytes","mem_total_bytes","disk_pct","load1","cores"} */
JsonObject *we_sysinfo_to_json        (const WeSysinfo   *info);

G_END_DECLS
