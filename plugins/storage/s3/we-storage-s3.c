/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The S3 storage pillar: objects in any S3-compatible object store, named
 * s3://<bucket>/<key>, spoken to with AWS Signature Version 4 over libsoup.
 *
 * Every method is synchronous and runs on a kernel or worker thread, never on
 * a main loop, so each call (and each stream) gets its own SoupSession and
 * uses libsoup's blocking API; nothing is shared between threads but the
 * immutable configuration.
 *
 * The credentials decide which buckets are reachable: any s3:// URL a client
 * names is tried with them, as S3's own access policy is the boundary. Keys
 * are still checked for the shapes that mean trouble elsewhere (traversal
 * segments, control characters) because they end up as file names on
 * workers and in logs.
 */
#include <webencode/webencode.h>

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <libsoup/soup.h>

#include "we-s3-sigv4.h"
#include "we-s3-xml.h"

#define S3_SCHEME          "s3://"
#define MiB                (1024 * 1024)
#define MAX_KEY_LEN        1024      /* S3's own limit, in bytes */
#define MAX_LIST_OBJECTS   100000
#define MAX_BROWSE_ENTRIES 10000
#define MAX_ERROR_BODY     (64 * 1024)
#define MAX_XML_BODY       (16 * MiB)
#define MAX_SECRET_FILE    (64 * 1024)
#define MAX_PARTS          10000     /* S3's limit per multipart upload */
#define IO_TIMEOUT_S       60
/* how long a credential from the secrets backend is used before it is
 * looked up again (a rotated key is picked up within this) */
#define CREDENTIAL_TTL_US  (300 * G_USEC_PER_SEC)

#define WE_TYPE_STORAGE_S3 (we_storage_s3_get_type ())
G_DECLARE_FINAL_TYPE (WeStorageS3, we_storage_s3, WE, STORAGE_S3, GObject)

struct _WeStorageS3 {
  GObject   parent_instance;
  /* immutable after create(), so the instance is safe on any thread */
  gboolean  configured;
  gchar    *scheme;             /* "http" | "https" */
  gchar    *authority;          /* host[:port] as the Host header carries it */
  gchar    *region;
  gchar    *bucket;             /* default bucket, nullable */
  gboolean  signed_requests;    /* FALSE: anonymous requests */
  /* Credentials: either given at create() (plain keys, env:, file:/path)
   * or resolved through the secrets backend at use time and kept for
   * CREDENTIAL_TTL_US; cred_lock guards the four below. */
  GMutex    cred_lock;
  gchar    *access_key_id;
  gchar    *secret_access_key;
  gint64    access_key_id_expires;      /* 0: static */
  gint64    secret_access_key_expires;
  gchar    *access_key_id_ref;          /* nullable: resolve through secrets */
  gchar    *secret_access_key_ref;
  WeSecrets *secrets;                   /* nullable */
  gboolean  path_style;
  guint64   threshold;
  guint64   part_size;
  gint64    presign_expiry;
  guint     list_page_size;
};

static void we_storage_s3_iface_init (WeStorageInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (WeStorageS3, we_storage_s3, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (WE_TYPE_STORAGE, we_storage_s3_iface_init))

static void
clear_secret (gchar **secret)
{
  if (*secret != NULL)
    memset (*secret, 0, strlen (*secret));
  g_clear_pointer (secret, g_free);
}

static void
we_storage_s3_finalize (GObject *object)
{
  WeStorageS3 *self = WE_STORAGE_S3 (object);

  g_free (self->scheme);
  g_free (self->authority);
  g_free (self->region);
  g_free (self->bucket);
  g_free (self->access_key_id);
  clear_secret (&self->secret_access_key);
  g_free (self->access_key_id_ref);
  g_free (self->secret_access_key_ref);
  g_clear_object (&self->secrets);
  g_mutex_clear (&self->cred_lock);
  G_OBJECT_CLASS (we_storage_s3_parent_class)->finalize (object);
}

static void
we_storage_s3_class_init (WeStorageS3Class *klass)
{
  G_OBJECT_CLASS (klass)->finalize = we_storage_s3_finalize;
}

static void
we_storage_s3_init (WeStorageS3 *self)
{
  g_mutex_init (&self->cred_lock);
}

static gboolean
check_configured (WeStorageS3 *self, GError **error)
{
  if (self->configured)
    return TRUE;
  g_set_error_literal (error, WE_ERROR, WE_ERROR_STO_UNAVAILABLE,
                       "storage-s3 is not configured: set its 'endpoint' and 'bucket'");
  return FALSE;
}

/* ---- names ---- */

/* Bucket names as S3 allows them (3–63 of a-z 0-9 . -), plus upper case and
 * '_' which older buckets and some S3-compatible stores use. */
static gboolean
bucket_name_is_valid (const gchar *bucket)
{
  gsize len = strlen (bucket);

  if (len < 3 || len > 63 || strstr (bucket, "..") != NULL)
    return FALSE;
  for (const gchar *p = bucket; *p != '\0'; p++) {
    if (!g_ascii_isalnum (*p) && *p != '.' && *p != '-' && *p != '_')
      return FALSE;
  }
  return g_ascii_isalnum (bucket[0]) && g_ascii_isalnum (bucket[len - 1]);
}

/* @is_prefix allows "" and a trailing '/' (listing "a/b/"). */
static gboolean
check_key (const gchar *key, gboolean is_prefix, GError **error)
{
  g_auto(GStrv) segments = NULL;
  guint n;

  if (strlen (key) > MAX_KEY_LEN) {
    g_set_error (error, WE_ERROR, WE_ERROR_STO_ACCESS_DENIED, "key is longer than %d bytes",
                 MAX_KEY_LEN);
    return FALSE;
  }
  if (key[0] == '\0') {
    if (is_prefix)
      return TRUE;
    g_set_error_literal (error, WE_ERROR, WE_ERROR_STO_ACCESS_DENIED, "the URL names no object");
    return FALSE;
  }
  if (!g_utf8_validate (key, -1, NULL)) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_STO_ACCESS_DENIED, "key is not valid UTF-8");
    return FALSE;
  }
  for (const gchar *p = key; *p != '\0'; p++) {
    if ((guchar) *p < 0x20 || *p == 0x7f) {
      g_set_error_literal (error, WE_ERROR, WE_ERROR_STO_ACCESS_DENIED,
                           "key must not contain control characters");
      return FALSE;
    }
  }
  if (key[0] == '/') {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_STO_ACCESS_DENIED,
                         "keys are relative: a key must not start with '/'");
    return FALSE;
  }
  segments = g_strsplit (key, "/", -1);
  n = g_strv_length (segments);
  for (guint i = 0; i < n; i++) {
    if (g_str_equal (segments[i], "..") || g_str_equal (segments[i], ".")) {
      g_set_error_literal (error, WE_ERROR, WE_ERROR_STO_ACCESS_DENIED,
                           "key must not contain '.' or '..' segments");
      return FALSE;
    }
    /* the last segment of a prefix may be empty: "a/b/" */
    if (segments[i][0] == '\0' && !(is_prefix && i == n - 1)) {
      g_set_error_literal (error, WE_ERROR, WE_ERROR_STO_ACCESS_DENIED,
                           "key must not contain empty segments ('//' or a trailing '/')");
      return FALSE;
    }
  }
  return TRUE;
}

typedef struct {
  gchar *bucket;
  gchar *key;
} S3Location;

static void
s3_location_clear (S3Location *loc)
{
  g_clear_pointer (&loc->bucket, g_free);
  g_clear_pointer (&loc->key, g_free);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (S3Location, s3_location_clear)

static gboolean
is_s3_url (const gchar *url)
{
  return url != NULL && g_ascii_strncasecmp (url, S3_SCHEME, strlen (S3_SCHEME)) == 0;
}

/* Splits and checks s3://bucket/key; the key is percent-decoded first so
 * "%2e%2e" is refused like "..". */
static gboolean
parse_url (const gchar *url, gboolean is_prefix, S3Location *loc, GError **error)
{
  g_autoptr(GError) local_error = NULL;
  const gchar *rest;
  const gchar *slash;

  if (url == NULL) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_STO_NOT_FOUND, "no URL given");
    return FALSE;
  }
  if (!is_s3_url (url)) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED, "storage-s3 does not handle %s",
                 url);
    return FALSE;
  }
  rest = url + strlen (S3_SCHEME);
  slash = strchr (rest, '/');
  loc->bucket = slash != NULL ? g_strndup (rest, slash - rest) : g_strdup (rest);
  if (!bucket_name_is_valid (loc->bucket)) {
    g_set_error (error, WE_ERROR, WE_ERROR_STO_ACCESS_DENIED,
                 "access denied: %s does not start with a valid bucket name", url);
    s3_location_clear (loc);
    return FALSE;
  }
  loc->key = g_uri_unescape_string (slash != NULL ? slash + 1 : "", NULL);
  if (loc->key == NULL) {
    g_set_error (error, WE_ERROR, WE_ERROR_STO_ACCESS_DENIED,
                 "access denied: %s has a malformed or NUL percent-escape", url);
    s3_location_clear (loc);
    return FALSE;
  }
  if (!check_key (loc->key, is_prefix, &local_error)) {
    g_set_error (error, WE_ERROR, WE_ERROR_STO_ACCESS_DENIED, "access denied: %s: %s", url,
                 local_error->message);
    s3_location_clear (loc);
    return FALSE;
  }
  return TRUE;
}

static gchar *
url_for (const gchar *bucket, const gchar *key)
{
  g_autofree gchar *escaped = g_uri_escape_string (key != NULL ? key : "", "/", TRUE);
  return g_strconcat (S3_SCHEME, bucket, "/", escaped, NULL);
}

