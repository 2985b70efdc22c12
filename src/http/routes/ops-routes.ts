import type { FastifyInstance } from 'fastify';
import { AppError } from '../../errors/app-error.js';
import type { BrokerDeps } from '../broker-deps.js';

/** GET /health for load balancers, GET /metrics for Prometheus. */
export function opsRoutes(app: FastifyInstance, deps: BrokerDeps): void {
  app.get('/health', async () => {
    if (deps.closing()) throw new AppError('unavailable', 'Shutting down.');
    try {
      await deps.ping();
    } catch (error) {
      throw new AppError('unavailable', 'The database does not answer.', { cause: error });
    }
    // Full storage is reported, not failed: streams and reads still work, only inserts wait.
    return { status: 'ok', subscribers: deps.hub.size, storage: deps.storageFull() ? 'full' : 'ok' };
  });

  app.get('/metrics', async (_request, reply) => {
    reply.header('content-type', deps.metrics.registry.contentType);
    return deps.metrics.scrape();
  });
}
