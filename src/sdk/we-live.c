/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "webencode/we-live.h"

G_DEFINE_INTERFACE (WeLiveEngine, we_live_engine, G_TYPE_OBJECT)

static void
we_live_engine_default_init (WeLiveEngineInterface *iface)
{
  g_signal_new ("telemetry", G_TYPE_FROM_INTERFACE (iface), G_SIGNAL_RUN_LAST, 0,
                NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_POINTER);
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
