// Composition root of the safety kernel process: config, adapters, start, /metrics, signals.
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { createLogger, createMetrics, toError } from '@cordum/core';
import { createRedisStores } from '@cordum/store/redis';
import { loadSafetyKernelConfig } from './config.js';
import { createSafetyKernel } from './index.js';

function listen(addr: string): { host: string; port: number } {
  const at = addr.lastIndexOf(':');
  return { host: at <= 0 ? '0.0.0.0' : addr.slice(0, at), port: Number(addr.slice(at + 1)) };
}

async function main(): Promise<void> {
  const config = loadSafetyKernelConfig();
  const logger = createLogger({ name: 'cordum-safety-kernel', level: config.logLevel });
  const metrics = createMetrics({ processMetrics: true });
  const tls =
    config.tlsCert === undefined || config.tlsKey === undefined
      ? undefined
      : { cert: await readFile(config.tlsCert), key: await readFile(config.tlsKey) };
  if (tls === undefined) logger.warn('serving gRPC without TLS (development only; CORDUM_ENV=production refuses this)');

  const stores = createRedisStores({ url: config.redisUrl, prefix: config.redisPrefix });
  const kernel = createSafetyKernel({ stores, policy: config.policy, address: config.addr, tls, logger, metrics });
  try {
    await kernel.start();
  } catch (err) {
    await stores.close();
    throw err;
  }

  const http =
    config.metricsAddr === 'off'
      ? undefined
      : createServer((req, res) => {
          if (req.url === '/metrics') {
            void metrics.text().then((text) => {
              res.writeHead(200, { 'content-type': metrics.contentType });
              res.end(text);
            });
          } else if (req.url === '/health') {
            const status = kernel.runtime.status();
            // Serving the last good snapshot is healthy for traffic; the failure is in the body for operators.
            res.writeHead(200, { 'content-type': 'application/json' });
            res.end(
              JSON.stringify({
                ok: true,
                snapshot: status.snapshot?.id ?? null,
                policy_healthy: status.healthy,
                failures: status.failures,
                last_error: status.lastError,
              }),
            );
          } else {
            res.writeHead(404).end();
          }
        });
  if (http !== undefined) {
    const { host, port } = listen(config.metricsAddr);
    http.listen(port, host);
  }
  logger.info({ addr: config.addr, metrics: config.metricsAddr, tls: tls !== undefined }, 'safety kernel ready');

  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    void (async () => {
      await kernel.stop();
      await stores.close();
      http?.close();
      process.exit(0);
    })();
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(`cordum-safety-kernel: ${toError(err).message}\n`);
  process.exit(1);
});
