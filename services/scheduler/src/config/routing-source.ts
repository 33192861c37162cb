import { type Logger, type Metrics, hashJson, isCordumError, isPlainObject } from '@cordum/core';
import type { ConfigStore } from '@cordum/store';
import {
  type PoolsConfig,
  type TimeoutsConfig,
  parsePoolsConfig,
  parseTimeoutsConfig,
} from '../routing/routing-config.js';

// The routing tables live in the system config document (scope system, id default) as data.pools and
// data.timeouts, as upstream. They are bootstrapped from config/pools.yaml and config/timeouts.yaml when the
// document has none, re-read periodically and on sys.config.changed, and a document that fails validation is
// rejected as a whole: the previous tables stay in force (and the rejection is logged and counted).

export const ROUTING_DOC = { scope: 'system', scopeId: 'default' } as const;

export type RoutingTables = {
  readonly pools: PoolsConfig;
  readonly timeouts: TimeoutsConfig;
  /** Revision of the system document these tables came from (0 = bootstrap files only). */
  readonly revision: number;
  readonly hash: string;
};

export type RoutingSource = {
  current(): RoutingTables;
  /** Loads (bootstrapping the document if needed). Throws if no valid tables can be had at all. */
  start(): Promise<void>;
  /** Re-reads the document; returns true when new tables took effect. */
  reload(): Promise<boolean>;
};

export function createRoutingSource(deps: {
  config: ConfigStore;
  bootstrap: { pools?: unknown; timeouts?: unknown };
  logger: Logger;
  metrics: Metrics | undefined;
}): RoutingSource {
  const { config, bootstrap, logger } = deps;
  let tables: RoutingTables | undefined;
  const rejected = deps.metrics?.counter('scheduler_config_rejected_total', 'Routing config documents rejected as invalid');

  const parse = (pools: unknown, timeouts: unknown, revision: number): RoutingTables => ({
    pools: parsePoolsConfig(pools, 'data.pools'),
    timeouts: parseTimeoutsConfig(timeouts, 'data.timeouts'),
    revision,
    hash: hashJson({ pools: pools ?? null, timeouts: timeouts ?? null }),
  });

  async function ensureBootstrapped(): Promise<void> {
    const doc = await config.get(ROUTING_DOC);
    const data = doc?.data ?? {};
    const missing: Record<string, unknown> = {};
    if (data['pools'] === undefined && bootstrap.pools !== undefined) missing['pools'] = bootstrap.pools;
    if (data['timeouts'] === undefined && bootstrap.timeouts !== undefined) missing['timeouts'] = bootstrap.timeouts;
    if (Object.keys(missing).length === 0) return;
    try {
      await config.put(ROUTING_DOC, {
        data: { ...data, ...(missing as Record<string, never>) },
        ...(doc === undefined ? {} : { meta: { ...doc.meta } }),
        expectedRevision: doc?.revision ?? 0,
        actor: 'scheduler-bootstrap',
      });
      logger.info({ keys: Object.keys(missing) }, 'bootstrapped routing config from files');
    } catch (err) {
      // Another instance bootstrapped first: its document is as good as ours.
      if (!(isCordumError(err) && err.code === 'revision_conflict')) throw err;
    }
  }

  async function reload(): Promise<boolean> {
    const doc = await config.get(ROUTING_DOC);
    if (doc === undefined) return false;
    if (tables !== undefined && doc.revision === tables.revision) return false;
    const data = isPlainObject(doc.data) ? doc.data : {};
    try {
      const next = parse(data['pools'] ?? bootstrap.pools, data['timeouts'] ?? bootstrap.timeouts, doc.revision);
      const changed = tables === undefined || next.hash !== tables.hash;
      tables = next;
      if (changed) logger.info({ revision: doc.revision, hash: next.hash }, 'routing config in effect');
      return changed;
    } catch (err) {
      rejected?.inc();
      logger.error(
        { revision: doc.revision, err: err instanceof Error ? err.message : String(err) },
        'routing config rejected; previous config stays in force',
      );
      if (tables === undefined) throw err;
      // Remember the revision so a bad document is reported once, not on every poll.
      tables = { ...tables, revision: doc.revision };
      return false;
    }
  }

  return {
    current() {
      if (tables === undefined) throw new Error('routing config not loaded: call start() first');
      return tables;
    },
    async start() {
      await ensureBootstrapped();
      const loaded = await reload().catch((err: unknown) => {
        // A bad stored document at startup: fall back to the bootstrap files if they are valid.
        if (bootstrap.pools === undefined) throw err;
        tables = parse(bootstrap.pools, bootstrap.timeouts, 0);
        return true;
      });
      if (!loaded && tables === undefined) {
        if (bootstrap.pools === undefined) throw new Error('no routing config: set data.pools or provide config/pools.yaml');
        tables = parse(bootstrap.pools, bootstrap.timeouts, 0);
      }
    },
    reload,
  };
}
