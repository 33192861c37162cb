import type { GatewayContext } from '../context.js';
import { deleteDlqEntry, getDlqEntry, listDlq, retryDlqEntry } from '../dlq/dlq.js';
import { Type } from '@sinclair/typebox';
import { type GatewayApp, principalOf } from '../http/types.js';
import { DlqEntry, DlqPage, DlqParams, DlqQuery, DlqRetryResponse, ERROR_RESPONSES } from '../http/schemas.js';

export function registerDlqRoutes(app: GatewayApp, ctx: GatewayContext): void {
  const list = {
    config: { role: 'viewer' as const },
    schema: { tags: ['dlq'], summary: 'DLQ entries of your tenant, newest first', querystring: DlqQuery, response: { 200: DlqPage, ...ERROR_RESPONSES } },
  };
  for (const path of ['/api/v1/dlq', '/api/v1/dlq/page']) {
    app.get(path, list, async (request) => {
      const page = await listDlq(ctx, principalOf(request), request.query);
      return { items: page.items, next_cursor: page.nextCursor };
    });
  }

  app.get(
    '/api/v1/dlq/:job_id',
    { config: { role: 'viewer' }, schema: { tags: ['dlq'], summary: 'One DLQ entry', params: DlqParams, response: { 200: Type.Ref(DlqEntry), ...ERROR_RESPONSES } } },
    (request) => getDlqEntry(ctx, principalOf(request), request.params.job_id),
  );

  app.post(
    '/api/v1/dlq/:job_id/retry',
    {
      config: { role: 'operator' },
      schema: {
        tags: ['dlq'],
        summary: 'Retry as a new job <job_id>-retry-<8 hex> keeping meta, labels, priority and budget; the entry is removed',
        params: DlqParams,
        response: { 201: DlqRetryResponse, ...ERROR_RESPONSES },
      },
    },
    async (request, reply) => {
      const out = await retryDlqEntry(ctx, principalOf(request), request.params.job_id);
      return reply.code(201).send({ job_id: out.jobId, trace_id: out.traceId, retry_of: out.retryOf });
    },
  );

  app.delete(
    '/api/v1/dlq/:job_id',
    {
      config: { role: 'admin' },
      schema: { tags: ['dlq'], summary: 'Delete a DLQ entry', params: DlqParams, response: { 204: Type.Null(), ...ERROR_RESPONSES } },
    },
    async (request, reply) => {
      await deleteDlqEntry(ctx, principalOf(request), request.params.job_id);
      return reply.code(204).send(null);
    },
  );
}
