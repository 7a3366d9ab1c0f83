/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <json-glib/json-glib.h>

#include "webencode/we-live.h"

G_DEFINE_INTERFACE (WeLiveEngine, we_live_engine, G_TYPE_OBJECT)

static void
we_live_engine_default_init (WeLiveEngineInterface *iface)
{
  /* (stream_id, sample): see docs/architecture.md "Live pillar" */
  g_signal_new ("telemetry", G_TYPE_FROM_INTERFACE (iface), G_SIGNAL_RUN_LAST, 0,
                NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_STRING, JSON_TYPE_OBJECT);
  /* (stream_id, protocol, remote) */
  g_signal_new ("stream-started", G_TYPE_FROM_INTERFACE (iface), G_SIGNAL_RUN_LAST, 0,
                NULL, NULL, NULL, G_TYPE_NONE, 3, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING);
  /* (stream_id, reason, recording directory or NULL) */
  g_signal_new ("stream-ended", G_TYPE_FROM_INTERFACE (iface), G_SIGNAL_RUN_LAST, 0,
                NULL, NULL, NULL, G_TYPE_NONE, 3, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING);
}

gboolean
we_live_engine_start_ingest (WeLiveEngine *self, const WeIngestConfig *config, GError **error)
{
  g_return_val_if_fail (WE_IS_LIVE_ENGINE (self), FALSE);
  return WE_LIVE_ENGINE_GET_IFACE (self)->start_ingest (self, config, error);
}

void
we_live_engine_set_publish_policy (WeLiveEngine *self, WePublishDecisionFunc func,
                                   gpointer user_data, GDestroyNotify notify)
{
  g_return_if_fail (WE_IS_LIVE_ENGINE (self));
  WE_LIVE_ENGINE_GET_IFACE (self)->set_publish_policy (self, func, user_data, notify);
}

gboolean
we_live_engine_stop_ingest (WeLiveEngine *self, const gchar *stream_id, GError **error)
{
  g_return_val_if_fail (WE_IS_LIVE_ENGINE (self), FALSE);
  return WE_LIVE_ENGINE_GET_IFACE (self)->stop_ingest (self, stream_id, error);
}

gboolean
we_live_engine_start (WeLiveEngine *self, GError **error)
{
  WeLiveEngineInterface *iface;

  g_return_val_if_fail (WE_IS_LIVE_ENGINE (self), FALSE);
  iface = WE_LIVE_ENGINE_GET_IFACE (self);
  if (iface->start == NULL)
    return TRUE;
  return iface->start (self, error);
}

void
we_live_engine_stop (WeLiveEngine *self)
{
  WeLiveEngineInterface *iface;

  g_return_if_fail (WE_IS_LIVE_ENGINE (self));
  iface = WE_LIVE_ENGINE_GET_IFACE (self);
  if (iface->stop != NULL)
    iface->stop (self);
}

void
we_live_engine_set_publish_decider (WeLiveEngine *self, WePublishDeciderFunc func,
                                    gpointer user_data, GDestroyNotify notify)
{
  WeLiveEngineInterface *iface;

  g_return_if_fail (WE_IS_LIVE_ENGINE (self));
  iface = WE_LIVE_ENGINE_GET_IFACE (self);
  /* an engine of an older ABI minor: nothing keeps the data */
  if (iface->set_publish_decider == NULL) {
    if (notify != NULL)
      notify (user_data);
    return;
  }
  iface->set_publish_decider (self, func, user_data, notify);
}

guint
we_live_engine_get_port (WeLiveEngine *self, const gchar *protocol)
{
  WeLiveEngineInterface *iface;

  g_return_val_if_fail (WE_IS_LIVE_ENGINE (self), 0);
  iface = WE_LIVE_ENGINE_GET_IFACE (self);
  return iface->get_port != NULL ? iface->get_port (self, protocol) : 0;
}
