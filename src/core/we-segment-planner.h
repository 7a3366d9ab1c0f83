/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Where to cut a source for split & stitch (spec §9.6): only at keyframes,
 * aiming for segments of the profile's target length, never shorter than its
 * minimum where that can be avoided, and no longer than its maximum unless the
 * source offers no keyframe to cut at (long or irregular GOPs then give fewer,
 * longer segments rather than a cut off a keyframe).
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
  gdouble start_s;   /* a keyframe time (0 for the first segment) */
  gdouble end_s;     /* the next segment's start; the duration for the last */
} WeSegment;

typedef struct {
  gdouble target_s;
  gdouble min_s;
  gdouble max_s;
  guint   slots;     /* worker slots free to share the work */
} WePlanLimits;

/* Returns: (transfer full) (element-type WeSegment): at least one segment.
 * One segment means "do not split": a single slot, a short source, or no
 * usable keyframe. @keyframes_s must be ascending. */
GArray *we_segment_plan (const gdouble      *keyframes_s,
                         guint               n_keyframes,
                         gdouble             duration_s,
                         const WePlanLimits *limits);

G_END_DECLS
