import { relative } from 'node:path';
import { type ListenAddress, urlOf } from '../cli/address.js';
import { gatewayFirstCommands } from '../gateway.js';
import type { DevPlatform } from './platform.js';

/** What `cordum dev` prints once everything is up: what runs, where, and what to try first. */
export function devBanner(platform: DevPlatform, where: { cwd: string; kernelAddr: ListenAddress; metricsAddr: ListenAddress | null }): string[] {
  const show = (path: string | null): string => (path === null ? '(none)' : relative(where.cwd, path) || path);
  const kernel = urlOf('http', where.kernelAddr, platform.kernelPort);
  const lines = [
    '',
    `cordum dev: every service in one process (${platform.backend === 'memory' ? 'memory bus and stores: nothing is kept after exit' : 'NATS and Redis'})`,
    '',
    `  policy      ${show(platform.files.policy)} (snapshot ${platform.policySnapshot})`,
    `  routing     pools ${show(platform.files.pools)}, timeouts ${show(platform.files.timeouts)}`,
    ...(platform.workers.length === 0
      ? ['  workers     none in-process (CAP workers on the bus still get jobs)']
      : platform.workers.map((w, i) => `  ${i === 0 ? 'workers' : '       '}     ${w.workerId} (${show(w.module)})`)),
    '',
    `  gateway     ${platform.gateway.httpUrl} (HTTP${platform.gateway.grpcUrl === null ? '' : `; gRPC ${platform.gateway.grpcUrl}`}` +
      `${platform.gateway.open ? '; open mode: no API keys, this machine only' : ''})`,
    `  kernel      ${kernel.replace(/^http:\/\//, '')} (gRPC: SafetyKernel, PolicyExplainer, OutputPolicyService, Health, reflection)`,
    platform.metricsPort === null || where.metricsAddr === null
      ? '  metrics     off'
      : `  metrics     ${urlOf('http', where.metricsAddr, platform.metricsPort, '/metrics')}  (health: ${urlOf('http', where.metricsAddr, platform.metricsPort, '/health')})`,
    '',
    'Try:',
  ];
  const topic = platform.examples ? 'job.demo.approval' : 'job.default';
  lines.push(
    ...gatewayFirstCommands(platform.gateway.httpUrl, platform.examples).map((c) => `  ${c}`),
    ...(platform.gateway.grpcUrl === null
      ? []
      : [
          "  # a job through the gateway's gRPC API (cordum.v1.CordumApi; --list-methods shows the rest)",
          `  npx buf curl --protocol grpc --http2-prior-knowledge --data '{"topic":"${platform.examples ? 'job.demo.echo' : 'job.default'}","prompt":"hello"}' \\`,
          `    ${platform.gateway.grpcUrl}/cordum.v1.CordumApi/SubmitJob`,
        ]),
    `  # what the policy decides for a job on ${topic}, straight from the safety kernel (no record written)`,
    `  npx buf curl --protocol grpc --http2-prior-knowledge --data '{"topic":"${topic}","tenant":"default"}' \\`,
    `    ${kernel}/cordum.agent.v1.SafetyKernel/Evaluate`,
    '',
    'Ctrl-C stops everything (workers drain first).',
  );
  return lines;
}
