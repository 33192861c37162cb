import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RetryableError, createMemoryLogger } from '@cordum/core';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { type NatsServer, eventually, startNats } from '@cordum/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Bus } from '../index.js';
import { connectNatsBus } from './index.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

describe('NATS bus across a server restart', () => {
  let server: NatsServer;
  const buses: Bus[] = [];
  const connect = async (): Promise<Bus> => {
    const bus = await connectNatsBus({ servers: server.url, jetstream: true, ackWaitMs: 1000, publishTimeoutMs: 1000 });
    buses.push(bus);
    return bus;
  };

  beforeEach(async () => {
    server = await startNats();
  });
  afterEach(async () => {
    await Promise.all(buses.splice(0).map((b) => b.close()));
    await server.stop();
  });

  it('keeps JetStream messages stored before the restart and resumes live subscriptions after it', async () => {
    const publisher = await connect();
    const consumer = await connect();
    const got: string[] = [];
    const coreGot: string[] = [];
    const handler = (m: { data: Uint8Array }): void => {
      got.push(dec.decode(m.data));
    };

    // Create the group's durable consumer, then leave: messages published now wait in the stream.
    const first = await consumer.subscribe('sys.job.submit', handler, { queue: 'cordum-scheduler' });
    await first.drain();
    await Promise.all(
      Array.from({ length: 20 }, (_, i) => publisher.publish('sys.job.submit', enc.encode(`stored-${i}`))),
    );
    await consumer.subscribe('job.restart.core', (m) => {
      coreGot.push(dec.decode(m.data));
    });

    await server.kill();
    await expect(publisher.publish('sys.job.submit', enc.encode('while-down'))).rejects.toBeInstanceOf(RetryableError);
    await server.restart();
    await eventually(() => {
      expect(publisher.status().connected).toBe(true);
      expect(consumer.status().connected).toBe(true);
    }, 10_000);
    expect(consumer.status().reconnects).toBeGreaterThanOrEqual(1);

    // The group comes back and gets everything stored before the restart, then live traffic.
    await consumer.subscribe('sys.job.submit', handler, { queue: 'cordum-scheduler' });
    await eventually(() => expect(got).toHaveLength(20), 10_000);
    expect(new Set(got)).toEqual(new Set(Array.from({ length: 20 }, (_, i) => `stored-${i}`)));
    await publisher.publish('sys.job.submit', enc.encode('after'));
    await eventually(() => expect(got).toContain('after'), 10_000);

    // Core subscriptions are re-established by the client on reconnect (core NATS keeps nothing, so
    // publish until one arrives).
    for (let i = 0; i < 50 && coreGot.length === 0; i++) {
      await publisher.publish('job.restart.core', enc.encode('ping'));
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(coreGot.length).toBeGreaterThan(0);
  }, 60_000);

  it('a subscription that stays open across the restart keeps receiving durable messages', async () => {
    const publisher = await connect();
    const consumer = await connect();
    const got: string[] = [];
    await consumer.subscribe('sys.job.result', (m) => {
      got.push(dec.decode(m.data));
    }, { queue: 'cordum-workflow-engine' });
    await publisher.publish('sys.job.result', enc.encode('before'));
    await eventually(() => expect(got).toEqual(['before']));
    await server.restart();
    await eventually(() => expect(publisher.status().connected).toBe(true), 10_000);
    for (let i = 0; i < 5; i++) await publisher.publish('sys.job.result', enc.encode(`after-${i}`));
    await eventually(() => expect(got).toHaveLength(6), 30_000);
  }, 60_000);

  it('fails to connect with a retryable error naming the server', async () => {
    const port = server.port;
    await server.kill();
    const err = await connectNatsBus({ servers: `nats://127.0.0.1:${port}` }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RetryableError);
    expect((err as RetryableError).message).toContain(`127.0.0.1:${port}`);
    await server.restart();
  });
});

describe('NATS bus when JetStream state disappears', () => {
  let server: NatsServer;
  beforeEach(async () => {
    server = await startNats();
  });
  afterEach(async () => {
    await server.stop();
  });

  it('recreates a deleted stream and consumer and keeps delivering', async () => {
    const bus = await connectNatsBus({ servers: server.url, jetstream: true, ackWaitMs: 1000 });
    const got: string[] = [];
    await bus.subscribe('sys.job.submit', (m) => {
      got.push(dec.decode(m.data));
    }, { queue: 'cordum-scheduler' });
    await bus.publish('sys.job.submit', enc.encode('before'));
    await eventually(() => expect(got).toEqual(['before']));

    // An operator deletes the stream (and with it every consumer) behind the bus's back.
    const admin = await connect({ servers: server.url });
    await (await jetstreamManager(admin)).streams.delete('CORDUM_SYS');
    await admin.close();

    // The first publishes may land before the consumer is back (interest retention keeps a message only
    // for existing consumers), so keep publishing until the group receives again.
    for (let i = 0; i < 100 && !got.some((g) => g.startsWith('after')); i++) {
      await bus.publish('sys.job.submit', enc.encode(`after-${i}`));
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(got.some((g) => g.startsWith('after'))).toBe(true);
    await bus.close();
  }, 40_000);
});

describe('NATS bus with a subscription the server refuses', () => {
  it('logs the refusal instead of crashing the process', async () => {
    const server = await startNats({ jetstream: false, args: ['-c', await permissionsConfig()] });
    const { logger, records } = createMemoryLogger();
    try {
      const bus = await connectNatsBus({ servers: server.url, user: 'app', pass: 'secret', logger });
      await bus.subscribe('secret.orders', () => undefined);
      await bus.flush();
      await eventually(() => expect(records.some((r) => r.msg === 'subscription ended with an error')).toBe(true));
      // The connection is still usable.
      const got: string[] = [];
      await bus.subscribe('public.x', (m) => {
        got.push(dec.decode(m.data));
      });
      await bus.flush();
      await bus.publish('public.x', enc.encode('ok'));
      await eventually(() => expect(got).toEqual(['ok']));
      await bus.close();
    } finally {
      await server.stop();
    }
  });
});

async function permissionsConfig(): Promise<string> {
  const path = join(process.env['TMPDIR'] ?? '/tmp', `cordum-nats-perm-${process.pid}-${Date.now()}.conf`);
  await writeFile(
    path,
    'authorization { users = [ { user: app, password: secret, permissions: { subscribe: { deny: ["secret.>"] } } } ] }\n',
  );
  return path;
}
