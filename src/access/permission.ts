import { roleProblem } from './roles.js';

/**
 * Who a rule lets read or write: any of these. `public` is anyone, with or without a token;
 * `user` any logged-in user; `owner` the user whose id the rule's `{user}` segment holds;
 * `roles` the holders of any of these roles. Nothing set means only admins.
 */
export interface Permission {
  readonly public: boolean;
  readonly user: boolean;
  readonly owner: boolean;
  readonly roles: readonly string[];
}

export class PermissionError extends Error {}

const WORDS = ['public', 'user', 'owner', 'none'] as const;

/**
 * Parses `"public"`, `"user"`, `"owner"`, `"role:NAME"`, `"none"` or a list of them (any of
 * them), or throws a PermissionError whose message says what is wrong.
 */
export function parsePermission(raw: unknown): Permission {
  const items = Array.isArray(raw) ? raw : [raw];
  if (items.length === 0) throw new PermissionError('is an empty list (write "none" to allow only admins)');
  let pub = false;
  let user = false;
  let owner = false;
  let none = false;
  const roles: string[] = [];
  for (const item of items) {
    if (typeof item !== 'string') {
      throw new PermissionError(`has ${JSON.stringify(item)}: a permission is a string such as "public" or "role:editor"`);
    }
    if (item.startsWith('role:')) {
      const role = item.slice('role:'.length);
      const problem = roleProblem(role);
      if (problem) throw new PermissionError(`has "${item}": the role ${problem}`);
      if (!roles.includes(role)) roles.push(role);
      continue;
    }
    switch (item) {
      case 'public':
        pub = true;
        break;
      case 'user':
        user = true;
        break;
      case 'owner':
        owner = true;
        break;
      case 'none':
        none = true;
        break;
      default:
        throw new PermissionError(`has the unknown permission "${item}" (use ${WORDS.join(', ')} or role:NAME)`);
    }
  }
  if (none && items.length > 1) throw new PermissionError('combines "none" with other permissions');
  return Object.freeze({ public: pub, user, owner, roles: Object.freeze(roles) });
}

/** The permission as the rules file writes it, for messages and docs. */
export function describePermission(p: Permission): string {
  const words = [...(p.public ? ['public'] : []), ...(p.user ? ['user'] : []), ...(p.owner ? ['owner'] : [])];
  for (const r of p.roles) words.push(`role:${r}`);
  return words.length === 0 ? 'none' : words.join(' | ');
}
