import { describe, expect, it } from 'vitest';
import {
  backoffDelay,
  canonicalJson,
  createMemoryLogger,
  hasUnsafeKeys,
  jsonMergePatch,
  mergeEffectiveConfig,
} from './index.js';

describe('logger redaction reaches nested and differently spelled secrets', () => {
  it('redacts headers, camelCase tokens and cookies up to three levels down', () => {
    const { logger, records } = createMemoryLogger();
    logger.info(
      {
        req: { headers: { authorization: 'Bearer a', Authorization: 'Bearer b', cookie: 'c', 'x-api-key': 'k' } },
        heartbeat: { value: { authToken: 't' } },
        oauth: { access_token: 'x', client_secret: 'y', refreshToken: 'z' },
        safe: { worker_id: 'w1' },
      },
      'request',
    );
    const line = JSON.stringify(records[0]);
    for (const secret of ['Bearer a', 'Bearer b', '"c"', '"k"', '"t"', '"x"', '"y"', '"z"']) {
      expect(line).not.toContain(secret);
    }
    expect(line).toContain('"worker_id":"w1"');
  });
});

describe('JSON merge patch and prototype keys', () => {
  it('ignores __proto__ keys instead of swapping the prototype', () => {
    const layer = JSON.parse('{"__proto__": {"timeouts": 1}, "limits": {"x": 1}}') as Record<string, unknown>;
    const merged = jsonMergePatch({}, layer) as Record<string, unknown>;
    expect(Object.getPrototypeOf(merged)).toBe(Object.prototype);
    expect(merged).toEqual({ limits: { x: 1 } });
    expect(() => mergeEffectiveConfig([{ scope: 'system', scopeId: 'default', revision: 1, data: layer }])).not.toThrow();
  });

  it('hasUnsafeKeys points at the offending key', () => {
    expect(hasUnsafeKeys(JSON.parse('{"a": [{"b": {"constructor": 1}}]}'))).toBe('$.a[0].b.constructor');
    expect(hasUnsafeKeys(JSON.parse('{"__proto__": {}}'))).toBe('$.__proto__');
    expect(hasUnsafeKeys({ a: { b: [1, 2] } })).toBeUndefined();
  });
});

describe('numeric edge cases', () => {
  it('backoff with a zero initial delay stays zero at any attempt', () => {
    expect(backoffDelay(5000, { initialMs: 0, maxMs: 1000, jitter: 'none' })).toBe(0);
    expect(backoffDelay(5000, { initialMs: 10, maxMs: 1000, jitter: 'none' })).toBe(1000);
  });

  it('canonical JSON writes array holes and undefined elements as null, like JSON.stringify', () => {
    // eslint-disable-next-line no-sparse-arrays
    const sparse = [1, , 3];
    expect(canonicalJson(sparse)).toBe('[1,null,3]');
    expect(canonicalJson([1, undefined])).toBe(JSON.stringify([1, undefined]));
    expect(() => JSON.parse(canonicalJson(sparse)) as unknown).not.toThrow();
  });
});
