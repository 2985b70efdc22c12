import type { Caller } from './caller.js';
import { matchPattern } from './name-pattern.js';
import type { Permission } from './permission.js';
import type { Keep, Rules } from './rules.js';

export type Action = 'read' | 'write';

/** What the rules say about one event name (whoever asks). */
export interface NameAccess {
  readonly read: Permission;
  readonly write: Permission;
  /** How long the name keeps old versions (undefined: forever). */
  readonly keep: Keep | undefined;
  /** The user id the rule's `{user}` segment holds in this name, if it has one. */
  readonly owner: string | undefined;
}

/** Names whose decision is remembered, at most; past it the memory starts over (entries). */
const CACHE_SIZE = 10_000;

/**
 * The one place that answers "may this caller read or write this name?". Routes, the hub, the
 * CLI and the library all ask it. A name's rule does not depend on the caller, so the decision
 * is found once per name (first matching rule, then cached) and applied to each kind of caller
 * with a few comparisons. `replace` swaps the rules (SIGHUP) atomically for the next question.
 */
export class AccessPolicy {
  private current: Rules;
  private readonly cache = new Map<string, NameAccess | null>();

  constructor(rules: Rules) {
    this.current = rules;
  }

  get rules(): Rules {
    return this.current;
  }

  /** True when every name is readable by anyone: the stream's fast path, as without rules. */
  get allPublicRead(): boolean {
    return this.current.allPublicRead;
  }

  replace(rules: Rules): void {
    this.current = rules;
    this.cache.clear();
  }

  /** The rule that decides for `name`, or undefined when none matches (only admins may). */
  access(name: string): NameAccess | undefined {
    const hit = this.cache.get(name);
    if (hit !== undefined) return hit ?? undefined;
    let found: NameAccess | null = null;
    for (const rule of this.current.rules) {
      const match = matchPattern(rule.names, name);
      if (match) {
        found = { read: rule.read, write: rule.write, keep: rule.keep, owner: match.owner };
        break;
      }
    }
    if (this.cache.size >= CACHE_SIZE) this.cache.clear();
    this.cache.set(name, found);
    return found ?? undefined;
  }

  may(caller: Caller, action: Action, name: string): boolean {
    if (caller.admin) return true;
    const access = this.access(name);
    return access !== undefined && permits(access[action], caller, access.owner);
  }

  /**
   * Whether every caller of `caller`'s kind (same readerKey) may read `name`, without looking at
   * who owns it: the part of a read decision streams can share. `owner` is then checked per
   * caller only for names whose rule has a `{user}` owner.
   */
  mayReadAsKind(caller: Caller, access: NameAccess | undefined): boolean {
    if (caller.admin) return true;
    return access !== undefined && permitsKind(access.read, caller);
  }
}

/** Does permission `p` let `caller` act on a name owned by `owner`? */
export function permits(p: Permission, caller: Caller, owner: string | undefined): boolean {
  if (permitsKind(p, caller)) return true;
  return p.owner && owner !== undefined && caller.userId === owner;
}

function permitsKind(p: Permission, caller: Caller): boolean {
  if (p.public) return true;
  if (caller.userId === undefined) return false;
  if (p.user) return true;
  for (const role of p.roles) if (caller.roles.includes(role)) return true;
  return false;
}
