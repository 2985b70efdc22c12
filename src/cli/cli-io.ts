import type { Readable, Writable } from 'node:stream';

/** What a command reads and writes: the process's streams, or a test's. */
export interface CliIo {
  readonly stdin: Readable & { readonly isTTY?: boolean };
  readonly stdout: Writable;
  readonly stderr: Writable;
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** Exit statuses of every command. */
export const EXIT = {
  ok: 0,
  /** The command was valid but failed (database unreachable, no such user, …). */
  failed: 1,
  /** Bad usage: unknown command or flag, missing or invalid argument, invalid configuration. */
  usage: 2,
} as const;

/** A failure to report in one line on stderr, with its exit status (never a stack trace). */
export class CliError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = 'CliError';
  }
}
