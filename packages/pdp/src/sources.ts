// Reading policy sources: the base bundle (file or URL) with its signature, and the fragments map of the
// config store. No parsing or verification here (runtime.ts does that), only IO and shape checks, so that a
// load can first compare a cheap fingerprint and skip everything when nothing changed.
import { readFile, stat } from 'node:fs/promises';
import { isPlainObject, type JsonValue, sha256Hex, toError } from '@cordum/core';
import type { ConfigRef, ConfigStore } from '@cordum/store';

/** Which part of the sources a load failed on (the label of the failure metric). */
export type LoadSource = 'base' | 'signature' | 'fragments' | 'policy' | 'packs';

/** A load that cannot produce a policy. Never escapes the runtime except from start(). */
export class LoadFailure extends Error {
  override readonly name = 'LoadFailure';
  constructor(
    readonly source: LoadSource,
    message: string,
    readonly bundle: string | undefined = undefined,
    options: { cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
  }
}

export type BaseLocation = { kind: 'file'; path: string; signaturePath: string | undefined } | { kind: 'url'; url: string; signaturePath: string | undefined };

export type BaseContent = {
  /** The exact bytes: what a signature covers. */
  bytes: Buffer;
  text: string;
  /** The signature text (base64), or null when none was found. */
  signature: string | null;
  location: string;
};

const isNotFound = (err: unknown): boolean => (err as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';

async function statKey(path: string): Promise<string> {
  try {
    const s = await stat(path);
    return `${s.mtimeMs}:${s.size}:${s.ino}`;
  } catch (err) {
    if (isNotFound(err)) return 'missing';
    throw err;
  }
}

async function readOptional(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if (isNotFound(err)) return null;
    throw err;
  }
}

/**
 * A cheap fingerprint of a file base (mtime, size and inode of the bundle and of its signature file), or null
 * for a URL, which can only be compared by fetching it.
 */
export async function baseFileFingerprint(base: BaseLocation, withSignature: boolean): Promise<string | null> {
  if (base.kind === 'url') return null;
  try {
    const bundle = await statKey(base.path);
    const sig = withSignature ? await statKey(base.signaturePath ?? `${base.path}.sig`) : '-';
    return `${bundle}|${sig}`;
  } catch (err) {
    throw new LoadFailure('base', `cannot stat ${base.path}: ${toError(err).message}`, 'base', { cause: err });
  }
}

async function fetchText(fetcher: typeof fetch, url: string, timeoutMs: number, optional: boolean): Promise<Buffer | null> {
  let res: Response;
  try {
    res = await fetcher(url, { signal: AbortSignal.timeout(timeoutMs), redirect: 'follow' });
  } catch (err) {
    throw new LoadFailure('base', `cannot fetch ${url}: ${toError(err).message}`, 'base', { cause: err });
  }
  if (optional && res.status === 404) return null;
  if (!res.ok) throw new LoadFailure('base', `cannot fetch ${url}: HTTP ${res.status}`, 'base');
  return Buffer.from(await res.arrayBuffer());
}

/**
 * The base bundle and, when signatures are checked, its signature: the explicit value, else the signature
 * file, else `<bundle file>.sig` (for a URL, `<url>.sig`). A missing default .sig is not an error here (the
 * runtime decides whether an unsigned base is acceptable); a missing configured signature file is.
 */
export async function readBase(
  base: BaseLocation,
  signature: { wanted: boolean; explicit: string | undefined },
  fetcher: typeof fetch,
  timeoutMs: number,
): Promise<BaseContent> {
  let bytes: Buffer;
  let location: string;
  if (base.kind === 'file') {
    location = base.path;
    try {
      bytes = await readFile(base.path);
    } catch (err) {
      throw new LoadFailure('base', `cannot read ${base.path}: ${toError(err).message}`, 'base', { cause: err });
    }
  } else {
    location = base.url;
    bytes = (await fetchText(fetcher, base.url, timeoutMs, false)) ?? Buffer.alloc(0);
  }

  let sig: string | null = null;
  if (signature.wanted) {
    if (signature.explicit !== undefined) {
      sig = signature.explicit;
    } else if (base.signaturePath !== undefined) {
      try {
        sig = await readFile(base.signaturePath, 'utf8');
      } catch (err) {
        throw new LoadFailure('signature', `cannot read signature file ${base.signaturePath}: ${toError(err).message}`, 'base', {
          cause: err,
        });
      }
    } else if (base.kind === 'file') {
      try {
        sig = await readOptional(`${base.path}.sig`);
      } catch (err) {
        throw new LoadFailure('signature', `cannot read ${base.path}.sig: ${toError(err).message}`, 'base', { cause: err });
      }
    } else {
      const fetched = await fetchText(fetcher, `${base.url}.sig`, timeoutMs, true);
      sig = fetched === null ? null : fetched.toString('utf8');
    }
  }
  return { bytes, text: bytes.toString('utf8'), signature: sig, location };
}

export type FragmentEntry = {
  /** The config-store key: `<pack>/<name>`, `secops/<name>`. */
  id: string;
  content: string;
  /** Base64 Ed25519 signature over the UTF-8 bytes of content, or null. */
  signature: string | null;
};

export type FragmentsRead = { revision: number; entries: FragmentEntry[] };

/**
 * The enabled fragments of the config document, sorted by key. An entry is a bundle string or a map
 * `{content | policy | data, enabled?, signature?}` (upstream's shape; a non-string `data` is taken as the
 * bundle document itself and serialised as JSON). `enabled: false` entries are skipped unread.
 */
export async function readFragments(config: ConfigStore, ref: ConfigRef, key: string): Promise<FragmentsRead> {
  let doc;
  try {
    doc = await config.get(ref);
  } catch (err) {
    throw new LoadFailure('fragments', `cannot read policy fragments (${ref.scope}/${ref.scopeId}): ${toError(err).message}`, undefined, {
      cause: err,
    });
  }
  if (doc === undefined) return { revision: 0, entries: [] };
  const raw = Object.hasOwn(doc.data, key) ? doc.data[key] : undefined;
  if (raw === undefined || raw === null) return { revision: doc.revision, entries: [] };
  if (!isPlainObject(raw)) {
    throw new LoadFailure('fragments', `config ${ref.scope}/${ref.scopeId} data.${key} must be a map of bundles`);
  }
  const entries: FragmentEntry[] = [];
  for (const id of Object.keys(raw).sort()) {
    const entry = fragmentEntry(id, raw[id]);
    if (entry !== null) entries.push(entry);
  }
  return { revision: doc.revision, entries };
}

function fragmentEntry(id: string, value: JsonValue | undefined): FragmentEntry | null {
  if (typeof value === 'string') return { id, content: value, signature: null };
  if (!isPlainObject(value)) throw new LoadFailure('fragments', `bundle entry must be a string or a map`, id);
  if (value['enabled'] === false) return null;
  let content: string | undefined;
  for (const field of ['content', 'policy', 'data']) {
    const v = value[field];
    if (typeof v === 'string') {
      content = v;
      break;
    }
    if (field === 'data' && v !== undefined && v !== null) content = JSON.stringify(v);
  }
  if (content === undefined) throw new LoadFailure('fragments', 'bundle entry has no content, policy or data', id);
  const sig = value['signature'];
  if (sig !== undefined && sig !== null && typeof sig !== 'string') {
    throw new LoadFailure('signature', 'signature must be a base64 string', id);
  }
  return { id, content, signature: typeof sig === 'string' && sig.trim() !== '' ? sig : null };
}

/** What a reload compares to decide whether anything changed at all. */
export function contentHash(base: BaseContent | null, fragments: readonly FragmentEntry[]): string {
  const parts: string[] = [];
  if (base !== null) parts.push(`base\u0000${sha256Hex(base.bytes)}\u0000${base.signature?.trim() ?? ''}`);
  for (const f of fragments) parts.push(`${f.id}\u0000${sha256Hex(f.content)}\u0000${f.signature ?? ''}`);
  return sha256Hex(parts.join('\u0001'));
}
