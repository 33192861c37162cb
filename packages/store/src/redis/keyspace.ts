import { InvalidError, isSafeTenantId } from '@cordum/core';

/**
 * Key builder. Every key lives under the configured prefix; every tenant-owned key has the tenant right
 * after it: `<prefix>t:<tenant>:<…>`. System keys are `<prefix><…>`. See docs/adr/0003-redis-key-layout.md.
 */
export type Keyspace = {
  readonly prefix: string;
  /** A system key: prefix + parts joined by ':'. */
  key(...parts: string[]): string;
  /** A tenant-owned key: prefix + 't:' + tenant + ':' + parts joined by ':'. */
  tenant(tenant: string, ...parts: string[]): string;
};

export function createKeyspace(prefix = 'cordum:'): Keyspace {
  if (/\s/.test(prefix)) throw new InvalidError('redis key prefix must not contain whitespace');
  return {
    prefix,
    key: (...parts) => prefix + parts.join(':'),
    tenant(tenant, ...parts) {
      assertTenant(tenant);
      return `${prefix}t:${tenant}:${parts.join(':')}`;
    },
  };
}

export function assertTenant(tenant: string): void {
  if (!isSafeTenantId(tenant)) {
    throw new InvalidError(`invalid tenant id ${JSON.stringify(tenant)}: use 1-64 of A-Z a-z 0-9 . _ -`, {
      details: { tenant },
    });
  }
}
