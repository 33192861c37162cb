export type IdempotencyKey = {
  tenant: string;
  /** What the key deduplicates: "job", "run", … (keys of different scopes never collide). */
  scope: string;
  key: string;
};

export type ClaimResult = { claimed: true; value: string } | { claimed: false; value: string };

/** Tenant-scoped idempotency keys with a TTL: the first claim wins atomically; later claims see its value. */
export type IdempotencyStore = {
  /** Sets key → value unless the key exists (default TTL 7 d). Returns who holds it. */
  claim(key: IdempotencyKey, value: string, options?: { ttlMs?: number }): Promise<ClaimResult>;
  get(key: IdempotencyKey): Promise<string | undefined>;
  /** Deletes the key only if it still maps to value (undo a claim whose creation failed). */
  release(key: IdempotencyKey, value: string): Promise<boolean>;
};
