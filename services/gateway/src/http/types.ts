import type { IncomingMessage, ServerResponse } from 'node:http';
import { TerminalError } from '@cordum/core';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyBaseLogger, FastifyInstance, FastifyRequest, RawServerDefault } from 'fastify';
import type { Credentials, Principal, RouteRole } from '../auth/principal.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The role a caller needs (`public`: no credentials). Every route declares one; the app refuses routes without. */
    role?: RouteRole;
    /** Where the auth hook reads credentials (default: X-API-Key / Authorization headers); the stream adds its subprotocol. */
    credentials?: (request: FastifyRequest) => Credentials;
  }
  interface FastifyRequest {
    /** The authenticated caller (null on public routes). */
    principal: Principal | null;
  }
}

export type GatewayApp = FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, FastifyBaseLogger, TypeBoxTypeProvider>;

/** The caller of a route that declared a role (set by the auth hook before any handler runs). */
export function principalOf(request: FastifyRequest): Principal {
  if (request.principal === null) throw new TerminalError('no principal on an authenticated route');
  return request.principal;
}

