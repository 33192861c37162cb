import { describe, expect, it } from 'vitest';
import {
  ErrorCode,
  JOB_STATES,
  JobStatus,
  allowedTransitions,
  canTransition,
  effectiveErrorCode,
  errorCodeFromString,
  errorCodeRange,
  errorCodeToString,
  isJobState,
  isTerminalJobState,
  jobStateToStatus,
  jobStatusToState,
} from './index.js';

describe('job state machine', () => {
  it('follows the lifecycle of ARCHITECTURE §6', () => {
    const path = ['PENDING', 'SCHEDULED', 'DISPATCHED', 'RUNNING', 'SUCCEEDED'] as const;
    for (let i = 1; i < path.length; i++) expect(canTransition(path[i - 1]!, path[i]!)).toBe(true);
    expect(canTransition('PENDING', 'APPROVAL_REQUIRED')).toBe(true);
    expect(canTransition('APPROVAL_REQUIRED', 'PENDING')).toBe(true);
    expect(canTransition('APPROVAL_REQUIRED', 'SCHEDULED')).toBe(false);
    // Lease expiry puts an attempt back to SCHEDULED.
    expect(canTransition('RUNNING', 'SCHEDULED')).toBe(true);
    expect(canTransition('DISPATCHED', 'SCHEDULED')).toBe(true);
    expect(canTransition('RUNNING', 'PENDING')).toBe(false);
  });

  it('terminal states never move, not even to themselves', () => {
    for (const s of JOB_STATES.filter(isTerminalJobState)) {
      for (const t of JOB_STATES) expect(canTransition(s, t)).toBe(false);
      expect(allowedTransitions(s)).toEqual([]);
    }
  });

  it('every non-terminal state can be cancelled and repeated', () => {
    for (const s of JOB_STATES.filter((x) => !isTerminalJobState(x))) {
      expect(canTransition(s, 'CANCELLED')).toBe(true);
      expect(canTransition(s, s)).toBe(true);
    }
  });

  it('maps wire statuses; unknown and unspecified never read as success', () => {
    expect(jobStatusToState(JobStatus.SUCCEEDED)).toBe('SUCCEEDED');
    expect(jobStatusToState(JobStatus.FAILED_FATAL)).toBe('FAILED');
    expect(jobStatusToState(JobStatus.UNSPECIFIED)).toBe('FAILED');
    expect(jobStatusToState(99 as JobStatus)).toBe('FAILED');
    expect(jobStateToStatus('APPROVAL_REQUIRED')).toBe(JobStatus.PENDING);
    for (const s of JOB_STATES) if (s !== 'APPROVAL_REQUIRED') expect(jobStatusToState(jobStateToStatus(s))).toBe(s);
    expect(isJobState('RUNNING')).toBe(true);
    expect(isJobState('running')).toBe(false);
  });
});

describe('error codes', () => {
  it('maps strings in every form to ErrorCode and back', () => {
    expect(errorCodeFromString('ERROR_CODE_JOB_TIMEOUT')).toBe(ErrorCode.JOB_TIMEOUT);
    expect(errorCodeFromString('JOB_TIMEOUT')).toBe(ErrorCode.JOB_TIMEOUT);
    expect(errorCodeFromString('job_timeout')).toBe(ErrorCode.JOB_TIMEOUT);
    expect(errorCodeFromString('TIMEOUT')).toBe(ErrorCode.JOB_TIMEOUT);
    expect(errorCodeFromString('DENIED')).toBe(ErrorCode.SAFETY_DENIED);
    expect(errorCodeFromString('PERMISSION_DENIED')).toBe(ErrorCode.JOB_PERMISSION_DENIED);
    expect(errorCodeFromString('safety_denied')).toBe(ErrorCode.SAFETY_DENIED);
    expect(errorCodeFromString('206')).toBe(ErrorCode.JOB_WORKER_UNAVAILABLE);
    expect(errorCodeFromString('12345')).toBe(ErrorCode.UNSPECIFIED);
    expect(errorCodeFromString('no such thing')).toBe(ErrorCode.UNSPECIFIED);
    expect(errorCodeFromString('')).toBe(ErrorCode.UNSPECIFIED);
    for (const code of Object.values(ErrorCode).filter((v): v is ErrorCode => typeof v === 'number')) {
      expect(errorCodeFromString(errorCodeToString(code))).toBe(code);
    }
  });

  it('prefers the enum unless it is unspecified', () => {
    expect(effectiveErrorCode({ errorCodeEnum: ErrorCode.JOB_NOT_FOUND, errorCode: 'TIMEOUT' })).toBe(
      ErrorCode.JOB_NOT_FOUND,
    );
    expect(effectiveErrorCode({ errorCodeEnum: ErrorCode.UNSPECIFIED, errorCode: 'TIMEOUT' })).toBe(
      ErrorCode.JOB_TIMEOUT,
    );
  });

  it('classifies ranges', () => {
    expect(errorCodeRange(101)).toBe('protocol');
    expect(errorCodeRange(301)).toBe('safety');
    expect(errorCodeRange(1500)).toBe('application');
    expect(errorCodeRange(700)).toBe('reserved');
  });
});

describe('computeJobHash', () => {
  it('changes with the request or the context bytes, not with control-plane env and labels', async () => {
    const { create } = await import('@bufbuild/protobuf');
    const { JobRequestSchema, computeJobHash } = await import('./index.js');
    const req = create(JobRequestSchema, { jobId: 'j', topic: 'job.x', labels: { a: '1' }, env: { X: '1' } });
    const ctx = new TextEncoder().encode('{"prompt":"hi"}');
    const h = computeJobHash(req, ctx);
    expect(h).toMatch(/^[0-9a-f]{64}$/);
    const dispatched = create(JobRequestSchema, {
      jobId: 'j',
      topic: 'job.x',
      labels: { a: '1', approval_granted: 'true', 'cordum.bus_msg_id': 'm' },
      env: { X: '1', CORDUM_LEASE_MS: '30000' },
    });
    expect(computeJobHash(dispatched, ctx)).toBe(h);
    expect(computeJobHash(create(JobRequestSchema, { jobId: 'j', topic: 'job.y', labels: { a: '1' }, env: { X: '1' } }), ctx)).not.toBe(h);
    expect(computeJobHash(req, new TextEncoder().encode('{"prompt":"rm -rf"}'))).not.toBe(h);
  });
});
