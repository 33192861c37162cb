// Composition root of the gateway process: the service from the environment (startGatewayService), plus signals.
import { createLogger, toError } from '@cordum/core';
import { loadGatewayConfig } from './config.js';
import { startGatewayService } from './service.js';

async function main(): Promise<void> {
  const config = loadGatewayConfig();
  const logger = createLogger({ name: 'cordum-gateway', level: config.logLevel });
  const service = await startGatewayService({ logger });
  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    void service.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`cordum-gateway: shutdown failed: ${toError(err).message}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(`cordum-gateway: ${toError(err).message}\n`);
  process.exit(1);
});
