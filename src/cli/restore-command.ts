import { COMMAND_SUMMARIES } from '../config/help-text.js';
import { restoreSqlite } from '../store/sqlite/sqlite-restore.js';
import { EXIT } from './cli-io.js';
import { type Command, parseCommand, SETTINGS_HELP } from './command.js';
import { formatBytes, onePositional, sqlitePathFor, toDataCliError } from './data-command.js';

const HELP = `Usage: broker restore FILE [options]

Puts FILE (made by \`broker backup\`) in place of the SQLite database of DATABASE_URL; the
database need not exist yet. FILE is copied beside the database and checked there first (a
Broker database, a schema this Broker knows, SQLite's quick_check); then the copy is synced and
renamed over the database, and stale -wal/-shm files are removed: never a half-written database.
Refused while anything has the database open (a running Broker, \`broker users\`, the sqlite3
shell), which SQLite's file locks tell: stop Broker first, restore, start it again.

With a PostgreSQL DATABASE_URL use pg_restore instead (docs/operations.md).

Example:
  npx broker restore backups/broker-2026-11-28.db

${SETTINGS_HELP}
Exit status: 0 done, 1 failed (the database is in use, FILE has a newer schema than this
Broker knows), 2 bad usage (also: FILE missing or not a Broker database, a PostgreSQL DATABASE_URL).
`;

/** `broker restore FILE`: a backup back in place of the SQLite database, Broker stopped. */
export const restoreCommand: Command = {
  name: 'restore',
  summary: COMMAND_SUMMARIES.restore,
  async run(argv, io) {
    const args = parseCommand(argv, io, {}, HELP);
    if (!args) return EXIT.ok;
    const file = onePositional(args.positionals, 'FILE');
    const path = sqlitePathFor(args.config, 'restore');
    try {
      const done = restoreSqlite(file, path);
      io.stdout.write(`restored ${file} into ${path} (${formatBytes(done.bytes)}, schema version ${done.version})\n`);
      return EXIT.ok;
    } catch (error) {
      throw toDataCliError(error);
    }
  },
};
