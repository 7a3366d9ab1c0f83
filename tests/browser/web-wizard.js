#!/usr/bin/env node
// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Drives the new-job wizard and the profile pages of the web dashboard (web/)
// in headless Chromium against a running webencoded, for test_web_wizard.py:
//
//   node web-wizard.js --base URL --admin USER:PASS --viewer USER:PASS \
//                      --clip FILE --cancel-clip FILE --shots DIR
//
// Prints {"step": …} lines as it goes and one final {"report": {…}} that the
// caller judges (it also checks the REST API agrees). Exits 0 after the
// report, 3 when the harness itself could not run.
'use strict';

const h = require('./harness').start({
  name: 'web-wizard.js',
  args: ['base', 'admin', 'viewer', 'clip', 'cancel-clip', 'shots'],
  usage: '--base URL --admin U:P --viewer U:P --clip FILE --cancel-clip FILE --shots DIR',
  stepEnv: 'WE_DASHBOARD_STEP_MS',
  stepMs: 60000,
  report: {
    // the refusals the test provokes on purpose (a source no storage claims,
    // a profile id that exists): each is checked by the caller
    expected_http_errors: [],
    overflow: {},
    statuses_seen: [],
  },
});
const { opts, report, STEP_MS, step, shot, login, noOverflow } = h;

// set while the page provokes an error response on purpose
let expectError = null;

function watch(page, label) {
  h.watch(page, label, {
    // Chromium logs every 4xx answer as "Failed to load resource"; the
    // provoked ones are accounted for in expected_http_errors
    console: (msg) => (expectError && /Failed to load resource: the server responded with a status of 4\d\d/.test(msg.text())
      ? null : report.console_errors),
    httpLine: (r) => label + ': ' + r.status() + ' ' + r.request().method() + ' ' + new URL(r.url()).pathname,
    http: (r, line) => (expectError && expectError.test(line) ? report.expected_http_errors : report.http_errors),
  });
}

const tid = (id) => `[data-testid="${id}"]`;

async function atStep(page, n) {
  await page.locator(`[data-testid=wizard][data-step="${n}"]`).waitFor({ timeout: STEP_MS });
}

async function next(page, n) {
  await page.click(tid('wizard-next'));
  await atStep(page, n);
}

// records every status the job page shows until it shows `want`
async function watchStatus(page, selector, want, seen) {
  const end = Date.now() + STEP_MS * 4;
  while (Date.now() < end) {
    const s = await page.locator(selector).first().getAttribute('data-status').catch(() => null);
    if (s && seen[seen.length - 1] !== s) seen.push(s);
    if (s === want) return;
    if (s === 'failed' || s === 'cancelled') throw new Error(selector + ' ended ' + s);
    await page.waitForTimeout(100);
  }
  throw new Error(selector + ' did not reach ' + want + ' (saw ' + seen.join(',') + ')');
}

// the job page after a submit: its id, and it reaching "completed" live
async function followJob(page, seen) {
  await page.waitForURL(/\/jobs\/[0-9a-f-]{36}$/, { timeout: STEP_MS });
  const id = page.url().split('/').pop();
  const detail = `[data-testid=job-detail][data-job-id="${id}"]`;
  await page.locator(detail).waitFor({ timeout: STEP_MS });
  await watchStatus(page, detail, 'completed', seen);
  return id;
}

