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

/** Runs a query, turning "the database is unreachable" into a 503 AppError. */
export async function guarded<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string' && UNAVAILABLE.has(code)) {
      throw new AppError('unavailable', 'The database is unavailable; try again.', { cause: error });
    }
    throw error;
  }
}
