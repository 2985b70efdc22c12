import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';

const root = new URL('../../../', import.meta.url).pathname;

/**
 * A process that opens, uses and closes stores (file stores with their writer thread, and
 * in-memory ones), then drops them and allocates in a hot loop. The loop's optimized code starts
 * collections with no context entered; on Node 24.19+ one that collects a better-sqlite3 object
 * aborts the process (see `retained` in open-sqlite.ts). Without the fix this fails every time
 * on Node 24; on Nodes 20 and 22 it checks that the fix changes nothing there.
 */
const churn = `
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from ${JSON.stringify(new URL('./sqlite-store.ts', import.meta.url).href)};
const dir = mkdtempSync(join(tmpdir(), 'broker-gc-'));
for (let i = 0; i < 8; i++) {
  const store = new SqliteStore(i % 2 ? ':memory:' : join(dir, 's' + i + '.db'));
  await store.events.append({ id: 'e' + i, userId: 'u', event: 'gc', timestamp: 0, data: '1' });
  await store.events.readReleased({ after: 0, limit: 10 });
  await store.ping();
  await store.close();
}
// Short-lived objects (scavenges) and some that live long enough to be promoted (full collections).
let keep = [];
for (let i = 0; i < 1e7; i++) { keep.push({ i }); if (keep.length > 300000) keep = []; }
rmSync(dir, { recursive: true, force: true });
console.log('done');
`;

test('closed stores leave no better-sqlite3 object for the garbage collector (Node 24 aborts on one)', () => {
  const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', churn], {
    cwd: root,
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.deepEqual(
    { status: child.status, signal: child.signal, stdout: child.stdout.trim() },
    { status: 0, signal: null, stdout: 'done' },
    child.stderr,
  );
});

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : /\.(ts|mjs)$/.test(e.name) ? [join(dir, e.name)] : [],
  );
}

test('only open-sqlite.ts reaches better-sqlite3, so every connection and statement is kept', () => {
  const importers = ['src', 'test', 'bench', 'scripts', 'examples']
    .flatMap((d) => sources(join(root, d)))
    .filter((f) => /from ['"]better-sqlite3['"]/.test(readFileSync(f, 'utf8')))
    .map((f) => relative(root, f));
  assert.deepEqual(importers, ['src/store/sqlite/open-sqlite.ts']);
});
