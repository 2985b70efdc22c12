import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { openSqlite } from '../src/store/sqlite/open-sqlite.js';
import { metrics, metricValue, request, signUp } from './helpers/api.js';
import { cleanupProcesses, makeTempDir, runBroker, startBrokerProcess } from './helpers/broker-process.js';
import { expectError } from './helpers/expect-error.js';
import { SseClient } from './helpers/sse-client.js';

/**
 * A small file system of our own (tmpfs), to run out of space for real. Mounting needs root
 * (as CI runs); elsewhere these cases are skipped and say so, unless BROKER_REQUIRE_MOUNT=1.
 */
function mountTmpfs(dir: string, size: string, readOnly = false): boolean {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}${readOnly ? ',ro' : ''}`, 'tmpfs', dir], { stdio: 'ignore' });
    return true;
  } catch {
    if (process.env.BROKER_REQUIRE_MOUNT === '1') throw new Error('BROKER_REQUIRE_MOUNT=1 but mounting a tmpfs failed');
    return false;
  }
}
const mounted: string[] = [];
after(async () => {
  // Unmounted first: removing the temp dirs would fail on a mount point still in use.
  for (const dir of mounted) {
    try {
      execFileSync('umount', ['-l', dir], { stdio: 'ignore' });
    } catch {
      // already gone
    }
  }
  await cleanupProcesses();
});

describe('a database Broker cannot use stops start-up with exit status 2 and a clear message', { concurrency: 2 }, () => {
  test('not a database (or corrupt)', async () => {
    const dir = makeTempDir();
    writeFileSync(join(dir, 'broker.db'), 'this is not a database '.repeat(400));
    const r = await runBroker([], {}, { dir });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /not a SQLite database, or it is corrupt/);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  });

  test('a newer schema than this Broker knows', async () => {
    const dir = makeTempDir();
    const db = openSqlite(join(dir, 'broker.db'));
    db.exec('PRAGMA user_version = 99');
    db.close();
    const r = await runBroker([], {}, { dir });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /schema version 99 is newer than this Broker knows/);
  });

  test('a read-only file system', async (t) => {
    const dir = makeTempDir();
    const seed = makeTempDir();
    // A real database, then the file system under it made read-only.
    const seeded = await runBroker(['users', 'add', 'ada'], { DATABASE_URL: `sqlite:${join(seed, 'broker.db')}` }, { input: 'correct horse battery\n' });
    assert.equal(seeded.code, 0, seeded.stderr);
    if (!mountTmpfs(dir, '8m')) {
      t.skip('mounting a tmpfs needs root');
      return;
    }
    mounted.push(dir);
    execFileSync('cp', [join(seed, 'broker.db'), join(dir, 'broker.db')]);
    execFileSync('mount', ['-o', 'remount,ro', dir]);
    const r = await runBroker([], {}, { dir });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /cannot be opened for writing/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  });
});

describe('a full disk', () => {
  test('inserts answer 507 storage_full and store nothing; reads and streams go on; freed space, inserts again without a restart; SIGKILL loses nothing acknowledged', async (t) => {
    const dir = makeTempDir();
    if (!mountTmpfs(dir, '6m')) {
      t.skip('mounting a tmpfs needs root');
      return;
    }
    mounted.push(dir);
    mkdirSync(join(dir, 'data'));
    const data = join(dir, 'data');
    const filler = join(dir, 'filler');
    const env = { DATABASE_URL: `sqlite:${join(data, 'broker.db')}`, LOG_LEVEL: 'warn' };
    let b = await startBrokerProcess({ env, dir: data });
    const me = await signUp(b.url);
    const acked: string[] = [];
    const refused: string[] = [];
    const payload = 'x'.repeat(8 * 1024);
    const fill = (): void => {
      // Leave about 512 KiB free: a few dozen inserts of 8 KiB, then the disk is full.
      const free = Number(execFileSync('df', ['--output=avail', '-B1', dir]).toString().trim().split('\n')[1]);
      writeFileSync(filler, Buffer.alloc(Math.max(0, free - 512 * 1024)));
    };
    /** Inserts until the first 507 (bounded), recording what was acknowledged. */
    const insertUntilFull = async (): Promise<void> => {
      for (let i = 0; i < 2000; i++) {
        const marker = `m${acked.length + refused.length}`;
        const res = await request(b.url, 'POST', '/insert', { token: me.token, body: { event: 'disk', data: { marker, payload } } });
        if (res.status === 200) {
          acked.push(marker);
          continue;
        }
        expectError(res, 507, 'storage_full', 'insert on a full disk');
        refused.push(marker);
        return;
      }
      assert.fail('the disk never filled up');
    };
    try {
      fill();
      await insertUntilFull();
      assert.ok(acked.length > 0, 'some inserts fit');
      const health = await request(b.url, 'GET', '/health');
      assert.equal(health.status, 200);
      assert.equal((health.body as { storage: string }).storage, 'full');
      assert.equal(metricValue(await metrics(b.url), 'broker_storage_full'), 1);
      // Reads and streams still work.
      assert.equal((await request(b.url, 'GET', '/events/disk?limit=1', { token: me.token })).status, 200);
      const stream = await SseClient.connect(`${b.url}/events?event=disk`);
      await stream.waitForEvents(1);
      stream.close();
      // Space freed: inserts work again, no restart.
      rmSync(filler);
      const again = await request(b.url, 'POST', '/insert', { token: me.token, body: { event: 'disk', data: { marker: 'after-free', payload: 'small' } } });
      assert.equal(again.status, 200, JSON.stringify(again.body));
      acked.push('after-free');
      assert.equal(((await request(b.url, 'GET', '/health')).body as { storage: string }).storage, 'ok');
      // Full again, then killed mid-way: nothing acknowledged may be lost.
      fill();
      await insertUntilFull();
      b.kill('SIGKILL');
      await b.exited;
      rmSync(filler);
      b = await startBrokerProcess({ env, dir: data });
      const stored = new Set<string>();
      for (let after: string | null = null; ; ) {
        const page = await request(b.url, 'GET', `/events/disk?limit=1000${after ? `&after=${after}` : ''}`, { token: me.token });
        for (const e of page.body as { data: { marker: string } }[]) stored.add(e.data.marker);
        after = page.headers.get('x-next-after');
        if (!after) break;
      }
      for (const m of acked) assert.ok(stored.has(m), `acknowledged ${m} survived`);
      for (const m of refused) assert.ok(!stored.has(m), `refused ${m} was not stored`);
      assert.equal((await request(b.url, 'POST', '/insert', { token: me.token, body: { event: 'disk', data: 1 } })).status, 200);
    } finally {
      rmSync(filler, { force: true });
      await b.stop();
    }
  });
});

describe('storage in view', () => {
  test('/metrics has the database size, versions by state and the oldest pending due time', async () => {
    const { startBroker } = await import('./helpers/start-broker.js');
    const b = await startBroker();
    try {
      const me = await signUp(b.url);
      const due = Math.floor(Date.now() / 1000) + 3600;
      for (const [event, timestamp] of [['a', undefined], ['a', undefined], ['b', due], ['b', due + 60]] as const) {
        assert.equal((await request(b.url, 'POST', '/insert', { token: me.token, body: { event, data: 1, timestamp } })).status, 200);
      }
      const later = await request(b.url, 'POST', '/insert', { token: me.token, body: { event: 'c', data: 1, timestamp: due + 120 } });
      await request(b.url, 'POST', `/events/${(later.body as { id: string }).id}/cancel`, { token: me.token });
      const text = await metrics(b.url);
      const sample = (line: string): number => {
        const found = text.split('\n').find((l) => l.startsWith(`${line} `));
        assert.ok(found, `${line} missing`);
        return Number(found.slice(line.length + 1));
      };
      assert.equal(sample('broker_versions{state="pending"}'), 2);
      assert.equal(sample('broker_versions{state="released"}'), 2);
      assert.equal(sample('broker_versions{state="cancelled"}'), 1);
      assert.equal(sample('broker_oldest_pending_due_timestamp_seconds'), due);
      assert.ok(sample('broker_storage_bytes') > 4096);
      assert.equal(sample('broker_storage_full'), 0);
      assert.equal(sample('broker_pruned_total'), 0);
    } finally {
      await b.close();
    }
  });
});
