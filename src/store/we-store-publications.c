/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The publications of the store (issue 11): synchronous wrappers that
 * dispatch to the backend. The store keeps each publication as the JSON
 * document the publish runner (src/core/we-publish.c) writes, with the
 * members it is looked up by (job, status) as columns, so the document can
 * grow without migrations. The kernel reaches them through
 * we_store_call_async().
 */
#include "config.h"

#include "store/we-store.h"

#define PUBLICATIONS_CALL(ret_fail, vfunc, ...)                               \
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
we_store_publication_put (WeStore *self, const gchar *id, const gchar *job_id,
                          const gchar *status, gint64 created_at, gint64 updated_at,
                          const gchar *doc, GError **error)
{
  g_return_val_if_fail (id != NULL && job_id != NULL && status != NULL && doc != NULL, FALSE);
  PUBLICATIONS_CALL (FALSE, publication_put, id, job_id, status, created_at, updated_at, doc,
                     error);
}

gchar *
we_store_publication_get (WeStore *self, const gchar *id, GError **error)
{
  g_return_val_if_fail (id != NULL, NULL);
  PUBLICATIONS_CALL (NULL, publication_get, id, error);
}

GPtrArray *
we_store_publication_list (WeStore *self, const gchar *job_id, const gchar *status,
                           GError **error)
{
  PUBLICATIONS_CALL (NULL, publication_list, job_id, status, error);
}

gboolean
we_store_publication_claim (WeStore *self, const gchar *id, const gchar *kernel_id,
                            guint stale_s, gchar **previous, GError **error)
{
  g_return_val_if_fail (id != NULL && kernel_id != NULL, FALSE);
  if (previous != NULL)
    *previous = NULL;
  PUBLICATIONS_CALL (FALSE, publication_claim, id, kernel_id, stale_s, previous, error);
}
