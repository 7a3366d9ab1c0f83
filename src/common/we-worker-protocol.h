/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The local channel between webencoded and a webencode-worker child: one JSON
 * object per line on the child's stdin (kernel → worker) and stdout
 * (worker → kernel). The worker's stderr carries its JSON log lines.
 *
 * kernel → worker
 *   {"type":"configure","worker_id":"local-1","scratch_dir":"/…",
 *    "plugins":[{"id":"storage-fs","config":{…}}, …]}       first message, once
 *   {"type":"task","task":{"id","job_id","kind":"transcode","attempt":1,
 *    "input_url","output_url","start_s","duration_s","profile":{…}}}
 *      a task may carry "log_url": where its GStreamer debug log goes
 *   {"type":"cancel","task_id":"…"}
 *   {"type":"shutdown"}
 *
 * worker → kernel
 *   {"type":"hello","worker_id","pid","version","capabilities":{…}}  after configure
 *   {"type":"probe","task_id","media":{WeMediaInfo}}
 *   {"type":"progress","task_id","percent","position_s","duration_s","fps","speed","frames"}
 *   {"type":"done","task_id","output_url","size_bytes"}
 *   {"type":"failed","task_id","code":"WE-JOB-007","message","retryable":false}
 *   {"type":"cancelled","task_id"}
 *   {"type":"pipeline","task_id","stage","launch","dot"}   once per pipeline
 *      a task runs, as it reaches PLAYING (issue 8): "stage" names it
 *      ("transcode", "segment", "audio", "stitch", "ladder", "loudness" …),
 *      "launch" is a gst-launch-1.0 description that rebuilds it (URL query
 *      strings and passwords "REDACTED"), "dot" its Graphviz graph; a graph
 *      over 512 KiB is left out and "dot_omitted":true said instead. Sent
 *      before the task's final message.
 *   {"type":"log","task_id","url","size_bytes","truncated"}   a worker keeping
 *      GStreamer debug logs (configure "gst_debug":"*:4", GST_DEBUG syntax,
 *      or webencode-worker --gst-debug) uploaded the task's log to its
 *      "log_url"; sent before the task's final message.
 *
 * A line longer than WE_WORKER_MAX_LINE is a protocol error and ends the
 * channel; unknown "type"s are ignored so either side can be newer.
 *
 * configure may also carry "disabled_plugins":["id",…] (not to be loaded).
 *
 * In cluster mode the same objects travel over NATS instead (see
 * queue/we-nats.h and docs/architecture.md): task messages through
 * JetStream, reports with "worker_id" and "attempt" added on
 * jobs.events.<job>.<task>, cancel/drain/undrain/shutdown on
 * workers.control.<worker>, and heartbeats in place of hello.
 */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

#define WE_WORKER_MAX_LINE (1024 * 1024)

/* Returns: (transfer full) (nullable): the message object, or NULL with
 * @error set when @line is not one JSON object with a string "type". */
JsonObject  *we_worker_msg_parse     (const gchar *line,
                                      gsize        length,
                                      GError     **error);
/* Returns: (transfer full): @msg on one line, newline-terminated */
gchar       *we_worker_msg_serialize (JsonObject *msg);
const gchar *we_worker_msg_type      (JsonObject *msg);
/* done, failed and cancelled end a task attempt */
gboolean     we_worker_msg_type_is_final (const gchar *type);

G_END_DECLS
