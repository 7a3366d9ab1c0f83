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

const fs = require('fs');
const path = require('path');
const readline = require('readline');

const CHROMIUM = process.env.WE_CHROMIUM || '/usr/bin/chromium';
const STEP_MS = Number(process.env.WE_DASHBOARD_STEP_MS || 30000);

function die(msg) {
  process.stderr.write('web-ops.js: ' + msg + '\n');
  process.exit(3);
}

function parseArgs(argv) {
  const o = {};
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i].replace(/^--/, '');
    if (!['base', 'admin', 'viewer', 'shots'].includes(k) || i + 1 >= argv.length)
      die('usage: node web-ops.js --base URL --admin U:P --viewer U:P --shots DIR');
    o[k] = argv[i + 1];
  }
  for (const k of ['base', 'admin', 'viewer', 'shots'])
    if (!o[k]) die('--' + k + ' is required');
  return o;
}

let playwright;
try {
  playwright = require(path.join(__dirname, 'node_modules', 'playwright-core'));
} catch (e) {
  die('playwright-core is missing: npm ci --prefix tests/browser (' + e.message + ')');
}
if (!fs.existsSync(CHROMIUM))
  die(CHROMIUM + ' is missing: apt-get install chromium');

const opts = parseArgs(process.argv.slice(2));
fs.mkdirSync(opts.shots, { recursive: true });

const lines = readline.createInterface({ input: process.stdin });
const pending = [];
const waiting = [];
lines.on('line', (l) => {
  const w = waiting.shift();
  if (w) w(l);
  else pending.push(l);
});
function readLine() {
  if (pending.length) return Promise.resolve(pending.shift());
  return new Promise((resolve) => waiting.push(resolve));
}
function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}
async function ask(what, extra) {
  emit(Object.assign({ ask: what }, extra || {}));
  return JSON.parse(await readLine());
}

const report = { steps: [], console_errors: [], http_errors: [], screenshots: [], overflow: {} };
// responses the scenario itself expects to fail (the plugins API while it
// does not exist yet)
const expectedHttp = [];

function step(name) {
  report.steps.push({ step: name, t: Date.now() });
  emit({ step: name });
}

const pages = [];
function watch(page, label) {
  pages.push([label, page]);
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    // Chromium logs every refused request; the expected ones are not errors
    const url = (msg.location() || {}).url || '';
    if (msg.text().startsWith('Failed to load resource') && expectedHttp.some((p) => url.startsWith(opts.base + p)))
      return;
    report.console_errors.push(label + ': ' + msg.text() + (url ? ' (' + url + ')' : ''));
  });
  page.on('pageerror', (err) => report.console_errors.push(label + ' pageerror: ' + err.message));
  page.on('response', (r) => {
    if (r.status() >= 400 && r.url().startsWith(opts.base + '/') &&
        !expectedHttp.some((p) => r.url().startsWith(opts.base + p)))
      report.http_errors.push(label + ': ' + r.status() + ' ' + r.url());
  });
  page.on('crash', () => report.console_errors.push(label + ': renderer crashed'));
}

async function shot(page, name) {
  const file = path.join(opts.shots, name + '.png');
  await page.screenshot({ path: file, fullPage: true });
  report.screenshots.push(file);
}

async function noOverflow(page) {
  return page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1);
}

async function login(page, creds, role) {
  const [user, pass] = creds.split(/:(.*)/s);
  await page.goto(opts.base + '/', { waitUntil: 'load' });
  await page.locator('[data-testid=login-form]').waitFor({ timeout: STEP_MS });
  await page.fill('input[name=username]', user);
  await page.fill('input[name=password]', pass);
  await page.click('[data-testid=login-form] button[type=submit]');
  await page.locator(`[data-testid=user][data-role=${role}]`).waitFor({ timeout: STEP_MS });
}

// follows a nav link (opening the drawer on a phone)
async function nav(page, href) {
  const link = page.locator(`nav a[href="${href}"]`);
  if (!(await page.evaluate(() => document.querySelector('aside.sidebar').getBoundingClientRect().right > 0))) {
    await page.click('[data-testid=nav-toggle]');
    await link.waitFor({ state: 'visible', timeout: STEP_MS });
    await page.waitForTimeout(300); // the drawer's slide-in
  }
  await link.click();
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

async function main() {
  const browser = await playwright.chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--disable-dev-shm-usage', '--disable-gpu', '--no-first-run',
           '--disable-background-networking', '--disable-component-update',
           '--disable-background-timer-throttling', '--disable-renderer-backgrounding'],
    timeout: 60000,
  }).catch((e) => die('Chromium did not start: ' + e.message));
  try {
    await admin(browser);
    await phoneAdmin(browser);
    await viewer(browser);
  } catch (e) {
    report.error = String(e && e.stack || e);
    report.failure_pages = {};
    for (const [label, page] of pages) {
      if (page.isClosed()) continue;
      await shot(page, 'failure-' + label).catch(() => undefined);
      report.failure_pages[label] = await page.evaluate(
        () => location.href + '\n' + document.body.innerText.slice(0, 2000)).catch((x) => String(x));
    }
  } finally {
    await browser.close().catch(() => undefined);
  }
  emit({ report });
  process.exit(0);
}

main().catch((e) => die(String(e && e.stack || e)));
