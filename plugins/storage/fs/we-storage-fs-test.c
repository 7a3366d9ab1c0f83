/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * storage-fs, loaded the way the daemon loads it: through the plugin host
 * from the build tree's plugin directory.
 */
#include "config.h"

#include <glib/gstdio.h>
#include <unistd.h>

#include "plugin/we-plugin-host.h"

typedef struct {
  gchar        *base;      /* everything the test creates lives here */
  gchar        *root;      /* the storage root: created by the plugin */
  gchar        *browse;    /* a browse root */
  gchar        *outside;   /* a directory no URL may reach */
  gchar        *root_config; /* overrides root when set (e.g. "" for missing) */
  WePluginHost *host;
  WeStorage    *storage;
} Fixture;

static JsonObject *
config_func (const gchar *plugin_id, gpointer user_data)
{
  Fixture *fx = user_data;
  JsonObject *config = json_object_new ();
  JsonArray *roots = json_array_new ();

  if (g_strcmp0 (plugin_id, "storage-fs") != 0)
    return config;
  json_object_set_string_member (config, "root", fx->root_config ? fx->root_config : fx->root);
  /* the JSON array form; a missing directory is skipped, not fatal */
  json_array_add_string_element (roots, fx->browse);
  json_array_add_string_element (roots, "/nonexistent/we-browse-root");
  json_object_set_array_member (config, "browse_roots", roots);
  return config;
}

static void
write_file (const gchar *path, const gchar *contents)
{
  g_autoptr(GError) error = NULL;
  g_file_set_contents (path, contents, -1, &error);
  g_assert_no_error (error);
}

static void
load (Fixture *fx)
{
  g_autoptr(GError) error = NULL;
  const gchar *plugin_dir = g_getenv ("WE_PLUGIN_DIR");

  g_assert_nonnull (plugin_dir);
  fx->host = we_plugin_host_new ();
  we_plugin_host_set_pillar_filter (fx->host, 1u << WE_PILLAR_STORAGE);
  we_plugin_host_set_config_func (fx->host, config_func, fx, NULL);
  we_plugin_host_load_dir (fx->host, plugin_dir, &error);
  g_assert_no_error (error);
  fx->storage = WE_STORAGE (we_plugin_host_get_instance (fx->host, "storage-fs"));
}

static void
fixture_setup (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  fx->base = g_dir_make_tmp ("we-storage-fs-XXXXXX", &error);
  g_assert_no_error (error);
  fx->root = g_build_filename (fx->base, "objects", "store", NULL);
  fx->browse = g_build_filename (fx->base, "media", NULL);
  fx->outside = g_build_filename (fx->base, "outside", NULL);
  g_assert_cmpint (g_mkdir (fx->browse, 0755), ==, 0);
  g_assert_cmpint (g_mkdir (fx->outside, 0755), ==, 0);
  {
    g_autofree gchar *secret = g_build_filename (fx->outside, "secret.txt", NULL);
    write_file (secret, "top secret");
  }
  if (data == NULL) {
    load (fx);
    g_assert_nonnull (fx->storage);
  }
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
fixture_teardown (Fixture *fx, gconstpointer data)
{
  g_clear_object (&fx->host);
  rm_rf (fx->base);
  g_free (fx->base);
  g_free (fx->root);
  g_free (fx->browse);
  g_free (fx->outside);
}

static void
put (WeStorage *storage, const gchar *url, const gchar *contents)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GOutputStream) out = we_storage_create (storage, url, &error);
  gsize written = 0;

  g_assert_no_error (error);
  g_assert_true (g_output_stream_write_all (out, contents, strlen (contents), &written, NULL,
                                            &error));
  g_assert_no_error (error);
  g_assert_true (g_output_stream_close (out, NULL, &error));
  g_assert_no_error (error);
}

