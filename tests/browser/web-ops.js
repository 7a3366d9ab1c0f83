#!/usr/bin/env node
// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Drives the dashboard's operations pages (workers, worker detail, plugins,
// audit log, error events, the dashboard's health card and charts) in
// headless Chromium against a running webencoded, for test_web_ops.py:
//
//   node web-ops.js --base URL --admin USER:PASS --viewer USER:PASS --shots DIR
//
// Asks its caller over stdio, one JSON object a line: {"ask": "worker",
// "id": …} (the caller answers with GET /v1/workers/{id}), {"ask":
// "report_error"} (the caller POSTs a front-end error and answers with its
// message and id), {"ask": "plugins"} (the status of GET /v1/plugins); prints
// {"step": …} as it goes and one final {"report": {…}}. Exits 0 after the
// report (the caller judges it), 3 when the harness itself could not run.
'use strict';
'use strict';

const fs = require('fs');

const h = require('./harness').start({
  name: 'web-ops.js',
  args: ['base', 'admin', 'viewer', 'shots'],
  usage: '--base URL --admin U:P --viewer U:P --shots DIR',
  stepEnv: 'WE_DASHBOARD_STEP_MS',
  stepMs: 30000,
  report: { overflow: {} },
});
const { opts, report, STEP_MS, step, shot, login, nav, noOverflow } = h;
const ask = (what, extra) => h.ask(Object.assign({ ask: what }, extra || {}));

// responses the scenario itself expects to fail (the plugins API while it
// does not exist yet)
const expectedHttp = [];
const isExpected = (url) => expectedHttp.some((p) => url.startsWith(opts.base + p));

function watch(page, label) {
  h.watch(page, label, {
    // Chromium logs every refused request; the expected ones are not errors
    console: (msg, line, url) => (msg.text().startsWith('Failed to load resource') && isExpected(url)
      ? null : report.console_errors),
    http: (r) => (isExpected(r.url()) ? null : report.http_errors),
  });
}

async function points(page, chart) {
  return Number(await page.locator(`[data-testid=${chart}]`).getAttribute('data-points'));
}

async function dashboard(page, prefix) {
  await page.locator('[data-testid=ws-state][data-state=open]').waitFor({ timeout: STEP_MS });
  await page.locator('[data-testid=health-card]').waitFor({ timeout: STEP_MS });
  // the charts: Recharts arrives as its own chunk, then draws the lines
  await page.locator('[data-testid=chart-workers] .recharts-line path').first().waitFor({ state: 'attached', timeout: STEP_MS });
  const p0 = await points(page, 'chart-workers');
  await page.waitForFunction((p) => Number(document.querySelector('[data-testid=chart-workers]')
    .getAttribute('data-points')) >= p + 3, p0, { timeout: STEP_MS });
  const r = {
    points: [p0, await points(page, 'chart-workers')],
    jobs_points: await points(page, 'chart-jobs'),
    cpu_points: await points(page, 'chart-cpu'),
    health_reported: await page.locator('[data-testid=health-card]').getAttribute('data-reported'),
    database: await page.locator('[data-testid=health-database]').getAttribute('data-state'),
    queue: await page.locator('[data-testid=health-queue]').getAttribute('data-state'),
    success_pct: await page.locator('[data-testid=stat-success-pct]').textContent(),
    line_path: await page.locator('[data-testid=chart-workers] .recharts-line path').first().getAttribute('d'),
  };
  if (r.cpu_points > 0)
    await page.locator('[data-testid=chart-cpu] .recharts-line path').first().waitFor({ state: 'attached', timeout: STEP_MS });
  await shot(page, prefix + '-dashboard');
  return r;
}

async function workersList(page) {
  await page.locator('[data-testid=workers-table][data-live=true]').waitFor({ timeout: STEP_MS });
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=workers-table] tr[data-worker-id]').length >= 2,
    null, { timeout: STEP_MS });
  return page.$$eval('[data-testid=workers-table] tr[data-worker-id]', (rows) => rows.map((r) => ({
    id: r.getAttribute('data-worker-id'),
    status: r.querySelector('[data-status]').getAttribute('data-status'),
    drain: !!r.querySelector('[data-testid=worker-drain]'),
    remove: !!r.querySelector('[data-testid=worker-remove]'),
  })));
}