static gchar *
guess_content_type (const gchar *key)
{
  g_autofree gchar *type = g_content_type_guess (key, NULL, 0, NULL);
  gchar *mime = type != NULL ? g_content_type_get_mime_type (type) : NULL;

  return mime != NULL ? mime : g_strdup ("application/octet-stream");
}

/* ---- requests ---- */

typedef struct {
  const gchar         *method;
  const gchar         *bucket;       /* NULL: the service (ListBuckets) */
  const gchar         *key;          /* NULL or "": the bucket itself */
  const gchar * const *query;        /* name/value pairs, unencoded; nullable */
  const gchar * const *headers;      /* extra signed headers; nullable */
  GBytes              *body;         /* nullable */
  const gchar         *content_type; /* of @body */
} S3Request;

static SoupSession *
s3_session_new (void)
{
  return soup_session_new_with_options ("timeout", IO_TIMEOUT_S, "idle-timeout", IO_TIMEOUT_S,
                                        "user-agent", "webencode-storage-s3/" PLUGIN_VERSION,
                                        NULL);
}

/* One credential, from the secrets backend when it is a reference. Called
 * with cred_lock held; blocks on the backend (we are on a worker thread). */
static gboolean
refresh_one (WeStorageS3 *self, const gchar *key, const gchar *ref, gchar **value,
             gint64 *expires, GError **error)
{
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GError) local_error = NULL;
  const gchar *data;
  gsize size = 0;

  if (ref == NULL || (*value != NULL && g_get_monotonic_time () < *expires))
    return TRUE;
  bytes = we_secrets_lookup (self->secrets, ref, NULL, &local_error);
  if (bytes == NULL) {
    /* the backend's message names the reference, never a value */
    g_set_error (error, WE_ERROR, WE_ERROR_STO_ACCESS_DENIED, "storage-s3 '%s_ref': %s", key,
                 local_error->message);
    return FALSE;
  }
  data = g_bytes_get_data (bytes, &size);
  if (size == 0 || memchr (data, '\0', size) != NULL) {
    g_set_error (error, WE_ERROR, WE_ERROR_STO_ACCESS_DENIED,
                 "storage-s3 '%s_ref': the secret is empty or not text", key);
    return FALSE;
  }
  clear_secret (value);
  *value = g_strndup (data, size);
  *expires = g_get_monotonic_time () + CREDENTIAL_TTL_US;
  return TRUE;
}

/* Copies of the current credentials, to be wiped with clear_secret().
 * FALSE when a reference cannot be resolved now. */
static gboolean
take_credentials (WeStorageS3 *self, gchar **access_key_id, gchar **secret_access_key,
                  GError **error)
{
  gboolean ok;

  g_mutex_lock (&self->cred_lock);
  ok = refresh_one (self, "access_key_id", self->access_key_id_ref, &self->access_key_id,
                    &self->access_key_id_expires, error) &&
       refresh_one (self, "secret_access_key", self->secret_access_key_ref,
                    &self->secret_access_key, &self->secret_access_key_expires, error);
  if (ok) {
    *access_key_id = g_strdup (self->access_key_id);
    *secret_access_key = g_strdup (self->secret_access_key);
  }
  g_mutex_unlock (&self->cred_lock);
  return ok;
}

/* Where a request for @bucket/@key goes: the Host header value and the
 * encoded path, in the configured addressing style. */
static void
request_target (WeStorageS3 *self, const gchar *bucket, const gchar *key, gchar **authority,
                gchar **path)
{
  g_autofree gchar *ekey = we_s3_uri_encode (key != NULL ? key : "", TRUE);
  gboolean has_key = key != NULL && key[0] != '\0';

  if (bucket == NULL) {
    *authority = g_strdup (self->authority);
    *path = g_strdup ("/");
  } else if (self->path_style) {
    *authority = g_strdup (self->authority);
    *path = has_key ? g_strdup_printf ("/%s/%s", bucket, ekey) : g_strdup_printf ("/%s", bucket);
  } else {
    *authority = g_strdup_printf ("%s.%s", bucket, self->authority);
    *path = g_strdup_printf ("/%s", ekey);
  }
}

/* What a request is about, for messages: never the query string, which
 * carries upload ids or, for presigned URLs, signatures. */
static gchar *
describe (const S3Request *req)
{
  if (req->bucket == NULL)
    return g_strdup_printf ("%s s3://", req->method);
  return g_strdup_printf ("%s s3://%s/%s", req->method, req->bucket, req->key ? req->key : "");
}

static SoupMessage *
s3_message_new (WeStorageS3 *self, const S3Request *req, GError **error)
{
  g_autofree gchar *authority = NULL;
  g_autofree gchar *path = NULL;
  g_autofree gchar *query = we_s3_canonical_query (req->query);
  g_autofree gchar *url = NULL;
  g_autofree gchar *amz_date = NULL;
  g_autofree gchar *payload_hash = NULL;
  g_autoptr(GDateTime) now = g_date_time_new_now_utc ();
  g_autoptr(GPtrArray) signed_headers = g_ptr_array_new ();
  g_autoptr(SoupMessage) msg = NULL;
  SoupMessageHeaders *headers;
  const gchar *host;

  request_target (self, req->bucket, req->key, &authority, &path);
  url = g_strdup_printf ("%s://%s%s%s%s", self->scheme, authority, path, query[0] ? "?" : "", query);
  msg = soup_message_new (req->method, url);
  if (msg == NULL) {
    g_autofree gchar *what = describe (req);
    g_set_error (error, WE_ERROR, WE_ERROR_STO_UNAVAILABLE, "%s: cannot build a request URL",
                 what);
    return NULL;
  }
  /* a redirect would be re-sent with a signature for the old host; S3 only
   * redirects for a wrong region or endpoint, which is a configuration error */
  soup_message_add_flags (msg, SOUP_MESSAGE_NO_REDIRECT);
  headers = soup_message_get_request_headers (msg);

  if (req->body != NULL) {
    gsize len;
    const guint8 *data = g_bytes_get_data (req->body, &len);
    payload_hash = we_s3_sha256_hex (data, len);
    soup_message_set_request_body_from_bytes (msg, req->content_type, req->body);
  } else {
    payload_hash = g_strdup (WE_S3_EMPTY_SHA256);
  }
  amz_date = we_s3_amz_date (now);
  soup_message_headers_replace (headers, "x-amz-date", amz_date);
  soup_message_headers_replace (headers, "x-amz-content-sha256", payload_hash);

  /* sign the Host libsoup will send, which it derives from the URL */
  host = soup_message_headers_get_one (headers, "Host");
  g_ptr_array_add (signed_headers, (gpointer) "host");
  g_ptr_array_add (signed_headers, (gpointer) (host != NULL ? host : authority));
  g_ptr_array_add (signed_headers, (gpointer) "x-amz-date");
  g_ptr_array_add (signed_headers, amz_date);
  g_ptr_array_add (signed_headers, (gpointer) "x-amz-content-sha256");
  g_ptr_array_add (signed_headers, payload_hash);
  if (req->body != NULL && req->content_type != NULL) {
    g_ptr_array_add (signed_headers, (gpointer) "content-type");
    g_ptr_array_add (signed_headers, (gpointer) req->content_type);
  }
  for (guint i = 0; req->headers != NULL && req->headers[i] != NULL; i += 2) {
    soup_message_headers_replace (headers, req->headers[i], req->headers[i + 1]);
    g_ptr_array_add (signed_headers, (gpointer) req->headers[i]);
    g_ptr_array_add (signed_headers, (gpointer) req->headers[i + 1]);
  }
  g_ptr_array_add (signed_headers, NULL);

  if (self->signed_requests) {
    g_autofree gchar *akid = NULL;
    gchar *secret = NULL;
    WeS3Credentials creds = { NULL, NULL, self->region, "s3" };
    g_autofree gchar *auth = NULL;

    if (!take_credentials (self, &akid, &secret, error))
      return NULL;
    creds.access_key_id = akid;
    creds.secret_access_key = secret;
    auth = we_s3_authorization (&creds, req->method, path, query,
                                (const gchar * const *) signed_headers->pdata, payload_hash,
                                amz_date);
    clear_secret (&secret);
    soup_message_headers_replace (headers, "Authorization", auth);
  }
  return g_steal_pointer (&msg);
}

/* Reads at most @max bytes of @stream; what lies beyond is not wanted. */
static GBytes *
read_capped (GInputStream *stream, gsize max, GCancellable *cancellable, GError **error)
{
  g_autoptr(GByteArray) buf = g_byte_array_new ();
  guint8 chunk[16384];

  while (buf->len < max) {
    gssize n = g_input_stream_read (stream, chunk, MIN (sizeof chunk, max - buf->len), cancellable,
                                    error);
    if (n < 0)
      return NULL;
    if (n == 0)
      break;
    g_byte_array_append (buf, chunk, n);
  }
  return g_byte_array_free_to_bytes (g_steal_pointer (&buf));
}

/* Server text goes into logs and API errors: printable and short. */
static gchar *
sanitize (const gchar *text)
{
  g_autofree gchar *valid = g_utf8_make_valid (text, -1);
  GString *out = g_string_new (NULL);

  for (const gchar *p = valid; *p != '\0' && out->len < 400; p++)
    g_string_append_c (out, ((guchar) *p < 0x20 || *p == 0x7f) ? ' ' : *p);
  return g_string_free (out, FALSE);
}

