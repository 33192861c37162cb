import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createApiKeyResolver, createOpenResolver, parseApiKeys } from './api-keys.js';
import { limitAuthFailures } from './failure-limit.js';
import { type Principal, credentialsOf, hasRole } from './principal.js';

const KEY = 'k-0123456789abcdef';

describe('API keys', () => {
  it('parses the JSON form, keeps only digests and resolves X-API-Key and Bearer', async () => {
    const entries = parseApiKeys(
      JSON.stringify([
        { key: KEY, tenant: 'acme', principal_id: 'ci', roles: ['operator'] },
        { key_sha256: createHash('sha256').update('hashed-key-0123456789').digest('hex'), tenant: 'acme', principal_id: 'ops', roles: ['admin', 'secops'] },
      ]),
      { source: 'test', defaultTenant: 'default' },
    );
    expect(JSON.stringify(entries)).not.toContain(KEY);
    const resolver = createApiKeyResolver(entries);
    expect(resolver.open).toBe(false);
    await expect(resolver.resolve({ apiKey: KEY, bearer: undefined })).resolves.toMatchObject({ id: 'ci', tenant: 'acme', roles: ['operator'] });
    await expect(resolver.resolve({ apiKey: undefined, bearer: 'hashed-key-0123456789' })).resolves.toMatchObject({ id: 'ops' });
    await expect(resolver.resolve({ apiKey: 'wrong-0123456789abcdef', bearer: undefined })).rejects.toMatchObject({ code: 'unauthenticated' });
    await expect(resolver.resolve({ apiKey: undefined, bearer: undefined })).rejects.toMatchObject({
      code: 'unauthenticated',
      message: expect.stringMatching(/X-API-Key/) as unknown,
    });
  });

  it('accepts upstream\'s comma list (default tenant, admin) and {"keys": [...]}', async () => {
    const list = createApiKeyResolver(parseApiKeys(`# comment\nci:${KEY},other-key-0123456789`, { source: 'env', defaultTenant: 'default' }));
    await expect(list.resolve({ apiKey: KEY, bearer: undefined })).resolves.toMatchObject({ id: 'ci', tenant: 'default', roles: ['admin'] });
    await expect(list.resolve({ apiKey: 'other-key-0123456789', bearer: undefined })).resolves.toMatchObject({ id: expect.stringMatching(/^key-[0-9a-f]{8}$/) as unknown });
    const wrapped = parseApiKeys(JSON.stringify({ keys: [{ key: KEY, principal_id: 'x', roles: ['viewer'] }] }), { source: 'f', defaultTenant: 'zed' });
    expect(wrapped[0]?.principal.tenant).toBe('zed');
  });

  it('reports every problem at once (short keys, bad roles, bad tenants, duplicates)', () => {
    let err: unknown;
    try {
      parseApiKeys(
        JSON.stringify([
          { key: 'short', principal_id: 'a', roles: ['admin'] },
          { key: KEY, principal_id: 'b', roles: ['root'] },
          { key: KEY, principal_id: 'c', tenant: 'bad/tenant', roles: ['viewer'] },
          { key: `${KEY}x`, principal_id: 'd', roles: ['viewer'] },
          { key: `${KEY}x`, principal_id: 'e', roles: ['viewer'] },
          { principal_id: 'f', roles: ['viewer'] },
        ]),
        { source: 'keys.json', defaultTenant: 'default' },
      );
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'config_invalid' });
    const problems = (err as { details: { problems: string[] } }).details.problems.join('\n');
    expect(problems).toMatch(/keys.json\[0\]: a key must be at least 16/);
    expect(problems).toMatch(/keys.json\[1\]: roles must be/);
    expect(problems).toMatch(/keys.json\[2\]: tenant/);
    expect(problems).toMatch(/listed twice/);
    expect(problems).toMatch(/keys.json\[5\]: give exactly one of key or key_sha256/);
    expect(() => parseApiKeys('{oops', { source: 's', defaultTenant: 'd' })).toThrow(/not valid JSON/);
    expect(() => parseApiKeys('  ', { source: 's', defaultTenant: 'd' })).toThrow(/no keys/);
  });

  it('open mode: anonymous with every role in the default tenant', async () => {
    const open = createOpenResolver('default');
    expect(open.open).toBe(true);
    await expect(open.resolve({ apiKey: undefined, bearer: undefined })).resolves.toMatchObject({
      id: 'anonymous',
      tenant: 'default',
      roles: ['viewer', 'operator', 'admin', 'secops'],
    });
  });
});

