/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Calls are made with g_dbus_connection_call() and the method names of the
 * committed XML rather than through gdbus-codegen's proxy: every result is
 * turned into JSON generically (json_gvariant_serialize), so a generated
 * proxy would add nothing but a build dependency on the service's tree.
 */
#include "config.h"

#include "we-cli-dbus.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gi18n.h>
#include <gio/gunixfdlist.h>
#include <gio/gunixinputstream.h>
#include <glib/gstdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <webencode/we-error.h>

#include "we-cli-output.h"

#define WE_CLI_DBUS_ERROR_PREFIX WE_CLI_DBUS_NAME ".Error."
/* a service that is gone mid-wait has this long to come back (a restart) */
#define WE_CLI_DBUS_VANISHED_MS  10000
/* ordinary calls answer at once; a minute covers a busy store */
#define WE_CLI_DBUS_TIMEOUT_MS   60000

struct _WeCliDbus {
  GObject          parent_instance;
  GDBusConnection *bus;
  GBusType         bus_type;
};

static void we_cli_dbus_backend_init (WeCliBackendInterface *iface);

G_DEFINE_TYPE_WITH_CODE (WeCliDbus, we_cli_dbus, G_TYPE_OBJECT,
                         G_IMPLEMENT_INTERFACE (WE_TYPE_CLI_BACKEND, we_cli_dbus_backend_init))

static void
we_cli_dbus_finalize (GObject *object)
{
  g_clear_object (&WE_CLI_DBUS (object)->bus);
  G_OBJECT_CLASS (we_cli_dbus_parent_class)->finalize (object);
}

static void
we_cli_dbus_class_init (WeCliDbusClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = we_cli_dbus_finalize;
}

static void
we_cli_dbus_init (WeCliDbus *self)
{
}

WeCliDbus *
we_cli_dbus_new (GDBusConnection *bus, GBusType bus_type)
{
  WeCliDbus *self = g_object_new (WE_TYPE_CLI_DBUS, NULL);

  self->bus = g_object_ref (bus);
  self->bus_type = bus_type;
  return self;
}

static const gchar *
bus_label (GBusType type)
{
  return type == G_BUS_TYPE_SYSTEM ? _("the system bus") : _("the session bus");
}

static gchar *
we_cli_dbus_describe (WeCliBackend *backend)
{
  WeCliDbus *self = WE_CLI_DBUS (backend);

  return g_strdup_printf ("dbus:%s (%s)", self->bus_type == G_BUS_TYPE_SYSTEM ? "system" : "session",
                          WE_CLI_DBUS_NAME);
}

/* A D-Bus error as the REST client words an envelope: "<code>: <message>:
 * <details>", so both transports print the same line. */
static GError *
we_cli_dbus_error (WeCliDbus *self, GError *error)
{
  g_autofree gchar *remote = NULL;
  g_autofree gchar *code = NULL;
  WeErrorCode we_code;

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return g_error_copy (error);
  remote = g_dbus_error_get_remote_error (error);
  if (remote != NULL && g_str_has_prefix (remote, WE_CLI_DBUS_ERROR_PREFIX)) {
    code = g_strdelimit (g_strdup (remote + strlen (WE_CLI_DBUS_ERROR_PREFIX)), "_", '-');
  } else if (error->domain == WE_ERROR) {
    /* a name the SDK registered for its domain was mapped back on the way in */
    code = g_strdup (we_error_code_to_string ((WeErrorCode) error->code));
  }
  g_dbus_error_strip_remote_error (error);
  if (code != NULL) {
    const gchar *title = we_error_code_from_string (code, &we_code)
                           ? we_error_code_message (we_code) : NULL;
    if (title != NULL && !g_str_has_prefix (error->message, title) && *error->message != '\0')
      return g_error_new (WE_CLI_ERROR, WE_CLI_ERROR_API, "%s: %s: %s", code, title,
                          error->message);
    return g_error_new (WE_CLI_ERROR, WE_CLI_ERROR_API, "%s: %s", code,
                        *error->message != '\0' ? error->message : title ? title : "error");
  }
  if (g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_SERVICE_UNKNOWN) ||
      g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_NAME_HAS_NO_OWNER) ||
      g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_NO_REPLY) ||
      g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_SPAWN_FAILED) ||
      g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_SPAWN_CHILD_EXITED) ||
      g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CLOSED))
    return g_error_new (WE_CLI_ERROR, WE_CLI_ERROR_CONNECT,
                        _("cannot reach webencoded on %s (%s): %s"), bus_label (self->bus_type),
                        WE_CLI_DBUS_NAME, error->message);
  if (g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_METHOD) ||
      g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_OBJECT) ||
      g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_INTERFACE) ||
      g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS))
    return g_error_new (WE_CLI_ERROR, WE_CLI_ERROR_PROTOCOL,
                        _("the service's D-Bus API does not match this client: %s"),
                        error->message);
  return g_error_new (WE_CLI_ERROR, WE_CLI_ERROR_API, "%s", error->message);
}