static void
parse_error_body (GBytes *body, gchar **code, gchar **message)
{
  g_autoptr(WeS3XmlNode) root = NULL;
  const gchar *data;
  gsize len;

  if (body == NULL)
    return;
  data = g_bytes_get_data (body, &len);
  if (len == 0)
    return;
  root = we_s3_xml_parse (data, len, NULL);
  if (root == NULL || g_strcmp0 (root->name, "Error") != 0)
    return;
  if (we_s3_xml_child_text (root, "Code") != NULL)
    *code = sanitize (we_s3_xml_child_text (root, "Code"));
  if (we_s3_xml_child_text (root, "Message") != NULL)
    *message = sanitize (we_s3_xml_child_text (root, "Message"));
}

static gboolean
code_is (const gchar *code, const gchar *a, const gchar *b, const gchar *c)
{
  return code != NULL && (g_strcmp0 (code, a) == 0 || g_strcmp0 (code, b) == 0 ||
                          g_strcmp0 (code, c) == 0);
}

/* The one place HTTP statuses and S3 error codes become WE_ERROR codes. */
static void
set_http_error (GError **error, const gchar *what, guint status, GBytes *body)
{
  g_autofree gchar *code = NULL;
  g_autofree gchar *message = NULL;
  WeErrorCode we_code;

  parse_error_body (body, &code, &message);
  if (code == NULL) {
    if (status == SOUP_STATUS_NOT_FOUND)
      code = g_strdup ("NotFound");
    else if (status == SOUP_STATUS_FORBIDDEN)
      code = g_strdup ("AccessDenied");
  }
  if (status == SOUP_STATUS_NOT_FOUND || code_is (code, "NoSuchKey", "NoSuchBucket", "NoSuchUpload"))
    we_code = WE_ERROR_STO_NOT_FOUND;
  else if (status == SOUP_STATUS_FORBIDDEN || status == SOUP_STATUS_UNAUTHORIZED ||
           code_is (code, "AccessDenied", "SignatureDoesNotMatch", "InvalidAccessKeyId"))
    we_code = WE_ERROR_STO_ACCESS_DENIED;
  else if (status == SOUP_STATUS_REQUESTED_RANGE_NOT_SATISFIABLE)
    we_code = WE_ERROR_SYS_RANGE_NOT_SATISFIABLE;
  else if (status == SOUP_STATUS_INSUFFICIENT_STORAGE ||
           code_is (code, "EntityTooLarge", "QuotaExceeded", "StorageFull"))
    we_code = WE_ERROR_STO_FULL;
  else
    we_code = WE_ERROR_STO_UNAVAILABLE;

  g_set_error (error, WE_ERROR, we_code, "%s: HTTP %u %s%s%s", what, status,
               code != NULL ? code : soup_status_get_phrase (status), message ? ": " : "",
               message ? message : "");
}

static void
set_transport_error (GError **error, const gchar *what, GError *cause)
{
  if (g_error_matches (cause, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
    g_propagate_error (error, g_error_copy (cause));
    return;
  }
  g_set_error (error, WE_ERROR, WE_ERROR_STO_UNAVAILABLE, "%s: %s", what, cause->message);
}

static gboolean
status_ok (guint status)
{
  return SOUP_STATUS_IS_SUCCESSFUL (status);
}

/* Sends @req and returns its response body (capped at @max_body) when the
 * status is 2xx; @response_headers gets the response headers. */
static GBytes *
s3_call (WeStorageS3 *self, SoupSession *session, const S3Request *req, gsize max_body,
         SoupMessageHeaders **response_headers, GCancellable *cancellable, GError **error)
{
  g_autoptr(SoupMessage) msg = NULL;
  g_autoptr(GInputStream) in = NULL;
  g_autoptr(GBytes) body = NULL;
  g_autoptr(GError) local_error = NULL;
  g_autofree gchar *what = describe (req);
  guint status;

  msg = s3_message_new (self, req, error);
  if (msg == NULL)
    return NULL;
  in = soup_session_send (session, msg, cancellable, &local_error);
  if (in == NULL) {
    set_transport_error (error, what, local_error);
    return NULL;
  }
  status = soup_message_get_status (msg);
  body = read_capped (in, status_ok (status) ? max_body : MAX_ERROR_BODY, cancellable,
                      &local_error);
  g_input_stream_close (in, NULL, NULL);
  if (body == NULL) {
    set_transport_error (error, what, local_error);
    return NULL;
  }
  if (!status_ok (status)) {
    set_http_error (error, what, status, body);
    return NULL;
  }
  if (response_headers != NULL)
    *response_headers = g_boxed_copy (SOUP_TYPE_MESSAGE_HEADERS,
                                      soup_message_get_response_headers (msg));
  return g_steal_pointer (&body);
}

static WeS3XmlNode *
parse_xml_response (GBytes *body, const gchar *what, const gchar *root_name, GError **error)
{
  g_autoptr(GError) local_error = NULL;
  g_autoptr(WeS3XmlNode) root = NULL;
  gsize len;
  const gchar *data = g_bytes_get_data (body, &len);

  root = we_s3_xml_parse (data, len, &local_error);
  if (root == NULL) {
    g_set_error (error, WE_ERROR, WE_ERROR_STO_UNAVAILABLE, "%s: unreadable response: %s", what,
                 local_error->message);
    return NULL;
  }
  /* S3 may answer 200 and still report an error in the body */
  if (g_strcmp0 (root->name, "Error") == 0) {
    set_http_error (error, what, SOUP_STATUS_INTERNAL_SERVER_ERROR, body);
    return NULL;
  }
  if (g_strcmp0 (root->name, root_name) != 0) {
    g_set_error (error, WE_ERROR, WE_ERROR_STO_UNAVAILABLE, "%s: expected <%s>, got <%s>", what,
                 root_name, root->name);
    return NULL;
  }
  return g_steal_pointer (&root);
}

static gint64
parse_iso8601 (const gchar *text)
{
  g_autoptr(GDateTime) dt = text != NULL ? g_date_time_new_from_iso8601 (text, NULL) : NULL;
  return dt != NULL ? g_date_time_to_unix (dt) : 0;
}

static gchar *
unquote_etag (const gchar *etag)
{
  gsize len;

  if (etag == NULL)
    return NULL;
  len = strlen (etag);
  if (len >= 2 && etag[0] == '"' && etag[len - 1] == '"')
    return g_strndup (etag + 1, len - 2);
  return g_strdup (etag);
}

/* HEAD: everything stat() reports. */
static gboolean
head_object (WeStorageS3 *self, SoupSession *session, const S3Location *loc, WeObjectInfo *info,
             GError **error)
{
  S3Request req = { .method = "HEAD", .bucket = loc->bucket, .key = loc->key };
  g_autoptr(SoupMessageHeaders) headers = NULL;
  g_autoptr(GBytes) body = NULL;
  const gchar *modified;
  const gchar *type;

  body = s3_call (self, session, &req, 0, &headers, NULL, error);
  if (body == NULL)
    return FALSE;
  if (info == NULL)
    return TRUE;
  info->url = url_for (loc->bucket, loc->key);
  info->key = g_strdup (loc->key);
  info->size = (guint64) MAX (soup_message_headers_get_content_length (headers), 0);
  modified = soup_message_headers_get_one (headers, "Last-Modified");
  if (modified != NULL) {
    g_autoptr(GDateTime) dt = soup_date_time_new_from_http_string (modified);
    if (dt != NULL)
      info->last_modified = g_date_time_to_unix (dt);
  }
  info->etag = unquote_etag (soup_message_headers_get_one (headers, "ETag"));
  type = soup_message_headers_get_content_type (headers, NULL);
  info->content_type = type != NULL ? g_strdup (type) : guess_content_type (loc->key);
  return TRUE;
}

/* ---- the atomic output stream ---- */

/* Spools what is written into an unlinked temporary file, so memory stays
 * bounded by one part. Small objects are sent with one PUT on close; once
 * the spool passes multipart_threshold a multipart upload starts and parts
 * of part_size go out as they fill, the last one on close followed by
 * CompleteMultipartUpload. Nothing is visible under the key before that
 * final request succeeds. A failed part, a failed close or a stream dropped
 * unclosed aborts the upload, so no parts are left behind either. As in
 * storage-fs, dispose() is told apart from a real close. */
#define WE_TYPE_S3_OUTPUT_STREAM (we_s3_output_stream_get_type ())
G_DECLARE_FINAL_TYPE (WeS3OutputStream, we_s3_output_stream, WE, S3_OUTPUT_STREAM, GOutputStream)

struct _WeS3OutputStream {
  GOutputStream  parent_instance;
  WeStorageS3   *storage;
  SoupSession   *session;
  gchar         *bucket;
  gchar         *key;
  gchar         *content_type;
  gint           fd;          /* the spool */
  guint64        spool_len;
  gchar         *upload_id;   /* set once the multipart upload started */
  GPtrArray     *etags;       /* of parts 1…n, in order */
  gboolean       failed;      /* the object must not appear */
  gboolean       abandoned;   /* closed by dispose(), not by the caller */
};

G_DEFINE_FINAL_TYPE (WeS3OutputStream, we_s3_output_stream, G_TYPE_OUTPUT_STREAM)

static gchar *
stream_describe (WeS3OutputStream *self)
{
  return g_strdup_printf ("s3://%s/%s", self->bucket, self->key);
}

static void
set_spool_error (WeS3OutputStream *self, GError **error, gint errsv, const gchar *what)
{
  g_autofree gchar *url = stream_describe (self);
  g_set_error (error, WE_ERROR, errsv == ENOSPC || errsv == EDQUOT ? WE_ERROR_STO_FULL
                                                                    : WE_ERROR_STO_UNAVAILABLE,
               "%s: %s the local spool: %s", url, what, g_strerror (errsv));
}

/* Reads @len bytes of the spool from @offset. */
static GBytes *
spool_read (WeS3OutputStream *self, guint64 offset, gsize len, GError **error)
{
  guint8 *buf = g_malloc (MAX (len, 1));
  gsize done = 0;

  while (done < len) {
    gssize n = pread (self->fd, buf + done, len - done, (off_t) (offset + done));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      set_spool_error (self, error, n < 0 ? errno : EIO, "reading");
      g_free (buf);
      return NULL;
    }
    done += n;
  }
  return g_bytes_new_take (buf, len);
}

