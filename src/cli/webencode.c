/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * webencode: the command-line client of webencoded, over its D-Bus API when
 * a local service is on the bus and over its REST API otherwise.
 *
 * Every command is a chain of asynchronous operations of a WeCliBackend on
 * one GMainLoop, so a progress bar, a wait and Ctrl-C all stay responsive
 * while bytes move; the commands never know which transport carries them.
 * Exit status: 0 success, 1 a job failed or was cancelled, 2 an error (the
 * API's, a local one or a bad command line), 3 the service is unreachable,
 * 130 interrupted.
 */
#include "config.h"

#include <glib-unix.h>
#include <glib/gi18n.h>
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "we-cli-backend.h"
#include "we-cli-client.h"
#include "we-cli-dbus.h"
#include "we-cli-output.h"
#include "we-cli-progress.h"
#include "we-cli-rest.h"

#define WE_CLI_DEFAULT_URL      "http://127.0.0.1:8080"

enum {
  EXIT_JOB_FAILED   = 1,
  EXIT_ERROR        = 2,
  EXIT_UNREACHABLE  = 3,
  EXIT_INTERRUPTED  = 130,
};

typedef struct _WeCli WeCli;

typedef struct {
  const gchar *name;
  const gchar *params;
  const gchar *summary;
  guint        min_args;
  guint        max_args;
  void       (*run) (WeCli *self);
} WeCliCommand;

struct _WeCli {
  GMainLoop          *loop;
  GCancellable       *cancellable;
  WeCliBackend       *backend;
  const WeCliCommand *command;
  gint                exit_status;
  gboolean            done;
  gboolean            interrupted;

  /* options */
  gchar              *url;
  gboolean            use_dbus;
  gboolean            use_rest;
  gboolean            system_bus;
  gboolean            session_bus;
  gboolean            probing_system; /* the session bus had no service */
  gchar              *user;
  gchar              *password;
  gboolean            json;
  gboolean            version;
  gchar              *profile;
  gchar             **overrides;
  gboolean            wait;
  gchar              *download_dir;
  gchar              *status_filter;
  gint                limit;
  gint                offset;
  gchar              *stage;
  gchar              *graph_file;
  gchar             **args;     /* the command's positional arguments */

  /* state of a running command */
  gchar              *job_id;
  WeCliProgress      *progress;
  GPtrArray          *downloads; /* of JsonObject, the outputs still to fetch */
  guint               download_idx;
  gchar              *download_name;
};

static void
we_cli_free (WeCli *self)
{
  g_clear_pointer (&self->loop, g_main_loop_unref);
  g_clear_object (&self->cancellable);
  g_clear_object (&self->backend);
  g_clear_object (&self->progress);
  g_free (self->url);
  g_free (self->user);
  g_free (self->password);
  g_free (self->profile);
  g_strfreev (self->overrides);
  g_free (self->download_dir);
  g_free (self->status_filter);
  g_free (self->stage);
  g_free (self->graph_file);
  g_strfreev (self->args);
  g_free (self->job_id);
  g_clear_pointer (&self->downloads, g_ptr_array_unref);
  g_free (self->download_name);
  g_free (self);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeCli, we_cli_free)

static void
we_cli_quit (WeCli *self, gint status)
{
  if (self->progress != NULL)
    we_cli_progress_finish (self->progress);
  self->exit_status = status;
  self->done = TRUE;
  g_main_loop_quit (self->loop);
}

/* Prints "webencode: <message>" and quits with the status the error implies;
 * API errors already read "<code>: <message>: <details>". */
static void
we_cli_fail (WeCli *self, const GError *error)
{
  gint status = EXIT_ERROR;

  if (self->progress != NULL)
    we_cli_progress_finish (self->progress);
  if (self->interrupted || g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
    we_cli_quit (self, EXIT_INTERRUPTED);
    return;
  }
  if (g_error_matches (error, WE_CLI_ERROR, WE_CLI_ERROR_CONNECT))
    status = EXIT_UNREACHABLE;
  g_printerr ("webencode: %s\n", error->message);
  we_cli_quit (self, status);
}

static void
we_cli_fail_literal (WeCli *self, WeCliErrorCode code, const gchar *message)
{
  g_autoptr(GError) error = g_error_new_literal (WE_CLI_ERROR, code, message);
  we_cli_fail (self, error);
}

/* Returns: (nullable): the node's object, or NULL after reporting that the
 * service sent something else */
static JsonObject *
we_cli_expect_object (WeCli *self, JsonNode *node)
{
  JsonObject *obj = we_cli_json_object (node);

  if (obj == NULL)
    we_cli_fail_literal (self, WE_CLI_ERROR_PROTOCOL,
                         _("the service sent an unexpected response (not a JSON object)"));
  return obj;
}

static gchar *
format_job_progress (JsonObject *job)
{
  g_autoptr(GString) str = g_string_new (NULL);
  gdouble pct = 0, fps, speed, eta;

  if (!we_cli_json_get_number (job, "progress", &pct))
    we_cli_json_get_number (job, "progress_pct", &pct);
  g_string_append_printf (str, "%.1f%%", CLAMP (pct, 0.0, 100.0));
  if (we_cli_json_get_number (job, "fps", &fps) && fps > 0)
    g_string_append_printf (str, "  %.1f fps", fps);
  if (we_cli_json_get_number (job, "speed", &speed) && speed > 0)
    g_string_append_printf (str, "  %.2fx", speed);
  if (we_cli_json_get_number (job, "eta_seconds", &eta) && eta > 0) {
    g_autofree gchar *s = we_cli_format_duration (eta);
    g_string_append_printf (str, "  %s %s", _("ETA"), s);
  }
  return g_string_free (g_steal_pointer (&str), FALSE);
}

/* Exit 1 with the job's own error, as the user needs it to act on. */
static void
we_cli_job_failed (WeCli *self, JsonObject *job)
{
  g_autofree gchar *id = we_cli_sanitize (we_cli_json_get_string (job, "id"));
  g_autofree gchar *status = we_cli_sanitize (we_cli_json_get_string (job, "status"));
  const gchar *code = we_cli_json_get_string (job, "error_code");
  const gchar *message = we_cli_json_get_string (job, "error_message");

  if (code != NULL || message != NULL) {
    g_autofree gchar *c = we_cli_sanitize (code ? code : "-");
    g_autofree gchar *m = we_cli_sanitize (message ? message : "");
    g_printerr ("webencode: job %s %s: %s: %s\n", id, status, c, m);
  } else {
    g_printerr ("webencode: job %s %s\n", id, status);
  }
  we_cli_quit (self, EXIT_JOB_FAILED);
}

/* ---- outputs and downloads --------------------------------------------- */

static void we_cli_download_next (WeCli *self);

static void
we_cli_transfer_progress_cb (guint64 done, guint64 total, gpointer user_data)
{
  WeCli *self = user_data;

  if (self->progress != NULL)
    we_cli_progress_update_transfer (self->progress, self->download_name, done, total);
}

static void
we_cli_download_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  WeCli *self = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *size = NULL;
  g_autofree gchar *path = NULL;
  gint64 written;

  written = we_cli_backend_download_finish (WE_CLI_BACKEND (source), res, &error);
  g_clear_object (&self->progress);
  if (written < 0) {
    g_prefix_error (&error, _("downloading %s: "), self->download_name);
    we_cli_fail (self, error);
    return;
  }
  size = g_format_size ((guint64) written);
  path = g_build_filename (self->download_dir, self->download_name, NULL);
  /* in --json mode stdout carries JSON only */
  if (self->json)
    g_printerr (_("saved %s (%s)\n"), path, size);
  else
    g_print (_("saved %s (%s)\n"), path, size);
  we_cli_download_next (self);
}

