import { InvalidError } from '@cordum/core';
import { checkTenant } from '../model/common.js';

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
      // The last line of defence: no tenant-owned key is built for a tenant the model would reject.
      checkTenant(tenant);
      return `${prefix}t:${tenant}:${parts.join(':')}`;
    },
  };
}
