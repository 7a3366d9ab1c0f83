/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Stream keys and SRT passphrases (spec §10.2, §13, issue 10): how they are
 * made, kept and checked. The ingest servers (RTMP publish name, SRT
 * streamid + passphrase) call we_stream_keys_lookup() and
 * we_stream_keys_unseal() when a publisher connects; the API issues, rotates
 * and reveals keys with the rest.
 *
 * A key is "we_live_" and 32 base62 characters (190 bits). The store keeps
 * three things of it: "sha256:<hex>" of the whole key (the lookup; a key
 * this random needs no slow hash), its last four characters (the hint the
 * UI shows) and a sealed copy: AES-256-GCM under a key derived from the
 * service secret (WeContentKeys, label "stream key seal"), bound to the
 * stream id and purpose so a sealed value cannot be moved to another row.
 * The SRT passphrase (32 base62 characters: libsrt takes 10–79) is kept
 * only sealed. Neither ever reaches the store, a log or a list response.
 */
#pragma once

#include "core/we-content-keys.h"
#include "store/we-store.h"

G_BEGIN_DECLS

#define WE_STREAM_KEY_PREFIX    "we_live_"
#define WE_STREAM_KEY_RANDOM    32   /* base62 characters after the prefix */
#define WE_STREAM_KEY_HINT_LEN  4

/* What a sealed value is for: part of what the seal is bound to. */
#define WE_STREAM_SEAL_KEY      "stream key"
#define WE_STREAM_SEAL_SRT      "srt passphrase"

/* Returns: (transfer full): a new stream key, "we_live_" + 32 base62 */
gchar    *we_stream_keys_generate_key        (void);
/* Returns: (transfer full): a new SRT passphrase, 32 base62 */
gchar    *we_stream_keys_generate_passphrase (void);
/* Returns: (transfer full): a new public play name, 20 lower-case base36 */
gchar    *we_stream_keys_generate_play_name  (void);
/* TRUE when @key has the shape of a stream key (prefix, length, alphabet). */
gboolean  we_stream_keys_is_well_formed      (const gchar *key);
/* Returns: (transfer full): "sha256:<hex>" of @key */
gchar    *we_stream_keys_hash                (const gchar *key);

/* Seals @plaintext for @stream_id and @purpose. Returns: (transfer full)
 * (nullable): "v1:" + base64 (nonce ‖ ciphertext ‖ tag) */
gchar    *we_stream_keys_seal                (WeContentKeys *keys,
                                              const gchar   *stream_id,
                                              const gchar   *purpose,
                                              const gchar   *plaintext,
                                              GError       **error);
/* Opens what we_stream_keys_seal() made for the same @stream_id and @purpose.
 * Errors: WE_ERROR_SYS_INTERNAL when it was tampered with, moved or sealed
 * under another service secret. Returns: (transfer full) (nullable) */
gchar    *we_stream_keys_unseal              (WeContentKeys *keys,
                                              const gchar   *stream_id,
                                              const gchar   *purpose,
                                              const gchar   *sealed,
                                              GError       **error);

/* Gives @stream (id set) a new key and SRT passphrase: fills key_hash,
 * key_sealed, key_hint and srt_passphrase_sealed. @key_out and
 * @passphrase_out receive the plaintexts (transfer full) for the one
 * response that shows them. */
gboolean  we_stream_keys_issue               (WeContentKeys *keys,
                                              WeStream      *stream,
                                              gchar        **key_out,
                                              gchar        **passphrase_out,
                                              GError       **error);

/* The stream @presented_key belongs to, for an ingest's publish attempt.
 * Blocking (a store read): call it from the ingest's thread, never the main
 * loop. A malformed key fails before the store is asked; the stored hash
 * is compared with the presented key's in constant time. Errors:
 * WE_ERROR_STR_NOT_FOUND for a wrong (or rotated-away) key, store errors.
 * The messages never contain the key. */
gboolean  we_stream_keys_lookup              (WeStore       *store,
                                              const gchar   *presented_key,
                                              WeStream     **stream,
                                              GError       **error);

G_END_DECLS
