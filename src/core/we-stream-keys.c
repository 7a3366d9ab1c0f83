/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"
#include "we-stream-keys.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>
#include <gnutls/gnutls.h>
#include <gnutls/crypto.h>
#include <webencode/we-error.h>

#define SEAL_LABEL    "stream key seal"
#define SEAL_VERSION  "v1:"
#define NONCE_LEN     12
#define TAG_LEN       16
#define PASSPHRASE_LEN 32
#define PLAY_NAME_LEN  20

static const gchar base62[] =
  "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

static void
random_bytes (guint8 *out, gsize len)
{
  gsize done = 0;

  while (done < len) {
    ssize_t n = getrandom (out + done, len - done, 0);

    /* getrandom only fails before the pool is seeded or on EINTR: wait */
    if (n < 0) {
      g_assert (errno == EINTR || errno == EAGAIN);
      continue;
    }
    done += (gsize) n;
  }
}

/* @len characters of @alphabet (@n of them), uniformly: bytes at or above
 * the largest multiple of @n are drawn again rather than folded. */
static gchar *
random_string (const gchar *alphabet, guint n, gsize len)
{
  gchar *out = g_malloc (len + 1);
  guint limit = 256 - 256 % n;
  gsize filled = 0;

  while (filled < len) {
    guint8 pool[64];

    random_bytes (pool, sizeof pool);
    for (gsize i = 0; i < sizeof pool && filled < len; i++) {
      if (pool[i] < limit)
        out[filled++] = alphabet[pool[i] % n];
    }
    memset (pool, 0, sizeof pool);
  }
  out[len] = '\0';
  return out;
}

gchar *
we_stream_keys_generate_key (void)
{
  g_autofree gchar *random = random_string (base62, 62, WE_STREAM_KEY_RANDOM);
  gchar *key = g_strconcat (WE_STREAM_KEY_PREFIX, random, NULL);

  memset (random, 0, strlen (random));
  return key;
}

gchar *
we_stream_keys_generate_passphrase (void)
{
  return random_string (base62, 62, PASSPHRASE_LEN);
}

gchar *
we_stream_keys_generate_play_name (void)
{
  /* lower case: it ends up in URLs and file names that may fold case */
  return random_string ("0123456789abcdefghijklmnopqrstuvwxyz", 36, PLAY_NAME_LEN);
}

gboolean
we_stream_keys_is_well_formed (const gchar *key)
{
  const gchar *random;

  if (key == NULL || !g_str_has_prefix (key, WE_STREAM_KEY_PREFIX))
    return FALSE;
  random = key + strlen (WE_STREAM_KEY_PREFIX);
  if (strlen (random) != WE_STREAM_KEY_RANDOM)
    return FALSE;
  for (const gchar *p = random; *p != '\0'; p++) {
    if (!g_ascii_isalnum (*p))
      return FALSE;
  }
  return TRUE;
}

gchar *
we_stream_keys_hash (const gchar *key)
{
  g_autofree gchar *hex = NULL;

  g_return_val_if_fail (key != NULL, NULL);
  hex = g_compute_checksum_for_string (G_CHECKSUM_SHA256, key, -1);
  return g_strconcat ("sha256:", hex, NULL);
}

/* The associated data the seal is bound to. */
static gchar *
seal_aad (const gchar *stream_id, const gchar *purpose)
{
  return g_strdup_printf ("webencode %s\n%s", purpose, stream_id);
}

static gboolean
seal_cipher (WeContentKeys *keys, gnutls_aead_cipher_hd_t *handle, GError **error)
{
  guint8 raw[32];
  gnutls_datum_t datum = { raw, sizeof raw };
  gint rc;

  we_content_keys_derive_for (keys, SEAL_LABEL, "", raw);
  rc = gnutls_aead_cipher_init (handle, GNUTLS_CIPHER_AES_256_GCM, &datum);
  memset (raw, 0, sizeof raw);
  if (rc < 0) {
    g_set_error (error, WE_ERROR, WE_ERROR_SYS_INTERNAL, "stream key seal: %s",
                 gnutls_strerror (rc));
    return FALSE;
  }
  return TRUE;
}

