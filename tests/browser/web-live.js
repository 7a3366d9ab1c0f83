#!/usr/bin/env node
// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Drives the stream studio of a stream going live in headless Chromium
// against a running webencoded with live ingest on, for test_web_live.py:
//
//   node web-live.js --base URL --operator USER:PASS --viewer USER:PASS --stream ID --shots DIR
//   node web-live.js --mode abr --base URL --operator USER:PASS --stream ID --shots DIR
//
// Opens the studio off air, asks the caller to start the publisher
// ({"q": "publish"}), then measures: the LIVE badge, telemetry points in
// the charts, the hls.js preview (currentTime over ~8 s of wall time, the
// longest stall, `waiting` events, decoded frames), the session figures;
// a viewer's page (no End/Archive, the preview plays) and a phone; Stop and
// Start recording (the caller reads the API after each: {"q": "stream",
// "label": …}); End through its confirm dialog until the page shows the
// stream offline; Archive until the job link shows. One final {"report"}.
// --mode abr: a stream with a ladder; the preview's rendition picker lists
// the master playlist's renditions, and picking one plays it.
'use strict';

const h = require('./harness').start({
  name: 'web-live.js',
  args: ['base', 'operator', 'stream', 'shots'],
  optional: ['viewer', 'mode'],
  needed: (o) => (o.mode === 'abr' ? ['base', 'operator', 'stream', 'shots'] : ['base', 'operator', 'viewer', 'stream', 'shots']),
  stepEnv: 'WE_DASHBOARD_STEP_MS',
  stepMs: 30000,
  report: { overflow: {}, recording: {}, recording_failures: [] },
});
const { opts, report } = h;
const PHONE = { width: 390, height: 844 };
const studio = () => opts.base + '/streams/' + opts.stream;

// The recording route's failures are kept apart (recording_failures): the
// test names them with the POST's answer.
function watch(page, label) {
  h.watch(page, label, {
    http: (r) => (r.url().endsWith('/recording') ? report.recording_failures : report.http_errors),
    console: (msg, line, url) => (url.endsWith('/recording') ? report.recording_failures : report.console_errors),
  });
}

// Plays for `ms` of wall time and tells how the preview fared: currentTime
// gained, the longest stretch without progress (sampled every 100 ms), the
// `waiting` events, frames decoded and dropped.
async function playFor(page, ms) {
  const video = page.locator('[data-testid=preview-video]');
  await video.waitFor({ timeout: h.STEP_MS });
  // playing: frames decoded and the clock moving
  await page.waitForFunction(() => {
    const v = document.querySelector('[data-testid=preview-video]');
    return v && v.readyState >= 3 && v.currentTime > 0 && !v.paused;
  }, null, { timeout: h.STEP_MS, polling: 200 });
  return page.evaluate((wall) => new Promise((resolve) => {
    const v = document.querySelector('[data-testid=preview-video]');
    let waiting = 0;
    v.addEventListener('waiting', () => waiting++);
    const t0 = v.currentTime;
    const start = performance.now();
    let lastT = t0;
    let lastMove = start;
    let stall = 0;
    const timer = setInterval(() => {
      const now = performance.now();
      if (v.currentTime !== lastT) {
        lastT = v.currentTime;
        lastMove = now;
      }
      stall = Math.max(stall, now - lastMove);
      if (now - start >= wall) {
        clearInterval(timer);
        const q = v.getVideoPlaybackQuality();
        resolve({ advanced_s: v.currentTime - t0, wall_s: (now - start) / 1000, longest_stall_ms: Math.round(stall),
                  waiting_events: waiting, frames: q.totalVideoFrames, dropped: q.droppedVideoFrames,
                  width: v.videoWidth, height: v.videoHeight,
                  behind_edge_s: v.seekable.length ? v.seekable.end(v.seekable.length - 1) - v.currentTime : null });
      }
    }, 100);
  }), ms);
}

const attr = (page, testid, name) => page.getAttribute(`[data-testid=${testid}]`, name);

