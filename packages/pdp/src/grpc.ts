// Decision points over gRPC: the safety kernel's SafetyKernel (+ PolicyExplainer) and OutputPolicyService,
// each behind a deadline and a circuit breaker as upstream's scheduler has them. Every failure that says
// the kernel is not answering becomes RetryableError(safety_unavailable): callers wait and check again,
// they never treat an outage as an allow. While the breaker is open, calls fail at once with the time left
// until it lets a probe through.
import {
  type Clock,
  createSilentLogger,
  isCordumError,
  type Logger,
  type OutputPolicyPoint,
  type PdpCallOptions,
  type PolicyDecisionPoint,
  RetryableError,
  systemClock,
  toError,
} from '@cordum/core';
import { OutputPolicyService, PolicyExplainer, SafetyKernel } from '@cordum/protocol';
import { createGrpcClient, type GrpcCallOptions, type GrpcClientTls } from '@cordum/rpc';
import { type CircuitBreaker, type CircuitBreakerOptions, type CircuitState, createCircuitBreaker } from './breaker.js';
import type { PolicyExplainPoint } from './embedded.js';

type Tls = GrpcClientTls | 'system' | undefined;

export type GrpcPdpOptions = {
  /** host:port of the safety kernel. */
  address: string;
  /** Plaintext when absent. */
  tls?: Tls;
  /** Deadline of each call. Default 2 s. */
  timeoutMs?: number | undefined;
  breaker?: CircuitBreakerOptions | undefined;
  clock?: Clock | undefined;
  logger?: Logger | undefined;
  /** Sent with every call. */
  metadata?: Record<string, string> | undefined;
};

export type GrpcPdp = PolicyDecisionPoint &
  PolicyExplainPoint & {
    breakerState(): CircuitState;
    close(): void;
  };

/** A failure that says nothing about the kernel's health: the kernel answered, and refused the request. */
function isRefusal(err: unknown): boolean {
  return isCordumError(err) && err.kind !== 'retryable' && err.kind !== 'terminal';
}

type Guard = <T>(call: () => Promise<T>, signal: AbortSignal | undefined) => Promise<T>;

function createGuard(breaker: CircuitBreaker, label: string, logger: Logger): Guard {
  const transition = (before: CircuitState): void => {
    const after = breaker.state();
    if (after === before) return;
    if (after === 'open') logger.warn({ service: label, retry_after_ms: breaker.retryAfterMs() }, 'circuit breaker opened');
    else if (after === 'closed') logger.info({ service: label }, 'circuit breaker closed');
  };
  return async (call, signal) => {
    const permit = breaker.acquire();
    if (!permit.ok) {
      throw new RetryableError(`${label} unavailable (circuit open; next attempt in ${permit.retryAfterMs} ms)`, {
        code: 'safety_unavailable',
        retryAfterMs: permit.retryAfterMs,
      });
    }
    const before = breaker.state();
    try {
      const out = await call();
      breaker.success(permit.ticket);
      transition(before);
      return out;
    } catch (err) {
      if (signal?.aborted === true) {
        breaker.abandon(permit.ticket);
        throw err;
      }
      if (isRefusal(err)) {
        breaker.success(permit.ticket);
        transition(before);
        throw err;
      }
      breaker.failure(permit.ticket);
      transition(before);
      const wait = breaker.retryAfterMs();
      throw new RetryableError(`${label} unavailable: ${toError(err).message}`, {
        code: 'safety_unavailable',
        cause: err,
        ...(wait > 0 ? { retryAfterMs: wait } : {}),
      });
    }
  };
}

function callOptions(timeoutMs: number, options: PdpCallOptions | undefined): GrpcCallOptions {
  return { timeoutMs, signal: options?.signal };
}

