import { hostname } from 'node:os';
import { type EnvSource, env, loadConfig } from '@cordum/core';

// The only place the echo worker reads its environment.
const spec = {
  natsUrl: env.url('NATS_URL', {
    default: 'nats://127.0.0.1:4222',
    protocols: ['nats', 'tls'],
    description: 'NATS server the worker connects to',
  }),
  natsJetstream: env.bool('NATS_USE_JETSTREAM', {
    default: false,
    description: 'Publish results through JetStream (when the control plane runs with it)',
  }),
  redisUrl: env.url('REDIS_URL', {
    default: 'redis://127.0.0.1:6379',
    protocols: ['redis', 'rediss'],
    description: 'Redis holding job inputs and results (the pointer store)',
  }),
  redisPrefix: env.string('CORDUM_REDIS_PREFIX', {
    aliases: ['REDIS_PREFIX'],
    default: 'cordum:',
    description: 'Key prefix shared with the control plane',
  }),
  workerId: env.string('WORKER_ID', { description: 'Worker identity; default echo-<host>-<pid>' }),
  topic: env.string('ECHO_TOPIC', { default: 'job.echo', description: 'Job topic served (several: comma-separated)' }),
  pool: env.string('WORKER_POOL', {
    default: 'default',
    description: 'Pool announced in heartbeats: a pool name of the routing config (data.pools.pools)',
  }),
  concurrency: env.int('WORKER_CONCURRENCY', { default: 4, min: 1, max: 1024, description: 'Jobs run at once' }),
  heartbeatIntervalMs: env.duration('WORKER_HEARTBEAT_INTERVAL', { default: '5s', description: 'Heartbeat period' }),
  drainTimeoutMs: env.duration('WORKER_DRAIN_TIMEOUT', {
    default: '30s',
    description: 'How long running jobs get on SIGTERM before they are handed back',
  }),
  logLevel: env.enum('LOG_LEVEL', ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'], { default: 'info' }),
};

export type EchoConfig = ReturnType<typeof loadEchoConfig>;

export function loadEchoConfig(source: EnvSource = process.env) {
  const config = loadConfig(spec, source);
  return {
    ...config,
    // Worker ids are subject tokens (worker.<id>.jobs): host names may carry dots.
    workerId: config.workerId ?? `echo-${hostname().replace(/[^A-Za-z0-9_-]/g, '-')}-${process.pid}`,
    topics: config.topic
      .split(',')
      .map((t) => t.trim())
      .filter((t) => t !== ''),
  };
}

export { spec as echoConfigSpec };
