/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Reads of JSON members that never warn: worker messages, heartbeats and
 * queue listings come from other processes, so a missing member or one of
 * the wrong type is an answer (the default), not a programming error.
 * @obj may be NULL.
 */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* Returns: (transfer none) (nullable): a string member */
const gchar *we_json_get_string (JsonObject *obj, const gchar *name);
/* an integer member; a double is truncated */
gint64       we_json_get_int    (JsonObject *obj, const gchar *name, gint64 def);
/* a number member, integer or double */
gdouble      we_json_get_double (JsonObject *obj, const gchar *name, gdouble def);
gboolean     we_json_get_bool   (JsonObject *obj, const gchar *name, gboolean def);
/* Returns: (transfer none) (nullable) */
JsonObject  *we_json_get_object (JsonObject *obj, const gchar *name);
/* Returns: (transfer none) (nullable) */
JsonArray   *we_json_get_array  (JsonObject *obj, const gchar *name);

G_END_DECLS
