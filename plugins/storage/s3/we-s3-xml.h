/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Just enough XML for S3's responses: GMarkup builds a small element tree
 * (names without namespace prefixes, text content, children in order).
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _WeS3XmlNode WeS3XmlNode;

struct _WeS3XmlNode {
  gchar       *name;
  GString     *text;
  GPtrArray   *children;   /* (element-type WeS3XmlNode) */
  WeS3XmlNode *parent;
};

/* Returns: (transfer full) (nullable): the root element */
WeS3XmlNode *we_s3_xml_parse      (const gchar  *data,
                                   gsize         len,
                                   GError      **error);
void         we_s3_xml_node_free  (WeS3XmlNode  *node);
/* Returns: (transfer none) (nullable): the first child called @name */
WeS3XmlNode *we_s3_xml_child      (WeS3XmlNode  *node,
                                   const gchar  *name);
/* Returns: (transfer none) (nullable): the text of the first child @name */
const gchar *we_s3_xml_child_text (WeS3XmlNode  *node,
                                   const gchar  *name);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeS3XmlNode, we_s3_xml_node_free)

G_END_DECLS
