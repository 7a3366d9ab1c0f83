#!/usr/bin/env node
// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Drives the new-restream form through every input and schedule kind in
// headless Chromium against a running webencoded, for
// test_web_restreams_form.py:
//
//   node web-restreams-form.js --base URL --operator USER:PASS
//        --clip-a PATH --clip-b PATH --stream ID --job ID
//        --dest-pl URL --dest-st URL --dest-sc URL --dest-im URL --dest-vj URL --shots DIR
//
// 1. playlist (the editor: add, move up, remove; the rows typed in the wrong
//    order and put right) → immediate → streaming, then stopped at its end;
// 2. one of our streams (not live) → immediate → its error shown → Stop;
// 3. a file, scheduled a few seconds ahead → goes streaming on its own → Stop;
// 4. a file, recurring by cron → the detail page's human summary;
// 5. a file, immediate, looped → a destination live with a bitrate → Stop;
// 6. the output of a completed job (picked from the list, one of its
//    outputs by name) → streaming with a live destination → Stop;
// then the form's widest states and the playlist's detail page on a phone.
// Asks the test {"q": "recorded", "key": K} (bytes nginx recorded of K) and
// {"q": "api", "id": ID}. Prints {"step": …} as it goes and one final
// {"report": {…}} (harness.js); the Python test judges it.
'use strict';

const h = require('./harness').start({
  name: 'web-restreams-form.js',
  args: ['base', 'operator', 'clip-a', 'clip-b', 'stream', 'job',
         'dest-pl', 'dest-st', 'dest-sc', 'dest-im', 'dest-vj', 'shots'],
  stepEnv: 'WE_DASHBOARD_STEP_MS',
  stepMs: 30000,
  report: { overflow: {}, cases: {} },
});
const { opts, report } = h;
const PHONE = { width: 390, height: 844 };

const p2 = (n) => String(n).padStart(2, '0');
// a local time as a datetime-local input with step 1 takes it
function localAt(ms) {
  const d = new Date(ms);
  return `${d.getFullYear()}-${p2(d.getMonth() + 1)}-${p2(d.getDate())}T${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())}`;
}

async function openForm(page) {
  await page.goto(opts.base + '/restreams/new', { waitUntil: 'load' });
  await page.locator('[data-testid=restream-form]').waitFor({ timeout: h.STEP_MS });
}

// fills title and the one destination; `more` fills the rest
async function fill(page, title, dest) {
  await page.fill('[data-testid=restream-title]', title);
  await page.fill('[data-testid=restream-dest-url-0]', dest);
}

// submits the form; the case's request, answer and detail page
async function submit(page, name) {
  const [res] = await Promise.all([
    page.waitForResponse((r) => r.url() === opts.base + '/v1/restreams' && r.request().method() === 'POST',
      { timeout: h.STEP_MS }),
    page.click('[data-testid=restream-create]'),
  ]);
  const c = { status: res.status(), request: res.request().postDataJSON(), created: await res.json() };
  report.cases[name] = c;
  if (c.status !== 201) throw new Error(`${name}: POST /v1/restreams answered ${c.status}: ${JSON.stringify(c.created)}`);
  await page.locator(`[data-testid=restream-detail][data-restream-id="${c.created.id}"]`).waitFor({ timeout: h.STEP_MS });
  return c;
}

const statusIs = (page, s, timeout) =>
  page.locator(`[data-testid=restream-detail][data-status=${s}]`).waitFor({ timeout: timeout || h.STEP_MS });

async function stop(page, c) {
  await page.click('[data-testid=restream-stop]');
  await statusIs(page, 'stopped');
  c.stopped = true;
}

