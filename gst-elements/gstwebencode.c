/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The "webencode" GStreamer plugin: our elements, for gst-inspect-1.0 and
 * gst-launch-1.0 (GST_PLUGIN_PATH=build/gst-elements). The workers do not
 * need it installed: they register the same elements statically
 * (we-gst-elements.h).
 */
#include "config.h"

/* GST_PLUGIN_DEFINE names the package of the plugin with PACKAGE */
#define PACKAGE "webencode"

#include <gst/gst.h>

#include "we-gst-elements.h"

static gboolean
plugin_init (GstPlugin *plugin)
{
  return we_gst_elements_plugin_init (plugin);
}

GST_PLUGIN_DEFINE (GST_VERSION_MAJOR, GST_VERSION_MINOR, webencode,
                   WE_GST_ELEMENTS_DESCRIPTION, plugin_init, PACKAGE_VERSION,
                   "LGPL", "webencode", WE_GST_ELEMENTS_ORIGIN)
