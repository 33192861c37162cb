import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bus } from '@cordum/bus';
import { connectNatsBus } from '@cordum/bus/nats';
import { JobStatus } from '@cordum/protocol';
import { type Client, createClient } from '@cordum/sdk';
import type { Stores } from '@cordum/store';
import { createRedisStores } from '@cordum/store/redis';
import {
  type NatsServer,
  type NodeProcess,
  type RedisServer,
  eventually,
  freePort,
  startNats,
  startNodeProcess,
  startRedis,
  uniquePrefix,
} from '@cordum/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

// The governed path with every piece a real process: a client (this test, through the SDK) submits on the bus,
// a scheduler process asks policy — the safety kernel process over gRPC, or the same bundle embedded — and an
// echo worker process runs what is allowed. Both modes must decide identically from one policy file.

const TOPIC = 'job.e2e.echo';
const POLICY = `version: e2e-1
default_decision: allow
rules:
  - id: no-prod
    match: { risk_tags: [prod] }
    decision: deny
    reason: prod is off limits
  - id: big-needs-a-human
    match: { labels: { size: big } }
    decision: require_approval
    reason: big jobs need a human
  - id: small-artifacts
    match: { capabilities: [report.write] }
    decision: allow_with_constraints
    constraints:
      budgets: { max_artifact_bytes: 1024 }
`;

let nats: NatsServer;
let redis: RedisServer;
let dir: string;
const cleanup: (() => Promise<unknown>)[] = [];
const snapshots = new Map<string, string>();

beforeAll(async () => {
  [nats, redis] = await Promise.all([startNats(), startRedis()]);
  dir = await mkdtemp(join(tmpdir(), 'cordum-e2e-'));
  await writeFile(join(dir, 'policy.yaml'), POLICY);
  await writeFile(join(dir, 'pools.yaml'), `topics:\n  ${TOPIC}: default\npools:\n  default:\n    requires: []\n`);
  await writeFile(join(dir, 'timeouts.yaml'), `topics:\n  ${TOPIC}: { timeout_seconds: 30, max_retries: 1 }\n`);
});
afterAll(async () => {
  await Promise.all([nats?.stop(), redis?.stop(), rm(dir, { recursive: true, force: true })]);
});
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn().catch(() => undefined);
});

async function start(options: Parameters<typeof startNodeProcess>[0]): Promise<NodeProcess> {
  const proc = await startNodeProcess(options);
  cleanup.push(() => proc.stop());
  return proc;
}

type Platform = { stores: Stores; client: Client; bus: Bus };

async function platform(mode: 'kernel' | 'embedded'): Promise<Platform> {
  const prefix = uniquePrefix('e2e');
  const common = { NATS_URL: nats.url, REDIS_URL: redis.url, CORDUM_REDIS_PREFIX: prefix, CORDUM_LOG_LEVEL: 'info' };
  const policy = { SAFETY_POLICY_PATH: join(dir, 'policy.yaml'), SAFETY_POLICY_CONFIG_DISABLE: 'true' };
  const kernelAddr = `127.0.0.1:${await freePort()}`;
  if (mode === 'kernel') {
    await start({
      script: 'services/safety-kernel/dist/main.js',
      env: { ...common, ...policy, SAFETY_KERNEL_ADDR: kernelAddr, SAFETY_KERNEL_METRICS_ADDR: '127.0.0.1:0' },
      ready: /safety kernel ready/,
    });
  }
  await start({
    script: 'services/scheduler/dist/main.js',
    env: {
      ...common,
      ...(mode === 'embedded' ? policy : { SAFETY_KERNEL_ADDR: kernelAddr }),
      CORDUM_POLICY_MODE: mode,
      POOL_CONFIG_PATH: join(dir, 'pools.yaml'),
      TIMEOUT_CONFIG_PATH: join(dir, 'timeouts.yaml'),
      SCHEDULER_METRICS_ADDR: '127.0.0.1:0',
    },
    ready: /scheduler ready/,
  });
  await start({
    script: 'examples/echo-worker/dist/worker.js',
    env: { ...common, WORKER_ID: `echo-${mode}`, ECHO_TOPIC: TOPIC, LOG_LEVEL: 'info' },
    ready: /echo worker ready/,
  });
  const bus = await connectNatsBus({ servers: nats.url });
  cleanup.push(() => bus.close());
  const stores = createRedisStores({ url: redis.url, prefix });
  cleanup.push(() => stores.close());
  const client = createClient({ bus, pointers: stores.pointers, senderId: 'e2e-client', tenantId: 'default' });
  cleanup.push(() => client.close());
  return { stores, client, bus };
}

for (const mode of ['kernel', 'embedded'] as const) {
  describe(`governed dispatch, policy ${mode === 'kernel' ? 'from the safety kernel over gRPC' : 'embedded in the scheduler'}`, () => {
    it('runs what policy allows, denies what it forbids, holds what needs a human, passes constraints on', async () => {
      const { stores, client } = await platform(mode);

      const ok = await client.run({ topic: TOPIC, input: { prompt: 'hello' }, timeoutMs: 20_000 });
      expect(ok).toMatchObject({ status: JobStatus.SUCCEEDED, workerId: `echo-${mode}` });
      expect(ok.result).toMatchObject({ echo: { prompt: 'hello' }, job_id: ok.jobId });

      const denied = await client.run({ topic: TOPIC, input: {}, meta: { riskTags: ['prod'] }, timeoutMs: 20_000 });
      expect(denied).toMatchObject({ status: JobStatus.DENIED, errorMessage: 'prod is off limits' });
      const deniedJob = await stores.jobs.get(denied.jobId);
      expect(deniedJob).toMatchObject({ state: 'DENIED' });
      const decision = deniedJob?.data['decision'] as { decision: string; rule_id: string; snapshot: string } | undefined;
      expect(decision).toMatchObject({ decision: 'DENY', rule_id: 'no-prod' });
      expect(decision?.snapshot.startsWith('e2e-1:')).toBe(true);
      // One policy source, one snapshot id, whichever decision point decides.
      snapshots.set(mode, decision?.snapshot ?? '');
      if (snapshots.size === 2) expect(snapshots.get('kernel')).toBe(snapshots.get('embedded'));
      expect(await stores.dlq.get('default', denied.jobId)).toMatchObject({ reasonCode: 'safety_denied' });

      const held = await client.submit({ topic: TOPIC, input: {}, labels: { size: 'big' } });
      await eventually(async () => {
        expect(await stores.jobs.get(held.jobId)).toMatchObject({ state: 'APPROVAL_REQUIRED', waitReason: 'awaiting_approval' });
      }, 10_000, 50);

      // (Job labels are placement constraints on workers, as upstream: the rule matches the capability.)
      const capped = await client.run({ topic: TOPIC, input: {}, meta: { capability: 'report.write' }, timeoutMs: 20_000 });
      expect(capped.status).toBe(JobStatus.SUCCEEDED);
      const cappedJob = await stores.jobs.get(capped.jobId);
      expect(cappedJob?.data['decision']).toMatchObject({ decision: 'ALLOW_WITH_CONSTRAINTS', rule_id: 'small-artifacts' });

      if (mode === 'kernel') {
        // Every Check left a decision record in the kernel's audit log.
        const records = await stores.audit.list('default', { kind: 'policy.decision', subject: denied.jobId });
        expect(records.items[0]?.data).toMatchObject({ job_id: denied.jobId, rule_id: 'no-prod', decision: 'DENY' });
      }
    }, 60_000);
  });
}
