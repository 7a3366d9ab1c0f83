/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The file secrets backend: one secret per file under a directory, for tests
 * and small single-host installs. Reference "file:<name>" (or "<name>" when
 * this is the default backend) reads <dir>/<name>; names are relative paths
 * of [A-Za-z0-9._-] components, never "..". A file group or world may read is
 * refused, as ssh refuses such keys. One trailing newline is dropped, so
 * `echo secret > file` works. store() writes the file 0600, atomically.
 * Lookups touch the disk: call them from a worker thread.
 */
#pragma once

#include <webencode/we-secrets.h>

G_BEGIN_DECLS

#define WE_TYPE_SECRETS_FILE (we_secrets_file_get_type ())
G_DECLARE_FINAL_TYPE (WeSecretsFile, we_secrets_file, WE, SECRETS_FILE, GObject)

WeSecretsFile *we_secrets_file_new (const gchar *dir);

G_END_DECLS
