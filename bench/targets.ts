/**
 * The targets of the benchmark issue. `abs` targets apply to Broker's own figure; `ratio`
 * targets to Broker ÷ baseline of the same run. Figures without a target are informative.
 */
import type { BenchParams } from './config.js';

export interface TargetSpec {
  kind: 'abs' | 'ratio';
  op: '>=' | '<=' | '<';
  value: number;
}

export function targetFor(key: string, params: BenchParams): TargetSpec | null {
  switch (key) {
    case 'fanout.5000.burst.delivered_per_s':
      return { kind: 'ratio', op: '>=', value: 0.8 };
    case 'fanout.1000.rate.p99_ms':
      return { kind: 'abs', op: '<=', value: 50 };
    case 'connections.held':
      return { kind: 'abs', op: '>=', value: params.connections.total };
    case 'connections.rss_kb_per_conn':
      return { kind: 'abs', op: '<=', value: 10 };
    case 'connections.idle_cpu_pct':
      return params.connections.idleSubscribers === 1000 ? { kind: 'abs', op: '<', value: 1 } : null;
    case 'inserts.c32.per_s':
      return { kind: 'abs', op: '>=', value: 10_000 };
    case 'inserts.pg.c32.ratio':
      return { kind: 'abs', op: '>=', value: 0.7 };
    case 'inserts.pg.c32.p99_ms':
      return { kind: 'abs', op: '<=', value: 25 };
    case 'inserts.bulk100.c1.ratio':
    case 'inserts.bulk100.c32.ratio':
      return { kind: 'abs', op: '>=', value: 5 };
    case 'inserts.bulk100.c1.loop_blocked_max_ms':
    case 'inserts.bulk100.c32.loop_blocked_max_ms':
    case 'inserts.release1000.loop_blocked_max_ms':
      return { kind: 'abs', op: '<=', value: 20 };
    case 'lateness.p99_ms':
      return { kind: 'abs', op: '<=', value: 20 };
    case 'lateness.max_ms':
      return { kind: 'abs', op: '<=', value: 50 };
    case 'storm.loop_lag_p99_ms':
      return { kind: 'abs', op: '<=', value: 20 };
    case `rules.${params.rules.subscribers}.ratio`:
      return params.rules.subscribers === 5000 ? { kind: 'abs', op: '>=', value: 0.9 } : null;
    case 'retention.sqlite.loop_blocked_max_ms':
    case 'retention.postgres.loop_blocked_max_ms':
      return { kind: 'abs', op: '<=', value: 10 };
    case 'multinode.cross_node_ratio':
      return { kind: 'abs', op: '<=', value: 1.5 };
    case 'auth.check_us':
      return { kind: 'abs', op: '<=', value: 2 };
    case 'dump.sqlite.import.peak_rss_mb':
    case 'dump.sqlite.export.peak_rss_mb':
    case 'dump.pg.import.peak_rss_mb':
    case 'dump.pg.export.peak_rss_mb':
      return { kind: 'abs', op: '<=', value: 150 };
    default:
      return null;
  }
}

export function describeTarget(t: TargetSpec): string {
  const op = t.op === '>=' ? '≥' : t.op === '<=' ? '≤' : '<';
  return t.kind === 'ratio' ? `${op} ${t.value}× base` : `${op} ${t.value.toLocaleString('en-US')}`;
}

export function meetsTarget(t: TargetSpec, v: number): boolean {
  return t.op === '>=' ? v >= t.value : t.op === '<=' ? v <= t.value : v < t.value;
}
