import { readFile, stat } from 'node:fs/promises';
import { extname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { usageError } from '../errors.js';

// What a command reads besides its flags: a file (`path` or `@path`), standard input (`-`), or a value
// written inline on the command line (JSON or YAML). Errors name the flag or argument and the file.

export type InputSource = {
  readonly cwd: string;
  /** All of standard input (for `-`). */
  readonly readStdin: () => Promise<Uint8Array>;
};

export type ReadBytes = { readonly bytes: Uint8Array; readonly path: string | null };

export type DocumentFormat = 'json' | 'yaml';

export type ReadDocument = {
  readonly value: unknown;
  /** The text as read (sent as it is when the gateway takes YAML itself). */
  readonly text: string;
  readonly format: DocumentFormat;
  /** `inline`, `-` (stdin) or the absolute path of the file. */
  readonly source: string;
};

const FILE_NAME = /^[^\s{}[\]:,]+\.(json|ya?ml)$/i;

async function readPath(path: string, what: string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw usageError(`${what}: no such file ${path}`);
    if (code === 'EISDIR') throw usageError(`${what}: ${path} is a directory, not a file`);
    throw usageError(`${what}: cannot read ${path}: ${(err as Error).message}`);
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ENOENT';
  }
}

/** The bytes of a file (`path`, `@path`) or of standard input (`-`). */
export async function readBytesArgument(value: string, what: string, src: InputSource): Promise<ReadBytes> {
  if (value === '-') return { bytes: await src.readStdin(), path: null };
  const path = resolve(src.cwd, value.startsWith('@') ? value.slice(1) : value);
  return { bytes: await readPath(path, what), path };
}

function firstLine(err: unknown): string {
  return ((err as Error).message.split('\n')[0] ?? '').trim().replace(/:$/, '');
}

/** Parses JSON or YAML text; `format` undefined tries JSON first (JSON is YAML too, but its errors read better). */
export function parseDocument(text: string, format: DocumentFormat | undefined, where: string): { value: unknown; format: DocumentFormat } {
  if (format !== 'yaml') {
    try {
      return { value: JSON.parse(text) as unknown, format: 'json' };
    } catch (err) {
      if (format === 'json') throw usageError(`${where} is not valid JSON: ${firstLine(err)}`);
    }
  }
  try {
    return { value: parseYaml(text) as unknown, format: 'yaml' };
  } catch (err) {
    throw usageError(`${where} is not valid ${format === 'yaml' ? 'YAML' : 'JSON or YAML'}: ${firstLine(err)}`);
  }
}

function formatOfPath(path: string): DocumentFormat | undefined {
  const ext = extname(path).toLowerCase();
  return ext === '.json' ? 'json' : ext === '.yaml' || ext === '.yml' ? 'yaml' : undefined;
}

/**
 * A JSON or YAML document from a file (`path`, `@path`), standard input (`-`) or, when `inline` is allowed,
 * the value itself (`'{"a": 1}'`, `'a: 1'`). A value that names an existing file is the file; one that looks
 * like a file name (`x.yaml`) but is not there is an error rather than a one-word YAML string.
 */
export async function readDocumentArgument(value: string, what: string, src: InputSource, options: { inline: boolean }): Promise<ReadDocument> {
  if (value === '-') {
    const text = Buffer.from(await src.readStdin()).toString('utf8');
    return { ...parseDocument(text, undefined, `${what} (standard input)`), text, source: '-' };
  }
  const explicit = value.startsWith('@');
  const path = resolve(src.cwd, explicit ? value.slice(1) : value);
  if (explicit || !options.inline || (await exists(path)) || FILE_NAME.test(value)) {
    const text = Buffer.from(await readPath(path, what)).toString('utf8');
    return { ...parseDocument(text, formatOfPath(path), `${what}: ${path}`), text, source: path };
  }
  return { ...parseDocument(value, undefined, `${what} (inline)`), text: value, source: 'inline' };
}

/** The document's value as a JSON object, or a usage error saying what it was instead. */
export function requireObject(doc: ReadDocument, what: string): Record<string, unknown> {
  const v = doc.value;
  if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
  const got = v === null || v === undefined ? 'nothing' : Array.isArray(v) ? 'a list' : `a ${typeof v}`;
  const where = doc.source === 'inline' ? `${what} (inline)` : doc.source === '-' ? `${what} (standard input)` : `${what}: ${doc.source}`;
  throw usageError(`${where}: expected an object (JSON {…} or YAML key: value), got ${got}`);
}
