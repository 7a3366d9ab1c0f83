#!/usr/bin/env node
// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Drives the dashboard's settings pages (webhooks, webhook detail, API
// tokens) in headless Chromium against a running webencoded, for
// test_web_settings.py:
//
//   node web-settings.js --base URL --admin USER:PASS --viewer USER:PASS --shots DIR
//
// Asks its caller over stdio, one JSON object a line, and waits for the
// answer: {"ask": "receiver"} (the URL of the test's HTTP receiver),
// {"ask": "check", "secret", "old", "count"} (the caller verifies the
// receiver's count-th request with the secret the page showed),
// {"ask": "gone", "id"} (GET /v1/webhooks/{id}), {"ask": "token", "token"}
// (GET /v1/jobs with that bearer token), {"ask": "seed"} (a webhook made
// through the API for the phone pages); prints {"step": …} as it goes and
// one final {"report": {…}}. Exits 0 after the report (the caller judges
// it), 3 when the harness itself could not run.
'use strict';

const h = require('./harness').start({
  name: 'web-settings.js',
  args: ['base', 'admin', 'viewer', 'shots'],
  usage: '--base URL --admin U:P --viewer U:P --shots DIR',
  stepEnv: 'WE_DASHBOARD_STEP_MS',
  stepMs: 30000,
  report: { overflow: {}, checks: {}, viewer_api_calls: [] },
});
const { opts, report, STEP_MS, step, shot, login, nav, noOverflow } = h;
const ask = (what, extra) => h.ask(Object.assign({ ask: what }, extra || {}));
const PHONE_W = 390;

// requests the scenario makes fail on purpose ([method, url prefix]), while
// it does
let expected = [];
const isExpected = (method, url) => expected.some(([m, p]) => (!method || m === method) && url.startsWith(opts.base + p));

function watch(page, label) {
  const failed = new Set();
  h.watch(page, label, {
    // Chromium logs every refused request; the expected ones are not errors
    console: (msg, line, url) => (msg.text().startsWith('Failed to load resource') &&
                                  (failed.has(url) || isExpected(null, url)) ? null : report.console_errors),
    http: (r) => {
      if (!isExpected(r.request().method(), r.url())) return report.http_errors;
      failed.add(r.url());
      return null;
    },
  });
}

async function readSecret(page, dialog) {
  const d = page.locator(`[data-testid=${dialog}]`);
  await d.waitFor({ timeout: STEP_MS });
  const secret = await d.locator('[data-testid=secret-value]').inputValue();
  const text = (await d.textContent()) || '';
  return { secret, text, d };
}

async function closeSecret(page, dialog) {
  await page.click(`[data-testid=${dialog}] [data-testid=secret-done]`);
  await page.locator(`[data-testid=${dialog}]`).waitFor({ state: 'detached', timeout: STEP_MS });
}

async function deliveryRows(page) {
  return page.$$eval('[data-testid=deliveries-table] tr[data-delivery-id]', (rows) => rows.map((r) => ({
    id: r.getAttribute('data-delivery-id'),
    state: r.getAttribute('data-state'),
    status: r.getAttribute('data-status'),
    replay_of: r.getAttribute('data-replay-of'),
    event: r.querySelector('td').textContent,
  })));
}

// n rows, every one delivered (the table polls while one is on its way)
async function waitDelivered(page, n) {
  await page.waitForFunction((want) => {
    const rows = [...document.querySelectorAll('[data-testid=deliveries-table] tr[data-delivery-id]')];
    return rows.length >= want && rows.every((r) => r.getAttribute('data-state') === 'succeeded');
  }, n, { timeout: STEP_MS });
  return deliveryRows(page);
}

