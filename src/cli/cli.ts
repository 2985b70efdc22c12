import { CliError, type CliIo, EXIT } from './cli-io.js';
import type { Command } from './command.js';

/**
 * Every subcommand of `broker`, by name, loaded only when it runs: `broker users …` does not load
 * the HTTP server and everything behind it (about three times less start-up work).
 */
export const commands: Readonly<Record<string, () => Promise<Command>>> = {
  serve: async () => (await import('./serve-command.js')).serveCommand,
  users: async () => (await import('./users-command.js')).usersCommand,
  backup: async () => (await import('./backup-command.js')).backupCommand,
  restore: async () => (await import('./restore-command.js')).restoreCommand,
  export: async () => (await import('./export-command.js')).exportCommand,
  import: async () => (await import('./import-command.js')).importCommand,
};

/**
 * `broker [command] [options]`: no command (or options first) means `serve`. Resolves with the
 * exit status, or undefined while the server runs. Errors are one line on stderr, never a stack.
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number | undefined> {
  const [first, ...rest] = argv;
  const named = first !== undefined && !first.startsWith('-');
  try {
    const load = named ? commands[first] : commands.serve;
    if (!load || !Object.hasOwn(commands, named ? first : 'serve')) {
      throw new CliError(`unknown command "${first}" (commands: ${Object.keys(commands).join(', ')}; see broker --help)`, EXIT.usage);
    }
    return await (await load()).run(named ? rest : argv, io);
  } catch (error) {
    const e = error instanceof CliError ? error : new CliError(`fatal: ${error instanceof Error ? error.message : String(error)}`, EXIT.failed);
    io.stderr.write(`broker: ${e.message}\n`);
    return e.status;
  }
}
