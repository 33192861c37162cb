import { performance } from 'node:perf_hooks';
/** Prints one result as a JSON line (the only thing benchmarks write to stdout). */
export function report(result) {
    process.stdout.write(`${JSON.stringify(result)}\n`);
}
/** Runs fn `ops` times in a tight loop after a warm-up, reporting throughput. */
export function measureSync(name, ops, fn) {
    for (let i = 0; i < Math.min(1000, ops); i++)
        fn(i);
    const start = performance.now();
    for (let i = 0; i < ops; i++)
        fn(i);
    const seconds = (performance.now() - start) / 1000;
    return { name, ops, seconds: round(seconds), ops_per_sec: Math.round(ops / seconds) };
}
/** Runs `ops` async operations with `concurrency` in flight, reporting throughput and latency percentiles. */
export async function measureAsync(name, ops, concurrency, fn) {
    const latencies = new Float64Array(ops);
    let next = 0;
    const start = performance.now();
    await Promise.all(Array.from({ length: concurrency }, async () => {
        for (let i = next++; i < ops; i = next++) {
            const t0 = performance.now();
            await fn(i);
            latencies[i] = performance.now() - t0;
        }
    }));
    const seconds = (performance.now() - start) / 1000;
    const sorted = Array.from(latencies).sort((a, b) => a - b);
    return {
        name,
        ops,
        seconds: round(seconds),
        ops_per_sec: Math.round(ops / seconds),
        p50_ms: round(percentile(sorted, 0.5)),
        p99_ms: round(percentile(sorted, 0.99)),
    };
}
export function round(n) {
    return Math.round(n * 1000) / 1000;
}
/** The p-quantile (0..1) of ascending latencies. */
export function percentile(sorted, p) {
    if (sorted.length === 0)
        return 0;
    return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;
}
