// A BullMQ worker process doing the same echo work as examples/echo-worker (bench only).
import { Worker } from 'bullmq';

const url = new URL(process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379');
const concurrency = Number(process.env['WORKER_CONCURRENCY'] ?? '64');
const worker = new Worker(
  process.env['BULLMQ_QUEUE'] ?? 'bench',
  (job) => Promise.resolve({ echo: job.data as unknown, job_id: job.id, received_at: new Date().toISOString() }),
  { connection: { host: url.hostname, port: Number(url.port) }, concurrency, prefix: process.env['BULLMQ_PREFIX'] ?? 'bull' },
);
void worker.waitUntilReady().then(() => process.stdout.write('bullmq worker ready\n'));
process.on('SIGTERM', () => {
  // close() waits for Redis; a bench whose Redis is gone must not leave this process behind.
  setTimeout(() => process.exit(0), 2000).unref();
  void worker.close().then(() => process.exit(0));
});
