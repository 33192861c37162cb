import { pino, type DestinationStream, type LevelWithSilent } from 'pino';

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
};

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

/** A child logger whose every line carries the context's ids. */
export function withContext(logger: Logger, ctx: LogContext): Logger {
  return logger.child(contextFields(ctx));
}

// Keys whose values never reach a log line, at the top level and up to three levels down (e.g.
// req.headers.authorization, packet.payload.value.authToken is four: log packets through a summary, not whole).
// Spellings differ by source (HTTP headers, JSON snake_case, protobuf-es camelCase), so each is listed.
const REDACT_KEYS = [
  'authorization',
  'Authorization',
  'cookie',
  'Cookie',
  'set-cookie',
  'x-api-key',
  'X-Api-Key',
  'api_key',
  'apiKey',
  'password',
  'passwd',
  'secret',
  'client_secret',
  'clientSecret',
  'token',
  'access_token',
  'accessToken',
  'refresh_token',
  'refreshToken',
  'auth_token',
  'authToken',
  'private_key',
  'privateKey',
];
const REDACT_DEPTHS = ['', '*.', '*.*.', '*.*.*.'];

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
  const paths = REDACT_KEYS.flatMap((k) =>
    REDACT_DEPTHS.map((prefix) =>
      /^[A-Za-z_$][\w$]*$/.test(k) ? `${prefix}${k}` : `${prefix.replace(/\.$/, '')}["${k}"]`,
    ),
  );
  const base = pino(
    {
      name: options.name,
      level: options.level ?? 'info',
      base: { pid: process.pid, ...options.bindings },
      redact: { paths, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    options.destination,
  );
  return base;
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
