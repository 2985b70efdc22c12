import { matchPattern, type NamePattern, PatternError, parsePattern } from '../access/name-pattern.js';
import { eventNameProblem } from '../events/event-name.js';

/** Most names and patterns one stream may ask for (`?event=` repeated). */
export const MAX_FILTER_NAMES = 100;

/**
 * The names a stream asked for: exact names and patterns (`orders.*`, `chat.room1.>`), or every
 * name. Streams with the same filter share one encoded chunk per released batch (`key`).
 */
export class StreamFilter {
  /** Every name. */
  static readonly all = new StreamFilter([], [], '');

  private readonly exact: ReadonlySet<string>;

  private constructor(
    names: readonly string[],
    private readonly patterns: readonly NamePattern[],
    /** Identity of the filter ('' = every name). */
    readonly key: string,
  ) {
    this.exact = new Set(names);
  }

  /**
   * Parses `?event=` values: a value with a whole-segment `*` or `>` is a pattern, any other is
   * an exact event name. Throws a PatternError naming the bad value.
   */
  static parse(values: readonly string[]): StreamFilter {
    const unique = [...new Set(values)];
    if (unique.length > MAX_FILTER_NAMES) throw new PatternError(`at most ${MAX_FILTER_NAMES} event names or patterns per stream`);
    const names: string[] = [];
    const patterns: NamePattern[] = [];
    for (const value of unique) {
      let pattern: NamePattern;
      try {
        pattern = parsePattern(value, { allowUser: false, strict: false });
      } catch (error) {
        if (error instanceof PatternError) throw new PatternError(`event filter "${value}": the pattern ${error.message}`);
        throw error;
      }
      if (pattern.exact) {
        const problem = eventNameProblem(value);
        if (problem) throw new PatternError(`event filter ${problem}`);
        names.push(value);
      } else patterns.push(pattern);
    }
    if (names.length === 0 && patterns.length === 0) return StreamFilter.all;
    return new StreamFilter(names, patterns, `=${[...names, ...patterns.map((p) => `~${p.source}`)].sort().join('\u0000')}`);
  }

  /** The exact names, when the filter has no pattern: the store can then filter by name itself. */
  get storeNames(): readonly string[] | undefined {
    return this.patterns.length === 0 && this.exact.size > 0 ? [...this.exact] : undefined;
  }

  /** The exact names asked for (each must be readable, or the stream is refused). */
  get exactNames(): readonly string[] {
    return [...this.exact];
  }

  get everything(): boolean {
    return this.key === '';
  }

  wants(name: string): boolean {
    if (this.key === '' || this.exact.has(name)) return true;
    for (const p of this.patterns) if (matchPattern(p, name)) return true;
    return false;
  }
}
