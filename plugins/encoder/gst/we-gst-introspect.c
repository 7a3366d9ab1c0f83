/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include "we-gst-introspect.h"

#include <string.h>

#define SUBSTITUTE_KEY "we-launch-substitute"

const gchar *
we_gst_pipeline_name (const gchar *task_id)
{
  return task_id != NULL && *task_id != '\0' ? task_id : "webencode";
}

const gchar *
we_gst_cancellable_task_id (GCancellable *cancellable)
{
  const gchar *task_id;

  if (cancellable == NULL)
    return NULL;
  task_id = g_object_get_data (G_OBJECT (cancellable), WE_GST_TASK_ID_KEY);
  return task_id != NULL && *task_id != '\0' ? task_id : NULL;
}

void
we_gst_introspect_set_substitute (GstElement *element, const gchar *description)
{
  g_return_if_fail (GST_IS_ELEMENT (element));

  g_object_set_data_full (G_OBJECT (element), SUBSTITUTE_KEY, g_strdup (description), g_free);
}

/* ---- redaction ---------------------------------------------------------- */

gchar *
we_gst_redact_urls (const gchar *text)
{
  static GRegex *query_re = NULL;
  static GRegex *userinfo_re = NULL;
  g_autofree gchar *step = NULL;

  if (text == NULL)
    return NULL;
  if (g_once_init_enter (&query_re)) {
    GRegex *re = g_regex_new ("([a-zA-Z][a-zA-Z0-9+.-]*://[^\\s\"'\\\\?#]*)\\?[^\\s\"'\\\\#]*",
                              G_REGEX_OPTIMIZE, 0, NULL);
    g_once_init_leave (&query_re, re);
  }
  if (g_once_init_enter (&userinfo_re)) {
    /* a password in the authority: scheme://user:password@host */
    GRegex *re = g_regex_new ("([a-zA-Z][a-zA-Z0-9+.-]*://)[^\\s\"'\\\\/@]+@",
                              G_REGEX_OPTIMIZE, 0, NULL);
    g_once_init_leave (&userinfo_re, re);
  }
  step = g_regex_replace (query_re, text, -1, 0, "\\1?REDACTED", 0, NULL);
  return g_regex_replace (userinfo_re, step, -1, 0, "\\1REDACTED@", 0, NULL);
}

/* Properties that may hold a credential whatever their value looks like. */
static gboolean
property_is_secret (const gchar *name)
{
  return strstr (name, "password") != NULL || strstr (name, "passwd") != NULL ||
         strstr (name, "passphrase") != NULL || strstr (name, "secret") != NULL ||
         strstr (name, "token") != NULL || g_str_has_suffix (name, "-pw") ||
         g_strcmp0 (name, "key") == 0 || g_strcmp0 (name, "cookies") == 0 ||
         g_strcmp0 (name, "extra-headers") == 0;
}

/* ---- values -------------------------------------------------------------- */

/* Quoted for the gst-launch lexer when it holds more than a plain token;
 * gst_parse unescapes backslashes inside the quotes. */
static void
append_value (GString *out, const gchar *value)
{
  gboolean plain = *value != '\0';

  for (const gchar *p = value; *p != '\0' && plain; p++)
    plain = g_ascii_isalnum (*p) || strchr ("_-+.:/%@?", *p) != NULL;
  if (plain) {
    g_string_append (out, value);
    return;
  }
  g_string_append_c (out, '"');
  for (const gchar *p = value; *p != '\0'; p++) {
    if (*p == '"' || *p == '\\')
      g_string_append_c (out, '\\');
    g_string_append_c (out, *p);
  }
  g_string_append_c (out, '"');
}

