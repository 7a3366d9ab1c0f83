/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Structured JSON logging (spec §11.4): one JSON object per line on stderr
 * with level, timestamp, component, message and, when known, correlation_id
 * and error_code. Installed as the GLib structured log writer, so g_message()
 * and friends from any library end up in the same format.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
  WE_LOG_FORMAT_JSON,
  WE_LOG_FORMAT_TEXT,
} WeLogFormat;

/* @level: "debug" | "info" | "warning" | "error"; messages below it are dropped */
void we_log_init (const gchar *component,
                  const gchar *level,
                  WeLogFormat  format);

/* Logs with extra structured fields; @correlation_id and @error_code nullable. */
#define we_log(log_level, correlation_id, error_code, ...)                    \
  g_log_structured (G_LOG_DOMAIN, log_level,                                 \
                    "CORRELATION_ID", (correlation_id) ? (correlation_id) : "", \
                    "ERROR_CODE", (error_code) ? (error_code) : "",          \
                    "MESSAGE", __VA_ARGS__)

G_END_DECLS