static const gchar *
arg (const gchar *const *args, guint i)
{
  for (guint j = 0; j <= i; j++)
    if (args == NULL || args[j] == NULL)
      return "";
  return args[i];
}

/* The JSON of a D-Bus value, as the REST API would have sent it. */
static JsonNode *
to_json (GVariant *value)
{
  return json_gvariant_serialize (value);
}

static GBytes *
json_text (JsonNode *node)
{
  gchar *text;

  if (JSON_NODE_HOLDS_NULL (node))
    return g_bytes_new (NULL, 0);
  text = json_to_string (node, FALSE);
  return g_bytes_new_take (text, strlen (text));
}

static JsonNode *
object_node (JsonObject *obj)
{
  JsonNode *node = json_node_new (JSON_NODE_OBJECT);

  json_node_take_object (node, obj);
  return node;
}

/* ---- call --------------------------------------------------------------- */

typedef struct {
  WeCliOp    op;
  gchar     *arg0;
  JsonNode  *params;
  JsonNode  *job;     /* OUTPUTS: the job, for its status */
} Call;

static void
call_free (Call *c)
{
  g_free (c->arg0);
  g_clear_pointer (&c->params, json_node_unref);
  g_clear_pointer (&c->job, json_node_unref);
  g_free (c);
}

static void call_done_cb (GObject *source, GAsyncResult *res, gpointer user_data);

static void
dbus_call (WeCliDbus *self, const gchar *method, GVariant *params, GTask *task)
{
  g_dbus_connection_call (self->bus, WE_CLI_DBUS_NAME, WE_CLI_DBUS_PATH, WE_CLI_DBUS_INTERFACE,
                          method, params, NULL, G_DBUS_CALL_FLAGS_NONE, WE_CLI_DBUS_TIMEOUT_MS,
                          g_task_get_cancellable (task), call_done_cb, task);
}

static void
return_node (GTask *task, JsonNode *node)
{
  g_autoptr(GBytes) raw = json_text (node);

  we_cli_task_return_json (task, node, raw);
}

static void
call_done_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(GTask) task = G_TASK (user_data);
  WeCliDbus *self = g_task_get_source_object (task);
  Call *c = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  JsonObject *obj;

  reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), res, &error);
  if (reply == NULL) {
    g_task_return_error (task, we_cli_dbus_error (self, error));
    return;
  }
  switch (c->op) {
  case WE_CLI_OP_HEALTH:
  case WE_CLI_OP_JOB:
  case WE_CLI_OP_CANCEL:
  case WE_CLI_OP_PIPELINE: {
    g_autoptr(GVariant) dict = g_variant_get_child_value (reply, 0);
    return_node (task, to_json (dict));
    return;
  }
  case WE_CLI_OP_PROFILES:
  case WE_CLI_OP_PROFILE: {
    g_autoptr(GVariant) list = g_variant_get_child_value (reply, 0);
    JsonNode *array = to_json (list);

    if (c->op == WE_CLI_OP_PROFILES) {
      obj = json_object_new ();
      json_object_set_member (obj, "profiles", array);
      return_node (task, object_node (obj));
      return;
    }
    /* no GetProfile method: the listing has them all */
    for (guint i = 0; i < json_array_get_length (json_node_get_array (array)); i++) {
      JsonNode *p = json_array_get_element (json_node_get_array (array), i);
      if (g_strcmp0 (we_cli_json_get_string (we_cli_json_object (p), "id"), c->arg0) == 0) {
        return_node (task, json_node_copy (p));
        json_node_unref (array);
        return;
      }
    }
    json_node_unref (array);
    g_task_return_new_error (task, WE_CLI_ERROR, WE_CLI_ERROR_API,
                             "WE-JOB-003: %s: %s \"%s\"", we_error_code_message (WE_ERROR_JOB_INVALID_PROFILE),
                             _("unknown profile"), c->arg0);
    return;
  }
  case WE_CLI_OP_JOBS: {
    g_autoptr(GVariant) list = g_variant_get_child_value (reply, 0);
    JsonObject *filter = we_cli_json_object (c->params);
    gint64 total = 0;
    gdouble limit = 50, offset = 0;

    g_variant_get_child (reply, 1, "x", &total);
    we_cli_json_get_number (filter, "limit", &limit);
    we_cli_json_get_number (filter, "offset", &offset);
    obj = json_object_new ();
    json_object_set_member (obj, "jobs", to_json (list));
    json_object_set_int_member (obj, "total", total);
    json_object_set_int_member (obj, "limit", (gint64) limit);
    json_object_set_int_member (obj, "offset", (gint64) offset);
    return_node (task, object_node (obj));
    return;
  }
  case WE_CLI_OP_SUBMIT:
  case WE_CLI_OP_RETRY: {
    /* REST answers with the new job; D-Bus with its id: ask for the job */
    const gchar *id = NULL;

    g_variant_get_child (reply, 1, "&s", &id);
    c->op = WE_CLI_OP_JOB;
    dbus_call (self, "GetJob", g_variant_new ("(s)", id), g_steal_pointer (&task));
    return;
  }
  case WE_CLI_OP_DELETE:
    we_cli_task_return_json (task, json_node_new (JSON_NODE_NULL), NULL);
    return;
  case WE_CLI_OP_OUTPUTS:
    if (c->job == NULL) {
      g_autoptr(GVariant) dict = g_variant_get_child_value (reply, 0);
      c->job = to_json (dict);
      dbus_call (self, "ListOutputs", g_variant_new ("(s)", c->arg0), g_steal_pointer (&task));
      return;
    } else {
      g_autoptr(GVariant) list = g_variant_get_child_value (reply, 0);
      JsonObject *job = we_cli_json_object (c->job);
      const gchar *id = we_cli_json_get_string (job, "id");
      const gchar *status = we_cli_json_get_string (job, "status");

      obj = json_object_new ();
      json_object_set_string_member (obj, "job_id", id ? id : c->arg0);
      if (status != NULL)
        json_object_set_string_member (obj, "status", status);
      json_object_set_member (obj, "outputs", to_json (list));
      return_node (task, object_node (obj));
      return;
    }
  default:
    g_assert_not_reached ();
  }
}

