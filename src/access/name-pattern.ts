import { MAX_EVENT_NAME_LENGTH, nameCharactersProblem } from '../events/event-name.js';

/**
 * Event-name patterns, shared by the rules file and by `?event=` subscriptions so that a pattern
 * means the same thing in both. A name is split on `.` into segments (an empty segment is a
 * segment too: `a..b` has three). In a pattern:
 *
 * - `*` matches exactly one segment;
 * - `>` matches one or more trailing segments (so it must be the last one);
 * - `{user}` (rules only) matches one segment and binds it: the `owner` permission compares it
 *   with the caller's user id. Matching itself never depends on the caller, so a rule
 *   `private.{user}.>` is the rule of every `private.X.…` name, whoever asks (otherwise a
 *   later catch-all rule would hand someone else's private names to every other user);
 * - anything else is a literal segment, compared exactly.
 */
export type Segment =
  | { readonly kind: 'literal'; readonly text: string }
  | { readonly kind: 'one' }
  | { readonly kind: 'rest' }
  | { readonly kind: 'user' };

export interface NamePattern {
  /** The pattern as written. */
  readonly source: string;
  readonly segments: readonly Segment[];
  /** Index of the `{user}` segment, or -1. */
  readonly userIndex: number;
  /** True when the pattern has no wildcard: it matches exactly one name (`source`). */
  readonly exact: boolean;
}

/** What a successful match found: the text of the `{user}` segment, if the pattern has one. */
export interface PatternMatch {
  readonly owner: string | undefined;
}

export class PatternError extends Error {}

export const USER_SEGMENT = '{user}';

/** Longest pattern text, in UTF-16 units. */
const MAX_PATTERN_LENGTH = 1024;

/**
 * Parses a pattern, or throws a PatternError whose message completes "the pattern … ".
 * `allowUser`: rules may use `{user}`; in a subscription it is an ordinary literal segment.
 * `strict`: refuse `*`, `>` or braces inside a longer segment (`orders*`), which in a rule is
 * almost certainly a mistake for `orders.*`; a subscription takes such a segment literally.
 */
export function parsePattern(source: string, options: { allowUser: boolean; strict: boolean }): NamePattern {
  if (typeof source !== 'string' || source === '') throw new PatternError('must not be empty');
  // The length limit is checked on the names it can match (unmatchableReason), not on the
  // pattern's text, in which `{user}` stands for a longer id; this only bounds the work.
  if (source.length > MAX_PATTERN_LENGTH) throw new PatternError(`must be at most ${MAX_PATTERN_LENGTH} characters`);
  const problem = nameCharactersProblem(source);
  if (problem) throw new PatternError(problem);
  const parts = source.split('.');
  let userIndex = -1;
  const segments = parts.map((text, i): Segment => {
    if (text === '*') return { kind: 'one' };
    if (text === '>') {
      if (i !== parts.length - 1) throw new PatternError('may use ">" only as its last segment');
      return { kind: 'rest' };
    }
    if (options.allowUser && text === USER_SEGMENT) {
      if (userIndex !== -1) throw new PatternError(`may use ${USER_SEGMENT} only once`);
      userIndex = i;
      return { kind: 'user' };
    }
    if (options.strict && /[*>{}]/.test(text)) {
      throw new PatternError(
        `has "${text}": "*" and ">" must be whole segments (e.g. "orders.*"), and the only placeholder is ${USER_SEGMENT}`,
      );
    }
    return { kind: 'literal', text };
  });
  return { source, segments, userIndex, exact: segments.every((s) => s.kind === 'literal') };
}

/** Whether `name` matches, and what `{user}` bound. `undefined` when it does not match. */
export function matchPattern(pattern: NamePattern, name: string): PatternMatch | undefined {
  if (pattern.exact) return pattern.source === name ? NO_OWNER : undefined;
  const segments = pattern.segments;
  let owner: string | undefined;
  let start = 0;
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i] as Segment;
    if (start > name.length) return undefined; // the name has fewer segments than the pattern
    if (s.kind === 'rest') return { owner }; // at least one segment is left (start ≤ length)
    const dot = name.indexOf('.', start);
    const end = dot === -1 ? name.length : dot;
    if (s.kind === 'literal') {
      if (end - start !== s.text.length || !name.startsWith(s.text, start)) return undefined;
    } else if (s.kind === 'user') {
      owner = name.slice(start, end);
      if (owner === '') return undefined; // no user has an empty id
    }
    start = end + 1;
  }
  // Every segment of the name must have been used.
  return start === name.length + 1 ? { owner } : undefined;
}

const NO_OWNER: PatternMatch = { owner: undefined };

/**
 * True when every name `b` matches is also matched by `a` (whatever user `{user}` binds to):
 * a rule after one that covers it can never be reached.
 */
export function covers(a: NamePattern, b: NamePattern): boolean {
  const as = a.segments;
  const bs = b.segments;
  for (let i = 0; i < as.length; i++) {
    const x = as[i] as Segment;
    const y = bs[i];
    if (x.kind === 'rest') return y !== undefined;
    if (y === undefined || y.kind === 'rest') return false;
    if (x.kind === 'literal' && (y.kind !== 'literal' || y.text !== x.text)) return false;
  }
  return as.length === bs.length;
}

/**
 * Why no event name could ever match, or undefined: the shortest name it matches (its literal
 * text and dots; a wildcard segment may be empty, a user id has at least one character) is
 * longer than an event name may be.
 */
export function unmatchableReason(pattern: NamePattern): string | undefined {
  let shortest = pattern.segments.length - 1; // the dots
  for (const s of pattern.segments) if (s.kind === 'literal') shortest += [...s.text].length;
  // `{user}` binds a user id, which is never empty.
  if (pattern.userIndex !== -1) shortest += 1;
  if (shortest > MAX_EVENT_NAME_LENGTH) {
    return `it needs names longer than ${MAX_EVENT_NAME_LENGTH} characters, the longest an event name may be`;
  }
  return undefined;
}
