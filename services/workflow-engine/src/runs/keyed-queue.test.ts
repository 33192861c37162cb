import { describe, expect, it } from 'vitest';
import { createKeyedQueue } from './keyed-queue.js';

describe('keyed queue', () => {
  it('runs one pass per key at a time and coalesces requests made during a pass into one more', async () => {
    const errors: unknown[] = [];
    const q = createKeyedQueue((_k, e) => errors.push(e));
    let running = 0;
    let peak = 0;
    let passes = 0;
    let release: () => void = () => undefined;
    const work = async (): Promise<void> => {
      running++;
      peak = Math.max(peak, running);
      passes++;
      if (passes === 1) await new Promise<void>((r) => (release = r));
      running--;
    };
    const first = q.run('r1', work);
    await Promise.resolve();
    const later = [q.run('r1', work), q.run('r1', work), q.run('r1', work)];
    expect(q.size()).toBe(1);
    release();
    await Promise.all([first, ...later]);
    expect(passes).toBe(2);
    expect(peak).toBe(1);
    expect(q.size()).toBe(0);
    expect(errors).toEqual([]);
  });

  it('runs different keys concurrently and reports a failing pass without stopping the queue', async () => {
    const errors: string[] = [];
    const q = createKeyedQueue((k) => errors.push(k));
    const seen: string[] = [];
    await Promise.all([
      q.run('a', () => Promise.reject(new Error('x'))),
      q.run('b', () => {
        seen.push('b');
        return Promise.resolve();
      }),
    ]);
    await q.run('a', () => {
      seen.push('a');
      return Promise.resolve();
    });
    await q.idle();
    expect(errors).toEqual(['a']);
    expect(seen.sort()).toEqual(['a', 'b']);
  });
});
