import { type Logger, type Metrics, RetryableError, createSilentLogger, toError } from '@cordum/core';
import { DURABLE_SUBJECTS, durableConsumerName } from '@cordum/protocol';
import {
  AckPolicy,
  type Consumer,
  type ConsumerMessages,
  DeliverPolicy,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  RetentionPolicy,
  StorageType,
  jetstream,
  jetstreamManager,
} from '@nats-io/jetstream';
import {
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  NoRespondersError,
  TimeoutError,
  headers as natsHeaders,
  nanos,
} from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { type Limiter, createLimiter } from '../limiter.js';
import {
  type Bus,
  type BusHeaders,
  type BusMessage,
  MSG_ID_HEADER,
  type MessageHandler,
  type PublishOptions,
  type SubscribeOptions,
  type Subscription,
} from '../port.js';
import {
  type BusInstruments,
  DEFAULT_SETTLE_POLICY,
  type SettlePolicy,
  createSettleableMessage,
  runHandler,
} from '../settle.js';

// The NATS adapter. Core NATS carries job dispatch, heartbeats, progress, cancel and events. With JetStream
// enabled, queue-group subscriptions on the durable subjects (sys.job.submit, sys.job.result, sys.job.dlq)
// are durable pull consumers named dur_<queue>__<subject> on one interest-retention stream: every group
// gets every message, kept until that group acks it. Everything else stays core NATS, so workers built with
// any CAP SDK (core queue subscribers on their topic) interoperate unchanged.

export type NatsBusOptions = {
  /** One or more nats:// URLs. */
  servers: string | readonly string[];
  /** Connection name shown by the server (monitoring). */
  name?: string;
  /** Enable durable delivery on the durable subjects (NATS_USE_JETSTREAM). Default false. */
  jetstream?: boolean;
  /** Stream holding the durable subjects. Default CORDUM_SYS. */
  streamName?: string;
  durableSubjects?: readonly string[];
  /** Redelivery after this long without ack (NATS_JS_ACK_WAIT). Default 30 s. */
  ackWaitMs?: number;
  /** Stream max age (NATS_JS_MAX_AGE). Default 7 d. */
  maxAgeMs?: number;
  /** Stream replicas (NATS_JS_REPLICAS). Default 1. */
  replicas?: number;
  /** Msg-id dedupe window. Default 2 min. */
  duplicateWindowMs?: number;
  /** Unacked messages per consumer. Default 2048. */
  maxAckPending?: number;
  /** Durable publishes awaiting their ack at once. Default 256. */
  publishWindow?: number;
  /** Default 5 s. */
  publishTimeoutMs?: number;
  maxDeliveries?: number;
  user?: string;
  pass?: string;
  token?: string;
  tls?: { caFile?: string; certFile?: string; keyFile?: string };
  logger?: Logger;
  metrics?: Metrics;
};

type JetStreamHandles = {
  client: JetStreamClient;
  manager: JetStreamManager;
  /** Creates the stream again if it was deleted (or adds missing subjects). */
  ensureStream(): Promise<void>;
};

type StreamLimits = { maxAgeMs: number; replicas: number; duplicateWindowMs: number };

type Resolved = {
  streamName: string;
  durableSubjects: ReadonlySet<string>;
  ackWaitMs: number;
  maxAckPending: number;
  publishTimeoutMs: number;
  policy: SettlePolicy;
  instruments: BusInstruments;
};

