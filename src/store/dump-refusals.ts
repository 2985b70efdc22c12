import { DataMoveError } from './data-move-error.js';
import type { Seq } from './store.js';

/** Refuses a database that holds something; `others`: latest rows, sessions, tokens, log entries. */
export function throwIfNotEmpty(where: string, users: number, events: number, others: number): void {
  if (users === 0 && events === 0 && others === 0) return;
  const holds = users + events > 0 ? `${users} users and ${events} events` : 'sessions or auth log entries';
  throw new DataMoveError(
    `the database ${where} is not empty (it holds ${holds}): import needs an empty database (a new DATABASE_URL, or remove this one first)`,
    false,
  );
}

/** A `latest` row that does not point at a released version of its name with its timestamp. */
export function latestWithoutEvent(event: string, seq: Seq): DataMoveError {
  return new DataMoveError(
    `the latest row of ${JSON.stringify(event)} names seq ${seq}, which is not a released version of that name with this timestamp`,
    true,
  );
}

/** A refresh token whose session is not in the file. */
export function tokenWithoutSession(sessionId: string): DataMoveError {
  return new DataMoveError(`a refresh token of the session ${JSON.stringify(sessionId)}, which is not in the file`, true);
}
