/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "we-cli-progress.h"

#include <glib/gi18n.h>
#include <math.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "we-cli-output.h"

/* Redrawing more often than this only costs the terminal. */
#define WE_CLI_PROGRESS_REDRAW_US (100 * G_TIME_SPAN_MILLISECOND)

struct _WeCliProgress {
  GObject   parent_instance;
  FILE     *out;
  gboolean  tty;
  gboolean  drawn;        /* a bar is on the current line */
  gint64    started;      /* monotonic, for the elapsed time */
  gint64    last_draw;
  gchar    *last_status;  /* plain mode: what was last printed */
  gint      last_decile;
};

G_DEFINE_TYPE (WeCliProgress, we_cli_progress, G_TYPE_OBJECT)

static void
we_cli_progress_finalize (GObject *object)
{
  WeCliProgress *self = WE_CLI_PROGRESS (object);

  we_cli_progress_finish (self);
  g_free (self->last_status);
  G_OBJECT_CLASS (we_cli_progress_parent_class)->finalize (object);
}

static void
we_cli_progress_class_init (WeCliProgressClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = we_cli_progress_finalize;
}

static void
we_cli_progress_init (WeCliProgress *self)
{
  self->started = g_get_monotonic_time ();
  self->last_decile = -1;
}

WeCliProgress *
we_cli_progress_new (FILE *out)
{
  WeCliProgress *self = g_object_new (WE_TYPE_CLI_PROGRESS, NULL);
  const gchar *term = g_getenv ("TERM");

  self->out = out;
  self->tty = isatty (fileno (out)) && g_strcmp0 (term, "dumb") != 0;
  return self;
}

gboolean
we_cli_progress_is_tty (WeCliProgress *self)
{
  g_return_val_if_fail (WE_IS_CLI_PROGRESS (self), FALSE);
  return self->tty;
}

static guint
terminal_columns (FILE *out)
{
  struct winsize ws = { 0 };

  if (ioctl (fileno (out), TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20)
    return ws.ws_col;
  return 80;
}

/* "label [#####.....] tail", fitted to the terminal's width; the bar keeps
 * one width while the tail grows and shrinks, so it does not jitter */
#define WE_CLI_PROGRESS_TAIL_RESERVE 48

static void
draw_bar (WeCliProgress *self, const gchar *label, gdouble fraction, const gchar *tail)
{
  guint cols = terminal_columns (self->out);
  glong fixed = MAX (10, g_utf8_strlen (label, -1)) + WE_CLI_PROGRESS_TAIL_RESERVE + 4;
  g_autoptr(GString) line = g_string_new (NULL);

  g_string_append_printf (line, "\r%-10s ", label);
  if ((glong) cols >= fixed + 10) {
    guint width = MIN (40, cols - fixed);
    guint filled;

    fraction = CLAMP (fraction, 0.0, 1.0);
    filled = (guint) floor (fraction * width);
    g_string_append_c (line, '[');
    for (guint i = 0; i < width; i++)
      g_string_append_c (line, i < filled ? '#' : (i == filled ? '>' : '.'));
    g_string_append (line, "] ");
  }
  g_string_append (line, tail);
  g_string_append (line, "\033[K");
  fputs (line->str, self->out);
  fflush (self->out);
  self->drawn = TRUE;
  self->last_draw = g_get_monotonic_time ();
}

void
we_cli_progress_update_job (WeCliProgress *self, JsonObject *job)
{
  g_autofree gchar *status = we_cli_sanitize (we_cli_json_get_string (job, "status"));
  g_autoptr(GString) tail = g_string_new (NULL);
  gdouble pct = 0, fps, speed, eta, total, done;
  gboolean final;

  g_return_if_fail (WE_IS_CLI_PROGRESS (self));

  if (!we_cli_json_get_number (job, "progress", &pct))
    we_cli_json_get_number (job, "progress_pct", &pct);
  pct = CLAMP (pct, 0.0, 100.0);
  final = g_strv_contains ((const gchar *[]) { "completed", "failed", "cancelled", NULL }, status);

  g_string_append_printf (tail, "%5.1f%%", pct);
  if (we_cli_json_get_number (job, "fps", &fps) && fps > 0)
    g_string_append_printf (tail, "  %.1f fps", fps);
  if (we_cli_json_get_number (job, "speed", &speed) && speed > 0)
    g_string_append_printf (tail, "  %.2fx", speed);
  if (!final && we_cli_json_get_number (job, "eta_seconds", &eta) && eta >= 0) {
    g_autofree gchar *s = we_cli_format_duration (eta);
    g_string_append_printf (tail, "  %s %s", _("ETA"), s);
  }
  if (we_cli_json_get_number (job, "tasks_total", &total) && total > 1 &&
      we_cli_json_get_number (job, "tasks_completed", &done))
    g_string_append_printf (tail, "  %s %.0f/%.0f", _("tasks"), done, total);

  if (self->tty) {
    draw_bar (self, status, pct / 100.0, tail->str);
    return;
  }

  /* plain lines are for logs: only what changed enough to matter */
  {
    gint decile = (gint) (pct / 10);
    g_autofree gchar *elapsed = NULL;

    if (g_strcmp0 (status, self->last_status) == 0 && decile <= self->last_decile)
      return;
    elapsed = we_cli_format_duration ((g_get_monotonic_time () - self->started) / 1e6);
    fprintf (self->out, "[%s] %s %s\n", elapsed, status, tail->str);
    fflush (self->out);
    g_free (self->last_status);
    self->last_status = g_steal_pointer (&status);
    self->last_decile = decile;
  }
}

void
we_cli_progress_update_transfer (WeCliProgress *self, const gchar *label, guint64 done,
                                 guint64 total)
{
  g_autofree gchar *done_s = NULL;
  g_autofree gchar *total_s = NULL;
  g_autofree gchar *tail = NULL;
  gdouble secs;
  gboolean complete = total > 0 && done >= total;

  g_return_if_fail (WE_IS_CLI_PROGRESS (self));

  /* a transfer's end is reported by the caller in plain mode */
  if (!self->tty)
    return;
  if (!complete && g_get_monotonic_time () - self->last_draw < WE_CLI_PROGRESS_REDRAW_US)
    return;

  done_s = g_format_size (done);
  secs = (g_get_monotonic_time () - self->started) / 1e6;
  if (total > 0) {
    total_s = g_format_size (total);
    tail = g_strdup_printf ("%5.1f%%  %s / %s", 100.0 * done / total, done_s, total_s);
  } else {
    tail = g_strdup (done_s);
  }
  if (secs > 0.5) {
    g_autofree gchar *rate = g_format_size ((guint64) (done / secs));
    g_autofree gchar *with_rate = g_strdup_printf ("%s  %s/s", tail, rate);
    g_free (tail);
    tail = g_steal_pointer (&with_rate);
  }
  draw_bar (self, label, total > 0 ? (gdouble) done / total : 0.0, tail);
}

void
we_cli_progress_finish (WeCliProgress *self)
{
  g_return_if_fail (WE_IS_CLI_PROGRESS (self));

  if (self->drawn) {
    fputc ('\n', self->out);
    fflush (self->out);
    self->drawn = FALSE;
  }
}
