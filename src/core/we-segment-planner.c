/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "we-segment-planner.h"

static void
add_segment (GArray *plan, gdouble start, gdouble end)
{
  WeSegment seg = { start, end };

  g_array_append_val (plan, seg);
}

GArray *
we_segment_plan (const gdouble *keyframes_s, guint n_keyframes, gdouble duration_s,
                 const WePlanLimits *limits)
{
  GArray *plan = g_array_new (FALSE, FALSE, sizeof (WeSegment));
  gdouble target, start = 0, prev_kf = -1;
  guint slots = MAX (limits->slots, 1);

  /* splitting costs a stitch; it only pays when several slots share the work
   * and the source is long enough for two minimum-length segments */
  if (slots < 2 || duration_s < 2 * limits->min_s || n_keyframes < 2) {
    add_segment (plan, 0, duration_s);
    return plan;
  }
  /* enough segments to keep every slot busy, within the profile's limits */
  target = CLAMP (duration_s / slots, limits->min_s, limits->target_s);

  for (guint i = 0; i < n_keyframes; i++) {
    gdouble kf = keyframes_s[i];
    gdouble len = kf - start;

    if (kf <= start)
      continue;
    if (duration_s - kf < limits->min_s)
      break; /* a cut here would leave a runt at the end */
    if (len > limits->max_s && prev_kf > start && prev_kf - start >= limits->min_s) {
      /* the target was overshot by a long GOP: cut at the last keyframe that
       * kept the segment within its maximum */
      add_segment (plan, start, prev_kf);
      start = prev_kf;
      len = kf - start;
    }
    if (len >= target) {
      add_segment (plan, start, kf);
      start = kf;
    }
    prev_kf = kf;
  }
  add_segment (plan, start, duration_s);

  /* a last segment below the minimum joins its predecessor */
  if (plan->len >= 2) {
    WeSegment *last = &g_array_index (plan, WeSegment, plan->len - 1);
    WeSegment *before = &g_array_index (plan, WeSegment, plan->len - 2);
    if (last->end_s - last->start_s < limits->min_s) {
      before->end_s = last->end_s;
      g_array_set_size (plan, plan->len - 1);
    }
  }
  return plan;
}
