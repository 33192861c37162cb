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
import { InvalidError, TerminalError, toError } from '@cordum/core';
import {
  type CallOptions,
  type ChannelCredentials,
  Client,
  type ClientReadableStream,
  credentials,
  type Metadata,
} from '@grpc/grpc-js';
import { recordToMetadata } from './metadata.js';
import { fromGrpcError } from './status.js';

export type GrpcClientTls = {
  /** CA that signed the server certificate (PEM); the system roots when absent. */
  ca?: string | Buffer | undefined;
  /** Client certificate and key (PEM) for mutual TLS; both or neither. */
  cert?: string | Buffer | undefined;
  key?: string | Buffer | undefined;
};

export type GrpcClientOptions = {
  /** Plaintext when absent; 'system' = TLS verified against the system roots. */
  tls?: GrpcClientTls | 'system' | undefined;
  /** Deadline for every unary call that does not set its own; none when absent. */
  timeoutMs?: number | undefined;
  /** Sent with every call (per-call metadata wins on the same key). */
  metadata?: Record<string, string> | undefined;
};

export type GrpcCallOptions = {
  timeoutMs?: number | undefined;
  /** Aborting cancels the call; the promise (or stream) then rejects with signal.reason. */
  signal?: AbortSignal | undefined;
  metadata?: Record<string, string> | undefined;
};

type MethodsOf<S extends DescService> = S['method'];

export type UnaryCall<M extends Pick<DescMethod, 'input' | 'output'>> = (
  request: MessageInitShape<M['input']>,
  options?: GrpcCallOptions,
) => Promise<MessageShape<M['output']>>;

/** The call starts on the first iteration; breaking out of the loop cancels it. */
export type ServerStreamingCall<M extends Pick<DescMethod, 'input' | 'output'>> = (
  request: MessageInitShape<M['input']>,
  options?: GrpcCallOptions,
) => AsyncIterable<MessageShape<M['output']>>;

/**
 * One function per unary and server-streaming method, keyed by the method's localName (`listSnapshots`).
 * Failures reject with a CordumError (see fromGrpcError).
 */
export type GrpcClient<S extends DescService> = {
  [K in keyof MethodsOf<S> as MethodsOf<S>[K]['methodKind'] extends 'unary' | 'server_streaming'
    ? K
    : never]: MethodsOf<S>[K]['methodKind'] extends 'unary'
    ? UnaryCall<MethodsOf<S>[K]>
    : ServerStreamingCall<MethodsOf<S>[K]>;
};

const passthrough = (b: Buffer): Buffer => b;

function toBuffer(pem: string | Buffer | undefined): Buffer | null {
  if (pem === undefined) return null;
  return typeof pem === 'string' ? Buffer.from(pem) : pem;
}

function channelCredentials(tls: GrpcClientOptions['tls']): ChannelCredentials {
  if (tls === undefined) return credentials.createInsecure();
  if (tls === 'system') return credentials.createSsl();
  if ((tls.cert === undefined) !== (tls.key === undefined)) {
    throw new InvalidError('gRPC client: tls.cert and tls.key go together (mutual TLS)', { code: 'config_invalid' });
  }
  return credentials.createSsl(toBuffer(tls.ca), toBuffer(tls.key), toBuffer(tls.cert));
}

function encodeRequest(method: DescMethod, request: MessageInitShape<DescMessage>): Buffer {
  try {
    return Buffer.from(toBinary(method.input, create(method.input, request)));
  } catch (err) {
    throw new InvalidError(`request is not a valid ${method.input.typeName}`, { cause: err });
  }
}

function decodeResponse(method: DescMethod, bytes: Buffer): Message {
  try {
    return fromBinary(method.output, bytes);
  } catch (err) {
    throw new TerminalError(`server sent a malformed ${method.output.typeName}`, { cause: err });
  }
}

function deadlineOf(timeoutMs: number | undefined): CallOptions {
  return timeoutMs === undefined ? {} : { deadline: Date.now() + timeoutMs };
}

/**
 * A typed client for one service. The channel connects lazily and reconnects by itself; close() releases
 * it. A method of the service named `close` would be shadowed (none of ours is).
 */
export function createGrpcClient<S extends DescService>(
  service: S,
  address: string,
  options: GrpcClientOptions = {},
): GrpcClient<S> & { close(): void } {
  const client = new Client(address, channelCredentials(options.tls));
  const metadataFor = (call: GrpcCallOptions | undefined): Metadata =>
    recordToMetadata(options.metadata, call?.metadata);

  const unary =
    (method: DescMethod, path: string) =>
    (request: MessageInitShape<DescMessage>, call?: GrpcCallOptions): Promise<Message> =>
      new Promise<Message>((resolve, reject) => {
        const signal = call?.signal;
        if (signal?.aborted) {
          reject(signal.reason as Error);
          return;
        }
        const bytes = encodeRequest(method, request);
        const onAbort = (): void => pending.cancel();
        const pending = client.makeUnaryRequest<Buffer, Buffer>(
          path,
          passthrough,
          passthrough,
          bytes,
          metadataFor(call),
          deadlineOf(call?.timeoutMs ?? options.timeoutMs),
          (err, response) => {
            signal?.removeEventListener('abort', onAbort);
            if (signal?.aborted) reject(signal.reason as Error);
            else if (err) reject(fromGrpcError(err));
            else if (response === undefined) reject(new TerminalError(`${path}: empty response`));
            else {
              try {
                resolve(decodeResponse(method, response));
              } catch (e) {
                reject(toError(e));
              }
            }
          },
        );
        signal?.addEventListener('abort', onAbort, { once: true });
      });

  const serverStreaming = (method: DescMethod, path: string) =>
    async function* (request: MessageInitShape<DescMessage>, call?: GrpcCallOptions): AsyncGenerator<Message> {
      const signal = call?.signal;
      signal?.throwIfAborted();
      // The client-wide timeoutMs is for unary calls: a stream (Watch) usually lives as long as its reader.
      const stream: ClientReadableStream<Buffer> = client.makeServerStreamRequest<Buffer, Buffer>(
        path,
        passthrough,
        passthrough,
        encodeRequest(method, request),
        metadataFor(call),
        deadlineOf(call?.timeoutMs),
      );
      const onAbort = (): void => stream.cancel();
      signal?.addEventListener('abort', onAbort, { once: true });
      let finished = false;
      try {
        for await (const chunk of stream as AsyncIterable<Buffer>) yield decodeResponse(method, chunk);
        finished = true;
      } catch (err) {
        if (signal?.aborted) throw signal.reason;
        throw fromGrpcError(err);
      } finally {
        signal?.removeEventListener('abort', onAbort);
        if (!finished) {
          // The reader stopped early: cancel the call. grpc-js then reports CANCELLED as an 'error' event,
          // which nobody reads any more and would otherwise be an uncaught exception.
          stream.on('error', () => undefined);
          stream.cancel();
        }
      }
    };

  const out: Record<string, unknown> = {};
  for (const method of service.methods) {
    const path = `/${service.typeName}/${method.name}`;
    if (method.methodKind === 'unary') out[method.localName] = unary(method, path);
    else if (method.methodKind === 'server_streaming') out[method.localName] = serverStreaming(method, path);
  }
  out['close'] = (): void => client.close();
  return out as GrpcClient<S> & { close(): void };
}
