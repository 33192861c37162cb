import { createHash } from 'node:crypto';
import { DeniedError, InvalidError, isSafeId, isSafeTenantId } from '@cordum/core';
import { type Credentials, type Principal, type PrincipalResolver, ROLES, type Role, isRole } from './principal.js';

// API keys. Only SHA-256 digests are kept in memory (a key file may hold digests only, `key_sha256`), and a
// presented key is found by its digest in a map: one hash per request whatever the number of keys. Looking
// up a digest leaks nothing useful through timing: a caller cannot choose a digest without a preimage.

export type ApiKeyEntry = { readonly digest: Buffer; readonly principal: Principal };

/** Keys shorter than this are refused: they are guessable. */
export const MIN_KEY_LENGTH = 16;

const sha256 = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

type Spec = { key?: unknown; key_sha256?: unknown; tenant?: unknown; principal_id?: unknown; roles?: unknown };

function entryOf(spec: Spec, where: string, defaultTenant: string, problems: string[]): ApiKeyEntry | undefined {
  const before = problems.length;
  let digest: Buffer | undefined;
  if (typeof spec.key === 'string' && spec.key_sha256 === undefined) {
    if (spec.key.length < MIN_KEY_LENGTH || /\s/.test(spec.key)) {
      problems.push(`${where}: a key must be at least ${MIN_KEY_LENGTH} characters without whitespace`);
    } else {
      digest = sha256(spec.key);
    }
  } else if (typeof spec.key_sha256 === 'string' && spec.key === undefined) {
    if (!/^[0-9a-fA-F]{64}$/.test(spec.key_sha256)) problems.push(`${where}: key_sha256 must be 64 hex characters`);
    else digest = Buffer.from(spec.key_sha256, 'hex');
  } else {
    problems.push(`${where}: give exactly one of key or key_sha256`);
  }
  const tenant = spec.tenant === undefined ? defaultTenant : spec.tenant;
  if (typeof tenant !== 'string' || !isSafeTenantId(tenant)) problems.push(`${where}: tenant must be 1-64 of [A-Za-z0-9._-]`);
  const id = spec.principal_id;
  if (typeof id !== 'string' || !isSafeId(id)) problems.push(`${where}: principal_id is required (1-200 characters, no spaces or slashes)`);
  const roles = spec.roles;
  if (!Array.isArray(roles) || roles.length === 0 || !roles.every((r) => typeof r === 'string' && isRole(r))) {
    problems.push(`${where}: roles must be a non-empty list of ${ROLES.join(', ')}`);
  }
  if (problems.length > before || digest === undefined) return undefined;
  return {
    digest,
    principal: Object.freeze({ id: id as string, tenant: tenant as string, roles: Object.freeze([...(roles as Role[])]), via: 'api_key' }),
  };
}

/**
 * Parses keys from CORDUM_API_KEYS or a key file. Two forms:
 *  - JSON: `[{"key": "…" | "key_sha256": "<hex>", "tenant": "acme", "principal_id": "ci-bot", "roles": ["operator"]}]`
 *    (or `{"keys": [...]}`);
 *  - upstream's list: `key` or `name:key`, separated by commas or newlines (`#` starts a comment line); such
 *    keys belong to `defaultTenant` with the admin role (upstream had one tenant and no roles).
 * Throws InvalidError(config_invalid) listing every problem.
 */
export function parseApiKeys(text: string, options: { source: string; defaultTenant: string }): ApiKeyEntry[] {
  const problems: string[] = [];
  const entries: ApiKeyEntry[] = [];
  const trimmed = text.trim();
  if (trimmed.startsWith('[') || trimmed.startsWith('{')) {
    let doc: unknown;
    try {
      doc = JSON.parse(trimmed);
    } catch {
      throw new InvalidError(`${options.source} is not valid JSON`, { code: 'config_invalid', details: { problems: [`${options.source}: not valid JSON`] } });
    }
    const list = Array.isArray(doc) ? doc : (doc as { keys?: unknown }).keys;
    if (!Array.isArray(list)) problems.push(`${options.source}: expected an array of keys (or {"keys": [...]})`);
    else {
      list.forEach((item: unknown, i) => {
        if (item === null || typeof item !== 'object' || Array.isArray(item)) {
          problems.push(`${options.source}[${i}]: expected an object`);
          return;
        }
        const e = entryOf(item, `${options.source}[${i}]`, options.defaultTenant, problems);
        if (e !== undefined) entries.push(e);
      });
    }
  } else {
    const items = trimmed
      .split(/[\n,]/)
      .map((s) => s.trim())
      .filter((s) => s !== '' && !s.startsWith('#'));
    items.forEach((item, i) => {
      const colon = item.indexOf(':');
      const key = colon < 0 ? item : item.slice(colon + 1);
      const name = colon < 0 ? `key-${sha256(key).toString('hex').slice(0, 8)}` : item.slice(0, colon);
      const e = entryOf({ key, principal_id: name, roles: ['admin'] }, `${options.source} entry ${i + 1}`, options.defaultTenant, problems);
      if (e !== undefined) entries.push(e);
    });
  }
  const seen = new Set<string>();
  for (const e of entries) {
    const hex = e.digest.toString('hex');
    if (seen.has(hex)) problems.push(`${options.source}: the same key is listed twice (principal ${e.principal.id})`);
    seen.add(hex);
  }
  if (entries.length === 0 && problems.length === 0) problems.push(`${options.source}: no keys`);
  if (problems.length > 0) {
    throw new InvalidError(`invalid API keys: ${problems.join('; ')}`, { code: 'config_invalid', details: { problems } });
  }
  return entries;
}

const unauthenticated = (message: string): DeniedError => new DeniedError(message, { code: 'unauthenticated' });

/** Resolves API keys (X-API-Key or Authorization: Bearer). */
export function createApiKeyResolver(entries: readonly ApiKeyEntry[]): PrincipalResolver {
  const byDigest = new Map<string, Principal>();
  for (const e of entries) if (!byDigest.has(e.digest.toString('hex'))) byDigest.set(e.digest.toString('hex'), e.principal);
  return {
    open: false,
    resolve(credentials: Credentials): Promise<Principal> {
      const token = credentials.apiKey ?? credentials.bearer;
      if (token === undefined) {
        return Promise.reject(unauthenticated('no credentials: send the API key as X-API-Key or Authorization: Bearer <key>'));
      }
      const found = byDigest.get(createHash('sha256').update(token, 'utf8').digest('hex'));
      return found === undefined ? Promise.reject(unauthenticated('invalid API key')) : Promise.resolve(found);
    },
  };
}

/** Open development mode: every request is the anonymous principal of `tenant` with every role. */
export function createOpenResolver(tenant: string): PrincipalResolver {
  const principal: Principal = Object.freeze({ id: 'anonymous', tenant, roles: Object.freeze([...ROLES]), via: 'anonymous' });
  return { open: true, resolve: () => Promise.resolve(principal) };
}
