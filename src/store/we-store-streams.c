/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The live stream records of the store (spec §4.3, issue 10), with the
 * synchronous wrappers that dispatch to the backend. The API reaches them
 * through we_store_call_async(); the ingest servers through
 * we_stream_keys_lookup() (src/core/we-stream-keys.c), from their threads.
 */
#include "config.h"

#include "store/we-store.h"

WeStream *
we_stream_new (void)
{
  WeStream *stream = g_new0 (WeStream, 1);

  stream->archive_enabled = TRUE;
  return stream;
}

WeStream *
we_stream_copy (const WeStream *stream)
{
  WeStream *copy;

  g_return_val_if_fail (stream != NULL, NULL);
  copy = g_memdup2 (stream, sizeof (*stream));
  copy->id = g_strdup (stream->id);
  copy->user_id = g_strdup (stream->user_id);
  copy->title = g_strdup (stream->title);
  copy->description = g_strdup (stream->description);
  copy->key_hash = g_strdup (stream->key_hash);
  copy->key_sealed = g_strdup (stream->key_sealed);
  copy->key_hint = g_strdup (stream->key_hint);
  copy->srt_passphrase_sealed = g_strdup (stream->srt_passphrase_sealed);
  copy->play_name = g_strdup (stream->play_name);
  copy->current_session_id = g_strdup (stream->current_session_id);
  copy->latency_mode = g_strdup (stream->latency_mode);
  copy->ladder_profile_id = g_strdup (stream->ladder_profile_id);
  copy->archive_vod_job_id = g_strdup (stream->archive_vod_job_id);
  copy->last_stats = g_strdup (stream->last_stats);
  return copy;
}

void
we_stream_free (WeStream *stream)
{
  if (stream == NULL)
    return;
  g_free (stream->id);
  g_free (stream->user_id);
  g_free (stream->title);
  g_free (stream->description);
  g_free (stream->key_hash);
  g_free (stream->key_sealed);
  g_free (stream->key_hint);
  g_free (stream->srt_passphrase_sealed);
  g_free (stream->play_name);
  g_free (stream->current_session_id);
  g_free (stream->latency_mode);
  g_free (stream->ladder_profile_id);
  g_free (stream->archive_vod_job_id);
  g_free (stream->last_stats);
  g_free (stream);
}

WeStreamSession *
we_stream_session_new (void)
{
  return g_new0 (WeStreamSession, 1);
}

WeStreamSession *
we_stream_session_copy (const WeStreamSession *session)
{
  WeStreamSession *copy;

  g_return_val_if_fail (session != NULL, NULL);
  copy = g_memdup2 (session, sizeof (*session));
  copy->id = g_strdup (session->id);
  copy->stream_id = g_strdup (session->stream_id);
  copy->protocol = g_strdup (session->protocol);
  copy->remote_addr = g_strdup (session->remote_addr);
  copy->end_reason = g_strdup (session->end_reason);
  return copy;
}

void
we_stream_session_free (WeStreamSession *session)
{
  if (session == NULL)
    return;
  g_free (session->id);
  g_free (session->stream_id);
  g_free (session->protocol);
  g_free (session->remote_addr);
  g_free (session->end_reason);
  g_free (session);
}

/* A backend without the vfunc says so like the other wrappers. */
#define STREAMS_CALL(ret_fail, vfunc, ...)                                    \
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

static gboolean
stream_complete (const WeStream *stream)
{
  return stream != NULL && stream->id != NULL && stream->user_id != NULL &&
         stream->title != NULL && stream->key_hash != NULL && stream->key_sealed != NULL &&
         stream->key_hint != NULL && stream->srt_passphrase_sealed != NULL &&
         stream->play_name != NULL && stream->latency_mode != NULL;
}

gboolean
we_store_stream_create (WeStore *self, WeStream *stream, GError **error)
{
  g_return_val_if_fail (stream_complete (stream), FALSE);
  STREAMS_CALL (FALSE, stream_create, stream, error);
}

WeStream *
we_store_stream_get (WeStore *self, const gchar *id, GError **error)
{
  g_return_val_if_fail (id != NULL, NULL);
  STREAMS_CALL (NULL, stream_get, id, error);
}

WeStream *
we_store_stream_get_by_key_hash (WeStore *self, const gchar *key_hash, GError **error)
{
  g_return_val_if_fail (key_hash != NULL, NULL);
  STREAMS_CALL (NULL, stream_get_by_key_hash, key_hash, error);
}

GPtrArray *
we_store_stream_list (WeStore *self, const WeStreamFilter *filter, guint *total, GError **error)
{
  g_return_val_if_fail (filter != NULL, NULL);
  STREAMS_CALL (NULL, stream_list, filter, total, error);
}

gboolean
we_store_stream_update (WeStore *self, WeStream *stream, GError **error)
{
  g_return_val_if_fail (stream_complete (stream), FALSE);
  STREAMS_CALL (FALSE, stream_update, stream, error);
}

gboolean
we_store_stream_delete (WeStore *self, const gchar *id, GError **error)
{
  g_return_val_if_fail (id != NULL, FALSE);
  STREAMS_CALL (FALSE, stream_delete, id, error);
}

gboolean
we_store_stream_session_put (WeStore *self, const WeStreamSession *session, GError **error)
{
  g_return_val_if_fail (session != NULL && session->id != NULL && session->stream_id != NULL &&
                        session->protocol != NULL, FALSE);
  STREAMS_CALL (FALSE, stream_session_put, session, error);
}

GPtrArray *
we_store_stream_session_list (WeStore *self, const gchar *stream_id, guint limit,
                              GError **error)
{
  g_return_val_if_fail (stream_id != NULL, NULL);
  STREAMS_CALL (NULL, stream_session_list, stream_id, limit, error);
}

gboolean
we_store_stream_telemetry_add (WeStore *self, const gchar *session_id, gint64 time_ms,
                               const gchar *sample, guint keep, GError **error)
{
  g_return_val_if_fail (session_id != NULL && sample != NULL, FALSE);
  STREAMS_CALL (FALSE, stream_telemetry_add, session_id, time_ms, sample, keep, error);
}

GPtrArray *
we_store_stream_telemetry_list (WeStore *self, const gchar *session_id, guint limit,
                                GError **error)
{
  g_return_val_if_fail (session_id != NULL, NULL);
  STREAMS_CALL (NULL, stream_telemetry_list, session_id, limit, error);
}
