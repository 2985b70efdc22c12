import type { FastifyPluginAsync } from 'fastify';
import type { Logger } from 'pino';
import { type BrokerCore, createBrokerCore } from '../broker-core.js';
import { brokerPlugin } from '../http/broker-plugin.js';
import { type BrokerHooks, brokerHooks, type PublishInput, type ReleasedOptions } from './broker-hooks.js';
import { type BrokerOptions, resolveOptions } from './broker-options.js';

export interface MountedBroker extends BrokerHooks {
  /** Register it on the host app: `await app.register(broker.plugin, { prefix: '/broker' })`. */
  readonly plugin: FastifyPluginAsync;
}

/**
 * Broker's routes (API and stream) inside an existing Fastify application, under whatever prefix
 * the host registers them with, sharing its server and its logger. The host keeps its own routes
 * and its shutdown: Broker starts on the host's `onReady` and stops on its `close()` (streams end
 * in `preClose`, so the host's close does not wait on them). `port` and `host` options are
 * ignored: the host listens.
 */
export function brokerFastify(options: BrokerOptions | string = {}): MountedBroker {
  const { config, rules } = resolveOptions(options, true);
  let core: BrokerCore | undefined;
  const closed = new AbortController();
  const started = (): BrokerHooks => {
    if (!core) throw new Error('Broker is not mounted yet: register broker.plugin on a Fastify app first');
    return brokerHooks(core, closed.signal);
  };

  const plugin: FastifyPluginAsync = async (app) => {
    if (core) throw new Error('this Broker is already mounted; create another with brokerFastify()');
    const mounted = await createBrokerCore(config, app.log as Logger, { rules });
    core = mounted;
    await app.register(brokerPlugin, { deps: mounted.deps, origins: config.origin, bodyLimit: config.bodyLimit });
    app.addHook('onReady', () => mounted.start());
    app.addHook('preClose', async () => {
      closed.abort();
      await mounted.stopStreaming();
    });
    app.addHook('onClose', () => mounted.close());
  };

  return {
    plugin,
    // Both overloads of publish: forward whatever it was given.
    publish: ((input: PublishInput | readonly PublishInput[]) => started().publish(input as PublishInput)) as BrokerHooks['publish'],
    onReleased: (listener) => started().onReleased(listener),
    released: (opts?: ReleasedOptions) => started().released(opts),
  };
}
