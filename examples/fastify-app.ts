/**
 * Broker embedded in a small Fastify application (`npm run example`), like the original's
 * `make` example: the app keeps its own routes and mounts Broker's API and stream under
 * /broker. A backend job reacts to released "order" events by publishing a "receipt".
 *
 *   curl -N http://localhost:3000/broker/events          # watch the stream
 *   curl -X POST http://localhost:3000/orders -H 'content-type: application/json' -d '{"item":"tea"}'
 */
import Fastify from 'fastify';
import { brokerFastify } from 'broker';

const port = Number(process.env.PORT ?? 3000);
const app = Fastify({ logger: { level: process.env.LOG_LEVEL ?? 'info' } });
const broker = brokerFastify({
  origin: process.env.ORIGIN ?? '*',
  databaseUrl: process.env.DATABASE_URL ?? 'sqlite:./tmp/example.db',
});

// The host's own routes, untouched by Broker.
app.get('/', async () => ({ app: 'example shop', stream: '/broker/events', api: '/broker' }));
app.post<{ Body: { item?: unknown } }>('/orders', async (request, reply) => {
  const item = typeof request.body?.item === 'string' ? request.body.item : undefined;
  if (!item) return reply.status(400).send({ error: 'item (a string) is required' });
  // Server-side publish: same rules as POST /insert, attributed to the system user.
  const { id } = await broker.publish({ event: 'order', data: { item, at: new Date().toISOString() } });
  return { id };
});

await app.register(broker.plugin, { prefix: '/broker' });
await app.ready();

// A backend job: react to every released order, as long as the app runs.
void (async () => {
  for await (const order of broker.released({ names: ['order'] })) {
    await broker.publish({ event: 'receipt', data: { order: order.id, status: 'paid' } });
  }
})();

await app.listen({ port, host: process.env.HOST ?? '127.0.0.1' });
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void app.close().then(() => process.exit(0));
  });
}