/** The PolicyDecisionPoint over the safety kernel's gRPC API (with explain/simulate over PolicyExplainer). */
export function createGrpcPdp(options: GrpcPdpOptions): GrpcPdp {
  const timeoutMs = options.timeoutMs ?? 2_000;
  const clientOptions = { tls: options.tls, metadata: options.metadata };
  const kernel = createGrpcClient(SafetyKernel, options.address, clientOptions);
  const explainer = createGrpcClient(PolicyExplainer, options.address, clientOptions);
  const breaker = createCircuitBreaker(options.clock ?? systemClock, options.breaker);
  const guard = createGuard(breaker, `safety kernel at ${options.address}`, options.logger ?? createSilentLogger());

  return {
    check: (request, call) => guard(() => kernel.check(request, callOptions(timeoutMs, call)), call?.signal),
    evaluate: (request, call) => guard(() => kernel.evaluate(request, callOptions(timeoutMs, call)), call?.signal),
    listSnapshots: async (call) =>
      (await guard(() => kernel.listSnapshots({}, callOptions(timeoutMs, call)), call?.signal)).snapshots,
    explain: (request, call) => guard(() => explainer.explain(request, callOptions(timeoutMs, call)), call?.signal),
    simulate: (input, call) =>
      guard(
        () =>
          explainer.simulate(
            {
              request: input.request,
              bundles: (input.bundles ?? []).map((b) => ({ id: b.id, content: b.content })),
              defaultDecision: input.defaultDecision ?? '',
            },
            callOptions(timeoutMs, call),
          ),
        call?.signal,
      ),
    breakerState: () => breaker.state(),
    close() {
      kernel.close();
      explainer.close();
    },
  };
}

export type GrpcOutputPolicyOptions = {
  address: string;
  tls?: Tls;
  /** Deadline of a check without content (metadata only). Default 100 ms. */
  metadataTimeoutMs?: number | undefined;
  /** Deadline of a check carrying content. Default 30 s. */
  contentTimeoutMs?: number | undefined;
  /** Content sent at most; a longer output is sent capped, with output_size_bytes its full size. Default 2 MiB. */
  maxContentBytes?: number | undefined;
  breaker?: CircuitBreakerOptions | undefined;
  clock?: Clock | undefined;
  logger?: Logger | undefined;
  metadata?: Record<string, string> | undefined;
};

export type GrpcOutputPolicy = OutputPolicyPoint & { breakerState(): CircuitState; close(): void };

export const DEFAULT_MAX_CONTENT_BYTES = 2 * 1024 * 1024;

/**
 * CheckOutput over gRPC. Content above maxContentBytes is capped and output_size_bytes says how much there
 * is, so the kernel reads the whole output behind result_ptr itself (or quarantines rather than release a
 * partial redaction).
 */
export function createGrpcOutputPolicy(options: GrpcOutputPolicyOptions): GrpcOutputPolicy {
  const metadataTimeoutMs = options.metadataTimeoutMs ?? 100;
  const contentTimeoutMs = options.contentTimeoutMs ?? 30_000;
  const maxContentBytes = options.maxContentBytes ?? DEFAULT_MAX_CONTENT_BYTES;
  const client = createGrpcClient(OutputPolicyService, options.address, { tls: options.tls, metadata: options.metadata });
  const breaker = createCircuitBreaker(options.clock ?? systemClock, options.breaker);
  const guard = createGuard(breaker, `output policy at ${options.address}`, options.logger ?? createSilentLogger());

  return {
    checkOutput(request, call) {
      const content = request.outputContent;
      const capped = content.length > maxContentBytes;
      const size = Number(request.outputSizeBytes);
      const sent = capped
        ? { ...request, outputContent: content.subarray(0, maxContentBytes), outputSizeBytes: BigInt(Math.max(size, content.length)) }
        : request;
      const timeoutMs = sent.outputContent.length > 0 ? contentTimeoutMs : metadataTimeoutMs;
      return guard(() => client.checkOutput(sent, callOptions(timeoutMs, call)), call?.signal);
    },
    breakerState: () => breaker.state(),
    close: () => client.close(),
  };
}