// --- admin at 1280x800: the whole tour ---
async function admin(browser) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-US', reducedMotion: 'reduce' });
  await ctx.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: opts.base });
  const page = await ctx.newPage();
  watch(page, 'desktop');
  await login(page, opts.admin, 'admin');
  report.admin_nav = await page.$$eval('nav a', (as) => as.map((a) => a.getAttribute('href')));

  // --- webhooks: create through the form ---
  await nav(page, '/settings/webhooks');
  await page.locator('[data-testid=webhooks-table]').waitFor({ timeout: STEP_MS });
  const { url } = await ask('receiver');
  await page.click('[data-testid=webhook-new]');
  await page.locator('[data-testid=webhook-dialog]').waitFor({ timeout: STEP_MS });
  report.event_choices = await page.$$eval('[data-testid=webhook-events] input[type=checkbox]', (cs) => cs.map((c) => c.value));
  await page.fill('[data-testid=webhook-url]', url);
  await page.check('[data-testid=webhook-events] input[value="job.completed"]');
  await page.check('[data-testid=webhook-events] input[value="job.failed"]');
  await page.fill('[data-testid=webhook-description]', 'settings test receiver');
  await shot(page, 'desktop-webhook-dialog');
  await page.click('[data-testid=webhook-save]');
  let s = await readSecret(page, 'webhook-secret');
  report.first_secret = s.secret;
  report.secret_dialog_text = s.text;
  await page.click('[data-testid=webhook-secret] [data-testid=secret-copy]');
  await page.locator('[data-testid=webhook-secret] [data-testid=secret-copy]', { hasText: 'Copied' }).waitFor({ timeout: STEP_MS });
  report.clipboard = await page.evaluate(() => navigator.clipboard.readText());
  await shot(page, 'desktop-webhook-secret');
  await closeSecret(page, 'webhook-secret');
  const row = page.locator('[data-testid=webhooks-table] tr[data-webhook-id]');
  await row.first().waitFor({ timeout: STEP_MS });
  report.webhook_id = await row.first().getAttribute('data-webhook-id');
  report.list_row = await row.first().innerText();
  step('created');

  // --- an invalid edit: the §11 error shows in the dialog ---
  await page.click(`tr[data-webhook-id="${report.webhook_id}"] [data-testid=webhook-edit]`);
  await page.locator('[data-testid=webhook-dialog]').waitFor({ timeout: STEP_MS });
  expected = [['PATCH', '/v1/webhooks/']];
  await page.fill('[data-testid=webhook-url]', 'ftp://127.0.0.1/hook');
  await page.click('[data-testid=webhook-save]');
  const err = page.locator('[data-testid=webhook-dialog] [data-testid=webhook-error]');
  await err.waitFor({ timeout: STEP_MS });
  report.edit_error_code = await err.getAttribute('data-code');
  report.edit_error = await err.innerText();
  await shot(page, 'desktop-webhook-error');
  expected = [];
  await page.click('[data-testid=webhook-dialog] [data-testid=dialog-close]');
  await page.locator('[data-testid=webhook-dialog]').waitFor({ state: 'detached', timeout: STEP_MS });

  // --- detail: ping, verified by the receiver ---
  await page.click(`tr[data-webhook-id="${report.webhook_id}"] [data-testid=webhook-link]`);
  await page.locator('[data-testid=webhook-facts]').waitFor({ timeout: STEP_MS });
  await page.locator('[data-testid=deliveries-table]').waitFor({ timeout: STEP_MS });
  await page.click('[data-testid=webhook-ping]');
  report.after_ping = await waitDelivered(page, 1);
  report.checks.ping = await ask('check', { secret: report.first_secret, count: 1 });
  step('ping');

  // --- rotate: the next ping verifies only with the new secret ---
  await page.click('[data-testid=webhook-rotate]');
  await page.locator('[data-testid=confirm-dialog]').waitFor({ timeout: STEP_MS });
  await page.click('[data-testid=confirm-ok]');
  s = await readSecret(page, 'webhook-secret');
  report.second_secret = s.secret;
  await closeSecret(page, 'webhook-secret');
  await page.click('[data-testid=webhook-ping]');
  report.after_rotate = await waitDelivered(page, 2);
  report.checks.rotated = await ask('check', { secret: report.second_secret, old: report.first_secret, count: 2 });
  step('rotate');

  // --- replay the newest delivery ---
  await page.locator('[data-testid=deliveries-table] tr[data-delivery-id] [data-testid=delivery-replay]').first().click();
  report.after_replay = await waitDelivered(page, 3);
  report.checks.replay = await ask('check', { secret: report.second_secret, old: report.first_secret, count: 3 });
  // the attempt log of a delivery
  await page.locator('[data-testid=deliveries-table] tr[data-delivery-id] td button.link-button').first().click();
  report.delivery_log = await page.locator('[data-testid=delivery-log]').innerText();
  await shot(page, 'desktop-webhook-detail');
  step('replay');

  // --- back to the list: the last delivery shown; delete ---
  await page.click('a.back');
  await page.locator(`tr[data-webhook-id="${report.webhook_id}"] [data-state=succeeded]`).waitFor({ timeout: STEP_MS });
  report.list_last = await page.locator(`tr[data-webhook-id="${report.webhook_id}"] [data-state]`).getAttribute('data-status');
  await shot(page, 'desktop-webhooks');
  await page.click(`tr[data-webhook-id="${report.webhook_id}"] [data-testid=webhook-delete]`);
  await page.locator('[data-testid=confirm-dialog]').waitFor({ timeout: STEP_MS });
  await page.click('[data-testid=confirm-ok]');
  await page.locator(`tr[data-webhook-id="${report.webhook_id}"]`).waitFor({ state: 'detached', timeout: STEP_MS });
  report.checks.gone = await ask('gone', { id: report.webhook_id });
  step('delete');

  // --- tokens: create, use from the caller, revoke ---
  await nav(page, '/settings/tokens');
  await page.locator('[data-testid=tokens-table]').waitFor({ timeout: STEP_MS });
  await page.click('[data-testid=token-new]');
  await page.locator('[data-testid=token-dialog]').waitFor({ timeout: STEP_MS });
  report.token_roles = await page.$$eval('[data-testid=token-role] option', (os) => os.map((o) => o.value));
  await page.fill('[data-testid=token-name]', 'ci-settings');
  await page.selectOption('[data-testid=token-role]', 'operator');
  await page.selectOption('[data-testid=token-expiry]', '30');
  await page.click('[data-testid=token-create]');
  s = await readSecret(page, 'token-secret');
  report.token = s.secret;
  report.token_dialog_text = s.text;
  await shot(page, 'desktop-token-secret');
  await closeSecret(page, 'token-secret');
  const trow = page.locator('[data-testid=tokens-table] tr[data-token-id]', { hasText: 'ci-settings' });
  await trow.waitFor({ timeout: STEP_MS });
  report.token_row = await trow.innerText();
  report.page_text_after_token = await page.locator('main').innerText();
  report.checks.token_works = await ask('token', { token: report.token });
  await page.reload({ waitUntil: 'load' });
  await trow.waitFor({ timeout: STEP_MS });
  report.token_row_after_use = await trow.innerText();
  report.users = await page.$$eval('[data-testid=users-table] tr[data-username]', (rs) => rs.map((r) => r.getAttribute('data-username')));
  await shot(page, 'desktop-tokens');
  await trow.locator('[data-testid=token-revoke]').click();
  await page.locator('[data-testid=confirm-dialog]').waitFor({ timeout: STEP_MS });
  await page.click('[data-testid=confirm-ok]');
  await page.locator('[data-testid=tokens-table] tr[data-active=false]', { hasText: 'ci-settings' }).waitFor({ timeout: STEP_MS });
  report.checks.token_revoked = await ask('token', { token: report.token });
  step('tokens');
  await ctx.close();
}

