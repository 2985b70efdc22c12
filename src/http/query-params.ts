import { AppError } from '../errors/app-error.js';

/** A query parameter given at most once, as text. */
export function single(value: unknown, name: string): string {
  if (typeof value !== 'string') throw new AppError('invalid_input', `${name} must be given once`);
  return value;
}

/** An optional whole-number `limit` parameter. */
export function parseLimit(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  const text = single(value, 'limit');
  if (!/^\d{1,9}$/.test(text)) throw new AppError('invalid_input', 'limit must be a whole number');
  return Number(text);
}

/** `?limit=&after=` of a paged list. */
export function readPage(query: Record<string, unknown>): { limit?: number; after?: string } {
  const limit = parseLimit(query.limit);
  const after = query.after === undefined ? undefined : single(query.after, 'after');
  return { ...(limit === undefined ? {} : { limit }), ...(after === undefined ? {} : { after }) };
}
