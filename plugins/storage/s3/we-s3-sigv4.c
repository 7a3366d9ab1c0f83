/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "we-s3-sigv4.h"

#include <string.h>

#define SHA256_LEN 32

static gboolean
is_unreserved (guchar c)
{
  return g_ascii_isalnum (c) || c == '-' || c == '_' || c == '.' || c == '~';
}

gchar *
we_s3_uri_encode (const gchar *str, gboolean keep_slash)
{
  static const gchar hex[] = "0123456789ABCDEF";
  GString *out = g_string_sized_new (strlen (str) + 16);

  for (const guchar *p = (const guchar *) str; *p != '\0'; p++) {
    if (is_unreserved (*p) || (keep_slash && *p == '/')) {
      g_string_append_c (out, *p);
    } else {
      g_string_append_c (out, '%');
      g_string_append_c (out, hex[*p >> 4]);
      g_string_append_c (out, hex[*p & 0xf]);
    }
  }
  return g_string_free (out, FALSE);
}

gchar *
we_s3_amz_date (GDateTime *when)
{
  g_autoptr(GDateTime) utc = g_date_time_to_utc (when);
  return g_date_time_format (utc, "%Y%m%dT%H%M%SZ");
}

gchar *
we_s3_sha256_hex (const guint8 *data, gsize len)
{
  return g_compute_checksum_for_data (G_CHECKSUM_SHA256, data, len);
}

typedef struct {
  gchar *name;
  gchar *value;
} Pair;

static void
pair_clear (Pair *p)
{
  g_free (p->name);
  g_free (p->value);
}

static gint
compare_pairs (gconstpointer a, gconstpointer b)
{
  const Pair *pa = a;
  const Pair *pb = b;
  gint rc = strcmp (pa->name, pb->name);
  return rc != 0 ? rc : strcmp (pa->value, pb->value);
}

gchar *
we_s3_canonical_query (const gchar * const *params)
{
  g_autoptr(GArray) pairs = g_array_new (FALSE, TRUE, sizeof (Pair));
  GString *out = g_string_new (NULL);

  g_array_set_clear_func (pairs, (GDestroyNotify) pair_clear);
  for (guint i = 0; params != NULL && params[i] != NULL && params[i + 1] != NULL; i += 2) {
    Pair p = { we_s3_uri_encode (params[i], FALSE), we_s3_uri_encode (params[i + 1], FALSE) };
    g_array_append_val (pairs, p);
  }
  /* sorted by the encoded names, byte order, as the signature requires */
  g_array_sort (pairs, compare_pairs);
  for (guint i = 0; i < pairs->len; i++) {
    const Pair *p = &g_array_index (pairs, Pair, i);
    if (i > 0)
      g_string_append_c (out, '&');
    g_string_append_printf (out, "%s=%s", p->name, p->value);
  }
  return g_string_free (out, FALSE);
}

/* Header values are trimmed and inner runs of spaces folded to one. */
static gchar *
canonical_header_value (const gchar *value)
{
  GString *out = g_string_new (NULL);
  gboolean space = FALSE;

  while (*value == ' ' || *value == '\t')
    value++;
  for (const gchar *p = value; *p != '\0'; p++) {
    if (*p == ' ' || *p == '\t') {
      space = TRUE;
      continue;
    }
    if (space && out->len > 0)
      g_string_append_c (out, ' ');
    space = FALSE;
    g_string_append_c (out, *p);
  }
  return g_string_free (out, FALSE);
}

gchar *
we_s3_canonical_request (const gchar *method, const gchar *canonical_uri,
                         const gchar *canonical_query, const gchar * const *headers,
                         const gchar *payload_hash, gchar **signed_headers)
{
  g_autoptr(GArray) pairs = g_array_new (FALSE, TRUE, sizeof (Pair));
  g_autoptr(GString) names = g_string_new (NULL);
  GString *out = g_string_new (NULL);

  g_array_set_clear_func (pairs, (GDestroyNotify) pair_clear);
  for (guint i = 0; headers != NULL && headers[i] != NULL && headers[i + 1] != NULL; i += 2) {
    Pair p = { g_ascii_strdown (headers[i], -1), canonical_header_value (headers[i + 1]) };
    g_array_append_val (pairs, p);
  }
  g_array_sort (pairs, compare_pairs);

  g_string_append_printf (out, "%s\n%s\n%s\n", method, canonical_uri,
                          canonical_query != NULL ? canonical_query : "");
  for (guint i = 0; i < pairs->len; i++) {
    const Pair *p = &g_array_index (pairs, Pair, i);
    g_string_append_printf (out, "%s:%s\n", p->name, p->value);
    if (i > 0)
      g_string_append_c (names, ';');
    g_string_append (names, p->name);
  }
  g_string_append_printf (out, "\n%s\n%s", names->str, payload_hash);
  if (signed_headers != NULL)
    *signed_headers = g_strdup (names->str);
  return g_string_free (out, FALSE);
}

static const gchar *
service_of (const WeS3Credentials *creds)
{
  return creds->service != NULL ? creds->service : "s3";
}

static gchar *
scope_for (const WeS3Credentials *creds, const gchar *amz_date)
{
  return g_strdup_printf ("%.8s/%s/%s/aws4_request", amz_date, creds->region, service_of (creds));
}