/* What gst_parse can set back: NULL for objects, pointers and the like. */
static gchar *
serialize_value (const GValue *value)
{
  GType type = G_VALUE_TYPE (value);

  if (G_TYPE_IS_ENUM (type)) {
    GEnumClass *klass = g_type_class_peek (type);
    GEnumValue *ev = klass != NULL ? g_enum_get_value (klass, g_value_get_enum (value)) : NULL;

    return ev != NULL ? g_strdup (ev->value_nick) : g_strdup_printf ("%d", g_value_get_enum (value));
  }
  if (G_TYPE_IS_FLAGS (type)) {
    GFlagsClass *klass = g_type_class_peek (type);
    guint flags = g_value_get_flags (value);
    GString *s = g_string_new (NULL);

    if (klass == NULL)
      return g_string_free (s, TRUE), g_strdup_printf ("0x%x", flags);
    for (guint i = 0; i < klass->n_values; i++) {
      GFlagsValue *fv = &klass->values[i];

      /* a flag covered by one already written (or 0) adds nothing */
      if (fv->value == 0 || (fv->value & flags) != fv->value)
        continue;
      if (s->len > 0)
        g_string_append_c (s, '+');
      g_string_append (s, fv->value_nick);
      flags &= ~fv->value;
    }
    if (s->len == 0) {
      GFlagsValue *none = g_flags_get_first_value (klass, 0);
      g_string_append (s, none != NULL && none->value == 0 ? none->value_nick : "0");
    }
    return g_string_free (s, FALSE);
  }
  if (type == G_TYPE_POINTER || type == G_TYPE_GTYPE || G_TYPE_IS_OBJECT (type) ||
      G_TYPE_IS_INTERFACE (type) || G_TYPE_IS_PARAM (type) || type == G_TYPE_VARIANT)
    return NULL;
  if (G_TYPE_IS_BOXED (type) && type != GST_TYPE_CAPS && type != GST_TYPE_STRUCTURE &&
      type != G_TYPE_STRV && type != GST_TYPE_ARRAY && type != GST_TYPE_LIST &&
      type != G_TYPE_DATE && type != GST_TYPE_DATE_TIME)
    return NULL;
  if (type == GST_TYPE_CAPS && gst_value_get_caps (value) == NULL)
    return NULL;
  if (type == GST_TYPE_STRUCTURE && gst_value_get_structure (value) == NULL)
    return NULL;
  if (type == G_TYPE_STRING) {
    const gchar *s = g_value_get_string (value);
    return s != NULL ? g_strdup (s) : NULL;
  }
  return gst_value_serialize (value);
}

static gboolean
property_is_wanted (GParamSpec *pspec)
{
  if ((pspec->flags & G_PARAM_READWRITE) != G_PARAM_READWRITE)
    return FALSE;
  /* gst_parse sets properties on a built element */
  if (pspec->flags & G_PARAM_CONSTRUCT_ONLY)
    return FALSE;
  return g_strcmp0 (pspec->name, "name") != 0 && g_strcmp0 (pspec->name, "parent") != 0;
}

/* A fresh element of each factory, for the defaults: an element's init may
 * set what its param spec says otherwise. */
static GstElement *
defaults_for (GHashTable *fresh, GstElementFactory *factory, const gchar *suffix)
{
  g_autofree gchar *key = g_strconcat (GST_OBJECT_NAME (factory), suffix, NULL);
  GstElement *element = g_hash_table_lookup (fresh, key);

  if (element == NULL && !g_hash_table_contains (fresh, key)) {
    element = gst_element_factory_create (factory, NULL);
    if (element != NULL)
      gst_object_ref_sink (element);
    g_hash_table_insert (fresh, g_steal_pointer (&key), element);
  }
  return element;
}

static gchar *
fresh_value (GstElement *fresh, GParamSpec *pspec)
{
  g_auto(GValue) value = G_VALUE_INIT;

  if (fresh == NULL || g_object_class_find_property (G_OBJECT_GET_CLASS (fresh),
                                                     pspec->name) == NULL)
    return NULL;
  g_value_init (&value, pspec->value_type);
  g_object_get_property (G_OBJECT (fresh), pspec->name, &value);
  return serialize_value (&value);
}

