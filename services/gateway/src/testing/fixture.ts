import type { Bus } from '@cordum/bus';
import { createMemoryBroker } from '@cordum/bus/memory';
import { type Clock, type JsonValue, createMetrics } from '@cordum/core';
import { JOB_STORED_HEADER, type JobRequest, Subjects, computeJobHash, decodePacket, encodeStoredRequest } from '@cordum/protocol';
import type { JobRecord, Stores } from '@cordum/store';
import { createMemoryStores } from '@cordum/store/memory';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { createApiKeyResolver, parseApiKeys } from '../auth/api-keys.js';
import type { PrincipalResolver } from '../auth/principal.js';
import { type Gateway, createGateway } from '../index.js';
import type { GatewayOptions } from '../options.js';
import { requestOf } from '../jobs/job-view.js';

// Test scaffolding: a gateway on the memory bus and stores, with keys for two tenants and every role.

export const KEYS = {
  viewerA: 'viewer-a-0123456789abcdef',
  operatorA: 'operator-a-0123456789abcdef',
  adminA: 'admin-a-0123456789abcdef',
  secopsA: 'secops-a-0123456789abcdef',
  adminB: 'admin-b-0123456789abcdef',
  operatorB: 'operator-b-0123456789abcdef',
} as const;

export const KEY_FILE = JSON.stringify([
  { key: KEYS.viewerA, tenant: 'tenant-a', principal_id: 'vera', roles: ['viewer'] },
  { key: KEYS.operatorA, tenant: 'tenant-a', principal_id: 'otto', roles: ['operator'] },
  { key: KEYS.adminA, tenant: 'tenant-a', principal_id: 'ada', roles: ['admin'] },
  { key: KEYS.secopsA, tenant: 'tenant-a', principal_id: 'sec', roles: ['secops'] },
  { key: KEYS.adminB, tenant: 'tenant-b', principal_id: 'bob', roles: ['admin'] },
  { key: KEYS.operatorB, tenant: 'tenant-b', principal_id: 'bea', roles: ['operator'] },
]);

export type TestGateway = {
  gateway: Gateway;
  bus: Bus;
  stores: Stores;
  /** app.inject with an API key (X-API-Key) and a JSON body. */
  call(method: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'OPTIONS' | 'PATCH', url: string, options?: { key?: string; body?: unknown; headers?: Record<string, string> }): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
};

export async function startTestGateway(
  options: { open?: boolean; principals?: PrincipalResolver; gateway?: Partial<GatewayOptions>; clock?: Clock; stores?: Stores; bus?: Bus } = {},
): Promise<TestGateway> {
  const bus = options.bus ?? createMemoryBroker({ mode: 'core' }).connect();
  const stores = options.stores ?? createMemoryStores(options.clock === undefined ? {} : { clock: options.clock });
  const principals =
    options.open === true ? undefined : (options.principals ?? createApiKeyResolver(parseApiKeys(KEY_FILE, { source: 'test', defaultTenant: 'default' })));
  const gateway = await createGateway({
    bus,
    stores,
    ...(principals === undefined ? {} : { principals }),
    metrics: createMetrics(),
    ...(options.clock === undefined ? {} : { clock: options.clock }),
    options: { instanceId: 'gw-test', rateLimitRps: 0, httpAddr: '127.0.0.1:0', ...options.gateway },
  });
  return {
    gateway,
    bus,
    stores,
    call(method, url, o = {}) {
      const headers: Record<string, string> = { ...o.headers };
      if (o.key !== undefined) headers['x-api-key'] = o.key;
      const request: InjectOptions = { method, url, headers };
      if (o.body !== undefined) request.payload = o.body as NonNullable<InjectOptions['payload']>;
      return gateway.app.inject(request);
    },
    async close() {
      await gateway.close();
      await bus.close();
    },
  };
}

/** Every JobRequest published on sys.job.submit, with whether it carried the stored-job header. */
export async function captureSubmits(bus: Bus): Promise<{ request: JobRequest; stored: boolean; msgId: string | undefined }[]> {
  const seen: { request: JobRequest; stored: boolean; msgId: string | undefined }[] = [];
  await bus.subscribe(Subjects.jobSubmit, (m) => {
    const packet = decodePacket(m.data);
    if (packet.payload.case === 'jobRequest') seen.push({ request: packet.payload.value, stored: m.headers[JOB_STORED_HEADER] === '1', msgId: m.msgId });
  });
  await bus.flush();
  return seen;
}

/** Acts as the scheduler: policy said REQUIRE_APPROVAL, so the job waits with the hash it must match. */
export async function holdForApproval(stores: Stores, jobId: string, decision: Record<string, JsonValue> = {}): Promise<JobRecord> {
  const job = await stores.jobs.get(jobId);
  if (job === undefined) throw new Error(`no job ${jobId}`);
  const request = requestOf(job);
  if (request === undefined) throw new Error('no request');
  const context = (await stores.pointers.require(request.contextPtr)).bytes;
  return stores.jobs.transition(jobId, {
    from: 'PENDING',
    to: 'APPROVAL_REQUIRED',
    actor: 'scheduler:test',
    reason: 'approval required by policy',
    patch: {
      waitReason: 'awaiting_approval',
      dueAt: null,
      data: {
        decision: { decision: 'REQUIRE_HUMAN', rule_id: 'needs-human', reason: 'big jobs need a human', snapshot: 'snap-1', constraints: null, ...decision },
        job_hash: computeJobHash(request, context),
        approval: null,
      },
    },
  });
}

/** Acts as the scheduler: the job failed for good and went to the DLQ (as engine.finish writes it). */
export async function failToDlq(stores: Stores, jobId: string, reasonCode = 'max_retries_exceeded'): Promise<JobRecord> {
  const job = await stores.jobs.get(jobId);
  if (job === undefined) throw new Error(`no job ${jobId}`);
  const done = await stores.jobs.transition(jobId, {
    from: job.state,
    to: 'FAILED',
    actor: 'scheduler:test',
    reason: reasonCode,
    patch: { errorCode: reasonCode, errorMessage: 'it kept failing', dueAt: null },
  });
  await stores.dlq.put({
    jobId,
    tenant: done.tenant,
    topic: done.topic,
    status: 'FAILED',
    reasonCode,
    reason: 'it kept failing',
    errorCode: 0,
    lastState: job.state,
    attempts: 3,
    data: { request: done.data['request'] ?? encodeStoredRequest(requestOf(done) as JobRequest), labels: { ...done.labels }, trace_id: done.traceId },
  });
  return done;
}