static void
we_cli_dbus_call_async (WeCliBackend *backend, WeCliOp op, const gchar *const *args,
                        JsonNode *params, GCancellable *cancellable,
                        GAsyncReadyCallback callback, gpointer user_data)
{
  WeCliDbus *self = WE_CLI_DBUS (backend);
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
  Call *c = g_new0 (Call, 1);

  g_task_set_source_tag (task, we_cli_dbus_call_async);
  c->op = op;
  c->arg0 = g_strdup (arg (args, 0));
  c->params = params != NULL ? json_node_ref (params) : NULL;
  g_task_set_task_data (task, c, (GDestroyNotify) call_free);

  switch (op) {
  case WE_CLI_OP_HEALTH:
    dbus_call (self, "GetHealth", NULL, g_steal_pointer (&task));
    return;
  case WE_CLI_OP_PROFILES:
  case WE_CLI_OP_PROFILE:
    dbus_call (self, "ListProfiles", NULL, g_steal_pointer (&task));
    return;
  case WE_CLI_OP_JOBS: {
    JsonObject *filter = we_cli_json_object (params);
    const gchar *status = we_cli_json_get_string (filter, "status");
    GVariantBuilder b;
    gdouble n;

    g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
    if (status != NULL)
      g_variant_builder_add (&b, "{sv}", "status", g_variant_new_string (status));
    if (we_cli_json_get_number (filter, "limit", &n))
      g_variant_builder_add (&b, "{sv}", "limit", g_variant_new_int64 ((gint64) n));
    if (we_cli_json_get_number (filter, "offset", &n))
      g_variant_builder_add (&b, "{sv}", "offset", g_variant_new_int64 ((gint64) n));
    dbus_call (self, "ListJobs", g_variant_new ("(a{sv})", &b), g_steal_pointer (&task));
    return;
  }
  case WE_CLI_OP_JOB:
  case WE_CLI_OP_OUTPUTS:
    dbus_call (self, "GetJob", g_variant_new ("(s)", c->arg0), g_steal_pointer (&task));
    return;
  case WE_CLI_OP_SUBMIT: {
    g_autoptr(GError) error = NULL;
    GVariant *request = json_gvariant_deserialize (params, "a{sv}", &error);

    if (request == NULL) {
      g_task_return_new_error (task, WE_CLI_ERROR, WE_CLI_ERROR_USAGE, "%s", error->message);
      return;
    }
    dbus_call (self, "SubmitJob", g_variant_new_tuple (&request, 1), g_steal_pointer (&task));
    return;
  }
  case WE_CLI_OP_CANCEL:
    dbus_call (self, "CancelJob", g_variant_new ("(s)", c->arg0), g_steal_pointer (&task));
    return;
  case WE_CLI_OP_RETRY:
    dbus_call (self, "RetryJob", g_variant_new ("(s)", c->arg0), g_steal_pointer (&task));
    return;
  case WE_CLI_OP_DELETE:
    dbus_call (self, "DeleteJob", g_variant_new ("(s)", c->arg0), g_steal_pointer (&task));
    return;
  case WE_CLI_OP_PIPELINE:
    dbus_call (self, "GetTaskPipeline", g_variant_new ("(ss)", c->arg0, arg (args, 1)),
               g_steal_pointer (&task));
    return;
  default:
    g_assert_not_reached ();
  }
}

