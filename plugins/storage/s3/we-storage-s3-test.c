/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * storage-s3: the SigV4 signer against AWS's published examples, then the
 * module, loaded through the plugin host, against a real S3 server (s3rver
 * from npm, behind tests/s3/start-s3rver.js, which checks every signature
 * independently). Without tests/s3/node_modules the server cases cannot
 * run: the rest still does and the test then reports a skip (77).
 */
#include "config.h"

#include <glib/gstdio.h>
#include <libsoup/soup.h>
#include <string.h>

#include "plugin/we-plugin-host.h"
#include "we-s3-sigv4.h"
#include "we-s3-xml.h"

#define MiB            (1024 * 1024)
#define TEST_KEY_ID    "WETESTKEY"
#define TEST_SECRET    "we/test+secret=key"
#define TEST_BUCKET    "media"
#define OTHER_BUCKET   "other-bucket"

/* ---- the server, one for the whole run ---- */

static struct {
  GSubprocess *proc;
  gchar       *dir;
  gchar       *endpoint;
  gchar       *skip_reason;
} server;

static gboolean
start_server (void)
{
  const gchar *src = g_getenv ("WE_SOURCE_ROOT");
  g_autofree gchar *script = NULL;
  g_autofree gchar *modules = NULL;
  g_autofree gchar *node = g_find_program_in_path ("node");
  g_autofree gchar *line = NULL;
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GDataInputStream) out = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_nonnull (src);
  script = g_build_filename (src, "tests", "s3", "start-s3rver.js", NULL);
  modules = g_build_filename (src, "tests", "s3", "node_modules", "s3rver", NULL);
  if (node == NULL) {
    server.skip_reason = g_strdup ("node is not installed");
    return FALSE;
  }
  if (!g_file_test (modules, G_FILE_TEST_IS_DIR)) {
    server.skip_reason = g_strdup_printf ("%s is missing: run 'npm ci --prefix %s/tests/s3'",
                                          modules, src);
    return FALSE;
  }
  server.dir = g_dir_make_tmp ("we-s3rver-XXXXXX", &error);
  g_assert_no_error (error);

  /* stdin is a pipe we hold: the server exits when we do, even on a crash */
  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDIN_PIPE |
                                        G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  server.proc = g_subprocess_launcher_spawn (launcher, &error, node, script, "--port", "0",
                                             "--directory", server.dir, "--bucket", TEST_BUCKET,
                                             "--bucket", OTHER_BUCKET, "--access-key",
                                             TEST_KEY_ID, "--secret-key", TEST_SECRET, NULL);
  g_assert_no_error (error);
  out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (server.proc));
  line = g_data_input_stream_read_line_utf8 (out, NULL, NULL, &error);
  g_assert_no_error (error);
  if (line == NULL || !g_str_has_prefix (line, "ready ")) {
    server.skip_reason = g_strdup_printf ("start-s3rver.js did not start (said: %s)",
                                          line ? line : "nothing");
    return FALSE;
  }
  server.endpoint = g_strdup_printf ("http://127.0.0.1:%s", line + strlen ("ready "));
  return TRUE;
}

static void
rm_rf (const gchar *path)
{
  GStatBuf st;

  if (g_lstat (path, &st) < 0)
    return;
  if (S_ISDIR (st.st_mode)) {
    g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
    const gchar *name;
    while (dir != NULL && (name = g_dir_read_name (dir)) != NULL) {
      g_autofree gchar *child = g_build_filename (path, name, NULL);
      rm_rf (child);
    }
    g_rmdir (path);
  } else {
    g_unlink (path);
  }
}

static void
stop_server (void)
{
  if (server.proc != NULL) {
    g_output_stream_close (g_subprocess_get_stdin_pipe (server.proc), NULL, NULL);
    g_subprocess_wait (server.proc, NULL, NULL);
    g_clear_object (&server.proc);
  }
  if (server.dir != NULL)
    rm_rf (server.dir);
  g_clear_pointer (&server.dir, g_free);
  g_clear_pointer (&server.endpoint, g_free);
}

/* Multipart uploads s3rver still holds (started and neither completed nor aborted). */
static guint
pending_uploads (const gchar *bucket)
{
  g_autofree gchar *dir = g_build_filename (server.dir, bucket, "._S3rver_uploads", NULL);
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  guint n = 0;

  while (d != NULL && g_dir_read_name (d) != NULL)
    n++;
  return n;
}

/* ---- loading the module ---- */

typedef struct {
  JsonObject   *config;
  WePluginHost *host;
  WeStorage    *storage;
} Fixture;

static JsonObject *
config_func (const gchar *plugin_id, gpointer user_data)
{
  Fixture *fx = user_data;
  return json_object_ref (fx->config);
}

/* Loads storage-s3 with fx->config; returns its record. */
static WePluginInfo *
load (Fixture *fx)
{
  const gchar *plugin_dir = g_getenv ("WE_PLUGIN_DIR");
  g_autofree gchar *manifest = NULL;

  g_assert_nonnull (plugin_dir);
  manifest = g_build_filename (plugin_dir, "storage", "s3", "we-storage-s3.plugin", NULL);
  g_clear_object (&fx->host);
  fx->host = we_plugin_host_new ();
  we_plugin_host_set_config_func (fx->host, config_func, fx, NULL);
  we_plugin_host_load_manifest (fx->host, manifest, NULL);
  fx->storage = (WeStorage *) we_plugin_host_get_instance (fx->host, "storage-s3");
  return we_plugin_host_get_plugin (fx->host, "storage-s3");
}

static void
server_config (Fixture *fx)
{
  json_object_set_string_member (fx->config, "endpoint", server.endpoint);
  json_object_set_string_member (fx->config, "bucket", TEST_BUCKET);
  json_object_set_string_member (fx->config, "access_key_id", TEST_KEY_ID);
  json_object_set_string_member (fx->config, "secret_access_key", TEST_SECRET);
  /* S3's smallest parts, so multipart runs on a dozen MiB */
  json_object_set_int_member (fx->config, "multipart_threshold_mb", 5);
  json_object_set_int_member (fx->config, "part_size_mb", 5);
  json_object_set_int_member (fx->config, "list_page_size", 3);
}

static void
fixture_setup (Fixture *fx, gconstpointer data)
{
  fx->config = json_object_new ();
  if (g_strcmp0 (data, "server") == 0) {
    if (server.endpoint == NULL) {
      g_test_skip (server.skip_reason);
      return;
    }
    server_config (fx);
    load (fx);
    g_assert_nonnull (fx->storage);
  }
}

static void
fixture_teardown (Fixture *fx, gconstpointer data)
{
  g_clear_object (&fx->host);
  json_object_unref (fx->config);
}

#define SKIP_WITHOUT_SERVER()   \
  G_STMT_START {                \
    if (fx->storage == NULL)    \
      return;                   \
  } G_STMT_END