static void
append_properties (GString *out, GstElement *element, GstElement *fresh, GstElement *twin)
{
  guint n = 0;
  g_autofree GParamSpec **specs =
    g_object_class_list_properties (G_OBJECT_GET_CLASS (element), &n);

  for (guint i = 0; i < n; i++) {
    GParamSpec *pspec = specs[i];
    g_auto(GValue) value = G_VALUE_INIT;
    g_auto(GValue) def = G_VALUE_INIT;
    g_autofree gchar *text = NULL;
    g_autofree gchar *def_text = NULL;

    if (!property_is_wanted (pspec))
      continue;
    g_value_init (&value, pspec->value_type);
    g_object_get_property (G_OBJECT (element), pspec->name, &value);
    text = serialize_value (&value);
    if (text == NULL)
      continue;
    if (fresh != NULL && g_object_class_find_property (G_OBJECT_GET_CLASS (fresh),
                                                       pspec->name) != NULL) {
      g_value_init (&def, pspec->value_type);
      g_object_get_property (G_OBJECT (fresh), pspec->name, &def);
      def_text = serialize_value (&def);
    } else {
      g_value_init (&def, pspec->value_type);
      g_param_value_set_default (pspec, &def);
      def_text = serialize_value (&def);
    }
    if (g_strcmp0 (text, def_text) == 0)
      continue;
    /* a value each new element makes up (mp4mux's faststart-file) is
     * the element's business, not the pipeline's */
    if (twin != NULL) {
      g_autofree gchar *twin_text = fresh_value (twin, pspec);
      if (g_strcmp0 (twin_text, def_text) != 0)
        continue;
    }
    g_string_append_printf (out, " %s=", pspec->name);
    if (property_is_secret (pspec->name)) {
      append_value (out, "REDACTED");
    } else {
      g_autofree gchar *safe = we_gst_redact_urls (text);
      append_value (out, safe);
    }
  }
}

/* ---- the graph ----------------------------------------------------------- */

typedef struct {
  GstElement *pipeline;
  GPtrArray  *elements;   /* top-level children in the order they were added */
  GHashTable *emitted;    /* GstElement* set */
  GHashTable *fresh;      /* factory name → fresh element (or NULL) */
  GString    *out;
} Walk;

static gboolean
pad_is_always (GstPad *pad)
{
  GstPadTemplate *templ = gst_pad_get_pad_template (pad);
  gboolean always = templ != NULL && GST_PAD_TEMPLATE_PRESENCE (templ) == GST_PAD_ALWAYS;

  g_clear_object (&templ);
  return always;
}

/* (transfer full) pads of @element in @dir */
static GPtrArray *
element_pads (GstElement *element, GstPadDirection dir)
{
  GPtrArray *pads = g_ptr_array_new_with_free_func (gst_object_unref);

  GST_OBJECT_LOCK (element);
  for (GList *l = dir == GST_PAD_SRC ? element->srcpads : element->sinkpads; l; l = l->next)
    g_ptr_array_add (pads, gst_object_ref (l->data));
  GST_OBJECT_UNLOCK (element);
  return pads;
}

/* The sibling (a child of the pipeline) on the other side of @pad, and its
 * pad; NULL when unlinked. Returns: (transfer full) (nullable) */
static GstElement *
peer_of (Walk *w, GstPad *pad, GstPad **peer_out)
{
  g_autoptr(GstPad) peer = gst_pad_get_peer (pad);
  GstElement *parent;

  if (peer == NULL)
    return NULL;
  parent = gst_pad_get_parent_element (peer);
  if (parent == NULL || !g_ptr_array_find (w->elements, parent, NULL)) {
    g_clear_object (&parent);
    return NULL;
  }
  if (peer_out != NULL)
    *peer_out = g_steal_pointer (&peer);
  return parent;
}

