import { randomBytes } from 'node:crypto';
import { type Bus, type BusMessage } from '@cordum/bus';
import { InvalidError, RetryableError } from '@cordum/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

/**
 * A bus backend under test. Each fixture has its own durable subjects (and stream, for NATS) so tests never
 * share consumers; connect() returns a new client, like another process on the same server.
 */
export type BusFixture = {
  connect(): Promise<Bus>;
  /** Durable subjects of this fixture; empty when the backend runs in core mode. */
  readonly durableSubjects: readonly string[];
  /** The ack wait the fixture's buses use (kept short for redelivery tests). */
  readonly ackWaitMs: number;
  close(): Promise<void>;
};

export type BusFactory = () => Promise<BusFixture>;

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Polls until check() passes (sync or async) or timeoutMs elapses (then rethrows check's failure). */
export async function eventually(check: () => void | Promise<void>, timeoutMs = 5000, intervalMs = 10): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await check();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** `durable` registers the durable-delivery tests too (the fixture must then have durable subjects). */
export function runBusContract(label: string, factory: BusFactory, options: { durable: boolean }): void {
  describe(`Bus contract (${label})`, () => {
    let fixture: BusFixture;
    let buses: Bus[];
    let topic: string;

    const open = async (): Promise<Bus> => {
      const bus = await fixture.connect();
      buses.push(bus);
      return bus;
    };

    beforeEach(async () => {
      fixture = await factory();
      buses = [];
      topic = `job.contract.${randomBytes(4).toString('hex')}`;
    });

    afterEach(async () => {
      await Promise.all(buses.map((b) => b.close().catch(() => undefined)));
      await fixture.close();
    });

    describe('core delivery', () => {
      it('delivers data, headers and msg-id to a subscriber', async () => {
        const bus = await open();
        const got: BusMessage[] = [];
        await bus.subscribe(topic, (m) => {
          got.push(m);
        });
        await bus.flush();
        await bus.publish(topic, enc.encode('hello'), { headers: { 'x-trace': 't1' }, msgId: 'm-1' });
        await eventually(() => expect(got).toHaveLength(1));
        const m = got[0]!;
        expect(m.subject).toBe(topic);
        expect(dec.decode(m.data)).toBe('hello');
        expect(m.headers['x-trace']).toBe('t1');
        expect(m.msgId).toBe('m-1');
        expect(m.durable).toBe(false);
        expect(m.deliveryCount).toBe(1);
      });

      it('matches * and > wildcards', async () => {
        const bus = await open();
        const star: string[] = [];
        const tail: string[] = [];
        await bus.subscribe(`${topic}.*`, (m) => {
          star.push(m.subject);
        });
        await bus.subscribe(`${topic}.>`, (m) => {
          tail.push(m.subject);
        });
        await bus.flush();
        await bus.publish(`${topic}.a`, enc.encode('1'));
        await bus.publish(`${topic}.a.b`, enc.encode('2'));
        await bus.publish(topic, enc.encode('3'));
        await eventually(() => expect(tail.sort()).toEqual([`${topic}.a`, `${topic}.a.b`]));
        expect(star).toEqual([`${topic}.a`]);
      });

      it('fans out to every plain subscriber, across clients', async () => {
        const a = await open();
        const b = await open();
        const got: string[] = [];
        await a.subscribe(topic, () => {
          got.push('a');
        });
        await b.subscribe(topic, () => {
          got.push('b');
        });
        await Promise.all([a.flush(), b.flush()]);
        await a.publish(topic, enc.encode('x'));
        await eventually(() => expect(got.sort()).toEqual(['a', 'b']));
      });

      it('gives each message to exactly one member of a queue group', async () => {
        const a = await open();
        const b = await open();
        const seen = new Map<string, string>();
        const dupes: string[] = [];
        const record = (who: string) => (m: BusMessage) => {
          const body = dec.decode(m.data);
          if (seen.has(body)) dupes.push(body);
          seen.set(body, who);
        };
        await a.subscribe(topic, record('a'), { queue: topic });
        await b.subscribe(topic, record('b'), { queue: topic });
        await Promise.all([a.flush(), b.flush()]);
        await Promise.all(Array.from({ length: 100 }, (_, i) => a.publish(topic, enc.encode(String(i)))));
        await eventually(() => expect(seen.size).toBe(100));
        await sleep(50);
        expect(dupes).toEqual([]);
        const members = new Set(seen.values());
        expect(members).toEqual(new Set(['a', 'b']));
      });

      it('answers requests and reports timeouts and missing responders as retryable', async () => {
        const bus = await open();
        await bus.subscribe(`${topic}.echo`, (m) => {
          m.respond(enc.encode(`re:${dec.decode(m.data)}`), { headers: { 'x-replied': 'yes' } });
        });
        await bus.subscribe(`${topic}.silent`, () => undefined);
        await bus.flush();
        const reply = await bus.request(`${topic}.echo`, enc.encode('ping'), { timeoutMs: 2000 });
        expect(dec.decode(reply.data)).toBe('re:ping');
        expect(reply.headers['x-replied']).toBe('yes');

        const timeout = await bus.request(`${topic}.silent`, enc.encode('x'), { timeoutMs: 150 }).catch((e: unknown) => e);
        expect(timeout).toBeInstanceOf(RetryableError);
        expect((timeout as RetryableError).code).toBe('timeout');

        const nobody = await bus.request(`${topic}.nobody`, enc.encode('x'), { timeoutMs: 2000 }).catch((e: unknown) => e);
        expect(nobody).toBeInstanceOf(RetryableError);
        expect((nobody as RetryableError).code).toBe('unavailable');
      });

      it('keeps delivering after a handler throws', async () => {
        const bus = await open();
        const got: string[] = [];
        await bus.subscribe(topic, (m) => {
          const body = dec.decode(m.data);
          got.push(body);
          if (body === 'boom') throw new Error('handler bug');
        });
        await bus.flush();
        await bus.publish(topic, enc.encode('boom'));
        await bus.publish(topic, enc.encode('after'));
        await eventually(() => expect(got).toEqual(['boom', 'after']));
      });

      it('runs at most `concurrency` handlers of a subscription at once', async () => {
        const bus = await open();
        let running = 0;
        let peak = 0;
        let done = 0;
        await bus.subscribe(
          topic,
          async () => {
            running++;
            peak = Math.max(peak, running);
            await sleep(20);
            running--;
            done++;
          },
          { concurrency: 2 },
        );
        await bus.flush();
        await Promise.all(Array.from({ length: 8 }, () => bus.publish(topic, enc.encode('x'))));
        await eventually(() => expect(done).toBe(8));
        expect(peak).toBe(2);
      });

      it('stops delivering after a subscription drains', async () => {
        const bus = await open();
        const got: string[] = [];
        const sub = await bus.subscribe(topic, (m) => {
          got.push(dec.decode(m.data));
        });
        await bus.flush();
        await bus.publish(topic, enc.encode('one'));
        await eventually(() => expect(got).toEqual(['one']));
        await sub.drain();
        await bus.publish(topic, enc.encode('two'));
        await bus.flush();
        await sleep(100);
        expect(got).toEqual(['one']);
      });

      it('refuses to publish once closed', async () => {
        const bus = await open();
        await bus.close();
        expect(bus.status().connected).toBe(false);
        await expect(bus.publish(topic, enc.encode('x'))).rejects.toBeInstanceOf(RetryableError);
      });

      it('drain handles messages already queued behind the concurrency limit', async () => {
        const bus = await open();
        const handled: string[] = [];
        await bus.subscribe(
          topic,
          async (m) => {
            await sleep(30);
            handled.push(dec.decode(m.data));
          },
          { concurrency: 1 },
        );
        await bus.flush();
        for (let i = 0; i < 5; i++) await bus.publish(topic, enc.encode(String(i)));
        await bus.flush();
        await sleep(20);
        await bus.drain();
        expect(handled).toEqual(['0', '1', '2', '3', '4']);
      });

      it('lets running handlers publish while the bus drains', async () => {
        const worker = await open();
        const observer = await open();
        const results: string[] = [];
        await observer.subscribe(`${topic}.result`, (m) => {
          results.push(dec.decode(m.data));
        });
        await observer.flush();
        let started = false;
        await worker.subscribe(topic, async (m) => {
          started = true;
          await sleep(100);
          await worker.publish(`${topic}.result`, m.data);
        });
        await worker.flush();
        await worker.publish(topic, enc.encode('done'));
        await eventually(() => expect(started).toBe(true));
        await worker.drain();
        await eventually(() => expect(results).toEqual(['done']));
        await expect(worker.publish(topic, enc.encode('late'))).rejects.toBeInstanceOf(RetryableError);
      });

      it('drain waits for running handlers', async () => {
        const bus = await open();
        let finished = false;
        let started = false;
        await bus.subscribe(topic, async () => {
          started = true;
          await sleep(100);
          finished = true;
        });
        await bus.flush();
        await bus.publish(topic, enc.encode('x'));
        await eventually(() => expect(started).toBe(true));
        await bus.drain();
        expect(finished).toBe(true);
      });
    });

    describe('delivery modes', () => {
      it('reports which subjects are durable', async () => {
        const bus = await open();
        for (const s of fixture.durableSubjects) expect(bus.isDurableSubject(s)).toBe(true);
        expect(bus.isDurableSubject(topic)).toBe(false);
        expect(bus.durable).toBe(options.durable);
        expect(fixture.durableSubjects.length > 0).toBe(options.durable);
      });
    });

    if (!options.durable) return;

    describe('durable delivery', () => {
      const durable = (): string => {
        const s = fixture.durableSubjects[0];
        if (s === undefined) throw new Error('fixture has no durable subjects');
        return s;
      };

      it('acked messages are delivered once', async () => {
        const bus = await open();
        const got: BusMessage[] = [];
        const sub = await bus.subscribe(durable(), (m) => {
          got.push(m);
        }, { queue: 'g1' });
        expect(sub.durable).toBe(true);
        await bus.publish(durable(), enc.encode('a'));
        await eventually(() => expect(got).toHaveLength(1));
        await sleep(fixture.ackWaitMs + 300);
        expect(got).toHaveLength(1);
        expect(got[0]!.durable).toBe(true);
        expect(got[0]!.deliveryCount).toBe(1);
      });

      it('a nacked message is redelivered', async () => {
        const bus = await open();
        const counts: number[] = [];
        await bus.subscribe(durable(), (m) => {
          counts.push(m.deliveryCount);
          if (m.deliveryCount === 1) m.nak();
        }, { queue: 'g1' });
        await bus.publish(durable(), enc.encode('a'));
        await eventually(() => expect(counts).toEqual([1, 2]));
        await sleep(200);
        expect(counts).toEqual([1, 2]);
      });

      it('a RetryableError redelivers after its delay; other CordumErrors terminate', async () => {
        const bus = await open();
        const seen: { body: string; at: number; n: number }[] = [];
        await bus.subscribe(durable(), (m) => {
          const body = dec.decode(m.data);
          seen.push({ body, at: Date.now(), n: m.deliveryCount });
          if (body === 'retry' && m.deliveryCount === 1) {
            throw new RetryableError('kernel unavailable', { code: 'safety_unavailable', retryAfterMs: 300 });
          }
          if (body === 'invalid') throw new InvalidError('malformed packet');
        }, { queue: 'g1' });
        const sentAt = Date.now();
        await bus.publish(durable(), enc.encode('retry'));
        await bus.publish(durable(), enc.encode('invalid'));
        await eventually(() => expect(seen.filter((s) => s.body === 'retry').map((s) => s.n)).toEqual([1, 2]));
        const second = seen.find((s) => s.body === 'retry' && s.n === 2)!;
        expect(second.at - sentAt).toBeGreaterThanOrEqual(250);
        await sleep(fixture.ackWaitMs + 300);
        expect(seen.filter((s) => s.body === 'invalid')).toHaveLength(1);
      });

      it('a message published twice with the same msg-id is delivered once', async () => {
        const bus = await open();
        const got: string[] = [];
        await bus.subscribe(durable(), (m) => {
          got.push(dec.decode(m.data));
        }, { queue: 'g1' });
        await bus.publish(durable(), enc.encode('first'), { msgId: 'job-1#1' });
        await bus.publish(durable(), enc.encode('again'), { msgId: 'job-1#1' });
        await bus.publish(durable(), enc.encode('next'), { msgId: 'job-1#2' });
        await eventually(() => expect(got).toEqual(['first', 'next']));
        await sleep(200);
        expect(got).toEqual(['first', 'next']);
      });

      it('keeps messages for a group while none of its members is connected', async () => {
        const first = await open();
        const got: string[] = [];
        const sub = await first.subscribe(durable(), (m) => {
          got.push(dec.decode(m.data));
        }, { queue: 'g1' });
        await first.publish(durable(), enc.encode('before'));
        await eventually(() => expect(got).toEqual(['before']));
        await sub.drain();
        await first.publish(durable(), enc.encode('while-away-1'));
        await first.publish(durable(), enc.encode('while-away-2'));
        const later = await open();
        await later.subscribe(durable(), (m) => {
          got.push(dec.decode(m.data));
        }, { queue: 'g1' });
        await eventually(() => expect(got).toEqual(['before', 'while-away-1', 'while-away-2']));
      });

      it('redelivers to another member after the ack wait when a member dies mid-message', async () => {
        const dying = await open();
        const survivor = await open();
        let dyingGot = 0;
        const survivorGot: number[] = [];
        await dying.subscribe(durable(), async () => {
          dyingGot++;
          await new Promise(() => undefined); // never finishes: the process "crashes" below
        }, { queue: 'g1', concurrency: 1 });
        await dying.publish(durable(), enc.encode('work'));
        await eventually(() => expect(dyingGot).toBe(1));
        await dying.close();
        await survivor.subscribe(durable(), (m) => {
          survivorGot.push(m.deliveryCount);
        }, { queue: 'g1' });
        await eventually(() => expect(survivorGot).toEqual([2]), fixture.ackWaitMs * 4 + 2000);
      });

      it('does not redeliver messages that wait behind a slow handler', async () => {
        const bus = await open();
        const seen: string[] = [];
        await bus.subscribe(
          durable(),
          async (m) => {
            seen.push(`${dec.decode(m.data)}#${m.deliveryCount}`);
            await sleep(fixture.ackWaitMs * 1.2);
          },
          { queue: 'g1', concurrency: 1 },
        );
        for (const body of ['a', 'b', 'c']) await bus.publish(durable(), enc.encode(body));
        await eventually(() => expect(seen).toHaveLength(3), fixture.ackWaitMs * 6 + 5000);
        await sleep(fixture.ackWaitMs * 1.5);
        expect(seen).toEqual(['a#1', 'b#1', 'c#1']);
      }, 30_000);

      it('a new group starts with messages published after it first subscribed', async () => {
        const bus = await open();
        const first: string[] = [];
        const sub = await bus.subscribe(durable(), (m) => {
          first.push(dec.decode(m.data));
        }, { queue: 'g1' });
        await sub.drain();
        await bus.publish(durable(), enc.encode('old'));
        const late: string[] = [];
        await bus.subscribe(durable(), (m) => {
          late.push(dec.decode(m.data));
        }, { queue: 'g2' });
        await bus.flush();
        await sleep(100);
        await bus.publish(durable(), enc.encode('new'));
        await eventually(() => expect(late).toEqual(['new']));
        await sleep(200);
        expect(late).toEqual(['new']);
      });

      it('every queue group gets every message; plain subscribers get a core copy', async () => {
        const bus = await open();
        const g1: string[] = [];
        const g2: string[] = [];
        const plain: BusMessage[] = [];
        await bus.subscribe(durable(), (m) => {
          g1.push(dec.decode(m.data));
        }, { queue: 'g1' });
        await bus.subscribe(durable(), (m) => {
          g2.push(dec.decode(m.data));
        }, { queue: 'g2' });
        await bus.subscribe(durable(), (m) => {
          plain.push(m);
        });
        await bus.flush();
        await bus.publish(durable(), enc.encode('x'));
        await eventually(() => {
          expect(g1).toEqual(['x']);
          expect(g2).toEqual(['x']);
          expect(plain).toHaveLength(1);
        });
        expect(plain[0]!.durable).toBe(false);
      });

      it('delivers a burst of concurrent publishes exactly once per group', async () => {
        const a = await open();
        const b = await open();
        const counts = new Map<string, number>();
        const handler = (m: BusMessage): void => {
          const body = dec.decode(m.data);
          counts.set(body, (counts.get(body) ?? 0) + 1);
        };
        await a.subscribe(durable(), handler, { queue: 'g1' });
        await b.subscribe(durable(), handler, { queue: 'g1' });
        const n = 500;
        await Promise.all(Array.from({ length: n }, (_, i) => a.publish(durable(), enc.encode(String(i)), { msgId: `m${i}` })));
        await eventually(() => expect(counts.size).toBe(n), 15_000);
        await sleep(200);
        expect([...counts.values()].every((c) => c === 1)).toBe(true);
      });
    });
  });
}