async function operatorLive(page) {
  h.step('wait live');
  const t0 = Date.now();
  await h.ask({ q: 'publish' });
  await page.locator('[data-testid=stream-studio][data-live=true]').waitFor({ timeout: h.STEP_MS });
  report.live_after_ms = Date.now() - t0;
  report.badge = (await page.locator('.page-head [data-testid=live-badge]').first().textContent()).trim();

  h.step('telemetry');
  await page.waitForFunction(() => {
    const c = document.querySelector('[data-testid=stream-telemetry]');
    const p = document.querySelector('[data-testid=tel-bitrate]');
    return c && Number(c.dataset.samples) >= 3 && p && Number(p.dataset.points) >= 3;
  }, null, { timeout: h.STEP_MS, polling: 250 });
  report.telemetry = {
    samples: Number(await attr(page, 'stream-telemetry', 'data-samples')),
    bitrate_points: Number(await attr(page, 'tel-bitrate', 'data-points')),
    fps_points: Number(await attr(page, 'tel-fps', 'data-points')),
    curves: await page.locator('[data-testid=tel-bitrate] .recharts-line-curve, [data-testid=tel-bitrate] path.recharts-curve').count(),
  };

  h.step('preview');
  await page.locator('[data-testid=stream-preview][data-ready=true]').waitFor({ timeout: h.STEP_MS });
  report.preview = await playFor(page, 8000);
  report.preview_error = await page.locator('[data-testid=preview-error]').count();
  report.renditions = await page.locator('[data-testid=preview-rendition]').count();

  h.step('session');
  const samples = Number(await attr(page, 'stream-telemetry', 'data-samples'));
  report.session = {
    online_s: Number(await attr(page, 'session-online', 'data-seconds')),
    online_text: await page.locator('[data-testid=session-online]').textContent(),
    bytes: await attr(page, 'session-bytes', 'data-bytes'),
    viewers: await attr(page, 'session-viewers', 'data-viewers'),
    peak: await attr(page, 'session-viewers', 'data-peak'),
    health: await page.locator('[data-testid=session-health]').count() ? await attr(page, 'session-health', 'data-health') : null,
    video: await page.locator('[data-testid=session-video]').textContent(),
    video_level: await attr(page, 'session-video', 'data-level'),
    audio: await page.locator('[data-testid=session-audio]').textContent(),
    recording: await attr(page, 'session-recording', 'data-recording'),
    samples,
  };
  // "online for" ticks with the clock
  await page.waitForTimeout(2100);
  report.session.online_s_later = Number(await attr(page, 'session-online', 'data-seconds'));
  await h.shot(page, 'desktop-stream-live');
}

async function viewerLive(browser) {
  h.step('viewer');
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-US', reducedMotion: 'reduce' });
  const page = await ctx.newPage();
  watch(page, 'viewer');
  await h.login(page, opts.viewer, 'viewer');
  await page.goto(studio(), { waitUntil: 'load' });
  await page.locator('[data-testid=stream-studio][data-live=true]').waitFor({ timeout: h.STEP_MS });
  const v = {
    actions: await page.locator('[data-testid=stream-end], [data-testid=stream-archive-now], [data-testid=stream-recording], ' +
      '[data-testid=stream-live-actions], [data-testid=stream-delete], [data-testid=ingest-reveal]').count(),
  };
  await page.locator('[data-testid=stream-preview][data-ready=true]').waitFor({ timeout: h.STEP_MS });
  v.preview = await playFor(page, 5000);
  v.overflow = await h.overflowFacts(page, 1280);
  await h.shot(page, 'desktop-stream-live-viewer');
  report.viewer = v;
  await ctx.close();
}

async function phoneLive(browser) {
  h.step('phone');
  const ctx = await browser.newContext({ viewport: PHONE, isMobile: true, hasTouch: true, locale: 'en-US', reducedMotion: 'reduce' });
  const page = await ctx.newPage();
  watch(page, 'phone');
  await h.login(page, opts.operator, 'operator');
  await page.goto(studio(), { waitUntil: 'load' });
  await page.locator('[data-testid=stream-studio][data-live=true]').waitFor({ timeout: h.STEP_MS });
  await page.locator('[data-testid=stream-telemetry]').waitFor({ timeout: h.STEP_MS });
  await page.locator('[data-testid=stream-preview][data-ready=true]').waitFor({ timeout: h.STEP_MS });
  report.phone_preview = await playFor(page, 3000);
  report.overflow.studio_live = await h.overflowFacts(page, PHONE.width);
  await h.shot(page, 'phone-stream-live');
  await ctx.close();
}

// one click of the recording button: the POST's answer, the button after
async function toggleRecording(page, label) {
  const button = page.locator('[data-testid=stream-recording]');
  const before = await button.getAttribute('data-recording');
  const [res] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/v1/streams/' + opts.stream + '/recording') && r.request().method() === 'POST',
                         { timeout: h.STEP_MS }),
    button.click(),
  ]);
  const out = { before, status: res.status(), body: await res.json().catch(() => null) };
  if (res.ok()) {
    const want = before === 'true' ? 'false' : 'true';
    await page.locator(`[data-testid=stream-recording][data-recording=${want}]`).waitFor({ timeout: h.STEP_MS });
    out.after = await button.getAttribute('data-recording');
    out.session = await attr(page, 'session-recording', 'data-recording');
    out.api = await h.ask({ q: 'stream', label });
  } else {
    out.error_shown = await page.locator('[data-testid=live-action-error]').count();
  }
  report.recording[label] = out;
  return out;
}