/* A name from the server becomes a path below the download folder here (a
 * packaged job's are relative paths such as "360p/index.m3u8"): it must not
 * climb out. */
static gboolean
output_name_is_safe (const gchar *name)
{
  g_auto(GStrv) parts = NULL;

  if (name == NULL || *name == '\0' || *name == '/' || strchr (name, '\\') != NULL ||
      !g_utf8_validate (name, -1, NULL))
    return FALSE;
  parts = g_strsplit (name, "/", -1);
  for (guint i = 0; parts[i] != NULL; i++)
    if (*parts[i] == '\0' || strcmp (parts[i], ".") == 0 || strcmp (parts[i], "..") == 0)
      return FALSE;
  return TRUE;
}

static void
we_cli_download_next (WeCli *self)
{
  while (self->download_idx < self->downloads->len) {
    JsonObject *output = g_ptr_array_index (self->downloads, self->download_idx++);
    const gchar *name = we_cli_json_get_string (output, "name");
    g_autofree gchar *dest_path = NULL;
    g_autoptr(GFile) dest = NULL;

    if (!output_name_is_safe (name)) {
      g_autofree gchar *shown = we_cli_sanitize (name);
      g_printerr (_("webencode: skipping an output with an unusable name: %s\n"), shown);
      continue;
    }
    g_free (self->download_name);
    self->download_name = g_strdup (name);
    dest_path = g_build_filename (self->download_dir, name, NULL);
    dest = g_file_new_for_path (dest_path);
    if (strchr (name, '/') != NULL) {
      g_autofree gchar *folder = g_path_get_dirname (dest_path);
      g_mkdir_with_parents (folder, 0755);
    }
    /* the bar goes where the human reads: stderr in --json mode */
    self->progress = we_cli_progress_new (self->json ? stderr : stdout);
    we_cli_backend_download_async (self->backend, self->job_id, output, dest,
                                   we_cli_transfer_progress_cb, self, self->cancellable,
                                   we_cli_download_cb, self);
    return;
  }
  we_cli_quit (self, self->exit_status);
}

static void
we_cli_download_outputs (WeCli *self, JsonObject *listing)
{
  JsonArray *outputs = we_cli_json_get_array (listing, "outputs");

  if (g_mkdir_with_parents (self->download_dir, 0755) != 0) {
    g_autoptr(GError) error = g_error_new (WE_CLI_ERROR, WE_CLI_ERROR_LOCAL, "%s: %s",
                                           self->download_dir, g_strerror (errno));
    we_cli_fail (self, error);
    return;
  }
  g_clear_pointer (&self->downloads, g_ptr_array_unref);
  self->downloads = g_ptr_array_new_with_free_func ((GDestroyNotify) json_object_unref);
  self->download_idx = 0;
  for (guint i = 0; outputs != NULL && i < json_array_get_length (outputs); i++) {
    JsonObject *output = we_cli_json_object (json_array_get_element (outputs, i));
    if (output != NULL)
      g_ptr_array_add (self->downloads, json_object_ref (output));
  }
  if (self->downloads->len == 0)
    g_printerr (_("webencode: job %s has no outputs to download\n"), self->job_id);
  we_cli_download_next (self);
}

static void
we_cli_print_outputs (JsonObject *listing)
{
  JsonArray *outputs = we_cli_json_get_array (listing, "outputs");
  g_autoptr(WeCliTable) table = we_cli_table_new (_("name"), _("type"), _("size"),
                                                  _("download_url"), NULL);

  for (guint i = 0; outputs != NULL && i < json_array_get_length (outputs); i++) {
    JsonObject *output = we_cli_json_object (json_array_get_element (outputs, i));
    g_autofree gchar *size = NULL;
    gdouble bytes;

    if (output == NULL)
      continue;
    if (we_cli_json_get_number (output, "size_bytes", &bytes) && bytes >= 0)
      size = g_format_size ((guint64) bytes);
    we_cli_table_add_row (table, we_cli_json_get_string (output, "name"),
                          we_cli_json_get_string (output, "type"), size,
                          we_cli_json_get_string (output, "download_url"));
  }
  we_cli_table_print (table, stdout);
}

static void
we_cli_outputs_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  WeCli *self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) node = NULL;
  g_autoptr(GBytes) raw = NULL;
  JsonObject *listing;

  node = we_cli_backend_call_finish (WE_CLI_BACKEND (source), res, &raw, &error);
  if (node == NULL) {
    we_cli_fail (self, error);
    return;
  }
  if ((listing = we_cli_expect_object (self, node)) == NULL)
    return;
  /* `submit --download` already printed the job; only `outputs` shows the list */
  if (g_strcmp0 (self->command->name, "outputs") == 0) {
    if (self->json)
      we_cli_print_raw (raw);
    else
      we_cli_print_outputs (listing);
  }
  if (self->download_dir != NULL) {
    we_cli_download_outputs (self, listing);
    return;
  }
  we_cli_quit (self, EXIT_SUCCESS);
}

static void
we_cli_fetch_outputs (WeCli *self)
{
  const gchar *args[] = { self->job_id, NULL };
  we_cli_backend_call_async (self->backend, WE_CLI_OP_OUTPUTS, args, NULL, self->cancellable,
                             we_cli_outputs_cb, self);
}

/* ---- waiting for a job ------------------------------------------------- */

static void
we_cli_job_update_cb (JsonObject *job, gpointer user_data)
{
  WeCli *self = user_data;

  if (!self->json)
    we_cli_progress_update_job (self->progress, job);
}

static void
we_cli_job_watched_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  WeCli *self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) node = NULL;
  g_autoptr(GBytes) raw = NULL;
  JsonObject *job;

  /* REST polls the job, D-Bus follows the service's signals */
  node = we_cli_backend_watch_finish (WE_CLI_BACKEND (source), res, &raw, &error);
  if (node == NULL) {
    we_cli_fail (self, error);
    return;
  }
  if ((job = we_cli_expect_object (self, node)) == NULL)
    return;
  we_cli_progress_finish (self->progress);
  if (self->json)
    we_cli_print_raw (raw);
  if (g_strcmp0 (we_cli_json_get_string (job, "status"), "completed") != 0) {
    we_cli_job_failed (self, job);
    return;
  }
  if (self->download_dir != NULL) {
    we_cli_fetch_outputs (self);
    return;
  }
  we_cli_quit (self, EXIT_SUCCESS);
}

