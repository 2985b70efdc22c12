import type { DatabaseUrl } from '../config/parsers.js';
import type { DumpReader, DumpWriter } from './dump.js';
import { PostgresDumpReader, PostgresDumpWriter } from './postgres/postgres-dump.js';
import { SqliteDumpReader, SqliteDumpWriter } from './sqlite/sqlite-dump.js';

// The composition root of `broker export` and `broker import`, as broker-core.ts is the
// server's: the one place that picks a dump backend by the database URL.

/** The reader of the database at `url` (which must exist and hold Broker's schema). */
export async function openDumpReader(url: DatabaseUrl): Promise<DumpReader> {
  return url.kind === 'postgres' ? PostgresDumpReader.open(url.url) : SqliteDumpReader.open(url.path);
}

/** The writer into the database at `url`, created if need be; refuses one that is not empty. */
export async function openDumpWriter(url: DatabaseUrl): Promise<DumpWriter> {
  return url.kind === 'postgres' ? PostgresDumpWriter.open(url.url) : SqliteDumpWriter.open(url.path);
}
