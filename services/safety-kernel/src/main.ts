// Composition root of the safety kernel process: the service from the environment (startSafetyKernelService), plus signals.
import { createLogger, toError } from '@cordum/core';
import { loadSafetyKernelConfig } from './config.js';
import { startSafetyKernelService } from './index.js';

async function main(): Promise<void> {
  const config = loadSafetyKernelConfig();
  const logger = createLogger({ name: 'cordum-safety-kernel', level: config.logLevel });
  const service = await startSafetyKernelService({ logger });
  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    void service.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`cordum-safety-kernel: shutdown failed: ${toError(err).message}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(`cordum-safety-kernel: ${toError(err).message}\n`);
  process.exit(1);
});
