import type { AccessPolicy } from '../access/access-policy.js';
import type { Authenticator } from '../auth/authenticator.js';
import type { LoginThrottle } from '../auth/login-throttle.js';
import type { SessionService } from '../auth/session-service.js';
import type { UserService } from '../auth/user-service.js';
import type { EventService } from '../events/event-service.js';
import type { Hub } from '../hub/hub.js';
import type { Metrics } from '../metrics/metrics.js';
import type { StreamQuota } from './stream-quota.js';

/** What the HTTP routes use; built by the composition root (src/broker-core.ts). */
export interface BrokerDeps {
  readonly users: UserService;
  readonly sessions: SessionService;
  readonly events: EventService;
  /** Token → caller, in memory (revocations included). */
  readonly auth: Authenticator;
  /** Who may read and write which names. */
  readonly access: AccessPolicy;
  readonly hub: Hub;
  readonly metrics: Metrics;
  readonly throttle: LoginThrottle;
  /** Streams per user and per client address. */
  readonly quota: StreamQuota;
  /** Resolves when the store answers; rejects otherwise. */
  readonly ping: () => Promise<void>;
  /** True while inserts fail for lack of space (until one succeeds again). */
  readonly storageFull: () => boolean;
  /** True once shutdown began: health turns 503 and new streams are refused. */
  readonly closing: () => boolean;
  readonly streamAuth: boolean;
  /** Most concurrent streams on this node. */
  readonly maxSubscribers: number;
}
