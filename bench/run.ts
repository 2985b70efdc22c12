/**
 * Broker benchmark suite: `npm run bench` (or `npx tsx bench/run.ts`). See bench/README.md.
 *
 *   --quick                  small, fast parameters (CI smoke, well under 2 minutes)
 *   --only fanout,inserts    scenarios: fanout, connections, inserts, lateness, storm, multinode, rules, auth, retention, dump, http2
 *   --target both            broker | baseline | both
 *   --postgres URL           PostgreSQL admin URL (loopback) for inserts and dump on PostgreSQL and multinode;
 *                            the suite creates and drops its own databases there. Also
 *                            BENCH_POSTGRES_URL; default postgres://postgres@127.0.0.1:5432/postgres
 *                            when it answers. --postgres-url is an alias; --no-postgres: none
 *   --strict                 exit 1 when a target is missed too (not only on errors/checks)
 *   --out DIR                results folder (default bench/results)
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { installCleanupHandlers, killAllChildren, runAsyncCleanups } from './children.js';
import { clockMs, sleep } from './clock.js';
import { benchParams } from './config.js';
import { gitCommit, machineInfo, shortMachine } from './machine-info.js';
import { LoadSampler, waitForQuietMachine } from './machine-load.js';
import { DEFAULT_POSTGRES_URL, isLoopbackUrl, type PostgresInfo, type PostgresSource, probePostgres } from './postgres.js';
import { buildRows, type RunResult, readmeHeader, readmeRow, renderTable, type ScenarioResult, writeResults } from './report.js';
import { type Scenario, type ScenarioContext, Collector, type ScenarioName } from './scenario-types.js';
import { connections } from './scenarios/connections.js';
import { dump } from './scenarios/dump.js';
import { fanout } from './scenarios/fanout.js';
import { http2 } from './scenarios/http2.js';
import { inserts } from './scenarios/inserts.js';
import { lateness } from './scenarios/lateness.js';
import { loginStorm } from './scenarios/login-storm.js';
import { multinode } from './scenarios/multinode.js';
import { auth } from './scenarios/auth.js';
import { retention } from './scenarios/retention.js';
import { rules } from './scenarios/rules.js';
import { REPO_ROOT, ServerProcess, type TargetName } from './server-process.js';

const SCENARIOS: Scenario[] = [fanout, connections, inserts, lateness, loginStorm, multinode, rules, auth, retention, dump, http2];

/** Other processes may use this much of one core, at most, while a run measures. */
const QUIET_PCT = 15;

interface Options {
  quick: boolean;
  only: ScenarioName[];
  targets: TargetName[];
  /** PostgreSQL admin URL (null: --no-postgres) and where it came from. */
  postgresUrl: string | null;
  postgresSource: PostgresSource;
  strict: boolean;
  outDir: string;
}

function usage(): string {
  return [
    'usage: tsx bench/run.ts [--quick] [--only fanout,connections,inserts,lateness,storm,multinode,rules,auth,retention,dump,http2]',
    '                        [--target broker|baseline|both] [--postgres ADMIN_URL | --no-postgres] [--strict] [--out DIR]',
    `  PostgreSQL admin URL: --postgres (alias --postgres-url), else BENCH_POSTGRES_URL, else ${DEFAULT_POSTGRES_URL}`,
  ].join('\n');
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      target: { type: 'string', default: 'both' },
      postgres: { type: 'string' },
      'postgres-url': { type: 'string' },
      'no-postgres': { type: 'boolean', default: false },
      strict: { type: 'boolean', default: false },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    allowPositionals: false,
  });
  if (values.help === true) {
    process.stdout.write(`${usage()}\n`);
    process.exit(0);
  }
  const names = SCENARIOS.map((s) => s.name);
  const only = (values.only ?? names.join(','))
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((s) => (s === 'login-storm' ? 'storm' : s));
  for (const n of only) {
    if (!names.includes(n as ScenarioName)) throw new Error(`unknown scenario "${n}"; known: ${names.join(', ')}`);
  }
  const target = values.target ?? 'both';
  if (target !== 'broker' && target !== 'baseline' && target !== 'both') throw new Error(`--target must be broker, baseline or both`);
  if (values.postgres !== undefined && values['postgres-url'] !== undefined && values.postgres !== values['postgres-url']) {
    throw new Error('--postgres and --postgres-url (its alias) differ: give one');
  }
  const flagUrl = values.postgres ?? values['postgres-url'];
  const envUrl = process.env.BENCH_POSTGRES_URL;
  let pg: string | null;
  let pgSource: PostgresSource;
  if (values['no-postgres'] === true || (flagUrl === undefined && envUrl !== undefined && /^(|off|none)$/i.test(envUrl.trim()))) {
    if (flagUrl !== undefined) throw new Error('--no-postgres and --postgres exclude each other');
    pg = null;
    pgSource = 'off';
  } else if (flagUrl !== undefined) {
    pg = flagUrl;
    pgSource = 'flag';
  } else if (envUrl !== undefined) {
    pg = envUrl.trim();
    pgSource = 'env';
  } else {
    pg = DEFAULT_POSTGRES_URL;
    pgSource = 'default';
  }
  if (pg !== null && !/^postgres(ql)?:\/\//.test(pg)) throw new Error('the PostgreSQL URL must start with postgres:// or postgresql://');
  if (pg !== null && !isLoopbackUrl(pg)) {
    throw new Error(`the PostgreSQL URL (${pgSource === 'env' ? 'BENCH_POSTGRES_URL' : '--postgres'}) must point at a loopback address (127.x.y.z, localhost, ::1)`);
  }
  return {
    quick: values.quick === true,
    only: only as ScenarioName[],
    targets: target === 'both' ? ['baseline', 'broker'] : [target],
    postgresUrl: pg,
    postgresSource: pgSource,
    strict: values.strict === true,
    outDir: values.out ?? path.join(REPO_ROOT, 'bench', 'results'),
  };
}

