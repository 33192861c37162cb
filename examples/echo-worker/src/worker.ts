import { connectNatsBus } from '@cordum/bus/nats';
import { type Logger, createLogger, isCordumError, toError } from '@cordum/core';
import { handleSignals } from '@cordum/sdk';
import { createRedisStores } from '@cordum/store/redis';
import { loadEchoConfig } from './config.js';
import { createEchoWorker } from './echo.js';

// Composition root of the echo worker process: config → NATS bus + Redis pointer store → SDK worker →
// signal handling. `node dist/worker.js` (after `npm run build`).

async function main(boot: Logger): Promise<void> {
  const config = loadEchoConfig();
  // The SDK binds worker_id (and job ids per job) on its own lines.
  const logger = createLogger({ name: 'echo-worker', level: config.logLevel });
  boot.info({ nats: config.natsUrl, redis: config.redisUrl, topics: config.topics }, 'connecting');
  const bus = await connectNatsBus({
    servers: config.natsUrl,
    jetstream: config.natsJetstream,
    name: config.workerId,
    logger,
  });
  const stores = createRedisStores({ url: config.redisUrl, prefix: config.redisPrefix });
  await stores.ping();
  const worker = createEchoWorker({
    bus,
    pointers: stores.pointers,
    artifacts: stores.artifacts,
    workerId: config.workerId,
    topics: config.topics,
    concurrency: config.concurrency,
    heartbeatIntervalMs: config.heartbeatIntervalMs,
    ...(config.pool === undefined ? {} : { pool: config.pool }),
    logger,
  });
  handleSignals(worker, {
    timeoutMs: config.drainTimeoutMs,
    logger,
    // The worker never closes what it was given: the process owns the bus and the stores.
    beforeExit: async () => {
      await bus.drain();
      await stores.close();
    },
  });
  await worker.start();
  logger.info({ topics: config.topics, concurrency: config.concurrency }, 'echo worker ready');
}

const boot = createLogger({ name: 'echo-worker' });
main(boot).catch((err: unknown) => {
  const e = toError(err);
  boot.fatal({ err: e.message, details: isCordumError(e) ? e.details : undefined }, 'echo worker failed to start');
  process.exit(1);
});
