import { type CordumError, isCordumError, toError } from '@cordum/core';
import { ErrorCode, JobStatus, errorCodeFromString, errorCodeToString } from '@cordum/protocol';
import { type JobAbortedError } from './abort.js';

// How a job's end becomes JobResult fields. One table, documented in docs/sdk.md ("Errors and statuses"):
//
//   handler returned                      → SUCCEEDED
//   TerminalError                         → FAILED_FATAL       code from the error's catalogue code, if it has one
//   InvalidError, NotFoundError           → FAILED_FATAL       JOB_INVALID_INPUT (bad or expired input)
//   DeniedError                           → FAILED_FATAL       JOB_PERMISSION_DENIED
//   RetryableError (after local retries)  → FAILED_RETRYABLE   JOB_TIMEOUT for code `timeout`,
//                                                              JOB_RESOURCE_EXHAUSTED for `rate_limited`
//   anything else (incl. ConflictError)   → FAILED             error_message = the exception text
//   JobCancel                             → CANCELLED (an attempt-scoped one: no result at all, see worker.ts)
//   budget.deadline_ms                    → TIMEOUT            JOB_TIMEOUT
//   drain timeout / worker shutting down  → FAILED_RETRYABLE   JOB_WORKER_UNAVAILABLE
//
// The legacy string error_code carries errorCodeToString(enum) when there is an enum, else the error's
// stable catalogue code, so older peers still get something machine-readable.

export type ResultFields = {
  status: JobStatus;
  errorCodeEnum: ErrorCode;
  errorCode: string;
  errorMessage: string;
};

function fields(status: JobStatus, code: ErrorCode, message: string, fallbackCode = ''): ResultFields {
  return {
    status,
    errorCodeEnum: code,
    errorCode: code === ErrorCode.UNSPECIFIED ? fallbackCode : errorCodeToString(code),
    errorMessage: message,
  };
}

export function succeeded(): ResultFields {
  return fields(JobStatus.SUCCEEDED, ErrorCode.UNSPECIFIED, '');
}

/** The result for a handler that threw (after any in-process retries). */
export function outcomeOfError(thrown: unknown): ResultFields {
  const err = toError(thrown);
  if (!isCordumError(err)) return fields(JobStatus.FAILED, ErrorCode.UNSPECIFIED, messageOf(err));
  return outcomeOfCordumError(err);
}

function outcomeOfCordumError(err: CordumError): ResultFields {
  const message = messageOf(err);
  switch (err.kind) {
    case 'invalid':
    case 'not_found':
      return fields(JobStatus.FAILED_FATAL, ErrorCode.JOB_INVALID_INPUT, message, err.code);
    case 'denied':
      return fields(JobStatus.FAILED_FATAL, ErrorCode.JOB_PERMISSION_DENIED, message, err.code);
    case 'terminal':
      return fields(JobStatus.FAILED_FATAL, errorCodeFromString(err.code), message, err.code);
    case 'retryable':
      return fields(JobStatus.FAILED_RETRYABLE, retryableCode(err.code), message, err.code);
    case 'conflict':
      // A conflict may or may not pass on a retry; plain FAILED leaves that to the scheduler's policy.
      return fields(JobStatus.FAILED, ErrorCode.UNSPECIFIED, message, err.code);
  }
}

function retryableCode(code: string): ErrorCode {
  if (code === 'timeout') return ErrorCode.JOB_TIMEOUT;
  if (code === 'rate_limited') return ErrorCode.JOB_RESOURCE_EXHAUSTED;
  return ErrorCode.UNSPECIFIED;
}

/** The result for a job whose signal was aborted before the handler returned. */
export function outcomeOfAbort(reason: JobAbortedError): ResultFields {
  switch (reason.kind) {
    case 'cancelled':
      return fields(JobStatus.CANCELLED, ErrorCode.UNSPECIFIED, reason.message, 'cancelled');
    case 'deadline':
      return fields(JobStatus.TIMEOUT, ErrorCode.JOB_TIMEOUT, reason.message);
    case 'shutdown':
      return fields(JobStatus.FAILED_RETRYABLE, ErrorCode.JOB_WORKER_UNAVAILABLE, reason.message);
  }
}

/** A delivery refused before it ran (bad version or payload): retrying the same packet cannot help. */
export function rejected(code: ErrorCode, message: string): ResultFields {
  return fields(JobStatus.FAILED_FATAL, code, message);
}

/** A delivery this worker will not run but another may (draining, topic not served here). */
export function unavailable(message: string): ResultFields {
  return fields(JobStatus.FAILED_RETRYABLE, ErrorCode.JOB_WORKER_UNAVAILABLE, message);
}

/** The result could not be stored: the work may be redone elsewhere. */
export function resultNotStored(err: unknown): ResultFields {
  const e = toError(err);
  return fields(
    JobStatus.FAILED_RETRYABLE,
    ErrorCode.UNSPECIFIED,
    `the job finished but its result could not be stored: ${e.message}`,
    isCordumError(e) ? e.code : 'unavailable',
  );
}

/** The output could not be encoded (not JSON-serialisable): a handler bug, not worth retrying. */
export function resultNotEncodable(err: unknown): ResultFields {
  return fields(
    JobStatus.FAILED_FATAL,
    ErrorCode.UNSPECIFIED,
    `the handler's result cannot be stored: ${toError(err).message}`,
    'invalid_result',
  );
}

function messageOf(err: Error): string {
  return err.message === '' ? err.name : err.message;
}
