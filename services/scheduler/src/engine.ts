import { create, fromJson, toJson } from '@bufbuild/protobuf';
import type { Bus } from '@cordum/bus';
import {
  type Clock,
  type CordumError,
  type JsonValue,
  type Logger,
  type Metrics,
  type OutputPolicyPoint,
  type PolicyDecisionPoint,
  backoffDelay,
  isCordumError,
  isRetryable,
  toError,
  withContext,
} from '@cordum/core';
import {
  type BusPacket,
  DecisionType,
  ErrorCode,
  type JobRequest,
  JobRequestSchema,
  JobStatus,
  OutputDecision,
  type PolicyCheckResponse,
  PolicyCheckRequestSchema,
  PolicyCheckResponseSchema,
  PolicyConstraintsSchema,
  Subjects,
  CANCEL_ATTEMPT_HEADER,
  computeJobHash,
  decodeStoredRequest,
  encodeStoredRequest,
  minimalRequest,
  dispatchMsgId,
  encodePacket,
  encodeWorkflowCommand,
  errorCodeToString,
  effectiveErrorCode,
  type JobState,
  isTerminalJobState,
  jobFinalCommand,
  looksLikeWorkflowJobId,
  jobStateToStatus,
  newPacket,
  OutputCheckRequestSchema,
} from '@cordum/protocol';
import { type DlqStore, type JobPatch, type JobRecord, type JobStore, type PointerStore, type SlotRequest, jobFinalFence } from '@cordum/store';
import {
  type AttemptPolicy,
  type Outcome,
  attemptPolicy,
  outcomeOfLostAttempt,
  outcomeOfResult,
} from './attempts/attempt-policy.js';
import type { StoreClock } from './clock/store-clock.js';
import type { createEffectiveConfigReader } from './config/effective-config.js';
import type { RoutingSource } from './config/routing-source.js';
import type { SchedulerMetrics } from './metrics.js';
import type { SchedulerOptions } from './options.js';
import { quotaLimits } from './quotas/quota-limits.js';
import { timeoutsForTopic } from './routing/routing-config.js';
import { route } from './routing/select.js';
import type { WorkerRegistry } from './routing/workers.js';

// The scheduler's decisions, one job at a time. Every change is a compare-and-set on the job record written
// before any message about it is published (store first, doorbell second), and every wait is a due time in
// the store. Any number of instances run this against the same store: a CAS loser re-reads and stops.
//
// Job record data written here (the gateway writes request and approval the same way):
//   data.request         base64 JobRequest (protobuf)      data.decision   last policy decision
//   data.approval        {by, reason, job_hash, policy_snapshot, at} — only the gateway writes it
//   data.dispatch        {subject, pool, worker_id, attempt, lease_ms, at}
//   data.pending_result  a SUCCEEDED result waiting for the output policy
//   data.safety_failures consecutive kernel outages (for backoff)
//
// Quotas: the write that moves a job out of PENDING (into SCHEDULED or DISPATCHED) also takes its
// concurrency slot in the store (TransitionRequest.slot: tenant and actor limits checked atomically, so no
// number of instances can overshoot), and the write that ends the job releases it. A refused slot leaves
// the job PENDING with wait reason tenant_limit or actor_limit and a due time.

const IN_FLIGHT: readonly JobState[] = ['SCHEDULED', 'DISPATCHED', 'RUNNING'];
/** Jobs remembered per quota for an early wake-up (the due time still covers any beyond it). */
const MAX_SLOT_WAITERS = 1000;

/** A concurrency slot to take with the write that schedules a job, and what a refusal stores. */
type SlotAsk = {
  request: SlotRequest;
  /** slotReleases when the job was decided: a release since then means the refusal may be stale. */
  seen: number;
  /** Written with the wait when the slot is refused (the decision record, the deadline). */
  keep: JobPatch;
};

export type EngineDeps = {
  bus: Bus;
  jobs: JobStore;
  pointers: PointerStore;
  dlq: DlqStore;
  pdp: PolicyDecisionPoint;
  outputPolicy: OutputPolicyPoint | undefined;
  routing: RoutingSource;
  effective: ReturnType<typeof createEffectiveConfigReader>;
  registry: WorkerRegistry;
  storeClock: StoreClock;
  clock: Clock;
  logger: Logger;
  metrics: SchedulerMetrics;
  rawMetrics: Metrics | undefined;
  options: SchedulerOptions;
};

type Decision = {
  decision: string;
  rule_id: string;
  reason: string;
  snapshot: string;
  constraints: JsonValue;
  redacted_context_ptr: string;
  checked_at: number;
};

/** A worker's result as stored and handled (snake_case: it may be kept in data.pending_result). */
export type ResultFields = {
  job_id: string;
  status: number;
  result_ptr: string;
  worker_id: string;
  error_code: string;
  error_code_enum: ErrorCode;
  error_message: string;
  execution_ms: number;
  artifact_ptrs: string[];
  /** The attempt that produced it (from the result's msg-id `jobres:<job_id>#<attempt>`), 0 when unknown. */
  attempt: number;
};

export function encodeRequest(request: JobRequest): string {
  return encodeStoredRequest(request);
}

/** Who a job counts against within its tenant (quotas): meta.actor_id, else principal_id; "" for nobody. */
export function actorOf(request: JobRequest): string {
  return request.meta?.actorId || request.principalId;
}

export function decodeRequest(job: JobRecord): JobRequest {
  return (
    decodeStoredRequest(job.data['request']) ??
    minimalRequest({ jobId: job.id, topic: job.topic, tenantId: job.tenant, labels: { ...job.labels } })
  );
}

