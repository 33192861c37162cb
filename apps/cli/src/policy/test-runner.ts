import { readFile } from 'node:fs/promises';
import { basename, extname, isAbsolute, join, normalize, resolve, sep } from 'node:path';
import { type Bundle, type CaseResult, type PolicyCase, PolicyError, orderBundles, parseBundle, runCases } from '@cordum/policy';
import { parse as parseYaml } from 'yaml';
import { usageError } from '../errors.js';

// `cordumctl policy test`: policy simulations run offline against bundle files with @cordum/policy (the same
// evaluation the safety kernel does), like `opa test`. Cases come from a YAML file in the shape of a pack's
// tests.policySimulations, and/or from a pack directory's own pack.yaml with its policy fragments.

export type PolicyTestOptions = {
  /** Bundle files: the first is the base bundle, the others fragments named after their file. */
  readonly bundles: readonly string[];
  readonly cases?: string | undefined;
  readonly pack?: string | undefined;
  readonly cwd: string;
};

export type LoadedBundle = { readonly id: string; readonly path: string };

export type PolicyTestResult = CaseResult & { readonly source: string };

export type PolicyTestReport = {
  readonly bundles: readonly LoadedBundle[];
  readonly pack: string | null;
  readonly results: readonly PolicyTestResult[];
  readonly passed: number;
  readonly failed: number;
};

const REQUEST_KEYS = ['tenantId', 'topic', 'capability', 'riskTags', 'requires', 'packId', 'actorId', 'actorType', 'labels'] as const;
const CASE_KEYS = ['name', 'request', 'expectDecision'] as const;
const PACK_ID = /^[a-z0-9-]+$/;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

async function readText(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw usageError(code === 'ENOENT' ? `${what} ${path} does not exist` : `cannot read ${what} ${path}: ${(err as Error).message}`);
  }
}

function parseYamlText(text: string, path: string): unknown {
  try {
    return parseYaml(text) as unknown;
  } catch (err) {
    throw usageError(`${path} is not valid YAML: ${(err as Error).message.split('\n')[0] ?? ''}`);
  }
}

function stringList(v: unknown, where: string): string[] {
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw usageError(`${where} must be a list of strings`);
  return v as string[];
}

/** Validates one case (strict: a misspelt key would silently test something else). */
export function checkCase(raw: unknown, where: string): PolicyCase {
  if (!isRecord(raw)) throw usageError(`${where} must be a map with name, request and expectDecision`);
  const extra = Object.keys(raw).filter((k) => !(CASE_KEYS as readonly string[]).includes(k));
  if (extra.length > 0) throw usageError(`${where}: unknown key ${extra.map((k) => JSON.stringify(k)).join(', ')} (expected ${CASE_KEYS.join(', ')})`);
  const name = raw['name'];
  if (typeof name !== 'string' || name.trim() === '') throw usageError(`${where}.name must be a non-empty string`);
  const at = `${where} (${name})`;
  const expect = raw['expectDecision'];
  if (typeof expect !== 'string' || expect.trim() === '') throw usageError(`${at}.expectDecision must be a decision such as ALLOW, DENY or REQUIRE_APPROVAL`);
  const req = raw['request'];
  if (!isRecord(req)) throw usageError(`${at}.request must be a map with at least topic`);
  const bad = Object.keys(req).filter((k) => !(REQUEST_KEYS as readonly string[]).includes(k));
  if (bad.length > 0) throw usageError(`${at}.request: unknown key ${bad.map((k) => JSON.stringify(k)).join(', ')} (expected ${REQUEST_KEYS.join(', ')})`);
  if (typeof req['topic'] !== 'string' || req['topic'] === '') throw usageError(`${at}.request.topic must be a non-empty string`);
  const request: PolicyCase['request'] = { topic: req['topic'] };
  for (const key of ['tenantId', 'capability', 'packId', 'actorId', 'actorType'] as const) {
    const v = req[key];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'string') throw usageError(`${at}.request.${key} must be a string`);
    request[key] = v;
  }
  if (req['riskTags'] !== undefined && req['riskTags'] !== null) request.riskTags = stringList(req['riskTags'], `${at}.request.riskTags`);
  if (req['requires'] !== undefined && req['requires'] !== null) request.requires = stringList(req['requires'], `${at}.request.requires`);
  const labels = req['labels'];
  if (labels !== undefined && labels !== null) {
    if (!isRecord(labels)) throw usageError(`${at}.request.labels must be a map of strings`);
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(labels)) {
      if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') throw usageError(`${at}.request.labels.${k} must be a string`);
      out[k] = String(v);
    }
    request.labels = out;
  }
  return { name, request, expectDecision: expect };
}

