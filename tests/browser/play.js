#!/usr/bin/env node
// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Play one HLS/DASH/MP4 URL in headless Chromium and print one JSON line:
//
//   node play.js --url URL --kind hls|dash|mp4 [--rate N] [--timeout S]
//                [--header 'Name: value' ...] [--screenshot PATH] [--strict-cors]
//                [--subtitles LANG]
//
// {"ended", "reason", "duration", "current_time", "stalls", "errors",
//  "levels", "levels_played", "level_switches", "fatal", "console_errors",
//  "http_errors", "video", "frames", "wall_s", ...}; README.md has them all.
// Also "audio_tracks", "subtitle_tracks" (what the player offers: lang,
// name), and with --subtitles LANG the subtitle track in LANG is selected
// and shown: "subtitle_frags" (hls.js) and "text_tracks" (cues that reached
// the media element) show it loaded.
//
// Exits 0 whenever it printed a report, whatever the playback did (the
// caller judges it); 2 on bad arguments, 3 when the harness itself could not
// run (no Chromium, no node_modules, the browser would not start).
'use strict';

const fs = require('fs');
const http = require('http');
const path = require('path');

const t0 = Date.now();
const HERE = __dirname;
const CHROMIUM = process.env.WE_CHROMIUM || '/usr/bin/chromium';

// what the page may load, and only that: the player page and the two players
const STATIC = {
  '/player.html': [path.join(HERE, 'player.html'), 'text/html'],
  '/player.js': [path.join(HERE, 'player.js'), 'text/javascript'],
  '/lib/hls.js': [path.join(HERE, 'node_modules/hls.js/dist/hls.min.js'), 'text/javascript'],
  '/lib/dash.js': [path.join(HERE, 'node_modules/dashjs/dist/modern/umd/dash.all.min.js'),
                   'text/javascript'],
};

function usage(msg) {
  if (msg)
    process.stderr.write('play.js: ' + msg + '\n');
  process.stderr.write('usage: node play.js --url URL --kind hls|dash|mp4 [--rate N] ' +
                       "[--timeout S] [--header 'Name: value' ...] [--screenshot PATH] " +
                       '[--strict-cors] [--subtitles LANG]\n');
  process.exit(2);
}

function parseArgs(argv) {
  const o = { rate: 4, timeout: 60, headers: {}, screenshot: null, strictCors: false,
              subtitles: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length)
        usage(a + ' needs a value');
      return argv[++i];
    };
    if (a === '--url') o.url = val();
    else if (a === '--kind') o.kind = val();
    else if (a === '--rate') o.rate = Number(val());
    else if (a === '--timeout') o.timeout = Number(val());
    else if (a === '--screenshot') o.screenshot = val();
    else if (a === '--strict-cors') o.strictCors = true;
    else if (a === '--subtitles') o.subtitles = val();
    else if (a === '--header') {
      const h = val();
      const colon = h.indexOf(':');
      if (colon <= 0)
        usage('--header wants "Name: value", got ' + JSON.stringify(h));
      o.headers[h.slice(0, colon).trim()] = h.slice(colon + 1).trim();
    } else if (a === '-h' || a === '--help') usage();
    else usage('unknown argument ' + a);
  }
  if (!o.url) usage('--url is required');
  if (!['hls', 'dash', 'mp4'].includes(o.kind)) usage('--kind must be hls, dash or mp4');
  // Chromium accepts 0.0625..16; beyond 4 it also mutes, which we are anyway
  if (!(o.rate >= 0.0625 && o.rate <= 16)) usage('--rate must be within 0.0625..16');
  if (!(o.timeout > 0)) usage('--timeout must be > 0');
  try {
    new URL(o.url);
  } catch (e) {
    usage('--url is not an absolute URL: ' + o.url);
  }
  return o;
}

function die(msg) {
  process.stderr.write('play.js: ' + msg + '\n');
  process.exit(3);
}

function checkSetup() {
  for (const [, [file]] of Object.entries(STATIC)) {
    if (!fs.existsSync(file))
      die(file + ' is missing; run `npm ci --prefix tests/browser`');
  }
  try {
    require.resolve('playwright-core');
  } catch (e) {
    die('playwright-core is missing; run `npm ci --prefix tests/browser`');
  }
  if (!fs.existsSync(CHROMIUM))
    die(CHROMIUM + ' is missing; run `apt-get install chromium`');
}