async function playlist(page) {
  h.step('playlist');
  await h.nav(page, '/restreams');
  await page.locator('[data-testid=restreams-table][data-loaded=true]').waitFor({ timeout: h.STEP_MS });
  await page.click('[data-testid=restream-new]');
  await page.locator('[data-testid=restream-form]').waitFor({ timeout: h.STEP_MS });
  await fill(page, 'Form playlist', opts['dest-pl']);
  await page.check('[data-testid=restream-input-playlist]');
  const rows = page.locator('[data-testid=restream-playlist-row]');
  const ed = {};
  ed.rows_initial = await rows.count();
  ed.remove_disabled_single = await page.locator('[data-testid=restream-playlist-remove-0]').isDisabled();
  // typed in the wrong order, then put right with "move up"
  await page.fill('[data-testid=restream-playlist-url-0]', opts['clip-b']);
  await page.click('[data-testid=restream-playlist-add]');
  await page.fill('[data-testid=restream-playlist-url-1]', opts['clip-a']);
  ed.up_disabled_first = await page.locator('[data-testid=restream-playlist-up-0]').isDisabled();
  ed.down_disabled_last = await page.locator('[data-testid=restream-playlist-down-1]').isDisabled();
  await page.click('[data-testid=restream-playlist-up-1]');
  // a third row, moved to the top and back down, then removed
  await page.click('[data-testid=restream-playlist-add]');
  await page.fill('[data-testid=restream-playlist-url-2]', '/dropped/third.mp4');
  await page.click('[data-testid=restream-playlist-up-2]');
  await page.click('[data-testid=restream-playlist-up-1]');
  ed.order_moved = await rows.locator('input').evaluateAll((es) => es.map((e) => e.value));
  await page.click('[data-testid=restream-playlist-down-0]');
  await page.click('[data-testid=restream-playlist-down-1]');
  ed.rows_three = await rows.count();
  await page.click('[data-testid=restream-playlist-remove-2]');
  ed.order = await rows.locator('input').evaluateAll((es) => es.map((e) => e.value));
  report.playlist_editor = ed;
  await h.shot(page, 'desktop-restream-new-playlist');
  const c = await submit(page, 'playlist');
  // the detail page lists the items, then shows it streaming and stopped at the end
  c.items = await page.locator('[data-testid=info-playlist] li').allTextContents();
  c.kind = await page.locator('[data-testid=info-input]').getAttribute('data-kind');
  await statusIs(page, 'streaming', 20000);
  c.saw_streaming = true;
  await h.shot(page, 'desktop-restream-detail-playlist');
  c.recorded_streaming = (await h.ask({ q: 'recorded', key: 'pl' })).bytes;
  await statusIs(page, 'stopped', 40000);
  c.saw_stopped_at_end = true;
  c.api_end = (await h.ask({ q: 'api', id: c.created.id })).body;
  c.recorded_end = (await h.ask({ q: 'recorded', key: 'pl' })).bytes;
  return c;
}

async function stream(page) {
  h.step('stream');
  await openForm(page);
  await fill(page, 'Form stream', opts['dest-st']);
  await page.check('[data-testid=restream-input-stream]');
  await page.locator(`[data-testid=restream-stream] option[value="${opts.stream}"]`).waitFor({ state: 'attached', timeout: h.STEP_MS });
  await page.selectOption('[data-testid=restream-stream]', opts.stream);
  const c = await submit(page, 'stream');
  // not live: the worker fails and is retried; the page says why
  const err = page.locator('[data-testid=info-error]');
  await err.waitFor({ timeout: 30000 });
  c.error_shown = (await err.textContent()).trim();
  c.status_with_error = await page.locator('[data-testid=restream-detail]').getAttribute('data-status');
  c.stream_link = await page.locator(`[data-testid=info-input] a[href="/streams/${opts.stream}"]`).count();
  await h.shot(page, 'desktop-restream-detail-stream');
  await stop(page, c);
  return c;
}

// a new ingest of its own: the key once on the detail page, hidden after a reload
async function ingest(page) {
  h.step('ingest');
  await openForm(page);
  await fill(page, 'Form ingest', opts['dest-st']);
  await page.check('[data-testid=restream-input-ingest]');
  const c = await submit(page, 'ingest');
  await page.locator('[data-testid=restream-ingest]').waitFor({ timeout: h.STEP_MS });
  c.key_shown = await page.inputValue('[data-testid=restream-ingest-key-value]');
  c.server_shown = await page.inputValue('[data-testid=restream-ingest-server-value]');
  c.once_notice = await page.locator('[data-testid=restream-ingest-once]').count();
  await h.shot(page, 'desktop-restream-detail-ingest');
  await page.reload({ waitUntil: 'load' });
  await page.locator('[data-testid=restream-ingest]').waitFor({ timeout: h.STEP_MS });
  c.key_after_reload = await page.inputValue('[data-testid=restream-ingest-key-value]');
  c.masked_after_reload = await page.getAttribute('[data-testid=restream-ingest-key-value]', 'data-masked');
  c.status_waiting = await page.locator('[data-testid=restream-detail]').getAttribute('data-status');
  await stop(page, c);
  return c;
}

