import { ConflictError, DeniedError, InvalidError, NotFoundError, RetryableError, TerminalError } from '@cordum/core';
import { describe, expect, it } from 'vitest';
import { mapRedisError } from './errors.js';

// Scripts report domain failures as "CORDUM <code> <json>" error replies; the error class follows the
// code's kind in the catalogue.
const scriptError = (code: string, details: Record<string, unknown>): Error =>
  Object.assign(new Error(`CORDUM ${code} ${JSON.stringify(details)}`), { name: 'ReplyError' });

describe('mapRedisError', () => {
  it('maps every script error kind to its class, keeping code, details and message', () => {
    const cases = [
      ['already_exists', ConflictError],
      ['input_expired', NotFoundError],
      ['payload_too_large', InvalidError],
      ['permission_denied', DeniedError],
    ] as const;
    for (const [code, cls] of cases) {
      const err = mapRedisError(scriptError(code, { pointer: 'p', message: `refused: ${code}` }), 'test');
      expect(err, code).toBeInstanceOf(cls);
      expect(err.code).toBe(code);
      expect(err.details).toEqual({ pointer: 'p', message: `refused: ${code}` });
      expect(err.message).toBe(`refused: ${code}`);
    }
  });

  it('treats other reply errors as bugs and anything else as the connection failing', () => {
    const reply = Object.assign(new Error('ERR wrong number of arguments'), { name: 'ReplyError' });
    expect(mapRedisError(reply, 'test')).toBeInstanceOf(TerminalError);
    const lost = mapRedisError(new Error('connection lost before the reply'), 'test');
    expect(lost).toBeInstanceOf(RetryableError);
    expect(lost.code).toBe('unavailable');
  });
});
