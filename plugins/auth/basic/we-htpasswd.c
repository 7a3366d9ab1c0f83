/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "we-htpasswd.h"

#include <string.h>

void
we_htpasswd_entry_free (WeHtpasswdEntry *entry)
{
  if (entry == NULL)
    return;
  g_free (entry->username);
  if (entry->hash != NULL)
    memset (entry->hash, 0, strlen (entry->hash));
  g_free (entry->hash);
  g_free (entry);
}

gboolean
we_htpasswd_hash_is_supported (const gchar *hash)
{
  return g_str_has_prefix (hash, "$2y$") || g_str_has_prefix (hash, "$2b$") ||
         g_str_has_prefix (hash, "$6$");
}

static void
warn (WeHtpasswdWarnFunc func, gpointer data, guint line, const gchar *format, ...)
  G_GNUC_PRINTF (4, 5);

static void
warn (WeHtpasswdWarnFunc func, gpointer data, guint line, const gchar *format, ...)
{
  g_autofree gchar *message = NULL;
  va_list args;

  if (func == NULL)
    return;
  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  func (line, message, data);
}

GPtrArray *
we_htpasswd_parse (const gchar *contents, gsize len, WeHtpasswdWarnFunc warn_func,
                   gpointer user_data)
{
  GPtrArray *entries = g_ptr_array_new_with_free_func ((GDestroyNotify) we_htpasswd_entry_free);
  g_autoptr(GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
  /* a copy we can cut into lines and wipe afterwards */
  g_autofree gchar *text = g_strndup (contents, len);
  g_auto(GStrv) lines = g_strsplit (text, "\n", -1);

  memset (text, 0, strlen (text));
  for (guint i = 0; lines[i] != NULL; i++) {
    gchar *line = g_strstrip (lines[i]);
    gchar *colon;
    WeHtpasswdEntry *entry;

    if (line[0] == '\0' || line[0] == '#')
      continue;
    colon = strchr (line, ':');
    if (colon == NULL || colon == line || colon - line > WE_HTPASSWD_MAX_USERNAME) {
      warn (warn_func, user_data, i + 1, "not a user:hash line; ignored");
      continue;
    }
    *colon = '\0';
    if (!g_utf8_validate (line, -1, NULL)) {
      warn (warn_func, user_data, i + 1, "the user name is not UTF-8; ignored");
      continue;
    }
    if (!we_htpasswd_hash_is_supported (colon + 1)) {
      warn (warn_func, user_data, i + 1, "user '%s' has a plaintext, {SHA}, apr1 or other weak "
            "hash; ignored (use bcrypt: htpasswd -B)", line);
      continue;
    }
    if (g_hash_table_contains (seen, line)) {
      warn (warn_func, user_data, i + 1, "user '%s' listed twice; the first entry counts", line);
      continue;
    }
    entry = g_new0 (WeHtpasswdEntry, 1);
    entry->username = g_strdup (line);
    entry->hash = g_strdup (colon + 1);
    entry->line = i + 1;
    g_ptr_array_add (entries, entry);
    g_hash_table_add (seen, entry->username);
  }
  /* wipe the copy of the hashes we read */
  for (guint i = 0; lines[i] != NULL; i++)
    memset (lines[i], 0, strlen (lines[i]));
  return entries;
}
