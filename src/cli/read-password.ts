import { CliError, type CliIo, EXIT } from './cli-io.js';

/** Longest stdin read for a password, in bytes (a password is at most 72 bytes). */
const MAX_INPUT_BYTES = 4096;

/**
 * Reads a password from stdin, never from argv (where `ps` and shell history would show it):
 * the first line, without its line ending. On a terminal it asks for it without echoing.
 */
export async function readPassword(io: CliIo, prompt: string): Promise<string> {
  const stdin = io.stdin as CliIo['stdin'] & { setRawMode?: (on: boolean) => void };
  const tty = stdin.isTTY === true && typeof stdin.setRawMode === 'function';
  if (tty) {
    io.stderr.write(prompt);
    stdin.setRawMode?.(true);
  }
  try {
    const line = await firstLine(io, tty);
    if (tty) io.stderr.write('\n');
    if (line === undefined || line === '') {
      throw new CliError('expected the password on stdin (e.g. `printf %s "$PASSWORD" | broker …`)', EXIT.usage);
    }
    return line;
  } finally {
    if (tty) stdin.setRawMode?.(false);
  }
}

function firstLine(io: CliIo, tty: boolean): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    let text = '';
    let bytes = 0;
    const done = (value: string | undefined, error?: Error): void => {
      io.stdin.off('data', onData);
      io.stdin.off('end', onEnd);
      io.stdin.off('error', onError);
      io.stdin.pause();
      if (error) reject(error);
      else resolve(value);
    };
    const onData = (chunk: Buffer | string): void => {
      const s = typeof chunk === 'string' ? chunk : chunk.toString('utf8');
      bytes += Buffer.byteLength(s);
      // Ctrl-C on a raw terminal arrives as a character, not a signal.
      if (tty && s.includes('\u0003')) return done(undefined, new CliError('cancelled', EXIT.failed));
      text += s;
      const end = text.search(/\r?\n|\r/);
      if (end !== -1) return done(text.slice(0, end));
      if (bytes > MAX_INPUT_BYTES) done(undefined, new CliError('the password line on stdin is too long', EXIT.usage));
    };
    const onEnd = (): void => done(text === '' ? undefined : text);
    const onError = (error: Error): void => done(undefined, error);
    io.stdin.on('data', onData);
    io.stdin.on('end', onEnd);
    io.stdin.on('error', onError);
    io.stdin.resume();
  });
}
