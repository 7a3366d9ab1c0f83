/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Content keys for AES-128 HLS (spec §19.3 "Encryption"). A job's key is
 * derived from a service secret and the job id (HMAC-SHA256, first 16
 * bytes), so no key is ever written to the store or a log: every kernel
 * that holds the secret can serve any job's key, and a retried task
 * encrypts with the same key its playlists already name.
 *
 * The secret: WE_CONTENT_KEY_SECRET / [security] content_key_secret as
 * "env:VAR" or "file:/path" (at least 32 characters), or else a random one
 * kept in <data_dir>/content-key.secret (mode 0600), made on first start.
 * Kernels of one cluster must share it.
 */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

#define WE_CONTENT_KEY_SIZE 16

#define WE_TYPE_CONTENT_KEYS (we_content_keys_get_type ())
G_DECLARE_FINAL_TYPE (WeContentKeys, we_content_keys, WE, CONTENT_KEYS, GObject)

/* @secret_ref: (nullable): "env:VAR" or "file:/path"; NULL uses @data_dir.
 * Errors: WE_ERROR_SYS_* naming the reference, never the secret.
 * Returns: (transfer full) (nullable) */
WeContentKeys *we_content_keys_new    (const gchar  *secret_ref,
                                       const gchar  *data_dir,
                                       GError      **error);
/* Fills @key with @job_id's content key. */
void           we_content_keys_derive (WeContentKeys *self,
                                       const gchar   *job_id,
                                       guint8         key[WE_CONTENT_KEY_SIZE]);
/* Derives 32 bytes for another purpose from the same service secret:
 * HMAC-SHA256(secret, "webencode <label>\n<subject>"). @label names the
 * purpose ("webhook secret", "login state"), so no two purposes share keys.
 * Used for webhook signing secrets and login state, which then need no
 * storage either. */
void           we_content_keys_derive_for (WeContentKeys *self,
                                           const gchar   *label,
                                           const gchar   *subject,
                                           guint8         out[32]);
/* Returns: (transfer full): the key as 32 lower-case hex digits */
gchar         *we_content_keys_derive_hex (WeContentKeys *self,
                                           const gchar   *job_id);
/* The URI an encrypted job's playlists name for its key: the API serves
 * it (GET /v1/jobs/{id}/key) to callers allowed to read the job.
 * Returns: (transfer full) */
gchar         *we_content_keys_uri    (const gchar *job_id);

G_END_DECLS
