/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A pipeline written down as element factories and string properties before
 * anything is instantiated: the same description is turned into elements and
 * into the gst-launch-1.0 line of describe(), so the two cannot drift apart.
 */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

typedef struct {
  gchar     *factory;
  gchar     *name;    /* nullable */
  GPtrArray *props;   /* (element-type utf8): key, value, key, value, … */
} WeGstElementSpec;

WeGstElementSpec *we_gst_element_spec_new      (const gchar *factory,
                                                const gchar *name);
/* A capsfilter, written as bare caps on the launch line. */
WeGstElementSpec *we_gst_element_spec_new_caps (const gchar *caps);
void              we_gst_element_spec_free     (WeGstElementSpec *self);
void              we_gst_element_spec_set      (WeGstElementSpec *self,
                                                const gchar      *key,
                                                const gchar      *value);
void              we_gst_element_spec_set_int  (WeGstElementSpec *self,
                                                const gchar      *key,
                                                gint64            value);
/* Sets @key only if the factory's element type has such a property, so one
 * table can serve encoders whose property sets differ. Returns TRUE if set. */
gboolean          we_gst_element_spec_set_if   (WeGstElementSpec *self,
                                                const gchar      *key,
                                                const gchar      *value);
gboolean          we_gst_element_spec_has_property (const WeGstElementSpec *self,
                                                    const gchar            *key);
/* Returns: (transfer full) (nullable) */
GstElement       *we_gst_element_spec_make     (const WeGstElementSpec *self,
                                                GError                **error);
void              we_gst_element_spec_to_launch (const WeGstElementSpec *self,
                                                 GString                *out);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeGstElementSpec, we_gst_element_spec_free)

G_END_DECLS