gchar *
we_stream_keys_seal (WeContentKeys *keys, const gchar *stream_id, const gchar *purpose,
                     const gchar *plaintext, GError **error)
{
  gnutls_aead_cipher_hd_t handle = NULL;
  g_autofree gchar *aad = NULL;
  g_autofree guint8 *out = NULL;
  g_autofree gchar *b64 = NULL;
  gsize text_len, ct_len;
  gint rc;

  g_return_val_if_fail (WE_IS_CONTENT_KEYS (keys), NULL);
  g_return_val_if_fail (stream_id != NULL && purpose != NULL && plaintext != NULL, NULL);

  if (!seal_cipher (keys, &handle, error))
    return NULL;
  aad = seal_aad (stream_id, purpose);
  text_len = strlen (plaintext);
  out = g_malloc (NONCE_LEN + text_len + TAG_LEN);
  random_bytes (out, NONCE_LEN);
  ct_len = text_len + TAG_LEN;
  rc = gnutls_aead_cipher_encrypt (handle, out, NONCE_LEN, aad, strlen (aad), TAG_LEN,
                                   plaintext, text_len, out + NONCE_LEN, &ct_len);
  gnutls_aead_cipher_deinit (handle);
  if (rc < 0) {
    g_set_error (error, WE_ERROR, WE_ERROR_SYS_INTERNAL, "stream key seal: %s",
                 gnutls_strerror (rc));
    return NULL;
  }
  b64 = g_base64_encode (out, NONCE_LEN + ct_len);
  return g_strconcat (SEAL_VERSION, b64, NULL);
}

gchar *
we_stream_keys_unseal (WeContentKeys *keys, const gchar *stream_id, const gchar *purpose,
                       const gchar *sealed, GError **error)
{
  gnutls_aead_cipher_hd_t handle = NULL;
  g_autofree gchar *aad = NULL;
  g_autofree guint8 *raw = NULL;
  g_autofree gchar *plain = NULL;
  gsize raw_len = 0, plain_len;
  gint rc;

  g_return_val_if_fail (WE_IS_CONTENT_KEYS (keys), NULL);
  g_return_val_if_fail (stream_id != NULL && purpose != NULL, NULL);

  if (sealed == NULL || !g_str_has_prefix (sealed, SEAL_VERSION)) {
    g_set_error (error, WE_ERROR, WE_ERROR_SYS_INTERNAL,
                 "stream %s: the sealed %s has an unknown format", stream_id, purpose);
    return NULL;
  }
  raw = g_base64_decode (sealed + strlen (SEAL_VERSION), &raw_len);
  if (raw_len < NONCE_LEN + TAG_LEN) {
    g_set_error (error, WE_ERROR, WE_ERROR_SYS_INTERNAL, "stream %s: the sealed %s is too short",
                 stream_id, purpose);
    return NULL;
  }
  if (!seal_cipher (keys, &handle, error))
    return NULL;
  aad = seal_aad (stream_id, purpose);
  plain_len = raw_len - NONCE_LEN - TAG_LEN;
  plain = g_malloc0 (plain_len + 1);
  rc = gnutls_aead_cipher_decrypt (handle, raw, NONCE_LEN, aad, strlen (aad), TAG_LEN,
                                   raw + NONCE_LEN, raw_len - NONCE_LEN, plain, &plain_len);
  gnutls_aead_cipher_deinit (handle);
  if (rc < 0) {
    /* tampered with, moved to another stream, or another service secret */
    g_set_error (error, WE_ERROR, WE_ERROR_SYS_INTERNAL,
                 "stream %s: the sealed %s does not open with this service secret",
                 stream_id, purpose);
    return NULL;
  }
  plain[plain_len] = '\0';
  if (strlen (plain) != plain_len || !g_utf8_validate (plain, -1, NULL)) {
    memset (plain, 0, plain_len);
    g_set_error (error, WE_ERROR, WE_ERROR_SYS_INTERNAL, "stream %s: the sealed %s is garbled",
                 stream_id, purpose);
    return NULL;
  }
  return g_steal_pointer (&plain);
}

