import { describe, expect, it } from 'vitest';
import { createLimiter } from './limiter.js';
import { subjectMatches } from './subject-match.js';

describe('subjectMatches', () => {
  it('follows NATS wildcard rules', () => {
    expect(subjectMatches('a.b', 'a.b')).toBe(true);
    expect(subjectMatches('a.*', 'a.b')).toBe(true);
    expect(subjectMatches('a.*', 'a.b.c')).toBe(false);
    expect(subjectMatches('a.>', 'a.b.c')).toBe(true);
    expect(subjectMatches('a.>', 'a')).toBe(false);
    expect(subjectMatches('*.b.>', 'x.b.y.z')).toBe(true);
    expect(subjectMatches('a.b', 'a.b.c')).toBe(false);
    expect(subjectMatches('a.b.c', 'a.b')).toBe(false);
    expect(subjectMatches('sys.job.>', 'sys.job.submit')).toBe(true);
  });
});

describe('createLimiter', () => {
  it('admits at most size holders and wakes waiters in order', async () => {
    const limiter = createLimiter(2);
    await limiter.acquire();
    await limiter.acquire();
    const order: number[] = [];
    const third = limiter.acquire().then(() => order.push(3));
    const fourth = limiter.acquire().then(() => order.push(4));
    await Promise.resolve();
    expect(order).toEqual([]);
    limiter.release();
    await third;
    expect(order).toEqual([3]);
    limiter.release();
    await fourth;
    expect(order).toEqual([3, 4]);
    expect(limiter.active).toBe(2);
    let idle = false;
    const waitIdle = limiter.idle().then(() => {
      idle = true;
    });
    limiter.release();
    await Promise.resolve();
    expect(idle).toBe(false);
    limiter.release();
    await waitIdle;
    expect(limiter.active).toBe(0);
  });
  it('rejects a non-positive size', () => {
    expect(() => createLimiter(0)).toThrow(RangeError);
  });
});

describe('Deque', () => {
  it('keeps FIFO order through growth, with front insertion', async () => {
    const { Deque } = await import('./deque.js');
    const d = new Deque<number>();
    for (let i = 0; i < 100; i++) d.push(i);
    for (let i = 0; i < 50; i++) expect(d.shift()).toBe(i);
    d.unshift(-1);
    for (let i = 100; i < 200; i++) d.push(i);
    expect(d.length).toBe(151);
    expect(d.shift()).toBe(-1);
    for (let i = 50; i < 200; i++) expect(d.shift()).toBe(i);
    expect(d.shift()).toBeUndefined();
    expect(d.length).toBe(0);
  });
});
