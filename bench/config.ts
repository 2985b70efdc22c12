/**
 * The suite's fixed parameters: `full` is what `npm run bench` runs and what the README's results
 * table records; `quick` is the CI smoke run. Change them only together with the README.
 */
export interface FanoutParams {
  /** Subscriber counts, one fresh server each. */
  sizes: number[];
  /** Messages published as fast as the server acknowledges. */
  burstMessages: number;
  /** Publisher connections in the burst (closed loop, one request in flight each). */
  burstConnections: number;
  /** Fixed publish rate (msg/s) per size, open loop. */
  ratePerSecond: Record<number, number>;
  rateSeconds: number;
  workers: number;
  timeoutMs: number;
}

export interface ConnectionsParams {
  /** Idle-CPU step: this many subscribers on a server with the default heartbeat interval… */
  idleSubscribers: number;
  /** …HEARTBEAT_INTERVAL (s) of that server; the idle window is one whole interval. */
  idleHeartbeatS: number;
  /**
   * Wait (s) between the last idle subscriber's connect and the idle window. V8's memory
   * reducer runs three full GCs (~100 ms of CPU) on one of its 8 s ticks after a burst of
   * allocation ends: seen with --trace-gc 21 s and, in another run, 29 s after the connects. A
   * cost of the connect burst, not of idling, so the window starts after them.
   */
  idleSettleS: number;
  /** Hold step: concurrent idle subscribers to hold, on a second server. */
  total: number;
  /** Subscribers connected before the RSS reference point (RSS per connection is the slope above it). */
  warmSubscribers: number;
  workers: number;
  /** Connections waiting for their response, at most, per worker. */
  connectConcurrency: number;
  /** HEARTBEAT_INTERVAL (s) of the hold server: frequent, so the window shows their cost. */
  heartbeatS: number;
  /** Idle window with all `total` subscribers. */
  idleWindowS: number;
  /** Pause after connecting before RSS and CPU are read. */
  settleS: number;
  /** Extra streams opened after `total`, to find the server's limit (stops at the first refusal). */
  extraStreams: number;
  timeoutMs: number;
}

export interface InsertsParams {
  concurrencies: number[];
  warmupS: number;
  durationS: number;
  timeoutMs: number;
}

export interface LatenessParams {
  events: number;
  /** The events fall due evenly over this window. */
  windowS: number;
  /** Time between the start of inserting and the first due time. */
  leadS: number;
  insertConnections: number;
  timeoutMs: number;
}

export interface LoginStormParams {
  logins: number;
  /** Distinct users the logins cycle through (creating a user costs a bcrypt hash). */
  users: number;
  subscribers: number;
  ratePerSecond: number;
  beforeS: number;
  afterS: number;
  /** Warm-up stream before the `before` window (not measured). */
  warmupS: number;
  /** The storm window lasts until every login is answered, and at least this long. */
  minStormS: number;
  /** The storm is cut off after this long. */
  maxStormS: number;
  workers: number;
  loginRateLimit: number;
  timeoutMs: number;
}

export interface MultinodeParams {
  /** Subscribers, all on node B. */
  subscribers: number;
  /** Fixed publish rate on node A (msg/s, open loop) and its duration. */
  ratePerSecond: number;
  rateSeconds: number;
  /** Then messages published on node A as fast as it acknowledges. */
  burstMessages: number;
  /** Publisher connections to node A (the rate phase uses them too). */
  publisherConnections: number;
  workers: number;
  timeoutMs: number;
}

export interface RulesParams {
  /** Streams on each Broker: half anonymous, half logged in as a user each. */
  subscribers: number;
  burstMessages: number;
  /** Bursts per Broker; the best counts. */
  bursts: number;
  /**
   * Brokers per configuration, launched alternately (without rules, with, without, with): the
   * best burst of either configuration over its Brokers counts. One pair, launched in a fixed
   * order, read 0.82–0.98 on one host over four runs of the same code; alternating two pairs
   * takes the machine's drift out of the ratio.
   */
  rounds: number;
  burstConnections: number;
  workers: number;
  timeoutMs: number;
}

export interface AuthParams {
  /** Distinct valid tokens presented in turn. */
  tokens: number;
  /** Users whose older tokens are revoked, and as many ended sessions, held in memory. */
  revoked: number;
  /** Checks timed. */
  iterations: number;
}

export interface RetentionParams {
  /** Versions of one name stored before the keep rule (keep 10) is switched on. */
  versions: number;
  /** Seconds the same Broker is watched idle first (the machine's own event-loop lag). */
  idleS: number;
  timeoutMs: number;
}

export interface DumpParams {
  /** Events in the database exported and imported (1 % of them pending). */
  events: number;
  users: number;
  /** Distinct event names (= latest rows). */
  names: number;
  timeoutMs: number;
}

export interface Http2Params {
  /** Subscribers on each of the three servers (HTTP/1.1 in clear, over TLS, HTTP/2 over TLS). */
  subscribers: number;
  /** HTTP/2 streams per connection: the EventSources of one page. */
  streamsPerSession: number;
  burstMessages: number;
  burstConnections: number;
  /** Fixed publish rate (msg/s, open loop) and its duration. */
  ratePerSecond: number;
  rateSeconds: number;
  workers: number;
  timeoutMs: number;
}

