import { type ExtraOption, type ExtraValues, loadConfig } from '../config/load-config.js';
import type { Config } from '../config/settings.js';
import { AppError } from '../errors/app-error.js';
import { StorageOpenError } from '../store/storage-health.js';
import { CliError, type CliIo, EXIT } from './cli-io.js';

/** One subcommand of `broker`. */
export interface Command {
  readonly name: string;
  /** One line for `broker --help`. */
  readonly summary: string;
  /** Runs it; resolves with the exit status, or undefined while it keeps serving. */
  run(argv: readonly string[], io: CliIo): Promise<number | undefined>;
}

export interface ParsedArgs {
  readonly config: Config;
  readonly extra: ExtraValues;
  readonly positionals: readonly string[];
}

/**
 * The settings (flags and environment, as for the server) plus a command's own flags and
 * positionals. Prints `help` for --help (returns undefined); throws a usage CliError listing
 * every problem otherwise.
 */
export function parseCommand(
  argv: readonly string[],
  io: CliIo,
  options: Readonly<Record<string, ExtraOption>>,
  help: string,
): ParsedArgs | undefined {
  const loaded = loadConfig({ argv, env: io.env, options, positionals: true });
  if (loaded.kind === 'help') {
    io.stdout.write(help);
    return undefined;
  }
  if (loaded.kind === 'version') throw new CliError('--version is an option of broker itself (broker --version)', EXIT.usage);
  if (loaded.kind === 'invalid') {
    throw new CliError(`invalid configuration:\n${loaded.problems.map((p) => `  - ${p}`).join('\n')}`, EXIT.usage);
  }
  return { config: loaded.config, extra: loaded.extra ?? {}, positionals: loaded.positionals ?? [] };
}

/** An error of a command as a CliError: bad input is bad usage (2), anything else a failure (1). */
export function toCliError(error: unknown): CliError {
  if (error instanceof CliError) return error;
  if (error instanceof AppError) return new CliError(error.message, error.status === 400 ? EXIT.usage : EXIT.failed);
  // A database Broker cannot use (read-only, corrupt, newer schema) is a configuration problem.
  if (error instanceof StorageOpenError) return new CliError(error.message, EXIT.usage);
  return new CliError(error instanceof Error ? error.message : String(error), EXIT.failed);
}

/** The settings' part of every command's help. */
export const SETTINGS_HELP =
  'It also takes every setting of `broker --help` (e.g. --database-url), as flags or environment variables.';
