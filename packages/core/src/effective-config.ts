import { hashJson, isPlainObject, type JsonValue } from './canonical-json.js';
import { InvalidError } from './errors.js';
import { jsonMergePatch } from './json-merge.js';

/** Config scopes, most general first. The effective config applies them in this order. */
export const CONFIG_SCOPES = ['system', 'org', 'team', 'workflow', 'step'] as const;
export type ConfigScope = (typeof CONFIG_SCOPES)[number];

export function isConfigScope(value: string): value is ConfigScope {
  return (CONFIG_SCOPES as readonly string[]).includes(value);
}

/** The part of a stored config document the merge needs. */
export type ConfigLayer = {
  scope: ConfigScope;
  scopeId: string;
  revision: number;
  data: Record<string, unknown>;
};

export type EffectiveConfig = {
  /** Merged data: each layer is applied as a JSON merge patch over the previous ones. */
  data: Record<string, JsonValue>;
  /** Which revision of each scope went in, e.g. "system:4|org:2|team:-|workflow:-|step:-". */
  version: string;
  /** SHA-256 of the canonical JSON of data: equal configs, equal hash. */
  hash: string;
};

/**
 * Merges config layers system → org → team → workflow → step. Objects merge deeply, arrays and scalars of a
 * more specific scope replace, and `null` removes a key inherited from a more general one. Missing scopes
 * are skipped and shown as "-" in the version.
 */
export function mergeEffectiveConfig(layers: readonly ConfigLayer[]): EffectiveConfig {
  const byScope = new Map<ConfigScope, ConfigLayer>();
  for (const layer of layers) {
    if (byScope.has(layer.scope)) {
      throw new InvalidError(`two config layers for scope ${layer.scope}`, { details: { scope: layer.scope } });
    }
    if (!isPlainObject(layer.data)) {
      throw new InvalidError(`config data for ${layer.scope}/${layer.scopeId} is not an object`);
    }
    byScope.set(layer.scope, layer);
  }
  let data: JsonValue = {};
  const version: string[] = [];
  for (const scope of CONFIG_SCOPES) {
    const layer = byScope.get(scope);
    version.push(`${scope}:${layer === undefined ? '-' : String(layer.revision)}`);
    if (layer !== undefined) data = jsonMergePatch(data, layer.data);
  }
  const merged = data as Record<string, JsonValue>;
  return { data: merged, version: version.join('|'), hash: hashJson(merged) };
}
