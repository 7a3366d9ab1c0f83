/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The embedded store: one SQLite database file (or :memory:), migrated to the
 * newest schema embedded in the binary when it is opened.
 */
#pragma once

#include "store/we-store.h"

G_BEGIN_DECLS

#define WE_TYPE_STORE_SQLITE (we_store_sqlite_get_type ())
G_DECLARE_FINAL_TYPE (WeStoreSqlite, we_store_sqlite, WE, STORE_SQLITE, GObject)

/* @url_or_path: "sqlite:///abs/path.db", "sqlite://" + any path, a plain
 * path or ":memory:". Parent directories are created.
 * Returns: (transfer full) (nullable): the store, or NULL with
 * WE_ERROR_SYS_DATABASE set */
WeStore *we_store_sqlite_new (const gchar *url_or_path,
                              GError     **error);

G_END_DECLS
