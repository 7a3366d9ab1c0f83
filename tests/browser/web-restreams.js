#!/usr/bin/env node
// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Drives the dashboard's restream pages (list, new restream, detail) in
// headless Chromium against a running webencoded, for test_web_restreams.py:
//
//   node web-restreams.js --base URL --operator USER:PASS --viewer USER:PASS
//        --clip PATH --dest RTMP_URL --dest2 RTMP_URL --key KEY --shots DIR
//
// Creates a restream through the form (scheduled a day ahead), starts it,
// waits for the destination row to go live with a bitrate, asks the test
// how much nginx recorded ({"q": "recorded"}), adds and removes a
// destination through the dialog, disables the first, stops, then a phone
// and a viewer look, and finally deletes it. Prints {"step": …} as it goes
// and one final {"report": {…}} (harness.js); the Python test judges it.
'use strict';

const h = require('./harness').start({
  name: 'web-restreams.js',
  args: ['base', 'operator', 'viewer', 'clip', 'dest', 'dest2', 'key', 'shots'],
  stepEnv: 'WE_DASHBOARD_STEP_MS',
  stepMs: 30000,
  report: { overflow: {}, bodies_with_key: [], viewer: {} },
});
const { opts, report } = h;
const PHONE = { width: 390, height: 844 };

// every answer of the restreams API the pages get: none may carry the key
function watch(page, label) {
  h.watch(page, label, {
    response: (r) => {
      if (!r.url().startsWith(opts.base + '/v1/restreams')) return;
      r.text().then((t) => {
        if (t.includes(opts.key)) report.bodies_with_key.push(label + ': ' + r.request().method() + ' ' + r.url());
      }, () => undefined);
    },
  });
}

