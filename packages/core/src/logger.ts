import { pino, type DestinationStream, type LevelWithSilent, type Logger as PinoLogger } from 'pino';

export type LogFields = Record<string, unknown>;

export type LogFn = {
  (msg: string): void;
  (fields: LogFields, msg?: string): void;
};

/** The logging surface libraries and services depend on (pino underneath). */
export type Logger = {
  trace: LogFn;
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
  fatal: LogFn;
  child(bindings: LogFields): Logger;
  /** Whether a line at this level would be written (lets hot paths skip building fields). */
  isLevelEnabled(level: LogLevel): boolean;
};

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';

/** Correlation ids every log line of a job, run or step carries. */
export type LogContext = {
  traceId?: string | undefined;
  jobId?: string | undefined;
  runId?: string | undefined;
  stepId?: string | undefined;
  tenant?: string | undefined;
};

/** The snake_case log fields of a context, without the unset ones. */
export function contextFields(ctx: LogContext): LogFields {
  const out: LogFields = {};
  if (ctx.traceId !== undefined && ctx.traceId !== '') out['trace_id'] = ctx.traceId;
  if (ctx.jobId !== undefined && ctx.jobId !== '') out['job_id'] = ctx.jobId;
  if (ctx.runId !== undefined && ctx.runId !== '') out['run_id'] = ctx.runId;
  if (ctx.stepId !== undefined && ctx.stepId !== '') out['step_id'] = ctx.stepId;
  if (ctx.tenant !== undefined && ctx.tenant !== '') out['tenant'] = ctx.tenant;
  return out;
}

/**
 * A child logger whose every line carries the context's ids. The child is made on first use: most jobs never
 * log, and a pino child costs more than the job's own bookkeeping.
 */
export function withContext(logger: Logger, ctx: LogContext): Logger {
  let child: Logger | undefined;
  const get = (): Logger => (child ??= logger.child(contextFields(ctx)));
  const level =
    (name: LogLevel): LogFn =>
    (fields: LogFields | string, msg?: string): void => {
      if (child === undefined && !logger.isLevelEnabled(name)) return;
      if (typeof fields === 'string') get()[name](fields);
      else get()[name](fields, msg);
    };
  return {
    trace: level('trace'),
    debug: level('debug'),
    info: level('info'),
    warn: level('warn'),
    error: level('error'),
    fatal: level('fatal'),
    child: (bindings) => get().child(bindings),
    isLevelEnabled: (name) => logger.isLevelEnabled(name),
  };
}

// Keys whose values never reach a log line, at any depth up to REDACT_DEPTH (objects and arrays), matched
// without regard to case (HTTP headers, JSON snake_case and protobuf-es camelCase spellings all differ).
const REDACT_KEYS = new Set(
  [
    'authorization',
    'cookie',
    'set-cookie',
    'x-api-key',
    'api_key',
    'apikey',
    'password',
    'passwd',
    'secret',
    'client_secret',
    'clientsecret',
    'token',
    'access_token',
    'accesstoken',
    'refresh_token',
    'refreshtoken',
    'auth_token',
    'authtoken',
    'private_key',
    'privatekey',
  ],
);
const REDACT_DEPTH = 6;
const CENSOR = '[redacted]';

function isWalkable(value: unknown): value is Record<string, unknown> | unknown[] {
  if (value === null || typeof value !== 'object') return false;
  if (Array.isArray(value)) return true;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/**
 * The fields with secret-named keys censored. Returns the same object when there is nothing to censor, and
 * copies only along the paths that change (the caller's objects are never modified).
 */
export function redactFields<T>(value: T, depth = 0): T {
  if (!isWalkable(value) || depth > REDACT_DEPTH) return value;
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const next = redactFields(value[i], depth + 1);
      if (next !== value[i]) {
        copy ??= [...(value as unknown[])];
        copy[i] = next;
      }
    }
    return (copy ?? value) as T;
  }
  let copy: Record<string, unknown> | undefined;
  for (const key of Object.keys(value)) {
    const current = value[key];
    const next = REDACT_KEYS.has(key.toLowerCase()) ? CENSOR : redactFields(current, depth + 1);
    if (next !== current) {
      copy ??= { ...value };
      copy[key] = next;
    }
  }
  return (copy ?? value) as T;
}

export type LoggerOptions = {
  /** Component name, logged as `name` on every line. */
  name: string;
  level?: LevelWithSilent;
  /** Where lines go (stdout by default); tests pass a memory stream. */
  destination?: DestinationStream;
  /** Extra fields bound to every line. */
  bindings?: LogFields;
};

export function createLogger(options: LoggerOptions): Logger {
  const base = pino(
    {
      name: options.name,
      level: options.level ?? 'info',
      base: { pid: process.pid, ...options.bindings },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: {
        level: (label) => ({ level: label }),
        log: (fields) => redactFields(fields),
      },
    },
    options.destination,
  );
  return redactingChildren(base);
}

/** Pino runs formatters.log on each line's fields but not on child bindings: those are censored here. */
function redactingChildren(l: PinoLogger): Logger {
  return {
    trace: l.trace.bind(l),
    debug: l.debug.bind(l),
    info: l.info.bind(l),
    warn: l.warn.bind(l),
    error: l.error.bind(l),
    fatal: l.fatal.bind(l),
    child: (bindings) => redactingChildren(l.child(redactFields(bindings))),
    isLevelEnabled: (level) => l.isLevelEnabled(level),
  };
}

/** A logger that drops everything. */
export function createSilentLogger(): Logger {
  return pino({ level: 'silent' });
}

export type LogRecord = { level: string; msg?: string; [key: string]: unknown };

/** A logger that keeps parsed lines in memory, for tests that assert on what was logged. */
export function createMemoryLogger(name = 'test'): { logger: Logger; records: LogRecord[] } {
  const records: LogRecord[] = [];
  const destination: DestinationStream = {
    write(line: string) {
      records.push(JSON.parse(line) as LogRecord);
    },
  };
  return { logger: createLogger({ name, level: 'trace', destination }), records };
}
