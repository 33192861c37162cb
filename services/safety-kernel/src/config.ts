import { type ConfigOf, type EnvSource, InvalidError, env, loadConfig } from '@cordum/core';
import { POLICY_RUNTIME_ENV, type PolicyRuntimeOptions, policyRuntimeOptions } from '@cordum/pdp';

// The only place the safety kernel reads the environment. Names follow upstream Cordum; the policy source
// variables are shared with a scheduler running an embedded decision point (POLICY_RUNTIME_ENV).
export const SAFETY_KERNEL_ENV = {
  addr: env.string('SAFETY_KERNEL_ADDR', { default: ':50051', description: 'gRPC listen address (host:port; :50051 = every interface)' }),
  tlsCert: env.string('SAFETY_KERNEL_TLS_CERT', { description: 'TLS certificate (PEM file); with the key, the kernel serves TLS only' }),
  tlsKey: env.string('SAFETY_KERNEL_TLS_KEY', { description: 'TLS private key (PEM file)' }),
  ...POLICY_RUNTIME_ENV,
  redisUrl: env.url('REDIS_URL', {
    default: 'redis://127.0.0.1:6379',
    protocols: ['redis', 'rediss'],
    description: 'Redis URL (policy fragments, packs registry, decision records, redacted outputs)',
  }),
  redisPrefix: env.string('CORDUM_REDIS_PREFIX', { default: 'cordum:', description: 'Key prefix of every Redis key' }),
  metricsAddr: env.string('SAFETY_KERNEL_METRICS_ADDR', {
    default: ':9091',
    description: 'Prometheus /metrics and /health listen address (off disables)',
  }),
  cordumEnv: env.string('CORDUM_ENV', { default: 'development', description: 'production refuses to start without TLS' }),
  logLevel: env.enum('CORDUM_LOG_LEVEL', ['trace', 'debug', 'info', 'warn', 'error', 'silent'], { default: 'info', description: 'Log level' }),
};

export type SafetyKernelConfig = ConfigOf<typeof SAFETY_KERNEL_ENV> & {
  readonly production: boolean;
  /** The policy runtime's options, validated. */
  readonly policy: PolicyRuntimeOptions;
};

/** Loads and checks the kernel's settings; every problem in one InvalidError (config_invalid). */
export function loadSafetyKernelConfig(source: EnvSource = process.env): SafetyKernelConfig {
  const cfg = loadConfig(SAFETY_KERNEL_ENV, source);
  const problems: string[] = [];
  const production = cfg.cordumEnv.trim().toLowerCase() === 'production';
  if ((cfg.tlsCert === undefined) !== (cfg.tlsKey === undefined)) {
    problems.push('SAFETY_KERNEL_TLS_CERT and SAFETY_KERNEL_TLS_KEY go together');
  } else if (production && cfg.tlsCert === undefined) {
    // Policy decisions and job outputs cross this connection: production never serves them in plaintext.
    problems.push('CORDUM_ENV=production requires TLS: set SAFETY_KERNEL_TLS_CERT and SAFETY_KERNEL_TLS_KEY');
  }
  let policy: PolicyRuntimeOptions | undefined;
  try {
    policy = policyRuntimeOptions(cfg);
  } catch (err) {
    const details = err instanceof InvalidError ? err.details['problems'] : undefined;
    if (Array.isArray(details)) problems.push(...details.map(String));
    else throw err;
  }
  if (problems.length > 0 || policy === undefined) {
    throw new InvalidError(`invalid configuration: ${problems.join('; ')}`, { code: 'config_invalid', details: { problems } });
  }
  return Object.freeze({ ...cfg, production, policy });
}
