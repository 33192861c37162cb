// Composition root of the gateway process: startGatewayService (config, keys, NATS, Redis, HTTP, gRPC) and signals.
import { toError } from '@cordum/core';
import { startGatewayService } from './service.js';

async function main(): Promise<void> {
  const service = await startGatewayService();
  let stopping = false;
  const shutdown = (): void => {
    if (stopping) return;
    stopping = true;
    void service.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`cordum-gateway: shutdown failed: ${toError(err).message}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}

main().catch((err: unknown) => {
  process.stderr.write(`cordum-gateway: ${toError(err).message}\n`);
  process.exit(1);
});
