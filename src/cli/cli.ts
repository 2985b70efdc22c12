import { backupCommand } from './backup-command.js';
import { CliError, type CliIo, EXIT } from './cli-io.js';
import type { Command } from './command.js';
import { exportCommand } from './export-command.js';
import { importCommand } from './import-command.js';
import { restoreCommand } from './restore-command.js';
import { serveCommand } from './serve-command.js';
import { usersCommand } from './users-command.js';

/** Every subcommand of `broker`, by name. */
export const commands: readonly Command[] = [serveCommand, usersCommand, backupCommand, restoreCommand, exportCommand, importCommand];

/**
 * `broker [command] [options]`: no command (or options first) means `serve`. Resolves with the
 * exit status, or undefined while the server runs. Errors are one line on stderr, never a stack.
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number | undefined> {
  const [first, ...rest] = argv;
  const named = first !== undefined && !first.startsWith('-') ? commands.find((c) => c.name === first) : undefined;
  try {
    if (first !== undefined && !first.startsWith('-') && !named) {
      throw new CliError(`unknown command "${first}" (commands: ${commands.map((c) => c.name).join(', ')}; see broker --help)`, EXIT.usage);
    }
    return await (named ?? serveCommand).run(named ? rest : argv, io);
  } catch (error) {
    const e = error instanceof CliError ? error : new CliError(`fatal: ${error instanceof Error ? error.message : String(error)}`, EXIT.failed);
    io.stderr.write(`broker: ${e.message}\n`);
    return e.status;
  }
}
