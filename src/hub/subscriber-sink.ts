/** Where a subscriber's bytes go: the SSE writer on a socket, or a test double. */
export interface SubscriberSink {
  /** Queues bytes; false when the socket buffer is above its high-water mark. */
  write(chunk: Buffer): boolean;
  /** Bytes queued and not yet handed to the kernel. */
  readonly bufferedBytes: number;
  readonly closed: boolean;
  /** Resolves when the buffer drained or the sink closed. */
  waitDrain(): Promise<void>;
  /** Ends the stream cleanly (server shutdown). */
  end(): void;
  /** Drops the connection at once (too slow, or an error). */
  destroy(): void;
  /** Called once when the connection closes for any reason. */
  onClose(listener: () => void): void;
}
