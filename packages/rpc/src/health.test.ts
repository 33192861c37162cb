import { NotFoundError, TerminalError } from '@cordum/core';
import {
  Health,
  type HealthCheckResponse,
  HealthCheckResponse_ServingStatus as ServingStatus,
  OutputPolicyService,
  SafetyKernel,
} from '@cordum/protocol';
import { status as Status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GrpcServer, createGrpcClient, createGrpcServer } from './index.js';

type Reader = { next(): Promise<ServingStatus | 'end'>; stop(): Promise<void> };

/** Reads a Watch stream one status at a time, failing instead of hanging when nothing comes. */
function reader(stream: AsyncIterable<HealthCheckResponse>): Reader {
  const it = stream[Symbol.asyncIterator]();
  return {
    async next() {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('no health update within 3 s')), 3_000);
      });
      try {
        const r = await Promise.race([it.next(), timeout]);
        return r.done === true ? 'end' : r.value.status;
      } finally {
        clearTimeout(timer);
      }
    },
    async stop() {
      await it.return?.();
    },
  };
}

describe('grpc.health.v1.Health', () => {
  let server: GrpcServer;
  let client: ReturnType<typeof createGrpcClient<typeof Health>>;

  beforeAll(async () => {
    server = createGrpcServer({ address: '127.0.0.1:0' });
    server.add(SafetyKernel, {});
    server.add(OutputPolicyService, {});
    const { port } = await server.start();
    client = createGrpcClient(Health, `127.0.0.1:${port}`, { timeoutMs: 3_000 });
  });
  afterAll(async () => {
    client.close();
    await server.stop(1_000);
  });

  it('Check: the server and every added service serve', async () => {
    expect((await client.check({})).status).toBe(ServingStatus.SERVING);
    expect((await client.check({ service: 'cordum.agent.v1.SafetyKernel' })).status).toBe(ServingStatus.SERVING);
    expect((await client.check({ service: 'cordum.v1.OutputPolicyService' })).status).toBe(ServingStatus.SERVING);
  });

  it('Check: an unknown service is NOT_FOUND', async () => {
    const err = await client.check({ service: 'no.such.Service' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect((err as NotFoundError).details['grpc_code']).toBe(Status.NOT_FOUND);
  });

  it('Check follows setServing', async () => {
    server.setServing('cordum.v1.OutputPolicyService', false);
    expect((await client.check({ service: 'cordum.v1.OutputPolicyService' })).status).toBe(ServingStatus.NOT_SERVING);
    server.setServing('cordum.v1.OutputPolicyService', true);
    expect((await client.check({ service: 'cordum.v1.OutputPolicyService' })).status).toBe(ServingStatus.SERVING);
  });

  it('Watch streams the current status, then each change, until the reader stops', async () => {
    const watch = reader(client.watch({ service: 'cordum.agent.v1.SafetyKernel' }));
    expect(await watch.next()).toBe(ServingStatus.SERVING);
    server.setServing('cordum.agent.v1.SafetyKernel', false);
    expect(await watch.next()).toBe(ServingStatus.NOT_SERVING);
    server.setServing('cordum.agent.v1.SafetyKernel', false); // no change, no message
    server.setServing('cordum.agent.v1.SafetyKernel', true);
    expect(await watch.next()).toBe(ServingStatus.SERVING);
    await watch.stop();
  });

  it('Watch of an unknown service answers SERVICE_UNKNOWN and reports it once it appears', async () => {
    const watch = reader(client.watch({ service: 'cordum.v1.Later' }));
    expect(await watch.next()).toBe(ServingStatus.SERVICE_UNKNOWN);
    server.setServing('cordum.v1.Later', true);
    expect(await watch.next()).toBe(ServingStatus.SERVING);
    await watch.stop();
  });

  it('Watch with an aborted signal ends the stream with the signal reason', async () => {
    const controller = new AbortController();
    const watch = reader(client.watch({}, { signal: controller.signal }));
    expect(await watch.next()).toBe(ServingStatus.SERVING);
    const reason = new Error('enough');
    controller.abort(reason);
    await expect(watch.next()).rejects.toBe(reason);
  });
});

describe('health on stop and when disabled', () => {
  it('stop() tells watchers NOT_SERVING and ends their streams so the drain completes', async () => {
    const server = createGrpcServer({ address: '127.0.0.1:0' });
    server.add(SafetyKernel, {});
    const { port } = await server.start();
    const client = createGrpcClient(Health, `127.0.0.1:${port}`);
    try {
      const whole = reader(client.watch({}));
      const kernel = reader(client.watch({ service: 'cordum.agent.v1.SafetyKernel' }));
      expect(await whole.next()).toBe(ServingStatus.SERVING);
      expect(await kernel.next()).toBe(ServingStatus.SERVING);
      const started = Date.now();
      const stopped = server.stop(10_000);
      expect(await whole.next()).toBe(ServingStatus.NOT_SERVING);
      expect(await whole.next()).toBe('end');
      expect(await kernel.next()).toBe(ServingStatus.NOT_SERVING);
      expect(await kernel.next()).toBe('end');
      await stopped;
      // Graceful: well inside the 10 s grace, so no open stream held it up.
      expect(Date.now() - started).toBeLessThan(5_000);
      server.setServing('', true); // ignored after stop, and harmless
    } finally {
      client.close();
    }
  });

  it('health: false leaves Health unimplemented', async () => {
    const server = createGrpcServer({ address: '127.0.0.1:0', health: false });
    const { port } = await server.start();
    const client = createGrpcClient(Health, `127.0.0.1:${port}`);
    try {
      const err = await client.check({}).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TerminalError);
      expect((err as TerminalError).details['grpc_code']).toBe(Status.UNIMPLEMENTED);
    } finally {
      client.close();
      await server.stop();
    }
  });
});
