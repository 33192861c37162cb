// grpc.health.v1.Health as the spec describes it (github.com/grpc/grpc/blob/master/doc/health-checking.md):
// Check answers NOT_FOUND for a service it does not know; Watch answers SERVICE_UNKNOWN instead and keeps
// the stream open, sending every later change.
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import {
  type HealthCheckRequest,
  HealthCheckRequestSchema,
  HealthCheckResponseSchema,
  HealthCheckResponse_ServingStatus as ServingStatus,
} from '@cordum/protocol';
import { type handleServerStreamingCall, type handleUnaryCall, status as Status } from '@grpc/grpc-js';

export type HealthRegistry = {
  set(service: string, status: ServingStatus): void;
  /** Everything NOT_SERVING, later set() calls ignored, Watch streams told and ended (so stop can drain). */
  shutdown(): void;
  readonly check: handleUnaryCall<Buffer, Buffer>;
  readonly watch: handleServerStreamingCall<Buffer, Buffer>;
};

type Watcher = { send(status: ServingStatus): void; end(): void };

const encode = (status: ServingStatus): Buffer =>
  Buffer.from(toBinary(HealthCheckResponseSchema, create(HealthCheckResponseSchema, { status })));

function decode(bytes: Buffer): HealthCheckRequest | undefined {
  try {
    return fromBinary(HealthCheckRequestSchema, bytes);
  } catch {
    return undefined;
  }
}

const MALFORMED = { code: Status.INVALID_ARGUMENT, details: 'malformed grpc.health.v1.HealthCheckRequest' };

export function createHealthRegistry(): HealthRegistry {
  // '' is the server as a whole; it serves as soon as it listens.
  const statuses = new Map<string, ServingStatus>([['', ServingStatus.SERVING]]);
  const watchers = new Map<string, Set<Watcher>>();
  let closed = false;

  const notify = (service: string, status: ServingStatus): void => {
    for (const w of watchers.get(service) ?? []) w.send(status);
  };

  const update = (service: string, status: ServingStatus): void => {
    const previous = statuses.get(service);
    statuses.set(service, status);
    if (previous !== status) notify(service, status);
  };

  return {
    set(service, status) {
      if (!closed) update(service, status);
    },
    shutdown() {
      if (closed) return;
      closed = true;
      for (const service of statuses.keys()) update(service, ServingStatus.NOT_SERVING);
      for (const set of watchers.values()) for (const w of set) w.end();
      watchers.clear();
    },
    check(call, callback) {
      const req = decode(call.request);
      if (req === undefined) {
        callback(MALFORMED);
        return;
      }
      const status = statuses.get(req.service);
      if (status === undefined) {
        callback({ code: Status.NOT_FOUND, details: `unknown service ${JSON.stringify(req.service)}` });
        return;
      }
      callback(null, encode(status));
    },
    watch(call) {
      const req = decode(call.request);
      if (req === undefined) {
        call.emit('error', MALFORMED);
        return;
      }
      const service = req.service;
      const watcher: Watcher = {
        send(status) {
          if (!call.cancelled && !call.writableEnded) call.write(encode(status));
        },
        end() {
          if (!call.writableEnded) call.end();
        },
      };
      watcher.send(statuses.get(service) ?? ServingStatus.SERVICE_UNKNOWN);
      if (closed) {
        watcher.end();
        return;
      }
      let set = watchers.get(service);
      if (set === undefined) {
        set = new Set();
        watchers.set(service, set);
      }
      set.add(watcher);
      // Fires on client cancel and also after a normal end; either way this watcher is done.
      call.on('cancelled', () => {
        const current = watchers.get(service);
        current?.delete(watcher);
        if (current?.size === 0) watchers.delete(service);
      });
    },
  };
}
