import autocannon from 'autocannon';
import { type NatsServer, type NodeProcess, type RedisServer, freePort, startNats, startNodeProcess, startRedis } from '@cordum/testkit';
import { type BenchResult, round } from './harness.js';

// POST /api/v1/jobs at 64 connections (autocannon, in this process) against three servers, each in its own
// process, one after the other in the same run: a bare Fastify route on the same path (the baseline), the
// gateway on the memory backends (`cordum dev`), and the gateway process on NATS + Redis (production shape).
// Every gateway request is authenticated (API key), rate-limited per key, validated, stores the job
// (PENDING, request, context pointer, idempotency-free) and publishes the doorbell. Target: the gateway
// reaches >= 50% of the bare route's requests/s.

const CONNECTIONS = 64;
const SECONDS = Number(process.env['BENCH_GATEWAY_SECONDS'] ?? '5');
const WARMUP_SECONDS = 1;
const KEY = 'bench-key-0123456789abcdef';
const BODY = JSON.stringify({
  topic: 'job.bench.echo',
  prompt: 'summarise the incident timeline',
  labels: { env: 'dev', team: 'sre' },
  risk_tags: ['read'],
  priority: 'interactive',
});

type Target = { name: string; url: string; proc: NodeProcess };

async function load(url: string, seconds: number): Promise<autocannon.Result> {
  return autocannon({
    url: `${url}/api/v1/jobs`,
    method: 'POST',
    connections: CONNECTIONS,
    duration: seconds,
    headers: { 'content-type': 'application/json', 'x-api-key': KEY },
    body: BODY,
  });
}

function urlOf(output: string): string {
  const m = /(https?:\/\/[0-9.[\]:a-z]+:\d+)/.exec(output);
  if (m?.[1] === undefined) throw new Error(`no URL in server output:\n${output}`);
  return m[1];
}

async function measure(target: Target): Promise<BenchResult> {
  await load(target.url, WARMUP_SECONDS);
  const r = await load(target.url, SECONDS);
  const ok = r['2xx'];
  if (r.non2xx > 0 || r.errors > 0) throw new Error(`${target.name}: ${r.non2xx} non-2xx, ${r.errors} errors`);
  return {
    name: target.name,
    ops: ok,
    seconds: round(r.duration),
    ops_per_sec: round(ok / r.duration),
    p50_ms: r.latency.p50,
    p99_ms: r.latency.p99,
  };
}

export async function gatewayBenchmarks(): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  let redis: RedisServer | undefined;
  let nats: NatsServer | undefined;
  const run = async (name: string, start: () => Promise<NodeProcess>): Promise<BenchResult> => {
    const proc = await start();
    try {
      return await measure({ name, url: urlOf(proc.output()), proc });
    } finally {
      await proc.stop();
    }
  };
  try {
    const bare = await run(`gateway.bare_fastify_post.c${CONNECTIONS}`, () =>
      startNodeProcess({ script: 'bench/dist/gateway/bare-server.js', ready: /bare fastify ready/ }),
    );
    results.push(bare);
    const memory = await run(`gateway.post_jobs.memory.c${CONNECTIONS}`, () =>
      startNodeProcess({
        script: 'bench/dist/gateway/memory-gateway.js',
        env: { BENCH_API_KEY: KEY, CORDUM_LOG_LEVEL: 'warn' },
        ready: /memory gateway ready/,
        nodeArgs: (process.env['BENCH_GATEWAY_NODE_ARGS'] ?? '').split(' ').filter(Boolean),
      }),
    );
    results.push({ ...memory, notes: `ratio to bare ${round(memory.ops_per_sec / bare.ops_per_sec)}` });
    redis = await startRedis();
    nats = await startNats();
    const port = await freePort();
    const real = await run(`gateway.post_jobs.nats_redis.c${CONNECTIONS}`, () =>
      startNodeProcess({
        script: 'services/gateway/dist/main.js',
        env: {
          NATS_URL: nats!.url,
          REDIS_URL: redis!.url,
          CORDUM_REDIS_PREFIX: 'bench-gw:',
          GATEWAY_HTTP_ADDR: `127.0.0.1:${port}`,
          GATEWAY_GRPC_ADDR: '127.0.0.1:0',
          CORDUM_API_KEYS: JSON.stringify([{ key: KEY, tenant: 'bench', principal_id: 'bench', roles: ['operator'] }]),
          API_RATE_LIMIT_RPS: '1000000',
          CORDUM_LOG_LEVEL: 'info',
        },
        ready: /gateway ready/,
      }),
    );
    results.push({ ...real, notes: `ratio to bare ${round(real.ops_per_sec / bare.ops_per_sec)}` });
  } finally {
    await nats?.stop();
    await redis?.stop();
  }
  return results;
}
