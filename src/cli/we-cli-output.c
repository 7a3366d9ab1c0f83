/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "we-cli-output.h"

#include <math.h>
#include <stdarg.h>

JsonObject *
we_cli_json_object (JsonNode *node)
{
  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    return NULL;
  return json_node_get_object (node);
}

JsonObject *
we_cli_json_get_object (JsonObject *obj, const gchar *member)
{
  if (obj == NULL)
    return NULL;
  return we_cli_json_object (json_object_get_member (obj, member));
}

JsonArray *
we_cli_json_get_array (JsonObject *obj, const gchar *member)
{
  JsonNode *node = obj != NULL ? json_object_get_member (obj, member) : NULL;

  if (node == NULL || !JSON_NODE_HOLDS_ARRAY (node))
    return NULL;
  return json_node_get_array (node);
}

const gchar *
we_cli_json_get_string (JsonObject *obj, const gchar *member)
{
  JsonNode *node = obj != NULL ? json_object_get_member (obj, member) : NULL;

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) ||
      json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (node);
}

gboolean
we_cli_json_get_number (JsonObject *obj, const gchar *member, gdouble *out)
{
  JsonNode *node = obj != NULL ? json_object_get_member (obj, member) : NULL;
  GType type;
  gdouble v;

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node))
    return FALSE;
  type = json_node_get_value_type (node);
  if (type == G_TYPE_INT64)
    v = (gdouble) json_node_get_int (node);
  else if (type == G_TYPE_DOUBLE)
    v = json_node_get_double (node);
  else
    return FALSE;
  if (!isfinite (v))
    return FALSE;
  *out = v;
  return TRUE;
}

gchar *
we_cli_sanitize (const gchar *text)
{
  gchar *valid;

  if (text == NULL)
    return g_strdup ("-");
  valid = g_utf8_make_valid (text, -1);
  for (gchar *p = valid; *p != '\0'; p++) {
    if ((guchar) *p < 0x20 || *p == 0x7f)
      *p = '?';
  }
  return valid;
}

gchar *
we_cli_format_duration (gdouble seconds)
{
  guint64 s;

  if (!isfinite (seconds) || seconds < 0)
    return g_strdup ("--:--");
  /* beyond 100 days an estimate means nothing */
  if (seconds > 100.0 * 86400)
    return g_strdup ("--:--");
  s = (guint64) llround (seconds);
  if (s >= 3600)
    return g_strdup_printf ("%" G_GUINT64_FORMAT ":%02u:%02u", s / 3600,
                            (guint) (s / 60 % 60), (guint) (s % 60));
  return g_strdup_printf ("%u:%02u", (guint) (s / 60), (guint) (s % 60));
}

gchar *
we_cli_format_time (const gchar *iso8601)
{
  g_autoptr(GDateTime) dt = NULL;
  g_autoptr(GDateTime) local = NULL;

  if (iso8601 == NULL)
    return g_strdup ("-");
  dt = g_date_time_new_from_iso8601 (iso8601, NULL);
  if (dt == NULL)
    return we_cli_sanitize (iso8601);
  local = g_date_time_to_local (dt);
  return g_date_time_format (local, "%Y-%m-%d %H:%M:%S");
}

void
we_cli_print_raw (GBytes *raw)
{
  gsize size = 0;
  const gchar *data = raw != NULL ? g_bytes_get_data (raw, &size) : NULL;

  if (size == 0)
    return;
  fwrite (data, 1, size, stdout);
  if (data[size - 1] != '\n')
    fputc ('\n', stdout);
  fflush (stdout);
}

struct _WeCliTable {
  guint      ncols;
  GPtrArray *headers;
  GPtrArray *rows;  /* of GPtrArray of gchar* */
};

WeCliTable *
we_cli_table_new (const gchar *first_header, ...)
{
  WeCliTable *table = g_new0 (WeCliTable, 1);
  va_list ap;

  table->headers = g_ptr_array_new_with_free_func (g_free);
  table->rows = g_ptr_array_new_with_free_func ((GDestroyNotify) g_ptr_array_unref);
  va_start (ap, first_header);
  for (const gchar *h = first_header; h != NULL; h = va_arg (ap, const gchar *))
    g_ptr_array_add (table->headers, g_strdup (h));
  va_end (ap);
  table->ncols = table->headers->len;
  return table;
}

void
we_cli_table_add_row (WeCliTable *table, const gchar *first_cell, ...)
{
  GPtrArray *row = g_ptr_array_new_with_free_func (g_free);
  va_list ap;

  g_ptr_array_add (row, we_cli_sanitize (first_cell));
  va_start (ap, first_cell);
  for (guint i = 1; i < table->ncols; i++)
    g_ptr_array_add (row, we_cli_sanitize (va_arg (ap, const gchar *)));
  va_end (ap);
  g_ptr_array_add (table->rows, row);
}

static void
print_padded (FILE *out, const gchar *cell, glong width, gboolean last)
{
  glong len = g_utf8_strlen (cell, -1);

  fputs (cell, out);
  if (last)
    return;
  for (glong i = len; i < width + 2; i++)
    fputc (' ', out);
}

void
we_cli_table_print (WeCliTable *table, FILE *out)
{
  g_autofree glong *widths = g_new0 (glong, table->ncols);

  for (guint c = 0; c < table->ncols; c++)
    widths[c] = g_utf8_strlen (g_ptr_array_index (table->headers, c), -1);
  for (guint r = 0; r < table->rows->len; r++) {
    GPtrArray *row = g_ptr_array_index (table->rows, r);
    for (guint c = 0; c < table->ncols; c++)
      widths[c] = MAX (widths[c], g_utf8_strlen (g_ptr_array_index (row, c), -1));
  }
  for (guint c = 0; c < table->ncols; c++) {
    g_autofree gchar *upper = g_utf8_strup (g_ptr_array_index (table->headers, c), -1);
    print_padded (out, upper, widths[c], c + 1 == table->ncols);
  }
  fputc ('\n', out);
  for (guint r = 0; r < table->rows->len; r++) {
    GPtrArray *row = g_ptr_array_index (table->rows, r);
    for (guint c = 0; c < table->ncols; c++)
      print_padded (out, g_ptr_array_index (row, c), widths[c], c + 1 == table->ncols);
    fputc ('\n', out);
  }
}

void
we_cli_table_free (WeCliTable *table)
{
  g_ptr_array_unref (table->headers);
  g_ptr_array_unref (table->rows);
  g_free (table);
}