/* The one always pad of @element in @dir, when it has exactly one pad
 * there and it is an always pad. Returns: (transfer none) (nullable) */
static GstPad *
single_always_pad (GstElement *element, GstPadDirection dir)
{
  g_autoptr(GPtrArray) pads = element_pads (element, dir);
  GstPad *pad;

  if (pads->len != 1 || !pad_is_always (g_ptr_array_index (pads, 0)))
    return NULL;
  /* the element holds it for as long as the walk runs */
  pad = g_ptr_array_index (pads, 0);
  return pad;
}

static gboolean
is_capsfilter (GstElement *element)
{
  GstElementFactory *factory = gst_element_get_factory (element);

  return factory != NULL && g_strcmp0 (GST_OBJECT_NAME (factory), "capsfilter") == 0 &&
         g_object_get_data (G_OBJECT (element), SUBSTITUTE_KEY) == NULL;
}

static void
append_declaration (Walk *w, GstElement *element)
{
  GstElementFactory *factory = gst_element_get_factory (element);
  const gchar *substitute = g_object_get_data (G_OBJECT (element), SUBSTITUTE_KEY);
  const gchar *name = factory != NULL ? GST_OBJECT_NAME (factory) : "identity";

  g_hash_table_add (w->emitted, element);
  if (substitute != NULL) {
    g_autofree gchar *safe = we_gst_redact_urls (substitute);
    g_string_append (w->out, safe);
    return;
  }
  if (g_strcmp0 (name, "appsink") == 0) {
    gboolean sync = TRUE;

    /* nobody pulls samples by hand: the nearest sink that runs */
    g_object_get (element, "sync", &sync, NULL);
    g_string_append_printf (w->out, "fakesink name=%s%s", GST_ELEMENT_NAME (element),
                            sync ? "" : " sync=false");
    return;
  }
  g_string_append_printf (w->out, "%s name=", name);
  append_value (w->out, GST_ELEMENT_NAME (element));
  append_properties (w->out, element,
                     factory != NULL ? defaults_for (w->fresh, factory, "") : NULL,
                     factory != NULL ? defaults_for (w->fresh, factory, "#twin") : NULL);
}

/* The caps a chained capsfilter is written as, when they lex as link caps. */
static gchar *
inline_caps (GstElement *capsfilter)
{
  g_autoptr(GstCaps) caps = NULL;
  gchar *text;

  g_object_get (capsfilter, "caps", &caps, NULL);
  if (caps == NULL || gst_caps_is_any (caps) || gst_caps_is_empty (caps))
    return NULL;
  text = gst_caps_to_string (caps);
  if (strchr (text, '!') != NULL || strchr (text, '"') != NULL || strchr (text, '\\') != NULL) {
    g_free (text);
    return NULL;
  }
  /* one shell word per structure: easier to paste */
  {
    GString *compact = g_string_new (NULL);

    for (const gchar *p = text; *p != '\0'; p++) {
      if (*p == ' ' && p > text && (p[-1] == ',' || p[-1] == ';'))
        continue;
      g_string_append_c (compact, *p);
    }
    g_free (text);
    return g_string_free (compact, FALSE);
  }
}

/* @element's successor in a chain: its one always src pad linked to an
 * element whose only pad is an always sink pad. Returns: (transfer full) */
static GstElement *
chain_successor (Walk *w, GstElement *element)
{
  GstPad *src = single_always_pad (element, GST_PAD_SRC);
  g_autoptr(GstPad) peer = NULL;
  g_autoptr(GstElement) next = NULL;

  if (src == NULL)
    return NULL;
  next = peer_of (w, src, &peer);
  if (next == NULL || g_hash_table_contains (w->emitted, next) ||
      single_always_pad (next, GST_PAD_SINK) != peer)
    return NULL;
  return g_steal_pointer (&next);
}

/* Whether @element is written inside the chain of the element before it
 * (or a branch statement of it) rather than starting one of its own. */
