import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { createFastify } from '../app.js';
import { createBrokerCore } from '../broker-core.js';
import { brokerPlugin } from '../http/broker-plugin.js';
import { createLogger } from '../logger.js';
import { type BrokerHooks, brokerHooks } from './broker-hooks.js';
import { type BrokerOptions, resolveOptions } from './broker-options.js';

export interface BrokerHandler extends BrokerHooks {
  /** A `node:http` request listener: call it for the requests Broker should answer. */
  readonly handle: (req: IncomingMessage, res: ServerResponse) => void;
  /** Ends streams, finishes Broker's requests and closes its store (the host closes its server). */
  close(): Promise<void>;
}

/**
 * Broker for a plain `node:http` server: `const broker = await createBrokerHandler(opts)`, then
 * route requests to `broker.handle(req, res)` (e.g. everything under /broker/, with `prefix`).
 */
export async function createBrokerHandler(
  options: BrokerOptions & { readonly prefix?: string } = {},
): Promise<BrokerHandler> {
  const { prefix, ...rest } = options;
  // The host's server listens, with its own TLS if any: \`tlsCert\`/\`tlsKey\` are refused.
  const { config, rules } = resolveOptions(rest, true);
  const log = createLogger(config.logLevel);
  const core = await createBrokerCore(config, log, { rules });
  let handler: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  // Fastify is only the router here: the host owns the listening server.
  const app = createFastify(config, log, (h) => {
    handler = h;
    return http.createServer();
  });
  await app.register(brokerPlugin, {
    prefix,
    deps: core.deps,
    origins: config.origin,
    bodyLimit: config.bodyLimit,
  });
  await app.ready();
  await core.start();
  const closed = new AbortController();
  const route = handler;
  if (!route) throw new Error('Fastify did not hand over its request handler');
  return {
    ...brokerHooks(core, closed.signal),
    handle: route,
    async close() {
      closed.abort();
      await core.stopStreaming();
      await app.close();
      await core.close();
    },
  };
}
