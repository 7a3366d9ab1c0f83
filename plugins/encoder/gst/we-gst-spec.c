/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include "we-gst-spec.h"

#include <webencode/we-error.h>

WeGstElementSpec *
we_gst_element_spec_new (const gchar *factory, const gchar *name)
{
  WeGstElementSpec *self = g_new0 (WeGstElementSpec, 1);

  self->factory = g_strdup (factory);
  self->name = g_strdup (name);
  self->props = g_ptr_array_new_with_free_func (g_free);
  return self;
}

WeGstElementSpec *
we_gst_element_spec_new_caps (const gchar *caps)
{
  WeGstElementSpec *self = we_gst_element_spec_new ("capsfilter", NULL);

  we_gst_element_spec_set (self, "caps", caps);
  return self;
}

void
we_gst_element_spec_free (WeGstElementSpec *self)
{
  if (self == NULL)
    return;
  g_free (self->factory);
  g_free (self->name);
  g_ptr_array_unref (self->props);
  g_free (self);
}

void
we_gst_element_spec_set (WeGstElementSpec *self, const gchar *key, const gchar *value)
{
  /* a later value for the same key replaces the earlier one, as it would on
   * a gst-launch line, but keeps its position so the line reads naturally */
  for (guint i = 0; i + 1 < self->props->len; i += 2) {
    if (g_strcmp0 (g_ptr_array_index (self->props, i), key) == 0) {
      g_free (g_ptr_array_index (self->props, i + 1));
      g_ptr_array_index (self->props, i + 1) = g_strdup (value);
      return;
    }
  }
  g_ptr_array_add (self->props, g_strdup (key));
  g_ptr_array_add (self->props, g_strdup (value));
}

void
we_gst_element_spec_set_int (WeGstElementSpec *self, const gchar *key, gint64 value)
{
  g_autofree gchar *str = g_strdup_printf ("%" G_GINT64_FORMAT, value);

  we_gst_element_spec_set (self, key, str);
}

static GParamSpec *
spec_find_pspec (const WeGstElementSpec *self, const gchar *key)
{
  g_autoptr(GstElementFactory) factory = gst_element_factory_find (self->factory);
  GstPluginFeature *loaded;
  GType type;
  GParamSpec *pspec;
  gpointer klass;

  if (factory == NULL)
    return NULL;
  loaded = gst_plugin_feature_load (GST_PLUGIN_FEATURE (factory));
  if (loaded == NULL)
    return NULL;
  type = gst_element_factory_get_element_type (GST_ELEMENT_FACTORY (loaded));
  gst_object_unref (loaded);
  if (type == G_TYPE_INVALID)
    return NULL;
  klass = g_type_class_ref (type);
  pspec = g_object_class_find_property (G_OBJECT_CLASS (klass), key);
  g_type_class_unref (klass);
  return pspec;
}

gboolean
we_gst_element_spec_has_property (const WeGstElementSpec *self, const gchar *key)
{
  return spec_find_pspec (self, key) != NULL;
}

gboolean
we_gst_element_spec_set_if (WeGstElementSpec *self, const gchar *key, const gchar *value)
{
  if (!we_gst_element_spec_has_property (self, key))
    return FALSE;
  we_gst_element_spec_set (self, key, value);
  return TRUE;
}

GstElement *
we_gst_element_spec_make (const WeGstElementSpec *self, GError **error)
{
  g_autoptr(GstElement) element = NULL;

  element = gst_element_factory_make (self->factory, self->name);
  if (element == NULL) {
    g_set_error (error, WE_ERROR, WE_ERROR_JOB_FAILED,
                 "GStreamer element '%s' is not installed", self->factory);
    return NULL;
  }
  gst_object_ref_sink (element);

  for (guint i = 0; i + 1 < self->props->len; i += 2) {
    const gchar *key = g_ptr_array_index (self->props, i);
    const gchar *value = g_ptr_array_index (self->props, i + 1);
    GParamSpec *pspec = g_object_class_find_property (G_OBJECT_GET_CLASS (element), key);
    g_auto(GValue) v = G_VALUE_INIT;

    if (pspec == NULL) {
      g_set_error (error, WE_ERROR, WE_ERROR_JOB_FAILED,
                   "element '%s' has no property '%s'", self->factory, key);
      return NULL;
    }
    g_value_init (&v, G_PARAM_SPEC_VALUE_TYPE (pspec));
    if (!gst_value_deserialize_with_pspec (&v, value, pspec)) {
      g_set_error (error, WE_ERROR, WE_ERROR_JOB_FAILED,
                   "element '%s' rejects %s=%s", self->factory, key, value);
      return NULL;
    }
    g_object_set_property (G_OBJECT (element), key, &v);
  }
  return g_steal_pointer (&element);
}

static void
append_quoted (GString *out, const gchar *value)
{
  gboolean plain = *value != '\0';

  for (const gchar *p = value; *p != '\0' && plain; p++) {
    if (!g_ascii_isalnum (*p) && strchr ("_-./:+=,", *p) == NULL)
      plain = FALSE;
  }
  if (plain) {
    g_string_append (out, value);
    return;
  }
  g_string_append_c (out, '"');
  for (const gchar *p = value; *p != '\0'; p++) {
    if (*p == '"' || *p == '\\')
      g_string_append_c (out, '\\');
    g_string_append_c (out, *p);
  }
  g_string_append_c (out, '"');
}

void
we_gst_element_spec_to_launch (const WeGstElementSpec *self, GString *out)
{
  /* gst-launch reads bare caps as a capsfilter, which is how people write it */
  if (g_strcmp0 (self->factory, "capsfilter") == 0 && self->name == NULL &&
      self->props->len == 2) {
    append_quoted (out, g_ptr_array_index (self->props, 1));
    return;
  }
  g_string_append (out, self->factory);
  if (self->name != NULL)
    g_string_append_printf (out, " name=%s", self->name);
  for (guint i = 0; i + 1 < self->props->len; i += 2) {
    g_string_append_printf (out, " %s=", (const gchar *) g_ptr_array_index (self->props, i));
    append_quoted (out, g_ptr_array_index (self->props, i + 1));
  }
}
