#!/usr/bin/env node
// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Drives the job detail page (web/src/pages/JobDetail.tsx) in headless
// Chromium against a running webencoded, for test_web_job.py:
//
//   node web-job.js --base URL --admin U:P --viewer U:P --shots DIR --jobs JSON
//
// JSON names the finished jobs the caller prepared: {"mp4", "ladder", "aes",
// "failed_a", "failed_b"}. Talks with its caller over stdio, one JSON object
// a line: {"need_long_job": 1} asks for a long running job (answered
// {"job_id": …}), {"step": …} lines report progress, one final
// {"report": {…}} ends it. Exits 0 after the report (the caller judges it),
// 3 when the harness itself could not run.
'use strict';
'use strict';

const fs = require('fs');

const h = require('./harness').start({
  name: 'web-job.js',
  args: ['base', 'admin', 'viewer', 'shots', 'jobs'],
  usage: '--base URL --admin U:P --viewer U:P --shots DIR --jobs JSON',
  stepEnv: 'WE_WEB_JOB_STEP_MS',
  stepMs: 60000,
  report: { expected_errors: [], key_requests: [], players: {} },
});
const { opts, report, STEP_MS, step, shot, login, noOverflow } = h;
opts.jobs = JSON.parse(opts.jobs);

// set while the page is made to hit a 409 on purpose
let expect409 = false;

function watch(page, label) {
  h.watch(page, label, {
    console: (msg) => (expect409 && /status of 409/.test(msg.text()) ? report.expected_errors : report.console_errors),
    response: (r) => {
      if (/\/v1\/jobs\/[^/]+\/key$/.test(r.url())) report.key_requests.push(r.status());
    },
    http: (r) => (expect409 && r.status() === 409 ? report.expected_errors : report.http_errors),
  });
  // confirm() of cancel and delete
  page.on('dialog', (d) => d.accept());
}

// in-app navigation: the session lives in sessionStorage and the WebSocket
// stays open
async function openJob(page, id, status) {
  await page.evaluate((p) => {
    history.pushState({}, '', p);
    dispatchEvent(new PopStateEvent('popstate'));
  }, '/jobs/' + id);
  const sel = `[data-testid=job-detail][data-job-id="${id}"]` + (status ? `[data-status=${status}]` : '');
  await page.locator(sel).waitFor({ timeout: STEP_MS * 2 });
}

// everything the page fetches for a finished job is on screen
async function loaded(page) {
  for (const sel of ['[data-testid=tasks-table] tbody tr', '[data-testid=timeline-events] li',
                     '[data-testid=outputs-table] tbody tr'])
    await page.locator(sel).first().waitFor({ state: 'attached', timeout: STEP_MS });
}

// picks a player source by kind, plays it, and reports what happened
async function play(page, kind) {
  const src = page.locator('[data-testid=player-source]');
  await src.waitFor({ timeout: STEP_MS });
  const value = await src.locator(`option[data-kind=${kind}]`).first().getAttribute('value');
  await src.selectOption(value);
  await page.locator(`[data-testid=player][data-kind=${kind}][data-ready=true]`).waitFor({ timeout: STEP_MS });
  const video = page.locator('[data-testid=player-video]');
  await page.click('[data-testid=player-play]');
  await page.waitForFunction(() => {
    const v = document.querySelector('[data-testid=player-video]');
    return v && v.currentTime > 1.0;
  }, null, { timeout: STEP_MS });
  const r = await video.evaluate((v) => ({
    current_time: v.currentTime,
    duration: v.duration,
    paused: v.paused,
    error: v.error ? v.error.code : null,
    width: v.videoWidth,
    height: v.videoHeight,
    poster: v.poster.startsWith('blob:'),
  }));
  r.errors = Number(await page.locator('[data-testid=player]').getAttribute('data-errors'));
  r.error_box = await page.locator('[data-testid=player-error]').count();
  r.renditions = await page.locator('[data-testid=player-rendition] option').count();
  if (r.renditions > 1) {
    // the picker: a fixed rung is what plays next
    const want = await page.locator('[data-testid=player-rendition] option').last().getAttribute('value');
    await page.selectOption('[data-testid=player-rendition]', want);
    await page.locator(`[data-testid=player][data-level="${want}"]`).waitFor({ timeout: 20000 })
      .then(() => { r.picked_level = true; }, () => { r.picked_level = false; });
    r.errors = Number(await page.locator('[data-testid=player]').getAttribute('data-errors'));
  }
  await page.click('[data-testid=player-play]'); // pause
  return r;
}

