import { type Logger, type Metrics, RetryableError, createSilentLogger } from '@cordum/core';
import { DURABLE_SUBJECTS } from '@cordum/protocol';
import { Deque } from '../deque.js';
import { type Limiter, createLimiter } from '../limiter.js';
import {
  type Bus,
  type BusHeaders,
  type BusMessage,
  MSG_ID_HEADER,
  type MessageHandler,
  type PublishOptions,
  type RequestOptions,
  type SubscribeOptions,
  type Subscription,
} from '../port.js';
import {
  type BusInstruments,
  DEFAULT_SETTLE_POLICY,
  type SettleControls,
  type SettlePolicy,
  createSettleableMessage,
  runHandler,
} from '../settle.js';
import { subjectMatches } from '../subject-match.js';

// An in-process broker with the semantics of our NATS usage, so `cordum dev` and unit tests behave like
// production. Several Bus clients can connect to one broker (like processes to one NATS server): closing a
// client abruptly leaves its unsettled durable deliveries to be redelivered to the others after the ack
// wait, exactly as JetStream does.
//
// core mode: at-most-once; fan-out, or one member per queue group.
// durable mode: queue-group subscriptions on the durable subjects get a durable consumer per group:
// messages are kept until acked, redelivered after ackWaitMs or a nak, and a msg-id seen within
// dedupeWindowMs is not stored again. Like a JetStream stream with interest retention, a message published
// while no consumer group exists yet is not retained.

export type MemoryBusOptions = {
  mode?: 'core' | 'durable';
  /** Subjects that are durable in durable mode. Default: sys.job.submit, sys.job.result, sys.job.dlq. */
  durableSubjects?: readonly string[];
  /** Default 30 s. */
  ackWaitMs?: number;
  /** Default 2 min (the JetStream default duplicate window). */
  dedupeWindowMs?: number;
  /** Durable messages older than this are dropped unhandled (the stream's max age). Default 7 d. */
  maxAgeMs?: number;
  /** Core messages a subscriber may have waiting before new ones are dropped. Default 65,536. */
  maxPending?: number;
  maxDeliveries?: number;
  logger?: Logger;
  metrics?: Metrics;
};

export type MemoryBroker = {
  readonly mode: 'core' | 'durable';
  /** A new client of this broker. */
  connect(options?: { logger?: Logger }): Bus;
  /** Unsettled + pending durable messages per consumer (`<queue>/<subject>`), for tests and status pages. */
  backlog(): Record<string, number>;
};

type Envelope = {
  subject: string;
  publishedAt: number;
  data: Uint8Array;
  headers: BusHeaders;
  msgId: string | undefined;
  replyTo: ((data: Uint8Array, headers: BusHeaders) => void) | undefined;
};

type Client = {
  closed: boolean;
  instruments: BusInstruments;
};

type CoreSub = {
  pattern: string;
  /** Accepted and not yet handled. */
  pending: number;
  queue: string | undefined;
  client: Client;
  handler: MessageHandler;
  limiter: Limiter;
  active: boolean;
};

type Pending = { envelope: Envelope; deliveryCount: number };

type Inflight = Pending & { deliveryId: number; member: Member; timer: NodeJS.Timeout };

type Member = {
  client: Client;
  handler: MessageHandler;
  concurrency: number;
  running: number;
  active: boolean;
};

type Consumer = {
  queue: string;
  subject: string;
  backlog: Deque<Pending>;
  inflight: Map<number, Inflight>;
  members: Member[];
  next: number;
};