static JsonNode *
we_cli_dbus_call_finish (WeCliBackend *backend, GAsyncResult *res, GBytes **raw,
                         GError **error)
{
  g_return_val_if_fail (g_task_is_valid (res, backend), NULL);
  return we_cli_task_propagate_json (G_TASK (res), raw, error);
}

/* ---- fetch -------------------------------------------------------------- */

typedef struct {
  GBytes *body;
  gchar  *content_type;
} Fetched;

static void
fetched_free (Fetched *f)
{
  g_clear_pointer (&f->body, g_bytes_unref);
  g_free (f->content_type);
  g_free (f);
}

static void
graph_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(GTask) task = G_TASK (user_data);
  WeCliDbus *self = g_task_get_source_object (task);
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) bytes = NULL;
  Fetched *f;

  reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), res, &error);
  if (reply == NULL) {
    g_task_return_error (task, we_cli_dbus_error (self, error));
    return;
  }
  f = g_new0 (Fetched, 1);
  g_variant_get_child (reply, 0, "s", &f->content_type);
  bytes = g_variant_get_child_value (reply, 1);
  f->body = g_variant_get_data_as_bytes (bytes);
  g_task_return_pointer (task, f, (GDestroyNotify) fetched_free);
}

static void
we_cli_dbus_fetch_async (WeCliBackend *backend, WeCliFetch what, const gchar *const *args,
                         GCancellable *cancellable, GAsyncReadyCallback callback,
                         gpointer user_data)
{
  WeCliDbus *self = WE_CLI_DBUS (backend);
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);

  g_task_set_source_tag (task, we_cli_dbus_fetch_async);
  if (what == WE_CLI_FETCH_LOGS) {
    /* the D-Bus API has no logs method: the REST API serves them */
    g_task_return_new_error (task, WE_CLI_ERROR, WE_CLI_ERROR_USAGE,
                             _("task logs are not available over D-Bus; use --rest "
                               "(with --url if the service is not at the default address)"));
    return;
  }
  g_dbus_connection_call (self->bus, WE_CLI_DBUS_NAME, WE_CLI_DBUS_PATH, WE_CLI_DBUS_INTERFACE,
                          "GetTaskPipelineGraph",
                          g_variant_new ("(ssss)", arg (args, 0), arg (args, 1), arg (args, 2),
                                         arg (args, 3)),
                          G_VARIANT_TYPE ("(say)"), G_DBUS_CALL_FLAGS_NONE,
                          WE_CLI_DBUS_TIMEOUT_MS, cancellable, graph_cb,
                          g_steal_pointer (&task));
}

static GBytes *
we_cli_dbus_fetch_finish (WeCliBackend *backend, GAsyncResult *res, gchar **content_type,
                          GError **error)
{
  Fetched *f;
  GBytes *body;

  g_return_val_if_fail (g_task_is_valid (res, backend), NULL);
  f = g_task_propagate_pointer (G_TASK (res), error);
  if (f == NULL)
    return NULL;
  body = g_steal_pointer (&f->body);
  if (content_type != NULL)
    *content_type = g_steal_pointer (&f->content_type);
  fetched_free (f);
  return body;
}

/* ---- upload ------------------------------------------------------------- */

typedef struct {
  gint               fd;
  guint64            size;
  guint              timer_id;
  WeCliTransferFunc  progress;
  gpointer           progress_data;
} Upload;

static void
upload_free (Upload *u)
{
  g_clear_handle_id (&u->timer_id, g_source_remove);
  if (u->fd >= 0)
    g_close (u->fd, NULL);
  g_free (u);
}

/* The service reads from a duplicate of our descriptor: one open file
 * description, one offset, so where it has read to is where ours points. */
static gboolean
upload_tick_cb (gpointer user_data)
{
  Upload *u = user_data;
  off_t pos = lseek (u->fd, 0, SEEK_CUR);

  if (pos >= 0)
    u->progress ((guint64) pos, u->size, u->progress_data);
  return G_SOURCE_CONTINUE;
}