static void
we_cli_wait_for_job (WeCli *self)
{
  g_clear_object (&self->progress);
  self->progress = we_cli_progress_new (stdout);
  we_cli_backend_watch_async (self->backend, self->job_id, we_cli_job_update_cb, self,
                              self->cancellable, we_cli_job_watched_cb, self);
}

/* ---- submit ------------------------------------------------------------- */

/* "42" → 42, "1.5" → 1.5, "true" → true, anything else a string: the
 * service validates the override against the profile's field types. */
static JsonNode *
override_value (const gchar *text)
{
  JsonNode *node = json_node_new (JSON_NODE_VALUE);
  gint64 i;
  gchar *end = NULL;
  gdouble d;

  if (g_ascii_string_to_signed (text, 10, G_MININT64, G_MAXINT64, &i, NULL)) {
    json_node_set_int (node, i);
    return node;
  }
  d = g_ascii_strtod (text, &end);
  if (*text != '\0' && end != NULL && *end == '\0' && isfinite (d)) {
    json_node_set_double (node, d);
    return node;
  }
  if (g_strcmp0 (text, "true") == 0 || g_strcmp0 (text, "false") == 0) {
    json_node_set_boolean (node, text[0] == 't');
    return node;
  }
  json_node_set_string (node, text);
  return node;
}

static JsonObject *
parse_overrides (gchar **overrides, GError **error)
{
  g_autoptr(JsonObject) obj = json_object_new ();

  for (guint i = 0; overrides != NULL && overrides[i] != NULL; i++) {
    const gchar *eq = strchr (overrides[i], '=');
    g_autofree gchar *key = NULL;

    if (eq == NULL || eq == overrides[i]) {
      g_set_error (error, WE_CLI_ERROR, WE_CLI_ERROR_USAGE,
                   _("--override expects key=value, got “%s”"), overrides[i]);
      return NULL;
    }
    key = g_strndup (overrides[i], eq - overrides[i]);
    json_object_set_member (obj, key, override_value (eq + 1));
  }
  return g_steal_pointer (&obj);
}

static void
we_cli_submitted_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  WeCli *self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) node = NULL;
  g_autoptr(GBytes) raw = NULL;
  JsonObject *job;
  const gchar *id;

  node = we_cli_backend_call_finish (WE_CLI_BACKEND (source), res, &raw, &error);
  if (node == NULL) {
    we_cli_fail (self, error);
    return;
  }
  if ((job = we_cli_expect_object (self, node)) == NULL)
    return;
  id = we_cli_json_get_string (job, "id");
  if (id == NULL || *id == '\0') {
    we_cli_fail_literal (self, WE_CLI_ERROR_PROTOCOL, _("the service sent a job without an id"));
    return;
  }
  self->job_id = g_strdup (id);

  if (!self->wait) {
    if (self->json) {
      we_cli_print_raw (raw);
    } else {
      g_autofree gchar *shown = we_cli_sanitize (id);
      g_print ("%s\n", shown);
    }
    we_cli_quit (self, EXIT_SUCCESS);
    return;
  }
  /* printed at once, so an interrupted wait still leaves the id behind */
  if (!self->json) {
    g_autofree gchar *shown = we_cli_sanitize (id);
    g_print ("%s\n", shown);
  }
  we_cli_wait_for_job (self);
}

static void
we_cli_submit_job (WeCli *self, const gchar *source_url)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonNode) body = NULL;
  g_autoptr(JsonObject) overrides = parse_overrides (self->overrides, &error);

  if (overrides == NULL) {
    we_cli_fail (self, error);
    return;
  }
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "source_url");
  json_builder_add_string_value (builder, source_url);
  json_builder_set_member_name (builder, "profile");
  json_builder_add_string_value (builder, self->profile);
  if (json_object_get_size (overrides) > 0) {
    JsonNode *node = json_node_new (JSON_NODE_OBJECT);
    json_node_set_object (node, overrides);
    json_builder_set_member_name (builder, "profile_overrides");
    json_builder_add_value (builder, node);
  }
  json_builder_end_object (builder);
  body = json_builder_get_root (builder);
  we_cli_backend_call_async (self->backend, WE_CLI_OP_SUBMIT, NULL, body, self->cancellable,
                             we_cli_submitted_cb, self);
}

static void
we_cli_uploaded_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  WeCli *self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) node = NULL;
  JsonObject *upload;
  const gchar *url;

  node = we_cli_backend_upload_finish (WE_CLI_BACKEND (source), res, &error);
  g_clear_object (&self->progress);
  if (node == NULL) {
    g_prefix_error (&error, _("uploading %s: "), self->args[0]);
    we_cli_fail (self, error);
    return;
  }
  if ((upload = we_cli_expect_object (self, node)) == NULL)
    return;
  url = we_cli_json_get_string (upload, "url");
  if (url == NULL || *url == '\0') {
    we_cli_fail_literal (self, WE_CLI_ERROR_PROTOCOL,
                         _("the service sent an upload result without a url"));
    return;
  }
  we_cli_submit_job (self, url);
}

static void
we_cli_upload_progress_cb (guint64 done, guint64 total, gpointer user_data)
{
  WeCli *self = user_data;

  if (self->progress != NULL)
    we_cli_progress_update_transfer (self->progress, _("upload"), done, total);
}

static void
we_cli_start_upload (WeCli *self)
{
  /* known to exist as a local path, even if it looks like "scheme:…" */
  g_autoptr(GFile) file = g_file_new_for_path (self->args[0]);

  self->progress = we_cli_progress_new (self->json ? stderr : stdout);
  we_cli_backend_upload_async (self->backend, file, we_cli_upload_progress_cb, self,
                               self->cancellable, we_cli_uploaded_cb, self);
}

static void
we_cli_profile_checked_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  WeCli *self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) node = NULL;

  node = we_cli_backend_call_finish (WE_CLI_BACKEND (source), res, NULL, &error);
  if (node == NULL) {
    we_cli_fail (self, error);
    return;
  }
  we_cli_start_upload (self);
}

static void
cmd_submit (WeCli *self)
{
  const gchar *source = self->args[0];
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) overrides = NULL;

  if (self->profile == NULL || *self->profile == '\0') {
    we_cli_fail_literal (self, WE_CLI_ERROR_USAGE, _("submit needs --profile (see `webencode profiles`)"));
    return;
  }
  /* a bad --override must not cost an upload first */
  overrides = parse_overrides (self->overrides, &error);
  if (overrides == NULL) {
    we_cli_fail (self, error);
    return;
  }
  if (self->download_dir != NULL)
    self->wait = TRUE;

  /* an existing local path wins over a look-alike URL */
  if (g_file_test (source, G_FILE_TEST_EXISTS)) {
    /* a mistyped profile is cheaper to learn before a large upload than after */
    const gchar *args[] = { self->profile, NULL };
    we_cli_backend_call_async (self->backend, WE_CLI_OP_PROFILE, args, NULL, self->cancellable,
                               we_cli_profile_checked_cb, self);
    return;
  }
  if (g_uri_peek_scheme (source) == NULL) {
    g_autoptr(GError) local = g_error_new (WE_CLI_ERROR, WE_CLI_ERROR_LOCAL,
                                           _("%s: no such file, and not a URL"), source);
    we_cli_fail (self, local);
    return;
  }
  we_cli_submit_job (self, source);
}

