import {
  create,
  type DescMessage,
  type DescMethod,
  type DescService,
  fromBinary,
  type Message,
  type MessageInitShape,
  type MessageShape,
  toBinary,
} from '@bufbuild/protobuf';
import { InvalidError, type Logger, RetryableError, createSilentLogger } from '@cordum/core';
import {
  Health,
  HealthCheckResponse_ServingStatus as ServingStatus,
  ServerReflection,
  ServerReflectionV1alpha,
} from '@cordum/protocol';
import {
  type handleUnaryCall,
  type MethodDefinition,
  Server,
  ServerCredentials,
  type ServerUnaryCall,
  type UntypedHandleCall,
  type UntypedServiceImplementation,
  status as Status,
} from '@grpc/grpc-js';
import { createHealthRegistry } from './health.js';
import { metadataToRecord } from './metadata.js';
import { createReflectionRegistry } from './reflection.js';
import { errorTrailers, toGrpcStatus } from './status.js';

/** PEM contents (not paths: reading files is the service config's job). */
export type TlsOptions = {
  cert: string | Buffer;
  key: string | Buffer;
  /** When set, clients must present a certificate signed by this CA (mutual TLS). */
  ca?: string | Buffer | undefined;
};

export type GrpcServerOptions = {
  /** `host:port`; `:50051` listens on all IPv4 interfaces, port 0 picks a free port. */
  address: string;
  /** Plaintext when absent. */
  tls?: TlsOptions | undefined;
  logger?: Logger | undefined;
  /** Serve grpc.health.v1.Health (default true). */
  health?: boolean | undefined;
  /** Serve grpc.reflection.v1 and v1alpha ServerReflection (default true). */
  reflection?: boolean | undefined;
};

export type CallContext = {
  /** Request metadata, first value per key; `-bin` values as base64. */
  metadata: Record<string, string>;
  /** Aborts when the client cancels, the deadline passes or the server is force-stopped. */
  signal: AbortSignal;
  peer: string;
};

type MethodsOf<S extends DescService> = S['method'];

/** The keys of S's unary methods (for an untyped DescService, every key). */
export type UnaryMethodName<S extends DescService> = {
  [K in keyof MethodsOf<S>]: 'unary' extends MethodsOf<S>[K]['methodKind'] ? K : never;
}[keyof MethodsOf<S>];

export type UnaryHandler<M extends Pick<DescMethod, 'input' | 'output'>> = (
  request: MessageShape<M['input']>,
  ctx: CallContext,
) => Promise<MessageInitShape<M['output']>>;

/** Implementations of some of a service's unary methods; the rest answer UNIMPLEMENTED. */
export type UnaryImpl<S extends DescService> = {
  [K in UnaryMethodName<S>]?: UnaryHandler<MethodsOf<S>[K]> | undefined;
};

export type GrpcServer = {
  /** Serve a service (before start). Missing and streaming methods answer UNIMPLEMENTED. */
  add<S extends DescService>(service: S, impl: UnaryImpl<S>): void;
  start(): Promise<{ port: number }>;
  /** Health status of a service by its full name ('' = the whole server). Ignored once stop began. */
  setServing(serviceName: string, serving: boolean): void;
  /** Stop accepting calls, let running ones finish for graceMs (default 5 s), then cut the rest. */
  stop(graceMs?: number): Promise<void>;
};

type UntypedUnaryHandler = (request: Message, ctx: CallContext) => Promise<MessageInitShape<DescMessage>>;

const DEFAULT_GRACE_MS = 5_000;
const INTERNAL: number = Status.INTERNAL;

const passthrough = (b: Buffer): Buffer => b;

function methodPath(service: DescService, method: DescMethod): string {
  return `/${service.typeName}/${method.name}`;
}

/** A grpc-js service definition that moves raw bytes: protobuf-es does the (de)serialisation. */
function definitionOf(service: DescService): Record<string, MethodDefinition<Buffer, Buffer>> {
  const def: Record<string, MethodDefinition<Buffer, Buffer>> = {};
  for (const method of service.methods) {
    def[method.localName] = {
      path: methodPath(service, method),
      requestStream: method.methodKind === 'client_streaming' || method.methodKind === 'bidi_streaming',
      responseStream: method.methodKind === 'server_streaming' || method.methodKind === 'bidi_streaming',
      requestSerialize: passthrough,
      requestDeserialize: passthrough,
      responseSerialize: passthrough,
      responseDeserialize: passthrough,
      originalName: method.name,
    };
  }
  return def;
}

function toBuffer(pem: string | Buffer): Buffer {
  return typeof pem === 'string' ? Buffer.from(pem) : pem;
}

// ':50051' is Go's spelling of "every interface"; grpc-js wants a host.
function bindAddress(address: string): string {
  return address.startsWith(':') ? `0.0.0.0${address}` : address;
}

// Timers and Date.now() tick at different granularities: a deadline timer may fire a millisecond "early".
const DEADLINE_SLACK_MS = 5;

