/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The REST API (docs/api.md) on a SoupServer: routing, authentication through
 * the auth pillar, RBAC in one place, the spec §11 error envelope, request
 * ids, access logs and request-size limits. Handlers live in we-api-*.c.
 */
#pragma once

#include <libsoup/soup.h>

#include "common/we-config.h"
#include "core/we-scheduler.h"

G_BEGIN_DECLS

typedef struct {
  WeConfig     *config;
  WeStore      *store;
  WeScheduler  *scheduler;
  WePluginHost *host;
  WeQueue      *queue;
  WeContentKeys *keys;        /* serves encrypted ladders' keys */
  struct _WeWebhooks *webhooks; /* nullable: the webhooks dispatcher */
  struct _WeLiveKernel *live;   /* nullable: live ingest (core/we-live-kernel.h) */
  WeSecrets    *secrets;      /* nullable: resolves *_secret_ref keys (blocking:
                               * call from a thread, spec §6.5) */
  const gchar  *mode;         /* "embedded" | "cluster" */
  const gchar  *store_kind;   /* "sqlite" | "postgresql" */
} WeApiContext;

#define WE_TYPE_API_SERVER (we_api_server_get_type ())
G_DECLARE_FINAL_TYPE (WeApiServer, we_api_server, WE, API_SERVER, GObject)

/* @context members are referenced, not copied. */
WeApiServer        *we_api_server_new         (const WeApiContext *context);
gboolean            we_api_server_listen      (WeApiServer *self,
                                               const gchar *host,
                                               guint16      port,
                                               GError     **error);
/* The port actually bound (useful with port 0). */
guint16             we_api_server_get_port    (WeApiServer *self);
const WeApiContext *we_api_server_get_context (WeApiServer *self);
void                we_api_server_set_restreams (WeApiServer *self,
                                                 GObject     *manager);
gint64              we_api_server_get_started_at (WeApiServer *self);
void                we_api_server_disconnect  (WeApiServer *self);

/* Shared with the D-Bus service (src/dbus), so both answer alike. */

/* Files @entry (transfer full) in the audit log and announces it. */
void        we_api_audit_add          (const WeApiContext *ctx,
                                       WeAuditEntry       *entry);
/* What GET /health answers. Returns: (transfer full) */
JsonObject *we_api_health_json        (const WeApiContext *ctx,
                                       gint64              started_at);
/* The workers GET /v1/workers lists: @queue's live view merged with
 * @records (element-type WeWorkerRecord), the store's workers table.
 * Returns: (transfer full) */
JsonArray  *we_api_workers_list_json  (WeQueue   *queue,
                                       GPtrArray *records);
/* Where output @name of a job lives, as GET /v1/jobs/{id}/outputs/{name}
 * finds it among @outputs (element-type WeJobOutput): a listed output, or a
 * file below a ladder manifest's folder (segments, rung playlists) when
 * @name is a safe relative path. @url and @content_type are set (transfer
 * full) on success. Returns: (transfer none) (nullable): the storage plugin
 * serving it; NULL with WE-STO-001 or WE-STO-004 set */
WeStorage  *we_api_output_resolve     (WePluginHost *host,
                                       GPtrArray    *outputs,
                                       const gchar  *job_id,
                                       const gchar  *name,
                                       gchar       **url,
                                       gchar       **content_type,
                                       GError      **error);

G_END_DECLS
