import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { parse, stringify } from 'yaml';
import { usageError } from '../errors.js';

// Named contexts, as kubectl has them: each names a gateway and the API key to use there, so one machine
// can talk to several gateways and tenants (a key belongs to one tenant). The file is YAML:
//
//   current-context: local
//   contexts:
//     local: { gateway: http://127.0.0.1:8081 }
//     prod:  { gateway: https://cordum.example.com, api-key: ... }

export const DEFAULT_GATEWAY = 'http://localhost:8081';

export type ContextEntry = { readonly gateway?: string; readonly apiKey?: string };

export type ContextsFile = {
  readonly currentContext: string | undefined;
  readonly contexts: Readonly<Record<string, ContextEntry>>;
};

export const EMPTY_CONTEXTS: ContextsFile = { currentContext: undefined, contexts: {} };

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/** Where the contexts file is: CORDUM_CONFIG, else $XDG_CONFIG_HOME/cordum/config.yaml, else ~/.config/cordum/config.yaml. */
export function contextsPath(env: { configFile: string | undefined; xdgConfigHome: string | undefined; home: string }): string {
  if (env.configFile !== undefined) return env.configFile;
  return join(env.xdgConfigHome ?? join(env.home, '.config'), 'cordum', 'config.yaml');
}

export function checkContextName(name: string): string {
  if (!NAME.test(name)) throw usageError(`context name ${JSON.stringify(name)} is not valid: use letters, digits, dot, dash or underscore`);
  return name;
}

/** Checks a gateway URL (http or https); returns it without a trailing slash. */
export function checkGatewayUrl(text: string, where: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw usageError(`${where}: ${JSON.stringify(text)} is not a URL (expected e.g. http://localhost:8081)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw usageError(`${where}: ${JSON.stringify(text)} must be an http:// or https:// URL`);
  }
  return text.replace(/\/+$/, '');
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Parses and validates the contexts file; every problem names the file and the key. */
export function parseContexts(text: string, path: string): ContextsFile {
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (err) {
    throw usageError(`${path}: not valid YAML: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
  }
  if (raw === null || raw === undefined) return EMPTY_CONTEXTS;
  if (!isRecord(raw)) throw usageError(`${path}: expected a map with current-context and contexts`);
  const unknown = Object.keys(raw).filter((k) => k !== 'current-context' && k !== 'contexts');
  if (unknown.length > 0) throw usageError(`${path}: unknown key ${unknown.map((k) => JSON.stringify(k)).join(', ')} (expected current-context, contexts)`);
  const current = raw['current-context'];
  if (current !== undefined && current !== null && typeof current !== 'string') throw usageError(`${path}: current-context must be a string`);
  const list = raw['contexts'] ?? {};
  if (!isRecord(list)) throw usageError(`${path}: contexts must be a map of name → {gateway, api-key}`);
  const contexts: Record<string, ContextEntry> = {};
  for (const [name, value] of Object.entries(list)) {
    if (!NAME.test(name)) throw usageError(`${path}: context name ${JSON.stringify(name)} is not valid`);
    const entry = value ?? {};
    if (!isRecord(entry)) throw usageError(`${path}: contexts.${name} must be a map with gateway and api-key`);
    const bad = Object.keys(entry).filter((k) => k !== 'gateway' && k !== 'api-key');
    if (bad.length > 0) throw usageError(`${path}: contexts.${name}: unknown key ${bad.map((k) => JSON.stringify(k)).join(', ')} (expected gateway, api-key)`);
    const gateway = entry['gateway'];
    const apiKey = entry['api-key'];
    if (gateway !== undefined && typeof gateway !== 'string') throw usageError(`${path}: contexts.${name}.gateway must be a string`);
    if (apiKey !== undefined && typeof apiKey !== 'string') throw usageError(`${path}: contexts.${name}.api-key must be a string`);
    contexts[name] = {
      ...(gateway === undefined ? {} : { gateway: checkGatewayUrl(gateway, `${path}: contexts.${name}.gateway`) }),
      ...(apiKey === undefined ? {} : { apiKey }),
    };
  }
  const currentContext = typeof current === 'string' && current !== '' ? current : undefined;
  return { currentContext, contexts };
}

export function serializeContexts(file: ContextsFile): string {
  const contexts: Record<string, Record<string, string>> = {};
  for (const [name, c] of Object.entries(file.contexts)) {
    contexts[name] = { ...(c.gateway === undefined ? {} : { gateway: c.gateway }), ...(c.apiKey === undefined ? {} : { 'api-key': c.apiKey }) };
  }
  return stringify({ ...(file.currentContext === undefined ? {} : { 'current-context': file.currentContext }), contexts });
}

/** Reads the contexts file; a missing file is an empty one. */
export async function readContexts(path: string): Promise<ContextsFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return EMPTY_CONTEXTS;
    throw usageError(`cannot read the contexts file ${path}: ${(err as Error).message}`);
  }
  return parseContexts(text, path);
}

/** Writes the file atomically, readable by its owner only (it may hold API keys). */
export async function writeContexts(path: string, file: ContextsFile): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, serializeContexts(file), { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, path);
}

export type Target = {
  readonly gateway: string;
  readonly apiKey: string | undefined;
  /** The context the values came from, if any. */
  readonly context: string | undefined;
};

/**
 * Where a command goes and with which key. Per value: the flag, then the context named by --context, then the
 * environment (CORDUM_GATEWAY, CORDUM_API_KEY), then the current context, then the default gateway.
 */
export function resolveTarget(
  flags: { gateway?: string | undefined; apiKey?: string | undefined; context?: string | undefined },
  env: { gateway: string | undefined; apiKey: string | undefined },
  file: ContextsFile,
): Target {
  let named: ContextEntry | undefined;
  if (flags.context !== undefined) {
    named = file.contexts[flags.context];
    if (named === undefined) {
      const known = Object.keys(file.contexts);
      throw usageError(
        `--context: no context named ${JSON.stringify(flags.context)}`,
        known.length === 0 ? 'create one with: cordumctl context set NAME --gateway URL' : `known contexts: ${known.join(', ')}`,
      );
    }
  }
  const current = file.currentContext === undefined ? undefined : file.contexts[file.currentContext];
  const gateway = flags.gateway ?? named?.gateway ?? env.gateway ?? current?.gateway ?? DEFAULT_GATEWAY;
  const apiKey = flags.apiKey ?? named?.apiKey ?? env.apiKey ?? current?.apiKey;
  const context = flags.context ?? (current === undefined ? undefined : file.currentContext);
  return { gateway: checkGatewayUrl(gateway, flags.gateway !== undefined ? '--gateway' : 'gateway'), apiKey, context };
}
