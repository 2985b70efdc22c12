import { usernameKey } from '../lib/username-key.js';

/**
 * A LIKE pattern (escape character `\`) matching case-folded usernames that contain `search`,
 * or every name. The search's own `%`, `_` and `\` are matched literally.
 */
export function likePattern(search: string | undefined): string {
  if (search === undefined || search === '') return '%';
  return `%${usernameKey(search).replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}
