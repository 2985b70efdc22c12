import type { SparseHistogram } from './stats.js';

/** Number of latency phases a worker keeps apart (the `p` field of a payload). */
export const PHASES = 4;

/**
 * How a subscriber reaches the server: HTTP/1.1 on a raw socket (one connection per stream), the
 * same over TLS, or HTTP/2 over TLS with `streamsPerSession` streams on each connection.
 */
export type StreamProtocol = 'http1' | 'http1-tls' | 'h2';

export interface ConnectSpec {
  host: string;
  port: number;
  /** Default: 'http1'. */
  protocol?: StreamProtocol;
  /** HTTP/2 only: streams opened on each connection (the last connection of a worker may hold fewer). */
  streamsPerSession?: number;
  /** Request path, e.g. `/events?event=fan_x`. */
  path: string;
  /**
   * Per connection instead of `path`: the i-th connection of this worker sends requests[i]
   * (its path and extra header lines, e.g. a token). Its length must be `count`.
   */
  requests?: { path: string; headers: string }[];
  count: number;
  /** Connections opened but not yet answered, at most. */
  concurrency: number;
  /** Source address for the client side of each connection (`null`: let the kernel pick). */
  localAddress: string | null;
  /** Highest message counter `n` + 1 that a subscriber can receive (sizes its bitmap). */
  capacity: number;
  /** A connection not answered within this time counts as failed. */
  headTimeoutMs: number;
  totalTimeoutMs: number;
}

export interface ConnectResult {
  ok: number;
  failed: number;
  /** Outcome counts: HTTP status or error code (`ECONNRESET`, `timeout`, …). */
  outcomes: Record<string, number>;
  durationMs: number;
  /** Start of the first non-200 response, for the report. */
  sample: string | null;
}

export interface Progress {
  /** Messages counted once per subscriber (first copy of each `n`). */
  received: number;
  /** Clock time of the last counted message. */
  lastRecvAt: number;
  /** Streams currently open (answered 200 and not closed). */
  open: number;
  heartbeats: number;
  /** Streams closed by the server side while the worker was not closing. */
  dropped: number;
}

export interface WorkerReport extends Progress {
  duplicates: number;
  /** `n` outside [0, expected). */
  unexpected: number;
  /** Frames without an `n` field (snapshot frames of other names etc.). */
  foreign: number;
  /** Frames whose `id` was not greater than the previous one on that stream. */
  outOfOrder: number;
  /** Sum over subscribers of messages in [0, expected) never received. */
  missing: number;
  subscribersWithMissing: number;
  subscribers: number;
  /** Messages received earlier than their `t` by more than 1 ms (release lateness). */
  early: number;
  /** Smallest receive − t seen, in ms (negative: before its time). */
  minLatencyMs: number;
  histograms: SparseHistogram[];
  cpuUserUs: number;
  cpuSystemUs: number;
}

export type ParentMessage =
  | { type: 'connect'; seq: number; spec: ConnectSpec }
  | { type: 'report'; seq: number; expected: number }
  | { type: 'close'; seq: number };

export type WorkerMessage =
  | { type: 'ready' }
  | { type: 'progress'; progress: Progress }
  | { type: 'connected'; seq: number; result: ConnectResult }
  | { type: 'report'; seq: number; report: WorkerReport }
  | { type: 'closed'; seq: number };

function hasType(x: unknown): x is { type: unknown } {
  return typeof x === 'object' && x !== null && 'type' in x;
}

export function isParentMessage(x: unknown): x is ParentMessage {
  return hasType(x) && (x.type === 'connect' || x.type === 'report' || x.type === 'close');
}

export function isWorkerMessage(x: unknown): x is WorkerMessage {
  return (
    hasType(x) &&
    (x.type === 'ready' || x.type === 'progress' || x.type === 'connected' || x.type === 'report' || x.type === 'closed')
  );
}