/** A cases document: a list of cases, or a map holding one under cases, policySimulations or tests.policySimulations. */
export function parseCases(doc: unknown, path: string): PolicyCase[] {
  let list: unknown = doc;
  if (isRecord(doc)) {
    const tests = isRecord(doc['tests']) ? doc['tests'] : undefined;
    list = doc['cases'] ?? doc['policySimulations'] ?? tests?.['policySimulations'];
  }
  if (!Array.isArray(list)) throw usageError(`${path}: expected a YAML list of cases (name, request, expectDecision)`);
  const names = new Set<string>();
  return list.map((c, i) => {
    const checked = checkCase(c, `${path}: case ${i + 1}`);
    if (names.has(checked.name)) throw usageError(`${path}: case ${i + 1}: the name ${JSON.stringify(checked.name)} is used twice`);
    names.add(checked.name);
    return checked;
  });
}

/** Joins a pack-relative path, refusing absolute paths and `..` (as the installer does). */
export function packPath(root: string, rel: string, where: string): string {
  const norm = normalize(rel);
  if (rel === '' || isAbsolute(rel) || norm === '..' || norm.startsWith(`..${sep}`)) {
    throw usageError(`${where}: path ${JSON.stringify(rel)} must stay inside the pack`);
  }
  return join(root, norm);
}

export type LoadedPack = { id: string; dir: string; fragments: { id: string; path: string; content: string }[]; cases: PolicyCase[] };

/** Reads a pack directory: pack.yaml (at its root or under pack/), its policy fragments and its policySimulations. */
export async function loadPack(dir: string): Promise<LoadedPack> {
  let root = dir;
  let manifestPath: string | undefined;
  for (const candidate of [dir, join(dir, 'pack')]) {
    for (const name of ['pack.yaml', 'pack.yml']) {
      const p = join(candidate, name);
      if (manifestPath === undefined && (await readFile(p, 'utf8').then(() => true, () => false))) {
        manifestPath = p;
        root = candidate;
      }
    }
  }
  if (manifestPath === undefined) throw usageError(`--pack: no pack.yaml in ${dir} (nor in ${join(dir, 'pack')})`);
  const manifest = parseYamlText(await readText(manifestPath, 'pack manifest'), manifestPath);
  if (!isRecord(manifest)) throw usageError(`${manifestPath}: expected a map (apiVersion, kind, metadata, …)`);
  const metadata = isRecord(manifest['metadata']) ? manifest['metadata'] : {};
  const id = metadata['id'];
  if (typeof id !== 'string' || !PACK_ID.test(id)) throw usageError(`${manifestPath}: metadata.id must match ^[a-z0-9-]+$`);
  const overlays = isRecord(manifest['overlays']) ? manifest['overlays'] : {};
  const policy = overlays['policy'] ?? [];
  if (!Array.isArray(policy)) throw usageError(`${manifestPath}: overlays.policy must be a list`);
  const fragments: LoadedPack['fragments'] = [];
  for (const [i, o] of policy.entries()) {
    const where = `${manifestPath}: overlays.policy[${i}]`;
    if (!isRecord(o) || typeof o['path'] !== 'string') throw usageError(`${where} needs a path`);
    const strategy = o['strategy'] ?? '';
    if (strategy !== '' && strategy !== 'bundle_fragment') throw usageError(`${where}: strategy must be bundle_fragment, got ${JSON.stringify(strategy)}`);
    const name = typeof o['name'] === 'string' && o['name'] !== '' ? o['name'] : 'default';
    const path = packPath(root, o['path'], where);
    fragments.push({ id: `${id}/${name}`, path, content: await readText(path, 'policy fragment') });
  }
  const tests = isRecord(manifest['tests']) ? manifest['tests'] : {};
  const sims = tests['policySimulations'];
  const cases = sims === undefined || sims === null ? [] : parseCases(sims, `${manifestPath}: tests.policySimulations`);
  return { id, dir: root, fragments, cases };
}

