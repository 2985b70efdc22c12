/**
 * `broker/react`: React bindings for the Broker client (React 18 or later, a peer dependency).
 *
 * ```tsx
 * const client = new BrokerClient();
 * <BrokerProvider client={client}><Cart /></BrokerProvider>
 * function Cart() { const cart = useBrokerEvent<{ items: string[] }>('cart'); … }
 * ```
 */
import { createContext, createElement, type ReactNode, useCallback, useContext, useSyncExternalStore } from 'react';
import type { BrokerClient } from '../client/broker-client.js';
import type { ConnectionStatus } from '../client/types.js';
import { SharedStream } from './shared-stream.js';

export { SharedStream } from './shared-stream.js';

interface BrokerContextValue {
  readonly client: BrokerClient;
  readonly stream: SharedStream;
}

const BrokerContext = createContext<BrokerContextValue | null>(null);

/** One shared stream per client, however many providers and hooks use it. */
const streams = new WeakMap<BrokerClient, Map<string, SharedStream>>();

function sharedStream(client: BrokerClient, auth: boolean | 'auto'): SharedStream {
  let byAuth = streams.get(client);
  if (!byAuth) streams.set(client, (byAuth = new Map()));
  const key = String(auth);
  let stream = byAuth.get(key);
  if (!stream) byAuth.set(key, (stream = new SharedStream(client, auth)));
  return stream;
}

export interface BrokerProviderProps {
  readonly client: BrokerClient;
  /** Send the token on the stream: see SubscribeOptions.auth (default `'auto'`). */
  readonly auth?: boolean | 'auto';
  readonly children?: ReactNode;
}

/** Makes `client` the Broker of the hooks below it. */
export function BrokerProvider({ client, auth = 'auto', children }: BrokerProviderProps): ReactNode {
  const value: BrokerContextValue = { client, stream: sharedStream(client, auth) };
  return createElement(BrokerContext.Provider, { value }, children);
}

function useBroker(hook: string): BrokerContextValue {
  const value = useContext(BrokerContext);
  if (!value) throw new Error(`${hook} must be used inside <BrokerProvider client={…}>`);
  return value;
}

/** The client of the nearest BrokerProvider. */
export function useBrokerClient(): BrokerClient {
  return useBroker('useBrokerClient').client;
}

/**
 * The latest data of the event `name` (undefined until there is one), re-rendering when it
 * changes. Every hook of a page shares one connection.
 */
export function useBrokerEvent<T = unknown>(name: string): T | undefined {
  const { stream } = useBroker('useBrokerEvent');
  const subscribe = useCallback((onChange: () => void) => stream.watch(name, onChange), [stream, name]);
  const get = useCallback(() => stream.value(name) as T | undefined, [stream, name]);
  return useSyncExternalStore(subscribe, get, () => undefined);
}

/** The shared connection's status (`closed` while no hook watches an event). */
export function useBrokerStatus(): ConnectionStatus {
  const { stream } = useBroker('useBrokerStatus');
  const subscribe = useCallback((onChange: () => void) => stream.watchStatus(onChange), [stream]);
  return useSyncExternalStore(subscribe, () => stream.status, () => stream.status);
}
