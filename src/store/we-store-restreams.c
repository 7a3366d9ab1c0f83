/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The restream records of the store (spec §4.6, issue 11), with the
 * synchronous wrappers that dispatch to the backend. The API
 * (src/api/we-api-restreams.c) and the restream manager
 * (src/core/we-restream.c) reach them through we_store_call_async().
 */
#include "config.h"

#include "store/we-store.h"

WeRestreamRecord *
we_restream_record_new (void)
{
  return g_new0 (WeRestreamRecord, 1);
}

WeRestreamRecord *
we_restream_record_copy (const WeRestreamRecord *record)
{
  WeRestreamRecord *copy;

  g_return_val_if_fail (record != NULL, NULL);
  copy = g_memdup2 (record, sizeof (*record));
  copy->id = g_strdup (record->id);
  copy->user_id = g_strdup (record->user_id);
  copy->status = g_strdup (record->status);
  copy->doc = g_strdup (record->doc);
  copy->stats = g_strdup (record->stats);
  copy->owner_kernel = g_strdup (record->owner_kernel);
  copy->fired = g_strdup (record->fired);
  return copy;
}

void
we_restream_record_free (WeRestreamRecord *record)
{
  if (record == NULL)
    return;
  g_free (record->id);
  g_free (record->user_id);
  g_free (record->status);
  g_free (record->doc);
  g_free (record->stats);
  g_free (record->owner_kernel);
  g_free (record->fired);
  g_free (record);
}

/* A backend without the vfunc says so like the other wrappers. */
#define RESTREAMS_CALL(ret_fail, vfunc, ...)                                  \
  G_STMT_START {                                                              \
    WeStoreInterface *iface;                                                  \
    g_return_val_if_fail (WE_IS_STORE (self), ret_fail);                      \
    g_return_val_if_fail (error == NULL || *error == NULL, ret_fail);         \
    iface = WE_STORE_GET_IFACE (self);                                        \
    if (iface->vfunc == NULL) {                                               \
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,               \
                   "%s does not implement %s", G_OBJECT_TYPE_NAME (self),     \
                   #vfunc);                                                   \
      return ret_fail;                                                        \
    }                                                                         \
    return iface->vfunc (self, __VA_ARGS__);                                  \
  } G_STMT_END

gboolean
we_store_restream_put (WeStore *self, const WeRestreamRecord *record, GError **error)
{
  g_return_val_if_fail (record != NULL && record->id != NULL && record->user_id != NULL &&
                        record->doc != NULL, FALSE);
  RESTREAMS_CALL (FALSE, restream_put, record, error);
}

WeRestreamRecord *
we_store_restream_get (WeStore *self, const gchar *id, GError **error)
{
  g_return_val_if_fail (id != NULL, NULL);
  RESTREAMS_CALL (NULL, restream_get, id, error);
}

GPtrArray *
we_store_restream_list (WeStore *self, GError **error)
{
  RESTREAMS_CALL (NULL, restream_list, error);
}

gboolean
we_store_restream_set_state (WeStore *self, const gchar *id, const gchar *status,
                             const gchar *stats, GError **error)
{
  g_return_val_if_fail (id != NULL && status != NULL, FALSE);
  RESTREAMS_CALL (FALSE, restream_set_state, id, status, stats, error);
}

gboolean
we_store_restream_delete (WeStore *self, const gchar *id, GError **error)
{
  g_return_val_if_fail (id != NULL, FALSE);
  RESTREAMS_CALL (FALSE, restream_delete, id, error);
}

gboolean
we_store_restream_claim (WeStore *self, const gchar *id, const WeRestreamClaim *claim,
                         gboolean *claimed, GError **error)
{
  g_return_val_if_fail (id != NULL && claim != NULL && claim->kernel_id != NULL &&
                        claimed != NULL, FALSE);
  *claimed = FALSE;
  RESTREAMS_CALL (FALSE, restream_claim, id, claim, claimed, error);
}

GPtrArray *
we_store_restream_renew (WeStore *self, const gchar *kernel_id, gint64 lease_until,
                         GError **error)
{
  g_return_val_if_fail (kernel_id != NULL, NULL);
  RESTREAMS_CALL (NULL, restream_renew, kernel_id, lease_until, error);
}

gboolean
we_store_restream_report (WeStore *self, const gchar *id, const gchar *kernel_id,
                          const gchar *status, const gchar *stats, gboolean release,
                          GError **error)
{
  g_return_val_if_fail (id != NULL && status != NULL, FALSE);
  RESTREAMS_CALL (FALSE, restream_report, id, kernel_id, status, stats, release, error);
}
