import type { Bus } from '@cordum/bus';
import type { Clock, Logger } from '@cordum/core';
import type { Stores } from '@cordum/store';
import type { GatewayMetrics } from './metrics.js';
import type { GatewayOptions } from './options.js';
import type { GatewayPolicy } from './policy/port.js';
import type { WorkerRegistry } from './status/workers.js';

/** The stores the gateway uses (every access scoped to the caller's tenant by the feature code). */
export type GatewayStores = Pick<Stores, 'jobs' | 'pointers' | 'artifacts' | 'dlq' | 'idempotency' | 'audit' | 'ping' | 'config' | 'locks' | 'schemas' | 'workflows' | 'runs'>;

/** What feature code runs on: ports and settings, nothing HTTP. */
export type GatewayContext = {
  readonly bus: Bus;
  readonly stores: GatewayStores;
  readonly logger: Logger;
  readonly metrics: GatewayMetrics;
  readonly options: GatewayOptions;
  readonly clock: Clock;
  readonly workers: WorkerRegistry;
  /** When this instance started (clock ms), for uptime. */
  readonly startedAt: number;
  /** The safety kernel (evaluate/explain/simulate/snapshots); undefined: the policy routes that need it answer 503. */
  readonly policy?: GatewayPolicy | undefined;
};
