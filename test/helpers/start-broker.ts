import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { type Broker, createBroker } from '../../src/app.js';
import { parseSettings } from '../../src/config/load-config.js';

export interface TestBroker {
  readonly broker: Broker;
  readonly url: string;
  readonly dir: string;
  close(): Promise<void>;
}

/** Environment for a test Broker: port 0, loopback, a fresh SQLite file, cheap bcrypt. */
export function testEnv(dir: string, overrides: Record<string, string> = {}): Record<string, string> {
  return {
    PORT: '0',
    HOST: '127.0.0.1',
    DATABASE_URL: `sqlite:${join(dir, 'broker.db')}`,
    SECRET: 'test-secret-test-secret-test-secret-0123',
    BCRYPT_COST: '4',
    LOG_LEVEL: 'silent',
    LOGIN_RATE_LIMIT: '1000',
    ...overrides,
  };
}

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'broker-test-'));
}

/** Starts a Broker in this process, as `npm start` would, on its own temporary database. */
export async function startBroker(
  overrides: Record<string, string> = {},
  /**
   * `dir`: the directory for its database, kept by close() for a restart on it (by default one
   * of its own, removed by close()). `rules`: a rules file's contents, written as `rules.json`
   * in that directory and set as RULES.
   */
  options: { dir?: string; rules?: unknown } = {},
): Promise<TestBroker> {
  const dir = options.dir ?? tempDir();
  const env = { ...overrides };
  if (options.rules !== undefined) {
    env.RULES = join(dir, 'rules.json');
    writeFileSync(env.RULES, JSON.stringify(options.rules));
  }
  const loaded = parseSettings({}, testEnv(dir, env));
  if (loaded.kind !== 'config') throw new Error(`bad test config: ${JSON.stringify(loaded)}`);
  const broker = await createBroker(loaded.config, pino({ level: loaded.config.logLevel }));
  const url = await broker.listen();
  return {
    broker,
    url,
    dir,
    async close() {
      await broker.close();
      if (!options.dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}
