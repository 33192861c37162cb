// Who is calling, and what they may do. Principal resolution sits behind one interface (PrincipalResolver)
// so that OIDC/JWT bearer tokens can be added beside API keys without touching routes.

/** viewer < operator < admin form a ladder; secops stands beside it (policy writes) and can read like a viewer. */
export const ROLES = ['viewer', 'operator', 'admin', 'secops'] as const;
export type Role = (typeof ROLES)[number];

/** What a route requires: a role, or `public` (health, metrics, API docs). */
export type RouteRole = Role | 'public';
export const ROUTE_ROLES: readonly RouteRole[] = [...ROLES, 'public'];

export type Principal = {
  readonly id: string;
  /** Every store access is scoped to this tenant. */
  readonly tenant: string;
  readonly roles: readonly Role[];
  /** How the principal was established: api_key, anonymous (open mode), or a later scheme (jwt). */
  readonly via: string;
};

const LADDER: Readonly<Record<Exclude<Role, 'secops'>, number>> = { viewer: 1, operator: 2, admin: 3 };

export function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}

export function hasRole(principal: Principal, required: Role): boolean {
  if (required === 'secops') return principal.roles.includes('secops');
  let level = 0;
  for (const role of principal.roles) level = Math.max(level, role === 'secops' ? LADDER.viewer : LADDER[role]);
  return level >= LADDER[required];
}

/** Credentials as presented by a request; the resolver decides what they mean. */
export type Credentials = {
  /** X-API-Key header. */
  readonly apiKey: string | undefined;
  /** Authorization: Bearer <token> (an API key today; a JWT once OIDC lands). */
  readonly bearer: string | undefined;
  /** The client's address, when known: failed authentications are limited per address (failure-limit.ts). */
  readonly from?: string;
};

export type PrincipalResolver = {
  /** True when requests without credentials are served (open development mode). */
  readonly open: boolean;
  /** The principal the credentials name. Throws DeniedError(unauthenticated) when they are missing or invalid. */
  resolve(credentials: Credentials): Promise<Principal>;
};

/** Reads the credentials of a request's headers (first value of repeated headers). */
export function credentialsOf(headers: Readonly<Record<string, string | string[] | undefined>>): Credentials {
  const first = (v: string | string[] | undefined): string | undefined => {
    const s = Array.isArray(v) ? v[0] : v;
    const t = s?.trim();
    return t === undefined || t === '' ? undefined : t;
  };
  const auth = first(headers['authorization']);
  const bearer = auth !== undefined && /^bearer\s+/i.test(auth) ? auth.replace(/^bearer\s+/i, '').trim() : undefined;
  return { apiKey: first(headers['x-api-key']), bearer: bearer === '' ? undefined : bearer };
}