// the admin at 1280x800: upload → job, storage browser → custom job, a
// refused source, the profile pages
async function desktopAdmin(browser) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-US', reducedMotion: 'reduce' });
  const page = await ctx.newPage();
  watch(page, 'desktop');
  // GETs of the job itself: the job page follows the job over the
  // WebSocket, so it fetches it once and never polls
  const jobGets = {};
  page.on('request', (r) => {
    const m = new URL(r.url()).pathname.match(/^\/v1\/jobs\/([0-9a-f-]{36})$/);
    if (m && r.method() === 'GET') jobGets[m[1]] = (jobGets[m[1]] || 0) + 1;
  });
  const jobPosts = [];
  page.on('request', (r) => {
    if (new URL(r.url()).pathname === '/v1/jobs' && r.method() === 'POST')
      jobPosts.push(r.headers()['idempotency-key'] || null);
  });
  await login(page, opts.admin, 'admin');
  await page.click('nav a[href="/jobs"]');
  await page.locator(tid('jobs-table')).waitFor({ timeout: STEP_MS });
  await page.click(tid('jobs-new'));
  await atStep(page, 1);
  step('wizard-open');

  // step 1, a URL with a scheme no storage has: refused before any request
  await page.fill(tid('source-url'), 'ftp://example.com/clip.mp4');
  await page.click(tid('wizard-next'));
  await page.locator(tid('source-url-error')).waitFor({ timeout: STEP_MS });
  report.client_scheme_error = (await page.locator(tid('source-url-error')).first().textContent()).trim();
  report.client_scheme_step = await page.locator('[data-testid=wizard]').getAttribute('data-step');
  await shot(page, 'desktop-wizard-1-url');

  // step 1, upload, on a throttled line (Chromium's network emulation) so
  // the bar has something to show: first one cancelled half-way …
  await page.click(tid('source-tab-upload'));
  const cdp = await ctx.newCDPSession(page);
  await cdp.send('Network.enable');
  const throttle = (bytesPerSecond) =>
    cdp.send('Network.emulateNetworkConditions', {
      offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: bytesPerSecond,
    });
  // (a file big enough that the click lands long before its last byte: a
  // small one can be fully sent, and stored, before the abort reaches it)
  await throttle(64 * 1024);
  await page.setInputFiles(tid('upload-input'), opts['cancel-clip']);
  await page.waitForFunction(() => {
    const bar = document.querySelector('[data-testid=upload-progress]');
    return bar && Number(bar.getAttribute('aria-valuenow')) > 0;
  }, null, { timeout: STEP_MS });
  await page.click(tid('upload-cancel'));
  await page.locator('[data-testid=upload-status][data-state=cancelled]').waitFor({ timeout: STEP_MS });
  report.cancelled_source = (await page.locator(`${tid('source-chosen')} .mono`).textContent()).trim();
  // … then one to the end, recording the bar's values as it goes
  await page.evaluate(() => {
    window.__progress = [];
    new MutationObserver(() => {
      const bar = document.querySelector('[data-testid=upload-progress]');
      if (bar) {
        const v = Number(bar.getAttribute('aria-valuenow'));
        if (window.__progress[window.__progress.length - 1] !== v) window.__progress.push(v);
      }
    }).observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ['aria-valuenow'] });
  });
  await throttle(512 * 1024);
  await page.setInputFiles(tid('upload-input'), opts.clip);
  await page.locator(tid('upload-done')).waitFor({ timeout: STEP_MS });
  await throttle(-1);
  report.upload_progress = await page.evaluate(() => window.__progress);
  report.upload_bar_final = await page.locator(tid('upload-progress')).getAttribute('aria-valuenow');
  const uploadedUrl = (await page.locator(`${tid('source-chosen')} .mono`).first().textContent()).trim();
  report.uploaded_url = uploadedUrl;
  await shot(page, 'desktop-wizard-1-upload');
  step('uploaded');

  // step 2: the fastest built-in profile, with its summary
  await next(page, 2);
  await page.click(tid('wizard-profile-480p_fast'));
  report.profile_card_summary = (await page.locator(tid('wizard-profile-480p_fast')).textContent()).trim();
  await shot(page, 'desktop-wizard-2-profile');
  // step 3: a priority; the packaging stays the profile's
  await next(page, 3);
  await page.fill(tid('out-priority'), '70');
  await shot(page, 'desktop-wizard-3-output');
  await next(page, 4);
  report.review_source = (await page.locator(tid('review-source')).textContent()).trim();
  await shot(page, 'desktop-wizard-4-review');
  // a double click: one job (the button's Idempotency-Key)
  await page.dblclick(tid('wizard-submit'));
  const seen1 = [];
  report.upload_job = await followJob(page, seen1);
  report.statuses_seen.push(seen1);
  report.upload_job_gets = jobGets[report.upload_job] || 0;
  await page.locator('[data-testid=outputs-table]').waitFor({ timeout: STEP_MS });
  await shot(page, 'desktop-wizard-job');
  step('upload-job-completed');

  // the storage browser: the uploaded file, with a custom profile
  await page.goto(opts.base + '/jobs/new', { waitUntil: 'load' });
  await atStep(page, 1);
  await page.click(tid('source-tab-browse'));
  const parts = uploadedUrl.replace(/^fs:\/\//, '').split('/').map(decodeURIComponent);
  const fileName = parts.pop();
  await page.locator(tid('browser-root')).first().waitFor({ timeout: STEP_MS });
  const roots = await page.locator(tid('browser-root')).count();
  let found = false;
  for (let i = 0; i < roots && !found; i++) {
    await page.locator(tid('browser-root')).nth(i).click();
    await page.locator(tid('browser-entries')).waitFor({ timeout: STEP_MS });
    if (await page.locator(`${tid('browser-folder')}[data-name="${parts[0]}"]`).count()) {
      found = true;
      for (const folder of parts) {
        await page.click(`${tid('browser-folder')}[data-name="${folder}"]`);
        await page.locator(`${tid('browser-crumbs')} >> text=${folder}`).waitFor({ timeout: STEP_MS });
      }
    } else {
      await page.click(`${tid('browser-crumbs')} button >> nth=0`);
    }
  }
  if (!found) throw new Error('no storage root holds ' + parts.join('/'));
  report.browser_crumbs = (await page.locator(tid('browser-crumbs')).textContent()).trim();
  await page.click(`${tid('browser-file')}[data-name="${fileName}"]`);
  report.browse_picked = (await page.locator(`${tid('source-chosen')} .mono`).textContent()).trim();
  await shot(page, 'desktop-wizard-1-browse');
  await next(page, 2);
  await page.click(tid('wizard-profile-custom'));
  await page.locator(tid('wizard-custom')).waitFor({ timeout: STEP_MS });
  await page.fill(tid('custom-width'), '320');
  await page.fill(tid('custom-height'), '240');
  await page.fill(tid('custom-video_bitrate_kbps'), '600');
  await page.selectOption(tid('custom-preset'), 'ultrafast');
  await shot(page, 'desktop-wizard-2-custom');
  await next(page, 3);
  await next(page, 4);
  report.review_profile = (await page.locator(tid('review-profile')).textContent()).trim();
  await page.click(tid('wizard-submit'));
  const seen2 = [];
  report.browse_job = await followJob(page, seen2);
  report.statuses_seen.push(seen2);
  step('browse-job-completed');

  // a source the service refuses: the error lands on step 1, inline
  await page.goto(opts.base + '/jobs/new', { waitUntil: 'load' });
  await atStep(page, 1);
  await page.fill(tid('source-url'), 'https://example.invalid/clip.mp4');
  await next(page, 2);
  await page.locator(tid('wizard-profile-480p_fast')).waitFor({ timeout: STEP_MS });
  await next(page, 3);
  await next(page, 4);
  expectError = /: 400 POST \/v1\/jobs$/;
  await page.click(tid('wizard-submit'));
  await page.locator(tid('wizard-server-error')).waitFor({ timeout: STEP_MS });
  expectError = null;
  report.server_error = {
    step: await page.locator('[data-testid=wizard]').getAttribute('data-step'),
    banner: (await page.locator(tid('wizard-server-error')).textContent()).trim(),
    inline: (await page.locator(tid('source-url-error')).first().textContent()).trim(),
  };
  await shot(page, 'desktop-wizard-error');
  step('server-error-shown');
  report.idempotency_keys = jobPosts;

  // profiles: the list, duplicate a built-in, edit, save, reload
  await page.goto(opts.base + '/settings/profiles', { waitUntil: 'load' });
  await page.locator(tid('profiles-table')).waitFor({ timeout: STEP_MS });
  report.profiles_rows = await page.locator(`${tid('profiles-table')} tbody tr`).count();
  report.builtin_delete_buttons = await page.locator(`tr[data-builtin=true] ${tid('profile-delete')}`).count();
  await shot(page, 'desktop-profiles');
  // a built-in opens read-only, with "Duplicate to edit"
  await page.click(`tr[data-profile-id="720p_h264"] ${tid('profile-link')}`);
  await page.locator('[data-testid=profile-editor][data-profile-id="720p_h264"]').waitFor({ timeout: STEP_MS });
  report.builtin_editor = {
    readonly: await page.locator(tid('profile-editor')).getAttribute('data-readonly'),
    save: await page.locator(tid('profile-save')).count(),
    duplicate: (await page.locator(tid('profile-duplicate')).textContent()).trim(),
  };
  await shot(page, 'desktop-profile-builtin');
  await page.click(tid('profile-duplicate'));
  await page.locator('[data-testid=profile-editor][data-readonly=false]').waitFor({ timeout: STEP_MS });
  const copyId = await page.locator(tid('profile-editor')).getAttribute('data-profile-id');
  report.copy_id = copyId;
  // a client-side check: an odd width is marked before any request
  await page.fill(tid('pf-width'), '1281');
  await page.locator(`${tid('pf-error')}[data-field=width]`).waitFor({ timeout: STEP_MS });
  report.client_field_error = (await page.locator(`${tid('pf-error')}[data-field=width]`).textContent()).trim();
  await page.fill(tid('pf-width'), '1280');
  await page.fill(tid('pf-video_bitrate_kbps'), '1800');
  await page.click(tid('pf-rung-add'));
  await page.click(tid('pf-rung-add'));
  await page.fill(tid('pf-ladder[0].name'), 'sd360');
  await page.fill(tid('pf-ladder[0].width'), '640');
  await page.fill(tid('pf-ladder[0].height'), '360');
  await page.fill(tid('pf-ladder[0].video_bitrate_kbps'), '800');
  await page.fill(tid('pf-ladder[1].name'), 'hd720');
  await page.uncheck(tid('pf-ladder[1].enabled'));
  await page.click(tid('profile-save'));
  await page.locator(tid('profile-saved')).waitFor({ timeout: STEP_MS });
  await shot(page, 'desktop-profile-editor');
  await page.reload({ waitUntil: 'load' });
  await page.locator(`[data-testid=profile-editor][data-profile-id="${copyId}"]`).waitFor({ timeout: STEP_MS });
  await page.locator(tid('pf-ladder[1].name')).waitFor({ timeout: STEP_MS });
  report.after_reload = {
    video_bitrate_kbps: await page.inputValue(tid('pf-video_bitrate_kbps')),
    rung0: [
      await page.inputValue(tid('pf-ladder[0].name')),
      await page.inputValue(tid('pf-ladder[0].width')),
      await page.inputValue(tid('pf-ladder[0].height')),
      await page.inputValue(tid('pf-ladder[0].video_bitrate_kbps')),
    ],
    rung1_enabled: await page.isChecked(tid('pf-ladder[1].enabled')),
  };
  step('profile-saved');

  // a new profile whose id exists: the server's 409, shown at the id
  await page.goto(opts.base + '/settings/profiles/new', { waitUntil: 'load' });
  await page.locator(tid('profile-editor')).waitFor({ timeout: STEP_MS });
  await page.fill(tid('pf-id'), copyId);
  await page.fill(tid('pf-name'), 'taken');
  expectError = /: 409 POST \/v1\/profiles$/;
  await page.click(tid('profile-save'));
  await page.locator(`${tid('pf-error')}[data-field=id]`).waitFor({ timeout: STEP_MS });
  expectError = null;
  report.server_field_error = (await page.locator(`${tid('pf-error')}[data-field=id]`).textContent()).trim();
  await shot(page, 'desktop-profile-server-error');

  // duplicate another and delete it, with the confirmation
  await page.goto(opts.base + '/settings/profiles', { waitUntil: 'load' });
  await page.click(`tr[data-profile-id="480p_fast"] ${tid('profile-duplicate')}`);
  await page.locator('[data-testid=profile-editor][data-readonly=false]').waitFor({ timeout: STEP_MS });
  const doomed = await page.locator(tid('profile-editor')).getAttribute('data-profile-id');
  await page.goto(opts.base + '/settings/profiles', { waitUntil: 'load' });
  await page.click(`tr[data-profile-id="${doomed}"] ${tid('profile-delete')}`);
  await page.click(`tr[data-profile-id="${doomed}"] ${tid('profile-delete-confirm')}`);
  await page.locator(`tr[data-profile-id="${doomed}"]`).waitFor({ state: 'detached', timeout: STEP_MS });
  report.deleted_profile = doomed;
  step('profile-deleted');
  await ctx.close();
}

