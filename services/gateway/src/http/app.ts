import { DeniedError, RetryableError, toError } from '@cordum/core';
import { AjvCompiler } from '@fastify/ajv-compiler';
import { fastifyCors } from '@fastify/cors';
import { fastifyRateLimit } from '@fastify/rate-limit';
import { fastifySwagger } from '@fastify/swagger';
import { fastifySwaggerUi } from '@fastify/swagger-ui';
import { fastifyWebsocket } from '@fastify/websocket';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { type FastifyReply, type FastifyRequest, type FastifyServerOptions, fastify } from 'fastify';
import { type Credentials, type PrincipalResolver, ROUTE_ROLES, type Role, type RouteRole, credentialsOf, hasRole } from '../auth/principal.js';
import type { GatewayContext } from '../context.js';
import { registerApprovalRoutes } from '../handlers/http-approvals.js';
import { registerArtifactRoutes } from '../handlers/http-artifacts.js';
import { registerAuditRoutes } from '../handlers/http-audit.js';
import { registerConfigRoutes } from '../handlers/http-config.js';
import { registerDlqRoutes } from '../handlers/http-dlq.js';
import { registerJobRoutes } from '../handlers/http-jobs.js';
import { registerLockRoutes } from '../handlers/http-locks.js';
import { registerPointerRoutes } from '../handlers/http-pointers.js';
import { registerPolicyRoutes } from '../handlers/http-policy.js';
import { registerSchemaRoutes } from '../handlers/http-schema-registry.js';
import { registerSystemRoutes } from '../handlers/http-system.js';
import { registerWorkflowRoutes } from '../handlers/http-workflows.js';
import { WEBSOCKET_PLUGIN_OPTIONS, registerStreamRoutes } from '../handlers/ws-stream.js';
import type { StreamHub } from '../stream/hub.js';
import { httpErrorOf } from './errors.js';
import { isLocalOrigin } from './origin.js';
import { SHARED_SCHEMAS } from './schemas.js';
import type { GatewayApp } from './types.js';

export { type GatewayApp, principalOf } from './types.js';

export type AppDeps = {
  ctx: GatewayContext;
  principals: PrincipalResolver;
  metricsText: () => Promise<string>;
  metricsContentType: string;
  /** Every route as registered, with its role (tests check that none lacks one). */
  onRouteRegistered?: (route: { method: string; url: string; role: RouteRole | undefined }) => void;
  /** Serves GET /api/v1/stream (WebSocket) when given. */
  stream?: StreamHub;
};

export const DOCS_PREFIX = '/api/v1/docs';

function sendError(reply: FastifyReply, err: unknown, ctx: GatewayContext, request: FastifyRequest): FastifyReply {
  const e = httpErrorOf(err);
  if (e.internal) {
    const error = toError(err);
    ctx.logger.error({ err: error.message, stack: error.stack, method: request.method, url: request.url }, 'request failed');
  }
  if (e.status === 401 || e.status === 403 || e.status === 429) {
    ctx.metrics.authFailures.inc({ reason: e.body.error.code });
  }
  if (e.retryAfterS !== undefined && !reply.hasHeader('retry-after')) void reply.header('retry-after', String(e.retryAfterS));
  return reply.code(e.status).type('application/json; charset=utf-8').send(e.body);
}

/** A route's own hooks of one kind as a list (Fastify takes a function or an array). */
function hooksOf<T>(hooks: T | T[] | undefined): T[] {
  return hooks === undefined ? [] : Array.isArray(hooks) ? hooks : [hooks];
}

type BuildValidator = NonNullable<NonNullable<NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']>['buildValidator']>;
type AjvPoolOptions = { customOptions?: Record<string, unknown> } & Record<string, unknown>;
type RouteValidatorCompiler = (route: { httpPart?: string }) => unknown;

type ValidateFn = ((data: unknown) => boolean) & { errors?: unknown };

/**
 * A request without a body (POST with no content; Fastify passes it as null) is validated as absent, not as a non-object:
 * routes whose fields are all optional (cancel, approve, reject, remediate) accept it, and the others
 * answer with their own "missing field" message.
 */
function emptyBodyAllowed(validate: ValidateFn): ValidateFn {
  const wrapped: ValidateFn = (data: unknown) => {
    if (data === undefined || data === null) {
      wrapped.errors = null;
      return true;
    }
    const ok = validate(data);
    wrapped.errors = validate.errors;
    return ok;
  };
  return wrapped;
}

