import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { handleSignals } from './signals.js';
import type { Worker, WorkerStats } from './types.js';

/** A worker whose drain the test controls; handleSignals only needs drain(). */
function fakeWorker(drain: (timeoutMs?: number) => Promise<void>): Worker {
  return { workerId: 'w', start: () => Promise.resolve(), drain, stats: () => ({}) as WorkerStats };
}

describe('handleSignals', () => {
  it('SIGTERM drains with the timeout, runs beforeExit, then exits 0', async () => {
    const source = new EventEmitter();
    const events: string[] = [];
    let exited: (code: number) => void = () => undefined;
    const exitCode = new Promise<number>((resolve) => {
      exited = resolve;
    });
    handleSignals(
      fakeWorker((timeoutMs) => {
        events.push(`drain ${timeoutMs}`);
        return Promise.resolve();
      }),
      {
        timeoutMs: 1234,
        source,
        beforeExit: () => {
          events.push('beforeExit');
        },
        exit: (code) => {
          events.push(`exit ${code}`);
          exited(code);
        },
      },
    );
    source.emit('SIGTERM');
    expect(await exitCode).toBe(0);
    expect(events).toEqual(['drain 1234', 'beforeExit', 'exit 0']);
  });

  it('a second signal while draining exits 1 at once; a failed drain exits 1', async () => {
    const source = new EventEmitter();
    const codes: number[] = [];
    let finishDrain: () => void = () => undefined;
    handleSignals(
      fakeWorker(
        () =>
          new Promise<void>((_, reject) => {
            finishDrain = () => reject(new Error('drain broke'));
          }),
      ),
      { source, exit: (code) => codes.push(code) },
    );
    source.emit('SIGINT');
    source.emit('SIGTERM');
    expect(codes).toEqual([1]);
    finishDrain();
    await new Promise((r) => setTimeout(r, 5));
    expect(codes).toEqual([1, 1]);
  });

  it('the returned function removes the listeners', () => {
    const source = new EventEmitter();
    const dispose = handleSignals(fakeWorker(() => Promise.resolve()), { source, exit: () => undefined });
    expect(source.listenerCount('SIGTERM')).toBe(1);
    expect(source.listenerCount('SIGINT')).toBe(1);
    dispose();
    expect(source.listenerCount('SIGTERM')).toBe(0);
  });
});
