/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "we-multipart.h"

#include <string.h>
#include <webencode/we-error.h>

typedef enum {
  STATE_PREAMBLE,     /* before the first boundary */
  STATE_AFTER_BOUNDARY,
  STATE_HEADERS,
  STATE_BODY,
  STATE_DONE,
} State;

struct _WeMultipart {
  State                       state;
  gchar                      *delimiter;     /* "\r\n--boundary" */
  gsize                       delimiter_len;
  GByteArray                 *buf;           /* unprocessed bytes */
  WeMultipartCallbacks        cb;
  gpointer                    user_data;
  guint                       parts;
  gsize                       preamble_bytes;
};

gchar *
we_multipart_header_param (const gchar *value, const gchar *param)
{
  g_autofree gchar *needle = g_strdup_printf ("%s=", param);
  const gchar *p = value;
  gsize needle_len = strlen (needle);

  while (p != NULL && *p != '\0') {
    const gchar *semi;
    while (*p == ' ' || *p == '\t' || *p == ';')
      p++;
    if (g_ascii_strncasecmp (p, needle, needle_len) == 0) {
      const gchar *v = p + needle_len;
      if (*v == '"') {
        GString *out = g_string_new (NULL);
        for (v++; *v != '\0' && *v != '"'; v++) {
          if (*v == '\\' && v[1] != '\0')
            v++;
          g_string_append_c (out, *v);
        }
        if (*v != '"') {
          g_string_free (out, TRUE);
          return NULL;
        }
        return g_string_free (out, FALSE);
      }
      semi = strchr (v, ';');
      return g_strstrip (g_strndup (v, semi ? (gsize) (semi - v) : strlen (v)));
    }
    /* skip this parameter, honouring quotes */
    semi = p;
    while (*semi != '\0' && *semi != ';') {
      if (*semi == '"') {
        semi++;
        while (*semi != '\0' && *semi != '"') {
          if (*semi == '\\' && semi[1] != '\0')
            semi++;
          semi++;
        }
        if (*semi == '\0')
          break;
      }
      semi++;
    }
    p = *semi ? semi + 1 : NULL;
  }
  return NULL;
}

WeMultipart *
we_multipart_new (const gchar *content_type, const WeMultipartCallbacks *callbacks,
                  gpointer user_data, GError **error)
{
  g_autofree gchar *boundary = NULL;
  WeMultipart *self;

  if (content_type == NULL ||
      g_ascii_strncasecmp (content_type, "multipart/form-data", strlen ("multipart/form-data")) != 0) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                         "not a multipart/form-data body");
    return NULL;
  }
  boundary = we_multipart_header_param (content_type + strlen ("multipart/form-data"), "boundary");
  /* RFC 2046: 1–70 characters */
  if (boundary == NULL || *boundary == '\0' || strlen (boundary) > 70) {
    g_set_error_literal (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST,
                         "multipart/form-data without a valid boundary");
    return NULL;
  }
  self = g_new0 (WeMultipart, 1);
  self->state = STATE_PREAMBLE;
  self->delimiter = g_strdup_printf ("\r\n--%s", boundary);
  self->delimiter_len = strlen (self->delimiter);
  self->buf = g_byte_array_new ();
  /* the first boundary may start the body without a preceding CRLF */
  g_byte_array_append (self->buf, (const guint8 *) "\r\n", 2);
  self->cb = *callbacks;
  self->user_data = user_data;
  return self;
}

void
we_multipart_free (WeMultipart *self)
{
  if (self == NULL)
    return;
  g_free (self->delimiter);
  g_byte_array_unref (self->buf);
  g_free (self);
}

gboolean
we_multipart_is_done (WeMultipart *self)
{
  return self->state == STATE_DONE;
}

static gboolean
fail (GError **error, const gchar *what)
{
  g_set_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_REQUEST, "malformed multipart body: %s",
               what);
  return FALSE;
}