gboolean
we_stream_keys_issue (WeContentKeys *keys, WeStream *stream, gchar **key_out,
                      gchar **passphrase_out, GError **error)
{
  g_autofree gchar *key = we_stream_keys_generate_key ();
  g_autofree gchar *pass = we_stream_keys_generate_passphrase ();
  g_autofree gchar *key_sealed = NULL;
  g_autofree gchar *pass_sealed = NULL;

  g_return_val_if_fail (stream != NULL && stream->id != NULL, FALSE);
  key_sealed = we_stream_keys_seal (keys, stream->id, WE_STREAM_SEAL_KEY, key, error);
  if (key_sealed == NULL)
    return FALSE;
  pass_sealed = we_stream_keys_seal (keys, stream->id, WE_STREAM_SEAL_SRT, pass, error);
  if (pass_sealed == NULL)
    return FALSE;
  g_free (stream->key_hash);
  stream->key_hash = we_stream_keys_hash (key);
  g_free (stream->key_hint);
  stream->key_hint = g_strdup (key + strlen (key) - WE_STREAM_KEY_HINT_LEN);
  g_free (stream->key_sealed);
  stream->key_sealed = g_steal_pointer (&key_sealed);
  g_free (stream->srt_passphrase_sealed);
  stream->srt_passphrase_sealed = g_steal_pointer (&pass_sealed);
  if (key_out != NULL)
    *key_out = g_steal_pointer (&key);
  if (passphrase_out != NULL)
    *passphrase_out = g_steal_pointer (&pass);
  return TRUE;
}

/* Equal strings in time that does not depend on where they differ. */
static gboolean
equal_constant_time (const gchar *a, const gchar *b)
{
  gsize la = strlen (a), lb = strlen (b);
  guint8 diff = la != lb;

  for (gsize i = 0; i < MIN (la, lb); i++)
    diff |= (guint8) (a[i] ^ b[i]);
  return diff == 0;
}

gboolean
we_stream_keys_lookup (WeStore *store, const gchar *presented_key, WeStream **stream,
                       GError **error)
{
  g_autofree gchar *hash = NULL;
  g_autoptr(WeStream) found = NULL;
  g_autoptr(GError) local = NULL;

  g_return_val_if_fail (WE_IS_STORE (store), FALSE);
  g_return_val_if_fail (stream != NULL, FALSE);

  *stream = NULL;
  if (!we_stream_keys_is_well_formed (presented_key)) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_STR_NOT_FOUND, "no stream has that key");
    return FALSE;
  }
  hash = we_stream_keys_hash (presented_key);
  found = we_store_stream_get_by_key_hash (store, hash, &local);
  if (found == NULL) {
    if (g_error_matches (local, WE_ERROR, WE_ERROR_STR_NOT_FOUND))
      g_set_error_literal (error, WE_ERROR, WE_ERROR_STR_NOT_FOUND, "no stream has that key");
    else
      g_propagate_error (error, g_steal_pointer (&local));
    return FALSE;
  }
  /* the index found it by hash; compare again without an early exit, so a
   * backend that matched loosely (collation, trailing blanks) lets nothing
   * through and the answer's timing says nothing about the stored hash */
  if (found->key_hash == NULL || !equal_constant_time (found->key_hash, hash)) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_STR_NOT_FOUND, "no stream has that key");
    return FALSE;
  }
  *stream = g_steal_pointer (&found);
  return TRUE;
}
