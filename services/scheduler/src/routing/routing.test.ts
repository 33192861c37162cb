import { create } from '@bufbuild/protobuf';
import { HandshakeSchema, HeartbeatSchema } from '@cordum/protocol';
import { describe, expect, it } from 'vitest';
import { parsePoolsConfig, parseTimeoutsConfig, poolsForTopic, timeoutsForTopic } from './routing-config.js';
import { route } from './select.js';
import { type WorkerInfo, createWorkerRegistry } from './workers.js';

const pools = parsePoolsConfig({
  topics: { 'job.echo': 'default', 'job.code.*': ['cpu', 'gpu'], 'job.code.llm': ['gpu'] },
  pools: { default: { requires: [] }, cpu: { requires: ['git'] }, gpu: { requires: ['git', 'GPU'] } },
});

const worker = (over: Partial<WorkerInfo>): WorkerInfo => ({
  id: 'w',
  pool: 'default',
  activeJobs: 0,
  maxParallel: 4,
  cpuLoad: 0,
  gpuUtilization: 0,
  labels: {},
  capabilities: [],
  direct: true,
  lastSeen: 0,
  assigned: 0,
  ...over,
});

describe('routing config', () => {
  it('maps exact topics first, then the most specific glob', () => {
    expect(poolsForTopic(pools, 'job.code.llm')).toEqual(['gpu']);
    expect(poolsForTopic(pools, 'job.code.review')).toEqual(['cpu', 'gpu']);
    expect(poolsForTopic(pools, 'job.other')).toEqual([]);
  });

  it('rejects bad documents with the path of the problem', () => {
    expect(() => parsePoolsConfig({ topics: { 'job.x': 'nope' }, pools: {} })).toThrow(/pools.topics.job.x: pool "nope" is not defined/);
    expect(() => parsePoolsConfig({ topics: {}, pools: {} })).toThrow(/at least one topic/);
    expect(() => parsePoolsConfig({ topics: { 'job.x': [] }, pools: {} })).toThrow(/non-empty list/);
    expect(() => parsePoolsConfig({ topics: { 'job.x': 'a' }, pools: { a: { requires: 'git' } } })).toThrow(/requires/);
    expect(() => parsePoolsConfig({ topics: { 'job.x': 'a' }, pools: { a: {} }, extra: 1 })).toThrow(/pools.extra: unknown field/);
    expect(() => parseTimeoutsConfig({ topics: { 'job.x': { timeout_seconds: -1 } } })).toThrow(/timeouts.topics.job.x.timeout_seconds/);
    expect(() => parseTimeoutsConfig({ topics: { 'job.x': { timeout: 1 } } })).toThrow(/unknown field/);
  });

  it('reads timeouts with globs, scalar workflow entries and reconciler defaults', () => {
    const t = parseTimeoutsConfig({
      topics: { 'job.echo': { timeout_seconds: 30, max_retries: 1 }, 'job.code.*': { timeout_seconds: 600 } },
      workflows: { wf1: 120, wf2: { child_timeout_seconds: 10, max_retries: 2 } },
      reconciler: { scan_interval_seconds: 2 },
    });
    expect(timeoutsForTopic(t, 'job.echo')).toEqual({ timeoutMs: 30_000, maxRetries: 1 });
    expect(timeoutsForTopic(t, 'job.code.x')).toEqual({ timeoutMs: 600_000 });
    expect(timeoutsForTopic(t, 'job.none')).toEqual({});
    expect(t.workflows.get('wf1')).toEqual({ totalTimeoutMs: 120_000 });
    expect(t.reconciler).toEqual({ dispatchTimeoutMs: 300_000, runningTimeoutMs: 9_000_000, scanIntervalMs: 2000 });
  });
});

