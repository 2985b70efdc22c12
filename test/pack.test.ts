import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir } from './helpers/start-broker.js';

const root = new URL('..', import.meta.url).pathname;

/** A program written as a user of the published package would write it. */
const consumer = `
import { startBroker } from 'broker';
const broker = await startBroker({ origin: '*', port: 0, host: '127.0.0.1', databaseUrl: 'sqlite:./data/b.db',
  secret: 'packed-secret-packed-secret-0123456789', bcryptCost: 4, logLevel: 'silent', env: {} });
const post = (path, body, token) => fetch(broker.url + path, { method: 'POST',
  headers: { 'content-type': 'application/json', ...(token ? { authorization: 'Bearer ' + token } : {}) },
  body: JSON.stringify(body) }).then((r) => r.json());
await post('/users', { username: 'packed', password: 'packed-password' });
const { jwt } = await post('/login', { username: 'packed', password: 'packed-password' });
const stream = await fetch(broker.url + '/events?event=hello');
const reader = stream.body.getReader();
await post('/insert', { event: 'hello', data: { from: 'the packed package' } }, jwt);
let text = '';
while (!/data:.*\\n\\n/.test(text)) text += new TextDecoder().decode((await reader.read()).value);
await reader.cancel();
await broker.close();
console.log(JSON.stringify({ frame: text.slice(text.indexOf('id:')) }));
`;

test('npm pack produces a package that installs into an empty project and runs', { timeout: 600_000 }, () => {
  const dir = tempDir();
  try {
    // dist/ was built by the test runner; --ignore-scripts keeps `prepare` from rebuilding it
    // under the feet of other test files that serve it.
    execFileSync('npm', ['pack', '--ignore-scripts', '--pack-destination', dir, '--silent'], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const tarball = readdirSync(dir).find((f) => f.endsWith('.tgz'));
    assert.ok(tarball, 'npm pack wrote a tarball');
    const project = join(dir, 'project');
    mkdirSync(project);
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    writeFileSync(join(project, 'main.mjs'), consumer);
    // A full install compiles better-sqlite3 from source (~2 min here: its prebuilt download is
    // unreachable). By default the test installs without scripts and puts in the binary this
    // checkout built from the same pinned version; BROKER_PACK_FULL_INSTALL=1 (CI) builds it.
    const full = process.env.BROKER_PACK_FULL_INSTALL === '1';
    execFileSync(
      'npm',
      ['install', join(dir, tarball), '--no-audit', '--no-fund', '--prefer-offline', ...(full ? [] : ['--ignore-scripts'])],
      { cwd: project, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    if (!full) {
      const binary = 'node_modules/better-sqlite3/build/Release/better_sqlite3.node';
      mkdirSync(join(project, 'node_modules/better-sqlite3/build/Release'), { recursive: true });
      copyFileSync(join(root, binary), join(project, binary));
    }
    const pkg = join(project, 'node_modules/broker');
    assert.ok(existsSync(join(pkg, 'dist/index.d.ts')), 'ships type declarations');
    assert.ok(!existsSync(join(pkg, 'src')), 'ships the build, not the sources');
    assert.ok(!readdirSync(join(pkg, 'dist'), { recursive: true }).some((f) => String(f).endsWith('.test.js')), 'no tests in the package');
    const out = execFileSync(process.execPath, ['main.mjs'], { cwd: project, timeout: 60_000, encoding: 'utf8' });
    const { frame } = JSON.parse(out.trim().split('\n').pop() ?? '{}') as { frame: string };
    assert.match(frame, /^id:1\nevent:hello\ndata:\{"from":"the packed package"\}\n\n/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
