/** Joins the broker and baseline runs into rows, prints the table and writes the JSON results. */
import fs from 'node:fs';
import path from 'node:path';
import type { BenchParams } from './config.js';
import type { Check, Figure, ScenarioName } from './scenario-types.js';
import type { TargetName } from './server-process.js';
import { describeTarget, meetsTarget, targetFor } from './targets.js';

export interface RunResult {
  figures: Figure[];
  checks: Check[];
  notes: string[];
  /** Why the run measured nothing (e.g. "no PostgreSQL"), or null. */
  skipped: string | null;
  error: string | null;
  durationS: number;
  /** CPU used by processes other than the suite's during the run, % of one core (average, peak). */
  otherCpuPct: number;
  otherCpuPeakPct: number;
}

export interface ScenarioResult {
  name: ScenarioName;
  title: string;
  runs: Partial<Record<TargetName, RunResult>>;
}

export interface Row {
  scenario: ScenarioName;
  key: string;
  label: string;
  unit: string;
  broker: number | null;
  baseline: number | null;
  /** broker ÷ baseline. */
  ratio: number | null;
  target: string | null;
  /** Target met (null: no target or no value). `subject` says whose figure was judged. */
  pass: boolean | null;
  subject: TargetName | null;
  clientCpuPct: { broker: number | null; baseline: number | null };
}

export function buildRows(results: ScenarioResult[], params: BenchParams): Row[] {
  const rows: Row[] = [];
  for (const r of results) {
    const order: string[] = [];
    const byKey = new Map<string, { broker?: Figure; baseline?: Figure }>();
    for (const target of ['broker', 'baseline'] as const) {
      for (const f of r.runs[target]?.figures ?? []) {
        if (!byKey.has(f.key)) {
          byKey.set(f.key, {});
          order.push(f.key);
        }
        const entry = byKey.get(f.key);
        if (entry !== undefined) entry[target] = f;
      }
    }
    const baselineValue = (key: string): number | null =>
      r.runs.baseline?.figures.find((f) => f.key === key)?.value ?? null;
    for (const key of order) {
      const e = byKey.get(key) ?? {};
      const any = e.broker ?? e.baseline;
      if (any === undefined) continue;
      const broker = e.broker?.value ?? null;
      const baseline = e.baseline?.value ?? (e.broker?.ratioTo === undefined ? null : baselineValue(e.broker.ratioTo));
      const ratio = broker !== null && baseline !== null && baseline !== 0 ? broker / baseline : null;
      const t = targetFor(key, params);
      let pass: boolean | null = null;
      let subject: TargetName | null = null;
      if (t !== null && t.kind === 'ratio' && ratio !== null) {
        pass = meetsTarget(t, ratio);
        subject = 'broker';
      } else if (t !== null && t.kind === 'abs') {
        const judged = broker ?? baseline;
        subject = broker !== null ? 'broker' : baseline !== null ? 'baseline' : null;
        pass = judged === null ? null : meetsTarget(t, judged);
      }
      rows.push({
        scenario: r.name,
        key,
        label: any.label,
        unit: any.unit,
        broker,
        baseline: e.baseline?.value ?? null,
        ratio,
        target: t === null ? null : describeTarget(t),
        pass,
        subject,
        clientCpuPct: { broker: e.broker?.clientCpuPct ?? null, baseline: e.baseline?.clientCpuPct ?? null },
      });
    }
  }
  return rows;
}

export function fmt(v: number | null): string {
  if (v === null) return '—';
  const a = Math.abs(v);
  if (a >= 1000) return Math.round(v).toLocaleString('en-US');
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  if (a >= 1) return v.toFixed(2);
  return v.toFixed(3);
}

function pad(s: string, w: number, right = false): string {
  const t = s.length > w ? `${s.slice(0, w - 1)}…` : s;
  return right ? t.padStart(w) : t.padEnd(w);
}

function mark(r: Row): string {
  if (r.pass === null) return r.target === null ? '' : '?';
  const m = r.pass ? '✓' : '✗';
  return r.subject === 'baseline' ? `${m}(b)` : m;
}

function cpu(v: number | null): string {
  return v === null ? '—' : v.toFixed(0);
}

export function renderTable(rows: Row[], results: ScenarioResult[]): string {
  const lines: string[] = [];
  const head = [
    pad('Figure', 62),
    pad('Unit', 7),
    pad('Broker', 10, true),
    pad('Baseline', 10, true),
    pad('Ratio', 7, true),
    pad('Target', 14),
    pad('', 4),
    'Client CPU % (br/base)',
  ].join(' ');
  lines.push(head, '-'.repeat(head.length));
  let scenario: string | null = null;
  for (const r of rows) {
    if (r.scenario !== scenario) {
      if (scenario !== null) lines.push('');
      scenario = r.scenario;
    }
    lines.push(
      [
        pad(r.label, 62),
        pad(r.unit, 7),
        pad(fmt(r.broker), 10, true),
        pad(fmt(r.baseline), 10, true),
        pad(r.ratio === null ? '—' : `${r.ratio.toFixed(2)}×`, 7, true),
        pad(r.target ?? '', 14),
        pad(mark(r), 4),
        `${cpu(r.clientCpuPct.broker)} / ${cpu(r.clientCpuPct.baseline)}`,
      ].join(' '),
    );
  }
  for (const s of results) {
    const runs = Object.entries(s.runs);
    if (runs.length === 0) lines.push('', `${s.title}: not run (Broker only)`);
    for (const [target, run] of runs) {
      if (run.skipped !== null && run.figures.length === 0) lines.push('', `${s.title} [${target}]: skipped: ${run.skipped}`);
    }
  }
  lines.push('', 'Checks:');
  for (const s of results) {
    for (const target of ['baseline', 'broker'] as const) {
      const run = s.runs[target];
      if (run === undefined) continue;
      if (run.skipped === null || run.figures.length > 0) {
        lines.push(
          `  [${target}] ${s.name}: ${run.durationS.toFixed(0)} s; other processes used ${run.otherCpuPct.toFixed(1)} % of a core` +
            ` (peak ${run.otherCpuPeakPct.toFixed(0)} %)`,
        );
      }
      if (run.skipped !== null) lines.push(`  – [${target}] ${s.name}: skipped: ${run.skipped}`);
      if (run.error !== null) lines.push(`  ✗ [${target}] ${s.name}: ERROR ${run.error}`);
      for (const c of run.checks) lines.push(`  ${c.ok ? '✓' : '✗'} [${target}] ${c.name}: ${c.detail}`);
      for (const n of run.notes) lines.push(`  · [${target}] ${n}`);
    }
  }
  return lines.join('\n');
}

