/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * AWS Signature Version 4 for S3, written out step by step so each step can
 * be checked against AWS's published examples: canonical request, string to
 * sign, the HMAC-SHA256 key chain and the signature, for the Authorization
 * header and for presigned (query string) URLs.
 *
 * Name/value lists are flat NULL-terminated arrays ("name", "value", …, NULL)
 * of unencoded strings; these functions do all the encoding.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define WE_S3_ALGORITHM        "AWS4-HMAC-SHA256"
#define WE_S3_EMPTY_SHA256     "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define WE_S3_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"
/* SigV4 presigned URLs live at most a week */
#define WE_S3_MAX_EXPIRY_S     604800

typedef struct {
  const gchar *access_key_id;
  const gchar *secret_access_key;
  const gchar *region;
  const gchar *service;                 /* "s3" when NULL */
} WeS3Credentials;

/* Percent-encodes everything but the RFC 3986 unreserved characters, with
 * upper-case hex; '/' is kept when @keep_slash (object key paths). */
gchar *we_s3_uri_encode        (const gchar *str,
                                gboolean     keep_slash);
/* "20130524T000000Z" for @when (UTC). */
gchar *we_s3_amz_date          (GDateTime   *when);
/* Encoded and sorted "a=1&b=2"; "" for no parameters. */
gchar *we_s3_canonical_query   (const gchar * const *params);
/* @canonical_uri is the encoded path as sent; @headers as sent (any case).
 * @signed_headers: (out) "host;range;…" */
gchar *we_s3_canonical_request (const gchar         *method,
                                const gchar         *canonical_uri,
                                const gchar         *canonical_query,
                                const gchar * const *headers,
                                const gchar         *payload_hash,
                                gchar              **signed_headers);
gchar *we_s3_string_to_sign    (const WeS3Credentials *creds,
                                const gchar           *amz_date,
                                const gchar           *canonical_request);
/* Lower-case hex HMAC-SHA256 of @string_to_sign under the derived key. */
gchar *we_s3_signature         (const WeS3Credentials *creds,
                                const gchar           *amz_date,
                                const gchar           *string_to_sign);
/* The whole Authorization header value. */
gchar *we_s3_authorization     (const WeS3Credentials *creds,
                                const gchar           *method,
                                const gchar           *canonical_uri,
                                const gchar           *canonical_query,
                                const gchar * const   *headers,
                                const gchar           *payload_hash,
                                const gchar           *amz_date);
/* The query string of a presigned URL: @params plus the X-Amz-* ones, with
 * X-Amz-Signature last; only the host header is signed and the payload is
 * UNSIGNED-PAYLOAD, as browsers and GStreamer cannot sign anything else. */
gchar *we_s3_presign_query     (const WeS3Credentials *creds,
                                const gchar           *method,
                                const gchar           *canonical_uri,
                                const gchar           *host,
                                const gchar * const   *params,
                                const gchar           *amz_date,
                                gint64                 expires_s);
/* Lower-case hex SHA-256 of @data. */
gchar *we_s3_sha256_hex        (const guint8 *data,
                                gsize         len);

G_END_DECLS
