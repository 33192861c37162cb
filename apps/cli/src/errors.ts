import { type ExitCode, EXIT, exitCodeForStatus } from './exit-codes.js';

/**
 * An error cordumctl reports as one sentence on stderr and turns into its exit code. `code` is the gateway's
 * stable error code when the gateway answered, or a local one (`usage`, `unreachable`, …).
 */
export class CliError extends Error {
  readonly exitCode: ExitCode;
  readonly code: string;
  /** HTTP status of the gateway's answer, when there was one. */
  readonly status: number | undefined;
  /** What to try next, appended to the message on its own line. */
  readonly hint: string | undefined;

  constructor(message: string, options: { exitCode: ExitCode; code: string; status?: number | undefined; hint?: string | undefined; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CliError';
    this.exitCode = options.exitCode;
    this.code = options.code;
    this.status = options.status;
    this.hint = options.hint;
  }
}

/** A problem with the command line or a local file (exit 2). */
export function usageError(message: string, hint?: string): CliError {
  return new CliError(message, { exitCode: EXIT.usage, code: 'usage', ...(hint === undefined ? {} : { hint }) });
}

/** The gateway answered with an error envelope {error: {code, message, details}} (or something else non-2xx). */
export function gatewayError(status: number, body: unknown): CliError {
  const envelope = isRecord(body) && isRecord(body['error']) ? body['error'] : undefined;
  const code = typeof envelope?.['code'] === 'string' ? envelope['code'] : `http_${status}`;
  const raw = typeof envelope?.['message'] === 'string' && envelope['message'] !== '' ? envelope['message'] : `HTTP ${status}`;
  const sentence = raw.replace(/[.\s]+$/, '');
  const details = isRecord(envelope?.['details']) ? envelope['details'] : {};
  const role = typeof details['required_role'] === 'string' ? ` (needs ${details['required_role']})` : '';
  const hint =
    status === 401
      ? 'pass a key with --api-key, CORDUM_API_KEY or a context (cordumctl context list)'
      : status === 403 && code === 'permission_denied'
        ? `use a key with the role this needs${role}`
        : undefined;
  const message = envelope === undefined ? `the gateway answered HTTP ${status} without a Cordum error body` : `${sentence} (${code}, HTTP ${status})`;
  return new CliError(message, {
    exitCode: exitCodeForStatus(status),
    code,
    status,
    ...(hint === undefined ? {} : { hint }),
  });
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
