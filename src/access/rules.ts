import { covers, type NamePattern, PatternError, parsePattern, unmatchableReason } from './name-pattern.js';
import { describePermission, type Permission, PermissionError, parsePermission } from './permission.js';

/** How long the names of a rule keep their old versions (retention); absent = forever. */
export interface Keep {
  /** Newest settled (released or cancelled) versions kept per name. */
  readonly versions?: number;
  /** Settled versions older than this many days are removed. */
  readonly days?: number;
}

/** One rule of the rules file, compiled. */
export interface Rule {
  /** 1-based position in the file, for messages. */
  readonly number: number;
  readonly names: NamePattern;
  readonly read: Permission;
  readonly write: Permission;
  readonly keep: Keep | undefined;
}

/** A compiled rules file: the first rule whose `names` match an event name decides. */
export interface Rules {
  readonly rules: readonly Rule[];
  /** Some rule has a `keep`: old versions are pruned. */
  readonly retains: boolean;
  /**
   * Every name can be read by anyone (every rule up to a catch-all `>` lets `public` read):
   * the stream then needs no per-reader work at all, as without rules.
   */
  readonly allPublicRead: boolean;
}

/** An invalid rules document; the message names the rule and the problem. */
export class RulesError extends Error {
  override readonly name = 'RulesError';
}

/** Most rules in one file: each name is matched against them in order (and cached). */
export const MAX_RULES = 1000;

/** The rule used when no rules file is given: the original's model, every name public. */
export const DEFAULT_RULES_DOCUMENT = { rules: [{ names: '>', read: 'public', write: 'user' }] } as const;

const RULE_KEYS = new Set(['names', 'read', 'write', 'keep']);
const REQUIRED_KEYS = ['names', 'read', 'write'] as const;
/** Largest `keep.versions` and `keep.days` (a million versions; a hundred years). */
const MAX_KEEP_VERSIONS = 1_000_000;
const MAX_KEEP_DAYS = 36_500;

/**
 * Checks and compiles a rules document (parsed JSON). Throws a RulesError naming the rule and
 * its problem: an unknown permission, a malformed pattern, `owner` without `{user}`, a rule that
 * an earlier one hides, unknown keys.
 */
export function compileRules(document: unknown): Rules {
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    throw new RulesError('the rules file must be a JSON object: {"rules": [ … ]}');
  }
  const extra = Object.keys(document).filter((k) => k !== 'rules');
  if (extra.length > 0) throw new RulesError(`unknown key ${JSON.stringify(extra[0])} (the file has only "rules")`);
  const list = (document as { rules?: unknown }).rules;
  if (!Array.isArray(list)) throw new RulesError('"rules" must be a list of rules');
  if (list.length === 0) throw new RulesError('"rules" is empty: no name could be read or written (write at least one rule)');
  if (list.length > MAX_RULES) throw new RulesError(`"rules" has ${list.length} rules; at most ${MAX_RULES}`);
  const rules = list.map((raw, i) => compileRule(raw, i + 1));
  rules.forEach((rule, j) => {
    const earlier = rules.slice(0, j).find((r) => covers(r.names, rule.names));
    if (earlier) {
      throw new RulesError(
        `${label(rule)} can never match: rule ${earlier.number} ("${earlier.names.source}") comes first and matches every name it does`,
      );
    }
  });
  return Object.freeze({
    rules: Object.freeze(rules),
    allPublicRead: everyNamePublic(rules),
    retains: rules.some((r) => r.keep !== undefined),
  });
}