static gchar *
get (WeStorage *storage, const gchar *url, goffset offset)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GInputStream) in = we_storage_open_read (storage, url, offset, &error);
  g_autoptr(GOutputStream) mem = g_memory_output_stream_new_resizable ();

  g_assert_no_error (error);
  g_assert_cmpint (g_output_stream_splice (mem, in, G_OUTPUT_STREAM_SPLICE_NONE, NULL, &error),
                   >=, 0);
  g_assert_no_error (error);
  g_assert_cmpint (g_output_stream_write (mem, "", 1, NULL, NULL), ==, 1);
  g_output_stream_close (mem, NULL, NULL);
  return g_memory_output_stream_steal_data (G_MEMORY_OUTPUT_STREAM (mem));
}

static guint
count_files (const gchar *dir)
{
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  guint n = 0;

  while (d != NULL && g_dir_read_name (d) != NULL)
    n++;
  return n;
}

static void
test_round_trip (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_auto(WeObjectInfo) info = { 0 };
  g_autoptr(GPtrArray) list = NULL;
  g_autofree gchar *contents = NULL;
  g_autofree gchar *uri = NULL;
  g_autofree gchar *expected_uri = NULL;
  g_autofree gchar *dir_a = g_build_filename (fx->root, "a", NULL);
  g_autofree gchar *url = we_storage_make_url (fx->storage, "a/b/clip one.mp4");
  GStatBuf st;

  /* the plugin made the root it was given */
  g_assert_true (g_file_test (fx->root, G_FILE_TEST_IS_DIR));
  g_assert_cmpstr (url, ==, "fs://a/b/clip%20one.mp4");

  put (fx->storage, url, "hello world");
  g_assert_true (we_storage_stat (fx->storage, url, &info, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (info.size, ==, 11);
  g_assert_cmpstr (info.url, ==, url);
  g_assert_cmpstr (info.key, ==, "a/b/clip one.mp4");
  g_assert_cmpstr (info.content_type, ==, "video/mp4");
  g_assert_cmpint (info.last_modified, >, 0);
  g_assert_true (g_str_has_prefix (info.etag, "11-"));
  {
    g_autofree gchar *path = g_build_filename (fx->root, "a", "b", "clip one.mp4", NULL);
    g_assert_cmpint (g_stat (path, &st), ==, 0);
    g_assert_cmpint (st.st_mode & 0777, ==, 0644 & ~(mode_t) 022);
    expected_uri = g_filename_to_uri (path, NULL, NULL);
  }

  contents = get (fx->storage, url, 0);
  g_assert_cmpstr (contents, ==, "hello world");
  g_clear_pointer (&contents, g_free);
  contents = get (fx->storage, url, 6);
  g_assert_cmpstr (contents, ==, "world");
  g_clear_pointer (&contents, g_free);
  contents = get (fx->storage, url, 11);
  g_assert_cmpstr (contents, ==, "");
  g_assert_null (we_storage_open_read (fx->storage, url, 12, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_SYS_RANGE_NOT_SATISFIABLE);
  g_clear_error (&error);
  g_assert_null (we_storage_open_read (fx->storage, url, -1, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_SYS_RANGE_NOT_SATISFIABLE);
  g_clear_error (&error);

  uri = we_storage_get_media_uri (fx->storage, url, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (uri, ==, expected_uri);

  /* overwrite keeps one object */
  put (fx->storage, url, "v2");
  put (fx->storage, "fs://top.mkv", "x");
  list = we_storage_list_objects (fx->storage, "fs://", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (list->len, ==, 2);
  g_assert_cmpstr (((WeObjectInfo *) g_ptr_array_index (list, 0))->key, ==, "a/b/clip one.mp4");
  g_assert_cmpuint (((WeObjectInfo *) g_ptr_array_index (list, 0))->size, ==, 2);
  g_clear_pointer (&list, g_ptr_array_unref);
  list = we_storage_list_objects (fx->storage, "fs://a/b/clip", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (list->len, ==, 1);
  g_clear_pointer (&list, g_ptr_array_unref);
  list = we_storage_list_objects (fx->storage, "fs://a/", &error);
  g_assert_cmpuint (list->len, ==, 1);
  g_clear_pointer (&list, g_ptr_array_unref);
  list = we_storage_list_objects (fx->storage, "fs://zzz/", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (list->len, ==, 0);
  g_clear_pointer (&list, g_ptr_array_unref);

  /* delete removes the folders it emptied, never the root */
  g_assert_true (we_storage_delete_object (fx->storage, url, &error));
  g_assert_no_error (error);
  g_assert_false (g_file_test (dir_a, G_FILE_TEST_EXISTS));
  g_assert_true (we_storage_delete_object (fx->storage, "fs://top.mkv", &error));
  g_assert_true (g_file_test (fx->root, G_FILE_TEST_IS_DIR));
  /* stat() zeroes @info first, so a reused one must be cleared */
  we_object_info_clear (&info);
  g_assert_false (we_storage_stat (fx->storage, url, &info, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_STO_NOT_FOUND);
  g_clear_error (&error);
  g_assert_false (we_storage_delete_object (fx->storage, url, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_STO_NOT_FOUND);
  g_clear_error (&error);
  g_assert_null (we_storage_open_read (fx->storage, "fs://nope.mp4", 0, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_STO_NOT_FOUND);
}

static void
test_atomic_create (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autofree gchar *target = g_build_filename (fx->root, "out.mp4", NULL);
  g_autofree gchar *contents = NULL;
  GOutputStream *out;

  /* dropped without close: nothing, not even the temp file */
  out = we_storage_create (fx->storage, "fs://out.mp4", &error);
  g_assert_no_error (error);
  g_assert_true (g_output_stream_write_all (out, "partial", 7, NULL, NULL, &error));
  g_assert_false (g_file_test (target, G_FILE_TEST_EXISTS));
  g_object_unref (out);
  g_assert_false (g_file_test (target, G_FILE_TEST_EXISTS));
  g_assert_cmpuint (count_files (fx->root), ==, 0);

  /* an existing object stays untouched until the new one is complete */
  put (fx->storage, "fs://out.mp4", "old");
  out = we_storage_create (fx->storage, "fs://out.mp4", &error);
  g_assert_true (g_output_stream_write_all (out, "new!", 4, NULL, NULL, &error));
  g_file_get_contents (target, &contents, NULL, NULL);
  g_assert_cmpstr (contents, ==, "old");
  g_clear_pointer (&contents, g_free);
  /* a failed write poisons the stream: close reports it and stores nothing */
  g_cancellable_cancel (cancellable);
  g_assert_false (g_output_stream_write_all (out, "more", 4, NULL, cancellable, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&error);
  g_assert_false (g_output_stream_close (out, NULL, &error));
  g_assert_nonnull (error);
  g_clear_error (&error);
  g_object_unref (out);
  g_file_get_contents (target, &contents, NULL, NULL);
  g_assert_cmpstr (contents, ==, "old");
  g_assert_cmpuint (count_files (fx->root), ==, 1);

  /* a directory is not an object */
  put (fx->storage, "fs://d/x.mp4", "x");
  g_assert_null (we_storage_create (fx->storage, "fs://d", &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_STO_ACCESS_DENIED);
  g_clear_error (&error);
  g_assert_null (we_storage_create (fx->storage, "fs://", &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_STO_ACCESS_DENIED);
}

static void
assert_denied_everywhere (Fixture *fx, const gchar *url)
{
  g_autoptr(GError) error = NULL;
  g_auto(WeObjectInfo) info = { 0 };
  g_autoptr(GInputStream) in = NULL;
  g_autoptr(GOutputStream) out = NULL;
  g_autofree gchar *uri = NULL;

  if (!we_storage_stat (fx->storage, url, &info, &error) && error->code == WE_ERROR_STO_ACCESS_DENIED)
    g_clear_error (&error);
  else
    g_error ("stat %s: expected access denied, got %s", url, error ? error->message : "success");
  in = we_storage_open_read (fx->storage, url, 0, &error);
  g_assert_null (in);
  g_assert_error (error, WE_ERROR, WE_ERROR_STO_ACCESS_DENIED);
  g_clear_error (&error);
  out = we_storage_create (fx->storage, url, &error);
  g_assert_null (out);
  g_assert_error (error, WE_ERROR, WE_ERROR_STO_ACCESS_DENIED);
  g_clear_error (&error);
  g_assert_false (we_storage_delete_object (fx->storage, url, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_STO_ACCESS_DENIED);
  g_clear_error (&error);
  uri = we_storage_get_media_uri (fx->storage, url, &error);
  g_assert_null (uri);
  g_assert_error (error, WE_ERROR, WE_ERROR_STO_ACCESS_DENIED);
}

static void
test_traversal (Fixture *fx, gconstpointer data)
{
  g_autofree gchar *secret = g_build_filename (fx->outside, "secret.txt", NULL);
  g_autofree gchar *secret_uri = g_filename_to_uri (secret, NULL, NULL);
  g_autofree gchar *dotdot_uri = g_strdup_printf ("file://%s/../outside/secret.txt", fx->root);
  g_autofree gchar *enc_uri = g_strdup_printf ("file://%s/%%2e%%2e/%%2E%%2E/outside/secret.txt",
                                               fx->root);
  g_autofree gchar *host_uri = g_strdup_printf ("file://evil.example%s/x.mp4", fx->root);
  g_autofree gchar *nul_uri = g_strdup_printf ("file://%s/x%%00.mp4", fx->root);
  g_autofree gchar *bs_uri = g_strdup_printf ("file://%s/..\\outside", fx->root);
  const gchar *fs_urls[] = {
    "fs://../outside/secret.txt",
    "fs://a/../../outside/secret.txt",
    "fs://..",
    "fs://./x.mp4",
    "fs:///etc/passwd",
    "fs://%2e%2e/outside/secret.txt",
    "fs://%2E%2E%2Foutside%2Fsecret.txt",
    "fs://a/%2e%2e/%2e%2e/outside/secret.txt",
    "fs://%2fetc%2fpasswd",
    "fs://x%00.mp4",
    "fs://a\\..\\..\\outside",
    "fs://bad%zz",
    "fs://line\nbreak",
    "file:///etc/passwd",
    NULL,
  };

  for (guint i = 0; fs_urls[i] != NULL; i++)
    assert_denied_everywhere (fx, fs_urls[i]);
  assert_denied_everywhere (fx, secret_uri);
  assert_denied_everywhere (fx, dotdot_uri);
  assert_denied_everywhere (fx, enc_uri);
  assert_denied_everywhere (fx, host_uri);
  assert_denied_everywhere (fx, nul_uri);
  assert_denied_everywhere (fx, bs_uri);
  /* nothing was written outside */
  g_assert_cmpuint (count_files (fx->outside), ==, 1);
}

static void
test_symlinks (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_auto(WeObjectInfo) info = { 0 };
  g_autoptr(WeBrowseResult) result = NULL;
  g_autofree gchar *secret = g_build_filename (fx->outside, "secret.txt", NULL);
  g_autofree gchar *dir_link = g_build_filename (fx->root, "dirlink", NULL);
  g_autofree gchar *file_link = g_build_filename (fx->root, "filelink.mp4", NULL);
  g_autofree gchar *dangling = g_build_filename (fx->root, "dangling.mp4", NULL);
  g_autofree gchar *dangling_target = g_build_filename (fx->outside, "created.mp4", NULL);
  g_autofree gchar *inner_link = g_build_filename (fx->root, "inner.mp4", NULL);
  g_autofree gchar *browse_link = g_build_filename (fx->browse, "escape.mp4", NULL);
  g_autofree gchar *browse_link_uri = g_filename_to_uri (browse_link, NULL, NULL);

  g_assert_cmpint (symlink (fx->outside, dir_link), ==, 0);
  g_assert_cmpint (symlink (secret, file_link), ==, 0);
  g_assert_cmpint (symlink (dangling_target, dangling), ==, 0);
  g_assert_cmpint (symlink (secret, browse_link), ==, 0);
  put (fx->storage, "fs://real.mp4", "inside");
  g_assert_cmpint (symlink ("real.mp4", inner_link), ==, 0);

  assert_denied_everywhere (fx, "fs://dirlink/secret.txt");
  g_assert_null (we_storage_create (fx->storage, "fs://dirlink/new.mp4", &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_STO_ACCESS_DENIED);
  g_clear_error (&error);
  g_assert_null (we_storage_open_read (fx->storage, "fs://filelink.mp4", 0, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_STO_ACCESS_DENIED);
  g_clear_error (&error);
  g_assert_null (we_storage_create (fx->storage, "fs://dangling.mp4", &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_STO_ACCESS_DENIED);
  g_clear_error (&error);
  g_assert_false (g_file_test (dangling_target, G_FILE_TEST_EXISTS));
  g_assert_null (we_storage_open_read (fx->storage, browse_link_uri, 0, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_STO_ACCESS_DENIED);
  g_clear_error (&error);
  g_assert_cmpuint (count_files (fx->outside), ==, 1);

  /* a link that stays inside the root is fine */
  g_assert_true (we_storage_stat (fx->storage, "fs://inner.mp4", &info, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (info.key, ==, "real.mp4");

  /* browsing shows neither escaping link */
  result = we_storage_browse (fx->storage, NULL, &(WeBrowseOptions) { 0 }, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (result->entries->len, ==, 2);
  g_assert_cmpstr (((WeBrowseEntry *) g_ptr_array_index (result->entries, 0))->name, ==,
                   "inner.mp4");
  g_clear_pointer (&result, we_browse_result_free);
  result = we_storage_browse (fx->storage, dir_link, &(WeBrowseOptions) { 0 }, &error);
  g_assert_null (result);
  g_assert_error (error, WE_ERROR, WE_ERROR_STO_ACCESS_DENIED);
  g_clear_error (&error);

  /* deleting a link removes the link, never what it points at */
  g_assert_true (we_storage_delete_object (fx->storage, "fs://filelink.mp4", &error));
  g_assert_no_error (error);
  g_assert_true (g_file_test (secret, G_FILE_TEST_IS_REGULAR));
}

static void
test_browse (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(WeBrowseResult) result = NULL;
  g_auto(WeObjectInfo) info = { 0 };
  g_autofree gchar *sub = g_build_filename (fx->browse, "sub", NULL);
  g_autofree gchar *another = g_build_filename (fx->browse, "Another Dir", NULL);
  g_autofree gchar *movie_uri = NULL;
  g_autofree gchar *contents = NULL;
  g_autofree gchar *sub_uri = NULL;
  g_autofree gchar *escape = g_strdup_printf ("%s/../outside", fx->browse);
  const gchar *names[] = { "Movie.MP4", "song.mp3", "notes.txt", ".hidden.mp4", "zebra.mkv", NULL };
  WeBrowseEntry *e;

  g_assert_cmpint (g_mkdir (sub, 0755), ==, 0);
  g_assert_cmpint (g_mkdir (another, 0755), ==, 0);
  for (guint i = 0; names[i] != NULL; i++) {
    g_autofree gchar *path = g_build_filename (fx->browse, names[i], NULL);
    write_file (path, names[i]);
  }
  {
    g_autofree gchar *path = g_build_filename (sub, "deep.webm", NULL);
    write_file (path, "deep");
  }

  result = we_storage_browse (fx->storage, fx->browse, &(WeBrowseOptions) { 0 }, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (result->current_path, ==, fx->browse);
  g_assert_null (result->parent_path);
  g_assert_cmpuint (result->entries->len, ==, 6);
  /* folders first, then names without regard to case */
  g_assert_cmpstr (((WeBrowseEntry *) g_ptr_array_index (result->entries, 0))->name, ==, "Another Dir");
  g_assert_cmpstr (((WeBrowseEntry *) g_ptr_array_index (result->entries, 1))->name, ==, "sub");
  e = g_ptr_array_index (result->entries, 2);
  g_assert_cmpstr (e->name, ==, "Movie.MP4");
  g_assert_true (e->is_video);
  g_assert_cmpstr (e->extension, ==, "mp4");
  g_assert_cmpuint (e->size, ==, strlen ("Movie.MP4"));
  g_assert_true (g_str_has_prefix (e->url, "file:///"));
  movie_uri = g_strdup (e->url);
  g_assert_cmpstr (((WeBrowseEntry *) g_ptr_array_index (result->entries, 3))->name, ==, "notes.txt");
  e = g_ptr_array_index (result->entries, 4);
  g_assert_cmpstr (e->name, ==, "song.mp3");
  g_assert_true (e->is_audio);
  g_clear_pointer (&result, we_browse_result_free);

  result = we_storage_browse (fx->storage, fx->browse, &(WeBrowseOptions) { .media_only = TRUE },
                              &error);
  g_assert_no_error (error);
  g_assert_cmpuint (result->entries->len, ==, 5); /* 2 dirs, movie, song, zebra */
  g_clear_pointer (&result, we_browse_result_free);

  result = we_storage_browse (fx->storage, fx->browse, &(WeBrowseOptions) { .show_hidden = TRUE },
                              &error);
  g_assert_cmpuint (result->entries->len, ==, 7);
  g_clear_pointer (&result, we_browse_result_free);

  result = we_storage_browse (fx->storage, fx->browse,
                              &(WeBrowseOptions) { .search_query = "MOVIE" }, &error);
  g_assert_cmpuint (result->entries->len, ==, 1);
  g_assert_cmpstr (((WeBrowseEntry *) g_ptr_array_index (result->entries, 0))->name, ==, "Movie.MP4");
  g_clear_pointer (&result, we_browse_result_free);

  /* a sub-folder, by the path handed out and by URL */
  sub_uri = g_filename_to_uri (sub, NULL, NULL);
  result = we_storage_browse (fx->storage, sub_uri, &(WeBrowseOptions) { 0 }, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (result->parent_path, ==, fx->browse);
  g_assert_cmpuint (result->entries->len, ==, 1);
  g_clear_pointer (&result, we_browse_result_free);

  /* what browse offers can be read and submitted, but not written */
  g_assert_true (we_storage_stat (fx->storage, movie_uri, &info, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (info.content_type, ==, "video/mp4");
  contents = get (fx->storage, movie_uri, 0);
  g_assert_cmpstr (contents, ==, "Movie.MP4");
  g_assert_null (we_storage_create (fx->storage, movie_uri, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_STO_ACCESS_DENIED);
  g_clear_error (&error);
  g_assert_false (we_storage_delete_object (fx->storage, movie_uri, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_STO_ACCESS_DENIED);
  g_clear_error (&error);

  /* outside the roots, traversal, missing */
  g_assert_null (we_storage_browse (fx->storage, fx->outside, &(WeBrowseOptions) { 0 }, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_STO_ACCESS_DENIED);
  g_clear_error (&error);
  g_assert_null (we_storage_browse (fx->storage, "/", &(WeBrowseOptions) { 0 }, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_STO_ACCESS_DENIED);
  g_clear_error (&error);
  g_assert_null (we_storage_browse (fx->storage, escape, &(WeBrowseOptions) { 0 }, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_STO_ACCESS_DENIED);
  g_clear_error (&error);
  g_assert_null (we_storage_browse (fx->storage, "../..", &(WeBrowseOptions) { 0 }, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_STO_ACCESS_DENIED);
  g_clear_error (&error);
  {
    g_autofree gchar *missing = g_build_filename (fx->browse, "missing", NULL);
    g_assert_null (we_storage_browse (fx->storage, missing, &(WeBrowseOptions) { 0 }, &error));
    g_assert_error (error, WE_ERROR, WE_ERROR_STO_NOT_FOUND);
    g_clear_error (&error);
  }

  /* the storage root, by default, with fs:// URLs */
  put (fx->storage, "fs://in/root.mp4", "r");
  result = we_storage_browse (fx->storage, "in", &(WeBrowseOptions) { 0 }, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (result->entries->len, ==, 1);
  g_assert_cmpstr (((WeBrowseEntry *) g_ptr_array_index (result->entries, 0))->url, ==,
                   "fs://in/root.mp4");
  g_assert_cmpstr (result->parent_path, ==, fx->root);
}

static void
test_roots_and_caps (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) roots = NULL;
  WeStorageCapabilities caps;
  WeBrowseEntry *e;
  const gchar *id = NULL;

  roots = we_storage_browse_roots (fx->storage, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (roots->len, ==, 2);
  e = g_ptr_array_index (roots, 0);
  g_assert_cmpstr (e->path, ==, fx->root);
  g_assert_cmpstr (e->name, ==, "store");
  g_assert_cmpstr (e->url, ==, "fs://");
  g_assert_true (e->is_directory);
  e = g_ptr_array_index (roots, 1);
  g_assert_cmpstr (e->path, ==, fx->browse);
  g_assert_true (g_str_has_prefix (e->url, "file:///"));

  we_storage_get_capabilities (fx->storage, &caps);
  g_assert_cmpstr (caps.storage_type, ==, "local_fs");
  g_assert_true (caps.supports_browse);
  g_assert_true (caps.supports_upload);
  g_assert_true (caps.supports_streaming);
  g_assert_false (caps.supports_signed_urls);
  g_assert_null (we_storage_get_signed_url (fx->storage, "fs://x", "GET", 60, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED);
  g_clear_error (&error);

  g_assert_true (we_storage_handles_url (fx->storage, "fs://x"));
  g_assert_true (we_storage_handles_url (fx->storage, "FILE:///x"));
  g_assert_false (we_storage_handles_url (fx->storage, "s3://bucket/x"));
  g_assert_false (we_storage_handles_url (fx->storage, "/plain/path"));
  g_assert_true (we_plugin_host_storage_for_url (fx->host, "fs://x", &id) == fx->storage);
  g_assert_cmpstr (id, ==, "storage-fs");
  g_assert_null (we_plugin_host_storage_for_url (fx->host, "https://x/y.mp4", NULL));
  g_assert_true (we_plugin_host_default_storage (fx->host, NULL) == fx->storage);
}

static void
test_bad_config (Fixture *fx, gconstpointer data)
{
  WePluginInfo *info;

  fx->root_config = (gchar *) "relative/dir";
  load (fx);
  g_assert_null (fx->storage);
  info = we_plugin_host_get_plugin (fx->host, "storage-fs");
  g_assert_nonnull (info);
  g_assert_cmpint (info->state, ==, WE_PLUGIN_STATE_FAILED);
  g_assert_nonnull (strstr (info->error, "absolute"));
  g_clear_object (&fx->host);

  fx->root_config = (gchar *) "";
  load (fx);
  g_assert_null (fx->storage);
  info = we_plugin_host_get_plugin (fx->host, "storage-fs");
  g_assert_nonnull (strstr (info->error, "needs 'root'"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  /* refusals are logged as warnings on purpose; only criticals are bugs */
  g_log_set_always_fatal (G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);

  g_test_add ("/storage-fs/round-trip", Fixture, NULL, fixture_setup, test_round_trip,
              fixture_teardown);
  g_test_add ("/storage-fs/atomic-create", Fixture, NULL, fixture_setup, test_atomic_create,
              fixture_teardown);
  g_test_add ("/storage-fs/traversal", Fixture, NULL, fixture_setup, test_traversal,
              fixture_teardown);
  g_test_add ("/storage-fs/symlinks", Fixture, NULL, fixture_setup, test_symlinks,
              fixture_teardown);
  g_test_add ("/storage-fs/browse", Fixture, NULL, fixture_setup, test_browse, fixture_teardown);
  g_test_add ("/storage-fs/roots-and-caps", Fixture, NULL, fixture_setup, test_roots_and_caps,
              fixture_teardown);
  g_test_add ("/storage-fs/bad-config", Fixture, "no-load", fixture_setup, test_bad_config,
              fixture_teardown);
  return g_test_run ();
}
