// The baseline for the gateway benchmark: a bare Fastify route on the same path, in its own process, that
// parses the same JSON body and answers with a job id — no auth, no validation, no store, no bus.
import { randomUUID } from 'node:crypto';
import { fastify } from 'fastify';

const app = fastify({ logger: false });
app.post('/api/v1/jobs', (request) => {
  const body = request.body as { topic?: unknown };
  return { job_id: randomUUID(), trace_id: randomUUID(), state: 'PENDING', topic: body.topic };
});
const address = await app.listen({ host: '127.0.0.1', port: 0 });
process.stdout.write(`bare fastify ready ${address}\n`);
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