// the admin on a phone: every wizard step and the profile pages fit
async function phoneAdmin(browser) {
  const ctx = await browser.newContext({ viewport: { width: 390, height: 844 }, locale: 'en-US', isMobile: true, hasTouch: true, reducedMotion: 'reduce' });
  const page = await ctx.newPage();
  watch(page, 'phone-admin');
  await login(page, opts.admin, 'admin');
  await page.goto(opts.base + '/jobs/new', { waitUntil: 'load' });
  await atStep(page, 1);
  report.phone_step_of = (await page.locator('.wz-step-of').textContent()).trim();
  report.overflow.wizard1 = await noOverflow(page);
  await shot(page, 'phone-wizard-1-url');
  await page.click(tid('source-tab-browse'));
  await page.locator(tid('browser-root')).first().click();
  await page.locator(tid('browser-entries')).waitFor({ timeout: STEP_MS });
  report.overflow.browse = await noOverflow(page);
  await shot(page, 'phone-wizard-1-browse');
  await page.click(tid('source-tab-upload'));
  await page.setInputFiles(tid('upload-input'), opts.clip);
  await page.locator(tid('upload-done')).waitFor({ timeout: STEP_MS });
  report.overflow.upload = await noOverflow(page);
  await shot(page, 'phone-wizard-1-upload');
  await next(page, 2);
  await page.click(tid('wizard-profile-custom'));
  report.overflow.wizard2 = await noOverflow(page);
  await shot(page, 'phone-wizard-2-profile');
  await page.click(tid('wizard-profile-720p_h264'));
  await next(page, 3);
  await page.check(tid('out-hls.enabled'));
  report.overflow.wizard3 = await noOverflow(page);
  await shot(page, 'phone-wizard-3-output');
  await next(page, 4);
  report.phone_review_hls = (await page.locator(tid('review-hls')).textContent()).trim();
  report.overflow.wizard4 = await noOverflow(page);
  await shot(page, 'phone-wizard-4-review');
  await page.goto(opts.base + '/settings/profiles', { waitUntil: 'load' });
  await page.locator(tid('profiles-table')).waitFor({ timeout: STEP_MS });
  report.overflow.profiles = await noOverflow(page);
  await shot(page, 'phone-profiles-admin');
  await page.goto(opts.base + '/settings/profiles/' + encodeURIComponent(report.copy_id), { waitUntil: 'load' });
  await page.locator('[data-testid=profile-editor][data-readonly=false]').waitFor({ timeout: STEP_MS });
  report.overflow.editor = await noOverflow(page);
  await shot(page, 'phone-profile-editor-admin');
  step('phone-admin');
  await ctx.close();
}

