import {
  ConflictError,
  type CordumError,
  DeniedError,
  ERROR_CATALOGUE,
  type ErrorCodeName,
  type ErrorKind,
  InvalidError,
  NotFoundError,
  RetryableError,
  TerminalError,
  isCordumError,
} from '@cordum/core';
import { Metadata, status as Status } from '@grpc/grpc-js';

/** Trailing metadata key carrying the stable code of a CordumError (the gRPC status alone is coarser). */
export const ERROR_CODE_METADATA = 'cordum-error-code';
/** Trailing metadata key carrying RetryableError.retryAfterMs, so the hint survives the hop. */
export const RETRY_AFTER_METADATA = 'cordum-retry-after-ms';

export type GrpcStatus = { code: number; details: string };

// Terminal and unknown faults are described in the server log, never to the caller: their messages may
// carry internals (paths, queries, stack fragments).
const INTERNAL_DETAILS = 'internal error';

/** The gRPC status for an error of this kind and code; fromGrpcError inverts it. */
function statusFor(kind: ErrorKind, code: string): Status {
  switch (kind) {
    case 'invalid':
      return Status.INVALID_ARGUMENT;
    case 'not_found':
      return Status.NOT_FOUND;
    case 'conflict':
      return code === 'already_exists' ? Status.ALREADY_EXISTS : Status.ABORTED;
    case 'denied':
      return code === 'unauthenticated' ? Status.UNAUTHENTICATED : Status.PERMISSION_DENIED;
    case 'retryable':
      if (code === 'timeout') return Status.DEADLINE_EXCEEDED;
      if (code === 'rate_limited') return Status.RESOURCE_EXHAUSTED;
      return Status.UNAVAILABLE;
    case 'terminal':
      return Status.INTERNAL;
  }
}

/** Server side: the status a handler's error is answered with. */
export function toGrpcStatus(err: unknown): GrpcStatus {
  if (!isCordumError(err)) return { code: Status.INTERNAL, details: INTERNAL_DETAILS };
  const code = statusFor(err.kind, err.code);
  return { code, details: code === Status.INTERNAL ? INTERNAL_DETAILS : err.message };
}

/** Server side: the trailing metadata sent with an error status (stable code, retry hint). */
export function errorTrailers(err: unknown): Metadata {
  const md = new Metadata();
  if (!isCordumError(err)) return md;
  md.set(ERROR_CODE_METADATA, err.code);
  if (err instanceof RetryableError && err.retryAfterMs !== undefined) {
    md.set(RETRY_AFTER_METADATA, String(Math.max(0, Math.round(err.retryAfterMs))));
  }
  return md;
}

type StatusLike = { code: number; details?: string; message?: string; metadata?: Metadata };

function isStatusLike(err: unknown): err is StatusLike {
  return (
    typeof err === 'object' &&
    err !== null &&
    typeof (err as { code?: unknown }).code === 'number' &&
    Number.isInteger((err as { code: number }).code)
  );
}

function firstString(md: Metadata | undefined, key: string): string | undefined {
  if (!(md instanceof Metadata)) return undefined;
  const v = md.get(key)[0];
  return typeof v === 'string' ? v : undefined;
}

function isErrorCodeName(s: string | undefined): s is ErrorCodeName {
  return s !== undefined && Object.hasOwn(ERROR_CATALOGUE, s);
}

/**
 * Client side: a failed call as the matching CordumError. The server's `cordum-error-code` is kept only
 * when it is consistent with the status (a proxy or a non-Cordum server may send anything); otherwise the
 * code is the default for the status. The gRPC code rides along in details (`grpc_code`, `grpc_status`).
 */
export function fromGrpcError(err: unknown): CordumError {
  if (isCordumError(err)) return err;
  if (!isStatusLike(err)) return new TerminalError('gRPC call failed', { cause: err });

  // Any integer: values beyond the enum (a future or foreign code) fall through to the default branch.
  const grpcCode = err.code as Status;
  const grpcStatus = Status[grpcCode] ?? 'UNKNOWN';
  const message = err.details !== undefined && err.details !== '' ? err.details : (err.message ?? grpcStatus);
  const sent = firstString(err.metadata, ERROR_CODE_METADATA);
  const pick = (kind: ErrorKind, fallback: ErrorCodeName): ErrorCodeName =>
    isErrorCodeName(sent) && statusFor(kind, sent) === grpcCode ? sent : fallback;
  const opts = { cause: err, details: { grpc_code: grpcCode, grpc_status: grpcStatus } };

  switch (grpcCode) {
    case Status.INVALID_ARGUMENT:
    case Status.OUT_OF_RANGE:
      return new InvalidError(message, { ...opts, code: pick('invalid', 'invalid_argument') });
    case Status.NOT_FOUND:
      return new NotFoundError(message, { ...opts, code: pick('not_found', 'not_found') });
    case Status.ALREADY_EXISTS:
      return new ConflictError(message, { ...opts, code: 'already_exists' });
    case Status.ABORTED:
    case Status.FAILED_PRECONDITION:
      return new ConflictError(message, { ...opts, code: pick('conflict', 'conflict') });
    case Status.PERMISSION_DENIED:
      return new DeniedError(message, { ...opts, code: pick('denied', 'permission_denied') });
    case Status.UNAUTHENTICATED:
      return new DeniedError(message, { ...opts, code: 'unauthenticated' });
    case Status.DEADLINE_EXCEEDED:
      return new RetryableError(message, { ...opts, code: 'timeout' });
    // CANCELLED that the caller did not ask for means the server or a proxy dropped the call (shutdown,
    // connection reset): the request may succeed elsewhere or later.
    case Status.RESOURCE_EXHAUSTED:
    case Status.UNAVAILABLE:
    case Status.CANCELLED: {
      const fallback = grpcCode === Status.RESOURCE_EXHAUSTED ? 'rate_limited' : 'unavailable';
      const code = grpcCode === Status.CANCELLED ? fallback : pick('retryable', fallback);
      const hint = Number(firstString(err.metadata, RETRY_AFTER_METADATA));
      return new RetryableError(message, {
        ...opts,
        code,
        ...(Number.isFinite(hint) && hint >= 0 ? { retryAfterMs: hint } : {}),
      });
    }
    default:
      // INTERNAL, UNKNOWN, UNIMPLEMENTED, DATA_LOSS: retrying the same call will not help.
      return new TerminalError(message, { ...opts, code: pick('terminal', 'internal') });
  }
}
