// Payload pointers. Pointers are opaque to consumers; only the store that wrote one parses it.
// Ours are redis://ctx:<job>, redis://res:<job>, redis://art:<id>; foreign forms such as
// redis://ctx/<id> resolve to the literal key after the scheme.

const REDIS_SCHEME = 'redis://';

export type PointerKind = 'ctx' | 'res' | 'art' | 'other';

export function contextPointer(jobId: string): string {
  return `${REDIS_SCHEME}ctx:${jobId}`;
}

export function resultPointer(jobId: string): string {
  return `${REDIS_SCHEME}res:${jobId}`;
}

export function artifactPointer(artifactId: string): string {
  return `${REDIS_SCHEME}art:${artifactId}`;
}

/** The store key a redis:// pointer names, or undefined for another scheme. */
export function pointerKey(pointer: string): string | undefined {
  if (!pointer.startsWith(REDIS_SCHEME)) return undefined;
  const key = pointer.slice(REDIS_SCHEME.length);
  return key.length > 0 ? key : undefined;
}

/** What a redis:// pointer holds, judged by its key prefix (`ctx:`/`ctx/` …). */
export function pointerKind(pointer: string): PointerKind {
  const key = pointerKey(pointer);
  if (key === undefined) return 'other';
  for (const kind of ['ctx', 'res', 'art'] as const) {
    if (key.startsWith(`${kind}:`) || key.startsWith(`${kind}/`)) return kind;
  }
  return 'other';
}
