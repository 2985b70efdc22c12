import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { AccessPolicy } from './access/access-policy.js';
import { loadRules } from './access/load-rules.js';
import type { Rules } from './access/rules.js';
import { AuthChangeFeed } from './auth/auth-change-feed.js';
import { Authenticator } from './auth/authenticator.js';
import { LoginThrottle } from './auth/login-throttle.js';
import { PasswordHasher } from './auth/password-hasher.js';
import { Revocations } from './auth/revocations.js';
import { SessionService } from './auth/session-service.js';
import { TokenService } from './auth/token-service.js';
import { UserService } from './auth/user-service.js';
import { ensureSecret } from './config/ensure-secret.js';
import type { Config } from './config/settings.js';
import { EventService } from './events/event-service.js';
import type { Fanout } from './fanout/fanout.js';
import { MemoryFanout } from './fanout/memory-fanout.js';
import { PostgresFanout } from './fanout/postgres-fanout.js';
import type { BrokerDeps } from './http/broker-deps.js';
import { StreamQuota } from './http/stream-quota.js';
import { Hub } from './hub/hub.js';
import { openFileLimit } from './lib/open-file-limit.js';
import { Metrics } from './metrics/metrics.js';
import { Pruner } from './retention/pruner.js';
import { ClusterWaker } from './scheduler/cluster-waker.js';
import { ReleaseScheduler } from './scheduler/release-scheduler.js';
import { openPostgresStore, openStore } from './store/open-store.js';
import type { AuthChange, Store } from './store/store.js';

/** Rows per store read (catch-up pages, live reads, release batches). */
const PAGE_SIZE = 500;
/** Versions one retention call removes at most (one short transaction each). */
const PRUNE_BATCH = 500;
/** Descriptors kept free for the database, logs and ordinary requests when streams are capped. */
const RESERVED_FILES = 500;

/**
 * Everything of a Broker but the HTTP server: store, fan-out, scheduler, hub and services.
 * The standalone server (app.ts) and the library's mount points share it.
 */
export interface BrokerCore {
  readonly deps: BrokerDeps;
  readonly store: Store;
  readonly log: Logger;
  /** Reads the release position and recent revocations, releases what fell due while down, arms the timer. */
  start(): Promise<void>;
  /**
   * Reads the RULES file again (SIGHUP). Throws RulesError, keeping the rules in effect, when the
   * new file is invalid; returns what it did.
   */
  reloadRules(): string;
  /** Refuses new streams, ends open ones, stops releasing. Requests in flight still finish. */
  stopStreaming(): Promise<void>;
  /** Closes the fan-out and the store (after the HTTP server has finished its requests). */
  close(): Promise<void>;
}

/** Extra seconds revocations are remembered past the token lifetime: clocks of nodes differ. */
const REVOCATION_MARGIN_S = 300;
/**
 * Milliseconds between reads of the auth change log. SQLite: changes made by another process
 * (the CLI) arrive within this. PostgreSQL: a NOTIFY brings them at once (and a reconnected
 * listener reads the log), so the poll is only a safety net and stays off the database's back.
 */
const AUTH_POLL_MS = { sqlite: 500, postgres: 5000 } as const;
/** Milliseconds between prunes of expired refresh tokens, dead sessions, old log entries and expired idempotency keys. */
const SESSION_PRUNE_MS = 3600_000;

export interface CoreOverrides {
  /** Rules given by a host program instead of the RULES file. */
  readonly rules?: Rules;
}