static gboolean
parse_headers (WeMultipart *self, const gchar *block, gsize len, GError **error)
{
  g_autofree gchar *text = g_strndup (block, len);
  g_auto(GStrv) lines = g_strsplit (text, "\r\n", -1);
  g_autofree gchar *name = NULL;
  g_autofree gchar *filename = NULL;
  g_autofree gchar *content_type = NULL;

  for (guint i = 0; lines[i] != NULL; i++) {
    gchar *colon = strchr (lines[i], ':');
    const gchar *value;
    if (lines[i][0] == '\0')
      continue;
    if (colon == NULL)
      return fail (error, "part header without ':'");
    *colon = '\0';
    value = colon + 1;
    while (*value == ' ' || *value == '\t')
      value++;
    if (g_ascii_strcasecmp (lines[i], "Content-Disposition") == 0) {
      if (g_ascii_strncasecmp (value, "form-data", 9) != 0)
        return fail (error, "part is not form-data");
      g_free (name);
      name = we_multipart_header_param (value + 9, "name");
      g_free (filename);
      filename = we_multipart_header_param (value + 9, "filename");
    } else if (g_ascii_strcasecmp (lines[i], "Content-Type") == 0) {
      g_free (content_type);
      content_type = g_strdup (value);
    }
  }
  if (name == NULL)
    return fail (error, "part without a name");
  if (++self->parts > WE_MULTIPART_MAX_PARTS)
    return fail (error, "too many parts");
  if (self->cb.part_begin != NULL &&
      !self->cb.part_begin (name, filename, content_type, self->user_data))
    return fail (error, "part refused");
  return TRUE;
}

gboolean
we_multipart_feed (WeMultipart *self, const guint8 *data, gsize length, GError **error)
{
  g_byte_array_append (self->buf, data, (guint) length);

  for (;;) {
    guint8 *start = self->buf->data;
    gsize avail = self->buf->len;

    switch (self->state) {
    case STATE_DONE:
      /* the epilogue is ignored */
      g_byte_array_set_size (self->buf, 0);
      return TRUE;

    case STATE_PREAMBLE: {
      guint8 *hit = memmem (start, avail, self->delimiter, self->delimiter_len);
      if (hit == NULL) {
        /* keep only what could be the start of the delimiter */
        if (avail >= self->delimiter_len) {
          gsize drop = avail - (self->delimiter_len - 1);
          self->preamble_bytes += drop;
          g_byte_array_remove_range (self->buf, 0, (guint) drop);
        }
        if (self->preamble_bytes > 64 * 1024)
          return fail (error, "no boundary in the first 64 KiB");
        return TRUE;
      }
      g_byte_array_remove_range (self->buf, 0, (guint) (hit - start + self->delimiter_len));
      self->state = STATE_AFTER_BOUNDARY;
      break;
    }

    case STATE_AFTER_BOUNDARY:
      if (avail < 2)
        return TRUE;
      if (start[0] == '-' && start[1] == '-') {
        self->state = STATE_DONE;
        break;
      }
      /* transport padding is allowed before the CRLF */
      {
        gsize i = 0;
        while (i < avail && (start[i] == ' ' || start[i] == '\t'))
          i++;
        if (i + 2 > avail) {
          if (avail > 256)
            return fail (error, "junk after boundary");
          return TRUE;
        }
        if (start[i] != '\r' || start[i + 1] != '\n')
          return fail (error, "boundary not followed by CRLF");
        g_byte_array_remove_range (self->buf, 0, (guint) (i + 2));
      }
      self->state = STATE_HEADERS;
      break;

    case STATE_HEADERS: {
      guint8 *end;
      if (avail >= 2 && start[0] == '\r' && start[1] == '\n') {
        /* a part without headers */
        end = start;
      } else {
        end = memmem (start, avail, "\r\n\r\n", 4);
        if (end == NULL) {
          if (avail > WE_MULTIPART_MAX_HEADERS)
            return fail (error, "part headers too long");
          return TRUE;
        }
      }
      if ((gsize) (end - start) > WE_MULTIPART_MAX_HEADERS)
        return fail (error, "part headers too long");
      if (!parse_headers (self, (const gchar *) start, end - start, error))
        return FALSE;
      g_byte_array_remove_range (self->buf, 0,
                                 (guint) (end - start + (end == start ? 2 : 4)));
      self->state = STATE_BODY;
      break;
    }

    case STATE_BODY: {
      guint8 *hit = memmem (start, avail, self->delimiter, self->delimiter_len);
      gsize emit;
      if (hit == NULL) {
        if (avail < self->delimiter_len)
          return TRUE;
        emit = avail - (self->delimiter_len - 1);
        if (self->cb.part_data != NULL && !self->cb.part_data (start, emit, self->user_data))
          return fail (error, "part data refused");
        g_byte_array_remove_range (self->buf, 0, (guint) emit);
        return TRUE;
      }
      emit = hit - start;
      if (emit > 0 && self->cb.part_data != NULL &&
          !self->cb.part_data (start, emit, self->user_data))
        return fail (error, "part data refused");
      if (self->cb.part_end != NULL && !self->cb.part_end (self->user_data))
        return fail (error, "part refused");
      g_byte_array_remove_range (self->buf, 0, (guint) (emit + self->delimiter_len));
      self->state = STATE_AFTER_BOUNDARY;
      break;
    }
    }
  }
}
