import type { Subscription } from '@cordum/bus';
import { type JsonValue, RetryableError, isCordumError, isSafeId, toError } from '@cordum/core';
import { decodePacket } from '@cordum/protocol';
import type { JobRecord } from '@cordum/store';
import type { Principal } from '../auth/principal.js';
import type { GatewayContext } from '../context.js';
import { type DraftEvent, type EventFrame, type JobFacts, STREAM_SUBJECTS, draftEvent, settleEvent } from './events.js';
import { type StreamFilter, filterJson, matchesFilter, mayMatch, parseFilterObject } from './filter.js';
import type { StreamMetrics } from './metrics.js';

// The fan-out behind GET /api/v1/stream. Bus traffic (sys.job.>, sys.workflow.event, sys.alert; fan-out, so
// every gateway instance sees all of it) becomes event frames; each frame goes only to sockets of its tenant
// whose filter it passes. Memory is bounded everywhere: the ordered backlog of events waiting for a job-store
// read, the job-facts cache, and each socket's queue (a slow socket loses events and is told how many).

/** What the hub needs of a WebSocket (ws's WebSocket has it). */
export type StreamSocket = {
  readonly readyState: number;
  readonly bufferedAmount: number;
  send(data: string, cb?: (err?: Error) => void): void;
  ping(): void;
  close(code?: number, reason?: string): void;
  terminate(): void;
};

export type StreamOptions = {
  /** Sockets this instance serves at once; an upgrade beyond it gets 503. */
  maxConnections: number;
  /** Frames queued per socket while it is not reading; beyond it events are dropped and a `lagged` frame says how many. */
  bufferFrames: number;
  /** A ping every this long; a socket that has not answered the previous one is cut. */
  pingIntervalMs: number;
};

export const STREAM_DEFAULTS: StreamOptions = { maxConnections: 1000, bufferFrames: 1000, pingIntervalMs: 30_000 };

/** Close codes: 1001 going away (shutdown), 1008 policy (the socket's send failed), 1011 for our own faults. */
export const CLOSE_GOING_AWAY = 1001;

const OPEN = 1;
const CLOSED = 3;
/** ws keeps writing while the socket has less than this unsent; above it frames wait in our bounded queue. */
const HIGH_WATER_BYTES = 256 * 1024;
/** Events waiting (in order) for a job-store read; beyond it new events are dropped and every socket is told. */
const MAX_BACKLOG = 4096;
const FACTS_CACHE = 10_000;
const SHUTDOWN_GRACE_MS = 1000;
const LOOKUP_TIMEOUT_MS = 5000;

/** One socket's side of the stream, as the route wires it. */
export type StreamConnection = {
  readonly tenant: string;
  readonly filter: StreamFilter;
  /** A text frame from the client (subscribe, ping). */
  onMessage(text: string): void;
  /** A binary frame from the client (refused with an error frame). */
  onBinary(): void;
  /** A pong (or any traffic): the socket is alive. */
  onPong(): void;
  /** The socket closed (either side). */
  onClose(): void;
};

export type StreamHub = {
  /** Subscribes to the bus (once). */
  start(): Promise<void>;
  /** Whether another socket may connect. */
  hasRoom(): boolean;
  readonly size: number;
  /** Registers an upgraded socket and sends its `subscribed` frame. */
  accept(socket: StreamSocket, principal: Principal, filter: StreamFilter): StreamConnection;
  /** Unsubscribes, closes every socket (1001), cuts those that do not finish closing within a second. */
  close(): Promise<void>;
};

type ControlFrame = Record<string, JsonValue>;

function factsOf(job: JobRecord): JobFacts {
  const label = (k: string): string | null => {
    const v = job.labels[k];
    return v === undefined || v === '' ? null : v;
  };
  return { tenant: job.tenant, topic: job.topic, runId: label('run_id'), workflowId: label('workflow_id'), stepId: label('step_id') };
}

