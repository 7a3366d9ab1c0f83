/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Publishing finished jobs to external platforms (issue 11, spec §7.5): the
 * kernel's publish runner. A publication is a request (platform, title,
 * privacy …) for one output of one job, kept in the store as a JSON document
 * (src/store/we-store-publications.c) and driven through
 *   queued → uploading → completed | failed
 * by the kernel that owns the job (in a cluster, jobs.owner_kernel, then
 * publications.owner_kernel), one at a time per publisher plugin unless
 * [publish] concurrency says more. The
 * upload itself is the publisher module's publish_vod_async (its own thread).
 *
 * Transient failures (network, the platform's 5xx after the module's own
 * retries: WE-PLG-005, WE-STO-004, WE-SYS-*) go back to queued with
 * exponential backoff until [publish] max_attempts attempts (default 5);
 * everything else (refused credentials WE-PLG-003, invalid metadata
 * WE-JOB-001, a missing output) fails at once, so a wrong refresh token
 * never becomes a retry storm.
 *
 * A publication left uploading by a kernel that stopped is queued again when
 * that kernel starts, or when another kernel adopts it (publications have
 * their own owner in a shared store, see we_publish_runner_new): the
 * module's resumable upload session lives only in the module's memory, so
 * the upload starts again from the first byte.
 */
#pragma once

#include <webencode/webencode.h>

#include "common/we-config.h"
#include "plugin/we-plugin-host.h"
#include "store/we-store.h"
#include "we-scheduler.h"

G_BEGIN_DECLS

#define WE_PUBLISH_MAX_TITLE        100
#define WE_PUBLISH_MAX_DESCRIPTION  5000
#define WE_PUBLISH_MAX_TAGS         50
#define WE_PUBLISH_MAX_TAG_CHARS    500   /* all tags together, as YouTube counts */
#define WE_PUBLISH_MAX_URL          4096
#define WE_PUBLISH_MAX_PER_JOB      20

/* Validates one publish request (the body of POST /v1/jobs/{id}/publish or
 * one entry of POST /v1/jobs "publish") and answers it normalised: platform,
 * plugin (the first healthy publisher for the platform when not named),
 * output, title, description, tags, privacy, publish_at, category_id,
 * thumbnail; absent optional members are null.
 * Errors: WE_ERROR_JOB_INVALID_REQUEST listing every problem;
 * WE_ERROR_PLG_INVALID_CONFIG (422) when no enabled publisher serves the
 * platform. Returns: (transfer full) (nullable) */
JsonObject  *we_publish_parse_request  (WePluginHost *host,
                                        JsonObject   *body,
                                        GError      **error);
/* The "publish" member of POST /v1/jobs: an array of requests, or the
 * spec's object keyed by platform ({"youtube": {"title": …}}).
 * Returns: (transfer full) (nullable): an array of normalised requests */
JsonArray   *we_publish_parse_targets  (WePluginHost *host,
                                        JsonNode     *node,
                                        GError      **error);
/* A new queued publication document for @job_id from a normalised request.
 * Returns: (transfer full) */
JsonObject  *we_publication_new        (const gchar  *job_id,
                                        JsonObject   *request,
                                        const gchar  *user_id);
/* Writes @doc to the store (blocking: the store's thread). */
gboolean     we_publication_store      (WeStore      *store,
                                        JsonObject   *doc,
                                        GError      **error);
/* Parses a stored document. Returns: (transfer full) (nullable) */
JsonObject  *we_publication_parse      (const gchar  *text,
                                        GError      **error);
/* What the API shows of a document (no internal members).
 * Returns: (transfer full) */
JsonObject  *we_publication_to_api     (JsonObject   *doc);

typedef struct {
  WeStore      *store;
  WePluginHost *host;
  WeScheduler  *scheduler;    /* its job.completed transitions start publications */
  GObject      *webhooks;     /* (nullable) a WeWebhooks: publish.completed / .failed */
  const gchar  *kernel_id;    /* (nullable) this kernel's name in a shared store */
  /* (nullable) [publish] settings and the kernel beat; NULL: WE_PUBLISH_*
   * from the environment and a 5 s beat */
  WeConfig     *config;
} WePublishRunnerOptions;

#define WE_TYPE_PUBLISH_RUNNER (we_publish_runner_get_type ())
G_DECLARE_FINAL_TYPE (WePublishRunner, we_publish_runner, WE, PUBLISH_RUNNER, GObject)

/* Reads [publish] max_attempts (default 5, 1 – 100), concurrency (uploads at
 * once per plugin, default 1, 1 – 16), retry_base_ms (first backoff, default
 * 5000, doubled per attempt up to 10 minutes) and poll_ms (how often the
 * store is looked at, default 2000) from @options->config, where
 * WE_PUBLISH_MAX_ATTEMPTS … WE_PUBLISH_POLL_MS override them.
 *
 * In a shared store (@kernel_id set) each publication has an owner kernel
 * (publications.owner_kernel, migration 0013): the job's owner takes it
 * first; one whose owner stopped beating for three beats is adopted by the
 * first live kernel that polls, exactly once (a conditional UPDATE), and an
 * upload it left is started again.
 *
 * Signal "changed" (JsonObject *publication): the API form of a publication
 * whose status or progress changed (progress at most twice a second). */
WePublishRunner *we_publish_runner_new   (const WePublishRunnerOptions *options);
/* Queues again what this kernel left uploading, then polls. */
void             we_publish_runner_start (WePublishRunner *self);
/* Cancels uploads in flight; they stay uploading in the store, for the next
 * start to queue again. */
void             we_publish_runner_stop  (WePublishRunner *self);
/* Looks at the store now (after an API call queued something). */
void             we_publish_runner_kick  (WePublishRunner *self);

G_END_DECLS
