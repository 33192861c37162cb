import { describe, expect, it } from 'vitest';
import { createMetrics } from './metrics.js';
import { startMetricsServer } from './metrics-server.js';

describe('startMetricsServer', () => {
  it('serves /metrics and /health (503 when not ok), 404 otherwise; a taken port rejects', async () => {
    const metrics = createMetrics();
    metrics.counter('cordum_test_total', 'a test counter').inc();
    let ok = true;
    const server = await startMetricsServer('127.0.0.1:0', metrics, () => ({ ok, body: { ok, component: 'test' } }));
    try {
      const base = `http://127.0.0.1:${server.port}`;
      expect(await (await fetch(`${base}/metrics`)).text()).toContain('cordum_test_total 1');
      const healthy = await fetch(`${base}/health`);
      expect(healthy.status).toBe(200);
      expect(await healthy.json()).toEqual({ ok: true, component: 'test' });
      ok = false;
      expect((await fetch(`${base}/health`)).status).toBe(503);
      expect((await fetch(`${base}/other`)).status).toBe(404);
      await expect(startMetricsServer(`127.0.0.1:${server.port}`, metrics, () => ({ ok, body: {} }))).rejects.toThrow(/EADDRINUSE/);
    } finally {
      await server.close();
    }
  });
});
