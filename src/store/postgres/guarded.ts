import { AppError } from '../../errors/app-error.js';

/** Errors meaning "the database is not reachable right now", answered 503 rather than 500. */
const UNAVAILABLE = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'CONNECT_TIMEOUT',
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '53300', // too_many_connections
  '3D000', // database does not exist (dropped under us)
]);

/** Whether an error (as postgres.js throws it) means the database is unreachable or the connection lost. */
export function isUnavailable(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && UNAVAILABLE.has(code);
}

/** Runs a query, turning "the database is unreachable" into a 503 AppError. */
export async function guarded<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (isUnavailable(error)) {
      throw new AppError('unavailable', 'The database is unavailable; try again.', { cause: error });
    }
    throw error;
  }
}
