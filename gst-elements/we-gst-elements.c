/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "we-gst-elements.h"

#include "gstweprogress.h"
#include "hls/gstwehlssink.h"
#include "rtmp/gstwertmpserversrc.h"
#include "restream/gstwerestreamsink.h"
#include "srt/gstwesrtserversrc.h"

gboolean
we_gst_elements_plugin_init (GstPlugin *plugin)
{
  gboolean ok = GST_ELEMENT_REGISTER (weprogress, plugin);

  ok &= GST_ELEMENT_REGISTER (wertmpserversrc, plugin);
  ok &= GST_ELEMENT_REGISTER (wesrtserversrc, plugin);
  ok &= GST_ELEMENT_REGISTER (werestreamsink, plugin);
  ok &= GST_ELEMENT_REGISTER (wehlssink, plugin);
  return ok;
}

static gpointer
register_once (gpointer data)
{
  g_autoptr(GstPluginFeature) feature =
    gst_registry_find_feature (gst_registry_get (), "weprogress", GST_TYPE_ELEMENT_FACTORY);

  if (feature != NULL) {
    GST_INFO ("weprogress is in the registry already (%s)",
              gst_plugin_feature_get_plugin_name (feature));
    return GINT_TO_POINTER (TRUE);
  }
  return GINT_TO_POINTER (gst_plugin_register_static (GST_VERSION_MAJOR, GST_VERSION_MINOR,
                                                      "webencode", WE_GST_ELEMENTS_DESCRIPTION,
                                                      we_gst_elements_plugin_init,
                                                      PACKAGE_VERSION, "LGPL", "webencode",
                                                      "webencode", WE_GST_ELEMENTS_ORIGIN));
}

gboolean
we_gst_elements_register (void)
{
  static GOnce once = G_ONCE_INIT;

  return GPOINTER_TO_INT (g_once (&once, register_once, NULL));
}
