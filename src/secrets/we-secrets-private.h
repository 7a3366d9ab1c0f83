/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Shared by the secrets backends: reference parsing and limits. A reference
 * comes from configuration an admin wrote (or, through a plugin, from
 * somewhere less trusted), so it is checked before any backend acts on it,
 * and error messages quote it only once it has passed the check.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Long enough for any KV path; keeps error messages and URLs bounded. */
#define WE_SECRETS_MAX_REF   512
/* A secret is a key or a password, not a file. */
#define WE_SECRETS_MAX_VALUE (64 * 1024)

/* Checks @ref is printable ASCII without spaces and at most
 * WE_SECRETS_MAX_REF long, and splits off a known scheme prefix
 * ("file:", "vault:", "secret-service:").
 * @scheme: (out) (transfer none) (nullable): the scheme without ':', NULL when
 *   the reference names none
 * @rest: (out) (transfer none): what follows the prefix
 * Errors: WE_ERROR_PLG_INVALID_CONFIG, without quoting @ref. */
gboolean we_secrets_ref_split (const gchar  *ref,
                               const gchar **scheme,
                               const gchar **rest,
                               GError      **error);

/* TRUE when @path is a relative path of [A-Za-z0-9._-] components separated
 * by single '/', none of them "." or "..", at most @max_len long. */
gboolean we_secrets_path_is_safe (const gchar *path,
                                  gsize        max_len);

/* A GBytes holding a copy of @data that is overwritten when freed. */
GBytes  *we_secrets_bytes_new (gconstpointer data,
                               gsize         size);

G_END_DECLS
