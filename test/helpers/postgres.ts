import { randomBytes } from 'node:crypto';
import postgres from 'postgres';

/**
 * PostgreSQL suites run when TEST_DATABASE_URL names a server where we may create databases
 * (e.g. postgres://postgres@127.0.0.1:5432/postgres). Without it they are skipped, saying so;
 * with BROKER_REQUIRE_POSTGRES=1 (CI) a missing URL is a failure, not a skip.
 */
export const testDatabaseUrl = process.env.TEST_DATABASE_URL;

export function postgresSkip(): string | false {
  if (testDatabaseUrl) return false;
  if (process.env.BROKER_REQUIRE_POSTGRES === '1') {
    throw new Error('BROKER_REQUIRE_POSTGRES=1 but TEST_DATABASE_URL is not set');
  }
  return 'PostgreSQL suites skipped: set TEST_DATABASE_URL=postgres://… to run them';
}

export interface TestDatabase {
  readonly url: string;
  readonly name: string;
  drop(): Promise<void>;
}

/** A throwaway database on the test server, dropped (with its connections) by drop(). */
export async function createTestDatabase(): Promise<TestDatabase> {
  if (!testDatabaseUrl) throw new Error('TEST_DATABASE_URL is not set');
  const name = `broker_test_${randomBytes(6).toString('hex')}`;
  const admin = postgres(testDatabaseUrl, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end({ timeout: 5 });
  }
  const url = new URL(testDatabaseUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    async drop() {
      const sql = postgres(testDatabaseUrl, { max: 1, onnotice: () => {} });
      try {
        await sql.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await sql.end({ timeout: 5 });
      }
    },
  };
}
