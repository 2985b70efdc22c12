/**
 * `broker/client`: the Broker client for browsers and Node.js 20 (no dependencies).
 *
 * ```ts
 * import { BrokerClient } from 'broker/client';
 * const broker = new BrokerClient({ url: 'http://localhost:8080' });
 * await broker.login({ username: 'ada', password: 'correct horse' }); // keeps and renews the session
 * await broker.insert({ event: 'user', data: { name: 'Rusty' } });
 * const sub = broker.subscribe({ events: ['user'], onEvent: (e) => console.log(e.id, e.data) });
 * ```
 */
export { BrokerClient, toEpochSeconds } from './broker-client.js';
export type {
  BrokerClientOptions,
  Credentials,
  HistoryOptions,
  HistoryPage,
  InsertOptions,
  NewEvent,
  NewUser,
  UserListOptions,
  UserPage,
} from './broker-client.js';
export { BrokerError } from './errors.js';
export { readSession, type Session } from './session.js';
export type { RefreshLock } from './session-keeper.js';
export { reconnectDelay, type BackoffOptions } from './backoff.js';
export { SseParser, type SseMessage, type SseParserHandlers } from './sse-parser.js';
export type {
  BrokerEvent,
  ConnectionState,
  ConnectionStatus,
  EventSourceConstructor,
  Profile,
  StreamEvent,
  SubscribeOptions,
  Subscription,
  UserAccount,
  UserPatch,
} from './types.js';
