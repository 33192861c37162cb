import type { JobStore } from '@cordum/store';
import { createMemoryStores } from '@cordum/store/memory';
import { createRedisStores } from '@cordum/store/redis';
import { startRedis, uniquePrefix } from '@cordum/testkit';
import { type BenchResult, measureAsync } from './harness.js';

/** One job's control-plane life: create, then PENDING → SCHEDULED → DISPATCHED → SUCCEEDED (4 writes). */
async function lifecycle(jobs: JobStore, prefix: string, i: number): Promise<void> {
  const id = `${prefix}-${i}`;
  await jobs.create({ id, tenant: 'bench', topic: 'job.bench', labels: { k: 'v' }, data: { request: 'x' } });
  await jobs.transition(id, { from: 'PENDING', to: 'SCHEDULED', actor: 'bench', patch: { incrementAttempts: true } });
  await jobs.transition(id, { from: 'SCHEDULED', to: 'DISPATCHED', actor: 'bench', patch: { leaseExpiresAt: Date.now() + 30_000 } });
  await jobs.transition(id, { from: 'DISPATCHED', to: 'SUCCEEDED', actor: 'bench', patch: { resultPtr: `redis://res:${id}` } });
}

export async function storeBenchmarks(): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  const memory = createMemoryStores();
  results.push({
    ...(await measureAsync('store.memory.job_lifecycle', 20_000, 64, (i) => lifecycle(memory.jobs, 'm', i))),
    notes: 'ops = jobs; each is 1 create + 3 CAS transitions',
  });
  const server = await startRedis();
  const redis = createRedisStores({ url: server.url, prefix: uniquePrefix('bench') });
  try {
    results.push({
      ...(await measureAsync('store.redis.job_lifecycle', 10_000, 64, (i) => lifecycle(redis.jobs, 'r', i))),
      notes: 'ops = jobs; each is 1 create + 3 CAS transitions (4 Lua scripts), one connection, 64 in flight',
    });
    await redis.jobs.create({ id: 'hot', tenant: 'bench', topic: 'job.bench' });
    let version = 1;
    results.push({
      ...(await measureAsync('store.redis.same_state_cas', 20_000, 1, async () => {
        const job = await redis.jobs.transition('hot', { from: 'PENDING', to: 'PENDING', expectedVersion: version, actor: 'bench' });
        version = job.version;
      })),
      notes: 'sequential version-CAS patches of one job (lease-renewal shape)',
    });
  } finally {
    await redis.close();
    await server.stop();
  }
  return results;
}