/** Bodies are validated strictly (a string is never coerced to a number); query strings and params are coerced. */
function validatorFactory(): BuildValidator {
  // @fastify/ajv-compiler's declared types describe an older call shape; this is how Fastify calls it.
  const pool = AjvCompiler() as unknown as (external: unknown, options: AjvPoolOptions) => RouteValidatorCompiler;
  const build = (externalSchemas: unknown, ajvOptions: AjvPoolOptions | undefined): RouteValidatorCompiler => {
    const base = { removeAdditional: false, useDefaults: true, allErrors: false, strict: false };
    const custom = ajvOptions?.customOptions ?? {};
    const strict = pool(externalSchemas, { ...ajvOptions, customOptions: { ...custom, ...base, coerceTypes: false } });
    const coercing = pool(externalSchemas, { ...ajvOptions, customOptions: { ...custom, ...base, coerceTypes: 'array' } });
    return (route) => (route.httpPart === 'body' ? emptyBodyAllowed(strict(route) as ValidateFn) : coercing(route));
  };
  return build as unknown as BuildValidator;
}

export async function buildApp(deps: AppDeps): Promise<GatewayApp> {
  const { ctx } = deps;
  const { options } = ctx;
  const serverOptions: FastifyServerOptions & { https?: unknown } = {
    logger: false,
    bodyLimit: options.bodyLimitBytes,
    exposeHeadRoutes: false,
    return503OnClosing: true,
    forceCloseConnections: true,
    routerOptions: { maxParamLength: 512 },
    schemaController: { compilersFactory: { buildValidator: validatorFactory() } },
    frameworkErrors: (err, request, reply) => {
      void sendError(reply, err, ctx, request);
    },
    ...(options.tls === undefined ? {} : { https: { cert: options.tls.cert, key: options.tls.key } }),
  };
  const app = fastify(serverOptions).withTypeProvider<TypeBoxTypeProvider>() as unknown as GatewayApp;

  for (const schema of SHARED_SCHEMAS) app.addSchema(schema);
  app.decorateRequest('principal', null);

  // Authentication and roles, before the body is read: an unauthenticated caller never gets to send 2 MiB.
  // A route-level onRequest hook, made once per route with its role and credential reader, so a request
  // looks nothing up; route-level hooks run after the global ones (CORS, the WebSocket upgrade marker).
  const authHook =
    (role: Role, credentials: ((request: FastifyRequest) => Credentials) | undefined) =>
    async (request: FastifyRequest): Promise<void> => {
      const presented = credentials === undefined ? credentialsOf(request.headers) : credentials(request);
      const principal = await deps.principals.resolve({ ...presented, from: request.ip });
      request.principal = principal;
      if (!hasRole(principal, role)) {
        throw new DeniedError(`this action needs the ${role} role; ${principal.id} has ${principal.roles.join(', ') || 'none'}`, {
          code: 'permission_denied',
          details: { required_role: role },
        });
      }
    };

  const recordResponse = (request: FastifyRequest, reply: FastifyReply, route: string): void => {
    const status = reply.statusCode;
    ctx.metrics.requests.inc({ method: request.method, route, status: String(status) });
    ctx.metrics.latency.observe({ method: request.method, route }, reply.elapsedTime / 1000);
    if (ctx.logger.isLevelEnabled('debug')) {
      ctx.logger.debug({ method: request.method, route, status, ms: Math.round(reply.elapsedTime), principal: request.principal?.id }, 'request');
    }
  };
  const responseHook =
    (route: string) =>
    (request: FastifyRequest, reply: FastifyReply, done: () => void): void => {
      recordResponse(request, reply, route);
      done();
    };

  // Every route declares its role. Routes added by plugins are the API docs (public) and the CORS preflight.
  app.addHook('onRoute', (route) => {
    const config = { ...(route.config ?? {}) } as Record<string, unknown>;
    let role = config['role'] as RouteRole | undefined;
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    if (role === undefined && (route.url.startsWith(DOCS_PREFIX) || methods.every((m) => m === 'OPTIONS'))) role = 'public';
    if (role === undefined || !ROUTE_ROLES.includes(role)) {
      throw new Error(`route ${methods.join(',')} ${route.url} declares no valid role (config.role: ${ROUTE_ROLES.join(' | ')})`);
    }
    config['role'] = role;
    if (role === 'public') config['rateLimit'] = false;
    route.config = config;
    if (role !== 'public' && route.schema !== undefined) {
      const schema = route.schema as Record<string, unknown>;
      schema['security'] = [{ api_key: [] }, { bearer: [] }];
      const text = typeof schema['description'] === 'string' ? `${schema['description']}\n\n` : '';
      schema['description'] = `${text}Requires the **${role}** role.`;
    }
    for (const method of methods) deps.onRouteRegistered?.({ method, url: route.url, role });
    if (role !== 'public') route.onRequest = [...hooksOf(route.onRequest), authHook(role, config['credentials'] as ((request: FastifyRequest) => Credentials) | undefined)];
    route.onResponse = [...hooksOf(route.onResponse), responseHook(route.url)];
  });

  app.setErrorHandler((err, request, reply) => sendError(reply, err, ctx, request));
  app.setNotFoundHandler((request, reply) =>
    sendError(
      reply,
      Object.assign(new Error(`no route ${request.method} ${request.url.split('?')[0] ?? ''}`), { statusCode: 404 }),
      ctx,
      request,
    ),
  );

  const allowAny = options.allowedOrigins.includes('*');
  const allowed = new Set(options.allowedOrigins);
  await app.register(fastifyCors, {
    origin: (origin, cb) => {
      if (origin === undefined || allowAny) cb(null, true);
      else cb(null, allowed.size === 0 ? isLocalOrigin(origin) : allowed.has(origin));
    },
    methods: ['GET', 'POST', 'PUT', 'DELETE', 'OPTIONS'],
    allowedHeaders: ['content-type', 'authorization', 'x-api-key', 'idempotency-key'],
    exposedHeaders: ['retry-after', 'x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset'],
    maxAge: 600,
  });

  // Its global onRequest hook marks upgrade requests (so a refused upgrade's socket is closed) and runs before the routes' auth hooks.
  if (deps.stream !== undefined) await app.register(fastifyWebsocket, WEBSOCKET_PLUGIN_OPTIONS);

  if (options.rateLimitRps > 0) {
    await app.register(fastifyRateLimit, {
      global: true,
      max: options.rateLimitRps,
      timeWindow: 1000,
      // After authentication, so the limit is per principal (tenant + id), not per IP.
      hook: 'preParsing',
      keyGenerator: (request) => (request.principal === null ? `ip:${request.ip}` : `p:${request.principal.tenant}/${request.principal.id}`),
      errorResponseBuilder: (_request, context) =>
        new RetryableError(`rate limit exceeded: at most ${context.max} requests per second per key; retry after ${context.after}`, {
          code: 'rate_limited',
          retryAfterMs: context.ttl,
          details: { limit: context.max },
        }),
    });
  }

  // Matched routes record their metrics in their own onResponse hook (see onRoute); this records the rest.
  app.addHook('onResponse', (request, reply, done) => {
    if (request.is404) recordResponse(request, reply, 'unmatched');
    done();
  });

  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Cordum control-plane API',
        version: options.build.version,
        description:
          'Jobs, approvals, the DLQ and status. Send the API key as `X-API-Key` or `Authorization: Bearer <key>`. Every error is `{"error": {"code", "message", "details"}}` (codes: docs/errors.md).',
      },
      components: {
        securitySchemes: {
          api_key: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
          bearer: { type: 'http', scheme: 'bearer' },
        },
      },
      tags: [
        { name: 'jobs', description: 'Submit, inspect, cancel, remediate' },
        { name: 'approvals', description: 'Jobs held by policy for a human' },
        { name: 'dlq', description: 'Dead-letter queue' },
        { name: 'system', description: 'Status, workers, health' },
        { name: 'config', description: 'Config documents per scope: revisions, history, rollback, effective config' },
        { name: 'schemas', description: 'JSON Schema registry' },
        { name: 'locks', description: 'Shared and exclusive resource locks with TTLs' },
        { name: 'artifacts', description: 'Artifacts with retention classes' },
        { name: 'pointers', description: 'Reading job inputs, outputs and artifacts by pointer' },
        { name: 'audit', description: 'Policy decision and approval records' },
        { name: 'policy', description: 'Ask the safety kernel (evaluate, explain, simulate); policy bundles: drafts, publish, rollback, audit' },
        { name: 'workflows', description: 'Workflow definitions and runs: start, cancel, rerun, timeline, approval steps' },
      ],
    },
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json['$id'] === 'string' ? json['$id'] : `def-${i}`) },
  });
  await app.register(fastifySwaggerUi, { routePrefix: DOCS_PREFIX, uiConfig: { docExpansion: 'list', deepLinking: true } });

  registerSystemRoutes(app, ctx, { principals: deps.principals, metricsText: deps.metricsText, metricsContentType: deps.metricsContentType });
  registerJobRoutes(app, ctx);
  registerApprovalRoutes(app, ctx);
  registerDlqRoutes(app, ctx);
  registerConfigRoutes(app, ctx);
  registerSchemaRoutes(app, ctx);
  registerLockRoutes(app, ctx);
  registerArtifactRoutes(app, ctx);
  registerPointerRoutes(app, ctx);
  registerAuditRoutes(app, ctx);
  registerPolicyRoutes(app, ctx);
  registerWorkflowRoutes(app, ctx);
  if (deps.stream !== undefined) registerStreamRoutes(app, ctx, deps.stream);
  return app;
}