function abortReason(call: ServerUnaryCall<Buffer, Buffer>, stopping: boolean): Error {
  const deadline = call.getDeadline();
  const ms = deadline instanceof Date ? deadline.getTime() : deadline;
  if (Number.isFinite(ms) && ms <= Date.now() + DEADLINE_SLACK_MS) {
    return new RetryableError('call deadline exceeded', { code: 'timeout' });
  }
  return new RetryableError(stopping ? 'server stopping' : 'call cancelled by the client');
}

export function createGrpcServer(options: GrpcServerOptions): GrpcServer {
  const logger = options.logger ?? createSilentLogger();
  const server = new Server();
  const health = createHealthRegistry();
  const reflection = createReflectionRegistry();
  const served = new Set<string>();
  let started = false;
  let stopping: Promise<void> | undefined;

  const addRaw = (service: DescService, impl: UntypedServiceImplementation): void => {
    if (started || stopping) throw new Error(`gRPC server: add ${service.typeName} before start()`);
    if (served.has(service.typeName)) throw new Error(`gRPC server: ${service.typeName} added twice`);
    served.add(service.typeName);
    server.addService(definitionOf(service), impl);
    reflection.addService(service.typeName, service.file);
  };

  const unary = (
    service: DescService,
    method: DescMethod,
    fn: UntypedUnaryHandler,
  ): handleUnaryCall<Buffer, Buffer> => {
    const path = methodPath(service, method);
    return (call, callback) => {
      const controller = new AbortController();
      let settled = false;
      // grpc-js emits 'cancelled' after every call, answered or not; only an unanswered one aborts.
      call.on('cancelled', () => {
        if (!settled) controller.abort(abortReason(call, stopping !== undefined));
      });
      const ctx: CallContext = {
        metadata: metadataToRecord(call.metadata),
        signal: controller.signal,
        peer: call.getPeer(),
      };
      const fail = (err: unknown): void => {
        settled = true;
        const status = toGrpcStatus(err);
        // After a cancel nobody hears the answer, and whatever the handler threw is likely the abort itself.
        if (controller.signal.aborted) logger.debug({ err, method: path }, 'gRPC call ended after cancellation');
        else if (status.code === INTERNAL) logger.error({ err, method: path }, 'gRPC handler failed');
        else {
          logger.debug({ method: path, grpc_status: Status[status.code], details: status.details }, 'gRPC call refused');
        }
        callback({ ...status, metadata: errorTrailers(err) });
      };
      let request: Message;
      try {
        request = fromBinary(method.input, call.request);
      } catch (err) {
        fail(new InvalidError(`malformed ${method.input.typeName}`, { cause: err }));
        return;
      }
      Promise.resolve()
        .then(() => fn(request, ctx))
        .then((init) => Buffer.from(toBinary(method.output, create(method.output, init))))
        .then(
          (bytes) => {
            settled = true;
            callback(null, bytes);
          },
          fail,
        );
    };
  };

  if (options.health !== false) {
    addRaw(Health, { check: health.check, watch: health.watch });
  }
  if (options.reflection !== false) {
    addRaw(ServerReflection, { serverReflectionInfo: reflection.handler });
    addRaw(ServerReflectionV1alpha, { serverReflectionInfo: reflection.handler });
  }

  return {
    add(service, impl) {
      const handlers: Record<string, UntypedHandleCall> = {};
      const fns = impl as Partial<Record<string, UntypedUnaryHandler>>;
      for (const method of service.methods) {
        const fn = fns[method.localName];
        if (method.methodKind === 'unary' && fn !== undefined) handlers[method.localName] = unary(service, method, fn);
      }
      addRaw(service, handlers);
      health.set(service.typeName, ServingStatus.SERVING);
    },

    async start() {
      if (started) throw new Error('gRPC server already started');
      if (stopping) throw new Error('gRPC server is stopped');
      const { tls } = options;
      const credentials = tls
        ? ServerCredentials.createSsl(
            tls.ca === undefined ? null : toBuffer(tls.ca),
            [{ cert_chain: toBuffer(tls.cert), private_key: toBuffer(tls.key) }],
            tls.ca !== undefined,
          )
        : ServerCredentials.createInsecure();
      const address = bindAddress(options.address);
      const port = await new Promise<number>((resolve, reject) => {
        server.bindAsync(address, credentials, (err, boundPort) => {
          if (err) reject(new Error(`gRPC server cannot listen on ${options.address}: ${err.message}`, { cause: err }));
          else resolve(boundPort);
        });
      });
      started = true;
      logger.info({ address, port, tls: tls !== undefined, services: [...served] }, 'gRPC server listening');
      return { port };
    },

    setServing(serviceName, serving) {
      health.set(serviceName, serving ? ServingStatus.SERVING : ServingStatus.NOT_SERVING);
    },

    stop(graceMs = DEFAULT_GRACE_MS) {
      stopping ??= new Promise<void>((resolve) => {
        // Watchers learn NOT_SERVING first, and their endless streams close so the drain can finish.
        health.shutdown();
        const force = setTimeout(() => {
          logger.warn({ graceMs }, 'gRPC server: calls still running after the grace period, cancelling them');
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
      return stopping;
    },
  };
}
