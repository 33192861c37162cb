import { describe, expect, it } from 'vitest';
import { InvalidError, describeConfig, env, formatDuration, loadConfig, parseDuration } from './index.js';

const spec = {
  httpAddr: env.string('GATEWAY_HTTP_ADDR', { default: ':8081', description: 'HTTP listen address' }),
  natsUrl: env.url('NATS_URL', { protocols: ['nats', 'tls'] }),
  jetstream: env.bool('NATS_USE_JETSTREAM', { default: false }),
  ackWaitMs: env.duration('NATS_JS_ACK_WAIT', { default: '10m' }),
  replicas: env.int('NATS_JS_REPLICAS', { default: 1, min: 1, max: 5 }),
  mode: env.enum('CORDUM_MODE', ['dev', 'production'], { default: 'dev' }),
  keys: env.list('CORDUM_API_KEYS'),
  tenant: env.string('TENANT_ID', { required: true, aliases: ['CORDUM_TENANT_ID'] }),
};

describe('loadConfig', () => {
  it('applies defaults, parses types, honours aliases, and freezes the result', () => {
    const cfg = loadConfig(spec, { CORDUM_TENANT_ID: 'acme', NATS_USE_JETSTREAM: 'yes', CORDUM_API_KEYS: 'a, b,,' });
    expect(cfg).toEqual({
      httpAddr: ':8081',
      natsUrl: undefined,
      jetstream: true,
      ackWaitMs: 600_000,
      replicas: 1,
      mode: 'dev',
      keys: ['a', 'b'],
      tenant: 'acme',
    });
    expect(Object.isFrozen(cfg)).toBe(true);
    expect(Object.isFrozen(cfg.keys)).toBe(true);
  });

  it('reports every problem at once with the variable names', () => {
    let caught: unknown;
    try {
      loadConfig(spec, {
        NATS_URL: 'http://x',
        NATS_USE_JETSTREAM: 'maybe',
        NATS_JS_ACK_WAIT: '10 parsecs',
        NATS_JS_REPLICAS: '9',
        CORDUM_MODE: 'prod',
      });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(InvalidError);
    const err = caught as InvalidError;
    expect(err.code).toBe('config_invalid');
    const problems = err.details['problems'] as { variable: string }[];
    expect(problems.map((p) => p.variable)).toEqual([
      'NATS_URL',
      'NATS_USE_JETSTREAM',
      'NATS_JS_ACK_WAIT',
      'NATS_JS_REPLICAS',
      'CORDUM_MODE',
      'TENANT_ID',
    ]);
    expect(err.message).toContain('TENANT_ID is required');
    expect(err.message).toContain('NATS_JS_REPLICAS must be <= 5, got 9');
  });

  it('describes itself for READMEs', () => {
    const rows = describeConfig(spec);
    expect(rows[0]).toEqual({
      variable: 'GATEWAY_HTTP_ADDR',
      type: 'string',
      default: ':8081',
      description: 'HTTP listen address',
    });
    expect(rows.find((r) => r.variable.startsWith('NATS_JS_ACK_WAIT'))?.default).toBe('10m');
    expect(rows.find((r) => r.variable.startsWith('TENANT_ID'))).toMatchObject({
      variable: 'TENANT_ID / CORDUM_TENANT_ID',
      default: '(required)',
    });
  });
});

describe('durations', () => {
  it('parses units, combinations and bare seconds', () => {
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('30s')).toBe(30_000);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('7d')).toBe(604_800_000);
    expect(parseDuration('90')).toBe(90_000);
    expect(parseDuration('1.5s')).toBe(1500);
    for (const bad of ['', 's', '10x', '10 s', '-1s']) expect(parseDuration(bad)).toBeUndefined();
    expect(formatDuration(600_000)).toBe('10m');
    expect(formatDuration(1500)).toBe('1500ms');
  });
});
