/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * htpasswd files: "user:hash" lines. Only hashes we can check safely
 * (bcrypt $2y$/$2b$, SHA-512 crypt $6$) are returned; every other line is
 * reported through @warn and skipped, never accepted. The file is an
 * operator's, but it may be edited by tools we don't control: the parser
 * must take anything (tests/fuzz/fuzz-htpasswd.c).
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define WE_HTPASSWD_MAX_USERNAME 256

typedef struct {
  gchar *username;
  gchar *hash;
  guint  line;
} WeHtpasswdEntry;

void     we_htpasswd_entry_free   (WeHtpasswdEntry *entry);
gboolean we_htpasswd_hash_is_supported (const gchar *hash);

typedef void (*WeHtpasswdWarnFunc) (guint line, const gchar *message, gpointer user_data);

/* @contents need not be NUL-terminated. The first entry of a user wins.
 * Returns: (transfer container) (element-type WeHtpasswdEntry) */
GPtrArray *we_htpasswd_parse (const gchar        *contents,
                              gsize               len,
                              WeHtpasswdWarnFunc  warn,
                              gpointer            user_data);

G_END_DECLS
