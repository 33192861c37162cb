import { toError } from '@cordum/core';
import type { PrincipalResolver } from '../auth/principal.js';
import type { GatewayContext } from '../context.js';
import { type GatewayApp, principalOf } from '../http/types.js';
import { ERROR_RESPONSES, HealthResponse, StatusResponse, WorkersResponse } from '../http/schemas.js';

// Thin HTTP adapters: status, workers, health, metrics and the OpenAPI document.

async function storeHealth(ctx: GatewayContext): Promise<{ ok: boolean; error?: string }> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      ctx.stores.ping(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('store ping timed out after 1 s')), 1000);
      }),
    ]);
    return { ok: true };
  } catch (err) {
    return { ok: false, error: toError(err).message };
  } finally {
    clearTimeout(timer);
  }
}

export function registerSystemRoutes(
  app: GatewayApp,
  ctx: GatewayContext,
  deps: { principals: PrincipalResolver; metricsText: () => Promise<string>; metricsContentType: string },
): void {
  app.get(
    '/health',
    { config: { role: 'public' }, schema: { tags: ['system'], summary: 'Liveness and readiness', response: { 200: HealthResponse, 503: HealthResponse } } },
    async (_request, reply) => {
      const bus = ctx.bus.status().connected;
      const store = (await storeHealth(ctx)).ok;
      return reply.code(bus && store ? 200 : 503).send({ ok: bus && store, bus, store });
    },
  );

  app.get('/metrics', { config: { role: 'public' }, schema: { hide: true } }, async (_request, reply) => {
    const text = await deps.metricsText();
    return reply.type(deps.metricsContentType).send(text);
  });

  app.get('/api/v1/openapi.json', { config: { role: 'public' }, schema: { hide: true } }, () => app.swagger());

  app.get(
    '/api/v1/status',
    {
      config: { role: 'viewer' },
      schema: { tags: ['system'], summary: 'Build, uptime, bus and store health, worker count', response: { 200: StatusResponse, ...ERROR_RESPONSES } },
    },
    async (request) => {
      const principal = principalOf(request);
      const now = ctx.clock.now();
      const bus = ctx.bus.status();
      const count = ctx.workers.count(now);
      ctx.metrics.workers.set(count);
      return {
        time: new Date(now).toISOString(),
        uptime_seconds: Math.max(0, Math.floor((now - ctx.startedAt) / 1000)),
        build: ctx.options.build,
        bus: { connected: bus.connected, durable: bus.durable, server: bus.server, reconnects: bus.reconnects },
        store: await storeHealth(ctx),
        workers: { count },
        auth: { open: deps.principals.open },
        principal: { id: principal.id, tenant: principal.tenant, roles: [...principal.roles] },
      };
    },
  );

  app.get(
    '/api/v1/workers',
    {
      config: { role: 'admin' },
      schema: {
        tags: ['system'],
        summary: 'Workers heard from on sys.heartbeat within the heartbeat timeout',
        response: { 200: WorkersResponse, ...ERROR_RESPONSES },
      },
    },
    () => ({ items: ctx.workers.list(ctx.clock.now()) }),
  );
}
