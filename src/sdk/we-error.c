/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "webencode/we-error.h"

#include <gio/gio.h>

typedef struct {
  const gchar *code;
  guint        status;
  const gchar *message;
} WeErrorEntry;

static const WeErrorEntry catalogue[WE_ERROR_LAST] = {
  [WE_ERROR_JOB_INVALID_REQUEST]       = { "WE-JOB-001", 400, "Invalid job request" },
  [WE_ERROR_JOB_INVALID_SOURCE]        = { "WE-JOB-002", 400, "Invalid source URL" },
  [WE_ERROR_JOB_INVALID_PROFILE]       = { "WE-JOB-003", 400, "Invalid profile" },
  [WE_ERROR_JOB_NOT_FOUND]             = { "WE-JOB-004", 404, "Job not found" },
  [WE_ERROR_JOB_CANCELLED]             = { "WE-JOB-005", 409, "Job already cancelled" },
  [WE_ERROR_JOB_COMPLETED]             = { "WE-JOB-006", 409, "Job already completed" },
  [WE_ERROR_JOB_UNSUPPORTED_SOURCE]    = { "WE-JOB-007", 422, "Unsupported source format" },
  [WE_ERROR_JOB_FAILED]                = { "WE-JOB-008", 500, "Job processing failed" },
  [WE_ERROR_JOB_NO_WORKERS]            = { "WE-JOB-009", 503, "No workers available" },
  [WE_ERROR_STR_INVALID_REQUEST]       = { "WE-STR-001", 400, "Invalid stream request" },
  [WE_ERROR_STR_NOT_FOUND]             = { "WE-STR-002", 404, "Stream not found" },
  [WE_ERROR_STR_ALREADY_LIVE]          = { "WE-STR-003", 409, "Stream already live" },
  [WE_ERROR_STR_KEY_CONFLICT]          = { "WE-STR-004", 409, "Stream key conflict" },
  [WE_ERROR_STR_INVALID_DESTINATION]   = { "WE-STR-005", 422, "Invalid restream destination" },
  [WE_ERROR_STR_INGEST_UNAVAILABLE]    = { "WE-STR-006", 500, "Ingest server unavailable" },
  [WE_ERROR_WRK_NOT_FOUND]             = { "WE-WRK-001", 404, "Worker not found" },
  [WE_ERROR_WRK_BUSY]                  = { "WE-WRK-002", 409, "Worker busy" },
  [WE_ERROR_WRK_OFFLINE]               = { "WE-WRK-003", 410, "Worker offline" },
  [WE_ERROR_WRK_COMMUNICATION]         = { "WE-WRK-004", 500, "Worker communication failed" },
  [WE_ERROR_PLG_NOT_FOUND]             = { "WE-PLG-001", 404, "Plugin not found" },
  [WE_ERROR_PLG_DISABLED]              = { "WE-PLG-002", 409, "Plugin disabled" },
  [WE_ERROR_PLG_INVALID_CONFIG]        = { "WE-PLG-003", 422, "Invalid plugin config" },
  [WE_ERROR_PLG_CRASHED]               = { "WE-PLG-004", 500, "Plugin crashed" },
  [WE_ERROR_PLG_DEGRADED]              = { "WE-PLG-005", 503, "Plugin degraded" },
  [WE_ERROR_AUTH_UNAUTHORIZED]         = { "WE-AUTH-001", 401, "Unauthorized" },
  [WE_ERROR_AUTH_TOKEN_EXPIRED]        = { "WE-AUTH-002", 401, "Token expired" },
  [WE_ERROR_AUTH_FORBIDDEN]            = { "WE-AUTH-003", 403, "Forbidden" },
  [WE_ERROR_AUTH_ROLE_REQUIRED]        = { "WE-AUTH-004", 403, "Role required" },
  [WE_ERROR_AUTH_PROVIDER_UNAVAILABLE] = { "WE-AUTH-005", 500, "Auth provider unavailable" },
  [WE_ERROR_STO_NOT_FOUND]             = { "WE-STO-001", 404, "Object not found" },
  [WE_ERROR_STO_ACCESS_DENIED]         = { "WE-STO-002", 403, "Storage access denied" },
  [WE_ERROR_STO_FULL]                  = { "WE-STO-003", 507, "Storage full" },
  [WE_ERROR_STO_UNAVAILABLE]           = { "WE-STO-004", 500, "Storage unavailable" },
  [WE_ERROR_SYS_INTERNAL]              = { "WE-SYS-001", 500, "Internal server error" },
  [WE_ERROR_SYS_DATABASE]              = { "WE-SYS-002", 500, "Database error" },
  [WE_ERROR_SYS_QUEUE]                 = { "WE-SYS-003", 500, "Message queue error" },
  [WE_ERROR_SYS_UNAVAILABLE]           = { "WE-SYS-004", 503, "Service unavailable" },
  [WE_ERROR_SYS_RATE_LIMITED]          = { "WE-SYS-005", 429, "Rate limit exceeded" },
  [WE_ERROR_SYS_NOT_FOUND]             = { "WE-SYS-404", 404, "No such endpoint" },
  [WE_ERROR_SYS_METHOD_NOT_ALLOWED]    = { "WE-SYS-405", 405, "Method not allowed" },
  [WE_ERROR_SYS_PAYLOAD_TOO_LARGE]     = { "WE-SYS-413", 413, "Payload too large" },
  [WE_ERROR_SYS_RANGE_NOT_SATISFIABLE] = { "WE-SYS-416", 416, "Range not satisfiable" },
  [WE_ERROR_SYS_CONFLICT]              = { "WE-SYS-409", 409, "Conflict" },
  [WE_ERROR_RST_INVALID_REQUEST]       = { "WE-RST-001", 400, "Invalid restream request" },
  [WE_ERROR_RST_NOT_FOUND]             = { "WE-RST-002", 404, "Restream not found" },
  [WE_ERROR_RST_RUNNING]               = { "WE-RST-003", 409, "Restream is running" },
  [WE_ERROR_RST_INVALID_DESTINATION]   = { "WE-RST-004", 422, "Invalid restream destination" },
  [WE_ERROR_RST_DESTINATION_NOT_FOUND] = { "WE-RST-005", 404, "Restream destination not found" },
  [WE_ERROR_RST_RUNNER_FAILED]         = { "WE-RST-006", 500, "Restream runner failed" },
};

