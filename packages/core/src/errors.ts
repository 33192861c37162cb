// Errors say what the caller should do. Every error carries a stable snake_case code from the catalogue
// below; docs/errors.md lists every code and a test keeps the two in step.

export type ErrorKind = 'terminal' | 'retryable' | 'denied' | 'not_found' | 'conflict' | 'invalid';

export type ErrorDetails = Readonly<Record<string, unknown>>;

type CatalogueEntry = { kind: ErrorKind; http: number; summary: string };

export const ERROR_CATALOGUE = {
  invalid_argument: { kind: 'invalid', http: 400, summary: 'A field of the request is missing or malformed.' },
  invalid_transition: {
    kind: 'invalid',
    http: 409,
    summary: 'The job state machine does not allow moving from the current state to the requested one.',
  },
  payload_too_large: { kind: 'invalid', http: 413, summary: 'The payload exceeds the configured size limit.' },
  unsupported_media_type: {
    kind: 'invalid',
    http: 415,
    summary: 'The request body has a content type the endpoint does not accept (send application/json).',
  },
  config_invalid: { kind: 'invalid', http: 400, summary: 'A configuration value is missing or malformed.' },
  malformed_packet: { kind: 'invalid', http: 400, summary: 'A bus packet could not be decoded or validated.' },
  policy_invalid: {
    kind: 'invalid',
    http: 400,
    summary: 'A policy bundle does not parse, fails validation or fails its signature check; details name the bundle, rule and field.',
  },
  workflow_invalid: {
    kind: 'invalid',
    http: 400,
    summary: 'A workflow definition does not parse or validate (unknown dependency, cycle, bad expression or schema); details list every problem with its path.',
  },
  not_found: { kind: 'not_found', http: 404, summary: 'The addressed record does not exist (or is not visible to the caller).' },
  input_expired: {
    kind: 'not_found',
    http: 410,
    summary: 'The payload behind a pointer has expired or was never written.',
  },
  lock_not_held: { kind: 'not_found', http: 404, summary: 'The caller does not hold the lock it tried to renew or release.' },
  conflict: { kind: 'conflict', http: 409, summary: 'The request conflicts with the current state of the record.' },
  already_exists: { kind: 'conflict', http: 409, summary: 'A record with this id already exists (or is write-once).' },
  revision_conflict: {
    kind: 'conflict',
    http: 409,
    summary: 'A compare-and-set write lost: the record changed since it was read. Re-read and retry.',
  },
  state_conflict: {
    kind: 'conflict',
    http: 409,
    summary: 'The job is no longer in the state the caller expected; another writer moved it first.',
  },
  lock_held: { kind: 'conflict', http: 409, summary: 'The lock is held by another owner.' },
  fence_down: {
    kind: 'conflict',
    http: 409,
    summary: 'A write fenced on another write (a compare-and-set) found that write not done; nothing was written.',
  },
  denied: { kind: 'denied', http: 403, summary: 'Policy forbids the action.' },
  permission_denied: { kind: 'denied', http: 403, summary: 'The caller lacks the role or tenant access for the action.' },
  unauthenticated: { kind: 'denied', http: 401, summary: 'No valid credentials were presented.' },
  unavailable: { kind: 'retryable', http: 503, summary: 'A backing service (store, bus, kernel) is unavailable; retry later.' },
  safety_unavailable: {
    kind: 'retryable',
    http: 503,
    summary: 'The safety kernel could not be reached; the job waits and is re-checked (fail closed, never a silent allow).',
  },
  timeout: { kind: 'retryable', http: 504, summary: 'The operation did not complete in time; retry later.' },
  rate_limited: { kind: 'retryable', http: 429, summary: 'Too many requests; retry after the indicated delay.' },
  internal: { kind: 'terminal', http: 500, summary: 'An unexpected fault; the operation will not succeed by retrying.' },
  quota_exceeded: {
    kind: 'conflict',
    http: 429,
    summary: 'A concurrency quota (tenant or actor) is full; the job waits until one of its slots frees.',
  },
} as const satisfies Record<string, CatalogueEntry>;

export type ErrorCodeName = keyof typeof ERROR_CATALOGUE;

export type CordumErrorOptions = { details?: ErrorDetails; cause?: unknown };

export abstract class CordumError extends Error {
  abstract readonly kind: ErrorKind;
  readonly code: ErrorCodeName;
  readonly details: ErrorDetails;

  protected constructor(code: ErrorCodeName, message: string, options: CordumErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options.details ?? {};
  }

  /** HTTP status for this error (from the catalogue). */
  get httpStatus(): number {
    return ERROR_CATALOGUE[this.code].http;
  }

  toJSON(): { code: string; message: string; details: ErrorDetails } {
    return { code: this.code, message: this.message, details: this.details };
  }
}

/** Will never succeed by retrying. */
export class TerminalError extends CordumError {
  override readonly name = 'TerminalError';
  readonly kind = 'terminal';
  constructor(message: string, options: CordumErrorOptions & { code?: ErrorCodeName } = {}) {
    super(options.code ?? 'internal', message, options);
  }
}

/** May succeed later; retryAfterMs is a hint (undefined means "use your backoff"). */
export class RetryableError extends CordumError {
  override readonly name = 'RetryableError';
  readonly kind = 'retryable';
  readonly retryAfterMs: number | undefined;
  constructor(message: string, options: CordumErrorOptions & { code?: ErrorCodeName; retryAfterMs?: number } = {}) {
    super(options.code ?? 'unavailable', message, options);
    this.retryAfterMs = options.retryAfterMs;
  }
}

/** Policy or permissions forbid the action; retrying the same request will not help. */
export class DeniedError extends CordumError {
  override readonly name = 'DeniedError';
  readonly kind = 'denied';
  constructor(message: string, options: CordumErrorOptions & { code?: ErrorCodeName } = {}) {
    super(options.code ?? 'denied', message, options);
  }
}

export class NotFoundError extends CordumError {
  override readonly name = 'NotFoundError';
  readonly kind = 'not_found';
  constructor(message: string, options: CordumErrorOptions & { code?: ErrorCodeName } = {}) {
    super(options.code ?? 'not_found', message, options);
  }
}

/** The record changed under the caller: re-read, then decide again. */
export class ConflictError extends CordumError {
  override readonly name = 'ConflictError';
  readonly kind = 'conflict';
  constructor(message: string, options: CordumErrorOptions & { code?: ErrorCodeName } = {}) {
    super(options.code ?? 'conflict', message, options);
  }
}

/** The input is wrong; fix it before retrying. */
export class InvalidError extends CordumError {
  override readonly name = 'InvalidError';
  readonly kind = 'invalid';
  constructor(message: string, options: CordumErrorOptions & { code?: ErrorCodeName } = {}) {
    super(options.code ?? 'invalid_argument', message, options);
  }
}

export function isCordumError(err: unknown): err is CordumError {
  return err instanceof CordumError;
}

export function isRetryable(err: unknown): boolean {
  return err instanceof RetryableError;
}

/** Any thrown value as an Error (wrapping non-Error throws, which we never do ourselves). */
export function toError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}