/* ---- the other commands ------------------------------------------------- */

static void
print_field (const gchar *label, const gchar *value)
{
  g_autofree gchar *shown = we_cli_sanitize (value);
  g_autofree gchar *with_colon = g_strdup_printf ("%s:", label);

  g_print ("%-10s %s\n", with_colon, shown);
}

static void
print_job (JsonObject *job)
{
  const gchar *code = we_cli_json_get_string (job, "error_code");
  const gchar *message = we_cli_json_get_string (job, "error_message");
  const gchar *retry_of = we_cli_json_get_string (job, "retry_of");
  g_autofree gchar *progress = format_job_progress (job);
  g_autofree gchar *created = we_cli_format_time (we_cli_json_get_string (job, "created_at"));
  g_autofree gchar *started = we_cli_format_time (we_cli_json_get_string (job, "started_at"));
  g_autofree gchar *finished = we_cli_format_time (we_cli_json_get_string (job, "finished_at"));
  gdouble total, done;

  print_field (_("id"), we_cli_json_get_string (job, "id"));
  print_field (_("status"), we_cli_json_get_string (job, "status"));
  print_field (_("profile"), we_cli_json_get_string (job, "profile"));
  print_field (_("source"), we_cli_json_get_string (job, "source_url"));
  print_field (_("progress"), progress);
  if (we_cli_json_get_number (job, "tasks_total", &total) &&
      we_cli_json_get_number (job, "tasks_completed", &done)) {
    g_autofree gchar *tasks = g_strdup_printf ("%.0f/%.0f", done, total);
    print_field (_("tasks"), tasks);
  }
  if (code != NULL || message != NULL) {
    g_autofree gchar *err = g_strdup_printf ("%s: %s", code ? code : "-", message ? message : "");
    print_field (_("error"), err);
  }
  if (retry_of != NULL)
    print_field (_("retry of"), retry_of);
  print_field (_("created"), created);
  print_field (_("started"), started);
  print_field (_("finished"), finished);
}

/* The shape every single-request command shares. */
typedef void (*WeCliPrintFunc) (WeCli *self, JsonNode *node);

typedef struct {
  WeCli          *self;
  WeCliPrintFunc  print;
} SimpleRequest;

static void
we_cli_simple_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autofree SimpleRequest *req = user_data;
  WeCli *self = req->self;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) node = NULL;
  g_autoptr(GBytes) raw = NULL;

  node = we_cli_backend_call_finish (WE_CLI_BACKEND (source), res, &raw, &error);
  if (node == NULL) {
    we_cli_fail (self, error);
    return;
  }
  if (self->json && !JSON_NODE_HOLDS_NULL (node)) {
    we_cli_print_raw (raw);
    we_cli_quit (self, EXIT_SUCCESS);
    return;
  }
  req->print (self, node);
  /* a printer may have failed the command on a malformed answer */
  if (!self->done)
    we_cli_quit (self, EXIT_SUCCESS);
}

/* @params: (nullable) (transfer full) */
static void
we_cli_simple_request (WeCli *self, WeCliOp op, JsonNode *params, WeCliPrintFunc print)
{
  SimpleRequest *req = g_new0 (SimpleRequest, 1);
  g_autoptr(JsonNode) owned = params;

  req->self = self;
  req->print = print;
  we_cli_backend_call_async (self->backend, op, (const gchar *const *) self->args, owned,
                             self->cancellable, we_cli_simple_cb, req);
}

static void
print_job_cb (WeCli *self, JsonNode *node)
{
  JsonObject *job = we_cli_expect_object (self, node);
  if (job != NULL)
    print_job (job);
}

static void
cmd_status (WeCli *self)
{
  we_cli_simple_request (self, WE_CLI_OP_JOB, NULL, print_job_cb);
}

static void
print_cancelled_cb (WeCli *self, JsonNode *node)
{
  JsonObject *job = we_cli_expect_object (self, node);
  g_autofree gchar *id = NULL;
  g_autofree gchar *status = NULL;

  if (job == NULL)
    return;
  id = we_cli_sanitize (we_cli_json_get_string (job, "id"));
  status = we_cli_sanitize (we_cli_json_get_string (job, "status"));
  g_print ("%s %s\n", id, status);
}

static void
cmd_cancel (WeCli *self)
{
  we_cli_simple_request (self, WE_CLI_OP_CANCEL, NULL, print_cancelled_cb);
}

static void
print_retried_cb (WeCli *self, JsonNode *node)
{
  JsonObject *job = we_cli_expect_object (self, node);
  const gchar *id;
  g_autofree gchar *shown = NULL;

  if (job == NULL)
    return;
  id = we_cli_json_get_string (job, "id");
  if (id == NULL) {
    we_cli_fail_literal (self, WE_CLI_ERROR_PROTOCOL, _("the service sent a job without an id"));
    return;
  }
  shown = we_cli_sanitize (id);
  g_print ("%s\n", shown);
}

static void
cmd_retry (WeCli *self)
{
  we_cli_simple_request (self, WE_CLI_OP_RETRY, NULL, print_retried_cb);
}

static void
print_deleted_cb (WeCli *self, JsonNode *node)
{
  g_autofree gchar *shown = we_cli_sanitize (self->args[0]);

  if (!self->json)
    g_print (_("deleted %s\n"), shown);
}

static void
cmd_delete (WeCli *self)
{
  we_cli_simple_request (self, WE_CLI_OP_DELETE, NULL, print_deleted_cb);
}

static void
cmd_outputs (WeCli *self)
{
  self->job_id = g_strdup (self->args[0]);
  we_cli_fetch_outputs (self);
}

static void
print_jobs_cb (WeCli *self, JsonNode *node)
{
  JsonObject *listing = we_cli_expect_object (self, node);
  JsonArray *jobs;
  g_autoptr(WeCliTable) table = NULL;
  gdouble total, offset = 0;
  guint n;

  if (listing == NULL)
    return;
  jobs = we_cli_json_get_array (listing, "jobs");
  n = jobs != NULL ? json_array_get_length (jobs) : 0;
  table = we_cli_table_new (_("id"), _("status"), _("progress"), _("profile"), _("created"), NULL);
  for (guint i = 0; i < n; i++) {
    JsonObject *job = we_cli_json_object (json_array_get_element (jobs, i));
    g_autofree gchar *created = NULL;
    g_autofree gchar *pct_s = NULL;
    gdouble pct = 0;

    if (job == NULL)
      continue;
    if (!we_cli_json_get_number (job, "progress", &pct))
      we_cli_json_get_number (job, "progress_pct", &pct);
    pct_s = g_strdup_printf ("%.1f%%", CLAMP (pct, 0.0, 100.0));
    created = we_cli_format_time (we_cli_json_get_string (job, "created_at"));
    we_cli_table_add_row (table, we_cli_json_get_string (job, "id"),
                          we_cli_json_get_string (job, "status"), pct_s,
                          we_cli_json_get_string (job, "profile"), created);
  }
  we_cli_table_print (table, stdout);
  /* the table stays clean for scripts; the paging hint goes to stderr */
  we_cli_json_get_number (listing, "offset", &offset);
  if (we_cli_json_get_number (listing, "total", &total) && total > offset + n)
    g_printerr (_("(%u–%.0f of %.0f jobs; see --limit and --offset)\n"),
                n > 0 ? (guint) offset + 1 : 0, offset + n, total);
}

