/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"
#include "we-login-limiter.h"

/* entries are dropped lazily; past this many, expired ones are swept so a
 * flood of distinct addresses cannot grow the table without bound */
#define SWEEP_AT 4096

typedef struct {
  gint64 window_start;
  guint  failures;
} Entry;

struct _WeLoginLimiter {
  guint       max_failures;
  gint64      window_us;
  GHashTable *clients;  /* address → Entry */
};

WeLoginLimiter *
we_login_limiter_new (guint max_failures, guint window_s)
{
  WeLoginLimiter *self = g_new0 (WeLoginLimiter, 1);

  self->max_failures = max_failures;
  self->window_us = (gint64) MAX (window_s, 1) * G_USEC_PER_SEC;
  self->clients = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  return self;
}

void
we_login_limiter_free (WeLoginLimiter *self)
{
  if (self == NULL)
    return;
  g_hash_table_unref (self->clients);
  g_free (self);
}

static void
sweep (WeLoginLimiter *self, gint64 now_us)
{
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, self->clients);
  while (g_hash_table_iter_next (&iter, NULL, &value)) {
    if (now_us - ((Entry *) value)->window_start >= self->window_us)
      g_hash_table_iter_remove (&iter);
  }
}

guint
we_login_limiter_check (WeLoginLimiter *self, const gchar *client, gint64 now_us)
{
  Entry *entry;
  gint64 left;

  if (self->max_failures == 0 || client == NULL)
    return 0;
  entry = g_hash_table_lookup (self->clients, client);
  if (entry == NULL)
    return 0;
  left = entry->window_start + self->window_us - now_us;
  if (left <= 0) {
    g_hash_table_remove (self->clients, client);
    return 0;
  }
  if (entry->failures < self->max_failures)
    return 0;
  return (guint) ((left + G_USEC_PER_SEC - 1) / G_USEC_PER_SEC);
}

void
we_login_limiter_failed (WeLoginLimiter *self, const gchar *client, gint64 now_us)
{
  Entry *entry;

  if (self->max_failures == 0 || client == NULL)
    return;
  entry = g_hash_table_lookup (self->clients, client);
  if (entry != NULL && now_us - entry->window_start >= self->window_us) {
    g_hash_table_remove (self->clients, client);
    entry = NULL;
  }
  if (entry == NULL) {
    if (g_hash_table_size (self->clients) >= SWEEP_AT)
      sweep (self, now_us);
    entry = g_new0 (Entry, 1);
    entry->window_start = now_us;
    g_hash_table_insert (self->clients, g_strdup (client), entry);
  }
  entry->failures++;
}
