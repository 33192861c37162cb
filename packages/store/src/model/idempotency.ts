import { InvalidError } from '@cordum/core';
import type { IdempotencyKey } from '../ports/idempotency-store.js';
import { checkTenant } from './common.js';

// IdempotencyStore input checks, shared by the memory and Redis adapters. Both address a key as
// t:<tenant>:idem:<scope>:<key>: the scope has no colon and the key is the last component, so a key
// containing colons cannot reach into another scope.

const SCOPE = /^[a-z0-9_-]{1,64}$/;
const MAX_KEY_LENGTH = 512;

/** Checks scope, key and tenant, in that order. */
export function checkIdempotencyKey(key: IdempotencyKey): IdempotencyKey {
  if (typeof key.scope !== 'string' || !SCOPE.test(key.scope)) {
    throw new InvalidError(`invalid idempotency scope ${JSON.stringify(key.scope)}: use 1-64 of a-z 0-9 _ -`, {
      details: { scope: key.scope },
    });
  }
  if (typeof key.key !== 'string' || key.key === '' || key.key.length > MAX_KEY_LENGTH) {
    throw new InvalidError(`idempotency key must be a non-empty string of at most ${MAX_KEY_LENGTH} characters`, {
      details: { key: typeof key.key === 'string' ? key.key.slice(0, 64) : key.key },
    });
  }
  checkTenant(key.tenant);
  return key;
}

export function checkValue(value: string): string {
  if (typeof value !== 'string' || value === '') {
    throw new InvalidError('idempotency value must be a non-empty string');
  }
  return value;
}