static gboolean
has_head_link (Walk *w, GstElement *element)
{
  GstPad *sink = single_always_pad (element, GST_PAD_SINK);
  g_autoptr(GstElement) prev = NULL;

  if (sink == NULL)
    return FALSE;
  prev = peer_of (w, sink, NULL);
  return prev != NULL;
}

/* Writes @first (already referenced by the caller's start) and the chain
 * after it, ending in a reference "name.pad" when the last element feeds
 * an element with several (or request) sink pads. */
static void
append_chain (Walk *w, GstElement *first, gboolean after_link)
{
  g_autoptr(GstElement) element = gst_object_ref (first);
  gboolean prev_is_caps = !after_link;

  for (;;) {
    g_autoptr(GstElement) next = chain_successor (w, element);
    g_autofree gchar *caps = NULL;

    /* a capsfilter between two elements is written as link caps */
    if (is_capsfilter (element) && !prev_is_caps && next != NULL &&
        (caps = inline_caps (element)) != NULL) {
      g_hash_table_add (w->emitted, element);
      g_string_append (w->out, caps);
      prev_is_caps = TRUE;
    } else {
      append_declaration (w, element);
      prev_is_caps = FALSE;
    }
    if (next == NULL)
      break;
    g_string_append (w->out, " ! ");
    g_set_object (&element, next);
  }
  /* the end of the chain into a muxer's request pad or another multi-pad element */
  {
    GstPad *src = single_always_pad (element, GST_PAD_SRC);
    g_autoptr(GstPad) peer = NULL;
    g_autoptr(GstElement) next = src != NULL ? peer_of (w, src, &peer) : NULL;

    /* (caps are only written with an element after them) */
    if (next != NULL && single_always_pad (next, GST_PAD_SINK) != peer)
      g_string_append_printf (w->out, " ! %s.%s", GST_ELEMENT_NAME (next), GST_PAD_NAME (peer));
  }
}

static void
append_statement_sep (Walk *w)
{
  if (w->out->len > 0)
    g_string_append (w->out, "  ");
}

gchar *
we_gst_pipeline_to_launch (GstElement *pipeline)
{
  Walk w = { 0 };
  GString *out = g_string_new (NULL);

  g_return_val_if_fail (GST_IS_BIN (pipeline), g_string_free (out, FALSE));

  w.pipeline = pipeline;
  w.elements = g_ptr_array_new_with_free_func (gst_object_unref);
  w.emitted = g_hash_table_new (NULL, NULL);
  w.fresh = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                   (GDestroyNotify) gst_object_unref);
  w.out = out;
  GST_OBJECT_LOCK (pipeline);
  /* children are prepended: walk from the end for the order they came in */
  for (GList *l = g_list_last (GST_BIN_CHILDREN (pipeline)); l != NULL; l = l->prev)
    g_ptr_array_add (w.elements, gst_object_ref (l->data));
  GST_OBJECT_UNLOCK (pipeline);

  /* 1. chains starting at sources, muxers and anything not fed by one pad */
  for (guint i = 0; i < w.elements->len; i++) {
    GstElement *element = g_ptr_array_index (w.elements, i);

    if (g_hash_table_contains (w.emitted, element) || has_head_link (&w, element))
      continue;
    append_statement_sep (&w);
    append_chain (&w, element, FALSE);
  }
  /* 2. branches: links from pads an element has several of (or that come
   * and go: decodebin's, tee's), and into such pads */
  for (guint i = 0; i < w.elements->len; i++) {
    GstElement *element = g_ptr_array_index (w.elements, i);
    g_autoptr(GPtrArray) pads = NULL;

    if (single_always_pad (element, GST_PAD_SRC) != NULL)
      continue;
    pads = element_pads (element, GST_PAD_SRC);
    for (guint p = 0; p < pads->len; p++) {
      GstPad *pad = g_ptr_array_index (pads, p);
      g_autoptr(GstPad) peer = NULL;
      g_autoptr(GstElement) next = peer_of (&w, pad, &peer);

      if (next == NULL)
        continue;
      append_statement_sep (&w);
      g_string_append_printf (w.out, "%s.%s ! ", GST_ELEMENT_NAME (element), GST_PAD_NAME (pad));
      if (single_always_pad (next, GST_PAD_SINK) == peer && !g_hash_table_contains (w.emitted, next))
        append_chain (&w, next, TRUE);
      else
        g_string_append_printf (w.out, "%s.%s", GST_ELEMENT_NAME (next), GST_PAD_NAME (peer));
    }
  }
  /* 3. whatever is left: elements in a loop of always pads */
  for (guint i = 0; i < w.elements->len; i++) {
    GstElement *element = g_ptr_array_index (w.elements, i);

    if (g_hash_table_contains (w.emitted, element))
      continue;
    append_statement_sep (&w);
    append_chain (&w, element, FALSE);
  }

  g_hash_table_unref (w.fresh);
  g_hash_table_unref (w.emitted);
  g_ptr_array_unref (w.elements);
  return g_string_free (out, FALSE);
}