/** The composition root: the one place that names concrete classes. */
export async function createBrokerCore(config: Config, log: Logger, overrides: CoreOverrides = {}): Promise<BrokerCore> {
  // Rules first: an invalid file stops start-up before the database is touched.
  const access = new AccessPolicy(overrides.rules ?? loadRules(config.rules));
  const { store, fanout, secret } = await openBackend(config, log);
  const metrics = new Metrics({ defaultMetrics: true });
  metrics.watchStorage({ stats: () => store.stats(), full: () => store.storageFull() });
  const hub = new Hub(
    store.events,
    access,
    {
      sendBufferLimit: config.sendBufferLimit,
      heartbeatMs: config.heartbeatInterval * 1000,
      retryMs: config.retry,
      pageSize: PAGE_SIZE,
    },
    metrics,
    log,
  );
  fanout.onReleased((upTo) => hub.released(upTo));
  const scheduler = new ReleaseScheduler(store.events, fanout, metrics, log, PAGE_SIZE);
  scheduler.onRelease((released) => hub.offer(released));
  const pruner = new Pruner(
    store.retention,
    access,
    { intervalMs: config.pruneInterval * 1000, batch: PRUNE_BATCH, page: PAGE_SIZE },
    metrics,
    log,
  );
  scheduler.onRelease((released) => pruner.released(released));
  store.events.onAppendRelease((released) => scheduler.announce(released));
  const waker = new ClusterWaker(scheduler, fanout, log);

  const tokens = new TokenService(secret, config.expiry);
  const revocations = new Revocations(config.expiry + REVOCATION_MARGIN_S);
  // Every auth change — made here, on another node or by the CLI — refuses the tokens it revokes
  // and ends their streams.
  const revoked = (change: AuthChange): void => {
    revocations.apply(change);
    hub.revoke(change);
  };
  const feed = new AuthChangeFeed(
    store.sessions,
    revoked,
    { pollMs: AUTH_POLL_MS[config.databaseUrl.kind], windowSeconds: revocations.windowSeconds, pageSize: PAGE_SIZE },
    log,
  );
  fanout.onAuthChange(() => feed.nudge());
  let sessionSweeper: NodeJS.Timeout | undefined;
  const sweepSessions = (): void => {
    revocations.sweep();
    store.sessions
      .prune(Date.now() / 1000 - revocations.windowSeconds)
      .catch((error: unknown) => log.warn({ err: error }, 'pruning expired sessions failed'));
    store.events
      .pruneIdempotencyKeys(Date.now() / 1000)
      .catch((error: unknown) => log.warn({ err: error }, 'pruning expired idempotency keys failed'));
  };

  const hasher = new PasswordHasher(config.bcryptCost);
  let closing = false;
  const deps: BrokerDeps = {
    users: new UserService(store.users, hasher, config.passwordMinLength, revoked),
    sessions: new SessionService(store.users, store.sessions, hasher, tokens, config.refreshExpiry, revoked),
    events: new EventService(
      store.events,
      access,
      waker,
      { batchMax: config.insertBatchMax, idempotencyTtl: config.idempotencyTtl },
      (count) => metrics.inserts.inc(count),
    ),
    auth: new Authenticator(tokens, revocations),
    access,
    hub,
    metrics,
    throttle: new LoginThrottle(config.loginRateLimit),
    quota: new StreamQuota(config.maxStreamsPerUser, config.maxStreamsPerIp),
    ping: () => store.ping(),
    storageFull: () => store.storageFull(),
    closing: () => closing,
    streamAuth: config.streamAuth,
    maxSubscribers: config.maxSubscribers || Math.max(100, (openFileLimit() ?? 10_500) - RESERVED_FILES),
  };

  return {
    deps,
    store,
    log,
    async start() {
      await feed.start();
      sessionSweeper = setInterval(sweepSessions, SESSION_PRUNE_MS);
      sessionSweeper.unref();
      sweepSessions();
      await hub.start();
      await scheduler.start();
      pruner.start();
    },
    reloadRules() {
      if (config.rules === undefined) return 'no RULES file is configured: nothing to reload';
      access.replace(loadRules(config.rules));
      pruner.rulesChanged();
      return `reloaded ${access.rules.rules.length} rules from ${config.rules}`;
    },
    async stopStreaming() {
      closing = true;
      hub.close();
      if (sessionSweeper) clearInterval(sessionSweeper);
      await pruner.stop();
      await feed.stop();
      await scheduler.stop();
    },
    async close() {
      await fanout.close();
      await store.close();
    },
  };
}

/**
 * The database URL picks the store and the fan-out together, so no mismatched pair can be
 * configured: SQLite has one writer and fans out in memory; PostgreSQL fans out by NOTIFY.
 */
async function openBackend(
  config: Config,
  log: Logger,
): Promise<{ store: Store; fanout: Fanout; secret: string }> {
  const db = config.databaseUrl;
  if (db.kind === 'postgres') {
    const store = await openPostgresStore(db.url);
    try {
      const fanout = await PostgresFanout.open(store.sql, store.notifications, log);
      let secret = config.secret;
      if (secret === undefined) {
        const shared = await store.sharedSecret();
        if (shared.generated) log.warn('SECRET is not set: generated one and stored it in the database for every node; set SECRET to use your own');
        secret = shared.secret;
      }
      warnIfWeak(config.secret, log);
      return { store, fanout, secret };
    } catch (error) {
      await store.close();
      throw error;
    }
  }
  const dataDir = db.path === ':memory:' ? './tmp' : dirname(db.path);
  const secret = ensureSecret(config.secret, dataDir);
  if (secret.source === 'generated') {
    log.warn({ path: secret.path }, 'SECRET is not set: generated one and stored it (mode 0600); set SECRET to use your own');
  }
  warnIfWeak(config.secret, log);
  return { store: await openStore(config), fanout: new MemoryFanout(), secret: secret.secret };
}

function warnIfWeak(secret: string | undefined, log: Logger): void {
  if (secret !== undefined && secret.length < 32) {
    log.warn('SECRET is shorter than 32 characters; HS256 wants at least 256 bits of key');
  }
}
