/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The web dashboard's built files, served by the API server itself (issue 9):
 * every GET/HEAD outside the API (/v1/..., /health) lands here. Paths are
 * resolved and files opened in a thread, then streamed chunk by chunk like
 * downloads (the next read starts when libsoup wrote the previous chunk), so
 * the main loop never waits on the disk.
 *
 * Caching: Vite names the files under assets/ after their content, so those
 * may be kept forever; everything else (index.html above all, which names
 * the current assets) is revalidated on every use through its ETag.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "common/we-config.h"
#include "common/we-log.h"
#include "we-api-handlers.h"
#include "we-api-private.h"

#define CHUNK_SIZE (64 * 1024)

/* The dashboard needs its own origin, WebSocket updates and blob: media
 * previews; nothing may frame it (clickjacking of admin actions). */
#define CSP "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data: blob:; " \
            "media-src 'self' blob:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'"

static const gchar not_built_page[] =
  "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>WebEncode</title></head>\n"
  "<body><h1>WebEncode</h1><p>The web dashboard is not built or not installed. "
  "Build it with <code>npm ci --prefix web &amp;&amp; npm run --prefix web build</code>, "
  "or point <code>[api] web_dir</code> (<code>WE_WEB_DIR</code>) at a built copy. "
  "The REST API under <code>/v1/</code> works without it.</p></body></html>\n";

typedef enum {
  STATIC_FILE,
  STATIC_NOT_FOUND,
  STATIC_NOT_BUILT,
} StaticKind;

typedef struct {
  SoupServerMessage *msg;
  gchar             *request_id;
  gchar             *root;
  gchar             *path;          /* decoded, from the URI */
  gboolean           head;
  gboolean           accept_gzip;
  gboolean           accept_br;
  /* filled by the thread */
  StaticKind         kind;
  gchar             *rel;           /* the file served, relative to the root */
  gchar             *encoding;      /* "gzip", "br" or NULL */
  gboolean           has_variants;  /* precompressed siblings exist: Vary */
  GInputStream      *in;
  goffset            size;
  gint64             mtime;         /* unix seconds */
  gchar             *etag;
  /* streaming */
  goffset            remaining;
  GCancellable      *cancellable;
  gboolean           reading;
  gboolean           done;
} Static;

static void
static_free (Static *s)
{
  if (s->msg != NULL)
    g_signal_handlers_disconnect_by_data (s->msg, s);
  g_clear_object (&s->msg);
  g_free (s->request_id);
  g_free (s->root);
  g_free (s->path);
  g_free (s->rel);
  g_free (s->encoding);
  g_clear_object (&s->in);
  g_free (s->etag);
  g_clear_object (&s->cancellable);
  g_free (s);
}

gboolean
we_api_static_is_web_path (const gchar *path)
{
  return !(g_str_equal (path, "/health") || g_str_equal (path, "/v1") ||
           g_str_has_prefix (path, "/v1/"));
}

static const gchar *
content_type_for (const gchar *name)
{
  static const struct { const gchar *ext, *type; } types[] = {
    { ".html", "text/html; charset=utf-8" },
    { ".js", "text/javascript; charset=utf-8" },
    { ".mjs", "text/javascript; charset=utf-8" },
    { ".css", "text/css; charset=utf-8" },
    { ".json", "application/json" },
    { ".map", "application/json" },
    { ".webmanifest", "application/manifest+json" },
    { ".svg", "image/svg+xml" },
    { ".png", "image/png" },
    { ".jpg", "image/jpeg" },
    { ".jpeg", "image/jpeg" },
    { ".gif", "image/gif" },
    { ".webp", "image/webp" },
    { ".avif", "image/avif" },
    { ".ico", "image/x-icon" },
    { ".woff", "font/woff" },
    { ".woff2", "font/woff2" },
    { ".ttf", "font/ttf" },
    { ".wasm", "application/wasm" },
    { ".txt", "text/plain; charset=utf-8" },
  };
  const gchar *dot = strrchr (name, '.');

  for (guint i = 0; dot != NULL && i < G_N_ELEMENTS (types); i++) {
    if (g_ascii_strcasecmp (dot, types[i].ext) == 0)
      return types[i].type;
  }
  /* nosniff is set: an unknown type must not be guessed into HTML */
  return "application/octet-stream";
}

