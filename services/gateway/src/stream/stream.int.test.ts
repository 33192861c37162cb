import { connectNatsBus } from '@cordum/bus/nats';
import { createMetrics } from '@cordum/core';
import { CordumApi, JobStatus } from '@cordum/protocol';
import { createGrpcClient } from '@cordum/rpc';
import { createRedisStores } from '@cordum/store/redis';
import { type NatsServer, type RedisServer, startNats, startRedis, uniquePrefix } from '@cordum/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createApiKeyResolver, parseApiKeys } from '../auth/api-keys.js';
import { createGateway } from '../index.js';
import { publishAlert, publishProgress, publishResult } from '../testing/bus-events.js';
import { KEYS, KEY_FILE } from '../testing/fixture.js';
import { type Frame, openStream } from '../testing/ws-client.js';

// The stream and gRPC over real NATS (core and JetStream) and Redis: a job submitted over gRPC shows up on a
// WebSocket with the tenant and topic read from the Redis job record, and never on another tenant's socket.

let nats: NatsServer;
let redis: RedisServer;
const cleanup: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  [nats, redis] = await Promise.all([startNats(), startRedis()]);
});
afterAll(async () => {
  await Promise.all([nats?.stop(), redis?.stop()]);
});
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn().catch(() => undefined);
});

describe.each([false, true])('stream and gRPC on NATS (jetstream: %s) and Redis', (jetstream) => {
  it('gRPC submit → WebSocket events of the caller\'s tenant only', async () => {
    const bus = await connectNatsBus({ servers: nats.url, jetstream });
    cleanup.push(() => bus.close());
    const stores = createRedisStores({ url: redis.url, prefix: uniquePrefix('gw-stream') });
    cleanup.push(() => stores.close());
    const gateway = await createGateway({
      bus,
      stores,
      principals: createApiKeyResolver(parseApiKeys(KEY_FILE, { source: 'test', defaultTenant: 'default' })),
      metrics: createMetrics(),
      options: { instanceId: 'gw-stream-int', httpAddr: '127.0.0.1:0', grpcAddr: '127.0.0.1:0', rateLimitRps: 0 },
    });
    const { url, grpc } = await gateway.listen();
    cleanup.push(() => gateway.close());

    const a = await openStream(url, { key: KEYS.viewerA });
    const b = await openStream(url, { key: KEYS.adminB });
    cleanup.push(() => a.close(), () => b.close());
    const client = createGrpcClient(CordumApi, `127.0.0.1:${grpc!.port}`, { metadata: { 'x-api-key': KEYS.operatorA }, timeoutMs: 5000 });
    cleanup.push(() => Promise.resolve(client.close()));

    const { jobId } = await client.submitJob({ prompt: 'over grpc', topic: 'job.demo.echo' });
    await publishProgress(bus, jobId, 30);
    await publishResult(bus, jobId, JobStatus.SUCCEEDED);
    const result = await a.next((f: Frame) => f['event'] === 'result' && f['job_id'] === jobId);
    expect(result).toMatchObject({ tenant_id: 'tenant-a', topic: 'job.demo.echo', state: 'SUCCEEDED' });
    expect(a.events().filter((e) => e.job_id === jobId).map((e) => e.event)).toEqual(['submitted', 'progress', 'result']);

    await publishAlert(bus, { tenant_id: 'tenant-b', event: 'sentinel' });
    await b.next((f: Frame) => f['event'] === 'sentinel');
    expect(b.events().map((e) => e.event)).toEqual(['sentinel']);
    expect(await client.getJobStatus({ jobId })).toMatchObject({ jobId, status: 'PENDING' });
  });
});