static void
cmd_list (WeCli *self)
{
  JsonObject *filter = json_object_new ();
  JsonNode *params = json_node_new (JSON_NODE_OBJECT);

  if (self->status_filter != NULL)
    json_object_set_string_member (filter, "status", self->status_filter);
  if (self->limit >= 0)
    json_object_set_int_member (filter, "limit", self->limit);
  if (self->offset >= 0)
    json_object_set_int_member (filter, "offset", self->offset);
  json_node_take_object (params, filter);
  we_cli_simple_request (self, WE_CLI_OP_JOBS, params, print_jobs_cb);
}

static void
print_profiles_cb (WeCli *self, JsonNode *node)
{
  JsonObject *listing = we_cli_expect_object (self, node);
  JsonArray *profiles;
  g_autoptr(WeCliTable) table = NULL;

  if (listing == NULL)
    return;
  profiles = we_cli_json_get_array (listing, "profiles");
  table = we_cli_table_new (_("id"), _("container"), _("codec"), _("size"), _("bitrate"), NULL);
  for (guint i = 0; profiles != NULL && i < json_array_get_length (profiles); i++) {
    JsonObject *p = we_cli_json_object (json_array_get_element (profiles, i));
    const gchar *vcodec, *acodec;
    g_autofree gchar *codec = NULL;
    g_autofree gchar *size = NULL;
    g_autofree gchar *bitrate = NULL;
    gdouble w = 0, h = 0, kbps = 0, crf;

    if (p == NULL)
      continue;
    vcodec = we_cli_json_get_string (p, "video_codec");
    acodec = we_cli_json_get_string (p, "audio_codec");
    codec = g_strdup_printf ("%s%s%s", vcodec ? vcodec : "-", acodec ? "/" : "",
                             acodec ? acodec : "");
    if (we_cli_json_get_number (p, "width", &w) && we_cli_json_get_number (p, "height", &h) &&
        w > 0 && h > 0)
      size = g_strdup_printf ("%.0fx%.0f", w, h);
    else
      size = g_strdup (_("source"));
    if (we_cli_json_get_number (p, "video_bitrate_kbps", &kbps) && kbps > 0)
      bitrate = g_strdup_printf ("%.0fk", kbps);
    else if (we_cli_json_get_number (p, "crf", &crf) && crf > 0)
      bitrate = g_strdup_printf ("crf %.0f", crf);
    we_cli_table_add_row (table, we_cli_json_get_string (p, "id"),
                          we_cli_json_get_string (p, "container"), codec, size, bitrate);
  }
  we_cli_table_print (table, stdout);
}

static void
cmd_profiles (WeCli *self)
{
  we_cli_simple_request (self, WE_CLI_OP_PROFILES, NULL, print_profiles_cb);
}

static void
print_health_cb (WeCli *self, JsonNode *node)
{
  JsonObject *health = we_cli_expect_object (self, node);
  JsonObject *workers;
  gdouble total, free_workers, uptime;
  g_autofree gchar *where = NULL;

  if (health == NULL)
    return;
  where = we_cli_backend_describe (self->backend);
  print_field (_("url"), where);
  print_field (_("status"), we_cli_json_get_string (health, "status"));
  print_field (_("version"), we_cli_json_get_string (health, "version"));
  print_field (_("mode"), we_cli_json_get_string (health, "mode"));
  print_field (_("store"), we_cli_json_get_string (health, "store"));
  workers = we_cli_json_get_object (health, "workers");
  if (we_cli_json_get_number (workers, "total", &total) &&
      we_cli_json_get_number (workers, "free", &free_workers)) {
    g_autofree gchar *s = g_strdup_printf (_("%.0f (%.0f free)"), total, free_workers);
    print_field (_("workers"), s);
  }
  if (we_cli_json_get_number (health, "uptime_s", &uptime)) {
    g_autofree gchar *s = we_cli_format_duration (uptime);
    print_field (_("uptime"), s);
  }
}

static void
cmd_health (WeCli *self)
{
  we_cli_simple_request (self, WE_CLI_OP_HEALTH, NULL, print_health_cb);
}

/* ---- pipeline and logs -------------------------------------------------- */

static void
we_cli_graph_saved_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  WeCli *self = user_data;
  g_autoptr(GError) error = NULL;

  if (!g_file_replace_contents_finish (G_FILE (source), res, NULL, &error)) {
    g_autoptr(GError) local = g_error_new (WE_CLI_ERROR, WE_CLI_ERROR_LOCAL, "%s: %s",
                                           self->graph_file, error->message);
    we_cli_fail (self, local);
    return;
  }
  /* in --json mode stdout carries JSON only */
  if (self->json)
    g_printerr (_("saved %s\n"), self->graph_file);
  else
    g_print (_("saved %s\n"), self->graph_file);
  we_cli_quit (self, EXIT_SUCCESS);
}

static void
we_cli_graph_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  WeCli *self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) graph = NULL;
  g_autoptr(GFile) file = NULL;

  graph = we_cli_backend_fetch_finish (WE_CLI_BACKEND (source), res, NULL, &error);
  if (graph == NULL) {
    g_prefix_error (&error, _("fetching the graph: "));
    we_cli_fail (self, error);
    return;
  }
  file = g_file_new_for_commandline_arg (self->graph_file);
  g_file_replace_contents_bytes_async (file, graph, NULL, FALSE, G_FILE_CREATE_NONE,
                                       self->cancellable, we_cli_graph_saved_cb, self);
}

static void
print_pipeline (WeCli *self, JsonObject *doc, JsonArray *pipelines)
{
  print_field (_("job"), we_cli_json_get_string (doc, "job_id"));
  print_field (_("task"), we_cli_json_get_string (doc, "task_id"));
  for (guint i = 0; pipelines != NULL && i < json_array_get_length (pipelines); i++) {
    JsonObject *p = we_cli_json_object (json_array_get_element (pipelines, i));
    const gchar *stage = we_cli_json_get_string (p, "stage");
    const gchar *command = we_cli_json_get_string (p, "command");
    g_autofree gchar *shown_stage = NULL;
    g_autofree gchar *shown = NULL;

    if (p == NULL || (self->stage != NULL && g_strcmp0 (stage, self->stage) != 0))
      continue;
    /* a comment line, so the output pastes into a shell as it is */
    shown_stage = we_cli_sanitize (stage);
    g_print ("\n# %s %s\n", _("stage"), shown_stage);
    shown = we_cli_sanitize (command != NULL ? command : we_cli_json_get_string (p, "launch"));
    g_print ("%s\n", shown);
  }
}

