#!/usr/bin/env node
// SPDX-License-Identifier: LGPL-2.1-or-later
//
// The viewer's side of bench-live.py: plays a live HLS playlist with hls.js
// in headless Chromium at the live edge and, every 250 ms, draws the shown
// frame to a canvas and reads the capture time burnt into its top row of
// blocks (bench-live.py's Publisher). Prints one JSON line:
//
//   node bench-live-player.js --url PLAYLIST --seconds S [--config JSON]
//
// {"samples": [[now_ms, burnt_ms_low32 | null, current_time, hls_latency]],
//  "errors": [...], "waiting": N, "console_errors": [...], "config": {...}}
//
// The page is put on the playlist's own origin (a route answered by
// playwright, path /__bench/…) so hls.js's requests are same-origin and the
// browser keeps its web security on; the canvas is never tainted as the
// video comes through Media Source Extensions. playwright-core and hls.js
// come from tests/browser/node_modules (npm ci --prefix tests/browser).
// Exits 0 with a report, 2 on bad arguments, 3 when it could not run.
'use strict';

const fs = require('fs');
const path = require('path');

const MODULES = path.join(__dirname, '..', 'browser', 'node_modules');
const HLS_JS = path.join(MODULES, 'hls.js', 'dist', 'hls.min.js');
const CHROMIUM = process.env.WE_CHROMIUM || '/usr/bin/chromium';

// the geometry bench-live.py draws: 40 blocks of 32x32 in the top rows,
// 32 bits of the capture time in ms (low 32 bits, MSB first) then an
// 8-bit check (the four bytes XORed with 0xa5)
const BLOCK = 32;
const BITS = 40;

function die(code, msg) {
  process.stderr.write('bench-live-player.js: ' + msg + '\n');
  process.exit(code);
}

function parseArgs(argv) {
  const o = { seconds: 30, config: {} };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => (i + 1 < argv.length ? argv[++i] : die(2, a + ' needs a value'));
    if (a === '--url') o.url = val();
    else if (a === '--seconds') o.seconds = Number(val());
    else if (a === '--config') o.config = JSON.parse(val());
    else die(2, 'unknown argument ' + a);
  }
  if (!o.url || !(o.seconds > 0))
    die(2, 'usage: node bench-live-player.js --url PLAYLIST --seconds S [--config JSON]');
  return o;
}

// runs in the page: plays, and samples the shown frame every 250 ms (a
// burnt value that fails its check is null)
function pageScript({ url, seconds, config, block, bits }) {
  const video = document.getElementById('video');
  const canvas = document.createElement('canvas');
  canvas.width = block * bits;
  canvas.height = block;
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  const state = { samples: [], errors: [], waiting: 0, done: false };
  window.benchState = state;
  const hls = new Hls(config);
  hls.on(Hls.Events.ERROR, (_e, d) => {
    state.errors.push((d.fatal ? '(fatal) ' : '') + d.type + ': ' + d.details);
  });
  video.addEventListener('waiting', () => state.waiting++);
  hls.loadSource(url);
  hls.attachMedia(video);

  function read() {
    if (video.readyState < 2 || video.videoWidth < block * bits)
      return null;
    ctx.drawImage(video, 0, 0, block * bits, block, 0, 0, block * bits, block);
    const px = ctx.getImageData(0, 0, block * bits, block).data;
    const bytes = [0, 0, 0, 0, 0];
    for (let b = 0; b < bits; b++) {
      let sum = 0;
      let n = 0;
      // the middle half of the block: clear of the codec's ringing
      for (let y = block / 4; y < (3 * block) / 4; y += 2) {
        for (let x = b * block + block / 4; x < b * block + (3 * block) / 4; x += 2) {
          const i = (y * block * bits + x) * 4;
          sum += 0.299 * px[i] + 0.587 * px[i + 1] + 0.114 * px[i + 2];
          n++;
        }
      }
      if (sum / n > 128)
        bytes[b >> 3] |= 0x80 >> (b & 7);
    }
    if ((bytes[0] ^ bytes[1] ^ bytes[2] ^ bytes[3] ^ 0xa5) !== bytes[4])
      return null;
    return ((bytes[0] << 24) | (bytes[1] << 16) | (bytes[2] << 8) | bytes[3]) >>> 0;
  }

  const timer = setInterval(() => {
    if (video.paused || video.readyState < 2)
      return;
    const now = Date.now();
    state.samples.push([now, read(), video.currentTime,
                        Number.isFinite(hls.latency) ? hls.latency : null]);
  }, 250);
  setTimeout(() => {
    clearInterval(timer);
    hls.destroy();
    state.done = true;
  }, seconds * 1000);
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  if (!fs.existsSync(HLS_JS))
    die(3, HLS_JS + ' is missing; run `npm ci --prefix tests/browser`');
  if (!fs.existsSync(CHROMIUM))
    die(3, CHROMIUM + ' is missing; apt-get install chromium');
  let chromium;
  try {
    ({ chromium } = require(path.join(MODULES, 'playwright-core')));
  } catch (e) {
    die(3, 'playwright-core is missing; run `npm ci --prefix tests/browser`');
  }
  const guard = setTimeout(() => die(3, 'no report after ' + (o.seconds + 90) + ' s'),
                           (o.seconds + 90) * 1000);
  guard.unref();

  const origin = new URL(o.url).origin;
  let browser;
  try {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      timeout: 60000,
      // as tests/browser/play.js: a headless page counts as hidden, and its
      // timers and media pipeline would be throttled
      args: ['--no-sandbox', '--autoplay-policy=no-user-gesture-required',
             '--disable-dev-shm-usage', '--disable-gpu', '--mute-audio', '--no-first-run',
             '--disable-background-networking', '--disable-component-update',
             '--disable-background-timer-throttling', '--disable-renderer-backgrounding',
             '--disable-backgrounding-occluded-windows'],
    });
  } catch (e) {
    die(3, 'Chromium did not start: ' + e.message);
  }
  const report = { samples: [], errors: [], waiting: 0, console_errors: [], config: o.config };
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
    page.on('console', (m) => {
      if (m.type() === 'error')
        report.console_errors.push(m.text());
    });
    page.on('pageerror', (e) => report.console_errors.push(String(e)));
    await page.route(origin + '/__bench/**', (route) => {
      const p = new URL(route.request().url()).pathname;
      if (p === '/__bench/hls.js')
        return route.fulfill({ contentType: 'text/javascript', path: HLS_JS });
      if (p === '/__bench/player.html')
        return route.fulfill({
          contentType: 'text/html',
          body: '<!DOCTYPE html><html><body style="margin:0">' +
                '<video id="video" muted autoplay playsinline ' +
                'style="width:1280px;height:720px"></video>' +
                '<script src="/__bench/hls.js"></script></body></html>',
        });
      return route.fulfill({ status: 404, body: '' });
    });
    await page.goto(origin + '/__bench/player.html');
    await page.evaluate(pageScript, { url: o.url, seconds: o.seconds, config: o.config,
                                      block: BLOCK, bits: BITS });
    await page.waitForFunction(() => window.benchState && window.benchState.done, null,
                               { timeout: (o.seconds + 30) * 1000, polling: 500 });
    const st = await page.evaluate(() => window.benchState);
    Object.assign(report, { samples: st.samples, errors: st.errors, waiting: st.waiting });
  } catch (e) {
    report.error = String(e && e.stack ? e.stack : e);
  } finally {
    await browser.close().catch(() => {});
  }
  process.stdout.write(JSON.stringify(report) + '\n');
  process.exit(0);
}

main();
