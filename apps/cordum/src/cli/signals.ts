import { toError } from '@cordum/core';
import type { Output } from '../output.js';

export type SignalSource = {
  on(event: NodeJS.Signals, listener: () => void): unknown;
  off(event: NodeJS.Signals, listener: () => void): unknown;
};

/**
 * The first SIGINT/SIGTERM runs stop() and exits 0 (1 if stopping failed); a second one exits 1 at once —
 * the operator asked twice. Returns a function removing the listeners.
 */
export function stopOnSignals(
  stop: () => Promise<void>,
  deps: { output: Output; exit: (code: number) => void; source?: SignalSource },
): () => void {
  const source: SignalSource = deps.source ?? process;
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      deps.output.error(`${signal} again: exiting now`);
      deps.exit(1);
      return;
    }
    stopping = true;
    deps.output.line('');
    deps.output.line(`${signal}: shutting down (again to force)`);
    stop().then(
      () => {
        deps.output.line('stopped');
        deps.exit(0);
      },
      (err: unknown) => {
        deps.output.error(`shutdown failed: ${toError(err).message}`);
        deps.exit(1);
      },
    );
  };
  const listeners = (['SIGINT', 'SIGTERM'] as const).map((signal) => {
    const listener = (): void => onSignal(signal);
    source.on(signal, listener);
    return { signal, listener };
  });
  return () => {
    for (const { signal, listener } of listeners) source.off(signal, listener);
  };
}