export function createStreamHub(ctx: GatewayContext, metrics: StreamMetrics, options: StreamOptions = STREAM_DEFAULTS): StreamHub {
  const byTenant = new Map<string, Set<Client>>();
  let size = 0;
  let subscriptions: Subscription[] | undefined;
  let pinger: NodeJS.Timeout | undefined;
  let closing = false;

  // ---- one socket -----------------------------------------------------------------------------------

  class Client implements StreamConnection {
    filter: StreamFilter;
    private readonly queue: string[] = [];
    private dropped = 0;
    private alive = true;
    private gone = false;

    constructor(
      readonly socket: StreamSocket,
      readonly principal: Principal,
      filter: StreamFilter,
    ) {
      this.filter = filter;
    }

    get tenant(): string {
      return this.principal.tenant;
    }

    /** Queues a frame; when the queue is full the frame is dropped and counted for the next `lagged` frame. */
    push(text: string): void {
      if (this.gone) return;
      if (this.queue.length >= options.bufferFrames) {
        this.dropped++;
        metrics.dropped.inc({ reason: 'slow_consumer' });
        return;
      }
      this.markGap();
      this.queue.push(text);
      this.pump();
    }

    /** Events dropped for the whole hub (backlog overflow) count as lost for this socket too. */
    lost(n: number): void {
      if (this.gone) return;
      this.dropped += n;
      this.pump();
    }

    control(frame: ControlFrame): void {
      this.push(JSON.stringify(frame));
    }

    // The `lagged` frame sits exactly where the gap is, after the frames queued before the loss.
    private markGap(): void {
      if (this.dropped === 0) return;
      const n = this.dropped;
      this.dropped = 0;
      this.queue.push(
        JSON.stringify({ type: 'lagged', dropped: n, message: `${n} event(s) were dropped because this socket was not reading fast enough` }),
      );
    }

    private pump(): void {
      if (this.queue.length === 0) this.markGap();
      const s = this.socket;
      while (!this.gone && this.queue.length > 0 && s.readyState === OPEN && s.bufferedAmount < HIGH_WATER_BYTES) {
        const text = this.queue.shift() as string;
        s.send(text, (err) => {
          if (err === undefined || err === null) this.pump();
          else if (!this.gone) this.end('send_failed', 1011, 'send failed');
        });
        if (this.queue.length === 0) this.markGap();
      }
    }

    onMessage(text: string): void {
      this.alive = true;
      let msg: unknown;
      try {
        msg = JSON.parse(text);
      } catch {
        this.error('messages must be JSON, e.g. {"type":"subscribe","filter":{"kind":"job"}}');
        return;
      }
      const type = typeof msg === 'object' && msg !== null && !Array.isArray(msg) ? (msg as { type?: unknown }).type : undefined;
      if (type === 'ping') {
        this.control({ type: 'pong' });
        return;
      }
      if (type !== 'subscribe') {
        this.error('unknown message type; send {"type":"subscribe","filter":{…}} or {"type":"ping"}');
        return;
      }
      const extra = Object.keys(msg as object).filter((k) => k !== 'type' && k !== 'filter');
      if (extra.length > 0) {
        this.error(`unknown field ${JSON.stringify(extra[0])} in subscribe; put job_id, run_id, topic and kind inside "filter"`);
        return;
      }
      try {
        this.filter = parseFilterObject((msg as { filter?: unknown }).filter);
      } catch (err) {
        this.error(toError(err).message, isCordumError(err) ? ({ ...err.details } as Record<string, JsonValue>) : {});
        return;
      }
      this.subscribed();
    }

    onBinary(): void {
      this.alive = true;
      this.error('binary frames are not understood; send JSON text frames');
    }

    onPong(): void {
      this.alive = true;
    }

    onClose(): void {
      this.end('client');
    }

    subscribed(): void {
      this.control({ type: 'subscribed', tenant_id: this.tenant, principal_id: this.principal.id, filter: filterJson(this.filter) });
    }

    private error(message: string, details: Record<string, JsonValue> = {}): void {
      this.control({ type: 'error', error: { code: 'invalid_argument', message, details } });
    }

    heartbeat(): void {
      if (this.gone) return;
      if (!this.alive) {
        this.end('ping_timeout');
        this.socket.terminate();
        return;
      }
      this.alive = false;
      try {
        this.socket.ping();
      } catch {
        // Not open (closing): the close event ends it.
      }
    }

    /** Forgets the socket (idempotent); closes it with `code` when given. */
    end(reason: string, code?: number, text?: string): void {
      if (this.gone) return;
      this.gone = true;
      this.queue.length = 0;
      const set = byTenant.get(this.tenant);
      set?.delete(this);
      if (set?.size === 0) byTenant.delete(this.tenant);
      size--;
      metrics.connections.set(size);
      metrics.disconnects.inc({ reason });
      if (code !== undefined) {
        try {
          this.socket.close(code, text);
        } catch {
          this.socket.terminate();
        }
      }
    }
  }

  // ---- bus → frames ---------------------------------------------------------------------------------

  const facts = new Map<string, JobFacts>();
  const reading = new Map<string, Promise<JobFacts | undefined>>();

  /** The job's store facts (cached: tenant and topic never change); undefined when there is no such job. */
  function jobFacts(jobId: string): Promise<JobFacts | undefined> {
    const hit = facts.get(jobId);
    if (hit !== undefined) {
      facts.delete(jobId);
      facts.set(jobId, hit);
      return Promise.resolve(hit);
    }
    const inFlight = reading.get(jobId);
    if (inFlight !== undefined) return inFlight;
    // A store call that never answers must not hold the ordered backlog forever.
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new RetryableError(`job store read took over ${LOOKUP_TIMEOUT_MS} ms`, { code: 'timeout' })), LOOKUP_TIMEOUT_MS);
      timer.unref();
    });
    const read = Promise.race([ctx.stores.jobs.get(jobId), timeout]).finally(() => clearTimeout(timer)).then(
      (job) => {
        reading.delete(jobId);
        if (job === undefined) return undefined;
        const f = factsOf(job);
        facts.set(jobId, f);
        if (facts.size > FACTS_CACHE) facts.delete(facts.keys().next().value as string);
        return f;
      },
      (err: unknown) => {
        reading.delete(jobId);
        throw err;
      },
    );
    reading.set(jobId, read);
    return read;
  }

  type Entry = { done: boolean; frame: EventFrame | undefined };
  const backlog: Entry[] = [];

  function deliver(frame: EventFrame): void {
    const clients = byTenant.get(frame.tenant_id);
    metrics.events.inc({ kind: frame.kind });
    if (clients === undefined) return;
    let text: string | undefined;
    for (const c of clients) {
      if (!matchesFilter(c.filter, frame)) continue;
      text ??= JSON.stringify(frame);
      c.push(text);
    }
  }

  // Frames leave in bus order even though store reads finish in any order.
  function flush(): void {
    while (backlog.length > 0 && (backlog[0] as Entry).done) {
      const { frame } = backlog.shift() as Entry;
      if (frame !== undefined) deliver(frame);
    }
  }

  function anyMayWant(draft: DraftEvent): boolean {
    for (const set of byTenant.values()) {
      for (const c of set) if (mayMatch(c.filter, draft.frame)) return true;
    }
    return false;
  }

  function onBusMessage(subject: string, data: Uint8Array, headers: Readonly<Record<string, string>>): void {
    if (size === 0 || closing) return;
    let draft: DraftEvent | undefined;
    try {
      draft = draftEvent(subject, decodePacket(data), headers, ctx.clock.now());
    } catch (err) {
      ctx.logger.debug({ subject, err: toError(err).message }, 'stream: malformed packet ignored');
      return;
    }
    if (draft === undefined || !anyMayWant(draft)) return;
    if (backlog.length >= MAX_BACKLOG) {
      metrics.dropped.inc({ reason: 'backlog' });
      for (const set of byTenant.values()) for (const c of set) c.lost(1);
      return;
    }
    const entry: Entry = { done: false, frame: undefined };
    backlog.push(entry);
    const settle = (f: JobFacts | undefined): void => {
      entry.frame = settleEvent(draft, f);
      if (entry.frame === undefined) metrics.dropped.inc({ reason: 'no_tenant' });
      entry.done = true;
      flush();
    };
    const jobId = draft.lookupJob;
    if (jobId === undefined) {
      settle(undefined);
      return;
    }
    if (!isSafeId(jobId)) {
      // No record can exist under such an id: only the packet's own tenant (if any) can place it.
      settle(undefined);
      return;
    }
    jobFacts(jobId).then(settle, (err: unknown) => {
      // Without the record we cannot tell whose event it is: nobody gets it.
      ctx.logger.warn({ subject, job_id: jobId, err: toError(err).message }, 'stream: job lookup failed, event dropped');
      metrics.dropped.inc({ reason: 'lookup_failed' });
      entry.done = true;
      flush();
    });
  }

  return {
    get size() {
      return size;
    },

    async start() {
      if (subscriptions !== undefined) return;
      subscriptions = [];
      for (const subject of STREAM_SUBJECTS) {
        // Concurrency 1 and a synchronous handler: frames keep the bus order.
        subscriptions.push(await ctx.bus.subscribe(subject, (msg) => onBusMessage(msg.subject, msg.data, msg.headers), { concurrency: 1 }));
      }
      pinger = setInterval(() => {
        for (const set of byTenant.values()) for (const c of [...set]) c.heartbeat();
      }, options.pingIntervalMs);
      pinger.unref();
    },

    hasRoom() {
      return !closing && size < options.maxConnections;
    },

    accept(socket, principal, filter) {
      if (!this.hasRoom()) {
        socket.close(1013, 'too many stream connections; retry later');
        throw new RetryableError('too many stream connections', { code: 'unavailable' });
      }
      const client = new Client(socket, principal, filter);
      let set = byTenant.get(principal.tenant);
      if (set === undefined) {
        set = new Set();
        byTenant.set(principal.tenant, set);
      }
      set.add(client);
      size++;
      metrics.connections.set(size);
      client.subscribed();
      return client;
    },

    async close() {
      closing = true;
      if (pinger !== undefined) clearInterval(pinger);
      pinger = undefined;
      const subs = subscriptions ?? [];
      subscriptions = undefined;
      await Promise.all(subs.map((s) => s.drain()));
      const sockets: StreamSocket[] = [];
      for (const set of byTenant.values()) {
        for (const c of [...set]) {
          sockets.push(c.socket);
          c.end('shutdown', CLOSE_GOING_AWAY, 'gateway shutting down');
        }
      }
      backlog.length = 0;
      // Clients answer the close handshake; those that do not within the grace period are cut.
      const deadline = Date.now() + SHUTDOWN_GRACE_MS;
      while (sockets.some((s) => s.readyState !== CLOSED) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      for (const s of sockets) if (s.readyState !== CLOSED) s.terminate();
    },
  };
}