/* "assets/index-B2x_9kQa.js": Vite's content hash before the extension. */
static gboolean
is_hashed_asset (const gchar *rel)
{
  g_autofree gchar *base = NULL;
  gchar *dot, *sep;
  gboolean upper = FALSE, digit = FALSE;
  gsize n = 0;

  if (!g_str_has_prefix (rel, "assets/"))
    return FALSE;
  base = g_path_get_basename (rel);
  dot = strrchr (base, '.');
  if (dot == NULL)
    return FALSE;
  *dot = '\0';
  sep = MAX (strrchr (base, '-'), strrchr (base, '.'));
  if (sep == NULL)
    return FALSE;
  for (const gchar *p = sep + 1; *p; p++, n++) {
    if (!g_ascii_isalnum (*p) && *p != '_')
      return FALSE;
    upper |= g_ascii_isupper (*p);
    digit |= g_ascii_isdigit (*p);
  }
  return n >= 8 && (upper || digit);
}

static gboolean
has_extension (const gchar *path)
{
  const gchar *last = strrchr (path, '/');

  return strchr (last != NULL ? last : path, '.') != NULL;
}

/* The real path of @rel under @root_real when it is a regular file that
 * stays inside the root once every symlink is followed. */
static gchar *
resolve_inside (const gchar *root_real, const gchar *rel, struct stat *st)
{
  g_autofree gchar *joined = g_build_filename (root_real, rel, NULL);
  g_autofree gchar *real = realpath (joined, NULL);

  if (real == NULL)
    return NULL;
  if (!g_str_has_prefix (real, root_real) || real[strlen (root_real)] != '/')
    return NULL;
  if (stat (real, st) != 0 || !S_ISREG (st->st_mode))
    return NULL;
  return g_steal_pointer (&real);
}

static void
resolve_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  Static *s = task_data;
  g_autofree gchar *root_real = realpath (s->root, NULL);
  g_auto(GStrv) segments = g_strsplit (s->path, "/", -1);
  g_autoptr(GString) rel = g_string_new (NULL);
  g_autofree gchar *real = NULL;
  g_autofree gchar *variant = NULL;
  struct stat st, vst;
  GError *error = NULL;
  GFile *file;

  if (root_real == NULL) {
    s->kind = STATIC_NOT_BUILT;
    g_task_return_boolean (task, TRUE);
    return;
  }
  for (guint i = 0; segments[i] != NULL; i++) {
    if (*segments[i] == '\0')
      continue;
    /* "..", ".", and hidden files (.env, .git) are never the dashboard's;
     * libsoup decoded %2e%2e already, so this sees the real name */
    if (segments[i][0] == '.' || strchr (segments[i], '\\') != NULL) {
      s->kind = STATIC_NOT_FOUND;
      g_task_return_boolean (task, TRUE);
      return;
    }
    if (rel->len > 0)
      g_string_append_c (rel, '/');
    g_string_append (rel, segments[i]);
  }
  if (rel->len > 0)
    real = resolve_inside (root_real, rel->str, &st);
  if (real == NULL) {
    /* client-side routes (/jobs/42) get the app; a missing file does not */
    if (rel->len > 0 && has_extension (rel->str)) {
      s->kind = STATIC_NOT_FOUND;
      g_task_return_boolean (task, TRUE);
      return;
    }
    g_string_assign (rel, "index.html");
    real = resolve_inside (root_real, rel->str, &st);
    if (real == NULL) {
      s->kind = STATIC_NOT_BUILT;
      g_task_return_boolean (task, TRUE);
      return;
    }
  }
  s->kind = STATIC_FILE;
  s->rel = g_strdup (rel->str);

  /* a precompressed sibling, when it is as new as the file */
  for (guint i = 0; i < 2 && variant == NULL; i++) {
    const gchar *enc = i == 0 ? "br" : "gzip";
    g_autofree gchar *vrel = g_strconcat (rel->str, i == 0 ? ".br" : ".gz", NULL);
    g_autofree gchar *vreal = resolve_inside (root_real, vrel, &vst);

    if (vreal == NULL || vst.st_mtime < st.st_mtime)
      continue;
    s->has_variants = TRUE;
    if (i == 0 ? s->accept_br : s->accept_gzip) {
      variant = g_steal_pointer (&vreal);
      s->encoding = g_strdup (enc);
      st = vst;
    }
  }
  s->size = st.st_size;
  s->mtime = st.st_mtime;
  s->etag = g_strdup_printf ("\"%" G_GINT64_MODIFIER "x-%" G_GINT64_MODIFIER "x%s%s\"",
                             (gint64) st.st_size,
                             (gint64) st.st_mtim.tv_sec * G_USEC_PER_SEC +
                               st.st_mtim.tv_nsec / 1000,
                             s->encoding ? "-" : "", s->encoding ? s->encoding : "");
  if (!s->head) {
    file = g_file_new_for_path (variant != NULL ? variant : real);
    s->in = G_INPUT_STREAM (g_file_read (file, cancellable, &error));
    g_object_unref (file);
    if (s->in == NULL) {
      g_task_return_error (task, error);
      return;
    }
  }
  g_task_return_boolean (task, TRUE);
}

