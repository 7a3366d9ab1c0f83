/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A job submission (POST /v1/jobs body, or a D-Bus call) checked for shape:
 * everything that can be judged without the store or storage.
 */
#pragma once

#include <json-glib/json-glib.h>
#include <webencode/we-profile.h>

G_BEGIN_DECLS

#define WE_JOB_REQUEST_MAX_URL      4096
#define WE_JOB_REQUEST_MAX_WEBHOOKS 16

typedef struct {
  gchar      *source_url;
  gchar      *profile_id;          /* the custom profile's id when custom_profile is set */
  JsonObject *profile_overrides;   /* nullable */
  WeProfile  *custom_profile;      /* nullable: the wizard's "Custom", validated, not stored */
  gchar      *output_url;          /* nullable: default storage, outputs/<job id>/ */
  JsonArray  *webhooks;            /* nullable: {url, events?} objects */
  JsonObject *publish;             /* nullable, kept for the publisher pillar */
  gchar      *retry_of;            /* nullable */
  gint        priority;            /* 0..100, default 50 */
  gchar      *idempotency_key;     /* nullable: the Idempotency-Key header */
} WeJobRequest;

/* The id a custom profile gets when its object names none. */
#define WE_JOB_REQUEST_CUSTOM_PROFILE_ID "custom"

/* Errors: WE_ERROR_JOB_INVALID_REQUEST naming the offending member;
 * WE_ERROR_JOB_INVALID_PROFILE for an invalid "custom_profile".
 * Returns: (transfer full) (nullable) */
WeJobRequest *we_job_request_parse (JsonObject *body,
                                    GError    **error);
void          we_job_request_free  (WeJobRequest *request);
/* Errors: WE_ERROR_JOB_INVALID_REQUEST unless @node is an integer 0..100. */
gboolean      we_job_request_parse_priority (JsonNode *node,
                                             gint     *priority,
                                             GError  **error);

/* The object file name for an output of @source_url encoded with @profile_id
 * into @extension: "<source stem>-<profile>.<ext>", reduced to safe characters.
 * Returns: (transfer full) */
gchar        *we_job_output_name   (const gchar *source_url,
                                    const gchar *profile_id,
                                    const gchar *extension);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeJobRequest, we_job_request_free)

G_END_DECLS
