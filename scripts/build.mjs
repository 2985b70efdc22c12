#!/usr/bin/env node
// `npm run build`: compiles src/ to dist/ (tsc -p tsconfig.build.json), copies the console's static
// files, then stamps dist/ with the inputs it was built from, so that `npm start` builds only
// when they change (scripts/build-state.mjs).
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { buildInputs, removeStamp, writeStamp } from './build-state.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');

// Read before compiling: a file edited while tsc runs leaves a stamp that no longer matches,
// and the next start builds again.
const inputs = buildInputs();
removeStamp();
for (const args of [[tsc, '-p', 'tsconfig.build.json'], ['scripts/copy-console-assets.mjs']]) {
  const step = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
  if (step.status !== 0) process.exit(step.status ?? 1);
}
writeStamp(inputs);
