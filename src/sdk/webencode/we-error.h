/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The one error domain of WebEncode. Every code maps to exactly one spec §11
 * catalogue entry (string code, HTTP status, default message) in we-error.c;
 * nothing else in the tree may invent that mapping.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define WE_ERROR (we_error_quark ())

typedef enum {
  WE_ERROR_JOB_INVALID_REQUEST,      /* WE-JOB-001 400 */
  WE_ERROR_JOB_INVALID_SOURCE,       /* WE-JOB-002 400 */
  WE_ERROR_JOB_INVALID_PROFILE,      /* WE-JOB-003 400 */
  WE_ERROR_JOB_NOT_FOUND,            /* WE-JOB-004 404 */
  WE_ERROR_JOB_CANCELLED,            /* WE-JOB-005 409 */
  WE_ERROR_JOB_COMPLETED,            /* WE-JOB-006 409 */
  WE_ERROR_JOB_UNSUPPORTED_SOURCE,   /* WE-JOB-007 422 */
  WE_ERROR_JOB_FAILED,               /* WE-JOB-008 500 */
  WE_ERROR_JOB_NO_WORKERS,           /* WE-JOB-009 503 */

  WE_ERROR_STR_INVALID_REQUEST,      /* WE-STR-001 400 */
  WE_ERROR_STR_NOT_FOUND,            /* WE-STR-002 404 */
  WE_ERROR_STR_ALREADY_LIVE,         /* WE-STR-003 409 */
  WE_ERROR_STR_KEY_CONFLICT,         /* WE-STR-004 409 */
  WE_ERROR_STR_INVALID_DESTINATION,  /* WE-STR-005 422 */
  WE_ERROR_STR_INGEST_UNAVAILABLE,   /* WE-STR-006 500 */

  WE_ERROR_WRK_NOT_FOUND,            /* WE-WRK-001 404 */
  WE_ERROR_WRK_BUSY,                 /* WE-WRK-002 409 */
  WE_ERROR_WRK_OFFLINE,              /* WE-WRK-003 410 */
  WE_ERROR_WRK_COMMUNICATION,        /* WE-WRK-004 500 */

  WE_ERROR_PLG_NOT_FOUND,            /* WE-PLG-001 404 */
  WE_ERROR_PLG_DISABLED,             /* WE-PLG-002 409 */
  WE_ERROR_PLG_INVALID_CONFIG,       /* WE-PLG-003 422 */
  WE_ERROR_PLG_CRASHED,              /* WE-PLG-004 500 */
  WE_ERROR_PLG_DEGRADED,             /* WE-PLG-005 503 */

  WE_ERROR_AUTH_UNAUTHORIZED,        /* WE-AUTH-001 401 */
  WE_ERROR_AUTH_TOKEN_EXPIRED,       /* WE-AUTH-002 401 */
  WE_ERROR_AUTH_FORBIDDEN,           /* WE-AUTH-003 403 */
  WE_ERROR_AUTH_ROLE_REQUIRED,       /* WE-AUTH-004 403 */
  WE_ERROR_AUTH_PROVIDER_UNAVAILABLE,/* WE-AUTH-005 500 */

  WE_ERROR_STO_NOT_FOUND,            /* WE-STO-001 404 */
  WE_ERROR_STO_ACCESS_DENIED,        /* WE-STO-002 403 */
  WE_ERROR_STO_FULL,                 /* WE-STO-003 507 */
  WE_ERROR_STO_UNAVAILABLE,          /* WE-STO-004 500 */

  WE_ERROR_SYS_INTERNAL,             /* WE-SYS-001 500 */
  WE_ERROR_SYS_DATABASE,             /* WE-SYS-002 500 */
  WE_ERROR_SYS_QUEUE,                /* WE-SYS-003 500 */
  WE_ERROR_SYS_UNAVAILABLE,          /* WE-SYS-004 503 */
  WE_ERROR_SYS_RATE_LIMITED,         /* WE-SYS-005 429 */

  /* Not in the §11 catalogue: HTTP-level conditions that still need an envelope. */
  WE_ERROR_SYS_NOT_FOUND,            /* WE-SYS-404 404: no such route */
  WE_ERROR_SYS_METHOD_NOT_ALLOWED,   /* WE-SYS-405 405 */
  WE_ERROR_SYS_PAYLOAD_TOO_LARGE,    /* WE-SYS-413 413 */
  WE_ERROR_SYS_RANGE_NOT_SATISFIABLE,/* WE-SYS-416 416 */
  WE_ERROR_SYS_CONFLICT,             /* WE-SYS-409 409: the resource exists already */

  /* Restreams (issue 11, docs/api.md "Restreams"); appended so that the
   * codes before keep their numbers. */
  WE_ERROR_RST_INVALID_REQUEST,      /* WE-RST-001 400 */
  WE_ERROR_RST_NOT_FOUND,            /* WE-RST-002 404 */
  WE_ERROR_RST_RUNNING,              /* WE-RST-003 409 */
  WE_ERROR_RST_INVALID_DESTINATION,  /* WE-RST-004 422 */
  WE_ERROR_RST_DESTINATION_NOT_FOUND,/* WE-RST-005 404 */
  WE_ERROR_RST_RUNNER_FAILED,        /* WE-RST-006 500 */

  WE_ERROR_LAST
} WeErrorCode;

/* Also registers every code's D-Bus error name with GDBus
 * (org.webencode.WebEncode1.Error.WE_JOB_004 for WE-JOB-004), so a GError in
 * this domain crosses the bus and comes back as itself. */
GQuark       we_error_quark          (void);

/* "WE-JOB-001" etc; never NULL for a valid code */
const gchar *we_error_code_to_string (WeErrorCode code);
/* the inverse; returns FALSE for unknown strings */
gboolean     we_error_code_from_string (const gchar *str,
                                        WeErrorCode *code);
guint        we_error_code_http_status (WeErrorCode code);
/* the catalogue's short message, e.g. "Job not found" */
const gchar *we_error_code_message   (WeErrorCode code);

/* Maps any GError onto our domain: WE_ERROR errors pass through, cancellation
 * and others become WE_ERROR_SYS_INTERNAL unless a better fit exists. */
WeErrorCode  we_error_code_from_gerror (const GError *error);

G_END_DECLS
