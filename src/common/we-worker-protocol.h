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
 * The live worker (`webencode-worker --live`, worker/we-live-worker.c; the
 * kernel's side is core/we-live-kernel.c) speaks its own messages on the
 * same kind of channel:
 *
 * kernel → live worker
 *   {"type":"configure","plugin_dir","plugin_id":"live-gst","config":{…}}
 *      first, once: the live plugin and its configuration (rtmp_port,
 *      srt_port, output_dir, idle_timeout_s …)
 *   {"type":"publish_decision","id":7,"accept":true,"stream_id","passphrase",
 *    "reason","options":{…}}   the answer to publish_attempt 7 (passphrase:
 *      SRT only; reason: refused, for the log; options: how this stream's
 *      pipeline is built — record, latency_mode, ladder rungs — handed to
 *      live-gst's "set-stream-options" before the handshake is answered)
 *   {"type":"stop_stream","stream_id"}   end that ingest (recording
 *      finalized, stream_ended "stopped" follows)
 *   {"type":"recording","stream_id","enabled"}   start or stop that
 *      stream's recording at run time (live-gst "set-recording")
 *   {"type":"shutdown"}   end every stream and exit (EOF on stdin too)
 *
 * live worker → kernel
 *   {"type":"live_ready","pid","rtmp_port","srt_port"}   listening
 *   {"type":"live_failed","code","message"}   cannot run (then exits)
 *   {"type":"publish_attempt","id":7,"protocol":"rtmp"|"srt","key","remote"}
 *      a publisher's handshake waits (up to 5 s, then refused) for the
 *      decision; "key" is the RTMP publish name or the SRT streamid's
 *      publish:<key> part (the stream id): it travels only over this pipe
 *   {"type":"stream_started","stream_id","protocol","remote"}   again on a
 *      takeover (the same stream back within the idle timeout)
 *   {"type":"stream_ended","stream_id","reason","recording_dir"}
 *   {"type":"telemetry","stream_id","sample":{…}}   1 Hz per live stream
 *      (the live pillar's sample, docs/architecture.md "Live pillar")
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
