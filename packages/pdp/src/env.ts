// The policy source settings, declared once for every process that runs a policy runtime (the safety kernel,
// and a scheduler in embedded mode), so both read the same variables the same way and decide from the same
// snapshot. Only a service's config.ts passes the real environment to loadConfig.
import { CONFIG_SCOPES, type ConfigOf, env, InvalidError } from '@cordum/core';
import { parseDecision } from '@cordum/policy';
import type { ConfigRef } from '@cordum/store';
import type { PolicyRuntimeOptions } from './runtime.js';

export const POLICY_RUNTIME_ENV = {
  policyPath: env.string('SAFETY_POLICY_PATH', { description: 'Base policy bundle file (YAML or JSON)' }),
  policyUrl: env.url('SAFETY_POLICY_URL', {
    protocols: ['http', 'https'],
    description: 'Base policy bundle URL; wins over SAFETY_POLICY_PATH',
  }),
  publicKey: env.string('SAFETY_POLICY_PUBLIC_KEY', {
    description: 'Ed25519 public key (32 raw bytes, base64 or hex); when set the base bundle must be signed',
  }),
  signature: env.string('SAFETY_POLICY_SIGNATURE', { description: 'Base bundle signature (base64 of 64 bytes)' }),
  signaturePath: env.string('SAFETY_POLICY_SIGNATURE_PATH', {
    description: 'File holding the base bundle signature (default <bundle>.sig)',
  }),
  requireSignatures: env.bool('SAFETY_POLICY_REQUIRE_SIGNATURES', {
    default: false,
    description: 'Refuse unsigned fragments too (needs SAFETY_POLICY_PUBLIC_KEY)',
  }),
  configScope: env.enum('SAFETY_POLICY_CONFIG_SCOPE', CONFIG_SCOPES, {
    default: 'system',
    description: 'Config scope of the fragments document (a tenant scope uses the id as tenant)',
  }),
  configId: env.string('SAFETY_POLICY_CONFIG_ID', { default: 'policy', description: 'Config scope id of the fragments document' }),
  configKey: env.string('SAFETY_POLICY_CONFIG_KEY', { default: 'bundles', description: 'Data key holding the fragments map' }),
  configDisable: env.bool('SAFETY_POLICY_CONFIG_DISABLE', { default: false, description: 'Load no fragments from the config store' }),
  reloadIntervalMs: env.duration('SAFETY_POLICY_RELOAD_INTERVAL', {
    default: '30s',
    description: 'How often sources are checked for changes (0 disables polling)',
  }),
  defaultDecision: env.string('SAFETY_DEFAULT_DECISION', {
    description: 'Decision when no rule matches: allow, deny, require_approval, throttle (unset: the bundle default_decision, else allow)',
  }),
};

export type PolicyRuntimeEnv = ConfigOf<typeof POLICY_RUNTIME_ENV>;

/** Runtime options from the loaded settings; InvalidError(config_invalid) for combinations that cannot work. */
export function policyRuntimeOptions(cfg: PolicyRuntimeEnv): PolicyRuntimeOptions {
  const problems: string[] = [];
  const defaultDecision = cfg.defaultDecision === undefined ? undefined : parseDecision(cfg.defaultDecision);
  if (defaultDecision === null) {
    problems.push(`SAFETY_DEFAULT_DECISION must be allow, deny, require_approval, allow_with_constraints or throttle, got ${JSON.stringify(cfg.defaultDecision)}`);
  }
  if (cfg.requireSignatures && cfg.publicKey === undefined) {
    problems.push('SAFETY_POLICY_REQUIRE_SIGNATURES needs SAFETY_POLICY_PUBLIC_KEY (nothing could be verified)');
  }
  if ((cfg.signature !== undefined || cfg.signaturePath !== undefined) && cfg.publicKey === undefined) {
    problems.push('a policy signature is configured but SAFETY_POLICY_PUBLIC_KEY is not: set the key, or nothing is verified');
  }
  if (cfg.policyPath === undefined && cfg.policyUrl === undefined && cfg.configDisable) {
    problems.push('no policy source: set SAFETY_POLICY_PATH or SAFETY_POLICY_URL, or enable config fragments');
  }
  if (problems.length > 0) {
    throw new InvalidError(`invalid policy configuration: ${problems.join('; ')}`, { code: 'config_invalid', details: { problems } });
  }
  const fragmentsRef: ConfigRef =
    cfg.configScope === 'system'
      ? { scope: 'system', scopeId: cfg.configId }
      : { scope: cfg.configScope, tenant: cfg.configId, scopeId: cfg.configId };
  return {
    basePath: cfg.policyPath,
    baseUrl: cfg.policyUrl,
    publicKey: cfg.publicKey,
    signature: cfg.signature,
    signaturePath: cfg.signaturePath,
    requireSignatures: cfg.requireSignatures,
    fragments: cfg.configDisable ? null : { ref: fragmentsRef, key: cfg.configKey },
    reloadIntervalMs: cfg.reloadIntervalMs,
    defaultDecision: defaultDecision ?? undefined,
  };
}
