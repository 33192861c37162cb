import {
  ConflictError,
  type CordumError,
  DeniedError,
  type ErrorCodeName,
  ERROR_CATALOGUE,
  InvalidError,
  NotFoundError,
  RetryableError,
  TerminalError,
  isCordumError,
} from '@cordum/core';

// Lua scripts report domain failures as `redis.error_reply('CORDUM <code> <json details>')`; this turns
// them back into the matching error class. Anything else from the driver is a connectivity problem
// (retryable) unless it is a reply error, which is a bug (terminal).

const SCRIPT_ERROR = /^CORDUM ([a-z_]+) ?(.*)$/s;

export function mapRedisError(err: unknown, what: string): CordumError {
  if (isCordumError(err)) return err;
  const message = err instanceof Error ? err.message : String(err);
  const m = SCRIPT_ERROR.exec(message.replace(/^ERR /, ''));
  if (m !== null) {
    const code = m[1] as ErrorCodeName;
    let details: Record<string, unknown> = {};
    try {
      details = m[2] !== undefined && m[2] !== '' ? (JSON.parse(m[2]) as Record<string, unknown>) : {};
    } catch {
      details = { raw: m[2] };
    }
    const sentence = typeof details['message'] === 'string' ? details['message'] : `${what}: ${code}`;
    const entry = (ERROR_CATALOGUE as Record<string, { kind: string } | undefined>)[code];
    const opts = { code, details };
    switch (entry?.kind) {
      case 'conflict':
        return new ConflictError(sentence, opts);
      case 'not_found':
        return new NotFoundError(sentence, opts);
      case 'invalid':
        return new InvalidError(sentence, opts);
      case 'denied':
        return new DeniedError(sentence, opts);
      default:
        return new TerminalError(sentence, { details, cause: err });
    }
  }
  if (err instanceof Error && err.name === 'ReplyError') {
    return new TerminalError(`${what} failed: ${message}`, { cause: err });
  }
  return new RetryableError(`redis unavailable during ${what}: ${message}`, {
    code: 'unavailable',
    retryAfterMs: 1000,
    cause: err,
  });
}

/** Runs a driver call, mapping its failure. */
export async function redisCall<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw mapRedisError(err, what);
  }
}
