/**
 * Broker as a library. `startBroker` runs a complete server; `brokerFastify` mounts it in a
 * Fastify app; `createBrokerHandler` serves it from a plain node:http server. All three take the
 * same options as the command line and give the host `publish`, `onReleased` and `released`.
 */
export {
  type BrokerHooks,
  type PublishInput,
  type ReleasedEventView,
  type ReleasedOptions,
  SYSTEM_USER_ID,
} from './library/broker-hooks.js';
export { BrokerConfigError, type BrokerOptions } from './library/broker-options.js';
export { brokerFastify, type MountedBroker } from './library/fastify-broker.js';
export { type BrokerHandler, createBrokerHandler } from './library/node-handler.js';
export { type BrokerHandle, startBroker } from './library/start-broker.js';
