/** The role that may read and write every name and manage users. */
export const ADMIN_ROLE = 'admin';

/** Longest role name, in characters. Roles ride in every access token: they stay short. */
export const MAX_ROLE_LENGTH = 64;
/** Most roles one user may hold. */
export const MAX_ROLES = 32;

const ROLE = /^[A-Za-z0-9][A-Za-z0-9_.:-]*$/;

/** Why `role` cannot be a role name, or undefined if it can. */
export function roleProblem(role: unknown): string | undefined {
  if (typeof role !== 'string') return 'must be a string';
  if (role === '') return 'must not be empty';
  if (role.length > MAX_ROLE_LENGTH) return `must be at most ${MAX_ROLE_LENGTH} characters`;
  if (!ROLE.test(role)) return `"${role}" must start with a letter or digit and use only letters, digits, "_", ".", ":" and "-"`;
  return undefined;
}

/** Why `roles` cannot be a user's roles, or undefined; duplicates are a problem too. */
export function rolesProblem(roles: unknown): string | undefined {
  if (!Array.isArray(roles)) return 'roles must be a list of strings';
  if (roles.length > MAX_ROLES) return `roles must be at most ${MAX_ROLES}`;
  for (const role of roles) {
    const problem = roleProblem(role);
    if (problem) return `role ${problem}`;
  }
  if (new Set(roles).size !== roles.length) return 'roles must not repeat';
  return undefined;
}
