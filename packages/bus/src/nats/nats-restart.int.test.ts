import { RetryableError } from '@cordum/core';
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
