import type { SqliteConnection } from './open-sqlite.js';
import { ADMIN_ROLE } from '../../access/roles.js';
import { usernameKey } from '../../lib/username-key.js';
import type { AuthChange, NewSession, NewUser, Rotation, User, UserChange, UserDeletion, UserUpdate } from '../store.js';
import { type AuthChangeRow, toAuthChange, toUser, USER_COLUMNS, type UserRow } from './sqlite-rows.js';

/** The writes of users and sessions, each one transaction on the writer's connection (times in epoch s). */
export interface SqliteUserWrites {
  createUser(user: NewUser, at: number): 'created' | 'taken';
  updateUser(id: string, change: UserChange, at: number): UserUpdate;
  deleteUser(id: string, at: number): UserDeletion;
  createSession(session: NewSession, at: number): void;
  rotateRefresh(presented: string, next: { readonly hash: string; readonly expiresAt: number }, at: number): Rotation;
  revokeSession(sessionId: string, userId: string, at: number): AuthChange | undefined;
  pruneSessions(before: number, at: number): void;
}

const isEnabledAdmin = (u: { roles: readonly string[]; disabled: boolean }): boolean =>
  !u.disabled && u.roles.includes(ADMIN_ROLE);

const sameRoles = (a: readonly string[], b: readonly string[]): boolean =>
  a.length === b.length && a.every((r) => b.includes(r));

