// Whether dist/ was built from the sources as they are now, without running the build: `npm start`
// asks this before every start (a TypeScript build takes ~10 s, during which every scheduled
// event would be late), the build writes the stamp it compares against.
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
export const STAMP = join(root, 'dist/.build-stamp.json');

/**
 * What the build reads: tsc reads src/ (minus the tests, which tsconfig.build.json excludes)
 * and the tsconfig files, the console's static files are copied from src/console, and the
 * build's own scripts and package.json (dependency versions, the build command) decide how.
 */
const FILES = ['package.json', 'tsconfig.json', 'tsconfig.build.json', 'scripts/build.mjs', 'scripts/copy-console-assets.mjs'];
const DIRS = ['src'];
const SKIP = /\.test\.ts$/;

function walk(dir, out) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) walk(path, out);
    else if (!SKIP.test(entry.name)) out.push(path);
  }
}

/**
 * Every input file with its size (bytes) and modification time (ms). A list rather than the
 * newest time: a deleted file, or one restored with an older time (git stash, cp -p), changes it
 * too. Stat'ing ~200 files takes a few ms.
 */
export function buildInputs() {
  const paths = FILES.map((f) => join(root, f));
  for (const dir of DIRS) walk(join(root, dir), paths);
  const inputs = {};
  for (const path of paths.sort()) {
    const s = statSync(path);
    inputs[relative(root, path)] = [s.size, s.mtimeMs];
  }
  return inputs;
}

/** `{ fresh: true }`, or `{ fresh: false, reason }` saying why dist/ must be built. */
export function buildState() {
  if (!existsSync(join(root, 'dist/main.js'))) return { fresh: false, reason: 'dist/ is not built yet' };
  let stamp;
  try {
    stamp = JSON.parse(readFileSync(STAMP, 'utf8'));
  } catch {
    return { fresh: false, reason: 'dist/ has no build stamp (built by an older version, or the build failed)' };
  }
  const now = buildInputs();
  const built = stamp.inputs ?? {};
  const changed = [...new Set([...Object.keys(now), ...Object.keys(built)])].filter(
    (path) => JSON.stringify(now[path]) !== JSON.stringify(built[path]),
  );
  if (changed.length === 0) return { fresh: true };
  const named = changed.slice(0, 3).join(', ') + (changed.length > 3 ? ` and ${changed.length - 3} more` : '');
  return { fresh: false, reason: `changed since the last build: ${named}` };
}

/** Written last by a build that succeeded, with the inputs as they were when it started. */
export function writeStamp(inputs) {
  writeFileSync(STAMP, `${JSON.stringify({ inputs })}\n`);
}

/** Removed first by every build: a build that fails or is interrupted leaves dist/ unstamped. */
export function removeStamp() {
  rmSync(STAMP, { force: true });
}
