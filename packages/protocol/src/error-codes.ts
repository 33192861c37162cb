import { ErrorCode } from './gen/cordum/agent/v1/job_pb.js';

const PREFIX = 'ERROR_CODE_';

// Strings older peers put in JobResult.error_code, and our lower-case DLQ reason codes that have an
// exact structured equivalent.
const ALIASES: Readonly<Record<string, ErrorCode>> = {
  TIMEOUT: ErrorCode.JOB_TIMEOUT,
  DENIED: ErrorCode.SAFETY_DENIED,
  PERMISSION_DENIED: ErrorCode.JOB_PERMISSION_DENIED,
  SAFETY_DENIED: ErrorCode.SAFETY_DENIED,
  INVALID_INPUT: ErrorCode.JOB_INVALID_INPUT,
  INPUT_EXPIRED: ErrorCode.JOB_INVALID_INPUT,
  NOT_FOUND: ErrorCode.JOB_NOT_FOUND,
  DUPLICATE: ErrorCode.JOB_DUPLICATE,
  NO_WORKERS: ErrorCode.JOB_WORKER_UNAVAILABLE,
  WORKER_UNAVAILABLE: ErrorCode.JOB_WORKER_UNAVAILABLE,
  RESOURCE_EXHAUSTED: ErrorCode.JOB_RESOURCE_EXHAUSTED,
};

/** The short name of a code as carried in the legacy string field: ErrorCode.JOB_TIMEOUT → "JOB_TIMEOUT". */
export function errorCodeToString(code: ErrorCode): string {
  const name = ErrorCode[code] as string | undefined;
  return name === undefined ? String(code) : name;
}

/**
 * Parses a code string in any form peers send: full enum name (ERROR_CODE_JOB_TIMEOUT), short name
 * (JOB_TIMEOUT), legacy aliases (TIMEOUT, DENIED, PERMISSION_DENIED), any case, or a decimal number.
 * Unknown strings map to UNSPECIFIED.
 */
export function errorCodeFromString(value: string): ErrorCode {
  const trimmed = value.trim();
  if (trimmed === '') return ErrorCode.UNSPECIFIED;
  if (/^\d+$/.test(trimmed)) {
    const n = Number(trimmed);
    return ErrorCode[n] === undefined ? ErrorCode.UNSPECIFIED : n;
  }
  const upper = trimmed.toUpperCase().replaceAll('-', '_').replaceAll('.', '_');
  const short = upper.startsWith(PREFIX) ? upper.slice(PREFIX.length) : upper;
  const direct = (ErrorCode as unknown as Record<string, ErrorCode | undefined>)[short];
  if (typeof direct === 'number') return direct;
  return ALIASES[short] ?? ErrorCode.UNSPECIFIED;
}

/** The code a result or alert means: the enum wins unless it is UNSPECIFIED, then the string is parsed. */
export function effectiveErrorCode(fields: { errorCodeEnum: ErrorCode; errorCode?: string }): ErrorCode {
  if (fields.errorCodeEnum !== ErrorCode.UNSPECIFIED) return fields.errorCodeEnum;
  return errorCodeFromString(fields.errorCode ?? '');
}

export type ErrorCodeRange = 'unspecified' | 'protocol' | 'job' | 'safety' | 'transport' | 'reserved' | 'application';

export function errorCodeRange(code: number): ErrorCodeRange {
  if (code === 0) return 'unspecified';
  if (code >= 100 && code < 200) return 'protocol';
  if (code >= 200 && code < 300) return 'job';
  if (code >= 300 && code < 400) return 'safety';
  if (code >= 400 && code < 500) return 'transport';
  if (code >= 1000 && code <= 9999) return 'application';
  return 'reserved';
}
