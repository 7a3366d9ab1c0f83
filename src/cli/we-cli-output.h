/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Reading the service's JSON defensively and printing it for people: every
 * getter tolerates a missing member or one of the wrong type, because the
 * CLI must never crash on what a server sends.
 */
#pragma once

#include <stdio.h>

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* Returns: (nullable): the member if it is an object, else NULL */
JsonObject  *we_cli_json_object (JsonNode    *node);
JsonObject  *we_cli_json_get_object (JsonObject  *obj,
                                     const gchar *member);
JsonArray   *we_cli_json_get_array  (JsonObject  *obj,
                                     const gchar *member);
/* Returns: (nullable): the member if it is a string, else NULL */
const gchar *we_cli_json_get_string (JsonObject  *obj,
                                     const gchar *member);
/* Returns: TRUE if the member is a number (integer or not) */
gboolean     we_cli_json_get_number (JsonObject  *obj,
                                     const gchar *member,
                                     gdouble     *out);

/* Printable text for a terminal: valid UTF-8, control characters replaced,
 * so a hostile server cannot send escape sequences. */
gchar       *we_cli_sanitize        (const gchar *text);
gchar       *we_cli_format_duration (gdouble      seconds);
/* an ISO 8601 timestamp as local "YYYY-MM-DD HH:MM:SS", or as given */
gchar       *we_cli_format_time     (const gchar *iso8601);
/* The API's JSON as it was sent, to stdout, ending in a newline. */
void         we_cli_print_raw       (GBytes      *raw);

typedef struct _WeCliTable WeCliTable;

/* Columns are the NULL-terminated headers. */
WeCliTable  *we_cli_table_new       (const gchar *first_header,
                                     ...) G_GNUC_NULL_TERMINATED;
/* One cell per column; NULL cells print as "-". Cells are sanitised. */
void         we_cli_table_add_row   (WeCliTable  *table,
                                     const gchar *first_cell,
                                     ...);
void         we_cli_table_print     (WeCliTable  *table,
                                     FILE        *out);
void         we_cli_table_free      (WeCliTable  *table);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeCliTable, we_cli_table_free)

G_END_DECLS