static void read_next (Static *s);

static void
read_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Static *s = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) bytes = g_input_stream_read_bytes_finish (G_INPUT_STREAM (source), result,
                                                              &error);
  SoupMessageBody *body;

  s->reading = FALSE;
  if (s->done) {
    static_free (s);
    return;
  }
  body = soup_server_message_get_response_body (s->msg);
  if (bytes == NULL || g_bytes_get_size (bytes) == 0) {
    /* the headers are gone already; a short body is how the client learns */
    if (s->remaining > 0)
      we_log (G_LOG_LEVEL_WARNING, s->request_id, NULL, "reading %s stopped early: %s",
              s->rel, error ? error->message : "the file shrank");
    soup_message_body_complete (body);
    soup_server_message_unpause (s->msg);
    return;
  }
  s->remaining -= (goffset) g_bytes_get_size (bytes);
  soup_message_body_append_bytes (body, bytes);
  if (s->remaining <= 0)
    soup_message_body_complete (body);
  soup_server_message_unpause (s->msg);
}

static void
read_next (Static *s)
{
  if (s->reading || s->remaining <= 0)
    return;
  s->reading = TRUE;
  g_input_stream_read_bytes_async (s->in, (gsize) MIN (CHUNK_SIZE, s->remaining),
                                   G_PRIORITY_DEFAULT, s->cancellable, read_cb, s);
}

static void
on_wrote_chunk (SoupServerMessage *msg, Static *s)
{
  read_next (s);
}

static void
on_finished (SoupServerMessage *msg, Static *s)
{
  g_cancellable_cancel (s->cancellable);
  g_signal_handlers_disconnect_by_data (msg, s);
  g_clear_object (&s->msg);
  s->done = TRUE;
  if (!s->reading)
    static_free (s);
}

static gboolean
etag_matches (const gchar *if_none_match, const gchar *etag)
{
  g_auto(GStrv) tags = NULL;

  if (if_none_match == NULL)
    return FALSE;
  tags = g_strsplit (if_none_match, ",", -1);
  for (guint i = 0; tags[i] != NULL; i++) {
    const gchar *t = g_strstrip (tags[i]);

    if (g_str_has_prefix (t, "W/"))
      t += 2;
    if (g_str_equal (t, "*") || g_str_equal (t, etag))
      return TRUE;
  }
  return FALSE;
}

static void
set_html_headers (SoupMessageHeaders *h)
{
  soup_message_headers_replace (h, "Content-Security-Policy", CSP);
  soup_message_headers_replace (h, "Referrer-Policy", "same-origin");
  soup_message_headers_replace (h, "X-Frame-Options", "DENY");
}

