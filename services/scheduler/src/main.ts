// Composition root of the scheduler process: the service from the environment (startSchedulerService), plus signals.
import { createLogger, toError } from '@cordum/core';
import { loadSchedulerConfig } from './config.js';
import { startSchedulerService } from './index.js';

async function main(): Promise<void> {
  const config = loadSchedulerConfig();
  const logger = createLogger({ name: 'cordum-scheduler', level: config.logLevel });
  const service = await startSchedulerService({ logger });
  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    void service.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`cordum-scheduler: shutdown failed: ${toError(err).message}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(`cordum-scheduler: ${toError(err).message}\n`);
  process.exit(1);
});
