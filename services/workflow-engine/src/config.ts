import { hostname } from 'node:os';
import { type ConfigOf, type EnvSource, env, loadConfig } from '@cordum/core';

// The only place the workflow engine reads the environment.
export const WORKFLOW_ENGINE_ENV = {
  natsUrl: env.string('NATS_URL', { default: 'nats://127.0.0.1:4222', description: 'NATS server URL(s), comma-separated' }),
  jetstream: env.bool('NATS_USE_JETSTREAM', { default: false, description: 'Durable sys.job.submit/result on JetStream' }),
  ackWaitMs: env.duration('NATS_JS_ACK_WAIT', { default: '30s', description: 'JetStream redelivery after this long without ack' }),
  maxAgeMs: env.duration('NATS_JS_MAX_AGE', { default: '7d', description: 'JetStream stream max age' }),
  replicas: env.int('NATS_JS_REPLICAS', { default: 1, min: 1, max: 5, description: 'JetStream stream replicas' }),
  redisUrl: env.url('REDIS_URL', { default: 'redis://127.0.0.1:6379', protocols: ['redis', 'rediss'], description: 'Redis URL' }),
  redisPrefix: env.string('CORDUM_REDIS_PREFIX', { default: 'cordum:', description: 'Key prefix of every Redis key' }),
  instanceId: env.string('WORKFLOW_ENGINE_INSTANCE_ID', { description: 'Sender id of this instance (default <host>-<pid>)' }),
  reconcileIntervalMs: env.duration('WORKFLOW_RECONCILE_INTERVAL', {
    default: '1s',
    description: 'How often due runs (timers, queued events, unexecuted commands) are looked for',
  }),
  staleAfterMs: env.duration('WORKFLOW_STALE_AFTER', {
    default: '15s',
    description: 'Live runs not written for this long get their running jobs checked in the JobStore (lost results, lost starts)',
  }),
  commandGraceMs: env.duration('WORKFLOW_COMMAND_GRACE', {
    default: '5s',
    description: 'A run whose commands are not yet executed is due again after this long (crash repair)',
  }),
  submitGraceMs: env.duration('WORKFLOW_SUBMIT_GRACE', {
    default: '10s',
    description: 'Dispatched jobs are stored due after this long, so a scheduler replays a lost submit',
  }),
  resultWaitMs: env.duration('WORKFLOW_RESULT_WAIT', {
    default: '5s',
    description: 'How long a job result wake-up waits for the JobStore to show the job terminal',
  }),
  concurrency: env.int('WORKFLOW_ENGINE_CONCURRENCY', { default: 64, min: 1, max: 4096, description: 'Messages handled at once per subscription' }),
  metricsAddr: env.string('WORKFLOW_ENGINE_METRICS_ADDR', { default: ':9093', description: 'Prometheus /metrics and /health listen address' }),
  logLevel: env.enum('CORDUM_LOG_LEVEL', ['trace', 'debug', 'info', 'warn', 'error', 'silent'], { default: 'info', description: 'Log level' }),
};

export type WorkflowEngineConfig = ConfigOf<typeof WORKFLOW_ENGINE_ENV> & { instanceId: string };

export function loadWorkflowEngineConfig(source: EnvSource = process.env): WorkflowEngineConfig {
  const cfg = loadConfig(WORKFLOW_ENGINE_ENV, source);
  return Object.freeze({ ...cfg, instanceId: cfg.instanceId ?? `${hostname()}-${process.pid}` });
}
