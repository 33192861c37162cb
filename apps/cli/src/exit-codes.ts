// The exit codes scripts can rely on (docs/cli.md lists them; a test keeps the two in step).

export const EXIT = {
  /** The command did what was asked. */
  ok: 0,
  /** Anything else: an unexpected fault, a gateway 5xx. */
  error: 1,
  /** The command line or a local file is wrong (unknown flag, bad JSON, invalid policy bundle), or the gateway refused the request as invalid (400, 413, 415). */
  usage: 2,
  /** The addressed record does not exist or is not visible to your key (404, 410). */
  notFound: 3,
  /** No valid API key (401) or the key lacks the role or tenant (403). */
  auth: 4,
  /** The record is not in the state the action needs, or changed meanwhile (409). */
  conflict: 5,
  /** The gateway cannot be reached, is overloaded or unavailable (connection refused, 429, 503, 504), or a --wait or watch timed out: retrying later may work. */
  unavailable: 6,
  /** A waited-for job ended without succeeding (FAILED, DENIED, CANCELLED, TIMEOUT), or a followed workflow run did (failed, cancelled, timed_out). */
  jobFailed: 7,
  /** `policy test`: at least one case did not get its expected decision. */
  testFailed: 8,
  /** Interrupted (Ctrl-C) while waiting; the job or run itself goes on. */
  interrupted: 130,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** The exit code for a gateway error response status. */
export function exitCodeForStatus(status: number): ExitCode {
  if (status === 400 || status === 413 || status === 415 || status === 422) return EXIT.usage;
  if (status === 401 || status === 403) return EXIT.auth;
  if (status === 404 || status === 410) return EXIT.notFound;
  if (status === 409) return EXIT.conflict;
  if (status === 429 || status === 502 || status === 503 || status === 504) return EXIT.unavailable;
  return EXIT.error;
}
