import { type EffectiveConfig, type ConfigLayer, type Clock, mergeEffectiveConfig } from '@cordum/core';
import type { ConfigRef, ConfigStore } from '@cordum/store';

// The effective config of a job: system → org (the tenant) → team → workflow → step. Documents change
// rarely and every job reads them, so each merge is cached for a short TTL.

export type EffectiveKey = { tenant: string; team: string; workflow: string; step: string };

export function createEffectiveConfigReader(config: ConfigStore, clock: Clock, ttlMs: number) {
  const cache = new Map<string, { at: number; value: Promise<EffectiveConfig> }>();
  async function load(key: EffectiveKey): Promise<EffectiveConfig> {
    const refs: ConfigRef[] = [{ scope: 'system', scopeId: 'default' }, { scope: 'org', tenant: key.tenant, scopeId: key.tenant }];
    if (key.team !== '') refs.push({ scope: 'team', tenant: key.tenant, scopeId: key.team });
    if (key.workflow !== '') refs.push({ scope: 'workflow', tenant: key.tenant, scopeId: key.workflow });
    if (key.step !== '') refs.push({ scope: 'step', tenant: key.tenant, scopeId: key.step });
    const docs = await Promise.all(refs.map((ref) => config.get(ref)));
    const layers: ConfigLayer[] = [];
    for (const doc of docs) {
      if (doc !== undefined) layers.push({ scope: doc.scope, scopeId: doc.scopeId, revision: doc.revision, data: { ...doc.data } });
    }
    return mergeEffectiveConfig(layers);
  }
  return {
    read(key: EffectiveKey): Promise<EffectiveConfig> {
      const id = `${key.tenant}\u0000${key.team}\u0000${key.workflow}\u0000${key.step}`;
      const now = clock.now();
      const hit = cache.get(id);
      if (hit !== undefined && now - hit.at < ttlMs) return hit.value;
      const value = load(key);
      cache.set(id, { at: now, value });
      value.catch(() => cache.delete(id));
      if (cache.size > 10_000) cache.delete(cache.keys().next().value as string);
      return value;
    },
  };
}
