/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * What a probe learned about a source: enough to plan, encode and verify.
 */
#pragma once

#include <glib-object.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

typedef struct {
  gdouble  duration_s;
  gchar   *container;        /* e.g. "video/quicktime" */
  gboolean has_video;
  gboolean has_audio;
  gchar   *video_codec;      /* short name: "h264", "vp9", … */
  gint     width;
  gint     height;
  gint     fps_n;
  gint     fps_d;
  gchar   *audio_codec;
  gint     audio_channels;
  gint     audio_rate;
  guint64  bitrate;          /* bits/s over the whole file, 0 if unknown */
  guint64  size_bytes;
} WeMediaInfo;

#define WE_TYPE_MEDIA_INFO (we_media_info_get_type ())
GType        we_media_info_get_type  (void);
WeMediaInfo *we_media_info_new       (void);
WeMediaInfo *we_media_info_copy      (const WeMediaInfo *self);
void         we_media_info_free      (WeMediaInfo *self);
/* Returns: (transfer full) */
JsonObject  *we_media_info_to_json   (const WeMediaInfo *self);
/* Returns: (transfer full) (nullable) */
WeMediaInfo *we_media_info_new_from_json (JsonObject *object,
                                          GError    **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeMediaInfo, we_media_info_free)

G_END_DECLS
