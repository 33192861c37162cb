import { describeConfig } from '@cordum/core';
import { describe, expect, it } from 'vitest';
import { SAFETY_KERNEL_ENV, loadSafetyKernelConfig } from './index.js';

describe('safety kernel config', () => {
  it('defaults: :50051, system/policy/bundles fragments, 30 s reload, no signatures, bundle default decision', () => {
    const cfg = loadSafetyKernelConfig({ SAFETY_POLICY_PATH: '/etc/cordum/safety.yaml' });
    expect(cfg).toMatchObject({ addr: ':50051', production: false, redisPrefix: 'cordum:', reloadIntervalMs: 30_000 });
    expect(cfg.policy).toEqual({
      basePath: '/etc/cordum/safety.yaml',
      baseUrl: undefined,
      publicKey: undefined,
      signature: undefined,
      signaturePath: undefined,
      requireSignatures: false,
      fragments: { ref: { scope: 'system', scopeId: 'policy' }, key: 'bundles' },
      reloadIntervalMs: 30_000,
      defaultDecision: undefined,
    });
    expect(Object.isFrozen(cfg)).toBe(true);
  });

  it('reads every policy variable', () => {
    const key = Buffer.alloc(32, 7).toString('base64');
    const cfg = loadSafetyKernelConfig({
      SAFETY_POLICY_URL: 'https://policy.example.com/safety.yaml',
      SAFETY_POLICY_PUBLIC_KEY: key,
      SAFETY_POLICY_SIGNATURE_PATH: '/etc/cordum/safety.sig',
      SAFETY_POLICY_REQUIRE_SIGNATURES: '1',
      SAFETY_POLICY_CONFIG_SCOPE: 'org',
      SAFETY_POLICY_CONFIG_ID: 'acme',
      SAFETY_POLICY_CONFIG_KEY: 'drafts',
      SAFETY_POLICY_RELOAD_INTERVAL: '5s',
      SAFETY_DEFAULT_DECISION: 'block',
    });
    expect(cfg.policy).toMatchObject({
      baseUrl: 'https://policy.example.com/safety.yaml',
      publicKey: key,
      signaturePath: '/etc/cordum/safety.sig',
      requireSignatures: true,
      fragments: { ref: { scope: 'org', tenant: 'acme', scopeId: 'acme' }, key: 'drafts' },
      reloadIntervalMs: 5_000,
      defaultDecision: 'DENY',
    });
    expect(loadSafetyKernelConfig({ SAFETY_POLICY_PATH: 'x', SAFETY_POLICY_CONFIG_DISABLE: 'true' }).policy.fragments).toBeNull();
  });

  it('production refuses to start without TLS', () => {
    expect(() => loadSafetyKernelConfig({ CORDUM_ENV: 'production', SAFETY_POLICY_PATH: 'x' })).toThrow(
      /CORDUM_ENV=production requires TLS/,
    );
    const cfg = loadSafetyKernelConfig({
      CORDUM_ENV: 'production',
      SAFETY_POLICY_PATH: 'x',
      SAFETY_KERNEL_TLS_CERT: '/certs/kernel.crt',
      SAFETY_KERNEL_TLS_KEY: '/certs/kernel.key',
    });
    expect(cfg).toMatchObject({ production: true, tlsCert: '/certs/kernel.crt' });
  });

  it('reports every problem at once', () => {
    let err: unknown;
    try {
      loadSafetyKernelConfig({
        SAFETY_KERNEL_TLS_CERT: '/certs/kernel.crt',
        SAFETY_DEFAULT_DECISION: 'maybe',
        SAFETY_POLICY_REQUIRE_SIGNATURES: 'yes',
        SAFETY_POLICY_CONFIG_DISABLE: '1',
      });
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'config_invalid' });
    const problems = (err as { details: { problems: string[] } }).details.problems;
    expect(problems).toHaveLength(4);
    expect(problems.join('\n')).toMatch(/go together/);
    expect(problems.join('\n')).toMatch(/SAFETY_DEFAULT_DECISION/);
    expect(problems.join('\n')).toMatch(/needs SAFETY_POLICY_PUBLIC_KEY/);
    expect(problems.join('\n')).toMatch(/no policy source/);
    expect(() => loadSafetyKernelConfig({ SAFETY_POLICY_URL: 'ftp://x/y' })).toThrow(/SAFETY_POLICY_URL must use http or https/);
  });

  it('describeConfig lists every variable of the README table', () => {
    expect(describeConfig(SAFETY_KERNEL_ENV).map((r) => r.variable)).toEqual([
      'SAFETY_KERNEL_ADDR',
      'SAFETY_KERNEL_TLS_CERT',
      'SAFETY_KERNEL_TLS_KEY',
      'SAFETY_POLICY_PATH',
      'SAFETY_POLICY_URL',
      'SAFETY_POLICY_PUBLIC_KEY',
      'SAFETY_POLICY_SIGNATURE',
      'SAFETY_POLICY_SIGNATURE_PATH',
      'SAFETY_POLICY_REQUIRE_SIGNATURES',
      'SAFETY_POLICY_CONFIG_SCOPE',
      'SAFETY_POLICY_CONFIG_ID',
      'SAFETY_POLICY_CONFIG_KEY',
      'SAFETY_POLICY_CONFIG_DISABLE',
      'SAFETY_POLICY_RELOAD_INTERVAL',
      'SAFETY_DEFAULT_DECISION',
      'REDIS_URL',
      'CORDUM_REDIS_PREFIX',
      'SAFETY_KERNEL_METRICS_ADDR',
      'CORDUM_ENV',
      'CORDUM_LOG_LEVEL',
    ]);
  });
});