/* ---- reporting ----------------------------------------------------------- */

typedef struct {
  gchar          *stage;
  gchar          *launch;
  gchar          *dot;
  WePipelineFunc  func;
  gpointer        data;
} Report;

static void
report_free (Report *r)
{
  g_free (r->stage);
  g_free (r->launch);
  g_free (r->dot);
  g_free (r);
}

static Report *
report_new (GstElement *pipeline, const gchar *stage, WePipelineFunc func, gpointer data)
{
  Report *r = g_new0 (Report, 1);
  g_autofree gchar *dot = NULL;

  r->stage = g_strdup (stage);
  r->launch = we_gst_pipeline_to_launch (pipeline);
  dot = gst_debug_bin_to_dot_data (GST_BIN (pipeline), GST_DEBUG_GRAPH_SHOW_ALL);
  /* the graph shows property values too: presigned URLs are credentials */
  r->dot = we_gst_redact_urls (dot);
  r->func = func;
  r->data = data;
  return r;
}

static gboolean
report_dispatch (gpointer user_data)
{
  Report *r = user_data;
  WePipelineInfo info = { r->stage, r->launch, r->dot };

  r->func (&info, r->data);
  return G_SOURCE_REMOVE;
}

void
we_gst_pipeline_introspect (GstElement *pipeline, const gchar *stage, WePipelineFunc func,
                            gpointer data)
{
  Report *r;

  g_return_if_fail (GST_IS_BIN (pipeline));

  if (func == NULL)
    return;
  r = report_new (pipeline, stage, func, data);
  report_dispatch (r);
  report_free (r);
}

void
we_gst_pipeline_introspect_on (GstElement *pipeline, const gchar *stage, WePipelineFunc func,
                               gpointer data, GMainContext *context)
{
  g_return_if_fail (GST_IS_BIN (pipeline));

  if (func == NULL)
    return;
  g_main_context_invoke_full (context, G_PRIORITY_HIGH, report_dispatch,
                              report_new (pipeline, stage, func, data),
                              (GDestroyNotify) report_free);
}

gboolean
we_gst_introspect_message (GstElement *pipeline, GstMessage *msg, const gchar *stage,
                           WePipelineFunc func, gpointer data, gboolean *reported)
{
  GstState old_state, new_state;

  if (func == NULL || *reported || GST_MESSAGE_TYPE (msg) != GST_MESSAGE_STATE_CHANGED ||
      GST_MESSAGE_SRC (msg) != GST_OBJECT (pipeline))
    return FALSE;
  gst_message_parse_state_changed (msg, &old_state, &new_state, NULL);
  if (new_state != GST_STATE_PLAYING)
    return FALSE;
  *reported = TRUE;
  we_gst_pipeline_introspect (pipeline, stage, func, data);
  return TRUE;
}