static void
we_cli_pipeline_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  WeCli *self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) node = NULL;
  g_autoptr(GBytes) raw = NULL;
  JsonObject *doc;
  JsonArray *pipelines;
  const gchar *task_id;
  gboolean found = self->stage == NULL;

  node = we_cli_backend_call_finish (WE_CLI_BACKEND (source), res, &raw, &error);
  if (node == NULL) {
    we_cli_fail (self, error);
    return;
  }
  if ((doc = we_cli_expect_object (self, node)) == NULL)
    return;
  pipelines = we_cli_json_get_array (doc, "pipelines");
  for (guint i = 0; !found && pipelines != NULL && i < json_array_get_length (pipelines); i++) {
    JsonObject *p = we_cli_json_object (json_array_get_element (pipelines, i));
    found = g_strcmp0 (we_cli_json_get_string (p, "stage"), self->stage) == 0;
  }
  if (!found) {
    g_autoptr(GError) local = g_error_new (WE_CLI_ERROR, WE_CLI_ERROR_USAGE,
                                           _("the task has no stage “%s”"), self->stage);
    we_cli_fail (self, local);
    return;
  }
  if (self->json)
    we_cli_print_raw (raw);
  else
    print_pipeline (self, doc, pipelines);

  task_id = we_cli_json_get_string (doc, "task_id");
  if (self->graph_file != NULL && task_id != NULL) {
    /* the task the document names, so both requests show the same one */
    const gchar *args[] = { self->args[0], task_id, self->stage ? self->stage : "",
                            g_str_has_suffix (self->graph_file, ".dot") ? "dot" : "svg", NULL };
    we_cli_backend_fetch_async (self->backend, WE_CLI_FETCH_GRAPH, args, self->cancellable,
                                we_cli_graph_cb, self);
    return;
  }
  we_cli_quit (self, EXIT_SUCCESS);
}

static void
cmd_pipeline (WeCli *self)
{
  const gchar *args[] = { self->args[0], self->args[1] != NULL ? self->args[1] : "", NULL };

  we_cli_backend_call_async (self->backend, WE_CLI_OP_PIPELINE, args, NULL, self->cancellable,
                             we_cli_pipeline_cb, self);
}

static void
we_cli_logs_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  WeCli *self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) logs = NULL;
  g_autofree gchar *content_type = NULL;
  g_autofree gchar *text = NULL;
  g_auto(GStrv) lines = NULL;
  gsize size = 0;
  const gchar *data;

  logs = we_cli_backend_fetch_finish (WE_CLI_BACKEND (source), res, &content_type, &error);
  if (logs == NULL) {
    we_cli_fail (self, error);
    return;
  }
  if (self->json && g_strcmp0 (content_type, "application/json") == 0) {
    we_cli_print_raw (logs);
    we_cli_quit (self, EXIT_SUCCESS);
    return;
  }
  /* a debug log is text; line by line, so it keeps its lines but no escapes */
  data = g_bytes_get_data (logs, &size);
  text = g_strndup (data, size);
  lines = g_strsplit (text, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++) {
    g_autofree gchar *shown = NULL;

    if (lines[i + 1] == NULL && *lines[i] == '\0')
      break;
    shown = we_cli_sanitize (g_strchomp (lines[i]));
    g_print ("%s\n", shown);
  }
  we_cli_quit (self, EXIT_SUCCESS);
}

static void
cmd_logs (WeCli *self)
{
  we_cli_backend_fetch_async (self->backend, WE_CLI_FETCH_LOGS, (const gchar *const *) self->args,
                              self->cancellable, we_cli_logs_cb, self);
}

static const WeCliCommand commands[] = {
  { "submit",   N_("FILE|URL"), N_("Submit a local file (uploaded first) or a URL"), 1, 1, cmd_submit },
  { "status",   N_("JOB"),      N_("Show a job"),                                 1, 1, cmd_status },
  { "list",     "",             N_("List jobs, newest first"),                     0, 0, cmd_list },
  { "cancel",   N_("JOB"),      N_("Cancel a job"),                               1, 1, cmd_cancel },
  { "retry",    N_("JOB"),      N_("Run a job again as a new job; prints its id"), 1, 1, cmd_retry },
  { "delete",   N_("JOB"),      N_("Delete a job, its records and its outputs"),  1, 1, cmd_delete },
  { "outputs",  N_("JOB"),      N_("List a job's outputs, or download them"),     1, 1, cmd_outputs },
  { "profiles", "",             N_("List the encoding profiles"),                 0, 0, cmd_profiles },
  { "health",   "",             N_("Show whether the service is up"),             0, 0, cmd_health },
  { "pipeline", N_("JOB [TASK]"), N_("Show the gst-launch-1.0 command of each stage of a task"), 1, 2, cmd_pipeline },
  { "logs",     N_("JOB TASK"), N_("Show a task's GStreamer debug log (REST only)"), 2, 2, cmd_logs },
};

/* ---- command line ------------------------------------------------------- */

static gboolean
we_cli_on_signal (gpointer user_data)
{
  WeCli *self = user_data;

  if (self->progress != NULL)
    we_cli_progress_finish (self->progress);
  /* a second Ctrl-C does not wait for anything */
  if (self->interrupted) {
    we_cli_quit (self, EXIT_INTERRUPTED);
    return G_SOURCE_CONTINUE;
  }
  self->interrupted = TRUE;
  if (self->job_id != NULL && self->wait) {
    g_autofree gchar *shown = we_cli_sanitize (self->job_id);
    g_printerr (_("webencode: interrupted; job %s keeps running "
                  "(stop it with: webencode cancel %s)\n"), shown, shown);
  }
  /* requests in flight end with G_IO_ERROR_CANCELLED and quit from their
   * callbacks, after removing any half-written download */
  g_cancellable_cancel (self->cancellable);
  return G_SOURCE_CONTINUE;
}

static const WeCliCommand *
find_command (const gchar *name)
{
  for (guint i = 0; i < G_N_ELEMENTS (commands); i++) {
    if (g_strcmp0 (commands[i].name, name) == 0)
      return &commands[i];
  }
  return NULL;
}

/* The first argument that is neither an option nor an option's value. */
static const gchar *
peek_command_name (guint argc, gchar **argv)
{
  static const gchar *with_value[] = {
    "--url", "--user", "--password", "--profile", "-p", "--override", "-o",
    "--download", "-d", "--status", "-s", "--limit", "-n", "--offset", "--stage", "--graph",
    NULL,
  };

  for (guint i = 1; i < argc; i++) {
    if (g_strcmp0 (argv[i], "--") == 0)
      return i + 1 < argc ? argv[i + 1] : NULL;
    if (argv[i][0] != '-')
      return argv[i];
    if (g_strv_contains (with_value, argv[i]))
      i++;
  }
  return NULL;
}

