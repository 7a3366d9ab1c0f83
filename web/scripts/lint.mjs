#!/usr/bin/env node
// The house lint beyond tsc: no hard-coded UI strings in JSX (every text a
// user reads goes through t()), and no console.log left behind.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const problems = [];

function walk(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (/\.tsx?$/.test(name)) check(p);
  }
}

function check(path) {
  const lines = readFileSync(path, 'utf8').split('\n');
  lines.forEach((line, i) => {
    const where = `${relative(root, path)}:${i + 1}`;
    if (/console\.log\(/.test(line)) problems.push(`${where}: console.log`);
    if (!path.endsWith('.tsx')) return;
    // text between tags: ">Word<" or a line that is only words inside JSX
    const m = line.match(/(?<![=-])>\s*([A-Za-z][A-Za-z ,.'!?]{2,})\s*</) ?? line.match(/^\s+([A-Z][a-z]+(?: [a-z]+)+)\s*$/);
    if (m) problems.push(`${where}: hard-coded UI text ${JSON.stringify(m[1])} (use t())`);
    for (const attr of ['placeholder', 'title', 'aria-label', 'alt']) {
      const a = line.match(new RegExp(`${attr}="([^"]*[A-Za-z]{2,}[^"]*)"`));
      if (a) problems.push(`${where}: hard-coded ${attr}=${JSON.stringify(a[1])} (use t())`);
    }
  });
}

walk(join(root, 'src'));
if (problems.length) {
  console.error(problems.join('\n'));
  console.error(`lint: ${problems.length} problem(s)`);
  process.exit(1);
}
console.error('lint: ok');
