import { ERROR_CATALOGUE, type ErrorCodeName, RetryableError, isCordumError } from '@cordum/core';

// One error envelope for every failure: CordumErrors from the domain, Fastify's own errors (validation,
// body limits, bad JSON, unknown media types), the rate limiter and anything unexpected. Bad input is
// always a 4xx; a 500 says only "internal" and never carries a stack or the original message.

export type ErrorEnvelope = { error: { code: string; message: string; details: Record<string, unknown> } };

export type HttpError = {
  status: number;
  body: ErrorEnvelope;
  /** Seconds for Retry-After (429, 503, 504). */
  retryAfterS: number | undefined;
  /** True when the failure is ours (logged with its stack), false for the caller's mistakes. */
  internal: boolean;
};

type ValidationIssue = { instancePath?: string; message?: string; keyword?: string; params?: Record<string, unknown> };

const BY_STATUS: Readonly<Record<number, ErrorCodeName>> = {
  400: 'invalid_argument',
  401: 'unauthenticated',
  403: 'permission_denied',
  404: 'not_found',
  409: 'conflict',
  410: 'input_expired',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  429: 'rate_limited',
  503: 'unavailable',
  504: 'timeout',
};

function envelope(code: string, message: string, details: Record<string, unknown> = {}): ErrorEnvelope {
  return { error: { code, message, details } };
}

function describeIssue(location: string, issue: ValidationIssue): { path: string; message: string } {
  const path = `${location}${issue.instancePath ?? ''}`;
  const params = issue.params ?? {};
  if (issue.keyword === 'additionalProperties' && typeof params['additionalProperty'] === 'string') {
    return { path, message: `unknown field ${JSON.stringify(params['additionalProperty'])}` };
  }
  if (issue.keyword === 'required' && typeof params['missingProperty'] === 'string') {
    return { path, message: `missing required field ${JSON.stringify(params['missingProperty'])}` };
  }
  return { path, message: issue.message ?? 'is invalid' };
}

function retryAfterOf(err: RetryableError): number {
  return Math.max(1, Math.ceil((err.retryAfterMs ?? 1000) / 1000));
}

export function httpErrorOf(err: unknown): HttpError {
  if (isCordumError(err)) {
    const status = err.httpStatus;
    const retryAfterS = err instanceof RetryableError && (status === 429 || status === 503 || status === 504) ? retryAfterOf(err) : undefined;
    return {
      status,
      body: envelope(err.code, err.message, { ...err.details }),
      retryAfterS,
      internal: err.code === 'internal',
    };
  }
  const e = (err ?? {}) as { statusCode?: unknown; code?: unknown; validation?: unknown; validationContext?: unknown; message?: unknown };
  if (Array.isArray(e.validation)) {
    const location = typeof e.validationContext === 'string' ? e.validationContext : 'request';
    const issues = (e.validation as ValidationIssue[]).map((i) => describeIssue(location, i));
    const first = issues[0];
    return {
      status: 400,
      body: envelope('invalid_argument', first === undefined ? `invalid ${location}` : `${first.path}: ${first.message}`, { location, errors: issues }),
      retryAfterS: undefined,
      internal: false,
    };
  }
  const status = typeof e.statusCode === 'number' ? e.statusCode : 500;
  const fastifyCode = typeof e.code === 'string' ? e.code : '';
  if (fastifyCode === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return { status: 413, body: envelope('payload_too_large', 'the request body is larger than the configured limit'), retryAfterS: undefined, internal: false };
  }
  if (fastifyCode === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
    return {
      status: 415,
      body: envelope('unsupported_media_type', 'unsupported content type: send the body as application/json'),
      retryAfterS: undefined,
      internal: false,
    };
  }
  if (status >= 400 && status < 500) {
    const code = BY_STATUS[status] ?? 'invalid_argument';
    const message =
      err instanceof SyntaxError || fastifyCode === 'FST_ERR_CTP_INVALID_JSON_BODY'
        ? 'the request body is not valid JSON'
        : fastifyCode === 'FST_ERR_CTP_EMPTY_JSON_BODY'
          ? 'the request body is empty but the content type is application/json: send a JSON body or no content type'
          : typeof e.message === 'string' && e.message !== ''
            ? e.message
            : ERROR_CATALOGUE[code].summary;
    return { status: BY_STATUS[status] === undefined ? 400 : status, body: envelope(code, message), retryAfterS: undefined, internal: false };
  }
  if (status === 503 || status === 504) {
    const code = BY_STATUS[status] ?? 'unavailable';
    return { status, body: envelope(code, ERROR_CATALOGUE[code].summary), retryAfterS: 1, internal: true };
  }
  return { status: 500, body: envelope('internal', 'internal error; the gateway log has the details'), retryAfterS: undefined, internal: true };
}
