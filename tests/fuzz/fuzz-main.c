/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A main() for our fuzz targets so they also run as plain tests: every file
 * given on the command line (or in the corpus directories given) is fed to
 * LLVMFuzzerTestOneInput, then a few thousand mutations of them. Build the
 * same sources with clang -fsanitize=fuzzer and without this file to fuzz
 * for real.
 */
#include <glib.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
run_file (const gchar *path, GPtrArray *seeds)
{
  gchar *data = NULL;
  gsize len = 0;

  if (!g_file_get_contents (path, &data, &len, NULL))
    return;
  LLVMFuzzerTestOneInput ((const uint8_t *) data, len);
  g_ptr_array_add (seeds, g_bytes_new_take (data, len));
}

int
main (int argc, char **argv)
{
  g_autoptr(GPtrArray) seeds = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  g_autoptr(GRand) rand = g_rand_new_with_seed (0x5eed);
  guint iterations = 4000;

  for (int i = 1; i < argc; i++) {
    if (g_file_test (argv[i], G_FILE_TEST_IS_DIR)) {
      g_autoptr(GDir) dir = g_dir_open (argv[i], 0, NULL);
      const gchar *name;
      while (dir != NULL && (name = g_dir_read_name (dir)) != NULL) {
        g_autofree gchar *path = g_build_filename (argv[i], name, NULL);
        run_file (path, seeds);
      }
    } else {
      run_file (argv[i], seeds);
    }
  }
  /* cheap mutations: flips, truncations, splices */
  for (guint i = 0; i < iterations && seeds->len > 0; i++) {
    GBytes *seed = g_ptr_array_index (seeds, g_rand_int_range (rand, 0, (gint) seeds->len));
    gsize len = g_bytes_get_size (seed);
    g_autofree guint8 *buf = g_memdup2 (g_bytes_get_data (seed, NULL), len + 1);
    guint flips = (guint) g_rand_int_range (rand, 1, 8);

    for (guint f = 0; f < flips && len > 0; f++)
      buf[g_rand_int_range (rand, 0, (gint) len)] = (guint8) g_rand_int_range (rand, 0, 256);
    if (len > 0 && g_rand_boolean (rand))
      len = (gsize) g_rand_int_range (rand, 0, (gint) len);
    LLVMFuzzerTestOneInput (buf, len);
  }
  g_print ("fuzzed %u inputs from %u seeds\n", iterations, seeds->len);
  return 0;
}
