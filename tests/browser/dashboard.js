#!/usr/bin/env node
// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Drives the web dashboard (web/) in headless Chromium against a running
// webencoded, for test_dashboard.py:
//
//   node dashboard.js --base URL --admin USER:PASS --viewer USER:PASS --shots DIR
//
// Talks with its caller over stdio, one JSON object a line: it prints
// {"need_job": N} when it is ready to watch a new job and reads back
// {"job_id": "…"} (the caller submits the job through the REST API), then
// prints {"step": …} lines as it goes and one final {"report": {…}}.
// Exits 0 after the report (the caller judges it), 3 when the harness
// itself could not run.
'use strict';

const h = require('./harness').start({
  name: 'dashboard.js',
  args: ['base', 'admin', 'viewer', 'shots'],
  optional: ['oidc', 'wrong-password'],
  needed: (o) => (o.oidc || o['wrong-password'] ? ['base', 'shots'] : ['base', 'admin', 'viewer', 'shots']),
  usage: '--base URL (--admin U:P --viewer U:P | --oidc USER | --wrong-password USER) --shots DIR',
  stepEnv: 'WE_DASHBOARD_STEP_MS',
  stepMs: 60000,
  report: {
    restart_errors: [],
    foreign_errors: [],
    statuses_seen_list: [],
    statuses_seen_detail: [],
  },
});
const { opts, report, STEP_MS, step, shot, login, noOverflow } = h;

async function askRestart() {
  restarting = true;
  const reply = await h.ask({ need_restart: 1 });
  if (!reply.restarted) throw new Error('the caller did not restart: ' + JSON.stringify(reply));
}

async function askJob(n) {
  const reply = await h.ask({ need_job: n });
  if (!reply.job_id) throw new Error('the caller sent no job: ' + JSON.stringify(reply));
  return reply.job_id;
}

// while the caller restarts webencoded, refused connections are expected
let restarting = false;

function watch(page, label) {
  h.watch(page, label, {
    // the identity provider's own pages are not ours to judge
    console: () => (!page.url().startsWith(opts.base + '/') ? report.foreign_errors
      : restarting ? report.restart_errors : report.console_errors),
    // the one error thrown on purpose to test the tracker is expected
    pageError: (err) => (String(err.message).includes('we-dashboard-test-error') ? null : report.console_errors),
  });
}

// the dashboard ticks: its snapshot time changes while we watch
async function dashboardTicks(page) {
  await page.locator('[data-testid=ws-state][data-state=open]').waitFor({ timeout: STEP_MS });
  const stamp = page.locator('[data-testid=dash-time]');
  await page.waitForFunction(() => {
    const e = document.querySelector('[data-testid=dash-time]');
    return e && e.getAttribute('data-time');
  }, null, { timeout: STEP_MS });
  const first = await stamp.getAttribute('data-time');
  await page.waitForFunction((t) => {
    const e = document.querySelector('[data-testid=dash-time]');
    return e && e.getAttribute('data-time') && e.getAttribute('data-time') !== t;
  }, first, { timeout: STEP_MS });
  return [first, await stamp.getAttribute('data-time')];
}

// records every status the element shows until it shows `want`
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


// --oidc USER: the single sign-on button, the provider's own login and
// consent forms, back to the dashboard with a bearer token, live, logout
async function oidcScenario(browser) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, reducedMotion: 'reduce' });
  const page = await ctx.newPage();
  watch(page, 'oidc');
  await page.goto(opts.base + '/', { waitUntil: 'load' });
  await page.locator('[data-testid=login-oidc]').waitFor({ timeout: STEP_MS });
  await shot(page, 'oidc-login');
  await page.click('[data-testid=login-oidc]');
  const base = new URL(opts.base);
  for (let i = 0; i < 10; i++) {
    await page.waitForLoadState('load');
    if (new URL(page.url()).host === base.host) break;
    if (await page.locator('input[name=login]').count()) {
      await page.fill('input[name=login]', opts.oidc);
      await page.fill('input[name=password]', 'any');
    }
    await Promise.all([page.waitForNavigation({ timeout: STEP_MS }),
                       page.locator('form [type=submit]').first().click()]);
  }
  await page.locator('[data-testid=user]').waitFor({ timeout: STEP_MS });
  report.oidc_role = await page.locator('[data-testid=user]').getAttribute('data-role');
  // the tokens must not stay in the address bar
  report.oidc_url_after = page.url();
  report.oidc_stored = await page.evaluate(() => JSON.parse(sessionStorage.getItem('we.credentials')).kind);
  report.dashboard_ticks = await dashboardTicks(page);
  await shot(page, 'oidc-dashboard');
  const out = page.waitForResponse((r) => r.url().endsWith('/v1/auth/logout'), { timeout: STEP_MS });
  await page.click('[data-testid=logout]');
  report.oidc_logout_status = (await out).status();
  await page.locator('[data-testid=login-form]').waitFor({ timeout: STEP_MS });
  report.oidc_stored_after_logout = await page.evaluate(() => sessionStorage.getItem('we.credentials'));
  step('oidc');
  await ctx.close();
}


