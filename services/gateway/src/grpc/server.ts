import { CordumApi } from '@cordum/protocol';
import { type GrpcServer, type TlsOptions, createGrpcServer } from '@cordum/rpc';
import type { PrincipalResolver } from '../auth/principal.js';
import type { GatewayContext } from '../context.js';
import { cordumApiHandlers } from './api.js';

/** The gateway's gRPC server: cordum.v1.CordumApi, grpc.health.v1.Health and reflection (v1 and v1alpha). */
export function createGatewayGrpcServer(
  ctx: GatewayContext,
  principals: PrincipalResolver,
  options: { address: string; tls: TlsOptions | undefined },
): GrpcServer {
  const server = createGrpcServer({ address: options.address, tls: options.tls, logger: ctx.logger.child({ component: 'gateway-grpc' }) });
  server.add(CordumApi, cordumApiHandlers({ ctx, principals }));
  return server;
}