export function createEngine(deps: EngineDeps) {
  const { jobs, bus, logger, metrics, options } = deps;
  const actor = `scheduler:${options.instanceId}`;
  // Jobs allowed by policy but waiting for a free worker slot, by pool (this instance's view). A result or
  // a heartbeat that frees a slot wakes one at once; their due time in the store is only the fallback
  // (another instance's capacity, a crash), so a freed slot is used in milliseconds, not at the next poll.
  const parked = new Map<string, Set<string>>();
  // Counts slot-freeing events; a job that routed to "wait" and parks after one happened re-checks at once
  // (the event's wake-up ran before the job was parked, and would otherwise be missed until its due time).
  let capacityEvents = 0;

  function park(pool: string, jobId: string): void {
    let set = parked.get(pool);
    if (set === undefined) {
      set = new Set();
      parked.set(pool, set);
    }
    set.add(jobId);
  }

  function wake(pool: string, slots: number): void {
    const set = parked.get(pool);
    if (set === undefined) return;
    for (const id of set) {
      if (slots-- <= 0) break;
      set.delete(id);
      void advance(id).catch((err: unknown) => logger.warn({ job_id: id, err: toError(err).message }, 'wake-up failed; the due time retries'));
    }
  }

  /** A worker's capacity changed (heartbeat or a finished job): hand its free slots to parked jobs. */
  function capacityChanged(workerId: string): void {
    const w = deps.registry.get(workerId);
    if (w === undefined) return;
    const free = w.maxParallel > 0 ? w.maxParallel - w.activeJobs - w.assigned : 1;
    if (free > 0) {
      capacityEvents++;
      wake(w.pool, free);
    }
  }
  // Jobs waiting for a quota slot, by quota: `t\0<tenant>` (tenant_limit) or `a\0<tenant>\0<actor>`
  // (actor_limit). A slot this instance releases wakes one of each at once; releases elsewhere are found by
  // the due time.
  const slotWaiters = new Map<string, Set<string>>();
  let slotReleases = 0;
  const quotaKey = (tenant: string, actor: string | null): string =>
    actor === null ? `t\u0000${tenant}` : `a\u0000${tenant}\u0000${actor}`;

  function parkForSlot(key: string, jobId: string): void {
    let set = slotWaiters.get(key);
    if (set === undefined) {
      set = new Set();
      slotWaiters.set(key, set);
    }
    set.add(jobId);
    if (set.size > MAX_SLOT_WAITERS) {
      const oldest = set.values().next();
      if (oldest.done !== true) set.delete(oldest.value);
    }
  }

  /** Hands a freed slot to one job still waiting on this quota (skipping any that moved on meanwhile). */
  function wakeSlotWaiter(key: string): void {
    const set = slotWaiters.get(key);
    const next = set?.values().next();
    if (set === undefined || next === undefined || next.done === true) return;
    const id = next.value;
    set.delete(id);
    if (set.size === 0) slotWaiters.delete(key);
    void (async () => {
      const job = await jobs.get(id);
      if (job === undefined || (job.waitReason !== 'tenant_limit' && job.waitReason !== 'actor_limit')) {
        wakeSlotWaiter(key);
        return;
      }
      await advance(id, job);
    })().catch((err: unknown) => logger.warn({ job_id: id, err: toError(err).message }, 'wake-up failed; the due time retries'));
  }

  /** This instance ended a job that held a slot (the store released it in the same write). */
  function slotFreed(job: JobRecord): void {
    slotReleases++;
    if (slotWaiters.size === 0) return;
    const actor = actorOf(decodeRequest(job));
    if (actor !== '') wakeSlotWaiter(quotaKey(job.tenant, actor));
    wakeSlotWaiter(quotaKey(job.tenant, null));
  }

  const enc = (packet: BusPacket): Uint8Array => encodePacket(packet);
  // Effective config documents are cached (and shared by every job of a scope) for a short TTL: their JSON
  // is made once per cached document, not once per job.
  const effectiveJson = new WeakMap<object, { text: string; bytes: Uint8Array }>();
  function jsonOf(data: Record<string, JsonValue>): { text: string; bytes: Uint8Array } {
    let hit = effectiveJson.get(data);
    if (hit === undefined) {
      const text = JSON.stringify(data);
      hit = { text, bytes: new TextEncoder().encode(text) };
      effectiveJson.set(data, hit);
    }
    return hit;
  }

  const now = (): number => deps.storeClock.now();
  /** Log lines about a job carry its trace id, job id and tenant. */
  const logFor = (job: Pick<JobRecord, 'id' | 'traceId' | 'tenant'>): Logger =>
    withContext(logger, { traceId: job.traceId, jobId: job.id, tenant: job.tenant });

  /** A CAS that may lose: returns the new record, or undefined when another writer moved the job first. */
  async function cas(
    job: Pick<JobRecord, 'id' | 'version'>,
    from: JobState | readonly JobState[],
    to: JobState,
    patch: JobPatch,
    /** The event's reason; undefined writes a same-state patch without an event. */
    reason: string | undefined,
    expectVersion = false,
    via?: { state: JobState; reason: string },
    slot?: SlotRequest,
  ): Promise<JobRecord | undefined> {
    try {
      const moved = await jobs.transition(job.id, {
        from,
        to,
        patch,
        actor,
        ...(reason === undefined ? {} : { reason }),
        ...(expectVersion ? { expectedVersion: job.version } : {}),
        ...(via === undefined ? {} : { via }),
        ...(slot === undefined ? {} : { slot }),
        // A workflow job's outcome, for the engine's run write to confirm (see ringWorkflow).
        ...(isTerminalJobState(to) && looksLikeWorkflowJobId(job.id) ? { fence: jobFinalFence(job.id) } : {}),
      });
      if (isTerminalJobState(to)) await ringWorkflow(moved);
      return moved;
    } catch (err) {
      if (isCordumError(err) && (err.code === 'state_conflict' || err.code === 'not_found')) {
        metrics.casLost.inc();
        return undefined;
      }
      throw err;
    }
  }

  /**
   * After the terminal write of a workflow job: the job-final doorbell on sys.workflow.command, with the
   * outcome just written, so a workflow engine that got the job's sys.job.result before this write (and found
   * it not terminal) acts now instead of polling. The write raised the job's final fence with that outcome,
   * which the engine's run write requires. Best effort: the engine's own fallback and reconciler cover a
   * lost doorbell.
   */
  async function ringWorkflow(done: JobRecord): Promise<void> {
    const command = jobFinalCommand(done);
    if (command === undefined) return;
    await bus.publish(Subjects.workflowCommand, encodeWorkflowCommand(command)).catch((err: unknown) => {
      logFor(done).warn({ err: toError(err).message }, 'could not ring the workflow engine after a terminal write');
    });
  }

  async function publishResult(job: JobRecord, state: JobState, errorCode: ErrorCode, reasonCode: string, message: string, resultPtr = ''): Promise<void> {
    const packet = newPacket({
      traceId: job.traceId,
      senderId: options.instanceId,
      payload: {
        case: 'jobResult',
        value: {
          jobId: job.id,
          status: jobStateToStatus(state),
          resultPtr,
          workerId: job.workerId ?? '',
          errorCode: reasonCode === '' ? errorCodeToString(errorCode) : reasonCode,
          errorCodeEnum: errorCode,
          errorMessage: message,
        },
      },
    });
    await bus.publish(Subjects.jobResult, enc(packet), { msgId: `result:${job.id}:${state}` }).catch((err: unknown) => {
      // The store already holds the outcome; the workflow engine's reconciler reads it from there.
      logFor(job).warn({ err: toError(err).message }, 'could not publish the job outcome');
    });
  }

  /** Moves a job to a terminal state decided here, then DLQs and publishes it as asked. */
  async function finish(
    job: JobRecord,
    from: JobState | readonly JobState[],
    state: JobState,
    info: {
      reasonCode: string;
      errorCode: ErrorCode;
      message: string;
      dlq: boolean;
      cancelWorker?: boolean;
      resultPtr?: string;
      /** Merged into the job's data in the same write (e.g. the decision that ended it). */
      data?: Record<string, JsonValue | null>;
      /** Also require the job's version (the decision was made from this very record, e.g. its lease). */
      expectVersion?: boolean;
    },
  ): Promise<JobRecord | undefined> {
    const done = await cas(
      job,
      from,
      state,
      {
        errorCode: info.reasonCode,
        errorMessage: info.message,
        leaseExpiresAt: null,
        dueAt: null,
        waitReason: null,
        ...(info.resultPtr === undefined ? {} : { resultPtr: info.resultPtr }),
        ...(info.data === undefined ? {} : { data: info.data }),
      },
      info.reasonCode,
      info.expectVersion === true,
    );
    if (done === undefined) return undefined;
    metrics.terminal.inc({ state, topic: job.topic });
    if (IN_FLIGHT.includes(job.state)) slotFreed(done);
    if (info.cancelWorker === true) await publishCancel(done, info.message);
    if (info.dlq) {
      metrics.dlq.inc({ reason: info.reasonCode });
      await deps.dlq
        .put({
          jobId: done.id,
          tenant: done.tenant,
          topic: done.topic,
          status: state,
          reasonCode: info.reasonCode,
          reason: info.message,
          errorCode: info.errorCode,
          lastState: job.state,
          attempts: done.attempts,
          data: {
            request: done.data['request'] ?? null,
            labels: { ...done.labels },
            trace_id: done.traceId,
            ...(done.data['decision'] === undefined ? {} : { decision: done.data['decision'] }),
          },
        })
        .catch((err: unknown) => logFor(done).error({ err: toError(err).message }, 'DLQ write failed'));
      const dlqPacket = newPacket({
        traceId: done.traceId,
        senderId: options.instanceId,
        payload: {
          case: 'jobResult',
          value: {
            jobId: done.id,
            status: jobStateToStatus(state),
            workerId: done.workerId ?? '',
            errorCode: info.reasonCode,
            errorCodeEnum: info.errorCode,
            errorMessage: info.message,
          },
        },
      });
      await bus.publish(Subjects.jobDlq, enc(dlqPacket)).catch(() => undefined);
    }
    await publishResult(done, state, info.errorCode, info.reasonCode, info.message, info.resultPtr ?? '');
    return done;
  }

  /** Tells workers to stop the job, or only its current attempt (`attemptOnly`: the job goes on). */
  async function publishCancel(job: JobRecord, reason: string, attemptOnly = false): Promise<void> {
    const packet = newPacket({
      traceId: job.id,
      senderId: options.instanceId,
      payload: { case: 'jobCancel', value: { jobId: job.id, reason, requestedBy: actor } },
    });
    const headers = attemptOnly ? { [CANCEL_ATTEMPT_HEADER]: String(job.attempts) } : undefined;
    await bus.publish(Subjects.jobCancel, enc(packet), headers === undefined ? {} : { headers }).catch(() => undefined);
  }

  /** Keeps a job waiting: a due time in the store and a machine-readable reason, never an unacked message. */
  async function wait(job: JobRecord, reason: NonNullable<JobRecord['waitReason']>, delayMs: number, extra: JobPatch = {}): Promise<void> {
    metrics.waits.inc({ reason });
    await cas(job, job.state, job.state, { ...extra, waitReason: reason, dueAt: now() + delayMs }, reason, true);
  }

  function policyOf(job: JobRecord, request: JobRequest, constraints: PolicyCheckResponse['constraints']): AttemptPolicy {
    const tables = deps.routing.current();
    const topic = timeoutsForTopic(tables.timeouts, job.topic);
    const constraintRetries = constraints?.budgets?.maxRetries;
    return attemptPolicy({
      topicTimeoutMs: topic.timeoutMs,
      topicMaxRetries: topic.maxRetries,
      constraintMaxRetries: constraintRetries === undefined || constraintRetries === 0 ? undefined : constraintRetries,
      defaultLeaseMs: tables.timeouts.reconciler.dispatchTimeoutMs || options.defaultLeaseMs,
      defaultMaxRetries: options.defaultMaxRetries,
      workflowJob: request.workflowId !== '' || job.labels['run_id'] !== undefined,
    });
  }

  // ---- the decision pipeline ----------------------------------------------------------------------

  async function decide(job: JobRecord): Promise<void> {
    const request = decodeRequest(job);
    // The budget deadline counts from submission, waits included: it is stored with the first wait, so the
    // reconciler times out a job that waits (for approval, a throttle, the kernel) past it.
    const deadlineAt = deadlineOf(job, request);
    if (deadlineAt !== null && deadlineAt <= now()) {
      await deadlinePassed(job);
      return;
    }
    const keep: JobPatch = deadlineAt === job.deadlineAt ? {} : { deadlineAt };
    const effective = await deps.effective.read({
      tenant: job.tenant,
      team: request.env['team_id'] ?? job.labels['team_id'] ?? '',
      workflow: request.workflowId,
      step: request.env['step_id'] ?? '',
    });

    let response: PolicyCheckResponse;
    try {
      response = await deps.pdp.check(
        create(PolicyCheckRequestSchema, {
          jobId: job.id,
          topic: job.topic,
          tenant: job.tenant,
          priority: request.priority,
          principalId: request.principalId,
          labels: { ...request.labels },
          memoryId: request.memoryId,
          effectiveConfig: jsonOf(effective.data).bytes,
          ...(request.budget === undefined ? {} : { budget: request.budget }),
          ...(request.meta === undefined ? {} : { meta: request.meta }),
        }),
      );
    } catch (err) {
      if (!isRetryable(err)) {
        // The decision point answered and refused to decide on this job (e.g. a request it cannot read): asking
        // again gets the same answer, so the job ends here, closed, instead of being re-checked every tick.
        await finish(job, 'PENDING', 'DENIED', {
          reasonCode: 'safety_error',
          errorCode: ErrorCode.SAFETY_POLICY_VIOLATION,
          message: `the policy decision point refused the job: ${toError(err).message}`,
          dlq: true,
          data: { safety_failures: null },
        });
        return;
      }
      // Fail closed: the job waits and is checked again; an outage is never an allow.
      const failures = (typeof job.data['safety_failures'] === 'number' ? job.data['safety_failures'] : 0) + 1;
      logFor(job).warn(
        { err: toError(err).message, failures },
        'safety kernel unavailable; job waits',
      );
      await wait(job, 'safety_unavailable', backoffDelay(failures, options.safetyBackoff), { ...keep, data: { safety_failures: failures } });
      return;
    }
    const decision: Decision = {
      decision: DecisionType[response.decision] ?? String(response.decision),
      rule_id: response.ruleId,
      reason: response.reason,
      snapshot: response.policySnapshot,
      constraints: response.constraints === undefined ? null : toJson(PolicyConstraintsSchema, response.constraints),
      redacted_context_ptr: response.redactedContextPtr,
      checked_at: now(),
    };
    metrics.decisions.inc({ decision: decision.decision });
    const record = { decision, safety_failures: null };

    switch (response.decision) {
      case DecisionType.DENY:
      case DecisionType.QUARANTINE:
        await finish(job, 'PENDING', 'DENIED', {
          reasonCode: 'safety_denied',
          errorCode: ErrorCode.SAFETY_DENIED,
          message: response.reason === '' ? `denied by policy rule ${response.ruleId}` : response.reason,
          dlq: true,
          data: record,
        });
        return;
      case DecisionType.THROTTLE:
        await wait(job, 'throttled', options.throttleDelayMs, { ...keep, data: record });
        return;
      case DecisionType.REQUIRE_HUMAN: {
        if (await approvalHolds(job, request, response)) break;
        metrics.waits.inc({ reason: 'awaiting_approval' });
        const context = await readContext(request).catch(() => new Uint8Array(0));
        await cas(
          job,
          'PENDING',
          'APPROVAL_REQUIRED',
          {
            ...keep,
            waitReason: 'awaiting_approval',
            dueAt: null,
            data: { ...record, job_hash: computeJobHash(request, context), approval: null },
          },
          response.reason === '' ? 'approval required by policy' : response.reason,
          // Versioned: an instance deciding from a stale read must not wipe an approval written since (the
          // job can be PENDING again by then: held, approved, back to PENDING).
          true,
        );
        return;
      }
      case DecisionType.ALLOW:
      case DecisionType.ALLOW_WITH_CONSTRAINTS:
      case DecisionType.REDACT:
        break;
      case DecisionType.UNSPECIFIED:
      default:
        await finish(job, 'PENDING', 'DENIED', {
          reasonCode: 'safety_unknown',
          errorCode: ErrorCode.SAFETY_POLICY_VIOLATION,
          message: `unknown policy decision ${response.decision}`,
          dlq: true,
          data: record,
        });
        return;
    }

    // Quotas: the slot is taken by the write that schedules the job (below), atomically in the store.
    const slot: SlotAsk = {
      request: slotRequest(request, response.constraints, effective.data),
      seen: slotReleases,
      keep: { ...keep, data: record },
    };
    const seen = capacityEvents;
    const routed = route(
      { topic: job.topic, requires: request.meta?.requires ?? [], labels: request.labels },
      deps.routing.current().pools,
      deps.registry.live(deps.clock.now()),
    );
    switch (routed.kind) {
      case 'fail':
        await finish(job, 'PENDING', 'FAILED', {
          reasonCode: routed.reason,
          errorCode: ErrorCode.JOB_WORKER_UNAVAILABLE,
          message: routed.message,
          dlq: true,
        });
        return;
      case 'wait':
        await waitForCapacity(job, routed.reason, routed.pool, record, seen, slot, keep);
        return;
      case 'dispatch':
        await dispatch(job, request, routed, response, effective.data, record, slot);
        return;
    }
  }

  /** The slot a job asks for: its actor and the tenant and actor limits that apply to it. */
  function slotRequest(
    request: JobRequest,
    constraints: PolicyCheckResponse['constraints'],
    effective: Record<string, JsonValue>,
  ): SlotRequest {
    return quotaLimits({ actor: actorOf(request), constraintLimit: constraints?.budgets?.maxConcurrentJobs ?? 0, effective });
  }

  /**
   * Runs the write that schedules a job with its slot; a refused slot (quota_exceeded) becomes a wait. Returns
   * the written record, or undefined when the write lost or the job now waits for a slot.
   */
  async function withSlot(job: JobRecord, slot: SlotAsk, write: (slot: SlotRequest) => Promise<JobRecord | undefined>): Promise<JobRecord | undefined> {
    try {
      return await write(slot.request);
    } catch (err) {
      if (!isCordumError(err) || err.code !== 'quota_exceeded') throw err;
      await waitForSlot(job, err, slot);
      return undefined;
    }
  }

  /** The tenant or the actor holds its limit: a due time, and an early wake-up when this instance frees a slot. */
  async function waitForSlot(job: JobRecord, err: CordumError, slot: SlotAsk): Promise<void> {
    const byActor = err.details['scope'] === 'actor';
    const reason = byActor ? 'actor_limit' : 'tenant_limit';
    metrics.waits.inc({ reason });
    // One event when the wait starts, not one per retry: a long wait must not push the job's history out.
    const waiting = await cas(
      job,
      job.state,
      job.state,
      { ...slot.keep, waitReason: reason, dueAt: now() + options.waitRetryMs },
      job.waitReason === reason ? undefined : err.message,
      true,
    );
    if (waiting === undefined) return;
    const key = quotaKey(job.tenant, byActor ? (slot.request.actor ?? null) : null);
    parkForSlot(key, job.id);
    // A slot freed here while this job was being refused found nobody parked: hand it over now.
    if (slotReleases !== slot.seen) wakeSlotWaiter(key);
  }

  /**
   * Policy allowed the job but no worker slot is free: it waits in SCHEDULED (allowed, not yet dispatched), so
   * the wake-up dispatches it without asking policy again.
   */
  async function waitForCapacity(
    job: JobRecord,
    reason: 'pool_overloaded' | 'no_workers',
    pool: string,
    record: Record<string, JsonValue | null>,
    seen: number,
    slot: SlotAsk,
    keep: JobPatch = {},
  ): Promise<void> {
    const waiting = await withSlot(job, slot, (request) =>
      cas(
        job,
        ['PENDING', 'SCHEDULED'],
        'SCHEDULED',
        { ...keep, waitReason: reason, dueAt: now() + options.waitRetryMs, leaseExpiresAt: null, data: record },
        job.state === 'SCHEDULED' ? '' : reason,
        true,
        undefined,
        request,
      ),
    );
    if (waiting === undefined) return;
    metrics.waits.inc({ reason });
    park(pool, job.id);
    if (capacityEvents !== seen) wake(pool, 1);
  }

  /** An approval holds only if the gateway recorded it for exactly this job and this policy snapshot. */
  async function approvalHolds(job: JobRecord, request: JobRequest, response: PolicyCheckResponse): Promise<boolean> {
    const approval = job.data['approval'];
    if (approval === null || typeof approval !== 'object' || Array.isArray(approval)) return false;
    const { job_hash: hash, policy_snapshot: snapshot } = approval;
    if (snapshot !== response.policySnapshot) return false;
    const context = await readContext(request).catch(() => undefined);
    return context !== undefined && hash === computeJobHash(request, context);
  }

  async function readContext(request: JobRequest): Promise<Uint8Array> {
    if (request.contextPtr === '') return new Uint8Array(0);
    return (await deps.pointers.require(request.contextPtr)).bytes;
  }

  async function dispatch(
    job: JobRecord,
    request: JobRequest,
    target: { subject: string; pool: string; workerId: string | null },
    response: PolicyCheckResponse | undefined,
    effective: Record<string, JsonValue>,
    record: Record<string, JsonValue | null>,
    slot: SlotAsk,
  ): Promise<void> {
    const constraints = response?.constraints;
    const attempts = policyOf(job, request, constraints);
    const at = now();
    const attempt = job.attempts + 1;
    let deadlineAt = deadlineOf(job, request);
    const maxRuntime = Number(constraints?.budgets?.maxRuntimeMs ?? 0n);
    if (maxRuntime > 0 && job.attempts === 0) deadlineAt = Math.min(deadlineAt ?? Number.MAX_SAFE_INTEGER, at + maxRuntime);

    // Store the attempt's lease before anything is published: a crash after this point is recovered by the
    // lease expiring, and of several instances racing here only the CAS winner publishes. One write passes
    // through SCHEDULED (the attempt) to DISPATCHED (about to be published), recording both steps.
    const dispatched = await withSlot(job, slot, (request) => cas(
      job,
      ['PENDING', 'SCHEDULED'],
      'DISPATCHED',
      {
        incrementAttempts: true,
        leaseExpiresAt: at + attempts.leaseMs,
        dueAt: null,
        waitReason: null,
        deadlineAt,
        workerId: target.workerId,
        data: {
          ...record,
          dispatch: {
            subject: target.subject,
            pool: target.pool,
            worker_id: target.workerId,
            attempt,
            lease_ms: attempts.leaseMs,
            at,
          },
        },
      },
      `dispatching to ${target.subject}`,
      true,
      { state: 'SCHEDULED', reason: `attempt ${attempt} to ${target.subject}` },
      request,
    ));
    if (dispatched === undefined) return;

    const out = create(JobRequestSchema, request);
    out.env = { ...request.env, ...dispatchEnv(attempt, attempts, constraints, effective, response) };
    if (response !== undefined && response.redactedContextPtr !== '') out.contextPtr = response.redactedContextPtr;
    const packet = newPacket({ traceId: job.traceId, senderId: options.instanceId, payload: { case: 'jobRequest', value: out } });
    try {
      await bus.publish(target.subject, enc(packet), { msgId: dispatchMsgId(job.id, attempt) });
    } catch (err) {
      // The lease is stored: when it expires the attempt is retried. Nothing is lost.
      logFor(job).warn({ subject: target.subject, err: toError(err).message }, 'dispatch publish failed');
      return;
    }
    if (target.workerId !== null) deps.registry.noteDispatch(target.workerId);
    metrics.dispatched.inc({ topic: job.topic, pool: target.pool });
    metrics.dispatchLatency.observe((at - job.createdAt) / 1000);
  }

  function dispatchEnv(
    attempt: number,
    attempts: AttemptPolicy,
    constraints: PolicyCheckResponse['constraints'],
    effective: Record<string, JsonValue>,
    response: PolicyCheckResponse | undefined,
  ): Record<string, string> {
    const env: Record<string, string> = {
      CORDUM_ATTEMPT: String(attempt),
      CORDUM_LEASE_MS: String(attempts.leaseMs),
      CORDUM_EFFECTIVE_CONFIG: jsonOf(effective).text,
    };
    if (response !== undefined) {
      env['CORDUM_POLICY_SNAPSHOT'] = response.policySnapshot;
      if (response.ruleId !== '') env['CORDUM_POLICY_RULE'] = response.ruleId;
    }
    if (constraints !== undefined) {
      env['CORDUM_POLICY_CONSTRAINTS'] = JSON.stringify(toJson(PolicyConstraintsSchema, constraints));
      const b = constraints.budgets;
      if (b !== undefined) {
        if (b.maxRuntimeMs > 0n) env['CORDUM_MAX_RUNTIME_MS'] = String(b.maxRuntimeMs);
        if (b.maxRetries > 0) env['CORDUM_MAX_RETRIES'] = String(b.maxRetries);
        if (b.maxArtifactBytes > 0n) env['CORDUM_MAX_ARTIFACT_BYTES'] = String(b.maxArtifactBytes);
        if (b.maxConcurrentJobs > 0) env['CORDUM_MAX_CONCURRENT_JOBS'] = String(b.maxConcurrentJobs);
      }
      if (constraints.redactionLevel !== '') env['CORDUM_REDACTION_LEVEL'] = constraints.redactionLevel;
    }
    return env;
  }

  // ---- advancing a job (intake, timers) ----------------------------------------------------------

  /** Moves a job on from wherever it is. Pass the record when the caller just read or wrote it. */
  async function advance(id: string, known?: JobRecord): Promise<void> {
    const job = known ?? (await jobs.get(id));
    if (job === undefined || isTerminalJobState(job.state)) return;
    switch (job.state) {
      case 'PENDING':
        await decide(job);
        return;
      case 'SCHEDULED':
        if (job.leaseExpiresAt === null) {
          // Waiting out a retry backoff: dispatch the next attempt without asking policy again.
          await redispatch(job);
        } else if (job.leaseExpiresAt <= now()) {
          await leaseExpired(job);
        }
        return;
      case 'DISPATCHED':
      case 'RUNNING':
        if (job.data['pending_result'] !== undefined) await settleSuccess(job, job.data['pending_result'] as ResultFields);
        else if (job.leaseExpiresAt !== null && job.leaseExpiresAt <= now()) await leaseExpired(job);
        return;
      case 'APPROVAL_REQUIRED':
        return;
      case 'SUCCEEDED':
      case 'FAILED':
      case 'CANCELLED':
      case 'TIMEOUT':
      case 'DENIED':
        return;
    }
  }

  async function redispatch(job: JobRecord): Promise<void> {
    const request = decodeRequest(job);
    const stored = storedResponse(job);
    const effective = await deps.effective.read({
      tenant: job.tenant,
      team: request.env['team_id'] ?? '',
      workflow: request.workflowId,
      step: request.env['step_id'] ?? '',
    });
    // A job in SCHEDULED already holds its slot (the store keeps it, nothing is checked); asked for anyway,
    // so a job scheduled without one (before quotas existed) gets one or waits.
    const slot: SlotAsk = { request: slotRequest(request, stored?.constraints, effective.data), seen: slotReleases, keep: {} };
    const seen = capacityEvents;
    const routed = route(
      { topic: job.topic, requires: request.meta?.requires ?? [], labels: request.labels },
      deps.routing.current().pools,
      deps.registry.live(deps.clock.now()),
    );
    if (routed.kind === 'fail') {
      await finish(job, 'SCHEDULED', 'FAILED', {
        reasonCode: routed.reason,
        errorCode: ErrorCode.JOB_WORKER_UNAVAILABLE,
        message: routed.message,
        dlq: true,
      });
      return;
    }
    if (routed.kind === 'wait') {
      await waitForCapacity(job, routed.reason, routed.pool, {}, seen, slot);
      return;
    }
    await dispatch(job, request, routed, stored, effective.data, {}, slot);
  }

  /** The policy decision recorded on the job, as a response (for retries of an already-allowed job). */
  function storedResponse(job: JobRecord): PolicyCheckResponse | undefined {
    const d = job.data['decision'];
    if (d === null || typeof d !== 'object' || Array.isArray(d)) return undefined;
    const constraints = d['constraints'];
    try {
      return create(PolicyCheckResponseSchema, {
        decision: DecisionType.ALLOW,
        reason: text(d['reason']),
        redactedContextPtr: text(d['redacted_context_ptr']),
        policySnapshot: text(d['snapshot']),
        ruleId: text(d['rule_id']),
        ...(constraints === null || constraints === undefined
          ? {}
          : { constraints: fromJson(PolicyConstraintsSchema, constraints) }),
      });
    } catch {
      return undefined;
    }
  }

  async function leaseExpired(job: JobRecord): Promise<void> {
    metrics.leaseExpiries.inc({ topic: job.topic });
    const request = decodeRequest(job);
    const outcome = outcomeOfLostAttempt(job.attempts, policyOf(job, request, storedResponse(job)?.constraints), options.retryBackoff);
    // From this very record: a JobProgress that renewed the lease meanwhile wins, and only the instance whose
    // write won tells the worker to stop the lost attempt.
    if (await apply(job, IN_FLIGHT, outcome, undefined, true)) await publishCancel(job, 'attempt lease expired', true);
  }

  async function deadlinePassed(job: JobRecord): Promise<void> {
    await finish(job, job.state, 'TIMEOUT', {
      reasonCode: 'deadline_exceeded',
      errorCode: ErrorCode.JOB_TIMEOUT,
      message: 'the job ran past its budget deadline',
      dlq: true,
      cancelWorker: IN_FLIGHT.includes(job.state),
    });
  }

  /** Applies an attempt's outcome; true when this write moved the job. */
  async function apply(job: JobRecord, from: readonly JobState[], outcome: Outcome, resultPtr?: string, expectVersion = false): Promise<boolean> {
    switch (outcome.kind) {
      case 'retry': {
        const retried = await cas(
          job,
          from,
          'SCHEDULED',
          {
            leaseExpiresAt: null,
            dueAt: now() + outcome.delayMs,
            waitReason: 'backoff_until',
            errorCode: outcome.reasonCode,
            errorMessage: outcome.message,
          },
          `retry in ${outcome.delayMs} ms: ${outcome.reasonCode}`,
          true,
        );
        if (retried !== undefined) metrics.retries.inc({ topic: job.topic, reason: outcome.reasonCode });
        return retried !== undefined;
      }
      case 'finish': {
        const done = await finish(job, from, outcome.state, {
          reasonCode: outcome.reasonCode,
          errorCode: outcome.errorCode,
          message: outcome.message,
          dlq: outcome.dlq,
          expectVersion,
          ...(resultPtr === undefined ? {} : { resultPtr }),
        });
        return done !== undefined;
      }
      case 'succeed':
      case 'progress':
        return false;
    }
  }

  // ---- results, progress, cancel -----------------------------------------------------------------

  async function onResult(r: ResultFields): Promise<void> {
    if ((r.status as JobStatus) === JobStatus.SUCCEEDED && deps.outputPolicy === undefined) {
      // The common case needs no read first: the CAS itself checks the job is in flight.
      const done = await cas(
        { id: r.job_id, version: 0 },
        IN_FLIGHT,
        'SUCCEEDED',
        { resultPtr: r.result_ptr, leaseExpiresAt: null, dueAt: null, waitReason: null, ...(r.worker_id === '' ? {} : { workerId: r.worker_id }) },
        'succeeded',
      );
      if (done !== undefined) {
        metrics.terminal.inc({ state: 'SUCCEEDED', topic: done.topic });
        slotFreed(done);
        if (done.workerId !== null) {
          deps.registry.noteCompletion(done.workerId);
          capacityChanged(done.workerId);
        }
        await stopNewerAttempt(done, r);
        return;
      }
      // Lost: unknown, already terminal or not dispatched — the full path below says which.
    }
    const job = await jobs.get(r.job_id);
    if (job === undefined) {
      logger.warn({ job_id: r.job_id }, 'result for an unknown job ignored');
      return;
    }
    if (isTerminalJobState(job.state)) {
      metrics.lateResults.inc();
      logFor(job).info({ state: job.state, status: JobStatus[r.status] }, 'result after the job ended; ignored');
      return;
    }
    if (!IN_FLIGHT.includes(job.state)) {
      logFor(job).warn({ state: job.state }, 'result for a job that was never dispatched; ignored');
      return;
    }
    const status = r.status as JobStatus;
    const worker = r.worker_id !== '' ? r.worker_id : job.workerId;
    if (worker !== null && worker !== '' && status !== JobStatus.RUNNING) {
      deps.registry.noteCompletion(worker);
      capacityChanged(worker);
    }
    if (status === JobStatus.SUCCEEDED) {
      await settleSuccess(job, r);
      return;
    }
    // Anything but a success from an attempt this scheduler already gave up on (its lease expired: the job
    // waits for, or runs, a newer attempt) says nothing about the job. Above all, a worker reports the
    // attempt-scoped cancel sent at lease expiry as CANCELLED: applied to the job, it would cancel it.
    if (job.state === 'SCHEDULED' || (r.attempt > 0 && r.attempt !== job.attempts)) {
      metrics.lateResults.inc();
      logFor(job).info(
        { attempt: r.attempt || undefined, current_attempt: job.attempts, status: JobStatus[status] },
        'result of an abandoned attempt ignored',
      );
      return;
    }
    const request = decodeRequest(job);
    const code = effectiveErrorCode({ errorCodeEnum: r.error_code_enum, errorCode: r.error_code });
    const outcome = outcomeOfResult(
      { status, errorCode: code, errorCodeText: r.error_code, errorMessage: r.error_message, attempts: job.attempts },
      policyOf(job, request, storedResponse(job)?.constraints),
      options.retryBackoff,
    );
    if (outcome.kind === 'progress') {
      await renewLease(job, r.worker_id);
      return;
    }
    await apply(job, IN_FLIGHT, outcome, r.result_ptr === '' ? undefined : r.result_ptr);
  }

  /** A SUCCEEDED result passes the output policy before it is final; an unreachable policy makes it wait. */
  async function settleSuccess(job: JobRecord, r: ResultFields): Promise<void> {
    let resultPtr = r.result_ptr;
    if (deps.outputPolicy !== undefined) {
      let content: Uint8Array = new Uint8Array(0);
      let contentType = '';
      // The whole size, even when only the first outputCheckMaxBytes travel: the output policy then knows it
      // has a prefix and reads the rest itself.
      let size = 0;
      if (resultPtr !== '') {
        const payload = await deps.pointers.get(resultPtr).catch(() => undefined);
        if (payload !== undefined) {
          size = payload.bytes.byteLength;
          content = payload.bytes.subarray(0, options.outputCheckMaxBytes);
          contentType = payload.contentType;
        }
      }
      let verdict;
      try {
        verdict = await deps.outputPolicy.checkOutput(
          create(OutputCheckRequestSchema, {
            jobId: job.id,
            topic: job.topic,
            tenant: job.tenant,
            labels: { ...job.labels },
            resultPtr,
            artifactPtrs: r.artifact_ptrs,
            workerId: r.worker_id,
            executionMs: BigInt(r.execution_ms),
            outputSizeBytes: BigInt(size),
            outputContent: content,
            contentType,
          }),
        );
      } catch (err) {
        if (!isRetryable(err)) {
          // Refused, not unreachable: never passed unchecked, and not re-checked every tick either.
          await finish(job, IN_FLIGHT, 'FAILED', {
            reasonCode: 'safety_error',
            errorCode: ErrorCode.SAFETY_POLICY_VIOLATION,
            message: `the output policy refused the result: ${toError(err).message}`,
            dlq: true,
            resultPtr,
            data: { pending_result: null },
          });
          return;
        }
        logFor(job).warn({ err: toError(err).message }, 'output policy unavailable; result waits');
        await wait(job, 'safety_unavailable', backoffDelay(1, options.safetyBackoff), { data: { pending_result: r } });
        return;
      }
      if (verdict.decision === OutputDecision.QUARANTINE) {
        await finish(job, IN_FLIGHT, 'FAILED', {
          reasonCode: 'output_quarantined',
          errorCode: ErrorCode.SAFETY_POLICY_VIOLATION,
          message: verdict.reason === '' ? 'output quarantined by policy' : verdict.reason,
          dlq: true,
          resultPtr,
        });
        return;
      }
      if (verdict.decision === OutputDecision.REDACT && verdict.redactedPtr !== '') resultPtr = verdict.redactedPtr;
    }
    const done = await cas(
      job,
      IN_FLIGHT,
      'SUCCEEDED',
      {
        resultPtr,
        workerId: r.worker_id === '' ? job.workerId : r.worker_id,
        leaseExpiresAt: null,
        dueAt: null,
        waitReason: null,
        data: { pending_result: null },
      },
      'succeeded',
    );
    if (done === undefined) return;
    metrics.terminal.inc({ state: 'SUCCEEDED', topic: job.topic });
    slotFreed(done);
    await stopNewerAttempt(done, r);
    // Workflows wait on sys.job.result: when the stored pointer differs from the worker's (redacted), say so.
    if (resultPtr !== r.result_ptr) await publishResult(done, 'SUCCEEDED', ErrorCode.UNSPECIFIED, '', '', resultPtr);
  }

  /** An abandoned attempt succeeded after all: the job is done, so its newer attempt (if one runs) stops. */
  async function stopNewerAttempt(done: JobRecord, r: ResultFields): Promise<void> {
    if (r.attempt > 0 && r.attempt < done.attempts) await publishCancel(done, `job ${done.id} succeeded on attempt ${r.attempt}`, true);
  }

  async function renewLease(job: JobRecord, workerId: string): Promise<void> {
    if (job.leaseExpiresAt === null) return; // waiting for a retry: progress of the lost attempt
    const leaseMs = numberAt(job.data, ['dispatch', 'lease_ms']) || options.defaultLeaseMs;
    // Versioned, from the record just read: a lease expiry handled meanwhile (the job back in SCHEDULED, or
    // already on its next attempt) is not undone by the lost attempt's late progress.
    await cas(
      job,
      ['DISPATCHED', 'RUNNING'],
      'RUNNING',
      { leaseExpiresAt: now() + leaseMs, ...(workerId === '' ? {} : { workerId }) },
      job.state === 'RUNNING' ? '' : 'worker reported progress',
      true,
    );
  }

  async function onProgress(jobId: string, workerId: string): Promise<void> {
    const job = await jobs.get(jobId);
    if (job === undefined || !IN_FLIGHT.includes(job.state)) return;
    await renewLease(job, workerId);
  }

  async function onCancel(jobId: string, reason: string, requestedBy: string): Promise<void> {
    // The cancel message is consumed here and nothing else brings it back: a CAS lost to a concurrent move
    // (progress, a dispatch, a retry) is retried on the new state until the job ends one way or the other.
    for (let tries = 0; tries < 10; tries++) {
      const job = await jobs.get(jobId);
      if (job === undefined || isTerminalJobState(job.state)) return;
      const done = await finish(job, job.state, 'CANCELLED', {
        reasonCode: 'cancelled',
        errorCode: ErrorCode.UNSPECIFIED,
        message: reason === '' ? `cancelled by ${requestedBy || 'request'}` : reason,
        dlq: false,
      });
      if (done !== undefined) return;
    }
    logger.warn({ job_id: jobId }, 'cancel lost every compare-and-set; the job was not cancelled');
  }

  // ---- timers ------------------------------------------------------------------------------------

  let lastSlotRepair: number | undefined;

  /** Leak repair of quota slots (a record lost outside the store's writes), every slotRepairMs. */
  async function repairSlots(): Promise<void> {
    const at = deps.clock.now();
    if (lastSlotRepair !== undefined && at - lastSlotRepair < options.slotRepairMs) return;
    lastSlotRepair = at;
    const released = await jobs.repairSlots();
    if (released > 0) {
      metrics.slotsRepaired.inc(released);
      logger.warn({ released }, 'released quota slots held by jobs that no longer run');
    }
  }

  async function tick(): Promise<void> {
    await deps.storeClock.sync();
    const lost = deps.registry.expire(deps.clock.now());
    if (lost.length > 0) logger.warn({ workers: lost }, 'workers lost (no heartbeat); their leases expire as reported');
    const [due, leases, deadlines] = await Promise.all([
      jobs.listTimers('due', { limit: options.timerBatch }),
      jobs.listTimers('lease', { limit: options.timerBatch }),
      jobs.listTimers('deadline', { limit: options.timerBatch }),
    ]);
    const work: Promise<void>[] = [];
    for (const d of deadlines) {
      work.push(
        jobs.get(d.id).then(async (job) => {
          if (job !== undefined && !isTerminalJobState(job.state) && job.deadlineAt !== null && job.deadlineAt <= now()) {
            await deadlinePassed(job);
          }
        }),
      );
    }
    // A job can be on both lists (a result waiting for the output policy has a due time and a lease): once.
    for (const id of new Set([...due, ...leases].map((d) => d.id))) work.push(advance(id));
    work.push(repairSlots());
    const results = await Promise.allSettled(work);
    for (const r of results) {
      if (r.status === 'rejected') logger.warn({ err: toError(r.reason).message }, 'timer action failed; retried next tick');
    }
    metrics.reconcilerActions.inc({ kind: 'due' }, due.length);
    metrics.reconcilerActions.inc({ kind: 'lease' }, leases.length);
    metrics.reconcilerActions.inc({ kind: 'deadline' }, deadlines.length);
  }

  return { advance, onResult, onProgress, onCancel, tick, now, capacityChanged };
}

export type Engine = ReturnType<typeof createEngine>;

/** The job's budget deadline: as stored, else budget.deadline_ms from its creation; null without one. */
function deadlineOf(job: JobRecord, request: JobRequest): number | null {
  if (job.deadlineAt !== null) return job.deadlineAt;
  const ms = request.budget?.deadlineMs ?? 0n;
  if (ms <= 0n) return null;
  return Math.min(Number.MAX_SAFE_INTEGER, job.createdAt + Number(ms));
}

function text(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

function numberAt(value: unknown, path: readonly string[]): number {
  let cur: unknown = value;
  for (const key of path) {
    if (cur === null || typeof cur !== 'object' || Array.isArray(cur)) return 0;
    cur = (cur as Record<string, unknown>)[key];
  }
  return typeof cur === 'number' && Number.isFinite(cur) ? cur : 0;
}
