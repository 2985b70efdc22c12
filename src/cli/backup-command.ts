import { COMMAND_SUMMARIES } from '../config/help-text.js';
import { backupSqlite } from '../store/sqlite/sqlite-backup.js';
import { EXIT } from './cli-io.js';
import { type Command, parseCommand, SETTINGS_HELP } from './command.js';
import { formatBytes, onePositional, sqlitePathFor, toDataCliError } from './data-command.js';

const HELP = `Usage: broker backup FILE [options]

Copies the SQLite database of DATABASE_URL to FILE while Broker runs and takes inserts, with
SQLite's online copy (VACUUM INTO): one consistent snapshot holding everything committed before the command
started. FILE is written under a temporary name beside it, synced to disk, then renamed: it is
never half-written, and an existing FILE is replaced. Put it back with \`broker restore FILE\`.
The signing key is not in the database: keep SECRET (or <data dir>/secret) as well.

With a PostgreSQL DATABASE_URL use pg_dump instead (docs/operations.md).

Example:
  npx broker backup backups/broker-$(date +%F).db

${SETTINGS_HELP}
Exit status: 0 done, 1 failed (no database there, not a Broker database, disk full),
2 bad usage (also: a PostgreSQL DATABASE_URL).
`;

/** `broker backup FILE`: an online, consistent copy of the SQLite database. */
export const backupCommand: Command = {
  name: 'backup',
  summary: COMMAND_SUMMARIES.backup,
  async run(argv, io) {
    const args = parseCommand(argv, io, {}, HELP);
    if (!args) return EXIT.ok;
    const file = onePositional(args.positionals, 'FILE');
    const path = sqlitePathFor(args.config, 'backup');
    try {
      const done = await backupSqlite(path, file);
      io.stdout.write(`backed up ${path} to ${file} (${formatBytes(done.bytes)})\n`);
      return EXIT.ok;
    } catch (error) {
      throw toDataCliError(error);
    }
  },
};
