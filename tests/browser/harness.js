// SPDX-License-Identifier: LGPL-2.1-or-later
//
// What the dashboard's browser drivers (dashboard.js, web-*.js) share:
// arguments, playwright-core and Chromium, the stdio protocol with the
// Python test (webtest.run_driver), login, watching pages for console
// errors, uncaught exceptions, failed requests and crashes, screenshots,
// the phone overflow check, and the run that always ends in one report.
//
//   const h = require('./harness').start({ name: 'web-x.js', args: [...],
//                                           report: {...} });
//   h.run(async (browser) => { ... });
//
// A driver prints one JSON object a line: {"step": …} as it goes, questions
// for its caller (answered with one line on stdin), one final {"report": …}.
// It exits 0 after the report (the caller judges it), 2 on bad arguments,
// 3 when the harness itself could not run.
'use strict';

const fs = require('fs');
const path = require('path');
const readline = require('readline');

const CHROMIUM = process.env.WE_CHROMIUM || '/usr/bin/chromium';
const LAUNCH_ARGS = ['--disable-dev-shm-usage', '--disable-gpu', '--no-first-run',
                     '--disable-background-networking', '--disable-component-update',
                     '--disable-background-timer-throttling', '--disable-renderer-backgrounding'];

// cfg: name (for messages), args (required --options), optional (allowed
// too), needed(opts) (the required ones, when they depend on the others),
// usage, stepMs (default timeout of a step, ms), stepEnv (the environment
// variable that overrides it), report (the driver's report fields)
function start(cfg) {
  const h = {};
  const die = (msg, code) => {
    process.stderr.write(cfg.name + ': ' + msg + '\n');
    process.exit(code || 3);
  };
  h.die = die;

  const allowed = cfg.args.concat(cfg.optional || []);
  const usage = 'usage: node ' + cfg.name + ' ' +
    (cfg.usage || allowed.map((k) => '--' + k + ' ' + k.toUpperCase()).join(' '));
  const argv = process.argv.slice(2);
  const opts = {};
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i].replace(/^--/, '');
    if (!allowed.includes(k) || i + 1 >= argv.length) die(usage, 2);
    opts[k] = argv[i + 1];
  }
  for (const k of cfg.needed ? cfg.needed(opts) : cfg.args)
    if (!opts[k]) die('--' + k + ' is required\n' + usage, 2);
  h.opts = opts;

  try {
    h.playwright = require(path.join(__dirname, 'node_modules', 'playwright-core'));
  } catch (e) {
    die('playwright-core is missing: npm ci --prefix tests/browser (' + e.message + ')');
  }
  if (!fs.existsSync(CHROMIUM)) die(CHROMIUM + ' is missing: apt-get install chromium');
  if (opts.shots) fs.mkdirSync(opts.shots, { recursive: true });

  h.STEP_MS = Number((cfg.stepEnv && process.env[cfg.stepEnv]) || cfg.stepMs || 60000);
  h.report = Object.assign({ steps: [], console_errors: [], http_errors: [], screenshots: [] },
                           cfg.report || {});
  const report = h.report;

  // ---- stdio with the caller ----
  let lines = null;
  const pending = [];
  const waiting = [];
  h.readLine = () => {
    if (!lines) {
      // only drivers that ask open stdin: an open one keeps node alive
      lines = readline.createInterface({ input: process.stdin });
      lines.on('line', (l) => {
        const w = waiting.shift();
        if (w) w(l);
        else pending.push(l);
      });
    }
    if (pending.length) return Promise.resolve(pending.shift());
    return new Promise((resolve) => waiting.push(resolve));
  };
  h.emit = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
  // a question for the caller (one JSON line out), its answer parsed
  h.ask = async (obj) => {
    h.emit(obj);
    return JSON.parse(await h.readLine());
  };
  h.step = (name, extra) => {
    report.steps.push(Object.assign({ step: name, t: Date.now() }, extra || {}));
    h.emit({ step: name });
  };

  // ---- pages ----
  h.pages = [];
  // Records what goes wrong on a page under `label`. The hooks decide where
  // a line goes: they return the array to push it to, or null to drop it
  // (an error provoked on purpose and accounted for elsewhere):
  //   console(msg, line, url), pageError(err, line), http(response, line),
  //   httpLine(response) (the line of a failed request), response(r) (sees
  //   every response from the service).
  h.watch = (page, label, hooks) => {
    const o = hooks || {};
    h.pages.push([label, page]);
    page.on('console', (msg) => {
      if (msg.type() !== 'error') return;
      // which URL a "Failed to load resource" was about
      const url = (msg.location() || {}).url || '';
      const line = label + ': ' + msg.text() + (url ? ' (' + url + ')' : '');
      const sink = o.console ? o.console(msg, line, url) : report.console_errors;
      if (sink) sink.push(line);
    });
    page.on('pageerror', (err) => {
      const line = label + ' pageerror: ' + err.message;
      const sink = o.pageError ? o.pageError(err, line) : report.console_errors;
      if (sink) sink.push(line);
    });
    page.on('response', (r) => {
      if (!r.url().startsWith(opts.base + '/')) return;
      if (o.response) o.response(r);
      if (r.status() < 400) return;
      const line = o.httpLine ? o.httpLine(r) :
        label + ': ' + r.status() + ' ' + r.request().method() + ' ' + r.url();
      const sink = o.http ? o.http(r, line) : report.http_errors;
      if (sink) sink.push(line);
    });
    page.on('crash', () => {
      const line = label + ': renderer crashed';
      const sink = o.pageError ? o.pageError({ message: 'renderer crashed' }, line) : report.console_errors;
      (sink || report.console_errors).push(line);
    });
  };

  h.shot = async (page, name) => {
    const file = path.join(opts.shots, name + '.png');
    await page.screenshot({ path: file, fullPage: true });
    report.screenshots.push(file);
  };

  // Against the viewport width the context ASKED for: a mobile viewport
  // (isMobile) widens itself, innerWidth too, to fit whatever overflows,
  // so comparing with innerWidth alone would always agree.
  h.overflowFacts = (page, width) => page.evaluate((w) => ({
    scroll_width: document.documentElement.scrollWidth,
    overflow: document.documentElement.scrollWidth > w + 1 || window.innerWidth > w + 1,
  }), width || page.viewportSize().width);
  h.noOverflow = async (page, width) => !(await h.overflowFacts(page, width)).overflow;

  // the login form, as USER:PASS, until the shell shows the user's role
  h.login = async (page, creds, role, where) => {
    const [user, pass] = creds.split(/:(.*)/s);
    await page.goto(opts.base + (where || '/'), { waitUntil: 'load' });
    await page.locator('[data-testid=login-form]').waitFor({ timeout: h.STEP_MS });
    await page.fill('input[name=username]', user);
    await page.fill('input[name=password]', pass);
    await page.click('[data-testid=login-form] button[type=submit]');
    await page.locator(`[data-testid=user][data-role=${role}]`).waitFor({ timeout: h.STEP_MS });
  };

  // follows a nav link (opening the drawer on a phone)
  h.nav = async (page, href) => {
    const link = page.locator(`nav a[href="${href}"]`);
    if (!(await page.evaluate(() => document.querySelector('aside.sidebar').getBoundingClientRect().right > 0))) {
      await page.click('[data-testid=nav-toggle]');
      await link.waitFor({ state: 'visible', timeout: h.STEP_MS });
      await page.waitForTimeout(300); // the drawer's slide-in
    }
    await link.click();
  };

  // Launches Chromium, runs the scenario, and always ends with the report:
  // a scenario that throws leaves report.error, with a screenshot and the
  // text of every open page (failure-LABEL.png). o: launchArgs (extra
  // Chromium flags), failurePrefix, failureText (characters kept).
  h.run = (scenario, o) => {
    const ro = o || {};
    const main = async () => {
      const browser = await h.playwright.chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
        args: LAUNCH_ARGS.concat(ro.launchArgs || []),
        timeout: 60000,
      }).catch((e) => die('Chromium did not start: ' + e.message));
      try {
        await scenario(browser);
      } catch (e) {
        report.error = String((e && e.stack) || e);
        report.failure_pages = {};
        for (const [label, page] of h.pages) {
          if (page.isClosed()) continue;
          if (opts.shots)
            await h.shot(page, (ro.failurePrefix || 'failure-') + label).catch(() => undefined);
          report.failure_pages[label] = await page.evaluate(
            (n) => location.href + '\n' + document.body.innerText.slice(0, n), ro.failureText || 2000)
            .catch((x) => String(x));
        }
      } finally {
        await browser.close().catch(() => undefined);
      }
      h.emit({ report });
      process.exit(0);
    };
    main().catch((e) => die(String((e && e.stack) || e)));
  };

  return h;
}

module.exports = { start, CHROMIUM, LAUNCH_ARGS };
