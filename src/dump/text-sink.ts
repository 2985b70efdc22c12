import { type FileHandle, open, rm } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { replaceDurably, tempPathBeside } from '../lib/durable-file.js';

/** Where an export goes, a piece of text at a time; `write` settles when more may be written. */
export interface TextSink {
  write(text: string): Promise<void>;
}

/**
 * Writes to a stream (stdout), waiting for 'drain' whenever the stream's buffer is full: the
 * export reads no faster than the reader of the pipe, so memory stays bounded.
 */
export function streamSink(stream: Writable): TextSink {
  return {
    write: (text) =>
      new Promise<void>((resolve, reject) => {
        if (stream.write(text)) {
          resolve();
          return;
        }
        const done = (error?: Error): void => {
          stream.off('drain', onDrain);
          stream.off('error', onError);
          stream.off('close', onClose);
          if (error) reject(error);
          else resolve();
        };
        const onDrain = (): void => done();
        const onError = (error: Error): void => done(error);
        const onClose = (): void => done(new Error('the output was closed before the export was complete'));
        stream.on('drain', onDrain);
        stream.on('error', onError);
        stream.on('close', onClose);
      }),
  };
}

/**
 * A file written under a temporary name beside its target and put in place only once complete
 * and on disk (`commit`): an interrupted export never leaves a partial file behind a real name.
 */
export class AtomicFileSink implements TextSink {
  private constructor(
    private readonly handle: FileHandle,
    private readonly temp: string,
    private readonly target: string,
  ) {}

  static async open(target: string): Promise<AtomicFileSink> {
    const temp = tempPathBeside(target, 'export');
    return new AtomicFileSink(await open(temp, 'wx', 0o600), temp, target);
  }

  async write(text: string): Promise<void> {
    const bytes = Buffer.from(text, 'utf8');
    for (let offset = 0; offset < bytes.length; ) {
      const { bytesWritten } = await this.handle.write(bytes, offset);
      offset += bytesWritten;
    }
  }

  /** Syncs the file and renames it over the target. */
  async commit(): Promise<void> {
    await this.handle.close();
    replaceDurably(this.temp, this.target);
  }

  /** Removes the temporary file (after a failure). */
  async abort(): Promise<void> {
    await this.handle.close().catch(() => {});
    await rm(this.temp, { force: true });
  }
}