/** Parses a bundle file; a policy error names the file first (exit 2). */
function parseBundleFile(id: string, content: string, path: string): Bundle {
  try {
    return parseBundle({ id, content });
  } catch (err) {
    if (err instanceof PolicyError) throw usageError(`${path}: ${err.message} (${err.code})`);
    throw err;
  }
}

function bundleIds(paths: readonly string[]): string[] {
  const used = new Set<string>();
  return paths.map((p, i) => {
    let id = i === 0 ? 'base' : basename(p, extname(p)) || `bundle-${i + 1}`;
    if (id === 'base' && i > 0) id = `base-${i + 1}`;
    let unique = id;
    for (let n = 2; used.has(unique); n++) unique = `${id}-${n}`;
    used.add(unique);
    return unique;
  });
}

/** Loads everything, runs every case, and reports; throws usage errors (exit 2) for anything that cannot be loaded. */
export async function runPolicyTest(options: PolicyTestOptions): Promise<PolicyTestReport> {
  if (options.cases === undefined && options.pack === undefined) {
    throw usageError('policy test needs --cases FILE or --pack DIR (or both)');
  }
  const paths = options.bundles.map((b) => resolve(options.cwd, b));
  const ids = bundleIds(paths);
  const given: Bundle[] = [];
  const loaded: LoadedBundle[] = [];
  for (const [i, path] of paths.entries()) {
    const id = ids[i] ?? `bundle-${i + 1}`;
    given.push(parseBundleFile(id, await readText(path, 'policy bundle'), path));
    loaded.push({ id, path });
  }
  const pack = options.pack === undefined ? undefined : await loadPack(resolve(options.cwd, options.pack));
  const fromPack: Bundle[] = [];
  for (const f of pack?.fragments ?? []) {
    fromPack.push(parseBundleFile(f.id, f.content, f.path));
    loaded.push({ id: f.id, path: f.path });
  }
  if (given.length === 0 && fromPack.length === 0) {
    throw usageError('policy test has no policy to test: give bundle files, or --pack DIR with policy overlays');
  }
  const fileCases: PolicyCase[] = [];
  if (options.cases !== undefined) {
    const path = resolve(options.cwd, options.cases);
    fileCases.push(...parseCases(parseYamlText(await readText(path, 'cases file'), path), path));
  }
  const all: { c: PolicyCase; source: string }[] = [
    ...(pack?.cases ?? []).map((c) => ({ c, source: `pack ${pack?.id ?? ''}` })),
    ...fileCases.map((c) => ({ c, source: 'cases' })),
  ];
  if (all.length === 0) throw usageError('policy test found no cases (the pack has no tests.policySimulations and no --cases was given)');
  const [base, ...rest] = given;
  const bundles = orderBundles(base ?? null, [...rest, ...fromPack]);
  const results = runCases(bundles, all.map((a) => a.c), pack === undefined ? {} : { packId: pack.id }).map((r, i) => ({ ...r, source: all[i]?.source ?? '' }));
  const failed = results.filter((r) => !r.ok).length;
  return { bundles: loaded, pack: pack?.id ?? null, results, passed: results.length - failed, failed };
}
