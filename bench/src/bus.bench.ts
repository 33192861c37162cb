import type { Bus } from '@cordum/bus';
import { createMemoryBroker } from '@cordum/bus/memory';
import { connectNatsBus } from '@cordum/bus/nats';
import { startNats } from '@cordum/testkit';
import { type BenchResult, round } from './harness.js';

/** Publishes n messages (each awaited only as a batch) and times until a queue subscriber has handled all. */
async function throughput(name: string, publisher: Bus, subscriber: Bus, subject: string, n: number): Promise<BenchResult> {
  let handled = 0;
  let done!: () => void;
  let timer: NodeJS.Timeout | undefined;
  const finished = new Promise<void>((resolve, reject) => {
    done = resolve;
    // Core delivery drops messages a subscriber cannot keep up with; say so instead of hanging.
    timer = setTimeout(() => reject(new Error(`${name}: handled ${handled} of ${n} within 60 s`)), 60_000);
  });
  const sub = await subscriber.subscribe(
    subject,
    () => {
      handled++;
      if (handled === n) done();
    },
    { queue: 'bench', concurrency: 256 },
  );
  await subscriber.flush();
  const payload = new Uint8Array(256);
  const start = performance.now();
  const batch: Promise<void>[] = [];
  for (let i = 0; i < n; i++) {
    batch.push(publisher.publish(subject, payload, { msgId: `bench-${name}-${i}` }));
    if (batch.length === 1000) {
      await Promise.all(batch.splice(0));
      // Let the subscriber keep up: core pub/sub has no backpressure of its own.
      await publisher.flush();
    }
  }
  await Promise.all(batch);
  await finished;
  clearTimeout(timer);
  const seconds = (performance.now() - start) / 1000;
  await sub.drain();
  return { name, ops: n, seconds: round(seconds), ops_per_sec: Math.round(n / seconds) };
}

export async function busBenchmarks(): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  const core = createMemoryBroker({ mode: 'core' }).connect();
  results.push(await throughput('bus.memory.core', core, core, 'job.bench', 100_000));
  const durable = createMemoryBroker({ mode: 'durable' }).connect();
  results.push(await throughput('bus.memory.durable', durable, durable, 'sys.job.submit', 50_000));

  const server = await startNats();
  try {
    const pub = await connectNatsBus({ servers: server.url });
    const sub = await connectNatsBus({ servers: server.url });
    results.push(await throughput('bus.nats.core', pub, sub, 'job.bench', 100_000));
    await Promise.all([pub.close(), sub.close()]);
    const jsPub = await connectNatsBus({ servers: server.url, jetstream: true });
    const jsSub = await connectNatsBus({ servers: server.url, jetstream: true });
    results.push({
      ...(await throughput('bus.nats.jetstream', jsPub, jsSub, 'sys.job.submit', 20_000)),
      notes: 'durable publish with a 256-message ack window, interest-retention stream, file storage',
    });
    await Promise.all([jsPub.close(), jsSub.close()]);
  } finally {
    await server.stop();
  }
  return results;
}