/* ---- helpers ---- */

static void
put (WeStorage *storage, const gchar *url, const void *data, gsize len)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GOutputStream) out = we_storage_create (storage, url, &error);
  gsize written = 0;

  g_assert_no_error (error);
  g_output_stream_write_all (out, data, len, &written, NULL, &error);
  g_assert_no_error (error);
  g_output_stream_close (out, NULL, &error);
  g_assert_no_error (error);
}

static void
put_str (WeStorage *storage, const gchar *url, const gchar *text)
{
  put (storage, url, text, strlen (text));
}

static GBytes *
get (WeStorage *storage, const gchar *url, goffset offset)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GInputStream) in = we_storage_open_read (storage, url, offset, &error);
  g_autoptr(GOutputStream) mem = g_memory_output_stream_new_resizable ();

  g_assert_no_error (error);
  g_output_stream_splice (mem, in, G_OUTPUT_STREAM_SPLICE_CLOSE_SOURCE |
                                   G_OUTPUT_STREAM_SPLICE_CLOSE_TARGET, NULL, &error);
  g_assert_no_error (error);
  return g_memory_output_stream_steal_as_bytes (G_MEMORY_OUTPUT_STREAM (mem));
}

static void
assert_bytes_str (GBytes *bytes, const gchar *expected)
{
  gsize len;
  const gchar *data = g_bytes_get_data (bytes, &len);
  g_assert_cmpmem (data, len, expected, strlen (expected));
}