static void
resolved_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Static *s = user_data;
  g_autoptr(GError) error = NULL;
  SoupMessageHeaders *req = soup_server_message_get_request_headers (s->msg);
  SoupMessageHeaders *h = soup_server_message_get_response_headers (s->msg);
  const gchar *type;
  const gchar *if_none_match;
  g_autoptr(GDateTime) modified = NULL;
  g_autofree gchar *last_modified = NULL;

  soup_message_headers_replace (h, "X-Content-Type-Options", "nosniff");
  if (!g_task_propagate_boolean (G_TASK (result), &error)) {
    we_log (G_LOG_LEVEL_WARNING, s->request_id, NULL, "serving %s: %s", s->path,
            error->message);
    g_clear_error (&error);
    error = g_error_new (WE_ERROR, WE_ERROR_SYS_INTERNAL, "the file could not be read");
    we_api_message_set_error (s->msg, error, s->request_id);
    soup_server_message_unpause (s->msg);
    static_free (s);
    return;
  }
  if (s->kind == STATIC_NOT_FOUND) {
    error = g_error_new (WE_ERROR, WE_ERROR_SYS_NOT_FOUND, "no file %s", s->path);
    we_api_message_set_error (s->msg, error, s->request_id);
    soup_server_message_unpause (s->msg);
    static_free (s);
    return;
  }
  if (s->kind == STATIC_NOT_BUILT) {
    /* 503: the server is fine but has nothing to show here yet */
    set_html_headers (h);
    soup_message_headers_replace (h, "Cache-Control", "no-store");
    soup_server_message_set_status (s->msg, SOUP_STATUS_SERVICE_UNAVAILABLE, NULL);
    soup_server_message_set_response (s->msg, "text/html; charset=utf-8", SOUP_MEMORY_STATIC,
                                      not_built_page, strlen (not_built_page));
    soup_server_message_unpause (s->msg);
    static_free (s);
    return;
  }

  type = content_type_for (s->rel);
  if (g_str_has_prefix (type, "text/html"))
    set_html_headers (h);
  soup_message_headers_replace (h, "ETag", s->etag);
  modified = g_date_time_new_from_unix_utc (s->mtime);
  last_modified = soup_date_time_to_string (modified, SOUP_DATE_HTTP);
  soup_message_headers_replace (h, "Last-Modified", last_modified);
  soup_message_headers_replace (h, "Cache-Control",
                                is_hashed_asset (s->rel) ? "public, max-age=31536000, immutable"
                                                         : "no-cache");
  if (s->has_variants)
    soup_message_headers_replace (h, "Vary", "Accept-Encoding");

  if_none_match = soup_message_headers_get_one (req, "If-None-Match");
  if (etag_matches (if_none_match, s->etag)) {
    soup_server_message_set_status (s->msg, SOUP_STATUS_NOT_MODIFIED, NULL);
    soup_server_message_unpause (s->msg);
    static_free (s);
    return;
  }
  if (if_none_match == NULL) {
    const gchar *since = soup_message_headers_get_one (req, "If-Modified-Since");
    g_autoptr(GDateTime) since_dt = since ? soup_date_time_new_from_http_string (since) : NULL;

    if (since_dt != NULL && g_date_time_to_unix (since_dt) >= s->mtime) {
      soup_server_message_set_status (s->msg, SOUP_STATUS_NOT_MODIFIED, NULL);
      soup_server_message_unpause (s->msg);
      static_free (s);
      return;
    }
  }

  soup_message_headers_replace (h, "Content-Type", type);
  if (s->encoding != NULL)
    soup_message_headers_replace (h, "Content-Encoding", s->encoding);
  soup_message_headers_set_content_length (h, s->size);
  soup_server_message_set_status (s->msg, SOUP_STATUS_OK, NULL);
  if (s->head || s->size == 0) {
    soup_message_body_complete (soup_server_message_get_response_body (s->msg));
    soup_server_message_unpause (s->msg);
    static_free (s);
    return;
  }
  s->remaining = s->size;
  soup_message_body_set_accumulate (soup_server_message_get_response_body (s->msg), FALSE);
  g_signal_connect (s->msg, "wrote-chunk", G_CALLBACK (on_wrote_chunk), s);
  g_signal_connect (s->msg, "finished", G_CALLBACK (on_finished), s);
  read_next (s);
}

static gboolean
accepts (const gchar *accept_encoding, const gchar *coding)
{
  g_auto(GStrv) parts = NULL;

  if (accept_encoding == NULL)
    return FALSE;
  parts = g_strsplit (accept_encoding, ",", -1);
  for (guint i = 0; parts[i] != NULL; i++) {
    gchar *q = strchr (parts[i], ';');

    if (q != NULL) {
      /* "gzip;q=0" refuses it */
      const gchar *v = strstr (q, "q=");
      if (v != NULL && g_ascii_strtod (v + 2, NULL) <= 0.0)
        continue;
      *q = '\0';
    }
    if (g_ascii_strcasecmp (g_strstrip (parts[i]), coding) == 0)
      return TRUE;
  }
  return FALSE;
}

void
we_api_static_serve (WeApiRequest *request)
{
  const WeApiContext *ctx = we_api_request_context (request);
  SoupServerMessage *msg = request->msg;
  const gchar *raw = g_uri_get_path (soup_server_message_get_uri (msg));
  const gchar *ae = soup_message_headers_get_one (soup_server_message_get_request_headers (msg),
                                                  "Accept-Encoding");
  /* decoded here (not by libsoup's path argument) so a %00 is refused
   * instead of cutting the name short */
  g_autofree gchar *path = g_uri_unescape_string (raw, NULL);
  g_autoptr(GTask) task = NULL;
  Static *s;

  if (path == NULL || path[0] != '/') {
    g_autoptr(GError) error = g_error_new (WE_ERROR, WE_ERROR_SYS_NOT_FOUND, "no such file");
    we_api_request_respond_error (request, error);
    return;
  }
  s = g_new0 (Static, 1);
  s->request_id = g_strdup (request->request_id);
  s->root = g_strdup (we_config_get_web_dir (ctx->config));
  s->path = g_steal_pointer (&path);
  s->head = g_str_equal (soup_server_message_get_method (msg), "HEAD");
  s->accept_gzip = accepts (ae, "gzip");
  s->accept_br = accepts (ae, "br");
  s->cancellable = g_cancellable_new ();
  s->msg = we_api_request_steal_message (request);
  task = g_task_new (NULL, s->cancellable, resolved_cb, s);
  g_task_set_source_tag (task, we_api_static_serve);
  g_task_set_task_data (task, s, NULL);
  g_task_run_in_thread (task, resolve_thread);
}