static gboolean
spool_append (WeS3OutputStream *self, const guint8 *data, gsize len, GError **error)
{
  while (len > 0) {
    gssize n = pwrite (self->fd, data, len, (off_t) self->spool_len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      set_spool_error (self, error, errno, "writing");
      return FALSE;
    }
    data += n;
    len -= n;
    self->spool_len += n;
  }
  return TRUE;
}

/* Drops the first @consumed bytes of the spool. */
static gboolean
spool_compact (WeS3OutputStream *self, guint64 consumed, GError **error)
{
  guint64 rest = self->spool_len - consumed;
  guint8 buf[65536];

  for (guint64 done = 0; done < rest;) {
    gsize want = (gsize) MIN (sizeof buf, rest - done);
    gssize n = pread (self->fd, buf, want, (off_t) (consumed + done));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0 || pwrite (self->fd, buf, n, (off_t) done) != n) {
      set_spool_error (self, error, n < 0 ? errno : EIO, "compacting");
      return FALSE;
    }
    done += n;
  }
  if (ftruncate (self->fd, (off_t) rest) < 0) {
    set_spool_error (self, error, errno, "truncating");
    return FALSE;
  }
  self->spool_len = rest;
  return TRUE;
}

static gboolean
start_multipart (WeS3OutputStream *self, GCancellable *cancellable, GError **error)
{
  const gchar *query[] = { "uploads", "", NULL };
  const gchar *headers[] = { "content-type", self->content_type, NULL };
  S3Request req = { .method = "POST", .bucket = self->bucket, .key = self->key, .query = query,
                    .headers = headers };
  g_autofree gchar *what = describe (&req);
  g_autoptr(GBytes) body = NULL;
  g_autoptr(WeS3XmlNode) root = NULL;
  const gchar *upload_id;

  body = s3_call (self->storage, self->session, &req, MAX_ERROR_BODY, NULL, cancellable, error);
  if (body == NULL)
    return FALSE;
  root = parse_xml_response (body, what, "InitiateMultipartUploadResult", error);
  if (root == NULL)
    return FALSE;
  upload_id = we_s3_xml_child_text (root, "UploadId");
  if (upload_id == NULL || upload_id[0] == '\0') {
    g_set_error (error, WE_ERROR, WE_ERROR_STO_UNAVAILABLE, "%s: no UploadId in the response",
                 what);
    return FALSE;
  }
  self->upload_id = g_strdup (upload_id);
  return TRUE;
}

static gboolean
upload_part (WeS3OutputStream *self, guint64 offset, gsize len, GCancellable *cancellable,
             GError **error)
{
  g_autofree gchar *number = g_strdup_printf ("%u", self->etags->len + 1);
  const gchar *query[] = { "partNumber", number, "uploadId", self->upload_id, NULL };
  S3Request req = { .method = "PUT", .bucket = self->bucket, .key = self->key, .query = query };
  g_autoptr(SoupMessageHeaders) headers = NULL;
  g_autoptr(GBytes) data = NULL;
  g_autoptr(GBytes) body = NULL;
  const gchar *etag;

  if (self->etags->len >= MAX_PARTS) {
    g_autofree gchar *url = stream_describe (self);
    g_set_error (error, WE_ERROR, WE_ERROR_STO_FULL,
                 "%s: more than %d parts; raise part_size_mb", url, MAX_PARTS);
    return FALSE;
  }
  data = spool_read (self, offset, len, error);
  if (data == NULL)
    return FALSE;
  req.body = data;
  body = s3_call (self->storage, self->session, &req, MAX_ERROR_BODY, &headers, cancellable,
                  error);
  if (body == NULL)
    return FALSE;
  etag = soup_message_headers_get_one (headers, "ETag");
  if (etag == NULL) {
    g_autofree gchar *what = describe (&req);
    g_set_error (error, WE_ERROR, WE_ERROR_STO_UNAVAILABLE, "%s: part %s has no ETag", what,
                 number);
    return FALSE;
  }
  g_ptr_array_add (self->etags, g_strdup (etag));
  return TRUE;
}

/* Sends every full part the spool holds, keeping at least one byte back so
 * the closing part is never empty. */
static gboolean
flush_parts (WeS3OutputStream *self, GCancellable *cancellable, GError **error)
{
  guint64 part = self->storage->part_size;
  guint64 offset = 0;

  while (self->spool_len - offset > part) {
    if (!upload_part (self, offset, part, cancellable, error))
      return FALSE;
    offset += part;
  }
  return offset == 0 || spool_compact (self, offset, error);
}

static void
abort_multipart (WeS3OutputStream *self)
{
  const gchar *query[] = { "uploadId", self->upload_id, NULL };
  S3Request req = { .method = "DELETE", .bucket = self->bucket, .key = self->key, .query = query };
  g_autoptr(GError) local_error = NULL;
  g_autoptr(GBytes) body = NULL;

  if (self->upload_id == NULL)
    return;
  body = s3_call (self->storage, self->session, &req, MAX_ERROR_BODY, NULL, NULL, &local_error);
  /* the parts stay invisible either way; a store's lifecycle rule has to
   * collect them if even the abort cannot get through */
  if (body == NULL)
    g_debug ("aborting the multipart upload failed: %s", local_error->message);
  g_clear_pointer (&self->upload_id, g_free);
}

static void
fail (WeS3OutputStream *self)
{
  self->failed = TRUE;
  abort_multipart (self);
}

static gssize
we_s3_output_stream_write (GOutputStream *stream, const void *buffer, gsize count,
                           GCancellable *cancellable, GError **error)
{
  WeS3OutputStream *self = WE_S3_OUTPUT_STREAM (stream);

  if (self->failed) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_STO_UNAVAILABLE,
                         "an earlier write failed; the object will not be stored");
    return -1;
  }
  if (g_cancellable_set_error_if_cancelled (cancellable, error) ||
      !spool_append (self, buffer, count, error)) {
    fail (self);
    return -1;
  }
  if (self->upload_id == NULL && self->spool_len > self->storage->threshold &&
      !start_multipart (self, cancellable, error)) {
    fail (self);
    return -1;
  }
  if (self->upload_id != NULL && !flush_parts (self, cancellable, error)) {
    fail (self);
    return -1;
  }
  return count;
}

static gboolean
complete_multipart (WeS3OutputStream *self, GCancellable *cancellable, GError **error)
{
  const gchar *query[] = { "uploadId", self->upload_id, NULL };
  S3Request req = { .method = "POST", .bucket = self->bucket, .key = self->key, .query = query,
                    .content_type = "application/xml" };
  g_autofree gchar *what = describe (&req);
  g_autoptr(GString) xml = g_string_new ("<CompleteMultipartUpload>");
  g_autoptr(GBytes) request_body = NULL;
  g_autoptr(GBytes) body = NULL;
  g_autoptr(WeS3XmlNode) root = NULL;

  for (guint i = 0; i < self->etags->len; i++) {
    g_autofree gchar *etag = g_markup_escape_text (g_ptr_array_index (self->etags, i), -1);
    g_string_append_printf (xml, "<Part><PartNumber>%u</PartNumber><ETag>%s</ETag></Part>", i + 1,
                            etag);
  }
  g_string_append (xml, "</CompleteMultipartUpload>");
  request_body = g_string_free_to_bytes (g_steal_pointer (&xml));
  req.body = request_body;
  body = s3_call (self->storage, self->session, &req, MAX_ERROR_BODY, NULL, cancellable, error);
  if (body == NULL)
    return FALSE;
  root = parse_xml_response (body, what, "CompleteMultipartUploadResult", error);
  return root != NULL;
}

static gboolean
put_spool (WeS3OutputStream *self, GCancellable *cancellable, GError **error)
{
  S3Request req = { .method = "PUT", .bucket = self->bucket, .key = self->key,
                    .content_type = self->content_type };
  g_autoptr(GBytes) data = spool_read (self, 0, self->spool_len, error);
  g_autoptr(GBytes) body = NULL;

  if (data == NULL)
    return FALSE;
  req.body = data;
  body = s3_call (self->storage, self->session, &req, MAX_ERROR_BODY, NULL, cancellable, error);
  return body != NULL;
}

static gboolean
commit (WeS3OutputStream *self, GCancellable *cancellable, GError **error)
{
  if (self->upload_id == NULL)
    return put_spool (self, cancellable, error);
  if (self->spool_len > 0 || self->etags->len == 0) {
    if (!upload_part (self, 0, self->spool_len, cancellable, error))
      return FALSE;
  }
  return complete_multipart (self, cancellable, error);
}

static gboolean
we_s3_output_stream_close (GOutputStream *stream, GCancellable *cancellable, GError **error)
{
  WeS3OutputStream *self = WE_S3_OUTPUT_STREAM (stream);
  g_autoptr(GError) local_error = NULL;
  gboolean committed = FALSE;

  if (self->fd < 0)
    return TRUE;
  if (!self->failed && !self->abandoned) {
    if (g_cancellable_set_error_if_cancelled (cancellable, error))
      return FALSE; /* still open: the caller may retry the close, or drop the stream */
    committed = commit (self, cancellable, &local_error);
  }
  if (!committed)
    fail (self);
  close (self->fd);
  self->fd = -1;

  if (committed || self->abandoned)
    return TRUE; /* dropped on purpose: nothing to report */
  if (local_error != NULL) {
    g_propagate_error (error, g_steal_pointer (&local_error));
  } else {
    g_autofree gchar *url = stream_describe (self);
    g_set_error (error, WE_ERROR, WE_ERROR_STO_UNAVAILABLE,
                 "a write to %s failed; nothing was stored", url);
  }
  return FALSE;
}

