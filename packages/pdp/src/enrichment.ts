// Pack topic enrichment. Installed packs declare their topics with risk tags and a capability
// (pack.yaml `topics: [{name, riskTags, capability}]`, kept in the packs registry). Pack rules are written
// against those tags ("job.tracker.write with risk tag write needs approval"), so a job that simply omitted
// its tags would fall through to the default decision. The runtime therefore adds the declared tags and
// capability to every request on a declared topic before any rule sees it:
//
//   - risk tags: the union of the request's tags and every declaring pack's tags (request order first,
//     then declared order; compared case-insensitively, so nothing is duplicated);
//   - capability: filled from the declaration only when the request has none (a request that names a
//     capability keeps it; rules on capabilities can still deny it);
//   - a pack with status DISABLED (uninstalled) declares nothing; ACTIVE and INACTIVE packs do.
//
// Topics are matched exactly (case-insensitively); manifests declare concrete topic names, not globs.
import { isPlainObject, type JsonValue } from '@cordum/core';
import type { PolicyInput } from '@cordum/policy';

export type TopicDeclaration = {
  readonly topic: string;
  readonly riskTags: readonly string[];
  /** '' when no declaring pack names one. */
  readonly capability: string;
  /** Declaring pack ids, sorted. */
  readonly packs: readonly string[];
};

export type TopicIndex = ReadonlyMap<string, TopicDeclaration>;

export const EMPTY_TOPIC_INDEX: TopicIndex = new Map();

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string' && v.trim() !== '').map((v) => v.trim()) : [];
}

/**
 * The topic index from the packs registry document's `installed` map
 * (`{<pack>: {status, manifest: {topics: [{name, riskTags, capability}]}}}`). Malformed entries are skipped and
 * reported in `problems`; they never make the whole registry unreadable.
 */
export function buildTopicIndex(installed: JsonValue | undefined): { index: TopicIndex; problems: string[] } {
  const problems: string[] = [];
  const acc = new Map<string, { topic: string; tags: string[]; seen: Set<string>; capability: string; packs: string[] }>();
  if (installed === undefined || installed === null) return { index: EMPTY_TOPIC_INDEX, problems };
  if (!isPlainObject(installed)) return { index: EMPTY_TOPIC_INDEX, problems: ['packs registry: installed is not a map'] };
  // Sorted by pack id, so that which pack's capability wins does not depend on install order.
  for (const packId of Object.keys(installed).sort()) {
    const pack = installed[packId];
    if (!isPlainObject(pack)) {
      problems.push(`pack ${packId}: registry entry is not a map`);
      continue;
    }
    if (typeof pack['status'] === 'string' && pack['status'].toUpperCase() === 'DISABLED') continue;
    const manifest = pack['manifest'];
    const topics = isPlainObject(manifest) ? manifest['topics'] : undefined;
    if (topics === undefined || topics === null) continue;
    if (!Array.isArray(topics)) {
      problems.push(`pack ${packId}: manifest.topics is not a list`);
      continue;
    }
    topics.forEach((t, i) => {
      const name = isPlainObject(t) && typeof t['name'] === 'string' ? t['name'].trim() : '';
      if (!isPlainObject(t) || name === '') {
        problems.push(`pack ${packId}: manifest.topics[${i}] has no name`);
        return;
      }
      const key = name.toLowerCase();
      let entry = acc.get(key);
      if (entry === undefined) {
        entry = { topic: name, tags: [], seen: new Set(), capability: '', packs: [] };
        acc.set(key, entry);
      }
      // Upstream manifests say riskTags; JSON written by other tools may say risk_tags.
      for (const tag of [...strings(t['riskTags']), ...strings(t['risk_tags'])]) {
        if (!entry.seen.has(tag.toLowerCase())) {
          entry.seen.add(tag.toLowerCase());
          entry.tags.push(tag);
        }
      }
      const capability = typeof t['capability'] === 'string' ? t['capability'].trim() : '';
      if (entry.capability === '' && capability !== '') entry.capability = capability;
      if (!entry.packs.includes(packId)) entry.packs.push(packId);
    });
  }
  const index = new Map<string, TopicDeclaration>();
  for (const [key, e] of acc) {
    index.set(key, Object.freeze({ topic: e.topic, riskTags: Object.freeze(e.tags), capability: e.capability, packs: Object.freeze(e.packs) }));
  }
  return { index, problems };
}

/**
 * The input with the declared risk tags and capability of its topic added (see the file header), and a note
 * per change for explain traces. Returns the same input object when nothing changes.
 */
export function enrichInput(input: PolicyInput, index: TopicIndex): { input: PolicyInput; notes: string[] } {
  if (index.size === 0) return { input, notes: [] };
  const decl = index.get(input.topic.trim().toLowerCase());
  if (decl === undefined) return { input, notes: [] };
  const have = new Set(input.riskTags.map((t) => t.toLowerCase()));
  const added = decl.riskTags.filter((t) => !have.has(t.toLowerCase()));
  const fillCapability = input.capability.trim() === '' && decl.capability !== '';
  if (added.length === 0 && !fillCapability) return { input, notes: [] };
  const notes: string[] = [];
  const from = `pack${decl.packs.length > 1 ? 's' : ''} ${decl.packs.join(', ')}`;
  if (added.length > 0) notes.push(`topic ${decl.topic} declared by ${from}: added risk tags [${added.join(', ')}]`);
  if (fillCapability) notes.push(`topic ${decl.topic} declared by ${from}: capability ${decl.capability} (the request named none)`);
  const riskTags = [...input.riskTags, ...added];
  return {
    input: {
      ...input,
      riskTags,
      capability: fillCapability ? decl.capability : input.capability,
      // A declared `secrets` tag means the job carries secrets, as the tag on the request itself would.
      secretsPresent: input.secretsPresent || added.some((t) => t.toLowerCase() === 'secrets'),
    },
    notes,
  };
}