/* Every code travels over D-Bus under the name the interface promises
 * (dbus/org.webencode.WebEncode1.xml): WE-JOB-004 is
 * org.webencode.WebEncode1.Error.WE_JOB_004. Both ends register the same
 * names with the domain, so g_dbus_method_invocation_return_gerror() sends
 * them and a GDBus client gets WE_ERROR and the code back. */
#define WE_ERROR_DBUS_PREFIX "org.webencode.WebEncode1.Error."

static void
register_dbus_names (gsize *quark)
{
  GDBusErrorEntry entries[WE_ERROR_LAST];
  gchar *names[WE_ERROR_LAST];
  guint n = 0;

  for (guint i = 0; i < WE_ERROR_LAST; i++) {
    if (catalogue[i].code == NULL)
      continue;
    /* a D-Bus name has no dashes */
    names[n] = g_strdelimit (g_strconcat (WE_ERROR_DBUS_PREFIX, catalogue[i].code, NULL), "-",
                             '_');
    entries[n].error_code = (gint) i;
    entries[n].dbus_error_name = names[n];
    n++;
  }
  /* GDBus keeps copies of the names */
  g_dbus_error_register_error_domain ("we-error-quark", quark, entries, n);
  for (guint i = 0; i < n; i++)
    g_free (names[i]);
}

GQuark
we_error_quark (void)
{
  static gsize quark = 0;

  /* registering the D-Bus names here keeps the mapping in one place */
  if (g_once_init_enter (&quark)) {
    gsize value = 0;

    register_dbus_names (&value);
    g_once_init_leave (&quark, value);
  }
  return (GQuark) quark;
}

static const WeErrorEntry *
lookup (WeErrorCode code)
{
  if ((guint) code >= WE_ERROR_LAST || catalogue[code].code == NULL)
    return &catalogue[WE_ERROR_SYS_INTERNAL];
  return &catalogue[code];
}

const gchar *
we_error_code_to_string (WeErrorCode code)
{
  return lookup (code)->code;
}

gboolean
we_error_code_from_string (const gchar *str, WeErrorCode *code)
{
  if (str == NULL)
    return FALSE;
  for (guint i = 0; i < WE_ERROR_LAST; i++) {
    if (g_strcmp0 (catalogue[i].code, str) == 0) {
      if (code != NULL)
        *code = (WeErrorCode) i;
      return TRUE;
    }
  }
  return FALSE;
}

guint
we_error_code_http_status (WeErrorCode code)
{
  return lookup (code)->status;
}

const gchar *
we_error_code_message (WeErrorCode code)
{
  return lookup (code)->message;
}

WeErrorCode
we_error_code_from_gerror (const GError *error)
{
  if (error == NULL)
    return WE_ERROR_SYS_INTERNAL;
  if (error->domain == WE_ERROR && (guint) error->code < WE_ERROR_LAST)
    return (WeErrorCode) error->code;
  if (error->domain == G_IO_ERROR) {
    switch (error->code) {
    case G_IO_ERROR_NOT_FOUND:
      return WE_ERROR_STO_NOT_FOUND;
    case G_IO_ERROR_PERMISSION_DENIED:
      return WE_ERROR_STO_ACCESS_DENIED;
    case G_IO_ERROR_NO_SPACE:
      return WE_ERROR_STO_FULL;
    default:
      break;
    }
  }
  return WE_ERROR_SYS_INTERNAL;
}