// the outputs' links: each href fetched with the session's credentials
// gives the listed size; one clicked as a user would saves the file
async function artifacts(page) {
  const rows = await page.locator('[data-testid=outputs-table] tbody tr[data-name]').evaluateAll((trs) =>
    trs.map((tr) => ({
      name: tr.getAttribute('data-name'),
      size: Number(tr.getAttribute('data-size')),
      href: tr.querySelector('a[data-testid=output-download]').getAttribute('href'),
      group: tr.closest('tbody').getAttribute('data-group'),
    })));
  const fetched = await page.evaluate(async (list) => {
    const c = JSON.parse(sessionStorage.getItem('we.credentials'));
    const auth = 'Basic ' + btoa(c.username + ':' + c.password);
    const out = [];
    for (const r of list) {
      const res = await fetch(r.href, { headers: { Authorization: auth } });
      out.push({ status: res.status, length: (await res.arrayBuffer()).byteLength });
    }
    return out;
  }, rows);
  rows.forEach((r, i) => Object.assign(r, fetched[i]));
  const [dl] = await Promise.all([
    page.waitForEvent('download', { timeout: STEP_MS }),
    page.locator('[data-testid=outputs-table] a[data-testid=output-download]').first().click(),
  ]);
  const saved = await dl.path();
  return { rows, clicked: { name: dl.suggestedFilename(), size: fs.statSync(saved).size } };
}

async function timeline(page) {
  return page.locator('[data-testid=timeline-steps] li[data-reached=true]').evaluateAll(
    (lis) => lis.map((li) => li.getAttribute('data-step')));
}


