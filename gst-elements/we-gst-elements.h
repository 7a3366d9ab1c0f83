/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Our GStreamer elements, for programs that link them in (the encoder
 * pillar) rather than load the "webencode" plugin from GST_PLUGIN_PATH.
 */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

#define WE_GST_ELEMENTS_DESCRIPTION "WebEncode elements: progress, telemetry, live ingest and restream destinations"
#define WE_GST_ELEMENTS_ORIGIN      "https://github.com/webencode/webencode"

/* Registers every element of ours with @plugin (the plugin_init of both
 * the loadable plugin and the static registration). */
gboolean we_gst_elements_plugin_init (GstPlugin *plugin);

/* Makes our elements available to gst_element_factory_make(): registers
 * them as a static "webencode" plugin unless the registry already has them
 * (a plugin found on GST_PLUGIN_PATH), so no environment variable is
 * needed. gst_init() must have run; calling it again, from any thread, is
 * harmless. Returns: whether "weprogress" can be made. */
gboolean we_gst_elements_register (void);

G_END_DECLS
