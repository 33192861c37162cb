import { ErrorCode, JobStatus } from '@cordum/protocol';
import { describe, expect, it } from 'vitest';
import { attemptPolicy, outcomeOfLostAttempt, outcomeOfResult } from './attempt-policy.js';

const backoff = { initialMs: 1000, maxMs: 60_000, jitter: 'none' as const };
const base = { topicTimeoutMs: undefined, topicMaxRetries: undefined, constraintMaxRetries: undefined, defaultLeaseMs: 300_000, defaultMaxRetries: 2, workflowJob: false };

describe('attemptPolicy', () => {
  it('uses the topic timeout as the lease, and constraints only tighten retries', () => {
    expect(attemptPolicy({ ...base, topicTimeoutMs: 30_000, topicMaxRetries: 5 })).toEqual({ leaseMs: 30_000, maxAttempts: 6, retryFailures: true });
    expect(attemptPolicy({ ...base, topicMaxRetries: 5, constraintMaxRetries: 1 })).toMatchObject({ maxAttempts: 2 });
    expect(attemptPolicy({ ...base, topicMaxRetries: 1, constraintMaxRetries: 9 })).toMatchObject({ maxAttempts: 2 });
    expect(attemptPolicy({ ...base, workflowJob: true })).toMatchObject({ retryFailures: false, maxAttempts: 3 });
  });
});

describe('outcomeOfResult', () => {
  const policy = attemptPolicy(base);
  const facts = (status: JobStatus, attempts = 1) => ({ status, errorCode: ErrorCode.UNSPECIFIED, errorCodeText: '', errorMessage: 'boom', attempts });

  it('retries retryable and plain failures with backoff while attempts remain', () => {
    expect(outcomeOfResult(facts(JobStatus.FAILED_RETRYABLE, 1), policy, backoff)).toMatchObject({ kind: 'retry', delayMs: 1000 });
    expect(outcomeOfResult(facts(JobStatus.FAILED, 2), policy, backoff)).toMatchObject({ kind: 'retry', delayMs: 2000 });
    expect(outcomeOfResult(facts(JobStatus.FAILED, 3), policy, backoff)).toMatchObject({ kind: 'finish', state: 'FAILED', reasonCode: 'max_retries_exceeded', dlq: true });
  });

  it('never retries fatal failures or failures of workflow jobs', () => {
    expect(outcomeOfResult(facts(JobStatus.FAILED_FATAL), policy, backoff)).toMatchObject({ kind: 'finish', state: 'FAILED', reasonCode: 'job_failed' });
    const wf = attemptPolicy({ ...base, workflowJob: true });
    expect(outcomeOfResult(facts(JobStatus.FAILED_RETRYABLE), wf, backoff)).toMatchObject({ kind: 'finish', state: 'FAILED' });
  });

  it('retries a job a worker handed back unrun (JOB_WORKER_UNAVAILABLE) like a lost attempt, workflow step or not', () => {
    const wf = attemptPolicy({ ...base, workflowJob: true });
    const handedBack = (attempts: number) => ({ ...facts(JobStatus.FAILED_RETRYABLE, attempts), errorCode: ErrorCode.JOB_WORKER_UNAVAILABLE });
    expect(outcomeOfResult(handedBack(1), wf, backoff)).toMatchObject({ kind: 'retry', delayMs: 1000 });
    expect(outcomeOfResult(handedBack(3), wf, backoff)).toMatchObject({ kind: 'finish', reasonCode: 'max_retries_exceeded' });
    // Only a hand-back: a plain FAILED with that code is still the step's to retry.
    expect(outcomeOfResult({ ...handedBack(1), status: JobStatus.FAILED }, wf, backoff)).toMatchObject({ kind: 'finish', reasonCode: 'job_failed' });
  });

  it('maps other statuses', () => {
    expect(outcomeOfResult(facts(JobStatus.SUCCEEDED), policy, backoff)).toEqual({ kind: 'succeed' });
    expect(outcomeOfResult(facts(JobStatus.CANCELLED), policy, backoff)).toMatchObject({ kind: 'finish', state: 'CANCELLED', dlq: false });
    expect(outcomeOfResult(facts(JobStatus.TIMEOUT), policy, backoff)).toMatchObject({ kind: 'finish', state: 'TIMEOUT', errorCode: ErrorCode.JOB_TIMEOUT });
    expect(outcomeOfResult(facts(JobStatus.RUNNING), policy, backoff)).toEqual({ kind: 'progress' });
    expect(outcomeOfResult(facts(JobStatus.UNSPECIFIED), policy, backoff)).toMatchObject({ kind: 'finish', state: 'FAILED' });
  });
});

describe('outcomeOfLostAttempt', () => {
  it('retries lost attempts (workflow jobs too) until attempts run out', () => {
    const wf = attemptPolicy({ ...base, workflowJob: true });
    expect(outcomeOfLostAttempt(1, wf, backoff)).toMatchObject({ kind: 'retry', reasonCode: 'lease_expired' });
    expect(outcomeOfLostAttempt(3, wf, backoff)).toMatchObject({ kind: 'finish', reasonCode: 'max_retries_exceeded' });
  });
});