// --- admin at 390x844: every page fits the phone ---
async function phoneAdmin(browser) {
  const ctx = await browser.newContext({ viewport: { width: PHONE_W, height: 844 }, locale: 'en-US',
                                         isMobile: true, hasTouch: true, reducedMotion: 'reduce' });
  const page = await ctx.newPage();
  watch(page, 'phone');
  const seeded = await ask('seed');
  await login(page, opts.admin, 'admin');
  await nav(page, '/settings/webhooks');
  await page.locator(`tr[data-webhook-id="${seeded.id}"] [data-state]`).waitFor({ timeout: STEP_MS });
  report.overflow.webhooks = await noOverflow(page, PHONE_W);
  await shot(page, 'phone-webhooks');
  await page.click('[data-testid=webhook-new]');
  await page.locator('[data-testid=webhook-dialog]').waitFor({ timeout: STEP_MS });
  report.overflow.webhook_dialog = await noOverflow(page, PHONE_W);
  await shot(page, 'phone-webhook-dialog');
  await page.click('[data-testid=webhook-dialog] [data-testid=dialog-close]');
  await page.click(`tr[data-webhook-id="${seeded.id}"] [data-testid=webhook-link]`);
  await page.locator('[data-testid=webhook-facts]').waitFor({ timeout: STEP_MS });
  await waitDelivered(page, 1);
  report.overflow.webhook_detail = await noOverflow(page, PHONE_W);
  await shot(page, 'phone-webhook-detail');
  await page.click('[data-testid=webhook-rotate]');
  await page.click('[data-testid=confirm-ok]');
  await readSecret(page, 'webhook-secret');
  report.overflow.webhook_secret = await noOverflow(page, PHONE_W);
  await shot(page, 'phone-webhook-secret');
  await closeSecret(page, 'webhook-secret');
  await nav(page, '/settings/tokens');
  await page.locator('[data-testid=tokens-table] tr[data-token-id]').first().waitFor({ timeout: STEP_MS });
  report.overflow.tokens = await noOverflow(page, PHONE_W);
  await shot(page, 'phone-tokens');
  await page.click('[data-testid=token-new]');
  await page.locator('[data-testid=token-dialog]').waitFor({ timeout: STEP_MS });
  report.overflow.token_dialog = await noOverflow(page, PHONE_W);
  await shot(page, 'phone-token-dialog');
  step('phone');
  await ctx.close();
}

// --- viewer: no entries, the forbidden notice, no API call ---
async function viewer(browser) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-US', reducedMotion: 'reduce' });
  const page = await ctx.newPage();
  watch(page, 'viewer');
  page.on('request', (r) => {
    if (/\/v1\/(webhooks|tokens|users)/.test(r.url())) report.viewer_api_calls.push(r.method() + ' ' + r.url());
  });
  await login(page, opts.viewer, 'viewer');
  report.viewer_nav = await page.$$eval('nav a', (as) => as.map((a) => a.getAttribute('href')));
  report.viewer_forbidden = {};
  for (const p of ['/settings/webhooks', '/settings/webhooks/some-id', '/settings/tokens']) {
    await page.goto(opts.base + p, { waitUntil: 'load' });
    await page.locator('[data-testid=forbidden]').waitFor({ timeout: STEP_MS });
    report.viewer_forbidden[p] = (await page.locator('[data-testid=forbidden]').textContent()).trim();
    await page.waitForTimeout(300); // a request sent after the paint would show up here
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
