/** Opens one SSE stream from the parent process and reports how the server answered it. */
import net from 'node:net';
import { HOST } from './api-client.js';

export interface ProbeResult {
  /** HTTP status as text, or the socket error code, `closed` or `timeout`. */
  outcome: string;
  /** Start of the response when it was not 200. */
  raw: string;
  /** The open socket when the stream was accepted (status 200), to be closed by the caller. */
  socket: net.Socket | null;
}

export function probeStream(port: number, path: string, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: HOST, port });
    let head = Buffer.alloc(0);
    let settled = false;
    const done = (outcome: string, raw: string, keep: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.removeAllListeners('data');
      if (!keep) socket.destroy();
      else socket.on('data', () => {});
      resolve({ outcome, raw, socket: keep ? socket : null });
    };
    const timer = setTimeout(() => done('timeout', '', false), timeoutMs);
    socket.on('connect', () => socket.write(`GET ${path} HTTP/1.1\r\nHost: ${HOST}:${port}\r\nAccept: text/event-stream\r\n\r\n`));
    socket.on('data', (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      const status = head.toString('latin1', 9, 12);
      if (status === '200') {
        done(status, '', true);
        return;
      }
      // give a short moment for the body of an error response
      setTimeout(() => done(status, head.toString('utf8').slice(0, 600), false), 50);
    });
    const statusSoFar = (fallback: string): string =>
      head.indexOf('\r\n') > 0 && head.toString('latin1', 0, 5) === 'HTTP/' ? head.toString('latin1', 9, 12) : fallback;
    socket.on('error', (err: NodeJS.ErrnoException) => done(statusSoFar(err.code ?? 'error'), head.toString('utf8').slice(0, 600), false));
    socket.on('close', () => done(statusSoFar('closed'), head.toString('utf8').slice(0, 600), false));
  });
}
