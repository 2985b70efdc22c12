/**
 * Value parsers for settings. Each takes the raw text (from the environment or a flag)
 * and returns the typed value, or throws a ConfigValueError whose message completes the
 * sentence "<VARIABLE> ...".
 */
export class ConfigValueError extends Error {}

export function integer(min: number, max: number): (raw: string) => number {
  return (raw) => {
    const text = raw.trim();
    if (!/^-?\d+$/.test(text)) throw new ConfigValueError(`must be a whole number, got "${raw}"`);
    const value = Number(text);
    if (!Number.isSafeInteger(value) || value < min || value > max) {
      throw new ConfigValueError(`must be between ${min} and ${max}, got ${text}`);
    }
    return value;
  };
}

export function decimal(min: number, max: number): (raw: string) => number {
  return (raw) => {
    const text = raw.trim();
    if (!/^\d+(\.\d+)?$/.test(text)) throw new ConfigValueError(`must be a positive number, got "${raw}"`);
    const value = Number(text);
    if (value < min || value > max) throw new ConfigValueError(`must be between ${min} and ${max}, got ${text}`);
    return value;
  };
}

const TRUE = new Set(['1', 'true', 'yes', 'on']);
const FALSE = new Set(['0', 'false', 'no', 'off', '']);

export function boolean(raw: string): boolean {
  const text = raw.trim().toLowerCase();
  if (TRUE.has(text)) return true;
  if (FALSE.has(text)) return false;
  throw new ConfigValueError(`must be true or false, got "${raw}"`);
}

export function oneOf<T extends string>(values: readonly T[]): (raw: string) => T {
  return (raw) => {
    const text = raw.trim() as T;
    if (!values.includes(text)) throw new ConfigValueError(`must be one of ${values.join(', ')}, got "${raw}"`);
    return text;
  };
}

export function nonEmpty(raw: string): string {
  if (raw.trim() === '') throw new ConfigValueError('must not be empty');
  return raw;
}

/** `*`, or a comma-separated list of origins such as `https://app.example.com,http://localhost:3000`. */
export function origins(raw: string): readonly string[] {
  const items = raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (items.length === 0) throw new ConfigValueError('must be "*" or a comma-separated list of origins');
  if (items.includes('*')) {
    if (items.length > 1) throw new ConfigValueError('"*" cannot be combined with other origins');
    return ['*'];
  }
  for (const item of items) {
    let url: URL;
    try {
      url = new URL(item);
    } catch {
      throw new ConfigValueError(`has "${item}", which is not an origin like https://example.com`);
    }
    if (url.origin !== item.replace(/\/$/, '') || !/^https?:$/.test(url.protocol)) {
      throw new ConfigValueError(`has "${item}", which is not an origin (scheme://host[:port], no path)`);
    }
  }
  return Object.freeze(items.map((s) => s.replace(/\/$/, '')));
}

export type DatabaseUrl =
  | { readonly kind: 'sqlite'; readonly path: string; readonly url: string }
  | { readonly kind: 'postgres'; readonly url: string };

export function databaseUrl(raw: string): DatabaseUrl {
  const text = raw.trim();
  if (text.startsWith('sqlite:')) {
    const path = text.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
    if (path === '') throw new ConfigValueError('sqlite: needs a file path, e.g. sqlite:./tmp/broker.db');
    return { kind: 'sqlite', path, url: text };
  }
  if (/^postgres(ql)?:\/\//.test(text)) return { kind: 'postgres', url: text };
  throw new ConfigValueError('must start with sqlite: or postgres://');
}
