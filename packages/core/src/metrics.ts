import {
  Counter,
  Gauge,
  Histogram,
  Registry,
  collectDefaultMetrics,
  type CounterConfiguration,
  type GaugeConfiguration,
  type HistogramConfiguration,
} from 'prom-client';

export type { Counter, Gauge, Histogram, Registry };

export type Metrics = {
  readonly registry: Registry;
  /** Returns the counter with this name, creating it on first use (safe when several services share a registry). */
  counter<L extends string>(name: string, help: string, labelNames?: readonly L[]): Counter<L>;
  gauge<L extends string>(name: string, help: string, labelNames?: readonly L[]): Gauge<L>;
  histogram<L extends string>(
    name: string,
    help: string,
    labelNames?: readonly L[],
    buckets?: readonly number[],
  ): Histogram<L>;
  /** Prometheus text exposition of every metric. */
  text(): Promise<string>;
  readonly contentType: string;
};

export type MetricsOptions = {
  /** Prepended to every metric name; default "cordum_". */
  prefix?: string;
  /** Share one registry between the services of one process (cordum dev). */
  registry?: Registry;
  /** Also collect Node process metrics (CPU, memory, event loop lag). */
  processMetrics?: boolean;
};

/** Latency buckets in seconds, from 1 ms to 30 s. */
export const LATENCY_BUCKETS: readonly number[] = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
];

export function createMetrics(options: MetricsOptions = {}): Metrics {
  const registry = options.registry ?? new Registry();
  const prefix = options.prefix ?? 'cordum_';
  if (options.processMetrics === true) collectDefaultMetrics({ register: registry, prefix });

  function existing<T>(fullName: string, ctor: abstract new (...args: never[]) => T): T | undefined {
    const found = registry.getSingleMetric(fullName);
    if (found === undefined) return undefined;
    if (!(found instanceof ctor)) throw new TypeError(`metric ${fullName} is already registered with another type`);
    return found;
  }

  return {
    registry,
    contentType: registry.contentType,
    counter<L extends string>(name: string, help: string, labelNames: readonly L[] = []) {
      const fullName = prefix + name;
      const config: CounterConfiguration<L> = { name: fullName, help, labelNames, registers: [registry] };
      return existing<Counter<L>>(fullName, Counter) ?? new Counter<L>(config);
    },
    gauge<L extends string>(name: string, help: string, labelNames: readonly L[] = []) {
      const fullName = prefix + name;
      const config: GaugeConfiguration<L> = { name: fullName, help, labelNames, registers: [registry] };
      return existing<Gauge<L>>(fullName, Gauge) ?? new Gauge<L>(config);
    },
    histogram<L extends string>(
      name: string,
      help: string,
      labelNames: readonly L[] = [],
      buckets: readonly number[] = LATENCY_BUCKETS,
    ) {
      const fullName = prefix + name;
      const config: HistogramConfiguration<L> = {
        name: fullName,
        help,
        labelNames,
        buckets: [...buckets],
        registers: [registry],
      };
      return existing<Histogram<L>>(fullName, Histogram) ?? new Histogram<L>(config);
    },
    text: () => registry.metrics(),
  };
}
