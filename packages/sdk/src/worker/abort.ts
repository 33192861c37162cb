/** Why a job's signal was aborted. */
export type JobAbortKind = 'cancelled' | 'deadline' | 'shutdown';

/**
 * The reason carried by an aborted JobContext.signal. Handlers that pass the signal on (fetch, child
 * processes, clock.sleep) see it thrown back; the worker decides the reported status from `kind`, whatever
 * the handler throws afterwards.
 */
export class JobAbortedError extends Error {
  override readonly name = 'JobAbortedError';
  constructor(
    readonly kind: JobAbortKind,
    message: string,
    /** JobCancel.requested_by, for cancels. */
    readonly requestedBy?: string,
  ) {
    super(message);
  }
}

export function isJobAbortedError(value: unknown): value is JobAbortedError {
  return value instanceof JobAbortedError;
}
