import { createReadStream, existsSync, statSync } from 'node:fs';
import { COMMAND_SUMMARIES } from '../config/help-text.js';
import { importDump } from '../dump/import-dump.js';
import type { DumpWriter } from '../store/dump.js';
import { openDumpWriter } from '../store/open-dump.js';
import { CliError, EXIT } from './cli-io.js';
import { type Command, parseCommand, SETTINGS_HELP } from './command.js';
import { onePositional, toDataCliError } from './data-command.js';
import { describeCounts } from './export-command.js';

/** Longest line read, in bytes, at least: an event's data can be BODY_LIMIT bytes, escaped in a JSON string. */
const MIN_LINE_BYTES = 16 * 1024 * 1024;
/** Bytes read from the file at a time. */
const READ_CHUNK_BYTES = 64 * 1024;

const HELP = `Usage: broker import FILE|- [options]

Loads an export (\`broker export\`, from either backend) into the database of DATABASE_URL,
SQLite or PostgreSQL, which must be empty: no user, no event (a new SQLite path or a new
PostgreSQL database will do: the schema is created first). - reads stdin.

Every line is checked as it is read (record types, fields, numbers, the JSON text of data and
info, the order of the sections, the end record's counts); the first bad one stops the import
with its line number. All or nothing: on SQLite the data goes into a new file beside the
database, which takes its place only once complete; on PostgreSQL into one transaction. Stop
Broker first: refused while it runs on the database. Then start the nodes with the SECRET of
the old one (SECRET is not exported): tokens and refresh tokens keep working, pending events
are released on time and clients resume with their Last-Event-ID.

Examples:
  DATABASE_URL=postgres://broker@db/broker npx broker import broker.ndjson
  npx broker export | DATABASE_URL=sqlite:./other/broker.db npx broker import -

${SETTINGS_HELP}
Exit status: 0 done, 1 failed (the database is not empty, in use or unreachable),
2 bad usage or a malformed file (the message names the line).
`;

/** `broker import FILE|-`: an export loaded into an empty database. */
export const importCommand: Command = {
  name: 'import',
  summary: COMMAND_SUMMARIES.import,
  async run(argv, io) {
    const args = parseCommand(argv, io, {}, HELP);
    if (!args) return EXIT.ok;
    const file = onePositional(args.positionals, 'FILE (or - for stdin)');
    if (file !== '-' && !existsSync(file)) throw new CliError(`there is no file ${file}`, EXIT.usage);
    if (file !== '-' && !statSync(file).isFile()) throw new CliError(`${file} is not a file`, EXIT.usage);
    const db = args.config.databaseUrl;
    if (db.kind === 'sqlite' && db.path === ':memory:') throw new CliError('an in-memory database would be gone at exit', EXIT.usage);
    const maxLineBytes = Math.max(MIN_LINE_BYTES, 2 * args.config.bodyLimit + 64 * 1024);
    let writer: DumpWriter | undefined;
    try {
      // The database first: an import it refuses (in use, not empty) reads nothing.
      writer = await openDumpWriter(db);
      const source = file === '-' ? io.stdin : createReadStream(file, { highWaterMark: READ_CHUNK_BYTES });
      const done = await importDump(source, writer, maxLineBytes);
      io.stdout.write(`imported ${describeCounts(done.counts)}; release position ${done.releaseSeq}\n`);
      return EXIT.ok;
    } catch (error) {
      throw toDataCliError(error);
    } finally {
      await writer?.close();
    }
  },
};