static void
uploaded_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(GTask) task = G_TASK (user_data);
  WeCliDbus *self = g_task_get_source_object (task);
  Upload *u = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) dict = NULL;

  g_clear_handle_id (&u->timer_id, g_source_remove);
  reply = g_dbus_connection_call_with_unix_fd_list_finish (G_DBUS_CONNECTION (source), NULL,
                                                           res, &error);
  if (reply == NULL) {
    g_task_return_error (task, we_cli_dbus_error (self, error));
    return;
  }
  if (u->progress != NULL)
    u->progress (u->size, u->size, u->progress_data);
  dict = g_variant_get_child_value (reply, 0);
  we_cli_task_return_json (task, to_json (dict), NULL);
}

static void
we_cli_dbus_upload_async (WeCliBackend *backend, GFile *file, WeCliTransferFunc progress,
                          gpointer progress_data, GCancellable *cancellable,
                          GAsyncReadyCallback callback, gpointer user_data)
{
  WeCliDbus *self = WE_CLI_DBUS (backend);
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
  g_autoptr(GUnixFDList) fds = g_unix_fd_list_new ();
  g_autoptr(GError) error = NULL;
  g_autofree gchar *path = g_file_get_path (file);
  g_autofree gchar *name = g_file_get_parse_name (file);
  g_autofree gchar *basename = g_file_get_basename (file);
  Upload *u = g_new0 (Upload, 1);
  struct stat st;
  gint idx;

  g_task_set_source_tag (task, we_cli_dbus_upload_async);
  u->fd = -1;
  u->progress = progress;
  u->progress_data = progress_data;
  g_task_set_task_data (task, u, (GDestroyNotify) upload_free);

  /* a local file opens at once: no need to go async for it */
  u->fd = path != NULL ? g_open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY, 0) : -1;
  if (u->fd < 0) {
    g_task_return_new_error (task, WE_CLI_ERROR, WE_CLI_ERROR_LOCAL, "%s: %s", name,
                             g_strerror (errno));
    return;
  }
  if (fstat (u->fd, &st) != 0 || !S_ISREG (st.st_mode)) {
    g_task_return_new_error (task, WE_CLI_ERROR, WE_CLI_ERROR_LOCAL,
                             _("%s: not a regular file"), name);
    return;
  }
  u->size = (guint64) st.st_size;
  idx = g_unix_fd_list_append (fds, u->fd, &error);
  if (idx < 0) {
    g_task_return_new_error (task, WE_CLI_ERROR, WE_CLI_ERROR_LOCAL, "%s: %s", name,
                             error->message);
    return;
  }
  if (progress != NULL)
    u->timer_id = g_timeout_add (250, upload_tick_cb, u);
  /* the service reads the whole file before it answers: no timeout */
  g_dbus_connection_call_with_unix_fd_list (self->bus, WE_CLI_DBUS_NAME, WE_CLI_DBUS_PATH,
                                            WE_CLI_DBUS_INTERFACE, "UploadSource",
                                            g_variant_new ("(hs)", idx, basename),
                                            G_VARIANT_TYPE ("(a{sv})"), G_DBUS_CALL_FLAGS_NONE,
                                            G_MAXINT, fds, cancellable, uploaded_cb,
                                            g_steal_pointer (&task));
}

static JsonNode *
we_cli_dbus_upload_finish (WeCliBackend *backend, GAsyncResult *res, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (res, backend), NULL);
  return we_cli_task_propagate_json (G_TASK (res), NULL, error);
}

/* ---- download ----------------------------------------------------------- */

typedef struct {
  GFile             *dest;
  guint64            total;
  WeCliTransferFunc  progress;
  gpointer           progress_data;
} Download;

static void
download_free (Download *d)
{
  g_clear_object (&d->dest);
  g_free (d);
}

static void
download_saved_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(GTask) task = G_TASK (user_data);
  g_autoptr(GError) error = NULL;
  gint64 written = we_cli_save_stream_finish (res, &error);

  if (written < 0) {
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }
  g_task_return_int (task, written);
}

static void
download_opened_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(GTask) task = G_TASK (user_data);
  /* read before the task is handed on: arguments are evaluated in any order */
  GCancellable *cancellable = g_task_get_cancellable (task);
  WeCliDbus *self = g_task_get_source_object (task);
  Download *d = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  g_autoptr(GUnixFDList) fds = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GInputStream) in = NULL;
  gint32 idx = -1;
  gint fd;

  reply = g_dbus_connection_call_with_unix_fd_list_finish (G_DBUS_CONNECTION (source), &fds,
                                                           res, &error);
  if (reply == NULL) {
    g_task_return_error (task, we_cli_dbus_error (self, error));
    return;
  }
  g_variant_get (reply, "(h)", &idx);
  fd = fds != NULL ? g_unix_fd_list_get (fds, idx, &error) : -1;
  if (fd < 0) {
    g_task_return_new_error (task, WE_CLI_ERROR, WE_CLI_ERROR_PROTOCOL,
                             _("the service sent no file descriptor for the output"));
    return;
  }
  in = g_unix_input_stream_new (fd, TRUE);
  we_cli_save_stream_async (in, d->dest, d->total, d->progress, d->progress_data, cancellable,
                            download_saved_cb, g_steal_pointer (&task));
}

