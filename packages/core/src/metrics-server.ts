import { type Server, createServer } from 'node:http';
import type { Metrics } from './metrics.js';

export type MetricsServer = {
  /** The bound port. */
  readonly port: number;
  close(): Promise<void>;
};

/** host:port (":9090" = every IPv4 interface). */
function parseAddr(addr: string): { host: string; port: number } {
  const at = addr.lastIndexOf(':');
  return { host: at <= 0 ? '0.0.0.0' : addr.slice(0, at), port: Number(addr.slice(at + 1)) };
}

/**
 * The HTTP side listener every service process has: `GET /metrics` (Prometheus text) and `GET /health`
 * (`health()` gives the status code and JSON body), 404 otherwise. Rejects when the address cannot be bound.
 */
export async function startMetricsServer(
  addr: string,
  metrics: Metrics,
  health: () => { ok: boolean; body: Record<string, unknown> },
): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    if (req.url === '/metrics') {
      void metrics.text().then((text) => {
        res.writeHead(200, { 'content-type': metrics.contentType });
        res.end(text);
      });
    } else if (req.url === '/health') {
      const { ok, body } = health();
      res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    } else {
      res.writeHead(404).end();
    }
  });
  const { host, port } = parseAddr(addr);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  return {
    port: address !== null && typeof address === 'object' ? address.port : port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