/** Connects and, with JetStream on, makes sure the stream exists. Throws RetryableError(unavailable). */
export async function connectNatsBus(options: NatsBusOptions): Promise<Bus> {
  const logger = options.logger ?? createSilentLogger();
  let nc: NatsConnection;
  try {
    nc = await connect({
      servers: typeof options.servers === 'string' ? options.servers : [...options.servers],
      name: options.name ?? 'cordum',
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      ...(options.user === undefined ? {} : { user: options.user }),
      ...(options.pass === undefined ? {} : { pass: options.pass }),
      ...(options.token === undefined ? {} : { token: options.token }),
      ...(options.tls === undefined ? {} : { tls: { ...options.tls } }),
    });
  } catch (err) {
    throw new RetryableError(`cannot connect to NATS at ${String(options.servers)}: ${toError(err).message}`, {
      code: 'unavailable',
      cause: err,
    });
  }
  const resolved: Resolved = {
    streamName: options.streamName ?? 'CORDUM_SYS',
    durableSubjects: new Set(options.jetstream === true ? (options.durableSubjects ?? DURABLE_SUBJECTS) : []),
    ackWaitMs: options.ackWaitMs ?? 30_000,
    maxAckPending: options.maxAckPending ?? 2048,
    publishTimeoutMs: options.publishTimeoutMs ?? 5000,
    policy: { ...DEFAULT_SETTLE_POLICY, maxDeliveries: options.maxDeliveries ?? DEFAULT_SETTLE_POLICY.maxDeliveries },
    instruments: { logger, metrics: options.metrics },
  };
  let js: JetStreamHandles | undefined;
  if (options.jetstream === true) {
    try {
      const manager = await jetstreamManager(nc);
      const limits = {
        maxAgeMs: options.maxAgeMs ?? 7 * 86_400_000,
        replicas: options.replicas ?? 1,
        duplicateWindowMs: options.duplicateWindowMs ?? 120_000,
      };
      await ensureStream(manager, resolved, limits);
      js = { client: jetstream(nc), manager, ensureStream: () => ensureStream(manager, resolved, limits) };
    } catch (err) {
      await nc.close();
      throw new RetryableError(`JetStream is not available: ${toError(err).message}`, { code: 'unavailable', cause: err });
    }
  }
  return createNatsBus(nc, js, resolved, createLimiter(options.publishWindow ?? 256));
}

async function ensureStream(manager: JetStreamManager, resolved: Resolved, limits: StreamLimits): Promise<void> {
  const wanted = [...resolved.durableSubjects];
  let existing: Awaited<ReturnType<JetStreamManager['streams']['info']>> | undefined;
  try {
    existing = await manager.streams.info(resolved.streamName);
  } catch (err) {
    if (!/stream not found/i.test(toError(err).message)) throw err;
  }
  if (existing === undefined) {
    await manager.streams.add({
      name: resolved.streamName,
      subjects: wanted,
      retention: RetentionPolicy.Interest,
      storage: StorageType.File,
      max_age: nanos(limits.maxAgeMs),
      duplicate_window: nanos(limits.duplicateWindowMs),
      num_replicas: limits.replicas,
    });
    return;
  }
  const subjects = existing.config.subjects ?? [];
  const missing = wanted.filter((s) => !subjects.includes(s));
  if (missing.length > 0) {
    await manager.streams.update(resolved.streamName, { ...existing.config, subjects: [...subjects, ...missing] });
  }
}

function toHeaders(headers: BusHeaders | undefined, msgId: string | undefined): MsgHdrs | undefined {
  if ((headers === undefined || Object.keys(headers).length === 0) && msgId === undefined) return undefined;
  const h = natsHeaders();
  for (const [k, v] of Object.entries(headers ?? {})) h.set(k, v);
  if (msgId !== undefined) h.set(MSG_ID_HEADER, msgId);
  return h;
}

function fromHeaders(h: MsgHdrs | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (h === undefined) return out;
  for (const key of h.keys()) out[key] = h.get(key);
  return out;
}

function unavailable(what: string, err: unknown): RetryableError {
  return new RetryableError(`NATS ${what} failed: ${toError(err).message}`, {
    code: 'unavailable',
    retryAfterMs: 500,
    cause: err,
  });
}