// the viewer on a phone: no New-job button, the profiles read-only
async function phoneViewer(browser) {
  const ctx = await browser.newContext({ viewport: { width: 390, height: 844 }, locale: 'en-US', isMobile: true, hasTouch: true, reducedMotion: 'reduce' });
  const page = await ctx.newPage();
  watch(page, 'phone-viewer');
  await login(page, opts.viewer, 'viewer');
  await page.goto(opts.base + '/jobs', { waitUntil: 'load' });
  await page.locator(tid('jobs-table')).waitFor({ timeout: STEP_MS });
  report.viewer_new_job_buttons = await page.locator(tid('jobs-new')).count();
  await page.goto(opts.base + '/jobs/new', { waitUntil: 'load' });
  await page.locator(tid('wizard-forbidden')).waitFor({ timeout: STEP_MS });
  report.viewer_wizard_forbidden = true;
  await page.goto(opts.base + '/settings/profiles', { waitUntil: 'load' });
  await page.locator(tid('profiles-table')).waitFor({ timeout: STEP_MS });
  report.viewer_profiles = {
    new: await page.locator(tid('profiles-new')).count(),
    duplicate: await page.locator(tid('profile-duplicate')).count(),
    delete: await page.locator(tid('profile-delete')).count(),
  };
  report.overflow.viewer_profiles = await noOverflow(page);
  await shot(page, 'phone-profiles');
  await page.click(`tr[data-profile-id="${report.copy_id}"] ${tid('profile-link')}`);
  await page.locator(`[data-testid=profile-editor][data-profile-id="${report.copy_id}"]`).waitFor({ timeout: STEP_MS });
  await page.locator(tid('pf-ladder[0].name')).waitFor({ timeout: STEP_MS });
  report.viewer_editor = {
    readonly: await page.locator(tid('profile-editor')).getAttribute('data-readonly'),
    save: await page.locator(tid('profile-save')).count(),
    duplicate: await page.locator(tid('profile-duplicate')).count(),
    bitrate_disabled: await page.isDisabled(tid('pf-video_bitrate_kbps')),
    rung_disabled: await page.isDisabled(tid('pf-ladder[0].enabled')),
    enabled_inputs: await page.locator('[data-testid=profile-editor] input:not([disabled]), [data-testid=profile-editor] select:not([disabled])').count(),
  };
  report.overflow.viewer_editor = await noOverflow(page);
  await shot(page, 'phone-profile-editor');
  step('phone-viewer');
  await ctx.close();
}

h.run(async (browser) => {
  await desktopAdmin(browser);
  await phoneAdmin(browser);
  await phoneViewer(browser);
});