static void
we_s3_output_stream_dispose (GObject *object)
{
  WeS3OutputStream *self = WE_S3_OUTPUT_STREAM (object);

  if (!g_output_stream_is_closed (G_OUTPUT_STREAM (self)))
    self->abandoned = TRUE;
  G_OBJECT_CLASS (we_s3_output_stream_parent_class)->dispose (object);
}

static void
we_s3_output_stream_finalize (GObject *object)
{
  WeS3OutputStream *self = WE_S3_OUTPUT_STREAM (object);

  if (self->fd >= 0)
    close (self->fd);
  g_clear_object (&self->session);
  g_clear_object (&self->storage);
  g_free (self->bucket);
  g_free (self->key);
  g_free (self->content_type);
  g_free (self->upload_id);
  g_ptr_array_unref (self->etags);
  G_OBJECT_CLASS (we_s3_output_stream_parent_class)->finalize (object);
}

static void
we_s3_output_stream_class_init (WeS3OutputStreamClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GOutputStreamClass *stream_class = G_OUTPUT_STREAM_CLASS (klass);

  object_class->dispose = we_s3_output_stream_dispose;
  object_class->finalize = we_s3_output_stream_finalize;
  stream_class->write_fn = we_s3_output_stream_write;
  stream_class->close_fn = we_s3_output_stream_close;
}

static void
we_s3_output_stream_init (WeS3OutputStream *self)
{
  self->fd = -1;
  self->etags = g_ptr_array_new_with_free_func (g_free);
}

/* ---- the storage ---- */

static gboolean
we_storage_s3_handles_url (WeStorage *storage, const gchar *url)
{
  return is_s3_url (url);
}

static void
we_storage_s3_get_capabilities (WeStorage *storage, WeStorageCapabilities *caps)
{
  WeStorageS3 *self = WE_STORAGE_S3 (storage);

  /* an unconfigured instance only claims s3:// to explain why it cannot
   * serve it; it must never be picked as the place uploads go */
  caps->supports_browse = self->configured;
  caps->supports_upload = self->configured;
  caps->supports_signed_urls = self->configured;
  caps->supports_streaming = self->configured;
  caps->storage_type = "s3";
}

static gchar *
we_storage_s3_make_url (WeStorage *storage, const gchar *key)
{
  WeStorageS3 *self = WE_STORAGE_S3 (storage);
  return url_for (self->bucket != NULL ? self->bucket : "", key);
}

static gboolean
we_storage_s3_stat (WeStorage *storage, const gchar *url, WeObjectInfo *info, GError **error)
{
  WeStorageS3 *self = WE_STORAGE_S3 (storage);
  g_auto(S3Location) loc = { 0 };
  g_autoptr(SoupSession) session = NULL;

  if (!check_configured (self, error) || !parse_url (url, FALSE, &loc, error))
    return FALSE;
  session = s3_session_new ();
  return head_object (self, session, &loc, info, error);
}

static GInputStream *
we_storage_s3_open_read (WeStorage *storage, const gchar *url, goffset offset, GError **error)
{
  WeStorageS3 *self = WE_STORAGE_S3 (storage);
  g_auto(S3Location) loc = { 0 };
  g_autoptr(SoupSession) session = NULL;
  g_autoptr(SoupMessage) msg = NULL;
  g_autoptr(GInputStream) in = NULL;
  g_autoptr(GError) local_error = NULL;
  g_autofree gchar *range = NULL;
  g_autofree gchar *what = NULL;
  const gchar *headers[] = { "range", NULL, NULL };
  S3Request req = { .method = "GET" };
  guint status;

  if (!check_configured (self, error) || !parse_url (url, FALSE, &loc, error))
    return NULL;
  if (offset < 0) {
    g_set_error (error, WE_ERROR, WE_ERROR_SYS_RANGE_NOT_SATISFIABLE,
                 "offset %" G_GINT64_FORMAT " is negative", (gint64) offset);
    return NULL;
  }
  req.bucket = loc.bucket;
  req.key = loc.key;
  if (offset > 0) {
    range = g_strdup_printf ("bytes=%" G_GINT64_FORMAT "-", (gint64) offset);
    headers[1] = range;
    req.headers = headers;
  }
  what = describe (&req);
  session = s3_session_new ();
  msg = s3_message_new (self, &req, error);
  if (msg == NULL)
    return NULL;
  in = soup_session_send (session, msg, NULL, &local_error);
  if (in == NULL) {
    set_transport_error (error, what, local_error);
    return NULL;
  }
  status = soup_message_get_status (msg);
  if (status == SOUP_STATUS_REQUESTED_RANGE_NOT_SATISFIABLE) {
    /* S3 refuses a range starting at the end, which storage-fs allows: the
     * reader then simply sees end-of-file */
    g_auto(WeObjectInfo) info = { 0 };
    g_input_stream_close (in, NULL, NULL);
    if (!head_object (self, session, &loc, &info, error))
      return NULL;
    if ((guint64) offset == info.size)
      return g_memory_input_stream_new ();
    g_set_error (error, WE_ERROR, WE_ERROR_SYS_RANGE_NOT_SATISFIABLE,
                 "offset %" G_GINT64_FORMAT " is outside %s (%" G_GUINT64_FORMAT " bytes)",
                 (gint64) offset, url, info.size);
    return NULL;
  }
  if (!status_ok (status)) {
    g_autoptr(GBytes) body = read_capped (in, MAX_ERROR_BODY, NULL, NULL);
    g_input_stream_close (in, NULL, NULL);
    set_http_error (error, what, status, body);
    return NULL;
  }
  /* a server that ignores Range sends everything: skip to the offset */
  if (offset > 0 && status != SOUP_STATUS_PARTIAL_CONTENT) {
    for (goffset left = offset; left > 0;) {
      gssize n = g_input_stream_skip (in, MIN (left, 1 << 20), NULL, &local_error);
      if (n < 0) {
        set_transport_error (error, what, local_error);
        return NULL;
      }
      if (n == 0) {
        g_set_error (error, WE_ERROR, WE_ERROR_SYS_RANGE_NOT_SATISFIABLE,
                     "offset %" G_GINT64_FORMAT " is outside %s", (gint64) offset, url);
        return NULL;
      }
      left -= n;
    }
  }
  /* the body stream reads through the session's connection */
  g_object_set_data_full (G_OBJECT (in), "we-s3-session", g_steal_pointer (&session),
                          g_object_unref);
  g_object_set_data_full (G_OBJECT (in), "we-s3-message", g_steal_pointer (&msg), g_object_unref);
  return g_steal_pointer (&in);
}

static GOutputStream *
we_storage_s3_create (WeStorage *storage, const gchar *url, GError **error)
{
  WeStorageS3 *self = WE_STORAGE_S3 (storage);
  g_auto(S3Location) loc = { 0 };
  g_autofree gchar *spool_path = NULL;
  g_autoptr(GError) local_error = NULL;
  WeS3OutputStream *stream;
  gint fd;

  if (!check_configured (self, error) || !parse_url (url, FALSE, &loc, error))
    return NULL;
  fd = g_file_open_tmp ("we-s3-spool-XXXXXX", &spool_path, &local_error);
  if (fd < 0) {
    g_set_error (error, WE_ERROR, WE_ERROR_STO_UNAVAILABLE, "%s: cannot create a local spool: %s",
                 url, local_error->message);
    return NULL;
  }
  /* unlinked at once: the spool disappears with the process, crash or not */
  g_unlink (spool_path);

  stream = g_object_new (WE_TYPE_S3_OUTPUT_STREAM, NULL);
  stream->storage = g_object_ref (self);
  stream->session = s3_session_new ();
  stream->fd = fd;
  stream->content_type = guess_content_type (loc.key);
  stream->bucket = g_steal_pointer (&loc.bucket);
  stream->key = g_steal_pointer (&loc.key);
  return G_OUTPUT_STREAM (stream);
}

static gboolean
we_storage_s3_delete_object (WeStorage *storage, const gchar *url, GError **error)
{
  WeStorageS3 *self = WE_STORAGE_S3 (storage);
  g_auto(S3Location) loc = { 0 };
  g_autoptr(SoupSession) session = NULL;
  g_autoptr(GBytes) body = NULL;
  S3Request req = { .method = "DELETE" };

  if (!check_configured (self, error) || !parse_url (url, FALSE, &loc, error))
    return FALSE;
  session = s3_session_new ();
  /* S3 deletes missing keys without complaint; callers expect storage-fs's
   * not-found, so look first */
  if (!head_object (self, session, &loc, NULL, error))
    return FALSE;
  req.bucket = loc.bucket;
  req.key = loc.key;
  body = s3_call (self, session, &req, MAX_ERROR_BODY, NULL, NULL, error);
  return body != NULL;
}