describe('route', () => {
  it('fails at once when no pool is mapped or none provides the requirements', () => {
    expect(route({ topic: 'job.none', requires: [], labels: {} }, pools, [])).toMatchObject({ kind: 'fail', reason: 'no_pool_mapping' });
    expect(route({ topic: 'job.echo', requires: ['gpu'], labels: {} }, pools, [])).toMatchObject({ kind: 'fail', reason: 'no_pool_mapping' });
    expect(route({ topic: 'job.code.x', requires: [], labels: { preferred_pool: 'default' } }, pools, [])).toMatchObject({ kind: 'fail' });
  });

  it('dispatches to the topic subject when no worker of the pools is known (CAP workers that never heartbeat)', () => {
    expect(route({ topic: 'job.echo', requires: [], labels: {} }, pools, [])).toEqual({
      kind: 'dispatch',
      subject: 'job.echo',
      pool: 'default',
      workerId: null,
    });
  });

  it('keeps only pools whose requires cover the job (case-insensitive), then picks the least-loaded worker', () => {
    const workers = [
      worker({ id: 'cpu-1', pool: 'cpu', activeJobs: 0 }),
      worker({ id: 'gpu-1', pool: 'gpu', activeJobs: 2 }),
      worker({ id: 'gpu-2', pool: 'gpu', activeJobs: 1, cpuLoad: 50 }),
    ];
    expect(route({ topic: 'job.code.review', requires: [], labels: {} }, pools, workers)).toMatchObject({ workerId: 'cpu-1', subject: 'worker.cpu-1.jobs' });
    expect(route({ topic: 'job.code.review', requires: ['gpu'], labels: {} }, pools, workers)).toMatchObject({ workerId: 'gpu-2', pool: 'gpu' });
  });

  it('counts this instance’s own recent dispatches and skips full workers', () => {
    const a = worker({ id: 'a', activeJobs: 1, assigned: 2 });
    const b = worker({ id: 'b', activeJobs: 2 });
    expect(route({ topic: 'job.echo', requires: [], labels: {} }, pools, [a, b])).toMatchObject({ workerId: 'b' });
    const full = [worker({ id: 'a', activeJobs: 4 }), worker({ id: 'b', activeJobs: 2, assigned: 2 })];
    expect(route({ topic: 'job.echo', requires: [], labels: {} }, pools, full)).toMatchObject({ kind: 'wait', reason: 'pool_overloaded' });
  });

  it('sends to hot (cpu or gpu ≥ 90%) workers only when no cool worker has a free slot', () => {
    const hot = worker({ id: 'a', cpuLoad: 95 });
    const cool = worker({ id: 'b', activeJobs: 3 });
    expect(route({ topic: 'job.echo', requires: [], labels: {} }, pools, [hot, cool])).toMatchObject({ workerId: 'b' });
    const coolFull = worker({ id: 'b', activeJobs: 4 });
    const gpuHot = worker({ id: 'c', gpuUtilization: 92, activeJobs: 1 });
    expect(route({ topic: 'job.echo', requires: [], labels: {} }, pools, [hot, coolFull, gpuHot])).toMatchObject({ workerId: 'a' });
  });

  it('honours placement labels, ignoring control-plane labels', () => {
    const workers = [worker({ id: 'eu', labels: { region: 'eu' } }), worker({ id: 'us', labels: { region: 'us' } })];
    expect(route({ topic: 'job.echo', requires: [], labels: { region: 'us', run_id: 'r1', 'cordum.x': 'y' } }, pools, workers)).toMatchObject({ workerId: 'us' });
    expect(route({ topic: 'job.echo', requires: [], labels: { region: 'ap' } }, pools, workers)).toMatchObject({ kind: 'wait', reason: 'no_workers' });
  });

  it('sends to the topic subject for a chosen worker that does not consume its direct subject', () => {
    expect(route({ topic: 'job.echo', requires: [], labels: {} }, pools, [worker({ id: 'x', direct: false })])).toEqual({
      kind: 'dispatch',
      subject: 'job.echo',
      pool: 'default',
      workerId: 'x',
    });
  });

  it('pins preferred_worker_id when that worker is eligible and not overloaded', () => {
    const workers = [worker({ id: 'a' }), worker({ id: 'b', activeJobs: 3 })];
    expect(route({ topic: 'job.echo', requires: [], labels: { preferred_worker_id: 'b' } }, pools, workers)).toMatchObject({ workerId: 'b' });
  });
});

describe('worker registry', () => {
  it('tracks heartbeats, direct dispatch from handshakes or labels, load since the last beat, and expiry', () => {
    const reg = createWorkerRegistry({ timeoutMs: 1000 });
    reg.heartbeat(create(HeartbeatSchema, { workerId: 'w1', pool: 'default', activeJobs: 1, maxParallelJobs: 4 }), 0);
    reg.heartbeat(create(HeartbeatSchema, { workerId: 'w2', pool: 'default', labels: { 'cordum.direct_dispatch': 'true' } }), 0);
    reg.handshake(create(HandshakeSchema, { componentId: 'w1', readyTopics: ['job.echo', 'worker.w1.jobs'] }), 'w1', 0);
    expect(reg.get('w1')?.direct).toBe(true);
    expect(reg.get('w2')?.direct).toBe(true);
    reg.noteDispatch('w1');
    reg.noteDispatch('w1');
    expect(reg.get('w1')?.assigned).toBe(2);
    reg.noteCompletion('w1');
    expect(reg.get('w1')?.assigned).toBe(1);
    reg.heartbeat(create(HeartbeatSchema, { workerId: 'w1', pool: 'default', activeJobs: 2 }), 500);
    expect(reg.get('w1')).toMatchObject({ assigned: 0, activeJobs: 2, direct: true });
    reg.noteCompletion('w1');
    expect(reg.get('w1')).toMatchObject({ assigned: 0, activeJobs: 1 });
    expect(reg.live(1200).map((w) => w.id)).toEqual(['w1']);
    expect(reg.expire(1200)).toEqual(['w2']);
    expect(reg.get('w2')).toBeUndefined();
  });
});
