// NATS subjects and queue groups of CAP v2 plus the Cordum control-plane conventions.
// Every sys.* subject is protocol-defined; job.<pool> names are chosen by applications.

export const Subjects = {
  jobSubmit: 'sys.job.submit',
  jobResult: 'sys.job.result',
  jobProgress: 'sys.job.progress',
  jobCancel: 'sys.job.cancel',
  jobDlq: 'sys.job.dlq',
  heartbeat: 'sys.heartbeat',
  handshake: 'sys.handshake',
  alert: 'sys.alert',
  workflowEvent: 'sys.workflow.event',
  workflowCommand: 'sys.workflow.command',
  configChanged: 'sys.config.changed',
  auditExport: 'sys.audit.export',
  workerHandshakeChallenge: 'sys.worker.handshake.challenge',
  workerHandshakeAuthenticate: 'sys.worker.handshake.authenticate',
} as const;

export type SystemSubject = (typeof Subjects)[keyof typeof Subjects];

/** Queue groups of the control-plane services (one member of a group gets each message). */
export const QueueGroups = {
  scheduler: 'cordum-scheduler',
  workflowEngine: 'cordum-workflow-engine',
  gateway: 'cordum-gateway',
} as const;

/** Subjects that JetStream makes durable when it is enabled; everything else is core NATS. */
export const DURABLE_SUBJECTS: readonly string[] = [Subjects.jobSubmit, Subjects.jobResult, Subjects.jobDlq];

/** Audience of the authenticated worker handshake. */
export const HANDSHAKE_AUDIENCE = 'cordum-scheduler';

const TOKEN = /^[A-Za-z0-9_\-:@]+$/;

/** True for a concrete subject (no wildcards): dot-separated non-empty tokens of safe characters. */
export function isValidSubject(subject: string): boolean {
  if (subject.length === 0 || subject.length > 255) return false;
  return subject.split('.').every((t) => TOKEN.test(t));
}

/** True for a subscription pattern: a valid subject whose tokens may be `*`, or whose last token may be `>`. */
export function isValidSubjectPattern(pattern: string): boolean {
  if (pattern.length === 0 || pattern.length > 255) return false;
  const tokens = pattern.split('.');
  return tokens.every((t, i) => t === '*' || (t === '>' && i === tokens.length - 1) || TOKEN.test(t));
}

/** Job topics are application subjects under `job.`; they are also the dispatch subjects. */
export function isJobTopic(topic: string): boolean {
  return topic.startsWith('job.') && topic.length > 4 && isValidSubject(topic);
}

/** Builds a job topic from tokens: jobTopic('chat', 'simple') === 'job.chat.simple'. */
export function jobTopic(...tokens: string[]): string {
  const topic = ['job', ...tokens].join('.');
  if (!isJobTopic(topic)) throw new RangeError(`invalid job topic ${JSON.stringify(topic)}`);
  return topic;
}

/** Direct-dispatch subject of one worker: `worker.<id>.jobs`. */
export function workerJobsSubject(workerId: string): string {
  if (!TOKEN.test(workerId)) {
    throw new RangeError(`worker id ${JSON.stringify(workerId)} cannot be a subject token`);
  }
  return `worker.${workerId}.jobs`;
}

/** Optional observer copy of a result: `<topic>.result`. */
export function topicResultSubject(topic: string): string {
  if (!isJobTopic(topic)) throw new RangeError(`invalid job topic ${JSON.stringify(topic)}`);
  return `${topic}.result`;
}

/** Workers consume a job subject in a queue group named after the subject, as every CAP SDK does. */
export function workerQueueGroup(subject: string): string {
  return subject;
}

/** JetStream durable consumer name for a queue group on a subject: `dur_<queue>__<subject>`. */
export function durableConsumerName(queue: string, subject: string): string {
  const clean = (s: string): string =>
    s.replaceAll('.', '_').replaceAll('*', 'STAR').replaceAll('>', 'GT').replace(/[^A-Za-z0-9_-]/g, '_');
  return `dur_${clean(queue)}__${clean(subject)}`;
}

/** Msg-id of an attempt's dispatch; JetStream and the memory bus drop a second publish within the window. */
export function dispatchMsgId(jobId: string, attempt: number): string {
  return `${jobId}#${attempt}`;
}

/**
 * Header on a JobCancel that stops one attempt only (the scheduler's own cancel after a lease expiry or a
 * worker loss): its value is the attempt number. Workers abort that attempt and nothing newer; schedulers,
 * which turn a plain JobCancel into a cancelled job, ignore it. A JobCancel without it cancels the job.
 */
export const CANCEL_ATTEMPT_HEADER = 'cordum-cancel-attempt';

/** The attempt an attempt-scoped cancel names (undefined for a job cancel or a malformed header). */
export function cancelledAttempt(headers: Readonly<Record<string, string>>): number | undefined {
  const value = headers[CANCEL_ATTEMPT_HEADER];
  if (value === undefined || !/^\d{1,9}$/.test(value)) return undefined;
  return Number(value);
}

/** Header a submitter sets ("1") on sys.job.submit when it wrote the job record before publishing (the gateway does). */
export const JOB_STORED_HEADER = 'cordum-job-stored';

/** Msg-id of a submit packet. */
export function submitMsgId(jobId: string): string {
  return `jobreq:${jobId}`;
}
