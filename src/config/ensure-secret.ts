import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export type SecretSource = 'configured' | 'generated' | 'stored';

/**
 * Returns the JWT signing secret: SECRET if configured, else the one kept in `<dataDir>/secret`,
 * else a new random one (48 bytes = 384 bits, above HS256's 256-bit key size) written there with
 * mode 0600 so that tokens survive restarts. `wx` makes two processes starting at once agree:
 * the loser of the race reads the winner's file.
 */
export function ensureSecret(
  configured: string | undefined,
  dataDir: string,
): { readonly secret: string; readonly source: SecretSource; readonly path?: string } {
  if (configured !== undefined) return { secret: configured, source: 'configured' };
  const path = join(dataDir, 'secret');
  const existing = readSecret(path);
  if (existing !== undefined) return { secret: existing, source: 'stored', path };
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const secret = randomBytes(48).toString('base64url');
  try {
    writeFileSync(path, `${secret}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    const raced = readSecret(path);
    if (raced !== undefined) return { secret: raced, source: 'stored', path };
    throw error;
  }
  return { secret, source: 'generated', path };
}

function readSecret(path: string): string | undefined {
  try {
    const text = readFileSync(path, 'utf8').trim();
    return text === '' ? undefined : text;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}
