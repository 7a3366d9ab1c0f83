#!/usr/bin/env node
// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Drives the dashboard's streams pages (list, new stream, studio) in
// headless Chromium against a running webencoded, for test_web_streams.py:
//
//   node web-streams.js --base URL --operator USER:PASS --viewer USER:PASS --shots DIR
//
// Creates a stream through the page (the POST answer's key is kept to
// compare), reads the studio's ingest settings masked, reveals the key,
// copies it, lets the 60 s reveal run out (Playwright's clock), rotates,
// edits the title, finds it in the list, then a phone and a viewer look,
// and finally deletes it. Prints {"step": …} as it goes and one final
// {"report": {…}} (harness.js); the Python test judges it against the API.
'use strict';

const h = require('./harness').start({
  name: 'web-streams.js',
  args: ['base', 'operator', 'viewer', 'shots'],
  stepEnv: 'WE_DASHBOARD_STEP_MS',
  stepMs: 30000,
  report: { overflow: {}, get_bodies_with_key: [], viewer: {} },
});
const { opts, report } = h;
const PHONE = { width: 390, height: 844 };

// every GET of the streams API the pages make: none may carry a key
function watch(page, label) {
  h.watch(page, label, {
    response: (r) => {
      if (r.request().method() !== 'GET' || !r.url().startsWith(opts.base + '/v1/streams')) return;
      r.text().then((t) => {
        if (t.includes('we_live_')) report.get_bodies_with_key.push(label + ': ' + r.url());
      }, () => undefined);
    },
  });
}

const val = (page, testid) => page.locator(`[data-testid=${testid}-value]`).inputValue();
const masked = (page, testid) => page.getAttribute(`[data-testid=${testid}-value]`, 'data-masked');
// everything the page shows or holds in a field
const pageText = (page) => page.evaluate(() => document.body.innerText + '\n' +
  [...document.querySelectorAll('input, textarea')].map((i) => i.value).join('\n'));

async function operator(browser) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-US', reducedMotion: 'reduce' });
  await ctx.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: opts.base });
  const page = await ctx.newPage();
  watch(page, 'desktop');
  // a controllable clock, so the 60 s reveal can run out without waiting
  await page.clock.install();
  await h.login(page, opts.operator, 'operator');
  report.operator_nav = await page.$$eval('nav a', (as) => as.map((a) => a.getAttribute('href')));

  h.step('create');
  await h.nav(page, '/streams');
  await page.locator('[data-testid=streams-table][data-loaded=true]').waitFor({ timeout: h.STEP_MS });
  await page.click('[data-testid=stream-new]');
  await page.locator('[data-testid=stream-form]').waitFor({ timeout: h.STEP_MS });
  await h.shot(page, 'desktop-stream-new');
  await page.fill('[data-testid=stream-title]', 'Browser keynote');
  await page.fill('[data-testid=stream-description]', 'made by web-streams.js');
  await page.check('[data-testid=stream-record]');
  await page.selectOption('[data-testid=stream-latency]', 'low');
  const [created] = await Promise.all([
    page.waitForResponse((r) => r.url() === opts.base + '/v1/streams' && r.request().method() === 'POST', { timeout: h.STEP_MS }),
    page.click('[data-testid=stream-create]'),
  ]);
  report.create_status = created.status();
  const body = await created.json();
  report.created = { id: body.id, stream_key: body.stream_key, hint: body.stream_key_hint, ingest: body.ingest };
  await page.locator(`[data-testid=stream-studio][data-stream-id="${body.id}"]`).waitFor({ timeout: h.STEP_MS });
  report.studio_url = page.url();

  h.step('studio masked');
  await page.locator('[data-testid=stream-history]').waitFor({ timeout: h.STEP_MS });
  report.masked = {
    rtmp_server: await val(page, 'ingest-rtmp-server'),
    key: await val(page, 'ingest-stream-key'),
    key_masked: await masked(page, 'ingest-stream-key'),
    srt: await val(page, 'ingest-srt-url'),
    key_copy_buttons: await page.locator('[data-testid=ingest-stream-key-copy]').count(),
    live_actions: await page.locator('[data-testid=stream-live-actions], [data-testid=stream-preview], [data-testid=stream-telemetry]').count(),
    status_live: await page.getAttribute('[data-testid=stream-status]', 'data-live'),
    info_record: await page.locator('[data-testid=info-record]').textContent(),
  };
  report.key_shown_before_reveal = (await pageText(page)).includes(body.stream_key);
  await h.shot(page, 'desktop-stream-studio');

  h.step('reveal');
  await page.click('[data-testid=ingest-reveal]');
  await page.locator('[data-testid=ingest-stream-key-value][data-masked=false]').waitFor({ timeout: h.STEP_MS });
  report.revealed = { key: await val(page, 'ingest-stream-key'), srt: await val(page, 'ingest-srt-url') };
  await page.click('[data-testid=ingest-stream-key-copy]');
  await page.locator('[data-testid=ingest-stream-key-copy]', { hasText: 'Copied' }).waitFor({ timeout: h.STEP_MS });
  report.clipboard = await page.evaluate(() => navigator.clipboard.readText());
  await h.shot(page, 'desktop-stream-revealed');
  // the reveal runs out after 60 s
  await page.clock.fastForward(61000);
  await page.locator('[data-testid=ingest-stream-key-value][data-masked=true]').waitFor({ timeout: h.STEP_MS });
  report.key_shown_after_timeout = (await pageText(page)).includes(body.stream_key);

  h.step('rotate');
  await page.click('[data-testid=ingest-reveal]');
  await page.locator('[data-testid=ingest-stream-key-value][data-masked=false]').waitFor({ timeout: h.STEP_MS });
  await page.click('[data-testid=ingest-rotate]');
  await page.click('[data-testid=confirm-dialog] [data-testid=confirm-ok]');
  await page.locator('[data-testid=stream-rotated]').waitFor({ timeout: h.STEP_MS });
  report.rotated_key = await val(page, 'rotated-key');
  report.rotated_srt = await val(page, 'rotated-srt-url');
  report.old_key_after_rotate = (await pageText(page)).includes(body.stream_key);
  report.main_key_masked_after_rotate = await masked(page, 'ingest-stream-key');
  await h.shot(page, 'desktop-stream-rotated');
  await page.click('[data-testid=rotated-done]');
  await page.locator('[data-testid=stream-rotated]').waitFor({ state: 'detached', timeout: h.STEP_MS });
  report.new_key_after_close = (await pageText(page)).includes(report.rotated_key);
  report.masked_after_rotate = await val(page, 'ingest-stream-key');

  h.step('edit');
  await page.click('[data-testid=stream-edit-start]');
  await page.fill('[data-testid=edit-title]', 'Browser keynote (renamed)');
  await page.uncheck('[data-testid=edit-archive]');
  await page.click('[data-testid=edit-save]');
  await page.locator('[data-testid=studio-title]', { hasText: 'Browser keynote (renamed)' }).waitFor({ timeout: h.STEP_MS });
  report.edited = {
    title: await page.locator('[data-testid=studio-title]').textContent(),
    archive: await page.locator('[data-testid=info-archive]').textContent(),
  };

  h.step('list');
  await h.nav(page, '/streams');
  await page.click('[data-testid=streams-tab-past]');
  await page.waitForURL(/\/streams\?live=false$/, { timeout: h.STEP_MS });
  const row = page.locator(`[data-testid=streams-table] tr[data-stream-id="${body.id}"]`);
  await row.waitFor({ timeout: h.STEP_MS });
  report.list_past = { title: (await row.locator('td').first().textContent()).trim(), live: await row.getAttribute('data-live'),
                       badge: (await row.locator('[data-testid=live-badge]').textContent()).trim() };
  await page.click('[data-testid=streams-tab-active]');
  await page.waitForURL(/\/streams\?live=true$/, { timeout: h.STEP_MS });
  await page.locator('[data-testid=streams-table][data-loaded=true]').waitFor({ timeout: h.STEP_MS });
  await page.waitForFunction((id) => !document.querySelector(`tr[data-stream-id="${id}"]`), body.id, { timeout: h.STEP_MS });
  report.list_active_rows = await page.locator('[data-testid=streams-table] tr[data-stream-id]').count();
  await page.click('[data-testid=streams-tab-past]');
  await row.waitFor({ timeout: h.STEP_MS });
  await h.shot(page, 'desktop-streams');
  return { ctx, page, id: body.id };
}

