import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { childEnv, cleanupProcesses, type ExitInfo, makeTempDir, REPO_ROOT } from './helpers/broker-process.js';

// `npm start` in a copy of the repository (sources, scripts, package.json; node_modules linked):
// the test builds there and edits sources there, so the dist/ every other test file uses is
// never stale, half-built or rebuilt under its feet.

/** The bound from issue #11: command to "Broker listening" on a built checkout, in ms. */
const WARM_START_MS = 1500;

interface Run {
  readonly child: ChildProcess;
  readonly stdout: string[];
  readonly stderr: string[];
  /** Resolves at the "Broker listening" line with the ms since the spawn. */
  readonly listening: Promise<number>;
  readonly exited: Promise<ExitInfo>;
}

const runs: Run[] = [];

/** Broker's test environment (fresh database, port 0), without the npm_* settings an outer `npm test` leaves. */
function npmFreeEnv(): NodeJS.ProcessEnv {
  const env = childEnv(makeTempDir());
  for (const key of Object.keys(env)) if (key.startsWith('npm_')) delete env[key];
  return env;
}

/** `npm start -- args` in `cwd`, on a fresh database, port 0. */
function npmStart(cwd: string, args: readonly string[] = []): Run {
  const env = npmFreeEnv();
  const spawnedAt = performance.now();
  // Its own process group, so that cleanup can kill npm and Broker together.
  const child = spawn('npm', ['start', ...(args.length ? ['--', ...args] : [])], {
    cwd,
    env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stdout: string[] = [];
  const stderr: string[] = [];
  const exited = new Promise<ExitInfo>((resolve) => {
    child.once('close', (code: number | null, signal: NodeJS.Signals | null) => resolve({ code, signal }));
  });
  const listening = new Promise<number>((resolve, reject) => {
    child.stdout?.setEncoding('utf8').on('data', (text: string) => {
      stdout.push(text);
      if (stdout.join('').includes('"msg":"Broker listening"')) resolve(performance.now() - spawnedAt);
    });
    void exited.then((info) => reject(new Error(`npm start exited (${JSON.stringify(info)}) before listening\n${stdout.join('')}\n${stderr.join('')}`)));
  });
  listening.catch(() => {}); // a run expected to exit early never listens
  child.stderr?.setEncoding('utf8').on('data', (text: string) => stderr.push(text));
  const run = { child, stdout, stderr, listening, exited };
  runs.push(run);
  return run;
}

/** Sends `signal` to npm (as a supervisor would) and expects Broker's graceful exit 0 through it. */
async function stopWith(run: Run, signal: NodeJS.Signals): Promise<void> {
  run.child.kill(signal);
  const exit = await run.exited;
  assert.deepEqual(exit, { code: 0, signal: null }, `npm start after ${signal}\n${run.stderr.join('')}`);
  assert.match(run.stdout.join(''), /"msg":"stopped"/, 'Broker shut down gracefully');
}

const mtime = (path: string): number => statSync(path).mtimeMs;

describe('npm start builds only when the sources changed', () => {
  let copy = '';
  before(() => {
    copy = join(tmpdir(), `broker-start-${process.pid}-${Date.now()}`);
    mkdirSync(copy);
    for (const entry of ['package.json', 'tsconfig.json', 'tsconfig.build.json', 'src', 'scripts', 'bin']) {
      cpSync(join(REPO_ROOT, entry), join(copy, entry), { recursive: true });
    }
    symlinkSync(join(REPO_ROOT, 'node_modules'), join(copy, 'node_modules'));
  });
  after(async () => {
    for (const run of runs) {
      if (run.child.exitCode !== null || run.child.signalCode !== null || !run.child.pid) continue;
      try {
        process.kill(-run.child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
      await run.exited;
    }
    rmSync(copy, { recursive: true, force: true });
    await cleanupProcesses(); // the temp dirs of the databases
  });

  const stamp = (): string => join(copy, 'dist/.build-stamp.json');

  test('a fresh clone (no dist/) builds, starts, and stops on SIGTERM with exit 0', { timeout: 300_000 }, async (t) => {
    assert.ok(!existsSync(join(copy, 'dist')));
    const run = npmStart(copy);
    t.diagnostic(`cold start (build included): ${Math.round(await run.listening)} ms to "Broker listening"`);
    assert.match(run.stderr.join(''), /broker: building \(dist\/ is not built yet\)/);
    assert.ok(existsSync(stamp()), 'the build stamped dist/');
    await stopWith(run, 'SIGTERM');
  });

  test(`a second start on that build does not build, and listens within ${WARM_START_MS} ms`, { timeout: 120_000 }, async (t) => {
    const built = { stamp: mtime(stamp()), main: mtime(join(copy, 'dist/main.js')) };
    // Up to three starts, each of which must not build: the fastest is the one the load of the
    // machine (other tests, other work) disturbed least.
    const times: number[] = [];
    for (let attempt = 0; attempt < 3 && !times.some((ms) => ms <= WARM_START_MS); attempt += 1) {
      const run = npmStart(copy);
      times.push(await run.listening);
      await stopWith(run, 'SIGTERM');
      assert.doesNotMatch(run.stderr.join(''), /building/);
    }
    assert.deepEqual({ stamp: mtime(stamp()), main: mtime(join(copy, 'dist/main.js')) }, built, 'dist/ untouched');
    const best = Math.min(...times);
    const load = loadavg()[0] ?? 0;
    const cores = availableParallelism();
    t.diagnostic(`warm start: ${times.map(Math.round).join(', ')} ms to "Broker listening" (load ${load.toFixed(1)} on ${cores} cores)`);
    // On a saturated machine every process waits for a core, and no start-up time says anything
    // about Broker; that no build ran (above) is what holds there.
    if (load < cores) assert.ok(best <= WARM_START_MS, `warm starts took ${times.map(Math.round).join(', ')} ms`);
    else t.diagnostic(`${WARM_START_MS} ms not asserted: the machine is saturated`);
  });

  test('arguments reach Broker and its exit status comes back through npm', { timeout: 120_000 }, async () => {
    const help = npmStart(copy, ['--help']);
    assert.deepEqual(await help.exited, { code: 0, signal: null });
    assert.match(help.stdout.join(''), /BODY_LIMIT/);
    const invalid = npmStart(copy, ['--port', 'nope']);
    assert.deepEqual(await invalid.exited, { code: 2, signal: null });
    assert.match(invalid.stderr.join(''), /invalid configuration/);
    assert.doesNotMatch(`${help.stderr.join('')}${invalid.stderr.join('')}`, /building/);
  });

  test('bin/broker.js (`npx broker`) runs dist/ as it is, with no check', { timeout: 60_000 }, () => {
    const out = execFileSync(process.execPath, ['bin/broker.js', '--version'], { cwd: copy, encoding: 'utf8', env: npmFreeEnv() });
    const { version } = JSON.parse(readFileSync(join(copy, 'package.json'), 'utf8')) as { version: string };
    assert.equal(out.trim(), `broker ${version}`);
  });

  test('touching a source file makes the next start rebuild; SIGINT stops it with exit 0', { timeout: 300_000 }, async (t) => {
    const before = mtime(stamp());
    const now = new Date();
    utimesSync(join(copy, 'src/app.ts'), now, now);
    const run = npmStart(copy);
    t.diagnostic(`start with a rebuild: ${Math.round(await run.listening)} ms to "Broker listening"`);
    assert.match(run.stderr.join(''), /broker: building \(changed since the last build: src\/app\.ts\)/);
    assert.ok(mtime(stamp()) > before, 'the build wrote a new stamp');
    await stopWith(run, 'SIGINT');
  });
});
