// The embedded decision point: the policy runtime as a library (as OPA can be), so a scheduler decides
// without a network hop per job. The safety kernel's gRPC handlers call the same object, so a decision and
// its record are the same whichever process makes them.
import {
  type Clock,
  createMetrics,
  createSilentLogger,
  InvalidError,
  isRetryable,
  type Logger,
  type Metrics,
  type PdpCallOptions,
  type PolicyDecisionPoint,
  RetryableError,
  systemClock,
  toError,
} from '@cordum/core';
import { type Decision, parseDecision, toCheckResponse } from '@cordum/policy';
import type { ExplainResponse, PolicyCheckRequest, PolicyCheckResponse } from '@cordum/protocol';
import type { AuditLog } from '@cordum/store';
import type { PolicyRuntime } from './runtime.js';
import { DECISION_RECORD_KIND, decisionRecord, toExplainResponse } from './wire.js';

/** A simulation: the request, draft bundles laid over the live ones, and an optional default decision. */
export type SimulateInput = {
  request: PolicyCheckRequest;
  bundles?: readonly { id: string; content: string }[] | undefined;
  /** allow, deny, require_approval, … ('' or absent keeps the live default). */
  defaultDecision?: string | undefined;
};

/** Explain with the rule trace, and simulate against drafts: what the gateway's policy API needs. */
export type PolicyExplainPoint = {
  explain(request: PolicyCheckRequest, options?: PdpCallOptions): Promise<ExplainResponse>;
  simulate(input: SimulateInput, options?: PdpCallOptions): Promise<ExplainResponse>;
};

export type EmbeddedPdp = PolicyDecisionPoint & PolicyExplainPoint & { readonly runtime: PolicyRuntime };

export type EmbeddedPdpOptions = {
  /** Where every check's decision record goes. */
  audit: AuditLog;
  /** The audit entry's actor. Default 'safety-kernel'. */
  actor?: string | undefined;
  clock?: Clock | undefined;
  logger?: Logger | undefined;
  metrics?: Metrics | undefined;
};

export function parseSimulateDefault(raw: string | undefined): Decision | undefined {
  if (raw === undefined || raw.trim() === '') return undefined;
  const d = parseDecision(raw);
  if (d === null) {
    throw new InvalidError(`default_decision ${JSON.stringify(raw)} is not a decision`, { details: { field: 'default_decision' } });
  }
  return d;
}

/**
 * check() evaluates and appends a decision record (kind policy.decision, subject the job id) before it
 * answers: a decision that could not be recorded is not returned (RetryableError safety_unavailable, so the
 * job waits and is checked again). evaluate, explain, simulate and listSnapshots write nothing.
 */
export function createEmbeddedPdp(runtime: PolicyRuntime, options: EmbeddedPdpOptions): EmbeddedPdp {
  const clock = options.clock ?? systemClock;
  const actor = options.actor ?? 'safety-kernel';
  const logger = options.logger ?? createSilentLogger();
  const decisions = (options.metrics ?? createMetrics()).counter('policy_decisions_total', 'Policy checks by decision', ['decision']);

  // Work runs inside a promise so that decode errors (bad effective_config) reject instead of throwing.
  const later = <T>(fn: () => T): Promise<T> => Promise.resolve().then(fn);

  return {
    runtime,
    async check(request) {
      const { decision, tenant } = runtime.evaluate(request);
      try {
        await options.audit.append({
          tenant,
          kind: DECISION_RECORD_KIND,
          actor,
          subject: request.jobId,
          data: decisionRecord(decision, request.jobId, request.topic, clock.now()),
        });
      } catch (err) {
        if (!isRetryable(err)) throw err;
        logger.warn({ job_id: request.jobId, err: toError(err).message }, 'decision record not written; decision withheld');
        throw new RetryableError('the decision record could not be written; the decision is withheld', {
          code: 'safety_unavailable',
          cause: err,
          retryAfterMs: 1_000,
        });
      }
      decisions.inc({ decision: decision.decision });
      return toCheckResponse(decision);
    },
    evaluate: (request): Promise<PolicyCheckResponse> => later(() => toCheckResponse(runtime.evaluate(request).decision)),
    listSnapshots: () => later(() => runtime.snapshots()),
    explain: (request) => later(() => toExplainResponse(runtime.explain(request))),
    simulate: (input) =>
      later(() => {
        const defaultDecision = parseSimulateDefault(input.defaultDecision);
        const explanation = runtime.simulate(
          (input.bundles ?? []).map((b) => ({ id: b.id, content: b.content })),
          input.request,
          defaultDecision === undefined ? {} : { defaultDecision },
        );
        return toExplainResponse(explanation);
      }),
  };
}
