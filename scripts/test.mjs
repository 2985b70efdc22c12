#!/usr/bin/env node
// Runs every test file with node:test through tsx. Node 20's runner has no globs and finds no
// .ts files by itself (running zero tests and exiting 0), so the files are listed here and an
// empty list is a failure.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const filter = process.argv.slice(2);

function find(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...find(path));
    else if (name.endsWith('.test.ts')) out.push(relative(root, path));
  }
  return out;
}

const files = ['src', 'test']
  .flatMap((d) => find(join(root, d)))
  .filter((f) => filter.length === 0 || filter.some((part) => f.includes(part)))
  .sort();
if (files.length === 0) {
  console.error('test: no test files found', filter.length ? `matching ${filter.join(' ')}` : '');
  process.exit(1);
}
// Build first: the console is served from dist/ and the pack test packs it, so every test sees
// one fresh build instead of several racing to make their own.
const build = spawnSync('npm', ['run', 'build', '--silent'], { cwd: root, stdio: 'inherit' });
if (build.status !== 0) {
  console.error('test: the build failed');
  process.exit(build.status ?? 1);
}
console.log(`test: ${files.length} files`);
const result = spawnSync(
  process.execPath,
  // A hung test fails after 5 minutes instead of holding the run until CI's limit. The limit
  // holds for a whole file too, and CI's full pack install compiles better-sqlite3: about 2
  // minutes alone, past 2 on a busy machine (it was cut off at 120 s there, as was the
  // durability file once).
  ['--import', 'tsx', '--test', '--test-reporter=spec', '--test-concurrency=2', '--test-timeout=300000', ...files],
  { cwd: root, stdio: 'inherit', env: { ...process.env, NODE_ENV: 'test' } },
);
process.exit(result.status ?? 1);
