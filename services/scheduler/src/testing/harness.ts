import { create } from '@bufbuild/protobuf';
import type { Bus, Subscription } from '@cordum/bus';
import { type ManualClock, type Metrics, type OutputPolicyPoint, type PolicyDecisionPoint, createManualClock, createStaticPdp, newId } from '@cordum/core';
import {
  type BusPacket,
  type Heartbeat,
  HeartbeatSchema,
  JOB_STORED_HEADER,
  type JobRequest,
  JobStatus,
  Subjects,
  contextPointer,
  decodePacket,
  encodePacket,
  newPacket,
  resultPointer,
  workerJobsSubject,
} from '@cordum/protocol';
import type { Stores } from '@cordum/store';
import { encodeRequest } from '../engine.js';
import { type Scheduler, type SchedulerOptions, createScheduler } from '../index.js';

// Test scaffolding shared by the scheduler's memory and NATS/Redis tests. Workers here are written against
// the wire spec only (a bus and the protocol package, no SDK), like a CAP worker built with another SDK.

export const TEST_POOLS = {
  topics: {
    'job.echo': 'default',
    'job.code.*': ['cpu', 'gpu'],
    'job.slow': 'default',
  },
  pools: { default: { requires: [] }, cpu: { requires: ['git'] }, gpu: { requires: ['git', 'gpu'] } },
};

export const TEST_TIMEOUTS = {
  topics: { 'job.slow': { timeout_seconds: 2, max_retries: 1 }, 'job.echo': { timeout_seconds: 30, max_retries: 2 } },
  reconciler: { dispatch_timeout_seconds: 60 },
};

export type WorkerReply =
  | { status: JobStatus; result?: unknown; errorCode?: string; errorMessage?: string }
  | 'hang';

export type RawWorker = {
  readonly id: string;
  readonly received: JobRequest[];
  heartbeat(extra?: Partial<Heartbeat>): Promise<void>;
  stop(): Promise<void>;
};

/**
 * A CAP worker: consumes `topic` in a queue group named after it (and worker.<id>.jobs when `direct`), writes
 * its result through the pointer store and replies on sys.job.result.
 */
export async function startRawWorker(
  bus: Bus,
  stores: Pick<Stores, 'pointers'>,
  options: { id: string; topics: string[]; pool?: string; direct?: boolean; labels?: Record<string, string>; reply?: (req: JobRequest) => WorkerReply | Promise<WorkerReply> },
): Promise<RawWorker> {
  const received: JobRequest[] = [];
  const reply = options.reply ?? ((req: JobRequest): WorkerReply => ({ status: JobStatus.SUCCEEDED, result: { echo: req.jobId } }));
  const handle = async (data: Uint8Array): Promise<void> => {
    const packet = decodePacket(data);
    if (packet.payload.case !== 'jobRequest') return;
    const req = packet.payload.value;
    received.push(req);
    const out = await reply(req);
    if (out === 'hang') return;
    let resultPtr = '';
    if (out.result !== undefined) {
      resultPtr = await stores.pointers.putResult(req.jobId, { tenant: req.tenantId || 'default', bytes: JSON.stringify(out.result) });
    }
    const result = newPacket({
      traceId: packet.traceId,
      senderId: options.id,
      payload: {
        case: 'jobResult',
        value: {
          jobId: req.jobId,
          status: out.status,
          resultPtr,
          workerId: options.id,
          errorCode: out.errorCode ?? '',
          errorMessage: out.errorMessage ?? '',
        },
      },
    });
    await bus.publish(Subjects.jobResult, encodePacket(result));
  };
  const subs: Subscription[] = [];
  for (const topic of options.topics) subs.push(await bus.subscribe(topic, (m) => handle(m.data), { queue: topic }));
  if (options.direct === true) subs.push(await bus.subscribe(workerJobsSubject(options.id), (m) => handle(m.data)));
  await bus.flush();
  return {
    id: options.id,
    received,
    async heartbeat(extra = {}) {
      const hb = create(HeartbeatSchema, {
        workerId: options.id,
        pool: options.pool ?? 'default',
        maxParallelJobs: extra.maxParallelJobs ?? 8,
        activeJobs: extra.activeJobs ?? 0,
        cpuLoad: extra.cpuLoad ?? 0,
        labels: { ...(options.labels ?? {}), ...(options.direct === true ? { 'cordum.direct_dispatch': 'true' } : {}) },
      });
      await bus.publish(Subjects.heartbeat, encodePacket(newPacket({ traceId: options.id, senderId: options.id, payload: { case: 'heartbeat', value: hb } })));
      await bus.flush();
    },
    async stop() {
      await Promise.all(subs.map((s) => s.drain()));
    },
  };
}

export type SubmitOptions = {
  topic: string;
  jobId?: string;
  tenant?: string;
  input?: unknown;
  labels?: Record<string, string>;
  requires?: string[];
  riskTags?: string[];
  idempotencyKey?: string;
  deadlineMs?: number;
  workflowId?: string;
  /** meta.actor_id: who the job counts against for per-actor quotas. */
  actorId?: string;
  principalId?: string;
};

