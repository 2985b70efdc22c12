import type { BenchParams } from './config.js';
import type { PostgresInfo } from './postgres.js';
import type { LaunchOptions, ServerProcess, TargetName } from './server-process.js';

export type ScenarioName = 'fanout' | 'connections' | 'inserts' | 'lateness' | 'storm' | 'multinode' | 'rules' | 'auth' | 'retention' | 'dump' | 'http2';

/** One measured number of one run (broker or baseline). */
export interface Figure {
  key: string;
  label: string;
  unit: string;
  value: number | null;
  /** CPU of all client processes (load generator) while this figure was measured, % of one core. */
  clientCpuPct: number | null;
  /** The baseline figure this one is divided by when it has no baseline twin of its own. */
  ratioTo?: string;
}

/** A pass/fail fact of one run (correctness, not performance). */
export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

export interface ScenarioOutput {
  figures: Figure[];
  checks: Check[];
  notes: string[];
}

function finite(v: number | null | undefined): number | null {
  return v === null || v === undefined || !Number.isFinite(v) ? null : v;
}

/** Collects what a scenario run measured; kept even when the run fails half-way. */
export class Collector implements ScenarioOutput {
  readonly figures: Figure[] = [];
  readonly checks: Check[] = [];
  readonly notes: string[] = [];
  /** Why the run measured nothing (e.g. "no PostgreSQL"), or null. */
  skipped: string | null = null;

  figure(key: string, label: string, unit: string, value: number | null, clientCpuPct: number | null, ratioTo?: string): void {
    const f: Figure = { key, label, unit, value: finite(value), clientCpuPct: finite(clientCpuPct) };
    if (ratioTo !== undefined) f.ratioTo = ratioTo;
    this.figures.push(f);
  }

  check(name: string, ok: boolean, detail: string): void {
    this.checks.push({ name, ok, detail });
  }

  note(text: string): void {
    this.notes.push(text);
  }

  skip(reason: string): void {
    this.skipped = reason;
  }
}

export interface ScenarioContext {
  target: TargetName;
  params: BenchParams;
  /** PostgreSQL admin URL (loopback only) and whether it answered; scenarios create their own databases on it. */
  postgres: PostgresInfo;
  out: Collector;
  launch(options: LaunchOptions): Promise<ServerProcess>;
  log(message: string): void;
}

export interface Scenario {
  name: ScenarioName;
  title: string;
  /** Runs against Broker only (no baseline run; ratios stay "—"). */
  brokerOnly?: boolean;
  /** Measures nothing without PostgreSQL: reported as skipped right away (no quiet-machine wait). */
  requiresPostgres?: boolean;
  /** Hard deadline for one run; past it every child process is killed. */
  timeoutMs(p: BenchParams): number;
  run(ctx: ScenarioContext): Promise<void>;
}