static void
assert_missing (WeStorage *storage, const gchar *url)
{
  g_autoptr(GError) error = NULL;
  g_auto(WeObjectInfo) info = { 0 };

  g_assert_false (we_storage_stat (storage, url, &info, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_STO_NOT_FOUND);
}

static guint8 *
pattern (gsize len, guint32 seed)
{
  g_autoptr(GRand) rand = g_rand_new_with_seed (seed);
  guint8 *data = g_malloc (len);

  for (gsize i = 0; i < len; i += 4) {
    guint32 v = g_rand_int (rand);
    memcpy (data + i, &v, MIN (4, len - i));
  }
  return data;
}

/* ---- SigV4 against AWS's published examples ---- */

static const WeS3Credentials aws_example = {
  "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "us-east-1", "s3"
};

/* "Example: GET Object" of the S3 SigV4 header-signing documentation */
static void
test_sigv4_get_object (Fixture *fx, gconstpointer data)
{
  const gchar *headers[] = {
    "Host", "examplebucket.s3.amazonaws.com",
    "Range", "bytes=0-9",
    "x-amz-content-sha256", WE_S3_EMPTY_SHA256,
    "x-amz-date", "20130524T000000Z",
    NULL
  };
  g_autofree gchar *signed_headers = NULL;
  g_autofree gchar *request = we_s3_canonical_request ("GET", "/test.txt", "", headers,
                                                       WE_S3_EMPTY_SHA256, &signed_headers);
  g_autofree gchar *to_sign = we_s3_string_to_sign (&aws_example, "20130524T000000Z", request);
  g_autofree gchar *signature = we_s3_signature (&aws_example, "20130524T000000Z", to_sign);
  g_autofree gchar *auth = we_s3_authorization (&aws_example, "GET", "/test.txt", "", headers,
                                                WE_S3_EMPTY_SHA256, "20130524T000000Z");

  g_assert_cmpstr (request, ==,
                   "GET\n"
                   "/test.txt\n"
                   "\n"
                   "host:examplebucket.s3.amazonaws.com\n"
                   "range:bytes=0-9\n"
                   "x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
                   "x-amz-date:20130524T000000Z\n"
                   "\n"
                   "host;range;x-amz-content-sha256;x-amz-date\n"
                   "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  g_assert_cmpstr (signed_headers, ==, "host;range;x-amz-content-sha256;x-amz-date");
  g_assert_cmpstr (to_sign, ==,
                   "AWS4-HMAC-SHA256\n"
                   "20130524T000000Z\n"
                   "20130524/us-east-1/s3/aws4_request\n"
                   "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
  g_assert_cmpstr (signature, ==, "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
  g_assert_cmpstr (auth, ==,
                   "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
                   "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
                   "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

/* "Example: PUT Object": a '$' in the key, a payload hash, an extra header */
static void
test_sigv4_put_object (Fixture *fx, gconstpointer data)
{
  const gchar *body = "Welcome to Amazon S3.";
  g_autofree gchar *hash = we_s3_sha256_hex ((const guint8 *) body, strlen (body));
  g_autofree gchar *uri = we_s3_uri_encode ("/test$file.text", TRUE);
  const gchar *headers[] = {
    "Date", "Fri, 24 May 2013 00:00:00 GMT",
    "Host", "examplebucket.s3.amazonaws.com",
    "x-amz-date", "20130524T000000Z",
    "x-amz-storage-class", "REDUCED_REDUNDANCY",
    "x-amz-content-sha256", hash,
    NULL
  };
  g_autofree gchar *auth = NULL;

  g_assert_cmpstr (hash, ==, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
  g_assert_cmpstr (uri, ==, "/test%24file.text");
  auth = we_s3_authorization (&aws_example, "PUT", uri, "", headers, hash, "20130524T000000Z");
  g_assert_cmpstr (auth, ==,
                   "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
                   "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class, "
                   "Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
}

/* "Example: GET Bucket Lifecycle" and "Example: Get Bucket (List Objects)":
 * a value-less parameter and sorted parameters */
static void
test_sigv4_query (Fixture *fx, gconstpointer data)
{
  const gchar *headers[] = {
    "Host", "examplebucket.s3.amazonaws.com",
    "x-amz-date", "20130524T000000Z",
    "x-amz-content-sha256", WE_S3_EMPTY_SHA256,
    NULL
  };
  const gchar *lifecycle[] = { "lifecycle", "", NULL };
  const gchar *list[] = { "prefix", "J", "max-keys", "2", NULL };
  g_autofree gchar *q1 = we_s3_canonical_query (lifecycle);
  g_autofree gchar *q2 = we_s3_canonical_query (list);
  g_autofree gchar *sig1 = NULL;
  g_autofree gchar *sig2 = NULL;

  g_assert_cmpstr (q1, ==, "lifecycle=");
  g_assert_cmpstr (q2, ==, "max-keys=2&prefix=J");
  sig1 = we_s3_authorization (&aws_example, "GET", "/", q1, headers, WE_S3_EMPTY_SHA256,
                              "20130524T000000Z");
  sig2 = we_s3_authorization (&aws_example, "GET", "/", q2, headers, WE_S3_EMPTY_SHA256,
                              "20130524T000000Z");
  g_assert_true (g_str_has_suffix (sig1, "Signature=fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"));
  g_assert_true (g_str_has_suffix (sig2, "Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"));
}

/* The presigned URL example of "Authenticating Requests: Using Query Parameters" */
static void
test_sigv4_presign (Fixture *fx, gconstpointer data)
{
  g_autofree gchar *query = we_s3_presign_query (&aws_example, "GET", "/test.txt",
                                                 "examplebucket.s3.amazonaws.com", NULL,
                                                 "20130524T000000Z", 86400);

  g_assert_cmpstr (query, ==,
                   "X-Amz-Algorithm=AWS4-HMAC-SHA256"
                   "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
                   "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
                   "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
}

static void
test_sigv4_encoding (Fixture *fx, gconstpointer data)
{
  g_autofree gchar *a = we_s3_uri_encode ("a b/c+d~e_f.g-h", TRUE);
  g_autofree gchar *b = we_s3_uri_encode ("a b/c", FALSE);
  g_autofree gchar *c = we_s3_uri_encode ("\xc3\xa9*=&", FALSE);
  g_autoptr(GDateTime) dt = g_date_time_new_utc (2013, 5, 24, 0, 0, 0);
  g_autofree gchar *date = we_s3_amz_date (dt);
  const gchar *headers[] = { "X-Amz-Meta-A", "  two   spaces  ", "host", "h", NULL };
  g_autofree gchar *request = we_s3_canonical_request ("GET", "/", "", headers, "x", NULL);

  g_assert_cmpstr (a, ==, "a%20b/c%2Bd~e_f.g-h");
  g_assert_cmpstr (b, ==, "a%20b%2Fc");
  g_assert_cmpstr (c, ==, "%C3%A9%2A%3D%26");
  g_assert_cmpstr (date, ==, "20130524T000000Z");
  g_assert_nonnull (strstr (request, "host:h\nx-amz-meta-a:two spaces\n\nhost;x-amz-meta-a\n"));
}

static void
test_xml (Fixture *fx, gconstpointer data)
{
  const gchar *list =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
    "<IsTruncated>true</IsTruncated><NextContinuationToken>a&amp;b</NextContinuationToken>"
    "<Contents><Key>x/1.mp4</Key><Size>42</Size></Contents>"
    "<Contents><Key>x/2.mp4</Key></Contents></ListBucketResult>";
  g_autoptr(WeS3XmlNode) root = NULL;
  g_autoptr(GError) error = NULL;
  GString *deep = g_string_new (NULL);

  root = we_s3_xml_parse (list, strlen (list), &error);
  g_assert_no_error (error);
  g_assert_cmpstr (root->name, ==, "ListBucketResult");
  g_assert_cmpstr (we_s3_xml_child_text (root, "NextContinuationToken"), ==, "a&b");
  g_assert_cmpuint (root->children->len, ==, 4);
  g_assert_cmpstr (we_s3_xml_child_text (we_s3_xml_child (root, "Contents"), "Size"), ==, "42");
  g_assert_null (we_s3_xml_child (root, "Nope"));
  g_clear_pointer (&root, we_s3_xml_node_free);

  g_assert_null (we_s3_xml_parse ("<a><b></a>", 10, &error));
  g_assert_nonnull (error);
  g_clear_error (&error);
  g_assert_null (we_s3_xml_parse ("", 0, &error));
  g_assert_nonnull (error);
  g_clear_error (&error);
  for (guint i = 0; i < 100; i++)
    g_string_append (deep, "<a>");
  g_assert_null (we_s3_xml_parse (deep->str, deep->len, &error));
  g_assert_nonnull (error);
  g_string_free (deep, TRUE);
}

/* ---- configuration ---- */

static void
test_unconfigured (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_auto(WeObjectInfo) info = { 0 };
  WeStorageCapabilities caps;
  WePluginInfo *plugin = load (fx);

  /* every embedded install loads it without configuration: quietly healthy,
   * never chosen for uploads, and clear about why s3:// does not work */
  g_assert_cmpint (plugin->state, ==, WE_PLUGIN_STATE_HEALTHY);
  we_storage_get_capabilities (fx->storage, &caps);
  g_assert_cmpstr (caps.storage_type, ==, "s3");
  g_assert_false (caps.supports_upload || caps.supports_browse || caps.supports_signed_urls);
  g_assert_true (we_storage_handles_url (fx->storage, "s3://media/x.mp4"));
  g_assert_false (we_storage_stat (fx->storage, "s3://media/x.mp4", &info, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_STO_UNAVAILABLE);
  g_assert_nonnull (strstr (error->message, "not configured"));
  g_assert_null (we_plugin_host_default_storage (fx->host, NULL));
}

static void
expect_refused (Fixture *fx, const gchar *what)
{
  WePluginInfo *plugin = load (fx);

  g_assert_null (fx->storage);
  g_assert_cmpint (plugin->state, ==, WE_PLUGIN_STATE_FAILED);
  if (strstr (plugin->error, what) == NULL)
    g_error ("expected '%s' in: %s", what, plugin->error);
}

static void
test_config (Fixture *fx, gconstpointer data)
{
  g_autofree gchar *secret_file = NULL;
  g_autoptr(GError) error = NULL;
  WePluginInfo *plugin;
  gint fd;

  json_object_set_string_member (fx->config, "endpoint", "http://127.0.0.1:9");
  json_object_set_string_member (fx->config, "bucket", TEST_BUCKET);

  /* secrets by reference (spec §6.5) */
  json_object_set_string_member (fx->config, "access_key_id_ref", "secret/webencode/s3/access_key");
  json_object_set_string_member (fx->config, "secret_access_key", "x");
  expect_refused (fx, "no secrets backend is configured");
  json_object_set_string_member (fx->config, "access_key_id_ref", "vault:kv/s3#id");
  expect_refused (fx, "no secrets backend is configured");
  json_object_set_string_member (fx->config, "access_key_id_ref", "env:WE_S3_TEST_UNSET_VAR");
  expect_refused (fx, "WE_S3_TEST_UNSET_VAR is not set");
  g_setenv ("WE_S3_TEST_KEY_ID", "FROMENV", TRUE);
  json_object_set_string_member (fx->config, "access_key_id_ref", "env:WE_S3_TEST_KEY_ID");

  fd = g_file_open_tmp ("we-s3-secret-XXXXXX", &secret_file, &error);
  g_assert_no_error (error);
  g_assert_cmpint (write (fd, "from-file-secret\n", 17), ==, 17);
  close (fd);
  json_object_remove_member (fx->config, "secret_access_key");
  {
    g_autofree gchar *ref = g_strconcat ("file:", secret_file, NULL);
    json_object_set_string_member (fx->config, "secret_access_key_ref", ref);
  }
  plugin = load (fx);
  g_assert_cmpint (plugin->state, ==, WE_PLUGIN_STATE_HEALTHY);
  {
    /* the presigned URL names the key id from the environment and never
     * the secret from the file */
    g_autofree gchar *url = we_storage_get_signed_url (fx->storage, "s3://media/a.mp4", "GET", 0,
                                                       &error);
    g_assert_no_error (error);
    g_assert_nonnull (strstr (url, "X-Amz-Credential=FROMENV%2F"));
    g_assert_null (strstr (url, "from-file"));
  }
  g_unlink (secret_file);
  expect_refused (fx, "secret_access_key_ref");

  json_object_set_string_member (fx->config, "secret_access_key", "x");
  json_object_remove_member (fx->config, "secret_access_key_ref");
  json_object_set_string_member (fx->config, "access_key_id", "plain");
  expect_refused (fx, "set only one of");
  json_object_remove_member (fx->config, "access_key_id_ref");
  plugin = load (fx);
  g_assert_cmpint (plugin->state, ==, WE_PLUGIN_STATE_HEALTHY);

  json_object_set_string_member (fx->config, "endpoint", "ftp://example.com");
  expect_refused (fx, "'endpoint'");
  json_object_set_string_member (fx->config, "endpoint", "http://user:pw@example.com");
  expect_refused (fx, "'endpoint'");
  json_object_set_string_member (fx->config, "endpoint", "http://example.com/some/path");
  expect_refused (fx, "'endpoint'");
  json_object_set_string_member (fx->config, "endpoint", "http://127.0.0.1:9");
  json_object_set_int_member (fx->config, "part_size_mb", 4);
  expect_refused (fx, "'part_size_mb'");
  json_object_remove_member (fx->config, "part_size_mb");
  json_object_set_string_member (fx->config, "bucket", "no");
  expect_refused (fx, "'bucket'");
  json_object_set_string_member (fx->config, "bucket", TEST_BUCKET);
  json_object_remove_member (fx->config, "secret_access_key");
  expect_refused (fx, "both");
}

/* Virtual-host addressing and the presigned URL's shape, without a server */
static void
test_url_shapes (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree gchar *url = NULL;
  g_autofree gchar *made = NULL;
  g_autofree gchar *media = NULL;
  WeStorageCapabilities caps;

  json_object_set_string_member (fx->config, "endpoint", "http://s3.example.com:9000");
  json_object_set_string_member (fx->config, "bucket", TEST_BUCKET);
  json_object_set_string_member (fx->config, "region", "eu-west-3");
  json_object_set_string_member (fx->config, "access_key_id", TEST_KEY_ID);
  json_object_set_string_member (fx->config, "secret_access_key", TEST_SECRET);
  json_object_set_boolean_member (fx->config, "path_style", FALSE);
  json_object_set_int_member (fx->config, "presign_expiry_s", 600);
  load (fx);
  g_assert_nonnull (fx->storage);

  we_storage_get_capabilities (fx->storage, &caps);
  g_assert_true (caps.supports_upload && caps.supports_browse && caps.supports_signed_urls &&
                 caps.supports_streaming);
  g_assert_cmpstr (caps.storage_type, ==, "s3");
  g_assert_true (we_storage_handles_url (fx->storage, "S3://media/x"));
  g_assert_false (we_storage_handles_url (fx->storage, "fs://x"));
  made = we_storage_make_url (fx->storage, "a b/c#1.mp4");
  g_assert_cmpstr (made, ==, "s3://media/a%20b/c%231.mp4");

  url = we_storage_get_signed_url (fx->storage, made, "put", 0, &error);
  g_assert_no_error (error);
  g_assert_true (g_str_has_prefix (url, "http://media.s3.example.com:9000/a%20b/c%231.mp4?"
                                        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential="
                                        TEST_KEY_ID "%2F"));
  g_assert_nonnull (strstr (url, "%2Feu-west-3%2Fs3%2Faws4_request&"));
  g_assert_nonnull (strstr (url, "&X-Amz-Expires=600&X-Amz-SignedHeaders=host&X-Amz-Signature="));
  g_assert_cmpuint (strlen (strstr (url, "X-Amz-Signature=")), ==, strlen ("X-Amz-Signature=") + 64);
  g_assert_null (strstr (url, "secret"));
  g_clear_pointer (&url, g_free);

  /* a week at most, as SigV4 allows */
  url = we_storage_get_signed_url (fx->storage, made, "GET", 10 * 86400, &error);
  g_assert_no_error (error);
  g_assert_nonnull (strstr (url, "X-Amz-Expires=604800&"));
  g_assert_null (we_storage_get_signed_url (fx->storage, made, "POST", 0, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED);
  g_clear_error (&error);

  media = we_storage_get_media_uri (fx->storage, "s3://other-bucket/v.mp4", &error);
  g_assert_no_error (error);
  g_assert_true (g_str_has_prefix (media, "http://other-bucket.s3.example.com:9000/v.mp4?"));
  g_assert_nonnull (strstr (media, "X-Amz-Expires=600&"));
}

static void
test_bad_keys (Fixture *fx, gconstpointer data)
{
  const gchar *bad[] = {
    "s3://media/../x.mp4", "s3://media/a/../../x", "s3://media/a/./b", "s3://media/a//b",
    "s3://media/a/", "s3://media//abs", "s3://media/%2e%2e/x", "s3://media/a%2F..%2Fb",
    "s3://media/a%00b", "s3://media/a%0Ab", "s3://media/a%zz", "s3://media/%ff",
    "s3://media/", "s3://media", "s3://x/key", "s3://UPPER..dots/k", "s3:///key",
  };
  g_autoptr(GString) long_key = g_string_new ("s3://media/");

  json_object_set_string_member (fx->config, "endpoint", "http://127.0.0.1:9");
  json_object_set_string_member (fx->config, "bucket", TEST_BUCKET);
  load (fx);
  g_assert_nonnull (fx->storage);
  for (guint i = 0; i < 1100; i++)
    g_string_append_c (long_key, 'k');

  for (guint i = 0; i <= G_N_ELEMENTS (bad); i++) {
    const gchar *url = i < G_N_ELEMENTS (bad) ? bad[i] : long_key->str;
    g_autoptr(GError) e1 = NULL;
    g_autoptr(GError) e2 = NULL;
    g_autoptr(GError) e3 = NULL;
    g_autoptr(GError) e4 = NULL;
    g_autoptr(GError) e5 = NULL;
    g_autoptr(GOutputStream) out = NULL;
    g_autoptr(GInputStream) in = NULL;
    g_autofree gchar *signed_url = NULL;
    g_auto(WeObjectInfo) info = { 0 };

    /* refused before any request: the endpoint here would not answer */
    g_assert_false (we_storage_stat (fx->storage, url, &info, &e1));
    g_assert_error (e1, WE_ERROR, WE_ERROR_STO_ACCESS_DENIED);
    out = we_storage_create (fx->storage, url, &e2);
    g_assert_null (out);
    g_assert_error (e2, WE_ERROR, WE_ERROR_STO_ACCESS_DENIED);
    g_assert_false (we_storage_delete_object (fx->storage, url, &e3));
    g_assert_error (e3, WE_ERROR, WE_ERROR_STO_ACCESS_DENIED);
    signed_url = we_storage_get_signed_url (fx->storage, url, "GET", 60, &e4);
    g_assert_null (signed_url);
    g_assert_error (e4, WE_ERROR, WE_ERROR_STO_ACCESS_DENIED);
    in = we_storage_open_read (fx->storage, url, 0, &e5);
    g_assert_null (in);
    g_assert_error (e5, WE_ERROR, WE_ERROR_STO_ACCESS_DENIED);
  }
  {
    g_autoptr(GError) error = NULL;
    WeBrowseOptions opts = { 0 };
    g_assert_null (we_storage_browse (fx->storage, "a/../..", &opts, &error));
    g_assert_error (error, WE_ERROR, WE_ERROR_STO_ACCESS_DENIED);
    g_clear_error (&error);
    g_assert_null (we_storage_list_objects (fx->storage, "s3://media/a/../", &error));
    g_assert_error (error, WE_ERROR, WE_ERROR_STO_ACCESS_DENIED);
  }
}

/* ---- against the server ---- */

static void
test_round_trip (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_auto(WeObjectInfo) info = { 0 };
  g_autoptr(GBytes) all = NULL;
  g_autoptr(GBytes) tail = NULL;
  g_autoptr(GBytes) none = NULL;
  g_autoptr(GInputStream) in = NULL;
  /* characters SigV4 encodes: the server re-derives the signature */
  const gchar *odd = "s3://media/rt/sp%20ace+plus$dollar&amp=eq%C3%A9~.txt";
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;

  SKIP_WITHOUT_SERVER ();
  put_str (fx->storage, "s3://media/rt/hello.txt", "hello world");
  g_assert_true (we_storage_stat (fx->storage, "s3://media/rt/hello.txt", &info, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (info.size, ==, 11);
  g_assert_cmpstr (info.key, ==, "rt/hello.txt");
  g_assert_cmpstr (info.url, ==, "s3://media/rt/hello.txt");
  g_assert_cmpstr (info.content_type, ==, "text/plain");
  g_assert_nonnull (info.etag);
  g_assert_cmpuint (strlen (info.etag), >, 0);
  g_assert_cmpint (ABS (info.last_modified - now), <, 120);

  all = get (fx->storage, "s3://media/rt/hello.txt", 0);
  assert_bytes_str (all, "hello world");
  tail = get (fx->storage, "s3://media/rt/hello.txt", 6);
  assert_bytes_str (tail, "world");
  none = get (fx->storage, "s3://media/rt/hello.txt", 11);
  assert_bytes_str (none, "");
  in = we_storage_open_read (fx->storage, "s3://media/rt/hello.txt", 12, &error);
  g_assert_null (in);
  g_assert_error (error, WE_ERROR, WE_ERROR_SYS_RANGE_NOT_SATISFIABLE);
  g_clear_error (&error);
  in = we_storage_open_read (fx->storage, "s3://media/rt/hello.txt", -1, &error);
  g_assert_error (error, WE_ERROR, WE_ERROR_SYS_RANGE_NOT_SATISFIABLE);
  g_clear_error (&error);

  /* replaced whole */
  put_str (fx->storage, "s3://media/rt/hello.txt", "bye");
  g_clear_pointer (&all, g_bytes_unref);
  all = get (fx->storage, "s3://media/rt/hello.txt", 0);
  assert_bytes_str (all, "bye");

  put_str (fx->storage, odd, "odd");
  g_clear_pointer (&all, g_bytes_unref);
  all = get (fx->storage, odd, 0);
  assert_bytes_str (all, "odd");

  /* empty objects exist too */
  put (fx->storage, "s3://media/rt/empty.bin", "", 0);
  we_object_info_clear (&info);
  g_assert_true (we_storage_stat (fx->storage, "s3://media/rt/empty.bin", &info, &error));
  g_assert_cmpuint (info.size, ==, 0);

  /* another bucket is just another URL */
  put_str (fx->storage, "s3://" OTHER_BUCKET "/x.txt", "elsewhere");
  g_clear_pointer (&all, g_bytes_unref);
  all = get (fx->storage, "s3://" OTHER_BUCKET "/x.txt", 0);
  assert_bytes_str (all, "elsewhere");
}

static void
test_multipart (Fixture *fx, gconstpointer data)
{
  const gsize size = 12 * MiB + 123;
  const gsize chunk = 100 * 1024;
  const gchar *url = "s3://media/mp/big.mp4";
  g_autofree guint8 *expected = pattern (size, 7);
  g_autoptr(GError) error = NULL;
  g_autoptr(GOutputStream) out = NULL;
  g_autoptr(GBytes) all = NULL;
  g_autoptr(GBytes) tail = NULL;
  g_auto(WeObjectInfo) info = { 0 };
  const goffset offset = 6 * MiB + 7;

  SKIP_WITHOUT_SERVER ();
  out = we_storage_create (fx->storage, url, &error);
  g_assert_no_error (error);
  for (gsize done = 0; done < size; done += chunk) {
    gsize n = MIN (chunk, size - done);
    g_output_stream_write_all (out, expected + done, n, NULL, NULL, &error);
    g_assert_no_error (error);
    if (done <= 11 * MiB && done + n > 11 * MiB) {
      /* two parts are up, the object is still nowhere */
      g_assert_cmpuint (pending_uploads (TEST_BUCKET), ==, 1);
      assert_missing (fx->storage, url);
    }
  }
  g_output_stream_close (out, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (pending_uploads (TEST_BUCKET), ==, 0);

  g_assert_true (we_storage_stat (fx->storage, url, &info, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (info.size, ==, size);
  g_assert_cmpstr (info.content_type, ==, "video/mp4");
  all = get (fx->storage, url, 0);
  g_assert_cmpmem (g_bytes_get_data (all, NULL), g_bytes_get_size (all), expected, size);
  tail = get (fx->storage, url, offset);
  g_assert_cmpmem (g_bytes_get_data (tail, NULL), g_bytes_get_size (tail), expected + offset,
                   size - offset);
}

/* Exactly at and one byte over the threshold: the single-PUT and multipart
 * paths meet here. */
static void
test_threshold_edges (Fixture *fx, gconstpointer data)
{
  const gsize sizes[] = { 5 * MiB, 5 * MiB + 1, 10 * MiB + 1 };
  g_autofree guint8 *expected = pattern (10 * MiB + 1, 3);

  SKIP_WITHOUT_SERVER ();
  for (guint i = 0; i < G_N_ELEMENTS (sizes); i++) {
    g_autofree gchar *url = g_strdup_printf ("s3://media/edge/%u.bin", i);
    g_autoptr(GBytes) all = NULL;

    /* one write of everything: parts are cut from the spool, not the writes */
    put (fx->storage, url, expected, sizes[i]);
    all = get (fx->storage, url, 0);
    g_assert_cmpmem (g_bytes_get_data (all, NULL), g_bytes_get_size (all), expected, sizes[i]);
  }
  g_assert_cmpuint (pending_uploads (TEST_BUCKET), ==, 0);
}

static void
test_atomic_create (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree guint8 *big = pattern (11 * MiB, 11);
  g_autoptr(GCancellable) cancel = g_cancellable_new ();

  SKIP_WITHOUT_SERVER ();
  /* dropped while small: nothing was ever sent */
  {
    g_autoptr(GOutputStream) out = we_storage_create (fx->storage, "s3://media/at/small", &error);
    g_assert_no_error (error);
    g_output_stream_write_all (out, "partial", 7, NULL, NULL, &error);
    g_assert_no_error (error);
  }
  assert_missing (fx->storage, "s3://media/at/small");

  /* dropped mid-multipart: the upload is aborted, its parts gone */
  {
    g_autoptr(GOutputStream) out = we_storage_create (fx->storage, "s3://media/at/big", &error);
    g_assert_no_error (error);
    g_output_stream_write_all (out, big, 11 * MiB, NULL, NULL, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (pending_uploads (TEST_BUCKET), ==, 1);
  }
  assert_missing (fx->storage, "s3://media/at/big");
  g_assert_cmpuint (pending_uploads (TEST_BUCKET), ==, 0);

  /* a failed write poisons the stream: close reports it, nothing appears */
  {
    g_autoptr(GOutputStream) out = we_storage_create (fx->storage, "s3://media/at/failed", &error);
    g_assert_no_error (error);
    g_output_stream_write_all (out, big, 6 * MiB, NULL, NULL, &error);
    g_assert_no_error (error);
    g_cancellable_cancel (cancel);
    g_assert_false (g_output_stream_write_all (out, "x", 1, NULL, cancel, &error));
    g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
    g_clear_error (&error);
    g_assert_cmpuint (pending_uploads (TEST_BUCKET), ==, 0);
    g_assert_false (g_output_stream_close (out, NULL, &error));
    g_assert_error (error, WE_ERROR, WE_ERROR_STO_UNAVAILABLE);
    g_clear_error (&error);
  }
  assert_missing (fx->storage, "s3://media/at/failed");

  /* an existing object survives a dropped replacement */
  put_str (fx->storage, "s3://media/at/keep", "original");
  {
    g_autoptr(GOutputStream) out = we_storage_create (fx->storage, "s3://media/at/keep", &error);
    g_assert_no_error (error);
    g_output_stream_write_all (out, "replacement", 11, NULL, NULL, &error);
    g_assert_no_error (error);
  }
  {
    g_autoptr(GBytes) kept = get (fx->storage, "s3://media/at/keep", 0);
    assert_bytes_str (kept, "original");
  }
}

static void
test_stat_delete (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GInputStream) in = NULL;
  g_auto(WeObjectInfo) info = { 0 };

  SKIP_WITHOUT_SERVER ();
  put_str (fx->storage, "s3://media/del/a.txt", "a");
  g_assert_true (we_storage_delete_object (fx->storage, "s3://media/del/a.txt", &error));
  g_assert_no_error (error);
  assert_missing (fx->storage, "s3://media/del/a.txt");
  g_assert_false (we_storage_delete_object (fx->storage, "s3://media/del/a.txt", &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_STO_NOT_FOUND);
  g_clear_error (&error);

  in = we_storage_open_read (fx->storage, "s3://media/del/a.txt", 0, &error);
  g_assert_null (in);
  g_assert_error (error, WE_ERROR, WE_ERROR_STO_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, "NoSuchKey"));
  g_clear_error (&error);

  g_assert_false (we_storage_stat (fx->storage, "s3://no-such-bucket/a", &info, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_STO_NOT_FOUND);
  g_clear_error (&error);
  {
    g_autoptr(GOutputStream) out = we_storage_create (fx->storage, "s3://no-such-bucket/a", &error);
    g_assert_no_error (error);
    g_assert_false (g_output_stream_close (out, NULL, &error));
    g_assert_error (error, WE_ERROR, WE_ERROR_STO_NOT_FOUND);
    g_assert_nonnull (strstr (error->message, "NoSuchBucket"));
  }
}

static void
test_denied_and_unavailable (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocket) sock = NULL;
  g_autoptr(GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) addr = g_inet_socket_address_new (lo, 0);
  g_autoptr(GSocketAddress) bound = NULL;
  g_autofree gchar *closed = NULL;
  g_auto(WeObjectInfo) info = { 0 };

  SKIP_WITHOUT_SERVER ();
  put_str (fx->storage, "s3://media/deny/a.txt", "a");

  /* a wrong secret: the server's 403, and no secret or signature in the text */
  json_object_set_string_member (fx->config, "secret_access_key", "wrong-secret-value");
  load (fx);
  g_assert_false (we_storage_stat (fx->storage, "s3://media/deny/a.txt", &info, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_STO_ACCESS_DENIED);
  g_clear_error (&error);
  g_assert_null (we_storage_open_read (fx->storage, "s3://media/deny/a.txt", 0, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_STO_ACCESS_DENIED);
  g_assert_nonnull (strstr (error->message, "SignatureDoesNotMatch"));
  g_assert_null (strstr (error->message, "wrong-secret"));
  g_assert_null (strstr (error->message, "Signature="));
  g_clear_error (&error);

  /* an unknown key id */
  json_object_set_string_member (fx->config, "access_key_id", "NOBODY");
  load (fx);
  g_assert_null (we_storage_list_objects (fx->storage, "s3://media/", &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_STO_ACCESS_DENIED);
  g_assert_nonnull (strstr (error->message, "InvalidAccessKeyId"));
  g_clear_error (&error);

  /* nobody listening */
  sock = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);
  g_assert_no_error (error);
  g_socket_bind (sock, addr, FALSE, &error);
  g_assert_no_error (error);
  bound = g_socket_get_local_address (sock, &error);
  closed = g_strdup_printf ("http://127.0.0.1:%u",
                            g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound)));
  g_socket_close (sock, NULL);
  server_config (fx);
  json_object_set_string_member (fx->config, "endpoint", closed);
  load (fx);
  g_assert_false (we_storage_stat (fx->storage, "s3://media/deny/a.txt", &info, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_STO_UNAVAILABLE);
  g_clear_error (&error);
  {
    g_autoptr(GOutputStream) out = we_storage_create (fx->storage, "s3://media/deny/b", &error);
    g_assert_no_error (error);
    g_assert_false (g_output_stream_close (out, NULL, &error));
    g_assert_error (error, WE_ERROR, WE_ERROR_STO_UNAVAILABLE);
  }
}

static void
test_list (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) list = NULL;
  g_autoptr(GPtrArray) wider = NULL;
  g_autoptr(GPtrArray) none = NULL;
  WeObjectInfo *first;

  SKIP_WITHOUT_SERVER ();
  /* more objects than a page (list_page_size is 3 here) */
  for (guint i = 0; i < 8; i++) {
    g_autofree gchar *url = g_strdup_printf ("s3://media/list/%02u.mp4", i);
    put_str (fx->storage, url, "0123456789");
  }
  put_str (fx->storage, "s3://media/list/sub/deep.mp4", "deep");
  put_str (fx->storage, "s3://media/listing-not-in-folder.txt", "x");

  list = we_storage_list_objects (fx->storage, "s3://media/list/", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (list->len, ==, 9);
  first = g_ptr_array_index (list, 0);
  g_assert_cmpstr (first->key, ==, "list/00.mp4");
  g_assert_cmpstr (first->url, ==, "s3://media/list/00.mp4");
  g_assert_cmpuint (first->size, ==, 10);
  g_assert_cmpint (first->last_modified, >, 0);
  g_assert_nonnull (first->etag);
  g_assert_cmpstr (((WeObjectInfo *) g_ptr_array_index (list, 7))->key, ==, "list/07.mp4");
  g_assert_cmpstr (((WeObjectInfo *) g_ptr_array_index (list, 8))->key, ==, "list/sub/deep.mp4");

  /* S3 prefixes are strings, not folders */
  wider = we_storage_list_objects (fx->storage, "s3://media/list", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (wider->len, ==, 10);

  none = we_storage_list_objects (fx->storage, "s3://media/nothing-here/", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (none->len, ==, 0);
}

static const gchar *
entry_name (WeBrowseResult *result, guint i)
{
  return ((WeBrowseEntry *) g_ptr_array_index (result->entries, i))->name;
}

static void
test_browse (Fixture *fx, gconstpointer data)
{
  const gchar *keys[] = { "a.mp4", "b.txt", ".hidden.mp4", "dir1/c.mkv", "dir2/d.wav",
                          "Song.mp3", "dir2/e/f.mp4" };
  g_autoptr(GError) error = NULL;
  g_autoptr(WeBrowseResult) result = NULL;
  g_autoptr(WeBrowseResult) rel = NULL;
  g_autoptr(WeBrowseResult) top = NULL;
  g_autoptr(WeBrowseResult) sub = NULL;
  g_autoptr(GPtrArray) roots = NULL;
  WeBrowseOptions opts = { 0 };
  WeBrowseEntry *e;

  SKIP_WITHOUT_SERVER ();
  for (guint i = 0; i < G_N_ELEMENTS (keys); i++) {
    g_autofree gchar *url = g_strconcat ("s3://media/show/", keys[i], NULL);
    put_str (fx->storage, url, "data");
  }

  result = we_storage_browse (fx->storage, "s3://media/show/", &opts, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (result->current_path, ==, "s3://media/show/");
  g_assert_cmpstr (result->parent_path, ==, "s3://media/");
  g_assert_cmpuint (result->entries->len, ==, 5);
  g_assert_cmpstr (entry_name (result, 0), ==, "dir1");
  g_assert_cmpstr (entry_name (result, 1), ==, "dir2");
  g_assert_cmpstr (entry_name (result, 2), ==, "a.mp4");
  g_assert_cmpstr (entry_name (result, 3), ==, "b.txt");
  g_assert_cmpstr (entry_name (result, 4), ==, "Song.mp3");
  e = g_ptr_array_index (result->entries, 0);
  g_assert_true (e->is_directory);
  g_assert_cmpstr (e->path, ==, "s3://media/show/dir1/");
  g_assert_cmpstr (e->url, ==, "s3://media/show/dir1/");
  e = g_ptr_array_index (result->entries, 2);
  g_assert_false (e->is_directory);
  g_assert_true (e->is_video);
  g_assert_cmpstr (e->extension, ==, "mp4");
  g_assert_cmpuint (e->size, ==, 4);
  g_assert_cmpint (e->mod_time, >, 0);
  g_assert_cmpstr (e->url, ==, "s3://media/show/a.mp4");
  g_assert_true (((WeBrowseEntry *) g_ptr_array_index (result->entries, 4))->is_audio);

  /* the same folder relative to the default bucket */
  rel = we_storage_browse (fx->storage, "show", &opts, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (rel->entries->len, ==, 5);
  g_clear_pointer (&rel, we_browse_result_free);

  opts.show_hidden = TRUE;
  opts.media_only = TRUE;
  rel = we_storage_browse (fx->storage, "/show/", &opts, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (rel->entries->len, ==, 5);
  g_assert_cmpstr (entry_name (rel, 2), ==, ".hidden.mp4");
  g_assert_cmpstr (entry_name (rel, 3), ==, "a.mp4");
  g_assert_cmpstr (entry_name (rel, 4), ==, "Song.mp3");
  g_clear_pointer (&rel, we_browse_result_free);

  opts = (WeBrowseOptions) { .search_query = "SONG" };
  rel = we_storage_browse (fx->storage, "s3://media/show", &opts, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (rel->entries->len, ==, 1);
  g_assert_cmpstr (entry_name (rel, 0), ==, "Song.mp3");

  opts = (WeBrowseOptions) { 0 };
  sub = we_storage_browse (fx->storage, e->path, &opts, &error);
  g_assert_null (sub);
  g_assert_error (error, WE_ERROR, WE_ERROR_STO_NOT_FOUND); /* a file is not a folder */
  g_clear_error (&error);
  sub = we_storage_browse (fx->storage, "s3://media/show/dir2/", &opts, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (sub->entries->len, ==, 2);
  g_assert_cmpstr (entry_name (sub, 0), ==, "e");
  g_assert_cmpstr (entry_name (sub, 1), ==, "d.wav");
  g_assert_cmpstr (sub->parent_path, ==, "s3://media/show/");

  top = we_storage_browse (fx->storage, NULL, &opts, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (top->current_path, ==, "s3://media/");
  g_assert_null (top->parent_path);

  g_assert_null (we_storage_browse (fx->storage, "s3://media/no/such/dir/", &opts, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_STO_NOT_FOUND);
  g_clear_error (&error);
  g_assert_null (we_storage_browse (fx->storage, "s3://no-such-bucket/", &opts, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_STO_NOT_FOUND);
  g_clear_error (&error);

  roots = we_storage_browse_roots (fx->storage, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (roots->len, ==, 2);
  e = g_ptr_array_index (roots, 0);
  g_assert_cmpstr (e->name, ==, TEST_BUCKET);
  g_assert_cmpstr (e->path, ==, "s3://media/");
  g_assert_true (e->is_directory);
  g_assert_cmpstr (((WeBrowseEntry *) g_ptr_array_index (roots, 1))->name, ==, OTHER_BUCKET);
}

static GBytes *
http_fetch (const gchar *method, const gchar *url, GBytes *body, guint *status)
{
  g_autoptr(SoupSession) session = soup_session_new ();
  g_autoptr(SoupMessage) msg = soup_message_new (method, url);
  g_autoptr(GError) error = NULL;
  GBytes *out;

  g_assert_nonnull (msg);
  if (body != NULL)
    soup_message_set_request_body_from_bytes (msg, "application/octet-stream", body);
  out = soup_session_send_and_read (session, msg, NULL, &error);
  g_assert_no_error (error);
  *status = soup_message_get_status (msg);
  return out;
}

static void
test_presigned (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree gchar *get_url = NULL;
  g_autofree gchar *put_url = NULL;
  g_autofree gchar *tampered = NULL;
  g_autoptr(GBytes) fetched = NULL;
  g_autoptr(GBytes) put_body = g_bytes_new_static ("uploaded directly", 17);
  g_autoptr(GBytes) put_reply = NULL;
  g_autoptr(GBytes) denied = NULL;
  g_autoptr(GBytes) roundtrip = NULL;
  guint status = 0;

  SKIP_WITHOUT_SERVER ();
  put_str (fx->storage, "s3://media/ps/a file.txt", "presigned content");
  get_url = we_storage_get_signed_url (fx->storage, "s3://media/ps/a%20file.txt", "GET", 300,
                                       &error);
  g_assert_no_error (error);
  g_assert_true (g_str_has_prefix (get_url, server.endpoint));
  fetched = http_fetch ("GET", get_url, NULL, &status);
  g_assert_cmpuint (status, ==, 200);
  assert_bytes_str (fetched, "presigned content");

  /* another key under the same signature is refused */
  tampered = g_strdup (get_url);
  *strstr (tampered, "a%20file") = 'b';
  denied = http_fetch ("GET", tampered, NULL, &status);
  g_assert_cmpuint (status, ==, 403);

  put_url = we_storage_get_signed_url (fx->storage, "s3://media/ps/direct.bin", "PUT", 0, &error);
  g_assert_no_error (error);
  put_reply = http_fetch ("PUT", put_url, put_body, &status);
  g_assert_cmpuint (status, ==, 200);
  roundtrip = get (fx->storage, "s3://media/ps/direct.bin", 0);
  assert_bytes_str (roundtrip, "uploaded directly");
}

/* What a worker does with an s3:// source: hand GStreamer the media URI. */
static void
test_media_uri (Fixture *fx, gconstpointer data)
{
  const gchar *src = g_getenv ("WE_SOURCE_ROOT");
  g_autofree gchar *discoverer = g_find_program_in_path ("gst-discoverer-1.0");
  g_autofree gchar *python = g_find_program_in_path ("python3");
  g_autofree gchar *make_clip = g_build_filename (src, "tests", "media", "make-clip", NULL);
  g_autofree gchar *tmp = NULL;
  g_autofree gchar *clip = NULL;
  g_autofree gchar *uri = NULL;
  g_autofree gchar *out = NULL;
  g_autoptr(GSubprocess) proc = NULL;
  g_autoptr(GError) error = NULL;

  SKIP_WITHOUT_SERVER ();
  if (discoverer == NULL || python == NULL) {
    g_test_skip ("gst-discoverer-1.0 or python3 missing");
    return;
  }
  tmp = g_dir_make_tmp ("we-s3-clip-XXXXXX", &error);
  g_assert_no_error (error);
  clip = g_build_filename (tmp, "clip.mp4", NULL);
  proc = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE, &error, python, make_clip, clip,
                           "--duration", "1", "--width", "160", "--height", "120", NULL);
  g_assert_no_error (error);
  g_subprocess_wait_check (proc, NULL, &error);
  g_assert_no_error (error);
  g_clear_object (&proc);

  we_storage_upload_file (fx->storage, clip, "s3://media/clips/clip.mp4", NULL, &error);
  g_assert_no_error (error);
  uri = we_storage_get_media_uri (fx->storage, "s3://media/clips/clip.mp4", &error);
  g_assert_no_error (error);
  g_assert_true (g_str_has_prefix (uri, "http://127.0.0.1:"));

  proc = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_MERGE,
                           &error, discoverer, "--timeout", "20", uri, NULL);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (proc, NULL, NULL, &out, NULL, &error);
  g_assert_no_error (error);
  if (!g_subprocess_get_successful (proc) || strstr (out, "Duration: 0:00:01") == NULL ||
      strstr (out, "video") == NULL)
    g_error ("gst-discoverer-1.0 could not read the presigned URL:\n%s", out);
  rm_rf (tmp);
}

int
main (int argc, char **argv)
{
  gboolean have_server;
  gint rc;

  g_test_init (&argc, &argv, NULL);
  /* the plugin host logs refused modules as warnings on purpose */
  g_log_set_always_fatal (G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);

#define ADD(path, data, func) \
  g_test_add ("/storage-s3/" path, Fixture, data, fixture_setup, func, fixture_teardown)
  ADD ("sigv4/get-object", NULL, test_sigv4_get_object);
  ADD ("sigv4/put-object", NULL, test_sigv4_put_object);
  ADD ("sigv4/query", NULL, test_sigv4_query);
  ADD ("sigv4/presign", NULL, test_sigv4_presign);
  ADD ("sigv4/encoding", NULL, test_sigv4_encoding);
  ADD ("xml", NULL, test_xml);
  ADD ("config/unconfigured", NULL, test_unconfigured);
  ADD ("config/refused", NULL, test_config);
  ADD ("config/url-shapes", NULL, test_url_shapes);
  ADD ("bad-keys", NULL, test_bad_keys);
  ADD ("server/round-trip", "server", test_round_trip);
  ADD ("server/multipart", "server", test_multipart);
  ADD ("server/threshold-edges", "server", test_threshold_edges);
  ADD ("server/atomic-create", "server", test_atomic_create);
  ADD ("server/stat-delete", "server", test_stat_delete);
  ADD ("server/denied-unavailable", "server", test_denied_and_unavailable);
  ADD ("server/list", "server", test_list);
  ADD ("server/browse", "server", test_browse);
  ADD ("server/presigned", "server", test_presigned);
  ADD ("server/media-uri", "server", test_media_uri);
#undef ADD

  have_server = start_server ();
  if (!have_server)
    g_printerr ("storage-s3: no S3 server, skipping the server cases: %s\n", server.skip_reason);
  rc = g_test_run ();
  stop_server ();
  /* the known answers ran; without the server the suite is not complete */
  if (rc == 0 && !have_server)
    rc = 77;
  g_free (server.skip_reason);
  return rc;
}
