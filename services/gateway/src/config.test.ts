import { describeConfig } from '@cordum/core';
import { describe, expect, it } from 'vitest';
import { GATEWAY_ENV, loadGatewayConfig } from './index.js';

const KEYS = { CORDUM_API_KEYS: 'ci:key-0123456789abcdef' };

describe('gateway config', () => {
  it('defaults: :8081 HTTP, :8080 gRPC, 2 MiB bodies, 100 rps per key', () => {
    const cfg = loadGatewayConfig(KEYS);
    expect(cfg).toMatchObject({
      httpAddr: ':8081',
      grpcAddr: ':8080',
      bodyLimitBytes: 2 * 1024 * 1024,
      rateLimitRps: 100,
      redisPrefix: 'cordum:',
      defaultTenant: 'default',
      allowedOrigins: [],
      production: false,
      submitGraceMs: 10_000,
    });
    expect(cfg.instanceId).toMatch(/^gateway-/);
    expect(Object.isFrozen(cfg)).toBe(true);
  });

  it('refuses to run open (no keys) on anything but localhost', () => {
    expect(() => loadGatewayConfig({})).toThrow(/would run open .* bind GATEWAY_HTTP_ADDR=127.0.0.1:8081/);
    expect(() => loadGatewayConfig({ GATEWAY_HTTP_ADDR: '0.0.0.0:9000' })).toThrow(/only on localhost/);
    for (const addr of ['127.0.0.1:8081', 'localhost:8081', '[::1]:8081']) {
      expect(loadGatewayConfig({ GATEWAY_HTTP_ADDR: addr }).httpAddr).toBe(addr);
    }
    expect(loadGatewayConfig({ CORDUM_API_KEYS_FILE: '/etc/cordum/keys.json' }).apiKeysFile).toBe('/etc/cordum/keys.json');
  });

  it('production requires keys and TLS; every problem at once', () => {
    let err: unknown;
    try {
      loadGatewayConfig({ CORDUM_ENV: 'production', GATEWAY_HTTP_ADDR: 'nope', API_RATE_LIMIT_RPS: '-1' });
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'config_invalid' });
    expect(String((err as Error).message)).toMatch(/API_RATE_LIMIT_RPS/);
    expect(() => loadGatewayConfig({ CORDUM_ENV: 'production', GATEWAY_HTTP_ADDR: 'nope' })).toThrow(
      /GATEWAY_HTTP_ADDR must be host:port.*requires TLS.*requires API keys/,
    );
    const ok = loadGatewayConfig({ ...KEYS, CORDUM_ENV: 'production', GATEWAY_TLS_CERT: '/c.pem', GATEWAY_TLS_KEY: '/k.pem' });
    expect(ok.production).toBe(true);
    expect(() => loadGatewayConfig({ ...KEYS, GATEWAY_TLS_CERT: '/c.pem' })).toThrow(/go together/);
  });

  it('reads upstream aliases (CORS_ALLOW_ORIGINS, TENANT_ID)', () => {
    const cfg = loadGatewayConfig({ ...KEYS, CORS_ALLOW_ORIGINS: 'https://a.example, https://b.example', TENANT_ID: 'acme' });
    expect(cfg.allowedOrigins).toEqual(['https://a.example', 'https://b.example']);
    expect(cfg.defaultTenant).toBe('acme');
  });

  it('describeConfig lists every variable of the README table', () => {
    expect(describeConfig(GATEWAY_ENV).map((r) => r.variable)).toEqual([
      'GATEWAY_HTTP_ADDR',
      'GATEWAY_GRPC_ADDR',
      'GATEWAY_TLS_CERT',
      'GATEWAY_TLS_KEY',
      'GRPC_TLS_CERT',
      'GRPC_TLS_KEY',
      'NATS_URL',
      'NATS_USE_JETSTREAM',
      'NATS_JS_MAX_AGE',
      'NATS_JS_REPLICAS',
      'REDIS_URL',
      'CORDUM_REDIS_PREFIX',
      'CORDUM_API_KEYS',
      'CORDUM_API_KEYS_FILE',
      'CORDUM_DEFAULT_TENANT / TENANT_ID',
      'CORDUM_ALLOWED_ORIGINS / CORDUM_CORS_ALLOW_ORIGINS / CORS_ALLOW_ORIGINS',
      'GATEWAY_BODY_LIMIT_BYTES',
      'GATEWAY_CONTEXT_INLINE_MAX_BYTES',
      'GATEWAY_RESULT_INLINE_MAX_BYTES',
      'API_RATE_LIMIT_RPS',
      'API_AUTH_FAILURE_LIMIT',
      'GATEWAY_SUBMIT_GRACE',
      'WORKER_HEARTBEAT_TIMEOUT',
      'GATEWAY_INSTANCE_ID',
      'CORDUM_BUILD_COMMIT',
      'CORDUM_BUILD_DATE',
      'CORDUM_ENV',
      'CORDUM_LOG_LEVEL',
      'SAFETY_KERNEL_ADDR',
      'SAFETY_KERNEL_TLS_CA',
    ]);
  });
});
