import { createTestDatabase, postgresSkip } from './postgres.js';

/** A storage backend for end-to-end suites that must behave the same on each. */
export interface Backend {
  readonly name: string;
  /** Reason to skip, or false. */
  readonly skip: string | false;
  /** Environment overrides for a Broker on a fresh database of this backend, and its cleanup. */
  database(): Promise<{ readonly env: Record<string, string>; cleanup(): Promise<void> }>;
}

export const backends: readonly Backend[] = [
  { name: 'SQLite', skip: false, database: async () => ({ env: {}, cleanup: async () => {} }) },
  {
    name: 'PostgreSQL',
    skip: postgresSkip(),
    database: async () => {
      const db = await createTestDatabase();
      return { env: { DATABASE_URL: db.url }, cleanup: () => db.drop() };
    },
  },
];
