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
