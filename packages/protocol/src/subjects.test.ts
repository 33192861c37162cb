import { describe, expect, it } from 'vitest';
import {
  DURABLE_SUBJECTS,
  Subjects,
  artifactPointer,
  contextPointer,
  dispatchMsgId,
  durableConsumerName,
  isJobTopic,
  isValidSubject,
  isValidSubjectPattern,
  jobTopic,
  pointerKey,
  pointerKind,
  resultPointer,
  topicResultSubject,
  workerJobsSubject,
  workerQueueGroup,
} from './index.js';

describe('subjects', () => {
  it('names the protocol subjects as the spec does', () => {
    expect(Subjects.jobSubmit).toBe('sys.job.submit');
    expect(Subjects.jobResult).toBe('sys.job.result');
    expect(Subjects.jobProgress).toBe('sys.job.progress');
    expect(Subjects.jobCancel).toBe('sys.job.cancel');
    expect(Subjects.jobDlq).toBe('sys.job.dlq');
    expect(Subjects.heartbeat).toBe('sys.heartbeat');
    expect(Subjects.handshake).toBe('sys.handshake');
    expect(Subjects.workflowEvent).toBe('sys.workflow.event');
    expect(DURABLE_SUBJECTS).toEqual(['sys.job.submit', 'sys.job.result', 'sys.job.dlq']);
  });

  it('builds worker, topic and result subjects and rejects unsafe tokens', () => {
    expect(workerJobsSubject('w-1')).toBe('worker.w-1.jobs');
    expect(() => workerJobsSubject('a.b')).toThrow(RangeError);
    expect(() => workerJobsSubject('*')).toThrow(RangeError);
    expect(() => workerJobsSubject('')).toThrow(RangeError);
    expect(jobTopic('chat', 'simple')).toBe('job.chat.simple');
    expect(() => jobTopic('bad token')).toThrow(RangeError);
    expect(topicResultSubject('job.echo')).toBe('job.echo.result');
    expect(workerQueueGroup('job.echo')).toBe('job.echo');
  });

  it('validates subjects and patterns', () => {
    expect(isValidSubject('job.a.b')).toBe(true);
    expect(isValidSubject('job..b')).toBe(false);
    expect(isValidSubject('job.*')).toBe(false);
    expect(isValidSubject('job. x')).toBe(false);
    expect(isValidSubjectPattern('sys.job.>')).toBe(true);
    expect(isValidSubjectPattern('job.*.x')).toBe(true);
    expect(isValidSubjectPattern('job.>.x')).toBe(false);
    expect(isJobTopic('job.echo')).toBe(true);
    expect(isJobTopic('sys.job.submit')).toBe(false);
    expect(isJobTopic('job.')).toBe(false);
  });

  it('derives durable consumer names and msg-ids', () => {
    expect(durableConsumerName('cordum-scheduler', 'sys.job.submit')).toBe('dur_cordum-scheduler__sys_job_submit');
    expect(durableConsumerName('q', 'sys.job.>')).toBe('dur_q__sys_job_GT');
    expect(durableConsumerName('q', 'job.*')).toBe('dur_q__job_STAR');
    expect(dispatchMsgId('job-1', 3)).toBe('job-1#3');
  });
});

describe('pointers', () => {
  it('builds our pointer forms and resolves foreign ones as literal keys', () => {
    expect(contextPointer('j1')).toBe('redis://ctx:j1');
    expect(resultPointer('j1')).toBe('redis://res:j1');
    expect(artifactPointer('a1')).toBe('redis://art:a1');
    expect(pointerKey('redis://ctx:j1')).toBe('ctx:j1');
    expect(pointerKey('redis://ctx/job-echo-1')).toBe('ctx/job-echo-1');
    expect(pointerKey('s3://bucket/key')).toBeUndefined();
    expect(pointerKey('redis://')).toBeUndefined();
    expect(pointerKind('redis://ctx/job-echo-1')).toBe('ctx');
    expect(pointerKind('redis://res:x')).toBe('res');
    expect(pointerKind('redis://art:x')).toBe('art');
    expect(pointerKind('redis://mem:x')).toBe('other');
    expect(pointerKind('https://example.com/x')).toBe('other');
  });
});