export function sqliteUserWrites(db: SqliteConnection): SqliteUserWrites {
  const insertUser = db.prepare(
    `INSERT INTO users (id, username, username_key, password_hash, info, roles, created_at)
     VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (username_key) DO NOTHING`,
  );
  const selectUser = db.prepare<[string], UserRow>(`SELECT ${USER_COLUMNS} FROM users WHERE id = ?`);
  const countEnabledAdmins = db.prepare<[string], { n: number }>(
    `SELECT count(*) AS n FROM users
     WHERE disabled = 0 AND EXISTS (SELECT 1 FROM json_each(users.roles) WHERE value = ?)`,
  );
  const writeUser = db.prepare(
    'UPDATE users SET info = ?, roles = ?, password_hash = ?, disabled = ?, gen = ? WHERE id = ?',
  );
  const removeUser = db.prepare('DELETE FROM users WHERE id = ?');
  const logChange = db.prepare<[number, string, number | null, string | null], AuthChangeRow>(
    'INSERT INTO auth_changes (at, user_id, gen, session_id) VALUES (?, ?, ?, ?) RETURNING id, at, user_id, gen, session_id',
  );
  const endSessionsOf = db.prepare('UPDATE sessions SET ended_at = ? WHERE user_id = ? AND ended_at IS NULL');
  const insertSession = db.prepare('INSERT INTO sessions (id, user_id, created_at) VALUES (?, ?, ?)');
  const insertRefresh = db.prepare('INSERT INTO refresh_tokens (hash, session_id, expires_at) VALUES (?, ?, ?)');
  const selectRefresh = db.prepare<
    [string],
    { session_id: string; expires_at: number; spent_at: number | null; user_id: string; ended_at: number | null }
  >(
    `SELECT r.session_id, r.expires_at, r.spent_at, s.user_id, s.ended_at
     FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id WHERE r.hash = ?`,
  );
  const spendRefresh = db.prepare('UPDATE refresh_tokens SET spent_at = ? WHERE hash = ?');
  const endSession = db.prepare('UPDATE sessions SET ended_at = ? WHERE id = ? AND user_id = ? AND ended_at IS NULL');
  const deleteExpiredRefresh = db.prepare('DELETE FROM refresh_tokens WHERE expires_at < ?');
  const deleteDeadSessions = db.prepare(
    'DELETE FROM sessions WHERE NOT EXISTS (SELECT 1 FROM refresh_tokens r WHERE r.session_id = sessions.id)',
  );
  const deleteOldChanges = db.prepare('DELETE FROM auth_changes WHERE at < ?');

  /** Would losing `before`'s admin powers leave no enabled admin? */
  const lastAdmin = (before: User, after: { roles: readonly string[]; disabled: boolean } | undefined): boolean =>
    isEnabledAdmin(before) &&
    (after === undefined || !isEnabledAdmin(after)) &&
    (countEnabledAdmins.get(ADMIN_ROLE)?.n ?? 0) <= 1;

  const updateUser = db.transaction((id: string, change: UserChange, at: number): UserUpdate => {
    const row = selectUser.get(id);
    if (!row) return { kind: 'not_found' };
    const before = toUser(row);
    const roles = change.roles ?? before.roles;
    const disabled = change.disabled ?? before.disabled;
    if (lastAdmin(before, { roles, disabled })) return { kind: 'last_admin' };
    const endsSessions = change.passwordHash !== undefined || (disabled && !before.disabled);
    const revokes = endsSessions || !sameRoles(roles, before.roles);
    const gen = revokes ? before.gen + 1 : before.gen;
    const user: User = {
      ...before,
      info: change.info ?? before.info,
      roles,
      passwordHash: change.passwordHash ?? before.passwordHash,
      disabled,
      gen,
    };
    writeUser.run(user.info, JSON.stringify(user.roles), user.passwordHash, user.disabled ? 1 : 0, gen, id);
    if (endsSessions) endSessionsOf.run(at, id);
    const logged = revokes ? logChange.get(at, id, gen, null) : undefined;
    return { kind: 'updated', user, change: logged && toAuthChange(logged) };
  });

  const deleteUser = db.transaction((id: string, at: number): UserDeletion => {
    const row = selectUser.get(id);
    if (!row) return { kind: 'not_found' };
    if (lastAdmin(toUser(row), undefined)) return { kind: 'last_admin' };
    removeUser.run(id);
    endSessionsOf.run(at, id);
    const logged = logChange.get(at, id, row.gen + 1, null) as AuthChangeRow;
    return { kind: 'deleted', change: toAuthChange(logged) };
  });

  const createSession = db.transaction((session: NewSession, at: number): void => {
    insertSession.run(session.id, session.userId, at);
    insertRefresh.run(session.refreshHash, session.id, session.refreshExpiresAt);
  });

  const rotateRefresh = db.transaction(
    (presented: string, next: { readonly hash: string; readonly expiresAt: number }, at: number): Rotation => {
      const token = selectRefresh.get(presented);
      if (!token) return { kind: 'refused', reason: 'The refresh token is not valid.' };
      if (token.spent_at !== null) {
        // Presented again after use: whoever holds it now may have stolen it. End the session.
        const ended = endSession.run(at, token.session_id, token.user_id).changes === 1;
        const logged = ended ? logChange.get(at, token.user_id, null, token.session_id) : undefined;
        return { kind: 'reused', change: logged && toAuthChange(logged) };
      }
      if (token.ended_at !== null) return { kind: 'refused', reason: 'The session has ended; log in again.' };
      if (token.expires_at <= at) return { kind: 'refused', reason: 'The refresh token has expired; log in again.' };
      const row = selectUser.get(token.user_id);
      if (!row) return { kind: 'refused', reason: 'The user no longer exists.' };
      const user = toUser(row);
      if (user.disabled) return { kind: 'refused', reason: 'The account is disabled.' };
      spendRefresh.run(at, presented);
      insertRefresh.run(next.hash, token.session_id, next.expiresAt);
      return { kind: 'rotated', sessionId: token.session_id, user };
    },
  );

  const revokeSession = db.transaction((sessionId: string, userId: string, at: number): AuthChange | undefined => {
    if (endSession.run(at, sessionId, userId).changes !== 1) return undefined;
    return toAuthChange(logChange.get(at, userId, null, sessionId) as AuthChangeRow);
  });

  const pruneSessions = db.transaction((before: number, at: number): void => {
    deleteExpiredRefresh.run(at);
    deleteDeadSessions.run();
    deleteOldChanges.run(before);
  });

  return {
    createUser: (user, at) =>
      insertUser.run(
        user.id,
        user.username,
        usernameKey(user.username),
        user.passwordHash,
        user.info,
        JSON.stringify(user.roles ?? []),
        at,
      ).changes === 1
        ? 'created'
        : 'taken',
    updateUser: (id, change, at) => updateUser.immediate(id, change, at),
    deleteUser: (id, at) => deleteUser.immediate(id, at),
    createSession: (session, at) => createSession.immediate(session, at),
    rotateRefresh: (presented, next, at) => rotateRefresh.immediate(presented, next, at),
    revokeSession: (sessionId, userId, at) => revokeSession.immediate(sessionId, userId, at),
    pruneSessions: (before, at) => pruneSessions.immediate(before, at),
  };
}
