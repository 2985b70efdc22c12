#!/usr/bin/env node
// Part of `npm run build`: tsc compiles the console's TypeScript (src/console/*.ts) into
// dist/console; this copies its static files (HTML, CSS, images) next to them.
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const from = join(root, 'src/console');
const to = join(root, 'dist/console');
const STATIC = /\.(html|css|svg|png|ico)$/;

mkdirSync(to, { recursive: true });
const copied = readdirSync(from).filter((name) => STATIC.test(name));
if (!copied.includes('index.html')) {
  console.error(`copy-console-assets: no index.html in ${from}`);
  process.exit(1);
}
for (const name of copied) copyFileSync(join(from, name), join(to, name));
