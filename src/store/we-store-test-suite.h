/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The behaviour every WeStore backend must show, as GTest cases. A backend's
 * test program calls we_store_test_suite_add() once per configuration; each
 * case gets a fresh, empty store from @factory.
 */
#pragma once

#include "store/we-store.h"

G_BEGIN_DECLS

typedef WeStore *(*WeStoreTestFactory) (GError **error);

/* Registers the cases under @prefix (e.g. "/store/sqlite/file"). Call before
 * g_test_run(). */
void we_store_test_suite_add (const gchar *prefix,
                              WeStore *(*factory) (GError **error));

/* Several threads claim the due deliveries of one webhook through @a and @b
 * (two stores on one database: two kernels) and asserts none is handed out
 * twice. @a and @b may be the same store. Both must start empty. */
void we_store_test_delivery_claim_race (WeStore *a, WeStore *b);

G_END_DECLS