static gchar *
commands_summary (void)
{
  g_autoptr(GString) str = g_string_new (_("Commands:"));

  for (guint i = 0; i < G_N_ELEMENTS (commands); i++) {
    g_autofree gchar *usage = g_strdup_printf ("%s %s", commands[i].name,
                                               commands[i].params[0] ? _(commands[i].params) : "");
    g_string_append_printf (str, "\n  %-20s %s", usage, _(commands[i].summary));
  }
  g_string_append (str, "\n\n");
  g_string_append (str, _("Run “webencode COMMAND --help” for a command's options."));
  return g_string_free (g_steal_pointer (&str), FALSE);
}

static gboolean
we_cli_parse (WeCli *self, gchar ***argv, GError **error)
{
  const GOptionEntry global_entries[] = {
    { "url", 0, 0, G_OPTION_ARG_STRING, &self->url,
      N_("The service's REST API (default: $WEBENCODE_URL or " WE_CLI_DEFAULT_URL "); implies --rest"),
      N_("URL") },
    { "dbus", 0, 0, G_OPTION_ARG_NONE, &self->use_dbus,
      N_("Talk to the service over D-Bus"), NULL },
    { "rest", 0, 0, G_OPTION_ARG_NONE, &self->use_rest,
      N_("Talk to the service over its REST API"), NULL },
    { "session", 0, 0, G_OPTION_ARG_NONE, &self->session_bus,
      N_("D-Bus: only the session bus"), NULL },
    { "system", 0, 0, G_OPTION_ARG_NONE, &self->system_bus,
      N_("D-Bus: only the system bus"), NULL },
    { "user", 0, 0, G_OPTION_ARG_STRING, &self->user,
      N_("User for HTTP Basic auth (default: $WEBENCODE_USER)"), N_("USER") },
    { "password", 0, 0, G_OPTION_ARG_STRING, &self->password,
      N_("Password (prefer $WEBENCODE_PASSWORD: options show in ps)"), N_("PASSWORD") },
    { "json", 0, 0, G_OPTION_ARG_NONE, &self->json,
      N_("Print the API's JSON instead of tables"), NULL },
    { "version", 0, 0, G_OPTION_ARG_NONE, &self->version, N_("Show the version"), NULL },
    { NULL }
  };
  const GOptionEntry submit_entries[] = {
    { "profile", 'p', 0, G_OPTION_ARG_STRING, &self->profile,
      N_("Encoding profile (required)"), N_("PROFILE") },
    { "override", 'o', 0, G_OPTION_ARG_STRING_ARRAY, &self->overrides,
      N_("Change a profile field for this job, e.g. video_bitrate_kbps=1800 (repeatable)"),
      N_("KEY=VALUE") },
    { "wait", 'w', 0, G_OPTION_ARG_NONE, &self->wait,
      N_("Wait for the job to finish, showing its progress"), NULL },
    { "download", 'd', 0, G_OPTION_ARG_FILENAME, &self->download_dir,
      N_("Download the outputs into DIR when done (implies --wait)"), N_("DIR") },
    { NULL }
  };
  const GOptionEntry list_entries[] = {
    { "status", 's', 0, G_OPTION_ARG_STRING, &self->status_filter,
      N_("Only jobs in these states (comma-separated)"), N_("STATUS") },
    { "limit", 'n', 0, G_OPTION_ARG_INT, &self->limit, N_("At most N jobs (default 50)"), N_("N") },
    { "offset", 0, 0, G_OPTION_ARG_INT, &self->offset, N_("Skip the first N jobs"), N_("N") },
    { NULL }
  };
  const GOptionEntry pipeline_entries[] = {
    { "stage", 0, 0, G_OPTION_ARG_STRING, &self->stage,
      N_("Only this stage of the task"), N_("STAGE") },
    { "graph", 0, 0, G_OPTION_ARG_FILENAME, &self->graph_file,
      N_("Save the pipeline's graph as FILE (SVG, or Graphviz dot if FILE ends in .dot)"),
      N_("FILE") },
    { NULL }
  };
  const GOptionEntry outputs_entries[] = {
    { "download", 'd', 0, G_OPTION_ARG_FILENAME, &self->download_dir,
      N_("Download the outputs into DIR"), N_("DIR") },
    { NULL }
  };
  const gchar *name = peek_command_name (g_strv_length (*argv), *argv);
  g_autoptr(GOptionContext) context = NULL;
  g_autofree gchar *params = NULL;
  g_autoptr(GError) local = NULL;
  guint nargs;

  self->command = find_command (name);
  if (self->command != NULL) {
    params = g_strdup_printf ("%s %s", self->command->name, _(self->command->params));
    context = g_option_context_new (params);
    g_option_context_set_summary (context, _(self->command->summary));
  } else {
    g_autofree gchar *summary = commands_summary ();
    context = g_option_context_new (_("COMMAND [ARGS…]"));
    g_option_context_set_summary (context, summary);
  }
  g_option_context_set_description (context,
      _("Transport: D-Bus when org.webencode.WebEncode1 is on the session bus (or can be\n"
        "started there), else on the system bus; REST otherwise. --dbus, --rest, --url or\n"
        "$WEBENCODE_TRANSPORT (dbus or rest) choose; --session or --system pick the bus.\n"
        "Commands and output are the same either way.\n\n"
        "Exit status: 0 success, 1 the job failed or was cancelled, 2 an error,\n"
        "3 the service could not be reached."));
  g_option_context_set_translation_domain (context, GETTEXT_PACKAGE);
  g_option_context_add_main_entries (context, global_entries, GETTEXT_PACKAGE);
  if (self->command != NULL && self->command->run == cmd_submit)
    g_option_context_add_main_entries (context, submit_entries, GETTEXT_PACKAGE);
  else if (self->command != NULL && self->command->run == cmd_list)
    g_option_context_add_main_entries (context, list_entries, GETTEXT_PACKAGE);
  else if (self->command != NULL && self->command->run == cmd_outputs)
    g_option_context_add_main_entries (context, outputs_entries, GETTEXT_PACKAGE);
  else if (self->command != NULL && self->command->run == cmd_pipeline)
    g_option_context_add_main_entries (context, pipeline_entries, GETTEXT_PACKAGE);

  /* the strv variant frees the arguments it consumes */
  if (!g_option_context_parse_strv (context, argv, &local)) {
    g_set_error_literal (error, WE_CLI_ERROR, WE_CLI_ERROR_USAGE, local->message);
    return FALSE;
  }
  if (self->version)
    return TRUE;
  if (self->command == NULL) {
    if (name == NULL)
      g_set_error_literal (error, WE_CLI_ERROR, WE_CLI_ERROR_USAGE,
                           _("no command given; see webencode --help"));
    else
      g_set_error (error, WE_CLI_ERROR, WE_CLI_ERROR_USAGE,
                   _("unknown command “%s”; see webencode --help"), name);
    return FALSE;
  }

  /* what is left: argv[0], the command, its arguments */
  nargs = g_strv_length (*argv) >= 2 ? g_strv_length (*argv) - 2 : 0;
  if (nargs < self->command->min_args || nargs > self->command->max_args) {
    g_set_error (error, WE_CLI_ERROR, WE_CLI_ERROR_USAGE, _("usage: webencode %s"), params);
    return FALSE;
  }
  self->args = g_new0 (gchar *, nargs + 1);
  for (guint i = 0; i < nargs; i++)
    self->args[i] = g_strdup ((*argv)[i + 2]);
  if (self->limit < -1 || self->offset < -1) {
    g_set_error_literal (error, WE_CLI_ERROR, WE_CLI_ERROR_USAGE,
                         _("--limit and --offset take a number ≥ 0"));
    return FALSE;
  }
  return TRUE;
}