function startStatic() {
  const server = http.createServer((req, res) => {
    const p = new URL(req.url, 'http://x').pathname;
    if (p === '/favicon.ico') {
      // asked for by every page; a 404 would show up among console_errors
      res.writeHead(204);
      res.end();
      return;
    }
    const entry = STATIC[p === '/' ? '/player.html' : p];
    if (!entry || req.method !== 'GET') {
      res.writeHead(404);
      res.end();
      return;
    }
    res.writeHead(200, { 'Content-Type': entry[1], 'Cache-Control': 'no-store' });
    fs.createReadStream(entry[0]).pipe(res);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

function round(x) {
  return Math.round(x * 1000) / 1000;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  checkSetup();
  const { chromium } = require('playwright-core');

  // Whatever happens below, the caller gets its answer within the timeout
  // plus the browser's start and stop; a wedged browser must not hang a test.
  const guard = setTimeout(() => die('gave up: no report after ' +
                                     (opts.timeout + 60) + ' s'),
                           (opts.timeout + 60) * 1000);
  guard.unref();

  const server = await startStatic();
  const pageUrl = 'http://127.0.0.1:' + server.address().port + '/player.html';

  // The media come from another origin (the service under test), and a
  // test must be able to point at playlists with absolute URLs, keys on yet
  // another host or segments redirected to S3. A same-origin reverse proxy
  // only covers relative URLs and would need to rewrite playlists, so the
  // browser is told not to enforce CORS instead: what is tested is the media,
  // and a request carries exactly the headers the player set (no preflight).
  // --strict-cors keeps the browser's checks, for a test of the service's
  // CORS answers themselves.
  const args = [
    '--no-sandbox', // root in a VM or container: the setuid sandbox cannot start
    '--autoplay-policy=no-user-gesture-required',
    '--disable-dev-shm-usage', // a small /dev/shm in containers crashes renderers
    '--disable-gpu',
    '--mute-audio',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    // a headless page counts as hidden: without these its timers and media
    // pipeline are throttled and playback stutters on a busy 2-core machine
    '--disable-background-timer-throttling',
    '--disable-renderer-backgrounding',
    '--disable-backgrounding-occluded-windows',
  ];
  if (!opts.strictCors)
    args.push('--disable-web-security');

  let browser;
  try {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args,
      timeout: 60000,
    });
  } catch (e) {
    server.close();
    die('Chromium did not start: ' + e.message);
  }

  const consoleErrors = [];
  const httpErrors = [];
  let report;
  try {
    const context = await browser.newContext({ viewport: { width: 640, height: 360 } });
    const page = await context.newPage();
    page.on('console', (msg) => {
      if (msg.type() === 'error')
        consoleErrors.push(msg.text());
    });
    page.on('pageerror', (err) => consoleErrors.push('pageerror: ' + err.message));
    page.on('crash', () => consoleErrors.push('renderer crashed'));
    // dash.js skips a segment that failed its retries and still reaches
    // `ended`; the failed request itself is the evidence, so it is reported
    page.on('response', (resp) => {
      if (resp.status() >= 400)
        httpErrors.push({ url: resp.url(), status: resp.status() });
    });
    page.on('requestfailed', (req) => {
      const f = req.failure();
      // the players abort requests they no longer need (a level switch, the end)
      if (f && f.errorText !== 'net::ERR_ABORTED')
        httpErrors.push({ url: req.url(), status: null, error: f.errorText });
    });

    const names = Object.keys(opts.headers);
    if (opts.kind === 'mp4' && names.length) {
      // a media element has no way to set headers; add them on the way out,
      // to the media's origin only (not to a redirect target such as S3)
      const origin = new URL(opts.url).origin;
      await page.route((u) => u.origin === origin, (route) =>
        route.continue({ headers: Object.assign({}, route.request().headers(), opts.headers) }));
    }

    await page.goto(pageUrl, { waitUntil: 'load' });
    await page.evaluate((o) => window.weStart(o),
                        { url: opts.url, kind: opts.kind, rate: opts.rate, headers: opts.headers,
                          subtitles: opts.subtitles });
    let timedOut = false;
    try {
      await page.waitForFunction(() => typeof weState === 'object' && weState.done, null,
                                 { timeout: opts.timeout * 1000, polling: 100 });
    } catch (e) {
      if (e.name !== 'TimeoutError')
        throw e;
      timedOut = true;
    }
    report = await page.evaluate(() => window.weReport());
    if (timedOut)
      report.reason = 'timeout';
    if (opts.screenshot)
      await page.screenshot({ path: opts.screenshot });
  } catch (e) {
    // the page or the browser died under us: still one report, marked fatal
    report = report || { ended: false, reason: 'fatal', duration: null, current_time: null,
                         stalls: 0, errors: [], levels: [], levels_played: [],
                         level_switches: 0, fatal: true };
    report.errors.push('harness:' + e.message.split('\n')[0]);
    report.fatal = true;
  }
  await browser.close().catch(() => {});
  server.close();
  report.kind = opts.kind;
  report.rate = opts.rate;
  report.console_errors = consoleErrors;
  report.http_errors = httpErrors;
  report.wall_s = round((Date.now() - t0) / 1000);
  process.stdout.write(JSON.stringify(report) + '\n');
  process.exit(0);
}

main().catch((e) => die(e.stack || String(e)));