function submitPacket(jobId: string, tenant: string, options: SubmitOptions): BusPacket {
  return newPacket({
    traceId: `trace-${jobId}`,
    senderId: 'raw-client',
    payload: {
      case: 'jobRequest',
      value: {
        jobId,
        topic: options.topic,
        contextPtr: contextPointer(jobId),
        tenantId: tenant,
        labels: options.labels ?? {},
        workflowId: options.workflowId ?? '',
        principalId: options.principalId ?? '',
        meta: {
          tenantId: tenant,
          actorId: options.actorId ?? '',
          requires: options.requires ?? [],
          riskTags: options.riskTags ?? [],
          idempotencyKey: options.idempotencyKey ?? '',
        },
        ...(options.deadlineMs === undefined ? {} : { budget: { deadlineMs: BigInt(options.deadlineMs) } }),
      },
    },
  });
}

/** Publishes a JobRequest on sys.job.submit the way a raw CAP client does (input through the pointer store). */
export async function submitRaw(bus: Bus, stores: Pick<Stores, 'pointers'>, options: SubmitOptions): Promise<string> {
  const jobId = options.jobId ?? `job-${newId()}`;
  const tenant = options.tenant ?? 'default';
  await stores.pointers.putContext(jobId, { tenant, bytes: JSON.stringify(options.input ?? { prompt: 'hi' }) });
  await bus.publish(Subjects.jobSubmit, encodePacket(submitPacket(jobId, tenant, options)));
  return jobId;
}

/**
 * Submits the way the gateway does: the job record is written first (PENDING, due after `graceMs` so the
 * pending replayer recovers it if the submit is lost), then published with the stored-job header.
 */
export async function submitStored(
  bus: Bus,
  stores: Pick<Stores, 'pointers' | 'jobs'>,
  options: SubmitOptions & { graceMs?: number },
): Promise<string> {
  const jobId = options.jobId ?? `job-${newId()}`;
  const tenant = options.tenant ?? 'default';
  await stores.pointers.putContext(jobId, { tenant, bytes: JSON.stringify(options.input ?? { prompt: 'hi' }) });
  const packet = submitPacket(jobId, tenant, options);
  if (packet.payload.case !== 'jobRequest') throw new TypeError('not a job request');
  await stores.jobs.create({
    id: jobId,
    tenant,
    topic: options.topic,
    traceId: packet.traceId,
    labels: { ...options.labels },
    data: { request: encodeRequest(packet.payload.value), submitted_by: 'gateway' },
    dueAt: (await stores.jobs.now()) + (options.graceMs ?? 5000),
    actor: 'gateway',
    reason: 'submitted',
  });
  await bus.publish(Subjects.jobSubmit, encodePacket(packet), { headers: { [JOB_STORED_HEADER]: '1' } });
  return jobId;
}

/** Every packet published on a subject, decoded. */
export async function capture(bus: Bus, subject: string): Promise<BusPacket[]> {
  const seen: BusPacket[] = [];
  await bus.subscribe(subject, (m) => {
    seen.push(decodePacket(m.data));
  });
  await bus.flush();
  return seen;
}

export type Harness = {
  scheduler: Scheduler;
  clock: ManualClock;
  pdp: ReturnType<typeof createStaticPdp>;
};

export async function startScheduler(
  bus: Bus,
  stores: Stores,
  options: {
    pdp?: PolicyDecisionPoint;
    outputPolicy?: OutputPolicyPoint;
    clock?: ManualClock;
    metrics?: Metrics;
    scheduler?: Partial<SchedulerOptions>;
  } = {},
): Promise<Scheduler> {
  const scheduler = createScheduler({
    bus,
    stores,
    pdp: options.pdp ?? createStaticPdp(),
    ...(options.outputPolicy === undefined ? {} : { outputPolicy: options.outputPolicy }),
    ...(options.clock === undefined ? {} : { clock: options.clock }),
    ...(options.metrics === undefined ? {} : { metrics: options.metrics }),
    options: {
      instanceId: `sched-${newId().slice(-6)}`,
      bootstrap: { pools: TEST_POOLS, timeouts: TEST_TIMEOUTS },
      ...options.scheduler,
    },
  });
  await scheduler.start();
  return scheduler;
}

/** A counter's value summed over its labels (0 when it was never incremented). */
export async function counterValue(metrics: Metrics, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = metrics.registry.getSingleMetric(`cordum_${name}`);
  if (metric === undefined) return 0;
  const { values } = await metric.get();
  return values
    .filter((v) => Object.entries(labels).every(([k, want]) => String((v.labels as Record<string, unknown>)[k]) === want))
    .reduce((sum, v) => sum + v.value, 0);
}

export { createManualClock, resultPointer };
