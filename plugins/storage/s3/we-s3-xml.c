/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "we-s3-xml.h"

#include <string.h>

/* Responses nest a few levels; anything deeper is not S3 talking */
#define MAX_DEPTH 32

typedef struct {
  WeS3XmlNode *root;
  WeS3XmlNode *current;
  guint        depth;
} ParseState;

static WeS3XmlNode *
node_new (const gchar *name, WeS3XmlNode *parent)
{
  WeS3XmlNode *node = g_new0 (WeS3XmlNode, 1);
  const gchar *colon = strchr (name, ':');

  node->name = g_strdup (colon != NULL ? colon + 1 : name);
  node->text = g_string_new (NULL);
  node->children = g_ptr_array_new_with_free_func ((GDestroyNotify) we_s3_xml_node_free);
  node->parent = parent;
  return node;
}

void
we_s3_xml_node_free (WeS3XmlNode *node)
{
  if (node == NULL)
    return;
  g_free (node->name);
  g_string_free (node->text, TRUE);
  g_ptr_array_unref (node->children);
  g_free (node);
}

static void
on_start (GMarkupParseContext *context, const gchar *element_name, const gchar **attribute_names,
          const gchar **attribute_values, gpointer user_data, GError **error)
{
  ParseState *state = user_data;
  WeS3XmlNode *node;

  if (++state->depth > MAX_DEPTH) {
    g_set_error_literal (error, G_MARKUP_ERROR, G_MARKUP_ERROR_INVALID_CONTENT,
                         "XML nested too deeply");
    return;
  }
  node = node_new (element_name, state->current);
  if (state->current == NULL) {
    if (state->root != NULL) {
      we_s3_xml_node_free (node);
      g_set_error_literal (error, G_MARKUP_ERROR, G_MARKUP_ERROR_INVALID_CONTENT,
                           "more than one root element");
      return;
    }
    state->root = node;
  } else {
    g_ptr_array_add (state->current->children, node);
  }
  state->current = node;
}

static void
on_end (GMarkupParseContext *context, const gchar *element_name, gpointer user_data,
        GError **error)
{
  ParseState *state = user_data;

  state->depth--;
  if (state->current != NULL)
    state->current = state->current->parent;
}

static void
on_text (GMarkupParseContext *context, const gchar *text, gsize text_len, gpointer user_data,
         GError **error)
{
  ParseState *state = user_data;

  if (state->current != NULL)
    g_string_append_len (state->current->text, text, text_len);
}

WeS3XmlNode *
we_s3_xml_parse (const gchar *data, gsize len, GError **error)
{
  static const GMarkupParser parser = { on_start, on_end, on_text, NULL, NULL };
  g_autoptr(GMarkupParseContext) context = NULL;
  ParseState state = { 0 };
  const gchar *start = data;
  const gchar *end = data + len;

  /* some stores send a byte order mark, which GMarkup does not accept */
  if (len >= 3 && memcmp (start, "\xef\xbb\xbf", 3) == 0)
    start += 3;
  while (start < end && g_ascii_isspace (*start))
    start++;
  context = g_markup_parse_context_new (&parser, G_MARKUP_TREAT_CDATA_AS_TEXT, &state, NULL);
  if (!g_markup_parse_context_parse (context, start, end - start, error) ||
      !g_markup_parse_context_end_parse (context, error)) {
    we_s3_xml_node_free (state.root);
    return NULL;
  }
  if (state.root == NULL) {
    g_set_error_literal (error, G_MARKUP_ERROR, G_MARKUP_ERROR_EMPTY, "no XML element");
    return NULL;
  }
  return state.root;
}

WeS3XmlNode *
we_s3_xml_child (WeS3XmlNode *node, const gchar *name)
{
  if (node == NULL)
    return NULL;
  for (guint i = 0; i < node->children->len; i++) {
    WeS3XmlNode *child = g_ptr_array_index (node->children, i);
    if (g_strcmp0 (child->name, name) == 0)
      return child;
  }
  return NULL;
}

const gchar *
we_s3_xml_child_text (WeS3XmlNode *node, const gchar *name)
{
  WeS3XmlNode *child = we_s3_xml_child (node, name);
  return child != NULL ? child->text->str : NULL;
}
