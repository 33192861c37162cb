import { ConflictError, DeniedError, InvalidError, NotFoundError, RetryableError, TerminalError } from '@cordum/core';
import { ErrorCode, JobStatus, effectiveErrorCode } from '@cordum/protocol';
import { describe, expect, it } from 'vitest';
import { JobAbortedError } from './abort.js';
import { outcomeOfAbort, outcomeOfError, rejected, resultNotStored, unavailable } from './outcome.js';

describe('error → result fields', () => {
  it.each([
    [new TerminalError('x'), JobStatus.FAILED_FATAL, ErrorCode.UNSPECIFIED, 'internal'],
    [new TerminalError('x', { code: 'payload_too_large' }), JobStatus.FAILED_FATAL, ErrorCode.UNSPECIFIED, 'payload_too_large'],
    [new InvalidError('x'), JobStatus.FAILED_FATAL, ErrorCode.JOB_INVALID_INPUT, 'JOB_INVALID_INPUT'],
    [new NotFoundError('x', { code: 'input_expired' }), JobStatus.FAILED_FATAL, ErrorCode.JOB_INVALID_INPUT, 'JOB_INVALID_INPUT'],
    [new DeniedError('x'), JobStatus.FAILED_FATAL, ErrorCode.JOB_PERMISSION_DENIED, 'JOB_PERMISSION_DENIED'],
    [new RetryableError('x'), JobStatus.FAILED_RETRYABLE, ErrorCode.UNSPECIFIED, 'unavailable'],
    [new RetryableError('x', { code: 'timeout' }), JobStatus.FAILED_RETRYABLE, ErrorCode.JOB_TIMEOUT, 'JOB_TIMEOUT'],
    [new RetryableError('x', { code: 'rate_limited' }), JobStatus.FAILED_RETRYABLE, ErrorCode.JOB_RESOURCE_EXHAUSTED, 'JOB_RESOURCE_EXHAUSTED'],
    [new ConflictError('x'), JobStatus.FAILED, ErrorCode.UNSPECIFIED, 'conflict'],
    [new TypeError('x'), JobStatus.FAILED, ErrorCode.UNSPECIFIED, ''],
  ])('%s', (err, status, code, text) => {
    const fields = outcomeOfError(err);
    expect(fields).toEqual({ status, errorCodeEnum: code, errorCode: text, errorMessage: 'x' });
    // The legacy string never contradicts the enum for a peer that only reads the string.
    if (code !== ErrorCode.UNSPECIFIED) expect(effectiveErrorCode({ errorCodeEnum: ErrorCode.UNSPECIFIED, errorCode: text })).toBe(code);
  });

  it('names an error without a message by its class', () => {
    expect(outcomeOfError(new RangeError('')).errorMessage).toBe('RangeError');
  });

  it('maps aborts by kind', () => {
    expect(outcomeOfAbort(new JobAbortedError('cancelled', 'bye'))).toEqual({
      status: JobStatus.CANCELLED,
      errorCodeEnum: ErrorCode.UNSPECIFIED,
      errorCode: 'cancelled',
      errorMessage: 'bye',
    });
    expect(outcomeOfAbort(new JobAbortedError('deadline', 'late'))).toMatchObject({ status: JobStatus.TIMEOUT, errorCodeEnum: ErrorCode.JOB_TIMEOUT });
    expect(outcomeOfAbort(new JobAbortedError('shutdown', 'going'))).toMatchObject({
      status: JobStatus.FAILED_RETRYABLE,
      errorCodeEnum: ErrorCode.JOB_WORKER_UNAVAILABLE,
    });
  });

  it('rejections, unavailability and storage failures', () => {
    expect(rejected(ErrorCode.PROTOCOL_VERSION_MISMATCH, 'v2')).toEqual({
      status: JobStatus.FAILED_FATAL,
      errorCodeEnum: ErrorCode.PROTOCOL_VERSION_MISMATCH,
      errorCode: 'PROTOCOL_VERSION_MISMATCH',
      errorMessage: 'v2',
    });
    expect(unavailable('draining')).toMatchObject({ status: JobStatus.FAILED_RETRYABLE, errorCodeEnum: ErrorCode.JOB_WORKER_UNAVAILABLE });
    expect(resultNotStored(new RetryableError('redis down'))).toMatchObject({
      status: JobStatus.FAILED_RETRYABLE,
      errorCode: 'unavailable',
      errorMessage: 'the job finished but its result could not be stored: redis down',
    });
  });
});
