/**
 * Broker benchmark suite: `npm run bench` (or `npx tsx bench/run.ts`). See bench/README.md.
 *
 *   --quick                  small, fast parameters (CI smoke, well under 2 minutes)
 *   --only fanout,inserts    scenarios: fanout, connections, inserts, lateness, storm
 *   --target both            broker | baseline | both
 *   --postgres-url URL       also run the insert scenario on this (loopback) PostgreSQL
 *   --strict                 exit 1 when a target is missed too (not only on errors/checks)
 *   --out DIR                results folder (default bench/results)
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { installCleanupHandlers, killAllChildren } from './children.js';
import { clockMs, sleep } from './clock.js';
import { benchParams } from './config.js';
import { gitCommit, machineInfo, shortMachine } from './machine-info.js';
import { LoadSampler, waitForQuietMachine } from './machine-load.js';
import { buildRows, type RunResult, readmeHeader, readmeRow, renderTable, type ScenarioResult, writeResults } from './report.js';
import { type Scenario, type ScenarioContext, Collector, type ScenarioName } from './scenario-types.js';
import { connections } from './scenarios/connections.js';
import { fanout } from './scenarios/fanout.js';
import { inserts } from './scenarios/inserts.js';
import { lateness } from './scenarios/lateness.js';
import { loginStorm } from './scenarios/login-storm.js';
import { REPO_ROOT, ServerProcess, type TargetName } from './server-process.js';

const SCENARIOS: Scenario[] = [fanout, connections, inserts, lateness, loginStorm];

/** Other processes may use this much of one core, at most, while a run measures. */
const QUIET_PCT = 15;

interface Options {
  quick: boolean;
  only: ScenarioName[];
  targets: TargetName[];
  postgresUrl: string | null;
  strict: boolean;
  outDir: string;
}

function usage(): string {
  return [
    'usage: tsx bench/run.ts [--quick] [--only fanout,connections,inserts,lateness,storm]',
    '                        [--target broker|baseline|both] [--postgres-url URL] [--strict] [--out DIR]',
  ].join('\n');
}

function isLoopbackUrl(url: string): boolean {
  try {
    const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
    return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
  } catch {
    return false;
  }
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      target: { type: 'string', default: 'both' },
      'postgres-url': { type: 'string' },
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
  const pg = values['postgres-url'] ?? null;
  if (pg !== null && !isLoopbackUrl(pg)) throw new Error('--postgres-url must point at a loopback address (127.x.y.z, localhost, ::1)');
  return {
    quick: values.quick === true,
    only: only as ScenarioName[],
    targets: target === 'both' ? ['baseline', 'broker'] : [target],
    postgresUrl: pg,
    strict: values.strict === true,
    outDir: values.out ?? path.join(REPO_ROOT, 'bench', 'results'),
  };
}

function log(message: string): void {
  process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${message}\n`);
}

async function runOne(scenario: Scenario, target: TargetName, options: Options): Promise<RunResult> {
  const params = benchParams(options.quick);
  const out = new Collector();
  const servers: ServerProcess[] = [];
  const ctx: ScenarioContext = {
    target,
    params,
    postgresUrl: options.postgresUrl,
    out,
    launch: async (launchOptions) => {
      const s = await ServerProcess.launch(target, launchOptions);
      servers.push(s);
      return s;
    },
    log: (m) => log(`[${scenario.name}/${target}] ${m}`),
  };
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
  const busy = load.stop();
  if (busy.foreignPctOfCore >= QUIET_PCT) {
    out.note(
      `⚠ machine busy: other processes used ${busy.foreignPctOfCore.toFixed(0)} % of a core on average ` +
        `(peak ${busy.foreignPeakPct.toFixed(0)} %) during this run: its figures are not comparable`,
    );
  }
  const crashed = servers.filter((s) => s.crashed());
  out.check(
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
    error,
    durationS: (clockMs() - t0) / 1000,
    otherCpuPct: busy.foreignPctOfCore,
    otherCpuPeakPct: busy.foreignPeakPct,
  };
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
  const results: ScenarioResult[] = [];
  for (const scenario of SCENARIOS.filter((s) => options.only.includes(s.name))) {
    const result: ScenarioResult = { name: scenario.name, title: scenario.title, runs: {} };
    for (const target of options.targets) {
      log(`== ${scenario.title} / ${target}`);
      result.runs[target] = await runOne(scenario, target, options);
      await sleep(500);
    }
    results.push(result);
  }
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
  process.exitCode = 2;
});
