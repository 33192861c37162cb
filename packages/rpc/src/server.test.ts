import { create } from '@bufbuild/protobuf';
import {
  ConflictError,
  type CordumError,
  DeniedError,
  InvalidError,
  NotFoundError,
  RetryableError,
  TerminalError,
  createMemoryLogger,
} from '@cordum/core';
import {
  ContextEngine,
  CordumApi,
  DecisionType,
  type ListSnapshotsResponse,
  OutputDecision,
  OutputPolicyService,
  type PolicyCheckRequest,
  type PolicyCheckResponse,
  PolicyCheckResponseSchema,
  SafetyKernel,
} from '@cordum/protocol';
import { status as Status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import { type CallContext, type GrpcServer, type UnaryImpl, createGrpcClient, createGrpcServer } from './index.js';

// Errors the fake kernel throws for topic `fail.<key>`.
const FAILURES: Record<string, () => Error> = {
  invalid: () => new InvalidError('topic is malformed', { code: 'invalid_argument' }),
  invalid_transition: () => new InvalidError('cannot go from SUCCEEDED to RUNNING', { code: 'invalid_transition' }),
  not_found: () => new NotFoundError('no such job'),
  input_expired: () => new NotFoundError('context expired', { code: 'input_expired' }),
  already_exists: () => new ConflictError('job exists', { code: 'already_exists' }),
  conflict: () => new ConflictError('changed under you'),
  revision_conflict: () => new ConflictError('stale revision', { code: 'revision_conflict' }),
  denied: () => new DeniedError('policy says no'),
  permission_denied: () => new DeniedError('wrong tenant', { code: 'permission_denied' }),
  unauthenticated: () => new DeniedError('who are you', { code: 'unauthenticated' }),
  unavailable: () => new RetryableError('store down', { retryAfterMs: 250 }),
  safety_unavailable: () => new RetryableError('kernel down', { code: 'safety_unavailable' }),
  timeout: () => new RetryableError('took too long', { code: 'timeout' }),
  rate_limited: () => new RetryableError('slow down', { code: 'rate_limited', retryAfterMs: 1000 }),
  terminal: () => new TerminalError('redis://user:hunter2@db failed at /srv/app.js:12'),
  plain: () => new Error('TypeError: x is undefined\n    at secret (/srv/app.js:1:1)'),
};

type Expected = { cls: new (...args: never[]) => CordumError; code: string; grpc: Status; message?: string };
const EXPECTED: Record<string, Expected> = {
  invalid: { cls: InvalidError, code: 'invalid_argument', grpc: Status.INVALID_ARGUMENT, message: 'topic is malformed' },
  invalid_transition: { cls: InvalidError, code: 'invalid_transition', grpc: Status.INVALID_ARGUMENT },
  not_found: { cls: NotFoundError, code: 'not_found', grpc: Status.NOT_FOUND, message: 'no such job' },
  input_expired: { cls: NotFoundError, code: 'input_expired', grpc: Status.NOT_FOUND },
  already_exists: { cls: ConflictError, code: 'already_exists', grpc: Status.ALREADY_EXISTS },
  conflict: { cls: ConflictError, code: 'conflict', grpc: Status.ABORTED },
  revision_conflict: { cls: ConflictError, code: 'revision_conflict', grpc: Status.ABORTED },
  denied: { cls: DeniedError, code: 'denied', grpc: Status.PERMISSION_DENIED, message: 'policy says no' },
  permission_denied: { cls: DeniedError, code: 'permission_denied', grpc: Status.PERMISSION_DENIED },
  unauthenticated: { cls: DeniedError, code: 'unauthenticated', grpc: Status.UNAUTHENTICATED },
  unavailable: { cls: RetryableError, code: 'unavailable', grpc: Status.UNAVAILABLE },
  safety_unavailable: { cls: RetryableError, code: 'safety_unavailable', grpc: Status.UNAVAILABLE },
  timeout: { cls: RetryableError, code: 'timeout', grpc: Status.DEADLINE_EXCEEDED },
  rate_limited: { cls: RetryableError, code: 'rate_limited', grpc: Status.RESOURCE_EXHAUSTED },
  terminal: { cls: TerminalError, code: 'internal', grpc: Status.INTERNAL, message: 'internal error' },
  plain: { cls: TerminalError, code: 'internal', grpc: Status.INTERNAL, message: 'internal error' },
};

function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** Resolves when the signal aborts, with its reason. */
const aborted = (signal: AbortSignal): Promise<unknown> =>
  new Promise((resolve) => {
    if (signal.aborted) resolve(signal.reason);
    else signal.addEventListener('abort', () => resolve(signal.reason), { once: true });
  });

describe('gRPC server and client (SafetyKernel + OutputPolicyService)', () => {
  const { logger, records } = createMemoryLogger();
  let server: GrpcServer;
  let address: string;
  const seen: { request: PolicyCheckRequest; ctx: CallContext }[] = [];
  let entered = deferred<CallContext>();
  let abortSeen = deferred<unknown>();

  const decide = (method: string) => async (request: PolicyCheckRequest, ctx: CallContext) => {
    seen.push({ request, ctx });
    const failure = request.topic.startsWith('fail.') ? FAILURES[request.topic.slice(5)] : undefined;
    if (failure) throw failure();
    if (request.topic === 'hang') {
      entered.resolve(ctx);
      abortSeen.resolve(await aborted(ctx.signal));
      throw new RetryableError('gave up');
    }
    return {
      decision: request.tenant === 'evil' ? DecisionType.DENY : DecisionType.ALLOW,
      reason: `${method}:${request.topic}`,
      policySnapshot: 'snap-2',
      constraints: { budgets: { maxRuntimeMs: 60_000n, maxRetries: 2 } },
    };
  };

  const kernel: UnaryImpl<typeof SafetyKernel> = {
    check: decide('check'),
    evaluate: decide('evaluate'),
    explain: decide('explain'),
    // A returned message (not an init object) is sent as is.
    simulate: async (request, ctx) =>
      create(PolicyCheckResponseSchema, { ...(await decide('simulate')(request, ctx)), approvalRequired: true }),
    listSnapshots: () => Promise.resolve({ snapshots: ['snap-2', 'snap-1'] }),
  };

  beforeAll(async () => {
    server = createGrpcServer({ address: '127.0.0.1:0', logger });
    server.add(SafetyKernel, kernel);
    server.add(OutputPolicyService, {
      checkOutput: (req) =>
        Promise.resolve({
          decision: OutputDecision.REDACT,
          reason: `scanned ${req.outputContent.length} bytes of ${req.jobId}`,
          findings: [{ type: 'secret', severity: 'high', offset: 3n, length: 6n, confidence: 0.5 }],
        }),
    });
    server.add(CordumApi, {}); // hosted, nothing implemented
    const { port } = await server.start();
    address = `127.0.0.1:${port}`;
  });
  afterAll(() => server.stop(1_000));

  it('round-trips every SafetyKernel method', async () => {
    const client = createGrpcClient(SafetyKernel, address, { timeoutMs: 5_000 });
    try {
      const req = { jobId: 'j1', topic: 'job.default', tenant: 'acme', labels: { env: 'prod' }, meta: { capability: 'x' } };
      for (const method of ['check', 'evaluate', 'explain'] as const) {
        const res = await client[method](req);
        expect(res.$typeName).toBe('cordum.agent.v1.PolicyCheckResponse');
        expect(res.decision).toBe(DecisionType.ALLOW);
        expect(res.reason).toBe(`${method}:job.default`);
        expect(res.constraints?.budgets?.maxRuntimeMs).toBe(60_000n);
      }
      const simulated = await client.simulate({ ...req, tenant: 'evil' });
      expect(simulated.decision).toBe(DecisionType.DENY);
      expect(simulated.approvalRequired).toBe(true);
      expect((await client.listSnapshots({})).snapshots).toEqual(['snap-2', 'snap-1']);

      const last = seen.at(-1)!.request;
      expect(last.labels).toEqual({ env: 'prod' });
      expect(last.meta?.capability).toBe('x');
    } finally {
      client.close();
    }
  });

  it('round-trips OutputPolicyService.CheckOutput', async () => {
    const client = createGrpcClient(OutputPolicyService, address);
    try {
      const res = await client.checkOutput({ jobId: 'j2', outputContent: new TextEncoder().encode('secret') });
      expect(res.decision).toBe(OutputDecision.REDACT);
      expect(res.reason).toBe('scanned 6 bytes of j2');
      expect(res.findings[0]).toMatchObject({ type: 'secret', offset: 3n, length: 6n, confidence: 0.5 });
    } finally {
      client.close();
    }
  });

  it('answers UNIMPLEMENTED for methods without a handler and for services not hosted', async () => {
    const api = createGrpcClient(CordumApi, address);
    const context = createGrpcClient(ContextEngine, address);
    try {
      for (const call of [() => api.submitJob({ topic: 'job.x' }), () => context.buildWindow({ memoryId: 'm' })]) {
        const err = await call().catch((e: unknown) => e);
        expect(err).toBeInstanceOf(TerminalError);
        expect((err as TerminalError).details).toMatchObject({ grpc_code: Status.UNIMPLEMENTED, grpc_status: 'UNIMPLEMENTED' });
      }
    } finally {
      api.close();
      context.close();
    }
  });

  it('maps every CordumError kind to a status and back to the same class and code', async () => {
    const client = createGrpcClient(SafetyKernel, address);
    try {
      for (const [key, want] of Object.entries(EXPECTED)) {
        const err = await client.check({ topic: `fail.${key}` }).catch((e: unknown) => e);
        expect(err, key).toBeInstanceOf(want.cls);
        const e = err as CordumError;
        expect(e.code, key).toBe(want.code);
        expect(e.details['grpc_code'], key).toBe(want.grpc);
        if (want.message !== undefined) expect(e.message, key).toBe(want.message);
      }
      const unavailable = await client.check({ topic: 'fail.unavailable' }).catch((e: unknown) => e);
      expect((unavailable as RetryableError).retryAfterMs).toBe(250);
      const limited = await client.check({ topic: 'fail.rate_limited' }).catch((e: unknown) => e);
      expect((limited as RetryableError).retryAfterMs).toBe(1000);
    } finally {
      client.close();
    }
  });

  it('never sends the text of terminal or unknown errors to the client, but logs it', async () => {
    const client = createGrpcClient(SafetyKernel, address);
    try {
      const err = (await client.check({ topic: 'fail.terminal' }).catch((e: unknown) => e)) as Error;
      expect(err.message).not.toContain('hunter2');
      expect(JSON.stringify(err.cause)).not.toContain('hunter2');
      const logged = records.filter((r) => r.msg === 'gRPC handler failed');
      expect(logged.some((r) => r.method === '/cordum.agent.v1.SafetyKernel/Check')).toBe(true);
    } finally {
      client.close();
    }
  });

  it('passes client metadata (defaults and per call) and the peer to the handler', async () => {
    const client = createGrpcClient(SafetyKernel, address, {
      metadata: { 'x-api-key': 'k1', 'x-tenant': 'default' },
    });
    try {
      await client.evaluate(
        { topic: 'job.meta' },
        { metadata: { 'x-tenant': 'acme', 'X-Trace-Id': 't-1', 'trace-bin': Buffer.from([1, 2, 3]).toString('base64') } },
      );
      const { ctx } = seen.find((s) => s.request.topic === 'job.meta')!;
      expect(ctx.metadata).toMatchObject({ 'x-api-key': 'k1', 'x-tenant': 'acme', 'x-trace-id': 't-1', 'trace-bin': 'AQID' });
      expect(ctx.peer).toMatch(/127\.0\.0\.1:\d+/);
      expect(ctx.signal.aborted).toBe(false);
    } finally {
      client.close();
    }
  });

  it('a client deadline fails the call with RetryableError(timeout) and aborts the handler signal', async () => {
    entered = deferred();
    abortSeen = deferred();
    const client = createGrpcClient(SafetyKernel, address, { timeoutMs: 150 });
    try {
      const started = Date.now();
      const err = await client.check({ topic: 'hang' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RetryableError);
      expect((err as RetryableError).code).toBe('timeout');
      expect(Date.now() - started).toBeLessThan(3_000);
      const reason = await abortSeen.promise;
      expect(reason).toBeInstanceOf(RetryableError);
      expect((reason as RetryableError).code).toBe('timeout');
      // A per-call timeout overrides the client default.
      const quick = await client.listSnapshots({}, { timeoutMs: 2_000 });
      expect(quick.snapshots).toHaveLength(2);
    } finally {
      client.close();
    }
  });

  it('cancelling through an AbortSignal rejects with its reason and aborts the handler signal', async () => {
    entered = deferred();
    abortSeen = deferred();
    const client = createGrpcClient(SafetyKernel, address);
    try {
      const controller = new AbortController();
      const call = client.explain({ topic: 'hang' }, { signal: controller.signal });
      const ctx = await entered.promise;
      const reason = new Error('caller gave up');
      controller.abort(reason);
      await expect(call).rejects.toBe(reason);
      await abortSeen.promise;
      expect(ctx.signal.aborted).toBe(true);
      // An already-aborted signal never starts the call.
      await expect(client.check({ topic: 'job.x' }, { signal: controller.signal })).rejects.toBe(reason);
    } finally {
      client.close();
    }
  });

  it('handler signals do not abort after a call was answered', async () => {
    const client = createGrpcClient(SafetyKernel, address);
    try {
      await client.check({ topic: 'job.after' });
      const { ctx } = seen.find((s) => s.request.topic === 'job.after')!;
      await new Promise((r) => setTimeout(r, 50));
      expect(ctx.signal.aborted).toBe(false);
    } finally {
      client.close();
    }
  });

  it('an unreachable server is RetryableError(unavailable)', async () => {
    const stopped = createGrpcServer({ address: '127.0.0.1:0', health: false, reflection: false });
    const { port } = await stopped.start();
    await stopped.stop();
    const client = createGrpcClient(SafetyKernel, `127.0.0.1:${port}`, { timeoutMs: 2_000 });
    try {
      const err = await client.check({}).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RetryableError);
      expect((err as RetryableError).code).toBe('unavailable');
    } finally {
      client.close();
    }
  });

  it('types handlers and clients from the service descriptor', () => {
    type Impl = UnaryImpl<typeof SafetyKernel>;
    expectTypeOf<keyof Impl>().toEqualTypeOf<'check' | 'evaluate' | 'explain' | 'simulate' | 'listSnapshots'>();
    expectTypeOf<Parameters<NonNullable<Impl['check']>>[0]>().toEqualTypeOf<PolicyCheckRequest>();
    const client = createGrpcClient(SafetyKernel, address);
    client.close();
    expectTypeOf(client.listSnapshots).returns.resolves.toEqualTypeOf<ListSnapshotsResponse>();
    expectTypeOf(client.check).returns.resolves.toEqualTypeOf<PolicyCheckResponse>();
    const wrong: Impl = {
      // @ts-expect-error decision must be a DecisionType
      check: () => Promise.resolve({ decision: 'allow' }),
    };
    expect(wrong).toBeDefined();
    // @ts-expect-error no such method
    expect(client.submitJob).toBeUndefined();
  });
});

describe('gRPC server lifecycle', () => {
  it('stop() waits for running calls, then cancels them after the grace period', async () => {
    const entered = deferred<CallContext>();
    const server = createGrpcServer({ address: '127.0.0.1:0' });
    server.add(SafetyKernel, {
      check: async (_req, ctx) => {
        entered.resolve(ctx);
        await aborted(ctx.signal);
        return {};
      },
    });
    const { port } = await server.start();
    const client = createGrpcClient(SafetyKernel, `127.0.0.1:${port}`);
    try {
      const call = client.check({}).catch((e: unknown) => e);
      const ctx = await entered.promise;
      const started = Date.now();
      await server.stop(200);
      expect(Date.now() - started).toBeGreaterThanOrEqual(150);
      await aborted(ctx.signal);
      expect(await call).toBeInstanceOf(RetryableError);
    } finally {
      client.close();
    }
  });

  it('refuses add() after start and a service added twice', async () => {
    const server = createGrpcServer({ address: '127.0.0.1:0', health: false, reflection: false });
    server.add(SafetyKernel, {});
    expect(() => server.add(SafetyKernel, {})).toThrow(/added twice/);
    await server.start();
    expect(() => server.add(OutputPolicyService, {})).toThrow(/before start/);
    await server.stop();
  });

  it('start() rejects when the address is taken', async () => {
    const first = createGrpcServer({ address: '127.0.0.1:0', health: false, reflection: false });
    const { port } = await first.start();
    const second = createGrpcServer({ address: `127.0.0.1:${port}`, health: false, reflection: false });
    try {
      await expect(second.start()).rejects.toThrow(/cannot listen/);
    } finally {
      await first.stop();
      await second.stop();
    }
  });

  it("accepts Go's ':port' spelling for every interface", async () => {
    const probe = createGrpcServer({ address: '127.0.0.1:0', health: false, reflection: false });
    const { port: free } = await probe.start();
    await probe.stop();
    const server = createGrpcServer({ address: `:${free}` });
    server.add(SafetyKernel, { listSnapshots: () => Promise.resolve({ snapshots: ['s'] }) });
    const { port } = await server.start();
    expect(port).toBe(free);
    const client = createGrpcClient(SafetyKernel, `127.0.0.1:${port}`);
    try {
      expect((await client.listSnapshots({})).snapshots).toEqual(['s']);
    } finally {
      client.close();
      await server.stop();
    }
  });
});