async function waitRowStatus(page, id, want) {
  await page.locator(`tr[data-worker-id="${id}"] [data-status="${want}"]`).waitFor({ timeout: STEP_MS });
}

// --- admin at 1280x800: the whole tour ---
async function admin(browser) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-US',
                                         reducedMotion: 'reduce', acceptDownloads: true });
  const page = await ctx.newPage();
  watch(page, 'desktop');
  await login(page, opts.admin, 'admin');
  report.dashboard = await dashboard(page, 'desktop');
  step('dashboard');

  await nav(page, '/workers');
  report.workers = await workersList(page);
  await shot(page, 'desktop-workers');
  const id = report.workers[0].id;
  report.drained_id = id;
  // drain with confirmation: the row turns "draining" live, the API agrees
  await page.click(`tr[data-worker-id="${id}"] [data-testid=worker-drain]`);
  await page.locator('[data-testid=confirm-dialog]').waitFor({ timeout: STEP_MS });
  await shot(page, 'desktop-workers-confirm');
  await page.click('[data-testid=confirm-ok]');
  await waitRowStatus(page, id, 'draining');
  report.rest_after_drain = (await ask('worker', { id })).status;
  await page.click(`tr[data-worker-id="${id}"] [data-testid=worker-undrain]`);
  await page.click('[data-testid=confirm-ok]');
  await page.locator(`tr[data-worker-id="${id}"] [data-status=draining]`).waitFor({ state: 'detached', timeout: STEP_MS });
  report.rest_after_undrain = (await ask('worker', { id })).status;
  step('drain-undrain');

  // the other worker's detail page
  const other = report.workers[1].id;
  await page.click(`tr[data-worker-id="${other}"] a`);
  await page.locator(`[data-testid=worker-detail][data-worker-id="${other}"]`).waitFor({ timeout: STEP_MS });
  await page.locator('[data-testid=cap-video]').waitFor({ timeout: STEP_MS });
  report.detail = {
    video: (await page.locator('[data-testid=cap-video]').textContent()).trim(),
    cores: (await page.locator('[data-testid=cap-cores]').textContent()).trim(),
    drain: await page.locator('[data-testid=worker-drain]').count(),
    uptime: (await page.locator('[data-testid=worker-uptime]').textContent()).trim(),
  };
  // the resource mini-charts, when the worker reports `resources`: two samples
  report.detail.cpu_chart_points = await page.waitForFunction(() => {
    const e = document.querySelector('[data-testid=worker-chart-cpu]');
    return e && Number(e.getAttribute('data-points')) >= 2 && Number(e.getAttribute('data-points'));
  }, null, { timeout: 5000 }).then((h) => h.jsonValue()).catch(() => 0);
  await shot(page, 'desktop-worker-detail');
  step('worker-detail');

  // plugins
  const backend = await ask('plugins');
  report.plugins_status = backend.status;
  if (backend.status === 404) expectedHttp.push('/v1/plugins');
  await nav(page, '/settings/plugins');
  if (backend.status === 200) {
    await page.locator('[data-testid=plugins-table] tr[data-plugin-id]').first().waitFor({ timeout: STEP_MS });
    report.plugin_ids = await page.$$eval('tr[data-plugin-id]', (rows) => rows.map((r) => r.getAttribute('data-plugin-id')));
    await shot(page, 'desktop-plugins');
    await page.click('tr[data-plugin-id="storage-fs"] [data-testid=plugin-open]');
    await page.locator('[data-testid=plugin-dialog]').waitFor({ timeout: STEP_MS });
    const editor = page.locator('[data-testid=plugin-config]');
    const original = await editor.inputValue();
    await editor.fill('{"root": ');
    await page.locator('[data-testid=plugin-config-invalid]').waitFor({ timeout: STEP_MS });
    report.invalid_json_save_disabled = await page.locator('[data-testid=plugin-save]').isDisabled();
    await editor.fill('{"password": "hunter2"}');
    await page.locator('[data-testid=plugin-secret-warning]').waitFor({ timeout: STEP_MS });
    report.secret_warning = true;
    // the client only warns; the server refuses with 422 WE-PLG-003, shown
    expectedHttp.push('/v1/plugins/storage-fs/config');
    await page.click('[data-testid=plugin-save]');
    await page.locator('[data-testid=plugin-save-error]').waitFor({ timeout: STEP_MS });
    report.plugin_save_error = await page.locator('[data-testid=plugin-save-error]').textContent();
    await shot(page, 'desktop-plugin-refused');
    await editor.fill(original);
    await page.click('[data-testid=plugin-test]');
    await page.locator('[data-testid=plugin-test-result]').waitFor({ timeout: STEP_MS });
    report.plugin_test_ok = await page.locator('[data-testid=plugin-test-result]').getAttribute('data-ok');
    report.plugin_test_text = await page.locator('[data-testid=plugin-test-result]').textContent();
    await shot(page, 'desktop-plugin-dialog');
    await page.keyboard.press('Escape');
    await page.locator('[data-testid=plugin-dialog]').waitFor({ state: 'detached', timeout: STEP_MS });
  } else {
    await page.locator('.alert[role=alert]').waitFor({ timeout: STEP_MS });
    await shot(page, 'desktop-plugins');
  }
  step('plugins');

  // audit: the drain is listed; the CSV export downloads a file with it
  await nav(page, '/settings/audit');
  await page.locator('[data-testid=audit-table]').waitFor({ timeout: STEP_MS });
  await page.fill('[data-testid=audit-action]', 'worker.');
  await page.click('[data-testid=audit-apply]');
  // the filtered page replaced the first one (it stays shown until then)
  await page.locator('[data-testid=audit-table][data-stale=false] tr[data-action="worker.drain"]').first()
    .waitFor({ timeout: STEP_MS });
  report.audit_rows = await page.$$eval('[data-testid=audit-table] tr[data-action]',
    (rows) => rows.map((r) => [r.getAttribute('data-action'), r.getAttribute('data-resource')]));
  await shot(page, 'desktop-audit');
  const [download] = await Promise.all([page.waitForEvent('download', { timeout: STEP_MS }),
                                        page.click('[data-testid=audit-csv]')]);
  report.csv_name = download.suggestedFilename();
  report.csv = fs.readFileSync(await download.path(), 'utf8');
  step('audit');

  // error events: a front-end report shows and is marked resolved
  const reported = await ask('report_error');
  report.error_id = reported.id;
  await nav(page, '/settings/errors');
  const row = `tr[data-error-id="${reported.id}"]`;
  await page.locator(row).waitFor({ timeout: STEP_MS });
  await page.click(`${row} [data-testid=error-toggle]`);
  await page.locator('[data-testid=error-detail]').waitFor({ timeout: STEP_MS });
  report.error_detail = await page.locator('[data-testid=error-detail]').textContent();
  await shot(page, 'desktop-errors');
  await page.click(`${row} [data-testid=error-resolve]`);
  await page.locator(row).waitFor({ state: 'detached', timeout: STEP_MS }); // leaves the "open" list
  await page.selectOption('[data-testid=errors-status]', 'true');
  await page.locator(`[data-testid=errors-table][data-stale=false] ${row}[data-resolved=true]`).waitFor({ timeout: STEP_MS });
  step('errors');

  // back on the dashboard: the samples taken before are still there
  await nav(page, '/');
  await page.locator('[data-testid=chart-workers] .recharts-line path').first().waitFor({ state: 'attached', timeout: STEP_MS });
  report.points_after_return = await points(page, 'chart-workers');
  await ctx.close();
}