// --wrong-password USER: the form says the password was refused, and no
// browser Basic-auth dialog (from the 401's WWW-Authenticate) hangs the page
async function wrongPasswordScenario(browser) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, reducedMotion: 'reduce' });
  const page = await ctx.newPage();
  watch(page, 'wrong-password');
  await page.goto(opts.base + '/', { waitUntil: 'load' });
  await page.fill('input[name=username]', opts['wrong-password']);
  await page.fill('input[name=password]', 'wrong-password');
  await page.click('[data-testid=login-form] button[type=submit]');
  await page.locator('[data-testid=login-error]').waitFor({ timeout: 10000 });
  report.wrong_password_error = await page.locator('[data-testid=login-error]').textContent();
  await ctx.close();
}

// --admin/--viewer: the whole tour at both sizes
async function basicScenario(browser) {
  // ---- desktop, admin ----
  const desk = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-US',
                                          reducedMotion: 'reduce' });
  const page = await desk.newPage();
  watch(page, 'desktop');
  await page.goto(opts.base + '/', { waitUntil: 'load' });
  await page.locator('[data-testid=login-form]').waitFor({ timeout: STEP_MS });
  await shot(page, 'desktop-login');
  await login(page, opts.admin, 'admin');
  step('desktop-logged-in');
  report.dashboard_ticks = await dashboardTicks(page);
  report.dashboard_workers_online = await page.locator('[data-testid=workers-online] .stat-value').textContent();
  step('dashboard-ticked');
  await shot(page, 'desktop-dashboard');

  // the error tracker: an uncaught error reaches POST /v1/errors
  const tracked = page.waitForResponse((r) => r.url().endsWith('/v1/errors') &&
                                              r.request().method() === 'POST', { timeout: 15000 });
  await page.evaluate(() => setTimeout(() => { throw new Error('we-dashboard-test-error'); }, 0));
  const tr = await tracked;
  report.error_tracker = { status: tr.status(), body: tr.request().postDataJSON() };
  step('error-tracked');

  await page.click('nav a[href="/jobs"]');
  await page.locator('[data-testid=jobs-table]').waitFor({ timeout: STEP_MS });
  const job1 = await askJob(1);
  const row1 = `tr[data-job-id="${job1}"]`;
  await page.locator(row1).waitFor({ timeout: STEP_MS });
  step('job1-listed');
  await watchStatus(page, row1, 'completed', report.statuses_seen_list);
  step('job1-completed-in-list');
  await shot(page, 'desktop-jobs');

  // the status filter and the search go to the REST query (and the URL)
  await page.selectOption('[data-testid=jobs-status]', 'failed');
  await page.locator(row1).waitFor({ state: 'detached', timeout: STEP_MS });
  report.filter_failed_rows = await page.locator('[data-testid=jobs-table] tbody tr[data-job-id]').count();
  await page.selectOption('[data-testid=jobs-status]', 'completed');
  await page.locator(row1).waitFor({ timeout: STEP_MS });
  await page.fill('[data-testid=jobs-search]', 'no-such-job');
  await page.locator(row1).waitFor({ state: 'detached', timeout: STEP_MS });
  await page.fill('[data-testid=jobs-search]', job1.slice(0, 8));
  await page.locator(row1).waitFor({ timeout: STEP_MS });
  report.filter_url = new URL(page.url()).search;
  await page.selectOption('[data-testid=jobs-status]', '');
  await page.fill('[data-testid=jobs-search]', '');
  await page.waitForFunction(() => location.search === '', null, { timeout: STEP_MS });
  step('filters');

  // the second job is followed on its detail page, opened from the list
  const job2 = await askJob(2);
  const row2 = `tr[data-job-id="${job2}"]`;
  await page.locator(row2).waitFor({ timeout: STEP_MS });
  await page.click(`${row2} a`);
  const detail = `[data-testid=job-detail][data-job-id="${job2}"]`;
  await page.locator(detail).waitFor({ timeout: STEP_MS });
  report.cancel_visible_running = await page.locator('[data-testid=job-cancel]').isVisible();
  await watchStatus(page, detail, 'completed', report.statuses_seen_detail);
  step('job2-completed-in-detail');
  await page.locator('[data-testid=outputs-table]').waitFor({ timeout: STEP_MS });
  report.admin_detail = {
    retry: await page.locator('[data-testid=job-retry]').count(),
    cancel: await page.locator('[data-testid=job-cancel]').count(),
    outputs: await page.locator('[data-testid=outputs-table] tbody tr').count(),
    tasks: await page.locator('[data-testid=tasks-table] tbody tr').count(),
    progress: await page.locator('[role=progressbar]').first().getAttribute('aria-valuenow'),
  };
  await shot(page, 'desktop-job-detail');
  // the pipeline view (operator and up)
  await page.locator('[data-testid=tasks-table] tbody tr button').last().click();
  await page.locator('[data-testid=pipeline] .element').first().waitFor({ timeout: STEP_MS });
  report.pipeline_elements = await page.locator('[data-testid=pipeline] .element').count();
  await shot(page, 'desktop-pipeline');
  step('pipeline-shown');
  await desk.close();

  // ---- phone, viewer ----
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, locale: 'en-US',
                                           isMobile: true, hasTouch: true, reducedMotion: 'reduce' });
  const mpage = await phone.newPage();
  watch(mpage, 'phone');
  await mpage.goto(opts.base + '/', { waitUntil: 'load' });
  await mpage.locator('[data-testid=login-form]').waitFor({ timeout: STEP_MS });
  await shot(mpage, 'phone-login');
  await login(mpage, opts.viewer, 'viewer');
  await dashboardTicks(mpage);
  report.phone_overflow_free = { dashboard: await noOverflow(mpage) };

  // the service restarts: the socket closes, the client reconnects with a
  // new ticket and re-subscribes, and the dashboard ticks again
  await mpage.evaluate(() => {
    window.__wsStates = [];
    const el = document.querySelector('[data-testid=ws-state]');
    new MutationObserver(() => window.__wsStates.push(el.getAttribute('data-state')))
      .observe(el, { attributes: true, attributeFilter: ['data-state'] });
  });
  const before = await mpage.locator('[data-testid=dash-time]').getAttribute('data-time');
  await askRestart();
  await mpage.locator('[data-testid=ws-state][data-state=open]').waitFor({ timeout: STEP_MS });
  await mpage.waitForFunction((t) => {
    const e = document.querySelector('[data-testid=dash-time]');
    return e && e.getAttribute('data-time') > t;
  }, before, { timeout: STEP_MS });
  restarting = false;
  report.ws_states_over_restart = await mpage.evaluate(() => window.__wsStates);
  report.dashboard_ticks_after_restart = await dashboardTicks(mpage);
  step('reconnected');
  // the drawer is translated off-screen, which Playwright still counts as visible
  report.phone_nav_hidden = await mpage.evaluate(
    () => document.querySelector('aside.sidebar').getBoundingClientRect().right <= 0);
  await shot(mpage, 'phone-dashboard');
  await mpage.click('[data-testid=nav-toggle]');
  await mpage.locator('nav a[href="/jobs"]').waitFor({ state: 'visible', timeout: STEP_MS });
  await mpage.waitForTimeout(300); // the drawer's slide-in
  await shot(mpage, 'phone-nav-open');
  await mpage.click('nav a[href="/jobs"]');
  await mpage.locator(row1).waitFor({ timeout: STEP_MS });
  report.phone_overflow_free.jobs = await noOverflow(mpage);
  await shot(mpage, 'phone-jobs');
  await mpage.click(`${row1} a`);
  await mpage.locator(`[data-testid=job-detail][data-job-id="${job1}"][data-status=completed]`)
    .waitFor({ timeout: STEP_MS });
  await mpage.locator('[data-testid=outputs-table]').waitFor({ timeout: STEP_MS });
  report.viewer_detail = {
    retry: await mpage.locator('[data-testid=job-retry]').count(),
    cancel: await mpage.locator('[data-testid=job-cancel]').count(),
    pipeline_buttons: await mpage.locator('[data-testid=tasks-table] button').count(),
  };
  report.phone_overflow_free.detail = await noOverflow(mpage);
  await shot(mpage, 'phone-job-detail');
  step('viewer-detail');

  // the locale switcher: German, kept across a reload
  await mpage.selectOption('[data-testid=locale]', 'de');
  await mpage.waitForFunction(() => document.documentElement.lang === 'de', null, { timeout: STEP_MS });
  await mpage.reload({ waitUntil: 'load' });
  await mpage.locator('[data-testid=job-detail]').waitFor({ timeout: STEP_MS });
  await mpage.waitForFunction(() => document.documentElement.lang === 'de', null, { timeout: STEP_MS });
  report.locale_after_reload = await mpage.evaluate(() => document.documentElement.lang);
  report.german_back_link = (await mpage.locator('a.back').textContent()).trim();
  await shot(mpage, 'phone-job-detail-de');
  step('locale');
  await phone.close();
}

h.run(async (browser) => {
  if (opts.oidc) await oidcScenario(browser);
  else if (opts['wrong-password']) await wrongPasswordScenario(browser);
  else await basicScenario(browser);
});
