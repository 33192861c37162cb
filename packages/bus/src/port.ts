// The Bus port. The store is the source of truth and the bus is a doorbell: a lost message costs latency
// (a replayer re-derives it from the store), never work. Two delivery modes, chosen per subject:
//  - core: at-most-once, fan-out or queue group, nothing retained (job dispatch, heartbeats, progress,
//    cancel, events);
//  - durable (when enabled, only for the durable subjects sys.job.submit / sys.job.result / sys.job.dlq and
//    only for queue-group subscribers): retained until acknowledged, redelivered after the ack wait or a
//    nak, deduplicated by msg-id within a window.

export type BusHeaders = Readonly<Record<string, string>>;

/** Header carrying a publish's msg-id (the JetStream dedupe header). */
export const MSG_ID_HEADER = 'Nats-Msg-Id';

export type BusMessage = {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly headers: BusHeaders;
  readonly msgId: string | undefined;
  /** 1 on the first delivery, more on redeliveries (durable subscriptions only). */
  readonly deliveryCount: number;
  /** True when this delivery comes from a durable subscription and must be settled. */
  readonly durable: boolean;
  /** Answers a request() (no-op when the sender did not ask for a reply). */
  respond(data: Uint8Array, options?: { headers?: BusHeaders }): void;
  /**
   * Durable deliveries are settled automatically from the handler's outcome (see Handler). These let a
   * handler settle explicitly instead; on core deliveries they do nothing.
   */
  ack(): void;
  /** Redeliver after delayMs (default: immediately). */
  nak(delayMs?: number): void;
  /** Never redeliver. */
  term(reason?: string): void;
  /** Restarts the ack-wait timer (the subscription also does this while a handler runs). */
  working(): void;
};

/**
 * Handles one message. On a durable subscription the outcome settles it unless the handler already did:
 *  - resolves → ack (so handlers must persist before returning: "ack after the handler persisted");
 *  - throws RetryableError → nak with its retryAfterMs (or backoff by delivery count);
 *  - throws another CordumError (invalid, denied, not found, conflict, terminal) → term: retrying cannot help;
 *  - throws anything else → nak with backoff, and term once maxDeliveries is reached.
 * On core subscriptions failures are logged and counted; there is nothing to redeliver.
 */
export type MessageHandler = (msg: BusMessage) => Promise<void> | void;

export type SubscribeOptions = {
  /** Queue group: each message goes to one member of the group. */
  queue?: string;
  /** Handlers running at once for this subscription. Default 64. */
  concurrency?: number;
};

export type PublishOptions = {
  headers?: BusHeaders;
  /** Deduplication id (e.g. `<job_id>#<attempt>`); durable subjects drop a repeat within the window. */
  msgId?: string;
};

export type RequestOptions = {
  /** Default 5000. */
  timeoutMs?: number;
  headers?: BusHeaders;
};

export type Subscription = {
  readonly subject: string;
  readonly queue: string | undefined;
  /** Whether this subscription receives durable (ack-required) deliveries. */
  readonly durable: boolean;
  /** Stops delivery and waits for running handlers to finish (they settle their messages). */
  drain(): Promise<void>;
};

export type BusStatus = {
  readonly connected: boolean;
  readonly durable: boolean;
  readonly server: string;
  readonly reconnects: number;
};

export type Bus = {
  /** True when durable delivery (JetStream / memory durable mode) is on. */
  readonly durable: boolean;
  /** Whether queue-group subscriptions on this subject are durable. */
  isDurableSubject(subject: string): boolean;
  /**
   * Publishes. Core subjects resolve once the message is handed to the connection; durable subjects once
   * the server stored it (a bounded window of publishes is in flight at once — call without awaiting each in
   * a loop, then await them together). Throws RetryableError(unavailable) when the bus cannot take it.
   */
  publish(subject: string, data: Uint8Array, options?: PublishOptions): Promise<void>;
  /** Subject may be a pattern (`*`, `>`) for core subscriptions. */
  subscribe(subject: string, handler: MessageHandler, options?: SubscribeOptions): Promise<Subscription>;
  /** Core request/reply. Throws RetryableError(timeout) or RetryableError(unavailable) (no responders). */
  request(subject: string, data: Uint8Array, options?: RequestOptions): Promise<BusMessage>;
  /** Resolves when everything published so far has reached the server. */
  flush(): Promise<void>;
  status(): BusStatus;
  /** Graceful: stops every subscription, waits for running handlers and pending publishes, then closes. */
  drain(): Promise<void>;
  /** Abrupt: closes now. Unsettled durable deliveries are redelivered (to others) after the ack wait. */
  close(): Promise<void>;
};