function compileRule(raw: unknown, number: number): Rule {
  const at = `rule ${number}`;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new RulesError(`${at} must be an object such as {"names": ">", "read": "public", "write": "user"}`);
  }
  const fields = raw as Record<string, unknown>;
  const unknown = Object.keys(fields).find((k) => !RULE_KEYS.has(k));
  if (unknown !== undefined) {
    throw new RulesError(`${at} has the unknown key "${unknown}" (a rule has names, read, write and optionally keep)`);
  }
  for (const key of REQUIRED_KEYS) {
    if (fields[key] === undefined) throw new RulesError(`${at} has no "${key}"`);
  }
  if (typeof fields.names !== 'string') throw new RulesError(`${at}: "names" must be a string pattern such as "orders.*"`);
  const named = `${at} ("${fields.names}")`;
  let names: NamePattern;
  try {
    names = parsePattern(fields.names, { allowUser: true, strict: true });
  } catch (error) {
    if (error instanceof PatternError) throw new RulesError(`${named}: the pattern ${error.message}`);
    throw error;
  }
  const unmatchable = unmatchableReason(names);
  if (unmatchable) throw new RulesError(`${named} can never match: ${unmatchable}`);
  const permission = (key: 'read' | 'write'): Permission => {
    try {
      return parsePermission(fields[key]);
    } catch (error) {
      if (error instanceof PermissionError) throw new RulesError(`${named}: "${key}" ${error.message}`);
      throw error;
    }
  };
  const rule: Rule = { number, names, read: permission('read'), write: permission('write'), keep: parseKeep(fields.keep, named) };
  for (const key of ['read', 'write'] as const) {
    if (rule[key].owner && names.userIndex === -1) {
      throw new RulesError(`${named}: "${key}" uses owner, but the pattern has no {user} segment to name the owner`);
    }
  }
  if (rule.write.public) {
    throw new RulesError(
      `${named}: "write" cannot be public: an event always has an author, so writing needs a token (use "user")`,
    );
  }
  return Object.freeze(rule);
}

function parseKeep(raw: unknown, named: string): Keep | undefined {
  if (raw === undefined) return undefined;
  const example = '{"versions": 100, "days": 30}';
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new RulesError(`${named}: "keep" must be an object such as ${example}`);
  const fields = raw as Record<string, unknown>;
  const extra = Object.keys(fields).find((k) => k !== 'versions' && k !== 'days');
  if (extra !== undefined) throw new RulesError(`${named}: "keep" has the unknown key "${extra}" (it has versions and days)`);
  const { versions, days } = fields;
  if (versions === undefined && days === undefined) throw new RulesError(`${named}: "keep" needs versions, days or both, e.g. ${example}`);
  if (versions !== undefined && !(Number.isSafeInteger(versions) && (versions as number) >= 1 && (versions as number) <= MAX_KEEP_VERSIONS)) {
    throw new RulesError(`${named}: "keep.versions" must be a whole number from 1 to ${MAX_KEEP_VERSIONS}`);
  }
  if (days !== undefined && !(typeof days === 'number' && Number.isFinite(days) && days > 0 && days <= MAX_KEEP_DAYS)) {
    throw new RulesError(`${named}: "keep.days" must be a number of days above 0 and at most ${MAX_KEEP_DAYS}`);
  }
  return Object.freeze({
    ...(versions === undefined ? {} : { versions: versions as number }),
    ...(days === undefined ? {} : { days: days as number }),
  });
}

function label(rule: Rule): string {
  return `rule ${rule.number} ("${rule.names.source}")`;
}

/** True when a catch-all `>` is reached and every rule until it (and it) lets anyone read. */
function everyNamePublic(rules: readonly Rule[]): boolean {
  for (const rule of rules) {
    if (!rule.read.public) return false;
    const only = rule.names.segments[0];
    if (rule.names.segments.length === 1 && only?.kind === 'rest') return true;
  }
  return false;
}

/** One line per rule, for the start-up log: what applies, in order. */
export function describeRules(rules: Rules): string[] {
  return rules.rules.map((r) => {
    const keep = r.keep ? `; keep ${[r.keep.versions && `${r.keep.versions} versions`, r.keep.days && `${r.keep.days} days`].filter(Boolean).join(', ')}` : '';
    return `${r.number}. ${r.names.source}: read ${describePermission(r.read)}; write ${describePermission(r.write)}${keep}`;
  });
}
