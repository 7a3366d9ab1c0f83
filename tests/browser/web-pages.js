#!/usr/bin/env node
// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Visits every page of the web dashboard in headless Chromium, for
// test_web_pages.py: as an admin and as a viewer, at 1280x800 and on a
// 390x844 phone, and as an admin in every locale. On each page it records
// console errors, failed requests, horizontal overflow, pages still
// "loading" after a while and message keys shown instead of text (a
// missing translation). Screenshots of every page at both sizes.
//
//   node web-pages.js --base URL --admin U:P --viewer U:P --shots DIR --routes JSON
//
// Prints one final {"report": {…}}; exits 3 when the harness itself could
// not run.
'use strict';

const h = require('./harness').start({
  name: 'web-pages.js',
  args: ['base', 'admin', 'viewer', 'shots', 'routes'],
  usage: '--base URL --admin U:P --viewer U:P --shots DIR --routes JSON',
  stepEnv: 'WE_PAGES_SETTLE_MS',
  stepMs: 15000,
  report: { visits: [] },
});
const { opts, report, login, shot } = h;
const SETTLE_MS = h.STEP_MS;

// [name, path, who may see it ("viewer" or "admin")]
const ROUTES = JSON.parse(opts.routes);
// the feature prefixes of our message keys: one shown as text is a key
// the dictionaries lack (a dynamic key, e.g. a status the UI does not know).
// The singular "job." and "task." are left out: event types and audit
// actions (job.created, job.create) are data that look the same.
const KEY_RE = /\b(?:app|nav|top|role|login|dash|jobs|col|status|common|detail|wizard|profiles|workers|plugins|audit|errors|charts|health|ops)\.[a-z][A-Za-z0-9]*(?:\.[A-Za-z0-9]+)*\b/;


async function visit(page, label, name, route, width, errors, shotName) {
  const v = { label, name, route, console_errors: [], http_errors: [] };
  errors.current = v;
  await page.goto(opts.base + route, { waitUntil: 'load' });
  // settled: the live socket is up and nothing says "loading" any more
  await page.locator('[data-testid=ws-state][data-state=open]').waitFor({ timeout: SETTLE_MS })
    .catch(() => { v.ws_not_open = true; });
  const t0 = Date.now();
  for (;;) {
    const busy = await page.evaluate(() => {
      const main = document.querySelector('main') || document.body;
      return /Loading…|Wird geladen|読み込み中|Cargando|Chargement/.test(main.innerText) ||
             document.querySelector('[aria-busy=true]') !== null;
    });
    if (!busy) break;
    if (Date.now() - t0 > SETTLE_MS) {
      v.still_loading = true;
      break;
    }
    await page.waitForTimeout(100);
  }
  await page.waitForTimeout(300);
  // sideways scrolling, against the width asked for (harness.js)
  const { overflow, scroll_width } = await h.overflowFacts(page, width);
  const facts = await page.evaluate(() => ({
    h1: (document.querySelector('main h1') || {}).textContent || null,
    text: (document.querySelector('main') || document.body).innerText,
    forbidden: document.querySelector('[data-testid=forbidden], [data-testid$="-forbidden"]') !== null,
  }));
  v.overflow = overflow;
  v.scroll_width = scroll_width;
  v.h1 = facts.h1;
  v.forbidden = facts.forbidden;
  const key = facts.text.match(KEY_RE);
  v.key_shown = key ? key[0] : null;
  v.text_len = facts.text.length;
  if (shotName) await shot(page, shotName);
  errors.current = null;
  report.visits.push(v);
}

async function session(browser, { label, creds, role, width, height, phone, locale, shots }) {
  const ctx = await browser.newContext({
    viewport: { width, height }, locale: locale === 'en' ? 'en-US' : locale,
    isMobile: !!phone, hasTouch: !!phone, reducedMotion: 'reduce',
  });
  // the locale from the browser's languages, as a first visit would
  await ctx.addInitScript(() => localStorage.removeItem('we.locale'));
  const page = await ctx.newPage();
  const errors = { current: null, stray: [] };
  const sink = () => (errors.current ? errors.current : { console_errors: errors.stray, http_errors: errors.stray });
  // what goes wrong is the current visit's (or recorded as between pages)
  h.watch(page, label, {
    console: () => sink().console_errors,
    pageError: () => sink().console_errors,
    http: () => sink().http_errors,
  });
  await login(page, creds, role);
  for (const [name, route, least] of ROUTES) {
    const may = least === 'viewer' || role === 'admin';
    await visit(page, label, name, route, width, errors,
                shots ? `${label}-${name}` : null);
    report.visits[report.visits.length - 1].may = may;
  }
  if (errors.stray.length) report.visits.push({ label, name: '(between pages)', console_errors: errors.stray, http_errors: [] });
  await ctx.close();
}

h.run(async (browser) => {
  await session(browser, { label: 'desktop', creds: opts.admin, role: 'admin', width: 1280, height: 800, locale: 'en', shots: true });
  await session(browser, { label: 'phone', creds: opts.admin, role: 'admin', width: 390, height: 844, phone: true, locale: 'en', shots: true });
  await session(browser, { label: 'viewer-desktop', creds: opts.viewer, role: 'viewer', width: 1280, height: 800, locale: 'en' });
  await session(browser, { label: 'viewer-phone', creds: opts.viewer, role: 'viewer', width: 390, height: 844, phone: true, locale: 'en', shots: true });
  for (const locale of ['de', 'ja', 'es', 'fr'])
    await session(browser, { label: 'locale-' + locale, creds: opts.admin, role: 'admin', width: 1280, height: 800, locale });
});
