export type LockMode = 'exclusive' | 'shared';

export type LockInfo = {
  readonly tenant: string;
  readonly resource: string;
  readonly mode: LockMode;
  /** Holders: re-entrant acquisitions count up, each owner expires on its own. */
  readonly owners: Readonly<Record<string, { count: number; expiresAt: number }>>;
  /** The latest owner expiry (store clock ms). */
  readonly expiresAt: number;
};

export type LockRequest = {
  tenant: string;
  resource: string;
  owner: string;
  mode: LockMode;
  /** How long this owner holds it without renewing (default 30 s). */
  ttlMs?: number;
};

export type LockKey = { tenant: string; resource: string; owner: string };

/**
 * Shared/exclusive resource locks with owners and TTLs. An exclusive lock has one owner; re-acquiring it as
 * that owner is re-entrant (count + 1). A shared lock admits any number of shared owners. A sole shared owner
 * may upgrade to exclusive. Expired owners are dropped before every decision (store clock).
 */
export type LockStore = {
  /** Throws ConflictError(lock_held) with details {mode, owners} when another owner blocks it. */
  acquire(request: LockRequest): Promise<LockInfo>;
  /**
   * Decrements the owner's count, dropping the owner at 0 and the lock when no owner is left. Returns the
   * remaining lock or null. Throws NotFoundError(lock_not_held) if the owner does not hold it.
   */
  release(key: LockKey): Promise<LockInfo | null>;
  /** Extends the owner's expiry to now + ttlMs. Throws NotFoundError(lock_not_held). */
  renew(key: LockKey & { ttlMs?: number }): Promise<LockInfo>;
  get(tenant: string, resource: string): Promise<LockInfo | undefined>;
};
