// Runs every benchmark and prints one JSON line per measurement. `npm run bench` from the repo root.
// Needs redis-server and nats-server on PATH (the test kit starts its own on free ports).
import { busBenchmarks } from './bus.bench.js';
import { e2eBenchmarks } from './e2e.bench.js';
import { gatewayBenchmarks } from './gateway.bench.js';
import { report } from './harness.js';
import { kernelBenchmarks } from './kernel.bench.js';
import { policyBenchmarks } from './policy.bench.js';
import { protocolBenchmarks } from './protocol.bench.js';
import { storeBenchmarks } from './store.bench.js';
import { workflowBenchmarks } from './workflow.bench.js';

const only = process.argv[2];

async function main(): Promise<void> {
  const suites: Record<string, () => Promise<unknown[]> | unknown[]> = {
    protocol: protocolBenchmarks,
    policy: policyBenchmarks,
    kernel: kernelBenchmarks,
    bus: busBenchmarks,
    store: storeBenchmarks,
    e2e: e2eBenchmarks,
    gateway: gatewayBenchmarks,
    workflow: workflowBenchmarks,
  };
  for (const [name, run] of Object.entries(suites)) {
    if (only !== undefined && only !== name) continue;
    for (const result of await run()) report(result as Parameters<typeof report>[0]);
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
