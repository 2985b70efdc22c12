import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { COMMAND_SUMMARIES } from '../config/help-text.js';
import type { DumpCounts } from '../dump/dump-format.js';
import { exportDump } from '../dump/export-dump.js';
import { AtomicFileSink, streamSink } from '../dump/text-sink.js';
import type { DumpReader } from '../store/dump.js';
import { openDumpReader } from '../store/open-dump.js';
import { CliError, EXIT } from './cli-io.js';
import { type Command, parseCommand, SETTINGS_HELP } from './command.js';
import { toDataCliError } from './data-command.js';

const HELP = `Usage: broker export [--out FILE] [options]

Writes everything in the database of DATABASE_URL (SQLite or PostgreSQL) as one consistent
snapshot, while Broker may run: users (with password hashes, roles, disabled, token generation),
every event version (released, pending and cancelled), the latest value of each name, sessions
and refresh-token hashes, the auth change log, and the release position. The format is NDJSON
(docs/operations.md): deterministic, the same bytes from either backend for the same data.
Load it into an empty database of either backend with \`broker import\`.
Not exported: the signing key (SECRET): give the new nodes the same one.

Options:
  -o, --out FILE   write to FILE (under a temporary name, renamed when complete) instead of stdout

Examples:
  npx broker export --out broker.ndjson
  npx broker export | DATABASE_URL=postgres://broker@db/broker npx broker import -

A summary goes to stderr. ${SETTINGS_HELP}
Exit status: 0 done, 1 failed (no database, unreachable, disk full), 2 bad usage.
`;

/** "3 users, 1000 events, …" */
export function describeCounts(c: DumpCounts): string {
  return (
    `${c.user} users, ${c.event} events, ${c.latest} latest rows, ${c.session} sessions, ` +
    `${c.refresh_token} refresh tokens, ${c.auth_change} auth changes`
  );
}

/** `broker export [--out FILE]`: the whole database as an export file. */
export const exportCommand: Command = {
  name: 'export',
  summary: COMMAND_SUMMARIES.export,
  async run(argv, io) {
    const args = parseCommand(argv, io, { out: { type: 'string', short: 'o' } }, HELP);
    if (!args) return EXIT.ok;
    if (args.positionals.length > 0) throw new CliError(`unexpected argument "${args.positionals[0]}" (the file goes after --out)`, EXIT.usage);
    const out = typeof args.extra.out === 'string' && args.extra.out !== '-' ? args.extra.out : undefined;
    if (args.extra.out === '') throw new CliError('--out needs a file name', EXIT.usage);
    if (out !== undefined && !existsSync(dirname(resolve(out)))) throw new CliError(`the directory ${dirname(resolve(out))} does not exist`, EXIT.usage);
    const db = args.config.databaseUrl;
    if (db.kind === 'sqlite' && db.path === ':memory:') throw new CliError('an in-memory database has nothing to export', EXIT.usage);
    let reader: DumpReader | undefined;
    let file: AtomicFileSink | undefined;
    try {
      reader = await openDumpReader(db);
      file = out === undefined ? undefined : await AtomicFileSink.open(out);
      const done = await exportDump(reader, file ?? streamSink(io.stdout));
      await file?.commit();
      file = undefined;
      io.stderr.write(`broker: exported ${describeCounts(done.counts)}; release position ${done.releaseSeq}\n`);
      return EXIT.ok;
    } catch (error) {
      throw toDataCliError(error);
    } finally {
      await file?.abort();
      await reader?.close();
    }
  },
};
