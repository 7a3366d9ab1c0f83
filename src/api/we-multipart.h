/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * An incremental multipart/form-data parser (RFC 7578) for uploads that must
 * never be held in memory: feed it the body as it arrives and it reports part
 * headers and part data through callbacks. Bounded memory: part headers are
 * limited, body data is passed through with only a boundary-sized hold-back.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define WE_MULTIPART_MAX_HEADERS 8192
#define WE_MULTIPART_MAX_PARTS   64

typedef struct _WeMultipart WeMultipart;

typedef struct {
  /* @name and @filename are from Content-Disposition; @filename nullable */
  gboolean (*part_begin) (const gchar *name, const gchar *filename,
                          const gchar *content_type, gpointer user_data);
  gboolean (*part_data)  (const guint8 *data, gsize length, gpointer user_data);
  gboolean (*part_end)   (gpointer user_data);
} WeMultipartCallbacks;

/* Returns: (transfer full) (nullable): NULL when @content_type is not
 * multipart/form-data with a usable boundary */
WeMultipart *we_multipart_new      (const gchar                *content_type,
                                    const WeMultipartCallbacks *callbacks,
                                    gpointer                    user_data,
                                    GError                    **error);
/* FALSE with @error on malformed input or when a callback returned FALSE. */
gboolean     we_multipart_feed     (WeMultipart  *self,
                                    const guint8 *data,
                                    gsize         length,
                                    GError      **error);
/* TRUE when the closing boundary was seen. */
gboolean     we_multipart_is_done  (WeMultipart *self);
void         we_multipart_free     (WeMultipart *self);

/* Extracts a parameter (e.g. "boundary", "filename") from a header value,
 * handling quoting. Returns: (transfer full) (nullable) */
gchar       *we_multipart_header_param (const gchar *value,
                                        const gchar *param);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeMultipart, we_multipart_free)

G_END_DECLS