const pageText = (page) => page.evaluate(() => document.body.innerText);
const sleep = (ms) => new Promise((res) => setTimeout(res, ms));
// tomorrow at this time, as a datetime-local input takes it
function tomorrowLocal() {
  const d = new Date(Date.now() + 86400e3);
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

async function operator(browser) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-US', reducedMotion: 'reduce' });
  const page = await ctx.newPage();
  watch(page, 'desktop');
  await h.login(page, opts.operator, 'operator');
  report.operator_nav = await page.$$eval('nav a', (as) => as.map((a) => a.getAttribute('href')));

  h.step('form');
  await h.nav(page, '/restreams');
  await page.locator('[data-testid=restreams-table][data-loaded=true]').waitFor({ timeout: h.STEP_MS });
  await page.click('[data-testid=restream-new]');
  await page.locator('[data-testid=restream-form]').waitFor({ timeout: h.STEP_MS });
  await page.fill('[data-testid=restream-title]', 'Browser rerun');
  await page.fill('[data-testid=restream-description]', 'made by web-restreams.js');
  await page.fill('[data-testid=restream-input-url]', opts.clip);
  await page.selectOption('[data-testid=restream-dest-platform-0]', 'custom');
  await page.fill('[data-testid=restream-dest-url-0]', opts.dest);
  await page.click('[data-testid=restream-dest-add]');
  report.dest_rows_after_add = await page.locator('[data-testid=restream-dest-row]').count();
  await page.selectOption('[data-testid=restream-dest-platform-1]', 'twitch');
  await page.fill('[data-testid=restream-dest-url-1]', 'rtmp://127.0.0.1:1/app/dropped');
  await page.click('[data-testid=restream-dest-remove-1]');
  report.dest_rows_after_remove = await page.locator('[data-testid=restream-dest-row]').count();
  // the recurring schedule's human summary, then a schedule a day ahead
  await page.check('[data-testid=restream-schedule-recurring]');
  report.cron_summary = (await page.locator('[data-testid=restream-cron-summary]').textContent()).trim();
  await page.fill('[data-testid=restream-cron]', '*/15 * * * *');
  report.cron_summary_steps = (await page.locator('[data-testid=restream-cron-summary]').textContent()).trim();
  await page.check('[data-testid=restream-schedule-scheduled]');
  await page.fill('[data-testid=restream-at]', tomorrowLocal());
  await page.fill('[data-testid=restream-duration]', '');
  await page.check('[data-testid=restream-loop]');
  await h.shot(page, 'desktop-restream-new');
  const [created] = await Promise.all([
    page.waitForResponse((r) => r.url() === opts.base + '/v1/restreams' && r.request().method() === 'POST', { timeout: h.STEP_MS }),
    page.click('[data-testid=restream-create]'),
  ]);
  report.create_status = created.status();
  report.create_request = created.request().postDataJSON();
  const body = await created.json();
  report.created = body;
  const detail = page.locator(`[data-testid=restream-detail][data-restream-id="${body.id}"]`);
  await detail.waitFor({ timeout: h.STEP_MS });
  report.detail_url = page.url();
  const row = page.locator('[data-testid=dest-table] tr[data-dest-id]').first();
  await row.waitFor({ timeout: h.STEP_MS });
  report.dest_url_shown = (await row.locator('[data-testid=dest-url]').textContent()).trim();

  h.step('start');
  const t0 = Date.now();
  await page.click('[data-testid=restream-start]');
  await page.locator('[data-testid=dest-table] tr[data-dest-id][data-state=live]:not([data-bitrate="0"])')
    .waitFor({ timeout: 10000 });
  report.live = { seconds: (Date.now() - t0) / 1000, state: await row.getAttribute('data-state'),
                  bitrate: await row.getAttribute('data-bitrate') };
  report.detail_status_running = await detail.getAttribute('data-status');
  const a = (await h.ask({ q: 'recorded' })).bytes;
  await sleep(2000);
  const b = (await h.ask({ q: 'recorded' })).bytes;
  report.recorded = [a, b];
  await h.shot(page, 'desktop-restream-detail');

  h.step('add destination');
  await page.click('[data-testid=dest-add]');
  await page.locator('[data-testid=dest-dialog]').waitFor({ timeout: h.STEP_MS });
  await page.selectOption('[data-testid=dest-dialog-platform]', 'youtube');
  await page.fill('[data-testid=dest-dialog-url]', opts.dest2);
  await page.click('[data-testid=dest-dialog-save]');
  await page.locator('[data-testid=dest-dialog]').waitFor({ state: 'detached', timeout: h.STEP_MS });
  const rows = page.locator('[data-testid=dest-table] tr[data-dest-id]');
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=dest-table] tr[data-dest-id]').length === 2,
    null, { timeout: h.STEP_MS });
  report.rows_after_dialog = await rows.count();
  report.added_url = (await rows.nth(1).locator('[data-testid=dest-url]').textContent()).trim();
  report.key_in_page = (await pageText(page)).includes(opts.key);
  await rows.nth(1).locator('[data-testid=dest-remove]').click();
  await page.click('[data-testid=confirm-dialog] [data-testid=confirm-ok]');
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=dest-table] tr[data-dest-id]').length === 1,
    null, { timeout: h.STEP_MS });
  report.rows_after_remove = await rows.count();

  h.step('disable');
  await row.locator('[data-testid=dest-enabled]').uncheck();
  await page.locator('[data-testid=dest-table] tr[data-dest-id][data-state=disabled]').waitFor({ timeout: h.STEP_MS });
  report.disabled_state = await row.getAttribute('data-state');
  report.api_after_disable = await h.ask({ q: 'api', id: body.id });
  await sleep(1500); // what was in flight lands
  const c = (await h.ask({ q: 'recorded' })).bytes;
  await sleep(2000);
  const d = (await h.ask({ q: 'recorded' })).bytes;
  report.recorded_disabled = [c, d];

  h.step('stop');
  await page.click('[data-testid=restream-stop]');
  await page.locator(`[data-testid=restream-detail][data-status=stopped]`).waitFor({ timeout: h.STEP_MS });
  report.stopped_status = await detail.getAttribute('data-status');
  report.api_after_stop = await h.ask({ q: 'api', id: body.id });

  h.step('list');
  await h.nav(page, '/restreams');
  const lrow = page.locator(`[data-testid=restreams-table] tr[data-restream-id="${body.id}"]`);
  await lrow.waitFor({ timeout: h.STEP_MS });
  report.list_row = { status: await lrow.getAttribute('data-status'),
                      dests: (await lrow.locator('[data-testid=restream-dest-count]').textContent()).trim() };
  await h.shot(page, 'desktop-restreams');
  return { ctx, page, id: body.id };
}