// the studio's "Restream to…": lists the stream's restreams, opens the form with it chosen
async function studio(page) {
  h.step('studio');
  const c = {};
  report.cases.studio = c;
  await page.goto(opts.base + '/streams/' + opts.stream, { waitUntil: 'load' });
  await page.locator('[data-testid=stream-restreams-list] [data-testid=stream-restream]').first()
    .waitFor({ timeout: h.STEP_MS });
  c.listed = await page.locator('[data-testid=stream-restream]').count();
  await page.click('[data-testid=stream-restream-to]');
  await page.locator('[data-testid=restream-form]').waitFor({ timeout: h.STEP_MS });
  c.stream_checked = await page.isChecked('[data-testid=restream-input-stream]');
  await page.locator(`[data-testid=restream-stream] option[value="${opts.stream}"]`).waitFor({ state: 'attached', timeout: h.STEP_MS });
  c.preselected = await page.inputValue('[data-testid=restream-stream]');
  return c;
}

async function scheduled(page) {
  h.step('scheduled');
  await openForm(page);
  await fill(page, 'Form scheduled', opts['dest-sc']);
  await page.fill('[data-testid=restream-input-url]', opts['clip-a']);
  await page.check('[data-testid=restream-loop]');
  await page.check('[data-testid=restream-schedule-scheduled]');
  await page.fill('[data-testid=restream-duration]', '');
  const at = Math.ceil((Date.now() + 8000) / 1000) * 1000;
  await page.fill('[data-testid=restream-at]', localAt(at));
  const c = await submit(page, 'scheduled');
  c.at_ms = at;
  c.status_before = await page.locator('[data-testid=restream-detail]').getAttribute('data-status');
  await statusIs(page, 'streaming', 40000);
  c.streaming_ms = Date.now();
  c.schedule_text = (await page.locator('[data-testid=info-schedule]').textContent()).trim();
  await stop(page, c);
  return c;
}

async function recurring(page) {
  h.step('recurring');
  await openForm(page);
  await fill(page, 'Form recurring', opts['dest-sc']);
  await page.fill('[data-testid=restream-input-url]', opts['clip-a']);
  await page.check('[data-testid=restream-schedule-recurring]');
  await page.fill('[data-testid=restream-cron]', '30 6 * * 1-5');
  await page.fill('[data-testid=restream-duration]', '45');
  const formSummary = (await page.locator('[data-testid=restream-cron-summary]').textContent()).trim();
  const c = await submit(page, 'recurring');
  c.form_summary = formSummary;
  c.detail_summary = (await page.locator('[data-testid=info-cron-summary]').textContent()).trim();
  c.schedule_text = (await page.locator('[data-testid=info-schedule]').textContent()).trim();
  c.detail_status = await page.locator('[data-testid=restream-detail]').getAttribute('data-status');
  await h.shot(page, 'desktop-restream-detail-recurring');
  return c;
}

async function immediate(page) {
  h.step('immediate');
  await openForm(page);
  await fill(page, 'Form immediate', opts['dest-im']);
  await page.fill('[data-testid=restream-input-url]', opts['clip-a']);
  await page.check('[data-testid=restream-loop]');
  const c = await submit(page, 'immediate');
  await statusIs(page, 'streaming', 20000);
  const row = page.locator('[data-testid=dest-table] tr[data-dest-id][data-state=live]:not([data-bitrate="0"])');
  await row.waitFor({ timeout: 15000 });
  c.bitrate = Number(await row.getAttribute('data-bitrate'));
  c.recorded = (await h.ask({ q: 'recorded', key: 'im' })).bytes;
  await stop(page, c);
  return c;
}