static void
we_cli_dbus_download_async (WeCliBackend *backend, const gchar *job_id, JsonObject *output,
                            GFile *dest, WeCliTransferFunc progress, gpointer progress_data,
                            GCancellable *cancellable, GAsyncReadyCallback callback,
                            gpointer user_data)
{
  WeCliDbus *self = WE_CLI_DBUS (backend);
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
  const gchar *name = we_cli_json_get_string (output, "name");
  Download *d = g_new0 (Download, 1);
  gdouble size;

  g_task_set_source_tag (task, we_cli_dbus_download_async);
  d->dest = g_object_ref (dest);
  d->progress = progress;
  d->progress_data = progress_data;
  if (we_cli_json_get_number (output, "size_bytes", &size) && size > 0)
    d->total = (guint64) size;
  g_task_set_task_data (task, d, (GDestroyNotify) download_free);
  g_dbus_connection_call_with_unix_fd_list (self->bus, WE_CLI_DBUS_NAME, WE_CLI_DBUS_PATH,
                                            WE_CLI_DBUS_INTERFACE, "OpenOutput",
                                            g_variant_new ("(ss)", job_id, name ? name : ""),
                                            G_VARIANT_TYPE ("(h)"), G_DBUS_CALL_FLAGS_NONE,
                                            WE_CLI_DBUS_TIMEOUT_MS, NULL, cancellable,
                                            download_opened_cb, g_steal_pointer (&task));
}

static gint64
we_cli_dbus_download_finish (WeCliBackend *backend, GAsyncResult *res, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (res, backend), -1);
  return g_task_propagate_int (G_TASK (res), error);
}

/* ---- watch: the service's signals --------------------------------------- */

typedef struct {
  WeCliDbus    *self;
  GTask        *task;        /* owned until the watch ends */
  gchar        *job_id;
  WeCliJobFunc  update;
  gpointer      update_data;
  guint         state_sub;
  guint         progress_sub;
  guint         name_watch;
  guint         vanished_id;
  gulong        cancelled_id;
  gboolean      refreshing;  /* a GetJob is in flight */
  gboolean      again;       /* a signal came meanwhile: ask once more */
  gboolean      ended;
} Watch;

/* Reference-counted: the task holds one, and so does each GetJob in flight,
 * which may outlive the task after a Ctrl-C. */
static void
watch_clear (gpointer data)
{
  Watch *w = data;

  g_clear_object (&w->self);
  g_free (w->job_id);
}

static void
watch_unref (gpointer data)
{
  g_rc_box_release_full (data, watch_clear);
}

/* Ends the watch with @job (its final state) or @error. */
static void
watch_end (Watch *w, JsonNode *job, GError *error)
{
  g_autoptr(GTask) task = g_steal_pointer (&w->task);

  if (w->ended)
    return;
  w->ended = TRUE;
  if (w->state_sub != 0)
    g_dbus_connection_signal_unsubscribe (w->self->bus, w->state_sub);
  if (w->progress_sub != 0)
    g_dbus_connection_signal_unsubscribe (w->self->bus, w->progress_sub);
  g_clear_handle_id (&w->name_watch, g_bus_unwatch_name);
  g_clear_handle_id (&w->vanished_id, g_source_remove);
  if (w->cancelled_id != 0)
    g_cancellable_disconnect (g_task_get_cancellable (task), w->cancelled_id);
  if (job != NULL) {
    g_autoptr(GBytes) raw = json_text (job);
    we_cli_task_return_json (task, job, raw);
  } else {
    g_task_return_error (task, error);
  }
}

static void watch_refresh (Watch *w);

