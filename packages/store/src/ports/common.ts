// Failures every port shares. A RetryableError(unavailable) from a write means the outcome is unknown:
// the backend may have applied the write before the connection dropped (only its reply was lost). Re-read
// before retrying — a blind retry can report already_exists or state_conflict for the caller's own write,
// or apply an increment twice. Adapters never resend a write on their own.

/** One page of a listing, newest first unless the method says otherwise. */
export type Page<T> = {
  items: T[];
  /** Opaque; pass it back to get the next page. null when there is no more. */
  nextCursor: string | null;
};

export type PageQuery = {
  /** 1-1000, default 50. */
  limit?: number;
  cursor?: string | null;
};

export const DEFAULT_PAGE_LIMIT = 50;
export const MAX_PAGE_LIMIT = 1000;

/** Tenant of system-owned records (internal locks, system config). */
export const SYSTEM_TENANT = '_system';
