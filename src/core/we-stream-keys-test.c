/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Stream keys: their shape, the seal (round trip, tamper, move, other
 * secret), and the ingest's lookup against a real SQLite store through
 * issue, rotation and deletion. The store-level behaviour on PostgreSQL
 * too is in the shared store suite (streams/…).
 */
#include "config.h"

#include <string.h>
#include <glib/gstdio.h>
#include <webencode/we-error.h>

#include "core/we-stream-keys.h"
#include "store/we-store-sqlite.h"

#define SECRET_A "0123456789abcdef0123456789abcdef-a"
#define SECRET_B "0123456789abcdef0123456789abcdef-b"

static WeContentKeys *
keys_with (const gchar *secret)
{
  g_autoptr(GError) error = NULL;
  WeContentKeys *keys;

  g_setenv ("WE_TEST_STREAM_SECRET", secret, TRUE);
  keys = we_content_keys_new ("env:WE_TEST_STREAM_SECRET", NULL, &error);
  g_assert_no_error (error);
  return keys;
}

static void
test_shapes (void)
{
  g_autoptr(GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  for (guint i = 0; i < 200; i++) {
    g_autofree gchar *key = we_stream_keys_generate_key ();
    g_autofree gchar *pass = we_stream_keys_generate_passphrase ();
    g_autofree gchar *play = we_stream_keys_generate_play_name ();
    g_autofree gchar *hash = we_stream_keys_hash (key);

    g_assert_true (g_str_has_prefix (key, "we_live_"));
    g_assert_cmpuint (strlen (key), ==, strlen ("we_live_") + 32);
    g_assert_true (we_stream_keys_is_well_formed (key));
    /* libsrt takes 10 to 79 characters; the contract asks for 16 or more */
    g_assert_cmpuint (strlen (pass), >=, 16);
    g_assert_cmpuint (strlen (pass), <=, 79);
    for (const gchar *p = pass; *p; p++)
      g_assert_true (g_ascii_isalnum (*p));
    g_assert_cmpuint (strlen (play), ==, 20);
    for (const gchar *p = play; *p; p++)
      g_assert_true (g_ascii_isdigit (*p) || g_ascii_islower (*p));
    /* the play name is no part of the key */
    g_assert_null (strstr (key, play));
    g_assert_true (g_str_has_prefix (hash, "sha256:"));
    g_assert_cmpuint (strlen (hash), ==, 7 + 64);
    g_assert_true (g_hash_table_add (seen, g_steal_pointer (&key)));
  }
  g_assert_false (we_stream_keys_is_well_formed (NULL));
  g_assert_false (we_stream_keys_is_well_formed (""));
  g_assert_false (we_stream_keys_is_well_formed ("we_live_short"));
  g_assert_false (we_stream_keys_is_well_formed ("xx_live_0123456789abcdef0123456789abcdef"));
  g_assert_false (we_stream_keys_is_well_formed ("we_live_0123456789abcdef0123456789abcde/"));
  g_assert_true (we_stream_keys_is_well_formed ("we_live_0123456789abcdef0123456789ABCDEF"));
}

static void
test_seal (void)
{
  g_autoptr(WeContentKeys) a = keys_with (SECRET_A);
  g_autoptr(WeContentKeys) b = keys_with (SECRET_B);
  g_autoptr(GError) error = NULL;
  g_autofree gchar *key = we_stream_keys_generate_key ();
  g_autofree gchar *sealed = NULL;
  g_autofree gchar *again = NULL;
  g_autofree gchar *opened = NULL;
  g_autofree gchar *tampered = NULL;

  sealed = we_stream_keys_seal (a, "stream-1", WE_STREAM_SEAL_KEY, key, &error);
  g_assert_no_error (error);
  g_assert_true (g_str_has_prefix (sealed, "v1:"));
  g_assert_null (strstr (sealed, key));
  g_assert_null (strstr (sealed, key + 8));
  /* a fresh nonce each time */
  again = we_stream_keys_seal (a, "stream-1", WE_STREAM_SEAL_KEY, key, &error);
  g_assert_cmpstr (sealed, !=, again);

  opened = we_stream_keys_unseal (a, "stream-1", WE_STREAM_SEAL_KEY, sealed, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (opened, ==, key);

  /* bound to the stream, the purpose and the service secret */
  g_assert_null (we_stream_keys_unseal (a, "stream-2", WE_STREAM_SEAL_KEY, sealed, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_SYS_INTERNAL);
  g_clear_error (&error);
  g_assert_null (we_stream_keys_unseal (a, "stream-1", WE_STREAM_SEAL_SRT, sealed, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_SYS_INTERNAL);
  g_clear_error (&error);
  g_assert_null (we_stream_keys_unseal (b, "stream-1", WE_STREAM_SEAL_KEY, sealed, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_SYS_INTERNAL);
  g_assert_null (strstr (error->message, key));
  g_clear_error (&error);

  /* one flipped character of the ciphertext */
  tampered = g_strdup (sealed);
  tampered[20] = tampered[20] == 'A' ? 'B' : 'A';
  g_assert_null (we_stream_keys_unseal (a, "stream-1", WE_STREAM_SEAL_KEY, tampered, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_SYS_INTERNAL);
  g_clear_error (&error);
  g_assert_null (we_stream_keys_unseal (a, "stream-1", WE_STREAM_SEAL_KEY, "v1:AAAA", &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_SYS_INTERNAL);
  g_clear_error (&error);
  g_assert_null (we_stream_keys_unseal (a, "stream-1", WE_STREAM_SEAL_KEY, key, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_SYS_INTERNAL);
}

static WeStream *
new_stream (WeContentKeys *keys, gchar **key, gchar **pass)
{
  g_autoptr(GError) error = NULL;
  WeStream *s = we_stream_new ();

  s->id = we_uuid_new ();
  s->user_id = g_strdup ("user-1");
  s->title = g_strdup ("Test");
  s->play_name = we_stream_keys_generate_play_name ();
  s->latency_mode = g_strdup ("normal");
  g_assert_true (we_stream_keys_issue (keys, s, key, pass, &error));
  g_assert_no_error (error);
  return s;
}

static void
test_lookup (void)
{
  g_autoptr(WeContentKeys) keys = keys_with (SECRET_A);
  g_autoptr(GError) error = NULL;
  g_autofree gchar *dir = g_dir_make_tmp ("we-stream-keys-XXXXXX", &error);
  g_autofree gchar *db = g_build_filename (dir, "store.db", NULL);
  g_autoptr(WeStore) store = NULL;
  g_autofree gchar *key = NULL;
  g_autofree gchar *pass = NULL;
  g_autofree gchar *other_key = NULL;
  g_autofree gchar *new_key = NULL;
  g_autofree gchar *new_pass = NULL;
  g_autofree gchar *opened = NULL;
  g_autoptr(WeStream) s = NULL;
  g_autoptr(WeStream) other = NULL;
  g_autoptr(WeStream) found = NULL;

  g_assert_no_error (error);
  store = we_store_sqlite_new (db, &error);
  g_assert_no_error (error);

  s = new_stream (keys, &key, &pass);
  other = new_stream (keys, &other_key, NULL);
  g_assert_cmpstr (s->key_hint, ==, key + strlen (key) - 4);
  g_assert_true (we_store_stream_create (store, s, &error));
  g_assert_true (we_store_stream_create (store, other, &error));
  g_assert_no_error (error);

  g_assert_true (we_stream_keys_lookup (store, key, &found, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (found->id, ==, s->id);
  opened = we_stream_keys_unseal (keys, found->id, WE_STREAM_SEAL_SRT,
                                  found->srt_passphrase_sealed, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (opened, ==, pass);
  g_clear_pointer (&found, we_stream_free);
  g_assert_true (we_stream_keys_lookup (store, other_key, &found, &error));
  g_assert_cmpstr (found->id, ==, other->id);
  g_clear_pointer (&found, we_stream_free);

  /* wrong, malformed and almost-right keys */
  {
    g_autofree gchar *near = g_strdup (key);
    const gchar *bad[] = { "we_live_", "", "rtmp://host/live/x", near, NULL };

    near[strlen (near) - 1] = near[strlen (near) - 1] == 'a' ? 'b' : 'a';
    for (guint i = 0; bad[i] != NULL; i++) {
      g_assert_false (we_stream_keys_lookup (store, bad[i], &found, &error));
      g_assert_error (error, WE_ERROR, WE_ERROR_STR_NOT_FOUND);
      g_assert_null (found);
      g_assert_null (strstr (error->message, "we_live_"));
      g_clear_error (&error);
    }
    g_assert_false (we_stream_keys_lookup (store, NULL, &found, &error));
    g_assert_error (error, WE_ERROR, WE_ERROR_STR_NOT_FOUND);
    g_clear_error (&error);
  }

  /* rotation: the old key stops working at once, the new one works */
  g_assert_true (we_stream_keys_issue (keys, s, &new_key, &new_pass, &error));
  g_assert_cmpstr (new_key, !=, key);
  g_assert_cmpstr (new_pass, !=, pass);
  g_assert_true (we_store_stream_update (store, s, &error));
  g_assert_no_error (error);
  g_assert_false (we_stream_keys_lookup (store, key, &found, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_STR_NOT_FOUND);
  g_clear_error (&error);
  g_assert_true (we_stream_keys_lookup (store, new_key, &found, &error));
  g_assert_cmpstr (found->id, ==, s->id);
  g_clear_pointer (&found, we_stream_free);

  /* deletion: the key finds nothing */
  g_assert_true (we_store_stream_delete (store, s->id, &error));
  g_assert_false (we_stream_keys_lookup (store, new_key, &found, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_STR_NOT_FOUND);
  g_clear_error (&error);

  g_clear_object (&store);
  {
    g_autofree gchar *wal = g_strconcat (db, "-wal", NULL);
    g_autofree gchar *shm = g_strconcat (db, "-shm", NULL);

    g_unlink (wal);
    g_unlink (shm);
    g_unlink (db);
    g_rmdir (dir);
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/stream-keys/shapes", test_shapes);
  g_test_add_func ("/stream-keys/seal", test_seal);
  g_test_add_func ("/stream-keys/lookup-rotate-delete", test_lookup);
  return g_test_run ();
}