function log(message: string): void {
  process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${message}\n`);
}

async function runOne(scenario: Scenario, target: TargetName, options: Options, postgres: PostgresInfo): Promise<RunResult> {
  const params = benchParams(options.quick);
  const out = new Collector();
  const servers: ServerProcess[] = [];
  const ctx: ScenarioContext = {
    target,
    params,
    postgres,
    out,
    launch: async (launchOptions) => {
      const s = await ServerProcess.launch(target, launchOptions);
      servers.push(s);
      return s;
    },
    log: (m) => log(`[${scenario.name}/${target}] ${m}`),
  };
  if (scenario.requiresPostgres === true && !postgres.available) {
    const reason = `no PostgreSQL (${postgres.detail})`;
    ctx.log(`skipped: ${reason}`);
    return { figures: [], checks: [], notes: [], skipped: reason, error: null, durationS: 0, otherCpuPct: 0, otherCpuPeakPct: 0 };
  }
  const before = await waitForQuietMachine(QUIET_PCT, params.quietWaitS);
  if (before >= QUIET_PCT) {
    ctx.log(`machine still busy after ${params.quietWaitS} s (others use ${before.toFixed(0)} % of a core); measuring anyway`);
  }
  const load = new LoadSampler();
  load.start();
  const t0 = clockMs();
  const hardMs = scenario.timeoutMs(params);
  let error: string | null = null;
  let timer: NodeJS.Timeout | undefined;
  const running = scenario.run(ctx);
  const settled = running.then(
    () => undefined,
    () => undefined,
  );
  try {
    await Promise.race([
      running,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          killAllChildren();
          reject(new Error(`hard deadline of ${hardMs / 1000} s passed; its processes were killed`));
        }, hardMs);
      }),
    ]);
  } catch (err) {
    error = err instanceof Error ? err.message : String(err);
    ctx.log(`ERROR ${error}`);
  } finally {
    clearTimeout(timer);
  }
  await Promise.race([settled, sleep(20_000)]);
  killAllChildren();
  // Databases a scenario created and did not get to drop (deadline, error): drop them now.
  await runAsyncCleanups();
  const busy = load.stop();
  if (busy.foreignPctOfCore >= QUIET_PCT && out.skipped === null) {
    out.note(
      `⚠ machine busy: other processes used ${busy.foreignPctOfCore.toFixed(0)} % of a core on average ` +
        `(peak ${busy.foreignPeakPct.toFixed(0)} %) during this run: its figures are not comparable`,
    );
  }
  const crashed = servers.filter((s) => s.crashed());
  if (out.skipped === null || servers.length > 0) out.check(
    `${target} process stayed up`,
    crashed.length === 0,
    crashed.length === 0
      ? `${servers.length} launch(es), none crashed`
      : crashed.map((s) => `${s.exitInfo}; last log lines:\n      ${s.logTail.slice(-8).join('\n      ')}`).join('\n'),
  );
  return {
    figures: out.figures,
    checks: out.checks,
    notes: out.notes,
    skipped: out.skipped,
    error,
    durationS: (clockMs() - t0) / 1000,
    otherCpuPct: busy.foreignPctOfCore,
    otherCpuPeakPct: busy.foreignPeakPct,
  };
}

/**
 * Puts the single-node fan-out p99 of the same run (same subscriber count if there is one, else
 * the largest size measured) next to the cross-node p99, as an extra figure of the multinode run.
 */
function addSingleNodeReference(results: ScenarioResult[]): void {
  const run = results.find((r) => r.name === 'multinode')?.runs.broker;
  const cross = run?.figures.find((f) => f.key === 'multinode.rate.p99_ms');
  if (run === undefined || cross === undefined) return;
  const fan = results.find((r) => r.name === 'fanout')?.runs.broker;
  if (fan === undefined) return;
  const p99s = fan.figures.filter((f) => /^fanout\.\d+\.rate\.p99_ms$/.test(f.key));
  const size = (key: string): number => Number(key.split('.')[1]);
  const subs = /Cross-node (\d+) subs/.exec(cross.label)?.[1];
  const ref = p99s.find((f) => String(size(f.key)) === subs) ?? p99s.sort((a, b) => size(b.key) - size(a.key))[0];
  if (ref === undefined) return;
  const label = ref.label.replace(/^Fan-out/, 'Single-node fan-out').replace(/: latency p99$/, ' (SQLite): p99');
  const index = run.figures.indexOf(cross);
  run.figures.splice(index + 1, 0, { key: 'multinode.single_node_ref.p99_ms', label, unit: 'ms', value: ref.value, clientCpuPct: ref.clientCpuPct });
}

async function main(): Promise<void> {
  installCleanupHandlers();
  const options = parseOptions();
  const params = benchParams(options.quick);
  const machine = machineInfo();
  const git = gitCommit(REPO_ROOT);
  const date = new Date().toISOString();
  log(`Broker bench, ${params.mode} mode, targets ${options.targets.join(' + ')}, scenarios ${options.only.join(', ')}`);
  log(`${shortMachine(machine)}; commit ${git.commit}${git.dirty ? ' (dirty)' : ''}`);
  const selected = SCENARIOS.filter((s) => options.only.includes(s.name));
  // Only Broker runs use PostgreSQL (inserts, retention and dump on PostgreSQL, multinode): probe it only then.
  const wantsPostgres =
    options.targets.includes('broker') && selected.some((s) => s.name === 'inserts' || s.name === 'retention' || s.name === 'dump' || s.requiresPostgres === true);
  const postgres: PostgresInfo = wantsPostgres
    ? await probePostgres(options.postgresUrl, options.postgresSource)
    : { adminUrl: options.postgresUrl, source: options.postgresSource, available: false, detail: 'not needed by the selected runs' };
  if (wantsPostgres) log(`PostgreSQL (${options.postgresSource}): ${postgres.available ? postgres.detail : `not available: ${postgres.detail}`}`);
  const results: ScenarioResult[] = [];
  for (const scenario of selected) {
    const result: ScenarioResult = { name: scenario.name, title: scenario.title, runs: {} };
    for (const target of options.targets) {
      if (scenario.brokerOnly === true && target !== 'broker') {
        log(`== ${scenario.title} / ${target}: Broker only, not run`);
        continue;
      }
      log(`== ${scenario.title} / ${target}`);
      result.runs[target] = await runOne(scenario, target, options, postgres);
      await sleep(500);
    }
    results.push(result);
  }
  addSingleNodeReference(results);
  const rows = buildRows(results, params);
  process.stdout.write(`\n${renderTable(rows, results)}\n`);
  const failedChecks = results.some((r) => Object.values(r.runs).some((run) => run.error !== null || run.checks.some((c) => !c.ok)));
  const missedTargets = rows.some((r) => r.pass === false);
  const stamp = date.replace(/:/g, '-').replace(/\.\d+Z$/, 'Z');
  const file = writeResults(options.outDir, stamp, {
    date,
    commit: git.commit,
    dirty: git.dirty,
    machine,
    mode: params.mode,
    targets: options.targets,
    params,
    postgres: { source: postgres.source, available: postgres.available, detail: postgres.detail },
    rows,
    scenarios: results,
    ok: !failedChecks,
    targetsMet: !missedTargets,
  });
  const meta = { date, commit: `${git.commit}${git.dirty ? '+' : ''}`, machine: shortMachine(machine), mode: params.mode };
  process.stdout.write(`\nResults: ${path.relative(process.cwd(), file)} (and latest.json)\n`);
  process.stdout.write(`README row:\n${readmeHeader()}\n${readmeRow(rows, meta)}\n`);
  process.stdout.write(`\n${failedChecks ? 'FAILED: an error or a check failed' : 'all checks passed'}; ${missedTargets ? 'some targets missed' : 'no target missed'}\n`);
  process.exitCode = failedChecks || (options.strict && missedTargets) ? 1 : 0;
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n${usage()}\n`);
  killAllChildren();
  void runAsyncCleanups();
  process.exitCode = 2;
});
