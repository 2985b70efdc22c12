import type { Sql, TransactionSql } from 'postgres';
import { ADMIN_ROLE } from '../../access/roles.js';
import { usernameKey } from '../../lib/username-key.js';
import { likePattern } from '../like-pattern.js';
import type { AuthChange, SessionStore, User, UserStore } from '../store.js';
import { guarded } from './guarded.js';
import { AUTH_CHANNEL, AUTH_LOCK } from './postgres-schema.js';

interface UserRow {
  id: string;
  username: string;
  password_hash: string;
  info: string;
  roles: string;
  disabled: boolean;
  gen: number;
  created_at: number;
}

interface AuthChangeRow {
  id: string;
  at: number;
  user_id: string;
  gen: number | null;
  session_id: string | null;
}

const USER_COLUMNS = 'id, username, password_hash, info, roles, disabled, gen, created_at';

function toUser(row: UserRow): User {
  return {
    id: row.id,
    username: row.username,
    passwordHash: row.password_hash,
    info: row.info,
    roles: JSON.parse(row.roles) as string[],
    disabled: row.disabled,
    gen: row.gen,
    createdAt: row.created_at,
  };
}

function toAuthChange(row: AuthChangeRow): AuthChange {
  return {
    id: Number(row.id),
    at: row.at,
    userId: row.user_id,
    ...(row.gen === null ? {} : { gen: row.gen }),
    ...(row.session_id === null ? {} : { sessionId: row.session_id }),
  };
}

const isEnabledAdmin = (u: { roles: readonly string[]; disabled: boolean }): boolean =>
  !u.disabled && u.roles.includes(ADMIN_ROLE);

/**
 * Appends to the auth change log and NOTIFYs its id at commit. The transaction-scoped lock makes
 * ids follow commit order (a bigserial alone does not: a node reading "after 5" could see 7
 * before 6 commits and skip it for good); auth changes are rare, so serialising them costs nothing.
 */
async function logChange(
  tx: TransactionSql,
  at: number,
  userId: string,
  gen: number | null,
  sessionId: string | null,
): Promise<AuthChange> {
  await tx`SELECT pg_advisory_xact_lock(${AUTH_LOCK})`;
  const [row] = await tx<AuthChangeRow[]>`
    INSERT INTO auth_changes (at, user_id, gen, session_id) VALUES (${at}, ${userId}, ${gen}, ${sessionId})
    RETURNING id, at, user_id, gen, session_id`;
  const change = toAuthChange(row as AuthChangeRow);
  await tx`SELECT pg_notify(${AUTH_CHANNEL}, ${String(change.id)})`;
  return change;
}

/**
 * Serialises the changes that could remove the last enabled admin (two admins demoting each
 * other at once on two nodes), then tells whether `before` losing its powers would.
 */
async function lastAdmin(
  tx: TransactionSql,
  before: User,
  after: { roles: readonly string[]; disabled: boolean } | undefined,
): Promise<boolean> {
  if (!isEnabledAdmin(before) || (after !== undefined && isEnabledAdmin(after))) return false;
  await tx`SELECT pg_advisory_xact_lock(${AUTH_LOCK})`;
  const [row] = await tx<{ n: string }[]>`
    SELECT count(*) AS n FROM users WHERE NOT disabled AND roles::jsonb ? ${ADMIN_ROLE}`;
  return Number(row?.n ?? 0) <= 1;
}

export function postgresUsers(sql: Sql, now: () => number): UserStore {
  const columns = sql.unsafe(USER_COLUMNS);
  return {
    createUser: (user) =>
      guarded(async () => {
        const rows = await sql`
          INSERT INTO users (id, username, username_key, password_hash, info, roles, created_at)
          VALUES (${user.id}, ${user.username}, ${usernameKey(user.username)}, ${user.passwordHash}, ${user.info},
                  ${JSON.stringify(user.roles ?? [])}, ${now()})
          ON CONFLICT (username_key) DO NOTHING RETURNING id`;
        return rows.length === 1 ? 'created' : 'taken';
      }),
    findUserByName: (username) =>
      guarded(async () => {
        const [row] = await sql<UserRow[]>`SELECT ${columns} FROM users WHERE username_key = ${usernameKey(username)}`;
        return row && toUser(row);
      }),
    findUserById: (id) =>
      guarded(async () => {
        const [row] = await sql<UserRow[]>`SELECT ${columns} FROM users WHERE id = ${id}`;
        return row && toUser(row);
      }),
    listUsers: ({ search, after, limit }) =>
      guarded(async () => {
        let from = '';
        if (after !== undefined) {
          const [row] = await sql<{ username_key: string }[]>`SELECT username_key FROM users WHERE id = ${after}`;
          if (!row) return undefined;
          from = row.username_key;
        }
        // COLLATE "C": the same byte order as SQLite's, so a page cursor means the same on both.
        const rows = await sql<UserRow[]>`
          SELECT ${columns} FROM users
          WHERE username_key COLLATE "C" > ${from} AND username_key LIKE ${likePattern(search)} ESCAPE '\\'
          ORDER BY username_key COLLATE "C" LIMIT ${limit}`;
        return rows.map(toUser);
      }),
    updateUser: (id, change) =>
      guarded(() =>
        sql.begin(async (tx) => {
          const [row] = await tx<UserRow[]>`SELECT ${columns} FROM users WHERE id = ${id} FOR UPDATE`;
          if (!row) return { kind: 'not_found' } as const;
          const before = toUser(row);
          const roles = change.roles ?? before.roles;
          const disabled = change.disabled ?? before.disabled;
          if (await lastAdmin(tx, before, { roles, disabled })) return { kind: 'last_admin' } as const;
          const endsSessions = change.passwordHash !== undefined || (disabled && !before.disabled);
          const revokes =
            endsSessions || roles.length !== before.roles.length || roles.some((r) => !before.roles.includes(r));
          const user: User = {
            ...before,
            info: change.info ?? before.info,
            roles,
            passwordHash: change.passwordHash ?? before.passwordHash,
            disabled,
            gen: revokes ? before.gen + 1 : before.gen,
          };
          const at = now();
          await tx`
            UPDATE users SET info = ${user.info}, roles = ${JSON.stringify(user.roles)}, password_hash = ${user.passwordHash},
                             disabled = ${user.disabled}, gen = ${user.gen}
            WHERE id = ${id}`;
          if (endsSessions) await tx`UPDATE sessions SET ended_at = ${at} WHERE user_id = ${id} AND ended_at IS NULL`;
          const logged = revokes ? await logChange(tx, at, id, user.gen, null) : undefined;
          return { kind: 'updated', user, change: logged } as const;
        }),
      ),
    deleteUser: (id) =>
      guarded(() =>
        sql.begin(async (tx) => {
          const [row] = await tx<UserRow[]>`SELECT ${columns} FROM users WHERE id = ${id} FOR UPDATE`;
          if (!row) return { kind: 'not_found' } as const;
          if (await lastAdmin(tx, toUser(row), undefined)) return { kind: 'last_admin' } as const;
          const at = now();
          await tx`DELETE FROM users WHERE id = ${id}`;
          await tx`UPDATE sessions SET ended_at = ${at} WHERE user_id = ${id} AND ended_at IS NULL`;
          return { kind: 'deleted', change: await logChange(tx, at, id, row.gen + 1, null) } as const;
        }),
      ),
  };
}

