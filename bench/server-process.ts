/**
 * Starts the server under test as its own process, the way `npm start` runs it after a build:
 * Broker is `node dist/main.js` in the repository root, the baseline is bench/baseline-server.ts
 * transpiled once to plain JavaScript and run with `node` (no loader). Each launch gets a free
 * port, a fresh temp dir (so a fresh SQLite database unless a DATABASE_URL is given) and a random
 * SECRET (unless given: nodes sharing one PostgreSQL database share it).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { HOST, healthStatus } from './api-client.js';
import { removeTempDir, trackChild, trackTempDir } from './children.js';
import { clockMs, sleep } from './clock.js';
import { processCpuNs, processRssKb } from './proc-stats.js';

export type TargetName = 'broker' | 'baseline';

export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
export const BROKER_ENTRY = path.join(REPO_ROOT, 'dist', 'main.js');
const BASELINE_SOURCE = fileURLToPath(new URL('./baseline-server.ts', import.meta.url));

export interface LaunchOptions {
  /** HEARTBEAT_INTERVAL in seconds. */
  heartbeatS: number;
  /** LOGIN_RATE_LIMIT (logins per minute per IP and per username). */
  loginRateLimit: number;
  /** DATABASE_URL; default: sqlite in the fresh temp dir. */
  databaseUrl?: string;
  /** SECRET; default: a fresh random one. Nodes sharing a database must share it. */
  secret?: string;
  /** More environment variables (Broker ignores the baseline's LOOP_MONITOR). */
  extraEnv?: Record<string, string>;
  /** Certificate and key (TLS_CERT, TLS_KEY): Broker serves HTTPS, HTTP/2 and HTTP/1.1. Broker only. */
  tls?: { certPath: string; keyPath: string };
}

let baselineBuild: string | null = null;

/** Transpiles the baseline to a temp .mjs once per run (type stripping only, no bundling). */
async function baselineScript(): Promise<string> {
  if (baselineBuild !== null && fs.existsSync(baselineBuild)) return baselineBuild;
  const ts = await import('typescript');
  const source = fs.readFileSync(BASELINE_SOURCE, 'utf8');
  const out = ts.transpileModule(source, {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
  });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'broker-bench-baseline-'));
  trackTempDir(dir);
  baselineBuild = path.join(dir, 'baseline-server.mjs');
  fs.writeFileSync(baselineBuild, out.outputText);
  return baselineBuild;
}

/** 43 random characters, as a SECRET. */
export function randomSecret(): string {
  return crypto.randomBytes(32).toString('base64url');
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, HOST, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export class ServerProcess {
  /** Last lines the server wrote (stdout and stderr), for error reports. */
  readonly logTail: string[] = [];
  exitInfo: string | null = null;
  private stopping = false;
  private diedBeforeStop = false;

  private constructor(
    readonly target: TargetName,
    private readonly child: ChildProcess,
    readonly port: number,
    private readonly tempDir: string,
    /** Speaks TLS (launched with `tls`). */
    readonly secure: boolean,
  ) {
    const keep = (data: Buffer): void => {
      for (const line of data.toString('utf8').split('\n')) {
        if (line.trim() === '') continue;
        this.logTail.push(line.slice(0, 500));
        if (this.logTail.length > 40) this.logTail.shift();
      }
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    child.once('exit', (code, signal) => {
      this.exitInfo = `exit code ${code}, signal ${signal}`;
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** True while the process runs. */
  alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** True when the process ended without being asked to (a crash). */
  crashed(): boolean {
    return this.diedBeforeStop || (!this.alive() && !this.stopping);
  }

  cpuNs(): number {
    return processCpuNs(this.pid);
  }

  rssKb(): number {
    return processRssKb(this.pid);
  }

  static async launch(target: TargetName, options: LaunchOptions): Promise<ServerProcess> {
    const port = await freePort();
    const tempDir = fs.mkdtempSync(path.join(os.tmpdir(), `broker-bench-${target}-`));
    trackTempDir(tempDir);
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env.NODE_OPTIONS;
    Object.assign(env, {
      NODE_ENV: 'production',
      PORT: String(port),
      HOST,
      DATABASE_URL: options.databaseUrl ?? `sqlite:${path.join(tempDir, 'broker.db')}`,
      SECRET: options.secret ?? randomSecret(),
      LOG_LEVEL: 'warn',
      HEARTBEAT_INTERVAL: String(options.heartbeatS),
      LOGIN_RATE_LIMIT: String(options.loginRateLimit),
      BCRYPT_COST: '10',
      // Every load-generator stream comes from loopback, a few addresses at most: the per-address
      // cap (a fairness guard for real clients) would refuse most of them.
      MAX_STREAMS_PER_IP: '0',
      ...options.extraEnv,
      ...(options.tls ? { TLS_CERT: options.tls.certPath, TLS_KEY: options.tls.keyPath } : {}),
    });
    if (options.tls && target !== 'broker') throw new Error('only Broker serves TLS');
    let script: string;
    if (target === 'broker') {
      if (!fs.existsSync(BROKER_ENTRY)) throw new Error(`${BROKER_ENTRY} is missing: run \`npm run build\` first`);
      script = BROKER_ENTRY;
    } else {
      script = await baselineScript();
    }
    const child = trackChild(spawn(process.execPath, [script], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] }));
    const server = new ServerProcess(target, child, port, tempDir, options.tls !== undefined);
    const until = clockMs() + 30_000;
    while (clockMs() < until) {
      if (!server.alive()) break;
      if ((await healthStatus(port, 2_000, server.secure)) === '200') return server;
      await sleep(100);
    }
    const why = server.alive() ? 'GET /health did not answer 200 within 30 s' : `it exited (${server.exitInfo})`;
    await server.stop();
    throw new Error(`${target} did not start: ${why}\n  ${server.logTail.slice(-10).join('\n  ')}`);
  }

  /** SIGTERM, then SIGKILL after 5 s; removes the temp dir. */
  async stop(): Promise<void> {
    if (!this.stopping) this.diedBeforeStop = !this.alive();
    this.stopping = true;
    if (this.alive()) {
      const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
      this.child.kill('SIGTERM');
      const ok = await Promise.race([exited.then(() => true), sleep(5_000).then(() => false)]);
      if (!ok) {
        this.child.kill('SIGKILL');
        await Promise.race([exited, sleep(2_000)]);
      }
    }
    removeTempDir(this.tempDir);
  }
}
