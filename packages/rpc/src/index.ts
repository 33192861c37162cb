// @cordum/rpc: gRPC servers and clients over protobuf-es generated descriptors (no proto-loader), with the
// standard health and reflection services, TLS, and CordumError <-> gRPC status mapping.
export {
  type CallContext,
  type GrpcServer,
  type GrpcServerOptions,
  type TlsOptions,
  type UnaryHandler,
  type UnaryImpl,
  type UnaryMethodName,
  createGrpcServer,
} from './server.js';
export {
  type GrpcCallOptions,
  type GrpcClient,
  type GrpcClientOptions,
  type GrpcClientTls,
  type ServerStreamingCall,
  type UnaryCall,
  createGrpcClient,
} from './client.js';
export {
  ERROR_CODE_METADATA,
  type GrpcStatus,
  RETRY_AFTER_METADATA,
  fromGrpcError,
  toGrpcStatus,
} from './status.js';