static gchar *
env_or (const gchar *name, const gchar *def)
{
  const gchar *v = g_getenv (name);
  return g_strdup (v != NULL && *v != '\0' ? v : def);
}

static void
we_cli_use_rest (WeCli *self, GError **error)
{
  g_autoptr(WeCliClient) client = NULL;

  if (self->url == NULL)
    self->url = env_or ("WEBENCODE_URL", WE_CLI_DEFAULT_URL);
  if (self->user == NULL)
    self->user = env_or ("WEBENCODE_USER", NULL);
  if (self->password == NULL)
    self->password = env_or ("WEBENCODE_PASSWORD", NULL);
  client = we_cli_client_new (self->url, self->user, self->password, error);
  if (client != NULL)
    self->backend = WE_CLI_BACKEND (we_cli_rest_new (client));
}

static GBusType
we_cli_bus_type (WeCli *self)
{
  return self->system_bus ? G_BUS_TYPE_SYSTEM : G_BUS_TYPE_SESSION;
}

static void
we_cli_bus_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  WeCli *self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GDBusConnection) bus = g_bus_get_finish (res, &error);

  if (bus == NULL) {
    g_autoptr(GError) local = g_error_new (WE_CLI_ERROR, WE_CLI_ERROR_CONNECT,
                                           _("cannot reach the %s bus: %s"),
                                           self->system_bus ? "system" : "session",
                                           error->message);
    we_cli_fail (self, local);
    return;
  }
  self->backend = WE_CLI_BACKEND (we_cli_dbus_new (bus, we_cli_bus_type (self)));
  self->command->run (self);
}

static void
we_cli_probed_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  WeCli *self = user_data;
  g_autoptr(GDBusConnection) bus = we_cli_dbus_probe_finish (res, NULL);
  g_autoptr(GError) error = NULL;

  if (g_cancellable_is_cancelled (self->cancellable)) {
    we_cli_quit (self, EXIT_INTERRUPTED);
    return;
  }
  if (bus != NULL) {
    GBusType type = self->system_bus || self->probing_system ? G_BUS_TYPE_SYSTEM
                                                             : G_BUS_TYPE_SESSION;
    self->backend = WE_CLI_BACKEND (we_cli_dbus_new (bus, type));
    self->command->run (self);
    return;
  }
  /* the session bus had no service: the system bus next (unless one was chosen) */
  if (!self->session_bus && !self->system_bus && !self->probing_system) {
    self->probing_system = TRUE;
    we_cli_dbus_probe_async (G_BUS_TYPE_SYSTEM, self->cancellable, we_cli_probed_cb, self);
    return;
  }
  we_cli_use_rest (self, &error);
  if (self->backend == NULL) {
    we_cli_fail (self, error);
    return;
  }
  self->command->run (self);
}

/* Starts the command once the transport is known: a bus given or found, or
 * REST. */
static void
we_cli_find_service (WeCli *self)
{
  if (self->use_dbus) {
    g_bus_get (we_cli_bus_type (self), self->cancellable, we_cli_bus_cb, self);
    return;
  }
  we_cli_dbus_probe_async (self->system_bus ? G_BUS_TYPE_SYSTEM : G_BUS_TYPE_SESSION,
                           self->cancellable, we_cli_probed_cb, self);
}

/* The options and $WEBENCODE_TRANSPORT decide; REST is set up at once, a
 * bus (given or to be found) by we_cli_find_service() on the main loop. */
static gboolean
we_cli_choose_transport (WeCli *self, GError **error)
{
  const gchar *transport = g_getenv ("WEBENCODE_TRANSPORT");

  if (self->use_dbus && (self->use_rest || self->url != NULL)) {
    g_set_error_literal (error, WE_CLI_ERROR, WE_CLI_ERROR_USAGE,
                         _("--dbus cannot be combined with --rest or --url"));
    return FALSE;
  }
  if (self->system_bus && self->session_bus) {
    g_set_error_literal (error, WE_CLI_ERROR, WE_CLI_ERROR_USAGE,
                         _("--system and --session exclude each other"));
    return FALSE;
  }
  if (self->url != NULL)
    self->use_rest = TRUE;
  if (!self->use_dbus && !self->use_rest && transport != NULL && *transport != '\0') {
    if (g_ascii_strcasecmp (transport, "dbus") == 0) {
      self->use_dbus = TRUE;
    } else if (g_ascii_strcasecmp (transport, "rest") == 0) {
      self->use_rest = TRUE;
    } else if (g_ascii_strcasecmp (transport, "auto") != 0) {
      g_set_error (error, WE_CLI_ERROR, WE_CLI_ERROR_USAGE,
                   _("WEBENCODE_TRANSPORT must be dbus, rest or auto, not “%s”"), transport);
      return FALSE;
    }
  }
  if (self->use_rest) {
    we_cli_use_rest (self, error);
    return self->backend != NULL;
  }
  return TRUE;
}

int
main (int argc, char **argv)
{
  g_autoptr(WeCli) self = g_new0 (WeCli, 1);
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) args = NULL;

  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE, WE_LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);

  self->limit = -1;
  self->offset = -1;
  self->loop = g_main_loop_new (NULL, FALSE);
  self->cancellable = g_cancellable_new ();

  args = g_strdupv (argv);
  if (!we_cli_parse (self, &args, &error)) {
    g_printerr ("webencode: %s\n", error->message);
    return EXIT_ERROR;
  }
  if (self->version) {
    g_print ("webencode %s\n", PACKAGE_VERSION);
    return EXIT_SUCCESS;
  }

  if (!we_cli_choose_transport (self, &error)) {
    g_printerr ("webencode: %s\n", error->message);
    return EXIT_ERROR;
  }

  g_unix_signal_add (SIGINT, we_cli_on_signal, self);
  g_unix_signal_add (SIGTERM, we_cli_on_signal, self);

  if (self->backend != NULL)
    self->command->run (self);
  else
    we_cli_find_service (self);
  /* a command may have finished (or failed) before the loop ever ran */
  if (!self->done)
    g_main_loop_run (self->loop);
  return self->exit_status;
}
