/**
 * A refusal of a backup, restore, export or import, in words for the operator. `badInput`: the
 * file given is at fault (not a Broker database, a malformed record: exit status 2); otherwise
 * the database or its state is (in use, not empty, unreachable: exit status 1).
 */
export class DataMoveError extends Error {
  constructor(
    message: string,
    readonly badInput: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'DataMoveError';
  }

  /** A record of an import file that cannot be loaded, named by its line (1-based). */
  static atLine(line: number, message: string, options?: { cause?: unknown }): DataMoveError {
    return new DataMoveError(`line ${line}: ${message}`, true, options);
  }
}
