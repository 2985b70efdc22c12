import type { FastifyInstance } from 'fastify';
import { AppError } from '../../errors/app-error.js';
import type { BrokerDeps } from '../broker-deps.js';
import { openApiDocument } from '../openapi/openapi-document.js';

/** GET /health for load balancers, GET /metrics for Prometheus, GET /openapi.json for client generators. */
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

  // The document's paths are relative to wherever Broker is mounted (a host's prefix).
  app.get('/openapi.json', async (request) => {
    const prefix = (request.url.split('?')[0] ?? '').replace(/\/openapi\.json$/, '');
    return { ...openApiDocument(), servers: [{ url: prefix === '' ? '/' : prefix }] };
  });

  app.get('/metrics', async (_request, reply) => {
    reply.header('content-type', deps.metrics.registry.contentType);
    return deps.metrics.scrape();
  });
}
