/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"
#include "we-sysinfo.h"

#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "webencode/we-error.h"

gboolean
we_sysinfo_parse_stat (const gchar *text, WeCpuSample *out)
{
  const gchar *p = text;
  guint64 v[10] = { 0 };
  guint n = 0;

  memset (out, 0, sizeof (*out));
  /* the aggregate line comes first: "cpu  user nice system idle iowait ..." */
  while (p != NULL && !(g_str_has_prefix (p, "cpu") && g_ascii_isspace (p[3]))) {
    p = strchr (p, '\n');
    if (p != NULL)
      p++;
  }
  if (p == NULL)
    return FALSE;
  p += 3;
  while (n < G_N_ELEMENTS (v)) {
    gchar *end;
    guint64 x;

    while (*p == ' ' || *p == '\t')
      p++;
    if (!g_ascii_isdigit (*p))
      break;
    x = g_ascii_strtoull (p, &end, 10);
    if (end == p)
      break;
    v[n++] = x;
    p = end;
  }
  if (n < 4)
    return FALSE;
  /* guest and guest_nice (8, 9) are already counted in user and nice */
  for (guint i = 0; i < MIN (n, 8); i++)
    out->total += v[i];
  out->idle = v[3] + (n > 4 ? v[4] : 0);
  out->valid = TRUE;
  return TRUE;
}

gdouble
we_sysinfo_cpu_pct (const WeCpuSample *prev, const WeCpuSample *now)
{
  guint64 total, idle;

  if (now == NULL || !now->valid)
    return 0;
  if (prev != NULL && prev->valid && now->total > prev->total && now->idle >= prev->idle) {
    total = now->total - prev->total;
    idle = now->idle - prev->idle;
  } else {
    total = now->total;
    idle = now->idle;
  }
  if (total == 0)
    return 0;
  return CLAMP (100.0 * (gdouble) (total - MIN (idle, total)) / (gdouble) total, 0, 100);
}

/* "Name:   1234 kB" */
static gboolean
meminfo_field (const gchar *text, const gchar *name, guint64 *out)
{
  gsize len = strlen (name);
  const gchar *p = text;

  while (p != NULL && *p != '\0') {
    if (strncmp (p, name, len) == 0 && p[len] == ':') {
      gchar *end;
      guint64 kb = g_ascii_strtoull (p + len + 1, &end, 10);

      if (end == p + len + 1)
        return FALSE;
      *out = kb * 1024;
      return TRUE;
    }
    p = strchr (p, '\n');
    if (p != NULL)
      p++;
  }
  return FALSE;
}

gboolean
we_sysinfo_parse_meminfo (const gchar *text, guint64 *total_bytes, guint64 *used_bytes)
{
  guint64 total = 0, available = 0, free_b = 0, buffers = 0, cached = 0;

  if (!meminfo_field (text, "MemTotal", &total) || total == 0)
    return FALSE;
  if (!meminfo_field (text, "MemAvailable", &available)) {
    if (!meminfo_field (text, "MemFree", &free_b))
      return FALSE;
    meminfo_field (text, "Buffers", &buffers);
    meminfo_field (text, "Cached", &cached);
    available = free_b + buffers + cached;
  }
  *total_bytes = total;
  *used_bytes = total - MIN (available, total);
  return TRUE;
}

gboolean
we_sysinfo_parse_loadavg (const gchar *text, gdouble *load1)
{
  gchar *end;
  gdouble v = g_ascii_strtod (text, &end);

  if (end == text || v < 0)
    return FALSE;
  *load1 = v;
  return TRUE;
}

static gboolean
read_proc (const gchar *path, gchar **text, GError **error)
{
  g_autoptr(GError) local = NULL;

  if (!g_file_get_contents (path, text, NULL, &local)) {
    g_set_error (error, WE_ERROR, WE_ERROR_SYS_INTERNAL, "reading %s: %s", path,
                 local->message);
    return FALSE;
  }
  return TRUE;
}

gboolean
we_sysinfo_read (const gchar *disk_path, WeCpuSample *prev, WeSysinfo *out, GError **error)
{
  g_autofree gchar *stat = NULL, *meminfo = NULL, *loadavg = NULL;
  WeCpuSample now;
  long cores = sysconf (_SC_NPROCESSORS_ONLN);

  memset (out, 0, sizeof (*out));
  if (!read_proc ("/proc/stat", &stat, error) || !read_proc ("/proc/meminfo", &meminfo, error) ||
      !read_proc ("/proc/loadavg", &loadavg, error))
    return FALSE;
  if (!we_sysinfo_parse_stat (stat, &now) ||
      !we_sysinfo_parse_meminfo (meminfo, &out->mem_total_bytes, &out->mem_used_bytes) ||
      !we_sysinfo_parse_loadavg (loadavg, &out->load1)) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_SYS_INTERNAL,
                         "unexpected /proc/stat, /proc/meminfo or /proc/loadavg contents");
    return FALSE;
  }
  out->cpu_pct = we_sysinfo_cpu_pct (prev, &now);
  if (prev != NULL)
    *prev = now;
  out->mem_pct = 100.0 * (gdouble) out->mem_used_bytes / (gdouble) out->mem_total_bytes;
  out->cores = cores > 0 ? (guint) cores : 1;
  if (disk_path != NULL) {
    struct statvfs fs;

    /* as df counts: the root-reserved blocks are neither used nor available */
    if (statvfs (disk_path, &fs) == 0 && fs.f_blocks > 0) {
      guint64 used = (guint64) (fs.f_blocks - fs.f_bfree);
      guint64 usable = used + (guint64) fs.f_bavail;

      out->disk_pct = usable > 0 ? CLAMP (100.0 * (gdouble) used / (gdouble) usable, 0, 100) : 0;
    }
  }
  return TRUE;
}

JsonObject *
we_sysinfo_to_json (const WeSysinfo *info)
{
  JsonObject *o = json_object_new ();

  /* one decimal is all a gauge shows */
  json_object_set_double_member (o, "cpu_pct", ((gint64) (info->cpu_pct * 10 + 0.5)) / 10.0);
  json_object_set_double_member (o, "mem_pct", ((gint64) (info->mem_pct * 10 + 0.5)) / 10.0);
  json_object_set_int_member (o, "mem_used_bytes", (gint64) info->mem_used_bytes);
  json_object_set_int_member (o, "mem_total_bytes", (gint64) info->mem_total_bytes);
  json_object_set_double_member (o, "disk_pct", ((gint64) (info->disk_pct * 10 + 0.5)) / 10.0);
  json_object_set_double_member (o, "load1", info->load1);
  json_object_set_int_member (o, "cores", info->cores);
  return o;
}