async function scenario(browser) {
  const J = opts.jobs;
  const desk = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-US',
                                          reducedMotion: 'reduce', acceptDownloads: true });
  const page = await desk.newPage();
  watch(page, 'desktop');
  await login(page, opts.admin, 'operator', '/jobs/' + J.mp4);
  step('logged-in');

  // (a) the MP4 job: the file plays, the timeline, the artifacts
  await openJob(page, J.mp4, 'completed');
  report.players.mp4 = await play(page, 'file');
  report.timeline_mp4 = await timeline(page);
  report.artifacts_mp4 = await artifacts(page);
  report.events_mp4 = await page.locator('[data-testid=timeline-events] li').count();
  await shot(page, 'web-job-desktop-mp4');
  step('mp4');

  // the task's log and pipeline (operator and up)
  const lastTask = page.locator('[data-testid=tasks-table] tbody tr').last();
  await lastTask.locator('[data-testid=task-logs]').click();
  await page.locator('[data-testid=task-log]').waitFor({ timeout: STEP_MS });
  report.log_chars = (await page.locator('[data-testid=task-log]').textContent()).length;
  await lastTask.locator('[data-testid=task-pipeline]').click();
  await page.locator('[data-testid=pipeline] .element').first().waitFor({ timeout: STEP_MS });
  report.pipeline_launch = await page.locator('[data-testid=pipeline-launch]').first().textContent();
  await page.locator('[data-testid=pipeline-graph-toggle]').first().click();
  await page.locator('[data-testid=pipeline-graph] img').waitFor({ timeout: STEP_MS });
  await page.waitForFunction(() => {
    const i = document.querySelector('[data-testid=pipeline-graph] img');
    return i && i.complete && i.naturalWidth > 0;
  }, null, { timeout: STEP_MS });
  report.graph_width = await page.locator('[data-testid=pipeline-graph] img').evaluate((i) => i.naturalWidth);
  await shot(page, 'web-job-desktop-pipeline');
  step('debug-views');

  // (b) the ladder: HLS through hls.js, DASH through dash.js, the storyboard
  await openJob(page, J.ladder, 'completed');
  report.players.hls = await play(page, 'hls');
  // hover the seek bar at 70 %: the tile shown is the storyboard cue's
  const seek = page.locator('[data-testid=player-seek]');
  const box = await seek.boundingBox();
  await page.mouse.move(box.x + box.width * 0.7, box.y + box.height / 2);
  const thumb = page.locator('[data-testid=scrub-thumb]');
  await thumb.waitFor({ timeout: STEP_MS });
  report.scrub = await thumb.evaluate((el) => {
    const cs = getComputedStyle(el);
    return { time: Number(el.getAttribute('data-time')), position: cs.backgroundPosition,
             width: cs.width, height: cs.height, image: cs.backgroundImage.startsWith('url("blob:') };
  });
  report.scrub.duration = await page.locator('[data-testid=player-video]').evaluate((v) => v.duration);
  await shot(page, 'web-job-desktop-scrub');
  await page.mouse.move(0, 0);
  report.players.dash = await play(page, 'dash');
  report.timeline_ladder = await timeline(page);
  report.artifacts_ladder = await artifacts(page);
  await shot(page, 'web-job-desktop-ladder');
  step('ladder');

  // AES-128 HLS: the key is fetched with the session
  await openJob(page, J.aes, 'completed');
  report.players.aes = await play(page, 'hls');
  step('aes');

  // per-task retry: a 409 is shown as a toast (the task was sent back by
  // someone else just before the click), then a real retry reopens the job
  await openJob(page, J.failed_a, 'failed');
  report.failed_error_code = await page.locator('[data-testid=job-error]').getAttribute('data-code');
  await page.locator('[data-testid=task-retry]').first().waitFor({ timeout: STEP_MS });
  expect409 = true;
  report.conflict_rest = await page.evaluate(async () => {
    const btn = document.querySelector('[data-testid=task-retry]');
    const task = btn.closest('tr').getAttribute('data-task-id');
    const c = JSON.parse(sessionStorage.getItem('we.credentials'));
    const res = await fetch('/v1' + location.pathname + '/tasks/' + task + '/retry', {
      method: 'POST', headers: { Authorization: 'Basic ' + btoa(c.username + ':' + c.password) } });
    btn.click();
    return res.status;
  }).catch((e) => String(e));
  await page.locator('[data-testid=toast][data-kind=error]').waitFor({ timeout: STEP_MS });
  report.conflict_toast = {
    code: await page.locator('[data-testid=toast]').getAttribute('data-code'),
    text: await page.locator('[data-testid=toast]').textContent(),
  };
  expect409 = false;
  await page.locator(`[data-testid=job-detail][data-job-id="${J.failed_a}"][data-status=completed]`)
    .waitFor({ timeout: STEP_MS * 2 });
  step('task-retry-409');

  await openJob(page, J.failed_b, 'failed');
  const failedRow = page.locator('[data-testid=tasks-table] tbody tr', { has: page.locator('[data-testid=task-retry]') }).first();
  report.retried_task = await failedRow.getAttribute('data-task-id');
  await failedRow.locator('[data-testid=task-retry]').click();
  await page.locator('[data-testid=toast][data-kind=ok]').waitFor({ timeout: STEP_MS });
  report.retry_toast = await page.locator('[data-testid=toast]').textContent();
  const seenRetry = [];
  const end = Date.now() + STEP_MS * 2;
  while (Date.now() < end) {
    const s = await page.locator('[data-testid=job-detail]').getAttribute('data-status');
    if (seenRetry[seenRetry.length - 1] !== s) seenRetry.push(s);
    if (s === 'completed') break;
    await page.waitForTimeout(100);
  }
  report.retry_statuses = seenRetry;
  report.timeline_retried = await timeline(page);
  step('task-retry');

  // cancel a running job from the page, live; then retry it as a new job.
  // A viewer on a phone sees the same job without any of those actions.
  const long = (await h.ask({ need_long_job: 1 })).job_id;
  await openJob(page, long);
  await page.locator(`[data-testid=job-detail][data-job-id="${long}"][data-status=processing]`)
    .waitFor({ timeout: STEP_MS });
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, locale: 'en-US',
                                           isMobile: true, hasTouch: true, reducedMotion: 'reduce' });
  const mpage = await phone.newPage();
  watch(mpage, 'phone');
  await login(mpage, opts.viewer, 'viewer', '/jobs/' + long);
  await openJob(mpage, long);
  await mpage.locator('[data-testid=tasks-table] tbody tr').first().waitFor({ timeout: STEP_MS });
  report.viewer_running = {
    cancel: await mpage.locator('[data-testid=job-cancel]').count(),
    retry: await mpage.locator('[data-testid=job-retry]').count(),
    remove: await mpage.locator('[data-testid=job-delete]').count(),
    task_buttons: await mpage.locator('[data-testid=tasks-table] button').count(),
  };
  report.admin_running = {
    cancel: await page.locator('[data-testid=job-cancel]').count(),
    requeue: await page.locator('[data-testid=task-requeue]').count(),
  };
  await page.click('[data-testid=job-cancel]');
  await page.locator(`[data-testid=job-detail][data-job-id="${long}"][data-status=cancelled]`)
    .waitFor({ timeout: STEP_MS });
  // the viewer's page learns it over the WebSocket alone
  await mpage.locator(`[data-testid=job-detail][data-job-id="${long}"][data-status=cancelled]`)
    .waitFor({ timeout: STEP_MS });
  report.timeline_cancelled = await timeline(page);
  report.cancel_retry_tasks = await page.locator('[data-testid=task-retry]').count();
  await page.click('[data-testid=job-retry]');
  await page.waitForFunction((old) => {
    const e = document.querySelector('[data-testid=job-detail]');
    return e && e.getAttribute('data-job-id') !== old && location.pathname.endsWith(e.getAttribute('data-job-id'));
  }, long, { timeout: STEP_MS });
  report.cancelled_job = long;
  report.retry_job = await page.locator('[data-testid=job-detail]').getAttribute('data-job-id');
  report.job_retry_toast = await page.locator('[data-testid=toast][data-kind=ok]').textContent({ timeout: STEP_MS });
  // what the API says of it, before it is deleted below
  report.retry_job_json = await page.evaluate(async (id) => {
    const c = JSON.parse(sessionStorage.getItem('we.credentials'));
    const res = await fetch('/v1/jobs/' + id, { headers: { Authorization: 'Basic ' + btoa(c.username + ':' + c.password) } });
    return res.json();
  }, report.retry_job);
  await page.click('[data-testid=job-cancel]'); // not to keep the workers busy
  await page.locator('[data-testid=job-detail][data-status=cancelled]').waitFor({ timeout: STEP_MS });
  step('cancel-retry');
  // delete: back to the list
  await page.click('[data-testid=job-delete]');
  await page.locator('[data-testid=jobs-table]').waitFor({ timeout: STEP_MS });
  report.after_delete = new URL(page.url()).pathname;
  step('delete');

  // the viewer: the failed-then-retried and the ladder job, on a phone
  await openJob(mpage, J.ladder, 'completed');
  await loaded(mpage);
  await mpage.locator('[data-testid=player][data-ready=true]').waitFor({ timeout: STEP_MS });
  report.viewer_done = {
    retry: await mpage.locator('[data-testid=job-retry]').count(),
    remove: await mpage.locator('[data-testid=job-delete]').count(),
    task_buttons: await mpage.locator('[data-testid=tasks-table] button').count(),
  };
  report.phone_overflow_free = await noOverflow(mpage);
  await shot(mpage, 'web-job-phone-ladder');
  await openJob(mpage, J.failed_b, 'completed');
  await loaded(mpage);
  report.phone_overflow_free_tasks = await noOverflow(mpage);
  await shot(mpage, 'web-job-phone-tasks');
  step('viewer');
  await phone.close();
  await desk.close();
}

h.run(scenario, { launchArgs: ['--autoplay-policy=no-user-gesture-required'],
                  failurePrefix: 'web-job-failure-', failureText: 3000 });