static gchar *
presign (WeStorageS3 *self, const S3Location *loc, const gchar *method, gint64 expiry,
         GError **error)
{
  g_autofree gchar *authority = NULL;
  g_autofree gchar *path = NULL;
  g_autofree gchar *query = NULL;
  g_autofree gchar *amz_date = NULL;
  g_autoptr(GDateTime) now = g_date_time_new_now_utc ();
  g_autofree gchar *akid = NULL;
  gchar *secret = NULL;
  WeS3Credentials creds = { NULL, NULL, self->region, "s3" };

  request_target (self, loc->bucket, loc->key, &authority, &path);
  /* anonymous access needs no signature: the plain URL is the whole story */
  if (!self->signed_requests)
    return g_strdup_printf ("%s://%s%s", self->scheme, authority, path);
  if (!take_credentials (self, &akid, &secret, error))
    return NULL;
  creds.access_key_id = akid;
  creds.secret_access_key = secret;
  amz_date = we_s3_amz_date (now);
  query = we_s3_presign_query (&creds, method, path, authority, NULL, amz_date, expiry);
  clear_secret (&secret);
  return g_strdup_printf ("%s://%s%s?%s", self->scheme, authority, path, query);
}

static gchar *
we_storage_s3_get_signed_url (WeStorage *storage, const gchar *url, const gchar *method,
                              gint64 expiry_seconds, GError **error)
{
  WeStorageS3 *self = WE_STORAGE_S3 (storage);
  g_auto(S3Location) loc = { 0 };
  const gchar *m;

  if (!check_configured (self, error) || !parse_url (url, FALSE, &loc, error))
    return NULL;
  if (method == NULL || g_ascii_strcasecmp (method, "GET") == 0)
    m = "GET";
  else if (g_ascii_strcasecmp (method, "PUT") == 0)
    m = "PUT";
  else if (g_ascii_strcasecmp (method, "HEAD") == 0)
    m = "HEAD";
  else {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                 "signed URLs are for GET, HEAD or PUT, not %s", method);
    return NULL;
  }
  if (expiry_seconds <= 0)
    expiry_seconds = self->presign_expiry;
  expiry_seconds = MIN (expiry_seconds, WE_S3_MAX_EXPIRY_S);
  return presign (self, &loc, m, expiry_seconds, error);
}

static gchar *
we_storage_s3_get_media_uri (WeStorage *storage, const gchar *url, GError **error)
{
  WeStorageS3 *self = WE_STORAGE_S3 (storage);
  g_auto(S3Location) loc = { 0 };

  if (!check_configured (self, error) || !parse_url (url, FALSE, &loc, error))
    return NULL;
  /* souphttpsrc reads it with GET and Range, which a host-only signature allows */
  return presign (self, &loc, "GET", self->presign_expiry, error);
}

/* One ListObjectsV2 page. */
static WeS3XmlNode *
list_page (WeStorageS3 *self, SoupSession *session, const gchar *bucket, const gchar *prefix,
           const gchar *delimiter, const gchar *token, GError **error)
{
  g_autofree gchar *max_keys = g_strdup_printf ("%u", self->list_page_size);
  g_autoptr(GPtrArray) query = g_ptr_array_new ();
  g_autoptr(GBytes) body = NULL;
  g_autofree gchar *what = NULL;
  S3Request req = { .method = "GET", .bucket = bucket };

  g_ptr_array_add (query, (gpointer) "list-type");
  g_ptr_array_add (query, (gpointer) "2");
  g_ptr_array_add (query, (gpointer) "max-keys");
  g_ptr_array_add (query, max_keys);
  g_ptr_array_add (query, (gpointer) "prefix");
  g_ptr_array_add (query, (gpointer) prefix);
  if (delimiter != NULL) {
    g_ptr_array_add (query, (gpointer) "delimiter");
    g_ptr_array_add (query, (gpointer) delimiter);
  }
  if (token != NULL) {
    g_ptr_array_add (query, (gpointer) "continuation-token");
    g_ptr_array_add (query, (gpointer) token);
  }
  g_ptr_array_add (query, NULL);
  req.query = (const gchar * const *) query->pdata;
  what = g_strdup_printf ("listing s3://%s/%s", bucket, prefix);
  body = s3_call (self, session, &req, MAX_XML_BODY, NULL, NULL, error);
  if (body == NULL) {
    g_prefix_error (error, "listing: ");
    return NULL;
  }
  return parse_xml_response (body, what, "ListBucketResult", error);
}

/* The continuation token of a truncated page; NULL at the end. */
static gchar *
next_token (WeS3XmlNode *page, const gchar *previous, GError **error)
{
  const gchar *truncated = we_s3_xml_child_text (page, "IsTruncated");
  const gchar *token = we_s3_xml_child_text (page, "NextContinuationToken");

  if (g_strcmp0 (truncated, "true") != 0)
    return NULL;
  if (token == NULL || token[0] == '\0' || g_strcmp0 (token, previous) == 0) {
    /* a server that says "more" without a new way there would loop forever */
    g_set_error_literal (error, WE_ERROR, WE_ERROR_STO_UNAVAILABLE,
                         "listing: truncated page without a new continuation token");
    return NULL;
  }
  return g_strdup (token);
}

static WeObjectInfo *
object_from_contents (const gchar *bucket, WeS3XmlNode *contents)
{
  WeObjectInfo *info;
  const gchar *key = we_s3_xml_child_text (contents, "Key");
  const gchar *size = we_s3_xml_child_text (contents, "Size");

  if (key == NULL || key[0] == '\0')
    return NULL;
  info = we_object_info_new ();
  info->key = g_strdup (key);
  info->url = url_for (bucket, key);
  info->size = size != NULL ? g_ascii_strtoull (size, NULL, 10) : 0;
  info->last_modified = parse_iso8601 (we_s3_xml_child_text (contents, "LastModified"));
  info->etag = unquote_etag (we_s3_xml_child_text (contents, "ETag"));
  info->content_type = guess_content_type (key);
  return info;
}

static GPtrArray *
we_storage_s3_list_objects (WeStorage *storage, const gchar *prefix_url, GError **error)
{
  WeStorageS3 *self = WE_STORAGE_S3 (storage);
  g_auto(S3Location) loc = { 0 };
  g_autoptr(SoupSession) session = NULL;
  g_autoptr(GPtrArray) out = NULL;
  g_autofree gchar *token = NULL;

  if (!check_configured (self, error) || !parse_url (prefix_url, TRUE, &loc, error))
    return NULL;
  session = s3_session_new ();
  out = g_ptr_array_new_with_free_func ((GDestroyNotify) we_object_info_free);
  do {
    g_autoptr(WeS3XmlNode) page = NULL;
    g_autoptr(GError) local_error = NULL;
    gchar *next;

    page = list_page (self, session, loc.bucket, loc.key, NULL, token, error);
    if (page == NULL)
      return NULL;
    for (guint i = 0; i < page->children->len && out->len < MAX_LIST_OBJECTS; i++) {
      WeS3XmlNode *child = g_ptr_array_index (page->children, i);
      WeObjectInfo *info;
      if (g_strcmp0 (child->name, "Contents") != 0)
        continue;
      info = object_from_contents (loc.bucket, child);
      if (info != NULL)
        g_ptr_array_add (out, info);
    }
    next = next_token (page, token, &local_error);
    if (local_error != NULL) {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return NULL;
    }
    g_free (token);
    token = next;
  } while (token != NULL && out->len < MAX_LIST_OBJECTS);
  if (out->len >= MAX_LIST_OBJECTS)
    g_warning ("listing %s stopped at %d objects", prefix_url, MAX_LIST_OBJECTS);
  return g_steal_pointer (&out);
}

static WeBrowseEntry *
bucket_entry (const gchar *bucket, gint64 created)
{
  WeBrowseEntry *entry = we_browse_entry_new ();

  entry->name = g_strdup (bucket);
  entry->path = url_for (bucket, "");
  entry->url = url_for (bucket, "");
  entry->is_directory = TRUE;
  entry->mod_time = created;
  return entry;
}

static GPtrArray *
we_storage_s3_browse_roots (WeStorage *storage, GError **error)
{
  WeStorageS3 *self = WE_STORAGE_S3 (storage);
  g_autoptr(GPtrArray) out = NULL;
  g_autoptr(SoupSession) session = NULL;
  g_autoptr(GBytes) body = NULL;
  g_autoptr(WeS3XmlNode) root = NULL;
  g_autoptr(GError) local_error = NULL;
  S3Request req = { .method = "GET" };
  WeS3XmlNode *buckets;

  if (!check_configured (self, error))
    return NULL;
  out = g_ptr_array_new_with_free_func ((GDestroyNotify) we_browse_entry_free);
  if (self->bucket != NULL)
    g_ptr_array_add (out, bucket_entry (self->bucket, 0));

  /* the other buckets only when the credentials may list them */
  session = s3_session_new ();
  body = s3_call (self, session, &req, MAX_XML_BODY, NULL, NULL, &local_error);
  if (body != NULL)
    root = parse_xml_response (body, "listing buckets", "ListAllMyBucketsResult", &local_error);
  if (root == NULL) {
    if (self->bucket == NULL) {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return NULL;
    }
    g_debug ("browse roots: only the configured bucket: %s", local_error->message);
    return g_steal_pointer (&out);
  }
  buckets = we_s3_xml_child (root, "Buckets");
  for (guint i = 0; buckets != NULL && i < buckets->children->len; i++) {
    WeS3XmlNode *b = g_ptr_array_index (buckets->children, i);
    const gchar *name = we_s3_xml_child_text (b, "Name");
    gint64 created = parse_iso8601 (we_s3_xml_child_text (b, "CreationDate"));

    if (g_strcmp0 (b->name, "Bucket") != 0 || name == NULL || !bucket_name_is_valid (name))
      continue;
    if (g_strcmp0 (name, self->bucket) == 0) {
      WeBrowseEntry *first = g_ptr_array_index (out, 0);
      first->mod_time = created;
      continue;
    }
    g_ptr_array_add (out, bucket_entry (name, created));
  }
  return g_steal_pointer (&out);
}