export function createMemoryBroker(options: MemoryBusOptions = {}): MemoryBroker {
  const mode = options.mode ?? 'core';
  const durableSubjects = new Set(mode === 'durable' ? (options.durableSubjects ?? DURABLE_SUBJECTS) : []);
  const ackWaitMs = options.ackWaitMs ?? 30_000;
  const dedupeWindowMs = options.dedupeWindowMs ?? 120_000;
  const maxAgeMs = options.maxAgeMs ?? 7 * 86_400_000;
  const maxPending = options.maxPending ?? 65_536;
  const policy: SettlePolicy = { ...DEFAULT_SETTLE_POLICY, maxDeliveries: options.maxDeliveries ?? 20 };
  const keepAliveMs = Math.max(50, Math.floor(ackWaitMs / 3));

  const coreSubs: CoreSub[] = [];
  const queueCursor = new Map<string, number>();
  const consumers = new Map<string, Consumer>();
  const seenMsgIds = new Map<string, number>();
  let deliverySeq = 0;

  const isDurableSubject = (subject: string): boolean => durableSubjects.has(subject);

  // ---- core delivery ------------------------------------------------------------------------------

  function deliverCore(sub: CoreSub, envelope: Envelope): void {
    // Core is at-most-once: a subscriber that cannot keep up loses messages beyond its pending limit, as a
    // NATS slow consumer does, instead of growing memory without bound.
    if (sub.pending >= maxPending) {
      options.metrics
        ?.counter('bus_dropped_total', 'Core messages dropped by slow subscribers', ['subject'])
        .inc({ subject: sub.pattern });
      return;
    }
    sub.pending++;
    void sub.limiter.acquire().then(async () => {
      try {
        // Messages accepted before a drain are still handled (drain waits for them); a closed client's are not.
        if (sub.client.closed) return;
        const delivery = createSettleableMessage(baseMessage(envelope, 1, false), undefined);
        await runHandler(sub.handler, delivery, { policy, instruments: sub.client.instruments, keepAliveMs: undefined });
      } finally {
        sub.pending--;
        sub.limiter.release();
      }
    });
  }

  function fanOut(envelope: Envelope): number {
    const groups = new Map<string, CoreSub[]>();
    let receivers = 0;
    for (const sub of coreSubs) {
      if (!sub.active || !subjectMatches(sub.pattern, envelope.subject)) continue;
      if (sub.queue === undefined) {
        deliverCore(sub, envelope);
        receivers++;
      } else {
        const key = `${sub.pattern}\u0000${sub.queue}`;
        const members = groups.get(key) ?? [];
        members.push(sub);
        groups.set(key, members);
      }
    }
    for (const [key, members] of groups) {
      const cursor = (queueCursor.get(key) ?? 0) % members.length;
      queueCursor.set(key, cursor + 1);
      const chosen = members[cursor];
      if (chosen !== undefined) {
        deliverCore(chosen, envelope);
        receivers++;
      }
    }
    return receivers;
  }

  // ---- durable delivery ---------------------------------------------------------------------------

  function consumerKey(queue: string, subject: string): string {
    return `${queue}/${subject}`;
  }

  function pump(consumer: Consumer): void {
    while (consumer.backlog.length > 0) {
      const member = pickMember(consumer);
      if (member === undefined) return;
      const item = consumer.backlog.shift();
      if (item === undefined) return;
      if (Date.now() - item.envelope.publishedAt > maxAgeMs) continue;
      dispatch(consumer, member, item);
    }
  }

  function pickMember(consumer: Consumer): Member | undefined {
    const n = consumer.members.length;
    for (let i = 0; i < n; i++) {
      const member = consumer.members[(consumer.next + i) % n];
      if (member !== undefined && member.active && !member.client.closed && member.running < member.concurrency) {
        consumer.next = (consumer.next + i + 1) % n;
        return member;
      }
    }
    return undefined;
  }

  function dispatch(consumer: Consumer, member: Member, item: Pending): void {
    const deliveryId = ++deliverySeq;
    const deliveryCount = item.deliveryCount + 1;
    const inflight: Inflight = {
      ...item,
      deliveryCount,
      deliveryId,
      member,
      timer: setTimeout(() => expire(consumer, deliveryId), ackWaitMs),
    };
    inflight.timer.unref();
    consumer.inflight.set(deliveryId, inflight);
    member.running++;
    const current = (): Inflight | undefined => {
      const entry = consumer.inflight.get(deliveryId);
      return entry !== undefined && !member.client.closed ? entry : undefined;
    };
    const controls: SettleControls = {
      ack() {
        const entry = current();
        if (entry === undefined) return;
        clearTimeout(entry.timer);
        consumer.inflight.delete(deliveryId);
      },
      nak(delayMs) {
        const entry = current();
        if (entry === undefined) return;
        clearTimeout(entry.timer);
        consumer.inflight.delete(deliveryId);
        requeue(consumer, { envelope: entry.envelope, deliveryCount }, delayMs);
      },
      term() {
        const entry = current();
        if (entry === undefined) return;
        clearTimeout(entry.timer);
        consumer.inflight.delete(deliveryId);
      },
      working() {
        const entry = current();
        if (entry === undefined) return;
        clearTimeout(entry.timer);
        entry.timer = setTimeout(() => expire(consumer, deliveryId), ackWaitMs);
        entry.timer.unref();
      },
    };
    const delivery = createSettleableMessage(baseMessage(item.envelope, deliveryCount, true), controls);
    queueMicrotask(() => {
      void runHandler(member.handler, delivery, {
        policy,
        instruments: member.client.instruments,
        keepAliveMs,
      }).finally(() => {
        member.running--;
        pump(consumer);
      });
    });
  }

  function expire(consumer: Consumer, deliveryId: number): void {
    const entry = consumer.inflight.get(deliveryId);
    if (entry === undefined) return;
    consumer.inflight.delete(deliveryId);
    requeue(consumer, { envelope: entry.envelope, deliveryCount: entry.deliveryCount }, 0);
  }

  function requeue(consumer: Consumer, item: Pending, delayMs: number): void {
    if (delayMs <= 0) {
      consumer.backlog.unshift(item);
      pump(consumer);
      return;
    }
    setTimeout(() => {
      consumer.backlog.unshift(item);
      pump(consumer);
    }, delayMs).unref();
  }

  function storeDurable(envelope: Envelope): void {
    if (envelope.msgId !== undefined) {
      const now = Date.now();
      for (const [id, expires] of seenMsgIds) {
        if (expires > now) break;
        seenMsgIds.delete(id);
      }
      const seen = seenMsgIds.get(envelope.msgId);
      if (seen !== undefined && seen > now) return;
      seenMsgIds.set(envelope.msgId, now + dedupeWindowMs);
    }
    for (const consumer of consumers.values()) {
      if (consumer.subject !== envelope.subject) continue;
      consumer.backlog.push({ envelope, deliveryCount: 0 });
      pump(consumer);
    }
  }

  // ---- clients ------------------------------------------------------------------------------------

  function connect(connectOptions: { logger?: Logger } = {}): Bus {
    const client: Client = {
      closed: false,
      instruments: {
        logger: connectOptions.logger ?? options.logger ?? createSilentLogger(),
        metrics: options.metrics,
      },
    };
    const subscriptions = new Set<Subscription>();

    const closedError = (): RetryableError =>
      new RetryableError('the bus connection is closed', { code: 'unavailable' });

    function envelopeOf(subject: string, data: Uint8Array, opts: PublishOptions | RequestOptions = {}): Envelope {
      const headers: Record<string, string> = { ...opts.headers };
      const msgId = 'msgId' in opts ? opts.msgId : undefined;
      if (msgId !== undefined) headers[MSG_ID_HEADER] = msgId;
      return { subject, publishedAt: Date.now(), data: Uint8Array.from(data), headers, msgId, replyTo: undefined };
    }

    async function subscribeCore(pattern: string, handler: MessageHandler, opts: SubscribeOptions): Promise<Subscription> {
      const sub: CoreSub = {
        pattern,
        queue: opts.queue,
        client,
        handler,
        limiter: createLimiter(opts.concurrency ?? 64),
        pending: 0,
        active: true,
      };
      coreSubs.push(sub);
      const subscription: Subscription = {
        subject: pattern,
        queue: opts.queue,
        durable: false,
        async drain() {
          sub.active = false;
          const at = coreSubs.indexOf(sub);
          if (at >= 0) coreSubs.splice(at, 1);
          subscriptions.delete(subscription);
          await sub.limiter.idle();
        },
      };
      subscriptions.add(subscription);
      return Promise.resolve(subscription);
    }

    async function subscribeDurable(subject: string, queue: string, handler: MessageHandler, opts: SubscribeOptions): Promise<Subscription> {
      const key = consumerKey(queue, subject);
      let consumer = consumers.get(key);
      if (consumer === undefined) {
        consumer = { queue, subject, backlog: new Deque<Pending>(), inflight: new Map(), members: [], next: 0 };
        consumers.set(key, consumer);
      }
      const member: Member = { client, handler, concurrency: opts.concurrency ?? 64, running: 0, active: true };
      consumer.members.push(member);
      const owner = consumer;
      const subscription: Subscription = {
        subject,
        queue,
        durable: true,
        async drain() {
          member.active = false;
          owner.members = owner.members.filter((m) => m !== member);
          subscriptions.delete(subscription);
          while (member.running > 0) await new Promise((r) => setTimeout(r, 5));
        },
      };
      subscriptions.add(subscription);
      queueMicrotask(() => pump(owner));
      return Promise.resolve(subscription);
    }

    const bus: Bus = {
      durable: mode === 'durable',
      isDurableSubject,
      publish(subject, data, opts = {}) {
        if (client.closed) return Promise.reject(closedError());
        const envelope = envelopeOf(subject, data, opts);
        fanOut(envelope);
        if (isDurableSubject(subject)) storeDurable(envelope);
        return Promise.resolve();
      },
      subscribe(subject, handler, opts = {}) {
        if (client.closed) return Promise.reject(closedError());
        if (opts.queue !== undefined && isDurableSubject(subject)) {
          return subscribeDurable(subject, opts.queue, handler, opts);
        }
        return subscribeCore(subject, handler, opts);
      },
      request(subject, data, opts = {}) {
        if (client.closed) return Promise.reject(closedError());
        return new Promise<BusMessage>((resolve, reject) => {
          const timeoutMs = opts.timeoutMs ?? 5000;
          let done = false;
          const timer = setTimeout(() => {
            if (done) return;
            done = true;
            reject(new RetryableError(`no reply on ${subject} within ${timeoutMs} ms`, { code: 'timeout' }));
          }, timeoutMs);
          const envelope: Envelope = {
            ...envelopeOf(subject, data, opts),
            replyTo: (reply, headers) => {
              if (done) return;
              done = true;
              clearTimeout(timer);
              resolve(
                createSettleableMessage(
                  baseMessage(
                    { subject, publishedAt: Date.now(), data: reply, headers, msgId: undefined, replyTo: undefined },
                    1,
                    false,
                  ),
                  undefined,
                ).message,
              );
            },
          };
          if (fanOut(envelope) === 0) {
            done = true;
            clearTimeout(timer);
            reject(new RetryableError(`no responders on ${subject}`, { code: 'unavailable' }));
          }
        });
      },
      flush: () => new Promise((resolve) => setImmediate(resolve)),
      status: () => ({ connected: !client.closed, durable: mode === 'durable', server: 'memory', reconnects: 0 }),
      async drain() {
        if (client.closed) return;
        await Promise.all([...subscriptions].map((s) => s.drain()));
        client.closed = true;
      },
      close() {
        client.closed = true;
        for (let i = coreSubs.length - 1; i >= 0; i--) {
          if (coreSubs[i]?.client === client) coreSubs.splice(i, 1);
        }
        for (const consumer of consumers.values()) {
          consumer.members = consumer.members.filter((m) => m.client !== client);
        }
        subscriptions.clear();
        return Promise.resolve();
      },
    };
    return bus;
  }

  return {
    mode,
    connect,
    backlog() {
      const out: Record<string, number> = {};
      for (const [key, c] of consumers) out[key] = c.backlog.length + c.inflight.size;
      return out;
    },
  };
}

function baseMessage(
  envelope: Envelope,
  deliveryCount: number,
  durable: boolean,
): Omit<BusMessage, 'ack' | 'nak' | 'term' | 'working'> {
  return {
    subject: envelope.subject,
    data: envelope.data,
    headers: envelope.headers,
    msgId: envelope.msgId,
    deliveryCount,
    durable,
    respond(data, opts = {}) {
      envelope.replyTo?.(Uint8Array.from(data), { ...opts.headers });
    },
  };
}

/** A broker with one client: the usual way to get an in-process bus. */
export function createMemoryBus(options: MemoryBusOptions = {}): Bus {
  return createMemoryBroker(options).connect();
}