describe('roles', () => {
  const p = (...roles: Principal['roles']): Principal => ({ id: 'x', tenant: 't', roles, via: 'test' });
  it('viewer < operator < admin; secops beside the ladder (reads like a viewer)', () => {
    expect(hasRole(p('viewer'), 'viewer')).toBe(true);
    expect(hasRole(p('viewer'), 'operator')).toBe(false);
    expect(hasRole(p('operator'), 'viewer')).toBe(true);
    expect(hasRole(p('operator'), 'admin')).toBe(false);
    expect(hasRole(p('admin'), 'operator')).toBe(true);
    expect(hasRole(p('admin'), 'secops')).toBe(false);
    expect(hasRole(p('secops'), 'secops')).toBe(true);
    expect(hasRole(p('secops'), 'viewer')).toBe(true);
    expect(hasRole(p('secops'), 'operator')).toBe(false);
    expect(hasRole(p(), 'viewer')).toBe(false);
  });

  it('reads X-API-Key and Authorization: Bearer', () => {
    expect(credentialsOf({ 'x-api-key': ' k ' })).toEqual({ apiKey: 'k', bearer: undefined });
    expect(credentialsOf({ authorization: 'Bearer abc' })).toEqual({ apiKey: undefined, bearer: 'abc' });
    expect(credentialsOf({ authorization: 'Basic abc' })).toEqual({ apiKey: undefined, bearer: undefined });
    expect(credentialsOf({ 'x-api-key': ['a', 'b'] })).toEqual({ apiKey: 'a', bearer: undefined });
  });
});

describe('failed authentication limit', () => {
  it('counts failures per address in one-minute windows; successes and unknown addresses are not counted', async () => {
    let now = 120_000;
    const clock = { now: () => now };
    const resolver = limitAuthFailures(createApiKeyResolver(parseApiKeys(`ci:${KEY}`, { source: 't', defaultTenant: 'd' })), { perMinute: 2, clock });
    const bad = { apiKey: 'wrong-0123456789abcdef', bearer: undefined, from: '10.0.0.1' };
    const good = { apiKey: KEY, bearer: undefined, from: '10.0.0.1' };
    await expect(resolver.resolve(good)).resolves.toMatchObject({ id: 'ci' });
    await expect(resolver.resolve(bad)).rejects.toMatchObject({ code: 'unauthenticated' });
    await expect(resolver.resolve(bad)).rejects.toMatchObject({ code: 'unauthenticated' });
    now += 15_000;
    await expect(resolver.resolve(good)).rejects.toMatchObject({ code: 'rate_limited', retryAfterMs: 45_000 });
    await expect(resolver.resolve({ ...good, from: '10.0.0.2' })).resolves.toMatchObject({ id: 'ci' });
    for (let i = 0; i < 5; i++) await expect(resolver.resolve({ apiKey: bad.apiKey, bearer: undefined })).rejects.toMatchObject({ code: 'unauthenticated' });
    for (let i = 0; i < 5; i++) {
      await expect(resolver.resolve({ apiKey: undefined, bearer: undefined, from: '10.0.0.3' })).rejects.toMatchObject({ code: 'unauthenticated' });
    }
    await expect(resolver.resolve({ ...good, from: '10.0.0.3' })).resolves.toMatchObject({ id: 'ci' });
    now = 180_000;
    await expect(resolver.resolve(good)).resolves.toMatchObject({ id: 'ci' });
  });

  it('leaves open mode and a zero limit alone', () => {
    const open = createOpenResolver('default');
    expect(limitAuthFailures(open, { perMinute: 5, clock: { now: () => 0 } })).toBe(open);
    const keys = createApiKeyResolver(parseApiKeys(`ci:${KEY}`, { source: 't', defaultTenant: 'd' }));
    expect(limitAuthFailures(keys, { perMinute: 0, clock: { now: () => 0 } })).toBe(keys);
  });
});