gchar *
we_s3_string_to_sign (const WeS3Credentials *creds, const gchar *amz_date,
                      const gchar *canonical_request)
{
  g_autofree gchar *scope = scope_for (creds, amz_date);
  g_autofree gchar *hash = g_compute_checksum_for_string (G_CHECKSUM_SHA256, canonical_request, -1);

  return g_strdup_printf (WE_S3_ALGORITHM "\n%s\n%s\n%s", amz_date, scope, hash);
}

/* One link of the key chain: HMAC-SHA256(key, data) into @out. */
static void
hmac_step (const guint8 *key, gsize key_len, const gchar *data, guint8 out[SHA256_LEN])
{
  g_autoptr(GHmac) hmac = g_hmac_new (G_CHECKSUM_SHA256, key, key_len);
  gsize len = SHA256_LEN;

  g_hmac_update (hmac, (const guchar *) data, strlen (data));
  g_hmac_get_digest (hmac, out, &len);
  g_assert (len == SHA256_LEN);
}

gchar *
we_s3_signature (const WeS3Credentials *creds, const gchar *amz_date,
                 const gchar *string_to_sign)
{
  g_autofree gchar *date = g_strndup (amz_date, 8);
  g_autofree gchar *secret = g_strconcat ("AWS4", creds->secret_access_key, NULL);
  guint8 k[SHA256_LEN];
  guint8 sig[SHA256_LEN];
  gchar *hex = g_new (gchar, SHA256_LEN * 2 + 1);

  hmac_step ((const guint8 *) secret, strlen (secret), date, k);
  hmac_step (k, sizeof k, creds->region, k);
  hmac_step (k, sizeof k, service_of (creds), k);
  hmac_step (k, sizeof k, "aws4_request", k);
  hmac_step (k, sizeof k, string_to_sign, sig);
  for (guint i = 0; i < SHA256_LEN; i++)
    g_snprintf (hex + i * 2, 3, "%02x", sig[i]);
  /* key material does not linger in freed memory */
  memset (secret, 0, strlen (secret));
  memset (k, 0, sizeof k);
  return hex;
}

gchar *
we_s3_authorization (const WeS3Credentials *creds, const gchar *method, const gchar *canonical_uri,
                     const gchar *canonical_query, const gchar * const *headers,
                     const gchar *payload_hash, const gchar *amz_date)
{
  g_autofree gchar *signed_headers = NULL;
  g_autofree gchar *request = we_s3_canonical_request (method, canonical_uri, canonical_query,
                                                       headers, payload_hash, &signed_headers);
  g_autofree gchar *to_sign = we_s3_string_to_sign (creds, amz_date, request);
  g_autofree gchar *signature = we_s3_signature (creds, amz_date, to_sign);
  g_autofree gchar *scope = scope_for (creds, amz_date);

  return g_strdup_printf (WE_S3_ALGORITHM " Credential=%s/%s, SignedHeaders=%s, Signature=%s",
                          creds->access_key_id, scope, signed_headers, signature);
}

gchar *
we_s3_presign_query (const WeS3Credentials *creds, const gchar *method, const gchar *canonical_uri,
                     const gchar *host, const gchar * const *params, const gchar *amz_date,
                     gint64 expires_s)
{
  g_autoptr(GPtrArray) all = g_ptr_array_new_with_free_func (g_free);
  g_autofree gchar *scope = scope_for (creds, amz_date);
  g_autofree gchar *query = NULL;
  g_autofree gchar *request = NULL;
  g_autofree gchar *to_sign = NULL;
  g_autofree gchar *signature = NULL;
  const gchar *headers[] = { "host", host, NULL };

  for (guint i = 0; params != NULL && params[i] != NULL && params[i + 1] != NULL; i += 2) {
    g_ptr_array_add (all, g_strdup (params[i]));
    g_ptr_array_add (all, g_strdup (params[i + 1]));
  }
  g_ptr_array_add (all, g_strdup ("X-Amz-Algorithm"));
  g_ptr_array_add (all, g_strdup (WE_S3_ALGORITHM));
  g_ptr_array_add (all, g_strdup ("X-Amz-Credential"));
  g_ptr_array_add (all, g_strdup_printf ("%s/%s", creds->access_key_id, scope));
  g_ptr_array_add (all, g_strdup ("X-Amz-Date"));
  g_ptr_array_add (all, g_strdup (amz_date));
  g_ptr_array_add (all, g_strdup ("X-Amz-Expires"));
  g_ptr_array_add (all, g_strdup_printf ("%" G_GINT64_FORMAT, expires_s));
  g_ptr_array_add (all, g_strdup ("X-Amz-SignedHeaders"));
  g_ptr_array_add (all, g_strdup ("host"));
  g_ptr_array_add (all, NULL);

  query = we_s3_canonical_query ((const gchar * const *) all->pdata);
  request = we_s3_canonical_request (method, canonical_uri, query, headers,
                                     WE_S3_UNSIGNED_PAYLOAD, NULL);
  to_sign = we_s3_string_to_sign (creds, amz_date, request);
  signature = we_s3_signature (creds, amz_date, to_sign);
  return g_strdup_printf ("%s&X-Amz-Signature=%s", query, signature);
}