async function phone(browser, id) {
  const ctx = await browser.newContext({ viewport: PHONE, isMobile: true, hasTouch: true, locale: 'en-US', reducedMotion: 'reduce' });
  const page = await ctx.newPage();
  watch(page, 'phone');
  await h.login(page, opts.operator, 'operator', '/restreams');
  for (const [name, route, ready] of [
    ['restreams', '/restreams', '[data-testid=restreams-table][data-loaded=true]'],
    ['restream-new', '/restreams/new', '[data-testid=restream-form]'],
    ['restream-detail', '/restreams/' + id, '[data-testid=dest-table]'],
  ]) {
    await page.goto(opts.base + route, { waitUntil: 'load' });
    await page.locator(ready).waitFor({ timeout: h.STEP_MS });
    if (name === 'restream-new') {
      // the widest state of the form: two destinations and a recurring schedule
      await page.click('[data-testid=restream-dest-add]');
      await page.check('[data-testid=restream-schedule-recurring]');
    }
    report.overflow[name] = await h.overflowFacts(page, PHONE.width);
    await h.shot(page, 'phone-' + name);
  }
  await ctx.close();
}

async function viewer(browser, id) {
  for (const [label, size] of [['viewer', { width: 1280, height: 800 }], ['viewer-phone', PHONE]]) {
    const ctx = await browser.newContext({ viewport: size, isMobile: size === PHONE, locale: 'en-US', reducedMotion: 'reduce' });
    const page = await ctx.newPage();
    watch(page, label);
    await h.login(page, opts.viewer, 'viewer');
    const v = {};
    v.nav = await page.locator('nav a[href="/restreams"]').count();
    await h.nav(page, '/restreams');
    await page.locator('[data-testid=restreams-table][data-loaded=true]').waitFor({ timeout: h.STEP_MS });
    v.new_button = await page.locator('[data-testid=restream-new]').count();
    const listActions = await page.locator('[data-testid=restream-start], [data-testid=restream-stop]').count();
    await page.click(`tr[data-restream-id="${id}"] a`);
    await page.locator('[data-testid=dest-table] tr[data-dest-id]').first().waitFor({ timeout: h.STEP_MS });
    v.actions = listActions + await page.locator('[data-testid=restream-start], [data-testid=restream-stop], ' +
      '[data-testid=restream-delete], [data-testid=dest-add], [data-testid=dest-remove]').count();
    v.toggles_enabled = await page.locator('[data-testid=dest-enabled]:not([disabled])').count();
    v.overflow = await h.overflowFacts(page, size.width);
    await h.shot(page, (label === 'viewer' ? 'desktop' : 'phone') + '-restream-detail-viewer');
    await page.goto(opts.base + '/restreams/new', { waitUntil: 'load' });
    await page.locator('[data-testid=forbidden]').waitFor({ timeout: h.STEP_MS });
    v.new_forbidden = true;
    report.viewer[label] = v;
    await ctx.close();
  }
}

h.run(async (browser) => {
  const op = await operator(browser);
  h.step('phone');
  await phone(browser, op.id);
  h.step('viewer');
  await viewer(browser, op.id);

  h.step('delete');
  const page = op.page;
  await page.goto(opts.base + '/restreams/' + op.id, { waitUntil: 'load' });
  await page.locator('[data-testid=restream-delete]').waitFor({ timeout: h.STEP_MS });
  await page.click('[data-testid=restream-delete]');
  const [del] = await Promise.all([
    page.waitForResponse((r) => r.url() === opts.base + '/v1/restreams/' + op.id && r.request().method() === 'DELETE', { timeout: h.STEP_MS }),
    page.click('[data-testid=confirm-dialog] [data-testid=confirm-ok]'),
  ]);
  report.delete_status = del.status();
  await page.waitForURL(opts.base + '/restreams', { timeout: h.STEP_MS });
  await page.locator('[data-testid=restreams-table][data-loaded=true]').waitFor({ timeout: h.STEP_MS });
  await page.waitForFunction((id) => !document.querySelector(`tr[data-restream-id="${id}"]`), op.id, { timeout: h.STEP_MS });
  report.rows_after_delete = await page.locator(`tr[data-restream-id="${op.id}"]`).count();
  await op.ctx.close();
});