async function phone(browser, id) {
  const ctx = await browser.newContext({ viewport: PHONE, isMobile: true, hasTouch: true, locale: 'en-US', reducedMotion: 'reduce' });
  const page = await ctx.newPage();
  watch(page, 'phone');
  await h.login(page, opts.operator, 'operator', '/streams');
  for (const [name, route, ready] of [
    ['streams', '/streams?live=false', '[data-testid=streams-table][data-loaded=true]'],
    ['stream-new', '/streams/new', '[data-testid=stream-form]'],
    ['stream-studio', '/streams/' + id, '[data-testid=stream-history]'],
  ]) {
    await page.goto(opts.base + route, { waitUntil: 'load' });
    await page.locator(ready).waitFor({ timeout: h.STEP_MS });
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
    v.nav_streams = await page.locator('nav a[href="/streams"]').count();
    await h.nav(page, '/streams');
    await page.locator('[data-testid=streams-table][data-loaded=true]').waitFor({ timeout: h.STEP_MS });
    v.new_button = await page.locator('[data-testid=stream-new]').count();
    await page.click(`tr[data-stream-id="${id}"] a`);
    await page.locator('[data-testid=stream-history]').waitFor({ timeout: h.STEP_MS });
    v.title = await page.locator('[data-testid=studio-title]').textContent();
    v.actions = await page.locator('[data-testid=stream-ingest], [data-testid=ingest-reveal], [data-testid=ingest-rotate], ' +
      '[data-testid=stream-delete], [data-testid=stream-edit-start], [data-testid=stream-live-actions]').count();
    v.key_text = (await pageText(page)).includes('we_live_');
    v.overflow = await h.overflowFacts(page, size.width);
    await h.shot(page, (label === 'viewer' ? 'desktop' : 'phone') + '-stream-studio-viewer');
    await page.goto(opts.base + '/streams/new', { waitUntil: 'load' });
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
  await page.goto(opts.base + '/streams/' + op.id, { waitUntil: 'load' });
  await page.locator('[data-testid=stream-history]').waitFor({ timeout: h.STEP_MS });
  await page.click('[data-testid=stream-delete]');
  const [del] = await Promise.all([
    page.waitForResponse((r) => r.url().startsWith(opts.base + '/v1/streams/' + op.id) && r.request().method() === 'DELETE', { timeout: h.STEP_MS }),
    page.click('[data-testid=confirm-dialog] [data-testid=confirm-ok]'),
  ]);
  report.delete_status = del.status();
  await page.waitForURL(opts.base + '/streams', { timeout: h.STEP_MS });
  await page.locator('[data-testid=streams-table][data-loaded=true]').waitFor({ timeout: h.STEP_MS });
  report.rows_after_delete = await page.locator(`tr[data-stream-id="${op.id}"]`).count();
  await op.ctx.close();
});
