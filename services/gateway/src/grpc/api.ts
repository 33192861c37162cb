import { DeniedError, InvalidError, RetryableError, isCordumError, isSafeId } from '@cordum/core';
import type { CordumApi, SubmitJobRequest } from '@cordum/protocol';
import type { CallContext, UnaryImpl } from '@cordum/rpc';
import { Value } from '@sinclair/typebox/value';
import { type Credentials, type Principal, type PrincipalResolver, type Role, credentialsOf, hasRole } from '../auth/principal.js';
import type { GatewayContext } from '../context.js';
import { SubmitJobBody } from '../http/schemas.js';
import { getJob } from '../jobs/jobs.js';
import { submitJob } from '../jobs/submit.js';
import { type RateLimiter, createRateLimiter } from './rate-limit.js';

// cordum.v1.CordumApi: the same feature code as HTTP (submitJob, getJob), so idempotency, tenancy and what
// the scheduler's policy check sees are identical. A request is turned into the HTTP body and checked against
// the same schema, because protobuf cannot express the limits (lengths, tenant pattern, enums as strings).
//
// Status codes (upstream's gateway_grpc.go): INVALID_ARGUMENT for bad fields; UNAUTHENTICATED without a valid
// key; PERMISSION_DENIED for a role too low or another tenant's org_id; NOT_FOUND for a job that does not exist
// in the caller's tenant; a repeated idempotency_key answers OK with the original job (as HTTP's 200), and
// ALREADY_EXISTS only when the key is held but its job cannot be resolved; RESOURCE_EXHAUSTED over the rate
// limit; UNAVAILABLE when the store or bus is down.

/** Credentials in call metadata: x-api-key, authorization: Bearer, or upstream's api-key. */
export function grpcCredentials(metadata: Readonly<Record<string, string>>): Credentials {
  const c = credentialsOf(metadata);
  if (c.apiKey !== undefined || c.bearer !== undefined) return c;
  const key = metadata['api-key']?.trim();
  return { apiKey: key === undefined || key === '' ? undefined : key, bearer: undefined };
}

/** The host of a gRPC peer (`ipv4:1.2.3.4:5`, `ipv6:[::1]:5`, `1.2.3.4:5`): what failed authentications are counted by. */
export function peerHost(peer: string): string {
  const bare = peer.replace(/^(ipv4|ipv6|unix):/, '');
  const bracket = /^\[([^\]]+)\]/.exec(bare);
  if (bracket !== null) return bracket[1] as string;
  const colon = bare.lastIndexOf(':');
  return colon > 0 && bare.indexOf(':') === colon ? bare.slice(0, colon) : bare;
}

/** The HTTP submit body of a gRPC SubmitJob (proto3 empty strings and lists are "not given"). Throws InvalidError. */
export function submitBodyOf(request: SubmitJobRequest): SubmitJobBody {
  const body: Record<string, unknown> = {};
  const text: [keyof SubmitJobBody, string][] = [
    ['prompt', request.prompt],
    ['topic', request.topic],
    ['adapter_id', request.adapterId],
    ['priority', request.priority],
    ['org_id', request.orgId],
    ['team_id', request.teamId],
    ['project_id', request.projectId],
    ['principal_id', request.principalId],
    ['idempotency_key', request.idempotencyKey],
    ['actor_id', request.actorId],
    ['actor_type', request.actorType],
    ['pack_id', request.packId],
    ['capability', request.capability],
    ['memory_id', request.memoryId],
  ];
  for (const [field, value] of text) if (value !== '') body[field] = value;
  if (request.riskTags.length > 0) body['risk_tags'] = [...request.riskTags];
  if (request.requires.length > 0) body['requires'] = [...request.requires];
  if (Object.keys(request.labels).length > 0) body['labels'] = { ...request.labels };
  const issue = Value.Errors(SubmitJobBody, body).First();
  if (issue !== undefined) {
    const field = issue.path.replace(/^\//, '').split('/')[0] ?? '';
    throw new InvalidError(`${issue.path.replace(/^\//, '') || 'request'}: ${issue.message}`, { details: { field, location: 'request' } });
  }
  return body;
}

export type CordumApiDeps = {
  ctx: GatewayContext;
  principals: PrincipalResolver;
  /** Default: ctx.options.rateLimitRps per principal. */
  limiter?: RateLimiter;
};

export function cordumApiHandlers(deps: CordumApiDeps): UnaryImpl<typeof CordumApi> {
  const { ctx, principals } = deps;
  const limiter = deps.limiter ?? createRateLimiter(ctx.options.rateLimitRps, ctx.clock);

  async function authorize(call: CallContext, role: Role): Promise<Principal> {
    try {
      const principal = await principals.resolve({ ...grpcCredentials(call.metadata), from: peerHost(call.peer) });
      if (!hasRole(principal, role)) {
        throw new DeniedError(`this call needs the ${role} role; ${principal.id} has ${principal.roles.join(', ') || 'none'}`, {
          code: 'permission_denied',
          details: { required_role: role },
        });
      }
      const wait = limiter.take(`${principal.tenant}/${principal.id}`);
      if (wait !== undefined) {
        throw new RetryableError(`rate limit exceeded: at most ${ctx.options.rateLimitRps} calls per second per key`, {
          code: 'rate_limited',
          retryAfterMs: wait,
          details: { limit: ctx.options.rateLimitRps },
        });
      }
      return principal;
    } catch (err) {
      if (isCordumError(err)) ctx.metrics.authFailures.inc({ reason: err.code });
      throw err;
    }
  }

  return {
    submitJob: async (request, call) => {
      const principal = await authorize(call, 'operator');
      const out = await submitJob(ctx, principal, submitBodyOf(request));
      return { jobId: out.jobId, traceId: out.traceId };
    },
    getJobStatus: async (request, call) => {
      const principal = await authorize(call, 'viewer');
      if (request.jobId === '') throw new InvalidError('job_id is required', { details: { field: 'job_id' } });
      if (!isSafeId(request.jobId)) {
        throw new InvalidError('job_id must be 1-200 characters without spaces or slashes', { details: { field: 'job_id' } });
      }
      const job = await getJob(ctx, principal, request.jobId);
      return { jobId: job.id, status: job.state, resultPtr: job.resultPtr ?? '' };
    },
  };
}
