/** A stored payload behind a pointer. */
export type Payload = {
  readonly pointer: string;
  readonly bytes: Uint8Array;
  readonly contentType: string;
  /** Tenant that wrote it; the gateway refuses reads across tenants. */
  readonly tenant: string;
  readonly createdAt: number;
  /** Store-clock ms when it expires, or null for no expiry. */
  readonly expiresAt: number | null;
};

export type PutPayload = {
  tenant: string;
  bytes: Uint8Array | string;
  /** Default application/json. */
  contentType?: string;
  /** Time to live; omitted means the adapter default (REDIS_DATA_TTL, 24 h). */
  ttlMs?: number;
  /** putContext only: write only if this fence is up (RunUpdate.fence); ConflictError(fence_down) otherwise. */
  fence?: string;
};

/**
 * Job inputs and outputs behind pointers: `redis://ctx:<job>` (write-once input) and `redis://res:<job>`
 * (output). get() also resolves foreign redis:// pointers (e.g. `redis://ctx/<id>`) as the literal key
 * after the scheme, inside the store's key prefix.
 */
export type PointerStore = {
  /**
   * Writes a job's input and returns its pointer, always contextPointer(jobId) of @cordum/protocol (callers
   * may name it before the write). Write-once: writing different bytes for the same job throws
   * ConflictError(already_exists); writing identical bytes again returns the same pointer.
   */
  putContext(jobId: string, payload: PutPayload): Promise<string>;
  /**
   * Writes (or replaces) a job's output and returns its pointer. Only the tenant that wrote the current
   * output may replace it: another tenant gets DeniedError(permission_denied) and the output stays as it
   * was. Once the output has expired or been deleted, any tenant may write it again.
   *
   * With `variant`, writes a derived output beside the original instead (the output policy's redacted copy:
   * `redis://res:<job>:redacted`); the original is untouched and the same ownership rule applies to the
   * variant. Hazard: job ids may contain ':', so job `x:redacted`'s output and job `x`'s redacted variant
   * share a pointer; the tenant check keeps that from crossing tenants.
   */
  putResult(jobId: string, payload: PutPayload, options?: PutResultOptions): Promise<string>;
  /** The payload, or undefined when missing or expired. */
  get(pointer: string): Promise<Payload | undefined>;
  /** Like get, but throws NotFoundError(input_expired) naming the pointer. */
  require(pointer: string): Promise<Payload>;
  /** Makes the payload live at least until `untilMs` (store clock); false when it no longer exists. */
  extend(pointer: string, untilMs: number): Promise<boolean>;
  /**
   * Deletes the payload; false when there is none. With `tenant`, deletes only a payload that tenant
   * wrote (another tenant's reads as missing: false, and it stays).
   */
  delete(pointer: string, options?: DeletePayloadOptions): Promise<boolean>;
};

export type PutResultOptions = {
  /** Name of a derived output (1-32 of a-z 0-9 _ -, starting with a letter), e.g. 'redacted'. */
  variant?: string;
};

export type DeletePayloadOptions = {
  /** Delete only if this tenant wrote the payload. */
  tenant?: string;
};
