/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "we-log.h"

#include <json-glib/json-glib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Set once at startup before any thread exists; read-only afterwards. */
static struct {
  gchar          *component;
  GLogLevelFlags  threshold;
  WeLogFormat     format;
} log_conf = { NULL, G_LOG_LEVEL_INFO, WE_LOG_FORMAT_JSON };

static const gchar *
level_name (GLogLevelFlags level)
{
  if (level & G_LOG_FLAG_RECURSION)
    return "error";
  switch (level & G_LOG_LEVEL_MASK) {
  case G_LOG_LEVEL_ERROR:
    return "fatal";
  case G_LOG_LEVEL_CRITICAL:
    return "critical";
  case G_LOG_LEVEL_WARNING:
    return "warning";
  case G_LOG_LEVEL_MESSAGE:
  case G_LOG_LEVEL_INFO:
    return "info";
  case G_LOG_LEVEL_DEBUG:
  default:
    return "debug";
  }
}

static gint
level_rank (GLogLevelFlags level)
{
  switch (level & G_LOG_LEVEL_MASK) {
  case G_LOG_LEVEL_ERROR:
  case G_LOG_LEVEL_CRITICAL:
    return 4;
  case G_LOG_LEVEL_WARNING:
    return 3;
  case G_LOG_LEVEL_MESSAGE:
  case G_LOG_LEVEL_INFO:
    return 2;
  default:
    return 1;
  }
}

/* Stream keys ("we_live_" + base62, src/core/we-stream-keys.h) can reach a
 * message inside an ingest URL or a publish name: whatever logged it, the
 * record keeps the prefix and masks the rest. Returns: (transfer full)
 * (nullable): the masked copy, NULL when @message holds no key */
static gchar *
mask_stream_keys (const gchar *message)
{
  static const gchar prefix[] = "we_live_";
  const gchar *hit = message != NULL ? strstr (message, prefix) : NULL;
  GString *out;

  if (hit == NULL)
    return NULL;
  out = g_string_new (NULL);
  while (hit != NULL) {
    const gchar *end = hit + strlen (prefix);

    g_string_append_len (out, message, end - message);
    while (g_ascii_isalnum (*end))
      end++;
    g_string_append (out, "[REDACTED]");
    message = end;
    hit = strstr (message, prefix);
  }
  g_string_append (out, message);
  return g_string_free (out, FALSE);
}

static GLogWriterOutput
we_log_writer (GLogLevelFlags log_level, const GLogField *fields, gsize n_fields,
               gpointer user_data)
{
  g_autoptr(JsonBuilder) b = NULL;
  g_autoptr(JsonNode) root = NULL;
  g_autofree gchar *line = NULL;
  g_autoptr(GDateTime) now = NULL;
  g_autofree gchar *ts = NULL;
  const gchar *message = NULL, *domain = NULL, *corr = NULL, *code = NULL;
  g_autofree gchar *masked = NULL;

  if (level_rank (log_level) < level_rank (log_conf.threshold) &&
      !(log_level & G_LOG_FLAG_FATAL)) {
    /* G_MESSAGES_DEBUG still opens debug output per domain, as GLib users expect */
    const gchar *dbg = g_getenv ("G_MESSAGES_DEBUG");
    if (dbg == NULL || (log_level & G_LOG_LEVEL_DEBUG) == 0)
      return G_LOG_WRITER_HANDLED;
  }

  for (gsize i = 0; i < n_fields; i++) {
    if (fields[i].length >= 0)
      continue; /* binary fields are not ours */
    if (g_strcmp0 (fields[i].key, "MESSAGE") == 0)
      message = fields[i].value;
    else if (g_strcmp0 (fields[i].key, "GLIB_DOMAIN") == 0)
      domain = fields[i].value;
    else if (g_strcmp0 (fields[i].key, "CORRELATION_ID") == 0)
      corr = fields[i].value;
    else if (g_strcmp0 (fields[i].key, "ERROR_CODE") == 0)
      code = fields[i].value;
  }

  masked = mask_stream_keys (message);
  if (masked != NULL)
    message = masked;

  now = g_date_time_new_now_utc ();
  ts = g_date_time_format_iso8601 (now);

  if (log_conf.format == WE_LOG_FORMAT_TEXT) {
    line = g_strdup_printf ("%s %-8s %s%s%s%s%s%s: %s\n", ts, level_name (log_level),
                            log_conf.component ? log_conf.component : "",
                            domain ? "/" : "", domain ? domain : "",
                            corr && *corr ? " [" : "", corr && *corr ? corr : "",
                            corr && *corr ? "]" : "", message ? message : "");
  } else {
    b = json_builder_new ();
    json_builder_begin_object (b);
    json_builder_set_member_name (b, "level");
    json_builder_add_string_value (b, level_name (log_level));
    json_builder_set_member_name (b, "timestamp");
    json_builder_add_string_value (b, ts);
    json_builder_set_member_name (b, "component");
    json_builder_add_string_value (b, log_conf.component ? log_conf.component : g_get_prgname ());
    if (domain != NULL) {
      json_builder_set_member_name (b, "domain");
      json_builder_add_string_value (b, domain);
    }
    if (corr != NULL && *corr) {
      json_builder_set_member_name (b, "correlation_id");
      json_builder_add_string_value (b, corr);
    }
    if (code != NULL && *code) {
      json_builder_set_member_name (b, "error_code");
      json_builder_add_string_value (b, code);
    }
    json_builder_set_member_name (b, "message");
    json_builder_add_string_value (b, message ? message : "");
    json_builder_end_object (b);
    root = json_builder_get_root (b);
    line = json_to_string (root, FALSE);
    {
      gchar *tmp = g_strconcat (line, "\n", NULL);
      g_free (line);
      line = tmp;
    }
  }
  /* one write() per record so lines from threads never interleave */
  if (write (STDERR_FILENO, line, strlen (line)) < 0)
    return G_LOG_WRITER_UNHANDLED;
  return G_LOG_WRITER_HANDLED;
}

void
we_log_init (const gchar *component, const gchar *level, WeLogFormat format)
{
  static gboolean installed = FALSE;

  g_free (log_conf.component);
  log_conf.component = g_strdup (component);
  log_conf.format = format;
  if (g_strcmp0 (level, "debug") == 0)
    log_conf.threshold = G_LOG_LEVEL_DEBUG;
  else if (g_strcmp0 (level, "warning") == 0 || g_strcmp0 (level, "warn") == 0)
    log_conf.threshold = G_LOG_LEVEL_WARNING;
  else if (g_strcmp0 (level, "error") == 0)
    log_conf.threshold = G_LOG_LEVEL_CRITICAL;
  else
    log_conf.threshold = G_LOG_LEVEL_INFO;
  if (!installed) {
    g_log_set_writer_func (we_log_writer, NULL, NULL);
    installed = TRUE;
  }
}