static void
watch_job_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  Watch *w = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) node = NULL;
  JsonObject *job;
  const gchar *status;

  node = we_cli_backend_call_finish (WE_CLI_BACKEND (source), res, NULL, &error);
  w->refreshing = FALSE;
  if (w->ended) {
    watch_unref (w);
    return;
  }
  if (node == NULL) {
    watch_end (w, NULL, g_steal_pointer (&error));
    watch_unref (w);
    return;
  }
  job = we_cli_json_object (node);
  status = we_cli_json_get_string (job, "status");
  if (status == NULL) {
    watch_end (w, NULL, g_error_new_literal (WE_CLI_ERROR, WE_CLI_ERROR_PROTOCOL,
                                             _("the service sent a job without a status")));
  } else {
    w->update (job, w->update_data);
    if (we_cli_job_status_is_final (status)) {
      watch_end (w, g_steal_pointer (&node), NULL);
    } else if (w->again) {
      w->again = FALSE;
      watch_refresh (w);
    }
  }
  watch_unref (w);
}

/* One GetJob at a time: its answer is the whole job (fps, speed, ETA) the
 * progress display shows, the same as a REST poll gets. */
static void
watch_refresh (Watch *w)
{
  const gchar *args[] = { w->job_id, NULL };

  if (w->ended)
    return;
  if (w->refreshing) {
    w->again = TRUE;
    return;
  }
  w->refreshing = TRUE;
  we_cli_backend_call_async (WE_CLI_BACKEND (w->self), WE_CLI_OP_JOB, args, NULL,
                             g_task_get_cancellable (w->task), watch_job_cb,
                             g_rc_box_acquire (w));
}

static void
watch_signal_cb (GDBusConnection *bus, const gchar *sender, const gchar *path,
                 const gchar *iface, const gchar *signal, GVariant *params, gpointer user_data)
{
  Watch *w = user_data;
  g_autoptr(GVariant) job_id = NULL;

  /* both signals carry the job's id second */
  if (w->ended || g_variant_n_children (params) < 2)
    return;
  job_id = g_variant_get_child_value (params, 1);
  if (g_variant_is_of_type (job_id, G_VARIANT_TYPE_STRING) &&
      g_strcmp0 (g_variant_get_string (job_id, NULL), w->job_id) == 0)
    watch_refresh (w);
}

static gboolean
watch_vanished_timeout_cb (gpointer user_data)
{
  Watch *w = user_data;

  w->vanished_id = 0;
  watch_end (w, NULL, g_error_new (WE_CLI_ERROR, WE_CLI_ERROR_CONNECT,
                                   _("webencoded left %s (%s) and did not come back"),
                                   bus_label (w->self->bus_type), WE_CLI_DBUS_NAME));
  return G_SOURCE_REMOVE;
}

static void
watch_name_appeared_cb (GDBusConnection *bus, const gchar *name, const gchar *owner,
                        gpointer user_data)
{
  Watch *w = user_data;

  /* back after a restart: what happened meanwhile was not signalled to us */
  if (w->vanished_id != 0) {
    g_clear_handle_id (&w->vanished_id, g_source_remove);
    watch_refresh (w);
  }
}

static void
watch_name_vanished_cb (GDBusConnection *bus, const gchar *name, gpointer user_data)
{
  Watch *w = user_data;

  if (w->vanished_id == 0 && !w->ended)
    w->vanished_id = g_timeout_add (WE_CLI_DBUS_VANISHED_MS, watch_vanished_timeout_cb, w);
}

/* Ctrl-C: ends the wait at once; a GetJob in flight ends on its own. */
static void
watch_cancelled_cb (GCancellable *cancellable, gpointer user_data)
{
  Watch *w = user_data;
  GError *error = NULL;

  /* disconnecting from inside the handler would deadlock */
  w->cancelled_id = 0;
  g_cancellable_set_error_if_cancelled (cancellable, &error);
  watch_end (w, NULL, error);
}

static void
we_cli_dbus_watch_async (WeCliBackend *backend, const gchar *job_id, WeCliJobFunc update,
                         gpointer update_data, GCancellable *cancellable,
                         GAsyncReadyCallback callback, gpointer user_data)
{
  WeCliDbus *self = WE_CLI_DBUS (backend);
  Watch *w = g_rc_box_new0 (Watch);

  w->task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (w->task, we_cli_dbus_watch_async);
  w->self = g_object_ref (self);
  w->job_id = g_strdup (job_id);
  w->update = update;
  w->update_data = update_data;
  g_task_set_task_data (w->task, w, watch_unref);

  /* subscribed before the first GetJob goes out on the same connection, so
   * no change between the two is missed */
  w->state_sub = g_dbus_connection_signal_subscribe (self->bus, WE_CLI_DBUS_NAME,
                                                     WE_CLI_DBUS_INTERFACE, "JobStateChanged",
                                                     WE_CLI_DBUS_PATH, NULL,
                                                     G_DBUS_SIGNAL_FLAGS_NONE, watch_signal_cb,
                                                     w, NULL);
  w->progress_sub = g_dbus_connection_signal_subscribe (self->bus, WE_CLI_DBUS_NAME,
                                                        WE_CLI_DBUS_INTERFACE, "JobProgress",
                                                        WE_CLI_DBUS_PATH, NULL,
                                                        G_DBUS_SIGNAL_FLAGS_NONE,
                                                        watch_signal_cb, w, NULL);
  w->name_watch = g_bus_watch_name_on_connection (self->bus, WE_CLI_DBUS_NAME,
                                                  G_BUS_NAME_WATCHER_FLAGS_NONE,
                                                  watch_name_appeared_cb, watch_name_vanished_cb,
                                                  w, NULL);
  if (cancellable != NULL)
    w->cancelled_id = g_cancellable_connect (cancellable, G_CALLBACK (watch_cancelled_cb), w,
                                             NULL);
  if (!w->ended)
    watch_refresh (w);
}

