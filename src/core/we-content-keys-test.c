/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <string.h>
#include <sys/stat.h>
#include <glib/gstdio.h>
#include <webencode/we-error.h>

#include "common/we-job.h"
#include "we-content-keys.h"

static gchar *
make_tmpdir (void)
{
  g_autoptr(GError) error = NULL;
  gchar *dir = g_dir_make_tmp ("we-keys-XXXXXX", &error);

  g_assert_no_error (error);
  return dir;
}

static void
remove_dir (const gchar *dir)
{
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  const gchar *name;

  while (d != NULL && (name = g_dir_read_name (d)) != NULL) {
    g_autofree gchar *path = g_build_filename (dir, name, NULL);
    g_unlink (path);
  }
  g_rmdir (dir);
}

/* A made secret is kept 0600 and reused: the keys of a restarted service
 * still decrypt what it encrypted before. */
static void
test_generated_secret (void)
{
  g_autofree gchar *dir = make_tmpdir ();
  g_autofree gchar *path = g_build_filename (dir, "content-key.secret", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(WeContentKeys) a = we_content_keys_new (NULL, dir, &error);
  g_autoptr(WeContentKeys) b = NULL;
  g_autoptr(WeContentKeys) other = NULL;
  g_autofree gchar *ka = NULL, *kb = NULL, *kother = NULL, *kjob2 = NULL;
  g_autofree gchar *contents = NULL;
  GStatBuf st;

  g_assert_no_error (error);
  g_assert_cmpint (g_stat (path, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);
  b = we_content_keys_new (NULL, dir, &error);
  g_assert_no_error (error);
  ka = we_content_keys_derive_hex (a, "job-1");
  kb = we_content_keys_derive_hex (b, "job-1");
  kjob2 = we_content_keys_derive_hex (a, "job-2");
  g_assert_cmpuint (strlen (ka), ==, 32);
  g_assert_cmpstr (ka, ==, kb);
  g_assert_cmpstr (ka, !=, kjob2);

  /* the key is not the secret, nor in it */
  g_assert_true (g_file_get_contents (path, &contents, NULL, NULL));
  g_assert_null (strstr (contents, ka));

  /* another secret, other keys */
  g_unlink (path);
  other = we_content_keys_new (NULL, dir, &error);
  g_assert_no_error (error);
  kother = we_content_keys_derive_hex (other, "job-1");
  g_assert_cmpstr (ka, !=, kother);
  remove_dir (dir);
}

static void
test_secret_refs (void)
{
  g_autofree gchar *dir = make_tmpdir ();
  g_autofree gchar *file = g_build_filename (dir, "secret", NULL);
  g_autofree gchar *ref = g_strconcat ("file:", file, NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(WeContentKeys) from_env = NULL;
  g_autoptr(WeContentKeys) from_file = NULL;
  g_autoptr(WeContentKeys) bad = NULL;
  g_autofree gchar *k1 = NULL, *k2 = NULL;
  const gchar *secret = "0123456789abcdef0123456789abcdef-shared";

  g_setenv ("WE_TEST_CONTENT_SECRET", secret, TRUE);
  g_assert_true (g_file_set_contents (file, secret, -1, NULL));
  from_env = we_content_keys_new ("env:WE_TEST_CONTENT_SECRET", NULL, &error);
  g_assert_no_error (error);
  from_file = we_content_keys_new (ref, NULL, &error);
  g_assert_no_error (error);
  /* kernels of a cluster sharing the secret serve the same keys */
  k1 = we_content_keys_derive_hex (from_env, "abc");
  k2 = we_content_keys_derive_hex (from_file, "abc");
  g_assert_cmpstr (k1, ==, k2);

  /* errors name the reference, never a value */
  g_setenv ("WE_TEST_CONTENT_SECRET", "short-secret", TRUE);
  bad = we_content_keys_new ("env:WE_TEST_CONTENT_SECRET", NULL, &error);
  g_assert_null (bad);
  g_assert_error (error, WE_ERROR, WE_ERROR_SYS_INTERNAL);
  g_assert_null (strstr (error->message, "short-secret"));
  g_clear_error (&error);
  bad = we_content_keys_new ("hunter2-pasted-by-mistake-0123456789", NULL, &error);
  g_assert_null (bad);
  g_assert_null (strstr (error->message, "hunter2"));
  g_clear_error (&error);
  g_unsetenv ("WE_TEST_CONTENT_SECRET");
  bad = we_content_keys_new ("env:WE_TEST_CONTENT_SECRET", NULL, &error);
  g_assert_null (bad);
  g_clear_error (&error);
  remove_dir (dir);
}

static void
test_key_uri (void)
{
  g_autofree gchar *uri = we_content_keys_uri ("a b/c");

  g_assert_cmpstr (uri, ==, "/v1/jobs/a%20b%2Fc/key");
}

static void
test_output_paths (void)
{
  const gchar *good[] = { "master.m3u8", "360p/index.m3u8", "subs/sub_0_eng/index.m3u8",
                          "thumbnails/thumb_00001.jpg", "a/b/c/d", NULL };
  const gchar *bad[] = { "", "/etc/passwd", "../x", "a/../b", "./a", "a//b", "a/", "a\\b",
                         "a/b/c/d/e", "a\nb", NULL };

  for (guint i = 0; good[i] != NULL; i++)
    g_assert_true (we_job_output_path_is_safe (good[i]));
  for (guint i = 0; bad[i] != NULL; i++)
    g_assert_false (we_job_output_path_is_safe (bad[i]));
  g_assert_false (we_job_output_path_is_safe (NULL));
  g_assert_cmpstr (we_job_content_type_for_name ("a/index.m3u8"), ==,
                   "application/vnd.apple.mpegurl");
  g_assert_cmpstr (we_job_content_type_for_name ("x.mpd"), ==, "application/dash+xml");
  g_assert_cmpstr (we_job_content_type_for_name ("segment_00001.ts"), ==, "video/mp2t");
  g_assert_cmpstr (we_job_content_type_for_name ("noext"), ==, "application/octet-stream");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/content-keys/generated-secret", test_generated_secret);
  g_test_add_func ("/content-keys/secret-refs", test_secret_refs);
  g_test_add_func ("/content-keys/uri", test_key_uri);
  g_test_add_func ("/content-keys/output-paths", test_output_paths);
  return g_test_run ();
}
