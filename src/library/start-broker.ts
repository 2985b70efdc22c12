import type { AddressInfo } from 'node:net';
import { createBroker } from '../app.js';
import { createLogger } from '../logger.js';
import { type BrokerHooks, brokerHooks } from './broker-hooks.js';
import { type BrokerOptions, resolveOptions } from './broker-options.js';

export interface BrokerHandle extends BrokerHooks {
  /** e.g. http://127.0.0.1:8080, or https://… with `tlsCert` and `tlsKey` (HTTP/2 and HTTP/1.1). */
  readonly url: string;
  readonly address: { readonly host: string; readonly port: number };
  /** Graceful shutdown, as on SIGTERM: streams end, in-flight requests finish, the store closes. */
  close(): Promise<void>;
}

/**
 * Starts a complete Broker in this process and resolves once it listens. The simplest call,
 * `startBroker('http://localhost:3000')`, is the original's `broker_run(origin)`: that origin,
 * everything else from the environment or the defaults. Rejects with BrokerConfigError (listing
 * every problem) on invalid options. Unlike `broker` the command, it installs no signal handlers:
 * the host decides when to call close().
 */
export async function startBroker(options: BrokerOptions | string = {}): Promise<BrokerHandle> {
  const { config, rules } = resolveOptions(options);
  const log = createLogger(config.logLevel);
  const broker = await createBroker(config, log, { rules });
  await broker.listen();
  const info = broker.app.server.address() as AddressInfo;
  const host = info.family === 'IPv6' ? `[${info.address}]` : info.address;
  const closed = new AbortController();
  return {
    ...brokerHooks(broker.core, closed.signal),
    url: `${broker.certificate ? 'https' : 'http'}://${host === '0.0.0.0' || host === '[::]' ? 'localhost' : host}:${info.port}`,
    address: { host: info.address, port: info.port },
    async close() {
      closed.abort();
      await broker.close();
    },
  };
}