// a stream with a ladder: the picker, each rendition playing at its size
async function abr(browser) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-US', reducedMotion: 'reduce' });
  const page = await ctx.newPage();
  watch(page, 'abr');
  await h.login(page, opts.operator, 'operator');
  await page.goto(studio(), { waitUntil: 'load' });
  await page.locator('[data-testid=stream-studio]').waitFor({ timeout: h.STEP_MS });
  h.step('abr live');
  await h.ask({ q: 'publish' });
  await page.locator('[data-testid=stream-studio][data-live=true]').waitFor({ timeout: h.STEP_MS });
  await page.locator('[data-testid=stream-preview][data-ready=true]').waitFor({ timeout: h.STEP_MS });
  const picker = page.locator('[data-testid=preview-rendition]');
  await picker.waitFor({ timeout: h.STEP_MS });
  report.options = await picker.locator('option').evaluateAll((os) => os.map((o) => ({ value: o.value, label: o.textContent })));
  report.auto = await playFor(page, 3000);
  report.picked = {};
  for (const o of report.options.filter((x) => x.value !== '-1')) {
    h.step('abr pick ' + o.label);
    await picker.selectOption(o.value);
    // currentLevel switches at once (the buffer is flushed): give it a moment
    await page.waitForTimeout(3000);
    report.picked[o.label] = await playFor(page, 3000);
  }
  await h.shot(page, 'desktop-stream-abr');
  await ctx.close();
}

h.run(async (browser) => {
  if (opts.mode === 'abr') {
    await abr(browser);
    return;
  }
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-US', reducedMotion: 'reduce' });
  const page = await ctx.newPage();
  watch(page, 'desktop');
  await h.login(page, opts.operator, 'operator');
  await page.goto(studio(), { waitUntil: 'load' });
  await page.locator('[data-testid=stream-studio][data-live=false]').waitFor({ timeout: h.STEP_MS });
  report.offline_actions = await page.locator('[data-testid=stream-live-actions]').count();

  await operatorLive(page);
  await viewerLive(browser);
  await phoneLive(browser);
  // the viewer's player was a second viewer (another user): the peak says so
  await page.waitForFunction(() => Number(document.querySelector('[data-testid=session-viewers]')?.dataset.peak) >= 2,
                             null, { timeout: 5000, polling: 250 }).catch(() => undefined);
  report.peak_after_viewer = await attr(page, 'session-viewers', 'data-peak');

  h.step('recording');
  const stop = await toggleRecording(page, 'stop');
  if (stop.status === 200) await toggleRecording(page, 'start');

  h.step('end');
  report.publisher_before_end = (await h.ask({ q: 'publisher' })).running;
  await page.click('[data-testid=stream-end]');
  await page.locator('[data-testid=confirm-dialog]').waitFor({ timeout: h.STEP_MS });
  const tEnd = Date.now();
  const [end] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/v1/streams/' + opts.stream + '/end') && r.request().method() === 'POST', { timeout: h.STEP_MS }),
    page.click('[data-testid=confirm-dialog] [data-testid=confirm-ok]'),
  ]);
  report.end_status = end.status();
  // the preview stops with the End's answer (or at the latest with stream.ended)
  await page.locator('[data-testid=stream-preview]').waitFor({ state: 'detached', timeout: h.STEP_MS });
  report.preview_gone_at_ms = Date.now() - tEnd;
  report.preview_after_end = await page.locator('[data-testid=stream-preview]').count();
  await page.locator('[data-testid=stream-studio][data-live=false]').waitFor({ timeout: h.STEP_MS });
  report.offline_after_ms = Date.now() - tEnd;
  report.badge_after_end = (await page.locator('.page-head [data-testid=live-badge]').first().textContent()).trim();
  await page.locator('[data-testid=stream-history] tr[data-session-id]').first().waitFor({ timeout: h.STEP_MS });
  report.history_rows = await page.locator('[data-testid=stream-history] tr[data-session-id]').count();

  h.step('archive');
  const [arch] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/v1/streams/' + opts.stream + '/archive') && r.request().method() === 'POST', { timeout: h.STEP_MS }),
    page.click('[data-testid=stream-archive-now]'),
  ]);
  report.archive_status = arch.status();
  report.archive_body = await arch.json().catch(() => null);
  const link = page.locator('[data-testid=archive-job-link]');
  await link.waitFor({ timeout: h.STEP_MS });
  report.archive_link = { href: await link.getAttribute('href'), job: await link.getAttribute('data-job-id') };
  await h.shot(page, 'desktop-stream-ended');
  await link.click();
  await page.waitForURL(opts.base + report.archive_link.href, { timeout: h.STEP_MS });
  report.job_page = page.url();
  await ctx.close();
});