static JsonNode *
we_cli_dbus_watch_finish (WeCliBackend *backend, GAsyncResult *res, GBytes **raw,
                          GError **error)
{
  g_return_val_if_fail (g_task_is_valid (res, backend), NULL);
  return we_cli_task_propagate_json (G_TASK (res), raw, error);
}

static void
we_cli_dbus_backend_init (WeCliBackendInterface *iface)
{
  iface->describe = we_cli_dbus_describe;
  iface->call_async = we_cli_dbus_call_async;
  iface->call_finish = we_cli_dbus_call_finish;
  iface->fetch_async = we_cli_dbus_fetch_async;
  iface->fetch_finish = we_cli_dbus_fetch_finish;
  iface->upload_async = we_cli_dbus_upload_async;
  iface->upload_finish = we_cli_dbus_upload_finish;
  iface->download_async = we_cli_dbus_download_async;
  iface->download_finish = we_cli_dbus_download_finish;
  iface->watch_async = we_cli_dbus_watch_async;
  iface->watch_finish = we_cli_dbus_watch_finish;
}

/* ---- probe -------------------------------------------------------------- */

static void
probe_activatable_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(GTask) task = G_TASK (user_data);
  g_autoptr(GVariant) reply = NULL;
  g_autofree const gchar **names = NULL;

  reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), res, NULL);
  if (reply != NULL) {
    g_variant_get (reply, "(^a&s)", &names);
    if (g_strv_contains (names, WE_CLI_DBUS_NAME)) {
      g_task_return_pointer (task, g_object_ref (source), g_object_unref);
      return;
    }
  }
  g_task_return_pointer (task, NULL, NULL);
}

static void
probe_owner_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(GTask) task = G_TASK (user_data);
  GCancellable *cancellable = g_task_get_cancellable (task);
  g_autoptr(GVariant) reply = NULL;
  gboolean has_owner = FALSE;

  reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), res, NULL);
  if (reply != NULL)
    g_variant_get (reply, "(b)", &has_owner);
  if (has_owner) {
    g_task_return_pointer (task, g_object_ref (source), g_object_unref);
    return;
  }
  g_dbus_connection_call (G_DBUS_CONNECTION (source), "org.freedesktop.DBus",
                          "/org/freedesktop/DBus", "org.freedesktop.DBus",
                          "ListActivatableNames", NULL, G_VARIANT_TYPE ("(as)"),
                          G_DBUS_CALL_FLAGS_NONE, 5000, cancellable, probe_activatable_cb,
                          g_steal_pointer (&task));
}

static void
probe_bus_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(GTask) task = G_TASK (user_data);
  GCancellable *cancellable = g_task_get_cancellable (task);
  g_autoptr(GDBusConnection) bus = g_bus_get_finish (res, NULL);

  /* no such bus (a container, a CI job) just means: not over D-Bus */
  if (bus == NULL) {
    g_task_return_pointer (task, NULL, NULL);
    return;
  }
  g_dbus_connection_call (bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                          "org.freedesktop.DBus", "NameHasOwner",
                          g_variant_new ("(s)", WE_CLI_DBUS_NAME), G_VARIANT_TYPE ("(b)"),
                          G_DBUS_CALL_FLAGS_NONE, 5000, cancellable, probe_owner_cb,
                          g_steal_pointer (&task));
}

void
we_cli_dbus_probe_async (GBusType bus_type, GCancellable *cancellable,
                         GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new (NULL, cancellable, callback, user_data);

  g_task_set_source_tag (task, we_cli_dbus_probe_async);
  g_bus_get (bus_type, cancellable, probe_bus_cb, task);
}

GDBusConnection *
we_cli_dbus_probe_finish (GAsyncResult *res, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (res, NULL), NULL);
  return g_task_propagate_pointer (G_TASK (res), error);
}
