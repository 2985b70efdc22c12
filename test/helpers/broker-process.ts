/**
 * Broker as a child process, started the way `npm start` runs it but without the build step:
 * `node --import tsx src/main.ts [args]` in the repository root. Every process and temp dir
 * made here is tracked; call `cleanupProcesses()` in an `after` hook (it SIGKILLs whatever is
 * still running and removes the temp dirs). An `exit` handler kills leftovers as a last resort.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { settings } from '../../src/config/settings.js';

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const TEST_SECRET = 'process-test-secret-0123456789-abcdefghij';

/** One parsed stdout line (Broker logs JSON objects, one per line). */
export type LogLine = Readonly<Record<string, unknown>>;

export interface ExitInfo {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface BrokerProcess {
  /** The URL from the "Broker listening" line, e.g. http://127.0.0.1:40123. */
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  /** The data directory; DATABASE_URL is sqlite:<dir>/broker.db unless overridden. */
  readonly dir: string;
  /** Milliseconds from spawn to the "Broker listening" line (start-up cost on this machine now). */
  readonly startedInMs: number;
  /** Every complete stdout / stderr line so far, raw. */
  readonly stdout: readonly string[];
  readonly stderr: readonly string[];
  /** stdout lines that parsed as JSON objects. */
  readonly logs: readonly LogLine[];
  /** Sends a signal (no-op once exited). */
  kill(signal: NodeJS.Signals): void;
  /** Settles when the process has exited and its stdio is drained. */
  readonly exited: Promise<ExitInfo>;
  /** Resolves with the first log line (already seen or future) matching, rejects on timeout or exit. */
  waitForLog(match: (line: LogLine) => boolean, timeoutMs?: number, what?: string): Promise<LogLine>;
  /** SIGTERM, then waits for the exit; SIGKILL if it takes longer than `timeoutMs`. */
  stop(timeoutMs?: number): Promise<ExitInfo>;
}

export interface RunResult extends ExitInfo {
  readonly stdout: string;
  readonly stderr: string;
}

/** `undefined` removes a variable from the child's environment. */
export type EnvOverrides = Readonly<Record<string, string | undefined>>;

const children = new Set<ChildProcess>();
const dirs = new Set<string>();

process.once('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

/** A fresh temp dir, removed by cleanupProcesses(). */
export function makeTempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'broker-proc-'));
  dirs.add(dir);
  return dir;
}

/**
 * The child's environment: the parent's minus every Broker setting and NODE_ENV (so the host's
 * variables cannot leak in), then test defaults, then overrides.
 */
export function childEnv(dir: string, overrides: EnvOverrides = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const s of Object.values(settings)) delete env[s.env];
  delete env.NODE_ENV;
  delete env.NODE_TEST_CONTEXT;
  Object.assign(env, {
    PORT: '0',
    HOST: '127.0.0.1',
    DATABASE_URL: `sqlite:${join(dir, 'broker.db')}`,
    SECRET: TEST_SECRET,
    BCRYPT_COST: '4',
    LOGIN_RATE_LIMIT: '1000',
    LOG_LEVEL: 'info',
  });
  for (const [key, value] of Object.entries(overrides)) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  return env;
}

function spawnBroker(args: readonly string[], env: NodeJS.ProcessEnv, input?: string): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', ...args], {
    cwd: REPO_ROOT,
    env,
    stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
  if (input !== undefined) child.stdin?.end(input);
  children.add(child);
  child.once('close', () => children.delete(child));
  return child;
}

function exitOf(child: ChildProcess): Promise<ExitInfo> {
  return new Promise((resolve) => {
    // 'close' comes after 'exit' and after stdout/stderr ended: every line has been read.
    child.once('close', (code: number | null, signal: NodeJS.Signals | null) => resolve({ code, signal }));
  });
}