export interface BenchParams {
  mode: 'full' | 'quick';
  /** Before each run, wait at most this long for other processes to use < 15 % of a core (0: don't). */
  quietWaitS: number;
  fanout: FanoutParams;
  connections: ConnectionsParams;
  inserts: InsertsParams;
  lateness: LatenessParams;
  loginStorm: LoginStormParams;
  multinode: MultinodeParams;
  rules: RulesParams;
  auth: AuthParams;
  retention: RetentionParams;
  dump: DumpParams;
  http2: Http2Params;
}

const FULL: BenchParams = {
  mode: 'full',
  quietWaitS: 60,
  fanout: {
    sizes: [1000, 5000],
    burstMessages: 500,
    burstConnections: 8,
    ratePerSecond: { 1000: 50, 5000: 10 },
    rateSeconds: 10,
    workers: 2,
    timeoutMs: 300_000,
  },
  connections: {
    idleSubscribers: 1000,
    idleHeartbeatS: 15,
    idleSettleS: 40,
    total: 19_000,
    warmSubscribers: 1000,
    workers: 4,
    connectConcurrency: 64,
    heartbeatS: 1,
    idleWindowS: 10,
    settleS: 2,
    extraStreams: 1500,
    timeoutMs: 300_000,
  },
  inserts: { concurrencies: [1, 32], warmupS: 1, durationS: 10, timeoutMs: 300_000 },
  lateness: { events: 1000, windowS: 1, leadS: 3, insertConnections: 8, timeoutMs: 60_000 },
  loginStorm: {
    logins: 200,
    users: 20,
    subscribers: 1000,
    ratePerSecond: 10,
    warmupS: 1,
    beforeS: 3,
    afterS: 2,
    minStormS: 2,
    maxStormS: 60,
    workers: 2,
    loginRateLimit: 1_000_000,
    timeoutMs: 240_000,
  },
  multinode: {
    subscribers: 1000,
    ratePerSecond: 50,
    rateSeconds: 10,
    burstMessages: 500,
    publisherConnections: 8,
    workers: 2,
    timeoutMs: 240_000,
  },
  rules: { subscribers: 5000, burstMessages: 500, bursts: 2, rounds: 2, burstConnections: 8, workers: 2, timeoutMs: 600_000 },
  auth: { tokens: 1000, revoked: 10_000, iterations: 1_000_000 },
  retention: { versions: 100_000, idleS: 5, timeoutMs: 400_000 },
  dump: { events: 1_000_000, users: 1000, names: 1000, timeoutMs: 1_800_000 },
  http2: {
    subscribers: 5000,
    streamsPerSession: 10,
    burstMessages: 500,
    burstConnections: 8,
    ratePerSecond: 10,
    rateSeconds: 10,
    workers: 2,
    timeoutMs: 600_000,
  },
};

const QUICK: BenchParams = {
  mode: 'quick',
  quietWaitS: 0,
  fanout: {
    sizes: [200],
    burstMessages: 200,
    burstConnections: 4,
    ratePerSecond: { 200: 50 },
    rateSeconds: 2,
    workers: 2,
    timeoutMs: 60_000,
  },
  connections: {
    idleSubscribers: 1000,
    idleHeartbeatS: 3,
    idleSettleS: 0.5,
    total: 1000,
    warmSubscribers: 200,
    workers: 2,
    connectConcurrency: 64,
    heartbeatS: 1,
    idleWindowS: 2,
    settleS: 0.5,
    extraStreams: 20,
    timeoutMs: 60_000,
  },
  inserts: { concurrencies: [1, 32], warmupS: 0.5, durationS: 1.5, timeoutMs: 120_000 },
  lateness: { events: 200, windowS: 1, leadS: 1.5, insertConnections: 4, timeoutMs: 30_000 },
  loginStorm: {
    logins: 40,
    users: 5,
    subscribers: 200,
    ratePerSecond: 10,
    warmupS: 0.5,
    beforeS: 1,
    afterS: 1,
    minStormS: 1,
    maxStormS: 20,
    workers: 1,
    loginRateLimit: 1_000_000,
    timeoutMs: 60_000,
  },
  multinode: {
    subscribers: 100,
    ratePerSecond: 20,
    rateSeconds: 2,
    burstMessages: 100,
    publisherConnections: 4,
    workers: 1,
    timeoutMs: 90_000,
  },
  rules: { subscribers: 200, burstMessages: 100, bursts: 1, rounds: 1, burstConnections: 4, workers: 1, timeoutMs: 90_000 },
  auth: { tokens: 100, revoked: 1000, iterations: 100_000 },
  retention: { versions: 2000, idleS: 2, timeoutMs: 90_000 },
  dump: { events: 20_000, users: 50, names: 100, timeoutMs: 120_000 },
  http2: {
    subscribers: 200,
    streamsPerSession: 10,
    burstMessages: 100,
    burstConnections: 4,
    ratePerSecond: 20,
    rateSeconds: 2,
    workers: 2,
    timeoutMs: 150_000,
  },
};

export function benchParams(quick: boolean): BenchParams {
  return quick ? QUICK : FULL;
}