// --- admin at 390x844: every page fits the phone ---
async function phoneAdmin(browser) {
  const ctx = await browser.newContext({ viewport: { width: 390, height: 844 }, locale: 'en-US',
                                         isMobile: true, hasTouch: true, reducedMotion: 'reduce' });
  const page = await ctx.newPage();
  watch(page, 'phone');
  await login(page, opts.admin, 'admin');
  report.phone_dashboard = await dashboard(page, 'phone');
  report.overflow.dashboard = await noOverflow(page);
  await nav(page, '/workers');
  const workers = await workersList(page);
  report.overflow.workers = await noOverflow(page);
  await shot(page, 'phone-workers');
  await page.click(`tr[data-worker-id="${workers[0].id}"] a`);
  await page.locator('[data-testid=worker-capabilities]').waitFor({ timeout: STEP_MS });
  report.overflow.worker_detail = await noOverflow(page);
  await shot(page, 'phone-worker-detail');
  await page.click('[data-testid=worker-drain]');
  await page.locator('[data-testid=confirm-dialog]').waitFor({ timeout: STEP_MS });
  await shot(page, 'phone-worker-confirm');
  await page.click('[data-testid=confirm-dialog] [data-testid=dialog-close]');
  await page.locator('[data-testid=confirm-dialog]').waitFor({ state: 'detached', timeout: STEP_MS });
  await nav(page, '/settings/plugins');
  if (report.plugins_status === 200) {
    await page.locator('tr[data-plugin-id]').first().waitFor({ timeout: STEP_MS });
    report.overflow.plugins = await noOverflow(page);
    await shot(page, 'phone-plugins');
    await page.locator('[data-testid=plugin-open]').first().click();
    await page.locator('[data-testid=plugin-dialog]').waitFor({ timeout: STEP_MS });
    report.overflow.plugin_dialog = await noOverflow(page);
    await shot(page, 'phone-plugin-dialog');
    await page.click('[data-testid=plugin-dialog] [data-testid=dialog-close]');
  } else {
    await page.locator('.alert[role=alert]').waitFor({ timeout: STEP_MS });
    await shot(page, 'phone-plugins');
  }
  await nav(page, '/settings/audit');
  await page.locator('[data-testid=audit-table] tr[data-action]').first().waitFor({ timeout: STEP_MS });
  report.overflow.audit = await noOverflow(page);
  await shot(page, 'phone-audit');
  await nav(page, '/settings/errors');
  await page.selectOption('[data-testid=errors-status]', '');
  await page.locator('[data-testid=errors-table][data-stale=false] tr[data-error-id]').first().waitFor({ timeout: STEP_MS });
  await page.locator('[data-testid=errors-table] [data-testid=error-toggle]').first().click();
  await page.locator('[data-testid=error-detail]').waitFor({ timeout: STEP_MS });
  report.overflow.errors = await noOverflow(page);
  await shot(page, 'phone-errors');
  step('phone');
  await ctx.close();
}

// --- viewer: workers read-only, no admin pages ---
async function viewer(browser) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-US', reducedMotion: 'reduce' });
  const page = await ctx.newPage();
  watch(page, 'viewer');
  await login(page, opts.viewer, 'viewer');
  report.viewer_nav = await page.$$eval('nav a', (as) => as.map((a) => a.getAttribute('href')));
  await nav(page, '/workers');
  report.viewer_workers = await workersList(page);
  await shot(page, 'viewer-workers');
  report.viewer_forbidden = {};
  for (const p of ['/settings/plugins', '/settings/audit', '/settings/errors']) {
    await page.goto(opts.base + p, { waitUntil: 'load' });
    await page.locator('[data-testid=forbidden]').waitFor({ timeout: STEP_MS });
    report.viewer_forbidden[p] = (await page.locator('[data-testid=forbidden]').textContent()).trim();
  }
  await shot(page, 'viewer-forbidden');
  step('viewer');
  await ctx.close();
}

h.run(async (browser) => {
  await admin(browser);
  await phoneAdmin(browser);
  await viewer(browser);
});
