// Composition root of the workflow-engine process: the service from the environment, plus signals.
import { createLogger, toError } from '@cordum/core';
import { loadWorkflowEngineConfig } from './config.js';
import { startWorkflowEngineService } from './index.js';

async function main(): Promise<void> {
  const config = loadWorkflowEngineConfig();
  const logger = createLogger({ name: 'cordum-workflow-engine', level: config.logLevel });
  const service = await startWorkflowEngineService({ logger });
  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    void service.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(`cordum-workflow-engine: ${toError(err).message}\n`);
  process.exit(1);
});
