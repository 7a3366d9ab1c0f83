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
// Prints one JSON report on stdout; exits 3 when the harness itself could
// not run.
'use strict';

const fs = require('fs');
const path = require('path');

const CHROMIUM = process.env.WE_CHROMIUM || '/usr/bin/chromium';
const SETTLE_MS = Number(process.env.WE_PAGES_SETTLE_MS || 15000);

function die(msg) {
  process.stderr.write('web-pages.js: ' + msg + '\n');
  process.exit(3);
}

const opts = {};
{
  const argv = process.argv.slice(2);
  for (let i = 0; i + 1 < argv.length; i += 2) opts[argv[i].replace(/^--/, '')] = argv[i + 1];
  for (const k of ['base', 'admin', 'viewer', 'shots', 'routes'])
    if (!opts[k]) die('--' + k + ' is required');
}
let playwright;
try {
  playwright = require(path.join(__dirname, 'node_modules', 'playwright-core'));
} catch (e) {
  die('playwright-core is missing: npm ci --prefix tests/browser (' + e.message + ')');
}
if (!fs.existsSync(CHROMIUM)) die(CHROMIUM + ' is missing: apt-get install chromium');
fs.mkdirSync(opts.shots, { recursive: true });

// [name, path, who may see it ("viewer" or "admin")]
const ROUTES = JSON.parse(opts.routes);
// the feature prefixes of our message keys: one shown as text is a key
// the dictionaries lack (a dynamic key, e.g. a status the UI does not know).
// The singular "job." and "task." are left out: event types and audit
// actions (job.created, job.create) are data that look the same.
const KEY_RE = /\b(?:app|nav|top|role|login|dash|jobs|col|status|common|detail|wizard|profiles|workers|plugins|audit|errors|charts|health|ops)\.[a-z][A-Za-z0-9]*(?:\.[A-Za-z0-9]+)*\b/;

const report = { visits: [], screenshots: [] };

async function login(page, creds, role) {
  const [user, pass] = creds.split(/:(.*)/s);
  await page.goto(opts.base + '/', { waitUntil: 'load' });
  await page.locator('[data-testid=login-form]').waitFor({ timeout: SETTLE_MS });
  await page.fill('input[name=username]', user);
  await page.fill('input[name=password]', pass);
  await page.click('[data-testid=login-form] button[type=submit]');
  await page.locator(`[data-testid=user][data-role=${role}]`).waitFor({ timeout: SETTLE_MS });
}

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
  const facts = await page.evaluate((w) => ({
    overflow: document.documentElement.scrollWidth > w + 1 || window.innerWidth > w + 1,
    scroll_width: document.documentElement.scrollWidth,
    h1: (document.querySelector('main h1') || {}).textContent || null,
    text: (document.querySelector('main') || document.body).innerText,
    forbidden: document.querySelector('[data-testid=forbidden], [data-testid$="-forbidden"]') !== null,
  }), width);
  v.overflow = facts.overflow;
  v.scroll_width = facts.scroll_width;
  v.h1 = facts.h1;
  v.forbidden = facts.forbidden;
  const key = facts.text.match(KEY_RE);
  v.key_shown = key ? key[0] : null;
  v.text_len = facts.text.length;
  if (shotName) {
    const file = path.join(opts.shots, shotName + '.png');
    await page.screenshot({ path: file, fullPage: true });
    report.screenshots.push(file);
  }
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
  page.on('console', (msg) => {
    if (msg.type() === 'error') sink().console_errors.push(msg.text());
  });
  page.on('pageerror', (err) => sink().console_errors.push('pageerror: ' + err.message));
  page.on('response', (r) => {
    if (r.status() >= 400 && r.url().startsWith(opts.base + '/')) sink().http_errors.push(r.status() + ' ' + r.url());
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

(async () => {
  const browser = await playwright.chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  try {
    await session(browser, { label: 'desktop', creds: opts.admin, role: 'admin', width: 1280, height: 800, locale: 'en', shots: true });
    await session(browser, { label: 'phone', creds: opts.admin, role: 'admin', width: 390, height: 844, phone: true, locale: 'en', shots: true });
    await session(browser, { label: 'viewer-desktop', creds: opts.viewer, role: 'viewer', width: 1280, height: 800, locale: 'en' });
    await session(browser, { label: 'viewer-phone', creds: opts.viewer, role: 'viewer', width: 390, height: 844, phone: true, locale: 'en', shots: true });
    for (const locale of ['de', 'ja', 'es', 'fr'])
      await session(browser, { label: 'locale-' + locale, creds: opts.admin, role: 'admin', width: 1280, height: 800, locale });
  } catch (e) {
    report.error = String(e && e.stack || e);
  } finally {
    await browser.close();
  }
  process.stdout.write(JSON.stringify(report) + '\n');
})();