function createNatsBus(
  nc: NatsConnection,
  js: JetStreamHandles | undefined,
  resolved: Resolved,
  publishWindow: Limiter,
): Bus {
  const { logger } = resolved.instruments;
  const subscriptions = new Set<Subscription>();
  const consumerReady = new Map<string, Promise<Consumer>>();
  const repullers = new Set<() => void>();
  let reconnected: { promise: Promise<void>; resolve: () => void } | undefined;
  const untilConnected = (): Promise<void> => {
    if (connected || nc.isClosed()) return Promise.resolve();
    if (reconnected === undefined) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => {
        resolve = r;
      });
      reconnected = { promise, resolve };
    }
    return reconnected.promise;
  };
  let connected = true;
  let reconnects = 0;
  // draining: no new subscriptions, but running handlers may still publish (a worker's last results);
  // closed: nothing more goes out.
  let draining = false;
  let closed = false;

  void (async () => {
    for await (const s of nc.status()) {
      switch (s.type) {
        case 'disconnect':
          connected = false;
          logger.warn({ server: s.server }, 'NATS disconnected');
          break;
        case 'reconnect':
          connected = true;
          reconnects++;
          logger.info({ server: s.server }, 'NATS reconnected');
          // A pull issued before the disconnect is gone with it; make every durable loop pull again now
          // instead of waiting for that pull to expire.
          reconnected?.resolve();
          reconnected = undefined;
          for (const repull of repullers) repull();
          break;
        case 'close':
          connected = false;
          reconnected?.resolve();
          break;
        case 'reconnecting':
        case 'update':
        case 'ldm':
        case 'error':
        case 'ping':
        case 'staleConnection':
        case 'forceReconnect':
        case 'slowConsumer':
          break;
      }
    }
  })();

  const isDurableSubject = (subject: string): boolean => js !== undefined && resolved.durableSubjects.has(subject);

  function coreBase(m: Msg): Omit<BusMessage, 'ack' | 'nak' | 'term' | 'working'> {
    const headers = fromHeaders(m.headers);
    return {
      subject: m.subject,
      data: m.data,
      headers,
      msgId: headers[MSG_ID_HEADER],
      deliveryCount: 1,
      durable: false,
      respond(data, opts = {}) {
        if (m.reply === undefined || m.reply === '') return;
        const h = toHeaders(opts.headers, undefined);
        m.respond(data, h === undefined ? undefined : { headers: h });
      },
    };
  }

  /** The group's durable consumer, created on first use; `fresh` re-checks the server (after a failure). */
  function ensureConsumer(queue: string, subject: string, fresh = false): Promise<Consumer> {
    const name = durableConsumerName(queue, subject);
    let ready = fresh ? undefined : consumerReady.get(name);
    if (ready === undefined) {
      const { client, manager } = js!;
      const config = {
        durable_name: name,
        filter_subject: subject,
        ack_policy: AckPolicy.Explicit,
        // A group starts at the messages published after it first subscribes, as the memory broker does;
        // once created, the consumer keeps its position across restarts of either side.
        deliver_policy: DeliverPolicy.New,
        ack_wait: nanos(resolved.ackWaitMs),
        max_ack_pending: resolved.maxAckPending,
      };
      ready = (async () => {
        try {
          await manager.consumers.info(resolved.streamName, name).catch(async (err: unknown) => {
            // The stream itself may be gone (deleted by an operator): put it back, then look again.
            if (!/stream not found/i.test(toError(err).message)) throw err;
            await js!.ensureStream();
            return manager.consumers.info(resolved.streamName, name);
          });
          await manager.consumers.update(resolved.streamName, name, {
            ack_wait: config.ack_wait,
            max_ack_pending: config.max_ack_pending,
          });
        } catch (err) {
          if (!/consumer not found/i.test(toError(err).message)) throw err;
          await manager.consumers.add(resolved.streamName, config);
        }
        return client.consumers.get(resolved.streamName, name);
      })();
      ready.catch(() => consumerReady.delete(name));
      consumerReady.set(name, ready);
    }
    return ready;
  }

  async function subscribeDurable(
    subject: string,
    queue: string,
    handler: MessageHandler,
    concurrency: number,
  ): Promise<Subscription> {
    let consumer: Consumer;
    try {
      consumer = await ensureConsumer(queue, subject);
    } catch (err) {
      throw unavailable(`consumer setup for ${queue} on ${subject}`, err);
    }
    const limiter = createLimiter(concurrency);
    const keepAliveMs = Math.max(100, Math.floor(resolved.ackWaitMs / 3));
    let stopped = false;
    let batch: ConsumerMessages | undefined;

    const handle = (m: JsMsg): Promise<void> => {
      const headers = fromHeaders(m.headers);
      const delivery = createSettleableMessage(
        {
          subject: m.subject,
          data: m.data,
          headers,
          msgId: headers[MSG_ID_HEADER],
          deliveryCount: m.info.deliveryCount,
          durable: true,
          respond: () => undefined,
        },
        {
          ack: () => m.ack(),
          nak: (delayMs) => m.nak(delayMs),
          // The reason is logged by runHandler; `+TERM <reason>` needs nats-server 2.10.4+ (2.9 redelivers it).
          term: () => m.term(),
          working: () => m.working(),
        },
      );
      return runHandler(handler, delivery, { policy: resolved.policy, instruments: resolved.instruments, keepAliveMs });
    };

    // Pull only as many messages as there are free handler slots, so nothing waits unacknowledged behind a
    // busy handler (a buffered message would be redelivered elsewhere after the ack wait and then run twice).
    // A fetch that fails (consumer or stream deleted, server restarting) re-checks both and retries.
    const loop = (async () => {
      let failures = 0;
      while (!stopped) {
        await limiter.acquire();
        limiter.release();
        if (stopped) break;
        try {
          const want = concurrency - limiter.active;
          batch = await consumer.fetch({ max_messages: want, expires: FETCH_EXPIRES_MS, idle_heartbeat: FETCH_HEARTBEAT_MS });
          // drain() may have run while the pull was being set up and could not close a batch it did not see.
          // close() only takes effect when the iterator is read, so read on (nak'ing anything that arrives).
          if (stopped) void batch.close();
          logger.debug({ subject, queue, want }, 'durable pull');
          for await (const m of batch) {
            if (stopped) {
              m.nak();
              continue;
            }
            await limiter.acquire();
            void handle(m).finally(() => limiter.release());
          }
          failures = 0;
          logger.debug({ subject, queue }, 'durable pull ended');
        } catch (err) {
          if (stopped) break;
          failures++;
          const message = toError(err).message;
          logger.warn({ subject, queue, err: message, failures }, 'durable fetch failed; retrying');
          await new Promise((r) => setTimeout(r, Math.min(100 * 2 ** failures, 5000)));
          // While disconnected, a JetStream API call only waits out its timeout: wait for the reconnect.
          await untilConnected();
          if (MISSING_RESOURCE.test(message)) {
            consumer = await ensureConsumer(queue, subject, true).catch(() => consumer);
          }
        }
      }
    })();
    loop.catch((err: unknown) => logger.error({ subject, queue, err: toError(err).message }, 'durable loop ended'));
    const repull = (): void => {
      void batch?.close();
    };
    repullers.add(repull);

    const subscription: Subscription = {
      subject,
      queue,
      durable: true,
      async drain() {
        subscriptions.delete(subscription);
        repullers.delete(repull);
        stopped = true;
        await batch?.close();
        await loop.catch(() => undefined);
        await limiter.idle();
      },
    };
    subscriptions.add(subscription);
    return subscription;
  }

  function subscribeCore(subject: string, handler: MessageHandler, opts: SubscribeOptions): Subscription {
    const limiter = createLimiter(opts.concurrency ?? 64);
    const sub = nc.subscribe(subject, opts.queue === undefined ? {} : { queue: opts.queue });
    const loop = (async () => {
      for await (const m of sub) {
        await limiter.acquire();
        void runHandler(handler, createSettleableMessage(coreBase(m), undefined), {
          policy: resolved.policy,
          instruments: resolved.instruments,
          keepAliveMs: undefined,
        }).finally(() => limiter.release());
      }
    })();
    // The iterator ends with an error when the server refuses the subscription (permissions) or the
    // connection closes; log it instead of leaving an unhandled rejection that would kill the process.
    loop.catch((err: unknown) =>
      logger.error({ subject, queue: opts.queue, err: toError(err).message }, 'subscription ended with an error'),
    );
    const subscription: Subscription = {
      subject,
      queue: opts.queue,
      durable: false,
      async drain() {
        subscriptions.delete(subscription);
        if (!sub.isClosed()) await sub.drain().catch(() => undefined);
        await loop.catch(() => undefined);
        await limiter.idle();
      },
    };
    subscriptions.add(subscription);
    return subscription;
  }

  return {
    durable: js !== undefined,
    isDurableSubject,
    async publish(subject, data, opts: PublishOptions = {}) {
      if (nc.isClosed() || closed) throw new RetryableError('the bus connection is closed', { code: 'unavailable' });
      const h = toHeaders(opts.headers, opts.msgId);
      if (isDurableSubject(subject)) {
        const publishOpts = {
          timeout: resolved.publishTimeoutMs,
          ...(opts.msgId === undefined ? {} : { msgID: opts.msgId }),
          ...(h === undefined ? {} : { headers: h }),
        };
        await publishWindow.acquire();
        try {
          await js!.client.publish(subject, data, publishOpts).catch(async (err: unknown) => {
            // A deleted stream reads as "no responders" / "jetstream not enabled": recreate it once.
            if (!/no responders|not enabled|stream not found/i.test(toError(err).message)) throw err;
            await js!.ensureStream();
            return js!.client.publish(subject, data, publishOpts);
          });
        } catch (err) {
          throw unavailable(`durable publish on ${subject}`, err);
        } finally {
          publishWindow.release();
        }
        return;
      }
      try {
        nc.publish(subject, data, h === undefined ? undefined : { headers: h });
      } catch (err) {
        throw unavailable(`publish on ${subject}`, err);
      }
    },
    async subscribe(subject, handler, opts = {}) {
      if (nc.isClosed() || closed || draining) {
        throw new RetryableError('the bus connection is closed', { code: 'unavailable' });
      }
      if (opts.queue !== undefined && isDurableSubject(subject)) {
        return subscribeDurable(subject, opts.queue, handler, opts.concurrency ?? 64);
      }
      try {
        return subscribeCore(subject, handler, opts);
      } catch (err) {
        throw unavailable(`subscribe to ${subject}`, err);
      }
    },
    async request(subject, data, opts = {}) {
      const timeoutMs = opts.timeoutMs ?? 5000;
      try {
        const h = toHeaders(opts.headers, undefined);
        const reply = await nc.request(subject, data, { timeout: timeoutMs, ...(h === undefined ? {} : { headers: h }) });
        return createSettleableMessage(coreBase(reply), undefined).message;
      } catch (err) {
        if (err instanceof TimeoutError || hasCause(err, TimeoutError)) {
          throw new RetryableError(`no reply on ${subject} within ${timeoutMs} ms`, { code: 'timeout', cause: err });
        }
        if (err instanceof NoRespondersError || hasCause(err, NoRespondersError)) {
          throw new RetryableError(`no responders on ${subject}`, { code: 'unavailable', cause: err });
        }
        throw unavailable(`request on ${subject}`, err);
      }
    },
    async flush() {
      try {
        await nc.flush();
        await publishWindow.idle();
      } catch (err) {
        throw unavailable('flush', err);
      }
    },
    status: () => ({
      connected: connected && !nc.isClosed(),
      durable: js !== undefined,
      server: nc.getServer(),
      reconnects,
    }),
    async drain() {
      if (nc.isClosed()) return;
      draining = true;
      // Handlers still running may publish their results: keep publishing open until they are done.
      await Promise.all([...subscriptions].map((s) => s.drain()));
      await publishWindow.idle();
      closed = true;
      await nc.drain().catch(() => undefined);
    },
    async close() {
      closed = true;
      subscriptions.clear();
      if (!nc.isClosed()) await nc.close();
    },
  };
}

/** Fetch errors after which the consumer (and stream) are checked and recreated if gone. */
const MISSING_RESOURCE = /consumer not found|consumer deleted|stream not found|no responders|heartbeats missed/i;

/** How long one pull waits for messages before the loop asks again (the JetStream minimum is 1 s). */
const FETCH_EXPIRES_MS = 5000;
/**
 * The server heartbeats an open pull this often; two missed beats end it with an error, so a pull lost in
 * a server restart (sent while JetStream was still loading) is noticed in about a second, not at expiry.
 */
const FETCH_HEARTBEAT_MS = 500;

function hasCause(err: unknown, type: abstract new (...args: never[]) => Error): boolean {
  return err instanceof Error && err.cause instanceof type;
}