export function postgresSessions(sql: Sql, now: () => number): SessionStore {
  return {
    create: (session) =>
      guarded(async () => {
        await sql.begin(async (tx) => {
          await tx`INSERT INTO sessions (id, user_id, created_at) VALUES (${session.id}, ${session.userId}, ${now()})`;
          await tx`
            INSERT INTO refresh_tokens (hash, session_id, expires_at)
            VALUES (${session.refreshHash}, ${session.id}, ${session.refreshExpiresAt})`;
        });
      }),
    rotate: (presented, next) =>
      guarded(() =>
        sql.begin(async (tx) => {
          // FOR UPDATE: of two concurrent uses of one token, the second waits and then sees it spent.
          const [token] = await tx<
            { session_id: string; expires_at: number; spent_at: number | null; user_id: string; ended_at: number | null }[]
          >`
            SELECT r.session_id, r.expires_at, r.spent_at, s.user_id, s.ended_at
            FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id WHERE r.hash = ${presented}
            FOR UPDATE OF r, s`;
          const at = now();
          if (!token) return { kind: 'refused', reason: 'The refresh token is not valid.' } as const;
          if (token.spent_at !== null) {
            // Presented again after use: whoever holds it now may have stolen it. End the session.
            const ended = await tx`
              UPDATE sessions SET ended_at = ${at} WHERE id = ${token.session_id} AND ended_at IS NULL RETURNING id`;
            const change = ended.length === 1 ? await logChange(tx, at, token.user_id, null, token.session_id) : undefined;
            return { kind: 'reused', change } as const;
          }
          if (token.ended_at !== null) return { kind: 'refused', reason: 'The session has ended; log in again.' } as const;
          if (token.expires_at <= at) return { kind: 'refused', reason: 'The refresh token has expired; log in again.' } as const;
          const [row] = await tx<UserRow[]>`SELECT ${tx.unsafe(USER_COLUMNS)} FROM users WHERE id = ${token.user_id}`;
          if (!row) return { kind: 'refused', reason: 'The user no longer exists.' } as const;
          const user = toUser(row);
          if (user.disabled) return { kind: 'refused', reason: 'The account is disabled.' } as const;
          await tx`UPDATE refresh_tokens SET spent_at = ${at} WHERE hash = ${presented}`;
          await tx`
            INSERT INTO refresh_tokens (hash, session_id, expires_at) VALUES (${next.hash}, ${token.session_id}, ${next.expiresAt})`;
          return { kind: 'rotated', sessionId: token.session_id, user } as const;
        }),
      ),
    revoke: (sessionId, userId) =>
      guarded(() =>
        sql.begin(async (tx) => {
          const at = now();
          const ended = await tx`
            UPDATE sessions SET ended_at = ${at} WHERE id = ${sessionId} AND user_id = ${userId} AND ended_at IS NULL RETURNING id`;
          return ended.length === 1 ? logChange(tx, at, userId, null, sessionId) : undefined;
        }),
      ),
    readChanges: ({ after, since, limit }) =>
      guarded(async () => {
        const rows = await sql<AuthChangeRow[]>`
          SELECT id, at, user_id, gen, session_id FROM auth_changes
          WHERE id > ${after} AND at >= ${since ?? -1e300} ORDER BY id LIMIT ${limit}`;
        return rows.map(toAuthChange);
      }),
    prune: (before) =>
      guarded(async () => {
        await sql.begin(async (tx) => {
          await tx`DELETE FROM refresh_tokens WHERE expires_at < ${now()}`;
          await tx`DELETE FROM sessions s WHERE NOT EXISTS (SELECT 1 FROM refresh_tokens r WHERE r.session_id = s.id)`;
          await tx`DELETE FROM auth_changes WHERE at < ${before}`;
        });
      }),
  };
}
