import { describe, expect, it } from 'vitest';
import { isExpired } from './common.js';

describe('isExpired', () => {
  it('follows Redis: a record is there through its expiresAt millisecond and gone from the next one', () => {
    expect(isExpired(1_000, 999)).toBe(false);
    expect(isExpired(1_000, 1_000)).toBe(false);
    expect(isExpired(1_000, 1_001)).toBe(true);
  });
});