static gint
compare_entries (gconstpointer a, gconstpointer b)
{
  const WeBrowseEntry *ea = *(WeBrowseEntry * const *) a;
  const WeBrowseEntry *eb = *(WeBrowseEntry * const *) b;
  gint rc;

  if (ea->is_directory != eb->is_directory)
    return ea->is_directory ? -1 : 1;
  rc = g_ascii_strcasecmp (ea->name, eb->name);
  return rc != 0 ? rc : strcmp (ea->name, eb->name);
}

static gboolean
name_matches (const gchar *name, const gchar *folded_query)
{
  g_autofree gchar *folded = g_utf8_casefold (name, -1);
  return strstr (folded, folded_query) != NULL;
}

/* What browse() accepts: what it handed out (s3:// URLs), or a folder
 * relative to the default bucket. The prefix comes back "" or ending in '/'. */
static gboolean
browse_location (WeStorageS3 *self, const gchar *path, S3Location *loc, GError **error)
{
  if (path != NULL && strstr (path, "://") != NULL) {
    if (!parse_url (path, TRUE, loc, error))
      return FALSE;
  } else {
    g_autoptr(GError) local_error = NULL;
    const gchar *rel = path != NULL ? path : "";

    if (self->bucket == NULL) {
      g_set_error_literal (error, WE_ERROR, WE_ERROR_STO_NOT_FOUND,
                           "no default bucket is configured: browse an s3://bucket/ URL");
      return FALSE;
    }
    while (*rel == '/')
      rel++;
    if (!check_key (rel, TRUE, &local_error)) {
      g_set_error (error, WE_ERROR, WE_ERROR_STO_ACCESS_DENIED, "access denied: %s",
                   local_error->message);
      return FALSE;
    }
    loc->bucket = g_strdup (self->bucket);
    loc->key = g_strdup (rel);
  }
  if (loc->key[0] != '\0' && !g_str_has_suffix (loc->key, "/")) {
    gchar *dir = g_strconcat (loc->key, "/", NULL);
    g_free (loc->key);
    loc->key = dir;
  }
  return TRUE;
}

static WeBrowseResult *
we_storage_s3_browse (WeStorage *storage, const gchar *path, const WeBrowseOptions *options,
                      GError **error)
{
  WeStorageS3 *self = WE_STORAGE_S3 (storage);
  g_auto(S3Location) loc = { 0 };
  g_autoptr(SoupSession) session = NULL;
  g_autoptr(GPtrArray) entries = NULL;
  g_autofree gchar *folded_query = NULL;
  g_autofree gchar *token = NULL;
  WeBrowseResult *result;
  gsize prefix_len;
  guint seen = 0;

  if (!check_configured (self, error) || !browse_location (self, path, &loc, error))
    return NULL;
  prefix_len = strlen (loc.key);
  if (options->search_query != NULL && options->search_query[0] != '\0') {
    g_autofree gchar *valid = g_utf8_make_valid (options->search_query, -1);
    folded_query = g_utf8_casefold (valid, -1);
  }

  session = s3_session_new ();
  entries = g_ptr_array_new_with_free_func ((GDestroyNotify) we_browse_entry_free);
  do {
    g_autoptr(WeS3XmlNode) page = NULL;
    g_autoptr(GError) local_error = NULL;
    gchar *next;

    page = list_page (self, session, loc.bucket, loc.key, "/", token, error);
    if (page == NULL)
      return NULL;
    for (guint i = 0; i < page->children->len && entries->len < MAX_BROWSE_ENTRIES; i++) {
      WeS3XmlNode *child = g_ptr_array_index (page->children, i);
      g_autoptr(WeBrowseEntry) entry = NULL;
      g_autofree gchar *name = NULL;
      const gchar *full;

      if (g_strcmp0 (child->name, "CommonPrefixes") == 0) {
        full = we_s3_xml_child_text (child, "Prefix");
        if (full == NULL || !g_str_has_prefix (full, loc.key) || !g_str_has_suffix (full, "/"))
          continue;
        seen++;
        name = g_strndup (full + prefix_len, strlen (full) - prefix_len - 1);
        entry = we_browse_entry_new ();
        entry->is_directory = TRUE;
      } else if (g_strcmp0 (child->name, "Contents") == 0) {
        const gchar *size = we_s3_xml_child_text (child, "Size");
        full = we_s3_xml_child_text (child, "Key");
        if (full == NULL || !g_str_has_prefix (full, loc.key))
          continue;
        seen++;
        /* "folder/" marker objects that consoles create are the folder itself */
        if (full[prefix_len] == '\0')
          continue;
        name = g_strdup (full + prefix_len);
        entry = we_browse_entry_new ();
        entry->size = size != NULL ? g_ascii_strtoull (size, NULL, 10) : 0;
        entry->mod_time = parse_iso8601 (we_s3_xml_child_text (child, "LastModified"));
      } else {
        continue;
      }
      if (name[0] == '\0' || !g_utf8_validate (name, -1, NULL))
        continue;
      if (name[0] == '.' && !options->show_hidden)
        continue;
      if (folded_query != NULL && !name_matches (name, folded_query))
        continue;
      entry->name = g_steal_pointer (&name);
      entry->path = url_for (loc.bucket, full);
      entry->url = url_for (loc.bucket, full);
      we_browse_entry_classify (entry);
      if (options->media_only && !entry->is_directory && !entry->is_video && !entry->is_audio)
        continue;
      g_ptr_array_add (entries, g_steal_pointer (&entry));
    }
    next = next_token (page, token, &local_error);
    if (local_error != NULL) {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return NULL;
    }
    g_free (token);
    token = next;
  } while (token != NULL && entries->len < MAX_BROWSE_ENTRIES);
  if (entries->len >= MAX_BROWSE_ENTRIES)
    g_warning ("browsing s3://%s/%s stopped at %d entries", loc.bucket, loc.key,
               MAX_BROWSE_ENTRIES);

  /* folders exist only through what lies in them */
  if (seen == 0 && prefix_len > 0) {
    g_set_error (error, WE_ERROR, WE_ERROR_STO_NOT_FOUND, "no such directory: s3://%s/%s",
                 loc.bucket, loc.key);
    return NULL;
  }
  g_ptr_array_sort (entries, compare_entries);

  result = g_new0 (WeBrowseResult, 1);
  result->current_path = url_for (loc.bucket, loc.key);
  if (prefix_len > 0) {
    g_autofree gchar *trimmed = g_strndup (loc.key, prefix_len - 1);
    const gchar *slash = strrchr (trimmed, '/');
    g_autofree gchar *parent = slash != NULL ? g_strndup (trimmed, slash - trimmed + 1)
                                             : g_strdup ("");
    result->parent_path = url_for (loc.bucket, parent);
  }
  result->entries = g_steal_pointer (&entries);
  return result;
}

static void
we_storage_s3_iface_init (WeStorageInterface *iface)
{
  iface->handles_url = we_storage_s3_handles_url;
  iface->get_capabilities = we_storage_s3_get_capabilities;
  iface->make_url = we_storage_s3_make_url;
  iface->get_media_uri = we_storage_s3_get_media_uri;
  iface->stat = we_storage_s3_stat;
  iface->open_read = we_storage_s3_open_read;
  iface->create = we_storage_s3_create;
  iface->delete_object = we_storage_s3_delete_object;
  iface->get_signed_url = we_storage_s3_get_signed_url;
  iface->list_objects = we_storage_s3_list_objects;
  iface->browse_roots = we_storage_s3_browse_roots;
  iface->browse = we_storage_s3_browse;
}

/* ---- the module ---- */

/* A spec §6.5 secret reference that resolves here, once: env:NAME and
 * file:/absolute/path. Every other reference goes to the service's secrets
 * backend at use time (see read_credential()). */
static gchar *
resolve_secret_ref (const gchar *key, const gchar *ref, GError **error)
{
  g_autofree gchar *value = NULL;

  if (g_str_has_prefix (ref, "env:")) {
    const gchar *name = ref + strlen ("env:");
    const gchar *env = name[0] != '\0' ? g_getenv (name) : NULL;
    if (env == NULL) {
      g_set_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                   "'%s': environment variable %s is not set", key, name);
      return NULL;
    }
    value = g_strdup (env);
  } else if (g_str_has_prefix (ref, "file:")) {
    const gchar *path = ref + strlen ("file:");
    g_autoptr(GError) local_error = NULL;
    gsize len = 0;

    /* file:///path is a URI; file:/path is how operators write it */
    if (g_str_has_prefix (path, "//"))
      path += 2;
    if (!g_path_is_absolute (path)) {
      g_set_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                   "'%s': file references need an absolute path", key);
      return NULL;
    }
    if (!g_file_get_contents (path, &value, &len, &local_error)) {
      g_set_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG, "'%s': %s", key,
                   local_error->message);
      return NULL;
    }
    if (len > MAX_SECRET_FILE || memchr (value, '\0', len) != NULL) {
      clear_secret (&value);
      g_set_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                   "'%s': %s does not hold a single text secret", key, path);
      return NULL;
    }
    g_strstrip (value);
  } else {
    g_set_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                 "'%s': no secrets backend is configured ([secrets] in the service "
                 "configuration); use one, or an env:NAME or file:/path reference", key);
    return NULL;
  }
  if (value[0] == '\0') {
    clear_secret (&value);
    g_set_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG, "'%s' resolves to an empty value",
                 key);
    return NULL;
  }
  return g_steal_pointer (&value);
}

