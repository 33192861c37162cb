import { hostname } from 'node:os';
import { type ConfigOf, type EnvSource, env, loadConfig } from '@cordum/core';
import { POLICY_RUNTIME_ENV, type PolicyRuntimeOptions, policyRuntimeOptions } from '@cordum/pdp';

// The only place the scheduler reads the environment. Names follow upstream Cordum where it had them.
export const SCHEDULER_ENV = {
  natsUrl: env.string('NATS_URL', { default: 'nats://127.0.0.1:4222', description: 'NATS server URL(s), comma-separated' }),
  jetstream: env.bool('NATS_USE_JETSTREAM', { default: false, description: 'Durable sys.job.submit/result/dlq on JetStream' }),
  ackWaitMs: env.duration('NATS_JS_ACK_WAIT', { default: '30s', description: 'JetStream redelivery after this long without ack' }),
  maxAgeMs: env.duration('NATS_JS_MAX_AGE', { default: '7d', description: 'JetStream stream max age' }),
  replicas: env.int('NATS_JS_REPLICAS', { default: 1, min: 1, max: 5, description: 'JetStream stream replicas' }),
  redisUrl: env.url('REDIS_URL', { default: 'redis://127.0.0.1:6379', protocols: ['redis', 'rediss'], description: 'Redis URL' }),
  redisPrefix: env.string('CORDUM_REDIS_PREFIX', { default: 'cordum:', description: 'Key prefix of every Redis key' }),
  policyMode: env.enum('CORDUM_POLICY_MODE', ['kernel', 'embedded', 'allow-all'], {
    default: 'kernel',
    description:
      'kernel: ask the safety kernel (SAFETY_KERNEL_ADDR); embedded: decide in-process from the kernel\'s policy sources (SAFETY_POLICY_*); allow-all: no policy (development only, logged loudly)',
  }),
  kernelAddr: env.string('SAFETY_KERNEL_ADDR', { default: '127.0.0.1:50051', description: 'Safety kernel gRPC address' }),
  kernelTlsCa: env.string('SAFETY_KERNEL_TLS_CA', { description: 'CA (PEM file) of the kernel certificate; TLS to the kernel when set' }),
  // Read in embedded mode only: the same variables the safety kernel reads, so both decide from one snapshot.
  ...POLICY_RUNTIME_ENV,
  poolsPath: env.string('POOL_CONFIG_PATH', { default: 'config/pools.yaml', description: 'Bootstrap routing (pools) file' }),
  timeoutsPath: env.string('TIMEOUT_CONFIG_PATH', { default: 'config/timeouts.yaml', description: 'Bootstrap timeouts file' }),
  instanceId: env.string('SCHEDULER_INSTANCE_ID', { description: 'Sender id of this instance (default <host>-<pid>)' }),
  tickMs: env.duration('SCHEDULER_TICK_INTERVAL', { default: '250ms', description: 'Timer scan interval (due, lease, deadline)' }),
  configReloadMs: env.duration('SCHEDULER_CONFIG_RELOAD_INTERVAL', { default: '2s', description: 'Routing config re-read interval' }),
  workerTimeoutMs: env.duration('WORKER_HEARTBEAT_TIMEOUT', { default: '15s', description: 'A worker silent this long is lost' }),
  slotRepairMs: env.duration('SCHEDULER_SLOT_REPAIR_INTERVAL', { default: '60s', description: 'How often quota slots held by jobs no longer in flight are released' }),
  concurrency: env.int('SCHEDULER_CONCURRENCY', { default: 256, min: 1, max: 4096, description: 'Messages handled at once per subscription' }),
  metricsAddr: env.string('SCHEDULER_METRICS_ADDR', { default: ':9090', description: 'Prometheus /metrics and /health listen address' }),
  logLevel: env.enum('CORDUM_LOG_LEVEL', ['trace', 'debug', 'info', 'warn', 'error', 'silent'], { default: 'info', description: 'Log level' }),
};

export type SchedulerConfig = ConfigOf<typeof SCHEDULER_ENV> & {
  instanceId: string;
  /** The policy runtime's options in embedded mode (undefined otherwise). */
  policy: PolicyRuntimeOptions | undefined;
};

export function loadSchedulerConfig(source: EnvSource = process.env): SchedulerConfig {
  const cfg = loadConfig(SCHEDULER_ENV, source);
  const policy = cfg.policyMode === 'embedded' ? policyRuntimeOptions(cfg) : undefined;
  return Object.freeze({ ...cfg, instanceId: cfg.instanceId ?? `${hostname()}-${process.pid}`, policy });
}
