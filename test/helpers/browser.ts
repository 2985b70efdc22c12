/**
 * Headless Chromium for the browser tests: Debian's `chromium` (apt), driven by playwright-core,
 * never a downloaded browser. Without /usr/bin/chromium the tests skip locally, with a message,
 * and fail in CI (CI=true), where .ci/run installs it.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
const ROOT = new URL('../..', import.meta.url).pathname;

/** Why the browser tests are skipped here, or undefined when they must run. */
export function browserSkipReason(): string | undefined {
  if (existsSync(CHROMIUM) || process.env.CI) return undefined;
  return `browser tests skipped: ${CHROMIUM} is missing (apt-get install -y chromium; mandatory in CI)`;
}

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}

function newest(dir: string, pattern: RegExp): number {
  if (!existsSync(dir)) return 0;
  return Math.max(0, ...readdirSync(dir).filter((f) => pattern.test(f)).map((f) => statSync(join(dir, f)).mtimeMs));
}

/**
 * The console (and the `broker/client` / `broker/react` exports) are served from dist/ (the
 * build): build it when it is missing or older than its sources (CI builds in `npm ci`).
 */
export function ensureConsoleBuilt(): void {
  const sources = Math.max(
    newest(join(ROOT, 'src/console'), /\.(ts|html|css)$/),
    newest(join(ROOT, 'src/client'), /\.ts$/),
    newest(join(ROOT, 'src/react'), /\.ts$/),
  );
  const built = Math.min(
    newest(join(ROOT, 'dist/console'), /^(index\.html|main\.js|demo\.js|console\.css)$/),
    newest(join(ROOT, 'dist/client'), /\.js$/),
    newest(join(ROOT, 'dist/react'), /\.js$/),
  );
  if (built >= sources && existsSync(join(ROOT, 'dist/console/index.html'))) return;
  console.log('dist/ is older than the console sources: running npm run build');
  execFileSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: 'inherit' });
}

/**
 * Collects every error a page throws or logs (a broken module, a failed request), except the
 * browser's own log lines for API answers a test provokes on purpose (401 wrong password, 409).
 */
export function watchPageErrors(page: Page, errors: string[]): void {
  page.on('pageerror', (error) => errors.push(`pageerror: ${error.message}`));
  page.on('console', (message) => {
    const text = message.text();
    if (message.type() !== 'error') return;
    if (/^Failed to load resource: the server responded with a status of (401|409)\b/.test(text)) return;
    errors.push(`console.error: ${text}`);
  });
}
