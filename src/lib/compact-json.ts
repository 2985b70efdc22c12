import { AppError } from '../errors/app-error.js';

/** Deepest nesting accepted in stored JSON (levels); real documents stay far below it. */
export const MAX_JSON_DEPTH = 128;

/**
 * Serialises a parsed, untrusted JSON value to compact text after checking its depth without
 * recursion: a body of 100,000 nested arrays parses fine but would overflow the stack of every
 * later JSON.stringify (history responses, the stream), so it is refused here as a 400.
 */
export function compactJson(value: unknown, field: string): string {
  const stack: { value: unknown; depth: number }[] = [{ value, depth: 0 }];
  while (stack.length > 0) {
    const { value: v, depth } = stack.pop() as { value: unknown; depth: number };
    if (v === null || typeof v !== 'object') continue;
    if (depth >= MAX_JSON_DEPTH) {
      throw new AppError('invalid_input', `${field} is nested deeper than ${MAX_JSON_DEPTH} levels`);
    }
    for (const child of Object.values(v)) stack.push({ value: child, depth: depth + 1 });
  }
  return JSON.stringify(value);
}
