/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "we-segment-planner.h"

static GArray *
every (gdouble step, gdouble duration)
{
  GArray *kf = g_array_new (FALSE, FALSE, sizeof (gdouble));

  for (gdouble t = 0; t < duration - 1e-9; t += step)
    g_array_append_val (kf, t);
  return kf;
}

static GArray *
plan (GArray *kf, gdouble duration, gdouble target, gdouble min, gdouble max, guint slots)
{
  WePlanLimits limits = { target, min, max, slots };
  return we_segment_plan ((const gdouble *) kf->data, kf->len, duration, &limits);
}

/* Every plan covers [0, duration) without gaps and cuts only at keyframes. */
static void
assert_valid (GArray *p, GArray *kf, gdouble duration)
{
  g_assert_cmpuint (p->len, >=, 1);
  g_assert_cmpfloat (g_array_index (p, WeSegment, 0).start_s, ==, 0);
  g_assert_cmpfloat (g_array_index (p, WeSegment, p->len - 1).end_s, ==, duration);
  for (guint i = 0; i < p->len; i++) {
    WeSegment *s = &g_array_index (p, WeSegment, i);
    g_assert_cmpfloat (s->end_s, >, s->start_s);
    if (i > 0) {
      gboolean on_keyframe = FALSE;
      g_assert_cmpfloat (s->start_s, ==, g_array_index (p, WeSegment, i - 1).end_s);
      for (guint k = 0; k < kf->len; k++)
        on_keyframe |= g_array_index (kf, gdouble, k) == s->start_s;
      g_assert_true (on_keyframe);
    }
  }
}

static void
test_single_slot_or_short (void)
{
  g_autoptr(GArray) kf = every (2, 300);
  g_autoptr(GArray) one = plan (kf, 300, 30, 10, 120, 1);
  g_autoptr(GArray) shorter = plan (kf, 15, 30, 10, 120, 4);
  g_autoptr(GArray) no_kf = g_array_new (FALSE, FALSE, sizeof (gdouble));
  g_autoptr(GArray) none = plan (no_kf, 300, 30, 10, 120, 4);

  g_assert_cmpuint (one->len, ==, 1);
  g_assert_cmpuint (shorter->len, ==, 1);
  g_assert_cmpuint (none->len, ==, 1);
  assert_valid (one, kf, 300);
}

static void
test_regular_gop (void)
{
  g_autoptr(GArray) kf = every (2, 300);
  /* 300 s over 2 slots: the 30 s target wins over 150 s per slot */
  g_autoptr(GArray) p = plan (kf, 300, 30, 10, 120, 2);

  assert_valid (p, kf, 300);
  g_assert_cmpuint (p->len, ==, 10);
  for (guint i = 0; i < p->len; i++) {
    WeSegment *s = &g_array_index (p, WeSegment, i);
    g_assert_cmpfloat_with_epsilon (s->end_s - s->start_s, 30, 1e-9);
  }
}

static void
test_keeps_slots_busy (void)
{
  g_autoptr(GArray) kf = every (1, 60);
  /* 60 s over 4 slots: 15 s segments, not two 30 s ones */
  g_autoptr(GArray) p = plan (kf, 60, 30, 10, 120, 4);
  /* but never below the minimum: 25 s over 8 slots gives 2 */
  g_autoptr(GArray) q = plan (kf, 25, 30, 10, 120, 8);

  assert_valid (p, kf, 60);
  g_assert_cmpuint (p->len, ==, 4);
  assert_valid (q, kf, 25);
  g_assert_cmpuint (q->len, ==, 2);
}

static void
test_runt_merged (void)
{
  g_autoptr(GArray) kf = every (2, 65);
  g_autoptr(GArray) p = plan (kf, 65, 30, 10, 120, 2);

  assert_valid (p, kf, 65);
  /* 0-30, 30-65: the 5 s tail is not a segment of its own */
  g_assert_cmpuint (p->len, ==, 2);
  g_assert_cmpfloat (g_array_index (p, WeSegment, 1).end_s - g_array_index (p, WeSegment, 1).start_s,
                     >=, 10);
}

static void
test_long_gop_gives_longer_segments (void)
{
  /* keyframes only every 50 s: segments follow the keyframes */
  g_autoptr(GArray) kf = every (50, 300);
  g_autoptr(GArray) p = plan (kf, 300, 30, 10, 120, 2);
  /* one keyframe at 0 and one at 200 s: a 200 s segment rather than a cut
   * off a keyframe */
  gdouble sparse[] = { 0, 200 };
  WePlanLimits limits = { 30, 10, 120, 2 };
  g_autoptr(GArray) q = we_segment_plan (sparse, 2, 300, &limits);

  assert_valid (p, kf, 300);
  g_assert_cmpuint (p->len, ==, 6);
  g_assert_cmpuint (q->len, ==, 2);
  g_assert_cmpfloat (g_array_index (q, WeSegment, 1).start_s, ==, 200);
}

static void
test_irregular_gop_respects_max (void)
{
  /* dense keyframes, then a 100 s gap, then dense again */
  gdouble kfs[] = { 0, 5, 10, 15, 20, 25, 125, 130, 135, 140, 145, 150, 155, 160 };
  WePlanLimits limits = { 60, 10, 120, 2 };
  g_autoptr(GArray) kf = g_array_new (FALSE, FALSE, sizeof (gdouble));
  g_autoptr(GArray) p = NULL;

  g_array_append_vals (kf, kfs, G_N_ELEMENTS (kfs));
  p = we_segment_plan (kfs, G_N_ELEMENTS (kfs), 200, &limits);
  assert_valid (p, kf, 200);
  /* 0-125 would exceed 120 s: the cut falls back to 25 */
  g_assert_cmpfloat (g_array_index (p, WeSegment, 0).end_s, ==, 25);
  for (guint i = 0; i < p->len; i++) {
    WeSegment *s = &g_array_index (p, WeSegment, i);
    g_assert_cmpfloat (s->end_s - s->start_s, <=, 120);
  }
}

static void
test_odd_keyframe_times (void)
{
  /* GOP of 37 frames at 25 fps, and a first keyframe after 0 */
  g_autoptr(GArray) kf = g_array_new (FALSE, FALSE, sizeof (gdouble));
  g_autoptr(GArray) p = NULL;

  for (guint i = 0; i < 100; i++) {
    gdouble t = 0.04 + i * 37 / 25.0;
    g_array_append_val (kf, t);
  }
  p = plan (kf, 148.0, 30, 10, 120, 3);
  assert_valid (p, kf, 148.0);
  g_assert_cmpuint (p->len, >=, 3);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/segment-planner/single-slot-or-short", test_single_slot_or_short);
  g_test_add_func ("/segment-planner/regular-gop", test_regular_gop);
  g_test_add_func ("/segment-planner/keeps-slots-busy", test_keeps_slots_busy);
  g_test_add_func ("/segment-planner/runt-merged", test_runt_merged);
  g_test_add_func ("/segment-planner/long-gop", test_long_gop_gives_longer_segments);
  g_test_add_func ("/segment-planner/irregular-gop-max", test_irregular_gop_respects_max);
  g_test_add_func ("/segment-planner/odd-keyframe-times", test_odd_keyframe_times);
  return g_test_run ();
}
