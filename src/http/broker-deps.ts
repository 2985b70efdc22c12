import type { LoginThrottle } from '../auth/login-throttle.js';
import type { TokenService } from '../auth/token-service.js';
import type { UserService } from '../auth/user-service.js';
import type { EventService } from '../events/event-service.js';
import type { Hub } from '../hub/hub.js';
import type { Metrics } from '../metrics/metrics.js';

/** What the HTTP routes use; built by the composition root (src/app.ts). */
export interface BrokerDeps {
  readonly users: UserService;
  readonly events: EventService;
  readonly tokens: TokenService;
  readonly hub: Hub;
  readonly metrics: Metrics;
  readonly throttle: LoginThrottle;
  /** Resolves when the store answers; rejects otherwise. */
  readonly ping: () => Promise<void>;
  /** True once shutdown began: health turns 503 and new streams are refused. */
  readonly closing: () => boolean;
  readonly streamAuth: boolean;
  /** Most concurrent streams on this node. */
  readonly maxSubscribers: number;
}
