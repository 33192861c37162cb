// The gateway as `cordum dev` runs it (memory bus and stores), in its own process, with an API key, the
// per-key rate limiter on (with a limit the benchmark never reaches) and nothing consuming sys.job.submit.
import { createMemoryBroker } from '@cordum/bus/memory';
import { createMetrics } from '@cordum/core';
import { createApiKeyResolver, createGateway, parseApiKeys } from '@cordum/gateway';
import { createMemoryStores } from '@cordum/store/memory';

const key = process.env['BENCH_API_KEY'] ?? '';
const gateway = await createGateway({
  bus: createMemoryBroker({ mode: 'core' }).connect(),
  stores: createMemoryStores(),
  principals: createApiKeyResolver(parseApiKeys(JSON.stringify([{ key, tenant: 'bench', principal_id: 'bench', roles: ['operator'] }]), { source: 'bench', defaultTenant: 'bench' })),
  metrics: createMetrics(),
  options: { instanceId: 'gw-bench', httpAddr: '127.0.0.1:0', rateLimitRps: 1_000_000 },
});
const { url } = await gateway.listen();
process.stdout.write(`memory gateway ready ${url}\n`);
process.on('SIGTERM', () => void gateway.close().then(() => process.exit(0)));
