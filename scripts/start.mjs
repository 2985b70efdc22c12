#!/usr/bin/env node
// `npm start`: builds dist/ only when its sources changed since the last build (or it was never
// built), then runs Broker in this very process, so that signals (SIGTERM, SIGINT), stdin,
// arguments and the exit status are Broker's own, with nothing to forward. An up-to-date start
// costs a few ms of stat calls instead of a ~10 s TypeScript build.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { buildState } from './build-state.mjs';

const state = buildState();
if (!state.fresh) {
  // stderr: stdout carries Broker's JSON log lines only.
  process.stderr.write(`broker: building (${state.reason})\n`);
  const build = spawnSync(process.execPath, [fileURLToPath(new URL('./build.mjs', import.meta.url))], { stdio: 'inherit' });
  if (build.status !== 0) {
    process.stderr.write('broker: the build failed; not starting\n');
    process.exit(build.status ?? 1);
  }
}
// dist/main.js reads process.argv.slice(2): the arguments given to this script.
await import('../dist/main.js');
