import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import { toError } from '@cordum/core';
import { type ListenAddress, formatAddress } from '../cli/address.js';

// The plain-HTTP side of `cordum dev`: Prometheus /metrics (one registry for every service in the process) and
// /health, as each service's own process serves them.

export type MetricsServer = { readonly port: number; close(): Promise<void> };

export type MetricsRoutes = {
  metrics(): Promise<{ contentType: string; body: string }>;
  health(): { ok: boolean; [key: string]: unknown };
};

/** Listens (port 0 picks one); rejects with the flag to change when the address is taken. */
export async function startMetricsServer(address: ListenAddress, routes: MetricsRoutes, flag = '--metrics-addr'): Promise<MetricsServer> {
  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
    } else if (path === '/metrics') {
      routes.metrics().then(
        ({ contentType, body }) => {
          res.writeHead(200, { 'content-type': contentType });
          res.end(body);
        },
        (err: unknown) => {
          res.writeHead(500, { 'content-type': 'text/plain' });
          res.end(`metrics unavailable: ${toError(err).message}\n`);
        },
      );
    } else if (path === '/health') {
      const health = routes.health();
      res.writeHead(health.ok ? 200 : 503, { 'content-type': 'application/json' });
      res.end(JSON.stringify(health));
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics or /health\n');
    }
  };
  const server: Server = createServer(handle);
  await listen(server, address, flag);
  const bound = server.address();
  return {
    port: bound !== null && typeof bound === 'object' ? bound.port : address.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function listen(server: Server, address: ListenAddress, flag: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      const why = err.code === 'EADDRINUSE' ? 'address in use' : err.message;
      reject(new Error(`cannot listen on ${formatAddress(address)} (${why}): pass another ${flag}`, { cause: err }));
    };
    server.once('error', onError);
    server.listen(address.port, address.host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}
