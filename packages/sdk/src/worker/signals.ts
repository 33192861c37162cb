import { type Logger, createSilentLogger, toError } from '@cordum/core';
import { DEFAULT_DRAIN_TIMEOUT_MS } from './worker.js';
import type { Worker } from './types.js';

/** Where signals come from: the process, or an EventEmitter in tests. */
export type SignalSource = {
  on(event: NodeJS.Signals, listener: () => void): unknown;
  off(event: NodeJS.Signals, listener: () => void): unknown;
};

export type HandleSignalsOptions = {
  /** Drain timeout. Default 30 s. */
  timeoutMs?: number;
  /** Default SIGTERM and SIGINT. */
  signals?: readonly NodeJS.Signals[];
  /** Runs after the drain, before exit: close what the caller owns (bus, stores). */
  beforeExit?: () => Promise<void> | void;
  /** Default process.exit. */
  exit?: (code: number) => void;
  /** Default process. */
  source?: SignalSource;
  logger?: Logger;
};

/**
 * Graceful shutdown for a worker process: the first SIGTERM/SIGINT drains the worker (running jobs get up to
 * timeoutMs), runs beforeExit, then exits 0 (1 if any of it failed). A second signal while draining exits 1
 * at once — the operator asked twice. Returns a function that removes the listeners.
 */
export function handleSignals(worker: Worker, options: HandleSignalsOptions = {}): () => void {
  const source: SignalSource = options.source ?? process;
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const logger = options.logger ?? createSilentLogger();
  const signals = options.signals ?? (['SIGTERM', 'SIGINT'] as const);
  const timeoutMs = options.timeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS;
  let shuttingDown = false;

  const onSignal = (signal: NodeJS.Signals): void => {
    if (shuttingDown) {
      logger.warn({ signal }, 'second signal while draining: exiting now');
      exit(1);
      return;
    }
    shuttingDown = true;
    logger.info({ signal, timeout_ms: timeoutMs }, 'signal received: draining the worker');
    void (async () => {
      let code = 0;
      try {
        await worker.drain(timeoutMs);
      } catch (err) {
        code = 1;
        logger.error({ err: toError(err).message }, 'worker drain failed');
      }
      try {
        await options.beforeExit?.();
      } catch (err) {
        code = 1;
        logger.error({ err: toError(err).message }, 'shutdown hook failed');
      }
      exit(code);
    })();
  };

  const listeners = signals.map((signal) => {
    const listener = (): void => onSignal(signal);
    source.on(signal, listener);
    return { signal, listener };
  });
  return () => {
    for (const { signal, listener } of listeners) source.off(signal, listener);
  };
}