/** Columns of the README results table: header and figure key. */
export const README_COLUMNS: [string, string][] = [
  ['Fan-out 5k burst msg/s', 'fanout.5000.burst.delivered_per_s'],
  ['Fan-out 1k×50 p99 ms', 'fanout.1000.rate.p99_ms'],
  ['µs/delivery 1k×50', 'fanout.1000.rate.server_us_per_delivery'],
  ['Conns held', 'connections.held'],
  ['Connect s', 'connections.connect_s'],
  ['KB/conn', 'connections.rss_kb_per_conn'],
  ['Idle CPU % 1k', 'connections.idle_cpu_pct'],
  ['µs/heartbeat', 'connections.server_us_per_heartbeat'],
  ['Inserts/s 1', 'inserts.c1.per_s'],
  ['Inserts/s 32', 'inserts.c32.per_s'],
  ['PG inserts/s 32', 'inserts.pg.c32.per_s'],
  ['Lateness p99 ms', 'lateness.p99_ms'],
  ['Lateness max ms', 'lateness.max_ms'],
  ['Storm loop-lag p99 ms', 'storm.loop_lag_p99_ms'],
  ['Storm delivery p99 ms', 'storm.delivery_p99_ms'],
  ['Cross-node p99 ms', 'multinode.nodes2.rate.p99_ms'],
  ['Cross-node ÷ 1 node p99', 'multinode.cross_node_ratio'],
  ['PG µs/event 1/2/4 nodes', 'multinode.nodes1.pg_us_per_event'],
  ['', 'multinode.nodes2.pg_us_per_event'],
  ['', 'multinode.nodes4.pg_us_per_event'],
  ['PG ÷ SQLite inserts 32', 'inserts.pg.c32.ratio'],
  ['PG ack p99 ms 32', 'inserts.pg.c32.p99_ms'],
  ['Bulk×100 ÷ single 1/32', 'inserts.bulk100.c1.ratio'],
  ['', 'inserts.bulk100.c32.ratio'],
  ['Release 1k blocked ms', 'inserts.release1000.loop_blocked_max_ms'],
  ['Rules ÷ none 5k', 'rules.5000.ratio'],
  ['Token check µs', 'auth.check_us'],
  ['Pruned/s SQLite/PG', 'retention.sqlite.pruned_per_s'],
  ['', 'retention.postgres.pruned_per_s'],
  ['Prune blocked ms', 'retention.sqlite.loop_blocked_max_ms'],
];

/** Columns with an empty header continue the one before them: their figures share its cell (a / b). */
function columnGroups(): { header: string; keys: string[] }[] {
  const groups: { header: string; keys: string[] }[] = [];
  for (const [header, key] of README_COLUMNS) {
    const last = groups[groups.length - 1];
    if (header === '' && last) last.keys.push(key);
    else groups.push({ header, keys: [key] });
  }
  return groups;
}

export function readmeHeader(): string {
  const cols = ['Date', 'Commit', 'Machine', 'Mode', ...columnGroups().map((g) => g.header)];
  return `| ${cols.join(' | ')} |\n|${cols.map(() => '---').join('|')}|`;
}

/** One README row: each cell is Broker's figure and, in parentheses, its ratio to the baseline. */
export function readmeRow(rows: Row[], meta: { date: string; commit: string; machine: string; mode: string }): string {
  const cell = (key: string): string => {
    const r = rows.find((x) => x.key === key);
    if (r === undefined) return '—';
    const value = r.broker ?? r.baseline;
    const who = r.broker === null && r.baseline !== null ? ' (baseline)' : '';
    const ratio = r.ratio === null ? '' : ` (${r.ratio.toFixed(2)}×)`;
    return `${fmt(value)}${ratio}${who}${r.pass === false ? ' ✗' : ''}`;
  };
  const cells = columnGroups().map((g) => g.keys.map(cell).join(' / '));
  return `| ${[meta.date.slice(0, 10), meta.commit, meta.machine, meta.mode, ...cells].join(' | ')} |`;
}

export function writeResults(dir: string, stamp: string, doc: unknown): string {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${stamp}.json`);
  const text = `${JSON.stringify(doc, null, 2)}\n`;
  fs.writeFileSync(file, text);
  fs.writeFileSync(path.join(dir, 'latest.json'), text);
  return file;
}