/* Reads credential @key: the plain key (discouraged: a warning, never the
 * value), "<key>_ref" or "<key>_secret_ref". env: and file:/path references
 * resolve now; any other reference is kept in @ref_out and resolved through
 * @secrets when a request needs it. */
static gboolean
read_credential (JsonObject *config, WeSecrets *secrets, const gchar *key, gchar **out,
                 gchar **ref_out, GError **error)
{
  g_autofree gchar *ref_key = g_strconcat (key, "_ref", NULL);
  g_autofree gchar *secret_ref_key = g_strconcat (key, "_secret_ref", NULL);
  const gchar *plain = we_plugin_config_get_string (config, key, NULL);
  const gchar *ref = we_plugin_config_get_string (config, ref_key, NULL);
  const gchar *secret_ref = we_plugin_config_get_string (config, secret_ref_key, NULL);

  if (plain != NULL && plain[0] == '\0')
    plain = NULL;
  if (ref != NULL && ref[0] == '\0')
    ref = NULL;
  if (secret_ref != NULL && secret_ref[0] == '\0')
    secret_ref = NULL;
  if ((plain != NULL) + (ref != NULL) + (secret_ref != NULL) > 1) {
    g_set_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                 "set only one of '%s', '%s' and '%s'", key, ref_key, secret_ref_key);
    return FALSE;
  }
  if (secret_ref != NULL) {
    ref = secret_ref;
    g_free (ref_key);
    ref_key = g_steal_pointer (&secret_ref_key);
  }
  if (ref != NULL) {
    if (g_str_has_prefix (ref, "env:") || g_str_has_prefix (ref, "file:/")) {
      *out = resolve_secret_ref (ref_key, ref, error);
      return *out != NULL;
    }
    if (secrets == NULL) {
      g_set_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                   "'%s': no secrets backend is configured ([secrets] in the service "
                   "configuration); use one, or an env:NAME or file:/path reference", ref_key);
      return FALSE;
    }
    *ref_out = g_strdup (ref);
    return TRUE;
  }
  if (plain != NULL && g_str_equal (key, "secret_access_key"))
    g_warning ("storage-s3: '%s' is set in plain text in the configuration; this is "
               "discouraged: store it in the secrets backend and set '%s' (spec §6.5)", key,
               ref_key);
  *out = g_strdup (plain);
  return TRUE;
}

static gboolean
int_in_range (JsonObject *config, const gchar *key, gint64 def, gint64 min, gint64 max,
              gint64 *out, GError **error)
{
  *out = we_plugin_config_get_int (config, key, def);
  if (*out < min || *out > max) {
    g_set_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                 "'%s' must be between %" G_GINT64_FORMAT " and %" G_GINT64_FORMAT ", not %"
                 G_GINT64_FORMAT, key, min, max, *out);
    return FALSE;
  }
  return TRUE;
}

static gboolean
parse_endpoint (WeStorageS3 *self, const gchar *endpoint, GError **error)
{
  g_autofree gchar *full = NULL;
  g_autoptr(GUri) uri = NULL;
  g_autoptr(GError) local_error = NULL;
  const gchar *host;
  const gchar *path;
  gint port;

  /* the spec's example writes a bare host name; S3 speaks HTTPS by default */
  full = strstr (endpoint, "://") != NULL ? g_strdup (endpoint)
                                          : g_strconcat ("https://", endpoint, NULL);
  uri = g_uri_parse (full, G_URI_FLAGS_NONE, &local_error);
  if (uri == NULL) {
    g_set_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG, "'endpoint' %s: %s", endpoint,
                 local_error->message);
    return FALSE;
  }
  host = g_uri_get_host (uri);
  path = g_uri_get_path (uri);
  if ((g_strcmp0 (g_uri_get_scheme (uri), "http") != 0 &&
       g_strcmp0 (g_uri_get_scheme (uri), "https") != 0) ||
      host == NULL || host[0] == '\0' || g_uri_get_userinfo (uri) != NULL ||
      g_uri_get_query (uri) != NULL || g_uri_get_fragment (uri) != NULL ||
      (path[0] != '\0' && g_strcmp0 (path, "/") != 0)) {
    g_set_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                 "'endpoint' must be http(s)://host[:port] without path, credentials or query, "
                 "not %s", endpoint);
    return FALSE;
  }
  self->scheme = g_strdup (g_uri_get_scheme (uri));
  port = g_uri_get_port (uri);
  {
    g_autofree gchar *h = strchr (host, ':') != NULL ? g_strdup_printf ("[%s]", host)
                                                     : g_ascii_strdown (host, -1);
    gboolean default_port = port == -1 || (port == 80 && g_str_equal (self->scheme, "http")) ||
                            (port == 443 && g_str_equal (self->scheme, "https"));
    self->authority = default_port ? g_steal_pointer (&h) : g_strdup_printf ("%s:%d", h, port);
  }
  return TRUE;
}

static GObject *
we_storage_s3_create_with_secrets (JsonObject *config, WeSecrets *secrets, GError **error)
{
  g_autoptr(WeStorageS3) self = g_object_new (WE_TYPE_STORAGE_S3, NULL);
  const gchar *endpoint = we_plugin_config_get_string (config, "endpoint", NULL);
  const gchar *region = we_plugin_config_get_string (config, "region", "us-east-1");
  const gchar *bucket = we_plugin_config_get_string (config, "bucket", NULL);
  g_autofree gchar *default_endpoint = NULL;
  gint64 threshold_mb, part_mb, expiry, page;

  if (endpoint != NULL && endpoint[0] == '\0')
    endpoint = NULL;
  if (bucket != NULL && bucket[0] == '\0')
    bucket = NULL;

  if (!read_credential (config, secrets, "access_key_id", &self->access_key_id,
                        &self->access_key_id_ref, error) ||
      !read_credential (config, secrets, "secret_access_key", &self->secret_access_key,
                        &self->secret_access_key_ref, error)) {
    g_prefix_error (error, "storage-s3: ");
    return NULL;
  }
  if (self->access_key_id_ref != NULL || self->secret_access_key_ref != NULL)
    self->secrets = g_object_ref (secrets);
  /* Loaded from the plugin directory with no configuration at all (every
   * embedded install): stay out of the way instead of failing loudly. */
  {
    gboolean have_id = self->access_key_id != NULL || self->access_key_id_ref != NULL;
    gboolean have_secret = self->secret_access_key != NULL || self->secret_access_key_ref != NULL;

    self->signed_requests = have_id && have_secret;
    if (have_id != have_secret) {
      g_set_error_literal (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                           "storage-s3 needs both an access key id and a secret access key, "
                           "or neither for anonymous access");
      return NULL;
    }
  }
  if (endpoint == NULL && bucket == NULL && !self->signed_requests) {
    self->region = g_strdup (region);
    return G_OBJECT (g_steal_pointer (&self));
  }

  if (region == NULL || region[0] == '\0' ||
      strspn (region, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen (region)) {
    g_set_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                 "storage-s3 'region' must look like us-east-1, not '%s'", region ? region : "");
    return NULL;
  }
  self->region = g_strdup (region);
  if (bucket != NULL && !bucket_name_is_valid (bucket)) {
    g_set_error (error, WE_ERROR, WE_ERROR_PLG_INVALID_CONFIG,
                 "storage-s3 'bucket' is not a valid bucket name: '%s'", bucket);
    return NULL;
  }
  self->bucket = g_strdup (bucket);
  if (endpoint == NULL)
    endpoint = default_endpoint = g_strdup_printf ("https://s3.%s.amazonaws.com", region);
  if (!parse_endpoint (self, endpoint, error)) {
    g_prefix_error (error, "storage-s3: ");
    return NULL;
  }
  self->path_style = we_plugin_config_get_boolean (config, "path_style", TRUE);

  /* S3 wants parts of 5 MiB at least (but the last) and 10000 at most */
  if (!int_in_range (config, "part_size_mb", 8, 5, 5120, &part_mb, error) ||
      !int_in_range (config, "multipart_threshold_mb", 16, 1, 5120, &threshold_mb, error) ||
      !int_in_range (config, "presign_expiry_s", 3600, 1, WE_S3_MAX_EXPIRY_S, &expiry, error) ||
      !int_in_range (config, "list_page_size", 1000, 1, 1000, &page, error)) {
    g_prefix_error (error, "storage-s3: ");
    return NULL;
  }
  self->part_size = (guint64) part_mb * MiB;
  self->threshold = (guint64) threshold_mb * MiB;
  self->presign_expiry = expiry;
  self->list_page_size = (guint) page;
  self->configured = TRUE;
  return G_OBJECT (g_steal_pointer (&self));
}

static GObject *
we_storage_s3_create_instance (JsonObject *config, GError **error)
{
  return we_storage_s3_create_with_secrets (config, NULL, error);
}

static const gchar * const storage_s3_config_keys[] = {
  "endpoint", "region", "bucket", "access_key_id", "secret_access_key", "access_key_id_ref",
  "secret_access_key_ref", "access_key_id_secret_ref", "secret_access_key_secret_ref", "path_style", "multipart_threshold_mb", "part_size_mb",
  "presign_expiry_s", "list_page_size", NULL
};

static const WePluginDescriptor storage_s3_descriptor = {
  .protocol_version = WE_PLUGIN_PROTOCOL_VERSION,
  .abi_minor = WE_PLUGIN_ABI_MINOR,
  .id = "storage-s3",
  .pillar = WE_PILLAR_STORAGE,
  .version = PLUGIN_VERSION,
  .config_keys = storage_s3_config_keys,
  .create = we_storage_s3_create_instance,
  .create_with_secrets = we_storage_s3_create_with_secrets,
};

WE_PLUGIN_DEFINE (storage_s3_descriptor)