/** Runs Broker to completion (e.g. --help, or a configuration that must be refused). */
export async function runBroker(
  args: readonly string[],
  overrides: EnvOverrides = {},
  options: { dir?: string; timeoutMs?: number; input?: string } = {},
): Promise<RunResult> {
  const dir = options.dir ?? makeTempDir();
  const child = spawnBroker(args, childEnv(dir, overrides), options.input);
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const timeoutMs = options.timeoutMs ?? 30_000;
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`broker ${args.join(' ')} did not exit within ${timeoutMs} ms; stdout: ${stdout} stderr: ${stderr}`));
    }, timeoutMs);
  });
  try {
    const exit = await Promise.race([exitOf(child), timedOut]);
    return { ...exit, stdout, stderr };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Starts Broker and resolves once it logged "Broker listening". Rejects (with its output) if it
 * exits first or does not listen within `timeoutMs`.
 */
export async function startBrokerProcess(
  options: { args?: readonly string[]; env?: EnvOverrides; dir?: string; timeoutMs?: number } = {},
): Promise<BrokerProcess> {
  const dir = options.dir ?? makeTempDir();
  const spawnedAt = Date.now();
  const child = spawnBroker(options.args ?? [], childEnv(dir, options.env));
  const stdout: string[] = [];
  const stderr: string[] = [];
  const logs: LogLine[] = [];
  const waiters = new Set<{ match: (line: LogLine) => boolean; resolve: (line: LogLine) => void }>();
  let exitInfo: ExitInfo | undefined;
  const exitListeners = new Set<() => void>();

  const lineReader = (sink: string[], onLine?: (line: string) => void) => {
    let buffer = '';
    return (chunk: string): void => {
      buffer += chunk;
      for (;;) {
        const end = buffer.indexOf('\n');
        if (end < 0) break;
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 1);
        sink.push(line);
        onLine?.(line);
      }
    };
  };
  child.stdout?.setEncoding('utf8').on(
    'data',
    lineReader(stdout, (line) => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch {
        return; // kept raw in stdout; the logging test checks every line is JSON
      }
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return;
      const log = parsed as LogLine;
      logs.push(log);
      for (const w of [...waiters]) {
        if (w.match(log)) {
          waiters.delete(w);
          w.resolve(log);
        }
      }
    }),
  );
  child.stderr?.setEncoding('utf8').on('data', lineReader(stderr));

  const exited = exitOf(child).then((info) => {
    exitInfo = info;
    for (const listener of [...exitListeners]) listener();
    return info;
  });

  const waitForLog = (match: (line: LogLine) => boolean, timeoutMs = 10_000, what = 'a log line'): Promise<LogLine> => {
    const seen = logs.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const output = (): string => `stdout:\n${stdout.join('\n')}\nstderr:\n${stderr.join('\n')}`;
      const done = (): void => {
        clearTimeout(timer);
        waiters.delete(waiter);
        exitListeners.delete(onExit);
      };
      const waiter = {
        match,
        resolve: (line: LogLine) => {
          done();
          resolve(line);
        },
      };
      const onExit = (): void => {
        done();
        reject(new Error(`broker exited (${JSON.stringify(exitInfo)}) before ${what}\n${output()}`));
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${output()}`));
      }, timeoutMs);
      waiters.add(waiter);
      if (exitInfo) onExit();
      else exitListeners.add(onExit);
    });
  };

  const kill = (signal: NodeJS.Signals): void => {
    if (exitInfo === undefined && child.exitCode === null && child.signalCode === null) child.kill(signal);
  };

  let listening: LogLine;
  try {
    listening = await waitForLog((l) => l.msg === 'Broker listening', options.timeoutMs ?? 30_000, '"Broker listening"');
  } catch (error) {
    kill('SIGKILL');
    await exited;
    throw error;
  }
  const url = String(listening.url);
  return {
    url,
    port: Number(new URL(url).port),
    pid: child.pid ?? -1,
    dir,
    startedInMs: Date.now() - spawnedAt,
    stdout,
    stderr,
    logs,
    kill,
    exited,
    waitForLog,
    async stop(timeoutMs = 15_000) {
      kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      });
      const first = await Promise.race([exited, late.then(() => undefined)]);
      clearTimeout(timer);
      if (first !== undefined) return first;
      kill('SIGKILL');
      throw new Error(`broker did not exit within ${timeoutMs} ms of SIGTERM (killed)`);
    },
  };
}

/** SIGKILLs every child still running, waits for them, removes every temp dir. For `after` hooks. */
export async function cleanupProcesses(): Promise<void> {
  const running = [...children];
  await Promise.all(
    running.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) {
            resolve();
            return;
          }
          child.once('close', () => resolve());
          child.kill('SIGKILL');
        }),
    ),
  );
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  dirs.clear();
}

/** Resolves once the wall clock has passed `epochSeconds` (for tests about due times). */
export async function untilClockPasses(epochSeconds: number): Promise<void> {
  for (;;) {
    const left = epochSeconds * 1000 - Date.now();
    if (left < 0) return;
    await new Promise((resolve) => setTimeout(resolve, Math.min(left + 5, 200)));
  }
}

/** Resolves when `check()` is true, checking every `everyMs`; rejects after `timeoutMs`. */
export async function waitUntil(check: () => boolean, timeoutMs: number, what: string, everyMs = 10): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

export interface StreamFrame {
  readonly id?: string;
  readonly event?: string;
  readonly data?: string;
  readonly retry?: string;
  readonly comment?: string;
  readonly receivedAt: number;
}

/**
 * A minimal SSE reader that, unlike a browser EventSource, reports how the response finished:
 * `'ended'` when the body came to its end (for a stream delimited by the connection, the server
 * closed it after its last byte), `'aborted'` for a reset or an incomplete framed body. `partial`
 * holds bytes after the last complete frame: a clean end leaves none.
 */
export class ObservedStream {
  readonly frames: StreamFrame[] = [];
  status = 0;
  /** How the response finished: undefined while open. */
  outcome: 'ended' | 'aborted' | undefined;
  private buffer = '';
  private readonly req: http.ClientRequest;
  private readonly changed = new Set<() => void>();

  private constructor(url: string, headers: Record<string, string>) {
    this.req = http.get(url, { headers: { accept: 'text/event-stream', ...headers }, agent: false }, (res) => {
      this.status = res.statusCode ?? 0;
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => this.parse(chunk));
      res.on('end', () => this.finish('ended'));
      res.on('aborted', () => this.finish('aborted'));
      res.on('error', () => this.finish('aborted'));
      res.on('close', () => this.finish(res.complete ? 'ended' : 'aborted'));
      this.notify();
    });
    this.req.on('error', () => this.finish('aborted'));
  }

  static open(url: string, headers: Record<string, string> = {}): ObservedStream {
    return new ObservedStream(url, headers);
  }

  get events(): StreamFrame[] {
    return this.frames.filter((f) => f.data !== undefined);
  }

  /** Text received after the last complete frame. */
  get partial(): string {
    return this.buffer;
  }

  waitFor(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const listener = (): void => {
        if (!check()) return;
        clearTimeout(timer);
        this.changed.delete(listener);
        resolve();
      };
      const timer = setTimeout(() => {
        this.changed.delete(listener);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; frames: ${JSON.stringify(this.frames)}`));
      }, timeoutMs);
      this.changed.add(listener);
    });
  }

  waitForOutcome(timeoutMs: number): Promise<void> {
    return this.waitFor(() => this.outcome !== undefined, timeoutMs, 'the stream to finish');
  }

  destroy(): void {
    this.req.destroy();
    this.finish('aborted');
  }

  private finish(outcome: 'ended' | 'aborted'): void {
    this.outcome ??= outcome;
    this.notify();
  }

  private parse(chunk: string): void {
    this.buffer += chunk;
    for (;;) {
      const end = this.buffer.indexOf('\n\n');
      if (end < 0) break;
      const block = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      const frame: Record<string, string> = {};
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) frame.comment = line.slice(1);
        else {
          const colon = line.indexOf(':');
          frame[line.slice(0, colon)] = line.slice(colon + 1);
        }
      }
      this.frames.push({ ...frame, receivedAt: Date.now() });
    }
    this.notify();
  }

  private notify(): void {
    for (const listener of [...this.changed]) listener();
  }
}
