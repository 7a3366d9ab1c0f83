#!/usr/bin/env node
// Prints the gzipped size of the JavaScript a first page load fetches (the
// entry script of dist/index.html and the chunks it preloads; lazy chunks
// such as the other locales are not counted) and fails above the budget.
//
//   node scripts/check-bundle.mjs [DIST_DIR] [--budget-kb N]
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';

const args = process.argv.slice(2);
let budgetKb = 300;
let dist = resolve(new URL('..', import.meta.url).pathname, 'dist');
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--budget-kb') budgetKb = Number(args[++i]);
  else dist = resolve(args[i]);
}

const indexPath = join(dist, 'index.html');
if (!existsSync(indexPath)) {
  console.error(`check-bundle: ${indexPath} is missing: build the dashboard first ` +
                '(npm ci --prefix web && npm run build --prefix web)');
  process.exit(1);
}
const html = readFileSync(indexPath, 'utf8');
const urls = new Set();
for (const m of html.matchAll(/<script[^>]*type="module"[^>]*src="([^"]+)"/g)) urls.add(m[1]);
for (const m of html.matchAll(/<link[^>]*rel="modulepreload"[^>]*href="([^"]+)"/g)) urls.add(m[1]);
if (urls.size === 0) {
  console.error('check-bundle: dist/index.html names no module script');
  process.exit(1);
}

let total = 0;
for (const url of urls) {
  if (!/^\/assets\/[^/]+-[A-Za-z0-9_-]{6,}\.js$/.test(url)) {
    console.error(`check-bundle: ${url} is not a hashed asset under /assets/`);
    process.exit(1);
  }
  const file = join(dist, url);
  if (!existsSync(file)) {
    console.error(`check-bundle: ${url} is named by index.html but missing from ${dist}`);
    process.exit(1);
  }
  const gz = gzipSync(readFileSync(file), { level: 9 }).length;
  total += gz;
  console.log(`${url}: ${(gz / 1024).toFixed(1)} KB gzipped`);
}
const kb = total / 1024;
console.log(`initial JS: ${kb.toFixed(1)} KB gzipped (budget ${budgetKb} KB)`);
if (kb > budgetKb) {
  console.error(`check-bundle: initial JS ${kb.toFixed(1)} KB gzipped is over the ${budgetKb} KB budget`);
  process.exit(1);
}
