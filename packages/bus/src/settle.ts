import { type Logger, type Metrics, backoffDelay, isCordumError, toError } from '@cordum/core';
import type { BusMessage, MessageHandler } from './port.js';

// How a subscription turns a handler's outcome into ack / nak / term (see MessageHandler in port.ts).
// Shared by both adapters so the memory bus and the NATS bus settle identically.

export type SettleControls = {
  ack(): void;
  nak(delayMs: number): void;
  term(reason: string): void;
  working(): void;
};

export type SettlePolicy = {
  /** Deliveries after which an unexpected failure is terminated instead of redelivered. */
  maxDeliveries: number;
  /** Redelivery delay for failures without a hint: exponential from 500 ms, capped here. */
  maxBackoffMs: number;
};

export const DEFAULT_SETTLE_POLICY: SettlePolicy = { maxDeliveries: 20, maxBackoffMs: 30_000 };

export type BusInstruments = {
  logger: Logger;
  metrics: Metrics | undefined;
};

/** A BusMessage whose settle calls are forwarded once (the first settle wins; later ones are ignored). */
export function createSettleableMessage(
  base: Omit<BusMessage, 'ack' | 'nak' | 'term' | 'working'>,
  controls: SettleControls | undefined,
): { message: BusMessage; settled: () => boolean } {
  let settled = controls === undefined;
  const once =
    (fn: () => void): (() => void) =>
    () => {
      if (settled) return;
      settled = true;
      fn();
    };
  const message: BusMessage = {
    ...base,
    ack: () => once(() => controls?.ack())(),
    nak: (delayMs = 0) => once(() => controls?.nak(delayMs))(),
    term: (reason = 'terminated by handler') => once(() => controls?.term(reason))(),
    working: () => {
      if (!settled) controls?.working();
    },
  };
  return { message, settled: () => settled };
}

/**
 * Runs a handler for one delivery and settles it by outcome. While the handler runs on a durable delivery,
 * working() is sent every keepAliveMs so a slow-but-alive handler is not redelivered elsewhere.
 */
export async function runHandler(
  handler: MessageHandler,
  delivery: { message: BusMessage; settled: () => boolean },
  options: { policy: SettlePolicy; instruments: BusInstruments; keepAliveMs: number | undefined },
): Promise<void> {
  const { message } = delivery;
  const { logger, metrics } = options.instruments;
  const keepAlive =
    message.durable && options.keepAliveMs !== undefined
      ? setInterval(() => message.working(), options.keepAliveMs)
      : undefined;
  keepAlive?.unref();
  try {
    await handler(message);
    if (message.durable && !delivery.settled()) message.ack();
    metrics?.counter('bus_handled_total', 'Bus messages handled, by outcome', ['outcome']).inc({ outcome: 'ok' });
  } catch (thrown) {
    const err = toError(thrown);
    const outcome = decide(err, message.deliveryCount, options.policy);
    metrics
      ?.counter('bus_handled_total', 'Bus messages handled, by outcome', ['outcome'])
      .inc({ outcome: message.durable ? outcome.action : 'failed' });
    const fields = {
      subject: message.subject,
      delivery: message.deliveryCount,
      msg_id: message.msgId,
      err: { name: err.name, message: err.message, code: isCordumError(err) ? err.code : undefined },
    };
    if (!message.durable) {
      logger.error(fields, 'bus handler failed (core delivery, not redelivered)');
      return;
    }
    if (delivery.settled()) {
      logger.warn(fields, 'bus handler failed after settling its message');
      return;
    }
    if (outcome.action === 'nak') {
      logger.warn({ ...fields, retry_in_ms: outcome.delayMs }, 'bus handler failed; message will be redelivered');
      message.nak(outcome.delayMs);
    } else {
      logger.error({ ...fields, reason: outcome.reason }, 'bus handler failed; message terminated');
      message.term(outcome.reason);
    }
  } finally {
    if (keepAlive !== undefined) clearInterval(keepAlive);
  }
}

type Outcome = { action: 'nak'; delayMs: number } | { action: 'term'; reason: string };

function decide(err: Error, deliveryCount: number, policy: SettlePolicy): Outcome {
  if (isCordumError(err)) {
    if (err.kind === 'retryable') {
      const hint = 'retryAfterMs' in err && typeof err.retryAfterMs === 'number' ? err.retryAfterMs : undefined;
      return { action: 'nak', delayMs: hint ?? backoff(deliveryCount, policy) };
    }
    return { action: 'term', reason: `${err.code}: ${err.message}` };
  }
  if (deliveryCount >= policy.maxDeliveries) {
    return { action: 'term', reason: `gave up after ${deliveryCount} deliveries: ${err.message}` };
  }
  return { action: 'nak', delayMs: backoff(deliveryCount, policy) };
}

function backoff(deliveryCount: number, policy: SettlePolicy): number {
  return backoffDelay(Math.max(1, deliveryCount), { initialMs: 500, maxMs: policy.maxBackoffMs, jitter: 'equal' });
}