async function vodJob(page) {
  h.step('vod job');
  await openForm(page);
  await fill(page, 'Form job output', opts['dest-vj']);
  await page.check('[data-testid=restream-input-vod_job]');
  await page.locator('[data-testid=restream-job][data-loaded=true]').waitFor({ timeout: h.STEP_MS });
  const pick = {};
  pick.options = await page.locator('[data-testid=restream-job] option').evaluateAll(
    (os) => os.filter((o) => o.value).map((o) => ({ value: o.value, label: o.textContent })));
  await page.selectOption('[data-testid=restream-job]', opts.job);
  // its outputs: the default (final file, else manifest) or one by name
  await page.locator('[data-testid=restream-job-output][data-loaded=true]').waitFor({ timeout: h.STEP_MS });
  pick.outputs = await page.locator('[data-testid=restream-job-output] option').evaluateAll(
    (os) => os.filter((o) => o.value).map((o) => o.value));
  if (pick.outputs.length) await page.selectOption('[data-testid=restream-job-output]', pick.outputs[0]);
  report.job_picker = pick;
  await h.shot(page, 'desktop-restream-new-job');
  const c = await submit(page, 'vod_job');
  c.job_link = await page.locator(`[data-testid=info-job][href="/jobs/${opts.job}"]`).count();
  c.output_shown = (await page.locator('[data-testid=info-job-output]').textContent()).trim();
  await statusIs(page, 'streaming', 20000);
  c.saw_streaming = true;
  await page.locator('[data-testid=dest-table] tr[data-dest-id][data-state=live]:not([data-bitrate="0"])')
    .waitFor({ timeout: 15000 });
  c.recorded = (await h.ask({ q: 'recorded', key: 'vj' })).bytes;
  await stop(page, c);
  return c;
}

async function list(page) {
  h.step('list');
  await h.nav(page, '/restreams');
  await page.locator('[data-testid=restreams-table][data-loaded=true]').waitFor({ timeout: h.STEP_MS });
  report.list_kinds = {};
  for (const [name, c] of Object.entries(report.cases)) {
    if (!c.created) continue; // the studio case makes none
    const row = page.locator(`[data-testid=restreams-table] tr[data-restream-id="${c.created.id}"]`);
    await row.waitFor({ timeout: h.STEP_MS });
    report.list_kinds[name] = (await row.locator('[data-testid=restream-input-kind]').textContent()).trim();
  }
  report.overflow['desktop-restreams'] = await h.overflowFacts(page, 1280);
  await h.shot(page, 'desktop-restreams-form');
}

async function phone(browser, playlistId) {
  h.step('phone');
  const ctx = await browser.newContext({ viewport: PHONE, isMobile: true, hasTouch: true, locale: 'en-US', reducedMotion: 'reduce' });
  const page = await ctx.newPage();
  h.watch(page, 'phone');
  await h.login(page, opts.operator, 'operator', '/restreams');
  await openForm(page);
  // the widest states: three playlist rows with a long path, then the job picker
  await page.check('[data-testid=restream-input-playlist]');
  await page.fill('[data-testid=restream-playlist-url-0]', '/media/' + 'a-rather-long-folder-name/'.repeat(4) + 'show.mp4');
  await page.click('[data-testid=restream-playlist-add]');
  await page.click('[data-testid=restream-playlist-add]');
  report.overflow['phone-new-playlist'] = await h.overflowFacts(page, PHONE.width);
  await h.shot(page, 'phone-restream-new-playlist');
  await page.check('[data-testid=restream-input-vod_job]');
  await page.locator('[data-testid=restream-job][data-loaded=true]').waitFor({ timeout: h.STEP_MS });
  await page.selectOption('[data-testid=restream-job]', opts.job);
  await page.check('[data-testid=restream-schedule-scheduled]');
  report.overflow['phone-new-job'] = await h.overflowFacts(page, PHONE.width);
  await h.shot(page, 'phone-restream-new-job');
  await page.goto(opts.base + '/restreams/' + playlistId, { waitUntil: 'load' });
  await page.locator('[data-testid=info-playlist] li').first().waitFor({ timeout: h.STEP_MS });
  report.overflow['phone-detail-playlist'] = await h.overflowFacts(page, PHONE.width);
  await h.shot(page, 'phone-restream-detail-playlist');
  await ctx.close();
}

h.run(async (browser) => {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-US', reducedMotion: 'reduce' });
  const page = await ctx.newPage();
  h.watch(page, 'desktop');
  await h.login(page, opts.operator, 'operator');
  const pl = await playlist(page);
  await scheduled(page);
  await recurring(page);
  await immediate(page);
  await vodJob(page);
  await stream(page);
  await ingest(page);
  await studio(page);
  await list(page);
  report.overflow['desktop-form'] = await (async () => {
    await openForm(page);
    await page.check('[data-testid=restream-input-playlist]');
    return h.overflowFacts(page, 1280);
  })();
  await ctx.close();
  await phone(browser, pl.created.id);
});
