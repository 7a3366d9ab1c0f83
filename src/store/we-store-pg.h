/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The cluster store: PostgreSQL over libpq, selected by a postgresql:// or
 * postgres:// DATABASE_URL, migrated to the newest schema embedded in the
 * binary when it is opened. Behaves exactly like WeStoreSqlite (the same
 * we-store-test-suite passes on both); several daemons may share one
 * database.
 */
#pragma once

#include "store/we-store.h"

G_BEGIN_DECLS

#define WE_TYPE_STORE_PG (we_store_pg_get_type ())
G_DECLARE_FINAL_TYPE (WeStorePg, we_store_pg, WE, STORE_PG, GObject)

/* @url: a libpq connection URI, "postgresql://user:password@host:port/db?…".
 * Connects, applies missing migrations (serialised between processes by an
 * advisory lock) and keeps a small pool of connections that reconnect by
 * themselves after the server restarts. The password never appears in
 * messages or logs.
 * Returns: (transfer full) (nullable): the store, or NULL with
 * WE_ERROR_SYS_DATABASE set */
WeStore *we_store_pg_new (const gchar *url,
                          GError     **error);

G_END_DECLS
