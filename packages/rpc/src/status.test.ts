import {
  ConflictError,
  type CordumError,
  DeniedError,
  ERROR_CATALOGUE,
  type ErrorCodeName,
  InvalidError,
  NotFoundError,
  RetryableError,
  TerminalError,
} from '@cordum/core';
import { Metadata, status as Status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { ERROR_CODE_METADATA, RETRY_AFTER_METADATA, fromGrpcError, toGrpcStatus } from './index.js';

/** A grpc-js style ServiceError, as a client callback receives it. */
function serviceError(code: Status, details: string, trailers: Record<string, string> = {}): Error {
  const metadata = new Metadata();
  for (const [k, v] of Object.entries(trailers)) metadata.set(k, v);
  return Object.assign(new Error(`${code} ${Status[code]}: ${details}`), { code, details, metadata });
}

/** The error a handler of kind `kind` would throw with this code. */
function errorOf(code: ErrorCodeName, message = 'm'): CordumError {
  switch (ERROR_CATALOGUE[code].kind) {
    case 'invalid':
      return new InvalidError(message, { code });
    case 'not_found':
      return new NotFoundError(message, { code });
    case 'conflict':
      return new ConflictError(message, { code });
    case 'denied':
      return new DeniedError(message, { code });
    case 'retryable':
      return new RetryableError(message, { code });
    case 'terminal':
      return new TerminalError(message, { code });
  }
}

describe('toGrpcStatus', () => {
  it.each([
    [new InvalidError('bad field'), Status.INVALID_ARGUMENT, 'bad field'],
    [new InvalidError('too big', { code: 'payload_too_large' }), Status.INVALID_ARGUMENT, 'too big'],
    [new NotFoundError('no job'), Status.NOT_FOUND, 'no job'],
    [new ConflictError('exists', { code: 'already_exists' }), Status.ALREADY_EXISTS, 'exists'],
    [new ConflictError('lost race', { code: 'revision_conflict' }), Status.ABORTED, 'lost race'],
    [new ConflictError('held', { code: 'lock_held' }), Status.ABORTED, 'held'],
    [new DeniedError('policy'), Status.PERMISSION_DENIED, 'policy'],
    [new DeniedError('tenant', { code: 'permission_denied' }), Status.PERMISSION_DENIED, 'tenant'],
    [new DeniedError('login', { code: 'unauthenticated' }), Status.UNAUTHENTICATED, 'login'],
    [new RetryableError('down'), Status.UNAVAILABLE, 'down'],
    [new RetryableError('kernel', { code: 'safety_unavailable' }), Status.UNAVAILABLE, 'kernel'],
    [new RetryableError('slow', { code: 'timeout' }), Status.DEADLINE_EXCEEDED, 'slow'],
    [new RetryableError('busy', { code: 'rate_limited' }), Status.RESOURCE_EXHAUSTED, 'busy'],
    [new TerminalError('db at 10.0.0.3 said no'), Status.INTERNAL, 'internal error'],
    [new Error('stack\n at x'), Status.INTERNAL, 'internal error'],
    ['a string', Status.INTERNAL, 'internal error'],
    [undefined, Status.INTERNAL, 'internal error'],
  ])('%s -> %s', (err, code, details) => {
    expect(toGrpcStatus(err)).toEqual({ code, details });
  });

  it('covers every catalogue code', () => {
    for (const code of Object.keys(ERROR_CATALOGUE) as ErrorCodeName[]) {
      const status = toGrpcStatus(errorOf(code));
      expect(status.code, code).not.toBe(Status.OK);
      expect(status.code, code).not.toBe(Status.UNKNOWN);
    }
  });
});

describe('fromGrpcError', () => {
  it.each([
    [Status.INVALID_ARGUMENT, InvalidError, 'invalid_argument'],
    [Status.OUT_OF_RANGE, InvalidError, 'invalid_argument'],
    [Status.NOT_FOUND, NotFoundError, 'not_found'],
    [Status.ALREADY_EXISTS, ConflictError, 'already_exists'],
    [Status.ABORTED, ConflictError, 'conflict'],
    [Status.FAILED_PRECONDITION, ConflictError, 'conflict'],
    [Status.PERMISSION_DENIED, DeniedError, 'permission_denied'],
    [Status.UNAUTHENTICATED, DeniedError, 'unauthenticated'],
    [Status.UNAVAILABLE, RetryableError, 'unavailable'],
    [Status.CANCELLED, RetryableError, 'unavailable'],
    [Status.DEADLINE_EXCEEDED, RetryableError, 'timeout'],
    [Status.RESOURCE_EXHAUSTED, RetryableError, 'rate_limited'],
    [Status.INTERNAL, TerminalError, 'internal'],
    [Status.UNKNOWN, TerminalError, 'internal'],
    [Status.UNIMPLEMENTED, TerminalError, 'internal'],
    [Status.DATA_LOSS, TerminalError, 'internal'],
    [99, TerminalError, 'internal'],
  ])('status %s without trailers -> %o %s', (code, cls, cordumCode) => {
    const err = fromGrpcError(serviceError(code, 'what happened'));
    expect(err).toBeInstanceOf(cls);
    expect(err.code).toBe(cordumCode);
    expect(err.message).toBe('what happened');
    expect(err.details).toMatchObject({ grpc_code: code });
    expect(err.cause).toBeInstanceOf(Error);
  });

  it('round-trips every catalogue code through status and trailer', () => {
    for (const code of Object.keys(ERROR_CATALOGUE) as ErrorCodeName[]) {
      const original = errorOf(code, 'human sentence');
      const status = toGrpcStatus(original);
      const back = fromGrpcError(serviceError(status.code, status.details, { [ERROR_CODE_METADATA]: code }));
      expect(back.kind, code).toBe(original.kind);
      expect(back.code, code).toBe(code);
    }
  });

  it('ignores a trailer code that contradicts the status, or is not in the catalogue', () => {
    // A server answers these codes with another status, so the trailer came from somewhere else.
    const aborted = fromGrpcError(serviceError(Status.ABORTED, 'x', { [ERROR_CODE_METADATA]: 'already_exists' }));
    expect(aborted).toBeInstanceOf(ConflictError);
    expect(aborted.code).toBe('conflict');
    const down = fromGrpcError(serviceError(Status.UNAVAILABLE, 'x', { [ERROR_CODE_METADATA]: 'timeout' }));
    expect(down.code).toBe('unavailable');
    const unknown = fromGrpcError(serviceError(Status.UNAVAILABLE, 'x', { [ERROR_CODE_METADATA]: 'toString' }));
    expect(unknown.code).toBe('unavailable');
  });

  it('restores the retry hint', () => {
    const err = fromGrpcError(serviceError(Status.UNAVAILABLE, 'x', { [RETRY_AFTER_METADATA]: '1500' }));
    expect((err as RetryableError).retryAfterMs).toBe(1500);
    const junk = fromGrpcError(serviceError(Status.UNAVAILABLE, 'x', { [RETRY_AFTER_METADATA]: 'soon' }));
    expect((junk as RetryableError).retryAfterMs).toBeUndefined();
  });

  it('passes CordumErrors through and wraps anything else as terminal', () => {
    const own = new DeniedError('no');
    expect(fromGrpcError(own)).toBe(own);
    const odd = fromGrpcError('boom');
    expect(odd).toBeInstanceOf(TerminalError);
    expect(odd.cause).toBe('boom');
    expect(fromGrpcError({ code: 'EPIPE' })).toBeInstanceOf(TerminalError);
  });

  it('falls back to the status name when the server sent no details', () => {
    expect(fromGrpcError({ code: Status.NOT_FOUND }).message).toBe('NOT_FOUND');
  });
});
